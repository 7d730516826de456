//! `#[endpoint(...)]`: split the arguments (`attr`), validate them with the handler into an
//! endpoint (`check`, with what the signature says from `infer`, and its OpenAPI operation from
//! `operation`), generate the `Endpoint` impl (`expand`).

mod attr;
mod check;
mod expand;
mod infer;
mod operation;
mod rules;

pub(crate) use expand::marker_ident;

use proc_macro2::TokenStream;
use syn::ItemFn;

/// Expands `#[endpoint(args)] item`. On errors, the function is kept and its marker type still
/// implements `Endpoint` (see `expand::fallback`), so only the real errors show.
pub(crate) fn endpoint(args: TokenStream, item: TokenStream) -> TokenStream {
    let args = attr::args(args);
    let parsed = syn::parse2::<ItemFn>(item.clone());
    match check::check(&args, parsed.as_ref()) {
        Ok(endpoint) => expand::expand(&endpoint),
        Err(failure) => {
            let mut out = failure.errors.to_compile_error();
            match &failure.fallback {
                Some(fallback) => out.extend(expand::fallback(fallback)),
                None => out.extend(item),
            }
            out
        }
    }
}
