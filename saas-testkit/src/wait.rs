//! Waiting for asynchronous work without guessing how long it takes.

use std::time::{Duration, Instant};

/// Waits until `condition` holds and returns as soon as it does, checking it at once and then
/// at short, growing intervals (1 ms doubling up to 50 ms). Panics naming `what` when it still
/// does not hold after `limit`: the bound turns a hang into a failure, it is not a delay.
///
/// ```no_run
/// # async fn demo(relay: &saas_core::events::relay::RelayHandle) {
/// use std::time::Duration;
/// saas_testkit::wait_until("the relay listens", Duration::from_secs(10), async || {
///     relay.stats().listening()
/// })
/// .await;
/// # }
/// ```
pub async fn wait_until(what: &str, limit: Duration, mut condition: impl AsyncFnMut() -> bool) {
    let start = Instant::now();
    let mut pause = Duration::from_millis(1);
    loop {
        if condition().await {
            return;
        }
        if start.elapsed() >= limit {
            panic!("timed out after {limit:?} waiting until {what}");
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_millis(50));
    }
}
