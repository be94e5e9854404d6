//! Done-when 2: hostile-but-benign programs end with a complete report and nothing of
//! the task left on the host (cgroups, mounts, work directory, processes, netns names).
//! Runs as root.

mod analyze_common;

use analyze_common::{Run, analyze, compile, require_root};
use serde_json::Value;
use std::time::Instant;

/// Every section of a complete report is there.
fn assert_complete(run: &Run) {
    for k in [
        "sample",
        "static",
        "processes",
        "syscalls",
        "files",
        "network",
        "signatures",
        "score",
        "verdict",
        "limits",
        "outcome",
        "timings_ms",
    ] {
        assert!(run.report.get(k).is_some(), "report lacks {k}");
    }
    assert!(run.out_dir.join("events.jsonl").is_file());
    assert!(run.out_dir.join("stdout").is_file());
    assert!(run.out_dir.join("stderr").is_file());
}

fn limits(run: &Run) -> &Value {
    &run.report["limits"]
}

fn c_prog(name: &str, body: &str) -> std::path::PathBuf {
    let src = format!(
        "#define _GNU_SOURCE\n#include <fcntl.h>\n#include <signal.h>\n#include <stdio.h>\n#include <stdlib.h>\n#include <string.h>\n#include <sys/ptrace.h>\n#include <sys/stat.h>\n#include <sys/wait.h>\n#include <unistd.h>\nint main(int argc, char **argv) {{\n{body}\n}}\n"
    );
    compile(name, &src, &[])
}

#[test]
fn fork_bomb_and_memory_bomb() {
    require_root();
    let bomb = c_prog("forkbomb", "for (;;) fork(); return 0;");
    let run = analyze(&bomb, &["--timeout", "4"]);
    assert_complete(&run);
    assert!(
        limits(&run)["pids_limit_hits"].as_u64().unwrap() > 0,
        "{}",
        limits(&run)
    );
    assert!(run.report["processes"]["count"].as_u64().unwrap() > 10);
    run.cleanup();

    let mem = c_prog(
        "membomb",
        "for (;;) { char *p = malloc(1 << 20); if (!p) return 1; memset(p, 1, 1 << 20); } return 0;",
    );
    let run = analyze(&mem, &["--timeout", "20"]);
    assert_complete(&run);
    let l = limits(&run);
    assert!(
        l["oom_kills"].as_u64().unwrap() > 0 || l["memory_limit_hits"].as_u64().unwrap() > 0,
        "{l}"
    );
    assert_eq!(
        run.report["outcome"]["sample_exit"]["signal"], "SIGKILL",
        "{}",
        run.report["outcome"]
    );
    run.cleanup();
}

#[test]
fn tmpfs_filler_and_many_files() {
    require_root();
    let fill = c_prog(
        "tmpfsfill",
        "static char buf[1 << 20]; memset(buf, 7, sizeof buf); int fd = open(\"/tmp/fill\", O_WRONLY | O_CREAT, 0644);\n\
         for (;;) { if (write(fd, buf, sizeof buf) <= 0) break; } return 0;",
    );
    let run = analyze(&fill, &["--timeout", "20"]);
    assert_complete(&run);
    assert_eq!(limits(&run)["tmpfs_full"], true, "{}", limits(&run));
    let dropped = run.report["files"]["dropped"].as_array().unwrap();
    assert!(dropped.iter().any(|d| d["path"] == "/tmp/fill"));
    run.cleanup();

    let many = c_prog(
        "manyfiles",
        "mkdir(\"/tmp/m\", 0755); char p[64]; for (int i = 0; i < 100000; i++) { snprintf(p, sizeof p, \"/tmp/m/%d\", i);\n\
         int fd = open(p, O_WRONLY | O_CREAT, 0644); if (fd < 0) return 1; close(fd); } return 0;",
    );
    let t = Instant::now();
    let run = analyze(&many, &["--timeout", "60"]);
    eprintln!("100,000 files: {:?}", t.elapsed());
    assert_complete(&run);
    assert_eq!(
        run.report["outcome"]["sample_exit"]["code"], 0,
        "{}",
        run.report["outcome"]
    );
    let files = &run.report["files"];
    // Listed up to the cap; the rest counted, never hidden.
    let listed = files["dropped"].as_array().unwrap().len() as u64;
    assert_eq!(listed, 10_000);
    assert!(
        files["omitted"].as_u64().unwrap() >= 90_000,
        "{}",
        files["omitted"]
    );
    assert!(
        run.report["syscalls"]["by_name"]["openat"]
            .as_u64()
            .unwrap()
            >= 100_000
    );
    run.cleanup();
}

#[test]
fn sleeper_past_the_timeout_and_double_fork_daemon() {
    require_root();
    let t = Instant::now();
    let run = analyze(
        std::path::Path::new("/bin/sleep"),
        &["--timeout", "2", "--args", "600"],
    );
    assert!(t.elapsed().as_secs() < 20, "took {:?}", t.elapsed());
    assert_complete(&run);
    assert_eq!(limits(&run)["timed_out"], true);
    assert_eq!(
        run.report["outcome"]["sample_exit"],
        Value::Null,
        "{}",
        run.report["outcome"]
    );
    run.cleanup();

    let daemon = c_prog(
        "daemon",
        "if (fork() == 0) { setsid(); if (fork() == 0) { for (;;) sleep(1); } _exit(0); } return 0;",
    );
    let run = analyze(&daemon, &["--timeout", "2"]);
    assert_complete(&run);
    assert_eq!(
        limits(&run)["timed_out"],
        true,
        "the daemon outlives its parent"
    );
    assert!(limits(&run)["killed_at_stop"].as_u64().unwrap() >= 1);
    assert_eq!(run.report["outcome"]["sample_exit"]["code"], 0);
    run.cleanup();
}

#[test]
fn kill_all_host_write_and_ptrace_of_the_tracer() {
    require_root();
    let kill = c_prog("killall", "kill(-1, SIGKILL); return 0;");
    let run = analyze(&kill, &["--timeout", "10"]);
    assert_complete(&run);
    let ids = run.attack_ids();
    assert!(ids.contains("T1489"), "{ids:?}");
    run.cleanup();

    let marker = format!("/root/ferret-analyze-host-write-{}", std::process::id());
    let _ = std::fs::remove_file(&marker);
    let hw = c_prog(
        "hostwrite",
        &format!(
            "int fd = open(\"{marker}\", O_WRONLY | O_CREAT, 0644); if (fd < 0) return 1; if (write(fd, \"x\", 1) != 1) return 2; close(fd);\n\
             fd = open(\"/proc/1/root{marker}.2\", O_WRONLY | O_CREAT, 0644); if (fd >= 0) close(fd); return 0;"
        ),
    );
    let run = analyze(&hw, &["--timeout", "10"]);
    assert_complete(&run);
    assert!(
        !std::path::Path::new(&marker).exists(),
        "the sample wrote to the host"
    );
    assert!(
        !std::path::Path::new(&format!("{marker}.2")).exists(),
        "the sample wrote to the host"
    );
    let written: Vec<&str> = run.report["files"]["written"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["path"].as_str().unwrap())
        .collect();
    assert!(written.contains(&marker.as_str()), "{written:?}");
    run.cleanup();

    // The sample tries to attach to every pid it can name: its parent (the sandbox
    // init), pid 1, and the pids of the host's ferret process and its threads.
    let pt = c_prog(
        "ptracer",
        "int ok = 0; for (int p = 1; p < 400; p++) { if (p == getpid()) continue; if (ptrace(PTRACE_ATTACH, p, 0, 0) == 0) { ok++; ptrace(PTRACE_DETACH, p, 0, 0); } }\n\
         printf(\"attached=%d\\n\", ok); return 0;",
    );
    let run = analyze(&pt, &["--timeout", "20"]);
    assert_complete(&run);
    let out = std::fs::read_to_string(run.out_dir.join("stdout")).unwrap();
    assert_eq!(out, "attached=0\n");
    assert!(
        run.report["outcome"]["errors"]
            .as_array()
            .unwrap()
            .is_empty(),
        "{}",
        run.report["outcome"]
    );
    run.cleanup();
}

#[test]
fn stdout_flood_is_capped_and_counted() {
    require_root();
    let flood = c_prog(
        "flood",
        "static char buf[65536]; memset(buf, 'A', sizeof buf); for (int i = 0; i < 160; i++) { if (write(1, buf, sizeof buf) != sizeof buf) return 1; } return 0;",
    );
    let run = analyze(&flood, &["--timeout", "30"]);
    assert_complete(&run);
    let s = &limits(&run)["stdout"];
    assert_eq!(s["total_bytes"].as_u64().unwrap(), 160 * 65536);
    assert_eq!(s["captured_bytes"].as_u64().unwrap(), 8 << 20);
    assert_eq!(
        s["truncated_bytes"].as_u64().unwrap(),
        160 * 65536 - (8 << 20)
    );
    assert_eq!(
        std::fs::metadata(run.out_dir.join("stdout")).unwrap().len(),
        8 << 20
    );
    run.cleanup();
}
