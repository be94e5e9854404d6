//! The TLSH window loop with AVX-512 (F, BW, VBMI, VBMI2), 64 windows at a
//! time; it counts exactly what [`super::feed_windows`] counts.
//!
//! * The Pearson hashes of 64 windows are table lookups in vector registers:
//!   `vpermi2b` looks up 64 indexes in 128 bytes of the table, so each
//!   lookup is two of them (one per table half) and a blend on the index's
//!   top bit. A window needs 20 lookups: three for each of the six bucket
//!   triplets and two for the input of its checksum step.
//! * Only buckets below 128 reach the digest, so the others are dropped
//!   (`vpcompressb`) before the scalar histogram increments, which then
//!   number about three per byte instead of six.
//! * The checksum is a chain through the input (`c = PEARSON[u ^ c]`, with
//!   `u` from the window alone), one dependent load per byte, which bounds
//!   the whole loop. Its steps run one block behind the vector work and are
//!   interleaved with it and with the histogram increments, so that the
//!   out-of-order core overlaps them. The chain is kept in base 3 (see
//!   [`CHAIN`]), which turns the XOR into an addition that the load's
//!   address generation does for free: 4 cycles a step instead of 5.

use std::arch::x86_64::{
    __m512i, __mmask64, _mm512_loadu_si512, _mm512_mask_blend_epi8, _mm512_mask_compress_epi8,
    _mm512_maskz_loadu_epi8, _mm512_movepi8_mask, _mm512_permutex2var_epi8, _mm512_set1_epi8,
    _mm512_storeu_si512, _mm512_xor_si512,
};

use super::{Histograms, PEARSON, SALT_1, SALT_2, SALT_3, SALT_4, SALT_5, SALT_6, SALT_CHECKSUM};

/// Proof that the running CPU has the AVX-512 subsets this module uses:
/// it can only be made by [`Avx512::detect`].
#[derive(Clone, Copy, Debug)]
pub(super) struct Avx512(());

impl Avx512 {
    /// `Some` where the CPU supports the vector loop.
    pub(super) fn detect() -> Option<Self> {
        let supported = is_x86_feature_detected!("avx512f")
            && is_x86_feature_detected!("avx512bw")
            && is_x86_feature_detected!("avx512vbmi")
            && is_x86_feature_detected!("avx512vbmi2")
            && is_x86_feature_detected!("popcnt");
        supported.then_some(Avx512(()))
    }

    /// Counts every 5-byte window of `bytes`, as [`super::feed_windows`]
    /// does. Only the first eight histograms are used, each receiving at
    /// most one increment per window (counters past the digest's 128
    /// buckets included).
    pub(super) fn feed_windows(self, hist: &mut Histograms, checksum: &mut u8, bytes: &[u8]) {
        // SAFETY: `self` exists only if `detect` found every feature that
        // `feed_windows` enables.
        unsafe { feed_windows(hist, checksum, bytes) }
    }
}

/// `x`'s bits as base-3 digits: `f3(a) + f3(b)` has digit 1 exactly where
/// `a ^ b` has bit 1 (digits are 0, 1 or 2 and never carry).
const fn f3(x: u8) -> u16 {
    let mut sum = 0;
    let mut power = 1;
    let mut bit = 0;
    while bit < 8 {
        if x >> bit & 1 == 1 {
            sum += power;
        }
        power *= 3;
        bit += 1;
    }
    sum
}

/// Sums of two [`f3`] values: 3^8.
const CHAIN_LEN: usize = 6561;

/// The checksum step in base 3: entry `f3(u) + f3(c)` is `2 f3(PEARSON[u ^
/// c])`, the byte offset of the next state's row part. The chain is then one
/// load a step from (table + 2 f3(u)) + 2 f3(c), base register plus index
/// register, with no arithmetic between loads: a cycle shorter than the
/// XOR-and-load of the plain table.
#[repr(C, align(64))]
struct ChainTable([u16; CHAIN_LEN]);

static CHAIN: ChainTable = {
    let mut table = [0u16; CHAIN_LEN];
    let mut i = 0;
    while i < CHAIN_LEN {
        // Digit 1 marks the bits where u and c differ.
        let (mut rest, mut x, mut bit) = (i, 0u8, 0);
        while bit < 8 {
            if rest % 3 == 1 {
                x |= 1 << bit;
            }
            rest /= 3;
            bit += 1;
        }
        table[i] = 2 * f3(PEARSON[x as usize]);
        i += 1;
    }
    ChainTable(table)
};

/// `2 f3(u)`: the byte offset of the part of [`CHAIN`] for step input `u`.
static CHAIN_OFFSET: [u16; 256] = {
    let mut table = [0u16; 256];
    let mut u = 0;
    while u < 256 {
        table[u] = 2 * f3(u as u8);
        u += 1;
    }
    table
};

/// The chain state for checksum `c`: `2 f3(c)`.
fn to_state(c: u8) -> usize {
    usize::from(CHAIN_OFFSET[usize::from(c)])
}

/// The checksum of chain state `s` (the inverse of [`to_state`]).
fn from_state(s: usize) -> u8 {
    let mut rest = s / 2;
    let mut c = 0;
    for bit in 0..8 {
        c |= u8::from(rest % 3 == 1) << bit;
        rest /= 3;
    }
    c
}

/// One checksum step, `PEARSON[u ^ c]`, on chain state `s = 2 f3(c)`.
#[inline(always)]
fn checksum_step(s: usize, u: u8) -> usize {
    debug_assert!(s.is_multiple_of(2) && s <= 2 * usize::from(f3(255)));
    let row = CHAIN.0.as_ptr().cast::<u8>();
    let row = row.wrapping_add(usize::from(CHAIN_OFFSET[usize::from(u)]));
    // SAFETY: the state is always 2 f3(c) for a byte c (`to_state` makes the
    // first; every later one is a CHAIN entry, which has that form), so
    // offset + s = 2 (f3(u) + f3(c)) with f3(u) + f3(c) < CHAIN_LEN: an
    // aligned u16 inside CHAIN.
    usize::from(unsafe { row.add(s).cast::<u16>().read() })
}

/// [`checksum_step`] over several windows.
#[inline(always)]
fn checksum_steps(s: usize, steps: &[u8]) -> usize {
    steps.iter().fold(s, |s, &u| checksum_step(s, u))
}

/// The Pearson table in four registers of 64 entries.
#[derive(Clone, Copy)]
struct Table([__m512i; 4]);

impl Table {
    #[target_feature(enable = "avx512f")]
    fn load() -> Self {
        let part = |i: usize| {
            // SAFETY: PEARSON has 256 bytes, so bytes 64i..64i+64 (i < 4)
            // are readable; the load has no alignment requirement.
            unsafe { _mm512_loadu_si512(PEARSON.as_ptr().add(64 * i).cast()) }
        };
        Table([part(0), part(1), part(2), part(3)])
    }

    /// `PEARSON[i]` for each byte `i` of `idx`.
    #[inline]
    #[target_feature(enable = "avx512f,avx512bw,avx512vbmi")]
    fn lookup(self, idx: __m512i) -> __m512i {
        let [t0, t1, t2, t3] = self.0;
        // vpermi2b uses the low 7 bits of each index.
        let low = _mm512_permutex2var_epi8(t0, idx, t1);
        let high = _mm512_permutex2var_epi8(t2, idx, t3);
        _mm512_mask_blend_epi8(_mm512_movepi8_mask(idx), low, high)
    }

    /// The three-byte Pearson hash `PEARSON[PEARSON[PEARSON[s ^ a] ^ b] ^ c]`
    /// where `first` is already `PEARSON[s ^ a]`.
    #[inline]
    #[target_feature(enable = "avx512f,avx512bw,avx512vbmi")]
    fn triplet(self, first: __m512i, b: __m512i, c: __m512i) -> __m512i {
        self.lookup(_mm512_xor_si512(self.lookup(_mm512_xor_si512(first, b)), c))
    }
}

/// Bytes of the buffer of kept buckets: six compressed vectors stored at
/// most 5 * 64 bytes in, then padding up to 192 bytes past the kept ones.
const KEPT_LEN: usize = 6 * 64 + 3 * 64;
/// Kept buckets that the interleaved loop counts, 4 per checksum step.
const INTERLEAVED: usize = 192;
/// Checksum steps taken during the vector work of the next block (the
/// others go with the histogram increments).
const EARLY_STEPS: usize = 64 - INTERLEAVED / 4;

/// The vector results for one block of up to 64 windows.
#[repr(C, align(64))]
struct Block {
    /// Bucket indexes below 128, then padding.
    kept: [u8; KEPT_LEN],
    /// The input `u` of each window's checksum step.
    steps: [u8; 64],
    /// Windows in the block.
    lanes: usize,
    /// Valid bytes of `kept`.
    kept_len: usize,
}

impl Block {
    fn new() -> Self {
        Block {
            kept: [0; KEPT_LEN],
            steps: [0; 64],
            lanes: 0,
            kept_len: 0,
        }
    }
}

/// Registers every block needs.
#[derive(Clone, Copy)]
struct Consts {
    table: Table,
    salts: [__m512i; 7],
    /// Padding of the kept buckets: distinct indexes past the digest's 128
    /// buckets, so padded increments land in counters nobody reads and do
    /// not wait on each other.
    pad: __m512i,
}

impl Consts {
    #[target_feature(enable = "avx512f")]
    fn new() -> Self {
        let salt = |s: u8| _mm512_set1_epi8(s as i8);
        let mut pad_bytes = [0u8; 64];
        for (i, b) in pad_bytes.iter_mut().enumerate() {
            *b = 128 + i as u8;
        }
        Consts {
            table: Table::load(),
            salts: [
                salt(SALT_CHECKSUM),
                salt(SALT_1),
                salt(SALT_2),
                salt(SALT_3),
                salt(SALT_4),
                salt(SALT_5),
                salt(SALT_6),
            ],
            // SAFETY: `pad_bytes` has 64 readable bytes.
            pad: unsafe { _mm512_loadu_si512(pad_bytes.as_ptr().cast()) },
        }
    }
}

/// Hashes the windows `start..start + 64` (those below `windows`) of
/// `bytes`, where `windows = bytes.len() - 4 > start`, into `out`.
///
/// `between(i)` is called for i in 0..4 between parts of the work: the
/// checksum chain of the previous block goes there, so that its dependent
/// loads are spread evenly through the instruction stream.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vbmi,avx512vbmi2,popcnt")]
fn hash_block(
    k: &Consts,
    bytes: &[u8],
    start: usize,
    windows: usize,
    out: &mut Block,
    mut between: impl FnMut(usize),
) {
    let table = k.table;
    let lanes = (windows - start).min(64);
    let valid: __mmask64 = if lanes == 64 { !0 } else { (1 << lanes) - 1 };
    // w[j] holds byte j of each of the windows starting at `start`.
    let w = [0, 1, 2, 3, 4].map(|j| {
        // SAFETY: lane i reads byte start + j + i, and only for
        // i < lanes <= windows - start, i.e. below bytes.len(); masked-off
        // lanes are not read (AVX-512 masked loads suppress faults), and the
        // pointer itself stays inside `bytes` as start + j < bytes.len().
        unsafe {
            let at = bytes.as_ptr().add(start + j);
            if lanes == 64 {
                _mm512_loadu_si512(at.cast())
            } else {
                _mm512_maskz_loadu_epi8(valid, at.cast())
            }
        }
    });
    let [w0, w1, w2, w3, w4] = w;
    let [f0, f1, f2, f3, f4, f5, f6] = k.salts.map(|s| table.lookup(_mm512_xor_si512(w4, s)));
    between(0);
    let steps = table.lookup(_mm512_xor_si512(f0, w3));
    // SAFETY: `out.steps` has 64 writable bytes.
    unsafe { _mm512_storeu_si512(out.steps.as_mut_ptr().cast(), steps) };
    let b1 = table.triplet(f1, w3, w2);
    let b2 = table.triplet(f2, w3, w1);
    between(1);
    let b3 = table.triplet(f3, w2, w1);
    let b4 = table.triplet(f4, w2, w0);
    between(2);
    let b5 = table.triplet(f5, w3, w0);
    let b6 = table.triplet(f6, w1, w0);
    between(3);
    let kept = out.kept.as_mut_ptr();
    let mut n = 0;
    for b in [b1, b2, b3, b4, b5, b6] {
        let low = valid & !_mm512_movepi8_mask(b);
        let packed = _mm512_mask_compress_epi8(k.pad, low, b);
        debug_assert!(n <= 5 * 64);
        // SAFETY: n <= 5 * 64 (each earlier vector kept at most 64), so the
        // 64 bytes at n lie inside `out.kept`.
        unsafe { _mm512_storeu_si512(kept.add(n).cast(), packed) };
        n += low.count_ones() as usize;
    }
    if lanes == 64 {
        // Pad the kept buckets to at least INTERLEAVED.
        for i in 0..3 {
            // SAFETY: n <= 6 * 64, so n + 64i + 64 <= KEPT_LEN.
            unsafe { _mm512_storeu_si512(kept.add(n + 64 * i).cast(), k.pad) };
        }
    }
    out.lanes = lanes;
    out.kept_len = n;
}

/// The histograms the vector loop uses.
type Eight<'a> = [&'a mut [u32; 256]; 8];

/// Runs the checksum chain `c` through `block` and counts its buckets.
#[inline(always)]
fn count_block(h: &mut Eight<'_>, c: usize, block: &Block) -> usize {
    let c = checksum_steps(c, &block.steps[..block.lanes]);
    count(h, &block.kept[..block.kept_len]);
    c
}

/// Counts the full block `cur` while hashing the windows from `start` (as
/// [`hash_block`]) into `next`, with the checksum steps of `cur` spread
/// through both.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vbmi,avx512vbmi2,popcnt")]
#[allow(clippy::too_many_arguments)]
fn count_and_hash(
    k: &Consts,
    bytes: &[u8],
    start: usize,
    windows: usize,
    next: &mut Block,
    cur: &Block,
    h: &mut Eight<'_>,
    c: usize,
) -> usize {
    debug_assert_eq!(cur.lanes, 64);
    let mut c = c;
    let (early, late) = cur.steps.split_at(EARLY_STEPS);
    hash_block(k, bytes, start, windows, next, |i| {
        let per = EARLY_STEPS / 4;
        c = checksum_steps(c, &early[per * i..per * (i + 1)]);
    });
    let kept = &cur.kept;
    let [h0, h1, h2, h3, h4, h5, h6, h7] = h;
    // Alternate sets of four histograms, so that repeated buckets do not
    // make one increment wait for the one before.
    // Eight bucket indexes come in one load: each increment already takes
    // a load and a store, and this measured faster than byte loads.
    for (pair, eight) in late.chunks_exact(2).zip(kept.chunks_exact(8)) {
        let b = u64::from_le_bytes(eight.try_into().unwrap_or_default());
        let byte = |i: u32| ((b >> (8 * i)) & 0xff) as usize;
        c = checksum_step(c, pair[0]);
        h0[byte(0)] += 1;
        h1[byte(1)] += 1;
        h2[byte(2)] += 1;
        h3[byte(3)] += 1;
        c = checksum_step(c, pair[1]);
        h4[byte(4)] += 1;
        h5[byte(5)] += 1;
        h6[byte(6)] += 1;
        h7[byte(7)] += 1;
    }
    // Up to a multiple of 8 (padding follows the kept buckets), so that
    // `count` has no remainder loop.
    let end = cur.kept_len.next_multiple_of(8);
    count(h, kept.get(INTERLEAVED..end).unwrap_or(&[]));
    c
}

/// See [`Avx512::feed_windows`].
///
/// # Safety
/// The CPU must support AVX-512 F, BW, VBMI and VBMI2, and POPCNT.
#[target_feature(enable = "avx512f,avx512bw,avx512vbmi,avx512vbmi2,popcnt")]
unsafe fn feed_windows(hist: &mut Histograms, checksum: &mut u8, bytes: &[u8]) {
    let windows = bytes.len().saturating_sub(4);
    if windows == 0 {
        return;
    }
    let consts = Consts::new();
    let [h0, h1, h2, h3, h4, h5, h6, h7, ..] = hist;
    let mut h = [h0, h1, h2, h3, h4, h5, h6, h7];
    // The vector work runs one block ahead of the checksum chain, so that
    // the chain of one block (a dependent load per window) never waits for
    // the vectors of the next.
    let mut blocks = [Block::new(), Block::new()];
    let mut c = to_state(*checksum);
    hash_block(&consts, bytes, 0, windows, &mut blocks[0], |_| ());
    let mut start = 0;
    let mut now = 0;
    loop {
        let [a, b] = &mut blocks;
        let (cur, next) = if now == 0 { (a, b) } else { (b, a) };
        let next_start = start + 64;
        if next_start >= windows {
            c = count_block(&mut h, c, cur);
            break;
        }
        c = count_and_hash(&consts, bytes, next_start, windows, next, cur, &mut h, c);
        start = next_start;
        now ^= 1;
    }
    *checksum = from_state(c);
}

/// Counts `buckets` round-robin into the eight histograms.
#[inline(always)]
fn count(h: &mut Eight<'_>, buckets: &[u8]) {
    let mut groups = buckets.chunks_exact(8);
    for g in &mut groups {
        let mut b = u64::from_le_bytes(g.try_into().unwrap_or_default());
        for h in h.iter_mut() {
            h[(b & 0xff) as usize] += 1;
            b >>= 8;
        }
    }
    for (h, &b) in h.iter_mut().zip(groups.remainder()) {
        h[usize::from(b)] += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_3_chain_step_is_the_pearson_step() {
        for c in 0..=255u8 {
            assert_eq!(from_state(to_state(c)), c);
            for u in 0..=255u8 {
                let next = checksum_step(to_state(c), u);
                assert_eq!(next, to_state(PEARSON[usize::from(u ^ c)]), "u {u} c {c}");
            }
        }
    }
}
