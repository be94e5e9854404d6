//! Per-task cgroups: memory, pids and cpu limits through cgroup v1 controllers or
//! cgroup v2 (whichever has the controller, detected from /proc/self/mountinfo), and the
//! v2 hierarchy's `cgroup.kill`/`cgroup.freeze` when present (hybrid systems mount a
//! controller-less v2 hierarchy that still offers both).

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::thread;
use std::time::{Duration, Instant};

use crate::{Error, Limits};

/// Where each controller we use is mounted, and the v2 mount if any.
#[derive(Debug, Default, Clone)]
struct Mounts {
    memory: Option<(PathBuf, String)>,
    pids: Option<(PathBuf, String)>,
    cpu: Option<(PathBuf, String)>,
    cpuacct: Option<(PathBuf, String)>,
    freezer: Option<(PathBuf, String)>,
    /// (mount point, mount root) of cgroup2.
    unified: Option<(PathBuf, String)>,
}

/// Undoes the `\040`-style octal escapes of /proc/self/mountinfo.
pub(crate) fn unescape(field: &str) -> String {
    let b = field.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while let Some(&c) = b.get(i) {
        if c == b'\\'
            && let Some(oct) = b.get(i + 1..i + 4)
            && oct.iter().all(|d| (b'0'..=b'7').contains(d))
        {
            let v = oct
                .iter()
                .fold(0u32, |acc, d| acc * 8 + u32::from(d - b'0'));
            out.push(v as u8);
            i += 4;
            continue;
        }
        out.push(c);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn parse_mountinfo(text: &str) -> Mounts {
    let mut m = Mounts::default();
    for line in text.lines() {
        let Some((left, right)) = line.split_once(" - ") else {
            continue;
        };
        let lf: Vec<&str> = left.split(' ').collect();
        let rf: Vec<&str> = right.split(' ').collect();
        let (Some(root), Some(mp), Some(fstype), Some(opts)) =
            (lf.get(3), lf.get(4), rf.first(), rf.get(2))
        else {
            continue;
        };
        let entry = (PathBuf::from(unescape(mp)), unescape(root));
        match *fstype {
            "cgroup2" => {
                m.unified.get_or_insert(entry);
            }
            "cgroup" => {
                for opt in opts.split(',') {
                    let slot = match opt {
                        "memory" => &mut m.memory,
                        "pids" => &mut m.pids,
                        "cpu" => &mut m.cpu,
                        "cpuacct" => &mut m.cpuacct,
                        "freezer" => &mut m.freezer,
                        _ => continue,
                    };
                    slot.get_or_insert_with(|| entry.clone());
                }
            }
            _ => {}
        }
    }
    m
}

/// Our own cgroup path per v1 controller name, and for v2 (key "").
fn own_cgroups(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for line in text.lines() {
        let mut it = line.splitn(3, ':');
        let (Some(_), Some(ctrls), Some(path)) = (it.next(), it.next(), it.next()) else {
            continue;
        };
        if ctrls.is_empty() {
            out.push((String::new(), path.to_owned()));
        } else {
            for c in ctrls.split(',') {
                out.push((c.to_owned(), path.to_owned()));
            }
        }
    }
    out
}

fn join_cgroup(mount: &(PathBuf, String), own: &str, name: &str) -> PathBuf {
    let (mp, root) = mount;
    let rel = if root != "/" {
        own.strip_prefix(root.as_str()).unwrap_or(own)
    } else {
        own
    };
    let mut p = mp.clone();
    for comp in rel.split('/').filter(|c| !c.is_empty() && *c != "..") {
        p.push(comp);
    }
    p.push(name);
    p
}

fn write_file(path: &Path, value: &str) -> Result<(), Error> {
    fs::write(path, value)
        .map_err(|e| Error::io(format!("writing {value:?} to {}", path.display()), e))
}

/// Reads `key N` from a flat-keyed cgroup file; 0 when absent.
fn read_key(path: &Path, key: &str) -> u64 {
    fs::read_to_string(path)
        .ok()
        .and_then(|t| {
            t.lines().find_map(|l| {
                let (k, v) = l.split_once(' ')?;
                (k == key).then(|| v.trim().parse().ok()).flatten()
            })
        })
        .unwrap_or(0)
}

fn read_u64(path: &Path) -> Option<u64> {
    fs::read_to_string(path).ok()?.trim().parse().ok()
}

/// Counters read at the end of a task.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Counters {
    pub oom_kills: u64,
    pub memory_limit_hits: u64,
    pub memory_peak_bytes: Option<u64>,
    pub pids_limit_hits: u64,
    pub cpu_time_ns: Option<u64>,
}

/// The task's cgroup directories.
#[derive(Debug)]
pub(crate) struct TaskCgroups {
    memory: PathBuf,
    memory_v2: bool,
    pids: PathBuf,
    cpu: Option<(PathBuf, bool)>,
    cpuacct: Option<PathBuf>,
    freezer: Option<PathBuf>,
    /// v2 directory used for cgroup.kill / cgroup.freeze (and controllers if any).
    unified: Option<PathBuf>,
    /// Every directory we created, in creation order.
    created: Vec<PathBuf>,
}

impl TaskCgroups {
    /// Creates the task's cgroups named `name` under our own cgroup in each hierarchy
    /// and applies `limits`.
    pub(crate) fn create(name: &str, limits: &Limits) -> Result<Self, Error> {
        let mountinfo = fs::read_to_string("/proc/self/mountinfo")
            .map_err(|e| Error::io("reading /proc/self/mountinfo", e))?;
        let own_text = fs::read_to_string("/proc/self/cgroup")
            .map_err(|e| Error::io("reading /proc/self/cgroup", e))?;
        let mounts = parse_mountinfo(&mountinfo);
        let own = own_cgroups(&own_text);
        let own_path = |ctrl: &str| {
            own.iter()
                .find(|(c, _)| c == ctrl)
                .map_or("/", |(_, p)| p.as_str())
                .to_owned()
        };

        // v2: usable for kill/freeze always; for controllers only if it has them.
        let mut v2_ctrls: Vec<String> = Vec::new();
        let unified_dir = mounts
            .unified
            .as_ref()
            .map(|u| join_cgroup(u, &own_path(""), name));
        if let (Some(u), Some(dir)) = (&mounts.unified, &unified_dir) {
            let parent = dir.parent().unwrap_or(&u.0);
            if let Ok(t) = fs::read_to_string(parent.join("cgroup.controllers")) {
                v2_ctrls = t.split_whitespace().map(str::to_owned).collect();
            }
        }
        let v2_has = |c: &str| v2_ctrls.iter().any(|x| x == c);

        let mut cg = TaskCgroups {
            memory: PathBuf::new(),
            memory_v2: false,
            pids: PathBuf::new(),
            cpu: None,
            cpuacct: None,
            freezer: None,
            unified: None,
            created: Vec::new(),
        };
        let result = cg.setup(&mounts, &own_path, unified_dir, &v2_has, name, limits);
        if let Err(e) = result {
            cg.remove();
            return Err(e);
        }
        Ok(cg)
    }

    fn mkdir(&mut self, dir: &Path) -> Result<(), Error> {
        fs::create_dir(dir)
            .map_err(|e| Error::io(format!("creating cgroup {}", dir.display()), e))?;
        self.created.push(dir.to_path_buf());
        Ok(())
    }

    fn setup(
        &mut self,
        mounts: &Mounts,
        own_path: &dyn Fn(&str) -> String,
        unified_dir: Option<PathBuf>,
        v2_has: &dyn Fn(&str) -> bool,
        name: &str,
        limits: &Limits,
    ) -> Result<(), Error> {
        let want_v2 =
            v2_has("memory") || v2_has("pids") || (limits.cpu_percent.is_some() && v2_has("cpu"));
        if let Some(dir) = unified_dir {
            self.mkdir(&dir)?;
            if want_v2 {
                // Controllers must be enabled in the parent's subtree_control first.
                if let Some(parent) = dir.parent() {
                    let mut enable = String::new();
                    for c in ["memory", "pids", "cpu"] {
                        if v2_has(c) {
                            enable.push_str(&format!("+{c} "));
                        }
                    }
                    let p = parent.join("cgroup.subtree_control");
                    // Ignore failure here: the checks below name the missing controller.
                    let _ = fs::write(&p, enable.trim_end());
                }
            }
            self.unified = Some(dir);
        }
        let unified = self.unified.clone();
        let unified_has = |file: &str| unified.as_ref().is_some_and(|d| d.join(file).exists());

        // memory
        if let Some(m) = &mounts.memory {
            let dir = join_cgroup(m, &own_path("memory"), name);
            self.mkdir(&dir)?;
            write_file(
                &dir.join("memory.limit_in_bytes"),
                &limits.memory_bytes.to_string(),
            )?;
            let memsw = dir.join("memory.memsw.limit_in_bytes");
            if memsw.exists() {
                write_file(&memsw, &limits.memory_bytes.to_string())?;
            }
            self.memory = dir;
        } else if unified_has("memory.max") {
            let dir = self.unified.clone().unwrap_or_default();
            write_file(&dir.join("memory.max"), &limits.memory_bytes.to_string())?;
            if dir.join("memory.swap.max").exists() {
                write_file(&dir.join("memory.swap.max"), "0")?;
            }
            self.memory = dir;
            self.memory_v2 = true;
        } else {
            return Err(Error::Unsupported(
                "no memory cgroup controller (v1 or v2) is available".into(),
            ));
        }

        // pids
        if let Some(m) = &mounts.pids {
            let dir = join_cgroup(m, &own_path("pids"), name);
            self.mkdir(&dir)?;
            self.pids = dir;
        } else if unified_has("pids.max") {
            self.pids = self.unified.clone().unwrap_or_default();
        } else {
            return Err(Error::Unsupported(
                "no pids cgroup controller (v1 or v2) is available".into(),
            ));
        }
        write_file(&self.pids.join("pids.max"), &limits.pids.to_string())?;

        // cpu (optional unless a quota is requested)
        if let Some(m) = &mounts.cpu {
            let dir = join_cgroup(m, &own_path("cpu"), name);
            if !self.created.contains(&dir) {
                self.mkdir(&dir)?;
            }
            self.cpu = Some((dir, false));
        } else if unified_has("cpu.max") {
            self.cpu = Some((self.unified.clone().unwrap_or_default(), true));
        }
        if let Some(pct) = limits.cpu_percent {
            let Some((dir, v2)) = &self.cpu else {
                return Err(Error::Unsupported(
                    "a CPU quota was requested but no cpu controller is available".into(),
                ));
            };
            let period = 100_000u64;
            let quota = period * u64::from(pct.max(1)) / 100;
            if *v2 {
                write_file(&dir.join("cpu.max"), &format!("{quota} {period}"))?;
            } else {
                write_file(&dir.join("cpu.cfs_period_us"), &period.to_string())?;
                write_file(&dir.join("cpu.cfs_quota_us"), &quota.to_string())?;
            }
        }
        if let Some(m) = &mounts.cpuacct {
            let dir = join_cgroup(m, &own_path("cpuacct"), name);
            if !self.created.contains(&dir) {
                self.mkdir(&dir)?;
            }
            self.cpuacct = Some(dir);
        }
        if let Some(m) = &mounts.freezer {
            let dir = join_cgroup(m, &own_path("freezer"), name);
            self.mkdir(&dir)?;
            self.freezer = Some(dir);
        }
        Ok(())
    }

    /// Every cgroup directory of the task (for leftover checks).
    pub(crate) fn dirs(&self) -> &[PathBuf] {
        &self.created
    }

    /// Moves process `pid` (host pid) into every task cgroup.
    pub(crate) fn add(&self, pid: i32) -> Result<(), Error> {
        for dir in &self.created {
            write_file(&dir.join("cgroup.procs"), &pid.to_string())?;
        }
        Ok(())
    }

    /// Host pids currently in the task (from the pids hierarchy).
    pub(crate) fn procs(&self) -> Vec<i32> {
        fs::read_to_string(self.pids.join("cgroup.procs"))
            .map(|t| t.lines().filter_map(|l| l.trim().parse().ok()).collect())
            .unwrap_or_default()
    }

    /// Freezes (true) or thaws (false) the task, waiting briefly for the state to settle.
    pub(crate) fn set_frozen(&self, frozen: bool) -> Result<(), Error> {
        if let Some(u) = &self.unified {
            let f = u.join("cgroup.freeze");
            if f.exists() {
                write_file(&f, if frozen { "1" } else { "0" })?;
                let want = if frozen { "frozen 1" } else { "frozen 0" };
                let until = Instant::now() + Duration::from_millis(500);
                while Instant::now() < until {
                    let ev = fs::read_to_string(u.join("cgroup.events")).unwrap_or_default();
                    if ev.lines().any(|l| l == want) {
                        break;
                    }
                    thread::sleep(Duration::from_millis(2));
                }
                return Ok(());
            }
        }
        if let Some(fz) = &self.freezer {
            let state = fz.join("freezer.state");
            write_file(&state, if frozen { "FROZEN" } else { "THAWED" })?;
            let until = Instant::now() + Duration::from_millis(500);
            while frozen && Instant::now() < until {
                if fs::read_to_string(&state).is_ok_and(|s| s.trim() == "FROZEN") {
                    break;
                }
                thread::sleep(Duration::from_millis(2));
            }
        }
        Ok(())
    }

    /// Sends SIGKILL to every process of the task: `cgroup.kill` when available, and
    /// a SIGKILL per listed pid in any case (the only way on pure v1 hosts; the task is
    /// frozen meanwhile, so the list cannot grow).
    pub(crate) fn kill_all(&self) -> Result<(), Error> {
        if let Some(u) = &self.unified {
            let k = u.join("cgroup.kill");
            if k.exists() {
                write_file(&k, "1")?;
            }
        }
        for pid in self.procs() {
            crate::sys::kill(pid, libc::SIGKILL)
                .map_err(|e| Error::io(format!("killing pid {pid}"), e))?;
        }
        Ok(())
    }

    /// Waits until no process is left in the task; false on timeout.
    pub(crate) fn wait_empty(&self, timeout: Duration) -> bool {
        let until = Instant::now() + timeout;
        loop {
            if self.procs().is_empty() {
                return true;
            }
            if Instant::now() >= until {
                return false;
            }
            thread::sleep(Duration::from_millis(2));
        }
    }

    /// Reads the limit-hit counters.
    pub(crate) fn counters(&self) -> Counters {
        let mut c = Counters::default();
        if self.memory_v2 {
            c.oom_kills = read_key(&self.memory.join("memory.events"), "oom_kill");
            c.memory_limit_hits = read_key(&self.memory.join("memory.events"), "max");
            c.memory_peak_bytes = read_u64(&self.memory.join("memory.peak"));
        } else {
            c.oom_kills = read_key(&self.memory.join("memory.oom_control"), "oom_kill");
            c.memory_limit_hits = read_u64(&self.memory.join("memory.failcnt")).unwrap_or(0);
            c.memory_peak_bytes = read_u64(&self.memory.join("memory.max_usage_in_bytes"));
        }
        c.pids_limit_hits = read_key(&self.pids.join("pids.events"), "max");
        c.cpu_time_ns = if let Some(a) = &self.cpuacct {
            read_u64(&a.join("cpuacct.usage"))
        } else {
            self.cpu
                .as_ref()
                .filter(|(_, v2)| *v2)
                .map(|(d, _)| read_key(&d.join("cpu.stat"), "usage_usec") * 1000)
        };
        c
    }

    /// Removes every task cgroup directory; returns the ones that could not be removed.
    pub(crate) fn remove(&mut self) -> Vec<(PathBuf, io::Error)> {
        let mut failed = Vec::new();
        for dir in self.created.drain(..).rev() {
            let mut last = None;
            // A cgroup stays busy for a moment after its last task is reaped.
            for _ in 0..200 {
                match fs::remove_dir(&dir) {
                    Ok(()) => {
                        last = None;
                        break;
                    }
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {
                        last = None;
                        break;
                    }
                    Err(e) => last = Some(e),
                }
                thread::sleep(Duration::from_millis(5));
            }
            if let Some(e) = last {
                failed.push((dir, e));
            }
        }
        failed
    }
}

/// Kills every process of a leftover task cgroup directory and removes it.
pub(crate) fn kill_and_remove(dir: &Path) -> Result<(), String> {
    if !dir.exists() {
        return Ok(());
    }
    let kill = dir.join("cgroup.kill");
    if kill.exists() {
        let _ = fs::write(&kill, "1");
    }
    let until = Instant::now() + Duration::from_secs(5);
    loop {
        let procs: Vec<i32> = fs::read_to_string(dir.join("cgroup.procs"))
            .map(|t| t.lines().filter_map(|l| l.trim().parse().ok()).collect())
            .unwrap_or_default();
        if procs.is_empty() {
            break;
        }
        if Instant::now() >= until {
            return Err(format!("{}: processes {procs:?} do not die", dir.display()));
        }
        for pid in procs {
            let _ = crate::sys::kill(pid, libc::SIGKILL);
        }
        thread::sleep(Duration::from_millis(5));
    }
    for _ in 0..200 {
        match fs::remove_dir(dir) {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(_) => thread::sleep(Duration::from_millis(5)),
        }
    }
    fs::remove_dir(dir).map_err(|e| format!("removing {}: {e}", dir.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_hybrid_mountinfo() {
        let text = "32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu\n\
                    35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory\n\
                    39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids\n\
                    41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n\
                    50 31 0:40 / /sys/fs/cgroup/cpu\\040x rw - cgroup cgroup rw,cpuacct\n";
        let m = parse_mountinfo(text);
        assert_eq!(m.memory.unwrap().0, PathBuf::from("/sys/fs/cgroup/memory"));
        assert_eq!(
            m.unified.unwrap().0,
            PathBuf::from("/sys/fs/cgroup/unified")
        );
        assert_eq!(m.cpuacct.unwrap().0, PathBuf::from("/sys/fs/cgroup/cpu x"));
        assert!(m.freezer.is_none());
        let own = own_cgroups("4:memory:/a/b\n1:cpu,cpuacct:/\n0::/\n");
        assert!(own.contains(&("memory".into(), "/a/b".into())));
        assert!(own.contains(&("cpuacct".into(), "/".into())));
        assert!(own.contains(&(String::new(), "/".into())));
        let p = join_cgroup(&(PathBuf::from("/m"), "/".into()), "/a/b", "t");
        assert_eq!(p, PathBuf::from("/m/a/b/t"));
    }
}
