// Handlers are async.
use saas_core::endpoint;

#[endpoint(get, "/health", versions = 1..)]
fn health() -> &'static str {
    "ok"
}

#[endpoint(get, "/ready", versions = 1..)]
struct NotAFunction;

fn main() {}
