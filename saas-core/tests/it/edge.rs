//! Shared caches only where a handler opts in, and per tenant: `EdgeCached` responses carry
//! `s-maxage` and the tenant's surrogate key; any other tenant response that says `public` or
//! `s-maxage` is sent private.

use crate::common;

use axum::routing::get;
use common::*;
use saas_core::http::edge::EdgeCached;
use saas_core::http::{Json, Path};
use saas_core::prelude::*;

/// A project, opted into shared caching for 60 s under its own key.
async fn cached_project(
    mut tx: TenantTx,
    Path(id): Path<Uuid>,
) -> ApiResult<EdgeCached<Json<Project>>> {
    let project = Project::get(&mut tx, id).await?;
    Ok(EdgeCached::new(Json(project), 60).key(format!("project-{id}")))
}

/// A handler that marks a tenant's data public by mistake.
async fn leaky(
    mut tx: TenantTx,
) -> ApiResult<([(http::HeaderName, &'static str); 2], Json<Page<Project>>)> {
    let page = Project::list(&mut tx, PageRequest::first()).await?;
    Ok((
        [
            (
                http::header::CACHE_CONTROL,
                "public, max-age=3600, s-maxage=3600",
            ),
            (saas_core::http::edge::SURROGATE_KEY, "all-projects"),
        ],
        Json(page),
    ))
}

#[tokio::test]
async fn only_opted_in_responses_reach_shared_caches_and_each_under_its_tenants_key() {
    let env = Env::new().await;
    let (a, b) = (env.tenant("acme").await, env.tenant("globex").await);
    let routes = routes()
        .route("/cached/{id}", get(cached_project))
        .route("/leaky", get(leaky));
    let app = env.serve_routes(routes).await;
    let (ta, tb) = (env.token(&a), env.token(&b));
    let mut ids = Vec::new();
    for token in [&ta, &tb] {
        let id = post_project(&app.with_token(token.as_str()), "edge").await;
        ids.push(id);
    }
    for ((tenant, token), id) in [(&a, &ta), (&b, &tb)].into_iter().zip(&ids) {
        let cached = app
            .with_token(token.as_str())
            .get(&format!("/cached/{id}"))
            .await;
        cached.assert_status(200);
        assert_eq!(cached.headers["cache-control"], "max-age=0, s-maxage=60");
        assert_eq!(
            cached.headers["surrogate-key"],
            format!("tenant-{} project-{id}", tenant.id).as_str(),
            "the tenant's own key first"
        );
        assert!(
            cached
                .headers
                .get_all("vary")
                .iter()
                .any(|v| v == "Authorization"),
            "an edge must not hand it to another credential"
        );
        // Revalidation keeps the edge's headers.
        let etag = cached.headers["etag"].to_str().unwrap().to_string();
        let revalidated = app
            .with_token(token.as_str())
            .header("if-none-match", etag.as_str())
            .get(&format!("/cached/{id}"))
            .await;
        revalidated.assert_status(304);
        assert_eq!(
            revalidated.headers["cache-control"],
            "max-age=0, s-maxage=60"
        );
        // The mistake is caught: private, and no surrogate key that could purge across tenants.
        let leaked = app.with_token(token.as_str()).get("/leaky").await;
        leaked.assert_status(200);
        assert_eq!(leaked.headers["cache-control"], "private, no-cache");
        assert!(leaked.headers.get("surrogate-key").is_none());
    }
    // Another tenant asking for the opted-in resource gets its own 404, private.
    let foreign = app
        .with_token(tb.as_str())
        .get(&format!("/cached/{}", ids[0]))
        .await;
    foreign.assert_status(404);
    assert_eq!(foreign.headers["cache-control"], "private, no-cache");
    assert!(foreign.headers.get("surrogate-key").is_none());
}
