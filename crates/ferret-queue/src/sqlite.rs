//! The SQLite backend: one writer connection, every write serialised through it in a
//! `BEGIN IMMEDIATE` transaction; a pool of query-only connections reading concurrently
//! (WAL). Blocking SQLite calls run on tokio's blocking threads; tasks waiting for the
//! writer or a reader wait asynchronously.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, Row, Transaction, TransactionBehavior, params};
use tokio::sync::Semaphore;

use crate::{
    ArtifactInfo, Error, Lease, LogEntry, NewArtifacts, NewTask, RawTask, Result, STATS_DURATIONS,
    Stats, TASK_COLS, TaskInfo, TaskState, TokenInfo, expired_reason, fail_reason, migrate, now_ms,
};

/// How long a connection waits for another process's write lock before giving up.
const BUSY_TIMEOUT: Duration = Duration::from_secs(30);

impl From<rusqlite::Error> for Error {
    fn from(e: rusqlite::Error) -> Error {
        let transient = matches!(
            e.sqlite_error_code(),
            Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
        );
        Error::Database {
            message: e.to_string(),
            transient,
        }
    }
}

fn join_error(e: tokio::task::JoinError) -> Error {
    Error::Database {
        message: format!("database thread: {e}"),
        transient: false,
    }
}

pub(crate) struct Db {
    path: PathBuf,
    writer: Arc<tokio::sync::Mutex<Connection>>,
    readers: Arc<Mutex<Vec<Connection>>>,
    reader_slots: Arc<Semaphore>,
}

fn configure(conn: &Connection) -> rusqlite::Result<()> {
    conn.busy_timeout(BUSY_TIMEOUT)?;
    conn.pragma_update(None, "foreign_keys", true)?;
    // NORMAL is durable across application crashes in WAL mode; only an OS crash may
    // lose the last transactions.
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    Ok(())
}

fn open_reader(path: &PathBuf) -> rusqlite::Result<Connection> {
    let conn = Connection::open(path)?;
    configure(&conn)?;
    conn.pragma_update(None, "query_only", true)?;
    Ok(conn)
}

fn migrate(conn: &mut Connection) -> Result<()> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let version: i64 = tx.pragma_query_value(None, "user_version", |r| r.get(0))?;
    let known = migrate::SQLITE.len() as i64;
    if version > known {
        return Err(Error::Config(format!(
            "the queue database has schema version {version}; this ferret knows up to {known}: \
             use a newer ferret"
        )));
    }
    for (i, step) in migrate::SQLITE.iter().enumerate().skip(version as usize) {
        tx.execute_batch(step)?;
        tx.pragma_update(None, "user_version", i as i64 + 1)?;
    }
    tx.commit()?;
    Ok(())
}

fn raw_task(r: &Row<'_>) -> rusqlite::Result<RawTask> {
    Ok(RawTask {
        id: r.get(0)?,
        kind: r.get(1)?,
        state: r.get(2)?,
        options: r.get(3)?,
        input_name: r.get(4)?,
        input_sha256: r.get(5)?,
        input_size: r.get(6)?,
        created_at: r.get(7)?,
        started_at: r.get(8)?,
        finished_at: r.get(9)?,
        attempts: r.get(10)?,
        max_attempts: r.get(11)?,
        worker: r.get(12)?,
        error: r.get(13)?,
        verdict: r.get(14)?,
        score: r.get(15)?,
    })
}

fn task_by_id(conn: &Connection, id: i64) -> Result<Option<TaskInfo>> {
    let raw = conn
        .prepare_cached(&format!("SELECT {TASK_COLS} FROM tasks WHERE id = ?1"))?
        .query_row([id], raw_task)
        .optional()?;
    raw.map(RawTask::into_info).transpose()
}

fn log(
    tx: &Transaction<'_>,
    task: i64,
    at: i64,
    event: &str,
    worker: Option<&str>,
    attempt: i64,
    detail: Option<&str>,
) -> Result<()> {
    tx.prepare_cached(
        "INSERT INTO task_log (task_id, at, event, worker, attempt, detail) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?
    .execute(params![task, at, event, worker, attempt, detail])?;
    Ok(())
}

fn put_blob(tx: &Transaction<'_>, sha: &str, data: &[u8]) -> Result<()> {
    tx.prepare_cached(
        "INSERT INTO blobs (sha256, size, refs, data) VALUES (?1, ?2, 1, ?3) \
         ON CONFLICT (sha256) DO UPDATE SET refs = refs + 1",
    )?
    .execute(params![sha, data.len() as i64, data])?;
    Ok(())
}

fn release_blob(tx: &Transaction<'_>, sha: &str) -> Result<()> {
    tx.prepare_cached("UPDATE blobs SET refs = refs - 1 WHERE sha256 = ?1")?
        .execute([sha])?;
    tx.prepare_cached("DELETE FROM blobs WHERE sha256 = ?1 AND refs <= 0")?
        .execute([sha])?;
    Ok(())
}

fn see_worker(tx: &Transaction<'_>, worker: &str, now: i64) -> Result<()> {
    tx.prepare_cached(
        "INSERT INTO workers (id, last_seen) VALUES (?1, ?2) \
         ON CONFLICT (id) DO UPDATE SET last_seen = excluded.last_seen",
    )?
    .execute(params![worker, now])?;
    Ok(())
}

/// Takes back the tasks whose lease ran out: queued again, or failed when they had all
/// their attempts.
fn take_back_expired(tx: &Transaction<'_>, now: i64) -> Result<()> {
    let expired: Vec<(i64, Option<String>, i64, i64)> = tx
        .prepare_cached(
            "SELECT id, worker, attempts, max_attempts FROM tasks \
             WHERE state = 'running' AND lease_expires < ?1",
        )?
        .query_map([now], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?
        .collect::<rusqlite::Result<_>>()?;
    for (id, worker, attempts, max) in expired {
        let reason = expired_reason(worker.as_deref(), attempts, max);
        if attempts >= max {
            tx.prepare_cached(
                "UPDATE tasks SET state = 'failed', finished_at = ?2, lease_expires = NULL, \
                 error = ?3 WHERE id = ?1",
            )?
            .execute(params![id, now, reason])?;
            log(
                tx,
                id,
                now,
                "failed",
                worker.as_deref(),
                attempts,
                Some(&reason),
            )?;
        } else {
            tx.prepare_cached(
                "UPDATE tasks SET state = 'queued', lease_expires = NULL, error = ?2 \
                 WHERE id = ?1",
            )?
            .execute(params![id, reason])?;
            log(
                tx,
                id,
                now,
                "expired",
                worker.as_deref(),
                attempts,
                Some(&reason),
            )?;
        }
    }
    Ok(())
}

impl Db {
    pub(crate) async fn open(path: PathBuf, readers: usize) -> Result<Db> {
        let p = path.clone();
        let writer = tokio::task::spawn_blocking(move || -> Result<Connection> {
            let mut conn = Connection::open(&p).map_err(|e| {
                Error::Config(format!(
                    "cannot open the SQLite database {}: {e}",
                    p.display()
                ))
            })?;
            configure(&conn)?;
            let mode: String =
                conn.pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0))?;
            if !mode.eq_ignore_ascii_case("wal") {
                return Err(Error::Config(format!(
                    "{}: SQLite refused WAL mode (got {mode}); is it on a network file system?",
                    p.display()
                )));
            }
            migrate(&mut conn)?;
            Ok(conn)
        })
        .await
        .map_err(join_error)??;
        Ok(Db {
            path,
            writer: Arc::new(tokio::sync::Mutex::new(writer)),
            readers: Arc::new(Mutex::new(Vec::new())),
            reader_slots: Arc::new(Semaphore::new(readers)),
        })
    }

    /// Runs `f` in a write transaction on the writer connection.
    async fn write<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Transaction<'_>) -> Result<T> + Send + 'static,
    {
        let mut conn = self.writer.clone().lock_owned().await;
        tokio::task::spawn_blocking(move || {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let out = f(&tx)?;
            tx.commit()?;
            Ok(out)
        })
        .await
        .map_err(join_error)?
    }

    /// Runs `f` on a reader connection.
    async fn read<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T> + Send + 'static,
    {
        let permit = self
            .reader_slots
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| Error::Database {
                message: "queue closed".into(),
                transient: false,
            })?;
        let pool = self.readers.clone();
        let path = self.path.clone();
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            let pooled = pool.lock().unwrap_or_else(PoisonError::into_inner).pop();
            let conn = match pooled {
                Some(c) => c,
                None => open_reader(&path)?,
            };
            let out = f(&conn);
            pool.lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(conn);
            out
        })
        .await
        .map_err(join_error)?
    }

    pub(crate) async fn submit(&self, t: NewTask) -> Result<TaskInfo> {
        self.write(move |tx| {
            let now = now_ms();
            put_blob(tx, &t.sha, &t.input)?;
            tx.prepare_cached(
                "INSERT INTO tasks (kind, state, options, input_name, input_sha256, \
                 input_size, created_at, attempts, max_attempts) \
                 VALUES (?1, 'queued', ?2, ?3, ?4, ?5, ?6, 0, ?7)",
            )?
            .execute(params![
                t.kind.as_str(),
                t.options_json,
                t.input_name,
                t.sha,
                t.input.len() as i64,
                now,
                i64::from(t.max_attempts)
            ])?;
            let id = tx.last_insert_rowid();
            log(tx, id, now, "submitted", None, 0, None)?;
            task_by_id(tx, id)?
                .ok_or_else(|| Error::Corrupt(format!("task {id} vanished after insertion")))
        })
        .await
    }

    pub(crate) async fn get(&self, id: i64) -> Result<Option<TaskInfo>> {
        self.read(move |c| task_by_id(c, id)).await
    }

    pub(crate) async fn list(
        &self,
        state: Option<TaskState>,
        limit: u32,
        offset: i64,
    ) -> Result<(Vec<TaskInfo>, u64)> {
        self.read(move |c| {
            let (raws, total): (Vec<RawTask>, i64) = match state {
                Some(s) => (
                    c.prepare_cached(&format!(
                        "SELECT {TASK_COLS} FROM tasks WHERE state = ?1 \
                         ORDER BY id DESC LIMIT ?2 OFFSET ?3"
                    ))?
                    .query_map(params![s.as_str(), i64::from(limit), offset], raw_task)?
                    .collect::<rusqlite::Result<_>>()?,
                    c.prepare_cached("SELECT COUNT(*) FROM tasks WHERE state = ?1")?
                        .query_row([s.as_str()], |r| r.get(0))?,
                ),
                None => (
                    c.prepare_cached(&format!(
                        "SELECT {TASK_COLS} FROM tasks ORDER BY id DESC LIMIT ?1 OFFSET ?2"
                    ))?
                    .query_map(params![i64::from(limit), offset], raw_task)?
                    .collect::<rusqlite::Result<_>>()?,
                    c.prepare_cached("SELECT COUNT(*) FROM tasks")?
                        .query_row([], |r| r.get(0))?,
                ),
            };
            let tasks = raws
                .into_iter()
                .map(RawTask::into_info)
                .collect::<Result<Vec<_>>>()?;
            Ok((tasks, u64::try_from(total).unwrap_or(0)))
        })
        .await
    }

    pub(crate) async fn delete(&self, id: i64) -> Result<bool> {
        self.write(move |tx| {
            let input: Option<String> = tx
                .prepare_cached("SELECT input_sha256 FROM tasks WHERE id = ?1")?
                .query_row([id], |r| r.get(0))
                .optional()?;
            let Some(input) = input else {
                return Ok(false);
            };
            let mut shas: Vec<String> = tx
                .prepare_cached("SELECT sha256 FROM artifacts WHERE task_id = ?1")?
                .query_map([id], |r| r.get(0))?
                .collect::<rusqlite::Result<_>>()?;
            shas.push(input);
            tx.prepare_cached("DELETE FROM artifacts WHERE task_id = ?1")?
                .execute([id])?;
            tx.prepare_cached("DELETE FROM task_log WHERE task_id = ?1")?
                .execute([id])?;
            tx.prepare_cached("DELETE FROM tasks WHERE id = ?1")?
                .execute([id])?;
            for sha in &shas {
                release_blob(tx, sha)?;
            }
            Ok(true)
        })
        .await
    }

    pub(crate) async fn input(&self, id: i64) -> Result<Option<Vec<u8>>> {
        self.read(move |c| {
            Ok(c.prepare_cached(
                "SELECT b.data FROM tasks t JOIN blobs b ON b.sha256 = t.input_sha256 \
                 WHERE t.id = ?1",
            )?
            .query_row([id], |r| r.get(0))
            .optional()?)
        })
        .await
    }

    pub(crate) async fn artifact(&self, id: i64, name: &str) -> Result<Option<Vec<u8>>> {
        let name = name.to_owned();
        self.read(move |c| {
            Ok(c.prepare_cached(
                "SELECT b.data FROM artifacts a JOIN blobs b ON b.sha256 = a.sha256 \
                 WHERE a.task_id = ?1 AND a.name = ?2",
            )?
            .query_row(params![id, name], |r| r.get(0))
            .optional()?)
        })
        .await
    }

    pub(crate) async fn artifacts(&self, id: i64) -> Result<Vec<ArtifactInfo>> {
        self.read(move |c| {
            Ok(c.prepare_cached(
                "SELECT name, size, sha256 FROM artifacts WHERE task_id = ?1 ORDER BY name",
            )?
            .query_map([id], |r| {
                Ok(ArtifactInfo {
                    name: r.get(0)?,
                    size: u64::try_from(r.get::<_, i64>(1)?).unwrap_or(0),
                    sha256: r.get(2)?,
                })
            })?
            .collect::<rusqlite::Result<_>>()?)
        })
        .await
    }

    pub(crate) async fn history(&self, id: i64) -> Result<Vec<LogEntry>> {
        self.read(move |c| {
            Ok(c.prepare_cached(
                "SELECT at, event, worker, attempt, detail FROM task_log \
                 WHERE task_id = ?1 ORDER BY id",
            )?
            .query_map([id], |r| {
                Ok(LogEntry {
                    at: r.get(0)?,
                    event: r.get(1)?,
                    worker: r.get(2)?,
                    attempt: u32::try_from(r.get::<_, i64>(3)?).unwrap_or(0),
                    detail: r.get(4)?,
                })
            })?
            .collect::<rusqlite::Result<_>>()?)
        })
        .await
    }

    pub(crate) async fn lease(
        &self,
        worker: &str,
        token: i64,
        lease_ms: i64,
    ) -> Result<Option<TaskInfo>> {
        // Idle workers poll: answer "nothing to do" from a reader, without taking the
        // single write lock.
        let now = now_ms();
        let work = self
            .read(move |c| {
                Ok(c.prepare_cached(
                    "SELECT EXISTS (SELECT 1 FROM tasks WHERE state = 'queued') \
                     OR EXISTS (SELECT 1 FROM tasks WHERE state = 'running' \
                                AND lease_expires < ?1)",
                )?
                .query_row([now], |r| r.get::<_, bool>(0))?)
            })
            .await?;
        if !work {
            return Ok(None);
        }
        let worker = worker.to_owned();
        self.write(move |tx| {
            let now = now_ms();
            take_back_expired(tx, now)?;
            see_worker(tx, &worker, now)?;
            let id: Option<i64> = tx
                .prepare_cached("SELECT id FROM tasks WHERE state = 'queued' ORDER BY id LIMIT 1")?
                .query_row([], |r| r.get(0))
                .optional()?;
            let Some(id) = id else {
                return Ok(None);
            };
            tx.prepare_cached(
                "UPDATE tasks SET state = 'running', attempts = attempts + 1, worker = ?2, \
                 lease_token = ?3, lease_expires = ?4, started_at = ?5, finished_at = NULL \
                 WHERE id = ?1",
            )?
            .execute(params![
                id,
                worker,
                token,
                now.saturating_add(lease_ms),
                now
            ])?;
            let task = task_by_id(tx, id)?
                .ok_or_else(|| Error::Corrupt(format!("task {id} vanished while leased")))?;
            log(
                tx,
                id,
                now,
                "leased",
                Some(&worker),
                i64::from(task.attempts),
                None,
            )?;
            Ok(Some(task))
        })
        .await
    }

    pub(crate) async fn heartbeat(&self, lease: &Lease) -> Result<bool> {
        let (id, token, ms, worker) = (
            lease.task.id,
            lease.token,
            lease.lease_for_ms,
            lease.worker.clone(),
        );
        self.write(move |tx| {
            let now = now_ms();
            let n = tx
                .prepare_cached(
                    "UPDATE tasks SET lease_expires = ?3 \
                     WHERE id = ?1 AND state = 'running' AND lease_token = ?2",
                )?
                .execute(params![id, token, now.saturating_add(ms)])?;
            see_worker(tx, &worker, now)?;
            Ok(n == 1)
        })
        .await
    }

    pub(crate) async fn worker_seen(&self, worker: &str) -> Result<()> {
        let worker = worker.to_owned();
        self.write(move |tx| {
            let now = now_ms();
            see_worker(tx, &worker, now)?;
            // Workers that have not been seen for a day are gone for good.
            tx.prepare_cached("DELETE FROM workers WHERE last_seen < ?1")?
                .execute([now - 86_400_000])?;
            Ok(())
        })
        .await
    }

    pub(crate) async fn complete(
        &self,
        lease: &Lease,
        artifacts: NewArtifacts,
        verdict: Option<String>,
        score: Option<f64>,
    ) -> Result<bool> {
        let (id, token, worker) = (lease.task.id, lease.token, lease.worker.clone());
        self.write(move |tx| {
            let row: Option<(String, Option<i64>, i64)> = tx
                .prepare_cached("SELECT state, lease_token, attempts FROM tasks WHERE id = ?1")?
                .query_row([id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
                .optional()?;
            let Some((state, held, attempts)) = row else {
                return Ok(false);
            };
            if held != Some(token) {
                return Ok(false);
            }
            match state.as_str() {
                "running" => {}
                // A retry of a completion that succeeded.
                "done" => return Ok(true),
                _ => return Ok(false),
            }
            let now = now_ms();
            for (name, sha, data) in artifacts.iter() {
                put_blob(tx, sha, data)?;
                tx.prepare_cached(
                    "INSERT INTO artifacts (task_id, name, sha256, size) VALUES (?1, ?2, ?3, ?4)",
                )?
                .execute(params![id, name, sha, data.len() as i64])?;
            }
            tx.prepare_cached(
                "UPDATE tasks SET state = 'done', finished_at = ?2, lease_expires = NULL, \
                 error = NULL, verdict = ?3, score = ?4 WHERE id = ?1",
            )?
            .execute(params![id, now, verdict, score])?;
            log(tx, id, now, "completed", Some(&worker), attempts, None)?;
            see_worker(tx, &worker, now)?;
            Ok(true)
        })
        .await
    }

    pub(crate) async fn fail(&self, lease: &Lease, reason: &str, permanent: bool) -> Result<bool> {
        let (id, token, worker) = (lease.task.id, lease.token, lease.worker.clone());
        let reason = reason.to_owned();
        self.write(move |tx| {
            let row: Option<(String, Option<i64>, i64, i64)> = tx
                .prepare_cached(
                    "SELECT state, lease_token, attempts, max_attempts FROM tasks WHERE id = ?1",
                )?
                .query_row([id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
                .optional()?;
            let Some((state, held, attempts, max)) = row else {
                return Ok(false);
            };
            if held != Some(token) {
                return Ok(false);
            }
            match state.as_str() {
                "running" => {}
                // A retry of a failure that was recorded.
                "queued" | "failed" => return Ok(true),
                _ => return Ok(false),
            }
            let now = now_ms();
            let text = fail_reason(&reason, attempts, max);
            if permanent || attempts >= max {
                tx.prepare_cached(
                    "UPDATE tasks SET state = 'failed', finished_at = ?2, lease_expires = NULL, \
                     error = ?3 WHERE id = ?1",
                )?
                .execute(params![id, now, text])?;
                log(tx, id, now, "failed", Some(&worker), attempts, Some(&text))?;
            } else {
                tx.prepare_cached(
                    "UPDATE tasks SET state = 'queued', lease_expires = NULL, error = ?2 \
                     WHERE id = ?1",
                )?
                .execute(params![id, text])?;
                log(tx, id, now, "retry", Some(&worker), attempts, Some(&text))?;
            }
            see_worker(tx, &worker, now)?;
            Ok(true)
        })
        .await
    }

    pub(crate) async fn stats(&self) -> Result<Stats> {
        self.read(|c| {
            let counts: Vec<(String, i64)> = c
                .prepare_cached("SELECT state, COUNT(*) FROM tasks GROUP BY state")?
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<rusqlite::Result<_>>()?;
            let durations: Vec<i64> = c
                .prepare_cached(
                    "SELECT finished_at - started_at FROM tasks \
                     WHERE state = 'done' AND finished_at IS NOT NULL \
                     ORDER BY finished_at DESC LIMIT ?1",
                )?
                .query_map([i64::from(STATS_DURATIONS)], |r| r.get(0))?
                .collect::<rusqlite::Result<_>>()?;
            let workers: Vec<(String, i64)> = c
                .prepare_cached("SELECT id, last_seen FROM workers ORDER BY id")?
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<rusqlite::Result<_>>()?;
            let blobs: (i64, i64) = c
                .prepare_cached("SELECT COUNT(*), COALESCE(SUM(size), 0) FROM blobs")?
                .query_row([], |r| Ok((r.get(0)?, r.get(1)?)))?;
            Ok(crate::build_stats(counts, durations, workers, blobs))
        })
        .await
    }

    pub(crate) async fn create_token(&self, name: &str, hash: &str) -> Result<TokenInfo> {
        let (name, hash) = (name.to_owned(), hash.to_owned());
        self.write(move |tx| {
            let exists: bool = tx
                .prepare_cached("SELECT EXISTS (SELECT 1 FROM tokens WHERE name = ?1)")?
                .query_row([&name], |r| r.get(0))?;
            if exists {
                return Err(Error::Invalid(format!("a token named {name:?} exists")));
            }
            let now = now_ms();
            tx.prepare_cached("INSERT INTO tokens (name, hash, created_at) VALUES (?1, ?2, ?3)")?
                .execute(params![name, hash, now])?;
            Ok(TokenInfo {
                name,
                created_at: now,
                last_used_at: None,
            })
        })
        .await
    }

    pub(crate) async fn list_tokens(&self) -> Result<Vec<TokenInfo>> {
        self.read(|c| {
            Ok(
                c.prepare_cached(
                    "SELECT name, created_at, last_used_at FROM tokens ORDER BY name",
                )?
                .query_map([], |r| {
                    Ok(TokenInfo {
                        name: r.get(0)?,
                        created_at: r.get(1)?,
                        last_used_at: r.get(2)?,
                    })
                })?
                .collect::<rusqlite::Result<_>>()?,
            )
        })
        .await
    }

    pub(crate) async fn revoke_token(&self, name: &str) -> Result<bool> {
        let name = name.to_owned();
        self.write(move |tx| {
            Ok(tx
                .prepare_cached("DELETE FROM tokens WHERE name = ?1")?
                .execute([name])?
                == 1)
        })
        .await
    }

    pub(crate) async fn token_by_hash(&self, hash: &str) -> Result<Option<(TokenInfo, String)>> {
        let hash = hash.to_owned();
        self.read(move |c| {
            Ok(c.prepare_cached(
                "SELECT name, created_at, last_used_at, hash FROM tokens WHERE hash = ?1",
            )?
            .query_row([hash], |r| {
                Ok((
                    TokenInfo {
                        name: r.get(0)?,
                        created_at: r.get(1)?,
                        last_used_at: r.get(2)?,
                    },
                    r.get(3)?,
                ))
            })
            .optional()?)
        })
        .await
    }

    pub(crate) async fn touch_token(&self, name: &str, now: i64) -> Result<()> {
        let name = name.to_owned();
        self.write(move |tx| {
            tx.prepare_cached("UPDATE tokens SET last_used_at = ?2 WHERE name = ?1")?
                .execute(params![name, now])?;
            Ok(())
        })
        .await
    }
}
