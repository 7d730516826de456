//! The changes found, and the report they make.

use std::fmt;

/// Whether a change can break an existing client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    /// An existing client may fail: the check for a released version must fail.
    Breaking,
    /// Existing clients keep working: the change may ship in a released version.
    Additive,
}

impl Severity {
    fn label(self) -> &'static str {
        match self {
            Severity::Breaking => "BREAKING",
            Severity::Additive => "ADDITIVE",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.label())
    }
}

/// One difference between two documents.
///
/// Displays as `BREAKING  GET /v1/projects/{id} › response 200 › body › name: property removed`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// Whether existing clients may break.
    pub severity: Severity,
    /// Where: the method and path, then the place in the operation, separated by ` › `.
    pub location: String,
    /// What changed, in a few words.
    pub message: String,
}

impl Change {
    pub(super) fn new(
        severity: Severity,
        location: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Self {
            severity,
            location: location.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:<8}  {}: {}",
            self.severity, self.location, self.message
        )
    }
}

/// The changes that must fail a check.
pub fn breaking(changes: &[Change]) -> impl Iterator<Item = &Change> {
    changes
        .iter()
        .filter(|change| change.severity == Severity::Breaking)
}

/// Renders a report: a count line, then the breaking changes, then the additive ones, each
/// grouped under the operation (or path) they belong to.
///
/// ```text
/// 1 breaking change, 1 additive change
///
/// BREAKING
///   GET /v1/projects/{id}
///     response 200 › body › name: property removed
///
/// ADDITIVE
///   POST /v1/projects
///     operation added
/// ```
pub fn render(changes: &[Change]) -> String {
    let count = |severity: Severity| changes.iter().filter(|c| c.severity == severity).count();
    let plural = |n: usize| if n == 1 { "change" } else { "changes" };
    let (b, a) = (count(Severity::Breaking), count(Severity::Additive));
    if b + a == 0 {
        return "no changes\n".to_owned();
    }
    let mut report = format!("{b} breaking {}, {a} additive {}\n", plural(b), plural(a));
    for severity in [Severity::Breaking, Severity::Additive] {
        // Groups keep the order in which their first change was found.
        let mut groups: Vec<(&str, Vec<&Change>)> = Vec::new();
        for change in changes.iter().filter(|c| c.severity == severity) {
            let head = change
                .location
                .split_once(" › ")
                .map_or(change.location.as_str(), |(head, _)| head);
            match groups.iter_mut().find(|(h, _)| *h == head) {
                Some((_, members)) => members.push(change),
                None => groups.push((head, vec![change])),
            }
        }
        if groups.is_empty() {
            continue;
        }
        report.push('\n');
        report.push_str(severity.label());
        report.push('\n');
        for (head, members) in groups {
            report.push_str("  ");
            report.push_str(head);
            report.push('\n');
            for change in members {
                report.push_str("    ");
                if let Some((_, rest)) = change.location.split_once(" › ") {
                    report.push_str(rest);
                    report.push_str(": ");
                }
                report.push_str(&change.message);
                report.push('\n');
            }
        }
    }
    report
}

#[cfg(test)]
mod tests {
    use super::*;

    use Severity::{Additive as A, Breaking as B};

    #[test]
    fn change_displays_severity_location_and_message() {
        let change = Change::new(
            B,
            "GET /v1/projects/{id} › response 200 › body › name",
            "property removed",
        );
        assert_eq!(
            change.to_string(),
            "BREAKING  GET /v1/projects/{id} › response 200 › body › name: property removed"
        );
        assert_eq!(
            Change::new(A, "/v1/x", "path added").to_string(),
            "ADDITIVE  /v1/x: path added"
        );
    }

    #[test]
    fn breaking_keeps_only_breaking_changes() {
        let changes = [
            Change::new(A, "/a", "path added"),
            Change::new(B, "/b", "path removed"),
        ];
        let kept: Vec<&Change> = breaking(&changes).collect();
        assert_eq!(kept, [&changes[1]]);
    }

    #[test]
    fn render_groups_by_operation_breaking_first() {
        let changes = [
            Change::new(A, "POST /v1/projects", "operation added"),
            Change::new(
                B,
                "GET /v1/projects/{id} › response 200 › body › name",
                "property removed",
            ),
            Change::new(B, "/v1/archive", "path removed (GET)"),
            Change::new(
                B,
                "GET /v1/projects/{id} › response 404",
                "response status removed",
            ),
        ];
        assert_eq!(
            render(&changes),
            "3 breaking changes, 1 additive change\n\
             \n\
             BREAKING\n  \
               GET /v1/projects/{id}\n    \
                 response 200 › body › name: property removed\n    \
                 response 404: response status removed\n  \
               /v1/archive\n    \
                 path removed (GET)\n\
             \n\
             ADDITIVE\n  \
               POST /v1/projects\n    \
                 operation added\n"
        );
        assert_eq!(render(&[]), "no changes\n");
    }
}
