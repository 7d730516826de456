//! Liveness, readiness and graceful shutdown of `SaasApp::serve` over real TCP, on a real
//! PostgreSQL: readiness is false while migrations run, when the database is unreachable and
//! once shutdown began; in-flight requests finish, the relay publishes what they committed,
//! then the process stops. The app runs on a `ManualClock`: the readiness cache expires and
//! the relay polls only when a test advances it.

use crate::common;

use std::sync::Arc;
use std::time::Duration;

use axum::routing::post;
use common::events::{Noted, Recorder};
use saas_core::app::{SaasApp, ShutdownConfig};
use saas_core::clock::ManualClock;
use saas_core::events::relay::RelayConfig;
use saas_core::health::HealthConfig;
use saas_core::prelude::*;
use saas_core::tenancy::pool::TenancyConfig;
use saas_core::tenancy::registry::NewTenant;
use saas_core::tenancy::resolver::{JwtIssuer, JwtResolver};
use saas_testkit::wait_until;
use sqlx::Connection;
use tokio::sync::{Semaphore, oneshot};

/// Holds `POST /gated` requests in their handler until the test lets them through.
#[derive(Clone)]
struct Gate {
    entered: Arc<Semaphore>,
    open: Arc<Semaphore>,
}

impl Gate {
    fn new() -> Gate {
        Gate {
            entered: Arc::new(Semaphore::new(0)),
            open: Arc::new(Semaphore::new(0)),
        }
    }

    /// Waits until a request is inside the handler.
    async fn entered(&self) {
        tokio::time::timeout(Duration::from_secs(30), self.entered.acquire())
            .await
            .expect("a request reached the handler")
            .unwrap()
            .forget();
    }

    /// Lets one request through.
    fn open(&self) {
        self.open.add_permits(1);
    }
}

/// Waits at the gate, then emits one event in the request's transaction and answers 200.
async fn gated(gate: Gate, mut tx: TenantTx) -> ApiResult<&'static str> {
    gate.entered.add_permits(1);
    gate.open.acquire().await.unwrap().forget();
    saas_core::events::emit(
        &mut tx,
        &Noted {
            aggregate: Uuid::new_v4(),
            n: 0,
        },
    )
    .await?;
    Ok("done")
}

struct Served {
    base: String,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<saas_core::Result<()>>,
    clock: ManualClock,
    gate: Gate,
}

impl Served {
    async fn start(
        config: TenancyConfig,
        health: HealthConfig,
        shutdown: ShutdownConfig,
        recorder: Recorder,
    ) -> Served {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (stop, stopped) = oneshot::channel::<()>();
        let (clock, gate) = (ManualClock::new(), Gate::new());
        let handler_gate = gate.clone();
        let app = SaasApp::builder()
            .config(config)
            .resolver(JwtResolver::hs256(common::SECRET))
            .migrations(&common::MIGRATIONS)
            .routes(move |_| {
                common::routes().route("/gated", post(move |tx| gated(handler_gate.clone(), tx)))
            })
            .publisher(recorder)
            // No LISTEN and a clock that stands still: the relay publishes only at start and
            // in its last drain, so an event seen after shutdown proves that drain.
            .relay_config(RelayConfig {
                listen: false,
                ..RelayConfig::default()
            })
            .health(health)
            .shutdown(shutdown)
            .clock(clock.clone());
        let task = tokio::spawn(app.build().unwrap().serve_until(listener, async {
            let _ = stopped.await;
        }));
        Served {
            base,
            stop: Some(stop),
            task,
            clock,
            gate,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    async fn status(&self, path: &str) -> (u16, serde_json::Value) {
        let response = client().get(self.url(path)).send().await.unwrap();
        let status = response.status().as_u16();
        let body = response.json().await.unwrap_or(serde_json::Value::Null);
        (status, body)
    }

    /// Polls `/readyz` until it answers `want` (at most 60 s).
    async fn wait_ready(&self, want: u16) -> serde_json::Value {
        let mut body = serde_json::Value::Null;
        wait_until(
            &format!("/readyz answers {want}"),
            Duration::from_secs(60),
            async || match client().get(self.url("/readyz")).send().await {
                Ok(response) if response.status().as_u16() == want => {
                    body = response.json().await.unwrap();
                    true
                }
                _ => false,
            },
        )
        .await;
        body
    }

    async fn shut_down(mut self) -> saas_core::Result<()> {
        let _ = self.stop.take().unwrap().send(());
        tokio::time::timeout(Duration::from_secs(60), self.task)
            .await
            .expect("serve returns after shutdown")
            .unwrap()
    }
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

fn token(tenant: TenantId) -> String {
    JwtIssuer::hs256(common::SECRET)
        .issue(tenant, "ops", 600)
        .unwrap()
}

async fn create_tenant(slug: &str, config: &TenancyConfig) -> TenantId {
    // Through a runtime of its own, which the served app's registry cache does not know yet;
    // it looks tenants up by id on first use.
    let tenancy = saas_core::tenancy::pool::Tenancy::start(
        TenancyConfig {
            migrate_on_start: false,
            ..config.clone()
        },
        common::resolvers(),
        Some(&common::MIGRATIONS),
    )
    .await
    .unwrap();
    let tenant = tenancy
        .tenants()
        .create(NewTenant::new(slug, slug))
        .await
        .unwrap();
    tenancy.close().await;
    tenant.id
}

/// Takes or releases the framework's migration lock, as a migration job would.
async fn migration_lock(conn: &mut sqlx::PgConnection, take: bool) {
    let sql = if take {
        "SELECT pg_advisory_lock(x'5aa5c0de'::bigint)"
    } else {
        "SELECT pg_advisory_unlock(x'5aa5c0de'::bigint)"
    };
    sqlx::query(sql).execute(conn).await.unwrap();
}

/// Rows still in the primary outbox (the relay deletes what it published).
async fn outbox_rows(db: &saas_testkit::TestDb) -> i64 {
    let mut conn = sqlx::PgConnection::connect(db.url()).await.unwrap();
    sqlx::query_scalar("SELECT count(*) FROM saas_outbox")
        .fetch_one(&mut conn)
        .await
        .unwrap()
}

/// `POST /gated` as `tenant`, sent in the background; returns once it waits in the handler.
async fn gated_request(
    served: &Served,
    tenant: TenantId,
) -> tokio::task::JoinHandle<reqwest::Result<reqwest::Response>> {
    let request = client()
        .post(served.url("/gated"))
        .bearer_auth(token(tenant));
    let sent = tokio::spawn(request.send());
    served.gate.entered().await;
    sent
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_is_false_while_migrations_run_and_true_after() {
    let db = saas_testkit::TestDb::new().await.unwrap();
    // Another process (a migration job) holds the migration lock: this one waits for it.
    let mut job = sqlx::PgConnection::connect(db.url()).await.unwrap();
    migration_lock(&mut job, true).await;
    let served = Served::start(
        db.config(),
        HealthConfig::default(),
        ShutdownConfig::default(),
        Recorder::new(),
    )
    .await;
    // Alive and answering at once, not ready, and every other route a 503 problem.
    let (status, body) = served.status("/livez").await;
    assert_eq!((status, body["status"].as_str()), (200, Some("alive")));
    let (status, body) = served.status("/readyz").await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["reason"], "migrating");
    assert_eq!(body["status"], 503);
    let response = client().get(served.url("/projects")).send().await.unwrap();
    assert_eq!(response.status(), 503);
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
    assert!(response.headers().contains_key("retry-after"));

    migration_lock(&mut job, false).await;
    let body = served.wait_ready(200).await;
    assert_eq!(body["status"], "ready");

    // By default a migration job started later does not take this replica out of rotation
    // (expand/contract: the running release keeps working during the next one's migration),
    // also once the cached check has expired and the database is asked again.
    migration_lock(&mut job, true).await;
    served.clock.advance(HealthConfig::default().cache_for);
    assert_eq!(served.status("/readyz").await.0, 200);
    migration_lock(&mut job, false).await;

    // The routes work, with tenant isolation as always: another tenant's project is a 404.
    let acme = create_tenant("acme", &db.config()).await;
    let globex = create_tenant("globex", &db.config()).await;
    let created: serde_json::Value = client()
        .post(served.url("/projects"))
        .bearer_auth(token(acme))
        .json(&serde_json::json!({"name": "alpha"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = created["id"].as_str().unwrap();
    let theirs = client()
        .get(served.url(&format!("/projects/{id}")))
        .bearer_auth(token(globex))
        .send()
        .await
        .unwrap();
    assert_eq!(theirs.status(), 404);
    // Health routes need no credentials and are not tenant routes.
    let with_token = client()
        .get(served.url("/readyz"))
        .bearer_auth(token(globex))
        .send()
        .await
        .unwrap();
    assert_eq!(with_token.status(), 200);
    served.shut_down().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_processs_migration_can_take_readiness_away_when_asked() {
    let db = saas_testkit::TestDb::new().await.unwrap();
    let cache_for = Duration::from_secs(5);
    let served = Served::start(
        db.config(),
        HealthConfig {
            unready_while_migrating: true,
            cache_for,
            ..HealthConfig::default()
        },
        ShutdownConfig::default(),
        Recorder::new(),
    )
    .await;
    served.wait_ready(200).await;
    let mut job = sqlx::PgConnection::connect(db.url()).await.unwrap();
    migration_lock(&mut job, true).await;
    // The cached "ready" holds until `cache_for` has passed on the app's clock, then the next
    // probe asks the database again.
    served.clock.advance(cache_for - Duration::from_millis(1));
    assert_eq!(
        served.status("/readyz").await.0,
        200,
        "the cache expired early"
    );
    served.clock.advance(Duration::from_millis(1));
    let (status, body) = served.status("/readyz").await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["reason"], "migration_running");
    // Liveness never depends on it.
    assert_eq!(served.status("/livez").await.0, 200);
    migration_lock(&mut job, false).await;
    assert_eq!(
        served.status("/readyz").await.0,
        503,
        "cached until it expires"
    );
    served.clock.advance(cache_for);
    assert_eq!(served.status("/readyz").await.0, 200);
    served.shut_down().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_follows_the_database_and_liveness_does_not() {
    // A cluster of this test's own, so stopping it disturbs nobody else.
    let dir = std::env::temp_dir().join(format!("saas-health-{}", std::process::id()));
    let port = common::free_port();
    let url = saas_core::devdb::start_cluster(&dir, port, std::process::id())
        .await
        .expect("a throwaway PostgreSQL cluster (needs the PostgreSQL server binaries)");
    let served = Served::start(
        TenancyConfig {
            acquire_timeout: Duration::from_secs(1),
            ..TenancyConfig::new(url.clone())
        },
        HealthConfig {
            check_timeout: Duration::from_millis(1500),
            cache_for: Duration::ZERO,
            ..HealthConfig::default()
        },
        ShutdownConfig::default(),
        Recorder::new(),
    )
    .await;
    served.wait_ready(200).await;

    saas_core::devdb::stop_cluster(&dir).unwrap();
    let body = served.wait_ready(503).await;
    assert_eq!(body["reason"], "database_unreachable", "{body}");
    assert!(!body["detail"].as_str().unwrap().contains("postgres://"));
    assert_eq!(served.status("/livez").await.0, 200);

    saas_core::devdb::start_cluster(&dir, port, std::process::id())
        .await
        .unwrap();
    served.wait_ready(200).await;
    served.shut_down().await.unwrap();
    saas_core::devdb::stop_cluster(&dir).ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_drains_requests_and_the_outbox_in_order() {
    let db = saas_testkit::TestDb::new().await.unwrap();
    let recorder = Recorder::new();
    let served = Served::start(
        db.config(),
        HealthConfig {
            cache_for: Duration::ZERO,
            ..HealthConfig::default()
        },
        ShutdownConfig {
            delay: Duration::from_millis(700),
            drain_timeout: Duration::from_secs(20),
            relay_drain_timeout: Duration::from_secs(10),
        },
        recorder.clone(),
    )
    .await;
    served.wait_ready(200).await;
    let acme = create_tenant("acme", &db.config()).await;
    // The relay's first cycle (at start) is over once it and the tenant databases'
    // supervisor both wait on the stopped clock: from now on only the last drain publishes.
    let clock = served.clock.clone();
    wait_until("the relay is idle", Duration::from_secs(30), async || {
        clock.sleepers() >= 2
    })
    .await;
    // A request committed before the signal stays in the outbox until the last drain.
    served.gate.open();
    let done = gated_request(&served, acme).await.await.unwrap().unwrap();
    assert_eq!(done.status(), 200);

    // A request that is still running when the signal comes.
    let in_flight = gated_request(&served, acme).await;
    let gate = served.gate.clone();
    let Served {
        base, stop, task, ..
    } = served;
    let _ = stop.unwrap().send(());

    // During the delay: not ready, but still accepting (load balancers are catching up).
    let response = client().get(format!("{base}/readyz")).send().await.unwrap();
    assert_eq!(response.status(), 503);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["reason"], "shutting_down");
    assert_eq!(
        recorder.count(),
        0,
        "nothing published before the last drain"
    );

    // The in-flight request finishes with success and its transaction is kept.
    gate.open();
    let response = in_flight.await.unwrap().unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.text().await.unwrap(), "done");
    tokio::time::timeout(Duration::from_secs(60), task)
        .await
        .expect("serve returns")
        .unwrap()
        .unwrap();

    // Then the listener is closed ...
    assert!(client().get(format!("{base}/livez")).send().await.is_err());
    // ... and the events the requests committed were published by the relay's last drain.
    let events = recorder.events();
    assert_eq!(events.len(), 2, "{events:?}");
    assert!(events.iter().all(|e| e.tenant_id == acme));
    assert!(events.iter().all(|e| e.event_type == "note.added"));
    assert_eq!(
        outbox_rows(&db).await,
        0,
        "the outbox is empty after the drain"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_running_past_the_drain_cap_are_cut_off_and_roll_back() {
    let db = saas_testkit::TestDb::new().await.unwrap();
    let recorder = Recorder::new();
    let served = Served::start(
        db.config(),
        HealthConfig::default(),
        ShutdownConfig {
            delay: Duration::ZERO,
            drain_timeout: Duration::from_millis(500),
            relay_drain_timeout: Duration::from_secs(5),
        },
        recorder.clone(),
    )
    .await;
    served.wait_ready(200).await;
    let acme = create_tenant("acme", &db.config()).await;
    // Never let through: still running when the drain cap is reached.
    let stuck = gated_request(&served, acme).await;
    served.shut_down().await.unwrap();
    // The client sees the connection close, never a success for a write that was not kept.
    assert!(stuck.await.unwrap().is_err());
    assert_eq!(recorder.count(), 0);
    assert_eq!(
        outbox_rows(&db).await,
        0,
        "the cut-off request's transaction rolled back"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_runtime_that_cannot_start_stops_serving_health_too() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let unreachable = format!(
        "postgres://postgres@127.0.0.1:{}/postgres",
        common::free_port()
    );
    let result = SaasApp::builder()
        .config(TenancyConfig {
            acquire_timeout: Duration::from_millis(500),
            ..TenancyConfig::new(unreachable)
        })
        .resolver(JwtResolver::hs256(common::SECRET))
        .build()
        .unwrap()
        .serve_until(listener, std::future::pending())
        .await;
    assert!(result.is_err());
    assert!(
        client()
            .get(format!("http://{addr}/livez"))
            .send()
            .await
            .is_err()
    );
}
