//! A PostgreSQL for development and tests, found or started without manual set-up: the
//! [`saas_devdb`] crate (the same finder as saas-testkit and `scripts/ensure-postgres.sh`),
//! re-exported here, and the development database of an application ([`app_database`]).
//!
//! [`ensure_server`] answers, in order: `SAAS_TEST_DATABASE_URL` or `DATABASE_URL` when it
//! answers; the local server on `127.0.0.1:5432` as `postgres` (trust auth); else PostgreSQL is
//! installed with apt-get when missing, Debian's clusters on 5432 that are down are started
//! (as root), and last the private cluster in `SAAS_PG_DIR` (default `/var/tmp/saas-pg`) on
//! `SAAS_PG_PORT` (default 55432), fsync off, run as the `postgres` user when this process is
//! root. See [`saas_devdb`] for the details.

use sqlx::{Connection, PgConnection};

pub use saas_devdb::*;

/// The development database of an application when `DATABASE_URL` is unset: a database named
/// after `app` (lower case, `_` for anything else than letters and digits) on the server
/// [`Finder::find`] finds or starts (ignoring the URLs of the environment), created when
/// missing. Returns its URL.
pub async fn app_database(app: &str) -> Result<String, DevDbError> {
    let server = Finder::from_env()?.without_urls().find()?;
    let database = database_name(app);
    let mut conn = PgConnection::connect(&server)
        .await
        .map_err(|e| DevDbError::Start(e.to_string()))?;
    let exists: Option<i32> = sqlx::query_scalar("SELECT 1 FROM pg_database WHERE datname = $1")
        .bind(&database)
        .fetch_optional(&mut conn)
        .await
        .map_err(|e| DevDbError::Start(e.to_string()))?;
    if exists.is_none() {
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
            "CREATE DATABASE \"{database}\""
        )))
        .execute(&mut conn)
        .await
        .map_err(|e| DevDbError::Start(e.to_string()))?;
    }
    conn.close().await.ok();
    let mut url = server;
    if let Some(slash) = url.rfind('/') {
        url.truncate(slash + 1);
        url.push_str(&database);
    }
    Ok(url)
}

fn database_name(app: &str) -> String {
    app.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect()
}
