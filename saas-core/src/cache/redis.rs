//! The Redis backend (feature `redis`): entries shared by every instance of the application.
//! Errors (Redis down, a timeout) are logged and read as misses: the API keeps working, only
//! slower.

use std::time::Duration;

use futures_util::future::BoxFuture;
use redis::AsyncCommands;

use super::CacheBackend;
use crate::redis_conn::RedisConn;

pub(super) struct RedisBackend {
    conn: RedisConn,
}

impl RedisBackend {
    pub(super) fn new(url: &str) -> crate::Result<Self> {
        let client = redis::Client::open(url)
            .map_err(|e| crate::Error::config("REDIS_URL", format!("invalid Redis URL: {e}")))?;
        Ok(RedisBackend {
            conn: RedisConn::new(client),
        })
    }

    async fn conn(&self) -> Option<redis::aio::ConnectionManager> {
        match self.conn.get().await {
            Ok(manager) => Some(manager),
            Err(err) => {
                tracing::warn!(error = %err, "Redis cache unreachable: treating as a miss");
                None
            }
        }
    }
}

fn warn(err: redis::RedisError) {
    tracing::warn!(error = %err, "Redis cache command failed: treating as a miss");
}

impl CacheBackend for RedisBackend {
    fn get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Option<Vec<u8>>> {
        Box::pin(async move {
            let mut conn = self.conn().await?;
            conn.get::<_, Option<Vec<u8>>>(key)
                .await
                .map_err(warn)
                .ok()?
        })
    }

    fn set<'a>(&'a self, key: &'a str, value: Vec<u8>, ttl: Duration) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            if let Some(mut conn) = self.conn().await {
                let ms = ttl.as_millis().clamp(1, u64::MAX as u128) as u64;
                let _ = conn.pset_ex::<_, _, ()>(key, value, ms).await.map_err(warn);
            }
        })
    }

    fn remove<'a>(&'a self, key: &'a str) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            if let Some(mut conn) = self.conn().await {
                let _ = conn.del::<_, ()>(key).await.map_err(warn);
            }
        })
    }

    fn remove_prefix<'a>(&'a self, prefix: &'a str) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            let Some(mut conn) = self.conn().await else {
                return;
            };
            // SCAN, not KEYS: it does not block the server. The prefix has no glob
            // characters (a namespace, a UUID, separators), so it matches literally.
            let pattern = format!("{prefix}*");
            let mut cursor: u64 = 0;
            loop {
                let page: Result<(u64, Vec<String>), _> = redis::cmd("SCAN")
                    .arg(cursor)
                    .arg("MATCH")
                    .arg(&pattern)
                    .arg("COUNT")
                    .arg(500)
                    .query_async(&mut conn)
                    .await;
                let (next, keys) = match page {
                    Ok(page) => page,
                    Err(err) => return warn(err),
                };
                if !keys.is_empty() {
                    let _ = conn.del::<_, ()>(keys).await.map_err(warn);
                }
                if next == 0 {
                    break;
                }
                cursor = next;
            }
        })
    }
}
