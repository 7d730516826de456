//! `api_versions!`: parse the declaration (`parse`), validate it into a version set (`check`),
//! generate the constant (`expand`).

mod check;
mod expand;
mod parse;

use proc_macro2::TokenStream;

/// Expands `api_versions! { .. }`. On errors, the constant is still defined (with the valid
/// versions, all current) beside the `compile_error!`s, so its uses add no errors of their own.
pub(crate) fn api_versions(input: TokenStream) -> TokenStream {
    let input = match syn::parse2::<parse::Input>(input) {
        Ok(input) => input,
        Err(err) => return err.to_compile_error(),
    };
    match check::check(&input) {
        Ok(versions) => expand::expand(&versions),
        Err(failure) => {
            let mut out = failure.errors.to_compile_error();
            out.extend(expand::expand(&failure.fallback));
            out
        }
    }
}
