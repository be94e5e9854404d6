//! Human-readable output: aligned sections, colour only when asked for (on a TTY).

use std::fmt::Write as _;

use ferret_static::{Severity, StaticReport};

/// ANSI styling that collapses to nothing when colour is off.
#[derive(Clone, Copy)]
pub struct Style {
    color: bool,
}

impl Style {
    pub fn new(color: bool) -> Self {
        Self { color }
    }

    fn paint(self, code: &str, text: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_owned()
        }
    }

    pub fn heading(self, t: &str) -> String {
        self.paint("1;36", t)
    }

    pub fn bad(self, t: &str) -> String {
        self.paint("1;31", t)
    }

    pub fn warn(self, t: &str) -> String {
        self.paint("33", t)
    }

    pub fn dim(self, t: &str) -> String {
        self.paint("2", t)
    }
}

/// Lists shown in full up to this many entries, then summarised.
const LIST_LIMIT: usize = 20;

fn kv(out: &mut String, key: &str, value: impl std::fmt::Display) {
    let _ = writeln!(out, "  {key:<18} {value}");
}

fn yes_no(b: bool) -> &'static str {
    if b { "yes" } else { "no" }
}

/// Renders one file's report.
pub fn static_report(r: &StaticReport<'_>, style: Style) -> String {
    let mut o = String::new();
    let _ = writeln!(o, "{}", style.heading(&format!("== {} ==", r.path)));
    kv(&mut o, "type", &r.file_type.description);
    kv(&mut o, "size", format!("{} bytes", r.size));
    kv(&mut o, "entropy", format!("{:.3}", r.entropy));
    kv(&mut o, "md5", &r.hashes.md5);
    kv(&mut o, "sha1", &r.hashes.sha1);
    kv(&mut o, "sha256", &r.hashes.sha256);
    kv(&mut o, "ssdeep", &r.hashes.ssdeep);
    kv(&mut o, "tlsh", r.hashes.tlsh.as_deref().unwrap_or("-"));
    if let Some(i) = &r.file_type.interpreter {
        kv(&mut o, "interpreter", i);
    }

    if let Some(elf) = &r.elf {
        let _ = writeln!(o, "\n{}", style.heading("ELF"));
        kv(
            &mut o,
            "machine",
            format!("{} ({})", elf.machine.name, elf.machine.description),
        );
        kv(
            &mut o,
            "class",
            format!("{:?}, {:?} endian", elf.class, elf.endianness).to_lowercase(),
        );
        kv(&mut o, "type", &elf.elf_type);
        kv(&mut o, "os/abi", &elf.os_abi);
        kv(&mut o, "entry", format!("{:#x}", elf.entry));
        kv(
            &mut o,
            "linkage",
            format!("{:?}", elf.linkage).to_lowercase(),
        );
        if let Some(i) = &elf.interpreter {
            kv(&mut o, "interpreter", i);
        }
        if !elf.needed.is_empty() {
            kv(&mut o, "needed", elf.needed.join(", "));
        }
        kv(
            &mut o,
            "hardening",
            format!(
                "pie={} nx={} relro={:?} canary={} fortify={} stripped={}",
                yes_no(elf.pie),
                yes_no(elf.nx_stack),
                elf.relro,
                yes_no(elf.stack_protector),
                yes_no(elf.fortify),
                yes_no(elf.stripped)
            )
            .to_lowercase(),
        );
        if let Some(id) = &elf.notes.build_id {
            kv(&mut o, "build-id", id);
        }
        let _ = writeln!(
            o,
            "\n  {}",
            style.dim(&format!(
                "{:<3} {:<24} {:<12} {:<5} {:>18} {:>10} {:>10} {:>7}",
                "#", "section", "type", "flags", "address", "offset", "size", "entropy"
            ))
        );
        for s in &elf.sections {
            let _ = writeln!(
                o,
                "  {:<3} {:<24} {:<12} {:<5} {:>#18x} {:>#10x} {:>10} {:>7}",
                s.index,
                truncate(&s.name, 24),
                truncate(&s.kind, 12),
                s.flags,
                s.addr,
                s.offset,
                s.size,
                s.entropy.map(|e| format!("{e:.2}")).unwrap_or_default()
            );
        }
        let _ = writeln!(
            o,
            "\n  {}",
            style.dim(&format!(
                "{:<14} {:<4} {:>10} {:>18} {:>10} {:>10}",
                "segment", "perm", "offset", "vaddr", "filesz", "memsz"
            ))
        );
        for s in &elf.segments {
            let perm = if s.writable_and_executable {
                style.bad(s.flags)
            } else {
                s.flags.to_owned()
            };
            let pad = 4usize.saturating_sub(s.flags.len());
            let _ = writeln!(
                o,
                "  {:<14} {perm}{:pad$} {:>#10x} {:>#18x} {:>10} {:>10}",
                truncate(&s.kind, 14),
                "",
                s.offset,
                s.vaddr,
                s.filesz,
                s.memsz
            );
        }
        let names: Vec<&str> = elf.imports.iter().map(|i| i.name.as_ref()).collect();
        list(&mut o, "imports", &names);
        let names: Vec<&str> = elf.exports.iter().map(|e| e.name.as_ref()).collect();
        list(&mut o, "exports", &names);
        kv(
            &mut o,
            "symbols",
            elf.symbols.len() as u64 + elf.symbols_omitted,
        );
        for e in &elf.errors {
            let _ = writeln!(o, "  {} {e}", style.warn("parse error:"));
        }
    }

    if r.packer.name.is_some() || !r.packer.indicators.is_empty() {
        let _ = writeln!(o, "\n{}", style.heading("Packing and obfuscation"));
        if let Some(n) = &r.packer.name {
            kv(&mut o, "packer", style.bad(n));
        }
        for i in &r.packer.indicators {
            let sev = format!("{:?}", i.severity).to_lowercase();
            let sev = if i.severity >= Severity::High {
                style.bad(&sev)
            } else {
                style.warn(&sev)
            };
            let _ = writeln!(o, "  {:<30} {sev:<6} {}", i.id, i.description);
        }
    }

    let iocs = &r.iocs;
    if !iocs.is_empty() {
        let _ = writeln!(o, "\n{}", style.heading("Indicators"));
        let v: Vec<String> = iocs
            .ipv4
            .iter()
            .map(|i| format!("{} ({:?})", i.value, i.scope).to_lowercase())
            .collect();
        list(
            &mut o,
            "ipv4",
            &v.iter().map(String::as_str).collect::<Vec<_>>(),
        );
        let v: Vec<String> = iocs.ipv6.iter().map(|i| i.value.to_string()).collect();
        list(
            &mut o,
            "ipv6",
            &v.iter().map(String::as_str).collect::<Vec<_>>(),
        );
        let v: Vec<&str> = iocs.domains.iter().map(|i| i.value.as_str()).collect();
        list(&mut o, "domains", &v);
        let v: Vec<&str> = iocs.urls.iter().map(|i| i.value.as_str()).collect();
        list(&mut o, "urls", &v);
        let v: Vec<&str> = iocs.emails.iter().map(|i| i.value.as_str()).collect();
        list(&mut o, "emails", &v);
        let v: Vec<String> = iocs
            .paths
            .iter()
            .map(|p| match &p.category {
                Some(c) => format!("{} [{}]", p.value, format!("{c:?}").to_lowercase()),
                None => p.value.clone(),
            })
            .collect();
        list(
            &mut o,
            "paths",
            &v.iter().map(String::as_str).collect::<Vec<_>>(),
        );
        let v: Vec<&str> = iocs.commands.iter().map(|i| i.value.as_str()).collect();
        list(&mut o, "commands", &v);
    }

    if let Some(y) = &r.yara {
        let _ = writeln!(o, "\n{}", style.heading("YARA"));
        if y.matches.is_empty() {
            kv(&mut o, "matches", "none");
        }
        for m in &y.matches {
            let desc = m
                .metadata
                .get("description")
                .and_then(|d| d.as_str())
                .unwrap_or("");
            let tags = if m.tags.is_empty() {
                String::new()
            } else {
                format!(" [{}]", m.tags.join(","))
            };
            let _ = writeln!(
                o,
                "  {}{tags} {}",
                style.bad(&format!("{}:{}", m.namespace, m.rule)),
                desc
            );
            for s in &m.strings {
                let offs: Vec<String> = s
                    .matches
                    .iter()
                    .map(|x| format!("{:#x}", x.offset))
                    .collect();
                let more = if s.total > s.matches.len() as u64 {
                    format!(" (+{} more)", s.total - s.matches.len() as u64)
                } else {
                    String::new()
                };
                let _ = writeln!(o, "      {} at {}{more}", s.identifier, offs.join(", "));
            }
        }
        if let Some(e) = &y.error {
            let _ = writeln!(o, "  {} {e}", style.warn("scan stopped:"));
        }
    }

    let _ = writeln!(
        o,
        "\n  {} {} strings{}",
        style.dim("strings:"),
        r.strings.total,
        if r.strings.truncated {
            " (only the first ones kept; see --json)"
        } else {
            ""
        }
    );
    for e in &r.errors {
        let _ = writeln!(o, "  {} {e}", style.warn("error:"));
    }
    o.push('\n');
    o
}

fn list(o: &mut String, key: &str, items: &[&str]) {
    if items.is_empty() {
        return;
    }
    let shown = items.len().min(LIST_LIMIT);
    let mut line = items[..shown]
        .iter()
        .map(|i| truncate(i, 200))
        .collect::<Vec<_>>()
        .join(", ");
    if items.len() > shown {
        let _ = write!(line, ", ... ({} in all)", items.len());
    }
    kv(o, key, line);
}

/// Cuts `s` to at most `n` characters so that hostile names cannot break alignment.
fn truncate(s: &str, n: usize) -> String {
    let clean: String = s
        .chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .collect();
    if clean.chars().count() <= n {
        clean
    } else {
        let mut t: String = clean.chars().take(n.saturating_sub(1)).collect();
        t.push('~');
        t
    }
}

/// The fake internet's block of the `ferret analyze` summary (empty without it):
/// capture size and cut, DNS names asked, HTTP requests, IRC lines, telnet logins
/// and the anomalies ferret-pcap found in the capture.
pub fn network_block(r: &serde_json::Value) -> String {
    use serde_json::Value;
    let Some(fake) = r.pointer("/network/fakenet") else {
        return String::new();
    };
    let s = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).unwrap_or("").to_owned();
    let n = |v: &Value, k: &str| v.get(k).and_then(Value::as_u64).unwrap_or(0);
    fn list<'a>(v: &'a Value, k: &str) -> &'a [Value] {
        v.get(k)
            .and_then(Value::as_array)
            .map_or(&[], Vec::as_slice)
    }
    let mut o = String::new();
    let cap = fake.get("capture").unwrap_or(&Value::Null);
    let _ = writeln!(
        o,
        "\nnetwork (fake internet; {}: {} packets, {} bytes):",
        cap.get("file")
            .and_then(Value::as_str)
            .unwrap_or("no capture"),
        n(cap, "packets_written"),
        n(cap, "file_bytes")
    );
    let mut lines: Vec<(&str, String)> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for q in list(fake, "dns") {
        let name = s(q, "name");
        let qtype = match n(q, "qtype") {
            1 => "A".to_owned(),
            28 => "AAAA".to_owned(),
            t => format!("TYPE{t}"),
        };
        if seen.insert((name.clone(), qtype.clone())) {
            let answer = match q.get("answer").and_then(Value::as_str) {
                Some(a) => format!("-> {a}"),
                None => "-> no answer".to_owned(),
            };
            lines.push(("dns", format!("{name} {qtype} {answer}")));
        }
    }
    for h in list(fake, "http") {
        let host = h.get("host").and_then(Value::as_str).unwrap_or("-");
        lines.push((
            "http",
            format!(
                "{} {host}{} ({}) -> {}",
                s(h, "method"),
                s(h, "uri"),
                s(h, "original_dst"),
                n(h, "status")
            ),
        ));
    }
    for m in list(fake, "irc") {
        let params: Vec<&str> = list(m, "params").iter().filter_map(Value::as_str).collect();
        lines.push((
            "irc",
            format!(
                "{} {} {}",
                s(m, "original_dst"),
                s(m, "command"),
                params.join(" ")
            ),
        ));
    }
    for t in list(fake, "telnet") {
        let user = t.get("username").and_then(Value::as_str).unwrap_or("-");
        let pass = t.get("password").and_then(Value::as_str).unwrap_or("-");
        lines.push((
            "telnet",
            format!("{} login {user:?} password {pass:?}", s(t, "original_dst")),
        ));
    }
    for a in r
        .pointer("/network/anomalies")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[])
    {
        lines.push((
            "anomaly",
            format!("{}: {}", s(a, "kind"), s(a, "description")),
        ));
    }
    let total = lines.len();
    for (kind, text) in lines.into_iter().take(40) {
        let text: String = text.chars().take(160).collect();
        let _ = writeln!(o, "  {kind:<8} {text}");
    }
    if total > 40 {
        let _ = writeln!(o, "  ... ({} more)", total - 40);
    }
    if n(cap, "packets_cut") > 0 {
        let _ = writeln!(
            o,
            "  capture cut at {} bytes: {} packets ({} bytes) left out",
            n(cap, "max_bytes"),
            n(cap, "packets_cut"),
            n(cap, "bytes_cut")
        );
    }
    o
}
