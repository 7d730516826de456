//! What an isolated test costs, for the reference app's migration set, in one run:
//!
//! - `sqlx_test_way` (baseline): a new database and every migration run into it, as
//!   `#[sqlx::test]` does;
//! - `database_from_template`: a new database cloned from the testkit's template;
//! - `shared_tier_tenant`: a new tenant in the shared database;
//! - `schema_tier_tenant`: a new tenant with a schema of its own (created and migrated);
//! - `pool_checkout`: a database from the testkit's pool ([`saas_testkit::DbPool`], cloned
//!   ahead of time), the wait of one test thread that writes and reads a row in each
//!   database before dropping it (the write is not timed);
//! - `realistic_sqlx_test` and `realistic_pool_checkout`: the same two for the realistic
//!   schema (`fixtures/realistic`: 40 tables, 120 migrations, citext, pgcrypto, seed rows).
//!
//! Waits with 8 test threads at once, p50 and p99: `cargo bench -p saas-testkit --bench
//! checkout`.
//!
//! Run: `cargo bench -p saas-testkit --bench provisioning`, then
//! `scripts/bench-ratios.py provisioning sqlx_test`.

use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use saas_core::tenancy::registry::NewTenant;
use saas_testkit::{DbPool, Isolation, PoolOptions, TestEnv};
use sqlx::{Connection, Executor, PgConnection};

static REALISTIC: sqlx::migrate::Migrator = sqlx::migrate!("fixtures/realistic");

/// `CREATE DATABASE` and every migration, as `#[sqlx::test]` does; the time of each.
async fn sqlx_test_way(
    server: &str,
    migrations: &sqlx::migrate::Migrator,
    names: &[String],
) -> Duration {
    let mut admin = PgConnection::connect(server).await.unwrap();
    let mut total = Duration::ZERO;
    for db in names {
        let start = Instant::now();
        admin
            .execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE \"{db}\"")))
            .await
            .unwrap();
        let url = saas_testkit::with_database(server, db).unwrap();
        let mut conn = PgConnection::connect(&url).await.unwrap();
        sqlx::raw_sql("CREATE SCHEMA saas; CREATE TABLE saas.tenants (id uuid PRIMARY KEY)")
            .execute(&mut conn)
            .await
            .unwrap();
        migrations.run_direct(None, &mut conn, false).await.unwrap();
        total += start.elapsed();
        conn.close().await.ok();
        admin
            .execute(sqlx::AssertSqlSafe(format!(
                "DROP DATABASE \"{db}\" WITH (FORCE)"
            )))
            .await
            .unwrap();
    }
    total
}

/// `iters` checkouts from the pool, one test after the other; the time of the checkouts.
async fn pool_checkouts(pool: DbPool, iters: u64) -> Duration {
    let mut total = Duration::ZERO;
    for _ in 0..iters {
        let start = Instant::now();
        let db = pool.checkout().await.unwrap();
        total += start.elapsed();
        // The test's body: a write and a read (not timed).
        let mut conn = db.owner_conn().await.unwrap();
        sqlx::raw_sql(
            "CREATE TABLE IF NOT EXISTS bench_probe (n int); INSERT INTO bench_probe VALUES (1);
             SELECT count(*) FROM bench_probe;",
        )
        .execute(&mut conn)
        .await
        .unwrap();
        conn.close().await.ok();
    }
    total
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let server = rt.block_on(saas_testkit::server_url()).unwrap();
    let template = rt
        .block_on(saas_testkit::ensure_template(
            &server,
            Some(&taskboard::MIGRATIONS),
        ))
        .unwrap();
    let env = rt
        .block_on(
            TestEnv::builder()
                .migrations(&taskboard::MIGRATIONS)
                .isolation(Isolation::Tenant)
                .start(),
        )
        .unwrap();
    // Each variant starts from a quiet server: the previous one's written blocks are flushed
    // first, so no variant pays for another's I/O (needs superuser or pg_checkpoint; skipped
    // without).
    let quiesce = |server: &str| {
        let server = server.to_string();
        rt.block_on(async move {
            if let Ok(mut conn) = PgConnection::connect(&server).await {
                let _ = conn.execute("CHECKPOINT").await;
                conn.close().await.ok();
            }
        });
    };
    let mut group = c.benchmark_group("provisioning");
    group
        .sample_size(20)
        .measurement_time(Duration::from_secs(15));

    let mut n = 0u64;
    let mut name = || {
        n += 1;
        format!(
            "saas_test_{}_{}_bench_{n}",
            saas_testkit::host_tag(),
            std::process::id()
        )
    };

    quiesce(&server);
    group.bench_function("sqlx_test", |b| {
        b.to_async(&rt).iter_custom(|iters| {
            let names: Vec<String> = (0..iters).map(|_| name()).collect();
            let server = server.clone();
            async move { sqlx_test_way(&server, &taskboard::MIGRATIONS, &names).await }
        })
    });

    quiesce(&server);
    group.bench_function("database_from_template", |b| {
        b.to_async(&rt).iter_custom(|iters| {
            let names: Vec<String> = (0..iters).map(|_| name()).collect();
            let (server, template) = (server.clone(), template.clone());
            async move {
                let mut admin = PgConnection::connect(&server).await.unwrap();
                let mut total = Duration::ZERO;
                for db in &names {
                    let start = Instant::now();
                    admin
                        .execute(sqlx::AssertSqlSafe(format!(
                            "CREATE DATABASE \"{db}\" TEMPLATE \"{template}\""
                        )))
                        .await
                        .unwrap();
                    total += start.elapsed();
                    admin
                        .execute(sqlx::AssertSqlSafe(format!(
                            "DROP DATABASE \"{db}\" WITH (FORCE)"
                        )))
                        .await
                        .unwrap();
                }
                total
            }
        })
    });

    let mut t = 0u64;
    quiesce(&server);
    group.bench_function("shared_tier_tenant", |b| {
        b.to_async(&rt).iter(|| {
            t += 1;
            let slug = format!("bench-{}-{t}", std::process::id());
            create(
                env.tenancy().tenants().clone(),
                NewTenant::new(slug, "bench"),
            )
        })
    });
    let mut s = 0u64;
    quiesce(&server);
    group.bench_function("schema_tier_tenant", |b| {
        b.to_async(&rt).iter(|| {
            s += 1;
            let slug = format!("bench-schema-{}-{s}", std::process::id());
            let new = NewTenant::new(slug, "bench").tier(saas_core::tenancy::Tier::Schema);
            create(env.tenancy().tenants().clone(), new)
        })
    });

    let pool = rt
        .block_on(DbPool::start(
            &server,
            Some(&taskboard::MIGRATIONS),
            PoolOptions::from_env(),
        ))
        .unwrap();
    quiesce(&server);
    group.bench_function("pool_checkout", |b| {
        b.to_async(&rt)
            .iter_custom(|iters| pool_checkouts(pool.clone(), iters))
    });
    drop(pool);

    quiesce(&server);
    group.bench_function("realistic_sqlx_test", |b| {
        b.to_async(&rt).iter_custom(|iters| {
            let names: Vec<String> = (0..iters).map(|_| name()).collect();
            let server = server.clone();
            async move { sqlx_test_way(&server, &REALISTIC, &names).await }
        })
    });

    let pool = rt
        .block_on(DbPool::start(
            &server,
            Some(&REALISTIC),
            PoolOptions::from_env(),
        ))
        .unwrap();
    quiesce(&server);
    group.bench_function("realistic_pool_checkout", |b| {
        b.to_async(&rt)
            .iter_custom(|iters| pool_checkouts(pool.clone(), iters))
    });
    group.finish();
}

async fn create(tenants: saas_core::tenancy::Tenants, new: NewTenant) {
    tenants.create(new).await.unwrap();
}

criterion_group!(benches, bench);
criterion_main!(benches);
