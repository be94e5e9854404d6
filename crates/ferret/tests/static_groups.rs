//! `ferret static` over more files than one group holds: MD5, hashed for a
//! whole group at once, must match `md5sum` for every file whatever its size,
//! in command-line order, with unreadable files reported where they stand.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

/// Sizes around MD5's block and padding boundaries, then larger ones.
fn size(i: usize) -> usize {
    const EDGES: [usize; 12] = [0, 1, 55, 56, 57, 63, 64, 65, 119, 120, 127, 128];
    match EDGES.get(i) {
        Some(&n) => n,
        None if i.is_multiple_of(50) => 150_000 + i * 1_000,
        None => (i * 7_919) % 20_000,
    }
}

fn write_files(dir: &Path, count: usize) -> Vec<PathBuf> {
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    (0..count)
        .map(|i| {
            let data: Vec<u8> = (0..size(i))
                .map(|_| {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    (state >> 32) as u8
                })
                .collect();
            let path = dir.join(format!("f{i:04}"));
            std::fs::write(&path, data).expect("writing a test file");
            path
        })
        .collect()
}

fn md5sum(paths: &[PathBuf]) -> Vec<String> {
    let out = Command::new("md5sum")
        .args(paths)
        .output()
        .expect("md5sum (coreutils) runs");
    assert!(out.status.success());
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| l.split_whitespace().next().unwrap_or_default().to_owned())
        .collect()
}

#[test]
fn md5_of_many_files_matches_md5sum_in_order() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let files = write_files(dir.path(), 300);
    let want = md5sum(&files);
    assert_eq!(want.len(), files.len());
    // Two FIFOs among the files: each is refused, the others still analysed.
    let mut args: Vec<PathBuf> = files.clone();
    for (at, name) in [(100, "fifo-a"), (290, "fifo-b")] {
        let fifo = dir.path().join(name);
        assert!(
            Command::new("mkfifo")
                .arg(&fifo)
                .status()
                .expect("mkfifo runs")
                .success()
        );
        args.insert(at, fifo);
    }
    let run = |jobs: &str| {
        Command::new(env!("CARGO_BIN_EXE_ferret"))
            .args(["static", "--json", "--no-yara", "-j", jobs])
            .args(&args)
            .output()
            .expect("ferret runs")
    };
    let out = run("2");
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.lines().count(), 2, "{stderr}");
    assert!(
        stderr
            .lines()
            .all(|l| l.contains("fifo-") && l.ends_with("not a regular file")),
        "{stderr}"
    );
    let doc: Value = serde_json::from_slice(&out.stdout).expect("stdout is JSON");
    let reports = doc["files"].as_array().expect("files array");
    assert_eq!(reports.len(), files.len());
    for ((report, path), md5) in reports.iter().zip(&files).zip(&want) {
        assert_eq!(report["path"], path.to_str().expect("UTF-8 path"));
        assert_eq!(report["hashes"]["md5"], md5.as_str(), "{}", path.display());
    }
    let errors: Vec<&str> = doc["errors"]
        .as_array()
        .expect("errors array")
        .iter()
        .filter_map(|e| e["path"].as_str())
        .collect();
    assert!(errors.len() == 2 && errors[0].ends_with("fifo-a") && errors[1].ends_with("fifo-b"));

    // One worker gives the same document.
    let single = run("1");
    assert_eq!(single.stdout, out.stdout);
}
