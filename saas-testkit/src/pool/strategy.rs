//! How `CREATE DATABASE` copies the template, and how the pool picks one way per clone.
//!
//! Measured with the checkout benchmark (8 threads, fsync on; the guide's performance chapter):
//! while tests give their databases back to be reset, clones are few (the start, and the
//! replacements of the odd dropped database) and a `FILE_COPY` clone's two checkpoints stall
//! the resets and the tests' own commits around it: the wait's p99 was 30-50 ms with
//! `FILE_COPY` and 0.1 ms with `WAL_LOG`. While used databases are dropped (schema changes,
//! recycling off), clones are the supply, concurrent `FILE_COPY` clones and drops share their
//! checkpoints, and `WAL_LOG`, which writes every copied block to the WAL, fell 4-7× behind
//! (p99 2.2-4.1 s against 0.3-0.6 s). So by default the pool follows what its used databases
//! lately became.

use std::str::FromStr;
use std::sync::atomic::{AtomicI32, Ordering};

/// How `CREATE DATABASE` copies the template (PostgreSQL 15 and later; older servers have
/// only the file copy and get no `STRATEGY` clause).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CloneStrategy {
    /// Chosen per clone (the default): `WAL_LOG` while most of the pool's used databases are
    /// reset and reused, `FILE_COPY` while most are dropped (about the last 8 that came back;
    /// a pool that does not reset starts with `FILE_COPY`).
    #[default]
    Auto,
    /// `STRATEGY = WAL_LOG`: copies block by block through shared buffers, logging each
    /// block; no checkpoint.
    WalLog,
    /// `STRATEGY = FILE_COPY`: copies the files, with a checkpoint before and after.
    FileCopy,
}

const WAL_LOG: &str = " STRATEGY = WAL_LOG";
const FILE_COPY: &str = " STRATEGY = FILE_COPY";

impl CloneStrategy {
    /// The `STRATEGY` clause of the pool's next clone: `""` when the server has no such
    /// clause (`supported` false: before PostgreSQL 15).
    pub(crate) fn clause(self, returns: &Returns, supported: bool) -> &'static str {
        match self {
            _ if !supported => "",
            CloneStrategy::WalLog => WAL_LOG,
            CloneStrategy::FileCopy => FILE_COPY,
            CloneStrategy::Auto if returns.mostly_dropped() => FILE_COPY,
            CloneStrategy::Auto => WAL_LOG,
        }
    }
}

impl FromStr for CloneStrategy {
    type Err = anyhow::Error;

    fn from_str(s: &str) -> anyhow::Result<CloneStrategy> {
        match s.to_ascii_lowercase().as_str() {
            "auto" => Ok(CloneStrategy::Auto),
            "wal_log" | "wal-log" | "wallog" => Ok(CloneStrategy::WalLog),
            "file_copy" | "file-copy" | "filecopy" => Ok(CloneStrategy::FileCopy),
            other => {
                anyhow::bail!("unknown clone strategy {other:?} (auto, wal_log or file_copy)")
            }
        }
    }
}

/// How many recent returns [`Returns`] weighs.
const WINDOW: i32 = 8;

/// What a pool's used databases lately became: a score a reuse moves down and a drop up,
/// held within ±[`WINDOW`], so it follows about the last [`WINDOW`] returns.
#[derive(Debug, Default)]
pub(crate) struct Returns(AtomicI32);

impl Returns {
    /// For a pool that never resets: every database it takes back is dropped.
    pub(crate) fn all_dropped() -> Returns {
        Returns(AtomicI32::new(WINDOW))
    }

    pub(crate) fn reused(&self) {
        self.nudge(-1);
    }

    pub(crate) fn dropped(&self) {
        self.nudge(1);
    }

    fn nudge(&self, by: i32) {
        let _ = self
            .0
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |score| {
                Some((score + by).clamp(-WINDOW, WINDOW))
            });
    }

    fn mostly_dropped(&self) -> bool {
        self.0.load(Ordering::SeqCst) > 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strategies_are_read_from_their_names() {
        assert_eq!(
            "file_copy".parse::<CloneStrategy>().unwrap(),
            CloneStrategy::FileCopy
        );
        assert_eq!(
            "WAL_LOG".parse::<CloneStrategy>().unwrap(),
            CloneStrategy::WalLog
        );
        assert_eq!(
            "auto".parse::<CloneStrategy>().unwrap(),
            CloneStrategy::Auto
        );
        assert!("copy".parse::<CloneStrategy>().is_err());
    }

    #[test]
    fn auto_follows_what_the_last_returns_became() {
        let returns = Returns::default();
        let auto = |r: &Returns| CloneStrategy::Auto.clause(r, true);
        assert_eq!(
            auto(&returns),
            WAL_LOG,
            "a resetting pool starts with WAL_LOG"
        );
        for _ in 0..20 {
            returns.reused();
        }
        // Twenty reuses weigh no more than eight: nine drops in a row turn it.
        for n in 1..=9 {
            returns.dropped();
            assert_eq!(auto(&returns), if n < 9 { WAL_LOG } else { FILE_COPY });
        }
        returns.reused();
        assert_eq!(auto(&returns), WAL_LOG);
        assert_eq!(auto(&Returns::all_dropped()), FILE_COPY);
        // A fixed strategy stays; an old server gets no clause.
        assert_eq!(
            CloneStrategy::WalLog.clause(&Returns::all_dropped(), true),
            WAL_LOG
        );
        assert_eq!(CloneStrategy::FileCopy.clause(&returns, false), "");
    }
}
