//! ferret's containment: runs an untrusted Linux program so that nothing it does
//! reaches the host, and removes every trace of the run afterwards.
//!
//! A [`Sandbox`] owns one task: a work directory with a size-limited tmpfs (the
//! overlay's writable layer), cgroups with memory/pids/cpu limits, and — once
//! [`Sandbox::spawn`] ran — a small init process (pid 1 of new user, pid, mount, uts,
//! ipc, net and cgroup namespaces) whose child is the sample.
//!
//! Lifecycle: [`Sandbox::new`] → [`Sandbox::spawn`] (sample blocked before `execve`;
//! a tracer may `PTRACE_SEIZE` [`Spawned::host_pid`]) → [`Spawned::release`] →
//! [`Sandbox::wait`] → [`Sandbox::stop`] / [`Sandbox::collect_changes`] →
//! [`Sandbox::teardown`] (also run by `Drop`), which returns the [`Outcome`].
//!
//! Containment, in short: the sample is uid 0 only inside its user namespace (mapped to
//! an unprivileged host uid range, [`SandboxConfig::id_map_base`]); its root is an
//! overlay whose every write lands on the task's tmpfs; the host's /usr (and /bin,
//! /lib... when they are directories) are read-only bind mounts; /etc is generated;
//! `no_new_privs` is set, rlimits apply, and a seccomp deny-list (x86-64, i386, x32)
//! refuses module loading, kexec, reboot, swap, bpf, perf, mount and namespace calls,
//! keyrings, io_uring, clock setting and the like with `EPERM`, recording each refusal
//! as a [`DeniedSyscall`] (see the `seccomp` module docs for why the sandbox, not the
//! tracer, records them).
//!
//! # Filesystem
//!
//! Every write of the sample lands on one size-limited tmpfs (host side: the task's
//! work directory): the overlay's upper layer holds /etc, /root, /tmp, /var/tmp, /home
//! and the rest of the root, and /dev/shm is a directory of the same tmpfs, so
//! [`Sandbox::collect_changes`] sees everything and [`Outcome::tmpfs_full`] covers it.
//! The host's system directories keep their host owners, which the sandbox shows as
//! `nobody` (no idmapped mounts, on purpose: an idmapped /usr would make the sandbox's
//! root the owner of host files, leaving only the read-only flag and the mount
//! deny-list between the sample and the host's /usr; without it the host's file
//! permissions are a third wall).
//!
//! Extra read-only bind mounts ([`SandboxConfig::ro_binds`]: e.g. a foreign
//! architecture's C library, or a FIFO the host reads) and binfmt_misc handlers
//! registered in the sandbox's own binfmt_misc instance ([`SandboxConfig::binfmt`],
//! Linux >= 6.7; the host's binfmt_misc is never touched) serve emulated samples
//! (crate ferret-emu).
//!
//! # Tracer contract
//!
//! 1. [`Sandbox::spawn`] returns once the sample's process exists, is inside every
//!    namespace and cgroup, has its rlimits, `no_new_privs` and the deny-list filter,
//!    and is blocked reading a pipe (pid [`Spawned::ns_pid`], normally 2, inside).
//! 2. The tracer `PTRACE_SEIZE`s [`Spawned::host_pid`] with its options
//!    (`TRACEFORK|VFORK|CLONE|EXEC|EXITKILL|TRACESECCOMP`). The host's root needs no
//!    special arrangement: the sample is an unprivileged host uid.
//! 3. [`Spawned::release`]: the sample installs [`SpawnSpec::extra_seccomp`] (the
//!    tracer's `SECCOMP_RET_TRACE` filter) and calls `execve`: the tracer sees a
//!    seccomp stop for it (if its filter traces execve), then `PTRACE_EVENT_EXEC`.
//!    Nothing of the sample runs before. Without a tracer the caller just releases.
//! 4. The tracer keeps reaping its tracees until they exit (see [`Sandbox::wait`]);
//!    [`Sandbox::stop`]/[`Sandbox::teardown`] SIGKILL everything, the tracer then sees
//!    the exits. [`PidMap`] translates host pids to sandbox pids and back.
//!
//! # Denied calls are observable, but not as ptrace stops
//!
//! The deny-list's action is `SECCOMP_RET_USER_NOTIF`, which takes precedence over the
//! tracer's `SECCOMP_RET_TRACE`: a denied call never produces a seccomp stop, and with
//! seccomp-only tracing (no `PTRACE_SYSCALL`) the tracer does not see it. The sandbox's
//! supervisor thread answers each one with `EPERM` and records pid, arch, number and
//! arguments in [`Outcome::denied_syscalls`] (live: [`Sandbox::denied_so_far`]; each
//! has an `Instant` to merge with the tracer's events). A tracer using `PTRACE_SYSCALL`
//! stops also sees them, returning `-EPERM`.
//!
//! # Crash safety
//!
//! Init's parent is the sandbox's supervisor thread and has `PR_SET_PDEATHSIG`
//! `SIGKILL`: if the host process dies, init and with it the whole pid namespace die.
//! The tmpfs mount, cgroups and work directory of such a task remain until
//! [`cleanup_stale`] (run it on the work root at start-up).
//!
//! The process that uses this crate must not reap children it did not create
//! (`waitpid(-1)` or `SIGCHLD` set to `SIG_IGN` would steal the sandbox init's status).

mod cgroup;
mod changes;
mod child;
mod rootfs;
mod seccomp;
mod sys;

use std::ffi::{CString, OsString};
use std::fmt;
use std::fs;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, mpsc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

pub use changes::{ChangeKind, Changes, CollectOptions, EntryKind, FileChange};
pub use seccomp::{AUDIT_ARCH_I386, AUDIT_ARCH_X86_64, X32_SYSCALL_BIT};

/// Errors of the sandbox.
#[derive(Debug)]
pub enum Error {
    /// A system call or file operation failed.
    Io {
        /// What was being done.
        context: String,
        /// The underlying error.
        source: io::Error,
    },
    /// The configuration or spawn request is not usable.
    InvalidConfig(String),
    /// The host lacks a mechanism the sandbox needs.
    Unsupported(String),
    /// The sandbox init or the sample's pre-exec code failed.
    Setup {
        /// The step that failed.
        stage: String,
        /// The errno it failed with.
        errno: i32,
    },
    /// A call made in the wrong state (e.g. a second spawn).
    State(String),
    /// Teardown could not remove something; the list names each leftover.
    Cleanup(Vec<String>),
}

impl Error {
    fn io(context: impl Into<String>, source: io::Error) -> Self {
        Error::Io {
            context: context.into(),
            source,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Io { context, source } => write!(f, "{context}: {source}"),
            Error::InvalidConfig(m) => write!(f, "invalid sandbox configuration: {m}"),
            Error::Unsupported(m) => write!(f, "unsupported host: {m}"),
            Error::Setup { stage, errno } => write!(
                f,
                "sandbox setup failed while {stage}: {}",
                io::Error::from_raw_os_error(*errno)
            ),
            Error::State(m) => write!(f, "sandbox state: {m}"),
            Error::Cleanup(items) => write!(f, "sandbox teardown left: {}", items.join("; ")),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// Result alias of this crate.
pub type Result<T> = std::result::Result<T, Error>;

/// Resource limits of one task.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Memory cgroup limit (swap included where the host accounts it). Default 512 MiB.
    pub memory_bytes: u64,
    /// pids cgroup limit (processes and threads, init included). Default 512.
    pub pids: u64,
    /// CPU quota in percent of one CPU (`None`: unlimited). Default 100.
    pub cpu_percent: Option<u32>,
    /// Size of the tmpfs holding every file the sample writes. Default 256 MiB.
    pub tmpfs_bytes: u64,
    /// Inodes of that tmpfs. Default 262144.
    pub tmpfs_inodes: u64,
    /// RLIMIT_NOFILE. Default 1024.
    pub nofile: u64,
    /// RLIMIT_FSIZE (largest file). Default: `tmpfs_bytes`.
    pub fsize_bytes: Option<u64>,
    /// RLIMIT_NPROC, a backstop behind the pids cgroup. Default 1024.
    pub nproc: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            memory_bytes: 512 << 20,
            pids: 512,
            cpu_percent: Some(100),
            tmpfs_bytes: 256 << 20,
            tmpfs_inodes: 262_144,
            nofile: 1024,
            fsize_bytes: None,
            nproc: 1024,
        }
    }
}

/// Network of the sandbox.
#[derive(Debug, Clone, Default)]
pub enum Network {
    /// A new network namespace with only loopback, up.
    #[default]
    Loopback,
    /// Join this existing network namespace (e.g. `/run/netns/NAME` or
    /// `/proc/PID/ns/net`) created and owned by the caller. The sandbox never deletes
    /// it; /sys is left empty (sysfs cannot be mounted for a foreign namespace).
    Join(PathBuf),
}

/// A host file copied into the sandbox's base layer before the run.
#[derive(Debug, Clone)]
pub struct InstallFile {
    /// File on the host.
    pub host_path: PathBuf,
    /// Absolute path inside the sandbox (on the writable overlay: not under /usr,
    /// /bin, /sbin, /lib*, /proc, /sys or /dev).
    pub sandbox_path: PathBuf,
    /// Permission bits (e.g. 0o755).
    pub mode: u32,
}

/// A host file or directory bind-mounted read-only into the sandbox (e.g. a foreign
/// architecture's C library for an emulator, or a FIFO the host reads).
///
/// The mount point is created on the writable overlay (so `sandbox_path` follows the
/// same rules as [`InstallFile::sandbox_path`]); the mount is `ro,nosuid,nodev`. FIFOs
/// and sockets in a read-only mount can still be opened for writing.
#[derive(Debug, Clone)]
pub struct RoBind {
    /// File or directory on the host.
    pub host_path: PathBuf,
    /// Absolute path inside the sandbox (not under /usr, /bin, /sbin, /lib*, /proc,
    /// /sys or /dev).
    pub sandbox_path: PathBuf,
}

/// Most bytes of one binfmt_misc registration line (the kernel's own limit is 1920).
pub const MAX_BINFMT_RULE: usize = 1900;

/// Configuration of a [`Sandbox`].
#[derive(Debug, Clone)]
pub struct SandboxConfig {
    /// Directory under which the task's work directory is created. It and all its
    /// ancestors must be searchable by others (mode o+x): the sandbox's root is an
    /// unprivileged host uid that mounts the overlay from paths below it.
    pub work_root: PathBuf,
    /// Hostname the sample sees. Default `srv-web01`.
    pub hostname: String,
    /// Nameserver written to /etc/resolv.conf. Default `192.168.1.1`.
    pub nameserver: String,
    /// Resource limits.
    pub limits: Limits,
    /// Network namespace choice.
    pub network: Network,
    /// Files copied into the base layer (the sample among them).
    pub files: Vec<InstallFile>,
    /// First host uid/gid of the 65536 ids the sandbox's 0..65535 map to. Must be at
    /// least 65536 (never host root or system users). Default 0x7000_0000.
    pub id_map_base: u32,
    /// Host paths bind-mounted read-only into the sandbox.
    pub ro_binds: Vec<RoBind>,
    /// binfmt_misc registrations (`:name:type:offset:magic:mask:interpreter:flags`, as
    /// written to `register`). When non-empty, init mounts a binfmt_misc instance of the
    /// sandbox's own user namespace on /proc/sys/fs/binfmt_misc (Linux >= 6.7), registers
    /// each rule there after `pivot_root` (interpreter paths are sandbox paths; use the
    /// `F` flag so the kernel opens the interpreter at registration) and makes the mount
    /// read-only, so the sample can neither add nor remove handlers. The host's
    /// binfmt_misc is never touched: the instance dies with the namespace.
    pub binfmt: Vec<String>,
}

impl SandboxConfig {
    /// A configuration with defaults and the given work root.
    pub fn new(work_root: impl Into<PathBuf>) -> Self {
        SandboxConfig {
            work_root: work_root.into(),
            hostname: "srv-web01".to_owned(),
            nameserver: "192.168.1.1".to_owned(),
            limits: Limits::default(),
            network: Network::Loopback,
            files: Vec::new(),
            id_map_base: 0x7000_0000,
            ro_binds: Vec::new(),
            binfmt: Vec::new(),
        }
    }

    /// Adds a read-only bind mount of `host_path` at `sandbox_path`.
    pub fn ro_bind(
        mut self,
        host_path: impl Into<PathBuf>,
        sandbox_path: impl Into<PathBuf>,
    ) -> Self {
        self.ro_binds.push(RoBind {
            host_path: host_path.into(),
            sandbox_path: sandbox_path.into(),
        });
        self
    }

    /// Adds a file to copy into the sandbox at `sandbox_path` with `mode`.
    pub fn install(
        mut self,
        host_path: impl Into<PathBuf>,
        sandbox_path: impl Into<PathBuf>,
        mode: u32,
    ) -> Self {
        self.files.push(InstallFile {
            host_path: host_path.into(),
            sandbox_path: sandbox_path.into(),
            mode,
        });
        self
    }
}

/// What to run in the sandbox.
#[derive(Debug, Clone)]
pub struct SpawnSpec {
    /// Argument vector; `argv[0]` is also the program path unless `program` is set.
    pub argv: Vec<OsString>,
    /// Program to execute (absolute path inside the sandbox). Default: `argv[0]`.
    pub program: Option<PathBuf>,
    /// Environment, as `KEY=VALUE` entries (nothing is inherited from the host).
    pub env: Vec<OsString>,
    /// Working directory inside the sandbox. Default `/root`.
    pub cwd: PathBuf,
    /// Bytes of stdout kept (the rest is drained and counted). Default 8 MiB.
    pub stdout_cap: usize,
    /// Bytes of stderr kept (the rest is drained and counted). Default 8 MiB.
    pub stderr_cap: usize,
    /// A seccomp filter (e.g. the tracer's `SECCOMP_RET_TRACE` filter) installed after
    /// the deny-list, right before `execve`. Must not exceed 4096 instructions.
    pub extra_seccomp: Option<Vec<libc::sock_filter>>,
}

impl SpawnSpec {
    /// A spec running `argv` with a typical root environment.
    pub fn new<I, S>(argv: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<OsString>,
    {
        SpawnSpec {
            argv: argv.into_iter().map(Into::into).collect(),
            program: None,
            env: [
                "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                "HOME=/root",
                "USER=root",
                "LOGNAME=root",
                "SHELL=/bin/sh",
                "TERM=xterm",
                "LANG=C.UTF-8",
            ]
            .into_iter()
            .map(OsString::from)
            .collect(),
            cwd: PathBuf::from("/root"),
            stdout_cap: 8 << 20,
            stderr_cap: 8 << 20,
            extra_seccomp: None,
        }
    }
}

/// Translates pids between the host and the sandbox's pid namespace.
#[derive(Debug, Clone)]
pub struct PidMap {
    init_host_pid: i32,
    pidns_inode: u64,
}

/// The innermost pid of `/proc/<host_pid>/status`'s NSpid line.
fn nspid_of(host_pid: i32) -> Option<i32> {
    let status = fs::read_to_string(format!("/proc/{host_pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("NSpid:"))?;
    line.split_whitespace().last()?.parse().ok()
}

fn pidns_inode_of(host_pid: i32) -> Option<u64> {
    fs::metadata(format!("/proc/{host_pid}/ns/pid"))
        .ok()
        .map(|m| m.ino())
}

impl PidMap {
    /// Host pid of the sandbox's init (pid 1 inside).
    pub fn init_host_pid(&self) -> i32 {
        self.init_host_pid
    }

    /// Inode of the sandbox's pid namespace (as in `/proc/PID/ns/pid`).
    pub fn pidns_inode(&self) -> u64 {
        self.pidns_inode
    }

    /// The pid a host process has inside the sandbox, or `None` if it is not (or no
    /// longer) a sandbox process.
    pub fn host_to_ns(&self, host_pid: i32) -> Option<i32> {
        if pidns_inode_of(host_pid)? != self.pidns_inode {
            return None;
        }
        nspid_of(host_pid)
    }

    /// The host pid of sandbox pid `ns_pid`, found by scanning /proc (O(processes)).
    pub fn ns_to_host(&self, ns_pid: i32) -> Option<i32> {
        if ns_pid == 1 {
            return Some(self.init_host_pid);
        }
        fs::read_dir("/proc").ok()?.flatten().find_map(|e| {
            let pid: i32 = e.file_name().to_str()?.parse().ok()?;
            (self.host_to_ns(pid)? == ns_pid).then_some(pid)
        })
    }
}

/// The sample, created and confined, blocked before its `execve`.
///
/// A tracer `PTRACE_SEIZE`s [`host_pid`](Self::host_pid) now; then
/// [`release`](Self::release) lets the sample install `extra_seccomp` and `execve`.
/// Dropping it without releasing makes the sample exit (status 126) without running.
#[derive(Debug)]
pub struct Spawned {
    host_pid: i32,
    ns_pid: i32,
    release: Option<OwnedFd>,
    pid_map: PidMap,
    shared: Arc<Mutex<Shared>>,
}

impl Spawned {
    /// The sample's pid on the host.
    pub fn host_pid(&self) -> i32 {
        self.host_pid
    }

    /// The sample's pid inside the sandbox.
    pub fn ns_pid(&self) -> i32 {
        self.ns_pid
    }

    /// Pid translation between host and sandbox.
    pub fn pid_map(&self) -> &PidMap {
        &self.pid_map
    }

    /// Lets the sample proceed to `execve`.
    pub fn release(mut self) -> Result<()> {
        let fd = self
            .release
            .take()
            .ok_or_else(|| Error::State("sample already released".into()))?;
        let mut f = fs::File::from(fd);
        lock(&self.shared).released_at = Some(Instant::now());
        f.write_all(b"g")
            .map_err(|e| Error::io("releasing the sample", e))
    }
}

/// How [`Sandbox::wait`] returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WaitStatus {
    /// Every process of the task exited.
    Exited,
    /// The deadline passed with processes still running.
    TimedOut,
}

/// How the sample's first process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitStatus {
    /// Normal exit with this code.
    Code(i32),
    /// Killed by this signal.
    Signal {
        /// Signal number.
        signal: i32,
        /// Whether a core dump was attempted (RLIMIT_CORE is 0, so none is written).
        core_dumped: bool,
    },
}

impl ExitStatus {
    fn from_raw(status: i32) -> Self {
        if libc::WIFEXITED(status) {
            ExitStatus::Code(libc::WEXITSTATUS(status))
        } else {
            ExitStatus::Signal {
                signal: libc::WTERMSIG(status),
                core_dumped: libc::WCOREDUMP(status),
            }
        }
    }
}

/// Output captured from one of the sample's streams.
#[derive(Debug, Clone, Default)]
pub struct Captured {
    /// The first bytes, up to the cap.
    pub data: Vec<u8>,
    /// Every byte the sandbox wrote to the stream.
    pub total_bytes: u64,
    /// Bytes drained and dropped beyond the cap.
    pub truncated_bytes: u64,
}

/// A system call refused by the deny-list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeniedSyscall {
    /// Host pid of the caller (0 if it had already died when received).
    pub host_pid: i32,
    /// Audit architecture (`AUDIT_ARCH_X86_64` or `AUDIT_ARCH_I386`).
    pub arch: u32,
    /// Syscall number for that architecture (x32 calls keep `X32_SYSCALL_BIT`).
    pub nr: i32,
    /// Name, e.g. `init_module`, `clone(CLONE_NEWUSER)`, `x32 syscall`.
    pub name: &'static str,
    /// Raw arguments.
    pub args: [u64; 6],
    /// Time since the sample was released.
    pub at: Duration,
    /// When the supervisor received it (to merge with a tracer's own timestamps).
    pub when: Instant,
}

/// Most denied calls recorded individually (the rest are only counted).
pub const MAX_DENIED_RECORDS: usize = 10_000;

/// Everything the run hit and produced; limits are reported, never hidden.
#[derive(Debug, Clone, Default)]
pub struct Outcome {
    /// [`Sandbox::wait`] reached its deadline.
    pub timed_out: bool,
    /// Exit of the sample's first process (`None` if it never ran or was still running
    /// when killed).
    pub sample_exit: Option<ExitStatus>,
    /// `execve` of the sample failed with this errno.
    pub exec_errno: Option<i32>,
    /// The sample's pre-exec setup (after the spawn returned) failed: step and error.
    /// The sample then exits with status 1 without running.
    pub setup_error: Option<String>,
    /// Processes still alive when the sandbox was stopped (and killed), init included.
    pub killed_at_stop: usize,
    /// Processes killed by the OOM killer in the task's memory cgroup.
    pub oom_kills: u64,
    /// Times the memory limit was hit (memory.failcnt / memory.events max).
    pub memory_limit_hits: u64,
    /// Peak memory use of the task.
    pub memory_peak_bytes: Option<u64>,
    /// Forks refused by the pids limit (pids.events max).
    pub pids_limit_hits: u64,
    /// CPU time the task used.
    pub cpu_time_ns: Option<u64>,
    /// The writable tmpfs had no free space or no free inode left.
    pub tmpfs_full: bool,
    /// Bytes used on the tmpfs (base layer included).
    pub tmpfs_used_bytes: u64,
    /// Inodes used on the tmpfs (base layer included).
    pub tmpfs_used_inodes: u64,
    /// Captured stdout.
    pub stdout: Captured,
    /// Captured stderr.
    pub stderr: Captured,
    /// Calls refused by the deny-list (at most [`MAX_DENIED_RECORDS`]).
    pub denied_syscalls: Vec<DeniedSyscall>,
    /// All refused calls, recorded or not.
    pub denied_total: u64,
    /// Time from release to the end of the process tree (or to the stop).
    pub run_time: Option<Duration>,
    /// Problems of the sandbox's own supervision (e.g. a failed read), if any.
    pub supervisor_errors: Vec<String>,
}

/// Namespace inodes of the task, for leftover checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NsInodes {
    /// Network namespace.
    pub net: u64,
    /// Pid namespace.
    pub pid: u64,
    /// Mount namespace.
    pub mnt: u64,
    /// User namespace.
    pub user: u64,
}

#[derive(Debug, Default)]
struct Shared {
    stdout: Captured,
    stderr: Captured,
    stdout_cap: usize,
    stderr_cap: usize,
    sample_status: Option<i32>,
    exec_errno: Option<i32>,
    setup_error: Option<String>,
    denied: Vec<DeniedSyscall>,
    denied_total: u64,
    errors: Vec<String>,
    released_at: Option<Instant>,
    ended_at: Option<Instant>,
}

#[derive(Debug)]
struct Init {
    pid: i32,
    pidfd: OwnedFd,
    exited: bool,
}

static TASK_COUNTER: AtomicU64 = AtomicU64::new(0);

/// File in the work directory listing the task's cgroup directories.
const CGROUP_RECORD: &str = "cgroups";

/// The pid of the process that created the task directory `name`
/// (`ferret-<pid>-<counter>-<nanos>`).
fn task_owner(name: &str) -> Option<i32> {
    let mut parts = name.strip_prefix("ferret-")?.split('-');
    let pid = parts.next()?.parse().ok()?;
    parts.next()?.parse::<u64>().ok()?;
    u32::from_str_radix(parts.next()?, 16).ok()?;
    parts.next().is_none().then_some(pid)
}

fn is_mount_point(path: &Path) -> bool {
    let Ok(text) = fs::read_to_string("/proc/self/mountinfo") else {
        return false;
    };
    text.lines().any(|l| {
        l.split(' ')
            .nth(4)
            .is_some_and(|mp| Path::new(&cgroup::unescape(mp)) == path)
    })
}

/// Removes what tasks of dead processes left under `work_root` (a crash of the host
/// process: its sandboxes died with it, through init's parent-death signal, but their
/// tmpfs mounts, cgroups and work directories remain). Tasks of live processes are
/// not touched. Returns the work directories removed; [`Error::Cleanup`] lists what
/// could not be removed.
pub fn cleanup_stale(work_root: &Path) -> Result<Vec<PathBuf>> {
    let rd = match fs::read_dir(work_root) {
        Ok(rd) => rd,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Error::io(format!("reading {}", work_root.display()), e)),
    };
    let mut cleaned = Vec::new();
    let mut problems = Vec::new();
    for entry in rd.flatten() {
        let file_name = entry.file_name();
        let Some(name) = file_name.to_str() else {
            continue;
        };
        let Some(owner) = task_owner(name) else {
            continue;
        };
        // A live owner (or a reused pid: then we wait for a later cleanup).
        if Path::new(&format!("/proc/{owner}")).exists() {
            continue;
        }
        if !entry.file_type().is_ok_and(|t| t.is_dir()) {
            continue;
        }
        let dir = entry.path();
        if let Ok(list) = fs::read_to_string(dir.join(CGROUP_RECORD)) {
            for line in list.lines() {
                let cg = Path::new(line);
                // Only ever touch a cgroup directory named after this very task.
                if !cg.starts_with("/sys/fs/cgroup")
                    || cg.file_name() != Some(file_name.as_os_str())
                {
                    problems.push(format!(
                        "{}: ignoring bogus cgroup entry {line:?}",
                        dir.display()
                    ));
                    continue;
                }
                if let Err(e) = cgroup::kill_and_remove(cg) {
                    problems.push(e);
                }
            }
        }
        let fs_dir = dir.join("fs");
        if is_mount_point(&fs_dir)
            && let Err(e) = sys::umount(&fs_dir)
        {
            problems.push(format!("unmounting {}: {e}", fs_dir.display()));
            continue;
        }
        match fs::remove_dir_all(&dir) {
            Ok(()) => cleaned.push(dir),
            Err(e) => problems.push(format!("removing {}: {e}", dir.display())),
        }
    }
    if problems.is_empty() {
        Ok(cleaned)
    } else {
        Err(Error::Cleanup(problems))
    }
}

/// One contained task. See the crate docs for the lifecycle.
#[derive(Debug)]
pub struct Sandbox {
    cfg: SandboxConfig,
    name: String,
    workdir: PathBuf,
    layout: rootfs::Layout,
    binds: Vec<String>,
    cgroups: Option<cgroup::TaskCgroups>,
    cgroup_dirs: Vec<PathBuf>,
    tmpfs_mounted: bool,
    init: Option<Init>,
    ns: Option<NsInodes>,
    pid_map: Option<PidMap>,
    shared: Arc<Mutex<Shared>>,
    supervisor: Option<JoinHandle<()>>,
    stop_w: Option<OwnedFd>,
    timed_out: bool,
    stopped: bool,
    killed_at_stop: usize,
    tmpfs_usage: Option<sys::FsUsage>,
    counters: Option<cgroup::Counters>,
    outcome: Option<Outcome>,
}

fn lock(shared: &Mutex<Shared>) -> MutexGuard<'_, Shared> {
    // A panic in the supervisor cannot leave Shared inconsistent beyond a partial
    // capture, so a poisoned lock is still usable.
    shared
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn check_searchable(dir: &Path) -> Result<()> {
    let mut cur = Some(dir);
    while let Some(d) = cur {
        let md = fs::metadata(d).map_err(|e| Error::io(format!("stat {}", d.display()), e))?;
        if md.permissions().mode() & 0o001 == 0 {
            return Err(Error::InvalidConfig(format!(
                "{} is not searchable by others (mode {:o}); the sandbox's unprivileged root must traverse it",
                d.display(),
                md.permissions().mode() & 0o7777
            )));
        }
        cur = d.parent();
    }
    Ok(())
}

impl Sandbox {
    /// Prepares a task: work directory, tmpfs, base filesystem, cgroups. Nothing runs
    /// until [`spawn`](Self::spawn).
    pub fn new(cfg: SandboxConfig) -> Result<Sandbox> {
        if cfg.id_map_base < 65_536 || cfg.id_map_base > u32::MAX - 65_536 {
            return Err(Error::InvalidConfig(format!(
                "id_map_base {} must be in 65536..={}",
                cfg.id_map_base,
                u32::MAX - 65_536
            )));
        }
        if cfg.hostname.is_empty()
            || cfg.hostname.len() > 64
            || cfg
                .hostname
                .bytes()
                .any(|b| !(b.is_ascii_alphanumeric() || b == b'-' || b == b'.'))
        {
            return Err(Error::InvalidConfig(format!(
                "hostname {:?} is not a valid host name",
                cfg.hostname
            )));
        }
        if cfg.nameserver.parse::<std::net::IpAddr>().is_err() {
            return Err(Error::InvalidConfig(format!(
                "nameserver {:?} is not an IP address",
                cfg.nameserver
            )));
        }
        let l = &cfg.limits;
        if l.memory_bytes < (8 << 20)
            || l.pids < 2
            || l.tmpfs_bytes < (1 << 20)
            || l.tmpfs_inodes < 1024
            || l.nofile < 16
        {
            return Err(Error::InvalidConfig(
                "limits too small (need memory >= 8 MiB, pids >= 2, tmpfs >= 1 MiB and 1024 inodes, nofile >= 16)".into(),
            ));
        }
        if let Network::Join(p) = &cfg.network
            && !p.exists()
        {
            return Err(Error::InvalidConfig(format!(
                "network namespace {} does not exist",
                p.display()
            )));
        }
        check_searchable(&cfg.work_root)?;
        for b in &cfg.ro_binds {
            rootfs::sandbox_rel(&b.sandbox_path)?;
            fs::metadata(&b.host_path)
                .map_err(|e| Error::io(format!("bind source {}", b.host_path.display()), e))?;
        }
        for rule in &cfg.binfmt {
            let fields = rule.split(':').count();
            if !rule.starts_with(':')
                || fields < 8
                || rule.len() > MAX_BINFMT_RULE
                || rule.bytes().any(|b| b == 0 || b == b'\n')
            {
                return Err(Error::InvalidConfig(format!(
                    "binfmt rule {rule:?} is not a one-line `:name:type:offset:magic:mask:interpreter:flags` registration of at most {MAX_BINFMT_RULE} bytes"
                )));
            }
        }

        let n = TASK_COUNTER.fetch_add(1, Ordering::Relaxed);
        let nanos = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let name = format!("ferret-{}-{n}-{nanos:08x}", std::process::id());
        let workdir = cfg.work_root.join(&name);
        let layout = rootfs::Layout::new(&workdir);
        let mut sb = Sandbox {
            name,
            workdir: workdir.clone(),
            layout,
            binds: Vec::new(),
            cgroups: None,
            cgroup_dirs: Vec::new(),
            tmpfs_mounted: false,
            init: None,
            ns: None,
            pid_map: None,
            shared: Arc::new(Mutex::new(Shared::default())),
            supervisor: None,
            stop_w: None,
            timed_out: false,
            stopped: false,
            killed_at_stop: 0,
            tmpfs_usage: None,
            counters: None,
            outcome: None,
            cfg,
        };
        // On error `sb` is dropped, which tears down whatever was built.
        sb.prepare()?;
        Ok(sb)
    }

    fn prepare(&mut self) -> Result<()> {
        fs::create_dir(&self.workdir)
            .map_err(|e| Error::io(format!("creating {}", self.workdir.display()), e))?;
        fs::set_permissions(&self.workdir, fs::Permissions::from_mode(0o711))
            .map_err(|e| Error::io(format!("chmod {}", self.workdir.display()), e))?;
        fs::create_dir(&self.layout.fs)
            .map_err(|e| Error::io(format!("creating {}", self.layout.fs.display()), e))?;
        let l = &self.cfg.limits;
        sys::mount_tmpfs(
            &self.layout.fs,
            &format!(
                "size={},nr_inodes={},mode=0755",
                l.tmpfs_bytes, l.tmpfs_inodes
            ),
        )
        .map_err(|e| {
            Error::io(
                format!("mounting the task tmpfs on {}", self.layout.fs.display()),
                e,
            )
        })?;
        self.tmpfs_mounted = true;

        let uid = self.cfg.id_map_base;
        for (dir, mode) in [
            (&self.layout.lower, 0o755),
            (&self.layout.upper, 0o755),
            (&self.layout.work, 0o755),
            (&self.layout.shm, 0o1777),
            (&self.layout.root, 0o755),
        ] {
            fs::create_dir(dir).map_err(|e| Error::io(format!("creating {}", dir.display()), e))?;
            fs::set_permissions(dir, fs::Permissions::from_mode(mode))
                .map_err(|e| Error::io(format!("chmod {}", dir.display()), e))?;
            std::os::unix::fs::chown(dir, Some(uid), Some(uid))
                .map_err(|e| Error::io(format!("chown {}", dir.display()), e))?;
        }
        let cmdline = &self.layout.init_cmdline;
        fs::write(cmdline, b"/sbin/init\0")
            .map_err(|e| Error::io(format!("writing {}", cmdline.display()), e))?;
        fs::set_permissions(cmdline, fs::Permissions::from_mode(0o444))
            .map_err(|e| Error::io(format!("chmod {}", cmdline.display()), e))?;
        let seed = self.name.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
        });
        self.binds = rootfs::build_base(
            &self.layout,
            &rootfs::BaseSpec {
                hostname: &self.cfg.hostname,
                nameserver: &self.cfg.nameserver,
                seed,
                uid,
                gid: uid,
                files: &self.cfg.files,
                ro_binds: &self.cfg.ro_binds,
            },
        )?;
        let cg = cgroup::TaskCgroups::create(&self.name, &self.cfg.limits)?;
        self.cgroup_dirs = cg.dirs().to_vec();
        self.cgroups = Some(cg);
        // For cleanup_stale() after a crash of this process.
        let list: String = self
            .cgroup_dirs
            .iter()
            .map(|d| format!("{}\n", d.display()))
            .collect();
        let record = self.workdir.join(CGROUP_RECORD);
        fs::write(&record, list)
            .map_err(|e| Error::io(format!("writing {}", record.display()), e))?;
        Ok(())
    }

    /// The task's work directory on the host.
    pub fn workdir(&self) -> &Path {
        &self.workdir
    }

    /// The task's unique name (also its cgroup directory name).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Every cgroup directory of the task (they are removed at teardown).
    pub fn cgroup_dirs(&self) -> &[PathBuf] {
        &self.cgroup_dirs
    }

    /// Namespace inodes of the task, once spawned.
    pub fn namespaces(&self) -> Option<NsInodes> {
        self.ns
    }

    /// Pid translation, once spawned.
    pub fn pid_map(&self) -> Option<&PidMap> {
        self.pid_map.as_ref()
    }

    /// Calls refused so far (at most [`MAX_DENIED_RECORDS`]) and their total count,
    /// for merging into a live event stream; the [`Outcome`] has them all at the end.
    pub fn denied_so_far(&self) -> (Vec<DeniedSyscall>, u64) {
        let sh = lock(&self.shared);
        (sh.denied.clone(), sh.denied_total)
    }

    /// Host pids of every process currently in the task (init included).
    pub fn processes(&self) -> Vec<i32> {
        self.cgroups
            .as_ref()
            .map(cgroup::TaskCgroups::procs)
            .unwrap_or_default()
    }

    /// Creates the sandbox's init and the sample, fully confined and blocked before
    /// its `execve`. One spawn per sandbox.
    pub fn spawn(&mut self, spec: SpawnSpec) -> Result<Spawned> {
        if self.init.is_some() || self.stopped {
            return Err(Error::State(
                "this sandbox already spawned its sample".into(),
            ));
        }
        let (stdout_cap, stderr_cap) = (spec.stdout_cap, spec.stderr_cap);
        let plan = self.plan(spec)?;

        let (sync_r, sync_w) = sys::pipe().map_err(|e| Error::io("creating a pipe", e))?;
        let (report_r, report_w) = sys::pipe().map_err(|e| Error::io("creating a pipe", e))?;
        let (release_r, release_w) = sys::pipe().map_err(|e| Error::io("creating a pipe", e))?;
        let (out_r, out_w) = sys::pipe().map_err(|e| Error::io("creating a pipe", e))?;
        let (err_r, err_w) = sys::pipe().map_err(|e| Error::io("creating a pipe", e))?;
        let fds = child::ChildFds {
            sync_r: sync_r.as_raw_fd(),
            report_w: report_w.as_raw_fd(),
            release_r: release_r.as_raw_fd(),
            out_w: out_w.as_raw_fd(),
            err_w: err_w.as_raw_fd(),
        };

        // The supervisor thread clones init and then supervises the task for its whole
        // life: init's parent-death signal is tied to that thread, so the sandbox dies
        // with the host process. Joining a network namespace is per thread, so the
        // caller's thread is never moved.
        let netns = match &self.cfg.network {
            Network::Join(p) => Some(
                fs::File::open(p).map_err(|e| Error::io(format!("opening {}", p.display()), e))?,
            ),
            Network::Loopback => None,
        };
        let (plan, op_desc) = plan;
        let (pid_tx, pid_rx) = mpsc::channel::<Result<i32>>();
        let (go_tx, go_rx) = mpsc::channel::<SuperviseFds>();
        let shared = Arc::clone(&self.shared);
        let handle = std::thread::Builder::new()
            .name(format!("{}-supervisor", self.name))
            .spawn(move || {
                let cloned = (|| {
                    if let Some(ns) = &netns {
                        sys::setns(ns.as_fd(), libc::CLONE_NEWNET)
                            .map_err(|e| Error::io("joining the network namespace", e))?;
                    }
                    child::clone_init(&plan, fds)
                        .map_err(|e| Error::io("cloning the sandbox init", e))
                })();
                let ok = cloned.is_ok();
                if pid_tx.send(cloned).is_err() || !ok {
                    return;
                }
                drop(plan);
                // Dropped sender: the spawn failed; returning kills init (parent death).
                if let Ok(f) = go_rx.recv() {
                    supervise(&shared, f);
                }
            })
            .map_err(|e| Error::io("starting the supervisor thread", e))?;
        self.supervisor = Some(handle);
        let pid = pid_rx
            .recv()
            .unwrap_or_else(|_| Err(Error::State("the supervisor thread died".into())))?;
        drop((sync_r, report_w, release_r, out_w, err_w));
        let pidfd = match sys::pidfd_open(pid) {
            Ok(fd) => fd,
            Err(e) => {
                let _ = sys::kill(pid, libc::SIGKILL);
                let _ = sys::try_reap(pid);
                return Err(Error::io("pidfd_open of the sandbox init", e));
            }
        };
        self.init = Some(Init {
            pid,
            pidfd,
            exited: false,
        });
        // From here on, failures are cleaned up by stop()/teardown().
        let mut report_r = fs::File::from(report_r);
        let mut sync_w = fs::File::from(sync_w);

        let base = self.cfg.id_map_base;
        let map = format!("0 {base} 65536\n");
        for f in ["uid_map", "gid_map"] {
            fs::write(format!("/proc/{pid}/{f}"), &map)
                .map_err(|e| Error::io(format!("writing {f} of the sandbox init"), e))?;
        }
        if let Some(cg) = &self.cgroups {
            cg.add(pid)?;
        }
        sync_w
            .write_all(b"1")
            .map_err(|e| Error::io("starting the sandbox init", e))?;

        let listener = match self.read_report(&mut report_r, &op_desc)? {
            (child::MSG_LISTENER, fd) => {
                let init = self
                    .init
                    .as_ref()
                    .ok_or_else(|| Error::State("init vanished".into()))?;
                sys::pidfd_getfd(init.pidfd.as_fd(), fd as i32)
                    .map_err(|e| Error::io("copying the seccomp listener", e))?
            }
            (tag, _) => {
                return Err(Error::State(format!(
                    "unexpected message {tag} from the sandbox init"
                )));
            }
        };
        sync_w
            .write_all(b"2")
            .map_err(|e| Error::io("acknowledging the seccomp listener", e))?;
        let ns_pid = match self.read_report(&mut report_r, &op_desc)? {
            (child::MSG_SAMPLE_FORKED, p) => p as i32,
            (tag, _) => {
                return Err(Error::State(format!(
                    "unexpected message {tag} from the sandbox init"
                )));
            }
        };
        let host_pid = self
            .processes()
            .into_iter()
            .find(|&p| p != pid && nspid_of(p) == Some(ns_pid))
            .ok_or_else(|| {
                Error::State(format!(
                    "sample (pid {ns_pid} in the sandbox) not found in the task cgroup"
                ))
            })?;

        let ino = |kind: &str| {
            fs::metadata(format!("/proc/{pid}/ns/{kind}"))
                .map(|m| m.ino())
                .map_err(|e| Error::io(format!("reading the init's {kind} namespace"), e))
        };
        self.ns = Some(NsInodes {
            net: ino("net")?,
            pid: ino("pid")?,
            mnt: ino("mnt")?,
            user: ino("user")?,
        });
        let pid_map = PidMap {
            init_host_pid: pid,
            pidns_inode: self.ns.map_or(0, |n| n.pid),
        };
        self.pid_map = Some(pid_map.clone());

        {
            let mut sh = lock(&self.shared);
            sh.stdout_cap = stdout_cap;
            sh.stderr_cap = stderr_cap;
        }
        let (stop_r, stop_w) = sys::pipe().map_err(|e| Error::io("creating a pipe", e))?;
        self.stop_w = Some(stop_w);
        go_tx
            .send(SuperviseFds {
                report: report_r,
                out: out_r,
                err: err_r,
                listener,
                stop: stop_r,
            })
            .map_err(|_| Error::State("the supervisor thread died".into()))?;

        Ok(Spawned {
            host_pid,
            ns_pid,
            release: Some(release_w),
            pid_map,
            shared: Arc::clone(&self.shared),
        })
    }

    /// Reads one report message, turning setup errors and EOF into errors.
    fn read_report(&self, r: &mut fs::File, op_desc: &[String]) -> Result<(u32, i64)> {
        let init = self
            .init
            .as_ref()
            .ok_or_else(|| Error::State("no init".into()))?;
        let ready = sys::poll(&[(r.as_fd(), libc::POLLIN)], 10_000)
            .map_err(|e| Error::io("waiting for the sandbox init", e))?;
        if ready.first().copied().unwrap_or(0) == 0 {
            return Err(Error::State(format!(
                "the sandbox init (pid {}) did not report within 10 s",
                init.pid
            )));
        }
        let mut msg = [0u8; child::MSG_LEN];
        if let Err(e) = r.read_exact(&mut msg) {
            return Err(Error::io("the sandbox init exited during setup", e));
        }
        let (tag, a, b) = child::decode(&msg);
        if tag == child::MSG_SETUP_ERROR {
            let stage = match op_desc.get(a as usize) {
                Some(d) => d.clone(),
                None => child::stage_name(a).to_owned(),
            };
            return Err(Error::Setup {
                stage,
                errno: b as i32,
            });
        }
        Ok((tag, b))
    }

    fn plan(&self, spec: SpawnSpec) -> Result<(child::Plan, Vec<String>)> {
        let cs = |s: &[u8], what: &str| {
            CString::new(s).map_err(|_| Error::InvalidConfig(format!("{what} contains a NUL byte")))
        };
        if spec.argv.is_empty() {
            return Err(Error::InvalidConfig("argv is empty".into()));
        }
        let program = match &spec.program {
            Some(p) => p.clone(),
            None => PathBuf::from(&spec.argv[0]),
        };
        if !program.is_absolute() {
            return Err(Error::InvalidConfig(format!(
                "program {} must be an absolute path inside the sandbox",
                program.display()
            )));
        }
        if !spec.cwd.is_absolute() {
            return Err(Error::InvalidConfig(format!(
                "cwd {} must be absolute",
                spec.cwd.display()
            )));
        }
        if spec
            .extra_seccomp
            .as_ref()
            .is_some_and(|f| f.is_empty() || f.len() > 4096)
        {
            return Err(Error::InvalidConfig(
                "extra_seccomp must have 1..=4096 instructions".into(),
            ));
        }
        if spec.env.iter().any(|e| !e.as_bytes().contains(&b'=')) {
            return Err(Error::InvalidConfig(
                "every env entry must be KEY=VALUE".into(),
            ));
        }
        let sysfs = matches!(self.cfg.network, Network::Loopback);
        let (ops, desc) = rootfs::mount_ops(
            &self.layout,
            &self.binds,
            &self.cfg.ro_binds,
            &self.cfg.binfmt,
            sysfs,
        )?;
        let l = &self.cfg.limits;
        let mut flags = libc::CLONE_NEWUSER
            | libc::CLONE_NEWPID
            | libc::CLONE_NEWNS
            | libc::CLONE_NEWUTS
            | libc::CLONE_NEWIPC;
        if sysfs {
            flags |= libc::CLONE_NEWNET;
        }
        let plan = child::Plan {
            ops,
            hostname: self.cfg.hostname.as_bytes().to_vec(),
            setup_loopback: sysfs,
            rlimits: vec![
                (libc::RLIMIT_NOFILE as i32, l.nofile),
                (
                    libc::RLIMIT_FSIZE as i32,
                    l.fsize_bytes.unwrap_or(l.tmpfs_bytes),
                ),
                (libc::RLIMIT_CORE as i32, 0),
                (libc::RLIMIT_NPROC as i32, l.nproc),
            ],
            deny: seccomp::deny_filter(seccomp::DenyAction::Notify),
            extra: spec.extra_seccomp,
            program: cs(program.as_os_str().as_bytes(), "program")?,
            argv: spec
                .argv
                .iter()
                .map(|a| cs(a.as_bytes(), "argv"))
                .collect::<Result<_>>()?,
            env: spec
                .env
                .iter()
                .map(|a| cs(a.as_bytes(), "env"))
                .collect::<Result<_>>()?,
            cwd: cs(spec.cwd.as_os_str().as_bytes(), "cwd")?,
            clone_flags: flags,
        };
        Ok((plan, desc))
    }

    /// Waits until every process of the task has exited, or `deadline` passes. May be
    /// called again with a later deadline; [`Outcome::timed_out`] reflects the last call.
    ///
    /// A tracer must keep reaping its tracees (`waitpid(.., __WALL)`) or detach: a
    /// traced process that died stays a zombie until its tracer reaps it, and the task
    /// is not over before that.
    pub fn wait(&mut self, deadline: Instant) -> Result<WaitStatus> {
        let Some(init) = self.init.as_mut() else {
            return Err(Error::State("nothing was spawned".into()));
        };
        while !init.exited {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                self.timed_out = true;
                return Ok(WaitStatus::TimedOut);
            }
            let ms = left.as_millis().min(i32::MAX as u128) as i32;
            let ready = sys::poll(&[(init.pidfd.as_fd(), libc::POLLIN)], ms.max(1))
                .map_err(|e| Error::io("waiting for the sandbox", e))?;
            if ready.first().copied().unwrap_or(0) != 0 {
                match sys::try_reap(init.pid)
                    .map_err(|e| Error::io("reaping the sandbox init", e))?
                {
                    sys::Reaped::Running => {}
                    sys::Reaped::Exited | sys::Reaped::Gone => init.exited = true,
                }
            }
        }
        let now = Instant::now();
        lock(&self.shared).ended_at.get_or_insert(now);
        // Init exits only once its pid namespace is empty; the cgroup files follow
        // within moments.
        if let Some(cg) = &self.cgroups {
            cg.wait_empty(Duration::from_secs(2));
        }
        self.timed_out = false;
        Ok(WaitStatus::Exited)
    }

    /// Freezes the task, kills every process in it (daemons included), thaws it and
    /// waits until the task's cgroups are empty. Idempotent; called by
    /// [`collect_changes`](Self::collect_changes) and [`teardown`](Self::teardown).
    pub fn stop(&mut self) -> Result<()> {
        if self.stopped {
            return Ok(());
        }
        let Some(cg) = self.cgroups.as_ref() else {
            self.stopped = true;
            return Ok(());
        };
        let mut problems = Vec::new();
        if let Some(init) = self.init.as_mut() {
            if let Err(e) = cg.set_frozen(true) {
                problems.push(e.to_string());
            }
            self.killed_at_stop = cg.procs().len();
            if self.killed_at_stop > 0 {
                let mut sh = lock(&self.shared);
                sh.ended_at.get_or_insert_with(Instant::now);
            }
            if let Err(e) = cg.kill_all() {
                problems.push(e.to_string());
            }
            // Killing init kills its whole pid namespace, whatever the cgroups say.
            if !init.exited
                && let Err(e) = sys::kill(init.pid, libc::SIGKILL)
            {
                problems.push(format!("killing the sandbox init: {e}"));
            }
            if let Err(e) = cg.set_frozen(false) {
                problems.push(e.to_string());
            }
            let until = Instant::now() + Duration::from_secs(10);
            while !init.exited && Instant::now() < until {
                let _ = sys::poll(&[(init.pidfd.as_fd(), libc::POLLIN)], 100);
                match sys::try_reap(init.pid) {
                    Ok(sys::Reaped::Running) => {}
                    Ok(_) => init.exited = true,
                    Err(e) => {
                        problems.push(format!("reaping the sandbox init: {e}"));
                        break;
                    }
                }
            }
            if !init.exited {
                problems.push(format!("the sandbox init (pid {}) did not exit", init.pid));
            }
        }
        if !cg.wait_empty(Duration::from_secs(10)) {
            // Last resort for a process that escaped the pid namespace kill.
            let _ = cg.kill_all();
            if !cg.wait_empty(Duration::from_secs(5)) {
                problems.push(format!(
                    "processes still in the task cgroup: {:?}",
                    cg.procs()
                ));
            }
        }
        self.counters = Some(cg.counters());
        if self.tmpfs_mounted {
            self.tmpfs_usage = sys::statvfs(&self.layout.fs).ok();
        }
        // Every writer of the output pipes is gone: let the supervisor finish.
        self.stop_w = None;
        if let Some(h) = self.supervisor.take()
            && h.join().is_err()
        {
            problems.push("the supervisor thread panicked".into());
        }
        self.stopped = true;
        if problems.is_empty() {
            Ok(())
        } else {
            Err(Error::Cleanup(problems))
        }
    }

    /// Stops the task (see [`stop`](Self::stop)) and copies every file the sample
    /// created or modified from the overlay's upper layer (and /dev/shm) to `dest`
    /// (created; must not exist), mirroring the sandbox paths. Only regular files are
    /// copied, within the caps; links, fifos, sockets and device nodes are listed, never
    /// opened; overlay whiteouts are reported as deletions.
    pub fn collect_changes(&mut self, dest: &Path, opts: &CollectOptions) -> Result<Changes> {
        if !self.tmpfs_mounted {
            return Err(Error::State(
                "the sandbox is torn down; nothing to collect".into(),
            ));
        }
        self.stop()?;
        fs::create_dir_all(dest.parent().unwrap_or(Path::new("/")))
            .map_err(|e| Error::io(format!("creating {}", dest.display()), e))?;
        fs::create_dir(dest).map_err(|e| Error::io(format!("creating {}", dest.display()), e))?;
        let mut w = changes::Walker {
            upper: &self.layout.upper,
            lower: &self.layout.lower,
            dest,
            opts,
            out: Changes::default(),
        };
        w.walk(Path::new(""), Path::new("/"), false)?;
        let mut out = std::mem::take(&mut w.out);
        let mut w2 = changes::Walker {
            upper: &self.layout.shm,
            lower: &self.layout.lower,
            dest,
            opts,
            out: Changes::default(),
        };
        w2.out.bytes_copied = out.bytes_copied;
        w2.walk(Path::new(""), Path::new("/dev/shm"), true)?;
        out.bytes_copied = w2.out.bytes_copied;
        out.truncated |= w2.out.truncated;
        out.entries.append(&mut w2.out.entries);
        Ok(out)
    }

    /// Stops the task, then unmounts its tmpfs, removes its cgroups and its work
    /// directory, and returns the [`Outcome`]. Idempotent (later
    /// calls return the same outcome); also run by `Drop`. On cleanup problems it
    /// returns [`Error::Cleanup`] naming each leftover; the outcome is then still
    /// available from [`outcome`](Self::outcome).
    pub fn teardown(&mut self) -> Result<Outcome> {
        if let Some(o) = &self.outcome {
            return Ok(o.clone());
        }
        let mut problems = Vec::new();
        if let Err(e) = self.stop() {
            problems.push(e.to_string());
        }
        let outcome = self.build_outcome();
        self.outcome = Some(outcome.clone());

        if self.tmpfs_mounted {
            match sys::umount(&self.layout.fs) {
                Ok(()) => self.tmpfs_mounted = false,
                Err(e) => problems.push(format!("unmounting {}: {e}", self.layout.fs.display())),
            }
        }
        if let Some(mut cg) = self.cgroups.take() {
            for (dir, e) in cg.remove() {
                problems.push(format!("removing cgroup {}: {e}", dir.display()));
            }
        }
        if !self.tmpfs_mounted
            && self.workdir.exists()
            && let Err(e) = fs::remove_dir_all(&self.workdir)
        {
            problems.push(format!("removing {}: {e}", self.workdir.display()));
        }
        if problems.is_empty() {
            Ok(outcome)
        } else {
            Err(Error::Cleanup(problems))
        }
    }

    /// The outcome, once torn down.
    pub fn outcome(&self) -> Option<&Outcome> {
        self.outcome.as_ref()
    }

    fn build_outcome(&mut self) -> Outcome {
        let c = self.counters.unwrap_or_default();
        let mut sh = lock(&self.shared);
        let (tmpfs_full, used_b, used_i) = match self.tmpfs_usage {
            Some(u) => (
                u.free_bytes == 0 || u.free_inodes == 0,
                u.total_bytes.saturating_sub(u.free_bytes),
                u.total_inodes.saturating_sub(u.free_inodes),
            ),
            None => (false, 0, 0),
        };
        Outcome {
            timed_out: self.timed_out,
            sample_exit: sh.sample_status.map(ExitStatus::from_raw),
            exec_errno: sh.exec_errno,
            setup_error: sh.setup_error.take(),
            killed_at_stop: self.killed_at_stop,
            oom_kills: c.oom_kills,
            memory_limit_hits: c.memory_limit_hits,
            memory_peak_bytes: c.memory_peak_bytes,
            pids_limit_hits: c.pids_limit_hits,
            cpu_time_ns: c.cpu_time_ns,
            tmpfs_full,
            tmpfs_used_bytes: used_b,
            tmpfs_used_inodes: used_i,
            stdout: std::mem::take(&mut sh.stdout),
            stderr: std::mem::take(&mut sh.stderr),
            denied_syscalls: std::mem::take(&mut sh.denied),
            denied_total: sh.denied_total,
            run_time: match (sh.released_at, sh.ended_at) {
                (Some(a), Some(b)) => Some(b.saturating_duration_since(a)),
                _ => None,
            },
            supervisor_errors: std::mem::take(&mut sh.errors),
        }
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        let _ = self.teardown();
    }
}

/// Pumps the task's report pipe, stdout/stderr and seccomp listener until every
/// writer is gone (or the host closes `stop`).
/// Descriptors the supervisor pumps.
struct SuperviseFds {
    report: fs::File,
    out: OwnedFd,
    err: OwnedFd,
    listener: OwnedFd,
    stop: OwnedFd,
}

fn supervise(shared: &Mutex<Shared>, fds: SuperviseFds) {
    let SuperviseFds {
        mut report,
        out,
        err,
        listener,
        stop,
    } = fds;
    let mut out = Some(fs::File::from(out));
    let mut err = Some(fs::File::from(err));
    let mut listener = Some(listener);
    let mut report_open = true;
    let mut stop_open = true;
    for f in [out.as_ref(), err.as_ref()].into_iter().flatten() {
        if let Err(e) = sys::set_nonblocking(f.as_fd()) {
            lock(shared)
                .errors
                .push(format!("setting an output pipe non-blocking: {e}"));
        }
    }
    let mut buf = vec![0u8; 64 * 1024];
    let mut pending = Vec::with_capacity(child::MSG_LEN);
    let started = Instant::now();
    while stop_open && (report_open || out.is_some() || err.is_some()) {
        let mut fds = Vec::with_capacity(5);
        let mut which = Vec::with_capacity(5);
        if report_open {
            fds.push((report.as_fd(), libc::POLLIN));
            which.push(0);
        }
        if let Some(f) = &out {
            fds.push((f.as_fd(), libc::POLLIN));
            which.push(1);
        }
        if let Some(f) = &err {
            fds.push((f.as_fd(), libc::POLLIN));
            which.push(2);
        }
        if let Some(l) = &listener {
            fds.push((l.as_fd(), libc::POLLIN));
            which.push(3);
        }
        if stop_open {
            fds.push((stop.as_fd(), libc::POLLIN));
            which.push(4);
        }
        let revents = match sys::poll(&fds, 1000) {
            Ok(r) => r,
            Err(e) => {
                lock(shared).errors.push(format!("poll: {e}"));
                break;
            }
        };
        drop(fds);
        for (idx, rev) in which.iter().zip(revents) {
            if rev == 0 {
                continue;
            }
            match idx {
                0 => match report.read(&mut buf[..child::MSG_LEN]) {
                    Ok(0) => report_open = false,
                    Ok(n) => {
                        pending.extend_from_slice(buf.get(..n).unwrap_or(&[]));
                        while pending.len() >= child::MSG_LEN {
                            let mut msg = [0u8; child::MSG_LEN];
                            for (dst, src) in msg.iter_mut().zip(pending.drain(..child::MSG_LEN)) {
                                *dst = src;
                            }
                            let (tag, stage, val) = child::decode(&msg);
                            let mut sh = lock(shared);
                            match tag {
                                child::MSG_SAMPLE_EXITED => sh.sample_status = Some(val as i32),
                                child::MSG_EXEC_ERROR => sh.exec_errno = Some(val as i32),
                                child::MSG_SETUP_ERROR => {
                                    let stage = child::stage_name(stage);
                                    sh.setup_error = Some(format!(
                                        "{stage}: {}",
                                        io::Error::from_raw_os_error(val as i32)
                                    ));
                                }
                                _ => {}
                            }
                        }
                    }
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => {
                        lock(shared)
                            .errors
                            .push(format!("reading the report pipe: {e}"));
                        report_open = false;
                    }
                },
                1 | 2 => {
                    let slot = if *idx == 1 { &mut out } else { &mut err };
                    if drain(shared, slot, *idx == 1, &mut buf) {
                        *slot = None;
                    }
                }
                3 => {
                    if let Some(l) = &listener {
                        if rev & libc::POLLIN != 0 {
                            handle_notification(shared, l, started);
                        } else if rev & (libc::POLLHUP | libc::POLLERR | libc::POLLNVAL) != 0 {
                            listener = None;
                        }
                    }
                }
                _ => stop_open = false,
            }
        }
    }
    // The host only closes `stop` once every process is gone: whatever is still in the
    // output pipes is complete and ends in EOF.
    for (slot, is_out) in [(&mut out, true), (&mut err, false)] {
        while let Some(f) = slot.as_ref() {
            let ready = sys::poll(&[(f.as_fd(), libc::POLLIN)], 1000).unwrap_or_default();
            if ready.first().copied().unwrap_or(0) == 0 {
                lock(shared).errors.push(format!(
                    "the sample's {} pipe stayed open after the stop",
                    if is_out { "stdout" } else { "stderr" }
                ));
                break;
            }
            if drain(shared, slot, is_out, &mut buf) {
                *slot = None;
            }
        }
    }
}

/// Reads what is available on an output pipe into its capture; true at EOF.
fn drain(
    shared: &Mutex<Shared>,
    slot: &mut Option<fs::File>,
    is_out: bool,
    buf: &mut [u8],
) -> bool {
    let Some(f) = slot.as_mut() else { return true };
    // Bounded per wakeup so a flood cannot starve the seccomp listener.
    for _ in 0..16 {
        match f.read(buf) {
            Ok(0) => return true,
            Ok(n) => {
                let mut sh = lock(shared);
                let cap = if is_out { sh.stdout_cap } else { sh.stderr_cap };
                let c = if is_out {
                    &mut sh.stdout
                } else {
                    &mut sh.stderr
                };
                c.total_bytes += n as u64;
                let room = cap.saturating_sub(c.data.len()).min(n);
                c.data.extend_from_slice(buf.get(..room).unwrap_or(&[]));
                c.truncated_bytes += (n - room) as u64;
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return false,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => {
                lock(shared)
                    .errors
                    .push(format!("reading sample output: {e}"));
                return true;
            }
        }
    }
    false
}

fn handle_notification(shared: &Mutex<Shared>, listener: &OwnedFd, started: Instant) {
    match sys::seccomp_notif_recv(listener.as_fd()) {
        Ok(Some(n)) => {
            let res = sys::seccomp_notif_deny(listener.as_fd(), n.id, libc::EPERM);
            let mut sh = lock(shared);
            if let Err(e) = res {
                sh.errors.push(format!("answering a denied syscall: {e}"));
            }
            sh.denied_total += 1;
            if sh.denied.len() < MAX_DENIED_RECORDS {
                let at = sh
                    .released_at
                    .map_or_else(|| started.elapsed(), |r| r.elapsed());
                sh.denied.push(DeniedSyscall {
                    host_pid: n.pid as i32,
                    arch: n.arch,
                    nr: n.nr,
                    name: seccomp::denied_name(n.arch, n.nr),
                    args: n.args,
                    at,
                    when: Instant::now(),
                });
            }
        }
        Ok(None) => {}
        Err(e) => lock(shared)
            .errors
            .push(format!("receiving a denied syscall: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_binds_and_binfmt_rules_are_refused_before_anything_is_built() {
        let bad = |cfg: SandboxConfig| match Sandbox::new(cfg) {
            Err(Error::InvalidConfig(m)) => m,
            other => panic!("expected InvalidConfig, got {other:?}"),
        };
        let base = || SandboxConfig::new("/tmp");
        let m = bad(base().ro_bind("/usr", "/usr/x"));
        assert!(m.contains("/usr/x"), "{m}");
        let m = bad(base().ro_bind("/usr", "relative"));
        assert!(m.contains("not absolute"), "{m}");
        let mut cfg = base();
        cfg.binfmt
            .push("qemu-arm:M::\\x7fELF::/usr/bin/qemu-arm-static:F".into());
        assert!(bad(cfg).contains("binfmt rule"));
        let mut cfg = base();
        cfg.binfmt
            .push(":a:M::\\x7fELF::/usr/bin/qemu-arm-static:F\n:b:M::x::/bin/sh:".into());
        assert!(bad(cfg).contains("binfmt rule"));
        match Sandbox::new(base().ro_bind("/nonexistent-ferret-path", "/opt/x")) {
            Err(Error::Io { context, .. }) => assert!(context.contains("nonexistent"), "{context}"),
            other => panic!("expected Io, got {other:?}"),
        }
    }

    #[test]
    fn task_names_parse() {
        assert_eq!(task_owner("ferret-123-4-0badf00d"), Some(123));
        assert_eq!(task_owner("ferret-123-4"), None);
        assert_eq!(task_owner("ferret-x-4-0badf00d"), None);
        assert_eq!(task_owner("ferret-1-4-0badf00d-x"), None);
        assert_eq!(task_owner("other-1-4-0"), None);
    }
}
