//! Conformance with Suricata: every DNS query name and HTTP request that Suricata
//! logs for the suricata-verify pcaps must appear in ferret's report.

use std::path::{Path, PathBuf};

use ferret_pcap::{NetworkReport, Options, analyze_file};
use serde_json::Value;

fn data_dir() -> PathBuf {
    Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/data/suricata-verify"
    ))
    .to_path_buf()
}

fn dns_found(r: &NetworkReport, name: &str) -> bool {
    r.dns
        .iter()
        .flat_map(|m| &m.questions)
        .any(|q| q.name == name || q.name.eq_ignore_ascii_case(name))
}

fn http_found(r: &NetworkReport, host: &str, url: &str, method: &str) -> bool {
    r.http.iter().any(|h| {
        (host.is_empty() || h.host.as_deref() == Some(host))
            && (url.is_empty() || h.uri == url)
            && (method.is_empty() || h.method == method)
    })
}

#[test]
fn suricata_verify_dns_and_http() {
    let dir = data_dir();
    let text = std::fs::read_to_string(dir.join("expected.json"))
        .unwrap_or_else(|e| panic!("cannot read expected.json in {}: {e}", dir.display()));
    let cases: Vec<Value> =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("expected.json: {e}"));
    assert!(
        cases.len() >= 30,
        "expected.json lists only {} pcaps",
        cases.len()
    );
    let opts = Options::default();
    let (mut dns_total, mut dns_ok, mut http_total, mut http_ok) = (0, 0, 0, 0);
    let mut misses = Vec::new();
    for case in &cases {
        let pcap = dir.join(case["pcap"].as_str().unwrap_or_default());
        let report = match analyze_file(&pcap, &opts) {
            Ok(r) => r,
            Err(e) => {
                misses.push(format!("{}: not analysed: {e}", pcap.display()));
                continue;
            }
        };
        let test = case["test"].as_str().unwrap_or_default();
        for q in case["dns_queries"].as_array().into_iter().flatten() {
            let name = q.as_str().unwrap_or_default();
            dns_total += 1;
            if dns_found(&report, name) {
                dns_ok += 1;
            } else {
                misses.push(format!("{test}: DNS query {name}"));
            }
        }
        for h in case["http_requests"].as_array().into_iter().flatten() {
            let s = |k: &str| h[k].as_str().unwrap_or_default().to_string();
            let (host, url, method) = (s("hostname"), s("url"), s("method"));
            http_total += 1;
            if http_found(&report, &host, &url, &method) {
                http_ok += 1;
            } else {
                misses.push(format!("{test}: HTTP {method:?} host {host:?} url {url:?}"));
            }
        }
    }
    let total = dns_total + http_total;
    let ok = dns_ok + http_ok;
    println!("DNS:  {dns_ok}/{dns_total} query names found");
    println!("HTTP: {http_ok}/{http_total} requests found");
    println!(
        "all:  {ok}/{total} ({:.1}%)",
        100.0 * ok as f64 / total.max(1) as f64
    );
    for m in &misses {
        println!("miss: {m}");
    }
    assert!(
        dns_total >= 90 && http_total >= 20,
        "expected.json has too few entries"
    );
    assert!(
        ok * 100 >= total * 95,
        "only {ok}/{total} found (need 95%); misses:\n{}",
        misses.join("\n")
    );
}
