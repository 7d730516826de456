//! Throwaway databases on the test server.

use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::Context;
use saas_core::tenancy::pool::{Tenancy, TenancyConfig};
use saas_core::tenancy::resolver::ResolverChain;
use sqlx::{Connection, Executor, PgConnection};

/// The URL of the server tests run against: `SAAS_TEST_DATABASE_URL`, else `DATABASE_URL`,
/// else the local default `postgres://postgres@127.0.0.1:5432/postgres`.
pub fn server_url() -> String {
    ["SAAS_TEST_DATABASE_URL", "DATABASE_URL"]
        .iter()
        .find_map(|v| std::env::var(v).ok().filter(|s| !s.is_empty()))
        .unwrap_or_else(|| "postgres://postgres@127.0.0.1:5432/postgres".to_string())
}

fn with_database(url: &str, database: &str) -> anyhow::Result<String> {
    let mut parsed = url::Url::parse(url).context("test database URL")?;
    parsed.set_path(&format!("/{database}"));
    Ok(parsed.to_string())
}

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// A database of its own for one test, dropped (with its request role) when the value is.
#[derive(Debug)]
pub struct TestDb {
    name: String,
    url: String,
    server: String,
}

impl TestDb {
    /// Creates an empty database with a unique name.
    pub async fn new() -> anyhow::Result<TestDb> {
        let server = server_url();
        let name = format!(
            "saas_test_{}_{}_{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed),
            uuid::Uuid::new_v4()
                .simple()
                .to_string()
                .get(..8)
                .unwrap_or("x")
        );
        let mut conn = PgConnection::connect(&server)
            .await
            .with_context(|| format!("connecting to the test server {server}"))?;
        conn.execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE \"{name}\"")))
            .await
            .context("creating a test database")?;
        conn.close().await.ok();
        let url = with_database(&server, &name)?;
        Ok(TestDb { name, url, server })
    }

    /// The owner's URL of this database.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The database's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// A request role name unique to this database, so tests can break their own role
    /// (for the audit's sake) without touching other tests.
    pub fn request_role(&self) -> String {
        format!("{}_app", self.name)
    }

    /// A tenancy configuration for this database with its own request role.
    pub fn config(&self) -> TenancyConfig {
        TenancyConfig::new(self.url.clone())
            .request_role(self.request_role())
            .request_pool_size(4)
    }

    /// Starts the tenancy runtime on this database (migrations, RLS, audit).
    pub async fn tenancy(
        &self,
        resolvers: ResolverChain,
        migrations: Option<&sqlx::migrate::Migrator>,
    ) -> anyhow::Result<Tenancy> {
        Ok(Tenancy::start(self.config(), resolvers, migrations).await?)
    }

    /// An owner connection to this database.
    pub async fn owner_conn(&self) -> anyhow::Result<PgConnection> {
        Ok(PgConnection::connect(&self.url).await?)
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let server = self.server.clone();
        let name = self.name.clone();
        let role = self.request_role();
        // Drop from a thread of its own: Drop cannot await, and the test's runtime may be
        // shutting down.
        let dropper = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build();
            if let Ok(runtime) = runtime {
                runtime.block_on(async move {
                    if let Ok(mut conn) = PgConnection::connect(&server).await {
                        let _ = conn
                            .execute(sqlx::AssertSqlSafe(format!(
                                "DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"
                            )))
                            .await;
                        let _ = conn
                            .execute(sqlx::AssertSqlSafe(format!(
                                "DROP ROLE IF EXISTS \"{role}\""
                            )))
                            .await;
                    }
                });
            }
        });
        let _ = dropper.join();
    }
}
