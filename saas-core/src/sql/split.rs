//! Cutting a migration's SQL text into its statements, by PostgreSQL's lexical rules.
//!
//! Citus propagates DDL to its workers by the text of the query that holds it, and refuses
//! to send a text with several statements ("cannot insert multiple commands into a prepared
//! statement"): a migration file that creates two tables in a distributed schema, or a table
//! that references a reference table, fails as written. The migrator therefore runs such a
//! file one statement at a time on a Citus database (see `crate::migrate`).

/// The top-level statements of `sql`, each without its `;` and trimmed; empty statements
/// (nothing but whitespace and comments) are left out.
///
/// Understands string constants (`'…'` with `''`, `E'…'` with backslash escapes), quoted
/// identifiers, dollar quoting (`$tag$…$tag$`), `--` and nested `/* */` comments. Returns
/// `None` for a text it cannot cut safely: a SQL-standard function body (`BEGIN ATOMIC … END`,
/// whose inner `;`s belong to the function) or an unterminated quote or comment.
pub fn split_statements(sql: &str) -> Option<Vec<&str>> {
    let bytes = sql.as_bytes();
    let mut statements = Vec::new();
    let mut start = 0;
    let mut substantive = false;
    let mut last_word: Option<&str> = None;
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        match c {
            b'-' if bytes.get(i + 1) == Some(&b'-') => {
                i = sql[i..].find('\n').map_or(bytes.len(), |n| i + n + 1);
                continue;
            }
            b'/' if bytes.get(i + 1) == Some(&b'*') => {
                i = block_comment_end(bytes, i)?;
                continue;
            }
            b';' => {
                push(&mut statements, &sql[start..i], substantive);
                start = i + 1;
                substantive = false;
                last_word = None;
                i += 1;
                continue;
            }
            _ => {}
        }
        if !c.is_ascii_whitespace() {
            substantive = true;
        }
        match c {
            b'\'' => {
                let escapes = i > 0
                    && matches!(bytes[i - 1], b'e' | b'E')
                    && (i < 2 || !is_ident_byte(bytes[i - 2]));
                i = quote_end(bytes, i, b'\'', escapes)?;
            }
            b'"' => i = quote_end(bytes, i, b'"', false)?,
            b'$' if i == 0 || !is_ident_byte(bytes[i - 1]) => match dollar_tag(&sql[i..]) {
                Some(tag) => {
                    let body = i + tag.len();
                    i = body + sql[body..].find(tag)? + tag.len();
                }
                None => i += 1,
            },
            c if c.is_ascii_alphabetic() || c == b'_' => {
                let end = (i..bytes.len())
                    .find(|&j| !is_ident_byte(bytes[j]))
                    .unwrap_or(bytes.len());
                let word = &sql[i..end];
                if word.eq_ignore_ascii_case("atomic")
                    && last_word.is_some_and(|w| w.eq_ignore_ascii_case("begin"))
                {
                    return None;
                }
                last_word = Some(word);
                i = end;
            }
            _ => i += 1,
        }
    }
    push(&mut statements, &sql[start..], substantive);
    Some(statements)
}

fn push<'a>(statements: &mut Vec<&'a str>, statement: &'a str, substantive: bool) {
    if substantive {
        statements.push(statement.trim());
    }
}

fn is_ident_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'$' || b >= 0x80
}

/// The index just past the quote that closes the one at `open` (a doubled quote is part of
/// the text; with `escapes`, so is a backslash and the byte after it).
fn quote_end(bytes: &[u8], open: usize, quote: u8, escapes: bool) -> Option<usize> {
    let mut i = open + 1;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' if escapes => i += 2,
            b if b == quote => {
                if bytes.get(i + 1) == Some(&quote) {
                    i += 2;
                } else {
                    return Some(i + 1);
                }
            }
            _ => i += 1,
        }
    }
    None
}

/// The index just past the end of the (nestable) block comment opening at `open`.
fn block_comment_end(bytes: &[u8], open: usize) -> Option<usize> {
    let mut depth = 0usize;
    let mut i = open;
    while i + 1 < bytes.len() {
        match (bytes[i], bytes[i + 1]) {
            (b'/', b'*') => {
                depth += 1;
                i += 2;
            }
            (b'*', b'/') => {
                depth -= 1;
                i += 2;
                if depth == 0 {
                    return Some(i);
                }
            }
            _ => i += 1,
        }
    }
    None
}

/// The dollar-quote tag (`$$` or `$name$`) that `text` starts with, if it starts with one.
/// A parameter (`$1`) is not one: a tag does not start with a digit.
fn dollar_tag(text: &str) -> Option<&str> {
    let rest = &text[1..];
    let end = rest.find('$')?;
    let tag = &rest[..end];
    let valid = tag.is_empty()
        || (!tag.as_bytes()[0].is_ascii_digit()
            && tag
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b >= 0x80));
    valid.then(|| &text[..end + 2])
}

#[cfg(test)]
mod tests {
    use super::split_statements;

    #[test]
    fn cuts_at_top_level_semicolons_only() {
        let sql = "CREATE TABLE a (x text DEFAULT 'a;b');\n\
                   -- a comment; with a semicolon\n\
                   CREATE TABLE \"b;c\" (y int); /* one; /* nested; */ still; */\n\
                   INSERT INTO a VALUES (E'it\\'s; fine'), ('o''neil;');\n\
                   CREATE FUNCTION f() RETURNS int LANGUAGE plpgsql AS $body$ BEGIN RETURN 1; END $body$;\n\
                   DO $$ BEGIN PERFORM 1; END $$;\n\
                   SELECT $1::int;;  ";
        assert_eq!(
            split_statements(sql).unwrap(),
            vec![
                "CREATE TABLE a (x text DEFAULT 'a;b')",
                "-- a comment; with a semicolon\nCREATE TABLE \"b;c\" (y int)",
                "/* one; /* nested; */ still; */\nINSERT INTO a VALUES (E'it\\'s; fine'), ('o''neil;')",
                "CREATE FUNCTION f() RETURNS int LANGUAGE plpgsql AS $body$ BEGIN RETURN 1; END $body$",
                "DO $$ BEGIN PERFORM 1; END $$",
                "SELECT $1::int",
            ]
        );
    }

    #[test]
    fn a_backslash_is_ordinary_outside_escape_strings() {
        // standard_conforming_strings: 'a\' is a complete constant.
        assert_eq!(
            split_statements("SELECT 'a\\'; SELECT 2").unwrap(),
            vec!["SELECT 'a\\'", "SELECT 2"]
        );
        // `name'…'` is not an escape string just because the identifier ends in e.
        assert_eq!(
            split_statements("SELECT type'x\\'; SELECT 2")
                .unwrap()
                .len(),
            2
        );
    }

    #[test]
    fn comments_and_blanks_alone_are_no_statement() {
        assert_eq!(
            split_statements("  -- nothing\n/* here */ ;\n;").unwrap(),
            Vec::<&str>::new()
        );
        assert_eq!(
            split_statements("SELECT 1 -- trailing").unwrap(),
            vec!["SELECT 1 -- trailing"]
        );
    }

    #[test]
    fn refuses_what_it_cannot_cut() {
        assert_eq!(
            split_statements(
                "CREATE FUNCTION f() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT 1; SELECT 2; END"
            ),
            None
        );
        assert_eq!(split_statements("SELECT 'open"), None);
        assert_eq!(split_statements("SELECT $x$ open"), None);
        assert_eq!(split_statements("/* open"), None);
    }
}
