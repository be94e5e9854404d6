//! Reopening a descriptor of a new process before it runs, by executing system
//! calls in the tracee on the tracer's behalf (x86-64 tracees).
//!
//! Why: processes that inherit one descriptor share one open file, and a reader of
//! that file (a FIFO several emulator processes log to) cannot tell whose bytes are
//! whose. A forked child given its own file at its first stop writes only there.

use std::ffi::CString;

use crate::sys::{self, INFO_OP_EXIT, SyscallInfo};

/// A request to reopen descriptor `fd` of a new process on `path` (write-only, as
/// seen from that process), made by [`Sink::new_process`](crate::Sink::new_process).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Redirect {
    /// The descriptor to replace; it keeps its number and loses nothing else.
    pub fd: i32,
    /// The file to open in its place.
    pub path: CString,
}

/// Why a redirect was not carried out.
#[derive(Debug)]
pub(crate) enum InjectError {
    /// The tracee died meanwhile (raw wait status, for the death report).
    Died(i32),
    /// The tracee is unchanged but for what the message says.
    Failed(String),
}

const SYS_CLOSE: u64 = 3;
const SYS_OPENAT: u64 = 257;
const SYS_DUP3: u64 = 292;
/// Code segment of 64-bit user code.
const CS_64: u64 = 0x33;
/// `syscall` (0f 05) as the low half of a little-endian word.
const SYSCALL_INSN: u64 = 0x050f;

fn failed(what: &str) -> impl Fn(std::io::Error) -> InjectError + '_ {
    move |e| InjectError::Failed(format!("{what}: {e}"))
}

/// Carries out `r` in `tid`, stopped at its first stop after a fork (so its
/// instruction pointer follows the `syscall` that created it). Registers are
/// restored afterwards; a signal that arrived meanwhile is returned, to be
/// delivered when the tracee is resumed.
pub(crate) fn redirect(tid: i32, r: &Redirect) -> Result<i32, InjectError> {
    let saved = sys::regs(tid).map_err(failed("PTRACE_GETREGS"))?;
    if saved.cs != CS_64 {
        return Err(InjectError::Failed("not a 64-bit process".into()));
    }
    let at = saved.rip.wrapping_sub(2);
    let word = sys::peek(tid, at).map_err(failed("reading the code"))?;
    if word & 0xffff != SYSCALL_INSN {
        return Err(InjectError::Failed(
            "not stopped after a syscall instruction".into(),
        ));
    }
    // The path goes well below the stack pointer (past the 128-byte red zone), in
    // stack the process is not using.
    let bytes = r.path.as_bytes_with_nul();
    let addr = saved.rsp.wrapping_sub(1024 + bytes.len() as u64) & !7;
    for (i, chunk) in bytes.chunks(8).enumerate() {
        let mut w = [0u8; 8];
        if let Some(dst) = w.get_mut(..chunk.len()) {
            dst.copy_from_slice(chunk);
        }
        sys::poke(tid, addr + 8 * i as u64, u64::from_ne_bytes(w))
            .map_err(failed("writing the path"))?;
    }
    let mut sig = 0;
    let result = reopen(tid, &saved, at, addr, r, &mut sig);
    if let Err(InjectError::Died(st)) = result {
        return Err(InjectError::Died(st));
    }
    sys::set_regs(tid, &saved).map_err(failed("restoring the registers"))?;
    result.map(|()| sig)
}

fn reopen(
    tid: i32,
    saved: &libc::user_regs_struct,
    at: u64,
    path: u64,
    r: &Redirect,
    sig: &mut i32,
) -> Result<(), InjectError> {
    let flags = (libc::O_WRONLY | libc::O_CLOEXEC) as u64;
    let at_fdcwd = libc::AT_FDCWD as i64 as u64;
    let fd = call(
        tid,
        saved,
        at,
        SYS_OPENAT,
        [at_fdcwd, path, flags, 0, 0, 0],
        sig,
    )?;
    if fd < 0 {
        return Err(InjectError::Failed(format!(
            "openat {:?}: {}",
            r.path,
            std::io::Error::from_raw_os_error(-fd as i32)
        )));
    }
    // dup3 without flags: the copy is not close-on-exec, like the descriptor it
    // replaces.
    let dup = call(
        tid,
        saved,
        at,
        SYS_DUP3,
        [fd as u64, r.fd as u64, 0, 0, 0, 0],
        sig,
    )?;
    call(tid, saved, at, SYS_CLOSE, [fd as u64, 0, 0, 0, 0, 0], sig)?;
    if dup < 0 {
        return Err(InjectError::Failed(format!(
            "dup3 onto {}: {}",
            r.fd,
            std::io::Error::from_raw_os_error(-dup as i32)
        )));
    }
    Ok(())
}

/// Runs one system call in the stopped tracee and returns its raw result
/// (negative errno on failure). Seccomp stops on the way are passed; other
/// signals are held in `sig`.
fn call(
    tid: i32,
    saved: &libc::user_regs_struct,
    at: u64,
    nr: u64,
    args: [u64; 6],
    sig: &mut i32,
) -> Result<i64, InjectError> {
    let mut r = *saved;
    r.rax = nr;
    // No syscall to restart: the kernel must not rewind what we set up.
    r.orig_rax = u64::MAX;
    r.rip = at;
    [r.rdi, r.rsi, r.rdx, r.r10, r.r8, r.r9] = args;
    sys::set_regs(tid, &r).map_err(failed("PTRACE_SETREGS"))?;
    let mut entered = false;
    loop {
        sys::cont_syscall(tid, 0).map_err(failed("PTRACE_SYSCALL"))?;
        let st = sys::wait_tid(tid).map_err(failed("waitpid"))?;
        if libc::WIFEXITED(st) || libc::WIFSIGNALED(st) {
            return Err(InjectError::Died(st));
        }
        if !libc::WIFSTOPPED(st) {
            continue;
        }
        let s = libc::WSTOPSIG(st);
        let event = (st >> 16) & 0xff;
        if s == libc::SIGTRAP | 0x80 {
            let mut info = SyscallInfo::default();
            let exit = match sys::syscall_info(tid, &mut info) {
                Ok(true) => info.op == INFO_OP_EXIT,
                // Without GET_SYSCALL_INFO: entry comes first, then exit.
                _ => entered,
            };
            if exit {
                let regs = sys::regs(tid).map_err(failed("PTRACE_GETREGS"))?;
                return Ok(regs.rax as i64);
            }
            entered = true;
        } else if event == 0 && s != libc::SIGTRAP {
            // A signal for the process: delivered once it runs its own code again.
            *sig = s;
        }
    }
}
