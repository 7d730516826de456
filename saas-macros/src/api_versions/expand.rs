//! Code generation from checked [`Versions`]: one `VersionSet` constant whose instants are
//! unix seconds computed at expansion time.

use proc_macro2::TokenStream;
use quote::quote;

use super::check::Versions;
use crate::versioning::deprecation::field_values;

/// `#[attrs] vis const NAME: VersionSet = VersionSet { versions: &[..] };`
pub(crate) fn expand(set: &Versions<'_>) -> TokenStream {
    let Versions {
        private,
        attrs,
        vis,
        ident,
        versions,
    } = set;
    let decls = versions.iter().map(|declared| {
        let version = declared.version.tokens(private);
        let (deprecated, sunset, docs) = field_values(declared.deprecation.as_ref());
        quote! {
            #private::VersionDecl {
                version: #version,
                deprecated: #deprecated,
                sunset: #sunset,
                docs: #docs,
            }
        }
    });
    quote! {
        #(#attrs)*
        #vis const #ident: #private::VersionSet = #private::VersionSet {
            versions: &[#(#decls),*],
        };
    }
}

#[cfg(test)]
mod tests {
    use super::super::check::check;
    use super::super::parse::Input;
    use super::*;

    fn pretty(tokens: TokenStream) -> String {
        let file: syn::File = syn::parse2(tokens).expect("the expansion parses as a file");
        prettyplease::unparse(&file)
    }

    #[test]
    fn expansion_of_integer_versions() {
        let input: Input = syn::parse2(quote! {
            /// The versions of the API.
            pub const VERSIONS = {
                1 => deprecated(
                    since = "2026-01-01",
                    sunset = "2027-06-30",
                    docs = "https://example.com/api/v1-retirement",
                ),
                2 => current,
            };
        })
        .unwrap();
        insta::assert_snapshot!(pretty(expand(&check(&input).unwrap())));
    }

    #[test]
    fn expansion_of_date_versions_under_a_crate_override() {
        let input: Input = syn::parse2(quote! {
            crate = "my_core";
            const VERSIONS = { "2025-06-01" => deprecated(since = "2026-01-15T09:30:00+01:00"), "2026-01-15" => current };
        })
        .unwrap();
        insta::assert_snapshot!(pretty(expand(&check(&input).unwrap())));
    }
}
