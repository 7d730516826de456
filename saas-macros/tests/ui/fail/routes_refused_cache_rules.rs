// Cache policies and If-Match requirements that do not fit the endpoint: refused by `routes!`
// at compile time (the same check runs when the app is built, for an API assembled by hand).
use saas_core::{api_versions, endpoint, routes};

api_versions! {
    pub const VERSIONS = { 1 => current };
}

// A tenant's response kept by shared caches for everyone.
#[endpoint(get, "/projects", versions = 1.., cache = public(max_age = 3600))]
async fn list() -> &'static str {
    "[]"
}

// Caching the answer to a write.
#[endpoint(post, "/projects", versions = 1.., cache = edge)]
async fn create() -> &'static str {
    "{}"
}

// If-Match on a read.
#[endpoint(get, "/projects/{id}", versions = 1.., if_match = required)]
async fn get() -> &'static str {
    "{}"
}

fn main() {
    let _api = routes!(VERSIONS; list);
    let _api = routes!(VERSIONS; create);
    let _api = routes!(VERSIONS; get);
}
