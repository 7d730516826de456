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

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use serde::Serialize;
use sqlx::{ConnectOptions, Connection, PgConnection};

use super::placement::Location;
use super::pool::Tenancy;
use super::registry::{FENCE_LOCK, Tenant, Tier};
use super::{TENANT_SETTING, TenantId};
use crate::error::{ApiResult, Error};
use crate::model::{ModelMeta, ddl_quote_ident, registered_models};

/// Where a tenant should go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MoveRequest {
    /// The target tier.
    pub tier: Tier,
    /// The server of a database-tier target (default `primary`).
    pub server: Option<String>,
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
            .ok_or_else(|| Error::Internal(anyhow::anyhow!("unknown move step {s:?}")))
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
            return Err(Error::Internal(anyhow::anyhow!(
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
/// running at the same time is a 409.
pub async fn move_tenant(
    tenancy: &Tenancy,
    tenant: TenantId,
    request: &MoveRequest,
    options: &MoveOptions,
) -> ApiResult<MoveReport> {
    let started = Instant::now();
    if let Some(server) = &request.server {
        if request.tier != Tier::Database {
            return Err(Error::Validation(
                "only database-tier tenants can be placed on another server".into(),
            ));
        }
        tenancy.provisioner().servers().owner(server)?;
    }
    let current = Location::of(&tenancy.tenants().get(tenant).await?)?;
    let target =
        tenancy
            .provisioner()
            .location_for(tenant, request.tier, request.server.as_deref());
    refuse_one_cluster_under_two_names(tenancy, &current, &target).await?;
    let Some(lock) = move_lock(tenancy, tenant, false).await? else {
        return Err(Error::Conflict(
            "another move of this tenant is running".into(),
        ));
    };
    let result = run(tenancy, tenant, Some(request), options, started).await;
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
) -> tokio::task::JoinHandle<ApiResult<MoveReport>> {
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
            Error::Config(format!(
                "cannot tell which PostgreSQL cluster server {name:?} is (pg_control_system): {e}"
            ))
        })?);
    }
    if identifiers[0] == identifiers[1] {
        return Err(Error::Validation(format!(
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
) -> ApiResult<Option<MoveReport>> {
    let Some(pending) = pending(tenancy, tenant).await? else {
        return Ok(None);
    };
    let request = MoveRequest {
        tier: pending.to.tier(),
        server: match &pending.to {
            Location::Database { server, .. } => Some(server.clone()),
            _ => None,
        },
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
        let placement = super::placement::Placement {
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

async fn record(tenancy: &Tenancy, tenant: TenantId, step: MoveStep) -> ApiResult<()> {
    sqlx::query("UPDATE saas.tenant_moves SET step = $2, updated_at = now() WHERE tenant_id = $1")
        .bind(tenant)
        .bind(step.as_str())
        .execute(tenancy.owner_pool())
        .await?;
    Ok(())
}

async fn run(
    tenancy: &Tenancy,
    id: TenantId,
    request: Option<&MoveRequest>,
    options: &MoveOptions,
    started: Instant,
) -> ApiResult<MoveReport> {
    let grace = options
        .grace
        .unwrap_or(tenancy.tenants().cache_ttl() + Duration::from_secs(1));
    let mut previous = pending(tenancy, id).await?;
    if let (Some(p), Some(request)) = (&previous, request)
        && p.step >= MoveStep::Switched
        && !same_target(tenancy, id, request, &p.to)
    {
        // Only the clean-up of an earlier move is left: finish it (its grace period
        // included), then start this one.
        tokio::time::sleep(grace.saturating_sub(p.since_step)).await;
        clean_up_locked(tenancy, id, p.move_id, &p.from, &p.to, options).await?;
        previous = None;
    }
    let tenant = tenancy.tenants().get(id).await?;
    let from = Location::of(&tenant)?;
    let (move_id, source, to, mut step, resumed) = match previous {
        Some(pending) => {
            if let Some(request) = request
                && !same_target(tenancy, id, request, &pending.to)
            {
                return Err(Error::Conflict(format!(
                    "this tenant has an unfinished move to {}; resume it first",
                    pending.to
                )));
            }
            (
                pending.move_id,
                pending.from,
                pending.to,
                pending.step,
                true,
            )
        }
        None => {
            let Some(request) = request else {
                return Err(Error::NotFound { resource: "move" });
            };
            let to =
                tenancy
                    .provisioner()
                    .location_for(id, request.tier, request.server.as_deref());
            if to == from {
                return Ok(MoveReport {
                    tenant,
                    to: from.clone(),
                    from,
                    tables: Vec::new(),
                    write_freeze: Duration::ZERO,
                    elapsed: started.elapsed(),
                    resumed: false,
                });
            }
            let placement = to.placement();
            let origin = from.placement();
            let move_id: uuid::Uuid = sqlx::query_scalar(
                "INSERT INTO saas.tenant_moves (tenant_id, to_tier, to_server, to_db, to_schema,
                                                from_tier, from_server, from_db, from_schema, step)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'started') RETURNING move_id",
            )
            .bind(id)
            .bind(to.tier().as_str())
            .bind(&placement.server)
            .bind(&placement.database)
            .bind(&placement.schema)
            .bind(from.tier().as_str())
            .bind(&origin.server)
            .bind(&origin.database)
            .bind(&origin.schema)
            .fetch_one(tenancy.owner_pool())
            .await?;
            options.emit(MoveEvent::Step(MoveStep::Started));
            (move_id, from.clone(), to, MoveStep::Started, false)
        }
    };
    let mut tables = Vec::new();
    let mut freeze_started = None;
    if step < MoveStep::Switched {
        let before = async {
            if step == MoveStep::Started {
                options.injected(MoveStep::Started)?;
            }
            if step < MoveStep::Provisioned {
                tenancy.provisioner().provision(&to).await?;
                tenancy.provisioner().register_locally(&to, &tenant).await?;
                record(tenancy, id, MoveStep::Provisioned).await?;
                options.emit(MoveEvent::Step(MoveStep::Provisioned));
                step = MoveStep::Provisioned;
                options.injected(MoveStep::Provisioned)?;
            }
            if step < MoveStep::Fenced {
                fence(tenancy, id, &source).await?;
                record(tenancy, id, MoveStep::Fenced).await?;
                options.emit(MoveEvent::Step(MoveStep::Fenced));
                step = MoveStep::Fenced;
                options.injected(MoveStep::Fenced)?;
            }
            freeze_started = Some(Instant::now());
            if step < MoveStep::Copied {
                // Nothing but this move may write to the target before the switch.
                fence(tenancy, id, &to).await?;
                copy(tenancy, id, &source, &to, options).await?;
                record(tenancy, id, MoveStep::Copied).await?;
                options.emit(MoveEvent::Step(MoveStep::Copied));
                step = MoveStep::Copied;
                options.injected(MoveStep::Copied)?;
            }
            if step < MoveStep::Verified {
                tables = verify(tenancy, id, &source, &to).await?;
                record(tenancy, id, MoveStep::Verified).await?;
                options.emit(MoveEvent::Step(MoveStep::Verified));
                step = MoveStep::Verified;
                options.injected(MoveStep::Verified)?;
            }
            switch(tenancy, id, &to).await?;
            Ok::<(), Error>(())
        }
        .await;
        if let Err(err) = before {
            // The switch may have committed although its answer was lost: only a move that
            // is recorded as not switched rolls back. Once the registry names the target,
            // removing the target would remove the tenant's live data; it goes forward.
            match pending(tenancy, id).await {
                Ok(Some(p)) if p.move_id == move_id && p.step < MoveStep::Switched => {
                    tracing::warn!(tenant = %id, error = %err, "tenant move failed before the switch; rolling it back");
                    if let Err(undo) = roll_back(tenancy, id, &source, &to).await {
                        tracing::error!(tenant = %id, error = %undo, "rolling back the move failed; resume it");
                    }
                }
                Ok(_) => {
                    tracing::error!(tenant = %id, error = %err, "tenant move failed after its switch; resume it");
                }
                Err(undo) => {
                    tracing::error!(tenant = %id, error = %err, state = %undo, "tenant move failed and its state is unknown; resume it");
                }
            }
            return Err(err);
        }
        // From here on the move only goes forward: a failure leaves it recorded as switched,
        // and `resume` finishes it.
        options.injected(MoveStep::Switched)?;
        // The registry names the target now: lift the fence that kept it quiet.
        unfence(tenancy, id, &to).await?;
        options.emit(MoveEvent::Step(MoveStep::Switched));
    }
    let write_freeze = freeze_started.map(|t| t.elapsed()).unwrap_or_default();
    // A move resumed after its switch may have stopped before lifting the target's fence.
    unfence(tenancy, id, &to).await?;
    if !source.same_database(&to) {
        hand_off_outbox(tenancy, id, &source, &to).await?;
    }
    if options.background_cleanup {
        let (tenancy, source, to, options) =
            (tenancy.clone(), source.clone(), to.clone(), options.clone());
        tokio::spawn(async move {
            tokio::time::sleep(grace).await;
            let result = async {
                // Another move of this tenant may run meanwhile: take turns, and clean up
                // only if this move is still the recorded one.
                let lock = move_lock(&tenancy, id, true).await?;
                let result = clean_up_locked(&tenancy, id, move_id, &source, &to, &options).await;
                if let Some(lock) = lock {
                    lock.close().await.ok();
                }
                result
            }
            .await;
            if let Err(err) = result {
                tracing::error!(tenant = %id, error = %err, "removing the moved tenant's old copy failed; resume the move");
            }
        });
    } else {
        tokio::time::sleep(grace).await;
        clean_up_locked(tenancy, id, move_id, &source, &to, options).await?;
    }
    let tenant = tenancy.tenants().get(id).await?;
    Ok(MoveReport {
        tenant,
        from: source,
        to,
        tables,
        write_freeze,
        elapsed: started.elapsed(),
        resumed,
    })
}

/// Hands the tenant's pending events from the source's outbox to the target's, after the
/// switch. The copies on the target were held (`available_at = infinity`) while the source's
/// relay kept publishing; now the events still pending at the source are taken from it (their
/// rows locked, so a relay cycle in flight finishes first) and released on the target, and the
/// held copies of events the source already published are dropped. The target commits first:
/// a crash in between can only publish an event twice (at-least-once), never lose one.
/// Idempotent.
async fn hand_off_outbox(
    tenancy: &Tenancy,
    id: TenantId,
    source: &Location,
    to: &Location,
) -> ApiResult<()> {
    let mut from_site = connect(tenancy, source).await?;
    let mut to_site = connect(tenancy, to).await?;
    let outbox = crate::events::schema::OUTBOX_TABLE;
    let (from_outbox, to_outbox) = (from_site.names.table(outbox), to_site.names.table(outbox));
    let mut taken = from_site.conn.begin().await?;
    as_tenant(&mut taken, id).await?;
    let pending: Vec<uuid::Uuid> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "DELETE FROM {from_outbox} WHERE tenant_id = $1 RETURNING id"
    )))
    .bind(id)
    .fetch_all(&mut *taken)
    .await?;
    let mut released = to_site.conn.begin().await?;
    as_tenant(&mut released, id).await?;
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "DELETE FROM {to_outbox} WHERE tenant_id = $1 AND available_at = 'infinity'
            AND NOT (id = ANY ($2))"
    )))
    .bind(id)
    .bind(&pending)
    .execute(&mut *released)
    .await?;
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "UPDATE {to_outbox} SET available_at = now() WHERE tenant_id = $1 AND available_at = 'infinity'"
    )))
    .bind(id)
    .execute(&mut *released)
    .await?;
    released.commit().await?;
    taken.commit().await?;
    from_site.close().await;
    to_site.close().await;
    Ok(())
}

/// Whether a request names the target a pending move already goes to.
fn same_target(tenancy: &Tenancy, id: TenantId, request: &MoveRequest, to: &Location) -> bool {
    let wanted = tenancy
        .provisioner()
        .location_for(id, request.tier, request.server.as_deref());
    wanted.tier() == to.tier() && wanted.placement().server == to.placement().server
}

/// Removes the source copy of move `move_id` and closes the move, if it is still the
/// recorded one and the registry no longer points at the source. The caller holds the
/// tenant's move lock.
async fn clean_up_locked(
    tenancy: &Tenancy,
    id: TenantId,
    move_id: uuid::Uuid,
    source: &Location,
    to: &Location,
    options: &MoveOptions,
) -> ApiResult<()> {
    let current: Option<uuid::Uuid> = sqlx::query_scalar(
        "SELECT move_id FROM saas.tenant_moves WHERE tenant_id = $1 AND step = 'switched'",
    )
    .bind(id)
    .fetch_optional(tenancy.owner_pool())
    .await?;
    if current != Some(move_id) {
        return Ok(());
    }
    let now = Location::of(&tenancy.tenants().get(id).await?)?;
    if now == *source {
        return Err(Error::Internal(anyhow::anyhow!(
            "refusing to remove {source}: the registry places tenant {id} there"
        )));
    }
    remove_copy(tenancy, id, source, to).await?;
    sqlx::query("DELETE FROM saas.tenant_moves WHERE tenant_id = $1 AND move_id = $2")
        .bind(id)
        .bind(move_id)
        .execute(tenancy.owner_pool())
        .await?;
    options.emit(MoveEvent::Step(MoveStep::Cleaned));
    Ok(())
}

/// A dedicated owner connection to a location, and the schemas its tables live in. Every
/// statement a move runs names its tables through [`Site::table`], schema-qualified: a
/// `search_path` silently skips a schema that does not exist, and an unqualified name would
/// then resolve to the shared schema's table of the same name (the tenant's live rows, when
/// it is in the shared tier).
struct Site {
    conn: PgConnection,
    names: Names,
}

/// The schemas of a location's tables.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Names {
    /// The schema of the application's tables.
    models: String,
    /// The schema of the event tables (the shared schema for a tenant schema).
    events: String,
}

impl Site {
    async fn close(self) {
        self.conn.close().await.ok();
    }
}

impl Names {
    /// The schema-qualified, quoted name of a model's table at this location.
    fn table(&self, table: &str) -> String {
        let schema = if crate::events::schema::is_event_table(table) {
            &self.events
        } else {
            &self.models
        };
        format!("{}.{}", ddl_quote_ident(schema), ddl_quote_ident(table))
    }
}

async fn connect(tenancy: &Tenancy, location: &Location) -> ApiResult<Site> {
    let mut conn = tenancy.provisioner().connect(location).await?;
    let shared = tenancy.shared_schema().to_string();
    let (models, events) = match location {
        Location::Shared => (shared.clone(), shared),
        Location::Schema(schema) => {
            // Statements are qualified; the path is set as for the tenant's requests only for
            // what the application's triggers and functions resolve.
            sqlx::query("SELECT set_config('search_path', $1, false)")
                .bind(super::placement::tenant_search_path(schema, &shared))
                .execute(&mut conn)
                .await?;
            (schema.clone(), shared)
        }
        Location::Database { .. } => {
            // A tenant database is migrated in its owner's default schema.
            let schema: String =
                sqlx::query_scalar("SELECT COALESCE(current_schema(), 'public')::text")
                    .fetch_one(&mut conn)
                    .await?;
            (schema.clone(), schema)
        }
    };
    Ok(Site {
        conn,
        names: Names { models, events },
    })
}

/// Whether a (qualified, quoted) table exists.
async fn table_exists(conn: &mut PgConnection, qualified: &str) -> ApiResult<bool> {
    Ok(sqlx::query_scalar("SELECT to_regclass($1) IS NOT NULL")
        .bind(qualified)
        .fetch_one(&mut *conn)
        .await?)
}

/// Refuses to copy into a target that lacks any of the tables (an unfinished provisioning).
async fn require_tables(site: &mut Site, tables: &[&'static ModelMeta]) -> ApiResult<()> {
    for model in tables {
        let qualified = site.names.table(model.table);
        if !table_exists(&mut site.conn, &qualified).await? {
            return Err(Error::Internal(anyhow::anyhow!(
                "the move's target lacks the table {qualified}: it is not provisioned"
            )));
        }
    }
    Ok(())
}

/// Fences the tenant's writes at `location`, waiting for in-flight writes there.
async fn fence(tenancy: &Tenancy, id: TenantId, location: &Location) -> ApiResult<()> {
    let mut conn = tenancy.provisioner().connect(location).await?;
    let mut tx = conn.begin().await?;
    sqlx::query("SELECT pg_advisory_xact_lock($1, hashtext($2::text))")
        .bind(FENCE_LOCK)
        .bind(id)
        .execute(&mut *tx)
        .await?;
    sqlx::query(
        "INSERT INTO saas.fences (tenant_id, location) VALUES ($1, $2) ON CONFLICT DO NOTHING",
    )
    .bind(id)
    .bind(location.label())
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    conn.close().await.ok();
    Ok(())
}

async fn unfence(tenancy: &Tenancy, id: TenantId, location: &Location) -> ApiResult<()> {
    let mut conn = tenancy.provisioner().connect(location).await?;
    sqlx::query("DELETE FROM saas.fences WHERE tenant_id = $1 AND location = $2")
        .bind(id)
        .bind(location.label())
        .execute(&mut conn)
        .await?;
    conn.close().await.ok();
    Ok(())
}

/// The tables a move copies: every model's, plus the event tables when the database changes;
/// parents before children.
pub fn tables_to_copy(from: &Location, to: &Location) -> Vec<&'static ModelMeta> {
    let models: Vec<&'static ModelMeta> = registered_models()
        .into_iter()
        .filter(|m| !from.same_database(to) || !crate::events::schema::is_event_table(m.table))
        .collect();
    let mut ordered: Vec<&'static ModelMeta> = Vec::new();
    fn visit(
        model: &'static ModelMeta,
        all: &[&'static ModelMeta],
        ordered: &mut Vec<&'static ModelMeta>,
        depth: usize,
    ) {
        if depth > all.len() || ordered.iter().any(|m| m.table == model.table) {
            return;
        }
        for parent in model.parents {
            let parent = (parent.parent)();
            if all.iter().any(|m| m.table == parent.table) {
                visit(parent, all, ordered, depth + 1);
            }
        }
        if !ordered.iter().any(|m| m.table == model.table) {
            ordered.push(model);
        }
    }
    for model in &models {
        visit(model, &models, &mut ordered, 0);
    }
    ordered
}

/// The columns a copy writes: every column except `GENERATED ALWAYS` ones (identities the
/// target numbers afresh, in the source's order; stored generated columns), and the
/// identity column to order by, if any.
async fn copy_columns(
    conn: &mut PgConnection,
    qualified: &str,
) -> ApiResult<(Vec<String>, Option<String>)> {
    let rows: Vec<(String, String, String)> = sqlx::query_as(
        "SELECT a.attname::text, a.attidentity::text, a.attgenerated::text
           FROM pg_attribute a
          WHERE a.attrelid = to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped
          ORDER BY a.attnum",
    )
    .bind(qualified)
    .fetch_all(&mut *conn)
    .await?;
    if rows.is_empty() {
        return Err(Error::Config(format!("table {qualified} is missing")));
    }
    let mut columns = Vec::new();
    let mut order = None;
    for (name, identity, generated) in rows {
        if identity == "a" {
            order = Some(name);
        } else if generated.is_empty() {
            columns.push(name);
        }
    }
    Ok((columns, order))
}

fn column_list(columns: &[String]) -> String {
    columns
        .iter()
        .map(|c| ddl_quote_ident(c))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Sets the tenant context (and lets the audit log's rows be removed) inside a move's
/// transaction: the owner is subject to forced row-level security like anyone else.
async fn as_tenant(conn: &mut PgConnection, id: TenantId) -> ApiResult<()> {
    sqlx::query("SELECT set_config($1, $2, true), set_config('saas.audit_purge', 'on', true)")
        .bind(TENANT_SETTING)
        .bind(id.to_string())
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Deletes the tenant's rows from `tables` at `site` (children first), inside the caller's
/// transaction. A table that does not exist there is skipped: never resolved elsewhere.
async fn delete_rows(
    conn: &mut PgConnection,
    names: &Names,
    id: TenantId,
    tables: &[&'static ModelMeta],
) -> ApiResult<()> {
    for model in tables.iter().rev() {
        let table = names.table(model.table);
        if !table_exists(conn, &table).await? {
            continue;
        }
        let sql = format!(
            "DELETE FROM {table} WHERE {} = $1",
            ddl_quote_ident(model.tenant_column)
        );
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(id)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

async fn copy(
    tenancy: &Tenancy,
    id: TenantId,
    from: &Location,
    to: &Location,
    options: &MoveOptions,
) -> ApiResult<()> {
    let tables = tables_to_copy(from, to);
    let mut source = connect(tenancy, from).await?;
    let mut target = connect(tenancy, to).await?;
    require_tables(&mut target, &tables).await?;
    let (source_names, target_names) = (source.names.clone(), target.names.clone());
    let mut read = source.conn.begin().await?;
    as_tenant(&mut read, id).await?;
    let mut write = target.conn.begin().await?;
    as_tenant(&mut write, id).await?;
    delete_rows(&mut write, &target_names, id, &tables).await?;
    for (done, model) in tables.iter().enumerate() {
        let from_table = source_names.table(model.table);
        let table = target_names.table(model.table);
        let (columns, order) = copy_columns(&mut read, &from_table).await?;
        let list = column_list(&columns);
        let tenant_column = ddl_quote_ident(model.tenant_column);
        let order_by = order
            .map(|c| format!(" ORDER BY {}", ddl_quote_ident(&c)))
            .unwrap_or_default();
        let out = format!(
            "COPY (SELECT {list} FROM {from_table} WHERE {tenant_column} = '{id}'{order_by}) TO STDOUT (FORMAT binary)"
        );
        let into = format!("COPY {table} ({list}) FROM STDIN (FORMAT binary)");
        let mut sink = write.copy_in_raw(&into).await?;
        let mut stream = read.copy_out_raw(&out).await?;
        let mut failure = None;
        while let Some(chunk) = stream.next().await {
            match chunk {
                Ok(bytes) => {
                    if let Err(err) = sink.send(&bytes[..]).await {
                        failure = Some(err);
                        break;
                    }
                }
                Err(err) => {
                    failure = Some(err);
                    break;
                }
            }
        }
        drop(stream);
        if let Some(err) = failure {
            sink.abort("the source copy failed").await.ok();
            return Err(err.into());
        }
        let rows = sink.finish().await?;
        // Serial and identity-by-default columns: keep the target's sequences ahead of the
        // copied values (never behind where they were).
        for column in &columns {
            let sequence: Option<String> =
                sqlx::query_scalar("SELECT pg_get_serial_sequence($1, $2)")
                    .bind(&table)
                    .bind(column)
                    .fetch_one(&mut *write)
                    .await?;
            if let Some(sequence) = sequence {
                let sql = format!(
                    "SELECT setval($1::regclass, GREATEST(COALESCE((SELECT max({}) FROM {table}), 1),
                                                      COALESCE(pg_sequence_last_value($1::regclass), 1)))",
                    ddl_quote_ident(column)
                );
                sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(sequence)
                    .execute(&mut *write)
                    .await?;
            }
        }
        if model.table == crate::events::schema::OUTBOX_TABLE {
            // Held until the hand-off after the switch: until then the source's relay
            // publishes the tenant's pending events, and the target's must not.
            let sql = format!("UPDATE {table} SET available_at = 'infinity' WHERE tenant_id = $1");
            sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(id)
                .execute(&mut *write)
                .await?;
        }
        options.emit(MoveEvent::Table {
            table: model.table.to_string(),
            rows,
            done: done + 1,
            total: tables.len(),
        });
    }
    write.commit().await?;
    read.rollback().await.ok();
    source.close().await;
    target.close().await;
    Ok(())
}

async fn checks(
    site: &mut Site,
    id: TenantId,
    tables: &[&'static ModelMeta],
    columns: &[Vec<String>],
) -> ApiResult<Vec<TableCheck>> {
    let names = site.names.clone();
    let mut tx = site.conn.begin().await?;
    as_tenant(&mut tx, id).await?;
    let mut out = Vec::new();
    for (model, columns) in tables.iter().zip(columns) {
        let row = format!("md5(ROW({})::text)", column_list(columns));
        let sql = format!(
            "SELECT count(*), COALESCE(md5(string_agg({row}, '' ORDER BY {row})), '')
               FROM {} WHERE {} = $1",
            names.table(model.table),
            ddl_quote_ident(model.tenant_column)
        );
        let (rows, checksum): (i64, String) = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(id)
            .fetch_one(&mut *tx)
            .await?;
        out.push(TableCheck {
            table: model.table.to_string(),
            rows,
            checksum,
        });
    }
    tx.rollback().await.ok();
    Ok(out)
}

/// Per-table counts and checksums on both sides; any difference fails the move.
async fn verify(
    tenancy: &Tenancy,
    id: TenantId,
    from: &Location,
    to: &Location,
) -> ApiResult<Vec<TableCheck>> {
    // The outbox is a queue that the relays drain while the move runs: it is handed over
    // after the switch instead (see `hand_off_outbox`).
    let tables: Vec<&'static ModelMeta> = tables_to_copy(from, to)
        .into_iter()
        .filter(|m| m.table != crate::events::schema::OUTBOX_TABLE)
        .collect();
    let mut source = connect(tenancy, from).await?;
    let mut target = connect(tenancy, to).await?;
    require_tables(&mut target, &tables).await?;
    // The source's columns, compared on both sides.
    let mut columns = Vec::new();
    for model in &tables {
        let table = source.names.table(model.table);
        columns.push(copy_columns(&mut source.conn, &table).await?.0);
    }
    let expected = checks(&mut source, id, &tables, &columns).await?;
    let actual = checks(&mut target, id, &tables, &columns).await?;
    source.close().await;
    target.close().await;
    for (want, got) in expected.iter().zip(&actual) {
        if want != got {
            return Err(Error::Internal(anyhow::anyhow!(
                "move verification failed for table {}: source has {} rows ({}), target {} rows ({})",
                want.table,
                want.rows,
                want.checksum,
                got.rows,
                got.checksum
            )));
        }
    }
    Ok(expected)
}

/// Points the registry at the target, atomically with the move's own record.
async fn switch(tenancy: &Tenancy, id: TenantId, to: &Location) -> ApiResult<()> {
    let placement = to.placement();
    let mut tx = tenancy.owner_pool().begin().await?;
    sqlx::query(
        "UPDATE saas.tenants SET tier = $2, server = $3, db_name = $4, schema_name = $5, migrated = $6
          WHERE id = $1",
    )
    .bind(id)
    .bind(to.tier().as_str())
    .bind(&placement.server)
    .bind(&placement.database)
    .bind(&placement.schema)
    .bind(tenancy.provisioner().fingerprint())
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "UPDATE saas.tenant_moves SET step = 'switched', updated_at = now() WHERE tenant_id = $1",
    )
    .bind(id)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    tenancy.tenants().invalidate(id);
    tenancy.bound_pools().forget(id).await;
    Ok(())
}

/// Removes the tenant's data at `location`, which it left for `other`. Idempotent.
async fn remove_copy(
    tenancy: &Tenancy,
    id: TenantId,
    location: &Location,
    other: &Location,
) -> ApiResult<()> {
    match location {
        Location::Shared | Location::Schema(_) => {
            // Rows in the shared schema: the models' (shared tier), and the event tables'
            // when they moved to another database.
            let tables: Vec<&'static ModelMeta> = tables_to_copy(location, other)
                .into_iter()
                .filter(|m| {
                    *location == Location::Shared || crate::events::schema::is_event_table(m.table)
                })
                .collect();
            let mut shared = connect(tenancy, &Location::Shared).await?;
            let names = shared.names.clone();
            let mut tx = shared.conn.begin().await?;
            as_tenant(&mut tx, id).await?;
            delete_rows(&mut tx, &names, id, &tables).await?;
            tx.commit().await?;
            shared.close().await;
            if let Location::Schema(_) = location {
                tenancy.provisioner().deprovision(location).await?;
            }
            Ok(())
        }
        Location::Database { server, database } => {
            tenancy.database_pools().close(server, database).await;
            tenancy.provisioner().deprovision(location).await
        }
    }
}

/// Undoes a move that failed before its switch: the partial copy goes, the fence lifts.
/// Only the target is touched, by schema-qualified names, and only tables that exist there;
/// the source's rows are never deleted.
async fn roll_back(
    tenancy: &Tenancy,
    id: TenantId,
    from: &Location,
    to: &Location,
) -> ApiResult<()> {
    if to == from {
        return Err(Error::Internal(anyhow::anyhow!(
            "refusing to roll back a move of tenant {id} onto its own location {from}"
        )));
    }
    match to {
        Location::Database { .. } => remove_copy(tenancy, id, to, from).await?,
        // The target shares the primary database: remove exactly what the copy wrote.
        _ => {
            let tables = tables_to_copy(from, to);
            let mut target = connect(tenancy, to).await?;
            let names = target.names.clone();
            if from.same_database(to) {
                // Source and target tables share the database: a name that resolves to the
                // source's table is never the target's.
                let source = connect(tenancy, from).await?;
                let source_names = source.names.clone();
                source.close().await;
                for model in &tables {
                    let table = names.table(model.table);
                    if table == source_names.table(model.table) {
                        return Err(Error::Internal(anyhow::anyhow!(
                            "refusing to roll back: the target's {table} is the source's"
                        )));
                    }
                }
            }
            let mut tx = target.conn.begin().await?;
            as_tenant(&mut tx, id).await?;
            delete_rows(&mut tx, &names, id, &tables).await?;
            tx.commit().await?;
            target.close().await;
            if let Location::Schema(_) = to {
                tenancy.provisioner().deprovision(to).await?;
            }
            // The target's fence (taken before the copy) lives in the primary database.
            unfence(tenancy, id, to).await?;
        }
    }
    unfence(tenancy, id, from).await?;
    sqlx::query("DELETE FROM saas.tenant_moves WHERE tenant_id = $1")
        .bind(id)
        .execute(tenancy.owner_pool())
        .await?;
    Ok(())
}
