//! Tenants, writes and reads shared by the tenant-move tests.

use std::collections::BTreeSet;

use saas_core::prelude::*;
use saas_core::tenancy::pool::Tenancy;
use saas_core::tenancy::registry::{NewTenant, Tenant, Tier};
use saas_core::tenancy::{Access, Location, TenantExecutor};

use super::{NewProject, NewTask, Project, Task};

pub async fn create(tenancy: &Tenancy, slug: &str, tier: Tier) -> Tenant {
    tenancy
        .tenants()
        .create(NewTenant {
            slug: slug.into(),
            name: slug.into(),
            tier: Some(tier),
            server: None,
        })
        .await
        .unwrap()
}

/// Inserts a project and a task under it, committed; returns the project id once acknowledged.
pub async fn write_pair(tenancy: &Tenancy, tenant: TenantId, n: usize) -> ApiResult<Uuid> {
    let mut tx = TenantTx::begin(tenancy, tenant);
    let project = Project::insert(
        &mut tx,
        NewProject {
            name: format!("p{n}"),
        },
    )
    .await?;
    Task::insert(
        &mut tx,
        NewTask {
            project_id: project.id,
            title: format!("t{n}"),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(project.id)
}

/// The tenant's projects read through a `TenantTx`, each checked to have its one task.
pub async fn project_ids(tenancy: &Tenancy, tenant: TenantId) -> BTreeSet<Uuid> {
    let mut tx = TenantTx::begin(tenancy, tenant);
    // A read: served while a move has the tenant's writes fenced.
    let conn = tx.scoped_conn(Access::Read).await.unwrap();
    // One statement, one snapshot (writers may be committing meanwhile).
    let rows: Vec<(Uuid, i64)> = sqlx::query_as(
        "SELECT p.id, (SELECT count(*) FROM tasks t
                        WHERE t.tenant_id = p.tenant_id AND t.project_id = p.id)
           FROM projects p",
    )
    .fetch_all(&mut *conn)
    .await
    .unwrap();
    for (id, tasks) in &rows {
        assert_eq!(*tasks, 1, "project {id} kept its one task");
    }
    rows.into_iter().map(|(id, _)| id).collect()
}

/// How many rows of `tenant` remain at a location (as the owner with the tenant context).
pub async fn rows_at(tenancy: &Tenancy, location: &Location, tenant: TenantId) -> Option<i64> {
    let mut conn = tenancy.provisioner().connect(location).await.ok()?;
    let table = match location {
        Location::Schema(schema) => format!("\"{schema}\".projects"),
        _ => "public.projects".to_string(),
    };
    let mut tx = sqlx::Connection::begin(&mut conn).await.ok()?;
    sqlx::query("SELECT set_config('saas.tenant_id', $1, true)")
        .bind(tenant.to_string())
        .execute(&mut *tx)
        .await
        .ok()?;
    sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT count(*) FROM {table} WHERE tenant_id = $1"
    )))
    .bind(tenant)
    .fetch_one(&mut *tx)
    .await
    .ok()
}
