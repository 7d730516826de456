//! The connections a move works over, and the statements that fence, switch and clean up.

use sqlx::{Connection, PgConnection};

use super::copy::{as_tenant, delete_rows, tables_to_copy};
use crate::error::{ApiError, ApiResult};
use crate::model::ModelMeta;
use crate::sql::quote_ident as ddl_quote_ident;
use crate::tenancy::TenantId;
use crate::tenancy::placement::Location;
use crate::tenancy::pool::Tenancy;
use crate::tenancy::registry::FENCE_LOCK;

/// A dedicated owner connection to a location, and the schemas its tables live in. Every
/// statement a move runs names its tables through [`Site::table`], schema-qualified: a
/// `search_path` silently skips a schema that does not exist, and an unqualified name would
/// then resolve to the shared schema's table of the same name (the tenant's live rows, when
/// it is in the shared tier).
pub(super) struct Site {
    pub(super) conn: PgConnection,
    pub(super) names: Names,
}

/// The schemas of a location's tables.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Names {
    /// The schema of the application's tables.
    models: String,
    /// The schema of the event tables (the shared schema for a tenant schema).
    events: String,
}

impl Site {
    pub(super) async fn close(self) {
        self.conn.close().await.ok();
    }
}

impl Names {
    /// The schema-qualified, quoted name of a model's table at this location.
    pub(super) fn table(&self, table: &str) -> String {
        let schema = if crate::events::schema::is_event_table(table) {
            &self.events
        } else {
            &self.models
        };
        format!("{}.{}", ddl_quote_ident(schema), ddl_quote_ident(table))
    }
}

pub(super) async fn connect(tenancy: &Tenancy, location: &Location) -> ApiResult<Site> {
    let mut conn = tenancy.provisioner().connect(location).await?;
    let shared = tenancy.shared_schema().to_string();
    let (models, events) = match location {
        Location::Shared | Location::Dedicated => (shared.clone(), shared),
        Location::Schema(schema) => {
            // Statements are qualified; the path is set as for the tenant's requests only for
            // what the application's triggers and functions resolve.
            sqlx::query("SELECT set_config('search_path', $1, false)")
                .bind(crate::tenancy::placement::tenant_search_path(
                    schema, &shared,
                ))
                .execute(&mut conn)
                .await?;
            (schema.clone(), shared)
        }
        Location::Database { .. } => {
            // A tenant database is migrated in its owner's default schema.
            let schema: String =
                sqlx::query_scalar("SELECT COALESCE(current_schema(), 'public')::text")
                    .fetch_one(&mut conn)
                    .await?;
            (schema.clone(), schema)
        }
    };
    Ok(Site {
        conn,
        names: Names { models, events },
    })
}

/// Whether a (qualified, quoted) table exists.
pub(super) async fn table_exists(conn: &mut PgConnection, qualified: &str) -> ApiResult<bool> {
    Ok(sqlx::query_scalar("SELECT to_regclass($1) IS NOT NULL")
        .bind(qualified)
        .fetch_one(&mut *conn)
        .await?)
}

/// Refuses to copy into a target that lacks any of the tables (an unfinished provisioning).
pub(super) async fn require_tables(
    site: &mut Site,
    tables: &[&'static ModelMeta],
) -> ApiResult<()> {
    for model in tables {
        let qualified = site.names.table(model.table);
        if !table_exists(&mut site.conn, &qualified).await? {
            return Err(ApiError::Internal(anyhow::anyhow!(
                "the move's target lacks the table {qualified}: it is not provisioned"
            )));
        }
    }
    Ok(())
}

/// Fences the tenant's writes at `location`, waiting for in-flight writes there.
pub(super) async fn fence(tenancy: &Tenancy, id: TenantId, location: &Location) -> ApiResult<()> {
    let mut conn = tenancy.provisioner().connect(location).await?;
    let mut tx = conn.begin().await?;
    sqlx::query("SELECT pg_advisory_xact_lock($1, hashtext($2::text))")
        .bind(FENCE_LOCK)
        .bind(id)
        .execute(&mut *tx)
        .await?;
    sqlx::query(
        "INSERT INTO saas.fences (tenant_id, location) VALUES ($1, $2) ON CONFLICT DO NOTHING",
    )
    .bind(id)
    .bind(location.label())
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    conn.close().await.ok();
    Ok(())
}

pub(super) async fn unfence(tenancy: &Tenancy, id: TenantId, location: &Location) -> ApiResult<()> {
    let mut conn = tenancy.provisioner().connect(location).await?;
    sqlx::query("DELETE FROM saas.fences WHERE tenant_id = $1 AND location = $2")
        .bind(id)
        .bind(location.label())
        .execute(&mut conn)
        .await?;
    conn.close().await.ok();
    Ok(())
}

/// Points the registry at the target, atomically with the move's own record.
pub(super) async fn switch(tenancy: &Tenancy, id: TenantId, to: &Location) -> ApiResult<()> {
    let placement = to.placement();
    let mut tx = tenancy.owner_pool().begin().await?;
    sqlx::query(
        "UPDATE saas.tenants SET tier = $2, server = $3, db_name = $4, schema_name = $5, migrated = $6
          WHERE id = $1",
    )
    .bind(id)
    .bind(to.tier().as_str())
    .bind(&placement.server)
    .bind(&placement.database)
    .bind(&placement.schema)
    .bind(tenancy.provisioner().fingerprint())
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "UPDATE saas.tenant_moves SET step = 'switched', updated_at = now() WHERE tenant_id = $1",
    )
    .bind(id)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    tenancy.tenants().invalidate(id);
    tenancy.bound_pools().forget(id).await;
    Ok(())
}

/// Removes the tenant's data at `location`, which it left for `other`. Idempotent.
pub(super) async fn remove_copy(
    tenancy: &Tenancy,
    id: TenantId,
    location: &Location,
    other: &Location,
) -> ApiResult<()> {
    match location {
        Location::Shared | Location::Dedicated | Location::Schema(_) => {
            // Rows in the shared schema: the models' (shared tier), and the event tables'
            // when they moved to another database.
            let tables: Vec<&'static ModelMeta> = tables_to_copy(location, other)
                .into_iter()
                .filter(|m| {
                    location.in_shared_tables() || crate::events::schema::is_event_table(m.table)
                })
                .collect();
            let mut shared = connect(tenancy, &Location::Shared).await?;
            let names = shared.names.clone();
            let mut tx = shared.conn.begin().await?;
            as_tenant(&mut tx, id).await?;
            delete_rows(&mut tx, &names, id, &tables).await?;
            tx.commit().await?;
            shared.close().await;
            if let Location::Schema(_) = location {
                tenancy.provisioner().deprovision(location).await?;
            }
            Ok(())
        }
        Location::Database { server, database } => {
            tenancy.database_pools().close(server, database).await;
            tenancy.provisioner().deprovision(location).await
        }
    }
}

/// Undoes a move that failed before its switch: the partial copy goes, the fence lifts.
/// Only the target is touched, by schema-qualified names, and only tables that exist there;
/// the source's rows are never deleted.
pub(super) async fn roll_back(
    tenancy: &Tenancy,
    id: TenantId,
    from: &Location,
    to: &Location,
) -> ApiResult<()> {
    if to == from {
        return Err(ApiError::Internal(anyhow::anyhow!(
            "refusing to roll back a move of tenant {id} onto its own location {from}"
        )));
    }
    match to {
        Location::Database { .. } => remove_copy(tenancy, id, to, from).await?,
        // The target shares the primary database: remove exactly what the copy wrote.
        _ => {
            let tables = tables_to_copy(from, to);
            let mut target = connect(tenancy, to).await?;
            let names = target.names.clone();
            if from.same_database(to) {
                // Source and target tables share the database: a name that resolves to the
                // source's table is never the target's.
                let source = connect(tenancy, from).await?;
                let source_names = source.names.clone();
                source.close().await;
                for model in &tables {
                    let table = names.table(model.table);
                    if table == source_names.table(model.table) {
                        return Err(ApiError::Internal(anyhow::anyhow!(
                            "refusing to roll back: the target's {table} is the source's"
                        )));
                    }
                }
            }
            let mut tx = target.conn.begin().await?;
            as_tenant(&mut tx, id).await?;
            delete_rows(&mut tx, &names, id, &tables).await?;
            tx.commit().await?;
            target.close().await;
            if let Location::Schema(_) = to {
                tenancy.provisioner().deprovision(to).await?;
            }
            // The target's fence (taken before the copy) lives in the primary database.
            unfence(tenancy, id, to).await?;
        }
    }
    unfence(tenancy, id, from).await?;
    sqlx::query("DELETE FROM saas.tenant_moves WHERE tenant_id = $1")
        .bind(id)
        .execute(tenancy.owner_pool())
        .await?;
    Ok(())
}
