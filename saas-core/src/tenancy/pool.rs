//! [`Tenancy`]: the runtime handle holding the pools, the registry and the resolvers.
//!
//! Three kinds of pools:
//! - the *owner* pool (small): migrations, the tenant registry, administration;
//! - the *request* pool: connections of the non-owner, NOBYPASSRLS request role, shared by all
//!   tenants; the tenant context is set per transaction;
//! - *bound* pools ([`BoundPools`]): for a bounded number of recently active tenants, a tiny
//!   pool whose connections carry that tenant's setting from connect time and are never handed
//!   to another tenant (the one exception to tenancy invariant 1, docs/src/tenancy.md). A single read on them is
//!   one round trip. Disable them (`bound_tenants(0)`) behind PgBouncer in transaction mode.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sqlx::pool::PoolConnection;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{PgPool, Postgres};

use super::TENANT_SETTING;
use super::TenantId;
use super::placement::{DatabasePools, Location, tenant_search_path};
use super::pool_cache::PoolCache;
use super::provision::Provisioner;
use super::registry::{Tenant, Tenants};
use super::replica::Replicas;
use super::resolver::{ResolverChain, TenantResolver};
use crate::error::ApiResult;

/// Settings of the tenancy runtime. Build it with [`TenancyConfig::new`] and the setters.
#[derive(Debug, Clone)]
pub struct TenancyConfig {
    /// The owner's URL (migrations, registry). Requests use [`TenancyConfig::request_role`].
    pub database_url: String,
    /// The login role requests run as (created if missing): not owner, not superuser,
    /// NOBYPASSRLS.
    pub request_role: String,
    /// Its password, when the server does not trust local connections.
    pub request_password: Option<String>,
    /// Connections in the shared request pool.
    pub request_pool_size: u32,
    /// How many tenants may hold a bound pool at once (0 disables bound pools). A pool
    /// holds no connection until its tenant reads, so this bounds bookkeeping, not
    /// connections: [`TenancyConfig::bound_connections`] does that.
    pub bound_tenants: usize,
    /// The most connections one bound pool opens. They open as a tenant's concurrent reads
    /// need them and close after `3 × bound_idle` unused, so a quiet tenant holds one; a busy
    /// one that had too few queued its reads behind them (one tenant's token under
    /// `scripts/bench-http.sh --modes one`: with two, list 0.65-0.67 and get 0.79-0.86 of
    /// the hand-written server's throughput; with four, 0.87-0.93 and 0.86-0.90).
    pub bound_pool_size: u32,
    /// The most connections all bound pools hold together (default 32). A tenant's read
    /// that would need a new bound connection while they hold this many takes the shared
    /// path instead (one more round trip), so more active tenants than `bound_connections /
    /// bound_pool_size` share the bound connections without opening more of them.
    /// [`BoundPools::stats`] tells how many reads it sent down the shared path.
    pub bound_connections: u32,
    /// A bound pool unused for this long may be given to another tenant.
    pub bound_idle: Duration,
    /// How long a tenant's registry entry is cached for request-time checks.
    pub tenant_cache_ttl: Duration,
    /// How long to wait for a connection before answering 503.
    pub acquire_timeout: Duration,
    /// Apply migrations and RLS set-up when starting (default): the shared schema, then every
    /// tenant schema and database not at the current migration set. Turn off when a separate
    /// job migrates as the owner; the audit still runs.
    pub migrate_on_start: bool,
    /// Skip the boot-time isolation audit. Named to be noticed in review.
    pub dangerously_skip_isolation_audit: bool,
    /// Other PostgreSQL servers database-tier tenants can be placed on, by name (the
    /// owner's URL on each; `primary` is [`TenancyConfig::database_url`]).
    pub servers: BTreeMap<String, String>,
    /// Connections per tenant-database request pool.
    pub database_pool_size: u32,
    /// The most connections all tenant-database request pools may hold together.
    pub connection_budget: u32,
    /// A tenant-database pool unused for this long may be closed for another one.
    pub database_pool_idle: Duration,
    /// How many tenant schemas or databases a migration run works on at once.
    pub migration_parallelism: usize,
    /// How long a write waits for a tenant's move to finish its switch before answering 503.
    pub move_wait: Duration,
    /// Streaming replicas of the primary database (owner-style URLs; requests log in as the
    /// request role): [`super::ReadTx`] reads go there.
    pub replicas: Vec<String>,
    /// The most a replica may lag and still serve reads; also how long a tenant's reads stay
    /// on the primary after it wrote.
    pub replica_max_lag: Duration,
    /// How often replica lag is measured.
    pub replica_probe_interval: Duration,
    /// The prefix of tenant database names (`<prefix><tenant id, 32 hex digits>`; at most
    /// 31 characters).
    pub database_prefix: String,
}

impl TenancyConfig {
    /// Defaults for `database_url`.
    pub fn new(database_url: impl Into<String>) -> Self {
        TenancyConfig {
            database_url: database_url.into(),
            request_role: "saas_app".into(),
            request_password: None,
            request_pool_size: 10,
            bound_tenants: 64,
            bound_pool_size: 4,
            bound_connections: 32,
            bound_idle: Duration::from_secs(10),
            tenant_cache_ttl: Duration::from_secs(5),
            acquire_timeout: Duration::from_secs(5),
            migrate_on_start: true,
            dangerously_skip_isolation_audit: false,
            servers: BTreeMap::new(),
            database_pool_size: 2,
            connection_budget: 40,
            database_pool_idle: Duration::from_secs(60),
            migration_parallelism: 4,
            move_wait: Duration::from_secs(2),
            database_prefix: "tenant_".into(),
            replicas: Vec::new(),
            replica_max_lag: Duration::from_secs(1),
            replica_probe_interval: Duration::from_millis(250),
        }
    }

    /// Applies the settings that deployments change ([`Settings`](crate::settings::Settings),
    /// read from `SAAS_REQUEST_ROLE`, `SAAS_REQUEST_PASSWORD`, `SAAS_POOL_SIZE`,
    /// `SAAS_BOUND_TENANTS`, `SAAS_BOUND_POOL_SIZE`, `SAAS_BOUND_CONNECTIONS`, `SAAS_SERVERS`, `SAAS_REPLICA_URLS`, `SAAS_DATABASE_PREFIX`,
    /// `SAAS_TENANT_CACHE_TTL_MS`, `SAAS_MIGRATION_PARALLELISM`, `SAAS_MIGRATE_ON_START` and
    /// `SAAS_DANGEROUSLY_SKIP_ISOLATION_AUDIT`) over `self`; unset ones leave `self` as it is.
    pub fn with_settings(mut self, settings: &crate::settings::Settings) -> Self {
        if let Some(migrate) = settings.migrate_on_start {
            self.migrate_on_start = migrate;
        }
        if let Some(role) = &settings.request_role {
            self.request_role = role.clone();
        }
        if let Some(pw) = &settings.request_password {
            self.request_password = Some(pw.clone());
        }
        if let Some(n) = settings.pool_size {
            self.request_pool_size = n;
        }
        if let Some(n) = settings.bound_tenants {
            self.bound_tenants = n;
        }
        if let Some(n) = settings.bound_pool_size {
            self.bound_pool_size = n;
        }
        if let Some(n) = settings.bound_connections {
            self.bound_connections = n;
        }
        for (name, url) in &settings.servers {
            self.servers.insert(name.clone(), url.clone());
        }
        if !settings.replica_urls.is_empty() {
            self.replicas = settings.replica_urls.clone();
        }
        if let Some(prefix) = &settings.database_prefix {
            self.database_prefix = prefix.clone();
        }
        if let Some(ttl) = settings.tenant_cache_ttl {
            self.tenant_cache_ttl = ttl;
        }
        if let Some(n) = settings.migration_parallelism {
            self.migration_parallelism = n;
        }
        if settings.skip_isolation_audit == Some(true) {
            self.dangerously_skip_isolation_audit = true;
        }
        self
    }

    /// [`with_settings`](Self::with_settings) with the process environment; a malformed
    /// variable is a configuration error naming it.
    pub fn with_env_overrides(self) -> crate::Result<Self> {
        Ok(self.with_settings(&crate::settings::Settings::from_env()?))
    }

    /// Sets the request role.
    pub fn request_role(mut self, role: impl Into<String>) -> Self {
        self.request_role = role.into();
        self
    }

    /// Sets the shared request pool's size.
    pub fn request_pool_size(mut self, n: u32) -> Self {
        self.request_pool_size = n;
        self
    }

    /// Sets how many tenants may hold bound pools (0 disables them).
    pub fn bound_tenants(mut self, n: usize) -> Self {
        self.bound_tenants = n;
        self
    }

    /// Sets the most connections one bound pool opens (see
    /// [`TenancyConfig::bound_pool_size`]).
    pub fn bound_pool_size(mut self, n: u32) -> Self {
        self.bound_pool_size = n;
        self
    }

    /// Sets the most connections all bound pools hold together (see
    /// [`TenancyConfig::bound_connections`]).
    pub fn bound_connections(mut self, n: u32) -> Self {
        self.bound_connections = n;
        self
    }

    /// Adds a named server that database-tier tenants can be placed on (`url`: the owner's
    /// credentials and a maintenance database, for example `postgres`).
    pub fn server(mut self, name: impl Into<String>, url: impl Into<String>) -> Self {
        self.servers.insert(name.into(), url.into());
        self
    }

    /// Sets the most connections all tenant-database pools may hold together.
    pub fn connection_budget(mut self, n: u32) -> Self {
        self.connection_budget = n;
        self
    }
}

/// Pools bound to single tenants, at most `bound_tenants` of them, least recently used given
/// up first once idle, holding at most `bound_connections` connections together. See the
/// module documentation.
pub struct BoundPools {
    base: PgConnectOptions,
    size: u32,
    idle: Duration,
    acquire_timeout: Duration,
    cache: PoolCache<TenantId>,
    /// `bound_connections`.
    budget: u32,
    /// Acquires admitted to open a connection and not returned yet (see [`Opening`]).
    opening: Mutex<u32>,
    counts: Arc<Counts>,
}

/// The running totals behind [`BoundStats`].
#[derive(Default)]
struct Counts {
    bound: AtomicU64,
    shared: AtomicU64,
    opened: AtomicU64,
    closed_for_room: AtomicU64,
}

/// What the bound pools have done since the process started: the numbers to size
/// [`TenancyConfig::bound_connections`] by (also served on `/metrics` as
/// `saas_bound_reads_total` and `saas_bound_connections_opened_total`). Many `shared` reads
/// against `bound` ones mean busy tenants wait for the budget; many `opened` connections per
/// read mean the budget is shared out by closing and reopening them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct BoundStats {
    /// Reads served on a connection bound to their tenant (one round trip).
    pub bound: u64,
    /// Reads that could have been bound and took the shared path instead (no room for the
    /// tenant's pool, or the budget held by other tenants): one more round trip each.
    pub shared: u64,
    /// Bound connections opened (each is a new PostgreSQL backend).
    pub opened: u64,
    /// Idle bound connections and pools closed to make room for another tenant.
    pub closed_for_room: u64,
}

impl std::fmt::Debug for BoundPools {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BoundPools")
            .field("capacity", &self.cache.capacity())
            .field("size", &self.size)
            .field("budget", &self.budget)
            .finish()
    }
}

/// An admitted acquire that may open a connection, counted until it returns (or is dropped).
struct Opening<'a>(&'a Mutex<u32>);

impl Drop for Opening<'_> {
    fn drop(&mut self) {
        if let Ok(mut n) = self.0.lock() {
            *n = n.saturating_sub(1);
        }
    }
}

impl BoundPools {
    pub(crate) fn new(base: PgConnectOptions, config: &TenancyConfig) -> Self {
        // Either setting at 0 turns bound connections off: no pool is ever opened.
        let enabled = config.bound_tenants > 0 && config.bound_connections > 0;
        BoundPools {
            base,
            size: config.bound_pool_size.max(1),
            idle: config.bound_idle,
            acquire_timeout: config.acquire_timeout,
            cache: PoolCache::new(
                if enabled { config.bound_tenants } else { 0 },
                config.bound_idle,
            ),
            budget: if enabled { config.bound_connections } else { 0 },
            opening: Mutex::new(0),
            counts: Arc::default(),
        }
    }

    /// What the bound pools have done so far (see [`BoundStats`]).
    pub fn stats(&self) -> BoundStats {
        let c = &self.counts;
        BoundStats {
            bound: c.bound.load(Ordering::Relaxed),
            shared: c.shared.load(Ordering::Relaxed),
            opened: c.opened.load(Ordering::Relaxed),
            closed_for_room: c.closed_for_room.load(Ordering::Relaxed),
        }
    }

    /// A connection bound to `tenant` at a location of the primary database (`search_path`
    /// set for a schema-tier tenant), or `None`: use the shared path. An idle connection of
    /// the tenant's pool is taken at once; a pool at its size waits for one of its own; a
    /// pool that would have to open a connection does so only while all bound pools hold
    /// (or are opening) fewer than `bound_connections`, else the read takes the shared path
    /// and room is made for the next: an idle connection of the pool holding the most (at
    /// least two more than this tenant's) is closed, or else a pool idle for `bound_idle` is
    /// given up. So the connections are shared out among the busy tenants.
    pub async fn acquire(
        &self,
        tenant: TenantId,
        label: &str,
        search_path: Option<&str>,
    ) -> Result<Option<PoolConnection<Postgres>>, sqlx::Error> {
        if self.budget == 0 {
            return Ok(None);
        }
        let counts = &self.counts;
        let Some(pool) = self.get(tenant, label, search_path) else {
            counts.shared.fetch_add(1, Ordering::Relaxed);
            return Ok(None);
        };
        if let Some(conn) = pool.try_acquire() {
            counts.bound.fetch_add(1, Ordering::Relaxed);
            return Ok(Some(conn));
        }
        // A pool at its size waits for one of its own connections; a smaller one may open
        // one only with the budget's leave, held until the connection is in hand.
        let _opening = if pool.size() < self.size {
            let Some(opening) = self.admit() else {
                // Make room for the next read: a connection of the pool holding the most (at
                // least two more than this one's), else a pool idle for `bound_idle`. Without
                // it the first tenants to grow would keep the budget while others are busy.
                if self.cache.close_idle_of_largest(pool.size() + 2) || self.cache.evict_idle() {
                    counts.closed_for_room.fetch_add(1, Ordering::Relaxed);
                }
                counts.shared.fetch_add(1, Ordering::Relaxed);
                return Ok(None);
            };
            Some(opening)
        } else {
            None
        };
        let conn = pool.acquire().await?;
        counts.bound.fetch_add(1, Ordering::Relaxed);
        Ok(Some(conn))
    }

    /// Counts an acquire that may open a connection, if the budget has room for it. The
    /// count and the pools' sizes are read under one lock, so concurrent acquires cannot
    /// all take the last place; a connection being opened may be counted twice (as opening
    /// and in its pool's size), which errs on the side of fewer connections.
    fn admit(&self) -> Option<Opening<'_>> {
        let mut opening = self.opening.lock().ok()?;
        if self.cache.connections() + *opening >= self.budget {
            return None;
        }
        *opening += 1;
        Some(Opening(&self.opening))
    }

    /// The connections the bound pools hold now (idle, in use or being opened).
    pub fn connections(&self) -> u32 {
        self.cache.connections()
    }

    /// The tenant's bound pool for a location of the primary database, created (with no
    /// connection yet) if there is room; `None` means "use the shared path". A pool opened
    /// for another location (the tenant moved) is replaced: its connections never serve the
    /// tenant again.
    fn get(&self, tenant: TenantId, label: &str, search_path: Option<&str>) -> Option<PgPool> {
        self.cache.get_or_open(&tenant, label, || {
            // The setting travels in the startup packet: every connection of this pool
            // belongs to `tenant` from its first statement to its last.
            let mut options = self
                .base
                .clone()
                .options([(TENANT_SETTING, tenant.to_string())]);
            if let Some(path) = search_path {
                options = options.options([("search_path", path)]);
            }
            let counts = Arc::clone(&self.counts);
            PgPoolOptions::new()
                .after_connect(move |_, _| {
                    counts.opened.fetch_add(1, Ordering::Relaxed);
                    Box::pin(async { Ok(()) })
                })
                .max_connections(self.size)
                .min_connections(0)
                .idle_timeout(Some(self.idle * 3))
                .acquire_timeout(self.acquire_timeout)
                .test_before_acquire(false)
                .connect_lazy_with(options)
        })
    }

    /// The open bound pools, for the pool gauges.
    pub(crate) fn pools(&self) -> Vec<PgPool> {
        self.cache
            .pools()
            .into_iter()
            .map(|(_, pool)| pool)
            .collect()
    }

    /// How many tenants hold a bound pool now.
    pub fn len(&self) -> usize {
        self.cache.len()
    }

    /// Whether no tenant holds a bound pool.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Closes the bound pool of one tenant (its placement changed).
    pub async fn forget(&self, tenant: TenantId) {
        if let Some(pool) = self.cache.remove(&tenant) {
            pool.close().await;
        }
    }

    /// Closes every bound pool (for example before a tenant moves).
    pub async fn close_all(&self) {
        for pool in self.cache.drain() {
            pool.close().await;
        }
    }
}

/// What a [`Tenancy`] is made of; assembled by [`Tenancy::start`] (`crate::bootstrap`), which
/// migrates and audits before anything serves.
pub(crate) struct TenancyParts {
    pub(crate) owner: PgPool,
    pub(crate) requests: PgPool,
    pub(crate) bound: BoundPools,
    pub(crate) databases: DatabasePools,
    pub(crate) replicas: Arc<Replicas>,
    pub(crate) provisioner: Arc<Provisioner>,
    pub(crate) shared_schema: String,
    /// The primary database has the `citus` extension: the tenant context must reach the
    /// workers' shards (see [`Tenancy::distributed`]).
    pub(crate) citus: bool,
    pub(crate) background: super::background::Background,
    pub(crate) tenants: Tenants,
    pub(crate) resolvers: ResolverChain,
    pub(crate) config: TenancyConfig,
}

/// The tenancy runtime: the pools, the tenant registry, the resolvers and the placements.
/// Cheap to clone (one `Arc`); started by [`Tenancy::start`] (or by `SaasApp`).
#[derive(Clone)]
pub struct Tenancy {
    inner: Arc<TenancyParts>,
}

impl std::fmt::Debug for Tenancy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tenancy")
            .field("request_role", &self.inner.config.request_role)
            .field("resolvers", &self.inner.resolvers)
            .field("bound", &self.inner.bound)
            .finish()
    }
}

impl Tenancy {
    pub(crate) fn assemble(parts: TenancyParts) -> Tenancy {
        Tenancy {
            inner: Arc::new(parts),
        }
    }

    /// The tenant registry.
    pub fn tenants(&self) -> &Tenants {
        &self.inner.tenants
    }

    /// The resolvers requests are checked with.
    pub fn resolvers(&self) -> &ResolverChain {
        &self.inner.resolvers
    }

    /// The owner pool: migrations and administration only, never tenant requests.
    pub fn owner_pool(&self) -> &PgPool {
        &self.inner.owner
    }

    /// The shared pool of the request role.
    pub(crate) fn request_pool(&self) -> &PgPool {
        &self.inner.requests
    }

    /// The runtime's own request pool, for the framework's tests (a connection returned to it
    /// must carry no tenant; its gauges). Not part of the API: application code reaches the
    /// database through `TenantTx` and `ReadTx` only.
    #[doc(hidden)]
    pub fn __request_pool(&self) -> &PgPool {
        self.request_pool()
    }

    /// The configuration this runtime started with.
    pub fn config(&self) -> &TenancyConfig {
        &self.inner.config
    }

    /// Where a tenant's statements go: the pool, its `search_path` and its fence label.
    pub(crate) fn route(&self, tenant: &Tenant) -> ApiResult<Route> {
        let location = Location::of(tenant)?;
        let (search_path, database) = match &location {
            Location::Shared | Location::Dedicated => (None, None),
            Location::Schema(schema) => (
                Some(tenant_search_path(schema, &self.inner.shared_schema)),
                None,
            ),
            Location::Database { server, database } => (
                None,
                Some(self.inner.databases.get(
                    &self.inner.provisioner.servers,
                    server,
                    database,
                )?),
            ),
        };
        Ok(Route {
            label: location.label(),
            location,
            search_path,
            database,
        })
    }

    /// A connection bound to the tenant on this route, if its bound pool has one for it
    /// (see [`BoundPools::acquire`]); `None`: take the shared path. Tenant databases have
    /// none: they are reached through [`DatabasePools`].
    pub(crate) async fn bound_connection(
        &self,
        tenant: TenantId,
        route: &Route,
    ) -> Result<Option<PoolConnection<Postgres>>, sqlx::Error> {
        // On Citus a setting given at connect time stays on the coordinator: the workers'
        // shards would evaluate the policy without a tenant (zero rows).
        if route.database.is_some() || self.inner.citus {
            return Ok(None);
        }
        self.inner
            .bound
            .acquire(tenant, &route.label, route.search_path.as_deref())
            .await
    }

    /// Whether the primary database is a Citus coordinator. The tenant context then travels
    /// as `SET LOCAL saas.tenant_id` with `citus.propagate_set_commands = 'local'`, which Citus
    /// sends to every worker the transaction touches (a `set_config` stays on the
    /// coordinator), and tenant-bound connections are not used.
    pub fn distributed(&self) -> bool {
        self.inner.citus
    }

    /// The read replicas of the primary database.
    pub fn replicas(&self) -> &Replicas {
        &self.inner.replicas
    }

    /// The pools of tenant databases.
    pub(crate) fn database_pools(&self) -> &DatabasePools {
        &self.inner.databases
    }

    /// Creates and migrates schemas and databases of tenants.
    pub fn provisioner(&self) -> &Provisioner {
        &self.inner.provisioner
    }

    /// The shared schema (the owner's current schema at start).
    pub(crate) fn shared_schema(&self) -> &str {
        &self.inner.shared_schema
    }

    /// Tasks that outlive the request that started them (tenant moves started over HTTP);
    /// graceful shutdown waits for them.
    pub fn background(&self) -> &super::background::Background {
        &self.inner.background
    }

    /// The bound pools.
    pub fn bound_pools(&self) -> &BoundPools {
        &self.inner.bound
    }

    /// Closes every pool.
    pub async fn close(&self) {
        self.inner.bound.close_all().await;
        self.inner.databases.close_all().await;
        self.inner.replicas.close().await;
        self.inner.requests.close().await;
        self.inner.owner.close().await;
    }
}

/// Where one tenant's statements go: its pool, and the search path of a schema-tier tenant.
#[derive(Debug, Clone)]
pub struct Route {
    /// The tenant's location.
    pub location: Location,
    /// Its fence label.
    pub label: String,
    /// The quoted `search_path` of a schema-tier tenant.
    pub search_path: Option<String>,
    /// The request pool of a database-tier tenant's database.
    pub database: Option<PgPool>,
}

impl Route {
    /// The pool transactions of this route begin on.
    pub fn pool<'a>(&'a self, tenancy: &'a Tenancy) -> &'a PgPool {
        self.database.as_ref().unwrap_or(tenancy.request_pool())
    }
}

/// Makes a resolver chain from one resolver (for builder convenience).
pub fn chain(resolver: impl TenantResolver) -> ResolverChain {
    ResolverChain::new().with(resolver)
}
