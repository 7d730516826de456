//! Placement: where each tenant's data lives — its tier, the named PostgreSQL server, the
//! database and the schema — and the pools that reach it.
//!
//! - `shared`: the shared schema of the primary database, isolated by row-level security.
//! - `schema`: a schema of its own (`tenant_<id>`) in the primary database. Every
//!   transaction sets `search_path` with `set_config(..., true)`, so the setting ends with the
//!   transaction like the tenant context; row-level security stays on inside the schema as
//!   defense in depth. The event tables (outbox, audit log) stay in the shared schema, which
//!   follows the tenant's schema on the path.
//! - `dedicated` (Citus only): the shared tables, but the tenant's rows in shards of their own
//!   (`isolate_tenant_to_new_shard`) on a worker chosen for it; routed like `shared`.
//! - `database`: a database of its own (`tenant_<id>`) on a named server, with its own event
//!   tables. Its request pool comes from a bounded cache ([`DatabasePools`]).
//!
//! The same handlers and `TenantScoped` models serve every tier: statements use unqualified
//! table names, resolved through the tenant's `search_path` or database.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

use super::TenantId;
use super::pool_cache::PoolCache;
use super::registry::{Tenant, Tier};
use crate::error::{ApiError, ApiResult};
use crate::sql::quote_ident as ddl_quote_ident;

/// The name of the server given by [`super::pool::TenancyConfig::database_url`].
pub const PRIMARY_SERVER: &str = "primary";

/// Where a tenant's data lives, beyond its tier.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Placement {
    /// The named server (see [`super::pool::TenancyConfig::server`]); `primary` for the
    /// shared and schema tiers.
    pub server: String,
    /// The tenant's own database (database tier).
    pub database: Option<String>,
    /// The tenant's own schema (schema tier).
    pub schema: Option<String>,
}

impl Default for Placement {
    fn default() -> Self {
        Placement {
            server: PRIMARY_SERVER.into(),
            database: None,
            schema: None,
        }
    }
}

/// A concrete location of a tenant's data.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Location {
    /// The shared schema of the primary database.
    Shared,
    /// A schema of the primary database.
    Schema(String),
    /// The shared schema of the primary database, the tenant's rows in shards of their own
    /// (Citus): reached, copied and isolated exactly like [`Location::Shared`].
    Dedicated,
    /// A database on a named server.
    Database {
        /// The server's configured name.
        server: String,
        /// The database.
        database: String,
    },
}

impl Location {
    /// The location of a registered tenant.
    pub fn of(tenant: &Tenant) -> ApiResult<Location> {
        Location::from_parts(tenant.tier, &tenant.placement)
    }

    /// The location a tier and placement describe.
    pub fn from_parts(tier: Tier, placement: &Placement) -> ApiResult<Location> {
        let missing = |what: &str| {
            ApiError::Internal(anyhow::anyhow!(
                "the registry places a {tier} tenant without a {what}"
            ))
        };
        Ok(match tier {
            Tier::Shared => Location::Shared,
            Tier::Dedicated => Location::Dedicated,
            Tier::Schema => {
                Location::Schema(placement.schema.clone().ok_or_else(|| missing("schema"))?)
            }
            Tier::Database => Location::Database {
                server: placement.server.clone(),
                database: placement
                    .database
                    .clone()
                    .ok_or_else(|| missing("database"))?,
            },
        })
    }

    /// Where a tenant of `tier` goes: its own schema (`tenant_<id>`) or database
    /// (`<database_prefix><id>`) is named after it.
    pub fn for_new(
        tenant: TenantId,
        tier: Tier,
        server: Option<&str>,
        database_prefix: &str,
    ) -> Location {
        let id = tenant.as_uuid().simple();
        match tier {
            Tier::Shared => Location::Shared,
            Tier::Dedicated => Location::Dedicated,
            Tier::Schema => Location::Schema(format!("tenant_{id}")),
            Tier::Database => Location::Database {
                server: server.unwrap_or(PRIMARY_SERVER).to_string(),
                database: format!("{database_prefix}{id}"),
            },
        }
    }

    /// The tier of this location.
    pub fn tier(&self) -> Tier {
        match self {
            Location::Shared => Tier::Shared,
            Location::Dedicated => Tier::Dedicated,
            Location::Schema(_) => Tier::Schema,
            Location::Database { .. } => Tier::Database,
        }
    }

    /// The placement recorded in the registry for this location.
    pub fn placement(&self) -> Placement {
        match self {
            Location::Shared | Location::Dedicated => Placement::default(),
            Location::Schema(schema) => Placement {
                schema: Some(schema.clone()),
                ..Placement::default()
            },
            Location::Database { server, database } => Placement {
                server: server.clone(),
                database: Some(database.clone()),
                schema: None,
            },
        }
    }

    /// The label write fences use for this location (the dedicated tier's rows are the
    /// shared tables' rows: one label).
    pub fn label(&self) -> String {
        match self {
            Location::Shared | Location::Dedicated => "shared".into(),
            Location::Schema(schema) => format!("schema:{schema}"),
            Location::Database { server, database } => format!("database:{server}/{database}"),
        }
    }

    /// Whether the tenant's rows are in the shared tables (the shared and dedicated tiers).
    pub fn in_shared_tables(&self) -> bool {
        matches!(self, Location::Shared | Location::Dedicated)
    }

    /// Whether both locations are in the same database (so they share the event tables).
    pub fn same_database(&self, other: &Location) -> bool {
        match (self, other) {
            (Location::Database { .. }, _) | (_, Location::Database { .. }) => self == other,
            _ => true,
        }
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            // Its fence label is the shared tables' (the same rows); people read the tier.
            Location::Dedicated => f.write_str("dedicated"),
            _ => f.write_str(&self.label()),
        }
    }
}

/// The `search_path` of a schema-tier tenant: its schema, then the shared schema (for the
/// event tables). Identifiers are quoted.
pub fn tenant_search_path(schema: &str, shared_schema: &str) -> String {
    format!(
        "{}, {}",
        ddl_quote_ident(schema),
        ddl_quote_ident(shared_schema)
    )
}

/// The named servers: `primary` and any added with
/// [`super::pool::TenancyConfig::server`]. Each URL carries the owner's credentials; its
/// database part is the maintenance database used to create tenant databases.
#[derive(Debug, Clone)]
pub struct Servers {
    owners: BTreeMap<String, PgConnectOptions>,
}

impl Servers {
    pub(crate) fn new(primary: &str, others: &BTreeMap<String, String>) -> crate::Result<Servers> {
        let parse = |name: &str, url: &str| -> crate::Result<PgConnectOptions> {
            url.parse().map_err(|e| {
                crate::Error::config(
                    "SAAS_SERVERS",
                    format!("invalid URL of server {name:?}: {e}"),
                )
            })
        };
        let mut owners = BTreeMap::new();
        owners.insert(PRIMARY_SERVER.to_string(), parse(PRIMARY_SERVER, primary)?);
        for (name, url) in others {
            if name == PRIMARY_SERVER {
                return Err(crate::Error::config(
                    "SAAS_SERVERS",
                    format!("server name {PRIMARY_SERVER:?} is reserved for the database URL"),
                ));
            }
            owners.insert(name.clone(), parse(name, url)?);
        }
        Ok(Servers { owners })
    }

    /// The configured server names.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.owners.keys().map(String::as_str)
    }

    /// The owner's options on `server` (its maintenance database).
    pub fn owner(&self, server: &str) -> ApiResult<PgConnectOptions> {
        self.owners.get(server).cloned().ok_or_else(|| {
            ApiError::Validation(format!(
                "unknown server {server:?}: configured servers are {}",
                self.owners.keys().cloned().collect::<Vec<_>>().join(", ")
            ))
        })
    }

    /// The owner's options on a database of `server`.
    pub fn owner_of(&self, server: &str, database: &str) -> ApiResult<PgConnectOptions> {
        Ok(self.owner(server)?.database(database))
    }
}

/// Request-role pools for tenant databases, created on first use, at most
/// `budget / pool_size` of them open at once. The least recently used pool idle for longer
/// than `idle` gives way to a new one; when every pool is busy, requests get 503 with
/// `Retry-After` instead of exceeding the connection budget.
pub struct DatabasePools {
    request_role: String,
    request_password: Option<String>,
    pool_size: u32,
    idle: Duration,
    acquire_timeout: Duration,
    cache: PoolCache<(String, String)>,
}

impl fmt::Debug for DatabasePools {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DatabasePools")
            .field("capacity", &self.cache.capacity())
            .field("pool_size", &self.pool_size)
            .field("open", &self.len())
            .finish()
    }
}

impl DatabasePools {
    pub(crate) fn new(
        request_role: &str,
        request_password: Option<&str>,
        pool_size: u32,
        budget: u32,
        idle: Duration,
        acquire_timeout: Duration,
    ) -> Self {
        let pool_size = pool_size.max(1);
        DatabasePools {
            request_role: request_role.to_string(),
            request_password: request_password.map(str::to_string),
            pool_size,
            idle,
            acquire_timeout,
            cache: PoolCache::new((budget / pool_size).max(1) as usize, idle),
        }
    }

    /// The request options for a database (request role, password).
    pub fn request_options(&self, owner: PgConnectOptions) -> PgConnectOptions {
        let options = owner.username(&self.request_role);
        match &self.request_password {
            Some(password) => options.password(password),
            None => options,
        }
    }

    /// The request pool of a tenant database, opened lazily.
    pub fn get(&self, servers: &Servers, server: &str, database: &str) -> ApiResult<PgPool> {
        let options = self.request_options(servers.owner_of(server, database)?);
        let key = (server.to_string(), database.to_string());
        self.cache
            .get_or_open(&key, "", || {
                PgPoolOptions::new()
                    .max_connections(self.pool_size)
                    .min_connections(0)
                    .idle_timeout(Some(self.idle))
                    .acquire_timeout(self.acquire_timeout)
                    .test_before_acquire(false)
                    .connect_lazy_with(options)
            })
            .ok_or_else(|| ApiError::Unavailable {
                detail: "every tenant database connection is in use; retry shortly".into(),
                retry_after: 1,
            })
    }

    /// The open pools by (server, database), for the pool gauges.
    pub(crate) fn pools(&self) -> Vec<((String, String), PgPool)> {
        self.cache.pools()
    }

    /// How many tenant-database pools are open.
    pub fn len(&self) -> usize {
        self.cache.len()
    }

    /// Whether no tenant-database pool is open.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// At most this many pools are open at once.
    pub fn capacity(&self) -> usize {
        self.cache.capacity()
    }

    /// Closes the pool of one database (before it is dropped).
    pub async fn close(&self, server: &str, database: &str) {
        if let Some(pool) = self
            .cache
            .remove(&(server.to_string(), database.to_string()))
        {
            pool.close().await;
        }
    }

    /// Closes every pool.
    pub async fn close_all(&self) {
        for pool in self.cache.drain() {
            pool.close().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_round_trip_through_placements() {
        let id = TenantId::new_random();
        for tier in [Tier::Shared, Tier::Schema, Tier::Database] {
            let location = Location::for_new(id, tier, Some("east"), "tenant_");
            let back = Location::from_parts(tier, &location.placement()).unwrap();
            assert_eq!(back, location);
            assert_eq!(back.tier(), tier);
        }
        assert!(Location::Shared.same_database(&Location::Schema("s".into())));
        let db = Location::for_new(id, Tier::Database, None, "tenant_");
        assert!(!db.same_database(&Location::Shared));
        assert_eq!(
            db.label(),
            format!("database:primary/tenant_{}", id.as_uuid().simple())
        );
    }

    #[test]
    fn search_paths_quote_identifiers() {
        assert_eq!(
            tenant_search_path("tenant_ab\"c", "public"),
            "\"tenant_ab\"\"c\", \"public\""
        );
    }

    #[tokio::test]
    async fn the_pool_cache_keeps_to_its_budget() {
        let servers = Servers::new("postgres://u@127.0.0.1:1/db", &BTreeMap::new()).unwrap();
        let pools = DatabasePools::new(
            "r",
            None,
            2,
            4,
            Duration::from_secs(3600),
            Duration::from_secs(1),
        );
        assert_eq!(pools.capacity(), 2);
        pools.get(&servers, "primary", "a").unwrap();
        pools.get(&servers, "primary", "b").unwrap();
        pools.get(&servers, "primary", "a").unwrap();
        let err = pools.get(&servers, "primary", "c").unwrap_err();
        assert_eq!(err.status(), 503);
        assert!(pools.get(&servers, "nowhere", "a").is_err());
        let idle = DatabasePools::new("r", None, 2, 2, Duration::ZERO, Duration::from_secs(1));
        idle.get(&servers, "primary", "a").unwrap();
        idle.get(&servers, "primary", "b").unwrap();
        assert_eq!(idle.len(), 1, "the idle pool gave way");
    }
}
