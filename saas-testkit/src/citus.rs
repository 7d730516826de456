//! Test databases on a Citus cluster: with `CITUS_URL` set (a coordinator's URL, its
//! maintenance database, workers registered there), every database the testkit makes is a
//! Citus database, so the same tests run on the cluster.
//!
//! A Citus database is a database of the same name on the coordinator and on every worker,
//! each with the `citus` extension, and the workers registered in the coordinator's copy.
//! `CREATE DATABASE ... TEMPLATE` cannot copy that (the workers' shards are not in the
//! coordinator's template), so on Citus each database is made and migrated from scratch, and
//! the pool of ready clones is off.

use anyhow::Context;
use sqlx::{Connection, Executor, PgConnection};

use crate::server::with_database;

/// The coordinator the tests run against, if `CITUS_URL` names one.
pub fn coordinator_url() -> Option<String> {
    std::env::var("CITUS_URL")
        .ok()
        .filter(|url| !url.is_empty())
}

/// Whether test databases are Citus databases (`CITUS_URL` is set).
pub fn enabled() -> bool {
    coordinator_url().is_some()
}

/// `server` with another host and port (same user, password and database).
fn on_node(server: &str, host: &str, port: i32) -> anyhow::Result<String> {
    let mut url = url::Url::parse(server).context("Citus coordinator URL")?;
    url.set_host(Some(host)).context("worker host")?;
    url.set_port(Some(port as u16))
        .map_err(|()| anyhow::anyhow!("worker port {port}"))?;
    Ok(url.to_string())
}

/// The workers registered in the coordinator's maintenance database.
async fn workers(server: &str) -> anyhow::Result<Vec<(String, i32)>> {
    let mut conn = PgConnection::connect(server)
        .await
        .with_context(|| format!("connecting to the Citus coordinator {server}"))?;
    let nodes: Vec<(String, i32)> = sqlx::query_as(
        "SELECT nodename::text, nodeport FROM pg_dist_node
          WHERE groupid <> 0 AND noderole = 'primary' AND isactive ORDER BY nodeid",
    )
    .fetch_all(&mut conn)
    .await
    .context("listing the Citus workers (is CITUS_URL a coordinator with workers?)")?;
    conn.close().await.ok();
    anyhow::ensure!(
        !nodes.is_empty(),
        "the Citus coordinator {server} has no worker registered"
    );
    Ok(nodes)
}

/// Creates `name` as a Citus database: on every node, with the extension, the workers
/// registered in the coordinator's copy.
pub async fn create_database(server: &str, name: &str) -> anyhow::Result<()> {
    let mut conn = PgConnection::connect(server)
        .await
        .with_context(|| format!("connecting to the Citus coordinator {server}"))?;
    conn.execute(sqlx::AssertSqlSafe(format!(
        "CREATE DATABASE {}",
        saas_core::sql::quote_ident(name)
    )))
    .await
    .with_context(|| format!("creating {name} on the coordinator"))?;
    conn.close().await.ok();
    add_citus(server, name).await
}

/// Turns the coordinator's existing database `name` (plain PostgreSQL until now) into a Citus
/// database: the same database on every worker, the extension everywhere, the workers
/// registered. What a user does when a database outgrows one server; the framework's next
/// `migrate` then distributes the tenant tables.
pub async fn add_citus(server: &str, name: &str) -> anyhow::Result<()> {
    // One at a time across processes: registering the workers synchronizes roles on them (a
    // catalog shared by every database), and two at once fail with "tuple concurrently
    // updated".
    let mut lock = PgConnection::connect(server)
        .await
        .with_context(|| format!("connecting to the Citus coordinator {server}"))?;
    sqlx::query("SELECT pg_advisory_lock(hashtext('saas_testkit.citus_add_node'))")
        .execute(&mut lock)
        .await?;
    let result = register(server, name).await;
    lock.close().await.ok();
    result
}

async fn register(server: &str, name: &str) -> anyhow::Result<()> {
    let workers = workers(server).await?;
    let coordinator = url::Url::parse(server)?;
    let (host, port) = (
        coordinator.host_str().unwrap_or("127.0.0.1").to_string(),
        i32::from(coordinator.port().unwrap_or(5432)),
    );
    let quoted = saas_core::sql::quote_ident(name);
    let mut nodes = vec![server.to_string()];
    for (worker_host, worker_port) in &workers {
        let node = on_node(server, worker_host, *worker_port)?;
        let mut conn = PgConnection::connect(&node)
            .await
            .with_context(|| format!("connecting to Citus worker {node}"))?;
        conn.execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE {quoted}")))
            .await
            .with_context(|| format!("creating {name} on {node}"))?;
        conn.close().await.ok();
        nodes.push(node);
    }
    for node in &nodes {
        let mut conn = PgConnection::connect(&with_database(node, name)?).await?;
        conn.execute("CREATE EXTENSION IF NOT EXISTS citus")
            .await
            .with_context(|| format!("installing citus in {name} on {node}"))?;
        conn.close().await.ok();
    }
    let mut conn = PgConnection::connect(&with_database(server, name)?).await?;
    sqlx::query("SELECT citus_set_coordinator_host($1, $2)")
        .bind(&host)
        .bind(port)
        .execute(&mut conn)
        .await
        .context("registering the coordinator")?;
    for (worker_host, worker_port) in &workers {
        sqlx::query("SELECT citus_add_node($1, $2)")
            .bind(worker_host)
            .bind(worker_port)
            .execute(&mut conn)
            .await
            .with_context(|| format!("registering worker {worker_host}:{worker_port}"))?;
    }
    // Citus names the replication slots, publications' roles and subscriptions of its online
    // shard operations after an operation id that every database counts from 1, but slots and
    // roles are the whole cluster's: two test databases splitting or moving shards at once
    // (or one after a killed run) would collide ("replication slot ... already exists").
    // Each test database counts from a random point instead.
    let start = 1 + (uuid::Uuid::new_v4().as_u128() % (1u128 << 40)) as i64;
    // Eight shards per table rather than Citus's 32: the same layout (several shards on every
    // worker), a quarter of the shards to create and to move in the rebalancing tests.
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "ALTER DATABASE {} SET citus.shard_count = 8",
        saas_core::sql::quote_ident(name)
    )))
    .execute(&mut conn)
    .await
    .context("setting the test database's shard count")?;
    sqlx::query("SELECT setval('pg_catalog.pg_dist_operationid_seq', $1)")
        .bind(start)
        .execute(&mut conn)
        .await
        .context("spreading the shard operation ids")?;
    conn.close().await.ok();
    Ok(())
}

/// Drops `name` on every worker (the caller drops the coordinator's copy).
pub async fn drop_on_workers(server: &str, name: &str) {
    let Ok(workers) = workers(server).await else {
        return;
    };
    for (host, port) in workers {
        let Ok(node) = on_node(server, &host, port) else {
            continue;
        };
        if let Ok(mut conn) = PgConnection::connect(&node).await {
            let _ = conn
                .execute(sqlx::AssertSqlSafe(format!(
                    "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                    saas_core::sql::quote_ident(name)
                )))
                .await;
            conn.close().await.ok();
        }
    }
}
