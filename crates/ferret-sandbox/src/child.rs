//! Everything that runs between `clone` and `execve`: the sandbox's init (pid 1 of the
//! new pid namespace) and the sample's pre-exec code.
//!
//! The host may be multi-threaded, so after `clone` only async-signal-safe work is done:
//! raw system calls on buffers prepared before cloning, no allocation, no locks, no glibc
//! wrappers that coordinate threads (setresuid/fork go through `syscall(2)` directly).
//! Failures are reported to the host as fixed-size messages on the report pipe.

use std::ffi::{CString, c_char};
use std::io;
use std::os::fd::RawFd;

use libc::{c_int, c_ulong, c_void, sock_filter};

/// Report message tags (child -> host), each message `[tag u32][a u32][b i64]`.
pub(crate) const MSG_SETUP_ERROR: u32 = 1;
pub(crate) const MSG_LISTENER: u32 = 2;
pub(crate) const MSG_SAMPLE_FORKED: u32 = 3;
pub(crate) const MSG_SAMPLE_EXITED: u32 = 4;
pub(crate) const MSG_EXEC_ERROR: u32 = 5;
pub(crate) const MSG_LEN: usize = 16;

/// Setup stages that are not mount operations (mount ops use their index).
pub(crate) const STAGE_SYNC: u32 = 10_000;
pub(crate) const STAGE_IDS: u32 = 10_001;
pub(crate) const STAGE_CGROUPNS: u32 = 10_002;
pub(crate) const STAGE_HOSTNAME: u32 = 10_003;
pub(crate) const STAGE_LOOPBACK: u32 = 10_004;
pub(crate) const STAGE_DEVNULL: u32 = 10_005;
pub(crate) const STAGE_RLIMIT: u32 = 10_006;
pub(crate) const STAGE_PRCTL: u32 = 10_007;
pub(crate) const STAGE_SECCOMP: u32 = 10_008;
pub(crate) const STAGE_FORK: u32 = 10_009;
pub(crate) const STAGE_CHDIR: u32 = 10_010;
pub(crate) const STAGE_EXTRA_SECCOMP: u32 = 10_011;
pub(crate) const STAGE_OOM_ADJ: u32 = 10_012;
pub(crate) const STAGE_SAMPLE_FDS: u32 = 10_013;

/// Describes a non-mount setup stage for error messages.
pub(crate) fn stage_name(stage: u32) -> &'static str {
    match stage {
        STAGE_SYNC => "waiting for the host",
        STAGE_IDS => "switching to uid/gid 0 of the user namespace",
        STAGE_CGROUPNS => "unsharing the cgroup namespace",
        STAGE_HOSTNAME => "setting the hostname",
        STAGE_LOOPBACK => "bringing up the loopback interface",
        STAGE_DEVNULL => "opening /dev/null",
        STAGE_RLIMIT => "setting resource limits",
        STAGE_PRCTL => "setting no_new_privs / dumpable",
        STAGE_SECCOMP => "installing the seccomp deny-list",
        STAGE_FORK => "forking the sample",
        STAGE_CHDIR => "changing to the sample's working directory",
        STAGE_EXTRA_SECCOMP => "installing the caller's extra seccomp filter",
        STAGE_OOM_ADJ => "raising the sample's oom_score_adj",
        STAGE_SAMPLE_FDS => "setting up the sample's descriptors",
        _ => "setup",
    }
}

/// One filesystem operation of the root-filesystem plan, run inside the new mount
/// namespace before `pivot_root`.
#[derive(Debug)]
pub(crate) enum Op {
    Mount {
        src: Option<CString>,
        target: CString,
        fstype: Option<CString>,
        flags: c_ulong,
        data: Option<CString>,
    },
    Mkdir {
        path: CString,
        mode: u32,
    },
    Touch {
        path: CString,
        mode: u32,
    },
    Symlink {
        target: CString,
        link: CString,
    },
    /// Writes `data` to an existing file in one `write` (e.g. a binfmt_misc rule).
    WriteFile {
        path: CString,
        data: Vec<u8>,
    },
    /// chdir(new_root); pivot_root(".", "."); umount2(".", MNT_DETACH); chdir("/").
    PivotRoot {
        new_root: CString,
    },
}

/// Everything the child needs, prepared by the host before cloning.
#[derive(Debug)]
pub(crate) struct Plan {
    pub ops: Vec<Op>,
    pub hostname: Vec<u8>,
    pub setup_loopback: bool,
    pub rlimits: Vec<(c_int, u64)>,
    pub deny: Vec<sock_filter>,
    pub extra: Option<Vec<sock_filter>>,
    pub program: CString,
    pub argv: Vec<CString>,
    pub env: Vec<CString>,
    pub cwd: CString,
    pub clone_flags: c_int,
}

/// The host's descriptors handed to the child: sync (read), report (write),
/// release (read), stdout (write), stderr (write).
#[derive(Debug, Clone, Copy)]
pub(crate) struct ChildFds {
    pub sync_r: RawFd,
    pub report_w: RawFd,
    pub release_r: RawFd,
    pub out_w: RawFd,
    pub err_w: RawFd,
}

/// Plan plus the raw pointer arrays `execve`/`seccomp` need, built before cloning.
struct Prepared<'a> {
    plan: &'a Plan,
    fds: [RawFd; 5],
    fd_base: RawFd,
    argv: Vec<*const c_char>,
    envp: Vec<*const c_char>,
    deny: libc::sock_fprog,
    extra: Option<libc::sock_fprog>,
    ifr: libc::ifreq,
}

// Positions of the descriptors after the child moved them to fd_base + index.
const I_SYNC: c_int = 0;
const I_REPORT: c_int = 1;
const I_RELEASE: c_int = 2;
const I_OUT: c_int = 3;
const I_ERR: c_int = 4;

/// Clones the sandbox init with `plan.clone_flags` (new user, pid, mount, uts, ipc,
/// and net namespaces) and returns its host pid. The child never returns.
pub(crate) fn clone_init(plan: &Plan, fds: ChildFds) -> io::Result<i32> {
    let raw = [
        fds.sync_r,
        fds.report_w,
        fds.release_r,
        fds.out_w,
        fds.err_w,
    ];
    let fd_base = raw.iter().copied().max().unwrap_or(0).max(9) + 1;
    let mut argv: Vec<*const c_char> = plan.argv.iter().map(|a| a.as_ptr()).collect();
    argv.push(std::ptr::null());
    let mut envp: Vec<*const c_char> = plan.env.iter().map(|a| a.as_ptr()).collect();
    envp.push(std::ptr::null());
    let fprog = |f: &Vec<sock_filter>| libc::sock_fprog {
        len: f.len() as u16,
        filter: f.as_ptr().cast_mut(),
    };
    if plan.deny.len() > u16::MAX as usize
        || plan
            .extra
            .as_ref()
            .is_some_and(|e| e.len() > u16::MAX as usize)
    {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "seccomp filter too long",
        ));
    }
    // SAFETY: ifreq is plain old data; all-zero is a valid value.
    let mut ifr: libc::ifreq = unsafe { std::mem::zeroed() };
    for (dst, src) in ifr.ifr_name.iter_mut().zip(b"lo\0") {
        *dst = *src as c_char;
    }
    ifr.ifr_ifru.ifru_flags = (libc::IFF_UP | libc::IFF_LOOPBACK | libc::IFF_RUNNING) as i16;
    let prep = Prepared {
        plan,
        fds: raw,
        fd_base,
        argv,
        envp,
        deny: fprog(&plan.deny),
        extra: plan.extra.as_ref().map(fprog),
        ifr,
    };
    let flags = plan.clone_flags as c_ulong | libc::SIGCHLD as c_ulong;
    // SAFETY: a fork-like clone (no CLONE_VM, no new stack): the child gets a private
    // copy of this thread's stack and memory. It runs only `init_main`, which is
    // async-signal-safe and never returns.
    let pid = unsafe { libc::syscall(libc::SYS_clone, flags, 0usize, 0usize, 0usize, 0usize) };
    if pid < 0 {
        return Err(io::Error::last_os_error());
    }
    if pid == 0 {
        init_main(&prep);
    }
    Ok(pid as i32)
}

/// Splits a report message into (tag, stage/extra, value).
pub(crate) fn decode(msg: &[u8; MSG_LEN]) -> (u32, u32, i64) {
    let [
        t0,
        t1,
        t2,
        t3,
        a0,
        a1,
        a2,
        a3,
        b0,
        b1,
        b2,
        b3,
        b4,
        b5,
        b6,
        b7,
    ] = *msg;
    (
        u32::from_ne_bytes([t0, t1, t2, t3]),
        u32::from_ne_bytes([a0, a1, a2, a3]),
        i64::from_ne_bytes([b0, b1, b2, b3, b4, b5, b6, b7]),
    )
}

fn errno() -> i64 {
    // SAFETY: reading this thread's errno location is async-signal-safe.
    i64::from(unsafe { *libc::__errno_location() })
}

fn report(fd: RawFd, tag: u32, a: u32, b: i64) {
    let mut msg = [0u8; MSG_LEN];
    msg[0..4].copy_from_slice(&tag.to_ne_bytes());
    msg[4..8].copy_from_slice(&a.to_ne_bytes());
    msg[8..16].copy_from_slice(&b.to_ne_bytes());
    // SAFETY: writing a stack buffer to a descriptor; a 16-byte pipe write is atomic.
    unsafe { libc::write(fd, msg.as_ptr().cast(), MSG_LEN) };
}

fn fail(report_fd: RawFd, stage: u32) -> ! {
    report(report_fd, MSG_SETUP_ERROR, stage, errno());
    // SAFETY: _exit is async-signal-safe and ends this process only.
    unsafe { libc::_exit(1) }
}

fn sys(ret: libc::c_long) -> bool {
    ret >= 0
}

/// Runs in the cloned child: pid 1 of the new pid namespace.
fn init_main(p: &Prepared<'_>) -> ! {
    let base = p.fd_base;
    let report_fd = base + I_REPORT;
    // SAFETY (whole function body): only raw system calls on memory prepared before
    // the clone (the plan, pointer arrays, ifreq, fprogs) and stack buffers; no
    // allocation, no locks. Each call's pointer arguments point into that memory.
    unsafe {
        // Move our descriptors above everything else, then close the rest: the host's
        // other threads may own descriptors we must not keep (or leak to the sample).
        for (i, fd) in p.fds.iter().enumerate() {
            if libc::syscall(libc::SYS_dup3, *fd, base + i as c_int, libc::O_CLOEXEC) < 0 {
                libc::_exit(120);
            }
        }
        libc::syscall(libc::SYS_close_range, 0u32, (base - 1) as u32, 0u32);
        libc::syscall(libc::SYS_close_range, (base + 5) as u32, u32::MAX, 0u32);

        // Our comm is the host thread's name; /proc/1/comm should look like an init.
        libc::prctl(libc::PR_SET_NAME, c"init".as_ptr(), 0, 0, 0);

        // Wait until the host wrote our uid/gid maps and placed us in the cgroups.
        let mut byte = 0u8;
        if libc::read(base + I_SYNC, (&raw mut byte).cast(), 1) != 1 {
            libc::_exit(121);
        }

        if !sys(libc::syscall(libc::SYS_setresgid, 0, 0, 0))
            || !sys(libc::syscall(
                libc::SYS_setgroups,
                0,
                std::ptr::null::<libc::gid_t>(),
            ))
            || !sys(libc::syscall(libc::SYS_setresuid, 0, 0, 0))
        {
            fail(report_fd, STAGE_IDS);
        }
        // Die with the host's supervisor thread (our parent). Set after the uid change,
        // which clears it. If the host is already gone, the next sync read sees EOF.
        if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0) < 0 {
            fail(report_fd, STAGE_PRCTL);
        }
        // Now inside the task's cgroups: make them the root of the sample's view.
        if !sys(libc::syscall(libc::SYS_unshare, libc::CLONE_NEWCGROUP)) {
            fail(report_fd, STAGE_CGROUPNS);
        }

        for (i, op) in p.plan.ops.iter().enumerate() {
            if !run_op(op) {
                fail(report_fd, i as u32);
            }
        }

        let h = &p.plan.hostname;
        if !sys(libc::syscall(libc::SYS_sethostname, h.as_ptr(), h.len())) {
            fail(report_fd, STAGE_HOSTNAME);
        }
        if p.plan.setup_loopback {
            let s = libc::syscall(
                libc::SYS_socket,
                libc::AF_INET,
                libc::SOCK_DGRAM | libc::SOCK_CLOEXEC,
                0,
            );
            if s < 0 || libc::ioctl(s as c_int, libc::SIOCSIFFLAGS, &p.ifr) < 0 {
                fail(report_fd, STAGE_LOOPBACK);
            }
            libc::close(s as c_int);
        }

        // stdin/stdout/stderr of init (and the sample's stdin): the sandbox's /dev/null.
        let null = libc::syscall(
            libc::SYS_openat,
            libc::AT_FDCWD,
            c"/dev/null".as_ptr(),
            libc::O_RDWR,
        );
        if null < 0 {
            fail(report_fd, STAGE_DEVNULL);
        }
        for target in 0..3 {
            if null as c_int != target {
                libc::syscall(libc::SYS_dup3, null, target, 0);
            }
        }
        if null > 2 {
            libc::close(null as c_int);
        }

        for (res, val) in &p.plan.rlimits {
            let lim = libc::rlimit64 {
                rlim_cur: *val,
                rlim_max: *val,
            };
            if !sys(libc::syscall(
                libc::SYS_prlimit64,
                0,
                *res,
                &lim,
                std::ptr::null::<libc::rlimit64>(),
            )) {
                fail(report_fd, STAGE_RLIMIT);
            }
        }

        // Non-dumpable: the sample (root of the same user namespace) cannot ptrace init.
        if libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0) < 0
            || libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0
        {
            fail(report_fd, STAGE_PRCTL);
        }
        let listener = libc::syscall(
            libc::SYS_seccomp,
            libc::SECCOMP_SET_MODE_FILTER,
            libc::SECCOMP_FILTER_FLAG_NEW_LISTENER,
            &p.deny,
        );
        if listener < 0 {
            fail(report_fd, STAGE_SECCOMP);
        }
        report(report_fd, MSG_LISTENER, 0, listener);
        // The host copies the listener with pidfd_getfd; keep it open until it says so.
        if libc::read(base + I_SYNC, (&raw mut byte).cast(), 1) != 1 {
            libc::_exit(122);
        }
        libc::close(base + I_SYNC);

        let pid = libc::syscall(
            libc::SYS_clone,
            libc::SIGCHLD as c_ulong,
            0usize,
            0usize,
            0usize,
            0usize,
        );
        if pid < 0 {
            fail(report_fd, STAGE_FORK);
        }
        if pid == 0 {
            sample_main(p, listener as c_int);
        }
        libc::close(base + I_RELEASE);
        libc::close(base + I_OUT);
        libc::close(base + I_ERR);
        libc::close(listener as c_int);
        report(report_fd, MSG_SAMPLE_FORKED, 0, pid);

        // Reap everything (orphans are re-parented to us) until nothing is left.
        loop {
            let mut status: c_int = 0;
            let r = libc::syscall(
                libc::SYS_wait4,
                -1,
                &mut status,
                libc::__WALL,
                std::ptr::null::<c_void>(),
            );
            if r == pid {
                report(report_fd, MSG_SAMPLE_EXITED, 0, i64::from(status));
            } else if r < 0 {
                let e = errno();
                if e == i64::from(libc::ECHILD) {
                    break;
                }
            }
        }
        libc::_exit(0)
    }
}

/// Runs in the sample's process (child of init) until `execve`.
fn sample_main(p: &Prepared<'_>, listener: c_int) -> ! {
    let base = p.fd_base;
    // SAFETY (whole function body): as in `init_main`: raw system calls on memory
    // prepared before the clone and stack buffers only.
    unsafe {
        let report_fd = 4;
        libc::close(listener);
        if libc::syscall(libc::SYS_dup3, base + I_OUT, 1, 0) < 0
            || libc::syscall(libc::SYS_dup3, base + I_ERR, 2, 0) < 0
            || libc::syscall(libc::SYS_dup3, base + I_RELEASE, 3, 0) < 0
            || libc::syscall(libc::SYS_dup3, base + I_REPORT, 4, libc::O_CLOEXEC) < 0
        {
            fail(base + I_REPORT, STAGE_SAMPLE_FDS);
        }
        libc::syscall(libc::SYS_close_range, 5u32, u32::MAX, 0u32);
        libc::syscall(libc::SYS_setsid);

        // Dispositions the host ignored (Rust ignores SIGPIPE) would survive execve.
        for sig in 1..=64 {
            if sig != libc::SIGKILL && sig != libc::SIGSTOP {
                libc::signal(sig, libc::SIG_DFL);
            }
        }
        let empty: [u64; 1] = [0];
        libc::syscall(
            libc::SYS_rt_sigprocmask,
            libc::SIG_SETMASK,
            empty.as_ptr(),
            std::ptr::null::<u64>(),
            8usize,
        );

        // Blocked here until the host releases us (after a tracer had its chance to
        // PTRACE_SEIZE). EOF means the host gave up: exit without running anything.
        let mut byte = 0u8;
        loop {
            let n = libc::read(3, (&raw mut byte).cast(), 1);
            if n == 1 {
                break;
            }
            if n < 0 && errno() == i64::from(libc::EINTR) {
                continue;
            }
            libc::_exit(126);
        }
        libc::close(3);

        // Steps that can fail run after the release, so that the host always finds
        // the blocked sample; a failure is reported in the outcome.
        // Init is non-dumpable (so the sample cannot ptrace it); the sample itself is
        // an ordinary process, and /proc/self files are only writable when dumpable.
        if libc::prctl(libc::PR_SET_DUMPABLE, 1, 0, 0, 0) < 0 {
            fail(report_fd, STAGE_PRCTL);
        }
        // Make the OOM killer prefer the sample's processes over init.
        let adj = libc::syscall(
            libc::SYS_openat,
            libc::AT_FDCWD,
            c"/proc/self/oom_score_adj".as_ptr(),
            libc::O_WRONLY | libc::O_CLOEXEC,
        );
        if adj < 0 || libc::write(adj as c_int, b"500".as_ptr().cast(), 3) != 3 {
            fail(report_fd, STAGE_OOM_ADJ);
        }
        libc::close(adj as c_int);

        if libc::chdir(p.plan.cwd.as_ptr()) < 0 {
            fail(report_fd, STAGE_CHDIR);
        }

        if let Some(extra) = &p.extra
            && libc::syscall(libc::SYS_seccomp, libc::SECCOMP_SET_MODE_FILTER, 0, extra) < 0
        {
            fail(report_fd, STAGE_EXTRA_SECCOMP);
        }
        libc::execve(p.plan.program.as_ptr(), p.argv.as_ptr(), p.envp.as_ptr());
        report(report_fd, MSG_EXEC_ERROR, 0, errno());
        libc::_exit(127)
    }
}

/// Runs one plan operation; false (errno set) on failure.
fn run_op(op: &Op) -> bool {
    let opt = |s: &Option<CString>| s.as_ref().map_or(std::ptr::null(), |c| c.as_ptr());
    // SAFETY: raw system calls on NUL-terminated strings owned by the plan.
    unsafe {
        match op {
            Op::Mount {
                src,
                target,
                fstype,
                flags,
                data,
            } => {
                libc::mount(
                    opt(src),
                    target.as_ptr(),
                    opt(fstype),
                    *flags,
                    opt(data).cast(),
                ) == 0
            }
            Op::Mkdir { path, mode } => {
                libc::mkdir(path.as_ptr(), *mode) == 0 || errno() == i64::from(libc::EEXIST)
            }
            Op::Touch { path, mode } => {
                let fd = libc::syscall(
                    libc::SYS_openat,
                    libc::AT_FDCWD,
                    path.as_ptr(),
                    libc::O_CREAT | libc::O_WRONLY | libc::O_CLOEXEC,
                    *mode,
                );
                fd >= 0 && libc::close(fd as c_int) == 0
            }
            Op::Symlink { target, link } => libc::symlink(target.as_ptr(), link.as_ptr()) == 0,
            Op::WriteFile { path, data } => {
                let fd = libc::syscall(
                    libc::SYS_openat,
                    libc::AT_FDCWD,
                    path.as_ptr(),
                    libc::O_WRONLY | libc::O_CLOEXEC,
                );
                if fd < 0 {
                    return false;
                }
                let n = libc::write(fd as c_int, data.as_ptr().cast(), data.len());
                let ok = n >= 0 && n as usize == data.len();
                libc::close(fd as c_int);
                ok
            }
            Op::PivotRoot { new_root } => {
                libc::chdir(new_root.as_ptr()) == 0
                    && libc::syscall(libc::SYS_pivot_root, c".".as_ptr(), c".".as_ptr()) == 0
                    && libc::umount2(c".".as_ptr(), libc::MNT_DETACH) == 0
                    && libc::chdir(c"/".as_ptr()) == 0
            }
        }
    }
}
