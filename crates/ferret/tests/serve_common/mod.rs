//! Shared helpers of the `ferret serve` tests: a server on a free loopback port, a
//! token from `ferret token create`, and plain HTTP/1.1 over std sockets (so the
//! tests see exactly the bytes a client gets).
#![allow(dead_code)]

use std::io::Read;
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};

use serde_json::Value;

pub const FERRET: &str = env!("CARGO_BIN_EXE_ferret");

/// Panics unless the test runs as root; `why` says what needs it.
pub fn require_root(why: &str) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let uid = status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|v| v.split_whitespace().next())
        .unwrap_or("");
    assert_eq!(uid, "0", "run as root: {why}");
}

/// Creates an API token named `name` (`extra`: e.g. `--db URL`) and returns its secret.
pub fn create_token(data: &Path, name: &str, extra: &[&str]) -> String {
    let out = Command::new(FERRET)
        .args(["token", "create", name])
        .args(extra)
        .arg("--data")
        .arg(data)
        .output()
        .expect("run ferret token create");
    assert!(
        out.status.success(),
        "ferret token create: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    text.split_whitespace()
        .find(|w| w.starts_with("ferret_") && w.len() == 71)
        .unwrap_or_else(|| panic!("no token secret in `ferret token create` output: {text}"))
        .to_owned()
}

/// A `ferret serve` child, killed on drop.
#[derive(Debug)]
pub struct Server {
    pub child: Child,
    pub addr: SocketAddr,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `ferret serve --listen 127.0.0.1:0 ARGS... --data DATA` and waits until
/// it listens (the kernel picks the port; the server prints its address).
pub fn start_serve(args: &[&str], data: &Path) -> Server {
    let child = Command::new(FERRET)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .args(args)
        .arg("--data")
        .arg(data)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn ferret serve");
    // Held before reading, so that a server that never listens is still killed.
    let mut server = Server {
        child,
        addr: SocketAddr::from(([127, 0, 0, 1], 0)),
    };
    server.addr = listening_address(&mut server.child);
    assert!(server.addr.ip().is_loopback(), "{}", server.addr);
    server
}

/// Reads the server's stdout up to the line naming its address, then keeps draining
/// it on a thread so the server never blocks on a full pipe.
fn listening_address(child: &mut Child) -> SocketAddr {
    let Some(mut stdout) = child.stdout.take() else {
        panic!("no stdout pipe of ferret serve");
    };
    let mut seen = Vec::new();
    let mut byte = [0u8; 1];
    let addr = loop {
        match stdout.read(&mut byte) {
            Ok(1) => seen.push(byte[0]),
            _ => panic!(
                "ferret serve exited before listening: {}",
                String::from_utf8_lossy(&seen)
            ),
        }
        if byte[0] != b'\n' {
            continue;
        }
        let line = String::from_utf8_lossy(&seen).into_owned();
        if let Some(a) = line
            .split_whitespace()
            .find_map(|w| w.strip_prefix("http://"))
            .and_then(|a| a.trim_end_matches('/').parse::<SocketAddr>().ok())
        {
            break a;
        }
    };
    std::thread::spawn(move || {
        let mut sink = Vec::new();
        let _ = stdout.read_to_end(&mut sink);
    });
    addr
}

/// An HTTP response, chunked transfer coding already removed.
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "{}: not JSON ({e}): {}",
                self.status,
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    /// The `error` message of a JSON error body.
    pub fn error(&self) -> String {
        let v = self.json();
        v["error"]
            .as_str()
            .unwrap_or_else(|| panic!("no error message: {v}"))
            .to_owned()
    }
}

/// Parses a whole response read from a `Connection: close` socket.
pub fn parse_response(raw: &[u8]) -> Result<Resp, String> {
    let bad = |what: &str| format!("{what} in {:?}", String::from_utf8_lossy(raw));
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| bad("no HTTP header end"))?;
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| bad("no status line"))?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect();
    let mut body = raw[split + 4..].to_vec();
    let chunked = headers.iter().any(|(k, v)| {
        k.eq_ignore_ascii_case("transfer-encoding") && v.eq_ignore_ascii_case("chunked")
    });
    if chunked {
        let mut out = Vec::new();
        let mut b = &body[..];
        loop {
            let eol = b
                .windows(2)
                .position(|w| w == b"\r\n")
                .ok_or_else(|| bad("no chunk size line"))?;
            let size = std::str::from_utf8(&b[..eol])
                .ok()
                .and_then(|s| usize::from_str_radix(s.trim(), 16).ok())
                .ok_or_else(|| bad("bad chunk size"))?;
            b = b.get(eol + 2..).ok_or_else(|| bad("truncated chunk"))?;
            if size == 0 {
                break;
            }
            out.extend_from_slice(b.get(..size).ok_or_else(|| bad("truncated chunk"))?);
            b = b.get(size + 2..).ok_or_else(|| bad("truncated chunk"))?;
        }
        body = out;
    }
    Ok(Resp {
        status,
        headers,
        body,
    })
}

/// A multipart/form-data body: (field name, file name for a file part, content).
pub fn multipart(boundary: &str, parts: &[(&str, Option<&str>, &[u8])]) -> Vec<u8> {
    let mut b = Vec::new();
    for (name, file, data) in parts {
        b.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
        let disp = match file {
            Some(f) => format!(
                "Content-Disposition: form-data; name=\"{name}\"; filename=\"{f}\"\r\n\
                 Content-Type: application/octet-stream\r\n\r\n"
            ),
            None => format!("Content-Disposition: form-data; name=\"{name}\"\r\n\r\n"),
        };
        b.extend_from_slice(disp.as_bytes());
        b.extend_from_slice(data);
        b.extend_from_slice(b"\r\n");
    }
    b.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    b
}
