//! API versions as written in the macros: an integer literal (`2`) or a date string
//! (`"2026-01-15"`), alone or as a range (`2..`, `1..3`, `1..=2`).

use std::fmt;

use proc_macro2::{Literal, Span, TokenStream};
use quote::{ToTokens, quote};
use syn::parse::{Parse, ParseStream};
use syn::{Lit, Token};

use super::date::CivilDate;
use crate::ctxt::Ctxt;

/// A checked version, mirroring `saas_core::versioning::ApiVersion`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum VersionValue {
    Int(u32),
    Date(CivilDate),
}

/// Integer or date: the two may not be mixed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Int,
    Date,
}

impl Kind {
    pub(crate) fn describe(self) -> &'static str {
        match self {
            Kind::Int => "an integer version",
            Kind::Date => "a date version",
        }
    }
}

impl VersionValue {
    pub(crate) fn kind(&self) -> Kind {
        match self {
            VersionValue::Int(_) => Kind::Int,
            VersionValue::Date(_) => Kind::Date,
        }
    }

    /// The version right after this one (`n + 1`, the next day): what `..=` excludes.
    pub(crate) fn successor(&self) -> Option<VersionValue> {
        match self {
            VersionValue::Int(n) => n.checked_add(1).map(VersionValue::Int),
            VersionValue::Date(date) => date.next_day().map(VersionValue::Date),
        }
    }

    /// `::saas_core::__private::ApiVersion::Int(2)` (or `Date { .. }`), under `private`.
    pub(crate) fn tokens(&self, private: &TokenStream) -> TokenStream {
        match self {
            VersionValue::Int(n) => {
                let n = Literal::u32_unsuffixed(*n);
                quote!(#private::ApiVersion::Int(#n))
            }
            VersionValue::Date(CivilDate { year, month, day }) => {
                let year = Literal::u16_unsuffixed(*year);
                let month = Literal::u8_unsuffixed(*month);
                let day = Literal::u8_unsuffixed(*day);
                quote!(#private::ApiVersion::Date { year: #year, month: #month, day: #day })
            }
        }
    }
}

/// Versions of one kind compare like the runtime's `ApiVersion::rank`.
impl PartialOrd for VersionValue {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        match (self, other) {
            (VersionValue::Int(a), VersionValue::Int(b)) => a.partial_cmp(b),
            (VersionValue::Date(a), VersionValue::Date(b)) => a.partial_cmp(b),
            _ => None,
        }
    }
}

impl fmt::Display for VersionValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            VersionValue::Int(n) => write!(f, "{n}"),
            VersionValue::Date(date) => write!(f, "\"{date}\""),
        }
    }
}

/// A checked version with the span of its literal.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Version {
    pub(crate) value: VersionValue,
    pub(crate) span: Span,
}

/// What a version literal may be, for `help:` lines.
pub(crate) const VERSION_HELP: &str =
    "write an integer version (`2`) or a date version as a string (`\"2026-01-15\"`)";

/// Checks one version literal.
pub(crate) fn version(cx: &mut Ctxt, lit: &Lit) -> Option<Version> {
    let span = lit.span();
    let value = match lit {
        Lit::Int(int) => match int.base10_parse::<u32>() {
            Ok(n) if int.suffix().is_empty() => VersionValue::Int(n),
            Ok(_) => {
                cx.error(
                    lit,
                    format_args!("version `{int}` has a type suffix"),
                    "write the number alone: `2`",
                );
                return None;
            }
            Err(_) => {
                cx.error(
                    lit,
                    format_args!("version `{int}` is not a number from 0 to 4294967295"),
                    VERSION_HELP,
                );
                return None;
            }
        },
        Lit::Str(s) => match CivilDate::parse(&s.value()) {
            Ok(date) => VersionValue::Date(date),
            Err(why) => {
                cx.error(
                    lit,
                    format_args!("invalid date version: {why}"),
                    "write a date version as `\"YYYY-MM-DD\"`, e.g. `\"2026-01-15\"`",
                );
                return None;
            }
        },
        _ => {
            cx.error(
                lit,
                format_args!("`{}` is not a version", lit.to_token_stream()),
                VERSION_HELP,
            );
            return None;
        }
    };
    Some(Version { value, span })
}

/// `A..`, `A..B`, `A..=B` or `A`, as written.
#[derive(Debug, Clone)]
pub(crate) struct RangeSyntax {
    pub(crate) start: Lit,
    pub(crate) op: RangeOp,
    pub(crate) end: Option<Lit>,
}

#[derive(Debug, Clone)]
pub(crate) enum RangeOp {
    /// `A`: only that version.
    Single,
    /// `A..` or `A..B`.
    Exclusive(Token![..]),
    /// `A..=B`.
    Inclusive(Token![..=]),
}

impl Parse for RangeSyntax {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        if input.peek(Token![..]) || input.peek(Token![..=]) {
            return Err(input
                .error("a version range needs its first version: write `2..`, `1..3` or `1..=2`"));
        }
        let start: Lit = input.parse()?;
        let (op, end) = if input.peek(Token![..=]) {
            let op = RangeOp::Inclusive(input.parse()?);
            (op, Some(input.parse()?))
        } else if input.peek(Token![..]) {
            let op = RangeOp::Exclusive(input.parse()?);
            let end = if input.peek(Lit) {
                Some(input.parse()?)
            } else {
                None
            };
            (op, end)
        } else {
            (RangeOp::Single, None)
        };
        Ok(RangeSyntax { start, op, end })
    }
}

impl ToTokens for RangeSyntax {
    fn to_tokens(&self, tokens: &mut TokenStream) {
        self.start.to_tokens(tokens);
        match &self.op {
            RangeOp::Single => {}
            RangeOp::Exclusive(op) => op.to_tokens(tokens),
            RangeOp::Inclusive(op) => op.to_tokens(tokens),
        }
        self.end.to_tokens(tokens);
    }
}

/// The versions an endpoint lives in: from `introduced` up to but excluding `removed`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct VersionRange {
    pub(crate) introduced: Version,
    pub(crate) removed: Option<Version>,
}

/// Checks a range: both ends versions of one kind, and a non-empty range.
pub(crate) fn range(cx: &mut Ctxt, syntax: &RangeSyntax) -> Option<VersionRange> {
    let introduced = version(cx, &syntax.start);
    let end = syntax.end.as_ref().and_then(|lit| version(cx, lit));
    let introduced = introduced?;
    let written = syntax.to_token_stream().to_string().replace(' ', "");
    let removed = match (&syntax.op, syntax.end.as_ref()) {
        (RangeOp::Single, _) | (RangeOp::Inclusive(_), _) => {
            let last = match &syntax.op {
                RangeOp::Single => introduced,
                _ => end?,
            };
            if last.value.kind() != introduced.value.kind() {
                return mixed(cx, &introduced, &last);
            }
            if last.value < introduced.value {
                empty(cx, syntax, &written, &introduced);
                return None;
            }
            // `..=` the very last version there can be: no end.
            last.value.successor().map(|value| Version {
                value,
                span: last.span,
            })
        }
        (RangeOp::Exclusive(_), None) => None,
        (RangeOp::Exclusive(_), Some(_)) => {
            let removed = end?;
            if removed.value.kind() != introduced.value.kind() {
                return mixed(cx, &introduced, &removed);
            }
            if removed.value <= introduced.value {
                empty(cx, syntax, &written, &introduced);
                return None;
            }
            Some(removed)
        }
    };
    Some(VersionRange {
        introduced,
        removed,
    })
}

fn mixed(cx: &mut Ctxt, first: &Version, second: &Version) -> Option<VersionRange> {
    cx.error_at(
        second.span,
        format_args!(
            "this range mixes {} ({}) and {} ({})",
            first.value.kind().describe(),
            first.value,
            second.value.kind().describe(),
            second.value
        ),
        "an API's versions are all integers or all dates; write both ends the same way",
    );
    None
}

fn empty(cx: &mut Ctxt, syntax: &RangeSyntax, written: &str, introduced: &Version) {
    let help = match syntax.op {
        RangeOp::Inclusive(_) => format!(
            "`A..=B` lives in A through B: write a last version no older than {}, or `{}..` for no end",
            introduced.value, introduced.value
        ),
        _ => format!(
            "`A..B` lives in A up to but excluding B: write a removal version newer than {}, \
             or `{}..` for no end",
            introduced.value, introduced.value
        ),
    };
    cx.error(
        syntax,
        format_args!("the range `{written}` holds no version: it ends before it starts"),
        help,
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(tokens: TokenStream) -> Result<(VersionValue, Option<VersionValue>), Vec<String>> {
        let syntax: RangeSyntax = syn::parse2(tokens).map_err(|e| vec![e.to_string()])?;
        let mut cx = Ctxt::new();
        let range = range(&mut cx, &syntax);
        match cx.finish() {
            Ok(()) => {
                let range = range.expect("no error, so a range");
                Ok((range.introduced.value, range.removed.map(|v| v.value)))
            }
            Err(errors) => Err(errors.into_iter().map(|e| e.to_string()).collect()),
        }
    }

    fn date(s: &str) -> VersionValue {
        VersionValue::Date(CivilDate::parse(s).unwrap())
    }

    #[test]
    fn ranges_of_integers_exclude_their_end() {
        use VersionValue::Int;
        assert_eq!(check(quote!(2..)), Ok((Int(2), None)));
        assert_eq!(check(quote!(1..3)), Ok((Int(1), Some(Int(3)))));
        assert_eq!(check(quote!(1..=2)), Ok((Int(1), Some(Int(3)))));
        assert_eq!(check(quote!(2)), Ok((Int(2), Some(Int(3)))));
        assert_eq!(check(quote!(2..=2)), Ok((Int(2), Some(Int(3)))));
        assert_eq!(
            check(quote!(4294967295..=4294967295)),
            Ok((Int(u32::MAX), None))
        );
    }

    #[test]
    fn ranges_of_dates_end_on_the_next_day() {
        assert_eq!(
            check(quote!("2026-01-15"..)),
            Ok((date("2026-01-15"), None))
        );
        assert_eq!(
            check(quote!("2025-06-01".."2026-01-15")),
            Ok((date("2025-06-01"), Some(date("2026-01-15"))))
        );
        assert_eq!(
            check(quote!("2025-06-01"..="2025-12-31")),
            Ok((date("2025-06-01"), Some(date("2026-01-01"))))
        );
        assert_eq!(
            check(quote!("2024-02-28")),
            Ok((date("2024-02-28"), Some(date("2024-02-29"))))
        );
    }

    #[test]
    fn empty_ranges_are_errors() {
        for tokens in [quote!(3..2), quote!(2..2), quote!(2..=1)] {
            let errors = check(tokens.clone()).unwrap_err();
            assert_eq!(errors.len(), 1, "{tokens}: {errors:?}");
            assert!(errors[0].contains("holds no version"), "{errors:?}");
        }
        assert!(check(quote!("2026-01-02".."2026-01-01")).is_err());
    }

    #[test]
    fn bad_versions_and_mixed_kinds_are_errors() {
        let errors = check(quote!(1.."2026-01-01")).unwrap_err();
        assert!(
            errors[0].starts_with("this range mixes an integer version (1) and a date version")
        );
        assert!(check(quote!("v2"..)).unwrap_err()[0].starts_with("invalid date version"));
        assert!(
            check(quote!("2026-02-30"..)).unwrap_err()[0].contains("February 2026 has 28 days")
        );
        assert!(check(quote!(2.5)).unwrap_err()[0].starts_with("`2.5` is not a version"));
        assert!(check(quote!(4294967296..)).unwrap_err()[0].contains("not a number"));
        assert!(check(quote!(2u8..)).unwrap_err()[0].contains("type suffix"));
        // Both ends are checked in one go.
        assert_eq!(check(quote!("x".."y")).unwrap_err().len(), 2);
        // Syntax: a start is required, and so is the end of `..=`.
        assert!(check(quote!(..2)).is_err());
        assert!(check(quote!(1..=)).is_err());
    }
}
