//! The audit trail: every event a tenant emitted, newest first, append-only.
//!
//! Entries are written by [`super::emit`] in the same statement as the outbox row, so the
//! trail has exactly the events whose transactions committed. Reads go through the tenant's
//! transaction (row-level security applies); only the retention purge, run as the owner,
//! ever deletes, and nothing ever updates an entry.

use std::time::Duration;

use serde::Serialize;
use sqlx::PgPool;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::error::ApiResult;
use crate::model::{Page, PageRequest};
use crate::tenancy::{Access, TenantExecutor};

/// One entry of the trail.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct AuditEntry {
    /// The event's id.
    pub id: Uuid,
    /// The event type, e.g. `project.created`.
    #[serde(rename = "type")]
    #[sqlx(rename = "event_type")]
    pub event_type: String,
    /// The aggregate the event is about.
    pub aggregate_id: Uuid,
    /// When it was written.
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub occurred_at: OffsetDateTime,
    /// The event's payload.
    #[schema(value_type = Object)]
    pub payload: serde_json::Value,
}

/// Where a page of the trail starts: the `(occurred_at, id)` of the last entry of the page
/// before. It holds only what the tenant already saw on that page; the log's global
/// sequence number would let a tenant count every other tenant's events between two of its
/// own.
pub type AuditCursor = (OffsetDateTime, Uuid);

const PAGE_FIRST: &str = "SELECT id, event_type, aggregate_id, occurred_at, payload
    FROM saas_audit_log WHERE tenant_id = $1 ORDER BY occurred_at DESC, id DESC LIMIT $2";
const PAGE_AFTER: &str = "SELECT id, event_type, aggregate_id, occurred_at, payload
    FROM saas_audit_log WHERE tenant_id = $1 AND (occurred_at, id) < ($2, $3)
    ORDER BY occurred_at DESC, id DESC LIMIT $4";

/// One page of the tenant's trail, newest first (keyset pagination on `(occurred_at, id)`:
/// pass the page's `next_cursor` back for the following one; entries written meanwhile
/// never shift pages).
pub async fn page<X: TenantExecutor>(
    tx: &mut X,
    page: PageRequest<AuditCursor>,
) -> ApiResult<Page<AuditEntry>> {
    let tenant = tx.tenant_id();
    let fetch = i64::from(page.limit) + 1;
    let query = match page.after {
        None => sqlx::query_as::<_, AuditEntry>(PAGE_FIRST)
            .bind(tenant)
            .bind(fetch),
        Some((at, id)) => sqlx::query_as::<_, AuditEntry>(PAGE_AFTER)
            .bind(tenant)
            .bind(at)
            .bind(id)
            .bind(fetch),
    };
    let conn = tx.scoped_conn(Access::Read).await?;
    let items = query.fetch_all(conn).await?;
    Ok(Page::from_fetched(items, page.limit, |entry| {
        (entry.occurred_at, entry.id)
    }))
}

/// Deletes every tenant's entries older than `age` (the retention setting), as the owner.
/// Returns how many went. The append-only trigger lets this statement, and only this one,
/// delete.
pub async fn purge_older_than(owner: &PgPool, age: Duration) -> crate::Result<u64> {
    let mut tx = owner.begin().await?;
    let citus: bool = sqlx::query_scalar(crate::model::citus_present_sql())
        .fetch_one(&mut *tx)
        .await?;
    // The append-only trigger runs where the rows are: on Citus, on the workers, which a
    // `set_config` on the coordinator does not reach.
    let allow = if citus {
        "SET LOCAL citus.enable_unsafe_triggers = on;
         SET LOCAL citus.propagate_set_commands = 'local'; SET LOCAL saas.audit_purge = 'on'"
    } else {
        "SELECT set_config('saas.audit_purge', 'on', true)"
    };
    sqlx::raw_sql(allow).execute(&mut *tx).await?;
    let deleted = sqlx::query(
        "DELETE FROM saas_audit_log WHERE occurred_at < now() - make_interval(secs => $1)",
    )
    .bind(age.as_secs_f64())
    .execute(&mut *tx)
    .await?
    .rows_affected();
    tx.commit().await?;
    Ok(deleted)
}
