//! ELF note decoding (build ID, ABI tag, GNU properties).

use crate::parser::Errors;
use crate::read::Ctx;
use crate::{AbiTag, NoteEntry, Notes, names};

const NT_GNU_ABI_TAG: u32 = 1;
const NT_GNU_BUILD_ID: u32 = 3;
const NT_GNU_PROPERTY_TYPE_0: u32 = 5;
const NT_GO_BUILD_ID: u32 = 4;

/// One PT_NOTE segment or SHT_NOTE section.
pub(crate) struct NoteBlock<'a> {
    /// The block's bytes.
    pub bytes: &'a [u8],
    /// Its file offset (for error messages).
    pub base: u64,
    /// Entry alignment: 4, or 8 for 64-bit GNU property notes.
    pub align: u64,
}

/// Decodes the notes in `block` into `out`. Returns how many notes were read so the
/// caller can enforce a global cap.
pub(crate) fn parse_notes<'a>(
    ctx: Ctx<'a>,
    block: NoteBlock<'a>,
    machine: u16,
    budget: usize,
    out: &mut Notes<'a>,
    errors: &mut Errors,
) -> usize {
    let NoteBlock { bytes, base, align } = block;
    let c = ctx.with(bytes);
    let len = bytes.len() as u64;
    let mut pos = 0u64;
    let mut seen = 0usize;
    while pos.saturating_add(12) <= len && seen < budget {
        let namesz = u64::from(c.u32z(pos));
        let descsz = u64::from(c.u32z(pos + 4));
        let kind = c.u32z(pos + 8);
        let name_start = pos + 12;
        let layout = name_start.checked_add(namesz).and_then(|name_end| {
            let desc_start = align_up(name_end, align)?;
            let desc_end = desc_start.checked_add(descsz)?;
            Some((name_end, desc_start, desc_end))
        });
        let Some((name_end, desc_start, desc_end)) = layout.filter(|l| l.2 <= len) else {
            errors.push(
                Some(base.saturating_add(pos)),
                format!("note claims name size {namesz} and descriptor size {descsz}, past the end of its segment"),
            );
            break;
        };
        seen += 1;
        let name = c.bytes(name_start, name_end - name_start).unwrap_or(&[]);
        let name = match memchr::memchr(0, name) {
            Some(n) => &name[..n],
            None => name,
        };
        let desc = c.bytes(desc_start, desc_end - desc_start).unwrap_or(&[]);
        let d = ctx.with(desc);
        match (name, kind) {
            (b"GNU", NT_GNU_BUILD_ID) if out.build_id.is_none() => {
                out.build_id = Some(hex(desc));
            }
            (b"GNU", NT_GNU_ABI_TAG) if desc.len() >= 16 => {
                out.abi_tag = Some(AbiTag {
                    os: names::abi_tag_os(d.u32z(0)),
                    version: format!("{}.{}.{}", d.u32z(4), d.u32z(8), d.u32z(12)),
                });
            }
            (b"GNU", NT_GNU_PROPERTY_TYPE_0) => gnu_properties(d, machine, out),
            (b"Go", NT_GO_BUILD_ID) if out.go_build_id.is_none() => {
                out.go_build_id = Some(String::from_utf8_lossy(desc));
            }
            _ => {}
        }
        out.entries.push(NoteEntry {
            owner: String::from_utf8_lossy(name),
            kind,
            size: descsz,
        });
        match align_up(desc_end, align) {
            Some(next) if next > pos => pos = next,
            _ => break,
        }
    }
    seen
}

fn align_up(v: u64, align: u64) -> Option<u64> {
    Some(v.checked_add(align - 1)? & !(align - 1))
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        s.push(DIGITS[usize::from(b >> 4)] as char);
        s.push(DIGITS[usize::from(b & 15)] as char);
    }
    s
}

/// Walks an NT_GNU_PROPERTY_TYPE_0 descriptor: (type, size, data) records padded to the
/// class word size.
fn gnu_properties(d: Ctx<'_>, machine: u16, out: &mut Notes<'_>) {
    const X86_FEATURE_1_AND: u32 = 0xc000_0002;
    const X86_ISA_1_NEEDED: u32 = 0xc000_8002;
    const AARCH64_FEATURE_1_AND: u32 = 0xc000_0000;
    let pad = if d.is64 { 8 } else { 4 };
    let len = d.data.len() as u64;
    let mut pos = 0u64;
    while pos + 8 <= len {
        let kind = d.u32z(pos);
        let size = u64::from(d.u32z(pos + 4));
        let data = pos + 8;
        let Some(end) = data.checked_add(size).filter(|&e| e <= len) else {
            return;
        };
        let value = if size >= 4 { d.u32z(data) } else { 0 };
        let x86 = matches!(machine, names::EM_X86_64 | names::EM_386);
        match kind {
            X86_FEATURE_1_AND if x86 => {
                push_bits(&mut out.x86_features, value, &[(1, "IBT"), (2, "SHSTK")]);
            }
            X86_ISA_1_NEEDED if x86 => push_bits(
                &mut out.x86_isa_needed,
                value,
                &[
                    (1, "x86-64-baseline"),
                    (2, "x86-64-v2"),
                    (4, "x86-64-v3"),
                    (8, "x86-64-v4"),
                ],
            ),
            AARCH64_FEATURE_1_AND if machine == names::EM_AARCH64 => {
                push_bits(&mut out.aarch64_features, value, &[(1, "BTI"), (2, "PAC")]);
            }
            _ => {}
        }
        match align_up(end, pad) {
            Some(next) if next > pos => pos = next,
            _ => return,
        }
    }
}

fn push_bits(out: &mut Vec<&'static str>, value: u32, bits: &[(u32, &'static str)]) {
    for &(bit, name) in bits {
        if value & bit != 0 && !out.contains(&name) {
            out.push(name);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn note(be: bool, name: &[u8], kind: u32, desc: &[u8], align: usize) -> Vec<u8> {
        let w = |v: u32| if be { v.to_be_bytes() } else { v.to_le_bytes() };
        let mut b = Vec::new();
        b.extend_from_slice(&w(name.len() as u32 + 1));
        b.extend_from_slice(&w(desc.len() as u32));
        b.extend_from_slice(&w(kind));
        b.extend_from_slice(name);
        b.push(0);
        b.resize(b.len().next_multiple_of(align), 0);
        b.extend_from_slice(desc);
        b.resize(b.len().next_multiple_of(align), 0);
        b
    }

    fn errors() -> Errors {
        Errors::new(10)
    }

    #[test]
    fn gnu_notes_both_orders() {
        for be in [false, true] {
            let w = |v: u32| if be { v.to_be_bytes() } else { v.to_le_bytes() };
            let mut abi = Vec::new();
            for v in [0u32, 3, 2, 0] {
                abi.extend_from_slice(&w(v));
            }
            let mut prop = Vec::new();
            for v in [0xc000_0002u32, 4, 3, 0] {
                prop.extend_from_slice(&w(v));
            }
            let mut bytes = note(be, b"GNU", 3, &[0xde, 0xad, 0xbe, 0xef], 4);
            bytes.extend(note(be, b"GNU", 1, &abi, 4));
            bytes.extend(note(be, b"GNU", 5, &prop, 4));
            bytes.extend(note(be, b"Go", 4, b"abc/def", 4));
            let ctx = Ctx {
                data: &bytes,
                is64: false,
                be,
            };
            let mut out = Notes::default();
            let mut errs = errors();
            let block = NoteBlock {
                bytes: &bytes,
                base: 0,
                align: 4,
            };
            let n = parse_notes(ctx, block, names::EM_386, 100, &mut out, &mut errs);
            assert_eq!(n, 4);
            assert_eq!(out.build_id.as_deref(), Some("deadbeef"));
            let tag = out.abi_tag.expect("abi tag");
            assert_eq!(tag.os, "Linux");
            assert_eq!(tag.version, "3.2.0");
            assert_eq!(out.x86_features, ["IBT", "SHSTK"]);
            assert_eq!(out.go_build_id.as_deref(), Some("abc/def"));
            assert_eq!(out.entries.len(), 4);
            assert!(errs.is_empty());
        }
    }

    #[test]
    fn oversized_note_is_an_error_not_a_read() {
        let mut bytes = note(false, b"GNU", 3, &[1, 2, 3, 4], 4);
        bytes[4..8].copy_from_slice(&u32::MAX.to_le_bytes());
        let ctx = Ctx {
            data: &bytes,
            is64: true,
            be: false,
        };
        let mut out = Notes::default();
        let mut errs = errors();
        let block = NoteBlock {
            bytes: &bytes,
            base: 0x100,
            align: 8,
        };
        assert_eq!(parse_notes(ctx, block, 62, 100, &mut out, &mut errs), 0);
        assert!(out.build_id.is_none());
        assert!(!errs.is_empty());
    }
}
