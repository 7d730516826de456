//! Taking back the databases tests are done with: reset and queued again when only their rows
//! changed, dropped otherwise.

use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use sqlx::postgres::PgConnectOptions;
use sqlx::{Connection, Executor, PgConnection};
use tokio::sync::mpsc;

use super::reset::{Baseline, Checked};
use super::{CLONING, Counters, Ready, Recycled, SharedBaseline, connect_to, own_session};

/// Resets a used database for another test (see `reset.rs`) and queues it.
///
/// First the test's sessions are ended and the database renamed at once (a rename needs no
/// other session on it): from then on nobody knows its name but the pool, so nothing a
/// finished test left running (a kept URL, a leaked pool reconnecting) can reach it, during
/// the reset or after. Then, if it has no prepared transaction and no database-tier tenant of
/// its own, its catalog is unchanged and its rows come back to the baseline, it is queued.
/// `Ok(false)` (or an error) leaves it to be dropped under `item.name`, updated by the rename.
async fn reuse(
    admin: &mut PgConnection,
    server: &str,
    item: &mut Recycled,
    baseline: &Baseline,
    ready: &Ready,
) -> anyhow::Result<Option<Checked>> {
    if item.role.is_some() {
        return Ok(None);
    }
    let Ok(slot) = ready.tx.try_reserve() else {
        return Ok(None);
    };
    let prepared: i64 =
        sqlx::query_scalar("SELECT count(*) FROM pg_prepared_xacts WHERE database = $1")
            .bind(&item.name)
            .fetch_one(&mut *admin)
            .await?;
    if prepared > 0 {
        return Ok(None);
    }
    let name = crate::db::unique_name("saas_test");
    let rename = format!(
        "ALTER DATABASE {} RENAME TO {}",
        saas_core::sql::quote_ident(&item.name),
        saas_core::sql::quote_ident(&name)
    );
    let mut renamed = false;
    for _ in 0..100 {
        sqlx::query(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
              WHERE datname = $1 AND pid <> pg_backend_pid()",
        )
        .bind(&item.name)
        .execute(&mut *admin)
        .await?;
        match admin.execute(sqlx::AssertSqlSafe(rename.clone())).await {
            Ok(_) => {
                renamed = true;
                break;
            }
            // 55006: still accessed by a session that is on its way out.
            Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some("55006") => {
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            Err(e) => return Err(e.into()),
        }
    }
    if !renamed {
        return Ok(None);
    }
    let handed_as = std::mem::replace(&mut item.name, name);
    let mut conn = connect_to(server, &item.name).await?;
    // A database-tier tenant's database is the test's too: such a database is dropped with it.
    let clean = if crate::db::tenant_databases_in(&mut conn).await.is_empty() {
        baseline.reset(&mut conn, &handed_as, &item.name).await
    } else {
        Ok(None)
    };
    conn.close().await.ok();
    let Some(checked) = clean? else {
        return Ok(None);
    };
    slot.send(Ok(item.name.clone()));
    Ok(Some(checked))
}

/// [`reuse`] once the pool has its baseline, with the database counted in the stock while it
/// is being reset (the creators wait for it rather than clone its replacement); whether it
/// was queued again, and how it was checked.
async fn try_reuse(
    admin: &mut PgConnection,
    server: &str,
    item: &mut Recycled,
    baseline: &SharedBaseline,
    ready: &Ready,
) -> Option<Checked> {
    let baseline = baseline.baseline.get().and_then(Option::as_ref)?;
    ready.stock.fetch_add(1, Ordering::SeqCst);
    let reused = reuse(admin, server, item, baseline, ready)
        .await
        .unwrap_or_else(|e| {
            tracing::debug!(database = %item.name, error = %format!("{e:#}"), "not reused");
            None
        });
    if reused.is_none() {
        ready.stock.fetch_sub(1, Ordering::SeqCst);
    }
    reused
}

/// Takes back the databases tests are done with, several at a time: resets and queues again
/// the ones that can be (`reusing`: the baseline and the ready queue), drops the others. A
/// `DROP DATABASE` requests a checkpoint and waits for it, and concurrent requests share one,
/// so drops in parallel cost little more than one. Clones go first: a drop waits while a
/// clone is being made (the checkpoint would flush, and slow, the clone under way), for at
/// most a quarter of a second and only while fewer than `size` drops are queued.
pub(super) async fn recycle_loop(
    server: String,
    mut rx: mpsc::UnboundedReceiver<Recycled>,
    pending: Arc<AtomicUsize>,
    counters: Arc<Counters>,
    size: usize,
    reusing: Option<(SharedBaseline, Ready)>,
) {
    let reusing = reusing.map(Arc::new);
    let options = match PgConnectOptions::from_str(&server) {
        Ok(options) => own_session(options),
        Err(_) => return,
    };
    let conns = sqlx::postgres::PgPoolOptions::new()
        .max_connections(DROPPERS as u32)
        .min_connections(0)
        .connect_lazy_with(options);
    let droppers = Arc::new(tokio::sync::Semaphore::new(DROPPERS));
    while let Some(item) = rx.recv().await {
        let Ok(permit) = droppers.clone().acquire_owned().await else {
            return;
        };
        let (conns, server, pending, counters, reusing) = (
            conns.clone(),
            server.clone(),
            pending.clone(),
            counters.clone(),
            reusing.clone(),
        );
        tokio::spawn(async move {
            let mut item = item;
            if let Ok(mut conn) = conns.acquire().await {
                let reused = match reusing.as_deref() {
                    Some((baseline, ready)) => {
                        try_reuse(&mut conn, &server, &mut item, baseline, ready).await
                    }
                    None => None,
                };
                if let Some(checked) = reused {
                    counters.reused.fetch_add(1, Ordering::Relaxed);
                    counters.returns.reused();
                    if checked == Checked::Counters {
                        counters.reset_from_counters.fetch_add(1, Ordering::Relaxed);
                    }
                } else {
                    // Counted before the drop waits for clones: the next clone already knows.
                    counters.returns.dropped();
                    let deadline = Instant::now() + Duration::from_millis(250);
                    while CLONING.load(Ordering::SeqCst) > 0
                        && pending.load(Ordering::SeqCst) <= size
                        && Instant::now() < deadline
                    {
                        tokio::time::sleep(Duration::from_millis(5)).await;
                    }
                    let _ = drop_database(&mut conn, &server, &item).await;
                    counters.recycled.fetch_add(1, Ordering::Relaxed);
                }
            }
            pending.fetch_sub(1, Ordering::SeqCst);
            drop(permit);
        });
    }
}

/// Drops made at the same time.
const DROPPERS: usize = 4;

/// Drops a test's database, the databases of its database-tier tenants, and its own role.
async fn drop_database(
    conn: &mut PgConnection,
    server: &str,
    item: &Recycled,
) -> anyhow::Result<()> {
    for database in crate::db::tenant_databases(server, &item.name).await {
        conn.execute(sqlx::AssertSqlSafe(format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            saas_core::sql::quote_ident(&database)
        )))
        .await?;
    }
    conn.execute(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS {} WITH (FORCE)",
        saas_core::sql::quote_ident(&item.name)
    )))
    .await?;
    if let Some(role) = &item.role {
        conn.execute(sqlx::AssertSqlSafe(format!(
            "DROP ROLE IF EXISTS {}",
            saas_core::sql::quote_ident(role)
        )))
        .await?;
    }
    Ok(())
}
