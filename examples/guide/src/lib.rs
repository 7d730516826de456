//! The guide's code is the code that runs: every Rust block of `docs/src/*.md` and of the
//! README is compiled here as a doctest (`cargo test -p guide --doc`). Lines starting with
//! `# ` are compiled but hidden by mdBook; blocks marked `ignore` are included from files
//! that are compiled elsewhere (`{{#include ..}}`).

/// `README.md`
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
pub struct Readme;

macro_rules! chapters {
    ($($name:ident => $file:literal),* $(,)?) => {
        $(
            #[cfg(doctest)]
            #[doc = include_str!(concat!("../../../docs/src/", $file))]
            pub struct $name;
        )*
    };
}

chapters! {
    Introduction => "introduction.md",
    Quickstart => "quickstart.md",
    Tenancy => "tenancy.md",
    Models => "models.md",
    Versioning => "versioning.md",
    Openapi => "openapi.md",
    Caching => "caching.md",
    Edge => "edge.md",
    Events => "events.md",
    Testing => "testing.md",
    ReadReplicas => "read-replicas.md",
    Operations => "operations.md",
    Telemetry => "telemetry.md",
    Deploying => "deploying.md",
    ScalingOut => "scaling-out.md",
    Pgbouncer => "pgbouncer.md",
    Performance => "performance.md",
    Security => "security.md",
    Architecture => "architecture.md",
}
