//! [`hash`](super::hash) over a whole buffer in two passes, about twice as fast as
//! the streaming [`Hasher`](super::Hasher) and byte-identical to it.
//!
//! The streaming hasher must carry a piece hash for every block size through
//! every byte, because the block size is chosen only at the end; those hashes
//! form one long dependency chain (multiply, xor) per byte. With the whole
//! input at hand the work splits instead:
//!
//! 1. the rolling hash alone finds where each block size cuts (keeping the
//!    positions that can reach a signature: the first 63 cuts and the latest);
//! 2. once the block size is chosen, the FNV hash of each of its pieces (and
//!    of the pieces of the double block size) is computed, several pieces at a
//!    time, as independent chains the CPU overlaps.

use super::{
    FNV_INIT, FNV_PRIME, HALF_LENGTH, LAST_CUTTING_LEVEL, LEVELS, MIN_BLOCK_SIZE, Roll,
    SPAMSUM_LENGTH, b64, guess_level, push_signature,
};

/// Cut positions of one block-size level: those that end a signature
/// character (the first 63) and the latest one.
#[derive(Clone, Copy)]
struct Cuts {
    count: u64,
    /// Index of the byte each of the first cuts happened at (inclusive end
    /// of its piece).
    first: [usize; SPAMSUM_LENGTH - 1],
    latest: usize,
}

impl Cuts {
    const EMPTY: Cuts = Cuts {
        count: 0,
        first: [0; SPAMSUM_LENGTH - 1],
        latest: 0,
    };

    #[inline(always)]
    fn record(&mut self, at: usize) {
        if let Some(slot) = usize::try_from(self.count)
            .ok()
            .and_then(|i| self.first.get_mut(i))
        {
            *slot = at;
        }
        self.count += 1;
        self.latest = at;
    }

    /// Characters this level's 64-character signature holds.
    fn len(&self) -> usize {
        self.count.min(SPAMSUM_LENGTH as u64 - 1) as usize
    }

    /// Start of the piece after the `k`th cut (`k` = 0: the input start).
    fn after(&self, k: usize) -> usize {
        match k.checked_sub(1).and_then(|i| self.first.get(i)) {
            Some(&at) => at + 1,
            None => 0,
        }
    }
}

/// The ssdeep hash of `data`, as [`Hasher::with_input_len`](super::Hasher)
/// fed all of `data` would give it.
pub(super) fn hash(data: &[u8]) -> String {
    let n = data.len();
    // As the streaming hasher: no level at or above `cap` can be chosen.
    let cap = guess_level(n as u64) + 2;
    let mut cuts = vec![Cuts::EMPTY; LEVELS];

    // Pass 1: cut positions, with the streaming hasher's rule for dropping
    // block sizes that can no longer be chosen.
    let mut roll = Roll::default();
    let mut start = 0usize;
    let mut start_mask = 0u32;
    for (at, &byte) in data.iter().enumerate() {
        // `sum + 1` in 32 bits, where divisibility by 3 is a multiply and a
        // compare; it wraps to 0 only for 2^32, which 3 does not divide.
        let next = roll.push(byte).wrapping_add(1);
        if next & start_mask == 0 && next % 3 == 0 && next != 0 {
            let top = (next.trailing_zeros() as usize)
                .min(LAST_CUTTING_LEVEL)
                .min(cap - 1);
            for level in cuts.iter_mut().take(top + 1).skip(start) {
                level.record(at);
            }
            let fed = at as u64 + 1;
            while start + 1 < cap
                && cuts.get(start + 1).is_some_and(|c| c.len() >= HALF_LENGTH)
                && (MIN_BLOCK_SIZE << start) * (SPAMSUM_LENGTH as u64) < fed
            {
                start += 1;
            }
            // start + 1 < cap <= LAST_CUTTING_LEVEL + 2, so start <= 30.
            start_mask = (1u32 << start) - 1;
        }
    }

    let mut chosen = guess_level(n as u64);
    while chosen > start && cuts[chosen].len() < HALF_LENGTH {
        chosen -= 1;
    }
    // chosen <= LAST_CUTTING_LEVEL, so the level above exists.
    let (first, second) = (&cuts[chosen], &cuts[chosen + 1]);
    let ends_on_cut = roll.sum() == 0;

    // Pass 2: the pieces that make up the two signatures, then the final
    // characters (the piece hash running at the end of the input, or, when
    // the input ends where the rolling hash is zero, the one of the latest cut
    // past a full signature), as spamsum defines them.
    let (len1, len2) = (first.len(), second.len().min(HALF_LENGTH - 1));
    let mut ranges: Vec<(usize, usize)> = Vec::with_capacity(len1 + len2 + 2);
    ranges.extend((0..len1).map(|k| (first.after(k), first.first[k] + 1)));
    ranges.extend((0..len2).map(|k| (second.after(k), second.first[k] + 1)));
    let tail1 = if !ends_on_cut {
        Some((first.after(len1), n))
    } else if first.count > first.len() as u64 {
        Some((first.after(len1), first.latest + 1))
    } else {
        None
    };
    // The 32-character form stops restarting its piece hash after 31 cuts.
    let tail2 = if !ends_on_cut {
        Some((second.after(len2), n))
    } else if second.count >= HALF_LENGTH as u64 {
        Some((second.after(len2), second.latest + 1))
    } else {
        None
    };
    ranges.extend(tail1);
    ranges.extend(tail2);
    let chars = piece_chars(data, &ranges);

    let mut out = String::with_capacity(16 + SPAMSUM_LENGTH + HALF_LENGTH);
    out.push_str(&(MIN_BLOCK_SIZE << chosen).to_string());
    out.push(':');
    push_signature(&mut out, &chars[..len1]);
    let mut rest = &chars[len1 + len2..];
    if tail1.is_some() {
        push_signature(&mut out, &rest[..1]);
        rest = &rest[1..];
    }
    out.push(':');
    push_signature(&mut out, &chars[len1..len1 + len2]);
    if tail2.is_some() {
        push_signature(&mut out, &rest[..1]);
    }
    out
}

/// Independent piece hashes run in this many interleaved chains.
const LANES: usize = 4;

/// The signature character (FNV hash, base64) of each `data[start..end]` in
/// `ranges`, in order. Ranges are taken longest first, [`LANES`] at a time,
/// so that the chains end close together.
fn piece_chars(data: &[u8], ranges: &[(usize, usize)]) -> Vec<u8> {
    let mut out = vec![b64(FNV_INIT); ranges.len()];
    let len = |i: usize| ranges.get(i).map_or(0, |&(s, e)| e.saturating_sub(s));
    let mut order: Vec<usize> = (0..ranges.len()).filter(|&i| len(i) > 0).collect();
    order.sort_unstable_by_key(|&i| std::cmp::Reverse(len(i)));
    let mut queue = order.into_iter();

    // Each lane: the bytes still to hash, the running hash, the output slot.
    let mut lanes: [(&[u8], u32, Option<usize>); LANES] = [(&[], 0, None); LANES];
    loop {
        for lane in &mut lanes {
            if lane.2.is_none()
                && let Some(i) = queue.next()
            {
                let (s, e) = ranges[i];
                *lane = (
                    data.get(s..e).unwrap_or_default(),
                    u32::from(FNV_INIT),
                    Some(i),
                );
            }
        }
        let Some(step) = lanes
            .iter()
            .filter(|l| l.2.is_some())
            .map(|l| l.0.len())
            .min()
        else {
            break;
        };
        // Idle lanes shadow a busy one so that the loop below stays uniform.
        let busy = lanes
            .iter()
            .find(|l| l.2.is_some())
            .map_or(&[][..], |l| l.0);
        let bytes: [&[u8]; LANES] = std::array::from_fn(|k| {
            let src = if lanes[k].2.is_some() {
                lanes[k].0
            } else {
                busy
            };
            &src[..step]
        });
        let mut h: [u32; LANES] = std::array::from_fn(|k| lanes[k].1);
        let prime = u32::from(FNV_PRIME);
        for (((&a, &b), &c), &d) in bytes[0].iter().zip(bytes[1]).zip(bytes[2]).zip(bytes[3]) {
            h[0] = h[0].wrapping_mul(prime) ^ u32::from(a);
            h[1] = h[1].wrapping_mul(prime) ^ u32::from(b);
            h[2] = h[2].wrapping_mul(prime) ^ u32::from(c);
            h[3] = h[3].wrapping_mul(prime) ^ u32::from(d);
        }
        for (lane, h) in lanes.iter_mut().zip(h) {
            if let Some(i) = lane.2 {
                lane.0 = &lane.0[step..];
                lane.1 = h;
                if lane.0.is_empty() {
                    // Only the low 6 bits are used: the 16-bit FNV state of the
                    // streaming hasher and this 32-bit one agree on them.
                    if let Some(slot) = out.get_mut(i) {
                        *slot = b64((h & 0xffff) as u16);
                    }
                    lane.2 = None;
                }
            }
        }
    }
    out
}
