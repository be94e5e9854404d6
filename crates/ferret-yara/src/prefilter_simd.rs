//! AVX-512 candidate search of the prefilter's look at every position: the only
//! `unsafe` code in the crate.
//!
//! Sixteen positions at a time: their folded 4-byte windows (one byte permute of
//! the next 19 bytes), the windows' buckets (the same multiplicative hash as the
//! scalar loop), the bitmap words (one gather) and the bits tested. The caller
//! confirms the positions whose bit is set exactly, as the scalar loop does, so
//! both find the same runs. A [`Avx512`] value exists only where the CPU has been
//! seen to support the instructions, which makes the safe wrapper sound.

use crate::analyse::FOLD;
use crate::prefilter::{BITMAP_BITS, HASH_MUL};

/// Proof that the CPU has AVX-512 F, BW and VBMI.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Avx512(());

/// Bitmap words of `u64` a bitmap of [`BITMAP_BITS`] bits has.
pub(crate) const BITMAP_WORDS: usize = 1 << (BITMAP_BITS - 6);

impl Avx512 {
    pub(crate) fn detect() -> Option<Avx512> {
        #[cfg(target_arch = "x86_64")]
        if is_x86_feature_detected!("avx512f")
            && is_x86_feature_detected!("avx512bw")
            && is_x86_feature_detected!("avx512vbmi")
        {
            return Some(Avx512(()));
        }
        None
    }

    /// Bit `j` set when the folded window at `data[at + j..at + j + 4]` has its
    /// bucket set in `bitmap`, for the windows that lie wholly in `data` among the
    /// sixteen from `at`. A bitmap of another size gives every window as a
    /// candidate (the caller's exact check then decides).
    #[inline]
    pub(crate) fn hits16(self, data: &[u8], at: usize, bitmap: &[u64]) -> u32 {
        let windows = data.len().saturating_sub(at).saturating_sub(3).min(16);
        let valid = (1u32 << windows) - 1;
        if windows == 0 || bitmap.len() != BITMAP_WORDS {
            return valid;
        }
        let bytes = (windows + 3) as u32;
        // SAFETY: `self` proves the CPU features; `at + bytes <= data.len()` (a
        // window lies wholly in `data`), so the masked load reads only bytes of
        // `data`; bucket indexes are below 2^BITMAP_BITS, so every gathered 32-bit
        // word lies in `bitmap`, which has BITMAP_WORDS u64 words.
        unsafe { hits16_impl(data.as_ptr().add(at), bytes, bitmap.as_ptr().cast()) & valid }
    }
}

/// Without x86-64 there is no [`Avx512`] value, so this is never called.
#[cfg(not(target_arch = "x86_64"))]
unsafe fn hits16_impl(_: *const u8, _: u32, _: *const u32) -> u32 {
    u32::MAX
}

/// The byte permutation that makes 32-bit lane `j` hold bytes `j..j + 4`.
#[cfg(target_arch = "x86_64")]
const WINDOW_INDEX: [u8; 64] = {
    let mut idx = [0u8; 64];
    let mut i = 0;
    while i < 64 {
        idx[i] = (i / 4 + i % 4) as u8;
        i += 1;
    }
    idx
};

/// # Safety
/// The CPU must support AVX-512 F, BW and VBMI; `src..src + bytes` (bytes <= 19)
/// must be readable; `bitmap` must point to 2^(BITMAP_BITS - 5) readable u32s.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512vbmi")]
unsafe fn hits16_impl(src: *const u8, bytes: u32, bitmap: *const u32) -> u32 {
    use std::arch::x86_64::*;
    let load_mask: __mmask64 = (1u64 << bytes) - 1;
    // SAFETY: masked-off bytes are not read (no fault), the rest are readable.
    let raw = unsafe { _mm512_maskz_loadu_epi8(load_mask, src.cast()) };
    // SAFETY: WINDOW_INDEX is 64 readable bytes.
    let idx = unsafe { _mm512_loadu_si512(WINDOW_INDEX.as_ptr().cast()) };
    let windows = _mm512_or_si512(
        _mm512_permutexvar_epi8(idx, raw),
        _mm512_set1_epi32(FOLD as i32),
    );
    let hashed = _mm512_mullo_epi32(windows, _mm512_set1_epi32(HASH_MUL as i32));
    let bucket = _mm512_srli_epi32::<{ 32 - BITMAP_BITS }>(hashed);
    let word = _mm512_srli_epi32::<5>(bucket);
    let bit = _mm512_and_si512(bucket, _mm512_set1_epi32(31));
    // SAFETY: every word index is below 2^(BITMAP_BITS - 5), inside `bitmap`.
    let words = unsafe { _mm512_i32gather_epi32::<4>(word, bitmap.cast()) };
    let tested = _mm512_srlv_epi32(words, bit);
    u32::from(_mm512_test_epi32_mask(tested, _mm512_set1_epi32(1)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hits16_equals_the_scalar_bitmap_test() {
        let Some(simd) = Avx512::detect() else {
            eprintln!("no AVX-512 VBMI here: nothing to compare");
            return;
        };
        let mut seed = 0x0123_4567_89ab_cdefu64;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        // A bitmap about 5% full, and data over a small alphabet so that some
        // windows repeat and hit.
        let bitmap: Vec<u64> = (0..BITMAP_WORDS)
            .map(|_| (0..3).fold(0u64, |acc, _| acc | 1 << (next() % 64)))
            .collect();
        let data: Vec<u8> = (0..4000)
            .map(|_| b"ab\0\xffQZ"[(next() % 6) as usize])
            .collect();
        let scalar = |at: usize| -> u32 {
            let mut m = 0;
            for j in 0..16 {
                let Some(w) = data.get(at + j..at + j + 4) else {
                    break;
                };
                let w = u32::from_le_bytes([w[0], w[1], w[2], w[3]]) | FOLD;
                let b = (w.wrapping_mul(HASH_MUL) >> (32 - BITMAP_BITS)) as usize;
                if (bitmap[b >> 6] >> (b & 63)) & 1 != 0 {
                    m |= 1 << j;
                }
            }
            m
        };
        let mut hits = 0;
        for at in 0..data.len() + 2 {
            let m = simd.hits16(&data, at, &bitmap);
            assert_eq!(m, scalar(at), "at {at}");
            hits += m.count_ones();
        }
        assert!(hits > 100, "{hits}");
        // Short tails: only whole windows.
        for len in 0..24 {
            let m = simd.hits16(&data[..len], 0, &bitmap);
            assert_eq!(m >> len.saturating_sub(3).min(16), 0, "len {len}");
        }
    }
}
