//! The deprecation policy: an operation is deprecated in one version before it disappears from
//! the next.

use std::collections::BTreeSet;

use serde_json::Value;

use super::{Change, METHODS, Severity, is_true, object, operation_location};
use crate::openapi::refs::resolve;

/// Checks that every operation removed between two consecutive versions was deprecated first.
///
/// `versions` are `(version name, document)` pairs, oldest first. Operations are matched by
/// method and path with the version prefix stripped: a leading `/v<digits>` or `/<yyyy-mm-dd>`
/// segment, so `/v1/projects/{id}` and `/v2/projects/{id}` are the same operation. An operation
/// of version N that version N+1 lacks is a [`Severity::Breaking`] change unless version N marks
/// it `deprecated: true`; a removal after deprecation is the policy working and is not reported.
///
/// ```
/// use saas_core::openapi::diff::removal_policy;
/// use serde_json::json;
///
/// let v1 = json!({"paths": {"/v1/projects": {"get": {}, "delete": {}}}});
/// let v2 = json!({"paths": {"/v2/projects": {"get": {}}}});
/// let changes = removal_policy(&[("v1".into(), v1), ("v2".into(), v2)]);
/// assert_eq!(
///     changes[0].to_string(),
///     "BREAKING  DELETE /v1/projects: removed in v2 without being deprecated in v1",
/// );
/// ```
pub fn removal_policy(versions: &[(String, Value)]) -> Vec<Change> {
    let mut out = Vec::new();
    for pair in versions.windows(2) {
        let (old_name, old_doc) = &pair[0];
        let (new_name, new_doc) = &pair[1];
        let kept: BTreeSet<(&str, &str)> = operations(new_doc)
            .map(|(path, method, _)| (strip_version_prefix(path), method))
            .collect();
        for (path, method, op) in operations(old_doc) {
            if kept.contains(&(strip_version_prefix(path), method)) {
                continue;
            }
            if !is_true(op.get("deprecated")) {
                out.push(Change::new(
                    Severity::Breaking,
                    operation_location(method, path),
                    format!("removed in {new_name} without being deprecated in {old_name}"),
                ));
            }
        }
    }
    out
}

/// Every `(path, method, operation)` of a document, paths sorted, methods in [`METHODS`] order.
fn operations(doc: &Value) -> impl Iterator<Item = (&str, &'static str, &Value)> {
    let mut paths: Vec<(&String, &Value)> =
        object(doc.get("paths")).into_iter().flatten().collect();
    paths.sort_by_key(|(path, _)| *path);
    paths.into_iter().flat_map(move |(path, item)| {
        let item = resolve(doc, item).value();
        METHODS
            .iter()
            .filter_map(move |method| Some((path.as_str(), *method, item.get(*method)?)))
    })
}

/// Removes a leading version segment: `/v2/projects` and `/2024-01-31/projects` become
/// `/projects`; other paths are returned unchanged.
fn strip_version_prefix(path: &str) -> &str {
    let Some(rest) = path.strip_prefix('/') else {
        return path;
    };
    let (segment, tail) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let numbered = segment
        .strip_prefix('v')
        .is_some_and(|digits| !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()));
    if !numbered && !is_date(segment) {
        return path;
    }
    if tail.is_empty() { "/" } else { tail }
}

/// `yyyy-mm-dd`.
fn is_date(segment: &str) -> bool {
    let bytes = segment.as_bytes();
    bytes.len() == 10
        && bytes.iter().enumerate().all(|(i, b)| match i {
            4 | 7 => *b == b'-',
            _ => b.is_ascii_digit(),
        })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    use Severity::Breaking as B;

    fn versioned(prefix: &str, deprecated: bool) -> Value {
        json!({"paths": {
            format!("{prefix}/projects"): {"get": {}},
            format!("{prefix}/projects/{{id}}"): {"get": {}, "delete": {"deprecated": deprecated}},
        }})
    }

    fn without_delete(prefix: &str) -> Value {
        json!({"paths": {
            format!("{prefix}/projects"): {"get": {}},
            format!("{prefix}/projects/{{id}}"): {"get": {}},
        }})
    }

    #[test]
    fn removal_without_deprecation_is_breaking() {
        let changes = removal_policy(&[
            ("v1".to_owned(), versioned("/v1", false)),
            ("v2".to_owned(), without_delete("/v2")),
        ]);
        assert_eq!(
            changes,
            [Change::new(
                B,
                "DELETE /v1/projects/{id}",
                "removed in v2 without being deprecated in v1"
            )]
        );
    }

    #[test]
    fn removal_after_deprecation_is_allowed() {
        let changes = removal_policy(&[
            ("v1".to_owned(), versioned("/v1", true)),
            ("v2".to_owned(), without_delete("/v2")),
        ]);
        assert_eq!(changes, []);
    }

    #[test]
    fn removal_policy_matches_dated_versions_and_checks_each_step() {
        let changes = removal_policy(&[
            ("2024-01-01".to_owned(), versioned("/2024-01-01", false)),
            ("2024-06-01".to_owned(), versioned("/2024-06-01", false)),
            ("2025-01-01".to_owned(), without_delete("/2025-01-01")),
        ]);
        assert_eq!(
            changes,
            [Change::new(
                B,
                "DELETE /2024-06-01/projects/{id}",
                "removed in 2025-01-01 without being deprecated in 2024-06-01"
            )]
        );
    }

    #[test]
    fn removal_policy_ignores_kept_operations() {
        let changes = removal_policy(&[
            ("v1".to_owned(), versioned("/v1", false)),
            ("v2".to_owned(), versioned("/v2", false)),
        ]);
        assert_eq!(changes, []);
        assert_eq!(removal_policy(&[]), []);
    }

    #[test]
    fn version_prefix_is_stripped_only_when_it_is_a_version() {
        assert_eq!(strip_version_prefix("/v1/projects/{id}"), "/projects/{id}");
        assert_eq!(strip_version_prefix("/v12"), "/");
        assert_eq!(strip_version_prefix("/2024-01-31/projects"), "/projects");
        assert_eq!(strip_version_prefix("/videos/1"), "/videos/1");
        assert_eq!(strip_version_prefix("/v/projects"), "/v/projects");
        assert_eq!(strip_version_prefix("/2024-1-31/x"), "/2024-1-31/x");
        assert_eq!(strip_version_prefix("projects"), "projects");
    }
}
