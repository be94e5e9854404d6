//! Streaming reader for classic pcap (both byte orders, micro- and nanosecond
//! timestamps) and pcapng (multiple sections and interfaces, EPB/SPB/OPB).
//!
//! Packets are handed out as slices into one large read buffer, so reading costs
//! one `read` per few megabytes and no allocation per packet.

use std::fmt;
use std::io::{self, Read};

/// Size of the read buffer; also the largest block that never needs a bigger one.
const BUF_SIZE: usize = 4 << 20;
/// Largest captured length or pcapng block accepted; anything bigger is corruption
/// (Wireshark's own limit for a packet is 256 KiB; pcapng blocks carry options).
const MAX_BLOCK: usize = 16 << 20;
/// Largest captured length of one packet in a classic pcap.
const MAX_CAPLEN: usize = 256 * 1024;

/// Container format of the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Classic libpcap file.
    Pcap {
        /// Timestamps are in nanoseconds (magic `a1b23c4d`) rather than microseconds.
        nanos: bool,
        /// The file was written with the other byte order than this machine's reading.
        big_endian: bool,
    },
    /// pcapng file.
    PcapNg,
}

impl Format {
    /// Short name for reports: `pcap` or `pcapng`.
    pub fn name(self) -> &'static str {
        match self {
            Format::Pcap { .. } => "pcap",
            Format::PcapNg => "pcapng",
        }
    }
}

/// Why reading stopped before the end of the input.
#[derive(Debug)]
pub enum ReadError {
    /// The input is not a pcap or pcapng file at all.
    NotPcap {
        /// The first bytes seen, for the message.
        magic: [u8; 4],
        /// How many bytes the input had (fewer than 4 means it was too short).
        len: usize,
    },
    /// The input ended inside a header or packet.
    Truncated {
        /// Byte offset of the record that is incomplete.
        offset: u64,
        /// Number (1-based) of the packet that would have been read.
        packet: u64,
        /// What was being read.
        what: &'static str,
    },
    /// A header holds values that cannot be right.
    Corrupt {
        /// Byte offset of the bad record.
        offset: u64,
        /// Number (1-based) of the packet that would have been read.
        packet: u64,
        /// What is wrong.
        reason: String,
    },
    /// Reading from the file failed.
    Io {
        /// Byte offset where the read failed.
        offset: u64,
        /// The underlying error.
        source: io::Error,
    },
}

impl fmt::Display for ReadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReadError::NotPcap { magic, len } if *len < 4 => write!(
                f,
                "not a pcap or pcapng file: only {len} bytes (a capture file starts with a 4-byte magic number)"
            ),
            ReadError::NotPcap { magic, .. } => write!(
                f,
                "not a pcap or pcapng file: magic number {:02x}{:02x}{:02x}{:02x} is neither a pcap magic (a1b2c3d4, a1b23c4d, either byte order) nor a pcapng section header (0a0d0d0a)",
                magic[0], magic[1], magic[2], magic[3]
            ),
            ReadError::Truncated {
                offset,
                packet,
                what,
            } => write!(
                f,
                "capture truncated at byte offset {offset}: the file ends inside the {what} of packet {packet}"
            ),
            ReadError::Corrupt {
                offset,
                packet,
                reason,
            } => write!(
                f,
                "capture corrupt at byte offset {offset} (packet {packet}): {reason}"
            ),
            ReadError::Io { offset, source } => {
                write!(f, "read error at byte offset {offset}: {source}")
            }
        }
    }
}

impl std::error::Error for ReadError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ReadError::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

impl ReadError {
    /// Byte offset at which reading stopped (0 for [`ReadError::NotPcap`]).
    pub fn offset(&self) -> u64 {
        match self {
            ReadError::NotPcap { .. } => 0,
            ReadError::Truncated { offset, .. }
            | ReadError::Corrupt { offset, .. }
            | ReadError::Io { offset, .. } => *offset,
        }
    }

    /// Number of the packet that could not be read, if reading had started.
    pub fn packet(&self) -> Option<u64> {
        match self {
            ReadError::Truncated { packet, .. } | ReadError::Corrupt { packet, .. } => {
                Some(*packet)
            }
            _ => None,
        }
    }
}

/// One captured packet, borrowed from the reader's buffer.
#[derive(Debug, Clone, Copy)]
pub struct RawPacket<'a> {
    /// 1-based number of the packet in the file.
    pub number: u64,
    /// Capture time in nanoseconds since the Unix epoch.
    pub ts_ns: u64,
    /// Link-layer type (LINKTYPE_* value) of the interface it was captured on.
    pub linktype: u32,
    /// Captured bytes.
    pub data: &'a [u8],
    /// Length of the packet on the wire (may exceed `data.len()` with a snap length).
    pub orig_len: u32,
}

#[derive(Debug, Clone, Copy)]
struct Interface {
    linktype: u32,
    /// Timestamp resolution: ticks per second is 10^n (decimal) or 2^n (binary).
    tsresol: u8,
    tsoffset: i64,
}

impl Interface {
    fn ticks_to_ns(&self, ticks: u64) -> u64 {
        let exp = u32::from(self.tsresol & 0x7f);
        let ns = if self.tsresol & 0x80 == 0 {
            if exp <= 9 {
                ticks.saturating_mul(10u64.pow(9 - exp))
            } else {
                // 10^exp overflows u64 past 19; such resolutions are nonsense but must not panic.
                10u64.checked_pow(exp - 9).map_or(0, |d| ticks / d)
            }
        } else if exp >= 64 {
            0
        } else {
            let v = (u128::from(ticks) * 1_000_000_000) >> exp;
            u64::try_from(v).unwrap_or(u64::MAX)
        };
        ns.saturating_add_signed(self.tsoffset.saturating_mul(1_000_000_000))
    }
}

/// Where the reader's bytes live: its own buffer refilled from a [`Read`], or a
/// slice holding the whole capture (a memory-mapped file), read in place.
#[derive(Debug)]
enum Storage<'a> {
    Owned(Vec<u8>),
    Borrowed(&'a [u8]),
}

impl Storage<'_> {
    fn get(&self) -> &[u8] {
        match self {
            Storage::Owned(v) => v,
            Storage::Borrowed(s) => s,
        }
    }
}

/// Streaming pcap/pcapng reader over any [`Read`] ([`PcapReader::new`]) or over
/// bytes in memory without copying them ([`PcapReader::from_slice`]).
#[derive(Debug)]
pub struct PcapReader<'a, R> {
    inner: R,
    buf: Storage<'a>,
    start: usize,
    end: usize,
    /// File offset of `buf[start]`.
    offset: u64,
    eof: bool,
    format: Format,
    /// Classic pcap: link type from the file header.
    linktype: u32,
    /// pcapng: byte order of the current section.
    ng_big_endian: bool,
    interfaces: Vec<Interface>,
    packets: u64,
    done: bool,
}

fn u16_at(b: &[u8], at: usize, be: bool) -> u16 {
    let v = [
        b.get(at).copied().unwrap_or(0),
        b.get(at + 1).copied().unwrap_or(0),
    ];
    if be {
        u16::from_be_bytes(v)
    } else {
        u16::from_le_bytes(v)
    }
}

fn u32_at(b: &[u8], at: usize, be: bool) -> u32 {
    let mut v = [0u8; 4];
    if let Some(s) = b.get(at..at + 4) {
        v.copy_from_slice(s);
    }
    if be {
        u32::from_be_bytes(v)
    } else {
        u32::from_le_bytes(v)
    }
}

impl<R: Read> PcapReader<'static, R> {
    /// Reads the file header and detects the format. Fails with
    /// [`ReadError::NotPcap`] when the input is not a capture file.
    pub fn new(inner: R) -> Result<Self, ReadError> {
        PcapReader::init(inner, Storage::Owned(vec![0; BUF_SIZE]), 0)
    }
}

impl<'a> PcapReader<'a, io::Empty> {
    /// A reader over a whole capture in memory; packets borrow from `data`.
    pub fn from_slice(data: &'a [u8]) -> Result<Self, ReadError> {
        PcapReader::init(io::empty(), Storage::Borrowed(data), data.len())
    }
}

impl<'a, R: Read> PcapReader<'a, R> {
    fn init(inner: R, buf: Storage<'a>, end: usize) -> Result<Self, ReadError> {
        let mut r = PcapReader {
            inner,
            buf,
            start: 0,
            end,
            offset: 0,
            eof: false,
            format: Format::PcapNg,
            linktype: 0,
            ng_big_endian: false,
            interfaces: Vec::new(),
            packets: 0,
            done: false,
        };
        r.fill(4)?;
        let avail = r.end - r.start;
        let mut magic = [0u8; 4];
        if let Some(m) = r.buf.get().get(r.start..r.start + 4) {
            magic.copy_from_slice(m);
        }
        if avail < 4 {
            return Err(ReadError::NotPcap { magic, len: avail });
        }
        match magic {
            [0xd4, 0xc3, 0xb2, 0xa1] => {
                r.format = Format::Pcap {
                    nanos: false,
                    big_endian: false,
                }
            }
            [0xa1, 0xb2, 0xc3, 0xd4] => {
                r.format = Format::Pcap {
                    nanos: false,
                    big_endian: true,
                }
            }
            [0x4d, 0x3c, 0xb2, 0xa1] => {
                r.format = Format::Pcap {
                    nanos: true,
                    big_endian: false,
                }
            }
            [0xa1, 0xb2, 0x3c, 0x4d] => {
                r.format = Format::Pcap {
                    nanos: true,
                    big_endian: true,
                }
            }
            [0x0a, 0x0d, 0x0d, 0x0a] => {
                r.format = Format::PcapNg;
                return Ok(r);
            }
            _ => return Err(ReadError::NotPcap { magic, len: avail }),
        }
        if let Format::Pcap { big_endian, .. } = r.format {
            if r.fill(24)? < 24 {
                return Err(ReadError::Truncated {
                    offset: 0,
                    packet: 1,
                    what: "pcap file header",
                });
            }
            let h = &r.buf.get()[r.start..r.start + 24];
            let major = u16_at(h, 4, big_endian);
            if major != 2 {
                return Err(ReadError::Corrupt {
                    offset: 4,
                    packet: 1,
                    reason: format!("pcap major version {major} (only version 2 exists)"),
                });
            }
            // The upper bits of the link-type field carry FCS information (pcap-linktype(7)).
            r.linktype = u32_at(h, 20, big_endian) & 0x0fff_ffff;
            r.consume(24);
        }
        Ok(r)
    }

    /// The detected container format.
    pub fn format(&self) -> Format {
        self.format
    }

    /// Bytes consumed so far.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// Packets returned so far.
    pub fn packets(&self) -> u64 {
        self.packets
    }

    fn consume(&mut self, n: usize) {
        self.start += n;
        self.offset += n as u64;
    }

    /// Makes at least `need` bytes available from `start` if the input has them;
    /// returns how many are available.
    fn fill(&mut self, need: usize) -> Result<usize, ReadError> {
        if self.end - self.start >= need {
            return Ok(self.end - self.start);
        }
        // A slice holds the whole input: nothing more can come.
        let Storage::Owned(buf) = &mut self.buf else {
            return Ok(self.end - self.start);
        };
        if need > buf.len() {
            // One block larger than the buffer (bounded by MAX_BLOCK by the callers).
            let mut bigger = vec![0u8; need.next_power_of_two()];
            bigger[..self.end - self.start].copy_from_slice(&buf[self.start..self.end]);
            *buf = bigger;
            self.end -= self.start;
            self.start = 0;
        } else if self.start + need > buf.len() {
            buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        while self.end - self.start < need && !self.eof {
            match self.inner.read(&mut buf[self.end..]) {
                Ok(0) => self.eof = true,
                Ok(n) => self.end += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(source) => {
                    return Err(ReadError::Io {
                        offset: self.offset + (self.end - self.start) as u64,
                        source,
                    });
                }
            }
        }
        Ok(self.end - self.start)
    }

    /// Returns the next packet, `Ok(None)` at a clean end of file, or the error
    /// that stopped reading (after which every call returns `Ok(None)`).
    pub fn next_packet(&mut self) -> Result<Option<RawPacket<'_>>, ReadError> {
        if self.done {
            return Ok(None);
        }
        let res = match self.format {
            Format::Pcap { nanos, big_endian } => self.next_classic(nanos, big_endian),
            Format::PcapNg => self.next_ng(),
        };
        match res {
            Ok(Some((start, len, ts_ns, linktype, orig_len))) => {
                self.packets += 1;
                Ok(Some(RawPacket {
                    number: self.packets,
                    ts_ns,
                    linktype,
                    data: &self.buf.get()[start..start + len],
                    orig_len,
                }))
            }
            Ok(None) => {
                self.done = true;
                Ok(None)
            }
            Err(e) => {
                self.done = true;
                Err(e)
            }
        }
    }

    fn truncated(&self, what: &'static str) -> ReadError {
        ReadError::Truncated {
            offset: self.offset,
            packet: self.packets + 1,
            what,
        }
    }

    fn corrupt(&self, reason: String) -> ReadError {
        ReadError::Corrupt {
            offset: self.offset,
            packet: self.packets + 1,
            reason,
        }
    }

    /// Returns (buffer start, captured length, ts, linktype, orig_len).
    #[allow(clippy::type_complexity)]
    fn next_classic(
        &mut self,
        nanos: bool,
        be: bool,
    ) -> Result<Option<(usize, usize, u64, u32, u32)>, ReadError> {
        let avail = self.fill(16)?;
        if avail == 0 {
            return Ok(None);
        }
        if avail < 16 {
            return Err(self.truncated("record header"));
        }
        let h = &self.buf.get()[self.start..self.start + 16];
        let sec = u64::from(u32_at(h, 0, be));
        let frac = u64::from(u32_at(h, 4, be));
        let caplen = u32_at(h, 8, be) as usize;
        let orig_len = u32_at(h, 12, be);
        if caplen > MAX_CAPLEN {
            return Err(self.corrupt(format!(
                "captured length {caplen} exceeds the {MAX_CAPLEN}-byte maximum"
            )));
        }
        if (frac >= 1_000_000_000 && nanos) || (frac >= 1_000_000 && !nanos) {
            return Err(self.corrupt(format!(
                "timestamp fraction {frac} out of range for {} resolution",
                if nanos { "nanosecond" } else { "microsecond" }
            )));
        }
        if self.fill(16 + caplen)? < 16 + caplen {
            return Err(self.truncated("packet data"));
        }
        let ts = sec * 1_000_000_000 + if nanos { frac } else { frac * 1000 };
        let at = self.start + 16;
        self.consume(16 + caplen);
        Ok(Some((at, caplen, ts, self.linktype, orig_len)))
    }

    #[allow(clippy::type_complexity)]
    fn next_ng(&mut self) -> Result<Option<(usize, usize, u64, u32, u32)>, ReadError> {
        loop {
            let avail = self.fill(12)?;
            if avail == 0 {
                return Ok(None);
            }
            if avail < 12 {
                return Err(self.truncated("pcapng block header"));
            }
            let head = &self.buf.get()[self.start..self.start + 12];
            let raw_type = [head[0], head[1], head[2], head[3]];
            if raw_type == [0x0a, 0x0d, 0x0d, 0x0a] {
                // A section header: its byte-order magic decides how to read everything in it.
                self.ng_big_endian = match [head[8], head[9], head[10], head[11]] {
                    [0x1a, 0x2b, 0x3c, 0x4d] => true,
                    [0x4d, 0x3c, 0x2b, 0x1a] => false,
                    m => {
                        return Err(self.corrupt(format!(
                            "pcapng section header byte-order magic {:02x}{:02x}{:02x}{:02x} is invalid",
                            m[0], m[1], m[2], m[3]
                        )));
                    }
                };
                self.interfaces.clear();
            }
            let be = self.ng_big_endian;
            let head = &self.buf.get()[self.start..self.start + 12];
            let btype = u32_at(head, 0, be);
            let blen = u32_at(head, 4, be) as usize;
            if blen < 12 || !blen.is_multiple_of(4) || blen > MAX_BLOCK {
                return Err(self.corrupt(format!(
                    "pcapng block of type {btype:#x} has invalid length {blen}"
                )));
            }
            if self.fill(blen)? < blen {
                return Err(self.truncated("pcapng block"));
            }
            let block_start = self.start;
            let b = &self.buf.get()[block_start..block_start + blen];
            if u32_at(b, blen - 4, be) as usize != blen {
                return Err(self.corrupt(format!(
                    "pcapng block of type {btype:#x}: trailing length {} differs from leading length {blen}",
                    u32_at(b, blen - 4, be)
                )));
            }
            let body = &b[8..blen - 4];
            match btype {
                0x0a0d_0d0a => {}
                1 => {
                    // Interface description block.
                    if body.len() < 8 {
                        return Err(
                            self.corrupt("pcapng interface description block too short".into())
                        );
                    }
                    let linktype = u32::from(u16_at(body, 0, be));
                    let mut iface = Interface {
                        linktype,
                        tsresol: 6,
                        tsoffset: 0,
                    };
                    let mut opts = &body[8..];
                    while opts.len() >= 4 {
                        let code = u16_at(opts, 0, be);
                        let olen = usize::from(u16_at(opts, 2, be));
                        let padded = (olen + 3) & !3;
                        let Some(val) = opts.get(4..4 + olen) else {
                            break;
                        };
                        match (code, olen) {
                            (0, _) => break,
                            (9, 1) => iface.tsresol = val[0],
                            (14, 8) => {
                                let mut v = [0u8; 8];
                                v.copy_from_slice(val);
                                iface.tsoffset = if be {
                                    i64::from_be_bytes(v)
                                } else {
                                    i64::from_le_bytes(v)
                                };
                            }
                            _ => {}
                        }
                        opts = opts.get(4 + padded..).unwrap_or(&[]);
                    }
                    if self.interfaces.len() >= 65536 {
                        return Err(self.corrupt("more than 65536 pcapng interfaces".into()));
                    }
                    self.interfaces.push(iface);
                }
                6 | 2 => {
                    // Enhanced packet block, or the obsolete packet block (16-bit interface id).
                    if body.len() < 20 {
                        return Err(self.corrupt("pcapng packet block too short".into()));
                    }
                    let iface_id = if btype == 6 {
                        u32_at(body, 0, be) as usize
                    } else {
                        usize::from(u16_at(body, 0, be))
                    };
                    let ticks =
                        (u64::from(u32_at(body, 4, be)) << 32) | u64::from(u32_at(body, 8, be));
                    let caplen = u32_at(body, 12, be) as usize;
                    let orig_len = u32_at(body, 16, be);
                    if caplen > body.len() - 20 {
                        return Err(self.corrupt(format!(
                            "pcapng packet block: captured length {caplen} exceeds the block's {} data bytes",
                            body.len() - 20
                        )));
                    }
                    let Some(iface) = self.interfaces.get(iface_id).copied() else {
                        return Err(self.corrupt(format!(
                            "pcapng packet block names interface {iface_id}, but only {} are described",
                            self.interfaces.len()
                        )));
                    };
                    let at = block_start + 8 + 20;
                    self.consume(blen);
                    return Ok(Some((
                        at,
                        caplen,
                        iface.ticks_to_ns(ticks),
                        iface.linktype,
                        orig_len,
                    )));
                }
                3 => {
                    // Simple packet block: interface 0, no timestamp, captured = min(orig, room).
                    if body.len() < 4 {
                        return Err(self.corrupt("pcapng simple packet block too short".into()));
                    }
                    let orig_len = u32_at(body, 0, be);
                    let caplen = (orig_len as usize).min(body.len() - 4);
                    let Some(iface) = self.interfaces.first().copied() else {
                        return Err(self.corrupt(
                            "pcapng simple packet block before any interface description".into(),
                        ));
                    };
                    let at = block_start + 8 + 4;
                    self.consume(blen);
                    return Ok(Some((at, caplen, 0, iface.linktype, orig_len)));
                }
                _ => {}
            }
            self.consume(blen);
        }
    }
}
