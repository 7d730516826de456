//! An injectable clock, so tests can cross a sunset date.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

/// The current time, in unix seconds.
pub trait Clock: Send + Sync + std::fmt::Debug + 'static {
    /// Now, in unix seconds.
    fn now(&self) -> i64;
}

/// The system clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> i64 {
        time::OffsetDateTime::now_utc().unix_timestamp()
    }
}

/// A clock that shows what it is told; cloning shares the time.
#[derive(Debug, Clone, Default)]
pub struct TestClock(Arc<AtomicI64>);

impl TestClock {
    /// A clock stopped at `unix_seconds`.
    pub fn at(unix_seconds: i64) -> Self {
        TestClock(Arc::new(AtomicI64::new(unix_seconds)))
    }

    /// Moves the clock.
    pub fn set(&self, unix_seconds: i64) {
        self.0.store(unix_seconds, Ordering::SeqCst);
    }
}

impl Clock for TestClock {
    fn now(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }
}
