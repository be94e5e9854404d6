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

fn time<R>(name: &str, what: &str, data: &[u8], mut f: impl FnMut(&[u8]) -> R) {
    let mut best = f64::INFINITY;
    for _ in 0..3 {
        let start = Instant::now();
        black_box(f(black_box(data)));
        best = best.min(start.elapsed().as_secs_f64());
    }
    let mb = data.len() as f64 / 1e6;
    println!(
        "{what:7} {name:14} {:8.1} MB/s ({mb:.1} MB in {:.3} s)",
        mb / best,
        best
    );
}

fn main() {
    for (name, data) in inputs() {
        time(name, "ssdeep", &data, ssdeep::hash);
        time(name, "tlsh", &data, tlsh::hash);
    }
}
