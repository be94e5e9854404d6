//! Shell-style glob matching (`*`, `?`, `[abc]`, `[a-z]`, `[!x]`); `*` also crosses `/`,
//! as in Falco.

fn class(pat: &[u8], mut i: usize, c: u8) -> Option<(bool, usize)> {
    // `i` points just after '['.
    let neg = matches!(pat.get(i), Some(b'!' | b'^'));
    if neg {
        i += 1;
    }
    let mut matched = false;
    let mut first = true;
    loop {
        let lo = *pat.get(i)?;
        if lo == b']' && !first {
            return Some((matched != neg, i + 1));
        }
        first = false;
        if pat.get(i + 1) == Some(&b'-') && pat.get(i + 2).is_some_and(|h| *h != b']') {
            let hi = *pat.get(i + 2)?;
            matched |= (lo..=hi).contains(&c);
            i += 3;
        } else {
            matched |= lo == c;
            i += 1;
        }
    }
}

/// Whether `s` matches glob `pat`.
pub fn glob_match(pat: &[u8], s: &[u8]) -> bool {
    let (mut p, mut i) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while i < s.len() {
        let step = match pat.get(p) {
            Some(b'*') => {
                star = Some((p, i));
                p += 1;
                continue;
            }
            Some(b'?') => Some(p + 1),
            Some(b'[') => match class(pat, p + 1, s[i]) {
                Some((true, next)) => Some(next),
                Some((false, _)) => None,
                // An unclosed '[' is a literal.
                None => (s[i] == b'[').then_some(p + 1),
            },
            Some(b'\\') if p + 1 < pat.len() => (pat[p + 1] == s[i]).then_some(p + 2),
            Some(c) => (*c == s[i]).then_some(p + 1),
            None => None,
        };
        match step {
            Some(np) => {
                p = np;
                i += 1;
            }
            None => match star {
                Some((sp, si)) => {
                    p = sp + 1;
                    i = si + 1;
                    star = Some((sp, si + 1));
                }
                None => return false,
            },
        }
    }
    pat[p.min(pat.len())..].iter().all(|c| *c == b'*')
}

#[cfg(test)]
mod tests {
    use super::glob_match;

    #[test]
    fn globs() {
        let m = |p: &str, s: &str| glob_match(p.as_bytes(), s.as_bytes());
        assert!(m("/home/*/.ssh/*", "/home/bob/.ssh/id_rsa"));
        assert!(m("/home/*/.ssh/*", "/home/a/b/.ssh/x"));
        assert!(!m("/home/*/.ssh/*", "/root/.ssh/x"));
        assert!(m("*.so.?", "libc.so.6"));
        assert!(!m("*.so.?", "libc.so.10"));
        assert!(m("/tmp/[a-c]x", "/tmp/bx"));
        assert!(!m("/tmp/[!a-c]x", "/tmp/bx"));
        assert!(m("", ""));
        assert!(!m("", "a"));
        assert!(m("**", ""));
        assert!(m("a[", "a["));
    }
}
