//! The cost of the per-tenant rate-limit layer: the same router with and without it, in the
//! same run, through the whole framework stack (JWT, tenant resolution, TenantTxLayer).
//!
//! Run: `DATABASE_URL=... cargo bench -p saas-core --bench ratelimit_overhead`. It prints
//! criterion's medians and their ratio, then the median ratio of 60 alternating rounds (the
//! figure to judge on a shared machine; target for `ratelimit_get_by_key`: <= 1.05).
//!
//! - `ratelimit_get_by_key`: a realistic tenant request: the handler extracts `TenantTx` and
//!   reads one row by key.
//! - `ratelimit_tenant_only`: a handler that only extracts `TenantCtx` and does nothing: the
//!   layer's absolute cost in nanoseconds.
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

#[path = "../tests/it/common/models.rs"]
mod models;
#[path = "shared/overhead.rs"]
mod overhead;
#[path = "shared/seed.rs"]
mod seed;
use models::Project;
use overhead::{Case, Pair};

const SECRET: &str = "benchmark-secret-0123456789abcdef";

async fn get_project(mut tx: TenantTx, Path(id): Path<Uuid>) -> ApiResult<String> {
    Ok(Project::get(&mut tx, id).await?.name)
}

async fn tenant_only(ctx: TenantCtx) -> StatusCode {
    std::hint::black_box(ctx.tenant.id);
    StatusCode::NO_CONTENT
}

fn routes() -> Router {
    Router::new()
        .route("/projects/{id}", get(get_project))
        .route("/noop", get(tenant_only))
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
    let paths: Vec<String> = seeded
        .ids
        .iter()
        .map(|id| format!("/projects/{id}"))
        .collect();
    let request = |uri: &str| {
        Request::get(uri)
            .header("authorization", bearer.as_str())
            .body(Body::empty())
            .unwrap()
    };
    let cases = [
        Case {
            group: "ratelimit_get_by_key",
            request: Box::new(|i| request(&paths[i % paths.len()])),
            per_round: 200,
        },
        Case {
            group: "ratelimit_tenant_only",
            request: Box::new(|_| request("/noop")),
            per_round: 2000,
        },
    ];
    let pair = Pair {
        baseline: ("without_layer", &without),
        measured: ("with_layer", &with),
    };
    overhead::compare(c, &rt, &pair, &cases);
    rt.block_on(seeded.tenancy.close());
    drop(seeded);
}

criterion_group!(benches, bench);
criterion_main!(benches);
