//! The JSON API handlers (`/api/...`, `/healthz`, `/metrics`).

use std::time::{SystemTime, UNIX_EPOCH};

use axum::Json;
use axum::extract::multipart::MultipartRejection;
use axum::extract::{Multipart, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use ferret_queue::{TaskInfo, TaskKind, TaskOptions, TaskState, artifact};
use serde::Deserialize;
use serde_json::json;

use crate::error::{ApiError, ApiResult, queue_error};
use crate::extract::{Q, TaskId};
use crate::upload::{self, ArgsField, RawOptions, Rules, Upload};
use crate::{AppState, OPENAPI, bytes_response, events, metrics};

/// Content-Security-Policy of served HTML: the pages are self-contained (inline
/// script and style, data: images and fonts) and may only talk back to this server.
pub const HTML_CSP: &str = "default-src 'none'; script-src 'unsafe-inline'; \
    style-src 'unsafe-inline'; img-src 'self' data: blob:; font-src data:; \
    connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

/// Tasks per page when the client names no limit.
const DEFAULT_PAGE: u32 = 50;
/// Largest page of tasks.
const MAX_PAGE: u32 = 1000;
/// Longest filter expression, bytes.
const MAX_FILTER: usize = 16 << 10;

fn db<T>(what: &str, r: ferret_queue::Result<T>) -> ApiResult<T> {
    r.map_err(|e| queue_error(what, e))
}

/// `GET /healthz`: the process is up (no authentication).
pub async fn healthz() -> Json<serde_json::Value> {
    Json(json!({ "status": "ok" }))
}

/// `GET /metrics`: Prometheus text format.
pub async fn metrics(State(st): State<AppState>) -> ApiResult<Response> {
    let stats = db("reading statistics", st.queue().stats().await)?;
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0);
    let snap = metrics::Snapshot {
        by_state: stats
            .by_state
            .iter()
            .map(|(s, n)| (s.as_str(), *n))
            .collect(),
        queue_len: stats.queue_len,
        durations_ms: &stats.durations_ms,
        workers: &stats.workers,
        now_ms,
    };
    let text = metrics::render(&snap, &st.inner.http);
    Ok(bytes_response(
        "text/plain; version=0.0.4; charset=utf-8",
        text.into_bytes(),
    ))
}

/// `GET /api/openapi.json`.
pub async fn openapi() -> Response {
    bytes_response("application/json", OPENAPI.as_bytes().to_vec())
}

/// Query of `GET /api/tasks`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// Only tasks in this state.
    pub state: Option<String>,
    /// Page size (1..=1000, default 50).
    pub limit: Option<u32>,
    /// Tasks skipped (newest first).
    pub offset: Option<u64>,
}

/// Parses a page size.
fn page_limit(limit: Option<u32>) -> ApiResult<u32> {
    match limit {
        None => Ok(DEFAULT_PAGE),
        Some(n @ 1..=MAX_PAGE) => Ok(n),
        Some(n) => Err(ApiError::bad_request(format!(
            "limit must be 1 to {MAX_PAGE}, got {n}"
        ))),
    }
}

/// Parses a `state` filter.
pub fn parse_state(s: Option<&str>) -> ApiResult<Option<TaskState>> {
    match s {
        None | Some("") => Ok(None),
        Some(s) => s.parse().map(Some).map_err(ApiError::bad_request),
    }
}

/// `GET /api/tasks?state=&limit=&offset=`.
pub async fn list_tasks(
    State(st): State<AppState>,
    Q(q): Q<ListQuery>,
) -> ApiResult<Json<serde_json::Value>> {
    let state = parse_state(q.state.as_deref())?;
    let limit = page_limit(q.limit)?;
    let offset = q.offset.unwrap_or(0);
    let (tasks, total) = db("listing tasks", st.queue().list(state, limit, offset).await)?;
    Ok(Json(json!({
        "tasks": tasks,
        "total": total,
        "limit": limit,
        "offset": offset,
    })))
}

/// Task options from raw form fields, validated (400 with the reason).
pub fn task_options(raw: RawOptions) -> ApiResult<TaskOptions> {
    let mut o = TaskOptions::default();
    if let Some(t) = raw.timeout_secs {
        o.timeout_secs = t;
    }
    if let Some(n) = raw.net {
        o.net = n;
    }
    o.arch = raw.arch;
    o.args = raw.args;
    o.validate().map_err(ApiError::bad_request)?;
    Ok(o)
}

/// Rules of an API upload of `kind`.
pub fn upload_rules(st: &AppState, kind: TaskKind, args: ArgsField, csrf: bool) -> Rules {
    Rules {
        limit: st.config().upload_limit,
        options: kind == TaskKind::File,
        args,
        csrf_field: csrf,
    }
}

/// Queues the task of an upload.
pub async fn submit(st: &AppState, kind: TaskKind, up: Upload) -> ApiResult<TaskInfo> {
    let options = match kind {
        TaskKind::File => task_options(up.options)?,
        TaskKind::Pcap => {
            if !upload::is_capture(&up.data) {
                return Err(ApiError::bad_request(
                    "the file is not a pcap or pcapng capture (unknown magic number)",
                ));
            }
            TaskOptions::default()
        }
    };
    db(
        "submitting the task",
        st.queue().submit(kind, options, &up.name, up.data).await,
    )
}

fn created(task: &TaskInfo) -> Response {
    let mut resp = (StatusCode::CREATED, Json(task)).into_response();
    if let Ok(v) = HeaderValue::from_str(&format!("/api/tasks/{}", task.id)) {
        resp.headers_mut().insert(header::LOCATION, v);
    }
    resp
}

async fn create(
    st: AppState,
    kind: TaskKind,
    headers: &HeaderMap,
    mp: Result<Multipart, MultipartRejection>,
) -> ApiResult<Response> {
    upload::check_length(headers, st.config().upload_limit)?;
    let up = upload::read(mp, upload_rules(&st, kind, ArgsField::PerPart, false)).await?;
    let task = submit(&st, kind, up).await?;
    Ok(created(&task))
}

/// `POST /api/tasks/file`: multipart `file` plus `timeout`, `net`, `arch`, `args`.
pub async fn create_file_task(
    State(st): State<AppState>,
    headers: HeaderMap,
    mp: Result<Multipart, MultipartRejection>,
) -> ApiResult<Response> {
    create(st, TaskKind::File, &headers, mp).await
}

/// `POST /api/tasks/pcap`: multipart `file` (a pcap or pcapng capture).
pub async fn create_pcap_task(
    State(st): State<AppState>,
    headers: HeaderMap,
    mp: Result<Multipart, MultipartRejection>,
) -> ApiResult<Response> {
    create(st, TaskKind::Pcap, &headers, mp).await
}

/// The task `id`, or 404.
pub async fn task(st: &AppState, id: i64) -> ApiResult<TaskInfo> {
    db("reading the task", st.queue().get(id).await)?
        .ok_or_else(|| ApiError::not_found(format!("no task {id}")))
}

/// `GET /api/tasks/{id}`.
pub async fn get_task(State(st): State<AppState>, TaskId(id): TaskId) -> ApiResult<Response> {
    Ok(Json(task(&st, id).await?).into_response())
}

/// `DELETE /api/tasks/{id}`: the task, its input and artifacts.
pub async fn delete_task(State(st): State<AppState>, TaskId(id): TaskId) -> ApiResult<StatusCode> {
    if db("deleting the task", st.queue().delete(id).await)? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found(format!("no task {id}")))
    }
}

/// Artifact `name` of task `id`; 404 naming the task's state when it has none.
pub async fn artifact_data(st: &AppState, id: i64, name: &str, what: &str) -> ApiResult<Vec<u8>> {
    if let Some(d) = db("reading the artifact", st.queue().artifact(id, name).await)? {
        return Ok(d);
    }
    let t = task(st, id).await?;
    Err(ApiError::not_found(match t.state {
        TaskState::Done => format!("task {id} has no {what}"),
        s => format!("task {id} has no {what} yet (state {s})"),
    }))
}

fn download(content_type: &'static str, id: i64, name: &str, body: Vec<u8>) -> Response {
    let mut resp = bytes_response(content_type, body);
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"task-{id}-{name}\"")) {
        resp.headers_mut().insert(header::CONTENT_DISPOSITION, v);
    }
    resp
}

/// An HTML response with the service's content security policy.
pub fn html(body: String) -> Response {
    let mut resp = bytes_response("text/html; charset=utf-8", body.into_bytes());
    resp.headers_mut().insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(HTML_CSP),
    );
    resp
}

/// `GET /api/tasks/{id}/report`: report.json.
pub async fn report_json(State(st): State<AppState>, TaskId(id): TaskId) -> ApiResult<Response> {
    let d = artifact_data(&st, id, artifact::REPORT_JSON, "report").await?;
    Ok(bytes_response("application/json", d))
}

/// `GET /api/tasks/{id}/report.html`: the self-contained report page, as the worker
/// stored it, or rendered here from report.json and events.jsonl when it stored none.
pub async fn report_html(State(st): State<AppState>, TaskId(id): TaskId) -> ApiResult<Response> {
    let q = st.queue();
    if let Some(d) = db(
        "reading the HTML report",
        q.artifact(id, artifact::REPORT_HTML).await,
    )? {
        let text =
            String::from_utf8(d).map_err(|e| ApiError::internal("reading the HTML report", e))?;
        return Ok(html(text));
    }
    let report = artifact_data(&st, id, artifact::REPORT_JSON, "report").await?;
    let report: serde_json::Value =
        serde_json::from_slice(&report).map_err(|e| ApiError::internal("reading the report", e))?;
    let events = db(
        "reading the events",
        q.artifact(id, artifact::EVENTS_JSONL).await,
    )?;
    let page = tokio::task::spawn_blocking(move || {
        ferret_html::report_page(
            &report,
            events.as_deref(),
            &ferret_html::ReportPage::default(),
        )
    })
    .await
    .map_err(|e| ApiError::internal("rendering the HTML report", e))?;
    Ok(html(page))
}

/// `GET /api/tasks/{id}/pcap`: the capture of the detonation, or the submitted capture
/// of a pcap task.
pub async fn pcap(State(st): State<AppState>, TaskId(id): TaskId) -> ApiResult<Response> {
    if let Some(d) = db(
        "reading the capture",
        st.queue().artifact(id, artifact::CAPTURE_PCAP).await,
    )? {
        return Ok(download(
            "application/vnd.tcpdump.pcap",
            id,
            "capture.pcap",
            d,
        ));
    }
    let t = task(&st, id).await?;
    if t.kind == TaskKind::Pcap
        && let Some(d) = db("reading the capture", st.queue().input(id).await)?
    {
        return Ok(download(
            "application/vnd.tcpdump.pcap",
            id,
            "capture.pcap",
            d,
        ));
    }
    Err(ApiError::not_found(match t.state {
        TaskState::Done => format!("task {id} has no capture"),
        s => format!("task {id} has no capture yet (state {s})"),
    }))
}

/// `GET /api/tasks/{id}/dropped`: the dropped files, zip encrypted with `infected`.
pub async fn dropped(State(st): State<AppState>, TaskId(id): TaskId) -> ApiResult<Response> {
    let d = artifact_data(&st, id, artifact::DROPPED_ZIP, "dropped-files archive").await?;
    Ok(download("application/zip", id, "dropped.zip", d))
}

/// Query of `GET /api/tasks/{id}/events`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventsQuery {
    /// sysdig/Falco filter expression.
    pub filter: Option<String>,
    /// Events per page (1..=100000, default 1000).
    pub limit: Option<u64>,
    /// Matching events skipped.
    pub offset: Option<u64>,
}

/// `GET /api/tasks/{id}/events?filter=&limit=&offset=`: JSON lines, the matching count
/// in `X-Total-Count`.
pub async fn events(
    State(st): State<AppState>,
    TaskId(id): TaskId,
    Q(q): Q<EventsQuery>,
) -> ApiResult<Response> {
    let limit = match q.limit {
        None => events::DEFAULT_LIMIT,
        Some(n @ 1..=events::MAX_LIMIT) => n,
        Some(n) => {
            return Err(ApiError::bad_request(format!(
                "limit must be 1 to {}, got {n}",
                events::MAX_LIMIT
            )));
        }
    };
    let offset = q.offset.unwrap_or(0);
    let filter = match q.filter.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(f) if f.len() > MAX_FILTER => {
            return Err(ApiError::bad_request(format!(
                "filter longer than {MAX_FILTER} bytes"
            )));
        }
        Some(f) => Some(events::compile(f)?),
    };
    let data = artifact_data(&st, id, artifact::EVENTS_JSONL, "events").await?;
    let page =
        tokio::task::spawn_blocking(move || events::page(&data, filter.as_ref(), offset, limit))
            .await
            .map_err(|e| ApiError::internal("filtering events", e))??;
    let mut resp = bytes_response("application/x-ndjson", page.body);
    let h = resp.headers_mut();
    h.insert("x-total-count", HeaderValue::from(page.total));
    h.insert("x-returned-count", HeaderValue::from(page.returned));
    Ok(resp)
}
