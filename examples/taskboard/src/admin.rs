//! The admin API: register tenants and issue their tokens.

use axum::Router;
use axum::extract::FromRequestParts;
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::routing::{get, post};
use saas_core::http::{Json, Path};
use saas_core::moves::{self, MoveOptions, MoveRequest};
use saas_core::prelude::*;
use saas_core::tenancy::pool::Tenancy;
use saas_core::tenancy::registry::{NewTenant, Tenant};
use saas_core::tenancy::resolver::{JwtIssuer, bearer_token};
use serde::{Deserialize, Serialize};

/// What the admin routes need.
#[derive(Clone, Debug)]
pub struct AdminState {
    pub tenancy: Tenancy,
    pub admin_token: String,
    pub issuer: JwtIssuer,
}

/// Proof that the request carries the admin token.
#[derive(Debug)]
pub struct Admin;

impl FromRequestParts<AdminState> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AdminState) -> Result<Self, ApiError> {
        let token = bearer_token(parts)?
            .ok_or_else(|| ApiError::Unauthorized("the admin API needs the admin token".into()))?;
        if saas_core::http::secrets_match(token.as_bytes(), state.admin_token.as_bytes()) {
            Ok(Admin)
        } else {
            Err(ApiError::Unauthorized("wrong admin token".into()))
        }
    }
}

pub fn routes(state: AdminState) -> Router {
    Router::new()
        .route("/admin/tenants", get(list_tenants).post(create_tenant))
        .route("/admin/tenants/{id}", get(get_tenant))
        .route("/admin/tenants/{id}/tokens", post(issue_token))
        .route("/admin/tenants/{id}/move", post(move_tenant))
        .with_state(state)
}

#[derive(Debug, Serialize)]
pub struct TenantBody {
    pub id: TenantId,
    pub slug: String,
    pub name: String,
    pub tier: String,
}

impl From<Tenant> for TenantBody {
    fn from(t: Tenant) -> Self {
        TenantBody {
            id: t.id,
            slug: t.slug,
            name: t.name,
            tier: t.tier.to_string(),
        }
    }
}

#[derive(Debug, Deserialize)]
pub struct CreateTenant {
    pub slug: String,
    pub name: String,
    #[serde(default)]
    pub tier: Option<String>,
    /// The server of a database-tier tenant (a name from `SAAS_SERVERS`).
    #[serde(default)]
    pub server: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct MoveTenant {
    pub tier: String,
    #[serde(default)]
    pub server: Option<String>,
    /// The Citus worker (`host:port`) of a dedicated-tier target.
    #[serde(default)]
    pub node: Option<String>,
}

/// Moves a tenant online to another tier; answers once the registry points at the new
/// location (the old copy is removed in the background after the registry cache expires).
/// The move runs on a task of its own: a client that disconnects does not stop it half-way
/// (with the tenant's writes fenced), and graceful shutdown waits for it.
async fn move_tenant(
    _: Admin,
    axum::extract::State(state): axum::extract::State<AdminState>,
    Path(id): Path<Uuid>,
    Json(input): Json<MoveTenant>,
) -> ApiResult<Json<TenantBody>> {
    let request = MoveRequest {
        tier: input.tier.parse()?,
        server: input.server,
        node: input.node,
    };
    let tenant = state.tenancy.tenants().get(TenantId::from_uuid(id)).await?;
    let options = MoveOptions {
        background_cleanup: true,
        ..MoveOptions::default()
    };
    let report = moves::spawn(&state.tenancy, tenant.id, request, options)
        .await
        .map_err(|e| ApiError::Internal(anyhow::anyhow!("the tenant move's task failed: {e}")))??;
    Ok(Json(report.tenant.into()))
}

async fn create_tenant(
    _: Admin,
    axum::extract::State(state): axum::extract::State<AdminState>,
    Json(input): Json<CreateTenant>,
) -> ApiResult<(
    StatusCode,
    [(axum::http::HeaderName, String); 1],
    Json<TenantBody>,
)> {
    let tier = input.tier.as_deref().map(str::parse).transpose()?;
    let tenant = state
        .tenancy
        .tenants()
        .create(NewTenant {
            slug: input.slug,
            name: input.name,
            tier,
            server: input.server,
        })
        .await?;
    // The new tenant's own address (`GET /admin/tenants/{id}`).
    let location = format!("/admin/tenants/{}", tenant.id);
    Ok((
        StatusCode::CREATED,
        [(axum::http::header::LOCATION, location)],
        Json(tenant.into()),
    ))
}

async fn get_tenant(
    _: Admin,
    axum::extract::State(state): axum::extract::State<AdminState>,
    Path(id): Path<Uuid>,
) -> ApiResult<Json<TenantBody>> {
    let tenant = state.tenancy.tenants().get(TenantId::from_uuid(id)).await?;
    Ok(Json(tenant.into()))
}

#[derive(Debug, Serialize)]
pub struct Items<T> {
    pub items: Vec<T>,
}

async fn list_tenants(
    _: Admin,
    axum::extract::State(state): axum::extract::State<AdminState>,
) -> ApiResult<Json<Items<TenantBody>>> {
    let items = state.tenancy.tenants().list().await?;
    Ok(Json(Items {
        items: items.into_iter().map(Into::into).collect(),
    }))
}

#[derive(Debug, Deserialize)]
pub struct TokenRequest {
    pub subject: String,
    #[serde(default = "default_ttl")]
    pub ttl_seconds: u64,
}

fn default_ttl() -> u64 {
    3600
}

#[derive(Debug, Serialize)]
pub struct TokenBody {
    pub token: String,
}

async fn issue_token(
    _: Admin,
    axum::extract::State(state): axum::extract::State<AdminState>,
    Path(id): Path<Uuid>,
    Json(input): Json<TokenRequest>,
) -> ApiResult<(StatusCode, Json<TokenBody>)> {
    if input.subject.is_empty() || input.subject.chars().count() > 200 {
        return Err(ApiError::Validation(
            "subject must be 1 to 200 characters".into(),
        ));
    }
    if input.ttl_seconds == 0 || input.ttl_seconds > 366 * 24 * 3600 {
        return Err(ApiError::Validation(
            "ttl_seconds must be between 1 and one year".into(),
        ));
    }
    let tenant = state.tenancy.tenants().get(TenantId::from_uuid(id)).await?;
    let token = state
        .issuer
        .issue(tenant.id, &input.subject, input.ttl_seconds)?;
    Ok((StatusCode::CREATED, Json(TokenBody { token })))
}
