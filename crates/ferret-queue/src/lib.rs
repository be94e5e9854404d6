//! The task queue and artifact store of `ferret serve` and `ferret worker`.
//!
//! One [`Queue`] type over two databases:
//! - **SQLite** (the default, one machine): WAL journal, one writer connection through
//!   which every write is serialised (`BEGIN IMMEDIATE`), a small pool of read-only
//!   connections that read concurrently with it.
//! - **PostgreSQL** (many machines): a connection pool; workers lease tasks with
//!   `SELECT … FOR UPDATE SKIP LOCKED`, so concurrent workers never wait on each other's
//!   rows.
//!
//! Tasks are leased for a time and kept by heartbeats ([`Queue::heartbeat`]). A lease that
//! runs out (its worker died) is taken back by the next [`Queue::lease`] call of any
//! worker and the task queued again, at most `max_attempts` leases in all, then the task
//! fails with the reason. Completion needs the live lease, so a task is completed exactly
//! once even when a worker that lost its lease finishes late.
//!
//! Inputs and artifacts are stored in the database, content-addressed (SHA-256) and
//! reference-counted, so any node that reaches the database serves them and identical
//! files are stored once (docs/service.md, "Queue and storage").
//!
//! API tokens are stored as SHA-256 hashes of 256-bit random secrets; verification
//! compares in constant time.

mod migrate;
mod postgres;
mod sqlite;
mod token;

#[cfg(feature = "test-support")]
pub mod test_support;

use std::fmt;
use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

/// Leases a task may have before it fails for good (the default of [`QueueOptions`]).
pub const DEFAULT_MAX_ATTEMPTS: u32 = 3;

/// Artifact names a worker stores.
pub mod artifact {
    /// The analysis report (JSON).
    pub const REPORT_JSON: &str = "report.json";
    /// The self-contained HTML report.
    pub const REPORT_HTML: &str = "report.html";
    /// The network capture.
    pub const CAPTURE_PCAP: &str = "capture.pcap";
    /// The events, one JSON object a line.
    pub const EVENTS_JSONL: &str = "events.jsonl";
    /// The dropped files, a zip encrypted (AES-256) with the password `infected`.
    pub const DROPPED_ZIP: &str = "dropped.zip";
    /// The sample's standard output.
    pub const STDOUT: &str = "stdout";
    /// The sample's standard error.
    pub const STDERR: &str = "stderr";
}

/// Why a queue operation failed.
#[derive(Debug)]
pub enum Error {
    /// The database URL, path or options are not usable.
    Config(String),
    /// An argument is not acceptable (e.g. a token name); the message says why.
    Invalid(String),
    /// The database failed. `transient` errors (connection lost, server restarting,
    /// busy) are worth retrying.
    Database {
        /// What went wrong.
        message: String,
        /// A retry may succeed.
        transient: bool,
    },
    /// The database holds something this version cannot read.
    Corrupt(String),
}

impl Error {
    /// True when retrying the operation later may succeed (lost connection, database
    /// restarting or busy).
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            Error::Database {
                transient: true,
                ..
            }
        )
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Config(m) => write!(f, "queue configuration: {m}"),
            Error::Invalid(m) => f.write_str(m),
            Error::Database { message, .. } => write!(f, "queue database: {message}"),
            Error::Corrupt(m) => write!(f, "queue database holds unreadable data: {m}"),
        }
    }
}

impl std::error::Error for Error {}

/// Result alias of this crate.
pub type Result<T> = std::result::Result<T, Error>;

/// What a task analyses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TaskKind {
    /// A program or script, detonated in the sandbox.
    File,
    /// A pcap/pcapng capture, analysed offline.
    Pcap,
}

impl TaskKind {
    /// `file` or `pcap`.
    pub fn as_str(self) -> &'static str {
        match self {
            TaskKind::File => "file",
            TaskKind::Pcap => "pcap",
        }
    }
}

impl FromStr for TaskKind {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "file" => Ok(TaskKind::File),
            "pcap" => Ok(TaskKind::Pcap),
            _ => Err(format!("unknown task kind {s:?} (expected file or pcap)")),
        }
    }
}

impl fmt::Display for TaskKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where a task is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TaskState {
    /// Waiting for a worker.
    Queued,
    /// Leased by a worker.
    Running,
    /// Completed; artifacts stored.
    Done,
    /// Given up; `error` says why.
    Failed,
}

impl TaskState {
    /// Every state, in life order.
    pub const ALL: [TaskState; 4] = [
        TaskState::Queued,
        TaskState::Running,
        TaskState::Done,
        TaskState::Failed,
    ];

    /// `queued`, `running`, `done` or `failed`.
    pub fn as_str(self) -> &'static str {
        match self {
            TaskState::Queued => "queued",
            TaskState::Running => "running",
            TaskState::Done => "done",
            TaskState::Failed => "failed",
        }
    }
}

impl FromStr for TaskState {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "queued" => Ok(TaskState::Queued),
            "running" => Ok(TaskState::Running),
            "done" => Ok(TaskState::Done),
            "failed" => Ok(TaskState::Failed),
            _ => Err(format!(
                "unknown task state {s:?} (expected queued, running, done or failed)"
            )),
        }
    }
}

impl fmt::Display for TaskState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Options of one task, as submitted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TaskOptions {
    /// Detonation time limit in seconds (1..=3600).
    pub timeout_secs: u32,
    /// Network of the sandbox: `fake` or `none`.
    pub net: String,
    /// Architecture override (a name `ferret_emu::Arch` parses), else detected.
    pub arch: Option<String>,
    /// Arguments passed to the sample.
    pub args: Vec<String>,
}

impl Default for TaskOptions {
    fn default() -> Self {
        TaskOptions {
            timeout_secs: 60,
            net: "fake".to_owned(),
            arch: None,
            args: Vec::new(),
        }
    }
}

/// Arguments a task may have at most.
pub const MAX_ARGS: usize = 64;
/// Bytes one argument may have at most.
pub const MAX_ARG_LEN: usize = 4096;
/// Longest detonation time limit, seconds.
pub const MAX_TIMEOUT_SECS: u32 = 3600;

impl TaskOptions {
    /// Checks the options; the error is the reason to give the submitter.
    pub fn validate(&self) -> std::result::Result<(), String> {
        if !(1..=MAX_TIMEOUT_SECS).contains(&self.timeout_secs) {
            return Err(format!(
                "timeout must be 1 to {MAX_TIMEOUT_SECS} seconds, got {}",
                self.timeout_secs
            ));
        }
        if self.net != "fake" && self.net != "none" {
            return Err(format!(
                "net must be \"fake\" or \"none\", got {:?}",
                self.net
            ));
        }
        if let Some(arch) = &self.arch {
            arch.parse::<ferret_emu::Arch>()
                .map_err(|e| format!("arch {arch:?}: {e}"))?;
        }
        if self.args.len() > MAX_ARGS {
            return Err(format!(
                "at most {MAX_ARGS} arguments, got {}",
                self.args.len()
            ));
        }
        for (i, a) in self.args.iter().enumerate() {
            if a.len() > MAX_ARG_LEN {
                return Err(format!(
                    "argument {i} has {} bytes; at most {MAX_ARG_LEN}",
                    a.len()
                ));
            }
            if a.contains('\0') {
                return Err(format!("argument {i} contains a NUL byte"));
            }
        }
        Ok(())
    }
}

/// A task as the API shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskInfo {
    /// Task id (positive, increasing).
    pub id: i64,
    /// File or pcap.
    pub kind: TaskKind,
    /// Current state.
    pub state: TaskState,
    /// Options as submitted.
    pub options: TaskOptions,
    /// The submitted file name (display only; never used as a path).
    pub input_name: String,
    /// SHA-256 of the input, lower-case hex.
    pub input_sha256: String,
    /// Input size in bytes.
    pub input_size: u64,
    /// Submission time, unix ms.
    pub created_at: Option<i64>,
    /// Start of the current or last attempt, unix ms.
    pub started_at: Option<i64>,
    /// Completion or final failure time, unix ms.
    pub finished_at: Option<i64>,
    /// Leases so far.
    pub attempts: u32,
    /// Leases allowed.
    pub max_attempts: u32,
    /// Worker of the current or last attempt.
    pub worker: Option<String>,
    /// Why the last attempt failed (kept while the task is retried), or why it failed
    /// for good.
    pub error: Option<String>,
    /// Verdict of the analysis (`benign`, `suspicious`, `malicious`, …).
    pub verdict: Option<String>,
    /// Score of the analysis.
    pub score: Option<f64>,
}

/// A task leased by a worker. Heartbeat it within `lease_for` to keep it.
#[derive(Debug, Clone)]
pub struct Lease {
    /// The task (as it was when leased).
    pub task: TaskInfo,
    token: i64,
    worker: String,
    lease_for_ms: i64,
}

impl Lease {
    /// The worker holding the lease.
    pub fn worker(&self) -> &str {
        &self.worker
    }
    /// How long each heartbeat extends the lease.
    pub fn lease_for(&self) -> Duration {
        Duration::from_millis(u64::try_from(self.lease_for_ms).unwrap_or(0))
    }
}

/// An API token (without its secret).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenInfo {
    /// Name given at creation (unique).
    pub name: String,
    /// Creation time, unix ms.
    pub created_at: i64,
    /// Last successful verification, unix ms (updated at most once a minute).
    pub last_used_at: Option<i64>,
}

/// An artifact's name and size.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArtifactInfo {
    /// Artifact name (see [`artifact`]).
    pub name: String,
    /// Size in bytes.
    pub size: u64,
    /// SHA-256, lower-case hex.
    pub sha256: String,
}

/// Figures for `/metrics`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Stats {
    /// Tasks in each state (every state listed, zeros included).
    pub by_state: Vec<(TaskState, u64)>,
    /// Tasks waiting for a worker.
    pub queue_len: u64,
    /// Durations of the most recently completed analyses (last attempt, ms), newest
    /// first, at most [`STATS_DURATIONS`].
    pub durations_ms: Vec<u64>,
    /// Workers and their last sign of life (unix ms).
    pub workers: Vec<(String, i64)>,
    /// Stored blobs (inputs and artifacts, each distinct content once).
    pub blobs: u64,
    /// Bytes of the stored blobs.
    pub blob_bytes: u64,
}

/// Completed analyses whose durations [`Queue::stats`] returns at most.
pub const STATS_DURATIONS: u32 = 1000;

/// One entry of a task's history (lease, completion, failure, expiry).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogEntry {
    /// Time, unix ms.
    pub at: i64,
    /// `submitted`, `leased`, `completed`, `retry`, `failed`, `expired`.
    pub event: String,
    /// Worker concerned.
    pub worker: Option<String>,
    /// Attempt number concerned.
    pub attempt: u32,
    /// Reason, for failures and expiries.
    pub detail: Option<String>,
}

/// Settings of [`Queue::open_with`].
#[derive(Debug, Clone)]
pub struct QueueOptions {
    /// Leases a task gets at most (≥ 1).
    pub max_attempts: u32,
    /// SQLite: read-only connections at most; PostgreSQL: pool size.
    pub connections: usize,
}

impl Default for QueueOptions {
    fn default() -> Self {
        QueueOptions {
            max_attempts: DEFAULT_MAX_ATTEMPTS,
            connections: 8,
        }
    }
}

enum Backend {
    Sqlite(sqlite::Db),
    Postgres(postgres::Db),
}

struct Inner {
    backend: Backend,
    max_attempts: u32,
    /// Wakes in-process workers when a task is submitted.
    work: tokio::sync::Notify,
    description: String,
}

/// The task queue. Cheap to clone (shared state); all methods are async and may be
/// called from any tokio task.
#[derive(Clone)]
pub struct Queue {
    inner: Arc<Inner>,
}

impl fmt::Debug for Queue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Queue")
            .field("db", &self.inner.description)
            .field("max_attempts", &self.inner.max_attempts)
            .finish()
    }
}

/// Milliseconds since the Unix epoch.
pub(crate) fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

pub(crate) fn sha256_hex(data: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(data))
}

/// Duration in ms for the database, at least 1.
fn duration_ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX).max(1)
}

/// A random lease token: distinct for every lease, so a worker holding an old lease
/// cannot act on the task's next one.
fn random_i64() -> Result<i64> {
    let mut b = [0u8; 8];
    getrandom::fill(&mut b).map_err(|e| Error::Database {
        message: format!("no randomness from the OS: {e}"),
        transient: false,
    })?;
    Ok(i64::from_le_bytes(b))
}

/// The artifact names a worker may store: fixed names, so none becomes a path anywhere.
fn check_artifact_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
        && !name.starts_with('.');
    if ok {
        Ok(())
    } else {
        Err(Error::Invalid(format!(
            "artifact name {name:?}: 1 to 64 of A-Z a-z 0-9 . _ -, not starting with a dot"
        )))
    }
}

impl Queue {
    /// Opens (creating and migrating as needed) the queue in `db`: a file path,
    /// `sqlite://PATH`, or `postgres://…`/`postgresql://…`. An empty `db` means the
    /// SQLite file `queue.db` in `data_dir` (created if absent).
    pub async fn open(db: &str, data_dir: &Path) -> Result<Queue> {
        Queue::open_with(db, data_dir, QueueOptions::default()).await
    }

    /// [`Queue::open`] with settings.
    pub async fn open_with(db: &str, data_dir: &Path, opts: QueueOptions) -> Result<Queue> {
        if opts.max_attempts == 0 {
            return Err(Error::Config("max_attempts must be at least 1".into()));
        }
        let connections = opts.connections.max(1);
        let (backend, description) =
            if db.starts_with("postgres://") || db.starts_with("postgresql://") {
                let pg = postgres::Db::open(db, connections).await?;
                let desc = pg.description();
                (Backend::Postgres(pg), desc)
            } else {
                let path = if db.is_empty() {
                    std::fs::create_dir_all(data_dir).map_err(|e| {
                        Error::Config(format!(
                            "cannot create the data directory {}: {e}",
                            data_dir.display()
                        ))
                    })?;
                    data_dir.join("queue.db")
                } else {
                    let p = db
                        .strip_prefix("sqlite://")
                        .or_else(|| db.strip_prefix("sqlite:"))
                        .unwrap_or(db);
                    if p.is_empty() {
                        return Err(Error::Config(format!("no file name in {db:?}")));
                    }
                    std::path::PathBuf::from(p)
                };
                let desc = format!("sqlite://{}", path.display());
                (
                    Backend::Sqlite(sqlite::Db::open(path, connections).await?),
                    desc,
                )
            };
        Ok(Queue {
            inner: Arc::new(Inner {
                backend,
                max_attempts: opts.max_attempts,
                work: tokio::sync::Notify::new(),
                description,
            }),
        })
    }

    /// `sqlite://PATH` or the PostgreSQL URL without its password.
    pub fn description(&self) -> &str {
        &self.inner.description
    }

    /// True on PostgreSQL.
    pub fn is_postgres(&self) -> bool {
        matches!(self.inner.backend, Backend::Postgres(_))
    }

    /// Queues a task. The options must pass [`TaskOptions::validate`].
    pub async fn submit(
        &self,
        kind: TaskKind,
        options: TaskOptions,
        input_name: &str,
        input: Vec<u8>,
    ) -> Result<TaskInfo> {
        options.validate().map_err(Error::Invalid)?;
        let options_json =
            serde_json::to_string(&options).map_err(|e| Error::Invalid(format!("options: {e}")))?;
        let sha = sha256_hex(&input);
        let new = NewTask {
            kind,
            options_json,
            input_name: input_name.to_owned(),
            sha,
            input,
            max_attempts: self.inner.max_attempts,
        };
        let info = match &self.inner.backend {
            Backend::Sqlite(db) => db.submit(new).await?,
            Backend::Postgres(db) => db.submit(new).await?,
        };
        self.inner.work.notify_waiters();
        Ok(info)
    }

    /// The task `id`, if it exists.
    pub async fn get(&self, id: i64) -> Result<Option<TaskInfo>> {
        match &self.inner.backend {
            Backend::Sqlite(db) => db.get(id).await,
            Backend::Postgres(db) => db.get(id).await,
        }
    }

    /// Tasks (newest first), optionally of one state, and how many match in all.
    pub async fn list(
        &self,
        state: Option<TaskState>,
        limit: u32,
        offset: u64,
    ) -> Result<(Vec<TaskInfo>, u64)> {
        let offset = i64::try_from(offset).unwrap_or(i64::MAX);
        match &self.inner.backend {
            Backend::Sqlite(db) => db.list(state, limit, offset).await,
            Backend::Postgres(db) => db.list(state, limit, offset).await,
        }
    }

    /// Deletes a task with its input and artifacts (blobs no other task uses are
    /// removed). False if there was no such task. A worker running it finds its lease
    /// gone.
    pub async fn delete(&self, id: i64) -> Result<bool> {
        match &self.inner.backend {
            Backend::Sqlite(db) => db.delete(id).await,
            Backend::Postgres(db) => db.delete(id).await,
        }
    }

    /// The input of task `id`.
    pub async fn input(&self, id: i64) -> Result<Option<Vec<u8>>> {
        match &self.inner.backend {
            Backend::Sqlite(db) => db.input(id).await,
            Backend::Postgres(db) => db.input(id).await,
        }
    }

    /// Artifact `name` of task `id`.
    pub async fn artifact(&self, id: i64, name: &str) -> Result<Option<Vec<u8>>> {
        match &self.inner.backend {
            Backend::Sqlite(db) => db.artifact(id, name).await,
            Backend::Postgres(db) => db.artifact(id, name).await,
        }
    }

    /// The artifacts of task `id` (name order).
    pub async fn artifacts(&self, id: i64) -> Result<Vec<ArtifactInfo>> {
        match &self.inner.backend {
            Backend::Sqlite(db) => db.artifacts(id).await,
            Backend::Postgres(db) => db.artifacts(id).await,
        }
    }

    /// The history of task `id`, oldest first.
    pub async fn history(&self, id: i64) -> Result<Vec<LogEntry>> {
        match &self.inner.backend {
            Backend::Sqlite(db) => db.history(id).await,
            Backend::Postgres(db) => db.history(id).await,
        }
    }

    /// Leases the oldest queued task to `worker_id` for `lease_for`. First takes back
    /// tasks whose lease ran out: queued again, or failed if they had their
    /// `max_attempts`. `None` when nothing is queued.
    pub async fn lease(&self, worker_id: &str, lease_for: Duration) -> Result<Option<Lease>> {
        check_worker_id(worker_id)?;
        let token = random_i64()?;
        let ms = duration_ms(lease_for);
        let task = match &self.inner.backend {
            Backend::Sqlite(db) => db.lease(worker_id, token, ms).await?,
            Backend::Postgres(db) => db.lease(worker_id, token, ms).await?,
        };
        Ok(task.map(|task| Lease {
            task,
            token,
            worker: worker_id.to_owned(),
            lease_for_ms: ms,
        }))
    }

    /// Waits until a task may have been submitted in this process, or `timeout`.
    /// Workers call it between empty [`Queue::lease`] calls; other processes' submissions
    /// are seen at the timeout.
    pub async fn wait_for_work(&self, timeout: Duration) {
        let _ = tokio::time::timeout(timeout, self.inner.work.notified()).await;
    }

    /// Extends the lease by its `lease_for` from now. False when the lease was lost
    /// (expired and taken back, or the task deleted): stop working on the task.
    pub async fn heartbeat(&self, lease: &Lease) -> Result<bool> {
        match &self.inner.backend {
            Backend::Sqlite(db) => db.heartbeat(lease).await,
            Backend::Postgres(db) => db.heartbeat(lease).await,
        }
    }

    /// Records that worker `worker_id` is alive (idle workers call it; leases and
    /// heartbeats record it too).
    pub async fn worker_seen(&self, worker_id: &str) -> Result<()> {
        check_worker_id(worker_id)?;
        match &self.inner.backend {
            Backend::Sqlite(db) => db.worker_seen(worker_id).await,
            Backend::Postgres(db) => db.worker_seen(worker_id).await,
        }
    }

    /// Completes the leased task: stores the artifacts, verdict and score, state `done`.
    /// False (nothing stored) when the lease was lost. Calling it again after a success
    /// (e.g. a retry after a lost connection) returns true and changes nothing.
    pub async fn complete(
        &self,
        lease: &Lease,
        artifacts: Vec<(String, Vec<u8>)>,
        verdict: Option<String>,
        score: Option<f64>,
    ) -> Result<bool> {
        self.complete_shared(lease, artifacts.into(), verdict, score)
            .await
    }

    /// [`Queue::complete`] with shared artifacts: a caller that retries keeps them
    /// without copying.
    pub async fn complete_shared(
        &self,
        lease: &Lease,
        artifacts: Artifacts,
        verdict: Option<String>,
        score: Option<f64>,
    ) -> Result<bool> {
        let mut seen = std::collections::HashSet::new();
        for (name, _) in artifacts.iter() {
            check_artifact_name(name)?;
            if !seen.insert(name.as_str()) {
                return Err(Error::Invalid(format!("artifact {name:?} given twice")));
            }
        }
        let shas = artifacts.iter().map(|(_, d)| sha256_hex(d)).collect();
        let blobs = NewArtifacts {
            items: artifacts,
            shas,
        };
        let score = score.filter(|s| s.is_finite());
        match &self.inner.backend {
            Backend::Sqlite(db) => db.complete(lease, blobs, verdict, score).await,
            Backend::Postgres(db) => db.complete(lease, blobs, verdict, score).await,
        }
    }

    /// The attempt failed: the task is queued again if it has attempts left, else
    /// failed with `reason`. False when the lease was lost.
    pub async fn fail(&self, lease: &Lease, reason: &str) -> Result<bool> {
        self.fail_impl(lease, reason, false).await
    }

    /// Fails the task for good, whatever attempts it has left: for errors a retry cannot
    /// mend (an input that is not a sample or not a capture). False when the lease was
    /// lost.
    pub async fn fail_permanently(&self, lease: &Lease, reason: &str) -> Result<bool> {
        self.fail_impl(lease, reason, true).await
    }

    async fn fail_impl(&self, lease: &Lease, reason: &str, permanent: bool) -> Result<bool> {
        match &self.inner.backend {
            Backend::Sqlite(db) => db.fail(lease, reason, permanent).await,
            Backend::Postgres(db) => db.fail(lease, reason, permanent).await,
        }
    }

    /// Figures for `/metrics`.
    pub async fn stats(&self) -> Result<Stats> {
        match &self.inner.backend {
            Backend::Sqlite(db) => db.stats().await,
            Backend::Postgres(db) => db.stats().await,
        }
    }

    /// Creates a token named `name` (1 to 64 of `A-Z a-z 0-9 . _ -`, unique). Returns
    /// its record and the secret, which is stored only as a hash: show it once.
    pub async fn create_token(&self, name: &str) -> Result<(TokenInfo, String)> {
        token::check_name(name)?;
        let secret = token::new_secret()?;
        let hash = token::hash(&secret);
        let info = match &self.inner.backend {
            Backend::Sqlite(db) => db.create_token(name, &hash).await?,
            Backend::Postgres(db) => db.create_token(name, &hash).await?,
        };
        Ok((info, secret))
    }

    /// All tokens (name order).
    pub async fn list_tokens(&self) -> Result<Vec<TokenInfo>> {
        match &self.inner.backend {
            Backend::Sqlite(db) => db.list_tokens().await,
            Backend::Postgres(db) => db.list_tokens().await,
        }
    }

    /// Revokes (deletes) the token named `name`. False if there was none.
    pub async fn revoke_token(&self, name: &str) -> Result<bool> {
        match &self.inner.backend {
            Backend::Sqlite(db) => db.revoke_token(name).await,
            Backend::Postgres(db) => db.revoke_token(name).await,
        }
    }

    /// The token whose secret is `secret`, if any.
    pub async fn verify_token(&self, secret: &str) -> Result<Option<TokenInfo>> {
        if !token::plausible(secret) {
            return Ok(None);
        }
        let hash = token::hash(secret);
        let found = match &self.inner.backend {
            Backend::Sqlite(db) => db.token_by_hash(&hash).await?,
            Backend::Postgres(db) => db.token_by_hash(&hash).await?,
        };
        let Some((info, stored_hash)) = found else {
            return Ok(None);
        };
        // The lookup was by hash; the constant-time comparison makes the final answer
        // independent of how much of the hash matched.
        if !token::ct_eq(stored_hash.as_bytes(), hash.as_bytes()) {
            return Ok(None);
        }
        let now = now_ms();
        if info.last_used_at.is_none_or(|t| now - t >= 60_000) {
            // Bookkeeping only: a failure here must not refuse a valid token.
            let _ = match &self.inner.backend {
                Backend::Sqlite(db) => db.touch_token(&info.name, now).await,
                Backend::Postgres(db) => db.touch_token(&info.name, now).await,
            };
        }
        Ok(Some(info))
    }
}

fn check_worker_id(id: &str) -> Result<()> {
    if id.is_empty() || id.len() > 128 || id.chars().any(char::is_control) {
        return Err(Error::Invalid(format!(
            "worker id {id:?}: 1 to 128 characters, no control characters"
        )));
    }
    Ok(())
}

/// A task to insert.
pub(crate) struct NewTask {
    kind: TaskKind,
    options_json: String,
    input_name: String,
    sha: String,
    input: Vec<u8>,
    max_attempts: u32,
}

/// Artifacts of a completion: names and contents, shared.
pub type Artifacts = Arc<[(String, Vec<u8>)]>;

/// Artifacts to store, with their SHA-256.
pub(crate) struct NewArtifacts {
    items: Artifacts,
    shas: Vec<String>,
}

impl NewArtifacts {
    /// (name, sha256, data) of each artifact.
    fn iter(&self) -> impl Iterator<Item = (&str, &str, &[u8])> {
        self.items
            .iter()
            .zip(&self.shas)
            .map(|((n, d), s)| (n.as_str(), s.as_str(), d.as_slice()))
    }
}

/// Columns of `tasks` read into a [`TaskInfo`], in [`RawTask`] order.
pub(crate) const TASK_COLS: &str = "id, kind, state, options, input_name, input_sha256, \
     input_size, created_at, started_at, finished_at, attempts, max_attempts, worker, \
     error, verdict, score";

/// A task row as stored.
pub(crate) struct RawTask {
    id: i64,
    kind: String,
    state: String,
    options: String,
    input_name: String,
    input_sha256: String,
    input_size: i64,
    created_at: i64,
    started_at: Option<i64>,
    finished_at: Option<i64>,
    attempts: i64,
    max_attempts: i64,
    worker: Option<String>,
    error: Option<String>,
    verdict: Option<String>,
    score: Option<f64>,
}

impl RawTask {
    fn into_info(self) -> Result<TaskInfo> {
        let id = self.id;
        let corrupt = |m: String| Error::Corrupt(format!("task {id}: {m}"));
        Ok(TaskInfo {
            id,
            kind: self.kind.parse().map_err(corrupt)?,
            state: self.state.parse().map_err(corrupt)?,
            options: serde_json::from_str(&self.options)
                .map_err(|e| corrupt(format!("options: {e}")))?,
            input_name: self.input_name,
            input_sha256: self.input_sha256,
            input_size: u64::try_from(self.input_size).unwrap_or(0),
            created_at: Some(self.created_at),
            started_at: self.started_at,
            finished_at: self.finished_at,
            attempts: u32::try_from(self.attempts).unwrap_or(0),
            max_attempts: u32::try_from(self.max_attempts).unwrap_or(0),
            worker: self.worker,
            error: self.error,
            verdict: self.verdict,
            score: self.score,
        })
    }
}

/// Assembles [`Stats`] from the rows both backends read.
pub(crate) fn build_stats(
    counts: Vec<(String, i64)>,
    durations: Vec<i64>,
    workers: Vec<(String, i64)>,
    (blobs, blob_bytes): (i64, i64),
) -> Stats {
    let by_state: Vec<(TaskState, u64)> = TaskState::ALL
        .iter()
        .map(|&s| {
            let n = counts
                .iter()
                .filter(|(name, _)| name == s.as_str())
                .map(|(_, n)| u64::try_from(*n).unwrap_or(0))
                .sum();
            (s, n)
        })
        .collect();
    let queue_len = by_state
        .iter()
        .find(|(s, _)| *s == TaskState::Queued)
        .map_or(0, |(_, n)| *n);
    Stats {
        by_state,
        queue_len,
        durations_ms: durations
            .into_iter()
            .map(|d| u64::try_from(d).unwrap_or(0))
            .collect(),
        workers,
        blobs: u64::try_from(blobs).unwrap_or(0),
        blob_bytes: u64::try_from(blob_bytes).unwrap_or(0),
    }
}

/// Error text of a task whose lease ran out.
pub(crate) fn expired_reason(worker: Option<&str>, attempt: i64, max: i64) -> String {
    format!(
        "lease expired: worker {} stopped heartbeating during attempt {attempt} of {max}",
        worker.unwrap_or("?")
    )
}

/// Error text of a failed attempt.
pub(crate) fn fail_reason(reason: &str, attempt: i64, max: i64) -> String {
    format!("{reason} (attempt {attempt} of {max})")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_validation_names_the_problem() {
        assert!(TaskOptions::default().validate().is_ok());
        let bad = |f: fn(&mut TaskOptions)| {
            let mut o = TaskOptions::default();
            f(&mut o);
            o.validate().unwrap_err()
        };
        assert!(bad(|o| o.timeout_secs = 0).contains("timeout"));
        assert!(bad(|o| o.timeout_secs = 3601).contains("timeout"));
        assert!(bad(|o| o.net = "real".into()).contains("net"));
        assert!(bad(|o| o.arch = Some("vax".into())).contains("arch"));
        assert!(bad(|o| o.args = vec![String::new(); 65]).contains("64"));
        assert!(bad(|o| o.args = vec!["x".repeat(4097)]).contains("4096"));
        assert!(bad(|o| o.args = vec!["a\0b".into()]).contains("NUL"));
        let ok = TaskOptions {
            arch: Some("aarch64".into()),
            args: vec!["x".repeat(4096); 64],
            timeout_secs: 3600,
            net: "none".into(),
        };
        assert!(ok.validate().is_ok());
    }

    #[test]
    fn options_deserialise_with_defaults_and_refuse_unknown_fields() {
        let o: TaskOptions = serde_json::from_str(r#"{"timeout_secs":5}"#).unwrap();
        assert_eq!(o.timeout_secs, 5);
        assert_eq!(o.net, "fake");
        assert!(serde_json::from_str::<TaskOptions>(r#"{"timeout":5}"#).is_err());
    }

    #[test]
    fn states_and_kinds_round_trip() {
        for s in TaskState::ALL {
            assert_eq!(s.as_str().parse::<TaskState>().unwrap(), s);
        }
        assert!("Done".parse::<TaskState>().is_err());
        assert_eq!("pcap".parse::<TaskKind>().unwrap(), TaskKind::Pcap);
        assert!("exe".parse::<TaskKind>().is_err());
    }

    #[test]
    fn artifact_names_cannot_be_paths() {
        for ok in ["report.json", "dropped.zip", "stdout"] {
            assert!(check_artifact_name(ok).is_ok());
        }
        for bad in ["", "../x", "a/b", ".hidden", "x".repeat(65).as_str()] {
            assert!(check_artifact_name(bad).is_err(), "{bad}");
        }
    }
}
