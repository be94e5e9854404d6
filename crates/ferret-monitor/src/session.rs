//! Audit configuration changes and their restoration.
//!
//! Before ferret changes anything it writes a state file (`STATE_DIR/PID.json`) naming
//! what it found (enabled flag, backlog limit and wait time, audit daemon pid) and every
//! rule it will add. On exit, SIGINT and SIGTERM [`AuditSession::restore`] deletes the rules
//! and puts the settings back, then removes the file. After a crash (SIGKILL, power cut of
//! the process) the next `ferret monitor` finds the file of a dead process and restores it
//! ([`restore_stale`]) before starting.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::audit::{AuditSocket, AuditStatus, RuleSpec, monitor_rules};
use crate::procfs;

/// Backlog limit ferret sets while it owns audit (records queued in the kernel).
pub const BACKLOG_LIMIT: u32 = 8192;

/// Where state files go: `$FERRET_STATE_DIR`, else `/var/lib/ferret/monitor`.
pub fn state_dir() -> PathBuf {
    std::env::var_os("FERRET_STATE_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/var/lib/ferret/monitor"))
}

/// What one monitor changed (the state file's content).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Saved {
    /// Pid of the monitor.
    pub pid: i64,
    /// Its start time (clock ticks since boot), to tell it from a later process with its pid.
    pub start_time: u64,
    /// Boot id; a file from another boot needs no restoring (the kernel forgot everything).
    pub boot_id: String,
    /// The status found before any change.
    pub original: AuditStatus,
    /// Whether ferret registered itself as the audit daemon.
    pub became_daemon: bool,
    /// Whether ferret changed the enabled flag.
    pub changed_enabled: bool,
    /// Whether ferret changed the backlog limit and wait time.
    pub changed_backlog: bool,
    /// Rules ferret added (or was about to add).
    pub rules: Vec<RuleSpec>,
}

fn write_atomic(path: &Path, saved: &Saved) -> io::Result<()> {
    let tmp = path.with_extension("tmp");
    {
        let mut f = fs::File::create(&tmp)?;
        f.write_all(&serde_json::to_vec_pretty(saved).map_err(io::Error::other)?)?;
        f.sync_all()?;
    }
    fs::rename(&tmp, path)
}

/// How the monitor reads audit records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// ferret is the audit daemon (records are sent to its socket).
    Daemon,
    /// Another daemon owns audit; ferret reads the read-only multicast group.
    Shared,
}

/// Why audit is not used.
#[derive(Debug)]
pub enum AuditUnavailable {
    /// Another live process is the audit daemon and sharing was not asked for.
    Owned(u32),
    /// Audit is locked (`enabled 2`): rules cannot change.
    Locked,
    /// A system error (no permission, no audit in the kernel...).
    Io(io::Error),
}

impl std::fmt::Display for AuditUnavailable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AuditUnavailable::Owned(pid) => write!(
                f,
                "audit is owned by another daemon (pid {pid}); pass --share-audit to read it alongside"
            ),
            AuditUnavailable::Locked => {
                f.write_str("audit configuration is locked (enabled 2); rules cannot be added")
            }
            AuditUnavailable::Io(e) => write!(f, "audit netlink: {e}"),
        }
    }
}

impl From<io::Error> for AuditUnavailable {
    fn from(e: io::Error) -> Self {
        AuditUnavailable::Io(e)
    }
}

fn alive(pid: u32) -> bool {
    pid != 0 && Path::new(&format!("/proc/{pid}")).exists()
}

/// ferret's audit configuration while monitoring.
#[derive(Debug)]
pub struct AuditSession {
    ctl: AuditSocket,
    saved: Saved,
    path: PathBuf,
    done: bool,
    /// How records are read.
    pub mode: Mode,
    /// Warnings while setting up (rules the kernel refused...).
    pub warnings: Vec<String>,
}

impl AuditSession {
    /// Checks who owns audit, writes the state file, then registers `reader` (or joins the
    /// multicast group), enables audit, bounds the backlog without waits, and adds the
    /// rules. Returns the session and the socket records arrive on.
    pub fn start(share: bool) -> Result<(AuditSession, AuditSocket), AuditUnavailable> {
        let mut ctl = AuditSocket::open()?;
        let st = ctl.status()?;
        if st.enabled == 2 {
            return Err(AuditUnavailable::Locked);
        }
        let me = std::process::id();
        let owned = st.pid != 0 && st.pid != me && alive(st.pid);
        if owned && !share {
            return Err(AuditUnavailable::Owned(st.pid));
        }
        let mode = if owned { Mode::Shared } else { Mode::Daemon };
        let dir = state_dir();
        fs::create_dir_all(&dir)?;
        let pid = i64::from(me);
        let saved = Saved {
            pid,
            start_time: procfs::start_time(pid).unwrap_or(0),
            boot_id: procfs::boot_id(),
            original: st,
            became_daemon: mode == Mode::Daemon,
            changed_enabled: st.enabled == 0,
            changed_backlog: mode == Mode::Daemon,
            rules: monitor_rules(&format!("ferret-monitor/{me}")),
        };
        let path = dir.join(format!("{me}.json"));
        write_atomic(&path, &saved)?;
        let mut session = AuditSession {
            ctl,
            saved,
            path,
            done: false,
            mode,
            warnings: Vec::new(),
        };
        let reader = match session.apply() {
            Ok(r) => r,
            Err(e) => {
                let _ = session.restore();
                return Err(e.into());
            }
        };
        Ok((session, reader))
    }

    fn apply(&mut self) -> io::Result<AuditSocket> {
        let reader = match self.mode {
            Mode::Daemon => {
                let mut r = AuditSocket::open()?;
                r.set_pid(std::process::id())?;
                r
            }
            Mode::Shared => AuditSocket::open_multicast()?,
        };
        // Records come in bursts (an exec is about seven); a large socket buffer absorbs
        // them while the reader parses.
        let _ = reader.set_rcvbuf(16 << 20);
        if self.saved.changed_backlog {
            // A full backlog must drop (and count) records, never stall the audited
            // processes: wait time 0.
            let limit = self.saved.original.backlog_limit.max(BACKLOG_LIMIT);
            self.ctl.set_backlog(limit, 0)?;
        }
        if self.saved.changed_enabled {
            self.ctl.set_enabled(1)?;
        }
        let mut added = Vec::new();
        for r in &self.saved.rules {
            match self.ctl.add_rule(r) {
                Ok(()) => added.push(r.clone()),
                Err(e) => self.warnings.push(format!(
                    "audit rule for arch {:#x} syscalls {:?} refused: {e}",
                    r.arch, r.syscalls
                )),
            }
        }
        if added.is_empty() {
            return Err(io::Error::other("the kernel refused every audit rule"));
        }
        self.saved.rules = added;
        write_atomic(&self.path, &self.saved)?;
        Ok(reader)
    }

    /// The status found at start.
    pub fn original(&self) -> AuditStatus {
        self.saved.original
    }

    /// Current kernel status (for the lost counter).
    pub fn status(&mut self) -> io::Result<AuditStatus> {
        self.ctl.status()
    }

    /// Deletes ferret's rules, restores the settings, removes the state file. Idempotent.
    pub fn restore(&mut self) -> io::Result<()> {
        if self.done {
            return Ok(());
        }
        let r = undo(&mut self.ctl, &self.saved);
        self.done = true;
        if r.is_ok() {
            let _ = fs::remove_file(&self.path);
        }
        r
    }
}

impl Drop for AuditSession {
    fn drop(&mut self) {
        let _ = self.restore();
    }
}

fn undo(ctl: &mut AuditSocket, saved: &Saved) -> io::Result<()> {
    let mut first_err = None;
    for r in &saved.rules {
        match ctl.del_rule(r) {
            Ok(()) => {}
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {}
            Err(e) => {
                first_err.get_or_insert(e);
            }
        }
    }
    let now = ctl.status()?;
    let me = u32::try_from(saved.pid).unwrap_or(0);
    // Only touch the settings while nobody else has taken over audit since: no daemon,
    // ferret, a dead one, or the daemon that owned audit when ferret started (shared mode).
    let nobody_else = now.pid == 0
        || now.pid == me
        || !alive(now.pid)
        || (now.pid == saved.original.pid && !saved.became_daemon);
    if saved.became_daemon
        && (now.pid == me || (now.pid != 0 && !alive(now.pid)))
        && let Err(e) = ctl.set_pid(0)
    {
        first_err.get_or_insert(e);
    }
    if nobody_else {
        if saved.changed_backlog
            && let Err(e) = ctl.set_backlog(
                saved.original.backlog_limit,
                saved.original.backlog_wait_time,
            )
        {
            first_err.get_or_insert(e);
        }
        if saved.changed_enabled
            && now.enabled != saved.original.enabled
            && let Err(e) = ctl.set_enabled(saved.original.enabled)
        {
            first_err.get_or_insert(e);
        }
    }
    match first_err {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// Restores what monitors that died without cleaning up changed (state files of processes
/// that no longer exist). Returns one line per restored file.
pub fn restore_stale() -> io::Result<Vec<String>> {
    let dir = state_dir();
    let Ok(rd) = fs::read_dir(&dir) else {
        return Ok(Vec::new());
    };
    let boot = procfs::boot_id();
    let mut done = Vec::new();
    let mut ctl: Option<AuditSocket> = None;
    for e in rd.flatten() {
        let path = e.path();
        if path.extension().and_then(|x| x.to_str()) != Some("json") {
            continue;
        }
        let Ok(text) = fs::read(&path) else { continue };
        let saved: Saved = match serde_json::from_slice(&text) {
            Ok(s) => s,
            Err(err) => {
                done.push(format!(
                    "ignoring unreadable state file {}: {err}",
                    path.display()
                ));
                continue;
            }
        };
        let running = procfs::start_time(saved.pid).is_some_and(|t| t == saved.start_time);
        if running && saved.pid != i64::from(std::process::id()) {
            continue;
        }
        if saved.boot_id != boot {
            let _ = fs::remove_file(&path);
            continue;
        }
        let c = match &mut ctl {
            Some(c) => c,
            None => ctl.insert(AuditSocket::open()?),
        };
        undo(c, &saved)?;
        fs::remove_file(&path)?;
        done.push(format!(
            "restored the audit configuration left by ferret monitor pid {} ({} rules, enabled {})",
            saved.pid,
            saved.rules.len(),
            saved.original.enabled
        ));
    }
    Ok(done)
}
