//! The OpenAPI operation of an endpoint: the attribute's `params`, `request_body`,
//! `responses`, `tag`, ... (as written, or as [`infer`](super::infer) read them off the
//! signature) parsed into an [`OperationSpec`], and the code that builds it at run time through
//! `saas_core::openapi::operation` — utoipa's public traits only, no `utoipa::path`.

use proc_macro2::{Delimiter, Span, TokenStream, TokenTree};
use quote::{ToTokens, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{Expr, ExprLit, FnArg, GenericArgument, ItemFn, Lit, LitStr, Meta, PathArguments, Type};

use super::attr::{KeyArg, KeyValue, args};
use crate::ctxt::Ctxt;

/// The keys that describe the operation, for `help:` lines.
pub(crate) const KEYS: &str = "`params(..)`, `request_body`, `responses(..)`, `tag`, `tags`, \
     `operation_id`, `summary`, `description`";

/// Scalar types, by their last path segment: their schema is one value written in place
/// (`{"type": "string", "format": "uuid"}`), never a `$ref`, and as the `T` of a `Path<T>`
/// they are one path parameter, not a struct of parameters. The one list both uses read.
const SCALARS: &[&str] = &[
    "Uuid",
    "String",
    "str",
    "TenantId",
    "bool",
    "char",
    "i8",
    "i16",
    "i32",
    "i64",
    "i128",
    "isize",
    "u8",
    "u16",
    "u32",
    "u64",
    "u128",
    "usize",
    "f32",
    "f64",
    "OffsetDateTime",
    "Date",
    "Value",
];

/// Whether a type named `name` (its last path segment) is one of the [`SCALARS`].
pub(super) fn is_scalar(name: &str) -> bool {
    SCALARS.contains(&name)
}

/// A type in the document: referenced, written in place (`inline(T)` or a scalar), or a list.
#[derive(Debug, Clone)]
pub(crate) enum Shape {
    /// A component schema, referenced.
    Ref(Type),
    /// A scalar, written in place.
    Inline(Type),
    /// `inline(T)`: a component's schema written in place (its own references still collected).
    Embedded(Type),
    Array(Box<Shape>),
}

impl Shape {
    fn of(ty: &Type) -> Shape {
        match ty {
            Type::Paren(inner) => Shape::of(&inner.elem),
            Type::Group(inner) => Shape::of(&inner.elem),
            Type::Reference(r) => Shape::of(&r.elem),
            Type::Slice(slice) => Shape::Array(Box::new(Shape::of(&slice.elem))),
            Type::Array(array) => Shape::Array(Box::new(Shape::of(&array.elem))),
            Type::Path(path) if path.qself.is_none() => {
                let Some(last) = path.path.segments.last() else {
                    return Shape::Inline(ty.clone());
                };
                let name = last.ident.to_string();
                if name == "Vec"
                    && let PathArguments::AngleBracketed(a) = &last.arguments
                    && let [GenericArgument::Type(item)] = a.args.iter().collect::<Vec<_>>()[..]
                {
                    return Shape::Array(Box::new(Shape::of(item)));
                }
                if is_scalar(&name) || name == "Option" {
                    Shape::Inline(ty.clone())
                } else {
                    Shape::Ref(ty.clone())
                }
            }
            _ => Shape::Inline(ty.clone()),
        }
    }

    /// `T` of `inline(T)`, or the type's own shape.
    fn parse(cx: &mut Ctxt, tokens: &TokenStream) -> Option<Shape> {
        let trees: Vec<TokenTree> = tokens.clone().into_iter().collect();
        let (inline, tokens) = match trees.as_slice() {
            [TokenTree::Ident(word), TokenTree::Group(g)]
                if word == "inline" && g.delimiter() == Delimiter::Parenthesis =>
            {
                (true, g.stream())
            }
            _ => (false, tokens.clone()),
        };
        match syn::parse2::<Type>(tokens.clone()) {
            Ok(ty) if inline => Some(Shape::Embedded(ty)),
            Ok(ty) => Some(Shape::of(&ty)),
            Err(_) => {
                cx.error(
                    &tokens,
                    format_args!("`{tokens}` is not a type"),
                    "write a type: `body = TaskBody`, `body = [TaskBody]` or `body = inline(T)`",
                );
                None
            }
        }
    }

    /// The expression building the schema, spanned at the type so a missing `ToSchema` is
    /// reported there.
    fn schema(&self, private: &TokenStream) -> TokenStream {
        match self {
            Shape::Ref(ty) => {
                quote_spanned! {ty.span()=> #private::op::component::<#ty>().reference }
            }
            Shape::Inline(ty) => quote_spanned! {ty.span()=> #private::op::inline::<#ty>() },
            Shape::Embedded(ty) => {
                quote_spanned! {ty.span()=> (#private::op::component::<#ty>().schema)() }
            }
            Shape::Array(item) => {
                let item = item.schema(private);
                quote!(#private::op::array(#item))
            }
        }
    }

    /// The statements adding the component schemas this shape refers to.
    fn collect(&self, private: &TokenStream) -> TokenStream {
        match self {
            Shape::Ref(ty) => {
                quote_spanned! {ty.span()=> (#private::op::component::<#ty>().collect)(out); }
            }
            Shape::Inline(_) => TokenStream::new(),
            Shape::Embedded(ty) => {
                quote_spanned! {ty.span()=> (#private::op::component::<#ty>().nested)(out); }
            }
            Shape::Array(item) => item.collect(private),
        }
    }

    /// The default content type: `text/plain` for strings, JSON otherwise.
    fn content_type(&self) -> &'static str {
        match self {
            Shape::Inline(Type::Path(p))
                if p.path
                    .segments
                    .last()
                    .is_some_and(|s| s.ident == "String" || s.ident == "str") =>
            {
                "text/plain"
            }
            _ => "application/json",
        }
    }
}

/// A body: the request's or a response's.
#[derive(Debug, Clone)]
pub(crate) struct Body {
    shape: Shape,
    content_type: Option<LitStr>,
}

impl Body {
    fn content_type(&self) -> TokenStream {
        match &self.content_type {
            Some(lit) => lit.to_token_stream(),
            None => {
                let ct = self.shape.content_type();
                quote!(#ct)
            }
        }
    }
}

#[derive(Debug, Clone)]
enum Param {
    /// `("id" = Uuid, Path, description = "..")`.
    One {
        name: LitStr,
        shape: Option<Shape>,
        location: &'static str,
        optional: bool,
        description: Option<LitStr>,
    },
    /// An `IntoParams` type, and where it is read from when the signature says.
    Type {
        ty: Type,
        location: Option<&'static str>,
    },
}

#[derive(Debug, Clone)]
enum Response {
    One {
        status: String,
        description: Option<LitStr>,
        body: Option<Body>,
    },
    /// An `IntoResponses` type.
    Type(Type),
}

/// The whole operation, as the attribute and the signature describe it.
#[derive(Debug, Clone, Default)]
pub(crate) struct OperationSpec {
    operation_id: Option<LitStr>,
    summary: Option<LitStr>,
    description: Option<LitStr>,
    pub(crate) tags: Vec<LitStr>,
    params: Vec<Param>,
    request_body: Option<(Body, Option<LitStr>)>,
    responses: Vec<Response>,
}

impl OperationSpec {
    /// The declared response statuses, in order (`IntoResponses` types are not expanded).
    #[cfg(test)]
    pub(crate) fn statuses(&self) -> Vec<&str> {
        self.responses
            .iter()
            .filter_map(|r| match r {
                Response::One { status, .. } => Some(status.as_str()),
                Response::Type(_) => None,
            })
            .collect()
    }
}

/// Parses the operation's keys (`keys`, as written, then `inferred`, as `infer` wrote them).
pub(crate) fn parse(
    cx: &mut Ctxt,
    func: &ItemFn,
    keys: &[&KeyArg],
    inferred: &[TokenStream],
) -> OperationSpec {
    let inferred: Vec<KeyArg> = inferred
        .iter()
        .flat_map(|tokens| args(tokens.clone()))
        .filter_map(|arg| match arg {
            super::attr::Arg::Key(key) => Some(key),
            _ => None,
        })
        .collect();
    let mut spec = OperationSpec::default();
    for key in keys.iter().copied().chain(inferred.iter()) {
        let name = key.name();
        match (name.as_str(), &key.value) {
            ("operation_id", KeyValue::Eq(v)) => spec.operation_id = lit_str(cx, v),
            ("summary", KeyValue::Eq(v)) => spec.summary = lit_str(cx, v),
            ("description", KeyValue::Eq(v)) => spec.description = lit_str(cx, v),
            ("tag", KeyValue::Eq(v)) => spec.tags.extend(lit_str(cx, v)),
            ("tags", KeyValue::Eq(v)) => match syn::parse2::<syn::ExprArray>(v.clone()) {
                Ok(array) => {
                    for elem in &array.elems {
                        spec.tags.extend(lit_str(cx, &elem.to_token_stream()));
                    }
                }
                Err(_) => cx.error(v, "expected `tags = [\"a\", \"b\"]`", "list the tags as strings"),
            },
            ("params", KeyValue::List(list, _)) => {
                for part in split_commas(list.clone()) {
                    spec.params.extend(param(cx, func, &part));
                }
            }
            ("request_body", KeyValue::Eq(v)) => {
                spec.request_body = Shape::parse(cx, v).map(|shape| {
                    (
                        Body {
                            shape,
                            content_type: None,
                        },
                        None,
                    )
                });
            }
            ("request_body", KeyValue::List(list, _)) => {
                spec.request_body = request_body_list(cx, list);
            }
            ("responses", KeyValue::List(list, _)) => {
                for part in split_commas(list.clone()) {
                    spec.responses.extend(response(cx, &part));
                }
            }
            ("security", _) => cx.error(
                &key.tokens,
                "`security` is not an `#[endpoint]` key",
                "every tenant route requires the bearer token, and the document says so; \
                 remove `security(..)`",
            ),
            ("operation_id" | "summary" | "description" | "tag" | "tags", _)
            | ("params" | "responses", KeyValue::Eq(_)) => cx.error(
                &key.tokens,
                format_args!("malformed `{name}`"),
                "write `tag = \"x\"`, `tags = [\"x\"]`, `operation_id = \"x\"`, `request_body = T`, \
                 `params(..)`, `responses(..)`",
            ),
            _ => cx.error(
                &key.key,
                format_args!("unknown key `{name}` in #[endpoint(...)]"),
                format_args!(
                    "the keys are `versions`, `deprecated(..)`, `successor`, `crate` and, for \
                     the OpenAPI operation, {KEYS}"
                ),
            ),
        }
    }
    spec
}

fn lit_str(cx: &mut Ctxt, tokens: &TokenStream) -> Option<LitStr> {
    match syn::parse2::<LitStr>(tokens.clone()) {
        Ok(lit) => Some(lit),
        Err(_) => {
            cx.error(
                tokens,
                format_args!("expected a string, found `{tokens}`"),
                "write it as a string literal: `\"...\"`",
            );
            None
        }
    }
}

/// Splits tokens at top-level commas.
pub(crate) fn split_commas(tokens: TokenStream) -> Vec<TokenStream> {
    let mut out = Vec::new();
    let mut current = TokenStream::new();
    for tree in tokens {
        match &tree {
            TokenTree::Punct(p) if p.as_char() == ',' => {
                if !current.is_empty() {
                    out.push(std::mem::take(&mut current));
                }
            }
            _ => current.extend([tree]),
        }
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

/// `key = value` entries of a tuple, with their key.
fn entries(tokens: TokenStream) -> Vec<(Option<syn::Ident>, TokenStream, TokenStream)> {
    split_commas(tokens)
        .into_iter()
        .map(|part| {
            let trees: Vec<TokenTree> = part.clone().into_iter().collect();
            match trees.as_slice() {
                [TokenTree::Ident(k), TokenTree::Punct(eq), rest @ ..] if eq.as_char() == '=' => {
                    (Some(k.clone()), rest.iter().cloned().collect(), part)
                }
                _ => (None, part.clone(), part),
            }
        })
        .collect()
}

fn location_word(word: &str) -> Option<&'static str> {
    Some(match word {
        "Path" => "Path",
        "Query" => "Query",
        "Header" => "Header",
        "Cookie" => "Cookie",
        _ => return None,
    })
}

/// The `IntoParams` location of `ty` when the signature extracts it with `Path<ty>` or
/// `Query<ty>`.
fn extracted_as(func: &ItemFn, ty: &Type) -> Option<&'static str> {
    let shown = ty.to_token_stream().to_string();
    func.sig.inputs.iter().find_map(|arg| {
        let FnArg::Typed(typed) = arg else {
            return None;
        };
        let Type::Path(path) = &*typed.ty else {
            return None;
        };
        let last = path.path.segments.last()?;
        let PathArguments::AngleBracketed(a) = &last.arguments else {
            return None;
        };
        let GenericArgument::Type(inner) = a.args.first()? else {
            return None;
        };
        (inner.to_token_stream().to_string() == shown)
            .then(|| location_word(&last.ident.to_string()))
            .flatten()
    })
}

fn param(cx: &mut Ctxt, func: &ItemFn, part: &TokenStream) -> Option<Param> {
    let trees: Vec<TokenTree> = part.clone().into_iter().collect();
    let [TokenTree::Group(group)] = trees.as_slice() else {
        // An `IntoParams` type.
        return match syn::parse2::<Type>(part.clone()) {
            Ok(ty) => {
                let location = extracted_as(func, &ty);
                Some(Param::Type { ty, location })
            }
            Err(_) => {
                cx.error(
                    part,
                    format_args!("`{part}` is not a parameter"),
                    "write `(\"id\" = Uuid, Path, description = \"..\")` or an `IntoParams` type",
                );
                None
            }
        };
    };
    if group.delimiter() != Delimiter::Parenthesis {
        cx.error(
            part,
            "expected `(\"name\" = Type, Path)`",
            "write parameters in parentheses",
        );
        return None;
    }
    let mut parts = split_commas(group.stream()).into_iter();
    let first: Vec<TokenTree> = parts.next().unwrap_or_default().into_iter().collect();
    let (name, shape, optional) = match first.as_slice() {
        [TokenTree::Literal(lit)] => (
            syn::parse2::<LitStr>(lit.to_token_stream()).ok(),
            None,
            false,
        ),
        [TokenTree::Literal(lit), TokenTree::Punct(eq), rest @ ..] if eq.as_char() == '=' => {
            let ty: TokenStream = rest.iter().cloned().collect();
            let optional = matches!(
                syn::parse2::<Type>(ty.clone()),
                Ok(Type::Path(p)) if p.path.segments.last().is_some_and(|s| s.ident == "Option")
            );
            (
                syn::parse2::<LitStr>(lit.to_token_stream()).ok(),
                Shape::parse(cx, &ty),
                optional,
            )
        }
        _ => (None, None, false),
    };
    let mut location = None;
    let mut location_written = false;
    let mut description = None;
    for (key, value, whole) in parts.flat_map(entries) {
        match key {
            None => match location_word(&value.to_string()) {
                Some(word) => location = Some(word),
                None => {
                    location_written = true;
                    cx.error(
                        &whole,
                        format_args!("unknown parameter location `{value}`"),
                        "write `Path`, `Query`, `Header` or `Cookie`",
                    );
                }
            },
            Some(k) if k == "description" => description = lit_str(cx, &value),
            Some(k) => cx.error(
                &k,
                format_args!("unknown parameter key `{k}`"),
                "a parameter is `(\"name\" = Type, Path|Query|Header|Cookie, description = \"..\")`",
            ),
        }
    }
    let Some(name) = name else {
        cx.error(
            part,
            "a parameter needs a name",
            "write `(\"id\" = Uuid, Path)`",
        );
        return None;
    };
    let Some(location) = location else {
        if location_written {
            return None;
        }
        cx.error(
            part,
            format_args!(
                "the parameter `{}` does not say where it is read from",
                name.value()
            ),
            "add `Path`, `Query`, `Header` or `Cookie`: `(\"id\" = Uuid, Path)`",
        );
        return None;
    };
    Some(Param::One {
        name,
        shape,
        location,
        optional,
        description,
    })
}

fn request_body_list(cx: &mut Ctxt, list: &TokenStream) -> Option<(Body, Option<LitStr>)> {
    let mut shape = None;
    let mut content_type = None;
    let mut description = None;
    for (key, value, whole) in entries(list.clone()) {
        match key.as_ref().map(ToString::to_string).as_deref() {
            Some("content") => shape = Shape::parse(cx, &value),
            Some("content_type") => content_type = lit_str(cx, &value),
            Some("description") => description = lit_str(cx, &value),
            _ => cx.error(
                &whole,
                format_args!("unknown `request_body` key in `{whole}`"),
                "write `request_body(content = T, description = \"..\", content_type = \"..\")`",
            ),
        }
    }
    match shape {
        Some(shape) => Some((
            Body {
                shape,
                content_type,
            },
            description,
        )),
        None => {
            cx.error(
                list,
                "`request_body(..)` names no `content = T`",
                "write `request_body(content = T)` or `request_body = T`",
            );
            None
        }
    }
}

fn response(cx: &mut Ctxt, part: &TokenStream) -> Option<Response> {
    let trees: Vec<TokenTree> = part.clone().into_iter().collect();
    let [TokenTree::Group(group)] = trees.as_slice() else {
        return match syn::parse2::<Type>(part.clone()) {
            Ok(ty) => Some(Response::Type(ty)),
            Err(_) => {
                cx.error(
                    part,
                    format_args!("`{part}` is not a response"),
                    "write `(status = 200, description = \"..\", body = T)` or an `IntoResponses` type",
                );
                None
            }
        };
    };
    let mut status = None;
    let mut status_written = false;
    let mut description = None;
    let mut shape = None;
    let mut content_type = None;
    for (key, value, whole) in entries(group.stream()) {
        match key.as_ref().map(ToString::to_string).as_deref() {
            Some("status") => {
                status_written = true;
                status = status_of(cx, &value);
            }
            Some("description") => description = lit_str(cx, &value),
            Some("body") => shape = Shape::parse(cx, &value),
            Some("content_type") => content_type = lit_str(cx, &value),
            _ => cx.error(
                &whole,
                format_args!("unsupported response entry `{whole}`"),
                "a response is `(status = 200, description = \"..\", body = T, content_type = \"..\")`; \
                 for anything richer name an `IntoResponses` type",
            ),
        }
    }
    let Some(status) = status else {
        if !status_written {
            cx.error(
                part,
                "a response needs a `status`",
                "write `(status = 200, ..)`",
            );
        }
        return None;
    };
    Some(Response::One {
        status,
        description,
        body: shape.map(|shape| Body {
            shape,
            content_type,
        }),
    })
}

fn status_of(cx: &mut Ctxt, value: &TokenStream) -> Option<String> {
    let parsed = syn::parse2::<Expr>(value.clone()).ok();
    let status = match &parsed {
        Some(Expr::Lit(ExprLit {
            lit: Lit::Int(int), ..
        })) => int
            .base10_parse::<u16>()
            .ok()
            .filter(|c| (100..600).contains(c))
            .map(|c| c.to_string()),
        Some(Expr::Lit(ExprLit {
            lit: Lit::Str(s), ..
        })) => {
            let v = s.value();
            let valid = v == "default"
                || (v.len() == 3
                    && matches!(v.as_bytes()[0], b'1'..=b'5')
                    && (v[1..].eq_ignore_ascii_case("XX")
                        || v[1..].bytes().all(|b| b.is_ascii_digit())));
            valid.then(|| v.to_uppercase().replace("DEFAULT", "default"))
        }
        Some(Expr::Path(p)) if p.path.is_ident("default") => Some("default".to_string()),
        _ => None,
    };
    if status.is_none() {
        cx.error(
            value,
            format_args!("`{value}` is not an HTTP status"),
            "write a code (`status = 201`), a range (`status = \"4XX\"`) or `status = \"default\"`",
        );
    }
    status
}

/// The handler's doc comment as utoipa reads it: the first paragraph is the summary, the
/// others the description.
fn doc_comment(func: &ItemFn) -> (String, String) {
    let lines: Vec<String> = func
        .attrs
        .iter()
        .filter(|a| a.path().is_ident("doc"))
        .filter_map(|a| match &a.meta {
            Meta::NameValue(nv) => match &nv.value {
                Expr::Lit(ExprLit {
                    lit: Lit::Str(s), ..
                }) => Some(s.value().trim_end().to_string()),
                _ => None,
            },
            _ => None,
        })
        .collect();
    let indent = lines
        .iter()
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.len() - l.trim_start().len())
        .min()
        .unwrap_or(0);
    let lines: Vec<&str> = lines
        .iter()
        .map(|l| l.get(indent..).unwrap_or(""))
        .collect();
    let mut paragraphs = lines.split(|l| l.trim().is_empty());
    let summary = paragraphs.next().map(|p| p.join("\n")).unwrap_or_default();
    let description: Vec<String> = paragraphs.map(|p| p.join("\n")).collect();
    (summary, description.join("\n\n"))
}

/// `fn operation()` and `fn schemas(out)` of the `Endpoint` impl.
pub(crate) fn expand(
    private: &TokenStream,
    func: &ItemFn,
    name: &str,
    spec: &OperationSpec,
) -> TokenStream {
    let operation_id = spec
        .operation_id
        .as_ref()
        .map_or_else(|| quote!(#name), ToTokens::to_token_stream);
    let (doc_summary, doc_description) = doc_comment(func);
    let mut calls = Vec::new();
    match &spec.summary {
        Some(summary) => calls.push(quote!(op.summary(#summary);)),
        None if !doc_summary.is_empty() => calls.push(quote!(op.summary(#doc_summary);)),
        None => {}
    }
    match &spec.description {
        Some(description) => calls.push(quote!(op.description(#description);)),
        None if !doc_description.is_empty() => {
            calls.push(quote!(op.description(#doc_description);))
        }
        None => {}
    }
    for tag in &spec.tags {
        calls.push(quote!(op.tag(#tag);));
    }
    if func.attrs.iter().any(|a| a.path().is_ident("deprecated")) {
        calls.push(quote!(op.deprecated();));
    }
    let mut collects = Vec::new();
    let location = |word: &str| {
        let word = syn::Ident::new(word, Span::call_site());
        quote!(#private::op::In::#word)
    };
    for param in &spec.params {
        match param {
            Param::One {
                name,
                shape,
                location: word,
                optional,
                description,
            } => {
                let schema = shape.as_ref().map_or_else(
                    || quote!(#private::op::inline::<::std::string::String>()),
                    |s| s.schema(private),
                );
                if let Some(shape) = shape {
                    collects.push(shape.collect(private));
                }
                let location = location(word);
                let required = !optional;
                let description = match description {
                    Some(d) => quote!(::core::option::Option::Some(#d)),
                    None => quote!(::core::option::Option::None),
                };
                calls.push(quote!(op.param(#name, #location, #schema, #required, #description);));
            }
            Param::Type { ty, location: word } => {
                let location = match word {
                    Some(word) => {
                        let location = location(word);
                        quote!(::core::option::Option::Some(#location))
                    }
                    None => quote!(::core::option::Option::None),
                };
                calls.push(quote_spanned!(ty.span()=> op.params::<#ty>(#location);));
            }
        }
    }
    if let Some((body, description)) = &spec.request_body {
        let schema = body.shape.schema(private);
        let content_type = body.content_type();
        collects.push(body.shape.collect(private));
        let description = match description {
            Some(d) => quote!(::core::option::Option::Some(#d)),
            None => quote!(::core::option::Option::None),
        };
        calls.push(quote!(op.request_body(#content_type, #schema, #description);));
    }
    for response in &spec.responses {
        match response {
            Response::One {
                status,
                description,
                body,
            } => {
                let description = description
                    .as_ref()
                    .map_or_else(|| quote!(""), ToTokens::to_token_stream);
                let body = match body {
                    Some(body) => {
                        let schema = body.shape.schema(private);
                        let content_type = body.content_type();
                        collects.push(body.shape.collect(private));
                        quote!(::core::option::Option::Some((#content_type, #schema)))
                    }
                    None => quote!(::core::option::Option::None),
                };
                calls.push(quote!(op.response(#status, #description, #body);));
            }
            Response::Type(ty) => calls.push(quote_spanned!(ty.span()=> op.responses::<#ty>();)),
        }
    }
    quote! {
        fn operation() -> #private::utoipa::openapi::path::Operation {
            let mut op = #private::op::OperationSpec::new(#operation_id);
            #(#calls)*
            op.finish()
        }

        fn schemas(out: &mut #private::op::Schemas) {
            #(#collects)*
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::endpoint::attr::keys;

    fn generated(attr: TokenStream, func: ItemFn) -> Result<String, String> {
        let args = args(attr);
        let mut cx = Ctxt::new();
        let spec = parse(&mut cx, &func, &keys(&args), &[]);
        cx.finish().map_err(crate::ctxt::messages)?;
        let name = func.sig.ident.to_string();
        Ok(expand(&quote!(p), &func, &name, &spec)
            .to_string()
            .replace(' ', ""))
    }

    #[test]
    fn every_documented_form_reaches_the_builder() {
        let code = generated(
            quote!(
                tags = ["a", "b"], operation_id = "op", description = "Long.",
                params(("id" = Uuid, Path), ("x-trace" = Option<String>, Header, description = "T"), Filter),
                request_body(content = inline(Input), description = "In", content_type = "application/merge-patch+json"),
                responses((status = "4XX", description = "Bad", body = [Problem]), (status = default), Extra)
            ),
            syn::parse_quote! {
                /// Gets it.
                ///
                /// Ignored: `description` wins.
                #[deprecated]
                async fn get(Query(f): Query<Filter>) {}
            },
        )
        .unwrap();
        for expected in [
            "OperationSpec::new(\"op\")",
            "op.summary(\"Getsit.\")",
            "op.description(\"Long.\")",
            "op.tag(\"a\");op.tag(\"b\");",
            "op.deprecated()",
            "op.param(\"id\",p::op::In::Path,p::op::inline::<Uuid>(),true,::core::option::Option::None)",
            "op.param(\"x-trace\",p::op::In::Header,p::op::inline::<Option<String>>(),false,::core::option::Option::Some(\"T\"))",
            "op.params::<Filter>(::core::option::Option::Some(p::op::In::Query))",
            "op.request_body(\"application/merge-patch+json\",(p::op::component::<Input>().schema)(),::core::option::Option::Some(\"In\"))",
            "op.response(\"4XX\",\"Bad\",::core::option::Option::Some((\"application/json\",p::op::array(p::op::component::<Problem>().reference))))",
            "op.response(\"default\",\"\",::core::option::Option::None)",
            "op.responses::<Extra>()",
            "(p::op::component::<Input>().nested)(out)",
            "(p::op::component::<Problem>().collect)(out)",
        ] {
            assert!(code.contains(expected), "missing {expected} in {code}");
        }
    }

    #[test]
    fn doc_comments_split_into_summary_and_description() {
        let func: ItemFn = syn::parse_quote! {
            ///  One line
            ///  still the summary.
            ///
            ///  More.
            ///
            ///  Even more.
            async fn f() {}
        };
        assert_eq!(
            doc_comment(&func),
            (
                "One line\nstill the summary.".to_string(),
                "More.\n\nEven more.".to_string()
            )
        );
        let code = generated(
            quote!(),
            syn::parse_quote!(
                async fn g(s: String) -> String {}
            ),
        )
        .unwrap();
        assert!(!code.contains("summary"), "{code}");
    }

    #[test]
    fn a_string_body_is_text() {
        let code = generated(
            quote!(responses((status = 200, body = String))),
            syn::parse_quote!(
                async fn f() {}
            ),
        )
        .unwrap();
        assert!(
            code.contains("(\"text/plain\",p::op::inline::<String>())"),
            "{code}"
        );
    }
}
