//! Static analysis of one file: what it is and what it carries, without running it.
//!
//! [`analyze`] combines the specialised crates (ELF parsing, strings and IOCs, fuzzy
//! hashes) with file-type detection and packer signs into one [`StaticReport`]. YARA
//! is not run here: the report has a slot for it that the caller fills, so that this
//! crate (used by the sandbox for every dropped file) stays free of yara-x.
#![forbid(unsafe_code)]

pub mod filetype;
pub mod hashes;
pub mod packer;

use std::fs::File;
use std::io::Read;
use std::path::Path;

use serde::Serialize;

use ferret_elf::ElfInfo;
use ferret_report::YaraResult;
use ferret_strings::{Iocs, StringOptions, Strings};

pub use filetype::{FileType, Kind};
pub use hashes::Hashes;
pub use packer::{Indicator, Packer, Severity};

/// What to extract and the bounds that keep a hostile file from exhausting memory.
#[derive(Debug, Clone)]
pub struct Options {
    pub min_string_len: usize,
    /// Strings kept in the report; IOCs are still taken from all of them.
    pub max_strings: usize,
    /// Bytes read from a file; the rest is not analysed, and the report says so.
    pub max_file_size: u64,
    pub elf: ferret_elf::Options,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            min_string_len: ferret_strings::DEFAULT_MIN_LEN,
            max_strings: 10_000,
            max_file_size: 512 << 20,
            elf: ferret_elf::Options::default(),
        }
    }
}

/// Everything static analysis says about one file.
#[derive(Debug, Clone, Serialize)]
pub struct StaticReport<'d> {
    pub path: String,
    /// Size of the file on disk.
    pub size: u64,
    /// Bytes analysed: less than `size` only when the file exceeded the read limit.
    pub analysed_bytes: u64,
    pub file_type: FileType,
    pub hashes: Hashes,
    /// Shannon entropy of the whole file, bits per byte (0-8).
    pub entropy: f64,
    /// Present for ELF files, with whatever could be parsed.
    pub elf: Option<ElfInfo<'d>>,
    pub strings: Strings<'d>,
    pub iocs: Iocs,
    pub packer: Packer,
    /// Filled by the caller when YARA ran.
    pub yara: Option<YaraResult>,
    /// Problems with the file as a whole (ELF parse errors are in `elf.errors`).
    pub errors: Vec<String>,
}

/// A file read for analysis.
#[derive(Debug, Clone)]
pub struct Input {
    pub path: String,
    /// Size on disk.
    pub size: u64,
    /// The first `max_file_size` bytes.
    pub data: Vec<u8>,
}

/// Why a file could not be analysed at all.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("not a regular file")]
    NotRegular,
}

/// Reads a regular file, up to `options.max_file_size` bytes. Devices and FIFOs are
/// refused: reading them could block or never end.
pub fn read_input(path: &Path, options: &Options) -> Result<Input, ReadError> {
    read_input_into(path, options, Vec::new())
}

/// [`read_input`] into `buf`'s memory (its contents are discarded). A caller
/// reading many files hands back each [`Input::data`] once done with it,
/// which spares the kernel mapping and zeroing fresh pages for every file.
pub fn read_input_into(
    path: &Path,
    options: &Options,
    mut buf: Vec<u8>,
) -> Result<Input, ReadError> {
    // Check before opening: opening a FIFO blocks until a writer appears.
    if !std::fs::metadata(path)?.is_file() {
        return Err(ReadError::NotRegular);
    }
    let file = File::open(path)?;
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(ReadError::NotRegular);
    }
    buf.clear();
    buf.reserve(meta.len().min(options.max_file_size) as usize);
    let mut data = buf;
    file.take(options.max_file_size).read_to_end(&mut data)?;
    Ok(Input {
        path: path.display().to_string(),
        size: meta.len().max(data.len() as u64),
        data,
    })
}

/// Analyses an input read by [`read_input`].
pub fn analyze<'d>(input: &'d Input, options: &Options) -> StaticReport<'d> {
    analyze_input(input, options, true)
}

/// [`analyze`] but for the MD5, which is left empty: a caller analysing many
/// files hashes them together with [`hashes::md5_many`] (several times faster
/// than one at a time) and fills it in with [`Hashes::set_md5`].
pub fn analyze_without_md5<'d>(input: &'d Input, options: &Options) -> StaticReport<'d> {
    analyze_input(input, options, false)
}

fn analyze_input<'d>(input: &'d Input, options: &Options, with_md5: bool) -> StaticReport<'d> {
    let mut report = analyze_data(&input.path, &input.data, options, with_md5);
    report.size = input.size;
    if input.size > input.data.len() as u64 {
        report.errors.push(format!(
            "file is {} bytes; only the first {} were analysed (read limit)",
            input.size,
            input.data.len()
        ));
    }
    report
}

/// Analyses a buffer (a whole file, or a dropped file held in memory).
///
/// For large buffers the hashes and the rest of the analysis run as rayon
/// tasks (see [`hashes::compute`]), so an idle worker can help with them.
pub fn analyze_bytes<'d>(path: &str, data: &'d [u8], options: &Options) -> StaticReport<'d> {
    analyze_data(path, data, options, true)
}

fn analyze_data<'d>(
    path: &str,
    data: &'d [u8],
    options: &Options,
    with_md5: bool,
) -> StaticReport<'d> {
    let hash = || {
        if with_md5 {
            hashes::compute(data)
        } else {
            hashes::compute_without_md5(data)
        }
    };
    let (hashes, mut report) = if data.len() >= hashes::PARALLEL_MIN {
        rayon::join(hash, || analyze_content(path, data, options))
    } else {
        (hash(), analyze_content(path, data, options))
    };
    report.hashes = hashes;
    report
}

/// Shannon entropy of the whole of `data`, bits per byte (0-8): taken from
/// `elf` (parsed from `data`) when its parse already counted every byte,
/// else counted. The same value either way, bit for bit.
pub fn file_entropy(data: &[u8], elf: Option<&ElfInfo<'_>>) -> f64 {
    elf.and_then(|e| e.byte_entropy.file)
        .unwrap_or_else(|| ferret_elf::entropy(data))
}

/// Everything but the hashes, which are left empty.
fn analyze_content<'d>(path: &str, data: &'d [u8], options: &Options) -> StaticReport<'d> {
    let string_options = StringOptions {
        min_len: options.min_string_len,
        max_strings: options.max_strings,
        ..StringOptions::default()
    };
    let strings = || ferret_strings::analyze(data, &string_options);
    let structure = || {
        let mut errors = Vec::new();
        let mut file_type = filetype::detect(data);
        let elf = if file_type.kind == Kind::Elf {
            match ferret_elf::parse_with(data, &options.elf) {
                Ok(elf) => {
                    file_type.description = filetype::describe_elf(&elf);
                    Some(elf)
                }
                Err(e) => {
                    // The magic is there but the identification bytes are not usable.
                    file_type.description = format!("ELF (corrupt identification: {e})");
                    errors.push(format!("ELF header: {e}"));
                    None
                }
            }
        } else {
            None
        };
        let entropy = file_entropy(data, elf.as_ref());
        let packer = packer::detect(data, entropy, elf.as_ref());
        (file_type, elf, entropy, packer, errors)
    };
    let (analysis, (file_type, elf, entropy, packer, errors)) =
        if data.len() >= hashes::PARALLEL_MIN {
            rayon::join(strings, structure)
        } else {
            (strings(), structure())
        };
    StaticReport {
        path: path.to_owned(),
        size: data.len() as u64,
        analysed_bytes: data.len() as u64,
        file_type,
        hashes: Hashes::default(),
        entropy,
        elf,
        strings: analysis.strings,
        iocs: analysis.iocs,
        packer,
        yara: None,
        errors,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The entropies taken from the ELF parse (whole file, executable
    /// segments, overlay) give the same report as counting directly: same
    /// whole-file entropy bit for bit, same packer signs, on ELF files of
    /// /usr/bin, truncated copies and a copy with an overlay.
    #[test]
    fn entropies_from_the_parse_equal_direct_counts() {
        let mut paths: Vec<_> = std::fs::read_dir("/usr/bin")
            .expect("/usr/bin is readable")
            .filter_map(|e| Some(e.ok()?.path()))
            .collect();
        paths.sort();
        let mut checked = 0;
        let mut bytes = 0;
        for path in paths.iter().step_by(7) {
            if bytes > 60 << 20 {
                break;
            }
            let Ok(data) = std::fs::read(path) else {
                continue;
            };
            if !data.starts_with(b"\x7fELF") {
                continue;
            }
            bytes += data.len();
            let mut overlaid = data.clone();
            overlaid.extend((0..5000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8));
            let half = &data[..data.len() / 2];
            for d in [&data[..], &overlaid, half] {
                let Ok(elf) = ferret_elf::parse(d) else {
                    continue;
                };
                let e = file_entropy(d, Some(&elf));
                assert_eq!(e.to_bits(), ferret_elf::entropy(d).to_bits());
                let mut bare = elf.clone();
                bare.byte_entropy = ferret_elf::ByteEntropy::default();
                assert_eq!(
                    packer::detect(d, e, Some(&elf)),
                    packer::detect(d, e, Some(&bare)),
                    "{}",
                    path.display()
                );
                checked += 1;
                if d.len() == overlaid.len() {
                    assert!(elf.byte_entropy.overlay.is_some(), "{}", path.display());
                }
            }
        }
        assert!(checked >= 30, "only {checked} ELF files checked");
    }

    /// A report made without MD5 and completed from `md5_many` serialises
    /// exactly like one from `analyze`, for a small file and for a large one
    /// (whose hashes run as parallel tasks).
    #[test]
    fn md5_filled_in_later_gives_the_same_report() {
        let exe = std::env::current_exe().expect("path of the test binary");
        let options = Options::default();
        let big = read_input(&exe, &options).expect("reading the test binary");
        assert!(big.data.len() >= hashes::PARALLEL_MIN);
        let small = Input {
            path: "small".into(),
            size: 3000,
            data: big.data.iter().take(3000).copied().collect(),
        };
        let inputs = [&big, &small];
        let digests = hashes::md5_many(&inputs.map(|i| i.data.as_slice()));
        for (input, digest) in inputs.iter().zip(&digests) {
            let mut later = analyze_without_md5(input, &options);
            assert!(later.hashes.md5.is_empty());
            later.hashes.set_md5(digest);
            let whole = analyze(input, &options);
            assert_eq!(
                serde_json::to_string(&later).expect("serialising"),
                serde_json::to_string(&whole).expect("serialising")
            );
        }
    }
}
