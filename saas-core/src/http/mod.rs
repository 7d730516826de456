//! HTTP plumbing: extractors whose rejections are problem documents, and the fallbacks that
//! make every error of the router problem+json too.

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::error::ApiError;

pub mod cache;
pub mod conditional;
pub mod edge;

pub use crate::cache_policy::CachePolicy;

/// Like [`axum::Json`], but bad input is a problem document: malformed JSON 400, wrong content
/// type 415, body over the limit 413, JSON of the wrong shape 422.
#[derive(Debug, Clone, Copy, Default, FromRequest)]
#[from_request(via(axum::Json), rejection(ApiError))]
pub struct Json<T>(pub T);

impl<T: Serialize> IntoResponse for Json<T> {
    fn into_response(self) -> Response {
        axum::Json(self.0).into_response()
    }
}

/// Like [`axum::extract::Path`], but an unparsable segment (say, not a UUID) is a 404
/// problem: no resource has that id.
#[derive(Debug, Clone, Copy, Default, FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(ApiError))]
pub struct Path<T>(pub T);

/// Like [`axum::extract::Query`], but a bad query string is a 422 problem.
#[derive(Debug, Clone, Copy, Default, FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(ApiError))]
pub struct Query<T>(pub T);

impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> Self {
        match rejection {
            JsonRejection::JsonDataError(e) => ApiError::Validation(e.body_text()),
            JsonRejection::JsonSyntaxError(e) => ApiError::BadRequest(e.body_text()),
            JsonRejection::MissingJsonContentType(_) => ApiError::UnsupportedMediaType(
                "expected a request with `Content-Type: application/json`".into(),
            ),
            JsonRejection::BytesRejection(e) => {
                if e.status() == http::StatusCode::PAYLOAD_TOO_LARGE {
                    ApiError::PayloadTooLarge("the request body is too large".into())
                } else {
                    ApiError::BadRequest(e.body_text())
                }
            }
            other => ApiError::BadRequest(other.body_text()),
        }
    }
}

impl From<PathRejection> for ApiError {
    fn from(rejection: PathRejection) -> Self {
        match rejection {
            PathRejection::FailedToDeserializePathParams(_) => ApiError::NotFound {
                resource: "resource",
            },
            other => ApiError::BadRequest(other.body_text()),
        }
    }
}

impl From<QueryRejection> for ApiError {
    fn from(rejection: QueryRejection) -> Self {
        ApiError::Validation(rejection.body_text())
    }
}

/// The router's fallback: an unknown path is a 404 problem.
pub async fn not_found() -> ApiError {
    ApiError::NotFound { resource: "route" }
}

/// Turns the plain-text errors axum produces by itself (405 for a known path with another
/// method, 413 from the body limit) into problem documents.
pub async fn problem_for_plain_errors(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let response = next.run(request).await;
    let status = response.status();
    let is_problem = response
        .headers()
        .get(http::header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/problem+json"));
    if (status.is_client_error() || status.is_server_error()) && !is_problem {
        let mut problem = crate::error::Problem::new(status, status_detail(status)).into_response();
        for (name, value) in response.headers() {
            if name == http::header::ALLOW || name == http::header::RETRY_AFTER {
                problem.headers_mut().insert(name.clone(), value.clone());
            }
        }
        return problem;
    }
    response
}

fn status_detail(status: http::StatusCode) -> &'static str {
    match status.as_u16() {
        405 => "this method is not supported on this path",
        413 => "the request body is too large",
        404 => "no such route",
        _ if status.is_server_error() => "an internal error occurred; it has been logged",
        _ => "the request could not be processed",
    }
}

/// Whether two secrets (tokens, passwords) are equal, in time that depends only on their
/// lengths, not on where they first differ: for comparing a presented credential with the
/// configured one.
///
/// ```
/// assert!(saas_core::http::secrets_match(b"s3cret", b"s3cret"));
/// assert!(!saas_core::http::secrets_match(b"s3cret", b"s3creT"));
/// assert!(!saas_core::http::secrets_match(b"s3cret", b"s3cre"));
/// ```
pub fn secrets_match(presented: &[u8], expected: &[u8]) -> bool {
    presented.len() == expected.len()
        && presented
            .iter()
            .zip(expected)
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}
