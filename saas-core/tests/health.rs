//! Liveness, readiness and graceful shutdown of `SaasApp::serve` over real TCP, on a real
//! PostgreSQL: readiness is false while migrations run, when the database is unreachable and
//! once shutdown began; in-flight requests finish, the relay publishes what they committed,
//! then the process stops.

mod common;

use std::time::Duration;

use axum::routing::post;
use common::events::{Noted, Recorder};
use saas_core::app::{SaasApp, ShutdownConfig};
use saas_core::events::relay::RelayConfig;
use saas_core::health::HealthConfig;
use saas_core::prelude::*;
use saas_core::tenancy::pool::TenancyConfig;
use saas_core::tenancy::registry::NewTenant;
use saas_core::tenancy::resolver::{JwtIssuer, JwtResolver};
use sqlx::Connection;
use tokio::sync::oneshot;

/// Sleeps `ms`, then emits one event in the request's transaction and answers 200.
async fn slow(mut tx: TenantTx, body: String) -> ApiResult<&'static str> {
    let ms: u64 = body.trim().parse().unwrap_or(0);
    tokio::time::sleep(Duration::from_millis(ms)).await;
    saas_core::events::emit(
        &mut tx,
        &Noted {
            aggregate: Uuid::new_v4(),
            n: ms as u32,
        },
    )
    .await?;
    Ok("done")
}

struct Served {
    base: String,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<saas_core::Result<()>>,
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
        let app = SaasApp::builder()
            .config(config)
            .resolver(JwtResolver::hs256(common::SECRET))
            .migrations(&common::MIGRATIONS)
            .routes(|_| common::routes().route("/slow", post(slow)))
            .publisher(recorder)
            // No LISTEN and an hour between polls: the relay publishes only at start and in
            // its last drain, so an event seen after shutdown proves that drain.
            .relay_config(RelayConfig {
                listen: false,
                poll_interval: Duration::from_secs(3600),
                ..RelayConfig::default()
            })
            .health(health)
            .shutdown(shutdown);
        let task = tokio::spawn(app.build().unwrap().serve_until(listener, async {
            let _ = stopped.await;
        }));
        Served {
            base,
            stop: Some(stop),
            task,
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
        for _ in 0..600 {
            if let Ok(response) = client().get(self.url("/readyz")).send().await
                && response.status().as_u16() == want
            {
                return response.json().await.unwrap();
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("/readyz never answered {want}");
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

/// `POST /slow` as `tenant`, sleeping `ms` in the handler, sent in the background.
fn slow_request(
    served: &Served,
    tenant: TenantId,
    ms: u64,
) -> tokio::task::JoinHandle<reqwest::Result<reqwest::Response>> {
    let request = client()
        .post(served.url("/slow"))
        .bearer_auth(token(tenant))
        .body(ms.to_string());
    tokio::spawn(request.send())
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
    // (expand/contract: the running release keeps working during the next one's migration).
    migration_lock(&mut job, true).await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
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
    let served = Served::start(
        db.config(),
        HealthConfig {
            unready_while_migrating: true,
            cache_for: Duration::ZERO,
            ..HealthConfig::default()
        },
        ShutdownConfig::default(),
        Recorder::new(),
    )
    .await;
    served.wait_ready(200).await;
    let mut job = sqlx::PgConnection::connect(db.url()).await.unwrap();
    migration_lock(&mut job, true).await;
    let body = served.wait_ready(503).await;
    assert_eq!(body["reason"], "migration_running");
    // Liveness never depends on it.
    assert_eq!(served.status("/livez").await.0, 200);
    migration_lock(&mut job, false).await;
    served.wait_ready(200).await;
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
    // Let the relay's first cycle (at start) pass, so only the last drain can publish.
    tokio::time::sleep(Duration::from_millis(300)).await;

    // A request that is still running when the signal comes.
    let in_flight = slow_request(&served, acme, 1500);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let Served { base, stop, task } = served;
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
    // ... and the event the request committed was published by the relay's last drain.
    let events = recorder.events();
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0].tenant_id, acme);
    assert_eq!(events[0].event_type, "note.added");
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
    let stuck = slow_request(&served, acme, 30_000);
    tokio::time::sleep(Duration::from_millis(300)).await;
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
