//! Done-when 2: every operator, precedence, nested lists, CIDR, `not` binding, and parse
//! errors with columns.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ferret_event::{Event, ProcInfo, SockAddr, State, Value};
use ferret_filter::{Compiler, Ctx, Definitions, EvalCtx, Expr, Filter, parse};

/// A shell (pid 10) runs `curl -s http://x` (pid 20) which opens /etc/shadow, then
/// connects to 10.1.2.3:6667 and writes "GET /" on it.
fn scenario() -> (State, Vec<Event>) {
    let mut st = State::new();
    let mut init = Event::syscall(1, 1_000, 10, 10, "getpid").ret(10);
    init.proc = Some(Box::new(ProcInfo {
        ppid: Some(1),
        name: Some("bash".into()),
        exe: Some("-bash".into()),
        exepath: Some("/usr/bin/bash".into()),
        args: Some(vec![]),
        cwd: Some("/home/alice".into()),
        uid: Some(1000),
        gid: Some(1000),
        tty: Some(34816),
        ..ProcInfo::default()
    }));
    st.update(&init);
    st.update(
        &Event::syscall(2, 2_000, 10, 10, "clone")
            .arg(
                "flags",
                Value::Flags {
                    value: 17,
                    text: "SIGCHLD".into(),
                },
            )
            .ret(20),
    );
    let evs = vec![
        Event::syscall(3, 3_000, 20, 20, "execve")
            .arg("filename", Value::Path("/usr/bin/curl".into()))
            .arg(
                "argv",
                Value::Strs(vec!["curl".into(), "-s".into(), "http://x".into()]),
            )
            .arg(
                "envp",
                Value::Strs(vec![
                    "HOME=/home/alice".into(),
                    "LD_PRELOAD=/tmp/x.so".into(),
                ]),
            )
            .ret(0),
        Event::syscall(4, 4_000, 20, 20, "openat")
            .arg("dirfd", Value::Fd(-100))
            .arg("name", Value::Path("/etc/shadow".into()))
            .arg(
                "flags",
                Value::Flags {
                    value: 0,
                    text: "O_RDONLY".into(),
                },
            )
            .ret(3),
        Event::syscall(5, 5_000, 20, 20, "socket")
            .arg(
                "domain",
                Value::Flags {
                    value: 2,
                    text: "AF_INET".into(),
                },
            )
            .arg(
                "type",
                Value::Flags {
                    value: 1,
                    text: "SOCK_STREAM".into(),
                },
            )
            .ret(4),
        Event::syscall(6, 6_000, 20, 20, "connect")
            .arg("fd", Value::Fd(4))
            .arg(
                "addr",
                Value::Sockaddr(SockAddr::ip(IpAddr::V4(Ipv4Addr::new(10, 1, 2, 3)), 6667)),
            )
            .arg(
                "laddr",
                Value::Sockaddr(SockAddr::ip(
                    IpAddr::V4(Ipv4Addr::new(192, 168, 0, 5)),
                    41000,
                )),
            )
            .ret(0),
        Event::syscall(7, 7_000, 20, 20, "write")
            .arg("fd", Value::Fd(4))
            .arg("data", Value::Bytes(b"GET / HTTP/1.0".to_vec()))
            .ret(14),
    ];
    (st, evs)
}

/// Runs `filter` over the scenario; returns the numbers of the matching events.
fn hits(filter: &str) -> Vec<u64> {
    let f = Filter::new(filter).unwrap_or_else(|e| panic!("{filter}: {e}"));
    let (mut st, evs) = scenario();
    let mut out = Vec::new();
    for ev in &evs {
        let view = st.update(ev);
        if f.matches(ev, view) {
            out.push(ev.num);
        }
    }
    out
}

#[test]
fn comparison_operators() {
    assert_eq!(hits("evt.type = openat"), [4]);
    assert_eq!(hits("evt.type == openat"), [4]);
    assert_eq!(
        hits("evt.type != openat and proc.name = curl"),
        [3, 5, 6, 7]
    );
    assert_eq!(hits("fd.num < 4"), [4]);
    assert_eq!(hits("fd.num <= 4"), [4, 5, 6, 7]);
    assert_eq!(hits("evt.num > 6"), [7]);
    assert_eq!(hits("evt.num >= 6"), [6, 7]);
    assert_eq!(hits("evt.rawres >= 0 and evt.rawres < 1"), [3, 6]);
    assert_eq!(hits("user.uid = 1000 and evt.type = execve"), [3]);
    assert_eq!(hits("proc.tty != 0 and evt.num = 3"), [3]);
}

#[test]
fn string_operators() {
    assert_eq!(hits("fd.name contains shad"), [4]);
    assert_eq!(hits("fd.name icontains SHADOW"), [4]);
    assert_eq!(hits("fd.name contains SHADOW"), Vec::<u64>::new());
    assert_eq!(hits("fd.name startswith /etc/"), [4]);
    assert_eq!(hits("fd.name endswith /shadow"), [4]);
    assert_eq!(
        hits("proc.cmdline = 'curl -s http://x' and evt.num = 3"),
        [3]
    );
    assert_eq!(hits("proc.args = \"-s http://x\" and evt.num = 3"), [3]);
    assert_eq!(hits("evt.buffer bcontains 2f20485454"), [7]);
    assert_eq!(hits("evt.buffer bstartswith 474554"), [7]);
    assert_eq!(hits("evt.buffer bstartswith 2f"), Vec::<u64>::new());
    assert_eq!(hits("fd.name glob '/etc/sha*'"), [4]);
    assert_eq!(hits("fd.name glob /etc/?hado[uvw]"), [4]);
    assert_eq!(hits("fd.name glob /etc/*x"), Vec::<u64>::new());
    assert_eq!(hits("fd.name pmatch (/etc, /var/log)"), [4]);
    assert_eq!(
        hits("fd.name pmatch (/et, /var/log)"),
        Vec::<u64>::new(),
        "pmatch matches whole path components"
    );
    assert_eq!(hits("fd.directory pmatch (/)"), [4]);
    assert_eq!(
        hits("proc.env[LD_PRELOAD] startswith /tmp and evt.num=3"),
        [3]
    );
}

#[test]
fn list_operators_and_exists() {
    assert_eq!(hits("evt.type in (openat, connect)"), [4, 6]);
    assert_eq!(hits("evt.type in (open, \"openat\")"), [4]);
    assert_eq!(hits("proc.name in (wget, curl) and evt.num = 3"), [3]);
    assert_eq!(
        hits("proc.aname in (bash) and evt.num = 3"),
        [3],
        "any ancestor"
    );
    assert_eq!(hits("proc.aname[1] = bash and evt.num = 3"), [3]);
    assert_eq!(hits("proc.aname[2] exists"), Vec::<u64>::new());
    assert_eq!(hits("proc.pname exists and evt.num = 4"), [4]);
    assert_eq!(hits("fd.sip exists"), [6, 7]);
    assert_eq!(
        hits("fd.types intersects (ipv4, pipe) and evt.num = 5"),
        [5]
    );
    assert_eq!(hits("fd.types intersects (pipe, unix)"), Vec::<u64>::new());
    assert_eq!(hits("fd.sport in (23, 2323, 6667)"), [6, 7]);
    assert_eq!(hits("evt.arg.flags contains O_RDONLY"), [4]);
    assert_eq!(
        hits("evt.arg.domain = AF_INET and evt.arg.domain = 2"),
        [5],
        "flags compare by text and by value"
    );
    assert_eq!(hits("evt.arg[1] = /etc/shadow"), [4]);
    assert_eq!(hits("evt.arg.fd = 4 and evt.type=connect"), [6]);
}

#[test]
fn ip_and_cidr() {
    assert_eq!(hits("fd.net = 10.0.0.0/8"), [6, 7]);
    assert_eq!(hits("fd.net = 11.0.0.0/8"), Vec::<u64>::new());
    assert_eq!(hits("fd.snet in (172.16.0.0/12, 10.1.2.0/24)"), [6, 7]);
    assert_eq!(hits("fd.cnet = 192.168.0.0/16"), [6, 7]);
    assert_eq!(hits("fd.sip = 10.1.2.3 and fd.cip = 192.168.0.5"), [6, 7]);
    assert_eq!(hits("fd.rip != 10.1.2.3"), Vec::<u64>::new());
    assert_eq!(hits("fd.ip = 192.168.0.5"), [6, 7]);
    assert_eq!(
        hits("fd.lport = 41000 and fd.rport = 6667 and fd.l4proto = tcp"),
        [6, 7]
    );
    assert_eq!(hits("fd.name = '192.168.0.5:41000->10.1.2.3:6667'"), [6, 7]);
    let n = ferret_filter::Net::parse("fe80::/10").expect("v6 net");
    assert!(n.contains(IpAddr::V6(Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 1))));
    assert!(!n.contains(IpAddr::V6(Ipv6Addr::LOCALHOST)));
}

#[test]
fn precedence_and_not_binding() {
    // and binds tighter than or.
    assert_eq!(
        hits("evt.num = 3 or evt.num = 4 and evt.type = execve"),
        [3]
    );
    assert_eq!(
        hits("(evt.num = 3 or evt.num = 4) and evt.type = openat"),
        [4]
    );
    // not binds tighter than and: (not A) and B.
    assert_eq!(hits("not evt.type = openat and evt.num < 5"), [3]);
    assert_eq!(
        hits("not (evt.type = openat and evt.num < 5)"),
        [3, 5, 6, 7]
    );
    assert_eq!(hits("not not evt.num = 5"), [5]);
    assert_eq!(hits("evt.num=7 or not evt.num>3"), [3, 7]);
    // Absent fields: every comparison is false, so their negation is true.
    assert_eq!(hits("container.id != host"), Vec::<u64>::new());
    assert_eq!(hits("not container.id = host and evt.num = 3"), [3]);
    assert_eq!(hits("spawned_process"), [3], "built-in macro");
    // Field-to-field comparison.
    assert_eq!(hits("evt.num = 3 and proc.pname != val(proc.name)"), [3]);
    assert_eq!(hits("evt.arg.name = val(fd.name)"), [4]);
    assert_eq!(hits("proc.pid = val(thread.tid) and evt.num = 7"), [7]);
}

struct Defs {
    lists: HashMap<&'static str, Vec<String>>,
    macros: HashMap<&'static str, Expr>,
}

impl Definitions for Defs {
    fn macro_expr(&self, name: &str) -> Option<&Expr> {
        self.macros.get(name)
    }
    fn list_items(&self, name: &str) -> Option<&[String]> {
        self.lists.get(name).map(Vec::as_slice)
    }
}

#[test]
fn nested_lists_and_macros() {
    let mut lists = HashMap::new();
    lists.insert("downloaders", vec!["wget".to_owned(), "tftp".to_owned()]);
    lists.insert(
        "net_tools",
        vec!["downloaders".to_owned(), "curl".to_owned()],
    );
    let mut macros = HashMap::new();
    macros.insert(
        "is_net_tool",
        parse("proc.name in (net_tools, nc)").expect("macro"),
    );
    macros.insert("loop_a", parse("loop_b").expect("macro"));
    macros.insert("loop_b", parse("loop_a").expect("macro"));
    let defs = Defs { lists, macros };
    let mut c = Compiler::new(&defs);
    let (node, _) = c
        .compile(&parse("is_net_tool and evt.type = execve").expect("parse"))
        .expect("compile");
    let (tftp, _) = c
        .compile(&parse("proc.name in (downloaders) and evt.type = execve").expect("parse"))
        .expect("compile");
    let (quoted, _) = c
        .compile(&parse("proc.name in ('net_tools') and evt.type = execve").expect("parse"))
        .expect("compile");
    let (mut st, evs) = scenario();
    let view = st.update(&evs[0]);
    let ctx = EvalCtx {
        ctx: Ctx { ev: &evs[0], view },
        type_id: c.types.get("execve"),
        memo: None,
    };
    assert!(
        node.eval(&ctx),
        "curl is in net_tools through the nested list"
    );
    assert!(!tftp.eval(&ctx), "curl is not a downloader");
    assert!(
        !quoted.eval(&ctx),
        "a quoted item is a value, not a list reference"
    );
    let err = c
        .compile(&parse("loop_a").expect("parse"))
        .expect_err("cycle");
    assert!(err.message.contains("refers to itself"), "{err}");
    let err = c
        .compile(&parse("evt.type = execve and proc.nmae = x").expect("parse"))
        .expect_err("unknown field");
    assert_eq!(err.unknown_field.as_deref(), Some("proc.nmae"));
    assert_eq!(err.pos, 22);
}

#[test]
fn malformed_filters_report_the_column() {
    let cases: [(&str, usize, &str); 10] = [
        ("evt.type = ", 12, "expected a value"),
        ("evt.type in open", 13, "expected '('"),
        ("(evt.type = open", 17, "expected ')'"),
        ("evt.type = open and", 20, "expected a condition"),
        ("proc.name = x or or", 18, "expected a field name"),
        ("proc.name = 'abc", 13, "unterminated"),
        ("proc.name in (a, b", 19, "expected ',' or ')'"),
        ("fd.name foo bar", 9, "expected an operator"),
        ("evt.type = open )", 17, "expected 'and', 'or'"),
        ("proc.nmae = bash", 1, "unknown field"),
    ];
    for (text, col, msg) in cases {
        let e = Filter::new(text).expect_err(text);
        assert_eq!(e.col, col, "{text}: {e}");
        assert!(e.message.contains(msg), "{text}: {e}");
    }
    let e = Filter::new("fd.num > abc").expect_err("numeric");
    assert!(e.message.contains("numeric") && e.col == 10, "{e}");
    let e = Filter::new("fd.net = 300.1.1.1/8").expect_err("cidr");
    assert!(e.message.contains("CIDR"), "{e}");
    let e = Filter::new("evt.failed = maybe").expect_err("bool");
    assert!(e.message.contains("true or false"), "{e}");
    let deep = format!("{}evt.num=1{}", "(".repeat(5000), ")".repeat(5000));
    assert!(
        Filter::new(&deep)
            .expect_err("too deep")
            .message
            .contains("nested too deeply")
    );
}

#[test]
fn hostile_filters_never_panic() {
    // Deterministic pseudo-random filters built from the language's own pieces plus noise.
    const PIECES: [&str; 24] = [
        "evt.type",
        "=",
        "in",
        "(",
        ")",
        ",",
        "'",
        "\"",
        "not",
        "and",
        "or",
        "proc.aname[",
        "]",
        "evt.arg.",
        "fd.net",
        "10.0.0.0/",
        "glob",
        "pmatch",
        "val(",
        "exists",
        "\\",
        "é",
        "[",
        "bcontains",
    ];
    let mut x: u64 = 0x1234_5678_9abc_def1;
    for _ in 0..20_000 {
        let mut s = String::new();
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let n = (x % 12) as usize;
        for k in 0..n {
            let r = x.rotate_left(k as u32 * 5);
            s.push_str(PIECES[(r % PIECES.len() as u64) as usize]);
            if r & 0x100 != 0 {
                s.push(' ');
            }
        }
        let _ = Filter::new(&s);
    }
}
