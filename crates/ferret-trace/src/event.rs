//! Trace records and the sink they are delivered to.

use crate::arch::{Arch, errno_name};
use crate::value::{ArgValue, Bytes, StrList};
use std::fmt;

/// How a new task was created.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ForkKind {
    /// `fork()` or a `clone` without `CLONE_VM`/`CLONE_THREAD`.
    Fork,
    /// `vfork()` or `clone(CLONE_VFORK)`.
    Vfork,
    /// A new process from `clone`/`clone3` (not a thread).
    Clone,
    /// A new thread (`CLONE_THREAD`).
    Thread,
}

/// How a task ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ExitStatus {
    /// Normal exit with this code.
    Code(i32),
    /// Killed by this signal.
    Signal {
        /// Signal number.
        sig: i32,
        /// A core dump was written.
        core: bool,
    },
}

/// One merged syscall (entry arguments + return value).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyscallRecord {
    /// Time of the entry stop, ns since the Unix epoch.
    pub ts_ns: u64,
    /// Process (thread group) id, host namespace.
    pub pid: i32,
    /// Thread id, host namespace.
    pub tid: i32,
    /// ABI of the call.
    pub arch: Arch,
    /// Raw syscall number (x32 numbers include the x32 bit).
    pub nr: u64,
    /// Syscall name ("?" for an unassigned number).
    pub name: &'static str,
    /// Raw argument registers.
    pub raw_args: [u64; 6],
    /// Decoded arguments (empty for syscalls without a decoder, e.g. under
    /// `--trace-all`).
    pub args: Vec<(&'static str, ArgValue)>,
    /// Return value; `None` when the call never returned (exit, execve
    /// replaced by another thread, task killed mid-call).
    pub ret: Option<i64>,
    /// Errno when the call failed (positive, e.g. 2 = ENOENT).
    pub errno: Option<i32>,
}

impl SyscallRecord {
    /// The decoded argument called `name`.
    pub fn arg(&self, name: &str) -> Option<&ArgValue> {
        self.args.iter().find(|(n, _)| *n == name).map(|(_, v)| v)
    }

    /// Name of the errno, if the call failed ("ENOENT").
    pub fn errno_name(&self) -> Option<&'static str> {
        self.errno.and_then(errno_name)
    }
}

impl fmt::Display for SyscallRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{} {}] ", self.pid, self.tid)?;
        if self.arch != Arch::X86_64 {
            write!(f, "[{}] ", self.arch)?;
        }
        write!(f, "{}(", self.name)?;
        if self.args.is_empty() && !self.name.is_empty() {
            // No decoder: show the raw registers.
            for (i, a) in self.raw_args.iter().enumerate() {
                if i > 0 {
                    f.write_str(", ")?;
                }
                write!(f, "{a:#x}")?;
            }
        }
        for (i, (n, v)) in self.args.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{n}={v}")?;
        }
        f.write_str(") = ")?;
        match (self.ret, self.errno) {
            (_, Some(e)) => write!(f, "-1 {}", errno_name(e).unwrap_or("E?")),
            (Some(r), None) if matches!(self.name, "mmap" | "mmap2" | "shmat") => {
                write!(f, "{r:#x}")
            }
            (Some(r), None) => write!(f, "{r}"),
            (None, None) => f.write_str("?"),
        }
    }
}

/// One trace event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TraceEvent {
    /// A traced syscall, entry and exit merged.
    Syscall(SyscallRecord),
    /// A new process or thread, reported when the parent's fork event is seen.
    /// The kernel may report the child's first stops before that event, so a
    /// child's own events (even its exit) can precede its `Fork`.
    Fork {
        /// Time, ns since the epoch.
        ts_ns: u64,
        /// Parent process id.
        parent: i32,
        /// Parent thread id.
        parent_tid: i32,
        /// New thread id (= pid for a process).
        child: i32,
        /// What kind of task.
        kind: ForkKind,
    },
    /// A successful exec (reported at the exec event, before the syscall exit).
    Exec {
        /// Time, ns since the epoch.
        ts_ns: u64,
        /// Process id (after exec, always the thread group id).
        pid: i32,
        /// Former thread id, when a non-leader thread exec'd.
        old_tid: Option<i32>,
        /// Path passed to execve / execveat (empty with `AT_EMPTY_PATH`).
        path: Option<Bytes>,
        /// Executable as resolved by the kernel (`/proc/PID/exe`).
        exe: Option<Vec<u8>>,
        /// ABI of the new program.
        arch: Option<Arch>,
        /// Arguments (bounded).
        argv: Option<StrList>,
        /// Environment (bounded).
        envp: Option<StrList>,
    },
    /// A task ended.
    Exit {
        /// Time, ns since the epoch.
        ts_ns: u64,
        /// Process id.
        pid: i32,
        /// Thread id (= pid for the last thread of a process).
        tid: i32,
        /// Exit code or signal.
        status: ExitStatus,
    },
    /// A signal was about to be delivered to a task.
    Signal {
        /// Time, ns since the epoch.
        ts_ns: u64,
        /// Process id.
        pid: i32,
        /// Thread id.
        tid: i32,
        /// Signal number.
        sig: i32,
        /// `si_code`.
        code: i32,
        /// Sender pid from `si_pid` (meaningful for user-sent signals).
        sender: i32,
    },
}

impl TraceEvent {
    /// The process id the event is about.
    pub fn pid(&self) -> i32 {
        match self {
            TraceEvent::Syscall(r) => r.pid,
            TraceEvent::Fork { parent, .. } => *parent,
            TraceEvent::Exec { pid, .. }
            | TraceEvent::Exit { pid, .. }
            | TraceEvent::Signal { pid, .. } => *pid,
        }
    }
}

fn lossy(b: &[u8]) -> std::borrow::Cow<'_, str> {
    String::from_utf8_lossy(b)
}

impl fmt::Display for TraceEvent {
    /// One strace-like line.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TraceEvent::Syscall(r) => write!(f, "{r}"),
            TraceEvent::Fork {
                parent,
                parent_tid,
                child,
                kind,
                ..
            } => write!(f, "[{parent} {parent_tid}] +++ {kind:?} -> {child}"),
            TraceEvent::Exec {
                pid,
                old_tid,
                path,
                exe,
                arch,
                argv,
                ..
            } => {
                write!(f, "[{pid} {pid}] +++ exec")?;
                if let Some(a) = arch {
                    write!(f, " [{a}]")?;
                }
                if let Some(p) = path {
                    write!(f, " path={}", ArgValue::Str(p.clone()))?;
                }
                if let Some(e) = exe {
                    write!(f, " exe={:?}", lossy(e))?;
                }
                if let Some(a) = argv {
                    write!(f, " argv={}", ArgValue::StrList(a.clone()))?;
                }
                if let Some(t) = old_tid {
                    write!(f, " (from thread {t})")?;
                }
                Ok(())
            }
            TraceEvent::Exit {
                pid, tid, status, ..
            } => match status {
                ExitStatus::Code(c) => write!(f, "[{pid} {tid}] +++ exited with {c}"),
                ExitStatus::Signal { sig, core } => write!(
                    f,
                    "[{pid} {tid}] +++ killed by {}{}",
                    crate::flags::signal_text(*sig).unwrap_or_else(|| sig.to_string()),
                    if *core { " (core dumped)" } else { "" }
                ),
            },
            TraceEvent::Signal {
                pid,
                tid,
                sig,
                code,
                sender,
                ..
            } => write!(
                f,
                "[{pid} {tid}] --- {} code={code} from={sender}",
                crate::flags::signal_text(*sig).unwrap_or_else(|| sig.to_string())
            ),
        }
    }
}

/// Receives trace events in order.
pub trait Sink {
    /// Called once per event, on the tracer's thread.
    fn event(&mut self, ev: TraceEvent);

    /// A new process (not a thread; not the seized one) is at its first stop and
    /// has run nothing yet: the sink may have one of its descriptors reopened
    /// elsewhere ([`Redirect`](crate::Redirect), x86-64 processes only).
    fn new_process(&mut self, _pid: i32) -> Option<crate::Redirect> {
        None
    }

    /// How the redirect asked for by [`Self::new_process`] went.
    fn redirected(&mut self, _pid: i32, _result: Result<(), String>) {}

    /// A new thread of an existing process is at its first stop and has run
    /// nothing yet.
    fn new_thread(&mut self, _tid: i32) {}
}

impl Sink for Vec<TraceEvent> {
    fn event(&mut self, ev: TraceEvent) {
        self.push(ev);
    }
}

/// Adapts a closure into a [`Sink`].
#[derive(Debug)]
pub struct FnSink<F>(pub F);

impl<F: FnMut(TraceEvent)> Sink for FnSink<F> {
    fn event(&mut self, ev: TraceEvent) {
        (self.0)(ev)
    }
}
