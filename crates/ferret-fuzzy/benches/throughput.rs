//! Throughput of the one-shot hashers on one core: `cargo bench -p ferret-fuzzy`.
//! Plain timing (no criterion) to keep the dependency tree small.
//!
//! Environment: `FERRET_FUZZY_BENCH=tlsh` (or `ssdeep`) times only that
//! hasher; `FERRET_FUZZY_BENCH_FILES=LIST` also times it over every file
//! named in LIST (one path a line), file by file as a static scan would;
//! `FERRET_FUZZY_BENCH_MIB` sets the size of the generated inputs (default
//! 64) and `FERRET_FUZZY_BENCH_RUNS` how many runs the best is taken of
//! (default 5): many short runs filter out a busy machine better.

use std::hint::black_box;
use std::time::Instant;

use ferret_fuzzy::{ssdeep, tlsh};

/// A numeric environment setting, or `default`.
fn setting(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn inputs() -> Vec<(String, Vec<u8>)> {
    let mib = setting("FERRET_FUZZY_BENCH_MIB", 64);
    let len = mib << 20;
    let mut x: u64 = 0x1234_5678;
    let random: Vec<u8> = (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    // Executable-like: runs of zeros and repeated structures between noise.
    let mixed: Vec<u8> = random
        .chunks(4096)
        .enumerate()
        .flat_map(|(i, c)| match i % 4 {
            0 => vec![0; c.len()],
            1 => c.iter().map(|b| b & 0x0F).collect(),
            _ => c.to_vec(),
        })
        .collect();
    let mut system = Vec::new();
    for path in ["/usr/bin/bash", "/usr/lib/x86_64-linux-gnu/libc.so.6"] {
        if let Ok(data) = std::fs::read(path) {
            system.extend(data);
        }
    }
    let mut out = vec![
        (format!("random {mib} MiB"), random),
        (format!("mixed {mib} MiB"), mixed),
    ];
    if !system.is_empty() {
        out.push(("bash + libc".to_string(), system));
    }
    out
}

/// Seconds this thread has spent on a CPU (Linux schedstat), so that a busy
/// shared machine distorts the figures less than wall time would.
fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let ns: u64 = stat.split_whitespace().next()?.parse().ok()?;
    Some(ns as f64 / 1e9)
}

fn time<R>(name: &str, what: &str, data: &[u8], mut f: impl FnMut(&[u8]) -> R) {
    let mut best_wall = f64::INFINITY;
    let mut best_cpu = f64::INFINITY;
    for _ in 0..setting("FERRET_FUZZY_BENCH_RUNS", 5) {
        let (start, cpu_start) = (Instant::now(), cpu_seconds());
        black_box(f(black_box(data)));
        best_wall = best_wall.min(start.elapsed().as_secs_f64());
        if let (Some(a), Some(b)) = (cpu_start, cpu_seconds()) {
            best_cpu = best_cpu.min(b - a);
        }
    }
    let mb = data.len() as f64 / 1e6;
    println!(
        "{what:7} {name:14} {:8.1} MB/s on CPU time, {:8.1} MB/s wall ({mb:.1} MB)",
        mb / best_cpu,
        mb / best_wall
    );
}

/// Hashes each file of `list` in turn, twice, and prints the better pass.
fn time_files(list: &str, what: &str, f: impl Fn(&[u8]) -> Option<String>) {
    let Ok(names) = std::fs::read_to_string(list) else {
        eprintln!("cannot read file list {list}");
        return;
    };
    let files: Vec<Vec<u8>> = names
        .lines()
        .filter_map(|path| std::fs::read(path).ok())
        .collect();
    let bytes: usize = files.iter().map(Vec::len).sum();
    let mut best_cpu = f64::INFINITY;
    for _ in 0..2 {
        let mut cpu = 0.0;
        for data in &files {
            let start = cpu_seconds().unwrap_or(0.0);
            black_box(f(black_box(data)));
            cpu += cpu_seconds().unwrap_or(0.0) - start;
        }
        best_cpu = best_cpu.min(cpu);
    }
    let mb = bytes as f64 / 1e6;
    println!(
        "{what:7} {} files of {list}: {:8.1} MB/s on CPU time ({mb:.1} MB, {best_cpu:.3} s)",
        files.len(),
        mb / best_cpu
    );
}

fn main() {
    let only = std::env::var("FERRET_FUZZY_BENCH").ok();
    let wanted = |what: &str| only.as_deref().is_none_or(|o| o == what);
    for (name, data) in inputs() {
        if wanted("ssdeep") {
            time(&name, "ssdeep", &data, ssdeep::hash);
        }
        if wanted("tlsh") {
            time(&name, "tlsh", &data, tlsh::hash);
        }
    }
    if let Ok(list) = std::env::var("FERRET_FUZZY_BENCH_FILES") {
        if wanted("ssdeep") {
            time_files(&list, "ssdeep", |d| Some(ssdeep::hash(d)));
        }
        if wanted("tlsh") {
            time_files(&list, "tlsh", tlsh::hash);
        }
    }
}
