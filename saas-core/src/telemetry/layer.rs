//! The tower layer: one `http.request` span and one observation per request.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use axum::extract::MatchedPath;
use axum::response::Response;
use http::{HeaderName, Request};

use super::Telemetry;
use super::labels::{RouteLabel, VersionLabel, method_label};
use crate::request_tenant::RequestSlot;
use crate::versioning::router::API_VERSION_HEADER;

const API_VERSION: HeaderName = HeaderName::from_static(API_VERSION_HEADER);
const DEPRECATION: HeaderName = HeaderName::from_static("deprecation");

/// Counts, times and traces every request of the router it wraps (see the
/// [module documentation](super)). Made by [`Telemetry::layer`].
///
/// Add it with [`axum::Router::layer`] *after* the routes (axum applies `layer` to the
/// routes that exist, and the matched path template is known only inside the router).
#[derive(Clone, Debug)]
pub struct TelemetryLayer {
    telemetry: Telemetry,
}

impl TelemetryLayer {
    pub(super) fn new(telemetry: Telemetry) -> Self {
        TelemetryLayer { telemetry }
    }
}

impl<S> tower::Layer<S> for TelemetryLayer {
    type Service = TelemetryService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        TelemetryService {
            inner,
            telemetry: self.telemetry.clone(),
        }
    }
}

/// The service made by [`TelemetryLayer`].
#[derive(Clone, Debug)]
pub struct TelemetryService<S> {
    inner: S,
    telemetry: Telemetry,
}

impl<S, B> tower::Service<Request<B>> for TelemetryService<S>
where
    S: tower::Service<Request<B>, Response = Response>,
{
    type Response = Response;
    type Error = S::Error;
    type Future = TelemetryFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<B>) -> Self::Future {
        let route = RouteLabel(request.extensions().get::<MatchedPath>().cloned());
        let method = method_label(request.method());
        let span = tracing::info_span!(
            "http.request",
            method,
            route = route.as_str(),
            tenant_id = tracing::field::Empty,
            api_version = tracing::field::Empty,
            status = tracing::field::Empty,
        );
        let slot = RequestSlot::new(span);
        request.extensions_mut().insert(slot.clone());
        let inner = {
            let _entered = slot.span().enter();
            self.inner.call(request)
        };
        TelemetryFuture {
            inner,
            pending: Some(Pending {
                telemetry: self.telemetry.clone(),
                slot,
                route,
                method,
                start: Instant::now(),
            }),
        }
    }
}

struct Pending {
    telemetry: Telemetry,
    slot: RequestSlot,
    route: RouteLabel,
    method: &'static str,
    start: Instant,
}

pin_project_lite::pin_project! {
    /// The response future of [`TelemetryService`].
    pub struct TelemetryFuture<F> {
        #[pin]
        inner: F,
        pending: Option<Pending>,
    }
}

impl<F> std::fmt::Debug for TelemetryFuture<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TelemetryFuture").finish_non_exhaustive()
    }
}

impl<F, E> Future for TelemetryFuture<F>
where
    F: Future<Output = Result<Response, E>>,
{
    type Output = Result<Response, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let result = {
            let _entered = this.pending.as_ref().map(|p| p.slot.span().enter());
            std::task::ready!(this.inner.poll(cx))
        };
        if let (Some(pending), Ok(response)) = (this.pending.take(), &result) {
            pending.finish(response);
        }
        Poll::Ready(result)
    }
}

impl Pending {
    fn finish(self, response: &Response) {
        let elapsed = self.start.elapsed();
        let headers = response.headers();
        let version = VersionLabel(headers.get(API_VERSION).cloned());
        let deprecated = headers.contains_key(DEPRECATION);
        let status = response.status().as_u16();
        let tenant = self.slot.tenant();
        let span = &self.slot.span();
        if !span.is_disabled() {
            span.record("status", status);
            span.record("api_version", version.as_str());
            if tenant.is_none() {
                span.record("tenant_id", "none");
            }
        }
        self.telemetry.observe(super::Observation {
            tenant,
            version,
            route: self.route,
            method: self.method,
            status,
            deprecated,
            seconds: elapsed.as_secs_f64(),
        });
    }
}
