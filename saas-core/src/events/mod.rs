//! Domain events: a transactional outbox, a relay that publishes it, consumers that apply
//! each event once, and a per-tenant audit trail.
//!
//! Read in this order:
//! 1. [`DomainEvent`] and [`emit`]: an event is written *in the request's tenant transaction*,
//!    to the tenant's outbox and audit log; it commits or rolls back with the data (no
//!    dual-write: never a row without its event, never an event without its row).
//! 2. [`relay::Relay`]: claims committed events with `FOR UPDATE SKIP LOCKED`, publishes them
//!    in order per aggregate, retries with backoff, parks what keeps failing.
//! 3. [`publish`]: where events go: [`publish::InProcessBus`] (default, no broker) or NATS
//!    JetStream (`nats` module, feature `nats`).
//! 4. [`consumer`]: handlers that run once per event, in the event's tenant transaction.
//! 5. [`audit`]: the tenant's append-only event history, newest first, with retention.
//!
//! ```no_run
//! use saas_core::events::{self, DomainEvent};
//! use saas_core::prelude::*;
//!
//! #[derive(serde::Serialize)]
//! struct ProjectRenamed {
//!     id: Uuid,
//!     name: String,
//! }
//!
//! impl DomainEvent for ProjectRenamed {
//!     const TYPE: &'static str = "project.renamed";
//!     fn aggregate_id(&self) -> Uuid {
//!         self.id
//!     }
//! }
//!
//! async fn rename(tx: &mut TenantTx, id: Uuid, name: String) -> ApiResult<()> {
//!     // ... update the row in `tx` ...
//!     events::emit(tx, &ProjectRenamed { id, name }).await?;
//!     Ok(()) // the handler's success commits row and event together
//! }
//! ```

pub mod audit;
pub mod consumer;
#[cfg(feature = "edge-purge")]
pub mod edge_purge;
#[cfg(feature = "nats")]
pub mod nats;
pub mod publish;
pub mod relay;
pub mod schema;

/// `#[derive(DomainEvent)]` (feature `macros`): `#[event(name = "project.created")]`.
#[cfg(feature = "macros")]
pub use saas_macros::DomainEvent;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::error::{ApiError, ApiResult};
use crate::tenancy::{Access, TenantId, TenantWriter};

/// A fact about one aggregate (a project, a task) that other parts of the product react to.
///
/// Derive it (`#[derive(DomainEvent)] #[event(name = "project.created")]`) or implement it.
///
/// The payload is the type's serde serialization. Bump [`DomainEvent::VERSION`] when its shape
/// changes incompatibly so consumers can tell old from new.
pub trait DomainEvent: Serialize + Send + Sync {
    /// The event's type name, `<aggregate>.<verb>` by convention: `project.created`.
    const TYPE: &'static str;
    /// The payload's schema version.
    const VERSION: i32 = 1;
    /// The aggregate the event is about; events of one aggregate are published in order.
    fn aggregate_id(&self) -> Uuid;
}

/// An event as it travels: the payload plus everything a consumer needs, the tenant first.
///
/// The tenant is explicit data (tenancy invariant 6, docs/src/tenancy.md): a consumer opens the tenant's
/// transaction from [`EventEnvelope::tenant_id`], never from ambient state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventEnvelope {
    /// Unique per event; also the broker's deduplication id.
    pub id: Uuid,
    /// The tenant the event belongs to.
    pub tenant_id: TenantId,
    /// [`DomainEvent::TYPE`].
    #[serde(rename = "type")]
    pub event_type: String,
    /// [`DomainEvent::VERSION`].
    pub schema_version: i32,
    /// [`DomainEvent::aggregate_id`].
    pub aggregate_id: Uuid,
    /// When the emitting transaction wrote it.
    #[serde(with = "time::serde::rfc3339")]
    pub occurred_at: OffsetDateTime,
    /// The serialized event.
    pub payload: serde_json::Value,
}

const EMIT_SQL: &str = "WITH logged AS (
    INSERT INTO saas_audit_log (tenant_id, id, event_type, schema_version, aggregate_id, payload)
    VALUES ($1, $2, $3, $4, $5, $6)
    RETURNING tenant_id, id, event_type, schema_version, aggregate_id, occurred_at, payload
)
INSERT INTO saas_outbox (tenant_id, id, event_type, schema_version, aggregate_id, occurred_at, payload)
SELECT tenant_id, id, event_type, schema_version, aggregate_id, occurred_at, payload FROM logged";

const EMIT_AUDIT_SQL: &str = "INSERT INTO saas_audit_log
    (tenant_id, id, event_type, schema_version, aggregate_id, payload)
    VALUES ($1, $2, $3, $4, $5, $6)
    RETURNING occurred_at";

/// On Citus the outbox's `NOTIFY` trigger fires on a worker, where no relay listens: the
/// notification is sent from here instead, on the coordinator (Citus runs the modifying CTE
/// on the tenant's shard and the outer `SELECT` where the relays listen).
const EMIT_OUTBOX_SQL: &str = "WITH queued AS (
    INSERT INTO saas_outbox
        (tenant_id, id, event_type, schema_version, aggregate_id, occurred_at, payload)
    VALUES ($1, $2, $3, $4, $5, $6, $7)
    RETURNING 1
)
SELECT pg_notify('saas_outbox', '') FROM queued";

/// Writes `event` to the tenant's outbox and audit log inside the tenant transaction, in one
/// statement. Returns the event's id. Nothing is published until the transaction commits;
/// if it rolls back, the event never existed.
pub async fn emit<E: DomainEvent, X: TenantWriter>(tx: &mut X, event: &E) -> ApiResult<Uuid> {
    let payload = serde_json::to_value(event).map_err(|e| {
        ApiError::Internal(anyhow::anyhow!("event {} does not serialize: {e}", E::TYPE))
    })?;
    emit_raw(tx, E::TYPE, E::VERSION, event.aggregate_id(), payload).await
}

/// [`emit`] for an event whose type is only known at run time (a generic integration, a
/// replay tool). Prefer [`emit`].
pub async fn emit_raw<X: TenantWriter>(
    tx: &mut X,
    event_type: &str,
    schema_version: i32,
    aggregate_id: Uuid,
    payload: serde_json::Value,
) -> ApiResult<Uuid> {
    if event_type.is_empty() || event_type.len() > 200 {
        return Err(ApiError::Internal(anyhow::anyhow!(
            "event type must be 1 to 200 bytes, got {event_type:?}"
        )));
    }
    let id = Uuid::new_v4();
    let tenant = tx.tenant_id();
    let distributed = tx.distributed();
    let conn = tx.scoped_conn(Access::Write).await?;
    if distributed {
        // Citus runs the one-statement form as an INSERT ... SELECT through the coordinator,
        // which copies the rows with COPY, and COPY refuses tables under row-level security.
        // Two single-shard INSERTs instead (both on the tenant's shard).
        let occurred_at: OffsetDateTime = sqlx::query_scalar(EMIT_AUDIT_SQL)
            .bind(tenant)
            .bind(id)
            .bind(event_type)
            .bind(schema_version)
            .bind(aggregate_id)
            .bind(&payload)
            .fetch_one(&mut *conn)
            .await?;
        sqlx::query(EMIT_OUTBOX_SQL)
            .bind(tenant)
            .bind(id)
            .bind(event_type)
            .bind(schema_version)
            .bind(aggregate_id)
            .bind(occurred_at)
            .bind(&payload)
            .execute(&mut *conn)
            .await?;
        return Ok(id);
    }
    sqlx::query(EMIT_SQL)
        .bind(tenant)
        .bind(id)
        .bind(event_type)
        .bind(schema_version)
        .bind(aggregate_id)
        .bind(payload)
        .execute(conn)
        .await?;
    Ok(id)
}
