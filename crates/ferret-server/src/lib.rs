//! `ferret serve`'s HTTP service: the REST API, authentication, limits, `/metrics`,
//! the OpenAPI document and the web-UI routes.
//!
//! * [`router`] builds the axum [`Router`] over an [`AppState`] (the task queue from
//!   ferret-queue, the configuration, the session store).
//! * [`serve`] runs it on a bound listener until a shutdown future resolves.
//! * [`ROUTES`]/[`routes`]: every route the router has, as (method, path), which the
//!   tests compare with `docs/openapi.json` ([`OPENAPI`]).
//!
//! Every error is a JSON body `{"error": "..."}` ([`ApiError`]); every route but
//! `/healthz` needs a bearer token or a web-UI session (see [`auth`]).

pub mod api;
pub mod auth;
pub mod error;
pub mod events;
pub mod extract;
pub mod metrics;
pub mod ui;
pub mod upload;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, delete, get, post};
use ferret_queue::Queue;

pub use error::{ApiError, ApiResult};

/// The OpenAPI 3 document (`docs/openapi.json`), served at `/api/openapi.json`.
pub const OPENAPI: &str = include_str!("../../../docs/openapi.json");

/// Settings of the HTTP service.
#[derive(Debug, Clone)]
pub struct Config {
    /// Largest uploaded file, bytes (413 beyond).
    pub upload_limit: u64,
    /// Lifetime of a web-UI session.
    pub session_ttl: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            upload_limit: upload::DEFAULT_UPLOAD_LIMIT,
            session_ttl: Duration::from_secs(12 * 3600),
        }
    }
}

#[derive(Debug)]
struct Inner {
    queue: Queue,
    config: Config,
    sessions: auth::Sessions,
    http: metrics::HttpCounters,
}

/// State shared by the handlers (cheap to clone).
#[derive(Debug, Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

impl AppState {
    /// State over `queue` with `config`.
    pub fn new(queue: Queue, config: Config) -> AppState {
        let sessions = auth::Sessions::new(config.session_ttl);
        AppState {
            inner: Arc::new(Inner {
                queue,
                config,
                sessions,
                http: metrics::HttpCounters::default(),
            }),
        }
    }

    /// The task queue.
    pub fn queue(&self) -> &Queue {
        &self.inner.queue
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    /// The name of the token whose secret is `secret`, if it is valid.
    async fn verify(&self, secret: &str) -> ApiResult<Option<String>> {
        match self.inner.queue.verify_token(secret).await {
            Ok(t) => Ok(t.map(|t| t.name)),
            Err(e) => Err(error::queue_error("token verification", e)),
        }
    }
}

/// Who may call a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone (`/healthz`, the login page).
    Open,
    /// A bearer token or a session; JSON 401 without.
    Api,
    /// A session or a bearer token; browsers without are sent to `/login`.
    Ui,
}

/// One route: method, path (axum syntax, `{id}`) and access.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RouteInfo {
    /// HTTP method.
    pub method: &'static str,
    /// Path, with `{param}` placeholders as in OpenAPI.
    pub path: &'static str,
    /// Who may call it.
    pub access: Access,
}

/// Records every route as it is added, so the list cannot drift from the router.
struct Table {
    open: Router<AppState>,
    api: Router<AppState>,
    ui: Router<AppState>,
    routes: Vec<RouteInfo>,
}

impl Table {
    fn add(
        mut self,
        access: Access,
        method: &'static str,
        path: &'static str,
        h: MethodRouter<AppState>,
    ) -> Table {
        let r = match access {
            Access::Open => &mut self.open,
            Access::Api => &mut self.api,
            Access::Ui => &mut self.ui,
        };
        *r = std::mem::take(r).route(path, h);
        self.routes.push(RouteInfo {
            method,
            path,
            access,
        });
        self
    }
}

fn table(upload_body_limit: usize) -> Table {
    use Access::{Api, Open, Ui};
    let upload_limit = DefaultBodyLimit::max(upload_body_limit);
    Table {
        open: Router::new(),
        api: Router::new(),
        ui: Router::new(),
        routes: Vec::new(),
    }
    .add(Open, "GET", "/healthz", get(api::healthz))
    .add(Api, "GET", "/metrics", get(api::metrics))
    .add(Api, "GET", "/api/openapi.json", get(api::openapi))
    .add(Api, "GET", "/api/tasks", get(api::list_tasks))
    .add(
        Api,
        "POST",
        "/api/tasks/file",
        post(api::create_file_task).layer(upload_limit),
    )
    .add(
        Api,
        "POST",
        "/api/tasks/pcap",
        post(api::create_pcap_task).layer(upload_limit),
    )
    .add(Api, "GET", "/api/tasks/{id}", get(api::get_task))
    .add(Api, "DELETE", "/api/tasks/{id}", delete(api::delete_task))
    .add(Api, "GET", "/api/tasks/{id}/report", get(api::report_json))
    .add(
        Api,
        "GET",
        "/api/tasks/{id}/report.html",
        get(api::report_html),
    )
    .add(Api, "GET", "/api/tasks/{id}/pcap", get(api::pcap))
    .add(Api, "GET", "/api/tasks/{id}/events", get(api::events))
    .add(Api, "GET", "/api/tasks/{id}/dropped", get(api::dropped))
    .add(Open, "GET", "/", get(ui::root))
    .add(Open, "GET", "/login", get(ui::login_page))
    .add(Open, "POST", "/login", post(ui::login))
    .add(Open, "POST", "/logout", post(ui::logout))
    .add(Ui, "GET", "/tasks", get(ui::tasks_page))
    .add(Ui, "GET", "/tasks/{id}", get(ui::task_page))
    .add(Ui, "GET", "/submit", get(ui::submit_page))
}

/// Every route of the router, in registration order.
pub fn routes() -> Vec<RouteInfo> {
    table(0).routes
}

/// Counts responses for `/metrics` and sets headers every response gets.
async fn common_headers(State(st): State<AppState>, req: Request, next: Next) -> Response {
    let mut resp = next.run(req).await;
    st.inner.http.record(resp.status().as_u16());
    let h = resp.headers_mut();
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    resp
}

async fn not_found() -> ApiError {
    ApiError::not_found("no such route")
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method not allowed on this route",
    )
}

/// The router of the whole service over `state`.
pub fn router(state: AppState) -> Router {
    let body = usize::try_from(
        state
            .inner
            .config
            .upload_limit
            .saturating_add(upload::FORM_OVERHEAD),
    )
    .unwrap_or(usize::MAX);
    let t = table(body);
    let api = t.api.route_layer(middleware::from_fn_with_state(
        state.clone(),
        auth::api_auth,
    ));
    let ui =
        t.ui.route_layer(middleware::from_fn_with_state(state.clone(), auth::ui_auth));
    t.open
        .merge(api)
        .merge(ui)
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn_with_state(
            state.clone(),
            common_headers,
        ))
        .with_state(state)
}

/// Whether `addr` is reachable from this machine only.
pub fn is_loopback(addr: &SocketAddr) -> bool {
    addr.ip().is_loopback()
}

/// Connections waiting to be accepted at most (the kernel caps it at
/// `net.core.somaxconn`). The standard library's 128 overflows when a few hundred clients
/// connect at once, and each overflowed client waits for a SYN retransmission (1 s).
pub const LISTEN_BACKLOG: u32 = 1024;

/// Binds a listener on `addr` (with `SO_REUSEADDR`, as `TcpListener::bind` sets it, and a
/// backlog of [`LISTEN_BACKLOG`]). Call it inside a tokio runtime.
pub fn bind(addr: SocketAddr) -> std::io::Result<tokio::net::TcpListener> {
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(LISTEN_BACKLOG)
}

/// Serves `state` on `listener` until `shutdown` resolves; in-flight requests finish.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown)
        .await
}

/// A response with `content_type` and `body`.
pub(crate) fn bytes_response(content_type: &'static str, body: Vec<u8>) -> Response {
    ([(header::CONTENT_TYPE, content_type)], body).into_response()
}
