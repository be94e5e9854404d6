//! Issue 7, done-when 5: `ferret analyze` writes report.html beside report.json, and the
//! page of real analyses references nothing outside itself (checked with an HTML
//! tokenizer, then in headless Chromium opened from disk: nothing fetched, the filter
//! box works, the screenshot is not blank). Runs as root (the sandbox).

mod analyze_common;

use std::path::{Path, PathBuf};
use std::process::Command;

use analyze_common::{analyze, require_root, scratch};
use ferret_html::audit::{Allow, external_references};

fn browser_script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/browser")
        .join(name)
}

/// Runs `ferret analyze` on `sample` and checks its report.html; returns the output dir.
fn check_report(sample: &Path, what: &str, net: &str) -> analyze_common::Run {
    let run = analyze(sample, &["--net", net, "--timeout", "20", "--no-yara"]);
    let html_path = run.out_dir.join("report.html");
    let stdout = String::from_utf8_lossy(&run.output.stdout);
    assert!(
        stdout.contains(&format!("report: {}", html_path.display())),
        "{what}: the report path is not printed:\n{stdout}"
    );
    let html = std::fs::read_to_string(&html_path)
        .unwrap_or_else(|e| panic!("{what}: {} not written: {e}", html_path.display()));
    let refs =
        external_references(&html, Allow::SelfContained).unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(refs.is_empty(), "{what}: external references: {refs:?}");
    let verdict = run.verdict().to_owned();
    assert!(
        html.contains(&format!("class=\"verdict v-{verdict}\"")),
        "{what}: verdict {verdict} not shown"
    );
    assert!(
        html.contains(&ferret_html::escape(
            run.report["sample"]["name"].as_str().unwrap_or("")
        )),
        "{what}: sample name not shown"
    );
    for sig in run.report["signatures"].as_array().into_iter().flatten() {
        let name = ferret_html::escape(sig["name"].as_str().unwrap_or(""));
        assert!(html.contains(&name), "{what}: signature {name} not shown");
    }
    eprintln!(
        "{what}: report.html {} KB, verdict {verdict}, {} signatures",
        html.len() >> 10,
        run.report["signatures"].as_array().map_or(0, Vec::len)
    );
    run
}

#[test]
fn analyses_write_a_self_contained_report_html() {
    require_root();
    ferret_samples::build();
    let mut kept = None;
    for name in ["all_in_one", "telnet_scan", "dropper", "clean"] {
        let run = check_report(&ferret_samples::path("x86_64", name, false), name, "none");
        if name == "all_in_one" {
            kept = Some(run);
        } else {
            run.cleanup();
        }
    }
    // With the fake internet: the capture's analysis and the responders' record.
    let run = check_report(
        &ferret_samples::path("x86_64", "c2_client", false),
        "c2_client (fake internet)",
        "fake",
    );
    let html = std::fs::read_to_string(run.out_dir.join("report.html")).unwrap_or_default();
    for want in [
        "Fake internet: what the responders saw",
        "irc_c2",
        "NICK",
        "Endpoints (",
    ] {
        assert!(
            html.contains(want),
            "c2_client: no {want:?} in the network section"
        );
    }
    assert!(
        !html.contains("IRC (0)"),
        "c2_client: no IRC in the capture"
    );
    run.cleanup();

    // A hostile file name reaches the page as text only.
    let dir = scratch("hostile-name");
    let hostile = dir.join("<img src=x onerror=alert(1)>'\"&.bin");
    std::fs::copy(ferret_samples::path("x86_64", "clean", true), &hostile)
        .expect("copying the sample");
    let run = check_report(&hostile, "hostile name", "none");
    let html = std::fs::read_to_string(run.out_dir.join("report.html")).unwrap_or_default();
    assert!(!html.contains("<img src=x"));
    assert!(html.contains("&lt;img src=x onerror=alert(1)&gt;&#39;&quot;&amp;.bin"));
    run.cleanup();
    let _ = std::fs::remove_dir_all(&dir);

    // The same page in a browser, opened from disk.
    let Some(run) = kept else { return };
    let shot = run.out_dir.join("screenshot.png");
    let out = Command::new("python3")
        .arg(browser_script("offline_report.py"))
        .arg(run.out_dir.join("report.html"))
        .arg(run.out_dir.join("events.jsonl"))
        .arg(&shot)
        // No __pycache__ left in the source tree.
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .current_dir(browser_script(""))
        .output()
        .expect("python3 is needed for the browser test (scripts/install.sh installs it)");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    eprintln!("{text}");
    assert!(out.status.success(), "offline report in Chromium:\n{text}");
    assert!(text.contains("keeps"), "{text}");
    run.cleanup();
}
