//! Extractors whose rejections are [`ApiError`]s (axum's own answer in plain text).

use axum::extract::{FromRequestParts, Path, Query};
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use crate::error::ApiError;

/// A query string deserialized into `T`; a bad one is a 400 naming the problem.
#[derive(Debug)]
pub struct Q<T>(pub T);

impl<T, S> FromRequestParts<S> for Q<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match Query::<T>::from_request_parts(parts, state).await {
            Ok(Query(v)) => Ok(Q(v)),
            Err(e) => Err(ApiError::bad_request(format!(
                "bad query string: {}",
                e.body_text()
                    .trim_start_matches("Failed to deserialize query string: ")
            ))),
        }
    }
}

/// The `{id}` of a task route: a positive integer, else 404 (no such task can exist).
#[derive(Debug, Clone, Copy)]
pub struct TaskId(pub i64);

impl<S> FromRequestParts<S> for TaskId
where
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Path(raw) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|e| ApiError::bad_request(e.body_text()))?;
        match raw.parse::<i64>() {
            Ok(id) if id > 0 => Ok(TaskId(id)),
            _ => Err(ApiError::not_found(format!(
                "no task {:?}: task ids are positive integers",
                raw.chars().take(64).collect::<String>()
            ))),
        }
    }
}
