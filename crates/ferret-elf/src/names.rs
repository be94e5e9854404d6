//! Name tables for ELF constants (machines, OS ABIs, section/segment/symbol kinds).
//!
//! Names follow what binutils `readelf` prints where one exists, since analysts compare
//! ferret's report against it; machine names are the short canonical spellings used by
//! toolchains and QEMU.

use std::borrow::Cow;

/// Machine constants used by the decoders in this crate.
pub(crate) const EM_386: u16 = 3;
pub(crate) const EM_MIPS: u16 = 8;
pub(crate) const EM_MIPS_RS3_LE: u16 = 10;
pub(crate) const EM_PPC64: u16 = 21;
pub(crate) const EM_S390: u16 = 22;
pub(crate) const EM_ARM: u16 = 40;
pub(crate) const EM_X86_64: u16 = 62;
pub(crate) const EM_AARCH64: u16 = 183;
pub(crate) const EM_RISCV: u16 = 243;

/// (e_machine, short name, description). Sorted by id for binary search.
const MACHINES: &[(u16, &str, &str)] = &[
    (0, "none", "No machine"),
    (1, "WE32100", "AT&T WE 32100"),
    (2, "SPARC", "Sun SPARC"),
    (3, "i386", "Intel 80386"),
    (4, "m68k", "Motorola 68000"),
    (5, "m88k", "Motorola 88000"),
    (6, "IAMCU", "Intel MCU"),
    (7, "i860", "Intel 80860"),
    (8, "MIPS", "MIPS R3000 and later"),
    (9, "S/370", "IBM System/370"),
    (10, "MIPS RS3000 LE", "MIPS RS3000 little-endian"),
    (15, "PA-RISC", "HP PA-RISC"),
    (17, "VPP500", "Fujitsu VPP500"),
    (18, "SPARC32+", "Sun SPARC v8plus"),
    (19, "i960", "Intel 80960"),
    (20, "PowerPC", "PowerPC 32-bit"),
    (21, "PowerPC64", "PowerPC 64-bit"),
    (22, "s390", "IBM S/390"),
    (23, "SPU", "IBM Cell SPU"),
    (36, "V800", "NEC V800"),
    (37, "FR20", "Fujitsu FR20"),
    (38, "RH32", "TRW RH-32"),
    (39, "MCore", "Motorola M*Core"),
    (40, "ARM", "ARM 32-bit"),
    (41, "Alpha (old)", "Digital Alpha (old number)"),
    (42, "SuperH", "Renesas SuperH"),
    (43, "SPARC V9", "SPARC Version 9 (64-bit)"),
    (44, "TriCore", "Siemens TriCore"),
    (45, "ARC", "Argonaut RISC Core"),
    (46, "H8/300", "Renesas H8/300"),
    (47, "H8/300H", "Renesas H8/300H"),
    (48, "H8S", "Renesas H8S"),
    (49, "H8/500", "Renesas H8/500"),
    (50, "IA-64", "Intel Itanium"),
    (51, "MIPS-X", "Stanford MIPS-X"),
    (52, "ColdFire", "Motorola ColdFire"),
    (53, "68HC12", "Motorola M68HC12"),
    (54, "MMA", "Fujitsu MMA"),
    (55, "PCP", "Siemens PCP"),
    (56, "nCPU", "Sony nCPU"),
    (57, "NDR1", "Denso NDR1"),
    (58, "StarCore", "Motorola StarCore"),
    (59, "ME16", "Toyota ME16"),
    (60, "ST100", "STMicroelectronics ST100"),
    (61, "TinyJ", "Advanced Logic TinyJ"),
    (62, "x86-64", "AMD x86-64"),
    (63, "PDSP", "Sony DSP"),
    (64, "PDP-10", "Digital PDP-10"),
    (65, "PDP-11", "Digital PDP-11"),
    (66, "FX66", "Siemens FX66"),
    (67, "ST9+", "STMicroelectronics ST9+"),
    (68, "ST7", "STMicroelectronics ST7"),
    (69, "68HC16", "Motorola MC68HC16"),
    (70, "68HC11", "Motorola MC68HC11"),
    (71, "68HC08", "Motorola MC68HC08"),
    (72, "68HC05", "Motorola MC68HC05"),
    (73, "SVx", "Silicon Graphics SVx"),
    (74, "ST19", "STMicroelectronics ST19"),
    (75, "VAX", "Digital VAX"),
    (76, "CRIS", "Axis ETRAX CRIS"),
    (77, "Javelin", "Infineon Javelin"),
    (78, "Firepath", "Element 14 Firepath"),
    (79, "ZSP", "LSI Logic ZSP"),
    (80, "MMIX", "Knuth MMIX"),
    (81, "HUANY", "Harvard HUANY"),
    (82, "Prism", "SiTera Prism"),
    (83, "AVR", "Atmel AVR 8-bit"),
    (84, "FR30", "Fujitsu FR30"),
    (85, "D10V", "Mitsubishi D10V"),
    (86, "D30V", "Mitsubishi D30V"),
    (87, "V850", "NEC v850"),
    (88, "M32R", "Renesas M32R"),
    (89, "MN10300", "Matsushita MN10300"),
    (90, "MN10200", "Matsushita MN10200"),
    (91, "picoJava", "picoJava"),
    (92, "OpenRISC", "OpenRISC 1000"),
    (93, "ARCompact", "ARC International ARCompact"),
    (94, "Xtensa", "Tensilica Xtensa"),
    (95, "VideoCore", "Alphamosaic VideoCore"),
    (96, "TMM GPP", "Thompson Multimedia GPP"),
    (97, "NS32K", "National Semiconductor 32000"),
    (98, "TPC", "Tenor Network TPC"),
    (99, "SNP1K", "Trebia SNP 1000"),
    (100, "ST200", "STMicroelectronics ST200"),
    (101, "IP2K", "Ubicom IP2xxx"),
    (102, "MAX", "MAX Processor"),
    (103, "CompactRISC", "National Semiconductor CompactRISC"),
    (104, "F2MC16", "Fujitsu F2MC16"),
    (105, "MSP430", "TI MSP430"),
    (106, "Blackfin", "Analog Devices Blackfin"),
    (107, "S1C33", "Seiko Epson S1C33"),
    (108, "SEP", "Sharp embedded microprocessor"),
    (109, "Arca", "Arca RISC"),
    (110, "UniCore", "PKU-Unity UniCore"),
    (113, "Nios II", "Altera Nios II"),
    (131, "TSK3000", "Altium TSK3000"),
    (138, "LatticeMico32", "Lattice Mico32"),
    (140, "TMS320C6000", "TI TMS320C6000 DSP"),
    (164, "Hexagon", "Qualcomm Hexagon"),
    (183, "AArch64", "ARM 64-bit"),
    (185, "AVR32", "Atmel AVR32"),
    (186, "STM8", "STMicroelectronics STM8"),
    (188, "TILEPro", "Tilera TILEPro"),
    (189, "MicroBlaze", "Xilinx MicroBlaze"),
    (190, "CUDA", "NVIDIA CUDA"),
    (191, "TILE-Gx", "Tilera TILE-Gx"),
    (195, "ARCv2", "Synopsys ARCv2 (ARC HS)"),
    (204, "Visium", "Controls and Data Services VISIUMcore"),
    (220, "Z80", "Zilog Z80"),
    (224, "AMDGPU", "AMD GPU"),
    (243, "RISC-V", "RISC-V"),
    (247, "BPF", "Linux BPF"),
    (252, "C-SKY", "C-SKY"),
    (258, "LoongArch", "LoongArch"),
    (0x5441, "FR-V", "Fujitsu FR-V (old number)"),
    (0x9026, "Alpha", "Digital Alpha"),
    (0x9041, "M32R (old)", "Renesas M32R (old number)"),
    (0xa390, "s390 (old)", "IBM S/390 (old number)"),
    (0xbaab, "MicroBlaze (old)", "Xilinx MicroBlaze (old number)"),
];

/// Short name and description for `e_machine`. EM_S390 is "s390x" in 64-bit files,
/// since that is how every toolchain and QEMU names the 64-bit variant.
pub(crate) fn machine(id: u16, is64: bool) -> (Cow<'static, str>, &'static str) {
    if id == EM_S390 && is64 {
        return (Cow::Borrowed("s390x"), "IBM z/Architecture (64-bit S/390)");
    }
    match MACHINES.binary_search_by_key(&id, |m| m.0) {
        Ok(i) => {
            let (_, name, desc) = MACHINES[i];
            (Cow::Borrowed(name), desc)
        }
        Err(_) => (
            Cow::Owned(format!("unknown (0x{id:04x})")),
            "Unknown machine",
        ),
    }
}

/// `EI_OSABI` name. Value 97 means ARM in ARM files and is reported as such.
pub(crate) fn os_abi(v: u8) -> Cow<'static, str> {
    let s = match v {
        0 => "SYSV",
        1 => "HP-UX",
        2 => "NetBSD",
        3 => "Linux",
        4 => "Hurd",
        6 => "Solaris",
        7 => "AIX",
        8 => "IRIX",
        9 => "FreeBSD",
        10 => "Tru64",
        11 => "Modesto",
        12 => "OpenBSD",
        13 => "OpenVMS",
        14 => "NonStop Kernel",
        15 => "AROS",
        16 => "FenixOS",
        17 => "CloudABI",
        18 => "OpenVOS",
        64 => "ARM EABI",
        97 => "ARM",
        255 => "Standalone",
        _ => return Cow::Owned(format!("unknown (0x{v:02x})")),
    };
    Cow::Borrowed(s)
}

/// `e_type` name.
pub(crate) fn elf_type(v: u16) -> Cow<'static, str> {
    match v {
        0 => Cow::Borrowed("NONE"),
        1 => Cow::Borrowed("REL"),
        2 => Cow::Borrowed("EXEC"),
        3 => Cow::Borrowed("DYN"),
        4 => Cow::Borrowed("CORE"),
        0xfe00..=0xfeff => Cow::Owned(format!("OS-specific (0x{v:04x})")),
        0xff00..=0xffff => Cow::Owned(format!("processor-specific (0x{v:04x})")),
        _ => Cow::Owned(format!("unknown (0x{v:04x})")),
    }
}

/// `sh_type` name without the `SHT_` prefix, as readelf prints it.
pub(crate) fn section_type(v: u32, machine: u16) -> Cow<'static, str> {
    let s = match v {
        0 => "NULL",
        1 => "PROGBITS",
        2 => "SYMTAB",
        3 => "STRTAB",
        4 => "RELA",
        5 => "HASH",
        6 => "DYNAMIC",
        7 => "NOTE",
        8 => "NOBITS",
        9 => "REL",
        10 => "SHLIB",
        11 => "DYNSYM",
        14 => "INIT_ARRAY",
        15 => "FINI_ARRAY",
        16 => "PREINIT_ARRAY",
        17 => "GROUP",
        18 => "SYMTAB_SHNDX",
        19 => "RELR",
        0x6fff4c00 => "LLVM_ODRTAB",
        0x6fff4c01 => "LLVM_LINKER_OPTIONS",
        0x6fff4c02 => "LLVM_CALL_GRAPH_PROFILE",
        0x6fff4c03 => "LLVM_ADDRSIG",
        0x6fff4c04 => "LLVM_DEPENDENT_LIBRARIES",
        0x6fff4c05 => "LLVM_SYMPART",
        0x6ffffff5 => "GNU_ATTRIBUTES",
        0x6ffffff6 => "GNU_HASH",
        0x6ffffff7 => "GNU_LIBLIST",
        0x6ffffff8 => "CHECKSUM",
        0x6ffffffd => "VERDEF",
        0x6ffffffe => "VERNEED",
        0x6fffffff => "VERSYM",
        0x7000_0000..=0x7fff_ffff => match (machine, v) {
            (EM_ARM, 0x70000001) => "ARM_EXIDX",
            (EM_ARM, 0x70000002) => "ARM_PREEMPTMAP",
            (EM_ARM, 0x70000003) => "ARM_ATTRIBUTES",
            (EM_AARCH64, 0x70000003) => "AARCH64_ATTRIBUTES",
            (EM_X86_64, 0x70000001) => "X86_64_UNWIND",
            (EM_RISCV, 0x70000003) => "RISCV_ATTRIBUTES",
            (EM_MIPS | EM_MIPS_RS3_LE, 0x70000006) => "MIPS_REGINFO",
            (EM_MIPS | EM_MIPS_RS3_LE, 0x7000000d) => "MIPS_OPTIONS",
            (EM_MIPS | EM_MIPS_RS3_LE, 0x7000001e) => "MIPS_DWARF",
            (EM_MIPS | EM_MIPS_RS3_LE, 0x7000002a) => "MIPS_ABIFLAGS",
            _ => return Cow::Owned(format!("LOPROC+0x{:x}", v - 0x7000_0000)),
        },
        0x6000_0000..=0x6fff_ffff => {
            return Cow::Owned(format!("LOOS+0x{:x}", v - 0x6000_0000));
        }
        0x8000_0000..=0xffff_ffff => {
            return Cow::Owned(format!("LOUSER+0x{:x}", v - 0x8000_0000));
        }
        _ => return Cow::Owned(format!("unknown (0x{v:x})")),
    };
    Cow::Borrowed(s)
}

/// `p_type` name without the `PT_` prefix, as readelf prints it.
pub(crate) fn segment_type(v: u32, machine: u16) -> Cow<'static, str> {
    let s = match v {
        0 => "NULL",
        1 => "LOAD",
        2 => "DYNAMIC",
        3 => "INTERP",
        4 => "NOTE",
        5 => "SHLIB",
        6 => "PHDR",
        7 => "TLS",
        0x6474e550 => "GNU_EH_FRAME",
        0x6474e551 => "GNU_STACK",
        0x6474e552 => "GNU_RELRO",
        0x6474e553 => "GNU_PROPERTY",
        0x6474e554 => "GNU_SFRAME",
        0x65041580 => "PAX_FLAGS",
        0x65a3dbe5 => "OPENBSD_MUTABLE",
        0x65a3dbe6 => "OPENBSD_RANDOMIZE",
        0x65a3dbe7 => "OPENBSD_WXNEEDED",
        0x65a41be6 => "OPENBSD_BOOTDATA",
        0x7000_0000..=0x7fff_ffff => match (machine, v) {
            (EM_ARM, 0x70000001) => "EXIDX",
            (EM_AARCH64, 0x70000002) => "AARCH64_MEMTAG_MTE",
            (EM_MIPS | EM_MIPS_RS3_LE, 0x70000000) => "REGINFO",
            (EM_MIPS | EM_MIPS_RS3_LE, 0x70000001) => "RTPROC",
            (EM_MIPS | EM_MIPS_RS3_LE, 0x70000002) => "OPTIONS",
            (EM_MIPS | EM_MIPS_RS3_LE, 0x70000003) => "ABIFLAGS",
            (EM_RISCV, 0x70000003) => "RISCV_ATTRIBUTES",
            _ => return Cow::Owned(format!("LOPROC+0x{:x}", v - 0x7000_0000)),
        },
        0x6000_0000..=0x6fff_ffff => {
            return Cow::Owned(format!("LOOS+0x{:x}", v - 0x6000_0000));
        }
        _ => return Cow::Owned(format!("unknown (0x{v:x})")),
    };
    Cow::Borrowed(s)
}

/// `ST_TYPE` name.
pub(crate) fn symbol_type(v: u8) -> Cow<'static, str> {
    let s = match v {
        0 => "NOTYPE",
        1 => "OBJECT",
        2 => "FUNC",
        3 => "SECTION",
        4 => "FILE",
        5 => "COMMON",
        6 => "TLS",
        10 => "IFUNC",
        _ => return Cow::Owned(format!("unknown ({v})")),
    };
    Cow::Borrowed(s)
}

/// `ST_BIND` name.
pub(crate) fn symbol_bind(v: u8) -> Cow<'static, str> {
    let s = match v {
        0 => "LOCAL",
        1 => "GLOBAL",
        2 => "WEAK",
        10 => "UNIQUE",
        _ => return Cow::Owned(format!("unknown ({v})")),
    };
    Cow::Borrowed(s)
}

/// `ST_VISIBILITY` name (always one of the four).
pub(crate) fn symbol_visibility(v: u8) -> &'static str {
    match v & 3 {
        0 => "DEFAULT",
        1 => "INTERNAL",
        2 => "HIDDEN",
        _ => "PROTECTED",
    }
}

/// readelf-style letter string for `sh_flags`; the common combinations are static.
pub(crate) fn section_flags(f: u64) -> Cow<'static, str> {
    let s = match f {
        0 => "",
        0x2 => "A",
        0x3 => "WA",
        0x6 => "AX",
        0x30 => "MS",
        0x32 => "AMS",
        0x42 => "AI",
        0x403 => "WAT",
        _ => return Cow::Owned(section_flag_letters(f)),
    };
    Cow::Borrowed(s)
}

fn section_flag_letters(f: u64) -> String {
    const LETTERS: &[(u64, char)] = &[
        (0x1, 'W'),
        (0x2, 'A'),
        (0x4, 'X'),
        (0x10, 'M'),
        (0x20, 'S'),
        (0x40, 'I'),
        (0x80, 'L'),
        (0x100, 'O'),
        (0x200, 'G'),
        (0x400, 'T'),
        (0x800, 'C'),
        (0x8000_0000, 'E'),
    ];
    let mut s = String::new();
    let mut known = 0u64;
    for &(bit, c) in LETTERS {
        known |= bit;
        if f & bit != 0 {
            s.push(c);
        }
    }
    // SHF_GNU_RETAIN lives in the OS range but is common enough to name.
    known |= 0x20_0000;
    if f & 0x20_0000 != 0 {
        s.push('R');
    }
    let rest = f & !known;
    if rest & 0x0ff0_0000 != 0 {
        s.push('o');
    }
    if rest & 0xf000_0000 != 0 {
        s.push('p');
    }
    if rest & !0xfff0_0000 != 0 {
        s.push('x');
    }
    s
}

/// "RWX"-style letters for `p_flags` (absent permissions are omitted).
pub(crate) fn segment_flags(f: u32) -> &'static str {
    match f & 7 {
        0 => "",
        1 => "X",
        2 => "W",
        3 => "WX",
        4 => "R",
        5 => "RX",
        6 => "RW",
        _ => "RWX",
    }
}

/// OS named in an NT_GNU_ABI_TAG note.
pub(crate) fn abi_tag_os(v: u32) -> Cow<'static, str> {
    match v {
        0 => Cow::Borrowed("Linux"),
        1 => Cow::Borrowed("Hurd"),
        2 => Cow::Borrowed("Solaris"),
        3 => Cow::Borrowed("FreeBSD"),
        4 => Cow::Borrowed("NetBSD"),
        5 => Cow::Borrowed("Syllable"),
        6 => Cow::Borrowed("NaCl"),
        _ => Cow::Owned(format!("unknown ({v})")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn machine_table_is_sorted_and_unique() {
        assert!(MACHINES.windows(2).all(|w| w[0].0 < w[1].0));
    }

    #[test]
    fn machine_names() {
        assert_eq!(machine(62, true).0, "x86-64");
        assert_eq!(machine(22, true).0, "s390x");
        assert_eq!(machine(22, false).0, "s390");
        assert_eq!(machine(0x1234, false).0, "unknown (0x1234)");
    }

    #[test]
    fn flag_letters() {
        assert_eq!(section_flags(0x6), "AX");
        assert_eq!(section_flags(0x3), "WA");
        assert_eq!(section_flags(0x30), "MS");
        assert_eq!(section_flags(0x1000_0000), "p");
        for f in [0u64, 2, 3, 6, 0x30, 0x32, 0x42, 0x403] {
            assert_eq!(section_flags(f), section_flag_letters(f));
        }
        assert_eq!(segment_flags(5), "RX");
        assert_eq!(segment_flags(7), "RWX");
    }
}
