// Ranges that hold no version: each is reported on its range.
use saas_core::endpoint;

#[endpoint(get, "/a", versions = 3..2)]
async fn a() -> &'static str {
    "a"
}

#[endpoint(get, "/b", versions = 2..2)]
async fn b() -> &'static str {
    "b"
}

#[endpoint(get, "/c", versions = 2..=1)]
async fn c() -> &'static str {
    "c"
}

fn main() {}
