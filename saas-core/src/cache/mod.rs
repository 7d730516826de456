//! A tenant-aware cache: every key carries the tenant id, by construction.
//!
//! There is no way to name an entry without a tenant: a [`TenantCache`] hands out a
//! [`ScopedCache`] for one tenant ([`TenantCache::for_tenant`], or the [`ScopedCache`]
//! extractor in a handler, which takes the tenant from the request), and a scoped cache only
//! takes a *kind* and a key within that tenant. Stored keys read
//! `<namespace>:t:<tenant id>:<kind>:<key>`, so two tenants' entries can never collide, in
//! process or in Redis (tenancy invariant 7, docs/src/tenancy.md).
//!
//! Backends: in-memory (default; bounded, with a maximum time to live) and Redis (feature
//! `redis`, for several app instances). A Redis outage degrades to cache misses, never to
//! errors: a cache must not take the API down.
//!
//! Entries are invalidated by domain events: a [`CacheInvalidator`] is an
//! [`crate::events::consumer::EventHandler`] (subscribe it to the in-process bus
//! or run it as a NATS consumer) that removes `(kind, aggregate id)` of the event's tenant for
//! the event types it is told about.
//!
//! ```no_run
//! # async fn demo(tenant: saas_core::TenantId, project_id: uuid::Uuid) {
//! use saas_core::cache::TenantCache;
//! let cache = TenantCache::in_memory(10_000);
//! let acme = cache.for_tenant(tenant);
//! acme.set("project", project_id, &"Roadmap", None).await;
//! let name: Option<String> = acme.get("project", project_id).await;
//! # let _ = name; }
//! ```

mod memory;
#[cfg(feature = "redis")]
mod redis;

use std::fmt::Display;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::FromRequestParts;
use futures_util::future::BoxFuture;
use http::request::Parts;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::ApiError;
use crate::events::EventEnvelope;
use crate::events::consumer::EventHandler;
use crate::tenancy::TenantId;
use crate::tenancy::resolver::TenantCtx;

/// Where entries are kept. Keys arrive fully formed (tenant included); backends never build
/// keys themselves.
pub trait CacheBackend: Send + Sync + 'static {
    /// The value under `key`, if present and fresh.
    fn get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Option<Vec<u8>>>;
    /// Stores `value` under `key` for `ttl`.
    fn set<'a>(&'a self, key: &'a str, value: Vec<u8>, ttl: Duration) -> BoxFuture<'a, ()>;
    /// Removes `key`.
    fn remove<'a>(&'a self, key: &'a str) -> BoxFuture<'a, ()>;
    /// Removes every key starting with `prefix` (one tenant's entries).
    fn remove_prefix<'a>(&'a self, prefix: &'a str) -> BoxFuture<'a, ()>;
}

/// The cache of an application, for all tenants; hand out [`ScopedCache`]s from it.
#[derive(Clone)]
pub struct TenantCache {
    backend: Arc<dyn CacheBackend>,
    namespace: Arc<str>,
    default_ttl: Duration,
}

impl std::fmt::Debug for TenantCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TenantCache")
            .field("namespace", &self.namespace)
            .field("default_ttl", &self.default_ttl)
            .finish()
    }
}

impl TenantCache {
    /// An in-process cache holding at most `capacity` entries (least recently used evicted),
    /// each for at most 10 minutes.
    pub fn in_memory(capacity: u64) -> Self {
        TenantCache::with_backend(memory::MemoryBackend::new(
            capacity,
            Duration::from_secs(600),
        ))
    }

    /// A cache over Redis at `url` (`redis://127.0.0.1:6379`), shared by every instance of the
    /// application. Connecting is lazy and retried: Redis being down means misses.
    #[cfg(feature = "redis")]
    pub fn redis(url: &str) -> crate::Result<Self> {
        Ok(TenantCache::with_backend(redis::RedisBackend::new(url)?))
    }

    /// A cache over any backend.
    pub fn with_backend(backend: impl CacheBackend) -> Self {
        TenantCache {
            backend: Arc::new(backend),
            namespace: Arc::from("saas"),
            default_ttl: Duration::from_secs(300),
        }
    }

    /// Prefixes every key (several applications sharing one Redis). Default `saas`.
    pub fn namespace(mut self, namespace: &str) -> Self {
        self.namespace = Arc::from(namespace);
        self
    }

    /// How long entries live unless `set` says otherwise (default 5 minutes).
    pub fn default_ttl(mut self, ttl: Duration) -> Self {
        self.default_ttl = ttl;
        self
    }

    /// The cache of one tenant.
    pub fn for_tenant(&self, tenant: TenantId) -> ScopedCache {
        ScopedCache {
            cache: self.clone(),
            tenant,
        }
    }

    /// An event handler that invalidates entries; add rules with [`CacheInvalidator::on`].
    pub fn invalidator(&self) -> CacheInvalidator {
        CacheInvalidator {
            cache: self.clone(),
            rules: Vec::new(),
        }
    }

    fn tenant_prefix(&self, tenant: TenantId) -> String {
        format!("{}:t:{tenant}:", self.namespace)
    }
}

/// One tenant's view of the cache. Every key it builds starts with that tenant's id.
#[derive(Clone, Debug)]
pub struct ScopedCache {
    cache: TenantCache,
    tenant: TenantId,
}

/// A kind must be a short identifier: it is a segment of the key.
fn check_kind(kind: &str) {
    assert!(
        !kind.is_empty()
            && kind.len() <= 64
            && kind
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.'),
        "cache kind {kind:?} must be 1-64 characters of [A-Za-z0-9_.-]"
    );
}

impl ScopedCache {
    /// The tenant this view belongs to.
    pub fn tenant(&self) -> TenantId {
        self.tenant
    }

    fn key(&self, kind: &str, key: &dyn Display) -> String {
        check_kind(kind);
        format!("{}{kind}:{key}", self.cache.tenant_prefix(self.tenant))
    }

    /// The value cached under `(kind, key)` for this tenant. A value that no longer
    /// deserializes as `T` is a miss.
    pub async fn get<T: DeserializeOwned>(&self, kind: &str, key: impl Display) -> Option<T> {
        let bytes = self.cache.backend.get(&self.key(kind, &key)).await?;
        serde_json::from_slice(&bytes).ok()
    }

    /// Caches `value` under `(kind, key)` for this tenant, for `ttl` (default: the cache's).
    pub async fn set<T: Serialize + ?Sized>(
        &self,
        kind: &str,
        key: impl Display,
        value: &T,
        ttl: Option<Duration>,
    ) {
        match serde_json::to_vec(value) {
            Ok(bytes) => {
                let ttl = ttl.unwrap_or(self.cache.default_ttl);
                self.cache
                    .backend
                    .set(&self.key(kind, &key), bytes, ttl)
                    .await;
            }
            Err(err) => {
                tracing::warn!(error = %err, kind, "value not cached: it does not serialize")
            }
        }
    }

    /// The cached value, or `load`'s (cached when it succeeds).
    pub async fn get_or_load<T, E, F>(&self, kind: &str, key: impl Display, load: F) -> Result<T, E>
    where
        T: Serialize + DeserializeOwned,
        F: std::future::Future<Output = Result<T, E>>,
    {
        let key = key.to_string();
        if let Some(hit) = self.get(kind, &key).await {
            return Ok(hit);
        }
        let value = load.await?;
        self.set(kind, &key, &value, None).await;
        Ok(value)
    }

    /// Removes `(kind, key)` for this tenant.
    pub async fn remove(&self, kind: &str, key: impl Display) {
        self.cache.backend.remove(&self.key(kind, &key)).await;
    }

    /// Removes every entry of this tenant (and only this tenant's).
    pub async fn clear(&self) {
        let prefix = self.cache.tenant_prefix(self.tenant);
        self.cache.backend.remove_prefix(&prefix).await;
    }
}

/// In a handler: the cache of the request's tenant. Needs the application's [`TenantCache`]
/// in the request extensions (`SaasAppBuilder::cache`).
impl<S: Send + Sync> FromRequestParts<S> for ScopedCache {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let cache = parts
            .extensions
            .get::<TenantCache>()
            .cloned()
            .ok_or_else(|| {
                ApiError::Internal(anyhow::anyhow!(
                    "no TenantCache on this router: add one with SaasAppBuilder::cache"
                ))
            })?;
        let ctx = TenantCtx::from_request_parts(parts, state).await?;
        Ok(cache.for_tenant(ctx.tenant.id))
    }
}

/// Removes cached entries when domain events say they changed: for an event of a listed type,
/// the entry `(kind, event.aggregate_id)` of the event's tenant goes.
#[derive(Clone)]
pub struct CacheInvalidator {
    cache: TenantCache,
    rules: Vec<(String, String)>,
}

impl std::fmt::Debug for CacheInvalidator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CacheInvalidator")
            .field("rules", &self.rules)
            .finish()
    }
}

impl CacheInvalidator {
    /// Events of `event_type` invalidate `(kind, aggregate id)`.
    pub fn on(mut self, event_type: &str, kind: &str) -> Self {
        check_kind(kind);
        self.rules.push((event_type.to_string(), kind.to_string()));
        self
    }
}

impl EventHandler for CacheInvalidator {
    fn handle<'a>(&'a self, event: &'a EventEnvelope) -> BoxFuture<'a, anyhow::Result<()>> {
        Box::pin(async move {
            let scoped = self.cache.for_tenant(event.tenant_id);
            for (event_type, kind) in &self.rules {
                if *event_type == event.event_type {
                    scoped.remove(kind, event.aggregate_id).await;
                }
            }
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn keys_always_lead_with_the_tenant() {
        let cache = TenantCache::in_memory(100).namespace("app");
        let a = TenantId::new_random();
        let scoped = cache.for_tenant(a);
        assert_eq!(
            scoped.key("project", &"42"),
            format!("app:t:{a}:project:42")
        );
        // A key that looks like another tenant's path stays inside this tenant's prefix.
        let b = TenantId::new_random();
        let sneaky = format!("x:t:{b}:project:1");
        assert!(
            scoped
                .key("project", &sneaky)
                .starts_with(&format!("app:t:{a}:"))
        );
    }

    #[tokio::test]
    #[should_panic(expected = "cache kind")]
    async fn kinds_cannot_carry_separators() {
        TenantCache::in_memory(10)
            .for_tenant(TenantId::new_random())
            .remove("a:b", 1)
            .await;
    }
}
