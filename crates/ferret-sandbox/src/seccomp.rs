//! The seccomp deny-list: classic BPF built here, for x86-64, i386 and x32.
//!
//! Denied calls do not reach the kernel. The filter answers them with
//! `SECCOMP_RET_USER_NOTIF`; the sandbox's supervisor thread (host side) receives each
//! one, records it as a [`DeniedSyscall`](crate::DeniedSyscall) and makes the call fail
//! with `EPERM`. A seccomp action of higher precedence than `SECCOMP_RET_TRACE` means a
//! tracer using a `SECCOMP_RET_TRACE` filter gets no stop for these calls, which is why
//! the sandbox records them itself. If the supervisor is gone the kernel fails them with
//! `ENOSYS` instead: they are still never executed.
//!
//! `clone3` gets `ENOSYS` straight from the filter (its flags live in memory the filter
//! cannot read); C libraries then fall back to `clone`, whose flags are checked.

use libc::sock_filter;

/// `AUDIT_ARCH_X86_64` (EM_X86_64 | 64-bit | little-endian).
pub const AUDIT_ARCH_X86_64: u32 = 0xc000_003e;
/// `AUDIT_ARCH_I386` (EM_386 | little-endian).
pub const AUDIT_ARCH_I386: u32 = 0x4000_0003;
/// Syscall numbers with this bit set are the x32 ABI on x86-64; all of them are denied.
pub const X32_SYSCALL_BIT: u32 = 0x4000_0000;

const SECCOMP_RET_KILL_PROCESS: u32 = 0x8000_0000;
const SECCOMP_RET_ERRNO: u32 = 0x0005_0000;
const SECCOMP_RET_USER_NOTIF: u32 = 0x7fc0_0000;
const SECCOMP_RET_ALLOW: u32 = 0x7fff_0000;

const BPF_LD_W_ABS: u16 = (libc::BPF_LD | libc::BPF_W | libc::BPF_ABS) as u16;
const BPF_JEQ_K: u16 = (libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K) as u16;
const BPF_JGE_K: u16 = (libc::BPF_JMP | libc::BPF_JGE | libc::BPF_K) as u16;
const BPF_JSET_K: u16 = (libc::BPF_JMP | libc::BPF_JSET | libc::BPF_K) as u16;
const BPF_JA: u16 = (libc::BPF_JMP | libc::BPF_JA) as u16;
const BPF_RET_K: u16 = (libc::BPF_RET | libc::BPF_K) as u16;

// Offsets in struct seccomp_data.
const OFF_NR: u32 = 0;
const OFF_ARCH: u32 = 4;
const OFF_ARG0_LO: u32 = 16;

/// Clone flag that creates a user namespace (denied for `clone` and `unshare`).
const CLONE_NEWUSER: u32 = 0x1000_0000;

/// Denied syscalls: (name, x86-64 number, i386 number).
pub(crate) const DENIED: &[(&str, Option<u32>, Option<u32>)] = &[
    ("init_module", Some(175), Some(128)),
    ("finit_module", Some(313), Some(350)),
    ("delete_module", Some(176), Some(129)),
    ("create_module", Some(174), Some(127)),
    ("get_kernel_syms", Some(177), Some(130)),
    ("query_module", Some(178), Some(167)),
    ("kexec_load", Some(246), Some(283)),
    ("kexec_file_load", Some(320), None),
    ("reboot", Some(169), Some(88)),
    ("swapon", Some(167), Some(87)),
    ("swapoff", Some(168), Some(115)),
    ("bpf", Some(321), Some(357)),
    ("perf_event_open", Some(298), Some(336)),
    ("open_by_handle_at", Some(304), Some(342)),
    ("name_to_handle_at", Some(303), Some(341)),
    ("mount", Some(165), Some(21)),
    ("umount", None, Some(22)),
    ("umount2", Some(166), Some(52)),
    ("pivot_root", Some(155), Some(217)),
    ("move_mount", Some(429), Some(429)),
    ("open_tree", Some(428), Some(428)),
    ("fsopen", Some(430), Some(430)),
    ("fsconfig", Some(431), Some(431)),
    ("fsmount", Some(432), Some(432)),
    ("fspick", Some(433), Some(433)),
    ("mount_setattr", Some(442), Some(442)),
    ("open_tree_attr", Some(467), Some(467)),
    ("setns", Some(308), Some(346)),
    ("keyctl", Some(250), Some(288)),
    ("add_key", Some(248), Some(286)),
    ("request_key", Some(249), Some(287)),
    ("userfaultfd", Some(323), Some(374)),
    ("iopl", Some(172), Some(110)),
    ("ioperm", Some(173), Some(101)),
    ("vm86", None, Some(166)),
    ("vm86old", None, Some(113)),
    ("acct", Some(163), Some(51)),
    ("settimeofday", Some(164), Some(79)),
    ("stime", None, Some(25)),
    ("clock_settime", Some(227), Some(264)),
    ("clock_settime64", None, Some(404)),
    ("clock_adjtime", Some(305), Some(343)),
    ("clock_adjtime64", None, Some(405)),
    ("adjtimex", Some(159), Some(124)),
    ("syslog", Some(103), Some(103)),
    ("quotactl", Some(179), Some(131)),
    ("quotactl_fd", Some(443), Some(443)),
    ("lookup_dcookie", Some(212), Some(253)),
    ("vhangup", Some(153), Some(111)),
    ("nfsservctl", Some(180), Some(169)),
    ("uselib", Some(134), Some(86)),
    ("_sysctl", Some(156), Some(149)),
    // io_uring runs file and network operations that seccomp and ptrace never see.
    ("io_uring_setup", Some(425), Some(425)),
    ("io_uring_enter", Some(426), Some(426)),
    ("io_uring_register", Some(427), Some(427)),
];

/// Syscalls denied only when they would create a user namespace.
const CLONE_NR: (u32, u32) = (56, 120);
const UNSHARE_NR: (u32, u32) = (272, 310);
const CLONE3_NR: u32 = 435;

/// Name of a syscall the deny-list refuses, for reports.
pub(crate) fn denied_name(arch: u32, nr: i32) -> &'static str {
    let nr = nr as u32;
    if arch == AUDIT_ARCH_X86_64 && nr & X32_SYSCALL_BIT != 0 {
        return "x32 syscall";
    }
    let x64 = arch == AUDIT_ARCH_X86_64;
    if (x64 && nr == CLONE_NR.0) || (!x64 && nr == CLONE_NR.1) {
        return "clone(CLONE_NEWUSER)";
    }
    if (x64 && nr == UNSHARE_NR.0) || (!x64 && nr == UNSHARE_NR.1) {
        return "unshare(CLONE_NEWUSER)";
    }
    DENIED
        .iter()
        .find(|(_, a, b)| if x64 { *a == Some(nr) } else { *b == Some(nr) })
        .map_or("unknown", |(name, _, _)| name)
}

fn stmt(code: u16, k: u32) -> sock_filter {
    sock_filter {
        code,
        jt: 0,
        jf: 0,
        k,
    }
}

fn jump(code: u16, k: u32, jt: u8, jf: u8) -> sock_filter {
    sock_filter { code, jt, jf, k }
}

/// Appends the per-architecture part: deny listed numbers, `clone3` -> ENOSYS,
/// `clone`/`unshare` with `CLONE_NEWUSER` denied, everything else allowed.
fn arch_block(prog: &mut Vec<sock_filter>, x64: bool, deny: u32) {
    prog.push(stmt(BPF_LD_W_ABS, OFF_NR));
    if x64 {
        prog.push(jump(BPF_JGE_K, X32_SYSCALL_BIT, 0, 1));
        prog.push(stmt(BPF_RET_K, deny));
    }
    for (_, a, b) in DENIED {
        if let Some(nr) = if x64 { *a } else { *b } {
            prog.push(jump(BPF_JEQ_K, nr, 0, 1));
            prog.push(stmt(BPF_RET_K, deny));
        }
    }
    prog.push(jump(BPF_JEQ_K, CLONE3_NR, 0, 1));
    prog.push(stmt(BPF_RET_K, SECCOMP_RET_ERRNO | libc::ENOSYS as u32));
    let (clone, unshare) = if x64 {
        (CLONE_NR.0, UNSHARE_NR.0)
    } else {
        (CLONE_NR.1, UNSHARE_NR.1)
    };
    prog.push(jump(BPF_JEQ_K, clone, 1, 0));
    prog.push(jump(BPF_JEQ_K, unshare, 0, 3));
    prog.push(stmt(BPF_LD_W_ABS, OFF_ARG0_LO));
    prog.push(jump(BPF_JSET_K, CLONE_NEWUSER, 0, 1));
    prog.push(stmt(BPF_RET_K, deny));
    prog.push(stmt(BPF_RET_K, SECCOMP_RET_ALLOW));
}

/// How a denied call is answered by the filter itself.
#[derive(Debug, Clone, Copy)]
pub(crate) enum DenyAction {
    /// Hand it to the supervisor (which records it and answers EPERM).
    Notify,
    /// Fail it with EPERM directly (no record).
    #[cfg_attr(not(test), allow(dead_code))]
    Errno,
}

/// Builds the deny-list program.
pub(crate) fn deny_filter(action: DenyAction) -> Vec<sock_filter> {
    let deny = match action {
        DenyAction::Notify => SECCOMP_RET_USER_NOTIF,
        DenyAction::Errno => SECCOMP_RET_ERRNO | libc::EPERM as u32,
    };
    let mut prog = Vec::with_capacity(160);
    prog.push(stmt(BPF_LD_W_ABS, OFF_ARCH));
    prog.push(jump(BPF_JEQ_K, AUDIT_ARCH_X86_64, 1, 0));
    let ja_index = prog.len();
    prog.push(stmt(BPF_JA, 0));
    arch_block(&mut prog, true, deny);
    // Patch the unconditional jump over the x86-64 block (32-bit offset, no u8 limit).
    let i386_start = prog.len();
    if let Some(ja) = prog.get_mut(ja_index) {
        ja.k = (i386_start - ja_index - 1) as u32;
    }
    prog.push(jump(BPF_JEQ_K, AUDIT_ARCH_I386, 1, 0));
    prog.push(stmt(BPF_RET_K, SECCOMP_RET_KILL_PROCESS));
    arch_block(&mut prog, false, deny);
    prog
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A tiny classic-BPF interpreter for the instructions the builder emits.
    fn run(prog: &[sock_filter], arch: u32, nr: u32, arg0: u64) -> u32 {
        let mut data = [0u8; 64];
        data[0..4].copy_from_slice(&nr.to_le_bytes());
        data[4..8].copy_from_slice(&arch.to_le_bytes());
        data[16..24].copy_from_slice(&arg0.to_le_bytes());
        let mut a = 0u32;
        let mut pc = 0usize;
        loop {
            let ins = prog[pc];
            pc += 1;
            match ins.code {
                BPF_LD_W_ABS => {
                    let o = ins.k as usize;
                    a = u32::from_le_bytes(data[o..o + 4].try_into().unwrap());
                }
                BPF_JEQ_K => pc += if a == ins.k { ins.jt } else { ins.jf } as usize,
                BPF_JGE_K => pc += if a >= ins.k { ins.jt } else { ins.jf } as usize,
                BPF_JSET_K => pc += if a & ins.k != 0 { ins.jt } else { ins.jf } as usize,
                BPF_JA => pc += ins.k as usize,
                BPF_RET_K => return ins.k,
                c => panic!("unexpected opcode {c:#x}"),
            }
        }
    }

    #[test]
    fn filter_decisions() {
        let p = deny_filter(DenyAction::Errno);
        let eperm = SECCOMP_RET_ERRNO | libc::EPERM as u32;
        assert_eq!(run(&p, AUDIT_ARCH_X86_64, 175, 0), eperm); // init_module
        assert_eq!(run(&p, AUDIT_ARCH_X86_64, 169, 0), eperm); // reboot
        assert_eq!(run(&p, AUDIT_ARCH_X86_64, 0, 0), SECCOMP_RET_ALLOW); // read
        assert_eq!(run(&p, AUDIT_ARCH_X86_64, 128, 0), SECCOMP_RET_ALLOW); // i386 nr on x64
        assert_eq!(run(&p, AUDIT_ARCH_I386, 128, 0), eperm); // i386 init_module
        assert_eq!(run(&p, AUDIT_ARCH_I386, 88, 0), eperm); // i386 reboot
        assert_eq!(run(&p, AUDIT_ARCH_I386, 3, 0), SECCOMP_RET_ALLOW); // i386 read
        assert_eq!(run(&p, AUDIT_ARCH_X86_64, X32_SYSCALL_BIT | 1, 0), eperm);
        assert_eq!(run(&p, AUDIT_ARCH_X86_64, 56, 0x11), SECCOMP_RET_ALLOW); // fork-ish clone
        assert_eq!(run(&p, AUDIT_ARCH_X86_64, 56, CLONE_NEWUSER as u64), eperm);
        assert_eq!(run(&p, AUDIT_ARCH_X86_64, 272, 0x2_0000), SECCOMP_RET_ALLOW); // NEWNS
        assert_eq!(run(&p, AUDIT_ARCH_I386, 310, CLONE_NEWUSER as u64), eperm);
        assert_eq!(
            run(&p, AUDIT_ARCH_X86_64, 435, 0),
            SECCOMP_RET_ERRNO | libc::ENOSYS as u32
        );
        assert_eq!(run(&p, 0xdead, 0, 0), SECCOMP_RET_KILL_PROCESS);
        for (name, a, b) in DENIED {
            if let Some(nr) = a {
                assert_eq!(run(&p, AUDIT_ARCH_X86_64, *nr, 0), eperm, "{name}");
                assert_eq!(denied_name(AUDIT_ARCH_X86_64, *nr as i32), *name);
            }
            if let Some(nr) = b {
                assert_eq!(run(&p, AUDIT_ARCH_I386, *nr, 0), eperm, "{name}");
                assert_eq!(denied_name(AUDIT_ARCH_I386, *nr as i32), *name);
            }
        }
        assert!(p.len() < 4096);
    }
}
