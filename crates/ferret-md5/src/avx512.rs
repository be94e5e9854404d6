//! The 16-lane MD5 compression function in AVX-512: the crate's only unsafe code.
//!
//! Lane `i` of every register belongs to buffer `i`: the four state words are
//! four registers, and each round's sixteen message words are the sixteen
//! blocks transposed so that register `j` holds word `j` of every block. The
//! boolean functions F, G, H and I are one `vpternlogd` each and the rotation
//! one `vprold`, so a step costs the same as in scalar code but does 16 of them.

use std::arch::x86_64::{
    __m512i, _mm512_add_epi32, _mm512_loadu_si512, _mm512_rol_epi32, _mm512_set1_epi32,
    _mm512_shuffle_i32x4, _mm512_storeu_si512, _mm512_ternarylogic_epi32, _mm512_unpackhi_epi32,
    _mm512_unpackhi_epi64, _mm512_unpacklo_epi32, _mm512_unpacklo_epi64,
};

use crate::{BLOCK, K, LANES, State};

/// Proof that this CPU runs AVX-512F: only [`Avx512::detect`] makes one.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Avx512(());

impl Avx512 {
    /// `Some` when the CPU supports AVX-512F (checked once, then cached by std).
    pub(crate) fn detect() -> Option<Self> {
        is_x86_feature_detected!("avx512f").then_some(Self(()))
    }

    /// Compresses, in every lane `i`, the whole blocks at the start of
    /// `lanes[i]` into column `i` of `state`, as many blocks as the shortest
    /// lane holds; returns that count.
    pub(crate) fn compress16(self, state: &mut State, lanes: &[&[u8]; LANES]) -> usize {
        let blocks = lanes.iter().map(|l| l.len() / BLOCK).min().unwrap_or(0);
        if blocks > 0 {
            // SAFETY: `self` exists only when the CPU supports AVX-512F, and
            // every lane holds at least `blocks * BLOCK` bytes.
            unsafe { compress16_avx512(state, lanes, blocks) };
        }
        blocks
    }
}

macro_rules! ff {
    ($b:expr, $c:expr, $d:expr) => {
        // b ? c : d
        _mm512_ternarylogic_epi32::<0xCA>($b, $c, $d)
    };
}
macro_rules! gg {
    ($b:expr, $c:expr, $d:expr) => {
        // d ? b : c
        _mm512_ternarylogic_epi32::<0xCA>($d, $b, $c)
    };
}
macro_rules! hh {
    ($b:expr, $c:expr, $d:expr) => {
        _mm512_ternarylogic_epi32::<0x96>($b, $c, $d)
    };
}
macro_rules! ii {
    ($b:expr, $c:expr, $d:expr) => {
        // c ^ (b | !d)
        _mm512_ternarylogic_epi32::<0x39>($b, $c, $d)
    };
}

/// One MD5 step in all lanes: `a = b + rotl(a + fun(b, c, d) + m + k, s)`.
/// `a + m + k` does not depend on the previous step, leaving four dependent
/// operations on the critical path.
macro_rules! step {
    ($fun:ident, $a:ident, $b:ident, $c:ident, $d:ident, $m:ident[$w:literal], $k:literal, $s:literal) => {
        let t = _mm512_add_epi32(
            $a,
            _mm512_add_epi32($m[$w], _mm512_set1_epi32(K[$k] as i32)),
        );
        let t = _mm512_add_epi32(t, $fun!($b, $c, $d));
        $a = _mm512_add_epi32($b, _mm512_rol_epi32::<$s>(t));
    };
}

/// Transposes a 16x16 matrix of 32-bit words held one row a register.
#[target_feature(enable = "avx512f")]
fn transpose(r: [__m512i; 16]) -> [__m512i; 16] {
    // Interleave words, then pairs of words, of rows 4g..4g+3: in `q[g][c]`,
    // 128-bit chunk k holds word 4k+c of those four rows.
    let mut q = [[r[0]; 4]; 4];
    for (g, quad) in q.iter_mut().enumerate() {
        let [r0, r1, r2, r3] = [r[4 * g], r[4 * g + 1], r[4 * g + 2], r[4 * g + 3]];
        let t0 = _mm512_unpacklo_epi32(r0, r1);
        let t1 = _mm512_unpackhi_epi32(r0, r1);
        let t2 = _mm512_unpacklo_epi32(r2, r3);
        let t3 = _mm512_unpackhi_epi32(r2, r3);
        *quad = [
            _mm512_unpacklo_epi64(t0, t2),
            _mm512_unpackhi_epi64(t0, t2),
            _mm512_unpacklo_epi64(t1, t3),
            _mm512_unpackhi_epi64(t1, t3),
        ];
    }
    // Gather chunk k of q[0..4][c] into word 4k+c's register.
    let mut out = [r[0]; 16];
    for c in 0..4 {
        let v = _mm512_shuffle_i32x4::<0x44>(q[0][c], q[1][c]);
        let w = _mm512_shuffle_i32x4::<0xEE>(q[0][c], q[1][c]);
        let x = _mm512_shuffle_i32x4::<0x44>(q[2][c], q[3][c]);
        let y = _mm512_shuffle_i32x4::<0xEE>(q[2][c], q[3][c]);
        out[c] = _mm512_shuffle_i32x4::<0x88>(v, x);
        out[4 + c] = _mm512_shuffle_i32x4::<0xDD>(v, x);
        out[8 + c] = _mm512_shuffle_i32x4::<0x88>(w, y);
        out[12 + c] = _mm512_shuffle_i32x4::<0xDD>(w, y);
    }
    out
}

/// # Safety
/// Every lane must hold at least `blocks * BLOCK` bytes.
#[target_feature(enable = "avx512f")]
unsafe fn compress16_avx512(state: &mut State, lanes: &[&[u8]; LANES], blocks: usize) {
    // SAFETY: each state row is 16 u32s, exactly one unaligned 64-byte load.
    let [mut a, mut b, mut c, mut d] = unsafe {
        [
            _mm512_loadu_si512(state[0].as_ptr().cast()),
            _mm512_loadu_si512(state[1].as_ptr().cast()),
            _mm512_loadu_si512(state[2].as_ptr().cast()),
            _mm512_loadu_si512(state[3].as_ptr().cast()),
        ]
    };
    for n in 0..blocks {
        let off = n * BLOCK;
        let mut rows = [a; LANES];
        for (row, lane) in rows.iter_mut().zip(lanes) {
            // SAFETY: the caller guarantees every lane holds `blocks * BLOCK`
            // bytes, so bytes off..off + 64 are inside each lane's slice.
            *row = unsafe { _mm512_loadu_si512(lane.as_ptr().add(off).cast()) };
        }
        let m = transpose(rows);
        let (a0, b0, c0, d0) = (a, b, c, d);
        step!(ff, a, b, c, d, m[0], 0, 7);
        step!(ff, d, a, b, c, m[1], 1, 12);
        step!(ff, c, d, a, b, m[2], 2, 17);
        step!(ff, b, c, d, a, m[3], 3, 22);
        step!(ff, a, b, c, d, m[4], 4, 7);
        step!(ff, d, a, b, c, m[5], 5, 12);
        step!(ff, c, d, a, b, m[6], 6, 17);
        step!(ff, b, c, d, a, m[7], 7, 22);
        step!(ff, a, b, c, d, m[8], 8, 7);
        step!(ff, d, a, b, c, m[9], 9, 12);
        step!(ff, c, d, a, b, m[10], 10, 17);
        step!(ff, b, c, d, a, m[11], 11, 22);
        step!(ff, a, b, c, d, m[12], 12, 7);
        step!(ff, d, a, b, c, m[13], 13, 12);
        step!(ff, c, d, a, b, m[14], 14, 17);
        step!(ff, b, c, d, a, m[15], 15, 22);
        step!(gg, a, b, c, d, m[1], 16, 5);
        step!(gg, d, a, b, c, m[6], 17, 9);
        step!(gg, c, d, a, b, m[11], 18, 14);
        step!(gg, b, c, d, a, m[0], 19, 20);
        step!(gg, a, b, c, d, m[5], 20, 5);
        step!(gg, d, a, b, c, m[10], 21, 9);
        step!(gg, c, d, a, b, m[15], 22, 14);
        step!(gg, b, c, d, a, m[4], 23, 20);
        step!(gg, a, b, c, d, m[9], 24, 5);
        step!(gg, d, a, b, c, m[14], 25, 9);
        step!(gg, c, d, a, b, m[3], 26, 14);
        step!(gg, b, c, d, a, m[8], 27, 20);
        step!(gg, a, b, c, d, m[13], 28, 5);
        step!(gg, d, a, b, c, m[2], 29, 9);
        step!(gg, c, d, a, b, m[7], 30, 14);
        step!(gg, b, c, d, a, m[12], 31, 20);
        step!(hh, a, b, c, d, m[5], 32, 4);
        step!(hh, d, a, b, c, m[8], 33, 11);
        step!(hh, c, d, a, b, m[11], 34, 16);
        step!(hh, b, c, d, a, m[14], 35, 23);
        step!(hh, a, b, c, d, m[1], 36, 4);
        step!(hh, d, a, b, c, m[4], 37, 11);
        step!(hh, c, d, a, b, m[7], 38, 16);
        step!(hh, b, c, d, a, m[10], 39, 23);
        step!(hh, a, b, c, d, m[13], 40, 4);
        step!(hh, d, a, b, c, m[0], 41, 11);
        step!(hh, c, d, a, b, m[3], 42, 16);
        step!(hh, b, c, d, a, m[6], 43, 23);
        step!(hh, a, b, c, d, m[9], 44, 4);
        step!(hh, d, a, b, c, m[12], 45, 11);
        step!(hh, c, d, a, b, m[15], 46, 16);
        step!(hh, b, c, d, a, m[2], 47, 23);
        step!(ii, a, b, c, d, m[0], 48, 6);
        step!(ii, d, a, b, c, m[7], 49, 10);
        step!(ii, c, d, a, b, m[14], 50, 15);
        step!(ii, b, c, d, a, m[5], 51, 21);
        step!(ii, a, b, c, d, m[12], 52, 6);
        step!(ii, d, a, b, c, m[3], 53, 10);
        step!(ii, c, d, a, b, m[10], 54, 15);
        step!(ii, b, c, d, a, m[1], 55, 21);
        step!(ii, a, b, c, d, m[8], 56, 6);
        step!(ii, d, a, b, c, m[15], 57, 10);
        step!(ii, c, d, a, b, m[6], 58, 15);
        step!(ii, b, c, d, a, m[13], 59, 21);
        step!(ii, a, b, c, d, m[4], 60, 6);
        step!(ii, d, a, b, c, m[11], 61, 10);
        step!(ii, c, d, a, b, m[2], 62, 15);
        step!(ii, b, c, d, a, m[9], 63, 21);
        a = _mm512_add_epi32(a, a0);
        b = _mm512_add_epi32(b, b0);
        c = _mm512_add_epi32(c, c0);
        d = _mm512_add_epi32(d, d0);
    }
    for (row, v) in state.iter_mut().zip([a, b, c, d]) {
        // SAFETY: each state row is 16 u32s, exactly one unaligned 64-byte store.
        unsafe { _mm512_storeu_si512(row.as_mut_ptr().cast(), v) };
    }
}
