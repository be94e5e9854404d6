//! File publishers: fanotify on whole file systems (`FAN_MARK_FILESYSTEM` with
//! `FAN_REPORT_DFID_NAME`, so events name the directory by handle plus the entry name, and
//! carry the pid of the process that caused them), with inotify on the watched directory
//! trees as the fallback (no pids there).
//!
//! Events are `source = filewatch`, typed `create`, `modify`, `delete`, `open`, `attrib`
//! (with the file's new `mode`, which is how a chmod shows), `rename` (`oldpath` and `path`,
//! from `FAN_RENAME` or a paired inotify move), or `moved_from`/`moved_to` for moves across
//! the boundary of the watched trees. Only paths under a watched path are published.

use std::borrow::Cow;
use std::ffi::CString;
use std::fs;
use std::io;
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ferret_event::{Event, Source, Value};
use rustc_hash::FxHashMap;

use crate::bus::Publisher;
use crate::sys;

const FAN_MODIFY: u64 = 0x2;
const FAN_ATTRIB: u64 = 0x4;
const FAN_OPEN: u64 = 0x20;
const FAN_MOVED_FROM: u64 = 0x40;
const FAN_MOVED_TO: u64 = 0x80;
const FAN_CREATE: u64 = 0x100;
const FAN_DELETE: u64 = 0x200;
const FAN_Q_OVERFLOW: u64 = 0x4000;
const FAN_RENAME: u64 = 0x1000_0000;
const FAN_ONDIR: u64 = 0x4000_0000;

const FAN_CLOEXEC: u32 = 0x1;
const FAN_NONBLOCK: u32 = 0x2;
const FAN_CLASS_NOTIF: u32 = 0x0;
const FAN_REPORT_DIR_FID: u32 = 0x400;
const FAN_REPORT_NAME: u32 = 0x800;
const FAN_MARK_ADD: u32 = 0x1;
const FAN_MARK_FILESYSTEM: u32 = 0x100;

const INFO_DFID_NAME: u8 = 2;
const INFO_DFID: u8 = 3;
const INFO_OLD_DFID_NAME: u8 = 10;
const INFO_NEW_DFID_NAME: u8 = 12;

/// Most directories the inotify fallback watches (one watch each).
pub const MAX_INOTIFY_WATCHES: usize = 8192;
/// Most directory handles whose paths fanotify events keep resolved.
const DIR_CACHE: usize = 4096;

fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

fn under(path: &Path, roots: &[PathBuf]) -> bool {
    roots.iter().any(|r| path.starts_with(r))
}

/// `S_*` names of a mode's permission bits, as the sandbox writes chmod modes.
pub fn mode_text(mode: u32) -> String {
    const BITS: [(u32, &str); 12] = [
        (0o4000, "S_ISUID"),
        (0o2000, "S_ISGID"),
        (0o1000, "S_ISVTX"),
        (0o400, "S_IRUSR"),
        (0o200, "S_IWUSR"),
        (0o100, "S_IXUSR"),
        (0o40, "S_IRGRP"),
        (0o20, "S_IWGRP"),
        (0o10, "S_IXGRP"),
        (0o4, "S_IROTH"),
        (0o2, "S_IWOTH"),
        (0o1, "S_IXOTH"),
    ];
    let mut s = String::new();
    for (b, n) in BITS {
        if mode & b != 0 {
            if !s.is_empty() {
                s.push('|');
            }
            s.push_str(n);
        }
    }
    s
}

/// inotify-vocabulary text of a change mask (fanotify and inotify share the low bits).
fn mask_text(kind: &str, dir: bool) -> String {
    let mut s = String::from(match kind {
        "create" => "IN_CREATE",
        "delete" => "IN_DELETE",
        "modify" => "IN_MODIFY",
        "attrib" => "IN_ATTRIB",
        "open" => "IN_OPEN",
        "moved_from" => "IN_MOVED_FROM",
        "moved_to" => "IN_MOVED_TO",
        _ => "IN_MOVED_FROM|IN_MOVED_TO",
    });
    if dir {
        s.push_str("|IN_ISDIR");
    }
    s
}

fn mask_value(kind: &str, dir: bool) -> u64 {
    let v = match kind {
        "create" => FAN_CREATE,
        "delete" => FAN_DELETE,
        "modify" => FAN_MODIFY,
        "attrib" => FAN_ATTRIB,
        "open" => FAN_OPEN,
        "moved_from" => FAN_MOVED_FROM,
        "moved_to" => FAN_MOVED_TO,
        _ => FAN_MOVED_FROM | FAN_MOVED_TO,
    };
    if dir { v | FAN_ONDIR } else { v }
}

/// Builds a file event.
pub fn file_event(
    kind: &'static str,
    pid: i64,
    path: &Path,
    old: Option<&Path>,
    dir: bool,
) -> Event {
    let mut ev = Event {
        v: ferret_event::FORMAT_VERSION,
        ts: now_ns(),
        source: Source::Filewatch,
        ty: Cow::Borrowed(kind),
        pid,
        tid: pid,
        ..Event::default()
    };
    if let Some(o) = old {
        ev.args
            .push("oldpath", Value::Path(o.to_string_lossy().into_owned()));
    }
    ev.args
        .push("path", Value::Path(path.to_string_lossy().into_owned()));
    ev.args.push(
        "mask",
        Value::Flags {
            value: mask_value(kind, dir),
            text: mask_text(kind, dir),
        },
    );
    if kind == "attrib" {
        // The mode is read when the event is handled; a file already gone is said so.
        match fs::symlink_metadata(path) {
            Ok(md) => {
                let mode = md.permissions().mode() & 0o7777;
                ev.args.push(
                    "mode",
                    Value::Flags {
                        value: u64::from(mode),
                        text: mode_text(mode),
                    },
                );
            }
            Err(_) => ev.args.push("missing", Value::Str("mode".into())),
        }
    }
    ev
}

/// fanotify on the file systems of the watched paths.
#[derive(Debug)]
pub struct Fanotify {
    fd: OwnedFd,
    /// Per file system id: a descriptor on it (for `open_by_handle_at`) and the roots on it.
    mounts: Vec<([i32; 2], OwnedFd, Vec<PathBuf>)>,
    cache: FxHashMap<Vec<u8>, Option<PathBuf>>,
    /// Whether `FAN_RENAME` is reported (else moves come as moved_from/moved_to).
    pub rename: bool,
}

impl Fanotify {
    /// Marks the file system of every path (canonical, existing directories).
    pub fn open(roots: &[PathBuf]) -> io::Result<Fanotify> {
        let fd = sys::fanotify_init(
            FAN_CLASS_NOTIF | FAN_CLOEXEC | FAN_NONBLOCK | FAN_REPORT_DIR_FID | FAN_REPORT_NAME,
            (libc::O_RDONLY | libc::O_LARGEFILE | libc::O_CLOEXEC) as u32,
        )?;
        let mut f = Fanotify {
            fd,
            mounts: Vec::new(),
            cache: FxHashMap::default(),
            rename: true,
        };
        let base = FAN_CREATE | FAN_DELETE | FAN_MODIFY | FAN_ATTRIB | FAN_OPEN | FAN_ONDIR;
        for root in roots {
            let c = CString::new(root.as_os_str().as_bytes())
                .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "path with NUL"))?;
            let fsid = sys::fsid(&c)?;
            if let Some(m) = f.mounts.iter_mut().find(|m| m.0 == fsid) {
                m.2.push(root.clone());
                continue;
            }
            let flags = FAN_MARK_ADD | FAN_MARK_FILESYSTEM;
            let r = if f.rename {
                sys::fanotify_mark(&f.fd, flags, base | FAN_RENAME, &c)
            } else {
                Err(io::Error::from_raw_os_error(libc::EINVAL))
            };
            if let Err(e) = r {
                if e.raw_os_error() != Some(libc::EINVAL) {
                    return Err(e);
                }
                // Kernels before 5.17 have no FAN_RENAME.
                f.rename = false;
                sys::fanotify_mark(&f.fd, flags, base | FAN_MOVED_FROM | FAN_MOVED_TO, &c)?;
            }
            let mfd: OwnedFd = fs::File::open(root)?.into();
            f.mounts.push((fsid, mfd, vec![root.clone()]));
        }
        Ok(f)
    }

    fn resolve(&mut self, fsid: [i32; 2], handle_type: i32, handle: &[u8]) -> Option<PathBuf> {
        let mut key = Vec::with_capacity(12 + handle.len());
        key.extend_from_slice(&fsid[0].to_ne_bytes());
        key.extend_from_slice(&fsid[1].to_ne_bytes());
        key.extend_from_slice(&handle_type.to_ne_bytes());
        key.extend_from_slice(handle);
        if let Some(p) = self.cache.get(&key) {
            return p.clone();
        }
        let m = self.mounts.iter().find(|m| m.0 == fsid)?;
        let path = sys::open_by_handle(&m.1, handle_type, handle)
            .ok()
            .and_then(|fd| {
                use std::os::fd::AsRawFd;
                fs::read_link(format!("/proc/self/fd/{}", fd.as_raw_fd())).ok()
            })
            .filter(|p| !p.as_os_str().as_bytes().ends_with(b" (deleted)"));
        if self.cache.len() >= DIR_CACHE {
            self.cache.clear();
        }
        self.cache.insert(key, path.clone());
        path
    }

    fn roots(&self, fsid: [i32; 2]) -> &[PathBuf] {
        self.mounts
            .iter()
            .find(|m| m.0 == fsid)
            .map_or(&[], |m| m.2.as_slice())
    }

    /// Reads events until `stop`.
    pub fn run(mut self, publ: &Publisher, stop: &AtomicBool) {
        let me = i64::from(std::process::id());
        let mut buf = vec![0u8; 1 << 16];
        while !stop.load(Ordering::Relaxed) {
            match sys::poll_readable(&self.fd, Duration::from_millis(200)) {
                Ok(true) => {}
                Ok(false) => continue,
                Err(_) => {
                    std::thread::sleep(Duration::from_millis(50));
                    continue;
                }
            }
            let n = match sys::read(&self.fd, &mut buf) {
                Ok(n) => n,
                Err(_) => continue,
            };
            let mut off = 0usize;
            while let Some(hdr) = buf.get(off..off + 24).filter(|_| off < n) {
                let len = u32::from_ne_bytes([hdr[0], hdr[1], hdr[2], hdr[3]]) as usize;
                let meta_len = usize::from(u16::from_ne_bytes([hdr[6], hdr[7]]));
                let mut mask = [0u8; 8];
                mask.copy_from_slice(&hdr[8..16]);
                let mask = u64::from_ne_bytes(mask);
                let pid = i64::from(i32::from_ne_bytes([hdr[20], hdr[21], hdr[22], hdr[23]]));
                if len < 24 || off + len > n {
                    publ.malformed();
                    break;
                }
                let info = buf.get(off + meta_len.max(24)..off + len).unwrap_or(&[]);
                off += len;
                if mask & FAN_Q_OVERFLOW != 0 {
                    publ.lost(1);
                    continue;
                }
                if pid == me {
                    publ.filtered();
                    continue;
                }
                self.handle(mask, pid, info, publ);
            }
        }
    }

    fn handle(&mut self, mask: u64, pid: i64, info: &[u8], publ: &Publisher) {
        let dir = mask & FAN_ONDIR != 0;
        let mut main: Option<PathBuf> = None;
        let mut old: Option<PathBuf> = None;
        let mut new: Option<PathBuf> = None;
        let mut fsid_seen = [0i32; 2];
        let mut p = 0usize;
        while let Some(h) = info.get(p..p + 4) {
            let ty = h[0];
            let len = usize::from(u16::from_ne_bytes([h[2], h[3]]));
            if len < 4 {
                break;
            }
            let rec = info.get(p..p + len).unwrap_or(&[]);
            p += len;
            if !matches!(
                ty,
                INFO_DFID_NAME | INFO_DFID | INFO_OLD_DFID_NAME | INFO_NEW_DFID_NAME
            ) {
                continue;
            }
            let word = |o: usize| -> Option<[u8; 4]> { rec.get(o..o + 4)?.try_into().ok() };
            let (Some(f0), Some(f1), Some(hb), Some(ht)) = (word(4), word(8), word(12), word(16))
            else {
                continue;
            };
            let fsid = [i32::from_ne_bytes(f0), i32::from_ne_bytes(f1)];
            let hbytes = u32::from_ne_bytes(hb) as usize;
            let htype = i32::from_ne_bytes(ht);
            let Some(handle) = rec.get(20..20 + hbytes) else {
                continue;
            };
            let name = rec.get(20 + hbytes..).map(|r| {
                let end = r.iter().position(|c| *c == 0).unwrap_or(r.len());
                &r[..end]
            });
            fsid_seen = fsid;
            let Some(dirpath) = self.resolve(fsid, htype, handle) else {
                continue;
            };
            let full = match name {
                Some(n) if !n.is_empty() && n != b"." => {
                    dirpath.join(std::ffi::OsStr::from_bytes(n))
                }
                _ => dirpath,
            };
            match ty {
                INFO_OLD_DFID_NAME => old = Some(full),
                INFO_NEW_DFID_NAME => new = Some(full),
                _ => main = Some(full),
            }
        }
        // A renamed or deleted directory invalidates the resolved paths below it.
        if dir && mask & (FAN_RENAME | FAN_MOVED_FROM | FAN_MOVED_TO | FAN_DELETE) != 0 {
            self.cache.clear();
        }
        let roots = self.roots(fsid_seen).to_vec();
        let mut published = false;
        if mask & FAN_RENAME != 0 {
            let (o_in, n_in) = (
                old.as_deref().is_some_and(|p| under(p, &roots)),
                new.as_deref().is_some_and(|p| under(p, &roots)),
            );
            let ev = match (&old, &new, o_in, n_in) {
                (Some(o), Some(n), true, true) => Some(file_event("rename", pid, n, Some(o), dir)),
                (Some(o), _, true, false) => Some(file_event("moved_from", pid, o, None, dir)),
                (_, Some(n), false, true) => Some(file_event("moved_to", pid, n, None, dir)),
                _ => None,
            };
            if let Some(ev) = ev {
                published = true;
                if !publ.publish(ev) {
                    return;
                }
            }
        }
        if let Some(path) = main.as_deref().filter(|p| under(p, &roots)) {
            for (bit, kind) in [
                (FAN_CREATE, "create"),
                (FAN_MOVED_FROM, "moved_from"),
                (FAN_MOVED_TO, "moved_to"),
                (FAN_OPEN, "open"),
                (FAN_MODIFY, "modify"),
                (FAN_ATTRIB, "attrib"),
                (FAN_DELETE, "delete"),
            ] {
                // Directory opens (every listing) are not file opens.
                if mask & bit == 0 || (bit == FAN_OPEN && dir) {
                    continue;
                }
                published = true;
                if !publ.publish(file_event(kind, pid, path, None, dir)) {
                    return;
                }
            }
        }
        if !published {
            publ.filtered();
        }
    }
}

/// inotify on every directory of the watched trees.
#[derive(Debug)]
pub struct Inotify {
    fd: OwnedFd,
    wds: FxHashMap<i32, PathBuf>,
    /// Directories not watched because [`MAX_INOTIFY_WATCHES`] was reached.
    pub unwatched: u64,
}

const IN_MASK: u32 = libc::IN_CREATE
    | libc::IN_DELETE
    | libc::IN_MODIFY
    | libc::IN_ATTRIB
    | libc::IN_OPEN
    | libc::IN_MOVED_FROM
    | libc::IN_MOVED_TO
    | libc::IN_DONT_FOLLOW;

impl Inotify {
    /// Watches every directory under the roots.
    pub fn open(roots: &[PathBuf]) -> io::Result<Inotify> {
        let mut w = Inotify {
            fd: sys::inotify_init()?,
            wds: FxHashMap::default(),
            unwatched: 0,
        };
        for r in roots {
            w.add_tree(r);
        }
        if w.wds.is_empty() {
            return Err(io::Error::other("no watched directory could be watched"));
        }
        Ok(w)
    }

    fn add_tree(&mut self, root: &Path) {
        let mut stack = vec![root.to_path_buf()];
        while let Some(d) = stack.pop() {
            if self.wds.len() >= MAX_INOTIFY_WATCHES {
                self.unwatched += 1;
                continue;
            }
            let Ok(c) = CString::new(d.as_os_str().as_bytes()) else {
                continue;
            };
            let Ok(wd) = sys::inotify_add_watch(&self.fd, &c, IN_MASK) else {
                continue;
            };
            if let Ok(rd) = fs::read_dir(&d) {
                for e in rd.flatten() {
                    if e.file_type().is_ok_and(|t| t.is_dir()) {
                        stack.push(e.path());
                    }
                }
            }
            self.wds.insert(wd, d);
        }
    }

    /// Reads events until `stop`.
    pub fn run(mut self, publ: &Publisher, stop: &AtomicBool) {
        let mut buf = vec![0u8; 1 << 16];
        while !stop.load(Ordering::Relaxed) {
            match sys::poll_readable(&self.fd, Duration::from_millis(200)) {
                Ok(true) => {}
                Ok(false) => continue,
                Err(_) => {
                    std::thread::sleep(Duration::from_millis(50));
                    continue;
                }
            }
            let n = match sys::read(&self.fd, &mut buf) {
                Ok(n) => n,
                Err(_) => continue,
            };
            let mut pending_from: Option<(u32, PathBuf, bool)> = None;
            let mut off = 0usize;
            let mut evs = Vec::new();
            while let Some(h) = buf.get(off..off + 16).filter(|_| off < n) {
                let wd = i32::from_ne_bytes([h[0], h[1], h[2], h[3]]);
                let mask = u32::from_ne_bytes([h[4], h[5], h[6], h[7]]);
                let cookie = u32::from_ne_bytes([h[8], h[9], h[10], h[11]]);
                let len = u32::from_ne_bytes([h[12], h[13], h[14], h[15]]) as usize;
                let name = buf.get(off + 16..off + 16 + len).map(|r| {
                    let end = r.iter().position(|c| *c == 0).unwrap_or(r.len());
                    r[..end].to_vec()
                });
                off += 16 + len;
                if mask & libc::IN_Q_OVERFLOW != 0 {
                    publ.lost(1);
                    continue;
                }
                if mask & libc::IN_IGNORED != 0 {
                    self.wds.remove(&wd);
                    continue;
                }
                let Some(dirp) = self.wds.get(&wd) else {
                    continue;
                };
                let path = match &name {
                    Some(n) if !n.is_empty() => dirp.join(std::ffi::OsStr::from_bytes(n)),
                    _ => dirp.clone(),
                };
                let dir = mask & libc::IN_ISDIR != 0;
                if mask & libc::IN_MOVED_FROM != 0 {
                    if let Some((_, p, d)) = pending_from.take() {
                        evs.push(file_event("moved_from", 0, &p, None, d));
                    }
                    pending_from = Some((cookie, path, dir));
                    continue;
                }
                if mask & libc::IN_MOVED_TO != 0 {
                    match pending_from.take() {
                        Some((c, p, _)) if c == cookie => {
                            evs.push(file_event("rename", 0, &path, Some(&p), dir));
                        }
                        other => {
                            if let Some((_, p, d)) = other {
                                evs.push(file_event("moved_from", 0, &p, None, d));
                            }
                            evs.push(file_event("moved_to", 0, &path, None, dir));
                        }
                    }
                    if dir {
                        self.add_tree(&path);
                    }
                    continue;
                }
                for (bit, kind) in [
                    (libc::IN_CREATE, "create"),
                    (libc::IN_OPEN, "open"),
                    (libc::IN_MODIFY, "modify"),
                    (libc::IN_ATTRIB, "attrib"),
                    (libc::IN_DELETE, "delete"),
                ] {
                    if mask & bit != 0 && !(bit == libc::IN_OPEN && dir) {
                        evs.push(file_event(kind, 0, &path, None, dir));
                    }
                }
                if dir && mask & libc::IN_CREATE != 0 {
                    self.add_tree(&path);
                }
            }
            if let Some((_, p, d)) = pending_from.take() {
                evs.push(file_event("moved_from", 0, &p, None, d));
            }
            for ev in evs {
                if !publ.publish(ev) {
                    return;
                }
            }
        }
    }
}
