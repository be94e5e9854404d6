//! IRC (RFC 1459/2812) message parsing over reassembled TCP.

use crate::records::{Ctx, text};
use crate::report::IrcMessage;

/// Longest line buffered (RFC 2812 allows 512 bytes; IRCv3 tags make lines longer).
const MAX_LINE: usize = 8192;
/// Parameters kept per message (RFC 2812 allows 15).
const MAX_PARAMS: usize = 16;

const CLIENT_COMMANDS: &[&[u8]] = &[
    b"NICK ",
    b"USER ",
    b"PASS ",
    b"JOIN ",
    b"CAP LS",
    b"CAP REQ",
    b"PRIVMSG ",
    b"PING ",
    b"MODE ",
    b"QUIT",
];

/// Does `data` start like IRC traffic from a client or server?
pub(crate) fn looks_like_irc(data: &[u8]) -> bool {
    if CLIENT_COMMANDS.iter().any(|c| data.starts_with(c)) {
        return true;
    }
    // Server lines start with a prefix and a command or 3-digit numeric.
    if let Some(rest) = data.strip_prefix(b":") {
        let line = &rest[..memchr::memchr(b'\n', rest).unwrap_or(rest.len())];
        let mut parts = line.split(|&b| b == b' ');
        let prefix = parts.next().unwrap_or(&[]);
        let cmd = parts.next().unwrap_or(&[]);
        return !prefix.is_empty()
            && prefix.iter().all(|b| b.is_ascii_graphic())
            && ((cmd.len() == 3 && cmd.iter().all(u8::is_ascii_digit))
                || matches!(
                    cmd,
                    b"NOTICE" | b"PRIVMSG" | b"PING" | b"JOIN" | b"MODE" | b"NICK"
                ));
    }
    false
}

/// IRC state of one TCP connection: a line buffer per direction.
#[derive(Debug, Default)]
pub(crate) struct IrcConn {
    bufs: [Vec<u8>; 2],
}

impl IrcConn {
    /// Bytes held in buffers.
    pub(crate) fn buffered(&self) -> usize {
        self.bufs[0].capacity() + self.bufs[1].capacity()
    }

    /// Data lost in direction `dir`: the partial line is dropped.
    pub(crate) fn gap(&mut self, dir: usize) {
        self.bufs[dir & 1].clear();
    }

    /// Consumes in-order data travelling in direction `dir`.
    pub(crate) fn data(&mut self, dir: usize, data: &[u8], ctx: &mut Ctx<'_>) {
        let dir = dir & 1;
        let mut rest = data;
        while let Some(nl) = memchr::memchr(b'\n', rest) {
            let chunk = &rest[..nl];
            if self.bufs[dir].is_empty() {
                line(dir, chunk, ctx);
            } else {
                let mut buf = std::mem::take(&mut self.bufs[dir]);
                buf.extend_from_slice(chunk);
                line(dir, &buf, ctx);
                buf.clear();
                self.bufs[dir] = buf;
            }
            rest = &rest[nl + 1..];
        }
        let buf = &mut self.bufs[dir];
        if buf.len() + rest.len() > MAX_LINE {
            // An overlong line: keep nothing of it rather than grow without bound.
            buf.clear();
        } else {
            buf.extend_from_slice(rest);
        }
    }
}

fn line(dir: usize, raw: &[u8], ctx: &mut Ctx<'_>) {
    let mut l = raw.strip_suffix(b"\r").unwrap_or(raw);
    // IRCv3 message tags come first; they are not part of the command.
    if l.first() == Some(&b'@') {
        l = l
            .iter()
            .position(|&b| b == b' ')
            .map_or(&[][..], |i| &l[i + 1..]);
    }
    let l = l.trim_ascii_start();
    if l.is_empty() {
        return;
    }
    let mut prefix = None;
    let mut rest = l;
    if let Some(p) = l.strip_prefix(b":") {
        let end = p.iter().position(|&b| b == b' ').unwrap_or(p.len());
        prefix = Some(text(&p[..end], 512));
        rest = p[end..].trim_ascii_start();
    }
    let end = rest.iter().position(|&b| b == b' ').unwrap_or(rest.len());
    let command = &rest[..end];
    if command.is_empty() || !command.iter().all(|b| b.is_ascii_alphanumeric()) {
        return;
    }
    let mut params = Vec::new();
    let mut p = rest[end..].trim_ascii_start();
    while !p.is_empty() && params.len() < MAX_PARAMS {
        if let Some(trailing) = p.strip_prefix(b":") {
            params.push(text(trailing, 4096));
            break;
        }
        let e = p.iter().position(|&b| b == b' ').unwrap_or(p.len());
        params.push(text(&p[..e], 4096));
        p = p[e..].trim_ascii_start();
    }
    if !ctx.rec.admit(crate::records::Kind::Irc) {
        return;
    }
    let command = text(command, 64).to_ascii_uppercase();
    let est = std::mem::size_of::<IrcMessage>()
        + prefix.as_deref().map_or(0, crate::records::est)
        + crate::records::est(&command)
        + params
            .iter()
            .map(|p| 24 + crate::records::est(p))
            .sum::<usize>();
    ctx.rec.charge(est);
    let (src, sport) = ctx.src(dir);
    let (dst, dport) = ctx.dst(dir);
    ctx.rec.irc.push(IrcMessage {
        ts: ctx.ts,
        flow: ctx.flow,
        src,
        sport,
        dst,
        dport,
        from_client: dir == 0,
        prefix,
        command,
        params,
    });
}
