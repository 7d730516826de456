//! The syntax of `api_versions!`, kept as written (literals, words, raw arguments): whether
//! the keys are versions and the words lifecycles is `check.rs`'s job, so one build reports
//! every mistake.
//!
//! ```text
//! [crate = "my_core";]
//! #[attrs] vis const NAME = {
//!     KEY => current | deprecated(since = DATE, sunset = DATE, docs = "url"),
//!     ...
//! };
//! ```

use proc_macro2::TokenStream;
use syn::parse::{Parse, ParseStream};
use syn::punctuated::Punctuated;
use syn::{Attribute, Ident, Lit, LitStr, Token, Visibility, braced, parenthesized, token};

/// The whole input.
#[derive(Debug)]
pub(crate) struct Input {
    /// `crate = "my_core";`
    pub(crate) krate: Option<LitStr>,
    pub(crate) attrs: Vec<Attribute>,
    pub(crate) vis: Visibility,
    pub(crate) ident: Ident,
    pub(crate) brace: token::Brace,
    pub(crate) entries: Punctuated<Entry, Token![,]>,
}

/// `KEY => lifecycle` or `KEY => lifecycle(args)`.
#[derive(Debug)]
pub(crate) struct Entry {
    pub(crate) key: Lit,
    pub(crate) lifecycle: Ident,
    /// The arguments in parentheses, if any, unparsed.
    pub(crate) args: Option<(token::Paren, TokenStream)>,
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
        let attrs = input.call(Attribute::parse_outer)?;
        let vis: Visibility = input.parse()?;
        if !input.peek(Token![const]) {
            return Err(input.error(
                "expected `const NAME = { .. };`, e.g. `pub const VERSIONS = { 1 => current };`",
            ));
        }
        input.parse::<Token![const]>()?;
        let ident: Ident = input.parse()?;
        input.parse::<Token![=]>()?;
        let content;
        let brace = braced!(content in input);
        let entries = content.parse_terminated(Entry::parse, Token![,])?;
        if !input.is_empty() {
            input.parse::<Token![;]>()?;
        }
        Ok(Input {
            krate,
            attrs,
            vis,
            ident,
            brace,
            entries,
        })
    }
}

impl Parse for Entry {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let key: Lit = input.parse().map_err(|e| {
            syn::Error::new(
                e.span(),
                "expected a version: an integer (`2`) or a date string (`\"2026-01-15\"`)",
            )
        })?;
        input.parse::<Token![=>]>()?;
        let lifecycle: Ident = input.parse().map_err(|e| {
            syn::Error::new(
                e.span(),
                "expected a lifecycle: `current` or `deprecated(since = \"YYYY-MM-DD\")`",
            )
        })?;
        let args = if input.peek(token::Paren) {
            let content;
            let paren = parenthesized!(content in input);
            Some((paren, content.parse()?))
        } else {
            None
        };
        Ok(Entry {
            key,
            lifecycle,
            args,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use quote::quote;

    #[test]
    fn header_entries_and_optional_crate_are_parsed() {
        let input: Input = syn::parse2(quote! {
            crate = "my_core";
            /// Docs.
            pub const VERSIONS = {
                1 => deprecated(since = "2026-01-01"),
                2 => current,
            };
        })
        .unwrap();
        assert_eq!(input.krate.unwrap().value(), "my_core");
        assert_eq!(input.attrs.len(), 1);
        assert_eq!(input.ident, "VERSIONS");
        assert_eq!(input.entries.len(), 2);
        assert!(input.entries[0].args.is_some());
        assert_eq!(input.entries[1].lifecycle, "current");
    }

    #[test]
    fn syntax_errors_say_what_was_expected() {
        let err = syn::parse2::<Input>(quote!(static V = {})).unwrap_err();
        assert!(err.to_string().starts_with("expected `const NAME"), "{err}");
        let err = syn::parse2::<Input>(quote!(const V = { v1 => current })).unwrap_err();
        assert!(err.to_string().starts_with("expected a version"), "{err}");
    }
}
