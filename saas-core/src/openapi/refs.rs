//! `$ref` resolution within one OpenAPI document.
//!
//! The breaking-change detector ([`diff`](super::diff)), the 3.0 down-conversion
//! ([`downgrade`](super::downgrade)) and the testkit's isolation check all need to know what a
//! reference points at. They follow references only through [`resolve`], so that a chain, a
//! loop or a dangling reference means the same thing to each of them.
//!
//! # Behaviour
//!
//! [`resolve`] takes a value of the document (a schema, a parameter, a response, a path item…)
//! and, while the value is an object whose `"$ref"` is a string, replaces it by the reference's
//! target:
//!
//! - Only **local** references are followed: `#` and then a JSON pointer (RFC 6901) into the
//!   same document, such as `#/components/schemas/Project`. In a segment, `~1` stands for `/`
//!   and `~0` for `~` (`#/paths/~1v1~1projects` is the path item of `/v1/projects`). `#` alone
//!   is the whole document. Percent-escapes are not decoded.
//! - Chains are followed to their end: a reference to a reference to a schema resolves to the
//!   schema, following at most [`MAX_HOPS`] references.
//! - It never fails. When the chain cannot be followed to a value that is not a reference, it
//!   stops at the last reference object it reached and says why ([`Unresolved`]): the
//!   reference is external (left alone: no other document is read), its target is missing, the
//!   chain comes back to a value it already passed through (a cycle), or it is longer than
//!   [`MAX_HOPS`]. Callers that treat the unresolved reference as an opaque value use
//!   [`Resolved::value`]; callers that need a target use [`Resolved::target`].
//! - A value that is not a reference resolves to itself.
//! - Keywords beside a `$ref` (which OpenAPI 3.1 allows) are not merged into the target:
//!   [`Resolved::hops`] lists every object passed through for callers that read them.
//!
//! ```
//! use saas_core::openapi::refs::{Unresolved, resolve};
//! use serde_json::json;
//!
//! let doc = json!({"components": {"schemas": {
//!     "Id": {"type": "string", "format": "uuid"},
//!     "ProjectId": {"$ref": "#/components/schemas/Id"},
//!     "Loop": {"$ref": "#/components/schemas/Loop"},
//! }}});
//!
//! let chained = resolve(&doc, &doc["components"]["schemas"]["ProjectId"]);
//! assert_eq!(chained.target(), Some(&json!({"type": "string", "format": "uuid"})));
//! assert_eq!(chained.references().collect::<Vec<_>>(), ["#/components/schemas/Id"]);
//!
//! let missing = json!({"$ref": "#/components/schemas/Nope"});
//! let dangling = resolve(&doc, &missing);
//! assert_eq!(dangling.target(), None);
//! assert_eq!(dangling.unresolved(), Some(Unresolved::Missing));
//! assert_eq!(dangling.value(), &missing);
//!
//! let looped = resolve(&doc, &doc["components"]["schemas"]["Loop"]);
//! assert_eq!(looped.unresolved(), Some(Unresolved::Cycle));
//! ```

use std::ptr;

use serde_json::Value;

/// The most references [`resolve`] follows in one chain.
///
/// Cycles are detected on their own; the bound keeps a pathological document (thousands of
/// references in a row) from costing quadratic time. Generated documents refer once, from a
/// use to a component.
pub const MAX_HOPS: usize = 64;

/// Why [`resolve`] stopped at a reference instead of reaching a value that is not one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unresolved {
    /// The reference is not local (`other.json#/Project`, `https://…`): it is left alone.
    External,
    /// Nothing in the document is at the pointer, or the fragment is not a JSON pointer (such as
    /// the anchor `#Project`).
    Missing,
    /// The target is a value that the chain already passed through.
    Cycle,
    /// Following the reference would exceed [`MAX_HOPS`].
    TooLong,
}

/// Where following a value's `$ref` chain ended: see [`resolve`].
#[derive(Debug, Clone, PartialEq)]
pub struct Resolved<'a> {
    /// The value given, then each target in turn; never empty.
    hops: Vec<&'a Value>,
    unresolved: Option<Unresolved>,
}

impl<'a> Resolved<'a> {
    /// Where the chain ended: the target when it was reached, else the reference object that
    /// could not be followed. The value given when it is not a reference.
    pub fn value(&self) -> &'a Value {
        self.hops[self.hops.len() - 1]
    }

    /// The value that is not a reference at the end of the chain, or `None` when the chain
    /// stopped at a reference (see [`Resolved::unresolved`]).
    pub fn target(&self) -> Option<&'a Value> {
        self.unresolved.is_none().then(|| self.value())
    }

    /// Why the chain stopped at a reference; `None` when it reached a value that is not one.
    pub fn unresolved(&self) -> Option<Unresolved> {
        self.unresolved
    }

    /// Every value passed through: the one given first, [`Resolved::value`] last. Each but the
    /// last is an object whose `$ref` was followed.
    pub fn hops(&self) -> &[&'a Value] {
        &self.hops
    }

    /// The `$ref` strings followed, in order; empty when the value given was not a reference
    /// or its reference could not be followed.
    pub fn references(&self) -> impl Iterator<Item = &'a str> + '_ {
        self.hops[..self.hops.len() - 1]
            .iter()
            .filter_map(|hop| reference(hop))
    }
}

/// Follows `value`'s `$ref` chain within `document` (see the [module documentation](self) for
/// the rules).
pub fn resolve<'a>(document: &'a Value, value: &'a Value) -> Resolved<'a> {
    let mut hops = vec![value];
    let unresolved = loop {
        let Some(reference) = reference(hops[hops.len() - 1]) else {
            break None;
        };
        let target = match follow(document, reference) {
            Ok(target) => target,
            Err(why) => break Some(why),
        };
        if hops.iter().any(|seen| ptr::eq(*seen, target)) {
            break Some(Unresolved::Cycle);
        }
        if hops.len() > MAX_HOPS {
            break Some(Unresolved::TooLong);
        }
        hops.push(target);
    };
    Resolved { hops, unresolved }
}

/// The `$ref` of a reference object.
fn reference(value: &Value) -> Option<&str> {
    value.get("$ref").and_then(Value::as_str)
}

/// One hop: the target of a reference.
fn follow<'a>(document: &'a Value, reference: &str) -> Result<&'a Value, Unresolved> {
    let pointer = reference.strip_prefix('#').ok_or(Unresolved::External)?;
    // `Value::pointer` unescapes `~1` and `~0`, and answers `None` for a fragment that does not
    // start with `/`.
    document.pointer(pointer).ok_or(Unresolved::Missing)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn schemas(schemas: Value) -> Value {
        json!({"components": {"schemas": schemas}})
    }

    fn to(name: &str) -> Value {
        json!({"$ref": format!("#/components/schemas/{name}")})
    }

    #[test]
    fn a_direct_reference_resolves_to_its_target() {
        let doc = schemas(json!({"Project": {"type": "object"}}));
        let reference = to("Project");
        let resolved = resolve(&doc, &reference);
        assert_eq!(resolved.target(), Some(&json!({"type": "object"})));
        assert_eq!(resolved.value(), &json!({"type": "object"}));
        assert_eq!(resolved.unresolved(), None);
        assert_eq!(
            resolved.references().collect::<Vec<_>>(),
            ["#/components/schemas/Project"]
        );
        assert_eq!(resolved.hops().len(), 2);
    }

    #[test]
    fn chains_are_followed_to_their_end() {
        let doc = schemas(json!({
            "A": {"$ref": "#/components/schemas/B", "description": "beside the ref"},
            "B": {"$ref": "#/components/schemas/C"},
            "C": {"type": "string"},
        }));
        let reference = to("A");
        let resolved = resolve(&doc, &reference);
        assert_eq!(resolved.target(), Some(&json!({"type": "string"})));
        assert_eq!(
            resolved.references().collect::<Vec<_>>(),
            [
                "#/components/schemas/A",
                "#/components/schemas/B",
                "#/components/schemas/C"
            ]
        );
        // The sibling keyword is not merged, but its hop is there to read.
        assert_eq!(resolved.hops()[1]["description"], "beside the ref");
    }

    #[test]
    fn a_cycle_stops_at_the_reference_that_closes_it() {
        let doc = schemas(json!({
            "A": {"$ref": "#/components/schemas/B"},
            "B": {"$ref": "#/components/schemas/A"},
            "Self": {"$ref": "#/components/schemas/Self"},
        }));
        let reference = to("A");
        let resolved = resolve(&doc, &reference);
        assert_eq!(resolved.unresolved(), Some(Unresolved::Cycle));
        assert_eq!(resolved.target(), None);
        assert_eq!(resolved.value(), &to("A"));
        assert_eq!(resolved.value(), &doc["components"]["schemas"]["B"]);
        assert_eq!(
            resolved.references().collect::<Vec<_>>(),
            ["#/components/schemas/A", "#/components/schemas/B"]
        );

        let own = resolve(&doc, &doc["components"]["schemas"]["Self"]);
        assert_eq!(own.unresolved(), Some(Unresolved::Cycle));
        assert_eq!(own.hops().len(), 1);
    }

    #[test]
    fn a_missing_target_leaves_the_reference() {
        let doc = schemas(json!({"A": {"$ref": "#/components/schemas/Gone"}}));
        let dangling = to("Gone");
        let resolved = resolve(&doc, &dangling);
        assert_eq!(resolved.unresolved(), Some(Unresolved::Missing));
        assert_eq!(resolved.target(), None);
        assert!(ptr::eq(resolved.value(), &dangling));

        // The same at the end of a chain: the last reference reached is kept.
        let reference = to("A");
        let resolved = resolve(&doc, &reference);
        assert_eq!(resolved.unresolved(), Some(Unresolved::Missing));
        assert!(ptr::eq(
            resolved.value(),
            &doc["components"]["schemas"]["A"]
        ));

        for not_a_pointer in ["#A", "#components/schemas/A"] {
            let reference = json!({"$ref": not_a_pointer});
            let resolved = resolve(&doc, &reference);
            assert_eq!(resolved.unresolved(), Some(Unresolved::Missing));
        }
    }

    #[test]
    fn escaped_segments_are_unescaped() {
        let doc = json!({
            "paths": {"/v1/projects": {"get": {}}},
            "components": {"schemas": {"a~b": {"type": "integer"}, "a/b": {"type": "string"}}},
        });
        let target = |reference: &str| {
            let reference = json!({"$ref": reference});
            resolve(&doc, &reference).target().cloned()
        };
        assert_eq!(target("#/paths/~1v1~1projects"), Some(json!({"get": {}})));
        assert_eq!(
            target("#/components/schemas/a~0b"),
            Some(json!({"type": "integer"}))
        );
        assert_eq!(
            target("#/components/schemas/a~1b"),
            Some(json!({"type": "string"}))
        );
        // `~01` is the text `~1`, not `/`: each escape is undone once.
        assert_eq!(target("#/components/schemas/a~01b"), None);
    }

    #[test]
    fn values_that_are_not_local_references_pass_through() {
        let doc = schemas(json!({"A": {"type": "string"}}));
        for value in [
            json!({"type": "string"}),
            json!({"$ref": 7}),
            json!(null),
            json!(false),
            json!([{"$ref": "#/components/schemas/A"}]),
        ] {
            let resolved = resolve(&doc, &value);
            assert!(ptr::eq(resolved.value(), &value), "{value}");
            assert_eq!(resolved.target(), Some(&value));
            assert_eq!(resolved.references().count(), 0);
        }
        for external in [
            "other.json#/components/schemas/A",
            "https://example.com/openapi.json#/components/schemas/A",
        ] {
            let value = json!({"$ref": external});
            let resolved = resolve(&doc, &value);
            assert_eq!(resolved.unresolved(), Some(Unresolved::External));
            assert!(ptr::eq(resolved.value(), &value));
        }
        let whole = json!({"$ref": "#"});
        assert_eq!(resolve(&doc, &whole).target(), Some(&doc));
    }

    #[test]
    fn chains_longer_than_the_limit_stop_there() {
        let mut all = serde_json::Map::new();
        for i in 0..=MAX_HOPS {
            all.insert(format!("S{i}"), to(&format!("S{}", i + 1)));
        }
        all.insert(format!("S{}", MAX_HOPS + 1), json!({"type": "string"}));
        let doc = schemas(Value::Object(all));
        let at_limit = resolve(&doc, &doc["components"]["schemas"]["S1"]);
        assert_eq!(at_limit.target(), Some(&json!({"type": "string"})));
        assert_eq!(at_limit.references().count(), MAX_HOPS);
        let beyond = resolve(&doc, &doc["components"]["schemas"]["S0"]);
        assert_eq!(beyond.unresolved(), Some(Unresolved::TooLong));
        assert_eq!(beyond.references().count(), MAX_HOPS);
    }
}
