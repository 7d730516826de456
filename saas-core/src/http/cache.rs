//! HTTP caching of tenant responses: validators and headers that keep shared caches out.
//!
//! [`HttpCacheLayer`] (installed by `SaasApp`) looks at every response whose request resolved a
//! tenant:
//! - a `200` to `GET` gets a strong `ETag`, computed from the bytes the client
//!   receives and the API version that produced them (so v1 and v2 of one row differ, and an
//!   unchanged representation keeps its tag); no second query. `If-None-Match` naming it turns
//!   the response into a `304 Not Modified` with the same headers and no body. The comparison
//!   happens after the handler answered for the request's own tenant, so another tenant sending
//!   the same path and tag gets that tenant's answer (a 404), never a 304;
//! - `Cache-Control: private, no-cache` unless the handler chose its own (`no-store`, a
//!   `max-age`), and `Authorization` added to `Vary`: a shared cache must neither keep a
//!   tenant's response nor hand it to another credential. `public` and `s-maxage` are refused
//!   unless the handler opted in with [`super::edge::EdgeCached`].
//!
//! Responses of requests that did not resolve a tenant (public documents, problems raised
//! before resolution) pass unchanged. A body whose size is not known up front (a stream) gets
//! no `ETag`: it is never buffered here.

use std::task::{Context, Poll};

use axum::body::{Body, HttpBody as _};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use futures_util::future::BoxFuture;
use http::header::{CACHE_CONTROL, CONTENT_LENGTH, ETAG, IF_NONE_MATCH, VARY};
use http::{HeaderMap, HeaderValue, Method, Request, StatusCode};
use http_body_util::BodyExt;
use sha2::{Digest, Sha256};

use crate::request_tenant::RequestSlot;

/// The `Cache-Control` of a tenant response whose handler set none: any cache may keep it
/// only for this client (`private`) and must revalidate it before use (`no-cache`), which the
/// `ETag` makes a cheap 304.
pub const TENANT_CACHE_CONTROL: HeaderValue = HeaderValue::from_static("private, no-cache");

/// Bodies up to this size get an `ETag` (larger ones are passed through untouched).
pub(crate) const MAX_TAGGED_BODY: u64 = 8 * 1024 * 1024;

/// What turning a response into a `304` gives back, put in the response's extensions by a
/// layer that counted the request (the rate limits: a revalidation that costs the client
/// nothing does not count against the tenant's budget). The function returns the header to
/// replace (the `RateLimit` field after the refund), if any.
#[derive(Clone)]
pub(crate) struct NotModifiedRefund(pub(crate) std::sync::Arc<RefundFn>);

/// The refund: gives the request back, returns the header to replace.
pub(crate) type RefundFn =
    dyn Fn() -> BoxFuture<'static, Option<(http::HeaderName, HeaderValue)>> + Send + Sync;

/// The layer that adds validators and cache headers to tenant responses (see the module).
#[derive(Clone, Copy, Debug, Default)]
pub struct HttpCacheLayer;

impl<S> tower::Layer<S> for HttpCacheLayer {
    type Service = HttpCache<S>;

    fn layer(&self, inner: S) -> Self::Service {
        HttpCache { inner }
    }
}

/// The service produced by [`HttpCacheLayer`].
#[derive(Clone, Debug)]
pub struct HttpCache<S> {
    inner: S,
}

impl<S, B> tower::Service<Request<B>> for HttpCache<S>
where
    S: tower::Service<Request<B>, Response = Response> + Clone + Send + 'static,
    S::Future: Send + 'static,
    B: Send + 'static,
{
    type Response = Response;
    type Error = S::Error;
    type Future = BoxFuture<'static, Result<Response, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<B>) -> Self::Future {
        // The resolver notes the request's tenant in this slot (the telemetry layer may have
        // put one there already, with the request's span).
        let slot = match request.extensions().get::<RequestSlot>() {
            Some(slot) => slot.clone(),
            None => {
                let slot = RequestSlot::new(tracing::Span::none());
                request.extensions_mut().insert(slot.clone());
                slot
            }
        };
        // Only GET: axum answers HEAD with the GET handler and drops the body before this
        // layer, so a tag computed here would not be the GET's.
        let conditional = (request.method() == Method::GET)
            .then(|| request.headers().get(IF_NONE_MATCH).cloned());
        let future = self.inner.call(request);
        Box::pin(async move {
            let response = future.await?;
            let Some(tenant) = slot.tenant() else {
                return Ok(response);
            };
            Ok(tenant_response(response, conditional, tenant).await)
        })
    }
}

/// Cache headers, then (for a `GET` answered 200) the `ETag` and the 304 decision.
/// `conditional` is `None` for other methods, `Some(If-None-Match)` for `GET`.
async fn tenant_response(
    mut response: Response,
    conditional: Option<Option<HeaderValue>>,
    tenant: crate::tenant_id::TenantId,
) -> Response {
    super::edge::shared_cache_headers(&mut response, tenant);
    private_headers(response.headers_mut());
    let Some(if_none_match) = conditional else {
        return response;
    };
    if response.status() != StatusCode::OK
        || response
            .body()
            .size_hint()
            .upper()
            .is_none_or(|n| n > MAX_TAGGED_BODY)
    {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let bytes = match body.collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(err) => {
            tracing::warn!(error = %err, "response body failed while tagging it");
            return crate::error::ApiError::Internal(anyhow::anyhow!("response body failed"))
                .into_response();
        }
    };
    let etag = match parts.headers.get(ETAG) {
        Some(etag) => etag.clone(),
        None => {
            let etag = entity_tag(&parts.headers, &bytes);
            parts.headers.insert(ETAG, etag.clone());
            etag
        }
    };
    if if_none_match.is_some_and(|header| matches_any(&header, &etag)) {
        parts.status = StatusCode::NOT_MODIFIED;
        parts.headers.remove(CONTENT_LENGTH);
        if let Some(NotModifiedRefund(refund)) = parts.extensions.remove::<NotModifiedRefund>()
            && let Some((name, value)) = refund().await
        {
            parts.headers.insert(name, value);
        }
        return Response::from_parts(parts, Body::empty());
    }
    Response::from_parts(parts, Body::from(bytes))
}

/// `Cache-Control: private, no-cache` unless set, and `Authorization` in `Vary`.
fn private_headers(headers: &mut HeaderMap) {
    if !headers.contains_key(CACHE_CONTROL) {
        headers.insert(CACHE_CONTROL, TENANT_CACHE_CONTROL);
    }
    let varies = headers.get_all(VARY).iter().any(|v| {
        v.to_str().is_ok_and(|v| {
            v.split(',')
                .any(|name| name.trim() == "*" || name.trim().eq_ignore_ascii_case("authorization"))
        })
    });
    if !varies {
        headers.append(VARY, HeaderValue::from_static("Authorization"));
    }
}

/// A strong entity tag of the representation: SHA-256 over the API version and content type
/// that produced it and its bytes, 128 bits of it in URL-safe base64.
pub(crate) fn entity_tag(headers: &HeaderMap, body: &[u8]) -> HeaderValue {
    let mut hash = Sha256::new();
    // `api-version`: the header the versioned router puts on every versioned response.
    for name in ["api-version", "content-type"] {
        if let Some(value) = headers.get(name) {
            hash.update(value.as_bytes());
        }
        hash.update([0]);
    }
    hash.update(body);
    let digest = hash.finalize();
    let tag = format!("\"{}\"", URL_SAFE_NO_PAD.encode(&digest[..16]));
    HeaderValue::from_str(&tag).expect("base64 in quotes is a valid header value")
}

/// Whether an `If-None-Match` header names `etag` (weak comparison, as RFC 9110 asks for
/// `If-None-Match`; `*` matches any current representation).
fn matches_any(header: &HeaderValue, etag: &HeaderValue) -> bool {
    let Ok(header) = header.to_str() else {
        return false;
    };
    let Ok(etag) = etag.to_str() else {
        return false;
    };
    let opaque = |tag: &str| tag.trim().trim_start_matches("W/").to_string();
    let etag = opaque(etag);
    header
        .split(',')
        .any(|candidate| candidate.trim() == "*" || opaque(candidate) == etag)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value(s: &str) -> HeaderValue {
        HeaderValue::from_str(s).unwrap()
    }

    #[test]
    fn if_none_match_compares_weakly_and_accepts_lists_and_star() {
        let etag = value("\"abc\"");
        assert!(matches_any(&value("\"abc\""), &etag));
        assert!(matches_any(&value("W/\"abc\""), &etag));
        assert!(matches_any(&value("\"x\", \"abc\""), &etag));
        assert!(matches_any(&value("*"), &etag));
        assert!(!matches_any(&value("\"abcd\""), &etag));
        assert!(!matches_any(&value("abc"), &etag));
        assert!(!matches_any(&value(""), &etag));
    }

    #[test]
    fn the_tag_depends_on_the_version_the_type_and_every_byte() {
        let mut v1 = HeaderMap::new();
        v1.insert("api-version", value("1"));
        v1.insert("content-type", value("application/json"));
        let mut v2 = v1.clone();
        v2.insert("api-version", value("2"));
        let a = entity_tag(&v1, b"{\"id\":1}");
        assert_eq!(
            a,
            entity_tag(&v1, b"{\"id\":1}"),
            "stable for the same bytes"
        );
        assert_ne!(a, entity_tag(&v2, b"{\"id\":1}"), "v1 and v2 differ");
        assert_ne!(a, entity_tag(&v1, b"{\"id\":2}"));
        let s = a.to_str().unwrap();
        assert!(
            s.starts_with('"') && s.ends_with('"') && !s.starts_with("W/"),
            "{s}"
        );
    }

    #[test]
    fn private_headers_keep_a_chosen_cache_control_and_add_authorization_to_vary_once() {
        let mut headers = HeaderMap::new();
        headers.insert(VARY, value("Api-Version"));
        headers.insert(CACHE_CONTROL, value("no-store"));
        private_headers(&mut headers);
        private_headers(&mut headers);
        assert_eq!(headers.get(CACHE_CONTROL).unwrap(), "no-store");
        let vary: Vec<_> = headers.get_all(VARY).iter().collect();
        assert_eq!(vary, [&value("Api-Version"), &value("Authorization")]);
        let mut headers = HeaderMap::new();
        private_headers(&mut headers);
        assert_eq!(headers.get(CACHE_CONTROL).unwrap(), "private, no-cache");
    }
}
