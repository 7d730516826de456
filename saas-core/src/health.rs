//! Liveness and readiness, and the phases of a process's life that decide them.
//!
//! - `GET /livez` answers 200 as long as the process serves HTTP at all, from the moment it
//!   listens (before migrations) until it exits. An orchestrator restarts the process when
//!   this fails; it never depends on the database, so a database outage does not restart
//!   every replica at once.
//! - `GET /readyz` answers 200 only when the process should receive traffic: it has finished
//!   starting (migrations, the isolation audit), the database answers, and it is not shutting
//!   down. Otherwise it answers 503 with a problem document whose `reason` member is one of
//!   `starting`, `migrating`, `database_unreachable`, `migration_running` (only with
//!   [`HealthConfig::unready_while_migrating`]) or `shutting_down`.
//!
//! [`crate::app::SaasApp::serve`] wires both in and moves the phases along; they are served
//! outside the tenant layers (no credentials, no transaction).

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use axum::Router;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::clock::{Clock, SystemClock};
use crate::error::{PROBLEM_JSON, Problem};
use crate::tenancy::pool::Tenancy;

/// Where a process is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Phase {
    /// Connecting, auditing: not ready yet.
    Starting = 0,
    /// Applying migrations to the shared schema and the tenants: not ready yet.
    Migrating = 1,
    /// Serving.
    Ready = 2,
    /// A shutdown signal arrived: in-flight requests finish, no new traffic should come.
    ShuttingDown = 3,
}

impl Phase {
    fn from_u8(value: u8) -> Phase {
        match value {
            0 => Phase::Starting,
            1 => Phase::Migrating,
            2 => Phase::Ready,
            _ => Phase::ShuttingDown,
        }
    }
}

/// Why `/readyz` answers 503.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotReady {
    /// The process has not finished starting.
    Starting,
    /// The process is applying migrations.
    Migrating,
    /// The database did not answer within [`HealthConfig::check_timeout`]. The text says
    /// why, for the logs: it never reaches the response (a database's error text can name
    /// hosts, users, databases and tenants).
    DatabaseUnreachable(String),
    /// Another process holds the migration lock (only reported with
    /// [`HealthConfig::unready_while_migrating`]).
    MigrationRunning,
    /// The process is shutting down.
    ShuttingDown,
}

impl NotReady {
    /// The `reason` member of the problem document.
    pub fn reason(&self) -> &'static str {
        match self {
            NotReady::Starting => "starting",
            NotReady::Migrating => "migrating",
            NotReady::DatabaseUnreachable(_) => "database_unreachable",
            NotReady::MigrationRunning => "migration_running",
            NotReady::ShuttingDown => "shutting_down",
        }
    }

    fn detail(&self) -> String {
        match self {
            NotReady::Starting => "the process is starting".into(),
            NotReady::Migrating => "the process is applying migrations".into(),
            NotReady::DatabaseUnreachable(_) => "the database is unreachable".into(),
            NotReady::MigrationRunning => "another process is applying migrations".into(),
            NotReady::ShuttingDown => "the process is shutting down".into(),
        }
    }
}

/// How readiness is checked.
#[derive(Debug, Clone)]
pub struct HealthConfig {
    /// How long the database may take to answer `SELECT 1` (default 2 s).
    pub check_timeout: Duration,
    /// How long a database check's result is reused, so that frequent probes from many
    /// load balancers cost one query per interval (default 1 s).
    pub cache_for: Duration,
    /// Report `migration_running` while *another* process (a migration job, a newer
    /// release starting) holds the migration lock. Off by default: with expand/contract
    /// migrations the running release keeps working while the next one migrates, and taking
    /// every replica out of rotation for the duration of a migration is an outage.
    pub unready_while_migrating: bool,
    /// The liveness path (default `/livez`).
    pub liveness_path: String,
    /// The readiness path (default `/readyz`).
    pub readiness_path: String,
    /// The clock `cache_for` is measured on (default [`SystemClock`]; a
    /// [`crate::clock::ManualClock`] in tests). `check_timeout` bounds real waiting on the
    /// database and stays on the system's time.
    pub clock: Arc<dyn Clock>,
}

/// The former name of [`HealthConfig`] (configuration types are named `*Config`; `*Options` are
/// the settings of one call, like `MoveOptions`).
#[deprecated(note = "renamed `HealthConfig`")]
pub type HealthOptions = HealthConfig;

impl Default for HealthConfig {
    fn default() -> Self {
        HealthConfig {
            check_timeout: Duration::from_secs(2),
            cache_for: Duration::from_secs(1),
            unready_while_migrating: false,
            liveness_path: "/livez".into(),
            readiness_path: "/readyz".into(),
            clock: Arc::new(SystemClock),
        }
    }
}

/// A process's health: its phase and, once started, its tenancy runtime. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Health {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    phase: AtomicU8,
    tenancy: OnceLock<Tenancy>,
    options: HealthConfig,
    last: Cached,
}

/// The last database check and when it ended, on the configured clock.
#[derive(Debug, Default)]
struct Cached(Mutex<Option<(Instant, Result<(), NotReady>)>>);

impl Cached {
    /// The last result, while it is younger than `ttl`.
    fn fresh(&self, clock: &dyn Clock, ttl: Duration) -> Option<Result<(), NotReady>> {
        let guard = self.0.lock().ok()?;
        let (at, result) = guard.as_ref()?;
        (clock.monotonic().saturating_duration_since(*at) < ttl).then(|| result.clone())
    }

    fn store(&self, clock: &dyn Clock, result: Result<(), NotReady>) {
        if let Ok(mut guard) = self.0.lock() {
            *guard = Some((clock.monotonic(), result));
        }
    }
}

impl Health {
    /// A process that is starting.
    pub fn new(options: HealthConfig) -> Health {
        Health {
            inner: Arc::new(Inner {
                phase: AtomicU8::new(Phase::Starting as u8),
                tenancy: OnceLock::new(),
                options,
                last: Cached::default(),
            }),
        }
    }

    /// The current phase.
    pub fn phase(&self) -> Phase {
        Phase::from_u8(self.inner.phase.load(Ordering::SeqCst))
    }

    /// Moves to `phase`. Leaving [`Phase::ShuttingDown`] is refused: once a process is going
    /// away it never reports ready again.
    pub fn set_phase(&self, phase: Phase) {
        let _ = self
            .inner
            .phase
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |current| {
                (current != Phase::ShuttingDown as u8).then_some(phase as u8)
            });
    }

    /// The runtime has started: readiness now depends on the database.
    pub fn started(&self, tenancy: &Tenancy) {
        let _ = self.inner.tenancy.set(tenancy.clone());
        self.set_phase(Phase::Ready);
    }

    /// The settings.
    pub fn options(&self) -> &HealthConfig {
        &self.inner.options
    }

    /// Whether the process should receive traffic now, and if not why.
    pub async fn readiness(&self) -> Result<(), NotReady> {
        match self.phase() {
            Phase::Starting => return Err(NotReady::Starting),
            Phase::Migrating => return Err(NotReady::Migrating),
            Phase::ShuttingDown => return Err(NotReady::ShuttingDown),
            Phase::Ready => {}
        }
        let Some(tenancy) = self.inner.tenancy.get() else {
            return Err(NotReady::Starting);
        };
        let (clock, ttl) = (&*self.inner.options.clock, self.inner.options.cache_for);
        if let Some(result) = self.inner.last.fresh(clock, ttl) {
            return result;
        }
        let result = self.check_database(tenancy).await;
        self.inner.last.store(clock, result.clone());
        // A shutdown that began during the check wins.
        if self.phase() == Phase::ShuttingDown {
            return Err(NotReady::ShuttingDown);
        }
        result
    }

    async fn check_database(&self, tenancy: &Tenancy) -> Result<(), NotReady> {
        let options = &self.inner.options;
        // The owner pool is small and separate from the request pool, so a saturated request
        // pool (slow requests, not a dead database) does not take the replica out of rotation.
        let check = async {
            let mut conn = tenancy.owner_pool().acquire().await?;
            if options.unready_while_migrating {
                crate::migrate::migration_running(&mut conn).await
            } else {
                sqlx::query("SELECT 1").execute(&mut *conn).await?;
                Ok(false)
            }
        };
        match tokio::time::timeout(options.check_timeout, check).await {
            Ok(Ok(false)) => Ok(()),
            Ok(Ok(true)) => Err(NotReady::MigrationRunning),
            Ok(Err(err)) => Err(NotReady::DatabaseUnreachable(short(&err))),
            Err(_) => Err(NotReady::DatabaseUnreachable(format!(
                "no answer within {} ms",
                options.check_timeout.as_millis()
            ))),
        }
    }

    /// The `/livez` and `/readyz` routes (paths from [`HealthConfig`]). Mount them outside
    /// the tenant layers: `wrapped_router.merge(health.router())`.
    pub fn router(&self) -> Router {
        let readiness = self.clone();
        let options = &self.inner.options;
        Router::new()
            .route(&options.liveness_path, get(live))
            .route(
                &options.readiness_path,
                get(move || {
                    let health = readiness.clone();
                    async move { health.readiness_response().await }
                }),
            )
    }

    async fn readiness_response(&self) -> Response {
        match self.readiness().await {
            Ok(()) => json(StatusCode::OK, serde_json::json!({ "status": "ready" })),
            Err(not_ready) => {
                if let NotReady::DatabaseUnreachable(why) = &not_ready {
                    tracing::warn!(error = %why, "readiness check: the database is unreachable");
                }
                not_ready_response(&not_ready)
            }
        }
    }
}

async fn live() -> Response {
    json(StatusCode::OK, serde_json::json!({ "status": "alive" }))
}

/// A 503 problem document with the `reason` member and `Retry-After`.
pub(crate) fn not_ready_response(not_ready: &NotReady) -> Response {
    let problem = Problem::new(StatusCode::SERVICE_UNAVAILABLE, not_ready.detail());
    let mut body = serde_json::to_value(&problem).unwrap_or_default();
    body["reason"] = not_ready.reason().into();
    let mut response = json(StatusCode::SERVICE_UNAVAILABLE, body);
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    response
}

fn json(status: StatusCode, body: serde_json::Value) -> Response {
    let mut response = (status, axum::Json(body)).into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// The first line of an error, without connection strings.
fn short(err: &sqlx::Error) -> String {
    let text = match err {
        sqlx::Error::PoolTimedOut => "timed out waiting for a connection".to_string(),
        sqlx::Error::Io(io) => format!("I/O error: {}", io.kind()),
        other => other.to_string(),
    };
    text.lines()
        .next()
        .unwrap_or_default()
        .chars()
        .take(200)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn database_error_text_never_reaches_the_response() {
        let why = "password authentication failed for user \"acme_owner\" on db-7.internal";
        let response = not_ready_response(&NotReady::DatabaseUnreachable(why.into()));
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        let body = axum::body::to_bytes(response.into_body(), 1 << 16)
            .await
            .unwrap();
        let text = String::from_utf8(body.to_vec()).unwrap();
        assert!(text.contains("database_unreachable"), "{text}");
        for leak in ["password", "acme_owner", "db-7.internal"] {
            assert!(!text.contains(leak), "the 503 echoes {leak:?}: {text}");
        }
    }

    #[test]
    fn shutting_down_is_final() {
        let health = Health::new(HealthConfig::default());
        assert_eq!(health.phase(), Phase::Starting);
        health.set_phase(Phase::Migrating);
        assert_eq!(health.phase(), Phase::Migrating);
        health.set_phase(Phase::ShuttingDown);
        health.set_phase(Phase::Ready);
        assert_eq!(health.phase(), Phase::ShuttingDown);
    }

    #[tokio::test]
    async fn not_ready_before_the_runtime_exists() {
        let health = Health::new(HealthConfig::default());
        assert_eq!(health.readiness().await, Err(NotReady::Starting));
        health.set_phase(Phase::Migrating);
        assert_eq!(health.readiness().await, Err(NotReady::Migrating));
        // Ready without a runtime cannot be confirmed.
        health.set_phase(Phase::Ready);
        assert_eq!(health.readiness().await, Err(NotReady::Starting));
    }

    #[test]
    fn a_cached_result_expires_exactly_at_cache_for() {
        let clock = crate::clock::ManualClock::new();
        let ttl = Duration::from_secs(1);
        let cached = Cached::default();
        assert_eq!(cached.fresh(&clock, ttl), None);
        cached.store(&clock, Err(NotReady::MigrationRunning));
        clock.advance(ttl - Duration::from_nanos(1));
        assert_eq!(
            cached.fresh(&clock, ttl),
            Some(Err(NotReady::MigrationRunning))
        );
        // Wall-clock jumps do not age it: the cache runs on monotonic time.
        clock.set(0);
        assert!(cached.fresh(&clock, ttl).is_some());
        clock.advance(Duration::from_nanos(1));
        assert_eq!(cached.fresh(&clock, ttl), None);
        assert_eq!(cached.fresh(&clock, Duration::ZERO), None);
    }

    #[test]
    fn the_problem_names_the_reason() {
        let response = not_ready_response(&NotReady::DatabaseUnreachable("refused".into()));
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(response.headers()[header::CONTENT_TYPE], PROBLEM_JSON);
        assert_eq!(response.headers()[header::RETRY_AFTER], "1");
    }
}
