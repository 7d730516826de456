//! The test server: found or started once per process, and swept of what crashed runs left.

use anyhow::Context;
use sqlx::{Connection, Executor, PgConnection};
use tokio::sync::OnceCell;

static SERVER: OnceCell<String> = OnceCell::const_new();

/// The URL of the server tests run against: the Citus coordinator `CITUS_URL` names (see
/// [`crate::citus`]), else the one [`saas_core::devdb::ensure_server`] finds or starts. The first call of a process also drops databases and roles that test processes
/// which no longer run left behind.
pub async fn server_url() -> anyhow::Result<String> {
    SERVER
        .get_or_try_init(|| async {
            let url = match crate::citus::coordinator_url() {
                Some(url) => url,
                None => saas_core::devdb::ensure_server().await?,
            };
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

pub(crate) fn pid_alive(pid: u32) -> bool {
    std::path::Path::new(&format!("/proc/{pid}")).exists()
}

/// A short tag of this host (5 base-36 characters from `/etc/machine-id`, else the host
/// name), embedded in the name of every database the testkit creates: several machines may
/// share one test server, and a pid means something only on the host that ran it.
pub fn host_tag() -> &'static str {
    static TAG: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    TAG.get_or_init(|| {
        let identity = [
            "/etc/machine-id",
            "/var/lib/dbus/machine-id",
            "/etc/hostname",
        ]
        .iter()
        .find_map(|path| {
            std::fs::read_to_string(path)
                .ok()
                .filter(|s| !s.trim().is_empty())
        })
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_default();
        // FNV-1a: stable across builds and Rust versions (unlike `DefaultHasher`).
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
        for byte in identity.trim().bytes() {
            hash = (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3);
        }
        (0..5)
            .map(|_| {
                let digit = (hash % 36) as u8;
                hash /= 36;
                char::from(if digit < 10 {
                    b'0' + digit
                } else {
                    b'a' + digit - 10
                })
            })
            .collect()
    })
}

/// The prefix of every database this process creates: `<kind>_<host tag>_<pid>_`.
pub(crate) fn process_prefix(kind: &str) -> String {
    format!("{kind}_{}_{}_", host_tag(), std::process::id())
}

/// The host tag and pid embedded in a test database name (`saas_test_<tag>_<pid>_...`,
/// `saas_run_<tag>_<pid>_...`). Names without a host tag (made by older versions, or by
/// anything else) have no owner the sweep can check.
pub(crate) fn owner(name: &str) -> Option<(&str, u32)> {
    let rest = name
        .strip_prefix("saas_test_")
        .or_else(|| name.strip_prefix("saas_run_"))?;
    let mut parts = rest.splitn(3, '_');
    let tag = parts.next()?;
    let pid = parts.next()?.parse().ok()?;
    parts.next()?;
    let is_tag = tag.len() == 5
        && tag
            .bytes()
            .all(|b| b.is_ascii_digit() || b.is_ascii_lowercase());
    is_tag.then_some((tag, pid))
}

/// Drops the databases (and per-database roles) that test processes *of this host* left
/// behind when they are gone. Runs by itself on the first [`server_url`] of a process.
/// Another machine's databases are never touched, even when their pid is not running here:
/// a runner sharing the server may still be using them.
pub async fn sweep_stale(server: &str) -> anyhow::Result<()> {
    let mut conn = PgConnection::connect(server).await?;
    let names: Vec<String> = sqlx::query_scalar(
        "SELECT datname::text FROM pg_database WHERE datname LIKE 'saas\\_test\\_%' OR datname LIKE 'saas\\_run\\_%'",
    )
    .fetch_all(&mut conn)
    .await?;
    for name in names {
        let Some((tag, pid)) = owner(&name) else {
            continue;
        };
        if tag != host_tag() || pid_alive(pid) {
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
        if crate::citus::enabled() {
            crate::citus::drop_on_workers(server, &name).await;
        }
    }
    conn.close().await.ok();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_owner_is_read_from_test_database_names() {
        assert_eq!(owner("saas_test_k3x9a_1234_0_abcd"), Some(("k3x9a", 1234)));
        assert_eq!(owner("saas_run_00000_77_ab12"), Some(("00000", 77)));
        assert_eq!(
            owner(&format!(
                "{}t0a1b2c3d-0000-4000-8000-000000000000",
                process_prefix("saas_test")
            )),
            Some((host_tag(), std::process::id()))
        );
        // Without a host tag there is no owner to check: never swept.
        assert_eq!(owner("saas_test_1234_0_abcd"), None);
        assert_eq!(owner("saas_tpl_abcd"), None);
        assert_eq!(owner("taskboard"), None);
    }

    #[test]
    fn tenant_database_names_fit_postgres_identifiers() {
        let longest = format!(
            "saas_test_{}_{}_t{}",
            host_tag(),
            4_194_304,
            "0a1b2c3d-0000-4000-8000-000000000000"
        );
        assert!(longest.len() <= 63, "{longest} is {} bytes", longest.len());
    }
}
