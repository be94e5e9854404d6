//! ferret's dynamic analysis: one call runs a sample from end to end.
//!
//! [`analyze`]: static analysis of the sample → detonation in a fresh
//! [`ferret_sandbox::Sandbox`] under the [`ferret_trace::PtraceTracer`] (on a dedicated
//! thread: ptrace requests must come from the thread that seized) → events, numbered and
//! written to `events.jsonl` as they arrive, fed in order to the bundled rules (and with
//! them to the process/fd state machine) → signatures, score, verdict → `report.json`
//! (schema `docs/schema/analysis-report.schema.json`), `stdout`, `stderr` and `dropped/`
//! in the output directory.
//!
//! Calls refused by the sandbox's seccomp deny-list never reach the tracer (the sandbox
//! answers them through seccomp user notification); they are merged into the event
//! stream as events of their syscall's name with `ret = -EPERM` and an argument
//! `denied` naming the refused call.
//!
//! Foreign-architecture samples (ARM, MIPS, PowerPC...; the ELF header decides,
//! [`AnalyzeOptions::arch`] overrides) run under qemu-user: their guest system calls
//! come from QEMU's log, their process lifecycle from the tracer, merged into one
//! stream (module `emulated` documents which source gives what, and why).
//!
//! After [`analyze`] returns, nothing of the task remains on the host: the sandbox's
//! teardown kills every process of the task's cgroup, unmounts and removes its cgroups;
//! its namespaces die with its processes. Teardown problems are reported in
//! [`report::RunOutcome::errors`].
#![forbid(unsafe_code)]

mod collect;
mod emulated;
pub mod network;
pub mod report;

use std::ffi::OsString;
use std::fmt;
use std::fs;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use ferret_emu::LogHandle;
use ferret_event::{Event, Value};
use ferret_report::YaraResult;
use ferret_rules::{BUNDLED_RULES, Engine, RuleSet};
use ferret_sandbox::{
    ChangeKind, CollectOptions, DeniedSyscall, EntryKind, ExitStatus, PidMap, Sandbox,
    SandboxConfig, SpawnSpec, Spawned, WaitStatus,
};
use ferret_static::Kind;
use ferret_trace::{
    PtraceTracer, Redirect, Sink, SyscallSet, TraceEvent, TraceOptions, Tracer, ptrace_filter,
};
use rustc_hash::FxHashMap;
use sha2::{Digest, Sha256};

use crate::collect::Collector;
use crate::network::TaskNet;
use crate::report::{
    AnalysisInfo, DroppedFile, EventLimit, LimitsHit, ProcExit, Processes, Report, RunOutcome,
    SampleInfo, StreamLimit, SyscallSummary, Timings,
};

pub use ferret_emu::{Arch, Error as EmuError};
pub use ferret_sandbox::Limits;
pub use network::{FakeNetOptions, fake_network};

/// Default cap on recorded events.
pub const DEFAULT_MAX_EVENTS: u64 = 2_000_000;

/// A YARA scan of one buffer, supplied by the caller (the CLI, when built with YARA).
pub type YaraFn = Box<dyn Fn(&[u8]) -> YaraResult + Sync>;

/// A network for the sandbox beyond loopback (e.g. the fake internet): it gets the
/// sandbox's own network namespace after the sample is spawned and before it runs, and
/// cleans up after the teardown.
/// Methods take `&self` (the options are shared): a provider keeps its own state
/// behind interior mutability.
pub trait NetworkProvider: Send + Sync {
    /// Name shown in the report (`fake`).
    fn name(&self) -> &str;
    /// Connects the sandbox's network namespace (`/proc/PID/ns/net` of its init), e.g.
    /// with a veth pair to a namespace of the provider's own. Runs before the sample's
    /// first instruction. Returns notes for the report.
    fn attach(&self, sandbox_netns: &Path) -> std::result::Result<Vec<String>, String>;
    /// Removes whatever the provider created; returns problems (reported, not fatal).
    fn detach(&self) -> Vec<String>;
}

/// The sandbox's network.
#[derive(Default)]
pub enum Network {
    /// A network namespace with only loopback (`--net none`).
    #[default]
    None,
    /// The fake internet (`--net fake`, see [`network`]): DNS/HTTP/IRC/telnet
    /// responders on every address, capture to `capture.pcap`, its analysis in the
    /// report's `network` section. [`fake_network`] gives the default settings.
    Fake(Box<FakeNetOptions>),
    /// Loopback plus what the provider attaches.
    Provider(Box<dyn NetworkProvider>),
}

impl fmt::Debug for Network {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Network::None => f.write_str("None"),
            Network::Fake(_) => f.write_str("Fake"),
            Network::Provider(p) => write!(f, "Provider({})", p.name()),
        }
    }
}

/// Settings of one analysis.
pub struct AnalyzeOptions {
    /// Detonation time limit (default 60 s).
    pub timeout: Duration,
    /// Arguments passed to the sample after its name.
    pub args: Vec<OsString>,
    /// Network mode.
    pub network: Network,
    /// Notes about the network choice, copied into the report (e.g. "fake internet not
    /// available: ran with none").
    pub network_notes: Vec<String>,
    /// Output directory (created; must be empty or absent).
    pub out_dir: PathBuf,
    /// Trace every system call instead of the default set.
    pub trace_all: bool,
    /// Events recorded at most (default [`DEFAULT_MAX_EVENTS`]).
    pub max_events: u64,
    /// Bytes of stdout and of stderr kept (default 8 MiB each).
    pub output_cap: usize,
    /// Sandbox resource limits.
    pub limits: Limits,
    /// Where the sandbox's work directories go (must be searchable by others).
    pub work_root: PathBuf,
    /// Host name the sample sees.
    pub hostname: String,
    /// YARA scan applied to the sample and the dropped files.
    pub yara: Option<YaraFn>,
    /// Static-analysis bounds.
    pub static_options: ferret_static::Options,
    /// Dropped ELF files and scripts statically analysed at most.
    pub max_dropped_analysed: usize,
    /// Dropped files listed in the report at most.
    pub max_dropped_listed: usize,
    /// Architecture to run the sample as (`--arch`); `None` reads it from the ELF
    /// header. Foreign architectures run under QEMU (see the `emulated` module docs).
    pub arch: Option<Arch>,
}

impl Default for AnalyzeOptions {
    fn default() -> Self {
        AnalyzeOptions {
            timeout: Duration::from_secs(60),
            args: Vec::new(),
            network: Network::None,
            network_notes: Vec::new(),
            out_dir: PathBuf::from("ferret-analysis"),
            trace_all: false,
            max_events: DEFAULT_MAX_EVENTS,
            output_cap: 8 << 20,
            limits: Limits::default(),
            work_root: std::env::temp_dir().join("ferret-sandbox"),
            hostname: "srv-web01".to_owned(),
            yara: None,
            static_options: ferret_static::Options::default(),
            max_dropped_analysed: 100,
            max_dropped_listed: 10_000,
            arch: None,
        }
    }
}

impl fmt::Debug for AnalyzeOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AnalyzeOptions")
            .field("timeout", &self.timeout)
            .field("args", &self.args)
            .field("network", &self.network)
            .field("out_dir", &self.out_dir)
            .field("trace_all", &self.trace_all)
            .field("max_events", &self.max_events)
            .field("yara", &self.yara.is_some())
            .finish_non_exhaustive()
    }
}

/// Phases reported to a [`Progress`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Static analysis of the sample.
    Static,
    /// Creating the sandbox.
    Setup,
    /// The sample runs.
    Running,
    /// Stopping, collecting files, tearing down.
    Collecting,
    /// Static analysis of dropped files.
    Dropped,
    /// Writing the report.
    Report,
}

impl Phase {
    /// Lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Static => "static analysis",
            Phase::Setup => "sandbox setup",
            Phase::Running => "running",
            Phase::Collecting => "collecting",
            Phase::Dropped => "dropped files",
            Phase::Report => "report",
        }
    }
}

/// Receives progress while an analysis runs (a few times a second while the sample runs).
pub trait Progress {
    /// Current phase, time since the analysis started, events recorded so far.
    fn update(&mut self, phase: Phase, elapsed: Duration, events: u64);
}

/// A [`Progress`] that ignores everything.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoProgress;

impl Progress for NoProgress {
    fn update(&mut self, _: Phase, _: Duration, _: u64) {}
}

/// A finished analysis.
#[derive(Debug, Clone)]
pub struct Analysis {
    /// The report (also written to `out_dir/report.json`).
    pub report: Report,
    /// Where report.json, events.jsonl, stdout, stderr and dropped/ are.
    pub out_dir: PathBuf,
}

/// Why an analysis could not be done.
#[derive(Debug)]
pub enum Error {
    /// The sample cannot be read.
    Input {
        /// The sample path.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// An output file or directory cannot be written.
    Output {
        /// What was being done.
        context: String,
        /// The error.
        source: io::Error,
    },
    /// The options are not usable.
    Options(String),
    /// The bundled rules do not compile.
    Rules(String),
    /// The sandbox could not be created or the sample not started.
    Sandbox(String),
    /// The tracer could not attach.
    Trace(String),
    /// The sandbox's network (the fake internet or a provider) could not be set up.
    Network(String),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Input { path, message } => {
                write!(f, "cannot read the sample {}: {message}", path.display())
            }
            Error::Output { context, source } => write!(f, "{context}: {source}"),
            Error::Options(m) => write!(f, "invalid analysis options: {m}"),
            Error::Rules(m) => write!(f, "the bundled rules do not compile: {m}"),
            Error::Sandbox(m) => write!(f, "sandbox: {m}"),
            Error::Trace(m) => write!(f, "tracer: {m}"),
            Error::Network(m) => write!(f, "network: {m}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Output { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// Result alias of this crate.
pub type Result<T> = std::result::Result<T, Error>;

fn out_err(context: impl Into<String>) -> impl FnOnce(io::Error) -> Error {
    let context = context.into();
    move |source| Error::Output { context, source }
}

/// The bundled rules, compiled once per process.
pub fn bundled_engine() -> Result<&'static Engine> {
    static ENGINE: OnceLock<std::result::Result<Engine, String>> = OnceLock::new();
    ENGINE
        .get_or_init(|| {
            let mut set = RuleSet::new();
            set.load_str("<bundled>/ferret_rules.yaml", BUNDLED_RULES)
                .map_err(|e| e.to_string())?;
            Engine::compile(&set).map_err(|errs| {
                errs.iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("; ")
            })
        })
        .as_ref()
        .map_err(|e| Error::Rules(e.clone()))
}

/// A file name safe to use inside the sandbox: `[A-Za-z0-9._-]`, at most 100 bytes.
fn sandbox_name(sample: &Path) -> String {
    let raw = sample
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut name: String = raw
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '_'
            }
        })
        .take(100)
        .collect();
    if name.is_empty() || name.chars().all(|c| c == '.') {
        name = "sample".to_owned();
    }
    name
}

fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

fn exit_of(s: ExitStatus) -> ProcExit {
    match s {
        ExitStatus::Code(c) => ProcExit::Code { code: i64::from(c) },
        ExitStatus::Signal {
            signal,
            core_dumped,
        } => ProcExit::Signal {
            signal: ferret_trace::signal_name(signal).unwrap_or_else(|| signal.to_string()),
            core: core_dumped,
        },
    }
}

/// Messages to the event-processing thread.
enum Msg {
    Trace(Vec<TraceEvent>),
    Event(Event),
}

/// Trace events sent to the processor at once: one channel hand-off (and thread
/// wake-up) per batch instead of per event keeps `--trace-all` close to the tracer's
/// own speed on a busy machine.
const BATCH: usize = 512;
/// A partial batch is sent once it is this old (checked at the next event; the rest
/// when the tracer finishes).
const BATCH_AGE: Duration = Duration::from_millis(50);

/// Host pid → sandbox pid, shared between the tracer's sink and the main thread.
type SharedPids = Arc<Mutex<FxHashMap<i32, i32>>>;

fn lock_pids(p: &SharedPids) -> std::sync::MutexGuard<'_, FxHashMap<i32, i32>> {
    p.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The tracer's sink: rewrites host pids to sandbox pids (on the tracer thread, while
/// the tracee is unreaped and its /proc entry readable) and forwards the event.
struct MapSink {
    tx: SyncSender<Msg>,
    cache: FxHashMap<i32, i32>,
    shared: SharedPids,
    pid_map: PidMap,
    unmapped: u64,
    batch: Vec<TraceEvent>,
    batch_started: Instant,
    /// Events with a host id not yet mapped, in arrival order.
    deferred: Vec<TraceEvent>,
    /// Parent host tid → host pid of a child whose fork event could not be mapped.
    pending_fork: FxHashMap<i32, i32>,
    /// Emulated runs: the guest syscall log, which gets a FIFO for every process.
    guest_log: Option<LogHandle>,
    /// Problems giving processes their own log.
    log_errors: Vec<String>,
}

impl Drop for MapSink {
    fn drop(&mut self) {
        self.finish();
    }
}

/// Events whose task died before its sandbox pid could be read, held at most.
const MAX_DEFERRED: usize = 10_000;

impl MapSink {
    fn flush(&mut self) {
        if !self.batch.is_empty() {
            let batch = std::mem::replace(&mut self.batch, Vec::with_capacity(BATCH));
            // A closed channel means the processor is gone; the run still ends normally.
            let _ = self.tx.send(Msg::Trace(batch));
        }
    }

    /// The sandbox pid of host pid `host`, if known or still readable in /proc.
    fn try_map(&mut self, host: i32) -> Option<i32> {
        if let Some(&n) = self.cache.get(&host) {
            return Some(n);
        }
        let n = self.pid_map.host_to_ns(host)?;
        self.cache.insert(host, n);
        lock_pids(&self.shared).insert(host, n);
        Some(n)
    }

    /// Rewrites every host id of `ev`; gives it back unchanged if one is unknown.
    /// Rewrites every host id of `ev` and returns true; leaves it unchanged and returns
    /// false if one is unknown.
    fn translate(&mut self, ev: &mut TraceEvent) -> bool {
        match ev {
            TraceEvent::Syscall(r) => match (self.try_map(r.pid), self.try_map(r.tid)) {
                (Some(p), Some(t)) => {
                    (r.pid, r.tid) = (p, t);
                    true
                }
                _ => false,
            },
            TraceEvent::Fork {
                parent,
                parent_tid,
                child,
                ..
            } => match (
                self.try_map(*parent),
                self.try_map(*parent_tid),
                self.try_map(*child),
            ) {
                (Some(p), Some(t), Some(c)) => {
                    (*parent, *parent_tid, *child) = (p, t, c);
                    true
                }
                _ => false,
            },
            TraceEvent::Exec { pid, old_tid, .. } => match self.try_map(*pid) {
                Some(p) => {
                    *pid = p;
                    // The former thread id is gone by now; known only if seen before.
                    if let Some(t) = old_tid {
                        *t = self.cache.get(t).copied().unwrap_or(*t);
                    }
                    true
                }
                None => false,
            },
            TraceEvent::Exit { pid, tid, .. } | TraceEvent::Signal { pid, tid, .. } => {
                match (self.try_map(*pid), self.try_map(*tid)) {
                    (Some(p), Some(t)) => {
                        (*pid, *tid) = (p, t);
                        true
                    }
                    _ => false,
                }
            }
        }
    }

    /// Queues a translated event, and forgets the host id of a task that ended (host
    /// pids are reused: a new task with the same host pid is looked up afresh; the
    /// shared entry stays for denied calls merged after the exit).
    fn push(&mut self, ev: TraceEvent, host_tid_gone: Option<i32>) {
        // A thread is gone: its log FIFO is read to its end and its name freed.
        if let (Some(log), TraceEvent::Exit { tid, .. }) = (&self.guest_log, &ev) {
            log.retire(*tid);
        }
        if self.batch.is_empty() {
            self.batch_started = Instant::now();
        }
        self.batch.push(ev);
        if self.batch.len() >= BATCH || self.batch_started.elapsed() >= BATCH_AGE {
            self.flush();
        }
        if let Some(t) = host_tid_gone {
            self.cache.remove(&t);
        }
    }

    fn exit_tid(ev: &TraceEvent) -> Option<i32> {
        match ev {
            TraceEvent::Exit { tid, .. } => Some(*tid),
            _ => None,
        }
    }

    /// Sends the deferred events that can now be translated; with `force`, all of
    /// them, unknown ids kept as host pids (and counted).
    fn release_deferred(&mut self, force: bool) {
        let deferred = std::mem::take(&mut self.deferred);
        for mut ev in deferred {
            let gone = Self::exit_tid(&ev);
            if self.translate(&mut ev) {
                self.push(ev, gone);
            } else if force {
                self.unmapped += 1;
                self.push(ev, gone);
            } else {
                self.deferred.push(ev);
            }
        }
    }

    /// Sends everything (end of the run).
    fn finish(&mut self) {
        self.release_deferred(true);
        self.flush();
    }
}

impl Sink for MapSink {
    fn event(&mut self, mut ev: TraceEvent) {
        // A task can die before its parent's fork event is seen: its /proc entry is
        // then gone. The parent's clone record (whose return value is the child's
        // sandbox pid) completes the mapping, and the deferred events follow.
        let mut learned = false;
        if let TraceEvent::Syscall(r) = &ev
            && matches!(r.name, "clone" | "clone3" | "fork" | "vfork")
            && let Some(ret) = r.ret.filter(|r| *r > 0)
            && let Some(child) = self.pending_fork.remove(&r.tid)
            && let Ok(ns) = i32::try_from(ret)
        {
            self.cache.insert(child, ns);
            lock_pids(&self.shared).insert(child, ns);
            learned = true;
        }
        let gone = Self::exit_tid(&ev);
        if self.translate(&mut ev) {
            self.push(ev, gone);
        } else {
            if let TraceEvent::Fork {
                parent_tid, child, ..
            } = &ev
                && !self.cache.contains_key(child)
            {
                self.pending_fork.insert(*parent_tid, *child);
            }
            self.deferred.push(ev);
            if self.deferred.len() > MAX_DEFERRED {
                self.release_deferred(true);
            }
        }
        if learned {
            self.release_deferred(false);
        }
    }

    /// Every new process gets its own guest-log FIFO (before it runs, so that a
    /// program it executes under QEMU logs there), and a forked QEMU's inherited log
    /// descriptor is moved to it: the pieces of concurrent processes never share a
    /// stream.
    fn new_process(&mut self, pid: i32) -> Option<Redirect> {
        let log = self.guest_log.clone()?;
        let Some(ns) = self.try_map(pid) else {
            self.log_errors.push(format!(
                "no sandbox pid for host process {pid}: no log of its own"
            ));
            return None;
        };
        let path = match log.add_task(ns) {
            Ok(p) => p,
            Err(e) => {
                self.log_errors.push(format!("process {ns}: {e}"));
                return None;
            }
        };
        let fd = log.log_fd_of(pid)?;
        let path = std::ffi::CString::new(path.into_os_string().into_encoded_bytes()).ok()?;
        Some(Redirect { fd, path })
    }

    /// A new thread gets its own guest-log FIFO too (QEMU logs per thread).
    fn new_thread(&mut self, tid: i32) {
        let Some(log) = self.guest_log.clone() else {
            return;
        };
        match self.try_map(tid) {
            Some(ns) => {
                if let Err(e) = log.add_task(ns) {
                    self.log_errors.push(format!("thread {ns}: {e}"));
                }
            }
            None => self.log_errors.push(format!(
                "no sandbox id for host thread {tid}: no log of its own"
            )),
        }
    }

    fn redirected(&mut self, pid: i32, result: std::result::Result<(), String>) {
        if let Err(e) = result {
            let who = self.cache.get(&pid).copied().unwrap_or(pid);
            self.log_errors
                .push(format!("process {who} keeps its parent's log: {e}"));
        }
    }
}

const ARG_NAMES: [&str; 6] = ["arg0", "arg1", "arg2", "arg3", "arg4", "arg5"];

/// Clock pair to turn the sandbox's `Instant`s into event timestamps.
#[derive(Clone, Copy)]
struct Clock {
    wall_ns: u64,
    mono: Instant,
}

impl Clock {
    fn now() -> Self {
        Clock {
            wall_ns: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| u64::try_from(d.as_nanos()).unwrap_or(0))
                .unwrap_or(0),
            mono: Instant::now(),
        }
    }

    fn ts(&self, at: Instant) -> u64 {
        let d = at.saturating_duration_since(self.mono);
        self.wall_ns
            .saturating_add(u64::try_from(d.as_nanos()).unwrap_or(0))
    }
}

fn denied_event(d: &DeniedSyscall, pids: &SharedPids, pid_map: &PidMap, clock: &Clock) -> Event {
    let pid = lock_pids(pids)
        .get(&d.host_pid)
        .copied()
        .or_else(|| pid_map.host_to_ns(d.host_pid))
        .unwrap_or(d.host_pid);
    // `clone(CLONE_NEWUSER)` → type `clone`; `x32 syscall` → `x32_syscall`.
    let ty: String = d
        .name
        .split('(')
        .next()
        .unwrap_or(d.name)
        .trim()
        .replace(' ', "_");
    let mut ev =
        Event::syscall(0, clock.ts(d.when), i64::from(pid), i64::from(pid), ty).ret(-EPERM);
    for (name, v) in ARG_NAMES.iter().zip(d.args) {
        ev.args.push(*name, Value::Uint(v));
    }
    ev.args.push("denied", Value::Str(d.name.to_owned()));
    ev
}

/// The deny-list's answer (Linux errno, the same on every architecture).
const EPERM: i64 = 1;

fn sha256_hex(data: &[u8]) -> String {
    let digest = Sha256::digest(data);
    let mut s = String::with_capacity(64);
    for b in digest {
        s.push_str(&format!("{b:02x}"));
    }
    s
}

/// Prepares the output directory: created, and empty if it existed.
fn prepare_out_dir(dir: &Path) -> Result<()> {
    match fs::read_dir(dir) {
        Ok(mut rd) => {
            if rd.next().is_some() {
                return Err(Error::Options(format!(
                    "output directory {} is not empty",
                    dir.display()
                )));
            }
            Ok(())
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            fs::create_dir_all(dir).map_err(out_err(format!("creating {}", dir.display())))
        }
        Err(e) => Err(Error::Output {
            context: format!("reading {}", dir.display()),
            source: e,
        }),
    }
}

fn prepare_work_root(dir: &Path) -> Result<()> {
    if !dir.exists() {
        fs::create_dir_all(dir).map_err(out_err(format!("creating {}", dir.display())))?;
        fs::set_permissions(dir, fs::Permissions::from_mode(0o755))
            .map_err(out_err(format!("chmod {}", dir.display())))?;
    }
    Ok(())
}

/// What the tracer thread returns.
struct TraceRun {
    summary: Option<ferret_trace::RunSummary>,
    error: Option<String>,
    unmapped: u64,
    /// Problems giving processes their own guest-log FIFO.
    log_errors: Vec<String>,
}

/// Runs the whole analysis of `sample`. See the crate docs.
pub fn analyze(
    sample: &Path,
    opts: &AnalyzeOptions,
    progress: &mut dyn Progress,
) -> Result<Analysis> {
    let t0 = Instant::now();
    let started_at = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    if opts.timeout.is_zero() {
        return Err(Error::Options("the timeout must be positive".into()));
    }
    if opts.max_events == 0 {
        return Err(Error::Options("max_events must be positive".into()));
    }
    let engine = bundled_engine()?;

    // Static analysis.
    progress.update(Phase::Static, t0.elapsed(), 0);
    let input =
        ferret_static::read_input(sample, &opts.static_options).map_err(|e| Error::Input {
            path: sample.to_path_buf(),
            message: e.to_string(),
        })?;
    let mut st = ferret_static::analyze(&input, &opts.static_options);
    if let Some(y) = &opts.yara {
        st.yara = Some(y(&input.data));
    }
    let static_json = serde_json::to_value(&st).map_err(|e| Error::Output {
        context: "serialising the static report".into(),
        source: io::Error::other(e),
    })?;
    let name = sandbox_name(sample);
    let sandbox_path = format!("/root/{name}");
    let sample_info = SampleInfo {
        name: sample
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| name.clone()),
        path: sample.display().to_string(),
        size: input.size,
        sha256: st.hashes.sha256.clone(),
        file_type: st.file_type.description.clone(),
        sandbox_path: sandbox_path.clone(),
    };
    drop(st);
    let plan = emulated::plan(&input.data, opts.arch).map_err(Error::Options)?;
    drop(input);
    let t_static = t0.elapsed();

    prepare_out_dir(&opts.out_dir)?;
    let events_file = fs::File::create(opts.out_dir.join("events.jsonl"))
        .map_err(out_err("creating events.jsonl"))?;

    // Sandbox.
    progress.update(Phase::Setup, t0.elapsed(), 0);
    let t_setup0 = Instant::now();
    prepare_work_root(&opts.work_root)?;
    let mut errors = Vec::new();
    if let Err(e) = ferret_sandbox::cleanup_stale(&opts.work_root) {
        errors.push(format!("cleaning stale sandboxes: {e}"));
    }
    // The fake net is created on its own thread while the sandbox is built.
    let mut net = TaskNet::start(&opts.network, &opts.out_dir)?;
    let mut cfg = SandboxConfig::new(&opts.work_root).install(sample, &sandbox_path, 0o755);
    cfg.limits = opts.limits.clone();
    cfg.hostname = opts.hostname.clone();
    let emu = match &plan {
        Some(p) if p.emulated() => {
            let traced = if opts.trace_all {
                SyscallSet::all()
            } else {
                SyscallSet::default()
            };
            Some(
                emulated::Emulation::start(p.clone(), &opts.work_root, traced)
                    .map_err(Error::Sandbox)?,
            )
        }
        _ => None,
    };
    if let Some(e) = &emu {
        cfg = e.configure(cfg);
    }
    let mut sandbox = Sandbox::new(cfg).map_err(|e| Error::Sandbox(e.to_string()))?;
    let set = if opts.trace_all {
        SyscallSet::all()
    } else {
        SyscallSet::default()
    };
    let mut argv: Vec<OsString> = vec![OsString::from(&sandbox_path)];
    argv.extend(opts.args.iter().cloned());
    let mut spec = match &emu {
        Some(e) => e.spawn_spec(Path::new(&sandbox_path), &opts.args),
        None => SpawnSpec::new(argv),
    };
    spec.stdout_cap = opts.output_cap;
    spec.stderr_cap = opts.output_cap;
    spec.extra_seccomp = Some(ptrace_filter(&set));
    net.ready()?;
    let spawned = sandbox
        .spawn(spec)
        .map_err(|e| Error::Sandbox(e.to_string()))?;

    let mut network_notes = opts.network_notes.clone();
    let network_name = net.name();
    match net.attach(spawned.pid_map().init_host_pid()) {
        Ok(notes) => network_notes.extend(notes),
        Err(e) => {
            // `e` is already an `Error::Network`: keep its text without the prefix.
            let msg = match e {
                Error::Network(m) => m,
                other => other.to_string(),
            };
            return Err(Error::Network(abandon(spawned, &mut sandbox, net, msg)));
        }
    }
    // Before release: the sample's QEMU opens its log FIFO first thing, and a
    // dynamically linked i386 sample needs the i386 loader where its ELF names it.
    let prepared = emu
        .as_ref()
        .map_or(Ok(()), |e| e.add_process(spawned.ns_pid()))
        .and_then(|()| match &plan {
            Some(p) => p
                .mount_native_libs(spawned.pid_map().init_host_pid())
                .map(drop)
                .map_err(|e| e.to_string()),
            None => Ok(()),
        });
    if let Err(msg) = prepared {
        return Err(Error::Sandbox(abandon(spawned, &mut sandbox, net, msg)));
    }
    let t_setup = t_setup0.elapsed();

    run_detonation(DetonationCtx {
        sandbox,
        spawned,
        opts,
        engine,
        events_file,
        progress,
        t0,
        t_static,
        t_setup,
        errors,
        started_at,
        static_json,
        sample_info,
        network_name,
        network_notes,
        net,
        arch: report::ArchInfo::of(plan.as_ref()),
        emu,
    })
}

/// Gives up a task before its release: the unreleased sample is dropped (it exits
/// unrun), the sandbox torn down and the fake net's own problems appended to `msg`.
fn abandon(spawned: Spawned, sandbox: &mut Sandbox, net: TaskNet<'_>, mut msg: String) -> String {
    drop(spawned);
    let _ = sandbox.teardown();
    for d in net.finish().errors {
        msg.push_str("; ");
        msg.push_str(&d);
    }
    msg
}

struct DetonationCtx<'a> {
    sandbox: Sandbox,
    spawned: Spawned,
    opts: &'a AnalyzeOptions,
    engine: &'static Engine,
    events_file: fs::File,
    progress: &'a mut dyn Progress,
    t0: Instant,
    t_static: Duration,
    t_setup: Duration,
    errors: Vec<String>,
    started_at: u64,
    static_json: serde_json::Value,
    sample_info: SampleInfo,
    network_name: String,
    network_notes: Vec<String>,
    net: TaskNet<'a>,
    arch: Option<report::ArchInfo>,
    emu: Option<emulated::Emulation>,
}

fn run_detonation(ctx: DetonationCtx<'_>) -> Result<Analysis> {
    let DetonationCtx {
        mut sandbox,
        spawned,
        opts,
        engine,
        events_file,
        progress,
        t0,
        t_static,
        t_setup,
        mut errors,
        started_at,
        static_json,
        sample_info,
        network_name,
        network_notes,
        net,
        arch,
        emu,
    } = ctx;
    let clock = Clock::now();
    let pid_map = spawned.pid_map().clone();
    let root_ns = i64::from(spawned.ns_pid());
    let host_pid = spawned.host_pid();
    let pids: SharedPids = Arc::new(Mutex::new(FxHashMap::default()));
    lock_pids(&pids).insert(host_pid, spawned.ns_pid());

    // Event processor.
    let counter = Arc::new(AtomicU64::new(0));
    let (tx, rx): (SyncSender<Msg>, Receiver<Msg>) = mpsc::sync_channel(256);
    let cap = opts.max_events;
    let proc_counter = Arc::clone(&counter);
    // An emulated run's host events wait for the guest log: they are merged at the end.
    let buffered = emu.is_some();
    let processor = std::thread::Builder::new()
        .name("ferret-events".into())
        .spawn(move || {
            let mut c = Collector::new(engine, events_file, cap, proc_counter);
            c.add_root(root_ns);
            let mut held = Vec::new();
            for msg in rx {
                match msg {
                    Msg::Trace(batch) => {
                        for t in batch {
                            if buffered {
                                held.push(t.to_event(0));
                            } else {
                                c.accept(t.to_event(0));
                            }
                        }
                    }
                    Msg::Event(e) if buffered => held.push(e),
                    Msg::Event(e) => c.accept(e),
                }
            }
            (c, held)
        })
        .map_err(|e| Error::Sandbox(format!("starting the event thread: {e}")))?;

    // Tracer: seize, release and run on one thread.
    let timeout = opts.timeout;
    let (ready_tx, ready_rx) = mpsc::channel::<std::result::Result<Instant, String>>();
    let sink = MapSink {
        tx: tx.clone(),
        cache: FxHashMap::default(),
        shared: Arc::clone(&pids),
        pid_map: pid_map.clone(),
        unmapped: 0,
        batch: Vec::with_capacity(BATCH),
        batch_started: Instant::now(),
        deferred: Vec::new(),
        pending_fork: FxHashMap::default(),
        guest_log: emu.as_ref().map(emulated::Emulation::log_handle),
        log_errors: Vec::new(),
    };
    let tracer = std::thread::Builder::new()
        .name("ferret-tracer".into())
        .spawn(move || {
            let mut sink = sink;
            sink.cache.insert(host_pid, spawned.ns_pid());
            let topts = TraceOptions {
                max_events: cap,
                ..TraceOptions::default()
            };
            let mut tracer = match PtraceTracer::seize_with(host_pid, topts) {
                Ok(t) => t,
                Err(e) => {
                    // Dropping `spawned` unreleased makes the sample exit unrun.
                    let _ = ready_tx.send(Err(e.to_string()));
                    return TraceRun {
                        summary: None,
                        error: Some(e.to_string()),
                        unmapped: 0,
                        log_errors: Vec::new(),
                    };
                }
            };
            if let Err(e) = spawned.release() {
                let _ = ready_tx.send(Err(e.to_string()));
                return TraceRun {
                    summary: None,
                    error: Some(e.to_string()),
                    unmapped: 0,
                    log_errors: Vec::new(),
                };
            }
            let released = Instant::now();
            let _ = ready_tx.send(Ok(released));
            // The sandbox stops the task at the timeout; the grace lets the tracer see
            // (and reap) the kills.
            let deadline = released + timeout + Duration::from_secs(30);
            let res = tracer.run(deadline, &mut sink);
            sink.finish();
            let remaining = tracer.kill_all(Duration::from_secs(2));
            let mut run = TraceRun {
                summary: None,
                error: None,
                unmapped: sink.unmapped,
                log_errors: std::mem::take(&mut sink.log_errors),
            };
            match res {
                Ok(s) => run.summary = Some(s),
                Err(e) => run.error = Some(e.to_string()),
            }
            if remaining > 0 {
                let msg = format!("{remaining} traced tasks could not be reaped");
                run.error = Some(run.error.map_or(msg.clone(), |e| format!("{e}; {msg}")));
            }
            run
        })
        .map_err(|e| Error::Trace(format!("starting the tracer thread: {e}")))?;

    let released = match ready_rx.recv() {
        Ok(Ok(at)) => at,
        Ok(Err(e)) => {
            drop(tx);
            let _ = tracer.join();
            let _ = processor.join();
            let _ = sandbox.teardown();
            return Err(Error::Trace(e));
        }
        Err(_) => {
            drop(tx);
            let _ = tracer.join();
            let _ = processor.join();
            let _ = sandbox.teardown();
            return Err(Error::Trace("the tracer thread died".into()));
        }
    };

    // Detonation: wait in short steps for progress and live denied calls.
    let deadline = released + timeout;
    let mut denied_sent = 0usize;
    let send_denied = |list: &[DeniedSyscall], from: usize| -> usize {
        for d in list.get(from..).unwrap_or(&[]) {
            let _ = tx.send(Msg::Event(denied_event(d, &pids, &pid_map, &clock)));
        }
        list.len().max(from)
    };
    loop {
        let step = (Instant::now() + Duration::from_millis(200)).min(deadline);
        match sandbox.wait(step) {
            Ok(WaitStatus::Exited) => break,
            Ok(WaitStatus::TimedOut) if Instant::now() >= deadline => break,
            Ok(WaitStatus::TimedOut) => {}
            Err(e) => {
                errors.push(format!("waiting for the sample: {e}"));
                break;
            }
        }
        let (list, _) = sandbox.denied_so_far();
        denied_sent = send_denied(&list, denied_sent);
        progress.update(
            Phase::Running,
            t0.elapsed(),
            counter.load(Ordering::Relaxed),
        );
    }
    let t_detonation = released.elapsed();

    // Stop, collect, tear down.
    progress.update(
        Phase::Collecting,
        t0.elapsed(),
        counter.load(Ordering::Relaxed),
    );
    let t_coll0 = Instant::now();
    let dropped_dir = opts.out_dir.join("dropped");
    let changes = match sandbox.collect_changes(
        &dropped_dir,
        &CollectOptions {
            max_file_bytes: 64 << 20,
            max_total_bytes: 256 << 20,
            max_entries: 200_000,
        },
    ) {
        Ok(c) => Some(c),
        Err(e) => {
            errors.push(format!("collecting dropped files: {e}"));
            None
        }
    };
    let outcome = match sandbox.teardown() {
        Ok(o) => o,
        Err(e) => {
            errors.push(format!("sandbox teardown: {e}"));
            sandbox.outcome().cloned().unwrap_or_default()
        }
    };
    let trace_run = tracer.join().unwrap_or_else(|_| TraceRun {
        summary: None,
        error: Some("the tracer thread panicked".into()),
        unmapped: 0,
        log_errors: Vec::new(),
    });
    for e in &trace_run.log_errors {
        errors.push(format!("guest syscall log: {e}"));
    }
    send_denied(&outcome.denied_syscalls, denied_sent);
    drop(tx);
    let (mut collector, held) = processor
        .join()
        .map_err(|_| Error::Sandbox("the event thread panicked".into()))?;
    if let Some(e) = emu {
        for ev in e.finish(held, root_ns, &opts.out_dir, &mut errors) {
            collector.accept(ev);
        }
    }
    if let Some(s) = &trace_run.summary {
        collector.add_dropped(s.dropped_events);
    }
    let collected = collector.finish();
    if let Some(e) = &trace_run.error {
        errors.push(format!("tracer: {e}"));
    }
    if trace_run.unmapped > 0 {
        errors.push(format!(
            "{} events of tasks that died before their sandbox pid was known keep host pids",
            trace_run.unmapped
        ));
    }
    if let Some(e) = &collected.write_error {
        errors.push(e.clone());
    }
    for e in &outcome.supervisor_errors {
        errors.push(format!("sandbox supervisor: {e}"));
    }
    drop(sandbox);
    let net_done = net.finish();
    errors.extend(net_done.errors);
    let t_collection = t_coll0.elapsed();

    // Dropped files.
    progress.update(Phase::Dropped, t0.elapsed(), collected.recorded);
    let t_drop0 = Instant::now();
    let mut dropped = Vec::new();
    let mut dropped_truncated = false;
    let mut not_analysed = 0u64;
    let mut dropped_omitted = 0u64;
    if let Some(ch) = &changes {
        dropped_truncated = ch.truncated;
        let mut analysed = 0usize;
        for c in &ch.entries {
            if dropped.len() >= opts.max_dropped_listed {
                dropped_omitted += 1;
                continue;
            }
            let (kind, target) = match &c.entry {
                EntryKind::Regular => ("file", None),
                EntryKind::Directory => ("dir", None),
                EntryKind::Symlink(t) => ("symlink", Some(t.display().to_string())),
                EntryKind::Fifo => ("fifo", None),
                EntryKind::Socket => ("socket", None),
                EntryKind::CharDevice(..) => ("chardev", None),
                EntryKind::BlockDevice(..) => ("blockdev", None),
                EntryKind::Unknown => ("unknown", None),
            };
            if kind == "dir" && c.kind != ChangeKind::Deleted {
                // Directories are implied by the files in them.
                continue;
            }
            let mut d = DroppedFile {
                path: c.path.display().to_string(),
                change: match c.kind {
                    ChangeKind::Created => "created",
                    ChangeKind::Modified => "modified",
                    ChangeKind::Deleted => "deleted",
                },
                kind,
                target,
                size: c.size,
                mode: format!("{:04o}", c.mode & 0o7777),
                sha256: None,
                stored_as: c.copied_to.as_ref().map(|p| {
                    p.strip_prefix(&opts.out_dir)
                        .unwrap_or(p)
                        .display()
                        .to_string()
                }),
                not_copied: c.not_copied.clone(),
                static_: None,
            };
            if let Some(p) = &c.copied_to {
                match fs::read(p) {
                    Ok(data) => {
                        d.sha256 = Some(sha256_hex(&data));
                        let ft = ferret_static::filetype::detect(&data);
                        if matches!(ft.kind, Kind::Elf | Kind::Script | Kind::ShellScript) {
                            if analysed < opts.max_dropped_analysed {
                                analysed += 1;
                                let mut r = ferret_static::analyze_bytes(
                                    &d.path,
                                    &data,
                                    &opts.static_options,
                                );
                                if let Some(y) = &opts.yara {
                                    r.yara = Some(y(&data));
                                }
                                d.static_ = serde_json::to_value(&r).ok();
                            } else {
                                not_analysed += 1;
                            }
                        }
                    }
                    Err(e) => errors.push(format!("reading dropped file {}: {e}", p.display())),
                }
            }
            dropped.push(d);
        }
    }
    let t_dropped = t_drop0.elapsed();

    // Report.
    progress.update(Phase::Report, t0.elapsed(), collected.recorded);
    let t_rep0 = Instant::now();
    let write = |name: &str, data: &[u8]| {
        fs::write(opts.out_dir.join(name), data).map_err(out_err(format!("writing {name}")))
    };
    write("stdout", &outcome.stdout.data)?;
    write("stderr", &outcome.stderr.data)?;
    let mut files = collected.files;
    files.dropped = dropped;
    files.dropped_truncated = dropped_truncated;
    files.omitted += dropped_omitted;
    let stream = |c: &ferret_sandbox::Captured| StreamLimit {
        total_bytes: c.total_bytes,
        captured_bytes: c.data.len() as u64,
        truncated_bytes: c.truncated_bytes,
    };
    let mut report = Report {
        schema_version: report::SCHEMA_VERSION,
        ferret_version: env!("CARGO_PKG_VERSION"),
        analysis: AnalysisInfo {
            started_at,
            timeout_secs: opts.timeout.as_secs_f64(),
            args: opts
                .args
                .iter()
                .map(|a| a.to_string_lossy().into_owned())
                .collect(),
            network: network_name,
            network_notes,
            trace_all: opts.trace_all,
            max_events: opts.max_events,
            hostname: opts.hostname.clone(),
            arch,
        },
        sample: sample_info,
        static_: static_json,
        processes: Processes {
            root: root_ns,
            count: collected.process_count,
            omitted: collected
                .process_count
                .saturating_sub(collected.processes.len() as u64),
            list: collected.processes,
        },
        syscalls: SyscallSummary {
            total: collected.syscalls_total,
            failed: collected.syscalls_failed,
            denied: collected.denied,
            by_name: collected.by_name,
        },
        files,
        network: report::NetworkSection {
            syscalls: collected.network,
            fakenet: net_done.fakenet,
            capture: net_done.capture,
        },
        signatures: collected.report.signatures,
        score: collected.report.score,
        verdict: collected.report.verdict,
        limits: LimitsHit {
            timed_out: outcome.timed_out,
            killed_at_stop: outcome.killed_at_stop as u64,
            events: EventLimit {
                cap: opts.max_events,
                recorded: collected.recorded,
                dropped: collected.dropped,
            },
            stdout: stream(&outcome.stdout),
            stderr: stream(&outcome.stderr),
            oom_kills: outcome.oom_kills,
            memory_limit_hits: outcome.memory_limit_hits,
            memory_peak_bytes: outcome.memory_peak_bytes,
            pids_limit_hits: outcome.pids_limit_hits,
            tmpfs_full: outcome.tmpfs_full,
            tmpfs_used_bytes: outcome.tmpfs_used_bytes,
            tmpfs_used_inodes: outcome.tmpfs_used_inodes,
            denied_total: outcome.denied_total,
            denied_recorded: outcome.denied_syscalls.len() as u64,
            dropped_analysis_cap: opts.max_dropped_analysed,
            dropped_not_analysed: not_analysed,
            capture: net_done.limit,
        },
        outcome: RunOutcome {
            sample_exit: outcome.sample_exit.map(exit_of),
            exec_error: outcome
                .exec_errno
                .map(|e| io::Error::from_raw_os_error(e).to_string()),
            setup_error: outcome.setup_error.clone(),
            run_time_ms: outcome.run_time.map(ms),
            cpu_time_ms: outcome.cpu_time_ns.map(|n| n / 1_000_000),
            tasks_traced: trace_run.summary.as_ref().map_or(0, |s| s.tasks),
            errors,
        },
        timings_ms: Timings {
            static_: ms(t_static),
            setup: ms(t_setup),
            detonation: ms(t_detonation),
            collection: ms(t_collection),
            dropped_analysis: ms(t_dropped),
            report: 0,
            total: 0,
        },
    };
    report.timings_ms.report = ms(t_rep0.elapsed());
    report.timings_ms.total = ms(t0.elapsed());
    let json = serde_json::to_vec_pretty(&report).map_err(|e| Error::Output {
        context: "serialising report.json".into(),
        source: io::Error::other(e),
    })?;
    write("report.json", &json)?;
    Ok(Analysis {
        report,
        out_dir: opts.out_dir.clone(),
    })
}
