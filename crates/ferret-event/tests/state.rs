//! JSON-lines round trip and state-machine behaviour.

use std::net::{IpAddr, Ipv4Addr};

use ferret_event::{Event, FdKind, ProcInfo, SockAddr, State, Value, read_json_lines};

fn flags(value: u64, text: &str) -> Value {
    Value::Flags {
        value,
        text: text.into(),
    }
}

#[test]
fn json_round_trip_keeps_arg_order_and_types() {
    let ev = Event::syscall(7, 1_700_000_000_000_000_000, 100, 101, "openat")
        .arg("dirfd", Value::Fd(-100))
        .arg("name", Value::Path("/etc/shadow".into()))
        .arg("flags", flags(0o2_000_000, "O_RDONLY|O_CLOEXEC"))
        .arg("buf", Value::Bytes(vec![0, 0xff, 0x41]))
        .arg(
            "addr",
            Value::Sockaddr(SockAddr::ip(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)), 23)),
        )
        .arg("err", Value::Errno(13))
        .arg("argv", Value::Strs(vec!["a".into(), "b c".into()]))
        .ret(-13);
    let line = ev.to_json_line();
    assert!(line.contains(r#""errno":"EACCES""#), "{line}");
    assert!(line.contains(r#""buf":{"bytes":"00ff41"}"#), "{line}");
    assert!(line.contains(r#""err":{"errno":"EACCES"}"#), "{line}");
    let names: Vec<_> = line
        .match_indices("\"dirfd\"")
        .chain(line.match_indices("\"argv\""))
        .map(|(i, _)| i)
        .collect();
    assert!(names[0] < names[1], "argument order kept: {line}");
    let back = Event::from_json(&line).expect("parse back");
    assert_eq!(back, ev);
    assert_eq!(back.errno(), Some(13));
}

#[test]
fn bad_lines_give_line_numbers() {
    let input = "# comment\n{\"type\":\"open\",\"pid\":1}\n\n{\"type\":\"x\",\"v\":9}\n{\"type\":\"y\",\"args\":{\"a\":{\"bytes\":\"zz\"}}}\n";
    let res: Vec<_> = read_json_lines(input.as_bytes()).collect();
    assert_eq!(res.len(), 3);
    assert!(res[0].is_ok());
    let e = res[1].as_ref().expect_err("version 9");
    assert_eq!(e.line, 4);
    assert!(e.to_string().contains("version 9"), "{e}");
    let e = res[2].as_ref().expect_err("bad hex");
    assert_eq!(e.line, 5);
    assert!(e.to_string().contains("hex"), "{e}");
}

#[test]
fn fork_exec_open_close_track_state() {
    let mut st = State::new();
    let mut shell = Event::syscall(1, 10, 50, 50, "getpid").ret(50);
    shell.proc = Some(Box::new(ProcInfo {
        ppid: Some(1),
        name: Some("bash".into()),
        exepath: Some("/bin/bash".into()),
        cwd: Some("/home/u".into()),
        uid: Some(1000),
        ..ProcInfo::default()
    }));
    st.update(&shell);
    st.update(
        &Event::syscall(2, 11, 50, 50, "clone")
            .arg("flags", flags(0x11, "SIGCHLD"))
            .ret(60),
    );
    let v = st.update(
        &Event::syscall(3, 12, 60, 60, "execve")
            .arg("filename", Value::Path("../../tmp/./x".into()))
            .arg(
                "argv",
                Value::Strs(vec!["x".into(), "-a".into(), "b".into()]),
            )
            .ret(0),
    );
    let p = v.proc.expect("child tracked");
    assert_eq!(p.exepath, "/tmp/x");
    assert_eq!(p.name, "x");
    assert_eq!(p.cmdline, "x -a b");
    assert_eq!(p.uid, 1000, "inherited from parent");
    assert_eq!(v.ancestor(1).map(|a| a.name.as_str()), Some("bash"));
    let v = st.update(
        &Event::syscall(4, 13, 60, 60, "openat")
            .arg("dirfd", Value::Fd(-100))
            .arg("name", Value::Path("notes.txt".into()))
            .arg("flags", flags(0, "O_RDONLY"))
            .ret(3),
    );
    let fd = v.fd.expect("fd resolved");
    assert_eq!(
        (fd.num, fd.info.name.as_str(), fd.info.kind),
        (3, "/home/u/notes.txt", FdKind::File)
    );
    let v = st.update(
        &Event::syscall(5, 14, 60, 60, "close")
            .arg("fd", Value::Fd(3))
            .ret(0),
    );
    assert_eq!(
        v.fd.map(|f| f.info.name.as_str()),
        Some("/home/u/notes.txt"),
        "close still sees the file"
    );
    let v = st.update(
        &Event::syscall(6, 15, 60, 60, "read")
            .arg("fd", Value::Fd(3))
            .ret(-9),
    );
    assert!(v.fd.is_none(), "closed after the close event");
    // Failed open: fd.num is -1 but the name resolves.
    let v = st.update(
        &Event::syscall(7, 16, 60, 60, "open")
            .arg("name", Value::Path("/nope".into()))
            .ret(-2),
    );
    let fd = v.fd.expect("scratch fd");
    assert_eq!((fd.num, fd.info.name.as_str()), (-1, "/nope"));
}

#[test]
fn sockets_memfd_and_fileless_exec() {
    let mut st = State::new();
    st.update(
        &Event::syscall(1, 1, 7, 7, "socket")
            .arg("domain", flags(2, "AF_INET"))
            .arg("type", flags(1, "SOCK_STREAM"))
            .ret(4),
    );
    let v = st.update(
        &Event::syscall(2, 2, 7, 7, "connect")
            .arg("fd", Value::Fd(4))
            .arg(
                "addr",
                Value::Sockaddr(SockAddr::ip(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1)), 6667)),
            )
            .arg(
                "laddr",
                Value::Sockaddr(SockAddr::ip(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1)), 40000)),
            )
            .ret(0),
    );
    let fd = v.fd.expect("socket");
    assert_eq!(fd.info.name, "127.0.0.1:40000->127.0.0.1:6667");
    assert!(fd.info.sock.as_ref().is_some_and(|s| s.connected));
    st.update(
        &Event::syscall(3, 3, 7, 7, "memfd_create")
            .arg("name", Value::Str("payload".into()))
            .arg("flags", flags(0, ""))
            .ret(5),
    );
    let v = st.update(
        &Event::syscall(4, 4, 7, 7, "execveat")
            .arg("dirfd", Value::Fd(5))
            .arg("pathname", Value::Path(String::new()))
            .arg("flags", flags(0x1000, "AT_EMPTY_PATH"))
            .ret(0),
    );
    let p = v.proc.expect("proc");
    assert!(p.exe_from_memfd);
    assert_eq!(p.exepath, "memfd:payload");
    // Descriptors survive exec unless close-on-exec.
    assert!(p.fds.contains_key(&4) && p.fds.contains_key(&5));
    st.update(&Event::syscall(5, 5, 7, 7, "exit_group").arg("status", Value::Int(0)));
    st.update(&Event::syscall(6, 6, 1, 1, "getpid"));
    assert!(st.process(7).is_some_and(|p| p.exited && p.fds.is_empty()));
}
