//! Shared helpers for the integration tests: compiling the sample program with each
//! cross compiler and reading `readelf`'s view of a file.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

/// The sample program. Uses a stack buffer (so -fstack-protector-all adds a canary),
/// printf and puts (the imports the tests look for) and strncpy (fortifiable).
pub const SAMPLE_C: &str = r#"
#include <stdio.h>
#include <string.h>

int main(int argc, char **argv) {
    char buf[64];
    strncpy(buf, argc > 1 ? argv[1] : "ferret", sizeof buf - 1);
    buf[sizeof buf - 1] = 0;
    printf("%s %d\n", buf, argc);
    puts("done");
    return 0;
}
"#;

/// One cross toolchain and what its output must look like.
#[derive(Debug, Clone, Copy)]
pub struct Arch {
    pub cc: &'static str,
    pub machine: &'static str,
    pub is64: bool,
    pub big_endian: bool,
    pub interp: &'static str,
}

pub const ARCHES: &[Arch] = &[
    Arch {
        cc: "gcc",
        machine: "x86-64",
        is64: true,
        big_endian: false,
        interp: "/lib64/ld-linux-x86-64.so.2",
    },
    Arch {
        cc: "i686-linux-gnu-gcc",
        machine: "i386",
        is64: false,
        big_endian: false,
        interp: "/lib/ld-linux.so.2",
    },
    Arch {
        cc: "arm-linux-gnueabi-gcc",
        machine: "ARM",
        is64: false,
        big_endian: false,
        interp: "/lib/ld-linux.so.3",
    },
    Arch {
        cc: "aarch64-linux-gnu-gcc",
        machine: "AArch64",
        is64: true,
        big_endian: false,
        interp: "/lib/ld-linux-aarch64.so.1",
    },
    Arch {
        cc: "mips-linux-gnu-gcc",
        machine: "MIPS",
        is64: false,
        big_endian: true,
        interp: "/lib/ld.so.1",
    },
    Arch {
        cc: "mipsel-linux-gnu-gcc",
        machine: "MIPS",
        is64: false,
        big_endian: false,
        interp: "/lib/ld.so.1",
    },
    Arch {
        cc: "powerpc-linux-gnu-gcc",
        machine: "PowerPC",
        is64: false,
        big_endian: true,
        interp: "/lib/ld.so.1",
    },
];

/// Build variants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Variant {
    /// Default dynamic build, explicitly without stack protector.
    Dynamic,
    /// `-static`.
    Static,
    /// `-static-pie` (x86-64 only).
    StaticPie,
    /// Dynamic, `-s`.
    Stripped,
    /// `-O2 -D_FORTIFY_SOURCE=2 -fstack-protector-all -Wl,-z,relro,-z,now`.
    Hardened,
}

impl Variant {
    pub fn flags(self) -> &'static [&'static str] {
        match self {
            Variant::Dynamic => &["-fno-stack-protector"],
            Variant::Static => &["-static"],
            Variant::StaticPie => &["-static-pie"],
            Variant::Stripped => &["-s", "-fno-stack-protector"],
            Variant::Hardened => &[
                "-O2",
                "-D_FORTIFY_SOURCE=2",
                "-fstack-protector-all",
                "-Wl,-z,relro,-z,now",
            ],
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Variant::Dynamic => "dynamic",
            Variant::Static => "static",
            Variant::StaticPie => "static-pie",
            Variant::Stripped => "stripped",
            Variant::Hardened => "hardened",
        }
    }
}

/// Every (arch, variant) the cross test covers.
pub fn all_builds() -> Vec<(Arch, Variant)> {
    let mut v = Vec::new();
    for a in ARCHES {
        for var in [
            Variant::Dynamic,
            Variant::Static,
            Variant::Stripped,
            Variant::Hardened,
        ] {
            v.push((*a, var));
        }
        if a.cc == "gcc" {
            v.push((*a, Variant::StaticPie));
        }
    }
    v
}

/// A directory for compiled samples inside cargo's per-package test scratch space,
/// so both test binaries reuse the same builds.
pub fn sample_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("ferret-elf-samples");
    std::fs::create_dir_all(&dir).expect("create sample dir");
    dir
}

/// Compiles all `builds` (in parallel, a few at a time) and returns their paths in order.
/// Panics with the compiler's message if a toolchain from scripts/install.sh is missing.
pub fn compile_all(builds: &[(Arch, Variant)]) -> Vec<PathBuf> {
    let dir = sample_dir();
    let src = dir.join("sample.c");
    if std::fs::read_to_string(&src).ok().as_deref() != Some(SAMPLE_C) {
        std::fs::write(&src, SAMPLE_C).expect("write sample.c");
    }
    let mut out = Vec::new();
    for chunk in builds.chunks(4) {
        let mut running = Vec::new();
        for (arch, var) in chunk {
            let path = dir.join(format!("{}-{}", arch.cc, var.name()));
            out.push(path.clone());
            // Reuse a build from an earlier test run if it is newer than the source.
            let fresh = match (std::fs::metadata(&path), std::fs::metadata(&src)) {
                (Ok(b), Ok(s)) => b.modified().ok() >= s.modified().ok(),
                _ => false,
            };
            if fresh {
                continue;
            }
            // Unique per process so concurrent test processes never share a half-written file.
            let tmp = path.with_extension(format!("{}.tmp", std::process::id()));
            let child = Command::new(arch.cc)
                .args(var.flags())
                .arg("-o")
                .arg(&tmp)
                .arg(&src)
                .spawn()
                .unwrap_or_else(|e| {
                    panic!(
                        "cannot run {} ({e}); install it with scripts/install.sh",
                        arch.cc
                    )
                });
            running.push((child, tmp, path, arch.cc, var.name()));
        }
        for (mut child, tmp, path, cc, var) in running {
            let status = child.wait().expect("wait for compiler");
            assert!(
                status.success(),
                "{cc} failed to build the {var} sample (are the cross libc packages from scripts/install.sh installed?)"
            );
            std::fs::rename(&tmp, &path).expect("rename sample");
        }
    }
    out
}

/// What `readelf -W -h -S -l` says about a file.
#[derive(Debug, Default)]
pub struct Readelf {
    pub elf_type: String,
    pub entry: u64,
    pub section_names: Vec<String>,
    pub segment_kinds: Vec<String>,
    pub program_header_count: usize,
    /// Flags column of PT_GNU_STACK ("RW", "RWE"), if present.
    pub gnu_stack_flags: Option<String>,
}

pub fn readelf(path: &Path) -> Readelf {
    let out = Command::new("readelf")
        .args(["-W", "-h", "-S", "-l"])
        .arg(path)
        .env("LC_ALL", "C")
        .output()
        .expect("readelf (binutils) must be installed");
    let text = String::from_utf8_lossy(&out.stdout);
    let mut r = Readelf::default();
    let mut in_phdrs = false;
    for line in text.lines() {
        let t = line.trim();
        if let Some(v) = t.strip_prefix("Type:") {
            r.elf_type = v.split_whitespace().next().unwrap_or("").to_string();
        } else if let Some(v) = t.strip_prefix("Entry point address:") {
            r.entry = u64::from_str_radix(v.trim().trim_start_matches("0x"), 16).expect("entry");
        } else if t.starts_with('[') && t.contains(']') && !t.starts_with("[Requesting") {
            let (idx, rest) = t[1..].split_once(']').expect("section line");
            if idx.trim().parse::<usize>().is_ok() {
                let name = if idx.trim() == "0" {
                    String::new()
                } else {
                    rest.split_whitespace().next().unwrap_or("").to_string()
                };
                r.section_names.push(name);
            }
        } else if let Some(v) = t.strip_prefix("Number of program headers:") {
            // "65535 (70)" when the real count lives in section 0.
            let v = v.trim();
            let v = v
                .split_once('(')
                .map_or(v, |(_, n)| n.trim_end_matches(')'));
            r.program_header_count = v.trim().parse().expect("program header count");
        } else if t.starts_with("Type") && t.contains("Offset") && t.contains("VirtAddr") {
            in_phdrs = true;
        } else if in_phdrs {
            if t.is_empty() {
                in_phdrs = false;
            } else if !t.starts_with('[') {
                let toks: Vec<&str> = t.split_whitespace().collect();
                r.segment_kinds.push(toks[0].to_string());
                if toks[0] == "GNU_STACK" {
                    // Flags sit between MemSiz (index 5) and Align (last): "RW" or "R E".
                    r.gnu_stack_flags = Some(toks[6..toks.len() - 1].concat());
                }
            }
        }
    }
    r
}

/// Compares ferret-elf's result for `data` against readelf for `path`.
pub fn compare_with_readelf(path: &Path, data: &[u8]) -> Result<(), String> {
    let r = readelf(path);
    let info = ferret_elf::parse(data).map_err(|e| format!("{}: {e}", path.display()))?;
    let names: Vec<&str> = info.sections.iter().map(|s| &*s.name).collect();
    if names != r.section_names {
        return Err(format!(
            "{}: section names differ\n ours:    {names:?}\n readelf: {:?}",
            path.display(),
            r.section_names
        ));
    }
    if info.segments.len() != r.program_header_count {
        return Err(format!(
            "{}: {} segments, readelf says {}",
            path.display(),
            info.segments.len(),
            r.program_header_count
        ));
    }
    let kinds: Vec<&str> = info.segments.iter().map(|s| &*s.kind).collect();
    if kinds != r.segment_kinds {
        return Err(format!(
            "{}: segment kinds differ\n ours:    {kinds:?}\n readelf: {:?}",
            path.display(),
            r.segment_kinds
        ));
    }
    if info.entry != r.entry {
        return Err(format!(
            "{}: entry 0x{:x}, readelf says 0x{:x}",
            path.display(),
            info.entry,
            r.entry
        ));
    }
    if info.elf_type != r.elf_type {
        return Err(format!(
            "{}: type {}, readelf says {}",
            path.display(),
            info.elf_type,
            r.elf_type
        ));
    }
    Ok(())
}

/// `n` ELF files of /usr/bin, evenly spaced through the name-sorted list so different
/// toolchains and packages are represented (deterministic on one machine); symlinks are
/// skipped so each file is seen once.
pub fn usr_bin_elves(n: usize, max_size: u64) -> Vec<PathBuf> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir("/usr/bin")
        .expect("read /usr/bin")
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
        .map(|e| e.path())
        .collect();
    paths.sort();
    let mut elves = Vec::new();
    for p in paths {
        let Ok(meta) = std::fs::metadata(&p) else {
            continue;
        };
        if meta.len() > max_size {
            continue;
        }
        let mut magic = [0u8; 4];
        let is_elf = std::fs::File::open(&p)
            .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut magic))
            .is_ok()
            && &magic == b"\x7fELF";
        if is_elf {
            elves.push(p);
        }
    }
    let step = (elves.len() / n.max(1)).max(1);
    elves.into_iter().step_by(step).take(n).collect()
}
