// Misspelled cache policies and If-Match requirements.
use saas_core::endpoint;

#[endpoint(get, "/a", versions = 1.., cache = shared)]
async fn a() -> &'static str {
    ""
}

#[endpoint(get, "/b", versions = 1.., cache = private(max_age = "60"))]
async fn b() -> &'static str {
    ""
}

#[endpoint(get, "/c", versions = 1.., cache = private(ttl = 60))]
async fn c() -> &'static str {
    ""
}

#[endpoint(patch, "/d", versions = 1.., if_match = always)]
async fn d() -> &'static str {
    ""
}

fn main() {}
