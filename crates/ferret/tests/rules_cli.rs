//! `ferret rules check|run` and `ferret fields` on the command line.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::Value;

fn falco(name: &str) -> PathBuf {
    Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/data/falco"
    ))
    .join(name)
}

fn ferret(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ferret"))
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run ferret: {e}"))
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

const EVENTS: &str = r#"{"v":1,"num":1,"ts":1700000000000000000,"type":"getpid","pid":100,"tid":100,"ret":100,"proc":{"ppid":1,"name":"sample","exepath":"/tmp/sample","uid":1000}}
{"num":2,"ts":1700000000000001000,"type":"openat","pid":100,"tid":100,"ret":3,"args":{"dirfd":{"fd":-100},"name":{"path":"/etc/shadow"},"flags":{"flags":{"value":0,"text":"O_RDONLY"}}}}
{"num":3,"ts":1700000000000002000,"type":"unlinkat","pid":100,"tid":100,"ret":0,"args":{"dirfd":{"fd":-100},"name":{"path":"/tmp/sample"},"flags":{"flags":{"value":0,"text":""}}}}
"#;

fn events_file(dir: &Path, content: &str) -> PathBuf {
    let p = dir.join("events.jsonl");
    std::fs::write(&p, content).unwrap_or_else(|e| panic!("write {}: {e}", p.display()));
    p
}

#[test]
fn check_loads_the_falco_files() {
    let files: Vec<String> = [
        "falco_rules.yaml",
        "falco-incubating_rules.yaml",
        "falco-sandbox_rules.yaml",
    ]
    .iter()
    .map(|f| falco(f).to_string_lossy().into_owned())
    .collect();
    let mut args = vec!["rules", "check"];
    args.extend(files.iter().map(String::as_str));
    let out = ferret(&args);
    let so = text(&out.stdout);
    assert!(out.status.success(), "{so}\n{}", text(&out.stderr));
    assert!(so.contains("ok: 93 rules"), "{so}");
    assert!(
        so.contains("falco_rules.yaml: 25 rules, 87 macros, 49 lists"),
        "{so}"
    );
    let out = ferret(&["rules", "check"]);
    assert!(
        out.status.success() && text(&out.stdout).contains("<bundled>: 33 rules"),
        "{}",
        text(&out.stdout)
    );
}

#[test]
fn check_reports_errors_with_file_and_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bad = dir.path().join("bad.yaml");
    std::fs::write(&bad, "- list: l\n  items: [a]\n\n- rule: Typo\n  desc: d\n  condition: evt.type = open and fd.nmae = x\n  output: o\n  priority: INFO\n")
        .expect("write");
    let out = ferret(&["rules", "check", &bad.to_string_lossy()]);
    assert_eq!(out.status.code(), Some(1));
    let se = text(&out.stderr);
    assert!(
        se.contains("bad.yaml:4") && se.contains("rule 'Typo'") && se.contains("fd.nmae"),
        "{se}"
    );
}

#[test]
fn run_prints_falco_shaped_alerts() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ev = events_file(dir.path(), EVENTS);
    let report = dir.path().join("report.json");
    let out = ferret(&[
        "rules",
        "run",
        "--events",
        &ev.to_string_lossy(),
        "--report",
        &report.to_string_lossy(),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let alerts: Vec<Value> = text(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    let rules: Vec<&str> = alerts.iter().filter_map(|a| a["rule"].as_str()).collect();
    assert_eq!(rules, ["Shadow file read", "Executable deleted itself"]);
    for a in &alerts {
        for k in [
            "time",
            "rule",
            "priority",
            "output",
            "output_fields",
            "tags",
        ] {
            assert!(a.get(k).is_some(), "missing {k}: {a}");
        }
    }
    assert_eq!(alerts[0]["output_fields"]["fd.name"], "/etc/shadow");
    let rep: Value = serde_json::from_str(&std::fs::read_to_string(&report).expect("report"))
        .expect("report JSON");
    assert_eq!(rep["verdict"], "malicious");
    assert_eq!(rep["signatures"].as_array().map(Vec::len), Some(2));

    // --filter restricts the tested events; --rules with Falco's file.
    let out = ferret(&[
        "rules",
        "run",
        "--events",
        &ev.to_string_lossy(),
        "--filter",
        "evt.type = unlinkat",
    ]);
    assert_eq!(
        text(&out.stdout).lines().count(),
        1,
        "{}",
        text(&out.stdout)
    );
    let out = ferret(&[
        "rules",
        "run",
        "--rules",
        &falco("falco_rules.yaml").to_string_lossy(),
        "--events",
        &ev.to_string_lossy(),
    ]);
    assert!(
        text(&out.stdout).contains("\"rule\":\"Read sensitive file untrusted\""),
        "{}",
        text(&out.stdout)
    );

    // Events from standard input.
    let mut child = Command::new(env!("CARGO_BIN_EXE_ferret"))
        .args(["rules", "run", "--events", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(EVENTS.as_bytes())
        .expect("feed");
    let out = child.wait_with_output().expect("wait");
    assert_eq!(text(&out.stdout).lines().count(), 2);
}

#[test]
fn run_rejects_bad_input_clearly() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ev = events_file(dir.path(), "{\"type\":\"open\"}\n{not json\n");
    let out = ferret(&["rules", "run", "--events", &ev.to_string_lossy()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("event line 2"),
        "{}",
        text(&out.stderr)
    );
    let out = ferret(&[
        "rules",
        "run",
        "--events",
        &ev.to_string_lossy(),
        "--filter",
        "proc.name in (a,",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("--filter column"),
        "{}",
        text(&out.stderr)
    );
    let out = ferret(&["rules", "run", "--events", "/nonexistent/events.jsonl"]);
    assert!(
        text(&out.stderr).contains("cannot open /nonexistent/events.jsonl"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn fields_lists_the_registry() {
    let out = ferret(&["fields"]);
    let so = text(&out.stdout);
    assert!(out.status.success());
    for name in [
        "evt.type",
        "proc.aname[N]",
        "evt.arg.NAME|[N]",
        "fd.sip",
        "fd.net",
        "container.id",
    ] {
        assert!(so.contains(name), "{name} missing");
    }
    let out = ferret(&["fields", "--json"]);
    let v: Value = serde_json::from_slice(&out.stdout).expect("json");
    let arr = v.as_array().expect("array");
    assert!(arr.len() > 100);
    let cid = arr
        .iter()
        .find(|f| f["name"] == "container.id")
        .expect("container.id");
    assert_eq!(cid["absent"], true);
}
