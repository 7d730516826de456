//! Read replicas with a real streaming replica (pg_basebackup of a throwaway primary): reads
//! go to the replica with the tenant's context and RLS, writes and read-your-writes stay on
//! the primary, and a lagging or stopped replica hands its reads back to the primary.

use crate::common;

use std::time::Duration;

use common::{NewProject, Project, resolvers};
use saas_core::prelude::*;
use saas_core::tenancy::pool::{Tenancy, TenancyConfig};
use saas_core::tenancy::registry::NewTenant;
use saas_core::tenancy::{ReadTx, Tier};
use sqlx::{Connection, PgConnection};

/// Whether the statement ran on a replica.
async fn on_replica(tx: &mut ReadTx) -> bool {
    let conn = tx.conn().await.unwrap();
    sqlx::query_scalar("SELECT pg_is_in_recovery()")
        .fetch_one(&mut *conn)
        .await
        .unwrap()
}

async fn wait_until(what: &str, mut check: impl AsyncFnMut() -> bool) {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while !check().await {
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting until {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_go_to_the_replica_with_the_tenants_context_and_fall_back_when_it_cannot_serve() {
    let pid = std::process::id();
    let primary_port = common::free_port();
    let primary_dir = std::env::temp_dir().join(format!("saas-primary-{pid}"));
    let primary = saas_core::devdb::start_cluster(&primary_dir, primary_port, pid)
        .await
        .expect("a throwaway primary (needs the PostgreSQL server binaries)");
    // Migrate and create the tenants before the base backup, so the replica has them.
    let config = TenancyConfig::new(primary.clone())
        .request_role("saas_app")
        .bound_tenants(0);
    let tenancy = Tenancy::start(config.clone(), resolvers(), Some(&common::MIGRATIONS))
        .await
        .unwrap();
    let a = tenancy
        .tenants()
        .create(NewTenant::new("rep-a", "A"))
        .await
        .unwrap();
    let b = tenancy
        .tenants()
        .create(NewTenant::new("rep-b", "B"))
        .await
        .unwrap();
    let s = tenancy
        .tenants()
        .create(NewTenant::new("rep-s", "S").tier(Tier::Schema))
        .await
        .unwrap();
    tenancy.close().await;
    let replica_port = common::free_port();
    let replica_dir = std::env::temp_dir().join(format!("saas-replica-{pid}"));
    let replica = saas_core::devdb::start_replica(primary_port, &replica_dir, replica_port, pid)
        .await
        .expect("a streaming replica (pg_basebackup)");

    let mut config = config;
    config.replicas = vec![replica.clone()];
    config.replica_max_lag = Duration::from_millis(500);
    config.replica_probe_interval = Duration::from_millis(50);
    let tenancy = Tenancy::start(config, resolvers(), Some(&common::MIGRATIONS))
        .await
        .unwrap();
    wait_until("the replica is healthy", async || {
        tenancy.replicas().all()[0].is_healthy()
    })
    .await;

    // A writes on the primary; once replicated, another tenant's reads come from the replica
    // and see nothing of A's.
    let mut tx = TenantTx::begin(&tenancy, a.id);
    let project = Project::insert(&mut tx, NewProject { name: "a's".into() })
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let mut rb = ReadTx::begin(&tenancy, b.id);
    assert!(on_replica(&mut rb).await, "B's read went to the replica");
    assert!(
        Project::get(&mut rb, project.id).await.is_err(),
        "B read A's project on the replica"
    );
    let raw: i64 = sqlx::query_scalar("SELECT count(*) FROM projects")
        .fetch_one(rb.conn().await.unwrap())
        .await
        .unwrap();
    assert_eq!(raw, 0, "RLS filters raw SQL on the replica too");
    drop(rb);

    // Read-your-writes: right after its write, A reads from the primary...
    let mut ra = ReadTx::begin(&tenancy, a.id);
    assert!(
        !on_replica(&mut ra).await,
        "A's read right after its write stayed on the primary"
    );
    assert_eq!(Project::get(&mut ra, project.id).await.unwrap().name, "a's");
    drop(ra);
    // ...and from the replica once the window has passed, where its row has arrived.
    tokio::time::sleep(Duration::from_millis(600)).await;
    let mut ra = ReadTx::begin(&tenancy, a.id);
    assert!(on_replica(&mut ra).await);
    assert_eq!(Project::get(&mut ra, project.id).await.unwrap().name, "a's");
    drop(ra);
    // A schema-tier tenant reads its own schema on the replica.
    let mut rs = ReadTx::begin(&tenancy, s.id);
    assert!(on_replica(&mut rs).await);
    let path: String = sqlx::query_scalar("SELECT current_setting('search_path')")
        .fetch_one(rs.conn().await.unwrap())
        .await
        .unwrap();
    assert!(path.contains("tenant_"), "{path}");
    drop(rs);
    // A ReadTx refuses to write (the model's writes do not compile for it; its executor
    // refuses a write connection at run time too).
    let mut rb = ReadTx::begin(&tenancy, b.id);
    assert!(
        saas_core::tenancy::TenantExecutor::scoped_conn(&mut rb, saas_core::tenancy::Access::Write)
            .await
            .is_err()
    );
    drop(rb);

    // Lag: replay paused, the primary moves on; past the bound, reads go to the primary.
    let mut replica_owner = PgConnection::connect(&replica).await.unwrap();
    sqlx::query("SELECT pg_wal_replay_pause()")
        .execute(&mut replica_owner)
        .await
        .unwrap();
    let mut tx = TenantTx::begin(&tenancy, b.id);
    Project::insert(&mut tx, NewProject { name: "b's".into() })
        .await
        .unwrap();
    tx.commit().await.unwrap();
    wait_until("the paused replica is out of bounds", async || {
        !tenancy.replicas().all()[0].is_healthy()
    })
    .await;
    let mut rb = ReadTx::begin(&tenancy, b.id);
    assert!(
        !on_replica(&mut rb).await,
        "a lagging replica served a read"
    );
    assert_eq!(
        Project::list(&mut rb, PageRequest::first())
            .await
            .unwrap()
            .items
            .len(),
        1
    );
    drop(rb);
    sqlx::query("SELECT pg_wal_replay_resume()")
        .execute(&mut replica_owner)
        .await
        .unwrap();
    replica_owner.close().await.ok();
    wait_until("the replica caught up", async || {
        tenancy.replicas().all()[0].is_healthy()
    })
    .await;

    // Stopped: reads fall back to the primary without an error.
    saas_core::devdb::stop_cluster(&replica_dir).unwrap();
    for _ in 0..20 {
        let mut rb = ReadTx::begin(&tenancy, b.id);
        assert_eq!(
            Project::list(&mut rb, PageRequest::first())
                .await
                .unwrap()
                .items
                .len(),
            1
        );
    }
    wait_until("the stopped replica is marked down", async || {
        !tenancy.replicas().all()[0].is_healthy()
    })
    .await;
    let mut rb = ReadTx::begin(&tenancy, b.id);
    assert!(!on_replica(&mut rb).await);
    drop(rb);
    tenancy.close().await;
}
