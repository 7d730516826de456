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
    let mut first = None;
    let mut ids = Vec::new();
    for slug in ["acme", "globex", "initech", "umbrella"] {
        let t = tenancy
            .tenants()
            .create(NewTenant::new(slug, slug))
            .await
            .unwrap();
        let mut tx = TenantTx::begin(&tenancy, t.id);
        for i in 0..250 {
            let p = Project::insert(
                &mut tx,
                NewProject {
                    name: format!("{slug}-{i}"),
                },
            )
            .await
            .unwrap();
            if first.is_none() {
                ids.push(p.id);
            }
        }
        tx.commit().await.unwrap();
        first.get_or_insert(t);
    }
    sqlx::query("ANALYZE projects")
        .execute(tenancy.owner_pool())
        .await
        .unwrap();
    Seeded {
        db,
        tenancy,
        tenant: first.unwrap(),
        ids,
    }
}
