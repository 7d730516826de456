//! The versioned router's options: how a request chooses its version, the clock, the
//! documents' title, and the limits of version changes.

use std::sync::Arc;

use http::HeaderName;

use super::ApiVersion;
use super::clock::{Clock, SystemClock};

/// How a request chooses its version.
#[derive(Debug, Clone)]
pub enum Negotiation {
    /// `/v1/...`, `/v2/...` (the default).
    PathPrefix,
    /// A request header (`Api-Version: 2`); requests without it get `default`. Responses
    /// carry `Vary: <header>` so caches never serve one version's response to another.
    Header {
        /// The header's name.
        name: HeaderName,
        /// The version of requests that name none.
        default: ApiVersion,
    },
}

/// What a document says about the API as a whole.
#[derive(Debug, Clone)]
pub struct DocsConfig {
    /// `info.title`.
    pub title: String,
    /// `info.description`.
    pub description: Option<String>,
    /// Declare the bearer (JWT) security scheme and require it on every operation.
    pub bearer: bool,
}

/// The former name of [`DocsConfig`] (configuration types are named `*Config`; `*Options` are
/// the settings of one call, like `MoveOptions`).
#[deprecated(note = "renamed `DocsConfig`")]
pub type DocSettings = DocsConfig;

impl Default for DocsConfig {
    fn default() -> Self {
        DocsConfig {
            title: "API".into(),
            description: None,
            bearer: true,
        }
    }
}

/// Settings of the versioned router.
#[derive(Debug, Clone)]
pub struct VersioningConfig {
    /// How versions are chosen.
    pub negotiation: Negotiation,
    /// The clock deprecation and sunset are judged by.
    pub clock: Arc<dyn Clock>,
    /// Answer 410 Gone once a version's (or endpoint's) sunset has passed (default on).
    pub gone_after_sunset: bool,
    /// What the documents say about the API.
    pub docs: DocsConfig,
    /// The largest body a version change buffers to convert (default 1 MiB). Bodies that no
    /// change touches are never buffered, whatever their size. An older client's request
    /// body that must be upgraded and is larger gets `413 Payload Too Large`; a response that
    /// must be downgraded and is larger is a `500` (logged): raise the limit or paginate.
    pub max_transform_body: usize,
}

/// The former name of [`VersioningConfig`] (configuration types are named `*Config`; `*Options` are
/// the settings of one call, like `MoveOptions`).
#[deprecated(note = "renamed `VersioningConfig`")]
pub type VersioningOptions = VersioningConfig;

impl Default for VersioningConfig {
    fn default() -> Self {
        VersioningConfig {
            negotiation: Negotiation::PathPrefix,
            clock: Arc::new(SystemClock),
            gone_after_sunset: true,
            docs: DocsConfig::default(),
            max_transform_body: 1024 * 1024,
        }
    }
}
