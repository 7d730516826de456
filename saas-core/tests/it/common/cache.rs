//! Checks every cache backend must pass: tenants never see each other's entries, clearing one
//! tenant leaves the others, event invalidation touches the event's tenant only.

use std::time::Duration;

use saas_core::cache::TenantCache;
use saas_core::events::EventEnvelope;
use saas_core::events::consumer::EventHandler;
use saas_core::prelude::*;

pub async fn tenants_never_share_entries(cache: &TenantCache) {
    let (a, b) = (TenantId::new_random(), TenantId::new_random());
    let (ca, cb) = (cache.for_tenant(a), cache.for_tenant(b));
    let id = Uuid::new_v4();
    ca.set("project", id, &"A's secret", None).await;
    assert_eq!(
        ca.get::<String>("project", id).await.as_deref(),
        Some("A's secret")
    );
    assert_eq!(
        cb.get::<String>("project", id).await,
        None,
        "B read A's entry"
    );
    cb.set("project", id, &"B's own", None).await;
    assert_eq!(
        ca.get::<String>("project", id).await.as_deref(),
        Some("A's secret")
    );
    assert_eq!(
        cb.get::<String>("project", id).await.as_deref(),
        Some("B's own")
    );
    // Clearing B leaves A.
    cb.clear().await;
    assert_eq!(cb.get::<String>("project", id).await, None);
    assert_eq!(
        ca.get::<String>("project", id).await.as_deref(),
        Some("A's secret")
    );
    // Entries expire.
    ca.set("short", id, &1u32, Some(Duration::from_millis(50)))
        .await;
    tokio::time::sleep(Duration::from_millis(120)).await;
    assert_eq!(ca.get::<u32>("short", id).await, None);
    // get_or_load caches what it loads.
    let loaded: Result<u32, ()> = ca.get_or_load("count", id, async { Ok(7) }).await;
    assert_eq!(loaded, Ok(7));
    let again: Result<u32, ()> = ca.get_or_load("count", id, async { Ok(8) }).await;
    assert_eq!(again, Ok(7), "served from the cache");
}

pub async fn events_invalidate_their_tenant_only(cache: &TenantCache) {
    let (a, b) = (TenantId::new_random(), TenantId::new_random());
    let id = Uuid::new_v4();
    for tenant in [a, b] {
        cache
            .for_tenant(tenant)
            .set("project", id, &"cached", None)
            .await;
    }
    let invalidator = cache.invalidator().on("project.updated", "project");
    let event = |tenant: TenantId, event_type: &str| EventEnvelope {
        id: Uuid::new_v4(),
        tenant_id: tenant,
        event_type: event_type.into(),
        schema_version: 1,
        aggregate_id: id,
        occurred_at: OffsetDateTime::now_utc(),
        payload: serde_json::json!({}),
    };
    invalidator
        .handle(&event(a, "project.created"))
        .await
        .unwrap();
    assert!(
        cache
            .for_tenant(a)
            .get::<String>("project", id)
            .await
            .is_some(),
        "unrelated type"
    );
    invalidator
        .handle(&event(a, "project.updated"))
        .await
        .unwrap();
    assert_eq!(cache.for_tenant(a).get::<String>("project", id).await, None);
    assert!(
        cache
            .for_tenant(b)
            .get::<String>("project", id)
            .await
            .is_some(),
        "A's event invalidated B's entry"
    );
}
