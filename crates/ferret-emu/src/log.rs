//! The host side of QEMU's syscall log: one FIFO per guest thread.
//!
//! Every QEMU thread opens `LOG_TEMPLATE` with its thread id in place of `%d`
//! (`-d tid`; the sandbox's ids: QEMU runs in the sandbox's pid namespace, and a
//! process's first thread has the pid), so each thread of each emulated program image
//! writes to its own FIFO. A forked QEMU inherits its parent's log descriptor; a tracer
//! that reopens it on the child's own FIFO before the child runs
//! (`ferret_trace::Redirect`, with [`StraceLog::log_fd_of`] and
//! [`StraceLog::add_task`]) keeps every process's pieces apart, which one shared
//! stream cannot: QEMU writes each call in several pieces, and the pieces of
//! concurrent processes interleave mid-call.
//!
//! A FIFO must exist before its QEMU opens it (the directory is read-only in the
//! sandbox, and QEMU gives up on a log it cannot open), so the caller creates one for
//! the first process before releasing it and one for every process and thread at its
//! creation. The
//! host holds both ends open while the process lives: QEMU never blocks opening it
//! and the reader sees no premature end of file; [`StraceLog::retire`] drops the
//! host's write end when the process is gone, and its FIFO is read to its end.

use std::collections::{HashMap, HashSet};
use std::ffi::CString;
use std::fs;
use std::io::{self, Read};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::SystemTime;

use crate::strace::{AttributedParser, Parsed};
use crate::{Error, LOG_DIR};

/// Raw log pieces: (receive time in ns since the epoch, bytes).
pub type Chunks = Vec<(u64, Vec<u8>)>;

/// What one FIFO carried: the log of one thread (a process's first thread: its
/// program images in turn, and any forked child that kept the inherited descriptor).
#[derive(Debug, Clone, Default)]
pub struct Stream {
    /// Creation order of the FIFO.
    pub writer: u64,
    /// Sandbox thread id the FIFO was made for (the pid for a first thread).
    pub pid: i32,
    /// What was read from it.
    pub chunks: Chunks,
}

static LOG_COUNTER: AtomicU64 = AtomicU64::new(0);

/// The per-process log FIFOs of one task and the thread that drains them.
#[derive(Debug)]
pub struct StraceLog {
    handle: LogHandle,
    reader: Option<JoinHandle<io::Result<Vec<Stream>>>>,
}

/// What other threads (a tracer's sink) need of a [`StraceLog`]: adding and retiring
/// processes' FIFOs while the log runs. Cheap to clone.
#[derive(Debug, Clone)]
pub struct LogHandle {
    host_dir: PathBuf,
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    stop: AtomicBool,
    /// Wakes the reader when a FIFO is added or the log ends.
    wake: OwnedFd,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    next: u64,
    /// The host's write end of the FIFO of each live task, by sandbox id.
    live: HashMap<i32, OwnedFd>,
    /// (device, inode) of every FIFO made.
    ids: HashSet<(u64, u64)>,
    /// Read ends not yet taken by the reader.
    added: Vec<(u64, i32, OwnedFd)>,
}

fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

fn cstring(p: &Path) -> Result<CString, Error> {
    CString::new(p.as_os_str().as_bytes())
        .map_err(|_| Error::Io(format!("{} contains a NUL byte", p.display())))
}

fn open_fd(c: &CString, p: &Path, flags: libc::c_int) -> Result<OwnedFd, Error> {
    // SAFETY: open with a valid NUL-terminated path; the result is checked.
    let fd = unsafe { libc::open(c.as_ptr(), flags | libc::O_CLOEXEC) };
    if fd < 0 {
        return Err(Error::Io(format!(
            "opening {}: {}",
            p.display(),
            io::Error::last_os_error()
        )));
    }
    // SAFETY: fd was just opened and is owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

impl StraceLog {
    /// Creates the log directory under `work_root` (the sandbox's work root: it is
    /// searchable by the sandbox's unprivileged root) and starts the reader.
    pub fn create(work_root: &Path) -> Result<StraceLog, Error> {
        let n = LOG_COUNTER.fetch_add(1, Ordering::Relaxed);
        let host_dir = work_root.join(format!("emu-log-{}-{n}", std::process::id()));
        fs::create_dir(&host_dir)
            .map_err(|e| Error::Io(format!("creating {}: {e}", host_dir.display())))?;
        fs::set_permissions(&host_dir, fs::Permissions::from_mode(0o755))
            .map_err(|e| Error::Io(format!("chmod {}: {e}", host_dir.display())))?;
        // SAFETY: eventfd with constant flags; the result is checked.
        let efd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) };
        if efd < 0 {
            let _ = fs::remove_dir_all(&host_dir);
            return Err(Error::Io(format!(
                "eventfd: {}",
                io::Error::last_os_error()
            )));
        }
        // SAFETY: efd was just created and is owned by nobody else.
        let wake = unsafe { OwnedFd::from_raw_fd(efd) };
        let shared = Arc::new(Shared {
            stop: AtomicBool::new(false),
            wake,
            state: Mutex::new(State::default()),
        });
        let s = Arc::clone(&shared);
        let reader = std::thread::Builder::new()
            .name("emu-strace-log".into())
            .spawn(move || drain(&s))
            .map_err(|e| Error::Io(format!("starting the log reader: {e}")))?;
        Ok(StraceLog {
            handle: LogHandle { host_dir, shared },
            reader: Some(reader),
        })
    }

    /// The host directory bound at [`LOG_DIR`].
    pub fn host_dir(&self) -> &Path {
        &self.handle.host_dir
    }

    /// A handle for other threads.
    pub fn handle(&self) -> LogHandle {
        self.handle.clone()
    }

    /// See [`LogHandle::add_task`].
    pub fn add_task(&self, pid: i32) -> Result<PathBuf, Error> {
        self.handle.add_task(pid)
    }

    /// Stops reading (call it once every QEMU of the task has exited, e.g. after the
    /// sandbox's teardown), returns every FIFO's stream in creation order, and
    /// removes the directory.
    pub fn finish(mut self) -> Result<Vec<Stream>, Error> {
        self.handle.stop();
        let streams = match self.reader.take() {
            Some(h) => h
                .join()
                .map_err(|_| Error::Io("the log reader thread panicked".into()))?
                .map_err(|e| Error::Io(format!("reading the syscall log: {e}")))?,
            None => Vec::new(),
        };
        self.handle.remove()?;
        Ok(streams)
    }

    /// [`Self::finish`], then every stream parsed ([`AttributedParser`]).
    /// `own_logs`: forked children were given their own FIFO (by a tracer); without
    /// that, a child's pieces stay in its parent's stream until it executes a
    /// program.
    pub fn finish_events(self, own_logs: bool) -> Result<Parsed, Error> {
        Ok(parse_streams(&self.finish()?, own_logs))
    }
}

impl Drop for StraceLog {
    fn drop(&mut self) {
        self.handle.stop();
        if let Some(h) = self.reader.take() {
            let _ = h.join();
        }
        let _ = self.handle.remove();
    }
}

impl LogHandle {
    fn state(&self) -> MutexGuard<'_, State> {
        self.shared
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Creates the FIFO of sandbox thread id `pid` (a pid for a process's first
    /// thread; replacing that of an earlier task with the id, which is then retired)
    /// and returns its sandbox path.
    pub fn add_task(&self, pid: i32) -> Result<PathBuf, Error> {
        self.retire(pid);
        let name = format!("strace.{pid}");
        let fifo = self.host_dir.join(&name);
        let c = cstring(&fifo)?;
        let _ = fs::remove_file(&fifo);
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
        let read = open_fd(&c, &fifo, libc::O_RDONLY | libc::O_NONBLOCK)?;
        let write = open_fd(&c, &fifo, libc::O_WRONLY | libc::O_NONBLOCK)?;
        let meta =
            fs::metadata(&fifo).map_err(|e| Error::Io(format!("stat {}: {e}", fifo.display())))?;
        {
            let mut st = self.state();
            let writer = st.next;
            st.next += 1;
            st.ids.insert((meta.dev(), meta.ino()));
            st.live.insert(pid, write);
            st.added.push((writer, pid, read));
        }
        self.wake();
        Ok(Path::new(LOG_DIR).join(name))
    }

    /// The task `pid` (sandbox thread id) is gone: the host's write end of its FIFO
    /// is closed (the FIFO is read to its end once no QEMU holds it) and its name
    /// freed for a later task with the same id.
    pub fn retire(&self, pid: i32) {
        if self.state().live.remove(&pid).is_some() {
            let _ = fs::remove_file(self.host_dir.join(format!("strace.{pid}")));
        }
    }

    /// The descriptor of host process `host_pid` that refers to one of this log's
    /// FIFOs (a forked QEMU's inherited log), if any. `None` too for a process that
    /// shares its descriptor table with its parent (`CLONE_FILES`): moving the
    /// descriptor would move the parent's as well.
    pub fn log_fd_of(&self, host_pid: i32) -> Option<i32> {
        if shares_fd_table_with_parent(host_pid) {
            return None;
        }
        let dir = fs::read_dir(format!("/proc/{host_pid}/fd")).ok()?;
        let ours: Vec<(u64, u64)> = self.state().ids.iter().copied().collect();
        dir.flatten().find_map(|e| {
            let m = fs::metadata(e.path()).ok()?;
            if !m.file_type().is_fifo() || !ours.contains(&(m.dev(), m.ino())) {
                return None;
            }
            e.file_name().to_str()?.parse().ok()
        })
    }

    fn wake(&self) {
        let one: u64 = 1;
        // SAFETY: writes 8 bytes from a local u64 to the eventfd we own.
        unsafe {
            libc::write(
                self.shared.wake.as_raw_fd(),
                (&one as *const u64).cast(),
                std::mem::size_of::<u64>(),
            )
        };
    }

    fn stop(&self) {
        self.shared.stop.store(true, Ordering::Release);
        self.state().live.clear();
        self.wake();
    }

    fn remove(&self) -> Result<(), Error> {
        if self.host_dir.exists() {
            fs::remove_dir_all(&self.host_dir)
                .map_err(|e| Error::Io(format!("removing {}: {e}", self.host_dir.display())))?;
        }
        Ok(())
    }
}

/// Whether `pid` and its parent have one descriptor table.
fn shares_fd_table_with_parent(pid: i32) -> bool {
    fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("PPid:"))
                .and_then(|v| v.trim().parse::<i32>().ok())
        })
        .is_some_and(|ppid| same_fd_table(pid, ppid))
}

/// Whether two processes have one descriptor table (`kcmp(KCMP_FILES)`; false if
/// the kernel cannot tell).
fn same_fd_table(a: i32, b: i32) -> bool {
    const KCMP_FILES: libc::c_long = 2;
    // SAFETY: kcmp takes integers only and reads nothing from our memory.
    let r = unsafe {
        libc::syscall(
            libc::SYS_kcmp,
            libc::c_long::from(a),
            libc::c_long::from(b),
            KCMP_FILES,
            0 as libc::c_long,
            0 as libc::c_long,
        )
    };
    r == 0
}

/// Parses the streams of a log ([`StraceLog::finish_events`]). With `own_logs`
/// every stream is one thread's, and its events get that thread's id (QEMU prints
/// the pid only).
pub fn parse_streams(streams: &[Stream], own_logs: bool) -> Parsed {
    let mut p = AttributedParser::new(own_logs);
    for s in streams {
        if own_logs {
            p.name_thread(s.writer, i64::from(s.pid));
        }
        for (ts, bytes) in &s.chunks {
            p.feed(s.writer, *ts, bytes);
        }
    }
    p.finish()
}

/// One FIFO being read.
struct Open {
    file: fs::File,
    stream: Stream,
}

/// Reads every FIFO until told to stop, then drains what is left.
fn drain(shared: &Shared) -> io::Result<Vec<Stream>> {
    let mut open: Vec<Open> = Vec::new();
    let mut done: Vec<Stream> = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let stopping = shared.stop.load(Ordering::Acquire);
        {
            let mut st = shared.state.lock().unwrap_or_else(PoisonError::into_inner);
            for (writer, pid, fd) in st.added.drain(..) {
                open.push(Open {
                    file: fs::File::from(fd),
                    stream: Stream {
                        writer,
                        pid,
                        chunks: Vec::new(),
                    },
                });
            }
        }
        // Read what is there; a FIFO no writer holds any more is finished.
        let mut i = 0;
        while let Some(o) = open.get_mut(i) {
            let ended = read_available(o, &mut buf)?;
            if ended {
                done.push(open.swap_remove(i).stream);
            } else {
                i += 1;
            }
        }
        if stopping {
            done.extend(open.into_iter().map(|o| o.stream));
            done.sort_by_key(|s| s.writer);
            return Ok(done);
        }
        wait_readable(&open, &shared.wake, 100);
    }
}

/// Reads `o` until it would block; true at its end (no writer left).
fn read_available(o: &mut Open, buf: &mut [u8]) -> io::Result<bool> {
    loop {
        match o.file.read(buf) {
            Ok(0) => return Ok(true),
            Ok(n) => o
                .stream
                .chunks
                .push((now_ns(), buf.get(..n).unwrap_or(&[]).to_vec())),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

/// Waits until a FIFO has data or the wake eventfd fires (then resets it).
fn wait_readable(open: &[Open], wake: &OwnedFd, ms: i32) {
    let mut fds: Vec<libc::pollfd> = open
        .iter()
        .map(|o| libc::pollfd {
            fd: o.file.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        })
        .collect();
    fds.push(libc::pollfd {
        fd: wake.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    });
    // SAFETY: `fds` is a live array of `fds.len()` pollfds for the call's duration.
    unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, ms) };
    let mut v: u64 = 0;
    // SAFETY: reads at most 8 bytes into a local u64 from the eventfd (non-blocking).
    unsafe {
        libc::read(
            wake.as_raw_fd(),
            (&mut v as *mut u64).cast(),
            std::mem::size_of::<u64>(),
        )
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn descriptor_tables_are_compared() {
        let me = std::process::id() as i32;
        assert!(same_fd_table(me, me));
        // The test harness's parent has a table of its own.
        assert!(!shares_fd_table_with_parent(me));
    }

    /// FIFOs are made per pid, read while they live, and a pid's FIFO is replaced
    /// for a later process with the same pid.
    #[test]
    fn one_stream_per_process_fifo() {
        use std::io::Write;
        let root = std::env::temp_dir().join(format!("ferret-emu-log-{}", std::process::id()));
        fs::create_dir_all(&root).unwrap();
        let log = StraceLog::create(&root).unwrap();
        assert_eq!(
            log.add_task(7).unwrap(),
            Path::new(LOG_DIR).join("strace.7")
        );
        log.add_task(9).unwrap();
        let handle = log.handle();
        let open = |pid: i32| {
            fs::OpenOptions::new()
                .write(true)
                .open(log.host_dir().join(format!("strace.{pid}")))
                .unwrap()
        };
        open(7).write_all(b"7 getpid() = 7\n").unwrap();
        open(9).write_all(b"9 getpid() = 9\n").unwrap();
        // Pid 7 ends; a new process 7 gets a new FIFO and stream.
        handle.retire(7);
        handle.add_task(7).unwrap();
        open(7).write_all(b"7 gettid() = 7\n").unwrap();
        let streams = log.finish().unwrap();
        let text: Vec<(i32, String)> = streams
            .iter()
            .map(|s| {
                let b: Vec<u8> = s.chunks.iter().flat_map(|(_, b)| b.clone()).collect();
                (s.pid, String::from_utf8(b).unwrap())
            })
            .collect();
        assert_eq!(
            text,
            [
                (7, "7 getpid() = 7\n".to_owned()),
                (9, "9 getpid() = 9\n".to_owned()),
                (7, "7 gettid() = 7\n".to_owned()),
            ]
        );
        let parsed = parse_streams(&streams, true);
        assert_eq!(parsed.events.len(), 3);
        assert!(parsed.anomalies.is_empty());
        let _ = fs::remove_dir_all(&root);
    }
}
