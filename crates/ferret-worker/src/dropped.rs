//! `dropped.zip`: the files a sample wrote, in a zip encrypted with AES-256 and the
//! password `infected` (the malware-sharing convention: mail filters and virus scanners
//! leave such archives alone, and nobody opens one by accident).

use std::fs;
use std::io::{self, Cursor};
use std::path::Path;

use zip::write::SimpleFileOptions;
use zip::{AesMode, CompressionMethod, ZipWriter};

/// The password of `dropped.zip`.
pub const ZIP_PASSWORD: &str = "infected";

/// Zips the regular files under `dir` (recursively; names relative to `dir`, `/`
/// separated; symbolic links and special files left out), each AES-256 encrypted with
/// [`ZIP_PASSWORD`]. A missing `dir` gives an empty archive.
pub fn zip_dir(dir: &Path) -> io::Result<Vec<u8>> {
    let mut zip = ZipWriter::new(Cursor::new(Vec::new()));
    let options = SimpleFileOptions::default()
        .compression_method(CompressionMethod::Deflated)
        .with_aes_encryption(AesMode::Aes256, ZIP_PASSWORD);
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let rd = match fs::read_dir(&d) {
            Ok(rd) => rd,
            Err(e) if e.kind() == io::ErrorKind::NotFound && d == dir => break,
            Err(e) => return Err(io::Error::new(e.kind(), format!("{}: {e}", d.display()))),
        };
        let mut entries: Vec<_> = rd.collect::<io::Result<_>>()?;
        // Deterministic archives: the same files give the same listing.
        entries.sort_by_key(fs::DirEntry::file_name);
        for e in entries.into_iter().rev() {
            let path = e.path();
            // Not followed: a link must not pull host files into the archive.
            let meta = fs::symlink_metadata(&path)?;
            if meta.is_dir() {
                stack.push(path);
            } else if meta.is_file() {
                let rel = path.strip_prefix(dir).unwrap_or(&path);
                let name = rel
                    .components()
                    .map(|c| c.as_os_str().to_string_lossy())
                    .collect::<Vec<_>>()
                    .join("/");
                zip.start_file(name, options).map_err(io::Error::other)?;
                io::copy(&mut fs::File::open(&path)?, &mut zip)?;
            }
        }
    }
    Ok(zip.finish().map_err(io::Error::other)?.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn encrypted_zip_round_trips_with_the_password_only() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        fs::create_dir_all(root.join("tmp/.x")).unwrap();
        fs::write(root.join("tmp/.x/payload"), b"MZ not really").unwrap();
        fs::write(root.join("etc-cron"), vec![b'a'; 100_000]).unwrap();
        std::os::unix::fs::symlink("/etc/passwd", root.join("link")).unwrap();
        let bytes = zip_dir(root).unwrap();
        // Nothing of the plaintext is visible in the archive.
        assert!(!bytes.windows(13).any(|w| w == b"MZ not really"));

        let mut z = zip::ZipArchive::new(Cursor::new(&bytes)).unwrap();
        let mut names: Vec<String> = z.file_names().map(|n| n.unwrap().into_owned()).collect();
        names.sort();
        assert_eq!(names, ["etc-cron", "tmp/.x/payload"]);
        let mut f = z.by_name_decrypt("tmp/.x/payload", b"infected").unwrap();
        assert!(f.encrypted());
        let mut text = Vec::new();
        f.read_to_end(&mut text).unwrap();
        assert_eq!(text, b"MZ not really");
        drop(f);
        assert!(z.by_name_decrypt("etc-cron", b"wrong").is_err());
        assert!(z.by_name("etc-cron").is_err(), "no plaintext access");
    }

    #[test]
    fn missing_dir_gives_an_empty_archive() {
        let dir = tempfile::tempdir().unwrap();
        let bytes = zip_dir(&dir.path().join("none")).unwrap();
        assert_eq!(zip::ZipArchive::new(Cursor::new(bytes)).unwrap().len(), 0);
    }
}
