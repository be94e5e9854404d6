//! The per-packet engine: decoding, the flow table, L7 dispatch, and the final
//! report with endpoints, port statistics and anomalies.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::IpAddr;

use foldhash::fast::FixedState;

use crate::decode::{
    self, Decoded, PROTO_ICMP, PROTO_ICMPV6, PROTO_TCP, PROTO_UDP, TCP_ACK, TCP_FIN, TCP_RST,
    TCP_SYN,
};
use crate::dns;
use crate::reader::RawPacket;
use crate::records::{Ctx, Records};
use crate::report::{
    Anomaly, Endpoint, Flow, InputError, Label, LimitReached, NetworkReport, PortStat, Summary,
};
use crate::tcp::{AppKind, Next, TcpState, TcpStats};
use crate::{Options, ReadError};

type FastMap<K, V> = HashMap<K, V, FixedState>;
type FastSet<K> = HashSet<K, FixedState>;

/// Client, server, server port, nick and joined channels of one IRC flow.
type IrcSession = (IpAddr, IpAddr, u16, Option<String>, Vec<String>);

/// Flow key with addresses as integers: hashing and comparing them is much
/// cheaper than going through `IpAddr`'s enum.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct FlowKey {
    a: u128,
    b: u128,
    pa: u16,
    pb: u16,
    proto: u8,
    v6: bool,
}

fn pack(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(a) => u128::from(u32::from(a)),
        IpAddr::V6(a) => u128::from(a),
    }
}

fn unpack(v: u128, v6: bool) -> IpAddr {
    if v6 {
        IpAddr::V6(v.into())
    } else {
        IpAddr::V4((v as u32).into())
    }
}

#[derive(Debug)]
struct FlowRec {
    key: FlowKey,
    /// The initiator is `key.a`.
    init_is_a: bool,
    pkts: [u64; 2],
    bytes: [u64; 2],
    first: u64,
    last: u64,
    syn: u32,
    fin: u32,
    rst: u32,
    /// Initiator sent a SYN without ACK.
    syn_sent: bool,
    /// Responder answered with SYN-ACK.
    syn_ack: bool,
    /// Initial sequence numbers seen in SYNs, per direction, kept here so that
    /// connections without data (scans) need no reassembly state.
    isn: [Option<u32>; 2],
    app: AppKind,
    /// L7 parsing is over for this flow (nothing recognised, or closed).
    l7_done: bool,
    tcp: Option<Box<TcpState>>,
}

impl FlowRec {
    fn ends(&self) -> [(IpAddr, u16); 2] {
        let a = (unpack(self.key.a, self.key.v6), self.key.pa);
        let b = (unpack(self.key.b, self.key.v6), self.key.pb);
        if self.init_is_a { [a, b] } else { [b, a] }
    }
}

/// Incremental analysis: feed packets with [`Analyzer::packet`], then call
/// [`Analyzer::finish`] for the report.
#[derive(Debug)]
pub struct Analyzer<'o> {
    opts: &'o Options,
    map: FastMap<FlowKey, u32>,
    flows: Vec<FlowRec>,
    flows_dropped: u64,
    /// Flows holding TCP reassembly state, for the idle sweep.
    active: Vec<u32>,
    rec: Records,
    stats: TcpStats,
    summary: Summary,
    malformed: [u64; 7],
    link_types: Vec<(u32, u64)>,
    frags: crate::frag::Frags,
    first_ns: Option<u64>,
    last_ns: u64,
    next_sweep: u64,
    format: String,
}

fn secs(ns: u64) -> f64 {
    ns as f64 / 1e9
}

impl<'o> Analyzer<'o> {
    /// A fresh analysis with these options.
    pub fn new(opts: &'o Options) -> Self {
        Analyzer {
            opts,
            map: FastMap::with_capacity_and_hasher(1024, FixedState::default()),
            flows: Vec::new(),
            flows_dropped: 0,
            active: Vec::new(),
            rec: Records {
                cap: opts.limits.max_records,
                budget: opts.limits.max_record_bytes,
                ..Default::default()
            },
            stats: TcpStats {
                budget: opts.limits.tcp_buffer_bytes,
                ..Default::default()
            },
            summary: Summary::default(),
            malformed: [0; 7],
            link_types: Vec::new(),
            frags: crate::frag::Frags::default(),
            first_ns: None,
            last_ns: 0,
            next_sweep: 0,
            format: String::new(),
        }
    }

    /// Names the container format in the summary.
    pub fn set_format(&mut self, name: &str) {
        self.format = name.to_string();
    }

    /// Processes one captured packet.
    pub fn packet(&mut self, p: &RawPacket<'_>) {
        let s = &mut self.summary;
        s.packets += 1;
        s.captured_bytes += p.data.len() as u64;
        s.wire_bytes += u64::from(p.orig_len);
        // Nearly always one link type: a short vector beats a map lookup per packet.
        match self.link_types.iter_mut().find(|(t, _)| *t == p.linktype) {
            Some((_, n)) => *n += 1,
            None => self.link_types.push((p.linktype, 1)),
        }
        self.first_ns.get_or_insert(p.ts_ns);
        self.last_ns = self.last_ns.max(p.ts_ns);
        match decode::decode(p.linktype, p.data, p.orig_len) {
            Decoded::Ip(ip) => self.ip(p.ts_ns, &ip),
            Decoded::NonIp => s.non_ip_packets += 1,
            Decoded::UnknownLink => s.unknown_link_packets += 1,
            Decoded::Malformed(m) => self.malformed[m as usize] += 1,
        }
        if p.ts_ns >= self.next_sweep {
            self.sweep(p.ts_ns);
        }
    }

    /// Drops reassembly state of flows idle for longer than the timeout.
    fn sweep(&mut self, now: u64) {
        let idle = self.opts.limits.tcp_idle_secs.saturating_mul(1_000_000_000);
        self.next_sweep = now.saturating_add(idle / 4 + 1);
        let mut active = std::mem::take(&mut self.active);
        active.retain(|&i| {
            let Some(f) = self.flows.get_mut(i as usize) else {
                return false;
            };
            if f.tcp.is_none() {
                return false;
            }
            if now.saturating_sub(f.last) < idle {
                return true;
            }
            if let Some(mut t) = f.tcp.take() {
                let mut ctx = Ctx {
                    ts: secs(f.last),
                    flow: i,
                    ends: f.ends(),
                    rec: &mut self.rec,
                };
                t.close(&mut ctx, &mut self.stats);
            }
            f.l7_done = true;
            false
        });
        self.active = active;
    }

    fn ip(&mut self, ts: u64, ip: &decode::IpPacket<'_>) {
        if ip.src.is_ipv4() {
            self.summary.ipv4_packets += 1;
        } else {
            self.summary.ipv6_packets += 1;
        }
        if let Some(fr) = &ip.frag {
            self.summary.ip_fragments += 1;
            // Fragments count once their datagram is whole, as that datagram.
            if let Some(d) = self.frags.add(ts, ip.src, ip.dst, ip.proto, fr, ip.ip_len) {
                self.summary.ip_reassembled += 1;
                let len = d.payload.len();
                if let Decoded::Ip(whole) = decode::transport(
                    ip.src,
                    ip.dst,
                    ip.proto,
                    &d.payload,
                    len,
                    d.ip_bytes as u32,
                    None,
                ) {
                    self.flow_packet(ts, &whole, d.frames, d.ip_bytes);
                }
            }
            return;
        }
        self.flow_packet(ts, ip, 1, u64::from(ip.ip_len));
    }

    /// Accounts a (whole) IP packet, `frames` captured packets with `ip_bytes` IP
    /// bytes, to its flow and hands its payload to the parsers.
    fn flow_packet(&mut self, ts: u64, ip: &decode::IpPacket<'_>, frames: u64, ip_bytes: u64) {
        let (src, dst) = (pack(ip.src), pack(ip.dst));
        let v6 = ip.src.is_ipv6();
        let from_a = (src, ip.sport) <= (dst, ip.dport);
        let key = if from_a {
            FlowKey {
                a: src,
                b: dst,
                pa: ip.sport,
                pb: ip.dport,
                proto: ip.proto,
                v6,
            }
        } else {
            FlowKey {
                a: dst,
                b: src,
                pa: ip.dport,
                pb: ip.sport,
                proto: ip.proto,
                v6,
            }
        };
        let idx = match self.map.get(&key) {
            Some(&i) => i,
            None => {
                if self.flows.len() >= self.opts.limits.max_flows {
                    self.flows_dropped += 1;
                    return;
                }
                let idx = self.flows.len() as u32;
                let sender_initiates = initiator_is_sender(ip);
                self.flows.push(FlowRec {
                    key,
                    init_is_a: sender_initiates == from_a,
                    pkts: [0; 2],
                    bytes: [0; 2],
                    first: ts,
                    last: ts,
                    syn: 0,
                    fin: 0,
                    rst: 0,
                    syn_sent: false,
                    syn_ack: false,
                    isn: [None; 2],
                    app: AppKind::None,
                    l7_done: false,
                    tcp: None,
                });
                self.map.insert(key, idx);
                idx
            }
        };
        let Some(f) = self.flows.get_mut(idx as usize) else {
            return;
        };
        let dir = usize::from(from_a != f.init_is_a);
        f.pkts[dir] += frames;
        f.bytes[dir] += ip_bytes;
        f.last = f.last.max(ts);
        match ip.proto {
            PROTO_TCP => {
                let fl = ip.tcp_flags;
                if fl & TCP_SYN != 0 {
                    f.syn += 1;
                    if fl & TCP_ACK == 0 && dir == 0 {
                        f.syn_sent = true;
                    } else if fl & TCP_ACK != 0 && dir == 1 {
                        f.syn_ack = true;
                    }
                }
                if fl & TCP_FIN != 0 {
                    f.fin += 1;
                }
                if fl & TCP_RST != 0 {
                    f.rst += 1;
                }
                if f.l7_done || ip.fragment.is_some() {
                    return;
                }
                if f.tcp.is_none() {
                    if ip.payload.is_empty() {
                        if fl & TCP_SYN != 0 {
                            f.isn[dir] = Some(ip.seq);
                        }
                        return;
                    }
                    f.tcp = Some(Box::new(TcpState::new(f.isn)));
                    self.active.push(idx);
                }
                let ends = f.ends();
                if let Some(t) = f.tcp.as_mut() {
                    let mut ctx = Ctx {
                        ts: secs(ts),
                        flow: idx,
                        ends,
                        rec: &mut self.rec,
                    };
                    let next = t.segment(
                        dir,
                        ip.seq,
                        fl,
                        ip.payload,
                        &mut ctx,
                        &mut self.stats,
                        self.opts.limits.tcp_window,
                    );
                    if t.kind() != AppKind::None {
                        f.app = t.kind();
                    }
                    match next {
                        Next::Keep => {}
                        Next::Ignore => {
                            f.tcp = None;
                            f.l7_done = true;
                        }
                        Next::Closed => f.tcp = None,
                    }
                }
            }
            PROTO_UDP => {
                if ip.fragment.is_some() || ip.payload.is_empty() {
                    return;
                }
                // The server's port decides: a client may well use 5353 as its own.
                if matches!(f.ends()[1].1, 53 | 5353 | 5355) {
                    f.app = AppKind::Dns;
                    let ends = f.ends();
                    let mut ctx = Ctx {
                        ts: secs(ts),
                        flow: idx,
                        ends,
                        rec: &mut self.rec,
                    };
                    dns::emit(&mut ctx, dir, ip.payload, "udp");
                }
            }
            _ => {}
        }
    }

    /// Ends the analysis. `error` is why reading stopped early, if it did.
    pub fn finish(mut self, error: Option<&ReadError>) -> NetworkReport {
        // The lookup table is not needed any more: free it before the report grows.
        self.map = FastMap::default();
        self.active = Vec::new();
        let now = self.last_ns;
        for (i, f) in self.flows.iter_mut().enumerate() {
            if let Some(mut t) = f.tcp.take() {
                let mut ctx = Ctx {
                    ts: secs(now),
                    flow: i as u32,
                    ends: f.ends(),
                    rec: &mut self.rec,
                };
                t.close(&mut ctx, &mut self.stats);
                if t.kind() != AppKind::None {
                    f.app = t.kind();
                }
            }
        }
        let opts = self.opts;
        let mut report = NetworkReport::default();
        let mut s = std::mem::take(&mut self.summary);
        s.format = std::mem::take(&mut self.format);
        s.first_ts = self.first_ns.map(secs);
        s.last_ts = self.first_ns.map(|_| secs(self.last_ns));
        let names = [
            decode::Malformed::LinkTruncated,
            decode::Malformed::Ipv4Header,
            decode::Malformed::Ipv4Length,
            decode::Malformed::Ipv6Header,
            decode::Malformed::Ipv6Extension,
            decode::Malformed::TcpHeader,
            decode::Malformed::UdpHeader,
        ];
        for m in names {
            let n = self.malformed[m as usize];
            if n > 0 {
                s.malformed.insert(m.name().to_string(), n);
            }
        }
        s.malformed_dns = self.rec.malformed_dns;
        s.link_types = self.link_types.iter().copied().collect();
        s.flows = self.flows.len() as u64 + self.flows_dropped;
        s.tcp_out_of_order = self.stats.out_of_order;
        s.tcp_gap_bytes = self.stats.gap_bytes;

        // Names of addresses, from DNS answers.
        let mut resolved: FastMap<IpAddr, Vec<String>> = FastMap::default();
        for m in &self.rec.dns {
            for a in &m.answers {
                if (a.rtype == "A" || a.rtype == "AAAA")
                    && let Ok(ip) = a.data.parse::<IpAddr>()
                {
                    let v = resolved.entry(ip).or_default();
                    if let Some(q) = m.questions.first()
                        && v.len() < 20
                        && !v.contains(&q.name)
                    {
                        v.push(q.name.clone());
                    }
                    if v.len() < 20 && !v.contains(&a.name) {
                        v.push(a.name.clone());
                    }
                }
            }
        }
        // Names the clients themselves gave the server: HTTP Host and TLS SNI
        // (a blacklisted domain is caught even when no DNS lookup was captured).
        let named = self
            .rec
            .http
            .iter()
            .filter_map(|h| Some((h.dst, h.host.as_deref()?)));
        let named = named.chain(
            self.rec
                .tls
                .iter()
                .filter_map(|t| Some((t.dst, t.sni.as_deref()?))),
        );
        for (ip, name) in named {
            // An address literal in Host is no name.
            if name.is_empty() || name.trim_matches(['[', ']']).parse::<IpAddr>().is_ok() {
                continue;
            }
            let v = resolved.entry(ip).or_default();
            if v.len() < 20 && !v.iter().any(|n| n == name) {
                v.push(name.to_string());
            }
        }

        report.endpoints = self.endpoints(&resolved);
        report.ports = self.port_stats();
        report.anomalies = self.anomalies(&report.endpoints, &s);

        report.flows = std::mem::take(&mut self.flows)
            .into_iter()
            .enumerate()
            .map(|(i, f)| {
                let [(src, sport), (dst, dport)] = f.ends();
                Flow {
                    id: i as u32,
                    proto: proto_name(f.key.proto),
                    src,
                    sport,
                    dst,
                    dport,
                    packets_out: f.pkts[0],
                    bytes_out: f.bytes[0],
                    packets_in: f.pkts[1],
                    bytes_in: f.bytes[1],
                    first_ts: secs(f.first),
                    last_ts: secs(f.last),
                    syn: f.syn,
                    fin: f.fin,
                    rst: f.rst,
                    handshake: f.syn_sent && f.syn_ack,
                    app: f.app.name().map(Label::Borrowed),
                }
            })
            .collect();

        let lim = |what: &str, limit: usize, dropped: u64| {
            (dropped > 0).then(|| LimitReached {
                what: what.to_string(),
                limit: limit as u64,
                dropped,
            })
        };
        let cap = opts.limits.max_records;
        report.limits_reached = [
            lim("flows", opts.limits.max_flows, self.flows_dropped),
            lim("dns", cap, self.rec.dropped_dns),
            lim("http", cap, self.rec.dropped_http),
            lim("irc", cap, self.rec.dropped_irc),
            lim("telnet", cap, self.rec.dropped_telnet),
            lim("tls", cap, self.rec.dropped_tls),
            lim(
                "record_bytes",
                opts.limits.max_record_bytes,
                self.rec.over_budget,
            ),
            lim("ip_fragments", crate::frag::MAX_PENDING, self.frags.dropped),
            lim(
                "tcp_buffer_bytes",
                opts.limits.tcp_buffer_bytes,
                self.stats.over_budget,
            ),
        ]
        .into_iter()
        .flatten()
        .collect();
        report.summary = s;
        report.dns = std::mem::take(&mut self.rec.dns);
        report.http = std::mem::take(&mut self.rec.http);
        report.irc = std::mem::take(&mut self.rec.irc);
        report.telnet = std::mem::take(&mut self.rec.telnet);
        report.tls = std::mem::take(&mut self.rec.tls);
        report.error = error.map(|e| InputError {
            message: e.to_string(),
            offset: e.offset(),
            packet: e.packet(),
        });
        report
    }

    fn endpoints(&self, resolved: &FastMap<IpAddr, Vec<String>>) -> Vec<Endpoint> {
        // Endpoints in a vector indexed through a map of small values, so that the
        // (large) records are not held twice when the list is built.
        let mut index: FastMap<IpAddr, u32> = FastMap::default();
        let mut eps: Vec<Endpoint> = Vec::new();
        // (responder, port) pairs, sorted and deduplicated below: cheaper in memory
        // than a set per endpoint.
        let mut served: Vec<(IpAddr, u16)> = Vec::new();
        for f in &self.flows {
            let [(src, _), (dst, dport)] = f.ends();
            for (ip, dir) in [(src, 0usize), (dst, 1usize)] {
                let i = *index.entry(ip).or_insert_with(|| {
                    eps.push(new_endpoint(ip));
                    (eps.len() - 1) as u32
                });
                let Some(e) = eps.get_mut(i as usize) else {
                    continue;
                };
                e.packets_sent += f.pkts[dir];
                e.bytes_sent += f.bytes[dir];
                e.packets_received += f.pkts[dir ^ 1];
                e.bytes_received += f.bytes[dir ^ 1];
                if dir == 0 {
                    e.flows_initiated += 1;
                } else {
                    e.flows_accepted += 1;
                }
            }
            if matches!(f.key.proto, PROTO_TCP | PROTO_UDP) {
                served.push((dst, dport));
            }
        }
        served.sort_unstable();
        served.dedup();
        for group in served.chunk_by(|a, b| a.0 == b.0) {
            if let Some(e) = group
                .first()
                .and_then(|(ip, _)| index.get(ip))
                .and_then(|&i| eps.get_mut(i as usize))
            {
                e.ports_total = group.len();
                e.ports = group.iter().take(100).map(|(_, p)| *p).collect();
            }
        }
        drop(served);
        drop(index);
        let mut out: Vec<Endpoint> = eps
            .into_iter()
            .map(|mut e| {
                if let Some(n) = resolved.get(&e.ip) {
                    e.names = n.clone();
                }
                if let Some(g) = &self.opts.geoip {
                    let info = g.lookup(e.ip);
                    if info != crate::report::Geo::default() {
                        e.geo = Some(Box::new(info));
                    }
                }
                let bl = &self.opts.blacklist;
                e.blacklisted =
                    bl.contains_ip(e.ip) || e.names.iter().any(|n| bl.contains_domain(n));
                e
            })
            .collect();
        out.sort_by(|a, b| {
            (b.bytes_sent + b.bytes_received)
                .cmp(&(a.bytes_sent + a.bytes_received))
                .then(a.ip.cmp(&b.ip))
        });
        out
    }

    fn port_stats(&self) -> Vec<PortStat> {
        let mut m: BTreeMap<(u8, u16), PortStat> = BTreeMap::new();
        for f in &self.flows {
            if !matches!(f.key.proto, PROTO_TCP | PROTO_UDP) {
                continue;
            }
            let port = f.ends()[1].1;
            let e = m.entry((f.key.proto, port)).or_insert_with(|| PortStat {
                proto: proto_name(f.key.proto),
                port,
                flows: 0,
                packets: 0,
                bytes: 0,
            });
            e.flows += 1;
            e.packets += f.pkts[0] + f.pkts[1];
            e.bytes += f.bytes[0] + f.bytes[1];
        }
        let mut v: Vec<PortStat> = m.into_values().collect();
        v.sort_by(|a, b| {
            b.flows
                .cmp(&a.flows)
                .then(a.proto.cmp(&b.proto))
                .then(a.port.cmp(&b.port))
        });
        v
    }

    fn anomalies(&self, endpoints: &[Endpoint], s: &Summary) -> Vec<Anomaly> {
        let t = &self.opts.thresholds;
        let mut out = Vec::new();
        // Scans: distinct targets per (source, proto, port) and ports per (source, target).
        // Sorted tuples grouped afterwards: far less memory than a set per key.
        let mut by_port: Vec<(IpAddr, u8, u16, IpAddr)> = Vec::new();
        let mut by_host: Vec<(IpAddr, IpAddr, u8, u16)> = Vec::new();
        let mut half_open: FastMap<IpAddr, u64> = FastMap::default();
        for f in &self.flows {
            if !matches!(f.key.proto, PROTO_TCP | PROTO_UDP) {
                continue;
            }
            let [(src, _), (dst, dport)] = f.ends();
            by_port.push((src, f.key.proto, dport, dst));
            by_host.push((src, dst, f.key.proto, dport));
            if f.key.proto == PROTO_TCP && f.syn_sent && !f.syn_ack {
                *half_open.entry(src).or_default() += 1;
            }
        }
        by_port.sort_unstable();
        by_port.dedup();
        for g in by_port.chunk_by(|a, b| (a.0, a.1, a.2) == (b.0, b.1, b.2)) {
            let (src, proto, port, _) = g[0];
            let n = g.len() as u64;
            if n >= t.ip_scan_hosts {
                out.push(Anomaly {
                    kind: Label::Borrowed("ip_scan"),
                    source: Some(src),
                    target: Some(format!("{}/{port}", proto_name(proto))),
                    count: n,
                    description: format!(
                        "{src} contacted {n} distinct addresses on {}/{port} (threshold {})",
                        proto_name(proto),
                        t.ip_scan_hosts
                    ),
                });
            }
        }
        drop(by_port);
        by_host.sort_unstable();
        by_host.dedup();
        for g in by_host.chunk_by(|a, b| (a.0, a.1) == (b.0, b.1)) {
            let (src, dst, _, _) = g[0];
            let n = g.len() as u64;
            if n >= t.port_scan_ports {
                out.push(Anomaly {
                    kind: Label::Borrowed("port_scan"),
                    source: Some(src),
                    target: Some(dst.to_string()),
                    count: n,
                    description: format!(
                        "{src} contacted {n} distinct ports on {dst} (threshold {})",
                        t.port_scan_ports
                    ),
                });
            }
        }
        drop(by_host);
        for (src, n) in &half_open {
            if *n >= t.syn_without_handshake {
                out.push(Anomaly {
                    kind: Label::Borrowed("syn_without_handshake"),
                    source: Some(*src),
                    target: None,
                    count: *n,
                    description: format!(
                        "{src} sent SYNs in {n} TCP flows that were never answered with SYN-ACK (threshold {})",
                        t.syn_without_handshake
                    ),
                });
            }
        }
        for e in endpoints.iter().filter(|e| e.blacklisted) {
            out.push(Anomaly {
                kind: Label::Borrowed("blacklisted_endpoint"),
                source: Some(e.ip),
                target: e.names.first().cloned(),
                count: e.flows_initiated + e.flows_accepted,
                description: format!(
                    "{}{} is blacklisted ({} flows)",
                    e.ip,
                    e.names
                        .first()
                        .map(|n| format!(" ({n})"))
                        .unwrap_or_default(),
                    e.flows_initiated + e.flows_accepted
                ),
            });
        }
        let malformed: u64 = s.malformed.values().sum();
        if malformed >= t.malformed_packets && malformed > 0 {
            let kinds: Vec<String> = s
                .malformed
                .iter()
                .map(|(k, v)| format!("{k}: {v}"))
                .collect();
            out.push(Anomaly {
                kind: Label::Borrowed("malformed_packets"),
                source: None,
                target: None,
                count: malformed,
                description: format!(
                    "{malformed} packets with truncated or inconsistent headers ({})",
                    kinds.join(", ")
                ),
            });
        }
        if s.malformed_dns >= t.malformed_dns && s.malformed_dns > 0 {
            out.push(Anomaly {
                kind: Label::Borrowed("malformed_dns"),
                source: None,
                target: None,
                count: s.malformed_dns,
                description: format!(
                    "{} DNS messages could not be parsed completely",
                    s.malformed_dns
                ),
            });
        }
        let mut domains: FastSet<&str> = FastSet::default();
        for m in self.rec.dns.iter().filter(|m| !m.response) {
            for q in &m.questions {
                domains.insert(q.name.as_str());
            }
        }
        if domains.len() as u64 >= t.distinct_domains {
            out.push(Anomaly {
                kind: Label::Borrowed("many_domains"),
                source: None,
                target: None,
                count: domains.len() as u64,
                description: format!(
                    "{} distinct domain names queried (threshold {})",
                    domains.len(),
                    t.distinct_domains
                ),
            });
        }
        let mut exploit: BTreeMap<(IpAddr, &str), u64> = BTreeMap::new();
        for h in &self.rec.http {
            let uri = h.uri.to_ascii_lowercase();
            for p in &t.exploit_paths {
                if uri.contains(&p.to_ascii_lowercase()) {
                    *exploit.entry((h.src, p.as_str())).or_default() += 1;
                }
            }
        }
        for ((src, path), n) in exploit {
            out.push(Anomaly {
                kind: Label::Borrowed("exploit_web_path"),
                source: Some(src),
                target: Some(path.to_string()),
                count: n,
                description: format!(
                    "{src} requested the commonly exploited path {path} {n} time(s)"
                ),
            });
        }
        let mut attempts: BTreeMap<(IpAddr, IpAddr), u64> = BTreeMap::new();
        for ts in &self.rec.telnet {
            *attempts.entry((ts.client, ts.server)).or_default() += ts.credentials.len() as u64;
        }
        for ((c, srv), n) in attempts {
            if n >= t.telnet_login_attempts {
                out.push(Anomaly {
                    kind: Label::Borrowed("telnet_bruteforce"),
                    source: Some(c),
                    target: Some(srv.to_string()),
                    count: n,
                    description: format!(
                        "{c} made {n} telnet login attempts on {srv} (threshold {})",
                        t.telnet_login_attempts
                    ),
                });
            }
        }
        if t.irc_c2 {
            // A client that registers and joins a channel: the classic bot C2 pattern.
            let mut sessions: BTreeMap<u32, IrcSession> = BTreeMap::new();
            for m in self.rec.irc.iter().filter(|m| m.from_client) {
                let e = sessions
                    .entry(m.flow)
                    .or_insert((m.src, m.dst, m.dport, None, Vec::new()));
                match m.command.as_str() {
                    "NICK" => e.3 = m.params.first().cloned(),
                    "JOIN" => {
                        if let Some(ch) = m.params.first()
                            && e.4.len() < 16
                        {
                            e.4.push(ch.clone());
                        }
                    }
                    _ => {}
                }
            }
            for (_, (src, dst, port, nick, chans)) in sessions {
                if nick.is_some() || !chans.is_empty() {
                    out.push(Anomaly {
                        kind: Label::Borrowed("irc_c2"),
                        source: Some(src),
                        target: Some(format!("{dst}:{port}")),
                        count: chans.len() as u64,
                        description: format!(
                            "{src} registered on IRC server {dst}:{port}{}{}",
                            nick.map(|n| format!(" as {n}")).unwrap_or_default(),
                            if chans.is_empty() {
                                String::new()
                            } else {
                                format!(" and joined {}", chans.join(" "))
                            }
                        ),
                    });
                }
            }
        }
        // Hash-map iteration order is arbitrary: make the report deterministic.
        out.sort_by(|a, b| {
            (&*a.kind, a.source, a.target.as_deref(), b.count).cmp(&(
                &*b.kind,
                b.source,
                b.target.as_deref(),
                a.count,
            ))
        });
        out
    }
}

/// Guesses whether the sender of the first packet seen opened the flow.
fn initiator_is_sender(ip: &decode::IpPacket<'_>) -> bool {
    if ip.proto == PROTO_TCP && ip.tcp_flags & TCP_SYN != 0 {
        return ip.tcp_flags & TCP_ACK == 0;
    }
    // Mid-stream: the side on a well-known port is the server.
    !(ip.sport < 1024 && ip.dport >= 1024)
}

fn proto_name(p: u8) -> Label {
    match p {
        PROTO_TCP => Label::Borrowed("tcp"),
        PROTO_UDP => Label::Borrowed("udp"),
        PROTO_ICMP => Label::Borrowed("icmp"),
        PROTO_ICMPV6 => Label::Borrowed("icmpv6"),
        n => Label::Owned(n.to_string()),
    }
}

fn new_endpoint(ip: IpAddr) -> Endpoint {
    Endpoint {
        ip,
        packets_sent: 0,
        packets_received: 0,
        bytes_sent: 0,
        bytes_received: 0,
        flows_initiated: 0,
        flows_accepted: 0,
        ports: Vec::new(),
        ports_total: 0,
        names: Vec::new(),
        geo: None,
        blacklisted: false,
    }
}
