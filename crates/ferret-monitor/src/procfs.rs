//! Process snapshots from /proc, read as soon as an event names a process: a short-lived
//! process may already be gone, and what could not be read is reported, never invented.

use std::fs;

use ferret_event::ProcInfo;

/// What /proc told about a process, and which parts were already gone.
#[derive(Debug, Default)]
pub struct Snapshot {
    /// The attributes read.
    pub info: ProcInfo,
    /// argv as read from `cmdline` (empty when gone).
    pub argv: Vec<String>,
    /// Names of the parts that could not be read (`exe`, `cmdline`, `cwd`, `status`).
    pub missing: Vec<&'static str>,
}

fn status_field<'a>(status: &'a str, key: &str) -> Option<&'a str> {
    status.lines().find_map(|l| {
        l.strip_prefix(key)
            .and_then(|r| r.strip_prefix(':'))
            .map(str::trim)
    })
}

/// Reads `/proc/PID/{exe,cmdline,cwd,status}`.
pub fn snapshot(pid: i64) -> Snapshot {
    let mut s = Snapshot::default();
    let base = format!("/proc/{pid}");
    match fs::read_link(format!("{base}/exe")) {
        Ok(p) => {
            let p = p.to_string_lossy().into_owned();
            s.info.exepath = Some(p);
        }
        Err(_) => s.missing.push("exe"),
    }
    match fs::read(format!("{base}/cmdline")) {
        Ok(b) if !b.is_empty() => {
            let b = b.strip_suffix(&[0]).unwrap_or(&b);
            s.argv = b
                .split(|c| *c == 0)
                .map(|a| String::from_utf8_lossy(a).into_owned())
                .collect();
            s.info.exe = s.argv.first().cloned();
            s.info.args = Some(s.argv.get(1..).map(<[String]>::to_vec).unwrap_or_default());
        }
        _ => s.missing.push("cmdline"),
    }
    match fs::read_link(format!("{base}/cwd")) {
        Ok(p) => s.info.cwd = Some(p.to_string_lossy().into_owned()),
        Err(_) => s.missing.push("cwd"),
    }
    match fs::read_to_string(format!("{base}/status")) {
        Ok(st) => {
            s.info.name = status_field(&st, "Name").map(str::to_owned);
            s.info.ppid = status_field(&st, "PPid").and_then(|v| v.parse().ok());
            s.info.uid = status_field(&st, "Uid")
                .and_then(|v| v.split_whitespace().next())
                .and_then(|v| v.parse().ok());
            s.info.gid = status_field(&st, "Gid")
                .and_then(|v| v.split_whitespace().next())
                .and_then(|v| v.parse().ok());
        }
        Err(_) => s.missing.push("status"),
    }
    if let Ok(l) = fs::read_to_string(format!("{base}/loginuid")) {
        s.info.loginuid = l.trim().parse().ok();
    }
    s
}

/// Pids of the processes running now.
pub fn pids() -> Vec<i64> {
    let Ok(rd) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    rd.filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .collect()
}

/// Peak resident set size (`VmHWM`) of this process, in KiB.
pub fn self_vm_hwm_kib() -> Option<u64> {
    let st = fs::read_to_string("/proc/self/status").ok()?;
    status_field(&st, "VmHWM")?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// The start time of `pid` (clock ticks since boot, field 22 of `stat`), which tells a
/// process from a later one reusing its pid.
pub fn start_time(pid: i64) -> Option<u64> {
    let st = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may hold spaces and parentheses: fields start after the last ')'.
    let rest = &st[st.rfind(')')? + 1..];
    rest.split_whitespace().nth(19)?.parse().ok()
}

/// The kernel's boot id, which tells a state file written before a reboot.
pub fn boot_id() -> String {
    fs::read_to_string("/proc/sys/kernel/random/boot_id")
        .map(|s| s.trim().to_owned())
        .unwrap_or_default()
}
