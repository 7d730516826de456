//! The taskboard's integration tests, in one binary (one link instead of one per file).
//! Each module is one area of the contract; `common` is what they share.

mod common;

mod audit;
mod caching;
mod cli;
mod errors;
mod lifecycle;
mod metrics;
mod subdomains;
mod tiers;
mod v1_deprecated;
mod v2_projects;
mod web;
