//! Every sample is built for every architecture, dynamic and static, as an ELF
//! executable of the right machine, class and byte order; static builds have no
//! program interpreter and dynamic builds have one.

use std::fs;

use ferret_samples::{ARCHES, NAMES, build, elf_machine, path};

/// (64-bit, big-endian) of each architecture.
fn layout(arch: &str) -> (bool, bool) {
    match arch {
        "x86_64" | "aarch64" => (true, false),
        "i386" | "arm" | "mipsel" => (false, false),
        "mips" | "powerpc" => (false, true),
        other => panic!("no layout for {other}"),
    }
}

struct Elf {
    is64: bool,
    big: bool,
    e_type: u16,
    machine: u16,
    has_interp: bool,
}

fn parse(data: &[u8]) -> Result<Elf, String> {
    if data.len() < 52 || &data[..4] != b"\x7fELF" {
        return Err("not an ELF file".into());
    }
    let is64 = match data[4] {
        1 => false,
        2 => true,
        c => return Err(format!("bad EI_CLASS {c}")),
    };
    let big = match data[5] {
        1 => false,
        2 => true,
        d => return Err(format!("bad EI_DATA {d}")),
    };
    let u16_at = |o: usize| -> Result<u16, String> {
        let b: [u8; 2] = data
            .get(o..o + 2)
            .and_then(|s| s.try_into().ok())
            .ok_or_else(|| format!("truncated at {o}"))?;
        Ok(if big {
            u16::from_be_bytes(b)
        } else {
            u16::from_le_bytes(b)
        })
    };
    let u32_at = |o: usize| -> Result<u32, String> {
        let b: [u8; 4] = data
            .get(o..o + 4)
            .and_then(|s| s.try_into().ok())
            .ok_or_else(|| format!("truncated at {o}"))?;
        Ok(if big {
            u32::from_be_bytes(b)
        } else {
            u32::from_le_bytes(b)
        })
    };
    let u64_at = |o: usize| -> Result<u64, String> {
        let b: [u8; 8] = data
            .get(o..o + 8)
            .and_then(|s| s.try_into().ok())
            .ok_or_else(|| format!("truncated at {o}"))?;
        Ok(if big {
            u64::from_be_bytes(b)
        } else {
            u64::from_le_bytes(b)
        })
    };
    let e_type = u16_at(16)?;
    let machine = u16_at(18)?;
    let (phoff, phentsize, phnum) = if is64 {
        (u64_at(32)? as usize, u16_at(54)? as usize, u16_at(56)?)
    } else {
        (u32_at(28)? as usize, u16_at(42)? as usize, u16_at(44)?)
    };
    let mut has_interp = false;
    for i in 0..phnum as usize {
        let p_type = u32_at(phoff + i * phentsize)?;
        has_interp |= p_type == 3; // PT_INTERP
    }
    Ok(Elf {
        is64,
        big,
        e_type,
        machine,
        has_interp,
    })
}

#[test]
fn every_sample_is_an_elf_of_its_architecture() {
    build();
    let mut checked = 0;
    for arch in ARCHES {
        let want_machine = elf_machine(arch).expect("known arch");
        let (want64, want_big) = layout(arch);
        for name in NAMES {
            for static_ in [false, true] {
                let p = path(arch, name, static_);
                let data = fs::read(&p).unwrap_or_else(|e| panic!("{} missing: {e}", p.display()));
                let elf = parse(&data).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
                assert_eq!(elf.machine, want_machine, "{}: e_machine", p.display());
                assert_eq!(elf.is64, want64, "{}: class", p.display());
                assert_eq!(elf.big, want_big, "{}: byte order", p.display());
                // ET_EXEC, or ET_DYN for position-independent executables.
                assert!(
                    elf.e_type == 2 || elf.e_type == 3,
                    "{}: e_type {}",
                    p.display(),
                    elf.e_type
                );
                assert_eq!(
                    elf.has_interp,
                    !static_,
                    "{}: PT_INTERP presence",
                    p.display()
                );
                checked += 1;
            }
        }
    }
    assert_eq!(checked, ARCHES.len() * NAMES.len() * 2);
}

#[test]
fn the_parser_rejects_what_is_not_an_elf() {
    assert!(parse(b"#!/bin/sh\necho hi\n").is_err());
    let mut fake = b"\x7fELF".to_vec();
    fake.resize(64, 0);
    fake[4] = 9;
    assert!(parse(&fake).is_err());
}
