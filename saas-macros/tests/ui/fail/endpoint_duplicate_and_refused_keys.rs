// Each key once, framework keys and utoipa's alike; `path` is the second argument, not a key.
use saas_core::endpoint;

#[endpoint(get, "/a", versions = 1.., tag = "a", tag = "b", versions = 2..,
           path = "/other", impl_for = Other)]
async fn a() {}

fn main() {}
