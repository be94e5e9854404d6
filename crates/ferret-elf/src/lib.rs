//! Zero-copy, panic-free ELF parser for ferret's static analysis of possibly hostile
//! Linux executables of every architecture (32/64-bit, little/big endian).
//!
//! [`parse`] never panics and never loops or allocates without bound: every count and
//! offset in the file is checked against the data and against the caps in [`Options`].
//! A damaged file still yields everything that could be read, plus a list of
//! [`ParseError`]s describing what could not. Only input that is not ELF at all (bad
//! magic, class or data encoding) is rejected with [`NotElf`].
//!
//! Strings (section, symbol and library names) borrow from the input when they are
//! valid UTF-8, so the result carries the input's lifetime; call
//! [`ElfInfo::into_owned`] to detach it.
//!
//! ```
//! let data = std::fs::read("/proc/self/exe").expect("readable");
//! let info = ferret_elf::parse(&data).expect("an ELF file");
//! assert!(info.section_headers_present);
//! println!("{} {} {:?} pie={}", info.machine.name, info.elf_type, info.linkage, info.pie);
//! assert!(ferret_elf::parse(b"MZ\x90\0").is_err());
//! ```

mod dynamic;
mod entropy;
mod names;
mod notes;
mod parser;
mod read;
#[cfg(test)]
mod tests;

#[cfg(test)]
use parser::decode_flags as parser_flags;

use serde::Serialize;
use std::borrow::Cow;
use std::fmt;

pub use entropy::entropy;

/// A string that borrows from the parsed file when it can.
pub type Str<'a> = Cow<'a, str>;

/// Limits that bound the work and memory spent on one file.
#[derive(Debug, Clone)]
pub struct Options {
    /// Symbols kept in [`ElfInfo::symbols`]; the rest are counted in
    /// [`ElfInfo::symbols_omitted`]. Imports/exports are always complete up to this
    /// many dynamic symbols.
    pub max_symbols: usize,
    /// Section headers read.
    pub max_sections: usize,
    /// Program headers read.
    pub max_segments: usize,
    /// Entries of the dynamic table read.
    pub max_dynamic_entries: usize,
    /// Notes decoded.
    pub max_notes: usize,
    /// Longest name (in bytes) taken from a string table; longer names are cut.
    pub max_name_len: usize,
    /// Errors recorded; further ones are counted in a final summary error.
    pub max_errors: usize,
    /// Compute per-section entropy. The total bytes hashed are capped at twice the file
    /// size plus 1 MiB, so overlapping hostile sections cannot multiply the work.
    pub section_entropy: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            max_symbols: 100_000,
            max_sections: 65_535,
            max_segments: 65_535,
            max_dynamic_entries: 65_536,
            max_notes: 1_024,
            max_name_len: 4_096,
            max_errors: 256,
            section_entropy: true,
        }
    }
}

/// The input is not an ELF file at all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotElf {
    /// Fewer bytes than the magic, class and data-encoding fields need.
    TooShort {
        /// Input length in bytes.
        len: usize,
    },
    /// The first four bytes are not `\x7fELF`.
    BadMagic,
    /// `EI_CLASS` is neither 1 (ELF32) nor 2 (ELF64).
    BadClass(u8),
    /// `EI_DATA` is neither 1 (little endian) nor 2 (big endian).
    BadEncoding(u8),
}

impl fmt::Display for NotElf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NotElf::TooShort { len } => write!(f, "not ELF: only {len} bytes"),
            NotElf::BadMagic => f.write_str("not ELF: bad magic"),
            NotElf::BadClass(c) => write!(f, "not ELF: invalid EI_CLASS {c}"),
            NotElf::BadEncoding(d) => write!(f, "not ELF: invalid EI_DATA {d}"),
        }
    }
}

impl std::error::Error for NotElf {}

/// ELF class.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Class {
    /// 32-bit.
    #[serde(rename = "ELF32")]
    Elf32,
    /// 64-bit.
    #[serde(rename = "ELF64")]
    Elf64,
}

/// Byte order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Endianness {
    /// Little endian (`ELFDATA2LSB`).
    Little,
    /// Big endian (`ELFDATA2MSB`).
    Big,
}

/// How the program is linked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Linkage {
    /// No dynamic loader and no dynamic table.
    Static,
    /// Needs the dynamic loader (has PT_INTERP or DT_NEEDED).
    Dynamic,
    /// Self-relocating position-independent executable with no loader or libraries.
    StaticPie,
}

/// RELRO hardening level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Relro {
    /// No PT_GNU_RELRO.
    None,
    /// PT_GNU_RELRO without immediate binding (GOT stays writable).
    Partial,
    /// PT_GNU_RELRO with BIND_NOW.
    Full,
}

/// Which symbol table a symbol came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SymbolTable {
    /// `.symtab` (full, strippable).
    Symtab,
    /// `.dynsym` (what the loader sees).
    Dynsym,
}

/// Target machine (`e_machine`).
#[derive(Debug, Clone, Serialize)]
pub struct Machine {
    /// Raw `e_machine`.
    pub id: u16,
    /// Short canonical name ("x86-64", "ARM", "MIPS", ...), or "unknown (0x1234)".
    pub name: Cow<'static, str>,
    /// Longer human description.
    pub description: &'static str,
}

/// `e_flags` with the ABI facts an emulator needs to pick a CPU model.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Flags {
    /// Raw `e_flags`.
    pub raw: u32,
    /// ARM: EABI version (0 = old ABI / GNU).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub arm_eabi_version: Option<u8>,
    /// ARM: "hard" or "soft"; RISC-V: "soft", "single", "double" or "quad".
    #[serde(skip_serializing_if = "Option::is_none")]
    pub float_abi: Option<&'static str>,
    /// MIPS: "o32", "n32", "n64", "o64", "eabi32" or "eabi64".
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mips_abi: Option<&'static str>,
    /// MIPS: ISA level ("mips1" ... "mips64r6").
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mips_isa: Option<&'static str>,
    /// MIPS: IEEE 754-2008 NaN encoding (EF_MIPS_NAN2008).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mips_nan2008: Option<bool>,
    /// PowerPC64: ELF ABI version (1 or 2). When e_flags leaves it unspecified, big
    /// endian implies ELFv1 and little endian ELFv2, as every Linux toolchain does.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ppc64_abi: Option<u8>,
    /// RISC-V: compressed instructions (EF_RISCV_RVC).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub riscv_rvc: Option<bool>,
}

/// One section header.
#[derive(Debug, Clone, Serialize)]
pub struct Section<'a> {
    /// Index in the section header table.
    pub index: u32,
    /// Name from the section-name string table ("" if unavailable).
    pub name: Str<'a>,
    /// Type without the SHT_ prefix ("PROGBITS", "NOBITS", ...).
    pub kind: Cow<'static, str>,
    /// readelf-style flag letters ("WAX", "AMS", ...).
    pub flags: Cow<'static, str>,
    /// Raw `sh_flags`.
    pub flags_raw: u64,
    /// `sh_addr`.
    pub addr: u64,
    /// `sh_offset`.
    pub offset: u64,
    /// `sh_size`.
    pub size: u64,
    /// `sh_link`.
    pub link: u32,
    /// `sh_info`.
    pub info: u32,
    /// `sh_addralign`.
    pub addralign: u64,
    /// `sh_entsize`.
    pub entsize: u64,
    /// Shannon entropy (bits/byte) of the section's file bytes that are present;
    /// 0 for NOBITS or empty sections, `None` when not computed.
    pub entropy: Option<f64>,
}

/// One program header.
#[derive(Debug, Clone, Serialize)]
pub struct Segment {
    /// Type without the PT_ prefix ("LOAD", "GNU_STACK", ...).
    pub kind: Cow<'static, str>,
    /// Permission letters, e.g. "RX", "RW", "RWX" (absent permissions omitted).
    pub flags: &'static str,
    /// Raw `p_flags`.
    pub flags_raw: u32,
    /// `p_offset`.
    pub offset: u64,
    /// `p_vaddr`.
    pub vaddr: u64,
    /// `p_paddr`.
    pub paddr: u64,
    /// `p_filesz`.
    pub filesz: u64,
    /// `p_memsz`.
    pub memsz: u64,
    /// `p_align`.
    pub align: u64,
    /// Both PF_W and PF_X are set.
    pub writable_and_executable: bool,
}

/// One symbol table entry.
#[derive(Debug, Clone, Serialize)]
pub struct Symbol<'a> {
    /// Name ("" for unnamed entries).
    pub name: Str<'a>,
    /// `st_value`.
    pub value: u64,
    /// `st_size`.
    pub size: u64,
    /// Type ("FUNC", "OBJECT", "NOTYPE", "IFUNC", ...).
    pub kind: Cow<'static, str>,
    /// Binding ("LOCAL", "GLOBAL", "WEAK", "UNIQUE").
    pub bind: Cow<'static, str>,
    /// Visibility ("DEFAULT", "HIDDEN", "PROTECTED", "INTERNAL").
    pub visibility: &'static str,
    /// Section name, or "UND", "ABS", "COMMON", or the raw index when unknown.
    pub section: Str<'a>,
    /// Table the entry came from.
    pub table: SymbolTable,
    /// GNU symbol version ("GLIBC_2.2.5"), dynamic symbols only.
    pub version: Option<Str<'a>>,
}

/// An undefined dynamic symbol (a function or object the program takes from a library).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Import<'a> {
    /// Symbol name.
    pub name: Str<'a>,
    /// Required version, when versioned.
    pub version: Option<Str<'a>>,
}

/// A defined global or weak dynamic function or object.
#[derive(Debug, Clone, Serialize)]
pub struct Export<'a> {
    /// Symbol name.
    pub name: Str<'a>,
    /// Defined version, when versioned.
    pub version: Option<Str<'a>>,
    /// Address (`st_value`).
    pub address: u64,
    /// "FUNC", "OBJECT", "IFUNC" or "TLS".
    pub kind: Cow<'static, str>,
}

/// OS and minimum kernel from NT_GNU_ABI_TAG.
#[derive(Debug, Clone, Serialize)]
pub struct AbiTag {
    /// "Linux", "Hurd", ...
    pub os: Cow<'static, str>,
    /// Minimum kernel version, "3.2.0".
    pub version: String,
}

/// A note's owner and type, for notes not decoded into [`Notes`] fields.
#[derive(Debug, Clone, Serialize)]
pub struct NoteEntry<'a> {
    /// Owner name ("GNU", "Go", "FreeBSD", ...).
    pub owner: Str<'a>,
    /// Note type.
    pub kind: u32,
    /// Descriptor size in bytes.
    pub size: u64,
}

/// Decoded ELF notes.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Notes<'a> {
    /// NT_GNU_BUILD_ID, lowercase hex.
    pub build_id: Option<String>,
    /// Go toolchain build ID.
    pub go_build_id: Option<Str<'a>>,
    /// NT_GNU_ABI_TAG.
    pub abi_tag: Option<AbiTag>,
    /// x86 control-flow features from GNU_PROPERTY_X86_FEATURE_1_AND ("IBT", "SHSTK").
    pub x86_features: Vec<&'static str>,
    /// x86-64 microarchitecture levels from GNU_PROPERTY_X86_ISA_1_NEEDED.
    pub x86_isa_needed: Vec<&'static str>,
    /// AArch64 features from GNU_PROPERTY_AARCH64_FEATURE_1_AND ("BTI", "PAC").
    pub aarch64_features: Vec<&'static str>,
    /// Every note seen (owner, type, size).
    pub entries: Vec<NoteEntry<'a>>,
}

/// Bytes after the end of all section and segment data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Overlay {
    /// File offset where the overlay starts.
    pub offset: u64,
    /// Overlay length.
    pub size: u64,
}

/// Entropies (bits/byte) of ranges of the file, computed while counting the
/// sections' bytes for their entropy, so that a caller need not count the
/// file again. `None` where they could not be had that way (sections that
/// overlap, a segment end inside a section, [`Options::section_entropy`]
/// off): count those bytes directly with [`entropy()`]. Each value equals
/// that direct count's bit for bit.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ByteEntropy {
    /// The whole input.
    pub file: Option<f64>,
    /// Per entry of [`ElfInfo::segments`]: set only for executable PT_LOADs,
    /// over their file bytes present (`p_offset..p_offset + p_filesz`
    /// clamped to the input).
    pub segments: Vec<Option<f64>>,
    /// [`ElfInfo::overlay`]'s bytes.
    pub overlay: Option<f64>,
}

/// Something that could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ParseError {
    /// File offset of the offending structure, when known.
    pub offset: Option<u64>,
    /// What was wrong.
    pub message: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.offset {
            Some(o) => write!(f, "at 0x{o:x}: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

/// Everything parsed from one ELF file.
#[derive(Debug, Clone, Serialize)]
pub struct ElfInfo<'a> {
    /// ELF32 or ELF64.
    pub class: Class,
    /// Byte order.
    pub endianness: Endianness,
    /// Target machine.
    pub machine: Machine,
    /// `EI_OSABI` name ("SYSV", "Linux", "FreeBSD", ...).
    pub os_abi: Cow<'static, str>,
    /// `EI_ABIVERSION`.
    pub abi_version: u8,
    /// "EXEC", "DYN", "REL", "CORE" (or "NONE"/unknown).
    pub elf_type: Cow<'static, str>,
    /// `e_entry`.
    pub entry: u64,
    /// `e_flags`, raw and decoded.
    pub flags: Flags,
    /// Program interpreter from PT_INTERP.
    pub interpreter: Option<Str<'a>>,
    /// Static, dynamic or static-pie.
    pub linkage: Linkage,
    /// Position-independent executable.
    pub pie: bool,
    /// No `.symtab` section.
    pub stripped: bool,
    /// PT_GNU_STACK present and not executable.
    pub nx_stack: bool,
    /// RELRO level.
    pub relro: Relro,
    /// Imports or defines `__stack_chk_fail`, `__stack_chk_guard` or
    /// `__intel_security_cookie`.
    pub stack_protector: bool,
    /// Imports a `__*_chk` function (_FORTIFY_SOURCE).
    pub fortify: bool,
    /// Section headers.
    pub sections: Vec<Section<'a>>,
    /// Section headers not kept because of [`Options::max_sections`].
    pub sections_omitted: u64,
    /// Program headers.
    pub segments: Vec<Segment>,
    /// Symbols from `.symtab` and the dynamic symbol table.
    pub symbols: Vec<Symbol<'a>>,
    /// Symbols not kept because of [`Options::max_symbols`].
    pub symbols_omitted: u64,
    /// DT_NEEDED libraries.
    pub needed: Vec<Str<'a>>,
    /// DT_SONAME.
    pub soname: Option<Str<'a>>,
    /// DT_RPATH.
    pub rpath: Option<Str<'a>>,
    /// DT_RUNPATH.
    pub runpath: Option<Str<'a>>,
    /// Undefined dynamic functions and objects, deduplicated.
    pub imports: Vec<Import<'a>>,
    /// Defined global/weak dynamic functions and objects.
    pub exports: Vec<Export<'a>>,
    /// Decoded notes.
    pub notes: Notes<'a>,
    /// Name of the section containing the entry point.
    pub entry_section: Option<Str<'a>>,
    /// Index (into `segments`) of the PT_LOAD containing the entry point.
    pub entry_segment: Option<usize>,
    /// The entry point lies in an executable PT_LOAD.
    pub entry_in_executable_segment: bool,
    /// The file has a usable section header table.
    pub section_headers_present: bool,
    /// Data appended after all sections and segments.
    pub overlay: Option<Overlay>,
    /// Entropies of the whole file and some of its ranges (not serialised).
    #[serde(skip)]
    pub byte_entropy: ByteEntropy,
    /// Everything that could not be parsed.
    pub errors: Vec<ParseError>,
}

/// Parses `data` with default [`Options`].
pub fn parse(data: &[u8]) -> Result<ElfInfo<'_>, NotElf> {
    parse_with(data, &Options::default())
}

/// Parses `data`, bounding the work by `opts`.
pub fn parse_with<'a>(data: &'a [u8], opts: &Options) -> Result<ElfInfo<'a>, NotElf> {
    parser::parse(data, opts)
}

fn own(s: Str<'_>) -> Str<'static> {
    Cow::Owned(s.into_owned())
}

fn own_opt(s: Option<Str<'_>>) -> Option<Str<'static>> {
    s.map(own)
}

impl ElfInfo<'_> {
    /// Copies every borrowed string so the result outlives the input buffer.
    pub fn into_owned(self) -> ElfInfo<'static> {
        ElfInfo {
            class: self.class,
            endianness: self.endianness,
            machine: self.machine,
            os_abi: self.os_abi,
            abi_version: self.abi_version,
            elf_type: self.elf_type,
            entry: self.entry,
            flags: self.flags,
            interpreter: own_opt(self.interpreter),
            linkage: self.linkage,
            pie: self.pie,
            stripped: self.stripped,
            nx_stack: self.nx_stack,
            relro: self.relro,
            stack_protector: self.stack_protector,
            fortify: self.fortify,
            sections: self
                .sections
                .into_iter()
                .map(|s| Section {
                    index: s.index,
                    name: own(s.name),
                    kind: s.kind,
                    flags: s.flags,
                    flags_raw: s.flags_raw,
                    addr: s.addr,
                    offset: s.offset,
                    size: s.size,
                    link: s.link,
                    info: s.info,
                    addralign: s.addralign,
                    entsize: s.entsize,
                    entropy: s.entropy,
                })
                .collect(),
            sections_omitted: self.sections_omitted,
            segments: self
                .segments
                .into_iter()
                .map(|s| Segment {
                    kind: s.kind,
                    flags: s.flags,
                    flags_raw: s.flags_raw,
                    offset: s.offset,
                    vaddr: s.vaddr,
                    paddr: s.paddr,
                    filesz: s.filesz,
                    memsz: s.memsz,
                    align: s.align,
                    writable_and_executable: s.writable_and_executable,
                })
                .collect(),
            symbols: self
                .symbols
                .into_iter()
                .map(|s| Symbol {
                    name: own(s.name),
                    value: s.value,
                    size: s.size,
                    kind: s.kind,
                    bind: s.bind,
                    visibility: s.visibility,
                    section: own(s.section),
                    table: s.table,
                    version: own_opt(s.version),
                })
                .collect(),
            symbols_omitted: self.symbols_omitted,
            needed: self.needed.into_iter().map(own).collect(),
            soname: own_opt(self.soname),
            rpath: own_opt(self.rpath),
            runpath: own_opt(self.runpath),
            imports: self
                .imports
                .into_iter()
                .map(|i| Import {
                    name: own(i.name),
                    version: own_opt(i.version),
                })
                .collect(),
            exports: self
                .exports
                .into_iter()
                .map(|e| Export {
                    name: own(e.name),
                    version: own_opt(e.version),
                    address: e.address,
                    kind: e.kind,
                })
                .collect(),
            notes: Notes {
                build_id: self.notes.build_id,
                go_build_id: own_opt(self.notes.go_build_id),
                abi_tag: self.notes.abi_tag,
                x86_features: self.notes.x86_features,
                x86_isa_needed: self.notes.x86_isa_needed,
                aarch64_features: self.notes.aarch64_features,
                entries: self
                    .notes
                    .entries
                    .into_iter()
                    .map(|n| NoteEntry {
                        owner: own(n.owner),
                        kind: n.kind,
                        size: n.size,
                    })
                    .collect(),
            },
            entry_section: own_opt(self.entry_section),
            entry_segment: self.entry_segment,
            entry_in_executable_segment: self.entry_in_executable_segment,
            section_headers_present: self.section_headers_present,
            overlay: self.overlay,
            byte_entropy: self.byte_entropy,
            errors: self.errors,
        }
    }
}
