// Versions and dates that do not parse, a range mixing integers and dates, a sunset before the
// deprecation, a successor that is not newer: all reported together.
use saas_core::endpoint;

#[endpoint(get, "/a", versions = "v2"..,
           deprecated(since = "2026-13-01", sunset = "soon"))]
async fn a() -> &'static str {
    "a"
}

#[endpoint(get, "/b", versions = 1.."2026-01-15",
           deprecated(since = "2026-06-01", sunset = "2026-01-01"))]
async fn b() -> &'static str {
    "b"
}

#[endpoint(get, "/c", versions = 2.., successor = 1)]
async fn c() -> &'static str {
    "c"
}

fn main() {}
