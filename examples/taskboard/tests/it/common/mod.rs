//! What the taskboard's integration tests share: the whole app on a fresh database, served by
//! the testkit's [`TestApp`] (the one HTTP harness), with tenants registered through the admin
//! API as a client would.
#![allow(dead_code)]

use http::{HeaderMap, StatusCode};
use saas_testkit::{Client, TestApp, TestDb};
use serde_json::{Value, json};

pub const ADMIN: &str = "admin-token-for-tests";
pub const SECRET: &str = "jwt-secret-for-tests-0123456789abcdef";

pub struct App {
    /// The app under test (dropped first: its server and relay stop before the database goes).
    pub app: TestApp,
    _db: TestDb,
}

impl App {
    pub async fn new() -> App {
        App::with_settings(taskboard::Settings::new(ADMIN, SECRET)).await
    }

    /// The app with these settings (the admin token and JWT secret of [`ADMIN`] and
    /// [`SECRET`] unless the settings say otherwise).
    pub async fn with_settings(settings: taskboard::Settings) -> App {
        let db = TestDb::new().await.unwrap();
        let mut config = db.config();
        // One process: a short registry cache keeps tier moves' clean-up grace short.
        config.tenant_cache_ttl = std::time::Duration::from_millis(500);
        let app = TestApp::serve(taskboard::app(settings).config(config))
            .await
            .unwrap();
        App { app, _db: db }
    }

    /// The app's tenancy runtime.
    pub fn tenancy(&self) -> &saas_core::Tenancy {
        self.app.tenancy()
    }

    /// A client with this bearer token, or none.
    pub fn client(&self, token: Option<&str>) -> Client<'_> {
        match token {
            Some(token) => self.app.with_token(token),
            None => self.app.anonymous(),
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
        let response = self.client(token).send(method, uri, body.as_ref()).await;
        response.assert_problem_if_error();
        (
            StatusCode::from_u16(response.status).unwrap(),
            response.headers.clone(),
            response.value(),
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
