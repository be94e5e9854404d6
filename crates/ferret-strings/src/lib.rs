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
