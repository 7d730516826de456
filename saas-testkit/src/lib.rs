#![doc = include_str!("../README.md")]
#![warn(missing_docs)]

mod app;
pub mod citus;
mod db;
mod env;
mod isolation;
pub mod pool;
mod reap;
mod server;
mod template;
mod wait;

pub use app::{Client, TestApp, TestResponse};
pub use db::TestDb;
pub use env::{Isolation, TestEnv, TestEnvBuilder};
pub use isolation::{
    IsolationCheck, IsolationReport, Violation, assert_isolated, assert_isolated_interleaved,
};
pub use pool::{CloneStrategy, DbPool, PoolOptions, PoolStats, ResetCheck};
pub use reap::{TestDatabase, clean as clean_test_databases, list as list_test_databases};
pub use server::{host_tag, server_url, sweep_stale, with_database};
pub use template::{TEMPLATE_ROLE, ensure_template, template_hash};
pub use wait::wait_until;

/// Marks an `async fn name(env: TestEnv)` as a test with a ready environment:
///
/// ```no_run
/// #[saas_testkit::test]
/// async fn tenants_start_empty(env: saas_testkit::TestEnv) {
///     let acme = env.tenant("acme").await;
///     let mut tx = env.tx(&acme);
///     let n: i64 = sqlx::query_scalar("SELECT count(*) FROM saas.tenants")
///         .fetch_one(env.tenancy().owner_pool())
///         .await
///         .unwrap();
///     assert!(n >= 1);
///     let _ = tx.conn().await.unwrap();
/// }
/// ```
pub use saas_macros::testkit_test as test;

/// A TCP port on 127.0.0.1 that nothing listens on right now, for a server a test starts
/// (a throwaway PostgreSQL cluster, the app's own listener).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .expect("binding 127.0.0.1:0")
}

/// Paths used by `#[saas_testkit::test]`. Not public API.
#[doc(hidden)]
pub mod __private {
    pub use tokio;
}
