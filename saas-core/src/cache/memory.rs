//! The in-process backend: a bounded LRU-ish cache (moka) with per-entry expiry.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::future::BoxFuture;

use super::CacheBackend;

type Entry = (Arc<[u8]>, Instant);

pub(super) struct MemoryBackend {
    entries: moka::future::Cache<String, Entry>,
}

impl MemoryBackend {
    pub(super) fn new(capacity: u64, max_ttl: Duration) -> Self {
        MemoryBackend {
            entries: moka::future::Cache::builder()
                .max_capacity(capacity)
                .time_to_live(max_ttl)
                .support_invalidation_closures()
                .build(),
        }
    }
}

impl CacheBackend for MemoryBackend {
    fn get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Option<Vec<u8>>> {
        Box::pin(async move {
            let (value, expires) = self.entries.get(key).await?;
            if Instant::now() >= expires {
                self.entries.invalidate(key).await;
                return None;
            }
            Some(value.to_vec())
        })
    }

    fn set<'a>(&'a self, key: &'a str, value: Vec<u8>, ttl: Duration) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            let expires = Instant::now() + ttl;
            self.entries
                .insert(key.to_string(), (Arc::from(value), expires))
                .await;
        })
    }

    fn remove<'a>(&'a self, key: &'a str) -> BoxFuture<'a, ()> {
        Box::pin(async move { self.entries.invalidate(key).await })
    }

    fn remove_prefix<'a>(&'a self, prefix: &'a str) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            let prefix = prefix.to_string();
            if let Err(err) = self
                .entries
                .invalidate_entries_if(move |key, _| key.starts_with(&prefix))
            {
                tracing::warn!(error = %err, "clearing a tenant's cache entries failed");
            }
        })
    }
}
