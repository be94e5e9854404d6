//! JSON and text rendering of audit events.

use std::fmt::Write as _;

use crate::event::AuditEvent;
use crate::names::IdNames;
use crate::record::Record;

/// Rendering options.
#[derive(Debug, Clone, Default)]
pub struct RenderOptions {
    /// Include each record's `raw_msg` (always included for record types ferret does not
    /// know).
    pub raw: bool,
    /// Names for uid/gid fields; also taken from enriched logs' UPPERCASE fields.
    pub names: IdNames,
}

/// Appends `s` as a JSON string.
pub fn push_json_str(out: &mut String, s: &str) {
    out.push('"');
    let mut start = 0;
    for (i, b) in s.bytes().enumerate() {
        let esc: Option<&str> = match b {
            b'"' => Some("\\\""),
            b'\\' => Some("\\\\"),
            b'\n' => Some("\\n"),
            b'\r' => Some("\\r"),
            b'\t' => Some("\\t"),
            0..=0x1f | 0x7f => None,
            _ => continue,
        };
        out.push_str(&s[start..i]);
        match esc {
            Some(e) => out.push_str(e),
            None => {
                let _ = write!(out, "\\u{:04x}", b);
            }
        }
        start = i + 1;
    }
    out.push_str(&s[start..]);
    out.push('"');
}

/// Formats seconds and milliseconds since the epoch as RFC 3339 UTC
/// (`2017-03-31T21:29:12.404Z`).
pub fn format_timestamp(out: &mut String, sec: u64, ms: u32) {
    let days = sec / 86_400;
    let rem = sec % 86_400;
    let (y, m, d) = ferret_event::time::civil_from_days(days as i64);
    let _ = write!(
        out,
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{ms:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    );
}

/// The user or group name for an id field: from the passwd/group files, else from an
/// enriched log's UPPERCASE twin (`AUID="alice"`).
fn name_of<'a>(opts: &'a RenderOptions, rec: &'a Record, k: &str, v: &str) -> Option<&'a str> {
    if let Some(n) = opts.names.name_for(k, v) {
        return Some(n);
    }
    if rec.enriched.is_empty() || !is_id_field(k) {
        return None;
    }
    rec.enriched(&k.to_ascii_uppercase())
}

fn is_id_field(k: &str) -> bool {
    matches!(
        k,
        "uid"
            | "euid"
            | "suid"
            | "fsuid"
            | "auid"
            | "ouid"
            | "gid"
            | "egid"
            | "sgid"
            | "fsgid"
            | "ogid"
    )
}

/// Appends one event as a JSON object (no newline):
/// `{"sequence":N,"@timestamp":"...","node":"...","records":[{"record_type":"syscall",
/// "keys":[...],"data":{...},"names":{...},"enriched":{...},"raw_msg":"..."}]}`.
pub fn event_json(out: &mut String, ev: &AuditEvent, opts: &RenderOptions) {
    let _ = write!(out, "{{\"sequence\":{},\"@timestamp\":", ev.serial);
    out.push('"');
    format_timestamp(out, ev.sec, ev.ms);
    out.push('"');
    if let Some(n) = &ev.node {
        out.push_str(",\"node\":");
        push_json_str(out, n);
    }
    if ev.dropped_records > 0 {
        let _ = write!(out, ",\"dropped_records\":{}", ev.dropped_records);
    }
    out.push_str(",\"records\":[");
    for (i, rec) in ev.records.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str("{\"record_type\":");
        let rt = rec.record_type();
        push_json_str(out, &rt);
        if !rec.keys.is_empty() {
            out.push_str(",\"keys\":[");
            for (j, k) in rec.keys.iter().enumerate() {
                if j > 0 {
                    out.push(',');
                }
                push_json_str(out, k);
            }
            out.push(']');
        }
        out.push_str(",\"data\":{");
        let mut names = Vec::new();
        for (j, (k, v)) in rec.fields().enumerate() {
            if j > 0 {
                out.push(',');
            }
            push_json_str(out, k);
            out.push(':');
            push_json_str(out, v);
            if let Some(n) = name_of(opts, rec, k, v) {
                names.push((k, n));
            }
        }
        out.push('}');
        if !names.is_empty() {
            out.push_str(",\"names\":{");
            for (j, (k, n)) in names.iter().enumerate() {
                if j > 0 {
                    out.push(',');
                }
                push_json_str(out, k);
                out.push(':');
                push_json_str(out, n);
            }
            out.push('}');
        }
        if !rec.enriched.is_empty() {
            out.push_str(",\"enriched\":{");
            for (j, (k, v)) in rec.enriched.iter().enumerate() {
                if j > 0 {
                    out.push(',');
                }
                push_json_str(out, k);
                out.push(':');
                push_json_str(out, v);
            }
            out.push('}');
        }
        if opts.raw || rec.known_type_name().is_none() {
            out.push_str(",\"raw_msg\":");
            push_json_str(out, &rec.raw_msg);
        }
        out.push('}');
    }
    out.push_str("]}");
}

/// Appends one event as text, ausearch-style: a `----` line, then one line per record
/// with the interpreted fields (`type=SYSCALL msg=audit(2017-03-31T21:29:12.404Z:20614537) :
/// arch=x86_64 syscall=sendto ...`).
pub fn event_text(out: &mut String, ev: &AuditEvent, opts: &RenderOptions) {
    out.push_str("----\n");
    for rec in &ev.records {
        if let Some(n) = &rec.node {
            let _ = write!(out, "node={n} ");
        }
        let _ = write!(out, "type={} msg=audit(", rec.type_name);
        format_timestamp(out, rec.sec, rec.ms);
        let _ = write!(out, ":{}) :", rec.serial);
        for (k, v) in rec.fields() {
            let _ = write!(out, " {k}=");
            push_text_value(out, v);
            if let Some(n) = name_of(opts, rec, k, v) {
                let _ = write!(out, "({n})");
            }
        }
        for k in &rec.keys {
            let _ = write!(out, " key=");
            push_text_value(out, k);
        }
        out.push('\n');
    }
}

/// Text values: quoted when they hold spaces, control characters or are empty, so each
/// line stays one line and fields stay separable.
fn push_text_value(out: &mut String, v: &str) {
    if !v.is_empty() && !v.bytes().any(|b| b <= b' ' || b == b'"' || b == 0x7f) {
        out.push_str(v);
    } else {
        push_json_str(out, v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps() {
        let mut s = String::new();
        format_timestamp(&mut s, 1_490_995_752, 404);
        assert_eq!(s, "2017-03-31T21:29:12.404Z");
        s.clear();
        format_timestamp(&mut s, 951_782_400, 5); // leap day 2000
        assert_eq!(s, "2000-02-29T00:00:00.005Z");
        s.clear();
        format_timestamp(&mut s, 0, 0);
        assert_eq!(s, "1970-01-01T00:00:00.000Z");
    }

    #[test]
    fn escapes() {
        let mut s = String::new();
        push_json_str(&mut s, "a\"b\\c\n\u{1}\u{7f}é");
        assert_eq!(s, "\"a\\\"b\\\\c\\n\\u0001\\u007fé\"");
        let v: serde_json::Value = serde_json::from_str(&s).unwrap_or_default();
        assert_eq!(v, "a\"b\\c\n\u{1}\u{7f}é");
    }
}
