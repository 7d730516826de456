//! Shared caches (a CDN, Varnish) in front of tenant routes: only where a handler opts in, and
//! always per tenant.
//!
//! A tenant response is `private` by default ([`super::cache`]). A handler whose answer may be
//! kept by a shared cache returns [`EdgeCached`]: the cache layer then sends
//! `Cache-Control: max-age=0, s-maxage=N` (browsers revalidate with the `ETag`, the edge keeps
//! it `N` seconds), `Surrogate-Key: tenant-<id> <keys…>` (the tenant's key first, so one purge
//! drops a tenant's entries, and a key per resource for targeted purges) and keeps
//! `Authorization` in `Vary` (an edge that keys on the credential, or on the tenant it names,
//! never hands one tenant's entry to another).
//!
//! Every other tenant response that carries `public` or `s-maxage` (set by a handler or a
//! layer by mistake) has its `Cache-Control` replaced by `private, no-cache` and the mistake
//! logged as an error: a tenant's data never reaches a shared cache without the opt-in and the
//! tenant's surrogate key.

use axum::response::{IntoResponse, Response};
use http::header::CACHE_CONTROL;
use http::{HeaderMap, HeaderName, HeaderValue};

use super::cache::TENANT_CACHE_CONTROL;
use crate::cache_policy::EdgeOptIn;
use crate::tenant_id::TenantId;

/// The header that names a response's surrogate keys (Fastly, Varnish with `xkey`).
pub const SURROGATE_KEY: HeaderName = HeaderName::from_static("surrogate-key");

/// A tenant response a shared cache may keep for `s_maxage` seconds, under the tenant's
/// surrogate key and the resource keys given (see the module).
///
/// ```
/// use saas_core::http::edge::EdgeCached;
/// use saas_core::prelude::*;
///
/// #[derive(serde::Serialize)]
/// struct ProjectBody { id: Uuid, name: String }
///
/// async fn get_project(Path(id): Path<Uuid>) -> ApiResult<EdgeCached<Json<ProjectBody>>> {
///     let body = ProjectBody { id, name: "Launch".into() };
///     Ok(EdgeCached::new(Json(body), 60).key(format!("project-{id}")))
/// }
/// ```
#[derive(Debug, Clone)]
pub struct EdgeCached<R> {
    inner: R,
    opt_in: EdgeOptIn,
}

impl<R> EdgeCached<R> {
    /// `inner`, which a shared cache may keep for `s_maxage` seconds.
    pub fn new(inner: R, s_maxage: u32) -> Self {
        EdgeCached {
            inner,
            opt_in: EdgeOptIn {
                s_maxage,
                keys: Vec::new(),
            },
        }
    }

    /// Adds a surrogate key (`project-<id>`) that a purge can name. Keys are tokens: one
    /// with whitespace or a control character is dropped (and logged).
    pub fn key(mut self, key: impl Into<String>) -> Self {
        let key = key.into();
        if !key.is_empty() && key.bytes().all(|b| b.is_ascii_graphic()) {
            self.opt_in.keys.push(key);
        } else {
            tracing::warn!(key = %key.escape_debug(), "a surrogate key that is not a token: dropped");
        }
        self
    }
}

/// Whether `key` is a surrogate key a purge can name: letters, digits and `-_.:` (so an
/// edge can match it inside a pattern without escaping; [`EdgeCached::key`] is looser and
/// keeps any token, which a purge then cannot name).
pub fn is_key(key: &str) -> bool {
    !key.is_empty()
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b))
}

impl<R: IntoResponse> IntoResponse for EdgeCached<R> {
    fn into_response(self) -> Response {
        let mut response = self.inner.into_response();
        response.extensions_mut().insert(self.opt_in);
        response
    }
}

/// The shared-cache headers of a tenant response: the opt-in's for a success that asked for
/// them, else no `public` and no `s-maxage` (see the module). Runs before the private
/// defaults, which leave a `Cache-Control` set here alone.
pub(crate) fn shared_cache_headers(response: &mut Response, tenant: TenantId) {
    let opt_in = response.extensions_mut().remove::<EdgeOptIn>();
    let success = response.status().is_success();
    match opt_in {
        Some(opt_in) if success => {
            let control = format!("max-age=0, s-maxage={}", opt_in.s_maxage);
            let mut keys = format!("tenant-{tenant}");
            for key in &opt_in.keys {
                keys.push(' ');
                keys.push_str(key);
            }
            match (
                HeaderValue::from_str(&control),
                HeaderValue::from_str(&keys),
            ) {
                (Ok(control), Ok(keys)) => {
                    let headers = response.headers_mut();
                    headers.insert(CACHE_CONTROL, control);
                    headers.insert(SURROGATE_KEY, keys);
                }
                _ => {
                    response
                        .headers_mut()
                        .insert(CACHE_CONTROL, TENANT_CACHE_CONTROL);
                }
            }
        }
        _ => {
            let headers = response.headers_mut();
            if marks_shared(headers) {
                tracing::error!(
                    cache_control = ?headers.get(CACHE_CONTROL),
                    "a tenant response was marked for shared caches without EdgeCached: \
                     it is sent private"
                );
                headers.insert(CACHE_CONTROL, TENANT_CACHE_CONTROL);
            }
            headers.remove(SURROGATE_KEY);
        }
    }
}

/// Whether a `Cache-Control` lets a shared cache keep the response (`public`, `s-maxage`).
fn marks_shared(headers: &HeaderMap) -> bool {
    headers.get_all(CACHE_CONTROL).iter().any(|value| {
        value.to_str().map_or(true, |value| {
            value.split(',').any(|directive| {
                let name = directive.split('=').next().unwrap_or("").trim();
                name.eq_ignore_ascii_case("public") || name.eq_ignore_ascii_case("s-maxage")
            })
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::StatusCode;

    fn tenant() -> TenantId {
        TenantId::from(uuid::Uuid::from_u128(7))
    }

    fn with_control(value: &str) -> Response {
        let mut response = StatusCode::OK.into_response();
        response
            .headers_mut()
            .insert(CACHE_CONTROL, HeaderValue::from_str(value).unwrap());
        response
    }

    #[test]
    fn public_and_s_maxage_without_the_opt_in_become_private() {
        for value in [
            "public, max-age=600",
            "max-age=60, s-maxage=600",
            "S-MAXAGE=1",
            "Public",
        ] {
            let mut response = with_control(value);
            response
                .headers_mut()
                .insert(SURROGATE_KEY, HeaderValue::from_static("everything"));
            shared_cache_headers(&mut response, tenant());
            assert_eq!(
                response.headers()[CACHE_CONTROL],
                TENANT_CACHE_CONTROL,
                "{value}"
            );
            assert!(response.headers().get(SURROGATE_KEY).is_none(), "{value}");
        }
        for value in ["no-store", "max-age=60", "private, max-age=5"] {
            let mut response = with_control(value);
            shared_cache_headers(&mut response, tenant());
            assert_eq!(response.headers()[CACHE_CONTROL], value);
        }
    }

    #[test]
    fn the_opt_in_names_the_tenant_first_and_only_on_success() {
        let mut response = EdgeCached::new(StatusCode::OK, 60)
            .key("project-1")
            .key("bad key")
            .key("list-projects")
            .into_response();
        shared_cache_headers(&mut response, tenant());
        assert_eq!(response.headers()[CACHE_CONTROL], "max-age=0, s-maxage=60");
        assert_eq!(
            response.headers()[SURROGATE_KEY],
            format!("tenant-{} project-1 list-projects", tenant()).as_str()
        );
        let mut missing = EdgeCached::new(StatusCode::NOT_FOUND, 60).into_response();
        shared_cache_headers(&mut missing, tenant());
        assert!(missing.headers().get(CACHE_CONTROL).is_none());
        assert!(missing.headers().get(SURROGATE_KEY).is_none());
    }
}
