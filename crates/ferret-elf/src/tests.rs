//! Unit tests over hand-built ELF images (both classes, both byte orders).

use crate::{Class, Endianness, Linkage, NotElf, Options, Relro, SymbolTable, parse, parse_with};

const PT_LOAD: u32 = 1;
const PT_DYNAMIC: u32 = 2;
const PT_INTERP: u32 = 3;
const PT_GNU_STACK: u32 = 0x6474_e551;
const PT_GNU_RELRO: u32 = 0x6474_e552;

/// What the synthetic file contains.
#[derive(Clone)]
struct Spec {
    is64: bool,
    be: bool,
    etype: u16,
    machine: u16,
    flags: u32,
    interp: Option<&'static str>,
    /// `None`: no dynamic table at all.
    needed: Option<Vec<&'static str>>,
    /// Undefined dynamic functions.
    imports: Vec<&'static str>,
    /// Defined dynamic functions.
    exports: Vec<&'static str>,
    /// `None`: no PT_GNU_STACK; `Some(true)`: executable stack.
    exec_stack: Option<bool>,
    relro: bool,
    bind_now: bool,
    pie_flag: bool,
    /// Use DT_GNU_HASH instead of DT_HASH.
    gnu_hash: bool,
    sections: bool,
    symtab: bool,
    rwx_load: bool,
    /// NUL-free junk appended as the last section's name (unterminated string table).
    unterminated_name: bool,
    overlay: usize,
}

impl Spec {
    fn new(is64: bool, be: bool) -> Spec {
        Spec {
            is64,
            be,
            etype: 3,
            machine: if is64 { 62 } else { 3 },
            flags: 0,
            interp: Some("/lib/ld.so.1"),
            needed: Some(vec!["libc.so.6"]),
            imports: vec!["puts", "printf"],
            exports: vec![],
            exec_stack: Some(false),
            relro: true,
            bind_now: true,
            pie_flag: true,
            gnu_hash: false,
            sections: true,
            symtab: false,
            rwx_load: false,
            unterminated_name: false,
            overlay: 0,
        }
    }
}

/// Little writer with class and byte order, plus patching.
struct W {
    b: Vec<u8>,
    is64: bool,
    be: bool,
}

impl W {
    fn u8(&mut self, v: u8) {
        self.b.push(v);
    }
    fn u16(&mut self, v: u16) {
        let x = if self.be {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        };
        self.b.extend_from_slice(&x);
    }
    fn u32(&mut self, v: u32) {
        let x = if self.be {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        };
        self.b.extend_from_slice(&x);
    }
    fn u64(&mut self, v: u64) {
        let x = if self.be {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        };
        self.b.extend_from_slice(&x);
    }
    fn word(&mut self, v: u64) {
        if self.is64 {
            self.u64(v)
        } else {
            self.u32(v as u32)
        }
    }
    fn align(&mut self, a: usize) {
        while !self.b.len().is_multiple_of(a) {
            self.b.push(0);
        }
    }
    fn pos(&self) -> u64 {
        self.b.len() as u64
    }
    fn patch_word(&mut self, at: usize, v: u64) {
        let bytes: Vec<u8> = match (self.is64, self.be) {
            (true, true) => v.to_be_bytes().to_vec(),
            (true, false) => v.to_le_bytes().to_vec(),
            (false, true) => (v as u32).to_be_bytes().to_vec(),
            (false, false) => (v as u32).to_le_bytes().to_vec(),
        };
        self.b[at..at + bytes.len()].copy_from_slice(&bytes);
    }
    fn patch_u16(&mut self, at: usize, v: u16) {
        let x = if self.be {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        };
        self.b[at..at + 2].copy_from_slice(&x);
    }
}

/// String table builder.
#[derive(Default)]
struct Strtab {
    b: Vec<u8>,
}

impl Strtab {
    fn new() -> Strtab {
        Strtab { b: vec![0] }
    }
    fn add(&mut self, s: &str) -> u32 {
        let off = self.b.len() as u32;
        self.b.extend_from_slice(s.as_bytes());
        self.b.push(0);
        off
    }
}

struct Built {
    data: Vec<u8>,
    entry: u64,
    /// Header field offsets, for targeted corruption.
    shoff_at: usize,
    shnum_at: usize,
    shstrndx_at: usize,
}

fn build(s: &Spec) -> Built {
    let mut w = W {
        b: Vec::new(),
        is64: s.is64,
        be: s.be,
    };
    let base: u64 = if s.etype == 2 { 0x40_0000 } else { 0 };
    let ehsize = if s.is64 { 64 } else { 52 };
    let phsize = if s.is64 { 56 } else { 32 };
    let symsize = if s.is64 { 24 } else { 16 };
    let dynamic = s.needed.is_some();

    // Program header list: (type, flags); offsets/addresses patched later.
    let mut phs: Vec<u32> = vec![PT_LOAD];
    if s.interp.is_some() {
        phs.push(PT_INTERP);
    }
    if dynamic {
        phs.push(PT_DYNAMIC);
    }
    if s.exec_stack.is_some() {
        phs.push(PT_GNU_STACK);
    }
    if s.relro {
        phs.push(PT_GNU_RELRO);
    }

    // ELF header.
    w.b.extend_from_slice(b"\x7fELF");
    w.u8(if s.is64 { 2 } else { 1 });
    w.u8(if s.be { 2 } else { 1 });
    w.u8(1);
    w.b.resize(16, 0);
    w.u16(s.etype);
    w.u16(s.machine);
    w.u32(1);
    let entry_at = w.b.len();
    w.word(0);
    w.word(ehsize); // phoff
    let shoff_at = w.b.len();
    w.word(0);
    w.u32(s.flags);
    w.u16(ehsize as u16);
    w.u16(phsize as u16);
    w.u16(phs.len() as u16);
    w.u16(if s.is64 { 64 } else { 40 });
    let shnum_at = w.b.len();
    w.u16(0);
    let shstrndx_at = w.b.len();
    w.u16(0);
    assert_eq!(w.pos(), ehsize);
    let ph_at = w.b.len();
    w.b.resize(ph_at + phsize as usize * phs.len(), 0);

    // Contents.
    let interp_off = w.pos();
    if let Some(i) = s.interp {
        w.b.extend_from_slice(i.as_bytes());
        w.u8(0);
    }
    let mut dynstr = Strtab::new();
    let needed: Vec<u32> = s.needed.iter().flatten().map(|n| dynstr.add(n)).collect();
    let mut syms: Vec<(u32, bool)> = Vec::new();
    for n in &s.imports {
        syms.push((dynstr.add(n), false));
    }
    for n in &s.exports {
        syms.push((dynstr.add(n), true));
    }
    let dynstr_off = w.pos();
    w.b.extend_from_slice(&dynstr.b);
    w.align(8);
    let text_off = w.pos();
    w.b.extend_from_slice(&[0x90; 64]);
    let entry = base + text_off + 16;
    w.patch_word(entry_at, entry);

    let dynsym_off = w.pos();
    let nsyms = syms.len() as u32 + 1;
    if dynamic {
        w.b.resize(w.b.len() + symsize as usize, 0);
        for &(name, defined) in &syms {
            let info = (1 << 4) | 2; // GLOBAL FUNC
            let (value, shndx) = if defined {
                (base + text_off, 5u16)
            } else {
                (0, 0)
            };
            if s.is64 {
                w.u32(name);
                w.u8(info);
                w.u8(0);
                w.u16(shndx);
                w.u64(value);
                w.u64(8);
            } else {
                w.u32(name);
                w.u32(value as u32);
                w.u32(8);
                w.u8(info);
                w.u8(0);
                w.u16(shndx);
            }
        }
    }
    let hash_off = w.pos();
    if dynamic {
        if s.gnu_hash {
            w.u32(1); // nbuckets
            w.u32(1); // symoffset
            w.u32(1); // bloom words
            w.u32(0); // bloom shift
            w.word(0);
            w.u32(if nsyms > 1 { 1 } else { 0 });
            for i in 1..nsyms {
                w.u32(if i == nsyms - 1 { 1 } else { 0 });
            }
        } else {
            w.u32(1);
            w.u32(nsyms);
            w.u32(0);
            for _ in 0..nsyms {
                w.u32(0);
            }
        }
    }
    w.align(8);
    let dyn_off = w.pos();
    if dynamic {
        let mut tags: Vec<(u64, u64)> = needed.iter().map(|&n| (1, u64::from(n))).collect();
        tags.push((if s.gnu_hash { 0x6fff_fef5 } else { 4 }, base + hash_off));
        tags.push((5, base + dynstr_off));
        tags.push((6, base + dynsym_off));
        tags.push((10, dynstr.b.len() as u64));
        tags.push((11, symsize));
        if s.bind_now {
            tags.push((30, 8));
        }
        if s.pie_flag {
            tags.push((0x6fff_fffb, 0x0800_0000));
        }
        tags.push((0, 0));
        for (t, v) in tags {
            w.word(t);
            w.word(v);
        }
    }
    let dyn_size = w.pos() - dyn_off;

    let mut shstr = Strtab::new();
    // (name, type, flags, offset, size, link, entsize)
    let mut shdrs: Vec<(u32, u32, u64, u64, u64, u32, u64)> = vec![(0, 0, 0, 0, 0, 0, 0)];
    let mut symtab_range = (0, 0);
    let mut strtab_range = (0, 0);
    if s.symtab {
        let mut st = Strtab::new();
        let main = st.add("main");
        let chk = st.add("__stack_chk_fail");
        strtab_range.0 = w.pos();
        w.b.extend_from_slice(&st.b);
        strtab_range.1 = st.b.len() as u64;
        w.align(8);
        symtab_range.0 = w.pos();
        w.b.resize(w.b.len() + symsize as usize, 0);
        for (name, shndx, value) in [(main, 5u16, base + text_off), (chk, 0, 0)] {
            if s.is64 {
                w.u32(name);
                w.u8(0x12);
                w.u8(0);
                w.u16(shndx);
                w.u64(value);
                w.u64(0);
            } else {
                w.u32(name);
                w.u32(value as u32);
                w.u32(0);
                w.u8(0x12);
                w.u8(0);
                w.u16(shndx);
            }
        }
        symtab_range.1 = w.pos() - symtab_range.0;
    }
    if s.sections {
        let n_interp = shstr.add(".interp");
        let n_dynsym = shstr.add(".dynsym");
        let n_dynstr = shstr.add(".dynstr");
        let n_dynamic = shstr.add(".dynamic");
        let n_text = shstr.add(".text");
        let n_bss = shstr.add(".bss");
        shdrs.push((n_interp, 1, 2, interp_off, dynstr_off - interp_off, 0, 0)); // 1
        // A static file keeps the slots (so .text stays index 5) but they hold nothing.
        let (t_dynsym, t_dynamic) = if dynamic { (11, 6) } else { (1, 1) };
        let dynsym_size = if dynamic {
            u64::from(nsyms) * symsize
        } else {
            0
        };
        shdrs.push((n_dynsym, t_dynsym, 2, dynsym_off, dynsym_size, 3, symsize)); // 2
        shdrs.push((n_dynstr, 3, 2, dynstr_off, dynstr.b.len() as u64, 0, 0)); // 3
        let dyn_ent = if s.is64 { 16 } else { 8 };
        shdrs.push((n_dynamic, t_dynamic, 3, dyn_off, dyn_size, 3, dyn_ent)); // 4
        shdrs.push((n_text, 1, 6, text_off, 64, 0, 0)); // 5
        // NOBITS with a size far past the end of the file: no data, no overlay effect.
        shdrs.push((n_bss, 8, 3, dyn_off + dyn_size, 0x10_0000, 0, 0)); // 6
        if s.symtab {
            let n_symtab = shstr.add(".symtab");
            let n_strtab = shstr.add(".strtab");
            let link = shdrs.len() as u32 + 1;
            shdrs.push((
                n_symtab,
                2,
                0,
                symtab_range.0,
                symtab_range.1,
                link,
                symsize,
            ));
            shdrs.push((n_strtab, 3, 0, strtab_range.0, strtab_range.1, 0, 0));
        }
        let n_shstrtab = shstr.add(".shstrtab");
        if s.unterminated_name {
            // The table's last name runs to its end without a terminator.
            shstr.b.extend_from_slice(b".junk");
        }
        let shstr_off = w.pos();
        w.b.extend_from_slice(&shstr.b);
        shdrs.push((n_shstrtab, 3, 0, shstr_off, shstr.b.len() as u64, 0, 0));
        if s.unterminated_name {
            let junk = shstr.b.len() as u32 - 5;
            shdrs.push((junk, 1, 0, shstr_off, 0, 0, 0));
        }
        w.align(8);
        let shoff = w.pos();
        w.patch_word(shoff_at, shoff);
        let n = shdrs.len();
        w.patch_u16(shnum_at, n as u16);
        let strndx = if s.unterminated_name { n - 2 } else { n - 1 };
        w.patch_u16(shstrndx_at, strndx as u16);
        for &(name, kind, flags, off, size, link, entsize) in &shdrs {
            let addr = if flags & 2 != 0 { base + off } else { 0 };
            w.u32(name);
            w.u32(kind);
            w.word(flags);
            w.word(addr);
            w.word(off);
            w.word(size);
            w.u32(link);
            w.u32(0);
            w.word(8);
            w.word(entsize);
        }
    }
    let file_end = w.pos();

    // Program headers.
    let mut at = ph_at;
    for &kind in &phs {
        let (flags, off, size) = match kind {
            PT_LOAD => (if s.rwx_load { 7 } else { 5 }, 0, file_end),
            PT_INTERP => (4, interp_off, s.interp.map_or(0, |i| i.len() as u64 + 1)),
            PT_DYNAMIC => (6, dyn_off, dyn_size),
            PT_GNU_STACK => (if s.exec_stack == Some(true) { 7 } else { 6 }, 0, 0),
            _ => (4, dyn_off, dyn_size),
        };
        let mut ph = W {
            b: Vec::new(),
            is64: s.is64,
            be: s.be,
        };
        ph.u32(kind);
        if s.is64 {
            ph.u32(flags);
        }
        ph.word(off);
        ph.word(base + off);
        ph.word(base + off);
        ph.word(size);
        ph.word(size);
        if !s.is64 {
            ph.u32(flags);
        }
        ph.word(if kind == PT_LOAD { 0x1000 } else { 8 });
        w.b[at..at + ph.b.len()].copy_from_slice(&ph.b);
        at += phsize as usize;
    }
    w.b.extend(std::iter::repeat_n(0xa5, s.overlay));
    Built {
        data: w.b,
        entry,
        shoff_at,
        shnum_at,
        shstrndx_at,
    }
}

const SHAPES: [(bool, bool); 4] = [(false, false), (false, true), (true, false), (true, true)];

fn import_names(info: &crate::ElfInfo<'_>) -> Vec<String> {
    info.imports.iter().map(|i| i.name.to_string()).collect()
}

#[test]
fn dynamic_pie_all_classes_and_orders() {
    for (is64, be) in SHAPES {
        for sections in [true, false] {
            for gnu_hash in [false, true] {
                let mut s = Spec::new(is64, be);
                s.sections = sections;
                s.gnu_hash = gnu_hash;
                s.imports = vec!["puts", "printf", "__stack_chk_fail", "__printf_chk"];
                s.exports = vec!["exported_fn"];
                let b = build(&s);
                let what = format!("is64={is64} be={be} sections={sections} gnu={gnu_hash}");
                let info = parse(&b.data).expect(&what);
                assert!(info.errors.is_empty(), "{what}: {:?}", info.errors);
                assert_eq!(info.class, if is64 { Class::Elf64 } else { Class::Elf32 });
                let want = if be {
                    Endianness::Big
                } else {
                    Endianness::Little
                };
                assert_eq!(info.endianness, want);
                assert_eq!(info.machine.name, if is64 { "x86-64" } else { "i386" });
                assert_eq!(info.elf_type, "DYN");
                assert_eq!(info.entry, b.entry);
                assert_eq!(info.interpreter.as_deref(), Some("/lib/ld.so.1"), "{what}");
                assert_eq!(info.linkage, Linkage::Dynamic);
                assert!(info.pie);
                assert_eq!(info.needed, vec!["libc.so.6"], "{what}");
                assert_eq!(
                    import_names(&info),
                    ["puts", "printf", "__stack_chk_fail", "__printf_chk"],
                    "{what}"
                );
                assert_eq!(info.exports.len(), 1, "{what}");
                assert_eq!(info.exports[0].name, "exported_fn");
                assert!(info.stack_protector && info.fortify, "{what}");
                assert_eq!(info.relro, Relro::Full);
                assert!(info.nx_stack);
                assert!(info.stripped);
                assert_eq!(info.section_headers_present, sections);
                assert!(info.entry_in_executable_segment);
                assert_eq!(info.entry_segment, Some(0));
                assert_eq!(info.overlay, None, "{what}");
                let dynsyms = info
                    .symbols
                    .iter()
                    .filter(|s| s.table == SymbolTable::Dynsym)
                    .count();
                assert_eq!(dynsyms, 5, "{what}");
                if sections {
                    let names: Vec<&str> = info.sections.iter().map(|s| &*s.name).collect();
                    assert_eq!(
                        names,
                        [
                            "",
                            ".interp",
                            ".dynsym",
                            ".dynstr",
                            ".dynamic",
                            ".text",
                            ".bss",
                            ".shstrtab"
                        ]
                    );
                    assert_eq!(info.entry_section.as_deref(), Some(".text"));
                    assert_eq!(info.sections[5].flags, "AX");
                    assert_eq!(info.sections[6].kind, "NOBITS");
                    assert_eq!(info.sections[6].entropy, Some(0.0));
                    let text = info.sections[5].entropy.expect("text entropy");
                    assert_eq!(text, 0.0, "64 identical bytes");
                    assert_eq!(info.symbols[0].section, "UND");
                    assert_eq!(info.symbols[4].section, ".text");
                }
                serde_json::to_string(&info).expect("serializes");
            }
        }
    }
}

#[test]
fn static_executable() {
    for (is64, be) in SHAPES {
        let mut s = Spec::new(is64, be);
        s.etype = 2;
        s.interp = None;
        s.needed = None;
        s.relro = false;
        s.exec_stack = None;
        s.symtab = true;
        let b = build(&s);
        let info = parse(&b.data).expect("parses");
        assert!(info.errors.is_empty(), "{:?}", info.errors);
        assert_eq!(info.elf_type, "EXEC");
        assert_eq!(info.linkage, Linkage::Static);
        assert!(!info.pie);
        assert_eq!(info.relro, Relro::None);
        assert!(!info.nx_stack, "no PT_GNU_STACK means an executable stack");
        assert!(!info.stripped);
        assert!(info.stack_protector, "symtab defines __stack_chk_fail");
        assert!(info.imports.is_empty() && info.needed.is_empty());
        let main = info
            .symbols
            .iter()
            .find(|s| s.name == "main")
            .expect("main");
        assert_eq!(main.table, SymbolTable::Symtab);
        assert_eq!(main.kind, "FUNC");
        assert_eq!(main.bind, "GLOBAL");
        assert_eq!(main.section, ".text");
        assert_eq!(info.entry_section.as_deref(), Some(".text"));
    }
}

#[test]
fn static_pie_partial_relro_exec_stack() {
    for (is64, be) in SHAPES {
        let mut s = Spec::new(is64, be);
        s.interp = None;
        s.needed = Some(vec![]);
        s.imports = vec![];
        s.bind_now = false;
        s.exec_stack = Some(true);
        s.rwx_load = true;
        let data = build(&s).data;
        let info = parse(&data).expect("parses");
        assert_eq!(info.linkage, Linkage::StaticPie);
        assert!(info.pie);
        assert_eq!(info.relro, Relro::Partial);
        assert!(!info.nx_stack);
        assert!(!info.stack_protector && !info.fortify);
        assert!(info.segments[0].writable_and_executable);
        assert_eq!(info.segments[0].flags, "RWX");
        let stack = info
            .segments
            .iter()
            .find(|p| p.kind == "GNU_STACK")
            .expect("stack");
        assert_eq!(stack.flags, "RWX");
    }
}

#[test]
fn shared_library_without_pie_flag_is_not_pie() {
    let mut s = Spec::new(true, false);
    s.interp = None;
    s.pie_flag = false;
    let data = build(&s).data;
    let info = parse(&data).expect("parses");
    assert_eq!(info.linkage, Linkage::Dynamic);
    assert!(!info.pie);
}

#[test]
fn not_elf() {
    assert_eq!(parse(b"").unwrap_err(), NotElf::TooShort { len: 0 });
    assert_eq!(parse(b"\x7fEL").unwrap_err(), NotElf::TooShort { len: 3 });
    assert_eq!(parse(b"\x7fELF").unwrap_err(), NotElf::TooShort { len: 4 });
    assert_eq!(parse(b"MZ\x90\0\x03\0").unwrap_err(), NotElf::BadMagic);
    assert_eq!(parse(b"\x7fELF\x03\x01").unwrap_err(), NotElf::BadClass(3));
    assert_eq!(
        parse(b"\x7fELF\x01\x00").unwrap_err(),
        NotElf::BadEncoding(0)
    );
}

#[test]
fn truncated_header_still_reports_ident() {
    let b = build(&Spec::new(true, true));
    for len in [6, 20, 40, 63] {
        let info = parse(&b.data[..len]).expect("ident is valid");
        assert_eq!(info.class, Class::Elf64);
        assert_eq!(info.endianness, Endianness::Big);
        assert!(
            info.errors
                .iter()
                .any(|e| e.message.contains("header truncated")),
            "{len}: {:?}",
            info.errors
        );
    }
    // Machine survives once its field is present.
    let info = parse(&b.data[..20]).expect("ok");
    assert_eq!(info.machine.name, "x86-64");
}

#[test]
fn truncation_keeps_intact_parts() {
    let s = Spec::new(false, false);
    let b = build(&s);
    // Cut inside the section header table: earlier sections survive, with an error.
    let cut = b.data.len() - 20;
    let info = parse(&b.data[..cut]).expect("parses");
    assert!(info.sections.len() >= 6, "{}", info.sections.len());
    assert!(
        info.errors
            .iter()
            .any(|e| e.message.contains("section header table truncated"))
    );
    assert_eq!(info.interpreter.as_deref(), Some("/lib/ld.so.1"));
    assert_eq!(info.needed, vec!["libc.so.6"]);
}

#[test]
fn hostile_header_fields() {
    let s = Spec::new(true, false);
    let b = build(&s);
    let set = |f: &dyn Fn(&mut Vec<u8>)| {
        let mut d = b.data.clone();
        f(&mut d);
        d
    };
    // e_shoff overflowing and past the end.
    for shoff in [u64::MAX - 8, u64::MAX, 1 << 40] {
        let d = set(&|d| d[b.shoff_at..b.shoff_at + 8].copy_from_slice(&shoff.to_le_bytes()));
        let info = parse(&d).expect("parses");
        assert!(info.sections.is_empty());
        assert!(!info.section_headers_present);
        assert!(!info.errors.is_empty());
        // The dynamic segment still gives libraries and imports.
        assert_eq!(info.needed, vec!["libc.so.6"]);
        assert_eq!(import_names(&info), ["puts", "printf"]);
    }
    // Absurd e_shnum: stops at the end of the file.
    let d = set(&|d| d[b.shnum_at..b.shnum_at + 2].copy_from_slice(&0xfffeu16.to_le_bytes()));
    let info = parse(&d).expect("parses");
    assert!(info.sections.len() < 0xfffe);
    assert!(info.errors.iter().any(|e| e.message.contains("truncated")));
    // e_shstrndx out of range.
    let d = set(&|d| d[b.shstrndx_at..b.shstrndx_at + 2].copy_from_slice(&500u16.to_le_bytes()));
    let info = parse(&d).expect("parses");
    assert!(info.sections.iter().all(|s| s.name.is_empty()));
    assert!(info.errors.iter().any(|e| e.message.contains("e_shstrndx")));
    // Symbol cap counts the rest; imports stay complete.
    let mut s2 = s.clone();
    s2.symtab = true;
    s2.imports = vec!["a", "b", "c"];
    let opts = Options {
        max_symbols: 3,
        ..Options::default()
    };
    let data = build(&s2).data;
    let info = parse_with(&data, &opts).expect("parses");
    assert_eq!(info.symbols.len(), 3);
    assert_eq!(info.symbols_omitted, 2, "two .symtab entries over the cap");
    assert_eq!(import_names(&info), ["a", "b", "c"]);
}

#[test]
fn extended_section_numbering() {
    // e_shnum = 0, e_shstrndx = SHN_XINDEX and e_phnum = PN_XNUM: the real values live
    // in section 0's sh_size, sh_link and sh_info.
    for (is64, be) in SHAPES {
        let s = Spec::new(is64, be);
        let mut b = build(&s);
        let original = b.data.clone();
        let info0 = parse(&original).expect("parses");
        let n = info0.sections.len() as u64;
        let strndx = n - 1;
        let mut w = W {
            b: std::mem::take(&mut b.data),
            is64,
            be,
        };
        w.patch_u16(b.shnum_at, 0);
        w.patch_u16(b.shstrndx_at, 0xffff);
        let c = crate::read::Ctx {
            data: &w.b,
            is64,
            be,
        };
        let shoff = c.word(if is64 { 40 } else { 32 }).expect("shoff") as usize;
        // sh_size of section 0 = count, sh_link = string table index.
        let (size_at, link_at) = if is64 {
            (shoff + 32, shoff + 40)
        } else {
            (shoff + 20, shoff + 24)
        };
        w.patch_word(size_at, n);
        let link = if be {
            (strndx as u32).to_be_bytes()
        } else {
            (strndx as u32).to_le_bytes()
        };
        w.b[link_at..link_at + 4].copy_from_slice(&link);
        let phnum = info0.segments.len() as u32;
        let info_field = if be {
            phnum.to_be_bytes()
        } else {
            phnum.to_le_bytes()
        };
        w.b[link_at + 4..link_at + 8].copy_from_slice(&info_field);
        w.patch_u16(b.shnum_at - 4, 0xffff);
        let info = parse(&w.b).expect("parses");
        assert_eq!(info.segments.len(), info0.segments.len());
        assert_eq!(info.needed, vec!["libc.so.6"]);
        assert_eq!(info.sections.len() as u64, n);
        assert_eq!(info.sections[5].name, ".text");
        assert!(info.errors.is_empty(), "{:?}", info.errors);
    }
}

#[test]
fn unterminated_string_table_and_overlay() {
    let mut s = Spec::new(false, true);
    s.unterminated_name = true;
    s.overlay = 100;
    let b = build(&s);
    let info = parse(&b.data).expect("parses");
    let last = info.sections.last().expect("sections");
    assert_eq!(last.name, ".junk");
    let ov = info.overlay.expect("overlay");
    assert_eq!(ov.size, 100);
    assert_eq!(ov.offset, b.data.len() as u64 - 100);
    // .bss's huge size does not hide the overlay.
    assert!(
        info.sections
            .iter()
            .any(|s| s.kind == "NOBITS" && s.size == 0x10_0000)
    );
}

#[test]
fn section_past_end_of_file_is_clamped_with_error() {
    let s = Spec::new(true, false);
    let b = build(&s);
    let info = parse(&b.data).expect("parses");
    // Point .text's size beyond the file.
    let c = crate::read::Ctx {
        data: &b.data,
        is64: true,
        be: false,
    };
    let shoff = c.u64(40).expect("shoff") as usize;
    let mut d = b.data.clone();
    let size_at = shoff + 5 * 64 + 32;
    d[size_at..size_at + 8].copy_from_slice(&u64::MAX.to_le_bytes());
    let bad = parse(&d).expect("parses");
    assert_eq!(bad.sections.len(), info.sections.len());
    assert!(bad.sections[5].entropy.is_some());
    assert!(
        bad.errors
            .iter()
            .any(|e| e.message.contains("past the end"))
    );
    assert_eq!(bad.overlay, None);
}

#[test]
fn flag_decoding() {
    let f = crate::parser_flags(0x0500_0400, 40, false, false);
    assert_eq!(f.arm_eabi_version, Some(5));
    assert_eq!(f.float_abi, Some("hard"));
    let f = crate::parser_flags(0x0500_0200, 40, false, false);
    assert_eq!(f.float_abi, Some("soft"));
    let f = crate::parser_flags(0x7000_1007, 8, false, true);
    assert_eq!(f.mips_abi, Some("o32"));
    assert_eq!(f.mips_isa, Some("mips32r2"));
    let f = crate::parser_flags(0x6000_0020, 8, false, true);
    assert_eq!(f.mips_abi, Some("n32"));
    assert_eq!(f.mips_isa, Some("mips64"));
    let f = crate::parser_flags(0x8000_0007, 8, true, false);
    assert_eq!(f.mips_abi, Some("n64"));
    assert_eq!(f.mips_isa, Some("mips64r2"));
    assert_eq!(crate::parser_flags(0, 21, true, true).ppc64_abi, Some(1));
    assert_eq!(crate::parser_flags(0, 21, true, false).ppc64_abi, Some(2));
    assert_eq!(crate::parser_flags(2, 21, true, true).ppc64_abi, Some(2));
    let f = crate::parser_flags(0x5, 243, true, false);
    assert_eq!(f.float_abi, Some("double"));
    assert_eq!(f.riscv_rvc, Some(true));
}

#[test]
fn every_prefix_and_every_byte_flip_is_safe() {
    // Exhaustive small-scale robustness: each truncation and each single-byte corruption
    // of a small file, for both classes.
    for (is64, be) in [(false, true), (true, false)] {
        let mut s = Spec::new(is64, be);
        s.symtab = true;
        s.exports = vec!["f"];
        let b = build(&s);
        for len in 0..b.data.len() {
            let _ = parse(&b.data[..len]);
        }
        let mut d = b.data.clone();
        for i in 0..d.len() {
            for v in [0x00, 0xff, 0x80] {
                let old = d[i];
                d[i] = v;
                if let Ok(info) = parse(&d) {
                    serde_json::to_string(&info).expect("serializes");
                }
                d[i] = old;
            }
        }
    }
}

#[test]
fn overlapping_sections_cannot_multiply_entropy_work() {
    // 65535 section headers that all cover the whole file: the entropy budget stops
    // the hashing after about twice the file size, and parsing stays fast.
    let n = 0xffffusize;
    let shoff = 64usize;
    let len = shoff + n * 64;
    let mut d = vec![0u8; len];
    d[..4].copy_from_slice(b"\x7fELF");
    d[4] = 2;
    d[5] = 1;
    d[6] = 1;
    d[16..18].copy_from_slice(&2u16.to_le_bytes());
    d[18..20].copy_from_slice(&62u16.to_le_bytes());
    d[40..48].copy_from_slice(&(shoff as u64).to_le_bytes());
    d[52..54].copy_from_slice(&64u16.to_le_bytes());
    d[58..60].copy_from_slice(&64u16.to_le_bytes());
    d[60..62].copy_from_slice(&(n as u16).to_le_bytes());
    for i in 1..n {
        let h = shoff + i * 64;
        d[h + 4..h + 8].copy_from_slice(&1u32.to_le_bytes());
        d[h + 32..h + 40].copy_from_slice(&(len as u64).to_le_bytes());
    }
    let t = std::time::Instant::now();
    let info = parse(&d).expect("parses");
    let took = t.elapsed();
    assert_eq!(info.sections.len(), n);
    let hashed = info.sections.iter().filter(|s| s.entropy.is_some()).count();
    assert!(hashed < 10, "{hashed} sections hashed");
    assert!(
        info.errors.iter().any(|e| e.message.contains("entropy")),
        "{:?}",
        info.errors
    );
    assert!(took < std::time::Duration::from_secs(10), "{took:?}");
}
