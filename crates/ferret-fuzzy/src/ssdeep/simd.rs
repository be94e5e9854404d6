//! AVX-512 kernels for [`super::Hasher`]: the only `unsafe` code of the ssdeep
//! hasher. Both kernels compute exactly what the portable byte loop does;
//! the tests in the parent module compare the two on many inputs.
//!
//! * [`Avx512::find_candidate`] evaluates the rolling hash at 16 positions
//!   per vector. The hash at a position is a pure function of the 7 bytes
//!   ending there (`h3` shifts older bytes out of its 32 bits), so positions
//!   are independent and no serial state is carried.
//! * [`Avx512::apply`] advances the 64 piece-hash lanes (6-bit FNV states:
//!   32 levels times the 64- and 32-character forms) over a run of bytes
//!   that contains no cut. Each byte is one `vpermb` through a 64-entry table
//!   `s -> (s * prime) ^ byte`; long runs are split into eight parts whose
//!   maps (permutations of the 64 states) are computed side by side, from
//!   the identity, and composed at the end, which hides the permute latency.

use std::arch::x86_64::{
    __m128i, __m512i, _mm_loadu_si128, _mm512_add_epi16, _mm512_add_epi32, _mm512_and_si512,
    _mm512_castsi128_si512, _mm512_cmple_epu32_mask, _mm512_cvtepu8_epi32, _mm512_loadu_si512,
    _mm512_maddubs_epi16, _mm512_mullo_epi32, _mm512_permutexvar_epi8, _mm512_rorv_epi32,
    _mm512_set1_epi8, _mm512_set1_epi16, _mm512_set1_epi32, _mm512_slli_epi16, _mm512_slli_epi32,
    _mm512_srli_epi16, _mm512_storeu_si512, _mm512_ternarylogic_epi32, _mm512_testn_epi16_mask,
    _mm512_xor_si512,
};

use super::{FNV_PRIME, ROLLING_WINDOW};

/// Lanes of piece-hash state: 32 levels for the 64-character signature, then
/// the same 32 for the 32-character one.
pub(super) const LANES: usize = 64;

/// `STEP.0[c][s]` is the 6-bit FNV step `(s * prime) ^ c` for the low 6 bits
/// `c` of an input byte (the high bits never reach the low 6 of the state).
#[repr(C, align(64))]
struct StepTables([[u8; LANES]; 64]);

static STEP: StepTables = {
    let mut t = [[0u8; LANES]; 64];
    let mut c = 0;
    while c < 64 {
        let mut s = 0;
        while s < LANES {
            t[c][s] = (((s as u16 * FNV_PRIME) ^ c as u16) & 63) as u8;
            s += 1;
        }
        c += 1;
    }
    StepTables(t)
};

/// The identity map of the 64 states, the start of a partial run's map.
static IDENTITY: [u8; LANES] = {
    let mut t = [0u8; LANES];
    let mut s = 0;
    while s < LANES {
        t[s] = s as u8;
        s += 1;
    }
    t
};

/// Runs at least this long are split into [`PARTS`] independent chains.
const SPLIT_MIN: usize = 128;
const PARTS: usize = 8;

/// Proof that the CPU has AVX-512 F, BW and VBMI: only [`Avx512::detect`]
/// makes one.
#[derive(Debug, Clone, Copy)]
pub(super) struct Avx512 {
    _proof: (),
}

impl Avx512 {
    /// `Some` when the running CPU supports the kernels.
    pub(super) fn detect() -> Option<Self> {
        let ok = is_x86_feature_detected!("avx512f")
            && is_x86_feature_detected!("avx512bw")
            && is_x86_feature_detected!("avx512vbmi");
        ok.then_some(Avx512 { _proof: () })
    }

    /// The first position `p` in `from..end` (with `from >= 6`, so that the
    /// 7-byte window ending at `p` lies in `data`) where the rolling sum `s`
    /// has `(s + 1) mod 2^32` divisible by `3 << level`, or `None`.
    ///
    /// This is a superset of the real cuts at `level` only where `s + 1`
    /// wraps to zero; the caller re-checks each hit without wrapping.
    pub(super) fn find_candidate(
        self,
        data: &[u8],
        from: usize,
        end: usize,
        level: u32,
    ) -> Option<usize> {
        let end = end.min(data.len());
        let from = from.max(ROLLING_WINDOW - 1);
        if from >= end || level > 30 {
            return None;
        }
        let mut next = from;
        if level >= LOW_BITS_MIN_LEVEL && from >= ROLLING_WINDOW {
            // SAFETY: `self` exists only if `detect` saw AVX-512 F and BW;
            // the kernel reads only `data[from - 7..]` up to `data.len()`,
            // which the clamps above and its own loop bound keep in range.
            let (found, at) = unsafe { scan_low_bits(data, from, end, level) };
            if found.is_some() {
                return found;
            }
            next = at;
        }
        // SAFETY: as above; this kernel reads from `data[next - 6..]`, and
        // `next >= from >= 6`.
        let (found, next) = unsafe { scan(data, next, end, level) };
        found.or_else(|| {
            (next..end).find(|&p| {
                let sum = super::window_sum(&data[p + 1 - ROLLING_WINDOW..=p]);
                wrapping_divisible(sum, level)
            })
        })
    }

    /// Advances every lane of `state` (values below 64) over `bytes`.
    pub(super) fn apply(self, state: &mut [u8; LANES], bytes: &[u8]) {
        if bytes.is_empty() {
            return;
        }
        // SAFETY: `self` proves AVX-512 F, BW and VBMI; the kernel touches
        // only `state`, `bytes` and the static tables.
        unsafe { apply_kernel(state, bytes) }
    }
}

/// The vector test, in scalar form: `(sum + 1) mod 2^32` divisible by
/// `3 << level`.
fn wrapping_divisible(sum: u32, level: u32) -> bool {
    let x = sum.wrapping_add(1);
    x.is_multiple_of(3u32 << level)
}

/// From this level on (cuts at most every 768 bytes on average), the scan
/// tests only the low 16 bits of the rolling sum, twice as many positions
/// per vector and with cheaper arithmetic, and checks the few positions that
/// pass (about one in `2^level`) in scalar code.
const LOW_BITS_MIN_LEVEL: u32 = 8;

/// Scans `from..end` 64 positions at a time while the loads stay in `data`,
/// for `level >= 8`. `h1 + h2 = 8*b0 + 7*b1 + ... + 2*b6` (`b0` the newest
/// byte) is a multiply-add of byte pairs, and the low 16 bits of
/// `h3 = b0 ^ b1 << 5 ^ ... ^ b6 << 30` need only `b0..b3`; even and odd
/// positions go to separate 16-bit lanes so that each byte pair lines up
/// with a lane. Returns the first position passing the full test, or where
/// the next kernel has to go on.
///
/// Caller guarantees: `7 <= from`, `end <= data.len()`, `level >= 8`.
#[target_feature(enable = "avx512f,avx512bw")]
fn scan_low_bits(data: &[u8], from: usize, end: usize, level: u32) -> (Option<usize>, usize) {
    let low_bits = _mm512_set1_epi16(((1u32 << level.min(16)) - 1) as u16 as i16);
    let base = data.as_ptr();
    let mut p = from;
    while p < end && p + LANES <= data.len() {
        // SAFETY: p >= from >= 7 and p + 64 <= data.len(), so every 64-byte
        // load at p - k for k in 0..8 lies inside `data`.
        let a = unsafe {
            let at = |k: usize| _mm512_loadu_si512(base.add(p - k).cast());
            [at(0), at(1), at(2), at(3), at(4), at(5), at(6), at(7)]
        };
        // Lane m of a[k] pairs the bytes at p - k + 2m and p - k + 2m + 1.
        let even = low_bits_hits(a[1], a[3], a[5], a[7], low_bits);
        let odd = low_bits_hits(a[0], a[2], a[4], a[6], low_bits);
        let (mut even, mut odd) = (u64::from(even), u64::from(odd));
        while even | odd != 0 {
            // Candidates in position order: even lane m is p + 2m, odd lane
            // m is p + 2m + 1.
            let e = 2 * even.trailing_zeros() as usize;
            let o = 2 * odd.trailing_zeros() as usize + 1;
            let q = p + e.min(o);
            if e < o {
                even &= even - 1;
            } else {
                odd &= odd - 1;
            }
            if q >= end {
                break;
            }
            let sum = super::window_sum(&data[q + 1 - ROLLING_WINDOW..=q]);
            if wrapping_divisible(sum, level) {
                return (Some(q), q);
            }
        }
        p += LANES;
    }
    (None, p.min(end))
}

/// For the 32 positions `q` whose byte pairs `(q - 1, q)`, `(q - 3, q - 2)`,
/// `(q - 5, q - 4)`, `(q - 7, q - 6)` are the 16-bit lanes of `w1, w3, w5,
/// w7`: the lanes where `rolling + 1` has the bits of `low_bits` clear.
#[target_feature(enable = "avx512f,avx512bw")]
#[inline]
fn low_bits_hits(w1: __m512i, w3: __m512i, w5: __m512i, w7: __m512i, low_bits: __m512i) -> u32 {
    // Byte weights of each pair, older byte first (the low byte of a lane).
    let weights = |older: u8, newer: u8| _mm512_set1_epi16(i16::from_le_bytes([older, newer]));
    let h12 = _mm512_add_epi16(
        _mm512_add_epi16(
            _mm512_maddubs_epi16(w1, weights(7, 8)),
            _mm512_maddubs_epi16(w3, weights(5, 6)),
        ),
        _mm512_add_epi16(
            _mm512_maddubs_epi16(w5, weights(3, 4)),
            _mm512_maddubs_epi16(w7, weights(0, 2)),
        ),
    );
    // b0 ^ (b1 << 5) ^ (b2 << 10) ^ (b3 << 15) in 16 bits, from the pairs
    // (b1, b0) and (b3, b2); 0x78 is a ^ (b & c).
    let h3 = _mm512_ternarylogic_epi32::<0x78>(
        _mm512_srli_epi16::<8>(w1),
        _mm512_slli_epi16::<5>(w1),
        _mm512_set1_epi16(0x1FE0),
    );
    let h3 = _mm512_ternarylogic_epi32::<0x78>(
        h3,
        _mm512_slli_epi16::<2>(w3),
        _mm512_set1_epi16(0xFC00u16 as i16),
    );
    let h3 = _mm512_xor_si512(h3, _mm512_slli_epi16::<15>(w3));
    let x = _mm512_add_epi16(_mm512_add_epi16(h12, h3), _mm512_set1_epi16(1));
    _mm512_testn_epi16_mask(x, low_bits)
}

/// Scans `from..end` 16 positions at a time while the vector loads stay in
/// `data`. Returns the first hit, or where the scalar tail has to go on.
///
/// Caller guarantees: `6 <= from`, `end <= data.len()`.
#[target_feature(enable = "avx512f,avx512bw")]
fn scan(data: &[u8], from: usize, end: usize, level: u32) -> (Option<usize>, usize) {
    // x is divisible by 3 * 2^level iff rotr(x * 3^-1 mod 2^32, level) is at
    // most (2^32 - 1) / (3 * 2^level) (Granlund-Montgomery).
    let inverse = _mm512_set1_epi32(0xAAAA_AAABu32 as i32);
    let rotate = _mm512_set1_epi32(level as i32);
    let limit = _mm512_set1_epi32((u32::MAX / (3u32 << level)) as i32);
    let one = _mm512_set1_epi32(1);
    let base = data.as_ptr();
    let mut p = from;
    while p < end && p + 16 <= data.len() {
        // SAFETY: p >= from >= 6 and p + 16 <= data.len(), so every 16-byte
        // load at p - k for k in 0..7 lies inside `data`.
        let b = unsafe {
            let at = |k: usize| _mm_loadu_si128(base.add(p - k).cast::<__m128i>());
            [at(0), at(1), at(2), at(3), at(4), at(5), at(6)]
        };
        let b = b.map(|v| _mm512_cvtepu8_epi32(v));
        // h1 + h2 = 8*b0 + 7*b1 + ... + 2*b6, as a sum of prefix sums.
        let mut prefix = b[0];
        let mut h12 = b[0];
        for &v in &b[1..] {
            prefix = _mm512_add_epi32(prefix, v);
            h12 = _mm512_add_epi32(h12, prefix);
        }
        h12 = _mm512_add_epi32(h12, prefix);
        // h3 = b0 ^ b1 << 5 ^ ... ^ b6 << 30 (0x96: three-way xor).
        let x1 = _mm512_ternarylogic_epi32::<0x96>(
            b[0],
            _mm512_slli_epi32::<5>(b[1]),
            _mm512_slli_epi32::<10>(b[2]),
        );
        let x2 = _mm512_ternarylogic_epi32::<0x96>(
            x1,
            _mm512_slli_epi32::<15>(b[3]),
            _mm512_slli_epi32::<20>(b[4]),
        );
        let h3 = _mm512_ternarylogic_epi32::<0x96>(
            x2,
            _mm512_slli_epi32::<25>(b[5]),
            _mm512_slli_epi32::<30>(b[6]),
        );
        let x = _mm512_add_epi32(_mm512_add_epi32(h12, h3), one);
        let q = _mm512_rorv_epi32(_mm512_mullo_epi32(x, inverse), rotate);
        let mut hits = _mm512_cmple_epu32_mask(q, limit);
        let room = end - p;
        if room < 16 {
            hits &= (1u16 << room) - 1;
        }
        if hits != 0 {
            return (Some(p + hits.trailing_zeros() as usize), p);
        }
        p += 16;
    }
    (None, p.min(end))
}

#[target_feature(enable = "avx512f,avx512bw,avx512vbmi")]
#[inline]
fn step(v: __m512i, byte: u8) -> __m512i {
    let table = &STEP.0[usize::from(byte & 63)];
    // SAFETY: `table` is 64 readable bytes.
    let t = unsafe { _mm512_loadu_si512(table.as_ptr().cast()) };
    _mm512_permutexvar_epi8(v, t)
}

#[target_feature(enable = "avx512f,avx512bw,avx512vbmi")]
fn apply_kernel(state: &mut [u8; LANES], bytes: &[u8]) {
    // SAFETY: `state` is 64 readable bytes.
    let mut s = unsafe { _mm512_loadu_si512(state.as_ptr().cast()) };
    if bytes.len() < SPLIT_MIN {
        // Short runs are latency-bound whatever is done; the table load is
        // off the dependency chain.
        for &c in bytes {
            s = step(s, c);
        }
    } else {
        let part = bytes.len() / PARTS;
        // SAFETY: IDENTITY is 64 readable bytes.
        let id = unsafe { _mm512_loadu_si512(IDENTITY.as_ptr().cast()) };
        let mut chains = [id; PARTS];
        chains[0] = s;
        let chunks: [&[u8]; PARTS] =
            std::array::from_fn(|k| bytes.get(k * part..(k + 1) * part).unwrap_or_default());
        let mut done = 0;
        while let Some(block) = chunks_block(&chunks, done) {
            advance_block(&mut chains, block);
            done += BLOCK_STEPS;
        }
        for (chain, chunk) in chains.iter_mut().zip(&chunks) {
            for &c in chunk.get(done..).unwrap_or_default() {
                *chain = step(*chain, c);
            }
        }
        // The last part also takes the remainder of the division.
        for &c in bytes.get(PARTS * part..).unwrap_or_default() {
            chains[PARTS - 1] = step(chains[PARTS - 1], c);
        }
        s = chains[0];
        for m in &chains[1..] {
            s = _mm512_permutexvar_epi8(s, *m);
        }
    }
    // SAFETY: `state` is 64 writable bytes.
    unsafe { _mm512_storeu_si512(state.as_mut_ptr().cast(), s) };
}

/// Steps per chain handled by one [`advance_block`].
const BLOCK_STEPS: usize = 16;

/// The next [`BLOCK_STEPS`] bytes of every chain from `at`, if all have them.
fn chunks_block<'a>(
    chunks: &[&'a [u8]; PARTS],
    at: usize,
) -> Option<[&'a [u8; BLOCK_STEPS]; PARTS]> {
    let mut out = [&[0u8; BLOCK_STEPS]; PARTS];
    for (dst, chunk) in out.iter_mut().zip(chunks) {
        *dst = chunk.get(at..)?.first_chunk::<BLOCK_STEPS>()?;
    }
    Some(out)
}

/// Advances the chains by 16 bytes each. A step is `vpermb` through the
/// multiply-by-prime table held in a register, then an xor with the byte;
/// the byte comes as a 4-fold copy in memory that the xor broadcasts for
/// free, which keeps the loop off the load and shuffle ports a per-byte
/// table would need.
#[target_feature(enable = "avx512f,avx512bw,avx512vbmi")]
fn advance_block(chains: &mut [__m512i; PARTS], block: [&[u8; BLOCK_STEPS]; PARTS]) {
    // SAFETY: STEP.0[0] is 64 readable bytes (the table for byte 0: the
    // plain multiplication).
    let mul = unsafe { _mm512_loadu_si512(STEP.0[0].as_ptr().cast()) };
    let spread = load_table(&SPREAD);
    let low6 = _mm512_set1_epi8(63);
    let mut copies = [[0u32; BLOCK_STEPS]; PARTS];
    for (dst, src) in copies.iter_mut().zip(block) {
        // SAFETY: `src` is 16 readable bytes, `dst` 64 writable ones.
        unsafe {
            let v = _mm512_castsi128_si512(_mm_loadu_si128(src.as_ptr().cast()));
            let v = _mm512_and_si512(_mm512_permutexvar_epi8(spread, v), low6);
            _mm512_storeu_si512(dst.as_mut_ptr().cast(), v);
        }
    }
    for i in 0..BLOCK_STEPS {
        for (chain, c) in chains.iter_mut().zip(&copies) {
            let byte = _mm512_set1_epi32(c[i] as i32);
            *chain = _mm512_xor_si512(_mm512_permutexvar_epi8(*chain, mul), byte);
        }
    }
}

/// `vpermb` indexes that copy byte `i` of a 16-byte vector into the four
/// bytes of 32-bit lane `i`.
static SPREAD: [u8; LANES] = {
    let mut t = [0u8; LANES];
    let mut i = 0;
    while i < LANES {
        t[i] = (i / 4) as u8;
        i += 1;
    }
    t
};

#[target_feature(enable = "avx512f")]
#[inline]
fn load_table(bytes: &[u8; LANES]) -> __m512i {
    // SAFETY: `bytes` is 64 readable bytes.
    unsafe { _mm512_loadu_si512(bytes.as_ptr().cast()) }
}
