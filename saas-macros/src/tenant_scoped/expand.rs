//! Code generation from a checked [`Model`]: the insert struct, the `TenantScoped` impl with
//! its static metadata and SQL, the registration, and one `list_by_*` method per parent.

use proc_macro2::TokenStream;
use quote::{format_ident, quote, quote_spanned};
use syn::{Field, Ident, Path, Visibility};

use super::attr::{Json, unraw};
use super::model::{Column, Fallback, Model, key_type};

/// The whole expansion of a valid model.
pub(crate) fn expand(model: &Model<'_>) -> TokenStream {
    let Model {
        ident,
        vis,
        private,
        new_ident,
        ..
    } = model;
    let new_struct = new_struct(
        vis,
        ident,
        new_ident,
        &model.new_derive,
        model.insert_columns().map(|c| c.field),
    );
    let meta = meta(model);
    let key_ty = key_type(model.key_columns().map(|c| &c.field.ty));
    let key_expr = key_expr(model);
    let bind_new = binds(&quote!(new), model.insert_columns(), private);
    let bind_update = binds(&quote!(self), model.update_columns(), private);
    let checks = type_checks(model);
    let list_by = list_by_parent_methods(model);

    quote! {
        #new_struct

        const _: () = {
            #[automatically_derived]
            impl #private::TenantScoped for #ident {
                type Key = #key_ty;
                type New = #new_ident;

                fn meta() -> &'static #private::ModelMeta {
                    #meta
                }

                fn key(&self) -> <Self as #private::TenantScoped>::Key {
                    #key_expr
                }

                fn bind_new<'q>(
                    new: &<Self as #private::TenantScoped>::New,
                    query: #private::PgQuery<'q>,
                ) -> #private::PgQuery<'q> {
                    query #bind_new
                }

                fn bind_update<'q>(&self, query: #private::PgQuery<'q>) -> #private::PgQuery<'q> {
                    query #bind_update
                }
            }

            #checks

            #private::inventory::submit! {
                #private::ModelRegistration(<#ident as #private::TenantScoped>::meta)
            }

            #list_by
        };
    }
}

/// The stub emitted beside the errors of an invalid model (see [`Fallback`]).
pub(crate) fn fallback(fallback: &Fallback<'_>) -> TokenStream {
    let Fallback {
        ident,
        vis,
        private,
        new_ident,
        ..
    } = fallback;
    let new_struct = new_struct(
        vis,
        ident,
        new_ident,
        &[],
        fallback.new_fields.iter().copied(),
    );
    let key_ty = match &fallback.key_ty {
        Some(ty) => ty.clone(),
        None => quote!(#private::TenantId),
    };
    let unreachable = quote! {
        ::core::unreachable!("#[derive(TenantScoped)] reported errors for this model")
    };
    quote! {
        #new_struct

        const _: () = {
            #[automatically_derived]
            impl #private::TenantScoped for #ident {
                type Key = #key_ty;
                type New = #new_ident;

                fn meta() -> &'static #private::ModelMeta {
                    #unreachable
                }

                fn key(&self) -> <Self as #private::TenantScoped>::Key {
                    #unreachable
                }

                fn bind_new<'q>(
                    _: &<Self as #private::TenantScoped>::New,
                    _: #private::PgQuery<'q>,
                ) -> #private::PgQuery<'q> {
                    #unreachable
                }

                fn bind_update<'q>(&self, _: #private::PgQuery<'q>) -> #private::PgQuery<'q> {
                    #unreachable
                }
            }
        };
    }
}

/// `pub struct NewProject { pub name: String, .. }`: the caller's part of an insert.
fn new_struct<'a>(
    vis: &Visibility,
    ident: &Ident,
    new_ident: &Ident,
    derives: &[Path],
    fields: impl Iterator<Item = &'a Field>,
) -> TokenStream {
    let doc = format!(
        " The fields of a new [`{ident}`]: every column but the tenant column, which always \
         comes from the executor's tenant, and the `generated` ones, which the database fills."
    );
    let derive = (!derives.is_empty()).then(|| quote!(#[derive(#(#derives),*)]));
    let fields = fields.map(|field| {
        let Field { vis, ident, ty, .. } = field;
        let docs: Vec<_> = field
            .attrs
            .iter()
            .filter(|a| a.path().is_ident("doc"))
            .collect();
        let doc = if docs.is_empty() {
            let name = ident.as_ref().map(unraw).unwrap_or_default();
            let doc = format!(" The new row's `{name}`.");
            quote!(#[doc = #doc])
        } else {
            quote!(#(#docs)*)
        };
        quote! {
            #doc
            #vis #ident: #ty,
        }
    });
    quote! {
        #[doc = #doc]
        #derive
        #[allow(dead_code, missing_debug_implementations)]
        #vis struct #new_ident {
            #(#fields)*
        }
    }
}

/// The body of `meta()`: a static built from literals, so nothing is computed at run time.
fn meta(model: &Model<'_>) -> TokenStream {
    let private = &model.private;
    let sql = model.table_sql();
    let statements = sql.statements();
    let type_name = unraw(model.ident);
    let table = &model.table;
    let tenant_column = sql.tenant;
    let key_columns = &sql.keys;
    let columns = &sql.columns;
    let generated: Vec<&str> = model
        .columns
        .iter()
        .filter(|c| c.generated)
        .map(|c| c.column.as_str())
        .collect();
    let parents = model.parents.iter().map(|parent| {
        let columns: Vec<&str> = parent
            .columns
            .iter()
            .map(|&i| model.columns[i].column.as_str())
            .collect();
        let statements = sql.parent_statements(&columns);
        let (list_first, list_after) = (&statements.list_first, &statements.list_after);
        let path = &parent.path;
        quote! {
            #private::ParentMeta {
                columns: &[#(#columns),*],
                parent: <#path as #private::TenantScoped>::meta,
                list_first: #list_first,
                list_after: #list_after,
            }
        }
    });
    let (get, list_first, list_after) = (
        &statements.get,
        &statements.list_first,
        &statements.list_after,
    );
    let (insert, update, delete) = (&statements.insert, &statements.update, &statements.delete);
    quote! {
        static META: #private::ModelMeta = #private::ModelMeta {
            type_name: #type_name,
            table: #table,
            tenant_column: #tenant_column,
            key_columns: &[#(#key_columns),*],
            columns: &[#(#columns),*],
            generated_columns: &[#(#generated),*],
            parents: &[#(#parents),*],
            sql: #private::ModelSql {
                get: #get,
                list_first: #list_first,
                list_after: #list_after,
                insert: #insert,
                update: #update,
                delete: #delete,
            },
        };
        &META
    }
}

/// `Clone::clone(&self.id)` or a tuple of such clones.
fn key_expr(model: &Model<'_>) -> TokenStream {
    let clones: Vec<TokenStream> = model
        .key_columns()
        .map(|c| {
            let ident = c.ident;
            quote!(::core::clone::Clone::clone(&self.#ident))
        })
        .collect();
    match clones.as_slice() {
        [one] => one.clone(),
        many => quote!(( #(#many,)* )),
    }
}

/// `.bind(&owner.a).bind(&owner.b)..` in column order; JSON fields go through `Json`.
fn binds<'a>(
    owner: &TokenStream,
    columns: impl Iterator<Item = &'a Column<'a>>,
    private: &TokenStream,
) -> TokenStream {
    columns
        .map(|c| {
            let ident = c.ident;
            match c.json {
                None => quote!(.bind(&#owner.#ident)),
                Some(Json::Value) => quote!(.bind(#private::sqlx::types::Json(&#owner.#ident))),
                Some(Json::Nullable) => quote!(
                    .bind(::core::option::Option::map(
                        ::core::option::Option::as_ref(&#owner.#ident),
                        #private::sqlx::types::Json,
                    ))
                ),
            }
        })
        .collect()
}

/// Compile-time checks whose errors point at the user's code: the tenant field really is
/// `saas_core::TenantId`, and each parent's referencing fields have the parent's key type.
fn type_checks(model: &Model<'_>) -> TokenStream {
    let Model { ident, private, .. } = model;
    let tenant = &model.columns[model.tenant];
    let tenant_ty = &tenant.field.ty;
    // On stable a span cannot cover a whole path: point at its last segment (`TenantId`).
    let span = match tenant_ty {
        syn::Type::Path(path) => path.path.segments.last().map(|s| s.ident.span()),
        _ => None,
    }
    .unwrap_or_else(|| syn::spanned::Spanned::span(tenant_ty));
    // The field access carries the type's span too, so a mismatch underlines the type only.
    let field = respan_ident(tenant.ident, span);
    let tenant_check = quote_spanned! {span=>
        const _: fn(&#ident) -> &#private::TenantId = |row| &row.#field;
    };
    let parent_checks = model.parents.iter().map(|parent| {
        let path = &parent.path;
        let ty = key_type(parent.columns.iter().map(|&i| &model.columns[i].field.ty));
        // "expected <parent key>, found <field type>"
        quote_spanned! {parent.span=>
            const _: fn(#ty) -> <#path as #private::TenantScoped>::Key = |value| value;
        }
    });
    quote! {
        #tenant_check
        #(#parent_checks)*
    }
}

/// The same identifier (raw or not) with another span.
fn respan_ident(ident: &Ident, span: proc_macro2::Span) -> Ident {
    let name = ident.to_string();
    match name.strip_prefix("r#") {
        Some(raw) => Ident::new_raw(raw, span),
        None => Ident::new(&name, span),
    }
}

/// `Task::list_by_project_id(tx, project_id, page)` for each parent.
fn list_by_parent_methods(model: &Model<'_>) -> TokenStream {
    if model.parents.is_empty() {
        return TokenStream::new();
    }
    let Model { ident, private, .. } = model;
    let methods = model.parents.iter().enumerate().map(|(index, parent)| {
        let columns: Vec<&Column<'_>> = parent.columns.iter().map(|&i| &model.columns[i]).collect();
        let names: Vec<&str> = columns.iter().map(|c| c.name.as_str()).collect();
        let method = format_ident!("list_by_{}", names.join("_"));
        let ty = key_type(columns.iter().map(|c| &c.field.ty));
        let param = match columns.as_slice() {
            [one] => one.ident.clone(),
            _ => format_ident!("parent_key"),
        };
        let path = &parent.path;
        let parent_name = quote!(#path).to_string().replace(' ', "");
        let described = names
            .iter()
            .map(|n| format!("`{n}`"))
            .collect::<Vec<_>>()
            .join(", ");
        let verb = if names.len() == 1 { "refers" } else { "refer" };
        let doc = format!(
            " One page, in key order, of the `{ident}` rows whose {described} {verb} to the \
             given `{parent_name}` (keyset pagination; the tenant comes from `tx`)."
        );
        quote! {
            #[doc = #doc]
            pub fn #method<E: #private::TenantExecutor>(
                tx: &mut E,
                #param: #ty,
                page: #private::PageRequest<<Self as #private::TenantScoped>::Key>,
            ) -> impl ::core::future::Future<
                Output = #private::ApiResult<#private::Page<Self>>,
            > + ::core::marker::Send + '_ {
                <Self as #private::TenantScoped>::list_by_parent(tx, #index, #param, page)
            }
        }
    });
    quote! {
        #[allow(dead_code)]
        impl #ident {
            #(#methods)*
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::model::check;
    use super::*;
    use syn::{DeriveInput, parse_quote};

    fn pretty(tokens: TokenStream) -> String {
        let file: syn::File = syn::parse2(tokens).expect("the expansion parses as a file");
        prettyplease::unparse(&file)
    }

    #[test]
    fn expansion_of_a_model_with_a_parent() {
        let input: DeriveInput = parse_quote! {
            #[tenant(table = "tasks", parent(project_id -> Project))]
            pub struct Task {
                pub tenant_id: TenantId,
                #[tenant(generated)]
                pub id: Uuid,
                /// The project this task belongs to.
                pub project_id: Uuid,
                pub title: String,
                #[sqlx(json)]
                pub labels: Vec<String>,
                #[sqlx(json(nullable))]
                pub extra: Option<Extra>,
            }
        };
        let model = check(&input).unwrap();
        insta::assert_snapshot!(pretty(expand(&model)));
    }

    #[test]
    fn crate_override_and_new_derive_are_used() {
        let input: DeriveInput = parse_quote! {
            #[tenant(table = "tags", crate = "my_core", new = TagFields, new_derive(Debug, Clone))]
            pub(crate) struct Tag { tenant_id: TenantId, #[tenant(key)] id: i64 }
        };
        let model = check(&input).unwrap();
        let code = pretty(expand(&model));
        assert!(
            code.contains("impl my_core::__private::TenantScoped for Tag"),
            "{code}"
        );
        assert!(!code.contains("saas_core"), "{code}");
        assert!(
            code.contains("#[derive(Debug, Clone)]\n#[allow(dead_code, missing_debug_implementations)]\npub(crate) struct TagFields"),
            "{code}"
        );
    }

    #[test]
    fn fallback_implements_the_trait_without_sql() {
        let input: DeriveInput = parse_quote! {
            struct Broken { tenant_id: TenantId, id: Uuid, name: String }
        };
        let failure = check(&input).unwrap_err();
        let code = pretty(fallback(&failure.fallback.unwrap()));
        assert!(code.contains("type Key = Uuid;"), "{code}");
        assert!(code.contains("struct NewBroken"), "{code}");
        assert!(!code.contains("inventory"), "{code}");
    }
}
