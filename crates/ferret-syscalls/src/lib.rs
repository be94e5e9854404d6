//! Linux syscall tables and symbolic constants shared by ferret's tracers and log
//! readers: syscall number ↔ name per architecture ([`Table`]), signal names, and the
//! flag/constant renderers of [`flags`] (`O_*`, `PROT_*`, `MAP_*`, `CLONE_*`, `PR_*`,
//! `PTRACE_*`, socket domains, types and protocols, file modes...).
//!
//! The tables are generated from the kernel UAPI headers by `tools/gen_tables.py`
//! (x86-64, i386 and x32 as dense arrays for O(1) lookups on a tracer's hot path; the
//! other architectures as sorted slices). Errno names live in `ferret-event`, the
//! event model every producer already depends on.

pub mod flags;
#[rustfmt::skip]
pub mod tables;

/// Bit set in the syscall number of x32 syscalls (which report `AUDIT_ARCH_X86_64`).
pub const X32_SYSCALL_BIT: u64 = 0x4000_0000;

/// One syscall numbering. Several architectures share one: RISC-V 64 and arm64 use
/// the generic table, 32- and 64-bit PowerPC one table, both MIPS o32 endiannesses one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Table {
    /// x86-64.
    X86_64,
    /// i386 (also 32-bit programs on x86-64 hosts).
    I386,
    /// x32; numbers carry [`X32_SYSCALL_BIT`].
    X32,
    /// The asm-generic numbering of arm64 and riscv64.
    Generic,
    /// 32-bit ARM EABI.
    Arm,
    /// PowerPC (32- and 64-bit).
    Ppc,
    /// MIPS o32 (numbers from 4000).
    MipsO32,
}

impl Table {
    /// Every table.
    pub const ALL: [Table; 7] = [
        Table::X86_64,
        Table::I386,
        Table::X32,
        Table::Generic,
        Table::Arm,
        Table::Ppc,
        Table::MipsO32,
    ];

    /// The dense array of this table (index = number without the x32 bit), for the
    /// x86 ABIs; `None` for the sparse tables.
    pub fn dense(self) -> Option<&'static [&'static str]> {
        match self {
            Table::X86_64 => Some(&tables::X86_64),
            Table::I386 => Some(&tables::I386),
            Table::X32 => Some(&tables::X32),
            _ => None,
        }
    }

    fn sparse(self) -> &'static [(u32, &'static str)] {
        match self {
            Table::Generic => tables::AARCH64,
            Table::Arm => tables::ARM,
            Table::Ppc => tables::PPC,
            Table::MipsO32 => tables::MIPS_O32,
            Table::X86_64 | Table::I386 | Table::X32 => &[],
        }
    }

    /// Name of syscall `nr`, or `None` if unassigned. x32 numbers may carry
    /// [`X32_SYSCALL_BIT`].
    pub fn name(self, nr: u64) -> Option<&'static str> {
        if let Some(d) = self.dense() {
            let slot = if self == Table::X32 {
                nr & !X32_SYSCALL_BIT
            } else {
                nr
            };
            return match usize::try_from(slot).ok().and_then(|i| d.get(i)) {
                Some(n) if !n.is_empty() => Some(n),
                _ => None,
            };
        }
        let nr = u32::try_from(nr).ok()?;
        let t = self.sparse();
        t.binary_search_by_key(&nr, |&(n, _)| n)
            .ok()
            .and_then(|i| t.get(i))
            .map(|&(_, name)| name)
    }

    /// Number of syscall `name` (x32 numbers include [`X32_SYSCALL_BIT`]).
    pub fn number(self, name: &str) -> Option<u64> {
        self.entries().find(|&(_, n)| n == name).map(|(nr, _)| nr)
    }

    /// Every assigned (number, name), by increasing number (x32 numbers include
    /// [`X32_SYSCALL_BIT`]).
    pub fn entries(self) -> impl Iterator<Item = (u64, &'static str)> {
        let bit = if self == Table::X32 {
            X32_SYSCALL_BIT
        } else {
            0
        };
        let dense = self
            .dense()
            .unwrap_or(&[])
            .iter()
            .enumerate()
            .filter(|(_, n)| !n.is_empty())
            .map(move |(i, n)| (i as u64 | bit, *n));
        let sparse = self.sparse().iter().map(|&(nr, n)| (u64::from(nr), n));
        dense.chain(sparse)
    }
}

/// Standard signal names by number (the generic numbering of x86, arm, arm64, ppc and
/// s390); 0 is `SIG0`, as ausearch prints it.
const SIGNALS: [&str; 32] = [
    "SIG0",
    "SIGHUP",
    "SIGINT",
    "SIGQUIT",
    "SIGILL",
    "SIGTRAP",
    "SIGABRT",
    "SIGBUS",
    "SIGFPE",
    "SIGKILL",
    "SIGUSR1",
    "SIGSEGV",
    "SIGUSR2",
    "SIGPIPE",
    "SIGALRM",
    "SIGTERM",
    "SIGSTKFLT",
    "SIGCHLD",
    "SIGCONT",
    "SIGSTOP",
    "SIGTSTP",
    "SIGTTIN",
    "SIGTTOU",
    "SIGURG",
    "SIGXCPU",
    "SIGXFSZ",
    "SIGVTALRM",
    "SIGPROF",
    "SIGWINCH",
    "SIGIO",
    "SIGPWR",
    "SIGSYS",
];

/// The name of standard signal `num` (`0` → `SIG0`, `31` → `SIGSYS`); `None` past 31
/// (see [`flags::signal_text`] for real-time signals).
pub fn signal_name(num: u64) -> Option<&'static str> {
    usize::try_from(num)
        .ok()
        .and_then(|i| SIGNALS.get(i))
        .copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_numbers() {
        assert_eq!(Table::X86_64.name(59), Some("execve"));
        assert_eq!(Table::X86_64.name(451), Some("cachestat"));
        assert_eq!(Table::I386.name(11), Some("execve"));
        assert_eq!(Table::X32.name(520 | X32_SYSCALL_BIT), Some("execve"));
        assert_eq!(Table::Generic.name(221), Some("execve"));
        assert_eq!(Table::Arm.name(283), Some("connect"));
        assert_eq!(Table::Ppc.name(11), Some("execve"));
        assert_eq!(Table::MipsO32.name(4011), Some("execve"));
        assert_eq!(Table::X86_64.name(100_000), None);
        assert_eq!(Table::X86_64.name(u64::MAX), None);
        assert_eq!(Table::MipsO32.name(u64::MAX), None);
        assert_eq!(Table::X86_64.number("openat"), Some(257));
        assert_eq!(Table::X32.number("execve"), Some(520 | X32_SYSCALL_BIT));
        assert_eq!(Table::MipsO32.number("execve"), Some(4011));
        assert_eq!(Table::Arm.number("no_such_call"), None);
    }

    #[test]
    fn entries_round_trip() {
        for t in Table::ALL {
            let mut last = None;
            let mut count = 0;
            for (nr, name) in t.entries() {
                assert!(last < Some(nr), "{t:?} not sorted at {nr}");
                last = Some(nr);
                assert_eq!(t.name(nr), Some(name), "{t:?} {nr}");
                count += 1;
            }
            assert!(count > 300, "{t:?} has only {count} syscalls");
        }
    }

    #[test]
    fn signals() {
        assert_eq!(signal_name(0), Some("SIG0"));
        assert_eq!(signal_name(9), Some("SIGKILL"));
        assert_eq!(signal_name(31), Some("SIGSYS"));
        assert_eq!(signal_name(32), None);
        assert_eq!(signal_name(u64::MAX), None);
    }
}
