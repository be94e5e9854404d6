//! Precision over real binaries: 50 ELF files from /usr/bin (evenly spread
//! over the sorted list, so the pick is deterministic for a given system) are
//! scanned, and no reported domain may be a file name.
//!
//! To make "zero file-name domains" mean something, the test also counts the
//! traps in the same strings: tokens that are syntactically host names under a
//! real public suffix (what a naive extractor reports) but are file names,
//! e.g. `libfoo.so`, `x.sh`, `Makefile.am`, `/usr/share/foo.org`. The sample
//! must contain many of them, and none may come out as a domain: a reported
//! domain must not end in a file extension and must occur at least once
//! outside a path (a URL's `//host` counts as outside).

use std::collections::BTreeSet;
use std::path::PathBuf;

use ferret_strings::{StringOptions, analyze, iter_strings};

/// File extensions whose presence at the end of a "domain" means a file name.
/// Many are real TLDs (so, sh, py, pl, rs, md, cc, mk, in, am, ...).
const FILE_EXTS: &[&str] = &[
    "so", "c", "h", "cc", "cpp", "hpp", "py", "pyc", "sh", "pl", "pm", "rs", "md", "mk", "in",
    "am", "ac", "ko", "conf", "cfg", "ini", "o", "a", "la", "js", "go", "rb", "txt", "service",
    "mo", "po", "ps", "pub", "zip", "icu", "1", "2", "3", "4", "5", "6", "7", "8",
];

/// Largest file scanned: the test runs in the debug profile.
const MAX_FILE: u64 = 6 << 20;
const SAMPLE: usize = 50;

fn pick_elfs() -> Vec<PathBuf> {
    let mut all: Vec<PathBuf> = match std::fs::read_dir("/usr/bin") {
        Ok(rd) => rd.filter_map(|e| e.ok().map(|e| e.path())).collect(),
        Err(e) => panic!("cannot list /usr/bin: {e}"),
    };
    all.sort();
    let elfs: Vec<PathBuf> = all
        .into_iter()
        .filter(|p| {
            let Ok(meta) = std::fs::metadata(p) else {
                return false;
            };
            if !meta.is_file() || meta.len() > MAX_FILE || meta.len() < 64 {
                return false;
            }
            let mut magic = [0u8; 4];
            std::fs::File::open(p)
                .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut magic))
                .is_ok()
                && magic == *b"\x7fELF"
        })
        .collect();
    assert!(
        elfs.len() >= SAMPLE,
        "only {} ELF files under 6 MiB in /usr/bin",
        elfs.len()
    );
    let step = elfs.len() as f64 / SAMPLE as f64;
    (0..SAMPLE)
        .filter_map(|i| elfs.get((i as f64 * step) as usize).cloned())
        .collect()
}

fn host_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'-' || b == b'.'
}

/// Tokens a naive extractor would call domains: host-name syntax with a known
/// public suffix. Returns (token, preceded by "/" but not by "//").
fn naive_candidates(s: &str) -> Vec<(String, bool)> {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if !host_char(b[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < b.len() && host_char(b[i]) {
            i += 1;
        }
        let tok = s[start..i].trim_matches('.').to_ascii_lowercase();
        let labels: Vec<&str> = tok.split('.').collect();
        let tld_alpha = labels
            .last()
            .is_some_and(|t| t.len() >= 2 && t.bytes().all(|c| c.is_ascii_lowercase()));
        if labels.len() >= 2
            && labels.iter().all(|l| !l.is_empty())
            && tld_alpha
            && psl::domain(tok.as_bytes()).is_some_and(|d| d.suffix().is_known())
        {
            let after_slash = s[..start].ends_with('/') && !s[..start].ends_with("//");
            out.push((tok, after_slash));
        }
    }
    out
}

fn is_file_name(d: &str) -> bool {
    let last = d.rsplit('.').next().unwrap_or(d);
    FILE_EXTS.contains(&last) || d.starts_with("lib") && d.contains(".so")
}

#[test]
fn no_file_names_among_domains_of_usr_bin() {
    let files = pick_elfs();
    let opts = StringOptions::default();
    let mut file_traps: BTreeSet<String> = BTreeSet::new();
    let mut path_traps: BTreeSet<String> = BTreeSet::new();
    let mut reported: BTreeSet<String> = BTreeSet::new();
    let mut bad: Vec<String> = Vec::new();
    let mut strings_total = 0u64;

    for path in &files {
        let data = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let analysis = analyze(&data, &opts);
        strings_total += analysis.strings.total;
        let domains: Vec<String> = analysis
            .iocs
            .domains
            .iter()
            .map(|d| d.value.clone())
            .collect();

        // Where does each reported domain occur outside a path?
        let mut outside_path: BTreeSet<&str> = BTreeSet::new();
        for s in iter_strings(&data, &opts) {
            for (tok, after_slash) in naive_candidates(&s.value) {
                if is_file_name(&tok) {
                    file_traps.insert(tok);
                } else if after_slash {
                    path_traps.insert(tok);
                }
            }
            let lower = s.value.to_ascii_lowercase();
            for d in &domains {
                for (at, _) in lower.match_indices(d.as_str()) {
                    let before = &lower[..at];
                    if !before.ends_with('/') || before.ends_with("//") {
                        outside_path.insert(d.as_str());
                    }
                }
            }
        }
        for d in &domains {
            if is_file_name(d) {
                bad.push(format!("{}: {d} is a file name", path.display()));
            }
            // Domains that only ever occur in a URL or e-mail are fine (the
            // host after "//" counts as outside a path); one seen only after
            // a plain "/" is a path component.
            if !outside_path.contains(d.as_str()) {
                bad.push(format!("{}: {d} occurs only inside paths", path.display()));
            }
        }
        reported.extend(domains);
    }

    let caught: Vec<&String> = file_traps
        .iter()
        .filter(|t| reported.contains(*t))
        .collect();
    eprintln!(
        "{} files, {} strings, {} file-name tokens and {} path components under a \
         public suffix, {} domains reported: {reported:?}",
        files.len(),
        strings_total,
        file_traps.len(),
        path_traps.len(),
        reported.len()
    );
    assert!(bad.is_empty(), "file-name domains:\n{}", bad.join("\n"));
    assert!(caught.is_empty(), "traps reported as domains: {caught:?}");
    // The sample must really contain the traps the filter exists for.
    assert!(
        file_traps.len() >= 20,
        "only {} file-name tokens in the sample: {file_traps:?}",
        file_traps.len()
    );
    // And the extractor is not vacuously precise: real project domains
    // (gnu.org, debian.org, ...) in help texts are still found.
    assert!(
        !reported.is_empty(),
        "no domain at all in {} files",
        files.len()
    );
}
