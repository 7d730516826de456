//! Throwaway databases on the test server.

use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::Context;
use saas_core::tenancy::pool::{Tenancy, TenancyConfig};
use saas_core::tenancy::resolver::ResolverChain;
use sqlx::{Connection, Executor, PgConnection, Row};

use crate::pool::{Recycled, Recycler};
use crate::server::{server_url, with_database};
use crate::template::{TEMPLATE_ROLE, ensure_template};

static COUNTER: AtomicU64 = AtomicU64::new(0);

pub(crate) fn unique_name(prefix: &str) -> String {
    format!(
        "{}{}_{}",
        crate::server::process_prefix(prefix),
        COUNTER.fetch_add(1, Ordering::Relaxed),
        uuid::Uuid::new_v4()
            .simple()
            .to_string()
            .get(..8)
            .unwrap_or("x")
    )
}

/// A database of its own for one test, dropped when the value is (on success, failure and
/// panic alike; a crashed process's databases are swept by the next run).
///
/// [`TestDb::new`] and [`TestDb::from_template`] take a database made ahead of time from the
/// process's [`DbPool`](crate::DbPool) (see [`crate::pool`]); dropping the value hands the
/// database to the pool's background thread, which drops it off the test's clock. A
/// database is never given to a second test.
#[derive(Debug)]
pub struct TestDb {
    name: String,
    url: String,
    server: String,
    role: String,
    own_role: bool,
    recycler: Option<Recycler>,
}

impl TestDb {
    /// An empty database with a request role of its own (tests that break the role, or
    /// migrate by themselves).
    pub async fn new() -> anyhow::Result<TestDb> {
        let server = server_url().await?;
        if crate::pool::enabled() {
            return crate::pool::shared_empty(&server).await?.checkout().await;
        }
        let name = unique_name("saas_test");
        if crate::citus::enabled() {
            crate::citus::create_database(&server, &name).await?;
        } else {
            let mut conn = PgConnection::connect(&server)
                .await
                .with_context(|| format!("connecting to the test server {server}"))?;
            conn.execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE \"{name}\"")))
                .await
                .context("creating a test database")?;
            conn.close().await.ok();
        }
        let url = with_database(&server, &name)?;
        let role = format!("{name}_app");
        Ok(TestDb {
            name,
            url,
            server,
            role,
            own_role: true,
            recycler: None,
        })
    }

    /// A database cloned from the template of `migrations` (built once per migration set):
    /// migrated, protected and audited already.
    pub async fn from_template(
        migrations: Option<&sqlx::migrate::Migrator>,
    ) -> anyhow::Result<TestDb> {
        if crate::pool::enabled() {
            let server = server_url().await?;
            return crate::pool::shared_template(&server, migrations)
                .await?
                .checkout()
                .await;
        }
        Self::clone_template(migrations, "saas_test").await
    }

    /// A database a pool made: dropped by the pool's background thread.
    pub(crate) fn pooled(
        name: String,
        url: String,
        server: String,
        role: String,
        own_role: bool,
        recycler: Recycler,
    ) -> TestDb {
        TestDb {
            name,
            url,
            server,
            role,
            own_role,
            recycler: Some(recycler),
        }
    }

    pub(crate) async fn clone_template(
        migrations: Option<&sqlx::migrate::Migrator>,
        prefix: &str,
    ) -> anyhow::Result<TestDb> {
        let server = server_url().await?;
        let name = unique_name(prefix);
        let url = with_database(&server, &name)?;
        if crate::citus::enabled() {
            // No template on Citus: a database of its own, migrated as a template would be.
            crate::citus::create_database(&server, &name).await?;
            crate::template::migrate_as_template(&url, migrations).await?;
        } else {
            let template = ensure_template(&server, migrations).await?;
            let mut conn = PgConnection::connect(&server).await?;
            conn.execute(sqlx::AssertSqlSafe(format!(
                "CREATE DATABASE \"{name}\" TEMPLATE \"{template}\""
            )))
            .await
            .context("cloning the template database")?;
            conn.close().await.ok();
        }
        Ok(TestDb {
            name,
            url,
            server,
            role: TEMPLATE_ROLE.into(),
            own_role: false,
            recycler: None,
        })
    }

    /// The owner's URL of this database.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The database's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The URL of the server it is on (its maintenance database).
    pub(crate) fn server(&self) -> &str {
        &self.server
    }

    /// The request role requests run as on this database.
    pub fn request_role(&self) -> String {
        self.role.clone()
    }

    /// A tenancy configuration for this database (small pools).
    pub fn config(&self) -> TenancyConfig {
        let mut config = TenancyConfig::new(self.url.clone())
            .request_role(self.request_role())
            .request_pool_size(4);
        // Database-tier tenants get databases the next run's sweep recognizes as this
        // process's (`saas_test_<host>_<pid>_...`); dropping this database drops them too.
        config.database_prefix = format!("{}t", crate::server::process_prefix("saas_test"));
        config
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

    /// Keeps the database after the test (for inspection, until the next run's sweep);
    /// returns its URL.
    pub fn keep(mut self) -> String {
        if self.recycler.is_some() {
            // The pool's exit watcher drops this process's databases, except the ones that
            // carry this comment.
            let (server, name) = (self.server.clone(), self.name.clone());
            let _ = std::thread::spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build();
                if let Ok(runtime) = runtime {
                    runtime.block_on(async move {
                        if let Ok(mut conn) = PgConnection::connect(&server).await {
                            let _ = conn
                                .execute(sqlx::AssertSqlSafe(format!(
                                    "COMMENT ON DATABASE {} IS '{}'",
                                    saas_core::sql::quote_ident(&name),
                                    crate::pool::KEPT_COMMENT
                                )))
                                .await;
                            conn.close().await.ok();
                        }
                    });
                }
            })
            .join();
        }
        let url = std::mem::take(&mut self.url);
        self.name.clear();
        url
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if self.name.is_empty() {
            return;
        }
        let server = self.server.clone();
        let name = self.name.clone();
        let role = self.own_role.then(|| self.role.clone());
        // A pooled database goes back to the pool's background thread: the test does not
        // wait for the drop.
        let item = Recycled { name, role };
        let item = match &self.recycler {
            Some(recycler) => match recycler.recycle(item) {
                Ok(()) => return,
                Err(item) => item,
            },
            None => item,
        };
        let Recycled { name, role } = item;
        // Drop from a thread of its own: Drop cannot await, and the test's runtime may be
        // shutting down.
        let dropper = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build();
            if let Ok(runtime) = runtime {
                runtime.block_on(async move {
                    let tenant_databases = tenant_databases(&server, &name).await;
                    if let Ok(mut conn) = PgConnection::connect(&server).await {
                        for database in tenant_databases {
                            let _ = conn
                                .execute(sqlx::AssertSqlSafe(format!(
                                    "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                                    saas_core::sql::quote_ident(&database)
                                )))
                                .await;
                        }
                        let _ = conn
                            .execute(sqlx::AssertSqlSafe(format!(
                                "DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"
                            )))
                            .await;
                        if crate::citus::enabled() {
                            crate::citus::drop_on_workers(&server, &name).await;
                        }
                        if let Some(role) = role {
                            let _ = conn
                                .execute(sqlx::AssertSqlSafe(format!(
                                    "DROP ROLE IF EXISTS \"{role}\""
                                )))
                                .await;
                        }
                    }
                });
            }
        });
        let _ = dropper.join();
    }
}

/// The databases of the database-tier tenants (and move targets) a test database placed on
/// its own server.
pub(crate) async fn tenant_databases(server: &str, name: &str) -> Vec<String> {
    let Ok(url) = with_database(server, name) else {
        return Vec::new();
    };
    let Ok(mut conn) = PgConnection::connect(&url).await else {
        return Vec::new();
    };
    let rows = tenant_databases_in(&mut conn).await;
    conn.close().await.ok();
    rows
}

/// [`tenant_databases`] of the database `conn` is connected to.
pub(crate) async fn tenant_databases_in(conn: &mut PgConnection) -> Vec<String> {
    // A simple query: one round trip on the new session the pool's reset opens.
    let rows = sqlx::raw_sql(
        "SELECT db_name FROM saas.tenants WHERE server = 'primary' AND db_name IS NOT NULL
         UNION SELECT to_db FROM saas.tenant_moves WHERE to_server = 'primary' AND to_db IS NOT NULL
         UNION SELECT from_db FROM saas.tenant_moves WHERE from_server = 'primary' AND from_db IS NOT NULL",
    )
    .fetch_all(conn)
    .await
    .unwrap_or_default();
    rows.iter().filter_map(|row| row.try_get(0).ok()).collect()
}
