//! IPv4 and IPv6 address detection.
//!
//! IPv4: a dotted quad of decimal octets (0..=255, no leading zeros, which
//! would be ambiguous octal) standing alone as a token. Rejected:
//! * quads inside longer dotted numbers (`1.3.6.1.4.1` OIDs, `1.2.3.4.5`);
//! * quads glued to a word (`v1.2.3.4`, `abc1.2.3.4`, `1.2.3.4b`,
//!   `pkg-1.2.3.4`) or followed by a pre-release tag (`1.2.3.4-rc1`);
//! * quads after a product token (`Chrome/1.2.3.4`) or a version or document
//!   keyword (`version 1.2.3.4`, `ver: 1.2.3.4`, `build 1.2.3.4`, `section
//!   5.2.3.1`, `RFC7540 8.1.2.4`);
//! * well-known ASN.1 OID prefixes (`2.5.29.15`, `1.3.6.1`, `1.3.101.110`).
//!
//! A bare `1.2.3.4` is kept: bots hard-code C2 and scan addresses exactly like
//! that, and four-part versions without context are rare. Private, loopback and
//! multicast addresses are kept too (bots scan LAN ranges) and tagged with an
//! [`IpScope`].
//!
//! IPv6: a token of hex digits, colons and dots that std's parser accepts, with
//! at least one decimal digit (so C++ scopes such as `abc::def` are not
//! addresses), not `::` alone, not an eight-group dump of one- or two-digit
//! groups (`00:11:22:33:44:55:66:77` is a byte dump, not an address), and with
//! at least four hex digits unless it is `::1` or embeds an IPv4 address
//! (`7::`, `::12` are path separators between numbers).
//! Timestamps (`12:34:56`) and MAC addresses fail the parser.

use std::net::{Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

use serde::Serialize;

use super::is_word;

/// The address range an IP address falls in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum IpScope {
    /// Globally routable.
    Public,
    /// RFC 1918 private (IPv4) or unique local `fc00::/7` (IPv6).
    Private,
    /// `127.0.0.0/8` or `::1`.
    Loopback,
    /// `169.254.0.0/16` or `fe80::/10`.
    LinkLocal,
    /// `224.0.0.0/4` or `ff00::/8`.
    Multicast,
    /// `255.255.255.255`.
    Broadcast,
    /// `0.0.0.0` or `::`.
    Unspecified,
    /// Carrier-grade NAT shared space `100.64.0.0/10`.
    Shared,
    /// Documentation ranges (`192.0.2.0/24`, `198.51.100.0/24`,
    /// `203.0.113.0/24`, `2001:db8::/32`).
    Documentation,
    /// Benchmarking `198.18.0.0/15`.
    Benchmarking,
    /// Other reserved space (`0.0.0.0/8`, `192.0.0.0/24`, `240.0.0.0/4`).
    Reserved,
}

impl IpScope {
    /// Scope of an IPv4 address.
    pub fn of_v4(a: Ipv4Addr) -> IpScope {
        let [o0, o1, o2, _] = a.octets();
        if a.is_unspecified() {
            IpScope::Unspecified
        } else if a.is_broadcast() {
            IpScope::Broadcast
        } else if a.is_loopback() {
            IpScope::Loopback
        } else if a.is_private() {
            IpScope::Private
        } else if a.is_link_local() {
            IpScope::LinkLocal
        } else if a.is_multicast() {
            IpScope::Multicast
        } else if a.is_documentation() {
            IpScope::Documentation
        } else if o0 == 100 && (o1 & 0xc0) == 64 {
            IpScope::Shared
        } else if o0 == 198 && (o1 & 0xfe) == 18 {
            IpScope::Benchmarking
        } else if o0 == 0 || o0 >= 240 || (o0 == 192 && o1 == 0 && o2 == 0) {
            IpScope::Reserved
        } else {
            IpScope::Public
        }
    }

    /// Scope of an IPv6 address; IPv4-mapped addresses take the IPv4 scope.
    pub fn of_v6(a: Ipv6Addr) -> IpScope {
        if let Some(v4) = a.to_ipv4_mapped() {
            return IpScope::of_v4(v4);
        }
        let seg = a.segments();
        if a.is_unspecified() {
            IpScope::Unspecified
        } else if a.is_loopback() {
            IpScope::Loopback
        } else if a.is_multicast() {
            IpScope::Multicast
        } else if (seg[0] & 0xffc0) == 0xfe80 {
            IpScope::LinkLocal
        } else if (seg[0] & 0xfe00) == 0xfc00 {
            IpScope::Private
        } else if seg[0] == 0x2001 && seg[1] == 0x0db8 {
            IpScope::Documentation
        } else {
            IpScope::Public
        }
    }
}

/// Words that, right before a dotted quad, make it a version number.
const VERSION_WORDS: &[&str] = &[
    "version",
    "ver",
    "vers",
    "v",
    "release",
    "rel",
    "rev",
    "revision",
    "build",
    "firmware",
    "fw",
    "kernel",
    "linux",
    "libc",
    "glibc",
    "gcc",
    "openssl",
    "section",
    "sec",
    "rfc",
    "edition",
    "clause",
    "chapter",
    "paragraph",
    "appendix",
    "step",
    "table",
    "figure",
    "draft",
];

/// Three-arc prefixes of well-known ASN.1 object identifiers (X.500 attribute
/// types 2.5.4, certificate extensions 2.5.29, ISO identified-organization
/// 1.3.6 / 1.3.14 / 1.3.36 / 1.3.101 / 1.3.132): `2.5.29.15` is keyUsage.
const OID_PREFIXES: &[[u8; 3]] = &[
    [2, 5, 4],
    [2, 5, 29],
    [1, 3, 6],
    [1, 3, 14],
    [1, 3, 36],
    [1, 3, 101],
    [1, 3, 132],
];

/// Parses an octet at `s[i..]`: 1-3 digits, value <= 255, no leading zero.
fn octet(s: &[u8], i: usize) -> Option<(u8, usize)> {
    let mut j = i;
    let mut v: u32 = 0;
    while j < s.len() && j - i < 4 && s[j].is_ascii_digit() {
        v = v * 10 + u32::from(s[j] - b'0');
        j += 1;
    }
    let len = j - i;
    if len == 0 || len > 3 || (len > 1 && s[i] == b'0') {
        return None;
    }
    u8::try_from(v).ok().map(|o| (o, j))
}

/// Parses a dotted quad at `s[i..]`, returning the address and end index.
fn quad(s: &[u8], i: usize) -> Option<(Ipv4Addr, usize)> {
    let mut oct = [0u8; 4];
    let mut j = i;
    for (n, slot) in oct.iter_mut().enumerate() {
        if n > 0 {
            if s.get(j) != Some(&b'.') {
                return None;
            }
            j += 1;
        }
        let (o, end) = octet(s, j)?;
        *slot = o;
        j = end;
    }
    Some((Ipv4Addr::from(oct), j))
}

/// `true` when the text before index `start` puts a number in version context.
fn version_before(s: &[u8], start: usize) -> bool {
    let before = &s[..start];
    match before.last() {
        // "pkg-1.2.3.4", "name_1.2.3.4"
        Some(b'-') | Some(b'_') => {
            return before.len() >= 2 && is_word(before[before.len() - 2]);
        }
        // "Chrome/1.2.3.4" (but not "http://1.2.3.4")
        Some(b'/') => {
            return before.len() >= 2 && before[before.len() - 2].is_ascii_alphanumeric();
        }
        _ => {}
    }
    // Skip separators, then compare the preceding word with the keywords.
    let mut end = before.len();
    while end > 0 && matches!(before[end - 1], b' ' | b'\t' | b':' | b'=' | b'(' | b'#') {
        end -= 1;
    }
    if end == before.len() && end > 0 {
        // Directly attached to something that is not a separator.
        return false;
    }
    let mut begin = end;
    while begin > 0 && before[begin - 1].is_ascii_alphanumeric() {
        begin -= 1;
    }
    // "RFC7540 8.1.2.4": compare the letters of the word.
    let word = &before[begin..end];
    let word = word
        .iter()
        .rposition(|b| !b.is_ascii_digit())
        .map_or(&word[..0], |p| &word[..=p]);
    !word.is_empty()
        && VERSION_WORDS
            .iter()
            .any(|w| w.as_bytes().eq_ignore_ascii_case(word))
}

/// `true` when the text after a quad makes it part of a longer token.
fn glued_after(s: &[u8], end: usize) -> bool {
    match s.get(end) {
        None => false,
        Some(&b) if is_word(b) => true,
        Some(b'.') => s.get(end + 1).is_some_and(u8::is_ascii_digit),
        // "1.2.3.4-rc1", "1.2.3.4-beta": a pre-release tag.
        Some(b'-') => s.get(end + 1).is_some_and(u8::is_ascii_alphabetic),
        Some(b'+') => true, // semver build metadata
        _ => false,
    }
}

fn is_oid(addr: Ipv4Addr) -> bool {
    let [a, b, c, _] = addr.octets();
    OID_PREFIXES.contains(&[a, b, c])
}

/// Calls `emit(index, addr)` for every IPv4 address in `s`.
pub(crate) fn scan_ipv4(s: &[u8], mut emit: impl FnMut(usize, Ipv4Addr)) {
    let mut i = 0;
    while i < s.len() {
        if !s[i].is_ascii_digit() {
            i += 1;
            continue;
        }
        let attached = i > 0 && (is_word(s[i - 1]) || s[i - 1] == b'.');
        if !attached
            && let Some((addr, end)) = quad(s, i)
            && !is_oid(addr)
            && !glued_after(s, end)
            && !version_before(s, i)
        {
            emit(i, addr);
            i = end;
            continue;
        }
        // Skip the rest of this dotted-number token so no sub-quad matches.
        while i < s.len() && (s[i].is_ascii_alphanumeric() || s[i] == b'.') {
            i += 1;
        }
    }
}

#[inline]
fn v6_char(b: u8) -> bool {
    b.is_ascii_hexdigit() || b == b':' || b == b'.'
}

/// Calls `emit(index, addr)` for every IPv6 address in `s`.
pub(crate) fn scan_ipv6(s: &[u8], mut emit: impl FnMut(usize, Ipv6Addr)) {
    let mut i = 0;
    while i < s.len() {
        if !v6_char(s[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < s.len() && v6_char(s[i]) {
            i += 1;
        }
        let glued = (start > 0 && is_word(s[start - 1])) || s.get(i).is_some_and(|&b| is_word(b));
        if glued {
            continue;
        }
        let mut tok = &s[start..i];
        while let Some((&b'.', rest)) = tok.split_last() {
            tok = rest;
        }
        if let Some(addr) = ipv6_token(tok) {
            emit(start, addr);
        }
    }
}

fn ipv6_token(tok: &[u8]) -> Option<Ipv6Addr> {
    if tok.iter().filter(|&&b| b == b':').count() < 2 || !tok.iter().any(u8::is_ascii_digit) {
        return None;
    }
    let text = std::str::from_utf8(tok).ok()?;
    let addr = Ipv6Addr::from_str(text).ok()?;
    if addr.is_unspecified() {
        return None;
    }
    let compressed = text.contains("::");
    if !compressed && text.split(':').all(|g| g.len() <= 2) {
        return None;
    }
    // "7::", "::12", "4::6" are numbers around a C++/Rust path separator far
    // more often than addresses: ask for four hex digits besides ::1 and an
    // embedded IPv4 part.
    let hex_digits = text
        .split(':')
        .filter(|g| !g.contains('.'))
        .map(str::len)
        .sum::<usize>();
    if hex_digits < 4 && !addr.is_loopback() && !text.contains('.') {
        return None;
    }
    Some(addr)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v4(s: &str) -> Vec<String> {
        let mut out = Vec::new();
        scan_ipv4(s.as_bytes(), |_, a| out.push(a.to_string()));
        out
    }

    fn v6(s: &str) -> Vec<String> {
        let mut out = Vec::new();
        scan_ipv6(s.as_bytes(), |_, a| out.push(a.to_string()));
        out
    }

    #[test]
    fn ipv4_positives() {
        assert_eq!(v4("1.2.3.4"), ["1.2.3.4"]);
        assert_eq!(v4("cnc at 185.244.25.7:23"), ["185.244.25.7"]);
        assert_eq!(v4("http://45.95.147.10/bins/x86"), ["45.95.147.10"]);
        assert_eq!(
            v4("wget http://10.0.0.1/a;tftp -g 192.168.1.1"),
            ["10.0.0.1", "192.168.1.1"]
        );
        assert_eq!(v4("\"8.8.8.8\",\"8.8.4.4\""), ["8.8.8.8", "8.8.4.4"]);
        assert_eq!(v4("0.0.0.0"), ["0.0.0.0"]);
        assert_eq!(v4("255.255.255.255."), ["255.255.255.255"]);
        assert_eq!(v4("ip=1.1.1.1"), ["1.1.1.1"]);
    }

    #[test]
    fn ipv4_negatives() {
        for s in [
            "%d.%d.%d.%d",
            "%u.%u.%u.%u",
            "1.2.3",
            "256.1.1.1",
            "1.2.3.400",
            "01.02.03.04",
            "1.3.6.1.4.1.2021",
            "1.2.3.4.5",
            "v1.2.3.4",
            "version 1.2.3.4",
            "Version: 10.0.19041.1",
            "firmware 2.0.1.3",
            "linux-2.6.32.1",
            "openssl-1.0.2.4",
            "Chrome/51.0.20.103",
            "1.2.3.4-rc1",
            "1.2.3.4b",
            "a1.2.3.4",
            "12:34:56",
            "2023.11.22",
            "2.5.29.15",
            "1.3.6.1",
            "1.3.101.110",
            "(RFC7540 8.1.2.4)",
            "ECMA-262 Edition 14 Section 21.4.2.1",
        ] {
            assert!(v4(s).is_empty(), "{s:?} gave {:?}", v4(s));
        }
    }

    #[test]
    fn ipv4_scopes() {
        let scope = |s: &str| IpScope::of_v4(s.parse().unwrap_or(Ipv4Addr::UNSPECIFIED));
        assert_eq!(scope("8.8.8.8"), IpScope::Public);
        assert_eq!(scope("10.1.2.3"), IpScope::Private);
        assert_eq!(scope("172.16.0.1"), IpScope::Private);
        assert_eq!(scope("172.32.0.1"), IpScope::Public);
        assert_eq!(scope("192.168.0.1"), IpScope::Private);
        assert_eq!(scope("127.0.0.1"), IpScope::Loopback);
        assert_eq!(scope("169.254.1.1"), IpScope::LinkLocal);
        assert_eq!(scope("239.255.255.250"), IpScope::Multicast);
        assert_eq!(scope("255.255.255.255"), IpScope::Broadcast);
        assert_eq!(scope("0.0.0.0"), IpScope::Unspecified);
        assert_eq!(scope("100.64.0.1"), IpScope::Shared);
        assert_eq!(scope("100.128.0.1"), IpScope::Public);
        assert_eq!(scope("192.0.2.5"), IpScope::Documentation);
        assert_eq!(scope("198.18.0.1"), IpScope::Benchmarking);
        assert_eq!(scope("255.255.255.0"), IpScope::Reserved);
    }

    #[test]
    fn ipv6_positives() {
        assert_eq!(v6("2001:db8::1"), ["2001:db8::1"]);
        assert_eq!(
            v6("connect [2a03:2880:f12f:83:face:b00c:0:25de]:443"),
            ["2a03:2880:f12f:83:face:b00c:0:25de"]
        );
        assert_eq!(v6("::1"), ["::1"]);
        assert_eq!(v6("fe80::1."), ["fe80::1"]);
        assert_eq!(v6("::ffff:1.2.3.4"), ["::ffff:1.2.3.4"]);
        assert_eq!(
            v6("2001:0db8:0000:0000:0000:ff00:0042:8329"),
            ["2001:db8::ff00:42:8329"]
        );
    }

    #[test]
    fn ipv6_negatives() {
        for s in [
            "::",
            "12:34:56",
            "23:59:59.999",
            "00:11:22:33:44:55",
            "00:11:22:33:44:55:66:77",
            "std::vector",
            "abc::def",
            "Foo::Bar::baz",
            "a::b",
            "%x:%x::%x",
            "1:2:3",
            "7::",
            "::12",
            "4::6",
            "9c::",
            "::db7",
        ] {
            assert!(v6(s).is_empty(), "{s:?} gave {:?}", v6(s));
        }
    }

    #[test]
    fn ipv6_scopes() {
        let scope = |s: &str| IpScope::of_v6(s.parse().unwrap_or(Ipv6Addr::UNSPECIFIED));
        assert_eq!(scope("2606:4700::1111"), IpScope::Public);
        assert_eq!(scope("::1"), IpScope::Loopback);
        assert_eq!(scope("fe80::1"), IpScope::LinkLocal);
        assert_eq!(scope("fd00::1"), IpScope::Private);
        assert_eq!(scope("ff02::1"), IpScope::Multicast);
        assert_eq!(scope("2001:db8::1"), IpScope::Documentation);
        assert_eq!(scope("::ffff:192.168.1.1"), IpScope::Private);
    }
}
