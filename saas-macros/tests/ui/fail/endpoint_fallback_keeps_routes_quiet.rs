// A broken endpoint still gets its marker type: listing it in `routes!` adds no error, so the
// one real mistake (the missing `async`) is all the user sees.
use saas_core::{api_versions, endpoint, routes};

api_versions! {
    pub const VERSIONS = { 1 => current };
}

#[endpoint(get, "/health", versions = 1..)]
fn health() -> &'static str {
    "ok"
}

fn main() {
    let api = routes!(VERSIONS; health);
    let _ = api.endpoints.len();
}
