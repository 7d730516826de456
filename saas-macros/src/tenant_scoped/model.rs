//! Validation: from the parsed attributes and the struct's fields to a checked [`Model`] in
//! which every name is resolved to a field. Expansion only reads a `Model`; it never looks at
//! attributes again.

use std::collections::HashSet;

use proc_macro2::{Span, TokenStream};
use quote::{ToTokens, format_ident, quote};
use syn::{Data, DeriveInput, Field, Fields, Ident, Path, Type, Visibility};

use super::attr::{self, ContainerAttrs, FieldAttrs, FieldRef, Json};
use super::sql::TableSql;
use crate::ctxt::Ctxt;

/// The most columns in a key: `saas_core::model::ModelKey` is implemented for tuples up to 4.
const MAX_KEY_COLUMNS: usize = 4;

/// One field of the model, that is one column of the table.
#[derive(Debug)]
pub(crate) struct Column<'a> {
    pub(crate) field: &'a Field,
    pub(crate) ident: &'a Ident,
    /// The field's name, without `r#`.
    pub(crate) name: String,
    /// The column's name: the field's, or its `#[sqlx(rename = "..")]`.
    pub(crate) column: String,
    /// Filled by the database; never written by the framework.
    pub(crate) generated: bool,
    /// `#[sqlx(json)]`: bound through `sqlx::types::Json`.
    pub(crate) json: Option<Json>,
}

/// A composite foreign key `(tenant, columns..) -> parent (tenant, key..)`.
#[derive(Debug)]
pub(crate) struct Parent {
    /// Indexes into [`Model::columns`], in the order of the parent's key.
    pub(crate) columns: Vec<usize>,
    /// The parent model.
    pub(crate) path: Path,
    /// Where the parent was declared, for errors in the generated type checks.
    pub(crate) span: Span,
}

/// A checked model: every name resolved, every rule satisfied.
#[derive(Debug)]
pub(crate) struct Model<'a> {
    pub(crate) ident: &'a Ident,
    pub(crate) vis: &'a Visibility,
    /// `::saas_core::__private`, or `<crate = "..">::__private`.
    pub(crate) private: TokenStream,
    pub(crate) table: String,
    pub(crate) new_ident: Ident,
    pub(crate) new_derive: Vec<Path>,
    /// Every field, in declaration order.
    pub(crate) columns: Vec<Column<'a>>,
    /// Index of the tenant column.
    pub(crate) tenant: usize,
    /// Indexes of the key columns, in key order.
    pub(crate) keys: Vec<usize>,
    pub(crate) parents: Vec<Parent>,
}

impl<'a> Model<'a> {
    /// The columns written on insert after the tenant column: not generated, field order.
    pub(crate) fn insert_columns(&self) -> impl Iterator<Item = &Column<'a>> {
        self.columns
            .iter()
            .enumerate()
            .filter(|(i, c)| *i != self.tenant && !c.generated)
            .map(|(_, c)| c)
    }

    /// The columns written on update: not tenant, not key, not generated, field order.
    pub(crate) fn update_columns(&self) -> impl Iterator<Item = &Column<'a>> {
        self.columns
            .iter()
            .enumerate()
            .filter(|(i, c)| *i != self.tenant && !self.keys.contains(i) && !c.generated)
            .map(|(_, c)| c)
    }

    pub(crate) fn key_columns(&self) -> impl Iterator<Item = &Column<'a>> {
        self.keys.iter().map(|&i| &self.columns[i])
    }

    /// The column names the SQL builders need.
    pub(crate) fn table_sql(&self) -> TableSql<'_> {
        TableSql {
            table: &self.table,
            tenant: &self.columns[self.tenant].column,
            columns: self.columns.iter().map(|c| c.column.as_str()).collect(),
            keys: self.key_columns().map(|c| c.column.as_str()).collect(),
            insert: self.insert_columns().map(|c| c.column.as_str()).collect(),
            update: self.update_columns().map(|c| c.column.as_str()).collect(),
        }
    }
}

/// What is still known about an invalid model: enough to emit a stub implementation so the
/// user sees the real errors and not a cascade of "trait not implemented" at every use.
#[derive(Debug)]
pub(crate) struct Fallback<'a> {
    pub(crate) ident: &'a Ident,
    pub(crate) vis: &'a Visibility,
    pub(crate) private: TokenStream,
    pub(crate) new_ident: Ident,
    /// The fields of the insert struct.
    pub(crate) new_fields: Vec<&'a Field>,
    /// The key type, when the key could be resolved.
    pub(crate) key_ty: Option<TokenStream>,
}

/// Every error of an invalid input, and the stub to emit beside them when the input is at
/// least a plain struct with named fields.
#[derive(Debug)]
pub(crate) struct Failure<'a> {
    pub(crate) errors: syn::Error,
    pub(crate) fallback: Option<Box<Fallback<'a>>>,
}

/// Checks the input and builds the model, reporting every problem at once.
pub(crate) fn check(input: &DeriveInput) -> Result<Model<'_>, Failure<'_>> {
    let mut cx = Ctxt::new();
    let ident = &input.ident;

    let fields = match &input.data {
        Data::Struct(data) => match &data.fields {
            Fields::Named(named) => Some(named.named.iter().collect::<Vec<_>>()),
            Fields::Unnamed(unnamed) => {
                cx.error(
                    unnamed,
                    "#[derive(TenantScoped)] needs a struct with named fields, not a tuple struct",
                    format_args!(
                        "name the fields after their columns: `struct {ident} {{ tenant_id: TenantId, id: Uuid, .. }}`"
                    ),
                );
                None
            }
            Fields::Unit => {
                cx.error(
                    ident,
                    "#[derive(TenantScoped)] needs a struct with named fields, not a unit struct",
                    format_args!(
                        "add the table's columns as fields: `struct {ident} {{ tenant_id: TenantId, id: Uuid, .. }}`"
                    ),
                );
                None
            }
        },
        Data::Enum(data) => {
            let enum_token = data.enum_token;
            cx.error(
                quote!(#enum_token #ident),
                "#[derive(TenantScoped)] can only be derived for a struct, not an enum",
                "a tenant-scoped model is one table row: a struct with named fields",
            );
            None
        }
        Data::Union(data) => {
            let union_token = data.union_token;
            cx.error(
                quote!(#union_token #ident),
                "#[derive(TenantScoped)] can only be derived for a struct, not a union",
                "a tenant-scoped model is one table row: a struct with named fields",
            );
            None
        }
    };

    let generic = !input.generics.params.is_empty() || input.generics.where_clause.is_some();
    if !input.generics.params.is_empty() {
        cx.error(
            &input.generics,
            "#[derive(TenantScoped)] does not support generic parameters",
            "a model maps one concrete table: remove the type and lifetime parameters",
        );
    } else if let Some(where_clause) = &input.generics.where_clause {
        cx.error(
            where_clause,
            "#[derive(TenantScoped)] does not support where clauses",
            "remove the where clause",
        );
    }

    let attrs = attr::container(&mut cx, &input.attrs);
    let private = match &attrs.krate {
        Some(krate) => quote!(#krate::__private),
        None => quote!(::saas_core::__private),
    };
    let new_ident = attrs
        .new
        .clone()
        .unwrap_or_else(|| format_ident!("New{}", ident));

    let Some(fields) = fields else {
        return Err(Failure {
            errors: finish_with_error(cx),
            fallback: None,
        });
    };

    let field_attrs: Vec<FieldAttrs> = fields
        .iter()
        .map(|f| attr::field(&mut cx, &f.attrs))
        .collect();
    let columns = columns(&mut cx, &attrs, &fields, &field_attrs);

    let table = match &attrs.table {
        Some(lit) => lit.value(),
        None => {
            cx.error(
                ident,
                format_args!("`{ident}` names no table"),
                "add `#[tenant(table = \"...\")]` to the struct, with the table's unqualified name",
            );
            String::new()
        }
    };

    let tenant = tenant_column(&mut cx, ident, &attrs, &columns, &field_attrs);
    let keys = key_columns(&mut cx, ident, &attrs, &columns, &field_attrs, tenant);
    let parents = parents(&mut cx, &attrs, &columns, tenant);

    match (tenant, keys) {
        (Some(tenant), Some(keys)) if !cx.has_errors() && !generic => Ok(Model {
            ident,
            vis: &input.vis,
            private,
            table,
            new_ident,
            new_derive: attrs.new_derive.unwrap_or_default(),
            columns,
            tenant,
            keys,
            parents,
        }),
        (tenant, keys) => {
            let fallback = (!generic).then(|| {
                let tenant = tenant.or_else(|| columns.iter().position(|c| c.name == "tenant_id"));
                Box::new(Fallback {
                    ident,
                    vis: &input.vis,
                    private,
                    new_ident,
                    new_fields: columns
                        .iter()
                        .enumerate()
                        .filter(|(i, c)| Some(*i) != tenant && !c.generated)
                        .map(|(_, c)| c.field)
                        .collect(),
                    key_ty: keys.map(|keys| key_type(keys.iter().map(|&i| &columns[i].field.ty))),
                })
            });
            Err(Failure {
                errors: finish_with_error(cx),
                fallback,
            })
        }
    }
}

/// The key type: the field's type, or a tuple of them.
pub(crate) fn key_type<'t>(types: impl IntoIterator<Item = &'t Type>) -> TokenStream {
    match types.into_iter().collect::<Vec<_>>().as_slice() {
        [one] => one.to_token_stream(),
        many => quote!(( #(#many,)* )),
    }
}

fn finish_with_error(cx: Ctxt) -> syn::Error {
    match cx.finish() {
        Err(errors) => errors,
        // Unreachable in practice: callers only get here after recording an error.
        Ok(()) => syn::Error::new(Span::call_site(), "invalid #[derive(TenantScoped)] input"),
    }
}

fn field_list(columns: &[Column<'_>]) -> String {
    columns
        .iter()
        .map(|c| format!("`{}`", c.name))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Resolves a field named in an attribute, or reports it with the list of fields.
fn resolve(cx: &mut Ctxt, columns: &[Column<'_>], field: &FieldRef, role: &str) -> Option<usize> {
    let found = columns.iter().position(|c| c.name == field.name);
    if found.is_none() {
        cx.error_at(
            field.span,
            format_args!("{role} `{}` is not a field of this struct", field.name),
            format_args!("name one of the fields: {}", field_list(columns)),
        );
    }
    found
}

fn columns<'a>(
    cx: &mut Ctxt,
    attrs: &ContainerAttrs,
    fields: &[&'a Field],
    field_attrs: &[FieldAttrs],
) -> Vec<Column<'a>> {
    if let Some(rename_all) = &attrs.sqlx_rename_all {
        cx.error(
            rename_all,
            "#[derive(TenantScoped)] does not support `#[sqlx(rename_all = ..)]`",
            "rename the fields after their columns, or rename single columns with `#[sqlx(rename = \"..\")]`",
        );
    }
    let mut seen = HashSet::new();
    let mut columns = Vec::with_capacity(fields.len());
    for (field, fa) in fields.iter().zip(field_attrs) {
        let Some(ident) = &field.ident else { continue };
        for word in &fa.sqlx_unsupported {
            let word_str = word.get_ident().map(attr::unraw).unwrap_or_default();
            cx.error(
                word,
                format_args!("#[derive(TenantScoped)] does not support `#[sqlx({word_str})]`"),
                "every field of a tenant-scoped model must be one column of its table; move this field out of the model",
            );
        }
        let name = attr::unraw(ident);
        let column = match &fa.rename {
            Some(lit) if lit.value().is_empty() => {
                cx.error(
                    lit,
                    "empty column name",
                    "write the column's name: `#[sqlx(rename = \"kind\")]`",
                );
                name.clone()
            }
            Some(lit) => lit.value(),
            None => name.clone(),
        };
        if !seen.insert(column.clone()) {
            cx.error(
                ident,
                format_args!("column `{column}` is mapped by two fields"),
                "give each field its own column, with `#[sqlx(rename = \"..\")]` if the field name differs",
            );
        }
        columns.push(Column {
            field,
            ident,
            name,
            column,
            generated: fa.generated.is_some(),
            json: fa.json,
        });
    }
    columns
}

fn tenant_column(
    cx: &mut Ctxt,
    ident: &Ident,
    attrs: &ContainerAttrs,
    columns: &[Column<'_>],
    field_attrs: &[FieldAttrs],
) -> Option<usize> {
    let marked: Vec<(usize, Span)> = field_attrs
        .iter()
        .enumerate()
        .filter_map(|(i, fa)| fa.tenant.map(|span| (i, span)))
        .collect();
    for (_, span) in marked.iter().skip(1) {
        cx.error_at(
            *span,
            "a second field is marked `#[tenant(tenant)]`",
            "a model has one tenant column: mark only that field",
        );
    }
    let named = attrs.tenant_column.as_ref().map(|lit| {
        if let Some((_, span)) = marked.first() {
            cx.error_at(
                *span,
                "the tenant column is named twice, by `tenant_column = ..` and by `#[tenant(tenant)]`",
                "keep one of the two",
            );
        }
        resolve(cx, columns, &FieldRef { name: lit.value(), span: lit.span() }, "tenant column")
    });
    let tenant = match named {
        Some(resolved) => resolved,
        None => match marked.first() {
            Some((i, _)) => Some(*i),
            None => {
                let found = columns.iter().position(|c| c.name == "tenant_id");
                if found.is_none() {
                    cx.error(
                        ident,
                        format_args!("`{ident}` has no tenant column"),
                        "add a field `tenant_id: TenantId`, mark the tenant field with `#[tenant(tenant)]`, or name it with `#[tenant(tenant_column = \"...\")]`",
                    );
                }
                found
            }
        },
    }?;
    let column = &columns[tenant];
    if !is_tenant_id(&column.field.ty) {
        cx.error(
            &column.field.ty,
            format_args!("the tenant column `{}` must have type `TenantId`", column.name),
            format_args!(
                "declare it as `{}: TenantId` (saas_core::TenantId); the framework fills it from the request's tenant",
                column.ident
            ),
        );
    }
    if let Some(span) = field_attrs[tenant].generated {
        cx.error_at(
            span,
            format_args!("the tenant column `{}` cannot be `generated`", column.name),
            "the framework always writes the tenant column from the executor's tenant: remove `generated`",
        );
    }
    Some(tenant)
}

/// Whether a type is written `TenantId` (any path ending in it, without generic arguments).
fn is_tenant_id(ty: &Type) -> bool {
    match ty {
        Type::Path(path) if path.qself.is_none() => path
            .path
            .segments
            .last()
            .is_some_and(|s| s.ident == "TenantId" && s.arguments.is_none()),
        Type::Group(group) => is_tenant_id(&group.elem),
        Type::Paren(paren) => is_tenant_id(&paren.elem),
        _ => false,
    }
}

fn key_columns(
    cx: &mut Ctxt,
    ident: &Ident,
    attrs: &ContainerAttrs,
    columns: &[Column<'_>],
    field_attrs: &[FieldAttrs],
    tenant: Option<usize>,
) -> Option<Vec<usize>> {
    let marked: Vec<FieldRef> = columns
        .iter()
        .zip(field_attrs)
        .filter_map(|(c, fa)| {
            fa.key.map(|span| FieldRef {
                name: c.name.clone(),
                span,
            })
        })
        .collect();
    let (refs, keyword): (Vec<FieldRef>, Option<&Path>) = match &attrs.key {
        Some(key) => {
            if let Some(first) = marked.first() {
                cx.error_at(
                    first.span,
                    "the key is named twice, by `key = ..` on the struct and by `#[tenant(key)]`",
                    "keep one of the two",
                );
            }
            (key.fields.clone(), Some(&key.keyword))
        }
        None if !marked.is_empty() => (marked, None),
        None => match columns.iter().position(|c| c.name == "id") {
            Some(i) => {
                if !columns[i].generated {
                    cx.error(
                        columns[i].ident,
                        format_args!(
                            "`id` is `{ident}`'s key, but neither `#[tenant(generated)]` nor \
                             `#[tenant(key)]`: should `New{ident}` carry it?"
                        ),
                        "write `#[tenant(generated)]` on `id` when the database fills it \
                         (`DEFAULT gen_random_uuid()`), or `#[tenant(key)]` when the \
                         application supplies it",
                    );
                }
                (
                    vec![FieldRef {
                        name: "id".into(),
                        span: columns[i].ident.span(),
                    }],
                    None,
                )
            }
            None => {
                cx.error(
                    ident,
                    format_args!("`{ident}` has no key"),
                    "add a field `id`, mark the key fields with `#[tenant(key)]`, or name them with `#[tenant(key = \"...\")]` or `#[tenant(key(a, b))]`",
                );
                return None;
            }
        },
    };
    if refs.len() > MAX_KEY_COLUMNS {
        let span = keyword.map_or(refs[MAX_KEY_COLUMNS].span, |k| {
            k.get_ident().map_or_else(Span::call_site, Ident::span)
        });
        cx.error_at(
            span,
            format_args!(
                "a key has at most {MAX_KEY_COLUMNS} columns, this one has {}",
                refs.len()
            ),
            "use a surrogate key (`id`) and a unique constraint on the natural key",
        );
    }
    let mut keys = Vec::with_capacity(refs.len());
    let mut ok = true;
    for field in &refs {
        let Some(i) = resolve(cx, columns, field, "key field") else {
            ok = false;
            continue;
        };
        if let Some(inner) = option_inner(&columns[i].field.ty) {
            cx.error_at(
                field.span,
                format_args!(
                    "the key field `{}` is `Option<{}>`: a primary key is never null",
                    field.name,
                    inner.to_token_stream().to_string().replace(' ', "")
                ),
                format_args!(
                    "make it `{}`",
                    inner.to_token_stream().to_string().replace(' ', "")
                ),
            );
            ok = false;
        } else if Some(i) == tenant {
            cx.error_at(
                field.span,
                format_args!(
                    "the tenant column `{}` cannot be part of the key",
                    field.name
                ),
                "the primary key is always (tenant column, key..): name only the other columns",
            );
            ok = false;
        } else if keys.contains(&i) {
            cx.error_at(
                field.span,
                format_args!("`{}` appears twice in the key", field.name),
                "name each key field once",
            );
            ok = false;
        } else {
            keys.push(i);
        }
    }
    ok.then_some(keys)
}

/// `T` when `ty` is written `Option<T>` (by any path ending in `Option`).
fn option_inner(ty: &Type) -> Option<&Type> {
    let Type::Path(path) = ty else { return None };
    let last = path.path.segments.last()?;
    if last.ident != "Option" {
        return None;
    }
    match &last.arguments {
        syn::PathArguments::AngleBracketed(args) => match args.args.first()? {
            syn::GenericArgument::Type(inner) => Some(inner),
            _ => None,
        },
        _ => None,
    }
}

fn parents(
    cx: &mut Ctxt,
    attrs: &ContainerAttrs,
    columns: &[Column<'_>],
    tenant: Option<usize>,
) -> Vec<Parent> {
    let mut out: Vec<Parent> = Vec::with_capacity(attrs.parents.len());
    for parent in &attrs.parents {
        let keyword_span = parent
            .keyword
            .get_ident()
            .map_or_else(Span::call_site, Ident::span);
        if parent.columns.len() > MAX_KEY_COLUMNS {
            cx.error_at(
                keyword_span,
                format_args!("a parent key has at most {MAX_KEY_COLUMNS} columns"),
                "reference the parent by a surrogate key (`id`)",
            );
        }
        let mut resolved = Vec::with_capacity(parent.columns.len());
        let mut ok = true;
        for field in &parent.columns {
            let Some(i) = resolve(cx, columns, field, "parent column") else {
                ok = false;
                continue;
            };
            if let Some(inner) = option_inner(&columns[i].field.ty) {
                cx.error_at(
                    field.span,
                    format_args!(
                        "the parent column `{}` is `Option<{}>`: `parent(..)` is a foreign key \
                         every row has",
                        field.name,
                        inner.to_token_stream().to_string().replace(' ', "")
                    ),
                    format_args!(
                        "make it `{}` (and the column `NOT NULL`); for an optional link, remove \
                         it from `parent(..)` and declare the nullable foreign key in your \
                         migration",
                        inner.to_token_stream().to_string().replace(' ', "")
                    ),
                );
                ok = false;
            } else if Some(i) == tenant {
                cx.error_at(
                    field.span,
                    format_args!("the tenant column `{}` cannot be a parent column", field.name),
                    "the tenant column is always part of the foreign key: name only the parent's key columns",
                );
                ok = false;
            } else if resolved.contains(&i) {
                cx.error_at(
                    field.span,
                    format_args!("`{}` appears twice in this parent", field.name),
                    "name each referencing field once",
                );
                ok = false;
            } else {
                resolved.push(i);
            }
        }
        if !ok {
            continue;
        }
        if out.iter().any(|p| p.columns == resolved) {
            cx.error_at(
                keyword_span,
                "a second parent on the same columns",
                "declare each foreign key once",
            );
            continue;
        }
        out.push(Parent {
            columns: resolved,
            path: parent.parent.clone(),
            span: parent.columns.first().map_or(keyword_span, |c| c.span),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use syn::parse_quote;

    fn errors(input: &DeriveInput) -> Vec<String> {
        match check(input) {
            Ok(_) => Vec::new(),
            Err(failure) => failure.errors.into_iter().map(|e| e.to_string()).collect(),
        }
    }

    #[test]
    fn defaults_find_tenant_id_and_id() {
        let input: DeriveInput = parse_quote! {
            #[tenant(table = "projects")]
            pub struct Project {
                pub tenant_id: TenantId,
                #[tenant(generated)]
                pub id: Uuid,
                pub name: String,
                #[tenant(generated)]
                pub created_at: OffsetDateTime,
            }
        };
        let model = check(&input).unwrap();
        assert_eq!(model.tenant, 0);
        assert_eq!(model.keys, [1]);
        assert_eq!(model.new_ident, "NewProject");
        let insert: Vec<&str> = model.insert_columns().map(|c| c.name.as_str()).collect();
        assert_eq!(insert, ["name"]);
        let update: Vec<&str> = model.update_columns().map(|c| c.name.as_str()).collect();
        assert_eq!(update, ["name"]);
    }

    #[test]
    fn field_markers_rename_and_raw_identifiers_are_honoured() {
        let input: DeriveInput = parse_quote! {
            #[tenant(table = "items")]
            struct Item {
                #[tenant(tenant)]
                org: TenantId,
                #[tenant(key)]
                r#type: String,
                #[tenant(key)]
                #[sqlx(rename = "item_no")]
                no: i64,
                body: String,
            }
        };
        let model = check(&input).unwrap();
        let sql = model.table_sql();
        assert_eq!(sql.tenant, "org");
        assert_eq!(sql.keys, ["type", "item_no"]);
        assert_eq!(sql.insert, ["type", "item_no", "body"]);
        assert_eq!(sql.update, ["body"]);
    }

    #[test]
    fn every_error_of_one_input_is_reported() {
        let input: DeriveInput = parse_quote! {
            #[tenant(key = "nope", parent(missing -> Project), colour = "red")]
            struct Bad {
                tenant_id: String,
                id: Uuid,
            }
        };
        let errors = errors(&input);
        assert_eq!(errors.len(), 5, "{errors:#?}");
        assert!(errors[0].starts_with("unknown key `colour`"), "{errors:#?}");
        assert!(errors.iter().any(|e| e.starts_with("`Bad` names no table")));
        assert!(
            errors
                .iter()
                .any(|e| e.contains("must have type `TenantId`"))
        );
        assert!(errors.iter().any(|e| e.starts_with("key field `nope`")));
        assert!(
            errors
                .iter()
                .any(|e| e.starts_with("parent column `missing`"))
        );
    }

    #[test]
    fn conflicting_declarations_are_errors() {
        let input: DeriveInput = parse_quote! {
            #[tenant(table = "t", tenant_column = "org", key(a, b, c, d, e))]
            #[tenant(parent(a -> P), parent(a -> Q), parent((b, b) -> R))]
            struct Conflicts {
                #[tenant(tenant)]
                org: TenantId,
                a: i64,
                #[sqlx(rename = "a")]
                b: i64,
                c: i64,
                d: i64,
                e: i64,
            }
        };
        let errors = errors(&input);
        let expected = [
            "column `a` is mapped by two fields",
            "the tenant column is named twice",
            "a key has at most 4 columns, this one has 5",
            "a second parent on the same columns",
            "`b` appears twice in this parent",
        ];
        assert_eq!(errors.len(), expected.len(), "{errors:#?}");
        for want in expected {
            assert!(
                errors.iter().any(|e| e.starts_with(want)),
                "{want}: {errors:#?}"
            );
        }
    }

    #[test]
    fn invalid_struct_still_gets_a_fallback_with_its_insert_fields() {
        let input: DeriveInput = parse_quote! {
            struct NoTable { tenant_id: TenantId, #[tenant(generated)] id: Uuid, name: String }
        };
        let failure = check(&input).unwrap_err();
        let fallback = failure.fallback.unwrap();
        let names: Vec<String> = fallback
            .new_fields
            .iter()
            .map(|f| f.ident.as_ref().unwrap().to_string())
            .collect();
        assert_eq!(names, ["name"]);
        assert!(fallback.key_ty.is_some());
    }

    #[test]
    fn an_implicit_id_key_must_say_who_fills_it() {
        let input: DeriveInput = parse_quote! {
            #[tenant(table = "notes")]
            struct Note { tenant_id: TenantId, id: Uuid, body: String }
        };
        let found = errors(&input);
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(found[0].contains("should `NewNote` carry it?"), "{found:?}");
        for marked in [
            parse_quote! {
                #[tenant(table = "notes")]
                struct Note { tenant_id: TenantId, #[tenant(generated)] id: Uuid }
            },
            parse_quote! {
                #[tenant(table = "notes")]
                struct Note { tenant_id: TenantId, #[tenant(key)] id: Uuid }
            },
        ] {
            assert!(errors(&marked).is_empty());
        }
    }

    #[test]
    fn nullable_keys_and_parent_keys_are_refused() {
        let input: DeriveInput = parse_quote! {
            #[tenant(table = "notes", parent(notebook_id -> Notebook))]
            struct Note {
                tenant_id: TenantId,
                #[tenant(key)]
                id: Option<Uuid>,
                notebook_id: Option<Uuid>,
            }
        };
        let errors = errors(&input);
        assert_eq!(errors.len(), 2, "{errors:?}");
        assert!(
            errors
                .iter()
                .any(|e| e.starts_with("the key field `id` is `Option<Uuid>`")),
            "{errors:?}"
        );
        assert!(
            errors
                .iter()
                .any(|e| e.starts_with("the parent column `notebook_id` is `Option<Uuid>`")),
            "{errors:?}"
        );
    }

    #[test]
    fn enums_and_generics_get_no_fallback() {
        let input: DeriveInput = parse_quote!(
            enum E {
                A,
            }
        );
        assert!(check(&input).unwrap_err().fallback.is_none());
        let input: DeriveInput = parse_quote!(
            #[tenant(table = "t")]
            struct G<T> {
                tenant_id: TenantId,
                #[tenant(generated)]
                id: T,
            }
        );
        let failure = check(&input).unwrap_err();
        assert!(failure.fallback.is_none());
        assert_eq!(failure.errors.into_iter().count(), 1);
    }
}
