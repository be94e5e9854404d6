//! Mapping of audit events into ferret's event model (`ferret_event::Event`,
//! `source = audit`), so that filters and rules apply to them.
//!
//! * An event with a SYSCALL record becomes an event typed with the syscall's name
//!   (`execve`, `connect`, `openat`...), `pid`/`ret` from the record, a process snapshot
//!   (`proc`: ppid, exe, comm, argv, cwd, uid, gid, auid) and arguments named as sysdig names
//!   them where the records hold them: `filename`/`argv` for exec, `addr` (plus `dst` or
//!   `src` so `fd.*` fields resolve) for socket calls, `name`/`path` for file calls, then
//!   `a0`..`a3`, `key` and `items`.
//! * Any other event is typed with its first record's type in lower case (`user_login`,
//!   `avc`...) and carries that record's interpreted fields as `str` arguments (numbers as
//!   `int`), `result` included.

use std::borrow::Cow;

use ferret_event::{Event, ProcInfo, Source, Value};

use crate::event::AuditEvent;
use crate::record::Record;

fn parse_i64(s: Option<&str>) -> Option<i64> {
    s.and_then(|v| v.parse().ok())
}

fn parse_u32(s: Option<&str>) -> Option<u32> {
    s.and_then(|v| v.parse().ok())
}

fn raw_field<'a>(rec: &'a Record, name: &str) -> Option<&'a str> {
    rec.get(name)
}

/// The raw `exit=` value (the record's interpreted value is an errno name when negative).
fn exit_value(rec: &Record) -> Option<i64> {
    let v = rec.get("exit")?;
    v.parse()
        .ok()
        .or_else(|| ferret_event::errno_from_name(v).map(|e| -e))
}

fn loginuid(rec: &Record) -> Option<u32> {
    match rec.get("auid")? {
        "unset" => Some(u32::MAX),
        v => v.parse().ok(),
    }
}

/// Joins `name` to `cwd` when it is relative.
fn absolute(cwd: Option<&str>, name: &str) -> String {
    match cwd {
        Some(c) if !name.starts_with('/') && !c.is_empty() => {
            let mut s = String::with_capacity(c.len() + 1 + name.len());
            s.push_str(c);
            if !c.ends_with('/') {
                s.push('/');
            }
            s.push_str(name.strip_prefix("./").unwrap_or(name));
            s
        }
        _ => name.to_owned(),
    }
}

/// Converts one audit event; `num` is the event's number in the stream.
pub fn to_event(ev: &AuditEvent, num: u64) -> Event {
    match ev.record("SYSCALL") {
        Some(sys) => syscall_event(ev, sys, num),
        None => other_event(ev, num),
    }
}

fn syscall_event(ev: &AuditEvent, sys: &Record, num: u64) -> Event {
    let name = sys.get("syscall").unwrap_or("unknown");
    // An unnamed syscall keeps its number; the type must be non-empty text.
    let ty: Cow<'static, str> = if name.bytes().all(|c| c.is_ascii_digit()) {
        Cow::Owned(format!("syscall_{name}"))
    } else {
        Cow::Owned(name.to_owned())
    };
    let pid = parse_i64(sys.get("pid")).unwrap_or(0);
    let mut out = Event {
        num,
        ts: ev.ts_nanos(),
        source: Source::Audit,
        ty,
        pid,
        tid: pid,
        ret: exit_value(sys),
        ..Event::default()
    };
    let cwd = ev.record("CWD").and_then(|r| r.get("cwd"));
    let argv = ev.argv();
    let exe = sys.get("exe").filter(|e| *e != "(null)");
    let mut info = ProcInfo {
        ppid: parse_i64(sys.get("ppid")),
        exe: exe.map(str::to_owned),
        exepath: exe.map(str::to_owned),
        name: sys.get("comm").map(str::to_owned),
        cwd: cwd.map(str::to_owned),
        uid: parse_u32(sys.get("uid")),
        gid: parse_u32(sys.get("gid")),
        loginuid: loginuid(sys),
        ..ProcInfo::default()
    };
    if !argv.is_empty() {
        info.args = Some(argv.get(1..).map(<[String]>::to_vec).unwrap_or_default());
    }
    // PATH records: item 0 is the object of most calls; PARENT entries name directories.
    let paths: Vec<String> = ev
        .records_of("PATH")
        .filter(|r| r.get("nametype") != Some("PARENT") && r.get("objtype") != Some("PARENT"))
        .filter_map(|r| r.get("name").map(|n| absolute(cwd, n)))
        .collect();
    let sockaddr = ev.records_of("SOCKADDR").find_map(|r| r.sockaddr.clone());
    let base = name.strip_suffix("at").unwrap_or(name);
    match name {
        "execve" | "execveat" => {
            let filename = paths
                .first()
                .cloned()
                .or_else(|| exe.map(str::to_owned))
                .unwrap_or_default();
            out.args.push("filename", Value::Path(filename));
            out.args.push("argv", Value::Strs(argv));
        }
        "connect" | "bind" | "accept" | "accept4" | "sendto" | "sendmsg" | "recvfrom"
        | "recvmsg" => {
            out.args.push("fd", Value::Fd(hex_arg(sys, "a0")));
            if let Some(a) = sockaddr {
                let side = if name == "bind" { "src" } else { "dst" };
                out.args.push("addr", Value::Sockaddr(a.clone()));
                out.args.push(side, Value::Sockaddr(a));
            }
        }
        "rename" | "renameat" | "renameat2" | "link" | "linkat" | "symlink" | "symlinkat" => {
            let mut it = paths.into_iter();
            if let Some(p) = it.next() {
                out.args.push("oldpath", Value::Path(p.clone()));
                out.args.push("path", Value::Path(p));
            }
            if let Some(p) = it.next() {
                out.args.push("newpath", Value::Path(p));
            }
        }
        _ => {
            if let Some(p) = paths.into_iter().next() {
                let key = if matches!(base, "open" | "creat" | "openat2") {
                    "name"
                } else {
                    "path"
                };
                out.args.push(key, Value::Path(p));
            }
        }
    }
    if let Some(f) = open_flags(sys, name) {
        out.args.push("flags", f);
    }
    for a in ["a0", "a1", "a2", "a3"] {
        if let Some(v) = raw_field(sys, a).and_then(|v| u64::from_str_radix(v, 16).ok()) {
            out.args.push(a, Value::Uint(v));
        }
    }
    if let Some(k) = sys.keys.first() {
        out.args.push("key", Value::Str(k.clone()));
    }
    if let Some(t) = ev.record("PROCTITLE").and_then(|r| r.get("proctitle")) {
        out.args.push("proctitle", Value::Str(t.to_owned()));
    }
    out.proc = Some(Box::new(info));
    out
}

/// The first argument of a syscall, which the SYSCALL record gives in hex.
fn hex_arg(sys: &Record, name: &str) -> i64 {
    sys.get(name)
        .and_then(|v| u64::from_str_radix(v, 16).ok())
        // Descriptors are ints: the register holds a sign-extended value.
        .map_or(-1, |v| v as i64)
}

fn other_event(ev: &AuditEvent, num: u64) -> Event {
    let Some(first) = ev.records.first() else {
        return Event {
            num,
            ts: ev.ts_nanos(),
            source: Source::Audit,
            ty: Cow::Borrowed("unknown"),
            ..Event::default()
        };
    };
    let pid = parse_i64(first.get("pid")).unwrap_or(0);
    let mut out = Event {
        num,
        ts: ev.ts_nanos(),
        source: Source::Audit,
        ty: Cow::Owned(first.record_type()),
        pid,
        tid: pid,
        ..Event::default()
    };
    for (k, v) in first.fields() {
        let value = match v.parse::<i64>() {
            Ok(n) if !v.starts_with('0') || v == "0" => Value::Int(n),
            _ => Value::Str(v.to_owned()),
        };
        out.args.push(Cow::Owned(k.to_owned()), value);
    }
    if let Some(k) = first.keys.first() {
        out.args.push("key", Value::Str(k.clone()));
    }
    let info = ProcInfo {
        exe: first.get("exe").map(str::to_owned),
        name: first.get("comm").map(str::to_owned),
        uid: parse_u32(first.get("uid")),
        loginuid: loginuid(first),
        ..ProcInfo::default()
    };
    if info != ProcInfo::default() {
        out.proc = Some(Box::new(info));
    }
    out
}

/// `O_*` bits above the access mode, as x86, riscv and s390 number them.
const OPEN_FLAGS: &[(u64, &str)] = &[
    (0o100, "O_CREAT"),
    (0o200, "O_EXCL"),
    (0o400, "O_NOCTTY"),
    (0o1000, "O_TRUNC"),
    (0o2000, "O_APPEND"),
    (0o4000, "O_NONBLOCK"),
    (0o10000, "O_DSYNC"),
    (0o20000, "O_ASYNC"),
    (0o40000, "O_DIRECT"),
    (0o100000, "O_LARGEFILE"),
    (0o200000, "O_DIRECTORY"),
    (0o400000, "O_NOFOLLOW"),
    (0o1000000, "O_NOATIME"),
    (0o2000000, "O_CLOEXEC"),
    (0o4000000, "O_SYNC"),
    (0o10000000, "O_PATH"),
    (0o20000000, "O_TMPFILE"),
];

/// The `flags` argument of open/openat/creat, named as ausearch does, for architectures
/// with the generic `O_*` numbering (arm, arm64, ppc and mips number some bits otherwise
/// and get no flags argument rather than a wrong one).
fn open_flags(sys: &Record, name: &str) -> Option<Value> {
    if !matches!(
        sys.get("arch")?,
        "x86_64" | "i386" | "riscv64" | "s390x" | "s390"
    ) {
        return None;
    }
    let value = match name {
        "open" => u64::from_str_radix(sys.get("a1")?, 16).ok()?,
        "openat" => u64::from_str_radix(sys.get("a2")?, 16).ok()?,
        "creat" => 0o1101,
        _ => return None,
    };
    let mut text = String::from(match value & 3 {
        0 => "O_RDONLY",
        1 => "O_WRONLY",
        2 => "O_RDWR",
        _ => "O_ACCMODE",
    });
    for &(bit, n) in OPEN_FLAGS {
        if value & bit != 0 {
            text.push('|');
            text.push_str(n);
        }
    }
    Some(Value::Flags { value, text })
}
