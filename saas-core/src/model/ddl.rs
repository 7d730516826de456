//! Idempotent DDL that puts a model's table under row-level security.
//!
//! Application authors write their `CREATE TABLE`; the framework adds what they must never
//! forget: RLS enabled *and forced* (so the owner is filtered too), the tenant policy, and the
//! composite foreign keys that stop cross-tenant references (FK checks bypass RLS).
//! Every block checks the catalog first, so re-running it takes no lock on an already
//! protected table.

use super::ModelMeta;

/// The name of the policy the framework creates on every tenant table.
pub const POLICY_NAME: &str = "saas_tenant_isolation";

/// Quotes an identifier for PostgreSQL (`"a""b"`).
pub fn quote_ident(ident: &str) -> String {
    format!("\"{}\"", ident.replace('"', "\"\""))
}

pub(super) fn quote_literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// The policy predicate: the tenant column equals the transaction's tenant setting.
///
/// With no tenant set, `current_setting(.., true)` is NULL on a fresh connection and `''` on a
/// connection where a transaction once set it locally (the placeholder stays defined);
/// `nullif(.., '')` maps both to NULL, the predicate is NULL and no row matches: no tenant
/// means zero rows — never all rows, and never an error. Both functions are stable or
/// immutable, so the comparison can use the primary key's index.
pub fn policy_predicate(meta: &ModelMeta) -> String {
    format!(
        "{} = nullif(current_setting('{}', true), '')::uuid",
        quote_ident(meta.tenant_column),
        crate::tenancy::TENANT_SETTING
    )
}

/// The RLS block for one table: ENABLE, FORCE and the policy, each only when missing.
pub fn rls_ddl(meta: &ModelMeta) -> String {
    let table = quote_ident(meta.table);
    let reg = quote_literal(&table);
    let predicate = policy_predicate(meta);
    format!(
        "DO $saas$
BEGIN
  IF NOT (SELECT relrowsecurity FROM pg_class WHERE oid = {reg}::regclass) THEN
    ALTER TABLE {table} ENABLE ROW LEVEL SECURITY;
  END IF;
  IF NOT (SELECT relforcerowsecurity FROM pg_class WHERE oid = {reg}::regclass) THEN
    ALTER TABLE {table} FORCE ROW LEVEL SECURITY;
  END IF;
  IF NOT EXISTS (SELECT 1 FROM pg_policy WHERE polrelid = {reg}::regclass AND polname = '{POLICY_NAME}') THEN
    CREATE POLICY {POLICY_NAME} ON {table} AS PERMISSIVE FOR ALL
      USING ({predicate})
      WITH CHECK ({predicate});
  END IF;
END
$saas$"
    )
}

/// One block per declared parent: the composite foreign key `(tenant, cols) -> parent
/// (tenant, key)`, added unless an equivalent one exists (by columns, whatever its name).
pub fn foreign_key_ddl(meta: &ModelMeta) -> Vec<String> {
    meta.parents
        .iter()
        .map(|parent_fk| {
            let parent = (parent_fk.parent)();
            let table = quote_ident(meta.table);
            let parent_table = quote_ident(parent.table);
            let mut local: Vec<&str> = vec![meta.tenant_column];
            local.extend(parent_fk.columns);
            let mut remote: Vec<&str> = vec![parent.tenant_column];
            remote.extend(parent.key_columns);
            let mut sorted = local.clone();
            sorted.sort_unstable();
            let sorted_names = sorted
                .iter()
                .map(|c| quote_literal(c))
                .collect::<Vec<_>>()
                .join(", ");
            let name = quote_ident(&format!("{}_{}_tenant_fkey", meta.table, parent_fk.columns.join("_")));
            let cols = |cs: &[&str]| cs.iter().map(|c| quote_ident(c)).collect::<Vec<_>>().join(", ");
            format!(
                "DO $saas$
BEGIN
  IF NOT EXISTS (
    SELECT 1 FROM pg_constraint c
    WHERE c.contype = 'f' AND c.conrelid = {treg}::regclass AND c.confrelid = {preg}::regclass
      AND (SELECT array_agg(a.attname::text ORDER BY a.attname::text) FROM pg_attribute a
           WHERE a.attrelid = c.conrelid AND a.attnum = ANY (c.conkey)) = ARRAY[{sorted_names}]::text[]
  ) THEN
    ALTER TABLE {table} ADD CONSTRAINT {name} FOREIGN KEY ({local_cols})
      REFERENCES {parent_table} ({remote_cols}) ON DELETE CASCADE;
  END IF;
END
$saas$",
                treg = quote_literal(&table),
                preg = quote_literal(&parent_table),
                local_cols = cols(&local),
                remote_cols = cols(&remote),
            )
        })
        .collect()
}

/// Everything the framework applies for one model, in order: RLS first, then foreign keys.
pub fn table_ddl_statements(meta: &ModelMeta) -> Vec<String> {
    let mut statements = vec![rls_ddl(meta)];
    statements.extend(foreign_key_ddl(meta));
    statements
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::model::fixtures::{PROJECTS, TASKS};

    #[test]
    fn rls_ddl_snapshot() {
        insta::assert_snapshot!(rls_ddl(&PROJECTS));
    }

    #[test]
    fn foreign_key_ddl_snapshot() {
        insta::assert_snapshot!(foreign_key_ddl(&TASKS).join("\n"));
    }

    #[test]
    fn identifiers_are_quoted() {
        assert_eq!(quote_ident("a\"b"), "\"a\"\"b\"");
    }
}
