//! Throughput of the one-shot hashers on one core: `cargo bench -p ferret-fuzzy`.
//! Plain timing (no criterion) to keep the dependency tree small.

use std::hint::black_box;
use std::time::Instant;

use ferret_fuzzy::{ssdeep, tlsh};

fn inputs() -> Vec<(&'static str, Vec<u8>)> {
    let len = 64 << 20;
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
    let mut out = vec![("random 64 MiB", random), ("mixed 64 MiB", mixed)];
    if !system.is_empty() {
        out.push(("bash + libc", system));
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
    for _ in 0..5 {
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

fn main() {
    for (name, data) in inputs() {
        time(name, "ssdeep", &data, ssdeep::hash);
        time(name, "tlsh", &data, tlsh::hash);
    }
}
