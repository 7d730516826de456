//! Parsing of `#[tenant(...)]` (and the parts of `#[sqlx(...)]` that decide column names) into
//! plain values. Nothing here knows the struct's fields: resolving names is `model.rs`'s job.
//!
//! Every unknown or duplicate key is an error that points at the key; parsing goes on after it
//! so one build reports every mistake.

use proc_macro2::{Span, TokenStream};
use syn::meta::ParseNestedMeta;
use syn::punctuated::Punctuated;
use syn::{Attribute, Ident, LitStr, Path, Token, parenthesized, token};

use crate::ctxt::Ctxt;

/// The struct-level keys, for `help:` lines.
const CONTAINER_KEYS: &str =
    "`table`, `tenant_column`, `key`, `parent`, `new`, `new_derive`, `crate`";
/// The field-level keys, for `help:` lines.
const FIELD_KEYS: &str = "`generated`, `key`, `tenant`";

/// A field named inside an attribute (`key = "id"`, `parent(project_id -> ..)`), with where it
/// was written so a "no such field" error points at the name.
#[derive(Debug, Clone)]
pub(crate) struct FieldRef {
    /// The field's name, without `r#`.
    pub(crate) name: String,
    pub(crate) span: Span,
}

impl FieldRef {
    fn from_ident(ident: &Ident) -> Self {
        FieldRef {
            name: unraw(ident),
            span: ident.span(),
        }
    }

    fn from_lit(lit: &LitStr) -> Self {
        FieldRef {
            name: lit.value(),
            span: lit.span(),
        }
    }
}

/// `key = "id"` or `key(a, b)`.
#[derive(Debug)]
pub(crate) struct KeyAttr {
    /// The `key` word, for errors about the attribute as a whole.
    pub(crate) keyword: Path,
    pub(crate) fields: Vec<FieldRef>,
}

/// `parent(project_id -> Project)` or `parent((org_id, project_id) -> Project)`.
#[derive(Debug)]
pub(crate) struct ParentAttr {
    /// The `parent` word, for errors about the attribute as a whole.
    pub(crate) keyword: Path,
    /// The referencing fields, in the order of the parent's key.
    pub(crate) columns: Vec<FieldRef>,
    /// The parent model.
    pub(crate) parent: Path,
}

/// Everything the struct's attributes say.
#[derive(Debug, Default)]
pub(crate) struct ContainerAttrs {
    pub(crate) table: Option<LitStr>,
    pub(crate) tenant_column: Option<LitStr>,
    pub(crate) key: Option<KeyAttr>,
    pub(crate) parents: Vec<ParentAttr>,
    pub(crate) new: Option<Ident>,
    pub(crate) new_derive: Option<Vec<Path>>,
    pub(crate) krate: Option<Path>,
    /// `#[sqlx(rename_all = ..)]`, which is refused (the `rename_all` word).
    pub(crate) sqlx_rename_all: Option<Path>,
}

/// Everything one field's attributes say.
#[derive(Debug, Default)]
pub(crate) struct FieldAttrs {
    /// `#[tenant(generated)]`: where it was written.
    pub(crate) generated: Option<Span>,
    /// `#[tenant(key)]`.
    pub(crate) key: Option<Span>,
    /// `#[tenant(tenant)]`.
    pub(crate) tenant: Option<Span>,
    /// `#[sqlx(rename = "..")]`: the column name.
    pub(crate) rename: Option<LitStr>,
    /// `#[sqlx(json)]` or `#[sqlx(json(nullable))]`: the value is bound as JSON.
    pub(crate) json: Option<Json>,
    /// `#[sqlx(flatten)]` or `#[sqlx(skip)]`, which are refused (the word).
    pub(crate) sqlx_unsupported: Vec<Path>,
}

/// How a `#[sqlx(json)]` field is bound.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Json {
    /// `#[sqlx(json)]`: the whole value is one JSON document.
    Value,
    /// `#[sqlx(json(nullable))]`: an `Option`, `None` bound as SQL `NULL`.
    Nullable,
}

/// An identifier as written by the user, without the `r#` of a raw identifier.
pub(crate) fn unraw(ident: &Ident) -> String {
    let s = ident.to_string();
    match s.strip_prefix("r#") {
        Some(rest) => rest.to_owned(),
        None => s,
    }
}

/// Stores `value` in `slot`, or reports a duplicate at `meta.path`.
fn set_once<T>(cx: &mut Ctxt, slot: &mut Option<T>, value: T, meta: &ParseNestedMeta<'_>) {
    if slot.is_some() {
        let key = meta.path.get_ident().map(unraw).unwrap_or_default();
        cx.error(
            &meta.path,
            format_args!("duplicate `{key}` in #[tenant(...)]"),
            "write each key once; remove this one",
        );
    } else {
        *slot = Some(value);
    }
}

/// Consumes whatever follows an unknown key (`= value` or `(...)`), so parsing can go on.
fn skip_value(meta: &ParseNestedMeta<'_>) -> syn::Result<()> {
    if meta.input.peek(Token![=]) {
        meta.value()?.parse::<syn::Expr>()?;
    } else if meta.input.peek(token::Paren) {
        let content;
        parenthesized!(content in meta.input);
        content.parse::<TokenStream>()?;
    }
    Ok(())
}

fn key_name(meta: &ParseNestedMeta<'_>) -> String {
    let path = &meta.path;
    path.get_ident()
        .map(unraw)
        .unwrap_or_else(|| quote::quote!(#path).to_string().replace(' ', ""))
}

/// Parses the struct's `#[tenant(...)]` and `#[sqlx(...)]` attributes.
pub(crate) fn container(cx: &mut Ctxt, attrs: &[Attribute]) -> ContainerAttrs {
    let mut out = ContainerAttrs::default();
    for attr in attrs {
        if attr.path().is_ident("tenant") {
            let parsed = attr.parse_nested_meta(|meta| container_key(cx, &mut out, &meta));
            if let Err(err) = parsed {
                cx.push(err);
            }
        } else if attr.path().is_ident("sqlx") {
            // Only `rename_all` changes column names; the rest is sqlx's business.
            let _ = attr.parse_nested_meta(|meta| {
                if meta.path.is_ident("rename_all") {
                    out.sqlx_rename_all = Some(meta.path.clone());
                }
                skip_value(&meta)
            });
        }
    }
    out
}

fn container_key(
    cx: &mut Ctxt,
    out: &mut ContainerAttrs,
    meta: &ParseNestedMeta<'_>,
) -> syn::Result<()> {
    if meta.path.is_ident("table") {
        let lit: LitStr = meta.value()?.parse()?;
        if lit.value().is_empty() {
            cx.error(
                &lit,
                "the table name is empty",
                "write the table's name: `table = \"projects\"`",
            );
        }
        set_once(cx, &mut out.table, lit, meta);
    } else if meta.path.is_ident("tenant_column") {
        let lit: LitStr = meta.value()?.parse()?;
        set_once(cx, &mut out.tenant_column, lit, meta);
    } else if meta.path.is_ident("key") {
        let fields = if meta.input.peek(Token![=]) {
            let lit: LitStr = meta.value()?.parse()?;
            vec![FieldRef::from_lit(&lit)]
        } else if meta.input.peek(token::Paren) {
            let content;
            parenthesized!(content in meta.input);
            let idents = Punctuated::<Ident, Token![,]>::parse_terminated(&content)?;
            if idents.is_empty() {
                cx.error(
                    &meta.path,
                    "`key()` names no field",
                    "name the key fields in order: `key(org_id, id)`, or `key = \"id\"`",
                );
            }
            idents.iter().map(FieldRef::from_ident).collect()
        } else {
            return Err(meta.error("expected `key = \"field\"` or `key(field, ...)`"));
        };
        let key = KeyAttr {
            keyword: meta.path.clone(),
            fields,
        };
        set_once(cx, &mut out.key, key, meta);
    } else if meta.path.is_ident("parent") {
        out.parents.push(parent(meta)?);
    } else if meta.path.is_ident("new") {
        let ident: Ident = meta.value()?.parse()?;
        set_once(cx, &mut out.new, ident, meta);
    } else if meta.path.is_ident("new_derive") {
        let content;
        parenthesized!(content in meta.input);
        let paths = Punctuated::<Path, Token![,]>::parse_terminated(&content)?;
        set_once(cx, &mut out.new_derive, paths.into_iter().collect(), meta);
    } else if meta.path.is_ident("crate") {
        let lit: LitStr = meta.value()?.parse()?;
        match lit.parse::<Path>() {
            Ok(path) => set_once(cx, &mut out.krate, path, meta),
            Err(_) => cx.error(
                &lit,
                format_args!("`{}` is not a path", lit.value()),
                "name the crate as you would in a `use`: `crate = \"my_core\"`",
            ),
        }
    } else {
        let key = key_name(meta);
        let help = if ["generated", "tenant"].contains(&key.as_str()) {
            format!("`{key}` goes on a field; on the struct, expected one of {CONTAINER_KEYS}")
        } else {
            format!("expected one of {CONTAINER_KEYS}")
        };
        cx.error(
            &meta.path,
            format_args!("unknown key `{key}` in #[tenant(...)]"),
            help,
        );
        skip_value(meta)?;
    }
    Ok(())
}

/// `parent(col -> Path)` or `parent((a, b) -> Path)`.
fn parent(meta: &ParseNestedMeta<'_>) -> syn::Result<ParentAttr> {
    let content;
    parenthesized!(content in meta.input);
    let columns = if content.peek(token::Paren) {
        let inner;
        parenthesized!(inner in content);
        let idents = Punctuated::<Ident, Token![,]>::parse_terminated(&inner)?;
        if idents.is_empty() {
            return Err(syn::Error::new(
                inner.span(),
                "expected the referencing fields: `parent((org_id, project_id) -> Project)`",
            ));
        }
        idents.iter().map(FieldRef::from_ident).collect()
    } else {
        vec![FieldRef::from_ident(&content.parse::<Ident>()?)]
    };
    content.parse::<Token![->]>()?;
    let parent: Path = content.parse()?;
    if !content.is_empty() {
        return Err(
            content.error("expected `)` after the parent type: `parent(project_id -> Project)`")
        );
    }
    Ok(ParentAttr {
        keyword: meta.path.clone(),
        columns,
        parent,
    })
}

/// Parses one field's `#[tenant(...)]` and `#[sqlx(...)]` attributes.
pub(crate) fn field(cx: &mut Ctxt, attrs: &[Attribute]) -> FieldAttrs {
    let mut out = FieldAttrs::default();
    for attr in attrs {
        if attr.path().is_ident("tenant") {
            let parsed = attr.parse_nested_meta(|meta| {
                let span = meta
                    .path
                    .get_ident()
                    .map_or_else(Span::call_site, Ident::span);
                if meta.path.is_ident("generated") {
                    set_once(cx, &mut out.generated, span, &meta);
                } else if meta.path.is_ident("key") {
                    set_once(cx, &mut out.key, span, &meta);
                } else if meta.path.is_ident("tenant") {
                    set_once(cx, &mut out.tenant, span, &meta);
                } else {
                    let key = key_name(&meta);
                    let help = if [
                        "table",
                        "tenant_column",
                        "parent",
                        "new",
                        "new_derive",
                        "crate",
                    ]
                    .contains(&key.as_str())
                    {
                        format!(
                            "`{key}` goes on the struct; on a field, expected one of {FIELD_KEYS}"
                        )
                    } else {
                        format!("expected one of {FIELD_KEYS}")
                    };
                    cx.error(
                        &meta.path,
                        format_args!("unknown key `{key}` in #[tenant(...)] on a field"),
                        help,
                    );
                    skip_value(&meta)?;
                }
                Ok(())
            });
            if let Err(err) = parsed {
                cx.push(err);
            }
        } else if attr.path().is_ident("sqlx") {
            // Malformed `#[sqlx]` attributes are reported by sqlx's own derive.
            let _ = attr.parse_nested_meta(|meta| {
                if meta.path.is_ident("rename") {
                    out.rename = Some(meta.value()?.parse()?);
                    Ok(())
                } else if meta.path.is_ident("json") {
                    let mut json = Json::Value;
                    if meta.input.peek(token::Paren) {
                        meta.parse_nested_meta(|inner| {
                            if inner.path.is_ident("nullable") {
                                json = Json::Nullable;
                            }
                            skip_value(&inner)
                        })?;
                    }
                    out.json = Some(json);
                    Ok(())
                } else if meta.path.is_ident("flatten") || meta.path.is_ident("skip") {
                    out.sqlx_unsupported.push(meta.path.clone());
                    skip_value(&meta)
                } else {
                    skip_value(&meta)
                }
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use syn::parse_quote;

    fn messages(cx: Ctxt) -> Vec<String> {
        match cx.finish() {
            Ok(()) => Vec::new(),
            Err(errors) => errors.into_iter().map(|e| e.to_string()).collect(),
        }
    }

    #[test]
    fn container_keys_may_be_split_across_attributes() {
        let attrs: Vec<Attribute> = vec![
            parse_quote!(#[tenant(table = "tasks", key(org_id, r#type))]),
            parse_quote!(#[tenant(parent(project_id -> Project), parent((org_id, p) -> crate::m::P))]),
            parse_quote!(#[tenant(new = NewTaskFields, new_derive(Debug, Clone), crate = "my_core")]),
            parse_quote!(#[tenant(tenant_column = "org")]),
        ];
        let mut cx = Ctxt::new();
        let out = container(&mut cx, &attrs);
        assert!(messages(cx).is_empty());
        assert_eq!(out.table.unwrap().value(), "tasks");
        assert_eq!(out.tenant_column.unwrap().value(), "org");
        let key: Vec<String> = out
            .key
            .unwrap()
            .fields
            .into_iter()
            .map(|f| f.name)
            .collect();
        assert_eq!(key, ["org_id", "type"]);
        assert_eq!(out.parents.len(), 2);
        let cols: Vec<&str> = out.parents[1]
            .columns
            .iter()
            .map(|f| f.name.as_str())
            .collect();
        assert_eq!(cols, ["org_id", "p"]);
        assert_eq!(out.new.unwrap(), "NewTaskFields");
        assert_eq!(out.new_derive.unwrap().len(), 2);
        assert!(out.krate.unwrap().is_ident("my_core"));
    }

    #[test]
    fn unknown_and_duplicate_keys_are_all_reported() {
        let attrs: Vec<Attribute> = vec![
            parse_quote!(#[tenant(table = "a", tabel = "b", generated)]),
            parse_quote!(#[tenant(table = "c")]),
        ];
        let mut cx = Ctxt::new();
        let out = container(&mut cx, &attrs);
        assert_eq!(out.table.unwrap().value(), "a");
        let msgs = messages(cx);
        assert_eq!(msgs.len(), 3, "{msgs:#?}");
        assert!(msgs[0].starts_with("unknown key `tabel`"), "{}", msgs[0]);
        assert!(
            msgs[1].contains("`generated` goes on a field"),
            "{}",
            msgs[1]
        );
        assert!(msgs[2].starts_with("duplicate `table`"), "{}", msgs[2]);
    }

    #[test]
    fn field_flags_and_sqlx_rename_are_read() {
        let attrs: Vec<Attribute> = vec![
            parse_quote!(#[tenant(generated, key)]),
            parse_quote!(#[sqlx(rename = "kind", default)]),
            parse_quote!(#[doc = "ignored"]),
        ];
        let mut cx = Ctxt::new();
        let out = field(&mut cx, &attrs);
        assert!(messages(cx).is_empty());
        assert!(out.generated.is_some() && out.key.is_some() && out.tenant.is_none());
        assert_eq!(out.rename.unwrap().value(), "kind");
        assert!(out.json.is_none());
    }

    #[test]
    fn sqlx_json_is_read_with_its_nullability() {
        let mut cx = Ctxt::new();
        let plain = field(&mut cx, &[parse_quote!(#[sqlx(json)])]);
        let nullable = field(&mut cx, &[parse_quote!(#[sqlx(default, json(nullable))])]);
        assert_eq!(plain.json, Some(Json::Value));
        assert_eq!(nullable.json, Some(Json::Nullable));
    }

    #[test]
    fn sqlx_flatten_and_skip_are_recorded_for_rejection() {
        let attrs: Vec<Attribute> =
            vec![parse_quote!(#[sqlx(flatten)]), parse_quote!(#[sqlx(skip)])];
        let mut cx = Ctxt::new();
        let out = field(&mut cx, &attrs);
        assert_eq!(out.sqlx_unsupported.len(), 2);
    }
}
