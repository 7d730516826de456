//! Routers with the rate-limit layer, and checks shared by the memory and Redis backends.

use axum::Extension;
use axum::routing::get;
use http::StatusCode;
use saas_core::ratelimit::{RateLimitLayer, RateLimits};
use saas_core::tenancy::registry::Tenant;
use saas_core::tenancy::resolver::TenantCtx;
use saas_testkit::TestApp;

use super::Env;

/// Answers the slug of the tenant the rate-limit layer resolved (an `Extension`, so it fails
/// unless the layer handed the context on).
async fn whoami(Extension(ctx): Extension<TenantCtx>) -> String {
    ctx.tenant.slug
}

/// The test routes plus `/whoami`, limited by `limits`, wrapped like an application's and
/// served.
pub async fn limited_router(env: &Env, limits: &RateLimits) -> TestApp {
    let routes = super::routes()
        .route("/whoami", get(whoami))
        .layer(RateLimitLayer::new(limits));
    env.serve(saas_core::app::wrap_router(
        routes,
        &env.tenancy,
        saas_core::app::DEFAULT_BODY_LIMIT,
    ))
    .await
}

/// One GET of the tenant's projects: status and headers.
pub async fn hit(env: &Env, router: &TestApp, tenant: &Tenant) -> (StatusCode, http::HeaderMap) {
    let token = env.token(tenant);
    let (status, _, headers) = env
        .call(router, "GET", "/projects", Some(&token), None)
        .await;
    (status, headers)
}

/// How many of `n` requests are allowed; every other one must be a 429 (never a 5xx).
pub async fn allowed_of(env: &Env, router: &TestApp, tenant: &Tenant, n: usize) -> usize {
    let mut allowed = 0;
    for _ in 0..n {
        match hit(env, router, tenant).await.0 {
            StatusCode::OK => allowed += 1,
            StatusCode::TOO_MANY_REQUESTS => {}
            other => panic!("unexpected status {other}"),
        }
    }
    allowed
}

/// Tenant A floods (20 requests on a budget of 5) while B, on the same plan, sends within
/// its own budget between A's requests: A is cut off after 5, B never is.
pub async fn a_flood_does_not_throttle_another_tenant(env: &Env, router: &TestApp) {
    let (a, b) = (env.tenant("flooder").await, env.tenant("bystander").await);
    let mut a_statuses = Vec::new();
    for i in 0..20 {
        a_statuses.push(hit(env, router, &a).await.0);
        if i % 4 == 0 {
            let (status, headers) = hit(env, router, &b).await;
            assert_eq!(status, StatusCode::OK, "B throttled after A's request {i}");
            assert!(headers.contains_key("ratelimit"));
        }
    }
    let ok = a_statuses.iter().filter(|s| **s == StatusCode::OK).count();
    assert_eq!(ok, 5, "{a_statuses:?}");
    assert!(
        a_statuses[5..]
            .iter()
            .all(|s| *s == StatusCode::TOO_MANY_REQUESTS),
        "{a_statuses:?}"
    );
}
