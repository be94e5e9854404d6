//! API token secrets: generation, hashing, constant-time comparison.

use crate::{Error, Result};

/// Prefix of every secret: makes leaked tokens recognisable (secret scanners, logs).
const PREFIX: &str = "ferret_";
/// Random bytes in a secret (256 bits: no brute force, so an unsalted hash is enough).
const SECRET_BYTES: usize = 32;

/// A new secret: the prefix and 64 hex digits of OS randomness.
pub(crate) fn new_secret() -> Result<String> {
    let mut b = [0u8; SECRET_BYTES];
    getrandom::fill(&mut b).map_err(|e| Error::Database {
        message: format!("no randomness from the OS: {e}"),
        transient: false,
    })?;
    Ok(format!("{PREFIX}{}", hex::encode(b)))
}

/// True if `secret` has the shape of a secret (cheap refusal of garbage before hashing
/// and a database lookup).
pub(crate) fn plausible(secret: &str) -> bool {
    secret.len() == PREFIX.len() + 2 * SECRET_BYTES
        && secret.starts_with(PREFIX)
        && secret[PREFIX.len()..]
            .bytes()
            .all(|b| b.is_ascii_hexdigit())
}

/// SHA-256 of the secret, lower-case hex: what the database stores.
pub(crate) fn hash(secret: &str) -> String {
    crate::sha256_hex(secret.as_bytes())
}

/// Equality whose time does not depend on where the inputs differ.
pub(crate) fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    use subtle::ConstantTimeEq;
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

/// Token names: 1 to 64 of `A-Z a-z 0-9 . _ -`.
pub(crate) fn check_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(Error::Invalid(format!(
            "token name {name:?}: 1 to 64 of A-Z a-z 0-9 . _ -"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_distinct_plausible_and_hash_to_hex() {
        let a = new_secret().unwrap();
        let b = new_secret().unwrap();
        assert_ne!(a, b);
        assert!(plausible(&a));
        assert!(!plausible(&a[1..]));
        assert!(!plausible(&format!("x{}", &a[1..])));
        assert!(!plausible(""));
        let h = hash(&a);
        assert_eq!(h.len(), 64);
        assert_ne!(h, hash(&b));
        assert!(!h.contains(&a[PREFIX.len()..]));
    }

    #[test]
    fn ct_eq_compares() {
        assert!(ct_eq(b"abc", b"abc"));
        assert!(!ct_eq(b"abc", b"abd"));
        assert!(!ct_eq(b"abc", b"ab"));
    }

    #[test]
    fn names() {
        assert!(check_name("ci-bot.1_x").is_ok());
        assert!(check_name("").is_err());
        assert!(check_name("a b").is_err());
        assert!(check_name(&"a".repeat(65)).is_err());
    }
}
