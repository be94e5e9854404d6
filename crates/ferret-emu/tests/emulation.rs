//! Foreign-architecture samples run under QEMU inside ferret's sandbox; their guest
//! syscall logs become events. Needs root, Debian's qemu-user-static, the cross
//! compilers and the cross C libraries (scripts/apt-packages.txt).

use std::ffi::OsString;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use ferret_emu::{Arch, Plan, Runner, StraceLog};
use ferret_event::{Event, Family, State, Value};
use ferret_sandbox::{ExitStatus, Outcome, Sandbox, SandboxConfig, WaitStatus};

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
        "the emulation tests must run as root (they create sandboxes)"
    );
}

fn work_root() -> PathBuf {
    let p = PathBuf::from("/tmp/ferret-emu-tests");
    fs::create_dir_all(&p).unwrap();
    fs::set_permissions(&p, fs::Permissions::from_mode(0o755)).unwrap();
    p
}

fn sample_src(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/samples")
        .join(name)
}

/// Cross-compiles `src` with `<triplet>-gcc`.
fn compile(triplet: &str, src: &str, static_: bool) -> PathBuf {
    let dir = work_root().join("bin");
    fs::create_dir_all(&dir).unwrap();
    let stem = src.trim_end_matches(".c");
    let out = dir.join(format!(
        "{stem}-{triplet}-{}",
        if static_ { "static" } else { "dynamic" }
    ));
    let gcc = format!("{triplet}-gcc");
    let mut cmd = Command::new(&gcc);
    cmd.arg("-O1").arg("-o").arg(&out).arg(sample_src(src));
    if static_ {
        cmd.arg("-static");
    }
    let res = cmd.output().unwrap_or_else(|e| {
        panic!("{gcc} not runnable ({e}): install it (scripts/apt-packages.txt)")
    });
    assert!(
        res.status.success(),
        "{gcc} failed: {}",
        String::from_utf8_lossy(&res.stderr)
    );
    out
}

/// The host's binfmt_misc state: its mount lines and, when mounted, its entries.
fn host_binfmt_state() -> (Vec<String>, Vec<String>) {
    let mounts: Vec<String> = fs::read_to_string("/proc/self/mounts")
        .unwrap()
        .lines()
        .filter(|l| l.contains("binfmt_misc"))
        .map(str::to_owned)
        .collect();
    let mut entries: Vec<String> = fs::read_dir("/proc/sys/fs/binfmt_misc")
        .map(|rd| {
            rd.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    entries.sort();
    (mounts, entries)
}

/// Without a tracer to create each task's log FIFO at its creation, the FIFOs of the
/// first pids of the sandbox's fresh pid namespace are made ahead (these samples
/// start a handful of processes).
fn own_logs_ahead(log: &StraceLog) {
    for pid in 1..=64 {
        log.add_task(pid).unwrap();
    }
}

struct Run {
    outcome: Outcome,
    events: Vec<Event>,
    anomalies: Vec<String>,
    streams: Vec<ferret_emu::Stream>,
}

/// Runs `host_sample` (installed at /root/sample, plus `extra` files) in a sandbox
/// under the plan's runner.
fn run(plan: &Plan, host_sample: &Path, extra: &[(&Path, &str)], args: &[&str]) -> Run {
    let log = StraceLog::create(&work_root()).unwrap();
    let mut cfg = SandboxConfig::new(work_root()).install(host_sample, "/root/sample", 0o755);
    for (host, inside) in extra {
        cfg = cfg.install(*host, *inside, 0o755);
    }
    let cfg = plan.configure(cfg, &log);
    let mut sb = Sandbox::new(cfg).unwrap();
    let args: Vec<OsString> = args.iter().map(OsString::from).collect();
    let spec = plan.spawn_spec(Path::new("/root/sample"), &args);
    let spawned = sb.spawn(spec).unwrap();
    own_logs_ahead(&log);
    spawned.release().unwrap();
    let status = sb.wait(Instant::now() + Duration::from_secs(60)).unwrap();
    assert_eq!(
        status,
        WaitStatus::Exited,
        "the sample did not finish in 60 s"
    );
    let outcome = sb.teardown().unwrap();
    let streams = log.finish().unwrap();
    let raw: Vec<u8> = streams
        .iter()
        .flat_map(|s| s.chunks.iter().flat_map(|(_, b)| b.iter().copied()))
        .collect();
    let parsed = ferret_emu::parse_streams(&streams, false);
    let logs = work_root().join("logs");
    fs::create_dir_all(&logs).unwrap();
    let name = host_sample
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    fs::write(logs.join(format!("{name}.log")), &raw).unwrap();
    Run {
        outcome,
        events: parsed.events,
        anomalies: parsed.anomalies,
        streams,
    }
}

fn find(events: &[Event], pred: impl Fn(&Event) -> bool) -> Option<&Event> {
    events.iter().find(|e| pred(e))
}

fn path_arg(e: &Event) -> Option<&str> {
    match e.args.get("name").or_else(|| e.args.get("filename")) {
        Some(Value::Path(p)) => Some(p),
        _ => None,
    }
}

fn dump(r: &Run) -> String {
    let mut s = String::new();
    for e in &r.events {
        s.push_str(&e.to_json_line());
        s.push('\n');
    }
    s.push_str(&format!(
        "anomalies: {:?}\nstderr: {}\noutcome: {:?} exec_errno {:?} setup {:?}",
        r.anomalies,
        String::from_utf8_lossy(&r.outcome.stderr.data),
        r.outcome.sample_exit,
        r.outcome.exec_errno,
        r.outcome.setup_error
    ));
    s
}

/// Checks the behaviour sample's events for one architecture.
fn check_behaviour(triplet: &str, arch: Arch, static_: bool) {
    let bin = compile(triplet, "behave.c", static_);
    let data = fs::read(&bin).unwrap();
    let plan = Plan::for_sample(&data, None).unwrap();
    assert_eq!(plan.arch, arch, "{triplet}: detected architecture");
    assert!(
        matches!(&plan.runner, Runner::Qemu { binary } if binary.ends_with(format!("qemu-{}-static", arch.qemu_name().unwrap()))),
        "{triplet}: runner {:?}",
        plan.runner
    );
    assert_eq!(plan.interpreter.is_some(), !static_, "{triplet}: PT_INTERP");
    let r = run(&plan, &bin, &[], &[]);
    let ctx = format!("{triplet} static={static_}\n{}", dump(&r));
    assert_eq!(r.outcome.sample_exit, Some(ExitStatus::Code(3)), "{ctx}");
    assert!(r.anomalies.is_empty(), "{ctx}");

    let ev = &r.events;
    let open = find(ev, |e| {
        matches!(&*e.ty, "openat" | "open") && path_arg(e) == Some("/etc/hostname")
    })
    .unwrap_or_else(|| panic!("no open of /etc/hostname\n{ctx}"));
    assert!(open.ret.is_some_and(|r| r >= 0), "{ctx}");
    let parent = open.pid;
    assert!(parent > 1, "{ctx}");
    let flags = open.args.get("flags").and_then(Value::as_str).unwrap_or("");
    assert!(flags.contains("O_RDONLY"), "{ctx}");

    // (MIPS's loader calls prctl(PR_GET_FP_MODE) first.)
    let prctl = find(ev, |e| {
        e.ty == "prctl"
            && e.pid == parent
            && e.args.get("option").and_then(Value::as_i64) == Some(15)
    })
    .unwrap_or_else(|| panic!("{ctx}"));
    assert_eq!(
        prctl.args.get("option"),
        Some(&Value::Flags {
            value: 15,
            text: "PR_SET_NAME".into()
        }),
        "{ctx}"
    );
    assert_eq!(prctl.ret, Some(0), "{ctx}");

    let sock = find(ev, |e| e.ty == "socket" && e.pid == parent).unwrap_or_else(|| panic!("{ctx}"));
    assert_eq!(
        sock.args.get("domain").and_then(Value::as_str),
        Some("AF_INET"),
        "{ctx}"
    );
    let sock_fd = sock.ret.unwrap();
    // The address itself: QEMU 7.2 prints the connect pointer only (socketcall
    // architectures get it decoded); accept either, but nothing else.
    let connect =
        find(ev, |e| e.ty == "connect" && e.pid == parent).unwrap_or_else(|| panic!("{ctx}"));
    assert_eq!(connect.args.get("fd"), Some(&Value::Fd(sock_fd)), "{ctx}");
    assert_eq!(connect.ret, Some(-111), "ECONNREFUSED expected\n{ctx}");
    match connect.args.get("addr") {
        Some(Value::Sockaddr(a)) => {
            assert_eq!(a.family, Family::Inet, "{ctx}");
            assert_eq!(a.port, Some(9), "{ctx}");
        }
        Some(Value::Uint(p)) => assert_ne!(*p, 0, "{ctx}"),
        other => panic!("connect addr {other:?}\n{ctx}"),
    }

    let fork = find(ev, |e| {
        matches!(&*e.ty, "clone" | "fork" | "vfork") && e.pid == parent
    })
    .unwrap_or_else(|| panic!("no fork\n{ctx}"));
    let child = fork
        .ret
        .unwrap_or_else(|| panic!("fork without return\n{ctx}"));
    assert!(child > parent, "{ctx}");

    let exec = find(ev, |e| e.ty == "execve" && e.pid == child).unwrap_or_else(|| panic!("{ctx}"));
    assert_eq!(path_arg(exec), Some("/root/sample"), "{ctx}");
    assert_eq!(
        exec.args.get("argv"),
        Some(&Value::Strs(vec![
            "/root/sample".into(),
            "child".into(),
            "x y".into()
        ])),
        "{ctx}"
    );
    assert_eq!(exec.ret, Some(0), "{ctx}");
    // The re-executed child is emulated by the sandbox's binfmt_misc and logged.
    let mark = find(ev, |e| {
        path_arg(e) == Some("/tmp/child-was-here") && e.pid == child
    })
    .unwrap_or_else(|| panic!("child's open after exec missing\n{ctx}"));
    assert!(mark.ret.is_some_and(|r| r >= 0), "{ctx}");
    let child_exit =
        find(ev, |e| e.ty == "exit_group" && e.pid == child).unwrap_or_else(|| panic!("{ctx}"));
    assert_eq!(child_exit.args.get("status"), Some(&Value::Int(7)), "{ctx}");
    let wait = find(ev, |e| e.ty == "wait4" && e.pid == parent).unwrap_or_else(|| panic!("{ctx}"));
    assert_eq!(wait.ret, Some(child), "{ctx}");
    let parent_exit =
        find(ev, |e| e.ty == "exit_group" && e.pid == parent).unwrap_or_else(|| panic!("{ctx}"));
    assert_eq!(
        parent_exit.args.get("status"),
        Some(&Value::Int(3)),
        "{ctx}"
    );

    // The events drive the process tree like a native trace's.
    let mut state = State::new();
    for e in ev {
        state.update(e);
    }
    let proc_child = state
        .process(child)
        .unwrap_or_else(|| panic!("child unknown\n{ctx}"));
    assert_eq!(proc_child.ppid, parent, "{ctx}");
    assert_eq!(proc_child.exepath, "/root/sample", "{ctx}");
}

macro_rules! arch_tests {
    ($($name:ident: $triplet:expr, $arch:expr, $static_:expr;)*) => {$(
        #[test]
        fn $name() {
            require_root();
            let _g = serial();
            let before = host_binfmt_state();
            check_behaviour($triplet, $arch, $static_);
            assert_eq!(host_binfmt_state(), before, "host binfmt_misc changed");
        }
    )*};
}

arch_tests! {
    arm_static: "arm-linux-gnueabi", Arch::Arm, true;
    arm_dynamic: "arm-linux-gnueabi", Arch::Arm, false;
    aarch64_static: "aarch64-linux-gnu", Arch::Aarch64, true;
    aarch64_dynamic: "aarch64-linux-gnu", Arch::Aarch64, false;
    mips_static: "mips-linux-gnu", Arch::Mips, true;
    mips_dynamic: "mips-linux-gnu", Arch::Mips, false;
    mipsel_static: "mipsel-linux-gnu", Arch::Mipsel, true;
    mipsel_dynamic: "mipsel-linux-gnu", Arch::Mipsel, false;
    powerpc_static: "powerpc-linux-gnu", Arch::Ppc, true;
    powerpc_dynamic: "powerpc-linux-gnu", Arch::Ppc, false;
}

/// Every guest thread logs to a FIFO of its own (`-d tid`): three threads opening
/// files at the same time leave three whole logs, and with the streams named by
/// thread (no fork here, so each stream is one thread's) every call carries the id
/// of the thread that made it.
#[test]
fn threads_log_apart() {
    require_root();
    let _g = serial();
    let bin = compile("aarch64-linux-gnu", "threads.c", true);
    let plan = Plan::for_sample(&fs::read(&bin).unwrap(), None).unwrap();
    let r = run(&plan, &bin, &[], &[]);
    let ctx = dump(&r);
    assert_eq!(r.outcome.sample_exit, Some(ExitStatus::Code(5)), "{ctx}");
    assert!(r.anomalies.is_empty(), "{ctx}");
    let parsed = ferret_emu::parse_streams(&r.streams, true);
    assert!(parsed.anomalies.is_empty(), "{:?}", parsed.anomalies);
    let opens = |path: &str| -> Vec<(i64, i64)> {
        parsed
            .events
            .iter()
            .filter(|e| e.ty == "openat" && path_arg(e) == Some(path))
            .map(|e| (e.pid, e.tid))
            .collect()
    };
    let (main, a, b) = (
        opens("/etc/group"),
        opens("/etc/hostname"),
        opens("/etc/passwd"),
    );
    for (name, o) in [("group", &main), ("hostname", &a), ("passwd", &b)] {
        assert_eq!(o.len(), 3, "{name}: {o:?}\n{ctx}");
        assert!(o.iter().all(|x| *x == o[0]), "{name}: one thread: {o:?}");
    }
    let pid = main[0].0;
    assert_eq!(main[0].1, pid, "the main thread's id is the pid");
    for t in [a[0], b[0]] {
        assert_eq!(t.0, pid, "threads print the process's pid");
        assert_ne!(t.1, pid, "a thread has an id of its own");
    }
    assert_ne!(a[0].1, b[0].1);
    // One stream per thread that logged: the main thread's and the two others'.
    let logging: Vec<i32> = r
        .streams
        .iter()
        .filter(|s| !s.chunks.is_empty())
        .map(|s| s.pid)
        .collect();
    assert_eq!(logging.len(), 3, "{logging:?}");
}

/// A MIPS first stage runs an ARM second stage: the sandbox's own binfmt_misc hands it
/// to qemu-arm, whose syscalls land in the same log.
#[test]
fn mips_dropper_runs_arm_second_stage_under_emulation() {
    require_root();
    let _g = serial();
    let before = host_binfmt_state();
    let dropper = compile("mips-linux-gnu", "dropper.c", true);
    let stage2 = compile("arm-linux-gnueabi", "stage2.c", false);
    let plan = Plan::for_sample(&fs::read(&dropper).unwrap(), None).unwrap();
    assert_eq!(plan.arch, Arch::Mips);
    let r = run(
        &plan,
        &dropper,
        &[(&stage2, "/tmp/stage2")],
        &["/tmp/stage2"],
    );
    let ctx = dump(&r);
    assert_eq!(r.outcome.sample_exit, Some(ExitStatus::Code(15)), "{ctx}");
    let ev = &r.events;
    let exec = find(ev, |e| {
        e.ty == "execve" && path_arg(e) == Some("/tmp/stage2")
    })
    .unwrap_or_else(|| panic!("{ctx}"));
    assert_eq!(exec.ret, Some(0), "{ctx}");
    let stage_pid = exec.pid;
    // Only an ARM QEMU can have run these: the dynamically linked ARM loader from the
    // sandbox's sysroot, then the second stage's own open.
    let loader = find(ev, |e| {
        e.pid == stage_pid && path_arg(e).is_some_and(|p| p.ends_with("libc.so.6"))
    });
    assert!(loader.is_some(), "ARM libc not loaded\n{ctx}");
    let mark = find(ev, |e| {
        e.pid == stage_pid && path_arg(e) == Some("/tmp/stage2-ran")
    })
    .unwrap_or_else(|| panic!("{ctx}"));
    assert!(mark.ret.is_some_and(|r| r >= 0), "{ctx}");
    let exit =
        find(ev, |e| e.pid == stage_pid && e.ty == "exit_group").unwrap_or_else(|| panic!("{ctx}"));
    assert_eq!(exit.args.get("status"), Some(&Value::Int(5)), "{ctx}");
    assert_eq!(host_binfmt_state(), before, "host binfmt_misc changed");
}

/// x86-64 stays native; a forced architecture is honoured; garbage is refused clearly.
#[test]
fn runner_selection() {
    let native = fs::read("/proc/self/exe").unwrap();
    let plan = Plan::for_sample(&native, None).unwrap();
    assert_eq!(plan.arch, Arch::X86_64);
    assert_eq!(plan.runner, Runner::Native);
    let forced = Plan::for_sample(&native, Some("arm64".parse().unwrap())).unwrap();
    assert_eq!(forced.arch, Arch::Aarch64);
    assert!(forced.forced);
    let err = Plan::for_sample(b"#!/bin/sh\necho hi\n", None).unwrap_err();
    assert!(err.to_string().contains("not ELF"), "{err}");
    let err = "vax".parse::<Arch>().unwrap_err();
    assert!(err.to_string().contains("vax"), "{err}");
}

/// QEMU 7.2 prints `connect`'s address as a pointer; a host-side trace of the emulator
/// narrowed to the socket calls (seccomp-filtered ptrace, ferret-trace) supplies it.
fn traced_connect_address(triplet: &str, static_: bool) {
    use ferret_trace::{FnSink, PtraceTracer, SyscallSet, TraceEvent, Tracer, ptrace_filter};

    let bin = compile(triplet, "behave.c", static_);
    let plan = Plan::for_sample(&fs::read(&bin).unwrap(), None).unwrap();
    let log = StraceLog::create(&work_root()).unwrap();
    let cfg = plan.configure(
        SandboxConfig::new(work_root()).install(&bin, "/root/sample", 0o755),
        &log,
    );
    let mut sb = Sandbox::new(cfg).unwrap();
    let mut spec = plan.spawn_spec(Path::new("/root/sample"), &[]);
    let mut set = SyscallSet::empty();
    for name in ["connect", "bind", "sendto", "prctl"] {
        assert!(set.insert(name), "{name}");
    }
    spec.extra_seccomp = Some(ptrace_filter(&set));
    let spawned = sb.spawn(spec).unwrap();
    own_logs_ahead(&log);
    let pid_map = spawned.pid_map().clone();
    let mut tracer = PtraceTracer::seize(spawned.host_pid()).unwrap();
    spawned.release().unwrap();
    let mut host: Vec<Event> = Vec::new();
    let mut unmapped = 0;
    {
        let mut sink = FnSink(|ev: TraceEvent| {
            if let TraceEvent::Syscall(_) = &ev {
                let mut e = ev.to_event(host.len() as u64 + 1);
                match pid_map.host_to_ns(e.pid as i32) {
                    Some(ns) => {
                        e.pid = i64::from(ns);
                        e.tid = e.pid;
                        host.push(e);
                    }
                    None => unmapped += 1,
                }
            }
        });
        let summary = tracer
            .run(Instant::now() + Duration::from_secs(60), &mut sink)
            .unwrap();
        assert!(!summary.timed_out, "{summary:?}");
    }
    assert_eq!(unmapped, 0);
    assert_eq!(
        sb.wait(Instant::now() + Duration::from_secs(10)).unwrap(),
        WaitStatus::Exited
    );
    let outcome = sb.teardown().unwrap();
    assert_eq!(outcome.sample_exit, Some(ExitStatus::Code(3)));
    let mut parsed = log.finish_events(false).unwrap();
    assert!(parsed.anomalies.is_empty(), "{:?}", parsed.anomalies);
    let filled = ferret_emu::enrich(&mut parsed.events, &host);
    assert!(filled >= 1, "host events: {host:#?}");
    let connect = find(&parsed.events, |e| e.ty == "connect").unwrap();
    assert_eq!(connect.ret, Some(-111));
    assert_eq!(
        connect.args.get("addr"),
        Some(&Value::Sockaddr(ferret_event::SockAddr::ip(
            "127.0.0.1".parse().unwrap(),
            9
        ))),
        "{triplet}: {connect:?}"
    );
}

#[test]
fn arm_connect_address_from_host_trace() {
    require_root();
    let _g = serial();
    traced_connect_address("arm-linux-gnueabi", true);
}

#[test]
fn mips_dynamic_connect_address_from_host_trace() {
    require_root();
    let _g = serial();
    traced_connect_address("mips-linux-gnu", false);
}
