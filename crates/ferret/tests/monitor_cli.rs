//! `ferret monitor` on the live host (root): process, network and file events with their
//! fields, a bundled rule on a prctl rename, restoration of the audit configuration (exit,
//! SIGINT, SIGTERM, and after SIGKILL on the next start), an exec flood with bounded memory
//! and reported drops, and `ferret monitor query` over the stored session.
//!
//! Other tests run on the same machine at the same time: every check selects what this
//! test itself caused (its pids, ports and paths).

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use serde_json::Value;

const FERRET: &str = env!("CARGO_BIN_EXE_ferret");
const HELPERS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/monitor_helpers");
/// Documented bound of the monitor's peak resident memory under the flood (docs/monitor.md).
const VM_HWM_BOUND_KIB: u64 = 128 * 1024;

/// Audit has one configuration per host: the tests of this file take turns.
static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .map(|l| l.split_whitespace().nth(2) == Some("0"))
        })
        .unwrap_or(false)
}

fn require_root() -> bool {
    if !is_root() {
        eprintln!("skipped: ferret monitor needs root (CI runs these tests as root)");
        return false;
    }
    assert!(
        Path::new("/usr/sbin/auditctl").exists() || Path::new("/sbin/auditctl").exists(),
        "auditctl missing: install the auditd package (scripts/apt-packages.txt)"
    );
    true
}

fn compile(dir: &Path, name: &str) -> PathBuf {
    let out = dir.join(name);
    let st = Command::new("cc")
        .args(["-O2", "-o"])
        .arg(&out)
        .arg(format!("{HELPERS}/{name}.c"))
        .status()
        .expect("run cc (build-essential)");
    assert!(st.success(), "compiling {name}.c failed");
    out
}

/// Lets a monitor restore what an earlier, killed run of these tests left (every start
/// restores state files of dead monitors), so that the "before" snapshot is the host's own.
fn restore_leftovers() {
    let st = Command::new(FERRET)
        .args([
            "monitor",
            "--no-audit",
            "--alerts-only",
            "--duration",
            "0.1",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("ferret monitor");
    assert!(st.success());
}

/// What auditctl shows of the configuration ferret may change.
fn audit_config() -> (BTreeSet<String>, Vec<String>) {
    let s = Command::new("auditctl")
        .arg("-s")
        .output()
        .expect("auditctl -s");
    let status: BTreeSet<String> = String::from_utf8_lossy(&s.stdout)
        .lines()
        .filter(|l| {
            ["enabled ", "pid ", "backlog_limit ", "backlog_wait_time "]
                .iter()
                .any(|k| l.starts_with(k))
        })
        .map(str::to_owned)
        .collect();
    let l = Command::new("auditctl")
        .arg("-l")
        .output()
        .expect("auditctl -l");
    let rules = String::from_utf8_lossy(&l.stdout)
        .lines()
        .map(str::to_owned)
        .collect();
    (status, rules)
}

struct Monitor {
    child: Child,
    stdout: mpsc::Receiver<String>,
    stderr: mpsc::Receiver<String>,
    log: Vec<String>,
}

fn lines_of(r: impl std::io::Read + Send + 'static) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for l in BufReader::new(r).lines() {
            let Ok(l) = l else { break };
            if tx.send(l).is_err() {
                break;
            }
        }
    });
    rx
}

impl Monitor {
    fn start(args: &[&str]) -> Monitor {
        let mut child = Command::new(FERRET)
            .arg("monitor")
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start ferret monitor");
        let stdout = lines_of(child.stdout.take().expect("stdout"));
        let stderr = lines_of(child.stderr.take().expect("stderr"));
        let mut m = Monitor {
            child,
            stdout,
            stderr,
            log: Vec::new(),
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            match m.stderr.recv_timeout(Duration::from_millis(200)) {
                Ok(l) => {
                    let ready = l.contains("ferret monitor: ready");
                    m.log.push(l);
                    if ready {
                        break;
                    }
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    panic!("ferret monitor exited before ready:\n{}", m.log.join("\n"))
                }
            }
            assert!(Instant::now() < deadline, "monitor not ready: {:?}", m.log);
        }
        m
    }

    fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    fn signal(&self, sig: &str) {
        let st = Command::new("kill")
            .args([&format!("-{sig}"), &self.pid().to_string()])
            .status()
            .expect("kill");
        assert!(st.success());
    }

    /// Waits for exit; returns (success, stdout lines, stderr lines).
    fn finish(mut self) -> (bool, Vec<String>, Vec<String>) {
        let st = self.child.wait().expect("wait monitor");
        let out: Vec<String> = self.stdout.iter().collect();
        self.log.extend(self.stderr.iter());
        (st.success(), out, self.log)
    }

    fn vm_hwm_kib(&self) -> Option<u64> {
        let s = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).ok()?;
        s.lines()
            .find(|l| l.starts_with("VmHWM:"))?
            .split_whitespace()
            .nth(1)?
            .parse()
            .ok()
    }
}

/// User plus system CPU time of a process, seconds.
fn cpu_seconds(pid: i32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<f64> = rest
        .split_whitespace()
        .skip(11)
        .take(2)
        .filter_map(|v| v.parse().ok())
        .collect();
    // Clock ticks are 100 per second on Linux.
    f.iter().sum::<f64>() / 100.0
}

fn json_lines(lines: &[String]) -> (Vec<Value>, Vec<Value>) {
    let mut events = Vec::new();
    let mut alerts = Vec::new();
    for l in lines {
        let v: Value = serde_json::from_str(l).unwrap_or_else(|e| panic!("bad JSON line {l}: {e}"));
        if v.get("rule").is_some() {
            alerts.push(v);
        } else {
            events.push(v);
        }
    }
    (events, alerts)
}

fn arg<'a>(ev: &'a Value, name: &str) -> Option<&'a Value> {
    ev.get("args")?.get(name)
}

fn sockaddr_port(ev: &Value, name: &str) -> Option<u64> {
    arg(ev, name)?.get("sockaddr")?.get("port")?.as_u64()
}

fn path_arg(ev: &Value, name: &str) -> Option<String> {
    arg(ev, name)?.get("path")?.as_str().map(str::to_owned)
}

fn state_file(pid: i32) -> PathBuf {
    PathBuf::from(format!("/var/lib/ferret/monitor/{pid}.json"))
}

fn no_fanotify_of(pid: i32) {
    // The monitor is gone; its fanotify group (and marks) must be too.
    assert!(
        !Path::new(&format!("/proc/{pid}")).exists(),
        "monitor {pid} still running"
    );
    let ferret = std::fs::canonicalize(FERRET).expect("ferret path");
    for e in std::fs::read_dir("/proc").expect("/proc").flatten() {
        let p = e.path();
        if std::fs::read_link(p.join("exe")).ok().as_deref() != Some(ferret.as_path()) {
            continue;
        }
        let Ok(fds) = std::fs::read_dir(p.join("fdinfo")) else {
            continue;
        };
        for f in fds.flatten() {
            let info = std::fs::read_to_string(f.path()).unwrap_or_default();
            assert!(
                !info.contains("fanotify"),
                "a ferret process ({}) still holds fanotify marks",
                p.display()
            );
        }
    }
}

#[test]
fn monitor_reports_processes_network_files_and_restores_audit() {
    if !require_root() {
        return;
    }
    let _g = serial();
    let tmp = tempfile::Builder::new()
        .prefix("ferret-mon-")
        .tempdir_in("/tmp")
        .expect("tempdir");
    let dir = std::fs::canonicalize(tmp.path()).expect("canonical tmp");
    let tools = tempfile::tempdir().expect("tools dir");
    let rename = compile(tools.path(), "rename");
    let store = tools.path().join("session.db");
    restore_leftovers();
    let before = audit_config();

    let watch = dir.to_string_lossy().into_owned();
    let store_s = store.to_string_lossy().into_owned();
    let mon = Monitor::start(&[
        "--json",
        "--watch",
        &watch,
        "--store",
        &store_s,
        "--stats-every",
        "1",
        "--share-audit",
    ]);
    let me = std::process::id() as u64;

    // Processes: a child with its own argv and cwd, then a prctl rename.
    let sleeper = Command::new("/bin/sleep")
        .arg("0.2")
        .current_dir(&dir)
        .spawn()
        .expect("sleep");
    let sleeper_pid = u64::from(sleeper.id());
    let out = sleeper.wait_with_output().expect("wait sleep");
    assert!(out.status.success());
    let renamer = Command::new(&rename)
        .arg("kworker/0:7")
        .spawn()
        .expect("rename helper");
    let renamer_pid = u64::from(renamer.id());
    assert!(renamer.wait_with_output().expect("wait").status.success());

    // Network on loopback: bind, connect, accept.
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = u64::from(listener.local_addr().expect("addr").port());
    let client = TcpStream::connect(("127.0.0.1", port as u16)).expect("connect");
    let client_port = u64::from(client.local_addr().expect("local").port());
    let (_server_side, _) = listener.accept().expect("accept");

    // Files in the watched directory.
    let f1 = dir.join("f1");
    let f2 = dir.join("f2");
    std::fs::write(&f1, b"hello").expect("create");
    std::fs::write(&f1, b"hello again").expect("modify");
    std::fs::rename(&f1, &f2).expect("rename");
    std::fs::set_permissions(&f2, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    // The new mode is read when the event arrives: delete another file, keep f2 until the end.
    let f3 = dir.join("f3");
    std::fs::write(&f3, b"x").expect("create f3");
    std::fs::remove_file(&f3).expect("delete");

    std::thread::sleep(Duration::from_secs(3));
    let mon_pid = mon.pid();
    assert!(state_file(mon_pid).exists(), "no state file while running");
    mon.signal("INT");
    let (ok, out, log) = mon.finish();
    assert!(ok, "monitor failed:\n{}", log.join("\n"));
    let (events, alerts) = json_lines(&out);

    // exec of the sleeper: exe, argv, cwd, uid, parent.
    let exec = events
        .iter()
        .find(|e| e["type"] == "execve" && e["pid"].as_u64() == Some(sleeper_pid))
        .unwrap_or_else(|| panic!("no execve of pid {sleeper_pid}"));
    assert_eq!(exec["source"], "syscall");
    assert_eq!(exec["ret"], 0);
    assert_eq!(
        arg(exec, "argv").and_then(|a| a.get("strs")),
        Some(&serde_json::json!(["/bin/sleep", "0.2"]))
    );
    assert!(
        path_arg(exec, "filename").is_some_and(|f| f.ends_with("/sleep")),
        "{exec}"
    );
    let proc = &exec["proc"];
    assert_eq!(proc["ppid"].as_u64(), Some(me), "{exec}");
    assert_eq!(proc["uid"], 0);
    assert_eq!(proc["cwd"].as_str(), Some(watch.as_str()), "{exec}");
    assert!(
        proc["exepath"]
            .as_str()
            .is_some_and(|p| p.ends_with("/sleep")),
        "{exec}"
    );
    assert_eq!(proc["exe"], "/bin/sleep");
    // fork (from this process) and exit of the sleeper.
    assert!(
        events.iter().any(|e| e["type"] == "clone"
            && e["pid"].as_u64() == Some(me)
            && e["ret"].as_u64() == Some(sleeper_pid)),
        "no clone of {sleeper_pid}"
    );
    assert!(
        events
            .iter()
            .any(|e| e["type"] == "procexit" && e["pid"].as_u64() == Some(sleeper_pid)),
        "no procexit of {sleeper_pid}"
    );

    // Network events of this process.
    let mine = |ty: &str| {
        events
            .iter()
            .filter(|e| e["type"] == ty && e["pid"].as_u64() == Some(me))
            .collect::<Vec<_>>()
    };
    assert!(
        mine("bind").iter().any(
            |e| arg(e, "addr").and_then(|a| a["sockaddr"]["ip"].as_str()) == Some("127.0.0.1")
                && e["ret"] == 0
        ),
        "no bind to 127.0.0.1: {:?}",
        mine("bind")
    );
    assert!(
        mine("connect")
            .iter()
            .any(|e| sockaddr_port(e, "addr") == Some(port) && e["ret"] == 0),
        "no connect to port {port}"
    );
    assert!(
        mine("accept4")
            .iter()
            .chain(mine("accept").iter())
            .any(|e| sockaddr_port(e, "addr") == Some(client_port)
                && e["ret"].as_i64().is_some_and(|r| r >= 0)),
        "no accept of the client port {client_port}"
    );

    // File events of this process under the watched directory.
    let f1s = f1.to_string_lossy().into_owned();
    let f2s = f2.to_string_lossy().into_owned();
    let file = |ty: &str, path: &str| {
        events.iter().find(|e| {
            e["source"] == "filewatch"
                && e["type"] == ty
                && e["pid"].as_u64() == Some(me)
                && path_arg(e, "path").as_deref() == Some(path)
        })
    };
    assert!(file("create", &f1s).is_some(), "no create of {f1s}");
    assert!(file("modify", &f1s).is_some(), "no modify of {f1s}");
    let ren = file("rename", &f2s).unwrap_or_else(|| panic!("no rename to {f2s}"));
    assert_eq!(path_arg(ren, "oldpath").as_deref(), Some(f1s.as_str()));
    let ch = file("attrib", &f2s).unwrap_or_else(|| panic!("no attrib of {f2s}"));
    assert_eq!(
        arg(ch, "mode").and_then(|m| m["flags"]["value"].as_u64()),
        Some(0o755)
    );
    let f3s = f3.to_string_lossy().into_owned();
    assert!(file("delete", &f3s).is_some(), "no delete of {f3s}");
    assert!(file("open", &f1s).is_some(), "no open of {f1s}");

    // The bundled prctl rule fired on the renamed helper.
    let alert = alerts
        .iter()
        .find(|a| {
            a["rule"] == "Process renamed with prctl PR_SET_NAME"
                && a["output_fields"]["proc.pid"].as_u64() == Some(renamer_pid)
        })
        .unwrap_or_else(|| panic!("no prctl alert for pid {renamer_pid}: {alerts:?}"));
    assert_eq!(alert["output_fields"]["proc.name"], "kworker/0:7");
    assert_eq!(alert["priority"], "Warning");

    // Counters reported periodically and on exit.
    assert!(
        log.iter().any(|l| l.contains("stats audit: published=")),
        "{log:?}"
    );
    assert!(
        log.iter()
            .any(|l| l.contains("final proc-connector: published=")
                && l.contains("dropped_queue_full=")
                && l.contains("lost_kernel="))
    );
    // Everything restored.
    assert_eq!(audit_config(), before, "audit configuration not restored");
    assert!(!state_file(mon_pid).exists(), "state file left behind");
    no_fanotify_of(mon_pid);

    // The stored session answers SQL (read-only), as a table and as JSON.
    let q = |sql: &str, json: bool| {
        let mut c = Command::new(FERRET);
        c.args(["monitor", "query", "--store", &store_s]);
        if json {
            c.arg("--json");
        }
        c.arg(sql).output().expect("ferret monitor query")
    };
    let o = q(
        &format!(
            "SELECT pid, ppid, uid, path, cmdline, cwd FROM process_events WHERE action = 'exec' AND pid = {sleeper_pid}"
        ),
        true,
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let rows: Vec<Value> = String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("row JSON"))
        .collect();
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0]["ppid"].as_u64(), Some(me));
    assert_eq!(rows[0]["cmdline"], "/bin/sleep 0.2");
    assert_eq!(rows[0]["cwd"].as_str(), Some(watch.as_str()));
    let o = q(
        &format!(
            "SELECT action, remote_port FROM socket_events WHERE pid = {me} AND action = 'connect' AND remote_port = {port}"
        ),
        false,
    );
    let table = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(o.status.success());
    assert!(table.starts_with("action  | remote_port"), "{table}");
    assert!(table.contains(&format!("connect | {port}")), "{table}");
    let o = q(
        &format!(
            "SELECT action, old_path FROM file_events WHERE pid = {me} AND target_path = '{f2s}' ORDER BY id"
        ),
        true,
    );
    let text = String::from_utf8_lossy(&o.stdout).into_owned();
    for a in ["rename", "attrib"] {
        assert!(
            text.contains(&format!("\"action\":\"{a}\"")),
            "{a} missing: {text}"
        );
    }
    let o = q(
        &format!("SELECT rule FROM alerts WHERE pid = {renamer_pid}"),
        true,
    );
    assert!(String::from_utf8_lossy(&o.stdout).contains("Process renamed with prctl PR_SET_NAME"));
    let o = q("DELETE FROM process_events", false);
    assert!(!o.status.success(), "a write statement was accepted");
    assert!(String::from_utf8_lossy(&o.stderr).contains("read-only"));
}

#[test]
fn monitor_restores_after_sigterm_and_after_a_crash() {
    if !require_root() {
        return;
    }
    let _g = serial();
    restore_leftovers();
    let before = audit_config();

    // SIGTERM: restored on the way out.
    let mon = Monitor::start(&["--alerts-only", "--share-audit"]);
    let pid = mon.pid();
    let during = audit_config();
    assert!(
        during
            .1
            .iter()
            .any(|r| r.contains(&format!("ferret-monitor/{pid}"))),
        "ferret's rules not added: {during:?}"
    );
    mon.signal("TERM");
    let (ok, _, log) = mon.finish();
    assert!(ok, "{log:?}");
    assert_eq!(audit_config(), before);

    // SIGKILL: nothing restored until the next start.
    let mon = Monitor::start(&["--alerts-only", "--share-audit"]);
    let pid = mon.pid();
    mon.signal("KILL");
    let (ok, _, _) = mon.finish();
    assert!(!ok);
    let left = audit_config();
    assert!(
        left.1
            .iter()
            .any(|r| r.contains(&format!("ferret-monitor/{pid}"))),
        "rules of the killed monitor should still be there: {left:?}"
    );
    assert!(state_file(pid).exists(), "no state file after SIGKILL");
    let next = Monitor::start(&["--alerts-only", "--share-audit", "--duration", "1"]);
    let (ok, _, log) = next.finish();
    assert!(ok, "{log:?}");
    assert!(
        log.iter()
            .any(|l| l.contains(&format!("left by ferret monitor pid {pid}"))),
        "{log:?}"
    );
    assert!(!state_file(pid).exists());
    assert_eq!(audit_config(), before, "not restored after the crash");
}

#[test]
fn monitor_survives_an_exec_flood_with_bounded_memory() {
    if !require_root() {
        return;
    }
    let _g = serial();
    restore_leftovers();
    let before = audit_config();
    let tools = tempfile::tempdir().expect("tools dir");
    let flood = compile(tools.path(), "flood");
    let rename = compile(tools.path(), "rename");
    let mon = Monitor::start(&[
        "--alerts-only",
        "--json",
        "--share-audit",
        "--stats-every",
        "2",
    ]);
    let t0 = Instant::now();
    let out = Command::new(&flood)
        .args(["4", "30", "100000"])
        .output()
        .expect("flood");
    assert!(out.status.success());
    let execs: u64 = String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .expect("count");
    let secs = t0.elapsed().as_secs_f64();
    eprintln!("flood: {execs} executions in {secs:.1} s");
    assert!(execs >= 1000, "the flood ran only {execs} executions");
    // Still alive and judging: a rename after the flood raises its alert.
    let mut alert_seen = false;
    let mut hwm = 0;
    let renamer = Command::new(&rename)
        .arg("kworker/1:3")
        .spawn()
        .expect("rename");
    let rpid = u64::from(renamer.id());
    assert!(renamer.wait_with_output().expect("wait").status.success());
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut seen_lines = 0u64;
    while Instant::now() < deadline && !alert_seen {
        hwm = hwm.max(mon.vm_hwm_kib().unwrap_or(0));
        if let Ok(l) = mon.stdout.recv_timeout(Duration::from_millis(500)) {
            seen_lines += 1;
            if let Ok(v) = serde_json::from_str::<Value>(&l) {
                alert_seen = v["rule"] == "Process renamed with prctl PR_SET_NAME"
                    && v["output_fields"]["proc.pid"].as_u64() == Some(rpid);
            }
        }
    }
    hwm = hwm.max(mon.vm_hwm_kib().unwrap_or(0));
    assert!(
        Path::new(&format!("/proc/{}", mon.pid())).exists(),
        "monitor died during the flood"
    );
    let cpu = cpu_seconds(mon.pid());
    mon.signal("TERM");
    let (ok, _, log) = mon.finish();
    assert!(ok, "{log:?}");
    for l in log.iter().filter(|l| l.contains("final")) {
        eprintln!("{l}");
    }
    eprintln!(
        "monitor VmHWM {hwm} KiB (bound {VM_HWM_BOUND_KIB}), {seen_lines} output lines, {cpu:.2} s CPU"
    );
    assert!(alert_seen, "no alert for the rename after the flood");
    assert!(hwm > 0 && hwm < VM_HWM_BOUND_KIB, "VmHWM {hwm} KiB");
    let periodic = log
        .iter()
        .filter(|l| l.contains("stats proc-connector:"))
        .count();
    assert!(periodic >= 2, "periodic counters missing: {log:?}");
    let fin = |src: &str, key: &str| -> u64 {
        log.iter()
            .find(|l| l.contains(&format!("final {src}: ")))
            .and_then(|l| {
                l.split_whitespace()
                    .find_map(|w| w.strip_prefix(&format!("{key}=")))
            })
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no final {src} {key}: {log:?}"))
    };
    // Every execution is either published or accounted for as lost or dropped.
    let audit_seen = fin("audit", "published")
        + fin("audit", "dropped_queue_full")
        + fin("audit", "lost_kernel");
    assert!(audit_seen > 0);
    // Each execution is a fork and an exit: unless the kernel reported losses, every one is
    // either published or counted as dropped.
    let conn_seen =
        fin("proc-connector", "published") + fin("proc-connector", "dropped_queue_full");
    if fin("proc-connector", "lost_kernel") == 0 {
        assert!(
            conn_seen >= execs,
            "connector saw {conn_seen} < {execs} executions"
        );
    }
    assert_eq!(audit_config(), before, "audit configuration not restored");
}

#[test]
fn monitor_without_audit_reads_execs_from_proc_and_renames_from_comm() {
    if !require_root() {
        return;
    }
    let _g = serial();
    restore_leftovers();
    let before = audit_config();
    let tools = tempfile::tempdir().expect("tools dir");
    let rename = compile(tools.path(), "rename");
    let mon = Monitor::start(&[
        "--no-audit",
        "--format",
        "%evt.type pid=%proc.pid name=%proc.name exe=%proc.exepath args=%proc.args cwd=%proc.cwd",
    ]);
    assert!(
        audit_config() == before,
        "--no-audit changed the audit configuration"
    );
    let sleeper = Command::new("/bin/sleep")
        .arg("0.5")
        .current_dir(tools.path())
        .spawn()
        .expect("sleep");
    let spid = sleeper.id();
    assert!(sleeper.wait_with_output().expect("wait").status.success());
    let renamer = Command::new(&rename)
        .arg("ksoftirqd/3")
        .spawn()
        .expect("rename");
    let rpid = renamer.id();
    assert!(renamer.wait_with_output().expect("wait").status.success());
    std::thread::sleep(Duration::from_secs(2));
    mon.signal("TERM");
    let (ok, out, log) = mon.finish();
    assert!(ok, "{log:?}");
    let cwd = std::fs::canonicalize(tools.path()).expect("cwd");
    let want = format!(
        "execve pid={spid} name=sleep exe=/usr/bin/sleep args=0.5 cwd={}",
        cwd.display()
    );
    assert!(out.iter().any(|l| l == &want), "no line {want:?}");
    // The comm change of the renamed helper reaches the bundled rule as a prctl rename.
    assert!(
        out.iter().any(
            |l| l.contains("Process renamed itself to ksoftirqd/3 via prctl")
                && l.contains(&format!("pid={rpid}"))
        ),
        "no rename alert for {rpid}"
    );
    assert_eq!(audit_config(), before);
}

#[test]
fn monitor_leaves_another_audit_daemon_alone_or_shares_it() {
    if !require_root() {
        return;
    }
    let _g = serial();
    restore_leftovers();
    let before = audit_config();
    let tools = tempfile::tempdir().expect("tools dir");
    let stub = compile(tools.path(), "auditd_stub");
    let mut daemon = Command::new(&stub)
        .stdout(Stdio::piped())
        .spawn()
        .expect("audit daemon stand-in");
    let mut first = String::new();
    BufReader::new(daemon.stdout.take().expect("stdout"))
        .read_line(&mut first)
        .expect("stub output");
    assert_eq!(first.trim(), "registered");
    let dpid = daemon.id();
    let owned = audit_config();
    assert!(owned.0.contains(&format!("pid {dpid}")), "{owned:?}");

    // Without --share-audit: audit untouched, a warning, the other sources still run.
    let mon = Monitor::start(&["--alerts-only"]);
    assert_eq!(audit_config(), owned);
    mon.signal("TERM");
    let (ok, _, log) = mon.finish();
    assert!(ok, "{log:?}");
    assert!(
        log.iter()
            .any(|l| l.contains(&format!("owned by another daemon (pid {dpid})"))),
        "{log:?}"
    );
    assert!(
        log.iter()
            .any(|l| l.contains("ready (sources: proc-connector")),
        "{log:?}"
    );

    // With --share-audit: records through the multicast group, the daemon stays registered.
    let mon = Monitor::start(&["--json", "--share-audit"]);
    assert!(
        mon.log.iter().any(|l| l.contains("audit(shared)")),
        "{:?}",
        mon.log
    );
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = u64::from(listener.local_addr().expect("addr").port());
    drop(TcpStream::connect(("127.0.0.1", port as u16)).expect("connect"));
    std::thread::sleep(Duration::from_secs(2));
    mon.signal("TERM");
    let (ok, out, log) = mon.finish();
    assert!(ok, "{log:?}");
    let (events, _) = json_lines(&out);
    let me = u64::from(std::process::id());
    assert!(
        events.iter().any(|e| e["type"] == "connect"
            && e["pid"].as_u64() == Some(me)
            && sockaddr_port(e, "addr") == Some(port)),
        "no connect to {port} through the shared audit stream"
    );
    assert_eq!(audit_config(), owned, "shared monitor did not restore");

    let st = Command::new("kill")
        .args(["-TERM", &dpid.to_string()])
        .status()
        .expect("kill");
    assert!(st.success());
    assert!(daemon.wait().expect("wait stub").success());
    assert_eq!(audit_config(), before);
}

#[test]
fn monitor_rejects_bad_arguments_before_touching_the_host() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let cases: [(&[&str], &str); 6] = [
        (
            &["--watch", "/nonexistent/ferret-watch"],
            "--watch /nonexistent/ferret-watch",
        ),
        (&["--filter", "proc.name = = x"], "--filter"),
        (&["--format", "%no.such.field"], "--format"),
        (&["--rules", "/nonexistent/rules.yaml"], "rules.yaml"),
        (&["--duration", "0"], "--duration 0: expected a positive"),
        (
            &["query", "--store", "/nonexistent/s.db", "SELECT 1"],
            "no store at /nonexistent/s.db",
        ),
    ];
    for (args, want) in cases {
        let o = Command::new(FERRET)
            .arg("monitor")
            .args(args)
            .current_dir(tmp.path())
            .output()
            .expect("ferret monitor");
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(want), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{args:?}: {err}");
    }
}
