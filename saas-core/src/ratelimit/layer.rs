//! The tower layer that enforces [`super::RateLimits`].

use std::sync::Arc;
use std::task::{Context, Poll};

use axum::response::{IntoResponse, Response};
use futures_util::future::BoxFuture;

use super::{Limiter, RATELIMIT, RATELIMIT_POLICY, RateLimits};
use crate::error::ApiError;
use crate::http::cache::NotModifiedRefund;
use crate::request_tenant::Conditional;
use crate::tenancy::resolver::TenantCtx;

/// Enforces per-tenant rate limits and quotas (see [`super`]).
///
/// [`crate::app::SaasAppBuilder::rate_limits`] installs it. On a router built by hand, apply it to
/// the routes *before* [`crate::app::wrap_router`], so that it runs inside the
/// [`crate::tenancy::TenantTxLayer`] that makes the tenancy runtime available:
///
/// ```no_run
/// # fn demo(routes: axum::Router, tenancy: &saas_core::tenancy::pool::Tenancy) -> axum::Router {
/// use saas_core::ratelimit::{Limit, RateLimitLayer, RateLimits};
/// let limits = RateLimits::new().plan("default", Limit::per_minute(600).burst(50));
/// let routes = routes.layer(RateLimitLayer::new(&limits));
/// saas_core::app::wrap_router(routes, tenancy, saas_core::app::DEFAULT_BODY_LIMIT)
/// # }
/// ```
#[derive(Clone)]
pub struct RateLimitLayer {
    limiter: Arc<Limiter>,
}

impl std::fmt::Debug for RateLimitLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimitLayer").finish_non_exhaustive()
    }
}

impl RateLimitLayer {
    /// A layer enforcing these limits. Its state (memory or Redis connection) is created
    /// here and shared by every clone of the layer.
    pub fn new(limits: &RateLimits) -> Self {
        RateLimitLayer {
            limiter: Arc::new(Limiter::new(limits)),
        }
    }
}

impl<S> tower::Layer<S> for RateLimitLayer {
    type Service = RateLimitService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RateLimitService {
            inner,
            limiter: self.limiter.clone(),
        }
    }
}

/// The service produced by [`RateLimitLayer`].
#[derive(Clone)]
pub struct RateLimitService<S> {
    inner: S,
    limiter: Arc<Limiter>,
}

impl<S> std::fmt::Debug for RateLimitService<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimitService").finish_non_exhaustive()
    }
}

impl<S, B> tower::Service<http::Request<B>> for RateLimitService<S>
where
    S: tower::Service<http::Request<B>, Response = Response> + Clone + Send + 'static,
    S::Future: Send + 'static,
    B: Send + 'static,
{
    type Response = Response;
    type Error = S::Error;
    type Future = BoxFuture<'static, Result<Response, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        // Take the service that was driven to readiness; leave a clone in its place.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        // The framework's own read of a resource before a conditional write is part of that
        // write, which is counted.
        if request.extensions().get::<Conditional>() == Some(&Conditional::Probe) {
            return Box::pin(inner.call(request));
        }
        let limiter = self.limiter.clone();
        Box::pin(async move {
            let (mut parts, body) = request.into_parts();
            // No or invalid credentials (or no tenancy runtime): not ours to answer; the
            // handler's extractor gives the 401 (or 403 for a suspended tenant). A resolved
            // tenant is remembered in the request, so the handler's TenantCtx / TenantTx and
            // the telemetry layer reuse this resolution.
            let tenant = TenantCtx::of_request(&mut parts)
                .await
                .ok()
                .map(|ctx| (ctx.tenant.id, limiter.plan(&ctx.tenant.plan)));
            // A revalidation may end as a 304; the cache layer then gives the request back.
            let conditional = parts.method == http::Method::GET
                && parts.headers.contains_key(http::header::IF_NONE_MATCH);
            let plan_name = conditional
                .then(|| {
                    parts
                        .extensions
                        .get::<TenantCtx>()
                        .map(|ctx| ctx.tenant.plan.clone())
                })
                .flatten();
            let request = http::Request::from_parts(parts, body);
            let Some((tenant, Some(plan))) = tenant else {
                return inner.call(request).await;
            };
            let Some(outcome) = limiter.backend.check(tenant, plan).await else {
                // The shared state is unreachable: fail open, without headers we cannot vouch
                // for.
                return inner.call(request).await;
            };
            let mut response = if outcome.allowed {
                inner.call(request).await?
            } else {
                ApiError::RateLimited {
                    detail: format!(
                        "the tenant's rate limit or quota is used up; retry in {} s",
                        outcome.retry_after()
                    ),
                    retry_after: outcome.retry_after(),
                }
                .into_response()
            };
            if outcome.allowed
                && let Some(plan_name) = plan_name
            {
                let (limiter, window) = (limiter.clone(), outcome.window);
                let refund = move || -> BoxFuture<'static, _> {
                    let (limiter, plan_name) = (limiter.clone(), plan_name.clone());
                    Box::pin(async move {
                        let plan = limiter.plan(&plan_name)?;
                        let outcome = limiter.backend.refund(tenant, plan, window).await?;
                        Some((RATELIMIT, outcome.header(plan)))
                    })
                };
                response
                    .extensions_mut()
                    .insert(NotModifiedRefund(std::sync::Arc::new(refund)));
            }
            let headers = response.headers_mut();
            if let Some(policy) = Limiter::policy(plan) {
                headers.insert(RATELIMIT_POLICY, policy.clone());
            }
            headers.insert(RATELIMIT, outcome.header(plan));
            Ok(response)
        })
    }
}
