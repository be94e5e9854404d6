//! HTML output with escaping. Everything a report contains is attacker-controlled
//! (sample names, strings, paths, URLs, command lines): it only ever reaches the page
//! through [`Html::text`] (element text and double-quoted attribute values) or
//! [`Html::json_script`] (data blocks), never as markup, a URL or a style.

use std::fmt::Write as _;

/// A page under construction.
#[derive(Debug, Default)]
pub(crate) struct Html {
    pub(crate) buf: String,
}

impl Html {
    pub(crate) fn with_capacity(n: usize) -> Self {
        Self {
            buf: String::with_capacity(n),
        }
    }

    /// Trusted markup written by this crate (constant tags, never report data).
    pub(crate) fn raw(&mut self, s: &str) -> &mut Self {
        self.buf.push_str(s);
        self
    }

    /// Text or a double-quoted attribute value, escaped.
    pub(crate) fn text(&mut self, s: &str) -> &mut Self {
        escape_into(&mut self.buf, s);
        self
    }

    /// Text cut to `max` characters, with a note of how much was left out.
    pub(crate) fn text_cut(&mut self, s: &str, max: usize) -> &mut Self {
        match s.char_indices().nth(max) {
            None => self.text(s),
            Some((at, _)) => {
                let rest = s[at..].chars().count();
                self.text(&s[..at]);
                let _ = write!(
                    self.buf,
                    "<span class=\"more\">… ({rest} more characters)</span>"
                );
                self
            }
        }
    }

    /// A number or another `Display` value of this crate's own making.
    pub(crate) fn num(&mut self, v: impl std::fmt::Display) -> &mut Self {
        let _ = write!(self.buf, "{v}");
        self
    }

    /// `<script type="application/json" id="ID">` with `value`, safe to embed: `<`, `>`,
    /// `&` and the JavaScript line separators are written as `\uXXXX` escapes, so no
    /// string in the data can end the element or open a comment.
    pub(crate) fn json_script(&mut self, id: &str, value: &serde_json::Value) -> &mut Self {
        self.buf.push_str("<script type=\"application/json\" id=\"");
        self.buf.push_str(id);
        self.buf.push_str("\">");
        let json = value.to_string();
        json_escape_into(&mut self.buf, &json);
        self.buf.push_str("</script>\n");
        self
    }
}

/// Appends `s` escaped for HTML text and double- or single-quoted attribute values.
/// C0 control characters and the Unicode bidirectional controls (which can make a file
/// name read backwards, `exe.txt` for `txt.exe`) are shown as visible `<U+XXXX>` marks.
pub fn escape_into(out: &mut String, s: &str) {
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, c) in s.char_indices() {
        let rep: Option<&str> = match c {
            '&' => Some("&amp;"),
            '<' => Some("&lt;"),
            '>' => Some("&gt;"),
            '"' => Some("&quot;"),
            '\'' => Some("&#39;"),
            '\t' | '\n' | '\r' => None,
            c if (c as u32) < 0x20
                || c == '\u{7f}'
                || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{200e}' | '\u{200f}') =>
            {
                out.push_str(&s[start..i]);
                let _ = write!(out, "&lt;U+{:04X}&gt;", c as u32);
                start = i + c.len_utf8();
                continue;
            }
            _ => None,
        };
        if let Some(rep) = rep {
            out.push_str(&s[start..i]);
            out.push_str(rep);
            start = i + 1;
        }
    }
    if start < bytes.len() {
        out.push_str(&s[start..]);
    }
}

/// `s` escaped for HTML (see [`escape_into`]).
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    escape_into(&mut out, s);
    out
}

/// Appends JSON text with `<`, `>`, `&`, U+2028 and U+2029 as `\u` escapes. Valid
/// because these characters can only occur inside JSON strings.
pub(crate) fn json_escape_into(out: &mut String, json: &str) {
    let mut start = 0;
    for (i, c) in json.char_indices() {
        let rep = match c {
            '<' => "\\u003c",
            '>' => "\\u003e",
            '&' => "\\u0026",
            '\u{2028}' => "\\u2028",
            '\u{2029}' => "\\u2029",
            _ => continue,
        };
        out.push_str(&json[start..i]);
        out.push_str(rep);
        start = i + c.len_utf8();
    }
    out.push_str(&json[start..]);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_and_quotes() {
        assert_eq!(
            escape("</script><img src=x onerror='a()'>\"&"),
            "&lt;/script&gt;&lt;img src=x onerror=&#39;a()&#39;&gt;&quot;&amp;"
        );
        assert_eq!(escape("plain /tmp/x"), "plain /tmp/x");
        assert_eq!(escape(""), "");
    }

    #[test]
    fn unicode_is_kept_and_controls_are_visible() {
        assert_eq!(escape("кот 🐈 日本"), "кот 🐈 日本");
        assert_eq!(escape("a\u{202e}txt.exe"), "a&lt;U+202E&gt;txt.exe");
        assert_eq!(
            escape("a\u{0}b\u{1b}[31m"),
            "a&lt;U+0000&gt;b&lt;U+001B&gt;[31m"
        );
        assert_eq!(escape("line\nnext\ttab"), "line\nnext\ttab");
    }

    #[test]
    fn json_data_cannot_close_its_script() {
        let v = serde_json::json!({"name": "</script><script>alert(1)</script>", "c": "<!--", "l": "a\u{2028}b&"});
        let mut h = Html::default();
        h.json_script("d", &v);
        let body = h
            .buf
            .strip_prefix("<script type=\"application/json\" id=\"d\">")
            .and_then(|b| b.strip_suffix("</script>\n"))
            .unwrap_or_default();
        assert!(!body.contains('<') && !body.contains('>') && !body.contains('&'));
        assert!(!body.contains('\u{2028}'));
        let back: serde_json::Value = serde_json::from_str(body).unwrap_or_default();
        assert_eq!(back, v);
    }

    #[test]
    fn cut_text_counts_what_it_left_out() {
        let mut h = Html::default();
        h.text_cut("é<é<é", 2);
        assert_eq!(
            h.buf,
            "é&lt;<span class=\"more\">… (3 more characters)</span>"
        );
        let mut h = Html::default();
        h.text_cut("short", 10);
        assert_eq!(h.buf, "short");
    }
}
