//! Cleartext HTTP/2 (h2c with prior knowledge): requests and responses from
//! HEADERS frames (HPACK), and DNS over HTTPS messages carried in them (GET
//! `?dns=`) or in DATA frames (`application/dns-message`).

use std::collections::HashMap;

use loona_hpack::Decoder;

use crate::dns;
use crate::records::{Ctx, text};
use crate::report::{HttpHeader, HttpTransaction};

/// The client connection preface (RFC 9113, 3.4).
pub(crate) const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
/// Largest header block buffered (HEADERS plus CONTINUATION frames).
const MAX_HEADER_BLOCK: usize = 64 * 1024;
/// Largest DNS message gathered from DATA frames.
const MAX_DNS: usize = 65_535;
/// Streams tracked per connection.
const MAX_STREAMS: usize = 1024;

const DATA: u8 = 0;
const HEADERS: u8 = 1;
const PUSH_PROMISE: u8 = 5;
const CONTINUATION: u8 = 9;
const END_STREAM: u8 = 0x1;
const END_HEADERS: u8 = 0x4;
const PADDED: u8 = 0x8;
const PRIORITY: u8 = 0x20;

/// Does the stream start with the HTTP/2 client preface?
pub(crate) fn looks_like_preface(data: &[u8]) -> bool {
    data.len() >= 14 && PREFACE.starts_with(&data[..data.len().min(PREFACE.len())])
}

struct Dir {
    /// Bytes of the client preface still to skip.
    preface: usize,
    /// Partial frame header.
    head: Vec<u8>,
    /// Current frame: type, flags, stream, bytes left.
    frame: Option<(u8, u8, u32, usize)>,
    /// Payload of the current frame when it is kept.
    payload: Vec<u8>,
    keep: bool,
    /// Header block being assembled: stream and fragments.
    block: Option<(u32, Vec<u8>, bool)>,
    hpack: Decoder<'static>,
    lost: bool,
}

impl Dir {
    fn new(preface: usize) -> Self {
        Dir {
            preface,
            head: Vec::new(),
            frame: None,
            payload: Vec::new(),
            keep: false,
            block: None,
            hpack: Decoder::new(),
            lost: false,
        }
    }
}

impl std::fmt::Debug for Dir {
    // The HPACK decoder has no Debug of its own.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dir")
            .field("frame", &self.frame)
            .field("lost", &self.lost)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Default)]
struct Stream {
    tx: Option<usize>,
    /// Per direction: the body is a DNS message, and what was gathered of it.
    dns: [bool; 2],
    body: [Vec<u8>; 2],
}

/// HTTP/2 state of one connection.
#[derive(Debug)]
pub(crate) struct H2Conn {
    client: usize,
    dirs: [Dir; 2],
    streams: HashMap<u32, Stream>,
}

impl H2Conn {
    /// Bytes held in buffers.
    pub(crate) fn buffered(&self) -> usize {
        let dir = |d: &Dir| {
            d.head.capacity()
                + d.payload.capacity()
                + d.block.as_ref().map_or(0, |b| b.1.capacity())
        };
        let streams: usize = self
            .streams
            .values()
            .map(|s| 64 + s.body[0].capacity() + s.body[1].capacity())
            .sum();
        // The HPACK dynamic tables hold up to 4 KiB each by default.
        dir(&self.dirs[0]) + dir(&self.dirs[1]) + streams + 8192
    }

    /// A connection whose client sends in direction `client`.
    pub(crate) fn new(client: usize) -> Self {
        let client = client & 1;
        let mut dirs = [Dir::new(0), Dir::new(0)];
        dirs[client].preface = PREFACE.len();
        H2Conn {
            client,
            dirs,
            streams: HashMap::new(),
        }
    }

    /// Data lost in direction `dir`: frame boundaries and HPACK state are gone.
    pub(crate) fn gap(&mut self, dir: usize) {
        self.dirs[dir & 1].lost = true;
    }

    /// Nothing more can be parsed in either direction.
    pub(crate) fn finished(&self) -> bool {
        self.dirs[0].lost && self.dirs[1].lost
    }

    /// Consumes in-order data travelling in direction `dir`.
    pub(crate) fn data(&mut self, dir: usize, mut data: &[u8], ctx: &mut Ctx<'_>) {
        let dir = dir & 1;
        while !data.is_empty() && !self.dirs[dir].lost {
            let d = &mut self.dirs[dir];
            if d.preface > 0 {
                let n = d.preface.min(data.len());
                let off = PREFACE.len() - d.preface;
                if data[..n] != PREFACE[off..off + n] {
                    d.lost = true;
                    return;
                }
                d.preface -= n;
                data = &data[n..];
                continue;
            }
            let Some((ftype, flags, stream, left)) = d.frame else {
                let need = 9 - d.head.len();
                let n = need.min(data.len());
                d.head.extend_from_slice(&data[..n]);
                data = &data[n..];
                if d.head.len() < 9 {
                    return;
                }
                let h = std::mem::take(&mut d.head);
                let len = (usize::from(h[0]) << 16) | (usize::from(h[1]) << 8) | usize::from(h[2]);
                let stream = u32::from_be_bytes([h[5], h[6], h[7], h[8]]) & 0x7fff_ffff;
                d.frame = Some((h[3], h[4], stream, len));
                d.keep = matches!(h[3], HEADERS | CONTINUATION | PUSH_PROMISE)
                    || (h[3] == DATA && self.streams.get(&stream).is_some_and(|s| s.dns[dir]));
                d.payload.clear();
                if len == 0 {
                    self.frame_done(dir, ctx);
                }
                continue;
            };
            let n = left.min(data.len());
            if d.keep && d.payload.len() + n <= MAX_HEADER_BLOCK.max(MAX_DNS) {
                d.payload.extend_from_slice(&data[..n]);
            } else {
                d.keep = false;
            }
            data = &data[n..];
            d.frame = Some((ftype, flags, stream, left - n));
            if left == n {
                self.frame_done(dir, ctx);
            }
        }
    }

    fn frame_done(&mut self, dir: usize, ctx: &mut Ctx<'_>) {
        let d = &mut self.dirs[dir];
        let Some((ftype, flags, stream, _)) = d.frame.take() else {
            return;
        };
        let kept = d.keep;
        let payload = std::mem::take(&mut d.payload);
        match ftype {
            HEADERS | PUSH_PROMISE if kept => {
                let mut p: &[u8] = &payload;
                let mut pad = 0;
                if flags & PADDED != 0 {
                    pad = usize::from(p.first().copied().unwrap_or(0));
                    p = p.get(1..).unwrap_or(&[]);
                }
                if ftype == HEADERS && flags & PRIORITY != 0 {
                    p = p.get(5..).unwrap_or(&[]);
                }
                if ftype == PUSH_PROMISE {
                    p = p.get(4..).unwrap_or(&[]);
                }
                let frag = p.get(..p.len().saturating_sub(pad)).unwrap_or(&[]);
                let end_stream = ftype == HEADERS && flags & END_STREAM != 0;
                d.block = Some((stream, frag.to_vec(), end_stream));
                if flags & END_HEADERS != 0 {
                    self.header_block(dir, ctx, ftype == PUSH_PROMISE);
                }
            }
            CONTINUATION if kept => {
                if let Some((s, b, _)) = d.block.as_mut()
                    && *s == stream
                    && b.len() + payload.len() <= MAX_HEADER_BLOCK
                {
                    b.extend_from_slice(&payload);
                    if flags & END_HEADERS != 0 {
                        self.header_block(dir, ctx, false);
                    }
                } else {
                    d.lost = true;
                }
            }
            HEADERS | PUSH_PROMISE | CONTINUATION => {
                // A header block too large to keep: HPACK state cannot follow.
                d.lost = true;
            }
            DATA => {
                let Some(st) = self.streams.get_mut(&stream) else {
                    return;
                };
                if st.dns[dir] {
                    let mut p: &[u8] = &payload;
                    if flags & PADDED != 0 {
                        let pad = usize::from(p.first().copied().unwrap_or(0));
                        p = p.get(1..p.len().saturating_sub(pad)).unwrap_or(&[]);
                    }
                    if kept && st.body[dir].len() + p.len() <= MAX_DNS {
                        st.body[dir].extend_from_slice(p);
                    } else {
                        st.dns[dir] = false;
                    }
                    if flags & END_STREAM != 0 && st.dns[dir] {
                        let body = std::mem::take(&mut st.body[dir]);
                        dns::emit(ctx, dir, &body, "doh");
                    }
                }
            }
            _ => {}
        }
    }

    fn header_block(&mut self, dir: usize, ctx: &mut Ctx<'_>, push: bool) {
        let d = &mut self.dirs[dir];
        let Some((stream, block, end_stream)) = d.block.take() else {
            return;
        };
        let mut headers: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
        let res = d.hpack.decode_with_cb(&block, |n, v| {
            if headers.len() < 128 {
                headers.push((n.into_owned(), v.into_owned()));
            }
        });
        if res.is_err() {
            d.lost = true;
            return;
        }
        if push {
            return;
        }
        let get = |name: &[u8]| {
            headers
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.as_slice())
        };
        let dns_body =
            get(b"content-type").is_some_and(|v| v.starts_with(b"application/dns-message"));
        if !self.streams.contains_key(&stream) && self.streams.len() >= MAX_STREAMS {
            return;
        }
        let st = self.streams.entry(stream).or_default();
        if dns_body && !end_stream {
            st.dns[dir] = true;
        }
        if dir == self.client {
            let method = get(b":method").unwrap_or(b"");
            let path = get(b":path").unwrap_or(b"");
            // DNS over HTTPS, GET form: the message is base64url in `dns=`.
            if method == b"GET"
                && let Some(q) = path.split(|&b| b == b'?').nth(1)
            {
                for param in q.split(|&b| b == b'&') {
                    if let Some(v) = param.strip_prefix(b"dns=")
                        && let Some(msg) = base64url(v)
                    {
                        dns::emit(ctx, dir, &msg, "doh");
                    }
                }
            }
            if st.tx.is_some() {
                return;
            }
            if !ctx.rec.admit(crate::records::Kind::Http) {
                return;
            }
            let host = get(b":authority")
                .or_else(|| get(b"host"))
                .map(|h| crate::http::strip_port(&text(h, 1024)));
            let (src, sport) = ctx.src(dir);
            let (dst, dport) = ctx.dst(dir);
            ctx.rec.http.push(HttpTransaction {
                ts: ctx.ts,
                flow: ctx.flow,
                src,
                sport,
                dst,
                dport,
                method: text(method, 64),
                uri: text(path, 8192),
                version: "HTTP/2".into(),
                host,
                user_agent: get(b"user-agent").map(|v| text(v, 1024)),
                headers: headers
                    .iter()
                    .take(64)
                    .map(|(n, v)| HttpHeader {
                        name: text(n, 256),
                        value: text(v, 1024),
                    })
                    .collect(),
                request_body_len: 0,
                status: None,
                reason: None,
                content_type: None,
                response_body_len: 0,
            });
            st.tx = Some(ctx.rec.http.len() - 1);
            if let Some(t) = ctx.rec.http.last() {
                let est = crate::http::estimate(t);
                ctx.rec.charge(est);
            }
        } else if let Some(t) = st.tx.and_then(|i| ctx.rec.http.get_mut(i))
            && let Some(s) =
                get(b":status").and_then(|s| std::str::from_utf8(s).ok()?.parse::<u16>().ok())
            && !(100..200).contains(&s)
        {
            // Interim (1xx) responses are skipped: the final status is wanted.
            t.status = Some(s);
            t.content_type = get(b"content-type").map(|v| text(v, 256));
        }
    }
}

/// Decodes unpadded (or padded) base64url.
fn base64url(s: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let mut acc = 0u32;
    let mut bits = 0;
    for &c in s {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'-' | b'+' => 62,
            b'_' | b'/' => 63,
            b'=' => break,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64url_decoding() {
        assert_eq!(base64url(b"aGVsbG8").as_deref(), Some(&b"hello"[..]));
        assert_eq!(base64url(b"-_8").as_deref(), Some(&[0xfb, 0xff][..]));
        assert_eq!(base64url(b"a b"), None);
    }
}
