//! Every error case of the contract, on the taskboard's own routes: always a 4xx
//! problem+json, never a 5xx.

use crate::common;

use common::{App, SECRET};
use serde_json::{Value, json};

async fn app() -> (App, String, String) {
    let app = App::new().await;
    let (tenant, token) = app.tenant("acme").await;
    (app, token, tenant)
}

/// Sends a request with this `Authorization` header (as written) and this body
/// (`(content type, bytes)`); every 4xx and 5xx must be a problem document.
async fn send(
    app: &App,
    method: &str,
    uri: &str,
    auth: Option<&str>,
    body: Option<(&str, Vec<u8>)>,
) -> (u16, Value) {
    let mut client = app.client(None);
    if let Some(auth) = auth {
        client = client.header("authorization", auth);
    }
    let response = client.send_bytes(method, uri, body).await;
    response.assert_problem_if_error();
    (response.status, response.value())
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
    let (app, token, tenant) = app().await;
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
            let (status, body) = send(&app, "GET", uri, auth.as_deref(), None).await;
            assert_eq!(status, 401, "{uri} with {auth:?}: {body}");
        }
    }
    let bearer = format!("Bearer {token}");
    let (status, _) = send(&app, "GET", "/v2/projects", Some(&bearer), None).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn malformed_bodies_methods_and_paths_are_4xx_problems() {
    let (app, token, _) = app().await;
    let bearer = format!("Bearer {token}");
    let post = |ct: &'static str, body: &[u8]| {
        send(
            &app,
            "POST",
            "/v2/projects",
            Some(&bearer),
            Some((ct, body.to_vec())),
        )
    };
    let (s, _) = post("application/json", b"{\"name\":").await;
    assert!(s == 400 || s == 422, "{s}");
    let (s, _) = post("text/plain", b"{\"name\":\"x\"}").await;
    assert_eq!(s, 415);
    let (s, _) = post("application/json", &vec![b' '; 1024 * 1024 + 10]).await;
    assert_eq!(s, 413);
    let (s, _) = post("application/json", b"{\"name\":\"\"}").await;
    assert_eq!(s, 422);
    let (s, _) = send(&app, "PUT", "/v2/projects", Some(&bearer), None).await;
    assert!(s == 404 || s == 405, "{s}");
    let (s, body) = send(&app, "GET", "/v9/projects", Some(&bearer), None).await;
    assert_eq!(s, 404);
    assert!(body["detail"].as_str().unwrap().contains("1, 2"));
    let (s, _) = send(&app, "GET", "/v2/projects/not-a-uuid", Some(&bearer), None).await;
    assert_eq!(s, 404);
}

#[tokio::test]
async fn a_tenant_id_outside_the_token_never_selects_the_tenant() {
    let (app, token, _) = app().await;
    let other = uuid::Uuid::new_v4();
    let bearer = format!("Bearer {token}");
    let response = app
        .client(Some(&token))
        .header("x-tenant-id", other.to_string())
        .post(
            &format!("/v2/projects?tenant_id={other}"),
            json!({"name": "mine", "tenant_id": other}),
        )
        .await;
    response.assert_status(201);
    let project = response.value();
    let (_, list) = send(&app, "GET", "/v2/projects", Some(&bearer), None).await;
    assert_eq!(list["items"][0]["id"], project["id"]);
}
