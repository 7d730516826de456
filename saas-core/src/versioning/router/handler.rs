//! The per-request half of the versioned router: the version layer around each handler
//! (version headers, the 410 after sunset, version changes, the endpoint's declared rules:
//! its cache policy and a required `If-Match`).

use std::convert::Infallible;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::body::Body;
use axum::handler::Handler;
use axum::response::{IntoResponse, Response};
use futures_util::future::BoxFuture;
use http::{HeaderValue, Request, StatusCode, header};
use http_body_util::BodyExt;
use serde_json::Value;

use super::{API_VERSION, RouteVersion, put_version};
use crate::cache_policy::CachePolicy;
use crate::error::{ApiError, Problem};

/// The version layer of one endpoint in one version (built by the versioned router, wrapped
/// around the handler by [`VersionLayer::handler`]).
#[derive(Debug, Clone)]
pub struct VersionLayer(Layer);

#[derive(Debug, Clone)]
enum Layer {
    /// A current route: the version header (and `Vary` in header mode), nothing else. Both
    /// are precomputed values whose clones cost no allocation.
    Plain {
        version: HeaderValue,
        vary: Option<HeaderValue>,
        location_prefix: Option<Arc<str>>,
        rules: RouteRules,
    },
    /// Deprecation, sunset or version changes at work.
    Full(Arc<RouteVersion>),
}

/// What an endpoint declared besides its versions, applied around its handler: the cache
/// policy (`cache = ..`) and a required `If-Match` (`if_match = required`).
#[derive(Debug, Clone, Copy)]
pub(super) struct RouteRules {
    pub(super) endpoint: &'static str,
    pub(super) cache: CachePolicy,
    pub(super) require_if_match: bool,
}

impl RouteRules {
    /// The `428` of a write that must be conditional and is not; `None` lets it through.
    fn refuse(&self, request: &Request<Body>) -> Option<Response> {
        (self.require_if_match && !request.headers().contains_key(header::IF_MATCH))
            .then(|| Problem::if_match_required().into_response())
    }

    fn apply(&self, response: &mut Response) {
        self.cache.apply(response, self.endpoint);
    }
}

impl VersionLayer {
    pub(super) fn new(info: RouteVersion) -> VersionLayer {
        VersionLayer(if info.is_plain() {
            Layer::Plain {
                version: info.headers.version,
                vary: info.headers.vary,
                location_prefix: info.headers.location_prefix,
                rules: info.rules,
            }
        } else {
            Layer::Full(Arc::new(info))
        })
    }

    /// Gives a response that never reached the handler (answered by a layer in between,
    /// such as a 429 from the rate-limit layer) the headers the handler's response would
    /// have had: the version, `Vary`, and a deprecated version's fields.
    pub(super) fn decorate_answered(&self, response: &mut Response, path: &str) {
        if response.headers().contains_key(API_VERSION) {
            return;
        }
        match &self.0 {
            Layer::Plain { version, vary, .. } => {
                put_version(response.headers_mut(), version.clone(), vary.clone());
            }
            Layer::Full(info) => info.decorate(response, path),
        }
    }

    /// `handler` with this layer around it: an axum handler itself, so the method router
    /// boxes it once and a current route's request passes through no extra service.
    pub fn handler<H>(self, handler: H) -> Versioned<H> {
        Versioned {
            handler,
            layer: self,
        }
    }
}

/// A handler inside its [`VersionLayer`] (see [`VersionLayer::handler`]).
#[derive(Debug, Clone)]
pub struct Versioned<H> {
    handler: H,
    layer: VersionLayer,
}

async fn json_body(body: Body, limit: usize) -> Result<Option<(Value, Vec<u8>)>, ApiError> {
    let bytes = http_body_util::Limited::new(body, limit)
        .collect()
        .await
        .map_err(|_| ApiError::PayloadTooLarge("the request body is too large".into()))?
        .to_bytes();
    Ok(serde_json::from_slice::<Value>(&bytes)
        .ok()
        .map(|v| (v, bytes.to_vec())))
}

impl<H, T, S> Handler<T, S> for Versioned<H>
where
    H: Handler<T, S>,
    T: 'static,
    S: Clone + Send + Sync + 'static,
{
    type Future = VersionFuture<H::Future>;

    fn call(self, mut request: Request<Body>, state: S) -> Self::Future {
        let prefix = match &self.layer.0 {
            Layer::Plain {
                location_prefix, ..
            } => location_prefix.as_deref(),
            Layer::Full(info) => info.headers.location_prefix.as_deref(),
        };
        crate::versioning::created::note_resource_path(&mut request, prefix);
        match self.layer.0 {
            Layer::Plain {
                version,
                vary,
                location_prefix,
                rules,
            } => match rules.refuse(&request) {
                None => VersionFuture::Plain {
                    inner: self.handler.call(request, state),
                    version: Some(version),
                    vary,
                    location_prefix,
                    rules,
                },
                Some(mut refused) => {
                    put_version(refused.headers_mut(), version, vary);
                    VersionFuture::Full {
                        inner: Box::pin(std::future::ready(refused)),
                    }
                }
            },
            Layer::Full(info) => {
                let mut inner = self.handler.with_state(state);
                VersionFuture::Full {
                    inner: Box::pin(async move {
                        let path = request.uri().path().to_string();
                        let mut response = match serve(&info, &mut inner, request, &path).await {
                            Ok(r) => r,
                            Err(e) => e.into_response(),
                        };
                        info.rules.apply(&mut response);
                        info.decorate(&mut response, &path);
                        response
                    }),
                }
            }
        }
    }
}

pin_project_lite::pin_project! {
    /// The response future of a versioned route. (Its fields are private in effect: the
    /// variants are only built here; pin-project-lite takes no doc comments on them.)
    #[project = VersionFutureProj]
    #[allow(missing_debug_implementations, missing_docs)]
    pub enum VersionFuture<F> {
        /// A current route: the handler's future, then the version header.
        Plain {
            #[pin] inner: F,
            version: Option<HeaderValue>,
            vary: Option<HeaderValue>,
            location_prefix: Option<Arc<str>>,
            rules: RouteRules,
        },
        /// Deprecation, sunset or version changes at work.
        Full { inner: BoxFuture<'static, Response> },
    }
}

impl<F> std::future::Future for VersionFuture<F>
where
    F: std::future::Future<Output = Response>,
{
    type Output = Response;

    fn poll(self: std::pin::Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Response> {
        match self.project() {
            VersionFutureProj::Plain {
                inner,
                version,
                vary,
                location_prefix,
                rules,
            } => {
                let mut response = std::task::ready!(inner.poll(cx));
                rules.apply(&mut response);
                crate::versioning::created::version_location(
                    &mut response,
                    location_prefix.as_deref(),
                );
                if let Some(version) = version.take() {
                    put_version(response.headers_mut(), version, vary.take());
                }
                Poll::Ready(response)
            }
            VersionFutureProj::Full { inner } => inner.as_mut().poll(cx),
        }
    }
}

async fn serve<S>(
    info: &RouteVersion,
    inner: &mut S,
    request: Request<Body>,
    path: &str,
) -> Result<Response, ApiError>
where
    S: tower::Service<Request<Body>, Error = Infallible>,
    S::Response: IntoResponse,
{
    if info.is_gone() {
        let detail = match info.successor(path) {
            Some(s) => format!(
                "API version {} of this endpoint is gone; use {s}",
                info.version
            ),
            None => format!("API version {} of this endpoint is gone", info.version),
        };
        return Ok(Problem::new(StatusCode::GONE, detail).into_response());
    }
    if let Some(refused) = info.rules.refuse(&request) {
        return Ok(refused);
    }
    let request = match &info.request_schema {
        Some((schema, components)) => {
            let (parts, body) = request.into_parts();
            match json_body(body, info.max_body).await? {
                Some((value, _)) => {
                    let upgraded = info
                        .changes
                        .upgrade(value, schema, components, info.version)
                        .map_err(ApiError::Validation)?;
                    let bytes = serde_json::to_vec(&upgraded).unwrap_or_default();
                    let mut parts = parts;
                    parts.headers.remove(header::CONTENT_LENGTH);
                    Request::from_parts(parts, Body::from(bytes))
                }
                // Not JSON: the handler's extractor answers with the right problem.
                None => Request::from_parts(parts, Body::empty()),
            }
        }
        None => request,
    };
    let Ok(response) = inner.call(request).await;
    let response = response.into_response();
    let Some((schema, components)) = &info.response_schema else {
        return Ok(response);
    };
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if !response.status().is_success() || !is_json {
        return Ok(response);
    }
    let (mut parts, body) = response.into_parts();
    let bytes = http_body_util::Limited::new(body, info.max_body)
        .collect()
        .await
        .map_err(|_| {
            ApiError::Internal(anyhow::anyhow!(
                "the response is larger than max_transform_body ({} bytes) and must be \
                 converted for version {}: raise VersioningConfig::max_transform_body",
                info.max_body,
                info.version
            ))
        })?
        .to_bytes();
    let value: Value = serde_json::from_slice(&bytes)
        .map_err(|e| ApiError::Internal(anyhow::anyhow!("response is not JSON: {e}")))?;
    let old = info
        .changes
        .downgrade(value, schema, components, info.version)
        .map_err(|e| ApiError::Internal(anyhow::anyhow!("version change failed: {e}")))?;
    parts.headers.remove(header::CONTENT_LENGTH);
    Ok(Response::from_parts(
        parts,
        Body::from(serde_json::to_vec(&old).unwrap_or_default()),
    ))
}
