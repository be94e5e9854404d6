//! Issue 7, done-when 3: the web UI of a real `ferret serve` (loopback, a free port, a
//! temp data dir, one in-process worker) in headless Chromium driven by selenium
//! (tests/browser/serve_ui.py): log in with a token, submit a file, wait for its
//! report page, filter the event table on the server, check the task list, and save a
//! screenshot that must not be blank. Runs as root (the worker detonates the sample).

mod serve_common;

use std::path::Path;
use std::process::Command;

use serve_common::{create_token, require_root, start_serve};

#[test]
fn log_in_submit_wait_filter_screenshot() {
    require_root("the web UI's worker detonates a sample");
    let sample = ferret_samples::build().join("x86_64/all_in_one-static");
    assert!(sample.is_file(), "{} missing", sample.display());
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("data");
    let token = create_token(&data, "browser-test", &[]);
    let server = start_serve(&["--workers", "1", "--no-yara"], &data);
    let addr = server.addr;

    let shot = dir.path().join("ui.png");
    let browser = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser");
    let out = Command::new("python3")
        .arg(browser.join("serve_ui.py"))
        .arg(format!("http://{addr}"))
        .arg(&token)
        .arg(&sample)
        .arg(&shot)
        // No __pycache__ left in the source tree.
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .current_dir(&browser)
        .output()
        .expect("python3 is needed for the browser test (scripts/install.sh installs it)");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    eprintln!("{text}");
    assert!(out.status.success(), "web UI in Chromium:\n{text}");
    for step in [
        "logged in",
        "submitted",
        "the filter keeps",
        "bad filter",
        "done",
        "screenshot",
    ] {
        assert!(text.contains(step), "no '{step}' step in:\n{text}");
    }
    // FERRET_KEEP_SCREENSHOTS=DIR keeps the screenshot for a look.
    if let Some(keep) = std::env::var_os("FERRET_KEEP_SCREENSHOTS") {
        let to = Path::new(&keep).join("serve_ui.png");
        std::fs::copy(&shot, &to)
            .unwrap_or_else(|e| panic!("keeping the screenshot as {}: {e}", to.display()));
    }
    drop(server);
}
