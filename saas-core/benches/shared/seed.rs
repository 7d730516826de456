//! A seeded tenancy the HTTP-level benchmarks share: four shared-tier tenants with 250
//! projects each, analysed.

#![allow(dead_code)] // each benchmark uses some of it

use saas_core::prelude::*;
use saas_core::tenancy::pool::Tenancy;
use saas_core::tenancy::registry::{NewTenant, Tenant};
use saas_core::tenancy::resolver::ResolverChain;

use super::models::{MIGRATIONS, NewProject, Project};

/// The database, the runtime, the first tenant and its project ids.
pub struct Seeded {
    pub db: saas_testkit::TestDb,
    pub tenancy: Tenancy,
    pub tenant: Tenant,
    pub ids: Vec<Uuid>,
}

/// A fresh database with the benchmark models, a runtime with `pool` request connections
/// and these resolvers, and the seeded tenants.
pub async fn seeded(resolvers: ResolverChain, pool: u32) -> Seeded {
    let db = saas_testkit::TestDb::new()
        .await
        .expect("a PostgreSQL for benchmarks");
    let tenancy = Tenancy::start(
        db.config().request_pool_size(pool).bound_tenants(0),
        resolvers,
        Some(&MIGRATIONS),
    )
    .await
    .unwrap();
    let (first, ids) = four_tenants(&tenancy).await;
    let tenant = tenancy.tenants().get_cached(first).await.unwrap();
    Seeded {
        db,
        tenancy,
        tenant,
        ids,
    }
}

/// Creates tenants `acme`, `globex`, `initech` and `umbrella` with 250 projects each and
/// analyzes the table; returns the first tenant and its project ids.
pub async fn four_tenants(tenancy: &Tenancy) -> (TenantId, Vec<Uuid>) {
    let mut ids = Vec::new();
    let mut tenant = None;
    for slug in ["acme", "globex", "initech", "umbrella"] {
        let t = tenancy
            .tenants()
            .create(NewTenant::new(slug, slug))
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
