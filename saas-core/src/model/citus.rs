//! DDL that distributes the tenant tables over a Citus cluster by their tenant column.
//!
//! The shared tier already has the layout Citus asks of a multi-tenant schema: every primary
//! key is `(tenant_id, key...)` and every composite foreign key is `(tenant_id, parent_id) ->
//! parent (tenant_id, id)`. Citus requires primary keys and unique constraints to include the
//! distribution column, and accepts a foreign key between two distributed tables only when the
//! tables are co-located and the key includes the distribution column. Distributing every
//! tenant table by `tenant_id` into one co-location group therefore keeps all of a tenant's
//! rows, in every table, on the same shard: the composite foreign keys are checked on that
//! shard and joins on `(tenant_id, ...)` run there without moving data between nodes. The
//! tenant registry, which tenant tables usually reference, becomes a reference table (a copy
//! on every node).
//!
//! Nothing here runs against a database: the statements are built as text and snapshot-tested.
//! They were written against the Citus documentation, not run on a Citus cluster.

use std::collections::{BTreeMap, BTreeSet};

use super::ModelMeta;
use crate::sql::{quote_ident, quote_literal};

/// The query that tells whether the `citus` extension is installed in the current database
/// (one `boolean` column, one row).
pub fn citus_present_sql() -> &'static str {
    "SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'citus')"
}

/// The statements that make the tenant registry a reference table and distribute every given
/// tenant table by its tenant column, all in one co-location group. Run them on the
/// coordinator, in order, after the tables, their primary keys and their composite foreign
/// keys exist (after the framework's RLS and foreign-key DDL).
///
/// - **The registry first.** Tenant tables usually reference the registry
///   (`tenant_id REFERENCES saas.tenants (id)`, as the quickstart writes them). Citus accepts a
///   foreign key from a distributed table to a co-located distributed table or to a reference
///   table, never to a plain local table, so the first statement makes `saas.tenants` a
///   reference table (a copy on every node; a small table written rarely, which suits it).
/// - **Order.** Parents come before children (Citus rejects a foreign key to a table that is
///   not yet distributed); tables that do not depend on each other are ordered by table name,
///   so the output is the same whatever the input order. A parent missing from `models` is
///   added, since its children cannot be distributed without it. Self-references are ignored;
///   tables on a foreign-key cycle, which no order can satisfy, come last by name.
/// - **Idempotence.** `create_distributed_table` raises an error for a table that is already
///   distributed, so each call is guarded by a look-up in `pg_dist_partition`: re-running the
///   statements changes nothing, and a table added later is distributed on the next run.
/// - **Co-location.** Each table joins the group of the first of the given tables, in the
///   order above, that is already distributed; the first table distributed at all starts a
///   group of its own (`colocate_with => 'none'`), so unrelated tables distributed by a `uuid`
///   elsewhere in the database do not share the tenant tables' shards. Choosing the group at
///   run time keeps a table added later, whatever its name, in the same group.
///
/// Each statement is one `DO` block: the registry's, then one per table.
pub fn citus_ddl(models: &[&ModelMeta]) -> Vec<String> {
    let ordered = distribution_order(models);
    let candidates = ordered
        .iter()
        .map(|m| quote_literal(&quote_ident(m.table)))
        .collect::<Vec<_>>()
        .join(", ");
    let mut statements = Vec::with_capacity(ordered.len() + 1);
    statements.push(registry_reference_ddl());
    statements.extend(ordered.iter().map(|meta| distribute_ddl(meta, &candidates)));
    statements
}

/// The tenant registry's schema and table (see `tenancy::registry`).
const REGISTRY: (&str, &str) = ("saas", "tenants");

fn registry_reference_ddl() -> String {
    let (schema, table) = REGISTRY;
    let registry = quote_literal(&format!("{}.{}", quote_ident(schema), quote_ident(table)));
    format!(
        "DO $saas$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_dist_partition WHERE logicalrelid = {registry}::regclass) THEN
    PERFORM create_reference_table({registry});
  END IF;
END
$saas$"
    )
}

fn distribute_ddl(meta: &ModelMeta, candidates: &str) -> String {
    let table = quote_literal(&quote_ident(meta.table));
    // `distribution_column` is a column name, not an SQL identifier: Citus looks it up as
    // written, so it is passed unquoted (as a literal).
    let column = quote_literal(meta.tenant_column);
    format!(
        "DO $saas$
DECLARE
  colocate text;
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_dist_partition WHERE logicalrelid = {table}::regclass) THEN
    SELECT t.rel::text INTO colocate
      FROM unnest(ARRAY[{candidates}]::regclass[]) WITH ORDINALITY AS t(rel, ord)
      JOIN pg_dist_partition p ON p.logicalrelid = t.rel
      ORDER BY t.ord
      LIMIT 1;
    PERFORM create_distributed_table({table}, {column},
      colocate_with => coalesce(colocate, 'none'));
  END IF;
END
$saas$"
    )
}

/// The tables with their missing parents added, deduplicated by table name, parents first
/// (Kahn's algorithm, ready tables taken by name).
fn distribution_order<'a>(models: &[&'a ModelMeta]) -> Vec<&'a ModelMeta> {
    let mut by_table: BTreeMap<&'static str, &'a ModelMeta> = BTreeMap::new();
    let mut pending: Vec<&'a ModelMeta> = models.to_vec();
    while let Some(meta) = pending.pop() {
        if by_table.insert(meta.table, meta).is_none() {
            pending.extend(meta.parents.iter().map(|p| (p.parent)()));
        }
    }

    // For each table, the parents it waits for (distinct, other than itself).
    let mut waiting: BTreeMap<&'static str, BTreeSet<&'static str>> = by_table
        .values()
        .map(|meta| {
            let parents = meta
                .parents
                .iter()
                .map(|p| (p.parent)().table)
                .filter(|parent| *parent != meta.table)
                .collect();
            (meta.table, parents)
        })
        .collect();

    let mut ordered = Vec::with_capacity(by_table.len());
    while let Some(next) = waiting
        .iter()
        .find(|(_, parents)| parents.is_empty())
        .map(|(table, _)| *table)
    {
        waiting.remove(next);
        for parents in waiting.values_mut() {
            parents.remove(next);
        }
        ordered.push(by_table[next]);
    }
    // A cycle: what is left cannot be ordered; keep it deterministic.
    ordered.extend(waiting.keys().map(|table| by_table[table]));
    ordered
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{ModelSql, ParentMeta};

    use crate::model::fixtures::{PROJECTS, TASKS};

    // Sorts before its parent by name, and has a second parent: the order must still put
    // both parents first.
    static ATTACHMENTS: ModelMeta = ModelMeta {
        type_name: "Attachment",
        table: "attachments",
        tenant_column: "tenant_id",
        key_columns: &["id"],
        columns: &["tenant_id", "id", "task_id", "project_id"],
        generated_columns: &["id"],
        parents: &[
            ParentMeta {
                columns: &["task_id"],
                parent: || &TASKS,
                list_first: "",
                list_after: "",
            },
            ParentMeta {
                columns: &["project_id"],
                parent: || &PROJECTS,
                list_first: "",
                list_after: "",
            },
        ],
        sql: ModelSql::NONE,
    };

    // Refers to itself (reply threads); the self-reference must not hold it back.
    static COMMENTS: ModelMeta = ModelMeta {
        type_name: "Comment",
        table: "comments",
        tenant_column: "tenant_id",
        key_columns: &["id"],
        columns: &["tenant_id", "id", "reply_to"],
        generated_columns: &["id"],
        parents: &[ParentMeta {
            columns: &["reply_to"],
            parent: || &COMMENTS,
            list_first: "",
            list_after: "",
        }],
        sql: ModelSql::NONE,
    };

    // A foreign-key cycle (each refers to the other): no order satisfies it.
    static CYCLE_A: ModelMeta = ModelMeta {
        type_name: "A",
        table: "cycle_a",
        tenant_column: "tenant_id",
        key_columns: &["id"],
        columns: &["tenant_id", "id", "b_id"],
        generated_columns: &[],
        parents: &[ParentMeta {
            columns: &["b_id"],
            parent: || &CYCLE_B,
            list_first: "",
            list_after: "",
        }],
        sql: ModelSql::NONE,
    };

    static CYCLE_B: ModelMeta = ModelMeta {
        type_name: "B",
        table: "cycle_b",
        tenant_column: "tenant_id",
        key_columns: &["id"],
        columns: &["tenant_id", "id", "a_id"],
        generated_columns: &[],
        parents: &[ParentMeta {
            columns: &["a_id"],
            parent: || &CYCLE_A,
            list_first: "",
            list_after: "",
        }],
        sql: ModelSql::NONE,
    };

    fn tables(models: &[&ModelMeta]) -> Vec<&'static str> {
        distribution_order(models).iter().map(|m| m.table).collect()
    }

    #[test]
    fn citus_ddl_snapshot() {
        insta::assert_snapshot!(citus_ddl(&[&TASKS, &PROJECTS]).join("\n"));
    }

    #[test]
    fn citus_present_sql_snapshot() {
        insta::assert_snapshot!(citus_present_sql());
    }

    #[test]
    fn parents_come_first_whatever_the_input_order() {
        let expected = ["projects", "tasks"];
        assert_eq!(tables(&[&PROJECTS, &TASKS]), expected);
        assert_eq!(tables(&[&TASKS, &PROJECTS]), expected);
        assert_eq!(
            citus_ddl(&[&PROJECTS, &TASKS]),
            citus_ddl(&[&TASKS, &PROJECTS])
        );

        let expected = ["comments", "projects", "tasks", "attachments"];
        assert_eq!(
            tables(&[&ATTACHMENTS, &TASKS, &COMMENTS, &PROJECTS]),
            expected
        );
        assert_eq!(
            tables(&[&PROJECTS, &COMMENTS, &TASKS, &ATTACHMENTS]),
            expected
        );
    }

    #[test]
    fn missing_parents_are_added_and_duplicates_dropped() {
        assert_eq!(
            tables(&[&ATTACHMENTS, &ATTACHMENTS]),
            ["projects", "tasks", "attachments"]
        );
        assert_eq!(citus_ddl(&[&TASKS]), citus_ddl(&[&PROJECTS, &TASKS]));
        assert_eq!(citus_ddl(&[]), [registry_reference_ddl()]);
    }

    #[test]
    fn a_cycle_comes_last_by_name() {
        let expected = ["projects", "cycle_a", "cycle_b"];
        assert_eq!(tables(&[&CYCLE_B, &PROJECTS]), expected);
        assert_eq!(tables(&[&PROJECTS, &CYCLE_A]), expected);
    }

    #[test]
    fn each_table_is_guarded_and_distributed_by_its_tenant_column() {
        let statements = citus_ddl(&[&TASKS, &PROJECTS]);
        assert_eq!(statements.len(), 3);
        assert!(statements[0].contains("PERFORM create_reference_table('\"saas\".\"tenants\"');"));
        for (statement, table) in statements[1..].iter().zip(["projects", "tasks"]) {
            assert!(statement.contains(&format!(
                "IF NOT EXISTS (SELECT 1 FROM pg_dist_partition WHERE logicalrelid = '\"{table}\"'::regclass)"
            )));
            assert!(statement.contains(&format!(
                "PERFORM create_distributed_table('\"{table}\"', 'tenant_id',"
            )));
        }
    }
}
