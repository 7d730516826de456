//! Migrations: the framework's schema, the application's migrations, and the RLS set-up of
//! every registered model, applied as the owner in that order — to the shared schema and, with
//! [`tenants::migrate_tenants`], to every tenant schema and tenant database.

mod location;
mod statements;
pub mod tenants;

pub(crate) use location::AppMigrations;

use sha2::{Digest, Sha256};
use sqlx::migrate::Migrator;
use sqlx::{Connection, PgConnection, PgPool};

use crate::error::{Error, Result};
use crate::isolation::roles;
use crate::model::{ModelMeta, registered_models, table_ddl_statements};
use crate::sql::quote_ident as ddl_quote_ident;
use crate::tenancy::pool::TenancyConfig;
use crate::tenancy::registry;

/// Serializes concurrent migrators (several app instances, parallel tests) on one database.
const MIGRATION_LOCK: i64 = 0x5a_a5_c0_de;

/// A fingerprint of the schema the framework itself creates (registry, fences, event
/// tables): test templates built from an older framework schema are rebuilt when it changes.
pub fn framework_schema_fingerprint() -> [&'static str; 4] {
    [
        registry::REGISTRY_DDL,
        registry::FENCE_DDL,
        registry::SET_TENANT_DDL,
        crate::events::schema::EVENTS_DDL,
    ]
}

/// A hash of everything a location is migrated with: the framework's schema, the
/// application's migrations and every registered model's protection. Recorded per tenant in
/// the registry, so a migration run skips tenants already at it and resumes after a crash.
pub fn schema_fingerprint(migrations: Option<&Migrator>) -> String {
    let mut hasher = Sha256::new();
    hasher.update(env!("CARGO_PKG_VERSION"));
    for ddl in framework_schema_fingerprint() {
        hasher.update(ddl);
    }
    if let Some(migrator) = migrations {
        for m in migrator.iter() {
            hasher.update(m.version.to_le_bytes());
            hasher.update(&*m.checksum);
        }
    }
    for model in registered_models() {
        for statement in table_ddl_statements(model) {
            hasher.update(statement.as_bytes());
        }
    }
    let digest = hasher.finalize();
    digest.iter().take(12).map(|b| format!("{b:02x}")).collect()
}

/// What a migration run applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target<'a> {
    /// The primary database: registry, fences, event tables and the shared schema (the
    /// owner's current schema).
    Primary,
    /// One tenant's schema in the primary database: the application's tables and their
    /// protection (its events go to the shared event tables).
    TenantSchema(&'a str),
    /// One tenant's database: a registry holding that tenant, fences, event tables, the
    /// application's tables.
    TenantDatabase,
}

/// The framework's event tables live in the shared schema; tenant schemas hold the rest.
fn models_for(target: Target<'_>) -> Vec<&'static ModelMeta> {
    let models = registered_models();
    match target {
        Target::TenantSchema(_) => models
            .into_iter()
            .filter(|m| !crate::events::schema::is_event_table(m.table))
            .collect(),
        Target::Primary | Target::TenantDatabase => models,
    }
}

/// Whether another session holds the primary migration lock on this connection's database
/// (a migration job or another release starting), read from `pg_locks` without taking it.
pub async fn migration_running(conn: &mut PgConnection) -> Result<bool, sqlx::Error> {
    // A bigint advisory key shows in pg_locks as classid = high half, objid = low half,
    // objsubid = 1.
    sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted \
           AND objsubid = 1 AND classid::bigint = ($1 >> 32) AND objid::bigint = ($1 & 4294967295) \
           AND database = (SELECT oid FROM pg_database WHERE datname = current_database()) \
           AND pid <> pg_backend_pid())",
    )
    .bind(MIGRATION_LOCK)
    .fetch_one(&mut *conn)
    .await
}

/// Applies everything to the primary database, idempotently, under an advisory lock.
pub async fn migrate_all(
    owner: &PgPool,
    migrations: Option<&Migrator>,
    config: &TenancyConfig,
) -> Result<()> {
    let mut conn = owner.acquire().await?;
    migrate_target(&mut conn, Target::Primary, migrations, config).await
}

/// Applies everything to one target over an owner connection, under an advisory lock. For a
/// tenant schema the connection's `search_path` is set to that schema for the run and
/// restored afterwards.
pub async fn migrate_target(
    conn: &mut PgConnection,
    target: Target<'_>,
    migrations: Option<&Migrator>,
    config: &TenancyConfig,
) -> Result<()> {
    let lock_key = match target {
        Target::TenantSchema(schema) => schema_lock_key(schema),
        _ => MIGRATION_LOCK,
    };
    sqlx::query("SELECT pg_advisory_lock($1)")
        .bind(lock_key)
        .execute(&mut *conn)
        .await?;
    let mut previous_path = None;
    let result = async {
        if let Target::TenantSchema(schema) = target {
            let quoted = ddl_quote_ident(schema);
            sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
                "CREATE SCHEMA IF NOT EXISTS {quoted}"
            )))
            .execute(&mut *conn)
            .await?;
            let path: String = sqlx::query_scalar("SELECT current_setting('search_path')")
                .fetch_one(&mut *conn)
                .await?;
            previous_path = Some(path);
            sqlx::query("SELECT set_config('search_path', $1, false)")
                .bind(&quoted)
                .execute(&mut *conn)
                .await?;
        }
        apply(conn, target, migrations, config).await
    }
    .await;
    let mut cleanup = Ok(());
    if let Some(path) = previous_path {
        cleanup = sqlx::query("SELECT set_config('search_path', $1, false)")
            .bind(path)
            .execute(&mut *conn)
            .await
            .map(drop);
    }
    let unlock = sqlx::query("SELECT pg_advisory_unlock($1)")
        .bind(lock_key)
        .execute(&mut *conn)
        .await;
    // Whatever failed while applying is a migration failure of this target.
    result.map_err(|err| match err {
        err @ Error::Migration { .. } => err,
        other => Error::migration(None, other),
    })?;
    cleanup?;
    unlock?;
    Ok(())
}

fn schema_lock_key(schema: &str) -> i64 {
    let digest = Sha256::digest(schema.as_bytes());
    let mut bytes = [0u8; 8];
    bytes.copy_from_slice(&digest[..8]);
    i64::from_le_bytes(bytes)
}

async fn apply(
    conn: &mut PgConnection,
    target: Target<'_>,
    migrations: Option<&Migrator>,
    config: &TenancyConfig,
) -> Result<()> {
    // The framework's own schema: a tenant database has a registry of its own (holding that
    // tenant only, so migrations may reference `saas.tenants (id)` in every tier), fences and
    // event tables; a tenant schema uses the primary database's.
    let framework: &[&str] = match target {
        Target::Primary | Target::TenantDatabase => &[
            registry::REGISTRY_DDL,
            registry::FENCE_DDL,
            registry::SET_TENANT_DDL,
            crate::events::schema::EVENTS_DDL,
        ],
        Target::TenantSchema(_) => &[],
    };
    for ddl in framework {
        sqlx::raw_sql(sqlx::AssertSqlSafe(*ddl))
            .execute(&mut *conn)
            .await?;
    }
    let citus: bool = sqlx::query_scalar(crate::sql::citus_present_sql())
        .fetch_one(&mut *conn)
        .await?;
    if let Some(migrator) = migrations {
        // `run_direct` rather than `run`: `run`'s `Acquire` bound makes the future
        // non-Send (sqlx documents this workaround on `run_direct`). Its ledger
        // (`_sqlx_migrations`) is created in the target's schema: one ledger per tenant.
        // On Citus each statement of a migration goes on its own (see `statements`).
        let applied = if citus {
            migrator
                .run_direct(None, &mut statements::StatementWise(&mut *conn), false)
                .await
        } else {
            migrator.run_direct(None, &mut *conn, false).await
        };
        applied
            .map_err(|e| Error::migration(None, format!("application migration failed: {e}")))?;
    }
    match target {
        // The role and its database-wide grant were made with the primary database; only
        // the schema is new. (Granting on the database from parallel schema migrations would
        // collide: "tuple concurrently updated".)
        Target::TenantSchema(schema) => {
            roles::grant_schema(conn, schema, &config.request_role).await?
        }
        Target::Primary | Target::TenantDatabase => {
            roles::ensure_request_role(
                conn,
                &config.request_role,
                config.request_password.as_deref(),
            )
            .await?
        }
    }
    let shard_lock = target == Target::Primary && citus;
    if shard_lock {
        // A shard operation of the framework (a dedicated-tier move, a rebalance) has lifted
        // FORCE ROW LEVEL SECURITY for its length: wait for it rather than force it again
        // under it (see `SHARD_OPERATION_LOCK`).
        sqlx::query("SELECT pg_advisory_lock($1)")
            .bind(crate::model::SHARD_OPERATION_LOCK)
            .execute(&mut *conn)
            .await?;
    }
    let protected = protect_all(conn, target, config).await;
    if shard_lock {
        sqlx::query("SELECT pg_advisory_unlock($1)")
            .bind(crate::model::SHARD_OPERATION_LOCK)
            .execute(&mut *conn)
            .await?;
    }
    protected?;
    if let (Target::TenantSchema(schema), true) = (target, citus) {
        distribute_schema(conn, schema).await?;
    }
    if !matches!(target, Target::TenantSchema(_)) {
        crate::events::schema::restrict_request_role(conn, &config.request_role).await?;
        roles::grant_fence(conn, &config.request_role).await?;
    }
    Ok(())
}

/// Distributes (on Citus) and protects every model table of `target`.
async fn protect_all(
    conn: &mut PgConnection,
    target: Target<'_>,
    config: &TenancyConfig,
) -> Result<()> {
    if target == Target::Primary {
        // Before the policies: distributing a table Citus had made "Citus-local" (by its
        // foreign key to the registry) rebuilds it and turns its RESTRICTIVE policies into
        // PERMISSIVE ones, on the coordinator and on every shard (seen on Citus 13.2). The
        // protection below then recreates every policy that differs, and Citus propagates
        // it to the shards.
        distribute_if_citus(conn).await?;
    }
    for model in models_for(target) {
        protect_model(conn, model, &config.request_role).await?;
    }
    Ok(())
}

/// With the `citus` extension installed, distributes every tenant table by its tenant column
/// (see [`crate::model::citus_ddl`]). Without it, does nothing.
async fn distribute_if_citus(conn: &mut PgConnection) -> Result<()> {
    let present: bool = sqlx::query_scalar(crate::model::citus_present_sql())
        .fetch_one(&mut *conn)
        .await?;
    if present {
        // The event tables' triggers are safe to run on the shards (they read no other
        // table); Citus runs writes to tables with triggers only with this setting.
        sqlx::raw_sql(
            "DO $saas$ BEGIN
               EXECUTE format('ALTER DATABASE %I SET citus.enable_unsafe_triggers = on',
                              current_database());
             END $saas$",
        )
        .execute(&mut *conn)
        .await?;
        let statements = crate::model::citus_ddl(&registered_models())
            .into_iter()
            .chain(crate::model::dedicated_strategy_ddl());
        for statement in statements {
            sqlx::raw_sql(sqlx::AssertSqlSafe(statement))
                .execute(&mut *conn)
                .await?;
        }
    }
    Ok(())
}

/// Makes a tenant schema on a Citus coordinator a distributed schema (Citus's schema-based
/// sharding): its tables become single-shard tables placed together on one node, with their
/// policies, keys and grants, and statements naming them are routed there. Tables a later
/// migration adds to it are created distributed (by top-level statements, see `statements`).
/// A schema that is already distributed is left as it is.
async fn distribute_schema(conn: &mut PgConnection, schema: &str) -> Result<()> {
    sqlx::query(
        "SELECT citus_schema_distribute(n.oid::regnamespace)
           FROM pg_namespace n
          WHERE n.nspname = $1
            AND NOT EXISTS (SELECT 1 FROM pg_dist_schema s WHERE s.schemaid = n.oid)",
    )
    .bind(schema)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// RLS, composite foreign keys and grants for one model, in one transaction. The table must
/// exist in the connection's current schema.
pub async fn protect_model(
    conn: &mut sqlx::PgConnection,
    model: &ModelMeta,
    request_role: &str,
) -> Result<()> {
    let exists: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM pg_class
                         WHERE relname = $1 AND relnamespace = current_schema()::regnamespace)",
    )
    .bind(model.table)
    .fetch_one(&mut *conn)
    .await?;
    if !exists {
        return Err(Error::migration(
            None,
            format!(
                "model {} maps to table {:?}, which does not exist: create it in a migration \
                 (with PRIMARY KEY ({}, {}))",
                model.type_name,
                model.table,
                model.tenant_column,
                model.key_columns.join(", ")
            ),
        ));
    }
    let mut tx = conn.begin().await?;
    for statement in table_ddl_statements(model) {
        sqlx::raw_sql(sqlx::AssertSqlSafe(statement))
            .execute(&mut *tx)
            .await?;
    }
    roles::grant_table(&mut tx, model.table, request_role).await?;
    tx.commit().await?;
    Ok(())
}
