//! Tracee ABIs and their syscall numbering.

/// `AUDIT_ARCH_X86_64` as seen in seccomp data and `PTRACE_GET_SYSCALL_INFO`.
pub const AUDIT_ARCH_X86_64: u32 = 0xC000_003E;
/// `AUDIT_ARCH_I386`.
pub const AUDIT_ARCH_I386: u32 = 0x4000_0003;
pub use ferret_syscalls::X32_SYSCALL_BIT;

/// The syscall ABI a tracee used for one syscall.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Arch {
    /// 64-bit x86-64.
    X86_64,
    /// 32-bit i386 (int 0x80 / sysenter, compat syscalls).
    I386,
    /// x32: x86-64 instructions with 32-bit pointers (numbers carry `X32_SYSCALL_BIT`).
    X32,
}

impl Arch {
    /// All ABIs, in table order.
    pub const ALL: [Arch; 3] = [Arch::X86_64, Arch::I386, Arch::X32];

    /// Classifies an audit arch + raw syscall number; `None` for foreign arches.
    pub fn from_audit(audit_arch: u32, nr: u64) -> Option<Arch> {
        match audit_arch {
            AUDIT_ARCH_X86_64 if nr & X32_SYSCALL_BIT != 0 => Some(Arch::X32),
            AUDIT_ARCH_X86_64 => Some(Arch::X86_64),
            AUDIT_ARCH_I386 => Some(Arch::I386),
            _ => None,
        }
    }

    /// Short lower-case name ("x86_64", "i386", "x32").
    pub fn as_str(self) -> &'static str {
        match self {
            Arch::X86_64 => "x86_64",
            Arch::I386 => "i386",
            Arch::X32 => "x32",
        }
    }

    /// Size in bytes of a pointer / `long` in this ABI.
    pub fn word_size(self) -> usize {
        match self {
            Arch::X86_64 => 8,
            Arch::I386 | Arch::X32 => 4,
        }
    }

    pub(crate) fn index(self) -> usize {
        match self {
            Arch::X86_64 => 0,
            Arch::I386 => 1,
            Arch::X32 => 2,
        }
    }

    pub(crate) fn table(self) -> &'static [&'static str] {
        match self {
            Arch::X86_64 => &ferret_syscalls::tables::X86_64,
            Arch::I386 => &ferret_syscalls::tables::I386,
            Arch::X32 => &ferret_syscalls::tables::X32,
        }
    }

    /// Table index of a raw syscall number (strips the x32 bit).
    pub(crate) fn slot(self, nr: u64) -> usize {
        (nr & !X32_SYSCALL_BIT) as usize
    }

    /// Name of syscall `nr` in this ABI, or `None` if unassigned.
    pub fn syscall_name(self, nr: u64) -> Option<&'static str> {
        match self.table().get(self.slot(nr)) {
            Some(n) if !n.is_empty() => Some(n),
            _ => None,
        }
    }

    /// Raw number of syscall `name` in this ABI (x32 numbers include the x32 bit).
    pub fn syscall_nr(self, name: &str) -> Option<u64> {
        let slot = self.table().iter().position(|n| *n == name)? as u64;
        Some(match self {
            Arch::X32 => slot | X32_SYSCALL_BIT,
            _ => slot,
        })
    }
}

impl std::fmt::Display for Arch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Name of errno value `e` ("ENOENT"), or `None` if unknown.
pub fn errno_name(e: i32) -> Option<&'static str> {
    match e {
        512 => Some("ERESTARTSYS"),
        513 => Some("ERESTARTNOINTR"),
        514 => Some("ERESTARTNOHAND"),
        515 => Some("ENOIOCTLCMD"),
        516 => Some("ERESTART_RESTARTBLOCK"),
        // The user-visible range is the event model's one table.
        _ => ferret_event::errno_name(i64::from(e)),
    }
}
