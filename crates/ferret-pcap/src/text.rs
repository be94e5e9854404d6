//! Human-readable rendering of a [`NetworkReport`] for the terminal.

use std::fmt::Write as _;

use crate::report::NetworkReport;

/// Items listed per section before "... and N more".
const SHOW: usize = 25;

fn more(out: &mut String, total: usize) {
    if total > SHOW {
        let _ = writeln!(out, "  ... and {} more", total - SHOW);
    }
}

/// Renders the report as text: summary, top flows, endpoints and ports, L7
/// records, anomalies, limits and any read error.
pub fn render_text(r: &NetworkReport) -> String {
    let mut o = String::new();
    let s = &r.summary;
    let span = match (s.first_ts, s.last_ts) {
        (Some(a), Some(b)) => format!(", {:.3} s", b - a),
        _ => String::new(),
    };
    let _ = writeln!(
        o,
        "{}: {} packets, {} bytes captured{span}; {} IPv4, {} IPv6, {} non-IP; {} flows",
        s.format,
        s.packets,
        s.captured_bytes,
        s.ipv4_packets,
        s.ipv6_packets,
        s.non_ip_packets,
        s.flows
    );
    if !s.malformed.is_empty() || s.malformed_dns > 0 || s.ip_fragments > 0 {
        let m: Vec<String> = s
            .malformed
            .iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect();
        let _ = writeln!(
            o,
            "malformed: [{}], malformed DNS {}, IP fragments {}",
            m.join(", "),
            s.malformed_dns,
            s.ip_fragments
        );
    }

    let mut flows: Vec<_> = r.flows.iter().collect();
    flows.sort_by_key(|f| std::cmp::Reverse(f.bytes_out + f.bytes_in));
    let _ = writeln!(o, "\nflows (top by bytes):");
    for f in flows.iter().take(SHOW) {
        let _ = writeln!(
            o,
            "  {:<6} {}:{} -> {}:{}  out {} pkts/{} B  in {} pkts/{} B  syn {} fin {} rst {}{}",
            f.proto,
            f.src,
            f.sport,
            f.dst,
            f.dport,
            f.packets_out,
            f.bytes_out,
            f.packets_in,
            f.bytes_in,
            f.syn,
            f.fin,
            f.rst,
            f.app
                .as_deref()
                .map(|a| format!("  [{a}]"))
                .unwrap_or_default()
        );
    }
    more(&mut o, flows.len());

    let _ = writeln!(o, "\nendpoints (top by bytes):");
    for e in r.endpoints.iter().take(SHOW) {
        let geo = e
            .geo
            .as_deref()
            .map(|g| {
                let parts: Vec<String> = [
                    g.country.clone(),
                    g.city.clone(),
                    g.asn.map(|a| format!("AS{a}")),
                    g.as_org.clone(),
                ]
                .into_iter()
                .flatten()
                .collect();
                format!("  [{}]", parts.join(", "))
            })
            .unwrap_or_default();
        let _ = writeln!(
            o,
            "  {}  sent {} B  received {} B  ports {:?}{}{}{}",
            e.ip,
            e.bytes_sent,
            e.bytes_received,
            &e.ports[..e.ports.len().min(8)],
            if e.names.is_empty() {
                String::new()
            } else {
                format!("  ({})", e.names.join(", "))
            },
            geo,
            if e.blacklisted { "  BLACKLISTED" } else { "" }
        );
    }
    more(&mut o, r.endpoints.len());

    let _ = writeln!(o, "\nports:");
    for p in r.ports.iter().take(SHOW) {
        let _ = writeln!(
            o,
            "  {}/{}: {} flows, {} packets, {} B",
            p.proto, p.port, p.flows, p.packets, p.bytes
        );
    }
    more(&mut o, r.ports.len());

    if !r.dns.is_empty() {
        let mut names: Vec<&str> = r
            .dns
            .iter()
            .filter(|m| !m.response)
            .flat_map(|m| m.questions.iter().map(|q| q.name.as_str()))
            .collect();
        names.sort_unstable();
        names.dedup();
        let _ = writeln!(
            o,
            "\nDNS: {} messages, {} distinct names queried",
            r.dns.len(),
            names.len()
        );
        for n in names.iter().take(SHOW) {
            let answers: Vec<&str> = r
                .dns
                .iter()
                .filter(|m| m.response && m.questions.first().is_some_and(|q| q.name == *n))
                .flat_map(|m| m.answers.iter().map(|a| a.data.as_str()))
                .take(4)
                .collect();
            let _ = writeln!(
                o,
                "  {n}{}",
                if answers.is_empty() {
                    String::new()
                } else {
                    format!(" -> {}", answers.join(", "))
                }
            );
        }
        more(&mut o, names.len());
    }
    if !r.http.is_empty() {
        let _ = writeln!(o, "\nHTTP: {} requests", r.http.len());
        for h in r.http.iter().take(SHOW) {
            let _ = writeln!(
                o,
                "  {} {} {} host {}  -> {}",
                h.src,
                h.method,
                h.uri,
                h.host.as_deref().unwrap_or("-"),
                h.status
                    .map_or("no response".to_string(), |s| s.to_string())
            );
        }
        more(&mut o, r.http.len());
    }
    if !r.tls.is_empty() {
        let _ = writeln!(o, "\nTLS: {} client hellos", r.tls.len());
        for t in r.tls.iter().take(SHOW) {
            let _ = writeln!(
                o,
                "  {} -> {}:{} {} sni {}",
                t.src,
                t.dst,
                t.dport,
                t.version,
                t.sni.as_deref().unwrap_or("-")
            );
        }
        more(&mut o, r.tls.len());
    }
    if !r.irc.is_empty() {
        let _ = writeln!(o, "\nIRC: {} messages", r.irc.len());
        for m in r.irc.iter().filter(|m| m.from_client).take(SHOW) {
            let _ = writeln!(
                o,
                "  {} -> {}:{} {} {}",
                m.src,
                m.dst,
                m.dport,
                m.command,
                m.params.join(" ")
            );
        }
    }
    for t in &r.telnet {
        let _ = writeln!(
            o,
            "\ntelnet {}:{} -> {}:{}: {} negotiations, {} data segments, {} credentials",
            t.client,
            t.client_port,
            t.server,
            t.server_port,
            t.negotiations.len(),
            t.data.len(),
            t.credentials.len()
        );
        for c in &t.credentials {
            let _ = writeln!(
                o,
                "  login {:?} password {:?}",
                c.username.as_deref().unwrap_or(""),
                c.password.as_deref().unwrap_or("")
            );
        }
    }
    if !r.anomalies.is_empty() {
        let _ = writeln!(o, "\nanomalies:");
        for a in &r.anomalies {
            let _ = writeln!(o, "  {}: {}", a.kind, a.description);
        }
    }
    for l in &r.limits_reached {
        let _ = writeln!(
            o,
            "\nlimit reached: {} (limit {}): {} left out",
            l.what, l.limit, l.dropped
        );
    }
    if let Some(e) = &r.error {
        let _ = writeln!(o, "\nerror: {}", e.message);
    }
    o
}
