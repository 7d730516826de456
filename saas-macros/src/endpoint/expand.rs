//! Code generation from a checked [`Endpoint`]: the handler as written, and a marker type
//! `__endpoint_<fn>` implementing `Endpoint` (declaration, axum router, OpenAPI operation).

use proc_macro2::{Ident, TokenStream};
use quote::{format_ident, quote, quote_spanned};
use syn::ItemFn;

use super::check::{Endpoint, Fallback, Method, Successor};
use super::rules::Cache;
use crate::versioning::deprecation::field_values;
use crate::versioning::version::VersionValue;

/// `__endpoint_<fn>`: the type `routes!` names for the handler `<fn>`.
pub(crate) fn marker_ident(fn_ident: &Ident) -> Ident {
    format_ident!("__endpoint_{}", fn_ident, span = fn_ident.span())
}

/// The handler's name as written, without `r#`.
fn name(func: &ItemFn) -> String {
    let name = func.sig.ident.to_string();
    name.strip_prefix("r#").map(str::to_owned).unwrap_or(name)
}

/// The whole expansion of a valid endpoint.
pub(crate) fn expand(endpoint: &Endpoint<'_>) -> TokenStream {
    let Endpoint {
        private,
        func,
        method,
        path,
        range,
        deprecation,
        successor,
        cache,
        require_if_match,
        operation,
    } = endpoint;
    let fn_ident = &func.sig.ident;
    let vis = &func.vis;
    let marker = marker_ident(fn_ident);
    let method_word = format_ident!("{}", method.word());
    let decl = decl(
        private,
        &name(func),
        *method,
        &path.value(),
        &range.introduced.value,
        range.removed.as_ref().map(|v| &v.value),
        field_values(deprecation.as_ref()),
        successor.as_ref(),
        (*cache, *require_if_match),
    );
    let check_versions = check_versions(private, &marker, &name(func), range, successor.as_ref());
    let operation = super::operation::expand(private, func, &name(func), operation);
    quote! {
        #func

        #[doc(hidden)]
        #[allow(non_camel_case_types, dead_code, missing_debug_implementations)]
        #vis struct #marker;

        #check_versions

        const _: () = {
            #[automatically_derived]
            impl #private::Endpoint for #marker {
                const DECL: #private::EndpointDecl = #decl;

                fn method_router() -> #private::axum::routing::MethodRouter {
                    #private::axum::routing::#method_word(#fn_ident)
                }

                fn versioned_method_router(
                    layer: #private::VersionLayer,
                ) -> #private::axum::routing::MethodRouter {
                    #private::axum::routing::#method_word(layer.handler(#fn_ident))
                }

                #operation
            }
        };
    }
}

/// The stand-in emitted beside the errors of an invalid endpoint: the function unchanged and the
/// marker type with a
/// declaration made of whatever was valid, so `routes!` naming it adds no error of its own.
pub(crate) fn fallback(fallback: &Fallback<'_>) -> TokenStream {
    let Fallback {
        private,
        func,
        method,
        path,
        range,
    } = fallback;
    let vis = &func.vis;
    let marker = marker_ident(&func.sig.ident);
    let introduced = range.map_or(VersionValue::Int(0), |r| r.introduced.value);
    let removed = range.and_then(|r| r.removed).map(|v| v.value);
    let decl = decl(
        private,
        &name(func),
        method.unwrap_or(Method::Get),
        &path.as_ref().map_or_else(|| "/".to_owned(), |p| p.value()),
        &introduced,
        removed.as_ref(),
        field_values(None),
        None,
        (Cache::Private, false),
    );
    let unreachable = quote! {
        ::core::unreachable!("#[endpoint] reported errors for this handler")
    };
    quote! {
        #func

        #[doc(hidden)]
        #[allow(non_camel_case_types, dead_code, missing_debug_implementations)]
        #vis struct #marker;

        impl #marker {
            #[doc(hidden)]
            pub const fn __check_versions(_: &#private::VersionSet) {}
        }

        const _: () = {
            #[automatically_derived]
            impl #private::Endpoint for #marker {
                const DECL: #private::EndpointDecl = #decl;

                fn method_router() -> #private::axum::routing::MethodRouter {
                    #unreachable
                }

                fn versioned_method_router(
                    _: #private::VersionLayer,
                ) -> #private::axum::routing::MethodRouter {
                    #unreachable
                }

                fn operation() -> #private::utoipa::openapi::path::Operation {
                    #unreachable
                }

                fn schemas(_: &mut #private::op::Schemas) {
                    #unreachable
                }
            }
        };
    }
}

/// `__endpoint_<fn>::__check_versions(&VERSIONS)`, which `routes!` evaluates as a constant:
/// each check panics with a message naming the handler and the version as written, from code
/// spanned at that version's literal, so the compile error points at the user's token.
fn check_versions(
    private: &TokenStream,
    marker: &Ident,
    name: &str,
    range: &crate::versioning::version::VersionRange,
    successor: Option<&Successor>,
) -> TokenStream {
    let introduced = &range.introduced;
    let message = format!(
        "`{name}` starts at version {} (`versions = {}..`), which `api_versions!` does not \
         declare: declare it there, or start the range at a declared version",
        introduced.value, introduced.value
    );
    let introduced_check = quote_spanned! {introduced.span=>
        if versions.find(&decl.introduced).is_none() {
            ::core::panic!(#message);
        }
    };
    let successor_check = successor.map(|successor| {
        let message = format!(
            "the successor of `{name}` is version {}, which `api_versions!` does not declare",
            successor.version
        );
        quote_spanned! {successor.span=>
            if let ::core::option::Option::Some(successor) = &decl.successor {
                if versions.find(&successor.version).is_none() {
                    ::core::panic!(#message);
                }
            }
        }
    });
    quote! {
        impl #marker {
            #[doc(hidden)]
            pub const fn __check_versions(versions: &#private::VersionSet) {
                let decl = &<Self as #private::Endpoint>::DECL;
                #introduced_check
                #successor_check
                #private::assert_endpoint(versions, decl);
            }
        }
    }
}

/// The `EndpointDecl { .. }` literal.
#[allow(clippy::too_many_arguments)]
fn decl(
    private: &TokenStream,
    name: &str,
    method: Method,
    path: &str,
    introduced: &VersionValue,
    removed: Option<&VersionValue>,
    (deprecated, sunset, docs): (TokenStream, TokenStream, TokenStream),
    successor: Option<&Successor>,
    (cache, require_if_match): (Cache, bool),
) -> TokenStream {
    let method = method.upper();
    let cache = cache.tokens(private);
    let introduced = introduced.tokens(private);
    let removed = match removed {
        Some(removed) => {
            let removed = removed.tokens(private);
            quote!(::core::option::Option::Some(#removed))
        }
        None => quote!(::core::option::Option::None),
    };
    let successor = match successor {
        Some(Successor { version, path, .. }) => {
            let version = version.tokens(private);
            let path = match path {
                Some(path) => quote!(::core::option::Option::Some(#path)),
                None => quote!(::core::option::Option::None),
            };
            quote! {
                ::core::option::Option::Some(#private::Successor { version: #version, path: #path })
            }
        }
        None => quote!(::core::option::Option::None),
    };
    quote! {
        #private::EndpointDecl {
            name: #name,
            method: #method,
            path: #path,
            introduced: #introduced,
            removed: #removed,
            deprecated: #deprecated,
            sunset: #sunset,
            docs: #docs,
            successor: #successor,
            cache: #cache,
            require_if_match: #require_if_match,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::attr::args;
    use super::super::check::check;
    use super::*;

    fn pretty(tokens: TokenStream) -> String {
        let file: syn::File = syn::parse2(tokens).expect("the expansion parses as a file");
        prettyplease::unparse(&file)
    }

    #[test]
    fn expansion_of_an_endpoint() {
        let func: ItemFn = syn::parse_quote! {
            /// One project.
            pub async fn get_project(mut tx: TenantTx, Path(id): Path<Uuid>) -> ApiResult<Json<ProjectBody>> {
                load().await
            }
        };
        let args = args(quote! {
            get, "/projects/{id}", versions = 2.., tag = "projects",
            responses((status = 200, body = ProjectBody))
        });
        insta::assert_snapshot!(pretty(expand(&check(&args, Ok(&func)).unwrap())));
    }

    #[test]
    fn expansion_of_a_deprecated_endpoint_with_a_successor() {
        let func: ItemFn = syn::parse_quote! {
            async fn list_tasks_v1() -> ApiResult<Json<Vec<TaskV1>>> { load().await }
        };
        let args = args(quote! {
            get, "/tasks", versions = "2025-06-01"..="2025-12-31", crate = "my_core",
            deprecated(since = "2026-01-01", sunset = "2027-06-30", docs = "https://example.com/tasks"),
            successor(version = "2026-01-15", path = "/boards/{id}/tasks"),
        });
        let code = pretty(expand(&check(&args, Ok(&func)).unwrap()));
        assert!(!code.contains("saas_core"), "{code}");
        insta::assert_snapshot!(code);
    }

    #[test]
    fn fallback_keeps_the_function_and_a_declaration() {
        let func: ItemFn = syn::parse_quote! {
            pub(crate) fn sync_handler() {}
        };
        let failure = check(&args(quote!(get, "/x", versions = 2..)), Ok(&func)).unwrap_err();
        let code = pretty(fallback(&failure.fallback.unwrap()));
        assert!(code.contains("pub(crate) fn sync_handler() {}"), "{code}");
        assert!(
            code.contains("pub(crate) struct __endpoint_sync_handler;"),
            "{code}"
        );
        assert!(
            code.contains("introduced: ::saas_core::__private::ApiVersion::Int(2)"),
            "{code}"
        );
        assert!(!code.contains("utoipa::path"), "{code}");
    }
}
