use std::fmt;

/// Longest piece of a rejected input echoed back in an error message, so that
/// hostile multi-megabyte "hashes" do not end up in logs whole.
const MAX_ECHO: usize = 100;

/// Errors from parsing or comparing fuzzy hashes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A string passed as an ssdeep hash is not `blocksize:sig1:sig2`.
    #[error("invalid ssdeep hash {input}: {reason}")]
    InvalidSsdeep {
        /// The offending input (quoted, shortened if long).
        input: Echo,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A string passed as a TLSH digest is not 70 hex digits with an optional `T1` prefix.
    #[error("invalid TLSH digest {input}: {reason}")]
    InvalidTlsh {
        /// The offending input (quoted, shortened if long).
        input: Echo,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A streaming ssdeep hasher created with a declared input length was fed
    /// a different number of bytes; its block-size choice would be wrong.
    #[error("ssdeep hasher was declared {declared} bytes of input but was fed {fed}")]
    LengthMismatch {
        /// Length given to [`crate::ssdeep::Hasher::with_input_len`].
        declared: u64,
        /// Bytes actually fed.
        fed: u64,
    },
}

/// A rejected input as shown in an error message: quoted, escaped and cut to
/// a bounded length.
#[derive(Clone, PartialEq, Eq)]
pub struct Echo(String);

impl Echo {
    pub(crate) fn new(input: &str) -> Self {
        let mut end = input.len().min(MAX_ECHO);
        while !input.is_char_boundary(end) {
            end -= 1;
        }
        let mut shown = format!("{:?}", &input[..end]);
        if end < input.len() {
            shown.push_str(&format!("... ({} bytes)", input.len()));
        }
        Echo(shown)
    }

    /// The quoted (possibly shortened) input.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Echo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Echo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
