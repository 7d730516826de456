//! [`TenantTx`]: the per-request handle through which every tenant-scoped statement runs.
//!
//! The tenant context reaches PostgreSQL as `set_config('saas.tenant_id', $id, true)` *inside*
//! the request's transaction (tenancy invariant 1, docs/src/tenancy.md): it ends with the transaction and can never
//! leak to the next user of a pooled connection, behind PgBouncer in transaction mode too.
//! The one exception is a connection bound to a single tenant for its whole life
//! ([`super::pool::BoundPools`]), whose setting is given at connect time.
//!
//! Cost: nothing is acquired until the first statement. A single read on a tenant-bound
//! connection is one round trip, like a hand-written query; otherwise `BEGIN` and
//! `set_config` travel together in one round trip, then the statements, then `COMMIT` when
//! something was written. A transaction that only read is not committed on the response's
//! time: its `ROLLBACK` (the same outcome) travels with the pool's check of the returned
//! connection.

use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use axum::extract::FromRequestParts;
use axum::response::{IntoResponse, Response};
use futures_util::future::BoxFuture;
use http::request::Parts;
use sqlx::pool::PoolConnection;
use sqlx::{AssertSqlSafe, PgConnection, Postgres, Transaction};

use super::pool::{Route, Tenancy};
use super::registry::Tenant;
use super::resolver::TenantCtx;
use super::{Access, TENANT_SETTING, TenantExecutor, TenantId};
use crate::error::{ApiError, ApiResult};
use crate::request_tenant::{Conditional, ResourcePath, locks_resource};

/// A connection checked out for one tenant, with or without an open transaction.
pub(super) enum Held {
    /// A connection bound to this tenant for life, no transaction open (single reads).
    Bound(PoolConnection<Postgres>),
    /// The tenant transaction; dropping it rolls back.
    Tx(Transaction<'static, Postgres>),
}

/// Where a request's transaction waits for the outcome of its handler, with the tenant when
/// it wrote (so its reads can stay on the primary after the commit).
pub(super) type Slot = Arc<Mutex<Option<(Held, Option<TenantId>)>>>;

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
    /// The registry entry (placement), from the request or looked up at first use.
    entry: Option<Tenant>,
    route: Option<Route>,
    held: Option<Held>,
    /// Whether the open transaction has passed the tenant's write fence.
    fenced: bool,
    /// A read-only transaction that may run on a replica ([`ReadTx`]).
    read_only: bool,
    /// The resource a request writes in place (its path): the transaction takes the
    /// resource's advisory lock with the write fence, before its first statement.
    lock: Option<String>,
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
            entry: None,
            route: None,
            held: None,
            fenced: false,
            read_only: false,
            lock: None,
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
            if self.fenced {
                self.tenancy.replicas().wrote(self.tenant);
            }
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

    /// `BEGIN`, then in the same round trip the tenant context and the schema tier's
    /// `search_path`.
    fn begin_statement(&self, route: &Route) -> AssertSqlSafe<String> {
        // A ReadTx is read-only wherever it runs (the primary included), not only on replicas.
        let begin = if self.read_only {
            "BEGIN READ ONLY"
        } else {
            "BEGIN"
        };
        // The id is a formatted UUID and the path is built from generated names, never client
        // text; the path is quoted as a literal all the same.
        let tenant = self.tenant;
        let mut sql = if self.tenancy.distributed() {
            // Citus sends `SET LOCAL` (not `set_config`) to the workers the transaction
            // touches, when told to; `saas.set_tenant` holds the `SET LOCAL` (see its DDL).
            // Both settings end with the transaction.
            format!(
                "{begin}; SET LOCAL citus.propagate_set_commands = 'local'; \
                 SELECT saas.set_tenant('{tenant}')"
            )
        } else {
            format!("{begin}; SELECT set_config('{TENANT_SETTING}', '{tenant}', true)")
        };
        if let Some(path) = &route.search_path {
            sql.push_str(&format!(
                ", set_config('search_path', {}, true)",
                crate::sql::quote_literal(path)
            ));
        }
        AssertSqlSafe(sql)
    }

    async fn current_route(&mut self, fresh: bool) -> ApiResult<Route> {
        if fresh {
            self.tenancy.tenants().invalidate(self.tenant);
            self.entry = Some(self.tenancy.tenants().get(self.tenant).await?);
            self.route = None;
        }
        if let Some(route) = &self.route {
            return Ok(route.clone());
        }
        let entry = match &self.entry {
            Some(entry) => entry.clone(),
            None => self.tenancy.tenants().get_cached(self.tenant).await?,
        };
        let route = self.tenancy.route(&entry)?;
        self.entry = Some(entry);
        self.route = Some(route.clone());
        Ok(route)
    }

    /// Opens the connection for the first statement. A write passes the tenant's write
    /// fence first (a separate statement: a failed statement in the `BEGIN` batch would leave
    /// the pooled connection in an aborted transaction). A write that meets the fence of a
    /// move re-reads the placement and retries until the move switches, for up to
    /// `TenancyConfig::move_wait`, then answers 503.
    async fn open(&mut self, access: Access) -> ApiResult<Held> {
        // A request that writes a resource in place (or reads it for a conditional write)
        // takes the resource's lock first, whatever its first statement is.
        let access = if self.lock.is_some() {
            Access::Write
        } else {
            access
        };
        let deadline = std::time::Instant::now() + self.tenancy.config().move_wait;
        let mut fresh = false;
        if self.read_only && access == Access::Write {
            return Err(ApiError::Internal(anyhow::anyhow!(
                "a ReadTx cannot write: take a TenantTx for handlers that write"
            )));
        }
        loop {
            let route = self.current_route(fresh).await?;
            if self.read_only
                && route.database.is_none()
                && let Some(replica) = self.tenancy.replicas().pick(self.tenant)
            {
                match replica.begin_with(self.begin_statement(&route)).await {
                    Ok(tx) => return Ok(Held::Tx(tx)),
                    // The monitor will notice; this read goes to the primary.
                    Err(err) => {
                        tracing::warn!(error = %err, "replica unavailable; reading from the primary")
                    }
                }
            }
            // A tenant-bound connection saves a round trip only for a read outside a
            // transaction. A transaction costs the same round trip with or without the
            // tenant's `set_config` in its `BEGIN`, so transactions take the shared pool and
            // leave the tenant's few bound connections to its reads (with them, one busy
            // tenant's writes queued behind two connections).
            if access == Access::Read
                && !self.read_only
                && let Some(conn) = self.tenancy.bound_connection(self.tenant, &route).await?
            {
                return Ok(Held::Bound(conn));
            }
            let attempt = route
                .pool(&self.tenancy)
                .begin_with(self.begin_statement(&route))
                .await;
            let mut tx = match attempt {
                Ok(tx) => tx,
                Err(err) if is_stale_placement(&err) && std::time::Instant::now() < deadline => {
                    fresh = true;
                    continue;
                }
                Err(err) => return Err(err.into()),
            };
            if access == Access::Read {
                self.fenced = false;
                return Ok(Held::Tx(tx));
            }
            match enter(&mut tx, self.tenant, &route.label, self.lock.as_deref()).await {
                Ok(()) => {
                    self.fenced = true;
                    return Ok(Held::Tx(tx));
                }
                Err(err) if is_stale_placement(&err) && std::time::Instant::now() < deadline => {
                    drop(tx);
                    if fresh {
                        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    }
                    fresh = true;
                }
                Err(err) => return Err(err.into()),
            }
        }
    }

    async fn scoped(&mut self, access: Access) -> ApiResult<&mut PgConnection> {
        if self.read_only && access == Access::Write {
            return Err(ApiError::Internal(anyhow::anyhow!(
                "a ReadTx cannot write: take a TenantTx for handlers that write"
            )));
        }
        match (&self.held, access) {
            (Some(Held::Tx(_)), Access::Read) | (Some(Held::Bound(_)), Access::Read) => {}
            (Some(Held::Tx(_)), Access::Write) => {
                if !self.fenced {
                    // The transaction began for reads: pass the fence before the first write.
                    let route = self.current_route(false).await?;
                    if let Some(Held::Tx(tx)) = self.held.as_mut() {
                        enter(tx, self.tenant, &route.label, self.lock.as_deref()).await?;
                    }
                    self.fenced = true;
                }
            }
            (Some(Held::Bound(_)), Access::Write) => {
                // A write after single reads: the bound connection goes back and the write
                // begins a transaction on the shared pool.
                self.held = None;
                let held = self.open(Access::Write).await?;
                self.held = Some(held);
            }
            (None, access) => {
                let held = self.open(access).await?;
                self.held = Some(held);
            }
        }
        match self.held.as_mut() {
            Some(Held::Tx(tx)) => Ok(&mut **tx),
            Some(Held::Bound(conn)) => Ok(&mut **conn),
            None => Err(ApiError::Internal(anyhow::anyhow!(
                "tenant connection vanished"
            ))),
        }
    }
}

/// Passes the tenant's write fence at `label` (waits while a mover holds it) and, for a
/// request that writes a resource in place, takes the resource's transaction-scoped advisory
/// lock (waits while another write of the same tenant's resource is under way), in the same
/// statement.
async fn enter(
    tx: &mut Transaction<'static, Postgres>,
    tenant: TenantId,
    label: &str,
    lock: Option<&str>,
) -> Result<(), sqlx::Error> {
    match lock {
        None => sqlx::query("SELECT saas.enter($1, $2)")
            .bind(tenant)
            .bind(label)
            .execute(&mut **tx)
            .await
            .map(drop),
        Some(resource) => {
            sqlx::query("SELECT saas.enter($1, $2), pg_advisory_xact_lock(hashtextextended($3, 0))")
                .bind(tenant)
                .bind(label)
                .bind(format!("saas.resource:{tenant}:{resource}"))
                .execute(&mut **tx)
                .await
                .map(drop)
        }
    }
}

/// The placement this process used is no longer where the tenant's writes go: its fence is
/// up, or its schema or database is gone.
fn is_stale_placement(err: &sqlx::Error) -> bool {
    match err {
        sqlx::Error::Database(db) => matches!(
            db.code().as_deref(),
            Some(super::MOVING_SQLSTATE) | Some("3D000") | Some("3F000") | Some("57P01")
        ),
        _ => false,
    }
}

impl super::TenantWriter for TenantTx {}

impl TenantExecutor for TenantTx {
    fn tenant_id(&self) -> TenantId {
        self.tenant
    }

    async fn scoped_conn(&mut self, access: Access) -> ApiResult<&mut PgConnection> {
        self.scoped(access).await
    }

    fn distributed(&self) -> bool {
        self.tenancy.distributed()
    }
}

impl Drop for TenantTx {
    fn drop(&mut self) {
        // Hand the open transaction to the layer, which commits or rolls back once it knows
        // the handler's outcome. Without a layer the Transaction's own drop rolls back.
        if let (Some(slot), Some(held)) = (&self.slot, self.held.take())
            && let Ok(mut guard) = slot.lock()
        {
            *guard = Some((held, self.fenced.then_some(self.tenant)));
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for TenantTx {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let ctx = TenantCtx::from_request_parts(parts, state).await?;
        let tenancy = parts.extensions.get::<Tenancy>().cloned().ok_or_else(|| {
            ApiError::Internal(anyhow::anyhow!(
                "TenantTxLayer is not installed on this router"
            ))
        })?;
        let slot = parts.extensions.get::<Slot>().cloned().ok_or_else(|| {
            ApiError::Internal(anyhow::anyhow!(
                "TenantTxLayer is not installed on this router"
            ))
        })?;
        let conditional = parts.extensions.get::<Conditional>().copied();
        let lock = (conditional.is_some() || locks_resource(&parts.method)).then(|| {
            match parts.extensions.get::<ResourcePath>() {
                Some(path) => path.0.clone(),
                None => parts.uri.path().to_string(),
            }
        });
        // The write after a matching probe carries on in the probe's transaction.
        let (held, fenced) = match conditional {
            Some(Conditional::Write) => match slot.lock().ok().and_then(|mut s| s.take()) {
                Some((held, wrote)) => (Some(held), wrote.is_some()),
                None => (None, false),
            },
            _ => (None, false),
        };
        Ok(TenantTx {
            tenant: ctx.tenant.id,
            entry: Some(ctx.tenant),
            route: None,
            tenancy,
            held,
            fenced,
            read_only: false,
            lock,
            slot: Some(slot),
        })
    }
}

/// A read-only tenant transaction that may run on a read replica (see
/// [`super::replica`]): same tenant context, same row-level security, `BEGIN READ ONLY`.
/// It reads from the primary when no replica is healthy or the tenant wrote moments ago in
/// this process (read-your-writes). It cannot write: use [`TenantTx`] for handlers that do.
///
/// ```no_run
/// use axum::{Json, extract::Path};
/// use saas_core::prelude::*;
/// use saas_core::tenancy::ReadTx;
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
/// async fn get_note(mut tx: ReadTx, Path(id): Path<Uuid>) -> ApiResult<Json<Note>> {
///     Ok(Json(Note::get(&mut tx, id).await?))
/// }
/// ```
#[derive(Debug)]
pub struct ReadTx(TenantTx);

impl ReadTx {
    /// A read-only transaction outside any request.
    pub fn begin(tenancy: &Tenancy, tenant: TenantId) -> ReadTx {
        let mut tx = TenantTx::begin(tenancy, tenant);
        tx.read_only = true;
        ReadTx(tx)
    }

    /// The connection, for raw read-only SQL (a replica's when one serves this read).
    pub async fn conn(&mut self) -> ApiResult<&mut PgConnection> {
        self.0.scoped(Access::Read).await
    }
}

impl TenantExecutor for ReadTx {
    fn tenant_id(&self) -> TenantId {
        self.0.tenant
    }

    async fn scoped_conn(&mut self, access: Access) -> ApiResult<&mut PgConnection> {
        self.0.scoped(access).await
    }
}

impl<S: Send + Sync> FromRequestParts<S> for ReadTx {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let mut tx = TenantTx::from_request_parts(parts, state).await?;
        // The probe of a conditional write reads in the write's transaction, on the primary.
        tx.read_only = parts.extensions.get::<Conditional>().is_none();
        Ok(ReadTx(tx))
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
        // Take the service that was driven to readiness; leave a clone in its place.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        if request.extensions().get::<Slot>().is_some() {
            // A conditional write (`super::conditional`) owns this request's transaction: it
            // runs the probe and the write in it and finishes it after both.
            return Box::pin(inner.call(request));
        }
        let slot: Slot = Arc::new(Mutex::new(None));
        request.extensions_mut().insert(self.tenancy.clone());
        request.extensions_mut().insert(slot.clone());
        let tenancy = self.tenancy.clone();
        Box::pin(async move {
            let response = inner.call(request).await?;
            Ok(finish(&slot, &tenancy, response).await)
        })
    }
}

/// Ends a request's transaction (left in `slot` by its `TenantTx`) with the handler's
/// response: commit on 1xx-3xx, roll back otherwise. A failed commit replaces the response
/// with a problem document, so a client never sees success for a write that was not kept.
pub(super) async fn finish(slot: &Slot, tenancy: &Tenancy, response: Response) -> Response {
    let held = slot.lock().ok().and_then(|mut guard| guard.take());
    let Some((Held::Tx(tx), wrote)) = held else {
        return response;
    };
    if wrote.is_none() {
        // Nothing was written: committing and rolling back keep the same (nothing), so the
        // response does not wait for either. Dropping the transaction queues its ROLLBACK on
        // the connection, and the pool sends it with the check it makes when the connection
        // comes back, before anyone else can take it.
        drop(tx);
        return response;
    }
    let status = response.status();
    if status.is_success() || status.is_redirection() || status.is_informational() {
        match tx.commit().await {
            Ok(()) => {
                if let Some(tenant) = wrote {
                    tenancy.replicas().wrote(tenant);
                }
                response
            }
            Err(err) => ApiError::from(err).into_response(),
        }
    } else {
        if let Err(err) = tx.rollback().await {
            tracing::warn!(error = %err, "rollback after failed request");
        }
        response
    }
}

/// Whether a request's transaction (in `slot`) has begun: the handler reached the tenant's
/// data through a `TenantTx` or `ReadTx`.
pub(super) fn has_begun(slot: &Slot) -> bool {
    slot.lock().is_ok_and(|guard| guard.is_some())
}

/// A new, empty transaction slot for a request.
pub(super) fn new_slot() -> Slot {
    Arc::new(Mutex::new(None))
}
