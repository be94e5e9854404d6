//! Done-when 4: every bundled rule fires on a positive event sequence and stays silent on a
//! near-miss. Also checks tags (ATT&CK ids) and weights.

mod common;

use std::sync::OnceLock;

use common::*;
use ferret_event::Value;
use ferret_rules::{Analyzer, BUNDLED_RULES, Engine, RuleSet, Verdict};

fn engine() -> &'static Engine {
    static E: OnceLock<Engine> = OnceLock::new();
    E.get_or_init(|| {
        let mut set = RuleSet::new();
        set.load_str("rules/ferret_rules.yaml", BUNDLED_RULES)
            .expect("bundled rules load");
        Engine::compile(&set).unwrap_or_else(|e| panic!("bundled rules compile: {}", e[0]))
    })
}

/// The sample under analysis: pid 100, child of bash(50), /opt/sample/sample.
fn base() -> Seq {
    let mut s = Seq::new();
    s.spawn(50, 100, "/opt/sample/sample", &["sample"]);
    s
}

const SIGKILL: u64 = 9;

fn cases() -> Vec<Case> {
    vec![
        Case {
            rule: "Anti-debugging via PTRACE_TRACEME",
            pos: |s| {
                s.call(
                    100,
                    "ptrace",
                    vec![
                        ("request", flags(0, "PTRACE_TRACEME")),
                        ("pid", Value::Int(0)),
                    ],
                    0,
                );
            },
            neg: |s| {
                s.call(
                    100,
                    "ptrace",
                    vec![
                        ("request", flags(16, "PTRACE_ATTACH")),
                        ("pid", Value::Int(300)),
                    ],
                    0,
                );
            },
        },
        Case {
            rule: "Anti-debugging via TracerPid check",
            pos: |s| {
                s.open(100, "/proc/self/status", O_RDONLY, 3);
            },
            neg: |s| {
                s.open(100, "/proc/self/maps", O_RDONLY, 3);
            },
        },
        Case {
            rule: "Process renamed with prctl PR_SET_NAME",
            pos: |s| {
                s.call(
                    100,
                    "prctl",
                    vec![
                        ("option", flags(15, "PR_SET_NAME")),
                        ("name", Value::Str("kworker/0:2".into())),
                    ],
                    0,
                );
            },
            neg: |s| {
                s.call(
                    100,
                    "prctl",
                    vec![
                        ("option", flags(15, "PR_SET_NAME")),
                        ("name", Value::Str("worker-pool".into())),
                    ],
                    0,
                );
            },
        },
        Case {
            rule: "Process started with a kernel-thread name",
            pos: |s| {
                s.spawn(100, 101, "/opt/sample/sample", &["[kworker/0:1]"]);
            },
            neg: |s| {
                s.spawn(100, 101, "/opt/sample/sample", &["sample", "[x]"]);
            },
        },
        Case {
            rule: "Process rewrote its command line",
            pos: |s| {
                s.open(100, "/proc/self/comm", O_WRONLY, 3);
            },
            neg: |s| {
                s.open(100, "/proc/self/comm", O_RDONLY, 3);
            },
        },
        Case {
            rule: "Process daemonised with setsid",
            pos: |s| {
                s.fork(100, 101);
                s.call(101, "setsid", vec![], 101);
            },
            neg: |s| {
                s.fork(100, 101);
                s.call(101, "setsid", vec![], -1);
            },
        },
        Case {
            rule: "Standard streams redirected to /dev/null",
            pos: |s| {
                s.open(100, "/dev/null", O_RDWR, 3);
                s.call(
                    100,
                    "dup2",
                    vec![("oldfd", Value::Fd(3)), ("newfd", Value::Fd(1))],
                    1,
                );
            },
            neg: |s| {
                s.open(100, "/tmp/log", O_RDWR | O_CREAT, 3);
                s.call(
                    100,
                    "dup2",
                    vec![("oldfd", Value::Fd(3)), ("newfd", Value::Fd(1))],
                    1,
                );
            },
        },
        Case {
            rule: "Executable deleted itself",
            pos: |s| {
                s.unlink(100, "/opt/sample/sample");
            },
            neg: |s| {
                s.unlink(100, "/opt/sample/other");
            },
        },
        Case {
            rule: "Cron persistence",
            pos: |s| {
                s.open(
                    100,
                    "/var/spool/cron/crontabs/root",
                    O_WRONLY | O_CREAT | O_TRUNC,
                    3,
                );
            },
            neg: |s| {
                s.open(100, "/var/spool/cron/crontabs/root", O_RDONLY, 3);
            },
        },
        Case {
            rule: "Init script persistence",
            pos: |s| {
                s.open(100, "/etc/rc.local", O_WRONLY | O_CREAT, 3);
            },
            neg: |s| {
                s.open(100, "/etc/rc.localx", O_WRONLY | O_CREAT, 3);
            },
        },
        Case {
            rule: "Systemd unit persistence",
            pos: |s| {
                s.open(
                    100,
                    "/etc/systemd/system/evil.service",
                    O_WRONLY | O_CREAT,
                    3,
                );
            },
            neg: |s| {
                s.known(120, 1, "dpkg", "/usr/bin/dpkg", &["-i"], 0);
                s.open(
                    120,
                    "/etc/systemd/system/good.service",
                    O_WRONLY | O_CREAT,
                    3,
                );
            },
        },
        Case {
            rule: "Shell startup file modified",
            pos: |s| {
                s.open(100, "/home/alice/.bashrc", O_WRONLY | 0o2000, 3);
            },
            neg: |s| {
                s.open(100, "/home/alice/.bashrc", O_RDONLY, 3);
            },
        },
        Case {
            rule: "ld.so.preload modified",
            pos: |s| {
                s.open(100, "/etc/ld.so.preload", O_WRONLY | O_CREAT, 3);
            },
            neg: |s| {
                s.open(100, "/etc/ld.so.preload", O_RDONLY, 3);
            },
        },
        Case {
            rule: "SSH authorized_keys modified",
            pos: |s| {
                s.open(100, "/root/.ssh/authorized_keys", O_WRONLY | O_CREAT, 3);
            },
            neg: |s| {
                s.open(100, "/root/.ssh/known_hosts", O_WRONLY | O_CREAT, 3);
            },
        },
        Case {
            rule: "Shadow file read",
            pos: |s| {
                s.open(100, "/etc/shadow", O_RDONLY, 3);
            },
            neg: |s| {
                s.known(130, 1, "unix_chkpwd", "/usr/sbin/unix_chkpwd", &[], 0);
                s.open(130, "/etc/shadow", O_RDONLY, 3);
            },
        },
        Case {
            rule: "Passwd file read",
            pos: |s| {
                s.open(100, "/etc/passwd", O_RDONLY, 3);
            },
            neg: |s| {
                s.spawn(50, 101, "/usr/bin/id", &["id"]);
                s.open(101, "/etc/passwd", O_RDONLY, 3);
            },
        },
        Case {
            rule: "Process enumeration through /proc",
            pos: |s| {
                s.open(100, "/proc", O_RDONLY | O_DIRECTORY, 3);
            },
            neg: |s| {
                s.spawn(50, 101, "/usr/bin/ps", &["ps", "aux"]);
                s.open(101, "/proc", O_RDONLY | O_DIRECTORY, 3);
            },
        },
        Case {
            rule: "Other process killed",
            pos: |s| {
                s.call(
                    100,
                    "kill",
                    vec![
                        ("pid", Value::Int(4242)),
                        ("sig", flags(SIGKILL, "SIGKILL")),
                    ],
                    0,
                );
            },
            neg: |s| {
                s.call(
                    100,
                    "kill",
                    vec![("pid", Value::Int(100)), ("sig", flags(SIGKILL, "SIGKILL"))],
                    0,
                );
            },
        },
        Case {
            rule: "Kill of every process",
            pos: |s| {
                s.call(
                    100,
                    "kill",
                    vec![("pid", Value::Int(-1)), ("sig", flags(SIGKILL, "SIGKILL"))],
                    0,
                );
            },
            neg: |s| {
                s.call(
                    100,
                    "kill",
                    vec![("pid", Value::Int(0)), ("sig", flags(SIGKILL, "SIGKILL"))],
                    0,
                );
            },
        },
        Case {
            rule: "Watchdog device opened",
            pos: |s| {
                s.open(100, "/dev/misc/watchdog", O_RDWR, 3);
            },
            neg: |s| {
                s.open(100, "/dev/watchdog", O_RDWR, -2);
            },
        },
        Case {
            rule: "Firewall tampering",
            pos: |s| {
                s.spawn(100, 101, "/usr/sbin/iptables", &["iptables", "-F"]);
            },
            neg: |s| {
                s.spawn(100, 101, "/usr/sbin/iptables", &["iptables", "-L"]);
            },
        },
        Case {
            rule: "Kernel module load",
            pos: |s| {
                s.call(
                    100,
                    "finit_module",
                    vec![("fd", Value::Fd(3)), ("uargs", Value::Str(String::new()))],
                    0,
                );
            },
            neg: |s| {
                s.spawn(100, 101, "/usr/bin/lsmod", &["lsmod"]);
            },
        },
        Case {
            rule: "BPF program load",
            pos: |s| {
                s.call(100, "bpf", vec![("cmd", flags(5, "BPF_PROG_LOAD"))], 4);
            },
            neg: |s| {
                s.call(100, "bpf", vec![("cmd", flags(0, "BPF_MAP_CREATE"))], 4);
            },
        },
        Case {
            rule: "Download tool executed",
            pos: |s| {
                s.spawn(
                    100,
                    101,
                    "/bin/busybox",
                    &["busybox", "wget", "http://198.51.100.7/x"],
                );
            },
            neg: |s| {
                s.spawn(100, 101, "/bin/busybox", &["busybox", "ls"]);
            },
        },
        Case {
            rule: "Execution from a writable temporary directory",
            pos: |s| {
                s.spawn(100, 101, "/dev/shm/.x/payload", &["payload"]);
            },
            neg: |s| {
                s.spawn(100, 101, "/tmpfoo/payload", &["payload"]);
            },
        },
        Case {
            rule: "Fileless execution from memfd",
            pos: |s| {
                s.call(
                    100,
                    "memfd_create",
                    vec![("name", Value::Str("x".into())), ("flags", flags(0, ""))],
                    5,
                );
                s.call(
                    100,
                    "execveat",
                    vec![
                        ("dirfd", Value::Fd(5)),
                        ("pathname", Value::Path(String::new())),
                        ("flags", flags(0x1000, "AT_EMPTY_PATH")),
                    ],
                    0,
                );
            },
            neg: |s| {
                s.call(
                    100,
                    "memfd_create",
                    vec![("name", Value::Str("x".into())), ("flags", flags(0, ""))],
                    5,
                );
                s.call(
                    100,
                    "execveat",
                    vec![
                        ("dirfd", Value::Fd(5)),
                        ("pathname", Value::Path(String::new())),
                        ("flags", flags(0x1000, "AT_EMPTY_PATH")),
                    ],
                    -2,
                );
            },
        },
        Case {
            rule: "Executable bit set on a file in a temporary directory",
            pos: |s| {
                s.open(100, "/tmp/dropper", O_WRONLY | O_CREAT, 3);
                s.call(
                    100,
                    "fchmod",
                    vec![
                        ("fd", Value::Fd(3)),
                        (
                            "mode",
                            flags(0o755, "S_IRWXU|S_IXGRP|S_IRGRP|S_IXOTH|S_IROTH"),
                        ),
                    ],
                    0,
                );
            },
            neg: |s| {
                s.call(
                    100,
                    "fchmodat",
                    vec![
                        ("dirfd", Value::Fd(-100)),
                        ("filename", Value::Path("/tmp/notes".into())),
                        ("mode", flags(0o644, "S_IRUSR|S_IWUSR|S_IRGRP|S_IROTH")),
                    ],
                    0,
                );
            },
        },
        Case {
            rule: "LD_PRELOAD set for a new program",
            pos: |s| {
                s.fork(100, 101);
                s.exec(
                    101,
                    "/usr/bin/id",
                    &["id"],
                    &["PATH=/bin", "LD_PRELOAD=/tmp/.hide.so"],
                );
            },
            neg: |s| {
                s.fork(100, 101);
                s.exec(
                    101,
                    "/usr/bin/id",
                    &["id"],
                    &["PATH=/bin", "LD_LIBRARY_PATH=/opt/lib"],
                );
            },
        },
        Case {
            rule: "Raw or packet socket opened",
            pos: |s| {
                s.call(
                    100,
                    "socket",
                    vec![
                        ("domain", flags(17, "AF_PACKET")),
                        ("type", flags(3, "SOCK_RAW")),
                        ("proto", Value::Int(768)),
                    ],
                    3,
                );
            },
            neg: |s| {
                s.call(
                    100,
                    "socket",
                    vec![
                        ("domain", flags(2, "AF_INET")),
                        ("type", flags(2, "SOCK_DGRAM")),
                        ("proto", Value::Int(0)),
                    ],
                    3,
                );
            },
        },
        Case {
            rule: "Telnet connection attempt",
            pos: |s| {
                s.connect(100, 3, [203, 0, 113, 9], 23, -115);
            },
            neg: |s| {
                s.connect(100, 3, [203, 0, 113, 9], 22, -115);
            },
        },
        Case {
            rule: "IRC connection",
            pos: |s| {
                s.connect(100, 3, [203, 0, 113, 9], 6667, 0);
            },
            neg: |s| {
                s.connect(100, 3, [203, 0, 113, 9], 6667, -111);
            },
        },
        Case {
            rule: "Shell history wiped",
            pos: |s| {
                s.open(100, "/root/.bash_history", O_WRONLY | O_TRUNC, 3);
            },
            neg: |s| {
                s.open(100, "/root/.bash_history", O_WRONLY | 0o2000, 3);
            },
        },
        Case {
            rule: "System logs wiped",
            pos: |s| {
                s.unlink(100, "/var/log/auth.log");
            },
            neg: |s| {
                s.unlink(100, "/var/tmp/auth.log");
            },
        },
    ]
}

#[test]
fn every_bundled_rule_has_a_positive_and_a_negative_case() {
    let e = engine();
    let cases = cases();
    assert!(e.rules().len() >= 30, "at least 30 bundled rules");
    for r in e.rules() {
        assert!(
            cases.iter().any(|c| c.rule == r.name),
            "rule '{}' has no test case",
            r.name
        );
    }
    let failures = check_cases(e, &cases, base);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    println!(
        "{} bundled rules, each with a positive and a negative sequence",
        cases.len()
    );
}

#[test]
fn bundled_rules_carry_attack_ids_and_weights() {
    for r in engine().rules() {
        assert!(
            !r.attack.is_empty(),
            "rule '{}' has no ATT&CK technique id in its tags",
            r.name
        );
        assert!(
            r.weight > 0.0 && r.weight <= 10.0,
            "rule '{}' weight {}",
            r.name,
            r.weight
        );
        assert!(!r.desc.is_empty());
    }
}

#[test]
fn a_bot_like_trace_is_malicious_and_a_benign_one_clean() {
    let mut s = base();
    s.call(
        100,
        "ptrace",
        vec![
            ("request", flags(0, "PTRACE_TRACEME")),
            ("pid", Value::Int(0)),
        ],
        -1,
    );
    s.unlink(100, "/opt/sample/sample");
    s.open(100, "/dev/watchdog", O_RDWR, 3);
    s.connect(100, 4, [203, 0, 113, 9], 23, -115);
    s.open(100, "/etc/cron.d/job", O_WRONLY | O_CREAT, 5);
    let mut a = Analyzer::new(engine());
    let mut alerts = Vec::new();
    for e in &s.evs {
        alerts.extend(a.feed(e));
    }
    let rep = a.report();
    let names: Vec<&str> = rep.signatures.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(rep.signatures.len(), 5, "{names:?}");
    assert_eq!(rep.verdict, Verdict::Malicious, "score {}", rep.score);
    assert_eq!(rep.score, 10.0);
    let sd = rep
        .signatures
        .iter()
        .find(|s| s.name == "Executable deleted itself")
        .expect("self-delete");
    assert_eq!(sd.attack, ["T1070.004"]);
    assert_eq!(sd.evidence.len(), 1);
    assert_eq!(sd.evidence[0].event.ty, "unlinkat");
    let telnet = alerts
        .iter()
        .find(|a| a.rule == "Telnet connection attempt")
        .expect("telnet alert");
    assert!(
        telnet
            .output
            .contains("connection=192.168.1.10:40000->203.0.113.9:23"),
        "{}",
        telnet.output
    );
    assert_eq!(telnet.priority, "Warning");

    let mut benign = base();
    benign.open(100, "/opt/sample/data.txt", O_RDONLY, 3);
    benign.connect(100, 4, [127, 0, 0, 1], 8080, 0);
    let mut a = Analyzer::new(engine());
    for e in &benign.evs {
        a.feed(e);
    }
    let rep = a.report();
    assert!(rep.signatures.is_empty());
    assert_eq!((rep.score, rep.verdict), (0.0, Verdict::Clean));
}
