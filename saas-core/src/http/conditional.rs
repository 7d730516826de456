//! Conditional requests that need no database: [`RequireIfMatchLayer`] makes `If-Match`
//! mandatory on the writes of the routes it wraps. The evaluation of `If-Match` itself, in the
//! write's transaction, is [`crate::tenancy::conditional`].

use std::task::{Context, Poll};

use axum::response::{IntoResponse, Response};
use http::Request;
use http::header::IF_MATCH;

use crate::error::Problem;
use crate::request_tenant::locks_resource;

/// Makes `If-Match` mandatory on the `PUT`, `PATCH` and `DELETE` of the routes it wraps:
/// without it they answer `428 Precondition Required` (RFC 6585) and nothing runs. Off unless
/// applied; for resources whose lost updates cost more than a client's extra `GET`.
///
/// ```no_run
/// use axum::{Router, routing::patch};
/// # async fn update_task() {}
/// let routes: Router = Router::new()
///     .route("/tasks/{id}", patch(update_task))
///     .route_layer(saas_core::http::conditional::RequireIfMatchLayer);
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct RequireIfMatchLayer;

impl<S> tower::Layer<S> for RequireIfMatchLayer {
    type Service = RequireIfMatch<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RequireIfMatch { inner }
    }
}

/// The service produced by [`RequireIfMatchLayer`].
#[derive(Clone, Debug)]
pub struct RequireIfMatch<S> {
    inner: S,
}

impl<S, B> tower::Service<Request<B>> for RequireIfMatch<S>
where
    S: tower::Service<Request<B>, Response = Response> + Clone + Send + 'static,
    S::Future: Send + 'static,
    B: Send + 'static,
{
    type Response = Response;
    type Error = S::Error;
    type Future =
        futures_util::future::Either<S::Future, std::future::Ready<Result<Response, S::Error>>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        if locks_resource(request.method()) && !request.headers().contains_key(IF_MATCH) {
            let response = Problem::if_match_required().into_response();
            return futures_util::future::Either::Right(std::future::ready(Ok(response)));
        }
        futures_util::future::Either::Left(self.inner.call(request))
    }
}
