//! The arguments of `#[endpoint(...)]`, split at top-level commas and sorted by shape: a word
//! (the method), a string (the path), `key = value` or `key(...)`. Nothing is interpreted here:
//! which keys are the framework's and which go to `utoipa::path` is `check.rs`'s job. Keys are
//! kept with their raw tokens so the ones passed through reach utoipa exactly as written.

use proc_macro2::{Delimiter, Ident, Span, TokenStream, TokenTree};
use quote::ToTokens;
use syn::LitStr;
use syn::spanned::Spanned;

/// One comma-separated argument.
#[derive(Debug, Clone)]
pub(crate) enum Arg {
    /// A bare word: `get`.
    Word(Ident),
    /// A string literal: `"/projects/{id}"`.
    Str(LitStr),
    /// `key = value` or `key(...)`.
    Key(KeyArg),
    /// Anything else, as written.
    Other(TokenStream),
}

/// `key = value` or `key(...)`.
#[derive(Debug, Clone)]
pub(crate) struct KeyArg {
    /// The key (`crate` included: it is an identifier token).
    pub(crate) key: Ident,
    pub(crate) value: KeyValue,
    /// The whole argument as written, to pass it through.
    pub(crate) tokens: TokenStream,
}

#[derive(Debug, Clone)]
pub(crate) enum KeyValue {
    /// `= value`: the tokens after `=`.
    Eq(TokenStream),
    /// `(...)`: the tokens inside, and the span of the parentheses.
    List(TokenStream, Span),
}

impl KeyArg {
    /// The key as written, without `r#`.
    pub(crate) fn name(&self) -> String {
        let name = self.key.to_string();
        name.strip_prefix("r#").map(str::to_owned).unwrap_or(name)
    }
}

impl Arg {
    /// Where to point an error about the whole argument.
    pub(crate) fn span(&self) -> Span {
        match self {
            Arg::Word(word) => word.span(),
            Arg::Str(lit) => lit.span(),
            Arg::Key(key) => key.tokens.span(),
            Arg::Other(tokens) => tokens.span(),
        }
    }
}

impl ToTokens for Arg {
    fn to_tokens(&self, tokens: &mut TokenStream) {
        match self {
            Arg::Word(word) => word.to_tokens(tokens),
            Arg::Str(lit) => lit.to_tokens(tokens),
            Arg::Key(key) => key.tokens.to_tokens(tokens),
            Arg::Other(other) => other.to_tokens(tokens),
        }
    }
}

/// The `key = value` and `key(..)` arguments, in order (for tests of what reads them).
#[cfg(test)]
pub(crate) fn keys(args: &[Arg]) -> Vec<&KeyArg> {
    args.iter()
        .filter_map(|a| match a {
            Arg::Key(k) => Some(k),
            _ => None,
        })
        .collect()
}

/// Splits the attribute's arguments at top-level commas (commas inside `(..)` stay with their
/// argument) and sorts each by shape. Empty arguments (`a,,b`, a trailing comma) are dropped.
pub(crate) fn args(input: TokenStream) -> Vec<Arg> {
    let mut out = Vec::new();
    let mut current: Vec<TokenTree> = Vec::new();
    for tree in input {
        match &tree {
            TokenTree::Punct(p) if p.as_char() == ',' => {
                if !current.is_empty() {
                    out.push(classify(std::mem::take(&mut current)));
                }
            }
            _ => current.push(tree),
        }
    }
    if !current.is_empty() {
        out.push(classify(current));
    }
    out
}

fn classify(trees: Vec<TokenTree>) -> Arg {
    let tokens: TokenStream = trees.iter().cloned().collect();
    match trees.as_slice() {
        [TokenTree::Ident(word)] => Arg::Word(word.clone()),
        [TokenTree::Literal(_)] => match syn::parse2::<LitStr>(tokens.clone()) {
            Ok(lit) => Arg::Str(lit),
            Err(_) => Arg::Other(tokens),
        },
        [TokenTree::Ident(key), TokenTree::Punct(eq), rest @ ..]
            if eq.as_char() == '=' && !rest.is_empty() =>
        {
            Arg::Key(KeyArg {
                key: key.clone(),
                value: KeyValue::Eq(rest.iter().cloned().collect()),
                tokens,
            })
        }
        [TokenTree::Ident(key), TokenTree::Group(group)]
            if group.delimiter() == Delimiter::Parenthesis =>
        {
            Arg::Key(KeyArg {
                key: key.clone(),
                value: KeyValue::List(group.stream(), group.span()),
                tokens,
            })
        }
        _ => Arg::Other(tokens),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use quote::quote;

    fn shapes(input: TokenStream) -> Vec<String> {
        args(input)
            .iter()
            .map(|arg| match arg {
                Arg::Word(w) => format!("word {w}"),
                Arg::Str(s) => format!("str {}", s.value()),
                Arg::Key(k) => match &k.value {
                    KeyValue::Eq(v) => format!("key {} = {v}", k.name()),
                    KeyValue::List(v, _) => format!("key {}({v})", k.name()),
                },
                Arg::Other(t) => format!("other {t}"),
            })
            .collect()
    }

    #[test]
    fn arguments_are_split_at_top_level_commas_only() {
        assert_eq!(
            shapes(quote! {
                get, "/projects/{id}", versions = 1..=2, crate = "my_core",
                responses((status = 200, body = Project), (status = 404)), tag = "projects",
            }),
            [
                "word get",
                "str /projects/{id}",
                "key versions = 1 ..= 2",
                "key crate = \"my_core\"",
                "key responses((status = 200 , body = Project) , (status = 404))",
                "key tag = \"projects\"",
            ]
        );
    }

    #[test]
    fn odd_shapes_are_kept_as_written() {
        assert_eq!(
            shapes(quote!(3, x y, = 2, key =,, "a" "b")),
            [
                "other 3",
                "other x y",
                "other = 2",
                "other key =",
                "other \"a\" \"b\""
            ]
        );
    }
}
