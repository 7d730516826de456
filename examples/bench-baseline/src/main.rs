//! The reference app's benchmarked routes written by hand on axum + sqlx: verify the HS256
//! token, then run the same SQL the framework runs, on a pool that row-level security does
//! not apply to (`WHERE tenant_id = $1` instead). The baseline of `scripts/bench-http.sh`; not
//! an example to follow.
//!
//! - `GET /v2/projects/{id}`: `SELECT ... WHERE tenant_id = $1 AND id = $2`;
//! - `GET /v2/projects?limit=N&cursor=C`: the same keyset page as the framework's list
//!   (`ORDER BY id LIMIT N + 1`, an opaque cursor);
//! - `POST /v2/projects`: in one transaction, the `INSERT ... RETURNING` and the
//!   `project.created` event written to the audit log and the outbox (one statement, as the
//!   framework writes it).
//!
//! Usage: `DATABASE_URL=... TASKBOARD_JWT_SECRET=... bench-baseline 127.0.0.1:PORT`

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;
use uuid::Uuid;

#[derive(Clone)]
struct AppState {
    pool: PgPool,
    key: DecodingKey,
    validation: Validation,
}

#[derive(Serialize, sqlx::FromRow)]
struct Project {
    id: Uuid,
    name: String,
    #[serde(with = "time::serde::rfc3339")]
    created_at: time::OffsetDateTime,
}

#[derive(Serialize)]
struct ProjectPage {
    items: Vec<Project>,
    next_cursor: Option<String>,
}

#[derive(Deserialize)]
struct PageQuery {
    limit: Option<i64>,
    cursor: Option<String>,
}

#[derive(Deserialize)]
struct ProjectInput {
    name: String,
}

const EMIT_SQL: &str = "WITH logged AS (
    INSERT INTO saas_audit_log (tenant_id, id, event_type, schema_version, aggregate_id, payload)
    VALUES ($1, $2, $3, $4, $5, $6)
    RETURNING tenant_id, id, event_type, schema_version, aggregate_id, occurred_at, payload
)
INSERT INTO saas_outbox (tenant_id, id, event_type, schema_version, aggregate_id, occurred_at, payload)
SELECT tenant_id, id, event_type, schema_version, aggregate_id, occurred_at, payload FROM logged";

/// The tenant of the request's bearer token, or the response to send.
fn tenant(state: &AppState, headers: &HeaderMap) -> Result<Uuid, StatusCode> {
    let token = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .ok_or(StatusCode::UNAUTHORIZED)?;
    let data = jsonwebtoken::decode::<serde_json::Value>(token, &state.key, &state.validation)
        .map_err(|_| StatusCode::UNAUTHORIZED)?;
    data.claims["tenant_id"]
        .as_str()
        .and_then(|t| t.parse::<Uuid>().ok())
        .ok_or(StatusCode::UNAUTHORIZED)
}

fn unavailable(_: sqlx::Error) -> Response {
    StatusCode::SERVICE_UNAVAILABLE.into_response()
}

async fn get_project(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<Uuid>,
) -> Response {
    let tenant = match tenant(&state, &headers) {
        Ok(t) => t,
        Err(status) => return status.into_response(),
    };
    let row: Result<Option<Project>, _> = sqlx::query_as(
        "SELECT id, name, created_at FROM projects WHERE tenant_id = $1 AND id = $2",
    )
    .bind(tenant)
    .bind(id)
    .fetch_optional(&state.pool)
    .await;
    match row {
        Ok(Some(project)) => axum::Json(project).into_response(),
        Ok(None) => StatusCode::NOT_FOUND.into_response(),
        Err(e) => unavailable(e),
    }
}

async fn list_projects(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<PageQuery>,
) -> Response {
    let tenant = match tenant(&state, &headers) {
        Ok(t) => t,
        Err(status) => return status.into_response(),
    };
    let limit = q.limit.unwrap_or(50);
    if !(1..=100).contains(&limit) {
        return StatusCode::UNPROCESSABLE_ENTITY.into_response();
    }
    let after: Option<Uuid> = match q.cursor.as_deref().map(|c| {
        URL_SAFE_NO_PAD
            .decode(c)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
    }) {
        None => None,
        Some(Some(id)) => Some(id),
        Some(None) => return StatusCode::BAD_REQUEST.into_response(),
    };
    let rows: Result<Vec<Project>, _> = match after {
        None => sqlx::query_as(
            "SELECT id, name, created_at FROM projects WHERE tenant_id = $1 ORDER BY id LIMIT $2",
        )
        .bind(tenant)
        .bind(limit + 1),
        Some(after) => sqlx::query_as(
            "SELECT id, name, created_at FROM projects WHERE tenant_id = $1 AND id > $2 \
             ORDER BY id LIMIT $3",
        )
        .bind(tenant)
        .bind(after)
        .bind(limit + 1),
    }
    .fetch_all(&state.pool)
    .await;
    let mut items = match rows {
        Ok(items) => items,
        Err(e) => return unavailable(e),
    };
    let next_cursor = if items.len() as i64 > limit {
        items.truncate(limit as usize);
        items
            .last()
            .map(|p| URL_SAFE_NO_PAD.encode(serde_json::to_vec(&p.id).expect("a uuid serializes")))
    } else {
        None
    };
    axum::Json(ProjectPage { items, next_cursor }).into_response()
}

async fn create_project(
    State(state): State<AppState>,
    headers: HeaderMap,
    axum::Json(input): axum::Json<ProjectInput>,
) -> Response {
    let tenant = match tenant(&state, &headers) {
        Ok(t) => t,
        Err(status) => return status.into_response(),
    };
    if !(1..=200).contains(&input.name.chars().count()) {
        return StatusCode::UNPROCESSABLE_ENTITY.into_response();
    }
    let created: Result<Project, sqlx::Error> = async {
        let mut tx = state.pool.begin().await?;
        let project: Project = sqlx::query_as(
            "INSERT INTO projects (tenant_id, name) VALUES ($1, $2) \
             RETURNING id, name, created_at",
        )
        .bind(tenant)
        .bind(&input.name)
        .fetch_one(&mut *tx)
        .await?;
        let payload = serde_json::to_value(&project).expect("a project serializes");
        sqlx::query(EMIT_SQL)
            .bind(tenant)
            .bind(Uuid::new_v4())
            .bind("project.created")
            .bind(1_i32)
            .bind(project.id)
            .bind(payload)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(project)
    }
    .await;
    match created {
        Ok(project) => (StatusCode::CREATED, axum::Json(project)).into_response(),
        Err(e) => unavailable(e),
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let listen = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:8081".into());
    let url = std::env::var("DATABASE_URL")?;
    let secret = std::env::var("TASKBOARD_JWT_SECRET")?;
    let pool_size = match std::env::var("BASELINE_POOL_SIZE") {
        Ok(n) => n.parse()?,
        Err(_) => 10,
    };
    let pool = PgPoolOptions::new()
        .max_connections(pool_size)
        .test_before_acquire(false)
        .connect(&url)
        .await?;
    let mut validation = Validation::new(Algorithm::HS256);
    validation.set_required_spec_claims(&["exp"]);
    let state = AppState {
        pool,
        key: DecodingKey::from_secret(secret.as_bytes()),
        validation,
    };
    let app = Router::new()
        .route("/v2/projects/{id}", get(get_project))
        .route("/v2/projects", get(list_projects).post(create_project))
        .with_state(state);
    let listener = tokio::net::TcpListener::bind(&listen).await?;
    println!("listening on http://{}", listener.local_addr()?);
    axum::serve(listener, app).await?;
    Ok(())
}
