//! The PostgreSQL backend: a connection pool (deadpool; a connection that died with a
//! server restart is replaced on its next use), row locks with `FOR UPDATE SKIP LOCKED`
//! so that workers lease different tasks without waiting on each other, and the
//! server's clock for every time, so that workers on machines whose clocks disagree
//! agree on lease expiry.

use std::time::Duration;

use deadpool_postgres::{
    Manager, ManagerConfig, Object, Pool, PoolError, RecyclingMethod, Runtime,
};
use tokio_postgres::{NoTls, Row};

use crate::{
    ArtifactInfo, Error, Lease, LogEntry, NewArtifacts, NewTask, RawTask, Result, STATS_DURATIONS,
    Stats, TASK_COLS, TaskInfo, TaskState, TokenInfo, expired_reason, fail_reason, migrate,
};

/// The server's time in unix ms.
const NOW: &str = "(floor(extract(epoch from clock_timestamp()) * 1000))::bigint";

/// Key of the advisory lock held while migrating.
const MIGRATION_LOCK: i64 = 0x6665_7272_6574_7131; // "ferretq1"

fn pg_err(e: tokio_postgres::Error) -> Error {
    let transient = e.is_closed()
        || match e.code() {
            // 08: connection exceptions; 57P0x: shutdown/crash/cannot connect now;
            // 40001/40P01: serialisation failure/deadlock; 53300: too many connections.
            Some(code) => {
                let c = code.code();
                c.starts_with("08")
                    || c.starts_with("57P")
                    || matches!(c, "40001" | "40P01" | "53300")
            }
            // No SQL state: I/O or protocol trouble, i.e. the connection.
            None => true,
        };
    // tokio-postgres puts the substance ("Connection refused", the server's message)
    // in the source chain, not in its own text.
    let mut message = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        message.push_str(": ");
        message.push_str(&s.to_string());
        source = s.source();
    }
    Error::Database { message, transient }
}

fn pool_err(e: PoolError) -> Error {
    match e {
        PoolError::Backend(e) => pg_err(e),
        PoolError::Timeout(t) => Error::Database {
            message: format!("no database connection ({t:?} timeout)"),
            transient: true,
        },
        other => Error::Database {
            message: other.to_string(),
            transient: false,
        },
    }
}

pub(crate) struct Db {
    pool: Pool,
    description: String,
}

fn raw_task(r: &Row) -> std::result::Result<RawTask, tokio_postgres::Error> {
    Ok(RawTask {
        id: r.try_get(0)?,
        kind: r.try_get(1)?,
        state: r.try_get(2)?,
        options: r.try_get(3)?,
        input_name: r.try_get(4)?,
        input_sha256: r.try_get(5)?,
        input_size: r.try_get(6)?,
        created_at: r.try_get(7)?,
        started_at: r.try_get(8)?,
        finished_at: r.try_get(9)?,
        attempts: r.try_get(10)?,
        max_attempts: r.try_get(11)?,
        worker: r.try_get(12)?,
        error: r.try_get(13)?,
        verdict: r.try_get(14)?,
        score: r.try_get(15)?,
    })
}

fn info(r: &Row) -> Result<TaskInfo> {
    raw_task(r).map_err(pg_err)?.into_info()
}

async fn log<C: deadpool_postgres::GenericClient>(
    c: &C,
    task: i64,
    event: &str,
    worker: Option<&str>,
    attempt: i64,
    detail: Option<&str>,
) -> Result<()> {
    c.execute(
        &format!(
            "INSERT INTO task_log (task_id, at, event, worker, attempt, detail) \
             VALUES ($1, {NOW}, $2, $3, $4, $5)"
        ),
        &[&task, &event, &worker, &attempt, &detail],
    )
    .await
    .map_err(pg_err)?;
    Ok(())
}

async fn put_blob<C: deadpool_postgres::GenericClient>(
    c: &C,
    sha: &str,
    data: &[u8],
) -> Result<()> {
    c.execute(
        "INSERT INTO blobs (sha256, size, refs, data) VALUES ($1, $2, 1, $3) \
         ON CONFLICT (sha256) DO UPDATE SET refs = blobs.refs + 1",
        &[&sha, &(data.len() as i64), &data],
    )
    .await
    .map_err(pg_err)?;
    Ok(())
}

async fn see_worker<C: deadpool_postgres::GenericClient>(c: &C, worker: &str) -> Result<()> {
    c.execute(
        &format!(
            "INSERT INTO workers (id, last_seen) VALUES ($1, {NOW}) \
             ON CONFLICT (id) DO UPDATE SET last_seen = excluded.last_seen"
        ),
        &[&worker],
    )
    .await
    .map_err(pg_err)?;
    Ok(())
}

impl Db {
    pub(crate) async fn open(url: &str, pool_size: usize) -> Result<Db> {
        let mut config: tokio_postgres::Config = url
            .parse()
            .map_err(|e| Error::Config(format!("PostgreSQL URL: {e}")))?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(Duration::from_secs(5));
        }
        if config.get_application_name().is_none() {
            config.application_name("ferret");
        }
        let description = describe(&config);
        let manager = Manager::from_config(
            config,
            NoTls,
            ManagerConfig {
                // A query before handing out a pooled connection: after a server restart
                // a dead connection is replaced instead of failing the caller's query.
                recycling_method: RecyclingMethod::Verified,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(pool_size)
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(Duration::from_secs(30)))
            .create_timeout(Some(Duration::from_secs(10)))
            .recycle_timeout(Some(Duration::from_secs(10)))
            .build()
            .map_err(|e| Error::Config(format!("PostgreSQL pool: {e}")))?;
        let db = Db { pool, description };
        db.migrate().await.map_err(|e| match e {
            Error::Database { message, transient } => Error::Database {
                message: format!("{}: {message}", db.description),
                transient,
            },
            e => e,
        })?;
        Ok(db)
    }

    pub(crate) fn description(&self) -> String {
        self.description.clone()
    }

    async fn client(&self) -> Result<Object> {
        self.pool.get().await.map_err(pool_err)
    }

    async fn migrate(&self) -> Result<()> {
        let mut c = self.client().await?;
        let tx = c.transaction().await.map_err(pg_err)?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
            .await
            .map_err(pg_err)?;
        tx.batch_execute("CREATE TABLE IF NOT EXISTS ferret_schema (version BIGINT NOT NULL)")
            .await
            .map_err(pg_err)?;
        let version: i64 = match tx
            .query_opt("SELECT version FROM ferret_schema", &[])
            .await
            .map_err(pg_err)?
        {
            Some(r) => r.try_get(0).map_err(pg_err)?,
            None => {
                tx.execute("INSERT INTO ferret_schema (version) VALUES (0)", &[])
                    .await
                    .map_err(pg_err)?;
                0
            }
        };
        let known = migrate::POSTGRES.len() as i64;
        if version > known {
            return Err(Error::Config(format!(
                "the queue database has schema version {version}; this ferret knows up to \
                 {known}: use a newer ferret"
            )));
        }
        for (i, step) in migrate::POSTGRES.iter().enumerate().skip(version as usize) {
            tx.batch_execute(step).await.map_err(pg_err)?;
            tx.execute("UPDATE ferret_schema SET version = $1", &[&(i as i64 + 1)])
                .await
                .map_err(pg_err)?;
        }
        tx.commit().await.map_err(pg_err)
    }

    pub(crate) async fn submit(&self, t: NewTask) -> Result<TaskInfo> {
        let mut c = self.client().await?;
        let tx = c.transaction().await.map_err(pg_err)?;
        put_blob(&tx, &t.sha, &t.input).await?;
        let row = tx
            .query_one(
                &format!(
                    "INSERT INTO tasks (kind, state, options, input_name, input_sha256, \
                     input_size, created_at, attempts, max_attempts) \
                     VALUES ($1, 'queued', $2, $3, $4, $5, {NOW}, 0, $6) RETURNING {TASK_COLS}"
                ),
                &[
                    &t.kind.as_str(),
                    &t.options_json,
                    &t.input_name,
                    &t.sha,
                    &(t.input.len() as i64),
                    &i64::from(t.max_attempts),
                ],
            )
            .await
            .map_err(pg_err)?;
        let task = info(&row)?;
        log(&tx, task.id, "submitted", None, 0, None).await?;
        tx.commit().await.map_err(pg_err)?;
        Ok(task)
    }

    pub(crate) async fn get(&self, id: i64) -> Result<Option<TaskInfo>> {
        let c = self.client().await?;
        let row = c
            .query_opt(
                &format!("SELECT {TASK_COLS} FROM tasks WHERE id = $1"),
                &[&id],
            )
            .await
            .map_err(pg_err)?;
        row.as_ref().map(info).transpose()
    }

    pub(crate) async fn list(
        &self,
        state: Option<TaskState>,
        limit: u32,
        offset: i64,
    ) -> Result<(Vec<TaskInfo>, u64)> {
        let c = self.client().await?;
        let limit = i64::from(limit);
        let (rows, total) = match state {
            Some(s) => {
                let rows = c
                    .query(
                        &format!(
                            "SELECT {TASK_COLS} FROM tasks WHERE state = $1 \
                             ORDER BY id DESC LIMIT $2 OFFSET $3"
                        ),
                        &[&s.as_str(), &limit, &offset],
                    )
                    .await
                    .map_err(pg_err)?;
                let total: i64 = c
                    .query_one(
                        "SELECT COUNT(*) FROM tasks WHERE state = $1",
                        &[&s.as_str()],
                    )
                    .await
                    .map_err(pg_err)?
                    .try_get(0)
                    .map_err(pg_err)?;
                (rows, total)
            }
            None => {
                let rows = c
                    .query(
                        &format!(
                            "SELECT {TASK_COLS} FROM tasks ORDER BY id DESC LIMIT $1 OFFSET $2"
                        ),
                        &[&limit, &offset],
                    )
                    .await
                    .map_err(pg_err)?;
                let total: i64 = c
                    .query_one("SELECT COUNT(*) FROM tasks", &[])
                    .await
                    .map_err(pg_err)?
                    .try_get(0)
                    .map_err(pg_err)?;
                (rows, total)
            }
        };
        let tasks = rows.iter().map(info).collect::<Result<Vec<_>>>()?;
        Ok((tasks, u64::try_from(total).unwrap_or(0)))
    }

    pub(crate) async fn delete(&self, id: i64) -> Result<bool> {
        let mut c = self.client().await?;
        let tx = c.transaction().await.map_err(pg_err)?;
        let Some(row) = tx
            .query_opt(
                "SELECT input_sha256 FROM tasks WHERE id = $1 FOR UPDATE",
                &[&id],
            )
            .await
            .map_err(pg_err)?
        else {
            return Ok(false);
        };
        let mut shas: Vec<String> = vec![row.try_get(0).map_err(pg_err)?];
        for r in tx
            .query("SELECT sha256 FROM artifacts WHERE task_id = $1", &[&id])
            .await
            .map_err(pg_err)?
        {
            shas.push(r.try_get(0).map_err(pg_err)?);
        }
        // One lock order for blob rows everywhere: no deadlock between transactions.
        shas.sort_unstable();
        tx.execute("DELETE FROM artifacts WHERE task_id = $1", &[&id])
            .await
            .map_err(pg_err)?;
        tx.execute("DELETE FROM task_log WHERE task_id = $1", &[&id])
            .await
            .map_err(pg_err)?;
        tx.execute("DELETE FROM tasks WHERE id = $1", &[&id])
            .await
            .map_err(pg_err)?;
        for sha in &shas {
            tx.execute("UPDATE blobs SET refs = refs - 1 WHERE sha256 = $1", &[sha])
                .await
                .map_err(pg_err)?;
            tx.execute("DELETE FROM blobs WHERE sha256 = $1 AND refs <= 0", &[sha])
                .await
                .map_err(pg_err)?;
        }
        tx.commit().await.map_err(pg_err)?;
        Ok(true)
    }

    pub(crate) async fn input(&self, id: i64) -> Result<Option<Vec<u8>>> {
        let c = self.client().await?;
        c.query_opt(
            "SELECT b.data FROM tasks t JOIN blobs b ON b.sha256 = t.input_sha256 WHERE t.id = $1",
            &[&id],
        )
        .await
        .map_err(pg_err)?
        .map(|r| r.try_get(0).map_err(pg_err))
        .transpose()
    }

    pub(crate) async fn artifact(&self, id: i64, name: &str) -> Result<Option<Vec<u8>>> {
        let c = self.client().await?;
        c.query_opt(
            "SELECT b.data FROM artifacts a JOIN blobs b ON b.sha256 = a.sha256 \
             WHERE a.task_id = $1 AND a.name = $2",
            &[&id, &name],
        )
        .await
        .map_err(pg_err)?
        .map(|r| r.try_get(0).map_err(pg_err))
        .transpose()
    }

    pub(crate) async fn artifacts(&self, id: i64) -> Result<Vec<ArtifactInfo>> {
        let c = self.client().await?;
        c.query(
            "SELECT name, size, sha256 FROM artifacts WHERE task_id = $1 ORDER BY name",
            &[&id],
        )
        .await
        .map_err(pg_err)?
        .iter()
        .map(|r| {
            Ok(ArtifactInfo {
                name: r.try_get(0).map_err(pg_err)?,
                size: u64::try_from(r.try_get::<_, i64>(1).map_err(pg_err)?).unwrap_or(0),
                sha256: r.try_get(2).map_err(pg_err)?,
            })
        })
        .collect()
    }

    pub(crate) async fn history(&self, id: i64) -> Result<Vec<LogEntry>> {
        let c = self.client().await?;
        c.query(
            "SELECT at, event, worker, attempt, detail FROM task_log \
             WHERE task_id = $1 ORDER BY id",
            &[&id],
        )
        .await
        .map_err(pg_err)?
        .iter()
        .map(|r| {
            Ok(LogEntry {
                at: r.try_get(0).map_err(pg_err)?,
                event: r.try_get(1).map_err(pg_err)?,
                worker: r.try_get(2).map_err(pg_err)?,
                attempt: u32::try_from(r.try_get::<_, i64>(3).map_err(pg_err)?).unwrap_or(0),
                detail: r.try_get(4).map_err(pg_err)?,
            })
        })
        .collect()
    }

    pub(crate) async fn lease(
        &self,
        worker: &str,
        token: i64,
        lease_ms: i64,
    ) -> Result<Option<TaskInfo>> {
        let mut c = self.client().await?;
        // Idle workers poll: answer "nothing to do" without writing.
        let work: bool = c
            .query_one(
                &format!(
                    "SELECT EXISTS (SELECT 1 FROM tasks WHERE state = 'queued') \
                     OR EXISTS (SELECT 1 FROM tasks WHERE state = 'running' \
                                AND lease_expires < {NOW})"
                ),
                &[],
            )
            .await
            .map_err(pg_err)?
            .try_get(0)
            .map_err(pg_err)?;
        if !work {
            return Ok(None);
        }
        let tx = c.transaction().await.map_err(pg_err)?;
        // Take back expired leases; rows another worker is taking back are skipped.
        let expired = tx
            .query(
                &format!(
                    "SELECT id, worker, attempts, max_attempts FROM tasks \
                     WHERE state = 'running' AND lease_expires < {NOW} \
                     ORDER BY id FOR UPDATE SKIP LOCKED"
                ),
                &[],
            )
            .await
            .map_err(pg_err)?;
        for r in &expired {
            let id: i64 = r.try_get(0).map_err(pg_err)?;
            let old: Option<String> = r.try_get(1).map_err(pg_err)?;
            let attempts: i64 = r.try_get(2).map_err(pg_err)?;
            let max: i64 = r.try_get(3).map_err(pg_err)?;
            let reason = expired_reason(old.as_deref(), attempts, max);
            if attempts >= max {
                tx.execute(
                    &format!(
                        "UPDATE tasks SET state = 'failed', finished_at = {NOW}, \
                         lease_expires = NULL, error = $2 WHERE id = $1"
                    ),
                    &[&id, &reason],
                )
                .await
                .map_err(pg_err)?;
                log(&tx, id, "failed", old.as_deref(), attempts, Some(&reason)).await?;
            } else {
                tx.execute(
                    "UPDATE tasks SET state = 'queued', lease_expires = NULL, error = $2 \
                     WHERE id = $1",
                    &[&id, &reason],
                )
                .await
                .map_err(pg_err)?;
                log(&tx, id, "expired", old.as_deref(), attempts, Some(&reason)).await?;
            }
        }
        see_worker(&tx, worker).await?;
        let row = tx
            .query_opt(
                &format!(
                    "UPDATE tasks SET state = 'running', attempts = attempts + 1, worker = $1, \
                     lease_token = $2, lease_expires = {NOW} + $3, started_at = {NOW}, \
                     finished_at = NULL \
                     WHERE id = (SELECT id FROM tasks WHERE state = 'queued' \
                                 ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED) \
                     RETURNING {TASK_COLS}"
                ),
                &[&worker, &token, &lease_ms],
            )
            .await
            .map_err(pg_err)?;
        let task = match row {
            Some(r) => {
                let task = info(&r)?;
                log(
                    &tx,
                    task.id,
                    "leased",
                    Some(worker),
                    i64::from(task.attempts),
                    None,
                )
                .await?;
                Some(task)
            }
            None => None,
        };
        tx.commit().await.map_err(pg_err)?;
        Ok(task)
    }

    pub(crate) async fn heartbeat(&self, lease: &Lease) -> Result<bool> {
        let c = self.client().await?;
        let n = c
            .execute(
                &format!(
                    "UPDATE tasks SET lease_expires = {NOW} + $3 \
                     WHERE id = $1 AND state = 'running' AND lease_token = $2"
                ),
                &[&lease.task.id, &lease.token, &lease.lease_for_ms],
            )
            .await
            .map_err(pg_err)?;
        see_worker(&c, &lease.worker).await?;
        Ok(n == 1)
    }

    pub(crate) async fn worker_seen(&self, worker: &str) -> Result<()> {
        let c = self.client().await?;
        see_worker(&c, worker).await?;
        c.execute(
            &format!("DELETE FROM workers WHERE last_seen < {NOW} - 86400000"),
            &[],
        )
        .await
        .map_err(pg_err)?;
        Ok(())
    }

    pub(crate) async fn complete(
        &self,
        lease: &Lease,
        artifacts: NewArtifacts,
        verdict: Option<String>,
        score: Option<f64>,
    ) -> Result<bool> {
        let id = lease.task.id;
        let mut c = self.client().await?;
        let tx = c.transaction().await.map_err(pg_err)?;
        let Some(row) = tx
            .query_opt(
                "SELECT state, lease_token, attempts FROM tasks WHERE id = $1 FOR UPDATE",
                &[&id],
            )
            .await
            .map_err(pg_err)?
        else {
            return Ok(false);
        };
        let state: String = row.try_get(0).map_err(pg_err)?;
        let held: Option<i64> = row.try_get(1).map_err(pg_err)?;
        let attempts: i64 = row.try_get(2).map_err(pg_err)?;
        if held != Some(lease.token) {
            return Ok(false);
        }
        match state.as_str() {
            "running" => {}
            "done" => return Ok(true),
            _ => return Ok(false),
        }
        // One lock order for blob rows everywhere: no deadlock between transactions.
        let mut sorted: Vec<(&str, &str, &[u8])> = artifacts.iter().collect();
        sorted.sort_unstable_by(|a, b| a.1.cmp(b.1));
        for (name, sha, data) in sorted {
            put_blob(&tx, sha, data).await?;
            tx.execute(
                "INSERT INTO artifacts (task_id, name, sha256, size) VALUES ($1, $2, $3, $4)",
                &[&id, &name, &sha, &(data.len() as i64)],
            )
            .await
            .map_err(pg_err)?;
        }
        tx.execute(
            &format!(
                "UPDATE tasks SET state = 'done', finished_at = {NOW}, lease_expires = NULL, \
                 error = NULL, verdict = $2, score = $3 WHERE id = $1"
            ),
            &[&id, &verdict, &score],
        )
        .await
        .map_err(pg_err)?;
        log(&tx, id, "completed", Some(&lease.worker), attempts, None).await?;
        see_worker(&tx, &lease.worker).await?;
        tx.commit().await.map_err(pg_err)?;
        Ok(true)
    }

    pub(crate) async fn fail(&self, lease: &Lease, reason: &str, permanent: bool) -> Result<bool> {
        let id = lease.task.id;
        let mut c = self.client().await?;
        let tx = c.transaction().await.map_err(pg_err)?;
        let Some(row) = tx
            .query_opt(
                "SELECT state, lease_token, attempts, max_attempts FROM tasks \
                 WHERE id = $1 FOR UPDATE",
                &[&id],
            )
            .await
            .map_err(pg_err)?
        else {
            return Ok(false);
        };
        let state: String = row.try_get(0).map_err(pg_err)?;
        let held: Option<i64> = row.try_get(1).map_err(pg_err)?;
        let attempts: i64 = row.try_get(2).map_err(pg_err)?;
        let max: i64 = row.try_get(3).map_err(pg_err)?;
        if held != Some(lease.token) {
            return Ok(false);
        }
        match state.as_str() {
            "running" => {}
            "queued" | "failed" => return Ok(true),
            _ => return Ok(false),
        }
        let text = fail_reason(reason, attempts, max);
        if permanent || attempts >= max {
            tx.execute(
                &format!(
                    "UPDATE tasks SET state = 'failed', finished_at = {NOW}, \
                     lease_expires = NULL, error = $2 WHERE id = $1"
                ),
                &[&id, &text],
            )
            .await
            .map_err(pg_err)?;
            log(
                &tx,
                id,
                "failed",
                Some(&lease.worker),
                attempts,
                Some(&text),
            )
            .await?;
        } else {
            tx.execute(
                "UPDATE tasks SET state = 'queued', lease_expires = NULL, error = $2 \
                 WHERE id = $1",
                &[&id, &text],
            )
            .await
            .map_err(pg_err)?;
            log(&tx, id, "retry", Some(&lease.worker), attempts, Some(&text)).await?;
        }
        see_worker(&tx, &lease.worker).await?;
        tx.commit().await.map_err(pg_err)?;
        Ok(true)
    }

    pub(crate) async fn stats(&self) -> Result<Stats> {
        let c = self.client().await?;
        let mut counts = Vec::new();
        for r in c
            .query("SELECT state, COUNT(*) FROM tasks GROUP BY state", &[])
            .await
            .map_err(pg_err)?
        {
            counts.push((
                r.try_get::<_, String>(0).map_err(pg_err)?,
                r.try_get::<_, i64>(1).map_err(pg_err)?,
            ));
        }
        let mut durations = Vec::new();
        for r in c
            .query(
                "SELECT finished_at - started_at FROM tasks \
                 WHERE state = 'done' AND finished_at IS NOT NULL \
                 ORDER BY finished_at DESC LIMIT $1",
                &[&i64::from(STATS_DURATIONS)],
            )
            .await
            .map_err(pg_err)?
        {
            durations.push(r.try_get::<_, i64>(0).map_err(pg_err)?);
        }
        let mut workers = Vec::new();
        for r in c
            .query("SELECT id, last_seen FROM workers ORDER BY id", &[])
            .await
            .map_err(pg_err)?
        {
            workers.push((
                r.try_get::<_, String>(0).map_err(pg_err)?,
                r.try_get::<_, i64>(1).map_err(pg_err)?,
            ));
        }
        let r = c
            .query_one(
                "SELECT COUNT(*), COALESCE(SUM(size), 0)::bigint FROM blobs",
                &[],
            )
            .await
            .map_err(pg_err)?;
        let blobs = (
            r.try_get::<_, i64>(0).map_err(pg_err)?,
            r.try_get::<_, i64>(1).map_err(pg_err)?,
        );
        Ok(crate::build_stats(counts, durations, workers, blobs))
    }

    pub(crate) async fn create_token(&self, name: &str, hash: &str) -> Result<TokenInfo> {
        let c = self.client().await?;
        let row = c
            .query_opt(
                &format!(
                    "INSERT INTO tokens (name, hash, created_at) VALUES ($1, $2, {NOW}) \
                     ON CONFLICT (name) DO NOTHING RETURNING created_at"
                ),
                &[&name, &hash],
            )
            .await
            .map_err(pg_err)?;
        match row {
            Some(r) => Ok(TokenInfo {
                name: name.to_owned(),
                created_at: r.try_get(0).map_err(pg_err)?,
                last_used_at: None,
            }),
            None => Err(Error::Invalid(format!("a token named {name:?} exists"))),
        }
    }

    pub(crate) async fn list_tokens(&self) -> Result<Vec<TokenInfo>> {
        let c = self.client().await?;
        c.query(
            "SELECT name, created_at, last_used_at FROM tokens ORDER BY name",
            &[],
        )
        .await
        .map_err(pg_err)?
        .iter()
        .map(|r| {
            Ok(TokenInfo {
                name: r.try_get(0).map_err(pg_err)?,
                created_at: r.try_get(1).map_err(pg_err)?,
                last_used_at: r.try_get(2).map_err(pg_err)?,
            })
        })
        .collect()
    }

    pub(crate) async fn revoke_token(&self, name: &str) -> Result<bool> {
        let c = self.client().await?;
        Ok(c.execute("DELETE FROM tokens WHERE name = $1", &[&name])
            .await
            .map_err(pg_err)?
            == 1)
    }

    pub(crate) async fn token_by_hash(&self, hash: &str) -> Result<Option<(TokenInfo, String)>> {
        let c = self.client().await?;
        c.query_opt(
            "SELECT name, created_at, last_used_at, hash FROM tokens WHERE hash = $1",
            &[&hash],
        )
        .await
        .map_err(pg_err)?
        .map(|r| {
            Ok((
                TokenInfo {
                    name: r.try_get(0).map_err(pg_err)?,
                    created_at: r.try_get(1).map_err(pg_err)?,
                    last_used_at: r.try_get(2).map_err(pg_err)?,
                },
                r.try_get(3).map_err(pg_err)?,
            ))
        })
        .transpose()
    }

    pub(crate) async fn touch_token(&self, name: &str, now: i64) -> Result<()> {
        let c = self.client().await?;
        c.execute(
            "UPDATE tokens SET last_used_at = $2 WHERE name = $1",
            &[&name, &now],
        )
        .await
        .map_err(pg_err)?;
        Ok(())
    }
}

/// The URL without its password, for messages.
fn describe(c: &tokio_postgres::Config) -> String {
    let host = c
        .get_hosts()
        .first()
        .map(|h| match h {
            tokio_postgres::config::Host::Tcp(s) => s.clone(),
            tokio_postgres::config::Host::Unix(p) => p.display().to_string(),
        })
        .unwrap_or_default();
    let port = c.get_ports().first().copied().unwrap_or(5432);
    format!(
        "postgres://{}@{host}:{port}/{}",
        c.get_user().unwrap_or(""),
        c.get_dbname().unwrap_or("")
    )
}
