//! Putting a used database back the way the template left it, instead of dropping it.
//!
//! A clone costs a copy of every block of the template (and, with `FILE_COPY`, two
//! checkpoints); most tests only add or change rows. When a test is done, the pool compares
//! its database with a [`Baseline`] taken from a fresh clone:
//!
//! - **the catalog**: for every catalog table of the database, the number of rows and the sum
//!   of their `xmin`s. Any DDL, grant, comment, policy, function, type, extension or large
//!   object inserts, updates or deletes catalog rows under a new transaction id, so it changes
//!   the fingerprint (a table created and dropped again leaves it as it was, which is what the
//!   database then is). Left out: statistics (`pg_statistic*`, rewritten by `ANALYZE`) and the
//!   temporary schemas' namespace rows (a session's first temporary table creates one and it
//!   stays). The database's own row (owner, ACL, connection settings) and its `ALTER DATABASE
//!   SET`s are compared as well.
//! - **the rows**: every table that was empty must be empty again; every table the template
//!   seeded must hold exactly its seed rows (an `md5` over the rows' text);
//! - **the sequences**: set back to the template's values.
//!
//! Which tables and whether the catalog to compare comes first from PostgreSQL's activity
//! counters (`activity.rs`): after a test that wrote two tables only those two are reset and
//! compared, and the catalog is fingerprinted only when a catalog table was written. When the
//! counters cannot tell (statistics reset, `track_counts` off) or the pool is told to
//! ([`ResetCheck::EveryTable`]), everything is compared.
//!
//! When the catalog differs, the database is dropped as before. Otherwise the rows are put
//! back in one transaction with triggers and foreign-key checks off
//! (`session_replication_role = replica`, which needs a superuser; without one nothing is
//! reset): `DELETE` from the tables whose rows changed, seed tables refilled by `COPY` from
//! the baseline's copy. The rows are compared again before the database is given to another
//! test.

use std::collections::HashMap;
use std::sync::Mutex;

use anyhow::Context;
use futures_util::TryStreamExt;
use sqlx::{PgConnection, Row};

use super::ResetCheck;
use super::activity::Activity;

/// Seed data above this size is not kept in memory: the pool then drops used databases.
const MAX_SEED_BYTES: usize = 16 * 1024 * 1024;

/// One ordinary table of the template: its name (schema-qualified, quoted), the column list
/// `COPY` writes (no generated columns), and its seed rows when it has any.
#[derive(Debug)]
struct Table {
    /// The same in every clone of the template.
    oid: i64,
    name: String,
    columns: String,
    seed: Option<Seed>,
}

#[derive(Debug)]
struct Seed {
    /// `md5` of the rows' text in order, as [`ROW_HASH`] computes it.
    hash: String,
    /// The rows, in `COPY ... TO STDOUT` text format.
    copy: Vec<u8>,
}

/// What a fresh clone of the template holds, to compare a used database with.
#[derive(Debug)]
pub(crate) struct Baseline {
    check: ResetCheck,
    catalog_query: String,
    /// The database's own row ([`database_row_sql!`]), then the catalog's fingerprint.
    catalog: String,
    /// The database's own row alone.
    database: String,
    /// Whether a trigger or rule runs even in the replica role (`ENABLE ALWAYS`): the reset's
    /// own `DELETE`s may then write elsewhere, and every table is checked after it.
    always_fires: bool,
    tables: Vec<Table>,
    /// One statement setting every sequence back (`None` when there are none).
    sequences: Option<String>,
    /// When the server's statistics were last reset, as the baseline was taken (see
    /// [`Activity::fresh`]).
    server_reset_at: Option<i64>,
    /// The activity counters of each database this pool made clean, under the name it was
    /// handed out by (a fresh clone has none: its counters start at zero).
    clean: Mutex<HashMap<String, Activity>>,
}

/// How a used database was found to need only what its reset did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Checked {
    /// The activity counters named the tables the test wrote; only those were compared.
    Counters,
    /// Every table and the catalog were compared.
    EveryTable,
}

/// The hash of a table's rows (`%s`: the table).
const ROW_HASH: &str =
    "SELECT md5(coalesce(string_agg(t::text, E'\\n' ORDER BY t::text), '')) FROM %s AS t";

/// The query that fingerprints the catalog: one `UNION ALL` arm per catalog table.
const FINGERPRINT_QUERY: &str = r#"
SELECT string_agg(format(
         'SELECT %L AS c, count(*)::int8 AS n, coalesce(sum(xmin::text::int8), 0)::int8 AS x FROM pg_catalog.%I%s',
         relname, relname,
         CASE WHEN relname = 'pg_namespace' THEN ' WHERE nspname !~ ''^pg_(toast_)?temp_''' ELSE '' END),
       ' UNION ALL ' ORDER BY relname)
  FROM pg_class
 WHERE relnamespace = 'pg_catalog'::regnamespace AND relkind = 'r' AND NOT relisshared
   AND relname NOT IN ('pg_statistic', 'pg_statistic_ext_data', 'pg_largeobject')"#;

/// The database's own row and settings, which live in shared catalogs: an expression over
/// `pg_database d` (also read with the activity counters, which do not see shared catalogs).
macro_rules! database_row_sql {
    () => {
        "concat_ws(' ', d.datdba::text, coalesce(d.datacl::text, '-'), d.datconnlimit::text,
           d.datallowconn::text, d.datistemplate::text,
           (SELECT count(*)::text FROM pg_db_role_setting s WHERE s.setdatabase = d.oid))"
    };
}
pub(super) use database_row_sql;

/// The database's own row and settings ([`database_row_sql!`]).
const DATABASE_QUERY: &str = concat!(
    "SELECT ",
    database_row_sql!(),
    " FROM pg_database d WHERE d.datname = current_database()"
);

/// The query that fingerprints the catalog of the database `conn` is connected to (the
/// same for every clone of one template: its catalog tables are the server's).
async fn fingerprint_query(conn: &mut PgConnection) -> anyhow::Result<String> {
    Ok(sqlx::query_scalar(FINGERPRINT_QUERY)
        .fetch_one(&mut *conn)
        .await?)
}

/// The catalog's fingerprint of the database `conn` is connected to, by `query` (from
/// [`fingerprint_query`]).
async fn fingerprint(conn: &mut PgConnection, query: &str) -> anyhow::Result<String> {
    let rows: Vec<(String, i64, i64)> = sqlx::query_as(sqlx::AssertSqlSafe(query.to_string()))
        .fetch_all(&mut *conn)
        .await?;
    let mut out = database_row(conn).await?;
    for (catalog, n, x) in rows {
        out.push_str(&format!("\n{catalog} {n} {x}"));
    }
    Ok(out)
}

/// The database's own row and settings ([`database_row_sql!`]).
async fn database_row(conn: &mut PgConnection) -> anyhow::Result<String> {
    Ok(sqlx::query_scalar(DATABASE_QUERY)
        .fetch_one(&mut *conn)
        .await?)
}

impl Baseline {
    /// Takes the baseline from a fresh clone. `None` when this pool cannot reset databases:
    /// not a superuser, or seed data larger than the pool keeps in memory.
    pub(crate) async fn capture(
        conn: &mut PgConnection,
        check: ResetCheck,
    ) -> anyhow::Result<Option<Baseline>> {
        let superuser: bool =
            sqlx::query_scalar("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
                .fetch_one(&mut *conn)
                .await?;
        if !superuser {
            return Ok(None);
        }
        let catalog_query = fingerprint_query(conn).await?;
        let catalog = fingerprint(conn, &catalog_query).await?;
        let database = database_row(conn).await?;
        let server_reset_at = Activity::read(conn)
            .await?
            .0
            .and_then(|activity| activity.server_reset_at());
        let always_fires: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM pg_trigger WHERE tgenabled = 'A')
                 OR EXISTS (SELECT 1 FROM pg_rewrite WHERE ev_enabled = 'A')",
        )
        .fetch_one(&mut *conn)
        .await?;
        let listed: Vec<(i64, String, Option<String>)> = sqlx::query_as(
            "SELECT c.oid::int8, format('%I.%I', n.nspname, c.relname),
                    (SELECT string_agg(quote_ident(a.attname), ', ' ORDER BY a.attnum)
                       FROM pg_attribute a
                      WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
                        AND a.attgenerated = '')
               FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
              WHERE c.relkind = 'r' AND c.relpersistence <> 't'
                AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')
                AND n.nspname !~ '^pg_(toast_)?temp_'
              ORDER BY 2",
        )
        .fetch_all(&mut *conn)
        .await?;
        let mut tables = Vec::with_capacity(listed.len());
        let mut seed_bytes = 0;
        for (oid, name, columns) in listed {
            // ` (a, b)`, or nothing for a table without columns.
            let columns = columns.map(|c| format!(" ({c})")).unwrap_or_default();
            let seeded: bool = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
                "SELECT EXISTS (SELECT 1 FROM {name})"
            )))
            .fetch_one(&mut *conn)
            .await?;
            let seed = if seeded {
                let hash: String =
                    sqlx::query_scalar(sqlx::AssertSqlSafe(ROW_HASH.replace("%s", &name)))
                        .fetch_one(&mut *conn)
                        .await?;
                let mut copy = Vec::new();
                let statement = format!("COPY {name}{columns} TO STDOUT");
                let mut stream = conn.copy_out_raw(&statement).await?;
                while let Some(chunk) = stream.try_next().await? {
                    copy.extend_from_slice(&chunk);
                }
                drop(stream);
                seed_bytes += copy.len();
                if seed_bytes > MAX_SEED_BYTES {
                    return Ok(None);
                }
                Some(Seed { hash, copy })
            } else {
                None
            };
            tables.push(Table {
                oid,
                name,
                columns,
                seed,
            });
        }
        let sequences: Vec<String> = sqlx::query_scalar(
            "SELECT format('setval(%L, %s, %s)', format('%I.%I', schemaname, sequencename),
                           coalesce(last_value, start_value), (last_value IS NOT NULL)::text)
               FROM pg_sequences ORDER BY 1",
        )
        .fetch_all(&mut *conn)
        .await?;
        let sequences = (!sequences.is_empty()).then(|| format!("SELECT {}", sequences.join(", ")));
        Ok(Some(Baseline {
            check,
            catalog_query,
            catalog,
            database,
            always_fires,
            tables,
            sequences,
            server_reset_at,
            clean: Mutex::default(),
        }))
    }

    /// Which of the tables `among` (indexes into `self.tables`) hold other rows than the
    /// baseline's.
    async fn changed_tables(
        &self,
        conn: &mut PgConnection,
        among: impl Iterator<Item = usize>,
    ) -> anyhow::Result<Vec<usize>> {
        let arms: Vec<String> = among
            .map(|i| (i, &self.tables[i]))
            .map(|(i, table)| match &table.seed {
                None => format!("SELECT {i} WHERE EXISTS (SELECT 1 FROM {})", table.name),
                Some(seed) => format!(
                    "SELECT {i} WHERE ({}) IS DISTINCT FROM '{}'",
                    ROW_HASH.replace("%s", &table.name),
                    seed.hash
                ),
            })
            .collect();
        if arms.is_empty() {
            return Ok(Vec::new());
        }
        // A simple query: one round trip (a prepared one would take two on this new session).
        let rows = sqlx::raw_sql(sqlx::AssertSqlSafe(arms.join(" UNION ALL ")))
            .fetch_all(&mut *conn)
            .await?;
        rows.iter()
            .map(|row| Ok(row.try_get::<i32, _>(0)? as usize))
            .collect()
    }

    /// What the test that had the database (handed out as `handed_as`) wrote, as indexes into
    /// `self.tables`, and how that was found; `None` when the database cannot be reset: its
    /// catalog (or its own row) changed, or the test wrote a table the baseline does not have.
    async fn written(
        &self,
        conn: &mut PgConnection,
        handed_as: &str,
    ) -> anyhow::Result<Option<(Vec<usize>, Checked)>> {
        let before = self
            .clean_activity(handed_as)
            .unwrap_or_else(|| Activity::fresh(self.server_reset_at));
        let (now, database) = match self.check {
            ResetCheck::Counters => Activity::read(conn).await?,
            ResetCheck::EveryTable => (None, String::new()),
        };
        let Some(written) = now.and_then(|now| before.written_since(&now)) else {
            if fingerprint(conn, &self.catalog_query).await? != self.catalog {
                return Ok(None);
            }
            let changed = self.changed_tables(conn, 0..self.tables.len()).await?;
            return Ok(Some((changed, Checked::EveryTable)));
        };
        let same = if written.catalog {
            fingerprint(conn, &self.catalog_query).await? == self.catalog
        } else {
            database == self.database
        };
        if !same {
            return Ok(None);
        }
        let mut indexes = Vec::with_capacity(written.tables.len());
        for oid in written.tables {
            match self.tables.iter().position(|t| t.oid == oid) {
                Some(i) => indexes.push(i),
                None => return Ok(None),
            }
        }
        Ok(Some((indexes, Checked::Counters)))
    }

    /// The activity counters recorded when the database handed out as `name` was made clean
    /// (taken out: the name is not handed out again).
    fn clean_activity(&self, name: &str) -> Option<Activity> {
        self.clean.lock().ok()?.remove(name)
    }

    /// Puts the database `conn` is connected to (no other session on it; handed out as
    /// `handed_as`, renamed since to `renamed`) back to the baseline. `None` when it cannot
    /// be: its catalog changed, or the reset did not come out equal to the baseline.
    pub(crate) async fn reset(
        &self,
        conn: &mut PgConnection,
        handed_as: &str,
        renamed: &str,
    ) -> anyhow::Result<Option<Checked>> {
        let Some((changed, checked)) = self.written(conn, handed_as).await? else {
            return Ok(None);
        };
        // In as few round trips as the protocol allows: the `DELETE`s in one simple query, a
        // `COPY` per seeded table, the sequences with the `COMMIT`. An error leaves the
        // transaction open on a session the caller closes, with the database then dropped.
        let mut statements = String::from("BEGIN; SET LOCAL session_replication_role = replica;");
        for &i in &changed {
            statements.push_str(&format!(" DELETE FROM {};", self.tables[i].name));
        }
        sqlx::raw_sql(sqlx::AssertSqlSafe(statements))
            .execute(&mut *conn)
            .await
            .context("emptying the tables the test wrote")?;
        for &i in &changed {
            let table = &self.tables[i];
            if let Some(seed) = &table.seed {
                let statement = format!("COPY {}{} FROM STDIN", table.name, table.columns);
                let mut copy = conn.copy_in_raw(&statement).await?;
                copy.send(seed.copy.as_slice()).await?;
                copy.finish()
                    .await
                    .with_context(|| format!("refilling {}", table.name))?;
            }
        }
        let commit = match &self.sequences {
            Some(sequences) => format!("{sequences}; COMMIT"),
            None => "COMMIT".to_string(),
        };
        sqlx::raw_sql(sqlx::AssertSqlSafe(commit))
            .execute(&mut *conn)
            .await?;
        // Checked, not assumed. The catalog needs no second look: `DELETE`, `COPY` and
        // `setval` change no catalog row. In the replica role triggers and rules run only when
        // `ENABLE ALWAYS`; without such, only the tables reset can have moved.
        let check: Vec<usize> = if self.always_fires {
            (0..self.tables.len()).collect()
        } else {
            changed
        };
        if !self
            .changed_tables(conn, check.into_iter())
            .await?
            .is_empty()
        {
            return Ok(None);
        }
        // What the next reset compares with: the counters now, this session's writes included.
        if self.check == ResetCheck::Counters {
            Activity::flush(conn).await?;
            if let (Some(after), _) = Activity::read(conn).await?
                && let Ok(mut clean) = self.clean.lock()
            {
                clean.insert(renamed.to_string(), after);
            }
        }
        Ok(Some(checked))
    }
}
