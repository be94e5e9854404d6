//! How a sample is started in the sandbox: natively, or under `qemu-<arch>-static`
//! with the syscall log written to per-process FIFOs the host reads.

use std::ffi::OsString;
use std::fs;
use std::path::{Path, PathBuf};

use ferret_sandbox::{SandboxConfig, SpawnSpec};

use crate::arch::{Arch, detect};
use crate::{Error, StraceLog};

/// Sandbox path of the directory holding the syscall-log FIFOs (a read-only bind of a
/// host directory; a FIFO on a read-only mount can still be written).
pub const LOG_DIR: &str = "/run/qemu";
/// QEMU's log file: with `-d tid`, `%d` is the thread id of the writing thread (the
/// pid for a process's first thread), so every thread has its own FIFO (see
/// [`StraceLog`]).
pub const LOG_TEMPLATE: &str = "/run/qemu/strace.%d";
/// Sandbox directory QEMU searches first for a guest's files (its built-in
/// `interp_prefix` in Debian's build, `/etc/qemu-binfmt/<qemu-arch>`): each
/// architecture's cross C library is bind-mounted there, so a dynamically linked
/// sample finds its loader (`/lib/ld-linux.so.3`...) and libraries whether QEMU was
/// started by ferret or by the sandbox's binfmt_misc for a second stage.
pub const SYSROOT_BASE: &str = "/etc/qemu-binfmt";

/// Which program runs the sample.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Runner {
    /// The host runs it directly (x86-64, i386).
    Native,
    /// `qemu-<arch>-static` (host path, also valid inside the sandbox: /usr is bound).
    Qemu {
        /// The emulator binary.
        binary: PathBuf,
    },
}

/// The decision for one sample: architecture, runner and C library.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// Architecture (detected, or forced with `--arch`).
    pub arch: Arch,
    /// Whether `arch` came from the override rather than the header.
    pub forced: bool,
    /// How the sample runs.
    pub runner: Runner,
    /// `PT_INTERP` of a dynamically linked sample.
    pub interpreter: Option<String>,
    /// The host's cross C library for `arch`, if installed.
    pub sysroot: Option<PathBuf>,
}

impl Plan {
    /// Chooses the runner for `data` (the sample's bytes). `arch` overrides the
    /// detection (`--arch`); without it a non-ELF or unknown-machine file is an error.
    /// Fails when the emulator is not installed, or when a dynamically linked sample
    /// needs a cross C library that is not installed.
    pub fn for_sample(data: &[u8], arch: Option<Arch>) -> Result<Plan, Error> {
        let detected = detect(data);
        let (arch, forced, interpreter) = match (arch, detected) {
            (Some(a), Ok(d)) => (a, a != d.arch, d.interpreter),
            (Some(a), Err(_)) => (a, true, None),
            (None, Ok(d)) => (d.arch, false, d.interpreter),
            (None, Err(e)) => return Err(e),
        };
        Plan::for_arch(arch, forced, interpreter)
    }

    /// The plan for a known architecture.
    pub fn for_arch(arch: Arch, forced: bool, interpreter: Option<String>) -> Result<Plan, Error> {
        let runner = match arch.qemu_binary() {
            None => Runner::Native,
            Some(binary) => {
                if !binary.is_file() {
                    return Err(Error::MissingEmulator(format!(
                        "{} (install Debian's qemu-user-static)",
                        binary.display()
                    )));
                }
                Runner::Qemu { binary }
            }
        };
        let sysroot = arch.sysroot().filter(|p| p.is_dir());
        if interpreter.is_some() && !arch.is_native() && sysroot.is_none() {
            return Err(Error::MissingLibc(format!(
                "{arch} is dynamically linked ({}) but {} is not installed",
                interpreter.as_deref().unwrap_or(""),
                arch.sysroot().map_or_else(
                    || "no Debian cross C library".to_owned(),
                    |p| p.display().to_string()
                )
            )));
        }
        Ok(Plan {
            arch,
            forced,
            runner,
            interpreter,
            sysroot,
        })
    }

    /// Whether the sample runs under QEMU.
    pub fn emulated(&self) -> bool {
        matches!(self.runner, Runner::Qemu { .. })
    }

    /// Adds what emulation needs to a sandbox configuration: the cross C libraries of
    /// every installed architecture under [`SYSROOT_BASE`] (the sample's own ABI wins
    /// where two share one QEMU, e.g. armel/armhf), the binfmt_misc rules of every
    /// installed emulator (so foreign children are emulated and logged too), and the
    /// log FIFO's directory. A native plan still gets the binfmt rules and log: a
    /// native sample may drop and run a foreign binary. On kernels older than 6.7
    /// (no binfmt_misc per user namespace, see [`sandbox_binfmt_supported`]) no rule
    /// is added: the sample itself is still emulated, a foreign program it starts
    /// fails with `ENOEXEC`.
    pub fn configure(&self, cfg: SandboxConfig, log: &StraceLog) -> SandboxConfig {
        let mut cfg = cfg.ro_bind(log.host_dir(), LOG_DIR);
        let mut seen: Vec<&str> = Vec::new();
        // The sample's architecture first: it owns its QEMU name's sysroot.
        let order = std::iter::once(self.arch).chain(Arch::all().filter(|a| *a != self.arch));
        for arch in order {
            let (Some(q), Some(root)) = (arch.qemu_name(), arch.sysroot()) else {
                continue;
            };
            if seen.contains(&q) || !root.is_dir() {
                continue;
            }
            seen.push(q);
            cfg = cfg.ro_bind(root, Path::new(SYSROOT_BASE).join(q));
        }
        if !sandbox_binfmt_supported() {
            return cfg;
        }
        for arch in Arch::all() {
            if let Some(bin) = arch.qemu_binary().filter(|b| b.is_file())
                && let Some(rule) = arch.binfmt_rule(&bin)
            {
                cfg.binfmt.push(rule);
            }
        }
        cfg
    }

    /// The spawn request running `sample` (a path inside the sandbox) with `args`.
    /// Under QEMU, argv\[0\] stays the sample's path (`-0`), the syscall log goes to
    /// [`LOG_TEMPLATE`] (`-d strace -D`, not the sample's stderr) and the environment
    /// carries `QEMU_LOG=strace,tid` and `QEMU_LOG_FILENAME` so that QEMUs started by
    /// binfmt_misc for foreign children log too, each to its own process's FIFO.
    pub fn spawn_spec(&self, sample: &Path, args: &[OsString]) -> SpawnSpec {
        let mut argv: Vec<OsString> = vec![sample.as_os_str().to_owned()];
        argv.extend(args.iter().cloned());
        let mut spec = SpawnSpec::new(argv.clone());
        spec.env.push(OsString::from("QEMU_LOG=strace,tid"));
        spec.env
            .push(OsString::from(format!("QEMU_LOG_FILENAME={LOG_TEMPLATE}")));
        if let Runner::Qemu { binary } = &self.runner {
            let mut q: Vec<OsString> = vec![binary.as_os_str().to_owned()];
            if let Some(q_name) = self.arch.qemu_name() {
                q.push("-L".into());
                q.push(Path::new(SYSROOT_BASE).join(q_name).into_os_string());
            }
            q.extend(
                ["-d", "strace,tid", "-D", LOG_TEMPLATE, "-0"]
                    .into_iter()
                    .map(OsString::from),
            );
            q.push(sample.as_os_str().to_owned());
            q.push(sample.as_os_str().to_owned());
            q.extend(args.iter().cloned());
            spec.program = Some(binary.clone());
            spec.argv = q;
        }
        spec
    }
}

/// Where Debian's cross C library for i386 (`libc6-i386-cross`) keeps the loader and
/// libraries; the sandbox sees it too (the host's /usr is bound).
const I386_CROSS_LIB: &str = "/usr/i686-linux-gnu/lib";

impl Plan {
    /// For a dynamically linked i386 sample on a host without the i386 loader (no
    /// multiarch `libc6:i386`): the overlay that makes the i386 cross C library appear
    /// in the sandbox's `/usr/lib` (and so at `/lib`, a link to it), where the ELF names
    /// its loader (`/lib/ld-linux.so.2`) and the loader looks for libraries. `None`
    /// when nothing is missing or the cross library is not installed.
    pub fn native_lib_overlay(&self) -> Option<String> {
        let interp = self.interpreter.as_deref()?;
        if self.arch != Arch::I386 || Path::new(interp).exists() {
            return None;
        }
        let cross = Path::new(I386_CROSS_LIB);
        let name = Path::new(interp).file_name()?;
        if !cross.join(name).is_file() {
            return None;
        }
        // The host's /usr/lib stays on top: its files win any name clash.
        Some(format!(
            "ro,nosuid,nodev,lowerdir=/usr/lib:{I386_CROSS_LIB}"
        ))
    }

    /// Mounts [`native_lib_overlay`](Self::native_lib_overlay) on `/usr/lib` in the
    /// mount namespace of the sandbox whose init has host pid `init_host_pid`. Call it
    /// after the sample is spawned and before it is released: the sample's `execve`
    /// then finds the loader. The overlay has no upper layer (read-only) and lives and
    /// dies with the sandbox's mount namespace; the host's mounts are not touched.
    /// Returns whether anything was mounted.
    pub fn mount_native_libs(&self, init_host_pid: i32) -> Result<bool, Error> {
        let Some(opts) = self.native_lib_overlay() else {
            return Ok(false);
        };
        // nsenter(1) enters only the mount namespace (keeping the host's credentials,
        // which own every namespace of the sandbox) and takes its root, the sandbox's.
        let out = std::process::Command::new("nsenter")
            .arg(format!("--target={init_host_pid}"))
            .args(["--mount", "--", "mount", "-t", "overlay", "-o"])
            .arg(&opts)
            .args(["ferret-i386-libs", "/usr/lib"])
            .output()
            .map_err(|e| Error::Io(format!("running nsenter (util-linux): {e}")))?;
        if !out.status.success() {
            return Err(Error::Io(format!(
                "mounting the i386 C library in the sandbox failed ({}): {}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
        Ok(true)
    }
}

/// Whether the running kernel gives each user namespace its own binfmt_misc
/// instance (Linux >= 6.7), which the sandbox needs to register handlers without
/// touching the host's.
pub fn sandbox_binfmt_supported() -> bool {
    let Ok(release) = fs::read_to_string("/proc/sys/kernel/osrelease") else {
        return false;
    };
    let mut parts = release
        .trim()
        .split(|c: char| !c.is_ascii_digit())
        .map(|p| p.parse::<u32>().unwrap_or(0));
    let major = parts.next().unwrap_or(0);
    let minor = parts.next().unwrap_or(0);
    (major, minor) >= (6, 7)
}
