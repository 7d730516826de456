//! Row-level security holds under raw SQL: what PostgreSQL enforces even when the application
//! forgets a WHERE clause or tries to write across tenants.

mod common;

use common::*;
use saas_core::prelude::*;
use saas_core::tenancy::pool::Tenancy;

async fn seed(env: &Env, tenancy: &Tenancy, tenant: TenantId, names: &[&str]) {
    let _ = env;
    let mut tx = TenantTx::begin(tenancy, tenant);
    for name in names {
        Project::insert(
            &mut tx,
            NewProject {
                name: name.to_string(),
            },
        )
        .await
        .unwrap();
    }
    tx.commit().await.unwrap();
}

#[tokio::test]
async fn raw_select_inside_tenant_tx_returns_only_that_tenants_rows() {
    for bound in [0, 8] {
        let env = Env::with_config(|c| c.bound_tenants(bound)).await;
        let (a, b) = (env.tenant("acme").await, env.tenant("globex").await);
        seed(&env, &env.tenancy, a.id, &["a1", "a2"]).await;
        seed(&env, &env.tenancy, b.id, &["b1"]).await;

        let mut tx = TenantTx::begin(&env.tenancy, a.id);
        let rows: Vec<(Uuid, String)> = sqlx::query_as("SELECT tenant_id, name FROM projects")
            .fetch_all(tx.conn().await.unwrap())
            .await
            .unwrap();
        assert_eq!(rows.len(), 2, "bound_tenants={bound}");
        assert!(rows.iter().all(|(t, _)| *t == *a.id.as_uuid()));
    }
}

#[tokio::test]
async fn raw_select_without_tenant_returns_no_rows() {
    let env = Env::new().await;
    let a = env.tenant("acme").await;
    seed(&env, &env.tenancy, a.id, &["a1"]).await;
    // The request role, outside any tenant transaction: the policy sees no setting.
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM projects")
        .fetch_one(env.tenancy.request_pool())
        .await
        .unwrap();
    assert_eq!(count, 0);
    // Even the tables' owner sees nothing: RLS is forced. (The test server's superuser always
    // bypasses RLS, so hand the table to an ordinary owner role first.)
    let mut owner = env.db.owner_conn().await.unwrap();
    let table_owner = format!("{}_owner", env.db.name());
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "CREATE ROLE \"{table_owner}\"; ALTER TABLE projects OWNER TO \"{table_owner}\";
         SET ROLE \"{table_owner}\";"
    )))
    .execute(&mut owner)
    .await
    .unwrap();
    let seen: i64 = sqlx::query_scalar("SELECT count(*) FROM projects")
        .fetch_one(&mut owner)
        .await
        .unwrap();
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "RESET ROLE; ALTER TABLE projects OWNER TO CURRENT_USER; DROP ROLE \"{table_owner}\""
    )))
    .execute(&mut owner)
    .await
    .unwrap();
    assert_eq!(seen, 0);
}

#[tokio::test]
async fn insert_with_another_tenants_id_is_rejected() {
    let env = Env::new().await;
    let (a, b) = (env.tenant("acme").await, env.tenant("globex").await);
    let mut tx = TenantTx::begin(&env.tenancy, a.id);
    let err = sqlx::query("INSERT INTO projects (tenant_id, name) VALUES ($1, 'stolen')")
        .bind(b.id)
        .execute(tx.conn().await.unwrap())
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("row-level security"),
        "unexpected error: {err}"
    );
}

#[tokio::test]
async fn update_cannot_move_a_row_to_another_tenant() {
    let env = Env::new().await;
    let (a, b) = (env.tenant("acme").await, env.tenant("globex").await);
    seed(&env, &env.tenancy, a.id, &["a1"]).await;
    let mut tx = TenantTx::begin(&env.tenancy, a.id);
    let err = sqlx::query("UPDATE projects SET tenant_id = $1")
        .bind(b.id)
        .execute(tx.conn().await.unwrap())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("row-level security"), "{err}");
    drop(tx);
    let mut tx = TenantTx::begin(&env.tenancy, b.id);
    let page = Project::list(&mut tx, PageRequest::first()).await.unwrap();
    assert!(page.items.is_empty());
}

#[tokio::test]
async fn update_and_delete_of_another_tenants_rows_touch_nothing() {
    let env = Env::new().await;
    let (a, b) = (env.tenant("acme").await, env.tenant("globex").await);
    seed(&env, &env.tenancy, a.id, &["a1"]).await;
    let mut tx = TenantTx::begin(&env.tenancy, b.id);
    let conn = tx.conn().await.unwrap();
    let updated = sqlx::query("UPDATE projects SET name = 'pwned'")
        .execute(&mut *conn)
        .await
        .unwrap();
    let deleted = sqlx::query("DELETE FROM projects")
        .execute(&mut *conn)
        .await
        .unwrap();
    assert_eq!((updated.rows_affected(), deleted.rows_affected()), (0, 0));
}

#[tokio::test]
async fn foreign_key_to_another_tenants_parent_is_rejected() {
    let env = Env::new().await;
    let (a, b) = (env.tenant("acme").await, env.tenant("globex").await);
    let mut tx = TenantTx::begin(&env.tenancy, a.id);
    let project = Project::insert(&mut tx, NewProject { name: "a".into() })
        .await
        .unwrap();
    tx.commit().await.unwrap();

    // Through the generated insert: the parent is "not found" for tenant B.
    let mut tx = TenantTx::begin(&env.tenancy, b.id);
    let err = Task::insert(
        &mut tx,
        NewTask {
            project_id: project.id,
            title: "sneaky".into(),
        },
    )
    .await
    .unwrap_err();
    assert_eq!(err.status(), 404, "{err}");
    drop(tx);

    // Through raw SQL: the composite foreign key (tenant_id, project_id) refuses it.
    let mut tx = TenantTx::begin(&env.tenancy, b.id);
    let err = sqlx::query("INSERT INTO tasks (tenant_id, project_id, title) VALUES ($1, $2, 'x')")
        .bind(b.id)
        .bind(project.id)
        .execute(tx.conn().await.unwrap())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("foreign key"), "{err}");
}

#[tokio::test]
async fn tenant_setting_does_not_survive_the_transaction_on_a_pooled_connection() {
    // One connection in the pool: the next user of that connection must see no tenant.
    let env = Env::with_config(|c| c.request_pool_size(1).bound_tenants(0)).await;
    let a = env.tenant("acme").await;
    seed(&env, &env.tenancy, a.id, &["a1"]).await;
    let setting: Option<String> =
        sqlx::query_scalar("SELECT nullif(current_setting('saas.tenant_id', true), '')")
            .fetch_one(env.tenancy.request_pool())
            .await
            .unwrap();
    assert_eq!(setting, None);
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM projects")
        .fetch_one(env.tenancy.request_pool())
        .await
        .unwrap();
    assert_eq!(count, 0);
}

#[tokio::test]
async fn dropped_transaction_rolls_back_and_commit_keeps() {
    let env = Env::new().await;
    let a = env.tenant("acme").await;
    let mut tx = TenantTx::begin(&env.tenancy, a.id);
    Project::insert(
        &mut tx,
        NewProject {
            name: "gone".into(),
        },
    )
    .await
    .unwrap();
    drop(tx);
    let mut tx = TenantTx::begin(&env.tenancy, a.id);
    Project::insert(
        &mut tx,
        NewProject {
            name: "kept".into(),
        },
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    let mut tx = TenantTx::begin(&env.tenancy, a.id);
    let names: Vec<String> = Project::list(&mut tx, PageRequest::first())
        .await
        .unwrap()
        .items
        .into_iter()
        .map(|p| p.name)
        .collect();
    assert_eq!(names, vec!["kept".to_string()]);
}
