//! TLS ClientHello parsing: version, server name (SNI) and ALPN.

use crate::records::{Ctx, text};
use crate::report::TlsClientHello;

/// Most bytes of the client's first flight buffered to find the ClientHello.
const MAX_HELLO: usize = 16 * 1024 + 5;

/// Does `data` start like a TLS handshake record carrying a ClientHello?
pub(crate) fn looks_like_client_hello(data: &[u8]) -> bool {
    matches!(
        data,
        [0x16, 0x03, 0..=4, _, _, 1, ..] | [0x16, 0x03, 0..=4, _, _]
    )
}

/// TLS state of one connection: the client's first bytes until the hello is complete.
#[derive(Debug)]
pub(crate) struct TlsConn {
    buf: Vec<u8>,
    done: bool,
    /// Direction the client's data travels in.
    client: usize,
}

impl TlsConn {
    /// Bytes held in buffers.
    pub(crate) fn buffered(&self) -> usize {
        self.buf.capacity()
    }

    /// A connection whose client sends in direction `client`.
    pub(crate) fn new(client: usize) -> Self {
        TlsConn {
            buf: Vec::new(),
            done: false,
            client: client & 1,
        }
    }

    /// Nothing more to learn.
    pub(crate) fn finished(&self) -> bool {
        self.done
    }

    /// Data lost: the hello cannot be completed.
    pub(crate) fn gap(&mut self) {
        self.done = true;
        self.buf = Vec::new();
    }

    /// Consumes in-order data; only the client's direction matters.
    pub(crate) fn data(&mut self, dir: usize, data: &[u8], ctx: &mut Ctx<'_>) {
        if self.done || dir != self.client {
            return;
        }
        let whole: &[u8] = if self.buf.is_empty() {
            data
        } else {
            let room = MAX_HELLO.saturating_sub(self.buf.len());
            self.buf.extend_from_slice(&data[..data.len().min(room)]);
            &self.buf
        };
        match hello(whole) {
            Ok(Some(h)) => {
                self.done = true;
                if ctx.rec.admit(crate::records::Kind::Tls) {
                    let est = std::mem::size_of::<TlsClientHello>()
                        + h.1.as_deref().map_or(0, crate::records::est)
                        + h.2
                            .iter()
                            .map(|a| 24 + crate::records::est(a))
                            .sum::<usize>();
                    ctx.rec.charge(est);
                    let (src, sport) = ctx.src(dir);
                    let (dst, dport) = ctx.dst(dir);
                    ctx.rec.tls.push(TlsClientHello {
                        ts: ctx.ts,
                        flow: ctx.flow,
                        src,
                        sport,
                        dst,
                        dport,
                        version: h.0,
                        sni: h.1,
                        alpn: h.2,
                    });
                }
                self.buf = Vec::new();
            }
            Ok(None) => {
                if self.buf.is_empty() {
                    self.buf
                        .extend_from_slice(&data[..data.len().min(MAX_HELLO)]);
                } else if self.buf.len() >= MAX_HELLO {
                    self.gap();
                }
            }
            Err(()) => self.gap(),
        }
    }
}

fn version_name(v: u16) -> String {
    match v {
        0x0300 => "SSL3.0".into(),
        0x0301 => "TLS1.0".into(),
        0x0302 => "TLS1.1".into(),
        0x0303 => "TLS1.2".into(),
        0x0304 => "TLS1.3".into(),
        _ => format!("{v:#06x}"),
    }
}

type Hello = (String, Option<String>, Vec<String>);

/// Parses a ClientHello from the start of the stream. `Ok(None)`: need more data;
/// `Err`: not a ClientHello.
fn hello(s: &[u8]) -> Result<Option<Hello>, ()> {
    // The handshake message may span several records: gather their fragments.
    let mut hs = Vec::new();
    let mut p = 0;
    loop {
        let Some(h) = s.get(p..p + 5) else {
            return Ok(None);
        };
        if h[0] != 0x16 || h[1] != 3 {
            return Err(());
        }
        let len = usize::from(u16::from_be_bytes([h[3], h[4]]));
        let Some(frag) = s.get(p + 5..p + 5 + len) else {
            // Use what is there if it already holds the whole message.
            hs.extend_from_slice(s.get(p + 5..).unwrap_or(&[]));
            break;
        };
        hs.extend_from_slice(frag);
        p += 5 + len;
        if hs.len() >= 4 {
            let need =
                4 + ((usize::from(hs[1]) << 16) | (usize::from(hs[2]) << 8) | usize::from(hs[3]));
            if hs.len() >= need {
                break;
            }
        }
    }
    if hs.len() < 4 {
        return Ok(None);
    }
    if hs[0] != 1 {
        return Err(());
    }
    let need = 4 + ((usize::from(hs[1]) << 16) | (usize::from(hs[2]) << 8) | usize::from(hs[3]));
    let Some(body) = hs.get(4..need) else {
        return Ok(None);
    };
    let rd16 = |b: &[u8], at: usize| {
        b.get(at..at + 2)
            .map(|x| usize::from(u16::from_be_bytes([x[0], x[1]])))
    };
    let version = rd16(body, 0).ok_or(())? as u16;
    let mut at = 2 + 32;
    at += 1 + usize::from(*body.get(at).ok_or(())?);
    at += 2 + rd16(body, at).ok_or(())?;
    at += 1 + usize::from(*body.get(at).ok_or(())?);
    let mut sni = None;
    let mut alpn = Vec::new();
    let mut version = version;
    if let Some(ext_len) = rd16(body, at) {
        let exts = body.get(at + 2..at + 2 + ext_len).ok_or(())?;
        let mut e = 0;
        while let (Some(t), Some(l)) = (rd16(exts, e), rd16(exts, e + 2)) {
            let Some(v) = exts.get(e + 4..e + 4 + l) else {
                break;
            };
            match t {
                0 => {
                    // server_name list: type 0 (host_name) entries.
                    let mut q = 2;
                    while let (Some(&nt), Some(nl)) = (v.get(q), rd16(v, q + 1)) {
                        let Some(name) = v.get(q + 3..q + 3 + nl) else {
                            break;
                        };
                        if nt == 0 && sni.is_none() {
                            sni = Some(text(name, 255));
                        }
                        q += 3 + nl;
                    }
                }
                16 => {
                    let mut q = 2;
                    while let Some(&pl) = v.get(q) {
                        let Some(proto) = v.get(q + 1..q + 1 + usize::from(pl)) else {
                            break;
                        };
                        alpn.push(text(proto, 64));
                        q += 1 + usize::from(pl);
                    }
                }
                43 => {
                    // supported_versions: the highest real version offered.
                    let n = usize::from(*v.first().unwrap_or(&0));
                    for c in v.get(1..1 + n).unwrap_or(&[]).chunks_exact(2) {
                        let ver = u16::from_be_bytes([c[0], c[1]]);
                        if (0x0300..=0x0304).contains(&ver) && ver > version {
                            version = ver;
                        }
                    }
                }
                _ => {}
            }
            e += 4 + l;
        }
    }
    Ok(Some((version_name(version), sni, alpn)))
}
