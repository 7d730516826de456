//! A `ReadTx` is read-only wherever it runs: on the primary (plain or with connections bound
//! to hot tenants) as on a replica, so raw SQL through it cannot write.

mod common;

use common::Env;
use saas_core::prelude::*;
use saas_core::tenancy::ReadTx;

async fn assert_read_only(env: &Env, tenant: TenantId) {
    let mut tx = ReadTx::begin(&env.tenancy, tenant);
    let conn = tx.conn().await.unwrap();
    let read_only: String = sqlx::query_scalar("SHOW transaction_read_only")
        .fetch_one(&mut *conn)
        .await
        .unwrap();
    assert_eq!(read_only, "on");
    let err = sqlx::query("INSERT INTO projects (tenant_id, name) VALUES ($1, 'sneaked in')")
        .bind(tenant)
        .execute(&mut *conn)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("read-only"), "{err}");
}

async fn project_count(env: &Env) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM projects")
        .fetch_one(env.tenancy.owner_pool())
        .await
        .unwrap()
}

#[tokio::test]
async fn a_read_tx_on_the_primary_cannot_write() {
    let env = Env::new().await;
    let acme = env.tenant("acme").await;
    assert_read_only(&env, acme.id).await;
    assert_eq!(project_count(&env).await, 0);
}

#[tokio::test]
async fn a_read_tx_on_a_bound_connection_cannot_write() {
    let env = Env::with_config(|c| c.bound_tenants(4)).await;
    let acme = env.tenant("acme").await;
    assert_read_only(&env, acme.id).await;
    assert_eq!(project_count(&env).await, 0);
}
