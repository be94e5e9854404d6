//! The process/fd state of a live host, with a bounded process table.
//!
//! A host runs processes for ever, so the state machine of `ferret-event` would keep
//! exited processes (for ancestry) until its own, large, cap. The tracker keeps the set of
//! live processes and, when the table holds more than `max_procs` entries, rebuilds it from
//! the live ones (the ones /proc still lists), which bounds memory whatever the host does.

use std::borrow::Cow;

use ferret_event::{Event, Family, ProcInfo, Process, Source, State, Value, View};
use rustc_hash::FxHashSet;

/// Default cap of the process table.
pub const DEFAULT_MAX_PROCS: usize = 16_384;

/// State machine plus live-process bookkeeping.
#[derive(Debug)]
pub struct Tracker {
    state: State,
    live: FxHashSet<i64>,
    max_procs: usize,
    /// Times the table was rebuilt.
    pub rebuilds: u64,
    /// Socket entries seeded for descriptors created before monitoring started.
    pub seeded_sockets: u64,
}

impl Default for Tracker {
    fn default() -> Self {
        Tracker::new(DEFAULT_MAX_PROCS)
    }
}

fn info_of(p: &Process) -> ProcInfo {
    ProcInfo {
        ppid: Some(p.ppid),
        exe: Some(p.exe.clone()),
        exepath: Some(p.exepath.clone()),
        name: Some(p.name.clone()),
        args: Some(p.args.clone()),
        env: None,
        cwd: Some(p.cwd.clone()),
        uid: (p.uid != u32::MAX).then_some(p.uid),
        gid: (p.gid != u32::MAX).then_some(p.gid),
        loginuid: Some(p.loginuid),
        sid: Some(p.sid),
        pgid: Some(p.pgid),
        tty: Some(p.tty),
        start_ts: Some(p.start_ts),
    }
}

impl Tracker {
    /// A tracker keeping at most about `max_procs` processes.
    pub fn new(max_procs: usize) -> Self {
        Tracker {
            state: State::new(),
            live: FxHashSet::default(),
            max_procs: max_procs.max(64),
            rebuilds: 0,
            seeded_sockets: 0,
        }
    }

    /// Seeds a process already running when monitoring starts.
    pub fn seed(&mut self, pid: i64, info: &ProcInfo) {
        self.state.insert_process(pid, info);
        self.live.insert(pid);
    }

    /// Number of processes in the table.
    pub fn len(&self) -> usize {
        self.state.len()
    }

    /// Whether the table is empty.
    pub fn is_empty(&self) -> bool {
        self.state.is_empty()
    }

    /// Applies `ev` and returns its view.
    pub fn update(&mut self, ev: &Event) -> View<'_> {
        if ev.source == Source::Syscall {
            match &*ev.ty {
                "clone" | "fork" | "vfork" | "clone3" => {
                    if let Some(child) = ev.ret.filter(|r| *r > 0) {
                        self.live.insert(child);
                    }
                    self.live.insert(ev.pid);
                }
                "procexit" => {
                    self.live.remove(&ev.pid);
                }
                "connect" | "bind" | "accept" | "accept4" => self.seed_socket(ev),
                _ => {
                    self.live.insert(ev.pid);
                }
            }
        }
        if self.state.len() > self.max_procs {
            self.rebuild();
        }
        self.state.update(ev)
    }

    /// A socket used before monitoring started (or whose `socket` call was not reported)
    /// has no table entry: give it one from the address family, so that `fd.*` fields
    /// resolve. The transport is unknown; the state machine assumes a stream socket.
    fn seed_socket(&mut self, ev: &Event) {
        let Some(fd) = ev.args.get("fd").and_then(Value::as_i64) else {
            return;
        };
        if fd < 0 {
            return;
        }
        let known = self
            .state
            .process(ev.pid)
            .is_some_and(|p| p.fds.contains_key(&fd));
        if known {
            return;
        }
        let family = match ev.args.get("addr") {
            Some(Value::Sockaddr(a)) => a.family,
            _ => return,
        };
        let (value, text) = match family {
            Family::Inet => (2, "AF_INET"),
            Family::Inet6 => (10, "AF_INET6"),
            Family::Unix => (1, "AF_UNIX"),
            _ => return,
        };
        let seed = Event::syscall(0, ev.ts, ev.pid, ev.tid, Cow::Borrowed("socket"))
            .arg(
                "domain",
                Value::Flags {
                    value,
                    text: text.to_owned(),
                },
            )
            .ret(fd);
        self.state.update(&seed);
        self.seeded_sockets += 1;
    }

    fn rebuild(&mut self) {
        // Processes whose exit was lost stay in `live`: keep only those /proc still lists.
        self.live
            .retain(|pid| std::path::Path::new(&format!("/proc/{pid}")).exists());
        let mut fresh = State::new();
        for &pid in &self.live {
            if let Some(p) = self.state.process(pid) {
                fresh.insert_process(pid, &info_of(p));
            }
        }
        self.state = fresh;
        self.rebuilds += 1;
        // If even the live processes exceed the cap, grow it rather than rebuild per event.
        if self.state.len() > self.max_procs / 2 {
            self.max_procs = self.state.len() * 2;
        }
    }
}
