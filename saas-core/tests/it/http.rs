//! The HTTP face of tenancy: tokens select the tenant, bad credentials are 401 problems,
//! transactions commit with the response, and concurrent tenants never see each other.

use crate::common;

use std::collections::HashMap;

use common::*;
use saas_core::prelude::*;
use saas_core::tenancy::resolver::{JwtResolver, ResolverChain, SubdomainResolver};

fn assert_problem(
    status: http::StatusCode,
    headers: &http::HeaderMap,
    body: &serde_json::Value,
    expected: u16,
) {
    assert_eq!(status.as_u16(), expected, "{body}");
    assert_eq!(
        headers.get("content-type").unwrap(),
        "application/problem+json",
        "{body}"
    );
    for field in ["type", "title", "status", "detail"] {
        assert!(body.get(field).is_some(), "problem lacks {field}: {body}");
    }
    assert_eq!(body["status"], expected);
}

#[tokio::test]
async fn forged_expired_and_missing_tokens_are_401_problems() {
    let env = Env::new().await;
    let a = env.tenant("acme").await;
    let app = env.app().await;
    let forged = saas_core::tenancy::resolver::JwtIssuer::hs256("another-secret-another-secret-xx")
        .issue(a.id, "mallory", 600)
        .unwrap();
    let expired = {
        use jsonwebtoken::{EncodingKey, Header, encode};
        let claims =
            serde_json::json!({"tenant_id": a.id.to_string(), "sub": "x", "exp": 1_000_000_000});
        encode(
            &Header::default(),
            &claims,
            &EncodingKey::from_secret(SECRET.as_bytes()),
        )
        .unwrap()
    };
    let unknown_tenant = saas_core::tenancy::resolver::JwtIssuer::hs256(SECRET)
        .issue(TenantId::new_random(), "x", 600)
        .unwrap();
    for (why, token) in [
        ("forged", Some(forged.as_str())),
        ("expired", Some(expired.as_str())),
        ("unknown tenant", Some(unknown_tenant.as_str())),
        ("garbage", Some("abc.def.ghi")),
        ("missing", None),
    ] {
        let (status, body, headers) = env.call(&app, "GET", "/projects", token, None).await;
        assert_problem(status, &headers, &body, 401);
        assert!(!body["detail"].as_str().unwrap().is_empty(), "{why}");
    }
}

#[tokio::test]
async fn a_subdomain_never_authenticates_and_must_match_the_token() {
    let db = saas_testkit::TestDb::new().await.unwrap();
    let resolvers = ResolverChain::new()
        .with(JwtResolver::hs256(SECRET))
        .with(SubdomainResolver::new("example.test"));
    let tenancy = db.tenancy(resolvers, Some(&MIGRATIONS)).await.unwrap();
    let env = Env { db, tenancy };
    let (a, b) = (env.tenant("acme").await, env.tenant("globex").await);
    let app = env.app().await;
    let token = env.token(&a);
    let status = |host: &'static str, token: Option<&str>| {
        let client = match token {
            Some(token) => app.with_token(token),
            None => app.anonymous(),
        };
        async move { client.header("host", host).get("/projects").await.status }
    };
    assert_eq!(status("acme.example.test", Some(&token)).await, 200);
    assert_eq!(status("globex.example.test", Some(&token)).await, 401);
    // A host alone is no credential: without a token, every tenant's subdomain is a 401.
    for host in [
        "globex.example.test",
        "acme.example.test",
        "nobody.example.test",
    ] {
        assert_eq!(status(host, None).await, 401, "{host} without a token");
    }
    let _ = b;
}

#[tokio::test]
async fn two_credentials_must_name_the_same_tenant() {
    use saas_core::tenancy::resolver::HeaderResolver;
    let db = saas_testkit::TestDb::new().await.unwrap();
    let resolvers = ResolverChain::new().with(JwtResolver::hs256(SECRET)).with(
        HeaderResolver::trusted_internal_only(http::HeaderName::from_static("x-tenant-id")),
    );
    let tenancy = db.tenancy(resolvers, Some(&MIGRATIONS)).await.unwrap();
    let env = Env { db, tenancy };
    let (a, b) = (env.tenant("acme").await, env.tenant("globex").await);
    let app = env.app().await;
    let token = env.token(&a);
    for (header, expected) in [(a.id, 200), (b.id, 401)] {
        let response = app
            .with_token(&token)
            .header("x-tenant-id", header.to_string())
            .get("/projects")
            .await;
        assert_eq!(response.status, expected, "token for acme, header {header}");
    }
}

#[tokio::test]
async fn suspended_tenant_gets_403_problem() {
    let env = Env::new().await;
    let a = env.tenant("acme").await;
    let app = env.app().await;
    let token = env.token(&a);
    env.tenancy.tenants().suspend(a.id).await.unwrap();
    let (status, body, headers) = env.call(&app, "GET", "/projects", Some(&token), None).await;
    assert_problem(status, &headers, &body, 403);
    env.tenancy.tenants().activate(a.id).await.unwrap();
    let (status, _, _) = env.call(&app, "GET", "/projects", Some(&token), None).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn tenant_id_in_the_body_or_query_never_selects_the_tenant() {
    let env = Env::new().await;
    let (a, b) = (env.tenant("acme").await, env.tenant("globex").await);
    let app = env.app().await;
    let body = serde_json::json!({"name": "x", "tenant_id": b.id.to_string()});
    let (status, created, _) = env
        .call(
            &app,
            "POST",
            &format!("/projects?tenant_id={}", b.id),
            Some(&env.token(&a)),
            Some(body),
        )
        .await;
    assert_eq!(status, 201);
    assert_eq!(created["tenant_id"], a.id.to_string());
}

#[tokio::test]
async fn handler_success_commits_and_failure_rolls_back() {
    let env = Env::new().await;
    let a = env.tenant("acme").await;
    let app = env.app().await;
    let token = env.token(&a);
    let (status, _, _) = env
        .call(
            &app,
            "POST",
            "/projects",
            Some(&token),
            Some(serde_json::json!({"name": "kept"})),
        )
        .await;
    assert_eq!(status, 201);
    let (status, _, _) = env
        .call(
            &app,
            "POST",
            "/projects",
            Some(&token),
            Some(serde_json::json!({"name": "lost", "fail_after_insert": true})),
        )
        .await;
    assert_eq!(status, 422);
    let (_, list, _) = env.call(&app, "GET", "/projects", Some(&token), None).await;
    let names: Vec<&str> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, vec!["kept"]);
}

#[tokio::test]
async fn bad_input_is_a_4xx_problem_never_a_5xx() {
    let env = Env::new().await;
    let a = env.tenant("acme").await;
    let app = env.app().await;
    let token = env.token(&a);
    let json = "application/json";
    // (method, uri, body with its content type, expected status); the client declares each
    // body's Content-Length, so the oversized one is refused before it is read.
    type Case<'a> = (&'a str, &'a str, Option<(&'a str, Vec<u8>)>, u16);
    let cases: Vec<Case<'_>> = vec![
        (
            "POST",
            "/projects",
            Some((json, b"{not json".to_vec())),
            400,
        ),
        (
            "POST",
            "/projects",
            Some(("text/plain", b"{}".to_vec())),
            415,
        ),
        (
            "POST",
            "/projects",
            Some((json, b"{\"name\": 5}".to_vec())),
            422,
        ),
        (
            "POST",
            "/projects",
            Some((json, vec![b' '; 2 * 1024 * 1024])),
            413,
        ),
        ("GET", "/projects/not-a-uuid", None, 404),
        ("GET", "/projects?limit=1000", None, 422),
        ("GET", "/projects?cursor=%%%", None, 422),
        ("GET", "/nowhere", None, 404),
        ("PUT", "/projects", None, 405),
    ];
    for (method, uri, body, expected) in cases {
        let what = format!("{method} {uri}");
        let response = app.with_token(&token).send_bytes(method, uri, body).await;
        assert_eq!(response.status, expected, "{what}");
        assert!(response.is_problem(), "{what}: {}", response.text());
    }
}

/// 1,000 interleaved requests from 20 tenants over a pool of 4 connections: every response
/// holds only its own tenant's rows. Run without tenant-bound connections, with 3 bound
/// tenants, and with every tenant bound but 5 bound connections for all of them (which are
/// never exceeded).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_requests_of_many_tenants_never_mix() {
    for (bound, budget) in [(0usize, 32u32), (3, 32), (20, 5)] {
        let env = Env::with_config(|c| {
            c.request_pool_size(4)
                .bound_tenants(bound)
                .bound_connections(budget)
        })
        .await;
        let app = std::sync::Arc::new(env.app().await);
        let mut tenants = Vec::new();
        let mut expected: HashMap<String, usize> = HashMap::new();
        for i in 0..20 {
            let t = env.tenant(&format!("tenant-{i}")).await;
            let token = env.token(&t);
            let rows = 1 + i % 4;
            for r in 0..rows {
                let (status, _, _) = env
                    .call(
                        &app,
                        "POST",
                        "/projects",
                        Some(&token),
                        Some(serde_json::json!({"name": format!("{}-{r}", t.id)})),
                    )
                    .await;
                assert_eq!(status, 201);
            }
            expected.insert(t.id.to_string(), rows);
            tenants.push((t, token));
        }
        let env = std::sync::Arc::new(env);
        let most = std::sync::Arc::new(std::sync::atomic::AtomicU32::new(0));
        let sampler = {
            let (env, most) = (env.clone(), most.clone());
            tokio::spawn(async move {
                loop {
                    let now = env.tenancy.bound_pools().connections();
                    most.fetch_max(now, std::sync::atomic::Ordering::Relaxed);
                    tokio::time::sleep(std::time::Duration::from_micros(200)).await;
                }
            })
        };
        let mut handles = Vec::new();
        for n in 0..1000 {
            let (tenant, token) = tenants[(n * 7) % tenants.len()].clone();
            let app = app.clone();
            let env = env.clone();
            let want = expected[&tenant.id.to_string()];
            handles.push(tokio::spawn(async move {
                let uri = if n % 2 == 0 {
                    "/projects"
                } else {
                    "/raw/projects"
                };
                let (status, body, _) = env.call(&app, "GET", uri, Some(&token), None).await;
                assert_eq!(status, 200, "{body}");
                let me = tenant.id.to_string();
                if n % 2 == 0 {
                    let items = body["items"].as_array().unwrap();
                    assert_eq!(items.len(), want);
                    for p in items {
                        assert_eq!(p["tenant_id"], me.as_str());
                        assert!(p["name"].as_str().unwrap().starts_with(&me));
                    }
                } else {
                    let rows = body.as_array().unwrap();
                    assert_eq!(rows.len(), want);
                    for row in rows {
                        assert_eq!(row[0], me.as_str());
                    }
                }
            }));
        }
        for h in handles {
            h.await.unwrap();
        }
        sampler.abort();
        let most = most.load(std::sync::atomic::Ordering::Relaxed);
        assert!(most <= budget, "{most} bound connections, budget {budget}");
        if bound > 0 {
            assert!(env.tenancy.bound_pools().len() <= bound);
            // On Citus no connection is bound (the setting would stay on the coordinator).
            assert_eq!(
                most > 0,
                !env.tenancy.distributed(),
                "bound connections used: {most}"
            );
        }
    }
}

/// A handler that writes and answers with a redirect commits its write, like any success;
/// the write is its tenant's only.
#[tokio::test]
async fn a_write_answered_with_a_redirect_is_committed() {
    async fn create_then_redirect(mut tx: TenantTx) -> ApiResult<axum::response::Redirect> {
        let project = Project::insert(
            &mut tx,
            NewProject {
                name: "moved".into(),
            },
        )
        .await?;
        Ok(axum::response::Redirect::to(&format!(
            "/projects/{}",
            project.id
        )))
    }
    let env = Env::new().await;
    let (acme, globex) = (env.tenant("acme").await, env.tenant("globex").await);
    let redirecting = env
        .serve(saas_core::app::wrap_router(
            axum::Router::new().route("/redirect", axum::routing::post(create_then_redirect)),
            &env.tenancy,
            saas_core::app::DEFAULT_BODY_LIMIT,
        ))
        .await;
    let (status, _, headers) = env
        .call(
            &redirecting,
            "POST",
            "/redirect",
            Some(&env.token(&acme)),
            None,
        )
        .await;
    assert_eq!(status, 303);
    let location = headers["location"].to_str().unwrap().to_string();
    let (status, body, _) = env
        .call(
            &env.app().await,
            "GET",
            &location,
            Some(&env.token(&acme)),
            None,
        )
        .await;
    assert_eq!(
        (status, body["name"].as_str()),
        (http::StatusCode::OK, Some("moved"))
    );
    let (status, _, _) = env
        .call(
            &env.app().await,
            "GET",
            &location,
            Some(&env.token(&globex)),
            None,
        )
        .await;
    assert_eq!(status, 404);
}

fn header<'a>(response: &'a saas_testkit::TestResponse, name: &str) -> &'a str {
    response
        .headers
        .get(name)
        .unwrap_or_else(|| panic!("{} has no {name}", response.request))
        .to_str()
        .unwrap()
}

#[tokio::test]
async fn tenant_gets_carry_a_strong_etag_and_revalidate_to_304_for_their_tenant_only() {
    let env = Env::new().await;
    let a = env.tenant("acme").await;
    let b = env.tenant("globex").await;
    let app = env.app().await;
    let (ta, tb) = (env.token(&a), env.token(&b));
    let acme = app.with_token(ta.as_str());
    let id = post_project(&acme, "one").await;
    let path = format!("/projects/{id}");

    let first = acme.get(&path).await;
    first.assert_status(200);
    let etag = header(&first, "etag").to_string();
    assert!(
        etag.starts_with('"') && etag.ends_with('"'),
        "a strong tag: {etag}"
    );
    assert_eq!(header(&first, "cache-control"), "private, no-cache");
    assert!(header(&first, "vary").contains("Authorization"));
    // Unchanged: the same tag, and the client's copy is still good.
    let again = acme.get(&path).await;
    assert_eq!(header(&again, "etag"), etag);
    let revalidated = app
        .with_token(ta.as_str())
        .header("if-none-match", etag.as_str())
        .get(&path)
        .await;
    revalidated.assert_status(304);
    assert_eq!(header(&revalidated, "etag"), etag);
    assert!(revalidated.body.is_empty());
    assert_eq!(header(&revalidated, "cache-control"), "private, no-cache");
    // Another tenant sending the same path and tag learns nothing: 404, never 304.
    let other = app
        .with_token(tb.as_str())
        .header("if-none-match", etag.as_str())
        .get(&path)
        .await;
    other.assert_status(404);
    assert!(
        other.headers.get("etag").is_none(),
        "a problem carries no tag"
    );
    // Lists too: a change gives a new tag and a 200 to the old one.
    let list = acme.get("/projects").await;
    let list_tag = header(&list, "etag").to_string();
    assert_ne!(list_tag, etag);
    app.with_token(ta.as_str())
        .header("if-none-match", list_tag.as_str())
        .get("/projects")
        .await
        .assert_status(304);
    acme.post("/projects", serde_json::json!({ "name": "two" }))
        .await
        .assert_status(201);
    let changed = app
        .with_token(ta.as_str())
        .header("if-none-match", list_tag.as_str())
        .get("/projects")
        .await;
    changed.assert_status(200);
    assert_ne!(header(&changed, "etag"), list_tag);
    assert_eq!(changed.value()["items"].as_array().unwrap().len(), 2);
    // A write's response is private too, and carries no tag.
    let deleted = acme.delete(&path).await;
    deleted.assert_status(204);
    assert_eq!(header(&deleted, "cache-control"), "private, no-cache");
    assert!(deleted.headers.get("etag").is_none());
}

#[tokio::test]
async fn responses_without_a_tenant_are_left_alone() {
    let env = Env::new().await;
    let app = env.app().await;
    let response = app.anonymous().get("/projects").await;
    response.assert_status(401);
    assert!(response.headers.get("etag").is_none());
    assert!(response.headers.get("cache-control").is_none());
}
