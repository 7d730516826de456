//! Work that must outlive the request that started it (a tenant move started over HTTP):
//! it runs on a task of its own, so a client that disconnects cannot cut it off half-way,
//! and graceful shutdown waits for it (see [`crate::app::SaasApp::serve`]).

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;

/// The tracked background tasks of a runtime (cheap to clone).
#[derive(Debug, Clone)]
pub struct Background {
    running: Arc<watch::Sender<usize>>,
}

impl Default for Background {
    fn default() -> Self {
        Background {
            running: Arc::new(watch::channel(0).0),
        }
    }
}

/// Counts a task as running until it is dropped (finished, failed or panicked).
struct Running(Arc<watch::Sender<usize>>);

impl Drop for Running {
    fn drop(&mut self) {
        self.0.send_modify(|n| *n = n.saturating_sub(1));
    }
}

impl Background {
    /// Runs `task` to completion on a task of its own, whether or not anyone awaits the
    /// returned handle (dropping it detaches the task, it does not cancel it).
    pub fn spawn<F>(&self, task: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.running.send_modify(|n| *n += 1);
        let running = Running(self.running.clone());
        tokio::spawn(async move {
            let _running = running;
            task.await
        })
    }

    /// How many tracked tasks are running.
    pub fn running(&self) -> usize {
        *self.running.borrow()
    }

    /// Waits until no tracked task runs, for at most `timeout`; whether they all finished.
    pub async fn wait_idle(&self, timeout: Duration) -> bool {
        let mut idle = self.running.subscribe();
        tokio::time::timeout(timeout, idle.wait_for(|n| *n == 0))
            .await
            .is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_dropped_handle_does_not_stop_the_task_and_shutdown_waits_for_it() {
        let background = Background::default();
        let (done_tx, done) = tokio::sync::oneshot::channel();
        let handle = background.spawn(async move {
            tokio::time::sleep(Duration::from_millis(50)).await;
            done_tx.send(()).unwrap();
        });
        drop(handle);
        assert_eq!(background.running(), 1);
        assert!(!background.wait_idle(Duration::from_millis(1)).await);
        assert!(background.wait_idle(Duration::from_secs(5)).await);
        done.await.expect("the task ran to its end");
        assert_eq!(background.running(), 0);
    }
}
