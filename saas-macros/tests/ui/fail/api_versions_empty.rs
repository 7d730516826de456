// A version set with no version.
saas_core::api_versions! {
    pub const VERSIONS = {};
}

fn main() {
    // The constant is still defined: no "cannot find value" error here.
    let _ = VERSIONS.versions.len();
}
