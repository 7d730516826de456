// Versions are listed oldest first, each once.
saas_core::api_versions! {
    pub const VERSIONS = {
        2 => current,
        1 => current,
        2 => current,
        3 => current,
    };
}

fn main() {}
