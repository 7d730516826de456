//! The dedicated tier (Citus): a tenant's rows in shards of their own, on a worker chosen for
//! it.
//!
//! In the shared tier a tenant shares its shards — a range of tenant-id hashes — with other
//! tenants. A tenant moved to the dedicated tier keeps its rows in the same tables, behind the
//! same routes and the same row-level security, but:
//!
//! 1. **isolated**: `isolate_tenant_to_new_shard(saas_outbox, tenant, 'CASCADE',
//!    'block_writes')` splits the shard group holding the tenant so that its hash value has
//!    shards of its own in every co-located table (the application's and the framework's event
//!    tables);
//! 2. **placed**: `citus_move_shard_placement(shard, from, to, 'block_writes')` moves that
//!    shard group to the worker asked for, or else to the worker holding the fewest of the
//!    group's shards;
//! 3. **recorded**: the registry's tier becomes `dedicated`.
//!
//! Both run with Citus's `block_writes` transfer mode: reads go on throughout, writes to the
//! shards being copied wait for the copy (none is lost), and the framework takes no write
//! fence of its own. A statement that chose a shard just as it was replaced fails with Citus's
//! `could not find valid entry for shard` (shards are chosen before they are locked): nothing
//! of it ran, and [`crate::error::ApiError`] answers it 503 with `Retry-After`.
//! Not `force_logical`: Citus 13.2's online split failed to replicate
//! a `DELETE` arriving during its copy (then waited for its two-hour timeout), and a
//! rebalance with logical moves under load lost one acknowledged write in one CI run (not
//! reproduced alone; unexplained). Row-level security is not forced on the owner role while
//! they run (see [`forced_tables`] for why and what that means). Every step first looks
//! whether it was done (the shard is already a single-hash shard; it is already on the
//! target), so a move interrupted at any point is finished by running it again.
//!
//! The rebalancer leaves dedicated tenants where they are and moves other tenants' shards off
//! their workers: the rebalance strategy [`crate::model::DEDICATED_STRATEGY`], installed by the
//! migrator (see [`crate::model::dedicated_strategy_ddl`]).
//!
//! Leaving the dedicated tier for the shared one changes only the registry (Citus does not
//! merge shards back: the tenant keeps its shards where they are). Leaving it for the schema or
//! database tier is an ordinary move from the shared tables.

use std::time::{Duration, Instant};

use sqlx::{Connection, PgConnection};

use super::{MoveEvent, MoveOptions, MoveReport, MoveStep};
use crate::error::{ApiError, ApiResult};
use crate::events::schema::OUTBOX_TABLE;
use crate::model::SHARD_OPERATION_LOCK;
use crate::tenancy::TenantId;
use crate::tenancy::placement::Location;
use crate::tenancy::pool::Tenancy;
use crate::tenancy::registry::Tier;

/// A Citus worker as `pg_dist_node` names it.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
struct Node {
    nodeid: i32,
    nodename: String,
    nodeport: i32,
}

impl Node {
    fn label(&self) -> String {
        format!("{}:{}", self.nodename, self.nodeport)
    }
}

/// Moves a shared- or dedicated-tier tenant into the dedicated tier (on `node`, if given).
pub(super) async fn place(
    tenancy: &Tenancy,
    id: TenantId,
    from: Location,
    node: Option<&str>,
    options: &MoveOptions,
    started: Instant,
) -> crate::Result<MoveReport> {
    let mut conn = shard_operation(tenancy).await?;
    let result = place_on(&mut conn, tenancy, id, node, options).await;
    conn.close().await.ok();
    result?;
    options.emit(MoveEvent::Step(MoveStep::Switched));
    options.emit(MoveEvent::Step(MoveStep::Cleaned));
    Ok(MoveReport {
        tenant: tenancy.tenants().get(id).await?,
        from,
        to: Location::Dedicated,
        tables: Vec::new(),
        write_freeze: Duration::ZERO,
        elapsed: started.elapsed(),
        resumed: false,
    })
}

/// An owner connection to the coordinator holding [`SHARD_OPERATION_LOCK`]: one shard
/// operation at a time per database (Citus's shard split also keeps its replication state in
/// one shared-memory slot per node: two splits at once broke each other on 13.2, "could not
/// attach to dynamic shared memory segment", the split then waiting forever), and no migrator
/// forcing row-level security again meanwhile. Closing the connection releases it.
async fn shard_operation(tenancy: &Tenancy) -> ApiResult<PgConnection> {
    let mut conn = tenancy.provisioner().connect_primary().await?;
    require_citus(&mut conn).await?;
    sqlx::query("SELECT pg_advisory_lock($1)")
        .bind(SHARD_OPERATION_LOCK)
        .execute(&mut conn)
        .await?;
    Ok(conn)
}

/// What a rebalance did.
#[derive(Debug, Clone)]
pub struct RebalanceReport {
    /// Shard moves the rebalancer planned and made (each moves a shard with its co-located
    /// shards).
    pub moves: usize,
    /// How long it took.
    pub elapsed: Duration,
}

/// Rebalances the shards of every distributed table with the database's default strategy
/// ([`crate::model::DEDICATED_STRATEGY`] where the migrator installed it: dedicated-tier
/// tenants stay, other shards leave their workers), with `block_writes` (reads go on, writes
/// to a shard being moved wait for it).
///
/// Use this rather than calling Citus's `rebalance_table_shards` or `citus_rebalance_start`
/// directly: their online moves cannot copy the framework's tables while row-level security
/// is forced (see [`crate::model::SHARD_OPERATION_LOCK`]) and wait for Citus's replication
/// timeout instead; this lifts `FORCE` for the length of the rebalance and restores it.
pub async fn rebalance(tenancy: &Tenancy) -> crate::Result<RebalanceReport> {
    let started = Instant::now();
    let mut conn = shard_operation(tenancy).await?;
    let result = async {
        let planned: i64 =
            sqlx::query_scalar("SELECT count(*) FROM get_rebalance_table_shards_plan()")
                .fetch_one(&mut conn)
                .await?;
        let forced = forced_tables(&mut conn).await?;
        set_forced(&mut conn, &forced, false).await?;
        let moved =
            sqlx::query("SELECT rebalance_table_shards(shard_transfer_mode => 'block_writes')")
                .execute(&mut conn)
                .await
                .map_err(online_shard_error);
        let restored = set_forced(&mut conn, &forced, true).await;
        moved?;
        restored?;
        Ok::<_, ApiError>(RebalanceReport {
            moves: usize::try_from(planned).unwrap_or(0),
            elapsed: started.elapsed(),
        })
    }
    .await;
    conn.close().await.ok();
    Ok(result?)
}

async fn place_on(
    conn: &mut PgConnection,
    tenancy: &Tenancy,
    id: TenantId,
    node: Option<&str>,
    options: &MoveOptions,
) -> ApiResult<()> {
    options.emit(MoveEvent::Step(MoveStep::Started));
    let forced = forced_tables(conn).await?;
    set_forced(conn, &forced, false).await?;
    let moved = isolate_and_move(conn, id, node, options).await;
    // Whatever happened: a crash before this line is mended by the next migration, which
    // forces row-level security again (and the boot audit refuses to start without it).
    let restored = set_forced(conn, &forced, true).await;
    moved?;
    restored?;
    options.emit(MoveEvent::Step(MoveStep::Verified));
    tenancy.tenants().set_tier(id, Tier::Dedicated).await?;
    Ok(())
}

async fn isolate_and_move(
    conn: &mut PgConnection,
    id: TenantId,
    node: Option<&str>,
    options: &MoveOptions,
) -> ApiResult<()> {
    let (mut shard, isolated): (i64, bool) = sqlx::query_as(
        "SELECT s.shardid, s.shardminvalue = s.shardmaxvalue
           FROM pg_dist_shard s
          WHERE s.shardid = get_shard_id_for_distribution_column($1::regclass, $2::uuid)",
    )
    .bind(OUTBOX_TABLE)
    .bind(id)
    .fetch_one(&mut *conn)
    .await?;
    if !isolated {
        // `block_writes`: writes to the shard being split wait for its copy (reads go on).
        // Citus 13.2's online split failed to replicate a DELETE that arrived during the copy
        // ("publisher did not send replica identity column expected by the logical
        // replication target relation", the split then waiting until its timeout) — the
        // relay deletes published outbox rows all the time.
        shard = sqlx::query_scalar(
            "SELECT isolate_tenant_to_new_shard($1::regclass, $2::uuid, 'CASCADE', 'block_writes')",
        )
        .bind(OUTBOX_TABLE)
        .bind(id)
        .fetch_one(&mut *conn)
        .await
        .map_err(online_shard_error)?;
    }
    options.emit(MoveEvent::Step(MoveStep::Provisioned));
    let current: Node = sqlx::query_as(
        "SELECT n.nodeid, n.nodename::text, n.nodeport
           FROM pg_dist_placement p JOIN pg_dist_node n ON n.groupid = p.groupid
          WHERE p.shardid = $1 AND n.noderole = 'primary'",
    )
    .bind(shard)
    .fetch_one(&mut *conn)
    .await?;
    let target = target_node(conn, shard, node).await?;
    if target != current {
        sqlx::query("SELECT citus_move_shard_placement($1, $2::int, $3::int, 'block_writes')")
            .bind(shard)
            .bind(current.nodeid)
            .bind(target.nodeid)
            .execute(&mut *conn)
            .await
            .map_err(online_shard_error)?;
    }
    options.emit(MoveEvent::Step(MoveStep::Copied));
    Ok(())
}

/// The tables of the tenant tables' co-location group whose row-level security is forced on
/// their owner.
///
/// Citus copies shards online through a subscription owned by a role that is a member of the
/// table owner's role, and PostgreSQL (15 and later) refuses to apply changes into a table
/// whose row-level security applies to the subscription's owner ("cannot replicate into
/// relation with row-level security enabled"): with `FORCE ROW LEVEL SECURITY` it applies to
/// the owner and its members. The blocking copy (`block_writes`) runs `COPY ... FROM` as the
/// owner, which PostgreSQL refuses under row-level security that holds it ("COPY FROM not
/// supported with row-level security"). For the length of the Citus operations those tables
/// are therefore `NO FORCE`: the owner role (migrations, the relay, moves; never the request role,
/// whose policies do not change) is not held by the tenant policy meanwhile.
async fn forced_tables(conn: &mut PgConnection) -> ApiResult<Vec<String>> {
    Ok(sqlx::query_scalar(
        "SELECT p.logicalrelid::regclass::text
           FROM pg_dist_partition p JOIN pg_class c ON c.oid = p.logicalrelid
          WHERE c.relforcerowsecurity
            AND p.colocationid = (SELECT colocationid FROM pg_dist_partition
                                   WHERE logicalrelid = $1::regclass)
          ORDER BY 1",
    )
    .bind(OUTBOX_TABLE)
    .fetch_all(&mut *conn)
    .await?)
}

async fn set_forced(conn: &mut PgConnection, tables: &[String], force: bool) -> ApiResult<()> {
    let mode = if force { "FORCE" } else { "NO FORCE" };
    for table in tables {
        // `regclass::text` is already quoted where it needs to be.
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
            "ALTER TABLE {table} {mode} ROW LEVEL SECURITY"
        )))
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// Moves a dedicated-tier tenant back to the shared tier: the registry alone.
pub(super) async fn leave(
    tenancy: &Tenancy,
    id: TenantId,
    started: Instant,
) -> crate::Result<MoveReport> {
    tenancy.tenants().set_tier(id, Tier::Shared).await?;
    Ok(MoveReport {
        tenant: tenancy.tenants().get(id).await?,
        from: Location::Dedicated,
        to: Location::Shared,
        tables: Vec::new(),
        write_freeze: Duration::ZERO,
        elapsed: started.elapsed(),
        resumed: false,
    })
}

async fn require_citus(conn: &mut PgConnection) -> ApiResult<()> {
    let citus: bool = sqlx::query_scalar(crate::sql::citus_present_sql())
        .fetch_one(&mut *conn)
        .await?;
    if !citus {
        return Err(ApiError::Validation(
            "the dedicated tier needs a Citus cluster (shards of its own on one worker): on \
             one PostgreSQL server use the schema or database tier"
                .into(),
        ));
    }
    Ok(())
}

/// The worker a dedicated tenant goes to: the one named (`host:port`, any active primary
/// worker), or the worker that holds the fewest shards of the tenant tables' group apart from
/// this tenant's own.
async fn target_node(conn: &mut PgConnection, shard: i64, named: Option<&str>) -> ApiResult<Node> {
    let workers: Vec<Node> = sqlx::query_as(
        "SELECT n.nodeid, n.nodename::text, n.nodeport
           FROM pg_dist_node n
          WHERE n.noderole = 'primary' AND n.isactive AND n.groupid <> 0
            AND ($2::text IS NOT NULL OR n.shouldhaveshards)
          ORDER BY (SELECT count(*)
                      FROM pg_dist_placement p
                      JOIN pg_dist_shard s ON s.shardid = p.shardid
                     WHERE p.groupid = n.groupid AND s.shardid <> $1
                       AND s.logicalrelid IN (SELECT logicalrelid FROM pg_dist_partition
                                               WHERE colocationid = (SELECT colocationid
                                                                       FROM pg_dist_partition
                                                                      WHERE logicalrelid = $3::regclass))),
                   n.nodeid",
    )
    .bind(shard)
    .bind(named)
    .bind(OUTBOX_TABLE)
    .fetch_all(&mut *conn)
    .await?;
    match named {
        None => workers.into_iter().next().ok_or_else(|| {
            ApiError::Validation("the Citus cluster has no worker that takes shards".into())
        }),
        Some(name) => workers
            .iter()
            .find(|n| n.label() == name)
            .cloned()
            .ok_or_else(|| {
                let known: Vec<String> = workers.iter().map(Node::label).collect();
                ApiError::Validation(format!(
                    "unknown Citus worker {name:?}: expected one of {}",
                    known.join(", ")
                ))
            }),
    }
}

/// Citus's errors from the online shard operations, with what to do about the configuration
/// ones.
fn online_shard_error(err: sqlx::Error) -> ApiError {
    let text = err.to_string();
    if text.contains("output plugin") || text.contains("wal_level") {
        return ApiError::Internal(anyhow::anyhow!(
            "Citus cannot move shards online on this cluster ({text}): set wal_level = logical \
             and allow citus as a logical decoding output plugin (output_plugin_libraries) on \
             every node"
        ));
    }
    err.into()
}
