//! Fuzzy hashes for ferret's static analysis, written from the published
//! algorithms so that analysts can paste them into VirusTotal or MISP:
//!
//! * [`ssdeep`]: context-triggered piecewise hashing (Kornblum 2006, after
//!   Tridgell's spamsum), `blocksize:sig1:sig2`, byte-identical to the
//!   `ssdeep` tool and to the `ppdeep` Python package, plus the 0-100
//!   similarity score as `ppdeep` computes it or (they differ slightly) as
//!   the `ssdeep` tool does.
//! * [`tlsh`]: Trend Micro's locality-sensitive hash (Oliver et al. 2013) in
//!   its default form (128 buckets, 1-byte checksum, `T1` prefix), identical
//!   to `py-tlsh` 4.12.1, plus the distance score.
//!
//! Both offer a one-shot function over a byte slice and a streaming hasher
//! (also usable as [`std::io::Write`]) that never buffers the input.

mod error;
pub mod ssdeep;
pub mod tlsh;

pub use error::Error;
