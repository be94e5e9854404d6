//! Issue 7, done-when 1: the API of a real `ferret serve` process on loopback with
//! SQLite (a temp data dir, a free port, a token from `ferret token create`).
//!
//! * `analyses_end_to_end`: a behaviour sample (ferret-samples' static x86-64
//!   `all_in_one`) and a capture (shared/data/l7/irc.pcap) are submitted, polled until
//!   done by the server's in-process workers, and every artifact is fetched: report JSON
//!   and HTML, pcap, events with and without a server-side filter, and the dropped-files
//!   zip, which must be encrypted and open with the password `infected`.
//! * `refusals`: unauthenticated, bad token, oversized (declared and streamed),
//!   malformed multipart, bad options, unknown task and bad filter requests get the
//!   right status and a JSON message.

mod serve_common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::Value;
use serve_common::{Resp, create_token, multipart as multipart_with, require_root, start_serve};

const IRC_PCAP: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../shared/data/l7/irc.pcap"
);

/// A `ferret serve` with its token; the server is stopped before its data dir goes.
struct Server {
    _server: serve_common::Server,
    addr: SocketAddr,
    token: String,
    _dir: tempfile::TempDir,
}

fn start(workers: u32) -> Server {
    let dir = tempfile::tempdir().expect("temp dir");
    let token = create_token(dir.path(), "api-test", &[]);
    let server = start_serve(&["--workers", &workers.to_string()], dir.path());
    Server {
        addr: server.addr,
        _server: server,
        token,
        _dir: dir,
    }
}

fn parse_response(raw: &[u8]) -> Resp {
    serve_common::parse_response(raw).unwrap_or_else(|e| panic!("{e}"))
}

/// One request on its own connection (`Connection: close`).
fn http(s: &Server, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Resp {
    let mut c = TcpStream::connect(s.addr).expect("connect");
    c.set_read_timeout(Some(Duration::from_secs(120))).unwrap();
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nContent-Length: {}\r\n",
        s.addr,
        body.len()
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    c.write_all(req.as_bytes()).expect("send");
    c.write_all(body).expect("send body");
    let mut raw = Vec::new();
    c.read_to_end(&mut raw).expect("read response");
    parse_response(&raw)
}

fn get(s: &Server, path: &str) -> Resp {
    let auth = format!("Bearer {}", s.token);
    http(s, "GET", path, &[("Authorization", &auth)], b"")
}

const BOUNDARY: &str = "serve-api-test-b0undary";

fn multipart(parts: &[(&str, Option<&str>, &[u8])]) -> Vec<u8> {
    multipart_with(BOUNDARY, parts)
}

fn post_multipart(s: &Server, path: &str, body: &[u8]) -> Resp {
    let auth = format!("Bearer {}", s.token);
    let ct = format!("multipart/form-data; boundary={BOUNDARY}");
    http(
        s,
        "POST",
        path,
        &[("Authorization", &auth), ("Content-Type", &ct)],
        body,
    )
}

fn wait_done(s: &Server, id: i64, limit: Duration) -> Value {
    let t0 = Instant::now();
    loop {
        let r = get(s, &format!("/api/tasks/{id}"));
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        let v = r.json();
        match v["state"].as_str() {
            Some("done") => return v,
            Some("failed") => panic!("task {id} failed: {v}"),
            _ => {}
        }
        assert!(
            t0.elapsed() < limit,
            "task {id} not done after {limit:?}: {v}"
        );
        std::thread::sleep(Duration::from_millis(300));
    }
}

#[test]
fn analyses_end_to_end() {
    require_root("ferret serve's workers detonate samples");
    ferret_samples::build();
    let exe = ferret_samples::path("x86_64", "all_in_one", true);
    let sample = std::fs::read(&exe).unwrap_or_else(|e| panic!("{}: {e}", exe.display()));
    let pcap = std::fs::read(IRC_PCAP).expect("shared/data/l7/irc.pcap (see shared/README.md)");
    let s = start(2);

    let r = post_multipart(
        &s,
        "/api/tasks/file",
        &multipart(&[
            ("file", Some("all_in_one"), &sample),
            ("timeout", None, b"30"),
            ("net", None, b"fake"),
        ]),
    );
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    let file_id = r.json()["id"].as_i64().expect("id");
    assert_eq!(
        r.header("location"),
        Some(format!("/api/tasks/{file_id}").as_str())
    );
    let r = post_multipart(
        &s,
        "/api/tasks/pcap",
        &multipart(&[("file", Some("irc.pcap"), &pcap)]),
    );
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    let pcap_id = r.json()["id"].as_i64().expect("id");

    // The capture: report with the IRC session, the capture itself.
    let t = wait_done(&s, pcap_id, Duration::from_secs(120));
    assert_eq!(t["kind"], "pcap");
    let r = get(&s, &format!("/api/tasks/{pcap_id}/report"));
    assert_eq!(r.status, 200);
    let report = r.json();
    assert!(
        report.to_string().to_ascii_lowercase().contains("irc"),
        "no IRC in the capture's report"
    );
    let r = get(&s, &format!("/api/tasks/{pcap_id}/pcap"));
    assert_eq!(r.status, 200);
    assert_eq!(r.body, pcap);

    // The behaviour sample.
    let t = wait_done(&s, file_id, Duration::from_secs(300));
    assert_eq!(t["kind"], "file");
    assert!(t["verdict"].is_string(), "{t}");
    assert_ne!(t["verdict"], "clean", "{t}");
    let r = get(&s, &format!("/api/tasks/{file_id}/report"));
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("application/json"));
    let report = r.json();
    assert!(
        report["signatures"]
            .as_array()
            .is_some_and(|a| !a.is_empty()),
        "no signatures in the sample's report"
    );
    let r = get(&s, &format!("/api/tasks/{file_id}/report.html"));
    assert_eq!(r.status, 200);
    assert!(
        r.header("content-type")
            .unwrap_or("")
            .starts_with("text/html")
    );
    let html = String::from_utf8_lossy(&r.body).to_ascii_lowercase();
    assert!(html.contains("<html"), "not an HTML page");
    assert!(r.header("content-security-policy").is_some());
    let r = get(&s, &format!("/api/tasks/{file_id}/pcap"));
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert!(
        matches!(
            r.body.get(..4),
            Some([0xd4, 0xc3, 0xb2, 0xa1] | [0xa1, 0xb2, 0xc3, 0xd4] | [0x0a, 0x0d, 0x0d, 0x0a])
        ),
        "the detonation's capture is not a pcap"
    );

    // Events: all of them, then server-side filtered.
    let r = get(&s, &format!("/api/tasks/{file_id}/events?limit=100000"));
    assert_eq!(r.status, 200);
    let total: u64 = r
        .header("x-total-count")
        .and_then(|v| v.parse().ok())
        .expect("X-Total-Count");
    let all: Vec<Value> = String::from_utf8_lossy(&r.body)
        .lines()
        .map(|l| serde_json::from_str(l).expect("event line is JSON"))
        .collect();
    assert_eq!(all.len() as u64, total.min(100_000));
    let execs = all.iter().filter(|e| e["type"] == "execve").count() as u64;
    assert!(execs > 0 && execs < total, "{execs} execve of {total}");
    let r = get(
        &s,
        &format!("/api/tasks/{file_id}/events?filter=evt.type%20%3D%20execve&limit=100000"),
    );
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.header("x-total-count"), Some(execs.to_string().as_str()));
    for line in String::from_utf8_lossy(&r.body).lines() {
        let ev: Value = serde_json::from_str(line).expect("JSON line");
        assert_eq!(ev["type"], "execve", "{line}");
    }
    let r = get(
        &s,
        &format!("/api/tasks/{file_id}/events?filter=evt.type%20%3D%20execve&limit=1&offset=1"),
    );
    assert_eq!(String::from_utf8_lossy(&r.body).lines().count(), 1);

    // Dropped files: an AES-encrypted zip that opens with `infected` only.
    let r = get(&s, &format!("/api/tasks/{file_id}/dropped"));
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.header("content-type"), Some("application/zip"));
    // A local file header whose compression method is 99: WinZip AES encryption.
    assert_eq!(r.body.get(..4), Some(&b"PK\x03\x04"[..]), "not a zip");
    assert_eq!(
        r.body.get(8..10),
        Some(&[99u8, 0][..]),
        "first entry not AES-encrypted"
    );
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(r.body)).expect("a zip archive");
    assert!(!zip.is_empty(), "the all_in_one sample drops files");
    for i in 0..zip.len() {
        match zip.by_index(i) {
            Err(zip::result::ZipError::UnsupportedArchive(m)) => {
                assert!(m.contains("Password"), "{m}")
            }
            Err(e) => panic!("entry {i}: unexpected error {e}"),
            Ok(f) => panic!("entry {i} ({:?}) is not encrypted", f.name()),
        }
        assert!(
            zip.by_index_decrypt(i, b"wrong").is_err(),
            "entry {i} opens with a wrong password"
        );
        let mut f = zip
            .by_index_decrypt(i, b"infected")
            .expect("opens with infected");
        let mut content = Vec::new();
        f.read_to_end(&mut content).expect("decrypts");
    }

    // Listing, metrics, deletion.
    let r = get(&s, "/api/tasks?state=done");
    let v = r.json();
    let ids: Vec<i64> = v["tasks"]
        .as_array()
        .expect("tasks")
        .iter()
        .filter_map(|t| t["id"].as_i64())
        .collect();
    assert!(ids.contains(&file_id) && ids.contains(&pcap_id), "{v}");
    let r = get(&s, "/metrics");
    let text = String::from_utf8_lossy(&r.body);
    assert!(text.contains("ferret_tasks{state=\"done\"} 2"), "{text}");
    assert!(
        text.contains("ferret_analysis_duration_seconds_count 2"),
        "{text}"
    );
    assert!(
        text.contains("ferret_worker_last_heartbeat_timestamp_seconds{worker="),
        "{text}"
    );
    let auth = format!("Bearer {}", s.token);
    let r = http(
        &s,
        "DELETE",
        &format!("/api/tasks/{pcap_id}"),
        &[("Authorization", &auth)],
        b"",
    );
    assert_eq!(r.status, 204);
    assert_eq!(get(&s, &format!("/api/tasks/{pcap_id}")).status, 404);
}

#[test]
fn refusals() {
    let s = start(0);
    // Health needs nothing; everything else a token.
    let r = http(&s, "GET", "/healthz", &[], b"");
    assert_eq!((r.status, r.json()["status"].as_str()), (200, Some("ok")));
    let r = http(&s, "GET", "/api/tasks", &[], b"");
    assert_eq!(r.status, 401);
    assert!(r.header("www-authenticate").is_some());
    assert!(
        r.error().contains("authentication required"),
        "{}",
        r.error()
    );
    let r = http(
        &s,
        "GET",
        "/api/tasks",
        &[(
            "Authorization",
            "Bearer ferret_0000000000000000000000000000000000000000000000000000000000000000",
        )],
        b"",
    );
    assert_eq!(r.status, 401);
    assert_eq!(r.error(), "invalid or revoked API token");
    let r = http(
        &s,
        "GET",
        "/metrics",
        &[("Authorization", "Token abc")],
        b"",
    );
    assert_eq!(r.status, 401);
    let r = http(&s, "GET", "/tasks", &[], b"");
    assert_eq!((r.status, r.header("location")), (303, Some("/login")));

    // A declared body beyond the 64 MiB default: refused before it is sent.
    let auth = format!("Bearer {}", s.token);
    let mut c = TcpStream::connect(s.addr).expect("connect");
    write!(
        c,
        "POST /api/tasks/file HTTP/1.1\r\nHost: {}\r\nAuthorization: {auth}\r\n\
         Content-Type: multipart/form-data; boundary={BOUNDARY}\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n",
        s.addr,
        70u64 << 20
    )
    .unwrap();
    let mut raw = Vec::new();
    c.read_to_end(&mut raw).expect("response");
    let r = parse_response(&raw);
    assert_eq!(r.status, 413);
    assert!(
        r.error().contains("limit of 67108864 bytes"),
        "{}",
        r.error()
    );

    // A chunked upload that grows past the limit: refused once it does.
    let mut c = TcpStream::connect(s.addr).expect("connect");
    let mut reader = c.try_clone().unwrap();
    let reading = std::thread::spawn(move || {
        let mut raw = Vec::new();
        let _ = reader.read_to_end(&mut raw);
        raw
    });
    write!(
        c,
        "POST /api/tasks/file HTTP/1.1\r\nHost: {}\r\nAuthorization: {auth}\r\n\
         Content-Type: multipart/form-data; boundary={BOUNDARY}\r\nTransfer-Encoding: chunked\r\n\
         Connection: close\r\n\r\n",
        s.addr
    )
    .unwrap();
    let head = format!(
        "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"big\"\r\n\r\n"
    );
    let _ = write!(c, "{:x}\r\n{head}\r\n", head.len());
    let chunk = vec![0x41u8; 1 << 20];
    for _ in 0..70 {
        if write!(c, "{:x}\r\n", chunk.len()).is_err()
            || c.write_all(&chunk).is_err()
            || c.write_all(b"\r\n").is_err()
        {
            break;
        }
    }
    let raw = reading.join().unwrap();
    let r = parse_response(&raw);
    assert_eq!(r.status, 413);

    // Malformed multipart, bad options: 400 with the reason.
    let r = post_multipart(
        &s,
        "/api/tasks/file",
        b"--serve-api-test-b0undary\r\ngarbage",
    );
    assert_eq!(r.status, 400);
    assert!(r.error().contains("malformed multipart"), "{}", r.error());
    let r = http(
        &s,
        "POST",
        "/api/tasks/file",
        &[("Authorization", &auth), ("Content-Type", "text/plain")],
        b"hello",
    );
    assert_eq!(r.status, 400);
    assert!(r.error().contains("multipart/form-data"), "{}", r.error());
    let script: &[u8] = b"#!/bin/sh\necho hello\n";
    for (field, value, needle) in [
        (
            "timeout",
            &b"0"[..],
            "timeout must be 1 to 3600 seconds, got 0",
        ),
        ("timeout", b"99999", "timeout must be 1 to 3600 seconds"),
        ("net", b"internet", "net must be \"fake\" or \"none\""),
        ("arch", b"vax", "arch \"vax\""),
        ("priority", b"high", "unknown field \"priority\""),
    ] {
        let r = post_multipart(
            &s,
            "/api/tasks/file",
            &multipart(&[("file", Some("s.sh"), script), (field, None, value)]),
        );
        assert_eq!(r.status, 400, "{field}");
        assert!(r.error().contains(needle), "{field}: {}", r.error());
    }
    let r = post_multipart(
        &s,
        "/api/tasks/pcap",
        &multipart(&[("file", Some("x.pcap"), script)]),
    );
    assert_eq!(r.status, 400);
    assert!(r.error().contains("not a pcap"), "{}", r.error());

    // Unknown tasks.
    for path in [
        "/api/tasks/424242",
        "/api/tasks/424242/report",
        "/api/tasks/x/events",
    ] {
        let r = get(&s, path);
        assert_eq!(r.status, 404, "{path}");
        assert!(r.error().contains("no task"), "{path}: {}", r.error());
    }

    // A bad filter: 400 with the column of the problem.
    let r = post_multipart(
        &s,
        "/api/tasks/file",
        &multipart(&[("file", Some("s.sh"), script)]),
    );
    assert_eq!(r.status, 201);
    let id = r.json()["id"].as_i64().unwrap();
    let r = get(
        &s,
        &format!("/api/tasks/{id}/events?filter=proc.name%20%3D%20sh%20and%20%3D%3D"),
    );
    assert_eq!(r.status, 400);
    let v = r.json();
    let col = v["column"].as_u64().expect("column");
    assert_eq!(col, 20, "{v}");
    assert!(r.error().contains("column 20"), "{}", r.error());
    // The task is queued (no workers): no events yet, and the message says so.
    let r = get(&s, &format!("/api/tasks/{id}/events"));
    assert_eq!(r.status, 404);
    assert!(r.error().contains("state queued"), "{}", r.error());

    // Only the one valid submission was accepted.
    let v = get(&s, "/api/tasks").json();
    assert_eq!(v["total"], 1, "{v}");

    // Nothing of the upload names ends up as a path: the display name is sanitised.
    let r = post_multipart(
        &s,
        "/api/tasks/file",
        &multipart(&[("file", Some("../../../../tmp/evil"), script)]),
    );
    assert_eq!(r.json()["input_name"], "evil");
    assert!(!Path::new("/tmp/evil").exists());
}
