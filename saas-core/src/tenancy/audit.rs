//! The boot-time isolation audit: the app refuses to start unless PostgreSQL actually
//! enforces what the framework promises.
//!
//! For every registered model it checks RLS enabled *and* forced, a policy keyed on the tenant
//! setting and no permissive policy that is not, and a primary key that leads with the tenant
//! column; for the request role, that it can log in and is neither superuser, BYPASSRLS, nor
//! owner (or member of the owner) of a tenant table; and that no view over a tenant table
//! runs with its owner's rights (`security_invoker` missing) and no materialized view copies
//! one. Tables with a tenant column that no model registers are reported too.

use std::fmt;

use sqlx::PgPool;

use crate::error::ApiResult;
use crate::model::{ModelMeta, ddl_quote_ident, registered_models};
use crate::tenancy::TENANT_SETTING;

/// One thing the audit found wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditProblem {
    /// The table, view or role concerned.
    pub object: String,
    /// What is wrong.
    pub problem: String,
    /// What to do about it.
    pub fix: String,
}

/// Everything the audit found; empty means isolation holds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditReport {
    /// The problems, in the order they were found.
    pub problems: Vec<AuditProblem>,
}

impl AuditReport {
    /// Whether nothing was found.
    pub fn is_clean(&self) -> bool {
        self.problems.is_empty()
    }

    fn add(
        &mut self,
        object: impl Into<String>,
        problem: impl Into<String>,
        fix: impl Into<String>,
    ) {
        self.problems.push(AuditProblem {
            object: object.into(),
            problem: problem.into(),
            fix: fix.into(),
        });
    }
}

impl fmt::Display for AuditReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "tenant isolation audit failed with {} problem(s); refusing to start:",
            self.problems.len()
        )?;
        for p in &self.problems {
            writeln!(f, "  - {}: {}", p.object, p.problem)?;
            writeln!(f, "    fix: {}", p.fix)?;
        }
        Ok(())
    }
}

/// Runs the audit for every registered model.
pub async fn run(owner: &PgPool, requests: &PgPool, request_role: &str) -> ApiResult<AuditReport> {
    audit_models(owner, requests, request_role, &registered_models()).await
}

/// Runs the audit in every tenant schema and tenant database too: in each schema the models'
/// tables (the event tables are the shared schema's), in each database everything including
/// the request role. Problems are prefixed with the location (`schema:tenant_...`).
pub async fn run_tenant_locations(tenancy: &super::pool::Tenancy) -> ApiResult<AuditReport> {
    use super::placement::Location;
    let mut report = AuditReport::default();
    let tenants = tenancy.tenants().list().await?;
    let schema_models: Vec<&ModelMeta> = registered_models()
        .into_iter()
        .filter(|m| !crate::events::schema::is_event_table(m.table))
        .collect();
    let role = &tenancy.config().request_role;
    // One private connection serves every schema: its session search_path moves from schema
    // to schema, and it is closed afterwards.
    let mut schema_pool: Option<PgPool> = None;
    for tenant in &tenants {
        let location = Location::of(tenant)?;
        let mut found = AuditReport::default();
        match &location {
            Location::Shared => continue,
            Location::Schema(schema) => {
                if schema_pool.is_none() {
                    let options = tenancy
                        .provisioner()
                        .servers()
                        .owner(super::placement::PRIMARY_SERVER)?;
                    schema_pool = Some(
                        sqlx::postgres::PgPoolOptions::new()
                            .max_connections(1)
                            .connect_with(options)
                            .await?,
                    );
                }
                let pool = schema_pool.as_ref().expect("opened above");
                sqlx::query("SELECT set_config('search_path', $1, false)")
                    .bind(ddl_quote_ident(schema))
                    .execute(pool)
                    .await?;
                for model in &schema_models {
                    check_model(pool, role, model, &mut found).await?;
                }
                check_views(pool, &schema_models, &mut found).await?;
                check_unregistered(pool, &schema_models, &mut found).await?;
            }
            Location::Database { server, database } => {
                let servers = tenancy.provisioner().servers();
                let owner = sqlx::postgres::PgPoolOptions::new()
                    .max_connections(1)
                    .connect_with(servers.owner_of(server, database)?)
                    .await?;
                let requests = sqlx::postgres::PgPoolOptions::new()
                    .max_connections(1)
                    .connect_lazy_with(
                        tenancy
                            .database_pools()
                            .request_options(servers.owner_of(server, database)?),
                    );
                let result = audit_models(&owner, &requests, role, &registered_models()).await;
                requests.close().await;
                owner.close().await;
                found = result?;
            }
        }
        for mut problem in found.problems {
            problem.object = format!("{location} ({}): {}", tenant.slug, problem.object);
            report.problems.push(problem);
        }
    }
    if let Some(pool) = schema_pool {
        pool.close().await;
    }
    Ok(report)
}

/// Runs the audit for these models.
pub async fn audit_models(
    owner: &PgPool,
    requests: &PgPool,
    request_role: &str,
    models: &[&ModelMeta],
) -> ApiResult<AuditReport> {
    let mut report = AuditReport::default();
    check_role(owner, requests, request_role, &mut report).await?;
    for model in models {
        check_model(owner, request_role, model, &mut report).await?;
    }
    check_views(owner, models, &mut report).await?;
    check_unregistered(owner, models, &mut report).await?;
    Ok(report)
}

async fn check_role(
    owner: &PgPool,
    requests: &PgPool,
    role: &str,
    report: &mut AuditReport,
) -> ApiResult<()> {
    let row: Option<(bool, bool, bool)> = sqlx::query_as(
        "SELECT rolsuper, rolbypassrls, rolcanlogin FROM pg_roles WHERE rolname = $1",
    )
    .bind(role)
    .fetch_optional(owner)
    .await?;
    let object = format!("role {role}");
    match row {
        None => report.add(
            object,
            "the request role does not exist",
            "let the migrator create it, or create it: CREATE ROLE ... LOGIN NOSUPERUSER NOBYPASSRLS",
        ),
        Some((superuser, bypass, login)) => {
            if superuser {
                report.add(&object, "the request role is a superuser (superusers bypass RLS)", format!("ALTER ROLE {} NOSUPERUSER", ddl_quote_ident(role)));
            }
            if bypass {
                report.add(&object, "the request role has BYPASSRLS", format!("ALTER ROLE {} NOBYPASSRLS", ddl_quote_ident(role)));
            }
            if !login {
                report.add(&object, "the request role cannot log in", format!("ALTER ROLE {} LOGIN", ddl_quote_ident(role)));
            } else if let Err(e) = sqlx::query("SELECT 1").execute(requests).await {
                report.add(&object, format!("requests cannot connect as the request role: {e}"), "give it a password (SAAS_REQUEST_PASSWORD) or allow it in pg_hba.conf");
            }
        }
    }
    Ok(())
}

async fn check_model(
    owner: &PgPool,
    role: &str,
    model: &ModelMeta,
    report: &mut AuditReport,
) -> ApiResult<()> {
    let object = format!("table {}", model.table);
    let table: Option<(i64, bool, bool, bool)> = sqlx::query_as(
        "SELECT c.oid::int8, c.relrowsecurity, c.relforcerowsecurity,
                COALESCE(pg_has_role($2, c.relowner, 'MEMBER'), false)
           FROM pg_class c WHERE c.oid = to_regclass($1)",
    )
    .bind(ddl_quote_ident(model.table))
    .bind(role)
    .fetch_optional(owner)
    .await?;
    let Some((oid, enabled, forced, role_owns)) = table else {
        report.add(
            object,
            format!("the table of model {} does not exist", model.type_name),
            "create it in a migration",
        );
        return Ok(());
    };
    let quoted = ddl_quote_ident(model.table);
    if !enabled {
        report.add(
            &object,
            "row-level security is not enabled",
            format!("ALTER TABLE {quoted} ENABLE ROW LEVEL SECURITY"),
        );
    }
    if !forced {
        report.add(
            &object,
            "row-level security is not forced (the owner bypasses it)",
            format!("ALTER TABLE {quoted} FORCE ROW LEVEL SECURITY"),
        );
    }
    if role_owns {
        report.add(
            &object,
            format!("the request role {role} owns the table (or is a member of its owner)"),
            "let migrations own the tables and requests use a separate role",
        );
    }
    // Only policies that can apply to the request role matter: one written `TO` another role
    // (the framework's owner-only policy on the event tables, say) widens nothing for requests.
    let policies: Vec<(String, bool, Option<String>, Option<String>)> = sqlx::query_as(
        "SELECT polname::text, polpermissive, pg_get_expr(polqual, polrelid), pg_get_expr(polwithcheck, polrelid)
           FROM pg_policy
          WHERE polrelid = $1::int8::oid
            AND (0::oid = ANY (polroles)
                 OR EXISTS (SELECT 1 FROM unnest(polroles) AS r(oid)
                             WHERE pg_has_role($2, r.oid, 'MEMBER')))",
    )
    .bind(oid)
    .bind(role)
    .fetch_all(owner)
    .await?;
    let setting = format!("current_setting('{TENANT_SETTING}'");
    let keyed = |expr: &Option<String>| {
        expr.as_deref()
            .is_some_and(|e| e.contains(&setting) && e.contains(model.tenant_column))
    };
    if !policies
        .iter()
        .any(|(_, permissive, qual, _)| *permissive && keyed(qual))
    {
        report.add(
            &object,
            format!("no policy filters on {}", model.tenant_column),
            "let the migrator create the tenant policy (saas_tenant_isolation)",
        );
    }
    for (name, permissive, qual, check) in &policies {
        if *permissive && !keyed(qual) {
            report.add(&object, format!("policy {name} is permissive and not keyed on the tenant setting: it widens access to every tenant's rows"), format!("DROP POLICY {} ON {quoted}", ddl_quote_ident(name)));
        } else if *permissive && check.is_some() && !keyed(check) {
            report.add(
                &object,
                format!("policy {name} has a WITH CHECK that is not keyed on the tenant setting"),
                "write WITH CHECK on the tenant setting too",
            );
        }
    }
    let leading: Option<String> = sqlx::query_scalar(
        "SELECT a.attname::text FROM pg_index i
           JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]
          WHERE i.indrelid = $1::int8::oid AND i.indisprimary",
    )
    .bind(oid)
    .fetch_optional(owner)
    .await?;
    match leading {
        Some(col) if col == model.tenant_column => {}
        Some(col) => report.add(
            &object,
            format!(
                "the primary key leads with {col}, not {}",
                model.tenant_column
            ),
            format!(
                "PRIMARY KEY ({}, {})",
                model.tenant_column,
                model.key_columns.join(", ")
            ),
        ),
        None => report.add(
            &object,
            "the table has no primary key",
            format!(
                "PRIMARY KEY ({}, {})",
                model.tenant_column,
                model.key_columns.join(", ")
            ),
        ),
    }
    Ok(())
}

async fn check_views(
    owner: &PgPool,
    models: &[&ModelMeta],
    report: &mut AuditReport,
) -> ApiResult<()> {
    let tables: Vec<String> = models.iter().map(|m| ddl_quote_ident(m.table)).collect();
    let rows: Vec<(String, String, bool)> = sqlx::query_as(
        "SELECT DISTINCT v.relname::text, v.relkind::text,
                COALESCE(v.reloptions::text[] && ARRAY['security_invoker=true','security_invoker=on','security_invoker=1'], false)
           FROM pg_rewrite r
           JOIN pg_class v ON v.oid = r.ev_class
           JOIN pg_depend d ON d.objid = r.oid AND d.classid = 'pg_rewrite'::regclass
          WHERE v.relkind IN ('v', 'm')
            AND d.refobjid = ANY (SELECT to_regclass(t) FROM unnest($1::text[]) AS t)
            AND d.refobjid <> v.oid",
    )
    .bind(&tables)
    .fetch_all(owner)
    .await?;
    for (view, kind, invoker) in rows {
        if kind == "m" {
            report.add(
                format!("materialized view {view}"),
                "copies rows of a tenant table without row-level security",
                "drop it, or replace it with a tenant-scoped table",
            );
        } else if !invoker {
            report.add(format!("view {view}"), "reads a tenant table with its owner's rights (security_invoker is off): it bypasses RLS", format!("ALTER VIEW {} SET (security_invoker = true)", ddl_quote_ident(&view)));
        }
    }
    Ok(())
}

async fn check_unregistered(
    owner: &PgPool,
    models: &[&ModelMeta],
    report: &mut AuditReport,
) -> ApiResult<()> {
    let columns: Vec<&str> = {
        let mut c: Vec<&str> = models.iter().map(|m| m.tenant_column).collect();
        c.push("tenant_id");
        c.sort_unstable();
        c.dedup();
        c
    };
    let tables: Vec<String> = models.iter().map(|m| m.table.to_string()).collect();
    let rows: Vec<(String,)> = sqlx::query_as(
        "SELECT DISTINCT c.relname::text FROM pg_class c
           JOIN pg_attribute a ON a.attrelid = c.oid AND NOT a.attisdropped
          WHERE c.relkind IN ('r', 'p')
            AND c.relnamespace = current_schema()::regnamespace
            AND a.attname::text = ANY ($1)
            AND NOT (c.relname::text = ANY ($2))
            AND NOT (c.relrowsecurity AND c.relforcerowsecurity)",
    )
    .bind(&columns)
    .bind(&tables)
    .fetch_all(owner)
    .await?;
    for (table,) in rows {
        report.add(
            format!("table {table}"),
            "has a tenant column but no registered model and no forced row-level security",
            "derive TenantScoped for it, or enable and force RLS with a tenant policy",
        );
    }
    Ok(())
}
