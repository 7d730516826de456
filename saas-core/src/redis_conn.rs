//! One lazily opened, self-reconnecting Redis connection (feature `redis`), shared by the
//! Redis backends of the tenant cache and the rate limits. Both fail soft, so a Redis that
//! does not answer must cost little: connecting and each reply wait at most 500 ms.

use std::time::Duration;

use tokio::sync::OnceCell;

/// A Redis client and its connection manager, opened on first use.
pub(crate) struct RedisConn {
    client: redis::Client,
    manager: OnceCell<redis::aio::ConnectionManager>,
}

impl RedisConn {
    pub(crate) fn new(client: redis::Client) -> RedisConn {
        RedisConn {
            client,
            manager: OnceCell::new(),
        }
    }

    /// The connection (a cheap clone of the manager), opening it first if need be. A failed
    /// opening is tried again by the next call.
    pub(crate) async fn get(&self) -> Result<redis::aio::ConnectionManager, redis::RedisError> {
        let connect = async {
            let config = redis::aio::ConnectionManagerConfig::new()
                .set_connection_timeout(Some(Duration::from_millis(500)))
                .set_response_timeout(Some(Duration::from_millis(500)))
                .set_number_of_retries(1);
            redis::aio::ConnectionManager::new_with_config(self.client.clone(), config).await
        };
        self.manager.get_or_try_init(|| connect).await.cloned()
    }
}
