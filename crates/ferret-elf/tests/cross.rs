//! Real binaries from every cross toolchain scripts/install.sh provides, each in several
//! link/hardening variants, checked for their known properties and against readelf.

mod common;

use common::{Variant, all_builds, compare_with_readelf, compile_all, readelf, usr_bin_elves};
use ferret_elf::{Class, Endianness, Linkage, Relro, parse};

#[test]
fn cross_compiled_samples() {
    let builds = all_builds();
    let paths = compile_all(&builds);
    let mut failures = Vec::new();
    for ((arch, var), path) in builds.iter().zip(&paths) {
        let data = std::fs::read(path).expect("read sample");
        let what = format!("{} {}", arch.cc, var.name());
        let info = parse(&data).unwrap_or_else(|e| panic!("{what}: {e}"));
        let re = readelf(path);
        let imports: Vec<&str> = info.imports.iter().map(|i| &*i.name).collect();

        let mut check = |ok: bool, msg: String| {
            if !ok {
                failures.push(format!("{what}: {msg}"));
            }
        };
        check(info.errors.is_empty(), format!("errors {:?}", info.errors));
        check(
            info.machine.name == arch.machine,
            format!("machine {}", info.machine.name),
        );
        let class = if arch.is64 {
            Class::Elf64
        } else {
            Class::Elf32
        };
        check(info.class == class, format!("class {:?}", info.class));
        let endian = if arch.big_endian {
            Endianness::Big
        } else {
            Endianness::Little
        };
        check(
            info.endianness == endian,
            format!("endianness {:?}", info.endianness),
        );
        let nx = re
            .gnu_stack_flags
            .as_ref()
            .is_some_and(|f| !f.contains('E'));
        check(info.nx_stack == nx, format!("nx_stack {}", info.nx_stack));
        check(
            info.pie == (re.elf_type == "DYN"),
            format!("pie {} for type {}", info.pie, re.elf_type),
        );
        check(info.section_headers_present, "no section headers".into());
        check(
            info.entry_in_executable_segment,
            "entry not in an executable segment".into(),
        );
        check(
            info.notes.build_id.as_ref().is_some_and(|b| b.len() >= 16),
            format!("build id {:?}", info.notes.build_id),
        );

        match var {
            Variant::Static | Variant::StaticPie => {
                let want = if *var == Variant::Static {
                    Linkage::Static
                } else {
                    Linkage::StaticPie
                };
                check(info.linkage == want, format!("linkage {:?}", info.linkage));
                check(
                    info.interpreter.is_none(),
                    format!("interp {:?}", info.interpreter),
                );
                check(info.needed.is_empty(), format!("needed {:?}", info.needed));
                check(imports.is_empty(), format!("imports {imports:?}"));
                check(!info.stripped, "static build reported stripped".into());
                // glibc itself is built with the stack protector, so every static
                // binary defines __stack_chk_fail.
                check(info.stack_protector, "static glibc has no canary?".into());
                check(
                    info.entry_section.as_deref() == Some(".text"),
                    format!("entry section {:?}", info.entry_section),
                );
            }
            Variant::Dynamic | Variant::Stripped | Variant::Hardened => {
                check(
                    info.linkage == Linkage::Dynamic,
                    format!("linkage {:?}", info.linkage),
                );
                check(
                    info.interpreter.as_deref() == Some(arch.interp),
                    format!("interp {:?}", info.interpreter),
                );
                check(
                    info.needed.iter().any(|n| n == "libc.so.6"),
                    format!("needed {:?}", info.needed),
                );
                check(
                    imports.contains(&"puts"),
                    format!("imports {imports:?} lack puts"),
                );
                check(
                    info.imports.iter().any(|i| {
                        i.version
                            .as_deref()
                            .is_some_and(|v| v.starts_with("GLIBC_"))
                    }),
                    "no GLIBC_ symbol versions".into(),
                );
                check(
                    info.stripped == (*var == Variant::Stripped),
                    format!("stripped {}", info.stripped),
                );
                if *var == Variant::Hardened {
                    check(
                        info.stack_protector,
                        "no stack protector with -fstack-protector-all".into(),
                    );
                    check(info.fortify, format!("no __*_chk import: {imports:?}"));
                    check(info.relro == Relro::Full, format!("relro {:?}", info.relro));
                } else {
                    check(
                        imports.contains(&"printf"),
                        format!("imports {imports:?} lack printf"),
                    );
                    check(
                        !info.stack_protector,
                        "stack protector without -fstack-protector".into(),
                    );
                    check(!info.fortify, "fortify without _FORTIFY_SOURCE".into());
                    let has_relro = re.segment_kinds.iter().any(|k| k == "GNU_RELRO");
                    let want = if has_relro {
                        Relro::Partial
                    } else {
                        Relro::None
                    };
                    check(info.relro == want, format!("relro {:?}", info.relro));
                }
            }
        }
        match arch.machine {
            "ARM" => check(
                info.flags.arm_eabi_version == Some(5) && info.flags.float_abi == Some("soft"),
                format!("ARM flags {:?}", info.flags),
            ),
            "MIPS" => check(
                info.flags.mips_abi == Some("o32") && info.flags.mips_isa.is_some(),
                format!("MIPS flags {:?}", info.flags),
            ),
            _ => {}
        }
        if let Err(e) = compare_with_readelf(path, &data) {
            check(false, e);
        }

        // The same file with its section headers removed (as sstrip and UPX leave
        // malware): libraries and imports must still come from the dynamic segment.
        if info.linkage == Linkage::Dynamic {
            let mut d = data.clone();
            let (shoff, shnum, shstrndx) = if arch.is64 {
                (40..48, 60..62, 62..64)
            } else {
                (32..36, 48..50, 50..52)
            };
            for r in [shoff, shnum, shstrndx] {
                d[r].fill(0);
            }
            let bare = parse(&d).unwrap_or_else(|e| panic!("{what} sstrip: {e}"));
            let bare_imports: Vec<&str> = bare.imports.iter().map(|i| &*i.name).collect();
            let mut full: Vec<_> = imports.clone();
            let mut got = bare_imports.clone();
            full.sort_unstable();
            got.sort_unstable();
            let ok = !bare.section_headers_present
                && bare.sections.is_empty()
                && bare.needed == info.needed
                && got == full
                && bare.interpreter == info.interpreter
                && bare.relro == info.relro
                && bare.stack_protector == info.stack_protector
                && bare.linkage == Linkage::Dynamic;
            check(
                ok,
                format!(
                    "without section headers: needed {:?} imports {bare_imports:?} (want {imports:?}) errors {:?}",
                    bare.needed, bare.errors
                ),
            );
        }
    }
    assert!(
        failures.is_empty(),
        "{} problems:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn usr_bin_matches_readelf() {
    // FERRET_ELF_USR_BIN_FILES=100000 checks every ELF file in /usr/bin.
    let n = std::env::var("FERRET_ELF_USR_BIN_FILES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(50);
    let files = usr_bin_elves(n, 64 << 20);
    assert!(
        files.len() >= 20,
        "only {} ELF files in /usr/bin",
        files.len()
    );
    let mut failures = Vec::new();
    for path in &files {
        let data = std::fs::read(path).expect("read");
        if let Err(e) = compare_with_readelf(path, &data) {
            failures.push(e);
        }
        let info = parse(&data).expect("ELF");
        if !info.errors.is_empty() {
            failures.push(format!("{}: errors {:?}", path.display(), info.errors));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} files differ:\n{}",
        failures.len(),
        files.len(),
        failures.join("\n")
    );
}
