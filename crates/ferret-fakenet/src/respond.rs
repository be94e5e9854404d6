//! The responders: the catch-all TCP accept loop with per-protocol handlers (HTTP,
//! IRC, telnet, DNS over TCP, banner/echo) and the UDP DNS server. All their
//! sockets were created inside the fake-internet namespace; these threads only use
//! them. Resources are bounded: at most `max_connections` sessions at once (more are
//! accepted and closed at once, and counted), an idle timeout and a lifetime cap per
//! session, and bounded line and header sizes.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, TcpListener, TcpStream, UdpSocket};
use std::os::fd::{AsFd, AsRawFd};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::dns;
use crate::log::{
    DnsQuery, DnsTransport, FakeNetLog, HttpRequest, IrcLine, TcpProtocol, TcpSession, TelnetLogin,
    push,
};
use crate::sys;

/// Settings the responders read.
#[derive(Debug)]
pub(crate) struct Settings {
    pub policy: dns::Policy,
    pub http_files: HashMap<String, Arc<[u8]>>,
    pub max_records: usize,
    pub max_connections: usize,
    pub idle_timeout: Duration,
    pub session_limit: Duration,
}

/// State shared by the responder threads and the [`crate::FakeNet`].
#[derive(Debug)]
pub(crate) struct Shared {
    pub log: Mutex<FakeNetLog>,
    pub start: Instant,
    pub stop: AtomicBool,
    pub settings: Settings,
    active: AtomicUsize,
    next_id: AtomicU64,
}

impl Shared {
    pub fn new(settings: Settings) -> Shared {
        Shared {
            log: Mutex::new(FakeNetLog::default()),
            start: Instant::now(),
            stop: AtomicBool::new(false),
            settings,
            active: AtomicUsize::new(0),
            next_id: AtomicU64::new(1),
        }
    }

    /// Sessions being served.
    pub fn active(&self) -> usize {
        self.active.load(Ordering::Relaxed)
    }

    pub fn log(&self) -> MutexGuard<'_, FakeNetLog> {
        self.log
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn since_start(&self) -> Duration {
        self.start.elapsed()
    }

    pub fn record<T>(&self, pick: impl FnOnce(&mut FakeNetLog) -> &mut Vec<T>, item: T) {
        let cap = self.settings.max_records;
        let mut log = self.log();
        let mut dropped = log.dropped_records;
        push(pick(&mut log), item, cap, &mut dropped);
        log.dropped_records = dropped;
    }
}

/// Threads notice the stop flag within one interval: teardown is a fixed cost of every
/// analysis, and an idle thread waking 40 times a second costs nothing measurable.
pub(crate) const POLL: Duration = Duration::from_millis(25);
const STACK: usize = 256 * 1024;
const MAX_LINE: usize = 8192;
const MAX_HEAD: usize = 32 * 1024;
const MAX_BODY_DRAIN: u64 = 16 << 20;
const MAX_ECHO: u64 = 1 << 20;
const MAX_COMMANDS: usize = 1000;

/// Accepts connections on the catch-all listener until `stop`.
pub(crate) fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    while !shared.stop.load(Ordering::Relaxed) {
        match sys::poll_readable(listener.as_raw_fd(), POLL) {
            Ok(true) => {}
            Ok(false) => continue,
            Err(_) => break,
        }
        let Ok((stream, peer)) = listener.accept() else {
            continue;
        };
        let dst = stream
            .local_addr()
            .map(canonical)
            .unwrap_or_else(|_| SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0)));
        let peer = canonical(peer);
        let id = shared.next_id.fetch_add(1, Ordering::Relaxed);
        let at = shared.since_start();
        if shared.active.load(Ordering::Relaxed) >= shared.settings.max_connections {
            shared.log().refused_connections += 1;
            shared.record(
                |l| &mut l.tcp,
                TcpSession {
                    id,
                    at,
                    duration: Duration::ZERO,
                    client: peer,
                    original_dst: dst,
                    protocol: TcpProtocol::Empty,
                    bytes_from_client: 0,
                    bytes_to_client: 0,
                    refused: true,
                },
            );
            continue;
        }
        shared.active.fetch_add(1, Ordering::Relaxed);
        let sh = Arc::clone(&shared);
        let spawned = std::thread::Builder::new()
            .name(format!("fakenet-tcp-{id}"))
            .stack_size(STACK)
            .spawn(move || {
                let started = Instant::now();
                let mut conn = Conn::new(stream, &sh, started);
                let protocol = serve(&mut conn, id, dst, &sh);
                let session = TcpSession {
                    id,
                    at,
                    duration: started.elapsed(),
                    client: peer,
                    original_dst: dst,
                    protocol,
                    bytes_from_client: conn.bytes_in,
                    bytes_to_client: conn.bytes_out,
                    refused: false,
                };
                drop(conn);
                sh.record(|l| &mut l.tcp, session);
                sh.active.fetch_sub(1, Ordering::Relaxed);
            });
        if spawned.is_err() {
            shared.active.fetch_sub(1, Ordering::Relaxed);
            shared.log().refused_connections += 1;
        }
    }
    // Connections the kernel completed but we had not accepted yet still happened:
    // record them (the sample saw them succeed) before the listener closes.
    if listener.set_nonblocking(true).is_ok() {
        while let Ok((stream, peer)) = listener.accept() {
            let dst = stream.local_addr().map(canonical).unwrap_or(peer);
            let id = shared.next_id.fetch_add(1, Ordering::Relaxed);
            shared.record(
                |l| &mut l.tcp,
                TcpSession {
                    id,
                    at: shared.since_start(),
                    duration: Duration::ZERO,
                    client: canonical(peer),
                    original_dst: dst,
                    protocol: TcpProtocol::Empty,
                    bytes_from_client: 0,
                    bytes_to_client: 0,
                    refused: false,
                },
            );
        }
    }
}

/// IPv4-mapped IPv6 addresses (from the dual-stack listener) as plain IPv4.
fn canonical(a: SocketAddr) -> SocketAddr {
    SocketAddr::new(a.ip().to_canonical(), a.port())
}

/// A session's socket with byte accounting, buffered reads and deadlines.
struct Conn<'s> {
    stream: TcpStream,
    buf: Vec<u8>,
    bytes_in: u64,
    bytes_out: u64,
    deadline: Instant,
    idle: Duration,
    shared: &'s Shared,
    eof: bool,
}

impl<'s> Conn<'s> {
    fn new(stream: TcpStream, shared: &'s Shared, started: Instant) -> Conn<'s> {
        let _ = stream.set_nodelay(true);
        // A client that stops reading must not pin the session's thread.
        let _ = stream.set_write_timeout(Some(shared.settings.idle_timeout));
        Conn {
            stream,
            buf: Vec::with_capacity(1024),
            bytes_in: 0,
            bytes_out: 0,
            deadline: started + shared.settings.session_limit,
            idle: shared.settings.idle_timeout,
            shared,
            eof: false,
        }
    }

    /// Reads more into `buf`, waiting at most `wait` (bounded by the idle timeout,
    /// the session's lifetime and the stop flag). Returns bytes read; 0 on EOF or
    /// timeout (`eof` tells them apart).
    fn fill(&mut self, wait: Duration) -> usize {
        let until = (Instant::now() + wait.min(self.idle)).min(self.deadline);
        loop {
            if self.shared.stop.load(Ordering::Relaxed) {
                self.eof = true;
                return 0;
            }
            let now = Instant::now();
            if now >= until {
                if now >= self.deadline {
                    self.eof = true;
                }
                return 0;
            }
            match sys::poll_readable(self.stream.as_raw_fd(), (until - now).min(POLL)) {
                Ok(true) => {}
                Ok(false) => continue,
                Err(_) => {
                    self.eof = true;
                    return 0;
                }
            }
            let mut tmp = [0u8; 4096];
            match self.stream.read(&mut tmp) {
                Ok(0) | Err(_) => {
                    self.eof = true;
                    return 0;
                }
                Ok(n) => {
                    self.bytes_in += n as u64;
                    self.buf.extend_from_slice(&tmp[..n]);
                    return n;
                }
            }
        }
    }

    /// Reads until `buf` holds a full line (ending in `\n`, or `\r` when
    /// `cr_ends`), at most `MAX_LINE` bytes; returns it without the line end.
    fn line(&mut self, cr_ends: bool) -> Option<Vec<u8>> {
        loop {
            let end = self
                .buf
                .iter()
                .position(|&b| b == b'\n' || (cr_ends && b == b'\r') || b == 0);
            if let Some(i) = end {
                let mut line: Vec<u8> = self.buf.drain(..=i).collect();
                line.pop();
                if line.last() == Some(&b'\r') {
                    line.pop();
                }
                // A CR LF or CR NUL pair leaves its second byte behind.
                if cr_ends && matches!(self.buf.first(), Some(b'\n' | 0)) {
                    self.buf.remove(0);
                }
                return Some(line);
            }
            if self.buf.len() >= MAX_LINE {
                return Some(std::mem::take(&mut self.buf));
            }
            if self.eof {
                return (!self.buf.is_empty()).then(|| std::mem::take(&mut self.buf));
            }
            if self.fill(self.idle) == 0 && !self.eof {
                // Idle timeout.
                self.eof = true;
            }
        }
    }

    fn send(&mut self, data: &[u8]) -> bool {
        match self.stream.write_all(data) {
            Ok(()) => {
                self.bytes_out += data.len() as u64;
                true
            }
            Err(_) => {
                self.eof = true;
                false
            }
        }
    }
}

const HTTP_METHODS: [&[u8]; 9] = [
    b"GET ",
    b"POST ",
    b"HEAD ",
    b"PUT ",
    b"DELETE ",
    b"OPTIONS ",
    b"CONNECT ",
    b"PATCH ",
    b"TRACE ",
];
const IRC_FIRST: [&[u8]; 5] = [b"NICK ", b"USER ", b"PASS ", b"CAP ", b"SERVICE "];
const IRC_PORTS: [u16; 6] = [6660, 6665, 6666, 6667, 6668, 6669];

/// Picks a handler for the session and runs it.
fn serve(conn: &mut Conn<'_>, id: u64, dst: SocketAddr, shared: &Shared) -> TcpProtocol {
    let port = dst.port();
    match port {
        53 => return dns_tcp(conn, dst, shared),
        23 | 2323 => return telnet(conn, id, dst, shared),
        _ => {}
    }
    if let Some(banner) = server_first_banner(port) {
        conn.send(banner);
        return generic(conn);
    }
    // Client speaks first for the rest: look at its first bytes.
    conn.fill(Duration::from_secs(3));
    let head = conn.buf.as_slice();
    let starts = |set: &[&[u8]]| {
        set.iter()
            .any(|m| head.len() >= m.len() && head[..m.len()].eq_ignore_ascii_case(m))
    };
    if starts(&HTTP_METHODS) {
        http(conn, id, dst, shared)
    } else if starts(&IRC_FIRST) || (head.is_empty() && IRC_PORTS.contains(&port)) {
        irc(conn, id, dst, shared)
    } else if head.is_empty() && conn.eof {
        TcpProtocol::Empty
    } else {
        if head.is_empty() {
            conn.send(b"OK\r\n");
        }
        generic(conn)
    }
}

/// Banners of services that speak first.
fn server_first_banner(port: u16) -> Option<&'static [u8]> {
    Some(match port {
        21 => b"220 FTP server ready.\r\n",
        22 | 2222 => b"SSH-2.0-OpenSSH_7.4\r\n",
        25 | 587 => b"220 mail.local ESMTP ready\r\n",
        110 => b"+OK POP3 server ready\r\n",
        143 => b"* OK IMAP4rev1 server ready\r\n",
        _ => return None,
    })
}

/// Echoes what arrives (up to `MAX_ECHO` bytes), until EOF or idle.
fn generic(conn: &mut Conn<'_>) -> TcpProtocol {
    let mut echoed = 0u64;
    loop {
        if !conn.buf.is_empty() {
            let data = std::mem::take(&mut conn.buf);
            if echoed < MAX_ECHO {
                let n = data.len().min((MAX_ECHO - echoed) as usize);
                echoed += n as u64;
                if !conn.send(&data[..n]) {
                    break;
                }
            }
        }
        if conn.eof || conn.fill(conn.idle) == 0 {
            break;
        }
    }
    TcpProtocol::Generic
}

/// DNS over TCP: two-byte length, message; answered like UDP.
fn dns_tcp(conn: &mut Conn<'_>, dst: SocketAddr, shared: &Shared) -> TcpProtocol {
    let client = conn.stream.peer_addr().map(canonical).unwrap_or(dst);
    loop {
        while conn.buf.len() < 2 && !conn.eof {
            if conn.fill(conn.idle) == 0 && !conn.eof {
                conn.eof = true;
            }
        }
        let Some(len) = conn
            .buf
            .get(..2)
            .map(|b| usize::from(u16::from_be_bytes([b[0], b[1]])))
        else {
            break;
        };
        while conn.buf.len() < 2 + len && !conn.eof {
            if conn.fill(conn.idle) == 0 && !conn.eof {
                conn.eof = true;
            }
        }
        let Some(msg) = conn.buf.get(2..2 + len).map(<[u8]>::to_vec) else {
            break;
        };
        conn.buf.drain(..2 + len);
        if let Some(a) = dns::answer(&msg, &shared.settings.policy) {
            let mut out = Vec::with_capacity(a.reply.len() + 2);
            out.extend_from_slice(&(a.reply.len() as u16).to_be_bytes());
            out.extend_from_slice(&a.reply);
            record_dns(shared, DnsTransport::Tcp, client, dst, &a);
            if !conn.send(&out) {
                break;
            }
        }
    }
    TcpProtocol::Dns
}

fn record_dns(
    shared: &Shared,
    transport: DnsTransport,
    client: SocketAddr,
    server: SocketAddr,
    a: &dns::Answered,
) {
    let q = DnsQuery {
        at: shared.since_start(),
        transport,
        client,
        server,
        id: a.id,
        name: a.name.clone(),
        qtype: a.qtype,
        answer: a.answer,
        rcode: a.rcode,
    };
    shared.record(|l| &mut l.dns, q);
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// HTTP/1.x: answers every request with 200 (a configured file or a small page).
fn http(conn: &mut Conn<'_>, id: u64, dst: SocketAddr, shared: &Shared) -> TcpProtocol {
    loop {
        // Read the head.
        let head_end = loop {
            if let Some(i) = memfind(&conn.buf, b"\r\n\r\n") {
                break Some(i + 4);
            }
            if let Some(i) = memfind(&conn.buf, b"\n\n") {
                break Some(i + 2);
            }
            if conn.buf.len() > MAX_HEAD || conn.eof || conn.fill(conn.idle) == 0 {
                break None;
            }
        };
        let Some(head_end) = head_end else {
            if conn.buf.len() > MAX_HEAD {
                conn.send(b"HTTP/1.1 431 Request Header Fields Too Large\r\nConnection: close\r\nContent-Length: 0\r\n\r\n");
            }
            break;
        };
        let head: Vec<u8> = conn.buf.drain(..head_end).collect();
        let mut lines = head
            .split(|&b| b == b'\n')
            .map(|l| l.strip_suffix(b"\r").unwrap_or(l));
        let request_line = lines.next().unwrap_or_default();
        let mut parts = request_line.split(|&b| b == b' ').filter(|p| !p.is_empty());
        let method = text(parts.next().unwrap_or_default());
        let uri = text(parts.next().unwrap_or_default());
        let version = text(parts.next().unwrap_or(b"HTTP/1.0"));
        let mut headers = Vec::new();
        for l in lines.filter(|l| !l.is_empty()) {
            let (n, v) = match l.iter().position(|&b| b == b':') {
                Some(i) => (&l[..i], &l[i + 1..]),
                None => (l, &l[l.len()..]),
            };
            headers.push((text(n).trim().to_owned(), text(v).trim().to_owned()));
        }
        let header = |name: &str| {
            headers
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.clone())
        };
        let content_length: u64 = header("content-length")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        let close = version.eq_ignore_ascii_case("HTTP/1.0")
            || header("connection").is_some_and(|v| v.eq_ignore_ascii_case("close"))
            || header("transfer-encoding").is_some();
        // Drain the body (bounded).
        let mut body = 0u64;
        let want = content_length.min(MAX_BODY_DRAIN);
        while body < want {
            if conn.buf.is_empty() && (conn.eof || conn.fill(conn.idle) == 0) {
                break;
            }
            let take = conn.buf.len().min((want - body) as usize);
            conn.buf.drain(..take);
            body += take as u64;
        }
        let path = uri.split(['?', '#']).next().unwrap_or_default();
        let path = match path.find("://") {
            // Absolute form (proxy style): keep the path part.
            Some(i) => path[i + 3..].find('/').map_or("/", |j| &path[i + 3 + j..]),
            None => path,
        };
        let file = shared.settings.http_files.get(path).cloned();
        let served_file = file.is_some();
        let body_out: Arc<[u8]> = file.unwrap_or_else(|| {
            Arc::from(&b"<html><head><title>OK</title></head><body>OK</body></html>\n"[..])
        });
        let ctype = if served_file {
            "application/octet-stream"
        } else {
            "text/html"
        };
        let is_head = method.eq_ignore_ascii_case("HEAD");
        let resp_head = format!(
            "HTTP/1.1 200 OK\r\nServer: nginx\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: {}\r\n\r\n",
            body_out.len(),
            if close { "close" } else { "keep-alive" }
        );
        shared.record(
            |l| &mut l.http,
            HttpRequest {
                session: id,
                at: shared.since_start(),
                original_dst: dst,
                host: header("host"),
                user_agent: header("user-agent"),
                method,
                uri,
                version,
                headers,
                body_bytes: body,
                status: 200,
                response_bytes: body_out.len() as u64,
                served_file,
            },
        );
        if !conn.send(resp_head.as_bytes()) || (!is_head && !conn.send(&body_out)) {
            break;
        }
        if close {
            break;
        }
    }
    TcpProtocol::Http
}

fn memfind(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Splits an IRC line into (command, params).
fn parse_irc(line: &str) -> Option<(String, Vec<String>)> {
    let mut rest = line.trim_start();
    if rest.starts_with(':') {
        rest = rest.split_once(' ')?.1.trim_start();
    }
    let (cmd, mut rest) = rest.split_once(' ').unwrap_or((rest, ""));
    if cmd.is_empty() {
        return None;
    }
    let mut params = Vec::new();
    loop {
        rest = rest.trim_start_matches(' ');
        if rest.is_empty() {
            break;
        }
        if let Some(t) = rest.strip_prefix(':') {
            params.push(t.to_owned());
            break;
        }
        let (p, r) = rest.split_once(' ').unwrap_or((rest, ""));
        params.push(p.to_owned());
        rest = r;
    }
    Some((cmd.to_ascii_uppercase(), params))
}

const IRC_SERVER: &str = "irc.local";

/// IRC: registration (001-004, end of MOTD), JOIN echoed with a names list,
/// PING answered; every line recorded.
fn irc(conn: &mut Conn<'_>, id: u64, dst: SocketAddr, shared: &Shared) -> TcpProtocol {
    let mut nick = String::from("*");
    let mut user: Option<String> = None;
    let mut registered = false;
    while let Some(raw) = conn.line(false) {
        let line = text(&raw);
        let Some((cmd, params)) = parse_irc(&line) else {
            continue;
        };
        let first = params.first().cloned().unwrap_or_default();
        shared.record(
            |l| &mut l.irc,
            IrcLine {
                session: id,
                at: shared.since_start(),
                original_dst: dst,
                command: cmd.clone(),
                params,
            },
        );
        let mut out = String::new();
        match cmd.as_str() {
            "NICK" if !first.is_empty() => {
                nick = first;
            }
            "USER" => {
                user = Some(if first.is_empty() {
                    "user".into()
                } else {
                    first
                })
            }
            "PING" => out = format!(":{IRC_SERVER} PONG {IRC_SERVER} :{first}\r\n"),
            "JOIN" if registered => {
                for chan in first.split(',').filter(|c| !c.is_empty()) {
                    out.push_str(&format!(
                        ":{nick}!{u}@{host} JOIN :{chan}\r\n:{IRC_SERVER} 332 {nick} {chan} :\r\n:{IRC_SERVER} 353 {nick} = {chan} :{nick}\r\n:{IRC_SERVER} 366 {nick} {chan} :End of /NAMES list.\r\n",
                        u = user.as_deref().unwrap_or("user"),
                        host = dst.ip()
                    ));
                }
            }
            "QUIT" => {
                conn.send(b"ERROR :Closing link\r\n");
                break;
            }
            _ => {}
        }
        if !registered && nick != "*" && user.is_some() {
            registered = true;
            out.push_str(&format!(
                ":{IRC_SERVER} 001 {nick} :Welcome to the Internet Relay Network {nick}\r\n:{IRC_SERVER} 002 {nick} :Your host is {IRC_SERVER}\r\n:{IRC_SERVER} 003 {nick} :This server was created today\r\n:{IRC_SERVER} 004 {nick} {IRC_SERVER} 1.0 o o\r\n:{IRC_SERVER} 376 {nick} :End of /MOTD command.\r\n"
            ));
        }
        if !out.is_empty() && !conn.send(out.as_bytes()) {
            break;
        }
    }
    TcpProtocol::Irc
}

const IAC: u8 = 255;
const SB: u8 = 250;
const SE: u8 = 240;

/// Strips telnet commands from `buf`, recording negotiations and answering them
/// politely: DO/DONT get WONT unless the server offered the option, WILL gets DONT
/// except for terminal type, window size and speed, which are accepted.
fn strip_telnet(conn: &mut Conn<'_>, negotiations: &mut Vec<(u8, u8)>) {
    let mut out = Vec::with_capacity(conn.buf.len());
    let mut replies = Vec::new();
    let mut i = 0;
    let b = std::mem::take(&mut conn.buf);
    while i < b.len() {
        if b[i] != IAC {
            out.push(b[i]);
            i += 1;
            continue;
        }
        let Some(&cmd) = b.get(i + 1) else {
            // Incomplete command: keep it for the next read.
            conn.buf.extend_from_slice(&b[i..]);
            break;
        };
        match cmd {
            IAC => {
                out.push(IAC);
                i += 2;
            }
            251..=254 => {
                let Some(&opt) = b.get(i + 2) else {
                    conn.buf.extend_from_slice(&b[i..]);
                    break;
                };
                if negotiations.len() < 256 {
                    negotiations.push((cmd, opt));
                }
                match cmd {
                    // WILL: accept terminal type, window size, speed; refuse others.
                    251 => {
                        let ok = matches!(opt, 24 | 31 | 32);
                        replies.extend_from_slice(&[IAC, if ok { 253 } else { 254 }, opt]);
                    }
                    // DO: we already offered echo and suppress-go-ahead.
                    253 if !matches!(opt, 1 | 3) => replies.extend_from_slice(&[IAC, 252, opt]),
                    _ => {}
                }
                i += 3;
            }
            SB => match b[i..].windows(2).position(|w| w == [IAC, SE]) {
                Some(j) => i += j + 2,
                None => {
                    conn.buf.extend_from_slice(&b[i..]);
                    break;
                }
            },
            _ => i += 2,
        }
    }
    out.extend_from_slice(&conn.buf);
    conn.buf = out;
    if !replies.is_empty() {
        conn.send(&replies);
    }
}

/// Reads one typed line of a telnet session (negotiation stripped).
fn telnet_line(conn: &mut Conn<'_>, neg: &mut Vec<(u8, u8)>) -> Option<String> {
    loop {
        strip_telnet(conn, neg);
        if let Some(i) = conn
            .buf
            .iter()
            .position(|&b| b == b'\r' || b == b'\n' || b == 0)
        {
            let line: Vec<u8> = conn.buf.drain(..=i).collect();
            if matches!(conn.buf.first(), Some(b'\n' | 0)) && line.last() == Some(&b'\r') {
                conn.buf.remove(0);
            }
            let s = text(&line[..line.len() - 1]);
            return Some(s);
        }
        if conn.buf.len() >= MAX_LINE {
            return Some(text(&std::mem::take(&mut conn.buf)));
        }
        if conn.eof || conn.fill(conn.idle) == 0 {
            return (!conn.buf.is_empty()).then(|| text(&std::mem::take(&mut conn.buf)));
        }
    }
}

/// Telnet: offers echo and suppress-go-ahead, asks `login:` and `Password:`, records
/// them, then plays a root shell that accepts and records every command.
fn telnet(conn: &mut Conn<'_>, id: u64, dst: SocketAddr, shared: &Shared) -> TcpProtocol {
    let mut rec = TelnetLogin {
        session: id,
        at: shared.since_start(),
        original_dst: dst,
        username: None,
        password: None,
        commands: Vec::new(),
        negotiations: Vec::new(),
    };
    let mut neg = Vec::new();
    if conn.send(&[IAC, 251, 1, IAC, 251, 3, IAC, 253, 31]) && conn.send(b"\r\nlogin: ") {
        let mut stage = 0;
        while let Some(line) = telnet_line(conn, &mut neg) {
            match stage {
                0 => {
                    // Clients often send an empty line first: ask again.
                    if line.is_empty() {
                        if !conn.send(b"\r\nlogin: ") {
                            break;
                        }
                        continue;
                    }
                    rec.username = Some(line);
                    stage = 1;
                    if !conn.send(b"\r\nPassword: ") {
                        break;
                    }
                }
                1 => {
                    rec.password = Some(line);
                    stage = 2;
                    if !conn.send(b"\r\n\r\nBusyBox v1.31.1 built-in shell (ash)\r\n\r\n# ") {
                        break;
                    }
                }
                _ => {
                    let cmd = line.trim().to_owned();
                    if cmd == "exit" || cmd == "logout" {
                        rec.commands.push(cmd);
                        break;
                    }
                    if !cmd.is_empty() && rec.commands.len() < MAX_COMMANDS {
                        rec.commands.push(cmd);
                    }
                    if !conn.send(b"\r\n# ") {
                        break;
                    }
                }
            }
        }
    }
    rec.negotiations = neg;
    // A bare connect (a scan) is already a TCP session; a login record needs the
    // client to have sent something.
    if rec.username.is_some() || !rec.negotiations.is_empty() {
        shared.record(|l| &mut l.telnet, rec);
    }
    TcpProtocol::Telnet
}

/// Answers DNS on UDP port 53 of every address, replying from the address asked.
pub(crate) fn dns_udp_loop(sock: UdpSocket, shared: Arc<Shared>) {
    let mut buf = vec![0u8; 4096];
    let _ = sys::set_recv_timeout(sock.as_fd(), POLL);
    while !shared.stop.load(Ordering::Relaxed) {
        let Ok((n, from, dst)) = sys::recv_with_dst(sock.as_fd(), &mut buf) else {
            continue;
        };
        let Some(a) = dns::answer(&buf[..n], &shared.settings.policy) else {
            continue;
        };
        record_dns(
            &shared,
            DnsTransport::Udp,
            canonical(from),
            SocketAddr::new(dst.to_canonical(), 53),
            &a,
        );
        // Replies stay far below 512 bytes: one question, at most one address.
        let _ = sys::send_from(sock.as_fd(), &a.reply, from, dst);
    }
}

#[cfg(test)]
mod tests {
    use super::parse_irc;

    #[test]
    fn irc_lines() {
        assert_eq!(
            parse_irc(":x!y@z PRIVMSG #c :hello there"),
            Some(("PRIVMSG".into(), vec!["#c".into(), "hello there".into()]))
        );
        assert_eq!(
            parse_irc("user bot 0 * :real name"),
            Some((
                "USER".into(),
                vec!["bot".into(), "0".into(), "*".into(), "real name".into()]
            ))
        );
        assert_eq!(parse_irc(""), None);
        assert_eq!(parse_irc(":prefixonly"), None);
    }
}
