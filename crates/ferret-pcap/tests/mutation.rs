//! Mutation test: truncations, bit flips and overwritten spans of the real
//! pcaps (fixed seed) must never make the analysis panic.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

use ferret_pcap::{Options, analyze_bytes, analyze_reader};

/// xorshift64*: a fixed-seed generator, so failures reproduce.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

fn pcaps() -> Vec<PathBuf> {
    let shared = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/data"));
    let mut v: Vec<PathBuf> = std::fs::read_dir(shared.join("suricata-verify/pcaps"))
        .unwrap_or_else(|e| panic!("suricata-verify pcaps: {e}"))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    v.push(shared.join("l7/irc.pcap"));
    v.push(shared.join("l7/telnet.pcap"));
    v.sort();
    v
}

#[test]
fn mutated_captures_never_panic() {
    const PER_FILE: usize = 150;
    /// Larger files are cut to this prefix before mutating, to keep the test fast.
    const MAX_LEN: usize = 64 * 1024;
    let files = pcaps();
    assert!(files.len() >= 36, "only {} pcaps", files.len());
    let opts = Options::default();
    let mut rng = Rng(0x5eed_f00d_cafe_babe);
    let (mut variants, mut with_error, mut rejected) = (0usize, 0usize, 0usize);
    let mut panics = Vec::new();
    for file in &files {
        let mut orig = std::fs::read(file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        orig.truncate(MAX_LEN);
        for v in 0..PER_FILE {
            let mut data = orig.clone();
            let what = match v % 5 {
                0 => {
                    let at = rng.below(data.len());
                    data.truncate(at);
                    format!("truncated at {at}")
                }
                1 | 2 => {
                    let n = 1 + rng.below(8);
                    for _ in 0..n {
                        let at = rng.below(data.len());
                        if let Some(b) = data.get_mut(at) {
                            *b ^= 1 << rng.below(8);
                        }
                    }
                    format!("{n} bit flips")
                }
                3 => {
                    // Overwrite a span with random bytes (hits headers and lengths).
                    let at = rng.below(data.len());
                    let n = 1 + rng.below(16);
                    for b in data.iter_mut().skip(at).take(n) {
                        *b = rng.next() as u8;
                    }
                    format!("{n} random bytes at {at}")
                }
                _ => {
                    // Interesting values in a 32-bit field: lengths, counts.
                    let at = rng.below(data.len().saturating_sub(4));
                    let val: u32 = [0, 1, 0xff, 0xffff, 0x7fff_ffff, 0xffff_ffff][rng.below(6)];
                    if let Some(s) = data.get_mut(at..at + 4) {
                        s.copy_from_slice(&val.to_le_bytes());
                    }
                    format!("{val:#x} at {at}")
                }
            };
            variants += 1;
            // Both input paths: streamed reads and in-place slices (memory maps).
            let res = catch_unwind(AssertUnwindSafe(|| {
                if v % 2 == 0 {
                    analyze_reader(&data[..], &opts)
                } else {
                    analyze_bytes(&data, &opts)
                }
            }));
            match res {
                Ok(Ok(r)) => {
                    if r.error.is_some() {
                        with_error += 1;
                    }
                    // The report must serialise whatever the input was.
                    serde_json::to_string(&r)
                        .unwrap_or_else(|e| panic!("{}: {what}: JSON: {e}", file.display()));
                }
                Ok(Err(_)) => rejected += 1,
                Err(_) => panics.push(format!("{} variant {v}: {what}", file.display())),
            }
        }
    }
    println!(
        "{variants} variants: {with_error} stopped with an error, {rejected} rejected, {} panics",
        panics.len()
    );
    assert!(variants >= 5000);
    assert!(panics.is_empty(), "panics:\n{}", panics.join("\n"));
}
