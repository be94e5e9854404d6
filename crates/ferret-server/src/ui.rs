//! The web-UI routes: login/logout (session cookie) and the pages, whose HTML comes
//! from ferret-html. The pages talk to the JSON API with the session cookie and send
//! the session's CSRF token with every state-changing request.

use std::sync::Arc;

use axum::Extension;
use axum::extract::rejection::FormRejection;
use axum::extract::{Form, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use ferret_html::ui;
use ferret_queue::{TaskKind, TaskOptions, TaskState, artifact};
use serde::Deserialize;

use crate::AppState;
use crate::api::{self, html};
use crate::auth::{self, Principal};
use crate::error::{ApiError, ApiResult, queue_error};
use crate::extract::TaskId;

/// How often the task list polls the API, ms.
const POLL_MS: u32 = 2000;

/// The UI's view of the router's paths (the same paths as [`crate::routes`]; a test
/// checks each is routed).
pub fn html_routes() -> ui::Routes {
    ui::Routes::default()
}

fn session(p: &Principal) -> ui::Session<'_> {
    ui::Session {
        user: &p.token_name,
        // Bearer-token clients need no CSRF token: browsers do not send bearer tokens
        // on their own.
        csrf: p.session.as_ref().map_or("", |s| s.csrf.as_str()),
    }
}

/// `GET /`: to the task list (which sends browsers without a session to the login).
pub async fn root() -> Redirect {
    Redirect::to("/tasks")
}

/// `GET /login`.
pub async fn login_page() -> Response {
    html(ui::login_page(&html_routes(), None))
}

/// Form of `POST /login`.
#[derive(Debug, Deserialize)]
pub struct LoginForm {
    /// The API token.
    pub token: String,
}

/// `POST /login`: opens a session for a valid token.
pub async fn login(
    State(st): State<AppState>,
    headers: HeaderMap,
    form: Result<Form<LoginForm>, FormRejection>,
) -> ApiResult<Response> {
    // Login CSRF: a form posted from another site must not log the browser in.
    auth::check_origin(&headers)?;
    let Form(form) = form.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let secret = form.token.trim();
    if st.verify(secret).await?.is_none() {
        let mut resp = html(ui::login_page(
            &html_routes(),
            Some("invalid or revoked API token"),
        ));
        *resp.status_mut() = StatusCode::UNAUTHORIZED;
        return Ok(resp);
    }
    let session = st.inner.sessions.create(secret)?;
    let mut resp = Redirect::to("/tasks").into_response();
    resp.headers_mut().insert(
        header::SET_COOKIE,
        auth::session_cookie(&session.id, st.inner.sessions.ttl()),
    );
    Ok(resp)
}

/// Form of `POST /logout`.
#[derive(Debug, Deserialize)]
pub struct LogoutForm {
    /// The session's CSRF token.
    pub csrf: String,
}

/// `POST /logout`: ends the session (its CSRF token required) and clears the cookie.
pub async fn logout(
    State(st): State<AppState>,
    headers: HeaderMap,
    form: Result<Form<LogoutForm>, FormRejection>,
) -> ApiResult<Response> {
    auth::check_origin(&headers)?;
    let Form(form) = form.map_err(|e| ApiError::bad_request(e.body_text()))?;
    if let Some(id) = auth::cookie_value(&headers) {
        match st.inner.sessions.csrf(id) {
            Some(csrf) if auth::secret_eq(&form.csrf, &csrf) => st.inner.sessions.remove(id),
            Some(_) => return Err(ApiError::forbidden("wrong CSRF token")),
            None => {}
        }
    }
    let mut resp = Redirect::to("/login").into_response();
    resp.headers_mut()
        .insert(header::SET_COOKIE, auth::clear_cookie());
    Ok(resp)
}

/// `GET /tasks`: the task list (live status by polling the API).
pub async fn tasks_page(Extension(p): Extension<Arc<Principal>>) -> Response {
    html(ui::tasks_page(&html_routes(), session(&p), POLL_MS))
}

/// `GET /submit`: the submission form.
pub async fn submit_page(
    State(st): State<AppState>,
    Extension(p): Extension<Arc<Principal>>,
) -> Response {
    let form = ui::SubmitForm {
        max_upload_bytes: st.config().upload_limit,
        arches: ferret_emu::Arch::all()
            .map(|a| a.name().to_owned())
            .collect(),
        default_timeout_secs: TaskOptions::default().timeout_secs,
        max_timeout_secs: ferret_queue::MAX_TIMEOUT_SECS,
    };
    html(ui::submit_page(&html_routes(), session(&p), &form))
}

/// `GET /tasks/{id}`: the report page of a finished task, the waiting page otherwise.
pub async fn task_page(
    State(st): State<AppState>,
    TaskId(id): TaskId,
    Extension(p): Extension<Arc<Principal>>,
) -> Response {
    match render_task(&st, id, &p).await {
        Ok(r) => r,
        Err(e) => {
            let mut resp = html(ui::error_page(
                &html_routes(),
                Some(session(&p)),
                e.status.as_u16(),
                &e.message,
            ));
            *resp.status_mut() = e.status;
            resp
        }
    }
}

async fn render_task(st: &AppState, id: i64, p: &Principal) -> ApiResult<Response> {
    let task = api::task(st, id).await?;
    let task_json =
        serde_json::to_value(&task).map_err(|e| ApiError::internal("rendering the task", e))?;
    let q = st.queue();
    let artifacts = q
        .artifacts(id)
        .await
        .map_err(|e| queue_error("listing artifacts", e))?;
    let mut names: Vec<&str> = artifacts.iter().map(|a| a.name.as_str()).collect();
    if task.kind == TaskKind::Pcap && !names.contains(&artifact::CAPTURE_PCAP) {
        // The capture of a pcap task is its input, served by the same route.
        names.push(artifact::CAPTURE_PCAP);
    }
    let routes = html_routes();
    let links = routes.downloads(id, &names);
    let (report, events) = if task.state == TaskState::Done {
        let report = match q.artifact(id, artifact::REPORT_JSON).await {
            Ok(Some(r)) => Some(
                serde_json::from_slice::<serde_json::Value>(&r)
                    .map_err(|e| ApiError::internal("reading the report", e))?,
            ),
            Ok(None) => None,
            Err(e) => return Err(queue_error("reading the report", e)),
        };
        let events = q
            .artifact(id, artifact::EVENTS_JSONL)
            .await
            .map_err(|e| queue_error("reading the events", e))?;
        (report, events)
    } else {
        (None, None)
    };
    let user = p.token_name.clone();
    let csrf = session(p).csrf.to_owned();
    // Large reports take a while to render: off the async threads.
    let page = tokio::task::spawn_blocking(move || {
        ui::task_page(
            &routes,
            ui::Session {
                user: &user,
                csrf: &csrf,
            },
            &task_json,
            report.as_ref(),
            events.as_deref(),
            &links,
            &ferret_html::ReportPage::default(),
        )
    })
    .await
    .map_err(|e| ApiError::internal("rendering the task page", e))?;
    Ok(html(page))
}
