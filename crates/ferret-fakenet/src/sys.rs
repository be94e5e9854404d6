//! Every system call of this crate that `std` does not wrap: namespaces, netlink and
//! AF_PACKET sockets, socket options, `recvmsg`/`sendmsg` with packet info, `poll` and
//! the `bpf` calls of the catch-all listener. The rest of the crate is safe code.

use std::ffi::CString;
use std::io;
use std::mem::{size_of, zeroed};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::time::Duration;

fn cvt(r: libc::c_int) -> io::Result<libc::c_int> {
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

/// Moves the calling thread into a new, empty network namespace.
pub fn unshare_net() -> io::Result<()> {
    // SAFETY: unshare takes a flag word only; it affects the calling thread.
    cvt(unsafe { libc::unshare(libc::CLONE_NEWNET) }).map(drop)
}

/// Moves the calling thread into the network namespace `fd` refers to.
pub fn setns_net(fd: BorrowedFd<'_>) -> io::Result<()> {
    // SAFETY: fd is a valid open descriptor for the borrow's duration.
    cvt(unsafe { libc::setns(fd.as_raw_fd(), libc::CLONE_NEWNET) }).map(drop)
}

/// Creates a socket and takes ownership of its descriptor.
fn socket(domain: libc::c_int, ty: libc::c_int, proto: libc::c_int) -> io::Result<OwnedFd> {
    // SAFETY: socket takes plain integers; on success the returned descriptor is new
    // and owned by nobody else.
    let fd = cvt(unsafe { libc::socket(domain, ty | libc::SOCK_CLOEXEC, proto) })?;
    // SAFETY: fd was just returned by socket() and is not owned elsewhere.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// A NETLINK_ROUTE socket in the calling thread's network namespace.
pub fn netlink_route_socket() -> io::Result<OwnedFd> {
    socket(libc::AF_NETLINK, libc::SOCK_RAW, libc::NETLINK_ROUTE)
}

/// An AF_PACKET socket receiving every protocol on interface `ifindex` (0: all), in
/// the calling thread's network namespace.
pub fn packet_socket(ifindex: u32) -> io::Result<OwnedFd> {
    let proto = (libc::ETH_P_ALL as u16).to_be();
    let fd = socket(libc::AF_PACKET, libc::SOCK_RAW, libc::c_int::from(proto))?;
    // SAFETY: sockaddr_ll is plain old data; all-zero is a valid value.
    let mut sll: libc::sockaddr_ll = unsafe { zeroed() };
    sll.sll_family = libc::AF_PACKET as u16;
    sll.sll_protocol = proto;
    sll.sll_ifindex = ifindex as i32;
    // SAFETY: the pointer and length describe the initialised sockaddr_ll above.
    cvt(unsafe {
        libc::bind(
            fd.as_raw_fd(),
            (&raw const sll).cast(),
            size_of::<libc::sockaddr_ll>() as libc::socklen_t,
        )
    })?;
    Ok(fd)
}

/// Receives one frame from an AF_PACKET socket into `buf`; returns the captured
/// length, the frame's original length, the interface it was seen on and its packet
/// type (`PACKET_OUTGOING` for frames this namespace sent).
pub fn recv_frame(fd: BorrowedFd<'_>, buf: &mut [u8]) -> io::Result<(usize, usize, i32, u8)> {
    // SAFETY: sockaddr_ll is plain old data.
    let mut sll: libc::sockaddr_ll = unsafe { zeroed() };
    let mut len = size_of::<libc::sockaddr_ll>() as libc::socklen_t;
    // SAFETY: buf and sll are valid writable buffers of the given sizes; MSG_TRUNC
    // makes the kernel return the real length without writing past buf.
    let n = unsafe {
        libc::recvfrom(
            fd.as_raw_fd(),
            buf.as_mut_ptr().cast(),
            buf.len(),
            libc::MSG_TRUNC,
            (&raw mut sll).cast(),
            &mut len,
        )
    };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    let n = n as usize;
    Ok((n.min(buf.len()), n, sll.sll_ifindex, sll.sll_pkttype))
}

/// Kernel counters of an AF_PACKET socket since the last call: (received, dropped).
pub fn packet_stats(fd: BorrowedFd<'_>) -> io::Result<(u32, u32)> {
    // SAFETY: tpacket_stats is plain old data.
    let mut st: libc::tpacket_stats = unsafe { zeroed() };
    let mut len = size_of::<libc::tpacket_stats>() as libc::socklen_t;
    // SAFETY: st and len are valid for writing and describe st's size.
    cvt(unsafe {
        libc::getsockopt(
            fd.as_raw_fd(),
            libc::SOL_PACKET,
            libc::PACKET_STATISTICS,
            (&raw mut st).cast(),
            &mut len,
        )
    })?;
    Ok((st.tp_packets, st.tp_drops))
}

/// Sets an integer socket option.
pub fn setsockopt_int(
    fd: BorrowedFd<'_>,
    level: libc::c_int,
    name: libc::c_int,
    value: libc::c_int,
) -> io::Result<()> {
    // SAFETY: the pointer and length describe `value`, which outlives the call.
    cvt(unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            level,
            name,
            (&raw const value).cast(),
            size_of::<libc::c_int>() as libc::socklen_t,
        )
    })
    .map(drop)
}

/// Sets SO_RCVTIMEO, so blocking receives return `WouldBlock` after `t`.
pub fn set_recv_timeout(fd: BorrowedFd<'_>, t: Duration) -> io::Result<()> {
    let tv = libc::timeval {
        tv_sec: t.as_secs() as libc::time_t,
        tv_usec: libc::suseconds_t::from(t.subsec_micros()),
    };
    // SAFETY: the pointer and length describe `tv`, which outlives the call.
    cvt(unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVTIMEO,
            (&raw const tv).cast(),
            size_of::<libc::timeval>() as libc::socklen_t,
        )
    })
    .map(drop)
}

/// Waits until `fd` is readable or `timeout` passes; returns whether it is readable.
pub fn poll_readable(fd: RawFd, timeout: Duration) -> io::Result<bool> {
    let mut p = libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    };
    let ms = timeout.as_millis().min(i32::MAX as u128) as libc::c_int;
    // SAFETY: p is one valid pollfd.
    let n = unsafe { libc::poll(&mut p, 1, ms) };
    match n {
        n if n < 0 => {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                Ok(false)
            } else {
                Err(e)
            }
        }
        0 => Ok(false),
        _ => Ok(true),
    }
}

/// Index of interface `name` in the calling thread's network namespace.
pub fn if_index(name: &str) -> io::Result<u32> {
    let c = CString::new(name).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    // SAFETY: c is a valid NUL-terminated string for the call's duration.
    let i = unsafe { libc::if_nametoindex(c.as_ptr()) };
    if i == 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(i)
    }
}

/// Converts a socket address filled in by the kernel.
fn from_storage(ss: &libc::sockaddr_storage) -> Option<SocketAddr> {
    match libc::c_int::from(ss.ss_family) {
        libc::AF_INET => {
            // SAFETY: the family says the storage holds a sockaddr_in.
            let a: libc::sockaddr_in =
                unsafe { std::ptr::read_unaligned(std::ptr::from_ref(ss).cast()) };
            Some(SocketAddr::new(
                Ipv4Addr::from(u32::from_be(a.sin_addr.s_addr)).into(),
                u16::from_be(a.sin_port),
            ))
        }
        libc::AF_INET6 => {
            // SAFETY: the family says the storage holds a sockaddr_in6.
            let a: libc::sockaddr_in6 =
                unsafe { std::ptr::read_unaligned(std::ptr::from_ref(ss).cast()) };
            Some(SocketAddr::new(
                Ipv6Addr::from(a.sin6_addr.s6_addr).into(),
                u16::from_be(a.sin6_port),
            ))
        }
        _ => None,
    }
}

/// Receives one datagram on a socket with IP_PKTINFO or IPV6_RECVPKTINFO enabled:
/// returns its length, the sender and the local address it was sent to (as the
/// socket sees them: IPv4-mapped on a dual-stack socket).
pub fn recv_with_dst(
    fd: BorrowedFd<'_>,
    buf: &mut [u8],
) -> io::Result<(usize, SocketAddr, IpAddr)> {
    // SAFETY: plain old data.
    let mut from: libc::sockaddr_storage = unsafe { zeroed() };
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    let mut cbuf = [0u64; 16];
    // SAFETY: plain old data.
    let mut msg: libc::msghdr = unsafe { zeroed() };
    msg.msg_name = (&raw mut from).cast();
    msg.msg_namelen = size_of::<libc::sockaddr_storage>() as libc::socklen_t;
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = cbuf.as_mut_ptr().cast();
    msg.msg_controllen = size_of::<[u64; 16]>();
    // SAFETY: msg points at buffers (from, iov -> buf, cbuf) valid for writing with
    // the lengths it states.
    let n = unsafe { libc::recvmsg(fd.as_raw_fd(), &mut msg, 0) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    let mut dst = None;
    // SAFETY: the CMSG macros walk the control buffer the kernel filled in, bounded
    // by msg_controllen; the packet-info payloads are read unaligned.
    unsafe {
        let mut c = libc::CMSG_FIRSTHDR(&msg);
        while !c.is_null() {
            if (*c).cmsg_level == libc::IPPROTO_IP && (*c).cmsg_type == libc::IP_PKTINFO {
                let pi: libc::in_pktinfo = std::ptr::read_unaligned(libc::CMSG_DATA(c).cast());
                dst = Some(Ipv4Addr::from(u32::from_be(pi.ipi_addr.s_addr)).into());
            } else if (*c).cmsg_level == libc::IPPROTO_IPV6 && (*c).cmsg_type == libc::IPV6_PKTINFO
            {
                let pi: libc::in6_pktinfo = std::ptr::read_unaligned(libc::CMSG_DATA(c).cast());
                dst = Some(Ipv6Addr::from(pi.ipi6_addr.s6_addr).into());
            }
            c = libc::CMSG_NXTHDR(&msg, c);
        }
    }
    let from =
        from_storage(&from).ok_or_else(|| io::Error::other("datagram without a sender address"))?;
    let dst = dst.ok_or_else(|| io::Error::other("datagram without packet info"))?;
    Ok(((n as usize).min(buf.len()), from, dst))
}

/// Sends `data` to `to` with source address `src` (IP_PKTINFO or IPV6_PKTINFO, by
/// the family of `to`, which must be the socket's), so that a reply comes from the
/// address the query was sent to.
pub fn send_from(fd: BorrowedFd<'_>, data: &[u8], to: SocketAddr, src: IpAddr) -> io::Result<()> {
    let mut iov = libc::iovec {
        iov_base: data.as_ptr().cast_mut().cast(),
        iov_len: data.len(),
    };
    let mut cbuf = [0u64; 8];
    // SAFETY: plain old data.
    let mut name: libc::sockaddr_storage = unsafe { zeroed() };
    let namelen;
    let (level, ty, info_len);
    let mut info = [0u8; 20];
    match (to, src) {
        (SocketAddr::V4(t), IpAddr::V4(s)) => {
            // SAFETY: sockaddr_storage is large and aligned enough for sockaddr_in.
            let sin = unsafe { &mut *(&raw mut name).cast::<libc::sockaddr_in>() };
            sin.sin_family = libc::AF_INET as libc::sa_family_t;
            sin.sin_port = t.port().to_be();
            sin.sin_addr.s_addr = u32::from(*t.ip()).to_be();
            namelen = size_of::<libc::sockaddr_in>();
            // in_pktinfo: ifindex, spec_dst (the source), addr.
            info[4..8].copy_from_slice(&s.octets());
            (level, ty, info_len) = (libc::IPPROTO_IP, libc::IP_PKTINFO, 12usize);
        }
        (SocketAddr::V6(t), IpAddr::V6(s)) => {
            // SAFETY: sockaddr_storage is large and aligned enough for sockaddr_in6.
            let sin6 = unsafe { &mut *(&raw mut name).cast::<libc::sockaddr_in6>() };
            sin6.sin6_family = libc::AF_INET6 as libc::sa_family_t;
            sin6.sin6_port = t.port().to_be();
            sin6.sin6_addr.s6_addr = t.ip().octets();
            namelen = size_of::<libc::sockaddr_in6>();
            // in6_pktinfo: addr (the source), ifindex.
            info[..16].copy_from_slice(&s.octets());
            (level, ty, info_len) = (libc::IPPROTO_IPV6, libc::IPV6_PKTINFO, 20usize);
        }
        _ => return Err(io::Error::from(io::ErrorKind::InvalidInput)),
    }
    // SAFETY: plain old data.
    let mut msg: libc::msghdr = unsafe { zeroed() };
    msg.msg_name = (&raw mut name).cast();
    msg.msg_namelen = namelen as libc::socklen_t;
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = cbuf.as_mut_ptr().cast();
    // SAFETY: CMSG_SPACE is a pure size computation.
    msg.msg_controllen = unsafe { libc::CMSG_SPACE(info_len as u32) } as usize;
    // SAFETY: the 64-byte control buffer holds one cmsg of at most CMSG_SPACE(20)
    // = 40 bytes, written through the pointers the CMSG macros derive from msg; the
    // kernel only reads msg, the name and data.
    let n = unsafe {
        let c = libc::CMSG_FIRSTHDR(&msg);
        (*c).cmsg_level = level;
        (*c).cmsg_type = ty;
        (*c).cmsg_len = libc::CMSG_LEN(info_len as u32) as usize;
        std::ptr::copy_nonoverlapping(info.as_ptr(), libc::CMSG_DATA(c), info_len);
        libc::sendmsg(fd.as_raw_fd(), &msg, libc::MSG_NOSIGNAL)
    };
    if n < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// The `bpf(2)` system call with a zero-padded attribute block.
fn bpf(cmd: libc::c_int, attr: &mut [u8; 128]) -> io::Result<libc::c_int> {
    // SAFETY: attr is a 128-byte buffer, zero beyond the fields set for `cmd`, as the
    // kernel requires of a larger-than-known attribute size.
    let r = unsafe { libc::syscall(libc::SYS_bpf, cmd, attr.as_mut_ptr(), attr.len()) };
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r as libc::c_int)
    }
}

fn owned(fd: libc::c_int) -> OwnedFd {
    // SAFETY: fd was just returned by the kernel as a new descriptor.
    unsafe { OwnedFd::from_raw_fd(fd) }
}

fn put_u32(a: &mut [u8; 128], at: usize, v: u32) {
    a[at..at + 4].copy_from_slice(&v.to_ne_bytes());
}

fn put_u64(a: &mut [u8; 128], at: usize, v: u64) {
    a[at..at + 8].copy_from_slice(&v.to_ne_bytes());
}

const BPF_MAP_CREATE: libc::c_int = 0;
const BPF_MAP_UPDATE_ELEM: libc::c_int = 2;
const BPF_PROG_LOAD: libc::c_int = 5;
const BPF_LINK_CREATE: libc::c_int = 28;

/// Creates a BPF map (`BPF_MAP_CREATE`).
pub fn bpf_map_create(map_type: u32, key: u32, value: u32, entries: u32) -> io::Result<OwnedFd> {
    let mut a = [0u8; 128];
    put_u32(&mut a, 0, map_type);
    put_u32(&mut a, 4, key);
    put_u32(&mut a, 8, value);
    put_u32(&mut a, 12, entries);
    bpf(BPF_MAP_CREATE, &mut a).map(owned)
}

/// Stores a socket descriptor under a u32 key of a sockmap.
pub fn bpf_sockmap_put(map: BorrowedFd<'_>, key: u32, sock: BorrowedFd<'_>) -> io::Result<()> {
    let k = key;
    let v = sock.as_raw_fd() as u64;
    let mut a = [0u8; 128];
    put_u32(&mut a, 0, map.as_raw_fd() as u32);
    put_u64(&mut a, 8, (&raw const k) as u64);
    put_u64(&mut a, 16, (&raw const v) as u64);
    bpf(BPF_MAP_UPDATE_ELEM, &mut a).map(drop)
}

/// Loads a BPF program; on a verifier refusal the error carries the verifier's log.
pub fn bpf_prog_load(
    prog_type: u32,
    expected_attach: u32,
    insns: &[u64],
    license: &std::ffi::CStr,
) -> io::Result<OwnedFd> {
    let mut log = vec![0u8; 16 * 1024];
    let mut a = [0u8; 128];
    put_u32(&mut a, 0, prog_type);
    put_u32(&mut a, 4, insns.len() as u32);
    put_u64(&mut a, 8, insns.as_ptr() as u64);
    put_u64(&mut a, 16, license.as_ptr() as u64);
    put_u32(&mut a, 24, 1);
    put_u32(&mut a, 28, log.len() as u32);
    put_u64(&mut a, 32, log.as_mut_ptr() as u64);
    put_u32(&mut a, 68, expected_attach);
    match bpf(BPF_PROG_LOAD, &mut a) {
        Ok(fd) => Ok(owned(fd)),
        Err(e) => {
            let end = log.iter().position(|&b| b == 0).unwrap_or(log.len());
            let text = String::from_utf8_lossy(&log[..end]);
            Err(io::Error::new(
                e.kind(),
                format!("{e}; verifier: {}", text.trim()),
            ))
        }
    }
}

/// Attaches `prog` to `target` (`BPF_LINK_CREATE`); the link lives as long as the
/// returned descriptor.
pub fn bpf_link_create(
    prog: BorrowedFd<'_>,
    target: BorrowedFd<'_>,
    attach_type: u32,
) -> io::Result<OwnedFd> {
    let mut a = [0u8; 128];
    put_u32(&mut a, 0, prog.as_raw_fd() as u32);
    put_u32(&mut a, 4, target.as_raw_fd() as u32);
    put_u32(&mut a, 8, attach_type);
    bpf(BPF_LINK_CREATE, &mut a).map(owned)
}

/// Our own thread id (for `/proc/self/task/<tid>/ns/net`).
pub fn gettid() -> i32 {
    // SAFETY: gettid has no preconditions.
    unsafe { libc::gettid() }
}
