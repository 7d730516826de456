//! `routes!(VERSIONS; handler_a, module::handler_b)`: the versioned API of an application.
//!
//! Parse ([`Input`]), check (a non-empty list without repeats, paths without generics), expand
//! into a block of `const` checks (each endpoint against the versions, each pair against
//! overlapping) followed by the `Api` value. The checks run as constant evaluation, so a
//! mistake is a compile error that points at the handler's name in the list.

use proc_macro2::{Group, Span, TokenStream, TokenTree};
use quote::{ToTokens, quote};
use syn::parse::{Parse, ParseStream};
use syn::punctuated::Punctuated;
use syn::spanned::Spanned;
use syn::{LitStr, Path, PathArguments, Token};

use crate::ctxt::Ctxt;
use crate::endpoint::marker_ident;
use crate::versioning::{crate_path, private_path};

/// `[crate = "my_core";] VERSIONS; handler, module::handler, ...`
#[derive(Debug)]
pub(crate) struct Input {
    pub(crate) krate: Option<LitStr>,
    pub(crate) versions: Path,
    pub(crate) semi: Token![;],
    pub(crate) handlers: Punctuated<Path, Token![,]>,
}

impl Parse for Input {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let krate = if input.peek(Token![crate]) && input.peek2(Token![=]) {
            input.parse::<Token![crate]>()?;
            input.parse::<Token![=]>()?;
            let lit: LitStr = input.parse()?;
            input.parse::<Token![;]>()?;
            Some(lit)
        } else {
            None
        };
        let versions: Path = input.parse().map_err(|e| {
            syn::Error::new(
                e.span(),
                "expected the versions constant first: `routes!(VERSIONS; handler_a, handler_b)`",
            )
        })?;
        let semi: Token![;] = input.parse().map_err(|e| {
            syn::Error::new(
                e.span(),
                "expected `;` after the versions constant: `routes!(VERSIONS; handler_a, handler_b)`",
            )
        })?;
        let handlers = Punctuated::parse_terminated(input)?;
        Ok(Input {
            krate,
            versions,
            semi,
            handlers,
        })
    }
}

/// A checked invocation.
#[derive(Debug)]
pub(crate) struct Routes<'a> {
    pub(crate) private: TokenStream,
    pub(crate) versions: &'a Path,
    /// Each handler as written, and its marker type's path (`module::__endpoint_handler`).
    pub(crate) endpoints: Vec<(&'a Path, Path)>,
}

/// The marker type's path of a handler's path: the last segment `x` becomes `__endpoint_x`.
pub(crate) fn marker_path(handler: &Path) -> Path {
    let mut path = handler.clone();
    if let Some(last) = path.segments.last_mut() {
        last.ident = marker_ident(&last.ident);
    }
    path
}

pub(crate) fn check(input: &Input) -> Result<Routes<'_>, (syn::Error, Routes<'_>)> {
    let mut cx = Ctxt::new();
    let krate = input
        .krate
        .as_ref()
        .and_then(|lit| crate_path(&mut cx, lit));
    let private = private_path(krate.as_ref());
    if input.handlers.is_empty() {
        cx.error(
            input.semi,
            "`routes!` lists no handler",
            "list the `#[endpoint]` handlers after the `;`: `routes!(VERSIONS; get_project, list_projects)`",
        );
    }
    let mut endpoints: Vec<(&Path, Path)> = Vec::new();
    for handler in &input.handlers {
        let key = handler.to_token_stream().to_string();
        if endpoints
            .iter()
            .any(|(seen, _)| seen.to_token_stream().to_string() == key)
        {
            cx.error(
                handler,
                format_args!("`{}` is listed twice", key.replace(' ', "")),
                "list each handler once; remove this one",
            );
            continue;
        }
        if let Some(args) = handler
            .segments
            .iter()
            .find(|s| !matches!(s.arguments, PathArguments::None))
        {
            cx.error(
                &args.arguments,
                "a handler in `routes!` takes no generic arguments",
                "name the `#[endpoint]` function alone: `module::handler`",
            );
            continue;
        }
        endpoints.push((handler, marker_path(handler)));
    }
    let routes = Routes {
        private,
        versions: &input.versions,
        endpoints,
    };
    match cx.finish() {
        Ok(()) => Ok(routes),
        Err(errors) => Err((errors, routes)),
    }
}

/// The block: the checks, then `Api::new(VERSIONS, Vec::from([..]))`.
pub(crate) fn expand(routes: &Routes<'_>) -> TokenStream {
    let Routes {
        private,
        versions,
        endpoints,
    } = routes;
    let decl = |marker: &Path| quote!(<#marker as #private::Endpoint>::DECL);
    let checks = endpoints.iter().map(|(handler, marker)| {
        respan(
            quote!(const _: () = #marker::__check_versions(&#versions);),
            handler.span(),
        )
    });
    let mut overlaps = Vec::new();
    for (i, (first, first_marker)) in endpoints.iter().enumerate() {
        for (second, second_marker) in &endpoints[i + 1..] {
            let message = format!(
                "endpoints `{}` and `{}` serve the same method and path in overlapping versions",
                written(first),
                written(second)
            );
            let (a, b) = (decl(first_marker), decl(second_marker));
            overlaps.push(respan(
                quote! {
                    const _: () = if #a.overlaps(&#b) {
                        ::core::panic!(#message)
                    };
                },
                second.span(),
            ));
        }
    }
    let entries = endpoints
        .iter()
        .map(|(_, marker)| quote!(#private::EndpointEntry::of::<#marker>()));
    quote! {
        {
            #(#checks)*
            #(#overlaps)*
            #private::Api::new(#versions, ::std::vec::Vec::from([#(#entries),*]))
        }
    }
}

/// `tokens` with every token at `span`, so that an error of constant evaluation anywhere in
/// them points at `span` (a handler's name in the list) rather than at the whole invocation.
fn respan(tokens: TokenStream, span: Span) -> TokenStream {
    tokens
        .into_iter()
        .map(|mut tree| {
            if let TokenTree::Group(group) = &tree {
                let mut inner = Group::new(group.delimiter(), respan(group.stream(), span));
                inner.set_span(span);
                tree = TokenTree::Group(inner);
            } else {
                tree.set_span(span);
            }
            tree
        })
        .collect()
}

fn written(path: &Path) -> String {
    path.to_token_stream().to_string().replace(' ', "")
}

/// Expands `routes!(..)`. On errors, still an `Api` (of the valid handlers) beside the
/// `compile_error!`s, so the code around it type-checks.
pub(crate) fn routes(input: TokenStream) -> TokenStream {
    let input = match syn::parse2::<Input>(input) {
        Ok(input) => input,
        Err(err) => return err.to_compile_error(),
    };
    match check(&input) {
        Ok(routes) => expand(&routes),
        Err((errors, routes)) => {
            let errors = errors.to_compile_error();
            let value = expand(&routes);
            quote!({ #errors #value })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pretty_expr(tokens: TokenStream) -> String {
        let file: syn::File = syn::parse2(quote!(fn api() -> Api { #tokens }))
            .expect("the expansion parses as an expression");
        prettyplease::unparse(&file)
    }

    #[test]
    fn expansion_of_three_handlers() {
        let input: Input = syn::parse2(
            quote!(VERSIONS; get_project, tasks::list_tasks, crate::tasks::list_tasks_v1,),
        )
        .unwrap();
        insta::assert_snapshot!(pretty_expr(expand(&check(&input).unwrap())));
    }

    #[test]
    fn the_last_segment_names_the_marker_type() {
        let path: Path = syn::parse_quote!(crate::api::r#get);
        assert_eq!(written(&marker_path(&path)), "crate::api::__endpoint_get");
    }

    #[test]
    fn crate_override_is_used() {
        let input: Input = syn::parse2(quote!(crate = "my_core"; V; a)).unwrap();
        let code = expand(&check(&input).unwrap()).to_string();
        assert!(
            code.contains("my_core :: __private :: Api :: new"),
            "{code}"
        );
        assert!(!code.contains("saas_core"), "{code}");
    }

    #[test]
    fn empty_repeated_and_generic_lists_are_errors() {
        let errors = |tokens: TokenStream| -> Vec<String> {
            let input: Input = syn::parse2(tokens).unwrap();
            match check(&input) {
                Ok(_) => Vec::new(),
                Err((e, _)) => e.into_iter().map(|e| e.to_string()).collect(),
            }
        };
        assert!(errors(quote!(V;))[0].starts_with("`routes!` lists no handler"));
        assert!(errors(quote!(V; a, b, a))[0].starts_with("`a` is listed twice"));
        assert!(
            errors(quote!(V; a::<u8>))[0].starts_with("a handler in `routes!` takes no generic")
        );
        let err = syn::parse2::<Input>(quote!(V a, b)).unwrap_err();
        assert!(err.to_string().starts_with("expected `;`"), "{err}");
    }
}
