//! Moves that fail: a failure at any step (an error, not only a crash) leaves the tenant's
//! data where it was, unfenced, in the tier the registry names, and never touches another
//! tenant; two server names for one PostgreSQL cluster are refused before anything moves.

use crate::common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::Env;
use common::moves::{create, write_pair};
use saas_core::moves::{self, MoveOptions, MoveRequest, MoveStep};
use saas_core::prelude::*;
use saas_core::tenancy::Location;
use saas_core::tenancy::pool::{Tenancy, TenancyConfig};
use saas_core::tenancy::registry::Tier;

async fn write_pairs(tenancy: &Tenancy, tenant: TenantId, count: usize) -> BTreeSet<Uuid> {
    let mut ids = BTreeSet::new();
    for n in 0..count {
        ids.insert(write_pair(tenancy, tenant, n).await.unwrap());
    }
    ids
}

/// The tenant's projects read through a `TenantTx` that looks its placement up afresh.
async fn project_ids(tenancy: &Tenancy, tenant: TenantId) -> BTreeSet<Uuid> {
    tenancy.tenants().invalidate(tenant);
    common::moves::project_ids(tenancy, tenant).await
}

/// The tenant's rows in `projects` at a location, counted with schema-qualified names.
async fn rows_at(tenancy: &Tenancy, location: &Location, tenant: TenantId) -> i64 {
    common::moves::rows_at(tenancy, location, tenant)
        .await
        .expect("the location answers")
}

/// Whether a tenant schema or database exists at all.
async fn location_exists(tenancy: &Tenancy, location: &Location) -> bool {
    match location {
        Location::Shared | Location::Dedicated => true,
        Location::Schema(schema) => {
            sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)")
                .bind(schema)
                .fetch_one(tenancy.owner_pool())
                .await
                .unwrap()
        }
        Location::Database { database, .. } => {
            sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
                .bind(database)
                .fetch_one(tenancy.owner_pool())
                .await
                .unwrap()
        }
    }
}

async fn tier_of(tenancy: &Tenancy, tenant: TenantId) -> Tier {
    tenancy.tenants().invalidate(tenant);
    tenancy.tenants().get(tenant).await.unwrap().tier
}

fn quick() -> MoveOptions {
    MoveOptions {
        grace: Some(Duration::from_millis(20)),
        ..MoveOptions::default()
    }
}

fn failing_after(step: MoveStep) -> MoveOptions {
    MoveOptions {
        fail_after: Some(step),
        ..quick()
    }
}

fn to(tier: Tier) -> MoveRequest {
    MoveRequest::to(tier)
}

/// Asserts that a tenant is whole where it was: every acknowledged project readable, the
/// rows at its location, no move pending, and a write accepted (no fence left up).
async fn assert_intact(
    tenancy: &Tenancy,
    tenant: TenantId,
    tier: Tier,
    written: &mut BTreeSet<Uuid>,
    what: &str,
) {
    assert_eq!(tier_of(tenancy, tenant).await, tier, "{what}: the registry");
    assert!(
        moves::pending(tenancy, tenant).await.unwrap().is_none(),
        "{what}: the move is closed"
    );
    assert_eq!(
        project_ids(tenancy, tenant).await,
        *written,
        "{what}: the tenant's projects"
    );
    let location = Location::of(&tenancy.tenants().get(tenant).await.unwrap()).unwrap();
    assert_eq!(
        rows_at(tenancy, &location, tenant).await,
        written.len() as i64,
        "{what}: the rows at {location}"
    );
    let id = write_pair(tenancy, tenant, 1000 + written.len())
        .await
        .unwrap_or_else(|e| panic!("{what}: a write after the failed move: {e}"));
    written.insert(id);
}

/// A migration that works once per database but not in a second schema: it names the
/// shared schema, where it has already run. Provisioning a tenant schema fails on it before
/// any of the application's tables exist there.
fn migrations_failing_in_a_second_schema() -> sqlx::migrate::Migrator {
    use sqlx::SqlSafeStr;
    use sqlx::migrate::{Migration, MigrationType, Migrator};
    let mut all = vec![Migration::new(
        0,
        "settings in the shared schema".into(),
        MigrationType::Simple,
        "CREATE TABLE public.app_settings (key text PRIMARY KEY, value text NOT NULL)"
            .into_sql_str(),
        false,
    )];
    all.extend(common::MIGRATIONS.iter().cloned());
    Migrator::with_migrations(all)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_move_failing_while_provisioning_its_target_keeps_the_tenants_rows() {
    let db = saas_testkit::TestDb::new().await.unwrap();
    let mut config = db.config();
    config.move_wait = Duration::from_millis(300);
    let migrations = migrations_failing_in_a_second_schema();
    let tenancy = Tenancy::start(config, common::resolvers(), Some(&migrations))
        .await
        .unwrap();
    let mover = create(&tenancy, "mover", Tier::Shared).await;
    let bystander = create(&tenancy, "bystander", Tier::Shared).await;
    let mut written = write_pairs(&tenancy, mover.id, 10).await;
    let mut theirs = write_pairs(&tenancy, bystander.id, 5).await;

    let err = moves::move_tenant(&tenancy, mover.id, &to(Tier::Schema), &quick())
        .await
        .expect_err("provisioning the schema fails on the migration");
    assert!(err.to_string().contains("migration"), "{err}");
    let target = tenancy
        .provisioner()
        .location_for(mover.id, Tier::Schema, None);
    assert!(
        !location_exists(&tenancy, &target).await,
        "the half-made schema is gone"
    );
    let fences: i64 = sqlx::query_scalar("SELECT count(*) FROM saas.fences WHERE tenant_id = $1")
        .bind(mover.id)
        .fetch_one(tenancy.owner_pool())
        .await
        .unwrap();
    assert_eq!(fences, 0, "no fence left up");
    assert_intact(&tenancy, mover.id, Tier::Shared, &mut written, "mover").await;
    assert_intact(
        &tenancy,
        bystander.id,
        Tier::Shared,
        &mut theirs,
        "bystander",
    )
    .await;
    tenancy.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_move_failing_after_any_step_loses_nothing_and_can_be_retried() {
    let env = Env::with_config(|mut c: TenancyConfig| {
        // A fence left up shows as a refused write, quickly.
        c.move_wait = Duration::from_millis(300);
        c
    })
    .await;
    let tenancy = env.tenancy.clone();
    let mut bystanders = Vec::new();
    for tier in [Tier::Shared, Tier::Schema, Tier::Database] {
        let tenant = create(&tenancy, &format!("bystander-{tier}"), tier).await;
        let written = write_pairs(&tenancy, tenant.id, 3).await;
        bystanders.push((tenant, tier, written));
    }
    let routes = [
        (Tier::Shared, Tier::Schema),
        (Tier::Shared, Tier::Database),
        (Tier::Schema, Tier::Shared),
        (Tier::Database, Tier::Schema),
    ];
    // Every step but the last: a move that failed after cleaning up has nothing left to undo.
    let steps = &MoveStep::ALL[..MoveStep::ALL.len() - 1];
    for (from, target) in routes {
        for &step in steps {
            let what = format!("{from} -> {target}, failing after {}", step.as_str());
            let tenant = create(
                &tenancy,
                &format!("m-{from}-{target}-{}", step.as_str()),
                from,
            )
            .await;
            let mut written = write_pairs(&tenancy, tenant.id, 6).await;
            let target_location = tenancy.provisioner().location_for(tenant.id, target, None);

            let err = moves::move_tenant(&tenancy, tenant.id, &to(target), &failing_after(step))
                .await
                .expect_err(&what);
            assert!(err.to_string().contains("injected"), "{what}: {err}");
            if step < MoveStep::Switched {
                // Rolled back: the tenant stays, whole and writable; the target is gone.
                assert_intact(&tenancy, tenant.id, from, &mut written, &what).await;
                if target != Tier::Shared {
                    assert!(
                        !location_exists(&tenancy, &target_location).await,
                        "{what}: the target was removed"
                    );
                }
            } else {
                // Past the switch a move only goes forward: the registry names the target,
                // the data is readable there, and resuming finishes the move.
                assert_eq!(tier_of(&tenancy, tenant.id).await, target, "{what}");
                assert_eq!(project_ids(&tenancy, tenant.id).await, written, "{what}");
                let pending = moves::pending(&tenancy, tenant.id).await.unwrap();
                assert_eq!(pending.map(|p| p.step), Some(MoveStep::Switched), "{what}");
                moves::resume(&tenancy, tenant.id, &quick())
                    .await
                    .unwrap_or_else(|e| panic!("{what}: resuming: {e}"))
                    .expect("a move to resume");
                assert_intact(&tenancy, tenant.id, target, &mut written, &what).await;
            }
            // A new move afterwards goes through.
            let report = moves::move_tenant(&tenancy, tenant.id, &to(target), &quick())
                .await
                .unwrap_or_else(|e| panic!("{what}: moving again: {e}"));
            assert_eq!(report.tenant.tier, target, "{what}");
            assert_intact(&tenancy, tenant.id, target, &mut written, &what).await;
            for (other, tier, theirs) in &mut bystanders {
                assert_intact(
                    &tenancy,
                    other.id,
                    *tier,
                    theirs,
                    &format!("{what}: bystander"),
                )
                .await;
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_server_names_for_one_cluster_are_refused_before_anything_moves() {
    let env = Env::with_config(|c: TenancyConfig| {
        let url = c.database_url.clone();
        c.server("alias", url)
    })
    .await;
    let tenancy = env.tenancy.clone();
    let placed = create(&tenancy, "placed", Tier::Database).await;
    let shared = create(&tenancy, "shared", Tier::Shared).await;
    let mut placed_rows = write_pairs(&tenancy, placed.id, 5).await;
    let mut shared_rows = write_pairs(&tenancy, shared.id, 5).await;
    let alias = MoveRequest {
        tier: Tier::Database,
        server: Some("alias".into()),
        node: None,
    };
    for (tenant, from, written) in [
        (&placed, Tier::Database, &mut placed_rows),
        (&shared, Tier::Shared, &mut shared_rows),
    ] {
        let what = format!("{from} tenant to database on alias");
        let result = moves::move_tenant(&tenancy, tenant.id, &alias, &quick()).await;
        let err = match result {
            Ok(report) => panic!("{what}: moved to {} instead of refusing", report.to),
            Err(err) => err,
        };
        assert!(
            err.rejection()
                .is_some_and(|e| e.status().is_client_error()),
            "{what}: a client error: {err}"
        );
        let message = err.to_string();
        assert!(
            message.contains("\"primary\"") && message.contains("\"alias\""),
            "{what}: names both servers: {message}"
        );
        assert_intact(&tenancy, tenant.id, from, written, &what).await;
    }
    let placed_location = Location::of(&tenancy.tenants().get(placed.id).await.unwrap()).unwrap();
    assert_eq!(
        placed_location.placement().server,
        "primary",
        "the registry still places it on primary"
    );
    // Nothing was created for the shared tenant either.
    let alias_target = tenancy
        .provisioner()
        .location_for(shared.id, Tier::Database, Some("alias"));
    assert!(!location_exists(&tenancy, &alias_target).await);
}

/// Citus's error for a statement that chose a shard a concurrent split or move had just
/// replaced (`citus_dedicated` runs into the race itself) is a 503 to retry, with
/// `Retry-After`, not a 500; another internal error with the same SQLSTATE stays a 500.
#[tokio::test]
async fn a_statement_that_met_a_replaced_shard_is_answered_503_retry() {
    use axum::response::IntoResponse;
    let env = Env::new().await;
    let mut conn = env.tenancy.owner_pool().acquire().await.unwrap();
    let refused = raised(&mut conn, "could not find valid entry for shard 102015").await;
    assert!(refused.met_replaced_shard());
    let refused = refused.into_response();
    assert_eq!(refused.status(), 503);
    assert_eq!(refused.headers()["retry-after"], "1");
    let other = raised(&mut conn, "cache lookup failed for relation 16384").await;
    assert!(!other.met_replaced_shard());
    assert_eq!(other.into_response().status(), 500);
}

/// The error answered for a statement that raises `XX000` with `message`.
async fn raised(conn: &mut sqlx::PgConnection, message: &str) -> ApiError {
    let sql = format!(
        "DO $$ BEGIN RAISE EXCEPTION USING ERRCODE = 'XX000', MESSAGE = '{message}'; END $$"
    );
    let err = sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
        .execute(conn)
        .await
        .unwrap_err();
    ApiError::from(err)
}
