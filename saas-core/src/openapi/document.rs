//! One OpenAPI 3.1 document per API version, assembled from the same declarations the router
//! uses: exactly the operations that live in the version, `deprecated: true` and `x-sunset`
//! where the version or the endpoint is deprecated, that version's schema shapes (through
//! version changes), bearer security from the resolvers, and problem+json error responses.

use serde_json::{Map, Value, json};

use crate::versioning::changes::Changes;
use crate::versioning::headers::iso_date;
use crate::versioning::{Api, ApiVersion, EndpointEntry, Negotiation, VersionChange};

pub use crate::versioning::DocsConfig;

const SCHEMA_PREFIX: &str = "#/components/schemas/";

/// Every schema the endpoints refer to, in the current (newest) shapes, as JSON.
pub fn current_components(api: &Api) -> Map<String, Value> {
    let mut schemas = Vec::new();
    for entry in &api.endpoints {
        (entry.schemas)(&mut schemas);
    }
    let mut out = Map::new();
    for (name, schema) in schemas {
        out.insert(name, serde_json::to_value(schema).unwrap_or(Value::Null));
    }
    out.insert("Problem".into(), problem_schema());
    out
}

fn problem_schema() -> Value {
    json!({
        "type": "object",
        "description": "An RFC 9457 problem document.",
        "required": ["type", "title", "status", "detail"],
        "properties": {
            "type": {"type": "string", "description": "A URI reference naming the problem type."},
            "title": {"type": "string"},
            "status": {"type": "integer", "format": "int32"},
            "detail": {"type": "string"}
        }
    })
}

fn problem_response(description: &str) -> Value {
    json!({
        "description": description,
        "content": {"application/problem+json": {"schema": {"$ref": format!("{SCHEMA_PREFIX}Problem")}}}
    })
}

/// Rewrites `$ref`s in `value` with `rename` (which returns the new name, if any).
fn rename_refs(value: &mut Value, rename: &dyn Fn(&str) -> Option<String>) {
    match value {
        Value::Object(object) => {
            if let Some(Value::String(reference)) = object.get_mut("$ref")
                && let Some(name) = reference.strip_prefix(SCHEMA_PREFIX)
                && let Some(new) = rename(name)
            {
                *reference = format!("{SCHEMA_PREFIX}{new}");
            }
            for (_, child) in object.iter_mut() {
                rename_refs(child, rename);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|v| rename_refs(v, rename)),
        _ => {}
    }
}

/// The older name a schema has for clients of `version`, following chains of changes.
fn shape_for(changes: &Changes, name: &str, version: ApiVersion) -> Option<String> {
    let mut current: Option<String> = None;
    for _ in 0..16 {
        let name_now = current.as_deref().unwrap_or(name);
        let next = changes
            .response_change(name_now, version)
            .map(|c| (c.output)().0)
            .or_else(|| {
                changes
                    .request_change_into(name_now, version)
                    .map(|c| (c.input)().0)
            });
        match next {
            Some(n) if Some(&n) != current.as_ref() => current = Some(n),
            _ => break,
        }
    }
    current
}

/// The registered changes that no endpoint of `api` can apply: for a response change, no
/// endpoint living in a version it converts to returns (directly or nested) the schema it
/// converts; for a request change, none takes it. Such a change is a mistake (most often a
/// handler whose `responses(..)` lost its `body`): its clients would get the current shape.
pub fn unused_changes(api: &Api, changes: &Changes) -> Vec<&'static VersionChange> {
    let all = components_with_changes(api, changes);
    let mut used: Vec<&'static VersionChange> = Vec::new();
    let is_used = |used: &[&'static VersionChange], c: &VersionChange| {
        used.iter().any(|u| std::ptr::eq(*u, c))
    };
    for version in api.versions.iter().map(|v| v.version) {
        let mut queue = Vec::new();
        for entry in api.endpoints.iter().filter(|e| e.decl.lives_in(&version)) {
            let op = serde_json::to_value((entry.operation)()).unwrap_or(Value::Null);
            collect_refs(&op, &mut queue);
        }
        let reached = reachable(queue, &all);
        for name in &reached {
            type Step = fn(&Changes, &str, ApiVersion) -> Option<&'static VersionChange>;
            let steps: [(Step, bool); 2] = [
                (|c, n, v| c.response_change(n, v), true),
                (|c, n, v| c.request_change_into(n, v), false),
            ];
            for (step, forward) in steps {
                let mut current = name.clone();
                for _ in 0..16 {
                    let Some(change) = step(changes, &current, version) else {
                        break;
                    };
                    if is_used(&used, change) {
                        break;
                    }
                    used.push(change);
                    current = if forward {
                        (change.output)().0
                    } else {
                        (change.input)().0
                    };
                }
            }
        }
    }
    changes
        .all()
        .iter()
        .copied()
        .filter(|c| !is_used(&used, c))
        .collect()
}

/// Every current schema, and the schemas of every version change (the older shapes).
fn components_with_changes(api: &Api, changes: &Changes) -> Map<String, Value> {
    let mut all = current_components(api);
    for change in changes.all() {
        for (name, schema) in [(change.input)(), (change.output)()] {
            all.entry(name)
                .or_insert_with(|| serde_json::to_value(schema).unwrap_or(Value::Null));
        }
    }
    all
}

/// The schema names reached from `queue`, following `$ref`s through `all`.
fn reachable(mut queue: Vec<String>, all: &Map<String, Value>) -> Vec<String> {
    let mut reached: Vec<String> = Vec::new();
    while let Some(name) = queue.pop() {
        if reached.contains(&name) {
            continue;
        }
        if let Some(schema) = all.get(&name) {
            collect_refs(schema, &mut queue);
        }
        reached.push(name);
    }
    reached
}

fn collect_refs(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Object(object) => {
            if let Some(name) = object
                .get("$ref")
                .and_then(Value::as_str)
                .and_then(|r| r.strip_prefix(SCHEMA_PREFIX))
            {
                out.push(name.to_string());
            }
            object.values().for_each(|v| collect_refs(v, out));
        }
        Value::Array(items) => items.iter().for_each(|v| collect_refs(v, out)),
        _ => {}
    }
}

fn operation_for(
    entry: &EndpointEntry,
    api: &Api,
    version: ApiVersion,
    negotiation: &Negotiation,
    settings: &DocsConfig,
) -> Value {
    let mut op = serde_json::to_value((entry.operation)()).unwrap_or_else(|_| json!({}));
    let decl = entry.decl;
    let version_decl = api.versions.find(&version);
    let deprecated = decl.deprecated.or(version_decl.and_then(|v| v.deprecated));
    let sunset = decl.sunset.or(version_decl.and_then(|v| v.sunset));
    let object = op
        .as_object_mut()
        .expect("an operation serializes to an object");
    if deprecated.is_some() {
        object.insert("deprecated".into(), Value::Bool(true));
    }
    if let Some(sunset) = sunset {
        object.insert("x-sunset".into(), Value::String(iso_date(sunset)));
    }
    if settings.bearer && !object.contains_key("security") {
        object.insert("security".into(), json!([{"bearer": []}]));
    }
    // A 422 comes from a body or query string of the wrong shape (or a handler's rule about
    // them); a malformed path parameter is a 404 and the version header is negotiated, so
    // neither makes an operation able to answer 422.
    let has_input = object.contains_key("requestBody")
        || object
            .get("parameters")
            .and_then(Value::as_array)
            .is_some_and(|p| p.iter().any(|p| p["in"] == "query"));
    if let Negotiation::Header { name, .. } = negotiation {
        let params = object.entry("parameters").or_insert_with(|| json!([]));
        if let Some(params) = params.as_array_mut() {
            params.push(json!({
                "name": name.as_str(),
                "in": "header",
                "required": false,
                "description": "The API version; the default version when absent.",
                "schema": {"type": "string", "enum": [version.to_string()]}
            }));
        }
    }
    // Validators (the HTTP cache and conditional-write layers): a GET may be revalidated
    // with `If-None-Match`, a write made conditional with `If-Match`.
    let method = decl.method.to_ascii_lowercase();
    let validator = match method.as_str() {
        "get" => Some((
            "If-None-Match",
            "The `ETag` of the representation the client holds: `304 Not Modified` while it \
             is current.",
        )),
        "put" | "patch" | "delete" if decl.require_if_match => Some((
            "If-Match",
            "The `ETag` of the representation the change is based on: `412 Precondition \
             Failed` if the resource changed since, `428 Precondition Required` without it.",
        )),
        "put" | "patch" | "delete" => Some((
            "If-Match",
            "The `ETag` of the representation the change is based on: `412 Precondition \
             Failed` if the resource changed since.",
        )),
        _ => None,
    };
    if let Some((name, description)) = validator {
        let params = object.entry("parameters").or_insert_with(|| json!([]));
        if let Some(params) = params.as_array_mut() {
            params.push(json!({
                "name": name,
                "in": "header",
                "required": decl.require_if_match,
                "description": description,
                "schema": {"type": "string"}
            }));
        }
    }
    let responses = object.entry("responses").or_insert_with(|| json!({}));
    if let Some(responses) = responses.as_object_mut() {
        match method.as_str() {
            "get" => {
                responses.entry("304").or_insert_with(|| {
                    json!({"description": "Not Modified: the representation named by \
                        If-None-Match is current."})
                });
            }
            "put" | "patch" | "delete" => {
                responses.entry("412").or_insert_with(|| {
                    problem_response("The resource changed since the ETag given in If-Match.")
                });
                if decl.require_if_match {
                    responses.entry("428").or_insert_with(|| {
                        problem_response("If-Match is required to change this resource.")
                    });
                }
            }
            _ => {}
        }
        if settings.bearer {
            responses.entry("401").or_insert_with(|| {
                problem_response("Missing, malformed, expired or forged credentials.")
            });
        }
        if decl.path.contains('{') {
            responses
                .entry("404")
                .or_insert_with(|| problem_response("No such resource for this tenant."));
        }
        if has_input {
            responses
                .entry("422")
                .or_insert_with(|| problem_response("The input breaks a rule."));
        }
        responses
            .entry("default")
            .or_insert_with(|| problem_response("Any other error, as a problem document."));
        // OpenAPI requires a description on every response.
        for (code, response) in responses.iter_mut() {
            if let Some(response) = response.as_object_mut() {
                let missing = response
                    .get("description")
                    .and_then(Value::as_str)
                    .is_none_or(str::is_empty);
                if missing {
                    let reason = code
                        .parse::<u16>()
                        .ok()
                        .and_then(|c| http::StatusCode::from_u16(c).ok())
                        .and_then(|c| c.canonical_reason())
                        .unwrap_or("Response");
                    response.insert("description".into(), Value::String(reason.to_string()));
                }
            }
        }
    }
    op
}

/// The document of one version.
pub fn document(
    api: &Api,
    version: ApiVersion,
    negotiation: &Negotiation,
    changes: &Changes,
    settings: &DocsConfig,
) -> Value {
    let mut paths = Map::new();
    for entry in &api.endpoints {
        if !entry.decl.lives_in(&version) {
            continue;
        }
        let key = match negotiation {
            Negotiation::PathPrefix => format!("/{}{}", version.path_segment(), entry.decl.path),
            Negotiation::Header { .. } => entry.decl.path.to_string(),
        };
        let op = operation_for(entry, api, version, negotiation, settings);
        let item = paths.entry(key).or_insert_with(|| json!({}));
        if let Some(item) = item.as_object_mut() {
            item.insert(entry.decl.method.to_ascii_lowercase(), op);
        }
    }
    let mut all = components_with_changes(api, changes);
    let rename = |name: &str| shape_for(changes, name, version);
    let mut paths = Value::Object(paths);
    rename_refs(&mut paths, &rename);
    for schema in all.values_mut() {
        rename_refs(schema, &rename);
    }
    // Keep only the schemas this version's operations reach.
    let mut queue = Vec::new();
    collect_refs(&paths, &mut queue);
    let mut reached = reachable(queue, &all);
    reached.sort();
    let mut schemas = Map::new();
    for name in reached {
        if let Some(schema) = all.get(&name) {
            schemas.insert(name, schema.clone());
        }
    }
    let mut components = json!({"schemas": schemas});
    if settings.bearer {
        components["securitySchemes"] = json!({
            "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT",
                       "description": "A tenant token: its `tenant_id` claim selects the tenant."}
        });
    }
    let mut info = json!({"title": settings.title, "version": version.to_string()});
    if let Some(description) = &settings.description {
        info["description"] = Value::String(description.clone());
    }
    if let Some(decl) = api.versions.find(&version)
        && let Some(deprecated) = decl.deprecated
    {
        info["x-deprecated-since"] = Value::String(iso_date(deprecated));
        if let Some(sunset) = decl.sunset {
            info["x-sunset"] = Value::String(iso_date(sunset));
        }
    }
    json!({
        "openapi": "3.1.0",
        "info": info,
        "paths": paths,
        "components": components,
    })
}
