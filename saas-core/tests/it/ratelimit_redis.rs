//! Per-tenant rate limits in Redis (127.0.0.1:6379, started by scripts/ensure-redis.sh): the
//! same isolation as in memory, one budget shared by two app instances, and a Redis outage
//! letting requests through rather than failing them.

use crate::common;

use common::ratelimit::{a_flood_does_not_throttle_another_tenant, hit, limited_router};
use std::time::Duration;

use common::ratelimit::allowed_of;
use common::{Env, free_port};
use http::StatusCode;
use saas_core::clock::ManualClock;
use saas_core::prelude::*;
use saas_core::ratelimit::{Limit, Quota, RateLimits};

fn redis_url() -> String {
    std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

/// Limits in Redis under a namespace of their own (parallel runs stay apart).
fn in_redis(limits: RateLimits, namespace: &str) -> RateLimits {
    limits.redis(&redis_url()).unwrap().namespace(namespace)
}

fn namespace() -> String {
    format!("test-{}", Uuid::new_v4().simple())
}

#[tokio::test]
async fn redis_flood_does_not_throttle_another_tenant() {
    let env = Env::new().await;
    let limits = in_redis(
        RateLimits::new()
            .plan("default", Limit::per_minute(5))
            .clock(ManualClock::new()),
        &namespace(),
    );
    let router = limited_router(&env, &limits).await;
    a_flood_does_not_throttle_another_tenant(&env, &router).await;
}

/// With a clock other than the system's, the script runs on that clock rather than on
/// Redis's `TIME`: the budget refills exactly when the clock says so.
#[tokio::test]
async fn redis_refills_on_the_injected_clock() {
    let env = Env::new().await;
    let clock = ManualClock::at(20_600 * 86_400);
    let limits = in_redis(
        RateLimits::new()
            .plan(
                "default",
                Limit::per_minute(2).with_quota(Quota::per_hour(5)),
            )
            .clock(clock.clone()),
        &namespace(),
    );
    let router = limited_router(&env, &limits).await;
    let tenant = env.tenant("refilled").await;
    assert_eq!(allowed_of(&env, &router, &tenant, 4).await, 2);
    clock.advance(Duration::from_secs(30) - Duration::from_micros(1));
    assert_eq!(allowed_of(&env, &router, &tenant, 2).await, 0);
    clock.advance(Duration::from_micros(1));
    assert_eq!(allowed_of(&env, &router, &tenant, 2).await, 1);
    clock.advance(Duration::from_secs(60));
    // Two more make five in this hour: the quota, not the rate, stops the sixth.
    assert_eq!(allowed_of(&env, &router, &tenant, 3).await, 2);
    clock.advance(Duration::from_secs(600));
    let (status, headers) = hit(&env, &router, &tenant).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(headers["retry-after"], (3600 - 690).to_string().as_str());
    clock.advance(Duration::from_secs(3600 - 690));
    assert_eq!(allowed_of(&env, &router, &tenant, 1).await, 1);
}

#[tokio::test]
async fn two_instances_share_one_budget() {
    let env = Env::new().await;
    let ns = namespace();
    // One clock, as two processes on one machine would share: the budget must not refill
    // while the test runs, however slow.
    let config = RateLimits::new()
        .plan(
            "default",
            Limit::per_minute(6).with_quota(Quota::per_day(1000)),
        )
        .clock(ManualClock::new());
    // Two layers, two connections: what two processes of the application would have.
    let first = limited_router(&env, &in_redis(config.clone(), &ns)).await;
    let second = limited_router(&env, &in_redis(config, &ns)).await;
    let tenant = env.tenant("shared").await;
    let mut statuses = Vec::new();
    let mut remaining = Vec::new();
    for i in 0..10 {
        let router = if i % 2 == 0 { &first } else { &second };
        let (status, headers) = hit(&env, router, &tenant).await;
        statuses.push(status);
        let value = headers["ratelimit"].to_str().unwrap().to_string();
        remaining.push(value.split(';').nth(1).unwrap().to_string());
    }
    let ok = statuses.iter().filter(|s| **s == StatusCode::OK).count();
    assert_eq!(ok, 6, "{statuses:?}");
    assert!(
        statuses[6..]
            .iter()
            .all(|s| *s == StatusCode::TOO_MANY_REQUESTS)
    );
    assert_eq!(&remaining[..6], ["r=5", "r=4", "r=3", "r=2", "r=1", "r=0"]);
}

#[tokio::test]
async fn redis_down_lets_requests_through() {
    let env = Env::new().await;
    let limits = RateLimits::new()
        .plan("default", Limit::per_minute(1))
        .redis(&format!("redis://127.0.0.1:{}", free_port()))
        .unwrap();
    let router = limited_router(&env, &limits).await;
    let tenant = env.tenant("unlimited-for-now").await;
    for _ in 0..5 {
        let (status, headers) = hit(&env, &router, &tenant).await;
        assert_eq!(status, StatusCode::OK);
        assert!(!headers.contains_key("ratelimit"));
    }
}

#[tokio::test]
async fn redis_gives_not_modified_revalidations_back() {
    let env = Env::new().await;
    let limits = in_redis(
        RateLimits::new()
            .plan(
                "default",
                Limit::per_minute(3).with_quota(Quota::per_hour(3)),
            )
            .clock(ManualClock::at(20_600 * 86_400)),
        &namespace(),
    );
    let router = limited_router(&env, &limits).await;
    common::ratelimit::not_modified_revalidations_are_not_counted(&env, &router).await;
}
