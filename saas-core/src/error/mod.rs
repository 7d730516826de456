//! The framework's two error types, one per audience.
//!
//! - [`ApiError`] is what a **request** fails with: each variant is one HTTP outcome, rendered
//!   as `application/problem+json` (RFC 9457). Handlers return [`ApiResult`].
//! - [`Error`] is what the **runtime** fails with: configuration, start-up, the isolation audit,
//!   migrations, tenant moves, the outbox relay. Its variants say what failed and where
//!   ([`Error::Config`] names the setting, [`Error::Migration`] the tenant), for an operator or
//!   a log, never for an HTTP client. Runtime functions return [`Result`].
//!
//! A request path that calls the runtime (an admin route that moves a tenant) turns an
//! [`Error`] into an [`ApiError`] with `?`: a refusal keeps its HTTP status, every other
//! failure is a 500 whose details are logged, not shown. The other way round, a runtime
//! operation that meets a request-level refusal (an unknown tenant, a slug taken) reports it as
//! [`Error::Rejected`].

mod api;
mod runtime;

pub use api::{ApiError, ApiResult, MOVING_SQLSTATE, PROBLEM_JSON, Problem, is_replaced_shard};
pub use runtime::{AuditProblem, AuditReport, Error, Result};
