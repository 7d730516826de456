//! The in-process store: tenants' states in shards, each behind its own short-held lock (no
//! global lock on the hot path), with a bound on how many tenants are remembered.

use std::collections::HashMap;
use std::sync::Mutex;

use super::{Outcome, Plan, State, decide, describe, undo};
use crate::tenancy::TenantId;

const SHARDS: usize = 64;

struct Entry {
    state: State,
    /// When the state becomes equivalent to a fresh one (forgetting it then loses nothing).
    idle_at: u64,
}

pub(crate) struct MemoryStore {
    shards: Box<[Mutex<HashMap<TenantId, Entry>>]>,
    per_shard: usize,
}

impl MemoryStore {
    pub(crate) fn new(capacity: usize) -> MemoryStore {
        MemoryStore {
            shards: (0..SHARDS).map(|_| Mutex::default()).collect(),
            per_shard: capacity.div_ceil(SHARDS).max(1),
        }
    }

    fn shard(&self, tenant: TenantId) -> &Mutex<HashMap<TenantId, Entry>> {
        // Tenant ids are random UUIDs: their low bits spread tenants evenly.
        let bits = tenant.as_uuid().as_u128() as usize;
        &self.shards[bits % SHARDS]
    }

    pub(crate) fn check(&self, tenant: TenantId, plan: &Plan, now: u64) -> Outcome {
        let mut shard = self
            .shard(tenant)
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if shard.len() >= self.per_shard && !shard.contains_key(&tenant) {
            make_room(&mut shard, self.per_shard, now);
        }
        let entry = shard.entry(tenant).or_insert(Entry {
            state: State::default(),
            idle_at: 0,
        });
        let allowed = decide(plan, &mut entry.state, now);
        let window_end = plan
            .quota
            .map(|q| (entry.state.window + 1).saturating_mul(q.length))
            .unwrap_or(0);
        entry.idle_at = entry.state.tat.max(window_end);
        describe(plan, &entry.state, now, allowed)
    }

    pub(crate) fn refund(&self, tenant: TenantId, plan: &Plan, window: u64, now: u64) -> Outcome {
        let mut shard = self
            .shard(tenant)
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        match shard.get_mut(&tenant) {
            Some(entry) => {
                undo(plan, &mut entry.state, window);
                describe(plan, &entry.state, now, true)
            }
            // Forgotten meanwhile: it starts afresh, with nothing to give back.
            None => describe(plan, &State::default(), now, true),
        }
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.shards.iter().map(|s| s.lock().unwrap().len()).sum()
    }
}

/// Forgets idle tenants; if every tenant is busy, forgets arbitrary ones down to 90 % of the
/// bound (they get a fresh budget: the bound errs on the side of letting requests through).
fn make_room(shard: &mut HashMap<TenantId, Entry>, bound: usize, now: u64) {
    shard.retain(|_, e| e.idle_at > now);
    let target = bound - bound / 10 - 1;
    if shard.len() > target {
        let excess = shard.len() - target;
        let victims: Vec<TenantId> = shard.keys().take(excess).copied().collect();
        for id in victims {
            shard.remove(&id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ratelimit::{Limit, PlanLimits};

    const SEC: u64 = 1_000_000_000;

    #[test]
    fn memory_stays_bounded() {
        let plan = Plan::compile("p", &PlanLimits::from(Limit::per_second(1).burst(1)));
        let store = MemoryStore::new(640);
        let busy = TenantId::new_random();
        let now = 100 * SEC;
        assert!(store.check(busy, &plan, now).allowed);
        for _ in 0..10_000 {
            store.check(TenantId::new_random(), &plan, now);
        }
        assert!(store.len() <= 640, "{} tenants remembered", store.len());
        // Two seconds on, every state is idle and is forgotten first.
        let later = now + 2 * SEC;
        assert!(store.check(busy, &plan, later).allowed);
        for _ in 0..10_000 {
            store.check(TenantId::new_random(), &plan, later);
        }
        assert!(store.len() <= 640);
    }

    #[test]
    fn tenants_never_share_a_bucket() {
        let plan = Plan::compile("p", &PlanLimits::from(Limit::per_minute(2)));
        let store = MemoryStore::new(1000);
        let (a, b) = (TenantId::new_random(), TenantId::new_random());
        let now = 60 * SEC;
        assert!(store.check(a, &plan, now).allowed);
        assert!(store.check(a, &plan, now).allowed);
        assert!(!store.check(a, &plan, now).allowed);
        assert!(store.check(b, &plan, now).allowed);
        assert!(store.check(b, &plan, now).allowed);
    }
}
