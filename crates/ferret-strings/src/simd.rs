//! SIMD byte classifiers for the string scanners: the only `unsafe` code in
//! the crate.
//!
//! Each kernel turns one block of input into a bitmask with one bit per
//! character unit: bit `i` of [`ascii_mask`] says whether byte `start + i` is
//! printable, bit `j` of [`utf16_mask`] whether the two bytes at
//! `start + 2j` form a printable UTF-16LE unit (printable low byte, zero high
//! byte). Units that do not lie wholly inside the buffer are clear. The
//! scalar kernels define the semantics; the AVX-512BW and AVX2 kernels must
//! produce the same masks (checked by the tests in `extract.rs` and here).
//!
//! A kernel can only be reached through a [`Backend`] value, and the SIMD
//! variants of [`Backend`] can only be made by [`Backend::detect`] after the
//! CPU has been seen to support their instruction sets, which is what makes
//! the safe wrappers sound.

use std::borrow::Cow;

/// Printable bytes: ASCII 0x20..=0x7e and horizontal tab.
#[inline(always)]
pub(crate) fn printable(b: u8) -> bool {
    b.wrapping_sub(0x20) <= 0x5e || b == b'\t'
}

/// `bytes` as text without a UTF-8 validation pass: the scanners hand over
/// printable bytes only, and an ASCII check (much cheaper than `from_utf8` on
/// short strings) is all that ASCII-only text needs; anything else (which
/// the scanners never produce) goes through the lossy conversion.
#[inline]
pub(crate) fn ascii_str(bytes: &[u8]) -> Cow<'_, str> {
    if bytes.is_ascii() {
        // SAFETY: every byte is below 0x80, and a sequence of ASCII bytes
        // is valid UTF-8.
        Cow::Borrowed(unsafe { std::str::from_utf8_unchecked(bytes) })
    } else {
        String::from_utf8_lossy(bytes)
    }
}

/// Which classifier implementation a scanner uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Backend {
    /// Portable byte-at-a-time code.
    Scalar,
    /// 32-byte AVX2 vectors.
    #[cfg(target_arch = "x86_64")]
    Avx2(x86::Avx2),
    /// 64-byte AVX-512BW vectors with masked loads for the buffer tail.
    #[cfg(target_arch = "x86_64")]
    Avx512(x86::Avx512),
}

impl Backend {
    /// The fastest implementation this CPU supports.
    pub(crate) fn detect() -> Backend {
        #[cfg(target_arch = "x86_64")]
        {
            if let Some(t) = x86::Avx512::new() {
                return Backend::Avx512(t);
            }
            if let Some(t) = x86::Avx2::new() {
                return Backend::Avx2(t);
            }
        }
        Backend::Scalar
    }

    /// Every backend this CPU supports, scalar first (for tests).
    #[cfg(test)]
    pub(crate) fn all() -> Vec<Backend> {
        let mut v = vec![Backend::Scalar];
        #[cfg(target_arch = "x86_64")]
        {
            if let Some(t) = x86::Avx2::new() {
                v.push(Backend::Avx2(t));
            }
            if let Some(t) = x86::Avx512::new() {
                v.push(Backend::Avx512(t));
            }
        }
        v
    }
}

/// Printable-byte mask of the 64 bytes at `data[start..]`; bytes past the end
/// of `data` are clear.
#[cfg(test)]
pub(crate) fn ascii_mask(backend: Backend, data: &[u8], start: usize) -> u64 {
    let mut out = [0];
    ascii_masks(backend, data, start, &mut out);
    out[0]
}

/// Printable-unit mask of the 64 UTF-16LE units at `data[start..]` (128
/// bytes); units not wholly inside `data` are clear.
#[cfg(test)]
pub(crate) fn utf16_mask(backend: Backend, data: &[u8], start: usize) -> u64 {
    let mut out = [0];
    utf16_masks(backend, data, start, &mut out);
    out[0]
}

/// `out[k]` = [`ascii_mask`] at `start + 64 * k`.
#[inline]
pub(crate) fn ascii_masks(backend: Backend, data: &[u8], start: usize, out: &mut [u64]) {
    match backend {
        Backend::Scalar => {
            for (k, m) in out.iter_mut().enumerate() {
                *m = ascii_mask_scalar(data, start.saturating_add(64 * k));
            }
        }
        #[cfg(target_arch = "x86_64")]
        Backend::Avx2(t) => t.ascii_masks(data, start, out),
        #[cfg(target_arch = "x86_64")]
        Backend::Avx512(t) => t.ascii_masks(data, start, out),
    }
}

/// `out[k]` = [`utf16_mask`] at `start + 128 * k`.
#[inline]
pub(crate) fn utf16_masks(backend: Backend, data: &[u8], start: usize, out: &mut [u64]) {
    match backend {
        Backend::Scalar => {
            for (k, m) in out.iter_mut().enumerate() {
                *m = utf16_mask_scalar(data, start.saturating_add(128 * k));
            }
        }
        #[cfg(target_arch = "x86_64")]
        Backend::Avx2(t) => t.utf16_masks(data, start, out),
        #[cfg(target_arch = "x86_64")]
        Backend::Avx512(t) => t.utf16_masks(data, start, out),
    }
}

pub(crate) fn ascii_mask_scalar(data: &[u8], start: usize) -> u64 {
    let block = data.get(start..).unwrap_or_default();
    let mut mask = 0u64;
    for (i, &b) in block.iter().take(64).enumerate() {
        mask |= u64::from(printable(b)) << i;
    }
    mask
}

pub(crate) fn utf16_mask_scalar(data: &[u8], start: usize) -> u64 {
    let block = data.get(start..).unwrap_or_default();
    let mut mask = 0u64;
    for (j, unit) in block.chunks_exact(2).take(64).enumerate() {
        mask |= u64::from(unit[1] == 0 && printable(unit[0])) << j;
    }
    mask
}

/// Mask of the first `n` bits (all 64 for `n >= 64`).
#[inline(always)]
fn low_bits(n: usize) -> u64 {
    if n >= 64 { u64::MAX } else { (1u64 << n) - 1 }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::*;

    use super::low_bits;

    /// Proof that the CPU supports AVX2; only [`Avx2::new`] makes one.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub(crate) struct Avx2(());

    /// Proof that the CPU supports AVX-512F and AVX-512BW; only
    /// [`Avx512::new`] makes one.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub(crate) struct Avx512(());

    impl Avx2 {
        pub(crate) fn new() -> Option<Self> {
            is_x86_feature_detected!("avx2").then_some(Avx2(()))
        }

        pub(crate) fn ascii_masks(self, data: &[u8], start: usize, out: &mut [u64]) {
            // SAFETY: `self` proves AVX2 support (see `Avx2::new`).
            unsafe { ascii_masks_avx2(data, start, out) }
        }

        pub(crate) fn utf16_masks(self, data: &[u8], start: usize, out: &mut [u64]) {
            // SAFETY: `self` proves AVX2 support (see `Avx2::new`).
            unsafe { utf16_masks_avx2(data, start, out) }
        }
    }

    impl Avx512 {
        pub(crate) fn new() -> Option<Self> {
            (is_x86_feature_detected!("avx512f") && is_x86_feature_detected!("avx512bw"))
                .then_some(Avx512(()))
        }

        pub(crate) fn ascii_masks(self, data: &[u8], start: usize, out: &mut [u64]) {
            // SAFETY: `self` proves AVX-512F/BW support (see `Avx512::new`).
            unsafe { ascii_masks_avx512(data, start, out) }
        }

        pub(crate) fn utf16_masks(self, data: &[u8], start: usize, out: &mut [u64]) {
            // SAFETY: `self` proves AVX-512F/BW support (see `Avx512::new`).
            unsafe { utf16_masks_avx512(data, start, out) }
        }
    }

    #[target_feature(enable = "avx2")]
    fn ascii_masks_avx2(data: &[u8], start: usize, out: &mut [u64]) {
        let mut at = start;
        for m in out.iter_mut() {
            *m = match data.get(at..at.saturating_add(64)) {
                Some(block) => ascii64_avx2(block.try_into().unwrap_or(&[0; 64])),
                None => {
                    // Tail: classify a zero-padded copy (zero is not
                    // printable, so padding bits stay clear).
                    let tail = data.get(at..).unwrap_or_default();
                    let mut buf = [0u8; 64];
                    buf[..tail.len()].copy_from_slice(tail);
                    ascii64_avx2(&buf)
                }
            };
            at = at.saturating_add(64);
        }
    }

    #[target_feature(enable = "avx2")]
    fn utf16_masks_avx2(data: &[u8], start: usize, out: &mut [u64]) {
        let mut at = start;
        for m in out.iter_mut() {
            *m = match data.get(at..at.saturating_add(128)) {
                Some(block) => utf16_64_avx2(block.try_into().unwrap_or(&[0; 128])),
                None => {
                    let tail = data.get(at..).unwrap_or_default();
                    let mut buf = [0u8; 128];
                    buf[..tail.len()].copy_from_slice(tail);
                    // Zero padding could complete a unit whose high byte is
                    // missing: keep whole units only.
                    utf16_64_avx2(&buf) & low_bits(tail.len() / 2)
                }
            };
            at = at.saturating_add(128);
        }
    }

    #[target_feature(enable = "avx512f,avx512bw")]
    fn ascii_masks_avx512(data: &[u8], start: usize, out: &mut [u64]) {
        let mut at = start;
        for m in out.iter_mut() {
            let avail = data.len().saturating_sub(at);
            *m = if avail == 0 {
                0
            } else {
                // SAFETY: `at < data.len()`, so the pointer is in bounds, and
                // the load mask enables only the `min(avail, 64)` lanes that
                // lie inside `data` (masked-off lanes are not accessed).
                unsafe { ascii64_avx512(data.as_ptr().add(at), low_bits(avail)) }
            };
            at = at.saturating_add(64);
        }
    }

    #[target_feature(enable = "avx512f,avx512bw")]
    fn utf16_masks_avx512(data: &[u8], start: usize, out: &mut [u64]) {
        let mut at = start;
        for m in out.iter_mut() {
            let avail = data.len().saturating_sub(at);
            *m = if avail == 0 {
                0
            } else {
                let hi = avail.saturating_sub(64);
                // SAFETY: `at < data.len()`; the first load enables the
                // `min(avail, 64)` lanes inside `data`, the second (at
                // `at + 64`, formed with `wrapping_add` and only dereferenced
                // through enabled lanes) the `min(hi, 64)` lanes inside
                // `data`; with `hi == 0` it accesses nothing.
                let m = unsafe {
                    let p = data.as_ptr().add(at);
                    utf16_64_avx512(p, low_bits(avail), p.wrapping_add(64), low_bits(hi))
                };
                // Zero-filled lanes could complete a unit whose high byte is
                // missing: keep whole units only.
                m & low_bits(avail / 2)
            };
            at = at.saturating_add(128);
        }
    }

    #[target_feature(enable = "avx2")]
    fn ascii32_avx2(v: __m256i) -> u32 {
        // Signed compare: 0x20..=0x7f are > 0x1f, bytes >= 0x80 are negative.
        let ge_space = _mm256_cmpgt_epi8(v, _mm256_set1_epi8(0x1f));
        let del = _mm256_cmpeq_epi8(v, _mm256_set1_epi8(0x7f));
        let tab = _mm256_cmpeq_epi8(v, _mm256_set1_epi8(b'\t' as i8));
        let ok = _mm256_or_si256(_mm256_andnot_si256(del, ge_space), tab);
        _mm256_movemask_epi8(ok) as u32
    }

    #[target_feature(enable = "avx2")]
    fn ascii64_avx2(block: &[u8; 64]) -> u64 {
        // SAFETY: both 32-byte unaligned loads lie inside `block`.
        let (a, b) = unsafe {
            let p = block.as_ptr();
            (
                _mm256_loadu_si256(p.cast()),
                _mm256_loadu_si256(p.add(32).cast()),
            )
        };
        u64::from(ascii32_avx2(a)) | u64::from(ascii32_avx2(b)) << 32
    }

    /// 16-bit lanes equal to a printable code unit: -1, else 0.
    #[target_feature(enable = "avx2")]
    fn units16_avx2(w: __m256i) -> __m256i {
        // w - 0x20 <= 0x5e unsigned, via min (AVX2 has no unsigned compare).
        let t = _mm256_sub_epi16(w, _mm256_set1_epi16(0x20));
        let in_range = _mm256_cmpeq_epi16(_mm256_min_epu16(t, _mm256_set1_epi16(0x5e)), t);
        let tab = _mm256_cmpeq_epi16(w, _mm256_set1_epi16(b'\t' as i16));
        _mm256_or_si256(in_range, tab)
    }

    /// Unit mask of 32 UTF-16LE units (64 bytes).
    #[target_feature(enable = "avx2")]
    fn utf16_32_avx2(a: __m256i, b: __m256i) -> u32 {
        // Pack the 16-bit lane results to bytes; packs works per 128-bit
        // lane, so restore unit order with a 64-bit permute.
        let packed = _mm256_packs_epi16(units16_avx2(a), units16_avx2(b));
        let ordered = _mm256_permute4x64_epi64::<0b11_01_10_00>(packed);
        _mm256_movemask_epi8(ordered) as u32
    }

    #[target_feature(enable = "avx2")]
    fn utf16_64_avx2(block: &[u8; 128]) -> u64 {
        // SAFETY: all four 32-byte unaligned loads lie inside `block`.
        let (a, b, c, d) = unsafe {
            let p = block.as_ptr();
            (
                _mm256_loadu_si256(p.cast()),
                _mm256_loadu_si256(p.add(32).cast()),
                _mm256_loadu_si256(p.add(64).cast()),
                _mm256_loadu_si256(p.add(96).cast()),
            )
        };
        u64::from(utf16_32_avx2(a, b)) | u64::from(utf16_32_avx2(c, d)) << 32
    }

    /// # Safety
    /// The CPU must support AVX-512F/BW, and every byte `p + i` whose bit `i`
    /// is set in `lanes` must be readable.
    #[target_feature(enable = "avx512f,avx512bw")]
    unsafe fn ascii64_avx512(p: *const u8, lanes: u64) -> u64 {
        // SAFETY: the caller guarantees that the enabled lanes are readable;
        // masked-off lanes are not accessed.
        let v = unsafe { _mm512_maskz_loadu_epi8(lanes, p.cast()) };
        let in_range = _mm512_cmple_epu8_mask(
            _mm512_sub_epi8(v, _mm512_set1_epi8(0x20)),
            _mm512_set1_epi8(0x5e),
        );
        in_range | _mm512_cmpeq_epi8_mask(v, _mm512_set1_epi8(b'\t' as i8))
    }

    #[target_feature(enable = "avx512f,avx512bw")]
    fn units32_avx512(w: __m512i) -> u32 {
        let in_range = _mm512_cmple_epu16_mask(
            _mm512_sub_epi16(w, _mm512_set1_epi16(0x20)),
            _mm512_set1_epi16(0x5e),
        );
        in_range | _mm512_cmpeq_epi16_mask(w, _mm512_set1_epi16(b'\t' as i16))
    }

    /// # Safety
    /// The CPU must support AVX-512F/BW; the enabled lanes of `lo_lanes` at
    /// `lo` and of `hi_lanes` at `hi` must be readable.
    #[target_feature(enable = "avx512f,avx512bw")]
    unsafe fn utf16_64_avx512(lo: *const u8, lo_lanes: u64, hi: *const u8, hi_lanes: u64) -> u64 {
        // SAFETY: the caller guarantees the enabled lanes are readable;
        // masked-off lanes are not accessed.
        let (a, b) = unsafe {
            (
                _mm512_maskz_loadu_epi8(lo_lanes, lo.cast()),
                _mm512_maskz_loadu_epi8(hi_lanes, hi.cast()),
            )
        };
        u64::from(units32_avx512(a)) | u64::from(units32_avx512(b)) << 32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn xorshift(state: &mut u64) -> u64 {
        *state ^= *state << 13;
        *state ^= *state >> 7;
        *state ^= *state << 17;
        *state
    }

    #[test]
    fn printable_definition() {
        let set: Vec<u8> = (0..=255u8).filter(|&b| printable(b)).collect();
        let mut want: Vec<u8> = (0x20..=0x7e).collect();
        want.insert(0, b'\t');
        assert_eq!(set, want);
    }

    #[test]
    fn kernels_agree_with_scalar_at_every_offset() {
        let backends = Backend::all();
        eprintln!("backends: {backends:?}");
        let mut state = 0x1234_5678_9abc_def1u64;
        for len in [0usize, 1, 2, 3, 63, 64, 65, 127, 128, 129, 130, 200, 300] {
            for round in 0..20 {
                // Printable bytes, zeros, DEL, tab and 0x80+ bytes, so both
                // encodings see every class at both parities.
                let data: Vec<u8> = (0..len)
                    .map(|_| match xorshift(&mut state) % 6 {
                        0 | 1 => 0x20 + (xorshift(&mut state) % 0x5f) as u8,
                        2 => 0,
                        3 => [b'\t', 0x7f, 0x1f, 0x80, 0xa0, 0xff][round % 6],
                        _ => xorshift(&mut state) as u8,
                    })
                    .collect();
                for start in 0..=len + 1 {
                    let a = ascii_mask_scalar(&data, start);
                    let u = utf16_mask_scalar(&data, start);
                    for &b in &backends {
                        assert_eq!(ascii_mask(b, &data, start), a, "{b:?} ascii {len} {start}");
                        assert_eq!(utf16_mask(b, &data, start), u, "{b:?} utf16 {len} {start}");
                    }
                }
            }
        }
        // Every byte value in both positions of a unit.
        let mut data = Vec::new();
        for hi in [0u8, 1, 0x80, 0xff] {
            for lo in 0..=255u8 {
                data.extend([lo, hi]);
            }
        }
        for start in 0..data.len() {
            for &b in &backends {
                assert_eq!(ascii_mask(b, &data, start), ascii_mask_scalar(&data, start));
                assert_eq!(utf16_mask(b, &data, start), utf16_mask_scalar(&data, start));
            }
        }
    }
}
