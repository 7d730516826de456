//! Tiers and placement: the same handlers serve shared, schema and database tenants (on two
//! PostgreSQL servers), isolation holds within and across tiers, and tenant migrations run
//! for every schema and database.

use crate::common;

use common::{Env, NewProject, Project};
use http::StatusCode;
use saas_core::migrate::tenants::{MigrateOptions, migrate_tenants};
use saas_core::prelude::*;
use saas_core::tenancy::Location;
use saas_core::tenancy::pool::TenancyConfig;
use saas_core::tenancy::registry::{NewTenant, Tenant, Tier};
use serde_json::json;
use sqlx::{Connection, PgConnection};

pub async fn env_with_east() -> Env {
    let east = common::east().await.to_string();
    Env::with_config(move |c: TenancyConfig| c.server("east", east)).await
}

pub async fn create(env: &Env, slug: &str, tier: Tier, server: Option<&str>) -> Tenant {
    env.tenancy
        .tenants()
        .create(NewTenant {
            slug: slug.into(),
            name: slug.into(),
            tier: Some(tier),
            server: server.map(str::to_string),
        })
        .await
        .unwrap_or_else(|e| panic!("creating {slug} ({tier}): {e}"))
}

async fn owner_at(env: &Env, location: &Location) -> PgConnection {
    env.tenancy.provisioner().connect(location).await.unwrap()
}

/// Counts a tenant's project rows as the owner, bypassing nothing: the owner sets the tenant
/// context like a request would (RLS is forced), in the given schema.
async fn projects_at(conn: &mut PgConnection, schema: &str, tenant: TenantId) -> i64 {
    let mut tx = conn.begin().await.unwrap();
    sqlx::query("SELECT set_config('saas.tenant_id', $1, true)")
        .bind(tenant.to_string())
        .execute(&mut *tx)
        .await
        .unwrap();
    let sql = format!("SELECT count(*) FROM \"{schema}\".projects WHERE tenant_id = $1");
    sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
        .bind(tenant)
        .fetch_one(&mut *tx)
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_tier_serves_the_same_handlers_and_keeps_tenants_apart() {
    let env = env_with_east().await;
    let tenants = [
        create(&env, "shared-a", Tier::Shared, None).await,
        create(&env, "schema-b", Tier::Schema, None).await,
        create(&env, "db-c", Tier::Database, None).await,
        create(&env, "east-d", Tier::Database, Some("east")).await,
    ];
    assert_eq!(tenants[3].placement.server, "east");
    let router = env.app().await;
    let mut ids = Vec::new();
    for tenant in &tenants {
        let token = env.token(tenant);
        let (status, body, _) = env
            .call(
                &router,
                "POST",
                "/projects",
                Some(&token),
                Some(json!({"name": tenant.slug})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{}: {body}", tenant.slug);
        let project: Project = serde_json::from_value(body).unwrap();
        assert_eq!(project.tenant_id, tenant.id);
        let (status, body, _) = env
            .call(
                &router,
                "GET",
                &format!("/projects/{}", project.id),
                Some(&token),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{}: {body}", tenant.slug);
        ids.push(project.id);
    }
    // Every tenant sees exactly its own project, through typed queries and raw SQL alike.
    for (i, tenant) in tenants.iter().enumerate() {
        let token = env.token(tenant);
        let (_, list, _) = env
            .call(&router, "GET", "/projects", Some(&token), None)
            .await;
        let listed: Vec<String> = list["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["id"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(listed, vec![ids[i].to_string()], "{}", tenant.slug);
        let (_, raw, _) = env
            .call(&router, "GET", "/raw/projects", Some(&token), None)
            .await;
        assert_eq!(raw.as_array().unwrap().len(), 1, "{}: {raw}", tenant.slug);
        for (j, other) in ids.iter().enumerate() {
            if i == j {
                continue;
            }
            for method in ["GET", "DELETE"] {
                let (status, _, _) = env
                    .call(
                        &router,
                        method,
                        &format!("/projects/{other}"),
                        Some(&token),
                        None,
                    )
                    .await;
                assert_eq!(
                    status,
                    StatusCode::NOT_FOUND,
                    "{} reached {}'s project with {method}",
                    tenant.slug,
                    tenants[j].slug
                );
            }
        }
    }
    // The data is where the placement says, and nowhere else.
    let mut primary = owner_at(&env, &Location::Shared).await;
    let schema = tenants[1].placement.schema.clone().unwrap();
    assert_eq!(projects_at(&mut primary, "public", tenants[0].id).await, 1);
    assert_eq!(projects_at(&mut primary, "public", tenants[1].id).await, 0);
    assert_eq!(projects_at(&mut primary, &schema, tenants[1].id).await, 1);
    assert_eq!(projects_at(&mut primary, "public", tenants[2].id).await, 0);
    for tenant in &tenants[2..] {
        let mut conn = owner_at(&env, &Location::of(tenant).unwrap()).await;
        assert_eq!(projects_at(&mut conn, "public", tenant.id).await, 1);
    }
    // Every list survives: nothing was deleted by the cross-tenant DELETEs.
    for tenant in &tenants {
        let (_, list, _) = env
            .call(&router, "GET", "/projects", Some(&env.token(tenant)), None)
            .await;
        assert_eq!(list["items"].as_array().unwrap().len(), 1);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_schema_tenant_cannot_name_another_schema_or_the_shared_rows() {
    let env = env_with_east().await;
    let a = create(&env, "schema-a", Tier::Schema, None).await;
    let b = create(&env, "schema-b", Tier::Schema, None).await;
    let s = create(&env, "shared-s", Tier::Shared, None).await;
    for tenant in [&a, &b, &s] {
        let mut tx = TenantTx::begin(&env.tenancy, tenant.id);
        Project::insert(
            &mut tx,
            NewProject {
                name: tenant.slug.clone(),
            },
        )
        .await
        .unwrap();
        tx.commit().await.unwrap();
    }
    let b_schema = b.placement.schema.clone().unwrap();
    // Schema-qualified SQL as tenant A: B's schema is not A's to read (no grant reaches
    // through RLS either: B's rows carry B's id), and the shared table filters to A.
    let mut tx = TenantTx::begin(&env.tenancy, a.id);
    let conn = tx.conn().await.unwrap();
    let sql = format!("SELECT count(*) FROM \"{b_schema}\".projects");
    let foreign: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
        .fetch_one(&mut *conn)
        .await
        .unwrap();
    assert_eq!(foreign, 0, "tenant A read tenant B's schema");
    let shared: i64 = sqlx::query_scalar("SELECT count(*) FROM public.projects")
        .fetch_one(&mut *conn)
        .await
        .unwrap();
    assert_eq!(shared, 0, "tenant A read shared-tier rows");
    // Writing B's id into A's own schema is refused by RLS (WITH CHECK).
    let forged = sqlx::query("INSERT INTO projects (tenant_id, name) VALUES ($1, 'forged')")
        .bind(b.id)
        .execute(&mut *conn)
        .await;
    assert!(forged.is_err(), "a forged tenant id was accepted");
    drop(tx);
    // search_path is transaction-local: the next transaction on a shared connection sees
    // the shared schema only.
    let mut tx = TenantTx::begin(&env.tenancy, s.id);
    let conn = tx.conn().await.unwrap();
    let path: String = sqlx::query_scalar("SELECT current_setting('search_path')")
        .fetch_one(&mut *conn)
        .await
        .unwrap();
    assert!(!path.contains("tenant_"), "search_path leaked: {path}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tenant_migrations_cover_every_schema_and_database_and_resume() {
    let env = env_with_east().await;
    let mut made = Vec::new();
    for i in 0..6 {
        let (tier, server) = match i % 3 {
            0 => (Tier::Schema, None),
            1 => (Tier::Database, None),
            _ => (Tier::Database, Some("east")),
        };
        made.push(create(&env, &format!("tenant-{i}"), tier, server).await);
    }
    let options = MigrateOptions::for_tenancy(&env.tenancy);
    // Freshly provisioned tenants are at the current migration set already.
    let summary = migrate_tenants(&env.tenancy, &options, |_| {})
        .await
        .unwrap();
    assert_eq!(
        (summary.tenants, summary.migrated, summary.up_to_date),
        (6, 0, 6)
    );
    // A crashed run: two tenants' ledgers say nothing; one schema lost a table's policy.
    sqlx::query("UPDATE saas.tenants SET migrated = NULL WHERE slug IN ('tenant-0', 'tenant-1')")
        .execute(env.tenancy.owner_pool())
        .await
        .unwrap();
    let schema = made[0].placement.schema.clone().unwrap();
    let mut primary = owner_at(&env, &Location::Shared).await;
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "ALTER TABLE \"{schema}\".tasks NO FORCE ROW LEVEL SECURITY"
    )))
    .execute(&mut primary)
    .await
    .unwrap();
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let record = seen.clone();
    let summary = migrate_tenants(&env.tenancy, &options, move |m| {
        record.lock().unwrap().push(m.slug.clone())
    })
    .await
    .unwrap();
    assert_eq!(
        (summary.migrated, summary.up_to_date),
        (2, 4),
        "{summary:?}"
    );
    let mut seen = seen.lock().unwrap().clone();
    seen.sort();
    assert_eq!(seen, ["tenant-0", "tenant-1"]);
    let forced: bool =
        sqlx::query_scalar("SELECT relforcerowsecurity FROM pg_class WHERE oid = to_regclass($1)")
            .bind(format!("\"{schema}\".tasks"))
            .fetch_one(&mut primary)
            .await
            .unwrap();
    assert!(forced, "the re-run restored the schema's protection");
    // One broken tenant does not stop the others, and is reported.
    let broken = &made[4];
    let location = Location::of(broken).unwrap();
    let mut conn = owner_at(&env, &location).await;
    sqlx::raw_sql("DROP TABLE memberships")
        .execute(&mut conn)
        .await
        .unwrap();
    let forced_run = MigrateOptions {
        force: true,
        ..options.clone()
    };
    let summary = migrate_tenants(&env.tenancy, &forced_run, |_| {})
        .await
        .unwrap();
    assert_eq!(summary.migrated, 5, "{summary:?}");
    assert_eq!(summary.failed.len(), 1, "{summary:?}");
    assert_eq!(summary.failed[0].0, broken.slug);
    assert!(summary.failed[0].1.contains("memberships"), "{summary:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_of_every_tier_are_relayed_and_trails_stay_apart() {
    use common::events::{Noted, Recorder};
    use saas_core::events::relay::{DatabaseRelays, Relay, RelayConfig};
    use std::sync::Arc;
    use std::time::Duration;

    let env = env_with_east().await;
    let tenants = [
        create(&env, "ev-shared", Tier::Shared, None).await,
        create(&env, "ev-schema", Tier::Schema, None).await,
        create(&env, "ev-east", Tier::Database, Some("east")).await,
    ];
    let recorder = Recorder::new();
    let config = RelayConfig {
        poll_interval: Duration::from_millis(50),
        ..RelayConfig::default()
    };
    let publisher: Arc<dyn saas_core::events::publish::Publisher> = Arc::new(recorder.clone());
    let relay = Relay::with_publisher(env.tenancy.owner_pool(), publisher.clone(), config.clone())
        .spawn()
        .with_databases(DatabaseRelays::spawn(
            &env.tenancy,
            publisher,
            config,
            Duration::from_millis(100),
        ));
    for (n, tenant) in tenants.iter().enumerate() {
        let mut tx = TenantTx::begin(&env.tenancy, tenant.id);
        saas_core::events::emit(
            &mut tx,
            &Noted {
                aggregate: Uuid::new_v4(),
                n: n as u32,
            },
        )
        .await
        .unwrap();
        tx.commit().await.unwrap();
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while recorder.events().len() < tenants.len() && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut published: Vec<TenantId> = recorder.events().iter().map(|e| e.tenant_id).collect();
    published.sort();
    let mut expected: Vec<TenantId> = tenants.iter().map(|t| t.id).collect();
    expected.sort();
    assert_eq!(
        published, expected,
        "one event per tenant, each under its own tenant"
    );
    relay.shutdown().await;
    // Each tenant's audit trail holds its own event only, wherever it lives.
    for tenant in &tenants {
        let mut tx = TenantTx::begin(&env.tenancy, tenant.id);
        let page = saas_core::events::audit::page(&mut tx, saas_core::model::PageRequest::first())
            .await
            .unwrap();
        assert_eq!(page.items.len(), 1, "{}", tenant.slug);
        let mine = recorder
            .events()
            .into_iter()
            .find(|e| e.tenant_id == tenant.id)
            .unwrap();
        assert_eq!(
            page.items[0].id, mine.id,
            "{}: a foreign event in the trail",
            tenant.slug
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_isolation_audit_covers_tenant_schemas_and_databases() {
    use saas_core::tenancy::pool::Tenancy;
    let env = env_with_east().await;
    let schema_tenant = create(&env, "audit-schema", Tier::Schema, None).await;
    let db_tenant = create(&env, "audit-east", Tier::Database, Some("east")).await;
    let schema = schema_tenant.placement.schema.clone().unwrap();
    let mut primary = owner_at(&env, &Location::Shared).await;
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "ALTER TABLE \"{schema}\".projects NO FORCE ROW LEVEL SECURITY"
    )))
    .execute(&mut primary)
    .await
    .unwrap();
    let mut east_conn = owner_at(&env, &Location::of(&db_tenant).unwrap()).await;
    sqlx::raw_sql("CREATE TABLE leaky (tenant_id uuid, secret text)")
        .execute(&mut east_conn)
        .await
        .unwrap();
    let east_url = common::east().await.to_string();
    let config = env.db.config().server("east", east_url);
    let mut no_migrate = config.clone();
    no_migrate.migrate_on_start = false;
    let err = Tenancy::start(no_migrate, common::resolvers(), Some(&common::MIGRATIONS))
        .await
        .expect_err("the audit refuses a broken tenant schema and database");
    let text = err.to_string();
    let detail = match &err {
        saas_core::Error::Audit(report) => report.to_string(),
        other => panic!("not an audit failure: {other}"),
    };
    assert!(
        detail.contains(&format!("schema:{schema}")),
        "{text}\n{detail}"
    );
    assert!(detail.contains("projects"), "{detail}");
    assert!(detail.contains("database:east/"), "{detail}");
    assert!(detail.contains("leaky"), "{detail}");
    // Migrating the tenants repairs the schema; the stray table must be dealt with by hand.
    sqlx::raw_sql("DROP TABLE leaky")
        .execute(&mut east_conn)
        .await
        .unwrap();
    let options = MigrateOptions {
        force: true,
        ..MigrateOptions::for_tenancy(&env.tenancy)
    };
    let summary = migrate_tenants(&env.tenancy, &options, |_| {})
        .await
        .unwrap();
    assert!(summary.is_complete(), "{summary:?}");
    let tenancy = Tenancy::start(config, common::resolvers(), Some(&common::MIGRATIONS))
        .await
        .expect("clean after the tenant migration");
    tenancy.close().await;
}
