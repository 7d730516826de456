//! What the four API-versioning macros share: calendar arithmetic (`date`), version literals and
//! ranges (`version`), and `deprecated(...)` (`deprecation`). The macros themselves live in
//! `api_versions/`, `endpoint/`, `routes.rs` and `version_change.rs`.

pub(crate) mod date;
pub(crate) mod deprecation;
pub(crate) mod version;

use proc_macro2::TokenStream;
use quote::quote;
use syn::Path;

/// `::saas_core::__private`, or `<crate>::__private` under a `crate = "..."` override.
pub(crate) fn private_path(krate: Option<&Path>) -> TokenStream {
    match krate {
        Some(krate) => quote!(#krate::__private),
        None => quote!(::saas_core::__private),
    }
}

/// The path named by `crate = "my_core"`, or an error on the literal.
pub(crate) fn crate_path(cx: &mut crate::ctxt::Ctxt, lit: &syn::LitStr) -> Option<Path> {
    match lit.parse::<Path>() {
        Ok(path) => Some(path),
        Err(_) => {
            cx.error(
                lit,
                format_args!("`{}` is not a path", lit.value()),
                "name the crate as you would in a `use`: `crate = \"my_core\"`",
            );
            None
        }
    }
}
