//! Shannon entropy of a byte buffer, and of a file's sections, whole and
//! segments from one count of each byte (see [`Layout`]).

mod simd;

/// Bytes per pass over the count tables: every u32 counter stays below
/// `u32::MAX` within one pass.
const PASS: usize = u32::MAX as usize;

/// Below this many bytes a plain loop counts faster than setting up the tables.
const SMALL: usize = 256;

/// Shannon entropy of `data` in bits per byte, in `0.0..=8.0` (0 for empty input).
pub fn entropy(data: &[u8]) -> f64 {
    entropy_from(data, simd::Counter::detect())
}

fn entropy_from(data: &[u8], counter: simd::Counter) -> f64 {
    Counts::of(data, counter).entropy()
}

/// Byte-value counts of some bytes: the entropy depends on nothing else, so
/// counts added up from the parts of a range give exactly (bit for bit) the
/// entropy of the range counted whole.
#[derive(Clone)]
pub(crate) struct Counts {
    by_value: [u64; 256],
    len: u64,
}

impl Counts {
    pub(crate) fn new() -> Self {
        Counts {
            by_value: [0; 256],
            len: 0,
        }
    }

    fn of(data: &[u8], counter: simd::Counter) -> Self {
        let mut c = Counts::new();
        c.count(data, counter);
        c
    }

    /// Adds the bytes of `data`.
    fn count(&mut self, data: &[u8], counter: simd::Counter) {
        if data.len() < SMALL {
            for &b in data {
                self.by_value[usize::from(b)] += 1;
            }
        } else {
            let h = histogram(data, counter);
            for (t, c) in self.by_value.iter_mut().zip(h) {
                *t += c;
            }
        }
        self.len += data.len() as u64;
    }

    fn add(&mut self, other: &Counts) {
        for (t, c) in self.by_value.iter_mut().zip(&other.by_value) {
            *t += c;
        }
        self.len += other.len;
    }

    /// `self - earlier`, where `earlier` is a prefix of the same running total.
    fn since(&self, earlier: &Counts) -> Counts {
        let mut d = self.clone();
        for (t, c) in d.by_value.iter_mut().zip(&earlier.by_value) {
            *t -= c;
        }
        d.len -= earlier.len;
        d
    }

    /// Shannon entropy in bits per byte, in `0.0..=8.0` (0 when empty).
    pub(crate) fn entropy(&self) -> f64 {
        if self.len == 0 {
            return 0.0;
        }
        let n = self.len as f64;
        let mut h = 0.0;
        for &c in &self.by_value {
            if c != 0 {
                let p = c as f64 / n;
                h -= p * p.log2();
            }
        }
        // Rounding can push a uniform distribution a hair past the bounds.
        h.clamp(0.0, 8.0)
    }
}

/// Most ranges (segments, overlay) whose entropy [`Layout::measure`]
/// assembles; each costs two snapshots of the running counts.
pub(crate) const MAX_TARGETS: usize = 64;

/// Entropies computed by [`Layout::measure`].
#[derive(Debug)]
pub(crate) struct Measured {
    /// Entropy of each part, in the order given.
    pub parts: Vec<f64>,
    /// Entropy of the whole buffer, when the parts did not overlap.
    pub whole: Option<f64>,
    /// Entropy of each target, when the parts did not overlap and none
    /// straddles the target's ends.
    pub targets: Vec<Option<f64>>,
}

/// Byte ranges of one buffer whose entropies are wanted: `parts` (the
/// sections), the whole buffer, and `targets` (segments, overlay).
///
/// When the parts do not overlap, each byte is counted once: the parts and
/// the gaps between them are counted in file order into a running total,
/// which ends as the whole buffer's counts; a target is the difference of the
/// running total at its end and at its start, available when both ends fall
/// outside every part (gaps are split at targets' ends for that). Otherwise
/// only the parts are counted, each on its own, and the rest is left to the
/// caller.
#[derive(Debug)]
pub(crate) struct Layout<'d> {
    pub data: &'d [u8],
    /// `(start, end)` byte ranges, `start <= end <= data.len()`.
    pub parts: Vec<(usize, usize)>,
    /// `(start, end)` byte ranges, `start <= end <= data.len()`.
    pub targets: Vec<(usize, usize)>,
}

impl Layout<'_> {
    pub(crate) fn measure(&self) -> Measured {
        self.measure_with(simd::Counter::detect())
    }

    fn measure_with(&self, counter: simd::Counter) -> Measured {
        let data = self.data;
        let slice = |(s, e): (usize, usize)| data.get(s..e).unwrap_or(&[]);
        let bounded = |&(s, e): &(usize, usize)| s <= e && e <= data.len();
        let mut order: Vec<usize> = (0..self.parts.len())
            .filter(|&i| self.parts.get(i).is_some_and(|&(s, e)| s < e))
            .collect();
        order.sort_unstable_by_key(|&i| self.parts.get(i).copied());
        let disjoint = self.parts.iter().all(bounded)
            && self.targets.iter().all(bounded)
            && order.windows(2).all(|w| {
                let end = self.parts.get(w[0]).map_or(usize::MAX, |p| p.1);
                let start = self.parts.get(w[1]).map_or(0, |p| p.0);
                end <= start
            });
        if !disjoint {
            return Measured {
                parts: self
                    .parts
                    .iter()
                    .map(|&p| Counts::of(slice(p), counter).entropy())
                    .collect(),
                whole: None,
                targets: vec![None; self.targets.len()],
            };
        }
        let mut cuts: Vec<usize> = self
            .targets
            .iter()
            .take(MAX_TARGETS)
            .flat_map(|&(s, e)| [s, e])
            .collect();
        cuts.sort_unstable();
        cuts.dedup();
        let mut sweep = Sweep {
            data,
            counter,
            pos: 0,
            total: Counts::new(),
            cuts: &cuts,
            next_cut: 0,
            snapshots: vec![None; cuts.len()],
        };
        // Parts of no bytes (empty, or wholly past the end) have entropy 0.
        let mut parts = vec![0.0; self.parts.len()];
        for i in order {
            let Some(&(s, e)) = self.parts.get(i) else {
                continue;
            };
            sweep.gap_to(s);
            sweep.snapshot();
            let c = Counts::of(slice((s, e)), counter);
            if let Some(p) = parts.get_mut(i) {
                *p = c.entropy();
            }
            sweep.total.add(&c);
            sweep.pos = e;
        }
        sweep.gap_to(data.len());
        sweep.snapshot();
        let at = |x: usize| {
            let i = cuts.binary_search(&x).ok()?;
            sweep.snapshots.get(i)?.as_ref()
        };
        let targets = self
            .targets
            .iter()
            .enumerate()
            .map(|(i, &(s, e))| {
                if i >= MAX_TARGETS {
                    return None;
                }
                Some(at(e)?.since(at(s)?).entropy())
            })
            .collect();
        Measured {
            parts,
            whole: Some(sweep.total.entropy()),
            targets,
        }
    }
}

/// Running counts of a buffer from its start up to `pos`, with snapshots
/// taken where `pos` meets a cut.
struct Sweep<'d, 'c> {
    data: &'d [u8],
    counter: simd::Counter,
    pos: usize,
    total: Counts,
    /// Sorted, distinct offsets.
    cuts: &'c [usize],
    /// First cut not yet passed.
    next_cut: usize,
    /// Running counts at each cut, when `pos` was exactly there.
    snapshots: Vec<Option<Counts>>,
}

impl Sweep<'_, '_> {
    /// Takes the snapshot of the cut at `pos`, if any, and passes every cut
    /// up to `pos` (cuts skipped inside a part get none).
    fn snapshot(&mut self) {
        while let Some(&c) = self.cuts.get(self.next_cut) {
            if c > self.pos {
                break;
            }
            if c == self.pos
                && let Some(s) = self.snapshots.get_mut(self.next_cut)
            {
                *s = Some(self.total.clone());
            }
            self.next_cut += 1;
        }
    }

    /// Counts the gap from `pos` to `to`, stopping at every cut on the way.
    fn gap_to(&mut self, to: usize) {
        while self.pos < to {
            self.snapshot();
            let stop = self
                .cuts
                .get(self.next_cut)
                .copied()
                .filter(|&c| c < to)
                .unwrap_or(to);
            self.total
                .count(self.data.get(self.pos..stop).unwrap_or(&[]), self.counter);
            self.pos = stop;
        }
    }
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
mod layout_tests;

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
