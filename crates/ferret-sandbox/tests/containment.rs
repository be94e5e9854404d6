//! Containment tests: each runs a (benign) program in a sandbox, checks what it could
//! and could not do, tears the sandbox down and asserts that nothing of the task is left
//! on the host. They need root (CI runs tests as root).

use std::collections::HashSet;
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use ferret_sandbox::{
    AUDIT_ARCH_I386, AUDIT_ARCH_X86_64, ChangeKind, Changes, CollectOptions, EntryKind, ExitStatus,
    Limits, Network, Outcome, Sandbox, SandboxConfig, SpawnSpec, WaitStatus, cleanup_stale,
};

/// Tests run one at a time: the leftover checks look at host-wide state.
static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> MutexGuard<'static, ()> {
    SERIAL
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn require_root() {
    // SAFETY: geteuid has no preconditions.
    let euid = unsafe { libc::geteuid() };
    assert_eq!(
        euid, 0,
        "the sandbox tests must run as root (they create namespaces, mounts and cgroups)"
    );
}

/// Where collected changes go: a RAM filesystem (writing and removing 100,000 files on
/// the VM's disk takes minutes).
fn changes_dest(name: &str) -> PathBuf {
    let base = if Path::new("/dev/shm").is_dir() {
        PathBuf::from("/dev/shm/ferret-sandbox-tests")
    } else {
        work_root()
    };
    fs::create_dir_all(&base).unwrap();
    base.join(format!("changes-{name}"))
}

fn work_root() -> PathBuf {
    let p = PathBuf::from("/tmp/ferret-sandbox-tests");
    fs::create_dir_all(&p).unwrap();
    fs::set_permissions(&p, fs::Permissions::from_mode(0o755)).unwrap();
    p
}

/// Compiles a C program with `compiler` (and extra flags) into the work root.
fn compile(name: &str, src: &str, compiler: &str, flags: &[&str]) -> PathBuf {
    let dir = work_root().join("bin");
    fs::create_dir_all(&dir).unwrap();
    let c = dir.join(format!("{name}.c"));
    let out = dir.join(name);
    fs::write(&c, src).unwrap();
    let status = Command::new(compiler)
        .args(flags)
        .arg("-O1")
        .arg("-o")
        .arg(&out)
        .arg(&c)
        .status()
        .unwrap_or_else(|e| panic!("{compiler} is needed to build the test programs (scripts/install.sh installs it): {e}"));
    assert!(status.success(), "compiling {name} failed");
    out
}

fn gcc(name: &str, src: &str) -> PathBuf {
    compile(name, src, "gcc", &[])
}

fn net_inodes() -> HashSet<u64> {
    let mut set = HashSet::new();
    for e in fs::read_dir("/proc").unwrap().flatten() {
        if let Ok(m) = fs::metadata(e.path().join("ns/net")) {
            set.insert(m.ino());
        }
    }
    set
}

/// Names listed by `ip netns list` (empty when iproute2 is missing).
fn ip_netns_list() -> Vec<String> {
    Command::new("ip")
        .args(["netns", "list"])
        .output()
        .map(|o| {
            let mut v: Vec<String> = String::from_utf8_lossy(&o.stdout)
                .lines()
                .map(|l| l.split_whitespace().next().unwrap_or("").to_owned())
                .collect();
            v.sort();
            v
        })
        .unwrap_or_default()
}

fn pid_ns_alive(ino: u64) -> bool {
    fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .any(|e| fs::metadata(e.path().join("ns/pid")).is_ok_and(|m| m.ino() == ino))
}

/// What a test needs to check the host after teardown.
struct Trace {
    workdir: PathBuf,
    cgroups: Vec<PathBuf>,
    netns: u64,
    pidns: u64,
    net_before: HashSet<u64>,
    /// False when the sandbox joined a caller-owned netns (which must survive).
    own_netns: bool,
}

/// Records what to check after teardown of a spawned sandbox (own netns).
fn trace_of(sb: &Sandbox, net_before: HashSet<u64>) -> Trace {
    let ns = sb.namespaces().expect("spawned");
    Trace {
        workdir: sb.workdir().to_path_buf(),
        cgroups: sb.cgroup_dirs().to_vec(),
        netns: ns.net,
        pidns: ns.pid,
        net_before,
        own_netns: true,
    }
}

fn assert_nothing_left(t: &Trace) {
    assert!(
        !t.workdir.exists(),
        "work directory {} left",
        t.workdir.display()
    );
    let mountinfo = fs::read_to_string("/proc/self/mountinfo").unwrap();
    let wd = t.workdir.to_string_lossy().to_string();
    assert!(
        !mountinfo.lines().any(|l| l.contains(&wd)),
        "a mount under {wd} is left"
    );
    for cg in &t.cgroups {
        assert!(!cg.exists(), "cgroup {} left", cg.display());
    }
    assert!(
        !pid_ns_alive(t.pidns),
        "a process of the sandbox's pid namespace is alive"
    );
    assert_no_process_rooted_in(&t.workdir);
    if !t.own_netns {
        return;
    }
    let after = net_inodes();
    assert!(
        !after.contains(&t.netns) || t.net_before.contains(&t.netns),
        "the sandbox's network namespace is alive"
    );
    // A netns kept alive by a bind mount (ip netns) would show as an nsfs mount.
    assert!(
        !mountinfo.contains(&format!("net:[{}]", t.netns)),
        "the sandbox's netns is bind-mounted"
    );
    if let Ok(rd) = fs::read_dir("/run/netns") {
        for e in rd.flatten() {
            assert_ne!(
                fs::metadata(e.path()).map(|m| m.ino()).ok(),
                Some(t.netns),
                "netns {:?} is the sandbox's",
                e.file_name()
            );
        }
    }
}

fn assert_no_process_rooted_in(workdir: &Path) {
    for e in fs::read_dir("/proc").unwrap().flatten() {
        if let Ok(root) = fs::read_link(e.path().join("root")) {
            assert!(
                !root.starts_with(workdir),
                "process {:?} has its root in the work directory",
                e.file_name()
            );
        }
    }
}

struct Run {
    outcome: Outcome,
    changes: Option<Changes>,
    wait: WaitStatus,
    elapsed: Duration,
}

fn config() -> SandboxConfig {
    SandboxConfig::new(work_root())
}

/// Spawns, releases, waits up to `timeout`, optionally collects changes, tears down
/// and checks that nothing is left.
fn run(cfg: SandboxConfig, spec: SpawnSpec, timeout: Duration, collect: bool) -> Run {
    let net_before = net_inodes();
    let ip_netns_before = ip_netns_list();
    let own_netns = matches!(cfg.network, Network::Loopback);
    let mut sb = Sandbox::new(cfg).expect("sandbox");
    let spawned = sb.spawn(spec).expect("spawn");
    let ns = sb.namespaces().expect("namespaces");
    let map = spawned.pid_map().clone();
    assert_eq!(map.host_to_ns(spawned.host_pid()), Some(spawned.ns_pid()));
    assert_eq!(map.ns_to_host(spawned.ns_pid()), Some(spawned.host_pid()));
    assert_eq!(map.host_to_ns(map.init_host_pid()), Some(1));
    assert_eq!(map.host_to_ns(std::process::id() as i32), None);
    let trace = Trace {
        workdir: sb.workdir().to_path_buf(),
        cgroups: sb.cgroup_dirs().to_vec(),
        netns: ns.net,
        pidns: ns.pid,
        net_before,
        own_netns,
    };
    assert!(
        !own_netns || !trace.net_before.contains(&ns.net),
        "the sandbox must have its own netns"
    );
    let start = Instant::now();
    spawned.release().expect("release");
    let wait = sb.wait(start + timeout).expect("wait");
    let elapsed = start.elapsed();
    let changes = collect.then(|| {
        let dest = changes_dest(sb.name());
        sb.collect_changes(&dest, &CollectOptions::default())
            .expect("collect")
    });
    let outcome = sb.teardown().expect("teardown");
    drop(sb);
    assert_nothing_left(&trace);
    assert_eq!(ip_netns_list(), ip_netns_before, "`ip netns list` changed");
    Run {
        outcome,
        changes,
        wait,
        elapsed,
    }
}

fn sh(script: &str) -> SpawnSpec {
    SpawnSpec::new(["/bin/sh", "-c", script])
}

fn stdout(r: &Run) -> String {
    String::from_utf8_lossy(&r.outcome.stdout.data).into_owned()
}

#[test]
fn runs_true() {
    let _g = serial();
    require_root();
    let r = run(
        config(),
        SpawnSpec::new(["/bin/true"]),
        Duration::from_secs(20),
        false,
    );
    assert_eq!(r.wait, WaitStatus::Exited);
    assert_eq!(
        r.outcome.sample_exit,
        Some(ExitStatus::Code(0)),
        "{:?}",
        r.outcome
    );
    assert!(!r.outcome.timed_out);
    assert_eq!(r.outcome.killed_at_stop, 0);
    assert_eq!(r.outcome.denied_total, 0);
    eprintln!("/bin/true: {:?} from release to exit", r.elapsed);

    // Fixed cost of a whole task, phase by phase (printed; the budget is generous
    // because CI machines are shared).
    let t0 = Instant::now();
    let mut sb = Sandbox::new(config()).unwrap();
    let t_new = t0.elapsed();
    let spawned = sb.spawn(SpawnSpec::new(["/bin/true"])).unwrap();
    let t_spawn = t0.elapsed();
    spawned.release().unwrap();
    assert_eq!(
        sb.wait(Instant::now() + Duration::from_secs(20)).unwrap(),
        WaitStatus::Exited
    );
    let t_run = t0.elapsed();
    sb.teardown().unwrap();
    let t_all = t0.elapsed();
    eprintln!(
        "fixed cost: new {t_new:?}, +spawn {:?}, +run {:?}, +teardown {:?}, total {t_all:?}",
        t_spawn - t_new,
        t_run - t_spawn,
        t_all - t_run
    );
    assert!(t_all < Duration::from_secs(5), "{t_all:?}");
}

#[test]
fn unreleased_sample_never_runs() {
    let _g = serial();
    require_root();
    let net_before = net_inodes();
    let mut sb = Sandbox::new(config()).unwrap();
    let spawned = sb.spawn(SpawnSpec::new(["/bin/true"])).unwrap();
    let trace = trace_of(&sb, net_before);
    let pid = spawned.host_pid();
    // Blocked before execve: still running the sandbox's own pre-exec code.
    let exe = fs::read_link(format!("/proc/{pid}/exe")).unwrap();
    assert_ne!(exe, Path::new("/bin/true"));
    assert_ne!(exe, Path::new("/usr/bin/true"));
    drop(spawned);
    assert_eq!(
        sb.wait(Instant::now() + Duration::from_secs(10)).unwrap(),
        WaitStatus::Exited
    );
    let o = sb.teardown().unwrap();
    assert_eq!(o.sample_exit, Some(ExitStatus::Code(126)));
    drop(sb);
    assert_nothing_left(&trace);
}

#[test]
fn hostname_uid_and_readonly_system() {
    let _g = serial();
    require_root();
    let mut cfg = config();
    cfg.hostname = "nas-backup-02".into();
    let base = cfg.id_map_base;
    let script = "hostname; id -u; id -g; cat /proc/self/uid_map; \
                  touch /usr/ferret-ro 2>/dev/null && echo usr-writable || echo usr-ro; \
                  stat -c %U:%G:%a /etc/shadow; grep -c . /etc/passwd; \
                  ip -o link 2>/dev/null | wc -l; tr '\\0' ' ' < /proc/1/cmdline; echo; echo $$; \
                  cat /sys/class/net/lo/flags; \
                  (echo x > /proc/sys/kernel/domainname) 2>/dev/null && echo sysctl-rw || echo sysctl-ro; \
                  (echo h > /proc/sysrq-trigger) 2>/dev/null && echo sysrq-rw || echo sysrq-denied; \
                  cat /proc/1/comm; ls /dev";
    let r = run(cfg, sh(script), Duration::from_secs(20), false);
    let out = stdout(&r);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        r.outcome.sample_exit,
        Some(ExitStatus::Code(0)),
        "{out}\n{}",
        String::from_utf8_lossy(&r.outcome.stderr.data)
    );
    assert_eq!(lines[0], "nas-backup-02");
    assert_eq!(lines[1], "0");
    assert_eq!(lines[2], "0");
    let map: Vec<&str> = lines[3].split_whitespace().collect();
    assert_eq!(map, ["0", &base.to_string(), "65536"]);
    assert_eq!(lines[4], "usr-ro");
    assert_eq!(lines[5], "root:shadow:640");
    assert!(lines[6].parse::<u32>().unwrap() > 10);
    assert_eq!(lines[7], "1", "only loopback: {out}");
    assert_eq!(
        lines[8], "/sbin/init ",
        "init's command line shows nothing of the host"
    );
    assert_eq!(lines[9], "2", "the sample is pid 2, init pid 1");
    assert_eq!(lines[10], "0x9", "loopback is up");
    assert_eq!(lines[11], "sysctl-ro");
    assert_eq!(lines[12], "sysrq-denied");
    assert_eq!(lines[13], "init");
    for dev in ["null", "zero", "urandom", "pts", "ptmx", "shm", "fd"] {
        assert!(lines[14..].contains(&dev), "/dev/{dev} missing: {out}");
    }
}

#[test]
fn fork_bomb_is_contained_by_pids_limit() {
    let _g = serial();
    require_root();
    let bomb = gcc(
        "forkbomb",
        "#include <unistd.h>\nint main(void){ for(;;) fork(); }\n",
    );
    let mut cfg = config().install(&bomb, "/tmp/forkbomb", 0o755);
    cfg.limits.pids = 64;
    let r = run(
        cfg,
        SpawnSpec::new(["/tmp/forkbomb"]),
        Duration::from_secs(3),
        false,
    );
    assert_eq!(r.wait, WaitStatus::TimedOut);
    assert!(r.outcome.timed_out);
    assert!(r.outcome.pids_limit_hits > 0, "{:?}", r.outcome);
    assert!(
        r.outcome.killed_at_stop > 10 && r.outcome.killed_at_stop <= 64,
        "{}",
        r.outcome.killed_at_stop
    );
    eprintln!(
        "fork bomb: {} pids-limit hits, {} processes killed",
        r.outcome.pids_limit_hits, r.outcome.killed_at_stop
    );
}

#[test]
fn memory_bomb_is_oom_killed() {
    let _g = serial();
    require_root();
    let bomb = gcc(
        "membomb",
        "#include <stdlib.h>\n#include <string.h>\nint main(void){ for(;;){ char *p = malloc(1<<20); if(!p) return 3; memset(p, 1, 1<<20);} }\n",
    );
    let mut cfg = config().install(&bomb, "/tmp/membomb", 0o755);
    cfg.limits.memory_bytes = 64 << 20;
    let r = run(
        cfg,
        SpawnSpec::new(["/tmp/membomb"]),
        Duration::from_secs(20),
        false,
    );
    assert_eq!(r.wait, WaitStatus::Exited);
    assert!(r.outcome.oom_kills >= 1, "{:?}", r.outcome);
    assert_eq!(
        r.outcome.sample_exit,
        Some(ExitStatus::Signal {
            signal: libc::SIGKILL,
            core_dumped: false
        })
    );
    assert!(r.outcome.memory_peak_bytes.unwrap_or(0) >= 60 << 20);
    eprintln!(
        "memory bomb: {} OOM kill(s), peak {:?} bytes",
        r.outcome.oom_kills, r.outcome.memory_peak_bytes
    );
}

#[test]
fn tmpfs_filler_hits_the_size_limit() {
    let _g = serial();
    require_root();
    let mut cfg = config();
    cfg.limits.tmpfs_bytes = 16 << 20;
    let r = run(
        cfg,
        sh("dd if=/dev/zero of=/tmp/fill bs=1M count=100; echo rc=$?"),
        Duration::from_secs(20),
        false,
    );
    assert!(r.outcome.tmpfs_full, "{:?}", r.outcome);
    let err = String::from_utf8_lossy(&r.outcome.stderr.data);
    assert!(
        err.contains("No space left") || err.contains("File too large"),
        "{err}"
    );
    assert!(stdout(&r).contains("rc=1"));
    assert!(r.outcome.tmpfs_used_bytes >= 15 << 20);
}

#[test]
fn sleep_past_timeout_is_killed() {
    let _g = serial();
    require_root();
    let r = run(
        config(),
        SpawnSpec::new(["/bin/sleep", "1000"]),
        Duration::from_secs(2),
        false,
    );
    assert_eq!(r.wait, WaitStatus::TimedOut);
    assert!(r.outcome.timed_out);
    assert!(
        r.elapsed >= Duration::from_secs(2) && r.elapsed < Duration::from_secs(5),
        "{:?}",
        r.elapsed
    );
    assert_eq!(
        r.outcome.sample_exit, None,
        "killed at teardown, its exit is not the sample's own"
    );
    assert_eq!(r.outcome.killed_at_stop, 2, "init and sleep");
}

#[test]
fn double_fork_daemon_outlives_parent_until_teardown() {
    let _g = serial();
    require_root();
    let daemon = gcc(
        "daemon",
        r#"#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
int main(void){
  pid_t p = fork();
  if (p < 0) return 1;
  if (p > 0) return 0;           /* parent exits at once */
  setsid();
  if (fork() != 0) _exit(0);     /* session leader exits too */
  FILE *f = fopen("/tmp/daemon.pid", "w");
  if (f) { fprintf(f, "%d\n", getpid()); fclose(f); }
  for (;;) sleep(1);
}
"#,
    );
    let net_before = net_inodes();
    let mut sb = Sandbox::new(config().install(&daemon, "/tmp/daemon", 0o755)).unwrap();
    let spawned = sb.spawn(SpawnSpec::new(["/tmp/daemon"])).unwrap();
    let ns = sb.namespaces().unwrap();
    let trace = Trace {
        workdir: sb.workdir().to_path_buf(),
        cgroups: sb.cgroup_dirs().to_vec(),
        netns: ns.net,
        pidns: ns.pid,
        net_before,
        own_netns: true,
    };
    let init = spawned.pid_map().init_host_pid();
    let map = spawned.pid_map().clone();
    spawned.release().unwrap();
    std::thread::sleep(Duration::from_millis(700));
    let procs = sb.processes();
    assert_eq!(procs.len(), 2, "init and the daemon: {procs:?}");
    let daemon_pid = *procs.iter().find(|&&p| p != init).unwrap();
    let ns_pid = map.host_to_ns(daemon_pid).unwrap();
    assert!(ns_pid > 2);
    // Its parent is now the sandbox's init.
    let status = fs::read_to_string(format!("/proc/{daemon_pid}/status")).unwrap();
    let ppid = status.lines().find(|l| l.starts_with("PPid:")).unwrap();
    assert_eq!(
        ppid.split_whitespace().nth(1),
        Some(init.to_string().as_str())
    );
    assert_eq!(
        sb.wait(Instant::now() + Duration::from_secs(1)).unwrap(),
        WaitStatus::TimedOut
    );
    assert!(
        Path::new(&format!("/proc/{daemon_pid}")).exists(),
        "daemon alive until teardown"
    );
    let dest = changes_dest(sb.name());
    let changes = sb
        .collect_changes(&dest, &CollectOptions::default())
        .unwrap();
    let pidfile = changes
        .entries
        .iter()
        .find(|c| c.path == Path::new("/tmp/daemon.pid"))
        .unwrap();
    assert_eq!(pidfile.kind, ChangeKind::Created);
    let content = fs::read_to_string(pidfile.copied_to.as_ref().unwrap()).unwrap();
    assert_eq!(content.trim(), ns_pid.to_string());
    let o = sb.teardown().unwrap();
    assert_eq!(o.sample_exit, Some(ExitStatus::Code(0)));
    assert_eq!(o.killed_at_stop, 2);
    drop(sb);
    fs::remove_dir_all(&dest).unwrap();
    assert!(!Path::new(&format!("/proc/{daemon_pid}")).exists());
    assert_nothing_left(&trace);
}

#[test]
fn kill_minus_one_spares_the_host() {
    let _g = serial();
    require_root();
    let mut canary = Command::new("sleep").arg("60").spawn().unwrap();
    let r = run(
        config(),
        sh("sleep 100 & sleep 100 & kill -9 -1; echo rc=$?; sleep 0.2; jobs -p | wc -l"),
        Duration::from_secs(10),
        false,
    );
    assert_eq!(
        canary.try_wait().unwrap(),
        None,
        "a host process was killed"
    );
    canary.kill().unwrap();
    canary.wait().unwrap();
    let out = stdout(&r);
    assert!(out.contains("rc=0"), "{out}");
    assert_eq!(r.wait, WaitStatus::Exited);
    assert_eq!(r.outcome.sample_exit, Some(ExitStatus::Code(0)));
}

#[test]
fn writes_to_host_paths_stay_in_the_sandbox() {
    let _g = serial();
    require_root();
    let host_tmp = format!("/tmp/ferret-escape-test-{}", std::process::id());
    assert!(
        !Path::new("/root/ferret-escape-test").exists(),
        "leftover /root/ferret-escape-test on the host"
    );
    let script = format!(
        "echo escaped > /root/ferret-escape-test && echo tmp > {host_tmp} && \
         mkdir -p /var/lib/evil && ln -s /etc/passwd /tmp/link && mkfifo /tmp/fifo && \
         echo 'x:x:0:0::/:/bin/sh' >> /etc/passwd && rm /etc/crontab && \
         echo '* * * * * root /tmp/x' > /etc/cron.d/evil && rm -rf /etc/init.d && \
         ln /root/ferret-escape-test /root/hardlink && echo shm > /dev/shm/seg && \
         truncate -s 100M /tmp/sparse && mkdir -p /tmp/deep/$(printf 'd/%.0s' $(seq 100)) && \
         echo done"
    );
    let r = run(config(), sh(&script), Duration::from_secs(20), true);
    assert!(
        stdout(&r).contains("done"),
        "{}",
        String::from_utf8_lossy(&r.outcome.stderr.data)
    );
    assert!(!Path::new("/root/ferret-escape-test").exists());
    assert!(!Path::new(&host_tmp).exists());
    let changes = r.changes.unwrap();
    let find = |p: &str| {
        changes
            .entries
            .iter()
            .find(|c| c.path == Path::new(p))
            .unwrap_or_else(|| panic!("{p} not collected: {:#?}", changes.entries))
    };
    let esc = find("/root/ferret-escape-test");
    assert_eq!(esc.kind, ChangeKind::Created);
    assert_eq!(esc.entry, EntryKind::Regular);
    assert_eq!(esc.size, 8);
    assert_eq!(esc.nlink, 2);
    assert_eq!(
        fs::read_to_string(esc.copied_to.as_ref().unwrap()).unwrap(),
        "escaped\n"
    );
    assert_eq!(find(&host_tmp).kind, ChangeKind::Created);
    assert_eq!(find("/var/lib/evil").entry, EntryKind::Directory);
    let link = find("/tmp/link");
    assert_eq!(link.entry, EntryKind::Symlink(PathBuf::from("/etc/passwd")));
    assert!(link.copied_to.is_none());
    assert_eq!(find("/tmp/fifo").entry, EntryKind::Fifo);
    let passwd = find("/etc/passwd");
    assert_eq!(passwd.kind, ChangeKind::Modified);
    assert!(
        fs::read_to_string(passwd.copied_to.as_ref().unwrap())
            .unwrap()
            .ends_with("x:x:0:0::/:/bin/sh\n")
    );
    assert_eq!(find("/etc/crontab").kind, ChangeKind::Deleted);
    assert_eq!(find("/etc/cron.d/evil").kind, ChangeKind::Created);
    assert_eq!(find("/etc/init.d").kind, ChangeKind::Deleted);
    assert_eq!(find("/dev/shm/seg").kind, ChangeKind::Created);
    let deep: Vec<_> = changes
        .entries
        .iter()
        .filter(|c| c.path.starts_with("/tmp/deep"))
        .collect();
    assert!(deep.len() < 100, "the walk is depth-limited");
    assert!(
        deep.iter().any(|c| c
            .not_copied
            .as_deref()
            .is_some_and(|n| n.contains("deeper"))),
        "{deep:?}"
    );
    let sparse = find("/tmp/sparse");
    assert_eq!(sparse.size, 100 << 20);
    assert!(sparse.copied_to.is_none() && sparse.not_copied.is_some());
    let dest = esc
        .copied_to
        .as_ref()
        .unwrap()
        .ancestors()
        .nth(2)
        .unwrap()
        .to_path_buf();
    fs::remove_dir_all(dest).unwrap();
}

const DENIED_SRC: &str = r#"#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sched.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
static void try(const char *name, long ret) {
  printf("%s=%s\n", name, ret == -1 ? strerrorname_np(errno) : "OK");
}
int main(void) {
  try("init_module", syscall(SYS_init_module, 0, 0, ""));
  /* Bad magic numbers: harmless even if the filter let it through. */
  try("reboot", syscall(SYS_reboot, 1, 2, 3, 0));
  try("mount", syscall(SYS_mount, "none", "/mnt", "tmpfs", 0, 0));
  try("setns", syscall(SYS_setns, 0, 0));
  try("bpf", syscall(SYS_bpf, 0, 0, 0));
  try("unshare_user", syscall(SYS_unshare, CLONE_NEWUSER));
  try("unshare_uts", syscall(SYS_unshare, CLONE_NEWUTS));
#ifdef __x86_64__
  try("x32_getpid", syscall(0x40000000 | SYS_getpid));
#endif
  /* init is non-dumpable: root of the sandbox cannot attach to it. */
  try("ptrace_init", ptrace(PTRACE_ATTACH, 1, 0, 0));
  try("getpid", syscall(SYS_getpid));
  return 0;
}
"#;

#[test]
fn denied_syscalls_fail_with_eperm_and_are_recorded() {
    let _g = serial();
    require_root();
    let x64 = gcc("denied64", DENIED_SRC);
    let i386 = compile("denied32", DENIED_SRC, "i686-linux-gnu-gcc", &["-static"]);
    let cfg = config()
        .install(&x64, "/tmp/denied64", 0o755)
        .install(&i386, "/tmp/denied32", 0o755);
    let r = run(
        cfg,
        sh("/tmp/denied64; /tmp/denied32"),
        Duration::from_secs(20),
        false,
    );
    let out = stdout(&r);
    let common = "init_module=EPERM\nreboot=EPERM\nmount=EPERM\nsetns=EPERM\nbpf=EPERM\n\
                  unshare_user=EPERM\nunshare_uts=OK\n";
    let tail = "ptrace_init=EPERM\ngetpid=OK\n";
    assert_eq!(
        out,
        format!("{common}x32_getpid=EPERM\n{tail}{common}{tail}"),
        "{}",
        String::from_utf8_lossy(&r.outcome.stderr.data)
    );
    let names: Vec<(u32, &str)> = r
        .outcome
        .denied_syscalls
        .iter()
        .map(|d| (d.arch, d.name))
        .collect();
    let mut expected = Vec::new();
    for arch in [AUDIT_ARCH_X86_64, AUDIT_ARCH_I386] {
        for name in [
            "init_module",
            "reboot",
            "mount",
            "setns",
            "bpf",
            "unshare(CLONE_NEWUSER)",
        ] {
            expected.push((arch, name));
        }
        if arch == AUDIT_ARCH_X86_64 {
            expected.push((arch, "x32 syscall"));
        }
    }
    assert_eq!(names, expected);
    assert_eq!(r.outcome.denied_total, 13);
    assert!(
        r.outcome
            .denied_syscalls
            .windows(2)
            .all(|w| w[0].when <= w[1].when && w[0].at <= w[1].at)
    );
    assert!(r.outcome.denied_syscalls.iter().all(|d| d.host_pid > 0));
    let mount = &r.outcome.denied_syscalls[2];
    assert_eq!(mount.nr, libc::SYS_mount as i32);
}

#[test]
fn tracer_seizes_the_sample_before_release() {
    let _g = serial();
    require_root();
    // The tracer's filter: SECCOMP_RET_TRACE for uname(2) on x86-64, allow the rest.
    let filter = vec![
        bpf_ld(4),
        bpf_jeq(AUDIT_ARCH_X86_64, 0, 3),
        bpf_ld(0),
        bpf_jeq(libc::SYS_uname as u32, 0, 1),
        bpf_ret(0x7ff0_0000),
        bpf_ret(0x7fff_0000),
    ];
    let mut spec = SpawnSpec::new(["/bin/uname", "-n"]);
    spec.extra_seccomp = Some(filter);
    let net_before = net_inodes();
    let mut sb = Sandbox::new(config()).unwrap();
    let spawned = sb.spawn(spec).unwrap();
    let trace = trace_of(&sb, net_before);
    let pid = spawned.host_pid();
    let opts = libc::PTRACE_O_TRACEEXEC | libc::PTRACE_O_TRACESECCOMP | libc::PTRACE_O_EXITKILL;
    // SAFETY: PTRACE_SEIZE of a process of ours; integer arguments only.
    let r = unsafe { libc::ptrace(libc::PTRACE_SEIZE, pid, 0, opts as libc::c_long) };
    assert_eq!(r, 0, "PTRACE_SEIZE: {}", std::io::Error::last_os_error());
    spawned.release().unwrap();
    let (mut saw_exec, mut saw_uname) = (false, false);
    loop {
        let mut status = 0;
        // SAFETY: waiting for our tracee with a valid status pointer.
        let w = unsafe { libc::waitpid(pid, &mut status, libc::__WALL) };
        assert_eq!(w, pid);
        if libc::WIFEXITED(status) {
            assert_eq!(libc::WEXITSTATUS(status), 0);
            break;
        }
        assert!(libc::WIFSTOPPED(status), "status {status:#x}");
        let event = (status >> 16) & 0xff;
        let mut sig = 0;
        if event == libc::PTRACE_EVENT_EXEC {
            saw_exec = true;
        } else if event == libc::PTRACE_EVENT_SECCOMP {
            // SAFETY: user_regs_struct is plain old data; the tracee is stopped.
            let mut regs: libc::user_regs_struct = unsafe { std::mem::zeroed() };
            // SAFETY: PTRACE_GETREGS into a properly sized struct.
            let r = unsafe { libc::ptrace(libc::PTRACE_GETREGS, pid, 0, &mut regs) };
            assert_eq!(r, 0);
            saw_uname |= regs.orig_rax == libc::SYS_uname as u64;
        } else if event == 0 {
            sig = libc::WSTOPSIG(status);
        }
        // SAFETY: resuming our stopped tracee.
        unsafe { libc::ptrace(libc::PTRACE_CONT, pid, 0, sig as libc::c_long) };
    }
    assert!(saw_exec && saw_uname, "exec {saw_exec}, uname {saw_uname}");
    assert_eq!(
        sb.wait(Instant::now() + Duration::from_secs(10)).unwrap(),
        WaitStatus::Exited
    );
    let o = sb.teardown().unwrap();
    assert_eq!(o.stdout.data, b"srv-web01\n");
    assert_eq!(o.sample_exit, Some(ExitStatus::Code(0)));
    drop(sb);
    assert_nothing_left(&trace);
}

#[test]
fn joins_a_caller_network_namespace_and_leaves_it() {
    let _g = serial();
    require_root();
    let name = format!("ferret-sbtest-{}", std::process::id());
    let ip = |args: &[&str]| {
        let st = Command::new("ip")
            .args(args)
            .status()
            .expect("iproute2's ip is needed");
        assert!(st.success(), "ip {args:?} failed");
    };
    /// Deletes the test's netns even when an assertion fails.
    struct NetnsGuard(String);
    impl Drop for NetnsGuard {
        fn drop(&mut self) {
            let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
        }
    }
    ip(&["netns", "add", &name]);
    let guard = NetnsGuard(name.clone());
    ip(&[
        "-n", &name, "link", "add", "fakenet0", "type", "veth", "peer", "name", "fakenet1",
    ]);
    let mut cfg = config();
    cfg.network = Network::Join(PathBuf::from(format!("/run/netns/{name}")));
    let r = run(
        cfg,
        sh("grep -c fakenet /proc/net/dev; ls /sys | wc -l"),
        Duration::from_secs(20),
        false,
    );
    assert_eq!(stdout(&r), "2\n0\n");
    assert!(
        Path::new(&format!("/run/netns/{name}")).exists(),
        "the caller's netns must survive"
    );
    drop(guard);
    assert!(!Path::new(&format!("/run/netns/{name}")).exists());
}

fn bpf_ld(k: u32) -> libc::sock_filter {
    libc::sock_filter {
        code: (libc::BPF_LD | libc::BPF_W | libc::BPF_ABS) as u16,
        jt: 0,
        jf: 0,
        k,
    }
}

fn bpf_jeq(k: u32, jt: u8, jf: u8) -> libc::sock_filter {
    libc::sock_filter {
        code: (libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K) as u16,
        jt,
        jf,
        k,
    }
}

fn bpf_ret(k: u32) -> libc::sock_filter {
    libc::sock_filter {
        code: (libc::BPF_RET | libc::BPF_K) as u16,
        jt: 0,
        jf: 0,
        k,
    }
}

#[test]
fn extra_seccomp_filter_is_installed_before_exec() {
    let _g = serial();
    require_root();
    // The caller's filter: mkdir and mkdirat fail with EACCES (x86-64 only).
    let filter = vec![
        bpf_ld(4),
        bpf_jeq(AUDIT_ARCH_X86_64, 0, 4),
        bpf_ld(0),
        bpf_jeq(libc::SYS_mkdir as u32, 1, 0),
        bpf_jeq(libc::SYS_mkdirat as u32, 0, 1),
        bpf_ret(0x0005_0000 | libc::EACCES as u32),
        bpf_ret(0x7fff_0000),
    ];
    let mut spec = sh("mkdir /tmp/d; echo rc=$?");
    spec.extra_seccomp = Some(filter);
    let r = run(config(), spec, Duration::from_secs(20), false);
    assert_eq!(stdout(&r), "rc=1\n");
    assert!(String::from_utf8_lossy(&r.outcome.stderr.data).contains("Permission denied"));
}

#[test]
fn hundred_thousand_tiny_files() {
    let _g = serial();
    require_root();
    let prog = gcc(
        "manyfiles",
        r#"#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>
int main(void){
  char p[64];
  mkdir("/tmp/many", 0755);
  for (int i = 0; i < 100000; i++) {
    snprintf(p, sizeof p, "/tmp/many/f%d", i);
    int fd = open(p, O_CREAT | O_WRONLY, 0644);
    if (fd < 0) { perror("open"); return 1; }
    if (write(fd, "x", 1) != 1) { perror("write"); return 2; }
    close(fd);
  }
  return 0;
}
"#,
    );
    // Every tiny file costs a 4 KiB tmpfs page (charged to the memory cgroup too).
    let mut cfg = config().install(&prog, "/tmp/manyfiles", 0o755);
    cfg.limits.tmpfs_bytes = 640 << 20;
    cfg.limits.memory_bytes = 1 << 30;
    let r = run(
        cfg,
        SpawnSpec::new(["/tmp/manyfiles"]),
        Duration::from_secs(60),
        true,
    );
    assert!(!r.outcome.tmpfs_full);
    assert_eq!(
        r.outcome.sample_exit,
        Some(ExitStatus::Code(0)),
        "{}",
        String::from_utf8_lossy(&r.outcome.stderr.data)
    );
    let c = r.changes.unwrap();
    let files = c
        .entries
        .iter()
        .filter(|e| {
            e.path.starts_with("/tmp/many")
                && e.entry == EntryKind::Regular
                && e.kind == ChangeKind::Created
        })
        .count();
    assert_eq!(files, 100_000);
    let failed: Vec<_> = c
        .entries
        .iter()
        .filter(|e| e.size != 1 && e.entry == EntryKind::Regular)
        .take(3)
        .collect();
    assert_eq!(c.bytes_copied, 100_000, "{failed:?}");
    assert!(r.outcome.tmpfs_used_inodes >= 100_000);
    eprintln!("100k files: run {:?}", r.elapsed);
    let first = c.entries.iter().find_map(|e| e.copied_to.clone()).unwrap();
    fs::remove_dir_all(first.ancestors().nth(3).unwrap()).unwrap();
}

#[test]
fn stdout_flood_is_capped_and_counted() {
    let _g = serial();
    require_root();
    let mut spec = sh("head -c 10000000 /dev/zero; echo done >&2");
    spec.stdout_cap = 1 << 20;
    let r = run(config(), spec, Duration::from_secs(20), false);
    assert_eq!(r.outcome.sample_exit, Some(ExitStatus::Code(0)));
    assert_eq!(r.outcome.stdout.total_bytes, 10_000_000);
    assert_eq!(r.outcome.stdout.data.len(), 1 << 20);
    assert_eq!(r.outcome.stdout.truncated_bytes, 10_000_000 - (1 << 20));
    assert_eq!(r.outcome.stderr.data, b"done\n");
}

#[test]
fn exec_and_setup_failures_are_reported() {
    let _g = serial();
    require_root();
    let r = run(
        config(),
        SpawnSpec::new(["/nonexistent/sample"]),
        Duration::from_secs(10),
        false,
    );
    assert_eq!(r.outcome.exec_errno, Some(libc::ENOENT));
    assert_eq!(r.outcome.sample_exit, Some(ExitStatus::Code(127)));
    let mut spec = SpawnSpec::new(["/bin/true"]);
    spec.cwd = PathBuf::from("/no/such/dir");
    let r = run(config(), spec, Duration::from_secs(10), false);
    let err = r.outcome.setup_error.clone().unwrap_or_default();
    assert!(err.contains("working directory"), "{err:?}");
    assert_eq!(r.outcome.sample_exit, Some(ExitStatus::Code(1)));
}

#[test]
fn bad_configuration_is_refused() {
    let _g = serial();
    let entries = || fs::read_dir(work_root()).unwrap().count();
    let before = entries();
    let mut cfg = config();
    cfg.id_map_base = 0;
    assert!(matches!(
        Sandbox::new(cfg),
        Err(ferret_sandbox::Error::InvalidConfig(_))
    ));
    let mut cfg = config();
    cfg.hostname = "bad host".into();
    assert!(Sandbox::new(cfg).is_err());
    let cfg = config().install("/bin/true", "/usr/bin/evil", 0o755);
    assert!(Sandbox::new(cfg).is_err());
    let cfg = config().install("/bin/true", "/tmp/../etc/x", 0o755);
    assert!(Sandbox::new(cfg).is_err());
    let mut cfg = config();
    cfg.limits = Limits {
        pids: 1,
        ..Limits::default()
    };
    assert!(Sandbox::new(cfg).is_err());
    let cfg = config().install("/nonexistent/file", "/tmp/x", 0o755);
    assert!(Sandbox::new(cfg).is_err());
    assert_eq!(
        entries(),
        before,
        "a refused sandbox left its work directory"
    );
}

/// Not a test on its own: the body of the subprocess of
/// `host_crash_kills_the_sandbox_and_cleanup_stale_removes_the_rest`, which sets the
/// variable. It starts a sandbox and aborts without any teardown.
#[test]
fn crash_helper_subprocess() {
    if std::env::var_os("FERRET_SANDBOX_CRASH_HELPER").is_none() {
        return;
    }
    let mut sb = Sandbox::new(config()).unwrap();
    let spawned = sb.spawn(SpawnSpec::new(["/bin/sleep", "1000"])).unwrap();
    let ns = sb.namespaces().unwrap();
    println!("WORKDIR {}", sb.workdir().display());
    println!("PIDNS {}", ns.pid);
    println!("NETNS {}", ns.net);
    for cg in sb.cgroup_dirs() {
        println!("CGROUP {}", cg.display());
    }
    spawned.release().unwrap();
    std::thread::sleep(Duration::from_millis(200));
    use std::io::Write;
    std::io::stdout().flush().unwrap();
    std::process::abort();
}

#[test]
fn host_crash_kills_the_sandbox_and_cleanup_stale_removes_the_rest() {
    let _g = serial();
    require_root();
    let net_before = net_inodes();
    let out = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "crash_helper_subprocess",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("FERRET_SANDBOX_CRASH_HELPER", "1")
        .output()
        .unwrap();
    assert!(
        !out.status.success() && out.stdout.windows(7).any(|w| w == b"WORKDIR"),
        "the helper must start a sandbox and abort: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let field = |key: &str| -> Vec<String> {
        text.lines()
            .filter_map(|l| l.split_once(key).map(|(_, v)| v.trim().to_owned()))
            .collect()
    };
    let workdir = PathBuf::from(&field("WORKDIR ")[0]);
    let trace = Trace {
        workdir: workdir.clone(),
        cgroups: field("CGROUP ").iter().map(PathBuf::from).collect(),
        netns: field("NETNS ")[0].parse().unwrap(),
        pidns: field("PIDNS ")[0].parse().unwrap(),
        net_before,
        own_netns: true,
    };
    // The sandbox died with its host process (parent-death signal of init).
    let until = Instant::now() + Duration::from_secs(5);
    while pid_ns_alive(trace.pidns) && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(
        !pid_ns_alive(trace.pidns),
        "the sandbox outlived its host process"
    );
    // Mount, cgroups and work directory are left until cleanup_stale.
    assert!(workdir.join("fs").exists());
    let cleaned = cleanup_stale(&work_root()).unwrap();
    assert!(cleaned.contains(&workdir), "{cleaned:?}");
    assert_nothing_left(&trace);
}

#[test]
fn cpu_quota_throttles_a_busy_loop() {
    let _g = serial();
    require_root();
    let spin = gcc(
        "spin",
        r#"#include <time.h>
int main(void){
  struct timespec a, b;
  clock_gettime(CLOCK_MONOTONIC, &a);
  do { clock_gettime(CLOCK_MONOTONIC, &b); }
  while ((b.tv_sec - a.tv_sec) * 1000000000L + (b.tv_nsec - a.tv_nsec) < 2000000000L);
  return 0;
}
"#,
    );
    let mut cfg = config().install(&spin, "/tmp/spin", 0o755);
    cfg.limits.cpu_percent = Some(20);
    let r = run(
        cfg,
        SpawnSpec::new(["/tmp/spin"]),
        Duration::from_secs(20),
        false,
    );
    assert_eq!(r.outcome.sample_exit, Some(ExitStatus::Code(0)));
    let cpu = Duration::from_nanos(r.outcome.cpu_time_ns.unwrap());
    // 2 s of wall time at a 20 % quota: about 0.4 s of CPU (never the full 2 s).
    assert!(
        cpu < Duration::from_millis(900),
        "cpu {cpu:?} in {:?}",
        r.elapsed
    );
    assert!(cpu > Duration::from_millis(100), "cpu {cpu:?}");
    eprintln!("busy loop at 20 %: {cpu:?} CPU in {:?}", r.elapsed);
}

#[test]
fn concurrent_sandboxes_are_isolated_and_drop_cleans_up() {
    let _g = serial();
    require_root();
    let net_before = net_inodes();
    let mut a = Sandbox::new(config()).unwrap();
    let mut b = Sandbox::new(config()).unwrap();
    let sa = a
        .spawn(sh("echo secret > /tmp/a-file; sleep 1000"))
        .unwrap();
    let sb_ = b
        .spawn(sh(
            "sleep 0.3; ls /tmp/a-file 2>&1; echo pid=$$; sleep 1000",
        ))
        .unwrap();
    let (ta, tb) = (trace_of(&a, net_before.clone()), trace_of(&b, net_before));
    assert_ne!(ta.pidns, tb.pidns);
    assert_ne!(ta.netns, tb.netns);
    sa.release().unwrap();
    sb_.release().unwrap();
    std::thread::sleep(Duration::from_millis(800));
    let ob = b.teardown().unwrap();
    let out = String::from_utf8_lossy(&ob.stdout.data);
    assert!(out.contains("No such file"), "{out}");
    assert!(out.contains("pid=2"), "{out}");
    assert_eq!(ob.killed_at_stop, 3, "init, sh and sleep");
    drop(b);
    assert_nothing_left(&tb);
    // Dropping without teardown still removes everything.
    assert_eq!(a.processes().len(), 3);
    drop(a);
    assert_nothing_left(&ta);
}
