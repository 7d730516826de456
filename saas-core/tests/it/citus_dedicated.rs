//! The dedicated tier on a real Citus cluster (`CITUS_URL`): a tenant moved to shards of its
//! own on one worker, online, under writers that must not lose a write; the rebalancer's
//! strategy keeps it there and moves other tenants off its worker, under running requests.
//! Ignored without `CITUS_URL`; `scripts/test.sh` starts a cluster and runs them.

use crate::common;

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::moves::write_pair;
use common::*;
use saas_core::moves::{self, MoveOptions, MoveRequest};
use saas_core::prelude::*;
use saas_core::tenancy::Location;
use saas_core::tenancy::pool::Tenancy;
use saas_core::tenancy::registry::Tier;

const NEEDS_CITUS: &str = "needs a Citus cluster: CITUS_URL (scripts/test.sh starts one)";

/// One test at a time: Citus's shard split keeps its replication state in one shared-memory
/// slot per node, and two splits at once in two test databases break each other (the
/// framework serializes them per database only).
static SPLITS: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Writers and a reader on `tenant` until stopped: the writers' acknowledged project ids, the
/// count of failed writes, and the reader's failures.
struct Load {
    stop: Arc<AtomicBool>,
    acknowledged: Arc<Mutex<BTreeSet<(TenantId, Uuid)>>>,
    failures: Arc<Mutex<Vec<String>>>,
    requests: Arc<AtomicUsize>,
    /// Requests refused once for a replaced shard and retried (see [`retried`]).
    retries: Arc<AtomicUsize>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

/// Runs `op`, and once more if it was refused for a replaced shard
/// ([`ApiError::met_replaced_shard`]: Citus chooses shards before it locks them,
/// citusdata/citus#6360), as a client honouring the 503 would; the retry must succeed. Any
/// other failure is not retried.
async fn retried<T, F, Fut>(retries: &AtomicUsize, op: F) -> Result<T, String>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = ApiResult<T>>,
{
    match op().await {
        Err(err) if err.met_replaced_shard() => {
            retries.fetch_add(1, Ordering::Relaxed);
            tokio::time::sleep(Duration::from_millis(10)).await;
            op().await.map_err(|e| e.to_string())
        }
        other => other.map_err(|e| e.to_string()),
    }
}

impl Load {
    fn start(tenancy: &Tenancy, tenants: &[TenantId]) -> Load {
        let load = Load {
            stop: Arc::new(AtomicBool::new(false)),
            acknowledged: Arc::default(),
            failures: Arc::default(),
            requests: Arc::default(),
            retries: Arc::default(),
            tasks: Vec::new(),
        };
        let mut tasks = Vec::new();
        for (w, &tenant) in tenants.iter().enumerate() {
            let (tenancy, stop) = (tenancy.clone(), load.stop.clone());
            let (acknowledged, failures) = (load.acknowledged.clone(), load.failures.clone());
            let (requests, retries) = (load.requests.clone(), load.retries.clone());
            tasks.push(tokio::spawn(async move {
                let mut n = w * 1_000_000;
                while !stop.load(Ordering::Relaxed) {
                    let write = retried(&retries, || write_pair(&tenancy, tenant, n));
                    match write.await {
                        Ok(id) => {
                            acknowledged.lock().unwrap().insert((tenant, id));
                        }
                        Err(err) => failures.lock().unwrap().push(format!("write: {err}")),
                    }
                    // Every fifth pair is deleted again (updates and deletes must replicate
                    // through the shard operations as inserts do; the relay deletes too).
                    if n % 5 == 4
                        && let Err(err) = delete_last(&tenancy, tenant, &acknowledged).await
                    {
                        failures.lock().unwrap().push(format!("delete: {err}"));
                    }
                    // A read of the tenant's rows between writes.
                    let read = retried(&retries, || async {
                        let mut tx = TenantTx::begin(&tenancy, tenant);
                        let conn = tx.conn().await?;
                        sqlx::query_scalar::<_, i64>("SELECT count(*) FROM projects")
                            .fetch_one(&mut *conn)
                            .await?;
                        Ok(())
                    });
                    if let Err(err) = read.await {
                        failures.lock().unwrap().push(format!("read: {err}"));
                    }
                    requests.fetch_add(2, Ordering::Relaxed);
                    n += 1;
                    tokio::time::sleep(Duration::from_millis(3)).await;
                }
            }));
        }
        Load { tasks, ..load }
    }

    /// Stops the load; the acknowledged (tenant, project) pairs (every write succeeded, every
    /// read too).
    async fn finish(self) -> BTreeSet<(TenantId, Uuid)> {
        self.stop.store(true, Ordering::Relaxed);
        for task in self.tasks {
            task.await.unwrap();
        }
        let failures = self.failures.lock().unwrap().clone();
        assert!(
            failures.is_empty(),
            "{} of {} requests failed: {:?}",
            failures.len(),
            self.requests.load(Ordering::Relaxed),
            &failures[..failures.len().min(5)]
        );
        assert!(self.requests.load(Ordering::Relaxed) > 20, "the load ran");
        let retries = self.retries.load(Ordering::Relaxed);
        if retries > 0 {
            eprintln!("{retries} requests met a replaced shard and succeeded when retried");
        }
        self.acknowledged.lock().unwrap().clone()
    }
}

/// Deletes the tenant's most recently acknowledged project (and its task), and forgets it.
async fn delete_last(
    tenancy: &Tenancy,
    tenant: TenantId,
    acknowledged: &Mutex<BTreeSet<(TenantId, Uuid)>>,
) -> Result<(), String> {
    let Some(&(_, id)) = acknowledged
        .lock()
        .unwrap()
        .iter()
        .rfind(|(t, _)| *t == tenant)
    else {
        return Ok(());
    };
    let mut tx = TenantTx::begin(tenancy, tenant);
    let conn = tx.conn().await.map_err(|e| e.to_string())?;
    for sql in [
        "DELETE FROM tasks WHERE tenant_id = $1 AND project_id = $2",
        "DELETE FROM projects WHERE tenant_id = $1 AND id = $2",
    ] {
        sqlx::query(sql)
            .bind(tenant)
            .bind(id)
            .execute(&mut *conn)
            .await
            .map_err(|e| e.to_string())?;
    }
    tx.commit().await.map_err(|e| e.to_string())?;
    acknowledged.lock().unwrap().remove(&(tenant, id));
    Ok(())
}

/// (node port, shard is a single hash value) of the tenant's shard of every tenant table.
async fn tenant_shards(owner: &sqlx::PgPool, tenant: TenantId) -> Vec<(String, i32, bool)> {
    sqlx::query_as(
        "SELECT p.logicalrelid::regclass::text, n.nodeport, s.shardminvalue = s.shardmaxvalue
           FROM pg_dist_partition p
           JOIN pg_dist_shard s
             ON s.shardid = get_shard_id_for_distribution_column(p.logicalrelid, $1::uuid)
           JOIN pg_dist_placement pl ON pl.shardid = s.shardid
           JOIN pg_dist_node n ON n.groupid = pl.groupid
          WHERE p.partmethod = 'h'
            AND p.colocationid = (SELECT colocationid FROM pg_dist_partition
                                   WHERE logicalrelid = 'saas_outbox'::regclass)
          ORDER BY 1",
    )
    .bind(tenant)
    .fetch_all(owner)
    .await
    .unwrap()
}

/// Seeds `n` projects for a tenant, a multi-row INSERT per thousand (Citus runs an
/// INSERT ... SELECT of generated rows through COPY, which row-level security refuses).
async fn seed_many(tenancy: &Tenancy, tenant: TenantId, n: usize) {
    let mut tx = TenantTx::begin(tenancy, tenant);
    for start in (0..n).step_by(1_000) {
        let rows: Vec<String> = (start..n.min(start + 1_000))
            .map(|i| format!("($1, 'seed {i}')"))
            .collect();
        let sql = format!(
            "INSERT INTO projects (tenant_id, name) VALUES {}",
            rows.join(", ")
        );
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(tenant)
            .execute(tx.conn().await.unwrap())
            .await
            .unwrap();
    }
    tx.commit().await.unwrap();
}

/// The ids of the projects a tenant sees.
async fn ids_of(tenancy: &Tenancy, tenant: TenantId) -> BTreeSet<Uuid> {
    let mut tx = TenantTx::begin(tenancy, tenant);
    sqlx::query_scalar::<_, Uuid>("SELECT id FROM projects")
        .fetch_all(tx.conn().await.unwrap())
        .await
        .unwrap()
        .into_iter()
        .collect()
}

/// Every acknowledged write is visible to its tenant, and each tenant sees `seeded` rows plus
/// its own acknowledged writes, nothing else.
async fn assert_whole(
    tenancy: &Tenancy,
    acknowledged: &BTreeSet<(TenantId, Uuid)>,
    seeded: &[(TenantId, usize)],
) {
    for &(tenant, rows) in seeded {
        let mine: BTreeSet<Uuid> = acknowledged
            .iter()
            .filter(|(t, _)| *t == tenant)
            .map(|(_, id)| *id)
            .collect();
        let seen = ids_of(tenancy, tenant).await;
        let lost: Vec<&Uuid> = mine.difference(&seen).collect();
        let mut whereabouts = Vec::new();
        for id in &lost {
            // Where the row is, if anywhere: every placement, and what Citus still has to
            // clean up.
            let found: Vec<(i32, i64, String)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT nodeport, shardid, result FROM run_command_on_placements('projects',
                   'SELECT count(*) FROM %s WHERE id = ''{id}''') WHERE result <> '0'"
            )))
            .fetch_all(tenancy.owner_pool())
            .await
            .unwrap_or_default();
            let cleanup: Vec<(String,)> =
                sqlx::query_as("SELECT object_name::text FROM pg_dist_cleanup")
                    .fetch_all(tenancy.owner_pool())
                    .await
                    .unwrap_or_default();
            whereabouts.push(format!("{id}: placements {found:?}, cleanup {cleanup:?}"));
        }
        assert!(
            lost.is_empty(),
            "{} acknowledged writes of {tenant} lost: {whereabouts:?}",
            lost.len()
        );
        assert_eq!(
            seen.len(),
            rows + mine.len(),
            "{tenant} sees other rows than its own"
        );
    }
}

async fn count_projects(tenancy: &Tenancy, tenant: TenantId) -> i64 {
    let mut tx = TenantTx::begin(tenancy, tenant);
    sqlx::query_scalar("SELECT count(*) FROM projects")
        .fetch_one(tx.conn().await.unwrap())
        .await
        .unwrap()
}

fn dedicated(node: Option<String>) -> MoveRequest {
    MoveRequest {
        node,
        ..MoveRequest::to(Tier::Dedicated)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a Citus cluster: CITUS_URL (scripts/test.sh starts one)"]
async fn a_tenant_moves_to_shards_of_its_own_online_without_losing_a_write() {
    saas_testkit::citus::coordinator_url().expect(NEEDS_CITUS);
    let _one_at_a_time = SPLITS.lock().await;
    let env = Env::new().await;
    let tenancy = env.tenancy.clone();
    let (big, neighbour) = (env.tenant("big").await, env.tenant("neighbour").await);
    seed_many(&tenancy, big.id, 2_000).await;
    seed_projects(&tenancy, neighbour.id, &["n1", "n2", "n3"]).await;
    let before = tenant_shards(tenancy.owner_pool(), big.id).await;
    assert!(before.iter().all(|(_, _, single)| !single), "{before:?}");

    // Writers and readers on both tenants throughout: nothing refused, nothing lost.
    let load = Load::start(&tenancy, &[big.id, neighbour.id]);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let report = moves::move_tenant(&tenancy, big.id, &dedicated(None), &MoveOptions::default())
        .await
        .expect("the move to the dedicated tier");
    tokio::time::sleep(Duration::from_millis(200)).await;
    let acknowledged = load.finish().await;
    assert_eq!(report.tenant.tier, Tier::Dedicated);
    assert_eq!(report.from, Location::Shared);
    assert_eq!(report.to, Location::Dedicated);
    assert_whole(
        &tenancy,
        &acknowledged,
        &[(big.id, 2_000), (neighbour.id, 3)],
    )
    .await;

    // Every tenant table's shard of the tenant holds its hash value alone, all on one worker
    // (not the coordinator), and the tenant's rows are all there.
    let after = tenant_shards(tenancy.owner_pool(), big.id).await;
    assert!(after.len() >= 5, "{after:?}");
    assert!(after.iter().all(|(_, _, single)| *single), "{after:?}");
    let nodes: BTreeSet<i32> = after.iter().map(|s| s.1).collect();
    assert_eq!(nodes.len(), 1, "{after:?}");
    let node = *nodes.iter().next().unwrap();
    let rows_on_shard: i64 = sqlx::query_scalar(
        "SELECT result::int8 FROM run_command_on_placements('projects', 'SELECT count(*) FROM %s')
          WHERE shardid = get_shard_id_for_distribution_column('projects', $1::uuid)",
    )
    .bind(big.id)
    .fetch_one(tenancy.owner_pool())
    .await
    .unwrap();
    assert_eq!(rows_on_shard, count_projects(&tenancy, big.id).await);
    assert!(rows_on_shard >= 2_000);

    // Isolation on the new shards (each tenant sees its own rows only: above); naming the
    // other's id yields nothing, and no tenant context reads nothing.
    let mut tx = TenantTx::begin(&tenancy, neighbour.id);
    let theirs: i64 = sqlx::query_scalar("SELECT count(*) FROM projects WHERE tenant_id = $1")
        .bind(big.id)
        .fetch_one(tx.conn().await.unwrap())
        .await
        .unwrap();
    assert_eq!(
        theirs, 0,
        "the neighbour reads the dedicated tenant's shard"
    );
    drop(tx);
    let pool = env.request_pool().await;
    let bare: i64 = sqlx::query_scalar("SELECT count(*) FROM projects")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(bare, 0, "no tenant context reads nothing");
    pool.close().await;

    // Again: nothing to do. To the other worker by name: the group follows.
    let again = moves::move_tenant(&tenancy, big.id, &dedicated(None), &MoveOptions::default())
        .await
        .unwrap();
    assert_eq!(again.tenant.tier, Tier::Dedicated);
    assert_eq!(tenant_shards(tenancy.owner_pool(), big.id).await, after);
    let other: (String, i32) = sqlx::query_as(
        "SELECT nodename::text, nodeport FROM pg_dist_node
          WHERE groupid <> 0 AND noderole = 'primary' AND nodeport <> $1 ORDER BY nodeid LIMIT 1",
    )
    .bind(node)
    .fetch_one(tenancy.owner_pool())
    .await
    .unwrap();
    let named = format!("{}:{}", other.0, other.1);
    moves::move_tenant(
        &tenancy,
        big.id,
        &dedicated(Some(named)),
        &MoveOptions::default(),
    )
    .await
    .expect("a move to a named worker");
    let moved = tenant_shards(tenancy.owner_pool(), big.id).await;
    assert!(
        moved
            .iter()
            .all(|(_, port, single)| *port == other.1 && *single),
        "{moved:?}"
    );
    let unknown = moves::move_tenant(
        &tenancy,
        big.id,
        &dedicated(Some("nowhere:1".into())),
        &MoveOptions::default(),
    )
    .await
    .expect_err("an unknown worker");
    assert!(
        unknown.to_string().contains("unknown Citus worker"),
        "{unknown}"
    );

    // The boot audit compares every placement's policies, the new shards' included.
    env.tenancy.close().await;
    let restarted = Tenancy::start(env.db.config(), resolvers(), Some(&MIGRATIONS))
        .await
        .expect("the audit accepts the dedicated shards");
    // Back to the shared tier: the registry only; the rows stay.
    let back = moves::move_tenant(
        &restarted,
        big.id,
        &MoveRequest::to(Tier::Shared),
        &MoveOptions::default(),
    )
    .await
    .unwrap();
    assert_eq!(back.tenant.tier, Tier::Shared);
    assert_eq!(count_projects(&restarted, big.id).await, rows_on_shard);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a Citus cluster: CITUS_URL (scripts/test.sh starts one)"]
async fn a_schema_tier_tenant_moves_to_the_dedicated_tier_through_the_shared_tables() {
    saas_testkit::citus::coordinator_url().expect(NEEDS_CITUS);
    let _one_at_a_time = SPLITS.lock().await;
    let env = Env::new().await;
    let schemed = common::moves::create(&env.tenancy, "schemed", Tier::Schema).await;
    seed_projects(&env.tenancy, schemed.id, &["s1", "s2"]).await;
    let report = moves::move_tenant(
        &env.tenancy,
        schemed.id,
        &dedicated(None),
        &MoveOptions {
            grace: Some(Duration::from_millis(10)),
            ..MoveOptions::default()
        },
    )
    .await
    .expect("schema -> dedicated");
    assert_eq!(report.tenant.tier, Tier::Dedicated);
    assert_eq!(count_projects(&env.tenancy, schemed.id).await, 2);
    let shards = tenant_shards(env.tenancy.owner_pool(), schemed.id).await;
    assert!(shards.iter().all(|(_, _, single)| *single), "{shards:?}");
    // And out again to its own schema: an ordinary move from the shared tables.
    let out = moves::move_tenant(
        &env.tenancy,
        schemed.id,
        &MoveRequest::to(Tier::Schema),
        &MoveOptions {
            grace: Some(Duration::from_millis(10)),
            ..MoveOptions::default()
        },
    )
    .await
    .expect("dedicated -> schema");
    assert_eq!(out.from, Location::Dedicated);
    assert_eq!(count_projects(&env.tenancy, schemed.id).await, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a Citus cluster: CITUS_URL (scripts/test.sh starts one)"]
async fn the_rebalancer_keeps_a_dedicated_tenant_and_clears_its_worker_under_running_requests() {
    saas_testkit::citus::coordinator_url().expect(NEEDS_CITUS);
    let _one_at_a_time = SPLITS.lock().await;
    let env = Env::new().await;
    let tenancy = env.tenancy.clone();
    let big = env.tenant("big").await;
    let mut others = Vec::new();
    for i in 0..4 {
        let t = env.tenant(&format!("other-{i}")).await;
        seed_projects(&tenancy, t.id, &["o"]).await;
        others.push(t.id);
    }
    seed_many(&tenancy, big.id, 100).await;
    moves::move_tenant(&tenancy, big.id, &dedicated(None), &MoveOptions::default())
        .await
        .unwrap();
    let pinned = tenant_shards(tenancy.owner_pool(), big.id).await;
    let home = pinned[0].1;
    let strategy: String = sqlx::query_scalar(
        "SELECT name::text FROM pg_dist_rebalance_strategy WHERE default_strategy",
    )
    .fetch_one(tenancy.owner_pool())
    .await
    .unwrap();
    assert_eq!(strategy, saas_core::model::DEDICATED_STRATEGY);
    // The plan moves every other shard of the group off the dedicated tenant's worker and
    // never the tenant's own.
    let plan: Vec<(i64, i32, i32)> = sqlx::query_as(
        "SELECT shardid, sourceport, targetport FROM get_rebalance_table_shards_plan()",
    )
    .fetch_all(tenancy.owner_pool())
    .await
    .unwrap();
    assert!(!plan.is_empty(), "nothing to rebalance");
    let own: i64 =
        sqlx::query_scalar("SELECT get_shard_id_for_distribution_column('saas_outbox', $1::uuid)")
            .bind(big.id)
            .fetch_one(tenancy.owner_pool())
            .await
            .unwrap();
    assert!(
        plan.iter()
            .all(|(shard, _, to)| *shard != own && *to != home),
        "{plan:?}"
    );

    // The rebalance itself, with requests running for the dedicated tenant and the others.
    let mut load_tenants = others.clone();
    load_tenants.push(big.id);
    let load = Load::start(&tenancy, &load_tenants);
    let report = moves::rebalance(&tenancy).await.expect("the rebalance");
    assert_eq!(report.moves, plan.len(), "{report:?}");
    let acknowledged = load.finish().await;
    let mut seeded: Vec<(TenantId, usize)> = others.iter().map(|&t| (t, 1)).collect();
    seeded.push((big.id, 100));
    assert_whole(&tenancy, &acknowledged, &seeded).await;
    assert_eq!(
        tenant_shards(tenancy.owner_pool(), big.id).await,
        pinned,
        "the tenant stayed"
    );
    let crowded: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM citus_shards c JOIN pg_dist_shard s ON s.shardid = c.shardid
          WHERE c.colocation_id = (SELECT colocationid FROM pg_dist_partition
                                    WHERE logicalrelid = 'saas_outbox'::regclass)
            AND c.nodeport = $1
            AND NOT (s.shardminvalue = s.shardmaxvalue
                     AND s.shardminvalue = worker_hash($2::uuid)::text)",
    )
    .bind(home)
    .bind(big.id)
    .fetch_one(tenancy.owner_pool())
    .await
    .unwrap();
    assert_eq!(
        crowded, 0,
        "other tenants' shards left on the dedicated worker"
    );
}
