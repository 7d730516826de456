//! Conditional writes: `If-Match` on `PUT`, `PATCH` and `DELETE` of tenant resources.
//!
//! [`IfMatchLayer`] (installed by `SaasApp` on every route) answers a write that carries
//! `If-Match` in three steps, all in one tenant transaction that it owns:
//! 1. it runs the resource's own `GET` (same path, same credentials, same API version) as a
//!    *probe*; the probe's transaction takes the resource's write lock before it reads, the
//!    lock every in-place write of that resource takes (see [`Conditional`]);
//! 2. it compares the `ETag` the probe's representation got (the one a `GET` gets, see
//!    [`crate::http::cache`]) with `If-Match` (strong comparison, RFC 9110 §13.1.1; `*`
//!    matches any current representation);
//! 3. on a match it runs the write in the same transaction, still under the lock, and commits
//!    or rolls back after it as [`super::TenantTxLayer`] would; otherwise it answers
//!    `412 Precondition Failed` (problem+json, with the current `ETag`) and rolls back.
//!
//! So a client that sends the `ETag` it read cannot overwrite a change it has not seen: a
//! concurrent write of the same resource waits for the lock and lands after (changing the
//! tag), or landed before (and changed it). A resource the tenant cannot see answers what its
//! `GET` answers (a 404), never a 412 that would reveal that it exists. Requests without
//! `If-Match`, and routes whose `GET` reads no tenant data, pass through untouched;
//! [`crate::http::conditional::RequireIfMatchLayer`] makes `If-Match` mandatory on a route.
//!
//! What it does not cover: a write that changes the resource through another path (a bulk
//! endpoint, a job) takes that path's lock, not this one's.

use std::task::{Context, Poll};

use axum::Router;
use axum::body::{Body, HttpBody as _};
use axum::response::{IntoResponse, Response};
use futures_util::future::BoxFuture;
use http::header::{
    CONTENT_ENCODING, CONTENT_LENGTH, CONTENT_TYPE, ETAG, EXPECT, IF_MATCH, IF_NONE_MATCH,
    TRANSFER_ENCODING,
};
use http::{HeaderValue, Method, Request, StatusCode};
use http_body_util::BodyExt;

use super::pool::Tenancy;
use super::resolver::TenantCtx;
use super::tx::{finish, has_begun, new_slot};
use crate::error::{ApiError, Problem};
use crate::http::cache::{MAX_TAGGED_BODY, entity_tag};
use crate::request_tenant::{Conditional, RequestSlot, locks_resource};

/// The layer that evaluates `If-Match` on writes in the write's transaction (see the module).
/// It wraps each route (outside [`super::TenantTxLayer`]) and routes the probe through a
/// router of its own: the same routes with the same framework layers, without this one.
#[derive(Clone, Debug)]
pub struct IfMatchLayer {
    tenancy: Tenancy,
    probes: Option<Router>,
}

impl IfMatchLayer {
    /// The layer for routes served with this tenancy runtime; `probes` are the same routes
    /// with the framework's layers, which serve the resource's `GET` of a conditional write.
    pub fn new(tenancy: Tenancy, probes: Router) -> Self {
        IfMatchLayer {
            tenancy,
            probes: Some(probes),
        }
    }

    /// A layer that passes every request through: the place of the conditional layer in
    /// the stack of the routes that serve probes.
    pub fn pass_through(tenancy: Tenancy) -> Self {
        IfMatchLayer {
            tenancy,
            probes: None,
        }
    }
}

impl<S> tower::Layer<S> for IfMatchLayer {
    type Service = IfMatch<S>;

    fn layer(&self, inner: S) -> Self::Service {
        IfMatch {
            inner,
            layer: self.clone(),
        }
    }
}

/// The service produced by [`IfMatchLayer`].
#[derive(Clone, Debug)]
pub struct IfMatch<S> {
    inner: S,
    layer: IfMatchLayer,
}

impl<S, B> tower::Service<Request<B>> for IfMatch<S>
where
    S: tower::Service<Request<B>, Response = Response> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    B: Send + 'static,
{
    type Response = Response;
    type Error = S::Error;
    type Future =
        futures_util::future::Either<S::Future, BoxFuture<'static, Result<Response, S::Error>>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let conditional = self.layer.probes.is_some() && locks_resource(request.method());
        let Some(if_match) = conditional
            .then(|| request.headers().get(IF_MATCH).cloned())
            .flatten()
        else {
            return futures_util::future::Either::Left(self.inner.call(request));
        };
        // Take the service that was driven to readiness; leave a clone in its place.
        let clone = self.inner.clone();
        let inner = std::mem::replace(&mut self.inner, clone);
        let layer = self.layer.clone();
        futures_util::future::Either::Right(Box::pin(conditional_write(
            inner, layer, request, if_match,
        )))
    }
}

async fn conditional_write<S, B>(
    mut inner: S,
    layer: IfMatchLayer,
    request: Request<B>,
    if_match: HeaderValue,
) -> Result<Response, S::Error>
where
    S: tower::Service<Request<B>, Response = Response>,
{
    use tower::ServiceExt;
    let (Some(probes), tenancy) = (layer.probes, layer.tenancy) else {
        return inner.call(request).await;
    };
    let slot = new_slot();
    let (mut parts, body) = request.into_parts();
    parts.extensions.insert(tenancy.clone());
    parts.extensions.insert(slot.clone());
    let mut probe = Request::new(Body::empty());
    *probe.method_mut() = Method::GET;
    *probe.uri_mut() = parts.uri.clone();
    *probe.version_mut() = parts.version;
    *probe.headers_mut() = parts.headers.clone();
    for name in [
        IF_MATCH,
        IF_NONE_MATCH,
        CONTENT_TYPE,
        CONTENT_LENGTH,
        CONTENT_ENCODING,
        TRANSFER_ENCODING,
        EXPECT,
    ] {
        probe.headers_mut().remove(name);
    }
    // The framework's part of the request, not axum's: the write's routing data (matched
    // path, path parameters) would be taken for the probe's own.
    let extensions = probe.extensions_mut();
    extensions.insert(tenancy.clone());
    extensions.insert(slot.clone());
    extensions.insert(Conditional::Probe);
    if let Some(request) = parts.extensions.get::<RequestSlot>() {
        extensions.insert(request.clone());
    }
    if let Some(ctx) = parts.extensions.get::<TenantCtx>() {
        extensions.insert(ctx.clone());
    }
    let Ok(current) = probes.oneshot(probe).await;
    if !has_begun(&slot) {
        // The probe read no tenant data (a public route, or one refused before reading):
        // nothing of ours to compare. The write runs as any write, in a transaction of its
        // own, and answers for itself.
        parts.extensions.remove::<super::tx::Slot>();
        let status = current.status();
        if status.is_client_error() && status != StatusCode::METHOD_NOT_ALLOWED {
            return Ok(current);
        }
        return inner
            .ready()
            .await?
            .call(Request::from_parts(parts, body))
            .await;
    }
    let response = match judge(current, &if_match).await {
        Verdict::Proceed => {
            parts.extensions.insert(Conditional::Write);
            inner
                .ready()
                .await?
                .call(Request::from_parts(parts, body))
                .await?
        }
        Verdict::Answer(response) => response,
    };
    Ok(finish(&slot, &tenancy, response).await)
}

enum Verdict {
    /// The precondition holds: run the write.
    Proceed,
    /// Answer this instead of running the write.
    Answer(Response),
}

/// Decides a write from its resource's current representation (the probe's response).
async fn judge(current: Response, if_match: &HeaderValue) -> Verdict {
    let status = current.status();
    if status == StatusCode::METHOD_NOT_ALLOWED {
        return Verdict::Answer(failed(
            None,
            "this resource has no representation to compare If-Match with",
        ));
    }
    if status != StatusCode::OK {
        // 401, 403 and 404 (the resource is not this tenant's, or not there) say what the
        // write would have said; a 5xx is the failure it is.
        return Verdict::Answer(current);
    }
    let etag = match current.headers().get(ETAG) {
        Some(etag) => etag.clone(),
        None => {
            if current
                .body()
                .size_hint()
                .upper()
                .is_none_or(|n| n > MAX_TAGGED_BODY)
            {
                return Verdict::Answer(failed(
                    None,
                    "this resource's representation carries no entity tag to compare If-Match with",
                ));
            }
            let (parts, body) = current.into_parts();
            let Ok(bytes) = body.collect().await.map(|c| c.to_bytes()) else {
                return Verdict::Answer(
                    ApiError::Internal(anyhow::anyhow!("response body failed")).into_response(),
                );
            };
            entity_tag(&parts.headers, &bytes)
        }
    };
    if matches_strongly(if_match, &etag) {
        Verdict::Proceed
    } else {
        Verdict::Answer(failed(
            Some(etag),
            "the resource changed since the representation If-Match names; \
             fetch it again and retry with its ETag",
        ))
    }
}

/// A `412 Precondition Failed` problem, with the current `ETag` when there is one.
fn failed(etag: Option<HeaderValue>, detail: &str) -> Response {
    let mut response = Problem::new(StatusCode::PRECONDITION_FAILED, detail).into_response();
    if let Some(etag) = etag {
        response.headers_mut().insert(ETAG, etag);
    }
    response
}

/// Whether `If-Match` names `etag`: strong comparison (a weak tag never matches), `*` matches
/// any current representation.
fn matches_strongly(header: &HeaderValue, etag: &HeaderValue) -> bool {
    let (Ok(header), Ok(etag)) = (header.to_str(), etag.to_str()) else {
        return false;
    };
    if etag.starts_with("W/") {
        return false;
    }
    header
        .split(',')
        .map(str::trim)
        .any(|candidate| candidate == "*" || (!candidate.starts_with("W/") && candidate == etag))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value(s: &str) -> HeaderValue {
        HeaderValue::from_str(s).unwrap()
    }

    #[test]
    fn if_match_compares_strongly() {
        let etag = value("\"abc\"");
        assert!(matches_strongly(&value("\"abc\""), &etag));
        assert!(matches_strongly(&value("\"x\", \"abc\""), &etag));
        assert!(matches_strongly(&value("*"), &etag));
        assert!(!matches_strongly(&value("W/\"abc\""), &etag));
        assert!(!matches_strongly(&value("\"abd\""), &etag));
        assert!(!matches_strongly(&value("\"abc\""), &value("W/\"abc\"")));
        assert!(!matches_strongly(&value(""), &etag));
    }
}
