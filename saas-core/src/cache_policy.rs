//! What an endpoint declares about the caching of its responses (`#[endpoint(.., cache = ..)]`)
//! and the mark a handler's per-tenant edge opt-in leaves on its response. A leaf both the
//! versioned router (which holds the declarations) and the HTTP cache layer (which writes the
//! headers) build on.

use axum::response::Response;
use http::HeaderValue;
use http::header::CACHE_CONTROL;

/// How caches may keep an endpoint's responses, declared with `cache = ..` in `#[endpoint]`
/// and checked when the app is built (and, inside `routes!`, at compile time).
///
/// Every versioned endpoint answers for a tenant, so none may be [`CachePolicy::Public`]: the
/// check refuses it. Per-tenant shared caching is [`CachePolicy::Edge`], where the handler
/// returns [`EdgeCached`](crate::http::edge::EdgeCached) with the tenant's surrogate key;
/// an endpoint that does not declare it has an `EdgeCached` answer sent `private` (and the
/// mistake logged), so a shared cache only ever keeps what a route declared.
///
/// | declared | `Cache-Control` when the handler sets none |
/// |---|---|
/// | `cache = private` (the default) | `private, no-cache` (revalidate with the `ETag`) |
/// | `cache = private(max_age = 60)` | `private, max-age=60` |
/// | `cache = no_store` | `no-store` |
/// | `cache = edge` | `private, no-cache`, or `max-age=0, s-maxage=N` + `Surrogate-Key` when the handler returns `EdgeCached` |
/// | `cache = public(max_age = N)` | refused: a tenant's response is never public |
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CachePolicy {
    /// Only the client's own cache keeps it, and revalidates before each use (the default).
    #[default]
    Private,
    /// Only the client's own cache keeps it, for this many seconds without asking.
    PrivateMaxAge(u32),
    /// No cache keeps it (secrets, one-time values).
    NoStore,
    /// The handler may opt a response into per-tenant shared caching (`EdgeCached`).
    Edge,
    /// Any cache keeps it for this many seconds, for everyone: never valid on a tenant route.
    Public(u32),
}

impl CachePolicy {
    /// What is wrong with declaring this policy on an endpoint that serves `GET` (`get`) or
    /// another method, if anything. Every versioned endpoint answers for a tenant.
    pub const fn problem(&self, get: bool) -> Option<&'static str> {
        if let CachePolicy::Public(_) = self {
            return Some(
                "`cache = public(..)` on a versioned endpoint: its responses belong to a tenant, \
                 and a public one would be kept by shared caches and handed to other tenants; \
                 declare `cache = edge` and return `EdgeCached` for per-tenant shared caching",
            );
        }
        if !get && !matches!(self, CachePolicy::Private) {
            return Some(
                "`cache = ..` on an endpoint that is not a GET: only GET responses are cached; \
                 remove the key",
            );
        }
        None
    }

    /// The policy as `#[endpoint]` spells it, for messages.
    pub fn declaration(&self) -> String {
        match self {
            CachePolicy::Private => "cache = private".into(),
            CachePolicy::PrivateMaxAge(n) => format!("cache = private(max_age = {n})"),
            CachePolicy::NoStore => "cache = no_store".into(),
            CachePolicy::Edge => "cache = edge".into(),
            CachePolicy::Public(n) => format!("cache = public(max_age = {n})"),
        }
    }

    /// Applies the declaration to the response of endpoint `endpoint`: an edge opt-in the
    /// route did not declare is taken back (and logged), and the declared `Cache-Control`
    /// goes on a response whose handler set none. The HTTP cache layer, outside, does the
    /// rest (the default `private, no-cache`, validators, the edge headers).
    pub(crate) fn apply(self, response: &mut Response, endpoint: &str) {
        if self == CachePolicy::Edge {
            return;
        }
        if response.extensions().get::<EdgeOptIn>().is_some() {
            response.extensions_mut().remove::<EdgeOptIn>();
            tracing::error!(
                endpoint,
                declared = %self.declaration(),
                "the handler opted a response into edge caching (EdgeCached) but the endpoint \
                 does not declare `cache = edge`: it is sent private"
            );
        }
        if response.headers().contains_key(CACHE_CONTROL) {
            return;
        }
        let value = match self {
            CachePolicy::NoStore => HeaderValue::from_static("no-store"),
            CachePolicy::PrivateMaxAge(n) => {
                match HeaderValue::from_str(&format!("private, max-age={n}")) {
                    Ok(value) => value,
                    Err(_) => return,
                }
            }
            CachePolicy::Private | CachePolicy::Edge | CachePolicy::Public(_) => return,
        };
        response.headers_mut().insert(CACHE_CONTROL, value);
    }
}

/// What `EdgeCached` asks of the cache layer, as a response extension.
#[derive(Debug, Clone)]
pub(crate) struct EdgeOptIn {
    pub(crate) s_maxage: u32,
    pub(crate) keys: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::response::IntoResponse;
    use http::StatusCode;

    #[test]
    fn public_is_refused_everywhere_and_other_policies_only_off_get() {
        assert!(CachePolicy::Public(60).problem(true).is_some());
        for policy in [
            CachePolicy::Private,
            CachePolicy::PrivateMaxAge(5),
            CachePolicy::NoStore,
            CachePolicy::Edge,
        ] {
            assert_eq!(policy.problem(true), None, "{policy:?}");
            assert_eq!(
                policy.problem(false).is_some(),
                policy != CachePolicy::Private,
                "{policy:?}"
            );
        }
    }

    #[test]
    fn an_undeclared_edge_opt_in_is_taken_back() {
        for policy in [
            CachePolicy::Private,
            CachePolicy::NoStore,
            CachePolicy::PrivateMaxAge(9),
        ] {
            let mut response = StatusCode::OK.into_response();
            response.extensions_mut().insert(EdgeOptIn {
                s_maxage: 60,
                keys: vec![],
            });
            policy.apply(&mut response, "get_x");
            assert!(response.extensions().get::<EdgeOptIn>().is_none());
        }
        let mut response = StatusCode::OK.into_response();
        response.extensions_mut().insert(EdgeOptIn {
            s_maxage: 60,
            keys: vec![],
        });
        CachePolicy::Edge.apply(&mut response, "get_x");
        assert!(response.extensions().get::<EdgeOptIn>().is_some());
    }

    #[test]
    fn the_declared_header_goes_only_where_the_handler_set_none() {
        let mut response = StatusCode::OK.into_response();
        CachePolicy::NoStore.apply(&mut response, "x");
        assert_eq!(response.headers()[CACHE_CONTROL], "no-store");
        let mut response = StatusCode::OK.into_response();
        CachePolicy::PrivateMaxAge(30).apply(&mut response, "x");
        assert_eq!(response.headers()[CACHE_CONTROL], "private, max-age=30");
        let mut response = ([(CACHE_CONTROL, "no-store")], "x").into_response();
        CachePolicy::PrivateMaxAge(30).apply(&mut response, "x");
        assert_eq!(response.headers()[CACHE_CONTROL], "no-store");
        let mut response = StatusCode::OK.into_response();
        CachePolicy::Private.apply(&mut response, "x");
        assert!(response.headers().get(CACHE_CONTROL).is_none());
    }
}
