//! `ferret audit` end to end: go-libaudit golden conformance through `--json`, filters,
//! rules on audit events, malformed lines, standard input.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::Value;

fn ferret() -> Command {
    Command::new(env!("CARGO_BIN_EXE_ferret"))
}

fn data_dir() -> PathBuf {
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/data/audit"
    ))
}

fn run_ok(cmd: &mut Command) -> Output {
    let out = cmd.output().expect("ferret runs");
    assert!(
        out.status.success(),
        "ferret failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn json_lines(out: &Output) -> Vec<Value> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad JSON line {l}: {e}")))
        .collect()
}

/// Go trims trailing zeros of the fraction; ferret always writes milliseconds.
fn normalize_ts(s: &str) -> String {
    let body = s.trim_end_matches('Z');
    let (main, frac) = body.split_once('.').unwrap_or((body, ""));
    format!("{main}.{frac:0<3}Z")
}

/// Fields of the golden file found in ferret's `--json` output: (matched, total).
fn conformance(log: &Path) -> (usize, usize) {
    let out = run_ok(ferret().arg("audit").arg("--json").arg(log));
    let mut ours: Vec<(String, u64, String, Value)> = Vec::new();
    let mut malformed = Vec::new();
    for ev in json_lines(&out) {
        if let Some(line) = ev.get("line").and_then(Value::as_u64) {
            malformed.push(line);
            continue;
        }
        let seq = ev["sequence"].as_u64().unwrap_or_default();
        let ts = ev["@timestamp"].as_str().unwrap_or_default().to_owned();
        for r in ev["records"].as_array().cloned().unwrap_or_default() {
            let rt = r["record_type"].as_str().unwrap_or_default().to_owned();
            ours.push((rt, seq, ts.clone(), r));
        }
    }
    let golden_path = PathBuf::from(format!("{}.golden", log.display()));
    let golden: Vec<Value> =
        serde_json::from_str(&std::fs::read_to_string(&golden_path).expect("golden file"))
            .expect("golden JSON");
    let mut used = vec![false; ours.len()];
    let (mut m, mut t) = (0, 0);
    for (i, g) in golden.iter().enumerate() {
        if g.is_null() {
            t += 1;
            m += usize::from(malformed.contains(&(i as u64 + 1)));
            continue;
        }
        let rt = g["record_type"].as_str().unwrap_or_default();
        let seq = g["sequence"].as_u64().unwrap_or_default();
        let ts = normalize_ts(g["@timestamp"].as_str().unwrap_or_default());
        let data: HashMap<String, Value> = g["data"]
            .as_object()
            .map(|o| o.clone().into_iter().collect())
            .unwrap_or_default();
        let has_keys = g.get("keys").is_some();
        t += 3 + data.len() + usize::from(has_keys);
        let Some(j) = (0..ours.len())
            .find(|&j| !used[j] && ours[j].0 == rt && ours[j].1 == seq && ours[j].2 == ts)
        else {
            eprintln!("{}: missing {rt} {seq}", log.display());
            continue;
        };
        used[j] = true;
        let r = &ours[j].3;
        m += 3;
        if has_keys {
            m += usize::from(r.get("keys") == g.get("keys"));
        }
        for (k, v) in &data {
            if r["data"].get(k) == Some(v) {
                m += 1;
            } else {
                eprintln!(
                    "{}: {rt} {seq} {k}: {:?} want {v}",
                    log.display(),
                    r["data"].get(k)
                );
            }
        }
    }
    (m, t)
}

#[test]
fn json_matches_go_libaudit_golden() {
    let mut logs: Vec<PathBuf> = std::fs::read_dir(data_dir())
        .expect("shared audit data")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "log"))
        .collect();
    logs.sort();
    assert!(logs.len() >= 7);
    let (mut m, mut t) = (0, 0);
    for log in &logs {
        let (a, b) = conformance(log);
        println!("{}: {a}/{b} fields", log.display());
        m += a;
        t += b;
    }
    let pct = 100.0 * m as f64 / t.max(1) as f64;
    println!("overall {m}/{t} ({pct:.1}%)");
    assert!(pct >= 95.0, "CLI conformance {pct:.1}%");
}

const CONNECT_LOG: &str = "\
type=SYSCALL msg=audit(1700000001.500:90): arch=c000003e syscall=42 success=no exit=-111 a0=3 a1=7ffc a2=10 a3=0 items=0 ppid=1 pid=4242 auid=1000 uid=1000 gid=1000 euid=1000 suid=1000 fsuid=1000 egid=1000 sgid=1000 fsgid=1000 tty=(none) ses=1 comm=\"nc\" exe=\"/usr/bin/nc.openbsd\" key=(null)
type=SOCKADDR msg=audit(1700000001.500:90): saddr=02000017C0A801010000000000000000
type=EOE msg=audit(1700000001.500:90):
this line is not an audit record
type=USER_LOGIN msg=audit(1700000002.000:91): pid=1 uid=0 auid=1000 ses=1 msg='op=login acct=\"bob\" exe=\"/usr/sbin/sshd\" hostname=? addr=10.1.1.1 terminal=ssh res=failed'
";

#[test]
fn filters_rules_stdin_and_malformed_lines() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("a.log");
    std::fs::write(&log, CONNECT_LOG).expect("write log");

    // Text output keeps the malformed line and interprets the records.
    let out = run_ok(ferret().arg("audit").arg(&log));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("syscall=connect") && text.contains("exit=ECONNREFUSED"),
        "{text}"
    );
    assert!(text.contains("addr=192.168.1.1 port=23"), "{text}");
    assert!(text.contains("malformed line 4"), "{text}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("4 records, 2 events") && err.contains("1 malformed"),
        "{err}"
    );

    // --filter on model fields; standard input.
    let mut child = ferret()
        .args([
            "audit",
            "--json",
            "--filter",
            "evt.type = user_login and evt.arg.result = fail",
            "-",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(CONNECT_LOG.as_bytes())
        .expect("write stdin");
    let out = child.wait_with_output().expect("wait");
    assert!(out.status.success());
    let evs: Vec<Value> = json_lines(&out)
        .into_iter()
        .filter(|v| v.get("records").is_some())
        .collect();
    assert_eq!(evs.len(), 1, "{evs:?}");
    assert_eq!(evs[0]["records"][0]["data"]["acct"], "bob");

    // Rules with source audit fire on the mapped connect event.
    let rules = dir.path().join("r.yaml");
    std::fs::write(
        &rules,
        "- rule: telnet out\n  desc: connection to a telnet port\n  condition: evt.type = connect and fd.sport = 23 and proc.name = nc\n  output: \"telnet connect by %proc.name to %fd.name\"\n  priority: WARNING\n  source: audit\n",
    )
    .expect("write rules");
    let out = run_ok(
        ferret()
            .arg("audit")
            .arg("--json")
            .arg("--rules")
            .arg(&rules)
            .arg(&log),
    );
    let alerts = json_lines(&out);
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert_eq!(alerts[0]["rule"], "telnet out");
    assert_eq!(alerts[0]["source"], "audit");

    // Model events for `ferret rules run`.
    let out = run_ok(ferret().arg("audit").arg("--events").arg(&log));
    let evs = json_lines(&out);
    assert_eq!(evs.len(), 2);
    assert_eq!(
        (&evs[0]["type"], &evs[0]["source"], &evs[0]["ret"]),
        (
            &Value::from("connect"),
            &Value::from("audit"),
            &Value::from(-111)
        )
    );

    // --passwd names uid fields (the numeric values stay in data).
    let passwd = dir.path().join("passwd");
    std::fs::write(
        &passwd,
        "root:x:0:0::/root:/bin/sh\nbob:x:1000:1000::/home/bob:/bin/sh\n",
    )
    .expect("write passwd");
    let out = run_ok(
        ferret()
            .arg("audit")
            .arg("--json")
            .arg("--passwd")
            .arg(&passwd)
            .arg(&log),
    );
    let evs = json_lines(&out);
    let sys = &evs[0]["records"][0];
    assert_eq!(
        (&sys["data"]["uid"], &sys["names"]["uid"]),
        (&Value::from("1000"), &Value::from("bob"))
    );
    assert_eq!(evs[2]["records"][0]["names"]["auid"], "bob");

    // A missing file is a clear error, not a panic.
    let out = ferret()
        .args(["audit", "/nonexistent/audit.log"])
        .output()
        .expect("runs");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot open /nonexistent/audit.log"));
}
