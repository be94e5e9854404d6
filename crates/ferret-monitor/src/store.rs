//! The SQLite store: osquery-like tables (`process_events`, `socket_events`,
//! `file_events`, plus `alerts`) written in batches by a writer thread, and read-only SQL
//! queries over a stored session.

use std::io::{self, Write};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread::JoinHandle;

use crossbeam_channel::{Sender, TrySendError, bounded};
use ferret_event::{Event, SockAddr, Source, Value, View};
use ferret_filter::Filter;
use rusqlite::types::ValueRef;
use rusqlite::{Connection, OpenFlags, params};

use crate::bus::Subscriber;

/// Rows per batch (one transaction each).
pub const BATCH_ROWS: usize = 512;
/// Batches queued to the writer before new ones are dropped.
pub const QUEUED_BATCHES: usize = 16;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS process_events (
  id INTEGER PRIMARY KEY, time INTEGER NOT NULL, ts_ns INTEGER NOT NULL, action TEXT NOT NULL,
  pid INTEGER, ppid INTEGER, uid INTEGER, gid INTEGER, auid INTEGER, path TEXT, name TEXT,
  cmdline TEXT, cwd TEXT, exit_status INTEGER, missing TEXT);
CREATE TABLE IF NOT EXISTS socket_events (
  id INTEGER PRIMARY KEY, time INTEGER NOT NULL, ts_ns INTEGER NOT NULL, action TEXT NOT NULL,
  pid INTEGER, name TEXT, path TEXT, fd INTEGER, family TEXT, protocol TEXT,
  local_address TEXT, local_port INTEGER, remote_address TEXT, remote_port INTEGER,
  success INTEGER, ret INTEGER);
CREATE TABLE IF NOT EXISTS file_events (
  id INTEGER PRIMARY KEY, time INTEGER NOT NULL, ts_ns INTEGER NOT NULL, action TEXT NOT NULL,
  pid INTEGER, name TEXT, target_path TEXT, old_path TEXT, mode INTEGER, is_dir INTEGER);
CREATE TABLE IF NOT EXISTS alerts (
  id INTEGER PRIMARY KEY, time INTEGER NOT NULL, ts_ns INTEGER NOT NULL, rule TEXT NOT NULL,
  priority TEXT, pid INTEGER, output TEXT, tags TEXT);
";

/// One row to store.
#[derive(Debug, Clone)]
pub enum Row {
    /// `process_events`.
    Process {
        /// ns since the epoch.
        ts: u64,
        /// fork, exec, exit, rename.
        action: &'static str,
        /// Process id.
        pid: i64,
        /// Parent.
        ppid: Option<i64>,
        /// Real uid.
        uid: Option<u32>,
        /// Real gid.
        gid: Option<u32>,
        /// Login uid.
        auid: Option<u32>,
        /// Executable path.
        path: String,
        /// Name (comm).
        name: String,
        /// Full command line (argv joined).
        cmdline: String,
        /// Working directory.
        cwd: String,
        /// Wait status (exit).
        exit_status: Option<i64>,
        /// What /proc no longer had (connector execs).
        missing: Option<String>,
    },
    /// `socket_events`.
    Socket {
        /// ns since the epoch.
        ts: u64,
        /// connect, bind, accept, socket.
        action: &'static str,
        /// Process id.
        pid: i64,
        /// Process name.
        name: String,
        /// Executable path.
        path: String,
        /// Descriptor (listener for accept).
        fd: Option<i64>,
        /// inet, inet6, unix...
        family: String,
        /// tcp, udp, raw...
        protocol: String,
        /// Local endpoint.
        local: Option<SockAddr>,
        /// Remote endpoint.
        remote: Option<SockAddr>,
        /// Whether the call succeeded (EINPROGRESS counts for connect).
        success: bool,
        /// Return value.
        ret: Option<i64>,
    },
    /// `file_events`.
    File {
        /// ns since the epoch.
        ts: u64,
        /// create, modify, delete, rename, attrib, open, moved_from, moved_to.
        action: String,
        /// Process id (0 when unknown: inotify).
        pid: i64,
        /// Process name when known.
        name: String,
        /// Path.
        target: String,
        /// Old path of a rename.
        old: Option<String>,
        /// Mode after an attribute change.
        mode: Option<u32>,
        /// Whether the object is a directory.
        is_dir: bool,
    },
    /// `alerts`.
    Alert {
        /// ns since the epoch.
        ts: u64,
        /// Rule name.
        rule: String,
        /// Priority.
        priority: String,
        /// Process id.
        pid: i64,
        /// Rendered output.
        output: String,
        /// Tags, comma-separated.
        tags: String,
    },
}

fn family_text(a: Option<&SockAddr>) -> String {
    use ferret_event::Family;
    match a.map(|a| a.family) {
        Some(Family::Inet) => "inet",
        Some(Family::Inet6) => "inet6",
        Some(Family::Unix) => "unix",
        Some(Family::Netlink) => "netlink",
        Some(Family::Packet) => "packet",
        Some(Family::Other) => "other",
        None => "",
    }
    .to_owned()
}

/// The store row of an event, if it belongs to one of the tables.
pub fn row_of(ev: &Event, view: View<'_>) -> Option<Row> {
    let proc = view.proc;
    let pname = || proc.map(|p| p.name.clone()).unwrap_or_default();
    let ppath = || proc.map(|p| p.exepath.clone()).unwrap_or_default();
    match ev.source {
        Source::Filewatch => {
            let path = match ev.args.get("path") {
                Some(Value::Path(p)) => p.clone(),
                _ => return None,
            };
            let old = match ev.args.get("oldpath") {
                Some(Value::Path(p)) => Some(p.clone()),
                _ => None,
            };
            let mode = ev
                .args
                .get("mode")
                .and_then(Value::as_i64)
                .and_then(|m| u32::try_from(m).ok());
            let is_dir = ev
                .args
                .get("mask")
                .and_then(Value::as_str)
                .is_some_and(|t| t.contains("IN_ISDIR"));
            Some(Row::File {
                ts: ev.ts,
                action: ev.ty.to_string(),
                pid: ev.pid,
                name: if ev.pid > 0 { pname() } else { String::new() },
                target: path,
                old,
                mode,
                is_dir,
            })
        }
        Source::Syscall => {
            let ok = ev.ret.is_none_or(|r| r >= 0);
            match &*ev.ty {
                "execve" | "execveat" if ev.ret == Some(0) => {
                    let p = proc?;
                    let mut cmdline = p.exe.clone();
                    if !p.args_joined.is_empty() {
                        cmdline.push(' ');
                        cmdline.push_str(&p.args_joined);
                    }
                    Some(Row::Process {
                        ts: ev.ts,
                        action: "exec",
                        pid: ev.pid,
                        ppid: Some(p.ppid),
                        uid: (p.uid != u32::MAX).then_some(p.uid),
                        gid: (p.gid != u32::MAX).then_some(p.gid),
                        auid: (p.loginuid != u32::MAX).then_some(p.loginuid),
                        path: p.exepath.clone(),
                        name: p.name.clone(),
                        cmdline,
                        cwd: p.cwd.clone(),
                        exit_status: None,
                        missing: ev
                            .args
                            .get("missing")
                            .and_then(Value::as_str)
                            .map(str::to_owned),
                    })
                }
                "clone" | "fork" | "vfork" => {
                    let child = ev.ret.filter(|r| *r > 0)?;
                    Some(Row::Process {
                        ts: ev.ts,
                        action: "fork",
                        pid: child,
                        ppid: Some(ev.pid),
                        uid: proc.and_then(|p| (p.uid != u32::MAX).then_some(p.uid)),
                        gid: proc.and_then(|p| (p.gid != u32::MAX).then_some(p.gid)),
                        auid: None,
                        path: ppath(),
                        name: pname(),
                        cmdline: String::new(),
                        cwd: proc.map(|p| p.cwd.clone()).unwrap_or_default(),
                        exit_status: None,
                        missing: None,
                    })
                }
                "procexit" => Some(Row::Process {
                    ts: ev.ts,
                    action: "exit",
                    pid: ev.pid,
                    ppid: proc.map(|p| p.ppid),
                    uid: None,
                    gid: None,
                    auid: None,
                    path: ppath(),
                    name: pname(),
                    cmdline: String::new(),
                    cwd: String::new(),
                    exit_status: ev.args.get("status").and_then(Value::as_i64),
                    missing: None,
                }),
                "prctl" if ok => Some(Row::Process {
                    ts: ev.ts,
                    action: "rename",
                    pid: ev.pid,
                    ppid: proc.map(|p| p.ppid),
                    uid: None,
                    gid: None,
                    auid: None,
                    path: ppath(),
                    name: ev
                        .args
                        .get("name")
                        .and_then(Value::as_str)
                        .map_or_else(pname, str::to_owned),
                    cmdline: String::new(),
                    cwd: String::new(),
                    exit_status: None,
                    missing: None,
                }),
                "connect" | "bind" | "accept" | "accept4" | "socket" => {
                    let action = match &*ev.ty {
                        "connect" => "connect",
                        "bind" => "bind",
                        "socket" => "socket",
                        _ => "accept",
                    };
                    let addr = match ev.args.get("addr") {
                        Some(Value::Sockaddr(a)) => Some(a.clone()),
                        _ => None,
                    };
                    let sock = view.fd.and_then(|f| f.info.sock.as_ref());
                    let (local, remote) = match action {
                        "bind" => (addr, None),
                        "connect" => (sock.and_then(|s| s.local.clone()), addr),
                        "accept" => (sock.and_then(|s| s.local.clone()), addr),
                        _ => (None, None),
                    };
                    let family = match (&local, &remote) {
                        (Some(a), _) | (None, Some(a)) => family_text(Some(a)),
                        _ => view
                            .fd
                            .map(|f| f.info.kind.type_name().to_owned())
                            .unwrap_or_default(),
                    };
                    Some(Row::Socket {
                        ts: ev.ts,
                        action,
                        pid: ev.pid,
                        name: pname(),
                        path: ppath(),
                        fd: ev
                            .args
                            .get("fd")
                            .and_then(Value::as_i64)
                            .or(if action == "socket" { ev.ret } else { None }),
                        family,
                        protocol: sock.map(|s| s.l4.name().to_owned()).unwrap_or_default(),
                        local,
                        remote,
                        success: ok || ev.errno() == Some(115),
                        ret: ev.ret,
                    })
                }
                _ => None,
            }
        }
        _ => None,
    }
}

/// A handle to the writer thread, shared by the store subscriber and the rules subscriber.
#[derive(Debug, Clone)]
pub struct StoreHandle {
    tx: Sender<Vec<Row>>,
    /// Rows dropped because the writer lagged.
    pub dropped_rows: Arc<AtomicU64>,
    /// Rows written.
    pub written_rows: Arc<AtomicU64>,
}

impl StoreHandle {
    /// Queues a batch; drops (and counts) it when the writer is behind.
    pub fn send(&self, rows: Vec<Row>) {
        let n = rows.len() as u64;
        match self.tx.try_send(rows) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => {
                self.dropped_rows.fetch_add(n, Ordering::Relaxed);
            }
        }
    }
}

/// Opens (creating) the store and starts its writer thread.
pub fn open(path: &Path) -> io::Result<(StoreHandle, JoinHandle<io::Result<()>>)> {
    let conn = Connection::open(path)
        .map_err(|e| io::Error::other(format!("cannot open store {}: {e}", path.display())))?;
    conn.execute_batch("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;")
        .and_then(|()| conn.execute_batch(SCHEMA))
        .map_err(|e| io::Error::other(format!("store {}: {e}", path.display())))?;
    let (tx, rx) = bounded::<Vec<Row>>(QUEUED_BATCHES);
    let handle = StoreHandle {
        tx,
        dropped_rows: Arc::new(AtomicU64::new(0)),
        written_rows: Arc::new(AtomicU64::new(0)),
    };
    let written = Arc::clone(&handle.written_rows);
    let join = std::thread::Builder::new()
        .name("ferret-store".into())
        .spawn(move || {
            let mut conn = conn;
            for batch in rx {
                write_batch(&mut conn, &batch).map_err(io::Error::other)?;
                written.fetch_add(batch.len() as u64, Ordering::Relaxed);
            }
            Ok(())
        })?;
    Ok((handle, join))
}

fn secs(ts: u64) -> i64 {
    i64::try_from(ts / 1_000_000_000).unwrap_or(i64::MAX)
}

fn ns(ts: u64) -> i64 {
    i64::try_from(ts).unwrap_or(i64::MAX)
}

fn ip_text(a: Option<&SockAddr>) -> Option<String> {
    let a = a?;
    match (a.ip, &a.path) {
        (Some(ip), _) => Some(ip.to_string()),
        (None, Some(p)) => Some(p.clone()),
        _ => None,
    }
}

fn write_batch(conn: &mut Connection, rows: &[Row]) -> rusqlite::Result<()> {
    let tx = conn.transaction()?;
    {
        let mut pst = tx.prepare_cached(
            "INSERT INTO process_events (time, ts_ns, action, pid, ppid, uid, gid, auid, path, name, cmdline, cwd, exit_status, missing) VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14)",
        )?;
        let mut sst = tx.prepare_cached(
            "INSERT INTO socket_events (time, ts_ns, action, pid, name, path, fd, family, protocol, local_address, local_port, remote_address, remote_port, success, ret) VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14,?15)",
        )?;
        let mut fst = tx.prepare_cached(
            "INSERT INTO file_events (time, ts_ns, action, pid, name, target_path, old_path, mode, is_dir) VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9)",
        )?;
        let mut ast = tx.prepare_cached(
            "INSERT INTO alerts (time, ts_ns, rule, priority, pid, output, tags) VALUES (?1,?2,?3,?4,?5,?6,?7)",
        )?;
        for r in rows {
            match r {
                Row::Process {
                    ts,
                    action,
                    pid,
                    ppid,
                    uid,
                    gid,
                    auid,
                    path,
                    name,
                    cmdline,
                    cwd,
                    exit_status,
                    missing,
                } => {
                    pst.execute(params![
                        secs(*ts),
                        ns(*ts),
                        action,
                        pid,
                        ppid,
                        uid,
                        gid,
                        auid,
                        path,
                        name,
                        cmdline,
                        cwd,
                        exit_status,
                        missing
                    ])?;
                }
                Row::Socket {
                    ts,
                    action,
                    pid,
                    name,
                    path,
                    fd,
                    family,
                    protocol,
                    local,
                    remote,
                    success,
                    ret,
                } => {
                    sst.execute(params![
                        secs(*ts),
                        ns(*ts),
                        action,
                        pid,
                        name,
                        path,
                        fd,
                        family,
                        protocol,
                        ip_text(local.as_ref()),
                        local.as_ref().and_then(|a| a.port),
                        ip_text(remote.as_ref()),
                        remote.as_ref().and_then(|a| a.port),
                        success,
                        ret
                    ])?;
                }
                Row::File {
                    ts,
                    action,
                    pid,
                    name,
                    target,
                    old,
                    mode,
                    is_dir,
                } => {
                    fst.execute(params![
                        secs(*ts),
                        ns(*ts),
                        action,
                        pid,
                        name,
                        target,
                        old,
                        mode,
                        is_dir
                    ])?;
                }
                Row::Alert {
                    ts,
                    rule,
                    priority,
                    pid,
                    output,
                    tags,
                } => {
                    ast.execute(params![
                        secs(*ts),
                        ns(*ts),
                        rule,
                        priority,
                        pid,
                        output,
                        tags
                    ])?;
                }
            }
        }
    }
    tx.commit()
}

/// The store subscriber: turns events into rows and hands batches to the writer.
#[derive(Debug)]
pub struct StoreSub {
    handle: StoreHandle,
    batch: Vec<Row>,
    filter: Option<Filter>,
}

impl StoreSub {
    /// A subscriber storing the events `filter` (if any) accepts.
    pub fn new(handle: StoreHandle, filter: Option<Filter>) -> Self {
        StoreSub {
            handle,
            batch: Vec::with_capacity(BATCH_ROWS),
            filter,
        }
    }
}

impl Subscriber for StoreSub {
    fn name(&self) -> &str {
        "store"
    }
    fn event(&mut self, ev: &Event, view: View<'_>) -> io::Result<()> {
        if self.filter.as_ref().is_some_and(|f| !f.matches(ev, view)) {
            return Ok(());
        }
        if let Some(r) = row_of(ev, view) {
            self.batch.push(r);
            if self.batch.len() >= BATCH_ROWS {
                self.handle.send(std::mem::replace(
                    &mut self.batch,
                    Vec::with_capacity(BATCH_ROWS),
                ));
            }
        }
        Ok(())
    }
    fn tick(&mut self) -> io::Result<()> {
        if !self.batch.is_empty() {
            self.handle.send(std::mem::take(&mut self.batch));
        }
        Ok(())
    }
    fn finish(&mut self) -> io::Result<()> {
        self.tick()
    }
    fn summary(&self) -> String {
        format!(
            "store: rows_written={} rows_dropped={}",
            self.handle.written_rows.load(Ordering::Relaxed),
            self.handle.dropped_rows.load(Ordering::Relaxed)
        )
    }
}

/// Output format of [`query`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueryFormat {
    /// An aligned text table with a header.
    Table,
    /// One JSON object per row.
    Json,
}

/// Runs `sql` over the store read-only and prints the result; returns the row count.
pub fn query(path: &Path, sql: &str, fmt: QueryFormat, out: &mut dyn Write) -> io::Result<usize> {
    if !path.exists() {
        return Err(io::Error::new(
            io::ErrorKind::NotFound,
            format!("no store at {}", path.display()),
        ));
    }
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| io::Error::other(format!("cannot open store {}: {e}", path.display())))?;
    let mut st = conn
        .prepare(sql)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, format!("SQL: {e}")))?;
    if !st.readonly() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "only read-only statements (SELECT, WITH ... SELECT, PRAGMA reads) are allowed",
        ));
    }
    let cols: Vec<String> = st.column_names().map(str::to_owned).collect();
    let mut rows = st
        .query([])
        .map_err(|e| io::Error::other(format!("SQL: {e}")))?;
    let mut table: Vec<Vec<String>> = Vec::new();
    let mut n = 0usize;
    while let Some(r) = rows
        .next()
        .map_err(|e| io::Error::other(format!("SQL: {e}")))?
    {
        n += 1;
        match fmt {
            QueryFormat::Json => {
                let mut obj = serde_json::Map::new();
                for (i, c) in cols.iter().enumerate() {
                    let v = match r.get_ref(i).map_err(io::Error::other)? {
                        ValueRef::Null => serde_json::Value::Null,
                        ValueRef::Integer(x) => serde_json::Value::from(x),
                        ValueRef::Real(x) => serde_json::Value::from(x),
                        ValueRef::Text(t) => {
                            serde_json::Value::String(String::from_utf8_lossy(t).into_owned())
                        }
                        ValueRef::Blob(b) => serde_json::Value::String(
                            b.iter().map(|x| format!("{x:02x}")).collect(),
                        ),
                    };
                    obj.insert(c.clone(), v);
                }
                serde_json::to_writer(&mut *out, &obj).map_err(io::Error::other)?;
                out.write_all(b"\n")?;
            }
            QueryFormat::Table => {
                let mut row = Vec::with_capacity(cols.len());
                for i in 0..cols.len() {
                    row.push(match r.get_ref(i).map_err(io::Error::other)? {
                        ValueRef::Null => String::new(),
                        ValueRef::Integer(x) => x.to_string(),
                        ValueRef::Real(x) => x.to_string(),
                        ValueRef::Text(t) => String::from_utf8_lossy(t).into_owned(),
                        ValueRef::Blob(b) => b.iter().map(|x| format!("{x:02x}")).collect(),
                    });
                }
                table.push(row);
            }
        }
    }
    if fmt == QueryFormat::Table {
        let mut w: Vec<usize> = cols.iter().map(|c| c.chars().count()).collect();
        for r in &table {
            for (i, c) in r.iter().enumerate() {
                if let Some(x) = w.get_mut(i) {
                    *x = (*x).max(c.chars().count());
                }
            }
        }
        let line = |out: &mut dyn Write, cells: &[String]| -> io::Result<()> {
            let mut s = String::new();
            for (i, c) in cells.iter().enumerate() {
                if i > 0 {
                    s.push_str(" | ");
                }
                s.push_str(c);
                let pad = w
                    .get(i)
                    .copied()
                    .unwrap_or(0)
                    .saturating_sub(c.chars().count());
                if i + 1 < cells.len() {
                    s.extend(std::iter::repeat_n(' ', pad));
                }
            }
            writeln!(out, "{s}")
        };
        line(out, &cols)?;
        let sep: Vec<String> = w.iter().map(|n| "-".repeat(*n)).collect();
        writeln!(out, "{}", sep.join("-+-"))?;
        for r in &table {
            line(out, r)?;
        }
    }
    Ok(n)
}
