//! Entropies assembled from one count of the file ([`super::Layout`], and the
//! parser's [`crate::ByteEntropy`]) equal direct counts bit for bit.

use super::{Counts, Layout, entropy, simd::Counter};
use crate::ByteEntropy;

fn direct(data: &[u8], (s, e): (usize, usize)) -> u64 {
    entropy(&data[s..e]).to_bits()
}

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

#[test]
fn running_counts_difference_is_the_range_count() {
    let data: Vec<u8> = (0..5000u32).map(|i| (i * 7 % 251) as u8).collect();
    let a = Counts::of(&data[..1234], Counter::Scalar);
    let b = Counts::of(&data, Counter::Scalar);
    let mid = b.since(&a);
    assert_eq!(
        mid.by_value,
        Counts::of(&data[1234..], Counter::Scalar).by_value
    );
    assert_eq!(mid.entropy().to_bits(), entropy(&data[1234..]).to_bits());
}

/// Random layouts, disjoint and overlapping, with targets whose ends fall in
/// gaps, on part edges and inside parts: every value given is the direct
/// count's, and every value that can be assembled is.
#[test]
fn random_layouts_match_direct_counts() {
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    let mut assembled = 0;
    for round in 0..400 {
        let len = match round % 4 {
            0 => rng.below(300),
            1 => rng.below(5000),
            _ => rng.below(200_000),
        };
        // Zero-heavy like ELF files, with runs and random stretches.
        let data: Vec<u8> = (0..len)
            .map(|i| match (i / 97) % 3 {
                0 => 0,
                1 => rng.next() as u8,
                _ => (i / 13) as u8,
            })
            .collect();
        let overlapping = round % 5 == 0;
        let mut parts = Vec::new();
        let mut pos = 0usize;
        for _ in 0..rng.below(40) {
            if overlapping {
                let s = rng.below(len + 1);
                parts.push((s, s + rng.below(len + 1 - s)));
            } else {
                let s = pos + rng.below(len / 20 + 2);
                if s > len {
                    break;
                }
                let e = s + rng.below((len - s) / 4 + 1);
                parts.push((s, e));
                pos = e;
            }
        }
        // File order and header order differ in real files.
        for i in (1..parts.len()).rev() {
            parts.swap(i, rng.below(i + 1));
        }
        let mut targets = Vec::new();
        for _ in 0..rng.below(5) {
            let edge = |rng: &mut Rng| {
                if !parts.is_empty() && rng.next() & 1 == 0 {
                    let (s, e) = parts[rng.below(parts.len())];
                    if rng.next() & 1 == 0 { s } else { e }
                } else {
                    rng.below(len + 1)
                }
            };
            let (a, b) = (edge(&mut rng), edge(&mut rng));
            targets.push((a.min(b), a.max(b)));
        }
        let layout = Layout {
            data: &data,
            parts: parts.clone(),
            targets: targets.clone(),
        };
        for counter in Counter::all() {
            let m = layout.measure_with(counter);
            assert_eq!(m.parts.len(), parts.len());
            for (&p, e) in parts.iter().zip(&m.parts) {
                assert_eq!(e.to_bits(), direct(&data, p), "part {p:?}");
            }
            let disjoint = {
                let mut v: Vec<_> = parts.iter().copied().filter(|p| p.0 < p.1).collect();
                v.sort_unstable();
                v.windows(2).all(|w| w[0].1 <= w[1].0)
            };
            assert_eq!(m.whole.is_some(), disjoint, "{parts:?}");
            if let Some(w) = m.whole {
                assert_eq!(w.to_bits(), direct(&data, (0, len)));
            }
            for (&t, e) in targets.iter().zip(&m.targets) {
                let inside = |x: usize| parts.iter().any(|&(s, e)| s < x && x < e);
                assert_eq!(
                    e.is_some(),
                    disjoint && !inside(t.0) && !inside(t.1),
                    "target {t:?}, parts {parts:?}"
                );
                if let Some(e) = e {
                    assembled += 1;
                    assert_eq!(e.to_bits(), direct(&data, t), "target {t:?}");
                }
            }
        }
    }
    assert!(assembled > 200, "only {assembled} targets assembled");
}

#[test]
fn bad_ranges_fall_back() {
    let data = vec![1u8, 2, 3, 4];
    let m = Layout {
        data: &data,
        parts: vec![(0, 2), (2, 9)],
        targets: vec![(0, 4)],
    }
    .measure();
    assert_eq!(m.whole, None);
    assert_eq!(m.targets, vec![None]);
    assert_eq!(m.parts[0].to_bits(), entropy(&data[..2]).to_bits());
    let m = Layout {
        data: &data,
        parts: vec![],
        targets: vec![(3, 9)],
    }
    .measure();
    assert_eq!(m.whole, None);
    // No parts: the whole is counted in pieces, split at the targets' ends.
    let m = Layout {
        data: &data,
        parts: vec![],
        targets: vec![(1, 3), (0, 4), (2, 2)],
    }
    .measure();
    assert_eq!(m.whole.map(f64::to_bits), Some(entropy(&data).to_bits()));
    assert_eq!(m.targets, vec![Some(1.0), Some(2.0), Some(0.0)]);
}

/// Parses `data` and checks every entropy the parse reports against a direct
/// count; returns what it reported.
fn check(data: &[u8]) -> ByteEntropy {
    let Ok(info) = crate::parse(data) else {
        return ByteEntropy::default();
    };
    let be = &info.byte_entropy;
    let len = data.len() as u64;
    let clamp = |off: u64, size: u64| {
        (
            off.min(len) as usize,
            off.saturating_add(size).min(len) as usize,
        )
    };
    if let Some(f) = be.file {
        assert_eq!(f.to_bits(), entropy(data).to_bits(), "whole file");
    }
    assert!(be.segments.len() == info.segments.len() || be.segments.is_empty());
    for (seg, e) in info.segments.iter().zip(&be.segments) {
        if let Some(e) = e {
            assert!(seg.kind == "LOAD" && seg.flags.contains('X'));
            let r = clamp(seg.offset, seg.filesz);
            assert_eq!(e.to_bits(), direct(data, r), "segment {r:?}");
        }
    }
    if let Some(e) = be.overlay {
        let o = info.overlay.expect("overlay entropy without an overlay");
        assert_eq!(e.to_bits(), direct(data, clamp(o.offset, o.size)));
    }
    for s in &info.sections {
        if let Some(e) = s.entropy {
            let r = if s.kind == "NOBITS" {
                (0, 0)
            } else {
                clamp(s.offset, s.size)
            };
            assert_eq!(e.to_bits(), direct(data, r), "section {}", s.index);
        }
    }
    info.byte_entropy
}

/// ELF files of /usr/bin (every fourth, up to 120 MB in all): the whole-file
/// entropy is always assembled for them, and so are nearly all executable
/// segments.
#[test]
fn system_elf_files_match_direct_counts() {
    let Ok(dir) = std::fs::read_dir("/usr/bin") else {
        panic!("/usr/bin is not readable");
    };
    let mut paths: Vec<_> = dir.filter_map(|e| Some(e.ok()?.path())).collect();
    paths.sort();
    let (mut files, mut bytes, mut segs, mut segs_assembled) = (0, 0, 0, 0);
    for path in paths.iter().step_by(4) {
        if bytes > 120 << 20 {
            break;
        }
        let Ok(data) = std::fs::read(path) else {
            continue;
        };
        if !data.starts_with(b"\x7fELF") {
            continue;
        }
        let be = check(&data);
        assert!(
            be.file.is_some(),
            "{}: whole file not assembled",
            path.display()
        );
        files += 1;
        bytes += data.len();
        segs += be.segments.len();
        segs_assembled += be.segments.iter().flatten().count();
        // Truncated copies: sections and segments past the end.
        for cut in [data.len() / 2, data.len() / 3 + 5, 100, 63] {
            check(&data[..cut.min(data.len())]);
        }
    }
    eprintln!("{files} ELF files, {bytes} bytes, {segs_assembled} executable segments assembled");
    assert!(files >= 20, "only {files} ELF files in /usr/bin");
    assert!(segs_assembled >= files, "{segs_assembled} of {segs}");
}

fn put(d: &mut [u8], at: usize, v: &[u8]) {
    d[at..at + v.len()].copy_from_slice(v);
}

fn u64_at(d: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(d[at..at + 8].try_into().unwrap())
}

fn u16_at(d: &[u8], at: usize) -> usize {
    usize::from(u16::from_le_bytes(d[at..at + 2].try_into().unwrap()))
}

/// Section header `i`'s offset in the file (ELF64 little-endian).
fn shdr(d: &[u8], i: usize) -> usize {
    u64_at(d, 0x28) as usize + i * u16_at(d, 0x3a)
}

/// Crafted variants of the test binary: overlapping sections, a section past
/// the end, a section turned NOBITS, no section headers, a segment end inside
/// a section.
#[test]
fn crafted_layouts_match_direct_counts() {
    let exe = std::fs::read(std::env::current_exe().unwrap()).unwrap();
    assert_eq!(
        &exe[..6],
        b"\x7fELF\x02\x01",
        "expects an ELF64 LE test binary"
    );
    let shnum = u16_at(&exe, 0x3c);
    assert!(shnum > 10);
    let base = check(&exe);
    assert!(base.file.is_some());

    // Section 5 made to cover section 6 as well: overlap, whole file counted
    // directly by the caller.
    let mut d = exe.clone();
    let (o5, o6) = (shdr(&d, 5), shdr(&d, 6));
    let end6 = u64_at(&d, o6 + 24) + u64_at(&d, o6 + 32);
    let size = end6.max(u64_at(&d, o5 + 24) + 1) - u64_at(&d, o5 + 24);
    put(&mut d, o5 + 32, &(size + 64).to_le_bytes());
    put(&mut d, o5 + 4, &1u32.to_le_bytes()); // PROGBITS
    let be = check(&d);
    assert_eq!(be.file, None);
    assert!(be.segments.iter().all(Option::is_none));

    // A section running to the end of the address space: clamped to the file,
    // where it covers the sections after it.
    let mut d = exe.clone();
    let first = shdr(&d, 1);
    put(&mut d, first + 4, &1u32.to_le_bytes());
    put(&mut d, first + 32, &u64::MAX.to_le_bytes());
    assert!(check(&d).file.is_none());

    // The last section moved into the section header table at the end of the
    // file, running past it: clamped, no overlap, still assembled; and moved
    // wholly past the end (no bytes).
    let last = shdr(&exe, shnum - 1);
    let len = exe.len() as u64;
    for off in [len - 10, len + 10] {
        let mut d = exe.clone();
        put(&mut d, last + 4, &1u32.to_le_bytes());
        put(&mut d, last + 24, &off.to_le_bytes());
        put(&mut d, last + 32, &1000u64.to_le_bytes());
        assert!(check(&d).file.is_some(), "offset {off}");
    }

    // Every section NOBITS: nothing counted per section, the file in gaps.
    let mut d = exe.clone();
    for i in 1..shnum {
        let at = shdr(&d, i) + 4;
        put(&mut d, at, &8u32.to_le_bytes());
    }
    let be = check(&d);
    assert!(be.file.is_some());
    assert!(be.segments.iter().flatten().count() >= 1);

    // No section headers.
    let mut d = exe.clone();
    put(&mut d, 0x3c, &0u16.to_le_bytes());
    put(&mut d, 0x28, &0u64.to_le_bytes());
    let be = check(&d);
    assert!(be.file.is_some());
    assert!(be.segments.iter().flatten().count() >= 1);

    // Executable segment ending in the middle of the section at its end.
    let mut d = exe.clone();
    let (phoff, phent, phnum) = (
        u64_at(&d, 0x20) as usize,
        u16_at(&d, 0x36),
        u16_at(&d, 0x38),
    );
    let x = (0..phnum)
        .map(|i| phoff + i * phent)
        .find(|&p| d[p..p + 4] == 1u32.to_le_bytes() && d[p + 4] & 1 != 0)
        .expect("an executable PT_LOAD");
    let filesz = u64_at(&d, x + 32);
    put(&mut d, x + 32, &(filesz - 3).to_le_bytes());
    let be = check(&d);
    assert!(be.file.is_some());
    let i = (x - phoff) / phent;
    assert_eq!(be.segments[i], None, "segment end inside a section");
    assert!(base.segments[i].is_some());

    // Random corruption of the headers never yields a wrong value.
    let mut rng = Rng(0x1234_5678_9abc_def1);
    let shoff = u64_at(&exe, 0x28) as usize;
    for _ in 0..300 {
        let mut d = exe.clone();
        for _ in 0..1 + rng.below(4) {
            let at = match rng.below(3) {
                0 => shoff + rng.below(shnum * 64),
                1 => phoff + rng.below(phnum * phent),
                _ => rng.below(64),
            };
            if at < d.len() {
                d[at] = rng.next() as u8;
            }
        }
        check(&d);
    }
}
