//! Issue 7, done-when 3: the web UI of a real `ferret serve` (loopback, a free port, a
//! temp data dir, one in-process worker) in headless Chromium driven by selenium
//! (tests/browser/serve_ui.py): log in with a token, submit a file, wait for its
//! report page, filter the event table on the server, check the task list, and save a
//! screenshot that must not be blank. Runs as root (the worker detonates the sample).

use std::io::Read;
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};

const FERRET: &str = env!("CARGO_BIN_EXE_ferret");

/// The `ferret serve` child, stopped on drop.
struct Server {
    child: Child,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn require_root() {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let uid = status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|v| v.split_whitespace().next())
        .unwrap_or("");
    assert_eq!(
        uid, "0",
        "the web UI browser test must run as root (its worker detonates a sample)"
    );
}

/// Reads the server's stdout up to the line naming its address.
fn listening_address(child: &mut Child) -> SocketAddr {
    let Some(mut stdout) = child.stdout.take() else {
        panic!("no stdout pipe of ferret serve");
    };
    let mut seen = Vec::new();
    let mut byte = [0u8; 1];
    let addr = loop {
        match stdout.read(&mut byte) {
            Ok(1) => seen.push(byte[0]),
            _ => panic!(
                "ferret serve exited before listening: {}",
                String::from_utf8_lossy(&seen)
            ),
        }
        if byte[0] != b'\n' {
            continue;
        }
        let line = String::from_utf8_lossy(&seen).into_owned();
        if let Some(a) = line
            .split_whitespace()
            .find_map(|w| w.strip_prefix("http://"))
            .and_then(|a| a.trim_end_matches('/').parse::<SocketAddr>().ok())
        {
            break a;
        }
    };
    // Keep draining so the server never blocks on a full pipe.
    std::thread::spawn(move || {
        let mut sink = Vec::new();
        let _ = stdout.read_to_end(&mut sink);
    });
    addr
}

#[test]
fn log_in_submit_wait_filter_screenshot() {
    require_root();
    let sample = ferret_samples::build().join("x86_64/all_in_one-static");
    assert!(sample.is_file(), "{} missing", sample.display());
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("data");
    let out = Command::new(FERRET)
        .args(["token", "create", "browser-test", "--data"])
        .arg(&data)
        .output()
        .expect("running ferret token create");
    assert!(
        out.status.success(),
        "ferret token create: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let token = text
        .split_whitespace()
        .find(|w| w.starts_with("ferret_"))
        .unwrap_or_else(|| panic!("no token in the output of ferret token create: {text}"))
        .to_owned();
    let child = Command::new(FERRET)
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--workers",
            "1",
            "--no-yara",
            "--data",
        ])
        .arg(&data)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawning ferret serve");
    let mut server = Server { child };
    let addr = listening_address(&mut server.child);
    assert!(addr.ip().is_loopback(), "{addr}");

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
