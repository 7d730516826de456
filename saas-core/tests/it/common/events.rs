//! Publishers and events for the event tests.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use futures_util::future::BoxFuture;
use saas_core::events::publish::{PublishError, Publisher};
use saas_core::events::{DomainEvent, EventEnvelope};
use saas_core::prelude::*;
use serde::Serialize;

#[derive(Debug, Serialize)]
pub struct Noted {
    pub aggregate: Uuid,
    pub n: u32,
}

impl DomainEvent for Noted {
    const TYPE: &'static str = "note.added";
    fn aggregate_id(&self) -> Uuid {
        self.aggregate
    }
}

/// What a [`Recorder`] does with an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Behaviour {
    Accept,
    Reject,
    Unreachable,
    /// Records the event, then never answers (a relay that dies mid-batch).
    Hang,
}

/// Records every publication; behaviour per event type (default: accept).
#[derive(Clone, Default)]
pub struct Recorder {
    pub seen: Arc<Mutex<Vec<EventEnvelope>>>,
    behaviour: Arc<Mutex<HashMap<String, Behaviour>>>,
    default: Arc<Mutex<Option<Behaviour>>>,
}

impl Recorder {
    pub fn new() -> Self {
        Recorder::default()
    }

    pub fn set(&self, event_type: &str, behaviour: Behaviour) {
        self.behaviour
            .lock()
            .unwrap()
            .insert(event_type.to_string(), behaviour);
    }

    pub fn set_all(&self, behaviour: Behaviour) {
        *self.default.lock().unwrap() = Some(behaviour);
    }

    pub fn events(&self) -> Vec<EventEnvelope> {
        self.seen.lock().unwrap().clone()
    }

    pub fn count(&self) -> usize {
        self.seen.lock().unwrap().len()
    }

    fn behaviour(&self, event: &EventEnvelope) -> Behaviour {
        if let Some(b) = self.behaviour.lock().unwrap().get(&event.event_type) {
            return *b;
        }
        self.default.lock().unwrap().unwrap_or(Behaviour::Accept)
    }
}

impl Publisher for Recorder {
    fn publish<'a>(
        &'a self,
        events: &'a [EventEnvelope],
    ) -> BoxFuture<'a, Vec<Result<(), PublishError>>> {
        Box::pin(async move {
            let mut results = Vec::new();
            let mut hang = false;
            for event in events {
                match self.behaviour(event) {
                    Behaviour::Accept => {
                        self.seen.lock().unwrap().push(event.clone());
                        results.push(Ok(()));
                    }
                    Behaviour::Reject => results.push(Err(PublishError::rejected("refused"))),
                    Behaviour::Unreachable => {
                        results.push(Err(PublishError::transient("unreachable")))
                    }
                    Behaviour::Hang => {
                        self.seen.lock().unwrap().push(event.clone());
                        hang = true;
                    }
                }
            }
            if hang {
                std::future::pending::<()>().await;
            }
            results
        })
    }

    fn name(&self) -> &'static str {
        "recorder"
    }
}

/// What a crash does to the connections of a dead relay: they drop, and PostgreSQL rolls back
/// their open transactions (releasing the rows they had claimed). Returns once those
/// backends are gone.
pub async fn cut_open_transactions(owner: &sqlx::PgPool) {
    // Two statements, not `WHERE datname = ... AND pg_terminate_backend(pid)`: PostgreSQL
    // may evaluate the terminate before the database filter (the plan pushes it into the
    // scan of every backend, then joins `pg_database`), cutting other tests' transactions.
    let cut: Vec<i32> = sqlx::query_scalar(
        "SELECT pid FROM pg_stat_activity
          WHERE datname = current_database() AND state LIKE 'idle in transaction%'",
    )
    .fetch_all(owner)
    .await
    .unwrap();
    sqlx::query("SELECT pg_terminate_backend(pid) FROM unnest($1::int[]) AS cut(pid)")
        .bind(&cut)
        .execute(owner)
        .await
        .unwrap();
    saas_testkit::wait_until(
        "the cut connections are gone",
        std::time::Duration::from_secs(30),
        async || {
            let left: i64 =
                sqlx::query_scalar("SELECT count(*) FROM pg_stat_activity WHERE pid = ANY($1)")
                    .bind(&cut)
                    .fetch_one(owner)
                    .await
                    .unwrap();
            left == 0
        },
    )
    .await;
}

/// Emits one [`Noted`] event as `tenant` and commits it; returns the event's id.
pub async fn emit_note(
    tenancy: &saas_core::tenancy::pool::Tenancy,
    tenant: TenantId,
    n: u32,
) -> Uuid {
    let mut tx = TenantTx::begin(tenancy, tenant);
    let id = saas_core::events::emit(
        &mut tx,
        &Noted {
            aggregate: Uuid::new_v4(),
            n,
        },
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    id
}
