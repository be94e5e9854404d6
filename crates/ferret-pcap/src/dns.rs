//! DNS message parsing (RFC 1035 and the common later record types), with
//! name decompression bounded against pointer loops.

use std::fmt::Write as _;
use std::net::{Ipv4Addr, Ipv6Addr};

use crate::report::{DnsQuestion, DnsRecord, Label};

/// Most records of one section kept per message; the rest are skipped.
const MAX_RECORDS: usize = 64;
/// Most compression pointers followed while reading one name.
const MAX_POINTERS: usize = 32;
/// Longest name in presentation form (RFC 1035: 255 octets on the wire).
const MAX_NAME: usize = 255;

/// A parsed DNS message (addressing is added by the caller).
#[derive(Debug, Default)]
pub struct Parsed {
    /// Transaction id.
    pub id: u16,
    /// Header flags.
    pub flags: u16,
    /// Questions.
    pub questions: Vec<DnsQuestion>,
    /// Answers.
    pub answers: Vec<DnsRecord>,
    /// Authority records.
    pub authorities: Vec<DnsRecord>,
    /// Additional records.
    pub additionals: Vec<DnsRecord>,
    /// Why parsing stopped early.
    pub malformed: Option<String>,
}

/// Name of a record type.
pub fn type_name(t: u16) -> Label {
    let s = match t {
        1 => "A",
        2 => "NS",
        5 => "CNAME",
        6 => "SOA",
        12 => "PTR",
        13 => "HINFO",
        15 => "MX",
        16 => "TXT",
        17 => "RP",
        18 => "AFSDB",
        24 => "SIG",
        25 => "KEY",
        28 => "AAAA",
        29 => "LOC",
        33 => "SRV",
        35 => "NAPTR",
        39 => "DNAME",
        41 => "OPT",
        43 => "DS",
        46 => "RRSIG",
        47 => "NSEC",
        48 => "DNSKEY",
        50 => "NSEC3",
        52 => "TLSA",
        64 => "SVCB",
        65 => "HTTPS",
        99 => "SPF",
        250 => "TSIG",
        251 => "IXFR",
        252 => "AXFR",
        255 => "ANY",
        256 => "URI",
        257 => "CAA",
        _ => return Label::Owned(format!("TYPE{t}")),
    };
    Label::Borrowed(s)
}

/// Name of a response code.
pub fn rcode_name(rc: u8) -> Label {
    let s = match rc {
        0 => "NOERROR",
        1 => "FORMERR",
        2 => "SERVFAIL",
        3 => "NXDOMAIN",
        4 => "NOTIMP",
        5 => "REFUSED",
        6 => "YXDOMAIN",
        7 => "YXRRSET",
        8 => "NXRRSET",
        9 => "NOTAUTH",
        10 => "NOTZONE",
        _ => return Label::Owned(format!("RCODE{rc}")),
    };
    Label::Borrowed(s)
}

struct Cursor<'a> {
    msg: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn u8(&mut self) -> Result<u8, String> {
        let v = *self
            .msg
            .get(self.pos)
            .ok_or_else(|| format!("message ends at byte {}", self.pos))?;
        self.pos += 1;
        Ok(v)
    }
    fn u16(&mut self) -> Result<u16, String> {
        Ok(u16::from(self.u8()?) << 8 | u16::from(self.u8()?))
    }
    fn u32(&mut self) -> Result<u32, String> {
        Ok(u32::from(self.u16()?) << 16 | u32::from(self.u16()?))
    }
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        let s = self.msg.get(self.pos..self.pos + n).ok_or_else(|| {
            format!(
                "{n} bytes needed at byte {} but the message has {}",
                self.pos,
                self.msg.len()
            )
        })?;
        self.pos += n;
        Ok(s)
    }
}

/// Reads a possibly compressed name starting at `pos`; returns it and the
/// position after its in-place part.
pub fn read_name(msg: &[u8], mut pos: usize) -> Result<(String, usize), String> {
    let mut name = String::new();
    let mut end = None;
    let mut jumps = 0;
    loop {
        let len = *msg
            .get(pos)
            .ok_or_else(|| format!("name runs past the end of the message at byte {pos}"))?;
        match len >> 6 {
            0 => {
                if len == 0 {
                    let after = end.unwrap_or(pos + 1);
                    return Ok((name, after));
                }
                let label = msg
                    .get(pos + 1..pos + 1 + usize::from(len))
                    .ok_or_else(|| {
                        format!("label at byte {pos} runs past the end of the message")
                    })?;
                if !name.is_empty() {
                    name.push('.');
                }
                for &c in label {
                    if c.is_ascii_graphic() && c != b'.' && c != b'\\' {
                        name.push(char::from(c));
                    } else {
                        // Non-printable and separator bytes are escaped as in zone files.
                        let _ = write!(name, "\\{c:03}");
                    }
                }
                if name.len() > MAX_NAME * 4 {
                    return Err("name longer than 255 bytes".into());
                }
                pos += 1 + usize::from(len);
            }
            3 => {
                let lo = *msg
                    .get(pos + 1)
                    .ok_or_else(|| "compression pointer cut off".to_string())?;
                let target = (usize::from(len & 0x3f) << 8) | usize::from(lo);
                if end.is_none() {
                    end = Some(pos + 2);
                }
                jumps += 1;
                if jumps > MAX_POINTERS {
                    return Err(format!("compression pointer loop at byte {pos}"));
                }
                if target >= msg.len() {
                    return Err(format!(
                        "compression pointer at byte {pos} points past the message to {target}"
                    ));
                }
                pos = target;
            }
            _ => {
                return Err(format!(
                    "reserved label type {:#x} at byte {pos}",
                    len & 0xc0
                ));
            }
        }
    }
}

fn hex(b: &[u8]) -> String {
    let mut s = String::with_capacity(b.len() * 2);
    for x in b {
        let _ = write!(s, "{x:02x}");
    }
    s
}

fn character_strings(data: &[u8]) -> String {
    let mut out = String::new();
    let mut p = 0;
    while p < data.len() {
        let n = usize::from(data[p]);
        let s = data
            .get(p + 1..p + 1 + n)
            .unwrap_or(&data[(p + 1).min(data.len())..]);
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(&String::from_utf8_lossy(s));
        p += 1 + n;
    }
    out
}

fn rdata(msg: &[u8], rtype: u16, start: usize, rd: &[u8]) -> Result<String, String> {
    Ok(match rtype {
        1 if rd.len() == 4 => Ipv4Addr::new(rd[0], rd[1], rd[2], rd[3]).to_string(),
        28 if rd.len() == 16 => {
            let mut a = [0u8; 16];
            a.copy_from_slice(rd);
            Ipv6Addr::from(a).to_string()
        }
        1 | 28 => {
            return Err(format!(
                "{} record with {} data bytes",
                type_name(rtype),
                rd.len()
            ));
        }
        2 | 5 | 12 | 39 => read_name(msg, start)?.0,
        15 => {
            if rd.len() < 3 {
                return Err("MX record too short".into());
            }
            let pref = u16::from_be_bytes([rd[0], rd[1]]);
            format!("{pref} {}", read_name(msg, start + 2)?.0)
        }
        33 => {
            if rd.len() < 7 {
                return Err("SRV record too short".into());
            }
            let prio = u16::from_be_bytes([rd[0], rd[1]]);
            let weight = u16::from_be_bytes([rd[2], rd[3]]);
            let port = u16::from_be_bytes([rd[4], rd[5]]);
            format!("{prio} {weight} {port} {}", read_name(msg, start + 6)?.0)
        }
        6 => {
            let (mname, p) = read_name(msg, start)?;
            let (rname, p) = read_name(msg, p)?;
            let mut c = Cursor { msg, pos: p };
            let serial = c.u32()?;
            let refresh = c.u32()?;
            let retry = c.u32()?;
            let expire = c.u32()?;
            let minimum = c.u32()?;
            format!("{mname} {rname} {serial} {refresh} {retry} {expire} {minimum}")
        }
        16 | 99 | 13 => character_strings(rd),
        _ => hex(rd),
    })
}

/// Parses one DNS message. Returns `None` when it is too short to have a header.
pub fn parse(msg: &[u8]) -> Option<Parsed> {
    if msg.len() < 12 {
        return None;
    }
    let mut p = Parsed {
        id: u16::from_be_bytes([msg[0], msg[1]]),
        flags: u16::from_be_bytes([msg[2], msg[3]]),
        ..Default::default()
    };
    let counts = [
        u16::from_be_bytes([msg[4], msg[5]]),
        u16::from_be_bytes([msg[6], msg[7]]),
        u16::from_be_bytes([msg[8], msg[9]]),
        u16::from_be_bytes([msg[10], msg[11]]),
    ];
    if let Err(e) = parse_body(msg, counts, &mut p) {
        p.malformed = Some(e);
    }
    Some(p)
}

fn parse_body(msg: &[u8], counts: [u16; 4], p: &mut Parsed) -> Result<(), String> {
    // Counts beyond what the payload can hold end in an error at the first record
    // that is missing, so absurd headers cost no more than the message's length.
    let mut c = Cursor { msg, pos: 12 };
    for _ in 0..counts[0] {
        let (name, after) = read_name(msg, c.pos)?;
        c.pos = after;
        let rtype = c.u16()?;
        let class = c.u16()?;
        if p.questions.len() < MAX_RECORDS {
            p.questions.push(DnsQuestion {
                name,
                rtype: type_name(rtype),
                class,
            });
        }
    }
    for (i, &n) in counts[1..].iter().enumerate() {
        for _ in 0..n {
            let (name, after) = read_name(msg, c.pos)?;
            c.pos = after;
            let rtype = c.u16()?;
            let class = c.u16()?;
            let ttl = c.u32()?;
            let rdlen = usize::from(c.u16()?);
            let start = c.pos;
            let rd = c.take(rdlen)?;
            let section = match i {
                0 => &mut p.answers,
                1 => &mut p.authorities,
                _ => &mut p.additionals,
            };
            if section.len() < MAX_RECORDS {
                let data = rdata(msg, rtype, start, rd)?;
                section.push(DnsRecord {
                    name,
                    rtype: type_name(rtype),
                    class,
                    ttl,
                    data,
                });
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pointer_loop_is_an_error_not_a_hang() {
        // Header, then a name that is a pointer to itself.
        let mut m = vec![0, 1, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0];
        m.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1]);
        let p = parse(&m).unwrap_or_default();
        assert!(p.malformed.unwrap_or_default().contains("loop"));
    }

    #[test]
    fn compressed_answer() {
        let mut m = vec![0x12, 0x34, 0x81, 0x80, 0, 1, 0, 1, 0, 0, 0, 0];
        m.extend_from_slice(b"\x03www\x07example\x03com\x00\x00\x01\x00\x01");
        m.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 93, 184, 216, 34]);
        let p = parse(&m).unwrap_or_default();
        assert_eq!(p.malformed, None);
        assert_eq!(p.questions[0].name, "www.example.com");
        assert_eq!(p.answers[0].name, "www.example.com");
        assert_eq!(p.answers[0].data, "93.184.216.34");
        assert_eq!(p.answers[0].ttl, 60);
    }

    #[test]
    fn absurd_counts_are_malformed() {
        let m = vec![0, 1, 1, 0, 0xff, 0xff, 0, 0, 0, 0, 0, 0, 0];
        assert!(parse(&m).unwrap_or_default().malformed.is_some());
    }
}

/// Parses `payload` as a DNS message travelling in direction `dir` and records it.
pub(crate) fn emit(
    ctx: &mut crate::records::Ctx<'_>,
    dir: usize,
    payload: &[u8],
    transport: &'static str,
) {
    let parsed = parse(payload);
    let bad = parsed.as_ref().is_none_or(|p| p.malformed.is_some());
    if bad {
        ctx.rec.malformed_dns += 1;
    }
    if !ctx.rec.admit(crate::records::Kind::Dns) {
        return;
    }
    let (src, sport) = ctx.src(dir);
    let (dst, dport) = ctx.dst(dir);
    let p = parsed.unwrap_or_else(|| Parsed {
        malformed: Some(format!(
            "{} bytes: shorter than the 12-byte DNS header",
            payload.len()
        )),
        ..Default::default()
    });
    let est = std::mem::size_of::<crate::report::DnsMessage>()
        + p.questions
            .iter()
            .map(|q| std::mem::size_of::<DnsQuestion>() + crate::records::est(&q.name))
            .sum::<usize>()
        + [&p.answers, &p.authorities, &p.additionals]
            .iter()
            .flat_map(|v| v.iter())
            .map(|r| {
                std::mem::size_of::<DnsRecord>()
                    + crate::records::est(&r.name)
                    + crate::records::est(&r.data)
            })
            .sum::<usize>();
    ctx.rec.charge(est);
    ctx.rec.dns.push(crate::report::DnsMessage {
        ts: ctx.ts,
        flow: ctx.flow,
        src,
        sport,
        dst,
        dport,
        transport: Label::Borrowed(transport),
        id: p.id,
        response: p.flags & 0x8000 != 0,
        opcode: ((p.flags >> 11) & 0xf) as u8,
        rcode: rcode_name((p.flags & 0xf) as u8),
        flags: p.flags,
        questions: p.questions,
        answers: p.answers,
        authorities: p.authorities,
        additionals: p.additionals,
        malformed: p.malformed,
    });
}

/// DNS over TCP: two-byte length prefix per message, per direction.
#[derive(Debug, Default)]
pub(crate) struct DnsTcp {
    bufs: [Vec<u8>; 2],
}

impl DnsTcp {
    /// Bytes held in buffers.
    pub(crate) fn buffered(&self) -> usize {
        self.bufs[0].capacity() + self.bufs[1].capacity()
    }

    /// Data lost: partial messages are dropped.
    pub(crate) fn gap(&mut self, dir: usize) {
        self.bufs[dir & 1] = Vec::new();
    }

    /// Consumes in-order data travelling in direction `dir`.
    pub(crate) fn data(&mut self, dir: usize, data: &[u8], ctx: &mut crate::records::Ctx<'_>) {
        let dir = dir & 1;
        let mut buf = std::mem::take(&mut self.bufs[dir]);
        let mut input: &[u8] = if buf.is_empty() {
            data
        } else {
            buf.extend_from_slice(data);
            &buf
        };
        while input.len() >= 2 {
            let len = usize::from(u16::from_be_bytes([input[0], input[1]]));
            let Some(msg) = input.get(2..2 + len) else {
                break;
            };
            emit(ctx, dir, msg, "tcp");
            input = &input[2 + len..];
        }
        // At most one partial message (< 64 KiB + 2) stays buffered.
        let rest = input.to_vec();
        self.bufs[dir] = rest;
    }
}
