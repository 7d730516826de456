//! `saas new NAME`: writes a new application on the framework — one tenant-scoped model, one
//! versioned endpoint pair, a testkit test that checks isolation, and a CI script — ready for
//! `./ci.sh`.

#![warn(missing_docs)]

use std::fmt;
use std::path::{Path, PathBuf};

/// Where the generated project gets the framework's crates from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// A checkout of the framework (`saas-core/` and `saas-testkit/` under it).
    Path(PathBuf),
    /// A git repository holding the framework's workspace.
    Git(String),
}

impl Source {
    fn dependency(&self, krate: &str) -> String {
        match self {
            Source::Path(root) => {
                let path = root.join(krate);
                format!("{{ path = {} }}", toml_string(&path.to_string_lossy()))
            }
            Source::Git(url) => format!("{{ git = {} }}", toml_string(url)),
        }
    }
}

/// A TOML basic string.
fn toml_string(value: &str) -> String {
    let escaped: String = value
        .chars()
        .flat_map(|c| match c {
            '"' => vec!['\\', '"'],
            '\\' => vec!['\\', '\\'],
            c => vec![c],
        })
        .collect();
    format!("\"{escaped}\"")
}

/// Why a project could not be written.
#[derive(Debug)]
pub enum NewError {
    /// The name is not a usable package name.
    InvalidName(String),
    /// The directory exists and is not empty.
    NotEmpty(PathBuf),
    /// Writing a file failed.
    Io(PathBuf, std::io::Error),
}

impl fmt::Display for NewError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NewError::InvalidName(why) => write!(f, "invalid project name: {why}"),
            NewError::NotEmpty(dir) => write!(
                f,
                "{} exists and is not empty: choose another name or --dir",
                dir.display()
            ),
            NewError::Io(path, err) => write!(f, "cannot write {}: {err}", path.display()),
        }
    }
}

impl std::error::Error for NewError {}

/// The template's files: the path in the project, and the text with `{{placeholders}}`.
const FILES: &[(&str, &str)] = &[
    ("Cargo.toml", include_str!("../template/Cargo.toml.tmpl")),
    ("README.md", include_str!("../template/README.md.tmpl")),
    ("ci.sh", include_str!("../template/ci.sh")),
    (".gitignore", include_str!("../template/gitignore")),
    (
        "migrations/0001_items.sql",
        include_str!("../template/migrations/0001_items.sql"),
    ),
    ("src/lib.rs", include_str!("../template/src/lib.rs.tmpl")),
    ("src/main.rs", include_str!("../template/src/main.rs.tmpl")),
    (
        "tests/items.rs",
        include_str!("../template/tests/items.rs.tmpl"),
    ),
];

/// Words Cargo or Rust will not take as a package name.
const RESERVED: &[&str] = &[
    "test",
    "core",
    "std",
    "alloc",
    "proc_macro",
    "self",
    "super",
    "crate",
    "fn",
    "mod",
    "struct",
    "enum",
    "impl",
    "trait",
    "type",
    "use",
    "pub",
    "let",
    "match",
    "async",
    "await",
    "dyn",
];

/// Checks a package name: lowercase ASCII letters, digits, `-` and `_`, starting with a letter.
pub fn check_name(name: &str) -> Result<(), NewError> {
    let invalid = |why: &str| Err(NewError::InvalidName(format!("`{name}` {why}")));
    if name.is_empty() || name.len() > 64 {
        return invalid("must have 1 to 64 characters");
    }
    if !name.starts_with(|c: char| c.is_ascii_lowercase()) {
        return invalid("must start with a lowercase letter");
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
    {
        return invalid("may only hold lowercase letters, digits, `-` and `_`");
    }
    if RESERVED.contains(&name.replace('-', "_").as_str()) {
        return invalid("is a reserved word");
    }
    Ok(())
}

/// The project's text of one template file.
fn render(template: &str, name: &str, source: &Source) -> String {
    let krate = name.replace('-', "_");
    template
        .replace("{{name}}", name)
        .replace("{{crate}}", &krate)
        .replace("{{env}}", &krate.to_ascii_uppercase())
        .replace("{{saas_core}}", &source.dependency("saas-core"))
        .replace("{{saas_testkit}}", &source.dependency("saas-testkit"))
}

/// Writes the project `name` into `dir` (created; it must not hold anything yet) and returns
/// the files written.
pub fn generate(name: &str, dir: &Path, source: &Source) -> Result<Vec<PathBuf>, NewError> {
    check_name(name)?;
    if dir
        .read_dir()
        .map(|mut entries| entries.next().is_some())
        .unwrap_or(false)
    {
        return Err(NewError::NotEmpty(dir.to_path_buf()));
    }
    let mut written = Vec::new();
    for (relative, template) in FILES {
        let path = dir.join(relative);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| NewError::Io(parent.to_path_buf(), e))?;
        }
        std::fs::write(&path, render(template, name, source))
            .map_err(|e| NewError::Io(path.clone(), e))?;
        if relative.ends_with(".sh") {
            make_executable(&path)?;
        }
        written.push(path);
    }
    Ok(written)
}

#[cfg(unix)]
fn make_executable(path: &Path) -> Result<(), NewError> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755))
        .map_err(|e| NewError::Io(path.to_path_buf(), e))
}

#[cfg(not(unix))]
fn make_executable(_: &Path) -> Result<(), NewError> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir(tag: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("saas-new-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn a_project_has_every_file_with_its_names_filled_in() {
        let dir = temp_dir("files");
        let source = Source::Path(PathBuf::from("/opt/saas \"fw\""));
        let written = generate("shop-api", &dir, &source).unwrap();
        assert_eq!(written.len(), FILES.len());
        let read = |p: &str| std::fs::read_to_string(dir.join(p)).unwrap();
        let manifest = read("Cargo.toml");
        assert!(manifest.contains("name = \"shop-api\""), "{manifest}");
        assert!(
            manifest.contains(r#"saas-core = { path = "/opt/saas \"fw\"/saas-core" }"#),
            "{manifest}"
        );
        assert!(manifest.contains(r#"saas-testkit = { path = "/opt/saas \"fw\"/saas-testkit" }"#));
        assert!(read("src/main.rs").contains("SHOP_API_JWT_SECRET"));
        assert!(read("src/main.rs").contains("shop_api::app(&secret)"));
        assert!(read("tests/items.rs").contains("migrations = shop_api::MIGRATIONS"));
        for (relative, _) in FILES {
            let text = read(relative);
            assert!(
                !text.contains("{{"),
                "{relative} keeps a placeholder:\n{text}"
            );
        }
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.join("ci.sh"))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o111, 0o111);
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_git_source_names_the_repository() {
        let dir = temp_dir("git");
        generate("x", &dir, &Source::Git("https://example.com/fw.git".into())).unwrap();
        let manifest = std::fs::read_to_string(dir.join("Cargo.toml")).unwrap();
        assert!(manifest.contains(r#"saas-core = { git = "https://example.com/fw.git" }"#));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn an_existing_project_is_never_overwritten() {
        let dir = temp_dir("busy");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("keep.txt"), "mine").unwrap();
        let err = generate("app", &dir, &Source::Git("g".into())).unwrap_err();
        assert!(matches!(err, NewError::NotEmpty(_)), "{err}");
        assert_eq!(
            std::fs::read_to_string(dir.join("keep.txt")).unwrap(),
            "mine"
        );
        assert!(!dir.join("Cargo.toml").exists());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn names_cargo_would_refuse_are_refused() {
        for bad in [
            "",
            "Shop",
            "1app",
            "my app",
            "app!",
            "test",
            "self",
            &"a".repeat(65),
        ] {
            assert!(check_name(bad).is_err(), "{bad:?} accepted");
        }
        for good in ["shop", "shop-api", "shop_api2"] {
            check_name(good).unwrap();
        }
    }
}
