//! `ferret pcap` on the command line: Suricata conformance through `--json`,
//! text output, enrichment options and bad input.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

fn shared() -> PathBuf {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/data")).to_path_buf()
}

fn ferret(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ferret"))
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run ferret: {e}"))
}

fn json(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {}\nstderr: {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

#[test]
fn suricata_expected_queries_and_requests_via_json() {
    let dir = shared().join("suricata-verify");
    let text = std::fs::read_to_string(dir.join("expected.json"))
        .unwrap_or_else(|e| panic!("expected.json: {e}"));
    let cases: Vec<Value> =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("expected.json: {e}"));
    let (mut total, mut found) = (0, 0);
    let mut misses = Vec::new();
    for case in &cases {
        let pcap = dir.join(case["pcap"].as_str().unwrap_or_default());
        let out = ferret(&["pcap", "--json", &pcap.to_string_lossy()]);
        assert!(
            out.status.code().is_some_and(|c| c <= 1),
            "{}: {:?}",
            pcap.display(),
            out.status
        );
        let r = json(&out);
        let empty = Vec::new();
        let names: Vec<&str> = r["dns"]
            .as_array()
            .unwrap_or(&empty)
            .iter()
            .flat_map(|m| m["questions"].as_array().unwrap_or(&empty).iter())
            .filter_map(|q| q["name"].as_str())
            .collect();
        for q in case["dns_queries"].as_array().unwrap_or(&empty) {
            let q = q.as_str().unwrap_or_default();
            total += 1;
            if names.iter().any(|n| n.eq_ignore_ascii_case(q)) {
                found += 1;
            } else {
                misses.push(format!("{}: DNS {q}", case["test"]));
            }
        }
        let http = r["http"].as_array().unwrap_or(&empty);
        for h in case["http_requests"].as_array().unwrap_or(&empty) {
            let want = |k: &str| h[k].as_str().unwrap_or_default();
            total += 1;
            let hit = http.iter().any(|t| {
                (want("hostname").is_empty() || t["host"].as_str() == Some(want("hostname")))
                    && (want("url").is_empty() || t["uri"].as_str() == Some(want("url")))
                    && (want("method").is_empty() || t["method"].as_str() == Some(want("method")))
            });
            if hit {
                found += 1;
            } else {
                misses.push(format!("{}: HTTP {h}", case["test"]));
            }
        }
    }
    println!("ferret pcap --json: {found}/{total} expected DNS queries and HTTP requests found");
    for m in &misses {
        println!("miss: {m}");
    }
    assert!(found * 100 >= total * 95, "{found}/{total}: {misses:?}");
}

#[test]
fn text_output_and_enrichment_options() {
    let irc = shared().join("l7/irc.pcap");
    let out = ferret(&["pcap", &irc.to_string_lossy()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("IRC: ") && text.contains("NICK") && text.contains("irc_c2"),
        "{text}"
    );

    // Blacklist the IRC server by address and enrich with the GeoIP test databases.
    let list = std::env::temp_dir().join(format!("ferret-pcap-cli-{}.txt", std::process::id()));
    let r = json(&ferret(&["pcap", "--json", &irc.to_string_lossy()]));
    let server = r["irc"][0]["dst"].as_str().unwrap_or_default().to_string();
    std::fs::write(&list, format!("# test list\n{server}\n")).unwrap_or_else(|e| panic!("{e}"));
    let geoip = shared().join("geoip");
    let out = ferret(&[
        "pcap",
        "--json",
        "--geoip",
        &geoip.to_string_lossy(),
        "--blacklist",
        &list.to_string_lossy(),
        &irc.to_string_lossy(),
    ]);
    let _ = std::fs::remove_file(&list);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r = json(&out);
    let eps = r["endpoints"].as_array().cloned().unwrap_or_default();
    assert!(
        eps.iter()
            .any(|e| e["ip"] == server.as_str() && e["blacklisted"] == true),
        "{eps:?}"
    );
    let kinds: Vec<&str> = r["anomalies"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|a| a["kind"].as_str())
        .collect();
    assert!(kinds.contains(&"blacklisted_endpoint"), "{kinds:?}");

    let bad = ferret(&[
        "pcap",
        "--geoip",
        "/nonexistent-geoip-dir",
        &irc.to_string_lossy(),
    ]);
    assert_eq!(bad.status.code(), Some(2));
}

#[test]
fn bad_input_gives_clear_errors() {
    // Not a capture at all.
    let out = ferret(&["pcap", concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml")]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a pcap or pcapng file"));
    // Truncated: the report of what was read, and where reading stopped.
    let full = std::fs::read(shared().join("l7/telnet.pcap")).unwrap_or_else(|e| panic!("{e}"));
    let cut = std::env::temp_dir().join(format!("ferret-pcap-cut-{}.pcap", std::process::id()));
    std::fs::write(&cut, &full[..full.len() / 2]).unwrap_or_else(|e| panic!("{e}"));
    let out = ferret(&["pcap", "--json", &cut.to_string_lossy()]);
    let _ = std::fs::remove_file(&cut);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("truncated at byte offset") && stderr.contains("packet"),
        "{stderr}"
    );
    let r = json(&out);
    assert!(r["summary"]["packets"].as_u64().unwrap_or(0) > 10);
    assert!(r["error"]["offset"].as_u64().unwrap_or(0) > 0);
}
