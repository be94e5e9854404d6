//! The router over a real SQLite queue in a temp dir, driven in-process (tower
//! `oneshot`): routes vs the OpenAPI document, authentication, sessions and CSRF,
//! upload validation, artifacts, server-side event filtering, metrics.
//! (`crates/ferret/tests/serve_api.rs` covers a real `ferret serve` process.)

use std::collections::BTreeSet;
use std::time::Duration;

use axum::Router;
use axum::body::{Body, to_bytes};
use axum::http::{HeaderMap, Method, Request, StatusCode, header};
use ferret_queue::Queue;
use ferret_server::{Access, AppState, Config, OPENAPI, router, routes};
use serde_json::Value;
use tower::ServiceExt;

struct Env {
    _dir: tempfile::TempDir,
    queue: Queue,
    app: Router,
    token: String,
}

async fn env(upload_limit: u64) -> Env {
    let dir = tempfile::tempdir().expect("temp dir");
    let queue = Queue::open("", dir.path()).await.expect("open queue");
    let (_, token) = queue.create_token("tester").await.expect("token");
    let state = AppState::new(
        queue.clone(),
        Config {
            upload_limit,
            ..Config::default()
        },
    );
    Env {
        _dir: dir,
        queue,
        app: router(state),
        token,
    }
}

struct Resp {
    status: StatusCode,
    headers: HeaderMap,
    body: Vec<u8>,
}

impl Resp {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }
    fn error(&self) -> String {
        self.json()["error"]
            .as_str()
            .unwrap_or_else(|| panic!("no error message in {:?}", self.json()))
            .to_owned()
    }
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

async fn call(app: &Router, req: Request<Body>) -> Resp {
    let resp = app.clone().oneshot(req).await.expect("infallible service");
    let status = resp.status();
    let headers = resp.headers().clone();
    let body = to_bytes(resp.into_body(), usize::MAX)
        .await
        .expect("body")
        .to_vec();
    Resp {
        status,
        headers,
        body,
    }
}

fn req(method: Method, uri: &str, token: Option<&str>) -> axum::http::request::Builder {
    let b = Request::builder().method(method).uri(uri);
    match token {
        Some(t) => b.header(header::AUTHORIZATION, format!("Bearer {t}")),
        None => b,
    }
}

const BOUNDARY: &str = "ferret-test-boundary-7MA4YWxkTrZu0gW";

/// A multipart body: (name, file name, content) parts.
fn multipart(parts: &[(&str, Option<&str>, &[u8])]) -> Vec<u8> {
    let mut b = Vec::new();
    for (name, file, data) in parts {
        b.extend_from_slice(format!("--{BOUNDARY}\r\n").as_bytes());
        match file {
            Some(f) => b.extend_from_slice(
                format!(
                    "Content-Disposition: form-data; name=\"{name}\"; filename=\"{f}\"\r\n\
                     Content-Type: application/octet-stream\r\n\r\n"
                )
                .as_bytes(),
            ),
            None => b.extend_from_slice(
                format!("Content-Disposition: form-data; name=\"{name}\"\r\n\r\n").as_bytes(),
            ),
        }
        b.extend_from_slice(data);
        b.extend_from_slice(b"\r\n");
    }
    b.extend_from_slice(format!("--{BOUNDARY}--\r\n").as_bytes());
    b
}

fn upload(uri: &str, token: Option<&str>, body: Vec<u8>) -> Request<Body> {
    req(Method::POST, uri, token)
        .header(
            header::CONTENT_TYPE,
            format!("multipart/form-data; boundary={BOUNDARY}"),
        )
        .body(Body::from(body))
        .expect("request")
}

const PCAP: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../shared/data/l7/irc.pcap"
);

#[tokio::test]
async fn every_route_is_documented_and_every_documented_route_exists() {
    let e = env(1 << 20).await;
    let doc: Value = serde_json::from_str(OPENAPI).expect("docs/openapi.json is JSON");
    assert!(doc["openapi"].as_str().unwrap_or("").starts_with("3."));
    let mut documented = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for method in item.as_object().expect("path item").keys() {
            if ["get", "post", "delete", "put", "patch"].contains(&method.as_str()) {
                documented.insert((method.to_uppercase(), path.clone()));
            }
        }
    }
    let routed: BTreeSet<(String, String)> = routes()
        .iter()
        .map(|r| (r.method.to_owned(), r.path.to_owned()))
        .collect();
    assert_eq!(
        routed.difference(&documented).collect::<Vec<_>>(),
        Vec::<&(String, String)>::new(),
        "routes missing from docs/openapi.json"
    );
    assert_eq!(
        documented.difference(&routed).collect::<Vec<_>>(),
        Vec::<&(String, String)>::new(),
        "documented routes the router does not have"
    );
    // The list is the router's: every route answers, and as its access says.
    for r in routes() {
        let uri = r.path.replace("{id}", "1");
        let method = Method::from_bytes(r.method.as_bytes()).expect("method");
        let resp = call(&e.app, req(method, &uri, None).body(Body::empty()).unwrap()).await;
        match r.access {
            Access::Api => assert_eq!(resp.status, StatusCode::UNAUTHORIZED, "{r:?}"),
            Access::Ui => {
                assert_eq!(resp.status, StatusCode::SEE_OTHER, "{r:?}");
                assert_eq!(resp.headers[header::LOCATION], "/login");
            }
            Access::Open => assert!(
                resp.status != StatusCode::NOT_FOUND
                    && resp.status != StatusCode::METHOD_NOT_ALLOWED
                    && resp.status != StatusCode::UNAUTHORIZED,
                "{r:?}: {}",
                resp.status
            ),
        }
    }
    // Every path the UI pages link to or call is routed, with the method they use.
    let hr = ferret_server::ui::html_routes();
    let mut used = vec![
        ("GET", hr.login.clone()),
        ("POST", hr.login.clone()),
        ("POST", hr.logout.clone()),
        ("GET", hr.tasks.clone()),
        ("GET", hr.submit.clone()),
        ("GET", hr.task.clone()),
        ("GET", hr.api_tasks.clone()),
        ("GET", hr.api_task.clone()),
        ("POST", hr.api_submit_file.clone()),
        ("POST", hr.api_submit_pcap.clone()),
        ("GET", hr.api_events.clone()),
    ];
    used.extend(hr.artifacts.iter().map(|(_, p)| ("GET", p.clone())));
    for (m, p) in used {
        assert!(
            routed.contains(&(m.to_owned(), p.clone())),
            "the UI uses {m} {p}, which the router lacks"
        );
    }

    // The document served is the one in the repo.
    let resp = call(
        &e.app,
        req(Method::GET, "/api/openapi.json", Some(&e.token))
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(resp.status, StatusCode::OK);
    assert_eq!(resp.json(), doc);
}

#[tokio::test]
async fn authentication_is_required_and_checked() {
    let e = env(1 << 20).await;
    let get = |uri: &str, auth: Option<&str>| {
        let mut b = Request::builder().uri(uri);
        if let Some(a) = auth {
            b = b.header(header::AUTHORIZATION, a);
        }
        b.body(Body::empty()).unwrap()
    };
    let r = call(&e.app, get("/healthz", None)).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json()["status"], "ok");

    let r = call(&e.app, get("/api/tasks", None)).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert!(r.headers.contains_key(header::WWW_AUTHENTICATE));
    assert!(r.error().contains("Bearer"), "{}", r.error());

    let r = call(&e.app, get("/api/tasks", Some("Basic dXNlcjpwdw=="))).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert!(r.error().contains("must be 'Bearer"), "{}", r.error());

    let r = call(&e.app, get("/api/tasks", Some("Bearer not-a-token"))).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(r.error(), "invalid or revoked API token");

    let good = format!("Bearer {}", e.token);
    let r = call(&e.app, get("/metrics", Some(&good))).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.text().contains("ferret_queue_length 0"), "{}", r.text());

    // Revocation takes effect at once.
    assert!(e.queue.revoke_token("tester").await.unwrap());
    let r = call(&e.app, get("/api/tasks", Some(&good))).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);

    // Unknown routes and methods: JSON errors too.
    let r = call(&e.app, get("/nope", None)).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(r.error(), "no such route");
}

#[tokio::test]
async fn uploads_are_validated() {
    let e = env(4096).await;
    let t = Some(e.token.as_str());
    let ok = call(
        &e.app,
        upload(
            "/api/tasks/file",
            t,
            multipart(&[
                ("file", Some("../../etc/pass\twd"), b"#!/bin/sh\necho hi\n"),
                ("timeout", None, b"30"),
                ("net", None, b"none"),
                ("arch", None, b"mipsel"),
                ("args", None, b"-v"),
                ("args", None, b"two words"),
            ]),
        ),
    )
    .await;
    assert_eq!(ok.status, StatusCode::CREATED, "{}", ok.text());
    let task = ok.json();
    assert_eq!(task["input_name"], "pass_wd");
    assert_eq!(task["kind"], "file");
    assert_eq!(task["state"], "queued");
    assert_eq!(task["options"]["timeout_secs"], 30);
    assert_eq!(task["options"]["net"], "none");
    assert_eq!(task["options"]["arch"], "mipsel");
    assert_eq!(
        task["options"]["args"],
        serde_json::json!(["-v", "two words"])
    );
    assert_eq!(
        ok.headers[header::LOCATION],
        format!("/api/tasks/{}", task["id"])
    );

    let bad = |parts: Vec<(&'static str, Option<&'static str>, &'static [u8])>| {
        upload("/api/tasks/file", t, multipart(&parts))
    };
    let file: (&str, Option<&str>, &[u8]) = ("file", Some("s"), b"\x7fELF");
    for (parts, status, needle) in [
        (
            vec![file, ("timeout", None, &b"0"[..])],
            400,
            "timeout must be 1 to 3600",
        ),
        (
            vec![file, ("timeout", None, b"ten")],
            400,
            "whole number of seconds",
        ),
        (vec![file, ("net", None, b"wifi")], 400, "net must be"),
        (vec![file, ("arch", None, b"z80")], 400, "arch \"z80\""),
        (vec![file, ("args", None, b"a\0b")], 400, "NUL"),
        (
            vec![file, ("colour", None, b"red")],
            400,
            "unknown field \"colour\"",
        ),
        (
            vec![file, ("net", None, b"none"), ("net", None, b"fake")],
            400,
            "more than once",
        ),
        (
            vec![("timeout", None, b"5")],
            400,
            "missing the 'file' part",
        ),
        (vec![("file", Some("e"), b"")], 400, "empty"),
        (vec![file, file], 400, "more than one 'file'"),
        (
            vec![("file", Some("big"), &[0u8; 5000][..])],
            413,
            "limit of 4096 bytes",
        ),
    ] {
        let r = call(&e.app, bad(parts.clone())).await;
        assert_eq!(r.status.as_u16(), status, "{parts:?}: {}", r.text());
        assert!(r.error().contains(needle), "{parts:?}: {}", r.error());
    }

    // Declared length beyond the limit: refused before reading.
    let r = call(
        &e.app,
        req(Method::POST, "/api/tasks/file", t)
            .header(
                header::CONTENT_TYPE,
                format!("multipart/form-data; boundary={BOUNDARY}"),
            )
            .header(header::CONTENT_LENGTH, (100u64 << 20).to_string())
            .body(Body::from(vec![0u8; 10]))
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE);

    // Malformed multipart: not multipart, bad framing.
    let r = call(
        &e.app,
        req(Method::POST, "/api/tasks/file", t)
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from("{}"))
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.error().contains("multipart/form-data"), "{}", r.error());
    let r = call(
        &e.app,
        upload(
            "/api/tasks/file",
            t,
            b"--ferret-test-boundary-7MA4YWxkTrZu0gW\r\nno headers here".to_vec(),
        ),
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.error().contains("malformed multipart"), "{}", r.error());

    // Captures: options refused, magic checked.
    let r = call(
        &e.app,
        upload(
            "/api/tasks/pcap",
            t,
            multipart(&[("file", Some("x.pcap"), b"hello")]),
        ),
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.error().contains("not a pcap"), "{}", r.error());
    let r = call(
        &e.app,
        upload(
            "/api/tasks/pcap",
            t,
            multipart(&[
                ("file", Some("x.pcap"), &[0xd4, 0xc3, 0xb2, 0xa1]),
                ("timeout", None, b"5"),
            ]),
        ),
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(
        r.error()
            .contains("unknown field \"timeout\" (expected file)"),
        "{}",
        r.error()
    );

    // Only the one good submission was queued.
    let (tasks, total) = e.queue.list(None, 100, 0).await.unwrap();
    assert_eq!((tasks.len(), total), (1, 1));
}

/// Submits, then plays the worker through the queue's own API to store artifacts.
#[tokio::test]
async fn tasks_artifacts_and_event_filtering() {
    let e = env(64 << 20).await;
    let t = Some(e.token.as_str());
    let pcap = std::fs::read(PCAP).expect("shared/data/l7/irc.pcap (see shared/README.md)");
    let r = call(
        &e.app,
        upload(
            "/api/tasks/pcap",
            t,
            multipart(&[("file", Some("irc.pcap"), &pcap)]),
        ),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());
    let pcap_id = r.json()["id"].as_i64().unwrap();
    let r = call(
        &e.app,
        upload(
            "/api/tasks/file",
            t,
            multipart(&[("file", Some("a.sh"), b"#!/bin/sh\n")]),
        ),
    )
    .await;
    let file_id = r.json()["id"].as_i64().unwrap();

    let get = |uri: String| req(Method::GET, &uri, t).body(Body::empty()).unwrap();
    // Artifacts of a queued task: 404 naming the state.
    let r = call(&e.app, get(format!("/api/tasks/{file_id}/report"))).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert!(r.error().contains("state queued"), "{}", r.error());
    // The capture of a pcap task is its input.
    let r = call(&e.app, get(format!("/api/tasks/{pcap_id}/pcap"))).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body, pcap);

    // Lists: filter and paging.
    let r = call(&e.app, get("/api/tasks?state=queued&limit=1".into())).await;
    assert_eq!(r.status, StatusCode::OK);
    let v = r.json();
    assert_eq!(
        (v["total"].as_u64(), v["tasks"].as_array().map(Vec::len)),
        (Some(2), Some(1))
    );
    for (q, needle) in [
        ("state=sleeping", "unknown task state"),
        ("limit=0", "limit must be 1 to 1000"),
        ("limit=x", "bad query string"),
        ("page=2", "unknown field"),
    ] {
        let r = call(&e.app, get(format!("/api/tasks?{q}"))).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{q}");
        assert!(r.error().contains(needle), "{q}: {}", r.error());
    }
    // Unknown tasks.
    for id in ["999999", "abc", "-1", "0"] {
        let r = call(&e.app, get(format!("/api/tasks/{id}"))).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{id}");
        assert!(r.error().contains("no task"), "{}", r.error());
    }

    // The worker's side: lease the file task, complete it with artifacts.
    let lease = loop {
        let l = e
            .queue
            .lease("test-worker", Duration::from_secs(60))
            .await
            .unwrap()
            .expect("a queued task");
        if l.task.id == file_id {
            break l;
        }
        let report = br#"{"sample":{"name":"irc.pcap"},"verdict":"clean","score":0.0}"#;
        let stored = vec![("report.json".to_owned(), report.to_vec())];
        assert!(e.queue.complete(&l, stored, None, None).await.unwrap());
    };
    let events = concat!(
        r#"{"v":1,"num":1,"ts":1,"pid":5,"tid":5,"type":"openat","ret":3,"args":{"dirfd":{"fd":-100},"name":{"path":"/etc/passwd"},"flags":{"flags":{"value":0,"text":"O_RDONLY"}}}}"#,
        "\n",
        r#"{"v":1,"num":2,"ts":2,"pid":5,"tid":5,"type":"read","ret":10,"args":{"fd":{"fd":3},"size":{"uint":10}}}"#,
        "\n",
        r#"{"v":1,"num":3,"ts":3,"pid":5,"tid":5,"type":"unlink","ret":0,"args":{"path":{"path":"/tmp/x"}}}"#,
        "\n"
    );
    assert!(
        e.queue
            .complete(
                &lease,
                vec![
                    ("report.json".into(), br#"{"verdict":"malicious"}"#.to_vec()),
                    ("report.html".into(), b"<!DOCTYPE html><p>r</p>".to_vec()),
                    ("events.jsonl".into(), events.as_bytes().to_vec()),
                    ("dropped.zip".into(), b"PK\x05\x06zip".to_vec()),
                ],
                Some("malicious".into()),
                Some(9.5),
            )
            .await
            .unwrap()
    );
    let r = call(&e.app, get(format!("/api/tasks/{file_id}"))).await;
    assert_eq!(r.json()["state"], "done");
    assert_eq!(r.json()["verdict"], "malicious");
    let r = call(&e.app, get(format!("/api/tasks/{file_id}/report"))).await;
    assert_eq!(r.json()["verdict"], "malicious");
    let r = call(&e.app, get(format!("/api/tasks/{file_id}/report.html"))).await;
    assert!(
        r.headers[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    assert!(r.headers.contains_key(header::CONTENT_SECURITY_POLICY));
    // Without a stored report.html, the page is rendered from report.json.
    let r = call(&e.app, get(format!("/api/tasks/{pcap_id}/report.html"))).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert!(r.text().contains("irc.pcap") && r.text().contains("<html"));
    let r = call(&e.app, get(format!("/api/tasks/{file_id}/dropped"))).await;
    assert_eq!(r.headers[header::CONTENT_TYPE], "application/zip");
    assert!(
        r.headers[header::CONTENT_DISPOSITION]
            .to_str()
            .unwrap()
            .contains(&format!("task-{file_id}-dropped.zip"))
    );
    let r = call(&e.app, get(format!("/api/tasks/{file_id}/pcap"))).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert!(r.error().contains("no capture"), "{}", r.error());

    // Events: all, paged, filtered (the read resolves fd 3 to /etc/passwd through the
    // state machine), bad filters with their column.
    let r = call(&e.app, get(format!("/api/tasks/{file_id}/events"))).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.headers["x-total-count"], "3");
    assert_eq!(r.body, events.as_bytes());
    let r = call(
        &e.app,
        get(format!("/api/tasks/{file_id}/events?limit=1&offset=2")),
    )
    .await;
    assert_eq!(r.headers["x-total-count"], "3");
    assert!(r.text().contains("unlink") && r.text().lines().count() == 1);
    let f = "fd.name%20%3D%20%2Fetc%2Fpasswd";
    let r = call(
        &e.app,
        get(format!("/api/tasks/{file_id}/events?filter={f}")),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(r.headers["x-total-count"], "2", "{}", r.text());
    let types: Vec<String> = r
        .text()
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["type"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(types, ["openat", "read"]);
    let r = call(
        &e.app,
        get(format!(
            "/api/tasks/{file_id}/events?filter=evt.type%20%3D%20openat%20and%20("
        )),
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let col = r.json()["column"].as_u64().expect("column");
    assert!(col >= 20, "{}", r.text());
    assert!(
        r.error().contains(&format!("column {col}")),
        "{}",
        r.error()
    );
    let r = call(
        &e.app,
        get(format!("/api/tasks/{file_id}/events?filter=evt.tpye%3Dx")),
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.error().contains("evt.tpye"), "{}", r.error());

    // Metrics see the completed tasks.
    let r = call(&e.app, get("/metrics".into())).await;
    assert!(
        r.text().contains("ferret_tasks{state=\"done\"} 2"),
        "{}",
        r.text()
    );
    assert!(
        r.text()
            .contains("ferret_worker_last_heartbeat_timestamp_seconds{worker=\"test-worker\"}"),
        "{}",
        r.text()
    );

    // The UI's task page renders the report inside the chrome; unknown tasks get a
    // 404 page.
    let r = call(&e.app, get(format!("/tasks/{file_id}"))).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.text().contains("malicious"), "{}", r.text());
    assert!(r.text().contains(&format!("/api/tasks/{file_id}/dropped")));
    let r = call(&e.app, get("/tasks/424242".into())).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert!(r.text().contains("no task 424242"));
    let r = call(&e.app, get(format!("/tasks/{pcap_id}"))).await;
    assert_eq!(r.status, StatusCode::OK);

    // Delete.
    let del = |id: i64| {
        req(Method::DELETE, &format!("/api/tasks/{id}"), t)
            .body(Body::empty())
            .unwrap()
    };
    assert_eq!(
        call(&e.app, del(file_id)).await.status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        call(&e.app, del(file_id)).await.status,
        StatusCode::NOT_FOUND
    );
    let r = call(&e.app, get(format!("/api/tasks/{file_id}/events"))).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn web_ui_sessions_and_csrf() {
    let e = env(1 << 20).await;
    let form = |uri: &str, body: String| {
        Request::builder()
            .method(Method::POST)
            .uri(uri)
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from(body))
            .unwrap()
    };
    let r = call(
        &e.app,
        Request::builder()
            .uri("/tasks")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    let r = call(&e.app, form("/login", "token=wrong".into())).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert!(r.headers.get(header::SET_COOKIE).is_none());
    // A cross-site login post is refused.
    let mut cross = form("/login", format!("token={}", e.token));
    cross
        .headers_mut()
        .insert(header::ORIGIN, "http://evil.example".parse().unwrap());
    cross
        .headers_mut()
        .insert(header::HOST, "127.0.0.1:8080".parse().unwrap());
    assert_eq!(call(&e.app, cross).await.status, StatusCode::FORBIDDEN);

    let r = call(&e.app, form("/login", format!("token={}", e.token))).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(r.headers[header::LOCATION], "/tasks");
    let set = r.headers[header::SET_COOKIE].to_str().unwrap().to_owned();
    for attr in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(set.contains(attr), "{set}");
    }
    let cookie = set.split(';').next().unwrap().to_owned();
    let with_cookie = |method: Method, uri: &str| {
        Request::builder()
            .method(method)
            .uri(uri)
            .header(header::COOKIE, cookie.clone())
    };
    let r = call(
        &e.app,
        with_cookie(Method::GET, "/tasks")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(
        r.headers[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let r = call(
        &e.app,
        with_cookie(Method::GET, "/api/tasks")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);

    // A state change with the cookie needs the CSRF token.
    let body = multipart(&[("file", Some("a"), b"#!/bin/sh\n")]);
    let ct = format!("multipart/form-data; boundary={BOUNDARY}");
    let r = call(
        &e.app,
        with_cookie(Method::POST, "/api/tasks/file")
            .header(header::CONTENT_TYPE, ct.clone())
            .body(Body::from(body.clone()))
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert!(r.error().contains("X-CSRF-Token"), "{}", r.error());
    let r = call(
        &e.app,
        with_cookie(Method::POST, "/api/tasks/file")
            .header(header::CONTENT_TYPE, ct.clone())
            .header("x-csrf-token", "0".repeat(64))
            .body(Body::from(body.clone()))
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    // The pages carry the session's CSRF token (for their scripts and forms).
    let page = call(
        &e.app,
        with_cookie(Method::GET, "/submit")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    let csrf = hex64(&page.text()).expect("a CSRF token in the submit page");
    let r = call(
        &e.app,
        with_cookie(Method::POST, "/api/tasks/file")
            .header(header::CONTENT_TYPE, ct)
            .header("x-csrf-token", csrf.clone())
            .body(Body::from(body))
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text());

    // Logout needs the token too; a wrong one changes nothing.
    let logout = |token: &str| {
        with_cookie(Method::POST, "/logout")
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from(format!("csrf={token}")))
            .unwrap()
    };
    assert_eq!(
        call(&e.app, logout("nope")).await.status,
        StatusCode::FORBIDDEN
    );
    let r = call(
        &e.app,
        with_cookie(Method::GET, "/tasks")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    let r = call(&e.app, logout(&csrf)).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert!(
        r.headers[header::SET_COOKIE]
            .to_str()
            .unwrap()
            .contains("Max-Age=0")
    );
    let r = call(
        &e.app,
        with_cookie(Method::GET, "/api/tasks")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);

    // A new session; revoking its token ends it.
    let r = call(&e.app, form("/login", format!("token={}", e.token))).await;
    let cookie = r.headers[header::SET_COOKIE]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let with_cookie = |method: Method, uri: &str| {
        Request::builder()
            .method(method)
            .uri(uri)
            .header(header::COOKIE, cookie.clone())
    };
    let r = call(
        &e.app,
        with_cookie(Method::GET, "/tasks")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    // Revoking the token ends the session.
    assert!(e.queue.revoke_token("tester").await.unwrap());
    let r = call(
        &e.app,
        with_cookie(Method::GET, "/tasks")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert!(
        r.headers[header::SET_COOKIE]
            .to_str()
            .unwrap()
            .contains("Max-Age=0")
    );
    let r = call(
        &e.app,
        with_cookie(Method::GET, "/api/tasks")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
}

/// The first run of exactly 64 lowercase hex digits in `s`.
fn hex64(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        let start = i;
        while i < b.len() && matches!(b[i], b'0'..=b'9' | b'a'..=b'f') {
            i += 1;
        }
        if i - start == 64 {
            return Some(s[start..i].to_owned());
        }
        i = i.max(start + 1);
    }
    None
}
