//! ssdeep throughput on real files, in MB per second of this thread's CPU
//! time: `cargo bench -p ferret-fuzzy --bench ssdeep_files [-- LIST...]`.
//! Each argument is a file to hash or, prefixed with `@`, a file listing one
//! path per line; the default is /usr/bin/node and the ELFs in
//! /tmp/elf.files when present. Every set is hashed five times and the
//! fastest run is reported.

use std::hint::black_box;

use ferret_fuzzy::ssdeep;

/// Seconds this thread has spent on a CPU (Linux schedstat), so that a busy
/// shared machine distorts the figures less than wall time would.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/thread-self/schedstat").unwrap_or_default();
    let ns: u64 = stat
        .split_whitespace()
        .next()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    ns as f64 / 1e9
}

fn load(arg: &str) -> Vec<Vec<u8>> {
    let paths: Vec<String> = match arg.strip_prefix('@') {
        Some(list) => std::fs::read_to_string(list)
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect(),
        None => vec![arg.to_owned()],
    };
    paths.iter().filter_map(|p| std::fs::read(p).ok()).collect()
}

fn main() {
    let mut args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    if args.is_empty() {
        args = vec!["/usr/bin/node".into(), "@/tmp/elf.files".into()];
    }
    for arg in &args {
        let files = load(arg);
        let bytes: usize = files.iter().map(Vec::len).sum();
        if bytes == 0 {
            println!("{arg}: nothing to read");
            continue;
        }
        let mut best = f64::INFINITY;
        let mut digest = 0usize;
        for _ in 0..5 {
            let start = cpu_seconds();
            for f in &files {
                digest = digest.wrapping_add(black_box(ssdeep::hash(black_box(f))).len());
            }
            best = best.min(cpu_seconds() - start);
        }
        println!(
            "ssdeep {arg}: {} files, {:.1} MB, {:.3} s CPU, {:.1} MB/s (checksum {digest})",
            files.len(),
            bytes as f64 / 1e6,
            best,
            bytes as f64 / 1e6 / best
        );
    }
}
