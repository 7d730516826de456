//! The isolation checks catch leaks: a small notes app, served correctly and then with one
//! handler that reads or writes through the owner pool (a superuser on the test server, so
//! row-level security does not apply) without a tenant filter.
//!
//! This binary's only model is `Note`; `tests/isolation_migrations` creates its table.

use std::panic::AssertUnwindSafe;

use axum::Extension;
use axum::http::StatusCode;
use futures_util::FutureExt;
use saas_core::app::SaasApp;
use saas_core::endpoint;
use saas_core::http::{Json, Path};
use saas_core::prelude::*;
use saas_core::tenancy::pool::Tenancy;
use saas_core::tenancy::resolver::{JwtResolver, TenantCtx};
use saas_core::versioning::Api;
use saas_testkit::{
    IsolationCheck, TestApp, TestEnv, assert_isolated, assert_isolated_interleaved,
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

static MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("tests/isolation_migrations");

/// A note belongs to one tenant.
#[derive(Debug, Clone, TenantScoped, sqlx::FromRow)]
#[tenant(table = "notes")]
pub struct Note {
    pub tenant_id: TenantId,
    #[tenant(generated)]
    pub id: Uuid,
    pub body: String,
}

/// A note as the API shows it.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct NoteBody {
    pub id: Uuid,
    pub body: String,
}

impl From<Note> for NoteBody {
    fn from(note: Note) -> Self {
        NoteBody {
            id: note.id,
            body: note.body,
        }
    }
}

/// A new note, or a note's new text.
#[derive(Debug, Deserialize, ToSchema)]
pub struct NoteInput {
    #[schema(min_length = 1, max_length = 10)]
    pub body: String,
}

/// Every note of the tenant.
#[derive(Debug, Serialize, ToSchema)]
pub struct NotePage {
    pub items: Vec<NoteBody>,
}

saas_core::api_versions! {
    const VERSIONS = { 1 => current };
}

fn check_body(body: &str) -> ApiResult<()> {
    if (1..=10).contains(&body.chars().count()) {
        Ok(())
    } else {
        Err(ApiError::Validation(
            "body must be 1 to 10 characters".into(),
        ))
    }
}

// --- The correct handlers. ---

#[endpoint(post, "/notes", versions = 1.., request_body = NoteInput,
    responses((status = 201, body = NoteBody)))]
async fn create_note(
    mut tx: TenantTx,
    Json(input): Json<NoteInput>,
) -> ApiResult<(StatusCode, Json<NoteBody>)> {
    check_body(&input.body)?;
    let note = Note::insert(&mut tx, NewNote { body: input.body }).await?;
    Ok((StatusCode::CREATED, Json(note.into())))
}

#[endpoint(get, "/notes", versions = 1.., responses((status = 200, body = NotePage)))]
async fn list_notes(mut tx: TenantTx) -> ApiResult<Json<NotePage>> {
    let page = Note::list(&mut tx, PageRequest::first()).await?;
    Ok(Json(NotePage {
        items: page.items.into_iter().map(Into::into).collect(),
    }))
}

#[endpoint(get, "/notes/{id}", versions = 1.., params(("id" = Uuid, Path)),
    responses((status = 200, body = NoteBody)))]
async fn get_note(mut tx: TenantTx, Path(id): Path<Uuid>) -> ApiResult<Json<NoteBody>> {
    Ok(Json(Note::get(&mut tx, id).await?.into()))
}

#[endpoint(patch, "/notes/{id}", versions = 1.., params(("id" = Uuid, Path)),
    request_body = NoteInput, responses((status = 200, body = NoteBody)))]
async fn update_note(
    mut tx: TenantTx,
    Path(id): Path<Uuid>,
    Json(input): Json<NoteInput>,
) -> ApiResult<Json<NoteBody>> {
    check_body(&input.body)?;
    let mut note = Note::get(&mut tx, id).await?;
    note.body = input.body;
    Ok(Json(note.update(&mut tx).await?.into()))
}

#[endpoint(delete, "/notes/{id}", versions = 1.., params(("id" = Uuid, Path)),
    responses((status = 204)))]
async fn delete_note(mut tx: TenantTx, Path(id): Path<Uuid>) -> ApiResult<StatusCode> {
    Note::delete(&mut tx, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

// --- The leaky handlers: the owner pool, and no tenant in the WHERE clause. ---

#[endpoint(get, "/notes/{id}", versions = 1.., params(("id" = Uuid, Path)),
    responses((status = 200, body = NoteBody)))]
async fn leaky_get_note(
    _tenant: TenantCtx,
    Extension(tenancy): Extension<Tenancy>,
    Path(id): Path<Uuid>,
) -> ApiResult<Json<NoteBody>> {
    let row: Option<(Uuid, String)> = sqlx::query_as("SELECT id, body FROM notes WHERE id = $1")
        .bind(id)
        .fetch_optional(tenancy.owner_pool())
        .await?;
    let (id, body) = row.ok_or(ApiError::NotFound { resource: "Note" })?;
    Ok(Json(NoteBody { id, body }))
}

#[endpoint(get, "/notes", versions = 1.., responses((status = 200, body = NotePage)))]
async fn leaky_list_notes(
    _tenant: TenantCtx,
    Extension(tenancy): Extension<Tenancy>,
) -> ApiResult<Json<NotePage>> {
    let rows: Vec<(Uuid, String)> = sqlx::query_as("SELECT id, body FROM notes ORDER BY id")
        .fetch_all(tenancy.owner_pool())
        .await?;
    Ok(Json(NotePage {
        items: rows
            .into_iter()
            .map(|(id, body)| NoteBody { id, body })
            .collect(),
    }))
}

#[endpoint(patch, "/notes/{id}", versions = 1.., params(("id" = Uuid, Path)),
    request_body = NoteInput, responses((status = 200, body = NoteBody)))]
async fn leaky_update_note(
    _tenant: TenantCtx,
    Extension(tenancy): Extension<Tenancy>,
    Path(id): Path<Uuid>,
    Json(input): Json<NoteInput>,
) -> ApiResult<Json<NoteBody>> {
    check_body(&input.body)?;
    let row: Option<(Uuid, String)> =
        sqlx::query_as("UPDATE notes SET body = $2 WHERE id = $1 RETURNING id, body")
            .bind(id)
            .bind(&input.body)
            .fetch_optional(tenancy.owner_pool())
            .await?;
    let (id, body) = row.ok_or(ApiError::NotFound { resource: "Note" })?;
    Ok(Json(NoteBody { id, body }))
}

// --- The apps. ---

async fn serve(api: Api) -> (TestEnv, TestApp) {
    let env = TestEnv::builder()
        .migrations(&MIGRATIONS)
        .start()
        .await
        .expect("test environment");
    let app = SaasApp::builder()
        .resolver(JwtResolver::hs256(b"notes-secret-for-tests-0123456789"))
        .migrations(&MIGRATIONS)
        .api(api);
    let app = env.app(app).await;
    (env, app)
}

/// Runs `assert_isolated` and returns its panic message, if it panicked.
async fn isolation_panic(app: &TestApp, env: &TestEnv) -> Option<String> {
    let outcome = AssertUnwindSafe(assert_isolated(app, env))
        .catch_unwind()
        .await;
    outcome.err().map(|panic| {
        panic
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_default()
    })
}

#[tokio::test]
async fn a_correct_app_passes_with_nothing_left_out() {
    let (env, app) = serve(saas_core::routes!(VERSIONS;
        create_note, list_notes, get_note, update_note, delete_note))
    .await;
    let report = IsolationCheck::new().report(&app, &env).await;
    assert!(report.is_clean(), "{report}");
    assert!(report.notes().is_empty(), "{report}");
    assert_isolated_interleaved(&app, &env, 4).await;
}

#[tokio::test]
async fn a_leaky_handler_is_caught() {
    let (env, app) = serve(saas_core::routes!(VERSIONS;
        create_note, list_notes, leaky_get_note, update_note, delete_note))
    .await;
    let message = isolation_panic(&app, &env)
        .await
        .expect("assert_isolated must panic on a handler that reads past the tenant");
    assert!(message.contains("tenant isolation violated"), "{message}");
    assert!(
        message.contains("GET /v1/notes/{id}") && message.contains(": 200, expected 404"),
        "the message names the leaky route and its status:\n{message}"
    );
    assert!(
        message.contains("tenant B read tenant A's resource"),
        "{message}"
    );
    // The body excerpt shows what leaked: tenant A's note.
    assert!(message.contains("\"body\":\"isolation-"), "{message}");

    // Only the leaky route is blamed.
    let report = IsolationCheck::new().report(&app, &env).await;
    assert!(!report.violations().is_empty());
    for v in report.violations() {
        assert_eq!(
            (v.method.as_str(), v.route.as_str(), v.status),
            ("GET", "/v1/notes/{id}", 200),
            "{v}"
        );
    }
}

#[tokio::test]
async fn a_leaky_list_is_caught_by_the_list_check() {
    let (env, app) = serve(saas_core::routes!(VERSIONS;
        create_note, leaky_list_notes, get_note, update_note, delete_note))
    .await;
    let message = isolation_panic(&app, &env)
        .await
        .expect("assert_isolated must panic on a list that shows every tenant's rows");
    assert!(
        message.contains("GET /v1/notes (/v1/notes): 200, expected none of tenant A's ids"),
        "the message names the leaky list:\n{message}"
    );
    assert!(
        message.contains("tenant B's read holds tenant A's ids"),
        "{message}"
    );
}

#[tokio::test]
async fn a_leaky_write_is_caught_twice_with_every_violation_in_one_message() {
    let (env, app) = serve(saas_core::routes!(VERSIONS;
        create_note, list_notes, get_note, leaky_update_note, delete_note))
    .await;
    let report = IsolationCheck::new().report(&app, &env).await;
    let problems: Vec<_> = report
        .violations()
        .iter()
        .map(|v| (v.method.as_str(), v.route.as_str(), v.status))
        .collect();
    // B's PATCH succeeded on A's note, and A's note is no longer what it was.
    assert_eq!(
        problems,
        [
            ("PATCH", "/v1/notes/{id}", 200),
            ("GET", "/v1/notes/{id}", 200)
        ],
        "{report}"
    );
    let message = report.to_string();
    assert!(
        message.contains("tenant B's request on tenant A's resource succeeded"),
        "{message}"
    );
    assert!(message.contains("tenant A's resource changed"), "{message}");
}

#[tokio::test]
async fn the_interleaved_check_catches_a_leaky_handler_and_shrinks_the_sequence() {
    let (env, app) = serve(saas_core::routes!(VERSIONS;
        create_note, list_notes, leaky_get_note, update_note, delete_note))
    .await;
    let outcome = AssertUnwindSafe(
        IsolationCheck::new()
            .cases(8)
            .seed(42)
            .assert_interleaved(&app, &env),
    )
    .catch_unwind()
    .await;
    let panic = outcome.expect_err("the interleaved check must panic on the leaky handler");
    let message = panic.downcast_ref::<String>().cloned().unwrap_or_default();
    assert!(message.contains("seed 42"), "{message}");
    assert!(message.contains("GET /v1/notes/{id}"), "{message}");
    assert!(message.contains("expected 404"), "{message}");
}
