//! The endpoint's rules besides its versions: `cache = ..` (how caches may keep its responses)
//! and `if_match = required` (its writes must be conditional). Parsed here; whether a rule fits
//! the endpoint (no `public` on a tenant route, caching only on GET, `If-Match` only on writes)
//! is `EndpointDecl::check`'s, so the same rule holds for a hand-built declaration at boot.

use proc_macro2::TokenStream;
use quote::quote;
use syn::{Expr, ExprAssign, ExprCall, ExprLit, ExprPath, Lit};

use super::attr::{KeyArg, KeyValue};
use crate::ctxt::Ctxt;

const CACHE_HELP: &str = "write `cache = private` (the default), `cache = private(max_age = 60)`, \
     `cache = no_store` or `cache = edge` (per-tenant shared caching with `EdgeCached`)";

/// A declared cache policy (`saas_core::versioning::CachePolicy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum Cache {
    #[default]
    Private,
    PrivateMaxAge(u32),
    NoStore,
    Edge,
    Public(u32),
}

impl Cache {
    /// The `CachePolicy` value.
    pub(crate) fn tokens(self, private: &TokenStream) -> TokenStream {
        match self {
            Cache::Private => quote!(#private::CachePolicy::Private),
            Cache::PrivateMaxAge(n) => quote!(#private::CachePolicy::PrivateMaxAge(#n)),
            Cache::NoStore => quote!(#private::CachePolicy::NoStore),
            Cache::Edge => quote!(#private::CachePolicy::Edge),
            Cache::Public(n) => quote!(#private::CachePolicy::Public(#n)),
        }
    }
}

fn word(expr: &Expr) -> Option<String> {
    match expr {
        Expr::Path(ExprPath {
            path, qself: None, ..
        }) => path.get_ident().map(|i| i.to_string()),
        _ => None,
    }
}

/// `max_age = N` inside `private(..)` / `public(..)`.
fn max_age(cx: &mut Ctxt, call: &ExprCall) -> Option<u32> {
    let [arg] = call.args.iter().collect::<Vec<_>>()[..] else {
        cx.error(
            call,
            "expected one argument, `max_age = <seconds>`",
            CACHE_HELP,
        );
        return None;
    };
    let Expr::Assign(ExprAssign { left, right, .. }) = arg else {
        cx.error(arg, "expected `max_age = <seconds>`", CACHE_HELP);
        return None;
    };
    if word(left).as_deref() != Some("max_age") {
        cx.error(left, "expected `max_age`", CACHE_HELP);
        return None;
    }
    match &**right {
        Expr::Lit(ExprLit {
            lit: Lit::Int(n), ..
        }) => match n.base10_parse::<u32>() {
            Ok(n) => Some(n),
            Err(_) => {
                cx.error(
                    n,
                    "max_age is a number of seconds that fits in a u32",
                    CACHE_HELP,
                );
                None
            }
        },
        other => {
            cx.error(other, "max_age is a number of seconds", CACHE_HELP);
            None
        }
    }
}

/// `cache = ..`.
pub(crate) fn cache_key(cx: &mut Ctxt, key: &KeyArg) -> Option<Cache> {
    let KeyValue::Eq(value) = &key.value else {
        cx.error(&key.tokens, "expected `cache = ..`", CACHE_HELP);
        return None;
    };
    let expr = match syn::parse2::<Expr>(value.clone()) {
        Ok(expr) => expr,
        Err(_) => {
            cx.error(
                value,
                format_args!("unknown cache policy `{value}`"),
                CACHE_HELP,
            );
            return None;
        }
    };
    if let Some(name) = word(&expr) {
        return match name.as_str() {
            "private" => Some(Cache::Private),
            "no_store" => Some(Cache::NoStore),
            "edge" => Some(Cache::Edge),
            _ => {
                cx.error(
                    &expr,
                    format_args!("unknown cache policy `{name}`"),
                    CACHE_HELP,
                );
                None
            }
        };
    }
    if let Expr::Call(call) = &expr {
        match word(&call.func).as_deref() {
            Some("private") => return max_age(cx, call).map(Cache::PrivateMaxAge),
            Some("public") => return max_age(cx, call).map(Cache::Public),
            _ => {}
        }
    }
    cx.error(
        &expr,
        format_args!("unknown cache policy `{value}`"),
        CACHE_HELP,
    );
    None
}

/// `if_match = required` (or `optional`, the default).
pub(crate) fn if_match_key(cx: &mut Ctxt, key: &KeyArg) -> bool {
    const HELP: &str = "write `if_match = required` to answer 428 to writes without `If-Match`";
    let KeyValue::Eq(value) = &key.value else {
        cx.error(&key.tokens, "expected `if_match = required`", HELP);
        return false;
    };
    match syn::parse2::<Expr>(value.clone())
        .ok()
        .as_ref()
        .and_then(word)
    {
        Some(w) if w == "required" => true,
        Some(w) if w == "optional" => false,
        _ => {
            cx.error(value, format_args!("unknown `if_match = {value}`"), HELP);
            false
        }
    }
}
