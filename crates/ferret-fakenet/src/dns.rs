//! The fake resolver: answers A and AAAA queries with the sink-hole address (or
//! NXDOMAIN when configured), other types with an empty NOERROR.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// What the resolver answers.
#[derive(Debug, Clone, Copy)]
pub struct Policy {
    /// Address for A queries.
    pub sinkhole_v4: Ipv4Addr,
    /// Address for AAAA queries (`None`: empty NOERROR).
    pub sinkhole_v6: Option<Ipv6Addr>,
    /// Answer every query with NXDOMAIN instead.
    pub nxdomain: bool,
}

/// The parsed question and the reply to send.
#[derive(Debug)]
pub struct Answered {
    /// Message id.
    pub id: u16,
    /// Queried name (lower-case, no trailing dot).
    pub name: String,
    /// Query type.
    pub qtype: u16,
    /// Address answered.
    pub answer: Option<IpAddr>,
    /// Response code.
    pub rcode: u8,
    /// The response message.
    pub reply: Vec<u8>,
}

const TYPE_A: u16 = 1;
const TYPE_AAAA: u16 = 28;
const RCODE_FORMERR: u8 = 1;
const RCODE_NXDOMAIN: u8 = 3;
const RCODE_NOTIMP: u8 = 4;
const MAX_NAME: usize = 255;

/// Reads the question name starting at `pos` (queries carry no compression, but a
/// pointer is followed, at most 32 times); returns the name and the offset after it.
fn read_name(msg: &[u8], mut pos: usize) -> Option<(String, usize)> {
    let mut name = String::new();
    let mut end = None;
    let mut jumps = 0;
    loop {
        let len = *msg.get(pos)?;
        match len {
            0 => {
                return Some((name, end.unwrap_or(pos + 1)));
            }
            l if l & 0xc0 == 0xc0 => {
                let lo = *msg.get(pos + 1)?;
                end.get_or_insert(pos + 2);
                jumps += 1;
                if jumps > 32 {
                    return None;
                }
                pos = (usize::from(l & 0x3f) << 8) | usize::from(lo);
            }
            l if l & 0xc0 != 0 => return None,
            l => {
                let label = msg.get(pos + 1..pos + 1 + usize::from(l))?;
                if !name.is_empty() {
                    name.push('.');
                }
                for &b in label {
                    if b.is_ascii_graphic() && b != b'.' && b != b'\\' {
                        name.push(char::from(b.to_ascii_lowercase()));
                    } else {
                        name.push_str(&format!("\\{b:03}"));
                    }
                }
                if name.len() > MAX_NAME * 4 {
                    return None;
                }
                pos += 1 + usize::from(l);
            }
        }
    }
}

/// Answers one query message; `None` when it is not worth a reply (shorter than a
/// header, or itself a response).
pub fn answer(query: &[u8], policy: &Policy) -> Option<Answered> {
    let hdr = query.get(..12)?;
    let id = u16::from_be_bytes([hdr[0], hdr[1]]);
    let flags = u16::from_be_bytes([hdr[2], hdr[3]]);
    if flags & 0x8000 != 0 {
        return None;
    }
    let opcode = (flags >> 11) & 0xf;
    let qdcount = u16::from_be_bytes([hdr[4], hdr[5]]);
    let rd = flags & 0x0100;
    let question = if qdcount >= 1 {
        read_name(query, 12).and_then(|(name, after)| {
            let t = query.get(after..after + 4)?;
            Some((
                name,
                u16::from_be_bytes([t[0], t[1]]),
                u16::from_be_bytes([t[2], t[3]]),
                after + 4,
            ))
        })
    } else {
        None
    };
    let mut reply = Vec::with_capacity(query.len().min(300) + 32);
    reply.extend_from_slice(&id.to_be_bytes());
    let Some((name, qtype, qclass, qend)) = question else {
        // Header only, RCODE FORMERR.
        let f = 0x8000 | (opcode << 11) | rd | 0x0080 | u16::from(RCODE_FORMERR);
        reply.extend_from_slice(&f.to_be_bytes());
        reply.extend_from_slice(&[0; 8]);
        return Some(Answered {
            id,
            name: String::new(),
            qtype: 0,
            answer: None,
            rcode: RCODE_FORMERR,
            reply,
        });
    };
    let addr: Option<IpAddr> = match (opcode, qclass, qtype, policy.nxdomain) {
        (0, 1, TYPE_A, false) => Some(policy.sinkhole_v4.into()),
        (0, 1, TYPE_AAAA, false) => policy.sinkhole_v6.map(IpAddr::from),
        _ => None,
    };
    let rcode = if opcode != 0 {
        RCODE_NOTIMP
    } else if policy.nxdomain {
        RCODE_NXDOMAIN
    } else {
        0
    };
    // QR, opcode, AA, RD copied, RA, rcode.
    let f = 0x8000 | (opcode << 11) | 0x0400 | rd | 0x0080 | u16::from(rcode);
    reply.extend_from_slice(&f.to_be_bytes());
    reply.extend_from_slice(&1u16.to_be_bytes());
    reply.extend_from_slice(&u16::from(addr.is_some()).to_be_bytes());
    reply.extend_from_slice(&[0; 4]);
    reply.extend_from_slice(query.get(12..qend)?);
    if let Some(a) = addr {
        // Name as a pointer to the question, class IN, TTL 300.
        reply.extend_from_slice(&[0xc0, 0x0c]);
        reply.extend_from_slice(&qtype.to_be_bytes());
        reply.extend_from_slice(&[0, 1, 0, 0, 1, 0x2c]);
        match a {
            IpAddr::V4(v) => {
                reply.extend_from_slice(&4u16.to_be_bytes());
                reply.extend_from_slice(&v.octets());
            }
            IpAddr::V6(v) => {
                reply.extend_from_slice(&16u16.to_be_bytes());
                reply.extend_from_slice(&v.octets());
            }
        }
    }
    Some(Answered {
        id,
        name,
        qtype,
        answer: addr,
        rcode,
        reply,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(name: &str, qtype: u16) -> Vec<u8> {
        let mut q = vec![0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
        for l in name.split('.') {
            q.push(l.len() as u8);
            q.extend_from_slice(l.as_bytes());
        }
        q.push(0);
        q.extend_from_slice(&qtype.to_be_bytes());
        q.extend_from_slice(&[0, 1]);
        q
    }

    const POLICY: Policy = Policy {
        sinkhole_v4: Ipv4Addr::new(10, 13, 37, 1),
        sinkhole_v6: None,
        nxdomain: false,
    };

    #[test]
    fn a_query_gets_the_sinkhole() {
        let a = answer(&query("C2.Example.TEST", 1), &POLICY).unwrap();
        assert_eq!(a.name, "c2.example.test");
        assert_eq!(a.answer, Some(IpAddr::V4(POLICY.sinkhole_v4)));
        assert_eq!(&a.reply[0..2], &[0x12, 0x34]);
        assert_eq!(u16::from_be_bytes([a.reply[6], a.reply[7]]), 1);
        assert_eq!(&a.reply[a.reply.len() - 4..], &[10, 13, 37, 1]);
    }

    #[test]
    fn nxdomain_and_garbage() {
        let p = Policy {
            nxdomain: true,
            ..POLICY
        };
        let a = answer(&query("x.test", 1), &p).unwrap();
        assert_eq!(a.rcode, 3);
        assert_eq!(a.reply[3] & 0x0f, 3);
        assert!(answer(&[1, 2, 3], &POLICY).is_none());
        let mut bad = query("x.test", 1);
        bad[12] = 60; // label longer than the message
        assert_eq!(answer(&bad, &POLICY).unwrap().rcode, 1);
        // A pointer loop is refused, not followed forever.
        let mut lp = vec![0, 1, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xc0, 12];
        lp.extend_from_slice(&[0, 1, 0, 1]);
        assert_eq!(answer(&lp, &POLICY).unwrap().rcode, 1);
    }
}
