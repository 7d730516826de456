#![doc = include_str!("../README.md")]

/// The output of progenitor for `openapi-3.0/v2.json`, written by `build.rs`.
#[allow(
    // Progenitor puts the `4XX` arm (the document's `default`, see build.rs) before the
    // explicit 4xx codes; every arm decodes the same `types::Problem`, so nothing changes.
    unreachable_patterns,
)]
mod generated {
    include!(concat!(env!("OUT_DIR"), "/taskboard_v2.rs"));
}

pub use generated::*;
