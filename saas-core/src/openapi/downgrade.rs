//! OpenAPI 3.1 to 3.0.3 down-conversion.
//!
//! Some client generators read only OpenAPI 3.0. [`to_openapi_30`] rewrites a 3.1 document, as
//! utoipa serializes it, into the nearest 3.0.3 document:
//!
//! | 3.1 | 3.0.3 |
//! | --- | --- |
//! | `"openapi": "3.1.x"` | `"openapi": "3.0.3"` |
//! | `type: [T, "null"]` | `type: T, nullable: true` |
//! | `type: [T, U]` | `anyOf: [{type: T}, {type: U}]`, each type's keywords moved into its branch |
//! | `type: "null"` | `nullable: true, enum: [null]` |
//! | `oneOf`/`anyOf` with a `{type: "null"}` branch | the branch dropped and `nullable: true`; a single remaining branch is collapsed into the schema, or kept as `allOf: [branch]` when it is a `$ref` or would clash |
//! | `$ref` with siblings such as `nullable` | `allOf: [{$ref}]` beside the siblings (3.0 ignores a `$ref`'s siblings) |
//! | `const: v` | `enum: [v]` |
//! | `exclusiveMinimum: n` (a number) | `minimum: n, exclusiveMinimum: true` (likewise for the maximum) |
//! | `examples: [a, …]` in a schema | `example: a` |
//! | `contentEncoding: base64` / `contentMediaType` | `format: byte` / `format: binary` |
//! | `prefixItems` | `items`: the prefix schema when all are alike, else `anyOf` of the distinct ones |
//! | `true` / `false` schemas | `{}` / `{not: {}}` |
//! | `info.license.identifier` | removed (the SPDX license page becomes the `url` when there is none and the identifier is a single license) |
//! | `info.summary`, `jsonSchemaDialect`, `webhooks`, `components.pathItems` | removed (path items referring to `components.pathItems` are inlined first, through chains of references) |
//! | `$schema`, `$id`, `$defs`, `$anchor`, `$comment`, `unevaluatedProperties`, `unevaluatedItems`, `patternProperties`, `propertyNames`, `dependentSchemas`, `dependentRequired`, `if`/`then`/`else`, `contains` | removed |
//! | an operation without `responses` | `responses: {default: {description: "Default response"}}` |
//!
//! Schemas are converted wherever they appear: `components` (schemas, parameters, headers,
//! request bodies, responses, callbacks), path-item and operation parameters, request and
//! response bodies, response and encoding headers, callbacks, and nested in `properties`,
//! `items`, `additionalProperties`, `allOf`, `oneOf`, `anyOf` and `not`.
//!
//! ```
//! use saas_core::openapi::downgrade::to_openapi_30;
//! use serde_json::json;
//!
//! let doc = json!({
//!     "openapi": "3.1.0",
//!     "info": {"title": "Projects", "version": "1"},
//!     "paths": {},
//!     "components": {"schemas": {"Project": {
//!         "type": "object",
//!         "properties": {"archived_at": {"type": ["string", "null"], "format": "date-time"}},
//!     }}},
//! });
//! let down = to_openapi_30(&doc);
//! assert_eq!(down["openapi"], "3.0.3");
//! assert_eq!(
//!     down["components"]["schemas"]["Project"]["properties"]["archived_at"],
//!     json!({"type": "string", "format": "date-time", "nullable": true}),
//! );
//! ```

use serde_json::{Map, Value, json};

use super::refs::resolve;

/// The HTTP methods an OpenAPI path item can hold.
const METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "patch", "head", "options", "trace",
];

/// Schema keywords that 3.0 does not know and that have no 3.0 equivalent.
const UNSUPPORTED: [&str; 20] = [
    "$schema",
    "$id",
    "$defs",
    "$anchor",
    "$dynamicRef",
    "$dynamicAnchor",
    "$vocabulary",
    "$comment",
    "unevaluatedProperties",
    "unevaluatedItems",
    "patternProperties",
    "propertyNames",
    "dependentSchemas",
    "dependentRequired",
    "if",
    "then",
    "else",
    "contains",
    "minContains",
    "maxContains",
];

/// Keywords that apply to one JSON type only, moved into that type's branch when a type array
/// becomes an `anyOf`.
const TYPE_KEYWORDS: [(&str, &[&str]); 5] = [
    ("string", &["minLength", "maxLength", "pattern", "format"]),
    (
        "number",
        &[
            "minimum",
            "maximum",
            "exclusiveMinimum",
            "exclusiveMaximum",
            "multipleOf",
            "format",
        ],
    ),
    (
        "integer",
        &[
            "minimum",
            "maximum",
            "exclusiveMinimum",
            "exclusiveMaximum",
            "multipleOf",
            "format",
        ],
    ),
    ("array", &["items", "minItems", "maxItems", "uniqueItems"]),
    (
        "object",
        &[
            "properties",
            "required",
            "additionalProperties",
            "minProperties",
            "maxProperties",
        ],
    ),
];

/// Converts an OpenAPI 3.1 document into OpenAPI 3.0.3 (see the [module documentation](self)).
///
/// The input is not modified; a document that is not a JSON object is returned unchanged.
pub fn to_openapi_30(doc: &Value) -> Value {
    let mut out = doc.clone();
    let Value::Object(root) = &mut out else {
        return out;
    };
    root.insert("openapi".to_owned(), json!("3.0.3"));
    root.remove("jsonSchemaDialect");
    root.remove("webhooks");

    if let Some(info) = root.get_mut("info").and_then(Value::as_object_mut) {
        info.remove("summary");
        if let Some(license) = info.get_mut("license").and_then(Value::as_object_mut)
            && let Some(identifier) = license.remove("identifier")
            && let Some(identifier) = identifier.as_str()
            && is_spdx_identifier(identifier)
        {
            license
                .entry("url")
                .or_insert_with(|| json!(format!("https://spdx.org/licenses/{identifier}.html")));
        }
    }

    // Path items may refer to `components.pathItems`, which 3.0 lacks: inline them first, from
    // the input, which keeps them while `out` loses them.
    let paths = root
        .entry("paths")
        .or_insert_with(|| Value::Object(Map::new()));
    for item in values_mut(paths) {
        inline_path_item(item, doc);
        convert_path_item(item);
    }

    if let Some(components) = root.get_mut("components").and_then(Value::as_object_mut) {
        components.remove("pathItems");
        if let Some(schemas) = components.get_mut("schemas") {
            values_mut(schemas).for_each(convert_schema);
        }
        for key in ["parameters", "headers"] {
            if let Some(parameters) = components.get_mut(key) {
                values_mut(parameters).for_each(convert_parameter);
            }
        }
        if let Some(bodies) = components.get_mut("requestBodies") {
            values_mut(bodies).for_each(convert_content);
        }
        if let Some(responses) = components.get_mut("responses") {
            values_mut(responses).for_each(convert_response);
        }
        if let Some(callbacks) = components.get_mut("callbacks") {
            values_mut(callbacks).for_each(convert_callback);
        }
    }
    out
}

/// A single SPDX license identifier such as `MIT` or `Apache-2.0`, not an expression such as
/// `MIT OR Apache-2.0`, which has no license page of its own.
fn is_spdx_identifier(identifier: &str) -> bool {
    !identifier.is_empty()
        && identifier
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'+'))
}

/// The values of an object, or nothing when `value` is not an object.
fn values_mut(value: &mut Value) -> impl Iterator<Item = &mut Value> {
    value.as_object_mut().into_iter().flat_map(Map::values_mut)
}

/// Replaces a path item that refers into `components.pathItems` by the path item it resolves to.
/// Other references are valid in 3.0 and stay; one that cannot be resolved is left as it is.
fn inline_path_item(item: &mut Value, doc: &Value) {
    let into_components = item
        .get("$ref")
        .and_then(Value::as_str)
        .is_some_and(|r| r.starts_with("#/components/pathItems/"));
    if !into_components {
        return;
    }
    if let Some(target) = resolve(doc, item).target().cloned() {
        *item = target;
    }
}

fn convert_path_item(item: &mut Value) {
    let Value::Object(item) = item else {
        return;
    };
    if let Some(parameters) = item.get_mut("parameters").and_then(Value::as_array_mut) {
        parameters.iter_mut().for_each(convert_parameter);
    }
    for method in METHODS {
        if let Some(Value::Object(op)) = item.get_mut(method) {
            convert_operation(op);
        }
    }
}

fn convert_operation(op: &mut Map<String, Value>) {
    if let Some(parameters) = op.get_mut("parameters").and_then(Value::as_array_mut) {
        parameters.iter_mut().for_each(convert_parameter);
    }
    if let Some(body) = op.get_mut("requestBody") {
        convert_content(body);
    }
    let responses = op
        .entry("responses")
        .or_insert_with(|| json!({"default": {"description": "Default response"}}));
    values_mut(responses).for_each(convert_response);
    if let Some(callbacks) = op.get_mut("callbacks") {
        values_mut(callbacks).for_each(convert_callback);
    }
}

/// A callback: runtime expressions mapped to path items.
fn convert_callback(callback: &mut Value) {
    values_mut(callback).for_each(convert_path_item);
}

/// A parameter or a header: a `schema`, or a `content` map.
fn convert_parameter(parameter: &mut Value) {
    if let Some(schema) = parameter.get_mut("schema") {
        convert_schema(schema);
    }
    convert_content(parameter);
}

fn convert_response(response: &mut Value) {
    if let Some(headers) = response.get_mut("headers") {
        values_mut(headers).for_each(convert_parameter);
    }
    convert_content(response);
}

/// The `content` map of a request body, a response or a parameter.
fn convert_content(holder: &mut Value) {
    let Some(content) = holder.get_mut("content") else {
        return;
    };
    for media in values_mut(content) {
        if let Some(schema) = media.get_mut("schema") {
            convert_schema(schema);
        }
        if let Some(encodings) = media.get_mut("encoding") {
            for encoding in values_mut(encodings) {
                if let Some(headers) = encoding.get_mut("headers") {
                    values_mut(headers).for_each(convert_parameter);
                }
            }
        }
    }
}

/// Converts one schema and, first, every schema nested in it.
fn convert_schema(schema: &mut Value) {
    match schema {
        Value::Bool(true) => *schema = json!({}),
        Value::Bool(false) => *schema = json!({"not": {}}),
        Value::Object(map) => convert_schema_object(map),
        _ => {}
    }
}

fn convert_schema_object(map: &mut Map<String, Value>) {
    for key in UNSUPPORTED {
        map.remove(key);
    }
    prefix_items_to_items(map);
    // Before recursing, so that a collapsed branch is converted as part of this schema.
    drop_null_branches(map);

    for key in ["items", "not"] {
        if let Some(child) = map.get_mut(key) {
            convert_schema(child);
        }
    }
    if let Some(child @ Value::Object(_)) = map.get_mut("additionalProperties") {
        convert_schema(child);
    }
    if let Some(properties) = map.get_mut("properties") {
        values_mut(properties).for_each(convert_schema);
    }
    for key in ["allOf", "oneOf", "anyOf"] {
        if let Some(branches) = map.get_mut(key).and_then(Value::as_array_mut) {
            branches.iter_mut().for_each(convert_schema);
        }
    }

    if let Some(value) = map.remove("const") {
        map.entry("enum").or_insert_with(|| json!([value]));
    }
    if let Some(examples) = map.remove("examples")
        && let Some(first) = examples.as_array().and_then(|e| e.first())
    {
        map.entry("example").or_insert_with(|| first.clone());
    }
    exclusive_bounds(map);
    content_to_format(map);
    type_array(map);
    wrap_ref_with_siblings(map);
}

/// `prefixItems` becomes `items`: the prefix schema when they are all alike, else an `anyOf`
/// of the distinct schemas (an `items` schema for the remaining elements included).
fn prefix_items_to_items(map: &mut Map<String, Value>) {
    let Some(Value::Array(prefix)) = map.remove("prefixItems") else {
        return;
    };
    let mut candidates: Vec<Value> = Vec::new();
    let rest = map.remove("items").filter(Value::is_object);
    for schema in prefix.into_iter().chain(rest) {
        if !candidates.contains(&schema) {
            candidates.push(schema);
        }
    }
    match candidates.len() {
        0 => {}
        1 => {
            map.insert("items".to_owned(), candidates.remove(0));
        }
        _ => {
            map.insert("items".to_owned(), json!({"anyOf": candidates}));
        }
    }
}

fn is_null_type(schema: &Value) -> bool {
    match schema.get("type") {
        Some(Value::String(t)) => t == "null",
        Some(Value::Array(ts)) => !ts.is_empty() && ts.iter().all(|t| t == "null"),
        _ => false,
    }
}

/// Drops `{"type": "null"}` branches of `oneOf`/`anyOf` in favour of `nullable: true`.
fn drop_null_branches(map: &mut Map<String, Value>) {
    for key in ["oneOf", "anyOf"] {
        let Some(Value::Array(mut branches)) = map.remove(key) else {
            continue;
        };
        let before = branches.len();
        branches.retain(|branch| !is_null_type(branch));
        if branches.len() == before {
            map.insert(key.to_owned(), Value::Array(branches));
            continue;
        }
        map.insert("nullable".to_owned(), json!(true));
        match branches.len() {
            0 => {}
            1 => {
                let only = branches.remove(0);
                let mergeable = match &only {
                    Value::Object(branch) => {
                        !branch.contains_key("$ref")
                            && branch
                                .keys()
                                .all(|k| !map.contains_key(k) || k == "nullable")
                    }
                    _ => false,
                };
                if let (true, Value::Object(branch)) = (mergeable, &only) {
                    for (k, v) in branch {
                        if k != "nullable" {
                            map.insert(k.clone(), v.clone());
                        }
                    }
                } else {
                    push_all_of(map, only);
                }
            }
            _ => {
                map.insert(key.to_owned(), Value::Array(branches));
            }
        }
    }
}

fn push_all_of(map: &mut Map<String, Value>, schema: Value) {
    match map.get_mut("allOf") {
        Some(Value::Array(all_of)) => all_of.push(schema),
        _ => {
            map.insert("allOf".to_owned(), json!([schema]));
        }
    }
}

/// Numeric `exclusiveMinimum: n` becomes `minimum: n, exclusiveMinimum: true`, unless an
/// inclusive `minimum` is already tighter (likewise for the maximum).
fn exclusive_bounds(map: &mut Map<String, Value>) {
    for (exclusive, inclusive, lower) in [
        ("exclusiveMinimum", "minimum", true),
        ("exclusiveMaximum", "maximum", false),
    ] {
        let Some(limit) = map.get(exclusive).and_then(Value::as_f64) else {
            continue;
        };
        let Some(value) = map.remove(exclusive) else {
            continue;
        };
        let inclusive_is_tighter = map
            .get(inclusive)
            .and_then(Value::as_f64)
            .is_some_and(|bound| if lower { bound > limit } else { bound < limit });
        if !inclusive_is_tighter {
            map.insert(inclusive.to_owned(), value);
            map.insert(exclusive.to_owned(), json!(true));
        }
    }
}

/// `contentEncoding: base64` becomes `format: byte`; any other `contentMediaType` (binary
/// content) becomes `format: binary`.
fn content_to_format(map: &mut Map<String, Value>) {
    let encoding = map.remove("contentEncoding");
    let media_type = map.remove("contentMediaType");
    let format = if encoding.as_ref().and_then(Value::as_str) == Some("base64") {
        "byte"
    } else if media_type.is_some() {
        "binary"
    } else {
        return;
    };
    map.entry("format").or_insert_with(|| json!(format));
}

/// `type: [T, "null"]` becomes `type: T, nullable: true`; several non-null types become an
/// `anyOf` of typed schemas; `type: "null"` becomes `nullable: true, enum: [null]`.
fn type_array(map: &mut Map<String, Value>) {
    let types: Vec<Value> = match map.get("type") {
        Some(Value::Array(types)) => types.clone(),
        Some(Value::String(t)) if t == "null" => vec![json!("null")],
        _ => return,
    };
    map.remove("type");
    let mut others: Vec<Value> = Vec::new();
    for t in &types {
        if t != "null" && !others.contains(t) {
            others.push(t.clone());
        }
    }
    if others.len() < types.len() {
        map.insert("nullable".to_owned(), json!(true));
    }
    match others.len() {
        0 => {
            map.entry("enum").or_insert_with(|| json!([null]));
        }
        1 => {
            map.insert("type".to_owned(), others.remove(0));
        }
        _ => {
            let mut moved: Vec<&str> = Vec::new();
            let branches: Vec<Value> = others
                .into_iter()
                .map(|t| {
                    let mut branch = Map::new();
                    let keywords = TYPE_KEYWORDS
                        .iter()
                        .find(|(name, _)| t == *name)
                        .map_or(&[][..], |(_, keywords)| *keywords);
                    for keyword in keywords {
                        if let Some(value) = map.get(*keyword) {
                            branch.insert((*keyword).to_owned(), value.clone());
                            moved.push(*keyword);
                        }
                    }
                    branch.insert("type".to_owned(), t);
                    Value::Object(branch)
                })
                .collect();
            for keyword in moved {
                map.remove(keyword);
            }
            match map.remove("anyOf") {
                Some(existing) => {
                    push_all_of(map, json!({"anyOf": existing}));
                    push_all_of(map, json!({"anyOf": branches}));
                }
                None => {
                    map.insert("anyOf".to_owned(), Value::Array(branches));
                }
            }
        }
    }
}

/// 3.0 ignores everything beside a `$ref`: keep the reference in an `allOf` so that siblings
/// such as `nullable` still apply. Pure documentation beside it is left as it is.
fn wrap_ref_with_siblings(map: &mut Map<String, Value>) {
    if !map.contains_key("$ref")
        || map
            .keys()
            .all(|k| matches!(k.as_str(), "$ref" | "description" | "summary"))
    {
        return;
    }
    if let Some(reference) = map.remove("$ref") {
        push_all_of(map, json!({"$ref": reference}));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Converts `schema` as a component schema and returns it.
    fn schema_30(schema: Value) -> Value {
        let doc = json!({
            "openapi": "3.1.0",
            "info": {"title": "t", "version": "1"},
            "paths": {},
            "components": {"schemas": {"S": schema}},
        });
        to_openapi_30(&doc)["components"]["schemas"]["S"].take()
    }

    #[test]
    fn sets_the_version_and_drops_31_only_document_keys() {
        let doc = json!({
            "openapi": "3.1.0",
            "jsonSchemaDialect": "https://spec.openapis.org/oas/3.1/dialect/base",
            "info": {
                "title": "t",
                "summary": "short",
                "version": "1",
                "license": {"name": "MIT", "identifier": "MIT"},
            },
            "webhooks": {"ping": {"post": {"responses": {"200": {"description": "ok"}}}}},
        });
        assert_eq!(
            to_openapi_30(&doc),
            json!({
                "openapi": "3.0.3",
                "info": {
                    "title": "t",
                    "version": "1",
                    "license": {"name": "MIT", "url": "https://spdx.org/licenses/MIT.html"},
                },
                "paths": {},
            })
        );
    }

    #[test]
    fn license_expression_is_dropped_without_a_url() {
        let doc = json!({"info": {"license": {"name": "MIT OR Apache-2.0", "identifier": "MIT OR Apache-2.0"}}});
        assert_eq!(
            to_openapi_30(&doc)["info"]["license"],
            json!({"name": "MIT OR Apache-2.0"})
        );
    }

    #[test]
    fn license_url_is_kept_when_present() {
        let doc = json!({"info": {"license": {
            "name": "MIT", "identifier": "MIT", "url": "https://example.invalid/license",
        }}});
        assert_eq!(
            to_openapi_30(&doc)["info"]["license"],
            json!({"name": "MIT", "url": "https://example.invalid/license"})
        );
    }

    #[test]
    fn type_with_null_becomes_nullable() {
        assert_eq!(
            schema_30(json!({"type": ["string", "null"], "format": "date-time"})),
            json!({"type": "string", "format": "date-time", "nullable": true})
        );
        assert_eq!(
            schema_30(json!({"type": ["integer"]})),
            json!({"type": "integer"})
        );
    }

    #[test]
    fn null_type_alone_becomes_nullable_null_enum() {
        assert_eq!(
            schema_30(json!({"type": "null"})),
            json!({"nullable": true, "enum": [null]})
        );
    }

    #[test]
    fn several_types_become_any_of_with_their_keywords() {
        assert_eq!(
            schema_30(json!({
                "type": ["integer", "string", "null"],
                "minimum": 0,
                "maxLength": 8,
                "format": "int64",
                "description": "either",
            })),
            json!({
                "anyOf": [
                    {"type": "integer", "minimum": 0, "format": "int64"},
                    {"type": "string", "maxLength": 8, "format": "int64"},
                ],
                "nullable": true,
                "description": "either",
            })
        );
        assert_eq!(
            schema_30(json!({
                "type": ["array", "object"],
                "items": {"const": 1},
                "properties": {"a": {"type": ["string", "null"]}},
            })),
            json!({"anyOf": [
                {"type": "array", "items": {"enum": [1]}},
                {"type": "object", "properties": {"a": {"type": "string", "nullable": true}}},
            ]})
        );
    }

    #[test]
    fn type_array_beside_an_existing_any_of_is_combined_with_all_of() {
        assert_eq!(
            schema_30(
                json!({"type": ["string", "integer"], "anyOf": [{"minimum": 1}, {"minLength": 1}]})
            ),
            json!({"allOf": [
                {"anyOf": [{"minimum": 1}, {"minLength": 1}]},
                {"anyOf": [{"type": "string"}, {"type": "integer"}]},
            ]})
        );
    }

    #[test]
    fn one_of_null_and_ref_becomes_nullable_all_of() {
        assert_eq!(
            schema_30(json!({"oneOf": [{"type": "null"}, {"$ref": "#/components/schemas/User"}]})),
            json!({"allOf": [{"$ref": "#/components/schemas/User"}], "nullable": true})
        );
        assert_eq!(
            schema_30(json!({
                "anyOf": [{"type": "null"}, {"$ref": "#/components/schemas/User"}],
                "description": "The owner",
            })),
            json!({
                "allOf": [{"$ref": "#/components/schemas/User"}],
                "nullable": true,
                "description": "The owner",
            })
        );
    }

    #[test]
    fn any_of_null_and_inline_schema_is_collapsed() {
        assert_eq!(
            schema_30(json!({"anyOf": [{"type": "integer", "const": 3}, {"type": "null"}]})),
            json!({"type": "integer", "enum": [3], "nullable": true})
        );
        // A branch whose keys clash with the schema's stays a branch.
        assert_eq!(
            schema_30(
                json!({"description": "d", "oneOf": [{"type": "null"}, {"type": "string", "description": "e"}]})
            ),
            json!({"description": "d", "nullable": true, "allOf": [{"type": "string", "description": "e"}]})
        );
    }

    #[test]
    fn one_of_null_with_several_branches_keeps_the_others() {
        assert_eq!(
            schema_30(json!({"oneOf": [
                {"$ref": "#/components/schemas/Card"},
                {"type": "null"},
                {"$ref": "#/components/schemas/Bank"},
            ]})),
            json!({
                "oneOf": [{"$ref": "#/components/schemas/Card"}, {"$ref": "#/components/schemas/Bank"}],
                "nullable": true,
            })
        );
        assert_eq!(
            schema_30(json!({"anyOf": [{"type": "null"}]})),
            json!({"nullable": true})
        );
    }

    #[test]
    fn const_becomes_a_single_value_enum() {
        assert_eq!(
            schema_30(json!({"type": "string", "const": "standard"})),
            json!({"type": "string", "enum": ["standard"]})
        );
    }

    #[test]
    fn numeric_exclusive_bounds_become_boolean_flags() {
        assert_eq!(
            schema_30(json!({"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 10.5})),
            json!({
                "type": "number",
                "minimum": 0,
                "exclusiveMinimum": true,
                "maximum": 10.5,
                "exclusiveMaximum": true,
            })
        );
        // An inclusive bound that is already tighter wins.
        assert_eq!(
            schema_30(json!({"type": "integer", "minimum": 5, "exclusiveMinimum": 0})),
            json!({"type": "integer", "minimum": 5})
        );
        assert_eq!(
            schema_30(json!({"type": "integer", "minimum": 0, "exclusiveMinimum": 5})),
            json!({"type": "integer", "minimum": 5, "exclusiveMinimum": true})
        );
    }

    #[test]
    fn schema_examples_become_the_first_example() {
        assert_eq!(
            schema_30(json!({"type": "string", "examples": ["Apollo", "Gemini"]})),
            json!({"type": "string", "example": "Apollo"})
        );
        assert_eq!(
            schema_30(json!({"type": "string", "example": "kept", "examples": ["Apollo"]})),
            json!({"type": "string", "example": "kept"})
        );
    }

    #[test]
    fn content_keywords_become_formats() {
        assert_eq!(
            schema_30(json!({"type": "string", "contentMediaType": "application/octet-stream"})),
            json!({"type": "string", "format": "binary"})
        );
        assert_eq!(
            schema_30(
                json!({"type": "string", "contentEncoding": "base64", "contentMediaType": "image/png"})
            ),
            json!({"type": "string", "format": "byte"})
        );
        assert_eq!(
            schema_30(
                json!({"type": "string", "format": "binary", "contentMediaType": "image/png"})
            ),
            json!({"type": "string", "format": "binary"})
        );
    }

    #[test]
    fn json_schema_only_keywords_are_removed() {
        assert_eq!(
            schema_30(json!({
                "$schema": "https://json-schema.org/draft/2020-12/schema",
                "$id": "https://example.invalid/s",
                "$defs": {"X": {"type": "string"}},
                "$comment": "internal",
                "type": "object",
                "unevaluatedProperties": false,
                "patternProperties": {"^x-": {}},
                "propertyNames": {"pattern": "^[a-z]+$"},
                "dependentRequired": {"a": ["b"]},
                "if": {"required": ["a"]},
                "then": {"required": ["b"]},
            })),
            json!({"type": "object"})
        );
    }

    #[test]
    fn prefix_items_become_items() {
        assert_eq!(
            schema_30(
                json!({"type": "array", "prefixItems": [{"type": "number"}, {"type": "number"}]})
            ),
            json!({"type": "array", "items": {"type": "number"}})
        );
        assert_eq!(
            schema_30(json!({
                "type": "array",
                "prefixItems": [{"type": "string"}, {"type": ["integer", "null"]}],
                "items": false,
            })),
            json!({"type": "array", "items": {"anyOf": [
                {"type": "string"},
                {"type": "integer", "nullable": true},
            ]}})
        );
    }

    #[test]
    fn boolean_schemas_become_objects() {
        assert_eq!(
            schema_30(json!({"type": "object", "properties": {"any": true, "none": false}})),
            json!({"type": "object", "properties": {"any": {}, "none": {"not": {}}}})
        );
        // `additionalProperties` keeps its boolean form, which 3.0 allows.
        assert_eq!(
            schema_30(json!({"type": "object", "additionalProperties": false})),
            json!({"type": "object", "additionalProperties": false})
        );
    }

    #[test]
    fn ref_with_siblings_moves_into_all_of() {
        assert_eq!(
            schema_30(json!({"$ref": "#/components/schemas/User", "readOnly": true})),
            json!({"allOf": [{"$ref": "#/components/schemas/User"}], "readOnly": true})
        );
        assert_eq!(
            schema_30(json!({"$ref": "#/components/schemas/User", "description": "kept"})),
            json!({"$ref": "#/components/schemas/User", "description": "kept"})
        );
    }

    #[test]
    fn nested_schemas_are_converted() {
        let nullable = json!({"type": ["string", "null"]});
        let converted = json!({"type": "string", "nullable": true});
        let schema = schema_30(json!({
            "type": "object",
            "properties": {"a": {"type": "object", "properties": {"b": nullable}}},
            "additionalProperties": {"type": "array", "items": nullable},
            "allOf": [nullable],
            "oneOf": [nullable, {"type": "integer"}],
            "anyOf": [nullable, {"type": "boolean"}],
            "not": nullable,
        }));
        assert_eq!(schema["properties"]["a"]["properties"]["b"], converted);
        assert_eq!(schema["additionalProperties"]["items"], converted);
        assert_eq!(schema["allOf"][0], converted);
        assert_eq!(schema["oneOf"][0], converted);
        assert_eq!(schema["anyOf"][0], converted);
        assert_eq!(schema["not"], converted);
    }

    #[test]
    fn schemas_are_converted_wherever_they_appear() {
        let s = json!({"const": 1});
        let media = json!({"application/json": {"schema": s}});
        let doc = json!({
            "openapi": "3.1.0",
            "paths": {"/v1/x": {
                "parameters": [{"name": "a", "in": "query", "schema": s}],
                "post": {
                    "parameters": [{"name": "b", "in": "query", "content": media}],
                    "requestBody": {"content": {"multipart/form-data": {
                        "schema": s,
                        "encoding": {"file": {"headers": {"X-Part": {"schema": s}}}},
                    }}},
                    "responses": {"200": {
                        "description": "ok",
                        "headers": {"X-Rate": {"schema": s}},
                        "content": media,
                    }},
                    "callbacks": {"done": {"{$request.body#/url}": {"post": {
                        "requestBody": {"content": media},
                        "responses": {"204": {"description": "ok"}},
                    }}}},
                },
            }},
            "components": {
                "parameters": {"P": {"name": "p", "in": "query", "schema": s}},
                "headers": {"H": {"schema": s}},
                "requestBodies": {"B": {"content": media}},
                "responses": {"R": {"description": "r", "content": media}},
                "callbacks": {"C": {"{$url}": {"get": {"responses": {"200": {"description": "ok", "content": media}}}}}},
            },
        });
        let down = to_openapi_30(&doc);
        let converted = json!({"enum": [1]});
        let item = &down["paths"]["/v1/x"];
        let op = &item["post"];
        let c = &down["components"];
        for found in [
            &item["parameters"][0]["schema"],
            &op["parameters"][0]["content"]["application/json"]["schema"],
            &op["requestBody"]["content"]["multipart/form-data"]["schema"],
            &op["requestBody"]["content"]["multipart/form-data"]["encoding"]["file"]["headers"]["X-Part"]
                ["schema"],
            &op["responses"]["200"]["headers"]["X-Rate"]["schema"],
            &op["responses"]["200"]["content"]["application/json"]["schema"],
            &op["callbacks"]["done"]["{$request.body#/url}"]["post"]["requestBody"]["content"]["application/json"]
                ["schema"],
            &c["parameters"]["P"]["schema"],
            &c["headers"]["H"]["schema"],
            &c["requestBodies"]["B"]["content"]["application/json"]["schema"],
            &c["responses"]["R"]["content"]["application/json"]["schema"],
            &c["callbacks"]["C"]["{$url}"]["get"]["responses"]["200"]["content"]["application/json"]
                ["schema"],
        ] {
            assert_eq!(found, &converted);
        }
    }

    #[test]
    fn operation_without_responses_gets_a_default_response() {
        let doc = json!({"openapi": "3.1.0", "paths": {"/x": {"get": {"operationId": "x"}}}});
        assert_eq!(
            to_openapi_30(&doc)["paths"]["/x"]["get"],
            json!({"operationId": "x", "responses": {"default": {"description": "Default response"}}})
        );
    }

    #[test]
    fn path_items_from_components_are_inlined() {
        let doc = json!({
            "openapi": "3.1.0",
            "paths": {"/x": {"$ref": "#/components/pathItems/X"}},
            "components": {"pathItems": {"X": {"get": {"responses": {"200": {
                "description": "ok",
                "content": {"application/json": {"schema": {"type": ["string", "null"]}}},
            }}}}}},
        });
        let down = to_openapi_30(&doc);
        assert_eq!(down["components"], json!({}));
        assert_eq!(
            down["paths"]["/x"]["get"]["responses"]["200"]["content"]["application/json"]["schema"],
            json!({"type": "string", "nullable": true})
        );
    }

    #[test]
    fn chained_and_escaped_path_item_references_are_inlined() {
        let get = json!({"get": {"responses": {"200": {"description": "ok"}}}});
        let doc = json!({
            "openapi": "3.1.0",
            "paths": {
                "/a": {"$ref": "#/components/pathItems/A"},
                "/b": {"$ref": "#/components/pathItems/b~1c"},
                "/gone": {"$ref": "#/components/pathItems/Gone"},
                "/shared": {"$ref": "#/paths/~1a"},
            },
            "components": {"pathItems": {
                "A": {"$ref": "#/components/pathItems/b~1c"},
                "b/c": get,
            }},
        });
        let down = to_openapi_30(&doc);
        assert_eq!(down["paths"]["/a"], get);
        assert_eq!(down["paths"]["/b"], get);
        assert_eq!(
            down["paths"]["/gone"],
            json!({"$ref": "#/components/pathItems/Gone"})
        );
        assert_eq!(down["paths"]["/shared"], json!({"$ref": "#/paths/~1a"}));
    }

    #[test]
    fn non_object_documents_are_returned_unchanged() {
        assert_eq!(to_openapi_30(&json!([1, 2])), json!([1, 2]));
        assert_eq!(to_openapi_30(&Value::Null), Value::Null);
    }

    #[test]
    fn realistic_document_converts_to_30() {
        let doc: Value = serde_json::from_str(include_str!(
            "../../tests/openapi_diff/projects-openapi-3.1.json"
        ))
        .expect("the fixture is JSON");
        let down = to_openapi_30(&doc);
        // Converting twice changes nothing more.
        assert_eq!(to_openapi_30(&down), down);
        insta::with_settings!({
            snapshot_path => "../../tests/openapi_diff/snapshots",
            prepend_module_to_snapshot => false,
        }, {
            insta::assert_json_snapshot!("projects_openapi_3_0", down);
        });
    }
}
