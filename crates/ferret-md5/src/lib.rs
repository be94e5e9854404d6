//! MD5 of many buffers at once.
//!
//! One MD5 stream is a chain of dependent 32-bit operations, so it cannot use a
//! wide vector unit; independent buffers can. [`md5_many`] hashes up to 16
//! buffers side by side in the 32-bit lanes of AVX-512 registers, starting the
//! next buffer in a lane as soon as one finishes, and uses the scalar `md-5`
//! crate on CPUs without AVX-512. Digests are identical either way.

use std::cmp::Reverse;

use md5::{Digest as _, Md5};

#[cfg(target_arch = "x86_64")]
mod avx512;

/// An MD5 digest.
pub type Digest = [u8; 16];

/// Buffers hashed side by side.
const LANES: usize = 16;
/// MD5 block size in bytes.
const BLOCK: usize = 64;
/// The four state words (rows) of each lane (columns).
type State = [[u32; LANES]; 4];

const IV: [u32; 4] = [0x6745_2301, 0xefcd_ab89, 0x98ba_dcfe, 0x1032_5476];

/// `floor(abs(sin(i + 1)) * 2^32)`, the additive constant of step `i`.
const K: [u32; 64] = [
    0xd76aa478, 0xe8c7b756, 0x242070db, 0xc1bdceee, 0xf57c0faf, 0x4787c62a, 0xa8304613, 0xfd469501,
    0x698098d8, 0x8b44f7af, 0xffff5bb1, 0x895cd7be, 0x6b901122, 0xfd987193, 0xa679438e, 0x49b40821,
    0xf61e2562, 0xc040b340, 0x265e5a51, 0xe9b6c7aa, 0xd62f105d, 0x02441453, 0xd8a1e681, 0xe7d3fbc8,
    0x21e1cde6, 0xc33707d6, 0xf4d50d87, 0x455a14ed, 0xa9e3e905, 0xfcefa3f8, 0x676f02d9, 0x8d2a4c8a,
    0xfffa3942, 0x8771f681, 0x6d9d6122, 0xfde5380c, 0xa4beea44, 0x4bdecfa9, 0xf6bb4b60, 0xbebfbc70,
    0x289b7ec6, 0xeaa127fa, 0xd4ef3085, 0x04881d05, 0xd9d4d039, 0xe6db99e5, 0x1fa27cf8, 0xc4ac5665,
    0xf4292244, 0x432aff97, 0xab9423a7, 0xfc93a039, 0x655b59c3, 0x8f0ccc92, 0xffeff47d, 0x85845dd1,
    0x6fa87e4f, 0xfe2ce6e0, 0xa3014314, 0x4e0811a1, 0xf7537e82, 0xbd3af235, 0x2ad7d2bb, 0xeb86d391,
];

/// When no buffer waits for a lane and fewer lanes than this are busy, they
/// finish in scalar code: on Zen 4 a 16-lane round costs about 1.4 scalar
/// blocks (150 ns against 108 ns), so one busy lane is faster alone.
const SCALAR_BELOW: usize = 2;

/// MD5 of every buffer, in order: 16 at a time with AVX-512 when the CPU has
/// it, one at a time with `md-5` otherwise.
pub fn md5_many<B: AsRef<[u8]>>(bufs: &[B]) -> Vec<Digest> {
    md5_many_avx512(bufs).unwrap_or_else(|| md5_many_scalar(bufs))
}

/// MD5 of every buffer, in order, one at a time with the `md-5` crate.
pub fn md5_many_scalar<B: AsRef<[u8]>>(bufs: &[B]) -> Vec<Digest> {
    bufs.iter()
        .map(|b| Md5::digest(b.as_ref()).into())
        .collect()
}

/// MD5 of every buffer, in order, 16 at a time in AVX-512 lanes; `None` when
/// the CPU lacks AVX-512F (or is not x86-64).
pub fn md5_many_avx512<B: AsRef<[u8]>>(bufs: &[B]) -> Option<Vec<Digest>> {
    avx512_lanes(bufs, SCALAR_BELOW)
}

/// Whether [`md5_many`] uses AVX-512 on this CPU.
pub fn avx512_available() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        avx512::Avx512::detect().is_some()
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

#[cfg(target_arch = "x86_64")]
fn avx512_lanes<B: AsRef<[u8]>>(bufs: &[B], scalar_below: usize) -> Option<Vec<Digest>> {
    let simd = avx512::Avx512::detect()?;
    Some(run_lanes(bufs, scalar_below, |state, lanes| {
        simd.compress16(state, lanes)
    }))
}

#[cfg(not(target_arch = "x86_64"))]
fn avx512_lanes<B: AsRef<[u8]>>(_: &[B], _: usize) -> Option<Vec<Digest>> {
    None
}

/// One buffer's progress through a lane: its whole blocks, read in place,
/// then one or two blocks holding the last bytes, the padding and the length.
struct Lane<'a> {
    /// Position of the buffer in the batch.
    index: usize,
    /// Whole blocks not yet compressed.
    body: &'a [u8],
    tail: [u8; 2 * BLOCK],
    /// Bytes of `tail` already compressed.
    tail_done: usize,
    /// Bytes of `tail` in use: one block, or two when the length does not fit.
    tail_len: usize,
}

impl<'a> Lane<'a> {
    fn new(index: usize, data: &'a [u8]) -> Self {
        let (body, rest) = data.split_at(data.len() - data.len() % BLOCK);
        let mut tail = [0; 2 * BLOCK];
        tail[..rest.len()].copy_from_slice(rest);
        tail[rest.len()] = 0x80;
        let tail_len = if rest.len() < BLOCK - 8 {
            BLOCK
        } else {
            2 * BLOCK
        };
        let bits = (data.len() as u64).wrapping_mul(8);
        tail[tail_len - 8..tail_len].copy_from_slice(&bits.to_le_bytes());
        Self {
            index,
            body,
            tail,
            tail_done: 0,
            tail_len,
        }
    }

    /// The next bytes to compress, a whole number of blocks; empty when done.
    fn pending(&self) -> &[u8] {
        if self.body.is_empty() {
            self.tail
                .get(self.tail_done..self.tail_len)
                .unwrap_or_default()
        } else {
            self.body
        }
    }

    /// Marks `bytes` (at most `pending().len()`) as compressed.
    fn consume(&mut self, bytes: usize) {
        if self.body.is_empty() {
            self.tail_done += bytes;
        } else {
            self.body = self.body.get(bytes..).unwrap_or_default();
        }
    }

    fn is_done(&self) -> bool {
        self.body.is_empty() && self.tail_done >= self.tail_len
    }

    /// Compresses what is left in scalar code, from `state`, and returns the digest.
    fn finish_scalar(mut self, mut state: [u32; 4]) -> Digest {
        while !self.is_done() {
            let pending = self.pending();
            let mut blocks = 0;
            for block in pending.chunks_exact(BLOCK) {
                if let Ok(block) = block.try_into() {
                    compress1(&mut state, block);
                }
                blocks += 1;
            }
            self.consume(blocks * BLOCK);
        }
        digest(state)
    }
}

fn digest(state: [u32; 4]) -> Digest {
    let mut out = [0; 16];
    for (bytes, word) in out.chunks_exact_mut(4).zip(state) {
        bytes.copy_from_slice(&word.to_le_bytes());
    }
    out
}

/// Hashes `bufs` through 16 lanes of `compress16`, which compresses in each
/// lane the blocks its slice starts with (as many as the shortest has) and
/// returns how many.
fn run_lanes<B: AsRef<[u8]>>(
    bufs: &[B],
    scalar_below: usize,
    mut compress16: impl FnMut(&mut State, &[&[u8]; LANES]) -> usize,
) -> Vec<Digest> {
    let mut out = vec![[0; 16]; bufs.len()];
    // Longest first, so that the batch ends with short buffers and lanes
    // rarely idle while one long buffer finishes.
    let mut order: Vec<usize> = (0..bufs.len()).collect();
    order.sort_by_key(|&i| Reverse(bufs.get(i).map_or(0, |b| b.as_ref().len())));
    let mut queue = order
        .into_iter()
        .filter_map(|i| Some(Lane::new(i, bufs.get(i)?.as_ref())));
    let mut state: State = [[0; LANES]; 4];
    let mut lanes: [Option<Lane>; LANES] = std::array::from_fn(|_| None);
    let mut queued = bufs.len();
    for (i, slot) in lanes.iter_mut().enumerate() {
        *slot = queue.next();
        if slot.is_some() {
            queued -= 1;
            set_column(&mut state, i, IV);
        }
    }
    loop {
        let busy = lanes.iter().flatten().count();
        if busy == 0 {
            break;
        }
        if queued == 0 && busy < scalar_below {
            for (i, slot) in lanes.iter_mut().enumerate() {
                if let Some(lane) = slot.take() {
                    let index = lane.index;
                    if let Some(d) = out.get_mut(index) {
                        *d = lane.finish_scalar(column(&state, i));
                    }
                }
            }
            break;
        }
        let blocks = {
            // Idle lanes hash a copy of a busy lane's input, which costs
            // nothing extra and keeps the kernel free of masks.
            let filler = lanes
                .iter()
                .flatten()
                .map(Lane::pending)
                .next()
                .unwrap_or_default();
            let inputs: [&[u8]; LANES] =
                std::array::from_fn(|i| lanes[i].as_ref().map_or(filler, Lane::pending));
            compress16(&mut state, &inputs)
        };
        for (i, slot) in lanes.iter_mut().enumerate() {
            let Some(lane) = slot else { continue };
            lane.consume(blocks * BLOCK);
            if lane.is_done() {
                if let Some(d) = out.get_mut(lane.index) {
                    *d = digest(column(&state, i));
                }
                *slot = queue.next();
                if slot.is_some() {
                    queued -= 1;
                    set_column(&mut state, i, IV);
                }
            }
        }
    }
    out
}

fn column(state: &State, lane: usize) -> [u32; 4] {
    state.map(|row| row[lane])
}

fn set_column(state: &mut State, lane: usize, words: [u32; 4]) {
    for (row, w) in state.iter_mut().zip(words) {
        row[lane] = w;
    }
}

/// The portable equivalent of the AVX-512 kernel, lane by lane: the
/// reference the kernel is tested against.
#[cfg(test)]
fn compress16_portable(state: &mut State, lanes: &[&[u8]; LANES]) -> usize {
    let blocks = lanes.iter().map(|l| l.len() / BLOCK).min().unwrap_or(0);
    for (i, lane) in lanes.iter().enumerate() {
        let mut words = column(state, i);
        for block in lane.chunks_exact(BLOCK).take(blocks) {
            if let Ok(block) = block.try_into() {
                compress1(&mut words, block);
            }
        }
        set_column(state, i, words);
    }
    blocks
}

/// One scalar MD5 step: `a = b + rotl(a + fun(b, c, d) + m + k, s)`, with F
/// and G in forms that need one operation less once `b` is known.
macro_rules! step {
    (f, $a:ident, $b:ident, $c:ident, $d:ident, $m:expr, $k:literal, $s:literal) => {
        step!(@ $a, $b, $m, $k, $s, $d ^ ($b & ($c ^ $d)))
    };
    (g, $a:ident, $b:ident, $c:ident, $d:ident, $m:expr, $k:literal, $s:literal) => {
        step!(@ $a, $b, $m, $k, $s, $c ^ ($d & ($b ^ $c)))
    };
    (h, $a:ident, $b:ident, $c:ident, $d:ident, $m:expr, $k:literal, $s:literal) => {
        step!(@ $a, $b, $m, $k, $s, $b ^ $c ^ $d)
    };
    (i, $a:ident, $b:ident, $c:ident, $d:ident, $m:expr, $k:literal, $s:literal) => {
        step!(@ $a, $b, $m, $k, $s, $c ^ ($b | !$d))
    };
    (@ $a:ident, $b:ident, $m:expr, $k:literal, $s:literal, $fun:expr) => {
        $a = $a
            .wrapping_add($m.wrapping_add(K[$k]))
            .wrapping_add($fun)
            .rotate_left($s)
            .wrapping_add($b);
    };
}

/// The MD5 compression function on one block, for lanes that finish in scalar code.
fn compress1(state: &mut [u32; 4], block: &[u8; BLOCK]) {
    let mut m = [0u32; 16];
    for (w, bytes) in m.iter_mut().zip(block.chunks_exact(4)) {
        *w = u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
    }
    let [mut a, mut b, mut c, mut d] = *state;
    step!(f, a, b, c, d, m[0], 0, 7);
    step!(f, d, a, b, c, m[1], 1, 12);
    step!(f, c, d, a, b, m[2], 2, 17);
    step!(f, b, c, d, a, m[3], 3, 22);
    step!(f, a, b, c, d, m[4], 4, 7);
    step!(f, d, a, b, c, m[5], 5, 12);
    step!(f, c, d, a, b, m[6], 6, 17);
    step!(f, b, c, d, a, m[7], 7, 22);
    step!(f, a, b, c, d, m[8], 8, 7);
    step!(f, d, a, b, c, m[9], 9, 12);
    step!(f, c, d, a, b, m[10], 10, 17);
    step!(f, b, c, d, a, m[11], 11, 22);
    step!(f, a, b, c, d, m[12], 12, 7);
    step!(f, d, a, b, c, m[13], 13, 12);
    step!(f, c, d, a, b, m[14], 14, 17);
    step!(f, b, c, d, a, m[15], 15, 22);
    step!(g, a, b, c, d, m[1], 16, 5);
    step!(g, d, a, b, c, m[6], 17, 9);
    step!(g, c, d, a, b, m[11], 18, 14);
    step!(g, b, c, d, a, m[0], 19, 20);
    step!(g, a, b, c, d, m[5], 20, 5);
    step!(g, d, a, b, c, m[10], 21, 9);
    step!(g, c, d, a, b, m[15], 22, 14);
    step!(g, b, c, d, a, m[4], 23, 20);
    step!(g, a, b, c, d, m[9], 24, 5);
    step!(g, d, a, b, c, m[14], 25, 9);
    step!(g, c, d, a, b, m[3], 26, 14);
    step!(g, b, c, d, a, m[8], 27, 20);
    step!(g, a, b, c, d, m[13], 28, 5);
    step!(g, d, a, b, c, m[2], 29, 9);
    step!(g, c, d, a, b, m[7], 30, 14);
    step!(g, b, c, d, a, m[12], 31, 20);
    step!(h, a, b, c, d, m[5], 32, 4);
    step!(h, d, a, b, c, m[8], 33, 11);
    step!(h, c, d, a, b, m[11], 34, 16);
    step!(h, b, c, d, a, m[14], 35, 23);
    step!(h, a, b, c, d, m[1], 36, 4);
    step!(h, d, a, b, c, m[4], 37, 11);
    step!(h, c, d, a, b, m[7], 38, 16);
    step!(h, b, c, d, a, m[10], 39, 23);
    step!(h, a, b, c, d, m[13], 40, 4);
    step!(h, d, a, b, c, m[0], 41, 11);
    step!(h, c, d, a, b, m[3], 42, 16);
    step!(h, b, c, d, a, m[6], 43, 23);
    step!(h, a, b, c, d, m[9], 44, 4);
    step!(h, d, a, b, c, m[12], 45, 11);
    step!(h, c, d, a, b, m[15], 46, 16);
    step!(h, b, c, d, a, m[2], 47, 23);
    step!(i, a, b, c, d, m[0], 48, 6);
    step!(i, d, a, b, c, m[7], 49, 10);
    step!(i, c, d, a, b, m[14], 50, 15);
    step!(i, b, c, d, a, m[5], 51, 21);
    step!(i, a, b, c, d, m[12], 52, 6);
    step!(i, d, a, b, c, m[3], 53, 10);
    step!(i, c, d, a, b, m[10], 54, 15);
    step!(i, b, c, d, a, m[1], 55, 21);
    step!(i, a, b, c, d, m[8], 56, 6);
    step!(i, d, a, b, c, m[15], 57, 10);
    step!(i, c, d, a, b, m[6], 58, 15);
    step!(i, b, c, d, a, m[13], 59, 21);
    step!(i, a, b, c, d, m[4], 60, 6);
    step!(i, d, a, b, c, m[11], 61, 10);
    step!(i, c, d, a, b, m[2], 62, 15);
    step!(i, b, c, d, a, m[9], 63, 21);
    for (s, v) in state.iter_mut().zip([a, b, c, d]) {
        *s = s.wrapping_add(v);
    }
}

#[cfg(test)]
mod tests;
