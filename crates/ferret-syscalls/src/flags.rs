//! Symbolic rendering of flag words and enumerated constants. Values are kept
//! raw in records and rendered only when displayed, so tracing does no
//! string work for them.

use std::fmt;

/// What a symbolic argument value means; selects its rendering.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SymKind {
    /// `open` flags (`O_RDONLY|O_CREAT|...`).
    Open,
    /// `AT_*` flags.
    At,
    /// Directory fd (`AT_FDCWD` or a number).
    DirFd,
    /// `PROT_*`.
    Prot,
    /// `MAP_*`.
    Map,
    /// `CLONE_*` (low byte = exit signal).
    Clone,
    /// Signal number.
    Signal,
    /// `prctl` option (`PR_*`).
    Prctl,
    /// `ptrace` request (`PTRACE_*`).
    Ptrace,
    /// Socket address family / domain (`AF_*`).
    Domain,
    /// Socket type (`SOCK_*`).
    SockType,
    /// Socket protocol (`IPPROTO_*`, `NETLINK_*`, `ETH_P_*`), by domain.
    Protocol(i32),
    /// `MSG_*` flags.
    Msg,
    /// `RENAME_*` flags.
    Rename,
    /// `MS_*` mount flags.
    Mount,
    /// `MNT_*` / `UMOUNT_*` flags.
    Umount,
    /// `MFD_*` flags.
    Memfd,
    /// File mode: permission bits in octal, with `S_IF*` type when present.
    Mode,
    /// `IPC_*` flags with permission bits.
    Ipc,
    /// i386 `socketcall` call number (`SYS_*`).
    SocketCall,
}

type Table = &'static [(u64, &'static str)];

const OPEN: Table = &[
    (0o100, "O_CREAT"),
    (0o200, "O_EXCL"),
    (0o400, "O_NOCTTY"),
    (0o1000, "O_TRUNC"),
    (0o2000, "O_APPEND"),
    (0o4000, "O_NONBLOCK"),
    (0o4010000, "O_SYNC"),
    (0o10000, "O_DSYNC"),
    (0o20000, "O_ASYNC"),
    (0o40000, "O_DIRECT"),
    (0o100000, "O_LARGEFILE"),
    (0o20200000, "O_TMPFILE"),
    (0o200000, "O_DIRECTORY"),
    (0o400000, "O_NOFOLLOW"),
    (0o1000000, "O_NOATIME"),
    (0o2000000, "O_CLOEXEC"),
    (0o10000000, "O_PATH"),
];
const AT: Table = &[
    (0x100, "AT_SYMLINK_NOFOLLOW"),
    (0x200, "AT_REMOVEDIR"),
    (0x400, "AT_SYMLINK_FOLLOW"),
    (0x800, "AT_NO_AUTOMOUNT"),
    (0x1000, "AT_EMPTY_PATH"),
    (0x8000, "AT_RECURSIVE"),
];
const PROT: Table = &[
    (1, "PROT_READ"),
    (2, "PROT_WRITE"),
    (4, "PROT_EXEC"),
    (8, "PROT_SEM"),
    (0x0100_0000, "PROT_GROWSDOWN"),
    (0x0200_0000, "PROT_GROWSUP"),
];
const MAP: Table = &[
    (0x10, "MAP_FIXED"),
    (0x20, "MAP_ANONYMOUS"),
    (0x40, "MAP_32BIT"),
    (0x100, "MAP_GROWSDOWN"),
    (0x800, "MAP_DENYWRITE"),
    (0x1000, "MAP_EXECUTABLE"),
    (0x2000, "MAP_LOCKED"),
    (0x4000, "MAP_NORESERVE"),
    (0x8000, "MAP_POPULATE"),
    (0x10000, "MAP_NONBLOCK"),
    (0x20000, "MAP_STACK"),
    (0x40000, "MAP_HUGETLB"),
    (0x80000, "MAP_SYNC"),
    (0x100000, "MAP_FIXED_NOREPLACE"),
    (0x4000000, "MAP_UNINITIALIZED"),
];
const CLONE: Table = &[
    (0x80, "CLONE_NEWTIME"),
    (0x100, "CLONE_VM"),
    (0x200, "CLONE_FS"),
    (0x400, "CLONE_FILES"),
    (0x800, "CLONE_SIGHAND"),
    (0x1000, "CLONE_PIDFD"),
    (0x2000, "CLONE_PTRACE"),
    (0x4000, "CLONE_VFORK"),
    (0x8000, "CLONE_PARENT"),
    (0x10000, "CLONE_THREAD"),
    (0x20000, "CLONE_NEWNS"),
    (0x40000, "CLONE_SYSVSEM"),
    (0x80000, "CLONE_SETTLS"),
    (0x100000, "CLONE_PARENT_SETTID"),
    (0x200000, "CLONE_CHILD_CLEARTID"),
    (0x400000, "CLONE_DETACHED"),
    (0x800000, "CLONE_UNTRACED"),
    (0x1000000, "CLONE_CHILD_SETTID"),
    (0x2000000, "CLONE_NEWCGROUP"),
    (0x4000000, "CLONE_NEWUTS"),
    (0x8000000, "CLONE_NEWIPC"),
    (0x10000000, "CLONE_NEWUSER"),
    (0x20000000, "CLONE_NEWPID"),
    (0x40000000, "CLONE_NEWNET"),
    (0x80000000, "CLONE_IO"),
    (0x1_0000_0000, "CLONE_CLEAR_SIGHAND"),
    (0x2_0000_0000, "CLONE_INTO_CGROUP"),
];
const MSG: Table = &[
    (1, "MSG_OOB"),
    (2, "MSG_PEEK"),
    (4, "MSG_DONTROUTE"),
    (8, "MSG_CTRUNC"),
    (0x10, "MSG_PROXY"),
    (0x20, "MSG_TRUNC"),
    (0x40, "MSG_DONTWAIT"),
    (0x80, "MSG_EOR"),
    (0x100, "MSG_WAITALL"),
    (0x200, "MSG_FIN"),
    (0x400, "MSG_SYN"),
    (0x800, "MSG_CONFIRM"),
    (0x1000, "MSG_RST"),
    (0x2000, "MSG_ERRQUEUE"),
    (0x4000, "MSG_NOSIGNAL"),
    (0x8000, "MSG_MORE"),
    (0x10000, "MSG_WAITFORONE"),
    (0x40000, "MSG_BATCH"),
    (0x4000000, "MSG_ZEROCOPY"),
    (0x20000000, "MSG_FASTOPEN"),
    (0x40000000, "MSG_CMSG_CLOEXEC"),
];
const RENAME: Table = &[
    (1, "RENAME_NOREPLACE"),
    (2, "RENAME_EXCHANGE"),
    (4, "RENAME_WHITEOUT"),
];
const MOUNT: Table = &[
    (1, "MS_RDONLY"),
    (2, "MS_NOSUID"),
    (4, "MS_NODEV"),
    (8, "MS_NOEXEC"),
    (16, "MS_SYNCHRONOUS"),
    (32, "MS_REMOUNT"),
    (64, "MS_MANDLOCK"),
    (128, "MS_DIRSYNC"),
    (256, "MS_NOSYMFOLLOW"),
    (1024, "MS_NOATIME"),
    (2048, "MS_NODIRATIME"),
    (4096, "MS_BIND"),
    (8192, "MS_MOVE"),
    (16384, "MS_REC"),
    (32768, "MS_SILENT"),
    (1 << 16, "MS_POSIXACL"),
    (1 << 17, "MS_UNBINDABLE"),
    (1 << 18, "MS_PRIVATE"),
    (1 << 19, "MS_SLAVE"),
    (1 << 20, "MS_SHARED"),
    (1 << 21, "MS_RELATIME"),
    (1 << 22, "MS_KERNMOUNT"),
    (1 << 23, "MS_I_VERSION"),
    (1 << 24, "MS_STRICTATIME"),
    (1 << 25, "MS_LAZYTIME"),
];
const UMOUNT: Table = &[
    (1, "MNT_FORCE"),
    (2, "MNT_DETACH"),
    (4, "MNT_EXPIRE"),
    (8, "UMOUNT_NOFOLLOW"),
];
const MEMFD: Table = &[
    (1, "MFD_CLOEXEC"),
    (2, "MFD_ALLOW_SEALING"),
    (4, "MFD_HUGETLB"),
    (8, "MFD_NOEXEC_SEAL"),
    (0x10, "MFD_EXEC"),
];
const SOCK_FLAGS: Table = &[(0o4000, "SOCK_NONBLOCK"), (0o2000000, "SOCK_CLOEXEC")];
const IPC: Table = &[(0o1000, "IPC_CREAT"), (0o2000, "IPC_EXCL")];

const PRCTL: &[(u64, &str)] = &[
    (1, "PR_SET_PDEATHSIG"),
    (2, "PR_GET_PDEATHSIG"),
    (3, "PR_GET_DUMPABLE"),
    (4, "PR_SET_DUMPABLE"),
    (5, "PR_GET_UNALIGN"),
    (6, "PR_SET_UNALIGN"),
    (7, "PR_GET_KEEPCAPS"),
    (8, "PR_SET_KEEPCAPS"),
    (9, "PR_GET_FPEMU"),
    (10, "PR_SET_FPEMU"),
    (11, "PR_GET_FPEXC"),
    (12, "PR_SET_FPEXC"),
    (13, "PR_GET_TIMING"),
    (14, "PR_SET_TIMING"),
    (15, "PR_SET_NAME"),
    (16, "PR_GET_NAME"),
    (19, "PR_GET_ENDIAN"),
    (20, "PR_SET_ENDIAN"),
    (21, "PR_GET_SECCOMP"),
    (22, "PR_SET_SECCOMP"),
    (23, "PR_CAPBSET_READ"),
    (24, "PR_CAPBSET_DROP"),
    (25, "PR_GET_TSC"),
    (26, "PR_SET_TSC"),
    (27, "PR_GET_SECUREBITS"),
    (28, "PR_SET_SECUREBITS"),
    (29, "PR_SET_TIMERSLACK"),
    (30, "PR_GET_TIMERSLACK"),
    (31, "PR_TASK_PERF_EVENTS_DISABLE"),
    (32, "PR_TASK_PERF_EVENTS_ENABLE"),
    (33, "PR_MCE_KILL"),
    (34, "PR_MCE_KILL_GET"),
    (35, "PR_SET_MM"),
    (36, "PR_SET_CHILD_SUBREAPER"),
    (37, "PR_GET_CHILD_SUBREAPER"),
    (38, "PR_SET_NO_NEW_PRIVS"),
    (39, "PR_GET_NO_NEW_PRIVS"),
    (40, "PR_GET_TID_ADDRESS"),
    (41, "PR_SET_THP_DISABLE"),
    (42, "PR_GET_THP_DISABLE"),
    (45, "PR_SET_FP_MODE"),
    (46, "PR_GET_FP_MODE"),
    (47, "PR_CAP_AMBIENT"),
    (52, "PR_GET_SPECULATION_CTRL"),
    (53, "PR_SET_SPECULATION_CTRL"),
    (55, "PR_SET_TAGGED_ADDR_CTRL"),
    (56, "PR_GET_TAGGED_ADDR_CTRL"),
    (57, "PR_SET_IO_FLUSHER"),
    (58, "PR_GET_IO_FLUSHER"),
    (59, "PR_SET_SYSCALL_USER_DISPATCH"),
    (62, "PR_SCHED_CORE"),
    (65, "PR_SET_MDWE"),
    (66, "PR_GET_MDWE"),
    (0x5961_6d61, "PR_SET_PTRACER"),
    (0x5356_4d41, "PR_SET_VMA"),
];
const PTRACE: &[(u64, &str)] = &[
    (0, "PTRACE_TRACEME"),
    (1, "PTRACE_PEEKTEXT"),
    (2, "PTRACE_PEEKDATA"),
    (3, "PTRACE_PEEKUSER"),
    (4, "PTRACE_POKETEXT"),
    (5, "PTRACE_POKEDATA"),
    (6, "PTRACE_POKEUSER"),
    (7, "PTRACE_CONT"),
    (8, "PTRACE_KILL"),
    (9, "PTRACE_SINGLESTEP"),
    (12, "PTRACE_GETREGS"),
    (13, "PTRACE_SETREGS"),
    (14, "PTRACE_GETFPREGS"),
    (15, "PTRACE_SETFPREGS"),
    (16, "PTRACE_ATTACH"),
    (17, "PTRACE_DETACH"),
    (18, "PTRACE_GETFPXREGS"),
    (19, "PTRACE_SETFPXREGS"),
    (24, "PTRACE_SYSCALL"),
    (0x4200, "PTRACE_SETOPTIONS"),
    (0x4201, "PTRACE_GETEVENTMSG"),
    (0x4202, "PTRACE_GETSIGINFO"),
    (0x4203, "PTRACE_SETSIGINFO"),
    (0x4204, "PTRACE_GETREGSET"),
    (0x4205, "PTRACE_SETREGSET"),
    (0x4206, "PTRACE_SEIZE"),
    (0x4207, "PTRACE_INTERRUPT"),
    (0x4208, "PTRACE_LISTEN"),
    (0x4209, "PTRACE_PEEKSIGINFO"),
    (0x420a, "PTRACE_GETSIGMASK"),
    (0x420b, "PTRACE_SETSIGMASK"),
    (0x420c, "PTRACE_SECCOMP_GET_FILTER"),
    (0x420d, "PTRACE_SECCOMP_GET_METADATA"),
    (0x420e, "PTRACE_GET_SYSCALL_INFO"),
    (0x420f, "PTRACE_GET_RSEQ_CONFIGURATION"),
    (0x4210, "PTRACE_SET_SYSCALL_USER_DISPATCH_CONFIG"),
    (0x4211, "PTRACE_GET_SYSCALL_USER_DISPATCH_CONFIG"),
    (0x4212, "PTRACE_SET_SYSCALL_INFO"),
];
const DOMAINS: &[(u64, &str)] = &[
    (0, "AF_UNSPEC"),
    (1, "AF_UNIX"),
    (2, "AF_INET"),
    (3, "AF_AX25"),
    (4, "AF_IPX"),
    (5, "AF_APPLETALK"),
    (10, "AF_INET6"),
    (15, "AF_KEY"),
    (16, "AF_NETLINK"),
    (17, "AF_PACKET"),
    (29, "AF_CAN"),
    (31, "AF_BLUETOOTH"),
    (38, "AF_ALG"),
    (40, "AF_VSOCK"),
    (44, "AF_XDP"),
];
const SOCK_TYPES: &[(u64, &str)] = &[
    (1, "SOCK_STREAM"),
    (2, "SOCK_DGRAM"),
    (3, "SOCK_RAW"),
    (4, "SOCK_RDM"),
    (5, "SOCK_SEQPACKET"),
    (6, "SOCK_DCCP"),
    (10, "SOCK_PACKET"),
];
const IPPROTO: &[(u64, &str)] = &[
    (0, "IPPROTO_IP"),
    (1, "IPPROTO_ICMP"),
    (2, "IPPROTO_IGMP"),
    (4, "IPPROTO_IPIP"),
    (6, "IPPROTO_TCP"),
    (17, "IPPROTO_UDP"),
    (41, "IPPROTO_IPV6"),
    (47, "IPPROTO_GRE"),
    (58, "IPPROTO_ICMPV6"),
    (132, "IPPROTO_SCTP"),
    (136, "IPPROTO_UDPLITE"),
    (255, "IPPROTO_RAW"),
    (262, "IPPROTO_MPTCP"),
];
const NETLINK: &[(u64, &str)] = &[
    (0, "NETLINK_ROUTE"),
    (4, "NETLINK_SOCK_DIAG"),
    (6, "NETLINK_XFRM"),
    (9, "NETLINK_AUDIT"),
    (12, "NETLINK_NETFILTER"),
    (15, "NETLINK_KOBJECT_UEVENT"),
    (16, "NETLINK_GENERIC"),
];
const SOCKETCALL: &[(u64, &str)] = &[
    (1, "SYS_SOCKET"),
    (2, "SYS_BIND"),
    (3, "SYS_CONNECT"),
    (4, "SYS_LISTEN"),
    (5, "SYS_ACCEPT"),
    (6, "SYS_GETSOCKNAME"),
    (7, "SYS_GETPEERNAME"),
    (8, "SYS_SOCKETPAIR"),
    (9, "SYS_SEND"),
    (10, "SYS_RECV"),
    (11, "SYS_SENDTO"),
    (12, "SYS_RECVFROM"),
    (13, "SYS_SHUTDOWN"),
    (14, "SYS_SETSOCKOPT"),
    (15, "SYS_GETSOCKOPT"),
    (16, "SYS_SENDMSG"),
    (17, "SYS_RECVMSG"),
    (18, "SYS_ACCEPT4"),
    (19, "SYS_RECVMMSG"),
    (20, "SYS_SENDMMSG"),
];

fn lookup(table: Table, v: u64) -> Option<&'static str> {
    table.iter().find(|(k, _)| *k == v).map(|(_, n)| *n)
}

/// Writes `value` as `A|B|0x..`; `head` is an already-decoded first part.
fn bits(f: &mut fmt::Formatter<'_>, head: Option<&str>, table: Table, value: u64) -> fmt::Result {
    let mut rest = value;
    let mut first = true;
    if let Some(h) = head {
        f.write_str(h)?;
        first = false;
    }
    for &(bit, name) in table {
        if bit != 0 && rest & bit == bit {
            if !first {
                f.write_str("|")?;
            }
            f.write_str(name)?;
            first = false;
            rest &= !bit;
        }
    }
    if rest != 0 || first {
        if !first {
            f.write_str("|")?;
        }
        write!(f, "{rest:#x}")?;
    }
    Ok(())
}

fn enumerated(f: &mut fmt::Formatter<'_>, table: Table, v: u64) -> fmt::Result {
    match lookup(table, v) {
        Some(n) => f.write_str(n),
        None => write!(f, "{v}"),
    }
}

/// Name of signal `sig` ("SIGKILL", "SIGRT_3"), or `None` if out of range.
pub fn signal_text(sig: i32) -> Option<String> {
    match sig {
        1..=31 => crate::signal_name(sig as u64).map(str::to_string),
        32..=64 => Some(format!("SIGRT_{}", sig - 32)),
        _ => None,
    }
}

fn signal(f: &mut fmt::Formatter<'_>, v: u64) -> fmt::Result {
    match v {
        1..=31 => f.write_str(crate::signal_name(v).unwrap_or("?")),
        32..=64 => write!(f, "SIGRT_{}", v - 32),
        _ => write!(f, "{}", v as i64),
    }
}

/// Permission and special bits by name, as sysdig and Falco rules spell them
/// (`evt.arg.mode contains S_IXUSR`, `contains S_ISUID`).
const MODE_BITS: [(u64, &str); 12] = [
    (0o4000, "S_ISUID"),
    (0o2000, "S_ISGID"),
    (0o1000, "S_ISVTX"),
    (0o400, "S_IRUSR"),
    (0o200, "S_IWUSR"),
    (0o100, "S_IXUSR"),
    (0o040, "S_IRGRP"),
    (0o020, "S_IWGRP"),
    (0o010, "S_IXGRP"),
    (0o004, "S_IROTH"),
    (0o002, "S_IWOTH"),
    (0o001, "S_IXOTH"),
];

fn mode(f: &mut fmt::Formatter<'_>, v: u64) -> fmt::Result {
    let kind = match v & 0o170000 {
        0 => None,
        0o100000 => Some("S_IFREG"),
        0o040000 => Some("S_IFDIR"),
        0o020000 => Some("S_IFCHR"),
        0o060000 => Some("S_IFBLK"),
        0o010000 => Some("S_IFIFO"),
        0o140000 => Some("S_IFSOCK"),
        0o120000 => Some("S_IFLNK"),
        _ => Some("S_IF?"),
    };
    let mut sep = "";
    if let Some(k) = kind {
        f.write_str(k)?;
        sep = "|";
    }
    for (bit, name) in MODE_BITS {
        if v & bit != 0 {
            write!(f, "{sep}{name}")?;
            sep = "|";
        }
    }
    if sep.is_empty() {
        f.write_str("0")?;
    }
    Ok(())
}

/// Renders `value` as meant by `kind`.
pub fn render(f: &mut fmt::Formatter<'_>, kind: SymKind, value: u64) -> fmt::Result {
    match kind {
        SymKind::Open => {
            let acc = match value & 3 {
                0 => "O_RDONLY",
                1 => "O_WRONLY",
                2 => "O_RDWR",
                _ => "O_ACCMODE",
            };
            // O_PATH ignores the access mode.
            bits(f, Some(acc), OPEN, value & !3)
        }
        SymKind::At => bits(f, None, AT, value),
        SymKind::DirFd => {
            if value as i32 == -100 {
                f.write_str("AT_FDCWD")
            } else {
                write!(f, "{}", value as i32)
            }
        }
        SymKind::Prot => {
            if value == 0 {
                f.write_str("PROT_NONE")
            } else {
                bits(f, None, PROT, value)
            }
        }
        SymKind::Map => {
            let ty = match value & 0xf {
                1 => "MAP_SHARED",
                2 => "MAP_PRIVATE",
                3 => "MAP_SHARED_VALIDATE",
                _ => "MAP_TYPE?",
            };
            bits(f, Some(ty), MAP, value & !0xf)
        }
        SymKind::Clone => {
            let sig = value & 0xff;
            let rest = value & !0xff;
            if rest != 0 || sig == 0 {
                bits(f, None, CLONE, rest)?;
            }
            if sig != 0 {
                if rest != 0 {
                    f.write_str("|")?;
                }
                signal(f, sig)?;
            }
            Ok(())
        }
        SymKind::Signal => signal(f, value),
        SymKind::Prctl => enumerated(f, PRCTL, value),
        SymKind::Ptrace => enumerated(f, PTRACE, value),
        SymKind::Domain => enumerated(f, DOMAINS, value),
        SymKind::SockType => {
            let ty = value & 0xf;
            let head = lookup(SOCK_TYPES, ty);
            match head {
                Some(h) => bits(f, Some(h), SOCK_FLAGS, value & !0xf),
                None => bits(f, None, SOCK_FLAGS, value),
            }
        }
        SymKind::Protocol(domain) => match domain {
            2 | 10 => enumerated(f, IPPROTO, value),
            16 => enumerated(f, NETLINK, value),
            17 => match (value as u16).swap_bytes() {
                0x0003 => f.write_str("htons(ETH_P_ALL)"),
                0x0800 => f.write_str("htons(ETH_P_IP)"),
                0x0806 => f.write_str("htons(ETH_P_ARP)"),
                0x86dd => f.write_str("htons(ETH_P_IPV6)"),
                p => write!(f, "htons({p:#06x})"),
            },
            _ => write!(f, "{value}"),
        },
        SymKind::Msg => {
            if value == 0 {
                f.write_str("0")
            } else {
                bits(f, None, MSG, value)
            }
        }
        SymKind::Rename => bits(f, None, RENAME, value),
        SymKind::Mount => {
            // The historic magic in the high half carries no meaning.
            let v = if value & 0xffff_0000 == 0xC0ED_0000 {
                value & 0xffff
            } else {
                value
            };
            bits(f, None, MOUNT, v)
        }
        SymKind::Umount => bits(f, None, UMOUNT, value),
        SymKind::Memfd => bits(f, None, MEMFD, value),
        SymKind::Mode => mode(f, value),
        SymKind::Ipc => {
            let perm = value & 0o777;
            let flags = value & !0o777;
            if flags != 0 {
                bits(f, None, IPC, flags)?;
                f.write_str("|")?;
            }
            write!(f, "0{perm:03o}")
        }
        SymKind::SocketCall => enumerated(f, SOCKETCALL, value),
    }
}

/// A raw value plus its meaning; `Display` renders it symbolically.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Sym {
    /// How to render.
    pub kind: SymKind,
    /// The raw argument value.
    pub value: u64,
}

impl fmt::Display for Sym {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        render(f, self.kind, self.value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(kind: SymKind, value: u64) -> String {
        Sym { kind, value }.to_string()
    }

    #[test]
    fn renders() {
        assert_eq!(s(SymKind::Open, 0o2000101), "O_WRONLY|O_CREAT|O_CLOEXEC");
        assert_eq!(s(SymKind::Open, 0), "O_RDONLY");
        assert_eq!(s(SymKind::Open, 0o20200002), "O_RDWR|O_TMPFILE");
        assert_eq!(s(SymKind::Prot, 5), "PROT_READ|PROT_EXEC");
        assert_eq!(s(SymKind::Prot, 0), "PROT_NONE");
        assert_eq!(s(SymKind::Map, 0x22), "MAP_PRIVATE|MAP_ANONYMOUS");
        assert_eq!(
            s(SymKind::Clone, 0x01200011),
            "CLONE_CHILD_CLEARTID|CLONE_CHILD_SETTID|SIGCHLD"
        );
        assert_eq!(s(SymKind::Signal, 9), "SIGKILL");
        assert_eq!(s(SymKind::Signal, 35), "SIGRT_3");
        assert_eq!(s(SymKind::Prctl, 15), "PR_SET_NAME");
        assert_eq!(s(SymKind::Ptrace, 0), "PTRACE_TRACEME");
        assert_eq!(s(SymKind::SockType, 0o2000001), "SOCK_STREAM|SOCK_CLOEXEC");
        assert_eq!(s(SymKind::Protocol(2), 6), "IPPROTO_TCP");
        assert_eq!(s(SymKind::Protocol(17), 0x0300), "htons(ETH_P_ALL)");
        assert_eq!(
            s(SymKind::Mode, 0o755),
            "S_IRUSR|S_IWUSR|S_IXUSR|S_IRGRP|S_IXGRP|S_IROTH|S_IXOTH"
        );
        assert_eq!(
            s(SymKind::Mode, 0o20644),
            "S_IFCHR|S_IRUSR|S_IWUSR|S_IRGRP|S_IROTH"
        );
        assert_eq!(
            s(SymKind::Mode, 0o4711),
            "S_ISUID|S_IRUSR|S_IWUSR|S_IXUSR|S_IXGRP|S_IXOTH"
        );
        assert_eq!(s(SymKind::Mode, 0), "0");
        assert_eq!(s(SymKind::DirFd, (-100i64) as u64), "AT_FDCWD");
        assert_eq!(s(SymKind::At, 0x1100), "AT_SYMLINK_NOFOLLOW|AT_EMPTY_PATH");
        assert_eq!(s(SymKind::Msg, 0x4040), "MSG_DONTWAIT|MSG_NOSIGNAL");
        assert_eq!(s(SymKind::Ipc, 0o1600), "IPC_CREAT|0600");
        assert_eq!(s(SymKind::At, 0x10_0000), "0x100000");
    }
}
