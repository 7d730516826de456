// One API counts its versions with integers or with dates, not both.
saas_core::api_versions! {
    pub const VERSIONS = {
        1 => current,
        "2026-01-15" => current,
    };
}

fn main() {}
