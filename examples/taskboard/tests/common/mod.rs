//! The HTTP harness the taskboard's integration tests share: the whole app on a fresh
//! database, requests through its router, tenants registered through the admin API.
#![allow(dead_code)]

use axum::Router;
use axum::body::Body;
use http::{HeaderMap, Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;

pub const ADMIN: &str = "admin-token-for-tests";
pub const SECRET: &str = "jwt-secret-for-tests-0123456789abcdef";

pub struct App {
    pub router: Router,
    pub tenancy: saas_core::tenancy::pool::Tenancy,
    relay: Option<saas_core::events::relay::RelayHandle>,
    _db: saas_testkit::TestDb,
}

impl Drop for App {
    fn drop(&mut self) {
        // Stop the app's outbox relay before its database goes.
        if let Some(relay) = self.relay.take() {
            relay.abort();
        }
    }
}

impl App {
    pub async fn new() -> App {
        App::with_settings(taskboard::Settings::new(ADMIN, SECRET)).await
    }

    /// The app with these settings (the admin token and JWT secret of [`ADMIN`] and
    /// [`SECRET`] unless the settings say otherwise).
    #[allow(dead_code)]
    pub async fn with_settings(settings: taskboard::Settings) -> App {
        let db = saas_testkit::TestDb::new().await.unwrap();
        let mut config = db.config();
        // One process: a short registry cache keeps tier moves' clean-up grace short.
        config.tenant_cache_ttl = std::time::Duration::from_millis(500);
        let running = taskboard::app(settings)
            .config(config)
            .build()
            .unwrap()
            .start()
            .await
            .unwrap();
        App {
            router: running.router,
            tenancy: running.tenancy,
            relay: running.relay,
            _db: db,
        }
    }

    /// Sends a request (JSON body, bearer token) and returns status, headers and JSON body.
    /// Every error must be a problem document.
    pub async fn send(
        &self,
        method: &str,
        uri: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, HeaderMap, Value) {
        let mut req = Request::builder().method(method).uri(uri);
        if let Some(t) = token {
            req = req.header("authorization", format!("Bearer {t}"));
        }
        let req = match body {
            Some(b) => req
                .header("content-type", "application/json")
                .body(Body::from(b.to_string())),
            None => req.body(Body::empty()),
        }
        .unwrap();
        let res = self.router.clone().oneshot(req).await.unwrap();
        let (status, headers) = (res.status(), res.headers().clone());
        if status.is_client_error() || status.is_server_error() {
            assert_eq!(
                headers["content-type"], "application/problem+json",
                "{method} {uri}"
            );
        }
        let bytes = res.into_body().collect().await.unwrap().to_bytes();
        (
            status,
            headers,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }

    /// [`App::send`] without the headers.
    pub async fn call(
        &self,
        method: &str,
        uri: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let (status, _, body) = self.send(method, uri, token, body).await;
        (status, body)
    }

    /// Registers a tenant through the admin API and returns (id, token).
    pub async fn tenant(&self, slug: &str) -> (String, String) {
        self.tenant_in(slug, "shared").await
    }

    /// [`App::tenant`] in a tier: `shared`, `schema` or `database`.
    pub async fn tenant_in(&self, slug: &str, tier: &str) -> (String, String) {
        let (s, t) = self
            .call(
                "POST",
                "/admin/tenants",
                Some(ADMIN),
                Some(json!({"slug": slug, "name": slug, "tier": tier})),
            )
            .await;
        assert_eq!(s, 201, "{t}");
        assert_eq!(t["tier"], tier);
        let id = t["id"].as_str().unwrap().to_string();
        let (s, tok) = self
            .call(
                "POST",
                &format!("/admin/tenants/{id}/tokens"),
                Some(ADMIN),
                Some(json!({"subject": "alice", "ttl_seconds": 3600})),
            )
            .await;
        assert_eq!(s, 201);
        (id, tok["token"].as_str().unwrap().to_string())
    }
}

/// Asserts the headers of a deprecated (v1) response: `Deprecation` (RFC 9745), a `Sunset`
/// (RFC 8594) not before it, and `Link`s to the deprecation notice and to `successor`.
pub fn assert_deprecated(headers: &HeaderMap, successor: &str) {
    let deprecation = headers["deprecation"].to_str().unwrap();
    let since: i64 = deprecation.strip_prefix('@').unwrap().parse().unwrap();
    let sunset = headers["sunset"].to_str().unwrap();
    assert!(sunset.ends_with(" GMT"), "{sunset}");
    let format = time::macros::format_description!(
        "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
    );
    let sunset = time::PrimitiveDateTime::parse(sunset, &format)
        .unwrap()
        .assume_utc()
        .unix_timestamp();
    assert!(sunset >= since);
    let links: Vec<&str> = headers
        .get_all("link")
        .iter()
        .map(|v| v.to_str().unwrap())
        .collect();
    assert!(
        links.iter().any(|l| l.ends_with("rel=\"deprecation\"")),
        "{links:?}"
    );
    assert!(
        links.contains(&format!("<{successor}>; rel=\"successor-version\"").as_str()),
        "{links:?}"
    );
}
