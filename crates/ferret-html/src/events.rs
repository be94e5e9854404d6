//! One pass over events.jsonl: the events embedded in the page (the first ones, within
//! a count and a byte budget), the activity timeline of all of them, and the
//! architecture each process ran as. Lines are parsed only as far as needed: past the
//! embedded ones, only `ts`, `type`, `pid` (and `args` of `procexec`).

use std::borrow::Cow;
use std::collections::HashMap;

use serde::Deserialize;
use serde_json::Value;
use serde_json::value::RawValue;

/// Timeline categories, in drawing order.
pub(crate) const CATEGORIES: [&str; 5] = ["process", "file", "network", "memory", "other"];

/// The category of an event type (index into [`CATEGORIES`]).
pub(crate) fn category(ty: &str) -> usize {
    match ty {
        "clone" | "clone3" | "fork" | "vfork" | "execve" | "execveat" | "procexec" | "procexit"
        | "exit" | "exit_group" | "kill" | "tkill" | "tgkill" | "prctl" | "ptrace" | "setsid"
        | "setpgid" | "wait4" | "waitid" | "setuid" | "setgid" | "setreuid" | "setresuid"
        | "setregid" | "setresgid" | "capset" | "unshare" | "setns" | "pidfd_open" => 0,
        "socket" | "socketpair" | "connect" | "bind" | "listen" | "accept" | "accept4"
        | "sendto" | "sendmsg" | "sendmmsg" | "recvfrom" | "recvmsg" | "recvmmsg" | "shutdown"
        | "setsockopt" | "getsockopt" | "getsockname" | "getpeername" | "flow" | "dns" | "http" => {
            2
        }
        "mmap" | "mmap2" | "mprotect" | "munmap" | "mremap" | "brk" | "memfd_create"
        | "process_vm_readv" | "process_vm_writev" | "madvise" | "pkey_mprotect" => 3,
        t if t.starts_with("open")
            || t.starts_with("creat")
            || t.starts_with("unlink")
            || t.starts_with("rename")
            || t.starts_with("chmod")
            || t.starts_with("fchmod")
            || t.starts_with("chown")
            || t.starts_with("fchown")
            || t.starts_with("lchown")
            || t.starts_with("mkdir")
            || t.starts_with("rmdir")
            || t.starts_with("link")
            || t.starts_with("symlink")
            || t.starts_with("truncate")
            || t.starts_with("ftruncate")
            || t.starts_with("mount")
            || t.starts_with("umount")
            || t.starts_with("chdir")
            || t.starts_with("fchdir")
            || t.starts_with("utime")
            || t.starts_with("setxattr")
            || t.starts_with("write")
            || t.starts_with("pwrite")
            || t.starts_with("read")
            || t.starts_with("pread")
            || t.starts_with("getdents")
            || matches!(
                t,
                "close"
                    | "create"
                    | "modify"
                    | "delete"
                    | "moved_from"
                    | "moved_to"
                    | "attrib"
                    | "sendfile"
                    | "copy_file_range"
                    | "splice"
            ) =>
        {
            1
        }
        _ => 4,
    }
}

#[derive(Deserialize)]
struct Head<'a> {
    #[serde(default)]
    ts: u64,
    #[serde(rename = "type", borrow, default)]
    ty: Option<Cow<'a, str>>,
    #[serde(default)]
    pid: i64,
    #[serde(borrow, default)]
    args: Option<&'a RawValue>,
}

/// What the page needs from events.jsonl.
#[derive(Debug, Default)]
pub(crate) struct Scan {
    /// The first events, as parsed (long values shortened, see [`shrink`]).
    pub embedded: Vec<Value>,
    /// Event lines in the file.
    pub total: u64,
    /// Lines that are not JSON events (skipped).
    pub bad_lines: u64,
    /// First and last event time (ns since the epoch), events with `ts` 0 left out.
    pub first_ts: Option<u64>,
    pub last_ts: Option<u64>,
    /// Per bucket of the time range, events per category.
    pub buckets: Vec<[u32; 5]>,
    /// Architecture each process was executed as (from `procexec` events).
    pub arch: HashMap<i64, String>,
}

/// Embedded JSON of one event is shortened past this size.
const EVENT_SOFT_BYTES: usize = 4096;

/// Scans events.jsonl. `max_events` and `max_bytes` bound what is embedded; the timeline
/// has `buckets` columns.
pub(crate) fn scan(jsonl: &[u8], max_events: usize, max_bytes: usize, buckets: usize) -> Scan {
    // Reading a slice cannot fail.
    scan_reader(jsonl, max_events, max_bytes, buckets).unwrap_or_default()
}

/// [`scan`] over a reader, line by line: events.jsonl of millions of events is never
/// held in memory whole.
pub(crate) fn scan_reader<R: std::io::BufRead>(
    mut reader: R,
    max_events: usize,
    max_bytes: usize,
    buckets: usize,
) -> std::io::Result<Scan> {
    let mut s = Scan::default();
    let mut points: Vec<(u64, u8)> = Vec::new();
    let mut embedded_bytes = 0usize;
    let mut embedding = max_events > 0;
    let mut buf = Vec::with_capacity(4096);
    loop {
        buf.clear();
        if reader.read_until(b'\n', &mut buf)? == 0 {
            break;
        }
        let line = buf.trim_ascii();
        if line.is_empty() || line.first() == Some(&b'#') {
            continue;
        }
        let Ok(head) = serde_json::from_slice::<Head>(line) else {
            s.bad_lines += 1;
            continue;
        };
        s.total += 1;
        let ty = head.ty.as_deref().unwrap_or("");
        if head.ts != 0 {
            s.first_ts = Some(s.first_ts.map_or(head.ts, |f| f.min(head.ts)));
            s.last_ts = Some(s.last_ts.map_or(head.ts, |l| l.max(head.ts)));
            points.push((head.ts, category(ty) as u8));
        }
        if ty == "procexec"
            && let Some(args) = head.args
            && let Ok(v) = serde_json::from_str::<Value>(args.get())
            && let Some(a) = v.pointer("/arch/str").and_then(Value::as_str)
        {
            s.arch.insert(head.pid, a.to_owned());
        }
        if embedding && let Ok(mut v) = serde_json::from_slice::<Value>(line) {
            let mut len = line.len();
            if len > EVENT_SOFT_BYTES {
                shrink(&mut v, 256, 32);
                len = v.to_string().len();
            }
            if embedded_bytes + len > max_bytes {
                embedding = false;
            } else {
                embedded_bytes += len;
                s.embedded.push(v);
                embedding = s.embedded.len() < max_events;
            }
        }
    }
    if let (Some(first), Some(last)) = (s.first_ts, s.last_ts)
        && buckets > 0
    {
        s.buckets = vec![[0u32; 5]; buckets];
        let span = (last - first).max(1) as u128;
        for (ts, cat) in points {
            let i = ((ts - first) as u128 * buckets as u128 / (span + 1)) as usize;
            if let Some(b) = s.buckets.get_mut(i.min(buckets - 1))
                && let Some(c) = b.get_mut(cat as usize)
            {
                *c = c.saturating_add(1);
            }
        }
    }
    Ok(s)
}

/// Shortens strings past `max_str` characters and arrays past `max_items` items, in
/// place, marking what was cut (an event can carry megabytes of buffer hex).
pub(crate) fn shrink(v: &mut Value, max_str: usize, max_items: usize) {
    let mut stack = vec![v];
    while let Some(v) = stack.pop() {
        match v {
            Value::String(s) => {
                if let Some((at, _)) = s.char_indices().nth(max_str) {
                    let rest = s[at..].chars().count();
                    s.truncate(at);
                    s.push_str(&format!("… ({rest} more characters)"));
                }
            }
            Value::Array(a) => {
                if a.len() > max_items {
                    let rest = a.len() - max_items;
                    a.truncate(max_items);
                    a.push(Value::String(format!("… ({rest} more items)")));
                }
                stack.extend(a.iter_mut());
            }
            Value::Object(o) => stack.extend(o.values_mut()),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scan_embeds_within_budgets_and_counts_all() {
        let mut text = String::from("# comment\n\n");
        for i in 1..=100u64 {
            text.push_str(&format!(
                "{{\"v\":1,\"num\":{i},\"ts\":{},\"type\":\"{}\",\"pid\":2,\"tid\":2}}\n",
                1_000_000_000 + i * 10_000_000,
                if i % 2 == 0 { "openat" } else { "connect" }
            ));
        }
        text.push_str("not json\n{\"v\":1,\"num\":101,\"ts\":0,\"type\":\"procexec\",\"pid\":3,\"tid\":3,\"args\":{\"arch\":{\"str\":\"mipsel\"}}}\n");
        let s = scan(text.as_bytes(), 10, 1 << 20, 4);
        assert_eq!(s.total, 101);
        assert_eq!(s.bad_lines, 1);
        assert_eq!(s.embedded.len(), 10);
        assert_eq!(s.arch.get(&3).map(String::as_str), Some("mipsel"));
        let per_cat: Vec<u32> = (0..5)
            .map(|c| s.buckets.iter().map(|b| b[c]).sum())
            .collect();
        assert_eq!(per_cat, vec![0, 50, 50, 0, 0]);
        assert_eq!(s.buckets.len(), 4);
        assert!(
            s.buckets.iter().all(|b| b[1] + b[2] == 25),
            "{:?}",
            s.buckets
        );
        // Byte budget.
        let s = scan(text.as_bytes(), 1000, 300, 4);
        assert!(
            !s.embedded.is_empty() && s.embedded.len() < 10,
            "{}",
            s.embedded.len()
        );
    }

    #[test]
    fn huge_values_are_shortened() {
        let big = "ab".repeat(10_000);
        let line = format!(
            "{{\"v\":1,\"num\":1,\"ts\":5,\"type\":\"write\",\"pid\":1,\"tid\":1,\"args\":{{\"data\":{{\"bytes\":\"{big}\"}}}}}}\n"
        );
        let s = scan(line.as_bytes(), 10, 1 << 20, 10);
        assert_eq!(s.embedded.len(), 1);
        let v = s.embedded[0]
            .pointer("/args/data/bytes")
            .and_then(Value::as_str)
            .unwrap_or("");
        assert!(
            v.len() < 400 && v.ends_with("(19744 more characters)"),
            "{v}"
        );
    }

    #[test]
    fn categories() {
        assert_eq!(CATEGORIES[category("execve")], "process");
        assert_eq!(CATEGORIES[category("openat")], "file");
        assert_eq!(CATEGORIES[category("connect")], "network");
        assert_eq!(CATEGORIES[category("mprotect")], "memory");
        assert_eq!(CATEGORIES[category("init_module")], "other");
    }
}
