//! Report and UI pages over hostile and large inputs: escaping (checked by tokenizing
//! the output like a browser does), structure, no external reference, bounded size.

use std::cell::RefCell;
use std::collections::BTreeSet;

use ferret_html::audit::{Allow, external_references};
use ferret_html::ui::{self, Download, Routes, Session, SubmitForm};
use ferret_html::{ReportPage, report_page};
use lol_html::html_content::{Element, TextChunk};
use lol_html::{RewriteStrSettings, element, rewrite_str, text};
use serde_json::{Value, json};

const XSS: &str = "</script><script>alert(1)</script><img src=x onerror=alert(2)>\"'&";

/// Tags, attribute names and the text of every `<script>` of a page, as a browser's
/// tokenizer sees them.
struct Parsed {
    tags: BTreeSet<String>,
    attrs: BTreeSet<String>,
    scripts: Vec<(String, String)>,
    text: String,
}

fn parse(html: &str) -> Parsed {
    let tags = RefCell::new(BTreeSet::new());
    let attrs = RefCell::new(BTreeSet::new());
    let scripts = RefCell::new(Vec::new());
    let cur = RefCell::new((String::new(), String::new()));
    let text_all = RefCell::new(String::new());
    rewrite_str(
        html,
        RewriteStrSettings::new()
            .append_element_content_handler(element!("*", |el: &mut Element| {
                tags.borrow_mut().insert(el.tag_name());
                for a in el.attributes() {
                    attrs.borrow_mut().insert(a.name());
                }
                if el.tag_name() == "script" {
                    cur.borrow_mut().0 = el.get_attribute("type").unwrap_or_default();
                }
                Ok(())
            }))
            .append_element_content_handler(text!("script", |t: &mut TextChunk| {
                cur.borrow_mut().1.push_str(t.as_str());
                if t.last_in_text_node() {
                    let (ty, body) = std::mem::take(&mut *cur.borrow_mut());
                    scripts.borrow_mut().push((ty, body));
                }
                Ok(())
            }))
            .append_element_content_handler(text!("body", |t: &mut TextChunk| {
                text_all.borrow_mut().push_str(t.as_str());
                Ok(())
            })),
    )
    .expect("the page tokenizes");
    Parsed {
        tags: tags.into_inner(),
        attrs: attrs.into_inner(),
        scripts: scripts.into_inner(),
        text: text_all.into_inner(),
    }
}

fn hostile_report() -> Value {
    let mut r = hostile_report_base();
    // The capture's analysis is merged into the network section (docs/analysis-report.md).
    if let (Some(net), Value::Object(cap)) = (r["network"].as_object_mut(), capture()) {
        net.extend(cap);
    }
    r
}

fn hostile_report_base() -> Value {
    let ev = |num: u64, ts: u64, ty: &str, pid: i64| {
        json!({"v": 1, "num": num, "ts": ts, "type": ty, "pid": pid, "tid": pid,
               "args": {"name": {"path": format!("/tmp/{XSS}")}}})
    };
    json!({
        "schema_version": "1.0", "ferret_version": "0.1.0",
        "analysis": {"started_at": 1_795_327_006, "timeout_secs": 20.0, "args": [XSS],
                     "network": "none", "network_notes": [XSS], "trace_all": false,
                     "max_events": 2_000_000, "hostname": "srv"},
        "sample": {"name": XSS, "path": "/x", "size": 10, "sha256": "a".repeat(64),
                   "file_type": "ELF <b>", "sandbox_path": "/root/x"},
        "static": {"path": "/x", "size": 10, "file_type": {"kind": "elf", "description": XSS},
                   "hashes": {"md5": "b".repeat(32), "sha1": "c".repeat(40), "sha256": "a".repeat(64),
                              "ssdeep": "3:a:b", "tlsh": null},
                   "entropy": 7.9,
                   "elf": {"class": "ELF64", "machine": {"name": "x86-64", "description": XSS},
                           "sections": [{"index": 1, "name": XSS, "kind": "PROGBITS", "flags": "AX",
                                         "addr": 4096, "offset": 4096, "size": 100, "entropy": 7.5}],
                           "imports": [{"name": XSS, "version": "GLIBC_2.2.5"}], "needed": ["libc.so.6"]},
                   "strings": {"total": 2, "truncated": false,
                               "strings": [{"offset": 1, "encoding": "ascii", "value": "javascript:alert(3)"},
                                           {"offset": 9, "encoding": "ascii", "value": "\u{202e}fdp.exe"}]},
                   "iocs": {"urls": [{"value": "http://evil.example/x.sh", "scheme": "http",
                                      "host": "evil.example", "first_offset": 3, "count": 1}],
                            "domains": [{"value": "//evil.example", "registrable": "evil.example",
                                         "first_offset": 3, "count": 1}]},
                   "packer": {"name": XSS, "indicators": [{"id": "upx", "severity": "high", "description": XSS}]},
                   "yara": {"matches": [{"rule": XSS, "namespace": "default", "tags": [XSS],
                                         "metadata": {"description": XSS}, "strings": []}]},
                   "errors": []},
        "processes": {"root": 2, "count": 2, "omitted": 0, "list": [
            {"pid": 2, "ppid": 0, "exe": "/root/x", "name": XSS, "cmdline": format!("x {XSS} кот 🐈"),
             "execs": ["/root/x"], "exit": {"code": 0}, "children": [3]},
            {"pid": 3, "ppid": 2, "exe": "javascript:alert(4)", "name": "sh", "cmdline": "sh -c 'a'",
             "arch": "mipsel", "runner": "qemu-user",
             "execs": [], "exit": {"signal": "SIGKILL", "core": false}, "children": []}]},
        "syscalls": {"total": 3, "failed": 1, "denied": 0, "by_name": {"openat": 2, XSS: 1}},
        "files": {"opened": [{"path": format!("/{XSS}"), "count": 1, "failed": 0}], "written": [],
                  "deleted": [], "omitted": 0, "dropped_truncated": false,
                  "dropped": [{"path": format!("/tmp/{XSS}"), "change": "created", "kind": "symlink",
                               "target": XSS, "size": 5, "mode": "0755", "sha256": "d".repeat(64),
                               "stored_as": XSS}]},
        "network": {"connections": [{"syscall": "connect", "family": "AF_INET", "address": XSS,
                                     "port": 23, "count": 1, "failed": 1, "last_error": "ENETUNREACH"}],
                    "binds": [], "sockets": [], "omitted": 0,
                    "fakenet": {"dns_policy": "sinkhole", "sinkhole": "10.13.37.1",
                                "sessions": [{"id": 1, "at": 0.5, "client": "10.13.37.2:4000",
                                              "original_dst": XSS, "protocol": "http",
                                              "bytes_from_client": 10, "bytes_to_client": 20}],
                                "dns": [{"at": 0.4, "name": XSS, "qtype": "A", "answer": "10.13.37.1",
                                         "rcode": "NOERROR"}],
                                "http": [{"session": 1, "at": 0.5, "original_dst": "198.51.100.7:80",
                                          "method": "GET", "uri": XSS, "host": "cnc.example",
                                          "user_agent": "Wget", "status": 200}],
                                "telnet": [{"session": 2, "at": 0.7, "original_dst": "198.51.100.8:23",
                                            "username": "root", "password": XSS, "commands": [XSS]}]}},
        "signatures": [{"name": XSS, "description": XSS, "severity": "Critical",
                        "attack": ["T1574.006", "T1053.003"], "weight": 9.0, "count": 1,
                        "evidence": [{"event": ev(2, 1_000_005_000, "openat", 2), "output": XSS}]}],
        "score": 9.0, "verdict": "malicious",
        "limits": {"timed_out": true, "events": {"cap": 10, "recorded": 3, "dropped": 7}},
        "outcome": {"sample_exit": {"code": 0}, "run_time_ms": 5, "cpu_time_ms": 1,
                    "tasks_traced": 2, "errors": [XSS]},
        "timings_ms": {}
    })
}

fn capture() -> Value {
    json!({
        "summary": {"format": "pcap", "packets": 10, "captured_bytes": 1000, "flows": 1,
                    "first_ts": 1_700_000_000.5, "last_ts": 1_700_000_001.25},
        "flows": [{"id": 0, "proto": "tcp", "src": "10.0.0.2", "sport": 40000, "dst": "198.51.100.7",
                   "dport": 80, "packets_out": 3, "bytes_out": 300, "packets_in": 2, "bytes_in": 200,
                   "handshake": true, "app": "http"}],
        "endpoints": [{"ip": "198.51.100.7", "bytes_sent": 200, "bytes_received": 300,
                       "ports": [80], "names": [XSS],
                       "geo": {"country": "GB", "country_name": "United Kingdom", "city": XSS,
                               "asn": 64500, "as_org": "Example AS"}, "blacklisted": true}],
        "dns": [{"ts": 1_700_000_000.5, "src": "10.0.0.2", "response": true, "rcode": "NOERROR",
                 "questions": [{"name": XSS, "rtype": "A"}],
                 "answers": [{"name": "a", "rtype": "A", "data": "198.51.100.7"}]}],
        "http": [{"ts": 1_700_000_000.6, "src": "10.0.0.2", "dst": "198.51.100.7", "dport": 80,
                  "method": "GET", "uri": "javascript:alert(5)", "host": "//evil.example",
                  "user_agent": XSS, "status": 200, "content_type": "text/html"}],
        "irc": [{"ts": 1_700_000_001.0, "from_client": true, "dst": "198.51.100.7", "dport": 6667,
                 "command": "NICK", "params": [XSS]}],
        "telnet": [{"client": "10.0.0.2", "client_port": 4000, "server": "198.51.100.8", "server_port": 23,
                    "credentials": [{"ts": 1_700_000_001.0, "username": "root", "password": XSS}],
                    "data": [{"ts": 1_700_000_001.0, "from_client": true, "text": XSS}]}],
        "anomalies": [{"kind": "telnet_bruteforce", "source": "10.0.0.2", "target": "198.51.100.8",
                       "count": 3, "description": XSS}],
        "limits_reached": []
    })
}

fn events_jsonl(n: u64) -> Vec<u8> {
    use std::io::Write as _;
    let path = serde_json::to_string(&format!("/tmp/{XSS}")).unwrap_or_default();
    let path = path.trim_matches('"');
    let mut out = Vec::with_capacity(n as usize * 200);
    for i in 1..=n {
        let ty = ["openat", "connect", "execve", "mmap", "close"][(i % 5) as usize];
        let _ = writeln!(
            out,
            "{{\"v\":1,\"num\":{i},\"ts\":{},\"type\":\"{ty}\",\"pid\":{},\"tid\":2,\"ret\":{},\"args\":{{\"name\":{{\"path\":\"{path}/{i}\"}}}}}}",
            1_000_000_000 + i * 1000,
            2 + i % 2,
            if i % 7 == 0 { -2 } else { 3 }
        );
    }
    out
}

/// Elements a report page may contain (anything else was injected).
const REPORT_TAGS: &[&str] = &[
    "a", "br", "button", "code", "dd", "details", "div", "dl", "dt", "h1", "h2", "h3", "head",
    "body", "html", "i", "input", "li", "line", "link", "main", "meta", "nav", "p", "path", "pre",
    "rect", "script", "section", "span", "strong", "style", "summary", "svg", "table", "tbody",
    "td", "text", "th", "thead", "title", "tr", "ul",
];

#[test]
fn hostile_strings_stay_text() {
    let report = hostile_report();
    let html = report_page(&report, Some(&events_jsonl(50)), &ReportPage::default());
    assert_eq!(
        external_references(&html, Allow::SelfContained).expect("tokenizes"),
        Vec::<String>::new()
    );
    let p = parse(&html);
    let extra: Vec<&String> = p
        .tags
        .iter()
        .filter(|t| !REPORT_TAGS.contains(&t.as_str()))
        .collect();
    assert!(extra.is_empty(), "unexpected elements: {extra:?}");
    let handlers: Vec<&String> = p.attrs.iter().filter(|a| a.starts_with("on")).collect();
    assert!(
        handlers.is_empty(),
        "event handler attributes: {handlers:?}"
    );
    // One code script; the data blocks parse back to what was given.
    let code: Vec<&(String, String)> = p.scripts.iter().filter(|(t, _)| t.is_empty()).collect();
    assert_eq!(code.len(), 1);
    let data: Vec<Value> = p
        .scripts
        .iter()
        .filter(|(t, _)| t == "application/json")
        .map(|(_, b)| serde_json::from_str(b).expect("data block is JSON"))
        .collect();
    assert_eq!(data.len(), 3, "config, processes, events");
    let events = data[2].as_array().expect("events array");
    assert_eq!(events.len(), 50);
    assert_eq!(
        events[0]["args"]["name"]["path"].as_str(),
        Some(format!("/tmp/{XSS}/1").as_str())
    );
    assert_eq!(data[1][0]["name"].as_str(), Some(XSS));
    // The hostile text is visible as text, decoded by the tokenizer only once.
    assert!(html.contains("&lt;/script&gt;&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert!(p.text.contains("javascript:alert(3)"));
    assert!(
        html.contains("&lt;U+202E&gt;fdp.exe"),
        "bidi override made visible"
    );
    assert!(html.contains("кот 🐈"));
}

#[test]
fn report_structure() {
    let report = hostile_report();
    let html = report_page(&report, Some(&events_jsonl(1000)), &ReportPage::default());
    for id in [
        "overview",
        "timeline",
        "signatures",
        "processes",
        "events",
        "files",
        "network",
        "static",
        "syscalls",
        "ev-table",
        "ev-filter",
        "proc-tree",
        "timeline-chart",
        "verdict",
    ] {
        assert!(html.contains(&format!("id=\"{id}\"")), "no #{id}");
    }
    assert!(html.contains("Hijack Execution Flow: Dynamic Linker Hijacking"));
    assert!(html.contains("Scheduled Task/Job: Cron"));
    assert!(html.contains("v-malicious"));
    // The child is nested in the root's collapsible node.
    let tree = &html[html.find("id=\"proc-tree\"").unwrap_or(0)..];
    let root = tree.find("<details open>").expect("collapsible root");
    let child = tree.find("data-filter=\"proc.pid = 3\"").expect("child");
    let close = tree.find("</ul></details>").expect("closed");
    assert!(root < child && child < close);
    // Timeline: bars of the five categories and the evidence mark.
    for c in 0..4 {
        assert!(
            html.contains(&format!("<rect class=\"c{c}\"")),
            "category {c}"
        );
    }
    assert!(html.contains("<path class=\"sig\""));
    // Network: geo, DNS, HTTP, IRC, telnet credentials, anomalies.
    for s in [
        "United Kingdom (GB)",
        "AS64500 Example AS",
        "NOERROR",
        "javascript:alert(5)",
        "NICK",
        "telnet_bruteforce",
        "Anomalies (1)",
        "Fake internet: what the responders saw",
        "HTTP requests served (1)",
        "cnc.example",
    ] {
        assert!(html.contains(s), "network section lacks {s}");
    }
    assert!(html.contains("killed by SIGKILL"));
    assert!(
        html.contains("[mipsel via qemu-user]"),
        "emulated process architecture"
    );
    assert!(
        html.contains("[x86-64]"),
        "root architecture from the ELF header"
    );
    assert!(html.contains("the analysis timed out"));
    assert!(html.contains("7 events past the cap of 10"));
}

#[test]
fn page_size_is_bounded_by_the_caps() {
    let report = hostile_report();
    let opts = ReportPage::default();
    let small = report_page(&report, Some(&events_jsonl(10_000)), &opts);
    let big_events = events_jsonl(200_000);
    let start = std::time::Instant::now();
    let big = report_page(&report, Some(&big_events), &opts);
    let took = start.elapsed();
    // 5,000 events embedded in both; the rest is counted, not embedded.
    assert!(
        big.len() < small.len() + (64 << 10),
        "{} vs {}",
        big.len(),
        small.len()
    );
    assert!(big.len() < 8 << 20, "{} bytes", big.len());
    assert!(big.contains("5000 of 200000 events are in this page"));
    assert!(big.contains("the other 195000 are in events.jsonl"));
    eprintln!(
        "200,000 events ({} MB): page {} KB in {:.2} s (debug build)",
        big_events.len() >> 20,
        big.len() >> 10,
        took.as_secs_f64()
    );
    // Byte budget: huge events stop the embedding early.
    let tight = ReportPage {
        max_event_bytes: 50_000,
        ..ReportPage::default()
    };
    let page = report_page(&report, Some(&big_events), &tight);
    let p = parse(&page);
    let embedded: Value = p
        .scripts
        .iter()
        .rev()
        .find(|(t, _)| t == "application/json")
        .and_then(|(_, b)| serde_json::from_str(b).ok())
        .unwrap_or_default();
    let n = embedded.as_array().map_or(0, Vec::len);
    assert!(n > 100 && n < 400, "{n} events within 50 kB");
}

#[test]
fn many_processes_and_deep_chains_stay_bounded() {
    let mut report = hostile_report();
    // A fork chain 5,000 deep.
    let list: Vec<Value> = (2..5002)
        .map(|pid| {
            json!({"pid": pid, "ppid": if pid == 2 { 0 } else { pid - 1 }, "exe": "/x", "name": "x",
                   "cmdline": "x", "execs": [], "exit": null,
                   "children": if pid < 5001 { vec![pid + 1] } else { vec![] }})
        })
        .collect();
    report["processes"]["list"] = Value::Array(list);
    report["processes"]["count"] = json!(5000);
    let html = report_page(&report, None, &ReportPage::default());
    let shown = html.matches("<li class=\"proc\">").count();
    assert_eq!(shown, 2000);
    assert!(html.contains("3000 more not shown here"));
    // Nesting is capped: every opened <details> is closed.
    assert_eq!(
        html.matches("<details open><summary><span class=\"pid\">")
            .count(),
        html.matches("</ul></details></li>").count()
    );
    assert!(html.matches("</ul></details></li>").count() <= 48);
    assert!(html.contains("No events to draw"));
    assert_eq!(
        external_references(&html, Allow::SelfContained).expect("tokenizes"),
        Vec::<String>::new()
    );
}

#[test]
fn minimal_and_pcap_only_reports_render() {
    for report in [
        json!({}),
        json!({"sample": {"name": "x"}}),
        json!(null),
        json!([1, 2]),
    ] {
        let html = report_page(
            &report,
            Some(b"garbage\n{\"ts\":1}\n"),
            &ReportPage::default(),
        );
        assert!(html.ends_with("</html>\n"));
        assert_eq!(
            external_references(&html, Allow::SelfContained).expect("tokenizes"),
            Vec::<String>::new()
        );
    }
    let html = report_page(&capture(), None, &ReportPage::default());
    assert!(html.contains("Network capture"));
    assert!(html.contains("telnet_bruteforce"));
    assert!(!html.contains("id=\"processes\""));
}

fn session() -> Session<'static> {
    Session {
        user: "analyst\"><script>alert(1)</script>",
        csrf: "0123abcd\"'<>",
    }
}

#[test]
fn ui_pages_reference_only_their_server() {
    let routes = Routes::default();
    assert_eq!(routes.check(), Ok(()));
    let task = json!({"id": 7, "kind": "file", "state": "done", "input_name": XSS,
                      "input_sha256": "a".repeat(64), "attempts": 1, "max_attempts": 3});
    let links = routes.downloads(7, &["report.json", "events.jsonl", "dropped.zip", "other"]);
    assert_eq!(
        links.iter().map(|d| d.href.as_str()).collect::<Vec<_>>(),
        [
            "/api/tasks/7/report",
            "/api/tasks/7/events",
            "/api/tasks/7/dropped"
        ]
    );
    let mut hostile_links = links.clone();
    for bad in [
        "//evil.example/x",
        "javascript:alert(1)",
        "https://evil.example/",
    ] {
        hostile_links.push(Download {
            label: bad.into(),
            href: bad.into(),
        });
    }
    let report = hostile_report();
    let form = SubmitForm {
        arches: vec!["x86_64".into(), XSS.into()],
        ..SubmitForm::default()
    };
    let failed = json!({"id": 8, "state": "failed", "error": XSS});
    let running = json!({"id": 9, "state": "running"});
    let pages = [
        ui::login_page(&routes, Some(XSS)),
        ui::tasks_page(&routes, session(), 2000),
        ui::submit_page(&routes, session(), &form),
        ui::task_page(
            &routes,
            session(),
            &task,
            Some(&report),
            Some(&events_jsonl(20)),
            &hostile_links,
            &ReportPage::default(),
        ),
        ui::task_page(
            &routes,
            session(),
            &failed,
            None,
            None,
            &[],
            &ReportPage::default(),
        ),
        ui::task_page(
            &routes,
            session(),
            &running,
            None,
            None,
            &[],
            &ReportPage::default(),
        ),
        ui::error_page(&routes, None, 404, XSS),
    ];
    for (i, html) in pages.iter().enumerate() {
        assert_eq!(
            external_references(html, Allow::SameOrigin).expect("tokenizes"),
            Vec::<String>::new(),
            "page {i}"
        );
        let p = parse(html);
        assert!(
            !p.attrs.iter().any(|a| a.starts_with("on")),
            "page {i}: handler attributes"
        );
        assert!(!p.tags.contains("img"), "page {i}: injected element");
        assert!(!html.contains("<script>alert"), "page {i}");
    }
    let report_ui = &pages[3];
    assert!(report_ui.contains("\"events_url\":\"/api/tasks/7/events\""));
    assert!(
        report_ui.contains("id=\"ferret-events\">[]</script>"),
        "served pages embed no events"
    );
    assert!(
        report_ui.contains("<rect class=\"c"),
        "but draw their timeline"
    );
    assert!(report_ui.contains("connect-src 'self'"));
    assert!(!report_ui.contains("evil.example/x\" download"));
    assert!(report_ui.contains("href=\"/api/tasks/7/dropped\" download"));
    assert!(pages[1].contains("name=\"csrf\" value=\"0123abcd&quot;&#39;&lt;&gt;\""));
    assert!(pages[2].contains("\"csrf\":\"0123abcd\\\"'\\u003c\\u003e\""));
    assert!(pages[4].contains("id=\"task-error\""));
    assert!(pages[5].contains("\"page\":\"task-wait\""));
    // Offline pages allow no connection at all.
    let offline = report_page(&report, None, &ReportPage::default());
    assert!(offline.contains("connect-src 'none'"));
    assert!(!offline.contains("\"events_url\":"));
}

#[test]
fn routes_must_be_same_origin() {
    let routes = Routes {
        api_tasks: "https://evil.example/api".into(),
        ..Routes::default()
    };
    let err = routes.check().expect_err("refused");
    assert!(err.contains("api_tasks"), "{err}");
    let page = ui::tasks_page(&routes, session(), 1000);
    assert!(page.contains("server misconfiguration"));
    assert!(!page.contains("evil.example/api\""));
}

#[test]
fn reader_and_slice_render_the_same_page() {
    let report = hostile_report();
    let events = events_jsonl(3000);
    let opts = ReportPage::default();
    let from_slice = report_page(&report, Some(&events), &opts);
    let mut reader = std::io::BufReader::with_capacity(7, &events[..]);
    let from_reader = ferret_html::report_page_from_reader(
        &report,
        Some(&mut reader as &mut dyn std::io::BufRead),
        &opts,
    )
    .expect("reading a slice cannot fail");
    assert_eq!(from_slice, from_reader);
    // A directory without events.jsonl still gets its page.
    let dir = std::env::temp_dir().join(format!("ferret-html-dir-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    std::fs::write(dir.join("report.json"), report.to_string()).expect("write");
    let path = ferret_html::write_report_dir(&dir).expect("report.html");
    let page = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(page.contains("No events to draw"));
    std::fs::write(dir.join("report.json"), "{not json").expect("write");
    let err = ferret_html::write_report_dir(&dir).expect_err("bad JSON refused");
    assert!(err.to_string().contains("report.json is not JSON"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}
