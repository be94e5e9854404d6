//! TLSH, Trend Micro's locality-sensitive hash (Oliver, Cheng and Chen,
//! "TLSH - A Locality Sensitive Hash", 2013), in the default form that
//! `py-tlsh` 4.12.1 prints: 128 buckets, a 1-byte checksum and the `T1`
//! version prefix, 72 characters in all.
//!
//! Every 5-byte window of the input feeds six of its byte triplets, each
//! through a salted Pearson hash, into a histogram of buckets; the digest
//! records for each of the first 128 buckets in which quartile of the
//! histogram it lies (2 bits), plus a coded input length, the ratios of the
//! quartile boundaries and a checksum. [`diff`] gives the distance between
//! two digests (0 for identical; larger is less similar, with no upper bound
//! of 100).
//!
//! Inputs shorter than 50 bytes, or whose histogram is too uneven (at most
//! half of the buckets used, e.g. long runs of one byte), have no digest:
//! `py-tlsh` prints `TNULL` for them and this module returns `None`.
//!
//! Counts and lengths are 64-bit here; the reference keeps them in 32 bits,
//! so results can only differ for inputs of 4 GiB and more, where the
//! reference overflows.
//!
//! On x86-64 CPUs with AVX-512 VBMI/VBMI2 the windows are hashed 64 at a time
//! (the `avx512` submodule, chosen at run time); elsewhere a portable scalar
//! loop counts the same. Runs of one byte value are counted in one step.

use std::fmt;
use std::str::FromStr;

use crate::error::{Echo, Error};

#[cfg(target_arch = "x86_64")]
mod avx512;

/// The vector window loop where the CPU has one.
#[cfg(target_arch = "x86_64")]
use avx512::Avx512 as Simd;

/// No vector window loop on this architecture.
#[cfg(not(target_arch = "x86_64"))]
#[derive(Clone, Copy, Debug)]
enum Simd {}

#[cfg(not(target_arch = "x86_64"))]
impl Simd {
    fn detect() -> Option<Self> {
        None
    }

    fn feed_windows(self, _: &mut Histograms, _: &mut u8, _: &[u8]) {
        match self {}
    }
}

/// Shortest input that gets a digest.
pub const MIN_INPUT_LEN: u64 = 50;
/// Buckets that make it into the digest (of the 256 a Pearson hash can hit).
const EFFECTIVE_BUCKETS: usize = 128;
/// Digest body: 2 bits per bucket.
const CODE_SIZE: usize = EFFECTIVE_BUCKETS / 4;
/// Hex digits of a digest without its `T1` prefix: checksum, length and
/// quartile ratios (one byte each), then the body.
const HEX_LEN: usize = 2 * (3 + CODE_SIZE);
const VERSION_PREFIX: &str = "T1";
/// Weight of a length or quartile-ratio difference larger than 1 in [`diff`].
const LENGTH_MULT: u32 = 12;
const QRATIO_MULT: u32 = 12;

/// Hashes `data` in one call; `None` where `py-tlsh` prints `TNULL`.
pub fn hash(data: &[u8]) -> Option<String> {
    let mut hasher = Hasher::new();
    hasher.update(data);
    hasher.finish()
}

// Pearson's permutation of 0..=255, the one the TLSH specification uses.
const PEARSON: [u8; 256] = [
    1, 87, 49, 12, 176, 178, 102, 166, 121, 193, 6, 84, 249, 230, 44, 163, 14, 197, 213, 181, 161,
    85, 218, 80, 64, 239, 24, 226, 236, 142, 38, 200, 110, 177, 104, 103, 141, 253, 255, 50, 77,
    101, 81, 18, 45, 96, 31, 222, 25, 107, 190, 70, 86, 237, 240, 34, 72, 242, 20, 214, 244, 227,
    149, 235, 97, 234, 57, 22, 60, 250, 82, 175, 208, 5, 127, 199, 111, 62, 135, 248, 174, 169,
    211, 58, 66, 154, 106, 195, 245, 171, 17, 187, 182, 179, 0, 243, 132, 56, 148, 75, 128, 133,
    158, 100, 130, 126, 91, 13, 153, 246, 216, 219, 119, 68, 223, 78, 83, 88, 201, 99, 122, 11, 92,
    32, 136, 114, 52, 10, 138, 30, 48, 183, 156, 35, 61, 26, 143, 74, 251, 94, 129, 162, 63, 152,
    170, 7, 115, 167, 241, 206, 3, 150, 55, 59, 151, 220, 90, 53, 23, 131, 125, 173, 15, 238, 79,
    95, 89, 16, 105, 137, 225, 224, 217, 160, 37, 123, 118, 73, 2, 157, 46, 116, 9, 145, 134, 228,
    207, 212, 202, 215, 69, 229, 27, 188, 67, 124, 168, 252, 42, 4, 29, 108, 21, 247, 19, 205, 39,
    203, 233, 40, 186, 147, 198, 192, 155, 33, 164, 191, 98, 204, 165, 180, 117, 76, 140, 36, 210,
    172, 41, 54, 159, 8, 185, 232, 113, 196, 231, 47, 146, 120, 51, 65, 28, 144, 254, 221, 93, 189,
    194, 139, 112, 43, 71, 109, 184, 209,
];

const LENGTH_BOUNDS: [u32; 170] = [
    1, 2, 3, 5, 7, 11, 17, 25, 38, 57, 86, 129, 194, 291, 437, 656, 854, 1110, 1443, 1876, 2439,
    3171, 3475, 3823, 4205, 4626, 5088, 5597, 6157, 6772, 7450, 8195, 9014, 9916, 10907, 11998,
    13198, 14518, 15970, 17567, 19323, 21256, 23382, 25720, 28292, 31121, 34233, 37656, 41422,
    45564, 50121, 55133, 60646, 66711, 73382, 80721, 88793, 97672, 107439, 118183, 130002, 143002,
    157302, 173032, 190335, 209369, 230306, 253337, 278670, 306538, 337191, 370911, 408002, 448802,
    493682, 543050, 597356, 657091, 722800, 795081, 874589, 962048, 1058252, 1164078, 1280486,
    1408534, 1549388, 1704327, 1874759, 2062236, 2268459, 2495305, 2744836, 3019320, 3321252,
    3653374, 4018711, 4420582, 4862641, 5348905, 5883796, 6472176, 7119394, 7831333, 8614467,
    9475909, 10423501, 11465851, 12612437, 13873681, 15261050, 16787154, 18465870, 20312458,
    22343706, 24578077, 27035886, 29739474, 32713425, 35984770, 39583245, 43541573, 47895730,
    52685306, 57953837, 63749221, 70124148, 77136564, 84850228, 93335252, 102668779, 112935659,
    124229227, 136652151, 150317384, 165349128, 181884040, 200072456, 220079703, 242087671,
    266296456, 292926096, 322218735, 354440623, 389884688, 428873168, 471760495, 518936559,
    570830240, 627913311, 690704607, 759775136, 835752671, 919327967, 1011260767, 1112386880,
    1223623232, 1345985727, 1480584256, 1628642751, 1791507135, 1970657856, 2167723648, 2384496256,
    2622945920, 2885240448, 3173764736, 3491141248, 3840255616, 4224281216,
];
/// Salts of the checksum and the six bucket triplets: the Pearson hash of a
/// salt byte s is `PEARSON[s]`, so each salt is folded in as that value.
const SALT_CHECKSUM: u8 = PEARSON[0];
const SALT_1: u8 = PEARSON[2];
const SALT_2: u8 = PEARSON[3];
const SALT_3: u8 = PEARSON[5];
const SALT_4: u8 = PEARSON[7];
const SALT_5: u8 = PEARSON[11];
const SALT_6: u8 = PEARSON[13];

/// For each byte value `a`, the first Pearson round `PEARSON[salt ^ a]` for
/// the checksum salt (byte 0) and the six triplet salts (bytes 1-6).
const FIRST_ROUND: [u64; 256] = {
    let salts = [
        SALT_CHECKSUM,
        SALT_1,
        SALT_2,
        SALT_3,
        SALT_4,
        SALT_5,
        SALT_6,
    ];
    let mut table = [0u64; 256];
    let mut a = 0;
    while a < 256 {
        let mut k = 0;
        while k < salts.len() {
            table[a] |= (PEARSON[(salts[k] ^ a as u8) as usize] as u64) << (8 * k);
            k += 1;
        }
        a += 1;
    }
    table
};

/// The 1-byte length code: the first boundary at or above `len` (boundaries
/// grow by about 1.5x, then 1.3x, then 1.1x). Inputs beyond the last
/// boundary (about 3.9 GiB), which the reference code does not handle, get
/// the next code.
fn length_code(len: u64) -> u8 {
    // At most 170, which fits.
    LENGTH_BOUNDS.partition_point(|&bound| u64::from(bound) < len) as u8
}

/// The six buckets and the checksum step of the window ending in `w4` (`w0`
/// is the byte 4 before it).
#[inline(always)]
fn window(w4: u8, w3: u8, w2: u8, w1: u8, w0: u8, checksum: u8) -> ([u8; 6], u8) {
    // One load yields the first Pearson round for all seven salts.
    let first = FIRST_ROUND[usize::from(w4)];
    let round = |k: u32, b: u8, c: u8| {
        let h = PEARSON[usize::from((first >> (8 * k)) as u8 ^ b)];
        PEARSON[usize::from(h ^ c)]
    };
    (
        [
            round(1, w3, w2),
            round(2, w3, w1),
            round(3, w2, w1),
            round(4, w2, w0),
            round(5, w3, w0),
            round(6, w1, w0),
        ],
        round(0, w3, checksum),
    )
}

/// Counts every 5-byte window of `bytes`.
fn feed_windows(hist: &mut Histograms, checksum: &mut u8, bytes: &[u8]) {
    // Alternate windows go to the two sets of histograms: repetitive data
    // hits one bucket again and again, and an increment that waits for the
    // previous one to the same counter would stall the loop.
    let [a1, a2, a3, a4, a5, a6, b1, b2, b3, b4, b5, b6] = hist;
    let mut sum = *checksum;
    let count = |b: [u8; 6], h: [&mut [u32; 256]; 6]| {
        let [h1, h2, h3, h4, h5, h6] = h;
        h1[usize::from(b[0])] += 1;
        h2[usize::from(b[1])] += 1;
        h3[usize::from(b[2])] += 1;
        h4[usize::from(b[3])] += 1;
        h5[usize::from(b[4])] += 1;
        h6[usize::from(b[5])] += 1;
    };
    for w in bytes.windows(6).step_by(2) {
        if let &[w0, w1, w2, w3, w4, w5] = w {
            let (even, next) = window(w4, w3, w2, w1, w0, sum);
            let (odd, next) = window(w5, w4, w3, w2, w1, next);
            sum = next;
            count(
                even,
                [&mut *a1, &mut *a2, &mut *a3, &mut *a4, &mut *a5, &mut *a6],
            );
            count(
                odd,
                [&mut *b1, &mut *b2, &mut *b3, &mut *b4, &mut *b5, &mut *b6],
            );
        }
    }
    // An odd number of windows leaves the last one.
    if bytes.len() >= 5
        && (bytes.len() - 4) % 2 == 1
        && let Some(&[w0, w1, w2, w3, w4]) = bytes.last_chunk::<5>()
    {
        let (b, next) = window(w4, w3, w2, w1, w0, sum);
        sum = next;
        count(b, [a1, a2, a3, a4, a5, a6]);
    }
    *checksum = sum;
}

/// Counts `count` windows of five `v` bytes (which fit in the histograms).
fn feed_uniform(hist: &mut Histograms, checksum: &mut u8, v: u8, count: usize) {
    if count == 0 {
        return;
    }
    let (buckets, _) = window(v, v, v, v, v, 0);
    for (h, b) in hist.iter_mut().zip(buckets) {
        // `count` is at most the chunk length, which the fold keeps in range.
        h[usize::from(b)] += count as u32;
    }
    // Each window maps the checksum c to PEARSON[x ^ c] with the same x
    // (the first two rounds of `window`'s checksum step).
    let x = PEARSON[usize::from((FIRST_ROUND[usize::from(v)] as u8) ^ v)];
    let step = |c: u8| PEARSON[usize::from(x ^ c)];
    let mut c = *checksum;
    if count <= 512 {
        for _ in 0..count {
            c = step(c);
        }
    } else {
        // A permutation: walk the cycle through `c` once (at most 256
        // steps) and index it by `count` modulo its length.
        let mut cycle = Vec::with_capacity(256);
        let mut d = c;
        loop {
            cycle.push(d);
            d = step(d);
            if d == c {
                break;
            }
        }
        c = cycle[count % cycle.len()];
    }
    *checksum = c;
}

/// Per-triplet bucket counts, twice (for alternate windows).
type Histograms = [[u32; 256]; 12];

/// Runs shorter than this are left to the byte-by-byte loop.
const MIN_RUN: usize = 32;

/// Bytes searched for a run at a time: the window loop then reads them
/// again while they are still in the cache.
const RUN_SCAN: usize = 16 << 10;

/// The next run of at least [`MIN_RUN`] equal bytes that begins at or after
/// `pos - 4` (`pos >= 4`), as `(start, end)`, if one is found by looking at
/// the blocks of [`MIN_RUN`] bytes that start before `limit`.
fn next_run(data: &[u8], pos: usize, limit: usize) -> Option<(usize, usize)> {
    let lowest = pos - 4;
    let mut q = pos;
    while q < limit
        && let Some(block) = data.get(q..q + MIN_RUN)
    {
        let v = block[0];
        // Word by word with one branch: a byte-by-byte early exit would
        // mispredict often on code and tables, where neighbours are often
        // equal.
        let spread = u64::from(v) * 0x0101_0101_0101_0101;
        let differ = block.chunks_exact(8).fold(0, |acc, w| {
            acc | (u64::from_le_bytes(w.try_into().unwrap_or_default()) ^ spread)
        });
        if differ == 0 {
            let mut start = q;
            while start > lowest && data[start - 1] == v {
                start -= 1;
            }
            let end = q
                + MIN_RUN
                + data[q + MIN_RUN..]
                    .iter()
                    .position(|&b| b != v)
                    .unwrap_or(data.len() - q - MIN_RUN);
            return Some((start, end));
        }
        q += MIN_RUN;
    }
    None
}

/// Bytes after which the per-triplet `u32` histograms are folded into the
/// `u64` totals (each gets one increment per byte, so they cannot overflow
/// before). Small in unit tests so that folding is exercised.
const FOLD_AFTER: u64 = if cfg!(test) { 1000 } else { u32::MAX as u64 };

/// Streaming TLSH hasher: feed the input in chunks of any size with
/// [`update`](Self::update) (or through [`std::io::Write`]), then read the
/// digest. The result is independent of how the input was split.
#[derive(Clone)]
pub struct Hasher {
    /// One histogram per triplet, so that the six increments for a byte
    /// never wait on each other's stores.
    partial: Histograms,
    /// Bytes counted into `partial` since it was last folded into `folded`.
    unfolded: u64,
    folded: [u64; EFFECTIVE_BUCKETS],
    checksum: u8,
    /// The last (up to) four bytes fed, oldest first.
    tail: [u8; 4],
    fed: u64,
    /// The vector window loop, if the CPU has it; it counts the same.
    simd: Option<Simd>,
}

impl fmt::Debug for Hasher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Hasher")
            .field("fed", &self.fed)
            .finish_non_exhaustive()
    }
}

impl Default for Hasher {
    fn default() -> Self {
        Self::new()
    }
}

impl Hasher {
    /// A fresh hasher.
    pub fn new() -> Self {
        Hasher {
            partial: [[0; 256]; 12],
            unfolded: 0,
            folded: [0; EFFECTIVE_BUCKETS],
            checksum: 0,
            tail: [0; 4],
            fed: 0,
            simd: Simd::detect(),
        }
    }

    /// A hasher that never uses the vector window loop, to test one against
    /// the other.
    #[cfg(test)]
    pub(crate) fn scalar() -> Self {
        Hasher {
            simd: None,
            ..Self::new()
        }
    }

    /// Counts every 5-byte window of `bytes` with the fastest loop at hand.
    fn feed_windows(&mut self, bytes: &[u8]) {
        match self.simd {
            Some(simd) => simd.feed_windows(&mut self.partial, &mut self.checksum, bytes),
            None => feed_windows(&mut self.partial, &mut self.checksum, bytes),
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
    pub fn update(&mut self, mut data: &[u8]) {
        while !data.is_empty() {
            if self.unfolded >= FOLD_AFTER {
                self.fold();
            }
            let room = usize::try_from(FOLD_AFTER - self.unfolded).unwrap_or(usize::MAX);
            let (now, later) = data.split_at(data.len().min(room));
            self.update_unfolded(now);
            self.unfolded += now.len() as u64;
            data = later;
        }
    }

    fn fold(&mut self) {
        for hist in &mut self.partial {
            for (total, &n) in self.folded.iter_mut().zip(hist.iter()) {
                *total += u64::from(n);
            }
            *hist = [0; 256];
        }
        self.unfolded = 0;
    }

    /// The counts of the buckets that make up the digest.
    fn counts(&self) -> [u64; EFFECTIVE_BUCKETS] {
        let mut counts = self.folded;
        for hist in &self.partial {
            for (total, &n) in counts.iter_mut().zip(hist.iter()) {
                *total += u64::from(n);
            }
        }
        counts
    }

    /// Counts `data`, which must fit in the `u32` histograms.
    fn update_unfolded(&mut self, data: &[u8]) {
        // The first bytes of a chunk complete windows begun in earlier ones:
        // count those over the kept tail followed by the chunk's first bytes.
        let head = data.len().min(4);
        let kept = self.fed.min(4) as usize;
        let mut joined = [0u8; 8];
        joined[..kept].copy_from_slice(&self.tail[4 - kept..]);
        joined[kept..kept + head].copy_from_slice(&data[..head]);
        feed_windows(
            &mut self.partial,
            &mut self.checksum,
            &joined[..kept + head],
        );

        // Windows inside `data` end at 4.. (the input so far is then at least
        // 5 bytes long). Long runs of one byte value (padding, zeroed
        // sections) give the same buckets at every window, so they are
        // counted in one step each rather than byte by byte.
        let mut pos = 4;
        while pos < data.len() {
            let limit = data.len().min(pos + RUN_SCAN);
            let Some((run_start, run_end)) = next_run(data, pos, limit) else {
                self.feed_windows(&data[pos - 4..limit]);
                pos = limit;
                continue;
            };
            // Windows ending before `run_start + 4` still hold earlier bytes.
            let uniform_from = run_start + 4;
            self.feed_windows(&data[pos - 4..uniform_from]);
            feed_uniform(
                &mut self.partial,
                &mut self.checksum,
                data[run_start],
                run_end - uniform_from,
            );
            pos = run_end;
        }

        let mut tail = self.tail;
        for &byte in &data[..head] {
            tail = [tail[1], tail[2], tail[3], byte];
        }
        if let Some(last) = data.last_chunk::<4>() {
            tail = *last;
        }
        self.tail = tail;
        self.fed += data.len() as u64;
    }

    /// The digest of everything fed so far, or `None` if the input is too
    /// short or too uneven to have one. The hasher is left usable.
    pub fn digest(&self) -> Option<Digest> {
        if self.fed < MIN_INPUT_LEN {
            return None;
        }
        let bucket_counts = self.counts();
        let mut counts = bucket_counts;
        let used = counts.iter().filter(|&&n| n > 0).count();
        counts.sort_unstable();
        let q1 = counts[EFFECTIVE_BUCKETS / 4 - 1];
        let q2 = counts[EFFECTIVE_BUCKETS / 2 - 1];
        let q3 = counts[EFFECTIVE_BUCKETS - EFFECTIVE_BUCKETS / 4 - 1];
        // The reference refuses a histogram with no spread (q3 == 0) or with
        // half or fewer of the buckets used.
        if q3 == 0 || used <= EFFECTIVE_BUCKETS / 2 {
            return None;
        }
        let mut code = [0u8; CODE_SIZE];
        for (byte, group) in code.iter_mut().zip(bucket_counts.chunks_exact(4)) {
            for (j, &n) in group.iter().enumerate() {
                let quartile = if n > q3 {
                    3
                } else if n > q2 {
                    2
                } else if n > q1 {
                    1
                } else {
                    0
                };
                *byte |= quartile << (2 * j);
            }
        }
        // Ratios are percentages of q3, kept modulo 16 (4 bits each).
        let ratio = |q: u64| ((u128::from(q) * 100 / u128::from(q3)) % 16) as u8;
        Some(Digest {
            checksum: self.checksum,
            length: length_code(self.fed),
            q1_ratio: ratio(q1),
            q2_ratio: ratio(q2),
            code,
        })
    }

    /// The digest as `py-tlsh`'s `tlsh.hash` prints it (`T1` and 70 hex
    /// digits), or `None` where it prints `TNULL`.
    pub fn finish(&self) -> Option<String> {
        self.digest().map(|d| d.to_string())
    }
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

/// A parsed TLSH digest (128 buckets, 1-byte checksum).
///
/// Its [`Display`](fmt::Display) form is the `T1`-prefixed hex string;
/// [`FromStr`] accepts it with or without the prefix, in either case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Digest {
    checksum: u8,
    length: u8,
    q1_ratio: u8,
    q2_ratio: u8,
    /// Byte `i` holds buckets `4i..4i+4`, bucket `4i+j` in bits `2j..2j+2`.
    code: [u8; CODE_SIZE],
}

impl Digest {
    /// The checksum byte (a Pearson hash chained over the input).
    pub fn checksum(&self) -> u8 {
        self.checksum
    }

    /// The coded input length (roughly logarithmic).
    pub fn length_code(&self) -> u8 {
        self.length
    }

    /// First quartile as a percentage of the third, modulo 16.
    pub fn q1_ratio(&self) -> u8 {
        self.q1_ratio
    }

    /// Second quartile as a percentage of the third, modulo 16.
    pub fn q2_ratio(&self) -> u8 {
        self.q2_ratio
    }

    /// Quartile (0-3) of bucket `bucket`, or `None` past the 128 buckets.
    pub fn bucket(&self, bucket: usize) -> Option<u8> {
        let byte = self.code.get(bucket / 4)?;
        Some((byte >> (2 * (bucket % 4))) & 3)
    }

    /// Distance to `other` as `tlsh.diff` computes it: 0 for identical
    /// digests, growing without fixed bound as they differ.
    pub fn distance(&self, other: &Digest) -> u32 {
        let length = mod_diff(self.length, other.length, 256);
        let length = if length <= 1 {
            length
        } else {
            length * LENGTH_MULT
        };
        length + self.distance_ignoring_length(other)
    }

    /// Distance ignoring the input lengths, as `tlsh.diffxlen` computes it.
    pub fn distance_ignoring_length(&self, other: &Digest) -> u32 {
        let ratio = |a, b| {
            let d = mod_diff(a, b, 16);
            if d <= 1 { d } else { (d - 1) * QRATIO_MULT }
        };
        let mut diff = ratio(self.q1_ratio, other.q1_ratio) + ratio(self.q2_ratio, other.q2_ratio);
        diff += u32::from(self.checksum != other.checksum);
        for (&a, &b) in self.code.iter().zip(&other.code) {
            diff += byte_distance(a, b);
        }
        diff
    }
}

/// Distance on a circle of `range` values.
fn mod_diff(a: u8, b: u8, range: u32) -> u32 {
    let d = u32::from(a.abs_diff(b));
    d.min(range - d)
}

/// Sum over the four 2-bit quartiles of a body byte: a difference of 1 or 2
/// counts as is, opposite quartiles (0 vs 3) count 6.
fn byte_distance(a: u8, b: u8) -> u32 {
    (0..4)
        .map(|j| {
            let d = ((a >> (2 * j)) & 3).abs_diff((b >> (2 * j)) & 3);
            if d == 3 { 6 } else { u32::from(d) }
        })
        .sum()
}

/// Header bytes are printed with their two hex digits swapped.
fn swap_nibbles(b: u8) -> u8 {
    b.rotate_left(4)
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(VERSION_PREFIX)?;
        let header = [
            swap_nibbles(self.checksum),
            swap_nibbles(self.length),
            (self.q1_ratio << 4) | self.q2_ratio,
        ];
        // The body is printed last bucket group first.
        for b in header.iter().chain(self.code.iter().rev()) {
            write!(f, "{b:02X}")?;
        }
        Ok(())
    }
}

impl FromStr for Digest {
    type Err = Error;

    fn from_str(text: &str) -> Result<Self, Error> {
        let err = |reason| Error::InvalidTlsh {
            input: Echo::new(text),
            reason,
        };
        let hex = text.strip_prefix(VERSION_PREFIX).unwrap_or(text).as_bytes();
        if hex.len() != HEX_LEN {
            return Err(err("expected 70 hex digits after an optional T1 prefix"));
        }
        let mut bytes = [0u8; HEX_LEN / 2];
        for (out, pair) in bytes.iter_mut().zip(hex.chunks_exact(2)) {
            let digit = |c: u8| {
                char::from(c)
                    .to_digit(16)
                    .ok_or_else(|| err("not a hex digit"))
            };
            // to_digit(16) is below 16, so the byte cannot overflow.
            *out = ((digit(pair[0])? << 4) | digit(pair[1])?) as u8;
        }
        let [checksum, length, ratios, body @ ..] = bytes;
        let mut code = [0u8; CODE_SIZE];
        for (out, &b) in code.iter_mut().zip(body.iter().rev()) {
            *out = b;
        }
        Ok(Digest {
            checksum: swap_nibbles(checksum),
            length: swap_nibbles(length),
            q1_ratio: ratios >> 4,
            q2_ratio: ratios & 0x0F,
            code,
        })
    }
}

/// Distance between two TLSH digest strings, as `tlsh.diff` gives it.
///
/// Either string may carry the `T1` prefix or not; `TNULL` and anything else
/// that is not a digest is an error.
pub fn diff(a: &str, b: &str) -> Result<u32, Error> {
    Ok(a.parse::<Digest>()?.distance(&b.parse::<Digest>()?))
}

/// Distance ignoring input lengths, as `tlsh.diffxlen` gives it.
pub fn diff_ignoring_length(a: &str, b: &str) -> Result<u32, Error> {
    Ok(a.parse::<Digest>()?
        .distance_ignoring_length(&b.parse::<Digest>()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fixed 64-bit LCG; expected values below come from `tlsh.hash`
    /// (py-tlsh 4.12.1) on the same bytes.
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

    const LCG_20000: &str =
        "T14492D0025D0326CFA1C657CE3B2F327651CD6D6AD22D9D140203A731D3739B726AE697";
    const LCG_20000_EDITED: &str =
        "T12592D0025D0326CFA1C6578E3B2F327651CD6D6AD22D9D240203A731D3739F726AE6A7";
    const LCG_1000: &str =
        "T14D11A51036AF244E598551873AAE6E718C3A66427821C4B93356A200FB702F823B01B7";

    fn lcg_20000_edited() -> Vec<u8> {
        let mut d = lcg(20000);
        d[5000..5010].copy_from_slice(b"XXXXXXXXXX");
        d[15000] ^= 0xFF;
        d
    }

    #[test]
    fn known_digests() {
        assert_eq!(
            hash(&lcg(50)).as_deref(),
            Some("T1D39002A29159044E611D609E43555568241858771A0241106865640122A17756082548")
        );
        assert_eq!(hash(&lcg(1000)).as_deref(), Some(LCG_1000));
        assert_eq!(
            hash(&lcg(100_000)).as_deref(),
            Some("T1B1A31254CD63B18E536937A909D96EBF53E05F8D92879F10A503877CE327E8813E8607")
        );
        assert_eq!(hash(&lcg(20000)).as_deref(), Some(LCG_20000));
        assert_eq!(hash(&lcg_20000_edited()).as_deref(), Some(LCG_20000_EDITED));
        assert_eq!(
            hash(&(0..=255).collect::<Vec<u8>>()).as_deref(),
            Some("T1DBD09524A6514D7D1F175ADC504E44DF554FCDE301C5002517F146D1C510194440ED1D")
        );
    }

    #[test]
    fn no_digest_for_short_or_uniform_input() {
        assert_eq!(hash(b""), None);
        assert_eq!(hash(&lcg(49)), None);
        assert_eq!(hash(&[b'a'; 100]), None);
        assert_eq!(hash(&[0u8; 4096]), None);
        // Two alternating bytes hit only a handful of buckets.
        let ab: Vec<u8> = (0..5000).map(|i| b"ab"[i % 2]).collect();
        assert_eq!(hash(&ab), None);
    }

    #[test]
    fn streaming_matches_one_shot_for_any_split() {
        let data = lcg(30_000);
        let expected = hash(&data);
        assert!(expected.is_some());
        for chunk in [1usize, 2, 3, 4, 5, 6, 9, 4096, 29_999] {
            let mut h = Hasher::new();
            for piece in data.chunks(chunk) {
                h.update(piece);
                h.update(&[]);
            }
            assert_eq!(h.finish(), expected, "chunk {chunk}");
        }
        let mut writer = Hasher::new();
        std::io::copy(&mut &data[..], &mut writer).unwrap();
        assert_eq!(writer.finish(), expected);
        assert_eq!(writer.len(), data.len() as u64);
    }

    #[test]
    fn runs_counted_at_once_match_window_by_window() {
        // Random data broken by runs of every length around the run threshold
        // and of several byte values, fed whole and in chunks that split runs.
        let mut data = lcg(20_000);
        let mut at = 100;
        for (i, len) in [5usize, 31, 32, 33, 63, 64, 65, 200, 700, 5000, 70_000]
            .into_iter()
            .enumerate()
        {
            let v = [0u8, 0xff, 0x90, 7][i % 4];
            data.splice(at..at, std::iter::repeat_n(v, len));
            at += len + 37 * (i + 1);
        }
        data.extend(std::iter::repeat_n(0, 3000));
        // Window by window, as the reference counts.
        let mut naive = Hasher::new();
        feed_windows(&mut naive.partial, &mut naive.checksum, &data);
        naive.fed = data.len() as u64;
        let expected = naive.finish();
        assert!(expected.is_some());
        assert_eq!(hash(&data), expected);
        for chunk in [1usize, 7, 32, 33, 1000, 4096] {
            let mut h = Hasher::new();
            for piece in data.chunks(chunk) {
                h.update(piece);
            }
            assert_eq!(h.finish(), expected, "chunk {chunk}");
        }
        // Nothing but one run: the checksum walks its permutation cycle.
        for v in [0u8, 1, 0x41, 0xff] {
            let run = vec![v; 100_000];
            let mut naive = Hasher::new();
            feed_windows(&mut naive.partial, &mut naive.checksum, &run);
            naive.fed = run.len() as u64;
            let mut h = Hasher::new();
            h.update(&run);
            assert_eq!(h.checksum, naive.checksum, "run of {v}");
            assert_eq!(h.counts(), naive.counts(), "run of {v}");
        }
    }

    /// splitmix64, for test inputs that vary in every bit.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        }

        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }
    }

    /// What a hasher has counted: the checksum, the digest's bucket counts
    /// and the digest.
    fn state(h: &Hasher) -> (u8, [u64; EFFECTIVE_BUCKETS], Option<String>) {
        (h.checksum, h.counts(), h.finish())
    }

    /// Checks the default hasher (the vector loop where the CPU has it)
    /// against the scalar one on `data`, whole and split at random points.
    fn check_simd(data: &[u8], rng: &mut Rng, what: &str) {
        let mut scalar = Hasher::scalar();
        scalar.update(data);
        let expected = state(&scalar);
        let mut fast = Hasher::new();
        fast.update(data);
        assert_eq!(state(&fast), expected, "{what}: {} bytes", data.len());
        let mut split = Hasher::new();
        let mut rest = data;
        while !rest.is_empty() {
            // Mostly short pieces, sometimes long ones.
            let max = if rng.below(4) == 0 { 5000 } else { 70 };
            let (piece, later) = rest.split_at(rng.below(max + 1).min(rest.len()));
            split.update(piece);
            rest = later;
        }
        assert_eq!(
            state(&split),
            expected,
            "{what} split: {} bytes",
            data.len()
        );
    }

    /// Inputs that stress the vector loop: every length around the block
    /// size, runs, few distinct bytes (the same buckets again and again).
    fn generated_inputs(rng: &mut Rng) -> Vec<(String, Vec<u8>)> {
        let mut out = Vec::new();
        let random = |rng: &mut Rng, n: usize| (0..n).map(|_| rng.next() as u8).collect::<Vec<_>>();
        for n in (0..=200).chain([255, 256, 257, 1000, 4095, 4096, 4097]) {
            out.push((format!("random {n}"), random(rng, n)));
        }
        for _ in 0..25 {
            let n = rng.below(300_000);
            out.push((format!("random {n}"), random(rng, n)));
        }
        for n in [0usize, 3, 4, 5, 49, 50, 68, 69, 100_000] {
            out.push((format!("zeros {n}"), vec![0; n]));
        }
        for alphabet in [2usize, 3, 5, 16] {
            let n = 20_000 + rng.below(20_000);
            let data = (0..n).map(|_| b"\0\x01\xffA\x90Zq\x07"[rng.below(alphabet.min(8))]);
            out.push((format!("{alphabet} symbols, {n}"), data.collect()));
        }
        for period in [2usize, 3, 7, 64, 65] {
            let unit = random(rng, period);
            let data = unit.iter().copied().cycle().take(30_000).collect();
            out.push((format!("period {period}"), data));
        }
        // Noise broken by runs of one byte value of many lengths.
        let mut runs = Vec::new();
        while runs.len() < 200_000 {
            let len = [1usize, 4, 5, 31, 32, 33, 63, 64, 65, 100, 3000][rng.below(11)];
            let v = [0u8, 0xff, 0xcc, rng.next() as u8][rng.below(4)];
            runs.extend(std::iter::repeat_n(v, len));
            let noise = rng.below(200);
            runs.extend(random(rng, noise));
        }
        out.push(("runs".to_string(), runs));
        out
    }

    #[test]
    fn simd_matches_scalar_on_generated_inputs() {
        if Simd::detect().is_none() {
            eprintln!("no vector TLSH loop on this CPU: scalar against itself");
        }
        let mut rng = Rng(7);
        for (what, data) in generated_inputs(&mut rng) {
            check_simd(&data, &mut rng, &what);
        }
    }

    #[test]
    fn simd_matches_scalar_on_system_files() {
        let mut rng = Rng(11);
        let mut paths: Vec<_> = std::fs::read_dir("/usr/bin")
            .expect("/usr/bin is readable")
            .filter_map(|e| Some(e.ok()?.path()))
            .collect();
        paths.sort();
        let mut checked = 0;
        let mut total = 0;
        // Every 8th file up to 8 MB in all: a spread of ELF layouts.
        for path in paths.iter().step_by(8) {
            let Ok(data) = std::fs::read(path) else {
                continue;
            };
            if total + data.len() > 8 << 20 {
                continue;
            }
            total += data.len();
            check_simd(&data, &mut rng, &path.display().to_string());
            checked += 1;
        }
        assert!(checked >= 10, "only {checked} files of /usr/bin checked");
    }

    #[test]
    fn vector_window_loop_matches_scalar_without_folding() {
        // The hasher folds its histograms every 1000 bytes in tests; this
        // feeds the window loops long inputs directly.
        let Some(simd) = Simd::detect() else {
            eprintln!("no vector TLSH loop on this CPU");
            return;
        };
        let mut rng = Rng(13);
        let totals = |h: &Histograms| {
            let mut t = [0u64; EFFECTIVE_BUCKETS];
            for hist in h {
                for (t, &n) in t.iter_mut().zip(hist.iter()) {
                    *t += u64::from(n);
                }
            }
            t
        };
        for (what, data) in generated_inputs(&mut rng) {
            let (mut a, mut b) = ([[0u32; 256]; 12], [[0u32; 256]; 12]);
            let checksum = rng.next() as u8;
            let (mut ca, mut cb) = (checksum, checksum);
            feed_windows(&mut a, &mut ca, &data);
            simd.feed_windows(&mut b, &mut cb, &data);
            assert_eq!((ca, totals(&a)), (cb, totals(&b)), "{what}");
        }
    }

    #[test]
    fn diff_matches_py_tlsh() {
        assert_eq!(diff(LCG_20000, LCG_20000).unwrap(), 0);
        assert_eq!(diff(LCG_20000, LCG_20000_EDITED).unwrap(), 5);
        assert_eq!(
            diff_ignoring_length(LCG_20000, LCG_20000_EDITED).unwrap(),
            5
        );
        assert_eq!(diff(LCG_20000, LCG_1000).unwrap(), 523);
        assert_eq!(diff_ignoring_length(LCG_20000, LCG_1000).unwrap(), 235);
        assert_eq!(diff(LCG_1000, LCG_20000).unwrap(), 523);
    }

    #[test]
    fn parse_accepts_what_py_tlsh_accepts() {
        // Without the prefix, and with lower-case hex digits.
        assert_eq!(diff(LCG_20000, &LCG_20000[2..]).unwrap(), 0);
        let lower = format!("T1{}", LCG_20000[2..].to_ascii_lowercase());
        assert_eq!(diff(LCG_20000, &lower).unwrap(), 0);
        let d: Digest = LCG_20000.parse().unwrap();
        assert_eq!(d.to_string(), LCG_20000);
        assert_eq!(d.checksum(), 0x44);
        assert_eq!(d.length_code(), 0x29);
        assert_eq!((d.q1_ratio(), d.q2_ratio()), (0xD, 0x0));
        // The last hex pair printed is bucket group 0.
        assert_eq!(d.bucket(0), Some(0x97 & 3));
        assert_eq!(d.bucket(3), Some(0x97 >> 6));
        assert_eq!(d.bucket(128), None);
    }

    #[test]
    fn parse_rejects_non_digests() {
        let too_long = format!("{LCG_20000}0");
        let bad_digit = LCG_20000.replace('D', "G");
        for bad in [
            "",
            "TNULL",
            "T1",
            &LCG_20000[..71],
            &too_long,
            &bad_digit,
            "t1",
            "T2",
        ] {
            let err = diff(LCG_20000, bad).unwrap_err();
            assert!(matches!(err, Error::InvalidTlsh { .. }), "{bad:?}: {err}");
        }
        let lower_prefix = LCG_20000.to_ascii_lowercase();
        assert!(diff(&lower_prefix, LCG_20000).is_err());
        // Multi-byte UTF-8 must not trip up parsing.
        assert!(diff(LCG_20000, &"é".repeat(35)).is_err());
    }

    #[test]
    fn length_codes_follow_the_reference_boundaries() {
        assert_eq!(length_code(0), 0);
        assert_eq!(length_code(1), 0);
        assert_eq!(length_code(2), 1);
        assert_eq!(length_code(50), 9);
        assert_eq!(length_code(656), 15);
        assert_eq!(length_code(657), 16);
        assert_eq!(length_code(4_224_281_216), 169);
        assert_eq!(length_code(u64::MAX), 170);
    }

    #[test]
    fn distance_components() {
        let base: Digest = LCG_20000.parse().unwrap();
        let mut other = base;
        other.length = base.length.wrapping_add(1);
        assert_eq!(base.distance(&other), 1);
        other.length = base.length.wrapping_add(3);
        assert_eq!(base.distance(&other), 36);
        assert_eq!(base.distance_ignoring_length(&other), 0);
        let mut other = base;
        other.q1_ratio = (base.q1_ratio + 15) % 16; // one step around the circle
        assert_eq!(base.distance(&other), 1);
        other.q1_ratio = (base.q1_ratio + 3) % 16;
        assert_eq!(base.distance(&other), 24);
        let mut other = base;
        other.checksum ^= 1;
        assert_eq!(base.distance(&other), 1);
        let mut other = base;
        other.code[0] ^= 0b11; // bucket 0 moves by 3 or by 1 quartiles
        let moved = (base.code[0] & 3).abs_diff(other.code[0] & 3);
        assert_eq!(
            base.distance(&other),
            if moved == 3 { 6 } else { u32::from(moved) }
        );
    }
}
