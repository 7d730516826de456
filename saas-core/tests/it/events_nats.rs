//! Events through a real NATS JetStream server: tenant subjects, deduplication, a broker that
//! goes down while events are emitted, a relay that dies mid-batch, redelivery to consumers.
//!
//! Each test starts a `nats-server` of its own (on a free port, with a temporary store) so
//! it can stop and restart it; `scripts/ensure-nats.sh` installs the binary when missing.

use crate::common;

use std::collections::HashSet;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use async_nats::jetstream::consumer::{AckPolicy, pull};
use common::{Env, Project};
use futures_util::StreamExt;
use futures_util::future::BoxFuture;
use saas_core::clock::ManualClock;
use saas_core::events::EventEnvelope;
use saas_core::events::consumer::{Consume, EventHandler, Idempotent};
use saas_core::events::nats::{NatsConfig, NatsPublisher, run_consumer};
use saas_core::events::publish::{PublishError, Publisher};
use saas_core::events::relay::{Relay, RelayConfig};
use saas_core::prelude::*;
use saas_core::tenancy::registry::Tenant;
use saas_testkit::wait_until;

struct NatsServer {
    child: Option<Child>,
    port: u16,
    store: PathBuf,
}

fn nats_binary() -> PathBuf {
    if let Ok(path) = std::env::var("NATS_SERVER_BIN") {
        return path.into();
    }
    for candidate in [
        "/usr/sbin/nats-server",
        "/usr/bin/nats-server",
        "/usr/local/bin/nats-server",
    ] {
        if std::path::Path::new(candidate).exists() {
            return candidate.into();
        }
    }
    panic!(
        "nats-server is not installed: run scripts/ensure-nats.sh (apt-get install nats-server)"
    );
}

impl NatsServer {
    async fn start() -> NatsServer {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let store = std::env::temp_dir().join(format!(
            "saas-nats-{}-{}",
            std::process::id(),
            Uuid::new_v4().simple()
        ));
        let mut server = NatsServer {
            child: None,
            port,
            store,
        };
        server.resume().await;
        server
    }

    fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// (Re)starts the server on the same port and store: what JetStream stored survives.
    async fn resume(&mut self) {
        let child = Command::new(nats_binary())
            .args([
                "-a",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-js",
                "-sd",
            ])
            .arg(&self.store)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("nats-server starts");
        self.child = Some(child);
        let port = self.port;
        wait_until(
            &format!("nats-server listens on {port}"),
            Duration::from_secs(5),
            async || {
                tokio::net::TcpStream::connect(("127.0.0.1", port))
                    .await
                    .is_ok()
            },
        )
        .await;
    }

    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.store);
    }
}

fn config(server: &NatsServer) -> NatsConfig {
    NatsConfig {
        ack_timeout: Duration::from_secs(1),
        ..NatsConfig::new(server.url())
    }
}

fn quick() -> RelayConfig {
    RelayConfig {
        backoff_base: Duration::ZERO,
        poll_interval: Duration::from_millis(50),
        ..RelayConfig::default()
    }
}

async fn emit(env: &Env, tenant: &Tenant, n: u32) -> Uuid {
    common::events::emit_note(&env.tenancy, tenant.id, n).await
}

async fn stream_messages(publisher: &NatsPublisher) -> u64 {
    let mut stream = publisher.ensure_stream().await.unwrap();
    stream.info().await.unwrap().state.messages
}

/// Reads every message on `subject` through an ephemeral consumer.
async fn read_subject(
    publisher: &NatsPublisher,
    subject: String,
    expected: usize,
) -> Vec<EventEnvelope> {
    let stream = publisher.ensure_stream().await.unwrap();
    let consumer = stream
        .create_consumer(pull::Config {
            filter_subject: subject,
            ack_policy: AckPolicy::None,
            ..Default::default()
        })
        .await
        .unwrap();
    let mut batch = consumer
        .fetch()
        .max_messages(expected + 10)
        .expires(Duration::from_millis(500))
        .messages()
        .await
        .unwrap();
    let mut out = Vec::new();
    while let Some(message) = batch.next().await {
        let message = message.unwrap();
        out.push(serde_json::from_slice(&message.payload).unwrap());
    }
    out
}

#[tokio::test]
async fn events_reach_jetstream_on_tenant_subjects_and_republishing_is_deduplicated() {
    let server = NatsServer::start().await;
    let env = Env::new().await;
    let (acme, globex) = (env.tenant("acme").await, env.tenant("globex").await);
    let mut acme_ids = HashSet::new();
    for n in 0..3 {
        acme_ids.insert(emit(&env, &acme, n).await);
    }
    for n in 3..5 {
        emit(&env, &globex, n).await;
    }
    let publisher = Arc::new(NatsPublisher::connect(config(&server)).await.unwrap());
    let relay = Relay::with_publisher(env.tenancy.owner_pool(), publisher.clone(), quick());
    assert_eq!(relay.drain().await.unwrap(), 5);
    assert_eq!(stream_messages(&publisher).await, 5);

    // A tenant's subscription sees its events only.
    let acme_seen = read_subject(&publisher, format!("events.{}.>", acme.id), 3).await;
    assert_eq!(
        acme_seen.iter().map(|e| e.id).collect::<HashSet<_>>(),
        acme_ids
    );
    assert!(acme_seen.iter().all(|e| e.tenant_id == acme.id));
    let by_type = read_subject(&publisher, "events.*.note.added".into(), 5).await;
    assert_eq!(by_type.len(), 5);

    // Publishing the same events again (a relay that crashed before recording them): the
    // message id makes JetStream drop the copies.
    let results = publisher.publish(&by_type).await;
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    assert_eq!(stream_messages(&publisher).await, 5);
}

#[tokio::test]
async fn a_broker_outage_while_emitting_loses_nothing_and_parks_nothing() {
    let mut server = NatsServer::start().await;
    let env = Env::new().await;
    let acme = env.tenant("acme").await;
    let publisher = Arc::new(NatsPublisher::connect(config(&server)).await.unwrap());
    publisher.ensure_stream().await.unwrap();
    // The relay's polls and its backoff while the broker is away run on this clock, which the
    // test moves on whenever the relay waits: it retries at once, however long its backoff.
    let clock = ManualClock::new();
    let relay = Relay::with_publisher(
        env.tenancy.owner_pool(),
        publisher.clone(),
        RelayConfig {
            max_attempts: 1,
            clock: Arc::new(clock.clone()),
            ..quick()
        },
    )
    .spawn();

    server.stop();
    let mut emitted = HashSet::new();
    for n in 0..50 {
        emitted.insert(emit(&env, &acme, n).await);
    }
    // Down for a while: the relay tries and fails, transiently (the cycle running during the
    // last commit may have missed it; the next one claims every event, and so does the one
    // after its backoff).
    let after_emitting = relay.stats().cycles();
    wait_until("the relay retried", Duration::from_secs(60), async || {
        if clock.sleepers() > 0 {
            clock.advance(Duration::from_secs(5));
        }
        relay.stats().cycles() >= after_emitting + 3
    })
    .await;
    assert_eq!(relay.stats().published(), 0);
    let (pending, parked): (i64, i64) =
        sqlx::query_as("SELECT count(*), count(parked_at) FROM saas_outbox")
            .fetch_one(env.tenancy.owner_pool())
            .await
            .unwrap();
    assert_eq!((pending, parked), (50, 0));

    server.resume().await;
    wait_until(
        "the relay published everything once the broker was back",
        Duration::from_secs(60),
        async || {
            if clock.sleepers() > 0 {
                clock.advance(Duration::from_secs(5));
            }
            let left: i64 = sqlx::query_scalar("SELECT count(*) FROM saas_outbox")
                .fetch_one(env.tenancy.owner_pool())
                .await
                .unwrap();
            left == 0
        },
    )
    .await;
    relay.shutdown().await;
    let seen = read_subject(&publisher, "events.>".into(), 50).await;
    assert_eq!(seen.iter().map(|e| e.id).collect::<HashSet<_>>(), emitted);
    assert_eq!(seen.len(), 50);
}

/// Publishes through NATS, then never reports back: the relay dies after the broker stored
/// the batch and before the outbox recorded it.
struct DiesAfterPublishing(Arc<NatsPublisher>);

impl Publisher for DiesAfterPublishing {
    fn publish<'a>(
        &'a self,
        events: &'a [EventEnvelope],
    ) -> BoxFuture<'a, Vec<Result<(), PublishError>>> {
        Box::pin(async move {
            let results = self.0.publish(events).await;
            assert!(results.iter().all(Result::is_ok));
            std::future::pending().await
        })
    }

    fn name(&self) -> &'static str {
        "dies-after-publishing"
    }
}

struct MirrorProjects;

impl Consume for MirrorProjects {
    const NAME: &'static str = "mirror-projects";
    async fn consume(&self, tx: &mut TenantTx, event: &EventEnvelope) -> anyhow::Result<()> {
        Project::insert(
            tx,
            common::NewProject {
                name: format!("event {}", event.id),
            },
        )
        .await?;
        Ok(())
    }
}

/// Applies, then fails the first delivery of every event anyway (a consumer that crashes
/// between its commit and the ack): JetStream redelivers it.
struct CrashBeforeAck {
    inner: Idempotent<MirrorProjects>,
    crashes: AtomicU32,
    seen: std::sync::Mutex<HashSet<Uuid>>,
}

impl EventHandler for CrashBeforeAck {
    fn handle<'a>(&'a self, event: &'a EventEnvelope) -> BoxFuture<'a, anyhow::Result<()>> {
        Box::pin(async move {
            self.inner.apply(event).await?;
            if self.seen.lock().unwrap().insert(event.id) {
                self.crashes.fetch_add(1, Ordering::SeqCst);
                anyhow::bail!("crashed before the ack");
            }
            Ok(())
        })
    }
}

#[tokio::test]
async fn a_relay_killed_mid_batch_and_a_consumer_crashing_before_its_ack_apply_each_event_once() {
    let server = NatsServer::start().await;
    let env = Env::new().await;
    let (acme, globex) = (env.tenant("acme").await, env.tenant("globex").await);
    for n in 0..20 {
        emit(&env, if n % 4 == 0 { &globex } else { &acme }, n).await;
    }
    let publisher = Arc::new(NatsPublisher::connect(config(&server)).await.unwrap());

    // The first relay publishes the batch, then dies before recording it.
    let dying = Relay::new(
        env.tenancy.owner_pool(),
        DiesAfterPublishing(publisher.clone()),
        quick(),
    )
    .spawn();
    wait_until(
        "the dying relay published the batch",
        Duration::from_secs(20),
        async || stream_messages(&publisher).await >= 20,
    )
    .await;
    dying.abort();
    common::events::cut_open_transactions(env.tenancy.owner_pool()).await;

    // The next relay publishes all 20 again; JetStream keeps one copy of each.
    let relay = Relay::with_publisher(env.tenancy.owner_pool(), publisher.clone(), quick());
    wait_until(
        "the second relay republished the batch",
        Duration::from_secs(20),
        async || relay.drain().await.unwrap() >= 20,
    )
    .await;
    assert_eq!(stream_messages(&publisher).await, 20);

    // The consumer crashes before acking each first delivery; redeliveries are duplicates.
    let handler = Arc::new(CrashBeforeAck {
        inner: Idempotent::new(env.tenancy.clone(), MirrorProjects),
        crashes: AtomicU32::new(0),
        seen: Default::default(),
    });
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let consumer = tokio::spawn({
        let context = publisher.context().clone();
        let config = publisher.config().clone();
        let handler = handler.clone();
        async move {
            run_consumer(
                &context,
                &config,
                "mirror",
                None,
                SharedHandler(handler),
                stopped,
            )
            .await
        }
    });
    wait_until(
        "every event was delivered, crashed on, redelivered and acked",
        Duration::from_secs(60),
        async || {
            let crashed = handler.crashes.load(Ordering::SeqCst);
            let stream = publisher.context().get_stream("SAAS_EVENTS").await.unwrap();
            // Not there until the consumer task created it.
            let Ok(mut durable) = stream.get_consumer::<pull::Config>("mirror").await else {
                return false;
            };
            let info = durable.info().await.unwrap().clone();
            crashed == 20 && info.num_ack_pending == 0 && info.num_pending == 0
        },
    )
    .await;
    stop.send(true).unwrap();
    consumer.await.unwrap().unwrap();

    // Exactly one effect per event, each in its own tenant.
    for (tenant, expected) in [(&acme, 15), (&globex, 5)] {
        let mut tx = TenantTx::begin(&env.tenancy, tenant.id);
        let page = Project::list(&mut tx, PageRequest::from_query(Some(100), None).unwrap())
            .await
            .unwrap();
        assert_eq!(page.items.len(), expected, "{}", tenant.slug);
    }
}

struct SharedHandler(Arc<CrashBeforeAck>);

impl EventHandler for SharedHandler {
    fn handle<'a>(&'a self, event: &'a EventEnvelope) -> BoxFuture<'a, anyhow::Result<()>> {
        self.0.handle(event)
    }
}
