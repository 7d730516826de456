//! Per-request overhead of the versioned router against a plain axum `Router` serving the
//! same handler, in one run. Run: `cargo bench -p saas-core --bench versioned_router`, then
//! `scripts/bench-ratios.py versioned_router plain_axum`.

use axum::Router;
use axum::body::Body;
use axum::extract::Path;
use axum::routing::get;
use criterion::{Criterion, criterion_group};
use http::{HeaderName, HeaderValue};
use saas_core::endpoint;
use saas_core::versioning::{VersionedApi, VersioningConfig};
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

/// Every variant: its name, its router and the path it is asked for.
fn variants() -> Vec<(&'static str, Router, &'static str)> {
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
        VersioningConfig::default(),
    )
    .router();
    vec![
        ("plain_axum", plain, "/v2/hello/world"),
        (
            "plain_axum_same_routes",
            plain_same_routes,
            "/v2/hello/world",
        ),
        ("plain_axum_same_work", plain_same_work, "/v2/hello/world"),
        ("versioned_current", versioned.clone(), "/v2/hello/world"),
        ("versioned_deprecated", versioned, "/v1/hello/world"),
    ]
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn bench(c: &mut Criterion) {
    let rt = runtime();
    let mut group = c.benchmark_group("versioned_router");
    for (name, router, path) in variants() {
        group.bench_function(name, |b| {
            b.to_async(&rt).iter(|| {
                let router = router.clone();
                async move { router.oneshot(request(path)).await.unwrap() }
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench);

/// `ROUTER_BENCH_COUNT=<variant>:<n>`: serve `n` requests of one variant and exit, for an
/// instruction count under callgrind (`scripts/bench-router-instructions.sh`): repeatable on a
/// noisy machine, unlike wall time.
fn count(spec: &str) {
    let (wanted, n) = spec
        .split_once(':')
        .expect("ROUTER_BENCH_COUNT=<variant>:<n>");
    let n: u32 = n.parse().expect("a request count");
    let (_, router, path) = variants()
        .into_iter()
        .find(|(name, _, _)| *name == wanted)
        .unwrap_or_else(|| panic!("no variant {wanted}"));
    runtime().block_on(async move {
        for _ in 0..n {
            let response = router.clone().oneshot(request(path)).await.unwrap();
            std::hint::black_box(response);
        }
    });
}

fn main() {
    if let Ok(spec) = std::env::var("ROUTER_BENCH_COUNT") {
        count(&spec);
        return;
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
