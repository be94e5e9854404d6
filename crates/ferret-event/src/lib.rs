//! ferret's event model.
//!
//! * [`Event`]: one syscall (enter and exit merged), process lifecycle step, audit record,
//!   file-watch notification or network summary, with typed, ordered arguments.
//! * JSON lines: [`Event::from_json`], [`Event::to_json_line`], [`read_json_lines`]; the
//!   format is specified in `docs/events.md` and versioned by [`FORMAT_VERSION`].
//! * [`State`]: the process and fd-table state machine that lets fields resolve at any
//!   event; [`State::update`] returns a [`View`] of the event's process and descriptor.

mod errno;
mod event;
mod state;
pub mod time;

pub use errno::{errno_code, errno_name, errno_of_ret};
pub use event::{
    Arg, Args, Dir, Event, FORMAT_VERSION, Family, ParseError, ProcInfo, SockAddr, Source, Value,
    errno_from_name, read_json_lines,
};
pub use state::{
    FdInfo, FdKind, FdView, L4, O_CLOEXEC, O_CREAT, O_DIRECTORY, Process, SockInfo, State, View,
    family_name, normalize_path,
};
