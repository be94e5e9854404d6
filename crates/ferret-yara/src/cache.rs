//! On-disk cache of compiled rule sets.
//!
//! Compiling a few hundred rule files costs seconds; a run over one sample should not
//! pay that every time. An entry is `MAGIC`, the load report as JSON (so a cached set
//! still reports which files failed), then yara-x's serialised rules. The file name is
//! the content key, so a changed rule file simply misses.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use crate::load::LoadReport;

/// Must match the `=` version pinned in Cargo.toml; part of the key because a
/// serialised rule set only loads into the yara-x that wrote it.
pub(crate) const YARA_X_VERSION: &str = "1.22.1";

const MAGIC: &[u8; 8] = b"FRYARA\x00\x01";

fn entry_path(dir: &Path, key: &str) -> PathBuf {
    dir.join(format!("yara-{key}.bin"))
}

/// `Ok(None)`: no entry. `Err`: an entry exists but cannot be used.
pub(crate) fn read(dir: &Path, key: &str) -> io::Result<Option<(yara_x::Rules, LoadReport)>> {
    let bytes = match fs::read(entry_path(dir, key)) {
        Ok(b) => b,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let bad = |what: &str| io::Error::new(io::ErrorKind::InvalidData, what.to_owned());
    let rest = bytes
        .strip_prefix(MAGIC.as_slice())
        .ok_or_else(|| bad("bad magic"))?;
    let (len, rest) = rest
        .split_first_chunk::<8>()
        .ok_or_else(|| bad("truncated"))?;
    let len = usize::try_from(u64::from_le_bytes(*len)).map_err(|_| bad("bad length"))?;
    if rest.len() < len {
        return Err(bad("truncated report"));
    }
    let (report, rules) = rest.split_at(len);
    let report: LoadReport = serde_json::from_slice(report).map_err(io::Error::other)?;
    if report.key != key {
        return Err(bad("key mismatch"));
    }
    let rules = yara_x::Rules::deserialize(rules).map_err(io::Error::other)?;
    Ok(Some((rules, report)))
}

/// Writes atomically (temporary file, then rename) so that a concurrent or
/// interrupted run never sees half an entry.
pub(crate) fn write(dir: &Path, rules: &yara_x::Rules, report: &LoadReport) -> io::Result<()> {
    fs::create_dir_all(dir)?;
    let report_json = serde_json::to_vec(report).map_err(io::Error::other)?;
    let rules_bytes = rules.serialize().map_err(io::Error::other)?;
    let final_path = entry_path(dir, &report.key);
    let tmp = dir.join(format!(".yara-{}.{}.tmp", report.key, std::process::id()));
    let result = (|| {
        let mut f = fs::File::create(&tmp)?;
        f.write_all(MAGIC)?;
        f.write_all(&(report_json.len() as u64).to_le_bytes())?;
        f.write_all(&report_json)?;
        f.write_all(&rules_bytes)?;
        f.sync_all()?;
        fs::rename(&tmp, &final_path)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}
