//! What a test waits for its own database, with 8 test threads, against the `sqlx::test` way.
//!
//! For each schema (the reference app's two tables, the realistic fixture of 40 tables and
//! 120 migrations) and clone strategy (`auto`, the pool's default, `WAL_LOG`, `FILE_COPY`):
//!
//! - `sqlx_test`: `CREATE DATABASE` and every migration, as `#[sqlx::test]` does (median of
//!   `SAMPLES` sequential runs);
//! - `clone`: one `CREATE DATABASE ... TEMPLATE ... STRATEGY` by itself (median);
//! - `checkout`: 8 threads, each with a runtime of its own as test threads have, each taking
//!   `PER_THREAD` databases from one [`DbPool`] (size 8) in turn, running the test's body in
//!   each (`BODY_MS` of extra work if set, varied by up to `BODY_JITTER_MS` either way as a
//!   real suite's tests are, else all in step), then dropping it: the wait of every checkout, p50
//!   and p99, and the wall time of all of them. Three bodies: `rows` (a tenant and a row
//!   written and read, the pool resetting used databases), `rows, no reset` (the same with
//!   `PoolOptions::recycle(false)`: every used database dropped, every one cloned) and
//!   `schema change` (a table created: never reusable).
//!
//! On the test server (`DATABASE_URL`, else the local server), and with `CHECKOUT_OWN=1` on a
//! throwaway cluster the bench starts itself (`fsync=off`, `full_page_writes=off`,
//! `synchronous_commit=off`; see `saas_core::devdb`).
//!
//! Run: `cargo bench -p saas-testkit --bench checkout` (env: `CHECKOUT_OWN`, `SAMPLES`
//! (default 10), `PER_THREAD` (default 25), `BODY_MS` (default 0), `BODY_JITTER_MS` (default
//! 0), `STRATEGIES` (default `auto,wal_log,file_copy`), `POOL_SIZE` (default 8, the threads),
//! `CREATORS` (default 2), `BODIES` (default all three: `rows;rows, no reset;schema change`)).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use saas_testkit::{CloneStrategy, DbPool, PoolOptions};
use sqlx::{Connection, Executor, PgConnection};

static REALISTIC: sqlx::migrate::Migrator = sqlx::migrate!("fixtures/realistic");

const THREADS: usize = 8;

fn env_number(var: &str, default: usize) -> usize {
    std::env::var(var)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

fn scratch_name(n: usize) -> String {
    format!(
        "saas_test_{}_{}_bench_{n}",
        saas_testkit::host_tag(),
        std::process::id()
    )
}

/// The `sqlx::test` way: a new database and every migration.
async fn sqlx_test_way(
    server: &str,
    migrations: &sqlx::migrate::Migrator,
    samples: usize,
) -> Duration {
    let mut admin = PgConnection::connect(server).await.unwrap();
    let mut times = Vec::new();
    for n in 0..samples {
        let db = scratch_name(n);
        let start = Instant::now();
        admin
            .execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE \"{db}\"")))
            .await
            .unwrap();
        let url = saas_testkit::with_database(server, &db).unwrap();
        let mut conn = PgConnection::connect(&url).await.unwrap();
        // The framework's registry the app's tables refer to.
        sqlx::raw_sql("CREATE SCHEMA saas; CREATE TABLE saas.tenants (id uuid PRIMARY KEY)")
            .execute(&mut conn)
            .await
            .unwrap();
        migrations.run_direct(None, &mut conn, false).await.unwrap();
        times.push(start.elapsed());
        conn.close().await.ok();
        admin
            .execute(sqlx::AssertSqlSafe(format!(
                "DROP DATABASE \"{db}\" WITH (FORCE)"
            )))
            .await
            .unwrap();
    }
    times.sort();
    percentile(&times, 50.0)
}

/// One clone by itself.
async fn clone_alone(
    server: &str,
    template: &str,
    strategy: CloneStrategy,
    samples: usize,
) -> Duration {
    // `Auto` starts with `WAL_LOG` (a resetting pool's first clones).
    let clause = match strategy {
        CloneStrategy::WalLog | CloneStrategy::Auto => "WAL_LOG",
        CloneStrategy::FileCopy => "FILE_COPY",
    };
    let mut admin = PgConnection::connect(server).await.unwrap();
    let mut times = Vec::new();
    for n in 0..samples {
        let db = scratch_name(1000 + n);
        let start = Instant::now();
        admin
            .execute(sqlx::AssertSqlSafe(format!(
                "CREATE DATABASE \"{db}\" TEMPLATE \"{template}\" STRATEGY = {clause}"
            )))
            .await
            .unwrap();
        times.push(start.elapsed());
        admin
            .execute(sqlx::AssertSqlSafe(format!(
                "DROP DATABASE \"{db}\" WITH (FORCE)"
            )))
            .await
            .unwrap();
    }
    times.sort();
    percentile(&times, 50.0)
}

struct Checkouts {
    waits: Vec<Duration>,
    wall: Duration,
    fill: Duration,
}

/// What a benchmark test does with its database.
#[derive(Debug, Clone, Copy)]
enum Body {
    /// Writes a tenant and reads it back: rows only.
    Rows,
    /// Creates a table, writes and reads it: a schema change.
    SchemaChange,
}

/// 8 test threads taking databases from one pool.
/// The extra work of the `n`th test of thread `thread`: `extra`, or with `jitter` a duration
/// drawn evenly from `extra - jitter ..= extra + jitter` (the same sequence in every run).
fn test_work(extra: Duration, jitter: Duration, thread: usize, n: usize) -> Duration {
    if jitter.is_zero() {
        return extra;
    }
    // SplitMix64 of (thread, n): spread enough for this, and no dependency.
    let mut x = (thread as u64) << 32 | n as u64;
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^= x >> 31;
    let span = 2 * jitter.as_micros() as u64 + 1;
    (extra + Duration::from_micros(x % span)).saturating_sub(jitter)
}

fn checkouts(
    pool: DbPool,
    per_thread: usize,
    body: Body,
    (extra, jitter): (Duration, Duration),
) -> Checkouts {
    // The pool fills while the test binary starts; wait for it as a run would.
    let fill_start = Instant::now();
    while pool.stats().created < THREADS as u64 && fill_start.elapsed() < Duration::from_secs(60) {
        std::thread::sleep(Duration::from_millis(5));
    }
    let fill = fill_start.elapsed();
    let waits = Arc::new(Mutex::new(Vec::new()));
    let start = Instant::now();
    let threads: Vec<_> = (0..THREADS)
        .map(|thread| {
            let (pool, waits) = (pool.clone(), waits.clone());
            std::thread::spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap();
                runtime.block_on(async move {
                    for n in 0..per_thread {
                        let asked = Instant::now();
                        let db = pool.checkout().await.unwrap();
                        let waited = asked.elapsed();
                        waits.lock().unwrap().push(waited);
                        // The test: a write and a read on its own database.
                        let mut conn = db.owner_conn().await.unwrap();
                        let sql = match body {
                            Body::Rows => {
                                "INSERT INTO saas.tenants (id, slug, name)
                                   VALUES ('00000000-0000-4000-8000-000000000001', 'bench', 'Bench');
                                 SELECT count(*) FROM saas.tenants;"
                            }
                            Body::SchemaChange => {
                                "CREATE TABLE IF NOT EXISTS bench_probe (n int);
                                 INSERT INTO bench_probe VALUES (1);
                                 SELECT count(*) FROM bench_probe;"
                            }
                        };
                        sqlx::raw_sql(sql).execute(&mut conn).await.unwrap();
                        conn.close().await.ok();
                        tokio::time::sleep(test_work(extra, jitter, thread, n)).await;
                        drop(db);
                    }
                });
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
    let wall = start.elapsed();
    let mut waits = std::mem::take(&mut *waits.lock().unwrap());
    waits.sort();
    Checkouts { waits, wall, fill }
}

async fn own_cluster() -> (String, std::path::PathBuf) {
    let dir = std::env::temp_dir().join(format!("saas-checkout-bench-{}", std::process::id()));
    let port = saas_testkit::free_port();
    let url = saas_core::devdb::start_cluster(&dir, port, std::process::id())
        .await
        .expect("starting a throwaway cluster");
    (url, dir)
}

fn main() {
    // `cargo bench` passes `--bench`; nothing else is read from the command line.
    let samples = env_number("SAMPLES", 10);
    let per_thread = env_number("PER_THREAD", 25);
    let extra = Duration::from_millis(env_number("BODY_MS", 0) as u64);
    let jitter = Duration::from_millis(env_number("BODY_JITTER_MS", 0) as u64);
    let pool_size = env_number("POOL_SIZE", THREADS);
    let creators = env_number("CREATORS", PoolOptions::default().creators);
    // `BODIES=rows;schema change`: only these test bodies.
    let bodies: Option<Vec<String>> = std::env::var("BODIES")
        .ok()
        .map(|b| b.split(';').map(|s| s.trim().to_string()).collect());
    let strategies: Vec<CloneStrategy> = std::env::var("STRATEGIES")
        .unwrap_or_else(|_| "auto,wal_log,file_copy".into())
        .split(',')
        .map(|s| s.parse().unwrap())
        .collect();
    let own = std::env::var("CHECKOUT_OWN").is_ok_and(|v| v == "1");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (server, cluster) = if own {
        let (url, dir) = rt.block_on(own_cluster());
        (url, Some(dir))
    } else {
        (rt.block_on(saas_testkit::server_url()).unwrap(), None)
    };
    let settings = rt.block_on(async {
        let mut conn = PgConnection::connect(&server).await.unwrap();
        let row: (String, String, String, String) = sqlx::query_as(
            "SELECT current_setting('server_version'), current_setting('fsync'),
                    current_setting('full_page_writes'), current_setting('synchronous_commit')",
        )
        .fetch_one(&mut conn)
        .await
        .unwrap();
        row
    });
    println!(
        "server: {} (PostgreSQL {}, fsync={}, full_page_writes={}, synchronous_commit={}); load average before: {}",
        if own {
            "throwaway cluster"
        } else {
            "test server"
        },
        settings.0,
        settings.1,
        settings.2,
        settings.3,
        std::fs::read_to_string("/proc/loadavg")
            .unwrap_or_default()
            .trim()
    );
    println!(
        "| schema | strategy | test body | sqlx_test (p50) | clone alone (p50) | checkout wait p50 | p99 | max | {THREADS}x{per_thread} checkouts wall | pool fill | reused / cloned (of which WAL_LOG) | sqlx_test / wait p50 |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|");
    let schemas: [(&str, &'static sqlx::migrate::Migrator); 2] = [
        ("reference (2 tables)", &taskboard::MIGRATIONS),
        ("realistic (40 tables, 120 migrations)", &REALISTIC),
    ];
    for (label, migrations) in schemas {
        let baseline = rt.block_on(sqlx_test_way(&server, migrations, samples));
        let template = rt
            .block_on(saas_testkit::ensure_template(&server, Some(migrations)))
            .unwrap();
        for &strategy in &strategies {
            let clone = rt.block_on(clone_alone(&server, &template, strategy, samples));
            for (body_label, body, recycle) in [
                ("rows", Body::Rows, true),
                ("rows, no reset", Body::Rows, false),
                ("schema change", Body::SchemaChange, true),
            ]
            .into_iter()
            .filter(|(label, ..)| bodies.as_ref().is_none_or(|b| b.iter().any(|x| x == label)))
            {
                let pool = rt
                    .block_on(DbPool::start(
                        &server,
                        Some(migrations),
                        PoolOptions::default()
                            .size(pool_size)
                            .creators(creators)
                            .strategy(strategy)
                            .recycle(recycle),
                    ))
                    .unwrap();
                let result = checkouts(pool.clone(), per_thread, body, (extra, jitter));
                let p50 = percentile(&result.waits, 50.0);
                let stats = pool.stats();
                println!(
                    "| {label} | {strategy:?} | {body_label} | {} | {} | {} | {} | {} | {} | {} | {} / {} ({} WAL_LOG) | {:.1}x |",
                    ms(baseline),
                    ms(clone),
                    ms(p50),
                    ms(percentile(&result.waits, 99.0)),
                    ms(*result.waits.last().unwrap_or(&Duration::ZERO)),
                    ms(result.wall),
                    ms(result.fill),
                    stats.reused,
                    stats.created,
                    stats.cloned_with_wal_log,
                    baseline.as_secs_f64() / p50.as_secs_f64().max(1e-6),
                );
                // Let this pool's drops finish before the next variant starts.
                while pool.pending_drops() > 0 {
                    std::thread::sleep(Duration::from_millis(20));
                }
            }
        }
    }
    if let Some(dir) = cluster {
        let _ = saas_core::devdb::stop_cluster(&dir);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
