//! Bounded IP fragment reassembly (IPv4 and IPv6).
//!
//! Datagrams are gathered by (source, destination, protocol, id) up to 64 KiB
//! each; at most [`MAX_PENDING`] are in progress and incomplete ones expire
//! after [`TIMEOUT_NS`]. Overlapping fragments keep the bytes that came last.

use std::collections::HashMap;
use std::net::IpAddr;

use foldhash::fast::FixedState;

/// Datagrams being reassembled at once (at most 16 MiB of buffers).
pub(crate) const MAX_PENDING: usize = 256;
/// Largest datagram (the IP length fields allow no more).
const MAX_DATAGRAM: usize = 65_535;
/// Incomplete datagrams are dropped after this long.
const TIMEOUT_NS: u64 = 30_000_000_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct Key {
    src: IpAddr,
    dst: IpAddr,
    proto: u8,
    id: u32,
}

#[derive(Debug)]
struct Pending {
    first_ns: u64,
    buf: Vec<u8>,
    got: Vec<(u32, u32)>,
    total: Option<u32>,
    frames: u64,
    ip_bytes: u64,
}

/// A reassembled datagram: its payload, how many fragments and IP bytes it took.
#[derive(Debug)]
pub(crate) struct Datagram {
    pub payload: Vec<u8>,
    pub frames: u64,
    pub ip_bytes: u64,
}

/// The reassembler.
#[derive(Debug, Default)]
pub(crate) struct Frags {
    pending: HashMap<Key, Pending, FixedState>,
    /// Fragments dropped: too many datagrams in progress, or beyond 64 KiB.
    pub dropped: u64,
}

impl Frags {
    /// Adds one fragment; returns the datagram when it is complete.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn add(
        &mut self,
        ts: u64,
        src: IpAddr,
        dst: IpAddr,
        proto: u8,
        frag: &crate::decode::FragInfo<'_>,
        ip_len: u32,
    ) -> Option<Datagram> {
        let key = Key {
            src,
            dst,
            proto,
            id: frag.id,
        };
        let end = frag.offset as usize + frag.data.len();
        if end > MAX_DATAGRAM {
            self.dropped += 1;
            return None;
        }
        if !self.pending.contains_key(&key) && self.pending.len() >= MAX_PENDING {
            self.pending
                .retain(|_, p| ts.saturating_sub(p.first_ns) < TIMEOUT_NS);
            if self.pending.len() >= MAX_PENDING {
                self.dropped += 1;
                return None;
            }
        }
        let p = self.pending.entry(key).or_insert_with(|| Pending {
            first_ns: ts,
            buf: Vec::new(),
            got: Vec::new(),
            total: None,
            frames: 0,
            ip_bytes: 0,
        });
        if p.got.len() >= 256 {
            // A datagram in more than 256 pieces is an attack, not traffic.
            self.pending.remove(&key);
            self.dropped += 1;
            return None;
        }
        if p.buf.len() < end {
            p.buf.resize(end, 0);
        }
        p.buf[frag.offset as usize..end].copy_from_slice(frag.data);
        p.got.push((frag.offset, end as u32));
        p.frames += 1;
        p.ip_bytes += u64::from(ip_len);
        if !frag.more {
            p.total = Some(end as u32);
        }
        let total = p.total?;
        p.got.sort_unstable();
        let mut covered = 0u32;
        for &(a, b) in &p.got {
            if a > covered {
                return None;
            }
            covered = covered.max(b);
        }
        if covered < total {
            return None;
        }
        let mut done = self.pending.remove(&key)?;
        done.buf.truncate(total as usize);
        Some(Datagram {
            payload: done.buf,
            frames: done.frames,
            ip_bytes: done.ip_bytes,
        })
    }
}
