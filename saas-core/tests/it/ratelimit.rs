//! Per-tenant rate limits and quotas, in memory: isolation between tenants, plans, the
//! draft-ietf-httpapi-ratelimit-headers fields, Retry-After, the 429 problem document, and
//! requests without tenant credentials left alone. Time is a `ManualClock`: budgets refill
//! only when a test advances it, never because the test ran slowly.

use crate::common;

use std::time::Duration;

use common::ratelimit::{
    a_flood_does_not_throttle_another_tenant, allowed_of, hit, limited_router,
};
use common::{Env, MIGRATIONS, app_builder};
use http::StatusCode;
use saas_core::clock::ManualClock;
use saas_core::ratelimit::{Limit, PlanLimits, Quota, RateLimits};

fn header<'h>(headers: &'h http::HeaderMap, name: &str) -> &'h str {
    headers
        .get(name)
        .unwrap_or_else(|| panic!("no {name} header in {headers:?}"))
        .to_str()
        .unwrap()
}

/// A day boundary (UTC midnight), so windows' ends are known exactly.
const MIDNIGHT: i64 = 20_600 * 86_400; // 2026-05-27, after v1's deprecation date

/// Limits on a stopped clock.
fn frozen(limits: RateLimits) -> RateLimits {
    limits.clock(ManualClock::at(MIDNIGHT))
}

#[tokio::test]
async fn one_tenants_flood_does_not_throttle_another() {
    let env = Env::new().await;
    let router = limited_router(
        &env,
        &frozen(RateLimits::new().plan("default", Limit::per_minute(5))),
    )
    .await;
    a_flood_does_not_throttle_another_tenant(&env, &router).await;
}

#[tokio::test]
async fn each_plan_gets_its_own_limits() {
    let env = Env::new().await;
    let limits = frozen(
        RateLimits::new()
            .plan("default", Limit::per_minute(2))
            .plan("pro", Limit::per_minute(6))
            .plan("internal", PlanLimits::unlimited()),
    );
    let router = limited_router(&env, &limits).await;
    let tenants = env.tenancy.tenants();
    let basic = env.tenant("basic").await;
    let pro = tenants
        .set_plan(env.tenant("pro").await.id, "pro")
        .await
        .unwrap();
    let internal = tenants
        .set_plan(env.tenant("internal").await.id, "internal")
        .await
        .unwrap();
    // A plan nobody configured falls back to `default`.
    let odd = tenants
        .set_plan(env.tenant("odd").await.id, "legacy")
        .await
        .unwrap();
    assert_eq!(allowed_of(&env, &router, &basic, 10).await, 2);
    assert_eq!(allowed_of(&env, &router, &pro, 10).await, 6);
    assert_eq!(allowed_of(&env, &router, &internal, 10).await, 10);
    assert_eq!(allowed_of(&env, &router, &odd, 10).await, 2);
    // Unlimited plans get no rate-limit fields.
    let (_, headers) = hit(&env, &router, &internal).await;
    assert!(!headers.contains_key("ratelimit") && !headers.contains_key("ratelimit-policy"));
}

#[tokio::test]
async fn a_new_plan_applies_to_the_next_request() {
    let env = Env::new().await;
    let limits = RateLimits::new()
        .plan("default", Limit::per_minute(100))
        .plan("pro", Limit::per_minute(1000));
    let router = limited_router(&env, &limits).await;
    let tenant = env.tenant("upgrader").await;
    let (_, headers) = hit(&env, &router, &tenant).await;
    assert_eq!(
        header(&headers, "ratelimit-policy"),
        "\"default\";q=100;w=60"
    );
    // The registry entry cached by that request is replaced, not left to expire.
    env.tenancy
        .tenants()
        .set_plan(tenant.id, "pro")
        .await
        .unwrap();
    let (_, headers) = hit(&env, &router, &tenant).await;
    assert_eq!(header(&headers, "ratelimit-policy"), "\"pro\";q=1000;w=60");
    let err = env
        .tenancy
        .tenants()
        .set_plan(tenant.id, "Not A Plan")
        .await
        .unwrap_err();
    assert_eq!(err.status(), 422);
}

#[tokio::test]
async fn headers_count_down_and_follow_the_draft() {
    let env = Env::new().await;
    let clock = ManualClock::at(MIDNIGHT + 1000);
    let limits = RateLimits::new()
        .plan(
            "default",
            Limit::per_minute(3).with_quota(Quota::per_day(100)),
        )
        .clock(clock);
    let router = limited_router(&env, &limits).await;
    let tenant = env.tenant("counted").await;
    let to_midnight = 86_400 - 1000;
    let mut seen = Vec::new();
    for _ in 0..4 {
        let (status, headers) = hit(&env, &router, &tenant).await;
        assert_eq!(
            header(&headers, "ratelimit-policy"),
            "\"default\";q=3;w=60, \"default-quota\";q=100;w=86400"
        );
        let value = header(&headers, "ratelimit").to_string();
        // `"default";r=R;t=T, "default-quota";r=R;t=T`
        let (rate, quota) = value.split_once(", ").unwrap();
        let quota_t: u64 = quota.rsplit_once(";t=").unwrap().1.parse().unwrap();
        assert_eq!(quota_t, to_midnight);
        let quota_r = quota
            .strip_prefix("\"default-quota\";r=")
            .unwrap()
            .split(';')
            .next()
            .unwrap()
            .to_string();
        seen.push((status, rate.to_string(), quota_r));
        if status == StatusCode::TOO_MANY_REQUESTS {
            assert_eq!(header(&headers, "retry-after"), "20");
        } else {
            assert!(!headers.contains_key("retry-after"));
        }
    }
    // One request every 20 s, a burst of 3: t is the time until the budget is full again,
    // or, with nothing left, until the next request is allowed.
    let expected = [
        (StatusCode::OK, "\"default\";r=2;t=20", "99"),
        (StatusCode::OK, "\"default\";r=1;t=40", "98"),
        (StatusCode::OK, "\"default\";r=0;t=20", "97"),
        (StatusCode::TOO_MANY_REQUESTS, "\"default\";r=0;t=20", "97"),
    ];
    for (got, want) in seen.iter().zip(expected) {
        assert_eq!((got.0, got.1.as_str(), got.2.as_str()), want);
    }
}

#[tokio::test]
async fn retry_after_is_honoured() {
    let env = Env::new().await;
    let clock = ManualClock::at(MIDNIGHT);
    let router = limited_router(
        &env,
        &RateLimits::new()
            .plan("default", Limit::per_second(1))
            .clock(clock.clone()),
    )
    .await;
    let tenant = env.tenant("patient").await;
    assert_eq!(hit(&env, &router, &tenant).await.0, StatusCode::OK);
    let (status, headers) = hit(&env, &router, &tenant).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    let wait: u64 = header(&headers, "retry-after").parse().unwrap();
    assert_eq!(wait, 1);
    clock.advance(Duration::from_secs(wait) - Duration::from_millis(1));
    assert_eq!(
        hit(&env, &router, &tenant).await.0,
        StatusCode::TOO_MANY_REQUESTS,
        "allowed before Retry-After"
    );
    clock.advance(Duration::from_millis(1));
    assert_eq!(hit(&env, &router, &tenant).await.0, StatusCode::OK);
}

#[tokio::test]
async fn a_used_up_quota_answers_429_until_its_window_ends() {
    let env = Env::new().await;
    let clock = ManualClock::at(MIDNIGHT + 600);
    let router = limited_router(
        &env,
        &RateLimits::new()
            .plan("default", Quota::per_hour(3))
            .clock(clock.clone()),
    )
    .await;
    let tenant = env.tenant("quota").await;
    assert_eq!(allowed_of(&env, &router, &tenant, 3).await, 3);
    let (status, headers) = hit(&env, &router, &tenant).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    let wait: u64 = header(&headers, "retry-after").parse().unwrap();
    assert_eq!(wait, 3000, "to the next hour");
    assert_eq!(
        header(&headers, "ratelimit-policy"),
        "\"default-quota\";q=3;w=3600"
    );
    assert!(header(&headers, "ratelimit").starts_with("\"default-quota\";r=0;t="));
    // Still used up a second before the hour, whole again at the hour.
    clock.advance(Duration::from_secs(wait - 1));
    assert_eq!(allowed_of(&env, &router, &tenant, 2).await, 0);
    clock.advance(Duration::from_secs(1));
    assert_eq!(allowed_of(&env, &router, &tenant, 4).await, 3);
}

#[tokio::test]
async fn the_429_is_a_problem_document() {
    let env = Env::new().await;
    let router = limited_router(
        &env,
        &RateLimits::new().plan("default", Limit::per_minute(1)),
    )
    .await;
    let tenant = env.tenant("problem").await;
    let token = env.token(&tenant);
    env.call(&router, "GET", "/projects", Some(&token), None)
        .await;
    let (status, body, headers) = env
        .call(&router, "GET", "/projects", Some(&token), None)
        .await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(header(&headers, "content-type"), "application/problem+json");
    assert_eq!(body["status"], 429);
    assert_eq!(body["title"], "Too Many Requests");
    assert_eq!(
        body["type"],
        "https://saas-framework.dev/problems/too-many-requests"
    );
    assert!(body["detail"].as_str().unwrap().contains("retry in"));
}

#[tokio::test]
async fn requests_without_tenant_credentials_are_not_limited() {
    let env = Env::new().await;
    let router = limited_router(
        &env,
        &RateLimits::new().plan("default", Limit::per_minute(1)),
    )
    .await;
    for token in [None, Some("not-a-jwt")] {
        for _ in 0..5 {
            let (status, body, headers) = env.call(&router, "GET", "/projects", token, None).await;
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
            assert!(!headers.contains_key("ratelimit"));
        }
    }
    // A suspended tenant still gets its 403, not a 429.
    let tenant = env.tenant("suspended").await;
    env.tenancy.tenants().suspend(tenant.id).await.unwrap();
    for _ in 0..3 {
        assert_eq!(hit(&env, &router, &tenant).await.0, StatusCode::FORBIDDEN);
    }
}

#[tokio::test]
async fn a_victims_subdomain_without_its_token_spends_none_of_its_budget() {
    use saas_core::tenancy::resolver::{JwtResolver, ResolverChain, SubdomainResolver};
    let db = saas_testkit::TestDb::new().await.unwrap();
    let resolvers = ResolverChain::new()
        .with(SubdomainResolver::new("example.test"))
        .with(JwtResolver::hs256(common::SECRET));
    let tenancy = db.tenancy(resolvers, Some(&MIGRATIONS)).await.unwrap();
    let env = Env { db, tenancy };
    let victim = env.tenant("victim").await;
    let router = limited_router(
        &env,
        &frozen(RateLimits::new().plan("default", Limit::per_minute(2))),
    )
    .await;
    for _ in 0..10 {
        let response = router
            .anonymous()
            .header("host", "victim.example.test")
            .get("/projects")
            .await;
        assert_eq!(response.status, StatusCode::UNAUTHORIZED);
        assert!(!response.headers.contains_key("ratelimit"));
    }
    // The victim's own budget is whole.
    assert_eq!(allowed_of(&env, &router, &victim, 3).await, 2);
}

#[tokio::test]
async fn the_handler_reuses_the_layers_tenant() {
    let env = Env::new().await;
    let router = limited_router(
        &env,
        &RateLimits::new().plan("default", Limit::per_minute(100)),
    )
    .await;
    let tenant = env.tenant("reused").await;
    let token = env.token(&tenant);
    let (status, body, _) = env
        .call(&router, "GET", "/whoami", Some(&token), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, "reused");
}

#[tokio::test]
async fn saas_app_installs_the_layer_on_the_apps_clock() {
    let env = Env::new().await;
    let clock = ManualClock::at(MIDNIGHT);
    let router = app_builder(&env)
        .rate_limits(RateLimits::new().plan("default", Limit::per_minute(2)))
        .clock(clock.clone())
        .build()
        .unwrap()
        .router()
        .await
        .unwrap();
    let router = env.serve(router).await;
    let tenant = env.tenant("built").await;
    assert_eq!(allowed_of(&env, &router, &tenant, 5).await, 2);
    // One request every 30 s: the builder's clock reached the limiter.
    clock.advance(Duration::from_secs(30));
    assert_eq!(allowed_of(&env, &router, &tenant, 5).await, 1);
}

saas_core::api_versions! {
    const VERSIONS = {
        1 => deprecated(since = "2026-01-01", sunset = "2099-06-30", docs = "https://example.com/v1-retirement"),
        2 => current,
    };
}

/// The calling tenant's id.
#[saas_core::endpoint(get, "/whoami", versions = 1.., tag = "whoami",
    responses((status = 200, body = String)))]
async fn versioned_whoami(tx: saas_core::tenancy::TenantTx) -> String {
    tx.tenant_id().to_string()
}

/// Versioned routes and plain routes share one limiter, and a 429 of a versioned route is
/// still a response of its version: `api-version`, and on a deprecated version its
/// `Deprecation`, `Sunset` and `Link` fields.
#[tokio::test]
async fn a_429_of_a_versioned_route_carries_its_versions_headers() {
    let env = Env::new().await;
    let router = app_builder(&env)
        .api(saas_core::routes!(VERSIONS; versioned_whoami))
        .rate_limits(RateLimits::new().plan("default", Limit::per_minute(3)))
        .clock(ManualClock::at(MIDNIGHT))
        .build()
        .unwrap()
        .router()
        .await
        .unwrap();
    let router = env.serve(router).await;
    let tenant = env.tenant("versioned").await;
    let token = env.token(&tenant);
    for uri in ["/v2/whoami", "/projects", "/v1/whoami"] {
        let (status, _, headers) = env.call(&router, "GET", uri, Some(&token), None).await;
        assert_eq!(status, StatusCode::OK, "{uri}");
        assert!(headers.contains_key("ratelimit"), "{uri}: {headers:?}");
    }
    let (status, _, headers) = env
        .call(&router, "GET", "/v2/whoami", Some(&token), None)
        .await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(header(&headers, "api-version"), "2");
    assert!(!headers.contains_key("deprecation"));
    let (status, _, headers) = env
        .call(&router, "GET", "/v1/whoami", Some(&token), None)
        .await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(header(&headers, "api-version"), "1");
    assert!(header(&headers, "deprecation").starts_with('@'));
    assert!(header(&headers, "sunset").ends_with("GMT"));
    let links: Vec<&str> = headers
        .get_all("link")
        .iter()
        .map(|v| v.to_str().unwrap())
        .collect();
    assert!(
        links
            .iter()
            .any(|l| l.contains("</v2/whoami>") && l.contains("successor-version")),
        "{links:?}"
    );
    assert!(
        links.iter().any(|l| l.contains("rel=\"deprecation\"")),
        "{links:?}"
    );
}

#[tokio::test]
async fn not_modified_revalidations_are_given_back() {
    let env = Env::new().await;
    let limits = frozen(RateLimits::new().plan(
        "default",
        Limit::per_minute(3).with_quota(Quota::per_hour(3)),
    ));
    let router = limited_router(&env, &limits).await;
    common::ratelimit::not_modified_revalidations_are_not_counted(&env, &router).await;
}
