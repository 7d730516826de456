//! Failures of the runtime (start-up, configuration, migrations, moves, the relay).

use super::api::ApiError;
use crate::tenant_id::TenantId;

/// The result of a runtime operation.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What the runtime fails with: start-up, configuration, the isolation audit, migrations,
/// tenant moves and the outbox relay. Requests fail with [`ApiError`] instead.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A setting is missing or malformed (a deployment or programming error).
    #[error("configuration error: {}", config_message(var.as_deref(), reason))]
    Config {
        /// The environment variable or setting at fault, when there is one (for a
        /// [`crate::Settings`] error naming several, the first; `reason` lists them all).
        var: Option<String>,
        /// What is wrong and what it should be.
        reason: String,
    },
    /// The boot-time isolation audit found problems; the message lists all of them.
    #[error("{0}")]
    Audit(AuditReport),
    /// A schema migration failed.
    #[error("migration failed{}: {reason}", tenant_suffix(tenant))]
    Migration {
        /// The tenant whose schema or database was being migrated; `None` for the shared
        /// schema and the framework's own tables.
        tenant: Option<TenantId>,
        /// What failed.
        reason: String,
    },
    /// The operation was refused for a reason a request would be refused for too: an unknown
    /// tenant, a slug already taken, invalid input, a move already running.
    #[error(transparent)]
    Rejected(ApiError),
    /// A database error.
    #[error("database error: {0}")]
    Database(#[source] sqlx::Error),
    /// Any other failure.
    #[error(transparent)]
    Internal(anyhow::Error),
}

impl Error {
    /// A configuration error naming the variable or setting at fault.
    pub fn config(var: impl Into<String>, reason: impl Into<String>) -> Error {
        Error::Config {
            var: Some(var.into()),
            reason: reason.into(),
        }
    }

    /// A configuration error that no single setting explains (a builder used wrongly).
    pub fn misconfigured(reason: impl Into<String>) -> Error {
        Error::Config {
            var: None,
            reason: reason.into(),
        }
    }

    /// A migration failure, for one tenant or (`None`) for the shared schema.
    pub fn migration(tenant: Option<TenantId>, reason: impl std::fmt::Display) -> Error {
        Error::Migration {
            tenant,
            reason: reason.to_string(),
        }
    }

    /// Names the tenant a migration failed for (when the failure did not already name one);
    /// any other error is returned as it is.
    pub fn for_tenant(self, id: TenantId) -> Error {
        match self {
            Error::Migration {
                tenant: None,
                reason,
            } => Error::Migration {
                tenant: Some(id),
                reason,
            },
            other => other,
        }
    }

    /// The request-level refusal inside, when the operation was refused.
    pub fn rejection(&self) -> Option<&ApiError> {
        match self {
            Error::Rejected(err) => Some(err),
            _ => None,
        }
    }
}

fn config_message(var: Option<&str>, reason: &str) -> String {
    match var {
        Some(var) if !reason.contains(var) => format!("{var}: {reason}"),
        _ => reason.to_string(),
    }
}

fn tenant_suffix(tenant: &Option<TenantId>) -> String {
    tenant
        .map(|t| format!(" for tenant {t}"))
        .unwrap_or_default()
}

impl From<sqlx::Error> for Error {
    fn from(err: sqlx::Error) -> Self {
        Error::Database(err)
    }
}

impl From<anyhow::Error> for Error {
    fn from(err: anyhow::Error) -> Self {
        Error::Internal(err)
    }
}

impl From<ApiError> for Error {
    /// A database or internal failure stays one; every other outcome is a refusal.
    fn from(err: ApiError) -> Self {
        match err {
            ApiError::Database(err) => Error::Database(err),
            ApiError::Internal(err) => Error::Internal(err),
            other => Error::Rejected(other),
        }
    }
}

impl From<Error> for ApiError {
    /// A refusal keeps its HTTP outcome; a database error is classified like a request's
    /// (unavailable, conflict, ...); anything else is an internal error, logged and not shown.
    fn from(err: Error) -> Self {
        match err {
            Error::Rejected(err) => err,
            Error::Database(err) => ApiError::from(err),
            Error::Internal(err) => ApiError::Internal(err),
            other => ApiError::Internal(anyhow::Error::new(other)),
        }
    }
}

/// One thing the audit found wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditProblem {
    /// The object concerned: a table (with the policy named in `problem`), view, function or
    /// role.
    pub object: String,
    /// What is wrong.
    pub problem: String,
    /// What to do about it.
    pub fix: String,
}

/// Everything the audit found; empty means isolation holds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditReport {
    /// The problems, in the order they were found.
    pub problems: Vec<AuditProblem>,
}

impl AuditReport {
    /// Whether nothing was found.
    pub fn is_clean(&self) -> bool {
        self.problems.is_empty()
    }

    pub(crate) fn add(
        &mut self,
        object: impl Into<String>,
        problem: impl Into<String>,
        fix: impl Into<String>,
    ) {
        self.problems.push(AuditProblem {
            object: object.into(),
            problem: problem.into(),
            fix: fix.into(),
        });
    }
}

impl std::fmt::Display for AuditReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "tenant isolation audit failed with {} problem(s); refusing to start:",
            self.problems.len()
        )?;
        for p in &self.problems {
            writeln!(f, "  - {}: {}", p.object, p.problem)?;
            writeln!(f, "    fix: {}", p.fix)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::StatusCode;

    #[test]
    fn a_config_error_names_the_variable() {
        let err = Error::config("SAAS_POOL_SIZE", "\"abc\" is not a positive integer");
        assert_eq!(
            err.to_string(),
            "configuration error: SAAS_POOL_SIZE: \"abc\" is not a positive integer"
        );
        assert!(matches!(err, Error::Config { var: Some(ref v), .. } if v == "SAAS_POOL_SIZE"));
    }

    #[test]
    fn a_migration_error_names_the_tenant() {
        let tenant = TenantId::from_uuid(uuid::Uuid::nil());
        let err = Error::migration(Some(tenant), "relation \"x\" already exists");
        assert_eq!(
            err.to_string(),
            format!("migration failed for tenant {tenant}: relation \"x\" already exists")
        );
    }

    #[test]
    fn a_refusal_keeps_its_status_through_both_conversions() {
        let runtime: Error = ApiError::Conflict("slug taken".into()).into();
        assert!(runtime.rejection().is_some());
        let api: ApiError = runtime.into();
        assert_eq!(api.status(), StatusCode::CONFLICT);
    }

    #[test]
    fn a_runtime_failure_is_a_500_that_hides_its_details() {
        let api: ApiError = Error::config("DATABASE_URL", "password=hunter2 rejected").into();
        assert_eq!(api.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert!(!api.problem().detail.contains("hunter2"));
        let api: ApiError = Error::from(sqlx::Error::PoolTimedOut).into();
        assert_eq!(api.status(), StatusCode::SERVICE_UNAVAILABLE);
    }
}
