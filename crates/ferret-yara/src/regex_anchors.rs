//! Anchors of regular-expression patterns: sets of literal strings, one of which
//! every match contains.
//!
//! The regex is parsed as yara-x parses it (regex-syntax, `{,n}` allowed, bytes
//! rather than Unicode), then literal strings are derived from the syntax tree:
//! the strings a short stretch of concatenated literals and small classes can
//! match, or the union over every branch of an alternation. Whatever is doubtful
//! yields no anchors, which only costs a scan.

use regex_syntax::hir::{Class, Hir, HirKind};

/// Most strings a set may hold before it is given up.
const MAX_SET: usize = 64;
/// Largest class expanded into its members.
const MAX_CLASS: usize = 8;

/// Folded (bit 5 set on every byte) strings of which every match of the regex
/// contains one, each at least 4 bytes long; `None` when there are none.
pub(crate) fn required_literals(
    src: &str,
    case_insensitive: bool,
    dot_all: bool,
) -> Option<Vec<Vec<u8>>> {
    // yara-x reads `\<` and `\>` as the literal characters, regex-syntax as word
    // boundaries: rather than mirror that rewrite, give up.
    if src.contains("\\<") || src.contains("\\>") {
        return None;
    }
    let ast = regex_syntax::ast::parse::ParserBuilder::new()
        .empty_min_range(true)
        .build()
        .parse(src)
        .ok()?;
    let hir = regex_syntax::hir::translate::TranslatorBuilder::new()
        .case_insensitive(case_insensitive)
        .dot_matches_new_line(dot_all)
        .unicode(false)
        .utf8(false)
        .build()
        .translate(src, &ast)
        .ok()?;
    required(&hir)
}

fn fold(b: u8) -> u8 {
    b | 0x20
}

/// Every (folded) string `h` can match, when there are few.
fn exact(h: &Hir) -> Option<Vec<Vec<u8>>> {
    match h.kind() {
        HirKind::Empty | HirKind::Look(_) => Some(vec![Vec::new()]),
        HirKind::Literal(l) => Some(vec![l.0.iter().map(|&b| fold(b)).collect()]),
        HirKind::Class(c) => {
            let mut bytes: Vec<u8> = Vec::new();
            match c {
                Class::Bytes(c) => {
                    for r in c.ranges() {
                        if usize::from(r.end() - r.start()) >= MAX_CLASS * 2 {
                            return None;
                        }
                        bytes.extend((r.start()..=r.end()).map(fold));
                    }
                }
                Class::Unicode(c) => {
                    for r in c.ranges() {
                        let (s, e) = (u32::from(r.start()), u32::from(r.end()));
                        if e > 0x7f || e - s >= (MAX_CLASS * 2) as u32 {
                            return None;
                        }
                        bytes.extend((s..=e).filter_map(|b| u8::try_from(b).ok()).map(fold));
                    }
                }
            }
            bytes.sort_unstable();
            bytes.dedup();
            if bytes.is_empty() || bytes.len() > MAX_CLASS {
                return None;
            }
            Some(bytes.into_iter().map(|b| vec![b]).collect())
        }
        HirKind::Capture(c) => exact(&c.sub),
        HirKind::Concat(subs) => {
            let mut set = vec![Vec::new()];
            for s in subs {
                set = cross(&set, &exact(s)?)?;
            }
            Some(set)
        }
        HirKind::Alternation(subs) => {
            let mut set = Vec::new();
            for s in subs {
                set.extend(exact(s)?);
                if set.len() > MAX_SET {
                    return None;
                }
            }
            set.sort_unstable();
            set.dedup();
            Some(set)
        }
        // `x{n}` and short optional parts such as `(ba)?`: every count in turn.
        HirKind::Repetition(r) if r.max.is_some_and(|m| m <= 8 && m - r.min <= 2) => {
            let one = exact(&r.sub)?;
            let mut set = vec![Vec::new()];
            for _ in 0..r.min {
                set = cross(&set, &one)?;
            }
            let mut all = set.clone();
            for _ in r.min..r.max.unwrap_or(r.min) {
                set = cross(&set, &one)?;
                all.extend(set.iter().cloned());
                if all.len() > MAX_SET {
                    return None;
                }
            }
            all.sort_unstable();
            all.dedup();
            Some(all)
        }
        HirKind::Repetition(_) => None,
    }
}

fn cross(a: &[Vec<u8>], b: &[Vec<u8>]) -> Option<Vec<Vec<u8>>> {
    if a.len().saturating_mul(b.len()) > MAX_SET {
        return None;
    }
    let mut out = Vec::with_capacity(a.len() * b.len());
    for x in a {
        for y in b {
            let mut s = x.clone();
            s.extend_from_slice(y);
            out.push(s);
        }
    }
    out.sort_unstable();
    out.dedup();
    Some(out)
}

fn usable(set: &[Vec<u8>]) -> bool {
    !set.is_empty() && set.iter().all(|s| s.len() >= 4)
}

/// Strings (each >= 4 bytes) of which every match of `h` contains one.
fn required(h: &Hir) -> Option<Vec<Vec<u8>>> {
    if let Some(set) = exact(h).filter(|s| usable(s)) {
        return Some(set);
    }
    match h.kind() {
        HirKind::Capture(c) => required(&c.sub),
        HirKind::Repetition(r) if r.min >= 1 => required(&r.sub),
        HirKind::Alternation(subs) => {
            let mut set = Vec::new();
            for s in subs {
                set.extend(required(s)?);
            }
            set.sort_unstable();
            set.dedup();
            (set.len() <= MAX_SET * 4).then_some(set)
        }
        HirKind::Concat(subs) => {
            // A match of a concatenation is its parts' matches end to end, so a
            // run of consecutive exact parts matches a string of their product.
            let mut best: Option<Vec<Vec<u8>>> = None;
            let mut consider = |set: Vec<Vec<u8>>| {
                if usable(&set) && best.as_ref().is_none_or(|b| set.len() < b.len()) {
                    best = Some(set);
                }
            };
            let mut run: Vec<Vec<u8>> = vec![Vec::new()];
            for s in subs {
                match exact(s) {
                    Some(e) => {
                        run = match cross(&run, &e) {
                            Some(r) => r,
                            // Too many: start a new run at this part.
                            None => e,
                        };
                        consider(run.clone());
                    }
                    None => {
                        if let Some(r) = required(s) {
                            consider(r);
                        }
                        run = vec![Vec::new()];
                    }
                }
            }
            best
        }
        _ => None,
    }
}
