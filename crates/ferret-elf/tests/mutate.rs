//! Robustness: thousands of corrupted variants of real ELF files (every cross toolchain
//! plus a few from /usr/bin) must each parse without panicking and yield a result.
//!
//! Every variant is derived from its own seed, printed on failure, so a failing case can
//! be replayed with `FERRET_ELF_SEED=<seed> cargo test -p ferret-elf --test mutate`.

mod common;

use common::{ARCHES, Variant, compile_all, usr_bin_elves};
use ferret_elf::{ElfInfo, Options, parse, parse_with};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::{Duration, Instant};

const BASE_SEED: u64 = 0x5eed_f3e7_e1f0_0001;
const VARIANTS: u64 = 10_240;
/// Files at least this large (the static samples) get a third of the variants a small
/// file gets, keeping the debug-build run time near 30 s.
const BIG: usize = 256 << 10;

/// splitmix64: tiny, fixed, good enough to spread mutations.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        if n == 0 { 0 } else { self.next() % n }
    }
    fn pick<T: Copy>(&mut self, v: &[T]) -> T {
        v[self.below(v.len() as u64) as usize]
    }
}

/// Where the interesting structures of an original file are, found once per file with
/// the parser itself (on the intact file).
struct Layout {
    is64: bool,
    be: bool,
    header_ends: u64,
    /// Offsets of section headers and program headers.
    shdrs: Vec<u64>,
    phdrs: Vec<u64>,
    /// Start offsets of each dynamic entry.
    dyn_entries: Vec<u64>,
    /// Section and segment data boundaries, for truncation.
    boundaries: Vec<u64>,
    /// (offset, size) of sections worth scribbling on: hash, version, symbol and
    /// string tables.
    tables: Vec<(u64, u64)>,
    class: ferret_elf::Class,
    machine: u16,
}

fn layout(data: &[u8]) -> Layout {
    let info = parse(data).expect("corpus file parses");
    let is64 = info.class == ferret_elf::Class::Elf64;
    let be = info.endianness == ferret_elf::Endianness::Big;
    let rd = |off: usize, n: usize| -> u64 {
        let b = &data[off..off + n];
        let mut v = 0u64;
        for i in 0..n {
            let byte = if be { b[i] } else { b[n - 1 - i] };
            v = (v << 8) | u64::from(byte);
        }
        v
    };
    let (phoff, shoff, phent, shent) = if is64 {
        (rd(32, 8), rd(40, 8), rd(54, 2), rd(58, 2))
    } else {
        (rd(28, 4), rd(32, 4), rd(42, 2), rd(46, 2))
    };
    let shdrs: Vec<u64> = (0..info.sections.len() as u64)
        .map(|i| shoff + i * shent)
        .collect();
    let phdrs: Vec<u64> = (0..info.segments.len() as u64)
        .map(|i| phoff + i * phent)
        .collect();
    let mut dyn_entries = Vec::new();
    if let Some(d) = info.segments.iter().find(|s| s.kind == "DYNAMIC") {
        let ent = if is64 { 16 } else { 8 };
        dyn_entries = (0..d.filesz / ent).map(|i| d.offset + i * ent).collect();
    }
    let mut boundaries = vec![if is64 { 64 } else { 52 }, phoff, shoff];
    for s in &info.sections {
        boundaries.extend([s.offset, s.offset + s.size]);
    }
    for s in &info.segments {
        boundaries.extend([s.offset, s.offset + s.filesz]);
    }
    boundaries.retain(|&b| b <= data.len() as u64);
    let tables = info
        .sections
        .iter()
        .filter(|s| {
            matches!(
                &*s.kind,
                "GNU_HASH"
                    | "HASH"
                    | "VERNEED"
                    | "VERDEF"
                    | "VERSYM"
                    | "DYNSYM"
                    | "STRTAB"
                    | "SYMTAB"
                    | "DYNAMIC"
                    | "NOTE"
            )
        })
        .map(|s| (s.offset, s.size))
        .collect();
    Layout {
        is64,
        be,
        header_ends: if is64 { 64 } else { 52 },
        shdrs,
        phdrs,
        dyn_entries,
        boundaries,
        tables,
        class: info.class,
        machine: info.machine.id,
    }
}

fn put(buf: &mut [u8], off: u64, n: usize, v: u64, be: bool) {
    let Ok(off) = usize::try_from(off) else {
        return;
    };
    if off.checked_add(n).is_none_or(|e| e > buf.len()) {
        return;
    }
    for i in 0..n {
        let shift = if be { 8 * (n - 1 - i) } else { 8 * i };
        buf[off + i] = (v >> shift) as u8;
    }
}

fn interesting(rng: &mut Rng, len: u64) -> u64 {
    match rng.below(14) {
        0 => 0,
        1 => 1,
        2 => 0x7f,
        3 => 0xffff,
        4 => 0xffff_ffff,
        5 => u64::MAX,
        6 => len,
        7 => len.saturating_sub(1),
        8 => len + 1,
        9 => 0x8000_0000,
        10 => u64::MAX - rng.below(64),
        11 => rng.below(len.max(1)),
        12 => rng.next() & 0xffff_ffff,
        _ => rng.next(),
    }
}

/// Applies one seeded mutation to `buf` (a copy of the original); returns a label and
/// whether the ELF identification bytes were left intact.
fn mutate(rng: &mut Rng, buf: &mut Vec<u8>, l: &Layout) -> &'static str {
    let len = buf.len() as u64;
    let word = if l.is64 { 8 } else { 4 };
    match rng.below(12) {
        0 => {
            buf.truncate(rng.below(len) as usize);
            "truncate-random"
        }
        1 => {
            let b = l.boundaries[rng.below(l.boundaries.len() as u64) as usize];
            let cut = (b + rng.below(3)).saturating_sub(1).min(len);
            buf.truncate(cut as usize);
            "truncate-boundary"
        }
        2 => {
            for _ in 0..1 + rng.below(16) {
                let i = rng.below(len) as usize;
                buf[i] ^= 1 << rng.below(8);
            }
            "bitflip-anywhere"
        }
        3 => {
            // Bit flips in the header and header tables, where they hurt most.
            let mut spots = vec![rng.below(l.header_ends)];
            if !l.shdrs.is_empty() {
                let s = l.shdrs[rng.below(l.shdrs.len() as u64) as usize];
                spots.push(s + rng.below(if l.is64 { 64 } else { 40 }));
            }
            if !l.phdrs.is_empty() {
                let p = l.phdrs[rng.below(l.phdrs.len() as u64) as usize];
                spots.push(p + rng.below(if l.is64 { 56 } else { 32 }));
            }
            for s in spots {
                if let Some(b) = buf.get_mut(s as usize) {
                    *b ^= 1 << rng.below(8);
                }
            }
            "bitflip-headers"
        }
        4 => {
            // ELF header count/offset fields.
            let (shoff, phoff, shnum, shstrndx, phnum, phent, shent) = if l.is64 {
                (40, 32, 60, 62, 56, 54, 58)
            } else {
                (32, 28, 48, 50, 44, 42, 46)
            };
            let v = interesting(rng, len);
            match rng.below(7) {
                0 => put(buf, shoff, word, v, l.be),
                1 => put(buf, phoff, word, v, l.be),
                2 => put(buf, shnum, 2, v, l.be),
                3 => put(buf, shstrndx, 2, v, l.be),
                4 => put(buf, phnum, 2, v, l.be),
                5 => put(buf, phent, 2, v, l.be),
                _ => put(buf, shent, 2, v, l.be),
            }
            "ehdr-field"
        }
        5 | 6 if !l.shdrs.is_empty() => {
            // sh_name, sh_offset, sh_size, sh_link or sh_type of one section.
            let s = l.shdrs[rng.below(l.shdrs.len() as u64) as usize];
            let v = interesting(rng, len);
            let (name, kind, offset, size, link) = if l.is64 {
                (0, 4, 24, 32, 40)
            } else {
                (0, 4, 16, 20, 24)
            };
            match rng.below(5) {
                0 => put(buf, s + name, 4, v, l.be),
                1 => put(buf, s + kind, 4, v, l.be),
                2 => put(buf, s + offset, word, v, l.be),
                3 => put(buf, s + size, word, v, l.be),
                _ => put(buf, s + link, 4, v, l.be),
            }
            "shdr-field"
        }
        7 if !l.phdrs.is_empty() => {
            // p_offset, p_filesz, p_vaddr or p_type of one segment.
            let p = l.phdrs[rng.below(l.phdrs.len() as u64) as usize];
            let v = interesting(rng, len);
            let (offset, vaddr, filesz) = if l.is64 { (8, 16, 32) } else { (4, 8, 16) };
            match rng.below(4) {
                0 => put(buf, p + offset, word, v, l.be),
                1 => put(buf, p + vaddr, word, v, l.be),
                2 => put(buf, p + filesz, word, v, l.be),
                _ => put(buf, p, 4, rng.pick(&[1, 2, 3, 4, 0x6474_e551]), l.be),
            }
            "phdr-field"
        }
        8 | 9 if !l.dyn_entries.is_empty() => {
            // A DT_ value, or a tag rewritten to a table-locating tag.
            let e = l.dyn_entries[rng.below(l.dyn_entries.len() as u64) as usize];
            if rng.below(2) == 0 {
                put(buf, e + word as u64, word, interesting(rng, len), l.be);
            } else {
                let tag = rng.pick(&[
                    1u64,
                    4,
                    5,
                    6,
                    10,
                    11,
                    0x6fff_fef5,
                    0x6fff_fff0,
                    0x6fff_fffc,
                    0x6fff_fffd,
                    0x6fff_fffe,
                    0x6fff_ffff,
                    0x7000_0011,
                    7,
                    8,
                    23,
                    2,
                ]);
                put(buf, e, word, tag, l.be);
            }
            "dynamic-entry"
        }
        10 if !l.tables.is_empty() => {
            // Scribble on hash/version/symbol/string/note tables.
            let (off, size) = l.tables[rng.below(l.tables.len() as u64) as usize];
            for _ in 0..1 + rng.below(8) {
                let at = off + rng.below(size.max(1));
                let v = interesting(rng, len);
                put(buf, at, rng.pick(&[1, 2, 4, 8]), v, l.be);
            }
            "table-bytes"
        }
        _ => {
            // Several corruptions at once.
            for _ in 0..2 + rng.below(4) {
                let at = rng.below(len);
                put(buf, at, 4, interesting(rng, len), l.be);
            }
            "multi-field"
        }
    }
}

/// Touches every part of the result, including serialization, so lazily wrong data
/// (e.g. a bad string slice) would surface here too.
fn exercise(info: &ElfInfo<'_>) -> usize {
    let json = serde_json::to_string(info).expect("serializes");
    json.len() + info.symbols.len() + info.imports.len()
}

fn corpus() -> Vec<(String, Vec<u8>)> {
    let mut builds = Vec::new();
    for a in ARCHES {
        for v in [Variant::Dynamic, Variant::Hardened, Variant::Static] {
            builds.push((*a, v));
        }
    }
    let paths = compile_all(&builds);
    let mut files: Vec<(String, Vec<u8>)> = paths
        .iter()
        .map(|p| {
            (
                p.display().to_string(),
                std::fs::read(p).expect("read sample"),
            )
        })
        .collect();
    for p in usr_bin_elves(4, 256 << 10) {
        files.push((p.display().to_string(), std::fs::read(&p).expect("read")));
    }
    files
}

fn run_variant(seed: u64, name: &str, original: &[u8], l: &Layout) -> Result<&'static str, String> {
    let mut rng = Rng(seed);
    let mut buf = original.to_vec();
    let kind = mutate(&mut rng, &mut buf, l);
    let ident_intact = buf.len() >= 6 && buf[..6] == original[..6];
    let header_intact = buf.len() as u64 >= l.header_ends && buf[..20] == original[..20];
    // Every few variants use tight caps so the limit paths run too.
    let small = seed.is_multiple_of(7);
    // Entropy and JSON dominate debug-build time on the large static samples without
    // touching any hostile-input logic, so they run on a quarter of those variants.
    let full = original.len() < BIG || seed.is_multiple_of(4);
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        let r = if small {
            let opts = Options {
                max_symbols: 5,
                max_sections: 3,
                max_segments: 2,
                max_dynamic_entries: 4,
                max_notes: 1,
                max_name_len: 3,
                max_errors: 2,
                section_entropy: full,
            };
            parse_with(&buf, &opts)
        } else {
            let opts = Options {
                section_entropy: full,
                ..Options::default()
            };
            parse_with(&buf, &opts)
        };
        match r {
            Ok(info) => {
                if full {
                    exercise(&info);
                }
                Ok((info.class, info.machine.id))
            }
            Err(e) => Err(e),
        }
    }));
    match outcome {
        Err(_) => Err(format!("seed 0x{seed:016x} ({kind}) on {name}: PANIC")),
        Ok(Err(e)) if ident_intact => Err(format!(
            "seed 0x{seed:016x} ({kind}) on {name}: rejected although the ident is intact: {e}"
        )),
        Ok(Ok((class, machine))) if header_intact && (class != l.class || machine != l.machine) => {
            Err(format!(
                "seed 0x{seed:016x} ({kind}) on {name}: header fields changed ({class:?}, {machine})"
            ))
        }
        Ok(_) => Ok(kind),
    }
}

#[test]
fn mutated_real_binaries_never_panic() {
    let files = corpus();
    let layouts: Vec<Layout> = files.iter().map(|(_, d)| layout(d)).collect();
    // Silence the default hook's backtrace spam for caught panics; report seeds instead.
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let only: Option<u64> = std::env::var("FERRET_ELF_SEED")
        .ok()
        .and_then(|s| u64::from_str_radix(s.trim_start_matches("0x"), 16).ok());
    // Small files appear three times in the schedule, big ones once.
    let schedule: Vec<usize> = (0..files.len())
        .flat_map(|f| std::iter::repeat_n(f, if files[f].1.len() < BIG { 3 } else { 1 }))
        .collect();
    let start = Instant::now();
    let mut failures = Vec::new();
    let mut slowest = (Duration::ZERO, 0u64);
    let mut ran = 0u64;
    for i in 0..VARIANTS {
        let seed = BASE_SEED ^ i.wrapping_mul(0x9e37_79b9_7f4a_7c15);
        if only.is_some_and(|s| s != seed) {
            continue;
        }
        let f = schedule[(i as usize) % schedule.len()];
        let t = Instant::now();
        match run_variant(seed, &files[f].0, &files[f].1, &layouts[f]) {
            Ok(kind) if only.is_some() => eprintln!("seed 0x{seed:016x}: {kind} on {}", files[f].0),
            Ok(_) => {}
            Err(e) => failures.push(e),
        }
        let dt = t.elapsed();
        if dt > slowest.0 {
            slowest = (dt, seed);
        }
        ran += 1;
    }
    std::panic::set_hook(hook);
    eprintln!(
        "{ran} variants of {} files in {:?}; slowest 0x{:016x} took {:?}",
        files.len(),
        start.elapsed(),
        slowest.1,
        slowest.0
    );
    assert!(
        failures.is_empty(),
        "{} of {ran} variants failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(only.is_some() || ran >= 10_000);
}
