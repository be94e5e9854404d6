//! Streaming reader and interpreter for Linux audit (auditd) logs.
//!
//! ```text
//! AuditReader::new(BufRead)  ->  Item::Event(AuditEvent { records: Vec<Record> })
//!                                Item::Malformed { line, text, error }
//! model::to_event(&AuditEvent) -> ferret_event::Event (source = audit)
//! json::event_json / json::event_text
//! ```
//!
//! * [`Record::parse`] reads one line (plain or enriched, with `node=` prefixes) and
//!   interprets its fields as go-libaudit's auparse and `ausearch --interpret` do.
//! * [`AuditReader`] groups records into [`AuditEvent`]s by `audit(SECONDS.MILLIS:SERIAL)`
//!   with bounded buffering ([`GroupConfig`] documents when an event is complete), reads lines
//!   of at most [`MAX_LINE`] bytes, and counts malformed lines and unknown types in
//!   [`Stats`]. It never panics on bad input.
//! * [`model::to_event`] maps an event into ferret's event model so filters and rules
//!   (`ferret-filter`, `ferret-rules`) apply.

mod event;
pub mod json;
pub mod model;
mod names;
mod reader;
mod record;
mod types;

pub use event::{AuditEvent, GroupConfig, Grouper};
pub use names::IdNames;
pub use reader::{AuditReader, Item, MAX_LINE, Stats};
pub use record::{LineError, Record, decode_hex};
pub use types::{Arch, is_standalone, record_type_name, record_type_number, signal_name};
