//! Signs that a file is packed or obfuscated.
//!
//! Each sign is reported on its own with its evidence, so an analyst can weigh them;
//! a packer is named only on specific evidence (UPX's markers), and "unknown packer"
//! only when several independent structural signs agree.

use serde::Serialize;

use ferret_elf::ElfInfo;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Low,
    Medium,
    High,
}

/// One sign of packing or obfuscation.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Indicator {
    /// Stable identifier, e.g. `upx-magic`, `high-entropy`.
    pub id: &'static str,
    pub severity: Severity,
    /// What was seen, with the numbers.
    pub description: String,
}

/// The packer verdict and the signs behind it.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Packer {
    /// "UPX", "UPX (modified)", "unknown packer", or none.
    pub name: Option<String>,
    pub indicators: Vec<Indicator>,
}

/// Entropy from which data is treated as compressed or encrypted; machine code and
/// text stay well below it (typically 5.5-6.5).
pub const HIGH_ENTROPY: f64 = 7.2;

const UPX_BANNER: &[u8] = b"This file is packed with the UPX executable packer";
const UPX_ID: &[u8] = b"$Id: UPX";

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    // SIMD substring search: the banner is looked for across the whole file.
    memchr::memmem::find(hay, needle)
}

/// Looks for packing signs in `data`, using the ELF parsed from `data` when there is
/// one (its [`ferret_elf::ByteEntropy`] spares counting segments again).
pub fn detect(data: &[u8], entropy: f64, elf: Option<&ElfInfo<'_>>) -> Packer {
    let mut ind = Vec::new();
    // UPX writes its l_info header ("UPX!") right after the program headers and a
    // copy near the end; looking at both ends avoids scanning large files whole.
    let head = &data[..data.len().min(4096)];
    let tail = &data[data.len().saturating_sub(4096)..];
    let magic = find(head, b"UPX!").is_some() || find(tail, b"UPX!").is_some();
    let banner = find(data, UPX_BANNER).is_some() || find(data, UPX_ID).is_some();
    if magic {
        ind.push(Indicator {
            id: "upx-magic",
            severity: Severity::Medium,
            description: "UPX! loader header marker".into(),
        });
    }
    if banner {
        ind.push(Indicator {
            id: "upx-banner",
            severity: Severity::Medium,
            description: "UPX copyright banner in the loader".into(),
        });
    }
    let mut upx_sections = false;
    if let Some(elf) = elf {
        let names: Vec<&str> = elf
            .sections
            .iter()
            .map(|s| s.name.as_ref())
            .filter(|n| n.starts_with("UPX") || n.eq_ignore_ascii_case(".upx"))
            .collect();
        if !names.is_empty() {
            upx_sections = true;
            ind.push(Indicator {
                id: "upx-sections",
                severity: Severity::Medium,
                description: format!("UPX section names: {}", names.join(", ")),
            });
        }
        elf_signs(elf, data, &mut ind);
    }
    if data.len() >= 1024 && entropy >= HIGH_ENTROPY {
        ind.push(Indicator {
            id: "high-entropy",
            severity: Severity::Medium,
            description: format!("whole-file entropy {entropy:.2} bits/byte (>= {HIGH_ENTROPY})"),
        });
    }

    let name = if magic || upx_sections {
        Some("UPX")
    } else if banner {
        // The loader is there but its markers were erased to break `upx -d`.
        Some("UPX (modified)")
    } else {
        let structural = ind
            .iter()
            .filter(|i| {
                matches!(
                    i.id,
                    "high-entropy"
                        | "high-entropy-code"
                        | "no-section-headers"
                        | "entry-outside-code"
                        | "writable-executable-segment"
                )
            })
            .count();
        (structural >= 2).then_some("unknown packer")
    };
    Packer {
        name: name.map(str::to_owned),
        indicators: ind,
    }
}

fn elf_signs(elf: &ElfInfo<'_>, data: &[u8], ind: &mut Vec<Indicator>) {
    let executable = matches!(elf.elf_type.as_ref(), "EXEC" | "DYN");
    if executable && !elf.section_headers_present {
        ind.push(Indicator {
            id: "no-section-headers",
            severity: Severity::Medium,
            description: "no section header table (stripped by a packer or sstrip)".into(),
        });
    }
    if executable && elf.entry != 0 && !elf.entry_in_executable_segment {
        ind.push(Indicator {
            id: "entry-outside-code",
            severity: Severity::High,
            description: format!(
                "entry point {:#x} is not in an executable segment",
                elf.entry
            ),
        });
    }
    for (i, seg) in elf.segments.iter().enumerate() {
        if seg.kind == "LOAD" && seg.writable_and_executable {
            ind.push(Indicator {
                id: "writable-executable-segment",
                severity: Severity::Medium,
                description: format!(
                    "LOAD segment {i} at {:#x} is writable and executable",
                    seg.vaddr
                ),
            });
        }
    }
    // Entropy of the executable LOAD segments: packed code is compressed data plus a
    // small stub.
    for (i, seg) in elf
        .segments
        .iter()
        .enumerate()
        .filter(|(_, s)| s.kind == "LOAD" && s.flags.contains('X'))
    {
        let start = usize::try_from(seg.offset)
            .unwrap_or(usize::MAX)
            .min(data.len());
        let end = usize::try_from(seg.offset.saturating_add(seg.filesz))
            .unwrap_or(usize::MAX)
            .min(data.len());
        if end - start >= 4096 {
            // Counted during the parse when the sections allowed it.
            let e = elf
                .byte_entropy
                .segments
                .get(i)
                .copied()
                .flatten()
                .unwrap_or_else(|| ferret_elf::entropy(&data[start..end]));
            if e >= HIGH_ENTROPY {
                ind.push(Indicator {
                    id: "high-entropy-code",
                    severity: Severity::Medium,
                    description: format!(
                        "executable segment at {:#x} has entropy {e:.2} bits/byte",
                        seg.vaddr
                    ),
                });
                break;
            }
        }
    }
    if let Some(o) = elf.overlay.filter(|o| o.size > 0) {
        let start = usize::try_from(o.offset)
            .unwrap_or(usize::MAX)
            .min(data.len());
        let e = elf
            .byte_entropy
            .overlay
            .unwrap_or_else(|| ferret_elf::entropy(&data[start..]));
        ind.push(Indicator {
            id: "overlay",
            severity: if o.size >= 1024 && e >= HIGH_ENTROPY {
                Severity::Medium
            } else {
                Severity::Low
            },
            description: format!(
                "{} bytes after the last section or segment at {:#x} (entropy {e:.2})",
                o.size, o.offset
            ),
        });
    }
    let imports = elf.imports.len();
    if matches!(elf.linkage, ferret_elf::Linkage::Dynamic) && imports <= 3 {
        ind.push(Indicator {
            id: "tiny-import-table",
            severity: Severity::Low,
            description: format!("dynamically linked but imports only {imports} symbols"),
        });
    }
}
