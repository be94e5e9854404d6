//! A check that a page references nothing outside itself, with a spec-compliant HTML
//! tokenizer (lol_html): URL attributes of every element, inline and `<style>` CSS,
//! `<meta http-equiv=refresh>`, and the code of executable scripts. Text and JSON data
//! blocks may mention URLs (a sample's strings do); only references count.

use std::cell::RefCell;

use lol_html::html_content::{Element, TextChunk};
use lol_html::{RewriteStrSettings, element, rewrite_str, text};

/// Attributes whose value the browser loads or navigates to.
const URL_ATTRS: &[&str] = &[
    "href",
    "src",
    "srcset",
    "action",
    "formaction",
    "poster",
    "data",
    "background",
    "cite",
    "longdesc",
    "manifest",
    "xlink:href",
    "ping",
    "codebase",
    "archive",
    "icon",
    "lowsrc",
    "dynsrc",
    "profile",
    "usemap",
    "itemtype",
];

/// What a page may reference besides itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Allow {
    /// Only fragments (`#x`) and `data:` URLs: a file that opens offline.
    SelfContained,
    /// Also same-origin paths (`/api/...`): a page served by `ferret serve`.
    SameOrigin,
}

fn normalise(v: &str) -> String {
    v.chars()
        .filter(|c| !c.is_control() && !c.is_whitespace())
        .collect::<String>()
        .to_ascii_lowercase()
}

fn url_ok(v: &str, allow: Allow) -> bool {
    let n = normalise(v);
    if n.is_empty() || n.starts_with('#') || n.starts_with("data:") {
        return true;
    }
    allow == Allow::SameOrigin
        && n.starts_with('/')
        && !n.starts_with("//")
        && !n.starts_with("/\\")
}

/// CSS that loads something: `url(`, `@import`, `image-set(`, `expression(`.
fn css_findings(css: &str, allow: Allow, out: &mut Vec<String>, what: &str) {
    let low = normalise(css);
    let mut rest = low.as_str();
    while let Some(i) = rest.find("url(") {
        let after = &rest[i + 4..];
        let target = after.trim_start_matches(['"', '\'']);
        if !url_ok(target.split([')', '"', '\'']).next().unwrap_or(""), allow) {
            out.push(format!(
                "{what}: css url({})",
                after.chars().take(60).collect::<String>()
            ));
        }
        rest = after;
    }
    for bad in ["@import", "image-set(", "expression(", "-moz-binding"] {
        if low.contains(bad) {
            out.push(format!("{what}: css {bad}"));
        }
    }
}

/// Executable script code that names a URL scheme or loads code.
fn js_findings(code: &str, out: &mut Vec<String>) {
    let low = code.to_ascii_lowercase();
    for bad in [
        "http:",
        "https:",
        "ftp:",
        "ws:",
        "wss:",
        "file:",
        "importscripts",
        "import(",
        "new worker",
        "sendbeacon",
        "eventsource",
        "websocket",
    ] {
        if let Some(i) = low.find(bad) {
            let ctx: String = code[i.saturating_sub(20)..].chars().take(60).collect();
            out.push(format!("script code: {bad} in {ctx:?}"));
        }
    }
}

/// Every reference of `html` to something outside what `allow` permits, described; an
/// empty list means the page is self-contained. `Err` if the HTML cannot be tokenized.
pub fn external_references(html: &str, allow: Allow) -> Result<Vec<String>, String> {
    let found = RefCell::new(Vec::new());
    // Type of the <script> whose text is being read: only executable scripts are code.
    let script_is_code = RefCell::new(false);
    let script_text = RefCell::new(String::new());
    let style_text = RefCell::new(String::new());
    let on_element = |el: &mut Element| {
        let tag = el.tag_name();
        let mut f = found.borrow_mut();
        for a in el.attributes() {
            let name = a.name();
            let value = a.value();
            if URL_ATTRS.contains(&name.as_str()) {
                let ok = if name == "srcset" {
                    value
                        .split(',')
                        .all(|c| url_ok(c.split_whitespace().next().unwrap_or(""), allow))
                } else {
                    url_ok(&value, allow)
                };
                if !ok {
                    f.push(format!("<{tag} {name}={value:?}>"));
                }
            }
            if name == "style" {
                css_findings(&value, allow, &mut f, &format!("<{tag} style>"));
            }
            if name == "srcdoc" {
                f.push(format!("<{tag} srcdoc>"));
            }
        }
        if tag == "meta"
            && el
                .get_attribute("http-equiv")
                .is_some_and(|v| v.eq_ignore_ascii_case("refresh"))
        {
            f.push("<meta http-equiv=refresh>".to_owned());
        }
        if tag == "script" {
            let ty = el
                .get_attribute("type")
                .unwrap_or_default()
                .to_ascii_lowercase();
            *script_is_code.borrow_mut() = matches!(
                ty.as_str(),
                "" | "text/javascript" | "module" | "application/javascript"
            );
        }
        Ok(())
    };
    let on_script = |t: &mut TextChunk| {
        script_text.borrow_mut().push_str(t.as_str());
        if t.last_in_text_node() {
            let code = std::mem::take(&mut *script_text.borrow_mut());
            if *script_is_code.borrow() {
                js_findings(&code, &mut found.borrow_mut());
            }
        }
        Ok(())
    };
    let on_style = |t: &mut TextChunk| {
        style_text.borrow_mut().push_str(t.as_str());
        if t.last_in_text_node() {
            let css = std::mem::take(&mut *style_text.borrow_mut());
            css_findings(&css, allow, &mut found.borrow_mut(), "<style>");
        }
        Ok(())
    };
    rewrite_str(
        html,
        RewriteStrSettings::new()
            .append_element_content_handler(element!("*", on_element))
            .append_element_content_handler(text!("script", on_script))
            .append_element_content_handler(text!("style", on_style)),
    )
    .map_err(|e| format!("the page cannot be tokenized: {e}"))?;
    Ok(found.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refs(html: &str) -> Vec<String> {
        external_references(html, Allow::SelfContained).unwrap_or_else(|e| vec![e])
    }

    #[test]
    fn finds_every_kind_of_reference() {
        for page in [
            "<img src=\"https://x.example/a.png\">",
            "<img src=//x.example/a.png>",
            "<a href=' JAVASCRIPT:alert(1)'>x</a>",
            "<link rel=stylesheet href=/a.css>",
            "<div style=\"background:url( 'http://x/a')\"></div>",
            "<style>@import 'x.css';</style>",
            "<style>b{background:url(x.png)}</style>",
            "<script src=a.js></script>",
            "<script>fetch('https://x.example/')</script>",
            "<svg><image xlink:href=\"http://x/a\"/></svg>",
            "<meta http-equiv=refresh content='0;url=http://x/'>",
            "<img srcset=\"data:, 1x, http://x/b 2x\">",
            "<form action=https://x/></form>",
            "<iframe srcdoc='<b>'></iframe>",
        ] {
            assert!(!refs(page).is_empty(), "missed: {page}");
        }
    }

    #[test]
    fn text_data_fragments_and_data_urls_pass() {
        let page = "<p>http://evil.example/x.sh is a string of the sample</p>\
            <a href=\"#events\">e</a><link rel=icon href=\"data:,\">\
            <script type=\"application/json\">{\"u\":\"https://x.example/\"}</script>\
            <script>var a = 1; // comment\n</script><style>b{color:red}</style>";
        assert_eq!(refs(page), Vec::<String>::new());
        assert_eq!(
            external_references("<a href=/ui/tasks>t</a>", Allow::SameOrigin).unwrap_or_default(),
            Vec::<String>::new()
        );
        assert!(!refs("<a href=/ui/tasks>t</a>").is_empty());
    }
}
