#![doc = include_str!("../README.md")]

mod app;
mod db;
mod env;
mod server;
mod template;

pub use app::{Client, TestApp, TestResponse};
pub use db::TestDb;
pub use env::{Isolation, TestEnv, TestEnvBuilder};
pub use server::{server_url, sweep_stale, with_database};
pub use template::{TEMPLATE_ROLE, ensure_template, template_hash};

/// Paths used by `#[saas_testkit::test]`. Not public API.
#[doc(hidden)]
pub mod __private {
    pub use tokio;
}
