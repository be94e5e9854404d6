//! Packer signs on built binaries, and whole static analysis over mutated ELFs.

use std::path::Path;
use std::process::Command;

use ferret_static::{Kind, Options, analyze_bytes};

fn build_static(dir: &Path) -> Vec<u8> {
    let src = dir.join("p.c");
    std::fs::write(
        &src,
        "#include <stdio.h>\nint main(int c,char**v){for(int i=0;i<c;i++)puts(v[i]);return 0;}\n",
    )
    .unwrap();
    let out = dir.join("p");
    let st = Command::new("gcc")
        .args(["-O1", "-static", "-o"])
        .arg(&out)
        .arg(&src)
        .status()
        .unwrap();
    assert!(st.success());
    std::fs::read(out).unwrap()
}

fn ids(r: &ferret_static::StaticReport<'_>) -> Vec<&'static str> {
    r.packer.indicators.iter().map(|i| i.id).collect()
}

struct Xorshift(u64);
impl Xorshift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

#[test]
fn plain_binary_has_no_packer() {
    let dir = tempfile::tempdir().unwrap();
    let data = build_static(dir.path());
    let r = analyze_bytes("p", &data, &Options::default());
    assert_eq!(r.packer.name, None, "{:?}", r.packer);
    assert!(
        !ids(&r)
            .iter()
            .any(|i| i.starts_with("upx") || *i == "high-entropy"),
        "{:?}",
        ids(&r)
    );
}

#[test]
fn upx_markers_name_upx_and_erased_markers_name_modified_upx() {
    let dir = tempfile::tempdir().unwrap();
    let mut data = build_static(dir.path());
    // UPX puts its l_info header ("UPX!") right after the program headers and its
    // banner in the loader; place both where UPX does.
    let phoff = u64::from_le_bytes(data[0x20..0x28].try_into().unwrap()) as usize;
    let phnum = u16::from_le_bytes(data[0x38..0x3a].try_into().unwrap()) as usize;
    let at = phoff + phnum * 56;
    let banner = b"$Info: This file is packed with the UPX executable packer http://upx.sf.net $";
    let mid = data.len() / 2;
    let mut modified = data.clone();
    modified[mid..mid + banner.len()].copy_from_slice(banner);
    data[at..at + 4].copy_from_slice(b"UPX!");
    data[mid..mid + banner.len()].copy_from_slice(banner);

    let r = analyze_bytes("upx", &data, &Options::default());
    assert_eq!(r.packer.name.as_deref(), Some("UPX"));
    assert!(
        ids(&r).contains(&"upx-magic") && ids(&r).contains(&"upx-banner"),
        "{:?}",
        ids(&r)
    );
    let r = analyze_bytes("upx-mod", &modified, &Options::default());
    assert_eq!(r.packer.name.as_deref(), Some("UPX (modified)"));
}

#[test]
fn stripped_headers_and_encrypted_code_name_an_unknown_packer() {
    let dir = tempfile::tempdir().unwrap();
    let mut data = build_static(dir.path());
    let elf = ferret_elf::parse(&data).unwrap().into_owned();
    let text = elf
        .sections
        .iter()
        .find(|s| s.name == ".text")
        .unwrap()
        .clone();
    // Encrypt the code as a crypter would, and drop the section headers as sstrip does.
    let mut rng = Xorshift(0x5eed);
    for b in &mut data[text.offset as usize..(text.offset + text.size) as usize] {
        *b = rng.next() as u8;
    }
    data[0x28..0x30].fill(0); // e_shoff
    data[0x3c..0x40].fill(0); // e_shnum, e_shstrndx
    let r = analyze_bytes("crypted", &data, &Options::default());
    let got = ids(&r);
    assert!(got.contains(&"no-section-headers"), "{got:?}");
    assert!(got.contains(&"high-entropy-code"), "{got:?}");
    assert_eq!(r.packer.name.as_deref(), Some("unknown packer"), "{got:?}");
}

#[test]
fn entry_outside_code_and_overlay_are_reported() {
    let dir = tempfile::tempdir().unwrap();
    let mut data = build_static(dir.path());
    // Point the entry at address 0 + 8 (never mapped executable) and append 64 KiB.
    data[0x18..0x20].copy_from_slice(&8u64.to_le_bytes());
    let mut rng = Xorshift(7);
    data.extend((0..65536).map(|_| rng.next() as u8));
    let r = analyze_bytes("odd", &data, &Options::default());
    let got = ids(&r);
    assert!(got.contains(&"entry-outside-code"), "{got:?}");
    assert!(got.contains(&"overlay"), "{got:?}");
}

/// Whole static analysis (type, hashes, ELF, strings, IOCs, packer) over mutated
/// real ELFs: a result for every variant, never a panic. The parser's own mutation
/// test goes deeper into ELF structures; this one covers everything around it.
#[test]
fn mutated_elves_always_give_a_report() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("d.c");
    std::fs::write(
        &src,
        "#include <stdio.h>\nint main(void){puts(\"http://203.0.113.5/x\");return 0;}\n",
    )
    .unwrap();
    let exe = dir.path().join("d");
    assert!(
        Command::new("gcc")
            .arg("-o")
            .arg(&exe)
            .arg(&src)
            .status()
            .unwrap()
            .success()
    );
    let mut originals = vec![std::fs::read(&exe).unwrap()];
    for p in ["/bin/true", "/bin/ls"] {
        originals.push(std::fs::read(p).unwrap());
    }
    let options = Options {
        max_strings: 1000,
        ..Options::default()
    };
    let mut rng = Xorshift(0xfe44e7);
    let mut variants = 0;
    for round in 0..2000 {
        let orig = &originals[round % originals.len()];
        let mut data = orig.clone();
        match rng.next() % 3 {
            0 => data.truncate((rng.next() as usize) % orig.len()),
            1 => {
                for _ in 0..1 + rng.next() % 64 {
                    let i = (rng.next() as usize) % data.len();
                    data[i] ^= 1 << (rng.next() % 8);
                }
            }
            _ => {
                // Header region: where corruption changes the most structure.
                for _ in 0..1 + rng.next() % 8 {
                    let i = (rng.next() as usize) % 0x40.min(data.len());
                    data[i] = rng.next() as u8;
                }
            }
        }
        let result = std::panic::catch_unwind(|| {
            let r = analyze_bytes("m", &data, &options);
            assert_eq!(r.analysed_bytes, data.len() as u64);
            assert!(r.file_type.kind == Kind::Elf || r.elf.is_none());
            serde_json::to_vec(&r).expect("serialisable").len()
        });
        assert!(result.is_ok(), "panic on variant {round}");
        variants += 1;
    }
    println!("{variants} mutated variants analysed");
}
