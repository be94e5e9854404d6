//! Domain-name detection.
//!
//! Every candidate must be a syntactically valid host name (RFC 1035 labels of
//! letters, digits and inner hyphens, 1..=63 bytes each, at most 253 in all,
//! alphabetic top-level label) whose suffix is on the Public Suffix List and
//! which has a registrable label in front of the suffix.
//!
//! Stand-alone tokens (not a URL host or e-mail domain, where the context
//! already says "host") must in addition not look like code or files:
//! * not part of a path or a longer word: not preceded by `/ \ @ _ $ % ~` and
//!   not followed by `_ ( [ @ $ %`; not starting with `.` (`.gnu.version`);
//! * one letter case throughout (`fmt.Sprintf`, `Foo.Bar` are symbols);
//! * for top-level labels that are also common file extensions (`so sh py pl
//!   pm rs md cc mk in am ac la ps mo ms mm cu cl ly pub cat zip mov inc new
//!   save fish run bz icu`): rejected when the name has two labels (`libc.so`,
//!   `x.sh`, `Makefile.am`), starts with `lib`, has a numeric or one-letter
//!   label, or a file extension before the last label (`config.h.in`);
//! * first label not a common identifier (`std.io`, `self.name`, `log.info`,
//!   `llvm.x86.sse.max.ps`), except for 3+ label names under com/net/org/...;
//! * fewer than two all-digit labels (`1.2.example`, version-like);
//! * the top-level domain must be one host names use: a legacy gTLD (com,
//!   net, org, edu, gov, mil, int, biz, info, mobi), a multi-label public
//!   suffix (co.uk, github.io), a country code (those that are English words,
//!   `no at to is it in me us ...`, only with three or more labels; those
//!   ending SIMD intrinsic names, `ss sd ps ph ...`, never), or a
//!   new gTLD popular for hosting (xyz, top, club, online, site, ...). The
//!   registrable label must then have 3+ characters and start with a letter.
//!   Dictionary-word gTLDs (`.name`, `.target`, `.data`, `.next`) end member
//!   chains like `this.constructor.name`, so they are not accepted alone.
//!
//! When the word before the name is a network command or keyword (`ping`,
//! `wget`, `nc`, `telnet`, `Host:`, `server`, ...), the TLD-class rules are
//! lifted (the file-name and identifier rules still apply).

use super::is_word;

/// Top-level domains that double as file extensions found in binaries.
const FILE_EXT_TLDS: &[&[u8]] = &[
    b"so", b"sh", b"py", b"pl", b"pm", b"rs", b"md", b"cc", b"mk", b"in", b"am", b"ac", b"la",
    b"ps", b"mo", b"ms", b"mm", b"cu", b"cl", b"ly", b"pub", b"cat", b"zip", b"mov", b"inc",
    b"new", b"save", b"fish", b"run", b"bz", b"icu",
];

/// Extensions that precede a second one in file names (`config.h.in`,
/// `foo.tar.bz`, `x.conf.in`).
const INNER_EXTS: &[&[u8]] = &[
    b"c", b"h", b"cpp", b"hpp", b"tar", b"txt", b"conf", b"cfg", b"service", b"sh", b"py", b"pl",
    b"so", b"in", b"log", b"old", b"bak", b"orig", b"tmp", b"dist", b"sample", b"html", b"xml",
    b"json", b"desktop",
];

/// First labels that mark `word.tld` as a member access or module path in
/// source code, log formats or symbol tables rather than a host name.
const CODE_WORDS: &[&[u8]] = &[
    b"std",
    b"self",
    b"this",
    b"super",
    b"obj",
    b"object",
    b"args",
    b"arg",
    b"argv",
    b"opts",
    b"opt",
    b"options",
    b"cfg",
    b"conf",
    b"config",
    b"ctx",
    b"context",
    b"req",
    b"request",
    b"res",
    b"resp",
    b"response",
    b"user",
    b"file",
    b"files",
    b"log",
    b"logger",
    b"logging",
    b"os",
    b"sys",
    b"io",
    b"fs",
    b"net",
    b"app",
    b"data",
    b"node",
    b"item",
    b"event",
    b"err",
    b"error",
    b"errors",
    b"msg",
    b"message",
    b"str",
    b"string",
    b"strings",
    b"buf",
    b"buffer",
    b"value",
    b"val",
    b"key",
    b"name",
    b"env",
    b"module",
    b"mod",
    b"package",
    b"pkg",
    b"main",
    b"test",
    b"tests",
    b"core",
    b"util",
    b"utils",
    b"math",
    b"time",
    b"date",
    b"json",
    b"xml",
    b"http",
    b"window",
    b"document",
    b"console",
    b"process",
    b"thread",
    b"runtime",
    b"sync",
    b"sort",
    b"unicode",
    b"bytes",
    b"reflect",
    b"path",
    b"filepath",
    b"url",
    b"crypto",
    b"hash",
    b"field",
    b"type",
    b"types",
    b"class",
    b"state",
    b"result",
    b"list",
    b"map",
    b"set",
    b"db",
    b"sql",
    b"query",
    b"task",
    b"job",
    b"tmp",
    b"temp",
    b"foo",
    b"bar",
    b"baz",
    b"llvm",
    b"gc",
    b"fmt",
    b"spec",
    b"metadata",
    b"template",
    b"parent",
    b"entry",
    b"prop",
    b"params",
    b"headers",
];

/// Upper bound on a host name's length (RFC 1035).
pub(crate) const MAX_NAME: usize = 253;

#[inline]
fn host_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'-' || b == b'.'
}

/// Syntax and public-suffix check shared by all domain contexts. `name` may be
/// in any case.
pub(crate) fn valid_host(name: &[u8]) -> bool {
    if name.len() < 4 || name.len() > MAX_NAME {
        return false;
    }
    let mut labels = 0;
    for label in name.split(|&b| b == b'.') {
        labels += 1;
        if label.is_empty()
            || label.len() > 63
            || label.first() == Some(&b'-')
            || label.last() == Some(&b'-')
            || !label
                .iter()
                .all(|&b| b.is_ascii_alphanumeric() || b == b'-')
        {
            return false;
        }
    }
    let tld = match name.rsplit(|&b| b == b'.').next() {
        Some(t) => t,
        None => return false,
    };
    if labels < 2 || tld.len() < 2 || !tld.iter().all(u8::is_ascii_alphabetic) {
        return false;
    }
    let mut buf = [0u8; MAX_NAME];
    let lower = match buf.get_mut(..name.len()) {
        Some(b) => b,
        None => return false,
    };
    lower.copy_from_slice(name);
    lower.make_ascii_lowercase();
    match psl::domain(lower) {
        Some(d) => d.suffix().is_known(),
        None => false,
    }
}

/// Generic top-level domains that host names use far more than code does.
const LEGACY_TLDS: &[&[u8]] = &[
    b"com", b"net", b"org", b"edu", b"gov", b"mil", b"biz", b"info", b"mobi",
];

/// Newer generic TLDs common in malware infrastructure and rare as the last
/// word of a dotted identifier. Other new gTLDs are English words (`name`,
/// `target`, `data`, `next`, `store`, `group`, ...) that end member chains
/// such as `this.constructor.name` or `multi-user.target`; names under them
/// are accepted only with URL, e-mail or network-command context.
const HOSTING_TLDS: &[&[u8]] = &[
    b"xyz", b"top", b"club", b"online", b"site", b"space", b"website", b"icu", b"vip", b"tech",
    b"cloud", b"live", b"fun", b"shop", b"win", b"bid", b"loan", b"work", b"app", b"dev", b"asia",
    b"today", b"world", b"life", b"rocks", b"cyou", b"buzz", b"monster", b"quest", b"sbs", b"cfd",
    b"cam", b"ink", b"wtf", b"lol", b"pics", b"tokyo", b"moe",
];

/// Country-code TLDs that are also short English words or abbreviations
/// (`attempt.no`, `flushed.at`, `div.ar`); with two labels they need context.
const WORDY_CCTLDS: &[&[u8]] = &[
    b"no", b"at", b"to", b"is", b"it", b"in", b"be", b"me", b"my", b"us", b"as", b"am", b"an",
    b"by", b"do", b"so", b"ar", b"tr", b"ps", b"ss", b"sd", b"nc", b"ne", b"ge", b"gt", b"lt",
    b"ph", b"pn", b"es", b"qa", b"il", b"ro", b"re", b"pr", b"id", b"im", b"io", b"ai", b"ac",
];

/// Country codes that are suffixes of SIMD intrinsic and other code names
/// (`sse.add.ss`, `sse2.mul.sd`, `addq.ph`) and almost never seen in host
/// names; accepted only with context.
const CODE_CCTLDS: &[&[u8]] = &[b"ss", b"sd", b"ps", b"ph", b"nr", b"gi", b"bb"];

/// Words that, right before a name, say it is a host: `ping evil.ru`.
const NET_WORDS: &[&[u8]] = &[
    b"ping",
    b"wget",
    b"curl",
    b"nc",
    b"ncat",
    b"telnet",
    b"ssh",
    b"tftp",
    b"ftp",
    b"ftpget",
    b"nslookup",
    b"dig",
    b"host",
    b"whois",
    b"connect",
    b"host:",
    b"server",
    b"domain",
    b"cnc",
    b"c2",
    b"@",
];

/// Number of labels of the public suffix of `lower` (1 for `com`, 2 for
/// `co.uk`).
fn suffix_labels(lower: &[u8]) -> usize {
    psl::suffix(lower).map_or(0, |s| s.as_bytes().split(|&b| b == b'.').count())
}

/// Extra checks for a name found on its own, without URL or e-mail context.
/// `net_context` is true when the word before the name is a network command
/// or keyword, which lifts the TLD-class rules (but not the file-name rules).
fn plausible_standalone(name: &[u8], net_context: impl FnOnce() -> bool) -> bool {
    let has_lower = name.iter().any(u8::is_ascii_lowercase);
    let has_upper = name.iter().any(u8::is_ascii_uppercase);
    if has_lower && has_upper {
        return false;
    }
    let mut buf = [0u8; MAX_NAME];
    let Some(lower) = buf.get_mut(..name.len()) else {
        return false;
    };
    lower.copy_from_slice(name);
    lower.make_ascii_lowercase();
    let lower: &[u8] = lower;

    let labels: Vec<&[u8]> = lower.split(|&b| b == b'.').collect();
    let (Some(&first), Some(&tld)) = (labels.first(), labels.last()) else {
        return false;
    };
    let numeric = labels
        .iter()
        .filter(|l| l.iter().all(u8::is_ascii_digit))
        .count();
    if numeric >= 2 {
        return false;
    }
    let penultimate = labels.len().checked_sub(2).and_then(|i| labels.get(i));
    if FILE_EXT_TLDS.contains(&tld)
        && (labels.len() == 2
            || first.starts_with(b"lib")
            || numeric > 0
            || labels.iter().any(|l| l.len() == 1)
            || penultimate.is_some_and(|p| INNER_EXTS.contains(p)))
    {
        return false;
    }
    let com_net_org = matches!(tld, b"com" | b"net" | b"org");
    if CODE_WORDS.contains(&first) && !(labels.len() > 2 && com_net_org) {
        return false;
    }
    if net_context() {
        return true;
    }
    let suffix_len = suffix_labels(lower);
    let Some(registrable) = labels
        .len()
        .checked_sub(suffix_len + 1)
        .and_then(|i| labels.get(i))
    else {
        return false;
    };
    // Multi-label public suffixes (co.uk, github.io) are host names.
    if suffix_len > 1 {
        return true;
    }
    let reg_ok = registrable.len() >= 3 && registrable.first().is_some_and(u8::is_ascii_alphabetic);
    if LEGACY_TLDS.contains(&tld) {
        return registrable.len() >= 2;
    }
    if tld.len() == 2 {
        return reg_ok
            && !CODE_CCTLDS.contains(&tld)
            && (labels.len() > 2 || !WORDY_CCTLDS.contains(&tld));
    }
    reg_ok && HOSTING_TLDS.contains(&tld)
}

/// `true` when the word before `start` marks a host name. Options and numbers
/// in between are skipped, so `ping -c 3 host` counts.
fn net_word_before(s: &[u8], start: usize) -> bool {
    let Some(before) = s.get(..start) else {
        return false;
    };
    for word in before.split(u8::is_ascii_whitespace).rev().skip(1).take(6) {
        if word.is_empty() || word.starts_with(b"-") || word.iter().all(u8::is_ascii_digit) {
            continue;
        }
        let name = word.rsplit(|&b| b == b'/').next().unwrap_or(word);
        return NET_WORDS.iter().any(|w| w.eq_ignore_ascii_case(name));
    }
    false
}

/// Calls `emit(index, name)` for every stand-alone domain name in `s`.
pub(crate) fn scan_domains<'s>(s: &'s [u8], mut emit: impl FnMut(usize, &'s str)) {
    let mut i = 0;
    while i < s.len() {
        if !host_char(s[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < s.len() && host_char(s[i]) {
            i += 1;
        }
        let mut end = i;
        while end > start && s[end - 1] == b'.' {
            end -= 1;
        }
        let tok = &s[start..end];
        if !tok.contains(&b'.') || tok.first().is_some_and(|&b| b == b'.' || b == b'-') {
            continue;
        }
        let before_ok = start == 0
            || !matches!(
                s[start - 1],
                b'/' | b'\\' | b'@' | b'_' | b'$' | b'%' | b'~'
            );
        // A trailing dot that was trimmed is sentence punctuation, fine.
        let after_ok = match s.get(i) {
            None => true,
            Some(&b) => !(is_word(b) || matches!(b, b'(' | b'[' | b'@' | b'$' | b'%')),
        };
        if before_ok
            && after_ok
            && valid_host(tok)
            && plausible_standalone(tok, || net_word_before(s, start))
            && let Ok(name) = std::str::from_utf8(tok)
        {
            emit(start, name);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn domains(s: &str) -> Vec<&str> {
        let mut out = Vec::new();
        scan_domains(s.as_bytes(), |_, d| out.push(d));
        out
    }

    #[test]
    fn positives() {
        assert_eq!(domains("cnc.mirai-botnet.com"), ["cnc.mirai-botnet.com"]);
        assert_eq!(domains("connect to evil.ru:23 now"), ["evil.ru"]);
        assert_eq!(domains("santasbigcandycane.cx"), ["santasbigcandycane.cx"]);
        assert_eq!(
            domains("Host: update.example.co.uk\r"),
            ["update.example.co.uk"]
        );
        assert_eq!(
            domains("ping -c1 8.8.8.8 || ping google.com."),
            ["google.com"]
        );
        assert_eq!(domains("WWW.BADHOST.NET"), ["WWW.BADHOST.NET"]);
        assert_eq!(domains("botnet.xyz/bins.sh"), ["botnet.xyz"]);
        // File-extension TLDs are fine with three or more host-like labels.
        assert_eq!(domains("cdn.payload.sh"), ["cdn.payload.sh"]);
        assert_eq!(domains("dl.cnc.cc"), ["dl.cnc.cc"]);
        assert_eq!(domains("report to bugs.debian.org"), ["bugs.debian.org"]);
        assert_eq!(domains("cnc.evil.to"), ["cnc.evil.to"]);
        assert_eq!(domains("evilbot.github.io"), ["evilbot.github.io"]);
        // A network command vouches for names a bare string would not.
        assert_eq!(domains("ping -c 3 attempt.no"), ["attempt.no"]);
        assert_eq!(domains("telnet bot.name 23"), ["bot.name"]);
        assert_eq!(domains("wget x.sh"), Vec::<&str>::new());
    }

    #[test]
    fn file_names_are_not_domains() {
        for s in [
            "libc.so",
            "libcrypto.so.3",
            "libfoo.so.1.2",
            "libselinux.so.1",
            "ld-linux-x86-64.so.2",
            "x.sh",
            "sh bins.sh",
            "main.py",
            "setup.py install",
            "Makefile.am",
            "Makefile.in",
            "config.h.in",
            "foo.tar.bz",
            "unit.service.in",
            "configure.ac",
            "script.pl",
            "Module.pm",
            "lib.rs",
            "README.md",
            "foo.cc:123",
            "rules.mk",
            "libtool.la",
            "messages.mo",
            "id_rsa.pub",
            "archive.zip",
            "libfoo.so.sh",
            "crtstuff.c",
            "main.h",
            "nvidia.ko",
            "sshd.conf",
            "/usr/share/doc/example.com/x",
            "/etc/foo.org",
            "https_proxy.pem",
            "file_name.com",
        ] {
            assert!(domains(s).is_empty(), "{s:?} gave {:?}", domains(s));
        }
    }

    #[test]
    fn symbols_and_numbers_are_not_domains() {
        for s in [
            "std.io",
            "self.name",
            "log.info",
            "time.now",
            "errors.new",
            "fmt.Sprintf",
            "Foo.Bar",
            "sync.Once",
            "obj.id(",
            "arr.link[0]",
            ".gnu.version",
            ".note.gnu.build-id",
            "1.2.3.4",
            "1.2.3.com",
            "sse.add.ss",
            "llvm.x86.sse.max.ps",
            "llvm.xcore.edu",
            "this.constructor.name",
            "multi-user.target",
            "server.host",
            "attempt.no",
            "ucadata.icu",
            "params.context.id",
            "go.shape.int",
            "x.com.",
            "GLIBC_2.2.5",
            "%s.%s.com",
            "user.name@example",
            "a.b",
            "example.notatld",
            "co.uk",
            "-evil.com",
            "bad-.com",
            "x..com",
        ] {
            assert!(domains(s).is_empty(), "{s:?} gave {:?}", domains(s));
        }
    }

    #[test]
    fn length_limits() {
        let long_label = format!("{}.com", "a".repeat(64));
        assert!(domains(&long_label).is_empty());
        let ok_label = format!("{}.com", "a".repeat(63));
        assert_eq!(domains(&ok_label).len(), 1);
        let long_name = format!("{}com", "abcdefghi.".repeat(26));
        assert!(long_name.len() > MAX_NAME);
        assert!(domains(&long_name).is_empty());
    }
}
