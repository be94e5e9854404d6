//! The one error type of every handler: a status and a message, sent as
//! `{"error": "..."}` (plus `"column"` for filter errors).

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// An HTTP error with a JSON body `{"error": message}`.
#[derive(Debug, Clone)]
pub struct ApiError {
    /// Status code.
    pub status: StatusCode,
    /// Human-readable reason, sent to the client.
    pub message: String,
    /// 1-based column of a filter expression error.
    pub column: Option<usize>,
}

#[derive(Serialize)]
struct Body<'a> {
    error: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    column: Option<usize>,
}

impl ApiError {
    /// An error with `status` and `message`.
    pub fn new(status: StatusCode, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            message: message.into(),
            column: None,
        }
    }

    /// 400 Bad Request.
    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, message)
    }

    /// 404 Not Found.
    pub fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, message)
    }

    /// 401 Unauthorized (the response also carries `WWW-Authenticate: Bearer`).
    pub fn unauthorized(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::UNAUTHORIZED, message)
    }

    /// 403 Forbidden.
    pub fn forbidden(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::FORBIDDEN, message)
    }

    /// 413 Payload Too Large.
    pub fn too_large(limit: u64) -> ApiError {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("upload exceeds the limit of {limit} bytes"),
        )
    }

    /// 500 Internal Server Error: the detail goes to the server log, the client gets
    /// `what` only (database errors may name paths the client has no business seeing).
    pub fn internal(what: &str, err: impl std::fmt::Display) -> ApiError {
        eprintln!("ferret serve: {what}: {err}");
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, format!("{what} failed"))
    }
}

/// The API's answer to a failed queue call: 400 with the queue's reason for an invalid
/// argument, 503 (retry later) while the database is unreachable or restarting, 500
/// otherwise.
pub fn queue_error(what: &str, e: ferret_queue::Error) -> ApiError {
    match e {
        ferret_queue::Error::Invalid(m) => ApiError::bad_request(m),
        e if e.is_transient() => {
            eprintln!("ferret serve: {what}: {e}");
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                format!("{what} failed: the database is unavailable; retry shortly"),
            )
        }
        e => ApiError::internal(what, e),
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.status, self.message)
    }
}

impl std::error::Error for ApiError {}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::to_vec(&Body {
            error: &self.message,
            column: self.column,
        })
        .unwrap_or_else(|_| br#"{"error":"internal error"}"#.to_vec());
        let mut resp = (self.status, body).into_response();
        let h = resp.headers_mut();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            h.insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
        }
        if self.status == StatusCode::UNAUTHORIZED {
            h.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"ferret\""),
            );
        }
        resp
    }
}

/// Result of a handler.
pub type ApiResult<T> = Result<T, ApiError>;
