//! CPU-time throughput of `md5_many` (AVX-512 lanes) against `md-5` one
//! buffer at a time, over the files listed in a file (one path a line).
//!
//! `cargo run --release -p ferret-md5 --example throughput -- /tmp/elf.files [rounds]`

use std::time::Duration;

/// CPU time (user + system) of the calling thread, from /proc (10 ms ticks).
fn thread_cpu() -> Duration {
    let stat = std::fs::read_to_string("/proc/thread-self/stat").unwrap_or_default();
    // Fields after the parenthesised command name; utime and stime are 14 and 15.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let fields: Vec<u64> = rest
        .split_whitespace()
        .skip(11)
        .take(2)
        .filter_map(|f| f.parse().ok())
        .collect();
    Duration::from_millis(fields.iter().sum::<u64>() * 10)
}

fn measure(label: &str, bytes: usize, rounds: u32, mut f: impl FnMut() -> Vec<[u8; 16]>) {
    let start = thread_cpu();
    let mut check = 0u8;
    for _ in 0..rounds {
        check = f().iter().flatten().fold(check, |a, b| a.wrapping_add(*b));
    }
    let cpu = thread_cpu() - start;
    let mb = bytes as f64 * f64::from(rounds) / 1e6;
    println!(
        "{label:>28}: {mb:8.0} MB in {:6.2} s CPU = {:7.0} MB/s (check {check:02x})",
        cpu.as_secs_f64(),
        mb / cpu.as_secs_f64()
    );
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let list = args.next().ok_or("usage: throughput FILE-LIST [ROUNDS]")?;
    let rounds: u32 = args.next().map_or(Ok(3), |r| r.parse())?;
    let mut files = Vec::new();
    for path in std::fs::read_to_string(&list)?.lines() {
        match std::fs::read(path) {
            Ok(data) => files.push(data),
            Err(e) => eprintln!("{path}: {e}"),
        }
    }
    let bytes: usize = files.iter().map(Vec::len).sum();
    println!(
        "{} files, {bytes} bytes; AVX-512: {}",
        files.len(),
        ferret_md5::avx512_available()
    );
    measure("md-5, one at a time", bytes, rounds, || {
        ferret_md5::md5_many_scalar(&files)
    });
    measure("md5_many, whole set", bytes, rounds, || {
        ferret_md5::md5_many(&files)
    });
    // One buffer a call: the lane runs alone, so it finishes in scalar code.
    measure("md5_many, one buffer a call", bytes, rounds, || {
        files
            .iter()
            .flat_map(|f| ferret_md5::md5_many(&[f]))
            .collect()
    });
    for group in [16, 64] {
        measure(
            &format!("md5_many, groups of {group}"),
            bytes,
            rounds,
            || files.chunks(group).flat_map(ferret_md5::md5_many).collect(),
        );
    }
    // Groups as a batch driver holding at most `budget` bytes would form them.
    for budget_mib in [64, 128, 256, 512] {
        let budget = budget_mib << 20;
        let mut groups: Vec<Vec<&[u8]>> = vec![Vec::new()];
        let mut held = 0;
        for f in &files {
            if let Some(g) = groups.last_mut()
                && !g.is_empty()
                && (held + f.len() > budget || g.len() == 256)
            {
                groups.push(Vec::new());
                held = 0;
            }
            held += f.len();
            if let Some(g) = groups.last_mut() {
                g.push(f);
            }
        }
        measure(
            &format!("md5_many, {budget_mib} MiB groups"),
            bytes,
            rounds,
            || {
                groups
                    .iter()
                    .flat_map(|g| ferret_md5::md5_many(g))
                    .collect()
            },
        );
    }
    // Equal-sized buffers: the kernel's own speed, no lane ever idle.
    let even: Vec<&[u8]> = files.iter().flat_map(|f| f.chunks(1 << 20)).collect();
    let even_bytes = even.iter().map(|b| b.len()).sum();
    measure("md5_many, 1 MiB pieces", even_bytes, rounds, || {
        ferret_md5::md5_many(&even)
    });
    Ok(())
}
