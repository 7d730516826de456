//! The database pool against a real PostgreSQL: it never hands two tests the same database,
//! nothing a test wrote (even one that panicked) reaches another test, and a run leaves only
//! its cached template behind.

use std::collections::HashSet;
use std::process::Command;
use std::time::Duration;

use saas_testkit::{DbPool, PoolOptions, TestDb};
use sqlx::{Connection, PgConnection};

static REALISTIC: sqlx::migrate::Migrator = sqlx::migrate!("fixtures/realistic");

async fn exists(conn: &mut PgConnection, name: &str) -> bool {
    sqlx::query_scalar::<_, bool>("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
        .bind(name)
        .fetch_one(conn)
        .await
        .unwrap()
}

async fn wait_until_gone(conn: &mut PgConnection, name: &str) {
    for _ in 0..600 {
        if !exists(conn, name).await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{name} is still there a minute after its test ended");
}

#[tokio::test]
async fn concurrent_checkouts_get_distinct_databases() {
    let server = saas_testkit::server_url().await.unwrap();
    let pool = DbPool::start(&server, None, PoolOptions::default().size(3))
        .await
        .unwrap();
    // More at once than the pool holds: some wait for clones, none share.
    let tasks: Vec<_> = (0..12)
        .map(|_| {
            let pool = pool.clone();
            tokio::spawn(async move { pool.checkout().await.unwrap() })
        })
        .collect();
    let mut dbs = Vec::new();
    for task in tasks {
        dbs.push(task.await.unwrap());
    }
    let names: HashSet<&str> = dbs.iter().map(|db| db.name()).collect();
    assert_eq!(names.len(), dbs.len(), "{names:?}");
    let mut conn = PgConnection::connect(&server).await.unwrap();
    for db in &dbs {
        assert!(exists(&mut conn, db.name()).await, "{}", db.name());
        assert_ne!(db.name(), pool.template());
    }
    // The process-wide pools too, across the test threads of this binary.
    let more: Vec<TestDb> = futures_util::future::join_all((0..6).map(|_| TestDb::new()))
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
    let all: HashSet<&str> = dbs.iter().chain(&more).map(|db| db.name()).collect();
    assert_eq!(all.len(), dbs.len() + more.len());
}

#[tokio::test]
async fn a_panicking_test_returns_nothing_dirty() {
    let server = saas_testkit::server_url().await.unwrap();
    let pool = DbPool::start(&server, Some(&REALISTIC), PoolOptions::default().size(2))
        .await
        .unwrap();
    // A test that writes a marker row, then panics while holding its database.
    let (tx, rx) = tokio::sync::oneshot::channel();
    let test = {
        let pool = pool.clone();
        tokio::spawn(async move {
            let db = pool.checkout().await.unwrap();
            let mut conn = db.owner_conn().await.unwrap();
            sqlx::query(
                "INSERT INTO plans (name, monthly_cents, currency) VALUES ('dirty', 1, 'AAX')",
            )
            .execute(&mut conn)
            .await
            .unwrap();
            tx.send(db.name().to_string()).unwrap();
            panic!("the test fails with its database dirty");
        })
    };
    assert!(test.await.unwrap_err().is_panic());
    let dirty = rx.await.unwrap();
    // Its database is dropped, never handed out again ...
    let mut conn = PgConnection::connect(&server).await.unwrap();
    wait_until_gone(&mut conn, &dirty).await;
    // ... and every later database is a clean copy of the template.
    for _ in 0..6 {
        let db = pool.checkout().await.unwrap();
        assert_ne!(db.name(), dirty);
        let mut c = db.owner_conn().await.unwrap();
        let n: i64 = sqlx::query_scalar("SELECT count(*) FROM plans WHERE name = 'dirty'")
            .fetch_one(&mut c)
            .await
            .unwrap();
        assert_eq!(n, 0, "{} has the panicked test's row", db.name());
        c.close().await.ok();
    }
}

/// Run only as the child of `a_finished_run_leaves_only_its_template`.
#[tokio::test]
#[ignore = "the child process of a_finished_run_leaves_only_its_template"]
async fn child_uses_pooled_databases() {
    // Held, dropped and still-ready databases, of both process-wide pools.
    let held = TestDb::from_template(Some(&REALISTIC)).await.unwrap();
    for _ in 0..3 {
        drop(TestDb::from_template(Some(&REALISTIC)).await.unwrap());
    }
    let _empty = TestDb::new().await.unwrap();
    println!(
        "PREFIX=saas_test_{}_{}_",
        saas_testkit::host_tag(),
        std::process::id()
    );
    println!("HELD={}", held.name());
    // Exit while holding `held` (statics and leaked values are never dropped).
    std::mem::forget(held);
}

#[tokio::test]
async fn a_finished_run_leaves_only_its_template() {
    let server = saas_testkit::server_url().await.unwrap();
    let template = saas_testkit::ensure_template(&server, Some(&REALISTIC))
        .await
        .unwrap();
    let out = Command::new(std::env::current_exe().unwrap())
        .args([
            "child_uses_pooled_databases",
            "--exact",
            "--ignored",
            "--nocapture",
        ])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let prefix = stdout
        .lines()
        .find_map(|l| l.strip_prefix("PREFIX="))
        .expect("the child names its prefix")
        .to_string();
    let held = stdout
        .lines()
        .find_map(|l| l.strip_prefix("HELD="))
        .expect("the child names its database")
        .to_string();
    assert!(held.starts_with(&prefix), "{held} {prefix}");
    let mut conn = PgConnection::connect(&server).await.unwrap();
    let left = async |conn: &mut PgConnection| -> Vec<String> {
        sqlx::query_scalar(
            "SELECT datname::text FROM pg_database WHERE starts_with(datname, $1)
             UNION ALL SELECT rolname::text FROM pg_roles WHERE starts_with(rolname, $1)",
        )
        .bind(&prefix)
        .fetch_all(conn)
        .await
        .unwrap()
    };
    let mut remaining = left(&mut conn).await;
    for _ in 0..600 {
        if remaining.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        remaining = left(&mut conn).await;
    }
    assert!(
        remaining.is_empty(),
        "a minute after the run ended, it left {remaining:?}"
    );
    assert!(exists(&mut conn, &template).await, "the template is gone");
}
