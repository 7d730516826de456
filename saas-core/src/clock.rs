//! The framework's clock: wall time, monotonic time and waiting, behind one trait, so tests
//! move time with [`ManualClock::advance`] instead of sleeping.
//!
//! Everything in saas-core that depends on time takes an `Arc<dyn Clock>`, [`SystemClock`]
//! by default: API versions' deprecation and sunset
//! ([`crate::versioning::VersioningConfig::clock`]), rate limits and quotas
//! ([`crate::ratelimit::RateLimits::clock`]), the readiness cache
//! ([`crate::health::HealthConfig::clock`]) and the outbox relay's polling, backoff and retry
//! schedule ([`crate::events::relay::RelayConfig::clock`]).
//! [`crate::app::SaasAppBuilder::clock`] sets it for all of them at once.
//!
//! ```
//! use std::time::Duration;
//! use saas_core::clock::{Clock, ManualClock};
//!
//! let clock = ManualClock::at(1_700_000_000);
//! let start = clock.monotonic();
//! clock.advance(Duration::from_secs(90));
//! assert_eq!(clock.unix_seconds(), 1_700_000_090);
//! assert_eq!(clock.monotonic() - start, Duration::from_secs(90));
//! ```

use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use futures_util::future::BoxFuture;
use tokio::sync::watch;

/// A source of time: wall-clock time (timestamps, quota windows aligned to the Unix epoch,
/// sunset dates), monotonic time (durations, caches, intervals) and waiting on the latter.
pub trait Clock: Send + Sync + fmt::Debug + 'static {
    /// The wall-clock time.
    fn wall(&self) -> SystemTime;

    /// The monotonic time: never goes back, unaffected by changes of the wall clock.
    fn monotonic(&self) -> Instant;

    /// Resolves once [`Clock::monotonic`] has reached `deadline`.
    fn sleep_until(&self, deadline: Instant) -> BoxFuture<'static, ()>;

    /// Resolves once `duration` of monotonic time has passed.
    fn sleep(&self, duration: Duration) -> BoxFuture<'static, ()> {
        self.sleep_until(self.monotonic() + duration)
    }

    /// Whether this is the machine's own clock. Shared stores then keep time by their own
    /// server's clock, which every instance of the application agrees on (Redis `TIME` for
    /// rate limits, PostgreSQL `now()` for the outbox's retries); with any other clock
    /// (`false`, the default) the framework hands them this clock's time instead.
    fn is_system(&self) -> bool {
        false
    }

    /// The wall-clock time in whole seconds since the Unix epoch (negative before it).
    fn unix_seconds(&self) -> i64 {
        match self.wall().duration_since(UNIX_EPOCH) {
            Ok(after) => after.as_secs() as i64,
            Err(before) => -(before.duration().as_secs_f64().ceil() as i64),
        }
    }

    /// The wall-clock time in unix seconds: the former `versioning::clock::Clock::now`.
    #[deprecated(note = "use `unix_seconds` (or `wall` for a `SystemTime`)")]
    fn now(&self) -> i64 {
        self.unix_seconds()
    }
}

/// A shared clock is the clock it shares.
impl<C: Clock + ?Sized> Clock for Arc<C> {
    fn wall(&self) -> SystemTime {
        (**self).wall()
    }

    fn monotonic(&self) -> Instant {
        (**self).monotonic()
    }

    fn sleep_until(&self, deadline: Instant) -> BoxFuture<'static, ()> {
        (**self).sleep_until(deadline)
    }

    fn is_system(&self) -> bool {
        (**self).is_system()
    }
}

/// Nanoseconds since the Unix epoch on `clock` (0 before it).
pub(crate) fn unix_nanos(clock: &dyn Clock) -> u64 {
    clock
        .wall()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or_default()
}

/// The system clock: `SystemTime::now()` and tokio's monotonic clock (so a test runtime with
/// paused time pauses it too).
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn wall(&self) -> SystemTime {
        SystemTime::now()
    }

    fn monotonic(&self) -> Instant {
        tokio::time::Instant::now().into_std()
    }

    fn sleep_until(&self, deadline: Instant) -> BoxFuture<'static, ()> {
        Box::pin(tokio::time::sleep_until(deadline.into()))
    }

    fn is_system(&self) -> bool {
        true
    }
}

/// A clock that moves only when told to; clones share the time. Starts at the current time
/// ([`ManualClock::new`]) or at a given one ([`ManualClock::at`]).
///
/// [`ManualClock::advance`] moves the wall and the monotonic time together and wakes whatever
/// sleeps on the clock until then; [`ManualClock::set`] moves the wall clock only (as an
/// administrator setting the system time would), in either direction.
#[derive(Clone)]
pub struct ManualClock {
    inner: Arc<Manual>,
}

struct Manual {
    wall: Mutex<SystemTime>,
    origin: Instant,
    /// Monotonic time since `origin`; every sleeper holds a receiver.
    elapsed: watch::Sender<Duration>,
}

impl fmt::Debug for ManualClock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ManualClock")
            .field("wall", &self.wall())
            .field("elapsed", &*self.inner.elapsed.borrow())
            .finish()
    }
}

impl Default for ManualClock {
    fn default() -> Self {
        ManualClock::new()
    }
}

impl ManualClock {
    /// A clock stopped at the current time. Start tests that meet the database's timestamps
    /// (the outbox's retry schedule) here rather than in the past.
    pub fn new() -> Self {
        ManualClock::starting_at(SystemTime::now())
    }

    /// A clock stopped at `unix_seconds`.
    pub fn at(unix_seconds: i64) -> Self {
        ManualClock::starting_at(from_unix(unix_seconds))
    }

    /// A clock stopped at `wall`.
    pub fn starting_at(wall: SystemTime) -> Self {
        ManualClock {
            inner: Arc::new(Manual {
                wall: Mutex::new(wall),
                origin: Instant::now(),
                elapsed: watch::Sender::new(Duration::ZERO),
            }),
        }
    }

    /// Moves time forward by `by`: the wall clock, the monotonic clock, and every sleep whose
    /// deadline it reaches ends.
    pub fn advance(&self, by: Duration) {
        {
            let mut wall = self.inner.wall.lock().unwrap_or_else(|p| p.into_inner());
            *wall += by;
        }
        self.inner.elapsed.send_modify(|elapsed| *elapsed += by);
    }

    /// Sets the wall clock to `unix_seconds`; monotonic time does not move.
    pub fn set(&self, unix_seconds: i64) {
        self.set_wall(from_unix(unix_seconds));
    }

    /// Sets the wall clock to `wall`; monotonic time does not move.
    pub fn set_wall(&self, wall: SystemTime) {
        *self.inner.wall.lock().unwrap_or_else(|p| p.into_inner()) = wall;
    }

    /// How many sleeps are waiting on this clock right now: a test can wait until a background
    /// task (the relay between two cycles) is idle before advancing.
    pub fn sleepers(&self) -> usize {
        self.inner.elapsed.receiver_count()
    }
}

fn from_unix(unix_seconds: i64) -> SystemTime {
    if unix_seconds >= 0 {
        UNIX_EPOCH + Duration::from_secs(unix_seconds as u64)
    } else {
        UNIX_EPOCH - Duration::from_secs(unix_seconds.unsigned_abs())
    }
}

impl Clock for ManualClock {
    fn wall(&self) -> SystemTime {
        *self.inner.wall.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn monotonic(&self) -> Instant {
        self.inner.origin + *self.inner.elapsed.borrow()
    }

    fn sleep_until(&self, deadline: Instant) -> BoxFuture<'static, ()> {
        let target = deadline.saturating_duration_since(self.inner.origin);
        let mut elapsed = self.inner.elapsed.subscribe();
        // The future keeps the clock alive: its sender cannot go away while it waits.
        let inner = self.inner.clone();
        Box::pin(async move {
            let _ = elapsed.wait_for(|now| *now >= target).await;
            drop(inner);
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_sleep_ends_exactly_when_the_clock_reaches_its_deadline() {
        let clock = ManualClock::new();
        let mut sleep = tokio::spawn(clock.sleep(Duration::from_secs(10)));
        tokio::task::yield_now().await;
        assert_eq!(clock.sleepers(), 1);
        clock.advance(Duration::from_secs(9));
        assert!(
            tokio::time::timeout(Duration::from_millis(20), &mut sleep)
                .await
                .is_err(),
            "woke a second early"
        );
        clock.advance(Duration::from_secs(1));
        tokio::time::timeout(Duration::from_secs(5), sleep)
            .await
            .expect("woke at the deadline")
            .unwrap();
        assert_eq!(clock.sleepers(), 0);
        // A deadline already passed does not wait.
        clock.sleep(Duration::ZERO).await;
    }

    #[test]
    fn set_moves_the_wall_clock_only() {
        let clock = ManualClock::at(1_000);
        let before = clock.monotonic();
        clock.set(-5);
        assert_eq!(clock.unix_seconds(), -5);
        clock.set(2_000);
        assert_eq!(clock.unix_seconds(), 2_000);
        assert_eq!(clock.monotonic(), before);
        assert!(!clock.is_system() && SystemClock.is_system());
        clock.advance(Duration::from_millis(1500));
        assert_eq!(unix_nanos(&clock), 2_001_500_000_000);
    }
}
