//! Get-by-key through the framework against a hand-written query on the same data, same run.
//!
//! Run: `DATABASE_URL=... cargo bench -p saas-core --bench get_by_key`, then
//! `python3 scripts/bench-ratios.py get_by_key` for the ratios against the baseline.
//!
//! - `handwritten`: `SELECT ... WHERE tenant_id = $1 AND id = $2` on a pool of a role that
//!   RLS does not apply to (the test server's superuser): what an app without the framework
//!   does.
//! - `textbook_rls`: BEGIN; set_config; SELECT; COMMIT — four round trips, as most
//!   RLS write-ups show it.
//! - `framework_shared`: `Model::get` through a `TenantTx` on the shared request pool (BEGIN
//!   and set_config in one round trip, the SELECT, COMMIT).
//! - `framework_bound`: the same call when the tenant holds a bound pool: one round trip.

#![allow(dead_code)] // the models exist for their generated operations

use criterion::{Criterion, criterion_group, criterion_main};
use saas_core::prelude::*;
use saas_core::tenancy::pool::Tenancy;
use saas_core::tenancy::resolver::ResolverChain;
use sqlx::postgres::PgPoolOptions;

#[path = "../tests/it/common/models.rs"]
mod models;
#[path = "shared/seed.rs"]
mod seed;
use models::{MIGRATIONS, Project};

const POOL: u32 = 4;

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (db, shared, bound, tenant, ids) = rt.block_on(async {
        let db = saas_testkit::TestDb::new()
            .await
            .expect("a PostgreSQL for benchmarks");
        let shared = Tenancy::start(
            db.config().request_pool_size(POOL).bound_tenants(0),
            ResolverChain::new(),
            Some(&MIGRATIONS),
        )
        .await
        .unwrap();
        let bound = Tenancy::start(
            db.config().request_pool_size(POOL).bound_tenants(8),
            ResolverChain::new(),
            Some(&MIGRATIONS),
        )
        .await
        .unwrap();
        let (tenant, ids) = seed::four_tenants(&shared).await;
        (db, shared, bound, tenant, ids)
    });
    let baseline = rt
        .block_on(
            PgPoolOptions::new()
                .max_connections(POOL)
                .test_before_acquire(false)
                .connect(db.url()),
        )
        .unwrap();

    let mut group = c.benchmark_group("get_by_key");
    let mut n = 0usize;
    let mut next = || {
        n = (n + 1) % ids.len();
        ids[n]
    };

    group.bench_function("handwritten", |b| {
        b.to_async(&rt).iter(|| {
            let id = next();
            let pool = baseline.clone();
            async move {
                let row: (Uuid, Uuid, String, OffsetDateTime) = sqlx::query_as(
                    "SELECT tenant_id, id, name, created_at FROM projects WHERE tenant_id = $1 AND id = $2",
                )
                .bind(tenant)
                .bind(id)
                .fetch_one(&pool)
                .await
                .unwrap();
                row
            }
        })
    });

    group.bench_function("textbook_rls", |b| {
        b.to_async(&rt).iter(|| {
            let id = next();
            let pool = shared.__request_pool().clone();
            async move {
                let mut tx = pool.begin().await.unwrap();
                sqlx::query("SELECT set_config('saas.tenant_id', $1, true)")
                    .bind(tenant.to_string())
                    .execute(&mut *tx)
                    .await
                    .unwrap();
                let row: (Uuid, Uuid, String, OffsetDateTime) = sqlx::query_as(
                    "SELECT tenant_id, id, name, created_at FROM projects WHERE tenant_id = $1 AND id = $2",
                )
                .bind(tenant)
                .bind(id)
                .fetch_one(&mut *tx)
                .await
                .unwrap();
                tx.commit().await.unwrap();
                row
            }
        })
    });

    for (name, tenancy) in [("framework_shared", &shared), ("framework_bound", &bound)] {
        group.bench_function(name, |b| {
            b.to_async(&rt).iter(|| {
                let id = next();
                let tenancy = tenancy.clone();
                async move {
                    let mut tx = TenantTx::begin(&tenancy, tenant);
                    let project = Project::get(&mut tx, id).await.unwrap();
                    tx.commit().await.unwrap();
                    project
                }
            })
        });
    }
    group.finish();
    rt.block_on(async {
        shared.close().await;
        bound.close().await;
        baseline.close().await;
    });
    drop(db);
}

criterion_group!(benches, bench);
criterion_main!(benches);
