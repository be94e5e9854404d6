//! The page shell: head with the embedded stylesheet and a Content-Security-Policy that
//! lets the page load nothing from anywhere (and run only this crate's own scripts,
//! by hash, so even markup injected through a rendering bug could not run script).

use std::sync::OnceLock;

use sha2::{Digest, Sha256};

use crate::html::Html;

pub(crate) const CSS: &str = include_str!("assets/style.css");
pub(crate) const REPORT_JS: &str = include_str!("assets/report.js");
pub(crate) const UI_JS: &str = include_str!("assets/ui.js");

fn base64(data: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk.first().copied().unwrap_or(0),
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for (i, shift) in [18u32, 12, 6, 0].into_iter().enumerate() {
            if i <= chunk.len() {
                out.push(char::from(T[((n >> shift) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// `'sha256-...'` CSP sources of the two scripts.
fn script_hashes() -> &'static str {
    static H: OnceLock<String> = OnceLock::new();
    H.get_or_init(|| {
        [REPORT_JS, UI_JS]
            .iter()
            .map(|s| format!("'sha256-{}'", base64(&Sha256::digest(s.as_bytes()))))
            .collect::<Vec<_>>()
            .join(" ")
    })
}

/// Where the page is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Origin {
    /// A file opened from disk: no network access at all.
    Offline,
    /// Served by `ferret serve`: the page may call its own server's API.
    Served,
}

/// Writes `<!doctype html>` up to and including `<body>`.
pub(crate) fn begin(h: &mut Html, title: &str, origin: Origin) {
    let connect = match origin {
        Origin::Offline => "'none'",
        Origin::Served => "'self'",
    };
    h.raw("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n")
        .raw("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n")
        .raw("<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; script-src ")
        .raw(script_hashes())
        .raw("; style-src 'unsafe-inline'; img-src data:; connect-src ")
        .raw(connect)
        .raw("; form-action 'self'; base-uri 'none'\">\n")
        // Not no-referrer: under it browsers send `Origin: null` with form posts, which
        // the server's cross-origin check must refuse. Same-origin sends nothing to
        // any other site (and the pages link to none).
        .raw("<meta name=\"referrer\" content=\"same-origin\">\n")
        .raw("<link rel=\"icon\" href=\"data:,\">\n<title>")
        .text(title)
        .raw("</title>\n<style>\n")
        .raw(CSS)
        .raw("</style>\n</head>\n<body>\n");
}

/// Writes the scripts and closes the page.
pub(crate) fn end(h: &mut Html, scripts: &[&str]) {
    for s in scripts {
        h.raw("<script>").raw(s).raw("</script>\n");
    }
    h.raw("</body>\n</html>\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_rfc4648_vectors() {
        for (i, o) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(i.as_bytes()), o);
        }
    }

    #[test]
    fn scripts_cannot_end_their_element() {
        // The assets go into <script> raw: they must not contain the end tag.
        for s in [REPORT_JS, UI_JS] {
            assert!(!s.to_ascii_lowercase().contains("</script"));
            assert!(!s.contains("<!--"));
        }
        assert!(!CSS.to_ascii_lowercase().contains("</style"));
    }
}
