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
