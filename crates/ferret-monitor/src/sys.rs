//! Every system call of the monitor that needs `unsafe`: netlink sockets (audit, process
//! connector), fanotify, `open_by_handle_at`, inotify, `poll`, signal masks and clocks.
//! Each function checks its result and returns an `io::Result`; buffers are Rust slices
//! whose lengths are passed alongside, so no caller has to reason about pointers.

use std::ffi::CStr;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::time::Duration;

fn cvt(ret: libc::c_int) -> io::Result<libc::c_int> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

fn cvt_size(ret: libc::ssize_t) -> io::Result<usize> {
    usize::try_from(ret).map_err(|_| io::Error::last_os_error())
}

/// Opens a netlink socket of `protocol` (`NETLINK_AUDIT`, `NETLINK_CONNECTOR`) bound to the
/// multicast `groups` bitmask (0: unicast only); the kernel picks the port id.
pub fn netlink_socket(protocol: libc::c_int, groups: u32) -> io::Result<OwnedFd> {
    // SAFETY: socket(2) takes no pointers; the result is checked before use.
    let fd = cvt(unsafe {
        libc::socket(
            libc::AF_NETLINK,
            libc::SOCK_RAW | libc::SOCK_CLOEXEC,
            protocol,
        )
    })?;
    // SAFETY: `fd` was just returned by socket(2) and is owned by nobody else.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    // SAFETY: sockaddr_nl is plain data; all-zero is a valid value.
    let mut addr: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
    addr.nl_family = libc::AF_NETLINK as libc::sa_family_t;
    addr.nl_groups = groups;
    // SAFETY: `addr` is a valid sockaddr_nl and its exact size is passed.
    cvt(unsafe {
        libc::bind(
            fd.as_raw_fd(),
            (&raw const addr).cast::<libc::sockaddr>(),
            std::mem::size_of::<libc::sockaddr_nl>() as libc::socklen_t,
        )
    })?;
    Ok(fd)
}

fn setsockopt_int(
    fd: RawFd,
    level: libc::c_int,
    name: libc::c_int,
    v: libc::c_int,
) -> io::Result<()> {
    // SAFETY: the option value is a c_int on the stack and its size is passed.
    cvt(unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            (&raw const v).cast::<libc::c_void>(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    })
    .map(drop)
}

/// Sets the receive buffer to `bytes`, beyond `rmem_max` when privileged
/// (`SO_RCVBUFFORCE`), else as far as `SO_RCVBUF` allows.
pub fn set_rcvbuf(fd: &OwnedFd, bytes: usize) -> io::Result<()> {
    let v = libc::c_int::try_from(bytes).unwrap_or(libc::c_int::MAX);
    setsockopt_int(fd.as_raw_fd(), libc::SOL_SOCKET, libc::SO_RCVBUFFORCE, v)
        .or_else(|_| setsockopt_int(fd.as_raw_fd(), libc::SOL_SOCKET, libc::SO_RCVBUF, v))
}

/// Sets `SO_RCVTIMEO`, so that a blocking receive returns now and then and the reader can
/// notice a stop request.
pub fn set_recv_timeout(fd: &OwnedFd, d: Duration) -> io::Result<()> {
    let tv = libc::timeval {
        tv_sec: libc::time_t::try_from(d.as_secs()).unwrap_or(libc::time_t::MAX),
        tv_usec: libc::suseconds_t::from(d.subsec_micros() as i32),
    };
    // SAFETY: `tv` is a valid timeval on the stack and its size is passed.
    cvt(unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVTIMEO,
            (&raw const tv).cast::<libc::c_void>(),
            std::mem::size_of::<libc::timeval>() as libc::socklen_t,
        )
    })
    .map(drop)
}

/// Sends one datagram to the kernel (netlink port 0).
pub fn send(fd: &OwnedFd, buf: &[u8]) -> io::Result<usize> {
    // SAFETY: sockaddr_nl is plain data; all-zero (port 0, no groups) addresses the kernel.
    let mut addr: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
    addr.nl_family = libc::AF_NETLINK as libc::sa_family_t;
    // SAFETY: `buf` is a live slice of `buf.len()` bytes; `addr` is a valid sockaddr_nl.
    cvt_size(unsafe {
        libc::sendto(
            fd.as_raw_fd(),
            buf.as_ptr().cast::<libc::c_void>(),
            buf.len(),
            0,
            (&raw const addr).cast::<libc::sockaddr>(),
            std::mem::size_of::<libc::sockaddr_nl>() as libc::socklen_t,
        )
    })
}

/// Receives one datagram into `buf` (blocking up to the socket's receive timeout).
pub fn recv(fd: &OwnedFd, buf: &mut [u8]) -> io::Result<usize> {
    // SAFETY: `buf` is a live, writable slice of `buf.len()` bytes.
    cvt_size(unsafe {
        libc::recv(
            fd.as_raw_fd(),
            buf.as_mut_ptr().cast::<libc::c_void>(),
            buf.len(),
            0,
        )
    })
}

/// Reads from a file descriptor (fanotify, inotify).
pub fn read(fd: &OwnedFd, buf: &mut [u8]) -> io::Result<usize> {
    // SAFETY: `buf` is a live, writable slice of `buf.len()` bytes.
    cvt_size(unsafe { libc::read(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) })
}

/// Waits until `fd` is readable or `timeout` passes; `Ok(false)` on timeout.
pub fn poll_readable(fd: &OwnedFd, timeout: Duration) -> io::Result<bool> {
    let mut p = libc::pollfd {
        fd: fd.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    let ms = libc::c_int::try_from(timeout.as_millis()).unwrap_or(libc::c_int::MAX);
    // SAFETY: one valid pollfd is passed with count 1.
    match cvt(unsafe { libc::poll(&raw mut p, 1, ms) }) {
        Ok(n) => Ok(n > 0),
        Err(e) if e.kind() == io::ErrorKind::Interrupted => Ok(false),
        Err(e) => Err(e),
    }
}

/// `fanotify_init(2)`.
pub fn fanotify_init(flags: u32, event_f_flags: u32) -> io::Result<OwnedFd> {
    // SAFETY: fanotify_init takes no pointers; the result is checked.
    let fd = cvt(unsafe { libc::fanotify_init(flags, event_f_flags) })?;
    // SAFETY: a fresh descriptor owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// `fanotify_mark(2)` on `path` (absolute).
pub fn fanotify_mark(fd: &OwnedFd, flags: u32, mask: u64, path: &CStr) -> io::Result<()> {
    // SAFETY: `path` is a NUL-terminated string that outlives the call.
    cvt(unsafe { libc::fanotify_mark(fd.as_raw_fd(), flags, mask, libc::AT_FDCWD, path.as_ptr()) })
        .map(drop)
}

/// Opens the object a file handle names (`open_by_handle_at(2)`) relative to a descriptor
/// on the same file system, as `O_PATH`.
pub fn open_by_handle(mount_fd: &OwnedFd, handle_type: i32, handle: &[u8]) -> io::Result<OwnedFd> {
    // struct file_handle { u32 handle_bytes; i32 handle_type; u8 f_handle[]; } built in a
    // u32 buffer so that it is 4-byte aligned.
    let words = 2 + handle.len().div_ceil(4);
    let mut buf = vec![0u32; words];
    let n = u32::try_from(handle.len())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "file handle too long"))?;
    buf[0] = n;
    buf[1] = handle_type as u32;
    for (i, b) in handle.iter().enumerate() {
        let w = 2 + i / 4;
        let mut bytes = buf[w].to_ne_bytes();
        bytes[i % 4] = *b;
        buf[w] = u32::from_ne_bytes(bytes);
    }
    // SAFETY: `buf` holds a complete, aligned struct file_handle with `handle_bytes` bytes
    // of handle after its header, and lives across the call.
    let fd = cvt(unsafe {
        libc::syscall(
            libc::SYS_open_by_handle_at,
            mount_fd.as_raw_fd(),
            buf.as_mut_ptr(),
            libc::O_PATH | libc::O_CLOEXEC,
        ) as libc::c_int
    })?;
    // SAFETY: a fresh descriptor owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// The file-system id (`statfs` `f_fsid`) of the file system holding `path`, as fanotify
/// reports it in its fid records.
pub fn fsid(path: &CStr) -> io::Result<[i32; 2]> {
    // SAFETY: statfs is plain data; all-zero is a valid value to be overwritten.
    let mut st: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: `path` is NUL-terminated and `st` is a valid, writable statfs.
    cvt(unsafe { libc::statfs(path.as_ptr(), &raw mut st) })?;
    // SAFETY: fsid_t is two ints; reading it as such is how the kernel defines it.
    let v: [i32; 2] = unsafe { std::mem::transmute(st.f_fsid) };
    Ok(v)
}

/// `inotify_init1(IN_CLOEXEC | IN_NONBLOCK)`.
pub fn inotify_init() -> io::Result<OwnedFd> {
    // SAFETY: no pointers; the result is checked.
    let fd = cvt(unsafe { libc::inotify_init1(libc::IN_CLOEXEC | libc::IN_NONBLOCK) })?;
    // SAFETY: a fresh descriptor owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// `inotify_add_watch(2)`; returns the watch descriptor.
pub fn inotify_add_watch(fd: &OwnedFd, path: &CStr, mask: u32) -> io::Result<i32> {
    // SAFETY: `path` is NUL-terminated and outlives the call.
    cvt(unsafe { libc::inotify_add_watch(fd.as_raw_fd(), path.as_ptr(), mask) })
}

/// Blocks SIGINT and SIGTERM in the calling thread (and threads it creates afterwards), so
/// that [`wait_stop_signal`] receives them instead of the default action killing the
/// process before it restores the audit configuration.
pub fn block_stop_signals() -> io::Result<()> {
    let set = stop_set();
    // SAFETY: `set` is an initialised sigset_t; the old mask is not requested.
    let r = unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, &raw const set, std::ptr::null_mut()) };
    if r != 0 {
        return Err(io::Error::from_raw_os_error(r));
    }
    Ok(())
}

fn stop_set() -> libc::sigset_t {
    // SAFETY: sigset_t is plain data, initialised by sigemptyset before use.
    let mut set: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: `set` is a valid, writable sigset_t.
    unsafe {
        libc::sigemptyset(&raw mut set);
        libc::sigaddset(&raw mut set, libc::SIGINT);
        libc::sigaddset(&raw mut set, libc::SIGTERM);
    }
    set
}

/// Waits for SIGINT or SIGTERM (blocked with [`block_stop_signals`]); returns its number.
pub fn wait_stop_signal() -> i32 {
    let set = stop_set();
    let mut sig: libc::c_int = 0;
    loop {
        // SAFETY: `set` is initialised and `sig` is a valid, writable int.
        if unsafe { libc::sigwait(&raw const set, &raw mut sig) } == 0 {
            return sig;
        }
    }
}

/// `CLOCK_MONOTONIC` in nanoseconds (the process connector's timestamps use it).
pub fn monotonic_ns() -> u64 {
    // SAFETY: timespec is plain data; clock_gettime fills it.
    let mut ts: libc::timespec = unsafe { std::mem::zeroed() };
    // SAFETY: `ts` is a valid, writable timespec.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &raw mut ts) };
    u64::try_from(ts.tv_sec).unwrap_or(0) * 1_000_000_000 + u64::try_from(ts.tv_nsec).unwrap_or(0)
}
