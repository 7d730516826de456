//! The SQL behind a model's typed operations, built as plain strings at compile time.
//!
//! Everything here is a pure function of column names, so the statements can be unit-tested
//! (and snapshotted) without a compiler round trip. Parameter order is the contract with the
//! binders in `saas_core::model`: the tenant id is always `$1`, then the key (or the parent's
//! key), then the values, and `LIMIT` comes last.

use std::fmt::Write as _;

/// Quotes an identifier for PostgreSQL: `a"b` becomes `"a""b"`.
pub(crate) fn quote_ident(ident: &str) -> String {
    format!("\"{}\"", ident.replace('"', "\"\""))
}

/// The column names of one model, as the statements need them.
#[derive(Debug, Clone)]
pub(crate) struct TableSql<'a> {
    /// The table, unqualified.
    pub(crate) table: &'a str,
    /// The tenant column.
    pub(crate) tenant: &'a str,
    /// Every column, in field order (tenant and key included).
    pub(crate) columns: Vec<&'a str>,
    /// The key within a tenant, in key order.
    pub(crate) keys: Vec<&'a str>,
    /// The columns written on insert after the tenant column: not generated, field order.
    pub(crate) insert: Vec<&'a str>,
    /// The columns written on update: not tenant, not key, not generated, field order.
    pub(crate) update: Vec<&'a str>,
}

/// The statements of `saas_core::model::ModelSql`, as strings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ModelStatements {
    pub(crate) get: String,
    pub(crate) list_first: String,
    pub(crate) list_after: String,
    pub(crate) insert: String,
    pub(crate) update: String,
    pub(crate) delete: String,
}

/// The statements of one `saas_core::model::ParentMeta`, as strings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ParentStatements {
    pub(crate) list_first: String,
    pub(crate) list_after: String,
}

/// Hands out `$1`, `$2`, ... in the order parameters are mentioned.
#[derive(Debug)]
struct Params(usize);

impl Params {
    fn new() -> Self {
        Params(0)
    }

    fn next(&mut self) -> String {
        self.0 += 1;
        format!("${}", self.0)
    }
}

impl TableSql<'_> {
    fn select_list(&self) -> String {
        join_quoted(&self.columns)
    }

    fn order_by(&self) -> String {
        join_quoted(&self.keys)
    }

    /// `SELECT cols FROM table WHERE tenant = $1`
    fn select_where_tenant(&self, params: &mut Params) -> String {
        format!(
            "SELECT {} FROM {} WHERE {} = {}",
            self.select_list(),
            quote_ident(self.table),
            quote_ident(self.tenant),
            params.next()
        )
    }

    /// ` AND "a" = $n AND "b" = $n+1`
    fn equal_each(columns: &[&str], params: &mut Params) -> String {
        let mut out = String::new();
        for column in columns {
            let _ = write!(out, " AND {} = {}", quote_ident(column), params.next());
        }
        out
    }

    /// ` AND "k" > $n` or ` AND ("a", "b") > ($n, $n+1)`: the keyset condition.
    fn after_key(&self, params: &mut Params) -> String {
        if let [key] = self.keys.as_slice() {
            return format!(" AND {} > {}", quote_ident(key), params.next());
        }
        let values: Vec<String> = self.keys.iter().map(|_| params.next()).collect();
        format!(" AND ({}) > ({})", self.order_by(), values.join(", "))
    }

    /// ` ORDER BY keys LIMIT $n`
    fn order_and_limit(&self, params: &mut Params) -> String {
        format!(" ORDER BY {} LIMIT {}", self.order_by(), params.next())
    }

    /// ` RETURNING cols`
    fn returning(&self) -> String {
        format!(" RETURNING {}", self.select_list())
    }

    /// The statements of every typed operation.
    pub(crate) fn statements(&self) -> ModelStatements {
        ModelStatements {
            get: self.get(),
            list_first: self.list(None, false),
            list_after: self.list(None, true),
            insert: self.insert(),
            update: self.update(),
            delete: self.delete(),
        }
    }

    /// The statements listing the rows of one parent, whose referencing columns are `columns`
    /// (in the order of the parent's key).
    pub(crate) fn parent_statements(&self, columns: &[&str]) -> ParentStatements {
        ParentStatements {
            list_first: self.list(Some(columns), false),
            list_after: self.list(Some(columns), true),
        }
    }

    fn get(&self) -> String {
        let mut params = Params::new();
        let mut sql = self.select_where_tenant(&mut params);
        sql += &Self::equal_each(&self.keys, &mut params);
        sql
    }

    fn list(&self, parent: Option<&[&str]>, after: bool) -> String {
        let mut params = Params::new();
        let mut sql = self.select_where_tenant(&mut params);
        if let Some(columns) = parent {
            sql += &Self::equal_each(columns, &mut params);
        }
        if after {
            sql += &self.after_key(&mut params);
        }
        sql += &self.order_and_limit(&mut params);
        sql
    }

    fn insert(&self) -> String {
        let mut params = Params::new();
        let mut columns = vec![quote_ident(self.tenant)];
        columns.extend(self.insert.iter().map(|c| quote_ident(c)));
        let values: Vec<String> = columns.iter().map(|_| params.next()).collect();
        format!(
            "INSERT INTO {} ({}) VALUES ({}){}",
            quote_ident(self.table),
            columns.join(", "),
            values.join(", "),
            self.returning()
        )
    }

    /// With no updatable column, "update" re-reads the row: same parameters, same answer
    /// (`NotFound` when absent), nothing written.
    fn update(&self) -> String {
        if self.update.is_empty() {
            return self.get();
        }
        let mut params = Params::new();
        let tenant = params.next();
        let keys: Vec<String> = self.keys.iter().map(|_| params.next()).collect();
        let set: Vec<String> = self
            .update
            .iter()
            .map(|c| format!("{} = {}", quote_ident(c), params.next()))
            .collect();
        let mut sql = format!(
            "UPDATE {} SET {} WHERE {} = {}",
            quote_ident(self.table),
            set.join(", "),
            quote_ident(self.tenant),
            tenant
        );
        for (key, param) in self.keys.iter().zip(keys) {
            let _ = write!(sql, " AND {} = {}", quote_ident(key), param);
        }
        sql += &self.returning();
        sql
    }

    fn delete(&self) -> String {
        let mut params = Params::new();
        let mut sql = format!(
            "DELETE FROM {} WHERE {} = {}",
            quote_ident(self.table),
            quote_ident(self.tenant),
            params.next()
        );
        sql += &Self::equal_each(&self.keys, &mut params);
        sql
    }
}

fn join_quoted(columns: &[&str]) -> String {
    columns
        .iter()
        .map(|c| quote_ident(c))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Renders every statement of a model (and of its parents) for a snapshot.
    fn render(table: &TableSql<'_>, parents: &[&[&str]]) -> String {
        let s = table.statements();
        let mut out = format!(
            "get:        {}\nlist_first: {}\nlist_after: {}\ninsert:     {}\nupdate:     {}\ndelete:     {}\n",
            s.get, s.list_first, s.list_after, s.insert, s.update, s.delete
        );
        for columns in parents {
            let p = table.parent_statements(columns);
            let _ = write!(
                out,
                "parent {columns:?}\n  list_first: {}\n  list_after: {}\n",
                p.list_first, p.list_after
            );
        }
        out
    }

    fn project() -> TableSql<'static> {
        TableSql {
            table: "projects",
            tenant: "tenant_id",
            columns: vec!["tenant_id", "id", "name", "created_at"],
            keys: vec!["id"],
            insert: vec!["name"],
            update: vec!["name"],
        }
    }

    #[test]
    fn identifiers_are_double_quoted_with_inner_quotes_doubled() {
        assert_eq!(quote_ident("name"), "\"name\"");
        assert_eq!(quote_ident("a\"b"), "\"a\"\"b\"");
    }

    #[test]
    fn simple_model_statements() {
        insta::assert_snapshot!(render(&project(), &[]));
    }

    #[test]
    fn simple_model_numbers_parameters_tenant_key_then_values() {
        let s = project().statements();
        assert_eq!(
            s.update,
            "UPDATE \"projects\" SET \"name\" = $3 WHERE \"tenant_id\" = $1 AND \"id\" = $2 \
             RETURNING \"tenant_id\", \"id\", \"name\", \"created_at\""
        );
        assert_eq!(
            s.list_after,
            "SELECT \"tenant_id\", \"id\", \"name\", \"created_at\" FROM \"projects\" \
             WHERE \"tenant_id\" = $1 AND \"id\" > $2 ORDER BY \"id\" LIMIT $3"
        );
    }

    #[test]
    fn composite_key_statements() {
        let table = TableSql {
            table: "memberships",
            tenant: "tenant_id",
            columns: vec!["tenant_id", "org_id", "user_id", "role", "since"],
            keys: vec!["org_id", "user_id"],
            insert: vec!["org_id", "user_id", "role"],
            update: vec!["role"],
        };
        let s = table.statements();
        assert!(
            s.list_after.contains(
                "AND (\"org_id\", \"user_id\") > ($2, $3) ORDER BY \"org_id\", \"user_id\" LIMIT $4"
            ),
            "{}",
            s.list_after
        );
        insta::assert_snapshot!(render(&table, &[]));
    }

    #[test]
    fn parent_statements_bind_parent_key_before_cursor_and_limit() {
        let table = TableSql {
            table: "tasks",
            tenant: "tenant_id",
            columns: vec!["tenant_id", "id", "project_id", "title"],
            keys: vec!["id"],
            insert: vec!["project_id", "title"],
            update: vec!["project_id", "title"],
        };
        let p = table.parent_statements(&["project_id"]);
        assert!(
            p.list_after
                .ends_with("WHERE \"tenant_id\" = $1 AND \"project_id\" = $2 AND \"id\" > $3 ORDER BY \"id\" LIMIT $4"),
            "{}",
            p.list_after
        );
        insta::assert_snapshot!(render(&table, &[&["project_id"]]));
    }

    #[test]
    fn composite_parent_statements() {
        let table = TableSql {
            table: "comments",
            tenant: "tenant_id",
            columns: vec!["tenant_id", "org_id", "task_no", "seq", "body"],
            keys: vec!["org_id", "task_no", "seq"],
            insert: vec!["org_id", "task_no", "seq", "body"],
            update: vec!["body"],
        };
        let p = table.parent_statements(&["org_id", "task_no"]);
        assert!(
            p.list_after.ends_with(
                "AND \"org_id\" = $2 AND \"task_no\" = $3 \
                 AND (\"org_id\", \"task_no\", \"seq\") > ($4, $5, $6) \
                 ORDER BY \"org_id\", \"task_no\", \"seq\" LIMIT $7"
            ),
            "{}",
            p.list_after
        );
        insta::assert_snapshot!(render(&table, &[&["org_id"], &["org_id", "task_no"]]));
    }

    #[test]
    fn no_updatable_columns_makes_update_a_get() {
        let table = TableSql {
            table: "tags",
            tenant: "tenant_id",
            columns: vec!["tenant_id", "id", "created_at"],
            keys: vec!["id"],
            insert: vec!["id"],
            update: vec![],
        };
        let s = table.statements();
        assert_eq!(s.update, s.get);
        insta::assert_snapshot!(render(&table, &[]));
    }

    #[test]
    fn quotes_are_escaped_everywhere() {
        let table = TableSql {
            table: "odd\"table",
            tenant: "tenant\"id",
            columns: vec!["tenant\"id", "k\"ey", "v"],
            keys: vec!["k\"ey"],
            insert: vec!["k\"ey", "v"],
            update: vec!["v"],
        };
        let s = table.statements();
        assert_eq!(
            s.delete,
            "DELETE FROM \"odd\"\"table\" WHERE \"tenant\"\"id\" = $1 AND \"k\"\"ey\" = $2"
        );
    }
}
