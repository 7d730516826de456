//! One migration set for every tenant schema and tenant database: bounded parallelism, a
//! per-tenant ledger, progress reports and a summary of failures that does not stop the
//! other tenants.
//!
//! The ledger has two levels: sqlx's `_sqlx_migrations` table inside each schema or database
//! (so a tenant half-way through a run resumes at its next migration), and the registry's
//! `migrated` column holding the [`super::schema_fingerprint`] each tenant last reached (so a
//! run skips tenants already at the current set with one query, and a crashed run resumes
//! with the tenants it had not finished).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sqlx::{Connection, PgConnection};

use crate::error::{Error, Result};
use crate::tenancy::pool::Tenancy;
use crate::tenancy::{Location, Tenant, TenantId, Tier};

/// How a run goes.
#[derive(Debug, Clone)]
pub struct MigrateOptions {
    /// How many tenants are migrated at once (default: the configuration's
    /// `migration_parallelism`).
    pub parallelism: usize,
    /// Re-check every tenant, even those whose ledger says they are at the current set.
    pub force: bool,
}

impl MigrateOptions {
    /// The defaults of this runtime.
    pub fn for_tenancy(tenancy: &Tenancy) -> Self {
        MigrateOptions {
            parallelism: tenancy.config().migration_parallelism.max(1),
            force: false,
        }
    }
}

/// One tenant finished (or failed), for progress displays.
#[derive(Debug, Clone)]
pub struct TenantMigrated {
    /// The tenant.
    pub slug: String,
    /// Tenants done so far, this one included.
    pub done: usize,
    /// Tenants this run works on.
    pub total: usize,
    /// Why it failed, if it did.
    pub error: Option<String>,
}

/// What a run did.
#[derive(Debug, Clone, Default)]
pub struct MigrateSummary {
    /// Tenants of the schema and database tiers.
    pub tenants: usize,
    /// Migrated (or re-checked) in this run.
    pub migrated: usize,
    /// Already at the current migration set.
    pub up_to_date: usize,
    /// Tenants that failed, with the reason; the others were migrated regardless.
    pub failed: Vec<(String, String)>,
    /// How long the run took.
    pub elapsed: Duration,
}

impl MigrateSummary {
    /// Whether every tenant is at the current migration set.
    pub fn is_complete(&self) -> bool {
        self.failed.is_empty()
    }
}

/// Migrates every schema- and database-tier tenant that is not at the current migration set
/// (every one with `force`), `parallelism` at a time. `progress` is called after each tenant.
/// Run [`super::migrate_all`] (the shared schema) first; [`Tenancy::start`] does.
pub async fn migrate_tenants(
    tenancy: &Tenancy,
    options: &MigrateOptions,
    progress: impl Fn(&TenantMigrated) + Send + Sync + 'static,
) -> Result<MigrateSummary> {
    let started = Instant::now();
    let fingerprint = tenancy.provisioner().fingerprint().to_string();
    let rows: Vec<(uuid::Uuid, Option<String>)> = sqlx::query_as(
        "SELECT id, migrated FROM saas.tenants WHERE tier <> 'shared' ORDER BY created_at, id",
    )
    .fetch_all(tenancy.owner_pool())
    .await?;
    let total_tenants = rows.len();
    let pending: Vec<TenantId> = rows
        .into_iter()
        .filter(|(_, migrated)| options.force || migrated.as_deref() != Some(&fingerprint))
        .map(|(id, _)| TenantId::from_uuid(id))
        .collect();
    let mut summary = MigrateSummary {
        tenants: total_tenants,
        up_to_date: total_tenants - pending.len(),
        ..MigrateSummary::default()
    };
    let total = pending.len();
    let queue = Arc::new(Mutex::new(pending.into_iter().collect::<VecDeque<_>>()));
    let results = Arc::new(Mutex::new(Vec::<(String, Option<String>)>::new()));
    let progress = Arc::new(progress);
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..options.parallelism.max(1).min(total.max(1)) {
        let tenancy = tenancy.clone();
        let queue = queue.clone();
        let results = results.clone();
        let progress = progress.clone();
        let fingerprint = fingerprint.clone();
        workers.spawn(async move {
            // One owner connection per worker serves every schema tenant it takes.
            let mut primary: Option<PgConnection> = None;
            loop {
                let next = queue.lock().ok().and_then(|mut q| q.pop_front());
                let Some(id) = next else { break };
                let mut outcome = migrate_one(&tenancy, id, &fingerprint, &mut primary).await;
                // Catalog rows shared by parallel runs (a role's password, a grant on the
                // server) can collide; such a failure is retried, with the lock order the
                // first attempt established.
                for attempt in 1..=3 {
                    match &outcome {
                        Err((_, err)) if is_collision(err) => {
                            if let Some(conn) = primary.take() {
                                conn.close().await.ok();
                            }
                            tokio::time::sleep(Duration::from_millis(20 * attempt)).await;
                            outcome = migrate_one(&tenancy, id, &fingerprint, &mut primary).await;
                        }
                        _ => break,
                    }
                }
                let (slug, error) = match outcome {
                    Ok(slug) => (slug, None),
                    Err((slug, err)) => {
                        // The connection may be in any state after a failure: start afresh.
                        if let Some(conn) = primary.take() {
                            conn.close().await.ok();
                        }
                        (slug, Some(err.to_string()))
                    }
                };
                let done = {
                    let mut r = results.lock().expect("results lock");
                    r.push((slug.clone(), error.clone()));
                    r.len()
                };
                progress(&TenantMigrated {
                    slug,
                    done,
                    total,
                    error,
                });
            }
            if let Some(conn) = primary {
                conn.close().await.ok();
            }
        });
    }
    while let Some(joined) = workers.join_next().await {
        joined.map_err(|e| Error::Internal(anyhow::anyhow!("migration worker failed: {e}")))?;
    }
    let results = std::mem::take(&mut *results.lock().expect("results lock"));
    for (slug, error) in results {
        match error {
            None => summary.migrated += 1,
            Some(error) => summary.failed.push((slug, error)),
        }
    }
    summary.elapsed = started.elapsed();
    Ok(summary)
}

fn is_collision(err: &Error) -> bool {
    let text = err.to_string();
    text.contains("tuple concurrently updated")
        || text.contains("deadlock detected")
        || text.contains("tuple concurrently deleted")
}

async fn migrate_one(
    tenancy: &Tenancy,
    id: TenantId,
    fingerprint: &str,
    primary: &mut Option<PgConnection>,
) -> Result<String, (String, Error)> {
    let tenant: Tenant = tenancy
        .tenants()
        .get(id)
        .await
        .map_err(|e| (id.to_string(), Error::from(e)))?;
    let slug = tenant.slug.clone();
    let fail = |e: Error| (slug.clone(), e.for_tenant(id));
    let location = Location::of(&tenant).map_err(|e| fail(e.into()))?;
    let provisioner = tenancy.provisioner();
    match tenant.tier {
        Tier::Shared | Tier::Dedicated => return Ok(slug),
        Tier::Schema => {
            if primary.is_none() {
                *primary = Some(
                    provisioner
                        .connect_primary()
                        .await
                        .map_err(|e| fail(e.into()))?,
                );
            }
            let conn = primary.as_mut().expect("connected above");
            provisioner.migrate(conn, &location).await.map_err(fail)?;
        }
        Tier::Database => {
            let mut conn = provisioner
                .connect(&location)
                .await
                .map_err(|e| fail(e.into()))?;
            let result = provisioner.migrate(&mut conn, &location).await;
            conn.close().await.ok();
            result.map_err(fail)?;
        }
    }
    sqlx::query(
        "UPDATE saas.tenants SET migrated = $2 WHERE id = $1 AND migrated IS DISTINCT FROM $2",
    )
    .bind(id)
    .bind(fingerprint)
    .execute(tenancy.owner_pool())
    .await
    .map_err(|e| fail(e.into()))?;
    Ok(slug)
}
