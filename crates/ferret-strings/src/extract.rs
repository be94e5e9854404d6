//! Printable-string extraction (ASCII and UTF-16LE), in the spirit of `strings(1)`.

use std::borrow::Cow;

use serde::Serialize;

/// Default minimum string length, the same as `strings(1)`.
pub const DEFAULT_MIN_LEN: usize = 4;

/// Default cap on the number of strings kept in a [`Strings`] result.
pub const DEFAULT_MAX_STRINGS: usize = 20_000;

/// Byte classes: `true` for bytes that may appear in an extracted string
/// (printable ASCII 0x20..=0x7e and horizontal tab). A table lookup keeps the
/// scan loop branch-light.
static PRINTABLE: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0x20;
    while b <= 0x7e {
        table[b] = true;
        b += 1;
    }
    table[b'\t' as usize] = true;
    table
};

#[inline(always)]
fn printable(b: u8) -> bool {
    PRINTABLE[usize::from(b)]
}

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
    let min_len = opts.min_len.max(1);
    StringIter {
        ascii: AsciiScanner {
            data,
            pos: if opts.ascii { 0 } else { data.len() },
            min_len,
        },
        even: Utf16Scanner::new(data, 0, min_len, opts.utf16le),
        odd: Utf16Scanner::new(data, 1, min_len, opts.utf16le),
        heads: [None, None, None],
        primed: false,
    }
}

/// Iterator returned by [`iter_strings`].
#[derive(Debug)]
pub struct StringIter<'d> {
    ascii: AsciiScanner<'d>,
    even: Utf16Scanner<'d>,
    odd: Utf16Scanner<'d>,
    /// Next pending string of each scanner, for the offset-ordered merge.
    heads: [Option<FoundString<'d>>; 3],
    primed: bool,
}

impl<'d> StringIter<'d> {
    fn refill(&mut self, which: usize) {
        self.heads[which] = match which {
            0 => self.ascii.next(),
            1 => self.even.next(),
            _ => self.odd.next(),
        };
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
        // heads keeps the combined stream ordered without buffering.
        let mut best: Option<usize> = None;
        for (which, head) in self.heads.iter().enumerate() {
            if let Some(h) = head {
                let better = match best.and_then(|b| self.heads[b].as_ref()) {
                    Some(cur) => h.offset < cur.offset,
                    None => true,
                };
                if better {
                    best = Some(which);
                }
            }
        }
        let which = best?;
        let out = self.heads[which].take();
        self.refill(which);
        out
    }
}

#[derive(Debug)]
struct AsciiScanner<'d> {
    data: &'d [u8],
    pos: usize,
    min_len: usize,
}

// Both scanners skip ahead by probing: a run of at least `min_len`
// characters starting at or after `pos` must cover the character at
// `pos + min_len - 1`. If that one is not printable, no run can start before
// it, so the scan jumps past it; this reads only about one byte in `min_len`
// of non-text data. Invariant: the character before `pos` (if any) ends no
// run, so the backward scan from a printable probe stops at `pos`.

impl<'d> Iterator for AsciiScanner<'d> {
    type Item = FoundString<'d>;

    fn next(&mut self) -> Option<FoundString<'d>> {
        let data = self.data;
        let len = data.len();
        let mut pos = self.pos;
        loop {
            let probe = pos.checked_add(self.min_len - 1)?;
            if probe >= len {
                self.pos = len;
                return None;
            }
            if !printable(data[probe]) {
                pos = probe + 1;
                continue;
            }
            let mut start = probe;
            while start > pos && printable(data[start - 1]) {
                start -= 1;
            }
            let mut end = probe + 1;
            while end < len && printable(data[end]) {
                end += 1;
            }
            // data[end] (if any) is not printable: resume after it.
            pos = end + 1;
            if end - start >= self.min_len {
                self.pos = pos.min(len);
                let bytes = &data[start..end];
                // Printable bytes are ASCII, so this cannot fail; the fallback
                // keeps the code panic-free regardless.
                let value = match std::str::from_utf8(bytes) {
                    Ok(s) => Cow::Borrowed(s),
                    Err(_) => String::from_utf8_lossy(bytes),
                };
                return Some(FoundString {
                    offset: start as u64,
                    encoding: Encoding::Ascii,
                    value,
                });
            }
        }
    }
}

/// Scans 2-byte units starting at one alignment (0 or 1); two scanners cover
/// strings at either parity.
#[derive(Debug)]
struct Utf16Scanner<'d> {
    data: &'d [u8],
    pos: usize,
    min_len: usize,
}

impl<'d> Utf16Scanner<'d> {
    fn new(data: &'d [u8], align: usize, min_len: usize, enabled: bool) -> Self {
        Utf16Scanner {
            data,
            pos: if enabled { align } else { data.len() },
            min_len,
        }
    }

    /// `true` when the unit at byte `i` is a printable ASCII code unit.
    #[inline(always)]
    fn unit(&self, i: usize) -> bool {
        matches!((self.data.get(i), self.data.get(i + 1)), (Some(&lo), Some(&0)) if printable(lo))
    }
}

impl<'d> Iterator for Utf16Scanner<'d> {
    type Item = FoundString<'d>;

    fn next(&mut self) -> Option<FoundString<'d>> {
        let data = self.data;
        let len = data.len();
        let mut pos = self.pos;
        loop {
            let probe = pos.checked_add((self.min_len - 1).checked_mul(2)?)?;
            if probe.checked_add(1)? >= len {
                self.pos = len;
                return None;
            }
            if !self.unit(probe) {
                pos = probe + 2;
                continue;
            }
            let mut start = probe;
            while start > pos && self.unit(start - 2) {
                start -= 2;
            }
            let mut end = probe + 2;
            while self.unit(end) {
                end += 2;
            }
            pos = end + 2;
            let chars = (end - start) / 2;
            if chars >= self.min_len {
                self.pos = pos.min(len);
                let value: String = data[start..end]
                    .iter()
                    .step_by(2)
                    .map(|&b| char::from(b))
                    .collect();
                return Some(FoundString {
                    offset: start as u64,
                    encoding: Encoding::Utf16le,
                    value: Cow::Owned(value),
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
