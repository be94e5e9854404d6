//! Done-when 3: report.json validates against docs/schema/analysis-report.schema.json,
//! and `ferret list` / `ferret show` read analyses back from the SQLite database.
//! Runs as root.

mod analyze_common;

use analyze_common::{FERRET, analyze, behave, require_root, scratch};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn schema_errors(doc: &Value) -> Vec<String> {
    let schema: Value = serde_json::from_str(
        &std::fs::read_to_string(repo().join("docs/schema/analysis-report.schema.json")).unwrap(),
    )
    .unwrap();
    let validator = jsonschema::validator_for(&schema).expect("schema compiles");
    validator
        .iter_errors(doc)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .take(20)
        .collect()
}

fn assert_valid(what: &str, doc: &Value) {
    let errors = schema_errors(doc);
    assert!(
        errors.is_empty(),
        "{what}: report does not match the schema:\n{}",
        errors.join("\n")
    );
}

#[test]
fn reports_match_the_schema() {
    require_root();
    let bin = behave();
    // Clean run, dropped ELF, network, denied call, signal exit, timeout.
    for (what, args) in [
        ("clean", vec!["--args", "clean"]),
        ("dropper", vec!["--args", "dropper"]),
        ("telnet", vec!["--args", "telnet"]),
        ("kmod", vec!["--trace-all", "--args", "kmod"]),
        ("prockill", vec!["--args", "prockill"]),
    ] {
        let run = analyze(&bin, &args);
        assert_valid(what, &run.report);
        run.cleanup();
    }
    let run = analyze(Path::new("/bin/sleep"), &["--timeout", "1", "--args", "30"]);
    assert_valid("sleep past the timeout", &run.report);
    // The schema is strict enough to catch a broken report.
    let mut broken = run.report.clone();
    broken["verdict"] = Value::from("benign");
    broken["limits"]
        .as_object_mut()
        .unwrap()
        .remove("timed_out");
    assert_eq!(
        schema_errors(&broken).len(),
        2,
        "{:?}",
        schema_errors(&broken)
    );
    run.cleanup();
}

#[test]
fn denied_calls_are_events() {
    require_root();
    let run = analyze(&behave(), &["--args", "kmod"]);
    assert_eq!(
        run.report["syscalls"]["denied"], 1,
        "{}",
        run.report["syscalls"]
    );
    let events = std::fs::read_to_string(run.out_dir.join("events.jsonl")).unwrap();
    let denied: Vec<Value> = events
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|e| e["args"]["denied"].is_object())
        .collect();
    assert_eq!(denied.len(), 1);
    assert_eq!(denied[0]["type"], "init_module");
    assert_eq!(denied[0]["ret"], -1);
    // Sandbox pid, not the host's.
    assert_eq!(denied[0]["pid"], run.report["processes"]["root"]);
    // Events are numbered 1..n without gaps.
    let nums: Vec<u64> = events
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["num"]
                .as_u64()
                .unwrap()
        })
        .collect();
    assert_eq!(nums, (1..=nums.len() as u64).collect::<Vec<_>>());
    assert_eq!(run.report["limits"]["events"]["recorded"], nums.len());
    run.cleanup();
}

#[test]
fn event_cap_is_reported() {
    require_root();
    let run = analyze(&behave(), &["--max-events", "5", "--args", "prockill"]);
    let ev = &run.report["limits"]["events"];
    assert_eq!(ev["recorded"], 5);
    assert!(ev["dropped"].as_u64().unwrap() > 10, "{ev}");
    let lines = std::fs::read_to_string(run.out_dir.join("events.jsonl"))
        .unwrap()
        .lines()
        .count();
    assert_eq!(lines, 5);
    run.cleanup();
}

fn ferret(args: &[&str]) -> std::process::Output {
    Command::new(FERRET)
        .args(args)
        .output()
        .expect("running ferret")
}

#[test]
fn list_and_show_read_back_from_sqlite() {
    require_root();
    let dir = scratch("db");
    let db = dir.join("ferret.db");
    let db_s = db.to_str().unwrap();
    let bin = behave();
    let mut outs = Vec::new();
    for (i, mode) in ["clean", "cron"].iter().enumerate() {
        let out = dir.join(format!("a{i}"));
        let o = ferret(&[
            "analyze",
            bin.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--db",
            db_s,
            "--args",
            mode,
        ]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let text = String::from_utf8_lossy(&o.stdout);
        assert!(text.contains("verdict:"), "{text}");
        outs.push(out);
    }
    let o = ferret(&["list", "--db", db_s]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let text = String::from_utf8_lossy(&o.stdout).into_owned();
    let rows: Vec<&str> = text.lines().skip(1).collect();
    assert_eq!(rows.len(), 2, "{text}");
    assert!(
        rows[0].contains("suspicious") && rows[0].ends_with("behave"),
        "{text}"
    );
    assert!(
        rows[1].contains("clean") && rows[1].ends_with("behave"),
        "{text}"
    );

    let o = ferret(&["list", "--db", db_s, "--json"]);
    let list: Value = serde_json::from_slice(&o.stdout).unwrap();
    let ids: Vec<i64> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids.len(), 2);
    for (id, out) in ids.iter().rev().zip(&outs) {
        let o = ferret(&["show", &id.to_string(), "--db", db_s, "--json"]);
        assert!(o.status.success());
        let stored: Value = serde_json::from_slice(&o.stdout).unwrap();
        let on_disk: Value =
            serde_json::from_str(&std::fs::read_to_string(out.join("report.json")).unwrap())
                .unwrap();
        assert_eq!(stored, on_disk);
        assert_valid("stored report", &stored);
    }
    let o = ferret(&["show", &ids[0].to_string(), "--db", db_s]);
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(
        text.contains("T1053.003") && text.contains("Cron persistence"),
        "{text}"
    );
    let o = ferret(&["show", "999999", "--db", db_s]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("no analysis with id 999999"));

    // A corrupt database: clear error, file untouched, no rows lost elsewhere.
    let junk_db = dir.join("junk.db");
    let junk = b"not a database at all\n".repeat(100);
    std::fs::write(&junk_db, &junk).unwrap();
    let o = ferret(&["list", "--db", junk_db.to_str().unwrap()]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("corrupt or not an SQLite database"), "{err}");
    assert_eq!(std::fs::read(&junk_db).unwrap(), junk);
    let o = ferret(&["list", "--db", db_s, "--json"]);
    assert_eq!(
        serde_json::from_slice::<Value>(&o.stdout)
            .unwrap()
            .as_array()
            .unwrap()
            .len(),
        2
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn fake_network_is_the_default() {
    require_root();
    let run = analyze(Path::new("/bin/true"), &[]);
    assert_eq!(run.report["analysis"]["network"], "fake");
    let fake = &run.report["network"]["fakenet"];
    assert_eq!(fake["sandbox_address"], "10.13.37.2");
    assert_eq!(fake["capture"]["file"], "capture.pcap");
    assert!(run.out_dir.join("capture.pcap").is_file());
    assert_valid("--net fake", &run.report);
    run.cleanup();
}
