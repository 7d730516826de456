//! Online moves of a tenant between any two tiers (and servers).
//!
//! A move goes through these steps, each recorded in `saas.tenant_moves` so that a move
//! interrupted at any point (the process killed, the database restarted) resumes where it
//! stopped when [`move_tenant`] or [`resume`] is called again:
//!
//! 1. **provision** the target (schema or database, migrated with the same migration set);
//! 2. **fence** the source: a row in `saas.fences` that `saas.enter` checks at the start of
//!    every write transaction. Taking the fence waits for in-flight writes to commit; new
//!    writes wait briefly (`TenancyConfig::move_wait`) for the switch and then get 503 with
//!    `Retry-After`. Reads keep being served from the source throughout;
//! 3. **copy** the tenant's rows of every model table (and of the event tables when the
//!    database changes), parents before children, with `COPY` in the binary format, into one
//!    transaction on the target that first removes any partial copy;
//! 4. **verify** per table: row counts and a checksum of the rows on both sides;
//! 5. **switch** the registry to the target in one transaction: from then on every process
//!    routes the tenant's statements there (other processes once their registry cache
//!    expires; writes they still send to the source meet the fence, re-read the placement
//!    and follow);
//! 6. **clean up** after a grace period longer than the registry cache: the source copy is
//!    removed (rows deleted from the shared schema, the schema or database dropped). The
//!    source's fence stays, so a write that was routed there by a stale cache can never land.
//!
//! Any failure before the switch (other than a crash) rolls the move back: the fence is
//! lifted, the partial copy removed. After the switch the move can only go forward.
//!
//! The module is laid out by those steps: [`run`](self) drives them (one function per step),
//! `site` holds the connections and the fence, switch and clean-up statements, `copy` moves
//! and verifies the rows.

mod copy;
mod dedicated;
mod run;
mod site;

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;
use sqlx::{ConnectOptions, Connection, PgConnection};

use crate::error::{ApiError, ApiResult};
use crate::tenancy::TenantId;
use crate::tenancy::placement::Location;
use crate::tenancy::pool::Tenancy;
use crate::tenancy::registry::{FENCE_LOCK, Tenant, Tier};

pub use copy::tables_to_copy;
pub use dedicated::{RebalanceReport, rebalance};

/// Where a tenant should go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MoveRequest {
    /// The target tier.
    pub tier: Tier,
    /// The server of a database-tier target (default `primary`).
    pub server: Option<String>,
    /// The Citus worker (`host:port`, as in `pg_dist_node`) of a dedicated-tier target
    /// (default: the worker holding the fewest of the tenant tables' shards).
    pub node: Option<String>,
}

impl MoveRequest {
    /// A move to `tier` (on the primary server; for the dedicated tier, to the worker the
    /// framework picks).
    pub fn to(tier: Tier) -> MoveRequest {
        MoveRequest {
            tier,
            server: None,
            node: None,
        }
    }
}

/// The steps of a move, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum MoveStep {
    /// Recorded; nothing done yet.
    Started,
    /// The target exists and is migrated.
    Provisioned,
    /// The source refuses writes.
    Fenced,
    /// The rows are on the target.
    Copied,
    /// Counts and checksums agree.
    Verified,
    /// The registry points at the target.
    Switched,
    /// The source copy is gone; the move is over.
    Cleaned,
}

impl MoveStep {
    /// Every step, in order.
    pub const ALL: [MoveStep; 7] = [
        MoveStep::Started,
        MoveStep::Provisioned,
        MoveStep::Fenced,
        MoveStep::Copied,
        MoveStep::Verified,
        MoveStep::Switched,
        MoveStep::Cleaned,
    ];

    /// The step's name as recorded.
    pub fn as_str(&self) -> &'static str {
        match self {
            MoveStep::Started => "started",
            MoveStep::Provisioned => "provisioned",
            MoveStep::Fenced => "fenced",
            MoveStep::Copied => "copied",
            MoveStep::Verified => "verified",
            MoveStep::Switched => "switched",
            MoveStep::Cleaned => "cleaned",
        }
    }

    fn parse(s: &str) -> ApiResult<MoveStep> {
        MoveStep::ALL
            .into_iter()
            .find(|step| step.as_str() == s)
            .ok_or_else(|| ApiError::Internal(anyhow::anyhow!("unknown move step {s:?}")))
    }
}

/// What a move reports while it runs.
#[derive(Debug, Clone)]
pub enum MoveEvent {
    /// A step completed (recorded in the registry).
    Step(MoveStep),
    /// A table was copied.
    Table {
        /// The table.
        table: String,
        /// Rows copied.
        rows: u64,
        /// Tables copied so far.
        done: usize,
        /// Tables to copy.
        total: usize,
    },
}

/// A callback receiving [`MoveEvent`]s.
pub type MoveObserver = Arc<dyn Fn(&MoveEvent) + Send + Sync>;

/// How a move runs.
#[derive(Clone, Default)]
pub struct MoveOptions {
    /// How long to wait between the switch and removing the source copy, so that every
    /// process's registry cache has expired (default: the cache TTL plus one second).
    pub grace: Option<Duration>,
    /// Called after each step and table.
    pub observer: Option<MoveObserver>,
    /// Return right after the switch and remove the source copy in a background task (after
    /// the grace period). If the process stops first, [`resume`] finishes the clean-up.
    pub background_cleanup: bool,
    /// Testing only: the move fails with an error right after this step (as if the next
    /// statement had failed), to exercise its roll-back (before the switch) or its resumption
    /// (after it). Not part of the supported API.
    #[doc(hidden)]
    pub fail_after: Option<MoveStep>,
}

impl std::fmt::Debug for MoveOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MoveOptions")
            .field("grace", &self.grace)
            .field("background_cleanup", &self.background_cleanup)
            .field("fail_after", &self.fail_after)
            .finish()
    }
}

impl MoveOptions {
    fn emit(&self, event: MoveEvent) {
        if let Some(observer) = &self.observer {
            observer(&event);
        }
    }

    /// The injected failure after `step`, if one was asked for (see `fail_after`).
    fn injected(&self, step: MoveStep) -> ApiResult<()> {
        if self.fail_after == Some(step) {
            return Err(ApiError::Internal(anyhow::anyhow!(
                "injected failure after the move step {}",
                step.as_str()
            )));
        }
        Ok(())
    }
}

/// One table's verification.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TableCheck {
    /// The table.
    pub table: String,
    /// The tenant's rows in it.
    pub rows: i64,
    /// A checksum of those rows (equal on source and target).
    pub checksum: String,
}

/// What a move did.
#[derive(Debug, Clone)]
pub struct MoveReport {
    /// The tenant, as registered after the move.
    pub tenant: Tenant,
    /// Where its data was.
    pub from: Location,
    /// Where it is now.
    pub to: Location,
    /// Per-table counts and checksums, as verified (empty when resumed after the check).
    pub tables: Vec<TableCheck>,
    /// How long writes were fenced (fence to switch) in this run.
    pub write_freeze: Duration,
    /// How long the whole move took in this run.
    pub elapsed: Duration,
    /// Whether an interrupted move was resumed.
    pub resumed: bool,
}

/// A move that has not finished.
#[derive(Debug, Clone)]
pub struct PendingMove {
    /// The move's own id (a later move of the same tenant has another).
    pub move_id: uuid::Uuid,
    /// How long ago its last step completed.
    pub since_step: Duration,
    /// The tenant.
    pub tenant: TenantId,
    /// Where it was.
    pub from: Location,
    /// Where it is going.
    pub to: Location,
    /// The last step completed.
    pub step: MoveStep,
}

/// Moves a tenant to another tier (or server), or resumes its unfinished move to the same
/// target. A tenant already there is returned unchanged. Another move of the same tenant
/// running at the same time is refused ([`crate::Error::Rejected`] with a 409 conflict).
pub async fn move_tenant(
    tenancy: &Tenancy,
    tenant: TenantId,
    request: &MoveRequest,
    options: &MoveOptions,
) -> crate::Result<MoveReport> {
    let started = Instant::now();
    if let Some(server) = &request.server {
        if request.tier != Tier::Database {
            return Err(ApiError::Validation(
                "only database-tier tenants can be placed on another server".into(),
            )
            .into());
        }
        tenancy.provisioner().servers().owner(server)?;
    }
    if request.node.is_some() && request.tier != Tier::Dedicated {
        return Err(ApiError::Validation(
            "only dedicated-tier tenants are placed on a Citus worker (node)".into(),
        )
        .into());
    }
    let current = Location::of(&tenancy.tenants().get(tenant).await?)?;
    let target =
        tenancy
            .provisioner()
            .location_for(tenant, request.tier, request.server.as_deref());
    refuse_one_cluster_under_two_names(tenancy, &current, &target).await?;
    let Some(lock) = move_lock(tenancy, tenant, false).await? else {
        return Err(ApiError::Conflict("another move of this tenant is running".into()).into());
    };
    let result = match (&current, &target) {
        // Between the shared and the dedicated tier the rows stay in the same tables: only
        // Citus's shards move (see `dedicated`). Into the dedicated tier from a schema or a
        // database: to the shared tables first, then to shards of its own.
        (Location::Dedicated, Location::Shared) => dedicated::leave(tenancy, tenant, started).await,
        (_, Location::Dedicated) => {
            let node = request.node.as_deref();
            if current.in_shared_tables() {
                dedicated::place(tenancy, tenant, current, node, options, started).await
            } else {
                let to_shared = MoveRequest::to(Tier::Shared);
                match run::run(tenancy, tenant, Some(&to_shared), options, started).await {
                    Ok(first) => {
                        dedicated::place(tenancy, tenant, first.from, node, options, started).await
                    }
                    Err(err) => Err(err.into()),
                }
            }
        }
        _ => Ok(run::run(tenancy, tenant, Some(request), options, started).await?),
    };
    lock.close().await.ok();
    result
}

/// Runs [`move_tenant`] on a task tracked by the runtime ([`Tenancy::background`]): the move
/// finishes even when the caller stops waiting for it (an HTTP client that disconnects drops
/// the request's future, which must not stop a move half-way with the tenant's writes
/// fenced), and graceful shutdown waits for it. Await the handle for the report.
pub fn spawn(
    tenancy: &Tenancy,
    tenant: TenantId,
    request: MoveRequest,
    options: MoveOptions,
) -> tokio::task::JoinHandle<crate::Result<MoveReport>> {
    let runtime = tenancy.clone();
    tenancy
        .background()
        .spawn(async move { move_tenant(&runtime, tenant, &request, &options).await })
}

/// Refuses a move between two server names that reach the same PostgreSQL cluster (equal
/// `system_identifier`): the target database would be the source database under another
/// name, so the copy would overwrite the tenant's rows with themselves and the clean-up
/// would then drop its live database.
async fn refuse_one_cluster_under_two_names(
    tenancy: &Tenancy,
    from: &Location,
    to: &Location,
) -> ApiResult<()> {
    let (source, target) = (from.placement().server, to.placement().server);
    if source == target {
        return Ok(());
    }
    let servers = tenancy.provisioner().servers();
    let mut identifiers = Vec::new();
    for name in [&source, &target] {
        let mut conn = servers.owner(name)?.connect().await?;
        let identifier: Result<i64, sqlx::Error> =
            sqlx::query_scalar("SELECT system_identifier FROM pg_control_system()")
                .fetch_one(&mut conn)
                .await;
        conn.close().await.ok();
        identifiers.push(identifier.map_err(|e| {
            ApiError::Internal(anyhow::anyhow!(
                "cannot tell which PostgreSQL cluster server {name:?} is (pg_control_system): {e}"
            ))
        })?);
    }
    if identifiers[0] == identifiers[1] {
        return Err(ApiError::Validation(format!(
            "servers {source:?} and {target:?} are the same PostgreSQL cluster (system \
             identifier {}): a move between them could copy the tenant's database onto itself \
             and then remove it; configure each cluster under one name only",
            identifiers[0]
        )));
    }
    Ok(())
}

/// The per-tenant lock every move and clean-up holds (on a connection of its own, so a
/// crashed holder releases it). `None` when `wait` is off and another holder has it.
async fn move_lock(
    tenancy: &Tenancy,
    tenant: TenantId,
    wait: bool,
) -> ApiResult<Option<PgConnection>> {
    let mut conn = tenancy.provisioner().connect_primary().await?;
    let locked: bool = if wait {
        sqlx::query("SELECT pg_advisory_lock($1, hashtext($2::text))")
            .bind(FENCE_LOCK + 1)
            .bind(tenant)
            .execute(&mut conn)
            .await?;
        true
    } else {
        sqlx::query_scalar("SELECT pg_try_advisory_lock($1, hashtext($2::text))")
            .bind(FENCE_LOCK + 1)
            .bind(tenant)
            .fetch_one(&mut conn)
            .await?
    };
    if locked {
        Ok(Some(conn))
    } else {
        conn.close().await.ok();
        Ok(None)
    }
}

/// Resumes the unfinished move of a tenant, if it has one.
pub async fn resume(
    tenancy: &Tenancy,
    tenant: TenantId,
    options: &MoveOptions,
) -> crate::Result<Option<MoveReport>> {
    let Some(pending) = pending(tenancy, tenant).await? else {
        return Ok(None);
    };
    let request = MoveRequest {
        tier: pending.to.tier(),
        server: match &pending.to {
            Location::Database { server, .. } => Some(server.clone()),
            _ => None,
        },
        node: None,
    };
    move_tenant(tenancy, tenant, &request, options)
        .await
        .map(Some)
}

/// The unfinished move of a tenant.
pub async fn pending(tenancy: &Tenancy, tenant: TenantId) -> ApiResult<Option<PendingMove>> {
    type Side = (String, String, Option<String>, Option<String>);
    type Row = (
        String,
        String,
        Option<String>,
        Option<String>,
        String,
        String,
        Option<String>,
        Option<String>,
        String,
        uuid::Uuid,
        f64,
    );
    let row: Option<Row> = sqlx::query_as(
        "SELECT to_tier, to_server, to_db, to_schema, from_tier, from_server, from_db, from_schema,
                step, move_id, EXTRACT(EPOCH FROM clock_timestamp() - updated_at)::float8
           FROM saas.tenant_moves WHERE tenant_id = $1",
    )
    .bind(tenant)
    .fetch_optional(tenancy.owner_pool())
    .await?;
    let location = |(tier, server, database, schema): Side| -> ApiResult<Location> {
        let placement = crate::tenancy::placement::Placement {
            server,
            database,
            schema,
        };
        Location::from_parts(tier.parse()?, &placement)
    };
    row.map(|(tt, ts, td, tsc, ft, fs, fd, fsc, step, move_id, since)| {
        Ok(PendingMove {
            move_id,
            since_step: Duration::from_secs_f64(since.max(0.0)),
            tenant,
            from: location((ft, fs, fd, fsc))?,
            to: location((tt, ts, td, tsc))?,
            step: MoveStep::parse(&step)?,
        })
    })
    .transpose()
}

/// Every unfinished move.
pub async fn all_pending(tenancy: &Tenancy) -> ApiResult<Vec<PendingMove>> {
    let ids: Vec<uuid::Uuid> =
        sqlx::query_scalar("SELECT tenant_id FROM saas.tenant_moves ORDER BY started_at")
            .fetch_all(tenancy.owner_pool())
            .await?;
    let mut moves = Vec::new();
    for id in ids {
        if let Some(pending) = pending(tenancy, TenantId::from_uuid(id)).await? {
            moves.push(pending);
        }
    }
    Ok(moves)
}
