//! Issue 7, done-when 2: one `ferret serve` and two `ferret worker` processes on one
//! PostgreSQL server (a private cluster this test starts: initdb + pg_ctl on a free
//! loopback port) complete 50 tasks, each exactly once, counted in the database's task
//! log. One worker process is SIGKILLed in the middle of an analysis; its task is
//! retried and completed by the other. PostgreSQL is restarted during the run; the
//! server and the workers reconnect and no task is lost.

mod serve_common;

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use ferret_queue::test_support::PgCluster;
use serde_json::Value;
use serve_common::{FERRET, create_token, multipart, parse_response, require_root, start_serve};
const LEASE_SECS: &str = "4";

/// A benign program: prints, writes a file, sleeps argv[1] seconds.
const SAMPLE_C: &str = r#"
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
int main(int argc, char **argv) {
    FILE *f = fopen("/tmp/pg-test-note.txt", "w");
    if (f) { fputs("note\n", f); fclose(f); }
    printf("sample ran\n");
    fflush(stdout);
    if (argc > 1) sleep((unsigned)atoi(argv[1]));
    return 0;
}
"#;

fn sample() -> &'static [u8] {
    static BIN: OnceLock<Vec<u8>> = OnceLock::new();
    BIN.get_or_init(|| {
        let dir = tempfile::tempdir().expect("temp dir");
        let src = dir.path().join("s.c");
        std::fs::write(&src, SAMPLE_C).expect("write the sample source");
        let exe = dir.path().join("s");
        let out = Command::new("cc")
            .args(["-static", "-O1", "-o"])
            .arg(&exe)
            .arg(&src)
            .output()
            .expect("cc (build-essential) builds the test sample");
        assert!(
            out.status.success(),
            "cc: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        std::fs::read(&exe).expect("read the sample")
    })
}

fn shared(rel: &str) -> Vec<u8> {
    let p = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/")).join(rel);
    std::fs::read(&p).unwrap_or_else(|e| panic!("{} (see shared/README.md): {e}", p.display()))
}

/// Child processes killed on drop (before the cluster is stopped).
struct Procs(Vec<Child>);

impl Drop for Procs {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn start_worker(url: &str, data: &Path) -> Child {
    Command::new(FERRET)
        .args([
            "worker",
            "--workers",
            "2",
            "--lease",
            LEASE_SECS,
            "--no-yara",
        ])
        .args(["--db", url, "--data"])
        .arg(data)
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn ferret worker")
}

struct Api {
    addr: SocketAddr,
    token: String,
}

/// One request on its own connection; `None` if the server could not be reached or
/// answered nothing (it may be between database connections).
fn request(
    api: &Api,
    method: &str,
    path: &str,
    ctype: &str,
    body: &[u8],
) -> Option<(u16, Vec<u8>)> {
    let mut c = TcpStream::connect(api.addr).ok()?;
    c.set_read_timeout(Some(Duration::from_secs(60))).ok()?;
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nAuthorization: Bearer {}\r\n\
         Content-Type: {ctype}\r\nContent-Length: {}\r\n\r\n",
        api.addr,
        api.token,
        body.len()
    );
    c.write_all(head.as_bytes()).ok()?;
    c.write_all(body).ok()?;
    let mut raw = Vec::new();
    c.read_to_end(&mut raw).ok()?;
    let r = parse_response(&raw).ok()?;
    Some((r.status, r.body))
}

const BOUNDARY: &str = "serve-postgres-b0undary";

fn submit(api: &Api, kind: &str, name: &str, data: &[u8], fields: &[(&str, &str)]) -> i64 {
    let mut parts: Vec<(&str, Option<&str>, &[u8])> = vec![("file", Some(name), data)];
    parts.extend(fields.iter().map(|(k, v)| (*k, None, v.as_bytes())));
    let b = multipart(BOUNDARY, &parts);
    let ctype = format!("multipart/form-data; boundary={BOUNDARY}");
    // A submission during a database restart may be refused (503): try again, as a
    // client would. Each attempt is one task at most, so nothing is submitted twice.
    let t0 = Instant::now();
    loop {
        match request(api, "POST", &format!("/api/tasks/{kind}"), &ctype, &b) {
            Some((201, body)) => {
                let v: Value = serde_json::from_slice(&body).expect("task JSON");
                return v["id"].as_i64().expect("task id");
            }
            other => {
                assert!(
                    t0.elapsed() < Duration::from_secs(30),
                    "submission refused for 30 s: {:?}",
                    other.map(|(s, b)| (s, String::from_utf8_lossy(&b).into_owned()))
                );
                std::thread::sleep(Duration::from_millis(200));
            }
        }
    }
}

fn task(api: &Api, id: i64) -> Option<Value> {
    match request(api, "GET", &format!("/api/tasks/{id}"), "text/plain", b"")? {
        (200, body) => serde_json::from_slice(&body).ok(),
        _ => None,
    }
}

/// The pid in a worker name `host-PID-n`.
fn worker_pid(worker: &str) -> Option<u32> {
    worker.rsplit('-').nth(1)?.parse().ok()
}

#[test]
fn serve_and_two_workers_on_postgres() {
    require_root("the workers detonate samples in the sandbox");
    let t_start = Instant::now();
    let cluster = PgCluster::start().unwrap_or_else(|e| panic!("{e}"));
    let url = cluster.url().to_owned();
    let dir = tempfile::tempdir().expect("temp dir");
    let sample = sample();
    let pcaps = [shared("data/l7/irc.pcap"), shared("data/l7/telnet.pcap")];

    let token = create_token(&dir.path().join("cli"), "pg-test", &["--db", &url]);
    let serve = start_serve(
        &["--workers", "0", "--no-yara", "--db", &url],
        &dir.path().join("serve"),
    );
    let addr = serve.addr;
    let mut procs = Procs(Vec::new());
    let api = Api { addr, token };

    // Task 1 sleeps in the sandbox long enough to be killed mid-analysis.
    let mut ids = Vec::new();
    let sleeper = submit(
        &api,
        "file",
        "sleeper",
        sample,
        &[("net", "none"), ("timeout", "30"), ("args", "8")],
    );
    ids.push(sleeper);
    // 39 more before the restart (file and pcap tasks mixed), 10 after.
    let submit_mixed = |ids: &mut Vec<i64>, n: usize| {
        for _ in 0..n {
            let i = ids.len();
            let id = if i.is_multiple_of(3) {
                submit(
                    &api,
                    "file",
                    &format!("s{i}"),
                    sample,
                    &[("net", "none"), ("timeout", "20")],
                )
            } else {
                let p = &pcaps[i % pcaps.len()];
                submit(&api, "pcap", &format!("c{i}.pcap"), p, &[])
            };
            ids.push(id);
        }
    };
    submit_mixed(&mut ids, 39);

    let worker_a = start_worker(&url, &dir.path().join("wa"));
    let worker_b = start_worker(&url, &dir.path().join("wb"));
    let (pid_a, pid_b) = (worker_a.id(), worker_b.id());
    procs.0.push(worker_a);
    procs.0.push(worker_b);

    // Kill the process running the sleeper, mid-analysis.
    let t0 = Instant::now();
    let victim = loop {
        if let Some(t) = task(&api, sleeper)
            && t["state"] == "running"
            && let Some(pid) = t["worker"].as_str().and_then(worker_pid)
        {
            break pid;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(60),
            "the sleeper never started"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(
        victim == pid_a || victim == pid_b,
        "worker pid {victim} is none of ours"
    );
    // Let the sample get going inside the sandbox.
    std::thread::sleep(Duration::from_secs(2));
    let k = procs
        .0
        .iter_mut()
        .find(|c| c.id() == victim)
        .expect("victim child");
    k.kill().expect("SIGKILL the worker");
    let _ = k.wait();
    let survivor = if victim == pid_a { pid_b } else { pid_a };
    eprintln!(
        "killed worker process {victim} mid-analysis at {:?}",
        t_start.elapsed()
    );

    // Restart PostgreSQL once a dozen tasks are done; then submit the last ten.
    let t0 = Instant::now();
    loop {
        let done = cluster
            .psql("SELECT count(*) FROM tasks WHERE state = 'done'")
            .unwrap_or_default();
        if done.parse::<u32>().unwrap_or(0) >= 12 {
            break;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(90),
            "stuck at {done} done tasks"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    cluster.restart().unwrap_or_else(|e| panic!("{e}"));
    eprintln!("restarted PostgreSQL at {:?}", t_start.elapsed());
    submit_mixed(&mut ids, 10);
    assert_eq!(ids.len(), 50);

    // Every task ends done.
    let t0 = Instant::now();
    let mut states = HashMap::new();
    loop {
        states.clear();
        for &id in &ids {
            if let Some(t) = task(&api, id) {
                states.insert(id, t["state"].as_str().unwrap_or("").to_owned());
            }
        }
        if let Some((id, _)) = states.iter().find(|(_, s)| *s == "failed") {
            panic!("task {id} failed: {:?}", task(&api, *id));
        }
        if states.len() == 50 && states.values().all(|s| s == "done") {
            break;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(150),
            "not all done after 150 s: {states:?}"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    eprintln!("50 tasks done at {:?}", t_start.elapsed());

    // Exactly once, by the database's own record of completions.
    let rows = cluster
        .psql("SELECT task_id, count(*) FROM task_log WHERE event = 'completed' GROUP BY task_id ORDER BY task_id")
        .unwrap_or_else(|e| panic!("{e}"));
    let completions: HashMap<i64, u32> = rows
        .lines()
        .filter_map(|l| {
            let (id, n) = l.split_once('|')?;
            Some((id.parse().ok()?, n.parse().ok()?))
        })
        .collect();
    assert_eq!(completions.len(), 50, "{rows}");
    for id in &ids {
        assert_eq!(
            completions.get(id),
            Some(&1),
            "task {id} completions: {rows}"
        );
    }
    assert_eq!(
        cluster
            .psql("SELECT count(*) FROM tasks WHERE state = 'done'")
            .unwrap(),
        "50"
    );

    // The sleeper: leased by the killed process, lease expired, completed by the other.
    let history = cluster
        .psql(&format!(
            "SELECT event, coalesce(worker, '') FROM task_log WHERE task_id = {sleeper} ORDER BY id"
        ))
        .unwrap();
    let events: Vec<(String, Option<u32>)> = history
        .lines()
        .filter_map(|l| {
            let (e, w) = l.split_once('|')?;
            Some((e.to_owned(), worker_pid(w)))
        })
        .collect();
    let first_lease = events.iter().find(|(e, _)| e == "leased").expect("leased");
    assert_eq!(first_lease.1, Some(victim), "{history}");
    assert!(
        events
            .iter()
            .any(|(e, w)| e == "expired" && *w == Some(victim)),
        "{history}"
    );
    let completed = events
        .iter()
        .find(|(e, _)| e == "completed")
        .expect("completed");
    assert_eq!(completed.1, Some(survivor), "{history}");
    let t = task(&api, sleeper).expect("sleeper");
    assert!(t["attempts"].as_u64() >= Some(2), "{t}");

    // The artifacts are served from the database by the server.
    let (status, body) = request(
        &api,
        "GET",
        &format!("/api/tasks/{sleeper}/report"),
        "text/plain",
        b"",
    )
    .expect("report");
    assert_eq!(status, 200);
    let report: Value = serde_json::from_slice(&body).expect("report JSON");
    assert_eq!(report["sample"]["name"], "sleeper");
    drop(procs);
    eprintln!("total {:?}", t_start.elapsed());
}
