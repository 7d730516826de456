//! The cost of the per-tenant rate-limit layer: the same router with and without it, in the
//! same run, through the whole framework stack (JWT, tenant resolution, TenantTxLayer).
//!
//! Run: `DATABASE_URL=... cargo bench -p saas-core --bench ratelimit_overhead`; the ratios
//! are printed at the end (and `python3 scripts/bench-ratios.py ratelimit_get_by_key
//! without_layer` prints them again from criterion's estimates).
//!
//! - `ratelimit_get_by_key`: a realistic tenant request: the handler extracts `TenantTx` and reads one
//!   row by key. The target is a median ratio with/without of at most 1.05.
//! - `ratelimit_tenant_only`: a handler that only extracts `TenantCtx` and does nothing: the layer's
//!   absolute cost in nanoseconds.
//!
//! The limit is generous (never reached), so every request runs the whole check: resolve,
//! plan lookup, GCRA update in the sharded in-memory store, two response headers.

#![allow(dead_code)] // the models exist for their generated operations

use axum::Router;
use axum::body::Body;
use axum::extract::Path;
use axum::routing::get;
use criterion::{Criterion, criterion_group, criterion_main};
use http::{Request, StatusCode};
use saas_core::prelude::*;
use saas_core::ratelimit::{Limit, RateLimitLayer, RateLimits};
use saas_core::tenancy::resolver::{JwtIssuer, JwtResolver, ResolverChain, TenantCtx};
use tower::ServiceExt;

#[path = "shared/models.rs"]
mod models;
#[path = "shared/seed.rs"]
mod seed;
use models::Project;

const SECRET: &str = "benchmark-secret-0123456789abcdef";

async fn get_project(mut tx: TenantTx, Path(id): Path<Uuid>) -> ApiResult<String> {
    Ok(Project::get(&mut tx, id).await?.name)
}

async fn tenant_only(_ctx: TenantCtx) -> StatusCode {
    StatusCode::NO_CONTENT
}

fn routes() -> Router {
    Router::new()
        .route("/projects/{id}", get(get_project))
        .route("/noop", get(tenant_only))
}

fn median_ns(group: &str, bench: &str) -> Option<f64> {
    let mut roots = vec![std::path::PathBuf::from("target/criterion")];
    if let Ok(dir) = std::env::var("CARGO_TARGET_DIR") {
        roots.insert(0, std::path::Path::new(&dir).join("criterion"));
    }
    roots.push("../target/criterion".into());
    roots.into_iter().find_map(|root| {
        let path = root.join(group).join(bench).join("new/estimates.json");
        let text = std::fs::read_to_string(path).ok()?;
        let json: serde_json::Value = serde_json::from_str(&text).ok()?;
        json["median"]["point_estimate"].as_f64()
    })
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let seeded = rt.block_on(seed::seeded(
        ResolverChain::new().with(JwtResolver::hs256(SECRET)),
        4,
    ));
    let limits =
        RateLimits::new().plan("default", Limit::per_second(1_000_000).burst(1_000_000_000));
    let wrap = |router: Router| {
        saas_core::app::wrap_router(router, &seeded.tenancy, saas_core::app::DEFAULT_BODY_LIMIT)
    };
    let without = wrap(routes());
    let with = wrap(routes().layer(RateLimitLayer::new(&limits)));
    let token = JwtIssuer::hs256(SECRET)
        .issue(seeded.tenant.id, "bench", 3600)
        .unwrap();
    let bearer = format!("Bearer {token}");
    let ids = seeded.ids.clone();

    let groups = ["ratelimit_get_by_key", "ratelimit_tenant_only"];
    for group_name in groups {
        let mut group = c.benchmark_group(group_name);
        for (name, router) in [("without_layer", &without), ("with_layer", &with)] {
            let mut n = 0usize;
            group.bench_function(name, |b| {
                b.to_async(&rt).iter(|| {
                    n = (n + 1) % ids.len();
                    let uri = if group_name.ends_with("get_by_key") {
                        format!("/projects/{}", ids[n])
                    } else {
                        "/noop".to_string()
                    };
                    let request = Request::get(uri)
                        .header("authorization", &bearer)
                        .body(Body::empty())
                        .unwrap();
                    let router = router.clone();
                    async move {
                        let response = router.oneshot(request).await.unwrap();
                        assert!(response.status().is_success(), "{}", response.status());
                        response
                    }
                })
            });
        }
        group.finish();
    }
    for group in groups {
        if let (Some(without), Some(with)) = (
            median_ns(group, "without_layer"),
            median_ns(group, "with_layer"),
        ) {
            println!(
                "{group}: median without {:.2} us, with {:.2} us, ratio {:.3}, layer cost {:.0} ns",
                without / 1000.0,
                with / 1000.0,
                with / without,
                with - without
            );
        }
    }
    rt.block_on(seeded.tenancy.close());
    drop(seeded);
}

criterion_group!(benches, bench);
criterion_main!(benches);
