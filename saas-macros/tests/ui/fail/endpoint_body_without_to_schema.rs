// A response body type without `utoipa::ToSchema`.
use saas_core::endpoint;
use saas_core::http::Json;

#[derive(serde::Serialize)]
pub struct NoteBody {
    pub body: String,
}

#[endpoint(get, "/notes", versions = 1..)]
async fn list_notes() -> Json<NoteBody> {
    Json(NoteBody { body: String::new() })
}

fn main() {}
