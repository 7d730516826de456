//! A PostgreSQL for development and tests, found, started or installed without manual set-up.
//!
//! The one finder of the framework: `scripts/ensure-postgres.sh` runs this crate's
//! `ensure-postgres` binary, saas-testkit calls [`ensure_server`], and an application built
//! with saas-core's `dev-db` feature puts its development database on the same server
//! (`saas_core::devdb`, which re-exports this crate).
//!
//! [`Finder::find`] tries, in order:
//!
//! 1. `SAAS_TEST_DATABASE_URL`, then `DATABASE_URL`, when set and the server answers (lets
//!    the user in and answers `select 1`, or asks for a password the application's driver
//!    will give); one that does not answer is reported on stderr and skipped;
//! 2. the local server, [`LOCAL_URL`] (`127.0.0.1:5432`, user `postgres`, trust auth);
//! 3. when the server binaries or `psql` are missing: installs PostgreSQL with `apt-get`
//!    (as root, else with `sudo`), see [`install_postgres`];
//! 4. as root: starts Debian's clusters on 5432 that are installed but down
//!    (`pg_ctlcluster`), and tries the local server again;
//! 5. the private cluster in `SAAS_PG_DIR` (default [`DEFAULT_PRIVATE_DIR`]) on port
//!    `SAAS_PG_PORT` (default [`DEFAULT_PRIVATE_PORT`]): made with `initdb` and started when it
//!    does not answer, trust auth on 127.0.0.1 only, fsync off (made for tests, never for
//!    data you want to keep), run as the `postgres` user when this process is root (PostgreSQL
//!    refuses root). It keeps running afterwards, so the next run reuses it.
//!
//! `SAAS_PG_SKIP_LOCAL=1` skips steps 2 and 4 (the server on 5432 is neither used nor
//! started): for testing the private cluster on a machine that has a local server, or for
//! keeping tests off it.
#![warn(missing_docs)]

mod cluster;
mod probe;

use std::path::{Path, PathBuf};

pub use cluster::{
    PACKAGES, find_binaries, install_postgres, restart_cluster, start_cluster, start_cluster_with,
    start_replica, stop_cluster,
};
pub use probe::{PROBE_TIMEOUT, Probe, answers, probe, redact};

/// The URL of the local development server: `127.0.0.1:5432`, user `postgres`, trust auth.
pub const LOCAL_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// Where the private cluster lives unless `SAAS_PG_DIR` says otherwise.
pub const DEFAULT_PRIVATE_DIR: &str = "/var/tmp/saas-pg";

/// The port of the private cluster unless `SAAS_PG_PORT` says otherwise.
pub const DEFAULT_PRIVATE_PORT: u16 = 55432;

/// The URL of a cluster this crate starts on `port` (127.0.0.1, user `postgres`).
pub fn private_url(port: u16) -> String {
    format!("postgres://postgres@127.0.0.1:{port}/postgres")
}

/// Why no server could be had.
#[derive(Debug)]
#[non_exhaustive]
pub enum DevDbError {
    /// PostgreSQL's server binaries are not installed, and this process cannot install them.
    NoBinaries,
    /// Installing PostgreSQL with apt-get failed.
    Install(String),
    /// Starting a cluster failed.
    Start(String),
    /// An environment variable holds something unusable (`SAAS_PG_PORT=abc`).
    Config(String),
}

impl std::fmt::Display for DevDbError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::NoBinaries => f.write_str(
                "no PostgreSQL server binaries found (looked in /usr/lib/postgresql/*/bin and \
                 PATH); install them with `sudo apt-get install -y postgresql`, or set \
                 DATABASE_URL",
            ),
            Self::Install(e) => write!(f, "installing PostgreSQL with apt-get failed: {e}"),
            Self::Start(e) => write!(f, "starting a PostgreSQL cluster failed: {e}"),
            Self::Config(e) => f.write_str(e),
        }
    }
}

impl std::error::Error for DevDbError {}

/// Diagnostics go to stderr: stdout is the URL's (`ensure-postgres`).
pub(crate) fn log(message: &str) {
    eprintln!("ensure-postgres: {message}");
}

/// What to try, in the order of the [crate documentation](crate).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finder {
    /// URLs given by the environment, tried first: (variable, URL).
    pub urls: Vec<(String, String)>,
    /// Whether to use (and, as root, start) the local server on 5432.
    pub local: bool,
    /// The data directory of the private cluster.
    pub private_dir: PathBuf,
    /// The port of the private cluster.
    pub private_port: u16,
}

impl Finder {
    /// From `SAAS_TEST_DATABASE_URL`, `DATABASE_URL`, `SAAS_PG_SKIP_LOCAL`, `SAAS_PG_DIR` and
    /// `SAAS_PG_PORT`.
    pub fn from_env() -> Result<Self, DevDbError> {
        Self::from_vars(|name| std::env::var(name).ok())
    }

    /// Like [`Finder::from_env`], reading variables through `var`. Empty means unset.
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Result<Self, DevDbError> {
        let var = |name: &str| var(name).filter(|v| !v.is_empty());
        let urls = ["SAAS_TEST_DATABASE_URL", "DATABASE_URL"]
            .into_iter()
            .filter_map(|name| Some((name.to_string(), var(name)?)))
            .collect();
        let private_port = match var("SAAS_PG_PORT") {
            None => DEFAULT_PRIVATE_PORT,
            Some(p) => p.parse().ok().filter(|p| *p != 0).ok_or_else(|| {
                DevDbError::Config(format!("SAAS_PG_PORT={p} is not a port number"))
            })?,
        };
        Ok(Self {
            urls,
            local: var("SAAS_PG_SKIP_LOCAL").is_none_or(|v| v == "0"),
            private_dir: var("SAAS_PG_DIR").map_or_else(|| DEFAULT_PRIVATE_DIR.into(), Into::into),
            private_port,
        })
    }

    /// Without the URLs of the environment (an application asks for its development database
    /// only when `DATABASE_URL` is unset).
    pub fn without_urls(mut self) -> Self {
        self.urls.clear();
        self
    }

    /// The URL of a server that answers, found, started or installed as the crate
    /// documentation says. Blocks (starting a cluster takes seconds, installing minutes).
    pub fn find(&self) -> Result<String, DevDbError> {
        self.find_on(&mut System)
    }

    fn find_on(&self, machine: &mut impl Machine) -> Result<String, DevDbError> {
        for (var, url) in &self.urls {
            match machine.probe(url) {
                Probe::Ready | Probe::Credentials => return Ok(url.clone()),
                Probe::Refused(why) | Probe::Unreachable(why) => log(&format!(
                    "{var} ({}) does not answer ({why}); trying the next server",
                    redact(url)
                )),
            }
        }
        if self.local && machine.probe(LOCAL_URL) == Probe::Ready {
            return Ok(LOCAL_URL.to_string());
        }
        if machine.needs_install() {
            machine.install()?;
        }
        if self.local && machine.start_down_clusters() && machine.probe(LOCAL_URL) == Probe::Ready {
            return Ok(LOCAL_URL.to_string());
        }
        let url = private_url(self.private_port);
        if machine.probe(&url) == Probe::Ready {
            return Ok(url);
        }
        machine.start_private(&self.private_dir, self.private_port)
    }
}

/// The side effects of [`Finder::find`], a fake in the tests of its order.
trait Machine {
    fn probe(&mut self, url: &str) -> Probe;
    fn needs_install(&mut self) -> bool;
    fn install(&mut self) -> Result<(), DevDbError>;
    /// Starts the down clusters on 5432; whether it could look for them.
    fn start_down_clusters(&mut self) -> bool;
    fn start_private(&mut self, dir: &Path, port: u16) -> Result<String, DevDbError>;
}

/// This machine.
struct System;

impl Machine for System {
    fn probe(&mut self, url: &str) -> Probe {
        probe(url, PROBE_TIMEOUT)
    }
    fn needs_install(&mut self) -> bool {
        cluster::needs_install()
    }
    fn install(&mut self) -> Result<(), DevDbError> {
        install_postgres()
    }
    fn start_down_clusters(&mut self) -> bool {
        cluster::start_down_clusters()
    }
    fn start_private(&mut self, dir: &Path, port: u16) -> Result<String, DevDbError> {
        cluster::start_private(dir, port)
    }
}

/// The server for tests and development, found per [`Finder::from_env`] (see the crate
/// documentation for the order). Blocks its thread while it starts or installs one.
pub fn ensure_server_blocking() -> Result<String, DevDbError> {
    Finder::from_env()?.find()
}

/// [`ensure_server_blocking`], for async callers (it blocks the calling task's thread: call
/// it once, as saas-testkit does).
pub async fn ensure_server() -> Result<String, DevDbError> {
    ensure_server_blocking()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    /// A scripted machine: which URLs answer, what is installed, and what happened.
    #[derive(Default)]
    struct Fake {
        ready: HashSet<String>,
        credentials: HashSet<String>,
        missing: bool,
        install_fails: bool,
        root: bool,
        /// Whether starting the down clusters brings 5432 up.
        down_local: bool,
        calls: Vec<String>,
    }

    impl Machine for Fake {
        fn probe(&mut self, url: &str) -> Probe {
            self.calls.push(format!("probe {url}"));
            if self.ready.contains(url) {
                Probe::Ready
            } else if self.credentials.contains(url) {
                Probe::Credentials
            } else {
                Probe::Unreachable("connection refused".into())
            }
        }
        fn needs_install(&mut self) -> bool {
            self.missing
        }
        fn install(&mut self) -> Result<(), DevDbError> {
            self.calls.push("install".into());
            if self.install_fails {
                return Err(DevDbError::NoBinaries);
            }
            self.missing = false;
            Ok(())
        }
        fn start_down_clusters(&mut self) -> bool {
            self.calls.push("start down clusters".into());
            if self.root && self.down_local {
                self.ready.insert(LOCAL_URL.into());
            }
            self.root
        }
        fn start_private(&mut self, dir: &Path, port: u16) -> Result<String, DevDbError> {
            self.calls
                .push(format!("start private {} {port}", dir.display()));
            Ok(private_url(port))
        }
    }

    fn finder(vars: &[(&str, &str)]) -> Finder {
        Finder::from_vars(|name| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
        })
        .unwrap()
    }

    const PRIVATE: &str = "postgres://postgres@127.0.0.1:55432/postgres";

    #[test]
    fn the_environment_sets_urls_dir_port_and_skipping_the_local_server() {
        let f = finder(&[]);
        assert_eq!(
            f,
            Finder {
                urls: vec![],
                local: true,
                private_dir: "/var/tmp/saas-pg".into(),
                private_port: 55432,
            }
        );
        let f = finder(&[
            ("DATABASE_URL", "postgres://b"),
            ("SAAS_TEST_DATABASE_URL", "postgres://a"),
            ("SAAS_PG_DIR", "/tmp/x"),
            ("SAAS_PG_PORT", "6000"),
            ("SAAS_PG_SKIP_LOCAL", "1"),
        ]);
        assert_eq!(
            f.urls,
            vec![
                (
                    "SAAS_TEST_DATABASE_URL".to_string(),
                    "postgres://a".to_string()
                ),
                ("DATABASE_URL".to_string(), "postgres://b".to_string()),
            ]
        );
        assert_eq!((f.local, f.private_port), (false, 6000));
        assert_eq!(f.private_dir, PathBuf::from("/tmp/x"));
        // Empty is unset (as `${VAR:-default}` in the old script); 0 does not skip.
        let f = finder(&[
            ("DATABASE_URL", ""),
            ("SAAS_PG_DIR", ""),
            ("SAAS_PG_SKIP_LOCAL", "0"),
        ]);
        assert!(f.urls.is_empty() && f.local);
        assert_eq!(f.private_dir, PathBuf::from(DEFAULT_PRIVATE_DIR));
        for bad in ["abc", "0", "70000"] {
            let err = Finder::from_vars(|n| (n == "SAAS_PG_PORT").then(|| bad.to_string()));
            assert!(matches!(err, Err(DevDbError::Config(_))), "{bad}");
        }
        assert!(
            without(finder(&[("DATABASE_URL", "postgres://b")]))
                .urls
                .is_empty()
        );
    }

    fn without(f: Finder) -> Finder {
        f.without_urls()
    }

    #[test]
    fn an_answering_environment_url_wins_before_the_local_server() {
        let mut m = Fake::default();
        m.ready.insert(LOCAL_URL.into());
        m.credentials.insert("postgres://app:pw@db/app".into());
        let f = finder(&[
            ("SAAS_TEST_DATABASE_URL", "postgres://gone:1/x"),
            ("DATABASE_URL", "postgres://app:pw@db/app"),
        ]);
        assert_eq!(f.find_on(&mut m).unwrap(), "postgres://app:pw@db/app");
        assert_eq!(
            m.calls,
            [
                "probe postgres://gone:1/x",
                "probe postgres://app:pw@db/app"
            ]
        );
    }

    #[test]
    fn a_url_that_does_not_answer_falls_through_to_the_local_server() {
        let mut m = Fake::default();
        m.ready.insert(LOCAL_URL.into());
        let f = finder(&[("DATABASE_URL", "postgres://nowhere:1/x")]);
        assert_eq!(f.find_on(&mut m).unwrap(), LOCAL_URL);
        assert_eq!(
            m.calls,
            [
                "probe postgres://nowhere:1/x",
                &format!("probe {LOCAL_URL}")
            ]
        );
    }

    #[test]
    fn the_local_server_needs_trust_auth() {
        // 5432 asking for a password is no use to the finder: on to the private cluster.
        let mut m = Fake::default();
        m.credentials.insert(LOCAL_URL.into());
        assert_eq!(finder(&[]).find_on(&mut m).unwrap(), PRIVATE);
    }

    #[test]
    fn missing_postgres_is_installed_then_a_down_cluster_started() {
        let mut m = Fake {
            missing: true,
            root: true,
            down_local: true,
            ..Fake::default()
        };
        assert_eq!(finder(&[]).find_on(&mut m).unwrap(), LOCAL_URL);
        let local = format!("probe {LOCAL_URL}");
        assert_eq!(m.calls, [&local, "install", "start down clusters", &local]);
    }

    #[test]
    fn without_root_the_private_cluster_is_started_on_its_one_port() {
        let mut m = Fake::default();
        assert_eq!(finder(&[]).find_on(&mut m).unwrap(), PRIVATE);
        let local = format!("probe {LOCAL_URL}");
        assert_eq!(
            m.calls,
            [
                local.as_str(),
                "start down clusters",
                &format!("probe {PRIVATE}"),
                "start private /var/tmp/saas-pg 55432"
            ]
        );
    }

    #[test]
    fn a_running_private_cluster_is_reused() {
        let mut m = Fake {
            root: true,
            ..Fake::default()
        };
        m.ready.insert(PRIVATE.into());
        assert_eq!(finder(&[]).find_on(&mut m).unwrap(), PRIVATE);
        assert!(!m.calls.iter().any(|c| c.starts_with("start private")));
    }

    #[test]
    fn skipping_the_local_server_never_probes_or_starts_it() {
        let mut m = Fake {
            root: true,
            down_local: true,
            ..Fake::default()
        };
        m.ready.insert(LOCAL_URL.into());
        let f = finder(&[("SAAS_PG_SKIP_LOCAL", "1"), ("SAAS_PG_PORT", "55999")]);
        let url = f.find_on(&mut m).unwrap();
        assert_eq!(url, private_url(55999));
        assert!(
            !m.calls
                .iter()
                .any(|c| c.contains(":5432/") || c == "start down clusters"),
            "{:?}",
            m.calls
        );
    }

    #[test]
    fn a_failed_install_is_the_error() {
        let mut m = Fake {
            missing: true,
            install_fails: true,
            ..Fake::default()
        };
        assert!(matches!(
            finder(&[]).find_on(&mut m),
            Err(DevDbError::NoBinaries)
        ));
        assert!(!m.calls.iter().any(|c| c.starts_with("start")));
    }

    #[test]
    fn urls_name_the_port() {
        assert_eq!(private_url(55432), PRIVATE);
        assert_eq!(private_url(5432), LOCAL_URL);
    }
}
