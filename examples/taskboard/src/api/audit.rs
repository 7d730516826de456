//! The tenant's audit trail: its domain events, newest first.

use saas_core::endpoint;
use saas_core::events::audit::{self, AuditEntry};
use saas_core::http::{Json, Query};
use saas_core::prelude::*;
use serde::Serialize;
use utoipa::ToSchema;

use super::PageQuery;

/// A page of the audit trail.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditPage {
    /// Newest first.
    pub items: Vec<AuditEntry>,
    /// Pass back as `cursor` for older entries; null on the last page.
    pub next_cursor: Option<String>,
}

#[endpoint(get, "/audit", versions = 2.., tag = "audit",
    params(PageQuery),
    responses((status = 200, description = "The caller tenant's events, newest first", body = AuditPage)))]
pub async fn list_audit(
    mut tx: TenantTx,
    Query(q): Query<PageQuery>,
) -> ApiResult<Json<AuditPage>> {
    let page = PageRequest::from_query(q.limit, q.cursor.as_deref())?;
    let page = audit::page(&mut tx, page).await?;
    Ok(Json(AuditPage {
        items: page.items,
        next_cursor: page.next_cursor,
    }))
}
