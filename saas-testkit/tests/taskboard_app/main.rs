//! The testkit's tests against the reference app, in one binary (one link instead of three).
//!
//! The crate's other test binaries stay apart on purpose: a process holds one application's
//! models (`#[derive(TenantScoped)]` registers a model for the whole process, and the
//! migrations and the isolation audit see every registered one), so `isolation_leaks` (its own
//! deliberately leaky model) cannot share a process with the reference app's; `pool` and
//! `cleanup` start child processes of their own binary and check what a whole process leaves
//! behind; `realistic_suite` is the 200-test suite whose wall time the guide reports.

mod attribute;
mod environments;
mod isolation_taskboard;
