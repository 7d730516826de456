//! Schema comparison: a schema's references, `allOf` and nullability are folded into a view, and
//! the old and new views are compared keyword by keyword, then property by property.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use super::walk::Ctx;
use super::{MAX_DEPTH, Severity, is_doc_key, is_true};
use crate::openapi::refs::resolve;

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

/// Which way data flows through a schema, which decides whether a change is breaking.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Direction {
    /// Clients send it: the server must keep accepting what it accepted.
    Request,
    /// Clients receive it: the server must not send what clients did not expect.
    Response,
}

impl Direction {
    /// The severity of a change that makes the schema accept less (`narrowed`) or more.
    pub(super) fn severity(self, narrowed: bool) -> Severity {
        match (self, narrowed) {
            (Direction::Request, true) | (Direction::Response, false) => Severity::Breaking,
            _ => Severity::Additive,
        }
    }
}

impl<'a> Ctx<'a> {
    pub(super) fn compare_schema(
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
                schema.is_none_or(|schema| !is_true(resolve(doc, schema).value().get(one_way)))
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
        let resolved = resolve(doc, schema);
        self.refs.extend(resolved.references());
        if resolved.unresolved().is_some() {
            // A reference that leads nowhere is compared by its text, so that pointing it
            // elsewhere is still a change.
            self.other.insert("$ref", &resolved.value()["$ref"]);
        }
        // The target first, then outwards: keywords beside a `$ref` are read after what it
        // refers to, so theirs win where both say something (`format`, `enum`).
        for (hop, &value) in resolved.hops().iter().enumerate().rev() {
            self.absorb_keywords(doc, value, depth + hop);
        }
    }

    /// The keywords of one object of the chain; its `$ref` was followed by [`View::absorb`].
    fn absorb_keywords(&mut self, doc: &'a Value, schema: &'a Value, depth: usize) {
        let map = match schema {
            Value::Object(map) => map,
            Value::Bool(false) => {
                self.types = Some(BTreeSet::new());
                return;
            }
            _ => return,
        };
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

fn is_null_schema(doc: &Value, schema: &Value) -> bool {
    let schema = resolve(doc, schema).value();
    match schema.get("type") {
        Some(Value::String(t)) => t == "null",
        Some(Value::Array(ts)) => ts.iter().all(|t| t == "null"),
        _ => false,
    }
}

fn list_values(values: &[&Value]) -> String {
    let shown: Vec<String> = values.iter().map(|v| v.to_string()).collect();
    let noun = if values.len() == 1 { "value" } else { "values" };
    format!("{noun} {}", shown.join(", "))
}
