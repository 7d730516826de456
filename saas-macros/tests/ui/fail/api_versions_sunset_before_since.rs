// RFC 9745 §4: a Sunset may not come before the Deprecation.
saas_core::api_versions! {
    pub const VERSIONS = {
        1 => deprecated(since = "2026-06-01", sunset = "2026-05-31T23:59:59Z"),
        2 => current,
    };
}

fn main() {}
