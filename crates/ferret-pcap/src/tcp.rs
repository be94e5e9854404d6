//! TCP stream reassembly per direction and hand-off to the L7 parsers.
//!
//! In-order segments go straight to the parser without copying; segments ahead
//! of the expected sequence number are buffered (bounded per direction) until the
//! hole fills, or skipped over as a gap when the buffer is full or the flow ends.

use crate::decode::{TCP_FIN, TCP_RST, TCP_SYN};
use crate::dns::DnsTcp;
use crate::h2::{self, H2Conn};
use crate::http::{self, HttpConn};
use crate::irc::{self, IrcConn};
use crate::records::Ctx;
use crate::telnet::{self, TelnetConn};
use crate::tls::{self, TlsConn};

/// Application protocol of a flow, as a small code kept in the flow table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AppKind {
    None,
    Dns,
    Http,
    Http2,
    Irc,
    Telnet,
    Tls,
}

impl AppKind {
    pub(crate) fn name(self) -> Option<&'static str> {
        match self {
            AppKind::None => None,
            AppKind::Dns => Some("dns"),
            AppKind::Http => Some("http"),
            AppKind::Http2 => Some("http2"),
            AppKind::Irc => Some("irc"),
            AppKind::Telnet => Some("telnet"),
            AppKind::Tls => Some("tls"),
        }
    }
}

#[derive(Debug)]
enum App {
    Unknown(u8),
    Dns(DnsTcp),
    Http(Box<HttpConn>),
    Http2(Box<H2Conn>),
    Irc(IrcConn),
    Telnet(Box<TelnetConn>),
    Tls(TlsConn),
    /// Nothing to parse: reassembly can stop.
    Done,
}

/// Data segments inspected before a flow is declared unrecognised.
const DETECT_SEGMENTS: u8 = 4;

#[derive(Debug, Default)]
struct Stream {
    next: Option<u32>,
    ooo: Vec<(u32, Vec<u8>)>,
    ooo_bytes: usize,
    fin: bool,
}

/// Reassembly and parser state of one TCP connection.
#[derive(Debug)]
pub(crate) struct TcpState {
    dirs: [Stream; 2],
    app: App,
    /// This connection's share of [`TcpStats::held`].
    held: usize,
}

/// Counters the reassembler reports back.
#[derive(Debug, Default)]
pub(crate) struct TcpStats {
    pub out_of_order: u64,
    pub gap_bytes: u64,
    /// Bytes all live connections hold in buffers (out-of-order segments and
    /// parser buffers), and the most they may hold together.
    pub held: usize,
    pub budget: usize,
    /// Connections whose parsing stopped because the budget was spent.
    pub over_budget: u64,
}

/// What the caller should do with the state after a segment.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Next {
    Keep,
    /// Nothing left to parse in this flow: drop the state for good.
    Ignore,
    /// The connection closed (FIN both ways or RST): drop the state, but data
    /// that still follows (port reuse, a forged RST) starts a fresh stream.
    Closed,
}

fn seq_lt(a: u32, b: u32) -> bool {
    (a.wrapping_sub(b) as i32) < 0
}

impl TcpState {
    /// A connection whose SYNs, if seen, carried these initial sequence numbers.
    pub(crate) fn new(isn: [Option<u32>; 2]) -> Self {
        let stream = |isn: Option<u32>| Stream {
            next: isn.map(|s| s.wrapping_add(1)),
            ..Stream::default()
        };
        TcpState {
            dirs: [stream(isn[0]), stream(isn[1])],
            app: App::Unknown(0),
            held: 0,
        }
    }

    /// The protocol recognised so far.
    pub(crate) fn kind(&self) -> AppKind {
        match self.app {
            App::Unknown(_) | App::Done => AppKind::None,
            App::Dns(_) => AppKind::Dns,
            App::Http(_) => AppKind::Http,
            App::Http2(_) => AppKind::Http2,
            App::Irc(_) => AppKind::Irc,
            App::Telnet(_) => AppKind::Telnet,
            App::Tls(_) => AppKind::Tls,
        }
    }

    /// Handles one segment travelling in direction `dir` (0 = from the initiator).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn segment(
        &mut self,
        dir: usize,
        seq: u32,
        flags: u8,
        payload: &[u8],
        ctx: &mut Ctx<'_>,
        stats: &mut TcpStats,
        max_ooo: usize,
    ) -> Next {
        let dir = dir & 1;
        let data_seq = if flags & TCP_SYN != 0 {
            // The SYN takes one sequence number; TCP Fast Open data follows it.
            self.dirs[dir].next = Some(seq.wrapping_add(1));
            seq.wrapping_add(1)
        } else {
            seq
        };
        if !payload.is_empty() {
            let next = *self.dirs[dir].next.get_or_insert(data_seq);
            let rel = data_seq.wrapping_sub(next) as i32;
            if rel <= 0 {
                let skip = rel.unsigned_abs() as usize;
                if skip < payload.len() {
                    self.deliver(dir, &payload[skip..], ctx);
                    self.dirs[dir].next = Some(data_seq.wrapping_add(payload.len() as u32));
                    self.drain(dir, ctx, stats);
                }
            } else {
                stats.out_of_order += 1;
                let s = &mut self.dirs[dir];
                if s.ooo_bytes + payload.len() <= max_ooo && s.ooo.len() < 1024 {
                    s.ooo.push((data_seq, payload.to_vec()));
                    s.ooo_bytes += payload.len();
                } else {
                    // The window is full: give up on the hole and move on.
                    s.ooo.push((data_seq, payload.to_vec()));
                    s.ooo_bytes += payload.len();
                    self.skip_holes(dir, ctx, stats);
                }
            }
        }
        if flags & TCP_FIN != 0 {
            self.dirs[dir].fin = true;
        }
        if matches!(self.app, App::Done) {
            self.forget(stats);
            return Next::Ignore;
        }
        if flags & TCP_RST != 0 || (self.dirs[0].fin && self.dirs[1].fin) {
            self.close(ctx, stats);
            return Next::Closed;
        }
        // Memory stays bounded however many connections hold partial data.
        let now = self.dirs[0].ooo_bytes + self.dirs[1].ooo_bytes + self.buffered();
        stats.held = stats.held - self.held.min(stats.held) + now;
        self.held = now;
        if stats.held > stats.budget {
            stats.over_budget += 1;
            self.forget(stats);
            return Next::Ignore;
        }
        Next::Keep
    }

    /// Delivers buffered segments that now continue the stream.
    fn drain(&mut self, dir: usize, ctx: &mut Ctx<'_>, stats: &mut TcpStats) {
        loop {
            let s = &mut self.dirs[dir];
            let Some(next) = s.next else { return };
            let Some(i) = s.ooo.iter().position(|(q, _)| !seq_lt(next, *q)) else {
                return;
            };
            let (q, data) = s.ooo.swap_remove(i);
            s.ooo_bytes -= data.len();
            let skip = next.wrapping_sub(q) as usize;
            if skip < data.len() {
                s.next = Some(q.wrapping_add(data.len() as u32));
                self.deliver(dir, &data[skip..], ctx);
            }
            let _ = stats;
        }
    }

    /// Skips every hole in direction `dir`, delivering all buffered data in order.
    fn skip_holes(&mut self, dir: usize, ctx: &mut Ctx<'_>, stats: &mut TcpStats) {
        while !self.dirs[dir].ooo.is_empty() {
            let s = &mut self.dirs[dir];
            let Some(lowest) = s
                .ooo
                .iter()
                .map(|(q, _)| *q)
                .reduce(|a, b| if seq_lt(b, a) { b } else { a })
            else {
                return;
            };
            if let Some(next) = s.next
                && seq_lt(next, lowest)
            {
                let hole = u64::from(lowest.wrapping_sub(next));
                stats.gap_bytes += hole;
                self.gap(dir, hole);
            }
            self.dirs[dir].next = Some(lowest);
            self.drain(dir, ctx, stats);
        }
    }

    /// The connection ended (FIN both ways, RST, idle or end of capture): buffered
    /// data is delivered across its holes and the parsers finish.
    pub(crate) fn close(&mut self, ctx: &mut Ctx<'_>, stats: &mut TcpStats) {
        for dir in 0..2 {
            self.skip_holes(dir, ctx, stats);
        }
        if let App::Telnet(t) = &mut self.app {
            t.close(ctx);
        }
        self.forget(stats);
    }

    /// The state is about to be dropped: its buffers no longer count.
    fn forget(&mut self, stats: &mut TcpStats) {
        stats.held -= self.held.min(stats.held);
        self.held = 0;
    }

    /// Bytes the parser holds in its buffers.
    fn buffered(&self) -> usize {
        match &self.app {
            App::Http(h) => h.buffered(),
            App::Http2(h) => h.buffered(),
            App::Dns(d) => d.buffered(),
            App::Irc(i) => i.buffered(),
            App::Telnet(t) => t.buffered(),
            App::Tls(t) => t.buffered(),
            App::Unknown(_) | App::Done => 0,
        }
    }

    fn gap(&mut self, dir: usize, len: u64) {
        match &mut self.app {
            App::Http(h) => h.gap(dir, len),
            App::Http2(h) => h.gap(dir),
            App::Dns(d) => d.gap(dir),
            App::Irc(i) => i.gap(dir),
            App::Telnet(t) => t.gap(dir),
            App::Tls(t) => t.gap(),
            App::Unknown(_) | App::Done => {}
        }
    }

    fn deliver(&mut self, dir: usize, data: &[u8], ctx: &mut Ctx<'_>) {
        if let App::Unknown(tries) = self.app {
            self.app = detect(dir, data, ctx, tries);
        }
        match &mut self.app {
            App::Http(h) => {
                h.data(dir, data, ctx);
                if h.finished() {
                    self.app = App::Done;
                }
            }
            App::Http2(h) => {
                h.data(dir, data, ctx);
                if h.finished() {
                    self.app = App::Done;
                }
            }
            App::Dns(d) => d.data(dir, data, ctx),
            App::Irc(i) => i.data(dir, data, ctx),
            App::Telnet(t) => t.data(dir, data, ctx),
            App::Tls(t) => {
                t.data(dir, data, ctx);
                if t.finished() {
                    self.app = App::Done;
                }
            }
            App::Unknown(_) | App::Done => {}
        }
    }
}

fn detect(dir: usize, data: &[u8], ctx: &Ctx<'_>, tries: u8) -> App {
    // Well-known ports count on the responder's side only: the initiator's
    // ephemeral port may be anything.
    let server_port = ctx.ends[1].1;
    let port = |p: &[u16]| p.contains(&server_port);
    if port(&[53, 5353, 5355]) {
        return App::Dns(DnsTcp::default());
    }
    if tls::looks_like_client_hello(data) {
        return App::Tls(TlsConn::new(dir));
    }
    if h2::looks_like_preface(data) {
        return App::Http2(Box::new(H2Conn::new(dir)));
    }
    if http::looks_like_request(data) || http::looks_like_response(data) {
        return App::Http(Box::new(HttpConn::new()));
    }
    if telnet::looks_like_telnet(data) || port(&[23, 2323]) {
        return App::Telnet(Box::new(TelnetConn::new()));
    }
    if irc::looks_like_irc(data) || matches!(server_port, 6660..=6669 | 6697 | 7000) {
        return App::Irc(IrcConn::default());
    }
    if tries + 1 >= DETECT_SEGMENTS {
        App::Done
    } else {
        App::Unknown(tries + 1)
    }
}
