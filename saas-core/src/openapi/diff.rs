//! Breaking-change detection between two OpenAPI documents.
//!
//! The committed per-version documents are the contract of each released API version.
//! [`compare`] walks an old and a new document (as [`serde_json::Value`], the way utoipa
//! serializes them) and lists every difference a client could notice, each marked
//! [`Severity::Breaking`] or [`Severity::Additive`] and located in human terms:
//!
//! ```text
//! BREAKING  GET /v1/projects/{id} › response 200 › body › name: property removed
//! ```
//!
//! [`render`] turns the list into a report, breaking changes first; [`breaking`] keeps only the
//! changes that must fail a check; [`removal_policy`] checks that an operation is deprecated in
//! one version before it disappears from the next.
//!
//! ```
//! use saas_core::openapi::diff::{Severity, breaking, compare};
//! use serde_json::json;
//!
//! let old = json!({"paths": {"/v1/projects": {"get": {"responses": {"200": {
//!     "description": "ok",
//!     "content": {"application/json": {"schema": {
//!         "type": "object",
//!         "required": ["id", "name"],
//!         "properties": {"id": {"type": "string"}, "name": {"type": "string"}},
//!     }}},
//! }}}}}});
//! let mut new = old.clone();
//! let schema = &mut new["paths"]["/v1/projects"]["get"]["responses"]["200"]["content"]
//!     ["application/json"]["schema"];
//! schema["properties"].as_object_mut().unwrap().remove("name");
//! schema["required"] = json!(["id"]);
//!
//! let changes = compare(&old, &new);
//! assert_eq!(breaking(&changes).count(), 1);
//! assert_eq!(changes[0].severity, Severity::Breaking);
//! assert_eq!(
//!     changes[0].to_string(),
//!     "BREAKING  GET /v1/projects › response 200 › body › name: property removed",
//! );
//! ```
//!
//! # What is compared
//!
//! Paths are walked in sorted order and, within a path, the methods `get put post delete patch
//! head options trace` in that order; within an operation: deprecation, security, parameters,
//! request body, then responses by status. Local references (`$ref: "#/components/…"`, any JSON
//! pointer into the same document) are followed for schemas, parameters, request bodies,
//! responses and headers; a schema that refers to itself is compared once per cycle. `allOf`
//! branches are merged into one schema; a `oneOf`/`anyOf` whose only other branch is
//! `{"type": "null"}` is read as that branch made nullable (utoipa's form for `Option<T>`).
//! Components that no operation reaches are not compared.
//!
//! Documentation is never a change: `description`, `summary`, `title`, `example`, `examples`,
//! `externalDocs`, `$comment` and `x-*` extensions are ignored, as are `info` and `servers`.
//!
//! # Breaking changes
//!
//! | where | change |
//! | --- | --- |
//! | paths | a path or an operation (method) removed |
//! | responses | a status code removed; a success (`2XX`) status replaced by another, e.g. 200 → 201 |
//! | responses | a media type removed; a response header removed |
//! | response schemas | a property removed; a property no longer required (it may now be absent) |
//! | response schemas | the type set changed (`string` → `integer`, `string` → `string \| null`, …); a `format` changed or removed; a type constraint removed |
//! | response schemas | an `enum` gained values, or lost its constraint; a `oneOf`/`anyOf` variant added |
//! | response schemas | a bound (`maximum`, `maxLength`, `minItems`, …) loosened or removed |
//! | requests | a new required property; a property became required; a property removed while `additionalProperties: false` (`required` does not count for `readOnly` properties in requests, nor for `writeOnly` ones in responses) |
//! | requests | a new required parameter (path, query, header, cookie); a parameter became required |
//! | requests | a property's or parameter's type set or `format` changed; a type or format constraint added |
//! | requests | an `enum` lost values or gained the constraint; a `oneOf`/`anyOf` variant removed |
//! | requests | a bound tightened or added; `additionalProperties` became `false` |
//! | requests | a media type removed; the body became required, or a required body was added |
//! | security | a requirement added to an operation that had none, or a requirement that an old client's credentials no longer satisfy (an added scheme or scope) |
//!
//! # Additive changes
//!
//! Everything else that differs: new paths, operations, statuses, media types, headers, optional
//! parameters and properties, response properties, response properties becoming required,
//! request enum values, removed request properties and parameters, relaxed security,
//! `deprecated` flipping either way, and any other keyword that changed (`pattern`, `default`,
//! `operationId`, `style`, …).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde_json::{Map, Value};

/// The HTTP methods an OpenAPI path item can hold, in the order they are compared.
const METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "patch", "head", "options", "trace",
];

/// How deep schemas, `$ref` chains and `allOf` merges are followed before giving up.
const MAX_DEPTH: usize = 64;

/// Keys that only document and never change what a client may send or receive.
const DOC_KEYS: [&str; 7] = [
    "description",
    "summary",
    "title",
    "example",
    "examples",
    "externalDocs",
    "$comment",
];

/// Lower bounds: a larger value, or a new bound, accepts less.
const LOWER_BOUNDS: [&str; 5] = [
    "minimum",
    "exclusiveMinimum",
    "minLength",
    "minItems",
    "minProperties",
];

/// Upper bounds: a smaller value, or a new bound, accepts less.
const UPPER_BOUNDS: [&str; 5] = [
    "maximum",
    "exclusiveMaximum",
    "maxLength",
    "maxItems",
    "maxProperties",
];

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
    fn new(severity: Severity, location: impl Into<String>, message: impl Into<String>) -> Self {
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

/// Lists every client-visible difference between `old` and `new`, in a deterministic order
/// (see the [module documentation](self) for the rules).
pub fn compare(old: &Value, new: &Value) -> Vec<Change> {
    let mut ctx = Ctx {
        old_doc: old,
        new_doc: new,
        out: Vec::new(),
        in_progress: Vec::new(),
    };
    ctx.compare_paths();
    ctx.out
}

/// The changes that must fail a check.
pub fn breaking(changes: &[Change]) -> impl Iterator<Item = &Change> {
    changes
        .iter()
        .filter(|change| change.severity == Severity::Breaking)
}

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

/// Which way data flows through a schema, which decides whether a change is breaking.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Direction {
    /// Clients send it: the server must keep accepting what it accepted.
    Request,
    /// Clients receive it: the server must not send what clients did not expect.
    Response,
}

impl Direction {
    /// The severity of a change that makes the schema accept less (`narrowed`) or more.
    fn severity(self, narrowed: bool) -> Severity {
        match (self, narrowed) {
            (Direction::Request, true) | (Direction::Response, false) => Severity::Breaking,
            _ => Severity::Additive,
        }
    }
}

/// The state of one comparison.
struct Ctx<'a> {
    old_doc: &'a Value,
    new_doc: &'a Value,
    out: Vec<Change>,
    /// The `$ref` pairs being compared further up the stack: the guard against cycles.
    in_progress: Vec<(Vec<&'a str>, Vec<&'a str>)>,
}

impl<'a> Ctx<'a> {
    fn push(&mut self, severity: Severity, location: &str, message: impl Into<String>) {
        self.out.push(Change::new(severity, location, message));
    }

    fn breaking(&mut self, location: &str, message: impl Into<String>) {
        self.push(Severity::Breaking, location, message);
    }

    fn additive(&mut self, location: &str, message: impl Into<String>) {
        self.push(Severity::Additive, location, message);
    }

    fn compare_paths(&mut self) {
        let old_paths = object(self.old_doc.get("paths"));
        let new_paths = object(self.new_doc.get("paths"));
        for path in sorted_union(old_paths, new_paths) {
            let old_item = old_paths
                .and_then(|p| p.get(path))
                .map(|v| resolve(self.old_doc, v));
            let new_item = new_paths
                .and_then(|p| p.get(path))
                .map(|v| resolve(self.new_doc, v));
            match (old_item, new_item) {
                (Some(old_item), Some(new_item)) => {
                    self.compare_path_item(path, old_item, new_item)
                }
                (Some(old_item), None) => {
                    let methods = item_methods(old_item);
                    let message = if methods.is_empty() {
                        "path removed".to_owned()
                    } else {
                        format!("path removed ({})", methods.join(", "))
                    };
                    self.breaking(path, message);
                }
                (None, Some(_)) => self.additive(path, "path added"),
                (None, None) => {}
            }
        }
    }

    fn compare_path_item(&mut self, path: &str, old_item: &'a Value, new_item: &'a Value) {
        for method in METHODS {
            let location = operation_location(method, path);
            match (old_item.get(method), new_item.get(method)) {
                (Some(old_op), Some(new_op)) => {
                    self.compare_operation(&location, (old_item, old_op), (new_item, new_op));
                }
                (Some(_), None) => self.breaking(&location, "operation removed"),
                (None, Some(_)) => self.additive(&location, "operation added"),
                (None, None) => {}
            }
        }
    }

    fn compare_operation(
        &mut self,
        location: &str,
        (old_item, old_op): (&'a Value, &'a Value),
        (new_item, new_op): (&'a Value, &'a Value),
    ) {
        self.compare_deprecated(location, old_op, new_op);
        self.compare_security(location, old_op, new_op);
        self.compare_parameters(location, (old_item, old_op), (new_item, new_op));
        self.compare_request_body(location, old_op, new_op);
        self.compare_responses(location, old_op, new_op);
        self.compare_other(
            location,
            old_op,
            new_op,
            &[
                "deprecated",
                "security",
                "parameters",
                "requestBody",
                "responses",
            ],
        );
    }

    fn compare_deprecated(&mut self, location: &str, old: &Value, new: &Value) {
        match (
            is_true(old.get("deprecated")),
            is_true(new.get("deprecated")),
        ) {
            (false, true) => self.additive(location, "deprecated"),
            (true, false) => self.additive(location, "no longer deprecated"),
            _ => {}
        }
    }

    /// Any keyword not handled elsewhere: additive when it differs.
    fn compare_other(&mut self, location: &str, old: &Value, new: &Value, handled: &[&str]) {
        let (old, new) = (old.as_object(), new.as_object());
        for key in sorted_union(old, new) {
            if handled.contains(&key) || is_doc_key(key) {
                continue;
            }
            if old.and_then(|o| o.get(key)) != new.and_then(|n| n.get(key)) {
                self.additive(location, format!("`{key}` changed"));
            }
        }
    }

    fn compare_security(&mut self, location: &str, old_op: &Value, new_op: &Value) {
        let old = security(self.old_doc, old_op);
        let new = security(self.new_doc, new_op);
        if old == new {
            return;
        }
        let old_open = old.is_empty() || old.iter().any(BTreeMap::is_empty);
        let new_open = new.is_empty() || new.iter().any(BTreeMap::is_empty);
        let old_alternatives = if old_open {
            vec![BTreeMap::new()]
        } else {
            old.clone()
        };
        let still_satisfied = old_alternatives
            .iter()
            .all(|credentials| new_open || new.iter().any(|need| satisfies(credentials, need)));
        if !still_satisfied {
            if old_open {
                let schemes: BTreeSet<&str> = new
                    .iter()
                    .flat_map(|alternative| alternative.keys().map(String::as_str))
                    .collect();
                let schemes: Vec<&str> = schemes.into_iter().collect();
                self.breaking(
                    location,
                    format!("security requirement added ({})", schemes.join(", ")),
                );
            } else {
                self.breaking(location, "security requirements tightened");
            }
        } else if new_open {
            self.additive(location, "security requirement removed");
        } else {
            self.additive(location, "security requirements relaxed");
        }
    }

    fn compare_parameters(
        &mut self,
        location: &str,
        old: (&'a Value, &'a Value),
        new: (&'a Value, &'a Value),
    ) {
        let old_params = parameters(self.old_doc, old.0, old.1);
        let new_params = parameters(self.new_doc, new.0, new.1);
        let keys: BTreeSet<&ParamKey> = old_params.keys().chain(new_params.keys()).collect();
        for key in keys {
            let location = format!("{location} › {} parameter {}", key.place, key.name);
            match (old_params.get(key), new_params.get(key)) {
                (Some(old), Some(new)) => self.compare_parameter(&location, old, new),
                (Some(_), None) => self.additive(&location, "parameter removed"),
                (None, Some(new)) if parameter_required(new) => {
                    self.breaking(&location, "new required parameter");
                }
                (None, Some(_)) => self.additive(&location, "optional parameter added"),
                (None, None) => {}
            }
        }
    }

    fn compare_parameter(&mut self, location: &str, old: &'a Value, new: &'a Value) {
        match (parameter_required(old), parameter_required(new)) {
            (false, true) => self.breaking(location, "parameter became required"),
            (true, false) => self.additive(location, "parameter no longer required"),
            _ => {}
        }
        self.compare_deprecated(location, old, new);
        match (parameter_schema(old), parameter_schema(new)) {
            (Some(old_schema), Some(new_schema)) => {
                self.compare_schema(location, old_schema, new_schema, Direction::Request, 0);
            }
            (None, None) => {}
            _ => self.additive(location, "`schema` changed"),
        }
        self.compare_other(
            location,
            old,
            new,
            &["name", "in", "required", "deprecated", "schema", "content"],
        );
    }

    fn compare_request_body(&mut self, location: &str, old_op: &'a Value, new_op: &'a Value) {
        let location = format!("{location} › request body");
        let old = old_op.get("requestBody").map(|b| resolve(self.old_doc, b));
        let new = new_op.get("requestBody").map(|b| resolve(self.new_doc, b));
        match (old, new) {
            (Some(old), Some(new)) => {
                match (is_true(old.get("required")), is_true(new.get("required"))) {
                    (false, true) => self.breaking(&location, "request body became required"),
                    (true, false) => self.additive(&location, "request body no longer required"),
                    _ => {}
                }
                self.compare_content(&location, old, new, Direction::Request);
            }
            (Some(_), None) => self.additive(&location, "request body removed"),
            (None, Some(new)) if is_true(new.get("required")) => {
                self.breaking(&location, "required request body added");
            }
            (None, Some(_)) => self.additive(&location, "optional request body added"),
            (None, None) => {}
        }
    }

    /// Compares the `content` maps of a request body or a response; `location` names the body's
    /// owner, and each media type's schema is located under ` › body`.
    fn compare_content(
        &mut self,
        location: &str,
        old: &'a Value,
        new: &'a Value,
        direction: Direction,
    ) {
        let old_content = object(old.get("content"));
        let new_content = object(new.get("content"));
        for media_type in sorted_union(old_content, new_content) {
            let body = match (direction, media_type) {
                (Direction::Request, "application/json") => location.to_owned(),
                (Direction::Request, _) => format!("{location} ({media_type})"),
                (Direction::Response, "application/json") => format!("{location} › body"),
                (Direction::Response, _) => format!("{location} › body ({media_type})"),
            };
            let old_media = old_content.and_then(|c| c.get(media_type));
            let new_media = new_content.and_then(|c| c.get(media_type));
            match (old_media, new_media) {
                (Some(old_media), Some(new_media)) => {
                    match (old_media.get("schema"), new_media.get("schema")) {
                        (Some(old_schema), Some(new_schema)) => {
                            self.compare_schema(&body, old_schema, new_schema, direction, 0);
                        }
                        (None, None) => {}
                        (Some(_), None) => {
                            self.push(direction.severity(false), &body, "schema removed");
                        }
                        (None, Some(_)) => {
                            self.push(direction.severity(true), &body, "schema added");
                        }
                    }
                }
                (Some(_), None) => {
                    self.breaking(&body, format!("media type {media_type} removed"));
                }
                (None, Some(_)) => self.additive(&body, format!("media type {media_type} added")),
                (None, None) => {}
            }
        }
    }

    fn compare_responses(&mut self, location: &str, old_op: &'a Value, new_op: &'a Value) {
        let old_responses = object(old_op.get("responses"));
        let new_responses = object(new_op.get("responses"));
        let has = |responses: Option<&Map<String, Value>>, status: &str| {
            responses.is_some_and(|r| r.contains_key(status))
        };
        let statuses = sorted_union(old_responses, new_responses);
        let removed_success: Vec<&str> = statuses
            .iter()
            .copied()
            .filter(|s| is_success(s) && !has(new_responses, s))
            .collect();
        let added_success: Vec<&str> = statuses
            .iter()
            .copied()
            .filter(|s| is_success(s) && !has(old_responses, s))
            .collect();
        // A success status replaced by another is reported once, as a change of the old one.
        let replaced: BTreeMap<&str, &str> = removed_success
            .iter()
            .copied()
            .zip(added_success.iter().copied())
            .collect();
        let replacements: BTreeSet<&str> = replaced.values().copied().collect();

        for status in statuses {
            let location = format!("{location} › response {status}");
            let old = old_responses
                .and_then(|r| r.get(status))
                .map(|r| resolve(self.old_doc, r));
            let new = new_responses
                .and_then(|r| r.get(status))
                .map(|r| resolve(self.new_doc, r));
            match (old, new) {
                (Some(old), Some(new)) => self.compare_response(&location, old, new),
                (Some(_), None) => match replaced.get(status) {
                    Some(to) => self.breaking(
                        &location,
                        format!("success status changed from {status} to {to}"),
                    ),
                    None => self.breaking(&location, "response status removed"),
                },
                (None, Some(_)) if replacements.contains(status) => {}
                (None, Some(_)) => self.additive(&location, "response status added"),
                (None, None) => {}
            }
        }
    }

    fn compare_response(&mut self, location: &str, old: &'a Value, new: &'a Value) {
        let old_headers = object(old.get("headers"));
        let new_headers = object(new.get("headers"));
        for name in sorted_union(old_headers, new_headers) {
            let header_location = format!("{location} › header {name}");
            let old_header = old_headers
                .and_then(|h| h.get(name))
                .map(|h| resolve(self.old_doc, h));
            let new_header = new_headers
                .and_then(|h| h.get(name))
                .map(|h| resolve(self.new_doc, h));
            match (old_header, new_header) {
                (Some(old), Some(new)) => {
                    if let (Some(old_schema), Some(new_schema)) =
                        (parameter_schema(old), parameter_schema(new))
                    {
                        self.compare_schema(
                            &header_location,
                            old_schema,
                            new_schema,
                            Direction::Response,
                            0,
                        );
                    }
                }
                (Some(_), None) => self.breaking(&header_location, "header removed"),
                (None, Some(_)) => self.additive(&header_location, "header added"),
                (None, None) => {}
            }
        }
        self.compare_content(location, old, new, Direction::Response);
        self.compare_other(location, old, new, &["headers", "content"]);
    }

    fn compare_schema(
        &mut self,
        location: &str,
        old: &'a Value,
        new: &'a Value,
        direction: Direction,
        depth: usize,
    ) {
        if depth > MAX_DEPTH {
            return;
        }
        let o = View::of(self.old_doc, old);
        let n = View::of(self.new_doc, new);
        let guard = (o.refs.clone(), n.refs.clone());
        let guarded = !guard.0.is_empty() || !guard.1.is_empty();
        if guarded {
            if self.in_progress.contains(&guard) {
                return;
            }
            self.in_progress.push(guard);
        }

        let type_changed = self.compare_types(location, &o, &n, direction);
        if !type_changed {
            self.compare_format(location, &o, &n, direction);
        }
        self.compare_enum(location, &o, &n, direction);
        self.compare_bounds(location, &o, &n, direction);
        self.compare_properties(location, &o, &n, direction, depth);

        match (o.items, n.items) {
            (Some(old_items), Some(new_items)) => {
                let location = format!("{location} › items");
                self.compare_schema(&location, old_items, new_items, direction, depth + 1);
            }
            (None, None) => {}
            _ => self.additive(location, "`items` changed"),
        }

        match (o.additional, n.additional) {
            (Some(old_extra), Some(new_extra)) => {
                let location = format!("{location} › additional properties");
                self.compare_schema(&location, old_extra, new_extra, direction, depth + 1);
            }
            (None, None) => {}
            _ => self.additive(location, "`additionalProperties` changed"),
        }
        match (o.closed, n.closed) {
            (false, true) => self.push(
                direction.severity(true),
                location,
                "additional properties no longer allowed",
            ),
            (true, false) => self.push(
                direction.severity(false),
                location,
                "additional properties now allowed",
            ),
            _ => {}
        }

        self.compare_variants(location, &o, &n, direction, depth);

        match (o.deprecated, n.deprecated) {
            (false, true) => self.additive(location, "deprecated"),
            (true, false) => self.additive(location, "no longer deprecated"),
            _ => {}
        }
        for key in o
            .other
            .keys()
            .chain(n.other.keys())
            .collect::<BTreeSet<_>>()
        {
            if o.other.get(key) != n.other.get(key) {
                self.additive(location, format!("`{key}` changed"));
            }
        }

        if guarded {
            self.in_progress.pop();
        }
    }

    /// Reports a change of the type set; returns whether there was one.
    fn compare_types(
        &mut self,
        location: &str,
        o: &View<'a>,
        n: &View<'a>,
        direction: Direction,
    ) -> bool {
        match (&o.types, &n.types) {
            (Some(old), Some(new)) if old != new || o.nullable != n.nullable => {
                self.breaking(
                    location,
                    format!(
                        "type changed from `{}` to `{}`",
                        o.type_label(),
                        n.type_label()
                    ),
                );
                true
            }
            (None, None) if o.nullable != n.nullable => {
                let message = if n.nullable {
                    "now nullable"
                } else {
                    "no longer nullable"
                };
                self.breaking(location, message);
                true
            }
            (None, Some(_)) => {
                self.push(
                    direction.severity(true),
                    location,
                    format!("type constrained to `{}`", n.type_label()),
                );
                true
            }
            (Some(_), None) => {
                self.push(
                    direction.severity(false),
                    location,
                    format!("type constraint `{}` removed", o.type_label()),
                );
                true
            }
            _ => false,
        }
    }

    fn compare_format(&mut self, location: &str, o: &View<'a>, n: &View<'a>, direction: Direction) {
        match (o.format, n.format) {
            (Some(old), Some(new)) if old != new => {
                self.breaking(location, format!("format changed from `{old}` to `{new}`"));
            }
            (None, Some(new)) => {
                self.push(
                    direction.severity(true),
                    location,
                    format!("format `{new}` added"),
                );
            }
            (Some(old), None) => {
                self.push(
                    direction.severity(false),
                    location,
                    format!("format `{old}` removed"),
                );
            }
            _ => {}
        }
    }

    fn compare_enum(&mut self, location: &str, o: &View<'a>, n: &View<'a>, direction: Direction) {
        match (&o.enumeration, &n.enumeration) {
            (Some(old), Some(new)) => {
                let gained: Vec<&Value> =
                    new.iter().copied().filter(|v| !old.contains(v)).collect();
                let lost: Vec<&Value> = old.iter().copied().filter(|v| !new.contains(v)).collect();
                if !gained.is_empty() {
                    self.push(
                        direction.severity(false),
                        location,
                        format!("enum gained {}", list_values(&gained)),
                    );
                }
                if !lost.is_empty() {
                    self.push(
                        direction.severity(true),
                        location,
                        format!("enum lost {}", list_values(&lost)),
                    );
                }
            }
            (None, Some(new)) => self.push(
                direction.severity(true),
                location,
                format!("enum constraint added ({})", list_values(new)),
            ),
            (Some(_), None) => {
                self.push(
                    direction.severity(false),
                    location,
                    "enum constraint removed",
                );
            }
            (None, None) => {}
        }
    }

    fn compare_bounds(&mut self, location: &str, o: &View<'a>, n: &View<'a>, direction: Direction) {
        let keys: BTreeSet<&str> = o.bounds.keys().chain(n.bounds.keys()).copied().collect();
        for key in keys {
            let (old, new) = (o.bounds.get(key), n.bounds.get(key));
            let narrowed = match (old.and_then(|v| v.as_f64()), new.and_then(|v| v.as_f64())) {
                (Some(old), Some(new)) if old == new => continue,
                (Some(old), Some(new)) => (new > old) == LOWER_BOUNDS.contains(&key),
                (None, Some(_)) => true,
                (Some(_), None) => false,
                (None, None) => continue,
            };
            let show = |v: Option<&&Value>| v.map_or("none".to_owned(), |v| v.to_string());
            self.push(
                direction.severity(narrowed),
                location,
                format!("`{key}` changed from {} to {}", show(old), show(new)),
            );
        }
    }

    fn compare_properties(
        &mut self,
        location: &str,
        o: &View<'a>,
        n: &View<'a>,
        direction: Direction,
        depth: usize,
    ) {
        let names: BTreeSet<&str> = o
            .properties
            .keys()
            .chain(n.properties.keys())
            .copied()
            .collect();
        for name in names {
            let location = format!("{location} › {name}");
            // `required` does not apply to read-only properties in requests, nor to write-only
            // ones in responses.
            let one_way = match direction {
                Direction::Request => "readOnly",
                Direction::Response => "writeOnly",
            };
            let applies = |doc: &Value, schema: Option<&&Value>| {
                schema.is_none_or(|schema| !is_true(resolve(doc, schema).get(one_way)))
            };
            let was_required =
                o.required.contains(name) && applies(self.old_doc, o.properties.get(name));
            let is_required =
                n.required.contains(name) && applies(self.new_doc, n.properties.get(name));
            match (o.properties.get(name), n.properties.get(name), direction) {
                (Some(old), Some(new), _) => {
                    match (was_required, is_required, direction) {
                        (true, false, Direction::Response) => self.breaking(
                            &location,
                            "property no longer required (it may now be absent)",
                        ),
                        (false, true, Direction::Response) => {
                            self.additive(&location, "property became required");
                        }
                        (false, true, Direction::Request) => {
                            self.breaking(&location, "property became required");
                        }
                        (true, false, Direction::Request) => {
                            self.additive(&location, "property no longer required");
                        }
                        _ => {}
                    }
                    self.compare_schema(&location, old, new, direction, depth + 1);
                }
                (Some(_), None, Direction::Response) => {
                    self.breaking(&location, "property removed");
                }
                (Some(_), None, Direction::Request) if n.closed => self.breaking(
                    &location,
                    "property removed (unknown properties are rejected)",
                ),
                (Some(_), None, Direction::Request) => {
                    self.additive(&location, "property removed");
                }
                (None, Some(_), Direction::Response) => self.additive(&location, "property added"),
                (None, Some(_), Direction::Request) if is_required => {
                    self.breaking(&location, "new required property");
                }
                (None, Some(_), Direction::Request) => {
                    self.additive(&location, "optional property added");
                }
                (None, None, _) => {}
            }
        }
    }

    fn compare_variants(
        &mut self,
        location: &str,
        o: &View<'a>,
        n: &View<'a>,
        direction: Direction,
        depth: usize,
    ) {
        let old = o.variant_map();
        let new = n.variant_map();
        for key in old.keys().chain(new.keys()).collect::<BTreeSet<_>>() {
            let location = format!("{location} › variant {key}");
            match (old.get(key), new.get(key)) {
                (Some(old), Some(new)) => {
                    self.compare_schema(&location, old, new, direction, depth + 1);
                }
                (Some(_), None) => {
                    self.push(direction.severity(true), &location, "variant removed");
                }
                (None, Some(_)) => {
                    self.push(direction.severity(false), &location, "variant added");
                }
                (None, None) => {}
            }
        }
    }
}

/// A schema with its references followed, its `allOf` merged and its nullability made explicit.
#[derive(Debug, Default)]
struct View<'a> {
    /// The `$ref`s followed to reach this schema, in order: the cycle guard's key.
    refs: Vec<&'a str>,
    /// The allowed types without `null`; `None` when unconstrained.
    types: Option<BTreeSet<&'a str>>,
    nullable: bool,
    format: Option<&'a str>,
    enumeration: Option<Vec<&'a Value>>,
    properties: BTreeMap<&'a str, &'a Value>,
    required: BTreeSet<&'a str>,
    items: Option<&'a Value>,
    additional: Option<&'a Value>,
    /// `additionalProperties: false`.
    closed: bool,
    /// `oneOf`/`anyOf` branches other than `{"type": "null"}`.
    variants: Vec<&'a Value>,
    bounds: BTreeMap<&'a str, &'a Value>,
    deprecated: bool,
    other: BTreeMap<&'a str, &'a Value>,
}

impl<'a> View<'a> {
    fn of(doc: &'a Value, schema: &'a Value) -> Self {
        let mut view = View::default();
        view.absorb(doc, schema, 0);
        // `oneOf: [{"type": "null"}, X]` is X made nullable.
        let mut depth = 0;
        while view.variants.len() == 1 && depth < MAX_DEPTH {
            let only = view.variants.remove(0);
            view.absorb(doc, only, depth + 1);
            depth += 1;
        }
        if let Some(types) = &mut view.types
            && types.remove("null")
        {
            view.nullable = true;
        }
        view
    }

    fn absorb(&mut self, doc: &'a Value, schema: &'a Value, depth: usize) {
        if depth > MAX_DEPTH {
            return;
        }
        let map = match schema {
            Value::Object(map) => map,
            Value::Bool(false) => {
                self.types = Some(BTreeSet::new());
                return;
            }
            _ => return,
        };
        if let Some(reference) = map.get("$ref").and_then(Value::as_str) {
            match lookup(doc, reference) {
                Some(target) => {
                    self.refs.push(reference);
                    self.absorb(doc, target, depth + 1);
                }
                None => {
                    self.other.insert("$ref", &map["$ref"]);
                }
            }
        }
        for (key, value) in map {
            match key.as_str() {
                "$ref" => {}
                "type" => {
                    let types: BTreeSet<&str> = match value {
                        Value::String(t) => BTreeSet::from([t.as_str()]),
                        Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
                        _ => continue,
                    };
                    self.types = Some(match self.types.take() {
                        Some(existing) => existing.intersection(&types).copied().collect(),
                        None => types,
                    });
                }
                "nullable" => self.nullable |= value.as_bool() == Some(true),
                "format" => self.format = value.as_str().or(self.format),
                "enum" => {
                    if let Value::Array(values) = value {
                        self.enumeration = Some(values.iter().collect());
                    }
                }
                "const" => self.enumeration = Some(vec![value]),
                "properties" => {
                    if let Value::Object(properties) = value {
                        self.properties
                            .extend(properties.iter().map(|(k, v)| (k.as_str(), v)));
                    }
                }
                "required" => {
                    if let Value::Array(names) = value {
                        self.required.extend(names.iter().filter_map(Value::as_str));
                    }
                }
                "items" => self.items = Some(value),
                "additionalProperties" => match value {
                    Value::Bool(false) => self.closed = true,
                    Value::Object(_) => self.additional = Some(value),
                    _ => {}
                },
                "allOf" => {
                    for branch in value.as_array().into_iter().flatten() {
                        self.absorb(doc, branch, depth + 1);
                    }
                }
                "oneOf" | "anyOf" => {
                    for branch in value.as_array().into_iter().flatten() {
                        if is_null_schema(doc, branch) {
                            self.nullable = true;
                        } else {
                            self.variants.push(branch);
                        }
                    }
                }
                "deprecated" => self.deprecated |= value.as_bool() == Some(true),
                key if is_doc_key(key) => {}
                key if LOWER_BOUNDS.contains(&key) || UPPER_BOUNDS.contains(&key) => {
                    if value.is_number() {
                        self.bounds.insert(key, value);
                    } else {
                        self.other.insert(key, value);
                    }
                }
                key => {
                    self.other.insert(key, value);
                }
            }
        }
    }

    fn type_label(&self) -> String {
        let mut parts: Vec<&str> = self.types.iter().flatten().copied().collect();
        if self.nullable {
            parts.push("null");
        }
        if parts.is_empty() {
            "never".to_owned()
        } else {
            parts.join(" | ")
        }
    }

    /// Variants keyed by the schema they refer to, their title, or else their position.
    fn variant_map(&self) -> BTreeMap<String, &'a Value> {
        self.variants
            .iter()
            .enumerate()
            .map(|(index, variant)| {
                let key = variant
                    .get("$ref")
                    .and_then(Value::as_str)
                    .map(|r| r.rsplit('/').next().unwrap_or(r).to_owned())
                    .or_else(|| {
                        variant
                            .get("title")
                            .and_then(Value::as_str)
                            .map(str::to_owned)
                    })
                    .unwrap_or_else(|| format!("#{}", index + 1));
                (key, *variant)
            })
            .collect()
    }
}

/// A parameter's identity: where it goes and its name (case-insensitive for headers).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct ParamKey {
    rank: u8,
    place: String,
    name: String,
}

/// The operation's parameters, path-item parameters included and overridden by the operation's.
fn parameters<'a>(doc: &'a Value, item: &'a Value, op: &'a Value) -> BTreeMap<ParamKey, &'a Value> {
    let mut out = BTreeMap::new();
    for list in [item.get("parameters"), op.get("parameters")] {
        for parameter in list.and_then(Value::as_array).into_iter().flatten() {
            let parameter = resolve(doc, parameter);
            let (Some(place), Some(name)) = (
                parameter.get("in").and_then(Value::as_str),
                parameter.get("name").and_then(Value::as_str),
            ) else {
                continue;
            };
            let rank = match place {
                "path" => 0,
                "query" => 1,
                "header" => 2,
                "cookie" => 3,
                _ => 4,
            };
            let name = if place == "header" {
                name.to_ascii_lowercase()
            } else {
                name.to_owned()
            };
            let key = ParamKey {
                rank,
                place: place.to_owned(),
                name,
            };
            out.insert(key, parameter);
        }
    }
    out
}

fn parameter_required(parameter: &Value) -> bool {
    parameter.get("in").and_then(Value::as_str) == Some("path")
        || is_true(parameter.get("required"))
}

/// A parameter's or header's schema: `schema`, or the schema of its single `content` entry.
fn parameter_schema(parameter: &Value) -> Option<&Value> {
    parameter.get("schema").or_else(|| {
        object(parameter.get("content"))?
            .values()
            .next()?
            .get("schema")
    })
}

type Requirement = BTreeMap<String, BTreeSet<String>>;

/// The operation's security requirement alternatives, the document's default applying when the
/// operation has none of its own.
fn security(doc: &Value, op: &Value) -> Vec<Requirement> {
    let list = op.get("security").or_else(|| doc.get("security"));
    list.and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_object)
        .map(|alternative| {
            alternative
                .iter()
                .map(|(scheme, scopes)| {
                    let scopes = scopes
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(Value::as_str)
                        .map(str::to_owned)
                        .collect();
                    (scheme.clone(), scopes)
                })
                .collect()
        })
        .collect()
}

/// Whether credentials that met `credentials` also meet `need`.
fn satisfies(credentials: &Requirement, need: &Requirement) -> bool {
    need.iter().all(|(scheme, scopes)| {
        credentials
            .get(scheme)
            .is_some_and(|held| scopes.is_subset(held))
    })
}

fn is_null_schema(doc: &Value, schema: &Value) -> bool {
    let schema = resolve(doc, schema);
    match schema.get("type") {
        Some(Value::String(t)) => t == "null",
        Some(Value::Array(ts)) => ts.iter().all(|t| t == "null"),
        _ => false,
    }
}

fn is_success(status: &str) -> bool {
    status.starts_with('2')
}

fn is_doc_key(key: &str) -> bool {
    DOC_KEYS.contains(&key) || key.starts_with("x-")
}

fn is_true(value: Option<&Value>) -> bool {
    value.and_then(Value::as_bool) == Some(true)
}

fn object(value: Option<&Value>) -> Option<&Map<String, Value>> {
    value.and_then(Value::as_object)
}

/// The keys of both maps, sorted and without duplicates.
fn sorted_union<'m>(
    old: Option<&'m Map<String, Value>>,
    new: Option<&'m Map<String, Value>>,
) -> Vec<&'m str> {
    let keys: BTreeSet<&str> = old
        .into_iter()
        .chain(new)
        .flat_map(|map| map.keys().map(String::as_str))
        .collect();
    keys.into_iter().collect()
}

/// Follows a local JSON pointer such as `#/components/schemas/Project`.
fn lookup<'a>(doc: &'a Value, reference: &str) -> Option<&'a Value> {
    doc.pointer(reference.strip_prefix('#')?)
}

/// Follows `$ref` chains (bounded, so a reference loop ends) and returns the referenced object,
/// or `value` itself when it is not a resolvable reference.
fn resolve<'a>(doc: &'a Value, value: &'a Value) -> &'a Value {
    let mut current = value;
    for _ in 0..MAX_DEPTH {
        match current
            .get("$ref")
            .and_then(Value::as_str)
            .and_then(|r| lookup(doc, r))
        {
            Some(target) => current = target,
            None => break,
        }
    }
    current
}

fn list_values(values: &[&Value]) -> String {
    let shown: Vec<String> = values.iter().map(|v| v.to_string()).collect();
    let noun = if values.len() == 1 { "value" } else { "values" };
    format!("{noun} {}", shown.join(", "))
}

fn item_methods(item: &Value) -> Vec<String> {
    METHODS
        .iter()
        .filter(|m| item.get(**m).is_some())
        .map(|m| m.to_ascii_uppercase())
        .collect()
}

fn operation_location(method: &str, path: &str) -> String {
    format!("{} {path}", method.to_ascii_uppercase())
}

/// Every `(path, method, operation)` of a document, paths sorted, methods in [`METHODS`] order.
fn operations(doc: &Value) -> impl Iterator<Item = (&str, &'static str, &Value)> {
    let mut paths: Vec<(&String, &Value)> =
        object(doc.get("paths")).into_iter().flatten().collect();
    paths.sort_by_key(|(path, _)| *path);
    paths.into_iter().flat_map(move |(path, item)| {
        let item = resolve(doc, item);
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
    use super::*;
    use serde_json::json;

    use Severity::{Additive as A, Breaking as B};

    const PATH: &str = "/v1/projects/{id}";
    const GET: &str = "GET /v1/projects/{id}";
    const BODY: &str = "GET /v1/projects/{id} › response 200 › body";
    const REQUEST: &str = "POST /v1/projects › request body";

    /// A document holding one operation.
    fn doc(path: &str, method: &str, op: Value) -> Value {
        json!({
            "openapi": "3.1.0",
            "info": {"title": "Projects", "version": "1"},
            "paths": {path: {method: op}},
        })
    }

    /// `GET /v1/projects/{id}` answering 200 with `schema`.
    fn get_returning(schema: Value) -> Value {
        doc(PATH, "get", op_returning(schema))
    }

    fn op_returning(schema: Value) -> Value {
        json!({"responses": {"200": {
            "description": "ok",
            "content": {"application/json": {"schema": schema}},
        }}})
    }

    /// `POST /v1/projects` reading `schema`.
    fn post_reading(schema: Value) -> Value {
        doc(
            "/v1/projects",
            "post",
            json!({
                "requestBody": {"content": {"application/json": {"schema": schema}}},
                "responses": {"204": {"description": "done"}},
            }),
        )
    }

    /// `GET /v1/projects/{id}` taking `parameters`.
    fn get_with(parameters: Value) -> Value {
        doc(
            PATH,
            "get",
            json!({"parameters": parameters, "responses": {"204": {"description": "ok"}}}),
        )
    }

    fn object(required: &[&str], properties: Value) -> Value {
        json!({"type": "object", "required": required, "properties": properties})
    }

    fn project(name: Value) -> Value {
        object(
            &["id", "name"],
            json!({"id": {"type": "string"}, "name": name}),
        )
    }

    fn with_schemas(mut doc: Value, schemas: Value) -> Value {
        doc["components"] = json!({"schemas": schemas});
        doc
    }

    struct Case {
        name: &'static str,
        old: Value,
        new: Value,
        expected: Vec<(Severity, &'static str, &'static str)>,
    }

    fn case(
        name: &'static str,
        old: Value,
        new: Value,
        expected: &[(Severity, &'static str, &'static str)],
    ) -> Case {
        Case {
            name,
            old,
            new,
            expected: expected.to_vec(),
        }
    }

    fn cases() -> Vec<Case> {
        let string = json!({"type": "string"});
        let status = |values: Value| json!({"type": "string", "enum": values});
        let query = |name: &str, required: bool, schema: Value| json!({"name": name, "in": "query", "required": required, "schema": schema});
        let node = |label: Value| {
            json!({"Node": object(&["label", "children"], json!({
                "label": label,
                "children": {"type": "array", "items": {"$ref": "#/components/schemas/Node"}},
            }))})
        };
        let node_ref = json!({"$ref": "#/components/schemas/Node"});
        let mut two_paths = get_returning(string.clone());
        two_paths["paths"]["/v1/archive"] = json!({"get": op_returning(string.clone())});
        let mut get_and_delete = get_returning(string.clone());
        get_and_delete["paths"][PATH]["delete"] =
            json!({"responses": {"204": {"description": "gone"}}});
        let mut with_404 = get_returning(string.clone());
        with_404["paths"][PATH]["get"]["responses"]["404"] = json!({"description": "missing"});
        let mut created = get_returning(string.clone());
        let ok = created["paths"][PATH]["get"]["responses"]["200"].take();
        created["paths"][PATH]["get"]["responses"] = json!({"201": ok});
        let mut csv_too = get_returning(string.clone());
        csv_too["paths"][PATH]["get"]["responses"]["200"]["content"]["text/csv"] =
            json!({"schema": {"type": "string"}});
        let optional_body = post_reading(object(&[], json!({})));
        let mut required_body = optional_body.clone();
        required_body["paths"]["/v1/projects"]["post"]["requestBody"]["required"] = json!(true);
        let mut form_too = optional_body.clone();
        let form = "application/x-www-form-urlencoded";
        form_too["paths"]["/v1/projects"]["post"]["requestBody"]["content"][form] =
            json!({"schema": {"type": "object"}});
        let mut secured = get_returning(string.clone());
        secured["paths"][PATH]["get"]["security"] = json!([{"bearer": []}]);
        let mut scoped = secured.clone();
        scoped["paths"][PATH]["get"]["security"] = json!([{"bearer": ["projects:read"]}]);
        let mut documented = get_returning(project(string.clone()));
        let documented_op = &mut documented["paths"][PATH]["get"];
        documented_op["summary"] = json!("Fetch a project");
        documented_op["x-internal"] = json!(true);
        documented_op["responses"]["200"]["description"] = json!("The project");
        documented_op["responses"]["200"]["content"]["application/json"]["schema"]["properties"]
            ["name"] =
            json!({"type": "string", "description": "Display name", "examples": ["Apollo"]});
        let mut deprecated = get_returning(string.clone());
        deprecated["paths"][PATH]["get"]["deprecated"] = json!(true);
        let mut path_level = get_with(json!([]));
        path_level["paths"][PATH]["parameters"] =
            json!([query("limit", false, json!({"type": "integer"}))]);

        vec![
            case(
                "path removed",
                two_paths.clone(),
                get_returning(string.clone()),
                &[(B, "/v1/archive", "path removed (GET)")],
            ),
            case(
                "path added",
                get_returning(string.clone()),
                two_paths,
                &[(A, "/v1/archive", "path added")],
            ),
            case(
                "operation removed",
                get_and_delete.clone(),
                get_returning(string.clone()),
                &[(B, "DELETE /v1/projects/{id}", "operation removed")],
            ),
            case(
                "operation added",
                get_returning(string.clone()),
                get_and_delete,
                &[(A, "DELETE /v1/projects/{id}", "operation added")],
            ),
            case(
                "response status removed",
                with_404.clone(),
                get_returning(string.clone()),
                &[(
                    B,
                    "GET /v1/projects/{id} › response 404",
                    "response status removed",
                )],
            ),
            case(
                "response status added",
                get_returning(string.clone()),
                with_404,
                &[(
                    A,
                    "GET /v1/projects/{id} › response 404",
                    "response status added",
                )],
            ),
            case(
                "success status changed",
                get_returning(string.clone()),
                created,
                &[(
                    B,
                    "GET /v1/projects/{id} › response 200",
                    "success status changed from 200 to 201",
                )],
            ),
            case(
                "response media type removed",
                csv_too.clone(),
                get_returning(string.clone()),
                &[(
                    B,
                    "GET /v1/projects/{id} › response 200 › body (text/csv)",
                    "media type text/csv removed",
                )],
            ),
            case(
                "response media type added",
                get_returning(string.clone()),
                csv_too,
                &[(
                    A,
                    "GET /v1/projects/{id} › response 200 › body (text/csv)",
                    "media type text/csv added",
                )],
            ),
            case(
                "response property removed",
                get_returning(project(string.clone())),
                get_returning(object(&["id"], json!({"id": string}))),
                &[(
                    B,
                    "GET /v1/projects/{id} › response 200 › body › name",
                    "property removed",
                )],
            ),
            case(
                "response property added",
                get_returning(object(&["id"], json!({"id": string}))),
                get_returning(project(string.clone())),
                &[(
                    A,
                    "GET /v1/projects/{id} › response 200 › body › name",
                    "property added",
                )],
            ),
            case(
                "response property no longer required",
                get_returning(project(string.clone())),
                get_returning(object(&["id"], json!({"id": string, "name": string}))),
                &[(
                    B,
                    "GET /v1/projects/{id} › response 200 › body › name",
                    "property no longer required (it may now be absent)",
                )],
            ),
            case(
                "response property became required",
                get_returning(object(&["id"], json!({"id": string, "name": string}))),
                get_returning(project(string.clone())),
                &[(
                    A,
                    "GET /v1/projects/{id} › response 200 › body › name",
                    "property became required",
                )],
            ),
            case(
                "response property type changed",
                get_returning(project(string.clone())),
                get_returning(project(json!({"type": "integer"}))),
                &[(
                    B,
                    "GET /v1/projects/{id} › response 200 › body › name",
                    "type changed from `string` to `integer`",
                )],
            ),
            case(
                "response property became nullable",
                get_returning(project(string.clone())),
                get_returning(project(json!({"type": ["string", "null"]}))),
                &[(
                    B,
                    "GET /v1/projects/{id} › response 200 › body › name",
                    "type changed from `string` to `string | null`",
                )],
            ),
            case(
                "response format changed",
                get_returning(json!({"type": "integer", "format": "int32"})),
                get_returning(json!({"type": "integer", "format": "int64"})),
                &[(B, BODY, "format changed from `int32` to `int64`")],
            ),
            case(
                "response enum gained values",
                get_returning(status(json!(["active"]))),
                get_returning(status(json!(["active", "archived"]))),
                &[(B, BODY, "enum gained value \"archived\"")],
            ),
            case(
                "response enum lost values",
                get_returning(status(json!(["active", "archived"]))),
                get_returning(status(json!(["active"]))),
                &[(A, BODY, "enum lost value \"archived\"")],
            ),
            case(
                "response bound loosened",
                get_returning(json!({"type": "string", "maxLength": 50})),
                get_returning(json!({"type": "string", "maxLength": 100})),
                &[(B, BODY, "`maxLength` changed from 50 to 100")],
            ),
            case(
                "response oneOf variant added",
                get_returning(
                    json!({"oneOf": [{"$ref": "#/components/schemas/Card"}, {"$ref": "#/components/schemas/Bank"}]}),
                ),
                get_returning(
                    json!({"oneOf": [{"$ref": "#/components/schemas/Card"}, {"$ref": "#/components/schemas/Bank"}, {"$ref": "#/components/schemas/Wallet"}]}),
                ),
                &[(
                    B,
                    "GET /v1/projects/{id} › response 200 › body › variant Wallet",
                    "variant added",
                )],
            ),
            case(
                "request new required property",
                post_reading(object(&[], json!({}))),
                post_reading(object(&["owner"], json!({"owner": string}))),
                &[(
                    B,
                    "POST /v1/projects › request body › owner",
                    "new required property",
                )],
            ),
            case(
                "request optional property added",
                post_reading(object(&[], json!({}))),
                post_reading(object(&[], json!({"owner": string}))),
                &[(
                    A,
                    "POST /v1/projects › request body › owner",
                    "optional property added",
                )],
            ),
            case(
                "request property became required",
                post_reading(object(&[], json!({"owner": string}))),
                post_reading(object(&["owner"], json!({"owner": string}))),
                &[(
                    B,
                    "POST /v1/projects › request body › owner",
                    "property became required",
                )],
            ),
            case(
                "request ignores required read-only properties",
                post_reading(object(&[], json!({}))),
                post_reading(object(
                    &["id"],
                    json!({"id": {"type": "string", "readOnly": true}}),
                )),
                &[(
                    A,
                    "POST /v1/projects › request body › id",
                    "optional property added",
                )],
            ),
            case(
                "request property type changed",
                post_reading(object(&[], json!({"size": {"type": "integer"}}))),
                post_reading(object(&[], json!({"size": {"type": "number"}}))),
                &[(
                    B,
                    "POST /v1/projects › request body › size",
                    "type changed from `integer` to `number`",
                )],
            ),
            case(
                "request enum lost values",
                post_reading(status(json!(["a", "b"]))),
                post_reading(status(json!(["a"]))),
                &[(B, REQUEST, "enum lost value \"b\"")],
            ),
            case(
                "request enum gained values",
                post_reading(status(json!(["a"]))),
                post_reading(status(json!(["a", "b"]))),
                &[(A, REQUEST, "enum gained value \"b\"")],
            ),
            case(
                "request bound tightened",
                post_reading(json!({"type": "string", "maxLength": 100})),
                post_reading(json!({"type": "string", "maxLength": 50})),
                &[(B, REQUEST, "`maxLength` changed from 100 to 50")],
            ),
            case(
                "request media type removed",
                form_too,
                optional_body.clone(),
                &[(
                    B,
                    "POST /v1/projects › request body (application/x-www-form-urlencoded)",
                    "media type application/x-www-form-urlencoded removed",
                )],
            ),
            case(
                "request body became required",
                optional_body.clone(),
                required_body,
                &[(B, REQUEST, "request body became required")],
            ),
            case(
                "new required parameter",
                get_with(json!([])),
                get_with(json!([query("include", true, string.clone())])),
                &[(
                    B,
                    "GET /v1/projects/{id} › query parameter include",
                    "new required parameter",
                )],
            ),
            case(
                "new optional parameter",
                get_with(json!([])),
                get_with(json!([query("include", false, string.clone())])),
                &[(
                    A,
                    "GET /v1/projects/{id} › query parameter include",
                    "optional parameter added",
                )],
            ),
            case(
                "new path and header parameters are required",
                get_with(json!([])),
                get_with(json!([
                    {"name": "id", "in": "path", "schema": string},
                    {"name": "X-Tenant", "in": "header", "required": true, "schema": string},
                ])),
                &[
                    (
                        B,
                        "GET /v1/projects/{id} › path parameter id",
                        "new required parameter",
                    ),
                    (
                        B,
                        "GET /v1/projects/{id} › header parameter x-tenant",
                        "new required parameter",
                    ),
                ],
            ),
            case(
                "parameter became required",
                get_with(json!([query("include", false, string.clone())])),
                get_with(json!([query("include", true, string.clone())])),
                &[(
                    B,
                    "GET /v1/projects/{id} › query parameter include",
                    "parameter became required",
                )],
            ),
            case(
                "parameter type changed",
                get_with(json!([query("limit", false, json!({"type": "integer"}))])),
                get_with(json!([query("limit", false, string.clone())])),
                &[(
                    B,
                    "GET /v1/projects/{id} › query parameter limit",
                    "type changed from `integer` to `string`",
                )],
            ),
            case(
                "parameter removed",
                get_with(json!([query("limit", false, json!({"type": "integer"}))])),
                get_with(json!([])),
                &[(
                    A,
                    "GET /v1/projects/{id} › query parameter limit",
                    "parameter removed",
                )],
            ),
            case(
                "path-item parameter moved to the operation",
                path_level,
                get_with(json!([query("limit", false, json!({"type": "integer"}))])),
                &[],
            ),
            case(
                "security requirement added",
                get_returning(string.clone()),
                secured.clone(),
                &[(B, GET, "security requirement added (bearer)")],
            ),
            case(
                "security requirement removed",
                secured.clone(),
                get_returning(string.clone()),
                &[(A, GET, "security requirement removed")],
            ),
            case(
                "security scope added",
                secured,
                scoped,
                &[(B, GET, "security requirements tightened")],
            ),
            case(
                "documentation only",
                get_returning(project(string.clone())),
                documented,
                &[],
            ),
            case(
                "operation deprecated",
                get_returning(string.clone()),
                deprecated,
                &[(A, GET, "deprecated")],
            ),
            case(
                "property removed behind a $ref",
                with_schemas(
                    get_returning(json!({"$ref": "#/components/schemas/Project"})),
                    json!({"Project": project(string.clone())}),
                ),
                with_schemas(
                    get_returning(json!({"$ref": "#/components/schemas/Project"})),
                    json!({"Project": object(&["id"], json!({"id": string}))}),
                ),
                &[(
                    B,
                    "GET /v1/projects/{id} › response 200 › body › name",
                    "property removed",
                )],
            ),
            case(
                "recursive schema compared once per cycle",
                with_schemas(get_returning(node_ref.clone()), node(string.clone())),
                with_schemas(
                    get_returning(node_ref.clone()),
                    node(json!({"type": "integer"})),
                ),
                &[(
                    B,
                    "GET /v1/projects/{id} › response 200 › body › label",
                    "type changed from `string` to `integer`",
                )],
            ),
            case(
                "utoipa Option<T> is the referenced type made nullable",
                with_schemas(
                    get_returning(object(
                        &[],
                        json!({"owner": {"$ref": "#/components/schemas/User"}}),
                    )),
                    json!({"User": object(&[], json!({}))}),
                ),
                with_schemas(
                    get_returning(object(
                        &[],
                        json!({"owner": {"oneOf": [
                            {"type": "null"},
                            {"$ref": "#/components/schemas/User"},
                        ]}}),
                    )),
                    json!({"User": object(&[], json!({}))}),
                ),
                &[(
                    B,
                    "GET /v1/projects/{id} › response 200 › body › owner",
                    "type changed from `object` to `object | null`",
                )],
            ),
            case(
                "allOf branches are merged",
                get_returning(json!({"allOf": [object(&["id"], json!({"id": string}))]})),
                get_returning(json!({"allOf": [
                    object(&["id"], json!({"id": string})),
                    object(&[], json!({"tags": {"type": "array", "items": string}})),
                ]})),
                &[(
                    A,
                    "GET /v1/projects/{id} › response 200 › body › tags",
                    "property added",
                )],
            ),
            case(
                "nested array items are located",
                get_returning(object(
                    &[],
                    json!({"tags": {"type": "array", "items": project(string.clone())}}),
                )),
                get_returning(object(
                    &[],
                    json!({"tags": {"type": "array", "items": object(&["id"], json!({"id": string}))}}),
                )),
                &[(
                    B,
                    "GET /v1/projects/{id} › response 200 › body › tags › items › name",
                    "property removed",
                )],
            ),
        ]
    }

    #[test]
    fn compare_reports_exactly_the_expected_changes() {
        let cases = cases();
        assert!(cases.len() >= 16);
        let mut failures = Vec::new();
        for case in &cases {
            let actual: Vec<(Severity, String, String)> = compare(&case.old, &case.new)
                .into_iter()
                .map(|c| (c.severity, c.location, c.message))
                .collect();
            let expected: Vec<(Severity, String, String)> = case
                .expected
                .iter()
                .map(|(s, l, m)| (*s, (*l).to_owned(), (*m).to_owned()))
                .collect();
            if actual != expected {
                failures.push(format!(
                    "{}:\n  expected {expected:#?}\n  actual   {actual:#?}",
                    case.name
                ));
            }
        }
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    }

    #[test]
    fn identical_documents_have_no_changes() {
        for case in cases() {
            assert_eq!(compare(&case.old, &case.old), [], "{}", case.name);
            assert_eq!(compare(&case.new, &case.new), [], "{}", case.name);
        }
    }

    #[test]
    fn compare_is_deterministic() {
        let old = get_returning(project(json!({"type": "string"})));
        let new = get_with(json!([
            {"name": "b", "in": "query", "required": true, "schema": {"type": "string"}},
            {"name": "a", "in": "query", "required": true, "schema": {"type": "string"}},
        ]));
        let first = compare(&old, &new);
        assert_eq!(first, compare(&old, &new));
        let locations: Vec<&str> = first.iter().map(|c| c.location.as_str()).collect();
        assert_eq!(
            locations,
            [
                "GET /v1/projects/{id} › query parameter a",
                "GET /v1/projects/{id} › query parameter b",
                "GET /v1/projects/{id} › response 200",
            ]
        );
    }

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

    #[test]
    fn reference_loops_terminate() {
        let looped = json!({"A": {"$ref": "#/components/schemas/B"}, "B": {"$ref": "#/components/schemas/A"}});
        let old = with_schemas(
            get_returning(json!({"$ref": "#/components/schemas/A"})),
            looped.clone(),
        );
        let new = with_schemas(
            get_returning(json!({"$ref": "#/components/schemas/A"})),
            looped,
        );
        assert_eq!(compare(&old, &new), []);
    }
}
