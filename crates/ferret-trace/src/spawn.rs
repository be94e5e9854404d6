//! Plain fork + exec of a program held before its execve, for tests and the
//! `--no-sandbox` debug mode. The sandbox crate does the same job with full
//! confinement; this one only installs the tracer's seccomp filter.

use std::ffi::{CString, OsStr};
use std::io;
use std::os::unix::ffi::OsStrExt;

/// A forked child blocked before its execve, waiting for [`Stopped::release`].
///
/// Dropping it without releasing makes the child exit with status 127
/// without exec'ing (the caller, or its tracer, reaps it).
#[derive(Debug)]
pub struct Stopped {
    /// Host pid of the child.
    pub pid: i32,
    release_fd: libc::c_int,
}

impl Stopped {
    /// Lets the child continue: it installs the filter and calls execve.
    /// Seize it with [`crate::PtraceTracer::seize`] first.
    pub fn release(mut self) -> io::Result<()> {
        let fd = std::mem::replace(&mut self.release_fd, -1);
        let byte = [1u8];
        // SAFETY: fd is the pipe's write end, owned by us; the buffer is 1 byte.
        let n = unsafe { libc::write(fd, byte.as_ptr().cast(), 1) };
        let err = io::Error::last_os_error();
        // SAFETY: fd is owned by us and closed exactly once (replaced by -1 above).
        unsafe { libc::close(fd) };
        if n == 1 { Ok(()) } else { Err(err) }
    }
}

impl Drop for Stopped {
    fn drop(&mut self) {
        if self.release_fd >= 0 {
            // SAFETY: closing our own write end; the child then reads EOF and exits.
            unsafe { libc::close(self.release_fd) };
        }
    }
}

fn cstring(s: &OsStr, what: &str) -> io::Result<CString> {
    CString::new(s.as_bytes()).map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{what} contains a NUL byte: {s:?}"),
        )
    })
}

/// Writes "ferret-trace: <msg> errno N\n" to stderr using only
/// async-signal-safe calls.
fn child_fail(msg: &[u8], errno: i32) -> ! {
    let mut buf = [0u8; 128];
    let mut n = 0;
    for &b in b"ferret-trace: ".iter().chain(msg).chain(b" errno ") {
        if let Some(slot) = buf.get_mut(n) {
            *slot = b;
            n += 1;
        }
    }
    let mut digits = [0u8; 12];
    let mut d = 0;
    let mut v = errno.unsigned_abs();
    loop {
        if let Some(slot) = digits.get_mut(d) {
            *slot = b'0' + (v % 10) as u8;
        }
        d += 1;
        v /= 10;
        if v == 0 || d >= digits.len() {
            break;
        }
    }
    while d > 0 {
        d -= 1;
        if let (Some(slot), Some(&c)) = (buf.get_mut(n), digits.get(d)) {
            *slot = c;
            n += 1;
        }
    }
    if let Some(slot) = buf.get_mut(n) {
        *slot = b'\n';
        n += 1;
    }
    // SAFETY: write and _exit are async-signal-safe; buf outlives the call.
    unsafe {
        libc::write(2, buf.as_ptr().cast(), n);
        libc::_exit(127)
    }
}

/// Forks a child that blocks (on a pipe) before `execve(argv[0], argv, env)`.
/// On release it sets `PR_SET_NO_NEW_PRIVS`, installs `filter` (if not empty)
/// and execs. `argv[0]` is used as the path as is (no `PATH` search); `env`
/// items are `NAME=value`. Everything is prepared before the fork so the
/// child only makes async-signal-safe calls.
pub fn spawn_stopped<A: AsRef<OsStr>, E: AsRef<OsStr>>(
    argv: &[A],
    env: &[E],
    filter: &[libc::sock_filter],
) -> io::Result<Stopped> {
    let Some(first) = argv.first() else {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "spawn_stopped: argv is empty",
        ));
    };
    let path = cstring(first.as_ref(), "program path")?;
    let args: Vec<CString> = argv
        .iter()
        .map(|a| cstring(a.as_ref(), "argument"))
        .collect::<io::Result<_>>()?;
    let envs: Vec<CString> = env
        .iter()
        .map(|e| cstring(e.as_ref(), "environment entry"))
        .collect::<io::Result<_>>()?;
    let mut argp: Vec<*const libc::c_char> = args.iter().map(|a| a.as_ptr()).collect();
    argp.push(std::ptr::null());
    let mut envp: Vec<*const libc::c_char> = envs.iter().map(|e| e.as_ptr()).collect();
    envp.push(std::ptr::null());
    let prog = libc::sock_fprog {
        len: u16::try_from(filter.len()).map_err(|_| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("seccomp filter too long: {} instructions", filter.len()),
            )
        })?,
        filter: filter.as_ptr().cast_mut(),
    };
    let mut fds = [0 as libc::c_int; 2];
    // SAFETY: fds is a valid 2-int array for pipe2 to fill.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(io::Error::last_os_error());
    }
    let [read_fd, write_fd] = fds;
    // SAFETY: fork itself has no preconditions; the child branch below only
    // calls async-signal-safe functions on memory prepared before the fork.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        let e = io::Error::last_os_error();
        // SAFETY: both fds are ours and still open.
        unsafe {
            libc::close(read_fd);
            libc::close(write_fd);
        }
        return Err(e);
    }
    if pid == 0 {
        // SAFETY: child side of fork: close/read/sigprocmask/prctl/syscall/
        // execve/_exit are async-signal-safe; all pointers reference buffers
        // built before the fork, which the child's copy of memory still holds.
        unsafe {
            libc::close(write_fd);
            let mut b = 0u8;
            let n = loop {
                let n = libc::read(read_fd, (&mut b as *mut u8).cast(), 1);
                if n < 0 && *libc::__errno_location() == libc::EINTR {
                    continue;
                }
                break n;
            };
            if n != 1 {
                // Released never: the parent went away or dropped us.
                libc::_exit(127);
            }
            let mut set: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            libc::sigprocmask(libc::SIG_SETMASK, &set, std::ptr::null_mut());
            if !filter.is_empty() {
                if libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 {
                    child_fail(b"PR_SET_NO_NEW_PRIVS failed", *libc::__errno_location());
                }
                if libc::syscall(
                    libc::SYS_seccomp,
                    libc::SECCOMP_SET_MODE_FILTER,
                    0,
                    &prog as *const libc::sock_fprog,
                ) != 0
                {
                    child_fail(b"seccomp filter refused", *libc::__errno_location());
                }
            }
            libc::execve(path.as_ptr(), argp.as_ptr(), envp.as_ptr());
            // execve failed; the failure is visible in the trace too.
            libc::_exit(127);
        }
    }
    // SAFETY: the read end is ours and only the child needs it.
    unsafe { libc::close(read_fd) };
    Ok(Stopped {
        pid,
        release_fd: write_fd,
    })
}
