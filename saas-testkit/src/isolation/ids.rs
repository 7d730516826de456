//! The ids each tenant got back, by kind.

use std::collections::HashMap;

use serde_json::Value;
use uuid::Uuid;

use super::MAX_FILLS;

/// Ids a tenant got back from its creations, in the order seen, by kind.
#[derive(Debug, Clone, Default)]
pub(super) struct Ids {
    pub(super) all: Vec<Uuid>,
    /// Kind (`project`) -> ids of that kind.
    pub(super) by_kind: HashMap<String, Vec<Uuid>>,
}

impl Ids {
    pub(super) fn is_empty(&self) -> bool {
        self.all.is_empty()
    }

    pub(super) fn contains(&self, id: &Uuid) -> bool {
        self.all.contains(id)
    }

    pub(super) fn add(&mut self, kind: &str, id: Uuid) {
        if !self.all.contains(&id) {
            self.all.push(id);
        }
        if !kind.is_empty() {
            let ids = self.by_kind.entry(kind.to_string()).or_default();
            if !ids.contains(&id) {
                ids.push(id);
            }
        }
    }

    /// Records the ids of a creation's response: the top-level `id` is of `kind` (the
    /// collection created in); `project_id` and the like are of their own kind.
    pub(super) fn record(&mut self, kind: &str, body: &Value) {
        for (key, id, depth) in ids_in(body) {
            let id_kind = match id_key_stem(&key) {
                Some(stem) if !stem.is_empty() => stem,
                _ if depth == 0 => kind.to_string(),
                _ => String::new(),
            };
            self.add(&id_kind, id);
        }
    }

    /// Ids of `kind` first, then the others.
    pub(super) fn candidates(&self, kind: &str) -> Vec<Uuid> {
        let mut out: Vec<Uuid> = self.by_kind.get(kind).cloned().unwrap_or_default();
        for id in &self.all {
            if !out.contains(id) {
                out.push(*id);
            }
        }
        out
    }

    /// Which of these ids appear in a body (case-insensitively, hyphenated or simple).
    pub(super) fn found_in(&self, body: &[u8]) -> Vec<Uuid> {
        let text = String::from_utf8_lossy(body).to_ascii_lowercase();
        self.all
            .iter()
            .filter(|id| {
                text.contains(&id.hyphenated().to_string())
                    || text.contains(&id.simple().to_string())
            })
            .copied()
            .collect()
    }
}

/// `(key, id, depth)` of every UUID under an id-like key; depth 0 is the top-level object.
pub(super) fn ids_in(body: &Value) -> Vec<(String, Uuid, usize)> {
    fn walk(value: &Value, depth: usize, out: &mut Vec<(String, Uuid, usize)>) {
        match value {
            Value::Object(map) => {
                for (key, value) in map {
                    if let Value::String(text) = value
                        && id_key_stem(key).is_some()
                        && let Ok(id) = Uuid::parse_str(text)
                    {
                        out.push((key.clone(), id, depth));
                    } else {
                        walk(value, depth + 1, out);
                    }
                }
            }
            Value::Array(items) => items.iter().for_each(|v| walk(v, depth + 1, out)),
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(body, 0, &mut out);
    out
}

/// `Some(kind)` for an id-like key: `id`/`uuid` -> `""`, `project_id`/`projectId` -> `project`.
pub(super) fn id_key_stem(key: &str) -> Option<String> {
    if key.eq_ignore_ascii_case("id") || key.eq_ignore_ascii_case("uuid") {
        return Some(String::new());
    }
    key.strip_suffix("_id")
        .or_else(|| key.strip_suffix("Id"))
        .or_else(|| key.strip_suffix("_uuid"))
        .map(|stem| stem.to_ascii_lowercase())
}

pub(super) fn singular(word: &str) -> String {
    let word = word.to_ascii_lowercase();
    if let Some(stem) = word.strip_suffix("ies") {
        format!("{stem}y")
    } else if word.ends_with("ss") {
        word
    } else {
        word.strip_suffix('s').map(str::to_string).unwrap_or(word)
    }
}

/// Fillings of `n` parameters from per-parameter candidates, at most [`MAX_FILLS`].
pub(super) fn fills(n: usize, candidates: impl Fn(usize) -> Vec<Uuid>) -> Vec<Vec<Uuid>> {
    let mut out: Vec<Vec<Uuid>> = vec![Vec::new()];
    for i in 0..n {
        let options = candidates(i);
        let mut next = Vec::new();
        'outer: for prefix in &out {
            for id in &options {
                if next.len() == MAX_FILLS {
                    break 'outer;
                }
                let mut fill = prefix.clone();
                fill.push(*id);
                next.push(fill);
            }
        }
        out = next;
    }
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::isolation::walk::creation_kind;

    #[test]
    fn ids_are_recorded_by_kind_from_creation_responses() {
        let (task, project) = (Uuid::new_v4(), Uuid::new_v4());
        let mut ids = Ids::default();
        ids.record(
            &creation_kind("/v2/projects/{id}/tasks"),
            &json!({"id": task, "project_id": project, "title": "x", "other": "not-an-id"}),
        );
        assert_eq!(ids.candidates("task"), vec![task, project]);
        assert_eq!(ids.candidates("project"), vec![project, task]);
        let body = format!(
            "{{\"items\":[{{\"id\":\"{}\"}}]}}",
            project.hyphenated().to_string().to_uppercase()
        );
        assert_eq!(ids.found_in(body.as_bytes()), vec![project]);
    }

    #[test]
    fn fillings_are_every_combination_up_to_the_cap() {
        let ids: Vec<Uuid> = (0..3).map(|_| Uuid::new_v4()).collect();
        assert_eq!(fills(0, |_| ids.clone()), vec![Vec::<Uuid>::new()]);
        assert_eq!(fills(2, |_| ids.clone()).len(), 9);
        let many: Vec<Uuid> = (0..20).map(|_| Uuid::new_v4()).collect();
        assert_eq!(fills(2, |_| many.clone()).len(), MAX_FILLS);
        assert!(fills(1, |_| Vec::new()).is_empty());
    }
}
