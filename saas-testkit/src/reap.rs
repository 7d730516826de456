//! What a test run leaves behind, and how it goes away.
//!
//! The per-process shared database (`saas_run_<host>_<pid>_...`, used by every
//! `isolation = "tenant"` test of a binary) lives in a `static`, and Rust runs no destructor
//! for statics when the process exits. So when the testkit creates one, it also starts a
//! small watcher process: a `sh` loop that waits for the test process to exit (however it
//! exits: success, failure, panic or kill) and then drops the database with `psql`. Without
//! `sh` or `psql` on the machine, the next run's sweep drops it instead (see
//! [`crate::server::sweep_stale`]); `saas-testkit clean` drops it by hand.

use std::path::PathBuf;
use std::process::{Command, Stdio};

use sqlx::{Connection, Executor, PgConnection};

/// The `psql` next to the installed server binaries, or on `PATH`.
pub(crate) fn psql() -> Option<PathBuf> {
    saas_core::devdb::find_binaries()
        .map(|dir| dir.join("psql"))
        .filter(|p| p.exists())
        .or_else(|| {
            std::env::var_os("PATH").and_then(|paths| {
                std::env::split_paths(&paths)
                    .map(|dir| dir.join("psql"))
                    .find(|p| p.exists())
            })
        })
}

/// Starts a watcher that drops `database` on `server` once this process has exited. Returns
/// whether one was started.
pub(crate) fn drop_when_process_exits(server: &str, database: &str) -> bool {
    let Some(psql) = psql() else {
        tracing::debug!(
            database,
            "no psql: the next run's sweep drops the shared database"
        );
        return false;
    };
    // $1: the test process, $2: psql, $3: the server URL, $4: the database.
    const SCRIPT: &str = r#"while kill -0 "$1" 2>/dev/null; do sleep 0.2; done
"$2" -X -q -w -d "$3" -c "DROP DATABASE IF EXISTS \"$4\" WITH (FORCE)" >/dev/null 2>&1"#;
    let mut command = Command::new("sh");
    command
        .arg("-c")
        .arg(SCRIPT)
        .arg("saas-testkit-reaper")
        .arg(std::process::id().to_string())
        .arg(psql)
        .arg(server)
        .arg(database)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    // Its own process group: a Ctrl-C to `cargo test` stops the tests, not the clean-up.
    std::os::unix::process::CommandExt::process_group(&mut command, 0);
    match command.spawn() {
        Ok(_) => true,
        Err(e) => {
            tracing::debug!(error = %e, "could not start the clean-up watcher");
            false
        }
    }
}

/// One database the testkit made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestDatabase {
    /// Its name.
    pub name: String,
    /// `template`, `run` (a process's shared database) or `test` (a test's own).
    pub kind: &'static str,
    /// The host tag and process id of its creator (`None` for templates).
    pub owner: Option<(String, u32)>,
    /// Whether its creator still runs (only known for this host's databases).
    pub live: Option<bool>,
}

/// Every database on `server` the testkit made: templates (`saas_tpl_*`), shared
/// (`saas_run_*`) and per-test (`saas_test_*`) databases.
pub async fn list(server: &str) -> anyhow::Result<Vec<TestDatabase>> {
    let mut conn = PgConnection::connect(server).await?;
    let names: Vec<String> = sqlx::query_scalar(
        "SELECT datname::text FROM pg_database WHERE datname LIKE 'saas\\_tpl\\_%' \
         OR datname LIKE 'saas\\_run\\_%' OR datname LIKE 'saas\\_test\\_%' ORDER BY 1",
    )
    .fetch_all(&mut conn)
    .await?;
    conn.close().await.ok();
    Ok(names
        .into_iter()
        .map(|name| {
            let kind = if name.starts_with("saas_tpl_") {
                "template"
            } else if name.starts_with("saas_run_") {
                "run"
            } else {
                "test"
            };
            let owner = crate::server::owner(&name).map(|(tag, pid)| (tag.to_string(), pid));
            let live = owner.as_ref().and_then(|(tag, pid)| {
                (tag == crate::server::host_tag()).then(|| crate::server::pid_alive(*pid))
            });
            TestDatabase {
                name,
                kind,
                owner,
                live,
            }
        })
        .collect())
}

/// Drops what [`list`] finds, except databases of processes still running on this host and
/// of other hosts (a runner sharing the server may be using them); templates too when
/// `templates` is set (clearing `IS_TEMPLATE` first, which `DROP DATABASE` requires).
/// Returns the names dropped.
pub async fn clean(server: &str, templates: bool) -> anyhow::Result<Vec<String>> {
    let mut dropped = Vec::new();
    let mut conn = PgConnection::connect(server).await?;
    for db in list(server).await? {
        let drop = match db.kind {
            "template" => templates,
            _ => db.live == Some(false),
        };
        if !drop {
            continue;
        }
        if db.kind == "template" {
            conn.execute(sqlx::AssertSqlSafe(format!(
                "ALTER DATABASE \"{}\" IS_TEMPLATE false",
                db.name
            )))
            .await?;
        }
        conn.execute(sqlx::AssertSqlSafe(format!(
            "DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)",
            db.name
        )))
        .await?;
        conn.execute(sqlx::AssertSqlSafe(format!(
            "DROP ROLE IF EXISTS \"{}_app\"",
            db.name
        )))
        .await?;
        dropped.push(db.name);
    }
    conn.close().await.ok();
    Ok(dropped)
}
