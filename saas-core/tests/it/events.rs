//! Domain events: the outbox commits with the data, stays inside its tenant, and the relay
//! publishes every committed event, in order per aggregate, once per attempt.

use crate::common;

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use common::events::{Behaviour, Noted, Recorder};
use common::{Env, NewProject, Project};
use saas_core::clock::ManualClock;
use saas_core::events::consumer::{Applied, Consume, Idempotent};
use saas_core::events::publish::InProcessBus;
use saas_core::events::relay::{self, Relay, RelayConfig};
use saas_core::events::{self, EventEnvelope, audit};
use saas_core::prelude::*;
use saas_core::tenancy::registry::Tenant;
use saas_testkit::wait_until;

fn quick() -> RelayConfig {
    RelayConfig {
        batch_size: 100,
        backoff_base: Duration::ZERO,
        poll_interval: Duration::from_millis(20),
        ..RelayConfig::default()
    }
}

async fn emit_noted(env: &Env, tenant: &Tenant, aggregate: Uuid, n: u32) -> Uuid {
    let mut tx = TenantTx::begin(&env.tenancy, tenant.id);
    let id = events::emit(&mut tx, &Noted { aggregate, n })
        .await
        .unwrap();
    tx.commit().await.unwrap();
    id
}

async fn outbox_len(env: &Env) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM saas_outbox")
        .fetch_one(env.tenancy.owner_pool())
        .await
        .unwrap()
}

#[tokio::test]
async fn event_commits_with_the_data_and_vanishes_with_a_rollback() {
    let env = Env::new().await;
    let acme = env.tenant("acme").await;

    let mut tx = TenantTx::begin(&env.tenancy, acme.id);
    let project = Project::insert(
        &mut tx,
        NewProject {
            name: "kept".into(),
        },
    )
    .await
    .unwrap();
    events::emit(
        &mut tx,
        &Noted {
            aggregate: project.id,
            n: 1,
        },
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();

    let mut tx = TenantTx::begin(&env.tenancy, acme.id);
    let dropped = Project::insert(
        &mut tx,
        NewProject {
            name: "dropped".into(),
        },
    )
    .await
    .unwrap();
    events::emit(
        &mut tx,
        &Noted {
            aggregate: dropped.id,
            n: 2,
        },
    )
    .await
    .unwrap();
    tx.rollback().await.unwrap();

    let aggregates: Vec<Uuid> = sqlx::query_scalar("SELECT aggregate_id FROM saas_outbox")
        .fetch_all(env.tenancy.owner_pool())
        .await
        .unwrap();
    assert_eq!(aggregates, vec![project.id]);
    let mut tx = TenantTx::begin(&env.tenancy, acme.id);
    let trail = audit::page(&mut tx, PageRequest::first()).await.unwrap();
    assert_eq!(trail.items.len(), 1);
    assert_eq!(trail.items[0].aggregate_id, project.id);
    assert_eq!(trail.items[0].event_type, "note.added");
    assert_eq!(trail.items[0].payload["n"], 1);
}

/// The cursor a tenant gets back, decoded (it is base64 of JSON).
fn decoded(cursor: &str) -> serde_json::Value {
    use base64::Engine;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(cursor)
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

#[tokio::test]
async fn audit_cursors_carry_nothing_about_other_tenants_activity() {
    let env = Env::new().await;
    let (acme, globex) = (env.tenant("acme").await, env.tenant("globex").await);
    let aggregate = Uuid::new_v4();
    // Two acme events with globex events between them.
    emit_noted(&env, &acme, aggregate, 1).await;
    for n in 0..5 {
        emit_noted(&env, &globex, aggregate, n).await;
    }
    emit_noted(&env, &acme, aggregate, 2).await;
    let mut tx = TenantTx::begin(&env.tenancy, acme.id);
    let page = audit::page(&mut tx, PageRequest::from_query(Some(1), None).unwrap())
        .await
        .unwrap();
    let newest = &page.items[0];
    // The cursor holds only the last entry's own (occurred_at, id), which acme sees on the
    // page: no sequence shared with other tenants, from which acme could count their events.
    let cursor = decoded(page.next_cursor.as_deref().unwrap());
    let expected = serde_json::to_value((newest.occurred_at, newest.id)).unwrap();
    assert_eq!(
        cursor, expected,
        "the cursor is not the entry's own position"
    );
    let next = PageRequest::from_query(Some(1), page.next_cursor.as_deref()).unwrap();
    let older = audit::page(&mut tx, next).await.unwrap();
    assert_eq!(older.items.len(), 1);
    assert_eq!(older.items[0].payload["n"], 1);
    assert!(older.next_cursor.is_none());
}

#[tokio::test]
async fn tenants_cannot_read_or_forge_each_others_events() {
    let env = Env::new().await;
    let (acme, globex) = (env.tenant("acme").await, env.tenant("globex").await);
    let event = emit_noted(&env, &acme, Uuid::new_v4(), 1).await;

    // The audit trail through the API: only the caller's events.
    let mut tx = TenantTx::begin(&env.tenancy, globex.id);
    assert!(
        audit::page(&mut tx, PageRequest::first())
            .await
            .unwrap()
            .items
            .is_empty()
    );
    // Raw SQL without a WHERE: row-level security hides acme's entry.
    let seen: Vec<Uuid> = sqlx::query_scalar("SELECT id FROM saas_audit_log")
        .fetch_all(tx.conn().await.unwrap())
        .await
        .unwrap();
    assert!(
        seen.is_empty(),
        "globex read acme's audit entries: {seen:?}"
    );
    tx.rollback().await.unwrap();

    // Pending events cannot be read at all by the request role, not even one's own.
    let mut tx = TenantTx::begin(&env.tenancy, acme.id);
    let err = sqlx::query("SELECT * FROM saas_outbox")
        .execute(tx.conn().await.unwrap())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("permission denied"), "{err}");
    tx.rollback().await.unwrap();

    // Writing an entry into acme's trail as globex: refused by the policy's WITH CHECK.
    for table in ["saas_audit_log", "saas_outbox"] {
        let mut tx = TenantTx::begin(&env.tenancy, globex.id);
        let err = sqlx::query(sqlx::AssertSqlSafe(format!(
            "INSERT INTO {table} (tenant_id, id, event_type, schema_version, aggregate_id, occurred_at, payload)
             VALUES ($1, gen_random_uuid(), 'x', 1, gen_random_uuid(), now(), '{{}}')"
        )))
        .bind(acme.id)
        .execute(tx.conn().await.unwrap())
        .await
        .unwrap_err();
        assert!(
            err.to_string().contains("row-level security"),
            "{table}: {err}"
        );
    }

    // The trail is append-only: neither the tenant nor the owner can rewrite history.
    let mut tx = TenantTx::begin(&env.tenancy, acme.id);
    let err = sqlx::query("UPDATE saas_audit_log SET payload = '{}'")
        .execute(tx.conn().await.unwrap())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("permission denied"), "{err}");
    tx.rollback().await.unwrap();
    let err = sqlx::query("UPDATE saas_audit_log SET payload = '{}' WHERE id = $1")
        .bind(event)
        .execute(env.tenancy.owner_pool())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("append-only"), "{err}");
    let err = sqlx::query("DELETE FROM saas_audit_log")
        .execute(env.tenancy.owner_pool())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("append-only"), "{err}");
}

#[tokio::test]
async fn the_isolation_audit_checks_the_event_tables() {
    let env = Env::new().await;
    let report = saas_core::isolation::audit::run(
        env.tenancy.owner_pool(),
        &env.request_pool().await,
        &env.tenancy.config().request_role,
    )
    .await
    .unwrap();
    assert!(report.is_clean(), "{report}");
    // A widening policy on the outbox is caught like on any tenant table.
    sqlx::raw_sql("CREATE POLICY everyone ON saas_outbox FOR SELECT USING (true)")
        .execute(env.tenancy.owner_pool())
        .await
        .unwrap();
    let report = saas_core::isolation::audit::run(
        env.tenancy.owner_pool(),
        &env.request_pool().await,
        &env.tenancy.config().request_role,
    )
    .await
    .unwrap();
    assert!(
        report
            .problems
            .iter()
            .any(|p| p.object == "table saas_outbox" && p.problem.contains("everyone")),
        "{report}"
    );
}

#[tokio::test]
async fn the_audit_trail_pages_newest_first_and_retention_purges_old_entries() {
    let env = Env::new().await;
    let acme = env.tenant("acme").await;
    let aggregate = Uuid::new_v4();
    for n in 0..7 {
        emit_noted(&env, &acme, aggregate, n).await;
    }
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut tx = TenantTx::begin(&env.tenancy, acme.id);
        let request = PageRequest::from_query(Some(3), cursor.as_deref()).unwrap();
        let page = audit::page(&mut tx, request).await.unwrap();
        seen.extend(page.items.iter().map(|e| e.payload["n"].as_u64().unwrap()));
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    assert_eq!(seen, vec![6, 5, 4, 3, 2, 1, 0]);

    // Age three entries, then purge what is older than an hour.
    // One statement at a time (Citus propagates DDL by its text, one command per text).
    let mut aging = env.tenancy.owner_pool().begin().await.unwrap();
    common::run_each(
        &mut aging,
        &[
            "SELECT set_config('citus.enable_unsafe_triggers', 'on', true)",
            "ALTER TABLE saas_audit_log DISABLE TRIGGER saas_audit_log_append_only",
            "UPDATE saas_audit_log SET occurred_at = now() - interval '2 days'
              WHERE (payload->>'n')::int < 3",
            "ALTER TABLE saas_audit_log ENABLE TRIGGER saas_audit_log_append_only",
        ],
    )
    .await;
    aging.commit().await.unwrap();
    let purged = audit::purge_older_than(env.tenancy.owner_pool(), Duration::from_secs(3600))
        .await
        .unwrap();
    assert_eq!(purged, 3);
    let mut tx = TenantTx::begin(&env.tenancy, acme.id);
    let left = audit::page(&mut tx, PageRequest::first()).await.unwrap();
    assert_eq!(left.items.len(), 4);
}

#[tokio::test]
async fn relay_publishes_every_event_once_in_order_per_aggregate() {
    let env = Env::new().await;
    let (acme, globex) = (env.tenant("acme").await, env.tenant("globex").await);
    let aggregates: Vec<Uuid> = (0..5).map(|_| Uuid::new_v4()).collect();
    let mut emitted = Vec::new();
    for n in 0..40u32 {
        let tenant = if n % 2 == 0 { &acme } else { &globex };
        let aggregate = aggregates[(n % 5) as usize];
        emitted.push(emit_noted(&env, tenant, aggregate, n).await);
    }
    let recorder = Recorder::new();
    let relay = Relay::new(
        env.tenancy.owner_pool(),
        recorder.clone(),
        RelayConfig {
            batch_size: 7,
            ..quick()
        },
    );
    assert_eq!(relay.drain().await.unwrap(), 40);
    assert_eq!(outbox_len(&env).await, 0);
    let seen = recorder.events();
    assert_eq!(
        seen.iter().map(|e| e.id).collect::<HashSet<_>>(),
        emitted.iter().copied().collect::<HashSet<_>>()
    );
    assert_eq!(seen.len(), 40, "an event was published twice");
    assert_order_per_aggregate(&seen);
    // Tenant context travels with the event.
    for e in &seen {
        let n = e.payload["n"].as_u64().unwrap();
        let expected = if n % 2 == 0 { acme.id } else { globex.id };
        assert_eq!(e.tenant_id, expected);
    }
}

fn assert_order_per_aggregate(seen: &[EventEnvelope]) {
    let mut last: HashMap<(TenantId, Uuid), u64> = HashMap::new();
    for e in seen {
        let n = e.payload["n"].as_u64().unwrap();
        if let Some(prev) = last.insert((e.tenant_id, e.aggregate_id), n) {
            assert!(prev < n, "aggregate {} went {prev} -> {n}", e.aggregate_id);
        }
    }
}

#[tokio::test]
async fn two_relays_share_the_outbox_without_publishing_twice_or_out_of_order() {
    let env = Env::new().await;
    let acme = env.tenant("acme").await;
    let aggregates: Vec<Uuid> = (0..20).map(|_| Uuid::new_v4()).collect();
    for n in 0..600u32 {
        emit_noted(&env, &acme, aggregates[(n % 20) as usize], n).await;
    }
    let recorder = Recorder::new();
    let config = RelayConfig {
        batch_size: 25,
        ..quick()
    };
    let a = Relay::new(env.tenancy.owner_pool(), recorder.clone(), config.clone());
    let b = Relay::new(env.tenancy.owner_pool(), recorder.clone(), config);
    let (ra, rb) = tokio::join!(
        async {
            let mut total = 0;
            while outbox_len(&env).await > 0 {
                total += a.drain().await.unwrap();
            }
            total
        },
        async {
            let mut total = 0;
            while outbox_len(&env).await > 0 {
                total += b.drain().await.unwrap();
            }
            total
        }
    );
    assert_eq!(ra + rb, 600);
    let seen = recorder.events();
    let ids: HashSet<Uuid> = seen.iter().map(|e| e.id).collect();
    assert_eq!(ids.len(), 600);
    assert_eq!(seen.len(), 600, "an event was published by both relays");
    assert_order_per_aggregate(&seen);
}

#[tokio::test]
async fn failing_events_are_retried_then_parked_and_do_not_block_forever() {
    let env = Env::new().await;
    let acme = env.tenant("acme").await;
    let aggregate = Uuid::new_v4();
    let mut tx = TenantTx::begin(&env.tenancy, acme.id);
    let poison = events::emit_raw(&mut tx, "poison", 1, aggregate, serde_json::json!({"n": 0}))
        .await
        .unwrap();
    tx.commit().await.unwrap();
    emit_noted(&env, &acme, aggregate, 1).await;

    let recorder = Recorder::new();
    recorder.set("poison", Behaviour::Reject);
    let relay = Relay::new(
        env.tenancy.owner_pool(),
        recorder.clone(),
        RelayConfig {
            max_attempts: 3,
            ..quick()
        },
    );
    // Attempts 1 and 2: the poison fails and holds back the later event of its aggregate.
    for attempt in 1..=2 {
        let outcome = relay.run_once().await.unwrap();
        assert_eq!(
            (outcome.failed, outcome.parked, outcome.published),
            (1, 0, 0)
        );
        assert_eq!(outcome.deferred, 1, "attempt {attempt}");
        assert_eq!(recorder.count(), 0);
    }
    let outcome = relay.run_once().await.unwrap();
    assert_eq!(outcome.parked, 1);
    let parked = relay::parked(env.tenancy.owner_pool()).await.unwrap();
    assert_eq!(parked.len(), 1);
    assert_eq!(parked[0].envelope.id, poison);
    assert_eq!(parked[0].attempts, 3);
    assert_eq!(parked[0].last_error.as_deref(), Some("refused"));
    // Parked, it no longer holds back its aggregate.
    assert_eq!(relay.drain().await.unwrap(), 1);
    assert_eq!(recorder.events()[0].payload["n"], 1);
    // Fixed and requeued, it goes out.
    recorder.set("poison", Behaviour::Accept);
    assert!(
        relay::requeue(env.tenancy.owner_pool(), poison)
            .await
            .unwrap()
    );
    assert_eq!(relay.drain().await.unwrap(), 1);
    assert_eq!(outbox_len(&env).await, 0);
}

#[tokio::test]
async fn an_unreachable_publisher_never_parks_events() {
    let env = Env::new().await;
    let acme = env.tenant("acme").await;
    for n in 0..5 {
        emit_noted(&env, &acme, Uuid::new_v4(), n).await;
    }
    let recorder = Recorder::new();
    recorder.set_all(Behaviour::Unreachable);
    let relay = Relay::new(
        env.tenancy.owner_pool(),
        recorder.clone(),
        RelayConfig {
            max_attempts: 1,
            ..quick()
        },
    );
    for _ in 0..5 {
        let outcome = relay.run_once().await.unwrap();
        assert_eq!(outcome.transient, 5);
        assert_eq!(outcome.parked + outcome.failed + outcome.published, 0);
    }
    let attempts: Vec<i32> = sqlx::query_scalar("SELECT attempts FROM saas_outbox")
        .fetch_all(env.tenancy.owner_pool())
        .await
        .unwrap();
    assert_eq!(attempts, vec![0; 5]);
    recorder.set_all(Behaviour::Accept);
    assert_eq!(relay.drain().await.unwrap(), 5);
}

struct CountNotes;

impl Consume for CountNotes {
    const NAME: &'static str = "count-notes";
    async fn consume(&self, tx: &mut TenantTx, event: &EventEnvelope) -> anyhow::Result<()> {
        // The consumer's effect: a project per event, in the event's tenant.
        Project::insert(
            tx,
            NewProject {
                name: format!("from {}", event.id),
            },
        )
        .await?;
        Ok(())
    }
}

#[tokio::test]
async fn a_relay_killed_mid_batch_redelivers_and_the_consumer_applies_once() {
    let env = Env::new().await;
    let (acme, globex) = (env.tenant("acme").await, env.tenant("globex").await);
    for n in 0..10 {
        let tenant = if n < 6 { &acme } else { &globex };
        emit_noted(&env, tenant, Uuid::new_v4(), n).await;
    }
    // First relay: hands the batch to the consumer, then dies before recording it.
    let consumer = Idempotent::new(env.tenancy.clone(), CountNotes);
    let dying = Recorder::new();
    dying.set_all(Behaviour::Hang);
    let handle = Relay::new(env.tenancy.owner_pool(), dying.clone(), quick()).spawn();
    wait_until(
        "the first relay picked up the batch",
        Duration::from_secs(20),
        async || dying.count() >= 10,
    )
    .await;
    for event in dying.events() {
        assert_eq!(consumer.apply(&event).await.unwrap(), Applied::Applied);
    }
    // A crash: the task stops and its connection drops, so PostgreSQL rolls the claim back.
    handle.abort();
    common::events::cut_open_transactions(env.tenancy.owner_pool()).await;
    assert_eq!(
        outbox_len(&env).await,
        10,
        "nothing was recorded as published"
    );

    // Second relay: publishes everything again; the consumer sees duplicates only.
    let bus = InProcessBus::new();
    let applied = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let consumer = std::sync::Arc::new(consumer);
    {
        let applied = applied.clone();
        let consumer = consumer.clone();
        bus.subscribe("count-notes", move |event: EventEnvelope| {
            let applied = applied.clone();
            let consumer = consumer.clone();
            async move {
                let outcome = consumer.apply(&event).await?;
                applied.lock().unwrap().push(outcome);
                Ok(())
            }
        });
    }
    let relay = Relay::new(env.tenancy.owner_pool(), bus, quick());
    assert_eq!(relay.drain().await.unwrap(), 10);
    assert_eq!(*applied.lock().unwrap(), vec![Applied::Duplicate; 10]);
    // Each tenant got exactly its own effects.
    for (tenant, expected) in [(&acme, 6), (&globex, 4)] {
        let mut tx = TenantTx::begin(&env.tenancy, tenant.id);
        let page = Project::list(&mut tx, PageRequest::first()).await.unwrap();
        assert_eq!(page.items.len(), expected, "{}", tenant.slug);
    }
}

#[tokio::test]
async fn a_spawned_relay_wakes_on_commit_without_waiting_for_the_poll() {
    let env = Env::new().await;
    let acme = env.tenant("acme").await;
    let recorder = Recorder::new();
    // On a stopped clock the poll never comes: only the notification can wake the relay.
    let handle = Relay::new(
        env.tenancy.owner_pool(),
        recorder.clone(),
        RelayConfig {
            clock: std::sync::Arc::new(ManualClock::new()),
            ..quick()
        },
    )
    .spawn();
    wait_until("the relay listens", Duration::from_secs(10), async || {
        handle.stats().listening()
    })
    .await;
    emit_noted(&env, &acme, Uuid::new_v4(), 1).await;
    wait_until(
        "the notification woke the relay",
        Duration::from_secs(10),
        async || recorder.count() >= 1,
    )
    .await;
    handle.shutdown().await;
}

/// The polls, the retries' backoff and the unreachable publisher's backoff all run on the
/// relay's clock: nothing happens until it moves, and each happens exactly when it is due.
#[tokio::test]
async fn the_relays_clock_drives_its_polls_and_its_retry_schedule() {
    let env = Env::new().await;
    let acme = env.tenant("acme").await;
    let clock = ManualClock::new();
    let recorder = Recorder::new();
    recorder.set("poison", Behaviour::Reject);
    let backoff = Duration::from_secs(100); // the longest, `backoff_max`, is 300 s
    let config = RelayConfig {
        listen: false,
        poll_interval: Duration::from_secs(60),
        backoff_base: backoff,
        clock: std::sync::Arc::new(clock.clone()),
        ..RelayConfig::default()
    };
    let relay = Relay::new(env.tenancy.owner_pool(), recorder.clone(), config);
    let mut tx = TenantTx::begin(&env.tenancy, acme.id);
    events::emit_raw(&mut tx, "poison", 1, Uuid::new_v4(), serde_json::json!({}))
        .await
        .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(relay.run_once().await.unwrap().failed, 1);
    // Due again `backoff_base` later on the relay's clock, however much real time passes.
    clock.advance(backoff - Duration::from_secs(1));
    assert_eq!(relay.run_once().await.unwrap().claimed, 0, "retried early");
    clock.advance(Duration::from_secs(1));
    assert_eq!(
        relay.run_once().await.unwrap().failed,
        1,
        "not retried when due"
    );
    // The second retry waits twice as long.
    clock.advance(backoff);
    assert_eq!(relay.run_once().await.unwrap().claimed, 0);
    clock.advance(backoff);
    recorder.set("poison", Behaviour::Accept);

    // Spawned without LISTEN, the relay publishes at start, then once per poll interval.
    let handle = relay.spawn();
    wait_until(
        "the first cycle published",
        Duration::from_secs(10),
        async || recorder.count() == 1,
    )
    .await;
    wait_until(
        "the relay waits for its poll",
        Duration::from_secs(10),
        async || clock.sleepers() == 1,
    )
    .await;
    let cycles = handle.stats().cycles();
    emit_noted(&env, &acme, Uuid::new_v4(), 1).await;
    clock.advance(Duration::from_secs(59));
    for _ in 0..10 {
        tokio::task::yield_now().await;
    }
    // Woken early, the relay would have left its sleep and started a cycle.
    assert_eq!(clock.sleepers(), 1, "polled before the interval");
    assert_eq!(handle.stats().cycles(), cycles);
    assert_eq!(recorder.count(), 1);
    clock.advance(Duration::from_secs(1));
    wait_until("the poll published", Duration::from_secs(10), async || {
        recorder.count() == 2
    })
    .await;
    handle.shutdown().await;
}

#[tokio::test]
async fn the_in_process_bus_retries_an_event_until_every_subscriber_succeeds() {
    let env = Env::new().await;
    let acme = env.tenant("acme").await;
    emit_noted(&env, &acme, Uuid::new_v4(), 1).await;
    let bus = InProcessBus::new();
    let calls = std::sync::Arc::new(std::sync::atomic::AtomicU32::new(0));
    {
        let calls = calls.clone();
        bus.subscribe("flaky", move |_event: EventEnvelope| {
            let calls = calls.clone();
            async move {
                if calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 0 {
                    anyhow::bail!("first delivery fails");
                }
                Ok(())
            }
        });
    }
    let relay = Relay::new(env.tenancy.owner_pool(), bus, quick());
    let first = relay.run_once().await.unwrap();
    assert_eq!(first.failed, 1);
    let last_error: Option<String> = sqlx::query_scalar("SELECT last_error FROM saas_outbox")
        .fetch_one(env.tenancy.owner_pool())
        .await
        .unwrap();
    assert!(last_error.unwrap().contains("flaky: first delivery fails"));
    assert_eq!(relay.drain().await.unwrap(), 1);
    assert_eq!(calls.load(std::sync::atomic::Ordering::SeqCst), 2);
}

/// The restrictive tenant policy applies to every role, the owner included: on the audit log
/// (and the outbox) it lets the tables' owner through, so a non-superuser owner still reads
/// every tenant's entries, while a tenant's transaction sees its own only.
#[tokio::test]
async fn a_non_superuser_owner_reads_the_audit_log_across_tenants() {
    let env = Env::new().await;
    let (a, b) = (env.tenant("acme").await, env.tenant("globex").await);
    emit_noted(&env, &a, Uuid::new_v4(), 1).await;
    emit_noted(&env, &b, Uuid::new_v4(), 2).await;
    let mut owner = env.db.owner_conn().await.unwrap();
    let table_owner = format!("{}_owner", env.db.name());
    // LOGIN: on Citus the coordinator reaches the workers as the current role.
    common::run_each(
        &mut owner,
        &[
            format!("CREATE ROLE \"{table_owner}\" LOGIN"),
            format!("ALTER TABLE saas_audit_log OWNER TO \"{table_owner}\""),
        ],
    )
    .await;
    // the migrator follows the new owner
    let audit_log = saas_core::model::registered_models()
        .into_iter()
        .find(|m| m.table == "saas_audit_log")
        .unwrap();
    sqlx::raw_sql(sqlx::AssertSqlSafe(saas_core::model::rls_ddl(audit_log)))
        .execute(&mut owner)
        .await
        .unwrap();
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("SET ROLE \"{table_owner}\"")))
        .execute(&mut owner)
        .await
        .unwrap();
    let seen: i64 = sqlx::query_scalar("SELECT count(*) FROM saas_audit_log")
        .fetch_one(&mut owner)
        .await
        .unwrap();
    common::run_each(
        &mut owner,
        &[
            "RESET ROLE".to_string(),
            "ALTER TABLE saas_audit_log OWNER TO CURRENT_USER".to_string(),
            format!("DROP ROLE \"{table_owner}\""),
        ],
    )
    .await;
    assert_eq!(seen, 2);
    let mut tx = TenantTx::begin(&env.tenancy, a.id);
    let own: i64 = sqlx::query_scalar("SELECT count(*) FROM saas_audit_log")
        .fetch_one(tx.conn().await.unwrap())
        .await
        .unwrap();
    assert_eq!(own, 1);
}
