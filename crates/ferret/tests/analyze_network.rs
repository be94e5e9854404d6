//! Issue 5, done-when 4: the fake internet in every `ferret analyze`.
//!
//! The sample `samples/src/c2_client.c` resolves a C2 name (unique per run), sends an
//! HTTP GET to it, registers and joins a channel on IRC, logs in over telnet typing a
//! user name and a password, and connects to port 23 on 50 addresses. With the default
//! network (`--net fake`) the report's `network` section must show all of it, the
//! capture must open in tshark, and a capture on the host's own interfaces for the
//! whole run must see none of the sandbox's packets; with `--net none` the sample has
//! loopback only. Nothing of either run may be left on the host. Runs as root.

mod analyze_common;

use std::fs;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use analyze_common::{analyze, compile, require_root, scratch};
use serde_json::Value;

/// Networks only the sandbox side of a fake net uses: its own prefix (IPv4 and
/// IPv6) and the scan's targets.
const SANDBOX_NETS: &str = "net 10.13.37.0/24 or net 203.0.113.0/24 or ip6 net fd13:3713:3713::/64";

/// A C2 name no other test uses, so that the host capture can look for it.
fn unique_c2() -> (String, String) {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let label = format!("cnc{}x{nanos}", std::process::id());
    let name = format!("{label}.ferret-botnet.example");
    (label, name)
}

/// tshark capturing on every interface of the host's network namespace.
struct HostCapture {
    child: Child,
    file: PathBuf,
}

impl HostCapture {
    /// Starts capturing the sandbox's networks and DNS; returns once tshark says it
    /// captures.
    fn start(dir: &Path) -> HostCapture {
        let file = dir.join("host.pcapng");
        let filter = format!("{SANDBOX_NETS} or port 53");
        let mut child = Command::new("tshark")
            .args(["-i", "any", "-n", "-q", "-w"])
            .arg(&file)
            .args(["-f", &filter])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("tshark is needed (scripts/install.sh installs it)");
        let stderr = child.stderr.take().expect("tshark stderr");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if line.contains("Capturing on") {
                    let _ = tx.send(());
                }
            }
        });
        if rx.recv_timeout(Duration::from_secs(60)).is_err() {
            let _ = child.kill();
            let _ = child.wait();
            panic!("tshark did not start capturing on the host's interfaces");
        }
        HostCapture { child, file }
    }

    /// Stops tshark and returns the captured frames matching `display_filter`.
    fn stop(mut self, display_filter: &str) -> Vec<String> {
        // SIGINT lets tshark flush and close the file.
        let _ = Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(20);
        while self.child.try_wait().ok().flatten().is_none() {
            if Instant::now() > deadline {
                let _ = self.child.kill();
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.wait();
        let out = Command::new("tshark")
            .arg("-r")
            .arg(&self.file)
            .args(["-n", "-Y", display_filter])
            .output()
            .expect("tshark");
        assert!(
            out.status.success(),
            "tshark could not read the host capture: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(str::to_owned)
            .collect()
    }
}

/// Interfaces of the host that could be a fake net's veth ends.
fn veth_like_links() -> Vec<String> {
    let out = Command::new("ip")
        .args(["-o", "link", "show"])
        .output()
        .expect("iproute2's ip is needed (scripts/install.sh installs it)");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.contains("fake0") || l.contains("eth0@"))
        .map(|l| l.split(':').take(2).collect::<Vec<_>>().join(":"))
        .collect()
}

fn arr<'a>(v: &'a Value, ptr: &str) -> &'a [Value] {
    v.pointer(ptr)
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[])
}

/// The report matches docs/schema/analysis-report.schema.json (here with every kind of
/// fake-net and capture record present).
fn assert_schema_valid(report: &Value) {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/schema/analysis-report.schema.json");
    let schema: Value = serde_json::from_str(&fs::read_to_string(path).unwrap()).unwrap();
    let validator = jsonschema::validator_for(&schema).expect("schema compiles");
    let errors: Vec<String> = validator
        .iter_errors(report)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .take(20)
        .collect();
    assert!(
        errors.is_empty(),
        "report does not match the schema:\n{}",
        errors.join("\n")
    );
}

fn c2_client() -> PathBuf {
    ferret_samples::build();
    ferret_samples::path("x86_64", "c2_client", false)
}

#[test]
fn c2_client_on_the_default_fake_internet() {
    require_root();
    let sample = c2_client();
    let (label, name) = unique_c2();
    let links_before = veth_like_links();
    let dir = scratch("hostcap");
    let host = HostCapture::start(&dir);
    let run = analyze(&sample, &["--timeout", "30", "--args", &name]);
    // Frames of the sandbox's networks, or carrying the C2 name, on any host interface.
    let leaked = host.stop(&format!(
        "ip.addr == 10.13.37.0/24 or ip.addr == 203.0.113.0/24 or ipv6.addr == fd13:3713:3713::/64 or frame contains \"{label}\""
    ));
    assert!(
        leaked.is_empty(),
        "packets of the sandbox on the host's interfaces: {leaked:?}"
    );
    let r = &run.report;
    let stdout = fs::read_to_string(run.out_dir.join("stdout")).unwrap();
    println!("sample output:\n{stdout}");
    assert_eq!(r["analysis"]["network"], "fake");
    assert_schema_valid(r);
    assert!(
        stdout.contains(&format!("getaddrinfo({name}): ok 10.13.37.1")),
        "{stdout}"
    );
    assert!(stdout.contains("scan: 50 attempts, 50 open"), "{stdout}");
    assert!(
        arr(r, "/outcome/errors").is_empty(),
        "analysis problems: {}",
        r["outcome"]["errors"]
    );

    // DNS: the query, as captured and as the fake resolver answered it.
    let asked: Vec<&str> = arr(r, "/network/dns")
        .iter()
        .filter(|m| m["response"] == false)
        .flat_map(|m| arr(m, "/questions"))
        .filter_map(|q| q["name"].as_str())
        .collect();
    assert!(asked.contains(&name.as_str()), "DNS questions: {asked:?}");
    let q = arr(r, "/network/fakenet/dns")
        .iter()
        .find(|q| q["name"] == name.as_str() && q["qtype"] == 1)
        .unwrap_or_else(|| panic!("fake resolver log: {}", r["network"]["fakenet"]["dns"]));
    assert_eq!(q["answer"], "10.13.37.1");
    assert!(q["flow"].is_u64(), "DNS query without its flow: {q}");

    // HTTP: host, method and URL.
    let h = arr(r, "/network/http")
        .iter()
        .find(|h| h["host"] == name.as_str())
        .unwrap_or_else(|| panic!("HTTP requests: {}", r["network"]["http"]));
    assert_eq!(h["method"], "GET");
    assert_eq!(h["uri"], "/bot/register?id=ferret");
    assert_eq!(h["dst"], "10.13.37.1");
    assert_eq!(h["dport"], 80);
    assert_eq!(h["status"], 200);
    let fh = arr(r, "/network/fakenet/http")
        .iter()
        .find(|h| h["host"] == name.as_str())
        .expect("HTTP request in the fake net's log");
    assert_eq!(fh["original_dst"], "10.13.37.1:80");
    // The responder's session and the captured flow are the same connection.
    let session = arr(r, "/network/fakenet/sessions")
        .iter()
        .find(|s| s["id"] == fh["session"])
        .expect("the HTTP request's session");
    assert_eq!(session["protocol"], "http");
    assert_eq!(session["flow"], h["flow"], "{session}");

    // IRC: NICK and JOIN from the client.
    let irc: Vec<(String, String)> = arr(r, "/network/irc")
        .iter()
        .filter(|m| m["from_client"] == true)
        .map(|m| {
            (
                m["command"].as_str().unwrap_or("").to_owned(),
                m["params"][0].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect();
    assert!(
        irc.contains(&("NICK".into(), "ferretbot".into())),
        "IRC: {irc:?}"
    );
    assert!(
        irc.contains(&("JOIN".into(), "#ferret-c2".into())),
        "IRC: {irc:?}"
    );
    assert!(
        arr(r, "/network/fakenet/irc")
            .iter()
            .any(|l| l["command"] == "JOIN" && l["params"][0] == "#ferret-c2"),
        "fake IRC log: {}",
        r["network"]["fakenet"]["irc"]
    );

    // Telnet: the typed user name and password, in the capture and at the prompts.
    let creds: Vec<(&str, &str)> = arr(r, "/network/telnet")
        .iter()
        .flat_map(|t| arr(t, "/credentials"))
        .map(|c| {
            (
                c["username"].as_str().unwrap_or(""),
                c["password"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert!(creds.contains(&("root", "xc3511")), "telnet: {creds:?}");
    assert!(
        arr(r, "/network/fakenet/telnet")
            .iter()
            .any(|t| t["username"] == "root" && t["password"] == "xc3511"),
        "fake telnet log: {}",
        r["network"]["fakenet"]["telnet"]
    );

    // The scan: 50 addresses on port 23 (plus the C2's own telnet login).
    let scan = arr(r, "/network/anomalies")
        .iter()
        .find(|a| a["kind"] == "ip_scan")
        .unwrap_or_else(|| panic!("anomalies: {}", r["network"]["anomalies"]));
    assert_eq!(scan["source"], "10.13.37.2");
    assert!(scan["count"].as_u64().unwrap() >= 50, "{scan}");
    assert!(
        arr(r, "/network/anomalies")
            .iter()
            .any(|a| a["kind"] == "irc_c2"),
        "{}",
        r["network"]["anomalies"]
    );
    // Signatures the bundled rules give this traffic (connects that now succeed).
    let ids = run.attack_ids();
    for id in ["T1046", "T1110.001", "T1071"] {
        assert!(ids.contains(id), "ATT&CK {id} missing: {ids:?}");
    }

    // The capture: in the output directory, complete, readable by tshark.
    let cap = &r["network"]["fakenet"]["capture"];
    assert_eq!(cap["file"], "capture.pcap");
    assert_eq!(cap["packets_cut"], 0);
    assert_eq!(r["limits"]["capture"]["packets_cut"], 0);
    assert_eq!(r["limits"]["capture"]["max_bytes"], 100_000_000);
    let pcap = run.out_dir.join("capture.pcap");
    assert_eq!(
        fs::metadata(&pcap).unwrap().len(),
        cap["file_bytes"].as_u64().unwrap()
    );
    let ts = Command::new("tshark")
        .arg("-r")
        .arg(&pcap)
        .arg("-n")
        .output()
        .expect("tshark is needed (scripts/install.sh installs it)");
    assert!(
        ts.status.success(),
        "tshark: {}",
        String::from_utf8_lossy(&ts.stderr)
    );
    let frames = String::from_utf8_lossy(&ts.stdout).lines().count() as u64;
    assert_eq!(frames, cap["packets_written"].as_u64().unwrap());
    assert_eq!(frames, r["network"]["summary"]["packets"].as_u64().unwrap());

    // The summary's network block.
    let summary = String::from_utf8_lossy(&run.output.stdout);
    for want in [
        "network (fake internet; capture.pcap:",
        name.as_str(),
        "/bot/register?id=ferret",
        "JOIN #ferret-c2",
        "login \"root\" password \"xc3511\"",
        "ip_scan",
    ] {
        assert!(
            summary.contains(want),
            "{want:?} not in the summary:\n{summary}"
        );
    }

    // Nothing of the fake net is left (processes, mounts, cgroups: `analyze` checked).
    assert_eq!(veth_like_links(), links_before, "an interface was left");
    run.cleanup();
    let _ = fs::remove_dir_all(&dir);
}

#[test]
fn net_none_is_loopback_only() {
    require_root();
    let sample = c2_client();
    let (_, name) = unique_c2();
    let run = analyze(
        &sample,
        &["--net", "none", "--timeout", "30", "--args", &name],
    );
    let r = &run.report;
    let stdout = fs::read_to_string(run.out_dir.join("stdout")).unwrap();
    assert_eq!(r["analysis"]["network"], "none");
    assert_schema_valid(r);
    assert!(
        stdout.contains(&format!("getaddrinfo({name}): fail")),
        "{stdout}"
    );
    assert!(stdout.contains("connect C2:80: fail"), "{stdout}");
    assert!(r["network"].get("fakenet").is_none());
    assert!(r["network"].get("dns").is_none());
    assert!(r["limits"].get("capture").is_none());
    assert!(!run.out_dir.join("capture.pcap").exists());
    // Every connection beyond loopback failed.
    for c in arr(r, "/network/connections") {
        if c["family"] == "AF_INET" && c["address"] != "127.0.0.1" {
            assert_eq!(c["failed"], c["count"], "{c}");
        }
    }
    assert!(!run.attack_ids().contains("T1071"), "{}", r["signatures"]);
    run.cleanup();
}

/// The fake net's fixed cost: a program that exits at once, analysed five times with
/// each network (median total time).
#[test]
fn fixed_cost_of_the_fake_internet() {
    require_root();
    let exe = compile("exit0", "int main(void) { return 0; }\n", &["-static"]);
    let median = |net: &str| {
        let mut totals: Vec<u64> = (0..5)
            .map(|_| {
                let run = analyze(&exe, &["--net", net, "--no-yara"]);
                assert_eq!(run.report["analysis"]["network"], net);
                let t = run.report["timings_ms"]["total"].as_u64().unwrap();
                run.cleanup();
                t
            })
            .collect();
        totals.sort_unstable();
        totals[2]
    };
    let none = median("none");
    let fake = median("fake");
    println!("median total: --net none {none} ms, --net fake {fake} ms");
    // A loose bound: the machine is shared; the report has the measured figures.
    assert!(
        fake < none + 2000,
        "the fake internet adds {} ms",
        fake.saturating_sub(none)
    );
}
