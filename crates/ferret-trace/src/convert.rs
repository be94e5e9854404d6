//! Conversion of trace records into ferret's event model (`ferret_event::Event`,
//! JSON-lines format v1, see docs/events.md).

use crate::event::{ExitStatus, ForkKind, Sink, SyscallRecord, TraceEvent};
use crate::flags::{Sym, SymKind};
use crate::value::{ArgValue, Bytes, SockAddr, StrList};
use ferret_event::{Dir, Event, Family, ProcInfo, Value};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn strs(l: &StrList) -> Vec<String> {
    l.items.iter().map(|b| text(&b.data)).collect()
}

/// Whether string argument `arg` of `syscall` is a file-system path.
fn is_path(syscall: &str, arg: &str) -> bool {
    match arg {
        "filename" | "pathname" | "path" | "oldpath" | "newpath" | "linkpath" | "source"
        | "target" | "new_root" | "put_old" | "from_path" | "to_path" | "special" => {
            !(syscall == "mount" && arg == "source")
        }
        "name" => matches!(
            syscall,
            "open" | "openat" | "openat2" | "creat" | "unlinkat"
        ),
        _ => false,
    }
}

fn sockaddr(a: &SockAddr) -> ferret_event::SockAddr {
    let bare = |family| ferret_event::SockAddr {
        family,
        ip: None,
        port: None,
        path: None,
    };
    match a {
        SockAddr::Inet { addr, port } => {
            ferret_event::SockAddr::ip(IpAddr::V4(Ipv4Addr::from(*addr)), *port)
        }
        SockAddr::Inet6 { addr, port, .. } => {
            ferret_event::SockAddr::ip(IpAddr::V6(Ipv6Addr::from(*addr)), *port)
        }
        SockAddr::Unix { path, abstract_ns } => {
            let mut p = String::with_capacity(path.len() + 1);
            if *abstract_ns {
                p.push('@');
            }
            p.push_str(&String::from_utf8_lossy(path));
            ferret_event::SockAddr::unix(p)
        }
        SockAddr::Netlink { .. } => bare(Family::Netlink),
        SockAddr::Packet { .. } => bare(Family::Packet),
        SockAddr::Other { .. } => bare(Family::Other),
    }
}

fn flags(s: &Sym) -> Value {
    Value::Flags {
        value: s.value,
        text: s.to_string(),
    }
}

fn value(syscall: &str, name: &str, v: &ArgValue) -> Value {
    match v {
        ArgValue::Int(i) if name == "fd" || name.ends_with("fd") => Value::Fd(*i),
        ArgValue::Int(i) => Value::Int(*i),
        ArgValue::UInt(u) | ArgValue::Hex(u) | ArgValue::Fault(u, _) => Value::Uint(*u),
        ArgValue::Sym(s) if s.kind == SymKind::DirFd => Value::Fd(s.value as i64),
        ArgValue::Sym(s) => flags(s),
        ArgValue::Str(Bytes { data, .. }) if is_path(syscall, name) => Value::Path(text(data)),
        ArgValue::Str(Bytes { data, .. }) => Value::Str(text(data)),
        ArgValue::StrList(l) => Value::Strs(strs(l)),
        ArgValue::SockAddr(a) => Value::Sockaddr(sockaddr(a)),
        ArgValue::Null => Value::Uint(0),
        // Structs are flattened by the caller; this is only a fallback.
        ArgValue::Struct(_) => Value::Str(v.to_string()),
    }
}

fn syscall_event(num: u64, r: &SyscallRecord) -> Event {
    // i386 socketcall: present the sub-call as the syscall it stands for, so
    // rules and the state machine see `connect`, `socket`...
    let (ty, skip) = match (r.name, r.args.first()) {
        ("socketcall", Some(("call", ArgValue::Sym(s)))) => {
            match crate::decode::socketcall_name(s.value) {
                Some(n) => (n, 1),
                None => (r.name, 0),
            }
        }
        _ => (r.name, 0),
    };
    let mut ev = Event::syscall(num, r.ts_ns, r.pid as i64, r.tid as i64, ty);
    ev.ret = match (r.ret, r.errno) {
        // The model keeps the kernel's raw return: -errno on failure.
        (_, Some(e)) => Some(-(e as i64)),
        (ret, None) => ret,
    };
    if ev.ret.is_none() {
        ev.dir = Dir::Enter;
    }
    for (name, v) in r.args.iter().skip(skip) {
        match v {
            // Flatten clone3 args / open_how / msghdr so `flags` and `addr`
            // are where the state machine and rules look for them.
            ArgValue::Struct(fields) => {
                for (fname, fv) in fields {
                    let key = if *fname == "msg_name" { "addr" } else { fname };
                    ev.args.push(key, value(ty, key, fv));
                }
            }
            _ => ev.args.push(*name, value(ty, name, v)),
        }
    }
    ev
}

impl TraceEvent {
    /// Converts into ferret's event model with sequence number `num`:
    /// syscalls keep their name as `type` (i386 `socketcall` takes its
    /// sub-call's name: `connect`, `socket`...; raw `ret`, `-errno` on failure;
    /// `dir` = enter when the call never returned); process events become
    /// `procfork` (args `child`, `kind`), `procexec` (with a `proc` snapshot:
    /// exe, exepath, args, env; the `execve` record itself drives the state
    /// machine), `procexit` (last thread of a process; `threadexit` for other
    /// threads; args `status` or `sig`) and `signaldeliver` (args `spid`,
    /// `dpid`, `sig`, `code`).
    pub fn to_event(&self, num: u64) -> Event {
        match self {
            TraceEvent::Syscall(r) => syscall_event(num, r),
            TraceEvent::Fork {
                ts_ns,
                parent,
                parent_tid,
                child,
                kind,
            } => {
                let kind = match kind {
                    ForkKind::Fork => "fork",
                    ForkKind::Vfork => "vfork",
                    ForkKind::Clone => "clone",
                    ForkKind::Thread => "thread",
                };
                Event::syscall(num, *ts_ns, *parent as i64, *parent_tid as i64, "procfork")
                    .arg("child", Value::Int(*child as i64))
                    .arg("kind", Value::Str(kind.to_string()))
            }
            TraceEvent::Exec {
                ts_ns,
                pid,
                path,
                exe,
                arch,
                argv,
                envp,
                ..
            } => {
                let mut ev = Event::syscall(num, *ts_ns, *pid as i64, *pid as i64, "procexec");
                if let Some(p) = path {
                    ev.args.push("filename", Value::Path(text(&p.data)));
                }
                if let Some(a) = arch {
                    ev.args.push("arch", Value::Str(a.as_str().to_string()));
                }
                let argv = argv.as_ref().map(strs);
                let info = ProcInfo {
                    exe: argv.as_ref().and_then(|a| a.first().cloned()),
                    exepath: exe.as_deref().map(text),
                    args: argv.map(|a| a.into_iter().skip(1).collect()),
                    env: envp.as_ref().map(strs),
                    ..ProcInfo::default()
                };
                ev.proc = Some(Box::new(info));
                ev
            }
            TraceEvent::Exit {
                ts_ns,
                pid,
                tid,
                status,
            } => {
                let ty = if pid == tid { "procexit" } else { "threadexit" };
                let ev = Event::syscall(num, *ts_ns, *pid as i64, *tid as i64, ty);
                match status {
                    ExitStatus::Code(c) => ev.arg("status", Value::Int(*c as i64)),
                    ExitStatus::Signal { sig, core } => ev
                        .arg(
                            "sig",
                            flags(&Sym {
                                kind: SymKind::Signal,
                                value: *sig as u64,
                            }),
                        )
                        .arg("core", Value::Int(*core as i64)),
                }
            }
            TraceEvent::Signal {
                ts_ns,
                pid,
                tid,
                sig,
                code,
                sender,
            } => Event::syscall(num, *ts_ns, *pid as i64, *tid as i64, "signaldeliver")
                .arg("spid", Value::Int(*sender as i64))
                .arg("dpid", Value::Int(*tid as i64))
                .arg(
                    "sig",
                    flags(&Sym {
                        kind: SymKind::Signal,
                        value: *sig as u64,
                    }),
                )
                .arg("code", Value::Int(*code as i64)),
        }
    }
}

/// A [`Sink`] that converts every event with [`TraceEvent::to_event`],
/// numbering them from 1, and hands them to a closure.
#[derive(Debug)]
pub struct EventSink<F> {
    next: u64,
    f: F,
}

impl<F: FnMut(Event)> EventSink<F> {
    /// Wraps `f`.
    pub fn new(f: F) -> Self {
        EventSink { next: 1, f }
    }

    /// Events converted so far.
    pub fn count(&self) -> u64 {
        self.next - 1
    }
}

impl<F: FnMut(Event)> Sink for EventSink<F> {
    fn event(&mut self, ev: TraceEvent) {
        let e = ev.to_event(self.next);
        self.next += 1;
        (self.f)(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Arch;

    #[test]
    fn syscall_converts() {
        let r = SyscallRecord {
            ts_ns: 5,
            pid: 10,
            tid: 11,
            arch: Arch::X86_64,
            nr: 257,
            name: "openat",
            raw_args: [0; 6],
            args: vec![
                (
                    "dirfd",
                    ArgValue::Sym(Sym {
                        kind: SymKind::DirFd,
                        value: (-100i64) as u64,
                    }),
                ),
                (
                    "name",
                    ArgValue::Str(Bytes {
                        data: b"/etc/shadow".to_vec(),
                        truncated: false,
                    }),
                ),
                (
                    "flags",
                    ArgValue::Sym(Sym {
                        kind: SymKind::Open,
                        value: 0o2000000,
                    }),
                ),
            ],
            ret: Some(-1),
            errno: Some(13),
        };
        let e = TraceEvent::Syscall(r).to_event(7);
        assert_eq!((e.num, e.ts, e.pid, e.tid), (7, 5, 10, 11));
        assert_eq!(e.ty, "openat");
        assert_eq!(e.ret, Some(-13));
        assert_eq!(e.errno(), Some(13));
        assert_eq!(e.args.get("dirfd"), Some(&Value::Fd(-100)));
        assert_eq!(e.args.get("name"), Some(&Value::Path("/etc/shadow".into())));
        assert_eq!(
            e.args.get("flags"),
            Some(&Value::Flags {
                value: 0o2000000,
                text: "O_RDONLY|O_CLOEXEC".into()
            })
        );
        let line = e.to_json_line();
        assert!(line.contains("\"errno\":\"EACCES\""), "{line}");
        assert_eq!(Event::from_json(&line).ok(), Some(e));
    }

    #[test]
    fn msghdr_and_unix_flatten() {
        let r = SyscallRecord {
            ts_ns: 1,
            pid: 1,
            tid: 1,
            arch: Arch::I386,
            nr: 370,
            name: "sendmsg",
            raw_args: [0; 6],
            args: vec![
                ("fd", ArgValue::Int(3)),
                (
                    "msg",
                    ArgValue::Struct(vec![(
                        "msg_name",
                        ArgValue::SockAddr(SockAddr::Unix {
                            path: b"x".to_vec(),
                            abstract_ns: true,
                        }),
                    )]),
                ),
            ],
            ret: None,
            errno: None,
        };
        let e = TraceEvent::Syscall(r).to_event(1);
        assert_eq!(e.dir, Dir::Enter);
        assert_eq!(e.args.get("fd"), Some(&Value::Fd(3)));
        assert_eq!(
            e.args.get("addr"),
            Some(&Value::Sockaddr(ferret_event::SockAddr::unix("@x")))
        );
    }
}
