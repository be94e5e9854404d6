//! The kernel audit interface over `NETLINK_AUDIT`: status (`AUDIT_GET`/`AUDIT_SET`),
//! syscall rules (`AUDIT_ADD_RULE`/`AUDIT_DEL_RULE`), and the record stream.
//!
//! Messages are built and parsed as bytes (native endian, as netlink is); the only system
//! calls are in [`crate::sys`].

use std::io;
use std::os::fd::OwnedFd;
use std::time::Duration;

use ferret_audit::Arch;
use serde::{Deserialize, Serialize};

use crate::sys;

/// `NETLINK_AUDIT`.
pub const NETLINK_AUDIT: i32 = 9;
/// Multicast group of audit records for readers that are not the audit daemon
/// (`AUDIT_NLGRP_READLOG`, needs `CAP_AUDIT_READ`).
pub const AUDIT_NLGRP_READLOG: u32 = 1;

const NLMSG_HDRLEN: usize = 16;
const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
const NLM_F_REQUEST: u16 = 1;
const NLM_F_ACK: u16 = 4;

const AUDIT_GET: u16 = 1000;
const AUDIT_SET: u16 = 1001;
const AUDIT_ADD_RULE: u16 = 1011;
const AUDIT_DEL_RULE: u16 = 1012;

const AUDIT_STATUS_ENABLED: u32 = 0x01;
const AUDIT_STATUS_PID: u32 = 0x04;
const AUDIT_STATUS_BACKLOG_LIMIT: u32 = 0x10;
const AUDIT_STATUS_BACKLOG_WAIT_TIME: u32 = 0x20;

const AUDIT_FILTER_EXIT: u32 = 0x04;
const AUDIT_ALWAYS: u32 = 2;
const AUDIT_ARCH: u32 = 11;
const AUDIT_ARG0: u32 = 200;
const AUDIT_FILTERKEY: u32 = 210;
const AUDIT_EQUAL: u32 = 0x4000_0000;
const AUDIT_BITMASK_SIZE: usize = 64;
const AUDIT_MAX_FIELDS: usize = 64;

/// The kernel's audit status (`struct audit_status`), the fields ferret reads or changes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditStatus {
    /// 0 off, 1 on, 2 locked.
    pub enabled: u32,
    /// Action on failure (0 silent, 1 printk, 2 panic).
    pub failure: u32,
    /// Pid of the audit daemon (0: none).
    pub pid: u32,
    /// Message rate limit.
    pub rate_limit: u32,
    /// Most records queued before the kernel drops (or waits).
    pub backlog_limit: u32,
    /// Records lost since boot.
    pub lost: u32,
    /// Records queued now.
    pub backlog: u32,
    /// How long (jiffies) a task waits for room in a full backlog before its record is
    /// dropped; 0 never waits.
    pub backlog_wait_time: u32,
}

impl AuditStatus {
    fn parse(b: &[u8]) -> Option<AuditStatus> {
        let w = |i: usize| -> Option<u32> {
            let s = b.get(i * 4..i * 4 + 4)?;
            Some(u32::from_ne_bytes(s.try_into().ok()?))
        };
        Some(AuditStatus {
            enabled: w(1)?,
            failure: w(2)?,
            pid: w(3)?,
            rate_limit: w(4)?,
            backlog_limit: w(5)?,
            lost: w(6)?,
            backlog: w(7)?,
            // Older kernels stop after the version word.
            backlog_wait_time: w(9).unwrap_or(0),
        })
    }

    fn set_bytes(&self, mask: u32) -> Vec<u8> {
        let words = [
            mask,
            self.enabled,
            self.failure,
            self.pid,
            self.rate_limit,
            self.backlog_limit,
            0,
            0,
            0,
            self.backlog_wait_time,
        ];
        words.iter().flat_map(|w| w.to_ne_bytes()).collect()
    }
}

/// One syscall rule ferret adds: `-a always,exit -F arch=ARCH -S ... [-F a0=N] -k KEY`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuleSpec {
    /// `AUDIT_ARCH_*` value.
    pub arch: u32,
    /// Syscall numbers for that architecture.
    pub syscalls: Vec<u32>,
    /// Required first argument, if any.
    pub a0: Option<u32>,
    /// Rule key (`ferret-monitor/PID`), which tells ferret's rules from anyone else's.
    pub key: String,
}

impl RuleSpec {
    /// `struct audit_rule_data` for this rule.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut mask = [0u32; AUDIT_BITMASK_SIZE];
        for &n in &self.syscalls {
            if let Some(w) = mask.get_mut((n / 32) as usize) {
                *w |= 1 << (n % 32);
            }
        }
        let mut fields: Vec<(u32, u32)> = vec![(AUDIT_ARCH, self.arch)];
        if let Some(a0) = self.a0 {
            fields.push((AUDIT_ARG0, a0));
        }
        let key = self.key.as_bytes();
        fields.push((AUDIT_FILTERKEY, key.len() as u32));
        let mut out = Vec::with_capacity(1040 + key.len());
        let mut put = |v: u32| out.extend_from_slice(&v.to_ne_bytes());
        put(AUDIT_FILTER_EXIT);
        put(AUDIT_ALWAYS);
        put(fields.len() as u32);
        for w in mask {
            put(w);
        }
        for i in 0..AUDIT_MAX_FIELDS {
            put(fields.get(i).map_or(0, |f| f.0));
        }
        for i in 0..AUDIT_MAX_FIELDS {
            put(fields.get(i).map_or(0, |f| f.1));
        }
        for i in 0..AUDIT_MAX_FIELDS {
            put(if i < fields.len() { AUDIT_EQUAL } else { 0 });
        }
        put(key.len() as u32);
        out.extend_from_slice(key);
        out
    }
}

/// `AUDIT_ARCH_*` of an architecture.
fn arch_value(a: Arch) -> Option<u32> {
    Some(match a {
        Arch::X86_64 => 0xc000_003e,
        Arch::I386 => 0x4000_0003,
        Arch::Aarch64 => 0xc000_00b7,
        Arch::Arm => 0x4000_0028,
        Arch::Riscv64 => 0xc000_00f3,
        Arch::Ppc64le => 0xc000_0015,
        Arch::S390x => 0x8000_0016,
        _ => return None,
    })
}

/// The host's native and compat (32-bit) architectures.
pub fn host_arches() -> Vec<Arch> {
    if cfg!(target_arch = "x86_64") {
        vec![Arch::X86_64, Arch::I386]
    } else if cfg!(target_arch = "aarch64") {
        vec![Arch::Aarch64, Arch::Arm]
    } else if cfg!(target_arch = "riscv64") {
        vec![Arch::Riscv64]
    } else if cfg!(target_arch = "powerpc64") {
        vec![Arch::Ppc64le]
    } else if cfg!(target_arch = "s390x") {
        vec![Arch::S390x]
    } else {
        Vec::new()
    }
}

fn syscall_number(arch: Arch, name: &str) -> Option<u32> {
    (0..1024).find(|&n| arch.syscall_name(n) == Some(name))
}

/// `PR_SET_NAME`.
pub const PR_SET_NAME: u32 = 15;
/// `PR_SET_MM`.
pub const PR_SET_MM: u32 = 35;

/// The rules the monitor adds, per host architecture: process execution, the socket calls
/// osquery audits (connect, bind, accept, accept4; `socketcall` for 32-bit), inet and
/// packet `socket` creation (so that socket types resolve), and `prctl` renames.
pub fn monitor_rules(key: &str) -> Vec<RuleSpec> {
    let mut out = Vec::new();
    for arch in host_arches() {
        let Some(av) = arch_value(arch) else { continue };
        let nums = |names: &[&str]| -> Vec<u32> {
            names
                .iter()
                .filter_map(|n| syscall_number(arch, n))
                .collect()
        };
        let mut push = |syscalls: Vec<u32>, a0: Option<u32>| {
            if !syscalls.is_empty() {
                out.push(RuleSpec {
                    arch: av,
                    syscalls,
                    a0,
                    key: key.to_owned(),
                });
            }
        };
        push(nums(&["execve", "execveat"]), None);
        push(nums(&["connect", "bind", "accept", "accept4"]), None);
        // 32-bit x86 reaches the socket calls through socketcall(call, args): SYS_BIND 2,
        // SYS_CONNECT 3, SYS_ACCEPT 5, SYS_ACCEPT4 18.
        for call in [2, 3, 5, 18] {
            push(nums(&["socketcall"]), Some(call));
        }
        push(nums(&["prctl"]), Some(PR_SET_NAME));
        push(nums(&["prctl"]), Some(PR_SET_MM));
        // AF_INET, AF_INET6, AF_PACKET.
        for family in [2, 10, 17] {
            push(nums(&["socket"]), Some(family));
        }
    }
    out
}

/// A netlink audit socket used for requests (status, rules); the record reader uses one too.
#[derive(Debug)]
pub struct AuditSocket {
    fd: OwnedFd,
    seq: u32,
    buf: Vec<u8>,
}

fn nlmsg(ty: u16, flags: u16, seq: u32, payload: &[u8]) -> Vec<u8> {
    let len = NLMSG_HDRLEN + payload.len();
    let mut m = Vec::with_capacity(len.next_multiple_of(4));
    m.extend_from_slice(&(len as u32).to_ne_bytes());
    m.extend_from_slice(&ty.to_ne_bytes());
    m.extend_from_slice(&flags.to_ne_bytes());
    m.extend_from_slice(&seq.to_ne_bytes());
    m.extend_from_slice(&0u32.to_ne_bytes());
    m.extend_from_slice(payload);
    m.resize(len.next_multiple_of(4), 0);
    m
}

/// Netlink messages in a datagram: `(type, seq, payload)`.
pub fn messages(buf: &[u8]) -> impl Iterator<Item = (u16, u32, &[u8])> {
    let mut off = 0usize;
    std::iter::from_fn(move || {
        let hdr = buf.get(off..off + NLMSG_HDRLEN)?;
        let len = u32::from_ne_bytes(hdr[0..4].try_into().ok()?) as usize;
        let ty = u16::from_ne_bytes(hdr[4..6].try_into().ok()?);
        let seq = u32::from_ne_bytes(hdr[8..12].try_into().ok()?);
        if len < NLMSG_HDRLEN {
            return None;
        }
        if ty >= 1100 {
            // The kernel sends each record in its own datagram, with an nlmsg_len that
            // leaves out the header (a quirk kept for compatibility): the record is the
            // rest of the datagram.
            let payload = buf.get(off + NLMSG_HDRLEN..)?;
            off = buf.len();
            return Some((ty, seq, payload));
        }
        let end = (off + len).min(buf.len());
        let payload = buf.get(off + NLMSG_HDRLEN..end)?;
        off += len.next_multiple_of(4);
        Some((ty, seq, payload))
    })
}

impl AuditSocket {
    /// A unicast audit socket (requests, or the daemon's record stream once registered).
    pub fn open() -> io::Result<AuditSocket> {
        Self::with_groups(0)
    }

    /// A socket joined to the read-only multicast group (records while another daemon
    /// owns audit).
    pub fn open_multicast() -> io::Result<AuditSocket> {
        Self::with_groups(1 << (AUDIT_NLGRP_READLOG - 1))
    }

    fn with_groups(groups: u32) -> io::Result<AuditSocket> {
        let fd = sys::netlink_socket(NETLINK_AUDIT, groups)?;
        sys::set_recv_timeout(&fd, Duration::from_millis(200))?;
        Ok(AuditSocket {
            fd,
            seq: 0,
            buf: vec![0; 1 << 16],
        })
    }

    /// The descriptor (for the record reader).
    pub fn fd(&self) -> &OwnedFd {
        &self.fd
    }

    /// Sends a request expecting an acknowledgement; the kernel's error becomes the
    /// `io::Error`. Records arriving meanwhile (on the daemon socket) are skipped.
    fn request(&mut self, ty: u16, payload: &[u8]) -> io::Result<()> {
        self.seq = self.seq.wrapping_add(1);
        let seq = self.seq;
        sys::send(
            &self.fd,
            &nlmsg(ty, NLM_F_REQUEST | NLM_F_ACK, seq, payload),
        )?;
        for _ in 0..50 {
            let n = match sys::recv(&self.fd, &mut self.buf) {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                Err(e) if e.raw_os_error() == Some(libc::ENOBUFS) => continue,
                Err(e) => return Err(e),
            };
            let data = self.buf.get(..n).unwrap_or(&[]);
            for (t, s, p) in messages(data) {
                if t == NLMSG_ERROR && s == seq {
                    let code = p
                        .get(0..4)
                        .and_then(|b| b.try_into().ok())
                        .map_or(0, i32::from_ne_bytes);
                    return if code == 0 {
                        Ok(())
                    } else {
                        Err(io::Error::from_raw_os_error(-code))
                    };
                }
            }
        }
        Err(io::Error::new(
            io::ErrorKind::TimedOut,
            "no acknowledgement from the kernel audit subsystem",
        ))
    }

    /// `AUDIT_GET`.
    pub fn status(&mut self) -> io::Result<AuditStatus> {
        self.seq = self.seq.wrapping_add(1);
        let seq = self.seq;
        sys::send(&self.fd, &nlmsg(AUDIT_GET, NLM_F_REQUEST, seq, &[]))?;
        for _ in 0..50 {
            let n = match sys::recv(&self.fd, &mut self.buf) {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                Err(e) if e.raw_os_error() == Some(libc::ENOBUFS) => continue,
                Err(e) => return Err(e),
            };
            let data = self.buf.get(..n).unwrap_or(&[]);
            for (t, s, p) in messages(data) {
                if t == AUDIT_GET && s == seq {
                    return AuditStatus::parse(p).ok_or_else(|| {
                        io::Error::new(io::ErrorKind::InvalidData, "short audit status reply")
                    });
                }
                if t == NLMSG_ERROR && s == seq {
                    let code = p
                        .get(0..4)
                        .and_then(|b| b.try_into().ok())
                        .map_or(0, i32::from_ne_bytes);
                    if code != 0 {
                        return Err(io::Error::from_raw_os_error(-code));
                    }
                }
            }
        }
        Err(io::Error::new(
            io::ErrorKind::TimedOut,
            "no audit status reply from the kernel",
        ))
    }

    /// Sets the enabled flag.
    pub fn set_enabled(&mut self, enabled: u32) -> io::Result<()> {
        let st = AuditStatus {
            enabled,
            ..AuditStatus::default()
        };
        self.request(AUDIT_SET, &st.set_bytes(AUDIT_STATUS_ENABLED))
    }

    /// Sets the backlog limit and wait time.
    pub fn set_backlog(&mut self, limit: u32, wait_time: u32) -> io::Result<()> {
        let st = AuditStatus {
            backlog_limit: limit,
            backlog_wait_time: wait_time,
            ..AuditStatus::default()
        };
        self.request(
            AUDIT_SET,
            &st.set_bytes(AUDIT_STATUS_BACKLOG_LIMIT | AUDIT_STATUS_BACKLOG_WAIT_TIME),
        )
    }

    /// Registers this socket's process as the audit daemon (`pid` = ours), or unregisters
    /// (`pid` = 0). The kernel sends records to the socket that registered.
    pub fn set_pid(&mut self, pid: u32) -> io::Result<()> {
        let st = AuditStatus {
            pid,
            ..AuditStatus::default()
        };
        self.request(AUDIT_SET, &st.set_bytes(AUDIT_STATUS_PID))
    }

    /// Adds a rule.
    pub fn add_rule(&mut self, r: &RuleSpec) -> io::Result<()> {
        self.request(AUDIT_ADD_RULE, &r.to_bytes())
    }

    /// Deletes a rule (must be byte-identical to the one added).
    pub fn del_rule(&mut self, r: &RuleSpec) -> io::Result<()> {
        self.request(AUDIT_DEL_RULE, &r.to_bytes())
    }

    /// Receives one datagram of records into the socket's buffer; `Ok(None)` on timeout.
    pub fn recv_records(&mut self) -> io::Result<Option<&[u8]>> {
        match sys::recv(&self.fd, &mut self.buf) {
            Ok(n) => Ok(self.buf.get(..n)),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(None),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Enlarges the receive buffer.
    pub fn set_rcvbuf(&self, bytes: usize) -> io::Result<()> {
        sys::set_rcvbuf(&self.fd, bytes)
    }
}

/// Whether a netlink message type carries an audit record (not a control reply).
pub fn is_record(ty: u16) -> bool {
    ty >= 1100 && ty != NLMSG_DONE
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rule_layout() {
        let r = RuleSpec {
            arch: 0xc000_003e,
            syscalls: vec![59, 322],
            a0: Some(15),
            key: "k".into(),
        };
        let b = r.to_bytes();
        assert_eq!(b.len(), 3 * 4 + 64 * 4 * 4 + 4 + 1);
        let w = |i: usize| u32::from_ne_bytes(b[i * 4..i * 4 + 4].try_into().unwrap());
        assert_eq!(w(0), AUDIT_FILTER_EXIT);
        assert_eq!(w(2), 3);
        // syscall 59 in word 1 bit 27; 322 in word 10 bit 2.
        assert_eq!(w(3 + 1), 1 << 27);
        assert_eq!(w(3 + 10), 1 << 2);
        assert_eq!(w(3 + 64), AUDIT_ARCH);
        assert_eq!(w(3 + 64 + 1), AUDIT_ARG0);
        assert_eq!(w(3 + 64 + 2), AUDIT_FILTERKEY);
        assert_eq!(w(3 + 128 + 2), 1);
        assert_eq!(w(3 + 192), AUDIT_EQUAL);
        assert_eq!(w(3 + 256), 1);
        assert_eq!(*b.last().unwrap(), b'k');
    }

    #[test]
    fn rules_cover_both_abis() {
        let rules = monitor_rules("ferret-monitor/1");
        if cfg!(target_arch = "x86_64") {
            assert!(
                rules
                    .iter()
                    .any(|r| r.arch == 0xc000_003e && r.syscalls.contains(&59))
            );
            assert!(
                rules
                    .iter()
                    .any(|r| r.arch == 0x4000_0003 && r.syscalls.contains(&11))
            );
            assert!(rules.iter().any(|r| r.arch == 0xc000_003e
                && r.syscalls.contains(&42)
                && r.syscalls.contains(&49)
                && r.syscalls.contains(&288)));
        }
    }

    #[test]
    fn parses_messages() {
        let mut d = nlmsg(2, 0, 7, &0i32.to_ne_bytes());
        d.extend(nlmsg(1000, 0, 8, &[1, 2, 3, 4]));
        let v: Vec<_> = messages(&d).collect();
        assert_eq!(v.len(), 2);
        assert_eq!(v[1].0, 1000);
        assert_eq!(v[1].2, [1, 2, 3, 4]);
        assert!(messages(&d[..10]).next().is_none());
        // A record whose nlmsg_len leaves out the header, as the kernel writes it.
        let text = b"audit(1.2:3): key=\"ferret-monitor/1\"";
        let mut r = nlmsg(1300, 0, 0, text);
        r[0..4].copy_from_slice(&(text.len() as u32).to_ne_bytes());
        let v: Vec<_> = messages(&r[..16 + text.len()]).collect();
        assert_eq!(v, vec![(1300, 0, &text[..])]);
    }
}
