// An endpoint introduced in a version `api_versions!` does not declare, and a successor
// outside the declared versions.
use saas_core::{api_versions, endpoint, routes};

api_versions! {
    pub const VERSIONS = { 1 => current, 2 => current };
}

#[endpoint(get, "/reports", versions = 3..)]
async fn reports() -> &'static str {
    "[]"
}

#[endpoint(get, "/projects", versions = 1, successor = 7)]
async fn projects_v1() -> &'static str {
    "[]"
}

fn main() {
    let _api = routes!(VERSIONS; reports, projects_v1);
}
