//! Outbox relay throughput and commit-to-delivery latency, in one run:
//!
//! - `drain`: a backlog of events relayed to the in-process bus, to NATS JetStream, and, as
//!   the baseline, by a hand-written loop that claims and deletes the same rows with no
//!   ordering, no publishing and no bookkeeping (what the SQL alone costs);
//! - `steady`: events committed at a steady rate (one per transaction), the time from each
//!   commit to its delivery (in-process subscriber; NATS subscriber on the event's subject).
//!
//! Run: `cargo bench -p saas-core --features nats --bench events` (NATS from `NATS_URL`, default
//! `nats://127.0.0.1:4222`; skipped with a message when unreachable). Optional arguments:
//! `backlog=20000 rate=1000 seconds=5`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use saas_core::events::nats::{NatsConfig, NatsPublisher};
use saas_core::events::publish::{InProcessBus, Publisher};
use saas_core::events::relay::{Relay, RelayConfig};
use saas_core::events::{self, DomainEvent, EventEnvelope};
use saas_core::prelude::*;
use saas_core::tenancy::pool::Tenancy;
use saas_core::tenancy::registry::NewTenant;
use saas_core::tenancy::resolver::ResolverChain;
use saas_testkit::TestDb;
use serde::Serialize;

#[derive(Serialize)]
struct Ticked {
    aggregate: Uuid,
    n: u64,
}

impl DomainEvent for Ticked {
    const TYPE: &'static str = "bench.ticked";
    fn aggregate_id(&self) -> Uuid {
        self.aggregate
    }
}

fn arg(name: &str, default: u64) -> u64 {
    std::env::args()
        .filter_map(|a| a.strip_prefix(&format!("{name}=")).map(str::to_string))
        .find_map(|v| v.parse().ok())
        .unwrap_or(default)
}

async fn fill(tenancy: &Tenancy, tenants: &[TenantId], count: u64) {
    let per_tx = 250;
    let mut n = 0;
    while n < count {
        let tenant = tenants[(n / per_tx) as usize % tenants.len()];
        let mut tx = TenantTx::begin(tenancy, tenant);
        for _ in 0..per_tx.min(count - n) {
            events::emit(
                &mut tx,
                &Ticked {
                    aggregate: Uuid::from_u128(u128::from(n % 1000)),
                    n,
                },
            )
            .await
            .unwrap();
            n += 1;
        }
        tx.commit().await.unwrap();
    }
}

async fn outbox_len(tenancy: &Tenancy) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM saas_outbox")
        .fetch_one(tenancy.owner_pool())
        .await
        .unwrap()
}

/// The baseline: claim and delete in batches, nothing else.
async fn hand_written_drain(tenancy: &Tenancy) -> u64 {
    let mut total = 0;
    loop {
        let mut tx = tenancy.owner_pool().begin().await.unwrap();
        let seqs: Vec<i64> = sqlx::query_scalar(
            "SELECT seq FROM saas_outbox ORDER BY seq LIMIT 500 FOR UPDATE SKIP LOCKED",
        )
        .fetch_all(&mut *tx)
        .await
        .unwrap();
        if seqs.is_empty() {
            tx.commit().await.unwrap();
            return total;
        }
        sqlx::query("DELETE FROM saas_outbox WHERE seq = ANY($1)")
            .bind(&seqs)
            .execute(&mut *tx)
            .await
            .unwrap();
        tx.commit().await.unwrap();
        total += seqs.len() as u64;
    }
}

async fn timed_drain(
    label: &str,
    tenancy: &Tenancy,
    tenants: &[TenantId],
    backlog: u64,
    relay: Option<&Relay>,
) -> f64 {
    fill(tenancy, tenants, backlog).await;
    let start = Instant::now();
    let drained = match relay {
        Some(relay) => relay.drain().await.unwrap(),
        None => hand_written_drain(tenancy).await,
    };
    let elapsed = start.elapsed();
    assert_eq!(drained, backlog, "{label}: drained {drained} of {backlog}");
    assert_eq!(outbox_len(tenancy).await, 0);
    let rate = backlog as f64 / elapsed.as_secs_f64();
    println!(
        "drain/{label:<14} {backlog} events in {:>7.1} ms: {rate:>9.0} events/s",
        elapsed.as_secs_f64() * 1e3
    );
    rate
}

type Arrivals = Arc<Mutex<HashMap<Uuid, Instant>>>;

/// Commits `rate` events a second for `seconds`, one per transaction, and returns the
/// commit-to-delivery latencies (delivery instants come from `arrivals`).
async fn steady(
    tenancy: &Tenancy,
    tenants: &[TenantId],
    rate: u64,
    seconds: u64,
    arrivals: &Arrivals,
) -> Vec<Duration> {
    let total = rate * seconds;
    let committed: Arc<Mutex<Vec<(Uuid, Instant)>>> = Arc::default();
    let tick = Duration::from_millis(10);
    let per_tick = (rate / 100).max(1);
    let mut interval = tokio::time::interval(tick);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut n = 0;
    let mut tasks = Vec::new();
    while n < total {
        interval.tick().await;
        for _ in 0..per_tick {
            let (tenancy, committed) = (tenancy.clone(), committed.clone());
            let tenant = tenants[n as usize % tenants.len()];
            tasks.push(tokio::spawn(async move {
                let mut tx = TenantTx::begin(&tenancy, tenant);
                let id = events::emit(
                    &mut tx,
                    &Ticked {
                        aggregate: Uuid::new_v4(),
                        n,
                    },
                )
                .await
                .unwrap();
                tx.commit().await.unwrap();
                committed.lock().unwrap().push((id, Instant::now()));
            }));
            n += 1;
        }
    }
    for t in tasks {
        t.await.unwrap();
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    while arrivals.lock().unwrap().len() < total as usize && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let arrivals = arrivals.lock().unwrap();
    let committed = committed.lock().unwrap();
    let mut latencies: Vec<Duration> = committed
        .iter()
        .map(|(id, at)| {
            let arrived = arrivals
                .get(id)
                .unwrap_or_else(|| panic!("event {id} never arrived"));
            arrived.saturating_duration_since(*at)
        })
        .collect();
    latencies.sort();
    latencies
}

fn report(label: &str, latencies: &[Duration], rate: u64) {
    let pct = |p: f64| latencies[((latencies.len() as f64 * p) as usize).min(latencies.len() - 1)];
    println!(
        "steady/{label:<13} {} events at {rate}/s: p50 {:>6.2} ms, p99 {:>6.2} ms, max {:>6.2} ms",
        latencies.len(),
        pct(0.50).as_secs_f64() * 1e3,
        pct(0.99).as_secs_f64() * 1e3,
        latencies.last().unwrap().as_secs_f64() * 1e3,
    );
}

async fn nats_publisher(url: &str, stream: &str) -> Option<Arc<NatsPublisher>> {
    let config = NatsConfig {
        subject_prefix: "bench".into(),
        stream: stream.into(),
        ..NatsConfig::new(url)
    };
    let client = tokio::time::timeout(Duration::from_secs(3), async_nats::connect(url))
        .await
        .ok()?
        .ok()?;
    let publisher = NatsPublisher::new(client, config);
    // Start from an empty stream.
    let _ = publisher.context().delete_stream(stream).await;
    publisher.ensure_stream().await.ok()?;
    Some(Arc::new(publisher))
}

fn main() {
    let backlog = arg("backlog", 20_000);
    let rate = arg("rate", 1_000);
    let seconds = arg("seconds", 5);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async move {
        let db = TestDb::new().await.unwrap();
        let tenancy = db.tenancy(ResolverChain::new(), None).await.unwrap();
        let mut tenants = Vec::new();
        for i in 0..10 {
            let t = tenancy
                .tenants()
                .create(NewTenant {
                    slug: format!("bench-{i}"),
                    name: "bench".into(),
                    tier: None,
                    server: None,
                })
                .await
                .unwrap();
            tenants.push(t.id);
        }
        let owner = tenancy.owner_pool();
        let quiet = RelayConfig {
            listen: false,
            ..RelayConfig::default()
        };

        let baseline = timed_drain("hand-written", &tenancy, &tenants, backlog, None).await;
        let in_process = Relay::new(owner, InProcessBus::new(), quiet.clone());
        let rate_in_process =
            timed_drain("in-process", &tenancy, &tenants, backlog, Some(&in_process)).await;
        println!(
            "ratio in-process / hand-written: {:.2}",
            rate_in_process / baseline
        );

        let url = std::env::var("NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:4222".into());
        let nats = nats_publisher(&url, "SAAS_BENCH").await;
        match &nats {
            Some(publisher) => {
                let relay = Relay::with_publisher(
                    owner,
                    publisher.clone() as Arc<dyn Publisher>,
                    quiet.clone(),
                );
                let r = timed_drain("nats", &tenancy, &tenants, backlog, Some(&relay)).await;
                println!("ratio nats / hand-written: {:.2}", r / baseline);
            }
            None => println!("drain/nats: skipped, no NATS server at {url}"),
        }

        // Steady load, in-process: the subscriber records arrival times.
        let arrivals: Arrivals = Arc::default();
        let bus = InProcessBus::new();
        {
            let arrivals = arrivals.clone();
            bus.subscribe("clock", move |event: EventEnvelope| {
                let arrivals = arrivals.clone();
                async move {
                    arrivals.lock().unwrap().insert(event.id, Instant::now());
                    Ok(())
                }
            });
        }
        let relay = Relay::new(owner, bus, RelayConfig::default()).spawn();
        tokio::time::sleep(Duration::from_millis(300)).await;
        let latencies = steady(&tenancy, &tenants, rate, seconds, &arrivals).await;
        report("in-process", &latencies, rate);
        relay.shutdown().await;

        // Steady load, NATS: a subscriber on the events' subjects records arrival times.
        if let Some(publisher) = nats {
            let arrivals: Arrivals = Arc::default();
            let client = async_nats::connect(url.as_str()).await.unwrap();
            let mut subscription = client.subscribe("bench.>").await.unwrap();
            let collector = tokio::spawn({
                let arrivals = arrivals.clone();
                async move {
                    while let Some(message) = subscription.next().await {
                        if let Ok(event) = serde_json::from_slice::<EventEnvelope>(&message.payload)
                        {
                            arrivals.lock().unwrap().insert(event.id, Instant::now());
                        }
                    }
                }
            });
            let relay = Relay::with_publisher(
                owner,
                publisher as Arc<dyn Publisher>,
                RelayConfig::default(),
            )
            .spawn();
            tokio::time::sleep(Duration::from_millis(300)).await;
            let latencies = steady(&tenancy, &tenants, rate, seconds, &arrivals).await;
            report("nats", &latencies, rate);
            relay.shutdown().await;
            collector.abort();
        }
        tenancy.close().await;
    });
}
