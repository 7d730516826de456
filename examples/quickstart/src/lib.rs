//! notes: the application the guide's quickstart builds, compiled and tested as it is shown.

use axum::http::StatusCode;
use saas_core::http::{Json, Path, Query};
use saas_core::prelude::*;
use saas_core::tenancy::resolver::JwtResolver;
use saas_core::{Page, PageQuery, SaasApp, SaasAppBuilder, api_versions, endpoint, routes};

/// The tables, applied by `migrate` and `serve` (the framework adds RLS to them).
pub static MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!();

api_versions! {
    pub const VERSIONS = { 1 => current };
}

/// A note: one tenant's row; no query ever names the tenant.
#[derive(TenantScoped, sqlx::FromRow)]
#[tenant(table = "notes")]
pub struct Note {
    pub tenant_id: TenantId,
    #[tenant(generated)]
    pub id: Uuid,
    pub body: String,
}

/// A note, as clients see it.
#[derive(serde::Serialize, utoipa::ToSchema)]
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

/// What a client sends to create a note.
#[derive(serde::Deserialize, utoipa::ToSchema)]
pub struct NoteInput {
    pub body: String,
}

/// Create a note. (The status is a value, so it is declared; the rest comes from the types.)
#[endpoint(post, "/notes", versions = 1.., responses((status = 201, body = NoteBody)))]
pub async fn create_note(
    mut tx: TenantTx,
    Json(input): Json<NoteInput>,
) -> ApiResult<(StatusCode, Json<NoteBody>)> {
    let note = Note::insert(&mut tx, NewNote { body: input.body }).await?;
    Ok((StatusCode::CREATED, Json(note.into())))
}

/// One note; another tenant's note is a 404, like a missing one.
#[endpoint(get, "/notes/{id}", versions = 1..)]
pub async fn get_note(mut tx: TenantTx, Path(id): Path<Uuid>) -> ApiResult<Json<NoteBody>> {
    Ok(Json(Note::get(&mut tx, id).await?.into()))
}

/// A page of the tenant's notes.
#[endpoint(get, "/notes", versions = 1..)]
pub async fn list_notes(
    mut tx: TenantTx,
    Query(page): Query<PageQuery>,
) -> ApiResult<Json<Page<NoteBody>>> {
    let notes = Note::list(&mut tx, page.request()?).await?;
    Ok(Json(notes.map(NoteBody::from)))
}

/// The app: bearer tokens signed with `jwt_secret` (HS256, at least 32 bytes) name the tenant.
pub fn app(jwt_secret: &str) -> SaasAppBuilder {
    SaasApp::builder()
        .name("notes")
        .resolver(JwtResolver::hs256(jwt_secret))
        .migrations(&MIGRATIONS)
        .api(routes!(VERSIONS; create_note, get_note, list_notes))
}
