//! Validates an `api_versions!` input into [`Versions`]: every key a version of one kind, in
//! strictly increasing order, every lifecycle known, the newest version current.

use proc_macro2::TokenStream;
use syn::{Attribute, Ident, Visibility};

use super::parse::{Entry, Input};
use crate::ctxt::Ctxt;
use crate::versioning::deprecation::{Deprecation, deprecation};
use crate::versioning::version::{Version, VersionValue, version};
use crate::versioning::{crate_path, private_path};

/// The lifecycles, for `help:` lines.
const LIFECYCLE_HELP: &str = "write `current`, or `deprecated(since = \"YYYY-MM-DD\", \
     sunset = \"YYYY-MM-DD\", docs = \"https://..\")` (sunset and docs are optional)";

/// A checked version set, ready to expand.
#[derive(Debug)]
pub(crate) struct Versions<'a> {
    /// `::saas_core::__private` or the override.
    pub(crate) private: TokenStream,
    pub(crate) attrs: &'a [Attribute],
    pub(crate) vis: &'a Visibility,
    pub(crate) ident: &'a Ident,
    /// Oldest first, strictly increasing.
    pub(crate) versions: Vec<Declared>,
}

/// One declared version.
#[derive(Debug)]
pub(crate) struct Declared {
    pub(crate) version: VersionValue,
    pub(crate) deprecation: Option<Deprecation>,
}

/// The errors of an invalid input, and a stand-in constant so that code naming it (`routes!`)
/// does not add errors of its own: the versions whose keys are valid, all current.
#[derive(Debug)]
pub(crate) struct Failure<'a> {
    pub(crate) errors: syn::Error,
    pub(crate) fallback: Versions<'a>,
}

pub(crate) fn check(input: &Input) -> Result<Versions<'_>, Failure<'_>> {
    let mut cx = Ctxt::new();
    let krate = input
        .krate
        .as_ref()
        .and_then(|lit| crate_path(&mut cx, lit));
    let private = private_path(krate.as_ref());

    if input.entries.is_empty() {
        cx.error_at(
            input.brace.span.join(),
            format_args!("`{}` declares no version", input.ident),
            "declare at least one: `{ 1 => current }`",
        );
    }

    let mut versions: Vec<Declared> = Vec::new();
    let mut fallback: Vec<Declared> = Vec::new();
    let mut previous: Option<Version> = None;
    let last = input.entries.len().saturating_sub(1);
    for (index, entry) in input.entries.iter().enumerate() {
        let key = version(&mut cx, &entry.key);
        let lifecycle = lifecycle(&mut cx, entry);
        if index == last && entry.lifecycle == "deprecated" {
            cx.error(
                &entry.lifecycle,
                format_args!(
                    "the newest version, {}, is deprecated",
                    quote::ToTokens::to_token_stream(&entry.key)
                ),
                "there must be a current newest version: make it `current`, or declare a newer \
                 `current` version after it",
            );
        }
        let Some(key) = key else { continue };
        if let Some(prev) = previous {
            if prev.value.kind() != key.value.kind() {
                cx.error_at(
                    key.span,
                    format_args!(
                        "{} is {}, but {} is {}",
                        key.value,
                        key.value.kind().describe(),
                        prev.value,
                        prev.value.kind().describe()
                    ),
                    "an API's versions are all integers or all dates, never mixed",
                );
                continue;
            }
            if key.value == prev.value {
                cx.error_at(
                    key.span,
                    format_args!("version {} is declared twice", key.value),
                    "declare each version once; remove this one",
                );
                continue;
            }
            if key.value < prev.value {
                cx.error_at(
                    key.span,
                    format_args!("version {} comes after the newer {}", key.value, prev.value),
                    "list the versions oldest first, each newer than the one before",
                );
                continue;
            }
        }
        previous = Some(key);
        fallback.push(Declared {
            version: key.value,
            deprecation: None,
        });
        if let Some(deprecation) = lifecycle {
            versions.push(Declared {
                version: key.value,
                deprecation,
            });
        }
    }

    let make = |versions| Versions {
        private: private.clone(),
        attrs: &input.attrs,
        vis: &input.vis,
        ident: &input.ident,
        versions,
    };
    match cx.finish() {
        Ok(()) => Ok(make(versions)),
        Err(errors) => Err(Failure {
            errors,
            fallback: make(fallback),
        }),
    }
}

/// `Some(None)` for `current`, `Some(Some(..))` for a valid `deprecated(..)`, `None` on error.
fn lifecycle(cx: &mut Ctxt, entry: &Entry) -> Option<Option<Deprecation>> {
    let word = &entry.lifecycle;
    match (word.to_string().as_str(), &entry.args) {
        ("current", None) => Some(None),
        ("current", Some((paren, _))) => {
            cx.error_at(
                paren.span.join(),
                "`current` takes no arguments",
                "write `current` alone, or `deprecated(since = ..)` for a deprecated version",
            );
            None
        }
        ("deprecated", Some((_, args))) => deprecation(cx, word.span(), args.clone()).map(Some),
        ("deprecated", None) => {
            cx.error(
                word,
                "`deprecated` needs to say since when",
                "write `deprecated(since = \"YYYY-MM-DD\")`, optionally with `sunset` and `docs`",
            );
            None
        }
        (other, _) => {
            cx.error(
                word,
                format_args!("unknown lifecycle `{other}`"),
                LIFECYCLE_HELP,
            );
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use quote::quote;

    fn errors(tokens: TokenStream) -> Vec<String> {
        let input: Input = syn::parse2(tokens).unwrap();
        match check(&input) {
            Ok(_) => Vec::new(),
            Err(failure) => failure.errors.into_iter().map(|e| e.to_string()).collect(),
        }
    }

    #[test]
    fn integer_and_date_sets_are_accepted() {
        let input: Input = syn::parse2(quote! {
            pub const V = {
                1 => deprecated(since = "2026-01-01", sunset = "2027-06-30"),
                2 => current,
                7 => current,
            };
        })
        .unwrap();
        let versions = check(&input).unwrap();
        assert_eq!(versions.versions.len(), 3);
        assert_eq!(
            versions.versions[0].deprecation.as_ref().unwrap().since,
            1_767_225_600
        );
        assert!(
            errors(quote!(const V = { "2025-06-01" => current, "2026-01-15" => current, };))
                .is_empty()
        );
    }

    #[test]
    fn every_mistake_is_reported_together() {
        let found = errors(quote! {
            const V = {
                1 => current,
                "2026-01-01" => current,
                1 => beta,
                0 => current,
                3 => current(yes),
                4 => deprecated(since = "2026-13-01"),
                5 => deprecated(since = "2026-01-01", sunset = "2025-01-01"),
            };
        });
        let expected = [
            "\"2026-01-01\" is a date version, but 1 is an integer version",
            "unknown lifecycle `beta`",
            "version 1 is declared twice",
            "version 0 comes after the newer 1",
            "`current` takes no arguments",
            "invalid `since` date",
            "the sunset is earlier than the deprecation",
            "the newest version, 5, is deprecated",
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
    fn an_empty_set_is_an_error_with_an_empty_fallback() {
        let input: Input = syn::parse2(quote!(const V = {};)).unwrap();
        let failure = check(&input).unwrap_err();
        assert!(
            failure
                .errors
                .to_string()
                .starts_with("`V` declares no version")
        );
        assert!(failure.fallback.versions.is_empty());
    }

    #[test]
    fn the_fallback_keeps_every_valid_key_as_current() {
        let input: Input = syn::parse2(quote! {
            const V = { 1 => deprecated(since = "bad"), "x" => current, 2 => deprecated };
        })
        .unwrap();
        let failure = check(&input).unwrap_err();
        let kept: Vec<_> = failure
            .fallback
            .versions
            .iter()
            .map(|d| d.version)
            .collect();
        assert_eq!(kept, [VersionValue::Int(1), VersionValue::Int(2)]);
        assert!(
            failure
                .fallback
                .versions
                .iter()
                .all(|d| d.deprecation.is_none())
        );
    }
}
