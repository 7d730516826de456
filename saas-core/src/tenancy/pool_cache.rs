//! A bounded cache of connection pools: at most `capacity` pools open, the least recently used
//! one given up for a new one once it has been idle for `idle`. Serves the tenant-bound pools
//! and the tenant-database pools.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use sqlx::PgPool;

struct Entry {
    pool: PgPool,
    /// What the pool's connections were opened for; another tag replaces the pool.
    tag: String,
    last_used: Instant,
}

pub(crate) struct PoolCache<K> {
    capacity: usize,
    idle: Duration,
    entries: Mutex<HashMap<K, Entry>>,
}

fn close_later(pool: PgPool) {
    tokio::spawn(async move { pool.close().await });
}

impl<K: Eq + Hash + Clone> PoolCache<K> {
    pub(crate) fn new(capacity: usize, idle: Duration) -> Self {
        PoolCache {
            capacity,
            idle,
            entries: Mutex::default(),
        }
    }

    pub(crate) fn capacity(&self) -> usize {
        self.capacity
    }

    /// The pool of `key` opened for `tag`, opened with `open` if there is none (or one for
    /// another tag, which is closed). `None` when the cache is full and no pool is idle.
    pub(crate) fn get_or_open(
        &self,
        key: &K,
        tag: &str,
        open: impl FnOnce() -> PgPool,
    ) -> Option<PgPool> {
        if self.capacity == 0 {
            return None;
        }
        let mut entries = self.entries.lock().ok()?;
        let now = Instant::now();
        if let Some(entry) = entries.get_mut(key) {
            if entry.tag == tag {
                entry.last_used = now;
                return Some(entry.pool.clone());
            }
            if let Some(old) = entries.remove(key) {
                close_later(old.pool);
            }
        }
        if entries.len() >= self.capacity {
            let victim = entries
                .iter()
                .filter(|(_, e)| now.duration_since(e.last_used) >= self.idle)
                .min_by_key(|(_, e)| e.last_used)
                .map(|(k, _)| k.clone())?;
            if let Some(old) = entries.remove(&victim) {
                close_later(old.pool);
            }
        }
        let pool = open();
        entries.insert(
            key.clone(),
            Entry {
                pool: pool.clone(),
                tag: tag.to_string(),
                last_used: now,
            },
        );
        Some(pool)
    }

    pub(crate) fn len(&self) -> usize {
        self.entries.lock().map(|e| e.len()).unwrap_or(0)
    }

    /// The open pools, for sampling their sizes (the cache keeps them).
    pub(crate) fn pools(&self) -> Vec<(K, PgPool)> {
        match self.entries.lock() {
            Ok(entries) => entries
                .iter()
                .map(|(k, e)| (k.clone(), e.pool.clone()))
                .collect(),
            Err(_) => Vec::new(),
        }
    }

    /// The connections the cached pools hold (idle, in use or being opened).
    pub(crate) fn connections(&self) -> u32 {
        match self.entries.lock() {
            Ok(entries) => entries.values().map(|e| e.pool.size()).sum(),
            Err(_) => 0,
        }
    }

    /// Closes an idle connection of the pool holding the most connections, if it holds at
    /// least `at_least` (in the background: the pool's size drops once it is closed).
    /// Whether one was taken.
    pub(crate) fn close_idle_of_largest(&self, at_least: u32) -> bool {
        let Ok(entries) = self.entries.lock() else {
            return false;
        };
        let Some(largest) = entries
            .values()
            .map(|e| &e.pool)
            .filter(|p| p.size() >= at_least && p.num_idle() > 0)
            .max_by_key(|p| p.size())
        else {
            return false;
        };
        match largest.try_acquire() {
            Some(conn) => {
                tokio::spawn(async move { conn.close().await });
                true
            }
            None => false,
        }
    }

    /// Closes the least recently used pool that holds connections and has been idle for
    /// `idle`, if there is one, so that another key can open connections in its place.
    /// Whether one was closed.
    pub(crate) fn evict_idle(&self) -> bool {
        let Ok(mut entries) = self.entries.lock() else {
            return false;
        };
        let now = Instant::now();
        let victim = entries
            .iter()
            .filter(|(_, e)| e.pool.size() > 0 && now.duration_since(e.last_used) >= self.idle)
            .min_by_key(|(_, e)| e.last_used)
            .map(|(k, _)| k.clone());
        match victim.and_then(|k| entries.remove(&k)) {
            Some(old) => {
                close_later(old.pool);
                true
            }
            None => false,
        }
    }

    /// Takes one pool out of the cache (the caller closes it).
    pub(crate) fn remove(&self, key: &K) -> Option<PgPool> {
        self.entries
            .lock()
            .ok()
            .and_then(|mut e| e.remove(key))
            .map(|e| e.pool)
    }

    /// Takes every pool out of the cache (the caller closes them).
    pub(crate) fn drain(&self) -> Vec<PgPool> {
        match self.entries.lock() {
            Ok(mut entries) => entries.drain().map(|(_, e)| e.pool).collect(),
            Err(_) => Vec::new(),
        }
    }
}
