//! [`TestApp`]: the application under test, served on an ephemeral port, with HTTP clients
//! bound to tenants.

use std::net::SocketAddr;

use saas_core::app::SaasAppBuilder;
use saas_core::tenancy::pool::Tenancy;
use saas_core::tenancy::registry::Tenant;
use saas_core::tenancy::resolver::JwtIssuer;
use serde::Serialize;
use serde::de::DeserializeOwned;

/// The app under test. Dropping it stops the server.
#[derive(Debug)]
pub struct TestApp {
    addr: SocketAddr,
    tenancy: Option<Tenancy>,
    issuer: Option<JwtIssuer>,
    client: reqwest::Client,
    server: tokio::task::JoinHandle<()>,
    relay: Option<saas_core::events::relay::RelayHandle>,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.server.abort();
        // The app's outbox relay goes with it (its database is about to be dropped).
        if let Some(relay) = self.relay.take() {
            relay.abort();
        }
    }
}

impl TestApp {
    /// Builds `app`, starts it (migrations, audit) and serves it on `127.0.0.1:0`.
    pub async fn serve(app: SaasAppBuilder) -> anyhow::Result<TestApp> {
        let saas_core::app::Running {
            tenancy,
            router,
            relay,
        } = app.build()?.start().await?;
        let mut served = TestApp::serve_router(tenancy, router).await?;
        served.relay = relay;
        Ok(served)
    }

    /// Serves a router assembled by hand over a started runtime (the framework's own tests,
    /// which wrap routes in one layer at a time with `saas_core::app::wrap_router`).
    pub async fn serve_router(tenancy: Tenancy, router: axum::Router) -> anyhow::Result<TestApp> {
        let issuer = tenancy.resolvers().token_issuer();
        TestApp::listen(Some(tenancy), issuer, router).await
    }

    /// Serves a router that needs no tenancy runtime (a versioned API's routing and version
    /// changes on their own). [`TestApp::tenancy`] and [`TestApp::as_tenant`] panic on it.
    pub async fn serve_without_runtime(router: axum::Router) -> anyhow::Result<TestApp> {
        TestApp::listen(None, None, router).await
    }

    async fn listen(
        tenancy: Option<Tenancy>,
        issuer: Option<JwtIssuer>,
        router: axum::Router,
    ) -> anyhow::Result<TestApp> {
        let relay = None;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        Ok(TestApp {
            addr,
            tenancy,
            issuer,
            // Redirects are answers to check, not to follow.
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()?,
            server,
            relay,
        })
    }

    /// The app's tenancy runtime (its registry, pools).
    pub fn tenancy(&self) -> &Tenancy {
        self.tenancy
            .as_ref()
            .expect("this TestApp was served without a tenancy runtime")
    }

    /// `http://127.0.0.1:PORT{path}`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// A client acting as `tenant` (a bearer token from the app's own HS256 resolver).
    pub fn as_tenant(&self, tenant: &Tenant) -> Client<'_> {
        let issuer = self
            .issuer
            .as_ref()
            .expect("the app has no HS256 JWT resolver to issue test tokens with");
        let token = issuer
            .issue(tenant.id, "saas-testkit", 3600)
            .expect("issuing a test token");
        Client {
            app: self,
            token: Some(token),
            headers: Vec::new(),
        }
    }

    /// A client with this bearer token.
    pub fn with_token(&self, token: impl Into<String>) -> Client<'_> {
        Client {
            app: self,
            token: Some(token.into()),
            headers: Vec::new(),
        }
    }

    /// A client without credentials.
    pub fn anonymous(&self) -> Client<'_> {
        Client {
            app: self,
            token: None,
            headers: Vec::new(),
        }
    }
}

/// An HTTP client bound to one tenant (or none).
#[derive(Debug, Clone)]
pub struct Client<'a> {
    app: &'a TestApp,
    token: Option<String>,
    headers: Vec<(String, String)>,
}

impl Client<'_> {
    /// The same client, sending `name: value` with every request (a `Host` for subdomain
    /// resolvers, an `Accept`, a version header).
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Sends a request; `body` is sent as JSON.
    pub async fn send(
        &self,
        method: &str,
        path: &str,
        body: Option<&serde_json::Value>,
    ) -> TestResponse {
        let body = body.map(|b| ("application/json", serde_json::to_vec(b).expect("JSON")));
        self.send_bytes(method, path, body).await
    }

    /// Sends a request with a body of any content type (`(content_type, bytes)`), as written:
    /// malformed JSON, a wrong media type, an oversized body.
    pub async fn send_bytes(
        &self,
        method: &str,
        path: &str,
        body: Option<(&str, Vec<u8>)>,
    ) -> TestResponse {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("an HTTP method");
        let mut request = self.app.client.request(method.clone(), self.app.url(path));
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        for (name, value) in &self.headers {
            request = request.header(name, value);
        }
        if let Some((content_type, bytes)) = body {
            request = request
                .header(reqwest::header::CONTENT_TYPE, content_type)
                .body(bytes);
        }
        let response = request
            .send()
            .await
            .unwrap_or_else(|e| panic!("{method} {path}: {e}"));
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = response
            .bytes()
            .await
            .map(|b| b.to_vec())
            .unwrap_or_default();
        TestResponse {
            request: format!("{method} {path}"),
            status,
            headers,
            body,
        }
    }

    /// `GET path`.
    pub async fn get(&self, path: &str) -> TestResponse {
        self.send("GET", path, None).await
    }

    /// `POST path` with a JSON body.
    pub async fn post(&self, path: &str, body: impl Serialize) -> TestResponse {
        let body = serde_json::to_value(body).expect("a JSON body");
        self.send("POST", path, Some(&body)).await
    }

    /// `PATCH path` with a JSON body.
    pub async fn patch(&self, path: &str, body: impl Serialize) -> TestResponse {
        let body = serde_json::to_value(body).expect("a JSON body");
        self.send("PATCH", path, Some(&body)).await
    }

    /// `DELETE path`.
    pub async fn delete(&self, path: &str) -> TestResponse {
        self.send("DELETE", path, None).await
    }
}

/// A response, read to the end.
#[derive(Debug, Clone)]
pub struct TestResponse {
    /// `METHOD path`, for messages.
    pub request: String,
    /// The status code.
    pub status: u16,
    /// The headers.
    pub headers: reqwest::header::HeaderMap,
    /// The body.
    pub body: Vec<u8>,
}

impl TestResponse {
    /// Panics unless the status is `expected`, showing the body.
    #[track_caller]
    pub fn assert_status(&self, expected: u16) -> &Self {
        assert_eq!(
            self.status,
            expected,
            "{} answered {}: {}",
            self.request,
            self.status,
            String::from_utf8_lossy(&self.body)
        );
        self
    }

    /// The body as JSON of type `T`.
    #[track_caller]
    pub fn json<T: DeserializeOwned>(&self) -> T {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "{}: body is not the expected JSON ({e}): {}",
                self.request,
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    /// The body as a JSON value (`Null` when empty or not JSON).
    pub fn value(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }

    /// The body as text (lossy UTF-8).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// Whether the response is an `application/problem+json` document.
    pub fn is_problem(&self) -> bool {
        self.headers
            .get(reqwest::header::CONTENT_TYPE)
            .is_some_and(|v| v == saas_core::error::PROBLEM_JSON)
    }

    /// Panics when the response is an error (4xx or 5xx) that is not a problem document: the
    /// framework answers every error with one.
    #[track_caller]
    pub fn assert_problem_if_error(&self) -> &Self {
        if self.status >= 400 {
            assert!(
                self.is_problem(),
                "{} answered {} without a problem document: {:?} {}",
                self.request,
                self.status,
                self.headers.get(reqwest::header::CONTENT_TYPE),
                self.text()
            );
        }
        self
    }
}
