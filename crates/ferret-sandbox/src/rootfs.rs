//! The per-task root filesystem: the read-only base (lower layer) assembled by ferret,
//! and the plan of mounts the sandbox init performs inside its mount namespace.
//!
//! Layout of the task's tmpfs (mounted on the host at `<workdir>/fs`):
//! `lower/` base tree (generated /etc, mount points, installed files), `upper/` and
//! `work/` the overlay's writable layer, `shm/` the sandbox's /dev/shm, `root/` the
//! overlay mount point (mounted only inside the sandbox's mount namespace).

use std::ffi::CString;
use std::fs;
use std::io::{self, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{PermissionsExt, lchown, symlink};
use std::path::{Component, Path, PathBuf};

use crate::child::Op;
use crate::{Error, InstallFile, RoBind};

/// Paths of one task's filesystem pieces on the host.
#[derive(Debug, Clone)]
pub(crate) struct Layout {
    pub fs: PathBuf,
    pub lower: PathBuf,
    pub upper: PathBuf,
    pub work: PathBuf,
    pub shm: PathBuf,
    pub root: PathBuf,
    /// Replacement for init's /proc/1/cmdline (outside the sandbox's view).
    pub init_cmdline: PathBuf,
}

impl Layout {
    pub(crate) fn new(workdir: &Path) -> Self {
        let fs = workdir.join("fs");
        Layout {
            lower: fs.join("lower"),
            upper: fs.join("upper"),
            work: fs.join("work"),
            shm: fs.join("shm"),
            root: fs.join("root"),
            init_cmdline: fs.join("init-cmdline"),
            fs,
        }
    }
}

/// Host directories bind-mounted read-only into the sandbox (relative names).
const SYSTEM_DIRS: &[&str] = &["usr", "bin", "sbin", "lib", "lib64", "lib32", "libx32"];

/// Device nodes bind-mounted from the host's /dev.
const DEVICES: &[&str] = &["null", "zero", "full", "random", "urandom", "tty"];

fn cstr(p: &Path) -> Result<CString, Error> {
    CString::new(p.as_os_str().as_bytes())
        .map_err(|_| Error::InvalidConfig(format!("path {} contains a NUL byte", p.display())))
}

fn io_err(what: &str, p: &Path) -> impl FnOnce(io::Error) -> Error {
    let ctx = format!("{what} {}", p.display());
    move |e| Error::io(ctx, e)
}

/// Builder for the lower layer; every entry is owned by the sandbox's root.
struct Base<'a> {
    lower: &'a Path,
    uid: u32,
    gid: u32,
}

impl Base<'_> {
    fn path(&self, rel: &str) -> PathBuf {
        self.lower.join(rel.trim_start_matches('/'))
    }

    fn own(&self, p: &Path, gid_offset: u32) -> Result<(), Error> {
        lchown(p, Some(self.uid), Some(self.gid + gid_offset)).map_err(io_err("chown", p))
    }

    fn dir(&self, rel: &str, mode: u32) -> Result<(), Error> {
        let p = self.path(rel);
        match fs::create_dir(&p) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(io_err("creating", &p)(e)),
        }
        fs::set_permissions(&p, fs::Permissions::from_mode(mode)).map_err(io_err("chmod", &p))?;
        self.own(&p, 0)
    }

    fn file(&self, rel: &str, mode: u32, content: &[u8]) -> Result<(), Error> {
        self.file_gid(rel, mode, 0, content)
    }

    fn file_gid(&self, rel: &str, mode: u32, gid_offset: u32, content: &[u8]) -> Result<(), Error> {
        let p = self.path(rel);
        let mut f = fs::File::create(&p).map_err(io_err("creating", &p))?;
        f.write_all(content).map_err(io_err("writing", &p))?;
        fs::set_permissions(&p, fs::Permissions::from_mode(mode)).map_err(io_err("chmod", &p))?;
        self.own(&p, gid_offset)
    }

    fn link(&self, target: &Path, rel: &str) -> Result<(), Error> {
        let p = self.path(rel);
        symlink(target, &p).map_err(io_err("creating symlink", &p))?;
        self.own(&p, 0)
    }
}

/// Deterministic pseudo-random generator for fake password hashes (not for secrets:
/// the hashes only have to look real).
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    fn crypt_chars(&mut self, n: usize) -> String {
        const ALPHABET: &[u8; 64] =
            b"./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
        (0..n)
            .map(|_| ALPHABET[(self.next() % 64) as usize] as char)
            .collect()
    }

    fn sha512_crypt(&mut self) -> String {
        let salt = self.crypt_chars(16);
        let hash = self.crypt_chars(86);
        format!("$6${salt}${hash}")
    }
}

const PASSWD: &str = "root:x:0:0:root:/root:/bin/bash
daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin
bin:x:2:2:bin:/bin:/usr/sbin/nologin
sys:x:3:3:sys:/dev:/usr/sbin/nologin
sync:x:4:65534:sync:/bin:/bin/sync
games:x:5:60:games:/usr/games:/usr/sbin/nologin
man:x:6:12:man:/var/cache/man:/usr/sbin/nologin
lp:x:7:7:lp:/var/spool/lpd:/usr/sbin/nologin
mail:x:8:8:mail:/var/mail:/usr/sbin/nologin
news:x:9:9:news:/var/spool/news:/usr/sbin/nologin
uucp:x:10:10:uucp:/var/spool/uucp:/usr/sbin/nologin
proxy:x:13:13:proxy:/bin:/usr/sbin/nologin
www-data:x:33:33:www-data:/var/www:/usr/sbin/nologin
backup:x:34:34:backup:/var/backups:/usr/sbin/nologin
list:x:38:38:Mailing List Manager:/var/list:/usr/sbin/nologin
irc:x:39:39:ircd:/run/ircd:/usr/sbin/nologin
_apt:x:42:65534::/nonexistent:/usr/sbin/nologin
nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin
systemd-network:x:998:998:systemd Network Management:/:/usr/sbin/nologin
messagebus:x:100:107::/nonexistent:/usr/sbin/nologin
sshd:x:101:65534::/run/sshd:/usr/sbin/nologin
admin:x:1000:1000:admin,,,:/home/admin:/bin/bash
";

const GROUP: &str = "root:x:0:
daemon:x:1:
bin:x:2:
sys:x:3:
adm:x:4:admin
tty:x:5:
disk:x:6:
lp:x:7:
mail:x:8:
news:x:9:
uucp:x:10:
man:x:12:
proxy:x:13:
kmem:x:15:
dialout:x:20:
cdrom:x:24:admin
floppy:x:25:
tape:x:26:
sudo:x:27:admin
audio:x:29:
dip:x:30:admin
www-data:x:33:
backup:x:34:
operator:x:37:
list:x:38:
irc:x:39:
src:x:40:
shadow:x:42:
utmp:x:43:
video:x:44:
plugdev:x:46:admin
staff:x:50:
games:x:60:
users:x:100:
messagebus:x:107:
systemd-network:x:998:
nogroup:x:65534:
admin:x:1000:
";

const CRONTAB: &str = "# /etc/crontab: system-wide crontab.
# Unlike user crontabs, this file has a user-name field.

SHELL=/bin/sh
PATH=/usr/local/sbin:/usr/local/bin:/sbin:/bin:/usr/sbin:/usr/bin

# m h dom mon dow user\tcommand
17 *\t* * *\troot\tcd / && run-parts --report /etc/cron.hourly
25 6\t* * *\troot\ttest -x /usr/sbin/anacron || { cd / && run-parts --report /etc/cron.daily; }
47 6\t* * 7\troot\ttest -x /usr/sbin/anacron || { cd / && run-parts --report /etc/cron.weekly; }
52 6\t1 * *\troot\ttest -x /usr/sbin/anacron || { cd / && run-parts --report /etc/cron.monthly; }
#
";

const RC_LOCAL: &str = "#!/bin/sh -e
#
# rc.local: executed at the end of each multiuser runlevel.
# Make sure the script exits 0 on success.

exit 0
";

const PROFILE: &str = "# /etc/profile: system-wide .profile for Bourne-compatible shells.

if [ \"$(id -u)\" -eq 0 ]; then
  PATH=\"/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\"
else
  PATH=\"/usr/local/bin:/usr/bin:/bin:/usr/local/games:/usr/games\"
fi
export PATH

if [ \"${PS1-}\" ]; then
  if [ \"$(id -u)\" -eq 0 ]; then PS1='# '; else PS1='$ '; fi
fi

if [ -d /etc/profile.d ]; then
  for i in /etc/profile.d/*.sh; do
    if [ -r \"$i\" ]; then . \"$i\"; fi
  done
  unset i
fi
";

fn init_script(name: &str, daemon: &str, desc: &str) -> String {
    format!(
        "#!/bin/sh
### BEGIN INIT INFO
# Provides:          {name}
# Required-Start:    $remote_fs $syslog
# Required-Stop:     $remote_fs $syslog
# Default-Start:     2 3 4 5
# Default-Stop:
# Short-Description: {desc}
### END INIT INFO

DAEMON={daemon}
test -x \"$DAEMON\" || exit 0

case \"$1\" in
  start)   echo \"Starting {desc}\"; start-stop-daemon --start --quiet --exec \"$DAEMON\" ;;
  stop)    echo \"Stopping {desc}\"; start-stop-daemon --stop --quiet --exec \"$DAEMON\" ;;
  restart) \"$0\" stop; \"$0\" start ;;
  *)       echo \"Usage: /etc/init.d/{name} {{start|stop|restart}}\"; exit 1 ;;
esac
exit 0
"
    )
}

/// Options for the generated base.
pub(crate) struct BaseSpec<'a> {
    pub hostname: &'a str,
    pub nameserver: &'a str,
    pub seed: u64,
    pub uid: u32,
    pub gid: u32,
    pub files: &'a [InstallFile],
    pub ro_binds: &'a [RoBind],
}

/// Builds the lower layer. Returns the system dirs (relative names) that exist as
/// real directories on the host and must be bind-mounted read-only.
pub(crate) fn build_base(layout: &Layout, spec: &BaseSpec<'_>) -> Result<Vec<String>, Error> {
    let b = Base {
        lower: &layout.lower,
        uid: spec.uid,
        gid: spec.gid,
    };
    b.dir("", 0o755)?;
    for (d, mode) in [
        ("boot", 0o755),
        ("dev", 0o755),
        ("etc", 0o755),
        ("home", 0o755),
        ("media", 0o755),
        ("mnt", 0o755),
        ("opt", 0o755),
        ("proc", 0o555),
        ("root", 0o700),
        ("run", 0o755),
        ("run/lock", 0o1777),
        ("srv", 0o755),
        ("sys", 0o555),
        ("tmp", 0o1777),
        ("var", 0o755),
        ("var/tmp", 0o1777),
        ("var/log", 0o755),
        ("var/lib", 0o755),
        ("var/cache", 0o755),
        ("var/mail", 0o2775),
        ("var/spool", 0o755),
        ("var/spool/cron", 0o755),
        ("var/spool/cron/crontabs", 0o1730),
        ("var/www", 0o755),
    ] {
        b.dir(d, mode)?;
    }
    b.link(Path::new("/run"), "var/run")?;
    b.link(Path::new("/run/lock"), "var/lock")?;

    let mut binds = Vec::new();
    for name in SYSTEM_DIRS {
        let host = Path::new("/").join(name);
        match fs::symlink_metadata(&host) {
            Ok(m) if m.file_type().is_symlink() => {
                let target = fs::read_link(&host).map_err(io_err("reading link", &host))?;
                b.link(&target, name)?;
            }
            Ok(m) if m.is_dir() => {
                b.dir(name, 0o755)?;
                binds.push((*name).to_owned());
            }
            _ => {}
        }
    }

    write_etc(&b, spec)?;

    for f in spec.files {
        install(&b, f)?;
    }
    for rb in spec.ro_binds {
        mount_point(&b, rb)?;
    }
    Ok(binds)
}

/// Creates the mount point of a read-only bind in the lower layer: a directory for a
/// directory source, an empty file for anything else.
fn mount_point(b: &Base<'_>, rb: &RoBind) -> Result<(), Error> {
    let rel = sandbox_rel(&rb.sandbox_path)?;
    let is_dir = fs::metadata(&rb.host_path)
        .map_err(io_err("bind source", &rb.host_path))?
        .is_dir();
    let parent = rel.parent().unwrap_or(Path::new(""));
    make_parents(b, parent, &rb.sandbox_path)?;
    let p = b.lower.join(&rel);
    match fs::symlink_metadata(&p) {
        Ok(m) if m.is_dir() == is_dir && !m.file_type().is_symlink() => Ok(()),
        Ok(_) => Err(Error::InvalidConfig(format!(
            "bind target {} already exists with another file type",
            rb.sandbox_path.display()
        ))),
        Err(_) if is_dir => {
            fs::create_dir(&p).map_err(io_err("creating", &p))?;
            b.own(&p, 0)
        }
        Err(_) => {
            fs::File::create(&p).map_err(io_err("creating", &p))?;
            b.own(&p, 0)
        }
    }
}

/// Creates the missing directories of `rel` (relative to the root) in the lower layer.
fn make_parents(b: &Base<'_>, rel: &Path, what: &Path) -> Result<(), Error> {
    let mut cur = PathBuf::new();
    for c in rel.components() {
        cur.push(c);
        let p = b.lower.join(&cur);
        match fs::symlink_metadata(&p) {
            Ok(m) if m.is_dir() => {}
            Ok(_) => {
                return Err(Error::InvalidConfig(format!(
                    "cannot place {}: /{} is not a directory",
                    what.display(),
                    cur.display()
                )));
            }
            Err(_) => {
                fs::create_dir(&p).map_err(io_err("creating", &p))?;
                fs::set_permissions(&p, fs::Permissions::from_mode(0o755))
                    .map_err(io_err("chmod", &p))?;
                b.own(&p, 0)?;
            }
        }
    }
    Ok(())
}

fn write_etc(b: &Base<'_>, spec: &BaseSpec<'_>) -> Result<(), Error> {
    let host = spec.hostname;
    b.file("etc/hostname", 0o644, format!("{host}\n").as_bytes())?;
    b.file(
        "etc/hosts",
        0o644,
        format!(
            "127.0.0.1\tlocalhost\n127.0.1.1\t{host}\n\n::1\tlocalhost ip6-localhost ip6-loopback\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n"
        )
        .as_bytes(),
    )?;
    b.file(
        "etc/resolv.conf",
        0o644,
        format!("nameserver {}\n", spec.nameserver).as_bytes(),
    )?;
    b.file("etc/passwd", 0o644, PASSWD.as_bytes())?;
    b.file("etc/group", 0o644, GROUP.as_bytes())?;

    let mut rng = XorShift(spec.seed | 1);
    let mut shadow = String::new();
    for line in PASSWD.lines() {
        let user = line.split(':').next().unwrap_or("");
        let pw = if user == "root" || user == "admin" {
            rng.sha512_crypt()
        } else {
            "*".to_owned()
        };
        shadow.push_str(&format!("{user}:{pw}:19750:0:99999:7:::\n"));
    }
    b.file_gid("etc/shadow", 0o640, 42, shadow.as_bytes())?;
    let gshadow: String = GROUP
        .lines()
        .map(|l| {
            let mut f = l.split(':');
            let name = f.next().unwrap_or("");
            let members = f.nth(2).unwrap_or("");
            format!("{name}:*::{members}\n")
        })
        .collect();
    b.file_gid("etc/gshadow", 0o640, 42, gshadow.as_bytes())?;

    b.file("etc/crontab", 0o644, CRONTAB.as_bytes())?;
    for d in [
        "etc/cron.d",
        "etc/cron.hourly",
        "etc/cron.daily",
        "etc/cron.weekly",
        "etc/cron.monthly",
    ] {
        b.dir(d, 0o755)?;
    }
    b.file("etc/rc.local", 0o755, RC_LOCAL.as_bytes())?;
    b.dir("etc/init.d", 0o755)?;
    for (name, daemon, desc) in [
        ("cron", "/usr/sbin/cron", "periodic command scheduler"),
        ("ssh", "/usr/sbin/sshd", "OpenBSD Secure Shell server"),
        ("rsyslog", "/usr/sbin/rsyslogd", "enhanced syslogd"),
    ] {
        b.file(
            &format!("etc/init.d/{name}"),
            0o755,
            init_script(name, daemon, desc).as_bytes(),
        )?;
    }
    for rl in ["etc/rc2.d", "etc/rc3.d", "etc/rc5.d"] {
        b.dir(rl, 0o755)?;
        b.link(Path::new("../init.d/cron"), &format!("{rl}/S01cron"))?;
        b.link(Path::new("../init.d/ssh"), &format!("{rl}/S01ssh"))?;
    }
    b.file("etc/profile", 0o644, PROFILE.as_bytes())?;
    b.dir("etc/profile.d", 0o755)?;
    b.file(
        "etc/shells",
        0o644,
        b"/bin/sh\n/usr/bin/sh\n/bin/bash\n/usr/bin/bash\n/bin/dash\n/usr/bin/dash\n",
    )?;
    b.file(
        "etc/nsswitch.conf",
        0o644,
        b"passwd:         files\ngroup:          files\nshadow:         files\ngshadow:        files\n\nhosts:          files dns\nnetworks:       files\n\nprotocols:      db files\nservices:       db files\nethers:         db files\nrpc:            db files\n",
    )?;
    b.file("etc/host.conf", 0o644, b"multi on\n")?;
    b.file(
        "etc/fstab",
        0o644,
        b"# <file system> <mount point>   <type>  <options>       <dump>  <pass>\nUUID=5c2f3b1e-8d3a-4f7e-9b1a-2e6c7d8f9a01 /               ext4    errors=remount-ro 0       1\nUUID=0b9c4d2a-1e5f-4a3b-8c7d-6e5f4a3b2c1d none            swap    sw              0       0\n",
    )?;
    b.file(
        "etc/os-release",
        0o644,
        b"PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nNAME=\"Debian GNU/Linux\"\nVERSION_ID=\"12\"\nVERSION=\"12 (bookworm)\"\nVERSION_CODENAME=bookworm\nID=debian\nHOME_URL=\"https://www.debian.org/\"\nSUPPORT_URL=\"https://www.debian.org/support\"\nBUG_REPORT_URL=\"https://bugs.debian.org/\"\n",
    )?;
    b.file("etc/debian_version", 0o644, b"12.8\n")?;
    b.file("etc/issue", 0o644, b"Debian GNU/Linux 12 \\n \\l\n\n")?;
    b.file(
        "etc/motd",
        0o644,
        b"\nThe programs included with the Debian GNU/Linux system are free software.\n\n",
    )?;
    b.file("etc/timezone", 0o644, b"Etc/UTC\n")?;
    b.link(Path::new("/usr/share/zoneinfo/Etc/UTC"), "etc/localtime")?;
    b.link(Path::new("../proc/self/mounts"), "etc/mtab")?;
    let mid: String = (0..2).map(|_| format!("{:016x}", rng.next())).collect();
    b.file("etc/machine-id", 0o444, format!("{mid}\n").as_bytes())?;
    b.dir("etc/network", 0o755)?;
    b.file(
        "etc/network/interfaces",
        0o644,
        b"source /etc/network/interfaces.d/*\n\nauto lo\niface lo inet loopback\n\nallow-hotplug eth0\niface eth0 inet dhcp\n",
    )?;
    b.dir("etc/ssh", 0o755)?;
    b.file(
        "etc/ssh/sshd_config",
        0o644,
        b"Include /etc/ssh/sshd_config.d/*.conf\nPermitRootLogin prohibit-password\nKbdInteractiveAuthentication no\nUsePAM yes\nX11Forwarding yes\nPrintMotd no\nAcceptEnv LANG LC_*\nSubsystem sftp /usr/lib/openssh/sftp-server\n",
    )?;
    b.dir("root/.ssh", 0o700)?;
    b.file("root/.bashrc", 0o644, b"# ~/.bashrc: executed by bash(1) for non-login shells.\nexport PS1='\\h:\\w\\$ '\numask 022\n")?;
    b.file("root/.profile", 0o644, b"if [ \"$BASH\" ]; then\n  if [ -f ~/.bashrc ]; then . ~/.bashrc; fi\nfi\nmesg n 2> /dev/null || true\n")?;
    b.dir("home/admin", 0o755)?;
    let home = b.path("home/admin");
    lchown(&home, Some(b.uid + 1000), Some(b.gid + 1000)).map_err(io_err("chown", &home))?;

    // The dynamic loader's cache and config, and the alternatives symlinks that many
    // /usr/bin entries point to: needed for programs to run, nothing sensitive.
    for name in ["ld.so.cache", "ld.so.conf"] {
        let src = Path::new("/etc").join(name);
        if let Ok(data) = fs::read(&src) {
            b.file(&format!("etc/{name}"), 0o644, &data)?;
        }
    }
    copy_conf_dir(b, "ld.so.conf.d", true)?;
    copy_conf_dir(b, "alternatives", false)?;
    Ok(())
}

/// Copies /etc/<name>: symlinks always, regular files only when `files`.
fn copy_conf_dir(b: &Base<'_>, name: &str, files: bool) -> Result<(), Error> {
    let src = Path::new("/etc").join(name);
    let Ok(rd) = fs::read_dir(&src) else {
        return Ok(());
    };
    b.dir(&format!("etc/{name}"), 0o755)?;
    for entry in rd.flatten() {
        let Ok(ft) = entry.file_type() else { continue };
        let file_name = entry.file_name();
        let Some(fname) = file_name.to_str() else {
            continue;
        };
        let rel = format!("etc/{name}/{fname}");
        if ft.is_symlink() {
            if let Ok(target) = fs::read_link(entry.path()) {
                b.link(&target, &rel)?;
            }
        } else if ft.is_file()
            && files
            && let Ok(data) = fs::read(entry.path())
        {
            b.file(&rel, 0o644, &data)?;
        }
    }
    Ok(())
}

/// Checks that `p` is an absolute, normal path inside the sandbox that does not land
/// on a read-only or virtual mount; returns it relative.
pub(crate) fn sandbox_rel(p: &Path) -> Result<PathBuf, Error> {
    if !p.is_absolute() {
        return Err(Error::InvalidConfig(format!(
            "sandbox path {} is not absolute",
            p.display()
        )));
    }
    let mut rel = PathBuf::new();
    for c in p.components() {
        match c {
            Component::RootDir => {}
            Component::Normal(n) => rel.push(n),
            _ => {
                return Err(Error::InvalidConfig(format!(
                    "sandbox path {} has . or .. components",
                    p.display()
                )));
            }
        }
    }
    let first = rel
        .components()
        .next()
        .and_then(|c| c.as_os_str().to_str())
        .unwrap_or("");
    if rel.as_os_str().is_empty()
        || SYSTEM_DIRS.contains(&first)
        || ["proc", "sys", "dev"].contains(&first)
    {
        return Err(Error::InvalidConfig(format!(
            "sandbox path {} is not on the writable overlay (/usr, /bin, /lib*, /sbin, /proc, /sys, /dev are not)",
            p.display()
        )));
    }
    Ok(rel)
}

fn install(b: &Base<'_>, f: &InstallFile) -> Result<(), Error> {
    let rel = sandbox_rel(&f.sandbox_path)?;
    // Create missing parents, owned by the sandbox's root.
    let mut cur = PathBuf::new();
    let comps: Vec<_> = rel.components().collect();
    for c in comps.iter().take(comps.len().saturating_sub(1)) {
        cur.push(c);
        let p = b.lower.join(&cur);
        match fs::symlink_metadata(&p) {
            Ok(m) if m.is_dir() => {}
            Ok(_) => {
                return Err(Error::InvalidConfig(format!(
                    "cannot install {}: /{} is not a directory",
                    f.sandbox_path.display(),
                    cur.display()
                )));
            }
            Err(_) => {
                fs::create_dir(&p).map_err(io_err("creating", &p))?;
                b.own(&p, 0)?;
            }
        }
    }
    let dst = b.lower.join(&rel);
    if fs::symlink_metadata(&dst).is_ok() {
        fs::remove_file(&dst).map_err(io_err("replacing", &dst))?;
    }
    fs::copy(&f.host_path, &dst).map_err(io_err("copying into the sandbox", &f.host_path))?;
    fs::set_permissions(&dst, fs::Permissions::from_mode(f.mode & 0o7777))
        .map_err(io_err("chmod", &dst))?;
    b.own(&dst, 0)
}

/// The mount plan the sandbox init runs (inside its own mount namespace).
pub(crate) fn mount_ops(
    layout: &Layout,
    binds: &[String],
    ro_binds: &[RoBind],
    binfmt: &[String],
    sysfs: bool,
) -> Result<(Vec<Op>, Vec<String>), Error> {
    let mut ops = Vec::new();
    let mut desc = Vec::new();
    let r = &layout.root;
    let mut push = |op: Op, d: String| {
        ops.push(op);
        desc.push(d);
    };
    let c = |s: &str| {
        CString::new(s).map_err(|_| Error::InvalidConfig(format!("{s:?} contains a NUL byte")))
    };

    push(
        Op::Mount {
            src: None,
            target: c("/")?,
            fstype: None,
            flags: libc::MS_REC | libc::MS_PRIVATE,
            data: None,
        },
        "making the sandbox's mounts private".into(),
    );
    for p in [&layout.lower, &layout.upper, &layout.work] {
        if p.as_os_str()
            .as_bytes()
            .iter()
            .any(|&ch| ch == b',' || ch == b':')
        {
            return Err(Error::InvalidConfig(format!(
                "work directory path {} contains ',' or ':' (overlayfs cannot take it)",
                p.display()
            )));
        }
    }
    let data = format!(
        "lowerdir={},upperdir={},workdir={},userxattr",
        layout.lower.display(),
        layout.upper.display(),
        layout.work.display()
    );
    push(
        Op::Mount {
            src: Some(c("overlay")?),
            target: cstr(r)?,
            fstype: Some(c("overlay")?),
            flags: libc::MS_NOSUID | libc::MS_NODEV,
            data: Some(c(&data)?),
        },
        format!("mounting the overlay root ({data})"),
    );
    for name in binds {
        let src = Path::new("/").join(name);
        let target = r.join(name);
        let locked = crate::sys::locked_mount_flags(&src).map_err(io_err("statvfs", &src))?;
        push(
            Op::Mount {
                src: Some(cstr(&src)?),
                target: cstr(&target)?,
                fstype: None,
                flags: libc::MS_BIND | libc::MS_REC,
                data: None,
            },
            format!("bind-mounting {}", src.display()),
        );
        push(
            Op::Mount {
                src: None,
                target: cstr(&target)?,
                fstype: None,
                flags: libc::MS_REMOUNT
                    | libc::MS_BIND
                    | libc::MS_RDONLY
                    | libc::MS_NOSUID
                    | libc::MS_NODEV
                    | locked,
                data: None,
            },
            format!("making {} read-only", src.display()),
        );
    }
    for rb in ro_binds {
        let rel = sandbox_rel(&rb.sandbox_path)?;
        let target = r.join(rel);
        let locked = crate::sys::locked_mount_flags(&rb.host_path)
            .map_err(io_err("statvfs", &rb.host_path))?;
        push(
            Op::Mount {
                src: Some(cstr(&rb.host_path)?),
                target: cstr(&target)?,
                fstype: None,
                flags: libc::MS_BIND | libc::MS_REC,
                data: None,
            },
            format!(
                "bind-mounting {} at {}",
                rb.host_path.display(),
                rb.sandbox_path.display()
            ),
        );
        push(
            Op::Mount {
                src: None,
                target: cstr(&target)?,
                fstype: None,
                flags: libc::MS_REMOUNT
                    | libc::MS_BIND
                    | libc::MS_RDONLY
                    | libc::MS_NOSUID
                    | libc::MS_NODEV
                    | locked,
                data: None,
            },
            format!("making {} read-only", rb.sandbox_path.display()),
        );
    }
    let proc_ = r.join("proc");
    push(
        Op::Mount {
            src: Some(c("proc")?),
            target: cstr(&proc_)?,
            fstype: Some(c("proc")?),
            flags: libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC,
            data: None,
        },
        "mounting /proc".into(),
    );
    // /proc/1/cmdline would show the host program that cloned init; cover it.
    push(
        Op::Mount {
            src: Some(cstr(&layout.init_cmdline)?),
            target: cstr(&proc_.join("1/cmdline"))?,
            fstype: None,
            flags: libc::MS_BIND,
            data: None,
        },
        "covering /proc/1/cmdline".into(),
    );
    let proc_sys = proc_.join("sys");
    push(
        Op::Mount {
            src: Some(cstr(&proc_sys)?),
            target: cstr(&proc_sys)?,
            fstype: None,
            flags: libc::MS_BIND | libc::MS_REC,
            data: None,
        },
        "bind-mounting /proc/sys".into(),
    );
    push(
        Op::Mount {
            src: None,
            target: cstr(&proc_sys)?,
            fstype: None,
            flags: libc::MS_REMOUNT
                | libc::MS_BIND
                | libc::MS_RDONLY
                | libc::MS_NOSUID
                | libc::MS_NODEV
                | libc::MS_NOEXEC
                | libc::MS_RELATIME,
            data: None,
        },
        "making /proc/sys read-only".into(),
    );
    if sysfs {
        push(
            Op::Mount {
                src: Some(c("sysfs")?),
                target: cstr(&r.join("sys"))?,
                fstype: Some(c("sysfs")?),
                flags: libc::MS_RDONLY | libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC,
                data: None,
            },
            "mounting /sys".into(),
        );
    }
    let dev = r.join("dev");
    push(
        Op::Mount {
            src: Some(c("tmpfs")?),
            target: cstr(&dev)?,
            fstype: Some(c("tmpfs")?),
            flags: libc::MS_NOSUID | libc::MS_NOEXEC,
            data: Some(c("mode=755,size=1m,nr_inodes=1024")?),
        },
        "mounting /dev".into(),
    );
    for d in DEVICES {
        let host = Path::new("/dev").join(d);
        if fs::metadata(&host).is_err() {
            continue;
        }
        let t = dev.join(d);
        push(
            Op::Touch {
                path: cstr(&t)?,
                mode: 0o666,
            },
            format!("creating /dev/{d}"),
        );
        push(
            Op::Mount {
                src: Some(cstr(&host)?),
                target: cstr(&t)?,
                fstype: None,
                flags: libc::MS_BIND,
                data: None,
            },
            format!("bind-mounting /dev/{d}"),
        );
    }
    let pts = dev.join("pts");
    push(
        Op::Mkdir {
            path: cstr(&pts)?,
            mode: 0o755,
        },
        "creating /dev/pts".into(),
    );
    push(
        Op::Mount {
            src: Some(c("devpts")?),
            target: cstr(&pts)?,
            fstype: Some(c("devpts")?),
            flags: libc::MS_NOSUID | libc::MS_NOEXEC,
            data: Some(c("newinstance,ptmxmode=0666,mode=0620,gid=5")?),
        },
        "mounting /dev/pts".into(),
    );
    push(
        Op::Symlink {
            target: c("pts/ptmx")?,
            link: cstr(&dev.join("ptmx"))?,
        },
        "creating /dev/ptmx".into(),
    );
    let shm = dev.join("shm");
    push(
        Op::Mkdir {
            path: cstr(&shm)?,
            mode: 0o1777,
        },
        "creating /dev/shm".into(),
    );
    push(
        Op::Mount {
            src: Some(cstr(&layout.shm)?),
            target: cstr(&shm)?,
            fstype: None,
            flags: libc::MS_BIND,
            data: None,
        },
        "bind-mounting /dev/shm".into(),
    );
    for (name, target) in [
        ("fd", "/proc/self/fd"),
        ("stdin", "/proc/self/fd/0"),
        ("stdout", "/proc/self/fd/1"),
        ("stderr", "/proc/self/fd/2"),
        ("core", "/proc/kcore"),
    ] {
        push(
            Op::Symlink {
                target: c(target)?,
                link: cstr(&dev.join(name))?,
            },
            format!("creating /dev/{name}"),
        );
    }
    push(
        Op::PivotRoot { new_root: cstr(r)? },
        "pivoting into the sandbox root".into(),
    );
    if !binfmt.is_empty() {
        // After pivot_root, so that interpreter paths resolve in the sandbox's view.
        let mnt = c"/proc/sys/fs/binfmt_misc";
        let fl = libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC;
        push(
            Op::Mount {
                src: Some(c("binfmt_misc")?),
                target: mnt.to_owned(),
                fstype: Some(c("binfmt_misc")?),
                flags: fl,
                data: None,
            },
            "mounting the sandbox's own binfmt_misc (needs Linux >= 6.7)".into(),
        );
        for rule in binfmt {
            push(
                Op::WriteFile {
                    path: c"/proc/sys/fs/binfmt_misc/register".to_owned(),
                    data: rule.as_bytes().to_vec(),
                },
                format!("registering binfmt handler {rule:?}"),
            );
        }
        push(
            Op::Mount {
                src: None,
                target: mnt.to_owned(),
                fstype: None,
                flags: libc::MS_REMOUNT | libc::MS_BIND | libc::MS_RDONLY | fl,
                data: None,
            },
            "making binfmt_misc read-only".into(),
        );
    }
    Ok((ops, desc))
}
