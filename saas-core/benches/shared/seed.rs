//! The data the read benchmarks share: four tenants of 250 projects each.

use saas_core::prelude::*;
use saas_core::tenancy::pool::Tenancy;
use saas_core::tenancy::registry::NewTenant;

use super::models::{NewProject, Project};

/// Creates tenants `acme`, `globex`, `initech` and `umbrella` with 250 projects each and
/// analyzes the table; returns the first tenant and its project ids.
pub async fn four_tenants(tenancy: &Tenancy) -> (TenantId, Vec<Uuid>) {
    let mut ids = Vec::new();
    let mut tenant = None;
    for slug in ["acme", "globex", "initech", "umbrella"] {
        let t = tenancy
            .tenants()
            .create(NewTenant {
                slug: slug.into(),
                name: slug.into(),
                tier: None,
                server: None,
            })
            .await
            .unwrap();
        let mut tx = TenantTx::begin(tenancy, t.id);
        for i in 0..250 {
            let p = Project::insert(
                &mut tx,
                NewProject {
                    name: format!("{slug}-{i}"),
                },
            )
            .await
            .unwrap();
            if slug == "acme" {
                ids.push(p.id);
            }
        }
        tx.commit().await.unwrap();
        tenant.get_or_insert(t.id);
    }
    sqlx::query("ANALYZE projects")
        .execute(tenancy.owner_pool())
        .await
        .unwrap();
    (tenant.unwrap(), ids)
}
