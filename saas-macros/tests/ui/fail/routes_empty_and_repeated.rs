// `routes!` lists at least one handler, each once.
use saas_core::{api_versions, endpoint, routes};

api_versions! {
    pub const VERSIONS = { 1 => current };
}

#[endpoint(get, "/health", versions = 1..)]
async fn health() -> &'static str {
    "ok"
}

fn main() {
    let _empty = routes!(VERSIONS;);
    let _twice = routes!(VERSIONS; health, health);
}
