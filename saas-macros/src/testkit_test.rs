//! `#[saas_testkit::test]`: a `#[tokio::test]` that hands the test a ready `TestEnv`.

use proc_macro2::TokenStream;
use quote::{format_ident, quote};
use syn::parse::Parser;
use syn::{Expr, ItemFn, LitStr};

struct Args {
    migrations: Option<Expr>,
    isolation: Option<LitStr>,
}

fn parse_args(args: TokenStream) -> syn::Result<Args> {
    let mut out = Args {
        migrations: None,
        isolation: None,
    };
    let parser = syn::meta::parser(|meta| {
        if meta.path.is_ident("migrations") {
            if out.migrations.is_some() {
                return Err(meta.error("duplicate key `migrations`"));
            }
            out.migrations = Some(meta.value()?.parse()?);
            Ok(())
        } else if meta.path.is_ident("isolation") {
            if out.isolation.is_some() {
                return Err(meta.error("duplicate key `isolation`"));
            }
            let lit: LitStr = meta.value()?.parse()?;
            if lit.value() != "tenant" && lit.value() != "database" {
                return Err(syn::Error::new_spanned(
                    &lit,
                    "unknown isolation\n       help: write `isolation = \"tenant\"` (default) or `isolation = \"database\"`",
                ));
            }
            out.isolation = Some(lit);
            Ok(())
        } else {
            Err(meta.error(
                "unknown key\n       help: expected `migrations = PATH` or `isolation = \"tenant\" | \"database\"`",
            ))
        }
    });
    parser.parse2(args)?;
    Ok(out)
}

/// Expands the attribute.
pub fn expand(args: TokenStream, item: TokenStream) -> TokenStream {
    match try_expand(args, item) {
        Ok(tokens) => tokens,
        Err(err) => err.to_compile_error(),
    }
}

fn try_expand(args: TokenStream, item: TokenStream) -> syn::Result<TokenStream> {
    let args = parse_args(args)?;
    let function: ItemFn = syn::parse2(item)?;
    if function.sig.asyncness.is_none() {
        return Err(syn::Error::new_spanned(
            function.sig.fn_token,
            "#[saas_testkit::test] needs an `async fn`\n       help: write `async fn name(env: TestEnv)`",
        ));
    }
    let inputs: Vec<_> = function.sig.inputs.iter().collect();
    if inputs.len() != 1 {
        return Err(syn::Error::new_spanned(
            &function.sig.inputs,
            "a saas_testkit test takes exactly one argument\n       help: write `async fn name(env: TestEnv)`",
        ));
    }
    let name = &function.sig.ident;
    let inner = format_ident!("__saas_testkit_{}", name);
    let attrs = &function.attrs;
    let vis = &function.vis;
    let mut inner_fn = function.clone();
    inner_fn.sig.ident = inner.clone();
    inner_fn.attrs.clear();
    let migrations = args.migrations.map(|m| quote!(.migrations(&#m)));
    let isolation = match args.isolation.map(|l| l.value()) {
        Some(ref v) if v == "database" => quote!(.isolation(::saas_testkit::Isolation::Database)),
        _ => quote!(.isolation(::saas_testkit::Isolation::Tenant)),
    };
    Ok(quote! {
        #(#attrs)*
        #[::saas_testkit::__private::tokio::test(
            crate = "::saas_testkit::__private::tokio",
            flavor = "multi_thread",
            worker_threads = 2
        )]
        #vis async fn #name() {
            #inner_fn
            let env = ::saas_testkit::TestEnv::builder()
                #migrations
                #isolation
                .start()
                .await
                .expect("saas_testkit: starting the test environment");
            #inner(env).await
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expansion_wraps_the_test_in_tokio_with_an_environment() {
        let out = expand(
            quote!(migrations = app::MIGRATIONS, isolation = "database"),
            quote!(
                async fn works(env: TestEnv) {
                    let _ = env;
                }
            ),
        )
        .to_string();
        assert!(out.contains("tokio :: test"), "{out}");
        assert!(out.contains("Isolation :: Database"), "{out}");
        assert!(out.contains("migrations (& app :: MIGRATIONS)"), "{out}");
        assert!(out.contains("__saas_testkit_works (env)"), "{out}");
    }

    #[test]
    fn bad_input_is_a_spanned_error() {
        for (args, item) in [
            (
                quote!(),
                quote!(
                    fn not_async(env: TestEnv) {}
                ),
            ),
            (
                quote!(colour = "red"),
                quote!(
                    async fn t(env: TestEnv) {}
                ),
            ),
            (
                quote!(isolation = "planet"),
                quote!(
                    async fn t(env: TestEnv) {}
                ),
            ),
            (
                quote!(),
                quote!(
                    async fn t() {}
                ),
            ),
        ] {
            assert!(expand(args, item).to_string().contains("compile_error"));
        }
    }
}
