//! [`Settings`]: every environment variable the framework reads, read in one place. A
//! malformed value is an error naming the variable and what it should hold; nothing is
//! silently ignored (`SAAS_POOL_SIZE=abc` stops the start instead of leaving the default).

use std::time::Duration;

/// The variables, with what each holds: the reference the errors and the guide share.
pub const VARIABLES: &[(&str, &str)] = &[
    (
        "DATABASE_URL",
        "the PostgreSQL URL of the owner role (migrations, registry)",
    ),
    ("SAAS_REQUEST_ROLE", "the login role requests run as"),
    ("SAAS_REQUEST_PASSWORD", "its password"),
    (
        "SAAS_POOL_SIZE",
        "connections of the shared request pool (a positive integer)",
    ),
    (
        "SAAS_BOUND_TENANTS",
        "tenants with a connection bound to them (an integer; 0 behind PgBouncer)",
    ),
    (
        "SAAS_BOUND_POOL_SIZE",
        "the most connections one bound tenant may open (a positive integer)",
    ),
    (
        "SAAS_BOUND_CONNECTIONS",
        "the most connections all bound tenants hold together (a positive integer)",
    ),
    (
        "SAAS_SERVERS",
        "servers of database-tier tenants: `name=url,name=url`",
    ),
    ("SAAS_REPLICA_URLS", "read replicas: `url,url`"),
    (
        "SAAS_DATABASE_PREFIX",
        "the name prefix of tenant databases",
    ),
    (
        "SAAS_TENANT_CACHE_TTL_MS",
        "how long a resolved tenant is cached (milliseconds)",
    ),
    (
        "SAAS_MIGRATION_PARALLELISM",
        "tenants migrated at once (a positive integer)",
    ),
    (
        "SAAS_MIGRATE_ON_START",
        "`1`/`0`: migrate when the app starts (`0` when a job migrates)",
    ),
    (
        "SAAS_DANGEROUSLY_SKIP_ISOLATION_AUDIT",
        "`1` to start without the isolation audit",
    ),
    (
        "SAAS_SHUTDOWN_DELAY",
        "a number of seconds: the wait between SIGTERM and closing the listener",
    ),
    (
        "SAAS_DRAIN_TIMEOUT",
        "a number of seconds: how long in-flight requests may take to finish",
    ),
    (
        "SAAS_RELAY_DRAIN_TIMEOUT",
        "a number of seconds: how long the outbox relay may take to deliver on shutdown",
    ),
    (
        "SAAS_RATE_LIMITS",
        "per-plan rate limits: `plan=COUNT/PERIOD,burst=N;...`",
    ),
    (
        "SAAS_METRICS_TOKEN",
        "the bearer token that may scrape `/metrics`",
    ),
];

/// The framework's settings from the environment. Every field is `None` (or empty) when its
/// variable is unset or empty; [`Settings::from_env`] fails when any is malformed, naming each
/// malformed variable.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Settings {
    /// `DATABASE_URL`.
    pub database_url: Option<String>,
    /// `SAAS_REQUEST_ROLE`.
    pub request_role: Option<String>,
    /// `SAAS_REQUEST_PASSWORD`.
    pub request_password: Option<String>,
    /// `SAAS_POOL_SIZE`.
    pub pool_size: Option<u32>,
    /// `SAAS_BOUND_TENANTS`.
    pub bound_tenants: Option<usize>,
    /// `SAAS_BOUND_POOL_SIZE`.
    pub bound_pool_size: Option<u32>,
    /// `SAAS_BOUND_CONNECTIONS`.
    pub bound_connections: Option<u32>,
    /// `SAAS_SERVERS`, in order.
    pub servers: Vec<(String, String)>,
    /// `SAAS_REPLICA_URLS`, in order.
    pub replica_urls: Vec<String>,
    /// `SAAS_DATABASE_PREFIX`.
    pub database_prefix: Option<String>,
    /// `SAAS_TENANT_CACHE_TTL_MS`.
    pub tenant_cache_ttl: Option<Duration>,
    /// `SAAS_MIGRATION_PARALLELISM`.
    pub migration_parallelism: Option<usize>,
    /// `SAAS_MIGRATE_ON_START`.
    pub migrate_on_start: Option<bool>,
    /// `SAAS_DANGEROUSLY_SKIP_ISOLATION_AUDIT`.
    pub skip_isolation_audit: Option<bool>,
    /// `SAAS_SHUTDOWN_DELAY`.
    pub shutdown_delay: Option<Duration>,
    /// `SAAS_DRAIN_TIMEOUT`.
    pub drain_timeout: Option<Duration>,
    /// `SAAS_RELAY_DRAIN_TIMEOUT`.
    pub relay_drain_timeout: Option<Duration>,
    /// `SAAS_RATE_LIMITS`, as written (parsed by `RateLimits`, which names it in its errors).
    pub rate_limits: Option<String>,
    /// `SAAS_METRICS_TOKEN`.
    pub metrics_token: Option<String>,
}

impl Settings {
    /// Reads the process environment.
    pub fn from_env() -> crate::Result<Settings> {
        Settings::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the variables through `lookup` (the environment, or a map in tests). Every
    /// malformed variable is reported, each with its name, its value and what it should be.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> crate::Result<Settings> {
        let reader = Reader {
            lookup: &lookup,
            problems: Default::default(),
        };
        let var = |name: &str| reader.var(name);
        fn positive<T: std::str::FromStr + PartialOrd + Default>(v: &str) -> Option<T> {
            v.parse::<T>().ok().filter(|n| *n > T::default())
        }
        let servers = reader.parsed("SAAS_SERVERS", |v| {
            v.split(',')
                .map(str::trim)
                .filter(|e| !e.is_empty())
                .map(|e| {
                    let (name, url) = e.split_once('=')?;
                    let (name, url) = (name.trim(), url.trim());
                    (!name.is_empty() && !url.is_empty())
                        .then(|| (name.to_string(), url.to_string()))
                })
                .collect::<Option<Vec<_>>>()
        });
        let settings = Settings {
            database_url: var("DATABASE_URL"),
            request_role: var("SAAS_REQUEST_ROLE"),
            // A password is taken as written: surrounding spaces may be part of it.
            request_password: lookup("SAAS_REQUEST_PASSWORD").filter(|v| !v.trim().is_empty()),
            pool_size: reader.parsed("SAAS_POOL_SIZE", positive::<u32>),
            bound_tenants: reader.parsed("SAAS_BOUND_TENANTS", |v| v.parse::<usize>().ok()),
            bound_pool_size: reader.parsed("SAAS_BOUND_POOL_SIZE", positive::<u32>),
            bound_connections: reader.parsed("SAAS_BOUND_CONNECTIONS", positive::<u32>),
            servers: servers.unwrap_or_default(),
            replica_urls: var("SAAS_REPLICA_URLS")
                .map(|v| {
                    v.split(',')
                        .map(str::trim)
                        .filter(|u| !u.is_empty())
                        .map(str::to_string)
                        .collect()
                })
                .unwrap_or_default(),
            database_prefix: var("SAAS_DATABASE_PREFIX"),
            tenant_cache_ttl: reader.parsed("SAAS_TENANT_CACHE_TTL_MS", |v| {
                v.parse::<u64>().ok().map(Duration::from_millis)
            }),
            migration_parallelism: reader.parsed("SAAS_MIGRATION_PARALLELISM", positive::<usize>),
            migrate_on_start: reader.parsed("SAAS_MIGRATE_ON_START", parse_flag),
            skip_isolation_audit: reader
                .parsed("SAAS_DANGEROUSLY_SKIP_ISOLATION_AUDIT", parse_flag),
            shutdown_delay: reader.parsed("SAAS_SHUTDOWN_DELAY", parse_seconds),
            drain_timeout: reader.parsed("SAAS_DRAIN_TIMEOUT", parse_seconds),
            relay_drain_timeout: reader.parsed("SAAS_RELAY_DRAIN_TIMEOUT", parse_seconds),
            rate_limits: var("SAAS_RATE_LIMITS"),
            metrics_token: var("SAAS_METRICS_TOKEN"),
        };
        let problems = reader.problems.into_inner();
        if let Some((var, _)) = problems.first() {
            let reason = problems
                .iter()
                .map(|(_, problem)| problem.as_str())
                .collect::<Vec<_>>()
                .join("; ");
            return Err(crate::Error::config(var.clone(), reason));
        }
        Ok(settings)
    }
}

/// Reads variables through a lookup and collects what does not parse.
struct Reader<'a> {
    lookup: &'a dyn Fn(&str) -> Option<String>,
    /// The variable and what is wrong with it, in the order read.
    problems: std::cell::RefCell<Vec<(String, String)>>,
}

impl Reader<'_> {
    /// The trimmed value of `name`; unset and blank are the same.
    fn var(&self, name: &str) -> Option<String> {
        (self.lookup)(name)
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
    }

    /// The value of `name` parsed once: a value that does not parse is a problem naming the
    /// variable, what it holds and what it should be, and the field stays unset.
    fn parsed<T>(&self, name: &str, parse: impl Fn(&str) -> Option<T>) -> Option<T> {
        let value = self.var(name)?;
        let result = parse(&value);
        if result.is_none() {
            let holds = VARIABLES
                .iter()
                .find(|(n, _)| *n == name)
                .map_or("", |(_, holds)| holds);
            self.problems.borrow_mut().push((
                name.to_string(),
                format!("{name}={value:?} is not valid: it holds {holds}"),
            ));
        }
        result
    }
}

fn parse_flag(value: &str) -> Option<bool> {
    match value.to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Some(true),
        "0" | "false" | "no" | "off" => Some(false),
        _ => None,
    }
}

fn parse_seconds(value: &str) -> Option<Duration> {
    value
        .parse::<f64>()
        .ok()
        .filter(|s| s.is_finite() && *s >= 0.0)
        .map(Duration::from_secs_f64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn read(vars: &[(&str, &str)]) -> crate::Result<Settings> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Settings::from_lookup(|name| map.get(name).cloned())
    }

    #[test]
    fn every_variable_is_read() {
        let settings = read(&[
            ("DATABASE_URL", " postgres://owner@db/app "),
            ("SAAS_REQUEST_ROLE", "app_requests"),
            ("SAAS_REQUEST_PASSWORD", "s3cret "),
            ("SAAS_POOL_SIZE", "16"),
            ("SAAS_BOUND_TENANTS", "0"),
            ("SAAS_BOUND_POOL_SIZE", "3"),
            ("SAAS_BOUND_CONNECTIONS", "48"),
            ("SAAS_SERVERS", "east=postgres://e/x, west = postgres://w/x"),
            ("SAAS_REPLICA_URLS", "postgres://r1/x,,postgres://r2/x"),
            ("SAAS_DATABASE_PREFIX", "t_"),
            ("SAAS_TENANT_CACHE_TTL_MS", "250"),
            ("SAAS_MIGRATION_PARALLELISM", "8"),
            ("SAAS_MIGRATE_ON_START", "off"),
            ("SAAS_DANGEROUSLY_SKIP_ISOLATION_AUDIT", "0"),
            ("SAAS_SHUTDOWN_DELAY", "5"),
            ("SAAS_DRAIN_TIMEOUT", "0.5"),
            ("SAAS_RELAY_DRAIN_TIMEOUT", "10"),
            ("SAAS_RATE_LIMITS", "default=600/m"),
            ("SAAS_METRICS_TOKEN", "scrape"),
        ])
        .unwrap();
        assert_eq!(
            settings.database_url.as_deref(),
            Some("postgres://owner@db/app")
        );
        assert_eq!(settings.request_password.as_deref(), Some("s3cret "));
        assert_eq!(settings.pool_size, Some(16));
        assert_eq!(settings.bound_tenants, Some(0));
        assert_eq!(settings.bound_pool_size, Some(3));
        assert_eq!(settings.bound_connections, Some(48));
        assert_eq!(
            settings.servers,
            [
                ("east".to_string(), "postgres://e/x".to_string()),
                ("west".to_string(), "postgres://w/x".to_string())
            ]
        );
        assert_eq!(
            settings.replica_urls,
            ["postgres://r1/x", "postgres://r2/x"]
        );
        assert_eq!(settings.tenant_cache_ttl, Some(Duration::from_millis(250)));
        assert_eq!(settings.migration_parallelism, Some(8));
        assert_eq!(settings.migrate_on_start, Some(false));
        assert_eq!(settings.skip_isolation_audit, Some(false));
        assert_eq!(settings.drain_timeout, Some(Duration::from_millis(500)));
        assert_eq!(settings.rate_limits.as_deref(), Some("default=600/m"));
        assert_eq!(read(&[]).unwrap(), Settings::default());
        assert_eq!(
            read(&[("SAAS_POOL_SIZE", "  ")]).unwrap(),
            Settings::default()
        );
    }

    #[test]
    fn the_deployment_guide_lists_every_variable() {
        let guide = include_str!("../../docs/src/deploying.md");
        for (name, _) in VARIABLES {
            assert!(
                guide.contains(&format!("`{name}`")),
                "deploying.md does not list {name}"
            );
        }
    }

    #[test]
    fn the_error_is_a_config_error_naming_the_variable() {
        match read(&[("SAAS_POOL_SIZE", "abc")]) {
            Err(crate::Error::Config { var, reason }) => {
                assert_eq!(var.as_deref(), Some("SAAS_POOL_SIZE"));
                assert!(reason.starts_with("SAAS_POOL_SIZE=\"abc\""), "{reason}");
            }
            other => panic!("expected a configuration error, got {other:?}"),
        }
    }

    #[test]
    fn a_malformed_value_is_an_error_naming_every_bad_variable() {
        let err = read(&[
            ("SAAS_POOL_SIZE", "abc"),
            ("SAAS_MIGRATE_ON_START", "maybe"),
            ("SAAS_SERVERS", "east"),
            ("SAAS_DRAIN_TIMEOUT", "-1"),
            ("SAAS_BOUND_TENANTS", "4"),
        ])
        .unwrap_err()
        .to_string();
        for expected in [
            "SAAS_POOL_SIZE=\"abc\" is not valid: it holds connections of the shared request pool",
            "SAAS_MIGRATE_ON_START=\"maybe\"",
            "SAAS_SERVERS=\"east\" is not valid: it holds servers of database-tier tenants: `name=url,name=url`",
            "SAAS_DRAIN_TIMEOUT=\"-1\"",
        ] {
            assert!(err.contains(expected), "missing {expected:?} in {err}");
        }
        assert!(!err.contains("SAAS_BOUND_TENANTS"), "{err}");
        assert!(
            read(&[("SAAS_POOL_SIZE", "0")]).is_err(),
            "a pool of 0 connections"
        );
        assert!(read(&[("SAAS_MIGRATION_PARALLELISM", "-2")]).is_err());
        assert!(read(&[("SAAS_TENANT_CACHE_TTL_MS", "1.5")]).is_err());
    }
}
