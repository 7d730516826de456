//! Per-tenant rate limits and quotas, by plan.
//!
//! Every tenant has a plan ([`crate::tenancy::Tenant::plan`], `default` unless set with
//! [`crate::tenancy::Tenants::set_plan`]). [`RateLimits`] says what each plan may do:
//!
//! - a **rate** ([`Limit`]): requests per period with a burst, enforced with the generic cell
//!   rate algorithm (GCRA): the tenant may send `burst` requests at once, then one every
//!   `period / count`;
//! - optionally a **quota** ([`Quota`]): requests per longer window (an hour, a day), counted
//!   in fixed windows aligned to the Unix epoch (a daily quota resets at 00:00 UTC).
//!
//! A plan with neither is unlimited, and so is a tenant whose plan is not configured when no
//! `default` plan is. Buckets are keyed by tenant id: tenants never share one, whatever their
//! plan.
//!
//! [`RateLimitLayer`] (installed by [`crate::app::SaasAppBuilder::rate_limits`]) resolves the tenant
//! of each request, hands the resolved [`crate::tenancy::resolver::TenantCtx`] on to the
//! handler (the registry is not consulted twice), and answers `429 Too Many Requests` as a
//! problem document with `Retry-After` once a limit is reached. Every limited response carries
//! the `RateLimit-Policy` and `RateLimit` fields of `draft-ietf-httpapi-ratelimit-headers`:
//!
//! ```text
//! RateLimit-Policy: "free";q=60;w=60, "free-quota";q=10000;w=86400
//! RateLimit: "free";r=9;t=1, "free-quota";r=9981;t=51234
//! ```
//!
//! Requests without valid tenant credentials pass through untouched (their handler answers
//! 401). State lives in process memory by default (sharded, bounded) or in Redis (feature
//! `redis`) for several instances; a Redis outage lets requests through, never a 5xx.
//!
//! ```
//! use std::time::Duration;
//! use saas_core::ratelimit::{Limit, Quota, RateLimits};
//!
//! let limits = RateLimits::new()
//!     .plan("default", Limit::per_minute(120).burst(20))
//!     .plan("free", Limit::per_minute(60).burst(10).with_quota(Quota::per_day(10_000)))
//!     .plan("pro", Limit::per_second(50))
//!     .plan("internal", saas_core::ratelimit::PlanLimits::unlimited());
//! # let _ = limits;
//! ```

mod layer;
mod memory;
#[cfg(feature = "redis")]
mod redis;

use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Duration;

use http::HeaderValue;

use crate::clock::{Clock, SystemClock, unix_nanos};
use crate::tenancy::TenantId;

pub use layer::{RateLimitLayer, RateLimitService};

/// The name of the `RateLimit-Policy` response field.
pub const RATELIMIT_POLICY: http::HeaderName = http::HeaderName::from_static("ratelimit-policy");
/// The name of the `RateLimit` response field.
pub const RATELIMIT: http::HeaderName = http::HeaderName::from_static("ratelimit");

/// A rate: `count` requests per `period`, with bursts of up to `burst` requests (default:
/// `count`). The finest rate is one request per microsecond.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    count: u64,
    period: Duration,
    burst: u64,
}

impl Limit {
    /// `count` (at least 1) requests per `period` (at least 1 µs).
    pub fn per(count: u64, period: Duration) -> Limit {
        let count = count.max(1);
        Limit {
            count,
            period: period.max(Duration::from_micros(1)),
            burst: count,
        }
    }

    /// `count` requests per second.
    pub fn per_second(count: u64) -> Limit {
        Limit::per(count, Duration::from_secs(1))
    }

    /// `count` requests per minute.
    pub fn per_minute(count: u64) -> Limit {
        Limit::per(count, Duration::from_secs(60))
    }

    /// `count` requests per hour.
    pub fn per_hour(count: u64) -> Limit {
        Limit::per(count, Duration::from_secs(3600))
    }

    /// At most `burst` (at least 1) requests at once; after that, one per `period / count`.
    pub fn burst(mut self, burst: u64) -> Limit {
        self.burst = burst.max(1);
        self
    }

    /// This rate and a quota.
    pub fn with_quota(self, quota: Quota) -> PlanLimits {
        PlanLimits::from(self).quota(quota)
    }

    /// Requests per period.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// The period.
    pub fn period(&self) -> Duration {
        self.period
    }

    /// The largest burst.
    pub fn max_burst(&self) -> u64 {
        self.burst
    }
}

/// A quota: `count` requests per fixed `window` (aligned to the Unix epoch).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quota {
    count: u64,
    window: Duration,
}

impl Quota {
    /// `count` requests per `window` (at least one second).
    pub fn per(count: u64, window: Duration) -> Quota {
        Quota {
            count: count.max(1),
            window: window.max(Duration::from_secs(1)),
        }
    }

    /// `count` requests per hour.
    pub fn per_hour(count: u64) -> Quota {
        Quota::per(count, Duration::from_secs(3600))
    }

    /// `count` requests per day (UTC).
    pub fn per_day(count: u64) -> Quota {
        Quota::per(count, Duration::from_secs(86_400))
    }
}

/// What one plan may do: a rate, a quota, both, or neither (unlimited).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PlanLimits {
    rate: Option<Limit>,
    quota: Option<Quota>,
}

impl PlanLimits {
    /// No limits.
    pub fn unlimited() -> PlanLimits {
        PlanLimits::default()
    }

    /// Sets the rate.
    pub fn rate(mut self, limit: Limit) -> PlanLimits {
        self.rate = Some(limit);
        self
    }

    /// Sets the quota.
    pub fn quota(mut self, quota: Quota) -> PlanLimits {
        self.quota = Some(quota);
        self
    }

    /// Whether the plan has no limit at all.
    pub fn is_unlimited(&self) -> bool {
        self.rate.is_none() && self.quota.is_none()
    }
}

impl From<Limit> for PlanLimits {
    fn from(limit: Limit) -> Self {
        PlanLimits::unlimited().rate(limit)
    }
}

impl From<Quota> for PlanLimits {
    fn from(quota: Quota) -> Self {
        PlanLimits::unlimited().quota(quota)
    }
}

#[derive(Clone)]
enum BackendConfig {
    Memory {
        capacity: usize,
    },
    #[cfg(feature = "redis")]
    Redis {
        client: ::redis::Client,
    },
}

/// The limits of every plan, where their state is kept, and the clock they run on.
#[derive(Clone)]
pub struct RateLimits {
    plans: Vec<(String, PlanLimits)>,
    backend: BackendConfig,
    namespace: String,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for RateLimits {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let backend = match &self.backend {
            BackendConfig::Memory { .. } => "memory",
            #[cfg(feature = "redis")]
            BackendConfig::Redis { .. } => "redis",
        };
        f.debug_struct("RateLimits")
            .field("plans", &self.plans)
            .field("backend", &backend)
            .field("clock", &self.clock)
            .finish()
    }
}

impl Default for RateLimits {
    fn default() -> Self {
        RateLimits::new()
    }
}

impl RateLimits {
    /// No plan limited, state in process memory for up to 100 000 tenants.
    pub fn new() -> Self {
        RateLimits {
            plans: Vec::new(),
            backend: BackendConfig::Memory { capacity: 100_000 },
            namespace: "saas".into(),
            clock: Arc::new(SystemClock),
        }
    }

    /// The clock rates refill and quota windows turn by (default [`SystemClock`]; a
    /// [`crate::clock::ManualClock`] in tests). With the system clock the Redis store keeps
    /// time by Redis's own clock; with any other it is handed this clock's time.
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// The limits of a plan (replacing earlier ones). The `default` plan's apply to tenants
    /// whose plan is not configured. Plan names are those [`crate::tenancy::Tenants::set_plan`]
    /// accepts (lowercase letters, digits, `-`, `_`).
    pub fn plan(mut self, name: &str, limits: impl Into<PlanLimits>) -> Self {
        let limits = limits.into();
        match self.plans.iter_mut().find(|(n, _)| n == name) {
            Some(entry) => entry.1 = limits,
            None => self.plans.push((name.to_string(), limits)),
        }
        self
    }

    /// Keeps state in process memory for at most `tenants` tenants (idle ones are forgotten
    /// first; forgetting an idle tenant loses nothing). Each instance counts on its own.
    pub fn in_memory(mut self, tenants: usize) -> Self {
        self.backend = BackendConfig::Memory {
            capacity: tenants.max(64),
        };
        self
    }

    /// Keeps state in Redis at `url`, shared by every instance of the application: one atomic
    /// script per request, on Redis's clock. When Redis is unreachable requests are allowed
    /// (and a warning is logged at most every 10 seconds).
    #[cfg(feature = "redis")]
    pub fn redis(mut self, url: &str) -> crate::Result<Self> {
        let client = ::redis::Client::open(url)
            .map_err(|e| crate::Error::config("REDIS_URL", format!("invalid Redis URL: {e}")))?;
        self.backend = BackendConfig::Redis { client };
        Ok(self)
    }

    /// Prefixes Redis keys (several applications sharing one Redis). Default `saas`.
    pub fn namespace(mut self, namespace: &str) -> Self {
        self.namespace = namespace.to_string();
        self
    }

    /// The limits configured for a plan, if any.
    pub fn limits_of(&self, plan: &str) -> Option<PlanLimits> {
        self.plans.iter().find(|(n, _)| n == plan).map(|(_, l)| *l)
    }

    /// Applies `SAAS_RATE_LIMITS`, when set, on top of these plans (see [`RateLimits::parse`]).
    pub fn with_env_overrides(self) -> crate::Result<Self> {
        match crate::settings::Settings::from_env()?.rate_limits {
            Some(spec) => self.parse(&spec),
            None => Ok(self),
        }
    }

    /// Adds the plans of a specification, `;`-separated `plan=items`, items `,`-separated:
    /// `COUNT/PERIOD` (the rate), `burst=N`, `quota=COUNT/PERIOD`, or `unlimited`. A period
    /// is an optional number and a unit among `ms`, `s`, `m`, `h`, `d`:
    ///
    /// ```
    /// # use saas_core::ratelimit::{Limit, Quota, RateLimits};
    /// let limits = RateLimits::new()
    ///     .parse("default=100/m,burst=20; free=60/m,burst=10,quota=10000/d; pro=unlimited")
    ///     .unwrap();
    /// assert_eq!(
    ///     limits.limits_of("free"),
    ///     Some(Limit::per_minute(60).burst(10).with_quota(Quota::per_day(10_000)))
    /// );
    /// ```
    pub fn parse(mut self, spec: &str) -> crate::Result<Self> {
        let bad = |why: String| crate::Error::config("SAAS_RATE_LIMITS", why);
        for entry in spec.split(';').map(str::trim).filter(|e| !e.is_empty()) {
            let (name, items) = entry
                .split_once('=')
                .ok_or_else(|| bad(format!("expected plan=limits, got {entry:?}")))?;
            let name = name.trim();
            crate::tenancy::registry::validate_plan(name).map_err(|e| bad(e.to_string()))?;
            let mut limits = PlanLimits::unlimited();
            let mut burst = None;
            for item in items.split(',').map(str::trim).filter(|i| !i.is_empty()) {
                if item == "unlimited" {
                    continue;
                }
                if let Some(n) = item.strip_prefix("burst=") {
                    burst = Some(
                        n.trim()
                            .parse::<u64>()
                            .map_err(|_| bad(format!("invalid burst {n:?}")))?,
                    );
                } else if let Some(q) = item.strip_prefix("quota=") {
                    let (count, window) = parse_rate(q).map_err(bad)?;
                    limits = limits.quota(Quota::per(count, window));
                } else {
                    let (count, period) = parse_rate(item).map_err(bad)?;
                    limits = limits.rate(Limit::per(count, period));
                }
            }
            if let Some(burst) = burst {
                let rate = limits
                    .rate
                    .ok_or_else(|| bad(format!("plan {name}: burst without a rate")))?;
                limits.rate = Some(rate.burst(burst));
            }
            self = self.plan(name, limits);
        }
        Ok(self)
    }
}

fn parse_rate(text: &str) -> Result<(u64, Duration), String> {
    let (count, period) = text
        .trim()
        .split_once('/')
        .ok_or_else(|| format!("expected COUNT/PERIOD, got {text:?}"))?;
    let count: u64 = count
        .trim()
        .parse()
        .map_err(|_| format!("invalid count in {text:?}"))?;
    let period = period.trim();
    let digits = period.bytes().take_while(u8::is_ascii_digit).count();
    let (n, unit) = period.split_at(digits);
    let n: u64 = if n.is_empty() {
        1
    } else {
        n.parse()
            .map_err(|_| format!("invalid period in {text:?}"))?
    };
    let unit = match unit {
        "ms" => Duration::from_millis(1),
        "s" => Duration::from_secs(1),
        "m" | "min" => Duration::from_secs(60),
        "h" => Duration::from_secs(3600),
        "d" => Duration::from_secs(86_400),
        other => {
            return Err(format!(
                "unknown unit {other:?} in {text:?} (ms, s, m, h, d)"
            ));
        }
    };
    if count == 0 || n == 0 {
        return Err(format!("{text:?}: count and period must be positive"));
    }
    Ok((count, unit * n as u32))
}

/// GCRA parameters in nanoseconds, whole microseconds (so Redis, which counts in
/// microseconds, computes exactly the same).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Gcra {
    /// Time between two requests at the sustained rate.
    pub(crate) interval: u64,
    /// How far ahead of now the theoretical arrival time may run: `burst * interval`.
    pub(crate) tolerance: u64,
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct Window {
    pub(crate) count: u64,
    /// Nanoseconds, whole seconds.
    pub(crate) length: u64,
}

/// A plan compiled for the hot path, with its `RateLimit-Policy` value built once.
#[derive(Debug)]
pub(crate) struct Plan {
    pub(crate) rate: Option<Gcra>,
    pub(crate) quota: Option<Window>,
    /// `"name"` and `"name-quota"`, the policies' names in the RateLimit field.
    rate_label: String,
    quota_label: String,
    policy: Option<HeaderValue>,
}

impl Plan {
    fn compile(name: &str, limits: &PlanLimits) -> Plan {
        // Names are validated where tenants get them; configured names could hold anything.
        let safe: String = name
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        let rate = limits.rate.map(|l| {
            let interval = ((l.period.as_nanos() / l.count as u128) as u64 / 1000).max(1) * 1000;
            Gcra {
                interval,
                tolerance: interval.saturating_mul(l.burst),
            }
        });
        let quota = limits.quota.map(|q| Window {
            count: q.count,
            length: q.window.as_secs().max(1) * 1_000_000_000,
        });
        let rate_label = format!("\"{safe}\"");
        let quota_label = format!("\"{safe}-quota\"");
        let mut policy = String::new();
        if let Some(l) = limits.rate {
            let w = l.period.as_secs_f64().ceil().max(1.0) as u64;
            let _ = write!(policy, "{rate_label};q={};w={w}", l.count);
        }
        if let Some(q) = limits.quota {
            if !policy.is_empty() {
                policy.push_str(", ");
            }
            let _ = write!(
                policy,
                "{quota_label};q={};w={}",
                q.count,
                q.window.as_secs()
            );
        }
        Plan {
            rate,
            quota,
            rate_label,
            quota_label,
            policy: (!policy.is_empty()).then(|| {
                HeaderValue::from_str(&policy).expect("policy names are sanitised to a token")
            }),
        }
    }

    fn is_unlimited(&self) -> bool {
        self.rate.is_none() && self.quota.is_none()
    }
}

/// One tenant's stored state: the GCRA theoretical arrival time and the quota window's count.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct State {
    pub(crate) tat: u64,
    /// The index of the quota window `count` belongs to (`now / window length`).
    pub(crate) window: u64,
    pub(crate) count: u64,
}

/// Decides one request, updating `state` if it is allowed.
pub(crate) fn decide(plan: &Plan, state: &mut State, now: u64) -> bool {
    if let Some(q) = plan.quota {
        let window = now / q.length;
        if state.window != window {
            state.window = window;
            state.count = 0;
        }
    }
    let base = state.tat.max(now);
    let rate_ok = plan
        .rate
        .is_none_or(|g| base + g.interval <= now + g.tolerance);
    let quota_ok = plan.quota.is_none_or(|q| state.count < q.count);
    if rate_ok && quota_ok {
        if let Some(g) = plan.rate {
            state.tat = base + g.interval;
        }
        state.count += 1;
        true
    } else {
        false
    }
}

/// What one policy has left.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Left {
    remaining: u64,
    /// Nanoseconds until `remaining` grows from 0, or until it is full again otherwise.
    reset: u64,
}

/// The outcome of a request, for its response headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Outcome {
    pub(crate) allowed: bool,
    /// The quota window the decision counted the request in (what a refund gives back to).
    pub(crate) window: u64,
    rate: Option<Left>,
    quota: Option<Left>,
    /// Nanoseconds until a request would be allowed (0 when allowed now).
    wait: u64,
}

/// Describes the state after [`decide`] (or after the Redis script that mirrors it).
pub(crate) fn describe(plan: &Plan, state: &State, now: u64, allowed: bool) -> Outcome {
    let mut wait = 0;
    let rate = plan.rate.map(|g| {
        let tat = state.tat.max(now);
        let remaining = (now + g.tolerance).saturating_sub(tat) / g.interval;
        let next = (tat + g.interval).saturating_sub(now + g.tolerance);
        if remaining == 0 {
            wait = wait.max(next);
        }
        Left {
            remaining,
            reset: if remaining == 0 { next } else { tat - now },
        }
    });
    let quota = plan.quota.map(|q| {
        let end = (state.window + 1).saturating_mul(q.length);
        let reset = end.saturating_sub(now);
        let remaining = q.count.saturating_sub(state.count);
        if remaining == 0 {
            wait = wait.max(reset);
        }
        Left { remaining, reset }
    });
    Outcome {
        allowed,
        window: state.window,
        rate,
        quota,
        wait,
    }
}

/// Gives back one request that [`decide`] allowed, counted in quota window `window`: the
/// client got a `304 Not Modified` and nothing it had to wait for.
pub(crate) fn undo(plan: &Plan, state: &mut State, window: u64) {
    if let Some(g) = plan.rate {
        state.tat = state.tat.saturating_sub(g.interval);
    }
    if plan.quota.is_some() && state.window == window {
        state.count = state.count.saturating_sub(1);
    }
}

fn ceil_secs(ns: u64) -> u64 {
    ns.div_ceil(1_000_000_000)
}

impl Outcome {
    /// Seconds to wait before retrying (at least 1).
    pub(crate) fn retry_after(&self) -> u64 {
        ceil_secs(self.wait).max(1)
    }

    /// The `RateLimit` field.
    pub(crate) fn header(&self, plan: &Plan) -> HeaderValue {
        let mut value = String::with_capacity(64);
        if let Some(left) = self.rate {
            let _ = write!(
                value,
                "{};r={};t={}",
                plan.rate_label,
                left.remaining,
                ceil_secs(left.reset)
            );
        }
        if let Some(left) = self.quota {
            if !value.is_empty() {
                value.push_str(", ");
            }
            let _ = write!(
                value,
                "{};r={};t={}",
                plan.quota_label,
                left.remaining,
                ceil_secs(left.reset)
            );
        }
        // Handing the buffer over (rather than copying it) saves an allocation per request.
        HeaderValue::from_maybe_shared(axum::body::Bytes::from(value))
            .expect("labels are sanitised tokens")
    }
}

/// Where tenants' state lives, compiled from [`BackendConfig`].
#[derive(Clone)]
pub(crate) enum Backend {
    Memory(Arc<memory::MemoryStore>, Arc<dyn Clock>),
    #[cfg(feature = "redis")]
    Redis(Arc<redis::RedisStore>),
}

impl Backend {
    fn new(config: &BackendConfig, namespace: &str, clock: Arc<dyn Clock>) -> Backend {
        let _ = namespace;
        match config {
            BackendConfig::Memory { capacity } => {
                Backend::Memory(Arc::new(memory::MemoryStore::new(*capacity)), clock)
            }
            #[cfg(feature = "redis")]
            BackendConfig::Redis { client } => Backend::Redis(Arc::new(redis::RedisStore::new(
                client.clone(),
                namespace,
                clock,
            ))),
        }
    }

    /// Decides one request of `tenant`; `None` when the state is unreachable (fail open).
    pub(crate) async fn check(&self, tenant: TenantId, plan: &Plan) -> Option<Outcome> {
        match self {
            Backend::Memory(store, clock) => Some(store.check(tenant, plan, unix_nanos(&**clock))),
            #[cfg(feature = "redis")]
            Backend::Redis(store) => store.check(tenant, plan).await,
        }
    }

    /// Gives back one allowed request of `tenant` counted in quota window `window` (see
    /// [`undo`]); the state after it, `None` when it is unreachable.
    pub(crate) async fn refund(
        &self,
        tenant: TenantId,
        plan: &Plan,
        window: u64,
    ) -> Option<Outcome> {
        match self {
            Backend::Memory(store, clock) => {
                Some(store.refund(tenant, plan, window, unix_nanos(&**clock)))
            }
            #[cfg(feature = "redis")]
            Backend::Redis(store) => store.refund(tenant, plan, window).await,
        }
    }
}

/// The compiled configuration the layer consults on every request.
pub(crate) struct Limiter {
    plans: Vec<(String, Plan)>,
    default: Option<usize>,
    pub(crate) backend: Backend,
}

impl Limiter {
    pub(crate) fn new(limits: &RateLimits) -> Limiter {
        let plans: Vec<(String, Plan)> = limits
            .plans
            .iter()
            .map(|(name, l)| (name.clone(), Plan::compile(name, l)))
            .collect();
        let default = plans
            .iter()
            .position(|(n, _)| n == crate::tenancy::registry::DEFAULT_PLAN);
        Limiter {
            plans,
            default,
            backend: Backend::new(&limits.backend, &limits.namespace, limits.clock.clone()),
        }
    }

    /// The plan to enforce for a tenant on `plan`; `None` when it is unlimited.
    pub(crate) fn plan(&self, plan: &str) -> Option<&Plan> {
        let found = self
            .plans
            .iter()
            .find(|(n, _)| n == plan)
            .or_else(|| self.default.map(|i| &self.plans[i]))
            .map(|(_, p)| p)?;
        (!found.is_unlimited()).then_some(found)
    }

    pub(crate) fn policy(plan: &Plan) -> Option<&HeaderValue> {
        plan.policy.as_ref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEC: u64 = 1_000_000_000;

    fn plan(limits: impl Into<PlanLimits>) -> Plan {
        Plan::compile("free", &limits.into())
    }

    #[test]
    fn gcra_allows_the_burst_then_the_sustained_rate() {
        let plan = plan(Limit::per_second(10).burst(3));
        let mut state = State::default();
        let now = 1_000 * SEC;
        for _ in 0..3 {
            assert!(decide(&plan, &mut state, now));
        }
        assert!(!decide(&plan, &mut state, now));
        let outcome = describe(&plan, &state, now, false);
        assert_eq!(outcome.rate.unwrap().remaining, 0);
        // One request every 100 ms afterwards.
        assert_eq!(outcome.wait, SEC / 10);
        assert!(!decide(&plan, &mut state, now + SEC / 10 - 1));
        assert!(decide(&plan, &mut state, now + SEC / 10));
        assert!(!decide(&plan, &mut state, now + SEC / 10));
        // After a full period of idleness the whole burst is back.
        let later = now + 2 * SEC;
        assert!(decide(&plan, &mut state, later));
        assert_eq!(
            describe(&plan, &state, later, true).rate.unwrap().remaining,
            2
        );
    }

    #[test]
    fn quota_counts_per_fixed_window() {
        let plan = plan(Quota::per(2, Duration::from_secs(60)));
        let mut state = State::default();
        let start = 600 * SEC; // a window boundary
        assert!(decide(&plan, &mut state, start));
        assert!(decide(&plan, &mut state, start + SEC));
        assert!(!decide(&plan, &mut state, start + 2 * SEC));
        let outcome = describe(&plan, &state, start + 2 * SEC, false);
        assert_eq!(outcome.retry_after(), 58);
        assert_eq!(outcome.quota.unwrap().remaining, 0);
        assert!(decide(&plan, &mut state, start + 60 * SEC));
    }

    #[test]
    fn a_request_denied_by_one_limit_consumes_neither() {
        let plan = plan(Limit::per_second(1).burst(1).with_quota(Quota::per_hour(5)));
        let mut state = State::default();
        let now = 3600 * SEC;
        assert!(decide(&plan, &mut state, now));
        let before = state;
        assert!(!decide(&plan, &mut state, now));
        assert_eq!(state, before);
        assert_eq!(state.count, 1);
    }

    #[test]
    fn headers_follow_the_draft_syntax() {
        let plan = plan(
            Limit::per_minute(60)
                .burst(10)
                .with_quota(Quota::per_day(1000)),
        );
        assert_eq!(
            plan.policy.as_ref().unwrap(),
            "\"free\";q=60;w=60, \"free-quota\";q=1000;w=86400"
        );
        let mut state = State::default();
        let now = 86_400 * SEC;
        assert!(decide(&plan, &mut state, now));
        let outcome = describe(&plan, &state, now, true);
        assert_eq!(
            outcome.header(&plan),
            "\"free\";r=9;t=1, \"free-quota\";r=999;t=86400"
        );
    }

    #[test]
    fn unknown_plans_fall_back_to_default_and_unlimited_plans_are_skipped() {
        let limits = RateLimits::new()
            .plan("default", Limit::per_second(5))
            .plan("vip", PlanLimits::unlimited());
        let limiter = Limiter::new(&limits);
        assert!(limiter.plan("nonesuch").is_some());
        assert!(limiter.plan("vip").is_none());
        let none = Limiter::new(&RateLimits::new().plan("free", Limit::per_second(1)));
        assert!(none.plan("default").is_none());
        assert!(none.plan("free").is_some());
    }

    #[tokio::test]
    async fn the_clock_refills_the_rate_and_turns_the_quota_window() {
        let clock = crate::clock::ManualClock::at(3600 * 1000); // on an hour boundary
        let limits = RateLimits::new()
            .plan(
                "default",
                Limit::per_second(1).burst(1).with_quota(Quota::per_hour(3)),
            )
            .clock(clock.clone());
        let limiter = Limiter::new(&limits);
        let plan = limiter.plan("default").unwrap();
        let tenant = TenantId::new_random();
        let check = || async { limiter.backend.check(tenant, plan).await.unwrap() };
        assert!(check().await.allowed);
        assert!(!check().await.allowed);
        clock.advance(Duration::from_millis(999));
        assert!(!check().await.allowed, "refilled before the interval");
        clock.advance(Duration::from_millis(1));
        assert!(check().await.allowed, "not refilled at the interval");
        clock.advance(Duration::from_secs(1));
        assert!(check().await.allowed);
        clock.advance(Duration::from_secs(1));
        let denied = check().await;
        assert!(!denied.allowed, "the quota of 3 is used up");
        assert_eq!(denied.retry_after(), 3600 - 3);
        clock.advance(Duration::from_secs(3600 - 3) - Duration::from_nanos(1));
        assert!(!check().await.allowed);
        clock.advance(Duration::from_nanos(1));
        assert!(check().await.allowed, "a new quota window");
    }

    #[test]
    fn specs_parse_and_errors_name_the_problem() {
        let limits = RateLimits::new()
            .parse("default=100/m,burst=20;free=5/10s,quota=1000/d;pro=unlimited")
            .unwrap();
        assert_eq!(
            limits.limits_of("default"),
            Some(Limit::per_minute(100).burst(20).into())
        );
        assert_eq!(
            limits.limits_of("free"),
            Some(Limit::per(5, Duration::from_secs(10)).with_quota(Quota::per_day(1000)))
        );
        assert_eq!(limits.limits_of("pro"), Some(PlanLimits::unlimited()));
        for bad in [
            "free",
            "free=5",
            "free=5/y",
            "Free=1/s",
            "free=burst=3",
            "free=0/s",
        ] {
            let err = RateLimits::new().parse(bad).unwrap_err();
            assert!(err.to_string().contains("SAAS_RATE_LIMITS"), "{bad}: {err}");
        }
    }
}
