//! Template databases: migrations applied once per migration set into a database named by a
//! hash of that set, reused by every test binary and run, then cloned per database.

use anyhow::Context;
use sha2::{Digest, Sha256};
use sqlx::{Connection, Executor, PgConnection};

use saas_core::tenancy::pool::{Tenancy, TenancyConfig};
use saas_core::tenancy::resolver::ResolverChain;

use crate::server::with_database;

/// The request role of databases cloned from templates (roles are per server).
pub const TEMPLATE_ROLE: &str = "saas_testkit_app";

/// What a template is made of: the framework's version, the migrations and the models.
pub fn template_hash(migrations: Option<&sqlx::migrate::Migrator>) -> String {
    let mut hasher = Sha256::new();
    hasher.update(env!("CARGO_PKG_VERSION"));
    hasher.update(saas_core::tenancy::TENANT_SETTING);
    hasher.update(saas_core::migrate::schema_fingerprint(migrations));
    let digest = hasher.finalize();
    digest.iter().take(8).map(|b| format!("{b:02x}")).collect()
}

/// Migrates, protects and audits the database at `url` as a template is, with
/// [`TEMPLATE_ROLE`] as its request role.
pub(crate) async fn migrate_as_template(
    url: &str,
    migrations: Option<&sqlx::migrate::Migrator>,
) -> anyhow::Result<()> {
    let config = TenancyConfig::new(url)
        .request_role(TEMPLATE_ROLE)
        .request_pool_size(1)
        .bound_tenants(0);
    let tenancy = Tenancy::start(config, ResolverChain::new(), migrations)
        .await
        .context("migrating the template database")?;
    tenancy.close().await;
    Ok(())
}

/// The name of the template for this migration set, creating it if no run has yet. Safe to
/// call from many processes at once (advisory lock on the server).
pub async fn ensure_template(
    server: &str,
    migrations: Option<&sqlx::migrate::Migrator>,
) -> anyhow::Result<String> {
    let name = format!("saas_tpl_{}", template_hash(migrations));
    let mut conn = PgConnection::connect(server)
        .await
        .context("connecting to the test server")?;
    sqlx::query("SELECT pg_advisory_lock(hashtext($1))")
        .bind(&name)
        .execute(&mut conn)
        .await?;
    let result = async {
        let state: Option<bool> =
            sqlx::query_scalar("SELECT datistemplate FROM pg_database WHERE datname = $1")
                .bind(&name)
                .fetch_optional(&mut conn)
                .await?;
        match state {
            Some(true) => return Ok(()),
            // A run crashed while building it: start over.
            Some(false) => {
                conn.execute(sqlx::AssertSqlSafe(format!(
                    "DROP DATABASE \"{name}\" WITH (FORCE)"
                )))
                .await?;
            }
            None => {}
        }
        conn.execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE \"{name}\"")))
            .await?;
        migrate_as_template(&with_database(server, &name)?, migrations).await?;
        conn.execute(sqlx::AssertSqlSafe(format!(
            "ALTER DATABASE \"{name}\" WITH IS_TEMPLATE true"
        )))
        .await?;
        Ok::<(), anyhow::Error>(())
    }
    .await;
    sqlx::query("SELECT pg_advisory_unlock(hashtext($1))")
        .bind(&name)
        .execute(&mut conn)
        .await?;
    conn.close().await.ok();
    result.map(|()| name)
}
