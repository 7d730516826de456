//! Migrations: the framework's schema, the application's migrations, and the RLS set-up of
//! every registered model, applied as the owner in that order.

use sqlx::{Connection, PgPool};

use crate::error::{ApiResult, Error};
use crate::model::{ModelMeta, registered_models, table_ddl_statements};
use crate::tenancy::pool::TenancyConfig;
use crate::tenancy::{registry, roles};

/// Serializes concurrent migrators (several app instances, parallel tests) on one database.
const MIGRATION_LOCK: i64 = 0x5a_a5_c0_de;

/// A fingerprint of the schema the framework itself creates (registry, event tables): test
/// templates built from an older framework schema are rebuilt when it changes.
pub fn framework_schema_fingerprint() -> [&'static str; 2] {
    [registry::REGISTRY_DDL, crate::events::schema::EVENTS_DDL]
}

/// Applies everything, idempotently, under an advisory lock.
pub async fn migrate_all(
    owner: &PgPool,
    migrations: Option<&sqlx::migrate::Migrator>,
    config: &TenancyConfig,
) -> ApiResult<()> {
    let mut conn = owner.acquire().await?;
    sqlx::query("SELECT pg_advisory_lock($1)")
        .bind(MIGRATION_LOCK)
        .execute(&mut *conn)
        .await?;
    let result = async {
        sqlx::raw_sql(registry::REGISTRY_DDL)
            .execute(&mut *conn)
            .await?;
        sqlx::raw_sql(crate::events::schema::EVENTS_DDL)
            .execute(&mut *conn)
            .await?;
        if let Some(migrator) = migrations {
            // `run_direct` rather than `run`: `run`'s `Acquire` bound makes the future
            // non-Send (sqlx documents this workaround on `run_direct`).
            migrator
                .run_direct(None, &mut *conn, false)
                .await
                .map_err(|e| Error::Config(format!("application migration failed: {e}")))?;
        }
        roles::ensure_request_role(
            &mut conn,
            &config.request_role,
            config.request_password.as_deref(),
        )
        .await?;
        for model in registered_models() {
            protect_model(&mut conn, model, &config.request_role).await?;
        }
        crate::events::schema::restrict_request_role(&mut conn, &config.request_role).await?;
        Ok::<(), Error>(())
    }
    .await;
    let unlock = sqlx::query("SELECT pg_advisory_unlock($1)")
        .bind(MIGRATION_LOCK)
        .execute(&mut *conn)
        .await;
    result?;
    unlock?;
    Ok(())
}

/// RLS, composite foreign keys and grants for one model, in one transaction.
pub async fn protect_model(
    conn: &mut sqlx::PgConnection,
    model: &ModelMeta,
    request_role: &str,
) -> ApiResult<()> {
    let exists: Option<String> = sqlx::query_scalar("SELECT to_regclass($1)::text")
        .bind(crate::model::ddl_quote_ident(model.table))
        .fetch_one(&mut *conn)
        .await?;
    if exists.is_none() {
        return Err(Error::Config(format!(
            "model {} maps to table {:?}, which does not exist: create it in a migration \
             (with PRIMARY KEY ({}, {}))",
            model.type_name,
            model.table,
            model.tenant_column,
            model.key_columns.join(", ")
        )));
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
