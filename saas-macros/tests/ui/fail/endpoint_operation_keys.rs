// The operation's keys are the framework's own: each mistake is named where it is written.
use saas_core::endpoint;
use saas_core::http::{Json, Path};
use saas_core::prelude::*;

#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct NoteBody {
    pub body: String,
}

#[endpoint(get, "/notes/{id}", versions = 1.., security(("bearer" = [])), headers = 1,
    params(("id" = Uuid, Body), ("q" = String)),
    responses((status = 999, body = NoteBody), (status = 200, body = NoteBody, links = 1)))]
async fn get_note(Path(_id): Path<Uuid>) -> ApiResult<Json<NoteBody>> {
    Ok(Json(NoteBody { body: String::new() }))
}

fn main() {}
