//! The ptrace tracer: follows every task of a seized process tree and turns
//! seccomp stops into merged syscall records.

use crate::arch::Arch;
use crate::decode::{Limits, Mem, decode_args, decode_exit};
use crate::event::{ExitStatus, ForkKind, Sink, SyscallRecord, TraceEvent};
use crate::inject::{self, InjectError};
use crate::sys::{self, INFO_OP_EXIT, INFO_OP_SECCOMP, SyscallInfo, Wait};
use crate::value::{ArgValue, Bytes, StrList};
use rustc_hash::{FxHashMap as HashMap, FxHashSet as HashSet};
use std::io;
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Options set on every tracee. No `PTRACE_O_TRACEEXIT`: its stop carries
/// nothing the death status does not, and costs one more round trip per
/// task.
const OPTIONS: u32 = (libc::PTRACE_O_TRACESYSGOOD
    | libc::PTRACE_O_TRACEFORK
    | libc::PTRACE_O_TRACEVFORK
    | libc::PTRACE_O_TRACECLONE
    | libc::PTRACE_O_TRACEEXEC
    | libc::PTRACE_O_TRACESECCOMP
    | libc::PTRACE_O_EXITKILL) as u32;

const EV_FORK: i32 = libc::PTRACE_EVENT_FORK;
const EV_VFORK: i32 = libc::PTRACE_EVENT_VFORK;
const EV_CLONE: i32 = libc::PTRACE_EVENT_CLONE;
const EV_EXEC: i32 = libc::PTRACE_EVENT_EXEC;
const EV_SECCOMP: i32 = libc::PTRACE_EVENT_SECCOMP;
const EV_STOP: i32 = 128; // PTRACE_EVENT_STOP

/// Default cap on recorded events (see [`TraceOptions::max_events`]).
pub const DEFAULT_MAX_EVENTS: u64 = 2_000_000;

/// Errors of the tracer itself (tracee failures are events, not errors).
#[derive(Debug)]
pub enum TraceError {
    /// `PTRACE_SEIZE` of the root process failed.
    Seize {
        /// Target pid.
        pid: i32,
        /// OS error.
        source: io::Error,
    },
    /// `run` was called from a thread other than the one that seized:
    /// ptrace only accepts requests from the tracing thread.
    WrongThread {
        /// Thread that seized.
        tracer: i32,
        /// Calling thread.
        caller: i32,
    },
    /// An unexpected OS error from waitpid or signal setup.
    Os(io::Error),
}

impl std::fmt::Display for TraceError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TraceError::Seize { pid, source } => {
                write!(f, "cannot ptrace-seize pid {pid}: {source}")
            }
            TraceError::WrongThread { tracer, caller } => write!(
                f,
                "tracer used from thread {caller} but it was seized by thread {tracer}; ptrace requires the same thread"
            ),
            TraceError::Os(e) => write!(f, "tracer OS error: {e}"),
        }
    }
}

impl std::error::Error for TraceError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            TraceError::Seize { source, .. } => Some(source),
            TraceError::Os(e) => Some(e),
            TraceError::WrongThread { .. } => None,
        }
    }
}

/// What a run saw; counters cover the whole life of the tracer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunSummary {
    /// Every ptrace stop handled (syscall, event, signal and group stops).
    pub stops: u64,
    /// Traced syscalls seen (seccomp stops), recorded or not.
    pub syscalls: u64,
    /// Events produced, recorded or not.
    pub events: u64,
    /// Events not delivered because `max_events` was reached.
    pub dropped_events: u64,
    /// Distinct tasks (processes and threads) traced.
    pub tasks: u64,
    /// The deadline was reached with tasks still alive.
    pub timed_out: bool,
    /// Tasks still traced when `run` returned.
    pub remaining: usize,
    /// How the seized (root) process ended, once it has.
    pub root_exit: Option<ExitStatus>,
}

/// Tracer settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TraceOptions {
    /// Events delivered to the sink at most; past it the sample keeps running,
    /// events are only counted (`RunSummary::dropped_events`).
    pub max_events: u64,
    /// Bounds on strings and argv/envp copied from tracees.
    pub limits: Limits,
    /// Read syscalls with `PTRACE_GETREGS` instead of `PTRACE_GET_SYSCALL_INFO`.
    /// The tracer switches to it by itself when the kernel lacks the latter
    /// (< 5.3); setting it exercises that path.
    pub force_getregs: bool,
    /// CPU placement of the tracer thread and its tracees (see [`CpuPin`]).
    pub cpu_pin: CpuPin,
}

/// Where the tracer and its tracees run.
///
/// Every ptrace stop hands control from the tracee to the tracer and back.
/// On one CPU that is a switch between two tasks of one run queue; on two, each
/// hand-off also wakes the other CPU (an inter-processor interrupt, and a VM
/// exit when that virtual CPU was idle). Pinning is opt-in: on a loaded 2-vCPU
/// VM it saved ~7% of CPU time in `--all` traces but no wall time (the pinned
/// pair waits for its busy CPU), and a sample confined to one CPU can notice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CpuPin {
    /// Leave placement to the scheduler.
    #[default]
    None,
    /// Pin the tracer thread to the CPU it runs on when it seizes the tracee.
    Tracer,
    /// Pin the tracer thread and the seized process (children inherit the
    /// mask) to that CPU. Tracees see a one-CPU affinity mask and may widen
    /// it with `sched_setaffinity`.
    TracerAndTracees,
}

impl Default for TraceOptions {
    fn default() -> Self {
        TraceOptions {
            max_events: DEFAULT_MAX_EVENTS,
            limits: Limits::default(),
            force_getregs: false,
            cpu_pin: CpuPin::None,
        }
    }
}

/// A syscall tracer. [`PtraceTracer`] is the ptrace + seccomp implementation;
/// an eBPF one can implement the same trait.
pub trait Tracer {
    /// Traces until every traced task is gone or `deadline` passes, delivering
    /// events to `sink`. At the deadline it returns with tasks still alive
    /// (`RunSummary::timed_out`); the caller kills the tree.
    fn run(&mut self, deadline: Instant, sink: &mut dyn Sink) -> Result<RunSummary, TraceError>;
}

#[derive(Debug)]
struct Task {
    /// Thread group id; `None` until known.
    tgid: Option<i32>,
    /// A syscall between its seccomp stop and its exit stop.
    pending: Option<SyscallRecord>,
    /// Its creation was reported by the parent's fork event (or it is the root).
    announced: bool,
    /// Its first stop was seen (the root's is the seize).
    started: bool,
}

/// ptrace + seccomp tracer for one process tree. Create it with
/// [`PtraceTracer::seize`] on the thread that will call [`Tracer::run`].
///
/// Dropping it SIGKILLs and reaps the tasks still traced (bounded to ~1 s), so
/// nothing is left in a ptrace stop.
#[derive(Debug)]
pub struct PtraceTracer {
    tasks: HashMap<i32, Task>,
    opts: TraceOptions,
    mem: Mem,
    info: SyscallInfo,
    summary: RunSummary,
    tracer_tid: i32,
    /// The seized process.
    root: i32,
    /// Tasks that died before their parent's fork event was seen, so that
    /// the late event does not resurrect them.
    early_dead: HashSet<i32>,
    /// Use GETREGS (kernel without GET_SYSCALL_INFO, or forced).
    use_regs: bool,
}

fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

/// How a task ended, from a wait status (`None` if it did not).
fn death_status(status: i32) -> Option<ExitStatus> {
    if libc::WIFEXITED(status) {
        Some(ExitStatus::Code(libc::WEXITSTATUS(status)))
    } else if libc::WIFSIGNALED(status) {
        Some(ExitStatus::Signal {
            sig: libc::WTERMSIG(status),
            core: libc::WCOREDUMP(status),
        })
    } else {
        None
    }
}

/// Thread group id of `tid` from /proc (used only when no event told us).
fn proc_tgid(tid: i32) -> Option<i32> {
    let s = std::fs::read_to_string(format!("/proc/{tid}/status")).ok()?;
    s.lines()
        .find_map(|l| l.strip_prefix("Tgid:"))
        .and_then(|v| v.trim().parse().ok())
}

/// argv of `pid` from /proc/PID/cmdline, bounded like decoded argv.
fn proc_cmdline(pid: i32, lim: &Limits) -> Option<StrList> {
    let raw = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    let mut items = Vec::new();
    let mut truncated = false;
    for part in raw.split(|&b| b == 0).filter(|p| !p.is_empty()) {
        if items.len() == lim.max_items {
            truncated = true;
            break;
        }
        let keep = part.len().min(lim.max_item_len);
        items.push(Bytes {
            data: part.get(..keep).unwrap_or(part).to_vec(),
            truncated: keep < part.len(),
        });
    }
    Some(StrList { items, truncated })
}

/// Applies `how` to the calling thread and `pid`. Best effort: a CPU outside
/// a cgroup's cpuset or a restricted mask leaves placement to the scheduler,
/// which changes speed only.
fn pin(pid: i32, how: CpuPin) {
    if how == CpuPin::None {
        return;
    }
    let Ok(cpu) = sys::current_cpu() else {
        return;
    };
    if sys::pin_to_cpu(0, cpu).is_err() {
        return;
    }
    if how == CpuPin::TracerAndTracees {
        let _ = sys::pin_to_cpu(pid, cpu);
    }
}

fn is_group_stop_signal(sig: i32) -> bool {
    matches!(
        sig,
        libc::SIGSTOP | libc::SIGTSTP | libc::SIGTTIN | libc::SIGTTOU
    )
}

impl PtraceTracer {
    /// Seizes `pid` (not stopping it) with fork/vfork/clone/exec/exit/seccomp
    /// tracing and `PTRACE_O_EXITKILL`. Call from the thread that will run
    /// the tracer, before the process installs its seccomp filter and execs.
    pub fn seize(pid: i32) -> Result<Self, TraceError> {
        Self::seize_with(pid, TraceOptions::default())
    }

    /// [`PtraceTracer::seize`] with explicit options.
    pub fn seize_with(pid: i32, opts: TraceOptions) -> Result<Self, TraceError> {
        sys::seize(pid, OPTIONS).map_err(|source| TraceError::Seize { pid, source })?;
        pin(pid, opts.cpu_pin);
        let mut tasks = HashMap::default();
        tasks.insert(
            pid,
            Task {
                tgid: Some(pid),
                pending: None,
                announced: true,
                started: true,
            },
        );
        Ok(PtraceTracer {
            tasks,
            opts,
            mem: Mem::new(),
            info: SyscallInfo::default(),
            summary: RunSummary {
                tasks: 1,
                ..RunSummary::default()
            },
            tracer_tid: sys::gettid(),
            root: pid,
            early_dead: HashSet::default(),
            use_regs: opts.force_getregs,
        })
    }

    /// Counters so far.
    pub fn summary(&self) -> &RunSummary {
        &self.summary
    }

    /// Thread ids still traced.
    pub fn traced(&self) -> impl Iterator<Item = i32> + '_ {
        self.tasks.keys().copied()
    }

    /// Fills `self.info` for the stop `tid` is in (`exit`: syscall-exit stop).
    fn read_info(&mut self, tid: i32, exit: bool) -> bool {
        let want = if exit { INFO_OP_EXIT } else { INFO_OP_SECCOMP };
        if !self.use_regs {
            match sys::syscall_info(tid, &mut self.info) {
                Ok(true) => return self.info.op == want,
                Ok(false) => return false,
                // EIO: request unknown to this kernel. Switch for good.
                Err(e) if e.raw_os_error() == Some(libc::EIO) => self.use_regs = true,
                Err(_) => return false,
            }
        }
        sys::syscall_info_from_regs(tid, &mut self.info, exit).is_ok()
    }

    fn emit(&mut self, sink: &mut dyn Sink, ev: TraceEvent) {
        self.summary.events += 1;
        if self.summary.events > self.opts.max_events {
            self.summary.dropped_events += 1;
        } else {
            sink.event(ev);
        }
    }

    fn capped(&self) -> bool {
        self.summary.events >= self.opts.max_events
    }

    /// Resumes `tid`, in syscall mode if it has a syscall waiting for its exit.
    fn resume(&self, tid: i32, sig: i32) {
        let pending = self.tasks.get(&tid).is_some_and(|t| t.pending.is_some());
        // ESRCH: the task died meanwhile; its death is reported by waitpid.
        let _ = if pending {
            sys::cont_syscall(tid, sig)
        } else {
            sys::cont(tid, sig)
        };
    }

    fn tgid_of(&mut self, tid: i32) -> i32 {
        match self.tasks.get(&tid).and_then(|t| t.tgid) {
            Some(t) => t,
            None => {
                let t = proc_tgid(tid).unwrap_or(tid);
                if let Some(task) = self.tasks.get_mut(&tid) {
                    task.tgid = Some(t);
                }
                t
            }
        }
    }

    fn flush_pending(&mut self, tid: i32, sink: &mut dyn Sink) {
        if let Some(rec) = self.tasks.get_mut(&tid).and_then(|t| t.pending.take()) {
            self.emit(sink, TraceEvent::Syscall(rec));
        }
    }

    fn on_seccomp(&mut self, tid: i32, sink: &mut dyn Sink) {
        self.summary.syscalls += 1;
        if !self.read_info(tid, false) {
            return self.resume(tid, 0);
        }
        let info = self.info;
        let Some(arch) = Arch::from_audit(info.arch, info.nr) else {
            return self.resume(tid, 0);
        };
        // A record still pending means its exit stop never came: emit as is.
        self.flush_pending(tid, sink);
        let name = arch.syscall_name(info.nr).unwrap_or("?");
        let no_return = matches!(name, "exit" | "exit_group");
        let is_clone = matches!(name, "clone" | "clone3" | "fork" | "vfork");
        if self.capped() && !is_clone {
            // Past the cap: count, skip decoding and the exit stop.
            self.summary.events += 1;
            self.summary.dropped_events += 1;
            let _ = sys::cont(tid, 0);
            return;
        }
        let pid = self.tgid_of(tid);
        self.mem.set_pid(tid);
        let args = decode_args(arch, info.nr, &info.args, &mut self.mem, &self.opts.limits);
        let rec = SyscallRecord {
            ts_ns: now_ns(),
            pid,
            tid,
            arch,
            nr: info.nr,
            name,
            raw_args: info.args,
            args,
            ret: None,
            errno: None,
        };
        if no_return {
            self.emit(sink, TraceEvent::Syscall(rec));
            let _ = sys::cont(tid, 0);
            return;
        }
        if let Some(t) = self.tasks.get_mut(&tid) {
            t.pending = Some(rec);
        }
        let _ = sys::cont_syscall(tid, 0);
    }

    fn on_syscall_exit(&mut self, tid: i32, sink: &mut dyn Sink) {
        let Some(mut rec) = self.tasks.get_mut(&tid).and_then(|t| t.pending.take()) else {
            return self.resume(tid, 0);
        };
        if self.read_info(tid, true) {
            let rval = self.info.rval();
            if self.info.is_error() {
                rec.ret = Some(-1);
                rec.errno = Some(rval.unsigned_abs() as i32);
            } else {
                rec.ret = Some(rval);
                if !rec.args.is_empty() {
                    self.mem.set_pid(tid);
                    decode_exit(rec.name, &rec.raw_args, &mut rec.args, &mut self.mem);
                }
            }
        }
        self.emit(sink, TraceEvent::Syscall(rec));
        self.resume(tid, 0);
    }

    fn on_fork(&mut self, tid: i32, event: i32, sink: &mut dyn Sink) {
        let Ok(child) = sys::event_msg(tid).map(|c| c as i32) else {
            return self.resume(tid, 0);
        };
        let parent = self.tgid_of(tid);
        let flags = self
            .tasks
            .get(&tid)
            .and_then(|t| t.pending.as_ref())
            .and_then(|r| match r.name {
                "clone" => Some(r.raw_args[0]),
                "clone3" => match r.arg("args") {
                    Some(ArgValue::Struct(f)) => f.iter().find_map(|(n, v)| match (n, v) {
                        (&"flags", ArgValue::Sym(s)) => Some(s.value),
                        _ => None,
                    }),
                    _ => None,
                },
                _ => None,
            });
        let kind = match event {
            EV_FORK => ForkKind::Fork,
            EV_VFORK => ForkKind::Vfork,
            _ => match flags {
                Some(f) if f & libc::CLONE_THREAD as u64 != 0 => ForkKind::Thread,
                Some(f) if f & libc::CLONE_VFORK as u64 != 0 => ForkKind::Vfork,
                Some(_) => ForkKind::Clone,
                None => match proc_tgid(child) {
                    Some(t) if t != child => ForkKind::Thread,
                    _ => ForkKind::Clone,
                },
            },
        };
        let child_tgid = if kind == ForkKind::Thread {
            parent
        } else {
            child
        };
        match self.tasks.get_mut(&child) {
            // Its own first stop came first.
            Some(t) => {
                t.tgid = Some(child_tgid);
                t.announced = true;
            }
            // It even died already.
            None if self.early_dead.remove(&child) => {}
            None => {
                self.summary.tasks += 1;
                self.tasks.insert(
                    child,
                    Task {
                        tgid: Some(child_tgid),
                        pending: None,
                        announced: true,
                        started: false,
                    },
                );
            }
        }
        self.emit(
            sink,
            TraceEvent::Fork {
                ts_ns: now_ns(),
                parent,
                parent_tid: tid,
                child,
                kind,
            },
        );
        self.resume(tid, 0);
    }

    fn on_exec(&mut self, pid: i32, sink: &mut dyn Sink) {
        let old = sys::event_msg(pid).map(|t| t as i32).unwrap_or(pid);
        if old != pid {
            // A non-leader thread exec'd and took over the leader's tid: the
            // leader is gone without a death report, the execing thread's
            // state (with its pending execve) moves to the new tid.
            self.flush_pending(pid, sink);
            if let Some(mut t) = self.tasks.remove(&old) {
                t.tgid = Some(pid);
                self.tasks.insert(pid, t);
            }
        }
        if let Some(t) = self.tasks.get_mut(&pid) {
            t.tgid = Some(pid);
        }
        let (mut path, mut argv, mut envp) = (None, None, None);
        if let Some(rec) = self.tasks.get(&pid).and_then(|t| t.pending.as_ref()) {
            for (n, v) in &rec.args {
                match (*n, v) {
                    ("filename" | "pathname", ArgValue::Str(b)) => path = Some(b.clone()),
                    ("argv", ArgValue::StrList(l)) => argv = Some(l.clone()),
                    ("envp", ArgValue::StrList(l)) => envp = Some(l.clone()),
                    _ => {}
                }
            }
        }
        if argv.is_none() {
            // execve itself not traced: the new image's argv from /proc.
            argv = proc_cmdline(pid, &self.opts.limits);
        }
        let exe = std::fs::read_link(format!("/proc/{pid}/exe"))
            .ok()
            .map(|p| p.into_os_string().into_encoded_bytes());
        // The exec stop is no syscall stop, but both requests report the arch.
        let arch = if self.use_regs {
            sys::syscall_info_from_regs(pid, &mut self.info, true)
                .ok()
                .and_then(|()| Arch::from_audit(self.info.arch, 0))
        } else {
            match sys::syscall_info(pid, &mut self.info) {
                Ok(true) => Arch::from_audit(self.info.arch, 0),
                _ => None,
            }
        };
        self.emit(
            sink,
            TraceEvent::Exec {
                ts_ns: now_ns(),
                pid,
                old_tid: (old != pid).then_some(old),
                path,
                exe,
                arch,
                argv,
                envp,
            },
        );
        self.resume(pid, 0);
    }

    fn on_death(&mut self, tid: i32, status: ExitStatus, sink: &mut dyn Sink) {
        let Some(task) = self.tasks.remove(&tid) else {
            // Not ours, a tid retired by a multi-threaded exec, or a child
            // killed before its first stop: remember it so that a late fork
            // event does not add a task that will never report again.
            self.early_dead.insert(tid);
            return;
        };
        let pid = task.tgid.unwrap_or(tid);
        if !task.announced {
            self.early_dead.insert(tid);
        }
        if tid == self.root {
            self.summary.root_exit = Some(status);
        }
        if let Some(rec) = task.pending {
            self.emit(sink, TraceEvent::Syscall(rec));
        }
        self.emit(
            sink,
            TraceEvent::Exit {
                ts_ns: now_ns(),
                pid,
                tid,
                status,
            },
        );
    }

    fn on_signal(&mut self, tid: i32, sig: i32, sink: &mut dyn Sink) {
        let (code, sender) = match sys::siginfo(tid) {
            Ok((_, code, sender)) => (code, sender),
            Err(_) => (0, 0),
        };
        let pid = self.tgid_of(tid);
        self.emit(
            sink,
            TraceEvent::Signal {
                ts_ns: now_ns(),
                pid,
                tid,
                sig,
                code,
                sender,
            },
        );
        // Re-inject: the tracee gets the signal as if untraced.
        self.resume(tid, sig);
    }

    fn on_stop(&mut self, tid: i32, status: i32, sink: &mut dyn Sink) {
        self.summary.stops += 1;
        if !self.tasks.contains_key(&tid) {
            // An auto-attached child whose first stop beat its parent's
            // event. It is stopped, so /proc tells its thread group reliably.
            self.summary.tasks += 1;
            self.tasks.insert(
                tid,
                Task {
                    tgid: proc_tgid(tid),
                    pending: None,
                    announced: false,
                    started: false,
                },
            );
        }
        let first = self
            .tasks
            .get_mut(&tid)
            .is_some_and(|t| !std::mem::replace(&mut t.started, true));
        let sig = libc::WSTOPSIG(status);
        let event = (status >> 16) & 0xff;
        match (sig, event) {
            (s, 0) if s == libc::SIGTRAP | 0x80 => self.on_syscall_exit(tid, sink),
            (libc::SIGTRAP, EV_SECCOMP) => self.on_seccomp(tid, sink),
            (libc::SIGTRAP, EV_FORK | EV_VFORK | EV_CLONE) => self.on_fork(tid, event, sink),
            (libc::SIGTRAP, EV_EXEC) => self.on_exec(tid, sink),
            (s, EV_STOP) if is_group_stop_signal(s) => {
                // Group stop: stay stopped (job control semantics) but let
                // us see the SIGCONT that ends it.
                let _ = sys::listen(tid);
            }
            (_, EV_STOP) if first => self.on_first_stop(tid, sink),
            (_, EV_STOP) => self.resume(tid, 0),
            (s, 0) => self.on_signal(tid, s, sink),
            _ => self.resume(tid, 0),
        }
    }

    /// A new task's first stop: a new process may get a descriptor redirected
    /// ([`Sink::new_process`]) before it runs; a new thread is announced
    /// ([`Sink::new_thread`]).
    fn on_first_stop(&mut self, tid: i32, sink: &mut dyn Sink) {
        let mut sig = 0;
        if self.tgid_of(tid) != tid {
            sink.new_thread(tid);
        } else if tid != self.root
            && let Some(r) = sink.new_process(tid)
        {
            match inject::redirect(tid, &r) {
                Ok(s) => {
                    sig = s;
                    sink.redirected(tid, Ok(()));
                }
                Err(InjectError::Failed(m)) => sink.redirected(tid, Err(m)),
                Err(InjectError::Died(st)) => {
                    sink.redirected(tid, Err("the process died".into()));
                    if let Some(status) = death_status(st) {
                        self.on_death(tid, status, sink);
                    }
                    return;
                }
            }
        }
        self.resume(tid, sig);
    }

    fn run_inner(&mut self, deadline: Instant, sink: &mut dyn Sink) -> Result<(), TraceError> {
        while !self.tasks.is_empty() {
            if Instant::now() >= deadline {
                self.summary.timed_out = true;
                break;
            }
            match sys::wait_any().map_err(TraceError::Os)? {
                Wait::Interrupted => continue,
                Wait::NoChildren => {
                    // Every traced task vanished without a report we could see.
                    self.tasks.clear();
                    break;
                }
                Wait::Status(tid, status) => {
                    if libc::WIFSTOPPED(status) {
                        self.on_stop(tid, status, sink);
                    } else if let Some(st) = death_status(status) {
                        self.on_death(tid, st, sink);
                    }
                }
            }
        }
        Ok(())
    }

    /// SIGKILLs every task still traced and reaps them, waiting at most `timeout`.
    /// Returns how many were still not reaped.
    pub fn kill_all(&mut self, timeout: Duration) -> usize {
        for &tid in self.tasks.keys() {
            sys::kill_thread(tid);
        }
        let end = Instant::now() + timeout;
        while !self.tasks.is_empty() && Instant::now() < end {
            self.tasks
                .retain(|&tid, _| match sys::wait_pid_nohang(tid) {
                    Ok(None) => true,
                    Ok(Some(st)) if libc::WIFSTOPPED(st) => {
                        // A stop reported before the kill, not collected yet.
                        let _ = sys::cont(tid, 0);
                        true
                    }
                    _ => false,
                });
            if !self.tasks.is_empty() {
                std::thread::sleep(Duration::from_millis(1));
            }
        }
        self.tasks.len()
    }
}

impl Tracer for PtraceTracer {
    fn run(&mut self, deadline: Instant, sink: &mut dyn Sink) -> Result<RunSummary, TraceError> {
        let caller = sys::gettid();
        if caller != self.tracer_tid {
            return Err(TraceError::WrongThread {
                tracer: self.tracer_tid,
                caller,
            });
        }
        sys::install_wake_handler().map_err(TraceError::Os)?;
        sys::unblock_wake_signal();
        // A helper thread interrupts the blocking waitpid at the deadline,
        // repeating until we stop it (a single signal could land just before
        // waitpid blocks).
        let (stop_tx, stop_rx) = mpsc::channel::<()>();
        let tid = self.tracer_tid;
        let waker = std::thread::Builder::new()
            .name("ferret-trace-deadline".into())
            .spawn(move || {
                let wait = deadline.saturating_duration_since(Instant::now());
                if let Err(mpsc::RecvTimeoutError::Timeout) = stop_rx.recv_timeout(wait) {
                    loop {
                        sys::wake_thread(tid);
                        match stop_rx.recv_timeout(Duration::from_millis(10)) {
                            Err(mpsc::RecvTimeoutError::Timeout) => continue,
                            _ => break,
                        }
                    }
                }
            })
            .map_err(TraceError::Os)?;
        let result = self.run_inner(deadline, sink);
        drop(stop_tx);
        let _ = waker.join();
        result?;
        self.summary.remaining = self.tasks.len();
        Ok(self.summary.clone())
    }
}

impl Drop for PtraceTracer {
    fn drop(&mut self) {
        if !self.tasks.is_empty() {
            self.kill_all(Duration::from_secs(1));
        }
    }
}
