//! ssdeep: context-triggered piecewise hashing (Kornblum 2006, built on
//! Tridgell's spamsum).
//!
//! A rolling hash over a 7-byte window decides where the input is cut into
//! pieces; each piece contributes one base64 character (the low 6 bits of an
//! FNV-1 hash of the piece). A cut happens where `rolling % bs == bs - 1` for
//! a block size `bs = 3 * 2^k` chosen so that roughly 64 pieces result. The
//! output `bs:sig1:sig2` holds the signature at `bs` (up to 64 characters)
//! and at `2 * bs` (up to 32 characters).
//!
//! The classic spamsum loop guesses `bs` from the input length and rehashes
//! with half the block size while the signature comes out shorter than 32
//! characters. [`Hasher`] instead tracks every candidate block size in one
//! pass, as the ssdeep library does (the piece hashes of all 32 block sizes
//! update together in SIMD lanes), and stops cutting block sizes as soon as
//! they can no longer be chosen, so the input is read exactly once and never
//! stored.
//!
//! On x86-64 CPUs with AVX-512 VBMI, [`Hasher::update`] takes a vector
//! path with the same results (see the `simd` submodule): it scans for the
//! next cut 16 to 64 positions per vector, and advances all piece hashes
//! over the bytes up to it as 64-lane table permutations.
//!
//! [`hash`] is byte-identical to the `ssdeep` tool and to `ppdeep.hash`.
//! [`compare`] gives `ppdeep.compare`'s score; [`compare_with`] can instead
//! give libfuzzy's (the C library behind the `ssdeep` tool and its Python
//! binding), which weighs substitutions differently.

use crate::error::{Echo, Error};

#[cfg(test)]
mod fast_path_tests;
#[cfg(target_arch = "x86_64")]
mod simd;

/// Chunks shorter than this take the portable path even where the vector
/// one is available.
#[cfg(target_arch = "x86_64")]
const SIMD_MIN_CHUNK: usize = 64;

/// Maximum length of the first signature.
const SPAMSUM_LENGTH: usize = 64;
/// Maximum length of the second signature, and the length below which a
/// first signature is considered too short to pick its block size.
const HALF_LENGTH: usize = SPAMSUM_LENGTH / 2;
/// Smallest block size; every block size is this times a power of two.
const MIN_BLOCK_SIZE: u64 = 3;
/// Width of the rolling-hash window, also the minimum common substring
/// length for two signatures to be scored at all.
const ROLLING_WINDOW: usize = 7;
/// Block-size levels tracked: level `i` has block size `3 << i`. The rolling
/// hash is 32 bits, so it can reach `3 * 2^k - 1` only for `k <= 30`; level 31
/// never cuts and only supplies the second signature of level 30.
const LEVELS: usize = 32;
const LAST_CUTTING_LEVEL: usize = LEVELS - 2;
/// The 32-bit FNV-1 offset basis (0x28021967) and prime (0x01000193) reduced
/// modulo 64 (0x27, 0x13). Only the low 6 bits of the hash are ever used, and
/// the low bits of a product depend only on the low bits of its factors, so
/// a 16-bit state (the narrowest SIMD multiply) gives the same characters.
const FNV_INIT: u16 = 0x27;
const FNV_PRIME: u16 = 0x13;
const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Hashes `data` in one call.
///
/// ```
/// assert_eq!(ferret_fuzzy::ssdeep::hash(b""), "3::");
/// ```
pub fn hash(data: &[u8]) -> String {
    let mut hasher = Hasher::with_input_len(data.len() as u64);
    hasher.update(data);
    hasher.digest()
}

/// spamsum's rolling hash: a plain sum, a position-weighted sum and a
/// shift/xor hash over the last 7 bytes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Roll {
    /// The last 7 bytes, newest in the low byte (older ones shift out).
    window: u64,
    h1: u32,
    h2: u32,
    h3: u32,
}

impl Roll {
    #[inline(always)]
    fn push(&mut self, byte: u8) -> u32 {
        let c = u32::from(byte);
        let leaving = u32::from((self.window >> (8 * (ROLLING_WINDOW - 1))) as u8);
        self.window = (self.window << 8) | u64::from(byte);
        self.h2 = self
            .h2
            .wrapping_sub(self.h1)
            .wrapping_add(ROLLING_WINDOW as u32 * c);
        self.h1 = self.h1.wrapping_add(c).wrapping_sub(leaving);
        self.h3 = (self.h3 << 5) ^ c;
        self.sum()
    }

    #[inline(always)]
    fn sum(&self) -> u32 {
        self.h1.wrapping_add(self.h2).wrapping_add(self.h3)
    }

    /// The state after feeding bytes whose last 8 are `window` (newest in
    /// the low byte; zeros stand for bytes before the input). Only the last
    /// 7 count: `h3` shifts anything older out of its 32 bits.
    #[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
    fn from_window(window: u64) -> Self {
        let (mut h1, mut h2, mut h3) = (0u32, 0u32, 0u32);
        for age in 0..ROLLING_WINDOW {
            let b = u32::from((window >> (8 * age)) as u8);
            h1 += b;
            h2 += (ROLLING_WINDOW - age) as u32 * b;
            h3 ^= b << (5 * age);
        }
        Roll { window, h1, h2, h3 }
    }
}

/// `window` after feeding `data`.
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
fn advance_window(window: u64, data: &[u8]) -> u64 {
    match data.last_chunk::<8>() {
        Some(last) => u64::from_be_bytes(*last),
        None => data.iter().fold(window, |w, &b| (w << 8) | u64::from(b)),
    }
}

/// The rolling sum after the bytes `last` (at most 8; the hash depends on
/// the last 7 only), as if nothing came before them.
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
fn window_sum(last: &[u8]) -> u32 {
    Roll::from_window(advance_window(0, last)).sum()
}

/// The signature being built for one block size. Its piece hashes live in
/// [`Hasher`]'s lane arrays so that all levels update together.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Level {
    /// Characters in `digest`.
    len: u8,
    /// Character for the piece cut last after the signature filled up; used
    /// as the final character when the input ends exactly on a cut.
    last: Option<u8>,
    /// The same for the 32-character form of this level, used when it serves
    /// as the second signature of the level below.
    half_last: Option<u8>,
    digest: [u8; SPAMSUM_LENGTH - 1],
}

impl Level {
    const fn new() -> Self {
        Level {
            len: 0,
            last: None,
            half_last: None,
            digest: [0; SPAMSUM_LENGTH - 1],
        }
    }

    /// Ends a piece: `h` and `half_h` are this level's piece hashes for the
    /// 64- and 32-character forms. Each restarts only while its form has room,
    /// so that the tail of the input folds into one last piece.
    #[inline(always)]
    fn cut<T: PieceHash>(&mut self, h: &mut T, half_h: &mut T) {
        let len = usize::from(self.len);
        if len < HALF_LENGTH - 1 {
            *half_h = T::INIT;
            self.half_last = None;
        } else {
            self.half_last = Some(half_h.char());
        }
        let ch = h.char();
        match self.digest.get_mut(len) {
            Some(slot) => {
                *slot = ch;
                self.len += 1;
                *h = T::INIT;
                self.last = None;
            }
            None => self.last = Some(ch),
        }
    }
}

/// A piece hash as one of the update paths keeps it: 16-bit lanes in the
/// portable loop, 8-bit vector lanes in the AVX-512 one. Only the low 6 bits
/// ever count.
trait PieceHash: Copy {
    const INIT: Self;
    /// The signature character.
    fn char(self) -> u8;
}

impl PieceHash for u16 {
    const INIT: u16 = FNV_INIT;
    #[inline(always)]
    fn char(self) -> u8 {
        b64(self)
    }
}

impl PieceHash for u8 {
    const INIT: u8 = FNV_INIT as u8;
    #[inline(always)]
    fn char(self) -> u8 {
        b64(u16::from(self))
    }
}

#[inline(always)]
fn b64(h: u16) -> u8 {
    B64[usize::from(h & 63)]
}

/// Smallest level whose block size times 64 reaches `len`: spamsum's initial
/// block-size guess, capped at the last level that can cut.
fn guess_level(len: u64) -> usize {
    let mut level = 0;
    while level < LAST_CUTTING_LEVEL && (MIN_BLOCK_SIZE << level) * (SPAMSUM_LENGTH as u64) < len {
        level += 1;
    }
    level
}

/// Streaming ssdeep hasher: feed the input in chunks of any size with
/// [`update`](Self::update) (or through [`std::io::Write`]), then read the
/// hash with [`finish`](Self::finish). The result is independent of how the
/// input was split.
///
/// Memory is fixed (about 2.3 KiB) whatever the input size.
///
/// ```
/// use std::io::Write as _;
/// let mut hasher = ferret_fuzzy::ssdeep::Hasher::new();
/// hasher.write_all(b"first chunk, ")?;
/// hasher.update(b"second chunk");
/// assert_eq!(hasher.finish()?, ferret_fuzzy::ssdeep::hash(b"first chunk, second chunk"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct Hasher {
    roll: Roll,
    /// Piece hash of every level, for the 64- and the 32-character forms.
    /// Every level is updated on every byte, which vectorises (8 lanes per
    /// SSE2 register) and costs less than tracking which levels are live; a
    /// level that never cut thereby holds the hash of the whole input, as
    /// spamsum's rehash at that block size would.
    h: [u16; LEVELS],
    half_h: [u16; LEVELS],
    levels: [Level; LEVELS],
    /// Levels below `start` can no longer be chosen and are no longer cut.
    start: usize,
    /// No level at or above this one is needed (known input length).
    cap: usize,
    /// `(1 << start) - 1`: a cut at level `start` needs these bits of
    /// `rolling + 1` clear, a cheap test before the division by 3.
    start_mask: u64,
    fed: u64,
    declared: Option<u64>,
}

impl Default for Hasher {
    fn default() -> Self {
        Self::new()
    }
}

impl Hasher {
    /// A hasher for input of unknown length.
    pub fn new() -> Self {
        Self::with_cap(LEVELS, None)
    }

    /// A hasher told the exact input length in advance (e.g. a file's size),
    /// which lets it skip block sizes too large to matter.
    /// [`finish`](Self::finish) fails if the fed length differs.
    pub fn with_input_len(len: u64) -> Self {
        Self::with_cap(guess_level(len) + 2, Some(len))
    }

    fn with_cap(cap: usize, declared: Option<u64>) -> Self {
        Hasher {
            roll: Roll::default(),
            h: [FNV_INIT; LEVELS],
            half_h: [FNV_INIT; LEVELS],
            levels: [Level::new(); LEVELS],
            start: 0,
            cap,
            start_mask: 0,
            fed: 0,
            declared,
        }
    }

    /// Bytes fed so far.
    pub fn len(&self) -> u64 {
        self.fed
    }

    /// Whether nothing has been fed yet.
    pub fn is_empty(&self) -> bool {
        self.fed == 0
    }

    /// Feeds the next chunk of input.
    pub fn update(&mut self, data: &[u8]) {
        // Short chunks are not worth moving the state into vector lanes.
        #[cfg(target_arch = "x86_64")]
        if data.len() >= SIMD_MIN_CHUNK
            && let Some(simd) = simd::Avx512::detect()
        {
            self.update_avx512(simd, data);
            return;
        }
        self.update_scalar(data);
    }

    /// [`update`](Self::update) through the AVX-512 kernels, if the CPU has
    /// them (returns whether it did); tests compare it with the portable path.
    #[cfg(test)]
    pub(crate) fn update_simd(&mut self, data: &[u8]) -> bool {
        #[cfg(target_arch = "x86_64")]
        if let Some(simd) = simd::Avx512::detect() {
            self.update_avx512(simd, data);
            return true;
        }
        let _ = data;
        false
    }

    /// [`update`](Self::update) on the portable path, whatever the CPU.
    pub(crate) fn update_scalar(&mut self, data: &[u8]) {
        // Work on locals so the hot loop keeps them in registers; they are
        // copied out and back only around the (rare, for large inputs) cuts.
        let mut roll = self.roll;
        let mut h = self.h;
        let mut half_h = self.half_h;
        let mut fed = self.fed;
        for &byte in data {
            fed += 1;
            let sum = roll.push(byte);
            let c = u16::from(byte);
            // An index loop rather than iterators: it vectorises the same in
            // release and is much cheaper in unoptimised test builds.
            let mut i = 0;
            while i < LEVELS {
                h[i] = h[i].wrapping_mul(FNV_PRIME) ^ c;
                half_h[i] = half_h[i].wrapping_mul(FNV_PRIME) ^ c;
                i += 1;
            }
            // A cut at level k means sum % (3 << k) == (3 << k) - 1, i.e.
            // 3 and 2^k both divide sum + 1 (computed without overflow).
            let next = u64::from(sum) + 1;
            if next & self.start_mask == 0 && next % 3 == 0 {
                // Cut on copies: lending `h` itself to the call would keep
                // it in memory throughout the loop.
                let (mut cut_h, mut cut_half_h) = (h, half_h);
                self.cut(
                    next.trailing_zeros() as usize,
                    fed,
                    &mut cut_h,
                    &mut cut_half_h,
                );
                (h, half_h) = (cut_h, cut_half_h);
            }
        }
        self.roll = roll;
        self.h = h;
        self.half_h = half_h;
        self.fed = fed;
    }

    /// The AVX-512 form of [`update_scalar`](Self::update_scalar), with the
    /// same effect. The vector scan finds the next cut at level `start` (the
    /// cuts of all higher levels are among those), and every piece hash
    /// advances over the bytes up to it in one pass; the per-cut bookkeeping
    /// is the same [`cut`](Self::cut) as the portable path's, on the lanes.
    #[cfg(target_arch = "x86_64")]
    fn update_avx512(&mut self, simd: simd::Avx512, data: &[u8]) {
        /// Bytes scanned ahead before the piece hashes catch up, so that the
        /// second pass still finds them in L1.
        const BLOCK: usize = 8 << 10;
        let base = self.fed;
        let mut lanes = self.lanes();
        // Bytes from `seg` on have not yet entered the piece hashes.
        let mut seg = 0;
        // The first 6 positions have windows reaching into the previous
        // chunk, which only `roll` remembers.
        let head = data.len().min(ROLLING_WINDOW - 1);
        let mut roll = self.roll;
        for (i, &byte) in data[..head].iter().enumerate() {
            if let Some(next) = self.cut_value(roll.push(byte)) {
                self.cut_lanes(simd, &mut lanes, &data[seg..=i], next, base + i as u64 + 1);
                seg = i + 1;
            }
        }
        let mut pos = head;
        while pos < data.len() {
            let end = data.len().min(pos + BLOCK);
            match simd.find_candidate(data, pos, end, self.start as u32) {
                Some(t) => {
                    // The vector test wraps at 2^32; this one does not.
                    let sum = window_sum(&data[t + 1 - ROLLING_WINDOW..=t]);
                    if let Some(next) = self.cut_value(sum) {
                        let fed = base + t as u64 + 1;
                        self.cut_lanes(simd, &mut lanes, &data[seg..=t], next, fed);
                        seg = t + 1;
                    }
                    pos = t + 1;
                }
                None => {
                    simd.apply(&mut lanes, &data[seg..end]);
                    seg = end;
                    pos = end;
                }
            }
        }
        simd.apply(&mut lanes, &data[seg..]);
        self.set_lanes(&lanes);
        self.roll = Roll::from_window(advance_window(self.roll.window, data));
        self.fed = base + data.len() as u64;
    }

    /// `rolling + 1` if the rolling sum `sum` cuts level `start`.
    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    fn cut_value(&self, sum: u32) -> Option<u64> {
        let next = u64::from(sum) + 1;
        (next & self.start_mask == 0 && next % 3 == 0).then_some(next)
    }

    /// Feeds `piece` (which ends on the cut) to the lanes, then cuts.
    #[cfg(target_arch = "x86_64")]
    fn cut_lanes(
        &mut self,
        simd: simd::Avx512,
        lanes: &mut simd::Lanes,
        piece: &[u8],
        next: u64,
        fed: u64,
    ) {
        simd.apply(lanes, piece);
        let [h, half_h] = lanes;
        self.cut(next.trailing_zeros() as usize, fed, h, half_h);
    }

    /// The piece hashes as vector lanes, low 6 bits (the only ones that
    /// reach a signature).
    #[cfg(target_arch = "x86_64")]
    fn lanes(&self) -> simd::Lanes {
        let low = |h: u16| (h & 63) as u8;
        [self.h.map(low), self.half_h.map(low)]
    }

    #[cfg(target_arch = "x86_64")]
    fn set_lanes(&mut self, lanes: &simd::Lanes) {
        self.h = lanes[0].map(u16::from);
        self.half_h = lanes[1].map(u16::from);
    }

    /// Applies a cut at every needed level from `start` up to `top`; `h`
    /// and `half_h` are the piece hashes, wherever the caller keeps them.
    #[inline(never)]
    fn cut<T: PieceHash>(
        &mut self,
        top: usize,
        fed: u64,
        h: &mut [T; LEVELS],
        half_h: &mut [T; LEVELS],
    ) {
        let top = top.min(LAST_CUTTING_LEVEL).min(self.cap - 1);
        for i in self.start..=top {
            self.levels[i].cut(&mut h[i], &mut half_h[i]);
        }
        // Once the level above `start` holds 32 characters and the input is
        // already longer than `start`'s block size allows, the final choice
        // will be above `start` whatever follows.
        while self.start + 1 < self.cap
            && usize::from(self.levels[self.start + 1].len) >= HALF_LENGTH
            && (MIN_BLOCK_SIZE << self.start) * (SPAMSUM_LENGTH as u64) < fed
        {
            self.start += 1;
        }
        self.start_mask = (1u64 << self.start) - 1;
    }

    /// The hash of everything fed so far, as `blocksize:sig1:sig2`.
    ///
    /// Fails only if the hasher was made with
    /// [`with_input_len`](Self::with_input_len) and fed a different length.
    /// The hasher is left usable: more input may follow.
    pub fn finish(&self) -> Result<String, Error> {
        match self.declared {
            Some(declared) if declared != self.fed => Err(Error::LengthMismatch {
                declared,
                fed: self.fed,
            }),
            _ => Ok(self.digest()),
        }
    }

    /// Builds the hash; the caller guarantees the declared length, if any,
    /// matched, so `cap` covers the chosen level and the one above it.
    fn digest(&self) -> String {
        // spamsum's choice: start from the guess and halve the block size
        // while the signature has fewer than 32 characters. Levels below
        // `start` were dropped only once this walk could not reach them.
        let mut chosen = guess_level(self.fed);
        while chosen > self.start && usize::from(self.levels[chosen].len) < HALF_LENGTH {
            chosen -= 1;
        }
        // chosen <= LAST_CUTTING_LEVEL, so the level above exists.
        let (first, second) = (&self.levels[chosen], &self.levels[chosen + 1]);
        let ends_on_cut = self.roll.sum() == 0;

        let mut out = String::with_capacity(16 + SPAMSUM_LENGTH + HALF_LENGTH);
        out.push_str(&(MIN_BLOCK_SIZE << chosen).to_string());
        out.push(':');
        push_signature(&mut out, &first.digest[..usize::from(first.len)]);
        // The tail after the last cut is a piece too, unless the input ended
        // exactly where the rolling hash is zero (as spamsum has it).
        if !ends_on_cut {
            out.push(char::from(b64(self.h[chosen])));
        } else if let Some(ch) = first.last {
            out.push(char::from(ch));
        }
        out.push(':');
        let half_len = usize::from(second.len).min(HALF_LENGTH - 1);
        push_signature(&mut out, &second.digest[..half_len]);
        if !ends_on_cut {
            out.push(char::from(b64(self.half_h[chosen + 1])));
        } else if let Some(ch) = second.half_last {
            out.push(char::from(ch));
        }
        out
    }
}

fn push_signature(out: &mut String, chars: &[u8]) {
    // Every byte is from the base64 alphabet, hence ASCII.
    out.extend(chars.iter().map(|&b| char::from(b)));
}

impl std::io::Write for Hasher {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.update(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// How [`compare_with`] scores two signatures. The implementations agree on
/// parsing, block-size pairing, run elimination and the 7-character common
/// substring rule, and differ where noted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Scoring {
    /// `ppdeep.compare`: Levenshtein distance (a substitution costs 1), and
    /// identical first signatures at equal block sizes score 100.
    #[default]
    Ppdeep,
    /// libfuzzy (ssdeep 2.10 and later, the `ssdeep` tool and the `ssdeep`
    /// Python binding): a substitution costs 2 (so effectively only
    /// insertions and deletions), and only hashes identical in both
    /// signatures score 100 outright.
    Libfuzzy,
}

/// Similarity score 0-100 of two ssdeep hashes, as `ppdeep.compare` gives it.
///
/// Hashes whose block sizes are neither equal nor a factor of two apart
/// score 0. A trailing `,"filename"` after the second signature, as the
/// `ssdeep` tool prints, is ignored.
///
/// ```
/// let a = "3:AXGBicFlgVNhBGcL6wCrFQEv:AXGHsNhxLsr2C";
/// assert_eq!(ferret_fuzzy::ssdeep::compare(a, a).unwrap(), 100);
/// assert!(ferret_fuzzy::ssdeep::compare(a, "nonsense").is_err());
/// ```
pub fn compare(a: &str, b: &str) -> Result<u8, Error> {
    compare_with(a, b, Scoring::Ppdeep)
}

/// Similarity score 0-100 of two ssdeep hashes under the given scoring.
pub fn compare_with(a: &str, b: &str, scoring: Scoring) -> Result<u8, Error> {
    let a = Parsed::parse(a)?;
    let b = Parsed::parse(b)?;
    let (bs1, bs2) = (a.block_size, b.block_size);
    let double = |bs: u64| bs.checked_mul(2);
    if bs1 != bs2 && double(bs2) != Some(bs1) && double(bs1) != Some(bs2) {
        return Ok(0);
    }
    let score = |x: &Stripped, y: &Stripped, bs: u64| {
        score_strings(x.as_slice(), y.as_slice(), bs, scoring)
    };
    if bs1 == bs2 {
        let identical = match scoring {
            Scoring::Ppdeep => a.first == b.first,
            Scoring::Libfuzzy => a.first == b.first && a.second == b.second,
        };
        if identical {
            return Ok(100);
        }
        let s1 = score(&a.first, &b.first, bs1);
        let s2 = score(&a.second, &b.second, bs1.saturating_mul(2));
        Ok(s1.max(s2))
    } else if double(bs2) == Some(bs1) {
        Ok(score(&a.first, &b.second, bs1))
    } else {
        Ok(score(&a.second, &b.first, bs2))
    }
}

/// A signature with runs of more than three equal characters cut to three:
/// such runs carry little information and would inflate matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stripped {
    buf: [u8; SPAMSUM_LENGTH],
    len: usize,
}

impl Stripped {
    fn new(sig: &[u8]) -> Self {
        let mut out = Stripped {
            buf: [0; SPAMSUM_LENGTH],
            len: 0,
        };
        for (i, &c) in sig.iter().enumerate() {
            let run = i >= 3 && sig[i - 1] == c && sig[i - 2] == c && sig[i - 3] == c;
            if !run && out.len < SPAMSUM_LENGTH {
                out.buf[out.len] = c;
                out.len += 1;
            }
        }
        out
    }

    fn as_slice(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

#[derive(Debug)]
struct Parsed {
    block_size: u64,
    first: Stripped,
    second: Stripped,
}

impl Parsed {
    fn parse(text: &str) -> Result<Self, Error> {
        let err = |reason| Error::InvalidSsdeep {
            input: Echo::new(text),
            reason,
        };
        let (bs, rest) = text
            .split_once(':')
            .ok_or_else(|| err("expected blocksize:sig1:sig2"))?;
        let (first, second) = rest
            .split_once(':')
            .ok_or_else(|| err("expected blocksize:sig1:sig2"))?;
        // The ssdeep tool appends ,"filename" to each hash it prints.
        let second = second.split_once(',').map_or(second, |(sig, _)| sig);
        if bs.is_empty() || !bs.bytes().all(|b| b.is_ascii_digit()) {
            return Err(err("block size is not a decimal number"));
        }
        let block_size = bs
            .parse::<u64>()
            .map_err(|_| err("block size is out of range"))?;
        for sig in [first, second] {
            if sig.len() > SPAMSUM_LENGTH {
                return Err(err("signature longer than 64 characters"));
            }
            if !sig.bytes().all(|b| B64.contains(&b)) {
                return Err(err("signature has a character outside the base64 alphabet"));
            }
        }
        Ok(Parsed {
            block_size,
            first: Stripped::new(first.as_bytes()),
            second: Stripped::new(second.as_bytes()),
        })
    }
}

fn score_strings(s1: &[u8], s2: &[u8], block_size: u64, scoring: Scoring) -> u8 {
    if !has_common_substring(s1, s2) {
        return 0;
    }
    // Both are at least ROLLING_WINDOW long here, so the sum is non-zero.
    let total = (s1.len() + s2.len()) as u64;
    let distance = match scoring {
        Scoring::Ppdeep => levenshtein(s1, s2),
        // Substitution at cost 2 never beats delete + insert, so the
        // distance is what is left after the longest common subsequence.
        Scoring::Libfuzzy => total - 2 * lcs_len(s1, s2),
    };
    // Scale to the proportion of the signatures that differs, then flip to a
    // 0-100 similarity, truncating at each step as the references do.
    let scaled = distance * SPAMSUM_LENGTH as u64 / total;
    let score = 100 - (100 * scaled / SPAMSUM_LENGTH as u64).min(100);
    // Small block sizes make short signatures match too easily; the cap only
    // bites below block size 48, where libfuzzy stops applying it.
    let uncapped = matches!(scoring, Scoring::Libfuzzy)
        && block_size >= (99 + ROLLING_WINDOW as u64) / ROLLING_WINDOW as u64 * MIN_BLOCK_SIZE;
    let cap = (block_size / MIN_BLOCK_SIZE).saturating_mul(s1.len().min(s2.len()) as u64);
    let score = if uncapped { score } else { score.min(cap) };
    // score <= 100 by construction.
    score as u8
}

fn has_common_substring(s1: &[u8], s2: &[u8]) -> bool {
    s1.windows(ROLLING_WINDOW)
        .any(|w| s2.windows(ROLLING_WINDOW).any(|v| v == w))
}

/// Levenshtein distance of two strings of at most 64 bytes.
fn levenshtein(s: &[u8], t: &[u8]) -> u64 {
    let mut prev = [0u32; SPAMSUM_LENGTH + 1];
    let mut cur = [0u32; SPAMSUM_LENGTH + 1];
    let (prev, cur) = (&mut prev[..=t.len()], &mut cur[..=t.len()]);
    for (j, v) in prev.iter_mut().enumerate() {
        *v = j as u32;
    }
    for (i, &a) in s.iter().enumerate() {
        cur[0] = i as u32 + 1;
        for (j, &b) in t.iter().enumerate() {
            let substitute = prev[j] + u32::from(a != b);
            cur[j + 1] = substitute.min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev.copy_from_slice(cur);
    }
    u64::from(prev[t.len()])
}

/// Length of the longest common subsequence of two strings of at most 64 bytes.
fn lcs_len(s: &[u8], t: &[u8]) -> u64 {
    let mut prev = [0u32; SPAMSUM_LENGTH + 1];
    let mut cur = [0u32; SPAMSUM_LENGTH + 1];
    let (prev, cur) = (&mut prev[..=t.len()], &mut cur[..=t.len()]);
    for &a in s {
        for (j, &b) in t.iter().enumerate() {
            cur[j + 1] = if a == b {
                prev[j] + 1
            } else {
                prev[j + 1].max(cur[j])
            };
        }
        prev.copy_from_slice(cur);
    }
    u64::from(prev[t.len()])
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fixed 64-bit LCG; expected values below come from `ppdeep.hash` on
    /// the same bytes.
    fn lcg(n: usize) -> Vec<u8> {
        let mut x: u64 = 1;
        (0..n)
            .map(|_| {
                x = x
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                (x >> 56) as u8
            })
            .collect()
    }

    fn with_zeros(mut v: Vec<u8>, n: usize) -> Vec<u8> {
        v.resize(v.len() + n, 0);
        v
    }

    #[test]
    fn tiny_inputs() {
        assert_eq!(hash(b""), "3::");
        assert_eq!(hash(b"a"), "3:E:E");
        assert_eq!(hash(b"abc"), "3:uG:uG");
        assert_eq!(hash(b"Hello, world!\n"), "3:a6/G:asG");
        assert_eq!(hash(&lcg(49)), "3:piH06MsHt8pK9cGPm:Ijp8k+J");
        assert_eq!(hash(&lcg(50)), "3:piH06MsHt8pK9cGP8n:Ijp8k+F");
    }

    #[test]
    fn block_size_selection_and_full_signatures() {
        assert_eq!(
            hash(&lcg(1000)),
            "24:KeEyQRArvuNgV1uBHpCqVZHWt5FXGxDeAmPKZz8zx:KtyQRArmOXu58qVhSW2yZS"
        );
        assert_eq!(
            hash(&lcg(20000)),
            "384:+Ur/r5vber5MZVOFPnzJ5lNikMk3Hd5CbXxsayGcFM5tcvKwaIBNs:rS1JbNikMkt5Qxhx5ytFBNs"
        );
        // 256 bytes: block size 6 is guessed and kept; its signature fills
        // up, so the tail folds into the 64th character.
        assert_eq!(
            hash(&(0..=255).collect::<Vec<u8>>()),
            "6:Iq103+54vmkCNMvWRQzaLhMvmNKzuxBJB16LO5SfG9YmorO0+7ymBADOMeLsGYba:Iq103+54vmkCNMvWRQzaLhMvmNKzuxB9"
        );
        assert_eq!(
            hash(&lcg(100_000)),
            "3072:o1YknPgt2glBd0P2jJEPOGJeffS3UZgxu2+:oRn44OBd0P2jmPOwd3UKuT"
        );
    }

    #[test]
    fn input_ending_where_the_rolling_hash_is_zero() {
        // Seven trailing zeros zero the rolling hash, so no tail character is
        // appended beyond what the last cut produced.
        assert_eq!(
            hash(&with_zeros(lcg(1000), 7)),
            "24:KeEyQRArvuNgV1uBHpCqVZHWt5FXGxDeAmPKZz8z:KtyQRArmOXu58qVhSW2yZ"
        );
        assert_eq!(
            hash(&with_zeros(lcg(100_000), 7)),
            "3072:o1YknPgt2glBd0P2jJEPOGJeffS3UZgxu2:oRn44OBd0P2jmPOwd3UKu"
        );
        // All zeros never cuts and ends on a zero hash: empty signatures.
        assert_eq!(hash(&[0u8; 4096]), "3::");
    }

    #[test]
    fn streaming_matches_one_shot_for_any_split() {
        let data = with_zeros(lcg(50_000), 9);
        let expected = hash(&data);
        for chunk in [1usize, 2, 7, 63, 64, 4096, 49_999] {
            let mut unsized_hasher = Hasher::new();
            let mut sized = Hasher::with_input_len(data.len() as u64);
            for piece in data.chunks(chunk) {
                unsized_hasher.update(piece);
                sized.update(piece);
            }
            assert_eq!(unsized_hasher.finish().unwrap(), expected, "chunk {chunk}");
            assert_eq!(sized.finish().unwrap(), expected, "chunk {chunk}");
        }
        let mut writer = Hasher::new();
        std::io::copy(&mut &data[..], &mut writer).unwrap();
        assert_eq!(writer.finish().unwrap(), expected);
        assert_eq!(writer.len(), data.len() as u64);
    }

    #[test]
    fn sized_and_unsized_hashers_agree_across_block_size_guesses() {
        let data = lcg(40_000);
        for n in (0..data.len())
            .step_by(397)
            .chain([191, 192, 193, 384, 385, 12288, 12289])
        {
            let mut unsized_hasher = Hasher::new();
            unsized_hasher.update(&data[..n]);
            assert_eq!(
                unsized_hasher.finish().unwrap(),
                hash(&data[..n]),
                "length {n}"
            );
        }
    }

    #[test]
    fn declared_length_must_match() {
        let mut h = Hasher::with_input_len(10);
        h.update(b"abc");
        assert_eq!(
            h.finish(),
            Err(Error::LengthMismatch {
                declared: 10,
                fed: 3
            })
        );
        h.update(b"defghij");
        assert_eq!(h.finish().unwrap(), hash(b"abcdefghij"));
    }

    #[test]
    fn compare_matches_ppdeep() {
        let cases = [
            ("3:abc:def", "12:abc:def", 0),
            ("48:ABCDEFGHIJKLMNOP:A", "48:ABCDEFGHIJKLMNOX:B", 97),
            ("3:ABCDEFGHIJ:xyz", "3:ABCDEFGHIJ:uvw", 100),
            ("6:AAAAAAABCDEFGHIJ:x", "6:AAAABCDEFGHIJ:y", 100),
            ("6:abcdefghij:KLMNOPQRST", "12:KLMNOPQRST:zz", 40),
            ("12:KLMNOPQRST:zz", "6:abcdefghij:KLMNOPQRST", 40),
            ("3:abcdef:ghijkl", "3:abcdef1:ghijkl1", 0),
            ("3::", "3::", 100),
            ("3::", "3:a:b", 0),
            ("6:ABCDEFGHIJKL:ZZ", "6:ABCDEFGHIJKM:YY", 24),
            (
                "96:ABCDEFGHIJKLMNOPQRSTUVWXYZabcdef:ZZ",
                "96:ABCDEFGHIJKLMNOPQRSTUVWXYZabcdeg:YY",
                99,
            ),
            (
                "384:+Ur/r5vber5MZVOFPnzJ5lNikMk3Hd5CbXxsayGcFM5tcvKwaIBNs:rS1JbNikMkt5Qxhx5ytFBNs",
                "384:+Ur/r5vberKMZVOFPnzJ5lNikMk3Hd5CbXxsaypcFM5tcvKwaIBNs:rn1JbNikMkt5Qxh65ytFBNs",
                99,
            ),
        ];
        for (a, b, want) in cases {
            assert_eq!(compare(a, b).unwrap(), want, "{a} vs {b}");
        }
    }

    #[test]
    fn compare_libfuzzy_matches_ssdeep_tool() {
        // Scores printed by `ssdeep -a -x` 2.14.1 for the same pairs.
        let cases = [
            ("3:abc:def", "12:abc:def", 0),
            ("48:ABCDEFGHIJKLMNOP:A", "48:ABCDEFGHIJKLMNOX:B", 94),
            ("3:ABCDEFGHIJ:xyz", "3:ABCDEFGHIJ:uvw", 10),
            ("6:AAAAAAABCDEFGHIJ:x", "6:AAAABCDEFGHIJ:y", 24),
            ("6:abcdefghij:KLMNOPQRST", "12:KLMNOPQRST:zz", 40),
            ("3::", "3::", 100),
            ("3::", "3:a:b", 0),
            (
                "96:ABCDEFGHIJKLMNOPQRSTUVWXYZabcdef:ZZ",
                "96:ABCDEFGHIJKLMNOPQRSTUVWXYZabcdeg:YY",
                97,
            ),
            (
                "384:+Ur/r5vber5MZVOFPnzJ5lNikMk3Hd5CbXxsayGcFM5tcvKwaIBNs:rS1JbNikMkt5Qxhx5ytFBNs",
                "384:+Ur/r5vberKMZVOFPnzJ5lNikMk3Hd5CbXxsaypcFM5tcvKwaIBNs:rn1JbNikMkt5Qxh65ytFBNs",
                97,
            ),
        ];
        for (a, b, want) in cases {
            assert_eq!(
                compare_with(a, b, Scoring::Libfuzzy).unwrap(),
                want,
                "{a} vs {b}"
            );
        }
    }

    #[test]
    fn compare_accepts_ssdeep_tool_filename_suffix() {
        let a = "24:KeEyQRArvuNgV1uBHpCqVZHWt5FXGxDeAmPKZz8zx:KtyQRArmOXu58qVhSW2yZS";
        let b = format!("{a},\"/tmp/x,y:z\"");
        assert_eq!(compare(a, &b).unwrap(), 100);
    }

    #[test]
    fn compare_rejects_malformed_hashes() {
        let good = "3:abcdefgh:abcd";
        let long = format!("3:{}:a", "A".repeat(65));
        for bad in [
            "",
            "3",
            "3:abc",
            ":abc:def",
            "x3:abc:def",
            "-3:abc:def",
            "3:ab$:def",
            "3:abc:d e",
            "99999999999999999999999:a:b",
            long.as_str(),
        ] {
            let err = compare(good, bad).unwrap_err();
            assert!(matches!(err, Error::InvalidSsdeep { .. }), "{bad:?}: {err}");
            assert!(compare(bad, good).is_err(), "{bad:?}");
        }
        // The message names the input, shortened when huge.
        let huge = format!("{}:a:b", "9".repeat(10_000));
        let msg = compare(&huge, good).unwrap_err().to_string();
        assert!(msg.contains("block size") && msg.len() < 300, "{msg}");
    }

    #[test]
    fn compare_survives_extreme_block_sizes() {
        let max = u64::MAX.to_string();
        let a = format!("{max}:ABCDEFGHIJ:KLMNOPQRST");
        let b = format!("{max}:ABCDEFGHIJ:KLMNOPQRSU");
        assert_eq!(compare(&a, &b).unwrap(), 100);
        assert_eq!(compare_with(&a, &b, Scoring::Libfuzzy).unwrap(), 100);
        let half = format!("{}:KLMNOPQRST:x", u64::MAX / 2);
        assert_eq!(compare(&half, &a).unwrap(), 0);
        assert_eq!(compare("0:ABCDEFGHIJ:a", "0:ABCDEFGHIK:a").unwrap(), 0);
    }
}
