// The method comes first, then the path, which starts with `/`.
use saas_core::endpoint;

#[endpoint("/a", versions = 1..)]
async fn a() {}

#[endpoint(get, versions = 1..)]
async fn b() {}

#[endpoint(fetch, "/c", versions = 1..)]
async fn c() {}

#[endpoint(get, "d", versions = 1..)]
async fn d() {}

#[endpoint]
async fn e() {}

#[endpoint(get, "/f")]
async fn f() {}

fn main() {}
