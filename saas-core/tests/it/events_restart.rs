//! PostgreSQL restarted under load: the relay and the request path recover by themselves and
//! every event whose transaction was acknowledged is published.

use crate::common;

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::events::{Noted, Recorder};
use saas_core::clock::ManualClock;
use saas_core::events::relay::{Relay, RelayConfig};
use saas_core::events::{self};
use saas_core::prelude::*;
use saas_core::tenancy::pool::{Tenancy, TenancyConfig};
use saas_core::tenancy::registry::NewTenant;
use saas_testkit::wait_until;

async fn postmaster_start(url: &str) -> time::OffsetDateTime {
    use sqlx::Connection;
    let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
    let at = sqlx::query_scalar("SELECT pg_postmaster_start_time()")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    conn.close().await.ok();
    at
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_restart_under_load_loses_no_acknowledged_event() {
    // A cluster of this test's own, so restarting it disturbs nobody else.
    let dir = std::env::temp_dir().join(format!("saas-restart-{}", std::process::id()));
    let url = saas_core::devdb::start_cluster(&dir, common::free_port(), std::process::id())
        .await
        .expect("a throwaway PostgreSQL cluster (needs the PostgreSQL server binaries)");
    let tenancy = Tenancy::start(
        TenancyConfig::new(url.clone())
            .request_pool_size(4)
            .bound_tenants(0),
        common::resolvers(),
        Some(&common::MIGRATIONS),
    )
    .await
    .unwrap();
    let tenant = tenancy
        .tenants()
        .create(NewTenant {
            slug: "acme".into(),
            name: "Acme".into(),
            tier: None,
            server: None,
        })
        .await
        .unwrap();

    // The relay's polls and its backoff after the database errors run on this clock, which
    // the test moves on whenever the relay waits: it retries at once, however long its
    // backoff has grown.
    let clock = ManualClock::new();
    let recorder = Recorder::new();
    let relay = Relay::new(
        tenancy.owner_pool(),
        recorder.clone(),
        RelayConfig {
            poll_interval: Duration::from_millis(50),
            clock: Arc::new(clock.clone()),
            ..RelayConfig::default()
        },
    )
    .spawn();

    let acknowledged = Arc::new(Mutex::new(Vec::<Uuid>::new()));
    let failures = Arc::new(Mutex::new(0u32));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writers: Vec<_> = (0..3)
        .map(|w| {
            let (tenancy, acknowledged, failures, stop) = (
                tenancy.clone(),
                acknowledged.clone(),
                failures.clone(),
                stop.clone(),
            );
            tokio::spawn(async move {
                let mut n = 0u32;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    n += 1;
                    let mut tx = TenantTx::begin(&tenancy, tenant.id);
                    let result = async {
                        let id = events::emit(
                            &mut tx,
                            &Noted {
                                aggregate: Uuid::from_u128(w),
                                n,
                            },
                        )
                        .await?;
                        tx.commit().await?;
                        Ok::<Uuid, saas_core::ApiError>(id)
                    }
                    .await;
                    match result {
                        // Only a successful commit is an acknowledgement.
                        Ok(id) => acknowledged.lock().unwrap().push(id),
                        Err(_) => {
                            *failures.lock().unwrap() += 1;
                            // A client backing off while the database is down (the fault
                            // itself runs on real time): not a hot loop of refused connects.
                            tokio::time::sleep(Duration::from_millis(20)).await;
                        }
                    }
                }
            })
        })
        .collect();

    let committed = || acknowledged.lock().unwrap().len();
    wait_until(
        "writers commit before the restart",
        Duration::from_secs(30),
        async || committed() >= 30,
    )
    .await;
    let before = committed();
    let started_before = postmaster_start(&url).await;
    tokio::task::spawn_blocking({
        let dir = dir.clone();
        move || saas_core::devdb::restart_cluster(&dir)
    })
    .await
    .unwrap()
    .expect("pg_ctl restart");
    // Writers recover by themselves: they commit again after the restart.
    let at_restart = committed();
    wait_until(
        "writers commit after the restart",
        Duration::from_secs(60),
        async || committed() >= at_restart + 30,
    )
    .await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for w in writers {
        w.await.unwrap();
    }
    let acknowledged: HashSet<Uuid> = acknowledged.lock().unwrap().iter().copied().collect();
    assert!(before > 0, "writers made progress before the restart");
    // The server really restarted (writers may have ridden through it: a transaction that
    // meets a terminated connection at its start is retried, so failures can be zero).
    assert!(
        postmaster_start(&url).await > started_before,
        "the server did not restart"
    );
    eprintln!(
        "acknowledged {} events, {} failed writes during the restart",
        acknowledged.len(),
        failures.lock().unwrap()
    );
    assert!(
        acknowledged.len() > before,
        "writers recovered after the restart ({} before, {} in all, {} failures)",
        before,
        acknowledged.len(),
        failures.lock().unwrap()
    );

    // The relay recovers by itself and publishes every acknowledged event.
    wait_until(
        "every acknowledged event was published after the restart",
        Duration::from_secs(30),
        async || {
            if clock.sleepers() > 0 {
                clock.advance(Duration::from_secs(5));
            }
            let seen: HashSet<Uuid> = recorder.events().iter().map(|e| e.id).collect();
            // The relay counts a batch once it is marked published, after the publisher
            // received it: wait for both.
            acknowledged.is_subset(&seen) && relay.stats().published() >= acknowledged.len() as u64
        },
    )
    .await;
    relay.shutdown().await;
    tenancy.close().await;
}
