//! The operations of the document that the check can send.

use saas_core::openapi::resolve;
use serde_json::Value;
use uuid::Uuid;

use super::PROBE;
use super::body::Generator;
use super::ids::{Ids, id_key_stem, singular};

/// The operations of one document that the check can send.
#[derive(Debug)]
pub(super) struct Api {
    pub(super) document: Value,
    pub(super) ops: Vec<Operation>,
    pub(super) notes: Vec<String>,
}

/// One operation of the document.
#[derive(Debug, Clone)]
pub(super) struct Operation {
    pub(super) method: String,
    pub(super) template: String,
    /// Path parameters, in path order.
    pub(super) params: Vec<String>,
    /// The kind of id each parameter takes (`projects/{id}` -> `project`).
    pub(super) stems: Vec<String>,
    /// `name=value` of the required query parameters.
    pub(super) query: Vec<(String, String)>,
    /// The JSON request body's schema.
    pub(super) body: Option<Value>,
}

const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];

impl Api {
    pub(super) fn parse(document: &Value, skip: &[String]) -> Api {
        let mut ops = Vec::new();
        let mut notes = Vec::new();
        let paths = document.get("paths").and_then(Value::as_object);
        for (template, item) in paths.into_iter().flatten() {
            let item = resolve(document, item).value();
            let shared = item.get("parameters").and_then(Value::as_array);
            for method in METHODS {
                let Some(op) = item.get(method) else { continue };
                let method = method.to_ascii_uppercase();
                let route = format!("{method} {template}");
                if skip.iter().any(|s| s == &route || s == template) {
                    continue;
                }
                let params = path_params(template);
                let mut query = Vec::new();
                let mut unfillable = None;
                let all = shared.into_iter().flatten().chain(
                    op.get("parameters")
                        .and_then(Value::as_array)
                        .into_iter()
                        .flatten(),
                );
                for param in all {
                    let param = resolve(document, param).value();
                    let name = param
                        .get("name")
                        .and_then(Value::as_str)
                        .unwrap_or_default();
                    let schema = param.get("schema").map(|s| resolve(document, s).value());
                    match param.get("in").and_then(Value::as_str) {
                        Some("path") if !takes_id(document, schema) => {
                            unfillable = Some(name.to_string());
                        }
                        Some("query") if param.get("required") == Some(&Value::Bool(true)) => {
                            let value = Generator::new(document, &Ids::default(), PROBE)
                                .value(schema.unwrap_or(&Value::Null), name);
                            let text = match value {
                                Value::String(s) => s,
                                other => other.to_string(),
                            };
                            query.push((name.to_string(), text));
                        }
                        _ => {}
                    }
                }
                if let Some(name) = unfillable {
                    notes.push(format!(
                        "{route}: its path parameter {name:?} does not take an id (a UUID or a string)"
                    ));
                    continue;
                }
                let body = op
                    .get("requestBody")
                    .map(|b| resolve(document, b).value())
                    .and_then(|b| b.get("content"))
                    .and_then(Value::as_object)
                    .and_then(|content| {
                        content
                            .iter()
                            .find(|(media, _)| media.contains("json"))
                            .and_then(|(_, c)| c.get("schema"))
                            .cloned()
                    });
                let stems = param_stems(template, &params);
                ops.push(Operation {
                    method,
                    template: template.clone(),
                    params,
                    stems,
                    query,
                    body,
                });
            }
        }
        Api {
            document: document.clone(),
            ops,
            notes,
        }
    }

    /// The document's route of a concrete path sent with `method`.
    pub(super) fn route_of(&self, method: &str, path: &str) -> String {
        self.ops
            .iter()
            .find(|op| op.method == method && matches_template(&op.template, path))
            .map(|op| op.template.clone())
            .unwrap_or_else(|| path.to_string())
    }
}

impl Operation {
    pub(super) fn route(&self) -> String {
        format!("{} {}", self.method, self.template)
    }

    /// The path with `ids` in its parameters, in order, and the required query.
    pub(super) fn path(&self, ids: &[Uuid]) -> String {
        let mut path = self.template.clone();
        for (name, id) in self.params.iter().zip(ids) {
            path = path.replacen(&format!("{{{name}}}"), &id.to_string(), 1);
        }
        if !self.query.is_empty() {
            let query: Vec<String> = self
                .query
                .iter()
                .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
                .collect();
            path = format!("{path}?{}", query.join("&"));
        }
        path
    }

    /// A generated body, when the operation takes one; its UUIDs are from `ids`, its text
    /// `probe`.
    pub(super) fn body_value(&self, document: &Value, ids: &Ids, probe: &str) -> Option<Value> {
        self.body
            .as_ref()
            .map(|schema| Generator::new(document, ids, probe).value(schema, ""))
    }

    /// Whether the generated body holds an id.
    pub(super) fn takes_ids(&self, document: &Value) -> bool {
        let Some(schema) = &self.body else {
            return false;
        };
        let marker = Uuid::from_u128(0x1505_a7e0_0000_4000_8000_0000_0000_0001);
        let ids = Ids {
            all: vec![marker],
            ..Ids::default()
        };
        let body = Generator::new(document, &ids, PROBE).value(schema, "");
        body.to_string().contains(&marker.to_string())
    }
}

fn path_params(template: &str) -> Vec<String> {
    template
        .split('/')
        .filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
        .map(str::to_string)
        .collect()
}

/// The kind of id each parameter takes: its name without `_id`/`Id` when it says one
/// (`{project_id}`), else the static segment before it (`/projects/{id}`), singular.
fn param_stems(template: &str, params: &[String]) -> Vec<String> {
    let segments: Vec<&str> = template.split('/').collect();
    params
        .iter()
        .map(|name| {
            if let Some(stem) = id_key_stem(name).filter(|s| !s.is_empty()) {
                return stem;
            }
            let at = segments
                .iter()
                .position(|s| *s == format!("{{{name}}}"))
                .unwrap_or(0);
            segments[..at]
                .iter()
                .rev()
                .find(|s| !s.is_empty() && !s.starts_with('{'))
                .map(|s| singular(s))
                .unwrap_or_default()
        })
        .collect()
}

fn matches_template(template: &str, path: &str) -> bool {
    let path = path.split('?').next().unwrap_or(path);
    let (t, p): (Vec<&str>, Vec<&str>) = (template.split('/').collect(), path.split('/').collect());
    t.len() == p.len() && t.iter().zip(&p).all(|(t, p)| t.starts_with('{') || t == p)
}

/// Whether a path parameter of this schema can hold an id (a UUID, or any string).
fn takes_id(document: &Value, schema: Option<&Value>) -> bool {
    let Some(schema) = schema else { return true };
    let schema = resolve(document, schema).value();
    match schema.get("type") {
        None => true,
        Some(Value::String(t)) => t == "string",
        Some(Value::Array(types)) => types.iter().any(|t| t == "string"),
        Some(_) => false,
    }
}

fn encode(text: &str) -> String {
    let mut out = String::new();
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn path_parameters_get_the_kind_of_the_segment_before_them() {
        let template = "/v2/projects/{id}/tasks/{task_id}";
        let params = path_params(template);
        assert_eq!(params, ["id", "task_id"]);
        assert_eq!(param_stems(template, &params), ["project", "task"]);
        assert_eq!(
            param_stems("/v2/categories/{id}", &["id".into()]),
            ["category"]
        );
        assert!(matches_template("/v2/projects/{id}", "/v2/projects/abc"));
        assert!(!matches_template(
            "/v2/projects/{id}",
            "/v2/projects/abc/tasks"
        ));
    }

    #[test]
    fn the_operations_of_a_document_are_read_with_their_bodies_and_queries() {
        let document = json!({"paths": {
            "/v2/things": {
                "get": {"parameters": [{"in": "query", "name": "limit", "required": true,
                                         "schema": {"type": "integer", "minimum": 1}}]},
                "post": {"requestBody": {"content": {"application/json": {"schema": {"type": "object"}}}}}
            },
            "/v2/things/{id}": {"delete": {}, "get": {"parameters": [
                {"in": "path", "name": "id", "schema": {"type": "string", "format": "uuid"}}]}},
            "/v2/pages/{n}": {"get": {"parameters": [
                {"in": "path", "name": "n", "schema": {"type": "integer"}}]}}
        }});
        let api = Api::parse(&document, &["DELETE /v2/things/{id}".to_string()]);
        let routes: Vec<String> = api.ops.iter().map(Operation::route).collect();
        assert_eq!(
            routes,
            ["GET /v2/things", "POST /v2/things", "GET /v2/things/{id}"]
        );
        assert_eq!(api.ops[0].path(&[]), "/v2/things?limit=1");
        assert!(api.ops[1].body.is_some());
        assert_eq!(api.notes.len(), 1, "{:?}", api.notes);
        assert!(api.notes[0].contains("GET /v2/pages/{n}"));
    }
}
