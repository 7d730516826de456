//! Consumers: code that reacts to events, once per event, in the event's tenant.
//!
//! Delivery is at-least-once (a relay that crashes after publishing and before recording it
//! publishes again; a broker redelivers what was not acknowledged). [`Idempotent`] turns an
//! at-least-once stream into exactly-once *effects* for database work: it records
//! `(tenant, consumer, event id)` in `saas_processed_events` in the same tenant transaction
//! as the consumer's own writes, so the mark and the effects commit together or not at all.
//!
//! ```no_run
//! use saas_core::events::consumer::{Consume, Idempotent};
//! use saas_core::events::{EventEnvelope, publish::InProcessBus};
//! use saas_core::prelude::*;
//!
//! struct CountProjects;
//!
//! impl Consume for CountProjects {
//!     const NAME: &'static str = "count-projects";
//!     async fn consume(&self, tx: &mut TenantTx, event: &EventEnvelope) -> anyhow::Result<()> {
//!         if event.event_type == "project.created" {
//!             sqlx::query("UPDATE project_counts SET n = n + 1")
//!                 .execute(tx.conn().await?)
//!                 .await?;
//!         }
//!         Ok(())
//!     }
//! }
//!
//! # fn wire(tenancy: saas_core::tenancy::pool::Tenancy, bus: InProcessBus) {
//! bus.subscribe(CountProjects::NAME, Idempotent::new(tenancy, CountProjects));
//! # }
//! ```

use std::future::Future;

use futures_util::future::BoxFuture;

use super::EventEnvelope;
use crate::tenancy::TenantTx;
use crate::tenancy::pool::Tenancy;

/// Records a delivery in the consumer's ledger (`saas_processed_events`); no row affected
/// means this consumer applied the event before.
const MARK_SQL: &str = "INSERT INTO saas_processed_events (tenant_id, consumer, event_id)
    VALUES ($1, $2, $3) ON CONFLICT DO NOTHING";

/// Something that handles delivered events. Implemented for closures
/// `Fn(EventEnvelope) -> impl Future<Output = anyhow::Result<()>>` and by [`Idempotent`].
pub trait EventHandler: Send + Sync + 'static {
    /// Handles one event; an error makes the delivery fail (and be retried).
    fn handle<'a>(&'a self, event: &'a EventEnvelope) -> BoxFuture<'a, anyhow::Result<()>>;
}

impl<F, Fut> EventHandler for F
where
    F: Fn(EventEnvelope) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = anyhow::Result<()>> + Send + 'static,
{
    fn handle<'a>(&'a self, event: &'a EventEnvelope) -> BoxFuture<'a, anyhow::Result<()>> {
        Box::pin(self(event.clone()))
    }
}

/// A consumer whose effects are database writes in the event's tenant. Wrap it in
/// [`Idempotent`] to run it once per event.
pub trait Consume: Send + Sync + 'static {
    /// The consumer's stable name: the key of its processed-events ledger. Renaming it makes
    /// it see every redelivered event as new.
    const NAME: &'static str;

    /// Applies one event. `tx` is the event's tenant transaction: row-level security scopes
    /// every statement to [`EventEnvelope::tenant_id`].
    fn consume(
        &self,
        tx: &mut TenantTx,
        event: &EventEnvelope,
    ) -> impl Future<Output = anyhow::Result<()>> + Send;
}

/// What [`Idempotent::apply`] did with an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    /// The consumer ran and its effects committed.
    Applied,
    /// The event was applied before (a redelivery): nothing ran.
    Duplicate,
}

/// Runs a [`Consume`] at most once per event (exactly once when deliveries keep coming).
#[derive(Debug)]
pub struct Idempotent<C> {
    tenancy: Tenancy,
    consumer: C,
}

impl<C: Consume> Idempotent<C> {
    /// Wraps `consumer`; its transactions run through `tenancy`'s request pool.
    pub fn new(tenancy: Tenancy, consumer: C) -> Self {
        Idempotent { tenancy, consumer }
    }

    /// Applies `event` unless this consumer already has. Two concurrent deliveries of one
    /// event serialize on the ledger's primary key; the second sees `Duplicate`.
    pub async fn apply(&self, event: &EventEnvelope) -> anyhow::Result<Applied> {
        let mut tx = TenantTx::begin(&self.tenancy, event.tenant_id);
        let fresh = sqlx::query(MARK_SQL)
            .bind(event.tenant_id)
            .bind(C::NAME)
            .bind(event.id)
            .execute(tx.conn().await?)
            .await?
            .rows_affected()
            == 1;
        if !fresh {
            tx.rollback().await?;
            return Ok(Applied::Duplicate);
        }
        self.consumer.consume(&mut tx, event).await?;
        tx.commit().await?;
        Ok(Applied::Applied)
    }
}

impl<C: Consume> EventHandler for Idempotent<C> {
    fn handle<'a>(&'a self, event: &'a EventEnvelope) -> BoxFuture<'a, anyhow::Result<()>> {
        Box::pin(async move { self.apply(event).await.map(|_| ()) })
    }
}
