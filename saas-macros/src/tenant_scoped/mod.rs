//! `#[derive(TenantScoped)]`: parse (`attr`), validate into a typed model (`model`), build the
//! SQL (`sql`), generate code (`expand`). Each step is a plain function over `syn` types, so
//! the unit tests beside them need no compiler round trip.

mod attr;
mod expand;
mod model;
mod sql;

use proc_macro2::TokenStream;
use syn::DeriveInput;

/// Expands `#[derive(TenantScoped)]` on `input`. Errors come back as `compile_error!`s, all of
/// them at once, beside a stub implementation when the input is at least a plain struct.
pub(crate) fn derive(input: TokenStream) -> TokenStream {
    match syn::parse2::<DeriveInput>(input) {
        Ok(input) => derive_input(&input),
        Err(err) => err.to_compile_error(),
    }
}

fn derive_input(input: &DeriveInput) -> TokenStream {
    match model::check(input) {
        Ok(model) => expand::expand(&model),
        Err(failure) => {
            let mut out = failure.errors.to_compile_error();
            if let Some(fallback) = &failure.fallback {
                out.extend(expand::fallback(fallback));
            }
            out
        }
    }
}
