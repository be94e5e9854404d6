//! Dynamic table, symbol tables, GNU symbol versioning, imports and exports.
//!
//! The dynamic table is taken from PT_DYNAMIC (what the loader uses) so that files
//! without section headers (sstrip'ed or UPX-packed) still yield their libraries and
//! imports: the string and symbol tables are then located through DT_STRTAB/DT_SYMTAB
//! mapped via PT_LOAD, and the symbol count comes from DT_HASH or the DT_GNU_HASH chains.

use crate::parser::{
    PT_DYNAMIC, Parser, SHT_DYNAMIC, SHT_DYNSYM, SHT_GNU_VERDEF, SHT_GNU_VERNEED, SHT_GNU_VERSYM,
    SHT_SYMTAB, SHT_SYMTAB_SHNDX,
};
use crate::read::{Ctx, c_str};
use crate::{Export, Import, Section, Str, Symbol, SymbolTable, names};
use std::borrow::Cow;
use std::collections::HashSet;

const DT_NULL: u64 = 0;
const DT_NEEDED: u64 = 1;
const DT_PLTRELSZ: u64 = 2;
const DT_HASH: u64 = 4;
const DT_STRTAB: u64 = 5;
const DT_SYMTAB: u64 = 6;
const DT_STRSZ: u64 = 10;
const DT_RELA: u64 = 7;
const DT_RELASZ: u64 = 8;
const DT_SYMENT: u64 = 11;
const DT_SONAME: u64 = 14;
const DT_RPATH: u64 = 15;
const DT_REL: u64 = 17;
const DT_RELSZ: u64 = 18;
const DT_PLTREL: u64 = 20;
const DT_JMPREL: u64 = 23;
const DT_BIND_NOW: u64 = 24;
const DT_RUNPATH: u64 = 29;
const DT_FLAGS: u64 = 30;
const DT_GNU_HASH: u64 = 0x6fff_fef5;
const DT_VERSYM: u64 = 0x6fff_fff0;
const DT_FLAGS_1: u64 = 0x6fff_fffb;
const DT_VERDEF: u64 = 0x6fff_fffc;
const DT_VERDEFNUM: u64 = 0x6fff_fffd;
const DT_VERNEED: u64 = 0x6fff_fffe;
const DT_VERNEEDNUM: u64 = 0x6fff_ffff;
const DT_MIPS_SYMTABNO: u64 = 0x7000_0011;

const DF_BIND_NOW: u64 = 0x8;
const DF_1_NOW: u64 = 0x1;

const STT_OBJECT: u8 = 1;
const STT_FUNC: u8 = 2;
const STT_COMMON: u8 = 5;
const STT_TLS: u8 = 6;
const STT_GNU_IFUNC: u8 = 10;
const STB_GLOBAL: u8 = 1;
const STB_WEAK: u8 = 2;
const STB_GNU_UNIQUE: u8 = 10;

/// Version-definition and -requirement entries walked in total, across all chains.
const MAX_VERSION_ENTRIES: usize = 65_536;

/// What the dynamic table and the symbol tables yield.
#[derive(Debug, Default)]
pub(crate) struct DynInfo<'a> {
    pub present: bool,
    pub needed: Vec<Str<'a>>,
    pub soname: Option<Str<'a>>,
    pub rpath: Option<Str<'a>>,
    pub runpath: Option<Str<'a>>,
    pub flags_1: u64,
    pub bind_now: bool,
    pub symbols: Vec<Symbol<'a>>,
    pub symbols_omitted: u64,
    pub imports: Vec<Import<'a>>,
    pub exports: Vec<Export<'a>>,
    pub stack_protector: bool,
    pub fortify: bool,
}

/// Dynamic tags of interest (addresses are virtual, unmapped).
#[derive(Debug, Default)]
struct Tags {
    needed: Vec<u64>,
    soname: Option<u64>,
    rpath: Option<u64>,
    runpath: Option<u64>,
    strtab: Option<u64>,
    strsz: Option<u64>,
    symtab: Option<u64>,
    syment: Option<u64>,
    hash: Option<u64>,
    gnu_hash: Option<u64>,
    versym: Option<u64>,
    verdef: Option<u64>,
    verdefnum: Option<u64>,
    verneed: Option<u64>,
    verneednum: Option<u64>,
    mips_symtabno: Option<u64>,
    rela: Option<(u64, u64)>,
    rel: Option<(u64, u64)>,
    jmprel: Option<u64>,
    pltrelsz: u64,
    pltrel: u64,
    flags: u64,
    flags_1: u64,
    bind_now: bool,
}

/// One symbol table to walk.
struct SymSource<'a> {
    table: &'a [u8],
    count: u64,
    strtab: &'a [u8],
    which: SymbolTable,
    /// `.gnu.version` entries parallel to the table (dynsym only).
    versym: &'a [u8],
    /// SHT_SYMTAB_SHNDX entries parallel to the table (symtab only).
    shndx: &'a [u8],
}

pub(crate) fn parse_dynamic<'a>(p: &mut Parser<'a, '_>, sections: &[Section<'a>]) -> DynInfo<'a> {
    let mut out = DynInfo::default();
    let dyn_section = p.shdrs.iter().position(|s| s.kind == SHT_DYNAMIC);
    let table = if let Some(ph) = p.phdrs.iter().find(|ph| ph.kind == PT_DYNAMIC).copied() {
        Some(p.range(ph.offset, ph.filesz, || "PT_DYNAMIC".to_string()))
    } else {
        dyn_section.map(|i| p.section_data(i))
    };
    let tags = match table {
        Some(t) => {
            out.present = true;
            read_tags(p, t)
        }
        None => Tags::default(),
    };
    out.flags_1 = tags.flags_1;
    out.bind_now = tags.bind_now || tags.flags & DF_BIND_NOW != 0 || tags.flags_1 & DF_1_NOW != 0;

    let dynsym_section = p.shdrs.iter().position(|s| s.kind == SHT_DYNSYM);
    let dynstr = dynamic_strings(p, &tags, dyn_section, dynsym_section);

    for &off in &tags.needed {
        match p.name(dynstr, off) {
            Some(n) => out.needed.push(n),
            None => p.errors.push(
                None,
                format!("DT_NEEDED string offset 0x{off:x} is outside the dynamic string table"),
            ),
        }
    }
    out.soname = tags.soname.and_then(|o| p.name(dynstr, o));
    out.rpath = tags.rpath.and_then(|o| p.name(dynstr, o));
    out.runpath = tags.runpath.and_then(|o| p.name(dynstr, o));

    let versions = version_names(p, &tags, dynstr);
    let entsize = if p.ctx.is64 { 24 } else { 16 };

    // Dynamic symbols: the section when present (exact size), else the DT_ tags.
    let dynsym = if let Some(i) = dynsym_section {
        let table = p.section_data(i);
        let link = p.shdrs[i].link as usize;
        let strtab = if link != 0 && link < p.shdrs.len() {
            p.section_data(link)
        } else {
            dynstr
        };
        Some((table, table.len() as u64 / entsize, strtab))
    } else if let Some(addr) = tags.symtab {
        dynsym_from_tags(p, &tags, addr, entsize).map(|(t, n)| (t, n, dynstr))
    } else {
        None
    };
    let versym: &'a [u8] = if let Some(i) = p.shdrs.iter().position(|s| s.kind == SHT_GNU_VERSYM) {
        p.section_data(i)
    } else if let Some(off) = tags.versym.and_then(|a| p.addr_to_offset(a)) {
        p.rest_of_mapping(off)
    } else {
        &[]
    };

    let mut seen_imports = HashSet::new();
    if let Some((table, count, strtab)) = dynsym {
        let src = SymSource {
            table,
            count,
            strtab,
            which: SymbolTable::Dynsym,
            versym,
            shndx: &[],
        };
        walk_symbols(p, &src, sections, &versions, &mut out, &mut seen_imports);
    }
    if let Some(i) = p.shdrs.iter().position(|s| s.kind == SHT_SYMTAB) {
        let table = p.section_data(i);
        let link = p.shdrs[i].link as usize;
        let strtab = if link != 0 && link < p.shdrs.len() {
            p.section_data(link)
        } else {
            p.errors.push(
                None,
                format!("symbol table section {i} links to invalid string table {link}"),
            );
            &[]
        };
        let shndx = match p
            .shdrs
            .iter()
            .position(|s| s.kind == SHT_SYMTAB_SHNDX && s.link as usize == i)
        {
            Some(x) => p.section_data(x),
            None => &[],
        };
        let src = SymSource {
            table,
            count: table.len() as u64 / entsize,
            strtab,
            which: SymbolTable::Symtab,
            versym: &[],
            shndx,
        };
        walk_symbols(p, &src, sections, &versions, &mut out, &mut seen_imports);
    }
    out
}

fn read_tags(p: &mut Parser<'_, '_>, table: &[u8]) -> Tags {
    let mut t = Tags::default();
    let c = p.ctx.with(table);
    let ent: u64 = if c.is64 { 16 } else { 8 };
    let half = ent / 2;
    let n = (table.len() as u64 / ent).min(p.opts.max_dynamic_entries as u64);
    let mut terminated = false;
    for i in 0..n {
        let tag = c.wordz(i * ent);
        let val = c.wordz(i * ent + half);
        match tag {
            DT_NULL => {
                terminated = true;
                break;
            }
            DT_NEEDED => t.needed.push(val),
            DT_HASH => t.hash = Some(val),
            DT_STRTAB => t.strtab = Some(val),
            DT_SYMTAB => t.symtab = Some(val),
            DT_STRSZ => t.strsz = Some(val),
            DT_SYMENT => t.syment = Some(val),
            DT_SONAME => t.soname = Some(val),
            DT_RPATH => t.rpath = Some(val),
            DT_RUNPATH => t.runpath = Some(val),
            DT_BIND_NOW => t.bind_now = true,
            DT_RELA => t.rela = Some((val, t.rela.map_or(0, |r| r.1))),
            DT_RELASZ => t.rela = Some((t.rela.map_or(0, |r| r.0), val)),
            DT_REL => t.rel = Some((val, t.rel.map_or(0, |r| r.1))),
            DT_RELSZ => t.rel = Some((t.rel.map_or(0, |r| r.0), val)),
            DT_JMPREL => t.jmprel = Some(val),
            DT_PLTRELSZ => t.pltrelsz = val,
            DT_PLTREL => t.pltrel = val,
            DT_FLAGS => t.flags |= val,
            DT_FLAGS_1 => t.flags_1 |= val,
            DT_GNU_HASH => t.gnu_hash = Some(val),
            DT_VERSYM => t.versym = Some(val),
            DT_VERDEF => t.verdef = Some(val),
            DT_VERDEFNUM => t.verdefnum = Some(val),
            DT_VERNEED => t.verneed = Some(val),
            DT_VERNEEDNUM => t.verneednum = Some(val),
            DT_MIPS_SYMTABNO if matches!(p.machine, names::EM_MIPS | names::EM_MIPS_RS3_LE) => {
                t.mips_symtabno = Some(val)
            }
            _ => {}
        }
    }
    if !terminated && table.len() as u64 / ent > n {
        p.errors.push(
            None,
            format!("dynamic table longer than {n} entries; the rest was not read"),
        );
    }
    if let Some(s) = t.syment.filter(|&s| s != if c.is64 { 24 } else { 16 }) {
        p.errors.push(
            None,
            format!("DT_SYMENT is {s}, not the standard size; ignored"),
        );
    }
    t
}

/// The dynamic string table: DT_STRTAB through PT_LOAD, else the section the dynamic
/// (or dynsym) section links to.
fn dynamic_strings<'a>(
    p: &mut Parser<'a, '_>,
    tags: &Tags,
    dyn_section: Option<usize>,
    dynsym_section: Option<usize>,
) -> &'a [u8] {
    if let Some(addr) = tags.strtab {
        match p.addr_to_offset(addr) {
            Some(off) => {
                let avail = p.rest_of_mapping(off);
                return match tags.strsz {
                    Some(sz) if sz <= avail.len() as u64 => &avail[..sz as usize],
                    Some(sz) => {
                        p.errors.push(
                            Some(off),
                            format!("DT_STRSZ 0x{sz:x} runs past the mapped data; using the 0x{:x} bytes present", avail.len()),
                        );
                        avail
                    }
                    None => avail,
                };
            }
            None => p.errors.push(
                None,
                format!("DT_STRTAB 0x{addr:x} is not inside any loaded segment"),
            ),
        }
    }
    let link = dyn_section
        .or(dynsym_section)
        .and_then(|i| p.shdrs.get(i))
        .map(|s| s.link as usize);
    match link {
        Some(l) if l != 0 && l < p.shdrs.len() => p.section_data(l),
        _ => &[],
    }
}

/// Locates the dynamic symbol table from DT_SYMTAB and counts it with the hash tables.
fn dynsym_from_tags<'a>(
    p: &mut Parser<'a, '_>,
    tags: &Tags,
    addr: u64,
    entsize: u64,
) -> Option<(&'a [u8], u64)> {
    let Some(off) = p.addr_to_offset(addr) else {
        p.errors.push(
            None,
            format!("DT_SYMTAB 0x{addr:x} is not inside any loaded segment"),
        );
        return None;
    };
    let avail = p.rest_of_mapping(off);
    let fits = avail.len() as u64 / entsize;
    let count = if let Some(n) = tags.mips_symtabno {
        Some(n)
    } else if let Some(h) = tags.hash.and_then(|a| p.addr_to_offset(a)) {
        // DT_HASH: nbucket, nchain; nchain equals the number of symbols.
        p.ctx.u32(h.saturating_add(4)).map(u64::from)
    } else {
        // DT_GNU_HASH only covers defined symbols; undefined ones (the imports) below
        // its symoffset are only bounded by the relocations that reference them.
        let gnu = tags.gnu_hash.and_then(|a| gnu_hash_count(p, a));
        let rel = reloc_symbol_bound(p, tags);
        match (gnu, rel) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        }
    };
    let count = match count {
        Some(n) => n,
        None => {
            // Without hash tables the table's end is unknown; linkers place .dynstr
            // right after .dynsym, so assume it ends there.
            let n = match tags.strtab.and_then(|a| p.addr_to_offset(a)) {
                Some(s) if s > off => ((s - off) / entsize).min(fits),
                _ => fits,
            };
            p.errors.push(
                Some(off),
                format!("no DT_HASH or DT_GNU_HASH: dynamic symbol count assumed to be {n}"),
            );
            n
        }
    };
    if count > fits {
        p.errors.push(
            Some(off),
            format!("dynamic symbol table claims {count} entries but only {fits} fit in the file"),
        );
    }
    Some((avail, count.min(fits)))
}

/// One past the highest symbol index any dynamic relocation references.
fn reloc_symbol_bound(p: &mut Parser<'_, '_>, tags: &Tags) -> Option<u64> {
    let is64 = p.ctx.is64;
    let (rel_ent, rela_ent) = if is64 { (16, 24) } else { (8, 12) };
    let mut tables = Vec::with_capacity(3);
    if let Some((addr, size)) = tags.rela {
        tables.push((addr, size, rela_ent));
    }
    if let Some((addr, size)) = tags.rel {
        tables.push((addr, size, rel_ent));
    }
    if let Some(addr) = tags.jmprel {
        let ent = if tags.pltrel == DT_REL {
            rel_ent
        } else {
            rela_ent
        };
        tables.push((addr, tags.pltrelsz, ent));
    }
    let word = if is64 { 8 } else { 4 };
    let mut best: Option<u64> = None;
    for (addr, size, ent) in tables {
        let Some(off) = p.addr_to_offset(addr) else {
            continue;
        };
        let avail = p.rest_of_mapping(off);
        let data = &avail[..avail.len().min(usize::try_from(size).unwrap_or(usize::MAX))];
        let c = p.ctx.with(data);
        for i in 0..data.len() as u64 / ent {
            let info = c.wordz(i * ent + word);
            let sym = if is64 { info >> 32 } else { info >> 8 };
            if sym != 0 {
                best = Some(best.unwrap_or(0).max(sym + 1));
            }
        }
    }
    best
}

/// Number of dynamic symbols implied by a DT_GNU_HASH table: one past the last symbol
/// of the longest-indexed chain.
fn gnu_hash_count(p: &mut Parser<'_, '_>, addr: u64) -> Option<u64> {
    let off = p.addr_to_offset(addr)?;
    let c = p.ctx;
    let nbuckets = u64::from(c.u32(off)?);
    let symoffset = u64::from(c.u32(off + 4)?);
    let bloom = u64::from(c.u32(off + 8)?);
    let word = if c.is64 { 8 } else { 4 };
    let buckets = off.checked_add(16)?.checked_add(bloom.checked_mul(word)?)?;
    let bucket_bytes = c.bytes(buckets, nbuckets.checked_mul(4)?)?;
    let b = c.with(bucket_bytes);
    let mut last = 0u64;
    for i in 0..nbuckets {
        last = last.max(u64::from(b.u32z(i * 4)));
    }
    if last < symoffset {
        return Some(symoffset);
    }
    let chains = buckets.checked_add(nbuckets * 4)?;
    // Each step reads the next chain word, so the walk ends at the end of the file.
    let mut idx = last;
    loop {
        let Some(h) = c.u32(chains.checked_add((idx - symoffset).checked_mul(4)?)?) else {
            p.errors.push(
                Some(chains),
                "DT_GNU_HASH chain runs past the end of the file",
            );
            return Some(idx);
        };
        idx += 1;
        if h & 1 != 0 {
            return Some(idx);
        }
    }
}

/// Version index → name, from the version requirement and definition tables.
fn version_names<'a>(p: &mut Parser<'a, '_>, tags: &Tags, dynstr: &'a [u8]) -> Vec<(u16, Str<'a>)> {
    let mut map = Vec::new();
    let mut walked = 0usize;
    let need = table_for(p, SHT_GNU_VERNEED, tags.verneed, tags.verneednum);
    if let Some((data, count)) = need {
        let c = p.ctx.with(data);
        let mut off = 0u64;
        'outer: for _ in 0..count {
            let (Some(cnt), Some(aux), Some(next)) =
                (c.u16(off + 2), c.u32(off + 8), c.u32(off + 12))
            else {
                break;
            };
            let mut a = off + u64::from(aux);
            for _ in 0..cnt {
                walked += 1;
                if walked > MAX_VERSION_ENTRIES {
                    break 'outer;
                }
                let (Some(other), Some(name), Some(anext)) =
                    (c.u16(a + 6), c.u32(a + 8), c.u32(a + 12))
                else {
                    break;
                };
                if let Some(n) = p.name(dynstr, u64::from(name)) {
                    map.push((other & 0x7fff, n));
                }
                if anext == 0 {
                    break;
                }
                a += u64::from(anext);
            }
            if next == 0 {
                break;
            }
            off += u64::from(next);
        }
    }
    let def = table_for(p, SHT_GNU_VERDEF, tags.verdef, tags.verdefnum);
    if let Some((data, count)) = def {
        let c = p.ctx.with(data);
        let mut off = 0u64;
        for _ in 0..count {
            walked += 1;
            if walked > MAX_VERSION_ENTRIES {
                break;
            }
            let (Some(ndx), Some(aux), Some(next)) =
                (c.u16(off + 4), c.u32(off + 12), c.u32(off + 16))
            else {
                break;
            };
            if let Some(name) = c.u32(off + u64::from(aux))
                && let Some(n) = p.name(dynstr, u64::from(name))
            {
                map.push((ndx & 0x7fff, n));
            }
            if next == 0 {
                break;
            }
            off += u64::from(next);
        }
    }
    // Stable: the first definition of an index wins on lookup.
    map.sort_by_key(|e| e.0);
    map
}

/// A version table's bytes and entry count: the section if present, else the DT_ tag.
fn table_for<'a>(
    p: &mut Parser<'a, '_>,
    kind: u32,
    addr: Option<u64>,
    num: Option<u64>,
) -> Option<(&'a [u8], u64)> {
    if let Some(i) = p.shdrs.iter().position(|s| s.kind == kind) {
        let count = u64::from(p.shdrs[i].info);
        return Some((p.section_data(i), count));
    }
    let off = p.addr_to_offset(addr?)?;
    Some((p.rest_of_mapping(off), num.unwrap_or(0)))
}

fn lookup_version<'a>(map: &[(u16, Str<'a>)], idx: u16) -> Option<Str<'a>> {
    let i = map.partition_point(|e| e.0 < idx);
    map.get(i).filter(|e| e.0 == idx).map(|e| e.1.clone())
}

fn section_name<'a>(sections: &[Section<'a>], shndx: u32) -> Str<'a> {
    match shndx {
        0 => Cow::Borrowed("UND"),
        0xfff1 => Cow::Borrowed("ABS"),
        0xfff2 => Cow::Borrowed("COMMON"),
        i => match sections.get(i as usize) {
            Some(s) => s.name.clone(),
            None => Cow::Owned(format!("0x{i:x}")),
        },
    }
}

fn walk_symbols<'a>(
    p: &mut Parser<'a, '_>,
    src: &SymSource<'a>,
    sections: &[Section<'a>],
    versions: &[(u16, Str<'a>)],
    out: &mut DynInfo<'a>,
    seen_imports: &mut HashSet<(&'a [u8], u16)>,
) {
    let c: Ctx<'a> = p.ctx.with(src.table);
    let vs = p.ctx.with(src.versym);
    let xs = p.ctx.with(src.shndx);
    let is64 = c.is64;
    let entsize: u64 = if is64 { 24 } else { 16 };
    let max = p.opts.max_symbols;
    let max_name = p.opts.max_name_len;
    let dynamic = src.which == SymbolTable::Dynsym;
    let mut bad_names = 0u64;
    // Entry 0 is the reserved null symbol.
    for i in 1..src.count {
        let Some(e) = c.bytes(i * entsize, entsize) else {
            break;
        };
        let e = c.with(e);
        let (name_off, value, size, info, other, shndx) = if is64 {
            (
                e.u32z(0),
                e.wordz(8),
                e.wordz(16),
                e.u8z(4),
                e.u8z(5),
                e.u16z(6),
            )
        } else {
            (
                e.u32z(0),
                e.wordz(4),
                e.wordz(8),
                e.u8z(12),
                e.u8z(13),
                e.u16z(14),
            )
        };
        let name: &'a [u8] = match c_str(src.strtab, u64::from(name_off), max_name) {
            Some(n) => n,
            None => {
                bad_names += 1;
                &[]
            }
        };
        let stype = info & 0xf;
        let bind = info >> 4;
        if matches!(
            name,
            b"__stack_chk_fail" | b"__stack_chk_guard" | b"__intel_security_cookie"
        ) {
            out.stack_protector = true;
        }
        let vidx = if dynamic {
            vs.u16(i * 2).map(|v| v & 0x7fff).unwrap_or(0)
        } else {
            0
        };
        let version = if vidx >= 2 {
            lookup_version(versions, vidx)
        } else {
            None
        };
        let global = matches!(bind, STB_GLOBAL | STB_WEAK | STB_GNU_UNIQUE);
        if dynamic && global && !name.is_empty() {
            if shndx == 0 {
                let importable = matches!(
                    stype,
                    STT_FUNC | STT_OBJECT | STT_TLS | STT_GNU_IFUNC | STT_COMMON
                );
                if importable && out.imports.len() < max && seen_imports.insert((name, vidx)) {
                    if name.starts_with(b"__") && name.ends_with(b"_chk") {
                        out.fortify = true;
                    }
                    out.imports.push(Import {
                        name: String::from_utf8_lossy(name),
                        version: version.clone(),
                    });
                }
            } else if matches!(stype, STT_FUNC | STT_OBJECT | STT_GNU_IFUNC)
                && out.exports.len() < max
            {
                out.exports.push(Export {
                    name: String::from_utf8_lossy(name),
                    version: version.clone(),
                    address: value,
                    kind: names::symbol_type(stype),
                });
            }
        }
        if out.symbols.len() >= max {
            out.symbols_omitted += 1;
            continue;
        }
        let section_index = if shndx == 0xffff {
            // SHN_XINDEX: the real index is in the parallel SHT_SYMTAB_SHNDX table.
            xs.u32(i * 4).unwrap_or(u32::from(shndx))
        } else {
            u32::from(shndx)
        };
        out.symbols.push(Symbol {
            name: String::from_utf8_lossy(name),
            value,
            size,
            kind: names::symbol_type(stype),
            bind: names::symbol_bind(bind),
            visibility: names::symbol_visibility(other),
            section: section_name(sections, section_index),
            table: src.which,
            version,
        });
    }
    if bad_names > 0 {
        p.errors.push(
            None,
            format!(
                "{bad_names} {} symbol names point outside their string table",
                if dynamic { "dynamic" } else { "static" }
            ),
        );
    }
}
