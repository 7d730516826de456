//! `TASKBOARD_BASE_DOMAIN`: a subdomain names a tenant, it never authenticates one. Every
//! tenant route answers 401 to a request that only names a tenant, and to a token for
//! another tenant than the host names.

use crate::common;

use common::App;
use http::StatusCode;
use serde_json::json;

async fn app() -> App {
    let mut settings = taskboard::Settings::new(common::ADMIN, common::SECRET);
    settings.base_domain = Some("taskboard.test".into());
    App::with_settings(settings).await
}

async fn call(app: &App, method: &str, uri: &str, host: &str, token: Option<&str>) -> StatusCode {
    let body = (method == "POST").then(|| json!({"name": "p"}));
    let response = app
        .client(token)
        .header("host", host)
        .send(method, uri, body.as_ref())
        .await;
    response.assert_problem_if_error();
    StatusCode::from_u16(response.status).unwrap()
}

const ROUTES: &[(&str, &str)] = &[
    ("GET", "/v2/projects"),
    ("POST", "/v2/projects"),
    ("GET", "/v2/audit"),
    ("GET", "/v1/projects"),
    ("POST", "/v1/projects"),
];

#[tokio::test]
async fn a_subdomain_without_a_token_is_401_on_every_tenant_route() {
    let app = app().await;
    let (_globex, globex_token) = app.tenant("globex").await;
    for (method, uri) in ROUTES {
        for host in ["globex.taskboard.test", "nobody-here.taskboard.test"] {
            let status = call(&app, method, uri, host, None).await;
            assert_eq!(status, 401, "{method} {uri} on {host} without a token");
        }
    }
    // Nothing was created for globex by the anonymous POSTs.
    let (status, body) = app
        .call("GET", "/v2/projects", Some(&globex_token), None)
        .await;
    assert_eq!(status, 200);
    assert_eq!(body["items"].as_array().unwrap().len(), 0, "{body}");
}

#[tokio::test]
async fn a_token_only_works_on_its_own_tenants_subdomain() {
    let app = app().await;
    let (_acme, acme_token) = app.tenant("acme").await;
    let _ = app.tenant("globex").await;
    for (method, uri) in ROUTES {
        let own = call(&app, method, uri, "acme.taskboard.test", Some(&acme_token)).await;
        assert!(
            own.is_success(),
            "{method} {uri} on its own subdomain: {own}"
        );
        let other = call(
            &app,
            method,
            uri,
            "globex.taskboard.test",
            Some(&acme_token),
        )
        .await;
        assert_eq!(
            other, 401,
            "{method} {uri}: acme's token on globex's subdomain"
        );
        let unknown = call(
            &app,
            method,
            uri,
            "nobody.taskboard.test",
            Some(&acme_token),
        )
        .await;
        assert_eq!(
            unknown, 401,
            "{method} {uri}: acme's token on an unknown subdomain"
        );
        // A host outside the base domain leaves the token alone to decide.
        let outside = call(&app, method, uri, "api.example.org", Some(&acme_token)).await;
        assert!(
            outside.is_success(),
            "{method} {uri} outside the base domain: {outside}"
        );
    }
}
