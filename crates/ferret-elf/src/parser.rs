//! Header, section and segment parsing, and the derived security properties.

use crate::dynamic::{self, DynInfo};
use crate::read::{Ctx, c_str};
use crate::{
    ByteEntropy, Class, ElfInfo, Endianness, Flags, Linkage, Machine, NotElf, Notes, Options,
    Overlay, ParseError, Relro, Section, Segment, Str, entropy, names, notes,
};
use std::borrow::Cow;

pub(crate) const SHT_NULL: u32 = 0;
pub(crate) const SHT_SYMTAB: u32 = 2;
pub(crate) const SHT_DYNAMIC: u32 = 6;
pub(crate) const SHT_NOTE: u32 = 7;
pub(crate) const SHT_NOBITS: u32 = 8;
pub(crate) const SHT_DYNSYM: u32 = 11;
pub(crate) const SHT_SYMTAB_SHNDX: u32 = 18;
pub(crate) const SHT_GNU_VERDEF: u32 = 0x6fff_fffd;
pub(crate) const SHT_GNU_VERNEED: u32 = 0x6fff_fffe;
pub(crate) const SHT_GNU_VERSYM: u32 = 0x6fff_ffff;

pub(crate) const PT_LOAD: u32 = 1;
pub(crate) const PT_DYNAMIC: u32 = 2;
pub(crate) const PT_INTERP: u32 = 3;
pub(crate) const PT_NOTE: u32 = 4;
pub(crate) const PT_GNU_STACK: u32 = 0x6474_e551;
pub(crate) const PT_GNU_RELRO: u32 = 0x6474_e552;

const PF_X: u32 = 1;
const PF_W: u32 = 2;
const SHF_ALLOC: u64 = 2;
const ET_DYN: u16 = 3;
const SHN_XINDEX: u16 = 0xffff;
const PN_XNUM: u16 = 0xffff;

/// Error list with a cap, so a file with 65535 broken sections costs 256 messages.
#[derive(Debug)]
pub(crate) struct Errors {
    list: Vec<ParseError>,
    max: usize,
    dropped: u64,
}

impl Errors {
    pub fn new(max: usize) -> Errors {
        Errors {
            list: Vec::new(),
            max,
            dropped: 0,
        }
    }

    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.list.is_empty() && self.dropped == 0
    }

    pub fn push(&mut self, offset: Option<u64>, message: impl Into<String>) {
        if self.list.len() < self.max {
            self.list.push(ParseError {
                offset,
                message: message.into(),
            });
        } else {
            self.dropped += 1;
        }
    }

    fn finish(mut self) -> Vec<ParseError> {
        if self.dropped > 0 {
            self.list.push(ParseError {
                offset: None,
                message: format!("{} further errors not recorded", self.dropped),
            });
        }
        self.list
    }
}

/// A decoded section header.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Shdr {
    pub name: u32,
    pub kind: u32,
    pub flags: u64,
    pub addr: u64,
    pub offset: u64,
    pub size: u64,
    pub link: u32,
    pub info: u32,
    pub addralign: u64,
    pub entsize: u64,
}

/// A decoded program header.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Phdr {
    pub kind: u32,
    pub flags: u32,
    pub offset: u64,
    pub vaddr: u64,
    pub paddr: u64,
    pub filesz: u64,
    pub memsz: u64,
    pub align: u64,
}

/// Raw ELF header fields (0 where the header is truncated).
#[derive(Debug, Default)]
struct Header {
    etype: u16,
    machine: u16,
    entry: u64,
    phoff: u64,
    shoff: u64,
    flags: u32,
    ehsize: u16,
    phentsize: u16,
    phnum: u16,
    shentsize: u16,
    shnum: u16,
    shstrndx: u16,
}

/// Shared state of one parse: the file, the caps, the headers read so far.
pub(crate) struct Parser<'a, 'o> {
    pub ctx: Ctx<'a>,
    pub opts: &'o Options,
    pub errors: Errors,
    pub shdrs: Vec<Shdr>,
    pub phdrs: Vec<Phdr>,
    pub machine: u16,
}

impl<'a> Parser<'a, '_> {
    /// File bytes of a section (empty for NOBITS), clamped to the file, with an error
    /// when the header points outside it.
    pub fn section_data(&mut self, index: usize) -> &'a [u8] {
        let Some(sh) = self.shdrs.get(index).copied() else {
            return &[];
        };
        if sh.kind == SHT_NOBITS {
            return &[];
        }
        self.range(sh.offset, sh.size, || format!("section {index}"))
    }

    /// `[off, off+len)` clamped to the file; records an error if it had to be clamped.
    pub fn range(&mut self, off: u64, len: u64, what: impl FnOnce() -> String) -> &'a [u8] {
        if let Some(b) = self.ctx.bytes(off, len) {
            return b;
        }
        let b = self.ctx.bytes_clamped(off, len);
        self.errors.push(
            Some(off),
            format!(
                "{} data (0x{len:x} bytes) extends past the end of the file; {} bytes available",
                what(),
                b.len()
            ),
        );
        b
    }

    /// Maps a virtual address to a file offset through the PT_LOAD segments (what the
    /// loader does), falling back to allocated sections when there are no segments.
    pub fn addr_to_offset(&self, addr: u64) -> Option<u64> {
        let mut any_load = false;
        for p in self.phdrs.iter().filter(|p| p.kind == PT_LOAD) {
            any_load = true;
            if addr >= p.vaddr && addr - p.vaddr < p.filesz {
                return p.offset.checked_add(addr - p.vaddr);
            }
        }
        if any_load {
            return None;
        }
        self.shdrs
            .iter()
            .filter(|s| s.flags & SHF_ALLOC != 0 && s.kind != SHT_NOBITS)
            .find(|s| addr >= s.addr && addr - s.addr < s.size)
            .and_then(|s| s.offset.checked_add(addr - s.addr))
    }

    /// Bytes from `off` to the end of the PT_LOAD (or file) containing it: the most a
    /// table found through a dynamic tag can span.
    pub fn rest_of_mapping(&self, off: u64) -> &'a [u8] {
        for p in self.phdrs.iter().filter(|p| p.kind == PT_LOAD) {
            if off >= p.offset && off - p.offset < p.filesz {
                return self.ctx.bytes_clamped(off, p.filesz - (off - p.offset));
            }
        }
        self.ctx.bytes_clamped(off, u64::MAX)
    }

    /// Decodes a name from a string table, lossily and capped in length.
    pub fn name(&self, table: &'a [u8], off: u64) -> Option<Str<'a>> {
        c_str(table, off, self.opts.max_name_len).map(String::from_utf8_lossy)
    }
}

pub(crate) fn parse<'a>(data: &'a [u8], opts: &Options) -> Result<ElfInfo<'a>, NotElf> {
    const MAGIC: &[u8; 4] = b"\x7fELF";
    if data.len() < 4 {
        return Err(if MAGIC.starts_with(data) {
            NotElf::TooShort { len: data.len() }
        } else {
            NotElf::BadMagic
        });
    }
    if data.get(..4) != Some(&MAGIC[..]) {
        return Err(NotElf::BadMagic);
    }
    let (Some(&class), Some(&encoding)) = (data.get(4), data.get(5)) else {
        return Err(NotElf::TooShort { len: data.len() });
    };
    let is64 = match class {
        1 => false,
        2 => true,
        c => return Err(NotElf::BadClass(c)),
    };
    let be = match encoding {
        1 => false,
        2 => true,
        d => return Err(NotElf::BadEncoding(d)),
    };
    let ctx = Ctx { data, is64, be };
    let mut p = Parser {
        ctx,
        opts,
        errors: Errors::new(opts.max_errors),
        shdrs: Vec::new(),
        phdrs: Vec::new(),
        machine: 0,
    };

    let hdr = read_header(&mut p);
    p.machine = hdr.machine;
    let (name, description) = names::machine(hdr.machine, is64);
    let machine = Machine {
        id: hdr.machine,
        name,
        description,
    };
    let os_abi_raw = ctx.u8z(7);
    let os_abi = if os_abi_raw == 97 && hdr.machine != names::EM_ARM {
        Cow::Owned(format!("unknown (0x{os_abi_raw:02x})"))
    } else {
        names::os_abi(os_abi_raw)
    };

    // Section 0 holds the real counts when they do not fit the header fields.
    let (shnum, shstrndx, phnum) = resolve_counts(&mut p, &hdr);
    let sections_omitted = read_section_headers(&mut p, &hdr, shnum);
    read_program_headers(&mut p, &hdr, phnum);

    // Reads only the headers: computed first so that its entropy comes from
    // the same pass over the file as the sections'.
    let overlay = find_overlay(&p, &hdr);
    let (sections, byte_entropy) = build_sections(&mut p, shstrndx, overlay);
    let segments: Vec<Segment> = p
        .phdrs
        .iter()
        .map(|ph| Segment {
            kind: names::segment_type(ph.kind, hdr.machine),
            flags: names::segment_flags(ph.flags),
            flags_raw: ph.flags,
            offset: ph.offset,
            vaddr: ph.vaddr,
            paddr: ph.paddr,
            filesz: ph.filesz,
            memsz: ph.memsz,
            align: ph.align,
            writable_and_executable: ph.flags & (PF_W | PF_X) == (PF_W | PF_X),
        })
        .collect();

    let interpreter = read_interpreter(&mut p);
    let dy: DynInfo<'a> = dynamic::parse_dynamic(&mut p, &sections);
    let notes = read_notes(&mut p);

    // Derived properties.
    let has_interp = p.phdrs.iter().any(|ph| ph.kind == PT_INTERP);
    let has_dynamic = dy.present;
    let linkage = if has_interp || !dy.needed.is_empty() {
        Linkage::Dynamic
    } else if has_dynamic && hdr.etype == ET_DYN {
        Linkage::StaticPie
    } else {
        Linkage::Static
    };
    const DF_1_PIE: u64 = 0x0800_0000;
    let pie = hdr.etype == ET_DYN
        && (has_interp || dy.flags_1 & DF_1_PIE != 0 || linkage == Linkage::StaticPie);
    let gnu_stack = p.phdrs.iter().find(|ph| ph.kind == PT_GNU_STACK);
    let nx_stack = gnu_stack.is_some_and(|ph| ph.flags & PF_X == 0);
    let relro = if !p.phdrs.iter().any(|ph| ph.kind == PT_GNU_RELRO) {
        Relro::None
    } else if dy.bind_now {
        Relro::Full
    } else {
        Relro::Partial
    };
    let stripped = !p.shdrs.iter().any(|s| s.kind == SHT_SYMTAB);

    let (entry_section, entry_segment, entry_in_executable_segment) =
        locate_entry(&p, &sections, &segments, hdr.entry);

    let info = ElfInfo {
        class: if is64 { Class::Elf64 } else { Class::Elf32 },
        endianness: if be {
            Endianness::Big
        } else {
            Endianness::Little
        },
        machine,
        os_abi,
        abi_version: ctx.u8z(8),
        elf_type: names::elf_type(hdr.etype),
        entry: hdr.entry,
        flags: decode_flags(hdr.flags, hdr.machine, is64, be),
        interpreter,
        linkage,
        pie,
        stripped,
        nx_stack,
        relro,
        stack_protector: dy.stack_protector,
        fortify: dy.fortify,
        section_headers_present: !sections.is_empty(),
        sections,
        sections_omitted,
        segments,
        symbols: dy.symbols,
        symbols_omitted: dy.symbols_omitted,
        needed: dy.needed,
        soname: dy.soname,
        rpath: dy.rpath,
        runpath: dy.runpath,
        imports: dy.imports,
        exports: dy.exports,
        notes,
        entry_section,
        entry_segment,
        entry_in_executable_segment,
        overlay,
        byte_entropy,
        errors: p.errors.finish(),
    };
    Ok(info)
}

fn read_header(p: &mut Parser<'_, '_>) -> Header {
    let c = p.ctx;
    let size: u64 = if c.is64 { 64 } else { 52 };
    if (c.data.len() as u64) < size {
        p.errors.push(
            Some(0),
            format!(
                "ELF header truncated: {} of {size} bytes present",
                c.data.len()
            ),
        );
    }
    if c.u8(6).is_some_and(|v| v != 1) {
        p.errors
            .push(Some(6), format!("EI_VERSION is {}, expected 1", c.u8z(6)));
    }
    let (o_phoff, o_shoff, o_flags, o_ehsize) = if c.is64 {
        (32, 40, 48, 52)
    } else {
        (28, 32, 36, 40)
    };
    let h = Header {
        etype: c.u16z(16),
        machine: c.u16z(18),
        entry: c.wordz(24),
        phoff: c.wordz(o_phoff),
        shoff: c.wordz(o_shoff),
        flags: c.u32z(o_flags),
        ehsize: c.u16z(o_ehsize),
        phentsize: c.u16z(o_ehsize + 2),
        phnum: c.u16z(o_ehsize + 4),
        shentsize: c.u16z(o_ehsize + 6),
        shnum: c.u16z(o_ehsize + 8),
        shstrndx: c.u16z(o_ehsize + 10),
    };
    if (c.data.len() as u64) >= size && u64::from(h.ehsize) != size {
        p.errors.push(
            Some(o_ehsize),
            format!("e_ehsize is {}, expected {size}", h.ehsize),
        );
    }
    h
}

fn shdr_size(is64: bool) -> u64 {
    if is64 { 64 } else { 40 }
}

fn phdr_size(is64: bool) -> u64 {
    if is64 { 56 } else { 32 }
}

fn decode_shdr(c: Ctx<'_>) -> Shdr {
    if c.is64 {
        Shdr {
            name: c.u32z(0),
            kind: c.u32z(4),
            flags: c.wordz(8),
            addr: c.wordz(16),
            offset: c.wordz(24),
            size: c.wordz(32),
            link: c.u32z(40),
            info: c.u32z(44),
            addralign: c.wordz(48),
            entsize: c.wordz(56),
        }
    } else {
        Shdr {
            name: c.u32z(0),
            kind: c.u32z(4),
            flags: c.wordz(8),
            addr: c.wordz(12),
            offset: c.wordz(16),
            size: c.wordz(20),
            link: c.u32z(24),
            info: c.u32z(28),
            addralign: c.wordz(32),
            entsize: c.wordz(36),
        }
    }
}

fn decode_phdr(c: Ctx<'_>) -> Phdr {
    if c.is64 {
        Phdr {
            kind: c.u32z(0),
            flags: c.u32z(4),
            offset: c.wordz(8),
            vaddr: c.wordz(16),
            paddr: c.wordz(24),
            filesz: c.wordz(32),
            memsz: c.wordz(40),
            align: c.wordz(48),
        }
    } else {
        Phdr {
            kind: c.u32z(0),
            offset: c.wordz(4),
            vaddr: c.wordz(8),
            paddr: c.wordz(12),
            filesz: c.wordz(16),
            memsz: c.wordz(20),
            flags: c.u32z(24),
            align: c.wordz(28),
        }
    }
}

/// Section header stride if the table is usable, recording why not otherwise.
fn sh_stride(p: &mut Parser<'_, '_>, hdr: &Header) -> Option<u64> {
    let min = shdr_size(p.ctx.is64);
    let ent = u64::from(hdr.shentsize);
    if ent < min {
        p.errors.push(
            Some(hdr.shoff),
            format!("e_shentsize is {ent}, smaller than a section header ({min}); section headers ignored"),
        );
        return None;
    }
    if ent > min {
        p.errors.push(
            None,
            format!("e_shentsize is {ent}, larger than a section header ({min})"),
        );
    }
    Some(ent)
}

/// Resolves e_shnum, e_shstrndx and e_phnum through section 0 when they overflowed.
fn resolve_counts(p: &mut Parser<'_, '_>, hdr: &Header) -> (u64, u32, u64) {
    let mut shnum = u64::from(hdr.shnum);
    let mut shstrndx = u32::from(hdr.shstrndx);
    let mut phnum = u64::from(hdr.phnum);
    if hdr.shoff == 0 {
        if shnum != 0 {
            p.errors.push(
                None,
                format!("e_shnum is {shnum} but e_shoff is 0; no section headers"),
            );
        }
        return (0, 0, phnum);
    }
    let sec0 = p
        .ctx
        .bytes(hdr.shoff, shdr_size(p.ctx.is64))
        .map(|b| decode_shdr(p.ctx.with(b)));
    let Some(sec0) = sec0 else {
        p.errors.push(
            Some(hdr.shoff),
            format!(
                "e_shoff 0x{:x} is past the end of the file (0x{:x} bytes)",
                hdr.shoff,
                p.ctx.data.len()
            ),
        );
        return (0, 0, phnum);
    };
    if hdr.shnum == 0 {
        shnum = sec0.size;
    }
    if hdr.shstrndx == SHN_XINDEX {
        shstrndx = sec0.link;
    }
    if hdr.phnum == PN_XNUM && sec0.info != 0 {
        phnum = u64::from(sec0.info);
    }
    (shnum, shstrndx, phnum)
}

/// Reads up to `shnum` section headers into `p.shdrs`; returns how many the cap dropped.
fn read_section_headers(p: &mut Parser<'_, '_>, hdr: &Header, shnum: u64) -> u64 {
    if shnum == 0 {
        return 0;
    }
    let Some(stride) = sh_stride(p, hdr) else {
        return 0;
    };
    let min = shdr_size(p.ctx.is64);
    let cap = p.opts.max_sections as u64;
    let wanted = shnum.min(cap);
    // Never trust the count for allocation: at most what the file can hold.
    let fits = (p.ctx.data.len() as u64).saturating_sub(hdr.shoff) / stride;
    p.shdrs.reserve(wanted.min(fits) as usize);
    for i in 0..wanted {
        let entry = i
            .checked_mul(stride)
            .and_then(|o| o.checked_add(hdr.shoff))
            .and_then(|o| p.ctx.bytes(o, min));
        let Some(b) = entry else {
            p.errors.push(
                Some(hdr.shoff),
                format!("section header table truncated: {i} of {shnum} entries present"),
            );
            break;
        };
        p.shdrs.push(decode_shdr(p.ctx.with(b)));
    }
    if shnum > cap && p.shdrs.len() as u64 == cap {
        p.errors.push(
            Some(hdr.shoff),
            format!("{shnum} section headers; only the first {cap} kept"),
        );
        shnum - cap
    } else {
        0
    }
}

fn read_program_headers(p: &mut Parser<'_, '_>, hdr: &Header, phnum: u64) {
    if phnum == 0 {
        return;
    }
    if hdr.phoff == 0 {
        p.errors.push(
            None,
            format!("e_phnum is {phnum} but e_phoff is 0; no program headers"),
        );
        return;
    }
    let min = phdr_size(p.ctx.is64);
    let stride = u64::from(hdr.phentsize);
    if stride < min {
        p.errors.push(
            Some(hdr.phoff),
            format!("e_phentsize is {stride}, smaller than a program header ({min}); program headers ignored"),
        );
        return;
    }
    if stride > min {
        p.errors.push(
            None,
            format!("e_phentsize is {stride}, larger than a program header ({min})"),
        );
    }
    let cap = p.opts.max_segments as u64;
    let wanted = phnum.min(cap);
    let fits = (p.ctx.data.len() as u64).saturating_sub(hdr.phoff) / stride;
    p.phdrs.reserve(wanted.min(fits) as usize);
    for i in 0..wanted {
        let entry = i
            .checked_mul(stride)
            .and_then(|o| o.checked_add(hdr.phoff))
            .and_then(|o| p.ctx.bytes(o, min));
        let Some(b) = entry else {
            p.errors.push(
                Some(hdr.phoff),
                format!("program header table truncated: {i} of {phnum} entries present"),
            );
            break;
        };
        p.phdrs.push(decode_phdr(p.ctx.with(b)));
    }
    if phnum > cap {
        p.errors.push(
            Some(hdr.phoff),
            format!("{phnum} program headers; only the first {cap} kept"),
        );
    }
}

/// The sections, with their entropy, and the entropies of the whole file,
/// the executable PT_LOADs and the overlay, all from one count of the file
/// when the sections do not overlap (see [`entropy::Layout`]).
fn build_sections<'a>(
    p: &mut Parser<'a, '_>,
    shstrndx: u32,
    overlay: Option<Overlay>,
) -> (Vec<Section<'a>>, ByteEntropy) {
    let mut out = Vec::with_capacity(p.shdrs.len());
    // Byte ranges of the sections whose entropy is computed, and where it goes.
    let mut parts: Vec<(usize, usize)> = Vec::new();
    let mut part_of: Vec<usize> = Vec::new();
    if !p.shdrs.is_empty() {
        name_sections(p, shstrndx, &mut out, &mut parts, &mut part_of);
    }
    if !p.opts.section_entropy {
        return (out, ByteEntropy::default());
    }
    let data = p.ctx.data;
    let len = data.len() as u64;
    // Clamped as the file's readers clamp them (ferret-static's packer signs).
    let clamp = |off: u64, size: u64| {
        let start = off.min(len);
        let end = off.saturating_add(size).min(len);
        (start as usize, end as usize)
    };
    // One target is kept for the overlay.
    let exec_loads: Vec<usize> = (0..p.phdrs.len())
        .filter(|&i| {
            p.phdrs
                .get(i)
                .is_some_and(|ph| ph.kind == PT_LOAD && ph.flags & PF_X != 0)
        })
        .take(entropy::MAX_TARGETS - 1)
        .collect();
    let mut targets: Vec<(usize, usize)> = exec_loads
        .iter()
        .filter_map(|&i| p.phdrs.get(i))
        .map(|ph| clamp(ph.offset, ph.filesz))
        .collect();
    if let Some(o) = overlay {
        targets.push(clamp(o.offset, o.size));
    }
    let layout = entropy::Layout {
        data,
        parts,
        targets,
    };
    let measured = layout.measure();
    for (&i, e) in part_of.iter().zip(&measured.parts) {
        if let Some(s) = out.get_mut(i) {
            s.entropy = Some(*e);
        }
    }
    let mut segments = vec![None; p.phdrs.len()];
    for (&i, e) in exec_loads.iter().zip(&measured.targets) {
        if let Some(s) = segments.get_mut(i) {
            *s = *e;
        }
    }
    let overlay = if overlay.is_some() {
        measured.targets.get(exec_loads.len()).copied().flatten()
    } else {
        None
    };
    let byte_entropy = ByteEntropy {
        file: measured.whole,
        segments,
        overlay,
    };
    (out, byte_entropy)
}

/// Builds the sections in `out` with their entropy left for the caller:
/// sections with bytes to count get their range pushed to `parts` and their
/// place in `out` to `part_of`.
fn name_sections<'a>(
    p: &mut Parser<'a, '_>,
    shstrndx: u32,
    out: &mut Vec<Section<'a>>,
    parts: &mut Vec<(usize, usize)>,
    part_of: &mut Vec<usize>,
) {
    let strtab: &'a [u8] = match usize::try_from(shstrndx) {
        Ok(0) => {
            p.errors
                .push(None, "e_shstrndx is 0 (SHN_UNDEF); sections have no names");
            &[]
        }
        Ok(i) if i < p.shdrs.len() => p.section_data(i),
        _ => {
            p.errors.push(
                None,
                format!(
                    "e_shstrndx {shstrndx} is out of range ({} sections); sections have no names",
                    p.shdrs.len()
                ),
            );
            &[]
        }
    };
    let entropy_on = p.opts.section_entropy;
    let mut entropy_budget = (p.ctx.data.len() as u64)
        .saturating_mul(2)
        .saturating_add(1 << 20);
    let mut budget_reported = false;
    for i in 0..p.shdrs.len() {
        let sh = p.shdrs[i];
        let name = if strtab.is_empty() {
            Cow::Borrowed("")
        } else {
            match p.name(strtab, u64::from(sh.name)) {
                Some(n) => n,
                None => {
                    p.errors.push(
                        None,
                        format!(
                            "section {i}: name offset 0x{:x} is outside the section name table",
                            sh.name
                        ),
                    );
                    Cow::Borrowed("")
                }
            }
        };
        let entropy = if sh.kind == SHT_NOBITS || sh.size == 0 {
            Some(0.0)
        } else if !entropy_on || i == 0 && sh.kind == SHT_NULL {
            None
        } else {
            let bytes = p.section_data(i);
            if (bytes.len() as u64) <= entropy_budget {
                entropy_budget -= bytes.len() as u64;
                match usize::try_from(sh.offset) {
                    // Non-empty section data starts at `sh_offset`; its
                    // entropy is filled in once every section is known.
                    Ok(start) if !bytes.is_empty() => {
                        parts.push((start, start + bytes.len()));
                        part_of.push(out.len());
                        None
                    }
                    _ => Some(entropy(bytes)),
                }
            } else {
                if !budget_reported {
                    budget_reported = true;
                    p.errors.push(
                        Some(sh.offset),
                        format!("sections overlap so much that entropy was not computed from section {i} on"),
                    );
                }
                None
            }
        };
        out.push(Section {
            index: i as u32,
            name,
            kind: names::section_type(sh.kind, p.machine),
            flags: names::section_flags(sh.flags),
            flags_raw: sh.flags,
            addr: sh.addr,
            offset: sh.offset,
            size: sh.size,
            link: sh.link,
            info: sh.info,
            addralign: sh.addralign,
            entsize: sh.entsize,
            entropy,
        });
    }
}

fn read_interpreter<'a>(p: &mut Parser<'a, '_>) -> Option<Str<'a>> {
    let ph = p.phdrs.iter().find(|ph| ph.kind == PT_INTERP).copied()?;
    let bytes = p.range(ph.offset, ph.filesz, || "PT_INTERP".to_string());
    if bytes.is_empty() {
        return None;
    }
    p.name(bytes, 0)
}

fn read_notes<'a>(p: &mut Parser<'a, '_>) -> Notes<'a> {
    let mut out = Notes::default();
    let mut budget = p.opts.max_notes;
    // Prefer the segments (what the loader maps); sections only for objects without.
    let mut sources: Vec<(u64, u64, u64)> = p
        .phdrs
        .iter()
        .filter(|ph| ph.kind == PT_NOTE)
        .map(|ph| (ph.offset, ph.filesz, ph.align))
        .collect();
    if sources.is_empty() {
        sources = p
            .shdrs
            .iter()
            .filter(|s| s.kind == SHT_NOTE)
            .map(|s| (s.offset, s.size, s.addralign))
            .collect();
    }
    for (off, size, align) in sources {
        if budget == 0 {
            p.errors
                .push(Some(off), "note cap reached; remaining notes not read");
            break;
        }
        let bytes = p.range(off, size, || "note".to_string());
        let align = if align == 8 { 8 } else { 4 };
        budget -= notes::parse_notes(
            p.ctx,
            notes::NoteBlock {
                bytes,
                base: off,
                align,
            },
            p.machine,
            budget,
            &mut out,
            &mut p.errors,
        );
    }
    out
}

fn locate_entry<'a>(
    p: &Parser<'a, '_>,
    sections: &[Section<'a>],
    segments: &[Segment],
    entry: u64,
) -> (Option<Str<'a>>, Option<usize>, bool) {
    if entry == 0 {
        return (None, None, false);
    }
    let section = p
        .shdrs
        .iter()
        .zip(sections)
        .find(|(sh, _)| {
            sh.flags & SHF_ALLOC != 0
                && sh.kind != SHT_NULL
                && entry >= sh.addr
                && entry - sh.addr < sh.size
        })
        .map(|(_, s)| s.name.clone());
    let segment = p
        .phdrs
        .iter()
        .position(|ph| ph.kind == PT_LOAD && entry >= ph.vaddr && entry - ph.vaddr < ph.memsz);
    let exec = segment
        .and_then(|i| segments.get(i))
        .is_some_and(|s| s.flags_raw & PF_X != 0);
    (section, segment, exec)
}

/// Overlay: bytes past the furthest header table, section or segment data.
fn find_overlay(p: &Parser<'_, '_>, hdr: &Header) -> Option<Overlay> {
    let len = p.ctx.data.len() as u64;
    let ehsize = if p.ctx.is64 { 64 } else { 52 };
    let mut end: u64 = ehsize;
    if !p.phdrs.is_empty() {
        let n = p.phdrs.len() as u64;
        end = end.max(
            hdr.phoff
                .saturating_add(n.saturating_mul(u64::from(hdr.phentsize))),
        );
    }
    if !p.shdrs.is_empty() {
        let n = p.shdrs.len() as u64;
        end = end.max(
            hdr.shoff
                .saturating_add(n.saturating_mul(u64::from(hdr.shentsize))),
        );
    }
    for s in p.shdrs.iter().filter(|s| s.kind != SHT_NOBITS) {
        end = end.max(s.offset.saturating_add(s.size));
    }
    for ph in &p.phdrs {
        end = end.max(ph.offset.saturating_add(ph.filesz));
    }
    if end < len {
        Some(Overlay {
            offset: end,
            size: len - end,
        })
    } else {
        None
    }
}

pub(crate) fn decode_flags(raw: u32, machine: u16, is64: bool, be: bool) -> Flags {
    let mut f = Flags {
        raw,
        ..Flags::default()
    };
    match machine {
        names::EM_ARM => {
            let eabi = (raw >> 24) as u8;
            f.arm_eabi_version = Some(eabi);
            // EABI5 defines both bits; the old GNU ABI only had the soft-float one.
            f.float_abi = if eabi >= 5 && raw & 0x400 != 0 {
                Some("hard")
            } else if raw & 0x200 != 0 {
                Some("soft")
            } else {
                None
            };
        }
        names::EM_MIPS | names::EM_MIPS_RS3_LE => {
            f.mips_abi = Some(if raw & 0x20 != 0 {
                "n32"
            } else if is64 {
                "n64"
            } else {
                match raw & 0xf000 {
                    0x2000 => "o64",
                    0x3000 => "eabi32",
                    0x4000 => "eabi64",
                    _ => "o32",
                }
            });
            f.mips_isa = Some(match raw >> 28 {
                0 => "mips1",
                1 => "mips2",
                2 => "mips3",
                3 => "mips4",
                4 => "mips5",
                5 => "mips32",
                6 => "mips64",
                7 => "mips32r2",
                8 => "mips64r2",
                9 => "mips32r6",
                10 => "mips64r6",
                _ => "unknown",
            });
            f.mips_nan2008 = Some(raw & 0x400 != 0);
        }
        names::EM_PPC64 => {
            f.ppc64_abi = match raw & 3 {
                1 => Some(1),
                2 => Some(2),
                0 => Some(if be { 1 } else { 2 }),
                _ => None,
            };
        }
        names::EM_RISCV => {
            f.riscv_rvc = Some(raw & 1 != 0);
            f.float_abi = Some(match (raw >> 1) & 3 {
                0 => "soft",
                1 => "single",
                2 => "double",
                _ => "quad",
            });
        }
        _ => {}
    }
    f
}
