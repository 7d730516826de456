//! Version changes at work: older clients are served by the current handler, their request
//! bodies upgraded and the responses downgraded, schema by schema (the approach of Stripe's
//! API versioning and of Cadwyn).
//!
//! Bodies are walked together with their OpenAPI schema: wherever the schema refers to a
//! component that has a change for the client's version, that part of the body is converted
//! by the change's function. So a change declared once for `TaskBody` applies to every
//! response that contains one — a single task, a page of them, or a nested field.

use serde_json::{Map, Value};

use super::{ApiVersion, VersionChange};

const MAX_DEPTH: usize = 64;

/// The registered version changes.
#[derive(Debug, Clone, Default)]
pub struct Changes {
    changes: Vec<&'static VersionChange>,
}

fn ref_name(schema: &Value) -> Option<&str> {
    schema
        .get("$ref")
        .and_then(Value::as_str)
        .and_then(|r| r.rsplit('/').next())
}

impl Changes {
    /// Every change registered with `#[version_change]` in this binary.
    pub fn registered() -> Changes {
        Changes {
            changes: inventory::iter::<VersionChange>.into_iter().collect(),
        }
    }

    /// Whether any change is registered.
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }

    /// Every change (for documents: their schemas).
    pub fn all(&self) -> &[&'static VersionChange] {
        &self.changes
    }

    /// The registered changes that satisfy `predicate`.
    fn matching<'a>(
        &'a self,
        predicate: impl Fn(&VersionChange) -> bool + 'a,
    ) -> impl Iterator<Item = &'static VersionChange> + 'a {
        self.changes.iter().copied().filter(move |c| predicate(c))
    }

    /// The response change turning schema `name` into an older shape for `version`: the one
    /// closest to `name`'s version that still applies.
    pub fn response_change(
        &self,
        name: &str,
        version: ApiVersion,
    ) -> Option<&'static VersionChange> {
        self.matching(|c| c.from > c.to && version <= c.to && (c.input)().0 == name)
            .max_by_key(|c| c.to)
    }

    /// The request change turning an older client's schema `name` into a newer one.
    pub fn request_change(
        &self,
        name: &str,
        version: ApiVersion,
    ) -> Option<&'static VersionChange> {
        self.matching(|c| c.from < c.to && version <= c.from && (c.input)().0 == name)
            .min_by_key(|c| c.to)
    }

    /// The request change whose *output* is `name`, for documents of `version`.
    pub fn request_change_into(
        &self,
        name: &str,
        version: ApiVersion,
    ) -> Option<&'static VersionChange> {
        self.matching(|c| c.from < c.to && version <= c.from && (c.output)().0 == name)
            .min_by_key(|c| c.from)
    }

    /// Converts a response body of the current shape (`schema`, in `components`) into the
    /// shape of `version`.
    pub fn downgrade(
        &self,
        value: Value,
        schema: &Value,
        components: &Map<String, Value>,
        version: ApiVersion,
    ) -> Result<Value, String> {
        self.walk(value, schema, components, 0, &|name| {
            self.response_change(name, version)
        })
    }

    /// Converts a request body of `version`'s shape (`schema`, in that version's
    /// `components`) into the current shape.
    pub fn upgrade(
        &self,
        value: Value,
        schema: &Value,
        components: &Map<String, Value>,
        version: ApiVersion,
    ) -> Result<Value, String> {
        self.walk(value, schema, components, 0, &|name| {
            self.request_change(name, version)
        })
    }

    /// Whether a body of `schema` would be touched for `version` (so bodies that need no
    /// change are never buffered).
    pub fn touches(
        &self,
        schema: &Value,
        components: &Map<String, Value>,
        response: bool,
        version: ApiVersion,
    ) -> bool {
        let mut seen = Vec::new();
        self.touches_inner(schema, components, response, version, &mut seen)
    }

    fn touches_inner(
        &self,
        schema: &Value,
        components: &Map<String, Value>,
        response: bool,
        version: ApiVersion,
        seen: &mut Vec<String>,
    ) -> bool {
        if let Some(name) = ref_name(schema) {
            let change = if response {
                self.response_change(name, version)
            } else {
                self.request_change(name, version)
            };
            if change.is_some() {
                return true;
            }
            if seen.iter().any(|s| s == name) {
                return false;
            }
            seen.push(name.to_string());
            return components
                .get(name)
                .is_some_and(|s| self.touches_inner(s, components, response, version, seen));
        }
        let children = schema
            .get("properties")
            .and_then(Value::as_object)
            .into_iter()
            .flat_map(|p| p.values())
            .chain(schema.get("items"))
            .chain(
                ["allOf", "oneOf", "anyOf"]
                    .iter()
                    .filter_map(|k| schema.get(*k))
                    .filter_map(Value::as_array)
                    .flatten(),
            );
        for child in children {
            if self.touches_inner(child, components, response, version, seen) {
                return true;
            }
        }
        false
    }

    fn walk(
        &self,
        value: Value,
        schema: &Value,
        components: &Map<String, Value>,
        depth: usize,
        change_for: &dyn Fn(&str) -> Option<&'static VersionChange>,
    ) -> Result<Value, String> {
        if depth > MAX_DEPTH {
            return Ok(value);
        }
        if let Some(name) = ref_name(schema) {
            if let Some(first) = change_for(name) {
                let mut value = (first.apply)(value)?;
                let mut current = (first.output)().0;
                let mut steps = 0;
                while let Some(next) = change_for(&current) {
                    value = (next.apply)(value)?;
                    current = (next.output)().0;
                    steps += 1;
                    if steps > 16 {
                        break;
                    }
                }
                return Ok(value);
            }
            return match components.get(name) {
                Some(target) => self.walk(value, target, components, depth + 1, change_for),
                None => Ok(value),
            };
        }
        let value = match value {
            Value::Object(mut object) => {
                if let Some(properties) = schema.get("properties").and_then(Value::as_object) {
                    for (key, sub) in properties {
                        if let Some(v) = object.remove(key) {
                            let v = self.walk(v, sub, components, depth + 1, change_for)?;
                            object.insert(key.clone(), v);
                        }
                    }
                }
                Value::Object(object)
            }
            Value::Array(items) => match schema.get("items") {
                Some(item_schema) => Value::Array(
                    items
                        .into_iter()
                        .map(|v| self.walk(v, item_schema, components, depth + 1, change_for))
                        .collect::<Result<_, _>>()?,
                ),
                None => Value::Array(items),
            },
            other => other,
        };
        // Composition: allOf parts all describe the value; a oneOf/anyOf with a single
        // non-null branch (utoipa's Option<T>) describes it too.
        let mut value = value;
        if let Some(parts) = schema.get("allOf").and_then(Value::as_array) {
            for part in parts {
                value = self.walk(value, part, components, depth + 1, change_for)?;
            }
        }
        for key in ["oneOf", "anyOf"] {
            if let Some(branches) = schema.get(key).and_then(Value::as_array) {
                let non_null: Vec<&Value> = branches
                    .iter()
                    .filter(|b| b.get("type").and_then(Value::as_str) != Some("null"))
                    .collect();
                if let [only] = non_null.as_slice()
                    && !value.is_null()
                {
                    value = self.walk(value, only, components, depth + 1, change_for)?;
                }
            }
        }
        Ok(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use utoipa::openapi::RefOr;
    use utoipa::openapi::schema::{Object, Schema};

    fn schema(name: &str) -> (String, RefOr<Schema>) {
        (name.to_string(), RefOr::T(Schema::Object(Object::new())))
    }

    static DOWN: VersionChange = VersionChange {
        from: ApiVersion::Int(2),
        to: ApiVersion::Int(1),
        input: || schema("Task"),
        output: || schema("TaskV1"),
        apply: |mut v| {
            let done = v["status"] == "done";
            let o = v.as_object_mut().ok_or("not an object")?;
            o.remove("status");
            o.insert("done".into(), json!(done));
            Ok(v)
        },
    };

    static UP: VersionChange = VersionChange {
        from: ApiVersion::Int(1),
        to: ApiVersion::Int(2),
        input: || schema("TaskInputV1"),
        output: || schema("TaskInput"),
        apply: |mut v| {
            let done = v
                .get("done")
                .and_then(Value::as_bool)
                .ok_or("`done` must be a boolean")?;
            let o = v.as_object_mut().ok_or("not an object")?;
            o.remove("done");
            o.insert("status".into(), json!(if done { "done" } else { "todo" }));
            Ok(v)
        },
    };

    fn changes() -> Changes {
        Changes {
            changes: vec![&DOWN, &UP],
        }
    }

    fn components() -> Map<String, Value> {
        json!({
            "Task": {"type": "object", "properties": {"status": {"type": "string"}}},
            "PageTask": {"type": "object", "properties": {
                "items": {"type": "array", "items": {"$ref": "#/components/schemas/Task"}},
                "next_cursor": {"type": ["string", "null"]}
            }}
        })
        .as_object()
        .unwrap()
        .clone()
    }

    #[test]
    fn responses_are_downgraded_wherever_the_schema_appears() {
        let page = json!({"items": [{"status": "done"}, {"status": "todo"}], "next_cursor": null});
        let schema = json!({"$ref": "#/components/schemas/PageTask"});
        let out = changes()
            .downgrade(page, &schema, &components(), ApiVersion::Int(1))
            .unwrap();
        assert_eq!(
            out,
            json!({"items": [{"done": true}, {"done": false}], "next_cursor": null})
        );
        assert!(changes().touches(&schema, &components(), true, ApiVersion::Int(1)));
        assert!(!changes().touches(&schema, &components(), true, ApiVersion::Int(2)));
    }

    #[test]
    fn current_version_is_untouched() {
        let task = json!({"status": "done"});
        let schema = json!({"$ref": "#/components/schemas/Task"});
        let out = changes()
            .downgrade(task.clone(), &schema, &components(), ApiVersion::Int(2))
            .unwrap();
        assert_eq!(out, task);
    }

    #[test]
    fn requests_are_upgraded_and_bad_ones_rejected() {
        let schema = json!({"$ref": "#/components/schemas/TaskInputV1"});
        let out = changes()
            .upgrade(
                json!({"title": "x", "done": false}),
                &schema,
                &Map::new(),
                ApiVersion::Int(1),
            )
            .unwrap();
        assert_eq!(out, json!({"title": "x", "status": "todo"}));
        assert!(
            changes()
                .upgrade(
                    json!({"done": "yes"}),
                    &schema,
                    &Map::new(),
                    ApiVersion::Int(1)
                )
                .is_err()
        );
    }
}
