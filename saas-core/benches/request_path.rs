//! The framework's in-process request path against a plain axum handler doing the same work,
//! with no network and no database in the timed part: what the framework itself costs per
//! request. `scripts/bench-http.sh` measures the whole request over sockets and PostgreSQL.
//!
//! Run: `DATABASE_URL=... cargo bench -p saas-core --bench request_path` (the database only
//! holds the tenant registry the resolver reads once). It prints the ratio of criterion's
//! medians, then the median per-round ratio of 60 alternating rounds (the figure to judge:
//! both routers see the same load on a shared machine).
//!
//! - `plain_axum`: `GET /v2/projects/{id}`: the bearer token verified with `jsonwebtoken`
//!   (HS256, `exp` required), the tenant read from its claims, `Path<Uuid>`, a JSON body.
//! - `framework`: the same route as a versioned `#[endpoint]` taking `TenantTx` and `Path`,
//!   behind the layers `SaasApp` installs (telemetry, panic and problem handling, body limit,
//!   the tenant transaction) and the JWT resolver with its cached registry lookup. The
//!   handler does not run a statement, so the transaction acquires nothing.

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::routing::get;
use criterion::{Criterion, criterion_group, criterion_main};
use http::{HeaderMap, Request, StatusCode};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use saas_core::endpoint;
use saas_core::http::{Json, Path};
use saas_core::prelude::*;
use saas_core::telemetry::Telemetry;
use saas_core::tenancy::pool::Tenancy;
use saas_core::tenancy::registry::NewTenant;
use saas_core::tenancy::resolver::{JwtIssuer, JwtResolver, ResolverChain};
use saas_core::versioning::{VersionedApi, VersioningConfig};
use serde::Serialize;

#[path = "shared/overhead.rs"]
mod overhead;
use overhead::{Case, Pair};

const SECRET: &str = "bench-secret-bench-secret-0123456789";

saas_core::api_versions! {
    const VERSIONS = {
        2 => current,
    };
}

#[derive(Serialize, utoipa::ToSchema)]
struct ProjectBody {
    id: Uuid,
    tenant: Uuid,
    name: &'static str,
}

#[endpoint(get, "/projects/{id}", versions = 2..)]
async fn get_project(tx: TenantTx, Path(id): Path<Uuid>) -> ApiResult<Json<ProjectBody>> {
    Ok(Json(ProjectBody {
        id,
        tenant: tx.tenant_id().into(),
        name: "bench",
    }))
}

#[derive(Clone)]
struct Plain {
    key: DecodingKey,
    validation: Validation,
}

async fn plain_get_project(
    State(state): State<Plain>,
    headers: HeaderMap,
    axum::extract::Path(id): axum::extract::Path<Uuid>,
) -> Result<axum::Json<ProjectBody>, StatusCode> {
    let token = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .ok_or(StatusCode::UNAUTHORIZED)?;
    let data = jsonwebtoken::decode::<serde_json::Value>(token, &state.key, &state.validation)
        .map_err(|_| StatusCode::UNAUTHORIZED)?;
    let tenant = data.claims["tenant_id"]
        .as_str()
        .and_then(|t| t.parse::<Uuid>().ok())
        .ok_or(StatusCode::UNAUTHORIZED)?;
    Ok(axum::Json(ProjectBody {
        id,
        tenant,
        name: "bench",
    }))
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (db, tenancy, tenant) = rt.block_on(async {
        let db = saas_testkit::TestDb::new()
            .await
            .expect("a PostgreSQL for benchmarks");
        let tenancy = Tenancy::start(
            db.config(),
            ResolverChain::new().with(JwtResolver::hs256(SECRET)),
            None,
        )
        .await
        .unwrap();
        let tenant = tenancy
            .tenants()
            .create(NewTenant::new("bench", "Bench"))
            .await
            .unwrap();
        (db, tenancy, tenant.id)
    });
    let token = JwtIssuer::hs256(SECRET)
        .issue(tenant, "bench", 3600)
        .unwrap();
    let authorization = format!("Bearer {token}");

    let mut validation = Validation::new(Algorithm::HS256);
    validation.set_required_spec_claims(&["exp"]);
    let plain = Router::new()
        .route("/v2/projects/{id}", get(plain_get_project))
        .with_state(Plain {
            key: DecodingKey::from_secret(SECRET.as_bytes()),
            validation,
        });
    let telemetry = Telemetry::new();
    let versioned = VersionedApi::new(
        saas_core::routes!(VERSIONS; get_project),
        VersioningConfig::default(),
    )
    .router();
    // As `SaasApp` assembles it.
    let framework = saas_core::app::wrap_router_observed(
        versioned,
        &tenancy,
        saas_core::app::DEFAULT_BODY_LIMIT,
        Some(&telemetry),
    );
    let paths: Vec<String> = (0..64)
        .map(|_| format!("/v2/projects/{}", Uuid::new_v4()))
        .collect();
    let request = |i: usize| {
        Request::get(paths[i % paths.len()].as_str())
            .header("authorization", authorization.as_str())
            .body(Body::empty())
            .unwrap()
    };
    let cases = [Case {
        group: "request_path",
        request: Box::new(request),
        per_round: 2000,
    }];
    let pair = Pair {
        baseline: ("plain_axum", &plain),
        measured: ("framework", &framework),
    };
    overhead::compare(c, &rt, &pair, &cases);
    assert!(telemetry.render().contains("saas_http_requests_total"));
    rt.block_on(tenancy.close());
    drop(db);
}

criterion_group!(benches, bench);
criterion_main!(benches);
