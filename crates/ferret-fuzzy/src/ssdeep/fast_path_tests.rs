//! The AVX-512 path of [`Hasher::update`] against the portable one: same
//! internal state after every chunk (hence the same hash), on random data of
//! many lengths, inputs that make spamsum fall back to smaller block sizes,
//! degenerate inputs (zeros, runs, short periods), real executables, and
//! arbitrary chunkings. Without AVX-512 VBMI only the portable path runs and
//! these tests say so on stderr.

use super::{Hasher, LEVELS, ROLLING_WINDOW, guess_level, hash, window_sum};

/// xorshift64: deterministic input without a dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
}

fn simd_available() -> bool {
    let mut probe = Hasher::new();
    let ok = probe.update_simd(b"");
    if !ok {
        eprintln!("no AVX-512 VBMI on this CPU: only the portable path was tested");
    }
    ok
}

/// Everything of a hasher that can influence a later hash. The piece hashes
/// are compared on their low 6 bits, the only ones ever used.
fn state(h: &Hasher) -> impl PartialEq + std::fmt::Debug + '_ {
    let low = |v: &[u16; LEVELS]| v.map(|x| x & 63);
    (
        low(&h.h),
        low(&h.half_h),
        &h.levels,
        (h.start, h.cap, h.fed),
        h.roll,
    )
}

/// Feeds `data` in the given chunk sizes (cycled; the last chunk takes the
/// rest) to a scalar and a vector hasher, checking the states after every
/// chunk and returning the hash.
fn check_chunked(data: &[u8], chunks: &[usize], sized: bool) -> String {
    let make = || {
        if sized {
            Hasher::with_input_len(data.len() as u64)
        } else {
            Hasher::new()
        }
    };
    let (mut scalar, mut simd) = (make(), make());
    let mut rest = data;
    let mut i = 0;
    loop {
        let n = chunks[i % chunks.len()].min(rest.len());
        let (piece, tail) = rest.split_at(n);
        scalar.update_scalar(piece);
        assert!(simd.update_simd(piece));
        assert!(
            state(&scalar) == state(&simd),
            "{:?} != {:?}: state after {} of {} bytes (chunks {chunks:?}, sized {sized})",
            state(&scalar),
            state(&simd),
            data.len() - tail.len(),
            data.len()
        );
        rest = tail;
        i += 1;
        if rest.is_empty() {
            break;
        }
    }
    let (a, b) = (scalar.finish().unwrap(), simd.finish().unwrap());
    assert_eq!(a, b);
    a
}

fn check(data: &[u8]) -> String {
    let unsized_hash = check_chunked(data, &[data.len()], false);
    let sized_hash = check_chunked(data, &[data.len()], true);
    assert_eq!(unsized_hash, sized_hash, "{} bytes", data.len());
    sized_hash
}

#[test]
fn random_inputs_of_many_lengths() {
    if !simd_available() {
        return;
    }
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut lengths: Vec<usize> = (0..200).collect();
    lengths.extend([
        255, 256, 257, 1000, 4095, 4096, 4097, 8191, 8192, 8193, 65_536,
    ]);
    lengths.extend((0..40).map(|_| rng.below(2 << 20)));
    for n in lengths {
        check(&rng.bytes(n));
    }
}

#[test]
fn structured_and_degenerate_inputs() {
    if !simd_available() {
        return;
    }
    let mut rng = Rng(42);
    // Every constant byte: some cut at every position at level 0 but never
    // at level 1, which keeps the smallest block size live throughout.
    for c in 0..=255u8 {
        check(&vec![c; 3000 + usize::from(c)]);
    }
    check(&vec![0; 1 << 20]);
    // Short periods and low-entropy data.
    for period in [2usize, 3, 7, 13, 64, 1000] {
        let unit = rng.bytes(period);
        let data: Vec<u8> = unit.iter().copied().cycle().take(300_000).collect();
        check(&data);
    }
    let nibbles: Vec<u8> = rng.bytes(500_000).iter().map(|b| b & 0x0F).collect();
    check(&nibbles);
    // Executable-like: random, zero and text-like stretches of random lengths.
    let mut mixed = Vec::new();
    while mixed.len() < 1_500_000 {
        let n = rng.below(40_000);
        match rng.below(3) {
            0 => mixed.resize(mixed.len() + n, 0),
            1 => mixed.extend(rng.bytes(n).iter().map(|b| b'a' + b % 26)),
            _ => mixed.extend(rng.bytes(n)),
        }
        check(&mixed);
    }
}

#[test]
fn inputs_that_fall_back_to_smaller_block_sizes() {
    if !simd_available() {
        return;
    }
    let mut rng = Rng(7);
    let mut fell_back = 0;
    for (random, zeros) in [
        (2_000, 100_000),
        (30_000, 1 << 20),
        (500, 2 << 20),
        (70_000, 9_000),
    ] {
        for random_first in [true, false] {
            let mut data = Vec::new();
            if random_first {
                data.extend(rng.bytes(random));
                data.resize(random + zeros, 0);
            } else {
                data.resize(zeros, 0);
                data.extend(rng.bytes(random));
            }
            let h = check(&data);
            let block: u64 = h.split(':').next().unwrap().parse().unwrap();
            if block < 3 << guess_level(data.len() as u64) {
                fell_back += 1;
            }
        }
    }
    assert!(fell_back >= 6, "only {fell_back} inputs fell back");
}

#[test]
fn rolling_sum_wrapping_to_zero() {
    if !simd_available() {
        return;
    }
    // This window makes the rolling sum 2^32 - 1: the 32-bit vector test
    // sees `sum + 1 == 0` as a cut at every level, the real test none.
    let window = [0u8, 120, 248, 248, 248, 61, 228];
    assert_eq!(window_sum(&window), u32::MAX);
    let mut rng = Rng(3);
    for prefix in [0usize, 1, 6, 7, 100, 5_000, 200_000] {
        let mut data = rng.bytes(prefix);
        for _ in 0..50 {
            data.extend(window);
            let n = rng.below(3000);
            data.extend(rng.bytes(n));
        }
        check(&data);
    }
}

#[test]
fn real_executables() {
    if !simd_available() {
        return;
    }
    let mut paths: Vec<_> = std::fs::read_dir("/usr/bin")
        .map(|d| d.filter_map(|e| Some(e.ok()?.path())).collect())
        .unwrap_or_default();
    paths.sort();
    let mut checked = 0;
    let mut bytes = 0;
    for path in paths.iter().step_by(23) {
        let Ok(data) = std::fs::read(path) else {
            continue;
        };
        if data.len() > 4 << 20 {
            continue;
        }
        let h = check(&data);
        assert_eq!(h, hash(&data), "{}", path.display());
        checked += 1;
        bytes += data.len();
    }
    assert!(checked >= 10, "only {checked} files of /usr/bin read");
    eprintln!("{checked} executables, {bytes} bytes");
}

#[test]
fn arbitrary_chunkings() {
    if !simd_available() {
        return;
    }
    let mut rng = Rng(11);
    let mut data = rng.bytes(300_000);
    data.resize(320_000, 0);
    data.extend(rng.bytes(100_000));
    let expected = hash(&data);
    let chunkings: [&[usize]; 6] = [
        &[1],
        &[ROLLING_WINDOW - 1, 1, 2],
        &[63, 64, 65],
        &[8191, 1, 8193],
        &[100_000, 3],
        &[5, 4096, 7, 65_537, 1],
    ];
    for chunks in chunkings {
        for sized in [false, true] {
            assert_eq!(check_chunked(&data, chunks, sized), expected, "{chunks:?}");
        }
    }
    for _ in 0..20 {
        let chunks: Vec<usize> = (0..10).map(|_| 1 + rng.below(20_000)).collect();
        assert_eq!(check_chunked(&data, &chunks, true), expected, "{chunks:?}");
    }
    // The public entry point mixes both paths (short chunks go scalar).
    let mut mixed = Hasher::new();
    let mut rest = &data[..];
    let mut small = true;
    while !rest.is_empty() {
        let n = if small { 61 } else { 7000 }.min(rest.len());
        mixed.update(&rest[..n]);
        rest = &rest[n..];
        small = !small;
    }
    assert_eq!(mixed.finish().unwrap(), expected);
}

#[test]
fn large_input_reaches_high_levels() {
    if !simd_available() {
        return;
    }
    // 48 MB: the smallest live block size passes 3 << 16, where the vector
    // scan tests all 16 low bits.
    let mut rng = Rng(5);
    let mut data = Vec::with_capacity(48 << 20);
    while data.len() < 48 << 20 {
        let n = 1 + rng.below(1 << 20);
        match rng.below(4) {
            0 => data.resize(data.len() + n / 8, 0),
            1 => data.extend(rng.bytes(n).iter().map(|b| b'a' + b % 26)),
            _ => data.extend(rng.bytes(n)),
        }
    }
    let h = check(&data);
    let mut hasher = Hasher::with_input_len(data.len() as u64);
    assert!(hasher.update_simd(&data));
    assert!(hasher.start >= 16, "start {}", hasher.start);
    assert_eq!(check_chunked(&data, &[1 << 20, 12_345], false), h);
}
