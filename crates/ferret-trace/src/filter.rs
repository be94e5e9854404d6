//! seccomp-bpf program that makes the kernel stop the tracee (SECCOMP_RET_TRACE)
//! only on the traced syscalls, so untraced syscalls cost no ptrace stop.

use crate::arch::{AUDIT_ARCH_I386, AUDIT_ARCH_X86_64, Arch, X32_SYSCALL_BIT};
use crate::set::{PROT_CHECKED, SyscallSet};
use libc::sock_filter;

const LD_W_ABS: u16 = 0x20; // BPF_LD | BPF_W | BPF_ABS
const JMP_JA: u16 = 0x05; // BPF_JMP | BPF_JA
const JMP_JEQ_K: u16 = 0x15;
const JMP_JGT_K: u16 = 0x25;
const JMP_JGE_K: u16 = 0x35;
const JMP_JSET_K: u16 = 0x45;
const RET_K: u16 = 0x06;

const OFF_NR: u32 = 0; // offsetof(struct seccomp_data, nr)
const OFF_ARCH: u32 = 4;
const OFF_ARGS: u32 = 16;
const PROT_EXEC: u32 = 4;
/// The kernel refuses longer programs (BPF_MAXINSNS).
const MAX_INSNS: usize = 4096;

const RET_TRACE: u32 = libc::SECCOMP_RET_TRACE;
const RET_ALLOW: u32 = libc::SECCOMP_RET_ALLOW;

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

/// Builds the seccomp filter for `set`: `SECCOMP_RET_TRACE` for traced
/// syscalls, `SECCOMP_RET_ALLOW` for the rest, for x86-64, x32 (checked with
/// the same names as x86-64) and i386 callers; any other arch is allowed
/// (the sandbox's own filter is where foreign arches are denied).
///
/// Memory-protection syscalls stop only when `prot & PROT_EXEC` if
/// [`SyscallSet::exec_only_memory`] is set. In the (pathological) case of a
/// set so fragmented that the program would exceed the kernel's 4096
/// instructions, every syscall is traced instead: more stops, nothing missed.
///
/// Install it in the tracee (after `PR_SET_NO_NEW_PRIVS`) with
/// `seccomp(SECCOMP_SET_MODE_FILTER, 0, &sock_fprog)` before `execve`.
pub fn ptrace_filter(set: &SyscallSet) -> Vec<sock_filter> {
    let prog = build(set);
    if prog.len() > MAX_INSNS {
        return build(&SyscallSet::all());
    }
    prog
}

fn build(set: &SyscallSet) -> Vec<sock_filter> {
    let x64 = arch_block(set, Arch::X86_64);
    let x32 = arch_block(set, Arch::X32);
    let i386 = arch_block(set, Arch::I386);
    let mut p = Vec::with_capacity(x64.len() + x32.len() + i386.len() + 10);
    p.push(stmt(LD_W_ABS, OFF_ARCH));
    p.push(jump(JMP_JEQ_K, AUDIT_ARCH_X86_64, 1, 0));
    // Not x86-64: skip its whole section (long jump, blocks may exceed 255 insns).
    p.push(stmt(JMP_JA, (3 + x64.len() + x32.len()) as u32));
    // x86-64 and x32 share an audit arch; x32 numbers carry the x32 bit.
    p.push(stmt(LD_W_ABS, OFF_NR));
    p.push(jump(JMP_JGE_K, X32_SYSCALL_BIT as u32, 0, 1));
    p.push(stmt(JMP_JA, x64.len() as u32));
    p.extend_from_slice(&x64);
    p.extend_from_slice(&x32);
    p.push(jump(JMP_JEQ_K, AUDIT_ARCH_I386, 1, 0));
    p.push(stmt(JMP_JA, (1 + i386.len()) as u32));
    p.push(stmt(LD_W_ABS, OFF_NR));
    p.extend_from_slice(&i386);
    p.push(stmt(RET_K, RET_ALLOW));
    p
}

/// Instructions deciding for one ABI with the syscall number in A; every path
/// ends in a return, so blocks can be laid out one after another.
fn arch_block(set: &SyscallSet, arch: Arch) -> Vec<sock_filter> {
    if set.is_all() {
        return vec![stmt(RET_K, RET_TRACE)];
    }
    let checked: Vec<u64> = if set.exec_only_memory() {
        PROT_CHECKED
            .iter()
            // i386 `mmap` passes a pointer to its arguments: keep it unconditional.
            .filter(|n| !(arch == Arch::I386 && **n == "mmap"))
            .filter_map(|n| arch.syscall_nr(n))
            .filter(|nr| set.contains(arch, *nr))
            .collect()
    } else {
        Vec::new()
    };
    let mut out = Vec::new();
    // The low 32 bits of args[2]; the kernel zero-extends i386 args.
    let prot_off = OFF_ARGS + 2 * 8;
    for &nr in &checked {
        out.push(jump(JMP_JEQ_K, nr as u32, 0, 4));
        out.push(stmt(LD_W_ABS, prot_off));
        out.push(jump(JMP_JSET_K, PROT_EXEC, 0, 1));
        out.push(stmt(RET_K, RET_TRACE));
        out.push(stmt(RET_K, RET_ALLOW));
    }
    // Remaining numbers as ranges of consecutive values.
    let mut nums = set
        .numbers(arch)
        .filter(|n| !checked.contains(n))
        .peekable();
    while let Some(lo) = nums.next() {
        let mut hi = lo;
        while nums.peek() == Some(&(hi + 1)) {
            hi += 1;
            nums.next();
        }
        if lo == hi {
            out.push(jump(JMP_JEQ_K, lo as u32, 0, 1));
        } else {
            out.push(jump(JMP_JGE_K, lo as u32, 0, 2));
            out.push(jump(JMP_JGT_K, hi as u32, 1, 0));
        }
        out.push(stmt(RET_K, RET_TRACE));
    }
    out.push(stmt(RET_K, RET_ALLOW));
    out
}

/// Evaluates a filter the way the kernel would, for tests and debugging:
/// returns the action for (arch, nr, args). `None` for a malformed program.
pub fn evaluate(prog: &[sock_filter], audit_arch: u32, nr: u32, args: [u64; 6]) -> Option<u32> {
    let mut data = [0u8; 64];
    data[0..4].copy_from_slice(&nr.to_ne_bytes());
    data[4..8].copy_from_slice(&audit_arch.to_ne_bytes());
    for (i, a) in args.iter().enumerate() {
        let o = 16 + i * 8;
        data.get_mut(o..o + 8)?.copy_from_slice(&a.to_ne_bytes());
    }
    let mut a: u32 = 0;
    let mut pc = 0usize;
    loop {
        let ins = prog.get(pc)?;
        pc += 1;
        match ins.code {
            LD_W_ABS => {
                let o = ins.k as usize;
                a = u32::from_ne_bytes(data.get(o..o + 4)?.try_into().ok()?);
            }
            RET_K => return Some(ins.k),
            JMP_JA => pc += ins.k as usize,
            JMP_JEQ_K | JMP_JGT_K | JMP_JGE_K | JMP_JSET_K => {
                let t = match ins.code {
                    JMP_JEQ_K => a == ins.k,
                    JMP_JGT_K => a > ins.k,
                    JMP_JGE_K => a >= ins.k,
                    _ => a & ins.k != 0,
                };
                pc += if t { ins.jt } else { ins.jf } as usize;
            }
            _ => return None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn action(p: &[sock_filter], arch: Arch, name: &str, prot: u64) -> u32 {
        let nr = arch
            .syscall_nr(name)
            .unwrap_or_else(|| panic!("{name} on {arch}"));
        let audit = if arch == Arch::I386 {
            AUDIT_ARCH_I386
        } else {
            AUDIT_ARCH_X86_64
        };
        evaluate(p, audit, nr as u32, [0, 0, prot, 0, 0, 0]).expect("well-formed program")
    }

    #[test]
    fn default_set_traces_only_members() {
        let set = SyscallSet::default();
        let p = ptrace_filter(&set);
        assert!(p.len() < MAX_INSNS);
        for arch in Arch::ALL {
            for (name, want) in [
                ("execve", RET_TRACE),
                ("openat", RET_TRACE),
                ("connect", RET_TRACE),
                ("getpid", RET_ALLOW),
                ("write", RET_ALLOW),
                ("read", RET_ALLOW),
                ("exit_group", RET_TRACE),
            ] {
                assert_eq!(action(&p, arch, name, 0), want, "{name} on {arch}");
            }
            assert_eq!(action(&p, arch, "mprotect", 1), RET_ALLOW, "{arch}");
            assert_eq!(action(&p, arch, "mprotect", 5), RET_TRACE, "{arch}");
        }
        assert_eq!(action(&p, Arch::I386, "mmap2", 3), RET_ALLOW);
        assert_eq!(action(&p, Arch::I386, "mmap2", 7), RET_TRACE);
        assert_eq!(action(&p, Arch::I386, "socketcall", 0), RET_TRACE);
        assert_eq!(action(&p, Arch::X86_64, "mmap", 1), RET_ALLOW);
        // Unknown arches are left to the sandbox's filter.
        assert_eq!(evaluate(&p, 0xdead, 59, [0; 6]), Some(RET_ALLOW));
    }

    #[test]
    fn every_number_matches_the_set() {
        let mut set = SyscallSet::default();
        set.set_exec_only_memory(false);
        set.insert("getpid");
        let p = ptrace_filter(&set);
        for arch in Arch::ALL {
            let audit = if arch == Arch::I386 {
                AUDIT_ARCH_I386
            } else {
                AUDIT_ARCH_X86_64
            };
            for slot in 0..600u64 {
                let nr = if arch == Arch::X32 {
                    slot | X32_SYSCALL_BIT
                } else {
                    slot
                };
                let want = if set.contains(arch, nr) {
                    RET_TRACE
                } else {
                    RET_ALLOW
                };
                assert_eq!(
                    evaluate(&p, audit, nr as u32, [0; 6]),
                    Some(want),
                    "{arch} {nr}"
                );
            }
        }
    }

    #[test]
    fn trace_all_and_empty() {
        let p = ptrace_filter(&SyscallSet::all());
        assert_eq!(action(&p, Arch::X86_64, "getpid", 0), RET_TRACE);
        assert_eq!(action(&p, Arch::I386, "getpid", 0), RET_TRACE);
        assert_eq!(action(&p, Arch::X32, "getpid", 0), RET_TRACE);
        let p = ptrace_filter(&SyscallSet::empty());
        assert_eq!(action(&p, Arch::X86_64, "execve", 0), RET_ALLOW);
        assert_eq!(action(&p, Arch::I386, "execve", 0), RET_ALLOW);
    }
}
