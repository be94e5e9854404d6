//! Architectures, their emulators and C libraries, and detection from the ELF header.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use ferret_elf::{Class, Endianness};

use crate::Error;

/// A Linux user-space architecture ferret can run a sample for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Arch {
    /// x86-64 (native).
    X86_64,
    /// i386 (native on an x86-64 host).
    I386,
    /// 32-bit ARM, EABI, little endian, soft float (Debian armel).
    Arm,
    /// 32-bit ARM, EABI, little endian, hard float (Debian armhf).
    ArmHf,
    /// 32-bit ARM, big endian.
    Armeb,
    /// AArch64, little endian.
    Aarch64,
    /// AArch64, big endian.
    Aarch64Be,
    /// MIPS o32, big endian.
    Mips,
    /// MIPS o32, little endian.
    Mipsel,
    /// MIPS n32, big endian.
    MipsN32,
    /// MIPS n32, little endian.
    MipsN32el,
    /// MIPS n64, big endian.
    Mips64,
    /// MIPS n64, little endian.
    Mips64el,
    /// 32-bit PowerPC, big endian.
    Ppc,
    /// 64-bit PowerPC, big endian (ELFv1).
    Ppc64,
    /// 64-bit PowerPC, little endian (ELFv2).
    Ppc64le,
    /// 32-bit SPARC.
    Sparc,
    /// 32-bit SPARC v8+ (EM_SPARC32PLUS).
    Sparc32plus,
    /// 64-bit SPARC.
    Sparc64,
    /// SuperH SH-4, little endian.
    Sh4,
    /// SuperH SH-4, big endian.
    Sh4eb,
    /// Motorola 68k.
    M68k,
    /// RISC-V 64.
    Riscv64,
    /// IBM z/Architecture.
    S390x,
}

/// Static facts of one architecture.
struct Spec {
    arch: Arch,
    name: &'static str,
    machine: u16,
    class: Class,
    endian: Endianness,
    /// QEMU's name (`qemu-<name>-static`); `None` for native.
    qemu: Option<&'static str>,
    /// Debian cross C library directory under /usr (`libc6-*-cross`).
    triplet: Option<&'static str>,
}

use Class::{Elf32 as C32, Elf64 as C64};
use Endianness::{Big as BE, Little as LE};

const fn spec(
    arch: Arch,
    name: &'static str,
    machine: u16,
    class: Class,
    endian: Endianness,
    qemu: Option<&'static str>,
    triplet: Option<&'static str>,
) -> Spec {
    Spec {
        arch,
        name,
        machine,
        class,
        endian,
        qemu,
        triplet,
    }
}

const SPECS: &[Spec] = &[
    spec(Arch::X86_64, "x86_64", 62, C64, LE, None, None),
    spec(Arch::I386, "i386", 3, C32, LE, None, None),
    spec(
        Arch::Arm,
        "arm",
        40,
        C32,
        LE,
        Some("arm"),
        Some("arm-linux-gnueabi"),
    ),
    spec(
        Arch::ArmHf,
        "armhf",
        40,
        C32,
        LE,
        Some("arm"),
        Some("arm-linux-gnueabihf"),
    ),
    spec(Arch::Armeb, "armeb", 40, C32, BE, Some("armeb"), None),
    spec(
        Arch::Aarch64,
        "aarch64",
        183,
        C64,
        LE,
        Some("aarch64"),
        Some("aarch64-linux-gnu"),
    ),
    spec(
        Arch::Aarch64Be,
        "aarch64_be",
        183,
        C64,
        BE,
        Some("aarch64_be"),
        None,
    ),
    spec(
        Arch::Mips,
        "mips",
        8,
        C32,
        BE,
        Some("mips"),
        Some("mips-linux-gnu"),
    ),
    spec(
        Arch::Mipsel,
        "mipsel",
        8,
        C32,
        LE,
        Some("mipsel"),
        Some("mipsel-linux-gnu"),
    ),
    spec(Arch::MipsN32, "mipsn32", 8, C32, BE, Some("mipsn32"), None),
    spec(
        Arch::MipsN32el,
        "mipsn32el",
        8,
        C32,
        LE,
        Some("mipsn32el"),
        None,
    ),
    spec(
        Arch::Mips64,
        "mips64",
        8,
        C64,
        BE,
        Some("mips64"),
        Some("mips64-linux-gnuabi64"),
    ),
    spec(
        Arch::Mips64el,
        "mips64el",
        8,
        C64,
        LE,
        Some("mips64el"),
        Some("mips64el-linux-gnuabi64"),
    ),
    spec(
        Arch::Ppc,
        "ppc",
        20,
        C32,
        BE,
        Some("ppc"),
        Some("powerpc-linux-gnu"),
    ),
    spec(
        Arch::Ppc64,
        "ppc64",
        21,
        C64,
        BE,
        Some("ppc64"),
        Some("powerpc64-linux-gnu"),
    ),
    spec(
        Arch::Ppc64le,
        "ppc64le",
        21,
        C64,
        LE,
        Some("ppc64le"),
        Some("powerpc64le-linux-gnu"),
    ),
    spec(Arch::Sparc, "sparc", 2, C32, BE, Some("sparc"), None),
    spec(
        Arch::Sparc32plus,
        "sparc32plus",
        18,
        C32,
        BE,
        Some("sparc32plus"),
        None,
    ),
    spec(
        Arch::Sparc64,
        "sparc64",
        43,
        C64,
        BE,
        Some("sparc64"),
        Some("sparc64-linux-gnu"),
    ),
    spec(
        Arch::Sh4,
        "sh4",
        42,
        C32,
        LE,
        Some("sh4"),
        Some("sh4-linux-gnu"),
    ),
    spec(Arch::Sh4eb, "sh4eb", 42, C32, BE, Some("sh4eb"), None),
    spec(
        Arch::M68k,
        "m68k",
        4,
        C32,
        BE,
        Some("m68k"),
        Some("m68k-linux-gnu"),
    ),
    spec(
        Arch::Riscv64,
        "riscv64",
        243,
        C64,
        LE,
        Some("riscv64"),
        Some("riscv64-linux-gnu"),
    ),
    spec(
        Arch::S390x,
        "s390x",
        22,
        C64,
        BE,
        Some("s390x"),
        Some("s390x-linux-gnu"),
    ),
];

impl Arch {
    /// Every architecture this crate knows.
    pub fn all() -> impl Iterator<Item = Arch> {
        SPECS.iter().map(|s| s.arch)
    }

    fn spec(self) -> &'static Spec {
        // SPECS lists every variant; the fallback is never taken.
        SPECS.iter().find(|s| s.arch == self).unwrap_or(&SPECS[0])
    }

    /// Short name (`arm`, `mipsel`, `ppc64le`...), as `--arch` takes it.
    pub fn name(self) -> &'static str {
        self.spec().name
    }

    /// Whether the host (x86-64) runs it without an emulator.
    pub fn is_native(self) -> bool {
        self.spec().qemu.is_none()
    }

    /// QEMU's name for it (`arm` for both ARM float ABIs), `None` when native.
    pub fn qemu_name(self) -> Option<&'static str> {
        self.spec().qemu
    }

    /// The Debian emulator binary (`/usr/bin/qemu-arm-static`), `None` when native.
    pub fn qemu_binary(self) -> Option<PathBuf> {
        self.qemu_name()
            .map(|q| PathBuf::from(format!("/usr/bin/qemu-{q}-static")))
    }

    /// Directory of the Debian cross C library (`/usr/arm-linux-gnueabi`), `None` when
    /// Debian has none for it (or it is native).
    pub fn sysroot(self) -> Option<PathBuf> {
        self.spec().triplet.map(|t| Path::new("/usr").join(t))
    }

    /// `e_machine`, class and byte order of its executables.
    pub fn elf_ident(self) -> (u16, Class, Endianness) {
        let s = self.spec();
        (s.machine, s.class, s.endian)
    }

    /// The binfmt_misc registration line that hands this architecture's ELF
    /// executables (`ET_EXEC` and `ET_DYN`) to `interpreter`, with the `F` (open the
    /// interpreter at registration, so it need not be visible to the sample later) and
    /// `P` (keep the sample's argv\[0\]; QEMU reads `AT_FLAGS` to know) flags. `None` for native architectures. Both ARM float ABIs share one rule (the
    /// header cannot tell them apart without `e_flags`), as do MIPS o32 and n32
    /// (registered for o32 only).
    pub fn binfmt_rule(self, interpreter: &Path) -> Option<String> {
        let s = self.spec();
        let qemu = s.qemu?;
        if matches!(self, Arch::ArmHf | Arch::MipsN32 | Arch::MipsN32el) {
            return None;
        }
        let class = match s.class {
            Class::Elf32 => 1u8,
            Class::Elf64 => 2,
        };
        let (data, ty, ty_mask, mach) = match s.endian {
            Endianness::Little => (1u8, [2u8, 0], [0xfeu8, 0xff], s.machine.to_le_bytes()),
            Endianness::Big => (2, [0, 2], [0xff, 0xfe], s.machine.to_be_bytes()),
        };
        // e_ident (magic, class, data, version; OS ABI and padding ignored), e_type
        // (EXEC or DYN: the low bit is masked), e_machine.
        let mut magic = vec![0x7f, b'E', b'L', b'F', class, data, 1];
        let mut mask = vec![0xff; 7];
        magic.extend_from_slice(&[0; 9]);
        mask.extend_from_slice(&[0; 9]);
        magic.extend_from_slice(&ty);
        mask.extend_from_slice(&ty_mask);
        magic.extend_from_slice(&mach);
        mask.extend_from_slice(&[0xff, 0xff]);
        let hex = |b: &[u8]| b.iter().map(|x| format!("\\x{x:02x}")).collect::<String>();
        Some(format!(
            ":qemu-{qemu}:M::{}:{}:{}:FP",
            hex(&magic),
            hex(&mask),
            interpreter.display()
        ))
    }
}

impl fmt::Display for Arch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Arch {
    type Err = Error;

    /// Parses `--arch` values: the short names plus common aliases (`x86-64`, `amd64`,
    /// `armel`, `arm64`, `powerpc`, `ppc64el`, `riscv`...).
    fn from_str(s: &str) -> Result<Arch, Error> {
        let lower = s.to_ascii_lowercase();
        let canon = match lower.as_str() {
            "x86-64" | "amd64" | "x64" => "x86_64",
            "x86" | "i686" | "i586" | "i486" => "i386",
            "armel" | "armv5" | "armv7" => "arm",
            "arm64" => "aarch64",
            "powerpc" => "ppc",
            "powerpc64" => "ppc64",
            "ppc64el" | "powerpc64le" => "ppc64le",
            "riscv" => "riscv64",
            "mips64le" => "mips64el",
            "mipsle" => "mipsel",
            "sh" | "superh" => "sh4",
            other => other,
        };
        SPECS
            .iter()
            .find(|sp| sp.name == canon)
            .map(|sp| sp.arch)
            .ok_or_else(|| {
                let names: Vec<&str> = SPECS.iter().map(|sp| sp.name).collect();
                Error::UnknownArch(format!("{s:?} (known: {})", names.join(", ")))
            })
    }
}

/// What the ELF header says about how to run a sample.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Detected {
    /// The architecture.
    pub arch: Arch,
    /// The program interpreter (`PT_INTERP`, e.g. `/lib/ld-linux.so.3`) of a dynamically
    /// linked sample.
    pub interpreter: Option<String>,
}

/// Reads the architecture and ABI from an ELF file's header (`e_machine`, class, byte
/// order, and `e_flags` for ARM's float ABI and MIPS n32).
pub fn detect(data: &[u8]) -> Result<Detected, Error> {
    let info = ferret_elf::parse(data).map_err(|e| Error::NotElf(e.to_string()))?;
    let id = info.machine.id;
    let mut found = SPECS
        .iter()
        .find(|s| s.machine == id && s.class == info.class && s.endian == info.endianness)
        .map(|s| s.arch);
    match found {
        Some(Arch::Arm) if info.flags.float_abi == Some("hard") => found = Some(Arch::ArmHf),
        Some(Arch::Mips) if info.flags.mips_abi == Some("n32") => found = Some(Arch::MipsN32),
        Some(Arch::Mipsel) if info.flags.mips_abi == Some("n32") => {
            found = Some(Arch::MipsN32el);
        }
        _ => {}
    }
    let arch = found.ok_or_else(|| {
        Error::UnsupportedArch(format!(
            "{} ({:?}, {:?}, e_machine {id})",
            info.machine.name, info.class, info.endianness
        ))
    })?;
    Ok(Detected {
        arch,
        interpreter: info.interpreter.map(|s| s.into_owned()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_aliases() {
        for a in Arch::all() {
            assert_eq!(a.name().parse::<Arch>().unwrap(), a);
        }
        assert_eq!("arm64".parse::<Arch>().unwrap(), Arch::Aarch64);
        assert_eq!("PowerPC".parse::<Arch>().unwrap(), Arch::Ppc);
        assert_eq!("amd64".parse::<Arch>().unwrap(), Arch::X86_64);
        assert!("z80".parse::<Arch>().is_err());
    }

    #[test]
    fn binfmt_rules_match_the_elf_header() {
        let bin = Path::new("/usr/bin/qemu-mips-static");
        let rule = Arch::Mips.binfmt_rule(bin).unwrap();
        let fields: Vec<&str> = rule.split(':').collect();
        assert_eq!(fields.len(), 8, "{rule}");
        assert_eq!(fields[1], "qemu-mips");
        assert_eq!(fields[2], "M");
        // Big-endian ELF32, ET_EXEC/ET_DYN, e_machine 8 at bytes 16..20.
        assert!(
            fields[4].starts_with("\\x7f\\x45\\x4c\\x46\\x01\\x02\\x01"),
            "{rule}"
        );
        assert!(fields[4].ends_with("\\x00\\x02\\x00\\x08"), "{rule}");
        assert!(fields[5].ends_with("\\xff\\xfe\\xff\\xff"), "{rule}");
        assert_eq!(fields[6], "/usr/bin/qemu-mips-static");
        assert_eq!(fields[7], "FP");
        let le = Arch::Aarch64.binfmt_rule(bin).unwrap();
        assert!(le.contains("\\x02\\x01\\x01"), "{le}");
        assert!(le.contains("\\x02\\x00\\xb7\\x00:"), "{le}");
        assert!(Arch::X86_64.binfmt_rule(bin).is_none());
        assert!(Arch::ArmHf.binfmt_rule(bin).is_none());
    }

    fn header(class: u8, data: u8, machine: u16, flags: u32) -> Vec<u8> {
        let mut h = vec![0u8; 64];
        h[..4].copy_from_slice(b"\x7fELF");
        h[4] = class;
        h[5] = data;
        h[6] = 1;
        let be = data == 2;
        let put16 = |h: &mut Vec<u8>, off: usize, v: u16| {
            let b = if be { v.to_be_bytes() } else { v.to_le_bytes() };
            h[off..off + 2].copy_from_slice(&b);
        };
        put16(&mut h, 16, 2);
        put16(&mut h, 18, machine);
        let fo = if class == 1 { 36 } else { 48 };
        let b = if be {
            flags.to_be_bytes()
        } else {
            flags.to_le_bytes()
        };
        h[fo..fo + 4].copy_from_slice(&b);
        h
    }

    #[test]
    fn detection_uses_class_endianness_and_flags() {
        let d = |h: Vec<u8>| detect(&h).map(|d| d.arch);
        // ARM EABI5 soft float vs hard float (EF_ARM_ABI_FLOAT_HARD 0x400).
        assert_eq!(d(header(1, 1, 40, 0x0500_0200)).unwrap(), Arch::Arm);
        assert_eq!(d(header(1, 1, 40, 0x0500_0400)).unwrap(), Arch::ArmHf);
        assert_eq!(d(header(1, 2, 40, 0x0500_0000)).unwrap(), Arch::Armeb);
        assert_eq!(d(header(1, 2, 8, 0x7000_1007)).unwrap(), Arch::Mips);
        assert_eq!(d(header(1, 1, 8, 0x7000_1007)).unwrap(), Arch::Mipsel);
        // EF_MIPS_ABI2: n32.
        assert_eq!(d(header(1, 2, 8, 0x8000_0020)).unwrap(), Arch::MipsN32);
        assert_eq!(d(header(2, 1, 8, 0)).unwrap(), Arch::Mips64el);
        assert_eq!(d(header(1, 2, 20, 0)).unwrap(), Arch::Ppc);
        assert_eq!(d(header(2, 1, 21, 2)).unwrap(), Arch::Ppc64le);
        assert_eq!(d(header(2, 2, 22, 0)).unwrap(), Arch::S390x);
        assert_eq!(d(header(2, 1, 243, 5)).unwrap(), Arch::Riscv64);
        assert_eq!(d(header(1, 2, 42, 0)).unwrap(), Arch::Sh4eb);
        let err = d(header(1, 1, 0x1234, 0)).unwrap_err();
        assert!(
            err.to_string().contains("unsupported architecture"),
            "{err}"
        );
        assert!(detect(b"MZ").is_err());
    }
}
