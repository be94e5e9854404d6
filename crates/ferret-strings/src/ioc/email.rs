//! E-mail address detection.
//!
//! `local@domain` where the local part is 1..=64 bytes of letters, digits and
//! `. _ + -` (starting with a letter or digit; no trailing or doubled dot; `%` is excluded so format
//! strings such as `%s@%s` never match) and the domain passes the host-name and
//! public-suffix check. Credentials in URLs (`ftp://user:pw@host`) are not
//! e-mail addresses: a local part preceded by `:` or `/` is skipped.

use super::domain::valid_host;

#[inline]
fn local_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'+' | b'-')
}

#[inline]
fn host_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'-' || b == b'.'
}

/// Calls `emit(index, local, domain, domain_index)` for every address in `s`.
pub(crate) fn scan_emails<'s>(s: &'s str, mut emit: impl FnMut(usize, &'s str, &'s str, usize)) {
    let b = s.as_bytes();
    for (at, _) in s.match_indices('@') {
        let mut ls = at;
        while ls > 0 && local_char(b[ls - 1]) {
            ls -= 1;
        }
        if ls > 0 && matches!(b[ls - 1], b':' | b'/' | b'%' | b'\\') {
            continue;
        }
        let mut de = at + 1;
        while de < b.len() && host_char(b[de]) {
            de += 1;
        }
        if b.get(de).is_some_and(|&c| c == b'_' || c == b'@') {
            continue;
        }
        while de > at + 1 && b[de - 1] == b'.' {
            de -= 1;
        }
        let (Some(local), Some(domain)) = (s.get(ls..at), s.get(at + 1..de)) else {
            continue;
        };
        let lb = local.as_bytes();
        let local_ok = !local.is_empty()
            && local.len() <= 64
            && lb.first().is_some_and(u8::is_ascii_alphanumeric)
            && lb.last() != Some(&b'.')
            && !local.contains("..")
            && lb.iter().any(u8::is_ascii_alphanumeric);
        if local_ok && valid_host(domain.as_bytes()) {
            emit(ls, local, domain, at + 1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn emails(s: &str) -> Vec<String> {
        let mut out = Vec::new();
        scan_emails(s, |_, l, d, _| out.push(format!("{l}@{d}")));
        out
    }

    #[test]
    fn positives() {
        assert_eq!(
            emails("mail bug-coreutils@gnu.org."),
            ["bug-coreutils@gnu.org"]
        );
        assert_eq!(
            emails("<john.doe+x@mail.example.co.uk>"),
            ["john.doe+x@mail.example.co.uk"]
        );
        assert_eq!(emails("a@b.com,c_d@e.net"), ["a@b.com", "c_d@e.net"]);
    }

    #[test]
    fn negatives() {
        for s in [
            "%s@%s",
            "%s@example.com",
            "user@localhost",
            "ftp://user:pw@files.example.com/",
            "ssh://git@github.com/x",
            "x@y",
            ".lead@example.com",
            "trail.@example.com",
            "do..ts@example.com",
            "@example.com",
            "-compute@developer.example.com",
            "GLIBC@@2.0",
            "foo@bar.notatld",
            "name@host_name.com",
        ] {
            assert!(emails(s).is_empty(), "{s:?} gave {:?}", emails(s));
        }
    }
}
