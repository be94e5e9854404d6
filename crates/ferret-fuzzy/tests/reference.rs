//! Conformance against the Python reference implementations: `ppdeep`
//! (ssdeep hash and compare) and `py-tlsh` 4.12.1 (TLSH hash and diff), run
//! once over a deterministic corpus of system ELFs, text files and generated
//! edge cases. Both are pinned in scripts/pip-requirements.txt.

use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use ferret_fuzzy::{ssdeep, tlsh};

/// Corpus budget: ppdeep is pure Python and rehashes short signatures, so
/// the total size bounds the test's run time.
const MAX_SYSTEM_FILE: u64 = 1 << 20;
const ELF_TARGET: usize = 150;
const TEXT_TARGET: usize = 120;

/// splitmix64: a fixed-seed generator so the generated corpus never changes.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// Regular files under `dir`, recursively, sorted by path, not following
/// symlinks.
fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
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

fn readable_head(path: &Path, n: usize) -> Option<Vec<u8>> {
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
fn spread(candidates: &[PathBuf], target: usize, wanted: impl Fn(&[u8]) -> bool) -> Vec<PathBuf> {
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

fn system_files() -> Vec<PathBuf> {
    let mut binaries = Vec::new();
    for dir in ["/usr/bin", "/usr/lib/x86_64-linux-gnu"] {
        walk(Path::new(dir), &mut binaries);
    }
    let mut files = spread(&binaries, ELF_TARGET, |head| head.starts_with(b"\x7fELF"));
    let mut shared = Vec::new();
    walk(Path::new("/usr/share"), &mut shared);
    // Plain text: no NUL and mostly printable in the first 4 KiB.
    files.extend(spread(&shared, TEXT_TARGET, |head| {
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
fn generated_inputs() -> Vec<(String, Vec<u8>)> {
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

#[derive(Debug)]
struct Expected {
    ssdeep: String,
    tlsh: Option<String>,
    compare: u8,
    diff: Option<u32>,
}

fn parse_reference_line(line: &str) -> Expected {
    let fields: Vec<&str> = line.split('\t').collect();
    assert_eq!(fields.len(), 5, "malformed reference line {line:?}");
    Expected {
        ssdeep: fields[1].to_string(),
        tlsh: (fields[2] != "TNULL").then(|| fields[2].to_string()),
        compare: fields[3].parse().expect("compare score"),
        diff: (fields[4] != "-").then(|| fields[4].parse().expect("tlsh diff")),
    }
}

/// ferret's hashes of one corpus file.
struct Ours {
    ssdeep: String,
    tlsh: Option<String>,
    /// The same through the streaming hashers, where checked.
    streamed: Option<(String, Option<String>)>,
}

impl Ours {
    /// Streaming is checked on small files and on every 8th file: the test
    /// runs unoptimised in CI, where hashing everything twice costs more
    /// than it adds (the unit tests cover chunking further).
    fn of(index: usize, data: &[u8]) -> Self {
        Ours {
            ssdeep: ssdeep::hash(data),
            tlsh: tlsh::hash(data),
            streamed: (data.len() <= 128 << 10 || index.is_multiple_of(8)).then(|| streamed(data)),
        }
    }
}

/// Hashes `data` through the streaming hashers in uneven chunks.
fn streamed(data: &[u8]) -> (String, Option<String>) {
    let mut s = ssdeep::Hasher::new();
    let mut t = tlsh::Hasher::new();
    let sizes = [1usize, 3, 2, 7, 4096, 5, 65537, 1, 0];
    let mut rest = data;
    let mut i = 0;
    while !rest.is_empty() {
        let n = sizes[i % sizes.len()].min(rest.len());
        s.update(&rest[..n]);
        t.update(&rest[..n]);
        rest = &rest[n..];
        i += 1;
    }
    (s.finish().expect("no declared length"), t.finish())
}

#[test]
fn matches_ppdeep_and_py_tlsh() {
    let dir = std::env::temp_dir().join(format!("ferret-fuzzy-reference-{}", std::process::id()));
    fs::create_dir_all(&dir).expect("create temp dir");
    let mut files = system_files();
    for (name, data) in generated_inputs() {
        let path = dir.join(name);
        fs::write(&path, data).expect("write generated input");
        files.push(path);
    }
    assert!(files.len() >= 300, "only {} corpus files", files.len());

    let list = dir.join("files.txt");
    let mut listing = fs::File::create(&list).expect("create list");
    for f in &files {
        use std::os::unix::ffi::OsStrExt as _;
        listing
            .write_all(f.as_os_str().as_bytes())
            .expect("write list");
        listing.write_all(b"\n").expect("write list");
    }
    drop(listing);

    // The reference runs in the background while ferret hashes the corpus.
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/reference.py");
    let started = std::time::Instant::now();
    let child = Command::new("python3")
        .arg(script)
        .arg(&list)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 is needed (scripts/install.sh installs the reference packages)");
    let reference = std::thread::spawn(move || {
        let output = child.wait_with_output();
        (output, started.elapsed().as_secs_f64())
    });

    let ours: Vec<Ours> = files
        .iter()
        .enumerate()
        .map(|(i, f)| Ours::of(i, &fs::read(f).expect("read corpus file")))
        .collect();
    let ferret_secs = started.elapsed().as_secs_f64();

    let (output, python_secs) = reference.join().expect("reference thread");
    let output = output.expect("run reference.py");
    assert!(
        output.status.success(),
        "reference.py failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8(output.stdout).expect("reference output is UTF-8");
    let expected: Vec<Expected> = stdout.lines().map(parse_reference_line).collect();
    assert_eq!(expected.len(), files.len(), "reference.py skipped files");

    let mut mismatches = Vec::new();
    let mut checks = 0usize;
    let mut compared = [0usize; 4];
    let mut prev: Option<&Ours> = None;
    for ((path, exp), mine) in files.iter().zip(&expected).zip(&ours) {
        let name = path.display();
        let before = prev.unwrap_or(mine);
        let score = ssdeep::compare(&before.ssdeep, &mine.ssdeep);
        let dist = match (&before.tlsh, &mine.tlsh) {
            (Some(a), Some(b)) => Some(tlsh::diff(a, b)),
            _ => None,
        };
        let (s, t) = (&mine.ssdeep, &mine.tlsh);
        let mut check = |what: &str, ok: bool, detail: String| {
            checks += 1;
            if !ok {
                mismatches.push(format!("{name}: {what}: {detail}"));
            }
        };
        check(
            "ssdeep",
            *s == exp.ssdeep,
            format!("ferret {s} reference {}", exp.ssdeep),
        );
        check(
            "tlsh",
            *t == exp.tlsh,
            format!("ferret {t:?} reference {:?}", exp.tlsh),
        );
        if let Some((s_stream, t_stream)) = &mine.streamed {
            check(
                "ssdeep stream",
                s_stream == s,
                format!("stream {s_stream} one-shot {s}"),
            );
            check(
                "tlsh stream",
                t_stream == t,
                format!("stream {t_stream:?} one-shot {t:?}"),
            );
        }
        check(
            "ssdeep compare",
            score.as_ref().ok() == Some(&exp.compare),
            format!("ferret {score:?} reference {}", exp.compare),
        );
        check(
            "tlsh diff",
            dist.as_ref().map(|d| d.as_ref().ok().copied()) == exp.diff.map(Some),
            format!("ferret {dist:?} reference {:?}", exp.diff),
        );
        compared[0] += usize::from(exp.tlsh.is_none());
        compared[1] += usize::from(exp.compare > 0 && exp.compare < 100);
        compared[2] += usize::from(exp.diff.is_some_and(|d| d > 0));
        compared[3] += usize::from(exp.ssdeep.split(':').nth(1).is_some_and(|s| s.len() == 64));
        prev = Some(mine);
    }
    let total_bytes: u64 = files
        .iter()
        .filter_map(|f| fs::metadata(f).ok())
        .map(|m| m.len())
        .sum();
    let _ = fs::remove_dir_all(&dir);
    println!(
        "corpus {:.1} MB: reference.py took {python_secs:.1} s, ferret (one-shot + streamed, this build) {ferret_secs:.1} s",
        total_bytes as f64 / 1e6,
    );

    println!(
        "ferret-fuzzy reference: {} files compared, {} of {} checks matched ({} TNULL, {} partial ssdeep scores, {} nonzero TLSH distances, {} full 64-char signatures)",
        files.len(),
        checks - mismatches.len(),
        checks,
        compared[0],
        compared[1],
        compared[2],
        compared[3],
    );
    for m in mismatches.iter().take(50) {
        println!("MISMATCH {m}");
    }
    assert!(
        mismatches.is_empty(),
        "{} mismatches against the reference",
        mismatches.len()
    );
    // The corpus must actually exercise the interesting paths.
    assert!(
        compared.iter().all(|&n| n > 0),
        "corpus lacks coverage: {compared:?}"
    );
}
