//! L7 record storage shared by the protocol parsers, with per-kind caps.

use std::net::IpAddr;

use crate::report::{DnsMessage, HttpTransaction, IrcMessage, TelnetSession, TlsClientHello};

/// Collected L7 records and how many were dropped at the caps.
#[derive(Debug, Default)]
pub(crate) struct Records {
    pub dns: Vec<DnsMessage>,
    pub http: Vec<HttpTransaction>,
    pub irc: Vec<IrcMessage>,
    pub telnet: Vec<TelnetSession>,
    pub tls: Vec<TlsClientHello>,
    pub cap: usize,
    pub dropped_dns: u64,
    pub dropped_http: u64,
    pub dropped_irc: u64,
    pub dropped_telnet: u64,
    pub dropped_tls: u64,
    pub malformed_dns: u64,
    /// Estimated heap bytes held by the records, and the budget for them.
    pub bytes: usize,
    pub budget: usize,
    /// Records refused because the byte budget was spent.
    pub over_budget: u64,
}

/// Kinds of L7 record, for [`Records::admit`].
#[derive(Debug, Clone, Copy)]
pub(crate) enum Kind {
    Dns,
    Http,
    Irc,
    Telnet,
    Tls,
}

impl Records {
    /// May one more record of `kind` be kept? Counts the refusal if not.
    pub(crate) fn admit(&mut self, kind: Kind) -> bool {
        let (len, dropped) = match kind {
            Kind::Dns => (self.dns.len(), &mut self.dropped_dns),
            Kind::Http => (self.http.len(), &mut self.dropped_http),
            Kind::Irc => (self.irc.len(), &mut self.dropped_irc),
            Kind::Telnet => (self.telnet.len(), &mut self.dropped_telnet),
            Kind::Tls => (self.tls.len(), &mut self.dropped_tls),
        };
        if len >= self.cap {
            *dropped += 1;
            return false;
        }
        if self.bytes >= self.budget {
            self.over_budget += 1;
            return false;
        }
        true
    }

    /// Accounts `n` more bytes of kept records.
    pub(crate) fn charge(&mut self, n: usize) {
        self.bytes = self.bytes.saturating_add(n);
    }
}

/// Estimated heap cost of a string: its bytes plus allocator overhead.
pub(crate) fn est(s: &str) -> usize {
    if s.is_empty() { 0 } else { s.len() + 16 }
}

/// Where a parser's bytes came from: flow, time and both endpoints.
#[derive(Debug)]
pub(crate) struct Ctx<'a> {
    pub ts: f64,
    pub flow: u32,
    /// `[initiator, responder]` address and port.
    pub ends: [(IpAddr, u16); 2],
    pub rec: &'a mut Records,
}

impl Ctx<'_> {
    /// Sender of data travelling in direction `dir` (0 = from the initiator).
    pub fn src(&self, dir: usize) -> (IpAddr, u16) {
        self.ends[dir & 1]
    }
    /// Receiver of data travelling in direction `dir`.
    pub fn dst(&self, dir: usize) -> (IpAddr, u16) {
        self.ends[(dir & 1) ^ 1]
    }
}

/// Cuts `s` to at most `max` bytes on a character boundary.
pub(crate) fn cut(mut s: String, max: usize) -> String {
    if s.len() > max {
        let mut end = max;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
    }
    s
}

/// Lossy UTF-8 conversion cut to `max` bytes.
pub(crate) fn text(b: &[u8], max: usize) -> String {
    cut(
        String::from_utf8_lossy(&b[..b.len().min(max + 4)]).into_owned(),
        max,
    )
}
