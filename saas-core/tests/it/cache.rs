//! The tenant-aware cache in memory, and invalidation through real domain events: a handler
//! caches a project per tenant; an update commits an event, the relay publishes it, the
//! invalidator drops that tenant's entry and no other.

use crate::common;

use std::time::Duration;

use common::cache::{events_invalidate_their_tenant_only, tenants_never_share_entries};
use common::{Env, NewProject, Project};
use saas_core::cache::TenantCache;
use saas_core::events::DomainEvent;
use saas_core::events::publish::InProcessBus;
use saas_core::events::relay::{Relay, RelayConfig};
use saas_core::prelude::*;

#[tokio::test]
async fn in_memory_entries_stay_with_their_tenant() {
    let cache = TenantCache::in_memory(1000);
    tenants_never_share_entries(&cache).await;
    events_invalidate_their_tenant_only(&cache).await;
}

#[derive(Debug, serde::Serialize)]
struct ProjectRenamed {
    id: Uuid,
}

impl DomainEvent for ProjectRenamed {
    const TYPE: &'static str = "project.renamed";
    fn aggregate_id(&self) -> Uuid {
        self.id
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn committed_events_invalidate_the_emitting_tenants_entries() {
    let env = Env::new().await;
    let cache = TenantCache::in_memory(1000);
    let bus = InProcessBus::new();
    bus.subscribe(
        "cache",
        cache.invalidator().on(ProjectRenamed::TYPE, "project"),
    );
    let relay = Relay::new(
        env.tenancy.owner_pool(),
        bus,
        RelayConfig {
            poll_interval: Duration::from_millis(20),
            ..RelayConfig::default()
        },
    )
    .spawn();
    let a = env.tenant("cache-a").await;
    let b = env.tenant("cache-b").await;
    let mut tx = TenantTx::begin(&env.tenancy, a.id);
    let project = Project::insert(&mut tx, NewProject { name: "old".into() })
        .await
        .unwrap();
    tx.commit().await.unwrap();
    // Both tenants cache something under the same key (B's is its own data).
    cache
        .for_tenant(a.id)
        .set("project", project.id, &"old", None)
        .await;
    cache
        .for_tenant(b.id)
        .set("project", project.id, &"b's", None)
        .await;

    let mut tx = TenantTx::begin(&env.tenancy, a.id);
    saas_core::events::emit(&mut tx, &ProjectRenamed { id: project.id })
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while cache
        .for_tenant(a.id)
        .get::<String>("project", project.id)
        .await
        .is_some()
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the event never invalidated the entry"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        cache
            .for_tenant(b.id)
            .get::<String>("project", project.id)
            .await
            .as_deref(),
        Some("b's"),
        "another tenant's entry was invalidated"
    );
    relay.shutdown().await;
}

/// A handler's cache is its request's tenant's: the extractor takes the tenant from the
/// token, so the same path and key never cross tenants.
#[tokio::test]
async fn the_extractor_scopes_to_the_requests_tenant() {
    use axum::routing::get;
    use saas_core::cache::ScopedCache;
    use saas_core::http::{Json, Path};

    async fn remember(
        cache: ScopedCache,
        Path((key, value)): Path<(String, String)>,
    ) -> Json<Option<String>> {
        let before: Option<String> = cache.get("note", &key).await;
        cache.set("note", &key, &value, None).await;
        Json(before)
    }
    let env = Env::new().await;
    let cache = TenantCache::in_memory(100);
    let router = env
        .serve(
            saas_core::app::wrap_router(
                axum::Router::new().route("/remember/{key}/{value}", get(remember)),
                &env.tenancy,
                saas_core::app::DEFAULT_BODY_LIMIT,
            )
            .layer(axum::Extension(cache)),
        )
        .await;
    let (a, b) = (env.tenant("ext-a").await, env.tenant("ext-b").await);
    let (ta, tb) = (env.token(&a), env.token(&b));
    let (s, first, _) = env
        .call(&router, "GET", "/remember/k/from-a", Some(&ta), None)
        .await;
    assert_eq!((s.as_u16(), first), (200, serde_json::Value::Null));
    let (_, seen_by_b, _) = env
        .call(&router, "GET", "/remember/k/from-b", Some(&tb), None)
        .await;
    assert_eq!(seen_by_b, serde_json::Value::Null, "B saw A's entry");
    let (_, seen_by_a, _) = env
        .call(&router, "GET", "/remember/k/again", Some(&ta), None)
        .await;
    assert_eq!(seen_by_a, "from-a");
    let (s, _, _) = env.call(&router, "GET", "/remember/k/x", None, None).await;
    assert_eq!(s.as_u16(), 401, "no tenant, no cache");
}
