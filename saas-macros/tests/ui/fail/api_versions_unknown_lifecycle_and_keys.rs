// An unknown lifecycle, an unknown key, a repeated key, a key that is not a version.
saas_core::api_versions! {
    pub const VERSIONS = {
        1 => beta,
        2 => deprecated(since = "2026-01-01", until = "2027-01-01"),
        3 => deprecated(since = "2026-01-01", since = "2026-02-01"),
        4.5 => current,
        5 => current,
    };
}

fn main() {}
