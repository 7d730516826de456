//! The error of a request, rendered as `application/problem+json` (RFC 9457).
//!
//! Every variant maps to exactly one HTTP status in [`ApiError::status`]; that mapping is the
//! only place where the framework decides what a client sees.

use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode, header};
use serde::Serialize;

use crate::tenant_id::TenantId;

/// The result of a handler, an extractor or a data operation a request performs.
pub type ApiResult<T> = Result<T, ApiError>;

/// The SQLSTATE a write fence raises while the tenant moves between tiers (answered 503).
pub const MOVING_SQLSTATE: &str = "SAMOV";

/// What a request can fail with: each variant is one HTTP outcome (see [`ApiError::status`]).
///
/// Failures of the runtime itself (configuration, start-up, migrations, moves) are
/// [`crate::Error`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ApiError {
    /// The resource does not exist *or belongs to another tenant*: both answer the same 404
    /// (tenancy invariant 8, docs/src/tenancy.md).
    #[error("{resource} not found")]
    NotFound {
        /// What was looked for, e.g. `Project`.
        resource: &'static str,
    },
    /// No credentials, or credentials that do not prove a tenant.
    #[error("{0}")]
    Unauthorized(String),
    /// The tenant exists but may not use the API (for example it is suspended).
    #[error("tenant {0} is suspended")]
    TenantSuspended(TenantId),
    /// The caller is known but not allowed to do this.
    #[error("{0}")]
    Forbidden(String),
    /// Well-formed input that breaks a rule (length, range, enum value, cursor).
    #[error("{0}")]
    Validation(String),
    /// Input that cannot be read at all.
    #[error("{0}")]
    BadRequest(String),
    /// The body is not of a media type the endpoint reads.
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// The body is larger than the configured limit.
    #[error("{0}")]
    PayloadTooLarge(String),
    /// The request conflicts with existing state (duplicate slug, unique key).
    #[error("{0}")]
    Conflict(String),
    /// A transient condition; the client may retry after the given number of seconds.
    #[error("{detail}")]
    Unavailable {
        /// What is unavailable.
        detail: String,
        /// Seconds after which a retry makes sense.
        retry_after: u32,
    },
    /// The tenant used up its rate limit or quota; it may retry after the given number of
    /// seconds (see [`crate::ratelimit`]).
    #[error("{detail}")]
    RateLimited {
        /// Which limit was reached.
        detail: String,
        /// Seconds after which a retry will be allowed.
        retry_after: u64,
    },
    /// A database error that is not the client's fault.
    #[error("database error: {0}")]
    Database(#[source] sqlx::Error),
    /// Any other internal failure.
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

/// Whether a database error's message is Citus's for a statement that chose a shard a
/// concurrent split or move had just replaced (SQLSTATE `XX000`): safe to retry, nothing ran.
pub fn is_replaced_shard(message: &str) -> bool {
    message.starts_with("could not find valid entry for shard ")
}

/// The detail of the 503 answered for such a statement ([`ApiError::met_replaced_shard`]).
const REPLACED_SHARD_DETAIL: &str = "the tenant's shards were just moved; retry";

impl ApiError {
    /// Whether this is the 503 answered for a statement that chose a Citus shard a concurrent
    /// split or move had just replaced ([`is_replaced_shard`]): nothing of it ran, and the
    /// same request again finds the new shard.
    pub fn met_replaced_shard(&self) -> bool {
        matches!(self, ApiError::Unavailable { detail, .. } if detail == REPLACED_SHARD_DETAIL)
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(err: sqlx::Error) -> Self {
        if let sqlx::Error::RowNotFound = err {
            return ApiError::NotFound { resource: "row" };
        }
        if let Some(db) = err.as_database_error() {
            match db.code().as_deref() {
                // unique_violation
                Some("23505") => {
                    return ApiError::Conflict(format!(
                        "a row with this key already exists{}",
                        db.constraint()
                            .map(|c| format!(" (constraint {c})"))
                            .unwrap_or_default()
                    ));
                }
                // foreign_key_violation: the referenced row is missing *for this tenant*.
                Some("23503") => {
                    return ApiError::Validation(
                        "a referenced resource does not exist".to_string(),
                    );
                }
                // check_violation, not_null_violation, string_data_right_truncation
                Some("23514") | Some("23502") | Some("22001") => {
                    return ApiError::Validation(db.message().to_string());
                }
                // invalid_text_representation (e.g. a bad enum label)
                Some("22P02") => return ApiError::Validation(db.message().to_string()),
                // character_not_in_repertoire (a NUL in text), untranslatable_character,
                // numeric_value_out_of_range: the client's input, not a fault of ours
                Some("22021") | Some("22P05") | Some("22003") => {
                    return ApiError::Validation(format!(
                        "the input cannot be stored: {}",
                        db.message()
                    ));
                }
                // insufficient_privilege / RLS WITH CHECK: never reveal that the row exists.
                Some("42501") => {
                    return ApiError::NotFound {
                        resource: "resource",
                    };
                }
                // a write fence: the tenant is being moved between tiers
                Some(MOVING_SQLSTATE) => {
                    return ApiError::Unavailable {
                        detail: "the tenant is being moved; retry shortly".into(),
                        retry_after: 1,
                    };
                }
                // the tenant's schema or database is gone (its placement just changed), or the
                // server is shutting down or restarting
                Some("3D000") | Some("3F000") | Some("57P01") | Some("57P02") | Some("57P03") => {
                    return ApiError::Unavailable {
                        detail: "the tenant's data has moved; retry".into(),
                        retry_after: 1,
                    };
                }
                // Citus: the statement chose a shard that a concurrent split or move had
                // just replaced (shards are chosen before their locks are taken; upstream
                // citusdata/citus#6360). The statement did nothing; the next one finds the
                // new shard.
                Some("XX000") if is_replaced_shard(db.message()) => {
                    return ApiError::Unavailable {
                        detail: REPLACED_SHARD_DETAIL.into(),
                        retry_after: 1,
                    };
                }
                // serialization_failure, deadlock_detected: retry
                Some("40001") | Some("40P01") => {
                    return ApiError::Unavailable {
                        detail: "concurrent update, please retry".into(),
                        retry_after: 1,
                    };
                }
                _ => {}
            }
        }
        match err {
            sqlx::Error::PoolTimedOut | sqlx::Error::Io(_) | sqlx::Error::PoolClosed => {
                ApiError::Unavailable {
                    detail: "the database is unavailable".into(),
                    retry_after: 2,
                }
            }
            other => ApiError::Database(other),
        }
    }
}

impl ApiError {
    /// The HTTP status this error is answered with.
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::NotFound { .. } => StatusCode::NOT_FOUND,
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::TenantSuspended(_) | ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::Validation(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::Unavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Database(_) | ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The problem document for this error. Server-side faults never leak their details.
    pub fn problem(&self) -> Problem {
        let status = self.status();
        let detail = if status.is_server_error() && !matches!(self, ApiError::Unavailable { .. }) {
            "an internal error occurred; it has been logged".to_string()
        } else {
            self.to_string()
        };
        Problem::new(status, detail)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        if status.is_server_error() {
            tracing::error!(error = ?self, "request failed");
        }
        let mut response = self.problem().into_response();
        if let ApiError::Unavailable { retry_after, .. } = &self {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(*retry_after));
        }
        if let ApiError::RateLimited { retry_after, .. } = &self {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(*retry_after));
        }
        response
    }
}

/// An RFC 9457 problem details document.
#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct Problem {
    /// A URI reference naming the problem type.
    #[serde(rename = "type")]
    pub kind: String,
    /// A short summary of the problem type.
    pub title: String,
    /// The HTTP status code.
    pub status: u16,
    /// What went wrong with this request, for a human.
    pub detail: String,
}

impl Problem {
    /// A problem whose type is derived from the status (`about:blank`-style titles).
    pub fn new(status: StatusCode, detail: impl Into<String>) -> Self {
        let title = status.canonical_reason().unwrap_or("Error").to_string();
        let slug = title.to_ascii_lowercase().replace(' ', "-");
        Problem {
            kind: format!("https://saas-framework.dev/problems/{slug}"),
            title,
            status: status.as_u16(),
            detail: detail.into(),
        }
    }

    /// The `428 Precondition Required` of a write that must carry `If-Match` and does not
    /// (`RequireIfMatchLayer`, `#[endpoint(.., if_match = required)]`).
    pub(crate) fn if_match_required() -> Self {
        Problem::new(
            StatusCode::PRECONDITION_REQUIRED,
            "this resource is only changed conditionally: send If-Match with the ETag of the \
             representation you read",
        )
    }
}

/// The media type of problem documents.
pub const PROBLEM_JSON: &str = "application/problem+json";

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = serde_json::to_vec(&self).unwrap_or_default();
        (
            status,
            [(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON))],
            body,
        )
            .into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_errors_hide_their_details() {
        let err = ApiError::Internal(anyhow::anyhow!("password=hunter2"));
        let problem = err.problem();
        assert_eq!(problem.status, 500);
        assert!(!problem.detail.contains("hunter2"));
    }

    #[test]
    fn rate_limited_is_a_429_with_retry_after() {
        let response = ApiError::RateLimited {
            detail: "slow down".into(),
            retry_after: 7,
        }
        .into_response();
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(response.headers()[header::RETRY_AFTER], "7");
        assert_eq!(response.headers()[header::CONTENT_TYPE], PROBLEM_JSON);
    }

    #[test]
    fn not_found_names_the_resource() {
        let problem = ApiError::NotFound {
            resource: "Project",
        }
        .problem();
        assert_eq!(problem.status, 404);
        assert_eq!(problem.detail, "Project not found");
        assert_eq!(problem.title, "Not Found");
    }
}
