// Dates that are not dates: a day February 2026 does not have, a timestamp without an offset,
// and words. All three are reported in one build.
saas_core::api_versions! {
    pub const VERSIONS = {
        1 => deprecated(since = "2026-02-29", sunset = "2027-01-01T00:00:00", docs = "https://example.com"),
        2 => deprecated(since = "next tuesday"),
        3 => current,
    };
}

fn main() {}
