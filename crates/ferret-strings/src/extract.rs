//! Printable-string extraction (ASCII and UTF-16LE), in the spirit of `strings(1)`.

use std::borrow::Cow;

use serde::Serialize;

/// Default minimum string length, the same as `strings(1)`.
pub const DEFAULT_MIN_LEN: usize = 4;

/// Default cap on the number of strings kept in a [`Strings`] result.
pub const DEFAULT_MAX_STRINGS: usize = 20_000;

use crate::simd::{self, Backend};

/// Encoding of an extracted string.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Encoding {
    /// One byte per character.
    Ascii,
    /// Two bytes per character, little-endian, high byte zero.
    Utf16le,
}

impl Encoding {
    /// Bytes per character in the file.
    pub const fn unit_len(self) -> usize {
        match self {
            Encoding::Ascii => 1,
            Encoding::Utf16le => 2,
        }
    }
}

/// Options for [`extract`] and [`iter_strings`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StringOptions {
    /// Minimum length in characters; values below 1 behave as 1 (empty strings
    /// are never reported).
    pub min_len: usize,
    /// Extract single-byte ASCII strings.
    pub ascii: bool,
    /// Extract UTF-16LE strings (printable ASCII code units, zero high byte).
    pub utf16le: bool,
    /// Cap on the strings kept in a [`Strings`] result; [`Strings::total`]
    /// still counts every string found.
    pub max_strings: usize,
}

impl Default for StringOptions {
    fn default() -> Self {
        StringOptions {
            min_len: DEFAULT_MIN_LEN,
            ascii: true,
            utf16le: true,
            max_strings: DEFAULT_MAX_STRINGS,
        }
    }
}

/// One extracted string.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FoundString<'d> {
    /// File offset of the first byte of the string.
    pub offset: u64,
    /// How the string was encoded in the file.
    pub encoding: Encoding,
    /// The decoded text (always ASCII). Borrowed from the input for ASCII
    /// strings, so the ASCII path never copies.
    pub value: Cow<'d, str>,
}

impl FoundString<'_> {
    /// File offset of the byte at `index` within [`FoundString::value`].
    pub fn offset_of(&self, index: usize) -> u64 {
        let unit = self.encoding.unit_len() as u64;
        self.offset
            .saturating_add((index as u64).saturating_mul(unit))
    }

    /// Length of the string in the file, in bytes.
    pub fn byte_len(&self) -> usize {
        self.value.len() * self.encoding.unit_len()
    }

    /// Detaches the string from the input buffer.
    pub fn into_owned(self) -> FoundString<'static> {
        FoundString {
            offset: self.offset,
            encoding: self.encoding,
            value: Cow::Owned(self.value.into_owned()),
        }
    }
}

/// Result of [`extract`]: the kept strings in file-offset order, and how many
/// were found in total.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Strings<'d> {
    /// Number of strings found, including those dropped by the cap.
    pub total: u64,
    /// `true` when `total > strings.len()` because of `max_strings`.
    pub truncated: bool,
    /// The first `max_strings` strings, ordered by file offset.
    pub strings: Vec<FoundString<'d>>,
}

impl Strings<'_> {
    /// Detaches the result from the input buffer.
    pub fn into_owned(self) -> Strings<'static> {
        Strings {
            total: self.total,
            truncated: self.truncated,
            strings: self
                .strings
                .into_iter()
                .map(FoundString::into_owned)
                .collect(),
        }
    }
}

/// Extracts strings from `data`, keeping at most `opts.max_strings` of them
/// (the first ones by file offset) while counting all.
pub fn extract<'d>(data: &'d [u8], opts: &StringOptions) -> Strings<'d> {
    let mut strings = Vec::new();
    let mut total = 0u64;
    for s in iter_strings(data, opts) {
        total += 1;
        if strings.len() < opts.max_strings {
            strings.push(s);
        }
    }
    Strings {
        total,
        truncated: total > strings.len() as u64,
        strings,
    }
}

/// Iterates over every string in `data` in file-offset order, ignoring
/// `max_strings`. ASCII strings borrow from `data`; only UTF-16LE strings
/// allocate (one `String` each).
pub fn iter_strings<'d>(data: &'d [u8], opts: &StringOptions) -> StringIter<'d> {
    iter_strings_with(data, opts, Backend::detect())
}

/// [`iter_strings`] with a chosen classifier implementation (tests compare
/// them).
pub(crate) fn iter_strings_with<'d>(
    data: &'d [u8],
    opts: &StringOptions,
    backend: Backend,
) -> StringIter<'d> {
    let min_len = opts.min_len.max(1);
    StringIter {
        ascii: RunScanner::new(data, Unit::Ascii, min_len, opts.ascii, backend),
        even: RunScanner::new(
            data,
            Unit::Utf16 { align: 0 },
            min_len,
            opts.utf16le,
            backend,
        ),
        odd: RunScanner::new(
            data,
            Unit::Utf16 { align: 1 },
            min_len,
            opts.utf16le,
            backend,
        ),
        heads: [u64::MAX; 3],
        runs: [(0, 0); 3],
        primed: false,
    }
}

/// Iterator returned by [`iter_strings`].
#[derive(Debug)]
pub struct StringIter<'d> {
    ascii: RunScanner<'d>,
    even: RunScanner<'d>,
    odd: RunScanner<'d>,
    /// File offset of each scanner's next pending run (`u64::MAX` when it has
    /// none), for the offset-ordered merge; `runs` holds the runs.
    heads: [u64; 3],
    runs: [(usize, usize); 3],
    primed: bool,
}

impl<'d> StringIter<'d> {
    fn scanner(&mut self, which: usize) -> &mut RunScanner<'d> {
        match which {
            0 => &mut self.ascii,
            1 => &mut self.even,
            _ => &mut self.odd,
        }
    }

    fn refill(&mut self, which: usize) {
        let scanner = self.scanner(which);
        let head = match scanner.next_run() {
            Some(run) => (scanner.offset(run.0), run),
            None => (u64::MAX, (0, 0)),
        };
        (self.heads[which], self.runs[which]) = head;
    }
}

impl<'d> Iterator for StringIter<'d> {
    type Item = FoundString<'d>;

    fn next(&mut self) -> Option<FoundString<'d>> {
        if !self.primed {
            self.primed = true;
            for which in 0..3 {
                self.refill(which);
            }
        }
        // Each scanner yields in offset order, so a three-way merge of their
        // heads keeps the combined stream ordered without buffering. Ties go
        // to the lower index (ASCII first).
        let [a, e, o] = self.heads;
        let which = if a <= e && a <= o {
            0
        } else if e <= o {
            1
        } else {
            2
        };
        if self.heads[which] == u64::MAX {
            return None;
        }
        let run = self.runs[which];
        let out = self.scanner(which).string(run);
        self.refill(which);
        Some(out)
    }
}

/// The character units one scanner looks at.
#[derive(Debug, Clone, Copy)]
enum Unit {
    /// Single bytes.
    Ascii,
    /// Two-byte little-endian units starting at byte offset `align` (0 or 1);
    /// two scanners cover strings at either parity.
    Utf16 { align: usize },
}

/// Blocks of 64 units classified per kernel call, plus one of lookahead.
const WINDOW: usize = 8;

/// Finds maximal runs of printable units at least `min_len` long.
///
/// The buffer is classified 64 units at a time into bitmasks (see
/// [`crate::simd`]), [`WINDOW`] blocks per call. With the current block and
/// the next one in a 128-bit word, shifts and ANDs mark the units that start
/// a run (printable, the unit before not) and have at least
/// `min(min_len, 64)` printable units from there on, so the scanner visits
/// only runs that can be reported; a run's end is the first clear bit after
/// its start, found with a trailing-zero count (a run longer than the window
/// is followed block by block).
#[derive(Debug)]
struct RunScanner<'d> {
    data: &'d [u8],
    unit: Unit,
    backend: Backend,
    min_len: usize,
    /// Shift amounts that turn a mask into "a run of `min(min_len, 64)`
    /// starts here" (doubling steps, then the remainder).
    steps: [u32; 7],
    nsteps: usize,
    /// Number of whole units in `data`.
    units: usize,
    /// Masks of the blocks at units `buf_at + 64 * k`.
    buf: [u64; WINDOW + 1],
    buf_at: usize,
    /// Index in `buf` of the current block (`0..WINDOW`).
    k: usize,
    /// Whether the unit before the current block is printable.
    carry: bool,
    /// Starts of long-enough runs in the current block not yet reported.
    cand: u64,
    done: bool,
}

impl<'d> RunScanner<'d> {
    fn new(data: &'d [u8], unit: Unit, min_len: usize, enabled: bool, backend: Backend) -> Self {
        let units = match unit {
            Unit::Ascii => data.len(),
            Unit::Utf16 { align } => data.len().saturating_sub(align) / 2,
        };
        let m = min_len.min(64) as u32;
        let mut steps = [0u32; 7];
        let mut nsteps = 0;
        let mut covered = 1;
        while covered * 2 <= m {
            steps[nsteps] = covered;
            nsteps += 1;
            covered *= 2;
        }
        if covered < m {
            steps[nsteps] = m - covered;
            nsteps += 1;
        }
        let mut s = RunScanner {
            data,
            unit,
            backend,
            min_len,
            steps,
            nsteps,
            units,
            buf: [0; WINDOW + 1],
            buf_at: 0,
            k: 0,
            carry: false,
            cand: 0,
            done: !enabled || units == 0,
        };
        if !s.done {
            s.seat(0);
        }
        s
    }

    /// Classifies `out.len()` blocks from unit index `at` (clear past the end).
    #[inline]
    fn masks(&self, at: usize, out: &mut [u64]) {
        if at >= self.units {
            out.fill(0);
            return;
        }
        match self.unit {
            Unit::Ascii => simd::ascii_masks(self.backend, self.data, at, out),
            Unit::Utf16 { align } => {
                simd::utf16_masks(self.backend, self.data, align + 2 * at, out);
            }
        }
    }

    /// Makes unit `at` the start of the current block; unit `at - 1` must not
    /// be printable (or `at` be 0).
    fn seat(&mut self, at: usize) {
        let mut buf = [0; WINDOW + 1];
        self.masks(at, &mut buf);
        self.buf = buf;
        self.buf_at = at;
        self.k = 0;
        self.carry = false;
        self.cand = self.candidates(0);
    }

    /// Run starts with at least `min(min_len, 64)` printable units in block
    /// `k` of the window.
    #[inline(always)]
    fn candidates(&self, k: usize) -> u64 {
        let cur = self.buf[k];
        let carry = if k == 0 {
            u64::from(self.carry)
        } else {
            self.buf[k - 1] >> 63
        };
        let next = self.buf[k + 1];
        let starts = cur & !(cur << 1 | carry);
        // Quick reject (most blocks of binary data): no two printable units
        // in a row, while any minimum length from 2 on needs them.
        let pairs = cur & (cur >> 1 | next << 63);
        if starts == 0 || (pairs == 0 && self.min_len > 1) {
            return 0;
        }
        // The window as a (low, high) pair of words: every step is in
        // 1..64, so each shift is a plain funnel shift (cheaper than a
        // general u128 shift).
        let (mut lo, mut hi) = (cur, next);
        for &step in &self.steps[..self.nsteps] {
            lo &= lo >> step | hi << (64 - step);
            hi &= hi >> step;
        }
        starts & lo
    }

    /// The next run as unit indexes `start..end`.
    fn next_run(&mut self) -> Option<(usize, usize)> {
        if self.done {
            return None;
        }
        loop {
            if self.cand != 0 {
                let i = self.cand.trailing_zeros() as usize;
                self.cand &= self.cand - 1;
                let blk = self.buf_at + 64 * self.k;
                let start = blk + i;
                let w = u128::from(self.buf[self.k]) | u128::from(self.buf[self.k + 1]) << 64;
                let len = (!(w >> i)).trailing_zeros() as usize;
                let end = if i + len < 128 {
                    start + len
                } else {
                    // The run goes past the window: follow it block by block.
                    let mut at = blk + 128;
                    loop {
                        let mut one = [0u64];
                        self.masks(at, &mut one);
                        let ones = (!one[0]).trailing_zeros() as usize;
                        if ones < 64 {
                            break at + ones;
                        }
                        at += 64;
                    }
                };
                if end >= blk + 128 {
                    // Unit `end` is not printable, so nothing carries in.
                    self.seat(end);
                }
                if end - start >= self.min_len {
                    return Some((start, end));
                }
                continue;
            }
            // Find the next block with candidates.
            let mut k = self.k + 1;
            loop {
                if self.buf_at + 64 * k >= self.units {
                    self.done = true;
                    return None;
                }
                if k == WINDOW {
                    // Slide the window: the lookahead block becomes block 0.
                    self.carry = self.buf[WINDOW - 1] >> 63 != 0;
                    self.buf_at += 64 * WINDOW;
                    let last = self.buf[WINDOW];
                    let mut buf = [0; WINDOW + 1];
                    buf[0] = last;
                    self.masks(self.buf_at + 64, &mut buf[1..]);
                    self.buf = buf;
                    k = 0;
                }
                let cand = self.candidates(k);
                if cand != 0 {
                    self.k = k;
                    self.cand = cand;
                    break;
                }
                k += 1;
            }
        }
    }
}

impl<'d> RunScanner<'d> {
    /// File offset of unit `at`.
    fn offset(&self, at: usize) -> u64 {
        match self.unit {
            Unit::Ascii => at as u64,
            Unit::Utf16 { align } => (align + 2 * at) as u64,
        }
    }

    /// The string of the run `start..end` returned by `next_run`.
    fn string(&self, (start, end): (usize, usize)) -> FoundString<'d> {
        let data = self.data;
        match self.unit {
            Unit::Ascii => {
                let bytes = data.get(start..end).unwrap_or_default();
                FoundString {
                    offset: start as u64,
                    encoding: Encoding::Ascii,
                    value: simd::ascii_str(bytes),
                }
            }
            Unit::Utf16 { align } => {
                let from = align + 2 * start;
                let bytes = data.get(from..align + 2 * end).unwrap_or_default();
                // Exact-size collection of the low bytes (no regrowth), then
                // an ASCII check instead of pushing chars one by one.
                let low: Vec<u8> = bytes.chunks_exact(2).map(|u| u[0]).collect();
                let value = match String::from_utf8(low) {
                    Ok(v) => v,
                    Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
                };
                FoundString {
                    offset: from as u64,
                    encoding: Encoding::Utf16le,
                    value: Cow::Owned(value),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::simd::printable;

    fn opts(min_len: usize) -> StringOptions {
        StringOptions {
            min_len,
            ..StringOptions::default()
        }
    }

    fn values(data: &[u8], o: &StringOptions) -> Vec<(u64, Encoding, String)> {
        iter_strings(data, o)
            .map(|s| (s.offset, s.encoding, s.value.into_owned()))
            .collect()
    }

    #[test]
    fn ascii_runs_with_offsets() {
        let data = b"\x00\x01hello\xffab\x00world\twide\x7f";
        let v = values(data, &opts(4));
        assert_eq!(
            v,
            vec![
                (2, Encoding::Ascii, "hello".to_string()),
                (11, Encoding::Ascii, "world\twide".to_string()),
            ]
        );
    }

    #[test]
    fn min_len_boundary() {
        let data = b"abc\x00abcd\x00abcde";
        let got: Vec<String> = values(data, &opts(4)).into_iter().map(|v| v.2).collect();
        assert_eq!(got, ["abcd", "abcde"]);
        let got: Vec<String> = values(data, &opts(3)).into_iter().map(|v| v.2).collect();
        assert_eq!(got, ["abc", "abcd", "abcde"]);
        let got: Vec<String> = values(data, &opts(5)).into_iter().map(|v| v.2).collect();
        assert_eq!(got, ["abcde"]);
        // A run at the very end of the buffer counts.
        assert_eq!(values(b"\x00xyzw", &opts(4)).len(), 1);
        // min_len 0 behaves like 1: no empty strings.
        let ascii_only = StringOptions {
            utf16le: false,
            ..opts(0)
        };
        let got: Vec<String> = values(b"\x00a\x00", &ascii_only)
            .into_iter()
            .map(|v| v.2)
            .collect();
        assert_eq!(got, ["a"]);
        // The same bytes hold a one-character UTF-16LE string at offset 1.
        let got = values(b"\x00a\x00", &opts(1));
        assert_eq!(got.len(), 2);
        assert_eq!(got[1], (1, Encoding::Utf16le, "a".to_string()));
    }

    #[test]
    fn newline_and_del_split_strings() {
        let got: Vec<String> = values(b"line one\nline two\x7fend!", &opts(4))
            .into_iter()
            .map(|v| v.2)
            .collect();
        assert_eq!(got, ["line one", "line two", "end!"]);
    }

    fn utf16(s: &str) -> Vec<u8> {
        s.encode_utf16().flat_map(u16::to_le_bytes).collect()
    }

    #[test]
    fn utf16le_both_alignments() {
        let mut data = vec![0xffu8];
        data.extend(utf16("odd start")); // offset 1
        data.extend([0xff, 0xff, 0xff]);
        let even_at = data.len();
        assert_eq!(even_at % 2, 0);
        data.extend(utf16("even"));
        data.extend([0x01, 0x02]);
        let v = values(&data, &opts(4));
        assert_eq!(
            v,
            vec![
                (1, Encoding::Utf16le, "odd start".to_string()),
                (even_at as u64, Encoding::Utf16le, "even".to_string()),
            ]
        );
    }

    #[test]
    fn utf16le_min_len_and_non_ascii_units() {
        // "abc" is below min_len 4; U+0101 has a non-zero high byte and breaks the run.
        let mut data = utf16("abc");
        data.extend([0x00, 0x00]);
        data.extend(utf16("de\u{101}fghi"));
        let got: Vec<String> = values(&data, &opts(4)).into_iter().map(|v| v.2).collect();
        assert_eq!(got, ["fghi"]);
        let got: Vec<String> = values(&data, &opts(3)).into_iter().map(|v| v.2).collect();
        assert_eq!(got, ["abc", "fghi"]);
    }

    #[test]
    fn encodings_can_be_disabled() {
        let mut data = b"plain ascii\x00\x00".to_vec();
        data.extend(utf16("wide text"));
        let only_ascii = StringOptions {
            utf16le: false,
            ..opts(4)
        };
        let got: Vec<Encoding> = values(&data, &only_ascii)
            .into_iter()
            .map(|v| v.1)
            .collect();
        assert_eq!(got, [Encoding::Ascii]);
        let only_wide = StringOptions {
            ascii: false,
            ..opts(4)
        };
        let got: Vec<Encoding> = values(&data, &only_wide).into_iter().map(|v| v.1).collect();
        assert_eq!(got, [Encoding::Utf16le]);
    }

    #[test]
    fn merged_stream_is_offset_ordered() {
        let mut data = Vec::new();
        for i in 0..50 {
            data.extend(format!("ascii{i:03}").as_bytes());
            data.push(0xff);
            if i % 2 == 1 {
                data.push(0xfe); // flip UTF-16 parity
            }
            data.extend(utf16(&format!("wide{i:03}")));
            data.push(0xff);
        }
        let v = values(&data, &opts(4));
        assert_eq!(v.len(), 100);
        assert!(v.windows(2).all(|w| w[0].0 < w[1].0));
        assert_eq!(v.iter().filter(|x| x.1 == Encoding::Utf16le).count(), 50);
    }

    #[test]
    fn cap_is_reported() {
        let data = b"aaaa\x00bbbb\x00cccc\x00dddd\x00eeee";
        let o = StringOptions {
            max_strings: 3,
            ..opts(4)
        };
        let r = extract(data, &o);
        assert_eq!(r.total, 5);
        assert!(r.truncated);
        let kept: Vec<&str> = r.strings.iter().map(|s| s.value.as_ref()).collect();
        assert_eq!(kept, ["aaaa", "bbbb", "cccc"]);
        let r = extract(
            data,
            &StringOptions {
                max_strings: 5,
                ..opts(4)
            },
        );
        assert_eq!((r.total, r.truncated, r.strings.len()), (5, false, 5));
        let r = extract(
            data,
            &StringOptions {
                max_strings: 0,
                ..opts(4)
            },
        );
        assert_eq!((r.total, r.truncated, r.strings.len()), (5, true, 0));
    }

    #[test]
    fn empty_and_tiny_inputs() {
        assert!(values(b"", &opts(1)).is_empty());
        assert!(values(b"\x00", &opts(1)).is_empty());
        assert_eq!(values(b"a", &opts(1)).len(), 1);
        // A lone trailing byte cannot form a UTF-16 unit.
        assert!(
            values(
                b"a\x00b",
                &StringOptions {
                    ascii: false,
                    ..opts(2)
                }
            )
            .is_empty()
        );
    }

    /// Straightforward byte-by-byte reference for the skipping scanners.
    fn reference(data: &[u8], min_len: usize) -> Vec<(u64, Encoding, String)> {
        let mut out = Vec::new();
        let mut run = String::new();
        for (i, &b) in data.iter().chain(std::iter::once(&0xff)).enumerate() {
            if printable(b) && i < data.len() {
                run.push(char::from(b));
            } else {
                if run.len() >= min_len {
                    out.push(((i - run.len()) as u64, Encoding::Ascii, run.clone()));
                }
                run.clear();
            }
        }
        for align in 0..2 {
            let mut i = align;
            let mut start = i;
            run.clear();
            loop {
                let unit = data.get(i).zip(data.get(i + 1));
                match unit {
                    Some((&lo, &0)) if printable(lo) => {
                        if run.is_empty() {
                            start = i;
                        }
                        run.push(char::from(lo));
                    }
                    _ => {
                        if run.len() >= min_len {
                            out.push((start as u64, Encoding::Utf16le, run.clone()));
                        }
                        run.clear();
                        if unit.is_none() {
                            break;
                        }
                    }
                }
                i += 2;
            }
        }
        out.sort_by_key(|x| x.0);
        out
    }

    #[test]
    fn matches_reference_on_random_data() {
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for round in 0..200 {
            let len = (next() % 600) as usize;
            // Mix of text, zero bytes (UTF-16 high bytes) and binary noise.
            let data: Vec<u8> = (0..len)
                .map(|_| match next() % 8 {
                    0..=3 => b'a' + (next() % 26) as u8,
                    4 | 5 => 0,
                    6 => b'\t',
                    _ => (next() % 256) as u8,
                })
                .collect();
            let min_len = 1 + round % 7;
            let got = values(&data, &opts(min_len));
            assert_eq!(
                got,
                reference(&data, min_len),
                "round {round}, min_len {min_len}"
            );
        }
    }

    fn values_with(data: &[u8], o: &StringOptions, b: Backend) -> Vec<(u64, Encoding, String)> {
        iter_strings_with(data, o, b)
            .map(|s| (s.offset, s.encoding, s.value.into_owned()))
            .collect()
    }

    /// Buffers built from segments: ASCII text, UTF-16LE text at either
    /// parity, zeros and binary noise, with lengths around the block sizes
    /// (64 bytes, 64 units) and long runs that cross several blocks.
    fn segmented(next: &mut impl FnMut() -> u64, len: usize) -> Vec<u8> {
        let mut data = Vec::with_capacity(len + 600);
        while data.len() < len {
            let n = match next() % 4 {
                0 => 1 + (next() % 8) as usize,
                1 => 60 + (next() % 10) as usize,
                2 => 124 + (next() % 10) as usize,
                _ => (next() % 300) as usize,
            };
            match next() % 6 {
                0 | 1 => data.extend((0..n).map(|_| 0x20 + (next() % 0x5f) as u8)),
                2 => {
                    if next().is_multiple_of(2) {
                        data.push(0xfe);
                    }
                    for _ in 0..n {
                        data.extend([0x20 + (next() % 0x5f) as u8, 0]);
                    }
                }
                3 => data.extend(std::iter::repeat_n(0, n)),
                4 => data.extend(
                    [b'\t', 0x7f, 0x1f, 0x80, 0xff, b'\n'][(next() % 6) as usize..]
                        .iter()
                        .take(1),
                ),
                _ => data.extend((0..n).map(|_| next() as u8)),
            }
        }
        data.truncate(len);
        data
    }

    #[test]
    fn every_backend_matches_reference() {
        let backends = Backend::all();
        assert!(backends.contains(&Backend::Scalar));
        eprintln!("backends: {backends:?}");
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let min_lens = [1, 2, 3, 4, 5, 7, 8, 16, 31, 63, 64, 65, 100, 200];
        for round in 0..300 {
            // Lengths cover empty, sub-block, block-boundary and multi-window
            // buffers; ending the buffer anywhere ends runs mid-way.
            let len = match round % 3 {
                0 => (next() % 200) as usize,
                1 => (next() % 1500) as usize,
                _ => 1000 + (next() % 5000) as usize,
            };
            let data = segmented(&mut next, len);
            let min_len = min_lens[round % min_lens.len()];
            let want = reference(&data, min_len);
            for &b in &backends {
                assert_eq!(
                    values_with(&data, &opts(min_len), b),
                    want,
                    "{b:?} round {round}, len {len}, min_len {min_len}"
                );
            }
        }
    }

    #[test]
    fn runs_at_min_len_around_block_boundaries() {
        let backends = Backend::all();
        for min_len in [1usize, 3, 4, 64, 65] {
            for run in [min_len.saturating_sub(1).max(1), min_len, min_len + 1] {
                for at in (0..8).chain(56..72).chain(120..136).chain(180..200) {
                    // An ASCII run, and the same text as UTF-16LE right
                    // after it (at either parity), then the buffer ends
                    // inside a third run.
                    let mut data = vec![0xffu8; at];
                    data.extend(std::iter::repeat_n(b'x', run));
                    data.push(0xff);
                    for _ in 0..run {
                        data.extend([b'y', 0]);
                    }
                    data.push(0x01);
                    data.extend(std::iter::repeat_n(b'z', run));
                    let want = reference(&data, min_len);
                    for &b in &backends {
                        assert_eq!(
                            values_with(&data, &opts(min_len), b),
                            want,
                            "{b:?} min_len {min_len} run {run} at {at}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn backends_agree_on_real_binaries() {
        let backends = Backend::all();
        let mut seen = 0;
        for path in [
            "/usr/bin/ls",
            "/usr/bin/bash",
            "/usr/bin/tar",
            "/usr/bin/perl",
        ] {
            let Ok(data) = std::fs::read(path) else {
                continue;
            };
            // The first 4 MiB keep the debug-profile test quick.
            let data = &data[..data.len().min(4 << 20)];
            seen += 1;
            for min_len in [4, 6] {
                let want = reference(data, min_len);
                assert!(want.len() > 100, "{path}: only {} strings", want.len());
                for &b in &backends {
                    assert!(
                        values_with(data, &opts(min_len), b) == want,
                        "{b:?} differs from the reference on {path}, min_len {min_len}"
                    );
                }
            }
        }
        assert!(seen >= 2, "too few of the sample binaries exist");
    }

    #[test]
    fn offset_of_accounts_for_encoding() {
        let s = FoundString {
            offset: 10,
            encoding: Encoding::Utf16le,
            value: Cow::Borrowed("abcd"),
        };
        assert_eq!(s.offset_of(2), 14);
        assert_eq!(s.byte_len(), 8);
    }

    #[test]
    fn serializes_snake_case() {
        let r = extract(b"hello", &opts(4));
        let json = serde_json::to_string(&r).unwrap_or_default();
        assert_eq!(
            json,
            r#"{"total":1,"truncated":false,"strings":[{"offset":0,"encoding":"ascii","value":"hello"}]}"#
        );
    }
}
