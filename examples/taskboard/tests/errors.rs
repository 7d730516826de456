//! Every error case of the contract, on the taskboard's own routes: always a 4xx
//! problem+json, never a 5xx.

use axum::Router;
use axum::body::Body;
use http::Request;
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;

const ADMIN: &str = "admin-token-for-tests";
const SECRET: &str = "jwt-secret-for-tests-0123456789abcdef";

async fn app() -> (Router, saas_testkit::TestDb, String, String) {
    let db = saas_testkit::TestDb::new().await.unwrap();
    let settings = taskboard::Settings::new(ADMIN, SECRET);
    let saas_core::app::Running {
        tenancy, router, ..
    } = taskboard::app(settings)
        .config(db.config())
        .build()
        .unwrap()
        .start()
        .await
        .unwrap();
    let tenant = tenancy
        .tenants()
        .create(saas_core::tenancy::registry::NewTenant {
            slug: "acme".into(),
            name: "Acme".into(),
            tier: None,
            server: None,
        })
        .await
        .unwrap();
    let token = saas_core::tenancy::resolver::JwtIssuer::hs256(SECRET)
        .issue(tenant.id, "alice", 600)
        .unwrap();
    (router, db, token, tenant.id.to_string())
}

async fn send(router: &Router, request: Request<Body>) -> (u16, Value) {
    let response = router.clone().oneshot(request).await.unwrap();
    let status = response.status().as_u16();
    if status >= 400 {
        assert_eq!(
            response.headers()["content-type"],
            "application/problem+json",
            "status {status}"
        );
    }
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

fn get(uri: &str, auth: Option<&str>) -> Request<Body> {
    let mut r = Request::builder().uri(uri);
    if let Some(a) = auth {
        r = r.header("authorization", a);
    }
    r.body(Body::empty()).unwrap()
}

fn sign(claims: Value, alg: jsonwebtoken::Algorithm, secret: &str) -> String {
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(alg),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()),
    )
    .unwrap()
}

#[tokio::test]
async fn bad_credentials_are_401() {
    let (router, _db, token, tenant) = app().await;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let expired = sign(
        json!({"tenant_id": tenant, "sub": "a", "exp": now - 3600}),
        jsonwebtoken::Algorithm::HS256,
        SECRET,
    );
    let forged = sign(
        json!({"tenant_id": tenant, "sub": "a", "exp": now + 600}),
        jsonwebtoken::Algorithm::HS256,
        "not-the-secret-at-all-0123456789",
    );
    let none = {
        use base64::Engine;
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        format!(
            "{}.{}.",
            b64.encode(br#"{"alg":"none","typ":"JWT"}"#),
            b64.encode(json!({"tenant_id": tenant, "exp": now + 600}).to_string())
        )
    };
    for auth in [
        None,
        Some("Bearer".to_string()),
        Some("Basic abc".to_string()),
        Some("Bearer not-a-jwt".to_string()),
        Some(format!("Bearer {expired}")),
        Some(format!("Bearer {forged}")),
        Some(format!("Bearer {none}")),
    ] {
        for uri in ["/v2/projects", "/v1/projects"] {
            let (status, body) = send(&router, get(uri, auth.as_deref())).await;
            assert_eq!(status, 401, "{uri} with {auth:?}: {body}");
        }
    }
    let (status, _) = send(
        &router,
        get("/v2/projects", Some(&format!("Bearer {token}"))),
    )
    .await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn malformed_bodies_methods_and_paths_are_4xx_problems() {
    let (router, _db, token, _) = app().await;
    let bearer = format!("Bearer {token}");
    let post = |ct: Option<&str>, body: Vec<u8>| {
        let mut r = Request::builder()
            .method("POST")
            .uri("/v2/projects")
            .header("authorization", bearer.clone());
        if let Some(ct) = ct {
            r = r.header("content-type", ct);
        }
        r.body(Body::from(body)).unwrap()
    };
    let (s, _) = send(
        &router,
        post(Some("application/json"), b"{\"name\":".to_vec()),
    )
    .await;
    assert!(s == 400 || s == 422, "{s}");
    let (s, _) = send(
        &router,
        post(Some("text/plain"), b"{\"name\":\"x\"}".to_vec()),
    )
    .await;
    assert_eq!(s, 415);
    let mut big = post(Some("application/json"), vec![b' '; 1024 * 1024 + 10]);
    big.headers_mut()
        .insert("content-length", http::HeaderValue::from(1024 * 1024 + 10));
    let (s, _) = send(&router, big).await;
    assert_eq!(s, 413);
    let (s, _) = send(
        &router,
        post(Some("application/json"), b"{\"name\":\"\"}".to_vec()),
    )
    .await;
    assert_eq!(s, 422);
    let put = Request::builder()
        .method("PUT")
        .uri("/v2/projects")
        .header("authorization", bearer.clone())
        .body(Body::empty())
        .unwrap();
    let (s, _) = send(&router, put).await;
    assert!(s == 404 || s == 405, "{s}");
    let (s, body) = send(&router, get("/v9/projects", Some(&bearer))).await;
    assert_eq!(s, 404);
    assert!(body["detail"].as_str().unwrap().contains("1, 2"));
    let (s, _) = send(&router, get("/v2/projects/not-a-uuid", Some(&bearer))).await;
    assert_eq!(s, 404);
}

#[tokio::test]
async fn a_tenant_id_outside_the_token_never_selects_the_tenant() {
    let (router, _db, token, tenant) = app().await;
    let other = uuid::Uuid::new_v4();
    let request = Request::builder()
        .method("POST")
        .uri(format!("/v2/projects?tenant_id={other}"))
        .header("authorization", format!("Bearer {token}"))
        .header("x-tenant-id", other.to_string())
        .header("content-type", "application/json")
        .body(Body::from(
            json!({"name": "mine", "tenant_id": other}).to_string(),
        ))
        .unwrap();
    let (s, project) = send(&router, request).await;
    assert_eq!(s, 201);
    let (_, list) = send(
        &router,
        get("/v2/projects", Some(&format!("Bearer {token}"))),
    )
    .await;
    assert_eq!(list["items"][0]["id"], project["id"]);
    let _ = tenant;
}
