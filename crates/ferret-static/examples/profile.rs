//! Where static analysis spends its time: each component over the same files, one
//! core, CPU time. `cargo run --release -p ferret-static --example profile -- FILE...`
//! (or a list of paths on stdin with no arguments).

use std::hint::black_box;
use std::time::Duration;

use ferret_static::Options;

mod common;
use common::{cpu, read_files};

fn main() {
    let (files, bytes) = read_files();
    let options = Options::default();
    let string_options = ferret_strings::StringOptions {
        min_len: options.min_string_len,
        max_strings: options.max_strings,
        ..Default::default()
    };
    // PROFILE=name,name limits the run to those rows.
    let only = std::env::var("PROFILE").ok();
    let mut rows: Vec<(&str, Duration)> = Vec::new();
    let mut time = |name: &'static str, f: &dyn Fn(&[u8])| {
        if only
            .as_deref()
            .is_some_and(|o| !o.split(',').any(|w| w == name))
        {
            return;
        }
        let t = cpu();
        for d in &files {
            f(d);
        }
        rows.push((name, cpu() - t));
    };
    time("md5+sha1+sha256", &|d| {
        use sha2::Digest as _;
        black_box(md5::Md5::digest(d));
        black_box(sha1::Sha1::digest(d));
        black_box(sha2::Sha256::digest(d));
    });
    time("md5", &|d| {
        use sha2::Digest as _;
        black_box(md5::Md5::digest(d));
    });
    time("sha1", &|d| {
        use sha2::Digest as _;
        black_box(sha1::Sha1::digest(d));
    });
    time("sha256", &|d| {
        use sha2::Digest as _;
        black_box(sha2::Sha256::digest(d));
    });
    time("ssdeep", &|d| {
        black_box(ferret_fuzzy::ssdeep::hash(d));
    });
    time("ssdeep-stream", &|d| {
        let mut h = ferret_fuzzy::ssdeep::Hasher::with_input_len(d.len() as u64);
        h.update(d);
        black_box(h.finish().ok());
    });
    time("tlsh", &|d| {
        black_box(ferret_fuzzy::tlsh::hash(d));
    });
    time("hashes::compute", &|d| {
        black_box(ferret_static::hashes::compute(d));
    });
    time("entropy", &|d| {
        black_box(ferret_elf::entropy(d));
    });
    time("elf parse", &|d| {
        let _ = black_box(ferret_elf::parse_with(d, &options.elf));
    });
    time("strings only", &|d| {
        black_box(ferret_strings::extract(d, &string_options));
    });
    time("strings+iocs", &|d| {
        black_box(ferret_strings::analyze(d, &string_options));
    });
    time("analyze_bytes", &|d| {
        black_box(ferret_static::analyze_bytes("x", d, &options));
    });
    time("analyze+json", &|d| {
        let r = ferret_static::analyze_bytes("x", d, &options);
        black_box(serde_json::to_vec(&r).map(|v| v.len()).unwrap_or(0));
    });
    let mb = bytes as f64 / 1e6;
    println!("{} files, {mb:.1} MB", files.len());
    for (name, t) in rows {
        let s = t.as_secs_f64();
        println!("{name:18} {s:7.3} s CPU {:8.1} MB/s", mb / s);
    }
}
