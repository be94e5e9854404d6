//! Container formats, link types, encapsulations, bad input and anomalies, on
//! captures built here byte by byte.

use std::net::IpAddr;

use ferret_pcap::write::{PcapWriter, Transport, build_frame};
use ferret_pcap::{Error, NetworkReport, Options, ReadError, analyze_reader};

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
}

fn dns_query(id: u16, name: &str) -> Vec<u8> {
    let mut m = id.to_be_bytes().to_vec();
    m.extend_from_slice(&[1, 0, 0, 1, 0, 0, 0, 0, 0, 0]);
    for l in name.split('.') {
        m.push(l.len() as u8);
        m.extend_from_slice(l.as_bytes());
    }
    m.extend_from_slice(&[0, 0, 1, 0, 1]);
    m
}

/// Ethernet frames: a DNS query and an HTTP request in one TCP connection.
fn frames() -> Vec<Vec<u8>> {
    let (c, s) = (ip("10.0.0.2"), ip("93.184.216.34"));
    let mut v = Vec::new();
    let mut f = Vec::new();
    build_frame(
        &mut f,
        c,
        40000,
        ip("10.0.0.1"),
        53,
        Transport::Udp,
        &dns_query(7, "example.com"),
    );
    v.push(f);
    let tcp = |seq, ack, flags| Transport::Tcp { seq, ack, flags };
    for (from_client, t, payload) in [
        (true, tcp(100, 0, 0x02), &b""[..]),
        (false, tcp(500, 101, 0x12), b""),
        (true, tcp(101, 501, 0x10), b""),
        (
            true,
            tcp(101, 501, 0x18),
            b"GET /index.html HTTP/1.1\r\nHost: example.com:8080\r\nUser-Agent: t/1\r\n\r\n",
        ),
        (
            false,
            tcp(501, 170, 0x18),
            b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi",
        ),
    ] {
        let mut f = Vec::new();
        if from_client {
            build_frame(&mut f, c, 40001, s, 80, t, payload);
        } else {
            build_frame(&mut f, s, 80, c, 40001, t, payload);
        }
        v.push(f);
    }
    v
}

fn classic(frames: &[Vec<u8>], linktype: u32, strip: usize, prefix: &[u8]) -> Vec<u8> {
    let mut w = PcapWriter::new(Vec::new(), linktype, false).unwrap_or_else(|e| panic!("{e}"));
    for (i, f) in frames.iter().enumerate() {
        let mut p = prefix.to_vec();
        p.extend_from_slice(&f[strip..]);
        w.packet(1_700_000_000_000_000_000 + i as u64 * 1_000_000, &p)
            .unwrap_or_else(|e| panic!("{e}"));
    }
    w.into_inner().unwrap_or_else(|e| panic!("{e}"))
}

fn check(r: &NetworkReport, what: &str) {
    assert!(r.error.is_none(), "{what}: {:?}", r.error);
    assert_eq!(r.summary.packets, 6, "{what}");
    assert!(
        r.dns.iter().any(|m| m
            .questions
            .first()
            .is_some_and(|q| q.name == "example.com" && q.rtype == "A")),
        "{what}: DNS query missing: {:?}",
        r.dns
    );
    let h = r
        .http
        .first()
        .unwrap_or_else(|| panic!("{what}: no HTTP request"));
    assert_eq!(
        (h.method.as_str(), h.uri.as_str(), h.host.as_deref()),
        ("GET", "/index.html", Some("example.com"))
    );
    assert_eq!(h.user_agent.as_deref(), Some("t/1"));
    assert_eq!(h.status, Some(200), "{what}");
    assert_eq!(h.response_body_len, 2, "{what}");
    let tcp = r
        .flows
        .iter()
        .find(|f| f.proto == "tcp")
        .unwrap_or_else(|| panic!("{what}: no TCP flow"));
    assert_eq!(
        (tcp.src, tcp.sport, tcp.dport),
        (ip("10.0.0.2"), 40001, 80),
        "{what}"
    );
    assert_eq!(
        (tcp.packets_out, tcp.packets_in, tcp.syn),
        (3, 2, 2),
        "{what}"
    );
    assert!(tcp.handshake, "{what}");
    assert_eq!(tcp.app.as_deref(), Some("http"));
}

fn run(bytes: &[u8]) -> NetworkReport {
    analyze_reader(bytes, &Options::default()).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn link_types_and_encapsulations() {
    let fr = frames();
    check(&run(&classic(&fr, 1, 0, &[])), "ethernet");
    // Raw IP under each of its link-type numbers (IPv4 only for 228).
    for lt in [101, 12, 228] {
        check(&run(&classic(&fr, lt, 14, &[])), &format!("raw IP {lt}"));
    }
    // BSD loopback: family 2 in host (little-endian here) byte order.
    check(&run(&classic(&fr, 0, 14, &[2, 0, 0, 0])), "null");
    check(&run(&classic(&fr, 108, 14, &[0, 0, 0, 2])), "loop");
    // Linux cooked v1 and v2.
    let mut sll = vec![0u8; 14];
    sll.extend_from_slice(&[0x08, 0x00]);
    check(&run(&classic(&fr, 113, 14, &sll)), "sll");
    let mut sll2 = vec![0x08, 0x00];
    sll2.extend_from_slice(&[0u8; 18]);
    check(&run(&classic(&fr, 276, 14, &sll2)), "sll2");
    // 802.1Q and QinQ.
    let vlan: Vec<Vec<u8>> = fr
        .iter()
        .map(|f| {
            let mut v = f[..12].to_vec();
            v.extend_from_slice(&[0x88, 0xa8, 0, 10, 0x81, 0x00, 0, 20]);
            v.extend_from_slice(&f[12..]);
            v
        })
        .collect();
    check(&run(&classic(&vlan, 1, 0, &[])), "qinq");
}

#[test]
fn big_endian_nanosecond_pcap() {
    let fr = frames();
    let mut b = vec![0xa1, 0xb2, 0x3c, 0x4d, 0, 2, 0, 4];
    b.extend_from_slice(&[0; 8]);
    b.extend_from_slice(&65535u32.to_be_bytes());
    b.extend_from_slice(&1u32.to_be_bytes());
    for (i, f) in fr.iter().enumerate() {
        b.extend_from_slice(&1_700_000_000u32.to_be_bytes());
        b.extend_from_slice(&(i as u32 * 10).to_be_bytes());
        b.extend_from_slice(&(f.len() as u32).to_be_bytes());
        b.extend_from_slice(&(f.len() as u32).to_be_bytes());
        b.extend_from_slice(f);
    }
    let r = run(&b);
    check(&r, "big-endian nanos");
    assert_eq!(r.summary.format, "pcap");
    assert!((r.summary.last_ts.unwrap_or(0.0) - 1_700_000_000.00000005).abs() < 1e-6);
}

fn ng_block(out: &mut Vec<u8>, btype: u32, body: &[u8]) {
    let pad = (4 - body.len() % 4) % 4;
    let len = (12 + body.len() + pad) as u32;
    out.extend_from_slice(&btype.to_le_bytes());
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(body);
    out.extend_from_slice(&vec![0; pad]);
    out.extend_from_slice(&len.to_le_bytes());
}

#[test]
fn pcapng_two_interfaces_epb_and_spb() {
    let fr = frames();
    let mut b = Vec::new();
    let mut shb = vec![0x4d, 0x3c, 0x2b, 0x1a, 1, 0, 0, 0];
    shb.extend_from_slice(&[0xff; 8]);
    ng_block(&mut b, 0x0a0d_0d0a, &shb);
    // Interface 0: Ethernet. Interface 1: raw IP with nanosecond resolution.
    ng_block(&mut b, 1, &[1, 0, 0, 0, 0, 0, 4, 0]);
    ng_block(
        &mut b,
        1,
        &[101, 0, 0, 0, 0, 0, 4, 0, 9, 0, 1, 0, 9, 0, 0, 0, 0, 0, 0, 0],
    );
    for (i, f) in fr.iter().enumerate() {
        if i == 0 {
            // The DNS query as a simple packet block (interface 0).
            let mut body = (f.len() as u32).to_le_bytes().to_vec();
            body.extend_from_slice(f);
            ng_block(&mut b, 3, &body);
            continue;
        }
        let (iface, data) = if i % 2 == 0 {
            (0u32, &f[..])
        } else {
            (1u32, &f[14..])
        };
        let ts: u64 = 1_700_000_000_000_000 + i as u64;
        let mut body = iface.to_le_bytes().to_vec();
        body.extend_from_slice(&((ts >> 32) as u32).to_le_bytes());
        body.extend_from_slice(&(ts as u32).to_le_bytes());
        body.extend_from_slice(&(data.len() as u32).to_le_bytes());
        body.extend_from_slice(&(data.len() as u32).to_le_bytes());
        body.extend_from_slice(data);
        ng_block(&mut b, 6, &body);
    }
    let r = run(&b);
    check(&r, "pcapng");
    assert_eq!(r.summary.format, "pcapng");
    assert_eq!(r.summary.link_types.get(&101), Some(&3));
}

#[test]
fn truncated_capture_reports_what_was_read_and_where_it_stopped() {
    let full = classic(&frames(), 1, 0, &[]);
    let cut = &full[..full.len() - 10];
    let r = run(cut);
    let e = r
        .error
        .as_ref()
        .unwrap_or_else(|| panic!("no error for a truncated file"));
    assert_eq!(e.packet, Some(6));
    assert!(
        e.message.contains("truncated") && e.message.contains("packet 6"),
        "{}",
        e.message
    );
    assert!(e.offset > 24 && e.offset < cut.len() as u64);
    assert_eq!(r.summary.packets, 5);
    assert_eq!(r.http.len(), 1);
    // A corrupt record length.
    let mut bad = full.clone();
    bad[24 + 8..24 + 12].copy_from_slice(&0x7fff_ffffu32.to_le_bytes());
    let r = run(&bad);
    let e = r
        .error
        .unwrap_or_else(|| panic!("no error for a corrupt length"));
    assert!(
        e.message.contains("corrupt") && e.offset == 24 && e.packet == Some(1),
        "{e:?}"
    );
}

#[test]
fn non_pcap_input_is_rejected_clearly() {
    for input in [&b"GIF89a..."[..], b"", b"\x7fELF\x02\x01\x01"] {
        match analyze_reader(input, &Options::default()) {
            Err(Error::Input(e @ ReadError::NotPcap { .. })) => {
                assert!(
                    e.to_string().starts_with("not a pcap or pcapng file"),
                    "{e}"
                )
            }
            other => panic!("expected NotPcap, got {other:?}"),
        }
    }
}

#[test]
fn anomalies_scans_exploits_bruteforce_blacklist() {
    let bot = ip("10.0.0.66");
    let mut frames = Vec::new();
    let tcp = |seq, ack, flags| Transport::Tcp { seq, ack, flags };
    // SYNs to port 23 on 50 addresses, never answered.
    for i in 0..50u32 {
        let mut f = Vec::new();
        build_frame(
            &mut f,
            bot,
            30000 + i as u16,
            IpAddr::from([198, 18, 0, i as u8]),
            23,
            tcp(1, 0, 2),
            b"",
        );
        frames.push(f);
    }
    // 25 ports on one address.
    for p in 0..25u16 {
        let mut f = Vec::new();
        build_frame(
            &mut f,
            bot,
            31000 + p,
            ip("198.18.1.1"),
            1000 + p,
            tcp(1, 0, 2),
            b"",
        );
        frames.push(f);
    }
    // An exploit path to a blacklisted server.
    let mut f = Vec::new();
    build_frame(
        &mut f,
        bot,
        32000,
        ip("203.0.113.5"),
        80,
        tcp(1, 0, 0x18),
        b"POST /GponForm/diag_Form?images/ HTTP/1.1\r\nHost: x\r\n\r\n",
    );
    frames.push(f);
    // Telnet: three login attempts after prompts.
    let (srv, port) = (ip("198.18.2.2"), 23);
    let mut cseq = 1u32;
    let mut sseq = 1u32;
    for (from_server, text) in [
        (true, &b"login: "[..]),
        (false, b"root\r\n"),
        (true, b"Password: "),
        (false, b"admin\r\n"),
        (true, b"Login incorrect\r\nlogin: "),
        (false, b"admin\r\n"),
        (true, b"Password: "),
        (false, b"1234\r\n"),
        (true, b"login: "),
        (false, b"user\r\n"),
        (true, b"Password: "),
        (false, b"user\r\n"),
    ] {
        let mut f = Vec::new();
        if from_server {
            build_frame(&mut f, srv, port, bot, 33000, tcp(sseq, cseq, 0x18), text);
            sseq += text.len() as u32;
        } else {
            build_frame(&mut f, bot, 33000, srv, port, tcp(cseq, sseq, 0x18), text);
            cseq += text.len() as u32;
        }
        frames.push(f);
    }
    let pcap = classic(&frames, 1, 0, &[]);
    let mut opts = Options::default();
    opts.blacklist
        .add_list("203.0.113.0/24\n", "test")
        .unwrap_or_else(|e| panic!("{e}"));
    let r = analyze_reader(&pcap[..], &opts).unwrap_or_else(|e| panic!("{e}"));
    let kinds: Vec<&str> = r.anomalies.iter().map(|a| &*a.kind).collect();
    for k in [
        "ip_scan",
        "port_scan",
        "syn_without_handshake",
        "exploit_web_path",
        "telnet_bruteforce",
        "blacklisted_endpoint",
    ] {
        assert!(kinds.contains(&k), "{k} missing from {kinds:?}");
    }
    let scan = r
        .anomalies
        .iter()
        .find(|a| a.kind == "ip_scan")
        .map(|a| a.count);
    // 50 scanned addresses plus the telnet server.
    assert_eq!(scan, Some(51));
    let creds: Vec<(Option<&str>, Option<&str>)> = r.telnet[0]
        .credentials
        .iter()
        .map(|c| (c.username.as_deref(), c.password.as_deref()))
        .collect();
    assert_eq!(
        creds,
        [
            (Some("root"), Some("admin")),
            (Some("admin"), Some("1234")),
            (Some("user"), Some("user"))
        ]
    );
    assert!(
        r.endpoints
            .iter()
            .any(|e| e.ip == ip("203.0.113.5") && e.blacklisted)
    );
    assert!(!r.endpoints.iter().any(|e| e.ip == bot && e.blacklisted));
    // Nothing of this sort in a plain capture.
    let clean = run(&classic(&self::frames(), 1, 0, &[]));
    assert!(clean.anomalies.is_empty(), "{:?}", clean.anomalies);
}

#[test]
fn client_port_does_not_decide_the_protocol() {
    let (c, s) = (ip("10.0.0.2"), ip("10.0.0.9"));
    let mut frames = Vec::new();
    for (t, sport, dport, payload) in [
        (
            Transport::Tcp {
                seq: 1,
                ack: 0,
                flags: 2,
            },
            5353u16,
            80u16,
            &b""[..],
        ),
        (
            Transport::Tcp {
                seq: 2,
                ack: 1,
                flags: 0x18,
            },
            5353,
            80,
            b"GET /x HTTP/1.1\r\nHost: h\r\n\r\n",
        ),
        (
            Transport::Udp,
            5353,
            4000,
            b"\x01\x02 not dns at all, just bytes",
        ),
    ] {
        let mut f = Vec::new();
        build_frame(&mut f, c, sport, s, dport, t, payload);
        frames.push(f);
    }
    let r = run(&classic(&frames, 1, 0, &[]));
    assert_eq!(r.http.len(), 1, "HTTP from client port 5353 missed");
    assert!(r.dns.is_empty(), "{:?}", r.dns);
    assert_eq!(r.summary.malformed_dns, 0);
}

#[test]
fn blacklisted_domain_from_http_host() {
    let (c, s) = (ip("10.0.0.2"), ip("198.51.100.20"));
    let mut f = Vec::new();
    let req = b"GET /bot.sh HTTP/1.1\r\nHost: cdn.evil.example:8080\r\n\r\n";
    build_frame(
        &mut f,
        c,
        40000,
        s,
        8080,
        Transport::Tcp {
            seq: 1,
            ack: 0,
            flags: 0x18,
        },
        req,
    );
    let mut opts = Options::default();
    opts.blacklist
        .add_list("evil.example\n", "test")
        .unwrap_or_else(|e| panic!("{e}"));
    let r = analyze_reader(&classic(&[f], 1, 0, &[])[..], &opts).unwrap_or_else(|e| panic!("{e}"));
    let e = r
        .endpoints
        .iter()
        .find(|e| e.ip == s)
        .unwrap_or_else(|| panic!("no endpoint {s}"));
    assert_eq!(e.names, ["cdn.evil.example"]);
    assert!(e.blacklisted);
    assert!(
        r.anomalies
            .iter()
            .any(|a| a.kind == "blacklisted_endpoint" && a.source == Some(s))
    );
    assert!(!r.endpoints.iter().any(|e| e.ip == c && e.blacklisted));
}

#[test]
fn tcp_buffers_stay_within_their_budget() {
    let s = ip("10.0.0.9");
    let tcp = |seq, flags| Transport::Tcp { seq, ack: 1, flags };
    let mut frames = Vec::new();
    // 200 connections, each closed after one complete request: nothing stays held.
    for i in 0..200u16 {
        let c = IpAddr::from([10, 1, (i >> 8) as u8, i as u8]);
        let req = b"GET /ok HTTP/1.1\r\nHost: h\r\n\r\n";
        for (t, p) in [
            (tcp(1, 0x18), &req[..]),
            (tcp(1 + req.len() as u32, 0x11), b""),
        ] {
            let mut f = Vec::new();
            build_frame(&mut f, c, 40000, s, 80, t, p);
            frames.push(f);
        }
        let mut f = Vec::new();
        build_frame(&mut f, s, 80, c, 40000, tcp(1, 0x11), b"");
        frames.push(f);
    }
    // 200 connections that leave a header block unfinished (2 KiB each).
    let mut pad = b"GET /slow HTTP/1.1\r\nX-Pad: ".to_vec();
    pad.resize(2048, b'a');
    for i in 0..200u16 {
        let mut f = Vec::new();
        build_frame(
            &mut f,
            IpAddr::from([10, 2, (i >> 8) as u8, i as u8]),
            40000,
            s,
            80,
            tcp(1, 0x18),
            &pad,
        );
        frames.push(f);
    }
    let pcap = classic(&frames, 1, 0, &[]);
    let mut opts = Options::default();
    opts.limits.tcp_buffer_bytes = 64 * 1024;
    let r = analyze_reader(&pcap[..], &opts).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(r.http.len(), 200, "closed connections were all parsed");
    let cut = r
        .limits_reached
        .iter()
        .find(|l| l.what == "tcp_buffer_bytes");
    let dropped = cut.map_or(0, |l| l.dropped);
    // 64 KiB holds about 30 of the unfinished 2 KiB headers; the rest are cut.
    assert!((150..=180).contains(&dropped), "{:?}", r.limits_reached);
}

/// Ethernet/IPv4 fragments of one datagram whose IP payload is `l4`.
fn v4_fragments(
    src: [u8; 4],
    dst: [u8; 4],
    proto: u8,
    id: u16,
    l4: &[u8],
    chunk: usize,
) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for (i, part) in l4.chunks(chunk).enumerate() {
        let off = (i * chunk / 8) as u16;
        let more = (i + 1) * chunk < l4.len();
        let mut f = vec![
            0x02, 0, 0, 0, 0, 2, 0x02, 0, 0, 0, 0, 1, 0x08, 0x00, 0x45, 0,
        ];
        f.extend_from_slice(&((20 + part.len()) as u16).to_be_bytes());
        f.extend_from_slice(&id.to_be_bytes());
        f.extend_from_slice(&(off | if more { 0x2000 } else { 0 }).to_be_bytes());
        f.extend_from_slice(&[64, proto, 0, 0]);
        f.extend_from_slice(&src);
        f.extend_from_slice(&dst);
        f.extend_from_slice(part);
        out.push(f);
    }
    out
}

#[test]
fn fragmented_dns_response_is_reassembled() {
    // A DNS response with 40 A records (over 600 bytes) in 3 fragments, sent out of order.
    let mut dns = vec![0x12, 0x34, 0x81, 0x80, 0, 1, 0, 40, 0, 0, 0, 0];
    dns.extend_from_slice(b"\x03big\x07example\x00\x00\x01\x00\x01");
    for i in 0..40u8 {
        dns.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 192, 0, 2, i]);
    }
    let mut udp = 53u16.to_be_bytes().to_vec();
    udp.extend_from_slice(&40000u16.to_be_bytes());
    udp.extend_from_slice(&((8 + dns.len()) as u16).to_be_bytes());
    udp.extend_from_slice(&[0, 0]);
    udp.extend_from_slice(&dns);
    let mut frags = v4_fragments([10, 0, 0, 1], [10, 0, 0, 2], 17, 77, &udp, 256);
    assert_eq!(frags.len(), 3);
    frags.swap(0, 2);
    let r = run_any(&classic(&frags, 1, 0, &[]));
    assert_eq!(r.summary.ip_fragments, 3);
    assert_eq!(r.summary.ip_reassembled, 1);
    let m = r.dns.first().unwrap_or_else(|| panic!("no DNS message"));
    assert_eq!(m.answers.len(), 40);
    assert_eq!(m.malformed, None);
    let f = r
        .flows
        .iter()
        .find(|f| f.proto == "udp")
        .unwrap_or_else(|| panic!("no flow"));
    assert_eq!(f.packets_out + f.packets_in, 3);
    // A datagram missing a fragment is never reported, nor does it crash anything.
    let frags = v4_fragments([10, 0, 0, 1], [10, 0, 0, 2], 17, 78, &udp, 256);
    let r = run_any(&classic(&frags[..2], 1, 0, &[]));
    assert_eq!((r.summary.ip_reassembled, r.dns.len()), (0, 0));
}

fn run_any(bytes: &[u8]) -> NetworkReport {
    analyze_reader(bytes, &Options::default()).unwrap_or_else(|e| panic!("{e}"))
}
