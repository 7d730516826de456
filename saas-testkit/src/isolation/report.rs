//! What the check found, and how it reads.

use std::fmt;

use uuid::Uuid;

use super::api::Operation;
use crate::app::TestResponse;

/// How much of a body a message shows.
const EXCERPT: usize = 240;

/// What [`IsolationCheck::report`](super::IsolationCheck::report) found. Its `Display` is the
/// panic message of [`assert_isolated`](super::assert_isolated).
#[derive(Debug, Clone)]
pub struct IsolationReport {
    pub(super) document: String,
    pub(super) tenants: [String; 2],
    pub(super) requests: usize,
    pub(super) violations: Vec<Violation>,
    pub(super) notes: Vec<String>,
}

impl IsolationReport {
    /// No violation.
    pub fn is_clean(&self) -> bool {
        self.violations.is_empty()
    }

    /// Every violation, in the order found.
    pub fn violations(&self) -> &[Violation] {
        &self.violations
    }

    /// What could not be covered (a route that could not be filled, a resource A could not
    /// create); not failures by themselves.
    pub fn notes(&self) -> &[String] {
        &self.notes
    }

    /// How many requests the check sent.
    pub fn requests(&self) -> usize {
        self.requests
    }
}

impl fmt::Display for IsolationReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [a, b] = &self.tenants;
        if self.is_clean() {
            write!(
                f,
                "tenant isolation holds: {} requests from {}, tenants A = {a}, B = {b}",
                self.requests, self.document
            )?;
        } else {
            write!(
                f,
                "tenant isolation violated: {} problem(s) in {} requests from {} (tenant A = {a}, \
                 tenant B = {b}):",
                self.violations.len(),
                self.requests,
                self.document
            )?;
            for v in &self.violations {
                write!(f, "\n  - {v}")?;
            }
        }
        if !self.notes.is_empty() {
            write!(f, "\nnot covered:")?;
            for note in &self.notes {
                write!(f, "\n  - {note}")?;
            }
        }
        Ok(())
    }
}

/// One request whose answer broke isolation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// `GET`, `POST`...
    pub method: String,
    /// The route as the document spells it (`/v2/projects/{id}`).
    pub route: String,
    /// The path sent.
    pub path: String,
    /// The status received.
    pub status: u16,
    /// What was expected instead.
    pub expected: String,
    /// What went wrong, in words.
    pub problem: String,
    /// The start of the response body.
    pub excerpt: String,
}

impl Violation {
    pub(super) fn from_response(
        op: &Operation,
        path: &str,
        response: &TestResponse,
        expected: &str,
        problem: String,
    ) -> Violation {
        Violation {
            method: op.method.clone(),
            route: op.template.clone(),
            path: path.to_string(),
            status: response.status,
            expected: expected.into(),
            problem,
            excerpt: excerpt(&response.body),
        }
    }

    pub(super) fn setup(problem: String) -> Violation {
        Violation {
            method: String::new(),
            route: String::new(),
            path: String::new(),
            status: 0,
            expected: String::new(),
            problem,
            excerpt: String::new(),
        }
    }
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.method.is_empty() {
            return f.write_str(&self.problem);
        }
        write!(
            f,
            "{} {} ({}): {}, expected {}: {}",
            self.method, self.route, self.path, self.status, self.expected, self.problem
        )?;
        if !self.excerpt.is_empty() {
            write!(f, "; body: {}", self.excerpt)?;
        }
        Ok(())
    }
}

pub(super) fn excerpt(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
    match text.char_indices().nth(EXCERPT) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text,
    }
}

pub(super) fn join(ids: &[Uuid]) -> String {
    ids.iter()
        .map(Uuid::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}
