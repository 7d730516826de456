//! The database pool against a real PostgreSQL: it never hands two tests the same database,
//! nothing a test wrote (even one that panicked) reaches another test, a database whose rows
//! changed is reset and reused and one whose schema changed is dropped, and a run leaves only
//! its cached template behind.

use std::collections::HashSet;
use std::process::Command;
use std::time::Duration;

use saas_testkit::{DbPool, PoolOptions, ResetCheck, TestDb};
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

async fn oid_of(conn: &mut PgConnection, name: &str) -> Option<i64> {
    sqlx::query_scalar("SELECT oid::int8 FROM pg_database WHERE datname = $1")
        .bind(name)
        .fetch_optional(conn)
        .await
        .unwrap()
}

/// A pool of the realistic template holding one database at a time: a database given back
/// is the next one handed out when it is reused.
async fn one_at_a_time(server: &str) -> DbPool {
    DbPool::start(
        server,
        Some(&REALISTIC),
        PoolOptions::default().size(1).creators(1),
    )
    .await
    .unwrap()
}

/// Waits (bounded) until `pool` has taken back `n` databases, reused or dropped.
async fn wait_taken_back(pool: &DbPool, n: u64) -> saas_testkit::PoolStats {
    for _ in 0..600 {
        let stats = pool.stats();
        if stats.reused + stats.recycled >= n && pool.pending_drops() == 0 {
            return stats;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!(
        "the pool did not take the database back: {:?}",
        pool.stats()
    );
}

/// Takes databases from `pool` until the one whose oid is `oid` comes: the queue may hold
/// clones made meanwhile (the pool refills as soon as a database is taken) before the reset
/// one. The others are returned too, for the caller to hold (a database dropped goes back
/// into the queue when it is reset).
async fn checkout_oid(pool: &DbPool, admin: &mut PgConnection, oid: i64) -> (TestDb, Vec<TestDb>) {
    let mut taken = Vec::new();
    loop {
        let db = pool.checkout().await.unwrap();
        if oid_of(admin, db.name()).await == Some(oid) {
            return (db, taken);
        }
        assert!(
            taken.len() < 3,
            "the reset database was not handed out again"
        );
        taken.push(db);
    }
}

/// A test that only changed rows gives its database back to be reset: the next test gets
/// the same database (same oid) under a new name, holding exactly the template's rows and
/// sequences again, with the first test's sessions ended and its URL leading nowhere.
#[tokio::test]
async fn a_database_whose_rows_changed_is_reset_and_reused_under_a_new_name() {
    let server = saas_testkit::server_url().await.unwrap();
    let pool = one_at_a_time(&server).await;
    let mut admin = PgConnection::connect(&server).await.unwrap();
    let first = pool.checkout().await.unwrap();
    let (first_name, first_url) = (first.name().to_string(), first.url().to_string());
    let oid = oid_of(&mut admin, &first_name).await.unwrap();
    let mut conn = first.owner_conn().await.unwrap();
    let fresh: (i64, String, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM plans), (SELECT name FROM plans WHERE id = 1),
                (SELECT last_value FROM plans_id_seq)",
    )
    .fetch_one(&mut conn)
    .await
    .unwrap();
    let tenant = uuid::Uuid::new_v4();
    for sql in [
        "INSERT INTO plans (name, monthly_cents, currency) VALUES ('dirty', 1, 'AAX')",
        "UPDATE plans SET name = 'renamed' WHERE id = 1",
        "DELETE FROM plans WHERE id = 2",
        "ANALYZE plans",
        "CREATE TEMP TABLE scratch (x int)",
    ] {
        sqlx::raw_sql(sql).execute(&mut conn).await.unwrap();
    }
    sqlx::query("INSERT INTO saas.tenants (id, slug, name) VALUES ($1, 'reused', 'Reused')")
        .bind(tenant)
        .execute(&mut conn)
        .await
        .unwrap();
    sqlx::query("INSERT INTO accounts (tenant_id, name, email) VALUES ($1, 'a', 'a@example.com')")
        .bind(tenant)
        .execute(&mut conn)
        .await
        .unwrap();
    // The test ends with its connection still open (as a leaked pool would be).
    drop(first);
    let stats = wait_taken_back(&pool, 1).await;
    assert_eq!((stats.reused, stats.recycled), (1, 0), "{stats:?}");
    assert!(
        sqlx::query("SELECT 1").execute(&mut conn).await.is_err(),
        "the first test's session must be ended"
    );
    assert!(
        PgConnection::connect(&first_url).await.is_err(),
        "the first test's URL must lead nowhere"
    );

    let (second, _clone) = checkout_oid(&pool, &mut admin, oid).await;
    assert_ne!(second.name(), first_name);
    let mut conn = second.owner_conn().await.unwrap();
    let now: (i64, String, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM plans), (SELECT name FROM plans WHERE id = 1),
                (SELECT last_value FROM plans_id_seq)",
    )
    .fetch_one(&mut conn)
    .await
    .unwrap();
    assert_eq!(
        now, fresh,
        "seed rows and sequence as the template left them"
    );
    let leftovers: (i64, i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM plans WHERE name IN ('dirty', 'renamed')),
                (SELECT count(*) FROM saas.tenants), (SELECT count(*) FROM accounts)",
    )
    .fetch_one(&mut conn)
    .await
    .unwrap();
    assert_eq!(leftovers, (0, 0, 0), "nothing of the first test's rows");
    conn.close().await.ok();
}

/// What the reset tests write, summed up: the seeded `plans` (count, a hash of the rows) and
/// `currencies` (a hash), and the rows of `saas.tenants`, `accounts` and `labels`.
async fn summary(conn: &mut PgConnection) -> (i64, String, String, i64, i64, i64) {
    sqlx::query_as(
        "SELECT (SELECT count(*) FROM plans),
                (SELECT md5(string_agg(p::text, ',' ORDER BY p.id)) FROM plans p),
                (SELECT md5(string_agg(c::text, ',' ORDER BY c.code)) FROM currencies c),
                (SELECT count(*) FROM saas.tenants), (SELECT count(*) FROM accounts),
                (SELECT count(*) FROM labels)",
    )
    .fetch_one(conn)
    .await
    .unwrap()
}

/// A tenant and an account of it, as a test of the realistic schema writes them.
const TENANT_AND_ACCOUNT: &str = "
    INSERT INTO saas.tenants (id, slug, name) VALUES ('7f000000-0000-4000-8000-000000000001', 'tenant-t', 'T');
    INSERT INTO accounts (tenant_id, name, email)
         VALUES ('7f000000-0000-4000-8000-000000000001', 'a', 'a@example.com')";

/// The reset learns from PostgreSQL's activity counters which tables a test wrote and
/// compares only those, and still leaves nothing of any test: one database goes through
/// five tests in turn, each writing other tables (the counters recorded after a reset, the
/// reset's own writes included, must not hide the next test's). A test that resets the
/// statistics is caught by comparing every table, and the counters serve again after it.
#[tokio::test]
async fn resets_from_the_activity_counters_leave_nothing_of_any_test() {
    let server = saas_testkit::server_url().await.unwrap();
    let pool = one_at_a_time(&server).await;
    let mut admin = PgConnection::connect(&server).await.unwrap();
    let mut db = pool.checkout().await.unwrap();
    let oid = oid_of(&mut admin, db.name()).await.unwrap();
    let fresh = summary(&mut db.owner_conn().await.unwrap()).await;
    let mut held = Vec::new();
    // (what the test writes, whether the counters can name it)
    let tests = [
        (TENANT_AND_ACCOUNT, true),
        (
            "UPDATE currencies SET name = 'changed' WHERE code = (SELECT min(code) FROM currencies)",
            true,
        ),
        (
            "DELETE FROM plans WHERE id = 1;
             INSERT INTO plans (name, monthly_cents, currency) VALUES ('dirty', 1, 'AAX')",
            true,
        ),
        (
            "SELECT pg_stat_reset();
             UPDATE plans SET monthly_cents = monthly_cents + 1 WHERE id = 2",
            false,
        ),
        (
            "INSERT INTO saas.tenants (id, slug, name) VALUES ('7f000000-0000-4000-8000-000000000002', 'tenant-u', 'U');
             INSERT INTO labels (tenant_id, name) VALUES ('7f000000-0000-4000-8000-000000000002', 'l')",
            true,
        ),
    ];
    for (n, (writes, by_counters)) in tests.into_iter().enumerate() {
        let mut conn = db.owner_conn().await.unwrap();
        sqlx::raw_sql(writes).execute(&mut conn).await.unwrap();
        assert_ne!(summary(&mut conn).await, fresh, "test {n} wrote nothing");
        conn.close().await.ok();
        let before = pool.stats();
        drop(db);
        let stats = wait_taken_back(&pool, before.reused + before.recycled + 1).await;
        assert_eq!(
            stats.reused,
            before.reused + 1,
            "test {n}: not reused {stats:?}"
        );
        assert_eq!(
            stats.reset_from_counters - before.reset_from_counters,
            u64::from(by_counters),
            "test {n}: {stats:?}"
        );
        let (next, others) = checkout_oid(&pool, &mut admin, oid).await;
        held.extend(others);
        db = next;
        let mut conn = db.owner_conn().await.unwrap();
        assert_eq!(summary(&mut conn).await, fresh, "after test {n}: {writes}");
        conn.close().await.ok();
    }
    // Every database came back to be reused: every clone was a `WAL_LOG` one (`Auto`).
    let stats = pool.stats();
    if has_strategies(&mut admin).await {
        assert_eq!(stats.cloned_with_wal_log, stats.created, "{stats:?}");
    }
}

/// Whether the server takes `CREATE DATABASE ... STRATEGY` (PostgreSQL 15 and later).
async fn has_strategies(admin: &mut PgConnection) -> bool {
    sqlx::query_scalar("SELECT current_setting('server_version_num')::int >= 150000")
        .fetch_one(admin)
        .await
        .unwrap()
}

/// `ResetCheck::EveryTable` compares every table after every test, so it also catches what
/// the counters cannot see: a session that turned `track_counts` off before it wrote.
#[tokio::test]
async fn comparing_every_table_catches_writes_the_counters_do_not_see() {
    let server = saas_testkit::server_url().await.unwrap();
    let pool = DbPool::start(
        &server,
        Some(&REALISTIC),
        PoolOptions::default()
            .size(1)
            .creators(1)
            .reset_check(ResetCheck::EveryTable),
    )
    .await
    .unwrap();
    let mut admin = PgConnection::connect(&server).await.unwrap();
    let db = pool.checkout().await.unwrap();
    let oid = oid_of(&mut admin, db.name()).await.unwrap();
    let mut conn = db.owner_conn().await.unwrap();
    let fresh = summary(&mut conn).await;
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "SET track_counts = off; {TENANT_AND_ACCOUNT}"
    )))
    .execute(&mut conn)
    .await
    .unwrap();
    conn.close().await.ok();
    drop(db);
    let stats = wait_taken_back(&pool, 1).await;
    assert_eq!(
        (stats.reused, stats.reset_from_counters),
        (1, 0),
        "{stats:?}"
    );
    let (db, _clone) = checkout_oid(&pool, &mut admin, oid).await;
    assert_eq!(summary(&mut db.owner_conn().await.unwrap()).await, fresh);
}

/// A test that changed the schema (here: one table more) gives back a database that is
/// dropped, never reused.
#[tokio::test]
async fn a_database_whose_schema_changed_is_dropped_not_reused() {
    let server = saas_testkit::server_url().await.unwrap();
    let pool = one_at_a_time(&server).await;
    let mut admin = PgConnection::connect(&server).await.unwrap();
    let mut taken = 0;
    for change in [
        "CREATE TABLE extra (id int)",
        "ALTER TABLE plans ADD COLUMN note text",
        "GRANT SELECT ON plans TO PUBLIC",
        "CREATE INDEX plans_by_cents ON plans (monthly_cents)",
        "COMMENT ON TABLE plans IS 'changed'",
        // Counts no row in the activity counters: seen as the table's new file in `pg_class`.
        "TRUNCATE labels CASCADE",
    ] {
        let db = pool.checkout().await.unwrap();
        let (name, oid) = (db.name().to_string(), oid_of(&mut admin, db.name()).await);
        let mut conn = db.owner_conn().await.unwrap();
        sqlx::raw_sql(change).execute(&mut conn).await.unwrap();
        conn.close().await.ok();
        let reused_before = pool.stats().reused;
        drop(db);
        taken += 1;
        let stats = wait_taken_back(&pool, taken).await;
        assert_eq!(stats.reused, reused_before, "{change}: reused {stats:?}");
        wait_until_gone(&mut admin, &name).await;
        let next = pool.checkout().await.unwrap();
        assert_ne!(
            oid_of(&mut admin, next.name()).await,
            oid,
            "{change}: reused"
        );
        drop(next);
        taken += 1;
        wait_taken_back(&pool, taken).await;
    }
    // Databases that come back to be dropped make the pool clone with `FILE_COPY` (`Auto`).
    // Above, a drop and a reuse alternate, so when a clone starts depends on timing; here
    // three in a row are dropped, each counted before the next checkout, so the clone that
    // replaces the second and the third starts after at least one more drop than reuse.
    let before = pool.stats();
    for _ in 0..3 {
        let db = pool.checkout().await.unwrap();
        let mut conn = db.owner_conn().await.unwrap();
        sqlx::raw_sql("CREATE TABLE extra (id int)")
            .execute(&mut conn)
            .await
            .unwrap();
        conn.close().await.ok();
        drop(db);
        taken += 1;
        wait_taken_back(&pool, taken).await;
    }
    // Waits for the clone the last checkout set going.
    drop(pool.checkout().await.unwrap());
    let after = pool.stats();
    assert_eq!(after.reused, before.reused, "{after:?}");
    if has_strategies(&mut admin).await {
        let file_copies = |s: &saas_testkit::PoolStats| s.created - s.cloned_with_wal_log;
        assert!(
            file_copies(&after) > file_copies(&before),
            "no FILE_COPY clone after three drops: {before:?} -> {after:?}"
        );
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
