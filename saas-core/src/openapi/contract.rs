//! Released documents are a contract: `export` writes each version's document to a committed
//! folder; `check` regenerates and compares. A breaking change to a released version fails
//! with a located report; additive changes pass and are written back by the next `export`.
//! The comparison reads the committed files in the working tree, so it works in shallow
//! clones.

use std::path::{Path, PathBuf};

use serde_json::Value;

use super::diff::{self, Severity};
use super::downgrade::to_openapi_30;
use crate::versioning::VersionedApi;

/// The file of one version's 3.1 document in `dir`: `v1.json`, `2026-01-15.json`.
pub fn document_path(dir: &Path, segment: &str) -> PathBuf {
    dir.join(format!("{segment}.json"))
}

/// The file of one version's 3.0.3 document: `openapi-3.0/v1.json`.
pub fn document_30_path(dir: &Path, segment: &str) -> PathBuf {
    dir.join("openapi-3.0").join(format!("{segment}.json"))
}

fn pretty(doc: &Value) -> String {
    let mut text = serde_json::to_string_pretty(doc).unwrap_or_default();
    text.push('\n');
    text
}

/// Writes every version's document (3.1) and its 3.0.3 export; returns the files written.
pub fn export(api: &VersionedApi, dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir.join("openapi-3.0"))?;
    let mut written = Vec::new();
    for (version, doc) in api.documents() {
        let segment = version.path_segment();
        let path = document_path(dir, &segment);
        std::fs::write(&path, pretty(doc))?;
        written.push(path);
        let path = document_30_path(dir, &segment);
        std::fs::write(&path, pretty(&to_openapi_30(doc)))?;
        written.push(path);
    }
    Ok(written)
}

/// What `check` found.
#[derive(Debug, Default)]
pub struct CheckReport {
    /// Every change, breaking and additive, per version.
    pub changes: Vec<diff::Change>,
    /// Versions with no committed document yet (new versions: additive).
    pub new_versions: Vec<String>,
    /// Whether the committed files differ from what `export` would write.
    pub stale: bool,
}

impl CheckReport {
    /// Whether the check fails.
    pub fn is_breaking(&self) -> bool {
        self.changes
            .iter()
            .any(|c| c.severity == Severity::Breaking)
    }

    /// A report for humans.
    pub fn render(&self) -> String {
        let mut out = diff::render(&self.changes);
        for v in &self.new_versions {
            out.push_str(&format!(
                "new version {v}: no committed document yet (additive)\n"
            ));
        }
        if self.is_breaking() {
            out.push_str("\nopenapi check FAILED: released versions changed incompatibly.\n");
        } else if self.stale {
            out.push_str("\nopenapi check passed with additive changes; run `openapi export` to commit them.\n");
        } else {
            out.push_str("openapi check passed: documents match.\n");
        }
        out
    }
}

/// Compares the regenerated documents with those committed in `dir`, and applies the removal
/// policy across versions (an operation may leave a version only if deprecated in the one
/// before).
pub fn check(api: &VersionedApi, dir: &Path) -> std::io::Result<CheckReport> {
    let mut report = CheckReport::default();
    for (version, doc) in api.documents() {
        let segment = version.path_segment();
        let path = document_path(dir, &segment);
        match std::fs::read_to_string(&path) {
            Ok(text) => {
                let committed: Value = serde_json::from_str(&text).map_err(|e| {
                    std::io::Error::new(
                        std::io::ErrorKind::InvalidData,
                        format!("{}: {e}", path.display()),
                    )
                })?;
                report.changes.extend(diff::compare(&committed, doc));
                if text != pretty(doc) {
                    report.stale = true;
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                report.new_versions.push(segment);
                report.stale = true;
            }
            Err(e) => return Err(e),
        }
    }
    let ordered: Vec<(String, Value)> = api
        .documents()
        .iter()
        .map(|(v, d)| (v.path_segment(), d.clone()))
        .collect();
    report.changes.extend(diff::removal_policy(&ordered));
    Ok(report)
}
