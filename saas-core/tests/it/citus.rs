//! On a real Citus cluster (`CITUS_URL`, see `saas_testkit::citus`): the tenant tables are
//! distributed and co-located by the ordinary migration path, each shard enforces the tenant
//! policy, the boot audit checks the shards, and a database that gains Citus later is
//! distributed by its next migration. `scripts/test.sh` starts a cluster and runs these (with
//! `rls::`, `audit::` and `events::`) on it; without `CITUS_URL` they are ignored, never
//! passed empty.

use crate::common;

use common::events::Recorder;
use common::*;
use saas_core::events::relay::{Relay, RelayConfig};
use saas_core::model::registered_models;
use saas_core::prelude::*;
use saas_core::tenancy::pool::{Tenancy, TenancyConfig};
use saas_core::tenancy::registry::{NewTenant, Tier};
use sqlx::Connection;

const NEEDS_CITUS: &str = "needs a Citus cluster: CITUS_URL (scripts/test.sh starts one)";

fn coordinator() -> String {
    saas_testkit::citus::coordinator_url().expect(NEEDS_CITUS)
}

/// (table, partition method, distribution column, co-location group) of every table Citus
/// knows in the database.
async fn distribution(owner: &sqlx::PgPool) -> Vec<(String, String, Option<String>, i32)> {
    sqlx::query_as(
        "SELECT logicalrelid::regclass::text, partmethod::text,
                CASE WHEN partkey IS NOT NULL THEN column_to_column_name(logicalrelid, partkey) END,
                colocationid
           FROM pg_dist_partition ORDER BY 1",
    )
    .fetch_all(owner)
    .await
    .unwrap()
}

fn assert_distributed(found: &[(String, String, Option<String>, i32)]) {
    let group = found
        .iter()
        .find(|(table, ..)| table == "projects")
        .map(|row| row.3)
        .unwrap_or_else(|| panic!("projects is not distributed: {found:?}"));
    for model in registered_models() {
        let row = found
            .iter()
            .find(|(table, ..)| table == model.table)
            .unwrap_or_else(|| panic!("{} is not known to Citus: {found:?}", model.table));
        assert_eq!(row.1, "h", "{} is not hash-distributed", model.table);
        assert_eq!(row.2.as_deref(), Some(model.tenant_column), "{row:?}");
        assert_eq!(
            row.3, group,
            "{} is not co-located with projects",
            model.table
        );
    }
    let registry = found
        .iter()
        .find(|(table, ..)| table == "saas.tenants")
        .expect("the registry is known to Citus");
    assert_eq!(registry.1, "n", "the registry is a reference table");
}

#[tokio::test]
#[ignore = "needs a Citus cluster: CITUS_URL (scripts/test.sh starts one)"]
async fn migrate_distributes_every_tenant_table_by_tenant_in_one_group() {
    coordinator();
    let env = Env::new().await;
    assert!(env.tenancy.distributed());
    assert_distributed(&distribution(env.tenancy.owner_pool()).await);
    // Running the migration again changes nothing.
    let before = distribution(env.tenancy.owner_pool()).await;
    env.tenancy.close().await;
    let again = Tenancy::start(env.db.config(), resolvers(), Some(&MIGRATIONS))
        .await
        .expect("a second migration on Citus");
    assert_eq!(distribution(again.owner_pool()).await, before);
}

#[tokio::test]
#[ignore = "needs a Citus cluster: CITUS_URL (scripts/test.sh starts one)"]
async fn rows_live_on_the_workers_and_each_tenant_sees_only_its_own() {
    coordinator();
    let env = Env::new().await;
    let (a, b) = (env.tenant("acme").await, env.tenant("globex").await);
    seed_projects(&env.tenancy, a.id, &["a1", "a2"]).await;
    seed_projects(&env.tenancy, b.id, &["b1"]).await;
    // The rows are on the workers' shards, not on the coordinator.
    let on_workers: i64 = sqlx::query_scalar(
        "SELECT sum(result::int8)::int8 FROM run_command_on_placements('projects',
           'SELECT count(*) FROM %s') WHERE nodeport <> current_setting('port')::int",
    )
    .fetch_one(env.tenancy.owner_pool())
    .await
    .unwrap();
    assert_eq!(on_workers, 3);
    // A query over every shard (no tenant filter), a router query naming the other tenant,
    // and INSERT ... SELECT copying another tenant's rows: the shards' policies answer.
    let mut tx = TenantTx::begin(&env.tenancy, a.id);
    let conn = tx.conn().await.unwrap();
    let all: Vec<Uuid> = sqlx::query_scalar("SELECT tenant_id FROM projects")
        .fetch_all(&mut *conn)
        .await
        .unwrap();
    assert_eq!(all.len(), 2);
    assert!(all.iter().all(|t| t == a.id.as_uuid()));
    let theirs: i64 = sqlx::query_scalar("SELECT count(*) FROM projects WHERE tenant_id = $1")
        .bind(b.id)
        .fetch_one(&mut *conn)
        .await
        .unwrap();
    assert_eq!(theirs, 0);
    let copied = sqlx::query(
        "INSERT INTO projects (tenant_id, name) SELECT tenant_id, name || ' copy' FROM projects",
    )
    .execute(&mut *conn)
    .await
    .unwrap();
    assert_eq!(
        copied.rows_affected(),
        2,
        "only the tenant's own rows are copied"
    );
    let err = sqlx::query("INSERT INTO projects (tenant_id, name) SELECT $1, name FROM projects")
        .bind(b.id)
        .execute(&mut *conn)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("row-level security"), "{err}");
    drop(tx);
    // No tenant context: zero rows, on every shard.
    let none: i64 = sqlx::query_scalar("SELECT count(*) FROM projects")
        .fetch_one(&env.request_pool().await)
        .await
        .unwrap();
    assert_eq!(none, 0);
    // The coordinator-only `set_config` does not reach the shards: zero rows, not every row.
    let mut raw = env.request_pool().await.begin().await.unwrap();
    sqlx::query("SELECT set_config('saas.tenant_id', $1, true)")
        .bind(a.id.to_string())
        .execute(&mut *raw)
        .await
        .unwrap();
    let seen: i64 = sqlx::query_scalar("SELECT count(*) FROM projects")
        .fetch_one(&mut *raw)
        .await
        .unwrap();
    assert_eq!(seen, 0);
}

#[tokio::test]
#[ignore = "needs a Citus cluster: CITUS_URL (scripts/test.sh starts one)"]
async fn copy_into_a_tenant_table_is_refused_even_for_the_tenants_own_rows() {
    // Citus refuses COPY into a table under row-level security outright (bulk loads for a
    // tenant use INSERT there), so COPY is no way around the shards' policies.
    coordinator();
    let env = Env::new().await;
    let (a, b) = (env.tenant("acme").await, env.tenant("globex").await);
    for rows in [format!("{}\tmine\n", a.id), format!("{}\ttheirs\n", b.id)] {
        let mut tx = TenantTx::begin(&env.tenancy, a.id);
        let conn = tx.conn().await.unwrap();
        let mut copy = conn
            .copy_in_raw("COPY projects (tenant_id, name) FROM STDIN")
            .await
            .unwrap();
        copy.send(rows.into_bytes()).await.unwrap();
        let err = copy.finish().await.unwrap_err();
        assert!(
            err.to_string()
                .contains("COPY FROM not supported with row-level security"),
            "{err}"
        );
    }
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM projects")
        .fetch_one(env.tenancy.owner_pool())
        .await
        .unwrap();
    assert_eq!(count, 0);
}

#[tokio::test]
#[ignore = "needs a Citus cluster: CITUS_URL (scripts/test.sh starts one)"]
async fn the_audit_refuses_a_shard_whose_policies_differ_from_the_coordinators() {
    coordinator();
    let env = Env::new().await;
    let (a, b) = (env.tenant("acme").await, env.tenant("globex").await);
    seed_projects(&env.tenancy, b.id, &["b1"]).await;
    // A policy on the shards only, invisible on the coordinator's table.
    sqlx::query(
        "SELECT run_command_on_placements('projects',
           'CREATE POLICY sneaky ON %s AS PERMISSIVE FOR ALL TO PUBLIC USING (true)')",
    )
    .execute(env.tenancy.owner_pool())
    .await
    .unwrap();
    // It is a real leak: tenant A now reads tenant B's rows.
    let mut tx = TenantTx::begin(&env.tenancy, a.id);
    let leaked: i64 = sqlx::query_scalar("SELECT count(*) FROM projects")
        .fetch_one(tx.conn().await.unwrap())
        .await
        .unwrap();
    assert_eq!(leaked, 1);
    drop(tx);
    env.tenancy.close().await;
    let mut config = env.db.config();
    config.migrate_on_start = false;
    let err = Tenancy::start(config, resolvers(), Some(&MIGRATIONS))
        .await
        .expect_err("the audit must refuse a shard with another policy");
    let msg = err.to_string();
    assert!(
        msg.contains("enforces other row-level security than the coordinator"),
        "{msg}"
    );
    assert!(msg.contains("sneaky"), "{msg}");
}

#[tokio::test]
#[ignore = "needs a Citus cluster: CITUS_URL (scripts/test.sh starts one)"]
async fn citus_still_creates_restrictive_policies_as_permissive_on_shards() {
    // Why the framework's policy layout differs on Citus (see `model::POLICY_NAME`). When
    // this fails, Citus keeps AS RESTRICTIVE on its shards and the layout may be unified.
    coordinator();
    let env = Env::new().await;
    let mut owner = env.db.owner_conn().await.unwrap();
    run_each(
        &mut owner,
        &[
            "CREATE TABLE canary (tenant_id uuid NOT NULL, n int)",
            "SELECT create_distributed_table('canary', 'tenant_id', colocate_with => 'none')",
            "CREATE POLICY narrow ON canary AS RESTRICTIVE USING (n > 0)",
        ],
    )
    .await;
    let kinds: Vec<String> = sqlx::query_scalar(
        "SELECT result FROM run_command_on_placements('canary',
           'SELECT polpermissive::text FROM pg_policy WHERE polrelid = ''%s''::regclass')",
    )
    .fetch_all(&mut owner)
    .await
    .unwrap();
    assert!(!kinds.is_empty());
    assert!(kinds.iter().all(|k| k == "true"), "{kinds:?}");
}

#[tokio::test]
#[ignore = "needs a Citus cluster: CITUS_URL (scripts/test.sh starts one)"]
async fn a_database_that_gains_citus_later_is_distributed_by_its_next_migration() {
    let server = coordinator();
    let name = format!("saas_test_later_{}", Uuid::new_v4().simple());
    let mut conn = sqlx::PgConnection::connect(&server).await.unwrap();
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE \"{name}\"")))
        .execute(&mut conn)
        .await
        .unwrap();
    let url = saas_testkit::with_database(&server, &name).unwrap();
    let config = TenancyConfig::new(url.clone()).request_role(format!("{name}_app"));
    // Plain PostgreSQL first, with data.
    let plain = Tenancy::start(config.clone(), resolvers(), Some(&MIGRATIONS))
        .await
        .unwrap();
    assert!(!plain.distributed());
    let a = plain
        .tenants()
        .create(NewTenant::new("acme", "Acme"))
        .await
        .unwrap();
    let b = plain
        .tenants()
        .create(NewTenant::new("globex", "Globex"))
        .await
        .unwrap();
    seed_projects(&plain, a.id, &["a1", "a2"]).await;
    seed_projects(&plain, b.id, &["b1"]).await;
    plain.close().await;
    // Then Citus, and the next start's migration.
    saas_testkit::citus::add_citus(&server, &name)
        .await
        .unwrap();
    let distributed = Tenancy::start(config, resolvers(), Some(&MIGRATIONS))
        .await
        .expect("migrating a database that gained Citus");
    assert!(distributed.distributed());
    assert_distributed(&distribution(distributed.owner_pool()).await);
    let mut tx = TenantTx::begin(&distributed, a.id);
    let page = Project::list(&mut tx, PageRequest::first()).await.unwrap();
    assert_eq!(
        page.items.len(),
        2,
        "the rows moved to the shards, each with its tenant"
    );
    drop(tx);
    distributed.close().await;
    run_each(
        &mut conn,
        &[
            format!("DROP DATABASE \"{name}\" WITH (FORCE)"),
            format!("DROP ROLE IF EXISTS \"{name}_app\""),
        ],
    )
    .await;
    saas_testkit::citus::drop_on_workers(&server, &name).await;
}

#[tokio::test]
#[ignore = "needs a Citus cluster: CITUS_URL (scripts/test.sh starts one)"]
async fn events_recorded_on_shards_reach_the_relay() {
    coordinator();
    let env = Env::new().await;
    let (a, b) = (env.tenant("acme").await, env.tenant("globex").await);
    // A schema-tier tenant's events go to the shared (distributed) event tables, on another
    // worker than its schema: the event's transaction is committed on two workers (two-phase),
    // which refused the outbox shard's NOTIFY until the trigger skipped it on shards.
    let c = schema_tenant_apart_from_its_outbox(&env).await;
    for tenant in [&a, &b] {
        common::events::emit_note(&env.tenancy, tenant.id, 1).await;
    }
    let mut tx = TenantTx::begin(&env.tenancy, c.id);
    sqlx::query("INSERT INTO projects (tenant_id, name) VALUES ($1, 'with its event')")
        .bind(c.id)
        .execute(tx.conn().await.unwrap())
        .await
        .unwrap();
    let noted = common::events::Noted {
        aggregate: Uuid::new_v4(),
        n: 1,
    };
    saas_core::events::emit(&mut tx, &noted).await.unwrap();
    tx.commit()
        .await
        .expect("a write in the schema and its event on another worker commit together");
    let recorder = Recorder::new();
    let relay = Relay::new(
        env.tenancy.owner_pool(),
        recorder.clone(),
        RelayConfig::default(),
    );
    // A second relay at the same time takes turns with the first, never the same events.
    let other = Relay::new(
        env.tenancy.owner_pool(),
        recorder.clone(),
        RelayConfig::default(),
    );
    let (one, two) = tokio::join!(relay.drain(), other.drain());
    assert_eq!(one.unwrap() + two.unwrap(), 3);
    let mut tenants: Vec<TenantId> = recorder.events().iter().map(|e| e.tenant_id).collect();
    tenants.sort();
    let mut expected = vec![a.id, b.id, c.id];
    expected.sort();
    assert_eq!(tenants, expected);
    // Tenant A's audit trail holds its event only.
    let mut tx = TenantTx::begin(&env.tenancy, a.id);
    let trail = saas_core::events::audit::page(&mut tx, PageRequest::first())
        .await
        .unwrap();
    assert_eq!(trail.items.len(), 1);
}

/// A schema-tier tenant whose schema is on another worker than its rows of the (hash
/// distributed) outbox.
async fn schema_tenant_apart_from_its_outbox(env: &Env) -> saas_core::tenancy::registry::Tenant {
    for i in 0..12 {
        let tenant =
            common::moves::create(&env.tenancy, &format!("schemed-{i}"), Tier::Schema).await;
        let schema = tenant.placement.schema.clone().unwrap();
        let apart: bool = sqlx::query_scalar(
            "SELECT (SELECT nodeport FROM citus_shards
                      WHERE shardid = get_shard_id_for_distribution_column('saas_outbox', $1))
                    <> (SELECT min(s.nodeport) FROM citus_shards s JOIN pg_class c ON c.oid = s.table_name
                         WHERE c.relnamespace = to_regnamespace($2))",
        )
        .bind(tenant.id)
        .bind(&schema)
        .fetch_one(env.tenancy.owner_pool())
        .await
        .unwrap();
        if apart {
            return tenant;
        }
    }
    panic!("twelve schema-tier tenants, each on the worker of its outbox shard");
}

/// Where Citus keeps a tenant schema's tables: (table, citus_table_type, node port) of each
/// placement.
async fn schema_placements(owner: &sqlx::PgPool, schema: &str) -> Vec<(String, String, i32)> {
    sqlx::query_as(
        "SELECT s.table_name::text, s.citus_table_type, s.nodeport
           FROM citus_shards s JOIN pg_class c ON c.oid = s.table_name
          WHERE c.relnamespace = to_regnamespace($1) ORDER BY 1",
    )
    .bind(schema)
    .fetch_all(owner)
    .await
    .unwrap()
}

#[tokio::test]
#[ignore = "needs a Citus cluster: CITUS_URL (scripts/test.sh starts one)"]
async fn a_schema_tier_tenant_is_a_distributed_schema_on_one_worker_and_sees_only_its_rows() {
    let port: i32 = coordinator()
        .rsplit(':')
        .next()
        .and_then(|rest| rest.split('/').next())
        .and_then(|p| p.parse().ok())
        .expect("the coordinator URL has a port");
    let env = Env::new().await;
    let schemed = common::moves::create(&env.tenancy, "schemed", Tier::Schema).await;
    let shared = env.tenant("shared").await;
    let schema = schemed.placement.schema.clone().expect("its schema");
    // Citus's schema-based sharding: every table of the schema (the application's and the
    // migration ledger) is a single-shard "schema" table, all on one worker.
    let distributed: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM pg_dist_schema WHERE schemaid = to_regnamespace($1))",
    )
    .bind(&schema)
    .fetch_one(env.tenancy.owner_pool())
    .await
    .unwrap();
    assert!(distributed, "{schema} is not a distributed schema");
    let placements = schema_placements(env.tenancy.owner_pool(), &schema).await;
    for model in ["projects", "tasks", "memberships"] {
        assert!(
            placements
                .iter()
                .any(|(t, kind, _)| t.ends_with(&format!(".{model}")) && kind == "schema"),
            "{model} is not a schema table: {placements:?}"
        );
    }
    let nodes: std::collections::BTreeSet<i32> = placements.iter().map(|p| p.2).collect();
    assert_eq!(nodes.len(), 1, "one node holds the schema: {placements:?}");
    assert!(
        !nodes.contains(&port),
        "the schema is on a worker: {placements:?}"
    );

    seed_projects(&env.tenancy, schemed.id, &["s1"]).await;
    seed_projects(&env.tenancy, shared.id, &["a1", "a2"]).await;
    let on_worker: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT sum(result::int8)::int8 FROM run_command_on_placements('\"{schema}\".projects',
           'SELECT count(*) FROM %s')"
    )))
    .fetch_one(env.tenancy.owner_pool())
    .await
    .unwrap();
    assert_eq!(on_worker, 1, "the schema tenant's row is on its worker");

    // Each tenant sees its own rows; naming the other's table yields nothing.
    let count = |tenant: TenantId, table: String| {
        let tenancy = env.tenancy.clone();
        async move {
            let mut tx = TenantTx::begin(&tenancy, tenant);
            let conn = tx.conn().await.unwrap();
            sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(format!(
                "SELECT count(*) FROM {table}"
            )))
            .fetch_one(&mut *conn)
            .await
        }
    };
    assert_eq!(count(schemed.id, "projects".into()).await.unwrap(), 1);
    assert_eq!(count(shared.id, "projects".into()).await.unwrap(), 2);
    let theirs = count(shared.id, format!("\"{schema}\".projects")).await;
    assert!(
        !matches!(theirs, Ok(n) if n > 0),
        "the shared tenant read the schema: {theirs:?}"
    );
    let shared_rows = count(schemed.id, "public.projects".into()).await;
    assert!(
        !matches!(shared_rows, Ok(n) if n > 0),
        "the schema tenant read shared rows: {shared_rows:?}"
    );
    // Without a tenant context, the schema's table shows nothing either.
    let pool = env.request_pool().await;
    let bare = sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(format!(
        "SELECT count(*) FROM \"{schema}\".projects"
    )))
    .fetch_one(&pool)
    .await;
    assert!(
        !matches!(bare, Ok(n) if n > 0),
        "no context read the schema: {bare:?}"
    );

    // The boot audit, shards included, accepts the layout.
    env.tenancy.close().await;
    Tenancy::start(env.db.config(), resolvers(), Some(&MIGRATIONS))
        .await
        .expect("the audit accepts a distributed tenant schema");
}

#[tokio::test]
#[ignore = "needs a Citus cluster: CITUS_URL (scripts/test.sh starts one)"]
async fn a_later_migration_of_several_statements_applies_to_the_shared_tier_and_tenant_schemas() {
    // Citus refuses a multi-statement text that creates a table referencing the registry (a
    // reference table) or a table in a distributed schema; the migrator sends the statements
    // one by one and keeps sqlx's ledger as sqlx would.
    coordinator();
    let env = Env::new().await;
    let schemed = common::moves::create(&env.tenancy, "schemed", Tier::Schema).await;
    let schema = schemed.placement.schema.clone().unwrap();
    let mut migrations: Vec<sqlx::migrate::Migration> = MIGRATIONS.iter().cloned().collect();
    // Not a tenant table (no tenant column: the audit would want a model), but it references
    // the registry, which is what makes Citus propagate it.
    let sql = "CREATE TABLE labels (
                   name text PRIMARY KEY DEFAULT 'a;b',
                   made_by uuid REFERENCES saas.tenants (id) ON DELETE CASCADE
               );
               -- a comment; with a semicolon
               CREATE INDEX labels_by_name ON labels (name);
               COMMENT ON TABLE labels IS 'added later; by a second migration';";
    let later = sqlx::migrate::Migration::new(
        2,
        "labels".into(),
        sqlx::migrate::MigrationType::Simple,
        sqlx::SqlSafeStr::into_sql_str(sqlx::AssertSqlSafe(sql)),
        false,
    );
    let checksum = later.checksum.clone();
    migrations.push(later);
    let migrator = sqlx::migrate::Migrator::with_migrations(migrations);
    env.tenancy.close().await;
    let tenancy = Tenancy::start(env.db.config(), resolvers(), Some(&migrator))
        .await
        .expect("the second migration applies on the coordinator");
    let options = saas_core::migrate::tenants::MigrateOptions::for_tenancy(&tenancy);
    let summary = saas_core::migrate::tenants::migrate_tenants(&tenancy, &options, |_| {})
        .await
        .expect("and to the tenant schema");
    assert!(summary.failed.is_empty(), "{summary:?}");
    for (ledger, table) in [
        (
            "public._sqlx_migrations".to_string(),
            "public.labels".to_string(),
        ),
        (
            format!("\"{schema}\"._sqlx_migrations"),
            format!("\"{schema}\".labels"),
        ),
    ] {
        let recorded: Vec<u8> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "SELECT checksum FROM {ledger} WHERE version = 2 AND success"
        )))
        .fetch_one(tenancy.owner_pool())
        .await
        .unwrap();
        assert_eq!(
            recorded,
            checksum.to_vec(),
            "{ledger} records sqlx's checksum"
        );
        let (index, comment): (bool, Option<String>) = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT EXISTS (SELECT 1 FROM pg_indexes WHERE indexname = 'labels_by_name'
                             AND format('%I.%I', schemaname, tablename)::regclass = '{table}'::regclass),
                    obj_description('{table}'::regclass, 'pg_class')"
        )))
        .fetch_one(tenancy.owner_pool())
        .await
        .unwrap();
        assert!(index, "{table} has its index");
        assert_eq!(
            comment.as_deref(),
            Some("added later; by a second migration")
        );
    }
    let placements = schema_placements(tenancy.owner_pool(), &schema).await;
    assert!(
        placements
            .iter()
            .any(|(t, kind, _)| t.ends_with(".labels") && kind == "schema"),
        "the new table joined the distributed schema: {placements:?}"
    );
}
