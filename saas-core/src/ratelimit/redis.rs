//! The Redis store (feature `redis`): one atomic script per request, on Redis's clock (or on
//! an injected test clock), so every instance of the application draws from the same budget.
//! Redis being unreachable lets requests through (fail open) and logs a warning at most every
//! 10 seconds.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use super::{Outcome, Plan, State, describe};
use crate::clock::{Clock, unix_nanos};
use crate::redis_conn::RedisConn;
use crate::tenancy::TenantId;

/// Mirrors [`super::decide`] in microseconds. KEYS[1]: the tenant's hash (`tat`, `w`, `n`).
/// ARGV: interval, tolerance (µs, 0 = no rate), quota count (0 = none), window (µs), now (µs;
/// empty: Redis's `TIME`).
/// Returns allowed, now, tat, window index, count (the state after the decision).
const SCRIPT: &str = r#"
local interval = tonumber(ARGV[1])
local tolerance = tonumber(ARGV[2])
local quota = tonumber(ARGV[3])
local window = tonumber(ARGV[4])
local now = tonumber(ARGV[5])
if not now then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000000 + tonumber(t[2])
end
local s = redis.call('HMGET', KEYS[1], 'tat', 'w', 'n')
local tat = tonumber(s[1]) or 0
local w = tonumber(s[2]) or 0
local n = tonumber(s[3]) or 0
if window > 0 then
  local current = math.floor(now / window)
  if w ~= current then
    w = current
    n = 0
  end
end
local base = tat
if base < now then base = now end
local allowed = 1
if interval > 0 and base + interval > now + tolerance then allowed = 0 end
if quota > 0 and n >= quota then allowed = 0 end
if allowed == 1 then
  local ttl = 0
  if interval > 0 then
    tat = base + interval
    ttl = tat - now
  end
  n = n + 1
  if window > 0 then
    local left = (w + 1) * window - now
    if left > ttl then ttl = left end
  end
  redis.call('HSET', KEYS[1], 'tat', string.format('%.0f', tat), 'w', string.format('%.0f', w), 'n', string.format('%.0f', n))
  redis.call('PEXPIRE', KEYS[1], math.ceil(ttl / 1000) + 1000)
end
return {allowed, string.format('%.0f', now), string.format('%.0f', tat), string.format('%.0f', w), string.format('%.0f', n)}
"#;

/// Mirrors [`super::undo`]. KEYS[1]: the tenant's hash. ARGV: interval (µs, 0 = no rate), the
/// quota window index the request was counted in (-1 = no quota), now (µs; empty: `TIME`).
/// Returns now, tat, window index, count (the state after the refund).
const REFUND_SCRIPT: &str = r#"
local interval = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local now = tonumber(ARGV[3])
if not now then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000000 + tonumber(t[2])
end
local s = redis.call('HMGET', KEYS[1], 'tat', 'w', 'n')
if not s[1] then
  return {string.format('%.0f', now), '0', '0', '0'}
end
local tat = tonumber(s[1]) or 0
local w = tonumber(s[2]) or 0
local n = tonumber(s[3]) or 0
if interval > 0 then
  tat = tat - interval
  if tat < 0 then tat = 0 end
end
if window >= 0 and w == window and n > 0 then n = n - 1 end
redis.call('HSET', KEYS[1], 'tat', string.format('%.0f', tat), 'n', string.format('%.0f', n))
return {string.format('%.0f', now), string.format('%.0f', tat), string.format('%.0f', w), string.format('%.0f', n)}
"#;

/// After a failure, Redis is not tried again for this long (requests pass meanwhile).
const BACKOFF_NS: u64 = 1_000_000_000;
const WARN_EVERY_NS: u64 = 10_000_000_000;

pub(crate) struct RedisStore {
    conn: RedisConn,
    script: redis::Script,
    refund_script: redis::Script,
    prefix: String,
    retry_at: AtomicU64,
    warned_at: AtomicU64,
    clock: Arc<dyn Clock>,
}

impl RedisStore {
    pub(crate) fn new(client: redis::Client, namespace: &str, clock: Arc<dyn Clock>) -> RedisStore {
        RedisStore {
            conn: RedisConn::new(client),
            script: redis::Script::new(SCRIPT),
            refund_script: redis::Script::new(REFUND_SCRIPT),
            prefix: format!("{namespace}:rl:"),
            retry_at: AtomicU64::new(0),
            warned_at: AtomicU64::new(0),
            clock,
        }
    }

    fn fail(&self, what: &str, err: &redis::RedisError) {
        let now = unix_nanos(&*self.clock);
        self.retry_at.store(now + BACKOFF_NS, Ordering::Relaxed);
        let last = self.warned_at.load(Ordering::Relaxed);
        if now.saturating_sub(last) >= WARN_EVERY_NS
            && self
                .warned_at
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            tracing::warn!(error = %err, "rate limits: {what}; allowing requests until it is back");
        }
    }

    async fn conn(&self) -> Option<redis::aio::ConnectionManager> {
        match self.conn.get().await {
            Ok(manager) => Some(manager),
            Err(err) => {
                self.fail("Redis is unreachable", &err);
                None
            }
        }
    }

    pub(crate) async fn check(&self, tenant: TenantId, plan: &Plan) -> Option<Outcome> {
        if unix_nanos(&*self.clock) < self.retry_at.load(Ordering::Relaxed) {
            return None;
        }
        let mut conn = self.conn().await?;
        let (interval, tolerance) = plan
            .rate
            .map(|g| (g.interval / 1000, g.tolerance / 1000))
            .unwrap_or((0, 0));
        let (count, window) = plan
            .quota
            .map(|q| (q.count, q.length / 1000))
            .unwrap_or((0, 0));
        let now = self.now_arg();
        let key = self.key(tenant);
        let reply: Result<(i64, String, String, String, String), _> = self
            .script
            .key(key)
            .arg(interval)
            .arg(tolerance)
            .arg(count)
            .arg(window)
            .arg(now)
            .invoke_async(&mut conn)
            .await;
        let (allowed, now, tat, w, n) = self.reply(reply)?;
        Some(described(plan, [&now, &tat, &w, &n], allowed == 1))
    }

    /// Gives back one request counted in quota window `window` (a 304).
    pub(crate) async fn refund(
        &self,
        tenant: TenantId,
        plan: &Plan,
        window: u64,
    ) -> Option<Outcome> {
        if unix_nanos(&*self.clock) < self.retry_at.load(Ordering::Relaxed) {
            return None;
        }
        let mut conn = self.conn().await?;
        let interval = plan.rate.map(|g| g.interval / 1000).unwrap_or(0);
        let window = match plan.quota {
            Some(_) => i64::try_from(window).unwrap_or(-1),
            None => -1,
        };
        let reply: Result<(String, String, String, String), _> = self
            .refund_script
            .key(self.key(tenant))
            .arg(interval)
            .arg(window)
            .arg(self.now_arg())
            .invoke_async(&mut conn)
            .await;
        let (now, tat, w, n) = self.reply(reply)?;
        Some(described(plan, [&now, &tat, &w, &n], true))
    }

    /// A script's reply, or `None` after noting the failure (requests pass meanwhile).
    fn reply<T>(&self, reply: Result<T, redis::RedisError>) -> Option<T> {
        reply
            .map_err(|err| self.fail("a Redis command failed", &err))
            .ok()
    }

    /// The tenant's key; the hash tag keeps it on one Redis Cluster slot.
    fn key(&self, tenant: TenantId) -> String {
        format!("{}{{{}}}", self.prefix, tenant)
    }

    /// "Now" for a script: empty for Redis's own clock, else the injected clock in µs.
    fn now_arg(&self) -> String {
        match self.clock.is_system() {
            true => String::new(),
            false => (unix_nanos(&*self.clock) / 1000).to_string(),
        }
    }
}

/// The outcome from a script's state: now, tat (µs), window index, count, as decimal strings.
fn described(plan: &Plan, [now, tat, w, n]: [&str; 4], allowed: bool) -> Outcome {
    let number = |s: &str| s.parse::<u64>().unwrap_or_default();
    let state = State {
        tat: number(tat) * 1000,
        window: number(w),
        count: number(n),
    };
    describe(plan, &state, number(now) * 1000, allowed)
}
