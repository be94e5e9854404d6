//! Conformance against the `ssdeep` command-line tool (libfuzzy 2.14, Debian
//! package `ssdeep`, installed by scripts/install.sh): its hashes must equal
//! ferret's, and its score for every pair of ferret's hashes must equal
//! `compare_with(.., Scoring::Libfuzzy)`.

use std::collections::HashMap;
use std::fs;
use std::io::Write as _;
use std::process::Command;

use ferret_fuzzy::ssdeep::{self, Scoring};

mod common;

fn run_ssdeep(args: &[&std::ffi::OsStr]) -> String {
    let output = Command::new("ssdeep")
        .args(args)
        .output()
        .expect("the ssdeep tool is needed (scripts/install.sh installs Debian's ssdeep package)");
    assert!(
        output.status.success(),
        "ssdeep failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("ssdeep output is UTF-8")
}

#[test]
fn matches_ssdeep_tool_hashes_and_scores() {
    let dir = std::env::temp_dir().join(format!("ferret-fuzzy-ssdeep-tool-{}", std::process::id()));
    let files = common::corpus(&dir, 40, 30);
    let ours: Vec<String> = files
        .iter()
        .map(|f| ssdeep::hash(&fs::read(f).expect("read corpus file")))
        .collect();

    // Hashes: the tool prints `hash,"path"` per file, in argument order.
    let mut args: Vec<&std::ffi::OsStr> = vec!["-s".as_ref()];
    args.extend(files.iter().map(|f| f.as_os_str()));
    let listing = run_ssdeep(&args);
    let theirs: HashMap<String, String> = listing
        .lines()
        .skip(1)
        .filter_map(|line| {
            let (hash, path) = line.split_once(',')?;
            Some((path.trim_matches('"').to_string(), hash.to_string()))
        })
        .collect();
    let mut mismatches = Vec::new();
    for (path, mine) in files.iter().zip(&ours) {
        let key = path.to_string_lossy().into_owned();
        match theirs.get(&key) {
            Some(t) if t == mine => {}
            other => mismatches.push(format!("hash {key}: ferret {mine} ssdeep {other:?}")),
        }
    }

    // Scores: a signature file of ferret's hashes, every pair compared by -x.
    let sigs = dir.join("sigs.txt");
    let mut out = fs::File::create(&sigs).expect("create signature file");
    writeln!(out, "ssdeep,1.1--blocksize:hash:hash,filename").expect("write");
    for (i, h) in ours.iter().enumerate() {
        writeln!(out, "{h},\"f{i}\"").expect("write");
    }
    drop(out);
    let matches = run_ssdeep(&["-a".as_ref(), "-x".as_ref(), sigs.as_os_str()]);
    let index = |name: &str| -> Option<usize> { name.rsplit(":f").next()?.parse().ok() };
    let mut pairs = 0usize;
    let mut partial = 0usize;
    for line in matches.lines().filter(|l| !l.is_empty()) {
        let parsed = line.split_once(" matches ").and_then(|(a, rest)| {
            let (b, score) = rest.rsplit_once(" (")?;
            let score: u8 = score.strip_suffix(')')?.parse().ok()?;
            Some((index(a)?, index(b)?, score))
        });
        let Some((i, j, score)) = parsed else {
            mismatches.push(format!("unparsed ssdeep line {line:?}"));
            continue;
        };
        pairs += 1;
        partial += usize::from(score > 0 && score < 100);
        let mine = ssdeep::compare_with(&ours[i], &ours[j], Scoring::Libfuzzy);
        if mine != Ok(score) {
            mismatches.push(format!(
                "score {} vs {}: ferret {mine:?} ssdeep {score}",
                ours[i], ours[j]
            ));
        }
    }
    let _ = fs::remove_dir_all(&dir);

    let n = files.len();
    println!(
        "ferret-fuzzy vs ssdeep tool: {n} hashes, {pairs} scored pairs ({partial} between 1 and 99), {} mismatches",
        mismatches.len()
    );
    for m in mismatches.iter().take(50) {
        println!("MISMATCH {m}");
    }
    assert!(
        mismatches.is_empty(),
        "{} mismatches against the ssdeep tool",
        mismatches.len()
    );
    assert_eq!(
        pairs,
        n * (n - 1),
        "ssdeep -x should score every ordered pair"
    );
    assert!(
        partial > 0,
        "no partial matches: the corpus does not exercise scoring"
    );
}
