//! Thin wrappers over the raw kernel interfaces the tracer needs: ptrace,
//! waitpid, process_vm_readv and signals. All of the crate's `unsafe` that is
//! not about forking lives here (the rest is in `spawn.rs`).

use std::io;
use std::sync::Once;

/// `PTRACE_GET_SYSCALL_INFO` (Linux 5.3).
const PTRACE_GET_SYSCALL_INFO: libc::c_uint = 0x420e;
/// `ptrace_syscall_info.op` values.
pub const INFO_OP_EXIT: u8 = 2;
pub const INFO_OP_SECCOMP: u8 = 3;

/// Mirror of the kernel's `struct ptrace_syscall_info` with the union laid out
/// as raw words: entry/seccomp use `nr` + `args`, exit uses `nr` as `rval`
/// and the low byte of `args[0]` as `is_error`.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy)]
pub struct SyscallInfo {
    pub op: u8,
    pad: [u8; 3],
    pub arch: u32,
    pub instruction_pointer: u64,
    pub stack_pointer: u64,
    pub nr: u64,
    pub args: [u64; 6],
    pub ret_data: u32,
    pad2: u32,
}

impl SyscallInfo {
    /// Return value of an exit-stop info.
    pub fn rval(&self) -> i64 {
        self.nr as i64
    }
    /// Whether an exit-stop info reports an error return.
    pub fn is_error(&self) -> bool {
        self.args[0] & 0xff != 0
    }
}

fn check(ret: libc::c_long) -> io::Result<libc::c_long> {
    if ret == -1 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

/// # Safety
/// For requests that write through `data`, it must point to a live buffer of
/// the size the request writes.
unsafe fn ptrace(
    req: libc::c_uint,
    pid: i32,
    addr: usize,
    data: usize,
) -> io::Result<libc::c_long> {
    // SAFETY: forwarded to the caller's contract above.
    check(unsafe {
        libc::ptrace(
            req,
            pid,
            addr as *mut libc::c_void,
            data as *mut libc::c_void,
        )
    })
}

/// `PTRACE_SEIZE` with the given options.
pub fn seize(pid: i32, options: u32) -> io::Result<()> {
    // SAFETY: SEIZE takes the options by value in data; nothing is written.
    unsafe { ptrace(libc::PTRACE_SEIZE, pid, 0, options as usize) }.map(drop)
}

/// Resumes a stopped tracee, delivering `sig` (0 for none).
pub fn cont(pid: i32, sig: i32) -> io::Result<()> {
    // SAFETY: CONT takes the signal by value; nothing is written.
    unsafe { ptrace(libc::PTRACE_CONT, pid, 0, sig as usize) }.map(drop)
}

/// Resumes a stopped tracee until its next syscall stop.
pub fn cont_syscall(pid: i32, sig: i32) -> io::Result<()> {
    // SAFETY: SYSCALL takes the signal by value; nothing is written.
    unsafe { ptrace(libc::PTRACE_SYSCALL, pid, 0, sig as usize) }.map(drop)
}

/// Leaves a group-stopped tracee stopped but lets the tracer see SIGCONT.
pub fn listen(pid: i32) -> io::Result<()> {
    // SAFETY: LISTEN ignores addr and data.
    unsafe { ptrace(libc::PTRACE_LISTEN, pid, 0, 0) }.map(drop)
}

/// `PTRACE_GETEVENTMSG`.
pub fn event_msg(pid: i32) -> io::Result<u64> {
    let mut msg: libc::c_ulong = 0;
    // SAFETY: data points at a c_ulong owned by this frame, which is what
    // GETEVENTMSG writes.
    unsafe {
        ptrace(
            libc::PTRACE_GETEVENTMSG,
            pid,
            0,
            &mut msg as *mut libc::c_ulong as usize,
        )
    }?;
    Ok(msg as u64)
}

/// `PTRACE_GET_SYSCALL_INFO` into `info`; returns false when the kernel
/// filled less than the fixed part (should not happen on Linux >= 5.3).
pub fn syscall_info(pid: i32, info: &mut SyscallInfo) -> io::Result<bool> {
    let size = std::mem::size_of::<SyscallInfo>();
    // SAFETY: the kernel writes at most `size` (= addr) bytes into `info`,
    // which is exactly that large and mutably borrowed.
    let n = unsafe {
        ptrace(
            PTRACE_GET_SYSCALL_INFO,
            pid,
            size,
            info as *mut SyscallInfo as usize,
        )
    }?;
    Ok(n >= 24)
}

/// Signal details of a signal-delivery stop: (signo, code, sender pid).
pub fn siginfo(pid: i32) -> io::Result<(i32, i32, i32)> {
    // SAFETY: siginfo_t is plain data; all-zero is a valid value.
    let mut si: libc::siginfo_t = unsafe { std::mem::zeroed() };
    // SAFETY: GETSIGINFO writes one siginfo_t into `si`, owned by this frame.
    unsafe {
        ptrace(
            libc::PTRACE_GETSIGINFO,
            pid,
            0,
            &mut si as *mut libc::siginfo_t as usize,
        )
    }?;
    // SAFETY: si_pid reads the union member used by kill/tgkill/SIGCHLD
    // senders; for other codes it reads initialized (possibly unrelated)
    // integer data, which is harmless.
    let sender = unsafe { si.si_pid() };
    Ok((si.si_signo, si.si_code, sender))
}

/// Reads one word of tracee memory with `PTRACE_PEEKDATA`.
pub fn peek(pid: i32, addr: u64) -> io::Result<u64> {
    // PEEKDATA returns the word itself, so -1 is ambiguous: clear errno first.
    // SAFETY: __errno_location returns this thread's errno slot.
    unsafe { *libc::__errno_location() = 0 };
    // SAFETY: PEEKDATA only reads tracee memory; addr is a tracee address.
    let v = unsafe {
        libc::ptrace(
            libc::PTRACE_PEEKDATA,
            pid,
            addr as *mut libc::c_void,
            std::ptr::null_mut::<libc::c_void>(),
        )
    };
    if v == -1 {
        let e = io::Error::last_os_error();
        if e.raw_os_error().unwrap_or(0) != 0 {
            return Err(e);
        }
    }
    Ok(v as u64)
}

/// Copies tracee memory at `addr` into `buf` with one `process_vm_readv`;
/// returns the number of bytes read (short at an unmapped page).
pub fn read_mem(pid: i32, addr: u64, buf: &mut [u8]) -> io::Result<usize> {
    if buf.is_empty() {
        return Ok(0);
    }
    let local = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    let remote = libc::iovec {
        iov_base: addr as usize as *mut libc::c_void,
        iov_len: buf.len(),
    };
    // SAFETY: the local iovec covers exactly `buf`, which we borrow mutably;
    // the remote address is only interpreted in the tracee's address space.
    let n = unsafe { libc::process_vm_readv(pid, &local, 1, &remote, 1, 0) };
    check(n as libc::c_long).map(|n| n as usize)
}

/// Result of one `waitpid`.
#[derive(Debug, Clone, Copy)]
pub enum Wait {
    /// A child changed state: (pid, raw status).
    Status(i32, i32),
    /// Interrupted by a signal (the deadline wake-up).
    Interrupted,
    /// No traced or child process left.
    NoChildren,
}

/// Blocking `waitpid(-1, __WALL | __WNOTHREAD)`: only this thread's tracees
/// and children, so tracers on other threads never see each other's stops.
pub fn wait_any() -> io::Result<Wait> {
    let mut status = 0;
    // SAFETY: status is a valid out-pointer for the duration of the call.
    let pid = unsafe { libc::waitpid(-1, &mut status, libc::__WALL | libc::__WNOTHREAD) };
    if pid >= 0 {
        return Ok(Wait::Status(pid, status));
    }
    let e = io::Error::last_os_error();
    match e.raw_os_error() {
        Some(libc::EINTR) => Ok(Wait::Interrupted),
        Some(libc::ECHILD) => Ok(Wait::NoChildren),
        _ => Err(e),
    }
}

/// Non-blocking variant of [`wait_any`] for a specific pid.
pub fn wait_pid_nohang(pid: i32) -> io::Result<Option<i32>> {
    let mut status = 0;
    // SAFETY: status is a valid out-pointer for the duration of the call.
    let r = unsafe { libc::waitpid(pid, &mut status, libc::__WALL | libc::WNOHANG) };
    match r {
        0 => Ok(None),
        r if r > 0 => Ok(Some(status)),
        _ => Err(io::Error::last_os_error()),
    }
}

/// Sends SIGKILL to one thread.
pub fn kill_thread(tid: i32) {
    // SAFETY: plain syscall with integer arguments; failure (ESRCH) is fine.
    unsafe { libc::syscall(libc::SYS_tkill, tid, libc::SIGKILL) };
}

/// CPU the calling thread is running on.
pub fn current_cpu() -> io::Result<usize> {
    // SAFETY: sched_getcpu has no preconditions.
    let cpu = unsafe { libc::sched_getcpu() };
    usize::try_from(cpu).map_err(|_| io::Error::last_os_error())
}

/// Restricts thread `tid` (0: the calling thread) to CPU `cpu`.
pub fn pin_to_cpu(tid: i32, cpu: usize) -> io::Result<()> {
    if cpu >= libc::CPU_SETSIZE as usize {
        return Err(io::Error::from_raw_os_error(libc::EINVAL));
    }
    // SAFETY: cpu_set_t is a plain bit array; all-zero is the empty set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: cpu < CPU_SETSIZE (checked above), so the bit is inside `set`.
    unsafe { libc::CPU_SET(cpu, &mut set) };
    // SAFETY: `set` is a valid cpu_set_t owned by this frame, passed with its size.
    let r = unsafe { libc::sched_setaffinity(tid, std::mem::size_of::<libc::cpu_set_t>(), &set) };
    check(r as libc::c_long).map(drop)
}

/// Kernel thread id of the calling thread.
pub fn gettid() -> i32 {
    // SAFETY: gettid has no preconditions.
    unsafe { libc::gettid() }
}

/// Signal used to interrupt the tracer's blocking waitpid at the deadline.
pub fn wake_signal() -> i32 {
    libc::SIGRTMIN() + 7
}

extern "C" fn on_wake(_sig: libc::c_int) {}

/// Installs (once per process) a no-op handler for [`wake_signal`] without
/// SA_RESTART, so that delivering it makes waitpid fail with EINTR. The
/// handler stays installed: tracers on several threads share it.
pub fn install_wake_handler() -> io::Result<()> {
    static ONCE: Once = Once::new();
    let mut result = Ok(());
    ONCE.call_once(|| {
        // SAFETY: sigaction is plain data; zeroed is a valid initial value.
        let mut sa: libc::sigaction = unsafe { std::mem::zeroed() };
        sa.sa_sigaction = on_wake as extern "C" fn(libc::c_int) as usize;
        sa.sa_flags = 0;
        // SAFETY: sa.sa_mask is a valid sigset_t owned by this frame.
        unsafe { libc::sigemptyset(&mut sa.sa_mask) };
        // SAFETY: the handler is async-signal-safe (does nothing) and `sa`
        // is fully initialised.
        if unsafe { libc::sigaction(wake_signal(), &sa, std::ptr::null_mut()) } != 0 {
            result = Err(io::Error::last_os_error());
        }
    });
    result
}

/// Delivers [`wake_signal`] to thread `tid` of this process.
pub fn wake_thread(tid: i32) {
    // SAFETY: plain syscall with integer arguments; the target is a thread of
    // this process whose handler was installed by install_wake_handler.
    unsafe { libc::syscall(libc::SYS_tgkill, libc::getpid(), tid, wake_signal()) };
}

/// Makes sure the wake signal is not blocked in the calling thread.
pub fn unblock_wake_signal() {
    // SAFETY: set is a valid sigset_t owned by this frame.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, wake_signal());
        libc::pthread_sigmask(libc::SIG_UNBLOCK, &set, std::ptr::null_mut());
    }
}

/// `PTRACE_GETREGS` (x86-64 layout, also for 32-bit tracees).
pub fn regs(pid: i32) -> io::Result<libc::user_regs_struct> {
    // SAFETY: user_regs_struct is plain integers; all-zero is valid.
    let mut r: libc::user_regs_struct = unsafe { std::mem::zeroed() };
    // SAFETY: GETREGS writes one user_regs_struct into `r`, owned by this frame.
    unsafe {
        ptrace(
            libc::PTRACE_GETREGS,
            pid,
            0,
            &mut r as *mut libc::user_regs_struct as usize,
        )
    }?;
    Ok(r)
}

/// `PTRACE_SETREGS`.
pub fn set_regs(pid: i32, r: &libc::user_regs_struct) -> io::Result<()> {
    // SAFETY: SETREGS reads one user_regs_struct from `r`, borrowed for the call.
    unsafe {
        ptrace(
            libc::PTRACE_SETREGS,
            pid,
            0,
            r as *const libc::user_regs_struct as usize,
        )
    }
    .map(drop)
}

/// Writes one word of tracee memory with `PTRACE_POKEDATA`.
pub fn poke(pid: i32, addr: u64, word: u64) -> io::Result<()> {
    // SAFETY: POKEDATA takes the word by value and writes only tracee memory.
    unsafe { ptrace(libc::PTRACE_POKEDATA, pid, addr as usize, word as usize) }.map(drop)
}

/// Blocking `waitpid(tid, __WALL)`: the next state change of one tracee.
pub fn wait_tid(tid: i32) -> io::Result<i32> {
    loop {
        let mut status = 0;
        // SAFETY: status is a valid out-pointer for the duration of the call.
        let r = unsafe { libc::waitpid(tid, &mut status, libc::__WALL) };
        if r == tid {
            return Ok(status);
        }
        let e = io::Error::last_os_error();
        if e.raw_os_error() != Some(libc::EINTR) {
            return Err(e);
        }
    }
}

/// Fallback for kernels without `PTRACE_GET_SYSCALL_INFO` (< 5.3): fills
/// `info` from the registers as an entry (`exit` false, op SECCOMP) or exit
/// (op EXIT) view. The ABI comes from the code segment (0x23: 32-bit), so an
/// `int 0x80` from 64-bit code is misread as x86-64: one reason the real
/// request is preferred.
pub fn syscall_info_from_regs(pid: i32, info: &mut SyscallInfo, exit: bool) -> io::Result<()> {
    const CS_32: u64 = 0x23;
    let r = regs(pid)?;
    let compat = r.cs == CS_32;
    info.arch = if compat {
        crate::arch::AUDIT_ARCH_I386
    } else {
        crate::arch::AUDIT_ARCH_X86_64
    };
    info.instruction_pointer = r.rip;
    info.stack_pointer = r.rsp;
    if exit {
        info.op = INFO_OP_EXIT;
        let rval = if compat {
            r.rax as u32 as i32 as i64
        } else {
            r.rax as i64
        };
        info.nr = rval as u64;
        info.args = [0; 6];
        info.args[0] = u64::from((-4095..0).contains(&rval));
    } else {
        info.op = INFO_OP_SECCOMP;
        info.nr = r.orig_rax;
        info.args = if compat {
            [r.rbx, r.rcx, r.rdx, r.rsi, r.rdi, r.rbp].map(|v| v & 0xffff_ffff)
        } else {
            [r.rdi, r.rsi, r.rdx, r.r10, r.r8, r.r9]
        };
    }
    Ok(())
}
