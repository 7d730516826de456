//! What the handler's types already say about its OpenAPI operation, and the checks that keep
//! the attribute from contradicting them.
//!
//! An endpoint that does not write `responses(..)`, `request_body` or `params(..)` gets them
//! from its signature: `-> ApiResult<Json<T>>` is a 200 with a body of `T`, a `Json<T>`
//! argument is the request body, `Path<..>` and `Query<Q>` are the parameters. When the
//! attribute does declare them, it must agree with the signature: a handler that returns
//! `Json<T>` while no response declares `body = T` is an error, because the document would
//! then describe something else than what is sent, and version changes of `T` (which follow
//! the document's schemas) would silently not apply to it.

use proc_macro2::{Delimiter, TokenStream, TokenTree};
use quote::{ToTokens, quote};
use syn::spanned::Spanned;
use syn::{FnArg, GenericArgument, ItemFn, LitStr, PathArguments, ReturnType, Type};

use super::attr::{KeyArg, KeyValue};
use super::operation::{is_scalar, split_commas};
use crate::ctxt::Ctxt;

/// The `Json<T>` payload of a type, and whether the status is known to be 200: `Json<T>`,
/// `Result<Json<T>, _>` or `ApiResult<Json<T>>` are, `(StatusCode, Json<T>)` is not.
fn json_payload(ty: &Type) -> Option<(&Type, bool)> {
    match ty {
        Type::Paren(inner) => json_payload(&inner.elem),
        Type::Group(inner) => json_payload(&inner.elem),
        Type::Tuple(tuple) => tuple
            .elems
            .iter()
            .find_map(json_payload)
            .map(|(t, _)| (t, false)),
        Type::Path(path) => {
            let last = path.path.segments.last()?;
            let args: Vec<&Type> = match &last.arguments {
                PathArguments::AngleBracketed(args) => args
                    .args
                    .iter()
                    .filter_map(|a| match a {
                        GenericArgument::Type(t) => Some(t),
                        _ => None,
                    })
                    .collect(),
                _ => Vec::new(),
            };
            match (last.ident.to_string().as_str(), args.as_slice()) {
                ("Json", [payload]) => Some((payload, true)),
                // The error side of a Result is an error response, not the success body.
                ("Result" | "ApiResult", [ok, ..]) => json_payload(ok),
                _ => None,
            }
        }
        _ => None,
    }
}

/// The one generic argument of `Name<T>` when `ty`'s last segment is `Name`.
fn extractor<'t>(ty: &'t Type, name: &str) -> Option<&'t Type> {
    let Type::Path(path) = ty else { return None };
    let last = path.path.segments.last()?;
    if last.ident != name {
        return None;
    }
    match &last.arguments {
        PathArguments::AngleBracketed(args) => match args.args.first()? {
            GenericArgument::Type(t) if args.args.len() == 1 => Some(t),
            _ => None,
        },
        _ => None,
    }
}

/// A type with each path reduced to its last segment and `[T]` written `Vec<T>`, so that
/// `crate::api::TaskBody` and `TaskBody`, or `body = [T]` and `Json<Vec<T>>`, compare equal.
fn normalize(ty: &Type) -> String {
    match ty {
        Type::Paren(inner) => normalize(&inner.elem),
        Type::Group(inner) => normalize(&inner.elem),
        Type::Slice(slice) => format!("Vec<{}>", normalize(&slice.elem)),
        Type::Array(array) => format!("Vec<{}>", normalize(&array.elem)),
        Type::Reference(r) => normalize(&r.elem),
        Type::Path(path) if path.qself.is_none() => match path.path.segments.last() {
            Some(last) => match &last.arguments {
                PathArguments::AngleBracketed(args) => {
                    let inner: Vec<String> = args
                        .args
                        .iter()
                        .map(|a| match a {
                            GenericArgument::Type(t) => normalize(t),
                            other => other.to_token_stream().to_string().replace(' ', ""),
                        })
                        .collect();
                    format!("{}<{}>", last.ident, inner.join(","))
                }
                _ => last.ident.to_string(),
            },
            None => String::new(),
        },
        other => other.to_token_stream().to_string().replace(' ', ""),
    }
}

/// The value of `key = value` among comma-separated tokens, parsed as a type; `inline(T)`
/// is `T`.
fn keyed_type(tokens: TokenStream, key: &str) -> Option<Type> {
    split_commas(tokens).into_iter().find_map(|part| {
        let mut trees = part.into_iter();
        match (trees.next(), trees.next()) {
            (Some(TokenTree::Ident(k)), Some(TokenTree::Punct(eq)))
                if k == key && eq.as_char() == '=' =>
            {
                let rest: TokenStream = trees.collect();
                let rest = match rest.clone().into_iter().collect::<Vec<_>>().as_slice() {
                    [TokenTree::Ident(inline), TokenTree::Group(g)]
                        if inline == "inline" && g.delimiter() == Delimiter::Parenthesis =>
                    {
                        g.stream()
                    }
                    _ => rest,
                };
                syn::parse2::<Type>(rest).ok()
            }
            _ => None,
        }
    })
}

/// What `responses(..)` declares: `None` when it names an `IntoResponses` type (opaque to
/// the macro), else the body types of its tuples.
fn declared_bodies(list: &TokenStream) -> Option<Vec<Type>> {
    let mut bodies = Vec::new();
    for part in split_commas(list.clone()) {
        let trees: Vec<TokenTree> = part.into_iter().collect();
        match trees.as_slice() {
            [TokenTree::Group(g)] if g.delimiter() == Delimiter::Parenthesis => {
                bodies.extend(keyed_type(g.stream(), "body"));
            }
            _ => return None,
        }
    }
    Some(bodies)
}

/// What `params(..)` declares: names of tuple parameters (`("id" = Uuid, Path)`), and
/// whether a type (an `IntoParams` struct, whose names the macro cannot see) is among them.
fn declared_params(list: &TokenStream) -> (Vec<String>, bool) {
    let mut names = Vec::new();
    let mut opaque = false;
    for part in split_commas(list.clone()) {
        let trees: Vec<TokenTree> = part.into_iter().collect();
        match trees.as_slice() {
            [TokenTree::Group(g)] if g.delimiter() == Delimiter::Parenthesis => {
                if let Some(TokenTree::Literal(lit)) = g.stream().into_iter().next()
                    && let Ok(lit) = syn::parse2::<LitStr>(lit.into_token_stream())
                {
                    names.push(lit.value());
                }
            }
            _ => opaque = true,
        }
    }
    (names, opaque)
}

/// The `{name}`s of a path template, in order.
pub(crate) fn path_names(path: &str) -> Vec<String> {
    path.split('{')
        .skip(1)
        .filter_map(|rest| rest.split_once('}'))
        .map(|(name, _)| name.trim_start_matches('*').to_string())
        .collect()
}

fn key<'k>(keys: &[&'k KeyArg], name: &str) -> Option<&'k KeyArg> {
    keys.iter().copied().find(|k| k.name() == name)
}

fn list_of(key: &KeyArg) -> TokenStream {
    match &key.value {
        KeyValue::List(list, _) => list.clone(),
        KeyValue::Eq(value) => value.clone(),
    }
}

/// Checks the declared `responses`, `request_body` and `params` against the handler's
/// signature, and returns the arguments to add for those not declared (in the attribute's syntax).
pub(crate) fn infer(
    cx: &mut Ctxt,
    func: &ItemFn,
    path: &LitStr,
    keys: &[&KeyArg],
) -> Vec<TokenStream> {
    let mut extra = Vec::new();
    let name = &func.sig.ident;
    if let ReturnType::Type(_, ret) = &func.sig.output
        && let Some((body, status_known)) = json_payload(ret)
    {
        responses(cx, name, ret, body, status_known, keys, &mut extra);
    }
    let arg_types: Vec<&Type> = func
        .sig
        .inputs
        .iter()
        .filter_map(|arg| match arg {
            FnArg::Typed(typed) => Some(&*typed.ty),
            FnArg::Receiver(_) => None,
        })
        .collect();
    if let Some(body) = arg_types.iter().find_map(|t| extractor(t, "Json")) {
        request_body(cx, name, body, keys, &mut extra);
    }
    let names = path_names(&path.value());
    let path_arg = arg_types.iter().find_map(|t| extractor(t, "Path"));
    let query_arg = arg_types.iter().find_map(|t| extractor(t, "Query"));
    match key(keys, "params") {
        Some(declared) => {
            let (declared_names, opaque) = declared_params(&list_of(declared));
            if !opaque {
                for missing in names.iter().filter(|n| !declared_names.contains(n)) {
                    cx.error(
                        &declared.tokens,
                        format_args!(
                            "the path `{}` has `{{{missing}}}`, but `params(..)` does not \
                             declare it",
                            path.value()
                        ),
                        format_args!(
                            "add `(\"{missing}\" = <its type>, Path)` to `params(..)`, or \
                             remove `params(..)` and let the `Path<..>` argument say it"
                        ),
                    );
                }
            }
        }
        None => {
            let mut params = Vec::new();
            if let Some(ty) = path_arg {
                params.extend(path_params(cx, path, &names, ty));
            }
            if let Some(ty) = query_arg {
                params.push(quote!(#ty));
            }
            if !params.is_empty() {
                extra.push(quote!(params(#(#params),*)));
            }
        }
    }
    extra
}

fn responses(
    cx: &mut Ctxt,
    name: &syn::Ident,
    ret: &Type,
    body: &Type,
    status_known: bool,
    keys: &[&KeyArg],
    extra: &mut Vec<TokenStream>,
) {
    let shown = normalize(body);
    let Some(declared) = key(keys, "responses") else {
        if status_known {
            extra.push(quote!(responses((status = 200, body = #body))));
        } else {
            cx.error(
                ret,
                format_args!(
                    "`{name}` returns `Json<{shown}>` with a status chosen at run time, and \
                     declares no `responses(..)`"
                ),
                format_args!(
                    "declare the status it answers with: `responses((status = 201, body = \
                     {shown}))`"
                ),
            );
        }
        return;
    };
    let Some(bodies) = declared_bodies(&list_of(declared)) else {
        return;
    };
    if bodies.is_empty() {
        cx.error(
            &declared.tokens,
            format_args!(
                "`{name}` returns `Json<{shown}>`, but no response in `responses(..)` has a body"
            ),
            format_args!(
                "add `body = {shown}` to the success response: without it the OpenAPI document \
                 does not describe what is sent, and version changes of `{shown}` cannot apply"
            ),
        );
    } else if !bodies.iter().any(|b| normalize(b) == shown) {
        let listed: Vec<String> = bodies.iter().map(normalize).collect();
        cx.error(
            &declared.tokens,
            format_args!(
                "`{name}` returns `Json<{shown}>`, but `responses(..)` declares the body `{}`",
                listed.join("`, `")
            ),
            format_args!(
                "declare `body = {shown}`: the document must describe what the handler returns"
            ),
        );
    }
}

fn request_body(
    cx: &mut Ctxt,
    name: &syn::Ident,
    body: &Type,
    keys: &[&KeyArg],
    extra: &mut Vec<TokenStream>,
) {
    let Some(declared) = key(keys, "request_body") else {
        extra.push(quote!(request_body = #body));
        return;
    };
    let declared_type = match &declared.value {
        KeyValue::Eq(value) => syn::parse2::<Type>(value.clone()).ok(),
        KeyValue::List(list, _) => keyed_type(list.clone(), "content"),
    };
    if let Some(declared_type) = declared_type {
        let shown = normalize(body);
        if normalize(&declared_type) != shown {
            cx.error(
                &declared.tokens,
                format_args!(
                    "`{name}` takes `Json<{shown}>`, but `request_body` declares `{}`",
                    normalize(&declared_type)
                ),
                format_args!(
                    "write `request_body = {shown}`, or remove `request_body` and let the \
                     argument say it"
                ),
            );
        }
    }
}

/// `params(..)` entries for a `Path<ty>` argument: one per `{name}`, typed from the tuple.
fn path_params(cx: &mut Ctxt, path: &LitStr, names: &[String], ty: &Type) -> Vec<TokenStream> {
    let types: Vec<&Type> = match ty {
        Type::Tuple(tuple) => tuple.elems.iter().collect(),
        other => {
            let scalar = matches!(
                other,
                Type::Path(p) if p.path.segments.last().is_some_and(|s| is_scalar(&s.ident.to_string()))
            );
            if !scalar {
                // A struct of parameters: its names come from its `IntoParams`.
                return vec![quote!(#ty)];
            }
            vec![other]
        }
    };
    if types.len() != names.len() {
        cx.error_at(
            ty.span(),
            format_args!(
                "`Path<{}>` has {} value(s), but the path `{}` has {} parameter(s)",
                normalize(ty),
                types.len(),
                path.value(),
                names.len()
            ),
            "extract one value per `{name}` in the path, in order: `Path<(Uuid, Uuid)>` for \
             `/projects/{project}/tasks/{task}`",
        );
        return Vec::new();
    }
    names
        .iter()
        .zip(types)
        .map(|(name, ty)| quote!((#name = #ty, Path)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::super::attr::{Arg, args, keys};
    use super::*;

    fn run(attr: TokenStream, func: ItemFn) -> Result<Vec<String>, String> {
        let args = args(attr);
        let keys = keys(&args);
        let path = args
            .iter()
            .find_map(|a| match a {
                Arg::Str(s) => Some(s.clone()),
                _ => None,
            })
            .unwrap();
        let mut cx = Ctxt::new();
        let extra = infer(&mut cx, &func, &path, &keys);
        cx.finish().map_err(crate::ctxt::messages)?;
        Ok(extra.iter().map(|t| t.to_string()).collect())
    }

    #[test]
    fn a_bare_signature_gives_responses_body_and_params() {
        let extra = run(
            quote!(patch, "/projects/{project}/tasks/{task}"),
            syn::parse_quote! {
                async fn f(tx: TenantTx, Path((p, t)): Path<(Uuid, Uuid)>, Query(q): Query<PageQuery>, Json(i): Json<TaskInput>) -> ApiResult<Json<TaskBody>> {}
            },
        )
        .unwrap();
        assert_eq!(
            extra,
            [
                "responses ((status = 200 , body = TaskBody))",
                "request_body = TaskInput",
                "params ((\"project\" = Uuid , Path) , (\"task\" = Uuid , Path) , PageQuery)",
            ]
        );
    }

    #[test]
    fn declared_parts_that_agree_add_nothing() {
        let extra = run(
            quote!(post, "/things/{id}", params(("id" = Uuid, Path, description = "x")),
                request_body = crate::api::NewThing,
                responses((status = 201, description = "Created", body = [Thing]), (status = 404))),
            syn::parse_quote! {
                async fn f(Path(id): Path<Uuid>, Json(i): Json<NewThing>) -> Result<(StatusCode, Json<Vec<Thing>>), ApiError> {}
            },
        )
        .unwrap();
        assert!(extra.is_empty(), "{extra:?}");
    }

    #[test]
    fn a_json_return_without_a_declared_body_is_an_error() {
        let err = run(
            quote!(
                get,
                "/notes",
                responses((status = 200, description = "Notes"))
            ),
            syn::parse_quote!(
                async fn list() -> ApiResult<Json<NotePage>> {}
            ),
        )
        .unwrap_err();
        assert!(
            err.contains(
                "`list` returns `Json<NotePage>`, but no response in `responses(..)` has a body"
            ),
            "{err}"
        );
        assert!(err.contains("add `body = NotePage`"), "{err}");
    }

    #[test]
    fn a_body_that_differs_from_the_return_type_is_an_error() {
        let err = run(
            quote!(get, "/notes", responses((status = 200, body = NoteV1))),
            syn::parse_quote!(
                async fn list() -> Json<NoteBody> {}
            ),
        )
        .unwrap_err();
        assert!(err.contains("declares the body `NoteV1`"), "{err}");
        let err = run(
            quote!(post, "/notes", request_body = NoteInputV1),
            syn::parse_quote!(
                async fn create(Json(i): Json<NoteInput>) -> StatusCode {}
            ),
        )
        .unwrap_err();
        assert!(
            err.contains(
                "`create` takes `Json<NoteInput>`, but `request_body` declares `NoteInputV1`"
            ),
            "{err}"
        );
    }

    #[test]
    fn a_status_chosen_at_run_time_must_be_declared() {
        let err = run(
            quote!(post, "/notes"),
            syn::parse_quote!(
                async fn create() -> ApiResult<(StatusCode, Json<NoteBody>)> {}
            ),
        )
        .unwrap_err();
        assert!(
            err.contains("`responses((status = 201, body = NoteBody))`"),
            "{err}"
        );
    }

    #[test]
    fn path_parameters_must_match_the_template() {
        let err = run(
            quote!(get, "/notes/{id}", params(("note" = Uuid, Path))),
            syn::parse_quote!(
                async fn get(Path(id): Path<Uuid>) -> StatusCode {}
            ),
        )
        .unwrap_err();
        assert!(
            err.contains("has `{id}`, but `params(..)` does not declare it"),
            "{err}"
        );
        let err = run(
            quote!(get, "/a/{x}/b/{y}"),
            syn::parse_quote!(
                async fn get(Path(id): Path<Uuid>) -> StatusCode {}
            ),
        )
        .unwrap_err();
        assert!(
            err.contains("`Path<Uuid>` has 1 value(s), but the path `/a/{x}/b/{y}` has 2"),
            "{err}"
        );
        // A struct of parameters and an IntoParams type in params(..) are read through IntoParams.
        let extra = run(
            quote!(get, "/a/{x}/b/{y}"),
            syn::parse_quote!(
                async fn get(Path(p): Path<Ids>) -> StatusCode {}
            ),
        )
        .unwrap();
        assert_eq!(extra, ["params (Ids)"]);
        assert!(
            run(
                quote!(get, "/a/{x}", params(Ids)),
                syn::parse_quote!(
                    async fn get(Path(p): Path<Ids>) -> StatusCode {}
                ),
            )
            .unwrap()
            .is_empty()
        );
    }

    #[test]
    fn types_compare_by_their_last_segments() {
        let a: Type = syn::parse_quote!(crate::api::Page<super::Task>);
        let b: Type = syn::parse_quote!(Page<Task>);
        assert_eq!(normalize(&a), normalize(&b));
        let slice: Type = syn::parse_quote!([Task]);
        let vec: Type = syn::parse_quote!(Vec<Task>);
        assert_eq!(normalize(&slice), normalize(&vec));
        assert_eq!(path_names("/a/{x}/b/{*rest}"), ["x", "rest"]);
    }
}
