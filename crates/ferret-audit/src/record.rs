//! One audit record: the line header, key=value scanning and ausearch-style interpretation.
//!
//! A record line is `[node=NAME ]type=TYPE msg=audit(SECONDS.MILLIS:SERIAL): BODY`, where an
//! enriched log (`log_format = ENRICHED`) appends `\x1d` and `NAME=value` pairs whose
//! UPPERCASE names carry auditd's own interpretation (`AUID="root"`, `SYSCALL=execve`).
//!
//! Field values are interpreted as go-libaudit's auparse and `ausearch --interpret` do:
//! hex-encoded strings decoded, `arch`/`syscall`/`exit`/`sig` named, unset ids shown as
//! `unset`, SELinux contexts split, `res`/`success` folded into `result`, `key` moved to
//! [`Record::keys`], `saddr` decoded, and fields whose value is `?` or empty dropped.

use std::borrow::Cow;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ferret_event::{SockAddr, errno_name};

use crate::types::{Arch, record_type_name, record_type_number, signal_name};

/// Why a line is not an audit record. The line is still reported, raw.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineError {
    /// No `type=` field at the start of the line.
    NoType,
    /// No `msg=audit(` header after the type.
    NoHeader,
    /// The `audit(SECONDS.MILLIS:SERIAL)` header does not parse.
    BadHeader,
    /// The line is longer than the reader accepts; it was cut.
    TooLong,
}

impl fmt::Display for LineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            LineError::NoType => "no type= field",
            LineError::NoHeader => "no msg=audit(...) header",
            LineError::BadHeader => "malformed audit(SECONDS.MILLIS:SERIAL) header",
            LineError::TooLong => "line too long (cut)",
        })
    }
}

impl std::error::Error for LineError {}

/// Byte ranges of one interpreted field inside [`Record`]'s text buffer.
#[derive(Debug, Clone, Copy)]
struct Span {
    name: (u32, u32),
    value: (u32, u32),
}

/// One parsed and interpreted audit record.
#[derive(Debug, Clone)]
pub struct Record {
    /// `node=` prefix (multi-host logs), if any.
    pub node: Option<String>,
    /// Record type as written (`SYSCALL`, `USER_LOGIN`, `UNKNOWN[1329]`).
    pub type_name: String,
    /// Record type number, when the name is known or numeric.
    pub type_num: Option<u32>,
    /// Seconds part of the timestamp.
    pub sec: u64,
    /// Milliseconds part of the timestamp.
    pub ms: u32,
    /// Event serial number (`sequence`).
    pub serial: u64,
    /// The message after `msg=`, as written (`audit(...): BODY`, without enrichment).
    pub raw_msg: String,
    /// Values of `key=` (audit rule keys), split at `\x01` as auditd joins them.
    pub keys: Vec<String>,
    /// Decoded socket address of a `saddr=` field.
    pub sockaddr: Option<SockAddr>,
    /// Enriched fields (`\x1d`-separated UPPERCASE part), quotes removed.
    pub enriched: Vec<(String, String)>,
    buf: String,
    spans: Vec<Span>,
}

impl Record {
    /// Parses one log line (without its newline).
    pub fn parse(line: &str) -> Result<Record, LineError> {
        let line = line.trim_end_matches(['\n', '\r']);
        let (main, enriched) = match line.split_once('\x1d') {
            Some((m, e)) => (m, Some(e)),
            None => (line, None),
        };
        let mut rest = main.trim_start();
        if !rest.starts_with("node=") && !rest.starts_with("type=") {
            // A syslog or kernel-log prefix ("... audispd: node=h type=...",
            // "audit: type=1300 audit(...)"): start at the first record field.
            let at = [rest.find("node="), rest.find("type=")]
                .into_iter()
                .flatten()
                .min()
                .ok_or(LineError::NoType)?;
            rest = &rest[at..];
        }
        let mut node = None;
        while let Some(r) = rest.strip_prefix("node=") {
            let end = r.find(' ').unwrap_or(r.len());
            node = Some(r[..end].to_owned());
            rest = r[end..].trim_start();
        }
        let r = rest.strip_prefix("type=").ok_or(LineError::NoType)?;
        let end = r.find(' ').ok_or(LineError::NoHeader)?;
        let type_name = &r[..end];
        if type_name.is_empty() {
            return Err(LineError::NoType);
        }
        let msg = r[end..].trim_start();
        // auditd writes `msg=audit(`; the kernel log (dmesg, journal) writes `audit(`.
        let raw_msg = msg.strip_prefix("msg=").unwrap_or(msg);
        let after = raw_msg.strip_prefix("audit(").ok_or(LineError::NoHeader)?;
        let close = after.find(')').ok_or(LineError::BadHeader)?;
        let (sec, ms, serial) = parse_stamp(&after[..close]).ok_or(LineError::BadHeader)?;
        let tail = &after[close + 1..];
        let body = tail.strip_prefix(':').unwrap_or(tail);

        let type_num = record_type_number(type_name).or_else(|| type_name.parse().ok());
        // The kernel log gives numbers (`type=1300`): use the name auditd would write.
        let type_name = match type_num.and_then(record_type_name) {
            Some(known) if type_name.bytes().all(|c| c.is_ascii_digit()) => known,
            _ => type_name,
        };
        let mut rec = Record {
            node,
            type_name: type_name.to_owned(),
            type_num,
            sec,
            ms,
            serial,
            raw_msg: raw_msg.to_owned(),
            keys: Vec::new(),
            sockaddr: None,
            enriched: Vec::new(),
            buf: String::with_capacity(body.len() + 64),
            spans: Vec::with_capacity(24),
        };
        let mut st = ScanState {
            kind: Kind::of(type_num),
            arch: None,
        };
        scan(body, &mut |k, v, q| rec.interpret(&mut st, k, v, q));
        if let Some(e) = enriched {
            scan(e, &mut |k, v, _| {
                rec.enriched.push((k.into_owned(), v.to_owned()));
            });
        }
        Ok(rec)
    }

    /// Record type in lower case, as go-libaudit names it (`syscall`, `user_login`).
    pub fn record_type(&self) -> String {
        self.type_name.to_ascii_lowercase()
    }

    /// The canonical name for the type number when auditd wrote `UNKNOWN[n]` for a type
    /// ferret knows.
    pub fn known_type_name(&self) -> Option<&'static str> {
        self.type_num.and_then(record_type_name)
    }

    /// Interpreted fields, in the order of the line.
    pub fn fields(&self) -> impl Iterator<Item = (&str, &str)> + '_ {
        self.spans
            .iter()
            .map(|s| (self.slice(s.name), self.slice(s.value)))
    }

    /// The interpreted value of field `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.spans
            .iter()
            .find(|s| self.slice(s.name) == name)
            .map(|s| self.slice(s.value))
    }

    /// The enriched (auditd-interpreted) value of `NAME`, if the log is enriched.
    pub fn enriched(&self, name: &str) -> Option<&str> {
        self.enriched
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Timestamp in nanoseconds since the epoch.
    pub fn ts_nanos(&self) -> u64 {
        self.sec
            .saturating_mul(1_000_000_000)
            .saturating_add(u64::from(self.ms) * 1_000_000)
    }

    fn slice(&self, (a, b): (u32, u32)) -> &str {
        self.buf.get(a as usize..b as usize).unwrap_or("")
    }

    /// Appends (or replaces: a nested `msg='...'` may repeat an outer name) a field.
    fn push(&mut self, name: &str, value: &str) {
        if let Some(i) = self
            .spans
            .iter()
            .position(|s| s.name.1 - s.name.0 == name.len() as u32 && self.slice(s.name) == name)
        {
            let v0 = self.buf.len() as u32;
            self.buf.push_str(value);
            if let Some(s) = self.spans.get_mut(i) {
                s.value = (v0, self.buf.len() as u32);
            }
            return;
        }
        let n0 = self.buf.len() as u32;
        self.buf.push_str(name);
        let n1 = self.buf.len() as u32;
        self.buf.push_str(value);
        self.spans.push(Span {
            name: (n0, n1),
            value: (n1, self.buf.len() as u32),
        });
    }

    fn interpret(&mut self, st: &mut ScanState, key: Cow<'_, str>, val: &str, q: Quote) {
        if q != Quote::None && key == "msg" {
            // Only reached for double quotes: single-quoted msg is scanned in place.
            self.push("msg", val);
            return;
        }
        if val.is_empty() || val == "?" {
            return;
        }
        let key: &str = &key;
        match key {
            "key" => {
                self.keys_from(val, q);
            }
            "subj" | "obj" => self.push_context(key, val),
            "res" | "success" => {
                let r = match val {
                    "yes" | "success" | "1" => "success",
                    "no" | "failed" | "fail" | "0" => "fail",
                    other => other,
                };
                self.push("result", r);
            }
            "arch" if q == Quote::None => {
                st.arch = Arch::from_audit(val);
                match st.arch {
                    Some(a) => self.push("arch", a.name()),
                    None => self.push("arch", val),
                }
            }
            "syscall" if q == Quote::None => {
                let name = st
                    .arch
                    .zip(val.parse::<u32>().ok())
                    .and_then(|(a, n)| a.syscall_name(n));
                self.push("syscall", name.unwrap_or(val));
            }
            "exit" if q == Quote::None => {
                let name = val
                    .parse::<i64>()
                    .ok()
                    .filter(|v| (-4095..0).contains(v))
                    .and_then(|v| errno_name(-v));
                self.push("exit", name.unwrap_or(val));
            }
            "sig" if q == Quote::None => {
                let name = val.parse::<u64>().ok().and_then(signal_name);
                self.push("sig", name.unwrap_or(val));
            }
            "auid" | "ses" | "old-auid" if q == Quote::None => {
                if val == "4294967295" || val == "-1" {
                    self.push(key, "unset");
                } else {
                    self.push(key, val);
                }
            }
            "saddr" if q == Quote::None && st.kind == Kind::Sockaddr => self.push_saddr(val),
            "proctitle" => self.push_decoded(key, val, q, Decode::Proctitle),
            _ if q == Quote::None && st.kind.is_encoded(key) => {
                self.push_decoded(key, val, q, Decode::Plain)
            }
            _ => self.push(key, val),
        }
    }

    fn keys_from(&mut self, val: &str, q: Quote) {
        if q == Quote::None && val == "(null)" {
            return;
        }
        let text = match (q, decode_hex(val)) {
            (Quote::None, Some(bytes)) => String::from_utf8_lossy(&bytes).into_owned(),
            _ => val.to_owned(),
        };
        // auditd joins several keys of one rule with \x01.
        self.keys.extend(
            text.split('\x01')
                .filter(|k| !k.is_empty())
                .map(str::to_owned),
        );
    }

    fn push_context(&mut self, key: &str, val: &str) {
        let mut parts = val.splitn(5, ':');
        let names = ["user", "role", "domain", "level", "category"];
        if val.split(':').count() < 3 {
            // Not an SELinux context (AppArmor profile name, "unconfined"...).
            self.push(key, val);
            return;
        }
        let mut name = String::with_capacity(key.len() + 9);
        for n in names {
            let Some(p) = parts.next() else { break };
            name.clear();
            name.push_str(key);
            name.push('_');
            name.push_str(n);
            self.push(&name, p);
        }
    }

    fn push_decoded(&mut self, key: &str, val: &str, q: Quote, how: Decode) {
        if q != Quote::None || val == "(null)" || val == "(none)" {
            self.push(key, val);
            return;
        }
        match decode_hex(val) {
            Some(mut bytes) => {
                if how == Decode::Proctitle {
                    // Arguments are NUL-separated; show them space-separated.
                    while bytes.last() == Some(&0) {
                        bytes.pop();
                    }
                    for b in &mut bytes {
                        if *b == 0 {
                            *b = b' ';
                        }
                    }
                }
                let s = String::from_utf8_lossy(&bytes);
                self.push(key, &s);
            }
            None => self.push(key, val),
        }
    }

    fn push_saddr(&mut self, val: &str) {
        let Some(bytes) = decode_hex(val) else {
            self.push("saddr", val);
            return;
        };
        let d = decode_sockaddr(&bytes);
        match &d {
            Decoded::Inet(ip, port) => {
                self.push("family", if ip.is_ipv4() { "ipv4" } else { "ipv6" });
                self.push("addr", &ip.to_string());
                self.push("port", &port.to_string());
                self.sockaddr = Some(SockAddr::ip(*ip, *port));
            }
            Decoded::Unix(path) => {
                self.push("family", "unix");
                self.push("path", path);
                self.sockaddr = Some(SockAddr::unix(path.clone()));
            }
            Decoded::Other(fam) => {
                match fam {
                    16 => self.push("family", "netlink"),
                    17 => self.push("family", "packet"),
                    n => self.push("family", &n.to_string()),
                }
                self.push("saddr", val);
            }
        }
    }
}

/// Parses `SECONDS.MILLIS:SERIAL`.
fn parse_stamp(s: &str) -> Option<(u64, u32, u64)> {
    let (t, serial) = s.split_once(':')?;
    let (sec, ms) = t.split_once('.')?;
    let ms_v: u32 = ms.parse().ok()?;
    // auditd always writes three digits; accept fewer as a fraction of a second.
    let ms_v = match ms.len() {
        1 => ms_v * 100,
        2 => ms_v * 10,
        3 => ms_v,
        _ => return None,
    };
    Some((sec.parse().ok()?, ms_v, serial.parse().ok()?))
}

/// Decodes an even-length string of hex digits (auditd writes upper case).
pub fn decode_hex(s: &str) -> Option<Vec<u8>> {
    let b = s.as_bytes();
    if b.is_empty() || !b.len().is_multiple_of(2) {
        return None;
    }
    let nib = |c: u8| -> Option<u8> {
        match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'A'..=b'F' => Some(c - b'A' + 10),
            b'a'..=b'f' => Some(c - b'a' + 10),
            _ => None,
        }
    };
    b.chunks_exact(2)
        .map(|p| match p {
            [h, l] => Some((nib(*h)? << 4) | nib(*l)?),
            _ => None,
        })
        .collect()
}

enum Decoded {
    Inet(IpAddr, u16),
    Unix(String),
    Other(u16),
}

const KNOWN_FAMILIES: [u16; 5] = [1, 2, 10, 16, 17];

fn decode_sockaddr(b: &[u8]) -> Decoded {
    let (Some(&f0), Some(&f1)) = (b.first(), b.get(1)) else {
        return Decoded::Other(0);
    };
    let mut fam = u16::from_le_bytes([f0, f1]);
    // Big-endian hosts write the family the other way round.
    let be = u16::from_be_bytes([f0, f1]);
    if !KNOWN_FAMILIES.contains(&fam) && KNOWN_FAMILIES.contains(&be) {
        fam = be;
    }
    let port = || b.get(2..4).map(|p| u16::from_be_bytes([p[0], p[1]]));
    match fam {
        2 => match (port(), b.get(4..8)) {
            (Some(port), Some(a)) => {
                Decoded::Inet(IpAddr::V4(Ipv4Addr::new(a[0], a[1], a[2], a[3])), port)
            }
            _ => Decoded::Other(fam),
        },
        10 => match (
            port(),
            b.get(8..24).and_then(|a| <[u8; 16]>::try_from(a).ok()),
        ) {
            (Some(port), Some(a)) => Decoded::Inet(IpAddr::V6(Ipv6Addr::from(a)), port),
            _ => Decoded::Other(fam),
        },
        1 => {
            let p = b.get(2..).unwrap_or(&[]);
            match p.split_first() {
                // Abstract socket: leading NUL, name up to the address length.
                Some((0, name)) => {
                    let end = name.iter().rposition(|&c| c != 0).map_or(0, |i| i + 1);
                    let n = name.get(..end).unwrap_or(&[]);
                    Decoded::Unix(format!("@{}", String::from_utf8_lossy(n)))
                }
                _ => {
                    let end = p.iter().position(|&c| c == 0).unwrap_or(p.len());
                    let n = p.get(..end).unwrap_or(&[]);
                    Decoded::Unix(String::from_utf8_lossy(n).into_owned())
                }
            }
        }
        other => Decoded::Other(other),
    }
}

/// How a value was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Quote {
    None,
    Double,
    Single,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Decode {
    Plain,
    Proctitle,
}

/// Record kinds whose fields are interpreted differently.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Execve,
    Sockaddr,
    Tty,
    Other,
}

impl Kind {
    fn of(num: Option<u32>) -> Kind {
        match num {
            Some(1309) => Kind::Execve,
            Some(1306) => Kind::Sockaddr,
            Some(1319) | Some(1124) => Kind::Tty,
            _ => Kind::Other,
        }
    }

    /// Whether auditd writes `key` with `audit_log_untrustedstring` (quoted when plain,
    /// hex when it holds spaces, quotes or control bytes).
    fn is_encoded(self, key: &str) -> bool {
        match key {
            "comm" | "exe" | "cwd" | "name" | "path" | "cmd" | "acct" | "dir" | "watch"
            | "ocomm" | "new-disk" | "old-disk" | "vm" | "root_dir" | "file" | "device"
            | "old-chardev" | "new-chardev" | "cgroup" | "sw" | "grp" | "new_group"
            | "old_group" | "new-user" | "old-user" => true,
            "data" => self == Kind::Tty,
            _ => self == Kind::Execve && is_execve_arg(key),
        }
    }
}

/// `a0`, `a12`, `a3[0]` (chunks of a long argument).
fn is_execve_arg(key: &str) -> bool {
    let Some(r) = key.strip_prefix('a') else {
        return false;
    };
    let digits = r.bytes().take_while(u8::is_ascii_digit).count();
    if digits == 0 {
        return false;
    }
    let tail = &r[digits..];
    tail.is_empty()
        || (tail.starts_with('[')
            && tail.ends_with(']')
            && tail.len() > 2
            && tail[1..tail.len() - 1].bytes().all(|c| c.is_ascii_digit()))
}

struct ScanState {
    kind: Kind,
    arch: Option<Arch>,
}

/// Splits a record body into `key=value` pairs. Bare words are context: `old`/`new` before
/// a key prefix it (`old auid=` → `old_auid`), `avc: denied { read }` gives `seresult` and
/// `seperms`, and a single-quoted `msg='...'` is scanned in place.
fn scan(body: &str, f: &mut dyn FnMut(Cow<'_, str>, &str, Quote)) {
    let b = body.as_bytes();
    let mut i = 0;
    let mut prev_word: &str = "";
    while i < b.len() {
        while i < b.len() && b[i].is_ascii_whitespace() {
            i += 1;
        }
        if i >= b.len() {
            break;
        }
        let start = i;
        while i < b.len() && !b[i].is_ascii_whitespace() && b[i] != b'=' {
            i += 1;
        }
        let tok = &body[start..i];
        if i < b.len() && b[i] == b'=' && !tok.is_empty() {
            // key=value
            let key = tok.trim_start_matches(['(', ',']);
            i += 1;
            let (val, q) = match b.get(i) {
                Some(&c @ (b'"' | b'\'')) => {
                    let q = if c == b'"' {
                        Quote::Double
                    } else {
                        Quote::Single
                    };
                    let vs = i + 1;
                    let ve = body[vs..].find(char::from(c)).map_or(b.len(), |p| vs + p);
                    i = (ve + 1).min(b.len());
                    (&body[vs..ve], q)
                }
                _ => {
                    let vs = i;
                    while i < b.len() && !b[i].is_ascii_whitespace() {
                        i += 1;
                    }
                    (trim_unquoted(&body[vs..i]), Quote::None)
                }
            };
            if key.is_empty() {
                prev_word = "";
                continue;
            }
            if q == Quote::Single && key == "msg" {
                scan(val, f);
                prev_word = "";
                continue;
            }
            let key = if prev_word == "old" || prev_word == "new" {
                Cow::Owned(format!("{prev_word}_{key}"))
            } else {
                Cow::Borrowed(key)
            };
            f(key, val, q);
            prev_word = "";
        } else if tok == "{" {
            // SELinux AVC permissions: `{ read write }`.
            let close = body[i..].find('}').map_or(b.len(), |p| i + p);
            let perms: Vec<&str> = body[i..close].split_whitespace().collect();
            i = (close + 1).min(b.len());
            if !perms.is_empty() {
                let joined = perms.join(",");
                f(Cow::Borrowed("seperms"), &joined, Quote::None);
            }
            prev_word = "";
        } else {
            if prev_word == "avc:" && (tok == "denied" || tok == "granted") {
                f(Cow::Borrowed("seresult"), tok, Quote::None);
            }
            prev_word = tok;
            if i < b.len() && b[i] == b'=' {
                i += 1; // a lone '=' with no key
            }
        }
    }
}

/// Cleans an unquoted value: the `(hostname=?, addr=?, terminal=cron res=success)` form
/// leaves commas and a closing parenthesis, and some writers leave a stray quote.
fn trim_unquoted(v: &str) -> &str {
    let v = v.trim_end_matches([',', '"']);
    if v.starts_with('(') {
        v
    } else {
        v.trim_end_matches(')')
    }
}
