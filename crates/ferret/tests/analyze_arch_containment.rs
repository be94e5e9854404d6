//! Containment of emulated samples (issue 6): a fork bomb, a sample sleeping past the
//! timeout and a double-forking daemon, built for MIPS and ARM, end with a complete
//! report; nothing of the task is left on the host (checked by `analyze` after every
//! run: processes, cgroups, mounts, work directories, network namespaces); and the
//! host's binfmt_misc is untouched (the handlers live in the sandbox's own instance).
//! Runs as root; needs qemu-user-static.

mod analyze_common;

use std::fs;
use std::path::Path;

use analyze_common::{Run, analyze, require_root};

/// The host's binfmt_misc: its mounts, and every entry with its content.
fn host_binfmt() -> (Vec<String>, Vec<(String, String)>) {
    let mounts: Vec<String> = fs::read_to_string("/proc/self/mounts")
        .unwrap()
        .lines()
        .filter(|l| l.contains("binfmt_misc"))
        .map(str::to_owned)
        .collect();
    let mut entries: Vec<(String, String)> = fs::read_dir("/proc/sys/fs/binfmt_misc")
        .map(|rd| {
            rd.flatten()
                .filter(|e| e.file_name() != "register")
                .map(|e| {
                    (
                        e.file_name().to_string_lossy().into_owned(),
                        fs::read_to_string(e.path()).unwrap_or_default(),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    entries.sort();
    (mounts, entries)
}

fn complete(run: &Run, what: &str) {
    for k in [
        "analysis",
        "processes",
        "syscalls",
        "files",
        "network",
        "signatures",
        "limits",
        "outcome",
        "timings_ms",
    ] {
        assert!(run.report.get(k).is_some(), "{what}: report lacks {k}");
    }
    assert_eq!(
        run.report["analysis"]["arch"]["emulated"], true,
        "{what}: {}",
        run.report["analysis"]
    );
}

fn sample(arch: &str, name: &str, static_: bool) -> std::path::PathBuf {
    ferret_samples::build();
    ferret_samples::path(arch, name, static_)
}

#[test]
fn emulated_stressors_are_contained() {
    require_root();
    let before = host_binfmt();

    // Fork bomb: the pids limit stops it, every emulator process dies at the end.
    let run = analyze(
        &sample("mips", "fork_bomb", true),
        &["--timeout", "5", "--net", "none", "--no-yara"],
    );
    complete(&run, "mips fork_bomb");
    let l = &run.report["limits"];
    assert!(l["pids_limit_hits"].as_u64().unwrap() > 0, "{l}");
    let procs = run.report["processes"]["count"].as_u64().unwrap();
    assert!(procs > 10, "the bomb forked only {procs} processes");
    run.cleanup();

    // Sleeping past the timeout: stopped at the timeout, the report says so.
    let run = analyze(
        &sample("arm", "sleeper", false),
        &["--timeout", "3", "--net", "none", "--no-yara"],
    );
    complete(&run, "arm sleeper");
    assert_eq!(run.report["limits"]["timed_out"], true);
    assert!(run.report["limits"]["killed_at_stop"].as_u64().unwrap() >= 1);
    let root = &run.report["processes"]["list"][0];
    assert_eq!(root["arch"], "arm", "{root}");
    // The guest was in its sleep when stopped: the raw guest log shows the call.
    let log = fs::read_to_string(run.out_dir.join("guest-syscalls.log")).unwrap();
    assert!(log.contains("nanosleep("), "{log}");
    run.cleanup();

    // Double-fork daemon: the parent exits at once, the daemon outlives it; the whole
    // tree is in the report, each process as MIPS under QEMU.
    let run = analyze(
        &sample("mipsel", "daemon_doublefork", true),
        &["--timeout", "2", "--net", "none", "--no-yara"],
    );
    complete(&run, "mipsel daemon_doublefork");
    let list = run.report["processes"]["list"].as_array().unwrap();
    assert!(list.len() >= 3, "{list:?}");
    for p in list {
        assert_eq!(p["arch"], "mipsel", "{p}");
        assert_eq!(p["runner"], "qemu-mipsel-static", "{p}");
    }
    // The daemon was still beating when the sandbox stopped it.
    assert_eq!(run.report["limits"]["timed_out"], true);
    assert!(run.report["limits"]["killed_at_stop"].as_u64().unwrap() >= 1);
    run.cleanup();

    assert_eq!(
        host_binfmt(),
        before,
        "the host's binfmt_misc changed during emulated analyses"
    );
    assert!(
        !Path::new("/proc/sys/fs/binfmt_misc/qemu-mips").exists()
            || before.1.iter().any(|(n, _)| n == "qemu-mips"),
        "a QEMU handler appeared on the host"
    );
}
