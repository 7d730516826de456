//! SQL text the framework builds itself: quoting of identifiers and literals.
//!
//! A leaf module: everything that writes DDL or dynamic SQL (models, migrations, tenancy,
//! moves, the isolation audit) quotes through these two functions, so a tenant schema named
//! `a"b` or a role named `o'neil` is quoted the same way everywhere; and the lexing that cuts
//! a migration into statements ([`split_statements`]).

mod split;

pub use split::split_statements;

/// Quotes an identifier for PostgreSQL: `a"b` becomes `"a""b"`.
pub fn quote_ident(ident: &str) -> String {
    format!("\"{}\"", ident.replace('"', "\"\""))
}

/// Quotes a string literal for PostgreSQL: `o'neil` becomes `'o''neil'`.
///
/// For statements that cannot take bind parameters (DDL, `SET`, `DO` blocks). PostgreSQL's
/// default `standard_conforming_strings = on` makes backslashes ordinary characters, so doubling
/// the quote is the whole escape.
pub fn quote_literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// The query that tells whether the `citus` extension is installed in the current database
/// (one `boolean` column, one row): whether the database is a Citus coordinator.
pub fn citus_present_sql() -> &'static str {
    "SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'citus')"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_double_their_quotes() {
        assert_eq!(quote_ident("tasks"), "\"tasks\"");
        assert_eq!(quote_ident("a\"b"), "\"a\"\"b\"");
        assert_eq!(quote_ident(""), "\"\"");
    }

    #[test]
    fn literals_double_their_quotes_and_keep_backslashes() {
        assert_eq!(quote_literal("o'neil"), "'o''neil'");
        assert_eq!(quote_literal("a\\b"), "'a\\b'");
        assert_eq!(quote_literal("''"), "''''''");
    }
}
