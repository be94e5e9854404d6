//! Done-when 2 with the project's containment samples (samples/src): each run ends
//! with a complete report, the limit it provokes is reported, and nothing of the task
//! is left on the host (checked by `analyze` after every run). Runs as root.

mod analyze_common;

use analyze_common::{Run, analyze, require_root};
use std::path::Path;

fn sample(name: &str) -> std::path::PathBuf {
    ferret_samples::build();
    ferret_samples::path("x86_64", name, true)
}

fn complete(run: &Run) {
    for k in [
        "processes",
        "syscalls",
        "files",
        "network",
        "signatures",
        "limits",
        "outcome",
        "timings_ms",
    ] {
        assert!(run.report.get(k).is_some(), "report lacks {k}");
    }
}

#[test]
fn resource_stressors() {
    require_root();
    let run = analyze(&sample("fork_bomb"), &["--timeout", "5"]);
    complete(&run);
    assert!(
        run.report["limits"]["pids_limit_hits"].as_u64().unwrap() > 0,
        "{}",
        run.report["limits"]
    );
    run.cleanup();

    let run = analyze(&sample("memory_bomb"), &["--timeout", "30"]);
    complete(&run);
    let l = &run.report["limits"];
    assert!(
        l["oom_kills"].as_u64().unwrap() > 0 || l["memory_limit_hits"].as_u64().unwrap() > 0,
        "{l}"
    );
    run.cleanup();

    let run = analyze(&sample("tmpfs_filler"), &["--timeout", "30"]);
    complete(&run);
    assert_eq!(run.report["limits"]["tmpfs_full"], true);
    run.cleanup();

    let run = analyze(&sample("many_files"), &["--timeout", "60"]);
    complete(&run);
    // 100,000 one-byte files need a page each: the 256 MiB tmpfs fills first.
    let files = &run.report["files"];
    assert_eq!(files["dropped"].as_array().unwrap().len(), 10_000);
    assert!(files["omitted"].as_u64().unwrap() > 0);
    run.cleanup();
}

#[test]
fn timeout_signals_escapes_and_output() {
    require_root();
    let run = analyze(&sample("sleeper"), &["--timeout", "2"]);
    complete(&run);
    assert_eq!(run.report["limits"]["timed_out"], true);
    run.cleanup();

    let run = analyze(&sample("kill_all"), &["--timeout", "20"]);
    complete(&run);
    assert!(run.attack_ids().contains("T1489"));
    run.cleanup();

    for p in ["/root/ferret-escape-marker", "/tmp/ferret-escape-marker"] {
        let _ = std::fs::remove_file(p);
    }
    let run = analyze(&sample("host_write"), &["--timeout", "20"]);
    complete(&run);
    for p in ["/root/ferret-escape-marker", "/tmp/ferret-escape-marker"] {
        assert!(!Path::new(p).exists(), "{p} appeared on the host");
    }
    run.cleanup();

    let run = analyze(&sample("ptrace_tracer"), &["--timeout", "20"]);
    complete(&run);
    assert!(
        run.report["outcome"]["errors"]
            .as_array()
            .unwrap()
            .is_empty(),
        "{}",
        run.report["outcome"]
    );
    let out = std::fs::read_to_string(run.out_dir.join("stdout")).unwrap();
    assert!(
        out.contains("ptrace(PTRACE_ATTACH, 1 parent): fail"),
        "{out}"
    );
    assert!(!out.contains(": ok"), "an attach succeeded:\n{out}");
    run.cleanup();

    let run = analyze(&sample("stdout_flood"), &["--timeout", "30"]);
    complete(&run);
    let s = &run.report["limits"]["stdout"];
    assert_eq!(s["total_bytes"], 10_485_760);
    assert_eq!(s["captured_bytes"], 8 << 20);
    assert_eq!(s["truncated_bytes"], 10_485_760 - (8 << 20));
    run.cleanup();
}
