//! `deprecated(since = DATE, sunset = DATE, docs = "url")`, shared by `api_versions!` (a
//! version's lifecycle) and `#[endpoint]` (one endpoint's).

use proc_macro2::{Literal, Span, TokenStream};
use quote::quote;
use syn::punctuated::Punctuated;
use syn::{Expr, ExprLit, Lit, LitStr, MetaNameValue, Token};

use super::date::parse_instant;
use crate::ctxt::Ctxt;

/// The keys of `deprecated(...)`, for `help:` lines.
const KEYS: &str = "`since`, `sunset`, `docs`";

/// The form of an instant, for `help:` lines.
pub(crate) const DATE_HELP: &str = "write a date as \"YYYY-MM-DD\" (midnight UTC) or an RFC 3339 \
     timestamp with an offset, e.g. \"2026-01-01T00:00:00Z\"";

/// A checked deprecation: instants as unix seconds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Deprecation {
    pub(crate) since: i64,
    pub(crate) sunset: Option<i64>,
    pub(crate) docs: Option<String>,
}

/// Checks the arguments of `deprecated(...)`; `keyword` is the `deprecated` word, for errors
/// about the whole (a missing `since`).
pub(crate) fn deprecation(cx: &mut Ctxt, keyword: Span, args: TokenStream) -> Option<Deprecation> {
    let args = match syn::parse::Parser::parse2(
        Punctuated::<MetaNameValue, Token![,]>::parse_terminated,
        args,
    ) {
        Ok(args) => args,
        Err(err) => {
            cx.push(syn::Error::new(
                err.span(),
                crate::ctxt::with_help(
                    err,
                    "write `deprecated(since = \"2026-01-01\", sunset = \"2027-01-01\", docs = \"https://..\")`",
                ),
            ));
            return None;
        }
    };
    let mut since: Option<(i64, Span)> = None;
    let mut sunset: Option<(i64, Span)> = None;
    let mut docs: Option<LitStr> = None;
    let mut ok = true;
    let mut seen: Vec<String> = Vec::new();
    for arg in &args {
        let key = match arg.path.get_ident().map(ToString::to_string) {
            Some(key) if ["since", "sunset", "docs"].contains(&key.as_str()) => key,
            _ => {
                let path = &arg.path;
                cx.error(
                    path,
                    format_args!(
                        "unknown key `{}` in deprecated(...)",
                        quote!(#path).to_string().replace(' ', "")
                    ),
                    format_args!("expected one of {KEYS}"),
                );
                ok = false;
                continue;
            }
        };
        if seen.contains(&key) {
            cx.error(
                &arg.path,
                format_args!("duplicate `{key}` in deprecated(...)"),
                "write each key once; remove this one",
            );
            ok = false;
            continue;
        }
        seen.push(key.clone());
        let Some(lit) = string(&arg.value) else {
            cx.error(
                &arg.value,
                format_args!("`{key}` takes a string"),
                if key == "docs" {
                    "write the page's address: `docs = \"https://example.com/migrate\"`"
                } else {
                    DATE_HELP
                },
            );
            ok = false;
            continue;
        };
        match key.as_str() {
            "docs" => docs = Some(lit.clone()),
            _ => match parse_instant(&lit.value()) {
                Ok(seconds) if key == "since" => since = Some((seconds, lit.span())),
                Ok(seconds) => sunset = Some((seconds, lit.span())),
                Err(why) => {
                    cx.error(lit, format_args!("invalid `{key}` date: {why}"), DATE_HELP);
                    ok = false;
                }
            },
        }
    }
    let Some((since, _)) = since else {
        if ok {
            cx.error_at(
                keyword,
                "`deprecated(...)` needs `since`",
                "say when the deprecation starts: `deprecated(since = \"2026-01-01\")`",
            );
        }
        return None;
    };
    if let Some((sunset, span)) = sunset
        && sunset < since
    {
        cx.error_at(
            span,
            "the sunset is earlier than the deprecation (`since`)",
            "RFC 9745 §4 forbids a Sunset before the Deprecation: write a sunset on or after `since`",
        );
        return None;
    }
    if !ok {
        return None;
    }
    Some(Deprecation {
        since,
        sunset: sunset.map(|(s, _)| s),
        docs: docs.map(|d| d.value()),
    })
}

fn string(expr: &Expr) -> Option<&LitStr> {
    match expr {
        Expr::Lit(ExprLit {
            lit: Lit::Str(s), ..
        }) => Some(s),
        _ => None,
    }
}

/// `(deprecated, sunset, docs)` as the three `Option` field values of the runtime's
/// declarations.
pub(crate) fn field_values(
    deprecation: Option<&Deprecation>,
) -> (TokenStream, TokenStream, TokenStream) {
    let none = quote!(::core::option::Option::None);
    let some = |t: TokenStream| quote!(::core::option::Option::Some(#t));
    match deprecation {
        None => (none.clone(), none.clone(), none),
        Some(d) => {
            let seconds = |s: i64| {
                let s = Literal::i64_unsuffixed(s);
                some(quote!(#s))
            };
            (
                seconds(d.since),
                d.sunset.map_or_else(|| none.clone(), seconds),
                d.docs.as_ref().map_or(none, |docs| some(quote!(#docs))),
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(args: TokenStream) -> Result<Deprecation, Vec<String>> {
        let mut cx = Ctxt::new();
        let out = deprecation(&mut cx, Span::call_site(), args);
        match cx.finish() {
            Ok(()) => Ok(out.expect("no error, so a deprecation")),
            Err(e) => Err(e.into_iter().map(|e| e.to_string()).collect()),
        }
    }

    #[test]
    fn since_sunset_and_docs_become_unix_seconds_and_a_string() {
        assert_eq!(
            check(quote!(
                since = "2026-01-01",
                sunset = "2027-06-30",
                docs = "https://x.test/v1"
            )),
            Ok(Deprecation {
                since: 1_767_225_600,
                sunset: Some(1_814_313_600),
                docs: Some("https://x.test/v1".into()),
            })
        );
        assert_eq!(
            check(quote!(since = "2026-01-01T00:00:00+01:00")),
            Ok(Deprecation {
                since: 1_767_225_600 - 3600,
                sunset: None,
                docs: None
            })
        );
        // A sunset at the deprecation instant is allowed.
        assert!(check(quote!(since = "2026-01-01", sunset = "2026-01-01")).is_ok());
    }

    #[test]
    fn every_mistake_is_reported() {
        let errors = check(quote!(
            since = "2026-02-30",
            sunset = "2026",
            docs = 3,
            until = "2027-01-01",
            since = "2026-01-01"
        ))
        .unwrap_err();
        let starts = [
            "invalid `since` date",
            "invalid `sunset` date",
            "`docs` takes a string",
            "unknown key `until`",
            "duplicate `since`",
        ];
        assert_eq!(errors.len(), starts.len(), "{errors:#?}");
        for (error, start) in errors.iter().zip(starts) {
            assert!(error.starts_with(start), "{error}");
        }
    }

    #[test]
    fn since_is_required_and_sunset_may_not_precede_it() {
        assert!(check(quote!(sunset = "2027-01-01")).unwrap_err()[0].contains("needs `since`"));
        let errors = check(quote!(since = "2026-01-01", sunset = "2025-12-31")).unwrap_err();
        assert!(errors[0].contains("RFC 9745"), "{errors:?}");
    }
}
