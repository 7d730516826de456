//! The taskboard's `/metrics`: Prometheus text with its content type, counting tenant
//! requests by version, and absent from the versioned API documents.

mod common;

use axum::body::Body;
use common::App;
use http::Request;
use http_body_util::BodyExt;
use tower::ServiceExt;

async fn get_text(app: &App, uri: &str) -> (http::StatusCode, http::HeaderMap, String) {
    let response = app
        .router
        .clone()
        .oneshot(Request::get(uri).body(Body::empty()).unwrap())
        .await
        .unwrap();
    let (status, headers) = (response.status(), response.headers().clone());
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (status, headers, String::from_utf8(bytes.to_vec()).unwrap())
}

#[tokio::test]
async fn metrics_are_prometheus_text_counting_tenant_requests_by_version() {
    let app = App::new().await;
    let (id, token) = app.tenant("acme").await;
    let (status, _) = app.call("GET", "/v2/projects", Some(&token), None).await;
    assert_eq!(status, 200);
    let (status, _) = app.call("GET", "/v1/projects", Some(&token), None).await;
    assert_eq!(status, 200);

    let (status, headers, text) = get_text(&app, "/metrics").await;
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
async fn metrics_route_is_not_in_the_versioned_documents() {
    let app = App::new().await;
    for version in ["v1", "v2"] {
        let (status, _, document) = get_text(&app, &format!("/openapi/{version}.json")).await;
        assert_eq!(status, 200);
        assert!(document.contains("/projects"), "{version}");
        assert!(!document.contains("/metrics"), "{version} lists /metrics");
    }
}
