//! The boot-time isolation audit refuses to start in every failure case, and says why.

mod common;

use common::*;
use saas_core::Error;
use saas_core::tenancy::pool::Tenancy;

/// Breaks a freshly migrated database with `sabotage` (run as the owner), then starts again
/// and returns the audit's message.
async fn audit_after(sabotage: &[&str]) -> String {
    let env = Env::new().await;
    env.tenancy.close().await;
    let mut owner = env.db.owner_conn().await.unwrap();
    let role = env.db.request_role();
    for statement in sabotage {
        let sql = statement.replace("{role}", &format!("\"{role}\""));
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
            .execute(&mut owner)
            .await
            .unwrap();
    }
    // Start without migrating, as an app whose migrations run in a separate job does: the
    // migrator would otherwise repair part of the sabotage.
    let mut config = env.db.config();
    config.migrate_on_start = false;
    let result = Tenancy::start(config.clone(), resolvers(), Some(&MIGRATIONS)).await;
    let err = result.expect_err("the audit must refuse to start");
    match err {
        Error::Audit(report) => {
            // and the loudly named opt-out lets it start anyway
            config.dangerously_skip_isolation_audit = true;
            Tenancy::start(config, resolvers(), Some(&MIGRATIONS))
                .await
                .expect("the opt-out starts despite the audit");
            report.to_string()
        }
        other => panic!("expected an audit error, got {other:?}"),
    }
}

#[tokio::test]
async fn clean_database_passes_the_audit() {
    let env = Env::new().await;
    let report = saas_core::tenancy::audit::run(
        env.tenancy.owner_pool(),
        env.tenancy.request_pool(),
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
    assert!(
        msg.contains("table tasks: no policy filters on tenant_id"),
        "{msg}"
    );
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
    sqlx::raw_sql("ALTER TABLE projects DISABLE ROW LEVEL SECURITY; DROP POLICY saas_tenant_isolation ON tasks")
        .execute(&mut owner)
        .await
        .unwrap();
    Tenancy::start(env.db.config(), resolvers(), Some(&MIGRATIONS))
        .await
        .expect("migrating on start restores RLS and the policy");
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
    let report =
        saas_core::tenancy::audit::run(env.tenancy.owner_pool(), env.tenancy.request_pool(), &role)
            .await
            .unwrap();
    let msg = report.to_string();
    for expected in [
        "table projects: row-level security is not enabled",
        "table projects: row-level security is not forced",
        "table tasks: no policy filters on tenant_id",
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
