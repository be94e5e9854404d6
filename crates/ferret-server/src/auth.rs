//! Authentication: bearer API tokens (verified by ferret-queue, stored hashed there) and
//! server-side web-UI sessions with a per-session CSRF token.
//!
//! A session keeps the token it was opened with and re-verifies it on every request,
//! so revoking a token (`ferret token revoke`) also ends the sessions opened with it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use subtle::ConstantTimeEq;

use crate::AppState;
use crate::error::ApiError;

/// Name of the session cookie.
pub const COOKIE: &str = "ferret_session";
/// Header carrying the CSRF token of cookie-authenticated scripted requests.
pub const CSRF_HEADER: &str = "x-csrf-token";
/// Sessions kept at most; beyond, the one expiring first is dropped.
const MAX_SESSIONS: usize = 10_000;

/// Who made a request; put in the request extensions by the auth middlewares.
#[derive(Debug, Clone)]
pub struct Principal {
    /// Name of the API token.
    pub token_name: String,
    /// The web-UI session, when the request authenticated with the cookie.
    pub session: Option<SessionRef>,
}

/// A session's id and CSRF token.
#[derive(Debug, Clone)]
pub struct SessionRef {
    /// Session id (the cookie value).
    pub id: String,
    /// CSRF token the session's forms and scripts must send back.
    pub csrf: String,
}

#[derive(Debug, Clone)]
struct Session {
    secret: String,
    csrf: String,
    expires: Instant,
}

/// The server-side session store (in memory: sessions end with the process).
#[derive(Debug)]
pub struct Sessions {
    map: Mutex<HashMap<String, Session>>,
    ttl: Duration,
}

/// 32 random bytes, hex.
fn random_hex() -> Result<String, ApiError> {
    let mut b = [0u8; 32];
    getrandom::fill(&mut b).map_err(|e| ApiError::internal("random number generation", e))?;
    Ok(hex::encode(b))
}

/// Constant-time equality of two secrets.
pub fn secret_eq(a: &str, b: &str) -> bool {
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

impl Sessions {
    /// An empty store whose sessions last `ttl`.
    pub fn new(ttl: Duration) -> Sessions {
        Sessions {
            map: Mutex::new(HashMap::new()),
            ttl,
        }
    }

    /// Opens a session for the token `secret`; returns its id and CSRF token.
    pub fn create(&self, secret: &str) -> Result<SessionRef, ApiError> {
        let id = random_hex()?;
        let csrf = random_hex()?;
        let now = Instant::now();
        let mut map = self.map.lock().unwrap_or_else(PoisonError::into_inner);
        if map.len() >= MAX_SESSIONS {
            map.retain(|_, s| s.expires > now);
            if map.len() >= MAX_SESSIONS
                && let Some(oldest) = map
                    .iter()
                    .min_by_key(|(_, s)| s.expires)
                    .map(|(k, _)| k.clone())
            {
                map.remove(&oldest);
            }
        }
        map.insert(
            id.clone(),
            Session {
                secret: secret.to_owned(),
                csrf: csrf.clone(),
                expires: now + self.ttl,
            },
        );
        Ok(SessionRef { id, csrf })
    }

    /// The token secret and CSRF token of live session `id`.
    fn get(&self, id: &str) -> Option<(String, String)> {
        let mut map = self.map.lock().unwrap_or_else(PoisonError::into_inner);
        match map.get(id) {
            Some(s) if s.expires > Instant::now() => Some((s.secret.clone(), s.csrf.clone())),
            Some(_) => {
                map.remove(id);
                None
            }
            None => None,
        }
    }

    /// The CSRF token of live session `id`.
    pub fn csrf(&self, id: &str) -> Option<String> {
        self.get(id).map(|(_, csrf)| csrf)
    }

    /// Ends session `id`.
    pub fn remove(&self, id: &str) {
        self.map
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(id);
    }

    /// Session lifetime.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }
}

/// The `Set-Cookie` value opening session `id`.
pub fn session_cookie(id: &str, ttl: Duration) -> HeaderValue {
    let v = format!(
        "{COOKIE}={id}; HttpOnly; SameSite=Strict; Path=/; Max-Age={}",
        ttl.as_secs()
    );
    HeaderValue::from_str(&v).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// The `Set-Cookie` value that deletes the session cookie.
pub fn clear_cookie() -> HeaderValue {
    HeaderValue::from_static("ferret_session=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0")
}

/// The session cookie's value, if the request has one.
pub fn cookie_value(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == COOKIE)
        .map(|(_, v)| v)
}

enum Credential<'a> {
    Bearer(&'a str),
    Session(&'a str),
    None,
}

fn credential(headers: &HeaderMap) -> Result<Credential<'_>, ApiError> {
    if let Some(v) = headers.get(header::AUTHORIZATION) {
        let v = v
            .to_str()
            .map_err(|_| ApiError::unauthorized("the Authorization header is not text"))?;
        let (scheme, token) = v.split_once(' ').unwrap_or((v, ""));
        if !scheme.eq_ignore_ascii_case("bearer") || token.trim().is_empty() {
            return Err(ApiError::unauthorized(
                "the Authorization header must be 'Bearer <token>'",
            ));
        }
        return Ok(Credential::Bearer(token.trim()));
    }
    Ok(match cookie_value(headers) {
        Some(id) => Credential::Session(id),
        None => Credential::None,
    })
}

/// Whether a method changes state (and so needs CSRF protection under cookie auth).
fn unsafe_method(m: &Method) -> bool {
    !matches!(*m, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// Rejects a cross-site request: an `Origin` header, when sent, must name this host.
pub fn check_origin(headers: &HeaderMap) -> Result<(), ApiError> {
    let Some(origin) = headers.get(header::ORIGIN) else {
        return Ok(());
    };
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("");
    let origin = origin.to_str().unwrap_or("");
    let same = origin
        .strip_prefix("http://")
        .or_else(|| origin.strip_prefix("https://"))
        .is_some_and(|o| !host.is_empty() && o == host);
    if same {
        Ok(())
    } else {
        Err(ApiError::forbidden(format!(
            "cross-origin request refused (Origin {origin:?}, Host {host:?})"
        )))
    }
}

/// Authenticates a request. `Ok(None)`: no credential at all.
async fn authenticate(st: &AppState, headers: &HeaderMap) -> Result<Option<Principal>, ApiError> {
    match credential(headers)? {
        Credential::None => Ok(None),
        Credential::Bearer(secret) => match st.verify(secret).await? {
            Some(name) => Ok(Some(Principal {
                token_name: name,
                session: None,
            })),
            None => Err(ApiError::unauthorized("invalid or revoked API token")),
        },
        Credential::Session(id) => {
            let Some((secret, csrf)) = st.inner.sessions.get(id) else {
                return Err(ApiError::unauthorized(
                    "session expired or logged out; log in again",
                ));
            };
            let Some(name) = st.verify(&secret).await? else {
                st.inner.sessions.remove(id);
                return Err(ApiError::unauthorized(
                    "the session's API token was revoked; log in again",
                ));
            };
            Ok(Some(Principal {
                token_name: name,
                session: Some(SessionRef {
                    id: id.to_owned(),
                    csrf,
                }),
            }))
        }
    }
}

/// Middleware of the API routes: a bearer token or a session; a cookie-authenticated
/// request that changes state must also carry the session's CSRF token in
/// `X-CSRF-Token` and, if it sends `Origin`, come from this host.
pub async fn api_auth(State(st): State<AppState>, mut req: Request, next: Next) -> Response {
    let principal = match authenticate(&st, req.headers()).await {
        Ok(Some(p)) => p,
        Ok(None) => {
            return ApiError::unauthorized(
                "authentication required: send 'Authorization: Bearer <token>'",
            )
            .into_response();
        }
        Err(e) => return e.into_response(),
    };
    if let Some(s) = &principal.session
        && unsafe_method(req.method())
    {
        if let Err(e) = check_origin(req.headers()) {
            return e.into_response();
        }
        let sent = req
            .headers()
            .get(CSRF_HEADER)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        if !secret_eq(sent, &s.csrf) {
            return ApiError::forbidden("missing or wrong X-CSRF-Token header").into_response();
        }
    }
    req.extensions_mut().insert(Arc::new(principal));
    next.run(req).await
}

/// Middleware of the web-UI pages: like [`api_auth`], but a browser without a valid
/// session is sent to the login page. Form posts check their `csrf` field in the
/// handler (the middleware does not read bodies); the `Origin` check happens here.
pub async fn ui_auth(State(st): State<AppState>, mut req: Request, next: Next) -> Response {
    let principal = match authenticate(&st, req.headers()).await {
        Ok(Some(p)) => p,
        Ok(None) => return Redirect::to("/login").into_response(),
        Err(e) if e.status == StatusCode::UNAUTHORIZED => {
            let mut resp = Redirect::to("/login").into_response();
            resp.headers_mut()
                .insert(header::SET_COOKIE, clear_cookie());
            return resp;
        }
        Err(e) => return e.into_response(),
    };
    if principal.session.is_some()
        && unsafe_method(req.method())
        && let Err(e) = check_origin(req.headers())
    {
        return e.into_response();
    }
    req.extensions_mut().insert(Arc::new(principal));
    next.run(req).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookie_parsing() {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; ferret_session=abc; b=2"),
        );
        assert_eq!(cookie_value(&h), Some("abc"));
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("x_ferret_session=1"),
        );
        assert_eq!(cookie_value(&h), None);
    }

    #[test]
    fn sessions_expire_and_end() {
        let s = Sessions::new(Duration::from_secs(60));
        let r = s.create("secret").unwrap();
        assert_eq!(r.id.len(), 64);
        assert_ne!(r.id, r.csrf);
        assert_eq!(s.get(&r.id), Some(("secret".to_owned(), r.csrf.clone())));
        s.remove(&r.id);
        assert_eq!(s.get(&r.id), None);
        let s = Sessions::new(Duration::ZERO);
        let r = s.create("secret").unwrap();
        assert_eq!(s.get(&r.id), None);
    }

    #[test]
    fn origin_must_match_host() {
        let mut h = HeaderMap::new();
        assert!(check_origin(&h).is_ok());
        h.insert(header::HOST, HeaderValue::from_static("127.0.0.1:8080"));
        h.insert(
            header::ORIGIN,
            HeaderValue::from_static("http://127.0.0.1:8080"),
        );
        assert!(check_origin(&h).is_ok());
        h.insert(
            header::ORIGIN,
            HeaderValue::from_static("http://evil.example"),
        );
        assert_eq!(check_origin(&h).unwrap_err().status, StatusCode::FORBIDDEN);
    }

    #[test]
    fn cookie_attributes() {
        let c = session_cookie("abc", Duration::from_secs(10));
        let c = c.to_str().unwrap();
        for attr in ["HttpOnly", "SameSite=Strict", "Path=/", "Max-Age=10"] {
            assert!(c.contains(attr), "{c}");
        }
    }

    #[test]
    fn secret_comparison() {
        assert!(secret_eq("abc", "abc"));
        assert!(!secret_eq("abc", "abd"));
        assert!(!secret_eq("abc", "ab"));
    }
}
