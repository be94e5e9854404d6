//! Loading real rule sets, the compiled-rule cache, and matching built samples.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use ferret_yara::{CacheStatus, LoadOptions, RuleSource, ScanOptions, Scanner, load};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn elastic() -> PathBuf {
    repo().join("../shared/data/yara/elastic-linux")
}

#[test]
fn bundled_rules_all_compile() {
    let rules = load(&ferret_yara::bundled(), &LoadOptions::default()).expect("bundled rules load");
    assert!(
        rules.report.failures.is_empty(),
        "bundled rule failures: {:#?}",
        rules.report.failures
    );
    assert!(
        rules.report.rules >= 12,
        "only {} bundled rules",
        rules.report.rules
    );
    assert_eq!(rules.report.cache, CacheStatus::Disabled);
}

#[test]
fn elastic_linux_rules_compile_at_least_99_percent() {
    let rules = load(&[RuleSource::from_path(elastic())], &LoadOptions::default())
        .expect("elastic rules load");
    let r = &rules.report;
    println!(
        "elastic-linux: {} of {} files compiled, {} rules",
        r.files_compiled, r.files, r.rules
    );
    for f in &r.failures {
        println!("  failed: {} line {:?}: {}", f.path, f.line, f.message);
    }
    assert_eq!(r.files, 248, "expected the 248 Elastic Linux rule files");
    assert!(
        r.files_compiled * 100 >= r.files * 99,
        "{} of {} compiled",
        r.files_compiled,
        r.files
    );
    assert!(r.rules > 800, "only {} rules", r.rules);
}

#[test]
fn cache_hits_on_unchanged_rules_and_misses_on_change() {
    let dir = tempfile::tempdir().unwrap();
    let rules_dir = dir.path().join("rules");
    std::fs::create_dir(&rules_dir).unwrap();
    std::fs::write(
        rules_dir.join("a.yar"),
        "rule a { strings: $x = \"needle\" condition: $x }",
    )
    .unwrap();
    let opts = LoadOptions {
        cache_dir: Some(dir.path().join("cache")),
    };
    let src = [RuleSource::from_path(&rules_dir)];

    let first = load(&src, &opts).unwrap();
    assert_eq!(first.report.cache, CacheStatus::Miss);
    let second = load(&src, &opts).unwrap();
    assert_eq!(second.report.cache, CacheStatus::Hit);
    assert_eq!(second.report.key, first.report.key);
    // The cached set must scan like the compiled one.
    let m = Scanner::new(&second, &ScanOptions::default()).scan(b"hay needle hay");
    assert_eq!(m.matches.len(), 1);
    assert_eq!(m.matches[0].strings[0].matches[0].offset, 4);

    std::fs::write(
        rules_dir.join("a.yar"),
        "rule a { strings: $x = \"other\" condition: $x }",
    )
    .unwrap();
    let third = load(&src, &opts).unwrap();
    assert_eq!(third.report.cache, CacheStatus::Miss);
    assert_ne!(third.report.key, first.report.key);

    // A corrupt entry is rebuilt, not fatal.
    let entry = dir
        .path()
        .join("cache")
        .join(format!("yara-{}.bin", third.report.key));
    std::fs::write(&entry, b"garbage").unwrap();
    let fourth = load(&src, &opts).unwrap();
    assert_eq!(fourth.report.cache, CacheStatus::Rebuilt);
    assert_eq!(load(&src, &opts).unwrap().report.cache, CacheStatus::Hit);
}

#[test]
fn broken_file_is_reported_and_the_rest_still_loads() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("good.yar"), "rule good { condition: true }").unwrap();
    std::fs::write(
        dir.path().join("bad.yara"),
        "rule bad {\n  condition: nosuchident\n}",
    )
    .unwrap();
    std::fs::write(dir.path().join("notes.txt"), "not a rule file").unwrap();
    let rules = load(
        &[RuleSource::from_path(dir.path())],
        &LoadOptions::default(),
    )
    .unwrap();
    assert_eq!(rules.report.files, 2);
    assert_eq!(rules.report.files_compiled, 1);
    assert_eq!(rules.report.rules, 1);
    let f = &rules.report.failures[0];
    assert!(f.path.ends_with("bad.yara"), "{f:?}");
    assert_eq!(f.line, Some(2), "{f:?}");
    assert!(f.message.contains("nosuchident"), "{f:?}");
}

#[test]
fn missing_and_empty_sources_are_clear_errors() {
    let e = load(
        &[RuleSource::from_path("/nonexistent/rules")],
        &LoadOptions::default(),
    )
    .unwrap_err();
    assert!(e.to_string().contains("/nonexistent/rules"), "{e}");
    let empty = tempfile::tempdir().unwrap();
    let e = load(
        &[RuleSource::from_path(empty.path())],
        &LoadOptions::default(),
    )
    .unwrap_err();
    assert!(e.to_string().contains("no YARA rule files"), "{e}");
}

#[test]
fn metadata_tags_and_repeated_keys() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("m.yar"),
        r#"rule m : t1 t2 { meta: reference = "a" reference = "b" score = 7 ok = true
           strings: $s = "abc" condition: $s }"#,
    )
    .unwrap();
    let rules = load(
        &[RuleSource::new("mine", dir.path())],
        &LoadOptions::default(),
    )
    .unwrap();
    let mut scanner = Scanner::new(
        &rules,
        &ScanOptions {
            offsets_per_pattern: 2,
            ..Default::default()
        },
    );
    let r = scanner.scan(b"abc abc abc");
    let m = &r.matches[0];
    assert_eq!(m.namespace, "mine");
    assert_eq!(m.tags, ["t1", "t2"]);
    assert_eq!(m.metadata["reference"], serde_json::json!(["a", "b"]));
    assert_eq!(m.metadata["score"], serde_json::json!(7));
    assert_eq!(m.strings[0].total, 3);
    assert_eq!(m.strings[0].matches.len(), 2);
}

/// A rule simple enough to build a sample for: literal text or hex strings (no
/// wildcards, jumps or alternatives) and `all of them` / `any of them`.
struct SimpleRule {
    name: String,
    strings: Vec<Vec<u8>>,
}

fn simple_rules(text: &str) -> Vec<SimpleRule> {
    let mut out = Vec::new();
    for block in text.split("\nrule ").skip(1) {
        let name = block
            .split_whitespace()
            .next()
            .unwrap_or("")
            .trim_end_matches('{')
            .to_owned();
        let Some(cond) = block.split("condition:").nth(1) else {
            continue;
        };
        let cond = cond.trim().trim_end_matches('}').trim();
        if cond != "all of them" && cond != "any of them" {
            continue;
        }
        let Some(strs) = block.split("strings:").nth(1) else {
            continue;
        };
        let strs = strs.split("condition:").next().unwrap_or("");
        let mut strings = Vec::new();
        let mut simple = true;
        for line in strs.lines().map(str::trim).filter(|l| l.starts_with('$')) {
            let Some((_, value)) = line.split_once('=') else {
                simple = false;
                break;
            };
            let value = value.trim();
            if let Some(hex) = value.strip_prefix('{').and_then(|v| v.strip_suffix('}')) {
                let bytes: Option<Vec<u8>> = hex
                    .split_whitespace()
                    .map(|b| {
                        if b.len() == 2 {
                            u8::from_str_radix(b, 16).ok()
                        } else {
                            None
                        }
                    })
                    .collect();
                match bytes {
                    Some(b) if !b.is_empty() => strings.push(b),
                    _ => simple = false,
                }
            } else if value.starts_with('"') && value.ends_with('"') && !value.contains('\\') {
                strings.push(value.trim_matches('"').as_bytes().to_vec());
            } else {
                simple = false;
            }
        }
        if simple && !strings.is_empty() {
            out.push(SimpleRule { name, strings });
        }
    }
    out
}

/// Builds one ELF with gcc whose data holds every string of 30 Elastic rules, and
/// checks that each of those rules matches it.
#[test]
fn built_sample_matches_the_rules_whose_strings_it_contains() {
    let mut chosen = Vec::new();
    let mut files: Vec<_> = std::fs::read_dir(elastic())
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    for f in files
        .iter()
        .filter(|f| f.extension().is_some_and(|e| e == "yar"))
    {
        let text = std::fs::read_to_string(f).unwrap();
        if let Some(r) = simple_rules(&text).into_iter().next() {
            chosen.push(r);
        }
        if chosen.len() == 30 {
            break;
        }
    }
    assert_eq!(chosen.len(), 30, "not enough simple Elastic rules found");

    let mut c = String::from("#include <stdio.h>\n");
    for (i, r) in chosen.iter().enumerate() {
        for (j, s) in r.strings.iter().enumerate() {
            // Padding between strings so no pattern accidentally spans two arrays.
            write!(
                c,
                "__attribute__((used)) static const unsigned char r{i}_{j}[] = {{0,"
            )
            .unwrap();
            for b in s {
                write!(c, "{b},").unwrap();
            }
            c.push_str("0};\n");
        }
    }
    c.push_str("int main(void) { puts(\"benign\"); return 0; }\n");
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("s.c"), c).unwrap();
    let exe = dir.path().join("s");
    let st = Command::new("gcc")
        .args(["-O0", "-o"])
        .arg(&exe)
        .arg(dir.path().join("s.c"))
        .status()
        .expect("gcc runs");
    assert!(st.success());

    let rules = load(&[RuleSource::from_path(elastic())], &LoadOptions::default()).unwrap();
    let data = std::fs::read(&exe).unwrap();
    let result = Scanner::new(&rules, &ScanOptions::default()).scan(&data);
    assert!(result.error.is_none(), "{:?}", result.error);
    let matched: Vec<&str> = result.matches.iter().map(|m| m.rule.as_str()).collect();
    let missing: Vec<&str> = chosen
        .iter()
        .map(|r| r.name.as_str())
        .filter(|n| !matched.contains(n))
        .collect();
    println!(
        "{} of {} built-in rules matched",
        chosen.len() - missing.len(),
        chosen.len()
    );
    assert!(
        missing.is_empty(),
        "rules not matched by the built sample: {missing:?}"
    );
    assert!(
        result
            .matches
            .iter()
            .all(|m| m.namespace == "elastic-linux")
    );
}

/// The bundled rules must not fire on ordinary system tools: the large ones that
/// legitimately mention debugger checks, persistence paths or download commands, and
/// a spread of /usr/bin.
#[test]
fn bundled_rules_are_quiet_on_system_binaries() {
    let rules = load(&ferret_yara::bundled(), &LoadOptions::default()).unwrap();
    let mut scanner = Scanner::new(&rules, &ScanOptions::default());
    let mut files: Vec<PathBuf> = std::fs::read_dir("/usr/bin")
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.len() < 4 << 20))
        .collect();
    files.sort();
    let step = (files.len() / 40).max(1);
    let mut chosen: Vec<PathBuf> = files.into_iter().step_by(step).collect();
    chosen.extend(
        [
            "/usr/bin/systemctl",
            "/usr/bin/wget",
            "/usr/bin/gdb",
            "/usr/bin/crontab",
        ]
        .map(PathBuf::from),
    );
    let mut scanned = 0;
    for path in chosen.iter().filter(|p| p.exists()) {
        let data = std::fs::read(path).unwrap();
        let result = scanner.scan(&data);
        let hits: Vec<&str> = result.matches.iter().map(|m| m.rule.as_str()).collect();
        assert!(
            hits.is_empty(),
            "{} matched bundled rules {hits:?}",
            path.display()
        );
        scanned += 1;
    }
    assert!(scanned >= 30, "only {scanned} system binaries scanned");
}
