//! File-system path detection and classification.
//!
//! A path starts at a token boundary (start of string, blank, quote, `= > < (
//! , ; : | & \` [ { !`, the last for `#!/bin/sh`) with `/`, `~/` or `$HOME/`, and runs over path
//! characters (letters, digits, `. _ - + / ~ @ % *`; `%` keeps templates such
//! as `/proc/%d/cmdline`). To keep random bytes of code out, a one-component
//! absolute path must be a well-known top-level directory (`/tmp`, `/etc`,
//! ...), and the first component of longer paths must have at least two bytes
//! of `[A-Za-z0-9._-]` including a letter. Home-relative sensitive names
//! (`.ssh/authorized_keys`, `.bash_history`, `.bashrc`, ...) are also paths
//! when they stand alone.

use serde::Serialize;

/// Why a path matters to an analyst.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PathCategory {
    /// Account and key material: `/etc/shadow`, `.ssh/authorized_keys`, ...
    Credentials,
    /// Autostart locations: cron, init scripts, systemd units, shell rc
    /// files, `/etc/ld.so.preload`, ...
    Persistence,
    /// World-writable drop locations: `/tmp`, `/var/tmp`, `/dev/shm`, `/run`.
    Staging,
    /// Device nodes: `/dev/watchdog`, `/dev/null`, `/dev/tcp/...`.
    Devices,
    /// procfs: `/proc/self/exe`, `/proc/net/tcp`, `/proc/<pid>/cmdline`.
    Proc,
    /// Logs and login records: `/var/log/...`, `utmp`/`wtmp`.
    Logs,
    /// Executables in the system binary directories: `/bin/busybox`,
    /// `/usr/bin/wget`.
    Tools,
}

const TOP_DIRS: &[&str] = &[
    "tmp", "etc", "bin", "sbin", "usr", "var", "dev", "proc", "sys", "run", "root", "home", "lib",
    "lib32", "lib64", "opt", "boot", "mnt", "srv", "media",
];

/// Home-relative names that are paths even without a leading `/`.
const HOME_NAMES: &[&str] = &[
    ".ssh/",
    ".bash_history",
    ".bashrc",
    ".bash_profile",
    ".bash_login",
    ".profile",
    ".zshrc",
    ".netrc",
    ".git-credentials",
    ".aws/credentials",
    ".config/autostart",
];

#[inline]
fn boundary(b: u8) -> bool {
    matches!(
        b,
        b' ' | b'\t'
            | b'!'
            | b'"'
            | b'\''
            | b'='
            | b'>'
            | b'<'
            | b'('
            | b','
            | b';'
            | b':'
            | b'|'
            | b'&'
            | b'`'
            | b'['
            | b'{'
    )
}

#[inline]
fn path_char(b: u8) -> bool {
    b.is_ascii_alphanumeric()
        || matches!(
            b,
            b'.' | b'_' | b'-' | b'+' | b'/' | b'~' | b'@' | b'%' | b'*'
        )
}

/// Calls `emit(index, path)` for every path in `s`.
pub(crate) fn scan_paths<'s>(s: &'s [u8], mut emit: impl FnMut(usize, &'s str)) {
    let mut i = 0;
    while i < s.len() {
        let c = s[i];
        if !(c == b'/' || c == b'~' || c == b'$' || c == b'.') || (i > 0 && !boundary(s[i - 1])) {
            i += 1;
            continue;
        }
        let rest = &s[i..];
        let body_from = if c == b'/' {
            if rest.get(1) == Some(&b'/') {
                i += 2;
                continue;
            }
            Some(0)
        } else if rest.starts_with(b"~/") {
            Some(2)
        } else if rest.starts_with(b"$HOME/") {
            Some(6)
        } else if c == b'.' && HOME_NAMES.iter().any(|n| rest.starts_with(n.as_bytes())) {
            Some(0)
        } else {
            None
        };
        let Some(body_from) = body_from else {
            i += 1;
            continue;
        };
        let mut end = i + body_from;
        while end < s.len() && path_char(s[end]) {
            end += 1;
        }
        while end > i + body_from && matches!(s[end - 1], b'.' | b',') {
            end -= 1;
        }
        let tok = &s[i..end];
        if plausible(c, tok, body_from)
            && let Ok(p) = std::str::from_utf8(tok)
        {
            emit(i, p);
        }
        i = end.max(i + 1);
    }
}

fn plausible(first: u8, tok: &[u8], body_from: usize) -> bool {
    if tok.len() > 4096 {
        return false;
    }
    if first != b'/' {
        // "~/x", "$HOME/x" and home names: need a name after the prefix.
        return tok
            .get(body_from..)
            .is_some_and(|b| b.iter().any(u8::is_ascii_alphabetic));
    }
    if !tok.iter().any(u8::is_ascii_alphabetic) {
        return false;
    }
    let body = &tok[1..];
    let mut comps = body.split(|&b| b == b'/');
    let head = comps.next().unwrap_or_default();
    let more = body.contains(&b'/');
    if !more {
        return TOP_DIRS.iter().any(|d| d.as_bytes() == head);
    }
    head.len() >= 2
        && head
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
        && head.iter().any(u8::is_ascii_alphabetic)
}

/// `true` when `path` is `dir` or inside it.
fn under(path: &str, dir: &str) -> bool {
    match path.strip_prefix(dir) {
        Some(rest) => rest.is_empty() || rest.starts_with('/') || dir.ends_with('/'),
        None => false,
    }
}

/// Part of a home-relative path after `~/`, `$HOME/` or `/home/<user>/` or
/// `/root/`, for matching dot-files wherever the home directory is.
fn home_relative(path: &str) -> Option<&str> {
    if let Some(r) = path
        .strip_prefix("~/")
        .or_else(|| path.strip_prefix("$HOME/"))
    {
        return Some(r);
    }
    if let Some(r) = path.strip_prefix("/root/") {
        return Some(r);
    }
    if let Some(r) = path.strip_prefix("/home/") {
        return r.split_once('/').map(|(_, tail)| tail);
    }
    path.starts_with('.').then_some(path)
}

const CREDENTIAL_FILES: &[&str] = &[
    "/etc/passwd",
    "/etc/shadow",
    "/etc/gshadow",
    "/etc/master.passwd",
    "/etc/security/opasswd",
];
const CREDENTIAL_HOME: &[&str] = &[
    ".bash_history",
    ".zsh_history",
    ".mysql_history",
    ".netrc",
    ".git-credentials",
    ".aws/credentials",
    ".ssh/authorized_keys",
    ".ssh/authorized_keys2",
    ".ssh/known_hosts",
];
const PERSISTENCE_DIRS: &[&str] = &[
    "/etc/crontab",
    "/var/spool/cron",
    "/etc/init.d",
    "/etc/rc.local",
    "/etc/rc.d",
    "/etc/systemd/system",
    "/etc/systemd/user",
    "/lib/systemd/system",
    "/usr/lib/systemd/system",
    "/usr/lib/systemd/user",
    "/etc/profile",
    "/etc/profile.d",
    "/etc/bash.bashrc",
    "/etc/bashrc",
    "/etc/ld.so.preload",
    "/etc/inittab",
    "/etc/init",
    "/etc/xdg/autostart",
    "/etc/update-motd.d",
    "/etc/modules",
    "/etc/modules-load.d",
];
const PERSISTENCE_HOME: &[&str] = &[
    ".bashrc",
    ".bash_profile",
    ".bash_login",
    ".bash_logout",
    ".profile",
    ".zshrc",
    ".config/autostart",
    ".config/systemd/user",
];
const LOG_FILES: &[&str] = &["/var/log", "/var/run/utmp", "/run/utmp", "/var/adm"];
const STAGING_DIRS: &[&str] = &["/tmp", "/var/tmp", "/dev/shm", "/run", "/var/run"];
const TOOL_DIRS: &[&str] = &[
    "/bin/",
    "/sbin/",
    "/usr/bin/",
    "/usr/sbin/",
    "/usr/local/bin/",
    "/usr/local/sbin/",
];

/// Classifies a path; `None` when it is not in any sensitive group.
pub(crate) fn categorize(path: &str) -> Option<PathCategory> {
    if let Some(rel) = home_relative(path) {
        if CREDENTIAL_HOME.iter().any(|h| under(rel, h)) || rel.starts_with(".ssh/id_") {
            return Some(PathCategory::Credentials);
        }
        if PERSISTENCE_HOME.iter().any(|h| under(rel, h)) {
            return Some(PathCategory::Persistence);
        }
    }
    if CREDENTIAL_FILES.iter().any(|f| under(path, f)) || path.starts_with("/etc/sudoers") {
        return Some(PathCategory::Credentials);
    }
    if PERSISTENCE_DIRS.iter().any(|d| under(path, d))
        || path.starts_with("/etc/cron")
        || is_rc_dir(path)
    {
        return Some(PathCategory::Persistence);
    }
    if LOG_FILES.iter().any(|d| under(path, d))
        || path.ends_with("/wtmp")
        || path.ends_with("/btmp")
        || path.ends_with("/lastlog")
    {
        return Some(PathCategory::Logs);
    }
    if under(path, "/proc") {
        return Some(PathCategory::Proc);
    }
    if STAGING_DIRS.iter().any(|d| under(path, d)) {
        return Some(PathCategory::Staging);
    }
    if under(path, "/dev") {
        return Some(PathCategory::Devices);
    }
    if let Some(dir) = TOOL_DIRS.iter().find(|d| path.starts_with(**d)) {
        let name = path.get(dir.len()..).unwrap_or_default();
        if !name.is_empty() && !name.contains('/') {
            return Some(PathCategory::Tools);
        }
    }
    None
}

/// `/etc/rc0.d` .. `/etc/rc6.d`, `/etc/rcS.d` and globs like `/etc/rc*.d`.
fn is_rc_dir(path: &str) -> bool {
    let Some(rest) = path.strip_prefix("/etc/rc") else {
        return false;
    };
    let dir = rest.split('/').next().unwrap_or_default();
    match dir.strip_suffix(".d") {
        Some(mid) => {
            mid.len() == 1 && matches!(mid.as_bytes()[0], b'0'..=b'6' | b'S' | b's' | b'*')
        }
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn paths(s: &str) -> Vec<&str> {
        let mut out = Vec::new();
        scan_paths(s.as_bytes(), |_, p| out.push(p));
        out
    }

    #[test]
    fn finds_paths_in_context() {
        assert_eq!(
            paths("cd /tmp || cd /var/run; rm -rf /tmp/*"),
            ["/tmp", "/var/run", "/tmp/*"]
        );
        assert_eq!(paths("PATH=/bin:/usr/bin"), ["/bin", "/usr/bin"]);
        assert_eq!(paths("echo x >>/etc/rc.local"), ["/etc/rc.local"]);
        assert_eq!(paths("open(\"/proc/%d/cmdline\")"), ["/proc/%d/cmdline"]);
        assert_eq!(paths("cat ~/.ssh/id_rsa."), ["~/.ssh/id_rsa"]);
        assert_eq!(paths("$HOME/.bashrc"), ["$HOME/.bashrc"]);
        assert_eq!(paths(".bash_history"), [".bash_history"]);
        assert_eq!(paths("/etc/init.d/"), ["/etc/init.d/"]);
        assert_eq!(paths("#!/bin/sh"), ["/bin/sh"]);
    }

    #[test]
    fn rejects_noise_and_urls() {
        for s in [
            "http://example.com/bins/x86",
            "a/b/c",
            "/x",
            "/%s",
            "/Zq",
            "/$HQ",
            "1/2",
            "//server/share",
            "/.",
            "/9/8",
            "and/or",
            ".hidden",
            "./x.sh",
        ] {
            assert!(paths(s).is_empty(), "{s:?} gave {:?}", paths(s));
        }
    }

    #[test]
    fn categories() {
        use PathCategory::*;
        let cases: &[(&str, Option<PathCategory>)] = &[
            ("/etc/passwd", Some(Credentials)),
            ("/etc/shadow", Some(Credentials)),
            ("/etc/sudoers", Some(Credentials)),
            ("/etc/sudoers.d/90-cloud", Some(Credentials)),
            ("/root/.ssh/authorized_keys", Some(Credentials)),
            ("~/.ssh/id_rsa", Some(Credentials)),
            ("/home/pi/.ssh/id_ed25519", Some(Credentials)),
            (".bash_history", Some(Credentials)),
            ("/etc/crontab", Some(Persistence)),
            ("/etc/cron.d/0anacron", Some(Persistence)),
            ("/etc/cron.hourly", Some(Persistence)),
            ("/var/spool/cron/crontabs/root", Some(Persistence)),
            ("/etc/init.d/", Some(Persistence)),
            ("/etc/init.d/S99bot", Some(Persistence)),
            ("/etc/rc.local", Some(Persistence)),
            ("/etc/rc3.d/S01x", Some(Persistence)),
            ("/etc/rc*.d", Some(Persistence)),
            ("/etc/systemd/system/bot.service", Some(Persistence)),
            ("/lib/systemd/system/x.service", Some(Persistence)),
            ("/root/.bashrc", Some(Persistence)),
            ("~/.profile", Some(Persistence)),
            ("/etc/profile", Some(Persistence)),
            ("/etc/ld.so.preload", Some(Persistence)),
            ("/tmp", Some(Staging)),
            ("/tmp/.x/bot", Some(Staging)),
            ("/var/tmp", Some(Staging)),
            ("/dev/shm/x", Some(Staging)),
            ("/run", Some(Staging)),
            ("/dev/watchdog", Some(Devices)),
            ("/dev/misc/watchdog", Some(Devices)),
            ("/dev/null", Some(Devices)),
            ("/proc/self/exe", Some(Proc)),
            ("/proc/net/tcp", Some(Proc)),
            ("/proc/%d/cmdline", Some(Proc)),
            ("/proc/cpuinfo", Some(Proc)),
            ("/var/log/auth.log", Some(Logs)),
            ("/var/run/utmp", Some(Logs)),
            ("/var/log/wtmp", Some(Logs)),
            ("/bin/busybox", Some(Tools)),
            ("/usr/bin/wget", Some(Tools)),
            ("/usr/share/doc", None),
            ("/etc/hosts", None),
            ("/etc/rcx.d", None),
            ("/etc/profiles", None),
            ("/runner", None),
            ("/tmpfoo", None),
        ];
        for (p, want) in cases {
            assert_eq!(categorize(p), *want, "{p}");
        }
    }
}
