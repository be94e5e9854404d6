//! Flattened programs and per-type specialisation give the same answers as evaluating the
//! compiled tree: every filter below, on every event of a small trace, three ways.

use ferret_event::{Event, ProcInfo, SockAddr, State, Value};
use ferret_filter::{Compiler, Ctx, EvalCtx, Memo, MemoSharing, NoDefinitions, Program, parse};

fn flags(value: u64, text: &str) -> Value {
    Value::Flags {
        value,
        text: text.into(),
    }
}

/// bash (pid 10) forks pid 20, which execs curl, opens /etc/shadow for reading and
/// /tmp/x for writing, fails an open, connects to 10.1.2.3:6667 and exits.
fn trace() -> Vec<Event> {
    let mut init = Event::syscall(1, 1_000, 10, 10, "getpid").ret(10);
    init.proc = Some(Box::new(ProcInfo {
        ppid: Some(1),
        name: Some("bash".into()),
        exepath: Some("/usr/bin/bash".into()),
        cwd: Some("/home/alice".into()),
        uid: Some(1000),
        ..ProcInfo::default()
    }));
    vec![
        init,
        Event::syscall(2, 2_000, 10, 10, "clone")
            .arg("flags", flags(17, "SIGCHLD"))
            .ret(20),
        Event::syscall(3, 3_000, 20, 20, "execve")
            .arg("filename", Value::Path("/usr/bin/curl".into()))
            .arg("argv", Value::Strs(vec!["curl".into(), "-s".into()]))
            .ret(0),
        Event::syscall(4, 4_000, 20, 20, "openat")
            .arg("dirfd", Value::Fd(-100))
            .arg("name", Value::Path("/etc/shadow".into()))
            .arg("flags", flags(0, "O_RDONLY"))
            .ret(3),
        Event::syscall(5, 5_000, 20, 20, "openat")
            .arg("dirfd", Value::Fd(-100))
            .arg("name", Value::Path("/tmp/x".into()))
            .arg("flags", flags(0o1101, "O_WRONLY|O_CREAT|O_TRUNC"))
            .ret(4),
        Event::syscall(6, 6_000, 20, 20, "openat")
            .arg("dirfd", Value::Fd(-100))
            .arg("name", Value::Path("/nonexistent".into()))
            .arg("flags", flags(0, "O_RDONLY"))
            .ret(-2),
        Event::syscall(7, 7_000, 20, 20, "socket")
            .arg("domain", flags(2, "AF_INET"))
            .arg("type", flags(1, "SOCK_STREAM"))
            .ret(5),
        Event::syscall(8, 8_000, 20, 20, "connect")
            .arg("fd", Value::Fd(5))
            .arg(
                "addr",
                Value::Sockaddr(SockAddr::ip("10.1.2.3".parse().expect("literal IP"), 6667)),
            )
            .ret(0),
        Event::syscall(9, 9_000, 20, 20, "exit_group").arg("status", Value::Int(0)),
    ]
}

const FILTERS: &[&str] = &[
    "evt.type = openat",
    "evt.type != openat",
    "evt.type in (openat, connect) and not proc.name = bash",
    "open_read and fd.name startswith /etc",
    "open_write or (evt.type = connect and fd.sport in (23, 2323, 6667))",
    "not (open_read or open_write)",
    "spawned_process and proc.name in (curl, wget) and not proc.pname in (sshd)",
    "(evt.type = openat and evt.rawres < 0) or (evt.type = execve and proc.name = nope)",
    "not not (fd.name contains shadow or fd.name endswith /x)",
    "((evt.type in (openat) and not fd.name pmatch (/tmp)) or evt.type = socket) and proc.pid = 20",
    "evt.type in (openat, openat2) and (evt.is_open_read = true or evt.is_open_write = true) and fd.num >= 0",
    "proc.name exists and not (proc.name = curl and (evt.type = clone or evt.type = exit_group))",
    "always_true and not never_true",
    "never_true or (container and proc.name = curl)",
    "evt.type in (open, openat, openat2) and evt.is_open_write = true and fd.typechar = f and fd.num >= 0",
    "not open_write and (open_read or open_directory)",
];

#[test]
fn program_and_specialised_program_match_the_tree() {
    let defs = NoDefinitions;
    let mut comp = Compiler::new(&defs);
    let nodes: Vec<_> = FILTERS
        .iter()
        .map(|f| {
            let e = parse(f).unwrap_or_else(|e| panic!("{f}: {e:?}"));
            comp.compile(&e).unwrap_or_else(|e| panic!("{f}: {e}")).0
        })
        .collect();
    let programs: Vec<Program> = nodes.iter().map(Program::new).collect();
    let memo = Memo::new(comp.memo_slots());
    let mut st = State::new();
    let mut trues = 0usize;
    let mut checked = 0usize;
    for ev in trace() {
        let view = st.update(&ev);
        let type_id = comp.types.get(&ev.ty);
        let plain = EvalCtx {
            ctx: Ctx { ev: &ev, view },
            type_id,
            memo: None,
        };
        let cached = EvalCtx {
            memo: Some(&memo),
            ..plain
        };
        memo.next_event();
        // Shared slots are valid across the trees specialised for one type, as an engine
        // evaluates them on one event.
        let mut sharing = MemoSharing::default();
        for ((text, node), prog) in FILTERS.iter().zip(&nodes).zip(&programs) {
            let want = node.eval(&plain);
            let mut special = node.specialize(type_id);
            sharing.share(&mut special);
            let special = Program::new(&special);
            assert_eq!(prog.eval(&plain), want, "{text} on {}", ev.ty);
            assert_eq!(prog.eval(&cached), want, "{text} on {} (memo)", ev.ty);
            assert_eq!(
                special.eval(&cached),
                want,
                "{text} on {} (specialised)",
                ev.ty
            );
            trues += usize::from(want);
            checked += 1;
        }
    }
    // The filters are not all constant: both outcomes occur.
    assert!(
        trues > 10 && trues < checked - 10,
        "{trues} of {checked} true"
    );
}

#[test]
fn known_answers() {
    let defs = NoDefinitions;
    let mut comp = Compiler::new(&defs);
    let e = parse("open_write or (evt.type = connect and fd.sport in (6667))").expect("parses");
    let (node, _) = comp.compile(&e).expect("compiles");
    let prog = Program::new(&node);
    let mut st = State::new();
    let mut hits = Vec::new();
    for ev in trace() {
        let view = st.update(&ev);
        let c = EvalCtx {
            ctx: Ctx { ev: &ev, view },
            type_id: comp.types.get(&ev.ty),
            memo: None,
        };
        if Program::new(&node.specialize(c.type_id)).eval(&c) {
            assert!(prog.eval(&c));
            hits.push(ev.num);
        }
    }
    assert_eq!(hits, vec![5, 8]);
}
