//! HTTP/1.x over reassembled TCP: requests and responses, pipelining,
//! Content-Length and chunked bodies (skipped without copying), gaps.

use std::collections::VecDeque;

use memchr::memmem;

use crate::records::{Ctx, cut, text};
use crate::report::{HttpHeader, HttpTransaction};

/// Largest header block buffered; a longer one stops parsing of that direction.
const MAX_HEADER_BLOCK: usize = 64 * 1024;
/// Headers kept per request.
const MAX_HEADERS: usize = 64;
/// Requests awaiting responses kept per connection.
const MAX_PENDING: usize = 256;

const METHODS: &[&[u8]] = &[
    b"GET ",
    b"POST ",
    b"HEAD ",
    b"PUT ",
    b"DELETE ",
    b"OPTIONS ",
    b"CONNECT ",
    b"TRACE ",
    b"PATCH ",
    b"PROPFIND ",
    b"PROPPATCH ",
    b"MKCOL ",
    b"COPY ",
    b"MOVE ",
    b"LOCK ",
    b"UNLOCK ",
    b"SEARCH ",
];

/// Does `data` start like an HTTP request (known method and a space)?
pub(crate) fn looks_like_request(data: &[u8]) -> bool {
    METHODS.iter().any(|m| data.starts_with(m))
}

/// Does `data` start like an HTTP response?
pub(crate) fn looks_like_response(data: &[u8]) -> bool {
    data.starts_with(b"HTTP/1.") || data.starts_with(b"HTTP/0.9")
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Chunk {
    /// Reading a chunk-size line.
    Size,
    /// Inside chunk data with this many bytes left.
    Data(u64),
    /// The CRLF after chunk data: bytes left to skip.
    DataEnd(u8),
    /// Trailer section after the last chunk.
    Trailers,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Headers,
    Body(u64),
    Chunked(Chunk),
    UntilClose,
    /// Lost sync: wait for a segment that starts a new message.
    Lost,
}

#[derive(Debug)]
struct Dir {
    buf: Vec<u8>,
    state: State,
    /// Transaction whose body is being read.
    body_of: Option<usize>,
}

impl Dir {
    fn new() -> Self {
        Dir {
            buf: Vec::new(),
            state: State::Headers,
            body_of: None,
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Pending {
    tx: Option<usize>,
    head: bool,
    connect: bool,
}

/// HTTP state of one TCP connection.
#[derive(Debug)]
pub(crate) struct HttpConn {
    dirs: [Dir; 2],
    pending: VecDeque<Pending>,
    /// A CONNECT succeeded: the rest is an opaque tunnel.
    tunnel: bool,
}

impl HttpConn {
    /// Bytes held in buffers.
    pub(crate) fn buffered(&self) -> usize {
        self.dirs[0].buf.capacity() + self.dirs[1].buf.capacity() + self.pending.capacity() * 24
    }

    pub(crate) fn new() -> Self {
        HttpConn {
            dirs: [Dir::new(), Dir::new()],
            pending: VecDeque::new(),
            tunnel: false,
        }
    }

    /// Nothing more can be learned from this connection.
    pub(crate) fn finished(&self) -> bool {
        self.tunnel
    }

    /// `len` bytes in direction `dir` were never captured.
    pub(crate) fn gap(&mut self, dir: usize, len: u64) {
        let d = &mut self.dirs[dir & 1];
        d.state = match d.state {
            State::Body(rem) if len <= rem => State::Body(rem - len),
            State::Chunked(Chunk::Data(rem)) if len <= rem => {
                State::Chunked(Chunk::Data(rem - len))
            }
            State::UntilClose => State::UntilClose,
            _ => {
                d.buf.clear();
                State::Lost
            }
        };
    }

    /// Consumes in-order data travelling in direction `dir`.
    pub(crate) fn data(&mut self, dir: usize, mut data: &[u8], ctx: &mut Ctx<'_>) {
        let dir = dir & 1;
        while !data.is_empty() && !self.tunnel {
            let state = self.dirs[dir].state;
            match state {
                State::Lost => {
                    if looks_like_request(data) || looks_like_response(data) {
                        self.dirs[dir].state = State::Headers;
                    } else {
                        return;
                    }
                }
                State::UntilClose => {
                    self.add_body(dir, data.len() as u64, ctx);
                    return;
                }
                State::Body(rem) => {
                    let n = rem.min(data.len() as u64);
                    self.add_body(dir, n, ctx);
                    data = &data[n as usize..];
                    self.dirs[dir].state = if rem == n {
                        State::Headers
                    } else {
                        State::Body(rem - n)
                    };
                }
                State::Chunked(c) => data = self.chunked(dir, c, data, ctx),
                State::Headers => data = self.headers(dir, data, ctx),
            }
        }
    }

    fn add_body(&mut self, dir: usize, n: u64, ctx: &mut Ctx<'_>) {
        let client = ctx.src(dir);
        if let Some(tx) = self.dirs[dir].body_of.and_then(|i| ctx.rec.http.get_mut(i)) {
            if client == (tx.src, tx.sport) {
                tx.request_body_len += n;
            } else {
                tx.response_body_len += n;
            }
        }
    }

    fn chunked<'d>(&mut self, dir: usize, c: Chunk, data: &'d [u8], ctx: &mut Ctx<'_>) -> &'d [u8] {
        let d = &mut self.dirs[dir];
        match c {
            Chunk::Data(rem) => {
                let n = rem.min(data.len() as u64);
                d.state = State::Chunked(if n == rem {
                    Chunk::DataEnd(2)
                } else {
                    Chunk::Data(rem - n)
                });
                self.add_body(dir, n, ctx);
                &data[n as usize..]
            }
            Chunk::DataEnd(left) => {
                // Tolerate a bare LF as the end of chunk data.
                let mut left = left;
                let mut rest = data;
                while left > 0 {
                    match rest.first() {
                        Some(b'\r') if left == 2 => {
                            rest = &rest[1..];
                            left = 1;
                        }
                        Some(b'\n') => {
                            rest = &rest[1..];
                            left = 0;
                        }
                        Some(_) => left = 0,
                        None => break,
                    }
                }
                d.state = State::Chunked(if left == 0 {
                    Chunk::Size
                } else {
                    Chunk::DataEnd(left)
                });
                rest
            }
            Chunk::Size | Chunk::Trailers => {
                let Some(nl) = memchr::memchr(b'\n', data) else {
                    if d.buf.len() + data.len() > 1024 {
                        d.state = State::Lost;
                        d.buf.clear();
                    } else {
                        d.buf.extend_from_slice(data);
                    }
                    return &[];
                };
                d.buf.extend_from_slice(&data[..nl]);
                let line = std::mem::take(&mut d.buf);
                let line = line.strip_suffix(b"\r").unwrap_or(&line);
                if c == Chunk::Trailers {
                    if line.is_empty() {
                        d.state = State::Headers;
                        d.body_of = None;
                    }
                } else {
                    let hex_end = line
                        .iter()
                        .position(|b| !b.is_ascii_hexdigit())
                        .unwrap_or(line.len());
                    let size = std::str::from_utf8(&line[..hex_end])
                        .ok()
                        .and_then(|s| u64::from_str_radix(s, 16).ok());
                    d.state = match size {
                        Some(0) => State::Chunked(Chunk::Trailers),
                        Some(n) => State::Chunked(Chunk::Data(n)),
                        None => State::Lost,
                    };
                }
                &data[nl + 1..]
            }
        }
    }

    fn headers<'d>(&mut self, dir: usize, data: &'d [u8], ctx: &mut Ctx<'_>) -> &'d [u8] {
        let d = &mut self.dirs[dir];
        let mut data = data;
        if d.buf.is_empty() {
            // Blank lines between pipelined messages are allowed (RFC 9112, 2.2).
            while let Some((&c, rest)) = data.split_first() {
                if c == b'\r' || c == b'\n' {
                    data = rest;
                } else {
                    break;
                }
            }
            if data.is_empty() {
                return data;
            }
            if !(looks_like_request(data) || looks_like_response(data) || generic_request(data)) {
                d.state = State::Lost;
                return &[];
            }
        }
        let old = d.buf.len();
        let room = MAX_HEADER_BLOCK.saturating_sub(old);
        d.buf.extend_from_slice(&data[..data.len().min(room)]);
        let from = old.saturating_sub(3);
        let end = match memmem::find(&d.buf[from..], b"\r\n\r\n") {
            Some(i) => Some(from + i + 4),
            None => memmem::find(&d.buf[old.saturating_sub(1)..], b"\n\n")
                .map(|i| old.saturating_sub(1) + i + 2),
        };
        let Some(end) = end else {
            if d.buf.len() >= MAX_HEADER_BLOCK {
                d.buf.clear();
                d.state = State::Lost;
            }
            return &[];
        };
        let consumed = end - old;
        let block = std::mem::take(&mut d.buf);
        self.message(dir, &block[..end], ctx);
        let mut block = block;
        block.clear();
        if self.dirs[dir].buf.capacity() == 0 && block.capacity() <= 4096 {
            // Keep a small buffer for the next message rather than reallocating.
            self.dirs[dir].buf = block;
        }
        data.get(consumed..).unwrap_or(&[])
    }

    fn message(&mut self, dir: usize, block: &[u8], ctx: &mut Ctx<'_>) {
        let mut lines = block
            .split(|&b| b == b'\n')
            .map(|l| l.strip_suffix(b"\r").unwrap_or(l));
        let first = lines.next().unwrap_or(&[]);
        let mut headers: Vec<(&[u8], Vec<u8>)> = Vec::new();
        for line in lines {
            if line.is_empty() {
                break;
            }
            if (line[0] == b' ' || line[0] == b'\t') && !headers.is_empty() {
                if let Some(last) = headers.last_mut() {
                    last.1.push(b' ');
                    last.1.extend_from_slice(line.trim_ascii());
                }
                continue;
            }
            if let Some(colon) = memchr::memchr(b':', line) {
                headers.push((
                    line[..colon].trim_ascii(),
                    line[colon + 1..].trim_ascii().to_vec(),
                ));
            }
        }
        let get = |name: &str| {
            headers
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(name.as_bytes()))
                .map(|(_, v)| v)
        };
        let chunked = get("transfer-encoding").is_some_and(|v| {
            v.rsplit(|&b| b == b',')
                .next()
                .is_some_and(|last| last.trim_ascii().eq_ignore_ascii_case(b"chunked"))
        });
        let length = get("content-length")
            .and_then(|v| std::str::from_utf8(v).ok()?.trim().parse::<u64>().ok());

        if looks_like_response(first) {
            let mut parts = first.splitn(3, |&b| b == b' ');
            let _version = parts.next();
            let status = parts
                .next()
                .and_then(|s| std::str::from_utf8(s).ok()?.parse::<u16>().ok());
            let reason = parts.next().map(|r| text(r, 256));
            let interim = matches!(status, Some(100..=199)) && status != Some(101);
            let pending = if interim {
                self.pending.front().copied()
            } else {
                self.pending.pop_front()
            };
            let (tx, head, connect) =
                pending.map_or((None, false, false), |p| (p.tx, p.head, p.connect));
            if let Some(t) = tx.and_then(|i| ctx.rec.http.get_mut(i))
                && !interim
            {
                t.status = status;
                t.reason = reason;
                t.content_type = get("content-type").map(|v| text(v, 256));
            }
            let d = &mut self.dirs[dir];
            d.body_of = tx;
            let no_body = head || interim || matches!(status, Some(204 | 304)) || status.is_none();
            if (connect && matches!(status, Some(200..=299))) || status == Some(101) {
                // CONNECT tunnel or protocol switch: what follows is not HTTP/1.
                self.tunnel = true;
                return;
            }
            d.state = if no_body {
                State::Headers
            } else if chunked {
                State::Chunked(Chunk::Size)
            } else if let Some(n) = length {
                if n == 0 {
                    State::Headers
                } else {
                    State::Body(n)
                }
            } else {
                State::UntilClose
            };
            return;
        }

        // A request line: METHOD SP target SP version.
        let mut parts = first.split(|&b| b == b' ').filter(|p| !p.is_empty());
        let method = parts.next().unwrap_or(&[]);
        let uri = parts.next().unwrap_or(&[]);
        let version = parts.next().unwrap_or(&[]);
        let host = get("host").map(|h| strip_port(&text(h, 1024)));
        let tx = if ctx.rec.admit(crate::records::Kind::Http) {
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
                uri: text(uri, 8192),
                version: text(version, 32),
                host,
                user_agent: get("user-agent").map(|v| text(v, 1024)),
                headers: headers
                    .iter()
                    .take(MAX_HEADERS)
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
            if let Some(t) = ctx.rec.http.last() {
                let est = estimate(t);
                ctx.rec.charge(est);
            }
            Some(ctx.rec.http.len() - 1)
        } else {
            None
        };
        if self.pending.len() < MAX_PENDING {
            self.pending.push_back(Pending {
                tx,
                head: method == b"HEAD",
                connect: method == b"CONNECT",
            });
        }
        let d = &mut self.dirs[dir];
        d.body_of = tx;
        d.state = if chunked {
            State::Chunked(Chunk::Size)
        } else {
            match length {
                Some(n) if n > 0 => State::Body(n),
                _ => State::Headers,
            }
        };
    }
}

/// Estimated heap cost of a transaction record.
pub(crate) fn estimate(t: &HttpTransaction) -> usize {
    use crate::records::est;
    std::mem::size_of::<HttpTransaction>()
        + est(&t.method)
        + est(&t.uri)
        + est(&t.version)
        + t.host.as_deref().map_or(0, est)
        + t.user_agent.as_deref().map_or(0, est)
        + t.headers
            .iter()
            .map(|h| std::mem::size_of::<HttpHeader>() + est(&h.name) + est(&h.value))
            .sum::<usize>()
}

/// A request line with a method outside the known list: TOKEN SP ... HTTP/
fn generic_request(data: &[u8]) -> bool {
    let line = &data[..memchr::memchr(b'\n', data).unwrap_or(data.len())];
    let tok = line
        .iter()
        .take_while(|b| b.is_ascii_uppercase() || **b == b'-' || **b == b'_')
        .count();
    tok > 0 && tok <= 32 && line.get(tok) == Some(&b' ') && memmem::find(line, b" HTTP/").is_some()
}

/// Host header without its port: `example.com:8080` → `example.com`,
/// `[::1]:8000` → `[::1]`.
pub(crate) fn strip_port(h: &str) -> String {
    let h = h.trim();
    if h.starts_with('[') {
        if let Some(end) = h.find(']') {
            return h[..=end].to_string();
        }
        return h.to_string();
    }
    match h.rsplit_once(':') {
        Some((host, port)) if !host.contains(':') && port.bytes().all(|b| b.is_ascii_digit()) => {
            host.to_string()
        }
        _ => cut(h.to_string(), 1024),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_port_stripping() {
        assert_eq!(strip_port("[::1]:8000"), "[::1]");
        assert_eq!(strip_port("example.com:80"), "example.com");
        assert_eq!(strip_port("example.com"), "example.com");
    }
}
