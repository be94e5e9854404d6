//! Writing captures: a classic pcap writer and builders for Ethernet/IPv4/IPv6
//! TCP and UDP frames. Used by the capture of the sandbox's fake internet, by
//! the benchmark's generator and by tests.

use std::io::{self, Write};
use std::net::IpAddr;

/// Writes a classic pcap (little-endian, microsecond or nanosecond timestamps).
#[derive(Debug)]
pub struct PcapWriter<W: Write> {
    out: W,
    nanos: bool,
    snaplen: u32,
}

impl<W: Write> PcapWriter<W> {
    /// Writes the file header for `linktype` (1 = Ethernet, 101 = raw IP, ...).
    pub fn new(mut out: W, linktype: u32, nanos: bool) -> io::Result<Self> {
        let magic: u32 = if nanos { 0xa1b2_3c4d } else { 0xa1b2_c3d4 };
        let snaplen = 262_144u32;
        let mut h = [0u8; 24];
        h[0..4].copy_from_slice(&magic.to_le_bytes());
        h[4..6].copy_from_slice(&2u16.to_le_bytes());
        h[6..8].copy_from_slice(&4u16.to_le_bytes());
        h[16..20].copy_from_slice(&snaplen.to_le_bytes());
        h[20..24].copy_from_slice(&linktype.to_le_bytes());
        out.write_all(&h)?;
        Ok(PcapWriter {
            out,
            nanos,
            snaplen,
        })
    }

    /// Appends one packet captured at `ts_ns` (nanoseconds since the epoch),
    /// cut to the snap length.
    pub fn packet(&mut self, ts_ns: u64, data: &[u8]) -> io::Result<()> {
        let cap = data.len().min(self.snaplen as usize);
        let sec = (ts_ns / 1_000_000_000) as u32;
        let frac = if self.nanos {
            (ts_ns % 1_000_000_000) as u32
        } else {
            ((ts_ns % 1_000_000_000) / 1000) as u32
        };
        let mut h = [0u8; 16];
        h[0..4].copy_from_slice(&sec.to_le_bytes());
        h[4..8].copy_from_slice(&frac.to_le_bytes());
        h[8..12].copy_from_slice(&(cap as u32).to_le_bytes());
        h[12..16].copy_from_slice(&(data.len() as u32).to_le_bytes());
        self.out.write_all(&h)?;
        self.out.write_all(&data[..cap])
    }

    /// Flushes and returns the underlying writer.
    pub fn into_inner(mut self) -> io::Result<W> {
        self.out.flush()?;
        Ok(self.out)
    }
}

/// Transport header of a frame built by [`build_frame`].
#[derive(Debug, Clone, Copy)]
pub enum Transport {
    /// TCP with sequence number, acknowledgement number and flags.
    Tcp {
        /// Sequence number.
        seq: u32,
        /// Acknowledgement number.
        ack: u32,
        /// Flags byte (FIN 0x01, SYN 0x02, RST 0x04, PSH 0x08, ACK 0x10).
        flags: u8,
    },
    /// UDP.
    Udp,
}

fn checksum(data: &[u8]) -> u16 {
    let mut sum: u32 = 0;
    for c in data.chunks(2) {
        sum += u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]));
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// Appends an Ethernet frame carrying IPv4 or IPv6 (by the address family; both
/// must match) with a TCP or UDP header and `payload` to `out`. IPv4 header
/// checksums are computed; transport checksums are left 0 (offloaded).
/// Returns `false` (writing nothing) when the families differ or the payload is
/// too large for one packet.
pub fn build_frame(
    out: &mut Vec<u8>,
    src: IpAddr,
    sport: u16,
    dst: IpAddr,
    dport: u16,
    transport: Transport,
    payload: &[u8],
) -> bool {
    let l4_len = match transport {
        Transport::Tcp { .. } => 20,
        Transport::Udp => 8,
    } + payload.len();
    if l4_len + 40 > 65_535 {
        return false;
    }
    out.extend_from_slice(&[0x02, 0, 0, 0, 0, 2, 0x02, 0, 0, 0, 0, 1]);
    let proto = match transport {
        Transport::Tcp { .. } => 6u8,
        Transport::Udp => 17u8,
    };
    match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            out.extend_from_slice(&[0x08, 0x00]);
            let start = out.len();
            let total = (20 + l4_len) as u16;
            out.extend_from_slice(&[0x45, 0]);
            out.extend_from_slice(&total.to_be_bytes());
            out.extend_from_slice(&[0, 0, 0x40, 0, 64, proto, 0, 0]);
            out.extend_from_slice(&s.octets());
            out.extend_from_slice(&d.octets());
            let c = checksum(&out[start..start + 20]);
            out[start + 10..start + 12].copy_from_slice(&c.to_be_bytes());
        }
        (IpAddr::V6(s), IpAddr::V6(d)) => {
            out.extend_from_slice(&[0x86, 0xdd, 0x60, 0, 0, 0]);
            out.extend_from_slice(&(l4_len as u16).to_be_bytes());
            out.extend_from_slice(&[proto, 64]);
            out.extend_from_slice(&s.octets());
            out.extend_from_slice(&d.octets());
        }
        _ => {
            out.truncate(out.len() - 12);
            return false;
        }
    }
    out.extend_from_slice(&sport.to_be_bytes());
    out.extend_from_slice(&dport.to_be_bytes());
    match transport {
        Transport::Tcp { seq, ack, flags } => {
            out.extend_from_slice(&seq.to_be_bytes());
            out.extend_from_slice(&ack.to_be_bytes());
            out.extend_from_slice(&[0x50, flags, 0xff, 0xff, 0, 0, 0, 0]);
        }
        Transport::Udp => {
            out.extend_from_slice(&(l4_len as u16).to_be_bytes());
            out.extend_from_slice(&[0, 0]);
        }
    }
    out.extend_from_slice(payload);
    true
}
