//! ferret's syscall tracer: ptrace + seccomp-bpf for x86-64 hosts, tracing
//! x86-64, i386 and x32 tracees.
//!
//! The seccomp filter from [`ptrace_filter`] makes the kernel stop a tracee
//! only on the syscalls of a [`SyscallSet`], so untraced syscalls run at full
//! speed. [`PtraceTracer`] follows every process and thread of the tree,
//! decodes arguments (paths, flags, socket addresses, argv/envp) and delivers
//! merged enter+exit records and process events ([`TraceEvent`]) to a
//! [`Sink`].
//!
//! Typical use (the sandbox replaces [`spawn_stopped`] with its own confined
//! child, blocked before its execve):
//! ```no_run
//! use ferret_trace::{PtraceTracer, SyscallSet, Tracer, TraceEvent, ptrace_filter, spawn_stopped};
//! use std::time::{Duration, Instant};
//! let filter = ptrace_filter(&SyscallSet::default());
//! let child = spawn_stopped(&["/bin/true"], &["PATH=/bin"], &filter)?;
//! let mut tracer = PtraceTracer::seize(child.pid)?;
//! child.release()?;
//! let mut events: Vec<TraceEvent> = Vec::new();
//! let summary = tracer.run(Instant::now() + Duration::from_secs(10), &mut events)?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod arch;
mod convert;
mod decode;
mod event;
/// Flag and constant rendering, shared with ferret's other syscall sources.
use ferret_syscalls::flags;
mod filter;
mod inject;
mod set;
mod spawn;
mod sys;
mod tracer;
mod value;

pub use arch::{AUDIT_ARCH_I386, AUDIT_ARCH_X86_64, Arch, X32_SYSCALL_BIT, errno_name};
pub use convert::EventSink;
pub use decode::{Limits, parse_sockaddr};
pub use event::{ExitStatus, FnSink, ForkKind, Sink, SyscallRecord, TraceEvent};
/// The event model records convert into ([`TraceEvent::to_event`]).
pub use ferret_event;
/// Shared syscall tables and flag renderers.
pub use ferret_syscalls;
pub use ferret_syscalls::flags::{Sym, SymKind, signal_text as signal_name};
pub use filter::{evaluate as evaluate_filter, ptrace_filter};
pub use inject::Redirect;
pub use set::{Category, SyscallSet};
pub use spawn::{Stopped, spawn_stopped};
pub use tracer::{
    CpuPin, DEFAULT_MAX_EVENTS, PtraceTracer, RunSummary, TraceError, TraceOptions, Tracer,
};
pub use value::{ArgValue, Bytes, SockAddr, StrList};
