//! A no-op migration run across many schema-tier tenants (1,000 by default;
//! `SAAS_BENCH_TENANTS` to change), same database, same run:
//!
//! - `sqlx_per_schema` (baseline): what a hand-rolled loop does with sqlx alone — for every
//!   schema, point `search_path` at it and run the migrator (each finds nothing to apply);
//! - `framework_ledger`: `migrate_tenants` as `migrate` runs it: the registry's per-tenant
//!   ledger shows every tenant at the current migration set, so nothing is opened;
//! - `framework_forced`: `migrate_tenants` with `force` (what runs after a framework or model
//!   change): every schema re-checked — migrations, RLS, policies, grants — 4 at a time.
//!
//! Run: `DATABASE_URL=... cargo bench -p saas-core --bench tenant_migrations`, then
//! `python3 scripts/bench-ratios.py tenant_migrations sqlx_per_schema`.

use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use saas_core::migrate::tenants::{MigrateOptions, migrate_tenants};
use saas_core::tenancy::pool::Tenancy;
use saas_core::tenancy::registry::{NewTenant, Tier};
use saas_core::tenancy::resolver::ResolverChain;
use sqlx::Connection;

#[path = "../tests/it/common/models.rs"]
mod models;
use models::MIGRATIONS;

fn bench(c: &mut Criterion) {
    let tenants: usize = std::env::var("SAAS_BENCH_TENANTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (db, tenancy, schemas) = rt.block_on(async {
        let db = saas_testkit::TestDb::new()
            .await
            .expect("a PostgreSQL for benchmarks");
        let tenancy = Tenancy::start(db.config(), ResolverChain::new(), Some(&MIGRATIONS))
            .await
            .unwrap();
        let started = Instant::now();
        let mut schemas = Vec::new();
        for n in 0..tenants {
            let tenant = tenancy
                .tenants()
                .create(NewTenant {
                    slug: format!("bench-{n}"),
                    name: "bench".into(),
                    tier: Some(Tier::Schema),
                    server: None,
                })
                .await
                .unwrap();
            schemas.push(tenant.placement.schema.unwrap());
        }
        eprintln!(
            "created {tenants} schema-tier tenants in {:.1?}",
            started.elapsed()
        );
        (db, tenancy, schemas)
    });
    let mut group = c.benchmark_group("tenant_migrations");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(20));

    group.bench_function("sqlx_per_schema", |b| {
        b.to_async(&rt).iter_custom(|iters| {
            let (url, schemas) = (db.url().to_string(), schemas.clone());
            async move {
                let mut migrator =
                    sqlx::migrate::Migrator::with_migrations(MIGRATIONS.iter().cloned().collect());
                migrator.set_locking(false);
                let mut conn = sqlx::PgConnection::connect(&url).await.unwrap();
                let start = Instant::now();
                for _ in 0..iters {
                    for schema in &schemas {
                        sqlx::query("SELECT set_config('search_path', $1, false)")
                            .bind(format!("\"{schema}\""))
                            .execute(&mut conn)
                            .await
                            .unwrap();
                        migrator.run_direct(None, &mut conn, false).await.unwrap();
                    }
                }
                let elapsed = start.elapsed();
                conn.close().await.ok();
                elapsed
            }
        })
    });

    let ledger = MigrateOptions::for_tenancy(&tenancy);
    group.bench_function("framework_ledger", |b| {
        b.to_async(&rt).iter(|| {
            let (tenancy, options) = (tenancy.clone(), ledger.clone());
            async move {
                let summary = migrate_tenants(&tenancy, &options, |_| {}).await.unwrap();
                assert_eq!(summary.up_to_date, tenants);
            }
        })
    });

    let forced = MigrateOptions {
        force: true,
        ..MigrateOptions::for_tenancy(&tenancy)
    };
    group.bench_function("framework_forced", |b| {
        b.to_async(&rt).iter(|| {
            let (tenancy, options) = (tenancy.clone(), forced.clone());
            async move {
                let summary = migrate_tenants(&tenancy, &options, |_| {}).await.unwrap();
                assert_eq!(
                    summary.migrated,
                    tenants,
                    "{:?}",
                    &summary.failed[..summary.failed.len().min(3)]
                );
            }
        })
    });
    group.finish();
    rt.block_on(tenancy.close());
    drop(db);
}

criterion_group!(benches, bench);
criterion_main!(benches);
