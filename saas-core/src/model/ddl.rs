//! Idempotent DDL that puts a model's table under row-level security.
//!
//! Application authors write their `CREATE TABLE`; the framework adds what they must never
//! forget: RLS enabled *and forced* (so the owner is filtered too), the tenant policy, and the
//! composite foreign keys that stop cross-tenant references (FK checks bypass RLS).
//! Every block checks the catalog first, so re-running it takes no lock on an already
//! protected table.

use super::ModelMeta;
use crate::sql::quote_ident;
use crate::sql::quote_literal;

/// The name of the framework's tenant policy on every tenant table: `AS RESTRICTIVE`, so it
/// is ANDed with whatever permissive policies exist and no policy added later can widen it.
///
/// On a Citus database the tenant policy is `AS PERMISSIVE` and the only one (no
/// [`ACCESS_POLICY_NAME`]): Citus 13.2 creates every policy on the shards as a permissive one
/// (its shard DDL, `CreatePolicyCommandForPolicy` in `commands/policy.c`, leaves out
/// `AS RESTRICTIVE`), so the restrictive layout would become "tenant rows OR every row" on
/// the workers, where the rows are. Alone and permissive, the tenant policy means the same on
/// the coordinator and on every shard; the boot audit then refuses any other permissive policy
/// for the request role and compares every shard's policies with the coordinator's.
pub const POLICY_NAME: &str = "saas_tenant_isolation";

/// The name of the framework's permissive policy on every tenant table. A restrictive policy
/// alone lets nothing through (restrictive policies narrow the OR of the permissive ones), so
/// this one grants access, `USING (true) WITH CHECK (true)`, and the tenant policy narrows it.
pub const ACCESS_POLICY_NAME: &str = "saas_tenant_access";

/// The framework tables the owner reads and changes across tenants (the relay, the retention
/// purge): their tenant policy lets the table's owner through as well, so a non-superuser
/// owner still sees every row (`saas_framework_owner` grants it the access). Must match the
/// event tables' names (`crate::events::schema`, checked by a test there).
pub const OWNER_WIDE_TABLES: &[&str] = &["saas_outbox", "saas_audit_log"];

/// Whether the tenant policy of `table` also lets the table's owner through.
pub fn owner_wide(table: &str) -> bool {
    OWNER_WIDE_TABLES.contains(&table)
}

/// The policy predicate: the tenant column equals the transaction's tenant setting.
///
/// With no tenant set, `current_setting(.., true)` is NULL on a fresh connection and `''` on a
/// connection where a transaction once set it locally (the placeholder stays defined);
/// `nullif(.., '')` maps both to NULL, the predicate is NULL and no row matches: no tenant
/// means zero rows — never all rows, and never an error. Both functions are stable or
/// immutable, so the comparison can use the primary key's index.
pub fn policy_predicate(meta: &ModelMeta) -> String {
    predicate_on(meta.tenant_column)
}

fn predicate_on(tenant_column: &str) -> String {
    format!(
        "{} = nullif(current_setting('{}', true), '')::uuid",
        quote_ident(tenant_column),
        crate::tenancy::TENANT_SETTING
    )
}

/// The tenant policy's full expression for `table` (tenant column `tenant_column`) owned by
/// `owner`: the predicate, and on the [`OWNER_WIDE_TABLES`] `OR current_user = <owner>` (the
/// request role is never the owner, nor a member of it: the audit refuses that).
pub fn tenant_policy_expression(table: &str, tenant_column: &str, owner: &str) -> String {
    let predicate = predicate_on(tenant_column);
    if owner_wide(table) {
        format!(
            "{predicate} OR current_user = {}::name",
            quote_literal(owner)
        )
    } else {
        predicate
    }
}

/// The RLS block for one table: ENABLE and FORCE when missing, and the two policies, each
/// (re)created only when it is missing or differs from the canonical one.
///
/// "Differs" is decided on the catalog alone, so an already protected table takes no lock
/// (not even the share lock `pg_get_expr` takes on the table): the tenant policy must be
/// restrictive, `FOR ALL`, `TO PUBLIC`, and its `USING` and `WITH CHECK` expression trees
/// (`polqual`, `polwithcheck`, without their source positions) must equal those of the same
/// policy created on a scratch temporary table whose tenant column has the same type and
/// attribute number: PostgreSQL itself parses the canonical expression, nothing depends on
/// hand-written deparse text. A database migrated by an older version (a permissive
/// `saas_tenant_isolation`) is repaired.
pub fn rls_ddl(meta: &ModelMeta) -> String {
    let table = quote_ident(meta.table);
    let reg = quote_literal(&table);
    let column = quote_literal(meta.tenant_column);
    let predicate = quote_literal(&policy_predicate(meta));
    let owner_wide = owner_wide(meta.table);
    let create_isolation = quote_literal(&format!("CREATE POLICY {POLICY_NAME} ON {table} AS "));
    format!(
        "DO $saas$
DECLARE
  tbl oid := {reg}::regclass;
  pred text := {predicate};
  col_num int;
  col_type text;
  want_isolation text;
  want_access text;
  -- See POLICY_NAME: on Citus the tenant policy is permissive and alone.
  distributed boolean := EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'citus');
BEGIN
  IF NOT (SELECT relrowsecurity FROM pg_class WHERE oid = tbl) THEN
    ALTER TABLE {table} ENABLE ROW LEVEL SECURITY;
  END IF;
  IF NOT (SELECT relforcerowsecurity FROM pg_class WHERE oid = tbl) THEN
    ALTER TABLE {table} FORCE ROW LEVEL SECURITY;
  END IF;
  IF {owner_wide} THEN
    pred := pred || ' OR current_user = '
      || quote_literal((SELECT pg_get_userbyid(relowner) FROM pg_class WHERE oid = tbl)) || '::name';
  END IF;
  -- The canonical expression trees as this server parses them.
  SELECT attnum, format_type(atttypid, atttypmod) INTO col_num, col_type FROM pg_attribute
   WHERE attrelid = tbl AND attname = {column} AND NOT attisdropped;
  DROP TABLE IF EXISTS pg_temp.saas_policy_canonical;
  EXECUTE format('CREATE TEMP TABLE saas_policy_canonical (%s%I %s)',
    (SELECT string_agg(format('saas_pad_%s int, ', i), '') FROM generate_series(1, col_num - 1) AS i),
    {column}, col_type);
  EXECUTE 'CREATE POLICY isolation ON pg_temp.saas_policy_canonical USING (' || pred || ')';
  CREATE POLICY access ON pg_temp.saas_policy_canonical USING (true);
  SELECT regexp_replace(polqual::text, ' :location -?[0-9]+', '', 'g') INTO want_isolation
    FROM pg_policy WHERE polrelid = 'pg_temp.saas_policy_canonical'::regclass AND polname = 'isolation';
  SELECT regexp_replace(polqual::text, ' :location -?[0-9]+', '', 'g') INTO want_access
    FROM pg_policy WHERE polrelid = 'pg_temp.saas_policy_canonical'::regclass AND polname = 'access';
  DROP TABLE pg_temp.saas_policy_canonical;
  IF NOT EXISTS (
    SELECT 1 FROM pg_policy
     WHERE polrelid = tbl AND polname = '{POLICY_NAME}'
       AND polpermissive = distributed AND polcmd = '*' AND polroles = '{{0}}'::oid[]
       AND regexp_replace(polqual::text, ' :location -?[0-9]+', '', 'g') = want_isolation
       AND regexp_replace(polwithcheck::text, ' :location -?[0-9]+', '', 'g') = want_isolation
  ) THEN
    DROP POLICY IF EXISTS {POLICY_NAME} ON {table};
    EXECUTE {create_isolation} || CASE WHEN distributed THEN 'PERMISSIVE' ELSE 'RESTRICTIVE' END
      || ' FOR ALL TO PUBLIC USING (' || pred || ') WITH CHECK (' || pred || ')';
  END IF;
  IF distributed THEN
    -- Only when there is one: DROP POLICY IF EXISTS locks the table even when there is none.
    IF EXISTS (SELECT 1 FROM pg_policy WHERE polrelid = tbl AND polname = '{ACCESS_POLICY_NAME}') THEN
      DROP POLICY {ACCESS_POLICY_NAME} ON {table};
    END IF;
  ELSIF NOT EXISTS (
    SELECT 1 FROM pg_policy
     WHERE polrelid = tbl AND polname = '{ACCESS_POLICY_NAME}'
       AND polpermissive AND polcmd = '*' AND polroles = '{{0}}'::oid[]
       AND regexp_replace(polqual::text, ' :location -?[0-9]+', '', 'g') = want_access
       AND regexp_replace(polwithcheck::text, ' :location -?[0-9]+', '', 'g') = want_access
  ) THEN
    DROP POLICY IF EXISTS {ACCESS_POLICY_NAME} ON {table};
    CREATE POLICY {ACCESS_POLICY_NAME} ON {table} AS PERMISSIVE FOR ALL TO PUBLIC
      USING (true) WITH CHECK (true);
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
