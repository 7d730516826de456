//! Embeds the built page (`web/dist/`, committed, so no npm is needed to build the app): writes
//! `$OUT_DIR/web_dist.rs`, which `src/web.rs` includes, with every file as `include_bytes!`,
//! its media type and a strong ETag (SHA-256 of its bytes).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

fn main() {
    let manifest = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let dist = manifest.join("web").join("dist");
    // A directory: cargo rebuilds when anything under it changes.
    println!("cargo:rerun-if-changed=web/dist");

    let index = dist.join("index.html");
    if !index.is_file() {
        panic!(
            "{} is missing: run `npm ci && npm run build` in examples/taskboard/web",
            index.display()
        );
    }
    let mut assets: Vec<PathBuf> = std::fs::read_dir(dist.join("assets"))
        .unwrap_or_else(|e| panic!("{}/assets: {e}", dist.display()))
        .map(|entry| entry.expect("a readable directory entry").path())
        .collect();
    // Sorted: the generated table (and the binary) does not depend on the directory's order.
    assets.sort();

    let mut code = String::new();
    let (bytes, etag) = embed(&index);
    writeln!(code, "const INDEX_HTML: &[u8] = {bytes};").unwrap();
    writeln!(code, "const INDEX_ETAG: &str = {etag:?};").unwrap();
    writeln!(code, "static ASSETS: &[Asset] = &[").unwrap();
    for path in &assets {
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_else(|| panic!("{}: not a UTF-8 file name", path.display()));
        if !path.is_file()
            || name.starts_with('.')
            || !name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
        {
            panic!(
                "{}: only plain files named [A-Za-z0-9._-] belong in dist/assets",
                path.display()
            );
        }
        let content_type = content_type(name).unwrap_or_else(|| {
            panic!("{}: no media type known for this extension", path.display())
        });
        let (bytes, etag) = embed(path);
        writeln!(
            code,
            "    Asset {{ name: {name:?}, content_type: {content_type:?}, etag: {etag:?}, bytes: {bytes} }},"
        )
        .unwrap();
    }
    writeln!(code, "];").unwrap();

    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("set by cargo")).join("web_dist.rs");
    std::fs::write(&out, code).unwrap_or_else(|e| panic!("{}: {e}", out.display()));
}

/// The `include_bytes!` expression of a file and its ETag.
fn embed(path: &Path) -> (String, String) {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let digest = Sha256::digest(&bytes);
    let hex: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
    let path = path
        .to_str()
        .unwrap_or_else(|| panic!("{}: not a UTF-8 path", path.display()));
    (format!("include_bytes!({path:?})"), format!("\"{hex}\""))
}

/// The media types of what esbuild writes for the page.
fn content_type(name: &str) -> Option<&'static str> {
    let ext = name.rsplit_once('.')?.1;
    Some(match ext {
        "js" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "woff2" => "font/woff2",
        _ => return None,
    })
}
