//! Generated request bodies: the smallest value a schema accepts.

use saas_core::openapi::resolve;
use serde_json::{Map, Value};
use uuid::Uuid;

use super::ids::{Ids, id_key_stem};

/// Generates the smallest body a schema accepts (see [`IsolationCheck`](super::IsolationCheck)).
pub(super) struct Generator<'a> {
    document: &'a Value,
    ids: &'a Ids,
    probe: &'a str,
}

impl<'a> Generator<'a> {
    pub(super) fn new(document: &'a Value, ids: &'a Ids, probe: &'a str) -> Self {
        Generator {
            document,
            ids,
            probe,
        }
    }

    /// A value of `schema`; `name` is the property it is for (picks the kind of a UUID).
    pub(super) fn value(&self, schema: &Value, name: &str) -> Value {
        self.at_depth(schema, name, 0)
    }

    fn at_depth(&self, schema: &Value, name: &str, depth: usize) -> Value {
        if depth > 16 {
            return Value::Null;
        }
        let schema = resolve(self.document, schema).value();
        let Some(obj) = schema.as_object() else {
            return Value::Null;
        };
        if let Some(value) = obj.get("const") {
            return value.clone();
        }
        if let Some(first) = obj
            .get("enum")
            .and_then(Value::as_array)
            .and_then(|e| e.iter().find(|v| !v.is_null()))
        {
            return first.clone();
        }
        for key in ["oneOf", "anyOf"] {
            if let Some(branches) = obj.get(key).and_then(Value::as_array) {
                let branch = branches
                    .iter()
                    .find(|b| !is_null_schema(resolve(self.document, b).value()))
                    .or_else(|| branches.first());
                if let Some(branch) = branch {
                    return self.at_depth(branch, name, depth + 1);
                }
            }
        }
        if let Some(branches) = obj.get("allOf").and_then(Value::as_array) {
            let mut merged = Map::new();
            for branch in branches {
                match self.at_depth(branch, name, depth + 1) {
                    Value::Object(part) => merged.extend(part),
                    other if branches.len() == 1 => return other,
                    _ => {}
                }
            }
            return Value::Object(merged);
        }
        let kind = match obj.get("type") {
            Some(Value::String(t)) => t.as_str(),
            Some(Value::Array(types)) => types
                .iter()
                .filter_map(Value::as_str)
                .find(|t| *t != "null")
                .unwrap_or("null"),
            _ if obj.contains_key("properties") => "object",
            _ if obj.contains_key("items") => "array",
            _ => "object",
        };
        match kind {
            "object" => {
                let mut out = Map::new();
                let properties = obj.get("properties").and_then(Value::as_object);
                let required = obj.get("required").and_then(Value::as_array);
                for key in required.into_iter().flatten().filter_map(Value::as_str) {
                    let property = properties.and_then(|p| p.get(key)).unwrap_or(&Value::Null);
                    let value = if property.is_null() {
                        Value::String(self.probe.into())
                    } else {
                        self.at_depth(property, key, depth + 1)
                    };
                    out.insert(key.to_string(), value);
                }
                Value::Object(out)
            }
            "array" => {
                let n = obj
                    .get("minItems")
                    .and_then(Value::as_u64)
                    .unwrap_or(0)
                    .min(8);
                let item = obj.get("items").unwrap_or(&Value::Null);
                Value::Array(
                    (0..n)
                        .map(|_| self.at_depth(item, name, depth + 1))
                        .collect(),
                )
            }
            "string" => self.string(obj, name),
            "integer" => Value::from(integer(obj)),
            "number" => number(obj),
            "boolean" => Value::Bool(false),
            _ => Value::Null,
        }
    }

    fn string(&self, schema: &Map<String, Value>, name: &str) -> Value {
        let format = schema.get("format").and_then(Value::as_str).unwrap_or("");
        let text = match format {
            "uuid" => {
                let kind = id_key_stem(name).unwrap_or_default();
                let id = self
                    .ids
                    .candidates(&kind)
                    .first()
                    .copied()
                    .unwrap_or_else(Uuid::nil);
                return Value::String(id.to_string());
            }
            "date-time" => "2026-01-01T00:00:00Z".to_string(),
            "date" => "2026-01-01".to_string(),
            "time" => "00:00:00Z".to_string(),
            "email" => format!("{}@example.com", self.probe),
            "uri" | "url" => format!("https://example.com/{}", self.probe),
            "ipv4" => "192.0.2.1".to_string(),
            "ipv6" => "2001:db8::1".to_string(),
            _ => {
                let min = schema.get("minLength").and_then(Value::as_u64).unwrap_or(0) as usize;
                let max = schema
                    .get("maxLength")
                    .and_then(Value::as_u64)
                    .map(|m| m as usize);
                let mut text = self.probe.to_string();
                while text.len() < min {
                    text.push('-');
                    text.push_str(self.probe);
                }
                let cut = max.unwrap_or(usize::MAX).max(min);
                text.truncate(cut.min(text.len()));
                text
            }
        };
        Value::String(text)
    }
}

fn is_null_schema(schema: &Value) -> bool {
    schema.get("type") == Some(&Value::String("null".into()))
}

/// 1, or the minimum (an exclusive one plus one), within the maximum.
fn integer(schema: &Map<String, Value>) -> i64 {
    let min = schema
        .get("minimum")
        .and_then(Value::as_f64)
        .map(|m| m.ceil() as i64);
    let exclusive = match schema.get("exclusiveMinimum") {
        Some(Value::Number(n)) => n.as_f64().map(|m| m.floor() as i64 + 1),
        Some(Value::Bool(true)) => min.map(|m| m + 1),
        _ => None,
    };
    let mut value = exclusive.or(min).unwrap_or(1);
    if let Some(max) = schema.get("maximum").and_then(Value::as_f64) {
        value = value.min(max.floor() as i64);
    }
    value
}

fn number(schema: &Map<String, Value>) -> Value {
    let min = schema.get("minimum").and_then(Value::as_f64);
    let exclusive = match schema.get("exclusiveMinimum") {
        Some(Value::Number(n)) => n.as_f64().map(|m| m + 1.0),
        Some(Value::Bool(true)) => min.map(|m| m + 1.0),
        _ => None,
    };
    let mut value = exclusive.or(min).unwrap_or(1.0);
    if let Some(max) = schema.get("maximum").and_then(Value::as_f64) {
        value = value.min(max);
    }
    serde_json::Number::from_f64(value).map_or(Value::Null, Value::Number)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::isolation::PROBE;

    fn generate(document: &Value, schema: Value) -> Value {
        Generator::new(document, &Ids::default(), PROBE).value(&schema, "")
    }

    #[test]
    fn bodies_hold_required_properties_only_with_refs_resolved() {
        let document = json!({"components": {"schemas": {
            "Status": {"type": "string", "enum": ["todo", "doing"]},
            "TaskInput": {
                "type": "object",
                "required": ["title", "status", "tags", "done", "weight", "owner"],
                "properties": {
                    "title": {"type": "string"},
                    "status": {"oneOf": [{"type": "null"}, {"$ref": "#/components/schemas/Status"}]},
                    "tags": {"type": "array", "items": {"type": "string"}, "minItems": 1},
                    "done": {"type": "boolean"},
                    "weight": {"type": "integer", "minimum": 3},
                    "owner": {"type": ["object", "null"], "required": ["name"],
                              "properties": {"name": {"type": "string", "maxLength": 4}}},
                    "note": {"type": "string"}
                }
            }
        }}});
        let body = generate(&document, json!({"$ref": "#/components/schemas/TaskInput"}));
        assert_eq!(
            body,
            json!({
                "title": "isolation-probe",
                "status": "todo",
                "tags": ["isolation-probe"],
                "done": false,
                "weight": 3,
                "owner": {"name": "isol"}
            })
        );
    }

    #[test]
    fn chained_references_are_followed_and_loops_give_an_empty_object() {
        let document = json!({"components": {"schemas": {
            "Title": {"$ref": "#/components/schemas/Text"},
            "Text": {"type": "string", "maxLength": 3},
            "A": {"$ref": "#/components/schemas/B"},
            "B": {"$ref": "#/components/schemas/A"},
        }}});
        let schema = |name: &str| json!({"$ref": format!("#/components/schemas/{name}")});
        assert_eq!(generate(&document, schema("Title")), json!("iso"));
        assert_eq!(generate(&document, schema("A")), json!({}));
        assert_eq!(generate(&document, schema("Gone")), json!({}));
    }

    #[test]
    fn strings_respect_their_length_bounds_and_formats() {
        let doc = Value::Null;
        assert_eq!(
            generate(&doc, json!({"type": "string", "maxLength": 3})),
            json!("iso")
        );
        let long = generate(&doc, json!({"type": "string", "minLength": 20}));
        assert!(long.as_str().unwrap().len() >= 20, "{long}");
        let bounded = generate(
            &doc,
            json!({"type": "string", "minLength": 20, "maxLength": 22}),
        );
        assert!(
            (20..=22).contains(&bounded.as_str().unwrap().len()),
            "{bounded}"
        );
        assert_eq!(
            generate(&doc, json!({"type": "string", "format": "date"})),
            json!("2026-01-01")
        );
        assert_eq!(
            generate(
                &doc,
                json!({"type": "integer", "exclusiveMinimum": 0, "maximum": 100})
            ),
            json!(1)
        );
        assert_eq!(
            generate(&doc, json!({"type": "number", "minimum": 2.5})),
            json!(2.5)
        );
        assert_eq!(
            generate(
                &doc,
                json!({"anyOf": [{"type": "null"}, {"type": "boolean"}]})
            ),
            json!(false)
        );
        assert_eq!(
            generate(
                &doc,
                json!({"allOf": [
                    {"type": "object", "required": ["a"], "properties": {"a": {"type": "integer"}}},
                    {"type": "object", "required": ["b"], "properties": {"b": {"const": "x"}}}
                ]})
            ),
            json!({"a": 1, "b": "x"})
        );
    }

    #[test]
    fn uuid_fields_take_an_id_of_the_kind_their_name_says() {
        let (project, task) = (Uuid::new_v4(), Uuid::new_v4());
        let mut ids = Ids::default();
        ids.add("task", task);
        ids.add("project", project);
        let schema = json!({"type": "object", "required": ["project_id", "id"], "properties": {
            "project_id": {"type": "string", "format": "uuid"},
            "id": {"type": "string", "format": "uuid"}
        }});
        let body = Generator::new(&Value::Null, &ids, PROBE).value(&schema, "");
        assert_eq!(
            body,
            json!({"project_id": project.to_string(), "id": task.to_string()})
        );
    }
}
