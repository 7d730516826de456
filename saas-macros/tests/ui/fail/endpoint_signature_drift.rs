// The attribute must agree with the handler's signature: what it returns, takes and extracts
// from the path. (Without `responses(..)`, a plain `Json<T>` return is inferred as a 200.)
use axum::http::StatusCode;
use saas_core::endpoint;
use saas_core::http::{Json, Path};
use uuid::Uuid;

#[derive(serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct NoteBody {
    pub body: String,
}

#[derive(serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct NoteV1 {
    pub text: String,
}

// The response lost its body: v1 clients would silently get the v2 shape.
#[endpoint(get, "/notes/{id}", versions = 1.., responses((status = 200, description = "A note")))]
async fn get_note(Path(_id): Path<Uuid>) -> saas_core::ApiResult<Json<NoteBody>> {
    Ok(Json(NoteBody { body: String::new() }))
}

// The declared body is another type than the one returned.
#[endpoint(get, "/notes", versions = 1.., responses((status = 200, body = NoteV1)))]
async fn list_notes() -> Json<NoteBody> {
    Json(NoteBody { body: String::new() })
}

// The declared request body is another type than the one taken.
#[endpoint(post, "/notes", versions = 1.., request_body = NoteV1,
    responses((status = 201, body = NoteBody)))]
async fn create_note(Json(input): Json<NoteBody>) -> (StatusCode, Json<NoteBody>) {
    (StatusCode::CREATED, Json(input))
}

// The status is chosen at run time, so it must be declared.
#[endpoint(put, "/notes/{id}", versions = 1..)]
async fn put_note(Path(_id): Path<Uuid>) -> (StatusCode, Json<NoteBody>) {
    (StatusCode::OK, Json(NoteBody { body: String::new() }))
}

// `{id}` is in the path but not in `params(..)`; and one value for two parameters.
#[endpoint(delete, "/notes/{id}", versions = 1.., params(("note" = Uuid, Path)))]
async fn delete_note(Path(_id): Path<Uuid>) -> StatusCode {
    StatusCode::NO_CONTENT
}

#[endpoint(get, "/notes/{id}/links/{link}", versions = 1..)]
async fn get_link(Path(_id): Path<Uuid>) -> StatusCode {
    StatusCode::OK
}

fn main() {}
