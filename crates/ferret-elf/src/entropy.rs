//! Shannon entropy of a byte buffer.

mod simd;

/// Bytes per pass over the count tables: every u32 counter stays below
/// `u32::MAX` within one pass.
const PASS: usize = u32::MAX as usize;

/// Shannon entropy of `data` in bits per byte, in `0.0..=8.0` (0 for empty input).
pub fn entropy(data: &[u8]) -> f64 {
    entropy_from(data, simd::Counter::detect())
}

fn entropy_from(data: &[u8], counter: simd::Counter) -> f64 {
    if data.is_empty() {
        return 0.0;
    }
    let total = histogram(data, counter);
    let n = data.len() as f64;
    let mut h = 0.0;
    for &c in &total {
        if c != 0 {
            let p = c as f64 / n;
            h -= p * p.log2();
        }
    }
    // Rounding can push a uniform distribution a hair past the bounds.
    h.clamp(0.0, 8.0)
}

/// Byte-value counts of `data`.
fn histogram(data: &[u8], counter: simd::Counter) -> [u64; 256] {
    let mut total = [0u64; 256];
    for pass in data.chunks(PASS) {
        let mut tables = Tables::new();
        let zeros = counter.count(pass, &mut tables);
        for (i, t) in total.iter_mut().enumerate() {
            *t += tables.0.iter().map(|c| u64::from(c[i])).sum::<u64>();
        }
        total[0] += zeros;
    }
    total
}

/// Eight interleaved count tables: consecutive bytes land in different
/// tables, so runs of one value (zero padding, 0xff fill) do not chain
/// read-modify-write updates of one counter back to back.
struct Tables([[u32; 256]; 8]);

impl Tables {
    fn new() -> Self {
        Tables([[0; 256]; 8])
    }

    /// Counts every byte of `data` (at most [`PASS`] bytes per `Tables`).
    #[inline(always)]
    fn add(&mut self, data: &[u8]) {
        let c = &mut self.0;
        let mut octets = data.chunks_exact(8);
        for q in &mut octets {
            c[0][usize::from(q[0])] += 1;
            c[1][usize::from(q[1])] += 1;
            c[2][usize::from(q[2])] += 1;
            c[3][usize::from(q[3])] += 1;
            c[4][usize::from(q[4])] += 1;
            c[5][usize::from(q[5])] += 1;
            c[6][usize::from(q[6])] += 1;
            c[7][usize::from(q[7])] += 1;
        }
        for &b in octets.remainder() {
            c[0][usize::from(b)] += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{entropy, entropy_from, histogram, simd::Counter};

    #[test]
    fn known_values() {
        assert_eq!(entropy(&[]), 0.0);
        assert_eq!(entropy(&[7; 1000]), 0.0);
        let two: Vec<u8> = (0..1000).map(|i| (i % 2) as u8).collect();
        assert!((entropy(&two) - 1.0).abs() < 1e-12);
        let all: Vec<u8> = (0..=255u8).cycle().take(256 * 16).collect();
        assert!((entropy(&all) - 8.0).abs() < 1e-12);
        // Odd length exercises the remainder path.
        let odd: Vec<u8> = (0..=255u8).chain([0u8, 1, 2]).collect();
        let e = entropy(&odd);
        assert!(e > 7.9 && e < 8.0, "{e}");
    }

    fn naive(data: &[u8]) -> [u64; 256] {
        let mut h = [0u64; 256];
        for &b in data {
            h[usize::from(b)] += 1;
        }
        h
    }

    #[test]
    fn every_counter_matches_a_plain_count() {
        let counters = Counter::all();
        eprintln!("counters: {counters:?}");
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let mut cases: Vec<Vec<u8>> = vec![vec![], vec![0], vec![0; 64], vec![0; 65], vec![9; 200]];
        for len in [1usize, 7, 63, 64, 65, 127, 128, 129, 1000, 5000, 70_000] {
            // Random, zero-heavy (as in ELF padding and tables) and runs.
            cases.push((0..len).map(|_| next() as u8).collect());
            cases.push(
                (0..len)
                    .map(|_| if next() % 3 == 0 { next() as u8 } else { 0 })
                    .collect(),
            );
            cases.push((0..len).map(|i| ((i / 100) % 3) as u8).collect());
        }
        for path in ["/usr/bin/ls", "/usr/bin/bash"] {
            if let Ok(d) = std::fs::read(path) {
                cases.push(d);
            }
        }
        for data in &cases {
            let want = naive(data);
            for &c in &counters {
                assert_eq!(histogram(data, c), want, "{c:?}, {} bytes", data.len());
                // Same counts, same arithmetic: bit-identical entropy.
                assert_eq!(
                    entropy_from(data, c).to_bits(),
                    entropy_from(data, Counter::Scalar).to_bits()
                );
            }
            // Unaligned starts reach the SIMD tail handling.
            if data.len() > 3 {
                for &c in &counters {
                    assert_eq!(histogram(&data[3..], c), naive(&data[3..]));
                }
            }
        }
    }
}
