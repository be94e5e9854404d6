//! CPU time of the entropy-related part of static analysis (ELF parse with section
//! entropy, whole-file entropy, packer signs) and of the whole `analyze_bytes`, on
//! one core. `cargo run --release -p ferret-static --example entropy_cpu -- FILE...`
//! (or a list of paths on stdin with no arguments).

use std::hint::black_box;

use ferret_static::Options;

mod common;
use common::{cpu, read_files};

fn main() {
    let (files, bytes) = read_files();
    let options = Options::default();
    // One worker: analyze_bytes forks rayon tasks for large files.
    let pool = match rayon::ThreadPoolBuilder::new().num_threads(1).build() {
        Ok(p) => p,
        Err(e) => {
            eprintln!("thread pool: {e}");
            std::process::exit(1);
        }
    };
    let best = |f: &dyn Fn(&[u8])| {
        (0..3)
            .map(|_| {
                let t = cpu();
                for d in &files {
                    f(d);
                }
                cpu() - t
            })
            .min()
            .unwrap_or_default()
    };
    let entropy_part = best(&|d| {
        let elf = ferret_elf::parse_with(d, &options.elf).ok();
        let e = ferret_static::file_entropy(d, elf.as_ref());
        black_box(ferret_static::packer::detect(d, e, elf.as_ref()));
    });
    let analyze = pool.install(|| {
        best(&|d| {
            black_box(ferret_static::analyze_bytes("x", d, &options));
        })
    });
    // Check: the entropies taken from the parse equal direct counts bit for bit.
    let (mut whole, mut segs, mut segs_given, mut wrong) = (0, 0, 0, 0);
    for d in &files {
        let Ok(elf) = ferret_elf::parse_with(d, &options.elf) else {
            continue;
        };
        if let Some(e) = elf.byte_entropy.file {
            whole += 1;
            wrong += usize::from(e.to_bits() != ferret_elf::entropy(d).to_bits());
        }
        for (seg, e) in elf.segments.iter().zip(&elf.byte_entropy.segments) {
            if seg.kind != "LOAD" || !seg.flags.contains('X') {
                continue;
            }
            segs += 1;
            if let Some(e) = e {
                segs_given += 1;
                let len = d.len() as u64;
                let start = seg.offset.min(len) as usize;
                let end = seg.offset.saturating_add(seg.filesz).min(len) as usize;
                let direct = d.get(start..end).map(ferret_elf::entropy);
                wrong += usize::from(direct.map(f64::to_bits) != Some(e.to_bits()));
            }
        }
    }
    println!(
        "from the parse: whole file {whole} of {}, executable segments {segs_given} of {segs}, {wrong} differing from a direct count",
        files.len()
    );
    let mb = bytes as f64 / 1e6;
    println!("{} files, {mb:.0} MB, best of 3, CPU time", files.len());
    for (name, t) in [
        ("parse+entropy+packer", entropy_part),
        ("analyze_bytes", analyze),
    ] {
        println!(
            "{name:<22} {:>8.3} s {:>8.0} MB/s",
            t.as_secs_f64(),
            mb / t.as_secs_f64()
        );
    }
}
