//! Read replicas: read-only tenant transactions ([`super::ReadTx`]) go to a streaming replica of
//! the primary database, with the same tenant context, request role and row-level security.
//!
//! A monitor samples the primary's WAL position every `probe_interval` and each replica's
//! replay position; a replica's lag is the age of the newest primary sample it has replayed
//! past. A replica that does not answer, or lags more than `replica_max_lag`, is skipped:
//! reads fall back to the primary. Reads of a tenant that wrote in this process within the
//! last `replica_max_lag` go to the primary too (read-your-writes). Writes always go to the
//! primary; a `ReadTx` refuses them.
//!
//! Replicas serve the shared and schema tiers (they replicate the primary database); tenants
//! in databases of their own read from those.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sqlx::PgPool;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

use super::TenantId;
use crate::error::ApiResult;

/// One replica and what the monitor last learnt about it.
pub struct Replica {
    url: String,
    pool: PgPool,
    healthy: AtomicBool,
    /// Microseconds of lag at the last probe (`u64::MAX`: unknown or unreachable).
    lag_us: AtomicU64,
}

impl std::fmt::Debug for Replica {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Replica")
            .field("url", &redact(&self.url))
            .field("healthy", &self.healthy.load(Ordering::Relaxed))
            .field("lag", &self.lag())
            .finish()
    }
}

fn redact(url: &str) -> String {
    match url.split_once('@') {
        Some((_, host)) => format!("postgres://…@{host}"),
        None => url.to_string(),
    }
}

impl Replica {
    /// The replica's request pool, for the pool gauges.
    pub(crate) fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// The lag measured at the last probe, if the replica answered.
    pub fn lag(&self) -> Option<Duration> {
        match self.lag_us.load(Ordering::Relaxed) {
            u64::MAX => None,
            us => Some(Duration::from_micros(us)),
        }
    }

    /// Whether reads may go to it now.
    pub fn is_healthy(&self) -> bool {
        self.healthy.load(Ordering::Relaxed)
    }
}

/// The replicas of the primary database, their monitor, and the recent writers.
pub struct Replicas {
    replicas: Vec<Arc<Replica>>,
    max_lag: Duration,
    next: AtomicU64,
    recent_writes: Mutex<HashMap<TenantId, Instant>>,
}

impl std::fmt::Debug for Replicas {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Replicas")
            .field("replicas", &self.replicas)
            .field("max_lag", &self.max_lag)
            .finish()
    }
}

impl Replicas {
    /// Opens lazy pools (as the request role) to each replica URL and starts the monitor
    /// over `owner` (the primary).
    pub(crate) fn start(
        config: &super::pool::TenancyConfig,
        owner: &PgPool,
    ) -> ApiResult<Arc<Replicas>> {
        let (request_role, request_password) =
            (&config.request_role, config.request_password.as_deref());
        let (pool_size, acquire_timeout) = (config.request_pool_size, config.acquire_timeout);
        let (max_lag, probe_interval) = (config.replica_max_lag, config.replica_probe_interval);
        let mut replicas = Vec::new();
        for url in &config.replicas {
            let options: PgConnectOptions = url.parse().map_err(|e| {
                crate::Error::config("SAAS_REPLICA_URLS", format!("invalid replica URL: {e}"))
            })?;
            let mut options = options.username(request_role);
            if let Some(password) = request_password {
                options = options.password(password);
            }
            let pool = PgPoolOptions::new()
                .max_connections(pool_size)
                .min_connections(0)
                .acquire_timeout(acquire_timeout.min(Duration::from_secs(1)))
                .test_before_acquire(false)
                .connect_lazy_with(options);
            replicas.push(Arc::new(Replica {
                url: url.clone(),
                pool,
                healthy: AtomicBool::new(false),
                lag_us: AtomicU64::new(u64::MAX),
            }));
        }
        let replicas = Arc::new(Replicas {
            replicas,
            max_lag,
            next: AtomicU64::new(0),
            recent_writes: Mutex::default(),
        });
        if !replicas.replicas.is_empty() {
            let monitor = Arc::downgrade(&replicas);
            let owner = owner.clone();
            tokio::spawn(async move {
                let mut samples: VecDeque<(Instant, i64)> = VecDeque::new();
                loop {
                    let Some(replicas) = monitor.upgrade() else {
                        break;
                    };
                    if owner.is_closed() {
                        break;
                    }
                    replicas.probe(&owner, &mut samples).await;
                    drop(replicas);
                    tokio::time::sleep(probe_interval).await;
                }
            });
        }
        Ok(replicas)
    }

    /// Every replica.
    pub fn all(&self) -> &[Arc<Replica>] {
        &self.replicas
    }

    /// The most a replica may lag and still serve reads.
    pub fn max_lag(&self) -> Duration {
        self.max_lag
    }

    async fn probe(&self, owner: &PgPool, samples: &mut VecDeque<(Instant, i64)>) {
        let primary: Result<i64, _> = tokio::time::timeout(
            Duration::from_secs(1),
            sqlx::query_scalar("SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0')::int8")
                .fetch_one(owner),
        )
        .await
        .map_err(|_| ())
        .and_then(|r| r.map_err(|_| ()));
        let now = Instant::now();
        if let Ok(lsn) = primary {
            samples.push_back((now, lsn));
        }
        let keep = (self.max_lag * 4).max(Duration::from_secs(10));
        while samples
            .front()
            .is_some_and(|(at, _)| now.duration_since(*at) > keep)
            && samples.len() > 1
        {
            samples.pop_front();
        }
        for replica in &self.replicas {
            let replayed: Result<Option<i64>, _> = tokio::time::timeout(
                Duration::from_millis(500),
                sqlx::query_scalar("SELECT pg_wal_lsn_diff(pg_last_wal_replay_lsn(), '0/0')::int8")
                    .fetch_one(&replica.pool),
            )
            .await
            .map_err(|_| ())
            .and_then(|r| r.map_err(|_| ()));
            let lag = match replayed {
                // The newest primary position the replica has replayed past: it holds every
                // write committed up to that sample.
                Ok(Some(replayed)) => samples
                    .iter()
                    .rev()
                    .find(|(_, lsn)| *lsn <= replayed)
                    .map(|(at, _)| now.duration_since(*at)),
                // Not a replica (no replay position) or unreachable.
                _ => None,
            };
            match lag {
                Some(lag) => {
                    replica.lag_us.store(
                        lag.as_micros().min(u64::MAX as u128 - 1) as u64,
                        Ordering::Relaxed,
                    );
                    replica
                        .healthy
                        .store(lag <= self.max_lag, Ordering::Relaxed);
                }
                None => {
                    replica.lag_us.store(u64::MAX, Ordering::Relaxed);
                    replica.healthy.store(false, Ordering::Relaxed);
                }
            }
        }
    }

    /// A healthy replica's pool for a read of `tenant`, or `None` (read from the primary):
    /// no replica is healthy, or the tenant wrote here within the lag bound.
    pub fn pick(&self, tenant: TenantId) -> Option<PgPool> {
        if self.replicas.is_empty() {
            return None;
        }
        if let Ok(recent) = self.recent_writes.lock()
            && recent
                .get(&tenant)
                .is_some_and(|at| at.elapsed() <= self.max_lag)
        {
            return None;
        }
        let start = self.next.fetch_add(1, Ordering::Relaxed) as usize;
        (0..self.replicas.len())
            .map(|i| &self.replicas[(start + i) % self.replicas.len()])
            .find(|r| r.is_healthy())
            .map(|r| r.pool.clone())
    }

    /// Records that `tenant` committed a write: its reads stay on the primary for a while.
    pub fn wrote(&self, tenant: TenantId) {
        if self.replicas.is_empty() {
            return;
        }
        if let Ok(mut recent) = self.recent_writes.lock() {
            if recent.len() > 100_000 {
                let max_lag = self.max_lag;
                recent.retain(|_, at| at.elapsed() <= max_lag);
            }
            recent.insert(tenant, Instant::now());
        }
    }

    pub(crate) async fn close(&self) {
        for replica in &self.replicas {
            replica.pool.close().await;
        }
    }
}
