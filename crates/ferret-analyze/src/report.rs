//! The analysis report (`report.json`, schema `docs/schema/analysis-report.schema.json`,
//! documented in `docs/analysis-report.md`).

use std::collections::BTreeMap;

use serde::Serialize;

/// Version of the report format; the major number changes on incompatible changes.
pub const SCHEMA_VERSION: &str = "1.0";

/// Everything one analysis found. Serialised as `report.json`.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// [`SCHEMA_VERSION`].
    pub schema_version: &'static str,
    /// Version of ferret that wrote the report.
    pub ferret_version: &'static str,
    /// When and how the analysis ran.
    pub analysis: AnalysisInfo,
    /// The analysed file.
    pub sample: SampleInfo,
    /// Static analysis of the sample (the `ferret static` report of one file).
    #[serde(rename = "static")]
    pub static_: serde_json::Value,
    /// Every process the sample started, as a flat list linked by `ppid`/`children`.
    pub processes: Processes,
    /// Traced system calls counted by name.
    pub syscalls: SyscallSummary,
    /// Files opened, written, deleted and dropped.
    pub files: Files,
    /// Network activity: system calls, the fake internet's record, its capture.
    pub network: NetworkSection,
    /// Rules that matched, with ATT&CK ids and evidence events.
    pub signatures: Vec<ferret_rules::Signature>,
    /// Score 0-10 (docs/scoring.md).
    pub score: f64,
    /// `clean`, `suspicious` or `malicious`.
    pub verdict: ferret_rules::Verdict,
    /// Every limit the run hit, with what was cut.
    pub limits: LimitsHit,
    /// How the sample ended and problems of the analysis itself.
    pub outcome: RunOutcome,
    /// Wall time of each phase, milliseconds.
    pub timings_ms: Timings,
}

/// When and how the analysis ran.
#[derive(Debug, Clone, Serialize)]
pub struct AnalysisInfo {
    /// Start, seconds since the Unix epoch.
    pub started_at: u64,
    /// Timeout of the detonation, seconds.
    pub timeout_secs: f64,
    /// Arguments passed to the sample (after its name).
    pub args: Vec<String>,
    /// Network mode used (`none` or the provider's name); see `network_notes`.
    pub network: String,
    /// Notes about the network (e.g. a fallback to `none`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub network_notes: Vec<String>,
    /// Every system call traced (`--trace-all`) instead of the default set.
    pub trace_all: bool,
    /// Most events recorded.
    pub max_events: u64,
    /// Host name the sample saw.
    pub hostname: String,
    /// The sample's architecture and what ran it (absent for files that are no ELF
    /// program of a known architecture, e.g. scripts).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub arch: Option<ArchInfo>,
}

/// Architecture of the sample and its runner.
#[derive(Debug, Clone, Serialize)]
pub struct ArchInfo {
    /// Architecture (`x86_64`, `i386`, `arm`, `aarch64`, `mips`, `mipsel`, `ppc`...).
    pub name: String,
    /// `native`, or the emulator's file name (`qemu-mips-static`).
    pub runner: String,
    /// The sample ran under an emulator.
    pub emulated: bool,
    /// Chosen with `--arch` instead of read from the ELF header.
    pub forced: bool,
    /// Program interpreter (`PT_INTERP`) of a dynamically linked sample.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub interpreter: Option<String>,
}

impl ArchInfo {
    pub(crate) fn of(plan: Option<&ferret_emu::Plan>) -> Option<ArchInfo> {
        let plan = plan?;
        Some(ArchInfo {
            name: plan.arch.name().to_owned(),
            runner: crate::emulated::runner_name(plan),
            emulated: plan.emulated(),
            forced: plan.forced,
            interpreter: plan.interpreter.clone(),
        })
    }
}

/// The analysed file.
#[derive(Debug, Clone, Serialize)]
pub struct SampleInfo {
    /// File name.
    pub name: String,
    /// Path on the host.
    pub path: String,
    /// Size in bytes.
    pub size: u64,
    /// SHA-256 (hex).
    pub sha256: String,
    /// One-line file type.
    pub file_type: String,
    /// Where the sample sat inside the sandbox.
    pub sandbox_path: String,
}

/// Process list.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Processes {
    /// Sandbox pid of the sample's first process.
    pub root: i64,
    /// Processes seen (threads excluded), listed or not.
    pub count: u64,
    /// Processes not listed because of the cap.
    pub omitted: u64,
    /// Processes in order of appearance.
    pub list: Vec<ProcessInfo>,
}

/// One process.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ProcessInfo {
    /// Pid inside the sandbox.
    pub pid: i64,
    /// Parent's pid inside the sandbox (0 for the root, whose parent is the sandbox init).
    pub ppid: i64,
    /// Executable path after the last exec (empty when the process never exec'd and
    /// its parent's is unknown).
    pub exe: String,
    /// Process name (`comm`), after any `prctl(PR_SET_NAME)`.
    pub name: String,
    /// Command line after the last exec.
    pub cmdline: String,
    /// Executables run, in order (bounded).
    pub execs: Vec<String>,
    /// How it ended; absent when it was still alive when the sandbox was stopped.
    pub exit: Option<ProcExit>,
    /// Child processes, by sandbox pid.
    pub children: Vec<i64>,
    /// Architecture of its program (`x86_64`, `mips`...), inherited over fork; absent
    /// when unknown.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub arch: Option<String>,
    /// What ran its program: `native` or the emulator (`qemu-arm-static`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub runner: Option<String>,
}

/// How a process ended: `{"code": N}` or `{"signal": "SIGKILL", "core": false}`.
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum ProcExit {
    /// Normal exit.
    Code {
        /// Exit code.
        code: i64,
    },
    /// Killed by a signal.
    Signal {
        /// Signal name (`SIGKILL`).
        signal: String,
        /// A core dump was attempted.
        core: bool,
    },
}

/// Counts of traced calls.
#[derive(Debug, Clone, Default, Serialize)]
pub struct SyscallSummary {
    /// Syscall events recorded (process events excluded).
    pub total: u64,
    /// Failed calls among them.
    pub failed: u64,
    /// Calls refused by the sandbox's deny-list.
    pub denied: u64,
    /// Count by syscall name.
    pub by_name: BTreeMap<String, u64>,
}

/// One path and how often it was used.
#[derive(Debug, Clone, Serialize)]
pub struct PathUse {
    /// Absolute path inside the sandbox.
    pub path: String,
    /// Calls on it.
    pub count: u64,
    /// Calls that failed.
    pub failed: u64,
}

/// File activity.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Files {
    /// Paths opened (any mode).
    pub opened: Vec<PathUse>,
    /// Paths opened for writing, created, renamed to or linked to.
    pub written: Vec<PathUse>,
    /// Paths unlinked or removed (successful calls).
    pub deleted: Vec<PathUse>,
    /// Paths left out of the three lists above because of the cap.
    pub omitted: u64,
    /// What the sample left on its filesystem (from the overlay's upper layer).
    pub dropped: Vec<DroppedFile>,
    /// The change walk stopped at its entry cap.
    pub dropped_truncated: bool,
}

/// A file the sample created, modified or deleted, as found after the run.
#[derive(Debug, Clone, Serialize)]
pub struct DroppedFile {
    /// Path inside the sandbox.
    pub path: String,
    /// `created`, `modified` or `deleted`.
    pub change: &'static str,
    /// `file`, `dir`, `symlink`, `fifo`, `socket`, `chardev`, `blockdev`, `unknown`.
    pub kind: &'static str,
    /// Symlink target.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// Size in bytes.
    pub size: u64,
    /// Permission bits (octal text, e.g. `0755`).
    pub mode: String,
    /// SHA-256 of the copied content.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    /// Copy under the output directory, relative to it (`dropped/tmp/x`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stored_as: Option<String>,
    /// Why the content was not copied.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub not_copied: Option<String>,
    /// Static analysis, for ELF files and scripts.
    #[serde(rename = "static", skip_serializing_if = "Option::is_none")]
    pub static_: Option<serde_json::Value>,
}

/// A network endpoint a socket call named.
#[derive(Debug, Clone, Serialize)]
pub struct Endpoint {
    /// `connect`, `sendto`, `sendmsg` or `bind`.
    pub syscall: String,
    /// `inet`, `inet6`, `unix`, `netlink`, `packet`, `other`.
    pub family: String,
    /// IP address or unix socket path.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    /// Port.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    /// Calls.
    pub count: u64,
    /// Failed calls.
    pub failed: u64,
    /// Errno of the last failure.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
}

/// Sockets created, by domain and type.
#[derive(Debug, Clone, Serialize)]
pub struct SocketUse {
    /// `AF_INET`...
    pub domain: String,
    /// `SOCK_STREAM`... (with flags).
    #[serde(rename = "type")]
    pub ty: String,
    /// Calls.
    pub count: u64,
}

/// Network activity from system calls.
#[derive(Debug, Clone, Default, Serialize)]
pub struct NetworkSummary {
    /// Remote endpoints of connect/sendto/sendmsg.
    pub connections: Vec<Endpoint>,
    /// Local endpoints of bind.
    pub binds: Vec<Endpoint>,
    /// Sockets created.
    pub sockets: Vec<SocketUse>,
    /// Endpoints left out because of the cap.
    pub omitted: u64,
}

/// The report's `network` section: the system-call view, and with the fake internet
/// its own record and the analysis of its capture.
#[derive(Debug, Clone, Default, Serialize)]
pub struct NetworkSection {
    /// Connections, binds and sockets seen in system calls (`connections`, `binds`,
    /// `sockets`, `omitted`).
    #[serde(flatten)]
    pub syscalls: NetworkSummary,
    /// The fake internet's own record (with `--net fake`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fakenet: Option<crate::network::FakeNetSection>,
    /// ferret-pcap's analysis of `capture.pcap` (with `--net fake`): its keys
    /// (`summary`, `flows`, `dns`, `http`, `irc`, `telnet`, `anomalies`, ...) sit
    /// directly in the `network` section (docs/network.md).
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub capture: Option<ferret_pcap::NetworkReport>,
}

/// Captured output stream.
#[derive(Debug, Clone, Default, Serialize)]
pub struct StreamLimit {
    /// Bytes written by the sample.
    pub total_bytes: u64,
    /// Bytes kept in the output file.
    pub captured_bytes: u64,
    /// Bytes dropped beyond the cap.
    pub truncated_bytes: u64,
}

/// Events recorded and cut.
#[derive(Debug, Clone, Default, Serialize)]
pub struct EventLimit {
    /// The cap.
    pub cap: u64,
    /// Events written to events.jsonl and fed to the rules.
    pub recorded: u64,
    /// Events past the cap (counted, not recorded).
    pub dropped: u64,
}

/// Limits hit during the run; nothing is hidden.
#[derive(Debug, Clone, Default, Serialize)]
pub struct LimitsHit {
    /// The timeout ended the run.
    pub timed_out: bool,
    /// Processes alive (and killed) when the sandbox was stopped.
    pub killed_at_stop: u64,
    /// Event cap.
    pub events: EventLimit,
    /// stdout capture.
    pub stdout: StreamLimit,
    /// stderr capture.
    pub stderr: StreamLimit,
    /// OOM kills in the task's memory cgroup.
    pub oom_kills: u64,
    /// Times the memory limit was reached.
    pub memory_limit_hits: u64,
    /// Peak memory use, bytes.
    pub memory_peak_bytes: Option<u64>,
    /// Forks refused by the pids limit.
    pub pids_limit_hits: u64,
    /// The writable filesystem filled up (bytes or inodes).
    pub tmpfs_full: bool,
    /// Bytes used on the writable filesystem.
    pub tmpfs_used_bytes: u64,
    /// Inodes used on the writable filesystem.
    pub tmpfs_used_inodes: u64,
    /// Denied calls in all.
    pub denied_total: u64,
    /// Denied calls recorded individually (the sandbox keeps at most 10,000).
    pub denied_recorded: u64,
    /// Dropped files statically analysed at most.
    pub dropped_analysis_cap: usize,
    /// Dropped ELF/script files not analysed because of that cap.
    pub dropped_not_analysed: u64,
    /// What the fake internet's capture left out (with `--net fake`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub capture: Option<crate::network::CaptureLimit>,
}

/// How the run ended.
#[derive(Debug, Clone, Default, Serialize)]
pub struct RunOutcome {
    /// Exit of the sample's first process.
    pub sample_exit: Option<ProcExit>,
    /// `execve` of the sample failed with this errno.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exec_error: Option<String>,
    /// Setup of the sample failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub setup_error: Option<String>,
    /// From release to the end of the process tree, ms.
    pub run_time_ms: Option<u64>,
    /// CPU time of the task, ms.
    pub cpu_time_ms: Option<u64>,
    /// Processes and threads traced.
    pub tasks_traced: u64,
    /// Problems of the analysis machinery (tracer, sandbox supervision, teardown).
    pub errors: Vec<String>,
}

/// Phase durations in milliseconds.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Timings {
    /// Static analysis of the sample.
    #[serde(rename = "static")]
    pub static_: u64,
    /// Sandbox creation and spawn.
    pub setup: u64,
    /// From release to the end of the process tree (or the timeout).
    pub detonation: u64,
    /// Stop, file collection, teardown and the end of event processing.
    pub collection: u64,
    /// Static analysis of dropped files.
    pub dropped_analysis: u64,
    /// Writing the report.
    pub report: u64,
    /// Whole analysis.
    pub total: u64,
}
