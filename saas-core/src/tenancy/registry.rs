//! The tenant registry: `saas.tenants`, and the [`Tenants`] API to create, find, list and
//! suspend tenants.
//!
//! The registry is global (not tenant-scoped) and is read and written through the owner pool
//! only: the request role has no access to it.

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use time::OffsetDateTime;

use super::TenantId;
use super::placement::{Location, Placement};
use super::provision::Provisioner;
use crate::error::{ApiError, ApiResult};

/// Where a tenant's data lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Tier {
    /// Shared schema, isolated by row-level security (the default).
    Shared,
    /// A schema of its own.
    Schema,
    /// A database of its own.
    Database,
    /// The shared tables, in shards of its own on a Citus worker chosen for it (Citus only):
    /// routed and isolated like the shared tier. Reached by moving a tenant (see
    /// `saas_core::moves`), not by creating one.
    Dedicated,
}

impl Tier {
    /// The tier's name as stored and as clients write it.
    pub fn as_str(&self) -> &'static str {
        match self {
            Tier::Shared => "shared",
            Tier::Schema => "schema",
            Tier::Database => "database",
            Tier::Dedicated => "dedicated",
        }
    }
}

impl fmt::Display for Tier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Tier {
    type Err = ApiError;

    fn from_str(s: &str) -> Result<Self, ApiError> {
        match s {
            "shared" => Ok(Tier::Shared),
            "schema" => Ok(Tier::Schema),
            "database" => Ok(Tier::Database),
            "dedicated" => Ok(Tier::Dedicated),
            other => Err(ApiError::Validation(format!(
                "unknown tier {other:?}: expected one of shared, schema, database, dedicated"
            ))),
        }
    }
}

/// Whether a tenant may use the API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TenantStatus {
    /// Serving requests.
    Active,
    /// Every request answers 403 until the tenant is reactivated.
    Suspended,
}

/// A registered tenant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tenant {
    /// The tenant's id, carried by its tokens and by every one of its rows.
    pub id: TenantId,
    /// A unique, URL-safe name (`^[a-z][a-z0-9-]{1,62}$`), used by the subdomain resolver.
    pub slug: String,
    /// A display name.
    pub name: String,
    /// Where its data lives.
    pub tier: Tier,
    /// The server, database and schema of its data (see [`super::placement`]).
    pub placement: Placement,
    /// Whether it may use the API.
    pub status: TenantStatus,
    /// Its plan (default `default`): which rate limits and quotas apply
    /// (see [`crate::ratelimit`]). Set with [`Tenants::set_plan`].
    #[serde(default = "default_plan")]
    pub plan: String,
    /// When it was registered.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

/// The plan of a tenant that was never given one.
pub const DEFAULT_PLAN: &str = "default";

fn default_plan() -> String {
    DEFAULT_PLAN.to_string()
}

/// Checks a plan name: 1-63 characters, lowercase letters, digits, `-` and `_` (it appears
/// in response headers and storage keys).
pub fn validate_plan(plan: &str) -> ApiResult<()> {
    let ok = (1..=63).contains(&plan.len())
        && plan
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(ApiError::Validation(format!(
            "invalid plan {:?}: use 1-63 characters, lowercase letters, digits, '-' and '_'",
            plan.chars().take(80).collect::<String>()
        )))
    }
}

/// What is needed to register a tenant.
#[derive(Debug, Clone, Deserialize)]
pub struct NewTenant {
    /// See [`Tenant::slug`].
    pub slug: String,
    /// See [`Tenant::name`].
    pub name: String,
    /// Defaults to [`Tier::Shared`].
    #[serde(default)]
    pub tier: Option<Tier>,
    /// The named server of a database-tier tenant (default `primary`).
    #[serde(default)]
    pub server: Option<String>,
}

impl NewTenant {
    /// A shared-tier tenant named `slug` (see [`NewTenant::tier`] for the others).
    pub fn new(slug: impl Into<String>, name: impl Into<String>) -> Self {
        NewTenant {
            slug: slug.into(),
            name: name.into(),
            tier: None,
            server: None,
        }
    }

    /// Places the tenant in a tier.
    pub fn tier(mut self, tier: Tier) -> Self {
        self.tier = Some(tier);
        self
    }

    /// Places a database-tier tenant on a named server.
    pub fn server(mut self, server: impl Into<String>) -> Self {
        self.server = Some(server.into());
        self
    }
}

/// The DDL of the registry, applied by the migrator as the owner.
pub(crate) const REGISTRY_DDL: &str = r#"
CREATE SCHEMA IF NOT EXISTS saas;
CREATE TABLE IF NOT EXISTS saas.tenants (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    slug text NOT NULL UNIQUE CHECK (slug ~ '^[a-z][a-z0-9-]{1,62}$'),
    name text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    tier text NOT NULL DEFAULT 'shared' CHECK (tier IN ('shared', 'schema', 'database', 'dedicated')),
    status text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'suspended')),
    created_at timestamptz NOT NULL DEFAULT now()
);
ALTER TABLE saas.tenants ADD COLUMN IF NOT EXISTS server text NOT NULL DEFAULT 'primary';
ALTER TABLE saas.tenants ADD COLUMN IF NOT EXISTS db_name text;
ALTER TABLE saas.tenants ADD COLUMN IF NOT EXISTS schema_name text;
ALTER TABLE saas.tenants ADD COLUMN IF NOT EXISTS migrated text;
ALTER TABLE saas.tenants ADD COLUMN IF NOT EXISTS plan text NOT NULL DEFAULT 'default';
CREATE TABLE IF NOT EXISTS saas.tenant_moves (
    tenant_id uuid PRIMARY KEY REFERENCES saas.tenants (id) ON DELETE CASCADE,
    move_id uuid NOT NULL DEFAULT gen_random_uuid(),
    to_tier text NOT NULL CHECK (to_tier IN ('shared', 'schema', 'database', 'dedicated')),
    to_server text NOT NULL,
    to_db text,
    to_schema text,
    from_tier text NOT NULL CHECK (from_tier IN ('shared', 'schema', 'database', 'dedicated')),
    from_server text NOT NULL,
    from_db text,
    from_schema text,
    step text NOT NULL,
    started_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
-- Registries made before the dedicated tier: widen their tier checks (once).
DO $saas$
DECLARE
  c record;
BEGIN
  FOR c IN SELECT * FROM (VALUES ('saas.tenants', 'tenants_tier_check', 'tier'),
                                 ('saas.tenant_moves', 'tenant_moves_to_tier_check', 'to_tier'),
                                 ('saas.tenant_moves', 'tenant_moves_from_tier_check', 'from_tier'))
                         AS t (rel, name, col)
  LOOP
    IF NOT EXISTS (SELECT 1 FROM pg_constraint
                    WHERE conrelid = c.rel::regclass AND conname = c.name
                      AND pg_get_constraintdef(oid) LIKE '%dedicated%') THEN
      EXECUTE format('ALTER TABLE %s DROP CONSTRAINT IF EXISTS %I', c.rel, c.name);
      EXECUTE format('ALTER TABLE %s ADD CONSTRAINT %I CHECK (%I IN (%L, %L, %L, %L))',
                     c.rel, c.name, c.col, 'shared', 'schema', 'database', 'dedicated');
    END IF;
  END LOOP;
END
$saas$;
"#;

/// Write fences, created in every database that holds tenant data (the primary database and
/// each tenant database). A fence row freezes one tenant's writes at one location while the
/// tenant moves away from it; `saas.enter` runs at the start of every tenant write
/// transaction, takes a shared per-tenant lock that the mover takes exclusively (so the mover
/// waits for in-flight writes and new writes wait for the mover), and refuses fenced writes
/// with SQLSTATE `SAMOV`.
pub(crate) const FENCE_DDL: &str = r#"
CREATE SCHEMA IF NOT EXISTS saas;
CREATE TABLE IF NOT EXISTS saas.fences (
    tenant_id uuid NOT NULL,
    location text NOT NULL,
    fenced_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, location)
);
CREATE OR REPLACE FUNCTION saas.enter(p_tenant uuid, p_location text) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $saas$
BEGIN
  PERFORM pg_advisory_xact_lock_shared(1935763310, hashtext(p_tenant::text));
  IF EXISTS (SELECT 1 FROM saas.fences f WHERE f.tenant_id = p_tenant AND f.location = p_location) THEN
    RAISE EXCEPTION 'tenant % is being moved away from %', p_tenant, p_location
      USING ERRCODE = 'SAMOV';
  END IF;
END
$saas$;
"#;

/// `saas.set_tenant(uuid)`: `SET LOCAL saas.tenant_id`, for Citus. Citus sends a `SET LOCAL` to
/// the workers (with `citus.propagate_set_commands = 'local'`) by the text of the query that
/// held it; inside this function that text is the `SET` alone, where the request's one-round-
/// trip `BEGIN` batch would be replayed whole on every worker (a nested `BEGIN`, a warning per
/// transaction). Not `SECURITY DEFINER`: it sets the caller's own transaction setting.
pub(crate) const SET_TENANT_DDL: &str = r#"
CREATE OR REPLACE FUNCTION saas.set_tenant(p_tenant uuid) RETURNS boolean
LANGUAGE plpgsql AS $saas$
BEGIN
  EXECUTE format('SET LOCAL saas.tenant_id = %L', p_tenant);
  RETURN true;
END
$saas$;
"#;

/// The first key of the per-tenant advisory lock `saas.enter` and the mover share.
pub(crate) const FENCE_LOCK: i32 = 1935763310;

fn placement_server(location: &Location) -> String {
    location.placement().server
}

fn duplicate(slug: &str) -> ApiError {
    ApiError::Conflict(format!("a tenant with slug {slug:?} already exists"))
}

/// Checks a slug against `^[a-z][a-z0-9-]{1,62}$`.
pub fn validate_slug(slug: &str) -> ApiResult<()> {
    let bytes = slug.as_bytes();
    let ok = (2..=63).contains(&bytes.len())
        && bytes[0].is_ascii_lowercase()
        && bytes[1..]
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-');
    if ok {
        Ok(())
    } else {
        Err(ApiError::Validation(format!(
            "invalid slug {:?}: use 2-63 characters, lowercase letters, digits and '-', starting with a letter",
            slug.chars().take(80).collect::<String>()
        )))
    }
}

type Row = (
    uuid::Uuid,
    String,
    String,
    String,
    String,
    OffsetDateTime,
    String,
    Option<String>,
    Option<String>,
    String,
);

/// The registry columns [`from_row`] reads, in order.
macro_rules! columns {
    () => {
        "id, slug, name, tier, status, created_at, server, db_name, schema_name, plan"
    };
}

fn from_row(row: Row) -> ApiResult<Tenant> {
    let (id, slug, name, tier, status, created_at, server, database, schema, plan) = row;
    Ok(Tenant {
        id: TenantId::from_uuid(id),
        slug,
        name,
        tier: tier.parse()?,
        placement: Placement {
            server,
            database,
            schema,
        },
        status: if status == "suspended" {
            TenantStatus::Suspended
        } else {
            TenantStatus::Active
        },
        plan,
        created_at,
    })
}

/// A remembered slug lookup: the tenant it named (`None`: no tenant) and when.
type SlugEntry = (Option<TenantId>, Instant);

/// The tenant registry, with a short-lived cache for request-time lookups.
///
/// Suspending a tenant takes effect at once in this process and within the cache TTL
/// (default 5 s) in other processes.
#[derive(Clone)]
pub struct Tenants {
    pool: PgPool,
    cache: Arc<RwLock<HashMap<TenantId, (Tenant, Instant)>>>,
    /// Request-time slug lookups, misses included: a flood of unknown slugs costs one query
    /// per slug per TTL, not one per request.
    slugs: Arc<RwLock<HashMap<String, SlugEntry>>>,
    ttl: Duration,
    provisioner: Option<Arc<Provisioner>>,
    /// Bumped by every invalidation: a lookup that started before one does not refill the
    /// cache with what it read (it may predate a placement switch).
    generation: Arc<std::sync::atomic::AtomicU64>,
}

impl fmt::Debug for Tenants {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tenants").field("ttl", &self.ttl).finish()
    }
}

impl Tenants {
    /// A registry over the owner pool. It registers shared-tier tenants only; the registry of
    /// a started [`super::pool::Tenancy`] also creates schemas and databases.
    pub fn new(owner_pool: PgPool, cache_ttl: Duration) -> Self {
        Tenants {
            pool: owner_pool,
            cache: Arc::default(),
            slugs: Arc::default(),
            ttl: cache_ttl,
            provisioner: None,
            generation: Arc::default(),
        }
    }

    pub(crate) fn with_provisioner(mut self, provisioner: Arc<Provisioner>) -> Self {
        self.provisioner = Some(provisioner);
        self
    }

    /// How long request-time lookups may serve a cached entry.
    pub fn cache_ttl(&self) -> Duration {
        self.ttl
    }

    /// Registers a tenant, creating its schema or database (migrated) for those tiers. A
    /// duplicate slug is a 409, an invalid one a 422, an unknown server a 422.
    pub async fn create(&self, new: NewTenant) -> ApiResult<Tenant> {
        validate_slug(&new.slug)?;
        let name_len = new.name.chars().count();
        if !(1..=200).contains(&name_len) {
            return Err(ApiError::Validation(
                "name must be 1 to 200 characters".into(),
            ));
        }
        let tier = new.tier.unwrap_or(Tier::Shared);
        if tier == Tier::Dedicated {
            return Err(ApiError::Validation(
                "a tenant is not created in the dedicated tier: create it in the shared tier, \
                 then move it to the dedicated tier (shards of its own on a Citus worker)"
                    .into(),
            ));
        }
        let taken: bool =
            sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM saas.tenants WHERE slug = $1)")
                .bind(&new.slug)
                .fetch_one(&self.pool)
                .await?;
        if taken {
            return Err(duplicate(&new.slug));
        }
        let id = TenantId::new_random();
        let location = match &self.provisioner {
            Some(p) => p.location_for(id, tier, new.server.as_deref()),
            None => Location::for_new(id, tier, new.server.as_deref(), "tenant_"),
        };
        let mut migrated = None;
        if location != Location::Shared {
            let provisioner = self.provisioner.as_ref().ok_or_else(|| {
                ApiError::Internal(anyhow::anyhow!(
                    "this registry cannot create schemas or databases: use the one of a started Tenancy"
                ))
            })?;
            provisioner.servers().owner(&placement_server(&location))?;
            provisioner.check_available(&location).await?;
            provisioner.provision(&location).await?;
            migrated = Some(provisioner.fingerprint().to_string());
        } else if new
            .server
            .as_deref()
            .is_some_and(|s| s != super::placement::PRIMARY_SERVER)
        {
            return Err(ApiError::Validation(
                "only database-tier tenants can be placed on another server".into(),
            ));
        }
        let placement = location.placement();
        let row: Option<Row> = sqlx::query_as(concat!(
            "INSERT INTO saas.tenants (id, slug, name, tier, server, db_name, schema_name, migrated)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
             ON CONFLICT (slug) DO NOTHING RETURNING ",
            columns!()
        ))
        .bind(id)
        .bind(&new.slug)
        .bind(&new.name)
        .bind(tier.as_str())
        .bind(&placement.server)
        .bind(&placement.database)
        .bind(&placement.schema)
        .bind(migrated)
        .fetch_optional(&self.pool)
        .await?;
        match row {
            Some(row) => {
                let tenant = from_row(row)?;
                // A miss remembered for this slug must not hide the new tenant.
                if let Ok(mut slugs) = self.slugs.write() {
                    slugs.remove(&tenant.slug);
                }
                if let Some(provisioner) = &self.provisioner {
                    provisioner.register_locally(&location, &tenant).await?;
                }
                Ok(tenant)
            }
            None => {
                if let Some(provisioner) = &self.provisioner {
                    provisioner.deprovision(&location).await.ok();
                }
                Err(duplicate(&new.slug))
            }
        }
    }

    /// Forgets a cached entry (after its placement or status changed elsewhere).
    pub fn invalidate(&self, id: TenantId) {
        if let Ok(mut cache) = self.cache.write() {
            self.generation
                .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            cache.remove(&id);
        }
    }

    /// A tenant by id, from the database.
    pub async fn get(&self, id: TenantId) -> ApiResult<Tenant> {
        let generation = self.generation.load(std::sync::atomic::Ordering::SeqCst);
        let row: Option<Row> = sqlx::query_as(concat!(
            "SELECT ",
            columns!(),
            " FROM saas.tenants WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        let tenant = row
            .map(from_row)
            .transpose()?
            .ok_or(ApiError::NotFound { resource: "tenant" })?;
        self.remember_since(&tenant, generation);
        Ok(tenant)
    }

    /// A tenant by slug, from the database.
    pub async fn get_by_slug(&self, slug: &str) -> ApiResult<Tenant> {
        let row: Option<Row> = sqlx::query_as(concat!(
            "SELECT ",
            columns!(),
            " FROM saas.tenants WHERE slug = $1"
        ))
        .bind(slug)
        .fetch_optional(&self.pool)
        .await?;
        row.map(from_row)
            .transpose()?
            .ok_or(ApiError::NotFound { resource: "tenant" })
    }

    /// A tenant by slug for request-time checks: hits and misses are served from a cache
    /// while fresh, so unknown slugs reach the database at most once per slug per TTL.
    /// (The framework's resolvers never look up a slug that only *names* a tenant; this is
    /// for resolvers whose credential carries a slug.)
    pub async fn get_by_slug_cached(&self, slug: &str) -> ApiResult<Tenant> {
        let cached = self.slugs.read().ok().and_then(|slugs| {
            slugs
                .get(slug)
                .filter(|(_, at)| at.elapsed() < self.ttl)
                .map(|(id, _)| *id)
        });
        match cached {
            Some(Some(id)) => return self.get_cached(id).await,
            Some(None) => return Err(ApiError::NotFound { resource: "tenant" }),
            None => {}
        }
        let found = self.get_by_slug(slug).await;
        let remembered = match &found {
            Ok(tenant) => Some(tenant.id),
            Err(ApiError::NotFound { .. }) => None,
            Err(_) => return found,
        };
        if let Ok(mut slugs) = self.slugs.write() {
            if slugs.len() > 100_000 {
                slugs.retain(|_, (_, at)| at.elapsed() < self.ttl);
                if slugs.len() > 100_000 {
                    slugs.clear();
                }
            }
            slugs.insert(slug.to_string(), (remembered, Instant::now()));
        }
        found
    }

    /// A tenant by id for request-time checks: served from the cache while fresh.
    pub async fn get_cached(&self, id: TenantId) -> ApiResult<Tenant> {
        if let Ok(cache) = self.cache.read()
            && let Some((tenant, at)) = cache.get(&id)
            && at.elapsed() < self.ttl
        {
            return Ok(tenant.clone());
        }
        self.get(id).await
    }

    /// Every tenant, oldest first.
    pub async fn list(&self) -> ApiResult<Vec<Tenant>> {
        let rows: Vec<Row> = sqlx::query_as(concat!(
            "SELECT ",
            columns!(),
            " FROM saas.tenants ORDER BY created_at, id"
        ))
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter().map(from_row).collect()
    }

    /// Suspends a tenant: its requests answer 403 until [`Tenants::activate`].
    pub async fn suspend(&self, id: TenantId) -> ApiResult<Tenant> {
        self.set_status(id, "suspended").await
    }

    /// Lifts a suspension.
    pub async fn activate(&self, id: TenantId) -> ApiResult<Tenant> {
        self.set_status(id, "active").await
    }

    /// Puts a tenant on a plan (see [`crate::ratelimit`]). Takes effect at once in this
    /// process (the cached entry is replaced) and within the cache TTL in other processes.
    /// An invalid plan name is a 422; plans without configured limits are unlimited.
    pub async fn set_plan(&self, id: TenantId, plan: &str) -> ApiResult<Tenant> {
        validate_plan(plan)?;
        self.update(
            concat!(
                "UPDATE saas.tenants SET plan = $2 WHERE id = $1 RETURNING ",
                columns!(),
                ""
            ),
            id,
            plan,
        )
        .await
    }

    /// Records a tenant of the shared tables as `shared` or `dedicated` (the two tiers whose
    /// rows are in the same tables: only Citus's shard placement differs). For
    /// `crate::moves`; other tiers change by moving the data.
    pub(crate) async fn set_tier(&self, id: TenantId, tier: Tier) -> ApiResult<Tenant> {
        if !matches!(tier, Tier::Shared | Tier::Dedicated) {
            return Err(ApiError::Internal(anyhow::anyhow!(
                "the {tier} tier is reached by moving the tenant's data"
            )));
        }
        self.update(
            concat!(
                "UPDATE saas.tenants SET tier = $2 WHERE id = $1 AND tier IN ('shared', 'dedicated') RETURNING ",
                columns!(),
                ""
            ),
            id,
            tier.as_str(),
        )
        .await
    }

    async fn set_status(&self, id: TenantId, status: &str) -> ApiResult<Tenant> {
        self.update(
            concat!(
                "UPDATE saas.tenants SET status = $2 WHERE id = $1 RETURNING ",
                columns!(),
                ""
            ),
            id,
            status,
        )
        .await
    }

    /// Runs `UPDATE ... SET <column> = $2 WHERE id = $1 RETURNING <columns>` and caches the
    /// updated entry; an unknown id is a 404.
    ///
    /// The cache generation is bumped before *and* after the update: a lookup that read the
    /// row before the update committed cannot put the old entry back afterwards (a suspended
    /// tenant served as active until the TTL ran out).
    async fn update(&self, sql: &'static str, id: TenantId, value: &str) -> ApiResult<Tenant> {
        self.invalidate(id);
        let row: Result<Option<Row>, sqlx::Error> = sqlx::query_as(sql)
            .bind(id)
            .bind(value)
            .fetch_optional(&self.pool)
            .await;
        self.invalidate(id);
        let row = row?;
        let tenant = row
            .map(from_row)
            .transpose()?
            .ok_or(ApiError::NotFound { resource: "tenant" })?;
        self.remember(&tenant);
        Ok(tenant)
    }

    fn remember(&self, tenant: &Tenant) {
        let generation = self.generation.load(std::sync::atomic::Ordering::SeqCst);
        self.remember_since(tenant, generation);
    }

    fn remember_since(&self, tenant: &Tenant, generation: u64) {
        if let Ok(mut cache) = self.cache.write() {
            if self.generation.load(std::sync::atomic::Ordering::SeqCst) != generation {
                return;
            }
            if cache.len() > 100_000 {
                cache.clear();
            }
            cache.insert(tenant.id, (tenant.clone(), Instant::now()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_follow_the_contract_pattern() {
        for good in ["ac", "acme", "a-1", &format!("a{}", "b".repeat(62))] {
            assert!(validate_slug(good).is_ok(), "{good}");
        }
        for bad in [
            "a",
            "Acme",
            "1acme",
            "-acme",
            "ac me",
            "acmé",
            &format!("a{}", "b".repeat(63)),
        ] {
            assert!(validate_slug(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn plan_names_are_header_and_key_safe() {
        for good in ["default", "free", "pro-2", "team_plus", "x"] {
            assert!(validate_plan(good).is_ok(), "{good}");
        }
        for bad in ["", "Pro", "a b", "a\"b", "a;b", "a,b", &"p".repeat(64)] {
            assert_eq!(validate_plan(bad).unwrap_err().status(), 422, "{bad}");
        }
    }

    /// A registry over a fresh database of its own.
    async fn registry(ttl: Duration) -> (saas_testkit::TestDb, Tenants) {
        let db = saas_testkit::TestDb::new().await.unwrap();
        let pool = PgPool::connect(db.url()).await.unwrap();
        sqlx::raw_sql(REGISTRY_DDL).execute(&pool).await.unwrap();
        (db, Tenants::new(pool, ttl))
    }

    #[tokio::test]
    async fn a_lookup_racing_a_suspension_cannot_put_active_back() {
        let (_db, tenants) = registry(Duration::from_secs(60)).await;
        let tenant = tenants
            .create(NewTenant::new("acme", "Acme"))
            .await
            .unwrap();
        // A request-time lookup starts and reads the row while the tenant is active ...
        let generation = tenants.generation.load(std::sync::atomic::Ordering::SeqCst);
        let read_before = tenants.get(tenant.id).await.unwrap();
        assert_eq!(read_before.status, TenantStatus::Active);
        // ... the suspension commits and is cached ...
        tenants.suspend(tenant.id).await.unwrap();
        // ... and the lookup finishes, remembering what it read.
        tenants.remember_since(&read_before, generation);
        let seen = tenants.get_cached(tenant.id).await.unwrap();
        assert_eq!(seen.status, TenantStatus::Suspended);
    }

    #[tokio::test]
    async fn unknown_slugs_reach_the_database_once_per_ttl() {
        let ttl = Duration::from_millis(400);
        let (_db, tenants) = registry(ttl).await;
        for _ in 0..3 {
            let err = tenants.get_by_slug_cached("ghost").await.unwrap_err();
            assert_eq!(err.status(), 404);
        }
        // Registered behind this process's back: the remembered miss still answers ...
        sqlx::query("INSERT INTO saas.tenants (slug, name) VALUES ('ghost', 'Ghost')")
            .execute(&tenants.pool)
            .await
            .unwrap();
        assert_eq!(
            tenants
                .get_by_slug_cached("ghost")
                .await
                .unwrap_err()
                .status(),
            404,
            "the second lookup of an unknown slug within the TTL reached the database"
        );
        // ... until the TTL runs out.
        tokio::time::sleep(ttl + Duration::from_millis(50)).await;
        let found = tenants.get_by_slug_cached("ghost").await.unwrap();
        assert_eq!(found.slug, "ghost");
    }

    #[tokio::test]
    async fn a_tenant_created_here_is_found_at_once_after_a_remembered_miss() {
        let (_db, tenants) = registry(Duration::from_secs(60)).await;
        assert!(tenants.get_by_slug_cached("newco").await.is_err());
        let created = tenants
            .create(NewTenant::new("newco", "NewCo"))
            .await
            .unwrap();
        assert_eq!(
            tenants.get_by_slug_cached("newco").await.unwrap().id,
            created.id
        );
    }

    #[test]
    fn unknown_tier_is_a_validation_error() {
        assert_eq!("gold".parse::<Tier>().unwrap_err().status(), 422);
        assert_eq!("schema".parse::<Tier>().unwrap(), Tier::Schema);
    }
}
