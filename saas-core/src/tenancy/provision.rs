//! Creating and dropping the schemas and databases of schema- and database-tier tenants,
//! migrated with the same migration set as the shared schema.

use std::sync::Arc;

use futures_util::future::BoxFuture;
use sqlx::{ConnectOptions, Connection, PgConnection};

use super::placement::{Location, Servers};
use super::pool::TenancyConfig;
use super::registry::Tenant;
use crate::error::{ApiError, ApiResult};
use crate::sql::quote_ident as ddl_quote_ident;

/// Migrates one tenant schema or tenant database to the application's migration set.
///
/// Implemented by [`crate::migrate`] and handed to the [`Provisioner`] by
/// [`Tenancy::start`](super::pool::Tenancy::start): tenancy creates locations, the migration
/// layer above it knows what goes into them, and neither module imports the other.
pub trait LocationMigrator: Send + Sync + 'static {
    /// The fingerprint of the migration set (see [`crate::migrate::schema_fingerprint`]),
    /// recorded on a tenant when its location has been migrated.
    fn fingerprint(&self) -> &str;

    /// Brings `location` (a schema or a database, never the shared schema) up to date over an
    /// owner connection to its database. Idempotent.
    fn migrate<'a>(
        &'a self,
        conn: &'a mut PgConnection,
        location: &'a Location,
    ) -> BoxFuture<'a, crate::Result<()>>;
}

/// What creating a location needs: the servers, the migration set and the roles.
pub struct Provisioner {
    pub(crate) servers: Servers,
    migrator: Arc<dyn LocationMigrator>,
    pub(crate) config: TenancyConfig,
    /// The owner pool of the primary database, when running (schema provisioning borrows a
    /// connection from it instead of opening one).
    pub(crate) owner: Option<sqlx::PgPool>,
}

impl std::fmt::Debug for Provisioner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Provisioner")
            .field("servers", &self.servers.names().collect::<Vec<_>>())
            .field("fingerprint", &self.fingerprint())
            .finish()
    }
}

impl Provisioner {
    pub(crate) fn new(
        servers: Servers,
        migrator: Arc<dyn LocationMigrator>,
        config: TenancyConfig,
    ) -> Provisioner {
        Provisioner {
            servers,
            migrator,
            config,
            owner: None,
        }
    }

    /// The servers tenants can be placed on.
    pub fn servers(&self) -> &Servers {
        &self.servers
    }

    /// The fingerprint of the migration set (see [`crate::migrate::schema_fingerprint`]).
    pub fn fingerprint(&self) -> &str {
        self.migrator.fingerprint()
    }

    /// The location a tenant of `tier` gets (see [`Location::for_new`]).
    pub fn location_for(
        &self,
        tenant: super::TenantId,
        tier: super::Tier,
        server: Option<&str>,
    ) -> Location {
        Location::for_new(tenant, tier, server, &self.config.database_prefix)
    }

    /// Refuses (422) a location this deployment cannot hold: a tenant schema in a primary
    /// database on a Citus cluster too old for schema-based sharding (before Citus 12.0),
    /// which is how the schema tier runs on Citus.
    pub async fn check_available(&self, location: &Location) -> ApiResult<()> {
        if !matches!(location, Location::Schema(_)) {
            return Ok(());
        }
        let mut conn = self.connect_primary().await?;
        let refused: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'citus')
                    AND to_regproc('pg_catalog.citus_schema_distribute') IS NULL",
        )
        .fetch_one(&mut conn)
        .await?;
        conn.close().await.ok();
        if refused {
            return Err(ApiError::Validation(
                "the schema tier on a Citus cluster needs Citus 12.0 or later (schema-based \
                 sharding): use the shared tier (distributed by tenant) or the database tier"
                    .into(),
            ));
        }
        Ok(())
    }

    /// A new owner connection to the primary database.
    pub async fn connect_primary(&self) -> ApiResult<PgConnection> {
        let options = self.servers.owner(super::placement::PRIMARY_SERVER)?;
        Ok(options.connect().await?)
    }

    /// A new owner connection to the database of `location`.
    pub async fn connect(&self, location: &Location) -> ApiResult<PgConnection> {
        match location {
            Location::Database { server, database } => {
                Ok(self.servers.owner_of(server, database)?.connect().await?)
            }
            _ => self.connect_primary().await,
        }
    }

    /// Creates (if missing) and migrates a tenant schema or database. Idempotent.
    pub async fn provision(&self, location: &Location) -> crate::Result<()> {
        match location {
            Location::Shared | Location::Dedicated => Ok(()),
            Location::Schema(_) => {
                if let Some(owner) = &self.owner {
                    let mut conn = owner.acquire().await?;
                    let result = self.migrate(&mut conn, location).await;
                    if result.is_err() {
                        // Its session state (search_path) is unknown after a failure: it
                        // must not go back to the pool.
                        conn.detach();
                    }
                    return result;
                }
                let mut conn = self.connect_primary().await?;
                let result = self.migrate(&mut conn, location).await;
                conn.close().await.ok();
                result
            }
            Location::Database { server, database } => {
                let mut admin = self.servers.owner(server)?.connect().await?;
                let exists: bool = sqlx::query_scalar(
                    "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)",
                )
                .bind(database)
                .fetch_one(&mut admin)
                .await?;
                if !exists {
                    let create = format!("CREATE DATABASE {}", ddl_quote_ident(database));
                    match sqlx::raw_sql(sqlx::AssertSqlSafe(create))
                        .execute(&mut admin)
                        .await
                    {
                        Ok(_) => {}
                        // duplicate_database, unique_violation: a concurrent provisioner won.
                        Err(sqlx::Error::Database(db))
                            if matches!(db.code().as_deref(), Some("42P04") | Some("23505")) => {}
                        Err(err) => return Err(err.into()),
                    }
                }
                admin.close().await.ok();
                let mut conn = self.connect(location).await?;
                let result = self.migrate(&mut conn, location).await;
                conn.close().await.ok();
                result
            }
        }
    }

    /// Migrates a provisioned location over an owner connection to its database.
    pub async fn migrate(&self, conn: &mut PgConnection, location: &Location) -> crate::Result<()> {
        if location.in_shared_tables() {
            return Err(crate::Error::Internal(anyhow::anyhow!(
                "the shared schema is migrated by migrate_all"
            )));
        }
        self.migrator.migrate(conn, location).await
    }

    /// Records the tenant in the registry of its own database (database tier), which the
    /// application's foreign keys to `saas.tenants` reference there.
    pub async fn register_locally(&self, location: &Location, tenant: &Tenant) -> ApiResult<()> {
        if !matches!(location, Location::Database { .. }) {
            return Ok(());
        }
        let placement = location.placement();
        let mut conn = self.connect(location).await?;
        let result = sqlx::query(
            "INSERT INTO saas.tenants (id, slug, name, tier, server, db_name, schema_name, migrated)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
             ON CONFLICT (id) DO UPDATE SET slug = EXCLUDED.slug, name = EXCLUDED.name,
               tier = EXCLUDED.tier, server = EXCLUDED.server, db_name = EXCLUDED.db_name,
               schema_name = EXCLUDED.schema_name, migrated = EXCLUDED.migrated",
        )
        .bind(tenant.id)
        .bind(&tenant.slug)
        .bind(&tenant.name)
        .bind(location.tier().as_str())
        .bind(&placement.server)
        .bind(&placement.database)
        .bind(&placement.schema)
        .bind(self.fingerprint())
        .execute(&mut conn)
        .await;
        conn.close().await.ok();
        result?;
        Ok(())
    }

    /// Drops a tenant schema or database with everything in it.
    pub async fn deprovision(&self, location: &Location) -> ApiResult<()> {
        match location {
            Location::Shared | Location::Dedicated => Ok(()),
            Location::Schema(schema) => {
                let mut conn = self.connect_primary().await?;
                let drop = format!("DROP SCHEMA IF EXISTS {} CASCADE", ddl_quote_ident(schema));
                let result = sqlx::raw_sql(sqlx::AssertSqlSafe(drop))
                    .execute(&mut conn)
                    .await;
                conn.close().await.ok();
                result?;
                Ok(())
            }
            Location::Database { server, database } => {
                let mut admin = self.servers.owner(server)?.connect().await?;
                let drop = format!(
                    "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                    ddl_quote_ident(database)
                );
                let result = sqlx::raw_sql(sqlx::AssertSqlSafe(drop))
                    .execute(&mut admin)
                    .await;
                admin.close().await.ok();
                result?;
                Ok(())
            }
        }
    }
}
