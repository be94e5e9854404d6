//! Conformance against the Python reference implementations: `ppdeep`
//! (ssdeep hash and compare) and `py-tlsh` 4.12.1 (TLSH hash and diff), run
//! once over a deterministic corpus of system ELFs, text files and generated
//! edge cases. Both are pinned in scripts/pip-requirements.txt.

use std::fs;
use std::io::Write as _;
use std::process::{Command, Stdio};

use ferret_fuzzy::{ssdeep, tlsh};

mod common;

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
    let files = common::corpus(&dir, 150, 120);
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
