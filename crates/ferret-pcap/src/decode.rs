//! Zero-copy decoding of link, network and transport headers.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// IP protocol numbers used here.
pub const PROTO_ICMP: u8 = 1;
/// TCP.
pub const PROTO_TCP: u8 = 6;
/// UDP.
pub const PROTO_UDP: u8 = 17;
/// ICMPv6.
pub const PROTO_ICMPV6: u8 = 58;

/// TCP flag bits.
pub const TCP_FIN: u8 = 0x01;
/// SYN.
pub const TCP_SYN: u8 = 0x02;
/// RST.
pub const TCP_RST: u8 = 0x04;
/// ACK.
pub const TCP_ACK: u8 = 0x10;

/// Why a packet could not be decoded: each is counted under its name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Malformed {
    /// Link-layer header shorter than its fixed size.
    LinkTruncated,
    /// IPv4 header too short, bad version or header length.
    Ipv4Header,
    /// IPv4 total length smaller than the header or larger than the packet on the wire.
    Ipv4Length,
    /// IPv6 header truncated or payload length beyond the packet.
    Ipv6Header,
    /// IPv6 extension header chain truncated or too long.
    Ipv6Extension,
    /// TCP header truncated or data offset invalid.
    TcpHeader,
    /// UDP header truncated or its length field inconsistent.
    UdpHeader,
}

impl Malformed {
    /// Stable name used as the key in reports.
    pub fn name(self) -> &'static str {
        match self {
            Malformed::LinkTruncated => "link_truncated",
            Malformed::Ipv4Header => "ipv4_header",
            Malformed::Ipv4Length => "ipv4_length",
            Malformed::Ipv6Header => "ipv6_header",
            Malformed::Ipv6Extension => "ipv6_extension",
            Malformed::TcpHeader => "tcp_header",
            Malformed::UdpHeader => "udp_header",
        }
    }
}

/// Result of decoding one packet.
#[derive(Debug)]
pub enum Decoded<'a> {
    /// An IP packet with its transport header parsed where possible.
    Ip(IpPacket<'a>),
    /// Not IP (ARP, LLDP, ...): counted, otherwise ignored.
    NonIp,
    /// A link type this decoder does not know.
    UnknownLink,
    /// Headers that are truncated or inconsistent.
    Malformed(Malformed),
}

/// A decoded IP packet.
#[derive(Debug, Clone, Copy)]
pub struct IpPacket<'a> {
    /// Source address.
    pub src: IpAddr,
    /// Destination address.
    pub dst: IpAddr,
    /// Transport protocol number (after IPv6 extension headers).
    pub proto: u8,
    /// Source port (0 when the protocol has none).
    pub sport: u16,
    /// Destination port (0 when the protocol has none).
    pub dport: u16,
    /// TCP flags (0 for other protocols).
    pub tcp_flags: u8,
    /// TCP sequence number.
    pub seq: u32,
    /// Length of the IP packet (header included) as given by its header.
    pub ip_len: u32,
    /// Transport payload as captured (may be shorter than sent with a snap length).
    pub payload: &'a [u8],
    /// Transport payload length according to the headers.
    pub payload_len: u32,
    /// IPv4/IPv6 fragment: `Some(true)` for the first fragment, `Some(false)` for later ones.
    pub fragment: Option<bool>,
    /// For fragments: what reassembly needs.
    pub frag: Option<FragInfo<'a>>,
}

/// One fragment of an IP datagram.
#[derive(Debug, Clone, Copy)]
pub struct FragInfo<'a> {
    /// Identification (IPv4: 16 bits; IPv6: 32 bits).
    pub id: u32,
    /// Offset of this fragment's data in the datagram, in bytes.
    pub offset: u32,
    /// More fragments follow.
    pub more: bool,
    /// This fragment's data (the IP payload as captured).
    pub data: &'a [u8],
}

fn with_frag<'a>(d: Decoded<'a>, frag: Option<FragInfo<'a>>) -> Decoded<'a> {
    match d {
        Decoded::Ip(mut p) => {
            p.frag = frag;
            Decoded::Ip(p)
        }
        other => other,
    }
}

fn be16(b: &[u8], at: usize) -> u16 {
    match b.get(at..at + 2) {
        Some(s) => u16::from_be_bytes([s[0], s[1]]),
        None => 0,
    }
}

fn be32(b: &[u8], at: usize) -> u32 {
    match b.get(at..at + 4) {
        Some(s) => u32::from_be_bytes([s[0], s[1], s[2], s[3]]),
        None => 0,
    }
}

/// Decodes a packet of the given link type. `orig_len` is its length on the wire,
/// used to tell a snap-length cut (fine) from an inconsistent header (malformed).
pub fn decode(linktype: u32, data: &[u8], orig_len: u32) -> Decoded<'_> {
    // How many bytes the wire had beyond the capture.
    let cut = (orig_len as usize).saturating_sub(data.len());
    match linktype {
        // Ethernet
        1 => {
            if data.len() < 14 {
                return Decoded::Malformed(Malformed::LinkTruncated);
            }
            ethertype(be16(data, 12), &data[14..], cut)
        }
        // BSD loopback/null: 4-byte address family in the writer's byte order.
        0 => {
            if data.len() < 4 {
                return Decoded::Malformed(Malformed::LinkTruncated);
            }
            let le = u32::from_le_bytes([data[0], data[1], data[2], data[3]]);
            let be = u32::from_be_bytes([data[0], data[1], data[2], data[3]]);
            let fam = if le < 256 { le } else { be };
            match fam {
                2 => ipv4(&data[4..], cut),
                24 | 28 | 30 => ipv6(&data[4..], cut),
                _ => Decoded::NonIp,
            }
        }
        // OpenBSD loopback: family in network byte order.
        108 => {
            if data.len() < 4 {
                return Decoded::Malformed(Malformed::LinkTruncated);
            }
            match be32(data, 0) {
                2 => ipv4(&data[4..], cut),
                24 | 28 | 30 => ipv6(&data[4..], cut),
                _ => Decoded::NonIp,
            }
        }
        // Raw IP, version from the first nibble.
        101 | 12 | 14 => match data.first().map(|b| b >> 4) {
            Some(4) => ipv4(data, cut),
            Some(6) => ipv6(data, cut),
            Some(_) => Decoded::NonIp,
            None => Decoded::Malformed(Malformed::LinkTruncated),
        },
        228 => ipv4(data, cut),
        229 => ipv6(data, cut),
        // Linux cooked capture v1: protocol at bytes 14..16.
        113 => {
            if data.len() < 16 {
                return Decoded::Malformed(Malformed::LinkTruncated);
            }
            ethertype(be16(data, 14), &data[16..], cut)
        }
        // Linux cooked capture v2: protocol at bytes 0..2, 20-byte header.
        276 => {
            if data.len() < 20 {
                return Decoded::Malformed(Malformed::LinkTruncated);
            }
            ethertype(be16(data, 0), &data[20..], cut)
        }
        _ => Decoded::UnknownLink,
    }
}

fn ethertype(mut et: u16, mut rest: &[u8], cut: usize) -> Decoded<'_> {
    // 802.1Q, 802.1ad (QinQ) and the old 0x9100 tag; a few levels at most.
    for _ in 0..4 {
        if !matches!(et, 0x8100 | 0x88a8 | 0x9100) {
            break;
        }
        if rest.len() < 4 {
            return Decoded::Malformed(Malformed::LinkTruncated);
        }
        et = be16(rest, 2);
        rest = &rest[4..];
    }
    match et {
        0x0800 => ipv4(rest, cut),
        0x86dd => ipv6(rest, cut),
        _ => Decoded::NonIp,
    }
}

fn ipv4(b: &[u8], cut: usize) -> Decoded<'_> {
    if b.len() < 20 {
        return Decoded::Malformed(Malformed::Ipv4Header);
    }
    let ihl = usize::from(b[0] & 0x0f) * 4;
    if b[0] >> 4 != 4 || ihl < 20 || ihl > b.len() {
        return Decoded::Malformed(Malformed::Ipv4Header);
    }
    let total = usize::from(be16(b, 2));
    // A total length of 0 is what TSO-offloaded captures show: trust the capture then.
    let total = if total == 0 { b.len() } else { total };
    if total < ihl || total > b.len() + cut {
        return Decoded::Malformed(Malformed::Ipv4Length);
    }
    // Ethernet pads short frames: the IP header says where the packet ends.
    let b = &b[..total.min(b.len())];
    let frag = be16(b, 6);
    let more = frag & 0x2000 != 0;
    let offset = frag & 0x1fff;
    let fragment = if offset != 0 {
        Some(false)
    } else if more {
        Some(true)
    } else {
        None
    };
    let src = IpAddr::V4(Ipv4Addr::new(b[12], b[13], b[14], b[15]));
    let dst = IpAddr::V4(Ipv4Addr::new(b[16], b[17], b[18], b[19]));
    let proto = b[9];
    let l4 = &b[ihl..];
    let l4_len = total - ihl;
    let frag = fragment.map(|_| FragInfo {
        id: u32::from(be16(b, 4)),
        offset: u32::from(offset) * 8,
        more,
        data: l4,
    });
    if fragment == Some(false) {
        return Decoded::Ip(IpPacket {
            src,
            dst,
            proto,
            sport: 0,
            dport: 0,
            tcp_flags: 0,
            seq: 0,
            ip_len: total as u32,
            payload: l4,
            payload_len: l4_len as u32,
            fragment,
            frag,
        });
    }
    with_frag(
        transport(src, dst, proto, l4, l4_len, total as u32, fragment),
        frag,
    )
}

fn ipv6(b: &[u8], cut: usize) -> Decoded<'_> {
    if b.len() < 40 || b[0] >> 4 != 6 {
        return Decoded::Malformed(Malformed::Ipv6Header);
    }
    let plen = usize::from(be16(b, 4));
    // Payload length 0 is a jumbogram (or offload): take what was captured.
    let plen = if plen == 0 { b.len() - 40 } else { plen };
    if plen > b.len() - 40 + cut {
        return Decoded::Malformed(Malformed::Ipv6Header);
    }
    let b = &b[..(40 + plen).min(b.len())];
    let mut s = [0u8; 16];
    s.copy_from_slice(&b[8..24]);
    let mut d = [0u8; 16];
    d.copy_from_slice(&b[24..40]);
    let src = IpAddr::V6(Ipv6Addr::from(s));
    let dst = IpAddr::V6(Ipv6Addr::from(d));
    let mut next = b[6];
    let mut at = 40usize;
    let mut fragment = None;
    let mut frag_hdr = (0u32, 0u32, false);
    for _ in 0..8 {
        match next {
            // hop-by-hop, routing, destination options, mobility
            0 | 43 | 60 | 135 => {
                if b.len() < at + 2 {
                    return Decoded::Malformed(Malformed::Ipv6Extension);
                }
                next = b[at];
                at += (usize::from(b[at + 1]) + 1) * 8;
            }
            // fragment
            44 => {
                if b.len() < at + 8 {
                    return Decoded::Malformed(Malformed::Ipv6Extension);
                }
                next = b[at];
                let off = be16(b, at + 2);
                frag_hdr = (be32(b, at + 4), u32::from(off >> 3) * 8, off & 1 != 0);
                fragment = if off >> 3 != 0 {
                    Some(false)
                } else if off & 1 != 0 {
                    Some(true)
                } else {
                    None
                };
                at += 8;
            }
            // authentication header: length in 4-byte units, minus 2
            51 => {
                if b.len() < at + 2 {
                    return Decoded::Malformed(Malformed::Ipv6Extension);
                }
                next = b[at];
                at += (usize::from(b[at + 1]) + 2) * 4;
            }
            _ => break,
        }
        if at > 40 + plen {
            return Decoded::Malformed(Malformed::Ipv6Extension);
        }
    }
    if matches!(next, 0 | 43 | 60 | 135 | 44 | 51) {
        return Decoded::Malformed(Malformed::Ipv6Extension);
    }
    let l4 = b.get(at..).unwrap_or(&[]);
    let l4_len = 40 + plen - at;
    let ip_len = (40 + plen) as u32;
    let frag = fragment.map(|_| FragInfo {
        id: frag_hdr.0,
        offset: frag_hdr.1,
        more: frag_hdr.2,
        data: l4,
    });
    if fragment == Some(false) {
        return Decoded::Ip(IpPacket {
            src,
            dst,
            proto: next,
            sport: 0,
            dport: 0,
            tcp_flags: 0,
            seq: 0,
            ip_len,
            payload: l4,
            payload_len: l4_len as u32,
            fragment,
            frag,
        });
    }
    with_frag(
        transport(src, dst, next, l4, l4_len, ip_len, fragment),
        frag,
    )
}

/// Parses the transport header of an IP payload (also used on reassembled datagrams).
pub(crate) fn transport<'a>(
    src: IpAddr,
    dst: IpAddr,
    proto: u8,
    l4: &'a [u8],
    l4_len: usize,
    ip_len: u32,
    fragment: Option<bool>,
) -> Decoded<'a> {
    let mut p = IpPacket {
        src,
        dst,
        proto,
        sport: 0,
        dport: 0,
        tcp_flags: 0,
        seq: 0,
        ip_len,
        payload: &[],
        payload_len: 0,
        fragment,
        frag: None,
    };
    match proto {
        PROTO_TCP => {
            if l4.len() < 20 {
                return Decoded::Malformed(Malformed::TcpHeader);
            }
            let doff = usize::from(l4[12] >> 4) * 4;
            if doff < 20 || doff > l4.len() || doff > l4_len {
                return Decoded::Malformed(Malformed::TcpHeader);
            }
            p.sport = be16(l4, 0);
            p.dport = be16(l4, 2);
            p.seq = be32(l4, 4);
            p.tcp_flags = l4[13];
            p.payload = &l4[doff..];
            p.payload_len = (l4_len - doff) as u32;
        }
        PROTO_UDP => {
            if l4.len() < 8 {
                return Decoded::Malformed(Malformed::UdpHeader);
            }
            let ulen = usize::from(be16(l4, 4));
            // A first fragment carries only part of the datagram the length describes.
            if fragment.is_none() && (ulen < 8 || ulen > l4_len) {
                return Decoded::Malformed(Malformed::UdpHeader);
            }
            p.sport = be16(l4, 0);
            p.dport = be16(l4, 2);
            let end = ulen.clamp(8, l4.len());
            p.payload = &l4[8..end];
            p.payload_len = (ulen.saturating_sub(8)) as u32;
        }
        PROTO_ICMP | PROTO_ICMPV6 => {
            // No ports: one flow per address pair, so echo requests and replies meet.
            p.payload = l4;
            p.payload_len = l4_len as u32;
        }
        _ => {
            p.payload = l4;
            p.payload_len = l4_len as u32;
        }
    }
    Decoded::Ip(p)
}
