//! Telemetry through the whole HTTP stack on a real PostgreSQL: request counters and latency
//! per tenant and version, deprecated-version usage per tenant, pool gauges, the label
//! cardinality cap, and the `http.request` span's fields.

#[path = "it/common/mod.rs"]
mod common;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, OnceLock};

use common::*;
use http::StatusCode;
use saas_core::endpoint;
use saas_core::prelude::*;
use saas_core::telemetry::{Telemetry, TelemetryConfig};
use saas_core::versioning::{VersionedApi, VersioningConfig};
use saas_testkit::TestApp;

saas_core::api_versions! {
    const VERSIONS = {
        1 => deprecated(since = "2026-01-01", sunset = "2099-06-30", docs = "https://example.com/v1-retirement"),
        2 => current,
    };
}

/// The calling tenant's id.
#[endpoint(get, "/whoami", versions = 1.., tag = "whoami",
    responses((status = 200, body = String)))]
async fn whoami(tx: TenantTx) -> String {
    tx.tenant_id().to_string()
}

async fn app(env: &Env, telemetry: &Telemetry) -> TestApp {
    spans();
    let versioned = VersionedApi::new(
        saas_core::routes!(VERSIONS; whoami),
        VersioningConfig::default(),
    );
    telemetry.watch_pools(&env.tenancy);
    let routes = common::routes()
        .merge(versioned.router())
        .merge(telemetry.router());
    env.serve(saas_core::app::wrap_router_observed(
        routes,
        &env.tenancy,
        saas_core::app::DEFAULT_BODY_LIMIT,
        Some(telemetry),
    ))
    .await
}

/// One sample of the exposition: metric name, labels, value.
#[derive(Debug, Clone)]
struct Sample {
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

fn parse(text: &str) -> Vec<Sample> {
    let mut samples = Vec::new();
    for line in text.lines() {
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let (head, value) = line.rsplit_once(' ').expect("a sample line");
        let (name, labels) = match head.split_once('{') {
            Some((name, rest)) => (name, rest.trim_end_matches('}')),
            None => (head, ""),
        };
        let mut map = BTreeMap::new();
        for pair in labels.split("\",").filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').expect("label=value");
            map.insert(k.to_string(), v.trim_matches('"').to_string());
        }
        samples.push(Sample {
            name: name.to_string(),
            labels: map,
            value: value.parse().expect("a number"),
        });
    }
    samples
}

/// The sum of `name` over the samples whose labels include every pair of `want`.
fn total(samples: &[Sample], name: &str, want: &[(&str, &str)]) -> f64 {
    samples
        .iter()
        .filter(|s| s.name == name)
        .filter(|s| {
            want.iter()
                .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
        })
        .map(|s| s.value)
        .sum()
}

/// Telemetry whose `/metrics` anyone may read (these tests scrape without a token).
fn open_telemetry() -> Telemetry {
    Telemetry::with_config(TelemetryConfig::default().unauthenticated_scrape())
}

async fn scrape(router: &TestApp) -> (String, Vec<Sample>) {
    let response = router.anonymous().get("/metrics").await;
    response.assert_status(200);
    assert_eq!(
        response.headers["content-type"],
        "text/plain; version=0.0.4; charset=utf-8"
    );
    let text = response.text();
    let samples = parse(&text);
    (text, samples)
}

const REQUESTS: &str = "saas_http_requests_total";

#[tokio::test]
async fn requests_are_counted_per_tenant_and_version_each_under_its_own_label() {
    let env = Env::new().await;
    let telemetry = open_telemetry();
    let router = app(&env, &telemetry).await;
    let (a, b) = (env.tenant("acme").await, env.tenant("globex").await);
    let (ta, tb) = (env.token(&a), env.token(&b));
    for _ in 0..3 {
        let (status, body, _) = env
            .call(&router, "GET", "/v2/whoami", Some(&ta), None)
            .await;
        assert_eq!(status, 200, "{body}");
    }
    let (status, _, _) = env
        .call(&router, "GET", "/v1/whoami", Some(&ta), None)
        .await;
    assert_eq!(status, 200);
    let (status, _, _) = env
        .call(&router, "GET", "/v2/whoami", Some(&tb), None)
        .await;
    assert_eq!(status, 200);

    let (_, samples) = scrape(&router).await;
    let (ida, idb) = (a.id.to_string(), b.id.to_string());
    let route2 = ("route", "/v2/whoami");
    let ok = ("status", "200");
    assert_eq!(
        total(
            &samples,
            REQUESTS,
            &[("tenant", &ida), ("api_version", "2"), route2, ok]
        ),
        3.0
    );
    assert_eq!(
        total(
            &samples,
            REQUESTS,
            &[
                ("tenant", &ida),
                ("api_version", "1"),
                ("route", "/v1/whoami")
            ]
        ),
        1.0
    );
    assert_eq!(
        total(
            &samples,
            REQUESTS,
            &[
                ("tenant", &idb),
                ("api_version", "2"),
                route2,
                ("method", "GET")
            ]
        ),
        1.0
    );
    // Everything tenant B did is under B's label, and nothing else is.
    assert_eq!(total(&samples, REQUESTS, &[("tenant", &idb)]), 1.0);
    assert_eq!(total(&samples, REQUESTS, &[("tenant", &ida)]), 4.0);
    // The latency histogram saw every request, under the same labels.
    for (tenant, version, n) in [(&ida, "2", 3.0), (&ida, "1", 1.0), (&idb, "2", 1.0)] {
        let labels = [("tenant", tenant.as_str()), ("api_version", version)];
        assert_eq!(
            total(
                &samples,
                "saas_http_request_duration_seconds_count",
                &labels
            ),
            n
        );
        let inf = [labels[0], labels[1], ("le", "+Inf")];
        assert_eq!(
            total(&samples, "saas_http_request_duration_seconds_bucket", &inf),
            n
        );
        assert!(total(&samples, "saas_http_request_duration_seconds_sum", &labels) > 0.0);
    }
}

#[tokio::test]
async fn deprecated_version_requests_are_counted_per_tenant_and_only_those() {
    let env = Env::new().await;
    let telemetry = open_telemetry();
    let router = app(&env, &telemetry).await;
    let (a, b) = (env.tenant("acme").await, env.tenant("globex").await);
    let (ta, tb) = (env.token(&a), env.token(&b));
    for _ in 0..2 {
        env.call(&router, "GET", "/v1/whoami", Some(&ta), None)
            .await;
    }
    env.call(&router, "GET", "/v2/whoami", Some(&ta), None)
        .await;
    env.call(&router, "GET", "/v2/whoami", Some(&tb), None)
        .await;
    let (_, samples) = scrape(&router).await;
    let deprecated = "saas_deprecated_requests_total";
    let ida = a.id.to_string();
    assert_eq!(
        total(
            &samples,
            deprecated,
            &[("tenant", &ida), ("api_version", "1")]
        ),
        2.0
    );
    assert_eq!(total(&samples, deprecated, &[]), 2.0, "{samples:?}");
    assert_eq!(
        total(&samples, deprecated, &[("tenant", &b.id.to_string())]),
        0.0
    );
    assert_eq!(total(&samples, deprecated, &[("api_version", "2")]), 0.0);
}

#[tokio::test]
async fn route_label_is_the_template_and_request_data_never_becomes_a_label() {
    let env = Env::new().await;
    let telemetry = open_telemetry();
    let router = app(&env, &telemetry).await;
    let a = env.tenant("acme").await;
    let ta = env.token(&a);
    let secret_name = "name-that-must-not-leak-7f3a";
    let (status, project, _) = env
        .call(
            &router,
            "POST",
            "/projects",
            Some(&ta),
            Some(serde_json::json!({"name": secret_name})),
        )
        .await;
    assert_eq!(status, 201, "{project}");
    let id = project["id"].as_str().unwrap().to_string();
    let (status, _, _) = env
        .call(&router, "GET", &format!("/projects/{id}"), Some(&ta), None)
        .await;
    assert_eq!(status, 200);
    let unknown = Uuid::new_v4().to_string();
    let (status, _, _) = env
        .call(
            &router,
            "GET",
            &format!("/nowhere/{unknown}"),
            Some(&ta),
            None,
        )
        .await;
    assert_eq!(status, 404);

    let (text, samples) = scrape(&router).await;
    let ida = a.id.to_string();
    assert_eq!(
        total(
            &samples,
            REQUESTS,
            &[
                ("tenant", &ida),
                ("route", "/projects/{id}"),
                ("status", "200")
            ]
        ),
        1.0
    );
    assert_eq!(
        total(
            &samples,
            REQUESTS,
            &[
                ("route", "/projects"),
                ("method", "POST"),
                ("status", "201")
            ]
        ),
        1.0
    );
    assert_eq!(
        total(
            &samples,
            REQUESTS,
            &[("route", "unmatched"), ("status", "404")]
        ),
        1.0
    );
    for leaked in [id.as_str(), unknown.as_str(), secret_name, "/nowhere"] {
        assert!(
            !text.contains(leaked),
            "{leaked} is in the metrics:\n{text}"
        );
    }
    // Unversioned routes carry no version.
    assert_eq!(
        total(
            &samples,
            REQUESTS,
            &[("route", "/projects/{id}"), ("api_version", "none")]
        ),
        1.0
    );
}

#[tokio::test]
async fn unauthenticated_requests_are_counted_under_tenant_none() {
    let env = Env::new().await;
    let telemetry = open_telemetry();
    let router = app(&env, &telemetry).await;
    let (status, _, _) = env.call(&router, "GET", "/v2/whoami", None, None).await;
    assert_eq!(status, 401);
    let (status, _, _) = env
        .call(&router, "GET", "/v2/whoami", Some("not.a.token"), None)
        .await;
    assert_eq!(status, 401);
    let (_, samples) = scrape(&router).await;
    assert_eq!(
        total(
            &samples,
            REQUESTS,
            &[
                ("tenant", "none"),
                ("route", "/v2/whoami"),
                ("status", "401")
            ]
        ),
        2.0
    );
}

/// The rate-limit layer resolves the tenant before any extractor does, and answers 429s
/// without reaching a handler: those requests are still counted under their tenant.
#[tokio::test]
async fn rate_limited_requests_are_counted_under_their_tenant() {
    use saas_core::ratelimit::{Limit, RateLimitLayer, RateLimits};
    let env = Env::new().await;
    let telemetry = open_telemetry();
    let limits = RateLimits::new().plan("default", Limit::per_minute(2));
    let routes = common::routes()
        .layer(RateLimitLayer::new(&limits))
        .merge(telemetry.router());
    let router = env
        .serve(saas_core::app::wrap_router_observed(
            routes,
            &env.tenancy,
            saas_core::app::DEFAULT_BODY_LIMIT,
            Some(&telemetry),
        ))
        .await;
    let (a, b) = (env.tenant("limited").await, env.tenant("calm").await);
    let (ta, tb) = (env.token(&a), env.token(&b));
    let mut statuses = Vec::new();
    for _ in 0..3 {
        let (status, _, _) = env.call(&router, "GET", "/projects", Some(&ta), None).await;
        statuses.push(status);
    }
    assert_eq!(statuses, [200, 200, 429]);
    let (status, _, _) = env.call(&router, "GET", "/projects", Some(&tb), None).await;
    assert_eq!(status, 200);

    let (_, samples) = scrape(&router).await;
    let (ida, idb) = (a.id.to_string(), b.id.to_string());
    let route = ("route", "/projects");
    assert_eq!(
        total(
            &samples,
            REQUESTS,
            &[("tenant", &ida), route, ("status", "200")]
        ),
        2.0
    );
    assert_eq!(
        total(
            &samples,
            REQUESTS,
            &[("tenant", &ida), route, ("status", "429")]
        ),
        1.0
    );
    assert_eq!(total(&samples, REQUESTS, &[("tenant", &idb), route]), 1.0);
    assert_eq!(total(&samples, REQUESTS, &[("tenant", "none"), route]), 0.0);
}

/// Serves one request of a new tenant through `telemetry`, then checks that each of `refused`
/// scrapes is a 401 problem that names no tenant: the router and the tenant.
async fn refused_scrapes(
    env: &Env,
    telemetry: &Telemetry,
    refused: &[Option<&str>],
) -> (TestApp, saas_core::tenancy::registry::Tenant) {
    let router = app(env, telemetry).await;
    let tenant = env.tenant("scraped").await;
    let token = env.token(&tenant);
    let (status, _, _) = env
        .call(&router, "GET", "/v2/whoami", Some(&token), None)
        .await;
    assert_eq!(status, 200);
    for presented in refused.iter().copied().chain([Some(token.as_str())]) {
        let (status, body, headers) = env.call(&router, "GET", "/metrics", presented, None).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{presented:?}: {body}");
        assert_eq!(headers["content-type"], "application/problem+json");
        assert!(!body.to_string().contains(&tenant.id.to_string()));
    }
    (router, tenant)
}

#[tokio::test]
async fn a_scrape_token_guards_the_metrics() {
    let env = Env::new().await;
    let telemetry = Telemetry::with_config(TelemetryConfig::default().scrape_token("s3cret"));
    let refused = [None, Some("wrong"), Some("s3cre"), Some("s3cret2")];
    let (router, tenant) = refused_scrapes(&env, &telemetry, &refused).await;
    let (status, body, _) = env
        .call(&router, "GET", "/metrics", Some("s3cret"), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.as_str().unwrap().contains(&tenant.id.to_string()));
}

#[tokio::test]
async fn metrics_are_closed_without_a_scrape_token() {
    let env = Env::new().await;
    let _ = refused_scrapes(&env, &Telemetry::new(), &[None, Some("anything")]).await;
}

#[tokio::test]
async fn tenants_past_the_cap_are_counted_as_other() {
    let env = Env::new().await;
    let telemetry = Telemetry::with_config(
        TelemetryConfig::default()
            .max_tenants(2)
            .unauthenticated_scrape(),
    );
    let router = app(&env, &telemetry).await;
    let mut ids = Vec::new();
    for slug in ["acme", "globex", "initech", "umbrella"] {
        let tenant = env.tenant(slug).await;
        let (status, _, _) = env
            .call(
                &router,
                "GET",
                "/v2/whoami",
                Some(&env.token(&tenant)),
                None,
            )
            .await;
        assert_eq!(status, 200);
        ids.push(tenant.id.to_string());
    }
    let (text, samples) = scrape(&router).await;
    assert_eq!(total(&samples, REQUESTS, &[("tenant", &ids[0])]), 1.0);
    assert_eq!(total(&samples, REQUESTS, &[("tenant", &ids[1])]), 1.0);
    assert_eq!(total(&samples, REQUESTS, &[("tenant", "other")]), 2.0);
    for id in &ids[2..] {
        assert!(!text.contains(id.as_str()), "{id} past the cap has a label");
    }
}

#[tokio::test]
async fn pool_gauges_cover_the_primary_database_at_scrape_time() {
    let env = Env::with_config(|c| c.request_pool_size(3)).await;
    let telemetry = open_telemetry();
    let router = app(&env, &telemetry).await;
    let a = env.tenant("acme").await;
    let (status, _, _) = env
        .call(&router, "GET", "/projects", Some(&env.token(&a)), None)
        .await;
    assert_eq!(status, 200);
    // Hold one request connection while scraping: it must show as in use.
    let held = env.tenancy.__request_pool().acquire().await.unwrap();
    let (_, samples) = scrape(&router).await;
    let primary = [("database", "primary"), ("pool", "requests")];
    assert_eq!(
        total(&samples, "saas_db_pool_max_connections", &primary),
        3.0
    );
    let in_use = [primary[0], primary[1], ("state", "in_use")];
    assert!(total(&samples, "saas_db_pool_connections", &in_use) >= 1.0);
    let idle = [primary[0], primary[1], ("state", "idle")];
    assert!(samples.iter().any(|s| {
        s.name == "saas_db_pool_connections"
            && idle
                .iter()
                .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
    }));
    assert!(
        total(
            &samples,
            "saas_db_pool_max_connections",
            &[("database", "primary"), ("pool", "owner")]
        ) >= 1.0
    );
    drop(held);
    // The pool takes a released connection back on a task of its own: wait for it.
    let mut now_in_use = f64::NAN;
    for _ in 0..100 {
        let (_, samples) = scrape(&router).await;
        now_in_use = total(&samples, "saas_db_pool_connections", &in_use);
        if now_in_use == 0.0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(now_in_use, 0.0);
}

#[tokio::test]
async fn bound_read_counters_match_the_bound_pools() {
    // A budget of one bound connection: a's reads take it, b's read finds no room.
    let env = Env::with_config(|c| c.bound_connections(1)).await;
    let telemetry = open_telemetry();
    let router = app(&env, &telemetry).await;
    let a = env.tenant("acme").await;
    let b = env.tenant("globex").await;
    for tenant in [&a, &b, &a] {
        let (status, _, _) = env
            .call(&router, "GET", "/projects", Some(&env.token(tenant)), None)
            .await;
        assert_eq!(status, 200);
    }
    let stats = env.tenancy.bound_pools().stats();
    let (_, samples) = scrape(&router).await;
    let reads = |path| total(&samples, "saas_bound_reads_total", &[("path", path)]);
    assert_eq!(reads("bound"), stats.bound as f64);
    assert_eq!(reads("shared"), stats.shared as f64);
    assert_eq!(
        total(&samples, "saas_bound_connections_opened_total", &[]),
        stats.opened as f64
    );
    if !env.tenancy.distributed() {
        assert_eq!(
            (stats.bound, stats.shared, stats.opened),
            (2, 1, 1),
            "{stats:?}"
        );
    }
    // A second scrape counts nothing twice.
    let (_, again) = scrape(&router).await;
    assert_eq!(
        total(&again, "saas_bound_reads_total", &[("path", "bound")]),
        stats.bound as f64
    );
}

/// Captures the fields of every `http.request` span, kept when the span closes.
#[derive(Default)]
struct SpanFields {
    open: Mutex<HashMap<u64, BTreeMap<String, String>>>,
    closed: Mutex<Vec<BTreeMap<String, String>>>,
}

struct Capture(&'static SpanFields);

/// The spans of this test binary. Installed as the global subscriber before any test sends
/// a request (from [`app`]): a thread-scoped subscriber would race the other tests' threads
/// for the span callsite's cached interest.
fn spans() -> &'static SpanFields {
    static SPANS: OnceLock<&'static SpanFields> = OnceLock::new();
    SPANS.get_or_init(|| {
        use tracing_subscriber::layer::SubscriberExt;
        let fields: &'static SpanFields = Box::leak(Box::default());
        tracing::subscriber::set_global_default(
            tracing_subscriber::registry().with(Capture(fields)),
        )
        .expect("no other global subscriber in this test binary");
        fields
    })
}

struct Visitor<'a>(&'a mut BTreeMap<String, String>);

impl tracing::field::Visit for Visitor<'_> {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        self.0.insert(
            field.name().to_string(),
            format!("{value:?}").trim_matches('"').into(),
        );
    }

    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        self.0.insert(field.name().to_string(), value.to_string());
    }
}

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for Capture {
    fn on_new_span(
        &self,
        attrs: &tracing::span::Attributes<'_>,
        id: &tracing::span::Id,
        _ctx: tracing_subscriber::layer::Context<'_, S>,
    ) {
        if attrs.metadata().name() != "http.request" {
            return;
        }
        let mut fields = BTreeMap::new();
        attrs.record(&mut Visitor(&mut fields));
        self.0.open.lock().unwrap().insert(id.into_u64(), fields);
    }

    fn on_record(
        &self,
        id: &tracing::span::Id,
        values: &tracing::span::Record<'_>,
        _ctx: tracing_subscriber::layer::Context<'_, S>,
    ) {
        if let Some(fields) = self.0.open.lock().unwrap().get_mut(&id.into_u64()) {
            values.record(&mut Visitor(fields));
        }
    }

    fn on_close(&self, id: tracing::span::Id, _ctx: tracing_subscriber::layer::Context<'_, S>) {
        if let Some(fields) = self.0.open.lock().unwrap().remove(&id.into_u64()) {
            self.0.closed.lock().unwrap().push(fields);
        }
    }
}

#[tokio::test]
async fn request_span_records_tenant_version_route_method_and_status() {
    let env = Env::new().await;
    let telemetry = open_telemetry();
    let router = app(&env, &telemetry).await;
    let a = env.tenant("acme").await;
    let (status, _, _) = env
        .call(&router, "GET", "/v1/whoami", Some(&env.token(&a)), None)
        .await;
    assert_eq!(status, 200);
    let (status, _, _) = env.call(&router, "GET", "/v2/whoami", None, None).await;
    assert_eq!(status, 401);

    let recorded = spans().closed.lock().unwrap().clone();
    let field = |s: &BTreeMap<String, String>, k: &str| s.get(k).cloned().unwrap_or_default();
    let tenant = a.id.to_string();
    let v1 = recorded
        .iter()
        .find(|s| field(s, "tenant_id") == tenant)
        .unwrap_or_else(|| panic!("no span for tenant {tenant}: {recorded:?}"));
    assert_eq!(field(v1, "route"), "/v1/whoami");
    assert_eq!(field(v1, "api_version"), "1");
    assert_eq!(field(v1, "method"), "GET");
    assert_eq!(field(v1, "status"), "200");
    let anonymous = recorded
        .iter()
        .find(|s| field(s, "route") == "/v2/whoami" && field(s, "status") == "401")
        .unwrap_or_else(|| panic!("no span for the 401: {recorded:?}"));
    assert_eq!(field(anonymous, "tenant_id"), "none");
    assert_eq!(field(anonymous, "api_version"), "2");
}

#[tokio::test]
async fn metrics_endpoint_speaks_openmetrics_when_asked() {
    let env = Env::new().await;
    let telemetry = open_telemetry();
    let router = app(&env, &telemetry).await;
    let (status, _, _) = env.call(&router, "GET", "/v2/whoami", None, None).await;
    assert_eq!(status, 401);
    let response = router
        .anonymous()
        .header("accept", "application/openmetrics-text; version=1.0.0")
        .get("/metrics")
        .await;
    response.assert_status(200);
    assert!(
        response.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/openmetrics-text")
    );
    let text = response.text();
    assert!(text.trim_end().ends_with("# EOF"), "{text}");
    assert!(text.contains("# TYPE saas_http_requests counter"), "{text}");
}
