//! Telemetry: a `tracing` span for every request and Prometheus metrics, served in the
//! Prometheus text format (or OpenMetrics, on request) at `/metrics`.
//!
//! ```no_run
//! use saas_core::app::SaasApp;
//! use saas_core::telemetry::{Telemetry, TelemetryConfig};
//!
//! # async fn run() -> anyhow::Result<()> {
//! SaasApp::builder()
//!     // the layer, pool gauges, and `GET /metrics` for holders of the scrape token
//!     .telemetry(Telemetry::with_config(TelemetryConfig::default().scrape_token("s3cret")))
//!     .build()?
//!     .run_cli()                     // `serve --metrics-listen 127.0.0.1:9100` moves /metrics
//!     .await
//! # }
//! ```
//!
//! `/metrics` is closed by default: without a [scrape token](TelemetryConfig::scrape_token)
//! or [`TelemetryConfig::unauthenticated_scrape`], every scrape is a 401 (the metrics name
//! tenants and their traffic).
//!
//! A hand-built router takes the layer and the endpoint itself:
//!
//! ```
//! use axum::{Router, routing::get};
//! use saas_core::telemetry::Telemetry;
//!
//! let telemetry = Telemetry::new();
//! let app: Router = Router::new()
//!     .route("/hello", get(|| async { "hi" }))
//!     .merge(telemetry.router())
//!     .layer(telemetry.layer());
//! ```
//!
//! With the framework's layers, [`crate::app::wrap_router_observed`] composes the telemetry
//! layer into their stack (cheaper than `.layer(telemetry.layer())` after
//! [`crate::app::wrap_router`]).
//!
//! # The span
//! `http.request`, at level INFO, with `method`, `route` (the matched path template, never
//! the raw path), `tenant_id` (recorded when the handler resolves the tenant, `none` if it
//! never does), `api_version` and `status` (recorded when the response is ready).
//!
//! # The metrics
//! | name | type | labels |
//! |---|---|---|
//! | `saas_http_requests_total` | counter | tenant, api_version, route, method, status |
//! | `saas_http_request_duration_seconds` | histogram | tenant, api_version, route, method, status |
//! | `saas_deprecated_requests_total` | counter | tenant, api_version |
//! | `saas_db_pool_connections` | gauge | database, pool, state (`idle`, `in_use`) |
//! | `saas_db_pool_max_connections` | gauge | database, pool |
//!
//! Labels carry identifiers the server chose, never request data: `route` is the template,
//! `method` is `other` for extension methods, `api_version` is the version that served the
//! request (`none` outside the versioned API), `tenant` is the resolved tenant's id, `none`
//! when no tenant was resolved (unauthenticated requests, admin routes, bad credentials).
//!
//! # Cardinality
//! Each tenant label value is a time series per route, method and status. The first
//! tenants (default 1,000, [`TelemetryConfig`]'s `max_tenants`) a process sees get their own
//! value; the rest are counted as `other`. A tenant keeps its value for the life of the
//! process (a series that vanished would read as a counter reset). Set the cap to what your
//! Prometheus can hold: `tenants x routes x statuses` series per histogram bucket.
//!
//! # Why `prometheus-client`
//! It is the Prometheus project's own Rust client: typed label sets hashed as they are
//! (a tenant id is 16 bytes, never formatted on the hot path), one registry per
//! [`Telemetry`] rather than a process-global recorder (two apps, or two tests, in one
//! process do not mix their counts), and both the Prometheus text format and OpenMetrics,
//! whose names OpenTelemetry's Prometheus bridge reads as they are. The `metrics` crate
//! with `metrics-exporter-prometheus` installs a global recorder and builds label strings
//! per call unless handles are cached by hand.

mod labels;
mod layer;
mod pools;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};

use axum::Router;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use http::{HeaderMap, HeaderValue, StatusCode, header};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::{Family, MetricConstructor};
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Registry, Unit};

use crate::tenancy::TenantId;
use crate::tenancy::pool::Tenancy;
use labels::{
    BoundReadLabels, DeprecatedLabels, PoolLabels, PoolStateLabels, RequestLabels, RouteLabel,
    TenantLabels, VersionLabel,
};
pub use layer::{TelemetryFuture, TelemetryLayer, TelemetryService};

/// The path of the metrics endpoint.
pub const METRICS_PATH: &str = "/metrics";

/// The latency buckets, in seconds (1 ms to 10 s).
pub const DEFAULT_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Settings of [`Telemetry`].
#[derive(Clone)]
pub struct TelemetryConfig {
    /// How many distinct tenants get their own `tenant` label value (the rest: `other`).
    pub max_tenants: usize,
    /// The upper bounds of the latency histogram's buckets, in seconds.
    pub buckets: Vec<f64>,
    scrape_token: Option<String>,
    unauthenticated_scrape: bool,
}

impl std::fmt::Debug for TelemetryConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TelemetryConfig")
            .field("max_tenants", &self.max_tenants)
            .field("buckets", &self.buckets)
            .field(
                "scrape_token",
                &self.scrape_token.as_ref().map(|_| "<redacted>"),
            )
            .field("unauthenticated_scrape", &self.unauthenticated_scrape)
            .finish()
    }
}

impl Default for TelemetryConfig {
    fn default() -> Self {
        TelemetryConfig {
            max_tenants: 1000,
            buckets: DEFAULT_BUCKETS.to_vec(),
            scrape_token: None,
            unauthenticated_scrape: false,
        }
    }
}

impl TelemetryConfig {
    /// Sets the cap on tenant label values.
    pub fn max_tenants(mut self, n: usize) -> Self {
        self.max_tenants = n;
        self
    }

    /// Requires `Authorization: Bearer <token>` on `GET /metrics` (Prometheus:
    /// `authorization: { credentials: ... }` in the scrape config); others get a 401 problem.
    /// An empty token is ignored.
    ///
    /// `/metrics` is closed by default: the metrics name tenants and their traffic, so
    /// without a token (or [`TelemetryConfig::unauthenticated_scrape`]) every scrape is a 401.
    pub fn scrape_token(mut self, token: impl Into<String>) -> Self {
        let token = token.into();
        self.scrape_token = (!token.is_empty()).then_some(token);
        self
    }

    /// Serves `/metrics` to anyone when no scrape token is set. Only for a listener nobody
    /// outside your network reaches (`serve --metrics-listen` on an internal address): the
    /// metrics list tenant ids with their request counts.
    pub fn unauthenticated_scrape(mut self) -> Self {
        self.unauthenticated_scrape = true;
        self
    }

    /// Applies `SAAS_METRICS_TOKEN`, when set and not empty, as the [scrape
    /// token](TelemetryConfig::scrape_token).
    pub fn with_env_overrides(self) -> Self {
        match std::env::var("SAAS_METRICS_TOKEN") {
            Ok(token) if !token.trim().is_empty() => self.scrape_token(token.trim()),
            _ => self,
        }
    }
}

#[derive(Clone)]
struct Buckets(Arc<[f64]>);

impl MetricConstructor<Histogram> for Buckets {
    fn new_metric(&self) -> Histogram {
        Histogram::new(self.0.iter().copied())
    }
}

/// The handles of one request label set: found with one hash, updated without locks but the
/// histogram's own.
#[derive(Clone)]
struct Handles {
    count: Counter,
    duration: Histogram,
}

struct Inner {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    durations: Family<RequestLabels, Histogram, Buckets>,
    deprecated: Family<DeprecatedLabels, Counter>,
    pool_connections: Family<PoolStateLabels, Gauge>,
    pool_max: Family<PoolLabels, Gauge>,
    /// Brought up to the bound pools' own totals at each scrape.
    bound_reads: Family<BoundReadLabels, Counter>,
    bound_opened: Counter,
    handles: RwLock<HashMap<RequestLabels, Handles>>,
    tenants: TenantLabels,
    tenancy: Mutex<Option<Tenancy>>,
    /// Scrapes one at a time: the pool gauges are cleared and refilled for each.
    scrape: Mutex<()>,
    /// Required on `/metrics` when set.
    scrape_token: Option<String>,
    /// Without a token: serve `/metrics` to anyone (else nobody).
    unauthenticated_scrape: bool,
}

/// The telemetry of one application: the metrics registry, the request layer and the
/// `/metrics` endpoint. Cheap to clone; clones share the metrics.
#[derive(Clone)]
pub struct Telemetry {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Telemetry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Telemetry")
            .field("tenants", &self.inner.tenants)
            .finish_non_exhaustive()
    }
}

impl Default for Telemetry {
    fn default() -> Self {
        Telemetry::new()
    }
}

/// One finished request, as the layer saw it.
pub(crate) struct Observation {
    tenant: Option<TenantId>,
    version: VersionLabel,
    route: RouteLabel,
    method: &'static str,
    status: u16,
    deprecated: bool,
    seconds: f64,
}

impl Telemetry {
    /// Telemetry with the default settings.
    pub fn new() -> Self {
        Telemetry::with_config(TelemetryConfig::default())
    }

    /// Telemetry with these settings.
    pub fn with_config(config: TelemetryConfig) -> Self {
        let mut registry = Registry::default();
        let requests = Family::<RequestLabels, Counter>::default();
        let durations =
            Family::new_with_constructor(Buckets(config.buckets.iter().copied().collect()));
        let deprecated = Family::<DeprecatedLabels, Counter>::default();
        let pool_connections = Family::<PoolStateLabels, Gauge>::default();
        let pool_max = Family::<PoolLabels, Gauge>::default();
        let bound_reads = Family::<BoundReadLabels, Counter>::default();
        let bound_opened = Counter::default();
        registry.register(
            "saas_http_requests",
            "HTTP requests served, by tenant, API version, route template, method and status",
            requests.clone(),
        );
        registry.register_with_unit(
            "saas_http_request_duration",
            "Time to the response head, by tenant, API version, route template, method and status",
            Unit::Seconds,
            durations.clone(),
        );
        registry.register(
            "saas_deprecated_requests",
            "Requests served by a deprecated API version, by tenant: whom to tell before the sunset",
            deprecated.clone(),
        );
        registry.register(
            "saas_db_pool_connections",
            "Open connections of each database pool, idle or in use, sampled at scrape time",
            pool_connections.clone(),
        );
        registry.register(
            "saas_db_pool_max_connections",
            "The most connections each database pool may open",
            pool_max.clone(),
        );
        registry.register(
            "saas_bound_reads",
            "Single reads that could run on a tenant-bound connection, by path: `bound` (one \
             round trip) or `shared` (no room in bound_connections: one more round trip)",
            bound_reads.clone(),
        );
        registry.register(
            "saas_bound_connections_opened",
            "Tenant-bound connections opened (each a new PostgreSQL backend)",
            bound_opened.clone(),
        );
        Telemetry {
            inner: Arc::new(Inner {
                registry,
                requests,
                durations,
                deprecated,
                pool_connections,
                pool_max,
                bound_reads,
                bound_opened,
                handles: RwLock::new(HashMap::new()),
                tenants: TenantLabels::new(config.max_tenants),
                tenancy: Mutex::new(None),
                scrape: Mutex::new(()),
                scrape_token: config.scrape_token,
                unauthenticated_scrape: config.unauthenticated_scrape,
            }),
        }
    }

    /// The layer that traces and counts every request (see the module documentation).
    pub fn layer(&self) -> TelemetryLayer {
        TelemetryLayer::new(self.clone())
    }

    /// Samples this runtime's connection pools at every scrape (`SaasApp` does this itself).
    pub fn watch_pools(&self, tenancy: &Tenancy) {
        if let Ok(mut slot) = self.inner.tenancy.lock() {
            *slot = Some(tenancy.clone());
        }
    }

    /// A router serving `GET /metrics`, to holders of the [scrape
    /// token](TelemetryConfig::scrape_token) only (or to anyone, with
    /// [`TelemetryConfig::unauthenticated_scrape`]).
    pub fn router<S: Clone + Send + Sync + 'static>(&self) -> Router<S> {
        let telemetry = self.clone();
        Router::new().route(
            METRICS_PATH,
            get(move |headers: HeaderMap| async move { telemetry.scrape(&headers) }),
        )
    }

    /// The metrics in the Prometheus text format (version 0.0.4).
    pub fn render(&self) -> String {
        self.encode(false)
    }

    /// The metrics in the OpenMetrics text format (with its `# EOF`).
    pub fn render_openmetrics(&self) -> String {
        self.encode(true)
    }

    /// The `/metrics` response: OpenMetrics when the scraper asks for it, the Prometheus text
    /// format otherwise.
    pub fn scrape(&self, request_headers: &HeaderMap) -> Response {
        let allowed = match &self.inner.scrape_token {
            Some(expected) => {
                let presented = crate::tenancy::resolver::bearer_token_in(request_headers);
                matches!(presented, Ok(Some(token))
                    if crate::http::secrets_match(token.as_bytes(), expected.as_bytes()))
            }
            None => self.inner.unauthenticated_scrape,
        };
        if !allowed {
            return crate::error::ApiError::Unauthorized(
                "the metrics need the scrape token: `Authorization: Bearer <token>`".into(),
            )
            .into_response();
        }
        let openmetrics = request_headers
            .get_all(header::ACCEPT)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .any(|v| v.contains("application/openmetrics-text"));
        let (body, content_type) = if openmetrics {
            (
                self.encode(true),
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
            )
        } else {
            (
                self.encode(false),
                prometheus_client::encoding::prometheus_text::CONTENT_TYPE,
            )
        };
        (
            StatusCode::OK,
            [(header::CONTENT_TYPE, HeaderValue::from_static(content_type))],
            body,
        )
            .into_response()
    }

    fn encode(&self, openmetrics: bool) -> String {
        let _one_at_a_time = self.inner.scrape.lock();
        let tenancy = self.inner.tenancy.lock().ok().and_then(|t| t.clone());
        self.inner.pool_connections.clear();
        self.inner.pool_max.clear();
        if let Some(tenancy) = tenancy {
            // Scrapes run one at a time, so raising each counter by what it lacks keeps it
            // equal to the pools' own total.
            let stats = tenancy.bound_pools().stats();
            let catch_up = |counter: &Counter, total: u64| {
                counter.inc_by(total.saturating_sub(counter.get()));
            };
            for (path, total) in [("bound", stats.bound), ("shared", stats.shared)] {
                catch_up(
                    &self
                        .inner
                        .bound_reads
                        .get_or_create(&BoundReadLabels { path }),
                    total,
                );
            }
            catch_up(&self.inner.bound_opened, stats.opened);
            for sample in pools::sample(&tenancy) {
                let state = |state| PoolStateLabels {
                    database: sample.database.clone(),
                    pool: sample.pool,
                    state,
                };
                self.inner
                    .pool_connections
                    .get_or_create(&state("idle"))
                    .set(sample.idle);
                self.inner
                    .pool_connections
                    .get_or_create(&state("in_use"))
                    .set(sample.in_use);
                self.inner
                    .pool_max
                    .get_or_create(&PoolLabels {
                        database: sample.database.clone(),
                        pool: sample.pool,
                    })
                    .set(sample.max);
            }
        }
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = if openmetrics {
            prometheus_client::encoding::text::encode(&mut out, &self.inner.registry)
        } else {
            prometheus_client::encoding::prometheus_text::encode(&mut out, &self.inner.registry)
        };
        out
    }

    pub(crate) fn observe(&self, seen: Observation) {
        let labels = RequestLabels {
            tenant: self.inner.tenants.label(seen.tenant),
            api_version: seen.version,
            route: seen.route,
            method: seen.method,
            status: seen.status,
        };
        if seen.deprecated {
            self.inner
                .deprecated
                .get_or_create(&DeprecatedLabels {
                    tenant: labels.tenant,
                    api_version: labels.api_version.clone(),
                })
                .inc();
        }
        if let Ok(cache) = self.inner.handles.read()
            && let Some(handles) = cache.get(&labels)
        {
            handles.count.inc();
            handles.duration.observe(seen.seconds);
            return;
        }
        let handles = Handles {
            count: self.inner.requests.get_or_create_owned(&labels),
            duration: self.inner.durations.get_or_create_owned(&labels),
        };
        if let Ok(mut cache) = self.inner.handles.write() {
            cache.insert(labels, handles.clone());
        }
        handles.count.inc();
        handles.duration.observe(seen.seconds);
    }
}
