//! [`TenantTx`]: the per-request handle through which every tenant-scoped statement runs.
//!
//! The tenant context reaches PostgreSQL as `set_config('saas.tenant_id', $id, true)` *inside*
//! the request's transaction (design invariant 1): it ends with the transaction and can never
//! leak to the next user of a pooled connection, behind PgBouncer in transaction mode too.
//! The one exception is a connection bound to a single tenant for its whole life
//! ([`super::pool::BoundPools`]), whose setting is given at connect time.
//!
//! Cost: nothing is acquired until the first statement. A single read on a tenant-bound
//! connection is one round trip, like a hand-written query; otherwise `BEGIN` and
//! `set_config` travel together in one round trip, then the statements, then `COMMIT`.

use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use axum::extract::FromRequestParts;
use axum::response::{IntoResponse, Response};
use futures_util::future::BoxFuture;
use http::request::Parts;
use sqlx::pool::PoolConnection;
use sqlx::{AssertSqlSafe, PgConnection, Postgres, Transaction};

use super::pool::Tenancy;
use super::resolver::TenantCtx;
use super::{Access, TENANT_SETTING, TenantExecutor, TenantId};
use crate::error::{ApiResult, Error};

/// A connection checked out for one tenant, with or without an open transaction.
enum Held {
    /// A connection bound to this tenant for life, no transaction open (single reads).
    Bound(PoolConnection<Postgres>),
    /// The tenant transaction; dropping it rolls back.
    Tx(Transaction<'static, Postgres>),
}

/// Where a request's transaction waits for the outcome of its handler.
type Slot = Arc<Mutex<Option<Held>>>;

/// The tenant's transaction for one request (or one background job).
///
/// In a handler, extract it: it commits when the handler returns a success (2xx/3xx) response
/// and rolls back otherwise. [`TenantTxLayer`] (installed by [`crate::app::SaasApp`]) does the
/// committing.
///
/// ```no_run
/// use axum::{Json, extract::Path};
/// use saas_core::prelude::*;
///
/// #[derive(TenantScoped, sqlx::FromRow, serde::Serialize)]
/// #[tenant(table = "notes")]
/// struct Note {
///     tenant_id: TenantId,
///     #[tenant(generated)]
///     id: Uuid,
///     body: String,
/// }
///
/// async fn get_note(mut tx: TenantTx, Path(id): Path<Uuid>) -> ApiResult<Json<Note>> {
///     Ok(Json(Note::get(&mut tx, id).await?))
/// }
/// ```
///
/// Outside HTTP (jobs, consumers), begin one explicitly and commit it:
///
/// ```no_run
/// # async fn job(tenancy: saas_core::tenancy::pool::Tenancy, tenant: saas_core::TenantId)
/// # -> saas_core::ApiResult<()> {
/// let mut tx = saas_core::TenantTx::begin(&tenancy, tenant);
/// let conn = tx.conn().await?;
/// sqlx::query("UPDATE notes SET body = upper(body)").execute(conn).await?;
/// tx.commit().await?;
/// # Ok(()) }
/// ```
pub struct TenantTx {
    tenant: TenantId,
    tenancy: Tenancy,
    held: Option<Held>,
    slot: Option<Slot>,
}

impl std::fmt::Debug for TenantTx {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TenantTx")
            .field("tenant", &self.tenant)
            .field(
                "state",
                &match self.held {
                    None => "idle",
                    Some(Held::Bound(_)) => "bound",
                    Some(Held::Tx(_)) => "transaction",
                },
            )
            .finish()
    }
}

impl TenantTx {
    /// A tenant transaction outside any request. Nothing is acquired until the first
    /// statement; call [`TenantTx::commit`] to keep its writes (dropping it rolls back).
    pub fn begin(tenancy: &Tenancy, tenant: TenantId) -> TenantTx {
        TenantTx {
            tenant,
            tenancy: tenancy.clone(),
            held: None,
            slot: None,
        }
    }

    /// The tenant this transaction runs for.
    pub fn tenant_id(&self) -> TenantId {
        self.tenant
    }

    /// The connection, inside the tenant transaction (begun if needed), for raw SQL.
    /// Row-level security filters every statement to this tenant.
    pub async fn conn(&mut self) -> ApiResult<&mut PgConnection> {
        self.scoped(Access::Write).await
    }

    /// Commits the writes so far. Needed only outside HTTP handlers.
    pub async fn commit(mut self) -> ApiResult<()> {
        if let Some(Held::Tx(tx)) = self.held.take() {
            tx.commit().await?;
        }
        Ok(())
    }

    /// Rolls back the writes so far (dropping the handle does the same).
    pub async fn rollback(mut self) -> ApiResult<()> {
        if let Some(Held::Tx(tx)) = self.held.take() {
            tx.rollback().await?;
        }
        Ok(())
    }

    fn begin_statement(&self, bound: bool) -> AssertSqlSafe<String> {
        if bound {
            AssertSqlSafe("BEGIN".to_string())
        } else {
            // The id is a formatted UUID, never client text: nothing to inject. Sending it in
            // the BEGIN batch saves a round trip over a separate prepared set_config.
            AssertSqlSafe(format!(
                "BEGIN; SELECT set_config('{TENANT_SETTING}', '{}', true)",
                self.tenant
            ))
        }
    }

    async fn scoped(&mut self, access: Access) -> ApiResult<&mut PgConnection> {
        match (&self.held, access) {
            (Some(Held::Tx(_)), _) | (Some(Held::Bound(_)), Access::Read) => {}
            (Some(Held::Bound(_)), Access::Write) => {
                // A write after single reads: start the transaction on the bound pool (the
                // bound connection goes back; its setting is the same tenant's).
                self.held = None;
                let pool = self.tenancy.bound_pool(self.tenant).await?;
                let pool = pool.ok_or_else(unavailable_bound)?;
                let tx = pool.begin_with(self.begin_statement(true)).await?;
                self.held = Some(Held::Tx(tx));
            }
            (None, access) => {
                let bound = self.tenancy.bound_pool(self.tenant).await?;
                self.held = Some(match (bound, access) {
                    (Some(pool), Access::Read) => Held::Bound(pool.acquire().await?),
                    (Some(pool), Access::Write) => {
                        Held::Tx(pool.begin_with(self.begin_statement(true)).await?)
                    }
                    (None, _) => Held::Tx(
                        self.tenancy
                            .request_pool()
                            .begin_with(self.begin_statement(false))
                            .await?,
                    ),
                });
            }
        }
        match self.held.as_mut() {
            Some(Held::Tx(tx)) => Ok(&mut **tx),
            Some(Held::Bound(conn)) => Ok(&mut **conn),
            None => Err(Error::Internal(anyhow::anyhow!(
                "tenant connection vanished"
            ))),
        }
    }
}

fn unavailable_bound() -> Error {
    Error::Unavailable {
        detail: "tenant connection pool is being reconfigured".into(),
        retry_after: 1,
    }
}

impl TenantExecutor for TenantTx {
    fn tenant_id(&self) -> TenantId {
        self.tenant
    }

    async fn scoped_conn(&mut self, access: Access) -> ApiResult<&mut PgConnection> {
        self.scoped(access).await
    }
}

impl Drop for TenantTx {
    fn drop(&mut self) {
        // Hand the open transaction to the layer, which commits or rolls back once it knows
        // the handler's outcome. Without a layer the Transaction's own drop rolls back.
        if let (Some(slot), Some(held)) = (&self.slot, self.held.take())
            && let Ok(mut guard) = slot.lock()
        {
            *guard = Some(held);
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for TenantTx {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let ctx = TenantCtx::from_request_parts(parts, state).await?;
        let tenancy =
            parts.extensions.get::<Tenancy>().cloned().ok_or_else(|| {
                Error::Config("TenantTxLayer is not installed on this router".into())
            })?;
        let slot =
            parts.extensions.get::<Slot>().cloned().ok_or_else(|| {
                Error::Config("TenantTxLayer is not installed on this router".into())
            })?;
        Ok(TenantTx {
            tenant: ctx.tenant.id,
            tenancy,
            held: None,
            slot: Some(slot),
        })
    }
}

/// The layer that makes [`TenantTx`] and [`TenantCtx`] available to handlers and finishes
/// each request's transaction: commit on 1xx-3xx, roll back otherwise. A failed commit
/// replaces the response with a problem document, so a client never sees success for a write
/// that was not kept.
#[derive(Clone, Debug)]
pub struct TenantTxLayer {
    tenancy: Tenancy,
}

impl TenantTxLayer {
    /// A layer serving requests with this tenancy runtime.
    pub fn new(tenancy: Tenancy) -> Self {
        TenantTxLayer { tenancy }
    }
}

impl<S> tower::Layer<S> for TenantTxLayer {
    type Service = TenantTxService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        TenantTxService {
            inner,
            tenancy: self.tenancy.clone(),
        }
    }
}

/// The service produced by [`TenantTxLayer`].
#[derive(Clone, Debug)]
pub struct TenantTxService<S> {
    inner: S,
    tenancy: Tenancy,
}

impl<S, B> tower::Service<http::Request<B>> for TenantTxService<S>
where
    S: tower::Service<http::Request<B>, Response = Response> + Clone + Send + 'static,
    S::Future: Send + 'static,
    B: Send + 'static,
{
    type Response = Response;
    type Error = S::Error;
    type Future = BoxFuture<'static, Result<Response, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: http::Request<B>) -> Self::Future {
        let slot: Slot = Arc::new(Mutex::new(None));
        request.extensions_mut().insert(self.tenancy.clone());
        request.extensions_mut().insert(slot.clone());
        // Take the service that was driven to readiness; leave a clone in its place.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        Box::pin(async move {
            let response = inner.call(request).await?;
            let held = slot.lock().ok().and_then(|mut guard| guard.take());
            let Some(Held::Tx(tx)) = held else {
                return Ok(response);
            };
            let status = response.status();
            if status.is_success() || status.is_redirection() || status.is_informational() {
                match tx.commit().await {
                    Ok(()) => Ok(response),
                    Err(err) => Ok(Error::from(err).into_response()),
                }
            } else {
                if let Err(err) = tx.rollback().await {
                    tracing::warn!(error = %err, "rollback after failed request");
                }
                Ok(response)
            }
        })
    }
}
