//! Runs each behaviour sample (x86-64, static) in ferret's sandbox (loopback-only
//! network), traced by ferret-trace, and asserts that the syscalls that make up its
//! behaviour appear in the trace with the expected arguments and results. Needs root
//! (CI runs tests as root).

use std::collections::HashSet;
use std::fs;
use std::net::Ipv4Addr;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use ferret_sandbox::{Outcome, Sandbox, SandboxConfig, SpawnSpec, WaitStatus};
use ferret_trace::{
    ArgValue, ExitStatus, PtraceTracer, SockAddr, SyscallRecord, SyscallSet, TraceEvent, Tracer,
    ptrace_filter,
};

const PR_SET_NAME: u64 = 15;
const PTRACE_TRACEME: u64 = 0;
const AT_EMPTY_PATH: u64 = 0x1000;

struct Traced {
    events: Vec<TraceEvent>,
    outcome: Outcome,
    stdout: String,
}

impl Traced {
    fn calls<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a SyscallRecord> + 'a {
        self.events.iter().filter_map(move |e| match e {
            TraceEvent::Syscall(r) if r.name == name => Some(r),
            _ => None,
        })
    }

    /// Opens (open/openat/creat) of exactly `path`.
    fn opens<'a>(&'a self, path: &'a str) -> impl Iterator<Item = &'a SyscallRecord> + 'a {
        self.events.iter().filter_map(move |e| match e {
            TraceEvent::Syscall(r)
                if matches!(r.name, "open" | "openat" | "openat2" | "creat")
                    && str_arg(r, "name").as_deref() == Some(path) =>
            {
                Some(r)
            }
            _ => None,
        })
    }

    /// Asserts a successful open of `path` for writing.
    fn assert_written(&self, path: &str) {
        let ok = self.opens(path).any(|r| {
            let flags = num_arg(r, "flags").unwrap_or(0);
            ok(r) && flags & (libc::O_WRONLY | libc::O_RDWR) as u64 != 0
        });
        assert!(ok, "no successful write-open of {path}\n{}", self.dump());
    }

    fn execs(&self) -> impl Iterator<Item = (String, Vec<String>)> + '_ {
        self.events.iter().filter_map(|e| match e {
            TraceEvent::Exec { path, argv, .. } => Some((
                path.as_ref()
                    .map(|p| p.to_string_lossy().into_owned())
                    .unwrap_or_default(),
                argv.as_ref()
                    .map(|l| {
                        l.items
                            .iter()
                            .map(|b| b.to_string_lossy().into_owned())
                            .collect()
                    })
                    .unwrap_or_default(),
            )),
            _ => None,
        })
    }

    /// Connect destinations (IPv4 only).
    fn connects(&self) -> Vec<(Ipv4Addr, u16)> {
        self.calls("connect")
            .filter_map(|r| match r.arg("addr") {
                Some(ArgValue::SockAddr(SockAddr::Inet { addr, port })) => {
                    Some((Ipv4Addr::from(*addr), *port))
                }
                _ => None,
            })
            .collect()
    }

    fn root_exit(&self) -> Option<ExitStatus> {
        self.events.iter().find_map(|e| match e {
            TraceEvent::Exit {
                pid, tid, status, ..
            } if *pid == self.root() && pid == tid => Some(*status),
            _ => None,
        })
    }

    fn root(&self) -> i32 {
        self.events.first().map_or(0, TraceEvent::pid)
    }

    fn dump(&self) -> String {
        let mut s = format!("--- stdout ---\n{}\n--- trace ---\n", self.stdout);
        for e in self.events.iter().take(400) {
            s.push_str(&format!("{e:?}\n"));
        }
        s
    }
}

fn ok(r: &SyscallRecord) -> bool {
    r.ret.is_some_and(|v| v >= 0)
}

fn str_arg(r: &SyscallRecord, name: &str) -> Option<String> {
    match r.arg(name)? {
        ArgValue::Str(b) => Some(b.to_string_lossy().into_owned()),
        _ => None,
    }
}

fn num_arg(r: &SyscallRecord, name: &str) -> Option<u64> {
    match r.arg(name)? {
        ArgValue::Int(v) => Some(*v as u64),
        ArgValue::UInt(v) | ArgValue::Hex(v) => Some(*v),
        ArgValue::Sym(s) => Some(s.value),
        _ => None,
    }
}

fn work_root() -> PathBuf {
    let p = PathBuf::from("/tmp/ferret-samples-tests");
    fs::create_dir_all(&p).expect("work root");
    fs::set_permissions(&p, fs::Permissions::from_mode(0o755)).expect("work root mode");
    p
}

/// Runs sample `name` (x86-64, static) with `args` in a sandbox, traced, for at most
/// `timeout`; returns the trace, the sandbox's outcome and stdout.
fn trace(name: &str, args: &[&str], timeout: Duration) -> Traced {
    // SAFETY: geteuid has no preconditions.
    assert_eq!(
        unsafe { libc::geteuid() },
        0,
        "the behaviour tests need root (namespaces, mounts, cgroups)"
    );
    ferret_samples::build();
    let exe = ferret_samples::path("x86_64", name, true);
    let inside = format!("/root/{name}");
    let cfg = SandboxConfig::new(work_root()).install(&exe, &inside, 0o755);
    let mut argv = vec![inside.clone()];
    argv.extend(args.iter().map(|a| (*a).to_owned()));
    let mut spec = SpawnSpec::new(argv);
    let mut set = SyscallSet::default();
    for extra in ["ioctl", "chdir"] {
        set.insert(extra);
    }
    spec.extra_seccomp = Some(ptrace_filter(&set));
    let deadline = Instant::now() + timeout;
    let mut sb = Sandbox::new(cfg).expect("sandbox");
    let spawned = sb.spawn(spec).expect("spawn");
    let mut tracer = PtraceTracer::seize(spawned.host_pid()).expect("seize");
    spawned.release().expect("release");
    let mut events: Vec<TraceEvent> = Vec::new();
    let summary = tracer.run(deadline, &mut events).expect("trace");
    let waited = sb.wait(deadline.max(Instant::now() + Duration::from_secs(2)));
    let outcome = sb.teardown().expect("teardown");
    assert!(
        !summary.timed_out,
        "{name} still ran after {timeout:?}: {}",
        String::from_utf8_lossy(&outcome.stdout.data)
    );
    assert!(
        matches!(waited, Ok(WaitStatus::Exited)),
        "{name}: {waited:?}"
    );
    let stdout = String::from_utf8_lossy(&outcome.stdout.data).into_owned();
    Traced {
        events,
        outcome,
        stdout,
    }
}

const T: Duration = Duration::from_secs(30);

#[test]
fn antidebug_traceme() {
    let t = trace("antidebug_traceme", &[], T);
    let calls: Vec<_> = t
        .calls("ptrace")
        .filter(|r| num_arg(r, "request") == Some(PTRACE_TRACEME))
        .collect();
    assert_eq!(calls.len(), 1, "{}", t.dump());
    assert_eq!(calls[0].errno, Some(libc::EPERM), "{}", t.dump());
    assert!(
        t.stdout.contains("ptrace(PTRACE_TRACEME): fail EPERM"),
        "{}",
        t.stdout
    );
    assert!(
        t.stdout.contains("verdict: debugger detected"),
        "{}",
        t.stdout
    );
    assert!(t.opens("/proc/self/status").any(ok), "{}", t.dump());
}

#[test]
fn rename_prctl() {
    let t = trace("rename_prctl", &["--some", "args"], T);
    assert!(
        t.calls("prctl")
            .any(|r| num_arg(r, "option") == Some(PR_SET_NAME) && ok(r)),
        "{}",
        t.dump()
    );
    // The tracer does not read prctl's string: the sample's own /proc reads show it.
    assert!(
        t.stdout
            .contains("read /proc/self/comm: ok [kworker/0:1]\n"),
        "{}",
        t.stdout
    );
    assert!(
        t.stdout
            .contains("read /proc/self/cmdline: ok [kworker/0:1]\n"),
        "{}",
        t.stdout
    );
}

#[test]
fn daemon_doublefork() {
    let t = trace("daemon_doublefork", &[], T);
    let root = t.root();
    assert_eq!(t.root_exit(), Some(ExitStatus::Code(0)), "{}", t.dump());
    let setsid: Vec<_> = t.calls("setsid").filter(|r| ok(r)).collect();
    assert_eq!(setsid.len(), 1, "{}", t.dump());
    assert_ne!(setsid[0].pid, root, "setsid must run in the first child");
    let daemon_pid = t
        .calls("chdir")
        .find(|r| str_arg(r, "path").as_deref() == Some("/") && ok(r))
        .map(|r| r.pid)
        .unwrap_or_else(|| panic!("no chdir(\"/\")\n{}", t.dump()));
    assert!(daemon_pid != root && daemon_pid != setsid[0].pid);
    let beats: Vec<_> = t
        .opens("/tmp/.ferret-daemon.heartbeat")
        .filter(|r| ok(r) && r.pid == daemon_pid)
        .collect();
    assert_eq!(beats.len(), 15, "{}", t.dump());
    // The daemon outlives its parent and grandparent by about 3 s.
    let root_exit_ns = t
        .events
        .iter()
        .find_map(|e| match e {
            TraceEvent::Exit { pid, ts_ns, .. } if *pid == root => Some(*ts_ns),
            _ => None,
        })
        .expect("root exit");
    let last_beat = beats.last().map_or(0, |r| r.ts_ns);
    assert!(
        last_beat > root_exit_ns + 2_000_000_000,
        "last heartbeat {} ns after the parent's exit",
        last_beat.saturating_sub(root_exit_ns)
    );
}

#[test]
fn selfdelete() {
    let t = trace("selfdelete", &[], T);
    assert!(
        t.calls("unlink")
            .chain(t.calls("unlinkat"))
            .any(
                |r| (str_arg(r, "path").or_else(|| str_arg(r, "name"))).as_deref()
                    == Some("/root/selfdelete")
                    && ok(r)
            ),
        "{}",
        t.dump()
    );
    assert!(
        t.stdout
            .contains("exe after unlink: /root/selfdelete (deleted)"),
        "{}",
        t.stdout
    );
}

#[test]
fn persistence() {
    let t = trace("persist_cron", &[], T);
    t.assert_written("/etc/crontab");
    t.assert_written("/var/spool/cron/crontabs/root");

    let t = trace("persist_initd", &[], T);
    t.assert_written("/etc/init.d/kworkerd");
    let links: HashSet<String> = t
        .calls("symlink")
        .chain(t.calls("symlinkat"))
        .filter(|r| ok(r))
        .filter_map(|r| str_arg(r, "linkpath"))
        .collect();
    assert!(links.contains("/etc/rc.d/rc3.d/S99kworkerd"), "{links:?}");
    assert!(links.contains("/etc/rc2.d/S99kworkerd"), "{links:?}");

    let t = trace("persist_rclocal", &[], T);
    t.assert_written("/etc/rc.local");
    t.assert_written("/etc/rc.d/rc.local");

    let t = trace("persist_systemd", &[], T);
    t.assert_written("/etc/systemd/system/kworkerd.service");

    let t = trace("persist_shellrc", &[], T);
    t.assert_written("/root/.bashrc");
    t.assert_written("/etc/profile");

    let t = trace("persist_ldpreload", &[], T);
    t.assert_written("/etc/ld.so.preload");

    let t = trace("persist_sshkey", &[], T);
    t.assert_written("/root/.ssh/authorized_keys");
}

#[test]
fn cred_read() {
    let t = trace("cred_read", &[], T);
    assert!(t.opens("/etc/passwd").any(ok), "{}", t.dump());
    assert!(t.opens("/etc/shadow").next().is_some(), "{}", t.dump());
    assert!(t.stdout.contains("read /etc/passwd: ok "), "{}", t.stdout);
}

#[test]
fn proc_walk_kill() {
    let t = trace("proc_walk_kill", &[], T);
    assert_eq!(t.root_exit(), Some(ExitStatus::Code(0)), "{}", t.dump());
    let competitor = t
        .events
        .iter()
        .find_map(|e| match e {
            TraceEvent::Exec { pid, argv, .. }
                if argv
                    .as_ref()
                    .and_then(|l| l.items.first())
                    .is_some_and(|a| a.data == b"./dvrHelper") =>
            {
                Some(*pid)
            }
            _ => None,
        })
        .unwrap_or_else(|| panic!("no competitor exec\n{}", t.dump()));
    let cmdlines = t
        .calls("openat")
        .filter_map(|r| str_arg(r, "name"))
        .filter(|p| p.starts_with("/proc/") && p.ends_with("/cmdline"))
        .count();
    assert!(cmdlines >= 3, "{cmdlines} cmdline reads\n{}", t.dump());
    assert!(
        t.calls("kill")
            .any(|r| num_arg(r, "sig") == Some(libc::SIGKILL as u64) && ok(r)),
        "{}",
        t.dump()
    );
    assert!(
        t.events.iter().any(|e| matches!(e,
            TraceEvent::Exit { pid, status: ExitStatus::Signal { sig: 9, .. }, .. }
                if *pid == competitor)),
        "the competitor was not killed\n{}",
        t.dump()
    );
}

#[test]
fn watchdog() {
    let t = trace("watchdog", &[], T);
    assert!(t.opens("/dev/watchdog").next().is_some(), "{}", t.dump());
    assert!(
        t.opens("/dev/misc/watchdog").next().is_some(),
        "{}",
        t.dump()
    );
}

#[test]
fn memfd_exec() {
    let t = trace("memfd_exec", &[], T);
    assert!(
        t.calls("memfd_create")
            .any(|r| str_arg(r, "name").as_deref() == Some("kworker") && ok(r)),
        "{}",
        t.dump()
    );
    assert!(
        t.calls("execveat").any(
            |r| num_arg(r, "flags").is_some_and(|f| f & AT_EMPTY_PATH != 0)
                && str_arg(r, "pathname").as_deref() == Some("")
        ),
        "{}",
        t.dump()
    );
    assert!(
        t.execs()
            .any(|(_, argv)| argv.first().map(String::as_str) == Some("[kworker/u8:2]")),
        "{}",
        t.dump()
    );
    assert!(
        t.stdout.contains("child: running as [kworker/u8:2]"),
        "{}",
        t.stdout
    );
}

#[test]
fn dropper() {
    let t = trace("dropper", &[], T);
    t.assert_written("/tmp/.x");
    assert!(
        t.calls("chmod").chain(t.calls("fchmodat")).any(|r| {
            str_arg(r, "filename").as_deref() == Some("/tmp/.x")
                && num_arg(r, "mode") == Some(0o755)
                && ok(r)
        }),
        "{}",
        t.dump()
    );
    assert!(t.execs().any(|(p, _)| p == "/tmp/.x"), "{}", t.dump());
    assert!(
        t.stdout.contains("child: running as /tmp/.x"),
        "{}",
        t.stdout
    );
}

#[test]
fn raw_socket() {
    let t = trace("raw_socket", &[], T);
    let sockets: Vec<(u64, u64)> = t
        .calls("socket")
        .filter_map(|r| Some((num_arg(r, "domain")?, num_arg(r, "type")? & 0xf)))
        .collect();
    let raw = libc::SOCK_RAW as u64;
    assert!(
        sockets.contains(&(libc::AF_INET as u64, raw)),
        "{sockets:?}"
    );
    assert!(
        sockets.contains(&(libc::AF_PACKET as u64, raw)),
        "{sockets:?}"
    );
    assert!(
        t.calls("sendto").count() >= 3,
        "raw SYNs not sent\n{}",
        t.dump()
    );
}

#[test]
fn telnet_scan() {
    let t = trace("telnet_scan", &[], T);
    let c = t.connects();
    let on = |port: u16| {
        c.iter()
            .filter(|(a, p)| *p == port && a.octets()[..3] == [198, 51, 100])
            .map(|(a, _)| *a)
            .collect::<HashSet<_>>()
            .len()
    };
    assert!(on(23) >= 64, "{} addresses on port 23", on(23));
    assert!(on(2323) >= 64, "{} addresses on port 2323", on(2323));
    assert!(t.stdout.contains("scan: 128 attempts"), "{}", t.stdout);
}

#[test]
fn iptables_flush_and_download_exec() {
    let t = trace("iptables_flush", &[], T);
    let attempts: Vec<_> = t
        .calls("execve")
        .filter(|r| {
            str_arg(r, "filename").is_some_and(|f| f.ends_with("iptables"))
                && matches!(r.arg("argv"), Some(ArgValue::StrList(l))
                    if l.items.get(1).is_some_and(|a| a.data == b"-F"))
        })
        .collect();
    assert!(!attempts.is_empty(), "{}", t.dump());

    let t = trace("download_exec", &[], T);
    let shell_cmds: Vec<String> = t
        .execs()
        .filter(|(p, _)| p == "/bin/sh")
        .filter_map(|(_, argv)| argv.get(2).cloned())
        .collect();
    for tool in ["wget ", "curl ", "tftp ", "busybox wget "] {
        assert!(
            shell_cmds.iter().any(|c| c.contains(tool)),
            "no {tool}in {shell_cmds:?}"
        );
    }
}

#[test]
fn history_wipe() {
    let t = trace("history_wipe", &[], T);
    assert!(
        t.opens("/root/.bash_history")
            .any(|r| ok(r) && num_arg(r, "flags").is_some_and(|f| f & libc::O_TRUNC as u64 != 0)),
        "{}",
        t.dump()
    );
    assert!(
        t.calls("truncate")
            .any(|r| str_arg(r, "path").as_deref() == Some("/var/log/wtmp")),
        "{}",
        t.dump()
    );
}

#[test]
fn kmod_bpf() {
    let t = trace("kmod_bpf", &[], T);
    // The sandbox's deny-list refuses these before the tracer sees them.
    let denied: HashSet<&str> = t.outcome.denied_syscalls.iter().map(|d| d.name).collect();
    for name in ["init_module", "finit_module", "delete_module", "bpf"] {
        assert!(denied.contains(name), "{name} not denied: {denied:?}");
    }
    for line in [
        "init_module(bogus image): fail EPERM",
        "finit_module(/tmp/.ferret.ko): fail EPERM",
        "bpf(BPF_PROG_LOAD): fail EPERM",
    ] {
        assert!(t.stdout.contains(line), "{line}\n{}", t.stdout);
    }
}

#[test]
fn c2_client_and_second_stage() {
    // No network in this sandbox: the name does not resolve, the sample falls back to
    // a documentation address and every connect fails, but all are attempted.
    let t = trace("c2_client", &[], T);
    let c = t.connects();
    // The resolver's query to the sandbox's nameserver (unreachable here).
    assert!(
        c.iter().any(|(_, p)| *p == 53),
        "no DNS query: {c:?}\n{}",
        t.stdout
    );
    let fallback = Ipv4Addr::new(203, 0, 113, 10);
    for port in [80, 6667, 23] {
        assert!(
            c.contains(&(fallback, port)),
            "no connect to C2:{port}: {c:?}"
        );
    }
    let scanned: HashSet<Ipv4Addr> = c
        .iter()
        .filter(|(a, p)| *p == 23 && a.octets()[..3] == [203, 0, 113])
        .map(|(a, _)| *a)
        .collect();
    assert!(
        scanned.len() >= 50,
        "{} addresses on port 23",
        scanned.len()
    );
    assert!(
        t.stdout
            .contains("getaddrinfo(cnc.ferret-botnet.example): fail"),
        "{}",
        t.stdout
    );

    let t = trace("second_stage_downloader", &["stage.example"], T);
    assert!(t.connects().contains(&(fallback, 80)), "{:?}", t.connects());
    assert!(
        t.stdout.contains("getaddrinfo(stage.example)"),
        "{}",
        t.stdout
    );
}

#[test]
fn clean() {
    let t = trace("clean", &[], T);
    assert_eq!(t.root_exit(), Some(ExitStatus::Code(0)), "{}", t.dump());
    assert!(
        t.stdout.contains("primes below 100000: 9592\n"),
        "{}",
        t.stdout
    );
    assert!(t.stdout.contains("read /etc/hostname: ok "), "{}", t.stdout);
    let suspicious = t
        .events
        .iter()
        .filter(|e| match e {
            TraceEvent::Syscall(r) => matches!(
                r.name,
                "socket" | "connect" | "ptrace" | "prctl" | "kill" | "unlink" | "chmod"
            ),
            TraceEvent::Fork { .. } => true,
            _ => false,
        })
        .count();
    assert_eq!(suspicious, 0, "{}", t.dump());
    assert_eq!(t.execs().count(), 1, "{}", t.dump());
    assert!(
        !t.calls("openat").any(|r| num_arg(r, "flags")
            .is_some_and(|f| f & (libc::O_WRONLY | libc::O_RDWR) as u64 != 0)),
        "clean opened a file for writing\n{}",
        t.dump()
    );
}

#[test]
fn all_in_one() {
    let t = trace("all_in_one", &[], Duration::from_secs(60));
    assert_eq!(t.root_exit(), Some(ExitStatus::Code(0)), "{}", t.stdout);
    assert!(t.stdout.contains("== daemon_doublefork\n"), "{}", t.stdout);
    assert!(
        t.calls("prctl")
            .any(|r| num_arg(r, "option") == Some(PR_SET_NAME)),
        "no rename"
    );
    assert!(
        t.calls("ptrace")
            .any(|r| num_arg(r, "request") == Some(PTRACE_TRACEME)),
        "no anti-debug"
    );
    for p in [
        "/etc/crontab",
        "/etc/init.d/kworkerd",
        "/etc/systemd/system/kworkerd.service",
        "/root/.ssh/authorized_keys",
        "/etc/ld.so.preload",
        "/tmp/.x",
    ] {
        t.assert_written(p);
    }
    assert!(t.calls("memfd_create").any(ok), "no memfd");
    assert!(t.execs().any(|(p, _)| p == "/tmp/.x"), "no dropped exec");
    let port23 = t.connects().iter().filter(|(_, p)| *p == 23).count();
    assert!(port23 >= 64 + 50, "{port23} connects to port 23");
    assert!(
        t.calls("unlink")
            .any(|r| str_arg(r, "path").as_deref() == Some("/root/all_in_one") && ok(r)),
        "no self-deletion"
    );
    assert!(
        t.opens("/tmp/.ferret-daemon.heartbeat")
            .filter(|r| ok(r))
            .count()
            == 15,
        "daemon heartbeats"
    );
}
