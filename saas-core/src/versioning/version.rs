//! [`ApiVersion`]: an ordered API version, an integer (`1`, `2`) or a date (`2026-01-15`).

use std::cmp::Ordering;
use std::fmt;

/// An API version. Integers and dates may not be mixed in one [`super::VersionSet`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ApiVersion {
    /// `1`, `2`, ... served under `/v1`, `/v2`.
    Int(u32),
    /// A date version, served under `/2026-01-15`.
    Date {
        /// Year.
        year: u16,
        /// Month, 1-12.
        month: u8,
        /// Day, 1-31.
        day: u8,
    },
}

impl ApiVersion {
    /// A total order usable in constants: dates sort after integers.
    pub const fn rank(&self) -> u64 {
        match *self {
            ApiVersion::Int(n) => n as u64,
            ApiVersion::Date { year, month, day } => {
                (1u64 << 40) + (year as u64) * 10_000 + (month as u64) * 100 + day as u64
            }
        }
    }

    /// Whether two versions are the same (usable in constants).
    pub const fn same(&self, other: &ApiVersion) -> bool {
        self.rank() == other.rank()
    }

    /// The path segment that selects this version: `v2` or `2026-01-15`.
    pub fn path_segment(&self) -> String {
        match self {
            ApiVersion::Int(n) => format!("v{n}"),
            date => date.to_string(),
        }
    }

    /// Parses a path segment (`v2`, `2026-01-15`) or a header value (`2`, `v2`, `2026-01-15`).
    pub fn parse(text: &str) -> Option<ApiVersion> {
        let text = text.trim();
        let digits = text
            .strip_prefix('v')
            .or_else(|| text.strip_prefix('V'))
            .unwrap_or(text);
        if !digits.is_empty() && digits.len() <= 9 && digits.bytes().all(|b| b.is_ascii_digit()) {
            return digits.parse().ok().map(ApiVersion::Int);
        }
        let mut parts = text.splitn(3, '-');
        let (y, m, d) = (parts.next()?, parts.next()?, parts.next()?);
        if y.len() != 4 || m.len() != 2 || d.len() != 2 {
            return None;
        }
        let (year, month, day) = (y.parse().ok()?, m.parse().ok()?, d.parse().ok()?);
        if !(1..=12).contains(&month) || !(1..=31).contains(&day) {
            return None;
        }
        Some(ApiVersion::Date { year, month, day })
    }
}

impl PartialOrd for ApiVersion {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for ApiVersion {
    fn cmp(&self, other: &Self) -> Ordering {
        self.rank().cmp(&other.rank())
    }
}

impl fmt::Display for ApiVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ApiVersion::Int(n) => write!(f, "{n}"),
            ApiVersion::Date { year, month, day } => write!(f, "{year:04}-{month:02}-{day:02}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_parse_from_paths_and_headers() {
        assert_eq!(ApiVersion::parse("v2"), Some(ApiVersion::Int(2)));
        assert_eq!(ApiVersion::parse("2"), Some(ApiVersion::Int(2)));
        assert_eq!(
            ApiVersion::parse("2026-01-15"),
            Some(ApiVersion::Date {
                year: 2026,
                month: 1,
                day: 15
            })
        );
        for bad in [
            "",
            "v",
            "vx",
            "2026-13-01",
            "26-01-01",
            "projects",
            "v99999999999",
        ] {
            assert_eq!(ApiVersion::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn versions_order_and_render() {
        assert!(ApiVersion::Int(1) < ApiVersion::Int(2));
        let d1 = ApiVersion::Date {
            year: 2025,
            month: 12,
            day: 31,
        };
        let d2 = ApiVersion::Date {
            year: 2026,
            month: 1,
            day: 1,
        };
        assert!(d1 < d2);
        assert_eq!(d2.path_segment(), "2026-01-01");
        assert_eq!(ApiVersion::Int(3).path_segment(), "v3");
    }
}
