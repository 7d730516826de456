//! The tenant-aware cache in Redis (127.0.0.1:6379, started by scripts/ensure-redis.sh): the
//! same isolation checks as in memory, shared by two app instances, and a Redis outage read as
//! misses rather than errors.

use crate::common;

use common::cache::{events_invalidate_their_tenant_only, tenants_never_share_entries};
use saas_core::cache::TenantCache;
use saas_core::prelude::*;

/// The Redis scripts/test.sh started (`REDIS_URL`), or the local default.
fn redis_url() -> String {
    std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

fn namespaced() -> TenantCache {
    // A namespace per test keeps parallel runs apart.
    TenantCache::redis(&redis_url())
        .unwrap()
        .namespace(&format!("test-{}", Uuid::new_v4().simple()))
}

#[tokio::test]
async fn redis_entries_stay_with_their_tenant() {
    let cache = namespaced();
    tenants_never_share_entries(&cache).await;
    events_invalidate_their_tenant_only(&cache).await;
}

#[tokio::test]
async fn two_instances_share_one_redis() {
    let namespace = format!("test-{}", Uuid::new_v4().simple());
    let one = TenantCache::redis(&redis_url())
        .unwrap()
        .namespace(&namespace);
    let two = TenantCache::redis(&redis_url())
        .unwrap()
        .namespace(&namespace);
    let tenant = TenantId::new_random();
    one.for_tenant(tenant).set("k", 1, &"shared", None).await;
    assert_eq!(
        two.for_tenant(tenant)
            .get::<String>("k", 1)
            .await
            .as_deref(),
        Some("shared")
    );
    two.for_tenant(tenant).remove("k", 1).await;
    assert_eq!(one.for_tenant(tenant).get::<String>("k", 1).await, None);
}

#[tokio::test]
async fn an_unreachable_redis_is_a_miss_not_an_error() {
    // Nothing listens on port 1.
    let cache = TenantCache::redis("redis://127.0.0.1:1").unwrap();
    let scoped = cache.for_tenant(TenantId::new_random());
    scoped.set("k", 1, &"lost", None).await;
    assert_eq!(scoped.get::<String>("k", 1).await, None);
    let loaded: Result<u32, ()> = scoped.get_or_load("k", 2, async { Ok(5) }).await;
    assert_eq!(loaded, Ok(5), "the loader still answers");
    scoped.clear().await;
}
