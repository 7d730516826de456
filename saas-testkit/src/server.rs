//! The test server: found or started once per process, and swept of what crashed runs left.

use anyhow::Context;
use sqlx::{Connection, Executor, PgConnection};
use tokio::sync::OnceCell;

static SERVER: OnceCell<String> = OnceCell::const_new();

/// The URL of the server tests run against (see [`saas_core::devdb::ensure_server`] for the
/// order). The first call of a process also drops databases and roles that test processes
/// which no longer run left behind.
pub async fn server_url() -> anyhow::Result<String> {
    SERVER
        .get_or_try_init(|| async {
            let url = saas_core::devdb::ensure_server().await?;
            if let Err(e) = sweep_stale(&url).await {
                tracing::warn!(error = %e, "sweeping stale test databases");
            }
            Ok::<String, anyhow::Error>(url)
        })
        .await
        .cloned()
}

/// Replaces the database of a server URL.
pub fn with_database(url: &str, database: &str) -> anyhow::Result<String> {
    let mut parsed = url::Url::parse(url).context("test database URL")?;
    parsed.set_path(&format!("/{database}"));
    Ok(parsed.to_string())
}

fn pid_alive(pid: u32) -> bool {
    std::path::Path::new(&format!("/proc/{pid}")).exists()
}

/// The pid embedded in a test database name (`saas_test_<pid>_...`, `saas_run_<pid>_...`).
pub(crate) fn owner_pid(name: &str) -> Option<u32> {
    let rest = name
        .strip_prefix("saas_test_")
        .or_else(|| name.strip_prefix("saas_run_"))?;
    rest.split('_').next()?.parse().ok()
}

/// Drops the databases (and per-database roles) of test processes that are gone. Runs by
/// itself on the first [`server_url`] of a process.
pub async fn sweep_stale(server: &str) -> anyhow::Result<()> {
    let mut conn = PgConnection::connect(server).await?;
    let names: Vec<String> = sqlx::query_scalar(
        "SELECT datname::text FROM pg_database WHERE datname LIKE 'saas\\_test\\_%' OR datname LIKE 'saas\\_run\\_%'",
    )
    .fetch_all(&mut conn)
    .await?;
    for name in names {
        let Some(pid) = owner_pid(&name) else {
            continue;
        };
        if pid_alive(pid) {
            continue;
        }
        conn.execute(sqlx::AssertSqlSafe(format!(
            "DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"
        )))
        .await
        .ok();
        conn.execute(sqlx::AssertSqlSafe(format!(
            "DROP ROLE IF EXISTS \"{name}_app\""
        )))
        .await
        .ok();
    }
    conn.close().await.ok();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owner_pid_is_read_from_test_database_names() {
        assert_eq!(owner_pid("saas_test_1234_0_abcd"), Some(1234));
        assert_eq!(owner_pid("saas_run_77_ab12"), Some(77));
        assert_eq!(owner_pid("saas_tpl_abcd"), None);
        assert_eq!(owner_pid("taskboard"), None);
    }
}
