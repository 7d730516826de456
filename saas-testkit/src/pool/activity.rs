//! Which tables a test wrote, from PostgreSQL's activity counters instead of reading them.
//!
//! PostgreSQL counts, per table, the rows every session inserted, updated and deleted
//! (`pg_stat_get_tuples_inserted` and its siblings; `track_counts`, on by default). A session
//! adds its counts to the shared statistics at the latest when it ends, before it leaves the
//! server's list of sessions, and the pool reaches a used database only after every session of
//! its test has left it (the rename in `reuse` needs that). So the counters a reset reads
//! include all the test wrote, and comparing them with the ones read when the database was last
//! made clean names the tables it wrote, without scanning any table:
//!
//! - a counter can only grow, unless the statistics are reset: a reset (of the database's or of
//!   one table's counters) moves the database's `stats_reset` time, and crash recovery, which
//!   discards every counter, moves the server-wide one; the caller then compares every table
//!   as before;
//! - DDL writes catalog rows, so it shows as a catalog table's counter moving (statistics,
//!   which `ANALYZE` rewrites, left out); `TRUNCATE`, which counts no row, writes `pg_class`;
//! - sequences are not counted: the reset sets every sequence back whatever the counters say.
//!
//! What the counters cannot see: a session that turned `track_counts` off for itself (a
//! superuser's `SET`) and then wrote. A server or database with it off is noticed (the pool
//! then compares every table); for tests that do that, [`ResetCheck::EveryTable`] compares
//! every table after every test.
//!
//! [`ResetCheck::EveryTable`]: super::ResetCheck::EveryTable

use std::collections::HashMap;

use sqlx::{PgConnection, Row};

/// Rows written per table (inserted + updated + deleted) since the statistics were last reset.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Activity {
    /// When the database's statistics were last reset (µs since the epoch; `None`: never).
    reset_at: Option<i64>,
    /// When the server-wide statistics were last reset, which crash recovery does too.
    server_reset_at: Option<i64>,
    /// Per table oid, whether it is a catalog table and its count (tables at 0 left out).
    writes: HashMap<i64, (bool, i64)>,
}

/// The tables written since an earlier [`Activity`].
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Written {
    /// A catalog table was written: the catalog may have changed.
    pub(crate) catalog: bool,
    /// The oids of the other tables written.
    pub(crate) tables: Vec<i64>,
}

/// In one row, one round trip: when the database's statistics were last reset (and the
/// server's: crash recovery discards every table's counters and stamps the server-wide ones,
/// so a test whose counts a crash lost is not taken for one that wrote nothing), whether
/// sessions count what they write, the database's own row (which lives in a shared catalog,
/// out of the counters' sight), and as JSON `[oid, is a catalog table, rows written]` for every
/// ordinary table written since, catalogs included, except the server-wide ones (the pool's
/// own `ALTER DATABASE ... RENAME` writes `pg_database`) and the statistics (`ANALYZE`,
/// automatic or not).
const ACTIVITY: &str = concat!(
    "SELECT (extract(epoch FROM pg_stat_get_db_stat_reset_time(d.oid)) * 1e6)::int8,
            (extract(epoch FROM pg_stat_get_bgwriter_stat_reset_time()) * 1e6)::int8,
            current_setting('track_counts')::bool, ",
    super::reset::database_row_sql!(),
    r#",
       (SELECT coalesce(json_agg(json_build_array(c.oid::int8,
                                 c.relnamespace = 'pg_catalog'::regnamespace, w.n)), '[]')::text
          FROM pg_class c,
               LATERAL (SELECT pg_stat_get_tuples_inserted(c.oid) + pg_stat_get_tuples_updated(c.oid)
                                 + pg_stat_get_tuples_deleted(c.oid) AS n) w
         WHERE c.relkind = 'r' AND NOT c.relisshared AND c.relpersistence <> 't' AND w.n > 0
           AND c.oid NOT IN ('pg_catalog.pg_statistic'::regclass,
                             'pg_catalog.pg_statistic_ext_data'::regclass))
  FROM pg_database d WHERE d.datname = current_database()"#
);

impl Activity {
    /// A fresh clone's counters: none, the database's statistics never reset, the server's
    /// last reset at `server_reset_at` (as when the pool's baseline was taken; a clone made
    /// after a crash then looks reset and is compared whole once).
    pub(crate) fn fresh(server_reset_at: Option<i64>) -> Activity {
        Activity {
            server_reset_at,
            ..Activity::default()
        }
    }

    /// When the server-wide statistics were last reset.
    pub(crate) fn server_reset_at(&self) -> Option<i64> {
        self.server_reset_at
    }

    /// The counters as they are now (the calling session's own writes included once it has
    /// called [`Activity::flush`]), and the database's own row. `None` for the counters when
    /// sessions do not count (`track_counts` off).
    pub(crate) async fn read(
        conn: &mut PgConnection,
    ) -> anyhow::Result<(Option<Activity>, String)> {
        // A simple query: one round trip, where a prepared one on a new session takes two.
        let row = sqlx::raw_sql(ACTIVITY).fetch_one(&mut *conn).await?;
        let counting: bool = row.try_get(2)?;
        let database: String = row.try_get(3)?;
        if !counting {
            return Ok((None, database));
        }
        let writes: Vec<(i64, bool, i64)> = serde_json::from_str(row.try_get::<&str, _>(4)?)?;
        let activity = Activity {
            reset_at: row.try_get(0)?,
            server_reset_at: row.try_get(1)?,
            writes: writes.into_iter().map(|(o, c, n)| (o, (c, n))).collect(),
        };
        Ok((Some(activity), database))
    }

    /// Makes this session's counts shared before it reads them: the flush runs when the
    /// session goes idle after this statement, before it answers.
    pub(crate) async fn flush(conn: &mut PgConnection) -> anyhow::Result<()> {
        sqlx::raw_sql("SELECT pg_stat_force_next_flush()")
            .execute(&mut *conn)
            .await?;
        Ok(())
    }

    /// The tables written between `self` (earlier) and `now`. `None` when the counters cannot
    /// tell: the statistics were reset in between, or a table's count went away.
    pub(crate) fn written_since(&self, now: &Activity) -> Option<Written> {
        if self.reset_at != now.reset_at || self.server_reset_at != now.server_reset_at {
            return None;
        }
        if self.writes.keys().any(|oid| !now.writes.contains_key(oid)) {
            return None;
        }
        let mut written = Written::default();
        for (oid, &(catalog, count)) in &now.writes {
            let before = self.writes.get(oid).map_or(0, |&(_, n)| n);
            if count == before {
                continue;
            }
            if count < before {
                return None;
            }
            if catalog {
                written.catalog = true;
            } else {
                written.tables.push(*oid);
            }
        }
        written.tables.sort_unstable();
        Some(written)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn activity(reset_at: Option<i64>, writes: &[(i64, bool, i64)]) -> Activity {
        Activity {
            reset_at,
            server_reset_at: Some(1),
            writes: writes.iter().map(|&(o, c, n)| (o, (c, n))).collect(),
        }
    }

    #[test]
    fn only_the_tables_whose_counts_moved_are_written() {
        let before = activity(None, &[(10, false, 5), (1259, true, 3)]);
        let now = activity(None, &[(10, false, 5), (11, false, 2), (1259, true, 3)]);
        assert_eq!(
            before.written_since(&now),
            Some(Written {
                catalog: false,
                tables: vec![11]
            })
        );
        let now = activity(None, &[(10, false, 6), (1259, true, 4)]);
        assert_eq!(
            before.written_since(&now),
            Some(Written {
                catalog: true,
                tables: vec![10]
            })
        );
        assert_eq!(before.written_since(&before), Some(Written::default()));
    }

    #[test]
    fn counters_that_were_reset_tell_nothing() {
        let before = activity(None, &[(10, false, 5)]);
        // The database's statistics reset (its time moves), even if counts look larger.
        let now = activity(Some(1_765_000_000_000_000), &[(10, false, 9)]);
        assert_eq!(before.written_since(&now), None);
        // The server's statistics reset (crash recovery discards every counter).
        let now = Activity {
            server_reset_at: Some(2),
            ..activity(None, &[(10, false, 9)])
        };
        assert_eq!(before.written_since(&now), None);
        // A count that went down or away.
        assert_eq!(
            before.written_since(&activity(None, &[(10, false, 4)])),
            None
        );
        assert_eq!(before.written_since(&activity(None, &[])), None);
    }
}
