//! saas-core's integration tests, in one binary: one link instead of one per file. Each
//! module is one area (tenancy over HTTP, row-level security, events, moves, ...); `common`
//! holds the fixture model and the harness they share.
//!
//! Two stay binaries of their own, because they set process-wide state the others would see:
//! `tests/telemetry.rs` installs a global tracing subscriber to capture spans, and
//! `tests/versioning.rs` declares version changes, which register process-wide (like an
//! application's) and would then be checked against every other module's API.

mod common;

mod audit;
mod cache;
#[cfg(feature = "redis")]
mod cache_redis;
mod citus;
mod citus_dedicated;
mod conditional;
mod edge;
mod events;
#[cfg(feature = "nats")]
mod events_nats;
mod events_restart;
mod health;
mod http;
mod models;
mod move_failures;
mod moves;
mod ratelimit;
#[cfg(feature = "redis")]
mod ratelimit_redis;
mod read_only;
mod replicas;
mod rls;
mod role_names;
mod tiers;
