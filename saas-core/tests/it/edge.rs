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

saas_core::api_versions! {
    const VERSIONS = {
        1 => current,
    };
}

/// A project's name, opted into the edge by the handler and declared so.
#[saas_core::endpoint(get, "/declared/{id}", versions = 1.., cache = edge,
    responses((status = 200, body = String)))]
async fn declared_edge(mut tx: TenantTx, Path(id): Path<Uuid>) -> ApiResult<EdgeCached<String>> {
    let project = Project::get(&mut tx, id).await?;
    Ok(EdgeCached::new(project.name, 60).key(format!("project-{id}")))
}

/// The same handler on an endpoint that does not declare `cache = edge`.
#[saas_core::endpoint(get, "/undeclared/{id}", versions = 1..,
    responses((status = 200, body = String)))]
async fn undeclared_edge(mut tx: TenantTx, Path(id): Path<Uuid>) -> ApiResult<EdgeCached<String>> {
    let project = Project::get(&mut tx, id).await?;
    Ok(EdgeCached::new(project.name, 60).key(format!("project-{id}")))
}

/// A project's name that no cache may keep.
#[saas_core::endpoint(get, "/unstored/{id}", versions = 1.., cache = no_store,
    responses((status = 200, body = String)))]
async fn unstored(mut tx: TenantTx, Path(id): Path<Uuid>) -> ApiResult<String> {
    Ok(Project::get(&mut tx, id).await?.name)
}

/// A project's name the client may reuse for 30 s.
#[saas_core::endpoint(get, "/settled/{id}", versions = 1.., cache = private(max_age = 30),
    responses((status = 200, body = String)))]
async fn settled(mut tx: TenantTx, Path(id): Path<Uuid>) -> ApiResult<String> {
    Ok(Project::get(&mut tx, id).await?.name)
}

/// Versioned endpoints declare their cache policy (`cache = ..`): only one declaring `edge`
/// reaches shared caches (and under the caller's tenant key), an undeclared `EdgeCached` is
/// sent private, and `no_store` / `private(max_age)` become the responses' `Cache-Control`.
/// Another tenant asking for the same ids gets its own 404, private, in every case.
#[tokio::test]
async fn declared_cache_policies_decide_what_reaches_shared_caches() {
    let env = Env::new().await;
    let api = saas_core::routes!(VERSIONS; declared_edge, undeclared_edge, unstored, settled);
    let app = serve_api(&env, api).await;
    let (a, b) = (env.tenant("acme").await, env.tenant("globex").await);
    let (ta, tb) = (env.token(&a), env.token(&b));
    let id = post_project(&app.with_token(ta.as_str()), "declared").await;

    let declared = app
        .with_token(ta.as_str())
        .get(&format!("/v1/declared/{id}"))
        .await;
    declared.assert_status(200);
    assert_eq!(declared.headers["cache-control"], "max-age=0, s-maxage=60");
    assert_eq!(
        declared.headers["surrogate-key"],
        format!("tenant-{} project-{id}", a.id).as_str()
    );
    let expected = [
        ("undeclared", "private, no-cache"),
        ("unstored", "no-store"),
        ("settled", "private, max-age=30"),
    ];
    for (route, control) in expected {
        let response = app
            .with_token(ta.as_str())
            .get(&format!("/v1/{route}/{id}"))
            .await;
        response.assert_status(200);
        assert_eq!(response.headers["cache-control"], control, "{route}");
        assert!(response.headers.get("surrogate-key").is_none(), "{route}");
    }
    for route in ["declared", "undeclared", "unstored", "settled"] {
        let foreign = app
            .with_token(tb.as_str())
            .get(&format!("/v1/{route}/{id}"))
            .await;
        foreign.assert_status(404);
        assert!(
            !foreign.headers["cache-control"]
                .to_str()
                .unwrap()
                .contains("s-maxage"),
            "{route}"
        );
        assert!(foreign.headers.get("surrogate-key").is_none(), "{route}");
    }
}

/// A `public` policy on a tenant route never serves: `routes!` refuses it at compile time
/// (see saas-macros' UI tests) and the builder at boot, for an API assembled by hand.
#[tokio::test]
async fn the_builder_refuses_a_public_policy_on_a_tenant_route() {
    use saas_core::versioning::{Api, ApiVersion, CachePolicy, EndpointDecl, EndpointEntry};
    let env = Env::new().await;
    static PUBLIC: EndpointDecl = EndpointDecl {
        name: "settled",
        method: "GET",
        path: "/settled/{id}",
        introduced: ApiVersion::Int(1),
        removed: None,
        deprecated: None,
        sunset: None,
        docs: None,
        successor: None,
        cache: CachePolicy::Public(3600),
        require_if_match: false,
    };
    let entry = EndpointEntry {
        decl: &PUBLIC,
        ..EndpointEntry::of::<__endpoint_settled>()
    };
    let Err(err) = app_builder(&env)
        .api(Api::new(VERSIONS, vec![entry]))
        .build()
    else {
        panic!("a public tenant route is refused at boot");
    };
    let message = err.to_string();
    assert!(
        message.contains("settled") && message.contains("cache = public"),
        "{message}"
    );
    // The same declaration with the default policy builds.
    static PRIVATE: EndpointDecl = EndpointDecl {
        cache: CachePolicy::Private,
        ..PUBLIC
    };
    let entry = EndpointEntry {
        decl: &PRIVATE,
        ..EndpointEntry::of::<__endpoint_settled>()
    };
    app_builder(&env)
        .api(Api::new(VERSIONS, vec![entry]))
        .build()
        .expect("the private declaration builds");
}
