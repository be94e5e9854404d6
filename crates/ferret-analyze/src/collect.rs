//! Event processing: numbers events, writes them to events.jsonl, feeds the rules (and
//! with them the process/fd state machine) and keeps the report's summaries.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use ferret_event::{Event, State, Value, normalize_path};
use ferret_rules::Analyzer;
use rustc_hash::FxHashMap;

use crate::report::{Endpoint, Files, NetworkSummary, PathUse, ProcExit, ProcessInfo, SocketUse};

/// Most processes listed; most paths per file list; most endpoints.
pub(crate) const MAX_PROCESSES: usize = 10_000;
const MAX_PATHS: usize = 10_000;
const MAX_ENDPOINTS: usize = 10_000;
const MAX_EXECS: usize = 16;

#[derive(Debug, Default)]
struct ProcRec {
    ppid: i64,
    execs: Vec<String>,
    exit: Option<ProcExit>,
    children: Vec<i64>,
    /// Architecture and runner of its program (from `procexec`, inherited over fork).
    arch: Option<String>,
    runner: Option<String>,
}

#[derive(Debug, Default, Clone, Copy)]
struct Use {
    count: u64,
    failed: u64,
}

#[derive(Debug, Default)]
struct PathList {
    map: FxHashMap<String, Use>,
    order: Vec<String>,
}

impl PathList {
    /// Records a use; false when the path is new and the list is full.
    fn add(&mut self, path: String, failed: bool) -> bool {
        if let Some(u) = self.map.get_mut(&path) {
            u.count += 1;
            u.failed += u64::from(failed);
            return true;
        }
        if self.order.len() >= MAX_PATHS {
            return false;
        }
        self.order.push(path.clone());
        self.map.insert(
            path,
            Use {
                count: 1,
                failed: u64::from(failed),
            },
        );
        true
    }

    fn into_vec(self) -> Vec<PathUse> {
        let PathList { map, order } = self;
        order
            .into_iter()
            .map(|p| {
                let u = map.get(&p).copied().unwrap_or_default();
                PathUse {
                    path: p,
                    count: u.count,
                    failed: u.failed,
                }
            })
            .collect()
    }
}

type EndpointKey = (&'static str, String, Option<String>, Option<u16>);

/// What the processing thread hands back.
#[derive(Debug)]
pub(crate) struct Collected {
    pub processes: Vec<ProcessInfo>,
    pub process_count: u64,
    pub files: Files,
    pub network: NetworkSummary,
    pub by_name: BTreeMap<String, u64>,
    pub syscalls_total: u64,
    pub syscalls_failed: u64,
    pub denied: u64,
    pub recorded: u64,
    pub dropped: u64,
    pub report: ferret_rules::Report,
    pub write_error: Option<String>,
}

/// The event processor (runs on its own thread).
pub(crate) struct Collector {
    analyzer: Analyzer<'static>,
    out: Option<BufWriter<File>>,
    line: String,
    next_num: u64,
    cap: u64,
    dropped: u64,
    counter: Arc<AtomicU64>,
    by_name: FxHashMap<Cow<'static, str>, u64>,
    syscalls_total: u64,
    syscalls_failed: u64,
    denied: u64,
    procs: FxHashMap<i64, ProcRec>,
    proc_order: Vec<i64>,
    process_count: u64,
    opened: PathList,
    written: PathList,
    deleted: PathList,
    paths_omitted: u64,
    endpoints: FxHashMap<EndpointKey, (Use, Option<String>)>,
    endpoint_order: Vec<EndpointKey>,
    sockets: FxHashMap<(String, String), u64>,
    endpoints_omitted: u64,
    write_error: Option<String>,
    /// Processes the state machine knows (root, and children whose parent's clone
    /// record was fed).
    known: rustc_hash::FxHashSet<i64>,
    /// Events of processes not yet known, held back in arrival order.
    held: FxHashMap<i64, Vec<Event>>,
    held_count: usize,
}

/// Events held back at most; past it they are released as they are.
const MAX_HELD: usize = 100_000;
const CLONE_THREAD: u64 = 0x0001_0000;

impl std::fmt::Debug for Collector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Collector")
            .field("next_num", &self.next_num)
            .field("dropped", &self.dropped)
            .finish_non_exhaustive()
    }
}

fn path_arg<'e>(ev: &'e Event, names: &[&str]) -> Option<&'e str> {
    names.iter().find_map(|n| match ev.args.get(n) {
        Some(Value::Path(s)) | Some(Value::Str(s)) => Some(s.as_str()),
        _ => None,
    })
}

fn flag_value(ev: &Event, name: &str) -> u64 {
    match ev.args.get(name) {
        Some(Value::Flags { value, .. }) | Some(Value::Uint(value)) => *value,
        Some(Value::Int(i)) => u64::try_from(*i).unwrap_or(0),
        _ => 0,
    }
}

fn flag_text(ev: &Event, name: &str) -> String {
    match ev.args.get(name) {
        Some(Value::Flags { text, value }) if text.is_empty() => value.to_string(),
        Some(Value::Flags { text, .. }) => text.clone(),
        Some(v) => v.as_i64().map(|i| i.to_string()).unwrap_or_default(),
        None => String::new(),
    }
}

/// Absolute path of `path` as `pid` named it, relative to `dirfd` (or the cwd).
fn resolve(state: &State, pid: i64, dirfd: Option<i64>, path: &str) -> String {
    if path.starts_with('/') {
        return normalize_path("/", path);
    }
    let proc = state.process(pid);
    let base = match dirfd {
        Some(fd) if fd != -100 => proc
            .and_then(|p| p.fds.get(&fd))
            .map(|f| f.name.as_str())
            .filter(|n| n.starts_with('/')),
        _ => proc.map(|p| p.cwd.as_str()).filter(|c| c.starts_with('/')),
    };
    normalize_path(base.unwrap_or("/"), path)
}

const O_ACCMODE: u64 = 0o3;
const O_CREAT: u64 = 0o100;
const O_TRUNC: u64 = 0o1000;

impl Collector {
    pub(crate) fn new(
        engine: &'static ferret_rules::Engine,
        out: File,
        cap: u64,
        counter: Arc<AtomicU64>,
    ) -> Self {
        Collector {
            analyzer: Analyzer::new(engine),
            out: Some(BufWriter::with_capacity(256 * 1024, out)),
            line: String::new(),
            next_num: 1,
            cap,
            dropped: 0,
            counter,
            by_name: FxHashMap::default(),
            syscalls_total: 0,
            syscalls_failed: 0,
            denied: 0,
            procs: FxHashMap::default(),
            proc_order: Vec::new(),
            process_count: 0,
            opened: PathList::default(),
            written: PathList::default(),
            deleted: PathList::default(),
            paths_omitted: 0,
            endpoints: FxHashMap::default(),
            endpoint_order: Vec::new(),
            sockets: FxHashMap::default(),
            endpoints_omitted: 0,
            write_error: None,
            known: rustc_hash::FxHashSet::default(),
            held: FxHashMap::default(),
            held_count: 0,
        }
    }

    /// Registers the sample's first process (its parent, the sandbox init, is not traced).
    pub(crate) fn add_root(&mut self, pid: i64) {
        self.known.insert(pid);
        self.add_process(pid, 0);
    }

    /// Takes one event in arrival order. The tracer reports a clone when the parent's
    /// call returns, and the child may run (even exec) before that: a child's events
    /// are held back until its parent's clone record, so that the state machine gives
    /// the child its parent's descriptors and attributes before it sees the child act.
    pub(crate) fn accept(&mut self, ev: Event) {
        if !self.known.contains(&ev.pid) {
            self.held_count += 1;
            self.held.entry(ev.pid).or_default().push(ev);
            if self.held_count > MAX_HELD {
                self.release_all();
            }
            return;
        }
        let child = match &*ev.ty {
            "clone" | "clone3" | "fork" | "vfork" => ev
                .ret
                .filter(|r| *r > 0 && flag_value(&ev, "flags") & CLONE_THREAD == 0),
            _ => None,
        };
        self.feed(ev);
        if let Some(child) = child {
            self.known.insert(child);
            self.release(child);
        }
    }

    /// Feeds the held events of `pid` (and, recursively, of the children they create).
    fn release(&mut self, pid: i64) {
        let Some(evs) = self.held.remove(&pid) else {
            return;
        };
        self.held_count -= evs.len();
        for ev in evs {
            self.accept(ev);
        }
    }

    /// Feeds everything held back (at the end, or when too much is held).
    fn release_all(&mut self) {
        let pids: Vec<i64> = self.held.keys().copied().collect();
        self.known.extend(pids.iter().copied());
        for pid in pids {
            self.release(pid);
        }
    }

    fn add_process(&mut self, pid: i64, ppid: i64) {
        if self.procs.contains_key(&pid) {
            // A late fork event for a process already seen through its own events.
            let inherited = self
                .procs
                .get(&ppid)
                .map(|p| (p.arch.clone(), p.runner.clone()));
            if let Some(p) = self.procs.get_mut(&pid)
                && p.ppid == 0
            {
                p.ppid = ppid;
                if p.arch.is_none()
                    && let Some((arch, runner)) = inherited
                {
                    (p.arch, p.runner) = (arch, runner);
                }
            }
        } else {
            self.process_count += 1;
            if self.proc_order.len() >= MAX_PROCESSES {
                return;
            }
            self.proc_order.push(pid);
            let (arch, runner) = self
                .procs
                .get(&ppid)
                .map(|p| (p.arch.clone(), p.runner.clone()))
                .unwrap_or_default();
            self.procs.insert(
                pid,
                ProcRec {
                    ppid,
                    arch,
                    runner,
                    ..ProcRec::default()
                },
            );
        }
        if ppid != 0
            && let Some(parent) = self.procs.get_mut(&ppid)
            && !parent.children.contains(&pid)
        {
            parent.children.push(pid);
        }
    }

    /// Numbers, writes and analyses one event (counted only, past the cap).
    fn feed(&mut self, mut ev: Event) {
        if self.next_num > self.cap {
            self.dropped += 1;
            return;
        }
        ev.num = self.next_num;
        self.next_num += 1;
        self.counter.store(ev.num, Ordering::Relaxed);
        if let Some(out) = self.out.as_mut() {
            self.line.clear();
            self.line.push_str(&ev.to_json_line());
            self.line.push('\n');
            if let Err(e) = out.write_all(self.line.as_bytes()) {
                self.write_error = Some(format!("writing events.jsonl: {e}"));
                self.out = None;
            }
        }
        self.analyzer.feed_with(&ev, |_| {});
        self.summarise(&ev);
    }

    /// Counts of events past the cap that never reached [`feed`](Self::feed) (the tracer's).
    pub(crate) fn add_dropped(&mut self, n: u64) {
        self.dropped += n;
    }

    fn summarise(&mut self, ev: &Event) {
        let ty: &str = &ev.ty;
        match ty {
            "procfork" => {
                let kind = ev.args.get("kind").and_then(Value::as_str).unwrap_or("");
                if kind != "thread"
                    && let Some(child) = ev.args.get("child").and_then(Value::as_i64)
                {
                    self.add_process(child, ev.pid);
                }
                return;
            }
            "procexec" => {
                if !self.procs.contains_key(&ev.pid) {
                    self.add_process(ev.pid, 0);
                }
                let exe = ev
                    .proc
                    .as_ref()
                    .and_then(|p| p.exepath.clone().or_else(|| p.exe.clone()))
                    .unwrap_or_default();
                let arch = ev.args.get("arch").and_then(Value::as_str);
                let runner = ev.args.get("runner").and_then(Value::as_str);
                if let Some(p) = self.procs.get_mut(&ev.pid) {
                    if p.execs.len() < MAX_EXECS {
                        p.execs.push(exe);
                    }
                    if let Some(a) = arch {
                        p.arch = Some(a.to_owned());
                        p.runner = Some(runner.unwrap_or("native").to_owned());
                    }
                }
                return;
            }
            "procexit" => {
                let exit = if let Some(code) = ev.args.get("status").and_then(Value::as_i64) {
                    ProcExit::Code { code }
                } else {
                    let sig = ev
                        .args
                        .get("sig")
                        .and_then(Value::as_str)
                        .unwrap_or("?")
                        .to_owned();
                    let core = ev.args.get("core").and_then(Value::as_i64).unwrap_or(0) != 0;
                    ProcExit::Signal { signal: sig, core }
                };
                if let Some(p) = self.procs.get_mut(&ev.pid) {
                    p.exit = Some(exit);
                }
                return;
            }
            "threadexit" | "signaldeliver" => return,
            _ => {}
        }
        self.syscalls_total += 1;
        let failed = ev.failed();
        self.syscalls_failed += u64::from(failed);
        if ev.args.get("denied").is_some() {
            self.denied += 1;
        }
        match self.by_name.get_mut(ty) {
            Some(n) => *n += 1,
            None => {
                self.by_name.insert(ev.ty.clone(), 1);
            }
        }
        if !self.procs.contains_key(&ev.pid) {
            self.add_process(ev.pid, 0);
        }
        let state = self.analyzer.state_mut();
        match ty {
            "open" | "openat" | "openat2" | "creat" => {
                let Some(raw) = path_arg(ev, &["name", "path", "filename", "pathname"]) else {
                    return;
                };
                let path = match ev.ret {
                    Some(fd) if fd >= 0 => state
                        .process(ev.pid)
                        .and_then(|p| p.fds.get(&fd))
                        .map(|f| f.name.clone())
                        .unwrap_or_else(|| {
                            resolve(
                                state,
                                ev.pid,
                                ev.args.get("dirfd").and_then(Value::as_i64),
                                raw,
                            )
                        }),
                    _ => resolve(
                        state,
                        ev.pid,
                        ev.args.get("dirfd").and_then(Value::as_i64),
                        raw,
                    ),
                };
                let flags = flag_value(ev, "flags");
                let writes =
                    ty == "creat" || flags & O_ACCMODE != 0 || flags & (O_CREAT | O_TRUNC) != 0;
                if writes && !self.written.add(path.clone(), failed) {
                    self.paths_omitted += 1;
                }
                if !self.opened.add(path, failed) {
                    self.paths_omitted += 1;
                }
            }
            "unlink" | "unlinkat" | "rmdir" => {
                if failed {
                    return;
                }
                if let Some(raw) = path_arg(ev, &["pathname", "path", "name"]) {
                    let path = resolve(
                        state,
                        ev.pid,
                        ev.args.get("dirfd").and_then(Value::as_i64),
                        raw,
                    );
                    if !self.deleted.add(path, false) {
                        self.paths_omitted += 1;
                    }
                }
            }
            "rename" | "renameat" | "renameat2" | "link" | "linkat" | "symlink" | "symlinkat"
            | "truncate" | "mknod" | "mknodat" => {
                let dirfd = ev
                    .args
                    .get("newdirfd")
                    .or_else(|| ev.args.get("dirfd"))
                    .and_then(Value::as_i64);
                if let Some(raw) =
                    path_arg(ev, &["newpath", "linkpath", "path", "pathname", "filename"])
                {
                    let path = resolve(state, ev.pid, dirfd, raw);
                    if !self.written.add(path, failed) {
                        self.paths_omitted += 1;
                    }
                }
                if !failed
                    && ty.starts_with("rename")
                    && let Some(raw) = path_arg(ev, &["oldpath"])
                {
                    let old = resolve(
                        state,
                        ev.pid,
                        ev.args.get("olddirfd").and_then(Value::as_i64),
                        raw,
                    );
                    if !self.deleted.add(old, false) {
                        self.paths_omitted += 1;
                    }
                }
            }
            "connect" | "sendto" | "sendmsg" | "bind" => {
                let Some(Value::Sockaddr(a)) = ev.args.get("addr") else {
                    return;
                };
                let syscall: &'static str = match ty {
                    "connect" => "connect",
                    "sendto" => "sendto",
                    "sendmsg" => "sendmsg",
                    _ => "bind",
                };
                let key: EndpointKey = (
                    syscall,
                    ferret_event::family_name(a.family).to_owned(),
                    a.ip.map(|ip| ip.to_string()).or_else(|| a.path.clone()),
                    a.port,
                );
                let err = ev
                    .errno()
                    .and_then(ferret_event::errno_name)
                    .map(str::to_owned);
                if let Some((u, last)) = self.endpoints.get_mut(&key) {
                    u.count += 1;
                    u.failed += u64::from(failed);
                    if err.is_some() {
                        *last = err;
                    }
                } else if self.endpoint_order.len() >= MAX_ENDPOINTS {
                    self.endpoints_omitted += 1;
                } else {
                    self.endpoint_order.push(key.clone());
                    self.endpoints.insert(
                        key,
                        (
                            Use {
                                count: 1,
                                failed: u64::from(failed),
                            },
                            err,
                        ),
                    );
                }
            }
            "socket" => {
                let key = (flag_text(ev, "domain"), flag_text(ev, "type"));
                if let Some(n) = self.sockets.get_mut(&key) {
                    *n += 1;
                } else if self.sockets.len() < MAX_ENDPOINTS {
                    self.sockets.insert(key, 1);
                }
            }
            _ => {}
        }
    }

    /// Flushes events.jsonl and returns the summaries.
    pub(crate) fn finish(mut self) -> Collected {
        self.release_all();
        if let Some(mut out) = self.out.take()
            && let Err(e) = out.flush()
        {
            self.write_error = Some(format!("writing events.jsonl: {e}"));
        }
        let report = self.analyzer.report();
        let state = self.analyzer.state_mut();
        let mut processes = Vec::with_capacity(self.proc_order.len());
        for pid in &self.proc_order {
            let Some(rec) = self.procs.remove(pid) else {
                continue;
            };
            let (exe, name, cmdline) = match state.process(*pid) {
                Some(p) => (
                    if p.exepath.is_empty() {
                        p.exe.clone()
                    } else {
                        p.exepath.clone()
                    },
                    p.name.clone(),
                    p.cmdline.clone(),
                ),
                None => Default::default(),
            };
            processes.push(ProcessInfo {
                pid: *pid,
                ppid: rec.ppid,
                exe,
                name,
                cmdline,
                execs: rec.execs,
                exit: rec.exit,
                children: rec.children,
                arch: rec.arch,
                runner: rec.runner,
            });
        }
        let mut connections = Vec::new();
        let mut binds = Vec::new();
        for key in self.endpoint_order {
            let Some((u, last)) = self.endpoints.remove(&key) else {
                continue;
            };
            let (syscall, family, address, port) = key;
            let e = Endpoint {
                syscall: syscall.to_owned(),
                family,
                address,
                port,
                count: u.count,
                failed: u.failed,
                last_error: last,
            };
            if syscall == "bind" {
                binds.push(e);
            } else {
                connections.push(e);
            }
        }
        let mut sockets: Vec<SocketUse> = self
            .sockets
            .into_iter()
            .map(|((domain, ty), count)| SocketUse { domain, ty, count })
            .collect();
        sockets.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.domain.cmp(&b.domain)));
        Collected {
            processes,
            process_count: self.process_count,
            files: Files {
                opened: self.opened.into_vec(),
                written: self.written.into_vec(),
                deleted: self.deleted.into_vec(),
                omitted: self.paths_omitted,
                dropped: Vec::new(),
                dropped_truncated: false,
            },
            network: NetworkSummary {
                connections,
                binds,
                sockets,
                omitted: self.endpoints_omitted,
            },
            by_name: self
                .by_name
                .into_iter()
                .map(|(k, v)| (k.into_owned(), v))
                .collect(),
            syscalls_total: self.syscalls_total,
            syscalls_failed: self.syscalls_failed,
            denied: self.denied,
            recorded: self.next_num - 1,
            dropped: self.dropped,
            report,
            write_error: self.write_error,
        }
    }
}
