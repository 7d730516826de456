//! `GET /v2/projects/{id}` written by hand: verify the HS256 token, then
//! `SELECT ... WHERE tenant_id = $1 AND id = $2` on a pool that row-level security does not
//! apply to. The baseline of `scripts/bench-http.sh`; not an example to follow.
//!
//! Usage: `DATABASE_URL=... TASKBOARD_JWT_SECRET=... bench-baseline 127.0.0.1:PORT`

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Serialize;
use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;
use uuid::Uuid;

#[derive(Clone)]
struct AppState {
    pool: PgPool,
    key: DecodingKey,
    validation: Validation,
}

#[derive(Serialize)]
struct Project {
    id: Uuid,
    name: String,
    #[serde(with = "time::serde::rfc3339")]
    created_at: time::OffsetDateTime,
}

async fn get_project(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<Uuid>,
) -> Response {
    let token = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    let Some(token) = token else {
        return StatusCode::UNAUTHORIZED.into_response();
    };
    let Ok(data) = jsonwebtoken::decode::<serde_json::Value>(token, &state.key, &state.validation)
    else {
        return StatusCode::UNAUTHORIZED.into_response();
    };
    let Some(tenant) = data.claims["tenant_id"]
        .as_str()
        .and_then(|t| t.parse::<Uuid>().ok())
    else {
        return StatusCode::UNAUTHORIZED.into_response();
    };
    let row: Result<Option<(Uuid, String, time::OffsetDateTime)>, _> = sqlx::query_as(
        "SELECT id, name, created_at FROM projects WHERE tenant_id = $1 AND id = $2",
    )
    .bind(tenant)
    .bind(id)
    .fetch_optional(&state.pool)
    .await;
    match row {
        Ok(Some((id, name, created_at))) => axum::Json(Project {
            id,
            name,
            created_at,
        })
        .into_response(),
        Ok(None) => StatusCode::NOT_FOUND.into_response(),
        Err(_) => StatusCode::SERVICE_UNAVAILABLE.into_response(),
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let listen = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:8081".into());
    let url = std::env::var("DATABASE_URL")?;
    let secret = std::env::var("TASKBOARD_JWT_SECRET")?;
    let pool = PgPoolOptions::new()
        .max_connections(10)
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
        .with_state(state);
    let listener = tokio::net::TcpListener::bind(&listen).await?;
    println!("listening on http://{}", listener.local_addr()?);
    axum::serve(listener, app).await?;
    Ok(())
}
