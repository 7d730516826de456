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

/// A revalidation answered `304 Not Modified` is given back to the tenant's budget (rate and
/// quota): with a budget of 3, any number of 304s leave room for the 200s. The `RateLimit`
/// field of the 304 says what is left after the refund.
pub async fn not_modified_revalidations_are_not_counted(env: &Env, router: &TestApp) {
    let tenant = env.tenant("revalidator").await;
    let token = env.token(&tenant);
    let client = router.with_token(token.as_str());
    let first = client.get("/projects").await;
    first.assert_status(200);
    let etag = first.headers["etag"].to_str().unwrap().to_string();
    let left =
        |r: &saas_testkit::TestResponse| r.headers["ratelimit"].to_str().unwrap().to_string();
    let after_first = left(&first);
    for _ in 0..5 {
        let revalidated = client
            .clone()
            .header("if-none-match", etag.as_str())
            .get("/projects")
            .await;
        revalidated.assert_status(304);
        assert_eq!(left(&revalidated), after_first, "a 304 costs nothing");
    }
    // The budget of 3 still holds the two requests the 304s did not spend.
    assert_eq!(allowed_of(env, router, &tenant, 3).await, 2);
    // A revalidation that does not match is a 200 and counts like any request: none left.
    let changed = client
        .clone()
        .header("if-none-match", "\"another\"")
        .get("/projects")
        .await;
    changed.assert_status(429);
}
