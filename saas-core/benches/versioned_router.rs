//! Per-request overhead of the versioned router against a plain axum `Router` serving the
//! same handler, in one run. Run: `cargo bench -p saas-core --bench versioned_router`, then
//! `scripts/bench-ratios.py versioned_router plain_axum`.

use axum::Router;
use axum::body::Body;
use axum::extract::Path;
use axum::routing::get;
use criterion::{Criterion, criterion_group, criterion_main};
use http::{HeaderName, HeaderValue};
use saas_core::endpoint;
use saas_core::versioning::{VersionedApi, VersioningOptions};
use tower::ServiceExt;

saas_core::api_versions! {
    const VERSIONS = {
        1 => deprecated(since = "2026-01-01", sunset = "2099-01-01", docs = "https://example.com/v1"),
        2 => current,
    };
}

#[endpoint(get, "/hello/{name}", versions = 1.., responses((status = 200, body = String)))]
async fn hello(Path(name): Path<String>) -> String {
    format!("hello {name}")
}

const API_VERSION: HeaderName = HeaderName::from_static("api-version");

fn request(path: &str) -> http::Request<Body> {
    http::Request::builder()
        .uri(path)
        .body(Body::empty())
        .unwrap()
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let plain: Router = Router::new().route("/v2/hello/{name}", get(hello));
    // The same route table a hand-rolled versioned app has: both versions and its documents.
    let plain_same_routes: Router = Router::new()
        .route("/v1/hello/{name}", get(hello))
        .route("/v2/hello/{name}", get(hello))
        .route("/openapi/{file}", get(|| async { "{}" }))
        .route("/docs", get(|| async { "docs" }))
        .fallback(|| async { http::StatusCode::NOT_FOUND });
    // The same route table again, each route naming its version in `Api-Version` by hand:
    // the least work a hand-rolled versioned app can do for what the versioned router does on
    // a current route (a static header value in the handler's own response, no layer).
    let plain_same_work: Router = Router::new()
        .route(
            "/v1/hello/{name}",
            get(|name: Path<String>| async {
                (
                    [(API_VERSION, HeaderValue::from_static("1"))],
                    hello(name).await,
                )
            }),
        )
        .route(
            "/v2/hello/{name}",
            get(|name: Path<String>| async {
                (
                    [(API_VERSION, HeaderValue::from_static("2"))],
                    hello(name).await,
                )
            }),
        )
        .route("/openapi/{file}", get(|| async { "{}" }))
        .route("/docs", get(|| async { "docs" }))
        .fallback(|| async { http::StatusCode::NOT_FOUND });
    let versioned = VersionedApi::new(
        saas_core::routes!(VERSIONS; hello),
        VersioningOptions::default(),
    )
    .router();
    let mut group = c.benchmark_group("versioned_router");
    group.bench_function("plain_axum", |b| {
        b.to_async(&rt).iter(|| {
            let router = plain.clone();
            async move { router.oneshot(request("/v2/hello/world")).await.unwrap() }
        })
    });
    group.bench_function("plain_axum_same_routes", |b| {
        b.to_async(&rt).iter(|| {
            let router = plain_same_routes.clone();
            async move { router.oneshot(request("/v2/hello/world")).await.unwrap() }
        })
    });
    group.bench_function("plain_axum_same_work", |b| {
        b.to_async(&rt).iter(|| {
            let router = plain_same_work.clone();
            async move { router.oneshot(request("/v2/hello/world")).await.unwrap() }
        })
    });
    group.bench_function("versioned_current", |b| {
        b.to_async(&rt).iter(|| {
            let router = versioned.clone();
            async move { router.oneshot(request("/v2/hello/world")).await.unwrap() }
        })
    });
    group.bench_function("versioned_deprecated", |b| {
        b.to_async(&rt).iter(|| {
            let router = versioned.clone();
            async move { router.oneshot(request("/v1/hello/world")).await.unwrap() }
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
