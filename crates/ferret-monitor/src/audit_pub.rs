//! The audit publisher: reads records from the audit netlink socket, groups them into
//! events with `ferret-audit`, and publishes process (`execve`, `execveat`), network
//! (`connect`, `bind`, `accept`, `accept4`, `socket`) and rename (`prctl`) events.
//!
//! These records describe system calls exactly as a tracer sees them, so they are
//! published with `source = syscall`, the sandbox's argument names, and a process snapshot:
//! the sandbox's rules apply unchanged.

use std::borrow::Cow;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use ferret_audit::{AuditEvent, GroupConfig, Grouper, Record, model};
use ferret_event::{Event, Source, Value};

use crate::audit::{AuditSocket, PR_SET_MM, PR_SET_NAME, is_record, messages};
use crate::bus::Publisher;

fn hex_arg(rec: &Record, name: &str) -> Option<u64> {
    rec.get(name).and_then(|v| u64::from_str_radix(v, 16).ok())
}

fn socket_type_text(v: u64) -> String {
    let mut s = String::from(match v & 0xf {
        1 => "SOCK_STREAM",
        2 => "SOCK_DGRAM",
        3 => "SOCK_RAW",
        4 => "SOCK_RDM",
        5 => "SOCK_SEQPACKET",
        10 => "SOCK_PACKET",
        _ => "",
    });
    for (bit, name) in [(0o4000u64, "SOCK_NONBLOCK"), (0o2_000_000, "SOCK_CLOEXEC")] {
        if v & bit != 0 {
            if !s.is_empty() {
                s.push('|');
            }
            s.push_str(name);
        }
    }
    s
}

fn domain_text(v: u64) -> &'static str {
    match v {
        1 => "AF_UNIX",
        2 => "AF_INET",
        10 => "AF_INET6",
        16 => "AF_NETLINK",
        17 => "AF_PACKET",
        _ => "",
    }
}

/// Converts one audit event of the monitor's rules into the event model; `None` for
/// events without a SYSCALL record (configuration changes, daemon messages).
pub fn convert(aev: &AuditEvent) -> Option<Event> {
    let sys = aev.record("SYSCALL")?;
    let mut ev = model::to_event(aev, 0);
    ev.v = ferret_event::FORMAT_VERSION;
    let name: &str = &ev.ty.clone();
    match name {
        "execve" | "execveat" => {
            ev.source = Source::Syscall;
            // `proc.exe` is argv[0] as invoked; the record's exe= is the resolved file.
            if let (Some(info), Some(Value::Strs(argv))) = (ev.proc.as_mut(), ev.args.get("argv"))
                && let Some(a0) = argv.first()
            {
                info.exe = Some(a0.clone());
            }
        }
        "connect" | "bind" | "accept" | "accept4" => ev.source = Source::Syscall,
        "socketcall" => {
            let call = hex_arg(sys, "a0")?;
            let real = match call {
                2 => "bind",
                3 => "connect",
                5 => "accept",
                18 => "accept4",
                _ => return Some(ev),
            };
            ev.source = Source::Syscall;
            ev.ty = Cow::Borrowed(real);
            // The descriptor is in the argument block in user memory, which audit does not
            // log: only the address is known.
            ev.args.0.clear();
            ev.args.push("fd", Value::Fd(-1));
            if let Some(a) = aev.records_of("SOCKADDR").find_map(|r| r.sockaddr.clone()) {
                ev.args.push("addr", Value::Sockaddr(a));
            }
        }
        "socket" => {
            ev.source = Source::Syscall;
            let domain = hex_arg(sys, "a0").unwrap_or(0);
            let ty = hex_arg(sys, "a1").unwrap_or(0);
            let proto = hex_arg(sys, "a2").unwrap_or(0);
            ev.args.0.clear();
            ev.args.push(
                "domain",
                Value::Flags {
                    value: domain,
                    text: domain_text(domain).to_owned(),
                },
            );
            ev.args.push(
                "type",
                Value::Flags {
                    value: ty,
                    text: socket_type_text(ty),
                },
            );
            ev.args.push("proto", Value::Uint(proto));
        }
        "prctl" => {
            ev.source = Source::Syscall;
            let option = hex_arg(sys, "a0").unwrap_or(0);
            let text = match u32::try_from(option) {
                Ok(PR_SET_NAME) => "PR_SET_NAME",
                Ok(PR_SET_MM) => "PR_SET_MM",
                _ => "",
            };
            ev.args.0.clear();
            ev.args.push(
                "option",
                Value::Flags {
                    value: option,
                    text: text.to_owned(),
                },
            );
            // Audit logs the task's comm at syscall exit: after PR_SET_NAME, the new name.
            if option == u64::from(PR_SET_NAME)
                && let Some(comm) = sys.get("comm")
            {
                ev.args.push("name", Value::Str(comm.to_owned()));
            }
        }
        _ => {}
    }
    Some(ev)
}

/// Reads records until `stop`, publishing converted events. `lost_now` returns the
/// kernel's lost counter (polled about once a second); its growth is counted as loss.
pub fn run(
    mut sock: AuditSocket,
    publ: &Publisher,
    stop: &AtomicBool,
    mut lost_now: impl FnMut() -> Option<u32>,
) {
    let me = i64::from(std::process::id());
    let mut grouper = Grouper::new(GroupConfig {
        window: 64,
        max_age_secs: 2,
        max_open: 512,
        max_records: 256,
    });
    let mut line = String::with_capacity(1024);
    let mut lost_base = lost_now();
    let mut last_poll = Instant::now();
    let emit = |grouper: &mut Grouper| {
        while let Some(aev) = grouper.pop() {
            match convert(&aev) {
                Some(ev) if ev.pid != me => {
                    if !publ.publish(ev) {
                        return false;
                    }
                }
                _ => publ.filtered(),
            }
        }
        true
    };
    while !stop.load(Ordering::Relaxed) {
        match sock.recv_records() {
            Ok(Some(data)) => {
                for (ty, _, payload) in messages(data) {
                    if !is_record(ty) {
                        continue;
                    }
                    let text = payload.split(|c| *c == 0).next().unwrap_or(&[]);
                    line.clear();
                    let _ = write!(line, "type={ty} ");
                    line.push_str(&String::from_utf8_lossy(text));
                    match Record::parse(&line) {
                        Ok(r) => grouper.push(r),
                        Err(_) => publ.malformed(),
                    }
                }
                if !emit(&mut grouper) {
                    return;
                }
            }
            Ok(None) => {
                // Idle: every syscall event ends with EOE, so what is still open is
                // complete or broken; emit it.
                grouper.flush();
                if !emit(&mut grouper) {
                    return;
                }
            }
            Err(e) if e.raw_os_error() == Some(libc::ENOBUFS) => {
                // The socket buffer overflowed: records were lost; the kernel's lost
                // counter does not see these, so count the overrun itself.
                publ.lost(1);
            }
            Err(_) => std::thread::sleep(Duration::from_millis(50)),
        }
        if last_poll.elapsed() >= Duration::from_secs(1) {
            last_poll = Instant::now();
            if let Some(now) = lost_now() {
                if let Some(base) = lost_base {
                    publ.lost(u64::from(now.wrapping_sub(base)));
                }
                lost_base = Some(now);
            }
        }
    }
    grouper.flush();
    emit(&mut grouper);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(lines: &[&str]) -> AuditEvent {
        let mut g = Grouper::default();
        for l in lines {
            g.push(Record::parse(l).unwrap());
        }
        g.flush();
        g.pop().unwrap()
    }

    #[test]
    fn prctl_rename_becomes_a_syscall_event() {
        let ev = convert(&event(&[
            "type=1300 audit(1700000000.123:42): arch=c000003e syscall=157 success=yes exit=0 a0=f a1=7ffd a2=0 a3=0 items=0 ppid=1 pid=77 auid=0 uid=0 gid=0 euid=0 suid=0 fsuid=0 egid=0 sgid=0 fsgid=0 tty=pts0 ses=1 comm=\"kworker/0:9\" exe=\"/tmp/h\" key=\"ferret-monitor/1\"",
            "type=1320 audit(1700000000.123:42): ",
        ]))
        .unwrap();
        assert_eq!(ev.source, Source::Syscall);
        assert_eq!(ev.ty, "prctl");
        assert_eq!(ev.ret, Some(0));
        assert_eq!(ev.pid, 77);
        assert_eq!(
            ev.args.get("option").and_then(Value::as_str),
            Some("PR_SET_NAME")
        );
        assert_eq!(
            ev.args.get("name").and_then(Value::as_str),
            Some("kworker/0:9")
        );
    }

    #[test]
    fn socket_event_names_domain_and_type() {
        let ev = convert(&event(&[
            "type=1300 audit(1700000000.123:43): arch=c000003e syscall=41 success=yes exit=3 a0=2 a1=80001 a2=0 a3=0 items=0 ppid=1 pid=78 auid=0 uid=0 gid=0 euid=0 suid=0 fsuid=0 egid=0 sgid=0 fsgid=0 tty=pts0 ses=1 comm=\"nc\" exe=\"/bin/nc\" key=\"k\"",
        ]))
        .unwrap();
        assert_eq!(ev.ty, "socket");
        assert_eq!(ev.ret, Some(3));
        assert_eq!(
            ev.args.get("domain").and_then(Value::as_str),
            Some("AF_INET")
        );
        assert_eq!(
            ev.args.get("type").and_then(Value::as_str),
            Some("SOCK_STREAM|SOCK_CLOEXEC")
        );
    }

    #[test]
    fn config_change_is_not_an_event() {
        let aev = event(&[
            "type=1305 audit(1700000000.123:44): auid=0 ses=1 op=add_rule key=\"k\" list=4 res=1",
        ]);
        assert!(convert(&aev).is_none());
    }
}
