//! The set of syscalls the tracer stops on, per ABI.

use crate::arch::Arch;

/// A family of syscalls that can be traced as a group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Category {
    /// Process life cycle and control: exec, clone/fork, exit, kill, prctl, ptrace, namespaces.
    Process,
    /// Filesystem changes and opens.
    File,
    /// Sockets: creation, connect/bind/listen/accept, sends.
    Network,
    /// `mmap`/`mprotect` (only with `PROT_EXEC` unless [`SyscallSet::set_exec_only_memory`] is off).
    Memory,
    /// Credentials and capabilities.
    Privilege,
    /// SysV and POSIX IPC objects.
    Ipc,
    /// Kernel-level: modules, bpf, kexec, reboot, swap, perf, clock and host name changes.
    Kernel,
}

impl Category {
    /// Every category (the default traced set).
    pub const ALL: [Category; 7] = [
        Category::Process,
        Category::File,
        Category::Network,
        Category::Memory,
        Category::Privilege,
        Category::Ipc,
        Category::Kernel,
    ];

    /// Syscall names in this category; names missing from an ABI are skipped there.
    pub fn syscalls(self) -> &'static [&'static str] {
        match self {
            Category::Process => &[
                "execve",
                "execveat",
                "clone",
                "clone3",
                "fork",
                "vfork",
                "exit",
                "exit_group",
                "kill",
                "tkill",
                "tgkill",
                "rt_sigqueueinfo",
                "rt_tgsigqueueinfo",
                "setsid",
                "setpgid",
                "prctl",
                "ptrace",
                "pidfd_open",
                "pidfd_send_signal",
                "pidfd_getfd",
                "unshare",
                "setns",
                "seccomp",
                "personality",
                "process_vm_writev",
                "process_vm_readv",
                "chroot",
                "pivot_root",
            ],
            Category::File => &[
                "open",
                "openat",
                "openat2",
                "creat",
                "unlink",
                "unlinkat",
                "rename",
                "renameat",
                "renameat2",
                "mkdir",
                "mkdirat",
                "rmdir",
                "chmod",
                "fchmod",
                "fchmodat",
                "fchmodat2",
                "chown",
                "fchown",
                "lchown",
                "fchownat",
                "chown32",
                "fchown32",
                "lchown32",
                "link",
                "linkat",
                "symlink",
                "symlinkat",
                "truncate",
                "truncate64",
                "ftruncate",
                "ftruncate64",
                "mknod",
                "mknodat",
                "memfd_create",
                "memfd_secret",
                "mount",
                "umount",
                "umount2",
                "fsopen",
                "fsmount",
                "move_mount",
                "open_tree",
                "name_to_handle_at",
                "open_by_handle_at",
                "utime",
                "utimes",
                "futimesat",
                "utimensat",
                "utimensat_time64",
            ],
            Category::Network => &[
                "socket",
                "socketpair",
                "connect",
                "bind",
                "listen",
                "accept",
                "accept4",
                "sendto",
                "sendmsg",
                "sendmmsg",
                "socketcall",
            ],
            Category::Memory => &["mmap", "mmap2", "mprotect", "pkey_mprotect"],
            Category::Privilege => &[
                "setuid",
                "setgid",
                "setreuid",
                "setregid",
                "setresuid",
                "setresgid",
                "setfsuid",
                "setfsgid",
                "setgroups",
                "setuid32",
                "setgid32",
                "setreuid32",
                "setregid32",
                "setresuid32",
                "setresgid32",
                "setfsuid32",
                "setfsgid32",
                "setgroups32",
                "capset",
            ],
            Category::Ipc => &[
                "shmget",
                "shmat",
                "shmctl",
                "msgget",
                "semget",
                "ipc",
                "mq_open",
                "mq_unlink",
            ],
            Category::Kernel => &[
                "init_module",
                "finit_module",
                "delete_module",
                "bpf",
                "kexec_load",
                "kexec_file_load",
                "perf_event_open",
                "reboot",
                "swapon",
                "swapoff",
                "iopl",
                "ioperm",
                "syslog",
                "acct",
                "sethostname",
                "setdomainname",
                "settimeofday",
                "clock_settime",
                "clock_settime64",
                "adjtimex",
                "clock_adjtime",
                "clock_adjtime64",
                "stime",
                "quotactl",
                "userfaultfd",
                "io_uring_setup",
                "keyctl",
                "add_key",
                "request_key",
            ],
        }
    }
}

/// Syscalls whose `prot` argument (index 2) the filter checks for `PROT_EXEC`
/// when exec-only memory tracing is on. i386 `mmap` takes a pointer to its
/// arguments, so it cannot be checked in BPF and is always traced.
pub(crate) const PROT_CHECKED: [&str; 4] = ["mmap", "mmap2", "mprotect", "pkey_mprotect"];

const WORDS: usize = 10; // 640 bits: x32 slots go up to 547

/// Which syscalls to stop on, for each ABI. Build one with [`SyscallSet::default`]
/// (every [`Category`]), [`SyscallSet::all`] (`--trace-all`) or
/// [`SyscallSet::from_categories`], then add or remove names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyscallSet {
    bits: [[u64; WORDS]; 3],
    all: bool,
    exec_only_memory: bool,
}

impl Default for SyscallSet {
    fn default() -> Self {
        Self::from_categories(&Category::ALL)
    }
}

impl SyscallSet {
    /// No syscall traced (process events such as fork/exec/exit are still reported).
    pub fn empty() -> Self {
        SyscallSet {
            bits: [[0; WORDS]; 3],
            all: false,
            exec_only_memory: true,
        }
    }

    /// Every syscall of every ABI (`--trace-all`).
    pub fn all() -> Self {
        SyscallSet {
            all: true,
            ..Self::empty()
        }
    }

    /// The union of the given categories.
    pub fn from_categories(cats: &[Category]) -> Self {
        let mut s = Self::empty();
        for c in cats {
            for name in c.syscalls() {
                s.insert(name);
            }
        }
        s
    }

    /// Whether this set traces everything.
    pub fn is_all(&self) -> bool {
        self.all
    }

    /// Adds syscall `name` for every ABI that has it; false if no ABI knows the name.
    pub fn insert(&mut self, name: &str) -> bool {
        let mut known = false;
        for arch in Arch::ALL {
            if let Some(nr) = arch.syscall_nr(name) {
                let slot = arch.slot(nr);
                self.bits[arch.index()][slot / 64] |= 1 << (slot % 64);
                known = true;
            }
        }
        known
    }

    /// Removes syscall `name` from every ABI (no effect on an all-set); false if unknown.
    pub fn remove(&mut self, name: &str) -> bool {
        let mut known = false;
        for arch in Arch::ALL {
            if let Some(nr) = arch.syscall_nr(name) {
                let slot = arch.slot(nr);
                self.bits[arch.index()][slot / 64] &= !(1 << (slot % 64));
                known = true;
            }
        }
        known
    }

    /// With `true` (the default), `mmap`/`mmap2`/`mprotect`/`pkey_mprotect` stop
    /// only when `prot` has `PROT_EXEC`; with `false`, on every call.
    pub fn set_exec_only_memory(&mut self, on: bool) {
        self.exec_only_memory = on;
    }

    /// Whether memory-protection syscalls are filtered on `PROT_EXEC`.
    pub fn exec_only_memory(&self) -> bool {
        self.exec_only_memory && !self.all
    }

    /// Whether syscall `nr` (raw, x32 bit included) of `arch` is in the set
    /// (ignoring the `PROT_EXEC` argument check).
    pub fn contains(&self, arch: Arch, nr: u64) -> bool {
        if self.all {
            return true;
        }
        let slot = arch.slot(nr);
        match self.bits[arch.index()].get(slot / 64) {
            Some(w) => w & (1 << (slot % 64)) != 0,
            None => false,
        }
    }

    /// Raw numbers traced for `arch`, ascending (empty for an all-set).
    pub fn numbers(&self, arch: Arch) -> impl Iterator<Item = u64> + '_ {
        let words = &self.bits[arch.index()];
        (0..WORDS * 64)
            .filter(move |slot| words[slot / 64] & (1 << (slot % 64)) != 0)
            .map(move |slot| match arch {
                Arch::X32 => slot as u64 | crate::arch::X32_SYSCALL_BIT,
                _ => slot as u64,
            })
    }
}
