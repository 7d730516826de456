// The newest version must be current: clients need somewhere to go.
saas_core::api_versions! {
    pub const VERSIONS = {
        1 => current,
        2 => deprecated(since = "2026-01-01"),
    };
}

fn main() {}
