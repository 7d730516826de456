//! The boot-time isolation audit refuses to start in every failure case, and says why.

use crate::common;

use common::*;
use saas_core::Error;
use saas_core::prelude::*;
use saas_core::tenancy::pool::Tenancy;

/// Breaks a freshly migrated database with `sabotage` (run as the owner), then starts again
/// and returns the audit's message.
async fn audit_after(sabotage: &[&str]) -> String {
    audit_outcome(sabotage)
        .await
        .expect("the audit must refuse to start")
}

/// Breaks a freshly migrated database (its own, with a request role of its own) with
/// `sabotage` (run as the owner; `{role}` names the request role), then starts again: the
/// audit's message when it refuses, `None` when the runtime starts.
async fn audit_outcome(sabotage: &[&str]) -> Option<String> {
    let env = Env::new().await;
    env.tenancy.close().await;
    let mut owner = env.db.owner_conn().await.unwrap();
    let role = env.db.request_role();
    for statement in sabotage {
        let sql = statement.replace("{role}", &format!("\"{role}\""));
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql.clone()))
            .execute(&mut owner)
            .await
            .unwrap_or_else(|e| panic!("sabotage {sql:?} failed: {e}"));
    }
    // Start without migrating, as an app whose migrations run in a separate job does: the
    // migrator would otherwise repair part of the sabotage.
    let mut config = env.db.config();
    config.migrate_on_start = false;
    let result = Tenancy::start(config.clone(), resolvers(), Some(&MIGRATIONS)).await;
    match result {
        Ok(tenancy) => {
            tenancy.close().await;
            None
        }
        Err(Error::Audit(report)) => {
            // and the loudly named opt-out lets it start anyway
            config.dangerously_skip_isolation_audit = true;
            Tenancy::start(config, resolvers(), Some(&MIGRATIONS))
                .await
                .expect("the opt-out starts despite the audit")
                .close()
                .await;
            Some(report.to_string())
        }
        Err(other) => panic!("expected an audit error, got {other:?}"),
    }
}

/// Whether the test databases are Citus databases, where the tenant policy is permissive and
/// alone (see `saas_core::model::POLICY_NAME`) and the boot audit is what stops a widening
/// policy.
fn on_citus() -> bool {
    saas_testkit::citus::enabled()
}

/// How the audit names the framework's tenant policy on this server.
fn tenant_policy_kind() -> &'static str {
    if on_citus() {
        "permissive (Citus)"
    } else {
        "restrictive"
    }
}

/// The tenant predicate exactly as the framework writes it.
const PREDICATE: &str = "tenant_id = nullif(current_setting('saas.tenant_id', true), '')::uuid";

/// One unsafe configuration: its name, the statements that create it on a freshly migrated
/// database, and the names the audit's message must contain (the objects to fix).
struct Mutation {
    name: &'static str,
    sql: Vec<String>,
    names: &'static [&'static str],
}

/// The widening policies test `nullif(..) <> ''`, not `.. IS NOT NULL`: Citus 13.2 cannot
/// propagate a policy holding an `IS [NOT] NULL` test to the shards ("unrecognized node type"),
/// and the same table runs on Citus.
fn mutations() -> Vec<Mutation> {
    let m = |name, sql: &[&str], names| Mutation {
        name,
        sql: sql.iter().map(|s| s.replace("{pred}", PREDICATE)).collect(),
        names,
    };
    vec![
        m(
            "a permissive policy that widens access (any tenant set sees every row)",
            &["CREATE POLICY peek ON projects FOR SELECT
                 USING (nullif(current_setting('saas.tenant_id', true), '') <> '')"],
            &["peek", "projects"],
        ),
        m(
            "the framework's policy with OR true",
            &["ALTER POLICY saas_tenant_isolation ON tasks USING ({pred} OR true)"],
            &["saas_tenant_isolation", "tasks"],
        ),
        m(
            "the framework's policy with <> instead of =",
            &["ALTER POLICY saas_tenant_isolation ON memberships
                 USING (tenant_id <> nullif(current_setting('saas.tenant_id', true), '')::uuid)
                 WITH CHECK (tenant_id <> nullif(current_setting('saas.tenant_id', true), '')::uuid)"],
            &["saas_tenant_isolation", "memberships"],
        ),
        m(
            "the framework's policy on another setting (one any role may set)",
            &["ALTER POLICY saas_tenant_isolation ON projects
                 USING (tenant_id = nullif(current_setting('saas.tenant_id2', true), '')::uuid)
                 WITH CHECK (tenant_id = nullif(current_setting('saas.tenant_id2', true), '')::uuid)"],
            &["saas_tenant_isolation", "projects"],
        ),
        m(
            "the framework's policy for SELECT only",
            &[
                "DROP POLICY saas_tenant_isolation ON tasks",
                "CREATE POLICY saas_tenant_isolation ON tasks FOR SELECT USING ({pred})",
            ],
            &["saas_tenant_isolation", "tasks", "applies to SELECT only"],
        ),
        m(
            "the framework's policy without WITH CHECK",
            &[
                "DROP POLICY saas_tenant_isolation ON projects",
                "CREATE POLICY saas_tenant_isolation ON projects FOR ALL USING ({pred})",
            ],
            &["saas_tenant_isolation", "projects"],
        ),
        m(
            "the framework's policy with WITH CHECK (true)",
            &["ALTER POLICY saas_tenant_isolation ON projects WITH CHECK (true)"],
            &["saas_tenant_isolation", "projects"],
        ),
        m(
            "the framework's policy for another role only",
            &["ALTER POLICY saas_tenant_isolation ON tasks TO pg_monitor"],
            &["saas_tenant_isolation", "tasks"],
        ),
        m(
            "the request role owns a tenant table (requests run as the owner)",
            &["ALTER TABLE tasks OWNER TO {role}"],
            &["tasks", "owns the table"],
        ),
        m(
            "the request role has BYPASSRLS",
            &["ALTER ROLE {role} BYPASSRLS"],
            &["BYPASSRLS"],
        ),
        m(
            "a view without security_invoker",
            &[
                "CREATE VIEW project_names AS SELECT tenant_id, name FROM projects",
                "GRANT SELECT ON project_names TO {role}",
            ],
            &["view project_names"],
        ),
        m(
            "a SECURITY DEFINER function returning every tenant's rows",
            &["CREATE FUNCTION every_project() RETURNS SETOF projects
                 LANGUAGE sql STABLE SECURITY DEFINER AS 'SELECT * FROM projects'"],
            &["every_project"],
        ),
        m(
            "an unregistered tenant table with forced RLS and USING (true)",
            &[
                "CREATE TABLE notes (tenant_id uuid NOT NULL, id uuid NOT NULL, body text,
                   PRIMARY KEY (tenant_id, id))",
                "ALTER TABLE notes ENABLE ROW LEVEL SECURITY",
                "ALTER TABLE notes FORCE ROW LEVEL SECURITY",
                "CREATE POLICY open_notes ON notes USING (true) WITH CHECK (true)",
                "GRANT SELECT, INSERT ON notes TO {role}",
            ],
            &["notes", "open_notes"],
        ),
        m(
            "an unregistered tenant table with RLS enabled but not forced",
            &[
                "CREATE TABLE drafts (tenant_id uuid NOT NULL, id uuid NOT NULL,
                   PRIMARY KEY (tenant_id, id))",
                "ALTER TABLE drafts ENABLE ROW LEVEL SECURITY",
                "GRANT SELECT ON drafts TO {role}",
            ],
            &["drafts", "no registered model and no forced row-level security"],
        ),
        m(
            "a tenant table granted to PUBLIC",
            &["GRANT SELECT ON projects TO PUBLIC"],
            &["projects", "PUBLIC"],
        ),
        m(
            "the tenant registry granted to PUBLIC",
            &["GRANT SELECT ON saas.tenants TO PUBLIC"],
            &["saas.tenants"],
        ),
        m(
            "a widening permissive policy on an event table",
            &["CREATE POLICY peek_events ON saas_audit_log FOR SELECT
                 USING (nullif(current_setting('saas.tenant_id', true), '') <> '')"],
            &["peek_events", "saas_audit_log"],
        ),
    ]
}

/// Every unsafe configuration in the table is refused at boot, each with a message naming
/// what to fix; the unmodified set-up starts (so refusing everything cannot pass).
#[tokio::test]
async fn audit_refuses_every_mutation_in_the_table() {
    assert_eq!(
        audit_outcome(&[]).await,
        None,
        "the unmodified set-up must pass the audit"
    );
    let cases = mutations();
    assert!(cases.len() >= 12);
    let mut missed = Vec::new();
    for case in &cases {
        let sql: Vec<&str> = case.sql.iter().map(String::as_str).collect();
        match audit_outcome(&sql).await {
            None => missed.push(format!("{}: accepted", case.name)),
            Some(msg) => {
                let absent: Vec<&str> = case
                    .names
                    .iter()
                    .copied()
                    .filter(|n| !msg.contains(n))
                    .collect();
                if !absent.is_empty() {
                    missed.push(format!(
                        "{}: refused without naming {absent:?}:\n{msg}",
                        case.name
                    ));
                }
            }
        }
    }
    assert!(
        missed.is_empty(),
        "{} of {} mutations not refused as they must be:\n- {}",
        missed.len(),
        cases.len(),
        missed.join("\n- ")
    );
}

#[tokio::test]
async fn clean_database_passes_the_audit() {
    let env = Env::new().await;
    let report = saas_core::isolation::audit::run(
        env.tenancy.owner_pool(),
        &env.request_pool().await,
        &env.db.request_role(),
    )
    .await
    .unwrap();
    assert!(report.is_clean(), "{report}");
}

#[tokio::test]
async fn audit_refuses_a_table_without_row_level_security() {
    let msg = audit_after(&["ALTER TABLE projects DISABLE ROW LEVEL SECURITY"]).await;
    assert!(
        msg.contains("table projects: row-level security is not enabled"),
        "{msg}"
    );
}

#[tokio::test]
async fn audit_refuses_a_table_whose_rls_is_not_forced() {
    let msg = audit_after(&["ALTER TABLE projects NO FORCE ROW LEVEL SECURITY"]).await;
    assert!(
        msg.contains("table projects: row-level security is not forced"),
        "{msg}"
    );
}

#[tokio::test]
async fn audit_refuses_a_table_without_the_tenant_policy() {
    let msg = audit_after(&["DROP POLICY saas_tenant_isolation ON tasks"]).await;
    let expected = format!(
        "table tasks: the {} tenant policy saas_tenant_isolation is missing",
        tenant_policy_kind()
    );
    assert!(msg.contains(&expected), "{msg}");
}

#[tokio::test]
async fn audit_refuses_a_superuser_request_role() {
    let msg = audit_after(&["ALTER ROLE {role} SUPERUSER"]).await;
    assert!(msg.contains("is a superuser"), "{msg}");
}

#[tokio::test]
async fn migrator_repairs_what_it_owns_on_start() {
    let env = Env::new().await;
    env.tenancy.close().await;
    let mut owner = env.db.owner_conn().await.unwrap();
    run_each(
        &mut owner,
        &[
            "ALTER TABLE projects DISABLE ROW LEVEL SECURITY",
            "DROP POLICY saas_tenant_isolation ON tasks",
        ],
    )
    .await;
    Tenancy::start(env.db.config(), resolvers(), Some(&MIGRATIONS))
        .await
        .expect("migrating on start restores RLS and the policy");
}

/// A database migrated by a version whose tenant policy was permissive is refused by the
/// audit, and repaired by the migrator. On Citus the other way round: a table with the
/// single-server layout (a restrictive tenant policy and the permissive access policy, as a
/// database that gains Citus later has them) means every row on the shards, where Citus makes
/// both permissive; the audit refuses it and the migrator leaves the permissive tenant policy
/// alone.
#[tokio::test]
async fn migrator_repairs_a_tenant_policy_of_the_other_layout() {
    let (old_shape, expected, repaired): (&[&str], &[&str], &[(&str, bool)]) = if on_citus() {
        (
            &[
                "DROP POLICY saas_tenant_isolation ON projects",
                "CREATE POLICY saas_tenant_isolation ON projects AS RESTRICTIVE FOR ALL
                   USING (tenant_id = nullif(current_setting('saas.tenant_id', true), '')::uuid)
                   WITH CHECK (tenant_id = nullif(current_setting('saas.tenant_id', true), '')::uuid)",
                "CREATE POLICY saas_tenant_access ON projects AS PERMISSIVE FOR ALL
                   USING (true) WITH CHECK (true)",
            ],
            &[
                "table projects: policy saas_tenant_isolation differs",
                "it is restrictive, not permissive",
                "table projects: policy saas_tenant_access exists on a Citus database",
            ],
            &[("saas_tenant_isolation", true)],
        )
    } else {
        (
            &[
                "DROP POLICY saas_tenant_access ON projects",
                "DROP POLICY saas_tenant_isolation ON projects",
                "CREATE POLICY saas_tenant_isolation ON projects AS PERMISSIVE FOR ALL
                   USING (tenant_id = nullif(current_setting('saas.tenant_id', true), '')::uuid)
                   WITH CHECK (tenant_id = nullif(current_setting('saas.tenant_id', true), '')::uuid)",
            ],
            &[
                "table projects: policy saas_tenant_isolation differs",
                "it is permissive, not restrictive",
                "table projects: the permissive access policy saas_tenant_access is missing",
            ],
            &[("saas_tenant_access", true), ("saas_tenant_isolation", false)],
        )
    };
    let msg = audit_after(old_shape).await;
    for part in expected {
        assert!(msg.contains(part), "missing {part:?} in:\n{msg}");
    }

    let env = Env::new().await;
    env.tenancy.close().await;
    let mut owner = env.db.owner_conn().await.unwrap();
    run_each(&mut owner, old_shape).await;
    Tenancy::start(env.db.config(), resolvers(), Some(&MIGRATIONS))
        .await
        .expect("the migrator repairs the policy and the audit passes")
        .close()
        .await;
    let policies: Vec<(String, bool)> = sqlx::query_as(
        "SELECT polname::text, polpermissive FROM pg_policy
          WHERE polrelid = 'projects'::regclass ORDER BY polname",
    )
    .fetch_all(&mut owner)
    .await
    .unwrap();
    let repaired: Vec<(String, bool)> = repaired
        .iter()
        .map(|(name, permissive)| (name.to_string(), *permissive))
        .collect();
    assert_eq!(policies, repaired);
}

/// Re-running the protection of an already protected table takes no lock on it: it runs to
/// the end while another transaction holds the table's strongest lock.
#[tokio::test]
async fn protecting_a_protected_table_again_takes_no_lock() {
    let env = Env::new().await;
    let mut holder = env.db.owner_conn().await.unwrap();
    sqlx::raw_sql("BEGIN; LOCK TABLE projects IN ACCESS EXCLUSIVE MODE")
        .execute(&mut holder)
        .await
        .unwrap();
    let mut owner = env.db.owner_conn().await.unwrap();
    sqlx::raw_sql("SET lock_timeout = '2s'")
        .execute(&mut owner)
        .await
        .unwrap();
    for statement in saas_core::model::table_ddl_statements(Project::meta()) {
        sqlx::raw_sql(sqlx::AssertSqlSafe(statement))
            .execute(&mut owner)
            .await
            .expect("no lock on an already protected table");
    }
    sqlx::raw_sql("ROLLBACK")
        .execute(&mut holder)
        .await
        .unwrap();
    // and the same DDL does take the lock when it has something to repair
    sqlx::raw_sql("ALTER POLICY saas_tenant_isolation ON projects USING (true)")
        .execute(&mut owner)
        .await
        .unwrap();
    sqlx::raw_sql("BEGIN; LOCK TABLE projects IN ACCESS EXCLUSIVE MODE")
        .execute(&mut holder)
        .await
        .unwrap();
    let err = sqlx::raw_sql(sqlx::AssertSqlSafe(saas_core::model::rls_ddl(
        Project::meta(),
    )))
    .execute(&mut owner)
    .await
    .expect_err("a repair waits for the lock");
    assert!(err.to_string().contains("lock timeout"), "{err}");
}

/// What RESTRICTIVE buys: a permissive policy added later (here the one from the issue, which
/// any tenant's setting satisfies) does not widen what a tenant's transaction sees.
///
/// On Citus the tenant policy is permissive (Citus would make a restrictive one permissive on
/// the shards), so such a policy does widen it there: the boot audit is what stops it, and this
/// test checks that it does, naming the policy.
#[tokio::test]
async fn a_permissive_policy_added_later_does_not_widen_the_tenant_policy() {
    let env = Env::new().await;
    let (a, b) = (env.tenant("acme").await, env.tenant("globex").await);
    for (tenant, name) in [(&a, "a1"), (&b, "b1")] {
        let mut tx = TenantTx::begin(&env.tenancy, tenant.id);
        Project::insert(&mut tx, NewProject { name: name.into() })
            .await
            .unwrap();
        tx.commit().await.unwrap();
    }
    let mut owner = env.db.owner_conn().await.unwrap();
    sqlx::raw_sql(
        "CREATE POLICY peek ON projects FOR SELECT
           USING (nullif(current_setting('saas.tenant_id', true), '') <> '')",
    )
    .execute(&mut owner)
    .await
    .unwrap();
    let mut tx = TenantTx::begin(&env.tenancy, a.id);
    let mut names: Vec<String> = sqlx::query_scalar("SELECT name FROM projects")
        .fetch_all(tx.conn().await.unwrap())
        .await
        .unwrap();
    if !on_citus() {
        assert_eq!(names, ["a1"]);
        return;
    }
    names.sort();
    assert_eq!(names, ["a1", "b1"], "on Citus a permissive policy widens");
    let report = saas_core::isolation::audit::run(
        env.tenancy.owner_pool(),
        &env.request_pool().await,
        &env.db.request_role(),
    )
    .await
    .unwrap()
    .to_string();
    assert!(
        report
            .contains("table projects: policy peek is permissive and applies to the request role"),
        "{report}"
    );
}

#[tokio::test]
async fn audit_refuses_a_permissive_policy_that_is_not_keyed_on_the_tenant() {
    let msg = audit_after(&["CREATE POLICY everyone ON projects USING (true)"]).await;
    assert!(msg.contains("policy everyone is permissive"), "{msg}");
}

#[tokio::test]
async fn audit_refuses_a_request_role_that_bypasses_rls() {
    let msg = audit_after(&["ALTER ROLE {role} BYPASSRLS"]).await;
    assert!(msg.contains("has BYPASSRLS"), "{msg}");
}

#[tokio::test]
async fn audit_refuses_a_request_role_that_owns_a_tenant_table() {
    let msg = audit_after(&["ALTER TABLE tasks OWNER TO {role}"]).await;
    assert!(msg.contains("owns the table"), "{msg}");
}

#[tokio::test]
async fn audit_refuses_a_view_without_security_invoker() {
    let msg = audit_after(&["CREATE VIEW all_projects AS SELECT * FROM projects"]).await;
    assert!(msg.contains("view all_projects"), "{msg}");
    assert!(msg.contains("security_invoker"), "{msg}");
}

#[tokio::test]
async fn audit_accepts_a_view_with_security_invoker() {
    let env = Env::new().await;
    let mut owner = env.db.owner_conn().await.unwrap();
    sqlx::raw_sql(
        "CREATE VIEW my_projects WITH (security_invoker = true) AS SELECT * FROM projects",
    )
    .execute(&mut owner)
    .await
    .unwrap();
    Tenancy::start(env.db.config(), resolvers(), Some(&MIGRATIONS))
        .await
        .expect("a security_invoker view is fine");
}

#[tokio::test]
async fn audit_refuses_a_materialized_view_over_a_tenant_table() {
    let msg = audit_after(&["CREATE MATERIALIZED VIEW snapshot AS SELECT * FROM projects"]).await;
    assert!(msg.contains("materialized view snapshot"), "{msg}");
}

#[tokio::test]
async fn audit_refuses_an_unprotected_table_with_a_tenant_column() {
    let msg = audit_after(&["CREATE TABLE notes (tenant_id uuid, body text)"]).await;
    assert!(msg.contains("table notes"), "{msg}");
}

/// Several problems at once are all reported, in one message.
#[tokio::test]
async fn audit_reports_every_problem_at_once() {
    let env = Env::new().await;
    let mut owner = env.db.owner_conn().await.unwrap();
    let role = env.db.request_role();
    for sql in [
        "ALTER TABLE projects DISABLE ROW LEVEL SECURITY".to_string(),
        "ALTER TABLE projects NO FORCE ROW LEVEL SECURITY".to_string(),
        "DROP POLICY saas_tenant_isolation ON tasks".to_string(),
        "ALTER TABLE memberships DROP CONSTRAINT memberships_pkey".to_string(),
        "ALTER TABLE memberships ADD PRIMARY KEY (project_id, member, tenant_id)".to_string(),
        format!("ALTER ROLE \"{role}\" SUPERUSER BYPASSRLS"),
    ] {
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
            .execute(&mut owner)
            .await
            .unwrap();
    }
    let report = saas_core::isolation::audit::run(
        env.tenancy.owner_pool(),
        &env.request_pool().await,
        &role,
    )
    .await
    .unwrap();
    let msg = report.to_string();
    let missing_policy = format!(
        "table tasks: the {} tenant policy saas_tenant_isolation is missing",
        tenant_policy_kind()
    );
    for expected in [
        "table projects: row-level security is not enabled",
        "table projects: row-level security is not forced",
        &missing_policy,
        "table memberships: the primary key leads with project_id",
        "is a superuser",
        "has BYPASSRLS",
    ] {
        assert!(msg.contains(expected), "missing {expected:?} in:\n{msg}");
    }
    assert!(
        msg.starts_with("tenant isolation audit failed with"),
        "{msg}"
    );
    // restore so the database can be dropped by a non-superuser-dependent path
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "ALTER ROLE \"{role}\" NOSUPERUSER"
    )))
    .execute(&mut owner)
    .await
    .unwrap();
}

/// The audit looks inside every tenant schema too: a permissive policy that widens access on
/// a schema-tier tenant's own `projects` stops the start, named with the schema.
#[tokio::test]
async fn audit_checks_the_tables_of_every_tenant_schema() {
    let env = Env::new().await;
    let tenant = env
        .tenancy
        .tenants()
        .create(saas_core::tenancy::registry::NewTenant {
            name: "Acme".into(),
            slug: format!("acme-{}", &Uuid::new_v4().simple().to_string()[..8]),
            tier: Some(saas_core::tenancy::Tier::Schema),
            server: None,
        })
        .await
        .unwrap();
    let schema = match saas_core::tenancy::Location::of(&tenant).unwrap() {
        saas_core::tenancy::Location::Schema(schema) => schema,
        other => panic!("a schema-tier tenant has a schema, got {other:?}"),
    };
    env.tenancy.close().await;
    // A tenant schema as the framework made it passes (its tables are the models' tables).
    Tenancy::start(env.db.config(), resolvers(), Some(&MIGRATIONS))
        .await
        .expect("a clean tenant schema passes the audit")
        .close()
        .await;
    let mut owner = env.db.owner_conn().await.unwrap();
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "CREATE POLICY peek ON \"{schema}\".projects FOR SELECT \
         USING (nullif(current_setting('saas.tenant_id', true), '') <> '')"
    )))
    .execute(&mut owner)
    .await
    .unwrap();
    let err = Tenancy::start(env.db.config(), resolvers(), Some(&MIGRATIONS))
        .await
        .expect_err("the audit must refuse a widened policy in a tenant schema")
        .to_string();
    assert!(err.contains(&format!("schema:{schema}")), "{err}");
    assert!(err.contains("peek") && err.contains("projects"), "{err}");
}
