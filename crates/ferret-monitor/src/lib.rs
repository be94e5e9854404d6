//! Live host monitoring for ferret (`ferret monitor`).
//!
//! ```text
//! publishers (threads)                        bus (one thread)            subscribers
//!  audit netlink  ─ execve/connect/bind/... ─┐                          ┌ rules engine → alerts
//!  proc connector ─ clone/procexit/(exec)  ──┼─ bounded queue each ──► state ─┼ printer (format/JSON)
//!  fanotify|inotify ─ create/modify/...    ──┘  (drops counted)          └ SQLite store (batches)
//! ```
//!
//! * [`Config`] and [`run`]: the whole monitor; [`query`](store::query) reads a stored
//!   session.
//! * Audit is used only if no other daemon owns it (or with `share_audit`); every change is
//!   recorded in a state file first and undone on exit, SIGINT and SIGTERM, or on the next
//!   start after a crash ([`session`]).
//! * Memory is bounded: queues of [`Config::queue_capacity`] events per publisher, a process
//!   table of at most about [`Config::max_procs`] entries ([`tracker`]), store batches of
//!   [`store::BATCH_ROWS`] rows with [`store::QUEUED_BATCHES`] queued.
//!
//! All `unsafe` code is in the `sys` module.

pub mod audit;
pub mod audit_pub;
pub mod bus;
pub mod fswatch;
pub mod output;
pub mod procconn;
pub mod procfs;
pub mod session;
pub mod store;
mod sys;
pub mod tracker;

use std::fmt;
use std::io::{self, Write};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use ferret_filter::Filter;
use ferret_rules::{BUNDLED_RULES, Engine, Output, RuleSet};

use crate::bus::{Bus, PubStats, Subscriber};
use crate::output::{EventFormat, Printer, RulesSub, Sink};
use crate::procconn::{Connector, ConnectorOptions};
use crate::session::AuditSession;
use crate::store::StoreSub;
use crate::tracker::Tracker;

/// Monitor settings.
#[derive(Debug, Clone)]
pub struct Config {
    /// Falco rule files loaded after the bundled rules.
    pub rules_files: Vec<PathBuf>,
    /// Load the bundled rules (`rules/ferret_rules.yaml`).
    pub bundled_rules: bool,
    /// Filter expression for printed and stored events.
    pub filter: Option<String>,
    /// Directories (or files' directories) whose changes are reported.
    pub watch: Vec<PathBuf>,
    /// Event format string; `None` with `json` false: events are not printed.
    pub format: Option<String>,
    /// Print events (when printing them) and alerts as JSON lines.
    pub json: bool,
    /// Print events at all (else only alerts).
    pub print_events: bool,
    /// SQLite store file.
    pub store: Option<PathBuf>,
    /// Stop after this long (else at SIGINT/SIGTERM).
    pub duration: Option<Duration>,
    /// Print the counters this often (they are always printed on exit).
    pub stats_every: Option<Duration>,
    /// Read audit alongside another daemon that owns it.
    pub share_audit: bool,
    /// Do not use audit at all.
    pub no_audit: bool,
    /// Events queued per publisher.
    pub queue_capacity: usize,
    /// Process table cap.
    pub max_procs: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            rules_files: Vec::new(),
            bundled_rules: true,
            filter: None,
            watch: Vec::new(),
            format: None,
            json: false,
            print_events: true,
            store: None,
            duration: None,
            stats_every: None,
            share_audit: false,
            no_audit: false,
            queue_capacity: 8192,
            max_procs: tracker::DEFAULT_MAX_PROCS,
        }
    }
}

/// A monitor failure, with a message naming the problem.
#[derive(Debug)]
pub struct Error(pub String);

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Error {}

fn err(msg: impl Into<String>) -> Error {
    Error(msg.into())
}

/// What a run did.
#[derive(Debug, Clone, Default)]
pub struct Summary {
    /// Events dispatched.
    pub events: u64,
    /// Sources that ran (`audit`, `audit(shared)`, `proc-connector`, `fanotify`, `inotify`).
    pub sources: Vec<String>,
    /// Final counter lines.
    pub stats: Vec<String>,
    /// Peak resident memory, KiB.
    pub vm_hwm_kib: u64,
    /// Signal that stopped the run, if any.
    pub signal: Option<i32>,
}

fn load_engine(cfg: &Config) -> Result<Engine, Error> {
    let mut set = RuleSet::new();
    if cfg.bundled_rules {
        set.load_str("<bundled>/ferret_rules.yaml", BUNDLED_RULES)
            .map_err(|e| err(e.to_string()))?;
    }
    for f in &cfg.rules_files {
        set.load_file(f).map_err(|e| err(e.to_string()))?;
    }
    Engine::compile(&set).map_err(|errs| {
        err(errs
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("\n"))
    })
}

fn stat_lines(
    started: Instant,
    dispatched: &AtomicU64,
    pubs: &[Arc<PubStats>],
    extra: &[String],
) -> Vec<String> {
    let mut v = vec![format!(
        "t={:.1}s events={} vm_hwm_kib={}",
        started.elapsed().as_secs_f64(),
        dispatched.load(Ordering::Relaxed),
        procfs::self_vm_hwm_kib().unwrap_or(0)
    )];
    v.extend(pubs.iter().map(|p| p.line()));
    v.extend(extra.iter().cloned());
    v
}

struct StopOnDrop(Arc<AtomicBool>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

/// Runs the monitor until the duration passes or SIGINT/SIGTERM arrives. Events and alerts
/// go to `out`; status (ready line, warnings, counters) to `log`.
pub fn run(
    cfg: &Config,
    out: Box<dyn Write + Send>,
    log: &mut dyn Write,
) -> Result<Summary, Error> {
    // Everything that can be wrong with the arguments is checked before touching the host.
    let engine = load_engine(cfg)?;
    let filter = match &cfg.filter {
        Some(t) => Some(Filter::new(t).map_err(|e| err(format!("--filter: {e}")))?),
        None => None,
    };
    let format = if cfg.json {
        EventFormat::Json
    } else {
        let t = cfg.format.as_deref().unwrap_or(output::DEFAULT_FORMAT);
        EventFormat::Template(Output::parse(t).map_err(|e| err(format!("--format: {e}")))?)
    };
    let mut roots = Vec::new();
    for w in &cfg.watch {
        let c =
            std::fs::canonicalize(w).map_err(|e| err(format!("--watch {}: {e}", w.display())))?;
        if !c.is_dir() {
            return Err(err(format!("--watch {}: not a directory", w.display())));
        }
        roots.push(c);
    }

    // SIGINT and SIGTERM are blocked before any thread exists (threads inherit the mask), so
    // that only the signal thread below receives them and the configuration is restored.
    sys::block_stop_signals().map_err(|e| err(format!("blocking SIGINT/SIGTERM: {e}")))?;
    // The store is opened (and created) before the host is touched: a bad path fails early.
    let mut store_join = None;
    let store_handle = match &cfg.store {
        Some(p) => {
            let (h, j) = store::open(p).map_err(|e| err(e.to_string()))?;
            store_join = Some(j);
            Some(h)
        }
        None => None,
    };

    let stop = Arc::new(AtomicBool::new(false));
    // Publisher threads stop on every way out of this function, errors included.
    let _stop_guard = StopOnDrop(Arc::clone(&stop));
    let signal = Arc::new(AtomicI32::new(0));
    {
        let (stop, signal) = (Arc::clone(&stop), Arc::clone(&signal));
        std::thread::Builder::new()
            .name("ferret-signals".into())
            .spawn(move || {
                let s = sys::wait_stop_signal();
                signal.store(s, Ordering::Relaxed);
                stop.store(true, Ordering::Relaxed);
            })
            .map_err(|e| err(format!("spawning the signal thread: {e}")))?;
    }

    let mut log_line = |s: &str| {
        let _ = writeln!(log, "ferret monitor: {s}");
    };
    match session::restore_stale() {
        Ok(lines) => lines.iter().for_each(|l| log_line(l)),
        Err(e) => log_line(&format!(
            "warning: restoring a crashed monitor's audit state: {e}"
        )),
    }

    let mut bus = Bus::new(cfg.queue_capacity);
    let mut threads: Vec<JoinHandle<()>> = Vec::new();
    let mut sources = Vec::new();
    let mut audit_session: Option<AuditSession> = None;

    if !cfg.no_audit {
        match AuditSession::start(cfg.share_audit) {
            Ok((s, reader)) => {
                for w in &s.warnings {
                    log_line(&format!("warning: {w}"));
                }
                sources.push(match s.mode {
                    session::Mode::Daemon => "audit".to_owned(),
                    session::Mode::Shared => "audit(shared)".to_owned(),
                });
                let publ = bus.publisher("audit");
                let stop = Arc::clone(&stop);
                let mut ctl = audit::AuditSocket::open().ok();
                threads.push(
                    std::thread::Builder::new()
                        .name("ferret-audit".into())
                        .spawn(move || {
                            audit_pub::run(reader, &publ, &stop, move || {
                                ctl.as_mut()?.status().ok().map(|s| s.lost)
                            });
                        })
                        .map_err(|e| err(format!("spawning the audit reader: {e}")))?,
                );
                audit_session = Some(s);
            }
            Err(e) => log_line(&format!(
                "warning: audit not used ({e}); no network events, process execs from the process connector"
            )),
        }
    }
    let audit_on = audit_session.is_some();

    match Connector::open() {
        Ok(conn) => {
            sources.push("proc-connector".to_owned());
            let publ = bus.publisher("proc-connector");
            let stop = Arc::clone(&stop);
            let opts = ConnectorOptions {
                exec: !audit_on,
                comm: !audit_on,
            };
            threads.push(
                std::thread::Builder::new()
                    .name("ferret-proc".into())
                    .spawn(move || procconn::run(conn, &publ, &stop, opts))
                    .map_err(|e| err(format!("spawning the connector reader: {e}")))?,
            );
        }
        Err(e) => log_line(&format!(
            "warning: process connector not available ({e}); no fork/exit events"
        )),
    }

    if !roots.is_empty() {
        match fswatch::Fanotify::open(&roots) {
            Ok(f) => {
                sources.push("fanotify".to_owned());
                let publ = bus.publisher("fanotify");
                let stop = Arc::clone(&stop);
                threads.push(
                    std::thread::Builder::new()
                        .name("ferret-fanotify".into())
                        .spawn(move || f.run(&publ, &stop))
                        .map_err(|e| err(format!("spawning the fanotify reader: {e}")))?,
                );
            }
            Err(fe) => match fswatch::Inotify::open(&roots) {
                Ok(i) => {
                    log_line(&format!("fanotify not available ({fe}); using inotify"));
                    if i.unwatched > 0 {
                        log_line(&format!(
                            "warning: {} directories not watched (inotify limit {})",
                            i.unwatched,
                            fswatch::MAX_INOTIFY_WATCHES
                        ));
                    }
                    sources.push("inotify".to_owned());
                    let publ = bus.publisher("inotify");
                    let stop = Arc::clone(&stop);
                    threads.push(
                        std::thread::Builder::new()
                            .name("ferret-inotify".into())
                            .spawn(move || i.run(&publ, &stop))
                            .map_err(|e| err(format!("spawning the inotify reader: {e}")))?,
                    );
                }
                Err(ie) => {
                    return Err(err(format!(
                        "cannot watch files: fanotify: {fe}; inotify: {ie}"
                    )));
                }
            },
        }
    }
    if sources.is_empty() {
        return Err(err(
            "no event source available (audit, process connector and file watches all failed; run as root)",
        ));
    }

    // Subscribers.
    let sink = Sink::new(out);
    let mut subs: Vec<Box<dyn Subscriber + Send>> = Vec::new();
    subs.push(Box::new(RulesSub::new(
        engine,
        sink.clone(),
        cfg.json,
        store_handle.clone(),
    )));
    if cfg.print_events {
        subs.push(Box::new(Printer::new(sink, format, filter.clone())));
    }
    if let Some(h) = &store_handle {
        subs.push(Box::new(StoreSub::new(h.clone(), filter)));
    }
    drop(store_handle);

    let mut tracker = Tracker::new(cfg.max_procs);
    for pid in procfs::pids() {
        tracker.seed(pid, &procfs::snapshot(pid).info);
    }
    let pub_stats = bus.stats();
    let dispatched = Arc::new(AtomicU64::new(0));
    let summaries: Arc<std::sync::Mutex<Vec<String>>> = Arc::default();
    let bus_thread = {
        let dispatched = Arc::clone(&dispatched);
        let summaries = Arc::clone(&summaries);
        std::thread::Builder::new()
            .name("ferret-bus".into())
            .spawn(move || -> io::Result<u64> {
                let r = bus.run(&mut tracker, &mut subs, &dispatched);
                if let Ok(mut s) = summaries.lock() {
                    s.extend(subs.iter().map(|x| x.summary()));
                    s.push(format!(
                        "tracker: processes={} rebuilds={} seeded_sockets={}",
                        tracker.len(),
                        tracker.rebuilds,
                        tracker.seeded_sockets
                    ));
                }
                r
            })
            .map_err(|e| err(format!("spawning the bus: {e}")))?
    };

    log_line(&format!("ready (sources: {})", sources.join(", ")));
    let _ = log.flush();
    let started = Instant::now();
    let mut last_stats = Instant::now();
    while !stop.load(Ordering::Relaxed) {
        if cfg.duration.is_some_and(|d| started.elapsed() >= d) {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
        if let Some(every) = cfg.stats_every
            && last_stats.elapsed() >= every
        {
            last_stats = Instant::now();
            for l in stat_lines(started, &dispatched, &pub_stats, &[]) {
                let _ = writeln!(log, "ferret monitor: stats {l}");
            }
            let _ = log.flush();
        }
    }
    stop.store(true, Ordering::Relaxed);
    for t in threads {
        let _ = t.join();
    }
    let bus_result = bus_thread.join();
    let mut problems = Vec::new();
    if let Some(mut s) = audit_session.take()
        && let Err(e) = s.restore()
    {
        problems.push(format!("restoring the audit configuration: {e}"));
    }
    if let Some(j) = store_join {
        match j.join() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => problems.push(format!("store: {e}")),
            Err(_) => problems.push("store writer panicked".to_owned()),
        }
    }
    let events = match bus_result {
        Ok(Ok(n)) => n,
        Ok(Err(e)) => {
            problems.push(format!("writing output: {e}"));
            dispatched.load(Ordering::Relaxed)
        }
        Err(_) => {
            problems.push("event dispatcher panicked".to_owned());
            dispatched.load(Ordering::Relaxed)
        }
    };
    let extra = summaries.lock().map(|s| s.clone()).unwrap_or_default();
    let stats = stat_lines(started, &dispatched, &pub_stats, &extra);
    for l in &stats {
        let _ = writeln!(log, "ferret monitor: final {l}");
    }
    let _ = log.flush();
    let sig = signal.load(Ordering::Relaxed);
    if !problems.is_empty() {
        return Err(err(problems.join("; ")));
    }
    Ok(Summary {
        events,
        sources,
        stats,
        vm_hwm_kib: procfs::self_vm_hwm_kib().unwrap_or(0),
        signal: (sig != 0).then_some(sig),
    })
}
