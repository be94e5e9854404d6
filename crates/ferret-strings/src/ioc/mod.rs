//! IOC extraction over extracted strings.

mod command;
mod domain;
mod email;
mod ip;
mod path;
mod url;

use std::collections::HashMap;
use std::hash::Hash;
use std::net::{Ipv4Addr, Ipv6Addr};

use serde::Serialize;

use crate::extract::FoundString;

pub use ip::IpScope;
pub use path::PathCategory;

/// Longest command line stored verbatim; longer lines (a whole script on one
/// line) are cut at this many bytes so one string cannot bloat the report.
const MAX_COMMAND_LEN: usize = 4096;

/// An IPv4 address found in the strings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Ipv4Ioc {
    /// Dotted-quad form.
    pub value: String,
    /// Address range the address belongs to (private, loopback, ...).
    pub scope: IpScope,
    /// File offset of the first occurrence.
    pub first_offset: u64,
    /// Number of occurrences.
    pub count: u64,
}

/// An IPv6 address found in the strings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Ipv6Ioc {
    /// Canonical (RFC 5952) text form.
    pub value: String,
    /// Address range the address belongs to.
    pub scope: IpScope,
    /// File offset of the first occurrence.
    pub first_offset: u64,
    /// Number of occurrences.
    pub count: u64,
}

/// A domain name found in the strings (stand-alone, as a URL host or as an
/// e-mail domain).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DomainIoc {
    /// Lower-case domain name.
    pub value: String,
    /// The registrable domain ("example.co.uk" for "a.b.example.co.uk").
    pub registrable: String,
    /// File offset of the first occurrence.
    pub first_offset: u64,
    /// Number of occurrences.
    pub count: u64,
}

/// A URL with a network scheme.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UrlIoc {
    /// The URL as written (trailing punctuation removed).
    pub value: String,
    /// Lower-case scheme (`http`, `tftp`, ...).
    pub scheme: String,
    /// Lower-case host (domain, dotted quad or bracketed IPv6).
    pub host: String,
    /// File offset of the first occurrence.
    pub first_offset: u64,
    /// Number of occurrences.
    pub count: u64,
}

/// An e-mail address.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EmailIoc {
    /// The address, domain part lower-cased.
    pub value: String,
    /// File offset of the first occurrence.
    pub first_offset: u64,
    /// Number of occurrences.
    pub count: u64,
}

/// A file-system path.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PathIoc {
    /// The path as written.
    pub value: String,
    /// Why the path matters, for sensitive paths; `None` for other paths.
    pub category: Option<PathCategory>,
    /// File offset of the first occurrence.
    pub first_offset: u64,
    /// Number of occurrences.
    pub count: u64,
}

/// A shell command line with suspicious tool use.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CommandIoc {
    /// The whole string the command was found in (at most 4096 bytes).
    pub value: String,
    /// The flagged tools in order of appearance (`wget`, `chmod`, `sh`, ...).
    pub tools: Vec<&'static str>,
    /// File offset of the first occurrence.
    pub first_offset: u64,
    /// Number of occurrences.
    pub count: u64,
}

/// All IOCs found, each list deduplicated and sorted (addresses numerically,
/// everything else by value).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Iocs {
    /// IPv4 addresses.
    pub ipv4: Vec<Ipv4Ioc>,
    /// IPv6 addresses.
    pub ipv6: Vec<Ipv6Ioc>,
    /// Domain names.
    pub domains: Vec<DomainIoc>,
    /// URLs.
    pub urls: Vec<UrlIoc>,
    /// E-mail addresses.
    pub emails: Vec<EmailIoc>,
    /// Paths.
    pub paths: Vec<PathIoc>,
    /// Suspicious command lines.
    pub commands: Vec<CommandIoc>,
}

impl Iocs {
    /// `true` when no IOC of any kind was found.
    pub fn is_empty(&self) -> bool {
        self.ipv4.is_empty()
            && self.ipv6.is_empty()
            && self.domains.is_empty()
            && self.urls.is_empty()
            && self.emails.is_empty()
            && self.paths.is_empty()
            && self.commands.is_empty()
    }
}

/// Extracts IOCs from a sequence of strings.
pub fn iocs<'a, 'd: 'a, I>(strings: I) -> Iocs
where
    I: IntoIterator<Item = &'a FoundString<'d>>,
{
    let mut extractor = IocExtractor::new();
    for s in strings {
        extractor.add(s);
    }
    extractor.finish()
}

/// First offset, count and kind-specific data of one deduplicated IOC.
#[derive(Debug)]
struct Slot<T> {
    first_offset: u64,
    count: u64,
    info: T,
}

#[derive(Debug)]
struct Table<K, T> {
    map: HashMap<K, Slot<T>>,
}

impl<K, T> Default for Table<K, T> {
    fn default() -> Self {
        Table {
            map: HashMap::new(),
        }
    }
}

impl<K: Hash + Eq, T> Table<K, T> {
    fn add(&mut self, key: K, offset: u64, info: impl FnOnce() -> T) {
        self.map
            .entry(key)
            .and_modify(|slot| {
                slot.count += 1;
                slot.first_offset = slot.first_offset.min(offset);
            })
            .or_insert_with(|| Slot {
                first_offset: offset,
                count: 1,
                info: info(),
            });
    }

    fn into_sorted(self) -> Vec<(K, Slot<T>)>
    where
        K: Ord,
    {
        let mut v: Vec<(K, Slot<T>)> = self.map.into_iter().collect();
        v.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        v
    }
}

impl Table<String, ()> {
    /// Adds by `&str` without allocating when the value is already known.
    fn add_str(&mut self, key: &str, offset: u64) {
        if let Some(slot) = self.map.get_mut(key) {
            slot.count += 1;
            slot.first_offset = slot.first_offset.min(offset);
        } else {
            self.map.insert(
                key.to_owned(),
                Slot {
                    first_offset: offset,
                    count: 1,
                    info: (),
                },
            );
        }
    }
}

const DOT: u8 = 1;
const COLON: u8 = 2;
const AT: u8 = 4;
const SLASH: u8 = 8;
/// Separators of shell command words.
const SPACE: u8 = 16;
/// Separators of simple commands (see `command::line`).
const SEP: u8 = 32;

/// The detector flags each byte value raises in [`IocExtractor::add`].
static KEY_BYTES: [u8; 256] = {
    let mut table = [0u8; 256];
    table[b'.' as usize] = DOT;
    table[b':' as usize] = COLON;
    table[b'@' as usize] = AT;
    table[b'/' as usize] = SLASH;
    let separators = *b" \t;|&`";
    let mut i = 0;
    while i < separators.len() {
        table[separators[i] as usize] = SPACE;
        i += 1;
    }
    let commands = *b";|&`()\n";
    let mut i = 0;
    while i < commands.len() {
        table[commands[i] as usize] |= SEP;
        i += 1;
    }
    table
};

/// Incremental IOC extractor: feed strings with [`IocExtractor::add`], then
/// collect the result with [`IocExtractor::finish`].
#[derive(Debug, Default)]
pub struct IocExtractor {
    ipv4: Table<Ipv4Addr, ()>,
    ipv6: Table<Ipv6Addr, ()>,
    domains: Table<String, String>,
    urls: Table<String, (String, String)>,
    emails: Table<String, ()>,
    paths: Table<String, ()>,
    commands: Table<String, Vec<&'static str>>,
}

impl IocExtractor {
    /// An extractor with no IOCs yet.
    pub fn new() -> Self {
        IocExtractor::default()
    }

    /// Scans one string for IOCs.
    pub fn add(&mut self, s: &FoundString<'_>) {
        let text = s.value.as_ref();
        let bytes = text.as_bytes();
        // Cheap byte presence checks decide which detectors can match at all:
        // one table lookup and OR a byte, no branches.
        let mut seen = 0u8;
        for &b in bytes {
            seen |= KEY_BYTES[usize::from(b)];
        }
        let dot = seen & DOT != 0;
        let colon = seen & COLON != 0;
        let at = seen & AT != 0;
        let slash = seen & SLASH != 0;
        let space = seen & SPACE != 0;

        if dot {
            ip::scan_ipv4(bytes, |at, addr| {
                self.ipv4.add(addr, s.offset_of(at), || ())
            });
            domain::scan_domains(bytes, |at, name| self.add_domain(name, s.offset_of(at)));
        }
        if colon {
            ip::scan_ipv6(bytes, |at, addr| {
                self.ipv6.add(addr, s.offset_of(at), || ())
            });
        }
        if colon && slash {
            url::scan_urls(text, |at, found| {
                let offset = s.offset_of(at);
                if let url::Host::Domain(d) = found.host_kind {
                    self.add_domain(d, s.offset_of(found.host_at));
                }
                self.urls.add(found.value.to_owned(), offset, || {
                    (
                        found.scheme.to_ascii_lowercase(),
                        found.host.to_ascii_lowercase(),
                    )
                });
            });
        }
        if at && dot {
            email::scan_emails(text, |at, local, dom, dom_at| {
                let offset = s.offset_of(at);
                let value = format!("{local}@{}", dom.to_ascii_lowercase());
                self.emails.add_str(&value, offset);
                self.add_domain(dom, s.offset_of(dom_at));
            });
        }
        if slash || dot {
            path::scan_paths(bytes, |at, p| self.paths.add_str(p, s.offset_of(at)));
        }
        if space || slash {
            let tools = command::flag_tools_in(text, seen & SEP != 0, slash);
            if !tools.is_empty() {
                let value = truncate(text, MAX_COMMAND_LEN);
                let offset = s.offset;
                if let Some(slot) = self.commands.map.get_mut(value) {
                    slot.count += 1;
                    slot.first_offset = slot.first_offset.min(offset);
                } else {
                    self.commands.add(value.to_owned(), offset, || tools);
                }
            }
        }
    }

    /// `name` has passed domain validation; stored lower-case.
    fn add_domain(&mut self, name: &str, offset: u64) {
        let lower;
        let key = if name.bytes().any(|b| b.is_ascii_uppercase()) {
            lower = name.to_ascii_lowercase();
            lower.as_str()
        } else {
            name
        };
        if let Some(slot) = self.domains.map.get_mut(key) {
            slot.count += 1;
            slot.first_offset = slot.first_offset.min(offset);
            return;
        }
        let registrable = psl::domain_str(key).unwrap_or(key).to_owned();
        self.domains.add(key.to_owned(), offset, || registrable);
    }

    /// Finishes extraction: deduplicated, sorted IOC lists.
    pub fn finish(self) -> Iocs {
        Iocs {
            ipv4: self
                .ipv4
                .into_sorted()
                .into_iter()
                .map(|(addr, slot)| Ipv4Ioc {
                    value: addr.to_string(),
                    scope: IpScope::of_v4(addr),
                    first_offset: slot.first_offset,
                    count: slot.count,
                })
                .collect(),
            ipv6: self
                .ipv6
                .into_sorted()
                .into_iter()
                .map(|(addr, slot)| Ipv6Ioc {
                    value: addr.to_string(),
                    scope: IpScope::of_v6(addr),
                    first_offset: slot.first_offset,
                    count: slot.count,
                })
                .collect(),
            domains: self
                .domains
                .into_sorted()
                .into_iter()
                .map(|(value, slot)| DomainIoc {
                    value,
                    registrable: slot.info,
                    first_offset: slot.first_offset,
                    count: slot.count,
                })
                .collect(),
            urls: self
                .urls
                .into_sorted()
                .into_iter()
                .map(|(value, slot)| UrlIoc {
                    value,
                    scheme: slot.info.0,
                    host: slot.info.1,
                    first_offset: slot.first_offset,
                    count: slot.count,
                })
                .collect(),
            emails: self
                .emails
                .into_sorted()
                .into_iter()
                .map(|(value, slot)| EmailIoc {
                    value,
                    first_offset: slot.first_offset,
                    count: slot.count,
                })
                .collect(),
            paths: self
                .paths
                .into_sorted()
                .into_iter()
                .map(|(value, slot)| PathIoc {
                    category: path::categorize(&value),
                    value,
                    first_offset: slot.first_offset,
                    count: slot.count,
                })
                .collect(),
            commands: self
                .commands
                .into_sorted()
                .into_iter()
                .map(|(value, slot)| CommandIoc {
                    value,
                    tools: slot.info,
                    first_offset: slot.first_offset,
                    count: slot.count,
                })
                .collect(),
        }
    }
}

/// Cuts `s` to at most `max` bytes on a character boundary.
fn truncate(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s.get(..end).unwrap_or(s)
}

/// Bytes that continue an identifier or number: a token adjacent to one of
/// these is part of a longer word.
#[inline]
fn is_word(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}
