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
use crate::error::{ApiResult, Error};

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
}

impl Tier {
    /// The tier's name as stored and as clients write it.
    pub fn as_str(&self) -> &'static str {
        match self {
            Tier::Shared => "shared",
            Tier::Schema => "schema",
            Tier::Database => "database",
        }
    }
}

impl fmt::Display for Tier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Tier {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        match s {
            "shared" => Ok(Tier::Shared),
            "schema" => Ok(Tier::Schema),
            "database" => Ok(Tier::Database),
            other => Err(Error::Validation(format!(
                "unknown tier {other:?}: expected one of shared, schema, database"
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
    /// Whether it may use the API.
    pub status: TenantStatus,
    /// When it was registered.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
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
}

/// The DDL of the registry, applied by the migrator as the owner.
pub(crate) const REGISTRY_DDL: &str = r#"
CREATE SCHEMA IF NOT EXISTS saas;
CREATE TABLE IF NOT EXISTS saas.tenants (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    slug text NOT NULL UNIQUE CHECK (slug ~ '^[a-z][a-z0-9-]{1,62}$'),
    name text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    tier text NOT NULL DEFAULT 'shared' CHECK (tier IN ('shared', 'schema', 'database')),
    status text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'suspended')),
    created_at timestamptz NOT NULL DEFAULT now()
);
"#;

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
        Err(Error::Validation(format!(
            "invalid slug {:?}: use 2-63 characters, lowercase letters, digits and '-', starting with a letter",
            slug.chars().take(80).collect::<String>()
        )))
    }
}

type Row = (uuid::Uuid, String, String, String, String, OffsetDateTime);

fn from_row(row: Row) -> ApiResult<Tenant> {
    let (id, slug, name, tier, status, created_at) = row;
    Ok(Tenant {
        id: TenantId::from_uuid(id),
        slug,
        name,
        tier: tier.parse()?,
        status: if status == "suspended" {
            TenantStatus::Suspended
        } else {
            TenantStatus::Active
        },
        created_at,
    })
}

/// The tenant registry, with a short-lived cache for request-time lookups.
///
/// Suspending a tenant takes effect at once in this process and within the cache TTL
/// (default 5 s) in other processes.
#[derive(Clone)]
pub struct Tenants {
    pool: PgPool,
    cache: Arc<RwLock<HashMap<TenantId, (Tenant, Instant)>>>,
    ttl: Duration,
}

impl fmt::Debug for Tenants {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tenants").field("ttl", &self.ttl).finish()
    }
}

impl Tenants {
    /// A registry over the owner pool.
    pub fn new(owner_pool: PgPool, cache_ttl: Duration) -> Self {
        Tenants {
            pool: owner_pool,
            cache: Arc::default(),
            ttl: cache_ttl,
        }
    }

    /// Registers a tenant. A duplicate slug is a 409, an invalid one a 422.
    pub async fn create(&self, new: NewTenant) -> ApiResult<Tenant> {
        validate_slug(&new.slug)?;
        let name_len = new.name.chars().count();
        if !(1..=200).contains(&name_len) {
            return Err(Error::Validation("name must be 1 to 200 characters".into()));
        }
        let tier = new.tier.unwrap_or(Tier::Shared);
        let row: Option<Row> = sqlx::query_as(
            "INSERT INTO saas.tenants (slug, name, tier) VALUES ($1, $2, $3)
             ON CONFLICT (slug) DO NOTHING RETURNING id, slug, name, tier, status, created_at",
        )
        .bind(&new.slug)
        .bind(&new.name)
        .bind(tier.as_str())
        .fetch_optional(&self.pool)
        .await?;
        match row {
            Some(row) => from_row(row),
            None => Err(Error::Conflict(format!(
                "a tenant with slug {:?} already exists",
                new.slug
            ))),
        }
    }

    /// A tenant by id, from the database.
    pub async fn get(&self, id: TenantId) -> ApiResult<Tenant> {
        let row: Option<Row> = sqlx::query_as(
            "SELECT id, slug, name, tier, status, created_at FROM saas.tenants WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        let tenant = row
            .map(from_row)
            .transpose()?
            .ok_or(Error::NotFound { resource: "tenant" })?;
        self.remember(&tenant);
        Ok(tenant)
    }

    /// A tenant by slug, from the database.
    pub async fn get_by_slug(&self, slug: &str) -> ApiResult<Tenant> {
        let row: Option<Row> = sqlx::query_as(
            "SELECT id, slug, name, tier, status, created_at FROM saas.tenants WHERE slug = $1",
        )
        .bind(slug)
        .fetch_optional(&self.pool)
        .await?;
        row.map(from_row)
            .transpose()?
            .ok_or(Error::NotFound { resource: "tenant" })
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
        let rows: Vec<Row> = sqlx::query_as(
            "SELECT id, slug, name, tier, status, created_at FROM saas.tenants ORDER BY created_at, id",
        )
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

    async fn set_status(&self, id: TenantId, status: &str) -> ApiResult<Tenant> {
        let row: Option<Row> = sqlx::query_as(
            "UPDATE saas.tenants SET status = $2 WHERE id = $1 RETURNING id, slug, name, tier, status, created_at",
        )
        .bind(id)
        .bind(status)
        .fetch_optional(&self.pool)
        .await?;
        let tenant = row
            .map(from_row)
            .transpose()?
            .ok_or(Error::NotFound { resource: "tenant" })?;
        self.remember(&tenant);
        Ok(tenant)
    }

    fn remember(&self, tenant: &Tenant) {
        if let Ok(mut cache) = self.cache.write() {
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
    fn unknown_tier_is_a_validation_error() {
        assert_eq!("gold".parse::<Tier>().unwrap_err().status(), 422);
        assert_eq!("schema".parse::<Tier>().unwrap(), Tier::Schema);
    }
}
