//! Network namespaces held by descriptor (never bind-mounted under /run/netns), and
//! running code inside one from a short-lived helper thread: joining a namespace is
//! per thread, so the caller's own threads never move.

use std::fs::File;
use std::io;
use std::os::fd::{BorrowedFd, OwnedFd};

use crate::sys;

/// Creates a new network namespace (only `lo`, down) and returns a descriptor that
/// keeps it alive.
pub fn create() -> io::Result<OwnedFd> {
    std::thread::scope(|s| {
        s.spawn(|| {
            sys::unshare_net()?;
            let f = File::open(format!("/proc/self/task/{}/ns/net", sys::gettid()))?;
            Ok(OwnedFd::from(f))
        })
        .join()
        .unwrap_or_else(|_| Err(io::Error::other("namespace helper thread panicked")))
    })
}

/// Runs `f` on a helper thread that joined namespace `ns`. Sockets `f` creates
/// belong to `ns` for their whole life, whichever thread uses them afterwards.
pub fn run_in<T: Send>(
    ns: BorrowedFd<'_>,
    f: impl FnOnce() -> io::Result<T> + Send,
) -> io::Result<T> {
    std::thread::scope(|s| {
        s.spawn(move || {
            sys::setns_net(ns)?;
            f()
        })
        .join()
        .unwrap_or_else(|_| Err(io::Error::other("namespace helper thread panicked")))
    })
}

/// Opens the network namespace of process `pid`.
pub fn of_pid(pid: i32) -> io::Result<OwnedFd> {
    let path = format!("/proc/{pid}/ns/net");
    File::open(&path)
        .map(OwnedFd::from)
        .map_err(|e| io::Error::new(e.kind(), format!("opening {path}: {e}")))
}

/// The inode identifying the namespace `fd` refers to.
pub fn inode(fd: BorrowedFd<'_>) -> io::Result<u64> {
    use std::os::unix::fs::MetadataExt;
    Ok(File::from(fd.try_clone_to_owned()?).metadata()?.ino())
}
