//! Argument decoding for the traced syscalls of both ABIs.

use crate::arch::Arch;
use crate::flags::{Sym, SymKind};
use crate::sys;
use crate::value::{ArgValue, Bytes, SockAddr, StrList};
use std::sync::OnceLock;

/// Bounds on what is copied out of the tracee for one syscall.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Longest string or path kept, in bytes (longer ones are cut and marked).
    pub max_str: usize,
    /// Most argv / envp items kept.
    pub max_items: usize,
    /// Longest argv / envp item kept.
    pub max_item_len: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_str: 4096,
            max_items: 256,
            max_item_len: 4096,
        }
    }
}

/// How one argument is decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum K {
    /// Signed integer of the ABI's `long` width (or `int` when `i` below).
    I,
    /// Unsigned size/count.
    U,
    /// Pointer / opaque.
    X,
    /// 32-bit signed (`int`) value: fds, pids, uids.
    Int,
    /// Symbolic constant.
    S(SymKind),
    /// Socket protocol; the domain is argument 0.
    Proto,
    /// NUL-terminated path or string.
    P,
    /// Byte buffer whose length is the given argument.
    Buf(usize),
    /// `struct sockaddr *` whose length is the given argument.
    Addr(usize),
    /// `char *const[]`.
    Argv,
    /// `struct clone_args *` whose size is the given argument.
    Clone3(usize),
    /// `struct open_how *` whose size is the given argument.
    OpenHow(usize),
    /// `struct msghdr *` (its destination address is decoded).
    MsgHdr,
}

type Spec = &'static [(&'static str, K)];

use K::*;
use SymKind as Sk;

const SIG: K = S(Sk::Signal);
const DFD: K = S(Sk::DirFd);
const MODE: K = S(Sk::Mode);
const AT: K = S(Sk::At);

/// Argument layout of `name` in `arch`, or `None` when it is not decoded
/// (its raw arguments are still recorded).
fn spec(arch: Arch, name: &str) -> Option<Spec> {
    Some(match name {
        "execve" => &[("filename", P), ("argv", Argv), ("envp", Argv)],
        "execveat" => &[
            ("dirfd", DFD),
            ("pathname", P),
            ("argv", Argv),
            ("envp", Argv),
            ("flags", AT),
        ],
        "clone" if arch == Arch::I386 => &[
            ("flags", S(Sk::Clone)),
            ("stack", X),
            ("parent_tid", X),
            ("tls", X),
            ("child_tid", X),
        ],
        "clone" => &[
            ("flags", S(Sk::Clone)),
            ("stack", X),
            ("parent_tid", X),
            ("child_tid", X),
            ("tls", X),
        ],
        "clone3" => &[("args", Clone3(1)), ("size", U)],
        "fork" | "vfork" | "setsid" => &[],
        "exit" | "exit_group" => &[("status", Int)],
        "kill" => &[("pid", Int), ("sig", SIG)],
        "tkill" => &[("tid", Int), ("sig", SIG)],
        "tgkill" => &[("tgid", Int), ("tid", Int), ("sig", SIG)],
        "rt_sigqueueinfo" => &[("tgid", Int), ("sig", SIG), ("info", X)],
        "rt_tgsigqueueinfo" => &[("tgid", Int), ("tid", Int), ("sig", SIG), ("info", X)],
        "setpgid" => &[("pid", Int), ("pgid", Int)],
        "prctl" => &[
            ("option", S(Sk::Prctl)),
            ("arg2", X),
            ("arg3", X),
            ("arg4", X),
            ("arg5", X),
        ],
        "ptrace" => &[
            ("request", S(Sk::Ptrace)),
            ("pid", Int),
            ("addr", X),
            ("data", X),
        ],
        "pidfd_open" => &[("pid", Int), ("flags", X)],
        "pidfd_send_signal" => &[("pidfd", Int), ("sig", SIG), ("info", X), ("flags", X)],
        "pidfd_getfd" => &[("pidfd", Int), ("targetfd", Int), ("flags", X)],
        "unshare" => &[("flags", S(Sk::Clone))],
        "setns" => &[("fd", Int), ("nstype", S(Sk::Clone))],
        "seccomp" => &[("op", U), ("flags", X), ("args", X)],
        "personality" => &[("persona", X)],
        "process_vm_readv" | "process_vm_writev" => &[
            ("pid", Int),
            ("local_iov", X),
            ("liovcnt", U),
            ("remote_iov", X),
            ("riovcnt", U),
            ("flags", X),
        ],
        "chroot" | "acct" | "swapoff" => &[("path", P)],
        "pivot_root" => &[("new_root", P), ("put_old", P)],
        "open" => &[("name", P), ("flags", S(Sk::Open)), ("mode", MODE)],
        "openat" => &[
            ("dirfd", DFD),
            ("name", P),
            ("flags", S(Sk::Open)),
            ("mode", MODE),
        ],
        "openat2" => &[
            ("dirfd", DFD),
            ("name", P),
            ("how", OpenHow(3)),
            ("size", U),
        ],
        "creat" => &[("name", P), ("mode", MODE)],
        "mkdir" => &[("path", P), ("mode", MODE)],
        "chmod" => &[("filename", P), ("mode", MODE)],
        "unlink" | "rmdir" | "umount" => &[("path", P)],
        "unlinkat" => &[("dirfd", DFD), ("name", P), ("flags", AT)],
        "rename" | "link" => &[("oldpath", P), ("newpath", P)],
        "symlink" => &[("target", P), ("linkpath", P)],
        "renameat" => &[
            ("olddirfd", DFD),
            ("oldpath", P),
            ("newdirfd", DFD),
            ("newpath", P),
        ],
        "renameat2" => &[
            ("olddirfd", DFD),
            ("oldpath", P),
            ("newdirfd", DFD),
            ("newpath", P),
            ("flags", S(Sk::Rename)),
        ],
        "linkat" => &[
            ("olddirfd", DFD),
            ("oldpath", P),
            ("newdirfd", DFD),
            ("newpath", P),
            ("flags", AT),
        ],
        "symlinkat" => &[("target", P), ("newdirfd", DFD), ("linkpath", P)],
        "mkdirat" => &[("dirfd", DFD), ("path", P), ("mode", MODE)],
        "fchmodat" => &[("dirfd", DFD), ("filename", P), ("mode", MODE)],
        "fchmodat2" => &[
            ("dirfd", DFD),
            ("filename", P),
            ("mode", MODE),
            ("flags", AT),
        ],
        "fchmod" => &[("fd", Int), ("mode", MODE)],
        "chown" | "lchown" | "chown32" | "lchown32" => {
            &[("pathname", P), ("owner", Int), ("group", Int)]
        }
        "fchown" | "fchown32" => &[("fd", Int), ("owner", Int), ("group", Int)],
        "fchownat" => &[
            ("dirfd", DFD),
            ("pathname", P),
            ("owner", Int),
            ("group", Int),
            ("flags", AT),
        ],
        "truncate" | "truncate64" => &[("path", P), ("length", I)],
        "ftruncate" | "ftruncate64" => &[("fd", Int), ("length", I)],
        "mknod" => &[("pathname", P), ("mode", MODE), ("dev", X)],
        "mknodat" => &[("dirfd", DFD), ("pathname", P), ("mode", MODE), ("dev", X)],
        "memfd_create" => &[("name", P), ("flags", S(Sk::Memfd))],
        "memfd_secret" | "userfaultfd" => &[("flags", X)],
        "mount" => &[
            ("source", P),
            ("target", P),
            ("fstype", P),
            ("flags", S(Sk::Mount)),
            ("data", X),
        ],
        "umount2" => &[("target", P), ("flags", S(Sk::Umount))],
        "fsopen" => &[("fsname", P), ("flags", X)],
        "fsmount" => &[("fs_fd", Int), ("flags", X), ("attr_flags", X)],
        "move_mount" => &[
            ("from_dirfd", DFD),
            ("from_path", P),
            ("to_dirfd", DFD),
            ("to_path", P),
            ("flags", X),
        ],
        "open_tree" => &[("dirfd", DFD), ("filename", P), ("flags", X)],
        "name_to_handle_at" => &[
            ("dirfd", DFD),
            ("pathname", P),
            ("handle", X),
            ("mount_id", X),
            ("flags", AT),
        ],
        "open_by_handle_at" => &[("mount_fd", Int), ("handle", X), ("flags", S(Sk::Open))],
        "utime" | "utimes" => &[("filename", P), ("times", X)],
        "futimesat" => &[("dirfd", DFD), ("filename", P), ("times", X)],
        "utimensat" | "utimensat_time64" => {
            &[("dirfd", DFD), ("pathname", P), ("times", X), ("flags", AT)]
        }
        "socket" => &[
            ("domain", S(Sk::Domain)),
            ("type", S(Sk::SockType)),
            ("proto", Proto),
        ],
        "socketpair" => &[
            ("domain", S(Sk::Domain)),
            ("type", S(Sk::SockType)),
            ("proto", Proto),
            ("sv", X),
        ],
        "connect" | "bind" => &[("fd", Int), ("addr", Addr(2)), ("addrlen", U)],
        "listen" => &[("fd", Int), ("backlog", Int)],
        "accept" => &[("fd", Int), ("addr", X), ("addrlen", X)],
        "accept4" => &[
            ("fd", Int),
            ("addr", X),
            ("addrlen", X),
            ("flags", S(Sk::SockType)),
        ],
        "sendto" => &[
            ("fd", Int),
            ("buf", X),
            ("len", U),
            ("flags", S(Sk::Msg)),
            ("addr", Addr(5)),
            ("addrlen", U),
        ],
        "sendmsg" => &[("fd", Int), ("msg", MsgHdr), ("flags", S(Sk::Msg))],
        "socketcall" => &[("call", U), ("args", X)],
        "sendmmsg" => &[
            ("fd", Int),
            ("msgvec", X),
            ("vlen", U),
            ("flags", S(Sk::Msg)),
        ],
        "mmap" if arch == Arch::I386 => &[("args", X)],
        "mmap" => &[
            ("addr", X),
            ("length", U),
            ("prot", S(Sk::Prot)),
            ("flags", S(Sk::Map)),
            ("fd", Int),
            ("offset", X),
        ],
        "mmap2" => &[
            ("addr", X),
            ("length", U),
            ("prot", S(Sk::Prot)),
            ("flags", S(Sk::Map)),
            ("fd", Int),
            ("pgoffset", X),
        ],
        "mprotect" => &[("addr", X), ("length", U), ("prot", S(Sk::Prot))],
        "pkey_mprotect" => &[
            ("addr", X),
            ("length", U),
            ("prot", S(Sk::Prot)),
            ("pkey", Int),
        ],
        "setuid" | "setuid32" | "setfsuid" | "setfsuid32" => &[("uid", Int)],
        "setgid" | "setgid32" | "setfsgid" | "setfsgid32" => &[("gid", Int)],
        "setreuid" | "setreuid32" => &[("ruid", Int), ("euid", Int)],
        "setregid" | "setregid32" => &[("rgid", Int), ("egid", Int)],
        "setresuid" | "setresuid32" => &[("ruid", Int), ("euid", Int), ("suid", Int)],
        "setresgid" | "setresgid32" => &[("rgid", Int), ("egid", Int), ("sgid", Int)],
        "setgroups" | "setgroups32" => &[("size", Int), ("list", X)],
        "capset" => &[("header", X), ("data", X)],
        "shmget" => &[("key", X), ("size", U), ("shmflg", S(Sk::Ipc))],
        "shmat" => &[("shmid", Int), ("shmaddr", X), ("shmflg", X)],
        "shmctl" => &[("shmid", Int), ("cmd", Int), ("buf", X)],
        "msgget" => &[("key", X), ("msgflg", S(Sk::Ipc))],
        "semget" => &[("key", X), ("nsems", Int), ("semflg", S(Sk::Ipc))],
        "ipc" => &[
            ("call", U),
            ("first", Int),
            ("second", Int),
            ("third", Int),
            ("ptr", X),
            ("fifth", X),
        ],
        "mq_open" => &[
            ("name", P),
            ("oflag", S(Sk::Open)),
            ("mode", MODE),
            ("attr", X),
        ],
        "mq_unlink" => &[("name", P)],
        "init_module" => &[("image", X), ("len", U), ("param_values", P)],
        "finit_module" => &[("fd", Int), ("param_values", P), ("flags", X)],
        "delete_module" => &[("name", P), ("flags", S(Sk::Open))],
        "bpf" => &[("cmd", Int), ("attr", X), ("size", U)],
        "kexec_load" => &[
            ("entry", X),
            ("nr_segments", U),
            ("segments", X),
            ("flags", X),
        ],
        "kexec_file_load" => &[
            ("kernel_fd", Int),
            ("initrd_fd", Int),
            ("cmdline_len", U),
            ("cmdline", P),
            ("flags", X),
        ],
        "perf_event_open" => &[
            ("attr", X),
            ("pid", Int),
            ("cpu", Int),
            ("group_fd", Int),
            ("flags", X),
        ],
        "reboot" => &[("magic1", X), ("magic2", X), ("cmd", X), ("arg", X)],
        "swapon" => &[("path", P), ("flags", X)],
        "iopl" => &[("level", Int)],
        "ioperm" => &[("from", X), ("num", U), ("turn_on", Int)],
        "syslog" => &[("type", Int), ("buf", X), ("len", Int)],
        "sethostname" | "setdomainname" => &[("name", Buf(1)), ("len", U)],
        "settimeofday" => &[("tv", X), ("tz", X)],
        "clock_settime" | "clock_settime64" => &[("clockid", Int), ("tp", X)],
        "adjtimex" => &[("buf", X)],
        "clock_adjtime" | "clock_adjtime64" => &[("clockid", Int), ("buf", X)],
        "stime" => &[("t", X)],
        "quotactl" => &[("cmd", X), ("special", P), ("id", Int), ("addr", X)],
        "io_uring_setup" => &[("entries", U), ("params", X)],
        "keyctl" => &[
            ("option", Int),
            ("arg2", X),
            ("arg3", X),
            ("arg4", X),
            ("arg5", X),
        ],
        "add_key" => &[
            ("type", P),
            ("description", P),
            ("payload", X),
            ("plen", U),
            ("keyring", Int),
        ],
        "request_key" => &[
            ("type", P),
            ("description", P),
            ("callout_info", P),
            ("dest_keyring", Int),
        ],
        // Common fd syscalls, decoded when traced (--trace-all or custom sets).
        "read" | "write" | "pread64" | "pwrite64" => &[("fd", Int), ("buf", X), ("size", U)],
        "readv" | "writev" => &[("fd", Int), ("iov", X), ("iovcnt", U)],
        "close" | "fchdir" | "fsync" | "fdatasync" | "dup" | "syncfs" => &[("fd", Int)],
        "dup2" => &[("oldfd", Int), ("newfd", Int)],
        "dup3" => &[("oldfd", Int), ("newfd", Int), ("flags", S(Sk::Open))],
        "pipe" => &[("fds", X)],
        "pipe2" => &[("fds", X), ("flags", S(Sk::Open))],
        "chdir" => &[("path", P)],
        "fstat" | "fstat64" => &[("fd", Int), ("statbuf", X)],
        "lseek" => &[("fd", Int), ("offset", I), ("whence", Int)],
        "fcntl" | "fcntl64" => &[("fd", Int), ("cmd", Int), ("arg", X)],
        "ioctl" => &[("fd", Int), ("request", X), ("arg", X)],
        "recvfrom" => &[
            ("fd", Int),
            ("buf", X),
            ("size", U),
            ("flags", S(Sk::Msg)),
            ("addr", X),
            ("addrlen", X),
        ],
        "recvmsg" => &[("fd", Int), ("msg", X), ("flags", S(Sk::Msg))],
        "shutdown" => &[("fd", Int), ("how", Int)],
        "getdents64" | "getdents" => &[("fd", Int), ("dirp", X), ("count", U)],
        "access" => &[("pathname", P), ("mode", Int)],
        "faccessat" | "faccessat2" => &[("dirfd", DFD), ("pathname", P), ("mode", Int)],
        "stat" | "lstat" | "stat64" | "lstat64" => &[("path", P), ("statbuf", X)],
        "newfstatat" | "fstatat64" => &[("dirfd", DFD), ("path", P), ("statbuf", X), ("flags", AT)],
        "statx" => &[
            ("dirfd", DFD),
            ("path", P),
            ("flags", AT),
            ("mask", X),
            ("statxbuf", X),
        ],
        "readlink" => &[("path", P), ("buf", X), ("bufsiz", U)],
        "readlinkat" => &[("dirfd", DFD), ("path", P), ("buf", X), ("bufsiz", U)],
        "wait4" => &[("pid", Int), ("status", X), ("options", X), ("rusage", X)],
        _ => return None,
    })
}

/// i386 `socketcall` sub-call number to the matching direct syscall name.
pub(crate) fn socketcall_name(call: u64) -> Option<&'static str> {
    Some(match call {
        1 => "socket",
        2 => "bind",
        3 => "connect",
        4 => "listen",
        5 => "accept",
        8 => "socketpair",
        11 => "sendto",
        16 => "sendmsg",
        18 => "accept4",
        20 => "sendmmsg",
        _ => return None,
    })
}

/// Per-ABI table from syscall number to spec, built once.
fn spec_table(arch: Arch) -> &'static [Option<Spec>] {
    static TABLES: OnceLock<[Vec<Option<Spec>>; 3]> = OnceLock::new();
    let t =
        TABLES.get_or_init(|| Arch::ALL.map(|a| a.table().iter().map(|n| spec(a, n)).collect()));
    match t.get(arch.index()) {
        Some(v) => v,
        None => &[],
    }
}

/// Reads tracee memory, reusing one scratch buffer across calls.
#[derive(Debug)]
pub(crate) struct Mem {
    pid: i32,
    scratch: Vec<u8>,
    /// Set once process_vm_readv is found unusable (e.g. EPERM, ENOSYS).
    peek_only: bool,
}

const PAGE: u64 = 4096;

impl Mem {
    pub(crate) fn new() -> Self {
        Mem {
            pid: 0,
            scratch: vec![0; PAGE as usize],
            peek_only: false,
        }
    }

    pub(crate) fn set_pid(&mut self, pid: i32) {
        self.pid = pid;
    }

    /// Reads up to `out.len()` bytes at `addr`; returns bytes read, stopping
    /// early at unreadable memory. Err only if nothing could be read.
    fn read(&mut self, addr: u64, out: &mut [u8]) -> Result<usize, i32> {
        if !self.peek_only {
            match sys::read_mem(self.pid, addr, out) {
                Ok(n) => return Ok(n),
                Err(e) => {
                    let code = e.raw_os_error().unwrap_or(libc::EIO);
                    if code == libc::EFAULT || code == libc::ESRCH {
                        return Err(code);
                    }
                    self.peek_only = true;
                }
            }
        }
        let mut done = 0;
        while done < out.len() {
            let a = addr + done as u64;
            let aligned = a & !7;
            let word = match sys::peek(self.pid, aligned) {
                Ok(w) => w.to_ne_bytes(),
                Err(e) if done == 0 => return Err(e.raw_os_error().unwrap_or(libc::EIO)),
                Err(_) => break,
            };
            let skip = (a - aligned) as usize;
            for &b in word.iter().skip(skip) {
                match out.get_mut(done) {
                    Some(slot) => *slot = b,
                    None => break,
                }
                done += 1;
            }
        }
        Ok(done)
    }

    /// NUL-terminated string at `addr`, at most `max` bytes kept.
    pub(crate) fn string(&mut self, addr: u64, max: usize) -> ArgValue {
        if addr == 0 {
            return ArgValue::Null;
        }
        match self.string_bytes(addr, max) {
            Ok(b) => ArgValue::Str(b),
            Err(e) => ArgValue::Fault(addr, e),
        }
    }

    fn string_bytes(&mut self, addr: u64, max: usize) -> Result<Bytes, i32> {
        let mut data = Vec::new();
        let mut at = addr;
        let mut scratch = std::mem::take(&mut self.scratch);
        let result = loop {
            // Never cross a page in one read: the next page may be unmapped.
            let room = (PAGE - at % PAGE) as usize;
            let want = room.min(max + 1 - data.len()).min(scratch.len());
            let Some(buf) = scratch.get_mut(..want) else {
                break Ok(false);
            };
            let n = match self.read(at, buf) {
                Ok(n) => n,
                Err(e) if data.is_empty() => break Err(e),
                Err(_) => break Ok(true),
            };
            let got = buf.get(..n).unwrap_or(&[]);
            if let Some(end) = got.iter().position(|&c| c == 0) {
                data.extend_from_slice(got.get(..end).unwrap_or(&[]));
                break Ok(data.len() > max);
            }
            data.extend_from_slice(got);
            if data.len() > max {
                break Ok(true);
            }
            if n < want {
                // Unreadable before the terminator.
                break Ok(true);
            }
            at += n as u64;
        };
        self.scratch = scratch;
        let truncated = result?;
        data.truncate(max);
        Ok(Bytes { data, truncated })
    }

    /// `len` raw bytes at `addr` (bounded by the caller).
    pub(crate) fn bytes(&mut self, addr: u64, len: usize) -> Result<Vec<u8>, i32> {
        let mut v = vec![0u8; len];
        let n = self.read(addr, &mut v)?;
        v.truncate(n);
        Ok(v)
    }

    /// NULL-terminated pointer array (argv/envp) read with one bulk read.
    pub(crate) fn str_list(&mut self, addr: u64, word: usize, lim: &Limits) -> ArgValue {
        if addr == 0 {
            return ArgValue::Null;
        }
        // One extra slot tells whether the list was longer than the bound.
        let raw = match self.bytes(addr, (lim.max_items + 1) * word) {
            Ok(r) => r,
            Err(e) => return ArgValue::Fault(addr, e),
        };
        let mut ptrs = Vec::with_capacity(16);
        let mut terminated = false;
        for chunk in raw.chunks_exact(word) {
            let p = match *chunk {
                [a, b, c, d] => u32::from_ne_bytes([a, b, c, d]) as u64,
                [a, b, c, d, e, f, g, h] => u64::from_ne_bytes([a, b, c, d, e, f, g, h]),
                _ => 0,
            };
            if p == 0 {
                terminated = true;
                break;
            }
            ptrs.push(p);
        }
        let mut truncated = !terminated;
        if ptrs.len() > lim.max_items {
            ptrs.truncate(lim.max_items);
            truncated = true;
        }
        let mut items = Vec::with_capacity(ptrs.len());
        for p in ptrs {
            match self.string_bytes(p, lim.max_item_len) {
                Ok(b) => items.push(b),
                Err(_) => {
                    truncated = true;
                    break;
                }
            }
        }
        ArgValue::StrList(StrList { items, truncated })
    }

    fn sockaddr(&mut self, addr: u64, len: u64) -> ArgValue {
        if addr == 0 {
            return ArgValue::Null;
        }
        let n = (len as usize).min(128);
        match self.bytes(addr, n) {
            Ok(b) => match parse_sockaddr(&b) {
                Some(sa) => ArgValue::SockAddr(sa),
                None => ArgValue::Hex(addr),
            },
            Err(e) => ArgValue::Fault(addr, e),
        }
    }
}

fn u16_at(b: &[u8], o: usize) -> Option<u16> {
    Some(u16::from_ne_bytes(b.get(o..o + 2)?.try_into().ok()?))
}
fn u32_at(b: &[u8], o: usize) -> Option<u32> {
    Some(u32::from_ne_bytes(b.get(o..o + 4)?.try_into().ok()?))
}
fn u64_at(b: &[u8], o: usize) -> Option<u64> {
    Some(u64::from_ne_bytes(b.get(o..o + 8)?.try_into().ok()?))
}

/// Parses a `struct sockaddr` of the given bytes; `None` if too short.
pub fn parse_sockaddr(b: &[u8]) -> Option<SockAddr> {
    let family = u16_at(b, 0)?;
    Some(match family as i32 {
        libc::AF_INET => SockAddr::Inet {
            port: u16::from_be_bytes(b.get(2..4)?.try_into().ok()?),
            addr: b.get(4..8)?.try_into().ok()?,
        },
        libc::AF_INET6 => SockAddr::Inet6 {
            port: u16::from_be_bytes(b.get(2..4)?.try_into().ok()?),
            flowinfo: u32::from_be_bytes(b.get(4..8)?.try_into().ok()?),
            addr: b.get(8..24)?.try_into().ok()?,
            scope_id: u32_at(b, 24).unwrap_or(0),
        },
        libc::AF_UNIX => {
            let path = b.get(2..).unwrap_or(&[]);
            match path.first() {
                // Abstract: the name is every byte after the NUL, up to addrlen.
                Some(0) if path.len() > 1 => SockAddr::Unix {
                    path: path.get(1..).unwrap_or(&[]).to_vec(),
                    abstract_ns: true,
                },
                _ => {
                    let end = path.iter().position(|&c| c == 0).unwrap_or(path.len());
                    SockAddr::Unix {
                        path: path.get(..end).unwrap_or(&[]).to_vec(),
                        abstract_ns: false,
                    }
                }
            }
        }
        libc::AF_NETLINK => SockAddr::Netlink {
            pid: u32_at(b, 4)?,
            groups: u32_at(b, 8)?,
        },
        libc::AF_PACKET => {
            let halen = (*b.get(11)?).min(8) as usize;
            SockAddr::Packet {
                protocol: u16::from_be_bytes(b.get(2..4)?.try_into().ok()?),
                ifindex: i32::from_ne_bytes(b.get(4..8)?.try_into().ok()?),
                hatype: u16_at(b, 8)?,
                pkttype: *b.get(10)?,
                addr: b.get(12..12 + halen).unwrap_or(&[]).to_vec(),
            }
        }
        _ => SockAddr::Other {
            family,
            data: b.get(2..).unwrap_or(&[]).to_vec(),
        },
    })
}

/// Decodes the entry arguments of syscall `nr` (raw number) in `arch`.
/// Returns an empty list for syscalls without a spec.
pub(crate) fn decode_args(
    arch: Arch,
    nr: u64,
    raw: &[u64; 6],
    mem: &mut Mem,
    lim: &Limits,
) -> Vec<(&'static str, ArgValue)> {
    let Some(Some(spec)) = spec_table(arch).get(arch.slot(nr)) else {
        return Vec::new();
    };
    if arch == Arch::I386 && arch.syscall_name(nr) == Some("socketcall") {
        return decode_socketcall(raw, mem, lim);
    }
    let mut out = Vec::with_capacity(spec.len());
    decode_with(arch, spec, raw, mem, lim, &mut out);
    // PR_SET_NAME's argument is the new name, a string.
    if spec.first().map(|s| s.1) == Some(S(Sk::Prctl))
        && raw[0] == libc::PR_SET_NAME as u64
        && let Some(slot) = out.get_mut(1)
    {
        *slot = ("name", mem.string(raw[1], 16));
    }
    out
}

/// Decodes what a syscall wrote back, after a successful return: the peer
/// address of `accept`/`accept4` (replacing the `addr` pointer).
pub(crate) fn decode_exit(
    name: &str,
    raw: &[u64; 6],
    args: &mut [(&'static str, ArgValue)],
    mem: &mut Mem,
) {
    if !matches!(name, "accept" | "accept4") || raw[1] == 0 || raw[2] == 0 {
        return;
    }
    let Ok(len) = mem.bytes(raw[2], 4) else {
        return;
    };
    let Some(len) = u32_at(&len, 0) else {
        return;
    };
    let value = mem.sockaddr(raw[1], len as u64);
    if let Some(slot) = args.iter_mut().find(|(n, _)| *n == "addr") {
        slot.1 = value;
    }
}

fn decode_socketcall(raw: &[u64; 6], mem: &mut Mem, lim: &Limits) -> Vec<(&'static str, ArgValue)> {
    let call = raw[0];
    let mut out = vec![(
        "call",
        ArgValue::Sym(Sym {
            kind: Sk::SocketCall,
            value: call,
        }),
    )];
    let Some(sub) = socketcall_name(call).and_then(|n| spec(Arch::I386, n)) else {
        out.push(("args", ArgValue::Hex(raw[1])));
        return out;
    };
    let mut args = [0u64; 6];
    match mem.bytes(raw[1], sub.len() * 4) {
        Ok(b) => {
            for (slot, chunk) in args.iter_mut().zip(b.chunks_exact(4)) {
                *slot = u32_at(chunk, 0).unwrap_or(0) as u64;
            }
        }
        Err(e) => {
            out.push(("args", ArgValue::Fault(raw[1], e)));
            return out;
        }
    }
    decode_with(Arch::I386, sub, &args, mem, lim, &mut out);
    out
}

fn decode_with(
    arch: Arch,
    spec: Spec,
    raw: &[u64; 6],
    mem: &mut Mem,
    lim: &Limits,
    out: &mut Vec<(&'static str, ArgValue)>,
) {
    let word = arch.word_size();
    let arg = |i: usize| raw.get(i).copied().unwrap_or(0);
    for (i, &(name, kind)) in spec.iter().enumerate() {
        let v = arg(i);
        let value = match kind {
            I if word == 4 => ArgValue::Int(v as u32 as i32 as i64),
            I => ArgValue::Int(v as i64),
            U if word == 4 => ArgValue::UInt(v as u32 as u64),
            U => ArgValue::UInt(v),
            X => ArgValue::Hex(v),
            Int => ArgValue::Int(v as u32 as i32 as i64),
            S(kind) => ArgValue::Sym(Sym {
                kind,
                value: match kind {
                    // Sign-carrying ints: keep the 32-bit value only.
                    Sk::DirFd | Sk::Signal => v as u32 as i32 as i64 as u64,
                    _ => v,
                },
            }),
            Proto => ArgValue::Sym(Sym {
                kind: Sk::Protocol(arg(0) as i32),
                value: v,
            }),
            P => mem.string(v, lim.max_str),
            Buf(len_idx) => {
                let len = (arg(len_idx) as usize).min(lim.max_str);
                match mem.bytes(v, len) {
                    Ok(data) => ArgValue::Str(Bytes {
                        truncated: (arg(len_idx) as usize) > len,
                        data,
                    }),
                    Err(e) => ArgValue::Fault(v, e),
                }
            }
            Addr(len_idx) => mem.sockaddr(v, arg(len_idx)),
            Argv => mem.str_list(v, word, lim),
            Clone3(size_idx) => clone3(mem, v, arg(size_idx)),
            OpenHow(size_idx) => open_how(mem, v, arg(size_idx)),
            MsgHdr => msghdr(mem, v, word),
        };
        out.push((name, value));
    }
}

fn clone3(mem: &mut Mem, addr: u64, size: u64) -> ArgValue {
    if addr == 0 {
        return ArgValue::Null;
    }
    let b = match mem.bytes(addr, (size as usize).min(88)) {
        Ok(b) => b,
        Err(e) => return ArgValue::Fault(addr, e),
    };
    let mut f = Vec::with_capacity(4);
    if let Some(v) = u64_at(&b, 0) {
        f.push((
            "flags",
            ArgValue::Sym(Sym {
                kind: Sk::Clone,
                value: v,
            }),
        ));
    }
    if let Some(v) = u64_at(&b, 32) {
        f.push((
            "exit_signal",
            ArgValue::Sym(Sym {
                kind: Sk::Signal,
                value: v,
            }),
        ));
    }
    if let Some(v) = u64_at(&b, 40) {
        f.push(("stack", ArgValue::Hex(v)));
    }
    if let Some(v) = u64_at(&b, 48) {
        f.push(("stack_size", ArgValue::UInt(v)));
    }
    if let Some(v) = u64_at(&b, 80) {
        f.push(("cgroup", ArgValue::UInt(v)));
    }
    ArgValue::Struct(f)
}

fn open_how(mem: &mut Mem, addr: u64, size: u64) -> ArgValue {
    if addr == 0 {
        return ArgValue::Null;
    }
    let b = match mem.bytes(addr, (size as usize).min(24)) {
        Ok(b) => b,
        Err(e) => return ArgValue::Fault(addr, e),
    };
    let mut f = Vec::with_capacity(3);
    if let Some(v) = u64_at(&b, 0) {
        f.push((
            "flags",
            ArgValue::Sym(Sym {
                kind: Sk::Open,
                value: v,
            }),
        ));
    }
    if let Some(v) = u64_at(&b, 8) {
        f.push((
            "mode",
            ArgValue::Sym(Sym {
                kind: Sk::Mode,
                value: v,
            }),
        ));
    }
    if let Some(v) = u64_at(&b, 16) {
        f.push(("resolve", ArgValue::Hex(v)));
    }
    ArgValue::Struct(f)
}

fn msghdr(mem: &mut Mem, addr: u64, word: usize) -> ArgValue {
    if addr == 0 {
        return ArgValue::Null;
    }
    // msg_name, then msg_namelen (int) right after the pointer.
    let b = match mem.bytes(addr, word + 4) {
        Ok(b) => b,
        Err(e) => return ArgValue::Fault(addr, e),
    };
    let name = if word == 4 {
        u32_at(&b, 0).map(u64::from)
    } else {
        u64_at(&b, 0)
    };
    let len = u32_at(&b, word);
    match (name, len) {
        (Some(n), Some(l)) if n != 0 => {
            ArgValue::Struct(vec![("msg_name", mem.sockaddr(n, l as u64))])
        }
        (Some(_), Some(_)) => ArgValue::Struct(vec![("msg_name", ArgValue::Null)]),
        _ => ArgValue::Hex(addr),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sockaddr_families() {
        let mut inet = vec![2u8, 0, 0x1f, 0x90, 127, 0, 0, 1];
        inet.extend_from_slice(&[0; 8]);
        assert_eq!(
            parse_sockaddr(&inet).map(|a| a.to_string()).as_deref(),
            Some("127.0.0.1:8080")
        );
        let mut un = vec![1u8, 0, 0];
        un.extend_from_slice(b"hidden");
        assert_eq!(
            parse_sockaddr(&un),
            Some(SockAddr::Unix {
                path: b"hidden".to_vec(),
                abstract_ns: true
            })
        );
        let mut un = vec![1u8, 0];
        un.extend_from_slice(b"/run/x\0\0\0");
        assert_eq!(
            parse_sockaddr(&un).map(|a| a.to_string()).as_deref(),
            Some("unix:\"/run/x\"")
        );
        let nl = [16u8, 0, 0, 0, 5, 0, 0, 0, 1, 0, 0, 0];
        assert_eq!(
            parse_sockaddr(&nl),
            Some(SockAddr::Netlink { pid: 5, groups: 1 })
        );
        assert_eq!(parse_sockaddr(&[2, 0, 1]), None);
        assert_eq!(parse_sockaddr(&[]), None);
    }

    #[test]
    fn every_default_syscall_has_a_spec() {
        let set = crate::SyscallSet::default();
        for arch in Arch::ALL {
            for nr in set.numbers(arch) {
                let name = arch.syscall_name(nr).unwrap_or("?");
                assert!(
                    matches!(spec_table(arch).get(arch.slot(nr)), Some(Some(_))),
                    "{arch} {name} has no decoder"
                );
            }
        }
    }
}
