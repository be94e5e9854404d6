//! Foreign-architecture samples: the sample runs under user-mode QEMU (`ferret-emu`)
//! and its events come from two sources, merged into one stream.
//!
//! # What comes from where
//!
//! * **Guest system calls** come from QEMU's syscall log (`-d strace,tid` into one
//!   FIFO per thread, [`ferret_emu::StraceLog`]; the tracer's sink creates each new
//!   process's and thread's FIFO and moves a forked QEMU's inherited log descriptor
//!   to the child's before the child runs, so concurrent tasks never share a log):
//!   guest names (`_newselect`, `fstat64`...), arguments as the guest passed them,
//!   return values, guest pids and thread ids (QEMU runs inside the sandbox's pid
//!   namespace, so they are sandbox ids). The host tracer sees only what QEMU does
//!   on the guest's behalf, interleaved with QEMU's own work (`mmap` of its code cache,
//!   `futex` of its threads, reads of `/proc/self/maps`...), so its system-call records of
//!   emulated processes are dropped: every guest call is counted once, from the log.
//! * **Process lifecycle and containment** come from the ptrace tracer (`ferret-trace`),
//!   which follows the emulator processes like any other: forks, execs, exits, signals,
//!   the task count, and the sandbox's deny-list answers. An exec into QEMU (the sample
//!   itself, or a native process starting a foreign program through the sandbox's
//!   binfmt_misc) is rewritten to the guest's view: program and argv from QEMU's command
//!   line, the guest architecture and the runner. An exec performed by an emulated
//!   process is reported by the guest log (`execve` with the guest's arguments), so the
//!   host's record of it is dropped; the `procexec` that follows is kept (rewritten).
//! * **Socket addresses and `prctl` names** that QEMU 7.2 prints only as pointers are
//!   filled in from the host records of those calls ([`ferret_emu::enrich`]) before the
//!   host records are dropped.
//! * **Which guest calls**: QEMU logs them all; those of the analysis's syscall set are
//!   kept ([`GuestFilter`]), so that an emulated run records what a native one would.
//! * **Denied calls**: the guest log shows a denied call returning `EPERM`; the sandbox's
//!   record of the refusal marks that guest event with `denied` instead of adding a
//!   second event. A refusal with no guest call to match (QEMU's own) stays an event.
//!
//! # Order
//!
//! Both sources carry host receive times (the log has no timestamps of its own), so the
//! streams are merged by time, each keeping its own order. The log reaches the host a
//! little after the fact; a process's exit is therefore placed after its last guest
//! call whatever the times say, so that nothing of a process follows its exit. A child's
//! events that precede its parent's `clone` are held back by the collector as for native
//! runs.

use std::ffi::OsString;
use std::io::Write;
use std::path::Path;

use ferret_emu::{Arch, Plan, Runner, StraceLog, Stream};
use ferret_event::{Event, Value};
use ferret_sandbox::{SandboxConfig, SpawnSpec};
use ferret_trace::{Arch as TraceArch, SyscallSet};
use rustc_hash::FxHashMap;

/// What runs the sample, for the report.
pub(crate) fn runner_name(plan: &Plan) -> String {
    match &plan.runner {
        Runner::Native => "native".to_owned(),
        Runner::Qemu { binary } => binary.file_name().map_or_else(
            || binary.display().to_string(),
            |n| n.to_string_lossy().into_owned(),
        ),
    }
}

/// The plan for a sample: `Ok(None)` when the file is no ELF program ferret knows (a
/// script, or an unknown machine, which then runs natively as before), an error when the
/// plan cannot be carried out (`--arch` unknown, emulator or cross C library missing).
pub(crate) fn plan(data: &[u8], forced: Option<Arch>) -> Result<Option<Plan>, String> {
    match Plan::for_sample(data, forced) {
        Ok(p) => Ok(Some(p)),
        Err(ferret_emu::Error::NotElf(_) | ferret_emu::Error::UnsupportedArch(_))
            if forced.is_none() =>
        {
            Ok(None)
        }
        Err(e) => Err(e.to_string()),
    }
}

/// An emulated detonation in progress: the plan, the host end of the syscall log and
/// the system calls the analysis records.
pub(crate) struct Emulation {
    plan: Plan,
    log: StraceLog,
    traced: SyscallSet,
}

impl Emulation {
    /// Creates the syscall-log directory under `work_root` (which must exist). `traced` is
    /// the analysis's syscall set: QEMU logs every guest call, and the guest events
    /// kept are those a native run would trace (see [`GuestFilter`]).
    pub(crate) fn start(plan: Plan, work_root: &Path, traced: SyscallSet) -> Result<Self, String> {
        let log = StraceLog::create(work_root).map_err(|e| e.to_string())?;
        Ok(Emulation { plan, log, traced })
    }

    /// Adds the cross C libraries, binfmt_misc rules and the log directory.
    pub(crate) fn configure(&self, cfg: SandboxConfig) -> SandboxConfig {
        self.plan.configure(cfg, &self.log)
    }

    /// The spawn request running QEMU on the sample.
    pub(crate) fn spawn_spec(&self, sample: &Path, args: &[OsString]) -> SpawnSpec {
        self.plan.spawn_spec(sample, args)
    }

    /// A handle for the tracer's sink, which gives every new process its own FIFO.
    pub(crate) fn log_handle(&self) -> ferret_emu::LogHandle {
        self.log.handle()
    }

    /// Creates the log FIFO of sandbox pid `pid` (the sample's, before release).
    pub(crate) fn add_process(&self, pid: i32) -> Result<(), String> {
        self.log
            .add_task(pid)
            .map(drop)
            .map_err(|e| format!("guest syscall log: {e}"))
    }

    /// Ends the log (call after the sandbox's teardown), keeps the raw log as
    /// `out_dir/`[`RAW_LOG`] (at most [`RAW_LOG_CAP`] bytes), parses it and merges it with
    /// the host events (in arrival order) of the run. Problems go to `errors`.
    pub(crate) fn finish(
        self,
        host: Vec<Event>,
        root: i64,
        out_dir: &Path,
        errors: &mut Vec<String>,
    ) -> Vec<Event> {
        let streams = match self.log.finish() {
            Ok(s) => s,
            Err(e) => {
                errors.push(format!("guest syscall log: {e}"));
                Vec::new()
            }
        };
        if let Err(e) = write_raw(&out_dir.join(RAW_LOG), &streams) {
            errors.push(format!("writing {RAW_LOG}: {e}"));
        }
        // The tracer gave every forked process its own FIFO.
        let parsed = ferret_emu::parse_streams(&streams, true);
        drop(streams);
        if parsed.anomaly_count > 0 {
            errors.push(format!(
                "guest syscall log: {} pieces not parsed or attributed (first: {})",
                parsed.anomaly_count,
                parsed.anomalies.first().map_or("", String::as_str)
            ));
        }
        let mut guest = parsed.events;
        let mut filter = GuestFilter::new(&self.traced);
        guest.retain(|e| filter.keeps(e));
        merge(host, guest, root)
    }
}

/// Which guest calls an analysis records: those of its syscall set (the default
/// categories, or every call with `--trace-all`), by name in the x86-64 or i386 table
/// (32-bit guests use i386's names: `mmap2`, `fstat64`, `_newselect`...). QEMU logs
/// every guest call; keeping only the traced ones gives an emulated sample the same
/// event set, counts and signatures as a native one. Calls of no host table
/// (`cacheflush`, `ARM_set_tls`...) are emulator plumbing and dropped unless every call
/// is traced.
pub(crate) struct GuestFilter<'a> {
    set: &'a SyscallSet,
    memo: FxHashMap<String, bool>,
}

impl<'a> GuestFilter<'a> {
    pub(crate) fn new(set: &'a SyscallSet) -> Self {
        GuestFilter {
            set,
            memo: FxHashMap::default(),
        }
    }

    pub(crate) fn keeps(&mut self, ev: &Event) -> bool {
        // Refusals are recorded whatever the set, as for native runs.
        if self.set.is_all() || ev.args.get("denied").is_some() {
            return true;
        }
        let name: &str = &ev.ty;
        let traced = match self.memo.get(name) {
            Some(&t) => t,
            None => {
                let set = self.set;
                let t = [TraceArch::X86_64, TraceArch::I386]
                    .into_iter()
                    .any(|a| a.syscall_nr(name).is_some_and(|nr| set.contains(a, nr)));
                self.memo.insert(name.to_owned(), t);
                t
            }
        };
        if !traced {
            return false;
        }
        // Memory calls stop natively only when they map something executable.
        if self.set.exec_only_memory()
            && matches!(name, "mmap" | "mmap2" | "mprotect" | "pkey_mprotect")
        {
            return ev
                .args
                .0
                .iter()
                .any(|a| a.value.as_str().is_some_and(|t| t.contains("PROT_EXEC")));
        }
        true
    }
}

/// File of the output directory that keeps QEMU's raw syscall log.
pub(crate) const RAW_LOG: &str = "guest-syscalls.log";
/// Bytes of the raw log kept at most.
pub(crate) const RAW_LOG_CAP: usize = 64 << 20;

/// Writes the processes' logs one after the other (each line starts with its pid),
/// at most [`RAW_LOG_CAP`] bytes in all.
fn write_raw(path: &Path, streams: &[Stream]) -> std::io::Result<()> {
    let mut out = std::io::BufWriter::new(std::fs::File::create(path)?);
    let mut left = RAW_LOG_CAP;
    for s in streams {
        // A log cut off mid-line (a process killed in a call) ends its line here.
        let last = s.chunks.iter().rev().find_map(|(_, b)| b.last().copied());
        let end: &[u8] = if matches!(last, Some(b) if b != b'\n') {
            b"\n"
        } else {
            b""
        };
        for bytes in s.chunks.iter().map(|(_, b)| b.as_slice()).chain([end]) {
            let take = bytes.len().min(left);
            out.write_all(bytes.get(..take).unwrap_or(&[]))?;
            left -= take;
            if left == 0 {
                return out.flush();
            }
        }
    }
    out.flush()
}

/// How a process runs at a point of the host stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Native,
    Emulated(Arch),
}

/// The architecture a QEMU binary (`/usr/bin/qemu-mips-static`) emulates; for names two
/// ABIs share (`arm`), the first listed (`arm`, soft float).
fn qemu_arch(exe: &str) -> Option<Arch> {
    let base = exe.rsplit('/').next()?;
    let name = base.strip_prefix("qemu-")?;
    let name = name.strip_suffix("-static").unwrap_or(name);
    Arch::all().find(|a| a.qemu_name() == Some(name))
}

/// QEMU options followed by a value (qemu-user 7.2 `-h`).
const QEMU_VALUE_OPTS: &[&str] = &[
    "-0", "-B", "-D", "-E", "-L", "-R", "-U", "-cpu", "-d", "-dfilter", "-p", "-plugin", "-s",
    "-seed", "-trace",
];

/// The guest program and its argv from QEMU's arguments (after QEMU's own argv\[0\]):
/// `[-opts..., program, args...]` as ferret starts it (`-0` gives argv\[0\]), or
/// `[program, argv0, args...]` as binfmt_misc starts it with the `P` flag.
fn guest_command(qemu_args: &[String]) -> Option<(String, Vec<String>)> {
    let first = qemu_args.first()?;
    if !first.starts_with('-') {
        let argv = qemu_args.get(1..).unwrap_or(&[]).to_vec();
        return Some((first.clone(), argv));
    }
    let mut argv0 = None;
    let mut i = 0;
    while let Some(a) = qemu_args.get(i) {
        if a == "--" {
            i += 1;
            break;
        }
        if !a.starts_with('-') {
            break;
        }
        if QEMU_VALUE_OPTS.contains(&a.as_str()) {
            if a == "-0" {
                argv0 = qemu_args.get(i + 1).cloned();
            }
            i += 2;
        } else {
            i += 1;
        }
    }
    let program = qemu_args.get(i)?.clone();
    let mut argv = vec![argv0.unwrap_or_else(|| program.clone())];
    argv.extend(qemu_args.get(i + 1..).unwrap_or(&[]).iter().cloned());
    Some((program, argv))
}

fn set_arg(ev: &mut Event, name: &'static str, v: Value) {
    match ev.args.0.iter_mut().find(|a| a.name == name) {
        Some(a) => a.value = v,
        None => ev.args.push(name, v),
    }
}

/// Rewrites a `procexec` into QEMU to the guest's program. QEMU started by ferret has
/// its own command line (`qemu-arm-static -L ... -0 ARGV0 PROGRAM ARGS`), parsed for
/// the guest's; QEMU started by binfmt_misc for an `execve` of a foreign program keeps
/// the argv the guest passed, and the program is the path it executed.
fn rewrite_procexec(ev: &mut Event, arch: Arch, runner: &str) {
    let filename = match ev.args.get("filename") {
        Some(Value::Path(p)) => Some(p.clone()),
        _ => None,
    };
    if let Some(info) = ev.proc.as_deref_mut() {
        let qemu_cmdline = info.exe.is_some() && info.exe == info.exepath;
        let program = if qemu_cmdline {
            match info.args.as_deref().and_then(guest_command) {
                Some((program, argv)) => {
                    info.exe = argv.first().cloned();
                    info.args = Some(argv.get(1..).unwrap_or(&[]).to_vec());
                    Some(program)
                }
                None => None,
            }
        } else {
            filename
        };
        if let Some(p) = program {
            info.exepath = Some(p.clone());
            set_arg(ev, "filename", Value::Path(p));
        }
    }
    set_arg(ev, "arch", Value::Str(arch.name().to_owned()));
    set_arg(ev, "runner", Value::Str(runner.to_owned()));
}

/// Rewrites the `execve` record of a native process that started QEMU.
fn rewrite_execve(ev: &mut Event) {
    let Some(Value::Strs(argv)) = ev.args.get("argv") else {
        return;
    };
    let Some((program, guest_argv)) = argv.get(1..).and_then(guest_command) else {
        return;
    };
    set_arg(ev, "filename", Value::Path(program));
    set_arg(ev, "argv", Value::Strs(guest_argv));
}

/// Host calls whose decoded arguments complete the guest's ([`ferret_emu::enrich`]).
const ENRICHING: &[&str] = &["connect", "bind", "sendto", "prctl"];

const EPERM: i64 = 1;

/// Walks the host stream in arrival order, keeping what the host is the source of.
#[derive(Default)]
struct HostWalk {
    mode: FxHashMap<i64, Mode>,
    /// Mode before the last exec, until that exec's syscall record is seen.
    exec_prev: FxHashMap<i64, Mode>,
    held: FxHashMap<i64, Vec<Event>>,
    out: Vec<Event>,
    enrich: Vec<Event>,
    denied: Vec<Event>,
}

impl HostWalk {
    fn accept(&mut self, ev: Event) {
        let Some(&mode) = self.mode.get(&ev.pid) else {
            // Before its fork event: held until the parent's mode is known.
            self.held.entry(ev.pid).or_default().push(ev);
            return;
        };
        self.step(ev, mode);
    }

    fn release(&mut self, pid: i64) {
        if let Some(evs) = self.held.remove(&pid) {
            for ev in evs {
                self.accept(ev);
            }
        }
    }

    fn step(&mut self, mut ev: Event, mode: Mode) {
        let emulated = matches!(mode, Mode::Emulated(_));
        match &*ev.ty {
            "procfork" => {
                let child = ev.args.get("child").and_then(Value::as_i64);
                self.out.push(ev);
                if let Some(child) = child {
                    self.mode.entry(child).or_insert(mode);
                    self.release(child);
                }
            }
            "procexec" => {
                let exe = ev
                    .proc
                    .as_ref()
                    .and_then(|p| p.exepath.as_deref())
                    .unwrap_or("");
                let new = qemu_arch(exe).map_or(Mode::Native, Mode::Emulated);
                self.exec_prev.insert(ev.pid, mode);
                self.mode.insert(ev.pid, new);
                match new {
                    Mode::Emulated(arch) => {
                        let runner = exe.rsplit('/').next().unwrap_or(exe).to_owned();
                        rewrite_procexec(&mut ev, arch, &runner);
                    }
                    Mode::Native => set_arg(&mut ev, "runner", Value::Str("native".into())),
                }
                self.out.push(ev);
            }
            "procexit" | "threadexit" | "signaldeliver" => self.out.push(ev),
            _ if ev.args.get("denied").is_some() => {
                if emulated {
                    self.denied.push(ev);
                } else {
                    self.out.push(ev);
                }
            }
            "execve" | "execveat" if ev.ret == Some(0) => {
                match self.exec_prev.remove(&ev.pid).unwrap_or(mode) {
                    // The guest log has this exec, with the guest's arguments.
                    Mode::Emulated(_) => {}
                    Mode::Native => {
                        if emulated {
                            rewrite_execve(&mut ev);
                        }
                        self.out.push(ev);
                    }
                }
            }
            ty => {
                if !emulated {
                    self.out.push(ev);
                } else if ENRICHING.contains(&ty) {
                    self.enrich.push(ev);
                }
            }
        }
    }

    /// Feeds what is still held (processes whose fork event never came), as native
    /// until their own exec says otherwise.
    fn finish(&mut self) {
        let mut pids: Vec<i64> = self.held.keys().copied().collect();
        pids.sort_unstable();
        for pid in pids {
            self.mode.entry(pid).or_insert(Mode::Native);
            self.release(pid);
        }
    }
}

/// Marks the guest events the sandbox refused (see the module docs); returns the
/// refusals no guest event accounts for.
fn mark_denied(guest: &mut [Event], denied: Vec<Event>) -> Vec<Event> {
    let mut cursor: FxHashMap<(i64, String), usize> = FxHashMap::default();
    let mut left = Vec::new();
    for d in denied {
        let key = (d.pid, d.ty.to_string());
        let from = cursor.get(&key).copied().unwrap_or(0);
        let hit = guest.get(from..).and_then(|rest| {
            rest.iter()
                .position(|g| g.pid == d.pid && g.ty == d.ty && g.ret == Some(-EPERM))
        });
        match hit {
            Some(off) => {
                let idx = from + off;
                cursor.insert(key, idx + 1);
                if let (Some(g), Some(v)) = (guest.get_mut(idx), d.args.get("denied")) {
                    g.args.push("denied", v.clone());
                }
            }
            None => left.push(d),
        }
    }
    left
}

/// Merges the host stream (arrival order) with the guest log (log order) of a run whose
/// sample's first process is `root`.
pub(crate) fn merge(host: Vec<Event>, mut guest: Vec<Event>, root: i64) -> Vec<Event> {
    let mut walk = HostWalk::default();
    walk.mode.insert(root, Mode::Native);
    for ev in host {
        walk.accept(ev);
    }
    walk.finish();
    ferret_emu::enrich(&mut guest, &walk.enrich);
    let mut left = mark_denied(&mut guest, std::mem::take(&mut walk.denied));
    // Refusals are reported late (by the sandbox, not the tracer): into time order.
    left.sort_by_key(|e| e.ts);
    let host = interleave(walk.out, left);
    interleave(host, guest)
}

fn is_exit(ev: &Event) -> bool {
    matches!(&*ev.ty, "procexit")
}

/// Merges two streams by time, each keeping its order, with a process's exit (from
/// `host`) after its last event in `guest`.
fn interleave(host: Vec<Event>, guest: Vec<Event>) -> Vec<Event> {
    let mut remaining: FxHashMap<i64, usize> = FxHashMap::default();
    for g in &guest {
        *remaining.entry(g.pid).or_default() += 1;
    }
    let mut deferred: FxHashMap<i64, Vec<Event>> = FxHashMap::default();
    let mut out = Vec::with_capacity(host.len() + guest.len());
    let mut h = host.into_iter().peekable();
    let mut g = guest.into_iter().peekable();
    loop {
        let take_host = match (h.peek(), g.peek()) {
            (Some(a), Some(b)) => a.ts <= b.ts,
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (None, None) => break,
        };
        if take_host {
            let Some(ev) = h.next() else { break };
            if is_exit(&ev) && remaining.get(&ev.pid).copied().unwrap_or(0) > 0 {
                deferred.entry(ev.pid).or_default().push(ev);
            } else {
                out.push(ev);
            }
        } else {
            let Some(ev) = g.next() else { break };
            let pid = ev.pid;
            out.push(ev);
            if let Some(n) = remaining.get_mut(&pid) {
                *n = n.saturating_sub(1);
                if *n == 0
                    && let Some(d) = deferred.remove(&pid)
                {
                    out.extend(d);
                }
            }
        }
    }
    let mut rest: Vec<Event> = deferred.into_values().flatten().collect();
    rest.sort_by_key(|e| e.ts);
    out.extend(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferret_event::ProcInfo;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| (*x).to_owned()).collect()
    }

    #[test]
    fn guest_command_of_both_launch_styles() {
        let ferret = s(&[
            "-L",
            "/etc/qemu-binfmt/mips",
            "-d",
            "strace",
            "-D",
            "/run/qemu/strace",
            "-0",
            "/root/s",
            "/root/s",
            "scan",
        ]);
        assert_eq!(
            guest_command(&ferret),
            Some(("/root/s".to_owned(), s(&["/root/s", "scan"])))
        );
        let binfmt = s(&["/tmp/stage2", "stage2", "-x"]);
        assert_eq!(
            guest_command(&binfmt),
            Some(("/tmp/stage2".to_owned(), s(&["stage2", "-x"])))
        );
        assert_eq!(guest_command(&s(&["-L", "/x"])), None);
        assert_eq!(guest_command(&[]), None);
        assert_eq!(qemu_arch("/usr/bin/qemu-mipsel-static"), Some(Arch::Mipsel));
        assert_eq!(qemu_arch("/usr/bin/qemu-arm-static"), Some(Arch::Arm));
        assert_eq!(qemu_arch("/usr/bin/python3"), None);
    }

    fn exec(ts: u64, pid: i64, exe: &str, argv: &[&str]) -> Event {
        let mut ev = Event::syscall(0, ts, pid, pid, "procexec")
            .arg("filename", Value::Path(exe.to_owned()))
            .arg("arch", Value::Str("x86_64".into()));
        ev.proc = Some(Box::new(ProcInfo {
            exe: argv.first().map(|a| (*a).to_owned()),
            exepath: Some(exe.to_owned()),
            args: Some(s(argv.get(1..).unwrap_or(&[]))),
            ..ProcInfo::default()
        }));
        ev
    }

    fn sys(ts: u64, pid: i64, ty: &'static str, ret: i64) -> Event {
        Event::syscall(0, ts, pid, pid, ty).ret(ret)
    }

    #[test]
    fn host_calls_of_emulated_processes_give_way_to_the_guest_log() {
        let q = "/usr/bin/qemu-mips-static";
        let qargv = [
            q,
            "-L",
            "/etc/qemu-binfmt/mips",
            "-d",
            "strace",
            "-D",
            "/run/qemu/strace",
            "-0",
            "/root/s",
            "/root/s",
        ];
        let host = vec![
            exec(10, 2, q, &qargv),
            sys(11, 2, "execve", 0).arg("argv", Value::Strs(s(&qargv))),
            // QEMU's own work and the host side of guest calls: dropped.
            sys(12, 2, "openat", 3),
            sys(13, 2, "mmap", 0x1000),
            Event::syscall(0, 14, 2, 2, "procfork")
                .arg("child", Value::Int(3))
                .arg("kind", Value::Str("fork".into())),
            // The child execs a foreign program: the guest log reports the execve.
            // (binfmt_misc started QEMU: the tracer reads the argv the guest passed.)
            {
                let mut e = exec(20, 3, "/usr/bin/qemu-arm-static", &["x", "-v"]);
                set_arg(&mut e, "filename", Value::Path("/tmp/x".into()));
                e
            },
            sys(21, 3, "execve", 0),
            Event::syscall(0, 22, 3, 3, "procexit").arg("status", Value::Int(0)),
            sys(23, 2, "init_module", -EPERM).arg("denied", Value::Str("init_module".into())),
            Event::syscall(0, 30, 2, 2, "procexit").arg("status", Value::Int(0)),
        ];
        let guest = vec![
            sys(15, 2, "openat", 3),
            sys(16, 2, "clone", 3),
            sys(17, 3, "execve", 0),
            sys(24, 2, "init_module", -EPERM),
            // Received after the host saw the exit.
            sys(35, 2, "exit_group", 0),
        ];
        let out = merge(host, guest, 2);
        let seq: Vec<(u64, &str)> = out.iter().map(|e| (e.ts, &*e.ty)).collect();
        assert_eq!(
            seq,
            vec![
                (10, "procexec"),
                (11, "execve"),
                (14, "procfork"),
                (15, "openat"),
                (16, "clone"),
                (17, "execve"),
                (20, "procexec"),
                (22, "procexit"),
                (24, "init_module"),
                (35, "exit_group"),
                (30, "procexit"),
            ]
        );
        let root_exec = &out[0];
        assert_eq!(root_exec.args.get("arch"), Some(&Value::Str("mips".into())));
        assert_eq!(
            root_exec.args.get("runner"),
            Some(&Value::Str("qemu-mips-static".into()))
        );
        let info = root_exec.proc.as_deref().unwrap();
        assert_eq!(info.exepath.as_deref(), Some("/root/s"));
        assert_eq!(info.args.as_deref(), Some(&[][..]));
        assert_eq!(out[1].args.get("argv"), Some(&Value::Strs(s(&["/root/s"]))));
        let stage2 = &out[6];
        assert_eq!(stage2.args.get("arch"), Some(&Value::Str("arm".into())));
        let info = stage2.proc.as_deref().unwrap();
        assert_eq!(info.exepath.as_deref(), Some("/tmp/x"));
        assert_eq!(info.exe.as_deref(), Some("x"));
        assert_eq!(info.args.as_deref(), Some(&["-v".to_owned()][..]));
        assert!(out[8].args.get("denied").is_some());
    }

    #[test]
    fn guest_calls_are_kept_as_a_native_run_traces_them() {
        let set = SyscallSet::default();
        let mut f = GuestFilter::new(&set);
        assert!(f.keeps(&sys(1, 2, "openat", 3)));
        assert!(f.keeps(&sys(1, 2, "execve", 0)));
        assert!(f.keeps(&sys(1, 2, "clone", 3)));
        assert!(!f.keeps(&sys(1, 2, "brk", 0)));
        assert!(!f.keeps(&sys(1, 2, "cacheflush", 0)));
        let prot = |t: &str| {
            sys(1, 2, "mmap2", 0x1000).arg(
                "arg2",
                Value::Flags {
                    value: 0,
                    text: t.to_owned(),
                },
            )
        };
        assert!(!f.keeps(&prot("PROT_READ|PROT_WRITE")));
        assert!(f.keeps(&prot("PROT_READ|PROT_EXEC")));
        assert!(f.keeps(&sys(1, 2, "brk", -1).arg("denied", Value::Str("brk".into()))));
        let all = SyscallSet::all();
        assert!(GuestFilter::new(&all).keeps(&sys(1, 2, "cacheflush", 0)));
    }

    #[test]
    fn children_seen_before_their_fork_event_are_held() {
        let host = vec![
            sys(5, 7, "openat", 3),
            Event::syscall(0, 6, 2, 2, "procfork")
                .arg("child", Value::Int(7))
                .arg("kind", Value::Str("fork".into())),
        ];
        let out = merge(host, Vec::new(), 2);
        let seq: Vec<&str> = out.iter().map(|e| &*e.ty).collect();
        assert_eq!(seq, vec!["procfork", "openat"]);
    }
}
