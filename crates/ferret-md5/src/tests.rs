//! Every path against the `md-5` crate: the AVX-512 kernel, the lane
//! scheduling with its padding, and the scalar finish.

use super::*;

/// xorshift64*: reproducible pseudo-random test data without a dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn bytes(&mut self, len: usize) -> Vec<u8> {
        (0..len).map(|_| (self.next() >> 56) as u8).collect()
    }
}

fn reference(bufs: &[Vec<u8>]) -> Vec<Digest> {
    bufs.iter().map(|b| Md5::digest(b).into()).collect()
}

fn hex(d: &Digest) -> String {
    d.iter().map(|b| format!("{b:02x}")).collect()
}

/// Every way of running the lanes: the AVX-512 kernel (when the CPU has it)
/// and the portable kernel, each never, sometimes and always finishing in
/// scalar code.
fn all_paths(bufs: &[Vec<u8>]) -> Vec<(String, Vec<Digest>)> {
    let mut runs = Vec::new();
    for scalar_below in [0, SCALAR_BELOW, 5, LANES + 1] {
        runs.push((
            format!("portable kernel, scalar below {scalar_below}"),
            run_lanes(bufs, scalar_below, compress16_portable),
        ));
        if let Some(d) = avx512_lanes(bufs, scalar_below) {
            runs.push((format!("AVX-512, scalar below {scalar_below}"), d));
        }
    }
    runs.push(("md5_many".into(), md5_many(bufs)));
    runs.push(("md5_many_scalar".into(), md5_many_scalar(bufs)));
    if let Some(d) = md5_many_avx512(bufs) {
        runs.push(("md5_many_avx512".into(), d));
    }
    runs
}

fn check(bufs: &[Vec<u8>]) {
    let want = reference(bufs);
    for (path, got) in all_paths(bufs) {
        assert_eq!(got.len(), want.len(), "{path}: digest count");
        for (i, (g, w)) in got.iter().zip(&want).enumerate() {
            assert_eq!(
                hex(g),
                hex(w),
                "{path}: buffer {i} of {} ({} bytes)",
                bufs.len(),
                bufs[i].len()
            );
        }
    }
}

#[test]
fn avx512_runs_on_this_machine() {
    // The project's machines and CI are Zen 4; elsewhere the vector path
    // cannot be tested and only the portable kernel is.
    if !avx512_available() {
        eprintln!("note: no AVX-512F on this CPU; the AVX-512 path is not tested");
        return;
    }
    assert!(md5_many_avx512(&[b"abc"]).is_some());
}

#[test]
fn known_vectors() {
    let cases: [(&[u8], &str); 5] = [
        (b"", "d41d8cd98f00b204e9800998ecf8427e"),
        (b"a", "0cc175b9c0f1b6a831c399e269772661"),
        (b"abc", "900150983cd24fb0d6963f7d28e17f72"),
        (b"message digest", "f96b697d7cb7938d525a2f31aaf161d0"),
        (
            b"abcdefghijklmnopqrstuvwxyz",
            "c3fcd3d76192e4007dfb496cca67e13b",
        ),
    ];
    let bufs: Vec<Vec<u8>> = cases.iter().map(|(b, _)| b.to_vec()).collect();
    for (path, got) in all_paths(&bufs) {
        for (g, (_, want)) in got.iter().zip(&cases) {
            assert_eq!(hex(g), *want, "{path}");
        }
    }
}

#[test]
fn empty_batch() {
    let none: [&[u8]; 0] = [];
    assert!(md5_many(&none).is_empty());
    assert!(md5_many_scalar(&none).is_empty());
    assert!(run_lanes(&none, 0, compress16_portable).is_empty());
    if let Some(d) = md5_many_avx512(&none) {
        assert!(d.is_empty());
    }
}

#[test]
fn every_length_up_to_300() {
    let mut rng = Rng(1);
    // All in one batch (lanes refill with every padding case), and each
    // alone (one busy lane, fifteen idle).
    let bufs: Vec<Vec<u8>> = (0..=300).map(|n| rng.bytes(n)).collect();
    check(&bufs);
    for b in &bufs {
        check(std::slice::from_ref(b));
    }
}

#[test]
fn mixed_batches_of_1_to_100() {
    let mut rng = Rng(2);
    for count in 1..=100 {
        let bufs: Vec<Vec<u8>> = (0..count)
            .map(|_| {
                // Mostly short, some a few blocks, a few long.
                let len = match rng.below(10) {
                    0 => rng.below(20_000),
                    1..=3 => rng.below(1_000),
                    _ => rng.below(130),
                };
                rng.bytes(len)
            })
            .collect();
        check(&bufs);
    }
}

#[test]
fn long_buffers_of_random_length() {
    let mut rng = Rng(3);
    let bufs: Vec<Vec<u8>> = (0..24)
        .map(|i| {
            let len = if i % 3 == 0 {
                rng.below(4 << 20)
            } else {
                rng.below(200_000)
            };
            rng.bytes(len)
        })
        .collect();
    let want = reference(&bufs);
    assert_eq!(md5_many(&bufs), want);
    assert_eq!(run_lanes(&bufs, SCALAR_BELOW, compress16_portable), want);
    if let Some(d) = md5_many_avx512(&bufs) {
        assert_eq!(d, want);
    }
}

/// The AVX-512 kernel against the portable one on arbitrary states, on
/// lanes of different lengths (the shortest sets the block count).
#[test]
fn kernel_matches_portable() {
    #[cfg(target_arch = "x86_64")]
    {
        let Some(simd) = avx512::Avx512::detect() else {
            return;
        };
        let mut rng = Rng(4);
        for _ in 0..200 {
            let mut state: State = [[0; LANES]; 4];
            for w in state.iter_mut().flatten() {
                *w = rng.next() as u32;
            }
            let data: Vec<Vec<u8>> = (0..LANES)
                .map(|_| {
                    let len = rng.below(400);
                    rng.bytes(len)
                })
                .collect();
            let lanes: [&[u8]; LANES] = std::array::from_fn(|i| data[i].as_slice());
            let mut want = state;
            let blocks = compress16_portable(&mut want, &lanes);
            let mut got = state;
            assert_eq!(simd.compress16(&mut got, &lanes), blocks);
            assert_eq!(got, want);
        }
    }
}
