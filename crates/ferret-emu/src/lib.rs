//! Foreign-architecture Linux samples in ferret's sandbox, under user-mode QEMU, with
//! their guest syscalls as [`ferret_event::Event`]s.
//!
//! * [`detect`] / [`Plan::for_sample`]: the ELF header (`e_machine`, class, byte
//!   order, ARM float ABI and MIPS ABI from `e_flags`) picks the [`Arch`] and the
//!   [`Runner`]: native for x86-64 and i386, `qemu-<arch>-static` (Debian's
//!   `qemu-user-static`) for the rest; `--arch` overrides with [`Arch`]'s `FromStr`.
//! * [`Plan::configure`] adds to a [`ferret_sandbox::SandboxConfig`]: the Debian cross
//!   C libraries (`/usr/<triplet>`, read-only) at `/etc/qemu-binfmt/<qemu-arch>` — the
//!   prefix Debian's QEMU searches first for every guest file, so the loader the ELF
//!   names (`/lib/ld-linux.so.3`...) and its libraries resolve for the sample and for
//!   any foreign program it starts —, binfmt_misc rules for every installed emulator,
//!   registered in the sandbox's own binfmt_misc instance (never on the host), and the
//!   directory of the syscall-log FIFO.
//! * [`Plan::spawn_spec`]: the [`ferret_sandbox::SpawnSpec`] that runs QEMU on the
//!   sample.
//! * [`StraceLog`]: the host ends of the log FIFOs, one per guest thread;
//!   [`StraceLog::finish_events`] parses them ([`AttributedParser`], one
//!   [`StraceParser`] per log) into events with guest syscall names, QEMU-decoded
//!   arguments, return values (negative errno), and guest pids and thread ids
//!   (sandbox ids).
//! * [`enrich`]: fills in socket addresses QEMU 7.2 prints as pointers from a narrow
//!   host-side trace (ferret-trace) of the emulator processes.
//! * [`Plan::mount_native_libs`]: a dynamically linked i386 sample runs natively, but
//!   the host has no i386 loader without multiarch; the i386 cross C library is
//!   overlaid read-only on the sandbox's `/usr/lib` (where `/lib/ld-linux.so.2` and
//!   the loader's search path lead) before the sample is released.
//!
//! `ferret-analyze` (module `emulated`) wires this into `ferret analyze`: which events
//! come from the log and which from the ptrace tracer is documented there.
//!
//! # Why `-d strace,tid -D` into one FIFO per thread
//!
//! `-strace` writes to the sample's own stderr: the guest's output would interleave
//! with the log and a guest could forge log lines by printing them. `-d strace -D FILE`
//! keeps the log apart; a regular file is no good either, because every QEMU opens
//! it with truncation — an `execve` restarts QEMU in the same pid and would erase the
//! log of everything before. A FIFO ignores truncation, streams to the host live, and
//! lives in a read-only bind mount, so the sample cannot replace it.
//!
//! One FIFO for the whole task is not enough: QEMU writes each call in several
//! pieces (pid and name, each argument, the return), each its own `write`, and the
//! pieces of concurrent processes interleave mid-call in a shared stream, where no
//! parser can always tell whose piece is whose. So `-d strace,tid -D` names
//! [`LOG_TEMPLATE`] (`strace.%d`, QEMU puts the writing thread's id there): every
//! thread of every program image opens its own FIFO, which [`StraceLog::add_task`]
//! creates before that thread runs, and its events get the thread's id (QEMU prints
//! only the pid). A forked QEMU keeps its parent's descriptor; ferret's tracer reopens
//! it on the child's FIFO at the child's first stop (`ferret_trace::Redirect`, with
//! [`LogHandle::log_fd_of`]). Without such a tracer a child's pieces stay in its
//! parent's log until it executes a program, and [`StraceParser`] attributes them. QEMU runs
//! in the guest's process, so a guest that attacks its emulator could still write to
//! the descriptor: the log describes a cooperative or unaware guest, like any
//! in-process monitor.
//!
//! The environment carries `QEMU_LOG=strace` and `QEMU_LOG_FILENAME` so that QEMUs
//! started by binfmt_misc log too; QEMU passes its environment to the guest, so the
//! sample can see them, and a sample that clears them before starting a foreign
//! program leaves that program emulated but unlogged.
//!
//! Limits of QEMU 7.2's log (Debian 12): no timestamps (events get the host's receive
//! time), no thread ids in the text (the per-thread FIFO gives them),
//! `connect`/`bind`/`sendto` addresses and `prctl` strings printed as pointers, `envp`
//! not printed. See [`StraceParser`] for how pieces sharing one log are attributed.

mod arch;
mod enrich;
mod log;
mod runner;
mod strace;

use std::fmt;

pub use arch::{Arch, Detected, detect};
pub use enrich::enrich;
pub use log::{Chunks, LogHandle, StraceLog, Stream, parse_streams};
pub use runner::{LOG_DIR, LOG_TEMPLATE, Plan, Runner, SYSROOT_BASE, sandbox_binfmt_supported};
pub use strace::{AttributedParser, Parsed, StraceParser};

/// Errors of this crate.
#[derive(Debug)]
pub enum Error {
    /// The sample is not an ELF file (and no architecture was forced).
    NotElf(String),
    /// The ELF machine/class/byte order is not one ferret can run.
    UnsupportedArch(String),
    /// An `--arch` value that names no known architecture.
    UnknownArch(String),
    /// The emulator for the architecture is not installed.
    MissingEmulator(String),
    /// A dynamically linked sample's cross C library is not installed.
    MissingLibc(String),
    /// A file or thread operation failed.
    Io(String),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::NotElf(m) => write!(f, "cannot pick a runner: {m}"),
            Error::UnsupportedArch(m) => write!(f, "unsupported architecture: {m}"),
            Error::UnknownArch(m) => write!(f, "unknown architecture {m}"),
            Error::MissingEmulator(m) => write!(f, "emulator not installed: {m}"),
            Error::MissingLibc(m) => write!(f, "cross C library missing: {m}"),
            Error::Io(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for Error {}
