//! The relay: moves committed events from the outbox to a [`Publisher`].
//!
//! One cycle ([`Relay::run_once`]) is one owner transaction:
//! 1. claim up to `batch_size` pending events in outbox order with `FOR UPDATE SKIP LOCKED`,
//!    so several relays (threads, processes, machines) share the work and never take the same
//!    event at once;
//! 2. keep, per aggregate, only the claimed events that no earlier pending event of the same
//!    aggregate precedes (one claimed by another relay, or waiting for a retry): events of one
//!    aggregate are published in the order they were emitted;
//! 3. publish in waves (the first remaining event of every aggregate, then the second, ...),
//!    stopping an aggregate at its first failure;
//! 4. delete what was published; record failures with exponential backoff; park an event that
//!    failed `max_attempts` times (it stays in the outbox with `parked_at` set, listed by
//!    [`parked`], requeued by [`requeue`], and no longer holds back its aggregate);
//! 5. commit.
//!
//! A crash anywhere before the commit leaves every claimed event in the outbox, unlocked: it is
//! published again (at-least-once; brokers deduplicate by event id, [`super::consumer::Idempotent`]
//! consumers apply it once). A broker that is unreachable is a *transient* failure: events are
//! left untouched (no attempt counted, never parked for an outage) and the relay backs off.
//!
//! On Citus the outbox is distributed by tenant like every tenant table, and Citus refuses
//! `FOR UPDATE` on a query over several shards: there a cycle first takes a transaction-scoped
//! advisory lock on the coordinator, so relays take turns instead of sharing a cycle's work,
//! and claims without row locks. The outbox's `NOTIFY` trigger fires on the workers there,
//! where no relay listens, so [`super::emit`] notifies from the coordinator itself.
//!
//! [`Relay::spawn`] runs cycles in the background: woken by `LISTEN saas_outbox` (the outbox
//! trigger notifies on commit) and, since notifications can be missed (a dropped connection, a
//! restart), also every `poll_interval`. Database errors (a restart) are logged and retried
//! with backoff; the relay recovers by itself. Every wait and the retry schedule run on
//! [`RelayConfig::clock`].

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use serde::Serialize;
use sqlx::postgres::{PgListener, PgPoolOptions};
use sqlx::{PgPool, Row};
use time::OffsetDateTime;
use tokio::sync::watch;
use uuid::Uuid;

use super::EventEnvelope;
use super::publish::{PublishError, Publisher};
use super::schema::NOTIFY_CHANNEL;
use crate::clock::{Clock, SystemClock};
use crate::error::ApiResult;
use crate::tenancy::TenantId;

mod databases;
pub use databases::DatabaseRelays;

/// Settings of a relay. [`RelayConfig::default`] suits most apps.
#[derive(Debug, Clone)]
pub struct RelayConfig {
    /// Events claimed per cycle.
    pub batch_size: i64,
    /// Failed publications after which an event is parked.
    pub max_attempts: i32,
    /// Delay before the first retry; doubled for each further attempt.
    pub backoff_base: Duration,
    /// Longest delay between retries.
    pub backoff_max: Duration,
    /// How often to look for events when no notification arrives.
    pub poll_interval: Duration,
    /// Wake up on `NOTIFY saas_outbox` (on by default).
    pub listen: bool,
    /// Delete audit entries older than this (off by default: keep everything).
    pub audit_retention: Option<Duration>,
    /// How often the retention purge runs when `audit_retention` is set.
    pub retention_interval: Duration,
    /// The clock of the polls, the backoffs and the purges (default [`SystemClock`]; a
    /// [`crate::clock::ManualClock`] in tests). With the system clock, retries are scheduled
    /// on PostgreSQL's `now()`; with another clock at this clock's time (an event is due once
    /// either reaches it), so advancing it makes a failed event due.
    pub clock: Arc<dyn Clock>,
}

impl Default for RelayConfig {
    fn default() -> Self {
        RelayConfig {
            batch_size: 500,
            max_attempts: 10,
            backoff_base: Duration::from_millis(500),
            backoff_max: Duration::from_secs(300),
            poll_interval: Duration::from_millis(500),
            listen: true,
            audit_retention: None,
            retention_interval: Duration::from_secs(3600),
            clock: Arc::new(SystemClock),
        }
    }
}

/// What one cycle did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CycleOutcome {
    /// Events locked by this cycle.
    pub claimed: usize,
    /// Published and removed from the outbox.
    pub published: usize,
    /// Failed and scheduled for a retry.
    pub failed: usize,
    /// Failed for the last allowed time and parked.
    pub parked: usize,
    /// Left for later: an earlier event of the same aggregate was pending, or the broker was
    /// unreachable.
    pub deferred: usize,
    /// Events whose failure was transient (broker unreachable): not counted as attempts.
    pub transient: usize,
}

/// Counters since the relay started.
#[derive(Debug, Default)]
pub struct RelayStats {
    published: AtomicU64,
    failed: AtomicU64,
    parked: AtomicU64,
    cycles: AtomicU64,
    errors: AtomicU64,
    listening: AtomicBool,
}

impl RelayStats {
    /// Events published.
    pub fn published(&self) -> u64 {
        self.published.load(Ordering::Relaxed)
    }
    /// Publication failures (each retry counts).
    pub fn failed(&self) -> u64 {
        self.failed.load(Ordering::Relaxed)
    }
    /// Events parked.
    pub fn parked(&self) -> u64 {
        self.parked.load(Ordering::Relaxed)
    }
    /// Cycles run.
    pub fn cycles(&self) -> u64 {
        self.cycles.load(Ordering::Relaxed)
    }
    /// Cycles that ended in a database error.
    pub fn errors(&self) -> u64 {
        self.errors.load(Ordering::Relaxed)
    }
    /// Whether a spawned relay is listening for `NOTIFY saas_outbox` now (it wakes on commits
    /// rather than at its next poll).
    pub fn listening(&self) -> bool {
        self.listening.load(Ordering::Relaxed)
    }

    fn record(&self, outcome: &CycleOutcome) {
        self.cycles.fetch_add(1, Ordering::Relaxed);
        self.published
            .fetch_add(outcome.published as u64, Ordering::Relaxed);
        self.failed
            .fetch_add(outcome.failed as u64, Ordering::Relaxed);
        self.parked
            .fetch_add(outcome.parked as u64, Ordering::Relaxed);
    }
}

/// Moves events from the outbox to a publisher. Cheap to clone; see the module documentation.
#[derive(Clone)]
pub struct Relay {
    pool: PgPool,
    publisher: Arc<dyn Publisher>,
    config: RelayConfig,
    stats: Arc<RelayStats>,
    citus: Arc<std::sync::OnceLock<bool>>,
}

impl std::fmt::Debug for Relay {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Relay")
            .field("publisher", &self.publisher.name())
            .field("config", &self.config)
            .finish()
    }
}

struct Claimed {
    seq: i64,
    attempts: i32,
    envelope: EventEnvelope,
}

macro_rules! claim_sql {
    ($lock:literal) => {
        concat!(
            "SELECT tenant_id, id, seq, event_type, schema_version, aggregate_id,
        occurred_at, payload, attempts
    FROM saas_outbox
    WHERE parked_at IS NULL AND available_at <= GREATEST(now(), $2)
    ORDER BY seq
    LIMIT $1",
            $lock
        )
    };
}

const CLAIM_SQL: &str = claim_sql!("\n    FOR UPDATE SKIP LOCKED");

/// On Citus, where a query over every shard cannot lock rows (`FOR UPDATE` is refused), one
/// relay at a time claims: the one holding [`CITUS_RELAY_LOCK`] for its cycle's transaction.
const CLAIM_SQL_CITUS: &str = claim_sql!("");

/// The coordinator's transaction-scoped advisory lock that serializes relays on Citus.
const CITUS_RELAY_LOCK: i64 = 0x7361_6173_7265_6c61; // "saasrela"

/// Every pending event of the claimed aggregates up to the last claimed position, locked or
/// not: what decides which claimed events may go now.
const PENDING_SQL: &str = "SELECT o.tenant_id, o.aggregate_id, o.seq
    FROM saas_outbox o
    JOIN unnest($1::uuid[], $2::uuid[]) AS a(tenant_id, aggregate_id)
      ON o.tenant_id = a.tenant_id AND o.aggregate_id = a.aggregate_id
    WHERE o.parked_at IS NULL AND o.seq <= $3
    ORDER BY o.seq";

const DELETE_SQL: &str = "DELETE FROM saas_outbox WHERE parked_at IS NULL AND seq = ANY($1)";

const FAIL_SQL: &str = "UPDATE saas_outbox o
    SET attempts = o.attempts + 1,
        last_error = f.error,
        available_at = COALESCE($5, now()) + make_interval(secs => f.delay),
        parked_at = CASE WHEN o.attempts + 1 >= $4 THEN now() END
    FROM unnest($1::bigint[], $2::text[], $3::float8[]) AS f(seq, error, delay)
    WHERE o.seq = f.seq AND o.parked_at IS NULL";

/// [`FAIL_SQL`] with the times computed by the relay (for Citus).
const FAIL_SQL_CITUS: &str = "UPDATE saas_outbox o
    SET attempts = o.attempts + 1,
        last_error = f.error,
        available_at = f.available_at,
        parked_at = CASE WHEN f.park THEN $5::timestamptz END
    FROM unnest($1::bigint[], $2::text[], $3::timestamptz[], $4::bool[])
      AS f(seq, error, available_at, park)
    WHERE o.seq = f.seq AND o.parked_at IS NULL";

impl Relay {
    /// A relay reading the outbox of the database `owner` connects to (as the owner: the
    /// relay works across tenants). It opens a small pool of its own (2 connections).
    pub fn new(owner: &PgPool, publisher: impl Publisher, config: RelayConfig) -> Relay {
        Relay::with_publisher(owner, Arc::new(publisher), config)
    }

    /// [`Relay::new`] with a shared publisher.
    pub fn with_publisher(
        owner: &PgPool,
        publisher: Arc<dyn Publisher>,
        config: RelayConfig,
    ) -> Relay {
        Relay::for_database((*owner.connect_options()).clone(), publisher, config)
    }

    /// A relay over the outbox of the database these owner options connect to.
    pub fn for_database(
        options: sqlx::postgres::PgConnectOptions,
        publisher: Arc<dyn Publisher>,
        config: RelayConfig,
    ) -> Relay {
        let pool = PgPoolOptions::new()
            .max_connections(2)
            .min_connections(0)
            .acquire_timeout(Duration::from_secs(5))
            .connect_lazy_with(options);
        Relay {
            pool,
            publisher,
            config,
            stats: Arc::new(RelayStats::default()),
            citus: Arc::default(),
        }
    }

    /// Counters since this relay was created.
    pub fn stats(&self) -> &RelayStats {
        &self.stats
    }

    /// The settings.
    pub fn config(&self) -> &RelayConfig {
        &self.config
    }

    /// One cycle: claim, publish, record, commit. See the module documentation.
    pub async fn run_once(&self) -> crate::Result<CycleOutcome> {
        let mut tx = self.pool.begin().await?;
        let citus = self.citus(&mut tx).await?;
        let claim = if citus {
            // The outbox has a trigger; Citus writes to such tables only with this setting
            // (set for the database by the migrator; here too, for connections older than
            // that).
            let mine: bool = sqlx::query_scalar(
                "SELECT pg_try_advisory_xact_lock($1)
                   FROM set_config('citus.enable_unsafe_triggers', 'on', true)",
            )
            .bind(CITUS_RELAY_LOCK)
            .fetch_one(&mut *tx)
            .await?;
            if !mine {
                // Another relay is in its cycle; it publishes what this one would have.
                tx.commit().await?;
                let outcome = CycleOutcome::default();
                self.stats.record(&outcome);
                return Ok(outcome);
            }
            CLAIM_SQL_CITUS
        } else {
            CLAIM_SQL
        };
        let rows = sqlx::query(claim)
            .bind(self.config.batch_size)
            .bind(self.clock_time())
            .fetch_all(&mut *tx)
            .await?;
        let mut outcome = CycleOutcome {
            claimed: rows.len(),
            ..CycleOutcome::default()
        };
        if rows.is_empty() {
            tx.commit().await?;
            self.stats.record(&outcome);
            return Ok(outcome);
        }
        let claimed = rows
            .iter()
            .map(|row| {
                Ok(Claimed {
                    seq: row.try_get("seq")?,
                    attempts: row.try_get("attempts")?,
                    envelope: envelope_from_row(row)?,
                })
            })
            .collect::<Result<Vec<Claimed>, sqlx::Error>>()?;
        let streams = self.ready_streams(&mut tx, &claimed).await?;

        let mut published: Vec<i64> = Vec::new();
        let mut failed: Vec<(i64, i32, String)> = Vec::new();
        let mut streams: Vec<std::collections::VecDeque<&Claimed>> = streams
            .into_iter()
            .map(|s| s.into_iter().collect())
            .collect();
        let mut transient = false;
        while !transient {
            let wave: Vec<&Claimed> = streams.iter().filter_map(|s| s.front().copied()).collect();
            if wave.is_empty() {
                break;
            }
            let envelopes: Vec<EventEnvelope> = wave.iter().map(|c| c.envelope.clone()).collect();
            let results = self.publisher.publish(&envelopes).await;
            for (stream, (event, result)) in streams
                .iter_mut()
                .filter(|s| !s.is_empty())
                .zip(wave.iter().zip(pad(results, envelopes.len())))
            {
                match result {
                    Ok(()) => {
                        published.push(event.seq);
                        stream.pop_front();
                    }
                    Err(err) if err.transient => {
                        transient = true;
                        outcome.transient += 1;
                        tracing::warn!(publisher = self.publisher.name(), error = %err, "publisher unreachable; retrying later");
                        stream.clear();
                    }
                    Err(err) => {
                        failed.push((event.seq, event.attempts, err.message.clone()));
                        stream.clear();
                    }
                }
            }
        }
        if !published.is_empty() {
            sqlx::query(DELETE_SQL)
                .bind(&published)
                .execute(&mut *tx)
                .await?;
        }
        if !failed.is_empty() {
            let seqs: Vec<i64> = failed.iter().map(|f| f.0).collect();
            let errors: Vec<String> = failed.iter().map(|f| truncate(&f.2, 2000)).collect();
            let delays: Vec<f64> = failed
                .iter()
                .map(|f| self.backoff(f.1).as_secs_f64())
                .collect();
            if citus {
                // Citus runs no STABLE function on a column (nor any non-immutable one in a
                // CASE) in an UPDATE over several shards: the times are computed here.
                let now = self.clock_time().unwrap_or_else(OffsetDateTime::now_utc);
                let available: Vec<OffsetDateTime> = delays
                    .iter()
                    .map(|d| now + Duration::from_secs_f64(*d))
                    .collect();
                let park: Vec<bool> = failed
                    .iter()
                    .map(|f| f.1 + 1 >= self.config.max_attempts)
                    .collect();
                sqlx::query(FAIL_SQL_CITUS)
                    .bind(&seqs)
                    .bind(&errors)
                    .bind(&available)
                    .bind(&park)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
            } else {
                sqlx::query(FAIL_SQL)
                    .bind(&seqs)
                    .bind(&errors)
                    .bind(&delays)
                    .bind(self.config.max_attempts)
                    .bind(self.clock_time())
                    .execute(&mut *tx)
                    .await?;
            }
            outcome.parked = failed
                .iter()
                .filter(|f| f.1 + 1 >= self.config.max_attempts)
                .count();
            outcome.failed = failed.len() - outcome.parked;
            for (seq, attempts, error) in &failed {
                tracing::warn!(
                    seq,
                    attempts = attempts + 1,
                    error,
                    "event publication failed"
                );
            }
        }
        tx.commit().await?;
        outcome.published = published.len();
        // Everything claimed that was neither published nor failed waits for a later cycle.
        outcome.deferred = outcome.claimed - outcome.published - failed.len();
        self.stats.record(&outcome);
        Ok(outcome)
    }

    /// Splits the claimed events into per-aggregate streams (in outbox order), each cut at the
    /// first pending event of its aggregate that this cycle did not claim.
    async fn ready_streams<'c>(
        &self,
        tx: &mut sqlx::PgConnection,
        claimed: &'c [Claimed],
    ) -> ApiResult<Vec<Vec<&'c Claimed>>> {
        let mut order: Vec<(TenantId, Uuid)> = Vec::new();
        let mut by_aggregate: HashMap<(TenantId, Uuid), Vec<&Claimed>> = HashMap::new();
        for c in claimed {
            let key = (c.envelope.tenant_id, c.envelope.aggregate_id);
            by_aggregate
                .entry(key)
                .or_insert_with(|| {
                    order.push(key);
                    Vec::new()
                })
                .push(c);
        }
        let tenants: Vec<TenantId> = order.iter().map(|k| k.0).collect();
        let aggregates: Vec<Uuid> = order.iter().map(|k| k.1).collect();
        let last = claimed.iter().map(|c| c.seq).max().unwrap_or(0);
        let pending = sqlx::query(PENDING_SQL)
            .bind(&tenants)
            .bind(&aggregates)
            .bind(last)
            .fetch_all(&mut *tx)
            .await?;
        let mut pending_by: HashMap<(TenantId, Uuid), Vec<i64>> = HashMap::new();
        for row in pending {
            let key: (TenantId, Uuid) = (row.try_get(0)?, row.try_get(1)?);
            pending_by.entry(key).or_default().push(row.try_get(2)?);
        }
        Ok(order
            .iter()
            .map(|key| {
                let mine = &by_aggregate[key];
                let theirs = pending_by.get(key).map(Vec::as_slice).unwrap_or(&[]);
                // Both are in outbox order; keep my events while they are the aggregate's
                // next pending ones.
                mine.iter()
                    .zip(theirs.iter())
                    .take_while(|(c, seq)| c.seq == **seq)
                    .map(|(c, _)| *c)
                    .collect()
            })
            .filter(|s: &Vec<&Claimed>| !s.is_empty())
            .collect())
    }

    /// Whether the outbox lives on a Citus cluster (asked once per relay).
    async fn citus(&self, conn: &mut sqlx::PgConnection) -> crate::Result<bool> {
        if let Some(citus) = self.citus.get() {
            return Ok(*citus);
        }
        let citus: bool = sqlx::query_scalar(crate::model::citus_present_sql())
            .fetch_one(&mut *conn)
            .await?;
        Ok(*self.citus.get_or_init(|| citus))
    }

    /// The injected clock's time for the outbox's queries; `None` (PostgreSQL's `now()`) with
    /// the system clock.
    fn clock_time(&self) -> Option<OffsetDateTime> {
        let clock = &self.config.clock;
        (!clock.is_system()).then(|| OffsetDateTime::from(clock.wall()))
    }

    fn backoff(&self, attempts_before: i32) -> Duration {
        let factor = 2u32.saturating_pow(attempts_before.clamp(0, 20) as u32);
        self.config
            .backoff_base
            .saturating_mul(factor)
            .min(self.config.backoff_max)
    }

    /// Runs cycles until the outbox has nothing ready. Returns how many events were
    /// published. Handy in tests and one-shot jobs.
    pub async fn drain(&self) -> crate::Result<u64> {
        Ok(self.drain_until_idle().await?.0)
    }

    /// Cycles until nothing is ready, or the publisher is unreachable (the second value).
    async fn drain_until_idle(&self) -> ApiResult<(u64, bool)> {
        let mut total = 0;
        loop {
            let outcome = self.run_once().await?;
            total += outcome.published as u64;
            if outcome.transient > 0 {
                return Ok((total, true));
            }
            let progressed = outcome.published + outcome.failed + outcome.parked > 0;
            if outcome.claimed < self.config.batch_size as usize || !progressed {
                return Ok((total, false));
            }
        }
    }

    /// Runs the relay in the background until [`RelayHandle::shutdown`].
    pub fn spawn(self) -> RelayHandle {
        let (stop, stopped) = watch::channel(false);
        let relay = self.clone();
        let task = tokio::spawn(async move { relay.run(stopped).await });
        RelayHandle {
            relay: self,
            stop,
            task,
            databases: None,
        }
    }

    async fn run(self, mut stop: watch::Receiver<bool>) {
        let mut listener: Option<PgListener> = None;
        let mut errors: u32 = 0;
        let mut unreachable: u32 = 0;
        let mut last_purge: Option<std::time::Instant> = None;
        loop {
            if *stop.borrow() {
                break;
            }
            let wait = match self.drain_until_idle().await {
                Ok((_, false)) => {
                    errors = 0;
                    unreachable = 0;
                    self.config.poll_interval
                }
                Ok((_, true)) => {
                    errors = 0;
                    unreachable = unreachable.saturating_add(1);
                    growing_delay(unreachable)
                }
                Err(err) => {
                    errors = errors.saturating_add(1);
                    self.stats.errors.fetch_add(1, Ordering::Relaxed);
                    listener = None;
                    tracing::warn!(error = %err, "relay cycle failed; retrying");
                    growing_delay(errors)
                }
            };
            self.maybe_purge(&mut last_purge).await;
            if self.config.listen && listener.is_none() && errors == 0 {
                listener = self.listen().await;
            }
            self.stats
                .listening
                .store(listener.is_some(), Ordering::Relaxed);
            let woke = tokio::select! {
                _ = stop.changed() => Wake::Stop,
                _ = self.config.clock.sleep(wait) => Wake::Timer,
                r = next_notification(&mut listener) => if r { Wake::Notified } else { Wake::ListenerLost },
            };
            match woke {
                Wake::Stop => break,
                Wake::ListenerLost => {
                    listener = None;
                    self.stats.listening.store(false, Ordering::Relaxed);
                }
                Wake::Timer | Wake::Notified => {}
            }
        }
        self.stats.listening.store(false, Ordering::Relaxed);
    }

    async fn listen(&self) -> Option<PgListener> {
        let mut listener = PgListener::connect_with(&self.pool).await.ok()?;
        listener.listen(NOTIFY_CHANNEL).await.ok()?;
        Some(listener)
    }

    async fn maybe_purge(&self, last: &mut Option<std::time::Instant>) {
        let Some(age) = self.config.audit_retention else {
            return;
        };
        let now = self.config.clock.monotonic();
        let due =
            last.is_none_or(|t| now.saturating_duration_since(t) >= self.config.retention_interval);
        if !due {
            return;
        }
        *last = Some(now);
        match super::audit::purge_older_than(&self.pool, age).await {
            Ok(n) if n > 0 => tracing::info!(deleted = n, "audit retention purge"),
            Ok(_) => {}
            Err(err) => tracing::warn!(error = %err, "audit retention purge failed"),
        }
    }
}

/// 200 ms, doubling per consecutive failure, at most 5 s.
fn growing_delay(failures: u32) -> Duration {
    Duration::from_millis(100)
        .saturating_mul(2u32.saturating_pow(failures.min(6)))
        .min(Duration::from_secs(5))
}

enum Wake {
    Stop,
    Timer,
    Notified,
    ListenerLost,
}

/// Waits for the next notification; `false` when the listening connection is gone. Without a
/// listener it never resolves (the timer wakes the relay).
async fn next_notification(listener: &mut Option<PgListener>) -> bool {
    match listener {
        Some(l) => matches!(l.try_recv().await, Ok(Some(_))),
        None => std::future::pending().await,
    }
}

/// The envelope of an outbox row (the columns every outbox query selects).
fn envelope_from_row(row: &sqlx::postgres::PgRow) -> Result<EventEnvelope, sqlx::Error> {
    Ok(EventEnvelope {
        id: row.try_get("id")?,
        tenant_id: row.try_get("tenant_id")?,
        event_type: row.try_get("event_type")?,
        schema_version: row.try_get("schema_version")?,
        aggregate_id: row.try_get("aggregate_id")?,
        occurred_at: row.try_get("occurred_at")?,
        payload: row.try_get("payload")?,
    })
}

/// One result per event, whatever the publisher returned.
fn pad(
    mut results: Vec<Result<(), PublishError>>,
    len: usize,
) -> impl Iterator<Item = Result<(), PublishError>> {
    results.truncate(len);
    while results.len() < len {
        results.push(Err(PublishError::rejected("publisher returned no result")));
    }
    results.into_iter()
}

fn truncate(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((end, _)) => text[..end].to_string(),
        None => text.to_string(),
    }
}

/// A relay running in the background.
#[derive(Debug)]
pub struct RelayHandle {
    relay: Relay,
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
    databases: Option<DatabaseRelays>,
}

impl RelayHandle {
    /// Stops (and aborts) the tenant databases' relays together with this one.
    pub fn with_databases(mut self, databases: DatabaseRelays) -> RelayHandle {
        self.databases = Some(databases);
        self
    }

    /// The relay's counters.
    pub fn stats(&self) -> &RelayStats {
        self.relay.stats()
    }

    /// Stops after the cycle in progress (its events are published and recorded, or stay in
    /// the outbox), then returns.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        if let Some(databases) = self.databases {
            databases.shutdown().await;
        }
        let _ = self.task.await;
        self.relay.pool.close().await;
    }

    /// Stops like [`RelayHandle::shutdown`], then publishes what is still ready in the
    /// primary outbox (events committed by the last requests) for at most `limit`. Whatever
    /// is left stays in the outbox for the next relay; nothing is lost either way.
    pub async fn drain_and_shutdown(self, limit: std::time::Duration) {
        let _ = self.stop.send(true);
        if let Some(databases) = self.databases {
            databases.shutdown().await;
        }
        let _ = self.task.await;
        match tokio::time::timeout(limit, self.relay.drain()).await {
            Ok(Ok(published)) => {
                tracing::info!(published, "relay drained before shutdown");
            }
            Ok(Err(err)) => tracing::warn!(error = %err, "the relay's last drain failed"),
            Err(_) => tracing::warn!(
                limit_ms = limit.as_millis() as u64,
                "the relay's last drain ran out of time; the rest stays in the outbox"
            ),
        }
        self.relay.pool.close().await;
    }

    /// Stops at once, as a crash would: the cycle in progress is abandoned and its claimed
    /// events are published again by the next relay.
    pub fn abort(self) {
        if let Some(databases) = self.databases {
            databases.abort();
        }
        self.task.abort();
    }
}

/// An event that failed `max_attempts` times.
#[derive(Debug, Clone, Serialize)]
pub struct ParkedEvent {
    /// The event.
    pub envelope: EventEnvelope,
    /// How many times publishing failed.
    pub attempts: i32,
    /// The last failure.
    pub last_error: Option<String>,
    /// When it was parked.
    #[serde(with = "time::serde::rfc3339")]
    pub parked_at: OffsetDateTime,
}

/// Every parked event, oldest first (as the owner, across tenants).
pub async fn parked(owner: &PgPool) -> crate::Result<Vec<ParkedEvent>> {
    let rows = sqlx::query(
        "SELECT tenant_id, id, event_type, schema_version, aggregate_id, occurred_at, payload,
                attempts, last_error, parked_at
           FROM saas_outbox WHERE parked_at IS NOT NULL ORDER BY seq",
    )
    .fetch_all(owner)
    .await?;
    rows.iter()
        .map(|row| {
            Ok(ParkedEvent {
                envelope: envelope_from_row(row)?,
                attempts: row.try_get("attempts")?,
                last_error: row.try_get("last_error")?,
                parked_at: row.try_get("parked_at")?,
            })
        })
        .collect::<Result<Vec<_>, sqlx::Error>>()
        .map_err(Into::into)
}

/// Puts a parked event back in line with a fresh attempt count. Returns whether it was parked.
pub async fn requeue(owner: &PgPool, event_id: Uuid) -> crate::Result<bool> {
    let done = sqlx::query(
        "UPDATE saas_outbox SET parked_at = NULL, attempts = 0, available_at = now()
          WHERE id = $1 AND parked_at IS NOT NULL",
    )
    .bind(event_id)
    .execute(owner)
    .await?;
    Ok(done.rows_affected() == 1)
}
