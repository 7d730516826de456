//! taskboard: a multi-tenant project and task tracker built on saas-core, the framework's
//! reference application. Its HTTP contract is fixed (see the repository's docs).

pub mod admin;
pub mod api;
pub mod edge;
pub mod events;
pub mod models;
pub mod web;

use axum::Router;
use axum::routing::get;
use rand::Rng;
use saas_core::app::{SaasApp, SaasAppBuilder};
use saas_core::openapi::document::DocsConfig;
use saas_core::ratelimit::RateLimits;
use saas_core::telemetry::{Telemetry, TelemetryConfig};
use saas_core::tenancy::pool::Tenancy;
use saas_core::tenancy::resolver::{JwtIssuer, JwtResolver, SubdomainResolver};
use saas_core::versioning::VersioningConfig;

/// The taskboard's migrations (tables only; the framework adds RLS).
pub static MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// Secrets the app runs with.
#[derive(Clone, Debug)]
pub struct Settings {
    /// Bearer token of the admin API.
    pub admin_token: String,
    /// HS256 secret of tenant tokens.
    pub jwt_secret: String,
    /// Bearer token of `GET /metrics` (`TASKBOARD_METRICS_TOKEN`); when unset, the admin
    /// token. `/metrics` is never open: its values name tenants.
    pub metrics_token: Option<String>,
    /// `TASKBOARD_BASE_DOMAIN`: requests to `<slug>.<base domain>` name that tenant. A name
    /// only identifies: the request's token must be that tenant's (else 401).
    pub base_domain: Option<String>,
}

fn random_secret() -> String {
    let mut rng = rand::rng();
    (0..40)
        .map(|_| char::from(b"abcdefghijklmnopqrstuvwxyz0123456789"[rng.random_range(0..36)]))
        .collect()
}

impl Settings {
    /// Settings with these secrets and nothing else configured.
    pub fn new(admin_token: impl Into<String>, jwt_secret: impl Into<String>) -> Settings {
        Settings {
            admin_token: admin_token.into(),
            jwt_secret: jwt_secret.into(),
            metrics_token: None,
            base_domain: None,
        }
    }

    /// Reads `TASKBOARD_ADMIN_TOKEN`, `TASKBOARD_JWT_SECRET` (generating what is unset),
    /// `TASKBOARD_METRICS_TOKEN` (or `SAAS_METRICS_TOKEN`) and `TASKBOARD_BASE_DOMAIN`.
    /// The second value says whether the admin token was generated (and should be printed).
    pub fn from_env() -> (Settings, bool) {
        let var = |name: &str| {
            std::env::var(name)
                .ok()
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
        };
        let admin = var("TASKBOARD_ADMIN_TOKEN");
        let generated = admin.is_none();
        (
            Settings {
                admin_token: admin.unwrap_or_else(random_secret),
                jwt_secret: var("TASKBOARD_JWT_SECRET").unwrap_or_else(random_secret),
                metrics_token: var("TASKBOARD_METRICS_TOKEN").or_else(|| var("SAAS_METRICS_TOKEN")),
                base_domain: var("TASKBOARD_BASE_DOMAIN"),
            },
            generated,
        )
    }
}

/// The per-tenant rate limits `serve` runs with: the plans of `SAAS_RATE_LIMITS` (for example
/// `default=600/m,burst=50; free=60/m,quota=10000/d; pro=unlimited`), counted in process
/// memory or, with `TASKBOARD_REDIS_URL` set, in that Redis (shared by every instance).
/// `None` when `SAAS_RATE_LIMITS` is unset or empty: nothing is limited. An invalid
/// specification or Redis URL is an error, never a silent default.
pub fn rate_limits_from_env() -> anyhow::Result<Option<RateLimits>> {
    let var = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
    let Some(spec) = var("SAAS_RATE_LIMITS") else {
        return Ok(None);
    };
    let mut limits = RateLimits::new().parse(&spec)?;
    if let Some(url) = var("TASKBOARD_REDIS_URL") {
        limits = limits.redis(&url)?;
    }
    Ok(Some(limits))
}

/// Every route of the app, unwrapped (the framework's layers are added by `SaasApp`).
pub fn routes(tenancy: &Tenancy, settings: &Settings) -> Router {
    let admin = admin::AdminState {
        tenancy: tenancy.clone(),
        admin_token: settings.admin_token.clone(),
        issuer: JwtIssuer::hs256(settings.jwt_secret.as_bytes()),
    };
    Router::new()
        .merge(admin::routes(admin))
        .merge(web::routes())
        .route("/healthz", get(|| async { "ok" }))
}

/// The application: resolvers, migrations, routes and telemetry (`GET /metrics` in the
/// Prometheus text format, on the main listener or, with `serve --metrics-listen ADDR`, on
/// its own).
pub fn app(settings: Settings) -> SaasAppBuilder {
    let metrics_token = settings
        .metrics_token
        .clone()
        .unwrap_or_else(|| settings.admin_token.clone());
    let mut app = SaasApp::builder()
        .name("taskboard")
        .telemetry(Telemetry::with_config(
            TelemetryConfig::default().scrape_token(metrics_token),
        ))
        .resolver(JwtResolver::hs256(settings.jwt_secret.as_bytes()));
    if let Some(base) = &settings.base_domain {
        app = app.resolver(SubdomainResolver::new(base.as_str()));
    }
    app.migrations(&MIGRATIONS)
        .api(api::api())
        .versioning(VersioningConfig {
            docs: DocsConfig {
                title: "taskboard".into(),
                description: Some("A multi-tenant project and task tracker.".into()),
                bearer: true,
            },
            ..VersioningConfig::default()
        })
        .openapi_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/openapi"))
        .routes(move |tenancy| routes(tenancy, &settings))
}
