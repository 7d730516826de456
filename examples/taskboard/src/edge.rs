//! Edge caching of project reads, when the app runs behind an edge that it purges
//! (`TASKBOARD_EDGE_PURGE_URL`, see `deploy/edge/`). Off by default: without purges, a shared
//! cache would serve a project as it was before a write, so tenant responses stay `private`.

use std::sync::OnceLock;

use axum::response::{IntoResponse, Response};
use saas_core::http::edge::EdgeCached;

static EDGE_TTL: OnceLock<u32> = OnceLock::new();

/// Lets the edge keep opted-in reads for `ttl` seconds (once per process; purges from domain
/// events keep them fresh).
pub fn enable(ttl: u32) {
    let _ = EDGE_TTL.set(ttl);
}

/// `response`, opted into per-tenant edge caching under `keys` when [`enable`]d.
pub fn cached(response: impl IntoResponse, keys: &[String]) -> Response {
    match EDGE_TTL.get() {
        Some(&ttl) => keys
            .iter()
            .fold(EdgeCached::new(response, ttl), |cached, key| {
                cached.key(key.clone())
            })
            .into_response(),
        None => response.into_response(),
    }
}
