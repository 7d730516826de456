//! The walk over paths, operations, parameters, bodies and responses, down to the schemas that
//! [`schema`](super::schema) compares.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value};

use super::schema::Direction;
use super::{
    Change, METHODS, Severity, is_doc_key, is_true, object, operation_location, sorted_union,
};
use crate::openapi::refs::resolve;

/// The state of one comparison.
pub(super) struct Ctx<'a> {
    pub(super) old_doc: &'a Value,
    pub(super) new_doc: &'a Value,
    pub(super) out: Vec<Change>,
    /// The `$ref` pairs being compared further up the stack: the guard against cycles.
    pub(super) in_progress: Vec<(Vec<&'a str>, Vec<&'a str>)>,
}

impl<'a> Ctx<'a> {
    pub(super) fn push(&mut self, severity: Severity, location: &str, message: impl Into<String>) {
        self.out.push(Change::new(severity, location, message));
    }

    pub(super) fn breaking(&mut self, location: &str, message: impl Into<String>) {
        self.push(Severity::Breaking, location, message);
    }

    pub(super) fn additive(&mut self, location: &str, message: impl Into<String>) {
        self.push(Severity::Additive, location, message);
    }

    pub(super) fn compare_paths(&mut self) {
        let old_paths = object(self.old_doc.get("paths"));
        let new_paths = object(self.new_doc.get("paths"));
        for path in sorted_union(old_paths, new_paths) {
            let old_item = old_paths
                .and_then(|p| p.get(path))
                .map(|v| resolve(self.old_doc, v).value());
            let new_item = new_paths
                .and_then(|p| p.get(path))
                .map(|v| resolve(self.new_doc, v).value());
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
        let old = old_op
            .get("requestBody")
            .map(|b| resolve(self.old_doc, b).value());
        let new = new_op
            .get("requestBody")
            .map(|b| resolve(self.new_doc, b).value());
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
                .map(|r| resolve(self.old_doc, r).value());
            let new = new_responses
                .and_then(|r| r.get(status))
                .map(|r| resolve(self.new_doc, r).value());
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
                .map(|h| resolve(self.old_doc, h).value());
            let new_header = new_headers
                .and_then(|h| h.get(name))
                .map(|h| resolve(self.new_doc, h).value());
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
            let parameter = resolve(doc, parameter).value();
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

fn is_success(status: &str) -> bool {
    status.starts_with('2')
}

fn item_methods(item: &Value) -> Vec<String> {
    METHODS
        .iter()
        .filter(|m| item.get(**m).is_some())
        .map(|m| m.to_ascii_uppercase())
        .collect()
}
