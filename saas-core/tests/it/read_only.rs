//! A `ReadTx` is read-only wherever it runs: on the primary (plain or with connections bound
//! to hot tenants) as on a replica, so raw SQL through it cannot write.

use crate::common;

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

/// Only a `ReadTx` is read-only: a `TenantTx` on a bound connection reads through it and then
/// writes in the same request, and sees only its tenant's rows.
#[tokio::test]
async fn a_tenant_tx_on_a_bound_connection_reads_then_writes() {
    let env = Env::with_config(|c| c.bound_tenants(4)).await;
    let (acme, globex) = (env.tenant("acme").await, env.tenant("globex").await);
    let mut other = TenantTx::begin(&env.tenancy, globex.id);
    common::Project::insert(
        &mut other,
        common::NewProject {
            name: "theirs".into(),
        },
    )
    .await
    .unwrap();
    other.commit().await.unwrap();

    let mut tx = TenantTx::begin(&env.tenancy, acme.id);
    let page = common::Project::list(&mut tx, saas_core::PageRequest::first())
        .await
        .unwrap();
    assert!(page.items.is_empty(), "another tenant's project was listed");
    let mine = common::Project::insert(
        &mut tx,
        common::NewProject {
            name: "mine".into(),
        },
    )
    .await
    .expect("a TenantTx writes after reading on a bound connection");
    tx.commit().await.unwrap();
    assert_eq!(project_count(&env).await, 2);
    let mut tx = TenantTx::begin(&env.tenancy, acme.id);
    let page = common::Project::list(&mut tx, saas_core::PageRequest::first())
        .await
        .unwrap();
    assert_eq!(page.items, vec![mine]);
}

/// A transaction's `Debug` names its tenant and whether it holds a connection (and never a
/// query or a secret).
#[tokio::test]
async fn a_tenant_tx_debug_names_its_tenant_and_state() {
    let env = Env::new().await;
    let acme = env.tenant("acme").await;
    let mut tx = TenantTx::begin(&env.tenancy, acme.id);
    let idle = format!("{tx:?}");
    assert!(
        idle.contains(&acme.id.to_string()) && idle.contains("idle"),
        "{idle}"
    );
    tx.conn().await.unwrap();
    let open = format!("{tx:?}");
    assert!(open.contains("transaction"), "{open}");
}
