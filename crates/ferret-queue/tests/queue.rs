//! The queue's contract, checked on SQLite and on a private PostgreSQL server: every
//! scenario runs on both.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use ferret_queue::{Error, Queue, QueueOptions, TaskKind, TaskOptions, TaskState};

fn opts() -> TaskOptions {
    TaskOptions {
        timeout_secs: 5,
        net: "none".into(),
        arch: None,
        args: vec!["-v".into()],
    }
}

async fn submit(q: &Queue, name: &str, data: &[u8]) -> ferret_queue::TaskInfo {
    q.submit(TaskKind::File, opts(), name, data.to_vec())
        .await
        .unwrap()
}

const MS: Duration = Duration::from_millis(1);

// ---- scenarios (each takes a fresh, empty queue) ----

async fn submit_get_list_delete(q: Queue) {
    let a = submit(&q, "../../etc/passwd", b"same bytes").await;
    let b = submit(&q, "b.bin", b"same bytes").await;
    let c = q
        .submit(
            TaskKind::Pcap,
            TaskOptions::default(),
            "c.pcap",
            vec![1, 2, 3],
        )
        .await
        .unwrap();
    assert!(a.id < b.id && b.id < c.id);
    assert_eq!(a.state, TaskState::Queued);
    assert_eq!(a.input_name, "../../etc/passwd");
    assert_eq!(a.input_size, 10);
    assert_eq!(a.input_sha256.len(), 64);
    assert!(a.input_sha256.bytes().all(|b| b.is_ascii_hexdigit()));
    assert_eq!(a.input_sha256, b.input_sha256);
    assert_eq!(a.attempts, 0);
    assert_eq!(a.max_attempts, 3);
    assert!(a.created_at.is_some() && a.started_at.is_none());
    assert_eq!(a.options, opts());
    assert_eq!(c.kind, TaskKind::Pcap);

    assert_eq!(q.get(b.id).await.unwrap().unwrap(), b);
    assert!(q.get(9_999_999).await.unwrap().is_none());

    let (all, total) = q.list(None, 10, 0).await.unwrap();
    assert_eq!(total, 3);
    assert_eq!(
        all.iter().map(|t| t.id).collect::<Vec<_>>(),
        vec![c.id, b.id, a.id],
        "newest first"
    );
    let (page, total) = q.list(None, 1, 1).await.unwrap();
    assert_eq!((page.len(), total), (1, 3));
    assert_eq!(page[0].id, b.id);
    let (queued, n) = q.list(Some(TaskState::Queued), 10, 0).await.unwrap();
    assert_eq!((queued.len(), n), (3, 3));
    let (done, n) = q.list(Some(TaskState::Done), 10, 0).await.unwrap();
    assert!(done.is_empty() && n == 0);

    // Identical inputs are stored once and survive the deletion of one of their tasks.
    let s = q.stats().await.unwrap();
    assert_eq!(s.blobs, 2);
    assert_eq!(s.blob_bytes, 13);
    assert!(q.delete(a.id).await.unwrap());
    assert!(!q.delete(a.id).await.unwrap());
    assert!(q.get(a.id).await.unwrap().is_none());
    assert!(q.input(a.id).await.unwrap().is_none());
    assert_eq!(q.input(b.id).await.unwrap().unwrap(), b"same bytes");
    assert_eq!(q.stats().await.unwrap().blobs, 2);
    assert!(q.delete(b.id).await.unwrap());
    let s = q.stats().await.unwrap();
    assert_eq!((s.blobs, s.blob_bytes), (1, 3));

    // Invalid options are refused with the reason.
    let mut bad = opts();
    bad.net = "internet".into();
    match q.submit(TaskKind::File, bad, "x", vec![]).await {
        Err(Error::Invalid(m)) => assert!(m.contains("net"), "{m}"),
        other => panic!("expected Invalid, got {other:?}"),
    }
}

async fn lease_heartbeat_complete(q: Queue) {
    assert!(
        q.lease("w1", Duration::from_secs(30))
            .await
            .unwrap()
            .is_none()
    );
    let t1 = submit(&q, "one", b"1").await;
    let t2 = submit(&q, "two", b"2").await;

    let l1 = q
        .lease("w1", Duration::from_secs(30))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(l1.task.id, t1.id, "oldest first");
    assert_eq!(l1.task.state, TaskState::Running);
    assert_eq!(l1.task.attempts, 1);
    assert_eq!(l1.task.worker.as_deref(), Some("w1"));
    assert!(l1.task.started_at.is_some());
    let l2 = q
        .lease("w2", Duration::from_secs(30))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(l2.task.id, t2.id);
    assert!(
        q.lease("w3", Duration::from_secs(30))
            .await
            .unwrap()
            .is_none()
    );

    assert!(q.heartbeat(&l1).await.unwrap());
    let artifacts = vec![
        (
            "report.json".to_owned(),
            br#"{"verdict":"benign"}"#.to_vec(),
        ),
        ("stdout".to_owned(), b"hello\n".to_vec()),
        ("stderr".to_owned(), Vec::new()),
    ];
    assert!(
        q.complete(&l1, artifacts.clone(), Some("benign".into()), Some(1.5))
            .await
            .unwrap()
    );
    // A retried completion (e.g. after a lost connection) is accepted once, not twice.
    assert!(
        q.complete(&l1, artifacts, Some("benign".into()), Some(1.5))
            .await
            .unwrap()
    );
    assert!(!q.heartbeat(&l1).await.unwrap(), "a done task has no lease");
    assert!(!q.fail(&l1, "late").await.unwrap());

    let done = q.get(t1.id).await.unwrap().unwrap();
    assert_eq!(done.state, TaskState::Done);
    assert_eq!(done.verdict.as_deref(), Some("benign"));
    assert_eq!(done.score, Some(1.5));
    assert!(done.finished_at >= done.started_at);
    assert_eq!(
        q.artifact(t1.id, "stdout").await.unwrap().unwrap(),
        b"hello\n"
    );
    assert_eq!(q.artifact(t1.id, "stderr").await.unwrap().unwrap(), b"");
    assert!(q.artifact(t1.id, "capture.pcap").await.unwrap().is_none());
    assert!(q.artifact(t2.id, "stdout").await.unwrap().is_none());
    let names: Vec<String> = q
        .artifacts(t1.id)
        .await
        .unwrap()
        .into_iter()
        .map(|a| a.name)
        .collect();
    assert_eq!(names, ["report.json", "stderr", "stdout"]);
    let events: Vec<String> = q
        .history(t1.id)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.event)
        .collect();
    assert_eq!(events, ["submitted", "leased", "completed"]);

    // Bad artifact names are refused before anything is stored.
    assert!(matches!(
        q.complete(&l2, vec![("../x".into(), vec![])], None, None)
            .await,
        Err(Error::Invalid(_))
    ));
    assert!(matches!(
        q.complete(
            &l2,
            vec![("a".into(), vec![]), ("a".into(), vec![])],
            None,
            None
        )
        .await,
        Err(Error::Invalid(_))
    ));
    assert_eq!(
        q.get(t2.id).await.unwrap().unwrap().state,
        TaskState::Running
    );

    // Deleting a running task takes its lease away.
    assert!(q.delete(t2.id).await.unwrap());
    assert!(!q.heartbeat(&l2).await.unwrap());
    assert!(!q.complete(&l2, vec![], None, None).await.unwrap());

    let s = q.stats().await.unwrap();
    assert_eq!(
        s.by_state,
        vec![
            (TaskState::Queued, 0),
            (TaskState::Running, 0),
            (TaskState::Done, 1),
            (TaskState::Failed, 0)
        ]
    );
    assert_eq!(s.queue_len, 0);
    assert_eq!(s.durations_ms.len(), 1);
    let names: Vec<&str> = s.workers.iter().map(|(w, _)| w.as_str()).collect();
    assert!(names.contains(&"w1") && names.contains(&"w2"), "{names:?}");
}

async fn expired_lease_is_retried_then_failed(q: Queue) {
    let t = submit(&q, "sleeper", b"zz").await;
    let short = Duration::from_millis(300);
    let dead = q.lease("dies", short).await.unwrap().unwrap();
    // Not expired yet: nobody else gets it.
    assert!(q.lease("other", short).await.unwrap().is_none());
    tokio::time::sleep(short + 200 * MS).await;

    let second = q.lease("other", short).await.unwrap().unwrap();
    assert_eq!(second.task.id, t.id);
    assert_eq!(second.task.attempts, 2);
    assert!(
        second
            .task
            .error
            .as_deref()
            .is_some_and(|e| e.contains("lease expired") && e.contains("dies")),
        "{:?}",
        second.task.error
    );
    // The worker that lost the lease can do nothing with the task any more.
    assert!(!q.heartbeat(&dead).await.unwrap());
    assert!(
        !q.complete(&dead, vec![], Some("x".into()), None)
            .await
            .unwrap()
    );

    // The second worker dies too; the third attempt is the last (max 3).
    tokio::time::sleep(short + 200 * MS).await;
    let third = q.lease("third", short).await.unwrap().unwrap();
    assert_eq!(third.task.attempts, 3);
    tokio::time::sleep(short + 200 * MS).await;
    assert!(q.lease("fourth", short).await.unwrap().is_none());
    let failed = q.get(t.id).await.unwrap().unwrap();
    assert_eq!(failed.state, TaskState::Failed);
    assert_eq!(failed.attempts, 3);
    let err = failed.error.unwrap();
    assert!(
        err.contains("third") && err.contains("attempt 3 of 3"),
        "{err}"
    );
    assert!(failed.finished_at.is_some());
    let events: Vec<String> = q
        .history(t.id)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.event)
        .collect();
    assert_eq!(
        events,
        [
            "submitted",
            "leased",
            "expired",
            "leased",
            "expired",
            "leased",
            "failed"
        ]
    );
    assert!(!q.complete(&third, vec![], None, None).await.unwrap());
}

async fn heartbeats_keep_the_lease(q: Queue) {
    let t = submit(&q, "long", b"long").await;
    let lease_for = Duration::from_millis(400);
    let l = q.lease("w", lease_for).await.unwrap().unwrap();
    for _ in 0..5 {
        tokio::time::sleep(200 * MS).await;
        assert!(q.heartbeat(&l).await.unwrap());
        assert!(q.lease("thief", lease_for).await.unwrap().is_none());
    }
    assert!(q.complete(&l, vec![], None, None).await.unwrap());
    assert_eq!(q.get(t.id).await.unwrap().unwrap().attempts, 1);
}

async fn fail_retries_then_fails(q: Queue) {
    let t = submit(&q, "flaky", b"f").await;
    let l = q
        .lease("w", Duration::from_secs(30))
        .await
        .unwrap()
        .unwrap();
    assert!(q.fail(&l, "sandbox: out of memory").await.unwrap());
    assert!(
        q.fail(&l, "sandbox: out of memory").await.unwrap(),
        "retry of a recorded failure"
    );
    let queued = q.get(t.id).await.unwrap().unwrap();
    assert_eq!(queued.state, TaskState::Queued);
    assert_eq!(
        queued.error.as_deref(),
        Some("sandbox: out of memory (attempt 1 of 3)")
    );
    assert!(!q.complete(&l, vec![], None, None).await.unwrap());
    for n in 2..=3 {
        let l = q
            .lease("w", Duration::from_secs(30))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(l.task.attempts, n);
        assert!(q.fail(&l, "boom").await.unwrap());
    }
    let failed = q.get(t.id).await.unwrap().unwrap();
    assert_eq!(failed.state, TaskState::Failed);
    assert_eq!(failed.error.as_deref(), Some("boom (attempt 3 of 3)"));
    assert!(
        q.lease("w", Duration::from_secs(30))
            .await
            .unwrap()
            .is_none()
    );

    let p = submit(&q, "not-a-program", b"p").await;
    let l = q
        .lease("w", Duration::from_secs(30))
        .await
        .unwrap()
        .unwrap();
    assert!(q.fail_permanently(&l, "not an ELF file").await.unwrap());
    let failed = q.get(p.id).await.unwrap().unwrap();
    assert_eq!((failed.state, failed.attempts), (TaskState::Failed, 1));
    let s = q.stats().await.unwrap();
    assert_eq!(s.by_state[3], (TaskState::Failed, 2));
}

async fn concurrent_workers_complete_each_task_once(q: Queue) {
    const TASKS: usize = 60;
    let mut ids = HashSet::new();
    for i in 0..TASKS {
        ids.insert(
            submit(&q, &format!("t{i}"), format!("input {i}").as_bytes())
                .await
                .id,
        );
    }
    let completed = Arc::new(std::sync::Mutex::new(Vec::new()));
    let mut handles = Vec::new();
    for w in 0..6 {
        let q = q.clone();
        let completed = completed.clone();
        handles.push(tokio::spawn(async move {
            let me = format!("worker-{w}");
            while let Some(l) = q.lease(&me, Duration::from_secs(30)).await.unwrap() {
                assert!(q.heartbeat(&l).await.unwrap());
                let report = format!("{{\"id\":{}}}", l.task.id).into_bytes();
                assert!(
                    q.complete(&l, vec![("report.json".into(), report)], None, Some(0.0))
                        .await
                        .unwrap()
                );
                completed.lock().unwrap().push(l.task.id);
            }
        }));
    }
    for h in handles {
        h.await.unwrap();
    }
    let completed = completed.lock().unwrap().clone();
    assert_eq!(completed.len(), TASKS, "each task completed exactly once");
    assert_eq!(completed.iter().copied().collect::<HashSet<_>>(), ids);
    let mut completions: HashMap<i64, usize> = HashMap::new();
    for id in &ids {
        let h = q.history(*id).await.unwrap();
        *completions.entry(*id).or_default() += h.iter().filter(|e| e.event == "completed").count();
        assert_eq!(h.iter().filter(|e| e.event == "leased").count(), 1);
        let report = q.artifact(*id, "report.json").await.unwrap().unwrap();
        assert_eq!(report, format!("{{\"id\":{id}}}").into_bytes());
    }
    assert!(completions.values().all(|&n| n == 1));
    let s = q.stats().await.unwrap();
    assert_eq!(s.by_state[2], (TaskState::Done, TASKS as u64));
    assert_eq!(s.durations_ms.len(), TASKS);
}

async fn tokens(q: Queue) {
    assert!(q.list_tokens().await.unwrap().is_empty());
    let (info, secret) = q.create_token("ci-bot").await.unwrap();
    assert_eq!(info.name, "ci-bot");
    assert!(
        secret.starts_with("ferret_") && secret.len() > 60,
        "{secret}"
    );
    let (_, other) = q.create_token("alice").await.unwrap();
    assert_ne!(secret, other);
    match q.create_token("ci-bot").await {
        Err(Error::Invalid(m)) => assert!(m.contains("exists"), "{m}"),
        r => panic!("duplicate name accepted: {r:?}"),
    }
    assert!(matches!(
        q.create_token("bad name").await,
        Err(Error::Invalid(_))
    ));
    let names: Vec<String> = q
        .list_tokens()
        .await
        .unwrap()
        .into_iter()
        .map(|t| t.name)
        .collect();
    assert_eq!(names, ["alice", "ci-bot"]);

    let v = q.verify_token(&secret).await.unwrap().unwrap();
    assert_eq!(v.name, "ci-bot");
    let listed = q.list_tokens().await.unwrap();
    assert!(listed[1].last_used_at.is_some(), "use recorded");
    // Near misses and garbage.
    let mut wrong = secret.clone().into_bytes();
    let last = wrong.len() - 1;
    wrong[last] = if wrong[last] == b'0' { b'1' } else { b'0' };
    assert!(
        q.verify_token(std::str::from_utf8(&wrong).unwrap())
            .await
            .unwrap()
            .is_none()
    );
    assert!(q.verify_token("").await.unwrap().is_none());
    assert!(q.verify_token("Bearer x").await.unwrap().is_none());
    assert!(
        q.verify_token(&secret[..secret.len() - 1])
            .await
            .unwrap()
            .is_none()
    );

    assert!(q.revoke_token("ci-bot").await.unwrap());
    assert!(!q.revoke_token("ci-bot").await.unwrap());
    assert!(q.verify_token(&secret).await.unwrap().is_none());
    assert_eq!(q.verify_token(&other).await.unwrap().unwrap().name, "alice");
    // The name is free again; the new secret differs.
    let (_, again) = q.create_token("ci-bot").await.unwrap();
    assert_ne!(again, secret);
}

// ---- SQLite ----

async fn sqlite(dir: &Path) -> Queue {
    Queue::open(dir.join("q.db").to_str().unwrap(), dir)
        .await
        .unwrap()
}

macro_rules! sqlite_tests {
    ($($name:ident),*) => {$(
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $name() {
            let dir = tempfile::tempdir().unwrap();
            super::$name(super::sqlite(dir.path()).await).await;
        }
    )*};
}

mod on_sqlite {
    sqlite_tests!(
        submit_get_list_delete,
        lease_heartbeat_complete,
        expired_lease_is_retried_then_failed,
        heartbeats_keep_the_lease,
        fail_retries_then_fails,
        concurrent_workers_complete_each_task_once,
        tokens
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_default_file_reopen_and_two_processes() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    // An empty URL means queue.db in the data directory.
    let q = Queue::open("", &data).await.unwrap();
    assert!(data.join("queue.db").is_file());
    assert_eq!(
        q.description(),
        format!("sqlite://{}", data.join("queue.db").display())
    );
    for i in 0..40 {
        submit(&q, &format!("t{i}"), &[i as u8]).await;
    }
    drop(q);
    // Two queues on one file stand for `ferret serve` and `ferret worker` on one
    // machine: separate writer connections, serialised by SQLite's lock.
    let url = format!("sqlite://{}", data.join("queue.db").display());
    let a = Queue::open(&url, &data).await.unwrap();
    let b = Queue::open(&url, &data).await.unwrap();
    let (_, total) = a.list(None, 1, 0).await.unwrap();
    assert_eq!(total, 40, "reopened with its tasks; migrations not rerun");
    let mut handles = Vec::new();
    for (i, q) in [a.clone(), b.clone(), a.clone(), b.clone()]
        .into_iter()
        .enumerate()
    {
        handles.push(tokio::spawn(async move {
            let me = format!("p{i}");
            let mut got = Vec::new();
            while let Some(l) = q.lease(&me, Duration::from_secs(30)).await.unwrap() {
                assert!(q.complete(&l, vec![], None, None).await.unwrap());
                got.push(l.task.id);
            }
            got
        }));
    }
    let mut all = Vec::new();
    for h in handles {
        all.extend(h.await.unwrap());
    }
    all.sort_unstable();
    assert_eq!(all, (1..=40).collect::<Vec<i64>>());
}

#[tokio::test]
async fn open_errors_are_clear() {
    let dir = tempfile::tempdir().unwrap();
    let e = Queue::open("sqlite://", dir.path()).await.unwrap_err();
    assert!(e.to_string().contains("no file name"), "{e}");
    let e = Queue::open(
        dir.path().join("no/such/dir/q.db").to_str().unwrap(),
        dir.path(),
    )
    .await
    .unwrap_err();
    assert!(
        e.to_string().contains("cannot open the SQLite database"),
        "{e}"
    );
    let e = Queue::open_with(
        "",
        dir.path(),
        QueueOptions {
            max_attempts: 0,
            ..QueueOptions::default()
        },
    )
    .await
    .unwrap_err();
    assert!(e.to_string().contains("max_attempts"), "{e}");
    // A database from a newer ferret is refused, not modified.
    let path = dir.path().join("new.db");
    {
        let c = rusqlite::Connection::open(&path).unwrap();
        c.pragma_update(None, "user_version", 99).unwrap();
    }
    let e = Queue::open(path.to_str().unwrap(), dir.path())
        .await
        .unwrap_err();
    assert!(e.to_string().contains("schema version 99"), "{e}");
    let e = Queue::open("postgres://nobody@127.0.0.1:1/x", dir.path())
        .await
        .unwrap_err();
    assert!(e.is_transient(), "connection refused is worth a retry: {e}");
}

// ---- PostgreSQL ----

mod on_postgres {
    use super::*;
    use ferret_queue::test_support::PgCluster;

    async fn fresh(cluster: &PgCluster, name: &str) -> Queue {
        cluster
            .psql(&format!("CREATE DATABASE {name}"))
            .unwrap_or_else(|e| panic!("{e}"));
        let url = format!("postgres://postgres@127.0.0.1:{}/{name}", cluster.port());
        Queue::open(&url, Path::new("/nonexistent")).await.unwrap()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn all_scenarios_on_postgres() {
        let cluster = PgCluster::start().unwrap_or_else(|e| panic!("{e}"));
        submit_get_list_delete(fresh(&cluster, "s1").await).await;
        lease_heartbeat_complete(fresh(&cluster, "s2").await).await;
        expired_lease_is_retried_then_failed(fresh(&cluster, "s3").await).await;
        heartbeats_keep_the_lease(fresh(&cluster, "s4").await).await;
        fail_retries_then_fails(fresh(&cluster, "s5").await).await;
        concurrent_workers_complete_each_task_once(fresh(&cluster, "s6").await).await;
        tokens(fresh(&cluster, "s7").await).await;

        // Nodes starting together migrate once.
        cluster.psql("CREATE DATABASE race").unwrap();
        let url = format!("postgres://postgres@127.0.0.1:{}/race", cluster.port());
        let opens: Vec<_> = (0..4)
            .map(|_| {
                let url = url.clone();
                tokio::spawn(async move { Queue::open(&url, Path::new("/")).await })
            })
            .collect();
        for o in opens {
            o.await.unwrap().unwrap();
        }
        let v = cluster
            .psql_in("race", "SELECT version FROM ferret_schema")
            .unwrap();
        assert_eq!(v, "1");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn survives_a_server_restart() {
        let cluster = PgCluster::start().unwrap_or_else(|e| panic!("{e}"));
        let q = fresh(&cluster, "restart").await;
        assert!(q.is_postgres());
        let t = submit(&q, "before", b"b").await;
        let l = q
            .lease("w", Duration::from_secs(60))
            .await
            .unwrap()
            .unwrap();
        cluster.restart().unwrap();
        // Pooled connections died with the server; the next calls get new ones.
        assert!(q.heartbeat(&l).await.unwrap());
        assert!(
            q.complete(&l, vec![("stdout".into(), b"x".to_vec())], None, None)
                .await
                .unwrap()
        );
        assert_eq!(q.get(t.id).await.unwrap().unwrap().state, TaskState::Done);

        // While the server is down, calls fail with transient errors, then work again.
        cluster.stop().unwrap();
        let e = q.get(t.id).await.unwrap_err();
        assert!(e.is_transient(), "{e}");
        cluster.start_again().unwrap();
        assert_eq!(q.get(t.id).await.unwrap().unwrap().state, TaskState::Done);
        assert_eq!(q.artifact(t.id, "stdout").await.unwrap().unwrap(), b"x");
    }
}
