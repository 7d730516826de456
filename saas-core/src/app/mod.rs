//! [`SaasApp`]: one builder that starts the tenancy runtime, wraps the application's router
//! with the framework's layers, and runs the command line (`serve`, `migrate`, `tenants`).

use std::net::SocketAddr;

use axum::Router;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::limit::RequestBodyLimitLayer;

use std::sync::Arc;

use crate::error::{ApiError, Error, Result};
use crate::events::publish::{InProcessBus, Publisher};
use crate::events::relay::{Relay, RelayConfig, RelayHandle};
use crate::health::{Health, HealthConfig, NotReady, Phase};
use crate::settings::Settings;
use crate::tenancy::TenantTxLayer;
use crate::tenancy::pool::{Tenancy, TenancyConfig};
use crate::tenancy::resolver::{ResolverChain, TenantResolver};
use crate::versioning::{Api, VersionedApi, VersioningConfig};

/// The default request body limit: 1 MiB.
pub const DEFAULT_BODY_LIMIT: usize = 1024 * 1024;

#[cfg(feature = "cli")]
mod cli;

type RoutesFn = Box<dyn FnOnce(&Tenancy) -> Router + Send>;

/// An application, configured and checked, ready to start: made by [`SaasApp::builder`] and
/// [`SaasAppBuilder::build`], then run with one of
/// - [`SaasApp::run_cli`]: the command line (`serve`, `migrate`, `openapi`, `events`,
///   `tenants`), what a `main` calls;
/// - [`SaasApp::serve`]: serve HTTP on a listener until SIGINT/SIGTERM (or
///   [`SaasApp::serve_until`] a future of your own);
/// - [`SaasApp::router`] / [`SaasApp::start`]: start the runtime and get the router (and
///   the runtime) to serve or test yourself.
///
/// ```no_run
/// use saas_core::app::SaasApp;
/// use saas_core::tenancy::resolver::JwtResolver;
///
/// # async fn run() -> anyhow::Result<()> {
/// SaasApp::builder()
///     .resolver(JwtResolver::hs256_from_env("APP_JWT_SECRET")?)
///     .routes(|_tenancy| axum::Router::new())
///     .build()?
///     .run_cli()
///     .await
/// # }
/// ```
pub struct SaasApp {
    parts: SaasAppBuilder,
    /// The environment, read once by [`SaasAppBuilder::build`].
    settings: Settings,
    /// The versioned API with its documents, built and checked once by
    /// [`SaasAppBuilder::build`].
    versioned: Option<VersionedApi>,
}

/// Configures a [`SaasApp`]: every setter returns the builder, [`SaasAppBuilder::build`]
/// checks the whole configuration (environment included) without touching the database.
pub struct SaasAppBuilder {
    config: Option<TenancyConfig>,
    resolvers: ResolverChain,
    migrations: Option<&'static sqlx::migrate::Migrator>,
    routes: Option<RoutesFn>,
    body_limit: usize,
    cache: Option<crate::cache::TenantCache>,
    name: String,
    api: Option<Api>,
    versioning: VersioningConfig,
    openapi_dir: std::path::PathBuf,
    publisher: Option<Arc<dyn Publisher>>,
    relay_config: RelayConfig,
    run_relay: bool,
    rate_limits: Option<crate::ratelimit::RateLimits>,
    health: HealthConfig,
    shutdown: Option<ShutdownConfig>,
    telemetry: Option<crate::telemetry::Telemetry>,
    metrics_on_main: bool,
    clock: Option<Arc<dyn crate::clock::Clock>>,
}

/// How [`SaasApp::serve`] stops after the shutdown signal.
///
/// The order: readiness turns false at once; after [`ShutdownConfig::delay`] (time for load
/// balancers to stop sending traffic) the listener closes and in-flight requests finish, for
/// at most [`ShutdownConfig::drain_timeout`]; then tracked background tasks (tenant moves
/// started over HTTP, see [`crate::moves::spawn`]) finish, for at most another
/// `drain_timeout`; then the outbox relay publishes what those
/// requests committed, for at most [`ShutdownConfig::relay_drain_timeout`] (whatever is left
/// stays in the outbox for the next process); then the pools close.
#[derive(Debug, Clone)]
pub struct ShutdownConfig {
    /// Readiness is false but connections are still accepted (default 0 s;
    /// `SAAS_SHUTDOWN_DELAY` in seconds). Behind a Kubernetes Service, a few seconds.
    pub delay: std::time::Duration,
    /// The longest in-flight requests may take to finish (default 30 s;
    /// `SAAS_DRAIN_TIMEOUT`). Requests still running then are cut off and their
    /// transactions roll back.
    pub drain_timeout: std::time::Duration,
    /// The longest the relay's last drain may take (default 10 s;
    /// `SAAS_RELAY_DRAIN_TIMEOUT`).
    pub relay_drain_timeout: std::time::Duration,
}

/// The former name of [`ShutdownConfig`] (configuration types are named `*Config`; `*Options` are
/// the settings of one call, like `MoveOptions`).
#[deprecated(note = "renamed `ShutdownConfig`")]
pub type ShutdownOptions = ShutdownConfig;

impl Default for ShutdownConfig {
    fn default() -> Self {
        ShutdownConfig {
            delay: std::time::Duration::ZERO,
            drain_timeout: std::time::Duration::from_secs(30),
            relay_drain_timeout: std::time::Duration::from_secs(10),
        }
    }
}

impl ShutdownConfig {
    /// The defaults with the settings' shutdown durations applied.
    pub fn from_settings(settings: &crate::settings::Settings) -> ShutdownConfig {
        let defaults = ShutdownConfig::default();
        ShutdownConfig {
            delay: settings.shutdown_delay.unwrap_or(defaults.delay),
            drain_timeout: settings.drain_timeout.unwrap_or(defaults.drain_timeout),
            relay_drain_timeout: settings
                .relay_drain_timeout
                .unwrap_or(defaults.relay_drain_timeout),
        }
    }
}

/// A started application: the runtime, the wrapped router and the outbox relay.
#[derive(Debug)]
pub struct Running {
    /// The tenancy runtime.
    pub tenancy: Tenancy,
    /// The router with the framework's layers.
    pub router: Router,
    /// The outbox relay, unless turned off with [`SaasAppBuilder::without_relay`].
    pub relay: Option<RelayHandle>,
}

impl std::fmt::Debug for SaasAppBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SaasAppBuilder")
            .field("name", &self.name)
            .field("resolvers", &self.resolvers)
            .field("body_limit", &self.body_limit)
            .finish()
    }
}

impl std::fmt::Debug for SaasApp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SaasApp")
            .field("name", &self.parts.name)
            .field("resolvers", &self.parts.resolvers)
            .field("body_limit", &self.parts.body_limit)
            .finish()
    }
}

impl SaasApp {
    /// A builder with no routes, no resolvers, and the database from `DATABASE_URL`.
    pub fn builder() -> SaasAppBuilder {
        SaasAppBuilder {
            config: None,
            resolvers: ResolverChain::new(),
            migrations: None,
            routes: None,
            body_limit: DEFAULT_BODY_LIMIT,
            cache: None,
            name: "saas-app".into(),
            api: None,
            versioning: VersioningConfig::default(),
            openapi_dir: "openapi".into(),
            publisher: None,
            relay_config: RelayConfig::default(),
            run_relay: true,
            rate_limits: None,
            health: HealthConfig::default(),
            shutdown: None,
            telemetry: None,
            metrics_on_main: true,
            clock: None,
        }
    }
}

impl SaasAppBuilder {
    /// Per-tenant rate limits and quotas by plan (see [`crate::ratelimit`]); without this
    /// call nothing is limited.
    pub fn rate_limits(mut self, limits: crate::ratelimit::RateLimits) -> Self {
        self.rate_limits = Some(limits);
        self
    }

    /// The clock of every timed behaviour: rate limits, the readiness cache, the relay's
    /// polls, backoffs and retries, API versions' deprecation and sunset (see
    /// [`crate::clock`]). It replaces the clocks of [`RateLimits`](crate::ratelimit::RateLimits),
    /// [`HealthConfig`], [`RelayConfig`] and [`VersioningConfig`], whatever the order of the
    /// calls. Without this call each keeps its own ([`crate::clock::SystemClock`] by default).
    pub fn clock(mut self, clock: impl crate::clock::Clock) -> Self {
        self.clock = Some(Arc::new(clock));
        self
    }

    /// How `/livez` and `/readyz` behave (see [`crate::health`]).
    pub fn health(mut self, options: HealthConfig) -> Self {
        self.health = options;
        self
    }

    /// How [`SaasApp::serve`] (and the command line's `serve`) shuts down. Without this
    /// call: the defaults with `SAAS_SHUTDOWN_DELAY`, `SAAS_DRAIN_TIMEOUT` and
    /// `SAAS_RELAY_DRAIN_TIMEOUT` applied ([`ShutdownConfig::from_settings`]).
    pub fn shutdown(mut self, options: ShutdownConfig) -> Self {
        self.shutdown = Some(options);
        self
    }

    /// Where the outbox relay publishes domain events (default: an [`InProcessBus`] with no
    /// subscribers, which only drains the outbox; the audit trail keeps every event).
    pub fn publisher(mut self, publisher: impl Publisher) -> Self {
        self.publisher = Some(Arc::new(publisher));
        self
    }

    /// The relay's settings (batch size, retries, audit retention).
    pub fn relay_config(mut self, config: RelayConfig) -> Self {
        self.relay_config = config;
        self
    }

    /// The tenant-aware cache handlers get with the [`crate::cache::ScopedCache`] extractor.
    pub fn cache(mut self, cache: crate::cache::TenantCache) -> Self {
        self.cache = Some(cache);
        self
    }

    /// Traces and counts every request (span `http.request`, Prometheus metrics), samples
    /// the connection pools, and serves `GET /metrics` on the main listener, or on its own
    /// with `serve --metrics-listen ADDR`. See [`crate::telemetry`].
    pub fn telemetry(mut self, telemetry: crate::telemetry::Telemetry) -> Self {
        self.telemetry = Some(telemetry);
        self
    }

    /// Runs no relay in this process (when a separate worker relays the outbox).
    pub fn without_relay(mut self) -> Self {
        self.run_relay = false;
        self
    }

    /// Uses this configuration instead of the environment's.
    pub fn config(mut self, config: TenancyConfig) -> Self {
        self.config = Some(config);
        self
    }

    /// Adds a tenant resolver. A request needs a tenant from a resolver that authenticates
    /// (a token), and every resolver that only identifies (a subdomain) must name that same
    /// tenant; see [`crate::tenancy::resolver`].
    pub fn resolver(mut self, resolver: impl TenantResolver) -> Self {
        self.resolvers = self.resolvers.with(resolver);
        self
    }

    /// The application's migrations (`sqlx::migrate!()`), applied before RLS set-up.
    pub fn migrations(mut self, migrator: &'static sqlx::migrate::Migrator) -> Self {
        self.migrations = Some(migrator);
        self
    }

    /// The application's routes, built once the tenancy runtime exists.
    pub fn routes(mut self, routes: impl FnOnce(&Tenancy) -> Router + Send + 'static) -> Self {
        self.routes = Some(Box::new(routes));
        self
    }

    /// The versioned endpoints (`routes!(VERSIONS; ...)`): mounted under each version they
    /// live in, with one OpenAPI document per version and `/docs`.
    pub fn api(mut self, api: Api) -> Self {
        self.api = Some(api);
        self
    }

    /// How versions are negotiated, the clock, document settings.
    pub fn versioning(mut self, options: VersioningConfig) -> Self {
        self.versioning = options;
        self
    }

    /// Where `openapi export` writes and `openapi check` reads the committed documents
    /// (default `openapi`, relative to the working directory).
    pub fn openapi_dir(mut self, dir: impl Into<std::path::PathBuf>) -> Self {
        self.openapi_dir = dir.into();
        self
    }

    /// The versioned API with its documents, checked (every version's document builds, the
    /// version changes apply), without touching the database. [`SaasAppBuilder::build`] does
    /// this once and keeps the result ([`SaasApp::versioned_api`]).
    pub fn versioned_api(&self) -> Result<Option<VersionedApi>> {
        let Some(api) = &self.api else {
            return Ok(None);
        };
        let mut options = self.versioning.clone();
        if let Some(clock) = &self.clock {
            options.clock = clock.clone();
        }
        if options.docs.title == crate::openapi::document::DocsConfig::default().title {
            // The app's name, unless the documents were given a title of their own.
            options.docs.title = self.name.clone();
        }
        let versioned = VersionedApi::new(api.clone(), options);
        versioned.check().map_err(Error::misconfigured)?;
        Ok(Some(versioned))
    }

    /// The request body limit in bytes (default 1 MiB); larger bodies get 413.
    pub fn body_limit(mut self, bytes: usize) -> Self {
        self.body_limit = bytes;
        self
    }

    /// The application's name: the development database is named after it, and it is the
    /// title of the OpenAPI documents unless [`VersioningConfig::docs`] gives another.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// Checks the configuration without touching the database: the environment (every
    /// variable of [`Settings`], read once here), the resolvers, the versioned API and its
    /// documents. A malformed variable or an inconsistent API is an error naming it.
    pub fn build(self) -> Result<SaasApp> {
        let settings = Settings::from_env()?;
        self.resolvers.check()?;
        let versioned = self.versioned_api()?;
        Ok(SaasApp {
            parts: self,
            settings,
            versioned,
        })
    }
}

impl SaasApp {
    /// The configuration given to the builder, or the environment's. Not `&self` across
    /// the await: a future holding `&SaasApp` would not be `Send` (the routes closure need
    /// not be `Sync`).
    fn resolved_config(
        &self,
    ) -> impl std::future::Future<Output = Result<TenancyConfig>> + Send + 'static {
        let (config, settings, name) = (
            self.parts.config.clone(),
            self.settings.clone(),
            self.parts.name.clone(),
        );
        async move {
            if let Some(config) = config {
                return Ok(config);
            }
            let url = match &settings.database_url {
                Some(url) => url.clone(),
                None => development_database(&name).await?,
            };
            Ok(TenancyConfig::new(url).with_settings(&settings))
        }
    }

    /// How [`SaasApp::serve`] shuts down: the builder's [`ShutdownConfig`], or the defaults
    /// with the environment's durations.
    fn shutdown_options(&self) -> ShutdownConfig {
        self.parts
            .shutdown
            .clone()
            .unwrap_or_else(|| ShutdownConfig::from_settings(&self.settings))
    }

    /// The versioned API with its documents, as [`SaasAppBuilder::build`] checked it; `None`
    /// when the app declares none.
    pub fn versioned_api(&self) -> Option<&VersionedApi> {
        self.versioned.as_ref()
    }
}

/// Without `DATABASE_URL`: the development database, when the `dev-db` feature (which may
/// start, or install, a local PostgreSQL) is on.
#[cfg(feature = "dev-db")]
async fn development_database(name: &str) -> Result<String> {
    let url = crate::devdb::app_database(name)
        .await
        .map_err(|e| Error::config("DATABASE_URL", format!("DATABASE_URL is not set and {e}")))?;
    eprintln!("DATABASE_URL is not set: using the development database {url}");
    Ok(url)
}

/// Without `DATABASE_URL` and without the `dev-db` feature: a configuration error naming it.
#[cfg(not(feature = "dev-db"))]
async fn development_database(_name: &str) -> Result<String> {
    Err(Error::config("DATABASE_URL", MISSING_DATABASE_URL))
}

/// What an app built without the `dev-db` feature says when `DATABASE_URL` is not set.
pub const MISSING_DATABASE_URL: &str = "DATABASE_URL is not set: set it to the application's \
     PostgreSQL URL (postgres://user:password@host:5432/database), or, on a development \
     machine, build with saas-core's `dev-db` feature to start a local development database";

impl SaasApp {
    /// Starts the runtime (migrations, audit) and returns the wrapped router. The outbox
    /// relay runs in the background for as long as the process does; use [`SaasApp::start`]
    /// to keep the runtime and stop the relay gracefully.
    pub async fn router(self) -> Result<Router> {
        let running = self.start().await?;
        // Dropping the handle detaches the relay task; it keeps running.
        drop(running.relay);
        Ok(running.router)
    }

    /// Starts the runtime, the router and the outbox relay.
    pub async fn start(self) -> Result<Running> {
        let relay = self.parts.run_relay.then(|| {
            (
                self.parts
                    .publisher
                    .clone()
                    .unwrap_or_else(|| Arc::new(InProcessBus::new())),
                RelayConfig {
                    clock: self
                        .parts
                        .clock
                        .clone()
                        .unwrap_or(self.parts.relay_config.clock.clone()),
                    ..self.parts.relay_config.clone()
                },
            )
        });
        let (tenancy, router) = self.build_router().await?;
        let relay = relay.map(|(publisher, config)| {
            let databases = crate::events::relay::DatabaseRelays::spawn(
                &tenancy,
                publisher.clone(),
                config.clone(),
                std::time::Duration::from_secs(5),
            );
            Relay::with_publisher(tenancy.owner_pool(), publisher, config)
                .spawn()
                .with_databases(databases)
        });
        Ok(Running {
            tenancy,
            router,
            relay,
        })
    }

    async fn build_router(self) -> Result<(Tenancy, Router)> {
        let config = self.resolved_config().await?;
        let (app, versioned) = (self.parts, self.versioned);
        let tenancy = Tenancy::start(config, app.resolvers, app.migrations).await?;
        let mut router = match app.routes {
            Some(routes) => routes(&tenancy),
            None => Router::new(),
        };
        // Inside the TenantTxLayer wrap_router adds, which provides the tenancy runtime; one
        // limiter (one state) for the plain and the versioned routes.
        let limit = app.rate_limits.map(|limits| match &app.clock {
            Some(clock) => limits.clock(clock.clone()),
            None => limits,
        });
        let limit = limit.as_ref().map(crate::ratelimit::RateLimitLayer::new);
        if let Some(limit) = &limit {
            router = router.layer(limit.clone());
        }
        if let Some(mut versioned) = versioned {
            if let Some(limit) = limit {
                // Inside the version layer, so a 429 carries the version's headers.
                versioned = versioned.route_layer(limit);
            }
            router = router.merge(versioned.router());
        }
        if let Some(telemetry) = &app.telemetry {
            telemetry.watch_pools(&tenancy);
            if app.metrics_on_main {
                router = router.merge(telemetry.router());
            }
        }
        let mut router = match app.cache {
            Some(cache) => router.layer(axum::Extension(cache)),
            None => router,
        };
        router = wrap_router_observed(router, &tenancy, app.body_limit, app.telemetry.as_ref());
        Ok((tenancy, router))
    }

    /// Runs the application on `listener` until `shutdown` resolves, with zero-downtime
    /// semantics:
    ///
    /// 1. `/livez` and `/readyz` answer from the moment this is called; while the runtime
    ///    starts (migrations, the isolation audit) readiness is false (`migrating` or
    ///    `starting`) and every other route answers 503 with `Retry-After`.
    /// 2. Once started, it prints `listening on http://ADDR` and serves the application.
    /// 3. When `shutdown` resolves, it shuts down in the order of [`ShutdownConfig`]:
    ///    readiness off, the delay, drain in-flight requests, the relay's last drain, pools.
    ///
    /// Returns an error when the runtime fails to start (the listener is closed then).
    pub async fn serve(self, listener: tokio::net::TcpListener) -> Result<()> {
        self.serve_until(listener, shutdown_signal()).await
    }

    /// [`SaasApp::serve`] until `shutdown` resolves instead of until SIGINT/SIGTERM (tests,
    /// or an application with a shutdown signal of its own).
    pub async fn serve_until(
        self,
        listener: tokio::net::TcpListener,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> Result<()> {
        use tower::ServiceExt;
        let addr = listener
            .local_addr()
            .map_err(|e| Error::Internal(e.into()))?;
        let health = Health::new(HealthConfig {
            clock: self
                .parts
                .clock
                .clone()
                .unwrap_or(self.parts.health.clock.clone()),
            ..self.parts.health.clone()
        });
        let migrating = match &self.parts.config {
            Some(config) => config.migrate_on_start,
            None => self.settings.migrate_on_start.unwrap_or(true),
        };
        health.set_phase(if migrating {
            Phase::Migrating
        } else {
            Phase::Starting
        });
        let options = self.shutdown_options();
        let docs = cfg!(feature = "docs-ui") && self.parts.api.is_some();

        // The application router arrives once the runtime has started; until then the
        // health routes answer and everything else is "not ready".
        let app: Arc<std::sync::OnceLock<Router>> = Arc::default();
        let dispatch = {
            let app = app.clone();
            tower::service_fn(move |request: axum::extract::Request| {
                let router = app.get().cloned();
                async move {
                    match router {
                        Some(router) => router.oneshot(request).await,
                        None => Ok(crate::health::not_ready_response(&NotReady::Starting)),
                    }
                }
            })
        };
        let outer = health.router().fallback_service(dispatch);

        let (signalled_tx, signalled) = tokio::sync::watch::channel(false);
        let graceful = {
            let health = health.clone();
            let delay = options.delay;
            async move {
                shutdown.await;
                health.set_phase(Phase::ShuttingDown);
                let _ = signalled_tx.send(true);
                tracing::info!(
                    delay_ms = delay.as_millis() as u64,
                    "shutting down: readiness off"
                );
                tokio::time::sleep(delay).await;
                tracing::info!("shutting down: no new connections, draining in-flight requests");
            }
        };
        let server = tokio::spawn(async move {
            axum::serve(listener, outer)
                .with_graceful_shutdown(graceful)
                .await
        });
        let drained = drain_within(server, signalled, options.delay + options.drain_timeout);
        tokio::pin!(drained);

        let running = tokio::select! {
            started = self.start() => started,
            // A shutdown before the runtime is up: stop serving health, report nothing started.
            _ = &mut drained => return Ok(()),
        };
        let running = match running {
            Ok(running) => running,
            Err(err) => {
                health.set_phase(Phase::ShuttingDown);
                drained.as_mut().abort();
                return Err(err);
            }
        };
        let _ = app.set(running.router.clone());
        health.started(&running.tenancy);
        if docs {
            println!("API reference: http://{addr}/docs");
        }
        println!("listening on http://{addr}");

        drained.await;
        // Tenant moves started over HTTP outlive their requests: let them finish (a move cut
        // off half-way keeps the tenant's writes fenced until it is resumed).
        let background = running.tenancy.background();
        if background.running() > 0 {
            tracing::info!(
                tasks = background.running(),
                "shutting down: waiting for background tasks (tenant moves)"
            );
            if !background.wait_idle(options.drain_timeout).await {
                tracing::warn!(
                    "background tasks did not finish in time: an interrupted tenant move is \
                     resumed with the `tenants moves` command"
                );
            }
        }
        if let Some(relay) = running.relay {
            relay.drain_and_shutdown(options.relay_drain_timeout).await;
        }
        running.tenancy.close().await;
        tracing::info!("shut down");
        Ok(())
    }
}

/// Wraps an application router with the framework's layers: tenant transactions, conditional
/// writes (`If-Match`), HTTP cache headers, the body limit, panics as 500 problems, and problem
/// documents for every error axum makes itself.
///
/// Add your own layers (rate limits, extensions, state) to `router` *before* wrapping it: the
/// `GET` that a conditional (`If-Match`) write routes first goes through the routes as they
/// were given here, with the framework's layers, not through layers added afterwards.
pub fn wrap_router(router: Router, tenancy: &Tenancy, body_limit: usize) -> Router {
    wrap_router_observed(router, tenancy, body_limit, None)
}

/// [`wrap_router`], with the telemetry layer (see [`crate::telemetry`]) outermost when one is
/// given, so that it sees the final status, problem documents and panics included.
///
/// The layers are composed into one stack and applied to the routes at once: axum boxes each
/// `Router::layer` separately, per route and per request, so one stack costs less than five
/// layers (and telemetry added here costs less than `router.layer(telemetry.layer())`).
pub fn wrap_router_observed(
    router: Router,
    tenancy: &Tenancy,
    body_limit: usize,
    telemetry: Option<&crate::telemetry::Telemetry>,
) -> Router {
    let stack = |conditional| {
        tower::ServiceBuilder::new()
            .layer(CatchPanicLayer::custom(
                |_panic: Box<dyn std::any::Any + Send>| {
                    use axum::response::IntoResponse;
                    ApiError::Internal(anyhow::anyhow!("handler panicked")).into_response()
                },
            ))
            // Outside the body limit, so its 413 becomes a problem document too.
            .layer(axum::middleware::from_fn(
                crate::http::problem_for_plain_errors,
            ))
            .layer(RequestBodyLimitLayer::new(body_limit))
            // Outside the transaction layer: a 304 replaces a response that has committed.
            .layer(crate::http::cache::HttpCacheLayer)
            // Outside the transaction layer: it owns the transaction of a conditional write.
            .layer(conditional)
            .layer(TenantTxLayer::new(tenancy.clone()))
            .into_inner()
    };
    // The `GET` behind an `If-Match` write is routed through the same routes and layers (no
    // telemetry: it is part of the write, which is counted).
    let probes = router.clone().layer(stack(
        crate::tenancy::conditional::IfMatchLayer::pass_through(tenancy.clone()),
    ));
    let framework = stack(crate::tenancy::conditional::IfMatchLayer::new(
        tenancy.clone(),
        probes,
    ));
    match telemetry {
        Some(telemetry) => router.layer(
            tower::ServiceBuilder::new()
                .layer(telemetry.layer())
                .map_response(axum::response::IntoResponse::into_response)
                .layer(framework),
        ),
        None => router.layer(framework),
    }
}

/// The server task, given at most `cap` from the shutdown signal to finish its in-flight
/// requests; after that they are cut off (their transactions roll back).
struct Drained {
    inner: futures_util::future::BoxFuture<'static, ()>,
    abort: tokio::task::AbortHandle,
}

impl Drained {
    fn abort(self: std::pin::Pin<&mut Self>) {
        self.abort.abort();
    }
}

impl std::future::Future for Drained {
    type Output = ();
    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<()> {
        self.inner.as_mut().poll(cx)
    }
}

fn drain_within(
    server: tokio::task::JoinHandle<std::io::Result<()>>,
    mut signalled: tokio::sync::watch::Receiver<bool>,
    cap: std::time::Duration,
) -> Drained {
    let abort = server.abort_handle();
    let cut = abort.clone();
    let inner = Box::pin(async move {
        let deadline = async {
            let _ = signalled.wait_for(|s| *s).await;
            tokio::time::sleep(cap).await;
        };
        tokio::select! {
            result = server => match result {
                Ok(Ok(())) => {}
                Ok(Err(err)) => tracing::error!(error = %err, "the HTTP server failed"),
                Err(err) if err.is_cancelled() => {}
                Err(err) => tracing::error!(error = %err, "the HTTP server panicked"),
            },
            _ = deadline => {
                tracing::warn!(
                    cap_ms = cap.as_millis() as u64,
                    "in-flight requests did not finish in time: cutting them off"
                );
                cut.abort();
            }
        }
    });
    Drained { inner, abort }
}

/// Serves until SIGINT or SIGTERM, finishing in-flight requests. Prints `listening on ADDR`
/// once connections are accepted.
pub async fn serve(router: Router, listen: SocketAddr) -> std::io::Result<()> {
    serve_with_docs(router, listen, false).await
}

/// [`serve`], also printing the API reference's URL when `docs` is set.
pub async fn serve_with_docs(
    router: Router,
    listen: SocketAddr,
    docs: bool,
) -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::bind(listen).await?;
    let addr = listener.local_addr()?;
    if docs {
        println!("API reference: http://{addr}/docs");
    }
    println!("listening on http://{addr}");
    axum::serve(listener, router)
        .with_graceful_shutdown(shutdown_signal())
        .await
}

/// Resolves on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}
