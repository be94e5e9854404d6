//! Cryptographic and fuzzy hashes of the whole file.

use md5::Md5;
use serde::Serialize;
use sha1::Sha1;
use sha2::{Digest, Sha256};

/// The hashes analysts search for: exact ones for lookups, fuzzy ones for families.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Hashes {
    pub md5: String,
    pub sha1: String,
    pub sha256: String,
    /// ssdeep (spamsum), identical to the `ssdeep` tool's output.
    pub ssdeep: String,
    /// TLSH (T1 format); absent when the data is too short or too uniform for TLSH.
    pub tlsh: Option<String>,
}

pub use ferret_md5::md5_many;

impl Hashes {
    /// Sets the MD5 from its digest, for reports made without one
    /// (see [`crate::analyze_without_md5`]).
    pub fn set_md5(&mut self, digest: &[u8; 16]) {
        self.md5 = hex::encode(digest);
    }
}

/// Inputs at least this large are hashed as parallel tasks (see [`compute`]).
pub const PARALLEL_MIN: usize = 1 << 20;

/// Hashes `data`.
///
/// A large input is hashed as independent rayon tasks (MD5, the SHAs, ssdeep,
/// TLSH), which run one after another on the calling thread unless another
/// worker is idle and takes some: when a batch of files runs down to its
/// last large file, both cores finish it together.
pub fn compute(data: &[u8]) -> Hashes {
    compute_with(data, true)
}

/// [`compute`] but for the MD5, which is left empty: for a caller that hashes
/// many files at once with [`md5_many`], several times faster than one at a time.
pub fn compute_without_md5(data: &[u8]) -> Hashes {
    compute_with(data, false)
}

fn compute_with(data: &[u8], with_md5: bool) -> Hashes {
    let md5 = || {
        if with_md5 {
            hex::encode(Md5::digest(data))
        } else {
            String::new()
        }
    };
    let shas = || {
        (
            hex::encode(Sha1::digest(data)),
            hex::encode(Sha256::digest(data)),
        )
    };
    let ssdeep = || ferret_fuzzy::ssdeep::hash(data);
    let tlsh = || ferret_fuzzy::tlsh::hash(data);
    let ((md5, (sha1, sha256)), (ssdeep, tlsh)) = if data.len() >= PARALLEL_MIN {
        rayon::join(|| rayon::join(md5, shas), || rayon::join(ssdeep, tlsh))
    } else {
        ((md5(), shas()), (ssdeep(), tlsh()))
    };
    Hashes {
        md5,
        sha1,
        sha256,
        ssdeep,
        tlsh,
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn known_digests() {
        let h = super::compute(b"abc");
        assert_eq!(h.md5, "900150983cd24fb0d6963f7d28e17f72");
        assert_eq!(h.sha1, "a9993e364706816aba3e25717850c26c9cd0d89d");
        assert_eq!(
            h.sha256,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(h.ssdeep, "3:uG:uG");
        assert_eq!(h.tlsh, None);
        // Across the 64 KiB chunk boundary.
        let big = super::compute(&vec![7u8; 200_000]);
        assert_eq!(big.md5, "2f8a4ac450144c6ca948e86c1a8bf4c4");
        assert_eq!(
            big.sha256,
            "8cfcba83dcfc81a193bb4e52fd3161efb513906f52cbbe2328fac5f1a79c2b6e"
        );
    }

    #[test]
    fn md5_filled_in_later_is_the_same() {
        for data in [
            &b"abc"[..],
            &vec![7u8; 200_000],
            &vec![9u8; super::PARALLEL_MIN + 3],
        ] {
            let whole = super::compute(data);
            let mut later = super::compute_without_md5(data);
            assert!(later.md5.is_empty());
            later.set_md5(&super::md5_many(&[data])[0]);
            assert_eq!(later, whole);
        }
    }
}
