//! Collecting what the sample wrote: a walk of the overlay's upper layer (and the
//! sandbox's /dev/shm) that never follows symlinks and copies regular files only.

use std::ffi::OsStr;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use crate::Error;

/// What happened to a path inside the sandbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeKind {
    /// Did not exist in the base filesystem.
    Created,
    /// Existed in the base filesystem and was rewritten (or its metadata changed).
    Modified,
    /// Existed in the base filesystem and was removed (an overlay whiteout, or an
    /// entry hidden by an opaque directory).
    Deleted,
}

/// Type of a changed entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntryKind {
    /// A regular file.
    Regular,
    /// A directory.
    Directory,
    /// A symbolic link and its target (never followed).
    Symlink(PathBuf),
    /// A named pipe.
    Fifo,
    /// A unix socket.
    Socket,
    /// A character device node (major, minor).
    CharDevice(u32, u32),
    /// A block device node (major, minor).
    BlockDevice(u32, u32),
    /// Unknown for a deletion.
    Unknown,
}

/// One file the sample created, modified or deleted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileChange {
    /// Absolute path as the sample saw it.
    pub path: PathBuf,
    /// Created, modified or deleted.
    pub kind: ChangeKind,
    /// Type of the entry (of the new entry for created/modified).
    pub entry: EntryKind,
    /// Size in bytes (apparent size; 0 for deletions).
    pub size: u64,
    /// Mode bits (permission and type bits, as `st_mode`; 0 for deletions).
    pub mode: u32,
    /// Number of hard links the entry had in the upper layer (> 1: hard-linked).
    pub nlink: u64,
    /// Where the content was copied on the host, for regular files within the caps.
    pub copied_to: Option<PathBuf>,
    /// Why the content was not copied, when it was not.
    pub not_copied: Option<String>,
}

/// Caps for [`Sandbox::collect_changes`](crate::Sandbox::collect_changes).
#[derive(Debug, Clone)]
pub struct CollectOptions {
    /// Largest single file copied (bigger ones are listed, not copied).
    pub max_file_bytes: u64,
    /// Total bytes copied; later files are listed, not copied.
    pub max_total_bytes: u64,
    /// Most entries listed; the walk stops after this many.
    pub max_entries: usize,
}

impl Default for CollectOptions {
    fn default() -> Self {
        CollectOptions {
            max_file_bytes: 64 << 20,
            max_total_bytes: 512 << 20,
            max_entries: 1_000_000,
        }
    }
}

/// The result of a collection.
#[derive(Debug, Clone, Default)]
pub struct Changes {
    /// Every change, in walk order (parents before children).
    pub entries: Vec<FileChange>,
    /// Bytes copied to the destination.
    pub bytes_copied: u64,
    /// True when `max_entries` stopped the walk early.
    pub truncated: bool,
}

/// Deepest directory level walked (the walk recurses; a hostile tree can be
/// thousands of levels deep).
const MAX_DEPTH: usize = 64;

pub(crate) struct Walker<'a> {
    pub upper: &'a Path,
    pub lower: &'a Path,
    pub dest: &'a Path,
    pub opts: &'a CollectOptions,
    pub out: Changes,
}

fn entry_kind(ft: &fs::FileType, md: &fs::Metadata, path: &Path) -> EntryKind {
    let dev = |r: u64| (libc::major(r), libc::minor(r));
    if ft.is_file() {
        EntryKind::Regular
    } else if ft.is_dir() {
        EntryKind::Directory
    } else if ft.is_symlink() {
        EntryKind::Symlink(fs::read_link(path).unwrap_or_default())
    } else if ft.is_fifo() {
        EntryKind::Fifo
    } else if ft.is_socket() {
        EntryKind::Socket
    } else if ft.is_char_device() {
        let (a, b) = dev(md.rdev());
        EntryKind::CharDevice(a, b)
    } else if ft.is_block_device() {
        let (a, b) = dev(md.rdev());
        EntryKind::BlockDevice(a, b)
    } else {
        EntryKind::Unknown
    }
}

fn is_opaque(path: &Path) -> bool {
    [c"user.overlay.opaque", c"trusted.overlay.opaque"].iter().any(|name| {
        matches!(crate::sys::lgetxattr(path, name), Ok(Some(v)) if v.first() == Some(&b'y') || v.first() == Some(&b'x'))
    })
}

impl Walker<'_> {
    fn full(&mut self) -> bool {
        if self.out.entries.len() >= self.opts.max_entries {
            self.out.truncated = true;
            return true;
        }
        false
    }

    /// Walks `rel` (a directory relative to the upper layer root), with `prefix` the
    /// path the sandbox sees for it. `all_created` marks trees with no lower layer.
    pub(crate) fn walk(
        &mut self,
        rel: &Path,
        prefix: &Path,
        all_created: bool,
    ) -> Result<(), Error> {
        let dir = self.upper.join(rel);
        let rd =
            fs::read_dir(&dir).map_err(|e| Error::io(format!("reading {}", dir.display()), e))?;
        self.walk_entries(rd, rel, prefix, all_created, 0);
        Ok(())
    }

    fn walk_entries(
        &mut self,
        rd: fs::ReadDir,
        rel: &Path,
        prefix: &Path,
        all_created: bool,
        depth: usize,
    ) {
        let mut names: Vec<_> = rd.filter_map(|e| e.ok().map(|e| e.file_name())).collect();
        names.sort();
        for name in names {
            if self.full() {
                return;
            }
            if let Err(problem) = self.entry(rel, prefix, &name, all_created, depth) {
                // One unreadable entry (e.g. a path beyond PATH_MAX) must not hide the
                // rest: record it and go on.
                self.out.entries.push(FileChange {
                    path: prefix.join(&name),
                    kind: ChangeKind::Created,
                    entry: EntryKind::Unknown,
                    size: 0,
                    mode: 0,
                    nlink: 0,
                    copied_to: None,
                    not_copied: Some(problem),
                });
            }
        }
    }

    fn entry(
        &mut self,
        rel: &Path,
        prefix: &Path,
        name: &OsStr,
        all_created: bool,
        depth: usize,
    ) -> Result<(), String> {
        let rel_path = rel.join(name);
        let upath = self.upper.join(&rel_path);
        let sandbox_path = prefix.join(name);
        let md = fs::symlink_metadata(&upath).map_err(|e| format!("lstat failed: {e}"))?;
        let ft = md.file_type();
        let lower_path = self.lower.join(&rel_path);
        let in_lower = !all_created && fs::symlink_metadata(&lower_path).is_ok();

        // Overlay whiteout: a 0/0 character device means "deleted from the lower layer".
        if ft.is_char_device() && md.rdev() == 0 && !all_created {
            self.out.entries.push(FileChange {
                path: sandbox_path,
                kind: ChangeKind::Deleted,
                entry: EntryKind::Unknown,
                size: 0,
                mode: 0,
                nlink: 0,
                copied_to: None,
                not_copied: None,
            });
            return Ok(());
        }

        if ft.is_dir() && depth >= MAX_DEPTH {
            let kind = if in_lower {
                ChangeKind::Modified
            } else {
                ChangeKind::Created
            };
            let note =
                format!("directory nested deeper than {MAX_DEPTH} levels: contents not listed");
            self.push(&sandbox_path, &md, &ft, &upath, kind, None, Some(note));
            return Ok(());
        }
        if ft.is_dir() {
            let opaque = !all_created && is_opaque(&upath);
            if !in_lower || opaque {
                self.push(
                    &sandbox_path,
                    &md,
                    &ft,
                    &upath,
                    ChangeKind::Created,
                    None,
                    None,
                );
            }
            if opaque && in_lower {
                // Everything the lower directory had is hidden: report it deleted.
                if let Ok(rd) = fs::read_dir(&lower_path) {
                    let mut names: Vec<_> =
                        rd.filter_map(|e| e.ok().map(|e| e.file_name())).collect();
                    names.sort();
                    for n in names {
                        if fs::symlink_metadata(upath.join(&n)).is_err() {
                            self.out.entries.push(FileChange {
                                path: sandbox_path.join(&n),
                                kind: ChangeKind::Deleted,
                                entry: EntryKind::Unknown,
                                size: 0,
                                mode: 0,
                                nlink: 0,
                                copied_to: None,
                                not_copied: None,
                            });
                        }
                    }
                }
            }
            let rd =
                fs::read_dir(&upath).map_err(|e| format!("reading the directory failed: {e}"))?;
            self.walk_entries(
                rd,
                &rel_path,
                &sandbox_path,
                all_created || !in_lower || opaque,
                depth + 1,
            );
            return Ok(());
        }

        let kind = if in_lower {
            ChangeKind::Modified
        } else {
            ChangeKind::Created
        };
        let (copied_to, not_copied) = if ft.is_file() {
            self.copy_regular(&upath, &md, &sandbox_path)
        } else {
            (None, Some("not a regular file".to_owned()))
        };
        self.push(&sandbox_path, &md, &ft, &upath, kind, copied_to, not_copied);
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    fn push(
        &mut self,
        sandbox_path: &Path,
        md: &fs::Metadata,
        ft: &fs::FileType,
        upath: &Path,
        kind: ChangeKind,
        copied_to: Option<PathBuf>,
        not_copied: Option<String>,
    ) {
        self.out.entries.push(FileChange {
            path: sandbox_path.to_path_buf(),
            kind,
            entry: entry_kind(ft, md, upath),
            size: md.len(),
            mode: md.mode(),
            nlink: md.nlink(),
            copied_to,
            not_copied,
        });
    }

    fn copy_regular(
        &mut self,
        upath: &Path,
        md: &fs::Metadata,
        sandbox_path: &Path,
    ) -> (Option<PathBuf>, Option<String>) {
        let size = md.len();
        if size > self.opts.max_file_bytes {
            return (
                None,
                Some(format!(
                    "larger than the {} byte cap",
                    self.opts.max_file_bytes
                )),
            );
        }
        if self.out.bytes_copied + size > self.opts.max_total_bytes {
            return (
                None,
                Some(format!(
                    "total copy cap of {} bytes reached",
                    self.opts.max_total_bytes
                )),
            );
        }
        let rel = sandbox_path.strip_prefix("/").unwrap_or(sandbox_path);
        let dst = self.dest.join(rel);
        match self.copy_file(upath, md, &dst) {
            Ok(n) => {
                self.out.bytes_copied += n;
                (Some(dst), None)
            }
            Err(e) => (None, Some(format!("copy failed: {e}"))),
        }
    }

    fn copy_file(&self, upath: &Path, md: &fs::Metadata, dst: &Path) -> io::Result<u64> {
        // O_NOFOLLOW + O_NONBLOCK: never follow a link, never block on a fifo swapped in.
        let mut src = OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_NOCTTY)
            .open(upath)?;
        let smd = src.metadata()?;
        if !smd.is_file() || smd.ino() != md.ino() || smd.dev() != md.dev() {
            return Err(io::Error::other("file changed during collection"));
        }
        if let Some(parent) = dst.parent() {
            fs::create_dir_all(parent)?;
        }
        let mut out = OpenOptions::new()
            .write(true)
            .create_new(true)
            .custom_flags(libc::O_NOFOLLOW)
            .mode(0o600)
            .open(dst)?;
        let n = copy_capped(&mut src, &mut out, self.opts.max_file_bytes)?;
        Ok(n)
    }
}

fn copy_capped(src: &mut File, dst: &mut File, cap: u64) -> io::Result<u64> {
    let mut buf = vec![0u8; 128 * 1024];
    let mut total = 0u64;
    while total < cap {
        let want = buf.len().min((cap - total) as usize);
        let n = src.read(buf.get_mut(..want).unwrap_or(&mut []))?;
        if n == 0 {
            break;
        }
        dst.write_all(buf.get(..n).unwrap_or(&[]))?;
        total += n as u64;
    }
    Ok(total)
}
