//! The testkit's own promises: template reuse, isolation levels, cleanup, stale sweeping, and
//! a tenant-bound client against the real reference app.

use saas_testkit::{Isolation, TestDb, TestEnv};
use sqlx::{Connection, PgConnection};

fn settings() -> taskboard::Settings {
    taskboard::Settings::new("testkit-admin", "testkit-secret-0123456789abcdef-xyz")
}

async fn env(isolation: Isolation) -> TestEnv {
    TestEnv::builder()
        .migrations(&taskboard::MIGRATIONS)
        .isolation(isolation)
        .start()
        .await
        .expect("test environment")
}

async fn database_exists(name: &str) -> bool {
    let server = saas_testkit::server_url().await.unwrap();
    let mut conn = PgConnection::connect(&server).await.unwrap();
    let found: Option<i32> = sqlx::query_scalar("SELECT 1 FROM pg_database WHERE datname = $1")
        .bind(name)
        .fetch_optional(&mut conn)
        .await
        .unwrap();
    found.is_some()
}

/// Whether the database is gone within a minute: a test's database is dropped by the pool's
/// background thread, off the test's clock, so shortly after the test rather than at once.
async fn dropped_soon(name: &str) -> bool {
    for _ in 0..600 {
        if !database_exists(name).await {
            return true;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    false
}

#[tokio::test]
async fn tenants_cannot_read_each_other_through_the_app() {
    let env = env(Isolation::Tenant).await;
    let app = env.app(taskboard::app(settings())).await;
    let (acme, globex) = (env.tenant("acme").await, env.tenant("globex").await);
    let p = app
        .as_tenant(&acme)
        .post("/v2/projects", serde_json::json!({"name": "x"}))
        .await;
    let id = p.assert_status(201).value()["id"]
        .as_str()
        .unwrap()
        .to_string();
    app.as_tenant(&globex)
        .get(&format!("/v2/projects/{id}"))
        .await
        .assert_status(404);
    app.as_tenant(&acme)
        .get(&format!("/v2/projects/{id}"))
        .await
        .assert_status(200);
    app.anonymous().get("/v2/projects").await.assert_status(401);
}

#[tokio::test]
async fn tenant_isolation_shares_one_database_and_database_isolation_does_not() {
    let (a, b) = (env(Isolation::Tenant).await, env(Isolation::Tenant).await);
    assert_eq!(
        a.db().name(),
        b.db().name(),
        "one database per process for tenant isolation"
    );
    let (c, d) = (
        env(Isolation::Database).await,
        env(Isolation::Database).await,
    );
    assert_ne!(c.db().name(), d.db().name());
    assert_ne!(c.db().name(), a.db().name());
    let (ta, tb) = (a.tenant("acme").await, b.tenant("acme").await);
    assert_ne!(ta.slug, tb.slug, "slugs are made unique per test");
}

#[tokio::test]
async fn a_cloned_database_is_migrated_and_protected_already() {
    let env = env(Isolation::Database).await;
    let mut owner = env.db().owner_conn().await.unwrap();
    let forced: bool =
        sqlx::query_scalar("SELECT relforcerowsecurity FROM pg_class WHERE relname = 'projects'")
            .fetch_one(&mut owner)
            .await
            .unwrap();
    assert!(forced);
    let tenant = env.tenant("acme").await;
    let mut tx = env.tx(&tenant);
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM projects")
        .fetch_one(tx.conn().await.unwrap())
        .await
        .unwrap();
    assert_eq!(count, 0);
}

#[tokio::test]
async fn databases_are_dropped_and_tenants_removed_after_the_test() {
    let name = {
        let env = env(Isolation::Database).await;
        env.tenant("gone").await;
        env.db().name().to_string()
    };
    assert!(dropped_soon(&name).await, "{name} should be dropped");

    let (db_name, tenant_id) = {
        let env = env(Isolation::Tenant).await;
        let t = env.tenant("temporary").await;
        (env.db().name().to_string(), t.id)
    };
    let server = saas_testkit::server_url().await.unwrap();
    let url = saas_testkit::with_database(&server, &db_name).unwrap();
    let mut conn = PgConnection::connect(&url).await.unwrap();
    let left: i64 = sqlx::query_scalar("SELECT count(*) FROM saas.tenants WHERE id = $1")
        .bind(tenant_id)
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(left, 0);
}

#[tokio::test]
async fn a_panicking_test_still_drops_its_database() {
    let name = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let seen = name.clone();
    let result = tokio::spawn(async move {
        let env = env(Isolation::Database).await;
        *seen.lock().unwrap() = env.db().name().to_string();
        panic!("the test fails");
    })
    .await;
    assert!(result.unwrap_err().is_panic());
    let name = name.lock().unwrap().clone();
    assert!(!name.is_empty());
    assert!(dropped_soon(&name).await, "{name} survived a panic");
}

#[tokio::test]
async fn stale_databases_of_dead_processes_on_this_host_only_are_swept() {
    let server = saas_testkit::server_url().await.unwrap();
    // A pid that cannot be running: above the kernel's pid_max.
    let stale = format!("saas_test_{}_4999999_0_deadbeef", saas_testkit::host_tag());
    // The same dead pid on another host sharing the server (its runner may be alive), and a
    // name without a host tag: neither can be attributed to this host.
    let other_tag = if saas_testkit::host_tag() == "zzzzz" {
        "yyyyy"
    } else {
        "zzzzz"
    };
    let elsewhere = format!("saas_test_{other_tag}_4999999_0_deadbeef");
    let untagged = "saas_test_4999998_0_deadbeef".to_string();
    let mut conn = PgConnection::connect(&server).await.unwrap();
    for name in [&stale, &elsewhere, &untagged] {
        for statement in ["DROP DATABASE IF EXISTS", "CREATE DATABASE"] {
            sqlx::raw_sql(sqlx::AssertSqlSafe(format!("{statement} \"{name}\"")))
                .execute(&mut conn)
                .await
                .unwrap();
        }
    }
    saas_testkit::sweep_stale(&server).await.unwrap();
    assert!(!database_exists(&stale).await);
    assert!(
        database_exists(&elsewhere).await,
        "another host's database was dropped"
    );
    assert!(
        database_exists(&untagged).await,
        "an unattributable database was dropped"
    );
    for name in [&elsewhere, &untagged] {
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("DROP DATABASE \"{name}\"")))
            .execute(&mut conn)
            .await
            .unwrap();
    }
    // Our own databases survive the sweep.
    let mine = TestDb::new().await.unwrap();
    saas_testkit::sweep_stale(&server).await.unwrap();
    assert!(database_exists(mine.name()).await);
}

#[tokio::test]
async fn the_template_is_built_once_and_shared() {
    let server = saas_testkit::server_url().await.unwrap();
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let server = server.clone();
            tokio::spawn(async move {
                saas_testkit::ensure_template(&server, Some(&taskboard::MIGRATIONS))
                    .await
                    .unwrap()
            })
        })
        .collect();
    let mut names = Vec::new();
    for h in handles {
        names.push(h.await.unwrap());
    }
    names.dedup();
    assert_eq!(names.len(), 1, "{names:?}");
    assert!(names[0].starts_with("saas_tpl_"));
}

#[tokio::test]
async fn factories_create_rows_as_a_tenant() {
    let env = env(Isolation::Tenant).await;
    let (acme, globex) = (env.tenant("acme").await, env.tenant("globex").await);
    let p: taskboard::models::Project = env
        .create(
            &acme,
            taskboard::models::NewProject {
                name: "made".into(),
            },
        )
        .await;
    assert_eq!(p.tenant_id, acme.id);
    use saas_core::TenantScoped;
    let mut tx = env.tx(&globex);
    assert_eq!(
        taskboard::models::Project::get(&mut tx, p.id)
            .await
            .unwrap_err()
            .status(),
        404
    );
}

/// The last resort of provisioning: a cluster of our own from the installed binaries.
#[tokio::test]
async fn a_throwaway_cluster_starts_from_the_installed_binaries() {
    if saas_core::devdb::find_binaries().is_none() {
        panic!(
            "PostgreSQL binaries are required for the test suite (scripts/ensure-postgres.sh installs them)"
        );
    }
    let dir = std::env::temp_dir().join(format!("saas-testkit-cluster-{}", std::process::id()));
    // A port the OS says is free now: one derived from the pid can be some other process's
    // ephemeral port on a busy machine (it was, once, in CI).
    let port = saas_testkit::free_port();
    // Owned by this test process: the watchdog stops it when the process exits.
    let url = saas_core::devdb::start_cluster(&dir, port, std::process::id())
        .await
        .unwrap();
    let mut conn = PgConnection::connect(&url).await.unwrap();
    let fsync: String = sqlx::query_scalar("SHOW fsync")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(fsync, "off");
    let db = saas_testkit::with_database(&url, "postgres").unwrap();
    assert!(db.contains(&port.to_string()));
    conn.close().await.ok();
}
