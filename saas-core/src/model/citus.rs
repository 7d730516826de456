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
//! The statements are built here as text (snapshot-tested) and run by the migrator on the
//! coordinator when the `citus` extension is present; `tests/citus` runs them on a real
//! Citus 13.2 cluster (coordinator + 2 workers).

use std::collections::{BTreeMap, BTreeSet};

use super::ModelMeta;
use crate::sql::{quote_ident, quote_literal};

pub use crate::sql::citus_present_sql;

/// The statements that make the tenant registry a reference table and hash-distribute every
/// given tenant table by its tenant column, all in one co-location group. Run them on the
/// coordinator, in order, after the tables, their primary keys and their composite foreign
/// keys exist (after the framework's RLS and foreign-key DDL).
///
/// - **The registry first.** Tenant tables usually reference the registry
///   (`tenant_id REFERENCES saas.tenants (id)`, as the quickstart writes them). Citus accepts a
///   foreign key from a distributed table to a co-located distributed table or to a reference
///   table, never to a plain local table, so the first statement makes `saas.tenants` a
///   reference table (a copy on every node; a small table written rarely, which suits it).
///   Citus then turns every local table that references it into a "Citus-local" table (in its
///   metadata, but not distributed).
/// - **Foreign keys between tenant tables.** Citus refuses a foreign key between a
///   distributed table and a local or Citus-local one in either direction, so no order of
///   `create_distributed_table` calls can distribute `projects` while `tasks` (local)
///   references it. The second statement therefore drops the foreign keys among the tables it
///   is about to distribute, distributes them, and adds the same keys back (their text from
///   `pg_get_constraintdef`), in one transaction: nobody sees the tables without their keys.
/// - **Order.** Parents come before children; tables that do not depend on each other are
///   ordered by table name, so the output is the same whatever the input order. A parent
///   missing from `models` is added. Self-references are ignored; tables on a foreign-key
///   cycle, which no order can satisfy, come last by name.
/// - **Idempotence.** Only tables not yet hash-distributed (`pg_dist_partition.partmethod`
///   other than `h`) are touched: re-running the statements changes nothing, a table added
///   later is distributed on the next run, and a database that gains Citus later is
///   distributed by its next `migrate` (Citus copies the existing rows to the shards).
/// - **Co-location.** The tables join the group of the first of the given tables, in the order
///   above, that is already hash-distributed; when none is, the first table distributed starts
///   a group of its own (`colocate_with => 'none'`), so unrelated tables distributed by a
///   `uuid` elsewhere in the database do not share the tenant tables' shards.
/// - **Triggers.** The framework's audit log keeps itself append-only with a trigger, which
///   Citus runs on the shards only with `citus.enable_unsafe_triggers` (set for this
///   transaction alone; the trigger refers to no other table, which is what makes it safe).
///
/// Two statements: the registry's, then one `DO` block for the tenant tables.
pub fn citus_ddl(models: &[&ModelMeta]) -> Vec<String> {
    let ordered = distribution_order(models);
    vec![registry_reference_ddl(), distribute_ddl(&ordered)]
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

fn distribute_ddl(ordered: &[&ModelMeta]) -> String {
    let tables = ordered
        .iter()
        .map(|m| quote_literal(&quote_ident(m.table)))
        .collect::<Vec<_>>()
        .join(", ");
    // `distribution_column` is a column name, not an SQL identifier: Citus looks it up as
    // written, so it is passed unquoted (as a literal).
    let columns = ordered
        .iter()
        .map(|m| quote_literal(m.tenant_column))
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        "DO $saas$
DECLARE
  tables text[] := ARRAY[{tables}]::text[];
  columns text[] := ARRAY[{columns}]::text[];
  todo text[];
  colocate text;
  fk record;
  readd text[] := ARRAY[]::text[];
  statement text;
BEGIN
  -- Names, not OIDs: Citus may give a table it distributes a new OID.
  SELECT coalesce(array_agg(t.name ORDER BY t.ord), ARRAY[]::text[]) INTO todo
    FROM unnest(tables) WITH ORDINALITY AS t(name, ord)
   WHERE NOT EXISTS (SELECT 1 FROM pg_dist_partition p
                      WHERE p.logicalrelid = t.name::regclass AND p.partmethod = 'h');
  IF cardinality(todo) = 0 THEN
    RETURN;
  END IF;
  SELECT t.name INTO colocate
    FROM unnest(tables) WITH ORDINALITY AS t(name, ord)
    JOIN pg_dist_partition p ON p.logicalrelid = t.name::regclass AND p.partmethod = 'h'
   ORDER BY t.ord
   LIMIT 1;
  FOR fk IN SELECT c.conrelid::regclass::text AS rel, c.conname, pg_get_constraintdef(c.oid) AS def
              FROM pg_constraint c
             WHERE c.contype = 'f'
               AND c.conrelid = ANY (tables::regclass[]) AND c.confrelid = ANY (tables::regclass[])
               AND (c.conrelid = ANY (todo::regclass[]) OR c.confrelid = ANY (todo::regclass[]))
             ORDER BY c.conrelid::regclass::text, c.conname
  LOOP
    EXECUTE format('ALTER TABLE %s DROP CONSTRAINT %I', fk.rel, fk.conname);
    readd := readd || format('ALTER TABLE %s ADD CONSTRAINT %I %s', fk.rel, fk.conname, fk.def);
  END LOOP;
  PERFORM set_config('citus.enable_unsafe_triggers', 'on', true);
  FOR i IN 1 .. cardinality(tables) LOOP
    IF tables[i] = ANY (todo) THEN
      PERFORM create_distributed_table(tables[i]::regclass, columns[i],
        colocate_with => coalesce(colocate, 'none'));
      colocate := coalesce(colocate, tables[i]);
    END IF;
  END LOOP;
  FOREACH statement IN ARRAY readd LOOP
    EXECUTE statement;
  END LOOP;
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

/// The advisory lock (on the coordinator's database) held by the framework's Citus shard
/// operations — a tenant's move to the dedicated tier, a rebalance — and by the migrator while
/// it distributes and protects the tenant tables.
///
/// Citus copies shards online by logical replication, into which PostgreSQL 15+ refuses to
/// apply rows of a table whose row-level security holds the subscription's owner (a member of
/// the table owner's role, so held exactly when RLS is `FORCE`d). The shard operations
/// therefore lift `FORCE` for their length; a migrator starting meanwhile would force it again
/// and leave the operation waiting on its replication until Citus's timeout (two hours by
/// default). With this lock it waits for the operation instead.
pub const SHARD_OPERATION_LOCK: i64 = 0x5a_a5_de_d1;

/// The name of the rebalance strategy that keeps dedicated-tier tenants where they are.
pub const DEDICATED_STRATEGY: &str = "saas_dedicated";

/// The rebalance strategy for the dedicated tier, installed by the migrator on Citus.
///
/// Citus's rebalancer asks a strategy's `shard_allowed_on_node(shard, node)` before it places a
/// shard. `saas.shard_allowed_on_node` answers: a shard of a dedicated-tier tenant (a shard
/// of a single hash value that a `dedicated` tenant of the registry hashes to) stays on the
/// worker it is on; every other shard is allowed anywhere except on the workers of dedicated
/// tenants. Costs, capacities and thresholds are copied from the database's default strategy
/// when the strategy is first made. A rebalance therefore never moves a dedicated tenant and
/// moves other tenants' shards off its worker, giving it the worker to itself. The strategy
/// becomes the database's default only where the default is still one of Citus's own
/// (`by_disk_size`, `by_shard_count`): an operator's own strategy is left alone (give it
/// `saas.shard_allowed_on_node` to keep dedicated tenants in place).
pub fn dedicated_strategy_ddl() -> Vec<String> {
    vec![
        r#"CREATE OR REPLACE FUNCTION saas.shard_allowed_on_node(p_shard bigint, p_node int)
RETURNS boolean LANGUAGE sql STABLE AS $saas$
  WITH shard AS (
    SELECT s.logicalrelid,
           s.shardminvalue = s.shardmaxvalue
             AND s.shardminvalue IN (SELECT worker_hash(t.id)::text FROM saas.tenants t
                                      WHERE t.tier = 'dedicated') AS dedicated,
           (SELECT p.groupid FROM pg_dist_placement p WHERE p.shardid = s.shardid LIMIT 1) AS home
      FROM pg_dist_shard s
     WHERE s.shardid = p_shard
  ), node AS (
    SELECT n.groupid FROM pg_dist_node n WHERE n.nodeid = p_node
  ), dedicated_groups AS (
    SELECT p.groupid
      FROM pg_dist_shard s
      JOIN pg_dist_placement p ON p.shardid = s.shardid
     WHERE s.logicalrelid = (SELECT logicalrelid FROM shard)
       AND s.shardminvalue = s.shardmaxvalue
       AND s.shardminvalue IN (SELECT worker_hash(t.id)::text FROM saas.tenants t
                                WHERE t.tier = 'dedicated')
  )
  SELECT CASE
           WHEN (SELECT dedicated FROM shard) THEN (SELECT groupid FROM node) = (SELECT home FROM shard)
           ELSE (SELECT groupid FROM node) NOT IN (SELECT groupid FROM dedicated_groups)
         END
$saas$"#
            .to_string(),
        format!(
            "DO $saas$
DECLARE
  d record;
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_dist_rebalance_strategy WHERE name = {name}) THEN
    SELECT * INTO d FROM pg_dist_rebalance_strategy WHERE default_strategy;
    PERFORM citus_add_rebalance_strategy({name}, d.shard_cost_function, d.node_capacity_function,
              'saas.shard_allowed_on_node'::regproc, d.default_threshold, d.minimum_threshold,
              d.improvement_threshold);
  END IF;
  IF EXISTS (SELECT 1 FROM pg_dist_rebalance_strategy
              WHERE default_strategy AND name IN ('by_shard_count', 'by_disk_size')) THEN
    PERFORM citus_set_default_rebalance_strategy({name});
  END IF;
END
$saas$",
            name = quote_literal(DEDICATED_STRATEGY)
        ),
    ]
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
        assert_eq!(citus_ddl(&[])[0], registry_reference_ddl());
    }

    #[test]
    fn a_cycle_comes_last_by_name() {
        let expected = ["projects", "cycle_a", "cycle_b"];
        assert_eq!(tables(&[&CYCLE_B, &PROJECTS]), expected);
        assert_eq!(tables(&[&PROJECTS, &CYCLE_A]), expected);
    }

    #[test]
    fn every_table_is_distributed_by_its_tenant_column_in_one_block() {
        let statements = citus_ddl(&[&TASKS, &PROJECTS]);
        assert_eq!(statements.len(), 2);
        assert!(statements[0].contains("PERFORM create_reference_table('\"saas\".\"tenants\"');"));
        assert!(
            statements[1].contains("tables text[] := ARRAY['\"projects\"', '\"tasks\"']::text[];")
        );
        assert!(
            statements[1].contains("columns text[] := ARRAY['tenant_id', 'tenant_id']::text[];")
        );
    }
}
