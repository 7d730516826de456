//! Validates `#[endpoint(...)]` and its function into an [`Endpoint`]: the method and path, the
//! versions it lives in, its deprecation and successor, and its OpenAPI operation.

use proc_macro2::{Span, TokenStream};
use quote::ToTokens;
use syn::punctuated::Punctuated;
use syn::spanned::Spanned;
use syn::{Expr, ExprLit, ItemFn, Lit, LitStr, MetaNameValue, Token};

use super::attr::{Arg, KeyArg, KeyValue};
use super::operation::OperationSpec;
use super::rules::{Cache, cache_key, if_match_key};
use crate::ctxt::{Ctxt, with_help};
use crate::versioning::deprecation::{Deprecation, deprecation};
use crate::versioning::version::{
    RangeSyntax, Version, VersionRange, VersionValue, range, version,
};
use crate::versioning::{crate_path, private_path};

/// The HTTP methods, for `help:` lines.
const METHODS: &str = "`get`, `post`, `put`, `patch`, `delete`";
/// The shape of the whole attribute, for `help:` lines.
const SHAPE: &str = "write `#[endpoint(get, \"/projects/{id}\", versions = 1.., ...)]`: the \
     method, the path, then keys";

/// An HTTP method an endpoint can serve.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Method {
    Get,
    Post,
    Put,
    Patch,
    Delete,
}

impl Method {
    fn from_word(word: &str) -> Option<Method> {
        Some(match word {
            "get" => Method::Get,
            "post" => Method::Post,
            "put" => Method::Put,
            "patch" => Method::Patch,
            "delete" => Method::Delete,
            _ => return None,
        })
    }

    /// `get`: the axum routing function and the `utoipa::path` word.
    pub(crate) fn word(self) -> &'static str {
        match self {
            Method::Get => "get",
            Method::Post => "post",
            Method::Put => "put",
            Method::Patch => "patch",
            Method::Delete => "delete",
        }
    }

    /// `GET`: what `EndpointDecl::method` holds.
    pub(crate) fn upper(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Patch => "PATCH",
            Method::Delete => "DELETE",
        }
    }
}

/// `successor = 2` or `successor(version = 2, path = "/x")`, checked.
#[derive(Debug, Clone)]
pub(crate) struct Successor {
    pub(crate) version: VersionValue,
    /// The version literal, for errors about it.
    pub(crate) span: Span,
    pub(crate) path: Option<String>,
}

/// A valid endpoint, ready to expand.
#[derive(Debug)]
pub(crate) struct Endpoint<'a> {
    /// `::saas_core::__private` or the override.
    pub(crate) private: TokenStream,
    pub(crate) func: &'a ItemFn,
    pub(crate) method: Method,
    pub(crate) path: LitStr,
    pub(crate) range: VersionRange,
    pub(crate) deprecation: Option<Deprecation>,
    pub(crate) successor: Option<Successor>,
    /// `cache = ..`.
    pub(crate) cache: Cache,
    /// `if_match = required`.
    pub(crate) require_if_match: bool,
    /// The OpenAPI operation, from the attribute and the signature.
    pub(crate) operation: OperationSpec,
}

/// What survives an invalid endpoint, for a stand-in `Endpoint` impl (see `expand::fallback`):
/// the function unchanged and whatever of the declaration was valid.
#[derive(Debug)]
pub(crate) struct Fallback<'a> {
    pub(crate) private: TokenStream,
    pub(crate) func: &'a ItemFn,
    pub(crate) method: Option<Method>,
    pub(crate) path: Option<LitStr>,
    pub(crate) range: Option<VersionRange>,
}

#[derive(Debug)]
pub(crate) struct Failure<'a> {
    pub(crate) errors: syn::Error,
    /// `None` when the item is not a function.
    pub(crate) fallback: Option<Fallback<'a>>,
}

/// Keys that look like utoipa's but must not be passed to it, with what to write instead.
fn refused_key(name: &str) -> Option<&'static str> {
    Some(match name {
        "path" => "the path is the second argument: `#[endpoint(get, \"/projects/{id}\", ..)]`",
        "impl_for" => {
            "`#[endpoint]` generates the path type itself; remove `impl_for` (or use \
             `#[utoipa::path]` directly without `#[endpoint]`)"
        }
        "context_path" => {
            "the version prefix is added by the framework; write the full path (without \
             version) as the second argument"
        }
        _ => return None,
    })
}

/// Checks the arguments (`args`) and the item (`func`, or the error of parsing it as a fn).
pub(crate) fn check<'a>(
    args: &[Arg],
    func: Result<&'a ItemFn, &syn::Error>,
) -> Result<Endpoint<'a>, Failure<'a>> {
    let mut cx = Ctxt::new();
    let mut method: Option<Method> = None;
    let mut path: Option<LitStr> = None;
    let mut versions: Option<Option<VersionRange>> = None;
    let mut deprecated: Option<Option<Deprecation>> = None;
    let mut successor: Option<Option<Successor>> = None;
    let mut krate: Option<LitStr> = None;
    let mut cache = Cache::default();
    let mut require_if_match = false;
    let mut passthrough_keys: Vec<&KeyArg> = Vec::new();
    let mut operation = OperationSpec::default();
    let mut seen: Vec<String> = Vec::new();

    for (index, arg) in args.iter().enumerate() {
        match arg {
            Arg::Word(word) => {
                let name = word.to_string();
                match Method::from_word(&name) {
                    Some(m) if index == 0 => method = Some(m),
                    Some(_) => cx.error(
                        word,
                        format_args!("the method `{name}` must come first, once"),
                        format_args!("one endpoint serves one method; {SHAPE}"),
                    ),
                    None if index == 0 => cx.error(
                        word,
                        format_args!("unknown HTTP method `{name}`"),
                        format_args!("expected one of {METHODS}"),
                    ),
                    None => cx.error(
                        word,
                        format_args!("expected `key = value` or `key(...)`, found `{name}`"),
                        SHAPE,
                    ),
                }
            }
            Arg::Str(lit) => {
                if index == 0 {
                    cx.error(
                        lit,
                        "missing the HTTP method before the path",
                        format_args!("start with one of {METHODS}: {SHAPE}"),
                    );
                } else if index != 1 || path.is_some() {
                    cx.error(lit, "the path must come second, once", SHAPE);
                    continue;
                }
                if !lit.value().starts_with('/') {
                    cx.error(
                        lit,
                        format_args!("the path `{}` does not start with `/`", lit.value()),
                        format_args!(
                            "write the path from the root, without the version prefix: `\"/{}\"`",
                            lit.value()
                        ),
                    );
                }
                path = Some(lit.clone());
            }
            Arg::Other(tokens) => cx.error(
                tokens,
                format_args!("expected `key = value` or `key(...)`, found `{tokens}`"),
                SHAPE,
            ),
            Arg::Key(key) => {
                let name = key.name();
                if seen.contains(&name) {
                    cx.error(
                        &key.key,
                        format_args!("duplicate `{name}` in #[endpoint(...)]"),
                        "write each key once; remove this one",
                    );
                    continue;
                }
                seen.push(name.clone());
                match name.as_str() {
                    "versions" => versions = Some(versions_key(&mut cx, key)),
                    "deprecated" => deprecated = Some(deprecated_key(&mut cx, key)),
                    "successor" => successor = Some(successor_key(&mut cx, key)),
                    "crate" => krate = crate_key(&mut cx, key),
                    "cache" => cache = cache_key(&mut cx, key).unwrap_or_default(),
                    "if_match" => require_if_match = if_match_key(&mut cx, key),
                    _ => match refused_key(&name) {
                        Some(help) => cx.error(
                            &key.key,
                            format_args!("`{name}` is not allowed in #[endpoint(...)]"),
                            help,
                        ),
                        None => passthrough_keys.push(key),
                    },
                }
            }
        }
    }

    let first = args.first().map_or_else(Span::call_site, Arg::span);
    if method.is_none() && args.is_empty() {
        cx.error_at(
            Span::call_site(),
            "missing the HTTP method and the path",
            SHAPE,
        );
    } else if path.is_none() {
        cx.error_at(
            first,
            "missing the path after the method",
            "write the path as the second argument: `#[endpoint(get, \"/projects/{id}\", ..)]`",
        );
    }
    if versions.is_none() && !args.is_empty() {
        cx.error_at(
            first,
            "missing `versions = ..`: in which versions does this endpoint live?",
            "write `versions = 1..` (from 1 on), `1..3` (1 and 2), `1..=2` or `2` (only 2)",
        );
    }
    let range = versions.flatten();
    let successor = successor.flatten();
    if let (Some(range), Some(successor)) = (&range, &successor) {
        successor_after_range(&mut cx, args, range, successor);
    }

    let krate = krate.and_then(|lit| crate_path(&mut cx, &lit));
    let private = private_path(krate.as_ref());

    let func = match func {
        Ok(func) => {
            check_fn(&mut cx, func);
            if let Some(path) = &path {
                let inferred = super::infer::infer(&mut cx, func, path, &passthrough_keys);
                operation = super::operation::parse(&mut cx, func, &passthrough_keys, &inferred);
            }
            func
        }
        Err(err) => {
            cx.push(syn::Error::new(
                err.span(),
                with_help(
                    format_args!("#[endpoint] goes on an `async fn` handler: {err}"),
                    "put it on the handler: `#[endpoint(get, \"/x\", versions = 1..)] async fn x() -> .. { .. }`",
                ),
            ));
            return Err(Failure {
                errors: cx.finish().unwrap_err(),
                fallback: None,
            });
        }
    };

    match (cx.finish(), method, path, range) {
        (Ok(()), Some(method), Some(path), Some(range)) => Ok(Endpoint {
            private,
            func,
            method,
            path,
            range,
            deprecation: deprecated.flatten(),
            successor,
            cache,
            require_if_match,
            operation,
        }),
        (result, method, path, range) => Err(Failure {
            errors: result.err().unwrap_or_else(|| {
                // Unreachable in practice: every missing part above records an error.
                syn::Error::new(Span::call_site(), "invalid #[endpoint(...)]")
            }),
            fallback: Some(Fallback {
                private,
                func,
                method,
                path,
                range,
            }),
        }),
    }
}

fn check_fn(cx: &mut Ctxt, func: &ItemFn) {
    if func.sig.asyncness.is_none() {
        cx.error(
            func.sig.fn_token,
            format_args!("the handler `{}` is not an `async fn`", func.sig.ident),
            "axum handlers are async: write `async fn`",
        );
    }
    if let Some(receiver) = func.sig.receiver() {
        cx.error(
            receiver,
            "a handler cannot take `self`",
            "make it a free function: axum calls it with extractors only",
        );
    }
}

fn versions_key(cx: &mut Ctxt, key: &KeyArg) -> Option<VersionRange> {
    let KeyValue::Eq(value) = &key.value else {
        cx.error(
            &key.tokens,
            "expected `versions = ..`",
            "write `versions = 1..`, `1..3`, `1..=2` or `2`",
        );
        return None;
    };
    match syn::parse2::<RangeSyntax>(value.clone()) {
        Ok(syntax) => range(cx, &syntax),
        Err(err) => {
            cx.push(syn::Error::new(
                err.span(),
                with_help(
                    format_args!("invalid version range `{value}`: {err}"),
                    "write `1..` (from 1 on), `1..3` (1 and 2), `1..=2` or `2` (only 2); \
                     dates as strings: `\"2026-01-15\"..`",
                ),
            ));
            None
        }
    }
}

fn deprecated_key(cx: &mut Ctxt, key: &KeyArg) -> Option<Deprecation> {
    match &key.value {
        KeyValue::List(args, _) => deprecation(cx, key.key.span(), args.clone()),
        KeyValue::Eq(_) => {
            cx.error(
                &key.tokens,
                "expected `deprecated(since = ..)`",
                "write `deprecated(since = \"YYYY-MM-DD\", sunset = \"YYYY-MM-DD\", docs = \"https://..\")`",
            );
            None
        }
    }
}

fn crate_key(cx: &mut Ctxt, key: &KeyArg) -> Option<LitStr> {
    let lit = match &key.value {
        KeyValue::Eq(value) => syn::parse2::<LitStr>(value.clone()).ok(),
        KeyValue::List(..) => None,
    };
    if lit.is_none() {
        cx.error(
            &key.tokens,
            "expected `crate = \"path\"`",
            "name the crate as a string: `crate = \"my_core\"`",
        );
    }
    lit
}

const SUCCESSOR_HELP: &str =
    "write `successor = 2`, or `successor(version = 2, path = \"/projects/{id}\")`";

fn successor_key(cx: &mut Ctxt, key: &KeyArg) -> Option<Successor> {
    match &key.value {
        KeyValue::Eq(value) => match syn::parse2::<Lit>(value.clone()) {
            Ok(lit) => version(cx, &lit).map(|v| Successor {
                version: v.value,
                span: v.span,
                path: None,
            }),
            Err(_) => {
                cx.error(
                    value,
                    format_args!("`{value}` is not a version"),
                    SUCCESSOR_HELP,
                );
                None
            }
        },
        KeyValue::List(args, span) => {
            let parsed = syn::parse::Parser::parse2(
                Punctuated::<MetaNameValue, Token![,]>::parse_terminated,
                args.clone(),
            );
            let args = match parsed {
                Ok(args) => args,
                Err(err) => {
                    cx.push(syn::Error::new(err.span(), with_help(err, SUCCESSOR_HELP)));
                    return None;
                }
            };
            let mut found_version: Option<Option<Version>> = None;
            let mut path: Option<String> = None;
            let mut ok = true;
            for arg in &args {
                let name = arg.path.get_ident().map(ToString::to_string);
                let lit = match &arg.value {
                    Expr::Lit(ExprLit { lit, .. }) => Some(lit),
                    _ => None,
                };
                match (name.as_deref(), lit) {
                    (Some("version"), _) if found_version.is_some() => {
                        duplicate(cx, &arg.path, "version");
                        ok = false;
                    }
                    (Some("path"), _) if path.is_some() => {
                        duplicate(cx, &arg.path, "path");
                        ok = false;
                    }
                    (Some("version"), Some(lit)) => found_version = Some(version(cx, lit)),
                    (Some("path"), Some(Lit::Str(lit))) => {
                        if !lit.value().starts_with('/') {
                            cx.error(
                                lit,
                                format_args!("the path `{}` does not start with `/`", lit.value()),
                                "write the successor's path from the root, without the version prefix",
                            );
                            ok = false;
                        }
                        path = Some(lit.value());
                    }
                    (Some("version" | "path"), _) => {
                        cx.error(&arg.value, "expected a literal", SUCCESSOR_HELP);
                        ok = false;
                    }
                    _ => {
                        let key = arg.path.to_token_stream().to_string().replace(' ', "");
                        cx.error(
                            &arg.path,
                            format_args!("unknown key `{key}` in successor(...)"),
                            "expected `version` or `path`",
                        );
                        ok = false;
                    }
                }
            }
            match found_version {
                Some(Some(v)) if ok => Some(Successor {
                    version: v.value,
                    span: v.span,
                    path,
                }),
                Some(_) => None,
                None => {
                    cx.error_at(*span, "`successor(...)` needs a `version`", SUCCESSOR_HELP);
                    None
                }
            }
        }
    }
}

fn duplicate(cx: &mut Ctxt, path: &syn::Path, key: &str) {
    cx.error(
        path,
        format_args!("duplicate `{key}` in successor(...)"),
        "write each key once; remove this one",
    );
}

/// A successor must be a version of the same kind, newer than the endpoint's first.
fn successor_after_range(cx: &mut Ctxt, args: &[Arg], range: &VersionRange, successor: &Successor) {
    let span = args
        .iter()
        .find_map(|arg| match arg {
            Arg::Key(key) if key.name() == "successor" => Some(key.tokens.span()),
            _ => None,
        })
        .unwrap_or_else(Span::call_site);
    let introduced = range.introduced.value;
    if successor.version.kind() != introduced.kind() {
        cx.error_at(
            span,
            format_args!(
                "the successor {} is {}, but the endpoint's first version, {}, is {}",
                successor.version,
                successor.version.kind().describe(),
                introduced,
                introduced.kind().describe(),
            ),
            "an API's versions are all integers or all dates, never mixed",
        );
    } else if successor.version <= introduced {
        cx.error_at(
            span,
            format_args!(
                "the successor {} is not newer than the endpoint's first version, {}",
                successor.version, introduced
            ),
            "name the newer version clients should move to",
        );
    }
}

#[cfg(test)]
mod tests {
    use super::super::attr::args;
    use super::*;
    use quote::quote;

    fn func() -> ItemFn {
        syn::parse_quote!(
            async fn h() {}
        )
    }

    fn errors(attr: TokenStream, func: &ItemFn) -> Vec<String> {
        match check(&args(attr), Ok(func)) {
            Ok(_) => Vec::new(),
            Err(failure) => failure.errors.into_iter().map(|e| e.to_string()).collect(),
        }
    }

    #[test]
    fn known_keys_are_taken_and_the_rest_describe_the_operation() {
        let f = func();
        let args = args(quote! {
            post, "/projects", versions = 1..3, tag = "projects",
            deprecated(since = "2026-01-01", sunset = "2027-01-01"),
            successor(version = 3, path = "/v3-projects"),
            responses((status = 201, body = Project)),
        });
        let endpoint = check(&args, Ok(&f)).unwrap();
        assert_eq!(endpoint.method, Method::Post);
        assert_eq!(endpoint.path.value(), "/projects");
        assert_eq!(endpoint.range.introduced.value, VersionValue::Int(1));
        assert_eq!(endpoint.range.removed.unwrap().value, VersionValue::Int(3));
        assert_eq!(endpoint.deprecation.unwrap().since, 1_767_225_600);
        let successor = endpoint.successor.unwrap();
        assert_eq!(successor.version, VersionValue::Int(3));
        assert_eq!(successor.path.as_deref(), Some("/v3-projects"));
        let operation = &endpoint.operation;
        let tags: Vec<String> = operation.tags.iter().map(LitStr::value).collect();
        assert_eq!(tags, ["projects"]);
        assert_eq!(operation.statuses(), ["201"]);
    }

    #[test]
    fn every_mistake_is_reported_together() {
        let f: ItemFn = syn::parse_quote!(
            fn h() {}
        );
        let found = errors(
            quote! {
                fetch, "projects", versions = 3..2, tag = "a", tag = "b",
                deprecated(since = "2026-01-01", sunset = "2025-01-01"),
                path = "/x", successor = "soon",
            },
            &f,
        );
        let expected = [
            "unknown HTTP method `fetch`",
            "the path `projects` does not start with `/`",
            "the range `3..2` holds no version",
            "duplicate `tag`",
            "the sunset is earlier than the deprecation",
            "`path` is not allowed",
            "invalid date version",
            "the handler `h` is not an `async fn`",
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
    fn method_path_and_versions_are_required() {
        let f = func();
        assert!(errors(quote!(), &f)[0].starts_with("missing the HTTP method and the path"));
        let found = errors(quote!("/x", versions = 1..), &f);
        assert!(found[0].starts_with("missing the HTTP method"), "{found:?}");
        let found = errors(quote!(get, versions = 1..), &f);
        assert_eq!(found.len(), 1);
        assert!(found[0].starts_with("missing the path"), "{found:?}");
        let found = errors(quote!(get, "/x"), &f);
        assert!(found[0].starts_with("missing `versions"), "{found:?}");
        let found = errors(quote!(get, post, "/x", versions = 1..), &f);
        assert!(
            found[0].starts_with("the method `post` must come first"),
            "{found:?}"
        );
    }

    #[test]
    fn successors_are_checked_against_the_range() {
        let f = func();
        let found = errors(quote!(get, "/x", versions = 2.., successor = 2), &f);
        assert!(
            found[0].starts_with("the successor 2 is not newer"),
            "{found:?}"
        );
        let found = errors(
            quote!(get, "/x", versions = 2.., successor = "2026-01-01"),
            &f,
        );
        assert!(
            found[0].starts_with("the successor \"2026-01-01\" is a date version"),
            "{found:?}"
        );
        let found = errors(
            quote!(
                get,
                "/x",
                versions = 1..2,
                successor(path = "x", colour = 1)
            ),
            &f,
        );
        assert_eq!(found.len(), 3, "{found:?}");
    }

    #[test]
    fn a_non_function_gets_no_fallback() {
        let err = syn::parse2::<ItemFn>(quote!(
            struct S;
        ))
        .unwrap_err();
        let failure = check(&args(quote!(get, "/x", versions = 1..)), Err(&err)).unwrap_err();
        assert!(failure.fallback.is_none());
        assert!(
            failure
                .errors
                .to_string()
                .starts_with("#[endpoint] goes on an `async fn`")
        );
    }
}
