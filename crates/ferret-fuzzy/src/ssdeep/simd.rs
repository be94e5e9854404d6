//! AVX-512 kernels for [`super::Hasher`]: the only `unsafe` code of the ssdeep
//! hasher. Both kernels compute exactly what the portable byte loop does;
//! the tests in `fast_path_tests` compare the two on many inputs.
//!
//! * [`Avx512::find_candidate`] finds the next cut. The rolling hash at a
//!   position is a pure function of the 7 bytes ending there (`h3` shifts
//!   older bytes out of its 32 bits), so positions are independent: 16 per
//!   vector get the exact 32-bit test, or, once cuts are rare (level 8 and
//!   up), 64 per vector get a test of the low 16 bits only, the survivors
//!   being checked in scalar code.
//! * [`Avx512::apply`] advances the 64 piece-hash lanes (6-bit FNV states:
//!   32 levels times the 64- and 32-character forms) over a run of bytes
//!   that contains no cut. Each byte is a `vpermb` table lookup and an xor.
//!   Long runs are split into eight parts whose maps of the states are
//!   computed side by side, from the identity, and composed at the end,
//!   which hides the permute latency; a map needs only 32 lanes (see
//!   [`MIX`]), which halves the permute cost.

use std::arch::x86_64::{
    __m128i, __m256i, __m512i, _mm_loadu_si128, _mm256_loadu_si256, _mm256_permutexvar_epi8,
    _mm256_set1_epi8, _mm256_set1_epi32, _mm256_ternarylogic_epi32, _mm256_xor_si256,
    _mm512_add_epi16, _mm512_add_epi32, _mm512_and_si512, _mm512_castsi128_si512,
    _mm512_castsi256_si512, _mm512_castsi512_si256, _mm512_cmple_epu32_mask, _mm512_cvtepu8_epi32,
    _mm512_inserti64x4, _mm512_loadu_si512, _mm512_maddubs_epi16, _mm512_mullo_epi32,
    _mm512_permutexvar_epi8, _mm512_rorv_epi32, _mm512_set1_epi8, _mm512_set1_epi16,
    _mm512_set1_epi32, _mm512_slli_epi16, _mm512_slli_epi32, _mm512_srli_epi16,
    _mm512_storeu_si512, _mm512_ternarylogic_epi32, _mm512_testn_epi16_mask, _mm512_xor_si512,
};

use super::{FNV_PRIME, LEVELS, ROLLING_WINDOW};

/// Lanes of piece-hash state: 32 levels for the 64-character signature, then
/// the same 32 for the 32-character one.
const LANES: usize = 64;

/// The piece hashes as the kernels see them: one 64-byte vector.
pub(super) type Lanes = [[u8; LEVELS]; 2];

/// The FNV step on 6-bit states is a T-function: the low 5 bits of
/// `(s * prime) ^ c` depend only on the low 5 bits of `s`, and bit 5 is bit 5
/// of `s` flipped by something the low 5 bits and `c` determine (adding 32
/// times an odd number flips bit 5 and nothing else). So a step is
/// `MIX[s & 31] ^ s ^ c` with `MIX[v] = (v * prime mod 64) ^ v`: the `^ s`
/// cancels the table's `^ v` in the low bits and carries bit 5 over. The
/// table is stored twice so that a 64-lane `vpermb` (6-bit index) reads the
/// same entries as a 32-lane one (5-bit index).
static MIX: [u8; LANES] = {
    let mut t = [0u8; LANES];
    let mut v = 0;
    while v < LANES {
        let low = (v & 31) as u16;
        t[v] = (((low * FNV_PRIME) & 63) ^ low) as u8;
        v += 1;
    }
    t
};

/// The identity map of the states, the start of a partial run's map.
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
const SPLIT_MIN: usize = 32;
const PARTS: usize = 8;

/// Proof that the CPU has AVX-512 F, BW, VL and VBMI: only [`Avx512::detect`]
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
            && is_x86_feature_detected!("avx512vl")
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
        // Above level 30 the block size exceeds 2^32 > rolling + 1: no cuts.
        if from >= end || level > 30 {
            return None;
        }
        let mut next = from;
        if level >= LOW_BITS_MIN_LEVEL && from >= ROLLING_WINDOW {
            // SAFETY: `self` exists only if `detect` saw AVX-512 F and BW,
            // and `from >= 7` was just checked.
            let (found, at) = unsafe { scan_low_bits(data, from, end, level) };
            if found.is_some() {
                return found;
            }
            next = at;
        }
        // SAFETY: as above, and `next >= from >= 6` by the clamp above.
        let (found, next) = unsafe { scan(data, next, end, level) };
        found.or_else(|| {
            (next..end).find(|&p| {
                let sum = super::window_sum(&data[p + 1 - ROLLING_WINDOW..=p]);
                wrapping_divisible(sum, level)
            })
        })
    }

    /// Advances every lane of `state` (values below 64) over `bytes`.
    pub(super) fn apply(self, state: &mut Lanes, bytes: &[u8]) {
        if bytes.is_empty() {
            return;
        }
        // SAFETY: `self` proves AVX-512 F, BW, VL and VBMI; the kernel touches
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

/// From this level on (cuts 768 bytes or more apart on average), the scan
/// tests only the low 16 bits of the rolling sum, four times as many
/// positions per iteration and with cheaper arithmetic, and checks the few
/// positions that pass (about one in `2^level`) in scalar code.
const LOW_BITS_MIN_LEVEL: u32 = 8;

/// Scans `from..end` 64 positions at a time while the loads stay in `data`,
/// for `level >= 8`. `h1 + h2 = 8*b0 + 7*b1 + ... + 2*b6` (`b0` the newest
/// byte) is a multiply-add of byte pairs, and the low 16 bits of
/// `h3 = b0 ^ b1 << 5 ^ ... ^ b6 << 30` need only `b0..b3`; even and odd
/// positions go to separate 16-bit lanes so that each byte pair lines up
/// with a lane. Returns the first position passing the full test, or where
/// the next kernel has to go on.
///
/// The low-bits test is exact only for `level >= 8`.
///
/// # Safety
///
/// The CPU supports AVX-512 F and BW, and `from >= 7`: the loads reach 7
/// bytes before the first position scanned.
#[target_feature(enable = "avx512f,avx512bw")]
unsafe fn scan_low_bits(
    data: &[u8],
    from: usize,
    end: usize,
    level: u32,
) -> (Option<usize>, usize) {
    let low_bits = _mm512_set1_epi16(((1u32 << level.min(16)) - 1) as u16 as i16);
    let base = data.as_ptr();
    let mut p = from;
    while p < end && p + LANES <= data.len() {
        // SAFETY: p >= from >= 7 (the caller's promise) and
        // p + 64 <= data.len() (the loop's), so every 64-byte
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
/// # Safety
///
/// The CPU supports AVX-512 F and BW, and `from >= 6`: the loads reach 6
/// bytes before the first position scanned.
#[target_feature(enable = "avx512f,avx512bw")]
unsafe fn scan(data: &[u8], from: usize, end: usize, level: u32) -> (Option<usize>, usize) {
    // x is divisible by 3 * 2^level iff rotr(x * 3^-1 mod 2^32, level) is at
    // most (2^32 - 1) / (3 * 2^level) (Granlund-Montgomery).
    let inverse = _mm512_set1_epi32(0xAAAA_AAABu32 as i32);
    let rotate = _mm512_set1_epi32(level as i32);
    let limit = _mm512_set1_epi32((u32::MAX / (3u32 << level)) as i32);
    let one = _mm512_set1_epi32(1);
    let base = data.as_ptr();
    let mut p = from;
    while p < end && p + 16 <= data.len() {
        // SAFETY: p >= from >= 6 (the caller's promise) and
        // p + 16 <= data.len() (the loop's), so every 16-byte
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

#[target_feature(enable = "avx512f,avx512bw,avx512vbmi,avx512vl")]
fn apply_kernel(state: &mut Lanes, bytes: &[u8]) {
    // SAFETY: `state` (two 32-byte arrays, contiguous) and MIX are 64
    // readable bytes.
    let (mut s, mix) = unsafe {
        (
            _mm512_loadu_si512(state.as_ptr().cast()),
            _mm512_loadu_si512(MIX.as_ptr().cast()),
        )
    };
    if bytes.len() < SPLIT_MIN {
        // Short runs are latency-bound whatever is done.
        for &c in bytes {
            let c = _mm512_set1_epi8((c & 63) as i8);
            s = _mm512_ternarylogic_epi32::<0x96>(s, _mm512_permutexvar_epi8(s, mix), c);
        }
    } else {
        // A map of the 64 states is given by its first 32 entries (the
        // others differ in bit 5 only), so the chains are 32-lane vectors,
        // whose permutes cost half as much as 64-lane ones.
        let mix = _mm512_castsi512_si256(mix);
        // SAFETY: IDENTITY is 64 readable bytes.
        let id = unsafe { _mm256_loadu_si256(IDENTITY.as_ptr().cast()) };
        let mut maps = [id; PARTS];
        let part = bytes.len() / PARTS;
        let chunks: [&[u8]; PARTS] =
            std::array::from_fn(|k| bytes.get(k * part..(k + 1) * part).unwrap_or_default());
        let mut done = 0;
        while let Some(block) = chunks_block(&chunks, done) {
            advance_block(&mut maps, block, mix);
            done += BLOCK_STEPS;
        }
        for (map, chunk) in maps.iter_mut().zip(&chunks) {
            for &c in chunk.get(done..).unwrap_or_default() {
                *map = map_step(*map, mix, c);
            }
        }
        // The last part also takes the remainder of the division.
        for &c in bytes.get(PARTS * part..).unwrap_or_default() {
            maps[PARTS - 1] = map_step(maps[PARTS - 1], mix, c);
        }
        // Compose: (m after f)(v) = m[f(v) & 31] ^ (f(v) & 32); 0x78 is
        // a ^ (b & c).
        let bit5 = _mm256_set1_epi8(32);
        let mut f = maps[0];
        for m in &maps[1..] {
            f = _mm256_ternarylogic_epi32::<0x78>(_mm256_permutexvar_epi8(f, *m), f, bit5);
        }
        let table = _mm512_inserti64x4::<1>(_mm512_castsi256_si512(f), _mm256_xor_si256(f, bit5));
        s = _mm512_permutexvar_epi8(s, table);
    }
    // SAFETY: `state` is 64 writable bytes.
    unsafe { _mm512_storeu_si512(state.as_mut_ptr().cast(), s) };
}

/// One byte's step of a 32-lane map (see [`MIX`]).
#[target_feature(enable = "avx512f,avx512bw,avx512vbmi,avx512vl")]
#[inline]
fn map_step(map: __m256i, mix: __m256i, byte: u8) -> __m256i {
    let c = _mm256_set1_epi8((byte & 63) as i8);
    _mm256_ternarylogic_epi32::<0x96>(map, _mm256_permutexvar_epi8(map, mix), c)
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

/// Advances the maps by 16 bytes each: per byte, one 32-lane `vpermb`
/// through [`MIX`] and one three-way xor. The byte comes as a 4-fold copy in
/// memory that the xor broadcasts for free, which keeps the loop off the
/// shuffle port a per-byte broadcast would need.
#[target_feature(enable = "avx512f,avx512bw,avx512vbmi,avx512vl")]
fn advance_block(maps: &mut [__m256i; PARTS], block: [&[u8; BLOCK_STEPS]; PARTS], mix: __m256i) {
    // SAFETY: SPREAD is 64 readable bytes.
    let spread = unsafe { _mm512_loadu_si512(SPREAD.as_ptr().cast()) };
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
        for (m, c) in maps.iter_mut().zip(&copies) {
            let byte = _mm256_set1_epi32(c[i] as i32);
            // The old map first: the instruction overwrites its first operand.
            *m = _mm256_ternarylogic_epi32::<0x96>(*m, _mm256_permutexvar_epi8(*m, mix), byte);
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
