//! Event-sequence builders shared by the rule tests.
#![allow(dead_code)]

use std::net::{IpAddr, Ipv4Addr};

use ferret_event::{Event, ProcInfo, SockAddr, Value};
use ferret_rules::{Analyzer, Engine};

pub const O_RDONLY: u64 = 0;
pub const O_WRONLY: u64 = 1;
pub const O_RDWR: u64 = 2;
pub const O_CREAT: u64 = 0o100;
pub const O_TRUNC: u64 = 0o1000;
pub const O_DIRECTORY: u64 = 0o200_000;

/// Symbolic text for open flags.
pub fn open_flags(v: u64) -> Value {
    let mut t = vec![match v & 3 {
        1 => "O_WRONLY",
        2 => "O_RDWR",
        _ => "O_RDONLY",
    }];
    for (bit, name) in [
        (O_CREAT, "O_CREAT"),
        (O_TRUNC, "O_TRUNC"),
        (O_DIRECTORY, "O_DIRECTORY"),
    ] {
        if v & bit != 0 {
            t.push(name);
        }
    }
    Value::Flags {
        value: v,
        text: t.join("|"),
    }
}

pub fn flags(v: u64, t: &str) -> Value {
    Value::Flags {
        value: v,
        text: t.into(),
    }
}

/// Builds an event sequence with increasing numbers and timestamps.
#[derive(Debug, Default)]
pub struct Seq {
    pub evs: Vec<Event>,
}

impl Seq {
    /// A sequence that starts with `sshd(1) -> bash(50)`.
    pub fn new() -> Self {
        let mut s = Seq::default();
        s.known(1, 0, "sshd", "/usr/sbin/sshd", &["-D"], 0);
        s.known(50, 1, "bash", "/usr/bin/bash", &[], 1000);
        s
    }

    fn next(&self, pid: i64, ty: &'static str) -> Event {
        let n = self.evs.len() as u64 + 1;
        Event::syscall(n, 1_700_000_000_000_000_000 + n * 1000, pid, pid, ty)
    }

    /// Declares a running process (as a tracer attaching to it would).
    pub fn known(
        &mut self,
        pid: i64,
        ppid: i64,
        name: &str,
        exepath: &str,
        args: &[&str],
        uid: u32,
    ) -> &mut Self {
        let mut e = self.next(pid, "getpid").ret(pid);
        e.proc = Some(Box::new(ProcInfo {
            ppid: Some(ppid),
            name: Some(name.into()),
            exe: Some(name.into()),
            exepath: Some(exepath.into()),
            args: Some(args.iter().map(|a| (*a).to_owned()).collect()),
            cwd: Some("/home/alice".into()),
            uid: Some(uid),
            gid: Some(uid),
            loginuid: Some(1000),
            sid: Some(50),
            pgid: Some(50),
            tty: Some(34816),
            ..ProcInfo::default()
        }));
        self.evs.push(e);
        self
    }

    /// `parent` forks `child`, which executes `path` with `argv`.
    pub fn spawn(&mut self, parent: i64, child: i64, path: &str, argv: &[&str]) -> &mut Self {
        self.fork(parent, child);
        self.exec(child, path, argv, &[])
    }

    pub fn fork(&mut self, parent: i64, child: i64) -> &mut Self {
        let e = self
            .next(parent, "clone")
            .arg("flags", flags(17, "SIGCHLD"))
            .ret(child);
        self.evs.push(e);
        self
    }

    pub fn exec(&mut self, pid: i64, path: &str, argv: &[&str], env: &[&str]) -> &mut Self {
        let e = self
            .next(pid, "execve")
            .arg("filename", Value::Path(path.into()))
            .arg(
                "argv",
                Value::Strs(argv.iter().map(|a| (*a).to_owned()).collect()),
            )
            .arg(
                "envp",
                Value::Strs(env.iter().map(|a| (*a).to_owned()).collect()),
            )
            .ret(0);
        self.evs.push(e);
        self
    }

    pub fn open(&mut self, pid: i64, path: &str, fl: u64, ret: i64) -> &mut Self {
        let e = self
            .next(pid, "openat")
            .arg("dirfd", Value::Fd(-100))
            .arg("name", Value::Path(path.into()))
            .arg("flags", open_flags(fl))
            .arg("mode", flags(0o644, "S_IRUSR|S_IWUSR|S_IRGRP|S_IROTH"))
            .ret(ret);
        self.evs.push(e);
        self
    }

    pub fn call(
        &mut self,
        pid: i64,
        ty: &'static str,
        args: Vec<(&'static str, Value)>,
        ret: i64,
    ) -> &mut Self {
        let mut e = self.next(pid, ty).ret(ret);
        for (k, v) in args {
            e = e.arg(k, v);
        }
        self.evs.push(e);
        self
    }

    pub fn unlink(&mut self, pid: i64, path: &str) -> &mut Self {
        self.call(
            pid,
            "unlinkat",
            vec![
                ("dirfd", Value::Fd(-100)),
                ("name", Value::Path(path.into())),
                ("flags", flags(0, "")),
            ],
            0,
        )
    }

    pub fn connect(&mut self, pid: i64, fd: i64, ip: [u8; 4], port: u16, ret: i64) -> &mut Self {
        self.call(
            pid,
            "socket",
            vec![
                ("domain", flags(2, "AF_INET")),
                ("type", flags(1, "SOCK_STREAM")),
                ("proto", Value::Int(0)),
            ],
            fd,
        );
        let addr = SockAddr::ip(IpAddr::V4(Ipv4Addr::from(ip)), port);
        let local = SockAddr::ip(IpAddr::V4(Ipv4Addr::new(192, 168, 1, 10)), 40000);
        self.call(
            pid,
            "connect",
            vec![
                ("fd", Value::Fd(fd)),
                ("addr", Value::Sockaddr(addr)),
                ("laddr", Value::Sockaddr(local)),
            ],
            ret,
        )
    }
}

/// Names of the rules that fire on `evs`.
pub fn fired(engine: &Engine, evs: &[Event]) -> Vec<String> {
    let mut a = Analyzer::new(engine);
    let mut names = Vec::new();
    for e in evs {
        for al in a.feed(e) {
            if !names.contains(&al.rule) {
                names.push(al.rule);
            }
        }
    }
    names
}

/// Builds an event sequence on top of a base sequence.
pub type Build = fn(&mut Seq);

/// A rule with a sequence that must fire it and a near-miss that must not.
pub struct Case {
    pub rule: &'static str,
    pub pos: Build,
    pub neg: Build,
}

/// Runs every case from a fresh `base()` and returns one message per failure: a
/// case whose rule is unknown panics at once, since the case itself is wrong.
pub fn check_cases(engine: &Engine, cases: &[Case], base: fn() -> Seq) -> Vec<String> {
    let mut failures = Vec::new();
    for c in cases {
        assert!(
            engine.rules().iter().any(|r| r.name == c.rule),
            "case for unknown rule '{}'",
            c.rule
        );
        let mut pos = base();
        (c.pos)(&mut pos);
        let got = fired(engine, &pos.evs);
        if !got.iter().any(|n| n == c.rule) {
            failures.push(format!(
                "'{}' did not fire on its positive sequence (fired: {got:?})",
                c.rule
            ));
        }
        let mut neg = base();
        (c.neg)(&mut neg);
        let got = fired(engine, &neg.evs);
        if got.iter().any(|n| n == c.rule) {
            failures.push(format!("'{}' fired on its near-miss sequence", c.rule));
        }
    }
    failures
}
