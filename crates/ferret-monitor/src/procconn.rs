//! The process-connector publisher (`NETLINK_CONNECTOR`, `CN_IDX_PROC`, root only): fork,
//! exec, exit and comm-change notifications for every process of the host.
//!
//! * fork of a new process (not a thread) → `clone` from the parent with `ret` = child pid;
//! * exit of a thread-group leader → `procexit` with `args.status` (wait status);
//! * exec → `execve` with exe, argv, cwd, uid and parent read from /proc at once (when
//!   audit does not report execs); what the process no longer had is named in
//!   `args.missing`;
//! * comm change → `prctl` with `option = PR_SET_NAME` and the new `name` (when audit does
//!   not report prctl). The kernel sends it for `prctl(PR_SET_NAME)` and for writes to
//!   `/proc/PID/comm` alike; the event carries `args.via = "comm"` to say so.

use std::borrow::Cow;
use std::io;
use std::os::fd::OwnedFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ferret_event::{Event, Value};

use crate::bus::Publisher;
use crate::procfs;
use crate::sys;

const NETLINK_CONNECTOR: i32 = 11;
const CN_IDX_PROC: u32 = 1;
const CN_VAL_PROC: u32 = 1;
const PROC_CN_MCAST_LISTEN: u32 = 1;
const PROC_CN_MCAST_IGNORE: u32 = 2;

const PROC_EVENT_FORK: u32 = 0x1;
const PROC_EVENT_EXEC: u32 = 0x2;
const PROC_EVENT_COMM: u32 = 0x200;
const PROC_EVENT_EXIT: u32 = 0x8000_0000;

const NLMSG_HDRLEN: usize = 16;
const CN_MSG_LEN: usize = 20;

/// What the connector publishes besides fork and exit.
#[derive(Debug, Clone, Copy)]
pub struct ConnectorOptions {
    /// Publish exec events (read from /proc); off when audit reports execs.
    pub exec: bool,
    /// Publish comm changes as `prctl` renames; off when audit reports prctl.
    pub comm: bool,
}

/// A subscribed process-connector socket.
#[derive(Debug)]
pub struct Connector {
    fd: OwnedFd,
}

fn control(op: u32) -> Vec<u8> {
    let len = NLMSG_HDRLEN + CN_MSG_LEN + 4;
    let mut m = Vec::with_capacity(len);
    m.extend_from_slice(&(len as u32).to_ne_bytes());
    m.extend_from_slice(&3u16.to_ne_bytes()); // NLMSG_DONE, as the connector expects
    m.extend_from_slice(&0u16.to_ne_bytes());
    m.extend_from_slice(&0u32.to_ne_bytes());
    m.extend_from_slice(&std::process::id().to_ne_bytes());
    m.extend_from_slice(&CN_IDX_PROC.to_ne_bytes());
    m.extend_from_slice(&CN_VAL_PROC.to_ne_bytes());
    m.extend_from_slice(&0u32.to_ne_bytes()); // seq
    m.extend_from_slice(&0u32.to_ne_bytes()); // ack
    m.extend_from_slice(&4u16.to_ne_bytes()); // len
    m.extend_from_slice(&0u16.to_ne_bytes()); // flags
    m.extend_from_slice(&op.to_ne_bytes());
    m
}

impl Connector {
    /// Opens the socket and subscribes to process events.
    pub fn open() -> io::Result<Connector> {
        let fd = sys::netlink_socket(NETLINK_CONNECTOR, CN_IDX_PROC)?;
        sys::set_recv_timeout(&fd, Duration::from_millis(200))?;
        let _ = sys::set_rcvbuf(&fd, 16 << 20);
        sys::send(&fd, &control(PROC_CN_MCAST_LISTEN))?;
        Ok(Connector { fd })
    }
}

impl Drop for Connector {
    fn drop(&mut self) {
        // The kernel counts listeners and only builds events while there are some.
        let _ = sys::send(&self.fd, &control(PROC_CN_MCAST_IGNORE));
    }
}

fn i32_at(b: &[u8], off: usize) -> Option<i32> {
    Some(i32::from_ne_bytes(b.get(off..off + 4)?.try_into().ok()?))
}

fn u32_at(b: &[u8], off: usize) -> Option<u32> {
    Some(u32::from_ne_bytes(b.get(off..off + 4)?.try_into().ok()?))
}

fn u64_at(b: &[u8], off: usize) -> Option<u64> {
    Some(u64::from_ne_bytes(b.get(off..off + 8)?.try_into().ok()?))
}

/// A decoded process event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProcEvent {
    /// A new task; `child_pid != child_tgid` for threads.
    Fork {
        /// Parent thread id.
        parent_pid: i32,
        /// Parent process id.
        parent_tgid: i32,
        /// Child thread id.
        child_pid: i32,
        /// Child process id.
        child_tgid: i32,
    },
    /// A successful exec.
    Exec {
        /// Thread id.
        pid: i32,
        /// Process id.
        tgid: i32,
    },
    /// A task changed its name.
    Comm {
        /// Thread id.
        pid: i32,
        /// Process id.
        tgid: i32,
        /// New name.
        comm: String,
    },
    /// A task exited.
    Exit {
        /// Thread id.
        pid: i32,
        /// Process id.
        tgid: i32,
        /// Wait status.
        code: u32,
    },
    /// Another kind (uid, gid, sid, ptrace, coredump) or the subscription ack.
    Other,
}

/// Parses the `proc_event` after `nlmsghdr` and `cn_msg`; returns it and its monotonic
/// timestamp.
pub fn parse(msg: &[u8]) -> Option<(ProcEvent, u64)> {
    let ev = msg.get(NLMSG_HDRLEN + CN_MSG_LEN..)?;
    let what = u32_at(ev, 0)?;
    let ts = u64_at(ev, 8)?;
    let d = 16;
    let e = match what {
        PROC_EVENT_FORK => ProcEvent::Fork {
            parent_pid: i32_at(ev, d)?,
            parent_tgid: i32_at(ev, d + 4)?,
            child_pid: i32_at(ev, d + 8)?,
            child_tgid: i32_at(ev, d + 12)?,
        },
        PROC_EVENT_EXEC => ProcEvent::Exec {
            pid: i32_at(ev, d)?,
            tgid: i32_at(ev, d + 4)?,
        },
        PROC_EVENT_COMM => {
            let raw = ev.get(d + 8..d + 24)?;
            let end = raw.iter().position(|c| *c == 0).unwrap_or(raw.len());
            ProcEvent::Comm {
                pid: i32_at(ev, d)?,
                tgid: i32_at(ev, d + 4)?,
                comm: String::from_utf8_lossy(&raw[..end]).into_owned(),
            }
        }
        PROC_EVENT_EXIT => ProcEvent::Exit {
            pid: i32_at(ev, d)?,
            tgid: i32_at(ev, d + 4)?,
            code: u32_at(ev, d + 8)?,
        },
        _ => ProcEvent::Other,
    };
    Some((e, ts))
}

fn wall_offset() -> i128 {
    let real = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as i128);
    real - i128::from(sys::monotonic_ns())
}

/// Builds the model event for a process event; `None` for threads and other kinds.
pub fn to_event(pe: &ProcEvent, ts: u64, opts: ConnectorOptions) -> Option<Event> {
    match *pe {
        ProcEvent::Fork {
            parent_pid,
            parent_tgid,
            child_pid,
            child_tgid,
        } if child_pid == child_tgid => Some(
            Event::syscall(
                0,
                ts,
                i64::from(parent_tgid),
                i64::from(parent_pid),
                Cow::Borrowed("clone"),
            )
            .ret(i64::from(child_tgid)),
        ),
        ProcEvent::Exit { pid, tgid, code } if pid == tgid => Some(
            Event::syscall(0, ts, i64::from(tgid), i64::from(pid), "procexit")
                .arg("status", Value::Int(i64::from(code))),
        ),
        ProcEvent::Exec { pid, tgid } if opts.exec => {
            let snap = procfs::snapshot(i64::from(tgid));
            let filename = snap.info.exepath.clone().unwrap_or_default();
            let mut ev = Event::syscall(0, ts, i64::from(tgid), i64::from(pid), "execve")
                .arg("filename", Value::Path(filename))
                .arg("argv", Value::Strs(snap.argv));
            if !snap.missing.is_empty() {
                ev.args.push("missing", Value::Str(snap.missing.join(",")));
            }
            ev.ret = Some(0);
            ev.proc = Some(Box::new(snap.info));
            Some(ev)
        }
        ProcEvent::Comm {
            pid,
            tgid,
            ref comm,
        } if opts.comm => Some(
            Event::syscall(0, ts, i64::from(tgid), i64::from(pid), "prctl")
                .arg(
                    "option",
                    Value::Flags {
                        value: 15,
                        text: "PR_SET_NAME".into(),
                    },
                )
                .arg("name", Value::Str(comm.clone()))
                .arg("via", Value::Str("comm".into()))
                .ret(0),
        ),
        _ => None,
    }
}

/// Reads process events until `stop`.
pub fn run(conn: Connector, publ: &Publisher, stop: &AtomicBool, opts: ConnectorOptions) {
    let mut buf = vec![0u8; 1 << 16];
    let me = i64::from(std::process::id());
    let mut offset = wall_offset();
    let mut n_since = 0u32;
    while !stop.load(Ordering::Relaxed) {
        let n = match sys::recv(&conn.fd, &mut buf) {
            Ok(n) => n,
            Err(e) if e.raw_os_error() == Some(libc::ENOBUFS) => {
                // The socket buffer overflowed; the connector numbers no messages, so the
                // exact loss is unknown: count the overrun.
                publ.lost(1);
                continue;
            }
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
                ) =>
            {
                continue;
            }
            Err(_) => {
                std::thread::sleep(Duration::from_millis(50));
                continue;
            }
        };
        n_since += 1;
        if n_since >= 4096 {
            n_since = 0;
            offset = wall_offset();
        }
        let Some((pe, mono)) = buf.get(..n).and_then(parse) else {
            publ.malformed();
            continue;
        };
        let ts = u64::try_from(i128::from(mono) + offset).unwrap_or(0);
        match to_event(&pe, ts, opts) {
            Some(ev) if ev.pid != me => {
                if !publ.publish(ev) {
                    return;
                }
            }
            _ => publ.filtered(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(what: u32, words: &[u32]) -> Vec<u8> {
        let mut m = vec![0u8; NLMSG_HDRLEN + CN_MSG_LEN];
        m.extend_from_slice(&what.to_ne_bytes());
        m.extend_from_slice(&0u32.to_ne_bytes());
        m.extend_from_slice(&123u64.to_ne_bytes());
        for w in words {
            m.extend_from_slice(&w.to_ne_bytes());
        }
        m
    }

    #[test]
    fn fork_of_process_and_thread() {
        let opts = ConnectorOptions {
            exec: false,
            comm: true,
        };
        let (pe, ts) = parse(&msg(PROC_EVENT_FORK, &[10, 10, 11, 11])).unwrap();
        assert_eq!(ts, 123);
        let ev = to_event(&pe, 5, opts).unwrap();
        assert_eq!((ev.ty.as_ref(), ev.pid, ev.ret), ("clone", 10, Some(11)));
        let (pe, _) = parse(&msg(PROC_EVENT_FORK, &[10, 10, 12, 10])).unwrap();
        assert!(to_event(&pe, 5, opts).is_none());
    }

    #[test]
    fn comm_and_exit() {
        let opts = ConnectorOptions {
            exec: false,
            comm: true,
        };
        let mut words = vec![20, 20];
        let name = *b"kworker/0:9\0\0\0\0\0";
        for c in name.chunks(4) {
            words.push(u32::from_ne_bytes(c.try_into().unwrap()));
        }
        let (pe, _) = parse(&msg(PROC_EVENT_COMM, &words)).unwrap();
        let ev = to_event(&pe, 5, opts).unwrap();
        assert_eq!(ev.ty, "prctl");
        assert_eq!(
            ev.args.get("name").and_then(Value::as_str),
            Some("kworker/0:9")
        );
        let (pe, _) = parse(&msg(PROC_EVENT_EXIT, &[20, 20, 256, 17, 1, 1])).unwrap();
        let ev = to_event(&pe, 5, opts).unwrap();
        assert_eq!(ev.ty, "procexit");
        assert!(parse(&msg(PROC_EVENT_EXIT, &[20])).is_none());
    }
}
