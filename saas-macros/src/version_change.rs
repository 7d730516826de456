//! `#[version_change(from = 2, to = 1)]` on `fn(In) -> Out`: registers the conversion between
//! two shapes of one schema, for the versioned router to apply on JSON values.
//!
//! Parse (`args`, the function), check into a [`Change`], expand into the function plus an
//! `inventory` registration of a `VersionChange` constant. On errors the function is kept
//! unchanged.

use proc_macro2::TokenStream;
use quote::quote;
use syn::meta::ParseNestedMeta;
use syn::spanned::Spanned;
use syn::{FnArg, ItemFn, Lit, LitStr, ReturnType, Type};

use crate::ctxt::Ctxt;
use crate::versioning::version::{Version, version};
use crate::versioning::{crate_path, private_path};

/// The keys, for `help:` lines.
const KEYS: &str = "`from`, `to`, `crate`";

/// The arguments as written.
#[derive(Debug, Default)]
pub(crate) struct Args {
    pub(crate) from: Option<Lit>,
    pub(crate) to: Option<Lit>,
    pub(crate) krate: Option<LitStr>,
}

/// Parses `from = 2, to = 1, crate = ".."`: unknown and duplicate keys are errors in `cx`.
pub(crate) fn args(cx: &mut Ctxt, tokens: TokenStream) -> Args {
    let mut out = Args::default();
    let parser = syn::meta::parser(|meta| {
        let key = meta
            .path
            .get_ident()
            .map(ToString::to_string)
            .unwrap_or_default();
        match key.as_str() {
            "from" => set_once(cx, &mut out.from, meta.value()?.parse()?, &meta, &key),
            "to" => set_once(cx, &mut out.to, meta.value()?.parse()?, &meta, &key),
            "crate" => set_once(cx, &mut out.krate, meta.value()?.parse()?, &meta, &key),
            _ => {
                let shown = quote::ToTokens::to_token_stream(&meta.path)
                    .to_string()
                    .replace(' ', "");
                cx.error(
                    &meta.path,
                    format_args!("unknown key `{shown}` in #[version_change(...)]"),
                    format_args!("expected one of {KEYS}"),
                );
                if meta.input.peek(syn::Token![=]) {
                    meta.value()?.parse::<syn::Expr>()?;
                }
            }
        }
        Ok(())
    });
    if let Err(err) = syn::parse::Parser::parse2(parser, tokens) {
        cx.push(err);
    }
    out
}

fn set_once<T>(
    cx: &mut Ctxt,
    slot: &mut Option<T>,
    value: T,
    meta: &ParseNestedMeta<'_>,
    key: &str,
) {
    if slot.is_some() {
        cx.error(
            &meta.path,
            format_args!("duplicate `{key}` in #[version_change(...)]"),
            "write each key once; remove this one",
        );
    } else {
        *slot = Some(value);
    }
}

/// A checked version change.
#[derive(Debug)]
pub(crate) struct Change<'a> {
    pub(crate) private: TokenStream,
    pub(crate) func: &'a ItemFn,
    pub(crate) from: Version,
    pub(crate) to: Version,
    pub(crate) input: &'a Type,
    pub(crate) output: &'a Type,
}

pub(crate) fn check<'a>(cx: &mut Ctxt, args: &Args, func: &'a ItemFn) -> Option<Change<'a>> {
    let krate = args.krate.as_ref().and_then(|lit| crate_path(cx, lit));
    let private = private_path(krate.as_ref());
    let version_of = |cx: &mut Ctxt, lit: &Option<Lit>, key: &str| match lit {
        Some(lit) => version(cx, lit),
        None => {
            cx.error_at(
                proc_macro2::Span::call_site(),
                format_args!("missing `{key} = ..` in #[version_change(...)]"),
                "write `#[version_change(from = 2, to = 1)]`: the version of the input shape, \
                 then of the output shape",
            );
            None
        }
    };
    let from = version_of(cx, &args.from, "from");
    let to = version_of(cx, &args.to, "to");
    if let (Some(from), Some(to)) = (from, to) {
        if from.value.kind() != to.value.kind() {
            cx.error_at(
                to.span,
                format_args!(
                    "`to` is {}, but `from` is {}",
                    to.value.kind().describe(),
                    from.value.kind().describe()
                ),
                "an API's versions are all integers or all dates, never mixed",
            );
        } else if from.value == to.value {
            cx.error_at(
                to.span,
                format_args!("`from` and `to` are the same version, {}", to.value),
                "a change goes between two versions: `from = 2, to = 1` turns a version-2 \
                 response into a version-1 one; `from = 1, to = 2` upgrades a version-1 request",
            );
        }
    }

    let sig = &func.sig;
    if let Some(asyncness) = sig.asyncness {
        cx.error(
            asyncness,
            "a version change cannot be `async`",
            "remove `async`: a version change is a plain conversion of one value into another",
        );
    }
    if !sig.generics.params.is_empty() {
        cx.error(
            &sig.generics,
            "a version change cannot be generic",
            "write it for the concrete input and output types",
        );
    }
    let mut input = None;
    for arg in &sig.inputs {
        if let FnArg::Receiver(receiver) = arg {
            cx.error(
                receiver,
                "a version change cannot take `self`",
                "make it a free function of the old shape: `fn task_to_v1(task: TaskBody) -> TaskV1`",
            );
        }
    }
    let typed: Vec<_> = sig
        .inputs
        .iter()
        .filter_map(|arg| match arg {
            FnArg::Typed(typed) => Some(typed),
            FnArg::Receiver(_) => None,
        })
        .collect();
    match typed.as_slice() {
        [one] => input = Some(&*one.ty),
        [] if sig.receiver().is_some() => {}
        _ => cx.error_at(
            if typed.is_empty() {
                sig.paren_token.span.join()
            } else {
                sig.inputs.span()
            },
            format_args!(
                "a version change takes exactly one argument, the input shape; `{}` takes {}",
                sig.ident,
                typed.len()
            ),
            "write `fn task_to_v1(task: TaskBody) -> TaskV1`",
        ),
    }
    let output = match &sig.output {
        ReturnType::Type(_, ty) => Some(&**ty),
        ReturnType::Default => {
            cx.error(
                &sig.ident,
                format_args!("`{}` returns nothing", sig.ident),
                "return the output shape: `fn task_to_v1(task: TaskBody) -> TaskV1`",
            );
            None
        }
    };
    Some(Change {
        private,
        func,
        from: from?,
        to: to?,
        input: input?,
        output: output?,
    })
    .filter(|_| !cx.has_errors())
}

/// The function, and its registration inside `const _: () = { .. };`.
pub(crate) fn expand(change: &Change<'_>) -> TokenStream {
    let Change {
        private,
        func,
        from,
        to,
        input,
        output,
    } = change;
    let fn_ident = &func.sig.ident;
    let from = from.value.tokens(private);
    let to = to.value.tokens(private);
    let schema = |ty: &Type| {
        quote! {
            || (
                <#ty as #private::utoipa::ToSchema>::name().into_owned(),
                <#ty as #private::utoipa::PartialSchema>::schema(),
            )
        }
    };
    let (input_schema, output_schema) = (schema(input), schema(output));
    quote! {
        #func

        const _: () = {
            const __CHANGE: #private::VersionChange = #private::VersionChange {
                from: #from,
                to: #to,
                input: #input_schema,
                output: #output_schema,
                apply: |value| {
                    let input: #input = #private::serde_json::from_value(value)
                        .map_err(|e| e.to_string())?;
                    #private::serde_json::to_value(#fn_ident(input)).map_err(|e| e.to_string())
                },
            };
            #private::inventory::submit! { __CHANGE }
        };
    }
}

/// Expands `#[version_change(args)] item`.
pub(crate) fn version_change(args_tokens: TokenStream, item: TokenStream) -> TokenStream {
    let mut cx = Ctxt::new();
    let parsed_args = args(&mut cx, args_tokens);
    let func = match syn::parse2::<ItemFn>(item.clone()) {
        Ok(func) => func,
        Err(err) => {
            cx.error_at(
                err.span(),
                format_args!("#[version_change] goes on a plain `fn`: {err}"),
                "write `#[version_change(from = 2, to = 1)] fn task_to_v1(task: TaskBody) -> TaskV1 { .. }`",
            );
            let mut out = cx.finish().unwrap_err().to_compile_error();
            out.extend(item);
            return out;
        }
    };
    let change = check(&mut cx, &parsed_args, &func);
    match (cx.finish(), change) {
        (Ok(()), Some(change)) => expand(&change),
        (result, _) => {
            let mut out = result
                .err()
                .map(|e| e.to_compile_error())
                .unwrap_or_default();
            out.extend(item);
            out
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(attr: TokenStream, func: &ItemFn) -> Result<String, Vec<String>> {
        let mut cx = Ctxt::new();
        let args = args(&mut cx, attr);
        let change = check(&mut cx, &args, func);
        match cx.finish() {
            Ok(()) => {
                let file: syn::File = syn::parse2(expand(&change.unwrap())).unwrap();
                Ok(prettyplease::unparse(&file))
            }
            Err(e) => Err(e.into_iter().map(|e| e.to_string()).collect()),
        }
    }

    #[test]
    fn expansion_of_a_response_change() {
        let func: ItemFn = syn::parse_quote! {
            /// Version 1 has no `labels`.
            fn task_to_v1(task: TaskBody) -> TaskV1 {
                TaskV1 { id: task.id, title: task.title }
            }
        };
        insta::assert_snapshot!(run(quote!(from = 2, to = 1), &func).unwrap());
    }

    #[test]
    fn date_versions_and_the_crate_override_are_honoured() {
        let func: ItemFn = syn::parse_quote!(
            fn up(old: Old) -> New {
                New::from(old)
            }
        );
        let code = run(
            quote!(from = "2025-06-01", to = "2026-01-15", crate = "my_core"),
            &func,
        )
        .unwrap();
        assert!(
            code.contains("from: my_core::__private::ApiVersion::Date {"),
            "{code}"
        );
        assert!(!code.contains("saas_core"), "{code}");
    }

    #[test]
    fn every_mistake_is_reported_together() {
        let func: ItemFn = syn::parse_quote!(
            async fn change<T>(&self, a: A, b: B) {}
        );
        let found = run(quote!(from = 2, to = 2, to = 1, by = 3), &func).unwrap_err();
        let expected = [
            "duplicate `to`",
            "unknown key `by`",
            "`from` and `to` are the same version, 2",
            "a version change cannot be `async`",
            "a version change cannot be generic",
            "a version change cannot take `self`",
            "a version change takes exactly one argument",
            "`change` returns nothing",
        ];
        assert_eq!(found.len(), expected.len(), "{found:#?}");
        for want in expected {
            assert!(
                found.iter().any(|e| e.starts_with(want)),
                "{want}: {found:#?}"
            );
        }
    }

    #[test]
    fn versions_are_required_and_checked() {
        let func: ItemFn = syn::parse_quote!(
            fn f(a: A) -> B {
                B
            }
        );
        let found = run(quote!(to = 1), &func).unwrap_err();
        assert!(found[0].starts_with("missing `from = ..`"), "{found:?}");
        let found = run(quote!(from = "v2", to = 1.5), &func).unwrap_err();
        assert_eq!(found.len(), 2, "{found:?}");
        let found = run(quote!(from = 2, to = "2026-01-01"), &func).unwrap_err();
        assert!(found[0].starts_with("`to` is a date version"), "{found:?}");
    }
}
