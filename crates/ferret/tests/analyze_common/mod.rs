//! Shared helpers of the `ferret analyze` tests: test programs compiled from source,
//! running the CLI, and checking that nothing of a task is left on the host.
#![allow(dead_code)]

use std::collections::BTreeSet;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU32, Ordering};

use serde_json::Value;

pub const FERRET: &str = env!("CARGO_BIN_EXE_ferret");

/// One benign C program imitating one behaviour per mode (`argv[1]`).
pub const BEHAVE_C: &str = r##"
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static void put(const char *path, const char *text, int flags) {
    int fd = open(path, O_WRONLY | O_CREAT | flags, 0644);
    if (fd >= 0) { if (write(fd, text, strlen(text)) < 0) {} close(fd); }
}

static void copy_self(const char *dst) {
    int in = open("/proc/self/exe", O_RDONLY);
    int out = open(dst, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    char buf[65536]; ssize_t n;
    while (in >= 0 && out >= 0 && (n = read(in, buf, sizeof buf)) > 0) { if (write(out, buf, n) != n) break; }
    if (in >= 0) close(in);
    if (out >= 0) close(out);
}

int main(int argc, char **argv) {
    const char *m = argc > 1 ? argv[1] : "clean";
    if (!strcmp(m, "clean")) { printf("hello\n"); return 0; }
    if (!strcmp(m, "child")) { return 0; }
    if (!strcmp(m, "antidebug")) { if (ptrace(PTRACE_TRACEME, 0, 0, 0) < 0) puts("traced"); return 0; }
    if (!strcmp(m, "rename")) { prctl(PR_SET_NAME, "[kworker/0:1]"); return 0; }
    if (!strcmp(m, "daemon")) {
        pid_t p = fork();
        if (p == 0) { setsid(); if (fork() == 0) { sleep(1); _exit(0); } _exit(0); }
        waitpid(p, 0, 0); return 0;
    }
    if (!strcmp(m, "selfdelete")) { unlink(argv[0]); return 0; }
    if (!strcmp(m, "cron")) { put("/etc/cron.d/updater", "* * * * * root /tmp/x\n", O_TRUNC); return 0; }
    if (!strcmp(m, "initd")) { put("/etc/init.d/updater", "#!/bin/sh\n/tmp/x &\n", O_TRUNC); return 0; }
    if (!strcmp(m, "rclocal")) { put("/etc/rc.local", "/tmp/x &\n", O_APPEND); return 0; }
    if (!strcmp(m, "systemd")) {
        mkdir("/etc/systemd", 0755); mkdir("/etc/systemd/system", 0755);
        put("/etc/systemd/system/updater.service", "[Service]\nExecStart=/tmp/x\n", O_TRUNC); return 0;
    }
    if (!strcmp(m, "shellrc")) { put("/root/.bashrc", "/tmp/x &\n", O_APPEND); return 0; }
    if (!strcmp(m, "ldpreload")) { put("/etc/ld.so.preload", "/tmp/libx.so\n", O_TRUNC); return 0; }
    if (!strcmp(m, "sshkey")) {
        mkdir("/root/.ssh", 0700);
        put("/root/.ssh/authorized_keys", "ssh-ed25519 AAAAC3Nza test\n", O_APPEND); return 0;
    }
    if (!strcmp(m, "creds")) {
        char b[256]; int fd = open("/etc/passwd", O_RDONLY); if (fd >= 0) { if (read(fd, b, sizeof b) < 0) {} close(fd); }
        fd = open("/etc/shadow", O_RDONLY); if (fd >= 0) { if (read(fd, b, sizeof b) < 0) {} close(fd); }
        return 0;
    }
    if (!strcmp(m, "prockill")) {
        pid_t victim = fork();
        if (victim == 0) { pause(); _exit(0); }
        DIR *d = opendir("/proc"); struct dirent *e; int n = 0;
        while (d && (e = readdir(d))) {
            char p[300]; snprintf(p, sizeof p, "/proc/%s/cmdline", e->d_name);
            int fd = open(p, O_RDONLY); if (fd >= 0) { n++; close(fd); }
        }
        if (d) closedir(d);
        kill(victim, SIGKILL); waitpid(victim, 0, 0);
        printf("%d\n", n); return 0;
    }
    if (!strcmp(m, "killall")) { signal(SIGTERM, SIG_IGN); kill(-1, SIGTERM); return 0; }
    if (!strcmp(m, "memfd")) {
        int fd = memfd_create("x", 0);
        int in = open("/proc/self/exe", O_RDONLY); char buf[65536]; ssize_t n;
        while ((n = read(in, buf, sizeof buf)) > 0) { if (write(fd, buf, n) != n) return 1; }
        char *args[] = {"kworker", "child", 0}; char *env[] = {0};
        fexecve(fd, args, env); return 1;
    }
    if (!strcmp(m, "dropper")) {
        copy_self("/tmp/.x");
        chmod("/tmp/.x", 0755);
        pid_t p = fork();
        if (p == 0) { execl("/tmp/.x", "/tmp/.x", "child", (char *)0); _exit(1); }
        waitpid(p, 0, 0); return 0;
    }
    if (!strcmp(m, "rawsock")) { int s = socket(AF_INET, SOCK_RAW, IPPROTO_TCP); return s < 0; }
    if (!strcmp(m, "telnet")) {
        /* Only loopback inside the sandbox's own network namespace. */
        int l = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in a = {0}; a.sin_family = AF_INET; a.sin_port = htons(23); a.sin_addr.s_addr = htonl(INADDR_ANY);
        int one = 1; setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (bind(l, (struct sockaddr *)&a, sizeof a) < 0 || listen(l, 64) < 0) return 2;
        for (int i = 1; i <= 10; i++) {
            int s = socket(AF_INET, SOCK_STREAM, 0);
            struct sockaddr_in t = {0}; t.sin_family = AF_INET; t.sin_port = htons(23);
            t.sin_addr.s_addr = htonl(0x7f000000u + i);
            connect(s, (struct sockaddr *)&t, sizeof t); close(s);
        }
        return 0;
    }
    if (!strcmp(m, "history")) { put("/root/.bash_history", "", O_TRUNC); return 0; }
    if (!strcmp(m, "kmod")) { syscall(175, 0, 0, ""); return 0; /* init_module: denied by the sandbox */ }
    return 3;
}
"##;

static COUNTER: AtomicU32 = AtomicU32::new(0);

pub fn require_root() {
    let uid = fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Uid:"))
                .and_then(|v| v.split_whitespace().nth(1).map(str::to_owned))
        })
        .unwrap_or_default();
    assert_eq!(
        uid, "0",
        "the ferret analyze tests must run as root (sandbox: namespaces, mounts, cgroups)"
    );
}

/// A fresh scratch directory (on /dev/shm when there is one: 100,000 collected files
/// would take minutes on the VM's disk).
pub fn scratch(name: &str) -> PathBuf {
    let base = if Path::new("/dev/shm").is_dir() {
        PathBuf::from("/dev/shm")
    } else {
        std::env::temp_dir()
    };
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let d = base.join(format!(
        "ferret-analyze-tests-{}-{n}-{name}",
        std::process::id()
    ));
    let _ = fs::remove_dir_all(&d);
    fs::create_dir_all(&d).unwrap();
    fs::set_permissions(&d, fs::Permissions::from_mode(0o755)).unwrap();
    d
}

/// Compiles C source into a binary in its own scratch directory.
pub fn compile(name: &str, src: &str, flags: &[&str]) -> PathBuf {
    let dir = scratch(&format!("bin-{name}"));
    let c = dir.join(format!("{name}.c"));
    fs::write(&c, src).unwrap();
    let out = dir.join(name);
    let st = Command::new("gcc")
        .args(flags)
        .arg("-O1")
        .arg("-o")
        .arg(&out)
        .arg(&c)
        .status()
        .unwrap_or_else(|e| {
            panic!("gcc is needed for the test programs (scripts/install.sh installs it): {e}")
        });
    assert!(st.success(), "compiling {name} failed");
    out
}

pub fn behave() -> PathBuf {
    compile("behave", BEHAVE_C, &[])
}

/// A finished `ferret analyze` run.
pub struct Run {
    pub report: Value,
    pub out_dir: PathBuf,
    pub output: Output,
}

impl Run {
    pub fn attack_ids(&self) -> BTreeSet<String> {
        self.report["signatures"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|s| {
                s["attack"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|a| a.as_str().unwrap().to_owned())
            })
            .collect()
    }

    pub fn verdict(&self) -> &str {
        self.report["verdict"].as_str().unwrap()
    }

    pub fn cleanup(&self) {
        let _ = fs::remove_dir_all(self.out_dir.parent().unwrap_or(&self.out_dir));
    }
}

/// Runs `ferret analyze SAMPLE EXTRA... --out DIR --no-store`, checks that it succeeded,
/// that report.json parses, and that nothing of the task remains on the host.
pub fn analyze(sample: &Path, extra: &[&str]) -> Run {
    let dir = scratch("out");
    let out_dir = dir.join("analysis");
    let netns_before = ip_netns_list();
    let child = Command::new(FERRET)
        .arg("analyze")
        .arg(sample)
        .arg("--out")
        .arg(&out_dir)
        .arg("--no-store")
        .args(extra)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("running ferret");
    let pid = child.id();
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "ferret analyze {} {extra:?} failed: {}",
        sample.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    assert_nothing_left(pid);
    // Other test binaries may add named namespaces meanwhile: only one named after
    // this task would be ours.
    let prefix = format!("ferret-{pid}-");
    let added: Vec<String> = ip_netns_list()
        .into_iter()
        .filter(|n| !netns_before.contains(n) && n.starts_with(&prefix))
        .collect();
    assert!(
        added.is_empty(),
        "network namespaces of the task left: {added:?}"
    );
    let text = fs::read_to_string(out_dir.join("report.json")).expect("report.json");
    let report: Value = serde_json::from_str(&text).expect("report.json is JSON");
    Run {
        report,
        out_dir,
        output,
    }
}

fn ip_netns_list() -> Vec<String> {
    Command::new("ip")
        .args(["netns", "list"])
        .output()
        .map(|o| {
            let mut v: Vec<String> = String::from_utf8_lossy(&o.stdout)
                .lines()
                .map(str::to_owned)
                .collect();
            v.sort();
            v
        })
        .unwrap_or_default()
}

/// Task names are `ferret-<pid of the analysing process>-...`: after that process has
/// exited, no cgroup, mount, work directory or process may carry the prefix.
pub fn assert_nothing_left(ferret_pid: u32) {
    let prefix = format!("ferret-{ferret_pid}-");
    // Cgroup directories (v1 controllers and the v2 hierarchy), a few levels deep.
    let mut stack: Vec<(PathBuf, usize)> = vec![(PathBuf::from("/sys/fs/cgroup"), 0)];
    while let Some((d, depth)) = stack.pop() {
        let Ok(rd) = fs::read_dir(&d) else { continue };
        for e in rd.flatten() {
            if !e.file_type().is_ok_and(|t| t.is_dir()) {
                continue;
            }
            let name = e.file_name().to_string_lossy().into_owned();
            assert!(
                !name.starts_with(&prefix),
                "cgroup {} left",
                e.path().display()
            );
            if depth < 3 {
                stack.push((e.path(), depth + 1));
            }
        }
    }
    let mounts = fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(
        !mounts.contains(&prefix),
        "a mount of the task is left:\n{mounts}"
    );
    let work = std::env::temp_dir().join("ferret-sandbox");
    if let Ok(rd) = fs::read_dir(&work) {
        for e in rd.flatten() {
            assert!(
                !e.file_name().to_string_lossy().starts_with(&prefix),
                "work directory {} left",
                e.path().display()
            );
        }
    }
    for e in fs::read_dir("/proc").unwrap().flatten() {
        if let Ok(cg) = fs::read_to_string(e.path().join("cgroup")) {
            assert!(
                !cg.contains(&prefix),
                "process {:?} still in the task's cgroup",
                e.file_name()
            );
        }
    }
}

/// Every ATT&CK id of `want` is in the run's signatures.
pub fn assert_attack(run: &Run, what: &str, want: &[&str]) {
    let got = run.attack_ids();
    for w in want {
        assert!(
            got.contains(*w),
            "{what}: expected ATT&CK {w}, got {got:?}\nsignatures: {}",
            serde_json::to_string_pretty(&run.report["signatures"]).unwrap()
        );
    }
}
