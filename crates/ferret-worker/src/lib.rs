//! The worker of `ferret serve --workers N` and `ferret worker`: lease a task from the
//! [`ferret_queue::Queue`], run it, heartbeat while it runs, store its artifacts, and
//! complete or fail it.
//!
//! - File tasks run [`ferret_analyze::analyze`] on a blocking thread with the task's
//!   options (timeout, network, architecture, arguments). The artifacts are
//!   `report.json`, `events.jsonl`, `stdout`, `stderr`, `capture.pcap` (when the fake
//!   network captured one) and `dropped.zip`, the dropped files in a zip encrypted with
//!   AES-256 and the password `infected`.
//! - Pcap tasks run [`ferret_pcap::analyze_bytes`]; `report.json` is its network report
//!   and `capture.pcap` the capture itself.
//!
//! A worker runs one task at a time; run several for parallelism. When its lease is lost
//! (the database took it back after missed heartbeats) the result is thrown away: the
//! task's other attempt completes it. Database outages are ridden out: calls are retried
//! with backoff, and a completion is retried until it is recorded or the lease is known
//! to be lost.
//!
//! Shutdown is graceful: cancel the token and [`Worker::run`] returns once the current
//! task is stored. A worker killed outright loses its lease when it expires and another
//! worker retries the task.

mod dropped;
mod task;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ferret_queue::{Lease, Queue};
use tokio_util::sync::CancellationToken;

pub use dropped::{ZIP_PASSWORD, zip_dir};
pub use task::{Outcome, TaskError};

/// A YARA scan of one buffer (the sample and each dropped file), shared by the workers.
pub type YaraScan = Arc<dyn Fn(&[u8]) -> ferret_report::YaraResult + Send + Sync>;

/// Settings of a [`Worker`].
#[derive(Clone)]
pub struct WorkerConfig {
    /// Worker name, unique among the workers of a database (shown in task records and
    /// `/metrics`).
    pub id: String,
    /// Lease length; a task whose worker stops heartbeating for this long is retried.
    pub lease_for: Duration,
    /// Heartbeat interval while a task runs (well under `lease_for`).
    pub heartbeat_every: Duration,
    /// How long an idle worker waits before asking the database again (in-process
    /// submissions wake it at once).
    pub poll_every: Duration,
    /// Scratch directory for inputs and analysis outputs (one subdirectory per task,
    /// removed after the task).
    pub work_dir: PathBuf,
    /// YARA scan of samples and dropped files.
    pub yara: Option<YaraScan>,
    /// Settings of pcap analyses (GeoIP, blacklist, thresholds).
    pub pcap: Arc<ferret_pcap::Options>,
    /// Events recorded per analysis at most.
    pub max_events: u64,
}

impl std::fmt::Debug for WorkerConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WorkerConfig")
            .field("id", &self.id)
            .field("lease_for", &self.lease_for)
            .field("heartbeat_every", &self.heartbeat_every)
            .field("poll_every", &self.poll_every)
            .field("work_dir", &self.work_dir)
            .field("yara", &self.yara.is_some())
            .field("max_events", &self.max_events)
            .finish_non_exhaustive()
    }
}

/// Default lease: long enough to ride out a database restart, short enough that a dead
/// worker's task is soon retried.
pub const DEFAULT_LEASE: Duration = Duration::from_secs(60);

impl WorkerConfig {
    /// Defaults: 60 s leases, heartbeat every 10 s, poll every second.
    pub fn new(id: impl Into<String>, work_dir: impl Into<PathBuf>) -> WorkerConfig {
        WorkerConfig {
            id: id.into(),
            lease_for: DEFAULT_LEASE,
            heartbeat_every: DEFAULT_LEASE / 6,
            poll_every: Duration::from_secs(1),
            work_dir: work_dir.into(),
            yara: None,
            pcap: Arc::new(ferret_pcap::Options::default()),
            max_events: ferret_analyze::DEFAULT_MAX_EVENTS,
        }
    }

    /// Sets `lease_for` and a heartbeat interval of a sixth of it.
    pub fn with_lease(mut self, lease_for: Duration) -> WorkerConfig {
        self.lease_for = lease_for;
        self.heartbeat_every = (lease_for / 6).max(Duration::from_millis(50));
        self
    }
}

/// `host-pid-n`: a worker name unique across machines and processes.
pub fn default_worker_id(n: usize) -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .unwrap_or_default();
    let host = if host.is_empty() { "host".into() } else { host };
    format!("{host}-{}-{n}", std::process::id())
}

/// What happened to one leased task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TaskResult {
    /// Completed with its artifacts.
    Completed,
    /// Failed (queued again if it has attempts left).
    Failed(String),
    /// The lease was lost before the result could be stored; the result was dropped.
    LeaseLost,
}

/// One worker: leases and runs tasks one at a time.
#[derive(Debug)]
pub struct Worker {
    queue: Queue,
    cfg: WorkerConfig,
}

/// Delay before retrying a database call, growing to 5 s.
fn backoff(attempt: u32) -> Duration {
    Duration::from_millis(200u64.saturating_mul(1 << attempt.min(5)).min(5000))
}

impl Worker {
    /// A worker on `queue`.
    pub fn new(queue: Queue, cfg: WorkerConfig) -> Worker {
        Worker { queue, cfg }
    }

    /// The worker's settings.
    pub fn config(&self) -> &WorkerConfig {
        &self.cfg
    }

    fn log(&self, msg: std::fmt::Arguments<'_>) {
        eprintln!("ferret worker {}: {msg}", self.cfg.id);
    }

    /// Leases and runs tasks until `shutdown` is cancelled; the task running then is
    /// finished and stored first.
    pub async fn run(self, shutdown: CancellationToken) {
        let mut errors = 0u32;
        let mut last_seen: Option<Instant> = None;
        while !shutdown.is_cancelled() {
            match self.queue.lease(&self.cfg.id, self.cfg.lease_for).await {
                Ok(Some(lease)) => {
                    errors = 0;
                    last_seen = Some(Instant::now());
                    self.process(lease).await;
                }
                Ok(None) => {
                    errors = 0;
                    // An idle worker still shows up in /metrics.
                    if last_seen.is_none_or(|t| t.elapsed() >= self.cfg.heartbeat_every) {
                        if let Err(e) = self.queue.worker_seen(&self.cfg.id).await {
                            self.log(format_args!("recording presence: {e}"));
                        }
                        last_seen = Some(Instant::now());
                    }
                    tokio::select! {
                        () = shutdown.cancelled() => break,
                        () = self.queue.wait_for_work(self.cfg.poll_every) => {}
                    }
                }
                Err(e) => {
                    if errors == 0 || !e.is_transient() {
                        self.log(format_args!("leasing a task: {e}; retrying"));
                    }
                    let wait = backoff(errors);
                    errors = errors.saturating_add(1);
                    tokio::select! {
                        () = shutdown.cancelled() => break,
                        () = tokio::time::sleep(wait) => {}
                    }
                }
            }
        }
    }

    /// Leases one task and runs it; `None` when nothing was queued.
    pub async fn run_one(&self) -> ferret_queue::Result<Option<(i64, TaskResult)>> {
        let Some(lease) = self.queue.lease(&self.cfg.id, self.cfg.lease_for).await? else {
            return Ok(None);
        };
        let id = lease.task.id;
        Ok(Some((id, self.process(lease).await)))
    }

    /// Runs a leased task to the end: analysis, heartbeats, artifacts, completion.
    async fn process(&self, lease: Lease) -> TaskResult {
        let id = lease.task.id;
        let started = Instant::now();
        let input = match self
            .retry("reading the input", &lease, || self.queue.input(id))
            .await
        {
            Some(Some(input)) => input,
            // Deleted meanwhile: nothing to do, the lease went with it.
            Some(None) => return TaskResult::LeaseLost,
            None => return TaskResult::LeaseLost,
        };
        let dir = self.cfg.work_dir.join(format!(
            "task-{id}-{}-{}",
            lease.task.attempts,
            std::process::id()
        ));
        let job = task::Job {
            task: lease.task.clone(),
            input,
            dir: dir.clone(),
            yara: self.cfg.yara.clone(),
            pcap: self.cfg.pcap.clone(),
            max_events: self.cfg.max_events,
        };
        let mut handle = tokio::task::spawn_blocking(move || task::run(job));

        // Heartbeats while the analysis runs. A failed heartbeat call (database down)
        // is not a lost lease: only the database saying so is.
        let mut lost = false;
        let result = loop {
            tokio::select! {
                r = &mut handle => break r,
                () = tokio::time::sleep(self.cfg.heartbeat_every) => {
                    if lost {
                        continue;
                    }
                    match self.queue.heartbeat(&lease).await {
                        Ok(true) => {}
                        Ok(false) => {
                            lost = true;
                            self.log(format_args!(
                                "task {id}: lease lost (expired or task deleted); \
                                 its result will be dropped"
                            ));
                        }
                        Err(e) => self.log(format_args!("task {id}: heartbeat: {e}")),
                    }
                }
            }
        };
        let cleanup = dir.clone();
        let _ = tokio::task::spawn_blocking(move || {
            if cleanup.exists() {
                let _ = std::fs::remove_dir_all(&cleanup);
            }
        })
        .await;
        if lost {
            return TaskResult::LeaseLost;
        }
        let outcome = match result {
            Ok(r) => r,
            Err(e) => Err(TaskError::Retry(format!("the analysis thread died: {e}"))),
        };
        match outcome {
            Ok(out) => {
                let verdict = out.verdict.clone();
                let score = out.score;
                let artifacts: ferret_queue::Artifacts = out.artifacts.into();
                let done = self
                    .retry("storing the result", &lease, || {
                        self.queue.complete_shared(
                            &lease,
                            artifacts.clone(),
                            verdict.clone(),
                            score,
                        )
                    })
                    .await;
                match done {
                    Some(true) => {
                        self.log(format_args!(
                            "task {id} ({}) done in {:.1}s",
                            lease.task.kind,
                            started.elapsed().as_secs_f64()
                        ));
                        TaskResult::Completed
                    }
                    _ => {
                        self.log(format_args!("task {id}: lease lost; result dropped"));
                        TaskResult::LeaseLost
                    }
                }
            }
            Err(err) => {
                let reason = err.message().to_owned();
                let permanent = matches!(err, TaskError::Permanent(_));
                self.log(format_args!("task {id} failed: {reason}"));
                let done = self
                    .retry("recording the failure", &lease, || async {
                        if permanent {
                            self.queue.fail_permanently(&lease, &reason).await
                        } else {
                            self.queue.fail(&lease, &reason).await
                        }
                    })
                    .await;
                match done {
                    Some(true) => TaskResult::Failed(reason),
                    _ => TaskResult::LeaseLost,
                }
            }
        }
    }

    /// Retries `op` on transient database errors (with backoff) for as long as the lease
    /// may still be held; `None` when it gave up.
    async fn retry<T, F, Fut>(&self, what: &str, lease: &Lease, mut op: F) -> Option<T>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = ferret_queue::Result<T>>,
    {
        let start = Instant::now();
        // Past two lease lengths without reaching the database, the lease is surely
        // gone and another worker has the task.
        let give_up = lease.lease_for().saturating_mul(2);
        let mut attempt = 0u32;
        loop {
            match op().await {
                Ok(v) => return Some(v),
                Err(e) if e.is_transient() && start.elapsed() < give_up => {
                    if attempt == 0 {
                        self.log(format_args!(
                            "task {}: {what}: {e}; retrying",
                            lease.task.id
                        ));
                    }
                    tokio::time::sleep(backoff(attempt)).await;
                    attempt = attempt.saturating_add(1);
                }
                Err(e) => {
                    self.log(format_args!("task {}: {what}: {e}", lease.task.id));
                    return None;
                }
            }
        }
    }
}
