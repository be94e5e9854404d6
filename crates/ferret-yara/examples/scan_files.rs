//! Scans a list of files with ferret's bundled rules plus rule directories, with or
//! without the prefilter, and prints the CPU time spent scanning (not loading).
//!
//! `cargo run --release -p ferret-yara --example scan_files -- LIST [--no-prefilter]
//! [--all-namespaces] [--no-bundled] [--joint] [--explain] [--rules DIR]...` where
//! LIST names one file per line; `--all-namespaces` prefilters small rule sets too.

use std::time::Instant;

use ferret_yara::{LoadOptions, RuleSource, ScanOptions, Scanner, load};

/// User plus system CPU seconds of this process, from /proc/self/stat.
fn cpu_seconds() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return f64::NAN;
    };
    // Fields after the parenthesised command name; utime and stime are 14 and 15.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<f64> = rest
        .split_whitespace()
        .skip(11)
        .take(2)
        .filter_map(|x| x.parse().ok())
        .collect();
    f.iter().sum::<f64>() / 100.0
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let list = args.next().ok_or(
        "usage: scan_files LIST [--no-prefilter] [--all-namespaces] [--explain] [--joint] [--no-bundled] [--rules DIR]...",
    )?;
    let mut prefilter = true;
    let mut min_patterns = ScanOptions::default().prefilter_min_patterns;
    let mut explain = false;
    let mut joint = false;
    let mut sources = ferret_yara::bundled();
    while let Some(a) = args.next() {
        match a.as_str() {
            "--no-prefilter" => prefilter = false,
            "--all-namespaces" => min_patterns = 0,
            "--explain" => explain = true,
            "--joint" => joint = true,
            "--no-bundled" => sources.retain(|s| s.namespace() != "ferret"),
            "--rules" => sources.push(RuleSource::from_path(args.next().ok_or("--rules DIR")?)),
            other => return Err(format!("unknown argument {other}").into()),
        }
    }
    // `--joint`: one yara-x rule set for all namespaces, as before the split.
    let rules = if joint {
        ferret_yara::load_single_set(&sources, &LoadOptions::default())?
    } else {
        load(&sources, &LoadOptions::default())?
    };
    for s in rules.prefilter_summaries() {
        eprintln!("{s}");
    }
    let paths: Vec<String> = std::fs::read_to_string(&list)?
        .lines()
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect();
    let mut scanner = Scanner::new(
        &rules,
        &ScanOptions {
            prefilter,
            prefilter_min_patterns: min_patterns,
            ..Default::default()
        },
    );
    // Everything is read first so that only scanning is timed.
    let data: Vec<Vec<u8>> = paths.iter().filter_map(|p| std::fs::read(p).ok()).collect();
    let bytes: u64 = data.iter().map(|d| d.len() as u64).sum();
    if explain {
        // Which rule makes each namespace scan each file, counted per rule.
        let mut why: std::collections::BTreeMap<String, usize> = Default::default();
        for d in &data {
            for (ns, rule) in rules.prefilter_explain(d) {
                *why.entry(format!("{ns}: {}", rule.as_deref().unwrap_or("-")))
                    .or_default() += 1;
            }
        }
        let mut why: Vec<_> = why.into_iter().collect();
        why.sort_by_key(|b| std::cmp::Reverse(b.1));
        for (k, n) in why.iter().take(40) {
            println!("{n:6} {k}");
        }
        return Ok(());
    }
    let mut matches = 0;
    let cpu0 = cpu_seconds();
    let t0 = Instant::now();
    for d in &data {
        matches += scanner.scan(d).matches.len();
    }
    let cpu = cpu_seconds() - cpu0;
    for (ns, st) in scanner.prefilter_stats_by_namespace() {
        println!(
            "  {ns}: yara-x ran {} of {} scans",
            st.yara_scans, st.namespace_scans
        );
    }
    let stats = scanner.prefilter_stats();
    println!(
        "{} files, {:.0} MB, {matches} matches; prefilter {}: yara-x ran {} of {} namespace scans; \
         scan CPU {cpu:.2} s ({:.0} MB/s), wall {:.2} s",
        data.len(),
        bytes as f64 / 1e6,
        if prefilter { "on" } else { "off" },
        stats.yara_scans,
        stats.namespace_scans,
        bytes as f64 / 1e6 / cpu,
        t0.elapsed().as_secs_f64()
    );
    Ok(())
}
