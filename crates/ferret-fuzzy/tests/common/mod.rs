//! Corpus shared by the conformance tests: a deterministic spread of system
//! files plus generated edge cases.

#![allow(dead_code)] // each test binary uses a different part

use std::fs;
use std::path::{Path, PathBuf};

/// Corpus budget: ppdeep is pure Python and rehashes short signatures, so
/// the total size bounds the test's run time.
pub const MAX_SYSTEM_FILE: u64 = 1 << 20;

/// splitmix64: a fixed-seed generator so the generated corpus never changes.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    pub fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// Regular files under `dir`, recursively, sorted by path, not following
/// symlinks.
pub fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    let mut paths: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    paths.sort();
    for path in paths {
        let Ok(meta) = fs::symlink_metadata(&path) else {
            continue;
        };
        if meta.is_dir() {
            walk(&path, out);
        } else if meta.is_file() {
            out.push(path);
        }
    }
}

pub fn readable_head(path: &Path, n: usize) -> Option<Vec<u8>> {
    use std::io::Read as _;
    let mut buf = vec![0u8; n];
    let mut f = fs::File::open(path).ok()?;
    let got = f.read(&mut buf).ok()?;
    buf.truncate(got);
    Some(buf)
}

/// About `target` files spread evenly over the sorted `candidates` (and so
/// over many sizes and kinds) that are small enough and pass `wanted`. Each
/// probe looks at up to 64 files from an evenly spaced start; the spacing
/// halves until enough are found. Only probed files are read.
pub fn spread(
    candidates: &[PathBuf],
    target: usize,
    wanted: impl Fn(&[u8]) -> bool,
) -> Vec<PathBuf> {
    let eligible = |p: &PathBuf| {
        fs::metadata(p).is_ok_and(|m| m.len() <= MAX_SYSTEM_FILE)
            && readable_head(p, 4096).is_some_and(|h| wanted(&h))
    };
    let mut picked = std::collections::BTreeSet::new();
    let mut step = candidates.len().div_ceil(target).max(1);
    loop {
        for start in (0..candidates.len()).step_by(step) {
            if picked.len() >= target {
                break;
            }
            let found = (start..candidates.len())
                .take(64)
                .find(|&i| !picked.contains(&i) && eligible(&candidates[i]));
            picked.extend(found);
        }
        if picked.len() >= target || step == 1 {
            break;
        }
        step /= 2;
    }
    picked.into_iter().map(|i| candidates[i].clone()).collect()
}

/// A spread of about `elf_target` ELF files from /usr/bin and
/// /usr/lib/x86_64-linux-gnu and `text_target` text files from /usr/share.
pub fn system_files(elf_target: usize, text_target: usize) -> Vec<PathBuf> {
    let mut binaries = Vec::new();
    for dir in ["/usr/bin", "/usr/lib/x86_64-linux-gnu"] {
        walk(Path::new(dir), &mut binaries);
    }
    let mut files = spread(&binaries, elf_target, |head| head.starts_with(b"\x7fELF"));
    let mut shared = Vec::new();
    walk(Path::new("/usr/share"), &mut shared);
    // Plain text: no NUL and mostly printable in the first 4 KiB.
    files.extend(spread(&shared, text_target, |head| {
        let printable = head
            .iter()
            .filter(|b| b.is_ascii_graphic() || b.is_ascii_whitespace())
            .count();
        !head.is_empty() && !head.contains(&0) && printable * 10 >= head.len() * 9
    }));
    files
}

/// Generated inputs, in families kept next to each other so that the
/// neighbour comparisons see related data.
pub fn generated_inputs() -> Vec<(String, Vec<u8>)> {
    let mut rng = Rng(0x6665_7272_6574_2121);
    let mut out: Vec<(String, Vec<u8>)> = Vec::new();
    // Around 0, the TLSH minimum of 50 and spamsum's block-size guess
    // boundaries (3 * 2^k * 64 bytes).
    let edge_sizes = [
        0usize, 1, 2, 3, 4, 5, 6, 7, 8, 48, 49, 50, 51, 63, 64, 65, 127, 128, 191, 192, 193, 255,
        256, 257, 383, 384, 385, 768, 769, 1000, 4095, 4096, 4097, 12288, 12289, 65536, 98304,
        98305,
    ];
    for &n in &edge_sizes {
        out.push((format!("random-{n}"), rng.bytes(n)));
    }
    for &n in &[50usize, 51, 255, 4096] {
        out.push((format!("zeros-{n}"), vec![0; n]));
        out.push((format!("ones-{n}"), vec![0xFF; n]));
        out.push((
            format!("cycle2-{n}"),
            (0..n).map(|i| b"ab"[i % 2]).collect(),
        ));
        out.push((
            format!("cycle7-{n}"),
            (0..n).map(|i| b"malware"[i % 7]).collect(),
        ));
        out.push((
            format!("cycle200-{n}"),
            (0..n).map(|i| (i % 200) as u8).collect(),
        ));
    }
    // Small alphabets: few distinct triplets, so TLSH's histogram is sparse.
    for alphabet in [2u64, 3, 4, 8, 16] {
        for &n in &[60usize, 500, 5000] {
            let data = (0..n).map(|_| b'a' + rng.below(alphabet) as u8).collect();
            out.push((format!("alphabet{alphabet}-{n}"), data));
        }
    }
    // Inputs ending in zeros leave the rolling hash at 0, which selects
    // spamsum's "last character" branch; also with signatures that filled up.
    for &(n, zeros) in &[
        (100usize, 7usize),
        (1000, 6),
        (1000, 7),
        (1000, 64),
        (5000, 7),
        (20000, 7),
        (70000, 7),
        (300000, 16),
    ] {
        let mut data = rng.bytes(n);
        data.extend(std::iter::repeat_n(0u8, zeros));
        out.push((format!("random-{n}-zeros-{zeros}"), data));
    }
    // Text-like data, then the same with small edits: nonzero ssdeep scores
    // and small TLSH distances between neighbours.
    let words: Vec<&[u8]> = [
        &b"open"[..],
        b"read",
        b"write",
        b"socket",
        b"connect",
        b"execve",
        b"mmap",
        b"ptrace",
        b"/etc/passwd",
        b"/tmp/.x",
        b"GET / HTTP/1.1",
        b"\n",
        b" ",
        b" ",
    ]
    .to_vec();
    for &n in &[2000usize, 20000, 200000] {
        let mut base = Vec::with_capacity(n);
        while base.len() < n {
            base.extend_from_slice(words[rng.below(words.len() as u64) as usize]);
        }
        out.push((format!("text-{n}"), base.clone()));
        let mut edited = base.clone();
        for _ in 0..n / 500 + 1 {
            let at = rng.below(edited.len() as u64) as usize;
            edited[at] = rng.next() as u8;
        }
        out.push((format!("text-{n}-edited"), edited));
        let mut inserted = base.clone();
        let at = n / 3;
        inserted.splice(at..at, rng.bytes(n / 20));
        out.push((format!("text-{n}-inserted"), inserted));
        out.push((format!("text-{n}-truncated"), base[..n * 3 / 4].to_vec()));
        let mut appended = base;
        appended.extend(rng.bytes(n / 10));
        out.push((format!("text-{n}-appended"), appended));
    }
    // Large inputs: one mebibyte of random, of zeros (spamsum retries down to
    // the smallest block size) and of a repetitive pattern with noise.
    let big = 1 << 20;
    out.push(("random-1MiB".into(), rng.bytes(big)));
    let mut noisy = rng.bytes(big);
    for b in noisy.iter_mut().step_by(3) {
        *b = 0x41;
    }
    out.push(("random-1MiB-thirds".into(), noisy));
    out.push(("zeros-1MiB".into(), vec![0; big]));
    let mut pattern: Vec<u8> = (0..big).map(|i| (i % 251) as u8).collect();
    for _ in 0..64 {
        let at = rng.below(big as u64) as usize;
        pattern[at] = rng.next() as u8;
    }
    out.push(("pattern-1MiB".into(), pattern));
    out
}

/// The system files plus the generated inputs, written under `dir`, in a
/// fixed order.
pub fn corpus(dir: &Path, elf_target: usize, text_target: usize) -> Vec<PathBuf> {
    fs::create_dir_all(dir).expect("create corpus dir");
    let mut files = system_files(elf_target, text_target);
    for (name, data) in generated_inputs() {
        let path = dir.join(name);
        fs::write(&path, data).expect("write generated input");
        files.push(path);
    }
    files
}
