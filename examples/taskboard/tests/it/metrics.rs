//! The taskboard's `/metrics`: closed to anyone without the metrics (or admin) token,
//! Prometheus text with its content type, counting tenant requests by version, and absent
//! from the versioned API documents.

use crate::common;

use common::App;

async fn get_text(
    app: &App,
    uri: &str,
    token: Option<&str>,
) -> (http::StatusCode, http::HeaderMap, String) {
    let response = app.client(token).get(uri).await;
    (
        http::StatusCode::from_u16(response.status).unwrap(),
        response.headers.clone(),
        response.text(),
    )
}

#[tokio::test]
async fn metrics_are_prometheus_text_counting_tenant_requests_by_version() {
    let app = App::new().await;
    let (id, token) = app.tenant("acme").await;
    let (status, _) = app.call("GET", "/v2/projects", Some(&token), None).await;
    assert_eq!(status, 200);
    let (status, _) = app.call("GET", "/v1/projects", Some(&token), None).await;
    assert_eq!(status, 200);

    let (status, headers, text) = get_text(&app, "/metrics", Some(common::ADMIN)).await;
    assert_eq!(status, 200);
    assert_eq!(
        headers["content-type"],
        "text/plain; version=0.0.4; charset=utf-8"
    );
    assert!(
        text.contains("# TYPE saas_http_requests_total counter"),
        "{text}"
    );
    let v2 = format!(
        "saas_http_requests_total{{tenant=\"{id}\",api_version=\"2\",route=\"/v2/projects\",method=\"GET\",status=\"200\"}} 1"
    );
    assert!(text.contains(&v2), "{v2} not in\n{text}");
    let deprecated =
        format!("saas_deprecated_requests_total{{tenant=\"{id}\",api_version=\"1\"}} 1");
    assert!(text.contains(&deprecated), "{deprecated} not in\n{text}");
    assert!(
        text.contains(
            "saas_db_pool_connections{database=\"primary\",pool=\"requests\",state=\"in_use\"}"
        ),
        "{text}"
    );
}

#[tokio::test]
async fn metrics_need_the_admin_token_when_no_metrics_token_is_set() {
    let app = App::new().await;
    let (id, token) = app.tenant("acme").await;
    let (status, _) = app.call("GET", "/v2/projects", Some(&token), None).await;
    assert_eq!(status, 200);
    for presented in [None, Some(token.as_str()), Some("admin-token-for-test")] {
        let (status, headers, text) = get_text(&app, "/metrics", presented).await;
        assert_eq!(status, 401, "{presented:?}: {text}");
        assert_eq!(headers["content-type"], "application/problem+json");
        assert!(!text.contains(&id), "the 401 names a tenant: {text}");
    }
    let (status, _, text) = get_text(&app, "/metrics", Some(common::ADMIN)).await;
    assert_eq!(status, 200);
    assert!(text.contains(&id));
}

#[tokio::test]
async fn a_metrics_token_replaces_the_admin_token_for_metrics() {
    let mut settings = taskboard::Settings::new(common::ADMIN, common::SECRET);
    settings.metrics_token = Some("metrics-token-for-tests".into());
    let app = App::with_settings(settings).await;
    let (status, _, _) = get_text(&app, "/metrics", Some(common::ADMIN)).await;
    assert_eq!(status, 401);
    let (status, _, _) = get_text(&app, "/metrics", Some("metrics-token-for-tests")).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn metrics_route_is_not_in_the_versioned_documents() {
    let app = App::new().await;
    for version in ["v1", "v2"] {
        let (status, _, document) = get_text(&app, &format!("/openapi/{version}.json"), None).await;
        assert_eq!(status, 200);
        assert!(document.contains("/projects"), "{version}");
        assert!(!document.contains("/metrics"), "{version} lists /metrics");
    }
}
