//! How a sample is started in the sandbox: natively, or under `qemu-<arch>-static`
//! with the syscall log written to a FIFO the host reads.

use std::ffi::{CString, OsString};
use std::fs;
use std::io::{self, Read};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::SystemTime;

use ferret_sandbox::{SandboxConfig, SpawnSpec};

use crate::arch::{Arch, detect};
use crate::{Error, StraceParser};

/// Sandbox path of the directory holding the syscall-log FIFO (a read-only bind of a
/// host directory; a FIFO on a read-only mount can still be written).
pub const LOG_DIR: &str = "/run/qemu";
/// Sandbox path of the syscall-log FIFO every QEMU process of the task writes to.
pub const LOG_FIFO: &str = "/run/qemu/strace";
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
        let mut cfg = cfg.ro_bind(&log.host_dir, LOG_DIR);
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
    /// [`LOG_FIFO`] (`-d strace -D`, not the sample's stderr) and the environment
    /// carries `QEMU_LOG=strace` and `QEMU_LOG_FILENAME` so that QEMUs started by
    /// binfmt_misc for foreign children log to the same FIFO.
    pub fn spawn_spec(&self, sample: &Path, args: &[OsString]) -> SpawnSpec {
        let mut argv: Vec<OsString> = vec![sample.as_os_str().to_owned()];
        argv.extend(args.iter().cloned());
        let mut spec = SpawnSpec::new(argv.clone());
        spec.env.push(OsString::from("QEMU_LOG=strace"));
        spec.env
            .push(OsString::from(format!("QEMU_LOG_FILENAME={LOG_FIFO}")));
        if let Runner::Qemu { binary } = &self.runner {
            let mut q: Vec<OsString> = vec![binary.as_os_str().to_owned()];
            if let Some(q_name) = self.arch.qemu_name() {
                q.push("-L".into());
                q.push(Path::new(SYSROOT_BASE).join(q_name).into_os_string());
            }
            q.extend(
                ["-d", "strace", "-D", LOG_FIFO, "-0"]
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

static LOG_COUNTER: AtomicU64 = AtomicU64::new(0);

/// Raw log pieces: (receive time in ns since the epoch, bytes).
pub type Chunks = Vec<(u64, Vec<u8>)>;

/// The host side of the syscall log: a FIFO in a private host directory (bound
/// read-only into the sandbox at [`LOG_DIR`]) and a thread that drains it.
///
/// The host holds both ends open from creation, so QEMU never blocks opening it and
/// never sees `EPIPE`, and the reader never sees a premature end of file. Every QEMU
/// process of the task writes to it; each of QEMU's log writes is one `write` below
/// `PIPE_BUF` in practice, so pieces from different processes never tear each other
/// (see [`StraceParser`] for how they interleave).
#[derive(Debug)]
pub struct StraceLog {
    host_dir: PathBuf,
    stop: Arc<AtomicBool>,
    writer: Option<OwnedFd>,
    reader: Option<JoinHandle<io::Result<Chunks>>>,
}

fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

impl StraceLog {
    /// Creates the FIFO under `work_root` (the sandbox's work root: it is searchable by
    /// the sandbox's unprivileged root) and starts draining it.
    pub fn create(work_root: &Path) -> Result<StraceLog, Error> {
        let n = LOG_COUNTER.fetch_add(1, Ordering::Relaxed);
        let host_dir = work_root.join(format!("emu-log-{}-{n}", std::process::id()));
        let ctx =
            |what: &str, e: io::Error| Error::Io(format!("{what} {}: {e}", host_dir.display()));
        fs::create_dir(&host_dir).map_err(|e| ctx("creating", e))?;
        let mut log = StraceLog {
            host_dir,
            stop: Arc::new(AtomicBool::new(false)),
            writer: None,
            reader: None,
        };
        fs::set_permissions(&log.host_dir, fs::Permissions::from_mode(0o755))
            .map_err(|e| Error::Io(format!("chmod {}: {e}", log.host_dir.display())))?;
        let fifo = log.host_dir.join("strace");
        let c = CString::new(fifo.as_os_str().as_bytes())
            .map_err(|_| Error::Io(format!("{} contains a NUL byte", fifo.display())))?;
        // SAFETY: mkfifo with a valid NUL-terminated path.
        if unsafe { libc::mkfifo(c.as_ptr(), 0o600) } != 0 {
            return Err(Error::Io(format!(
                "mkfifo {}: {}",
                fifo.display(),
                io::Error::last_os_error()
            )));
        }
        // The sandbox's root is another host uid: it needs write permission.
        fs::set_permissions(&fifo, fs::Permissions::from_mode(0o622))
            .map_err(|e| Error::Io(format!("chmod {}: {e}", fifo.display())))?;
        let open = |flags: libc::c_int| -> Result<OwnedFd, Error> {
            // SAFETY: open with a valid NUL-terminated path; the result is checked.
            let fd = unsafe { libc::open(c.as_ptr(), flags | libc::O_CLOEXEC) };
            if fd < 0 {
                return Err(Error::Io(format!(
                    "opening {}: {}",
                    fifo.display(),
                    io::Error::last_os_error()
                )));
            }
            // SAFETY: fd was just opened and is owned by nobody else.
            Ok(unsafe { OwnedFd::from_raw_fd(fd) })
        };
        let reader_fd = open(libc::O_RDONLY | libc::O_NONBLOCK)?;
        log.writer = Some(open(libc::O_WRONLY | libc::O_NONBLOCK)?);
        let stop = Arc::clone(&log.stop);
        log.reader = Some(
            std::thread::Builder::new()
                .name("emu-strace-log".into())
                .spawn(move || drain(reader_fd, &stop))
                .map_err(|e| Error::Io(format!("starting the log reader: {e}")))?,
        );
        Ok(log)
    }

    /// The host directory bound at [`LOG_DIR`].
    pub fn host_dir(&self) -> &Path {
        &self.host_dir
    }

    /// Stops reading (call it once every QEMU of the task has exited, e.g. after
    /// `Sandbox::wait` or `Sandbox::stop`), returns the raw log as `(receive time in ns
    /// since the epoch, bytes)` chunks, and removes the FIFO.
    pub fn finish(mut self) -> Result<Chunks, Error> {
        self.stop.store(true, Ordering::Release);
        self.writer = None;
        let chunks = match self.reader.take() {
            Some(h) => h
                .join()
                .map_err(|_| Error::Io("the log reader thread panicked".into()))?
                .map_err(|e| Error::Io(format!("reading the syscall log: {e}")))?,
            None => Vec::new(),
        };
        self.remove()?;
        Ok(chunks)
    }

    /// Stops reading and parses everything into events (see [`StraceParser`]).
    pub fn finish_events(self) -> Result<crate::Parsed, Error> {
        let chunks = self.finish()?;
        let mut p = StraceParser::new();
        for (ts, bytes) in &chunks {
            p.feed(*ts, bytes);
        }
        Ok(p.finish())
    }

    fn remove(&mut self) -> Result<(), Error> {
        if self.host_dir.exists() {
            fs::remove_dir_all(&self.host_dir)
                .map_err(|e| Error::Io(format!("removing {}: {e}", self.host_dir.display())))?;
        }
        Ok(())
    }
}

impl Drop for StraceLog {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        self.writer = None;
        if let Some(h) = self.reader.take() {
            let _ = h.join();
        }
        let _ = self.remove();
    }
}

/// Reads the FIFO until told to stop, then drains what is left.
fn drain(fd: OwnedFd, stop: &AtomicBool) -> io::Result<Chunks> {
    let mut file = fs::File::from(fd);
    let mut chunks = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let stopping = stop.load(Ordering::Acquire);
        match file.read(&mut buf) {
            Ok(0) => {
                if stopping {
                    return Ok(chunks);
                }
                wait_readable(&file, 100);
            }
            Ok(n) => chunks.push((now_ns(), buf.get(..n).unwrap_or(&[]).to_vec())),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                if stopping {
                    return Ok(chunks);
                }
                wait_readable(&file, 100);
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

fn wait_readable(f: &fs::File, ms: i32) {
    let mut p = libc::pollfd {
        fd: f.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one valid pollfd for the duration of the call. With no writer left the
    // FIFO polls as hung up at once, hence the sleep fallback below.
    let r = unsafe { libc::poll(&mut p, 1, ms) };
    if r > 0 && p.revents & libc::POLLIN == 0 {
        std::thread::sleep(std::time::Duration::from_millis(
            u64::try_from(ms).unwrap_or(100),
        ));
    }
}
