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
//! responses and headers, as [`refs`](super::refs) resolves them; a schema reference it cannot
//! follow (missing, external, or part of a loop of references) is compared by its `$ref` text. A
//! schema that refers to itself through its properties is compared once per cycle. `allOf`
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

mod policy;
mod report;
mod schema;
mod walk;

use std::collections::BTreeSet;

use serde_json::{Map, Value};

pub use policy::removal_policy;
pub use report::{Change, Severity, breaking, render};

use walk::Ctx;

/// The HTTP methods an OpenAPI path item can hold, in the order they are compared.
const METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "patch", "head", "options", "trace",
];

/// How deep schemas and `allOf` merges are followed before giving up (`$ref` chains are
/// bounded by [`refs::MAX_HOPS`](super::refs::MAX_HOPS)).
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

fn operation_location(method: &str, path: &str) -> String {
    format!("{} {path}", method.to_ascii_uppercase())
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
    fn unresolvable_references_are_compared_by_their_text() {
        let looped = json!({"A": {"$ref": "#/components/schemas/B"}, "B": {"$ref": "#/components/schemas/A"}});
        let pointing = |reference: &str| {
            with_schemas(get_returning(json!({"$ref": reference})), looped.clone())
        };
        let missing = pointing("#/components/schemas/Gone");
        assert_eq!(compare(&missing, &missing), []);
        let changed = compare(&missing, &pointing("#/components/schemas/Lost"));
        assert_eq!(changed, [Change::new(A, BODY, "`$ref` changed")]);
        // A loop ends at the reference that closes it, whichever way round it is entered.
        let changed = compare(
            &pointing("#/components/schemas/A"),
            &pointing("#/components/schemas/B"),
        );
        assert_eq!(changed, [Change::new(A, BODY, "`$ref` changed")]);
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
