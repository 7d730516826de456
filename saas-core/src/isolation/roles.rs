//! The request role: a login role that is not the tables' owner, not superuser and
//! NOBYPASSRLS (tenancy invariant 3, docs/src/tenancy.md). Migrations run as the owner; requests run as this role.

use sqlx::PgConnection;

use crate::error::{ApiResult, Error};
use crate::sql::{quote_ident, quote_literal};

/// Checks a role name: 1-63 ASCII letters, digits and `_`, not starting with a digit. The
/// name is spliced into dollar-quoted DDL blocks; quoting keeps `'` and `"` harmless there,
/// but nothing short of refusing it keeps `$` (which could close the block) out.
pub fn validate_role_name(role: &str) -> crate::Result<()> {
    let ok = (1..=63).contains(&role.len())
        && !role.as_bytes()[0].is_ascii_digit()
        && role.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(Error::config(
            "SAAS_REQUEST_ROLE",
            format!(
                "invalid role name {:?}: use 1-63 ASCII letters, digits and '_', not starting with a digit",
                role.chars().take(80).collect::<String>()
            ),
        ))
    }
}

/// Creates the request role if it is missing (safe to run concurrently), makes sure it can
/// neither bypass RLS nor act as superuser, and lets it connect and use the schema.
pub async fn ensure_request_role(
    conn: &mut PgConnection,
    role: &str,
    password: Option<&str>,
) -> ApiResult<()> {
    validate_role_name(role)?;
    let ident = quote_ident(role);
    let literal = quote_literal(role);
    let create = format!(
        "DO $saas$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = {literal}) THEN
    BEGIN
      CREATE ROLE {ident} LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE;
    EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
    END;
  END IF;
  IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = {literal} AND (rolsuper OR rolbypassrls))
     AND (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) THEN
    ALTER ROLE {ident} NOSUPERUSER NOBYPASSRLS;
  END IF;
  EXECUTE format('GRANT CONNECT ON DATABASE %I TO %I', current_database(), {literal});
  EXECUTE format('GRANT USAGE ON SCHEMA %I TO %I', current_schema(), {literal});
END
$saas$"
    );
    sqlx::raw_sql(sqlx::AssertSqlSafe(create))
        .execute(&mut *conn)
        .await?;
    if let Some(password) = password {
        let alter = format!("ALTER ROLE {ident} PASSWORD {}", quote_literal(password));
        sqlx::raw_sql(sqlx::AssertSqlSafe(alter))
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

/// Grants the request role what a tenant table needs: row access (filtered by RLS) and the
/// sequences of the schema. Never ownership, never TRUNCATE or DDL.
pub async fn grant_table(conn: &mut PgConnection, table: &str, role: &str) -> ApiResult<()> {
    validate_role_name(role)?;
    // Granted only when missing: a GRANT rewrites the catalog row (and a commit flushes it)
    // even when nothing changes, which a migration run over many tenants would pay each time.
    let sql = format!(
        "DO $saas$ BEGIN
           IF NOT (has_table_privilege({role_lit}, {table_lit}, 'SELECT')
                   AND has_table_privilege({role_lit}, {table_lit}, 'INSERT')
                   AND has_table_privilege({role_lit}, {table_lit}, 'UPDATE')
                   AND has_table_privilege({role_lit}, {table_lit}, 'DELETE')) THEN
             GRANT SELECT, INSERT, UPDATE, DELETE ON TABLE {table} TO {role_ident};
           END IF;
           IF EXISTS (SELECT 1 FROM pg_class c
                       WHERE c.relkind = 'S' AND c.relnamespace = current_schema()::regnamespace
                         AND NOT (has_sequence_privilege({role_lit}, c.oid, 'USAGE')
                                  AND has_sequence_privilege({role_lit}, c.oid, 'SELECT'))) THEN
             EXECUTE format('GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA %I TO %I', current_schema(), {role_lit});
           END IF;
         END $saas$",
        table = quote_ident(table),
        table_lit = quote_literal(&quote_ident(table)),
        role_ident = quote_ident(role),
        role_lit = quote_literal(role),
    );
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Lets the request role pass the write fence (`saas.enter`) and set its tenant on Citus
/// (`saas.set_tenant`), nothing else in schema `saas`.
pub async fn grant_fence(conn: &mut PgConnection, role: &str) -> ApiResult<()> {
    let sql = format!(
        "GRANT USAGE ON SCHEMA saas TO {role};
         REVOKE ALL ON FUNCTION saas.enter(uuid, text) FROM PUBLIC;
         GRANT EXECUTE ON FUNCTION saas.enter(uuid, text) TO {role};
         REVOKE ALL ON FUNCTION saas.set_tenant(uuid) FROM PUBLIC;
         GRANT EXECUTE ON FUNCTION saas.set_tenant(uuid) TO {role};",
        role = quote_ident(role),
    );
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Lets the request role use a tenant schema (its tables are granted one by one).
pub async fn grant_schema(conn: &mut PgConnection, schema: &str, role: &str) -> ApiResult<()> {
    let sql = format!(
        "DO $saas$ BEGIN
           IF NOT has_schema_privilege({role_lit}, {schema_lit}, 'USAGE') THEN
             GRANT USAGE ON SCHEMA {schema} TO {role};
           END IF;
         END $saas$",
        schema = quote_ident(schema),
        schema_lit = quote_literal(schema),
        role = quote_ident(role),
        role_lit = quote_literal(role),
    );
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
        .execute(&mut *conn)
        .await?;
    Ok(())
}
