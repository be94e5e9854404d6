//! The monitor's parts without the kernel sources: the bounded process table, the store and
//! its queries, the bus's drop counting, and the inotify fallback (which needs no root).

use std::borrow::Cow;
use std::io;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ferret_event::{Event, ProcInfo, SockAddr, Source, Value, View};
use ferret_monitor::bus::{Bus, Subscriber};
use ferret_monitor::fswatch::{self, Inotify};
use ferret_monitor::store::{self, QueryFormat, Row};
use ferret_monitor::tracker::Tracker;

/// Pids above the kernel's maximum (2^22), so that no real process matches.
const FAKE: i64 = 10_000_000;

#[test]
fn process_table_stays_bounded() {
    let mut t = Tracker::new(1000);
    t.seed(
        FAKE,
        &ProcInfo {
            name: Some("forker".into()),
            ..ProcInfo::default()
        },
    );
    for i in 1..50_000i64 {
        let child = FAKE + i;
        let clone = Event::syscall(0, 1, FAKE, FAKE, "clone").ret(child);
        t.update(&clone);
        let exec = Event::syscall(0, 2, child, child, "execve")
            .arg("filename", Value::Path("/bin/true".into()))
            .arg("argv", Value::Strs(vec!["/bin/true".into()]))
            .ret(0);
        let v = t.update(&exec);
        assert_eq!(v.proc.map(|p| p.name.as_str()), Some("true"));
        t.update(&Event::syscall(0, 3, child, child, "procexit"));
        assert!(t.len() <= 1001, "table grew to {}", t.len());
    }
    assert!(t.rebuilds > 0);
}

#[test]
fn sockets_opened_before_monitoring_resolve() {
    let mut t = Tracker::default();
    let addr = SockAddr::ip(IpAddr::V4(Ipv4Addr::LOCALHOST), 23);
    let ev = Event::syscall(0, 1, FAKE, FAKE, "connect")
        .arg("fd", Value::Fd(5))
        .arg("addr", Value::Sockaddr(addr))
        .ret(0);
    let v = t.update(&ev);
    let fd = v.fd.expect("fd resolved");
    assert_eq!(fd.info.kind.type_char(), '4');
    assert_eq!(fd.info.name, "->127.0.0.1:23");
    assert_eq!(t.seeded_sockets, 1);
}

fn rows_for(events: &[Event]) -> Vec<Row> {
    let mut t = Tracker::default();
    t.seed(
        FAKE,
        &ProcInfo {
            name: Some("bash".into()),
            exepath: Some("/usr/bin/bash".into()),
            cwd: Some("/root".into()),
            uid: Some(0),
            ..ProcInfo::default()
        },
    );
    events
        .iter()
        .filter_map(|e| {
            let v = t.update(e);
            store::row_of(e, v)
        })
        .collect()
}

#[test]
fn store_answers_queries_read_only() {
    let child = FAKE + 1;
    let mut exec = Event::syscall(0, 1_700_000_000_000_000_000, child, child, "execve")
        .arg("filename", Value::Path("/usr/bin/curl".into()))
        .arg(
            "argv",
            Value::Strs(vec!["curl".into(), "-s".into(), "http://x".into()]),
        )
        .ret(0);
    exec.proc = Some(Box::new(ProcInfo {
        ppid: Some(FAKE),
        cwd: Some("/tmp".into()),
        uid: Some(1000),
        ..ProcInfo::default()
    }));
    let connect = Event::syscall(0, 1_700_000_001_000_000_000, child, child, "connect")
        .arg("fd", Value::Fd(3))
        .arg(
            "addr",
            Value::Sockaddr(SockAddr::ip(IpAddr::V4(Ipv4Addr::LOCALHOST), 8080)),
        )
        .ret(0);
    let file = fswatch::file_event(
        "create",
        child,
        std::path::Path::new("/tmp/a b"),
        None,
        false,
    );
    let events = vec![
        Event::syscall(0, 1_699_999_999_000_000_000, FAKE, FAKE, "clone").ret(child),
        exec,
        connect,
        file,
        Event::syscall(0, 1_700_000_002_000_000_000, child, child, "procexit")
            .arg("status", Value::Int(256)),
    ];
    let rows = rows_for(&events);
    assert_eq!(rows.len(), 5);
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("s.db");
    let (h, join) = store::open(&db).unwrap();
    h.send(rows);
    drop(h);
    join.join().unwrap().unwrap();

    let q = |sql: &str, f| {
        let mut out = Vec::new();
        let n = store::query(&db, sql, f, &mut out)?;
        Ok::<_, io::Error>((n, String::from_utf8(out).unwrap()))
    };
    let (n, text) = q(
        "SELECT action, pid, ppid, uid, path, cmdline, cwd, exit_status FROM process_events ORDER BY id",
        QueryFormat::Json,
    )
    .unwrap();
    assert_eq!(n, 3);
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines[0]["action"], "fork");
    assert_eq!(lines[0]["pid"], child);
    assert_eq!(lines[1]["action"], "exec");
    assert_eq!(lines[1]["cmdline"], "curl -s http://x");
    assert_eq!(lines[1]["path"], "/usr/bin/curl");
    assert_eq!(lines[1]["uid"], 1000);
    assert_eq!(lines[1]["cwd"], "/tmp");
    assert_eq!(lines[2]["exit_status"], 256);
    let (_, table) = q(
        "SELECT action, family, protocol, remote_address, remote_port FROM socket_events",
        QueryFormat::Table,
    )
    .unwrap();
    let mut tl = table.lines();
    assert_eq!(
        tl.next(),
        Some("action  | family | protocol | remote_address | remote_port")
    );
    assert!(tl.next().unwrap().starts_with("--------+-"));
    assert_eq!(
        tl.next(),
        Some("connect | inet   | tcp      | 127.0.0.1      | 8080")
    );
    let (n, text) = q(
        "SELECT target_path, name FROM file_events",
        QueryFormat::Json,
    )
    .unwrap();
    assert_eq!(n, 1);
    assert!(text.contains("\"target_path\":\"/tmp/a b\""), "{text}");
    let e = q("DELETE FROM file_events", QueryFormat::Table).unwrap_err();
    assert!(e.to_string().contains("read-only"), "{e}");
    let e = q("SELEC nonsense", QueryFormat::Table).unwrap_err();
    assert!(e.to_string().contains("SQL"), "{e}");
    let e = store::query(
        &dir.path().join("none.db"),
        "SELECT 1",
        QueryFormat::Table,
        &mut Vec::new(),
    )
    .unwrap_err();
    assert!(e.to_string().contains("no store"), "{e}");
}

struct Collect(Arc<Mutex<Vec<Event>>>);

impl Subscriber for Collect {
    fn name(&self) -> &str {
        "collect"
    }
    fn event(&mut self, ev: &Event, _view: View<'_>) -> io::Result<()> {
        if let Ok(mut v) = self.0.lock() {
            v.push(ev.clone());
        }
        Ok(())
    }
}

#[test]
fn full_queue_drops_are_counted() {
    let mut bus = Bus::new(4);
    let p = bus.publisher("test");
    for i in 0..10 {
        assert!(p.publish(Event::syscall(0, i, FAKE, FAKE, Cow::Borrowed("getpid"))));
    }
    assert_eq!(p.stats.published.load(Ordering::Relaxed), 4);
    assert_eq!(p.stats.dropped_queue_full.load(Ordering::Relaxed), 6);
    let got = Arc::new(Mutex::new(Vec::new()));
    let mut subs: Vec<Box<dyn Subscriber + Send>> = vec![Box::new(Collect(Arc::clone(&got)))];
    drop(p);
    let n = bus
        .run(&mut Tracker::default(), &mut subs, &AtomicU64::new(0))
        .unwrap();
    assert_eq!(n, 4);
    let nums: Vec<u64> = got.lock().unwrap().iter().map(|e| e.num).collect();
    assert_eq!(nums, vec![1, 2, 3, 4]);
}

#[test]
fn inotify_fallback_reports_changes_in_the_tree() {
    let dir = tempfile::tempdir().unwrap();
    let root = std::fs::canonicalize(dir.path()).unwrap();
    std::fs::create_dir(root.join("sub")).unwrap();
    let ino = Inotify::open(std::slice::from_ref(&root)).unwrap();
    let mut bus = Bus::new(1024);
    let p = bus.publisher("inotify");
    let stop = Arc::new(AtomicBool::new(false));
    let s2 = Arc::clone(&stop);
    let th = std::thread::spawn(move || ino.run(&p, &s2));
    let a = root.join("sub/a");
    std::fs::write(&a, b"1").unwrap();
    std::fs::rename(&a, root.join("b")).unwrap();
    std::fs::create_dir(root.join("new")).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    // The new directory is watched too.
    std::fs::write(root.join("new/c"), b"1").unwrap();
    std::fs::remove_file(root.join("b")).unwrap();
    std::thread::sleep(Duration::from_millis(500));
    stop.store(true, Ordering::Relaxed);
    th.join().unwrap();
    let got = Arc::new(Mutex::new(Vec::new()));
    let mut subs: Vec<Box<dyn Subscriber + Send>> = vec![Box::new(Collect(Arc::clone(&got)))];
    bus.run(&mut Tracker::default(), &mut subs, &AtomicU64::new(0))
        .unwrap();
    let evs = got.lock().unwrap();
    let has = |ty: &str, path: &std::path::Path| {
        evs.iter().any(|e| {
            e.source == Source::Filewatch
                && e.ty == ty
                && e.args.get("path") == Some(&Value::Path(path.to_string_lossy().into_owned()))
        })
    };
    assert!(has("create", &a), "{evs:?}");
    assert!(has("modify", &a));
    let ren = evs.iter().find(|e| e.ty == "rename").expect("rename event");
    assert_eq!(
        ren.args.get("oldpath"),
        Some(&Value::Path(a.to_string_lossy().into_owned()))
    );
    assert!(has("create", &root.join("new")));
    assert!(has("create", &root.join("new/c")), "{evs:?}");
    assert!(has("delete", &root.join("b")));
}
