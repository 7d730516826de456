//! API versions: declare which versions each handler lives in; the framework mounts it under
//! each, marks deprecated versions with RFC 9745 / RFC 8594 headers, answers 410 after the
//! sunset, serves older shapes through version changes, and builds one OpenAPI document per
//! version (see [`crate::openapi`]).

pub mod changes;
pub mod clock;
mod created;
mod decl;
pub mod headers;
mod options;
pub mod router;
mod version;

pub use crate::cache_policy::CachePolicy;
pub use clock::Clock;
pub use created::Created;
pub use decl::{
    Endpoint, EndpointDecl, EndpointEntry, Successor, VersionChange, VersionDecl, VersionSet,
    assert_endpoint,
};
#[allow(deprecated)]
pub use options::{DocSettings, VersioningOptions};
pub use options::{DocsConfig, Negotiation, VersioningConfig};
pub use router::VersionedApi;
pub use version::ApiVersion;

/// The versioned API of an application: its versions and its endpoints. Built by `routes!`.
#[derive(Debug, Clone)]
pub struct Api {
    /// The declared versions.
    pub versions: VersionSet,
    /// Every endpoint.
    pub endpoints: Vec<EndpointEntry>,
}

impl Api {
    /// An API from its versions and endpoints (what `routes!` expands to).
    pub fn new(versions: VersionSet, endpoints: Vec<EndpointEntry>) -> Api {
        Api {
            versions,
            endpoints,
        }
    }
}
