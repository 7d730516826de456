// Two handlers for GET /projects in version 2.
use saas_core::{api_versions, endpoint, routes};

api_versions! {
    pub const VERSIONS = { 1 => current, 2 => current };
}

#[endpoint(get, "/projects", versions = 1..)]
async fn list_v1() -> &'static str {
    "[]"
}

#[endpoint(get, "/projects", versions = 2..)]
async fn list() -> &'static str {
    "[]"
}

#[endpoint(post, "/projects", versions = 1..)]
async fn create() -> &'static str {
    "{}"
}

fn main() {
    let _api = routes!(VERSIONS; list_v1, create, list);
}
