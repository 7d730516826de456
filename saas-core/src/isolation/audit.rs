//! The boot-time isolation audit: the app refuses to start unless PostgreSQL actually
//! enforces what the framework promises.
//!
//! For every registered model, and every other table of the schema with a tenant column, it
//! checks RLS enabled *and* forced; the framework's restrictive tenant policy exactly as the
//! migrator creates it (`AS RESTRICTIVE FOR ALL TO PUBLIC`, `USING` and `WITH CHECK` equal,
//! as `pg_get_expr` renders them, to the canonical expression rendered by the same server);
//! the framework's permissive access policy exactly as created; no other permissive policy
//! that applies to the request role (extra restrictive policies only narrow and are fine); no
//! privilege granted to PUBLIC; and, for models, a primary key that leads with the tenant
//! column. For the request role: it can log in and is neither superuser, BYPASSRLS, nor owner
//! (or member of the owner) of a tenant table; it has no privilege on the framework's private
//! tables (`saas.tenants`, `saas.tenant_moves`, `saas.fences`); and it can execute no
//! `SECURITY DEFINER` function but the framework's own `saas.enter(uuid, text)`. No view over
//! a tenant table may run with its owner's rights (`security_invoker` missing) and no
//! materialized view may copy one.

use sqlx::PgPool;

use crate::error::ApiResult;
use crate::model::{
    ACCESS_POLICY_NAME, ModelMeta, POLICY_NAME, registered_models, tenant_policy_expression,
};
use crate::sql::quote_ident as ddl_quote_ident;

pub use crate::error::{AuditProblem, AuditReport};

/// Runs the audit for every registered model.
pub async fn run(
    owner: &PgPool,
    requests: &PgPool,
    request_role: &str,
) -> crate::Result<AuditReport> {
    audit_models(owner, requests, request_role, &registered_models()).await
}

/// Runs the audit in every tenant schema and tenant database too: in each schema the models'
/// tables (the event tables are the shared schema's), in each database everything including
/// the request role. Problems are prefixed with the location (`schema:tenant_...`).
pub async fn run_tenant_locations(
    tenancy: &crate::tenancy::pool::Tenancy,
) -> crate::Result<AuditReport> {
    use crate::tenancy::placement::Location;
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
            Location::Shared | Location::Dedicated => continue,
            Location::Schema(schema) => {
                if schema_pool.is_none() {
                    let options = tenancy
                        .provisioner()
                        .servers()
                        .owner(crate::tenancy::placement::PRIMARY_SERVER)?;
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
                check_unregistered(pool, role, &schema_models, &mut found).await?;
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
) -> crate::Result<AuditReport> {
    let mut report = AuditReport::default();
    check_role(owner, requests, request_role, &mut report).await?;
    check_private_tables(owner, request_role, &mut report).await?;
    check_definer_functions(owner, request_role, &mut report).await?;
    for model in models {
        check_model(owner, request_role, model, &mut report).await?;
    }
    check_views(owner, models, &mut report).await?;
    check_unregistered(owner, request_role, models, &mut report).await?;
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

/// The framework's private tables: the request role needs no privilege on any of them (it
/// reaches the fences through `saas.enter` only).
const PRIVATE_TABLES: &[&str] = &["saas.tenants", "saas.tenant_moves", "saas.fences"];

/// The framework's own `SECURITY DEFINER` function, by exact signature.
const OWN_DEFINER_FUNCTIONS: &[&str] = &["saas.enter(uuid,text)"];

async fn check_private_tables(
    owner: &PgPool,
    role: &str,
    report: &mut AuditReport,
) -> ApiResult<()> {
    let rows: Vec<String> = sqlx::query_scalar(
        "SELECT t FROM unnest($1::text[]) AS t
          WHERE to_regclass(t) IS NOT NULL
            AND has_table_privilege((SELECT oid FROM pg_roles WHERE rolname = $2), to_regclass(t),
                  'SELECT, INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER')",
    )
    .bind(PRIVATE_TABLES)
    .bind(role)
    .fetch_all(owner)
    .await?;
    for table in rows {
        report.add(
            format!("table {table}"),
            format!("the request role {role} has a privilege on the framework's private table (granted to it or to PUBLIC): it reads or changes every tenant's entry"),
            format!("REVOKE ALL ON TABLE {table} FROM PUBLIC, {}", ddl_quote_ident(role)),
        );
    }
    Ok(())
}

async fn check_definer_functions(
    owner: &PgPool,
    role: &str,
    report: &mut AuditReport,
) -> ApiResult<()> {
    let rows: Vec<String> = sqlx::query_scalar(
        "SELECT format('%I.%I(%s)', n.nspname, p.proname, pg_get_function_identity_arguments(p.oid))
           FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
          WHERE p.prosecdef
            AND n.nspname <> 'information_schema' AND n.nspname NOT LIKE 'pg\\_%'
            AND NOT (p.oid = ANY (SELECT to_regprocedure(f) FROM unnest($1::text[]) AS f))
            AND has_function_privilege((SELECT oid FROM pg_roles WHERE rolname = $2), p.oid, 'EXECUTE')
          ORDER BY 1",
    )
    .bind(OWN_DEFINER_FUNCTIONS)
    .bind(role)
    .fetch_all(owner)
    .await?;
    for function in rows {
        report.add(
            format!("function {function}"),
            format!("is SECURITY DEFINER and the request role {role} may execute it: it runs with its owner's rights, which RLS does not filter for a superuser or BYPASSRLS owner, and which reach whatever the owner may"),
            format!(
                "REVOKE EXECUTE ON FUNCTION {function} FROM PUBLIC, {}; or ALTER FUNCTION {function} SECURITY INVOKER",
                ddl_quote_ident(role)
            ),
        );
    }
    Ok(())
}

async fn check_model(
    owner: &PgPool,
    role: &str,
    model: &ModelMeta,
    report: &mut AuditReport,
) -> ApiResult<()> {
    check_table(
        owner,
        role,
        model.table,
        model.tenant_column,
        Some(model),
        report,
    )
    .await
}

/// The canonical expressions of the framework's two policies on a table, rendered by this
/// server: the same policies on a scratch temporary table with the tenant column's type, in
/// a transaction rolled back at once. `None` when the table has no such column.
async fn canonical_expressions(
    owner: &PgPool,
    oid: i64,
    table: &str,
    column: &str,
    table_owner: &str,
) -> ApiResult<Option<(String, String)>> {
    let column_type: Option<String> = sqlx::query_scalar(
        "SELECT format_type(atttypid, atttypmod) FROM pg_attribute
          WHERE attrelid = $1::int8::oid AND attname = $2 AND NOT attisdropped",
    )
    .bind(oid)
    .bind(column)
    .fetch_optional(owner)
    .await?;
    let Some(column_type) = column_type else {
        return Ok(None);
    };
    let expression = tenant_policy_expression(table, column, table_owner);
    let mut tx = owner.begin().await?;
    let scratch = format!(
        "DROP TABLE IF EXISTS pg_temp.saas_policy_canonical;
         CREATE TEMP TABLE saas_policy_canonical ({} {column_type});
         CREATE POLICY isolation ON pg_temp.saas_policy_canonical USING ({expression});
         CREATE POLICY access ON pg_temp.saas_policy_canonical USING (true);",
        ddl_quote_ident(column)
    );
    sqlx::raw_sql(sqlx::AssertSqlSafe(scratch))
        .execute(&mut *tx)
        .await?;
    let rendered: Vec<(String, String)> = sqlx::query_as(
        "SELECT polname::text, pg_get_expr(polqual, polrelid) FROM pg_policy
          WHERE polrelid = 'pg_temp.saas_policy_canonical'::regclass",
    )
    .fetch_all(&mut *tx)
    .await?;
    tx.rollback().await?;
    let find = |name: &str| {
        rendered
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, e)| e.clone())
            .unwrap_or_default()
    };
    Ok(Some((find("isolation"), find("access"))))
}

/// One policy as the catalog has it.
#[derive(sqlx::FromRow)]
struct Policy {
    name: String,
    permissive: bool,
    command: String,
    roles: String,
    for_public: bool,
    applies_to_role: bool,
    using: Option<String>,
    check: Option<String>,
}

impl Policy {
    /// How this policy differs from `AS <kind> FOR ALL TO PUBLIC USING (want) WITH CHECK
    /// (want)`; empty when it does not.
    fn differences(&self, permissive: bool, want: &str) -> Vec<String> {
        let mut found = Vec::new();
        if self.permissive != permissive {
            found.push(if permissive {
                "it is restrictive, not permissive".to_string()
            } else {
                "it is permissive, not restrictive (a permissive policy is ORed with the others: any other permissive policy widens it)".to_string()
            });
        }
        if self.command != "*" {
            found.push(format!(
                "it applies to {} only, not FOR ALL",
                command_name(&self.command)
            ));
        }
        if !self.for_public {
            found.push(format!("it applies to {}, not PUBLIC", self.roles));
        }
        if self.using.as_deref() != Some(want) {
            found.push(format!(
                "its USING is {}, not {want}",
                self.using.as_deref().unwrap_or("missing")
            ));
        }
        if self.check.as_deref() != Some(want) {
            found.push(format!(
                "its WITH CHECK is {}, not {want}",
                self.check.as_deref().unwrap_or("missing")
            ));
        }
        found
    }
}

/// A table's row-level security as one line per fact (flags, then each policy with its kind,
/// command, roles and expressions) of the relation `%1$s`: the same text on the coordinator
/// and on a shard when they enforce the same thing. (`run_command_on_placements` puts the
/// shard's name in with `format()`, given once: hence the positional `%1$s`.)
const RLS_SUMMARY: &str = "SELECT concat_ws(E'\\n',
    (SELECT 'rls=' || relrowsecurity || ' force=' || relforcerowsecurity
       FROM pg_class WHERE oid = '%1$s'::regclass),
    (SELECT string_agg(polname || ' permissive=' || polpermissive || ' cmd=' || polcmd::text
                       || ' roles=' || polroles::regrole[]::text
                       || ' using=' || coalesce(pg_get_expr(polqual, polrelid), '-')
                       || ' check=' || coalesce(pg_get_expr(polwithcheck, polrelid), '-'),
                       E'\\n' ORDER BY polname)
       FROM pg_policy WHERE polrelid = '%1$s'::regclass))";

/// On Citus, the rows live in shards on the workers, and each shard enforces its own copy of
/// the table's row-level security. Compares every placement of a distributed table with the
/// coordinator's table (checked above), through `run_command_on_placements`.
async fn check_shards(
    owner: &PgPool,
    quoted: &str,
    oid: i64,
    object: &str,
    report: &mut AuditReport,
) -> ApiResult<()> {
    let distributed: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM pg_dist_partition
                         WHERE logicalrelid = $1::int8::oid AND partmethod <> 'n')",
    )
    .bind(oid)
    .fetch_one(owner)
    .await?;
    if !distributed {
        return Ok(());
    }
    let coordinator: String = sqlx::query_scalar(sqlx::AssertSqlSafe(
        RLS_SUMMARY.replace("'%1$s'::regclass", "$1::int8::oid"),
    ))
    .bind(oid)
    .fetch_one(owner)
    .await?;
    let placements: Vec<(String, i32, i64, bool, String)> = sqlx::query_as(
        "SELECT nodename::text, nodeport, shardid, success, result
           FROM run_command_on_placements($1::regclass, $2)",
    )
    .bind(quoted)
    .bind(RLS_SUMMARY)
    .fetch_all(owner)
    .await?;
    for (node, port, shard, success, result) in placements {
        if !success {
            report.add(
                object,
                format!("shard {shard} on {node}:{port} could not be audited: {result}"),
                "make every worker reachable from the coordinator, then restart",
            );
        } else if result != coordinator {
            report.add(
                object,
                format!(
                    "shard {shard} on {node}:{port} enforces other row-level security than the coordinator's table:\n    shard:       {}\n    coordinator: {}",
                    result.replace('\n', "; "),
                    coordinator.replace('\n', "; ")
                ),
                "run the migrator (it recreates the framework's policies and Citus propagates them), or recreate the shard's policies",
            );
        }
    }
    Ok(())
}

fn command_name(polcmd: &str) -> &'static str {
    match polcmd {
        "r" => "SELECT",
        "a" => "INSERT",
        "w" => "UPDATE",
        "d" => "DELETE",
        _ => "ALL",
    }
}

/// Checks one tenant table: RLS flags, ownership, the framework's policies exactly, no other
/// permissive policy for the request role, no grant to PUBLIC, and (for a model) its key.
async fn check_table(
    owner: &PgPool,
    role: &str,
    table: &str,
    column: &str,
    model: Option<&ModelMeta>,
    report: &mut AuditReport,
) -> ApiResult<()> {
    let object = format!("table {table}");
    let row: Option<(i64, bool, bool, bool, String, bool)> = sqlx::query_as(
        "SELECT c.oid::int8, c.relrowsecurity, c.relforcerowsecurity,
                COALESCE(pg_has_role((SELECT oid FROM pg_roles WHERE rolname = $2), c.relowner, 'MEMBER'), false),
                pg_get_userbyid(c.relowner)::text,
                EXISTS (SELECT 1 FROM aclexplode(c.relacl) AS a WHERE a.grantee = 0)
           FROM pg_class c WHERE c.oid = to_regclass($1)",
    )
    .bind(ddl_quote_ident(table))
    .bind(role)
    .fetch_optional(owner)
    .await?;
    let Some((oid, enabled, forced, role_owns, table_owner, public)) = row else {
        let name = model.map_or("?", |m| m.type_name);
        report.add(
            object,
            format!("the table of model {name} does not exist"),
            "create it in a migration",
        );
        return Ok(());
    };
    let quoted = ddl_quote_ident(table);
    if model.is_none() && !(enabled && forced) {
        report.add(
            &object,
            "has a tenant column but no registered model and no forced row-level security",
            "derive TenantScoped for it, or enable and force RLS with the framework's tenant policies",
        );
        return Ok(());
    }
    let unregistered = if model.is_none() {
        " (a table with a tenant column and no registered model)"
    } else {
        ""
    };
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
    if public {
        report.add(
            &object,
            "has privileges granted to PUBLIC: every role of the server may use it",
            format!(
                "REVOKE ALL ON TABLE {quoted} FROM PUBLIC (the migrator grants the request role what it needs)"
            ),
        );
    }
    let Some((want_isolation, want_access)) =
        canonical_expressions(owner, oid, table, column, &table_owner).await?
    else {
        report.add(
            &object,
            format!("has no tenant column {column}"),
            format!("add {column} uuid NOT NULL"),
        );
        return Ok(());
    };
    let policies: Vec<Policy> = sqlx::query_as(
        "SELECT polname::text AS name, polpermissive AS permissive, polcmd::text AS command,
                array_to_string(polroles::regrole[], ', ') AS roles,
                polroles = '{0}'::oid[] AS for_public,
                (0::oid = ANY (polroles)
                 OR EXISTS (SELECT 1 FROM unnest(polroles) AS r(oid)
                             WHERE pg_has_role((SELECT oid FROM pg_roles WHERE rolname = $2), r.oid, 'MEMBER')))
                  AS applies_to_role,
                pg_get_expr(polqual, polrelid) AS using,
                pg_get_expr(polwithcheck, polrelid) AS check
           FROM pg_policy WHERE polrelid = $1::int8::oid ORDER BY polname",
    )
    .bind(oid)
    .bind(role)
    .fetch_all(owner)
    .await?;
    let repair = "run the migrator: it drops and recreates the framework's policies that differ";
    // On Citus the tenant policy is permissive and alone (see `model::POLICY_NAME`).
    let distributed: bool = sqlx::query_scalar(crate::model::citus_present_sql())
        .fetch_one(owner)
        .await?;
    let kind = if distributed {
        "permissive (Citus)"
    } else {
        "restrictive"
    };
    match policies.iter().find(|p| p.name == POLICY_NAME) {
        None => report.add(
            &object,
            format!("the {kind} tenant policy {POLICY_NAME} is missing: no policy restricts rows to the tenant{unregistered}"),
            repair,
        ),
        Some(policy) => {
            let found = policy.differences(distributed, &want_isolation);
            if !found.is_empty() {
                report.add(
                    &object,
                    format!(
                        "policy {POLICY_NAME} differs from the framework's {kind} tenant policy{unregistered}: {}",
                        found.join("; ")
                    ),
                    repair,
                );
            }
        }
    }
    let access = policies.iter().find(|p| p.name == ACCESS_POLICY_NAME);
    match access {
        Some(_) if distributed => report.add(
            &object,
            format!(
                "policy {ACCESS_POLICY_NAME} exists on a Citus database: Citus creates every policy as a permissive one on the shards, where it is ORed with the tenant policy and lets every row through"
            ),
            repair,
        ),
        None if distributed => {}
        None => report.add(
            &object,
            format!("the permissive access policy {ACCESS_POLICY_NAME} is missing{unregistered}"),
            repair,
        ),
        Some(policy) => {
            let found = policy.differences(true, &want_access);
            if !found.is_empty() {
                report.add(
                    &object,
                    format!(
                        "policy {ACCESS_POLICY_NAME} differs from the framework's access policy{unregistered}: {}",
                        found.join("; ")
                    ),
                    repair,
                );
            }
        }
    }
    // Any other permissive policy the request role is subject to is ORed with the framework's
    // access policy: harmless today (that one is `true`), but it is how access gets widened
    // the day someone narrows the access policy, and nobody should rely on it. Restrictive
    // ones only narrow. Policies written for other roles (the framework's owner-only policy on
    // the event tables) do not apply to requests.
    for policy in &policies {
        if policy.permissive
            && policy.applies_to_role
            && policy.name != ACCESS_POLICY_NAME
            && policy.name != POLICY_NAME
        {
            report.add(
                &object,
                format!(
                    "policy {} is permissive and applies to the request role: the tenant policy must be the only thing deciding which rows requests see",
                    policy.name
                ),
                format!(
                    "DROP POLICY {} ON {quoted}, or make it AS RESTRICTIVE",
                    ddl_quote_ident(&policy.name)
                ),
            );
        }
    }
    if distributed {
        check_shards(owner, &quoted, oid, &object, report).await?;
    }
    let Some(model) = model else {
        return Ok(());
    };
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

/// Tables of the current schema with a tenant column that no model registers: checked like
/// a model's table (without the key), so a hand-protected table cannot hide a `USING (true)`.
async fn check_unregistered(
    owner: &PgPool,
    role: &str,
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
    let rows: Vec<(String, String)> = sqlx::query_as(
        "SELECT DISTINCT ON (c.relname) c.relname::text, a.attname::text FROM pg_class c
           JOIN pg_attribute a ON a.attrelid = c.oid AND NOT a.attisdropped
          WHERE c.relkind IN ('r', 'p')
            AND c.relnamespace = current_schema()::regnamespace
            AND a.attname::text = ANY ($1)
            AND NOT (c.relname::text = ANY ($2))
          ORDER BY c.relname, a.attnum",
    )
    .bind(&columns)
    .bind(&tables)
    .fetch_all(owner)
    .await?;
    for (table, column) in rows {
        check_table(owner, role, &table, &column, None, report).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::command_name;

    #[test]
    fn policy_commands_are_named_as_in_sql() {
        let names: Vec<&str> = ["r", "a", "w", "d", "*"]
            .into_iter()
            .map(command_name)
            .collect();
        assert_eq!(names, ["SELECT", "INSERT", "UPDATE", "DELETE", "ALL"]);
    }
}
