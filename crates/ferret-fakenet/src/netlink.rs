//! The few rtnetlink requests the fake net needs (create a veth pair, move a link to
//! another namespace, set links up, add addresses and routes, delete a link), built
//! by hand: each is a handful of attributes, and a full netlink library would cost
//! more code and build time than it saves. Every request asks for an ACK, so errors
//! come back as the kernel's errno.

use std::fs::File;
use std::io::{self, Read, Write};
use std::net::IpAddr;
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd};

use crate::sys;

const NLMSG_ERROR: u16 = 2;
const RTM_NEWLINK: u16 = 16;
const RTM_DELLINK: u16 = 17;
const RTM_NEWADDR: u16 = 20;
const RTM_NEWROUTE: u16 = 24;
const NLM_F_REQUEST: u16 = 1;
const NLM_F_ACK: u16 = 4;
const NLM_F_EXCL: u16 = 0x200;
const NLM_F_CREATE: u16 = 0x400;

const IFLA_IFNAME: u16 = 3;
const IFLA_LINKINFO: u16 = 18;
const IFLA_NET_NS_FD: u16 = 28;
const IFLA_INFO_KIND: u16 = 1;
const IFLA_INFO_DATA: u16 = 2;
const VETH_INFO_PEER: u16 = 1;
const IFA_ADDRESS: u16 = 1;
const IFA_LOCAL: u16 = 2;
const IFA_FLAGS: u16 = 8;
const IFA_F_NODAD: u32 = 0x02;
const RTA_DST: u16 = 1;
const RTA_OIF: u16 = 4;
const RTA_GATEWAY: u16 = 5;
const NLA_F_NESTED: u16 = 0x8000;
const IFF_UP: u32 = 1;

/// A NETLINK_ROUTE socket bound, by creation, to one network namespace.
#[derive(Debug)]
pub struct Netlink {
    sock: File,
    seq: u32,
}

/// One request being built: header, fixed part and attributes.
struct Msg {
    buf: Vec<u8>,
    nests: Vec<usize>,
}

impl Msg {
    fn new(ty: u16, flags: u16) -> Msg {
        let mut buf = Vec::with_capacity(256);
        buf.extend_from_slice(&0u32.to_ne_bytes());
        buf.extend_from_slice(&ty.to_ne_bytes());
        buf.extend_from_slice(&(flags | NLM_F_REQUEST | NLM_F_ACK).to_ne_bytes());
        buf.extend_from_slice(&[0; 8]);
        Msg {
            buf,
            nests: Vec::new(),
        }
    }

    fn align(&mut self) {
        while !self.buf.len().is_multiple_of(4) {
            self.buf.push(0);
        }
    }

    fn ifinfo(&mut self, family: u8, index: u32, flags: u32, change: u32) {
        self.buf.extend_from_slice(&[family, 0, 0, 0]);
        self.buf.extend_from_slice(&index.to_ne_bytes());
        self.buf.extend_from_slice(&flags.to_ne_bytes());
        self.buf.extend_from_slice(&change.to_ne_bytes());
    }

    fn attr(&mut self, ty: u16, data: &[u8]) {
        self.align();
        self.buf
            .extend_from_slice(&((4 + data.len()) as u16).to_ne_bytes());
        self.buf.extend_from_slice(&ty.to_ne_bytes());
        self.buf.extend_from_slice(data);
        self.align();
    }

    fn attr_str(&mut self, ty: u16, s: &str) {
        let mut v = Vec::with_capacity(s.len() + 1);
        v.extend_from_slice(s.as_bytes());
        v.push(0);
        self.attr(ty, &v);
    }

    fn begin(&mut self, ty: u16) {
        self.align();
        self.nests.push(self.buf.len());
        self.buf.extend_from_slice(&0u16.to_ne_bytes());
        self.buf
            .extend_from_slice(&(ty | NLA_F_NESTED).to_ne_bytes());
    }

    fn end(&mut self) {
        self.align();
        if let Some(at) = self.nests.pop() {
            let len = (self.buf.len() - at) as u16;
            self.buf[at..at + 2].copy_from_slice(&len.to_ne_bytes());
        }
    }

    fn finish(mut self, seq: u32) -> Vec<u8> {
        self.align();
        let len = self.buf.len() as u32;
        self.buf[0..4].copy_from_slice(&len.to_ne_bytes());
        self.buf[8..12].copy_from_slice(&seq.to_ne_bytes());
        self.buf
    }
}

fn ip_bytes(a: IpAddr) -> (u8, Vec<u8>) {
    match a {
        IpAddr::V4(v) => (libc::AF_INET as u8, v.octets().to_vec()),
        IpAddr::V6(v) => (libc::AF_INET6 as u8, v.octets().to_vec()),
    }
}

impl Netlink {
    /// A socket in the calling thread's network namespace.
    pub fn open() -> io::Result<Netlink> {
        let fd: OwnedFd = sys::netlink_route_socket()?;
        Ok(Netlink {
            sock: File::from(fd),
            seq: 0,
        })
    }

    /// Sends `msg` and waits for its ACK; errors name `what`.
    fn call(&mut self, msg: Msg, what: &str) -> io::Result<()> {
        match self.call_raw(msg)? {
            0 => Ok(()),
            errno => {
                let e = io::Error::from_raw_os_error(errno);
                Err(io::Error::new(e.kind(), format!("{what}: {e}")))
            }
        }
    }

    /// Sends `msg` and returns the errno of its ACK (0: success).
    fn call_raw(&mut self, msg: Msg) -> io::Result<i32> {
        self.seq = self.seq.wrapping_add(1);
        let seq = self.seq;
        let bytes = msg.finish(seq);
        self.sock.write_all(&bytes)?;
        let mut buf = vec![0u8; 8192];
        loop {
            let n = self.sock.read(&mut buf)?;
            let mut at = 0;
            while at + 16 <= n {
                let len =
                    u32::from_ne_bytes([buf[at], buf[at + 1], buf[at + 2], buf[at + 3]]) as usize;
                let ty = u16::from_ne_bytes([buf[at + 4], buf[at + 5]]);
                let mseq =
                    u32::from_ne_bytes([buf[at + 8], buf[at + 9], buf[at + 10], buf[at + 11]]);
                if len < 16 || at + len > n {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        "malformed netlink reply",
                    ));
                }
                if ty == NLMSG_ERROR && mseq == seq && len >= 20 {
                    let err = i32::from_ne_bytes([
                        buf[at + 16],
                        buf[at + 17],
                        buf[at + 18],
                        buf[at + 19],
                    ]);
                    return Ok(-err);
                }
                at += (len + 3) & !3;
            }
        }
    }

    /// Creates veth `name` here with its peer `peer` placed in namespace `peer_ns`.
    pub fn add_veth(&mut self, name: &str, peer: &str, peer_ns: BorrowedFd<'_>) -> io::Result<()> {
        let mut m = Msg::new(RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL);
        m.ifinfo(0, 0, 0, 0);
        m.attr_str(IFLA_IFNAME, name);
        m.begin(IFLA_LINKINFO);
        m.attr_str(IFLA_INFO_KIND, "veth");
        m.begin(IFLA_INFO_DATA);
        m.begin(VETH_INFO_PEER);
        m.ifinfo(0, 0, 0, 0);
        m.attr_str(IFLA_IFNAME, peer);
        m.attr(IFLA_NET_NS_FD, &(peer_ns.as_raw_fd() as u32).to_ne_bytes());
        m.end();
        m.end();
        m.end();
        self.call(m, &format!("creating veth {name}/{peer}"))
    }

    /// Moves link `index` of this namespace into namespace `ns`.
    pub fn move_link(&mut self, index: u32, ns: BorrowedFd<'_>) -> io::Result<()> {
        let mut m = Msg::new(RTM_NEWLINK, 0);
        m.ifinfo(0, index, 0, 0);
        m.attr(IFLA_NET_NS_FD, &(ns.as_raw_fd() as u32).to_ne_bytes());
        self.call(m, &format!("moving link {index} to another namespace"))
    }

    /// Sets link `index` up.
    pub fn link_up(&mut self, index: u32) -> io::Result<()> {
        let mut m = Msg::new(RTM_NEWLINK, 0);
        m.ifinfo(0, index, IFF_UP, IFF_UP);
        self.call(m, &format!("setting link {index} up"))
    }

    /// Deletes link `index` (a veth takes its peer with it); returns false when
    /// there is no such link.
    pub fn del_link(&mut self, index: u32) -> io::Result<bool> {
        let mut m = Msg::new(RTM_DELLINK, 0);
        m.ifinfo(0, index, 0, 0);
        match self.call_raw(m)? {
            0 => Ok(true),
            libc::ENODEV => Ok(false),
            errno => Err(io::Error::from_raw_os_error(errno)),
        }
    }

    /// Adds `addr/prefix` to link `index` (IPv6 without duplicate address detection,
    /// so it is usable at once).
    pub fn add_addr(&mut self, index: u32, addr: IpAddr, prefix: u8) -> io::Result<()> {
        let (family, bytes) = ip_bytes(addr);
        let mut m = Msg::new(RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL);
        m.buf.extend_from_slice(&[family, prefix, 0, 0]);
        m.buf.extend_from_slice(&index.to_ne_bytes());
        m.attr(IFA_LOCAL, &bytes);
        m.attr(IFA_ADDRESS, &bytes);
        if addr.is_ipv6() {
            m.attr(IFA_FLAGS, &IFA_F_NODAD.to_ne_bytes());
        }
        self.call(m, &format!("adding address {addr}/{prefix}"))
    }

    /// Adds a route to `dst/prefix` out of link `index` (main table), via `gateway`
    /// or, without one, on-link.
    pub fn add_route(
        &mut self,
        index: u32,
        dst: IpAddr,
        prefix: u8,
        gateway: Option<IpAddr>,
    ) -> io::Result<()> {
        let (family, dst_bytes) = ip_bytes(dst);
        let scope = if gateway.is_some() { 0 } else { 253 };
        let mut m = Msg::new(RTM_NEWROUTE, NLM_F_CREATE | NLM_F_EXCL);
        // family, dst_len, src_len, tos, table main, proto static, scope, unicast
        m.buf
            .extend_from_slice(&[family, prefix, 0, 0, libc::RT_TABLE_MAIN, 4, scope, 1]);
        m.buf.extend_from_slice(&0u32.to_ne_bytes());
        if prefix > 0 {
            m.attr(RTA_DST, &dst_bytes);
        }
        if let Some(gw) = gateway {
            m.attr(RTA_GATEWAY, &ip_bytes(gw).1);
        }
        m.attr(RTA_OIF, &index.to_ne_bytes());
        let via = gateway.map(|g| format!(" via {g}")).unwrap_or_default();
        self.call(m, &format!("adding route {dst}/{prefix}{via}"))
    }

    /// Adds `local 0.0.0.0/0 dev <index>` (or `::/0`) to the local table: every
    /// address of the family is then an address of this namespace.
    pub fn add_local_catch_all(&mut self, index: u32, v6: bool) -> io::Result<()> {
        let family = if v6 { libc::AF_INET6 } else { libc::AF_INET } as u8;
        let mut m = Msg::new(RTM_NEWROUTE, NLM_F_CREATE | NLM_F_EXCL);
        // IPv6 consults the local table before the main one whatever the prefix
        // length (IPv4 merges them, longest prefix first), so an IPv6 catch-all in
        // the local table would also swallow the replies to the sandbox's address:
        // it goes to the main table, below the route to the sandbox.
        let table = if v6 {
            libc::RT_TABLE_MAIN
        } else {
            libc::RT_TABLE_LOCAL
        };
        // proto boot, scope host, type local
        m.buf
            .extend_from_slice(&[family, 0, 0, 0, table, 3, 254, 2]);
        m.buf.extend_from_slice(&0u32.to_ne_bytes());
        let zero = if v6 { vec![0u8; 16] } else { vec![0u8; 4] };
        m.attr(RTA_DST, &zero);
        m.attr(RTA_OIF, &index.to_ne_bytes());
        self.call(
            m,
            &format!(
                "adding the local catch-all route for {}",
                if v6 { "::/0" } else { "0.0.0.0/0" }
            ),
        )
    }
}
