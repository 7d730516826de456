//! Random interleavings of the document's operations by several tenants.

use std::collections::BTreeSet;
use std::fmt;

use proptest::sample::Index;
use saas_core::tenancy::registry::Tenant;

use super::PROBE;
use super::api::Api;
use super::ids::{Ids, id_key_stem, ids_in};
use super::report::{IsolationReport, excerpt};
use super::walk::{create_all, creation_kind, is_success};
use crate::app::{Client, TestApp};
use crate::env::TestEnv;

/// One step of an interleaving: tenant `actor` sends operation `op`, its path filled with ids
/// of tenant `owner` (picked by `id`).
#[derive(Debug, Clone)]
pub(super) struct Step {
    pub(super) actor: usize,
    pub(super) op: Index,
    pub(super) owner: usize,
    pub(super) id: Index,
}

/// A failing interleaving: what was sent, and what broke.
#[derive(Debug)]
pub(super) struct InterleavingFailure {
    log: Vec<String>,
    violations: Vec<String>,
}

impl fmt::Display for InterleavingFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "steps:")?;
        for line in &self.log {
            write!(f, "\n  {line}")?;
        }
        write!(f, "\nviolations:")?;
        for v in &self.violations {
            write!(f, "\n  - {v}")?;
        }
        Ok(())
    }
}

/// Runs one interleaving on fresh tenants; `None` when isolation held.
pub(super) async fn run_interleaving(
    api: &Api,
    app: &TestApp,
    env: &TestEnv,
    n: usize,
    steps: &[Step],
) -> Option<InterleavingFailure> {
    let mut tenants: Vec<Tenant> = Vec::with_capacity(n);
    for i in 0..n {
        tenants.push(env.tenant(&format!("interleave-{i}")).await);
    }
    let clients: Vec<Client<'_>> = tenants.iter().map(|t| app.as_tenant(t)).collect();
    let mut pools = vec![Ids::default(); n];
    let mut scratch = IsolationReport {
        document: String::new(),
        tenants: [String::new(), String::new()],
        requests: 0,
        violations: Vec::new(),
        notes: Vec::new(),
    };
    let mut log = Vec::new();
    let mut violations = Vec::new();
    for (i, client) in clients.iter().enumerate() {
        create_all(
            api,
            client,
            &format!("t{i}"),
            PROBE,
            &mut pools[i],
            &mut scratch,
        )
        .await;
        log.push(format!("t{i} seeds {} ids", pools[i].all.len()));
    }
    if pools.iter().all(Ids::is_empty) {
        let notes = scratch.notes.join("; ");
        violations.push(format!(
            "no tenant could create anything, so no step can use another tenant's id: the check \
             proves nothing ({notes})"
        ));
        return Some(InterleavingFailure { log, violations });
    }
    for step in steps {
        let op = &api.ops[step.op.index(api.ops.len())];
        let (actor, owner) = (step.actor, step.owner);
        let mut fill = Vec::new();
        if !op.params.is_empty() {
            let pool = &pools[owner].all;
            if pool.is_empty() {
                log.push(format!(
                    "t{actor} {}: t{owner} has no ids, skipped",
                    op.route()
                ));
                continue;
            }
            let first = step.id.index(pool.len());
            fill = (0..op.params.len())
                .map(|k| pool[(first + k) % pool.len()])
                .collect();
        }
        let path = op.path(&fill);
        let body = op.body_value(&api.document, &pools[actor], PROBE);
        let response = clients[actor].send(&op.method, &path, body.as_ref()).await;
        let foreign = !op.params.is_empty() && owner != actor;
        log.push(format!(
            "t{actor} {} {path}{} -> {}",
            op.method,
            if foreign {
                format!(" (t{owner}'s id)")
            } else {
                String::new()
            },
            response.status
        ));
        if foreign && response.status != 404 {
            violations.push(format!(
                "t{actor} {} {} ({path}) with t{owner}'s id: {}, expected 404; body: {}",
                op.method,
                op.template,
                response.status,
                excerpt(&response.body)
            ));
        }
        let mut leaked = BTreeSet::new();
        for (other, pool) in pools.iter().enumerate() {
            if other != actor {
                leaked.extend(
                    pool.found_in(&response.body)
                        .into_iter()
                        .map(|id| (other, id)),
                );
            }
        }
        if !leaked.is_empty() {
            let ids: Vec<String> = leaked
                .iter()
                .map(|(t, id)| format!("t{t}'s {id}"))
                .collect();
            violations.push(format!(
                "t{actor} {} {} ({path}): the answer holds {}; body: {}",
                op.method,
                op.template,
                ids.join(", "),
                excerpt(&response.body)
            ));
        }
        if op.method == "POST" && !foreign && is_success(response.status) {
            let value = response.value();
            let kind = creation_kind(&op.template);
            for (key, id, depth) in ids_in(&value) {
                if pools
                    .iter()
                    .enumerate()
                    .any(|(t, p)| t != actor && p.contains(&id))
                {
                    continue;
                }
                let id_kind = match id_key_stem(&key) {
                    Some(stem) if !stem.is_empty() => stem,
                    _ if depth == 0 => kind.clone(),
                    _ => String::new(),
                };
                pools[actor].add(&id_kind, id);
            }
        }
    }
    (!violations.is_empty()).then_some(InterleavingFailure { log, violations })
}
