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
