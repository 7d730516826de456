//! Deprecation (RFC 9745), Sunset (RFC 8594) and Link (RFC 8288, RFC 5829) header values.

use time::OffsetDateTime;
use time::macros::format_description;

/// `@<unix-seconds>`: the Deprecation header's structured-field date (RFC 9745 §2.1).
pub fn deprecation_value(unix_seconds: i64) -> String {
    format!("@{unix_seconds}")
}

/// An IMF-fixdate in GMT (RFC 9110 §5.6.7), as the Sunset header requires:
/// `Wed, 30 Jun 2027 00:00:00 GMT`.
pub fn imf_fixdate(unix_seconds: i64) -> String {
    let format = format_description!(
        "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
    );
    OffsetDateTime::from_unix_timestamp(unix_seconds)
        .ok()
        .and_then(|t| t.format(&format).ok())
        .unwrap_or_else(|| "Thu, 01 Jan 1970 00:00:00 GMT".to_string())
}

/// A calendar date (`2027-06-30`) for documents (`x-sunset`).
pub fn iso_date(unix_seconds: i64) -> String {
    OffsetDateTime::from_unix_timestamp(unix_seconds)
        .map(|t| t.date().to_string())
        .unwrap_or_default()
}

/// One Link header value: `<target>; rel="relation"`.
pub fn link(target: &str, relation: &str) -> String {
    format!("<{target}>; rel=\"{relation}\"")
}

/// Fills the `{name}` parameters of `target_template` with the values `request_path` has where
/// `route_template` has the same parameters (both axum syntax, same parameter names).
pub fn fill_path(route_template: &str, request_path: &str, target_template: &str) -> String {
    let route: Vec<&str> = route_template.split('/').collect();
    let actual: Vec<&str> = request_path.split('/').collect();
    let mut values = Vec::new();
    if route.len() == actual.len() {
        for (r, a) in route.iter().zip(&actual) {
            if let Some(name) = r.strip_prefix('{').and_then(|r| r.strip_suffix('}')) {
                values.push((name.trim_start_matches('*'), *a));
            }
        }
    }
    target_template
        .split('/')
        .map(|segment| {
            segment
                .strip_prefix('{')
                .and_then(|s| s.strip_suffix('}'))
                .and_then(|name| values.iter().find(|(n, _)| *n == name).map(|(_, v)| *v))
                .unwrap_or(segment)
        })
        .collect::<Vec<_>>()
        .join("/")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sunset_is_an_imf_fixdate_in_gmt_that_parses_back() {
        let value = imf_fixdate(1_814_313_600);
        assert_eq!(value, "Wed, 30 Jun 2027 00:00:00 GMT");
        let format = format_description!(
            "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
        );
        let parsed = time::PrimitiveDateTime::parse(&value, &format)
            .unwrap()
            .assume_utc();
        assert_eq!(parsed.unix_timestamp(), 1_814_313_600);
    }

    #[test]
    fn deprecation_is_an_at_date() {
        assert_eq!(deprecation_value(1_767_225_600), "@1767225600");
    }

    #[test]
    fn path_parameters_fill_the_successor() {
        assert_eq!(
            fill_path(
                "/v1/projects/{id}/tasks",
                "/v1/projects/8d0c/tasks",
                "/v2/projects/{id}/tasks"
            ),
            "/v2/projects/8d0c/tasks"
        );
        assert_eq!(
            link("/v2/x", "successor-version"),
            "</v2/x>; rel=\"successor-version\""
        );
    }
}
