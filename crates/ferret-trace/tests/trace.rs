//! End-to-end tests: C samples (tests/c/) compiled here with gcc and
//! i686-linux-gnu-gcc, run under the tracer, decoded records asserted.

use ferret_trace::{
    Arch, ArgValue, ExitStatus, ForkKind, PtraceTracer, RunSummary, SockAddr, SyscallRecord,
    SyscallSet, TraceEvent, TraceOptions, Tracer, ptrace_filter, spawn_stopped,
};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

const C_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/c");

fn work_dir() -> PathBuf {
    // Cargo's per-target scratch dir: kept out of /tmp, removed by cargo clean.
    let d =
        Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("ferret-trace-{}", std::process::id()));
    std::fs::create_dir_all(&d).expect("create temp dir");
    d
}

fn compile(cc: &str, src: &str, out: &str, flags: &[&str]) -> PathBuf {
    let out = work_dir().join(out);
    let status = Command::new(cc)
        .args(flags)
        .arg("-o")
        .arg(&out)
        .arg(Path::new(C_DIR).join(src))
        .status()
        .unwrap_or_else(|e| panic!("cannot run {cc} (install it via scripts/install.sh): {e}"));
    assert!(status.success(), "{cc} failed on {src}");
    out
}

fn sample64() -> &'static Path {
    static P: OnceLock<PathBuf> = OnceLock::new();
    P.get_or_init(|| compile("gcc", "sample.c", "sample", &["-O1", "-pthread"]))
}

fn sample32() -> &'static Path {
    static P: OnceLock<PathBuf> = OnceLock::new();
    P.get_or_init(|| {
        compile(
            "i686-linux-gnu-gcc",
            "sample32.c",
            "sample32",
            &["-O1", "-static"],
        )
    })
}

struct Trace {
    events: Vec<TraceEvent>,
    summary: RunSummary,
    root: i32,
}

impl Trace {
    fn syscalls<'a>(&'a self, name: &str) -> impl Iterator<Item = &'a SyscallRecord> + 'a {
        let name = name.to_string();
        self.events.iter().filter_map(move |e| match e {
            TraceEvent::Syscall(r) if r.name == name => Some(r),
            _ => None,
        })
    }
    fn one(&self, name: &str) -> &SyscallRecord {
        self.syscalls(name)
            .next()
            .unwrap_or_else(|| panic!("no {name} record in:\n{}", self.dump()))
    }
    fn exit_of(&self, pid: i32) -> Option<ExitStatus> {
        self.events.iter().find_map(|e| match e {
            TraceEvent::Exit { tid, status, .. } if *tid == pid => Some(*status),
            _ => None,
        })
    }
    fn root_exit(&self) -> ExitStatus {
        let st = self
            .exit_of(self.root)
            .unwrap_or_else(|| panic!("no exit of root {}:\n{}", self.root, self.dump()));
        assert_eq!(self.summary.root_exit, Some(st));
        st
    }
    fn dump(&self) -> String {
        self.events
            .iter()
            .map(|e| e.to_string())
            .collect::<Vec<_>>()
            .join("\n")
    }
}

fn trace_with(argv: &[&str], set: &SyscallSet, opts: TraceOptions, timeout: Duration) -> Trace {
    let filter = ptrace_filter(set);
    let child = spawn_stopped(argv, &["PATH=/usr/bin:/bin"], &filter).expect("spawn");
    let root = child.pid;
    let mut tracer = PtraceTracer::seize_with(root, opts).expect("seize");
    child.release().expect("release");
    let mut events = Vec::new();
    let summary = tracer
        .run(Instant::now() + timeout, &mut events)
        .expect("run");
    Trace {
        events,
        summary,
        root,
    }
}

fn trace(argv: &[&str]) -> Trace {
    trace_with(
        argv,
        &SyscallSet::default(),
        TraceOptions::default(),
        Duration::from_secs(60),
    )
}

fn s64() -> &'static str {
    sample64().to_str().expect("utf-8 temp path")
}

fn str_arg<'a>(r: &'a SyscallRecord, name: &str) -> std::borrow::Cow<'a, str> {
    match r.arg(name) {
        Some(ArgValue::Str(b)) => b.to_string_lossy(),
        other => panic!("{} arg {name} is not a string: {other:?}", r.name),
    }
}

fn sym_arg(r: &SyscallRecord, name: &str) -> String {
    match r.arg(name) {
        Some(ArgValue::Sym(s)) => s.to_string(),
        other => panic!("{} arg {name} is not symbolic: {other:?}", r.name),
    }
}

#[test]
fn files_are_decoded() {
    let dir = work_dir().join("files");
    std::fs::create_dir_all(&dir).expect("mkdir");
    let d = dir.to_str().expect("utf-8");
    let t = trace(&[s64(), "files", d]);
    assert_eq!(t.root_exit(), ExitStatus::Code(0), "{}", t.dump());
    let a = format!("{d}/a.txt");
    let create = t
        .syscalls("openat")
        .find(|r| str_arg(r, "name") == a && sym_arg(r, "flags").contains("O_CREAT"))
        .unwrap_or_else(|| panic!("no create of {a}:\n{}", t.dump()));
    assert_eq!(sym_arg(create, "flags"), "O_WRONLY|O_CREAT|O_TRUNC");
    assert_eq!(sym_arg(create, "mode"), "S_IRUSR|S_IWUSR|S_IRGRP");
    assert_eq!(sym_arg(create, "dirfd"), "AT_FDCWD");
    assert!(create.ret.is_some_and(|fd| fd >= 3));
    assert!(
        t.syscalls("openat")
            .any(|r| str_arg(r, "name") == a && sym_arg(r, "flags") == "O_RDONLY|O_CLOEXEC")
    );
    let rename = t.one("rename");
    assert_eq!(str_arg(rename, "newpath"), format!("{d}/b.txt"));
    assert_eq!(
        sym_arg(t.one("chmod"), "mode"),
        "S_IRUSR|S_IWUSR|S_IXUSR|S_IRGRP|S_IXGRP|S_IROTH|S_IXOTH"
    );
    assert_eq!(sym_arg(t.one("mkdir"), "mode"), "S_IRUSR|S_IWUSR|S_IXUSR");
    assert_eq!(t.one("rmdir").ret, Some(0));
    let unlinks: Vec<_> = t.syscalls("unlink").collect();
    assert_eq!(unlinks.len(), 2, "{}", t.dump());
    assert_eq!(unlinks[0].ret, Some(0));
    assert_eq!(unlinks[1].ret, Some(-1));
    assert_eq!(unlinks[1].errno_name(), Some("ENOENT"));
    // read/write/close are outside the default set: no records.
    assert_eq!(t.syscalls("write").count(), 0);
    assert_eq!(t.syscalls("read").count(), 0);
}

#[test]
fn fork_exec_chain() {
    let t = trace(&[s64(), "chain"]);
    assert_eq!(t.root_exit(), ExitStatus::Code(0), "{}", t.dump());
    let child = t
        .events
        .iter()
        .find_map(|e| match e {
            TraceEvent::Fork {
                parent,
                child,
                kind: ForkKind::Clone | ForkKind::Fork,
                ..
            } if *parent == t.root => Some(*child),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no fork:\n{}", t.dump()));
    let execs: Vec<_> = t
        .events
        .iter()
        .filter_map(|e| match e {
            TraceEvent::Exec {
                pid, argv, envp, ..
            } => Some((*pid, argv.clone(), envp.clone())),
            _ => None,
        })
        .collect();
    // The root's own exec, then stage 1 and stage 2 in the child.
    assert_eq!(execs.len(), 3, "{}", t.dump());
    assert_eq!(execs[0].0, t.root);
    for (i, (pid, argv, envp)) in execs.iter().skip(1).enumerate() {
        assert_eq!(*pid, child);
        let argv = argv.as_ref().expect("argv");
        let items: Vec<_> = argv.items.iter().map(|b| b.to_string_lossy()).collect();
        assert_eq!(items, [s64(), "chain", &(i + 1).to_string()]);
        assert!(!argv.truncated);
        let envp = envp.as_ref().expect("envp");
        assert_eq!(envp.items.len(), 1);
        assert_eq!(envp.items[0].to_string_lossy(), "FERRET_STAGE=x");
    }
    let execve: Vec<_> = t.syscalls("execve").filter(|r| r.pid == child).collect();
    assert_eq!(execve.len(), 2);
    assert!(execve.iter().all(|r| r.ret == Some(0)));
    assert_eq!(t.exit_of(child), Some(ExitStatus::Code(7)));
}

#[test]
fn double_fork_daemon_is_followed() {
    let marker = work_dir().join("daemon-marker");
    let m = marker.to_str().expect("utf-8");
    let t = trace(&[s64(), "daemon", m]);
    assert_eq!(t.root_exit(), ExitStatus::Code(0));
    let forks: Vec<(i32, i32)> = t
        .events
        .iter()
        .filter_map(|e| match e {
            TraceEvent::Fork { parent, child, .. } => Some((*parent, *child)),
            _ => None,
        })
        .collect();
    assert_eq!(forks.len(), 2, "{}", t.dump());
    let (mid, grandchild) = (forks[0].1, forks[1].1);
    assert_eq!(forks[1].0, mid);
    assert_eq!(t.one("setsid").pid, mid);
    // The grandchild outlives its parent and is traced to its end.
    let open = t
        .syscalls("openat")
        .find(|r| str_arg(r, "name") == m)
        .unwrap_or_else(|| panic!("no open of marker:\n{}", t.dump()));
    assert_eq!(open.pid, grandchild);
    assert_eq!(t.exit_of(grandchild), Some(ExitStatus::Code(0)));
    assert_eq!(t.summary.remaining, 0);
    assert!(!t.summary.timed_out);
}

#[test]
fn threads_are_followed() {
    let t = trace(&[s64(), "threads"]);
    assert_eq!(t.root_exit(), ExitStatus::Code(0));
    let threads: Vec<i32> = t
        .events
        .iter()
        .filter_map(|e| match e {
            TraceEvent::Fork {
                parent,
                child,
                kind: ForkKind::Thread,
                ..
            } if *parent == t.root => Some(*child),
            _ => None,
        })
        .collect();
    assert_eq!(threads.len(), 4, "{}", t.dump());
    let opens: Vec<_> = t
        .syscalls("openat")
        .filter(|r| str_arg(r, "name") == "/dev/null")
        .collect();
    assert_eq!(opens.len(), 4);
    for o in opens {
        assert_eq!(o.pid, t.root, "thread records carry the process id");
        assert!(threads.contains(&o.tid));
    }
    let clone = t.one("clone3");
    match clone.arg("args") {
        Some(ArgValue::Struct(f)) => {
            let flags = f
                .iter()
                .find(|(n, _)| *n == "flags")
                .map(|(_, v)| v.to_string());
            assert!(flags.is_some_and(|f| f.contains("CLONE_THREAD")));
        }
        other => panic!("clone3 args: {other:?}"),
    }
}

#[test]
fn prctl_name_and_traceme() {
    let t = trace(&[s64(), "prctl"]);
    let r = t.one("prctl");
    assert_eq!(sym_arg(r, "option"), "PR_SET_NAME");
    assert_eq!(str_arg(r, "name"), "[kworker/0:1]");
    assert_eq!(r.ret, Some(0));

    let t = trace(&[s64(), "traceme"]);
    // The sample exits 0 only if PTRACE_TRACEME failed with EPERM.
    assert_eq!(t.root_exit(), ExitStatus::Code(0), "{}", t.dump());
    let r = t.one("ptrace");
    assert_eq!(sym_arg(r, "request"), "PTRACE_TRACEME");
    assert_eq!(r.ret, Some(-1));
    assert_eq!(r.errno_name(), Some("EPERM"));
}

#[test]
fn sockets_are_decoded() {
    let t = trace(&[s64(), "net"]);
    assert_eq!(t.root_exit(), ExitStatus::Code(0), "{}", t.dump());
    let tcp = t
        .syscalls("socket")
        .find(|r| sym_arg(r, "type").contains("SOCK_CLOEXEC"))
        .expect("tcp socket");
    assert_eq!(sym_arg(tcp, "domain"), "AF_INET");
    assert_eq!(sym_arg(tcp, "type"), "SOCK_STREAM|SOCK_CLOEXEC");
    assert_eq!(sym_arg(tcp, "proto"), "IPPROTO_TCP");
    let connects: Vec<_> = t.syscalls("connect").collect();
    assert_eq!(connects.len(), 5, "{}", t.dump());
    assert_eq!(connects[4].ret, Some(0));
    let acc = t.one("accept4");
    assert!(acc.ret.is_some_and(|fd| fd >= 0));
    assert_eq!(sym_arg(acc, "flags"), "SOCK_CLOEXEC");
    // The peer address is read back at the syscall's exit.
    assert!(
        matches!(
            acc.arg("addr"),
            Some(ArgValue::SockAddr(SockAddr::Inet {
                addr: [127, 0, 0, 1],
                ..
            }))
        ),
        "{}",
        t.dump()
    );
    match connects[0].arg("addr") {
        Some(ArgValue::SockAddr(SockAddr::Inet { addr, port })) => {
            assert_eq!(*addr, [127, 0, 0, 1]);
            assert!(*port > 0);
        }
        other => panic!("inet addr: {other:?}"),
    }
    assert_eq!(connects[0].errno_name(), Some("ECONNREFUSED"));
    match connects[1].arg("addr") {
        Some(ArgValue::SockAddr(SockAddr::Inet6 { addr, .. })) => {
            assert_eq!(
                std::net::Ipv6Addr::from(*addr),
                std::net::Ipv6Addr::LOCALHOST
            )
        }
        other => panic!("inet6 addr: {other:?}"),
    }
    assert_eq!(connects[1].errno_name(), Some("ECONNREFUSED"));
    assert_eq!(
        connects[2].arg("addr"),
        Some(&ArgValue::SockAddr(SockAddr::Unix {
            path: b"ferret-abstract".to_vec(),
            abstract_ns: true
        }))
    );
    assert_eq!(connects[2].errno_name(), Some("ECONNREFUSED"));
    assert_eq!(
        connects[3].arg("addr"),
        Some(&ArgValue::SockAddr(SockAddr::Unix {
            path: b"/nonexistent/ferret.sock".to_vec(),
            abstract_ns: false
        }))
    );
    assert_eq!(connects[3].errno_name(), Some("ENOENT"));
    let nl = t
        .syscalls("socket")
        .find(|r| sym_arg(r, "domain") == "AF_NETLINK")
        .expect("netlink socket");
    assert_eq!(sym_arg(nl, "proto"), "NETLINK_ROUTE");
    assert!(t.syscalls("bind").any(|r| matches!(
        r.arg("addr"),
        Some(ArgValue::SockAddr(SockAddr::Netlink { .. }))
    )));
    let send = t.one("sendto");
    assert_eq!(sym_arg(send, "flags"), "MSG_DONTWAIT");
    assert!(matches!(
        send.arg("addr"),
        Some(ArgValue::SockAddr(SockAddr::Inet {
            addr: [127, 0, 0, 1],
            ..
        }))
    ));
}

#[test]
fn memfd_fexecve() {
    let t = trace(&[s64(), "memfd"]);
    assert_eq!(t.root_exit(), ExitStatus::Code(0), "{}", t.dump());
    let m = t.one("memfd_create");
    assert_eq!(str_arg(m, "name"), "ferret-payload");
    assert_eq!(sym_arg(m, "flags"), "MFD_CLOEXEC");
    let exec = t
        .events
        .iter()
        .filter_map(|e| match e {
            TraceEvent::Exec { exe, argv, .. } => Some((exe.clone(), argv.clone())),
            _ => None,
        })
        .nth(1)
        .unwrap_or_else(|| panic!("no second exec:\n{}", t.dump()));
    let exe = String::from_utf8_lossy(exec.0.as_deref().unwrap_or_default()).into_owned();
    assert!(exe.contains("memfd:ferret-payload"), "exe {exe}");
    let argv = exec.1.expect("argv");
    assert_eq!(argv.items[1].to_string_lossy(), "--fileless");
}

#[test]
fn exec_from_a_thread() {
    let t = trace(&[s64(), "threadexec"]);
    assert_eq!(t.root_exit(), ExitStatus::Code(42), "{}", t.dump());
    let thread = t
        .events
        .iter()
        .find_map(|e| match e {
            TraceEvent::Fork {
                child,
                kind: ForkKind::Thread,
                ..
            } => Some(*child),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no thread:\n{}", t.dump()));
    let exec = t
        .events
        .iter()
        .filter_map(|e| match e {
            TraceEvent::Exec { pid, old_tid, .. } => Some((*pid, *old_tid)),
            _ => None,
        })
        .nth(1)
        .unwrap_or_else(|| panic!("no exec from the thread:\n{}", t.dump()));
    assert_eq!(exec, (t.root, Some(thread)));
    // The execve record keeps the thread id that made the call and returns 0.
    let ex = t.syscalls("execve").nth(1).expect("second execve");
    assert_eq!((ex.pid, ex.tid, ex.ret), (t.root, thread, Some(0)));
    assert_eq!(t.summary.remaining, 0);
}

#[test]
fn kill_and_signals() {
    let t = trace(&[s64(), "kill"]);
    assert_eq!(t.root_exit(), ExitStatus::Code(0), "{}", t.dump());
    let k = t.one("kill");
    assert_eq!(sym_arg(k, "sig"), "SIGTERM");
    let victim = match k.arg("pid") {
        Some(ArgValue::Int(p)) => *p as i32,
        other => panic!("kill pid: {other:?}"),
    };
    assert_eq!(k.ret, Some(0));
    assert!(t.events.iter().any(|e| matches!(e,
        TraceEvent::Signal { tid, sig: libc::SIGTERM, sender, .. } if *tid == victim && *sender == t.root)));
    assert_eq!(
        t.exit_of(victim),
        Some(ExitStatus::Signal {
            sig: libc::SIGTERM,
            core: false
        })
    );
}

#[test]
fn group_stop_and_continue() {
    let t = trace(&[s64(), "stop"]);
    assert_eq!(t.root_exit(), ExitStatus::Code(0), "{}", t.dump());
    assert!(!t.summary.timed_out);
}

#[test]
fn exit_codes_and_failures() {
    let t = trace(&[s64(), "missing"]);
    assert_eq!(t.root_exit(), ExitStatus::Code(3));
    let e = t
        .syscalls("execve")
        .find(|r| r.errno.is_some())
        .unwrap_or_else(|| panic!("no failed execve:\n{}", t.dump()));
    assert_eq!(str_arg(e, "filename"), "/nonexistent/ferret-missing");
    assert_eq!(e.errno_name(), Some("ENOENT"));
    assert_eq!(e.ret, Some(-1));

    let t = trace(&[s64(), "exit42"]);
    assert_eq!(t.root_exit(), ExitStatus::Code(42));
    let eg = t.one("exit_group");
    assert_eq!(eg.arg("status"), Some(&ArgValue::Int(42)));
    assert_eq!(eg.ret, None);

    let t = trace(&[s64(), "abort"]);
    assert!(
        matches!(
            t.root_exit(),
            ExitStatus::Signal {
                sig: libc::SIGABRT,
                ..
            }
        ),
        "{}",
        t.dump()
    );
    assert!(t.events.iter().any(|e| matches!(
        e,
        TraceEvent::Signal {
            sig: libc::SIGABRT,
            ..
        }
    )));
}

#[test]
fn i386_tracee() {
    let p32 = sample32().to_str().expect("utf-8");
    let t = trace(&[p32]);
    assert_eq!(t.root_exit(), ExitStatus::Code(9), "{}", t.dump());
    let open = t
        .events
        .iter()
        .find_map(|e| match e {
            TraceEvent::Syscall(r) if r.name.starts_with("open") && r.arch == Arch::I386 => Some(r),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no i386 open:\n{}", t.dump()));
    assert_eq!(str_arg(open, "name"), "/dev/null");
    let prctl = t.one("prctl");
    assert_eq!(prctl.arch, Arch::I386);
    assert_eq!(str_arg(prctl, "name"), "t32name");
    // socket + connect, via direct calls or socketcall depending on the libc.
    let conn = t
        .events
        .iter()
        .find_map(|e| match e {
            TraceEvent::Syscall(r)
                if r.arch == Arch::I386
                    && (r.name == "connect"
                        || (r.name == "socketcall" && sym_arg(r, "call") == "SYS_CONNECT")) =>
            {
                Some(r)
            }
            _ => None,
        })
        .unwrap_or_else(|| panic!("no i386 connect:\n{}", t.dump()));
    assert_eq!(
        conn.arg("addr").map(|a| a.to_string()).as_deref(),
        Some("127.0.0.1:9")
    );
    let eg = t
        .syscalls("exit_group")
        .find(|r| r.pid == t.root)
        .expect("root exit_group");
    assert_eq!(eg.arch, Arch::I386);
    assert_eq!(eg.arg("status"), Some(&ArgValue::Int(9)));
    // fork() in 32-bit glibc is clone(), with i386 argument order.
    let child = t
        .events
        .iter()
        .find_map(|e| match e {
            TraceEvent::Fork { child, kind, .. } if *kind != ForkKind::Thread => Some(*child),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no i386 fork:\n{}", t.dump()));
    let clone = t.one("clone");
    assert_eq!((clone.arch, clone.ret), (Arch::I386, Some(child as i64)));
    assert!(sym_arg(clone, "flags").ends_with("SIGCHLD"), "{clone}");
    assert_eq!(t.exit_of(child), Some(ExitStatus::Code(4)));
    // In the event model, a socketcall reads as the call it multiplexes.
    let ev = TraceEvent::Syscall(conn.clone()).to_event(1);
    assert_eq!(ev.ty, "connect");
    assert_eq!(ev.args.get("fd").and_then(|v| v.as_i64()), Some(3));
    assert!(
        matches!(ev.args.get("addr"), Some(ferret_trace::ferret_event::Value::Sockaddr(a)) if a.to_string() == "127.0.0.1:9"),
        "{ev:?}"
    );
}

#[test]
fn exec_64_to_32_and_back() {
    let p32 = sample32().to_str().expect("utf-8");
    let t = trace(&[s64(), "exec", p32]);
    assert_eq!(t.root_exit(), ExitStatus::Code(42), "{}", t.dump());
    let arches: Vec<Option<Arch>> = t
        .events
        .iter()
        .filter_map(|e| match e {
            TraceEvent::Exec { arch, .. } => Some(*arch),
            _ => None,
        })
        .collect();
    assert_eq!(
        arches,
        [Some(Arch::X86_64), Some(Arch::I386), Some(Arch::X86_64)],
        "{}",
        t.dump()
    );
    let execs: Vec<_> = t.syscalls("execve").collect();
    assert_eq!(execs.len(), 3);
    assert_eq!(execs[1].arch, Arch::X86_64);
    assert_eq!(execs[2].arch, Arch::I386);
    assert_eq!(str_arg(execs[2], "filename"), s64());
    assert_eq!(t.one("exit_group").arch, Arch::X86_64);
}

#[test]
fn untraced_syscalls_cause_no_stops() {
    let t = trace(&[s64(), "spin", "200000"]);
    assert_eq!(t.root_exit(), ExitStatus::Code(0));
    assert_eq!(t.syscalls("getpid").count(), 0);
    assert_eq!(t.syscalls("write").count(), 0);
    // Only start-up (exec, loader mmaps with PROT_EXEC, the open) and exit:
    // far below one stop per loop iteration.
    assert!(
        t.summary.stops < 40,
        "{} stops: {}",
        t.summary.stops,
        t.dump()
    );
    assert!(t.summary.syscalls < 20, "{:?}", t.summary);
}

#[test]
fn trace_all_records_everything() {
    let t = trace_with(
        &[s64(), "spin", "2000"],
        &SyscallSet::all(),
        TraceOptions::default(),
        Duration::from_secs(60),
    );
    assert_eq!(t.root_exit(), ExitStatus::Code(0));
    assert_eq!(t.syscalls("getpid").count(), 2000);
    let writes: Vec<_> = t.syscalls("write").collect();
    assert_eq!(writes.len(), 2000);
    assert!(
        writes
            .iter()
            .all(|w| w.ret == Some(1) && w.raw_args[2] == 1)
    );
}

#[test]
fn event_cap_is_reported() {
    let opts = TraceOptions {
        max_events: 10,
        ..TraceOptions::default()
    };
    let t = trace_with(
        &[s64(), "spin", "500"],
        &SyscallSet::all(),
        opts,
        Duration::from_secs(60),
    );
    assert_eq!(t.events.len(), 10);
    assert!(t.summary.dropped_events >= 1000, "{:?}", t.summary);
    assert_eq!(t.summary.events, 10 + t.summary.dropped_events);
    assert!(!t.summary.timed_out);
    assert_eq!(t.summary.remaining, 0);
}

#[test]
fn deadline_returns() {
    // Compiled first: the build is not part of what is timed.
    let exe = s64();
    let start = Instant::now();
    let t = trace_with(
        &[exe, "sleep"],
        &SyscallSet::default(),
        TraceOptions::default(),
        Duration::from_millis(300),
    );
    assert!(t.summary.timed_out);
    assert_eq!(t.summary.remaining, 1);
    assert!(start.elapsed() < Duration::from_secs(5));
}

#[test]
fn records_feed_the_event_model() {
    use ferret_trace::ferret_event::{Event, State};
    let t = trace(&[s64(), "memfd"]);
    let events: Vec<Event> = t
        .events
        .iter()
        .enumerate()
        .map(|(i, e)| e.to_event(i as u64 + 1))
        .collect();
    let mut state = State::new();
    for e in &events {
        // Every event survives the JSON-lines round trip.
        let line = e.to_json_line();
        assert_eq!(Event::from_json(&line).ok().as_ref(), Some(e), "{line}");
        state.update(e);
    }
    let p = state.process(t.root as i64).expect("root process");
    assert!(p.exe_from_memfd, "{p:?}");
    assert_eq!(p.args, ["--fileless"]);
    let execveat = events
        .iter()
        .find(|e| e.ty == "execveat")
        .unwrap_or_else(|| panic!("no execveat:\n{}", t.dump()));
    assert_eq!(execveat.ret, Some(0));
    assert!(
        events
            .iter()
            .any(|e| e.ty == "procexit" && e.pid == t.root as i64)
    );
}

#[test]
fn getregs_fallback_decodes_both_abis() {
    let p32 = sample32().to_str().expect("utf-8");
    let opts = TraceOptions {
        force_getregs: true,
        ..TraceOptions::default()
    };
    let t = trace_with(
        &[s64(), "exec", p32],
        &SyscallSet::default(),
        opts,
        Duration::from_secs(60),
    );
    assert_eq!(t.root_exit(), ExitStatus::Code(42), "{}", t.dump());
    let execs: Vec<_> = t.syscalls("execve").collect();
    assert_eq!(execs.len(), 3, "{}", t.dump());
    assert_eq!((execs[1].arch, execs[1].ret), (Arch::X86_64, Some(0)));
    assert_eq!(str_arg(execs[1], "filename"), p32);
    assert_eq!((execs[2].arch, execs[2].ret), (Arch::I386, Some(0)));
    assert_eq!(str_arg(execs[2], "filename"), s64());

    let t = trace_with(
        &[p32],
        &SyscallSet::default(),
        opts,
        Duration::from_secs(60),
    );
    assert_eq!(t.root_exit(), ExitStatus::Code(9));
    let prctl = t.one("prctl");
    assert_eq!((prctl.arch, prctl.ret), (Arch::I386, Some(0)));
    assert_eq!(str_arg(prctl, "name"), "t32name");
    let t = trace_with(
        &[s64(), "missing"],
        &SyscallSet::default(),
        opts,
        Duration::from_secs(60),
    );
    let e = t
        .syscalls("execve")
        .find(|r| r.errno.is_some())
        .expect("failed execve");
    assert_eq!(e.errno_name(), Some("ENOENT"));
}

#[test]
fn exec_seen_without_tracing_execve() {
    // Only openat traced: exec, fork and exit still come from ptrace events.
    let mut set = SyscallSet::empty();
    assert!(set.insert("openat"));
    assert!(!set.insert("no_such_syscall"));
    let t = trace_with(
        &[s64(), "chain"],
        &set,
        TraceOptions::default(),
        Duration::from_secs(60),
    );
    assert_eq!(t.root_exit(), ExitStatus::Code(0), "{}", t.dump());
    assert_eq!(t.syscalls("execve").count(), 0);
    assert_eq!(t.syscalls("clone").count(), 0);
    let argvs: Vec<Vec<String>> = t
        .events
        .iter()
        .filter_map(|e| match e {
            TraceEvent::Exec {
                argv: Some(a),
                path: None,
                ..
            } => Some(
                a.items
                    .iter()
                    .map(|b| b.to_string_lossy().into_owned())
                    .collect(),
            ),
            _ => None,
        })
        .collect();
    assert_eq!(argvs.len(), 3, "{}", t.dump());
    assert_eq!(argvs[2], [s64(), "chain", "2"]);
    let forks = t
        .events
        .iter()
        .filter(|e| matches!(e, TraceEvent::Fork { .. }))
        .count();
    assert_eq!(forks, 1);
    assert!(t.syscalls("openat").count() >= 3);
}

#[test]
fn vfork_is_followed() {
    let t = trace(&[s64(), "vfork"]);
    assert_eq!(t.root_exit(), ExitStatus::Code(0), "{}", t.dump());
    let child = t
        .events
        .iter()
        .find_map(|e| match e {
            TraceEvent::Fork {
                child,
                kind: ForkKind::Vfork,
                ..
            } => Some(*child),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no vfork:\n{}", t.dump()));
    assert_eq!(t.one("vfork").ret, Some(child as i64));
    let exe = t.events.iter().find_map(|e| match e {
        TraceEvent::Exec { pid, exe, .. } if *pid == child => exe.clone(),
        _ => None,
    });
    assert_eq!(exe.as_deref(), Some(&b"/usr/bin/true"[..]));
    assert_eq!(t.exit_of(child), Some(ExitStatus::Code(0)));
}

#[test]
fn process_and_thread_storm() {
    let t = trace(&[s64(), "storm"]);
    assert_eq!(t.root_exit(), ExitStatus::Code(0), "{}", t.dump());
    let mut procs = std::collections::HashMap::new();
    let mut threads = std::collections::HashMap::new();
    for e in &t.events {
        if let TraceEvent::Fork {
            parent,
            child,
            kind,
            ..
        } = e
        {
            match kind {
                ForkKind::Thread => threads.insert(*child, *parent),
                _ => procs.insert(*child, *parent),
            };
        }
    }
    assert_eq!(procs.len(), 16, "{:?}", t.summary);
    assert_eq!(threads.len(), 64);
    assert!(threads.values().all(|p| procs.contains_key(p)));
    let mut codes: Vec<i32> = procs
        .keys()
        .map(|p| match t.exit_of(*p) {
            Some(ExitStatus::Code(c)) => c,
            other => panic!("child {p} ended with {other:?}"),
        })
        .collect();
    codes.sort_unstable();
    assert_eq!(codes, (0..16).collect::<Vec<_>>());
    let opens: Vec<_> = t
        .syscalls("openat")
        .filter(|r| str_arg(r, "name") == "/dev/null")
        .collect();
    assert_eq!(opens.len(), 16 * 4 * 50);
    for o in &opens {
        assert_eq!(
            threads.get(&o.tid),
            Some(&o.pid),
            "open from {}/{}",
            o.pid,
            o.tid
        );
        assert!(o.ret.is_some_and(|fd| fd >= 0));
    }
    assert_eq!(t.summary.tasks, 1 + 16 + 64);
    assert_eq!(t.summary.remaining, 0);
}

#[test]
fn tracee_forked_by_another_thread() {
    // The sandbox's case: the sample is a child of another thread of this
    // process. The tracer follows it and, being in the parent's thread
    // group, also reaps it: its status is in `root_exit`, no zombie is left
    // and the parent thread's waitpid finds nothing (ECHILD).
    let filter = ptrace_filter(&SyscallSet::default());
    let argv = [s64().to_string(), "exit42".to_string()];
    let (pid_tx, pid_rx) = std::sync::mpsc::channel();
    let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
    let parent = std::thread::spawn(move || {
        let child = spawn_stopped(&argv, &["PATH=/bin"], &filter).expect("spawn");
        let pid = child.pid;
        pid_tx.send(child).expect("send");
        done_rx.recv().expect("tracer done");
        let mut status = 0;
        // SAFETY: plain waitpid on this thread's child, valid status pointer.
        let r = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG | libc::__WNOTHREAD) };
        (r, std::io::Error::last_os_error().raw_os_error())
    });
    let child = pid_rx.recv().expect("child");
    let pid = child.pid;
    let mut tracer = PtraceTracer::seize(pid).expect("seize");
    child.release().expect("release");
    let mut events = Vec::new();
    let summary = tracer
        .run(Instant::now() + Duration::from_secs(60), &mut events)
        .expect("run");
    assert_eq!(summary.root_exit, Some(ExitStatus::Code(42)));
    assert!(
        events
            .iter()
            .any(|e| matches!(e, TraceEvent::Syscall(r) if r.name == "exit_group"))
    );
    assert!(!Path::new(&format!("/proc/{pid}")).exists(), "zombie left");
    done_tx.send(()).expect("signal parent");
    let (r, errno) = parent.join().expect("parent thread");
    assert_eq!((r, errno), (-1, Some(libc::ECHILD)));
}

#[test]
fn hostile_arguments_are_bounded() {
    let t = trace(&[s64(), "hostile"]);
    assert_eq!(t.root_exit(), ExitStatus::Code(0), "{}", t.dump());
    let opens: Vec<_> = t.syscalls("openat").filter(|r| r.pid == t.root).collect();
    let fault = opens
        .iter()
        .find(|r| matches!(r.arg("name"), Some(ArgValue::Fault(1, _))))
        .unwrap_or_else(|| panic!("no faulting open:\n{}", t.dump()));
    assert_eq!(fault.errno_name(), Some("EFAULT"));
    let long = opens
        .iter()
        .find(|r| r.errno_name() == Some("ENAMETOOLONG"))
        .unwrap_or_else(|| panic!("no long open:\n{}", t.dump()));
    match long.arg("name") {
        Some(ArgValue::Str(b)) => {
            assert_eq!(b.data.len(), 4096);
            assert!(b.truncated);
        }
        other => panic!("long name: {other:?}"),
    }
    let edge = opens
        .iter()
        .find(|r| {
            r.errno_name() == Some("EFAULT") && !matches!(r.arg("name"), Some(ArgValue::Fault(..)))
        })
        .unwrap_or_else(|| panic!("no open at a page edge:\n{}", t.dump()));
    match edge.arg("name") {
        Some(ArgValue::Str(b)) => {
            assert_eq!(b.data, b"abc");
            assert!(b.truncated, "unterminated string must be marked cut");
        }
        other => panic!("edge name: {other:?}"),
    }
    let conn = t.one("connect");
    assert!(matches!(
        conn.arg("addr"),
        Some(ArgValue::SockAddr(SockAddr::Inet { port: 0, .. }))
    ));
    assert_eq!(conn.arg("addrlen"), Some(&ArgValue::UInt(0x7fff_ffff)));
    let exec = t
        .syscalls("execve")
        .find(|r| str_arg(r, "filename") == "/bin/true")
        .unwrap_or_else(|| panic!("no exec of /bin/true:\n{}", t.dump()));
    assert_eq!(exec.ret, Some(0));
    match exec.arg("argv") {
        Some(ArgValue::StrList(l)) => {
            assert_eq!(l.items.len(), 256);
            assert!(l.truncated);
        }
        other => panic!("argv: {other:?}"),
    }
}

/// Redirects the descriptor of a file (`dev`, `ino`) in every new process that
/// has it to a file of its own.
struct RedirectSink {
    events: Vec<TraceEvent>,
    target: (u64, u64),
    dir: PathBuf,
    done: Vec<(i32, Result<(), String>)>,
    threads: Vec<i32>,
}

impl ferret_trace::Sink for RedirectSink {
    fn event(&mut self, ev: TraceEvent) {
        self.events.push(ev);
    }
    fn new_process(&mut self, pid: i32) -> Option<ferret_trace::Redirect> {
        use std::os::unix::fs::MetadataExt;
        let fd = std::fs::read_dir(format!("/proc/{pid}/fd"))
            .ok()?
            .flatten()
            .find(|e| std::fs::metadata(e.path()).is_ok_and(|m| (m.dev(), m.ino()) == self.target))?
            .file_name()
            .to_str()?
            .parse()
            .ok()?;
        let path = self.dir.join(format!("own-{pid}.log"));
        std::fs::write(&path, b"").ok()?;
        Some(ferret_trace::Redirect {
            fd,
            path: std::ffi::CString::new(path.to_str()?).ok()?,
        })
    }
    fn redirected(&mut self, pid: i32, result: Result<(), String>) {
        self.done.push((pid, result));
    }
    fn new_thread(&mut self, tid: i32) {
        self.threads.push(tid);
    }
}

/// A forked child's inherited descriptor is reopened on a file of its own before
/// the child runs: its writes (and its own child's) land there, the parent's stay
/// in the shared file, and the child runs on unharmed. A thread is announced, and
/// shares its process's descriptors.
#[test]
fn new_processes_get_their_own_descriptor() {
    use std::os::unix::fs::MetadataExt;
    let dir = work_dir().join("redirect");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create dir");
    let shared = dir.join("shared.log");
    std::fs::write(&shared, b"").expect("create the shared file");
    let meta = std::fs::metadata(&shared).expect("stat");
    let script = format!(
        r#"
import os, threading
fd = os.open("{s}", os.O_WRONLY | os.O_APPEND)
os.write(fd, b"parent-1\n")
t = threading.Thread(target=lambda: os.write(fd, b"thread\n"))
t.start()
t.join()
pid = os.fork()
if pid == 0:
    os.write(fd, b"child-1\n")
    g = os.fork()
    if g == 0:
        os.write(fd, b"grandchild\n")
        os._exit(0)
    os.waitpid(g, 0)
    os.write(fd, b"child-2\n")
    os._exit(7)
_, st = os.waitpid(pid, 0)
os.write(fd, b"parent-2 %d\n" % os.waitstatus_to_exitcode(st))
"#,
        s = shared.display()
    );
    let filter = ptrace_filter(&SyscallSet::default());
    let child = spawn_stopped(
        &["/usr/bin/python3", "-c", &script],
        &["PATH=/usr/bin:/bin"],
        &filter,
    )
    .expect("spawn");
    let root = child.pid;
    let mut tracer = PtraceTracer::seize(root).expect("seize");
    child.release().expect("release");
    let mut sink = RedirectSink {
        events: Vec::new(),
        target: (meta.dev(), meta.ino()),
        dir: dir.clone(),
        done: Vec::new(),
        threads: Vec::new(),
    };
    let summary = tracer
        .run(Instant::now() + Duration::from_secs(60), &mut sink)
        .expect("run");
    assert!(!summary.timed_out);
    let read = |p: &Path| std::fs::read_to_string(p).expect("read");
    assert_eq!(read(&shared), "parent-1\nthread\nparent-2 7\n");
    assert_eq!(sink.threads.len(), 1, "{:?}", sink.threads);
    assert_ne!(sink.threads[0], root);
    // Only the child had the shared file: the grandchild inherits the child's own.
    assert_eq!(sink.done.len(), 1, "{:?}", sink.done);
    let (pid, result) = &sink.done[0];
    assert_eq!(result, &Ok(()));
    assert_ne!(*pid, root);
    assert_eq!(
        read(&dir.join(format!("own-{pid}.log"))),
        "child-1\ngrandchild\nchild-2\n"
    );
    // The injected calls are not reported as the child's.
    let opened: Vec<String> = sink
        .events
        .iter()
        .filter_map(|e| match e {
            TraceEvent::Syscall(r) if r.pid == *pid && r.name == "openat" => {
                Some(str_arg(r, "filename").into_owned())
            }
            _ => None,
        })
        .collect();
    assert!(!opened.iter().any(|p| p.contains("own-")), "{opened:?}");
}
