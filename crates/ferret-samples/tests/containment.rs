//! The containment samples (x86-64, static) do what they claim, run untraced in
//! ferret's sandbox with small limits: the sandbox's outcome shows the limit they hit.
//! Needs root (CI runs tests as root).

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use ferret_sandbox::{ExitStatus, Limits, Outcome, Sandbox, SandboxConfig, SpawnSpec, WaitStatus};

fn work_root() -> PathBuf {
    let p = PathBuf::from("/tmp/ferret-samples-tests");
    fs::create_dir_all(&p).expect("work root");
    fs::set_permissions(&p, fs::Permissions::from_mode(0o755)).expect("work root mode");
    p
}

/// Runs `name` untraced with `limits` until it ends or `timeout` passes (then the
/// sandbox kills it). Returns whether it timed out and the outcome.
fn run(name: &str, limits: Limits, timeout: Duration) -> (bool, Outcome) {
    // SAFETY: geteuid has no preconditions.
    assert_eq!(
        unsafe { libc::geteuid() },
        0,
        "the containment tests need root (namespaces, mounts, cgroups)"
    );
    ferret_samples::build();
    let exe = ferret_samples::path("x86_64", name, true);
    let inside = format!("/root/{name}");
    let mut cfg = SandboxConfig::new(work_root()).install(&exe, &inside, 0o755);
    cfg.limits = limits;
    let mut sb = Sandbox::new(cfg).expect("sandbox");
    let spawned = sb.spawn(SpawnSpec::new([inside])).expect("spawn");
    spawned.release().expect("release");
    let waited = sb.wait(Instant::now() + timeout).expect("wait");
    let outcome = sb.teardown().expect("teardown");
    (waited == WaitStatus::TimedOut, outcome)
}

fn out(o: &Outcome) -> String {
    String::from_utf8_lossy(&o.stdout.data).into_owned()
}

#[test]
fn stdout_flood_writes_exactly_ten_mib() {
    let (timed_out, o) = run("stdout_flood", Limits::default(), Duration::from_secs(30));
    assert!(!timed_out);
    assert_eq!(o.stdout.total_bytes, 10 << 20);
    assert!(
        String::from_utf8_lossy(&o.stderr.data).contains("10485760 bytes written"),
        "{:?}",
        o.stderr
    );
}

#[test]
fn fork_bomb_hits_the_pids_limit_and_ends() {
    let limits = Limits {
        pids: 64,
        ..Limits::default()
    };
    let (timed_out, o) = run("fork_bomb", limits, Duration::from_secs(40));
    assert!(!timed_out, "{}", out(&o));
    assert!(o.pids_limit_hits > 0, "{o:?}");
    assert!(out(&o).contains("fork bomb: start"), "{}", out(&o));
    assert_eq!(o.sample_exit, Some(ExitStatus::Code(0)), "{}", out(&o));
}

#[test]
fn memory_bomb_hits_the_memory_limit() {
    let limits = Limits {
        memory_bytes: 96 << 20,
        ..Limits::default()
    };
    let (timed_out, o) = run("memory_bomb", limits, Duration::from_secs(40));
    assert!(!timed_out, "{}", out(&o));
    assert!(o.oom_kills > 0 || o.memory_limit_hits > 0, "{o:?}");
    assert!(out(&o).contains("allocated: 64 MiB"), "{}", out(&o));
}

#[test]
fn tmpfs_filler_fills_the_tmpfs() {
    let limits = Limits {
        tmpfs_bytes: 24 << 20,
        ..Limits::default()
    };
    let (timed_out, o) = run("tmpfs_filler", limits, Duration::from_secs(30));
    assert!(!timed_out, "{}", out(&o));
    assert!(o.tmpfs_full, "{o:?}");
    assert!(out(&o).contains("fill: fail ENOSPC"), "{}", out(&o));
}

#[test]
fn many_files_creates_100000() {
    let (timed_out, o) = run("many_files", Limits::default(), Duration::from_secs(60));
    assert!(!timed_out, "{}", out(&o));
    assert!(
        out(&o).contains("many files: 100000 created"),
        "{}",
        out(&o)
    );
    assert!(o.tmpfs_used_inodes >= 100_000, "{}", o.tmpfs_used_inodes);
}

#[test]
fn sleeper_outlives_the_timeout() {
    let (timed_out, o) = run("sleeper", Limits::default(), Duration::from_secs(2));
    assert!(timed_out);
    assert_eq!(out(&o), "sleep: 1000 s\n");
    assert!(o.killed_at_stop >= 1, "{o:?}");
}

#[test]
fn kill_all_kills_its_children_and_survives() {
    let (timed_out, o) = run("kill_all", Limits::default(), Duration::from_secs(20));
    assert!(!timed_out, "{}", out(&o));
    assert!(out(&o).contains("kill(-1, SIGKILL): ok 0"), "{}", out(&o));
    assert!(out(&o).contains("children killed: 3"), "{}", out(&o));
    assert_eq!(o.sample_exit, Some(ExitStatus::Code(0)));
}

#[test]
fn host_write_markers_stay_in_the_sandbox() {
    let host = [
        Path::new("/root/ferret-escape-marker"),
        Path::new("/tmp/ferret-escape-marker"),
    ];
    for p in host {
        assert!(
            !p.exists(),
            "{} exists before the test: remove it to run this test",
            p.display()
        );
    }
    let (timed_out, o) = run("host_write", Limits::default(), Duration::from_secs(20));
    assert!(!timed_out, "{}", out(&o));
    let s = out(&o);
    assert!(
        s.contains("write /root/ferret-escape-marker: ok"),
        "the sandbox's own /root is writable: {s}"
    );
    assert_eq!(s.lines().count(), 8, "{s}");
    for p in host {
        assert!(!p.exists(), "{} appeared on the host", p.display());
    }
}

#[test]
fn ptrace_tracer_tries_its_parent_and_init() {
    let (timed_out, o) = run("ptrace_tracer", Limits::default(), Duration::from_secs(20));
    assert!(!timed_out, "{}", out(&o));
    let s = out(&o);
    assert!(s.contains("ptrace(PTRACE_ATTACH, 1 parent)"), "{s}");
    assert!(s.contains("ptrace(PTRACE_SEIZE, 1 init)"), "{s}");
    assert!(s.contains("pids seen: "), "{s}");
}
