//! Thin safe wrappers over the Linux system calls the host side needs and std lacks.
//!
//! This and `child.rs` are the only modules with `unsafe`. Every wrapper checks the
//! return value and turns failures into `io::Error`.

use std::ffi::{CStr, CString};
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::path::Path;

fn cpath(path: &Path) -> io::Result<CString> {
    use std::os::unix::ffi::OsStrExt;
    CString::new(path.as_os_str().as_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "path contains a NUL byte"))
}

fn check(ret: libc::c_int) -> io::Result<libc::c_int> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

fn check_long(ret: libc::c_long) -> io::Result<libc::c_long> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

/// A pipe whose both ends are close-on-exec: `(read, write)`.
pub(crate) fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0 as libc::c_int; 2];
    // SAFETY: `fds` is a valid array of two ints for the kernel to fill.
    check(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) })?;
    // SAFETY: pipe2 succeeded, so both descriptors are fresh and owned by nobody else.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// Mounts a fresh tmpfs at `target` with the given option string.
pub(crate) fn mount_tmpfs(target: &Path, data: &str) -> io::Result<()> {
    let target = cpath(target)?;
    let data = CString::new(data)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "mount data contains NUL"))?;
    let flags = libc::MS_NOSUID | libc::MS_NODEV;
    // SAFETY: all pointers are valid NUL-terminated strings living across the call.
    check(unsafe {
        libc::mount(
            c"tmpfs".as_ptr(),
            target.as_ptr(),
            c"tmpfs".as_ptr(),
            flags,
            data.as_ptr().cast(),
        )
    })?;
    // Keep later mounts under it (and its unmount) from propagating anywhere.
    // SAFETY: as above; NULL source/fstype/data are allowed for a propagation change.
    check(unsafe {
        libc::mount(
            std::ptr::null(),
            target.as_ptr(),
            std::ptr::null(),
            libc::MS_PRIVATE,
            std::ptr::null(),
        )
    })?;
    Ok(())
}

/// Unmounts `target`, lazily (`MNT_DETACH`) if it is busy.
pub(crate) fn umount(target: &Path) -> io::Result<()> {
    let target = cpath(target)?;
    // SAFETY: valid NUL-terminated path.
    let ret = unsafe { libc::umount2(target.as_ptr(), 0) };
    if ret == 0 {
        return Ok(());
    }
    let err = io::Error::last_os_error();
    if err.raw_os_error() == Some(libc::EBUSY) {
        // SAFETY: valid NUL-terminated path.
        check(unsafe { libc::umount2(target.as_ptr(), libc::MNT_DETACH) })?;
        return Ok(());
    }
    Err(err)
}

/// Filesystem usage figures of the filesystem holding `path`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct FsUsage {
    pub total_bytes: u64,
    pub free_bytes: u64,
    pub total_inodes: u64,
    pub free_inodes: u64,
}

pub(crate) fn statvfs(path: &Path) -> io::Result<FsUsage> {
    let p = cpath(path)?;
    // SAFETY: statvfs is plain old data; all-zero is a valid value.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: valid path and a valid out-pointer.
    check(unsafe { libc::statvfs(p.as_ptr(), &mut st) })?;
    let frsize = st.f_frsize;
    Ok(FsUsage {
        total_bytes: st.f_blocks.saturating_mul(frsize),
        free_bytes: st.f_bavail.saturating_mul(frsize),
        total_inodes: st.f_files,
        free_inodes: st.f_favail,
    })
}

/// Mount flags (`MS_*`) that must be repeated when bind-remounting `path` from inside a
/// user namespace: the kernel locks them and refuses a remount that would clear them.
pub(crate) fn locked_mount_flags(path: &Path) -> io::Result<libc::c_ulong> {
    let p = cpath(path)?;
    // SAFETY: statvfs is plain old data; all-zero is a valid value.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: valid path and a valid out-pointer.
    check(unsafe { libc::statvfs(p.as_ptr(), &mut st) })?;
    let pairs = [
        (libc::ST_NOSUID, libc::MS_NOSUID),
        (libc::ST_NODEV, libc::MS_NODEV),
        (libc::ST_NOEXEC, libc::MS_NOEXEC),
        (libc::ST_NOATIME, libc::MS_NOATIME),
        (libc::ST_NODIRATIME, libc::MS_NODIRATIME),
        (libc::ST_RELATIME, libc::MS_RELATIME),
    ];
    Ok(pairs
        .iter()
        .filter(|(st_flag, _)| st.f_flag & st_flag != 0)
        .fold(0, |acc, (_, ms)| acc | ms))
}

/// `pidfd_open(2)`.
pub(crate) fn pidfd_open(pid: i32) -> io::Result<OwnedFd> {
    // SAFETY: plain syscall with integer arguments.
    let fd = check_long(unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) })?;
    // SAFETY: the kernel returned a fresh descriptor we now own.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// `pidfd_getfd(2)`: duplicates descriptor `target_fd` of the process behind `pidfd`.
pub(crate) fn pidfd_getfd(pidfd: BorrowedFd<'_>, target_fd: i32) -> io::Result<OwnedFd> {
    // SAFETY: plain syscall with integer arguments.
    let fd = check_long(unsafe {
        libc::syscall(libc::SYS_pidfd_getfd, pidfd.as_raw_fd(), target_fd, 0)
    })?;
    // SAFETY: the kernel returned a fresh descriptor we now own.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// `poll(2)` on `fds` (fd, requested events); returns the revents per entry.
/// `timeout_ms < 0` waits forever. EINTR is reported as "nothing ready".
pub(crate) fn poll(fds: &[(BorrowedFd<'_>, i16)], timeout_ms: i32) -> io::Result<Vec<i16>> {
    let mut pfds: Vec<libc::pollfd> = fds
        .iter()
        .map(|(fd, ev)| libc::pollfd {
            fd: fd.as_raw_fd(),
            events: *ev,
            revents: 0,
        })
        .collect();
    // SAFETY: `pfds` is a valid array of `pfds.len()` pollfd structs.
    let ret = unsafe { libc::poll(pfds.as_mut_ptr(), pfds.len() as libc::nfds_t, timeout_ms) };
    if ret < 0 {
        let err = io::Error::last_os_error();
        if err.raw_os_error() == Some(libc::EINTR) {
            return Ok(vec![0; fds.len()]);
        }
        return Err(err);
    }
    Ok(pfds.iter().map(|p| p.revents).collect())
}

/// Result of a non-blocking `waitpid`.
pub(crate) enum Reaped {
    /// Still running.
    Running,
    /// Exited; the raw wait status.
    Exited,
    /// Not our child (or already reaped).
    Gone,
}

/// `waitpid(pid, WNOHANG | __WALL)`.
pub(crate) fn try_reap(pid: i32) -> io::Result<Reaped> {
    let mut status = 0;
    loop {
        // SAFETY: valid out-pointer for the status.
        let ret = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG | libc::__WALL) };
        if ret == pid {
            return Ok(Reaped::Exited);
        }
        if ret == 0 {
            return Ok(Reaped::Running);
        }
        let err = io::Error::last_os_error();
        match err.raw_os_error() {
            Some(libc::EINTR) => continue,
            Some(libc::ECHILD) => return Ok(Reaped::Gone),
            _ => return Err(err),
        }
    }
}

/// `kill(pid, sig)`; ESRCH is not an error.
pub(crate) fn kill(pid: i32, sig: i32) -> io::Result<()> {
    // SAFETY: plain syscall with integer arguments.
    let ret = unsafe { libc::kill(pid, sig) };
    if ret < 0 {
        let err = io::Error::last_os_error();
        if err.raw_os_error() != Some(libc::ESRCH) {
            return Err(err);
        }
    }
    Ok(())
}

/// `setns(fd, nstype)` for the calling thread.
pub(crate) fn setns(fd: BorrowedFd<'_>, nstype: libc::c_int) -> io::Result<()> {
    // SAFETY: plain syscall on a valid descriptor.
    check(unsafe { libc::setns(fd.as_raw_fd(), nstype) })?;
    Ok(())
}

/// Reads extended attribute `name` of `path` without following a final symlink.
/// Returns `None` when the attribute does not exist or xattrs are unsupported.
pub(crate) fn lgetxattr(path: &Path, name: &CStr) -> io::Result<Option<Vec<u8>>> {
    let p = cpath(path)?;
    let mut buf = [0u8; 256];
    // SAFETY: valid path/name strings and a buffer of the length we pass.
    let ret = unsafe {
        libc::lgetxattr(
            p.as_ptr(),
            name.as_ptr(),
            buf.as_mut_ptr().cast(),
            buf.len(),
        )
    };
    if ret < 0 {
        let err = io::Error::last_os_error();
        return match err.raw_os_error() {
            Some(libc::ENODATA) | Some(libc::EOPNOTSUPP) => Ok(None),
            _ => Err(err),
        };
    }
    Ok(buf.get(..ret as usize).map(<[u8]>::to_vec))
}

// seccomp user-notification ioctls (linux/seccomp.h): _IOWR('!', 0, struct seccomp_notif)
// and _IOWR('!', 1, struct seccomp_notif_resp).
const SECCOMP_IOCTL_NOTIF_RECV: libc::c_ulong = 0xc050_2100;
const SECCOMP_IOCTL_NOTIF_SEND: libc::c_ulong = 0xc018_2101;

/// One received seccomp user notification.
pub(crate) struct Notification {
    pub id: u64,
    pub pid: u32,
    pub nr: i32,
    pub arch: u32,
    pub args: [u64; 6],
}

/// Receives one pending notification from a seccomp listener. `Ok(None)` when the
/// notification vanished (the task died or was interrupted) before we got it.
pub(crate) fn seccomp_notif_recv(listener: BorrowedFd<'_>) -> io::Result<Option<Notification>> {
    // SAFETY: seccomp_notif is plain old data; the kernel requires it zeroed.
    let mut n: libc::seccomp_notif = unsafe { std::mem::zeroed() };
    // SAFETY: valid listener descriptor and a properly sized, zeroed struct.
    let ret = unsafe { libc::ioctl(listener.as_raw_fd(), SECCOMP_IOCTL_NOTIF_RECV, &mut n) };
    if ret < 0 {
        let err = io::Error::last_os_error();
        return match err.raw_os_error() {
            Some(libc::ENOENT) | Some(libc::EINTR) => Ok(None),
            _ => Err(err),
        };
    }
    Ok(Some(Notification {
        id: n.id,
        pid: n.pid,
        nr: n.data.nr,
        arch: n.data.arch,
        args: n.data.args,
    }))
}

/// Answers notification `id` with failure `errno`. A notification whose task died
/// meanwhile (ENOENT) is not an error.
pub(crate) fn seccomp_notif_deny(listener: BorrowedFd<'_>, id: u64, errno: i32) -> io::Result<()> {
    let mut resp = libc::seccomp_notif_resp {
        id,
        val: 0,
        error: -errno,
        flags: 0,
    };
    // SAFETY: valid listener descriptor and a properly initialised response struct.
    let ret = unsafe { libc::ioctl(listener.as_raw_fd(), SECCOMP_IOCTL_NOTIF_SEND, &mut resp) };
    if ret < 0 {
        let err = io::Error::last_os_error();
        if err.raw_os_error() != Some(libc::ENOENT) {
            return Err(err);
        }
    }
    Ok(())
}

/// Sets `O_NONBLOCK` on a descriptor.
pub(crate) fn set_nonblocking(fd: BorrowedFd<'_>) -> io::Result<()> {
    // SAFETY: fcntl with integer arguments on a valid descriptor.
    let flags = check(unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GETFL) })?;
    // SAFETY: as above.
    check(unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_SETFL, flags | libc::O_NONBLOCK) })?;
    Ok(())
}
