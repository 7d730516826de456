//! Collects every error of one macro input, so the user sees them all in one build.

use std::fmt::Display;

use quote::ToTokens;

/// An error accumulator, in the manner of serde's `Ctxt`: validation goes on after an error
/// and [`Ctxt::finish`] reports everything at once.
#[derive(Debug, Default)]
pub(crate) struct Ctxt {
    errors: Option<syn::Error>,
}

impl Ctxt {
    pub(crate) fn new() -> Self {
        Ctxt::default()
    }

    /// Records an error pointing at `tokens`, with a `help:` line saying what to write instead.
    pub(crate) fn error(
        &mut self,
        tokens: impl ToTokens,
        message: impl Display,
        help: impl Display,
    ) {
        self.push(syn::Error::new_spanned(tokens, with_help(message, help)));
    }

    /// Records an error pointing at `span`, with a `help:` line.
    pub(crate) fn error_at(
        &mut self,
        span: proc_macro2::Span,
        message: impl Display,
        help: impl Display,
    ) {
        self.push(syn::Error::new(span, with_help(message, help)));
    }

    /// Records an error produced by `syn` (a parse error already says what was expected).
    pub(crate) fn push(&mut self, error: syn::Error) {
        match &mut self.errors {
            Some(errors) => errors.combine(error),
            None => self.errors = Some(error),
        }
    }

    /// Whether any error was recorded.
    pub(crate) fn has_errors(&self) -> bool {
        self.errors.is_some()
    }

    /// Every recorded error, combined, or `Ok` when there was none.
    pub(crate) fn finish(self) -> Result<(), syn::Error> {
        match self.errors {
            Some(errors) => Err(errors),
            None => Ok(()),
        }
    }
}

/// Every message of a combined error, one per line (for tests).
#[cfg(test)]
pub(crate) fn messages(errors: syn::Error) -> String {
    errors
        .into_iter()
        .map(|e| e.to_string())
        .collect::<Vec<_>>()
        .join("\n")
}

/// The message followed by a `help:` line; rustc indents the second line under `error:`.
pub(crate) fn with_help(message: impl Display, help: impl Display) -> String {
    format!("{message}\nhelp: {help}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use proc_macro2::Span;

    #[test]
    fn all_errors_are_reported_in_order() {
        let cx = Ctxt::new();
        assert!(cx.finish().is_ok());
        let mut cx = Ctxt::new();
        cx.error_at(Span::call_site(), "first", "do this");
        cx.error_at(Span::call_site(), "second", "do that");
        assert!(cx.has_errors());
        let messages: Vec<String> = cx
            .finish()
            .unwrap_err()
            .into_iter()
            .map(|e| e.to_string())
            .collect();
        assert_eq!(messages, ["first\nhelp: do this", "second\nhelp: do that"]);
    }
}
