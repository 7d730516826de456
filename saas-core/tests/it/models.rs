//! The operations `#[derive(TenantScoped)]` generates, and that none of them reaches another
//! tenant's rows.

use crate::common;

use common::*;
use saas_core::prelude::*;

#[tokio::test]
async fn get_update_delete_of_another_tenants_row_are_not_found() {
    let env = Env::new().await;
    let (a, b) = (env.tenant("acme").await, env.tenant("globex").await);
    let mut tx = TenantTx::begin(&env.tenancy, a.id);
    let project = Project::insert(
        &mut tx,
        NewProject {
            name: "secret".into(),
        },
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(project.tenant_id, a.id);

    let mut tx = TenantTx::begin(&env.tenancy, b.id);
    assert_eq!(
        Project::get(&mut tx, project.id)
            .await
            .unwrap_err()
            .status(),
        404
    );
    let mut forged = project.clone();
    forged.name = "pwned".into();
    assert_eq!(forged.update(&mut tx).await.unwrap_err().status(), 404);
    assert_eq!(
        Project::delete(&mut tx, project.id)
            .await
            .unwrap_err()
            .status(),
        404
    );
    let page = Project::list(&mut tx, PageRequest::first()).await.unwrap();
    assert!(page.items.is_empty());
    tx.commit().await.unwrap();

    let mut tx = TenantTx::begin(&env.tenancy, a.id);
    assert_eq!(Project::get(&mut tx, project.id).await.unwrap(), project);
}

#[tokio::test]
async fn insert_takes_the_tenant_from_the_transaction() {
    let env = Env::new().await;
    let b = env.tenant("globex").await;
    let mut tx = TenantTx::begin(&env.tenancy, b.id);
    let p = Project::insert(&mut tx, NewProject { name: "x".into() })
        .await
        .unwrap();
    assert_eq!(p.tenant_id, b.id);
}

#[tokio::test]
async fn update_writes_fields_but_never_the_tenant() {
    let env = Env::new().await;
    let (a, b) = (env.tenant("acme").await, env.tenant("globex").await);
    let mut tx = TenantTx::begin(&env.tenancy, a.id);
    let mut p = Project::insert(&mut tx, NewProject { name: "old".into() })
        .await
        .unwrap();
    p.name = "new".into();
    p.tenant_id = b.id; // ignored: the tenant column is never part of an UPDATE's SET
    let updated = p.update(&mut tx).await.unwrap();
    assert_eq!(updated.name, "new");
    assert_eq!(updated.tenant_id, a.id);
}

#[tokio::test]
async fn keyset_pagination_walks_every_row_once() {
    let env = Env::new().await;
    let (a, b) = (env.tenant("acme").await, env.tenant("globex").await);
    for (tenant, n) in [(a.id, 7), (b.id, 3)] {
        let mut tx = TenantTx::begin(&env.tenancy, tenant);
        for i in 0..n {
            Project::insert(
                &mut tx,
                NewProject {
                    name: format!("p{i}"),
                },
            )
            .await
            .unwrap();
        }
        tx.commit().await.unwrap();
    }
    let mut tx = TenantTx::begin(&env.tenancy, a.id);
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let page = PageRequest::from_query(Some(3), cursor.as_deref()).unwrap();
        let page = Project::list(&mut tx, page).await.unwrap();
        assert!(page.items.len() <= 3);
        seen.extend(page.items.iter().map(|p| {
            assert_eq!(p.tenant_id, a.id);
            p.id
        }));
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    let mut unique = seen.clone();
    unique.sort();
    unique.dedup();
    assert_eq!((seen.len(), unique.len()), (7, 7));
}

#[tokio::test]
async fn children_are_listed_by_parent_and_only_for_the_tenant() {
    let env = Env::new().await;
    let (a, b) = (env.tenant("acme").await, env.tenant("globex").await);
    let mut tx = TenantTx::begin(&env.tenancy, a.id);
    let p = Project::insert(&mut tx, NewProject { name: "p".into() })
        .await
        .unwrap();
    for i in 0..4 {
        Task::insert(
            &mut tx,
            NewTask {
                project_id: p.id,
                title: format!("t{i}"),
            },
        )
        .await
        .unwrap();
    }
    tx.commit().await.unwrap();

    let mut tx = TenantTx::begin(&env.tenancy, a.id);
    let first = Task::list_by_project_id(
        &mut tx,
        p.id,
        PageRequest {
            limit: 3,
            after: None,
        },
    )
    .await
    .unwrap();
    assert_eq!(first.items.len(), 3);
    let after = first.items.last().unwrap().id;
    let rest = Task::list_by_project_id(
        &mut tx,
        p.id,
        PageRequest {
            limit: 3,
            after: Some(after),
        },
    )
    .await
    .unwrap();
    assert_eq!(rest.items.len(), 1);
    assert!(rest.next_cursor.is_none());

    let mut tx = TenantTx::begin(&env.tenancy, b.id);
    let none = Task::list_by_project_id(&mut tx, p.id, PageRequest::first())
        .await
        .unwrap();
    assert!(none.items.is_empty());
}

#[tokio::test]
async fn composite_keys_work_for_every_operation() {
    let env = Env::new().await;
    let (a, b) = (env.tenant("acme").await, env.tenant("globex").await);
    let mut tx = TenantTx::begin(&env.tenancy, a.id);
    let p = Project::insert(&mut tx, NewProject { name: "p".into() })
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let mut tx = TenantTx::begin(&env.tenancy, a.id);
    let m = Membership::insert(
        &mut tx,
        NewMembership {
            project_id: p.id,
            member: "alice".into(),
            role: "admin".into(),
        },
    )
    .await
    .unwrap();
    assert_eq!(m.key(), (p.id, "alice".to_string()));
    let dup = Membership::insert(
        &mut tx,
        NewMembership {
            project_id: p.id,
            member: "alice".into(),
            role: "viewer".into(),
        },
    )
    .await
    .unwrap_err();
    assert_eq!(dup.status(), 409);
    drop(tx);

    let mut tx = TenantTx::begin(&env.tenancy, a.id);
    let m = Membership::insert(
        &mut tx,
        NewMembership {
            project_id: p.id,
            member: "alice".into(),
            role: "admin".into(),
        },
    )
    .await
    .unwrap();
    let mut changed = m.clone();
    changed.role = "viewer".into();
    assert_eq!(changed.update(&mut tx).await.unwrap().role, "viewer");
    tx.commit().await.unwrap();

    let mut tx = TenantTx::begin(&env.tenancy, b.id);
    let key = (p.id, "alice".to_string());
    assert_eq!(
        Membership::get(&mut tx, key.clone())
            .await
            .unwrap_err()
            .status(),
        404
    );
    assert_eq!(
        Membership::delete(&mut tx, key.clone())
            .await
            .unwrap_err()
            .status(),
        404
    );
    drop(tx);

    let mut tx = TenantTx::begin(&env.tenancy, a.id);
    Membership::delete(&mut tx, key.clone()).await.unwrap();
    assert_eq!(
        Membership::get(&mut tx, key).await.unwrap_err().status(),
        404
    );
}

#[tokio::test]
async fn deleting_a_parent_cascades_to_its_children() {
    let env = Env::new().await;
    let a = env.tenant("acme").await;
    let mut tx = TenantTx::begin(&env.tenancy, a.id);
    let p = Project::insert(&mut tx, NewProject { name: "p".into() })
        .await
        .unwrap();
    let t = Task::insert(
        &mut tx,
        NewTask {
            project_id: p.id,
            title: "t".into(),
        },
    )
    .await
    .unwrap();
    Project::delete(&mut tx, p.id).await.unwrap();
    assert_eq!(Task::get(&mut tx, t.id).await.unwrap_err().status(), 404);
}

#[test]
fn every_model_is_registered_for_the_migrator_and_the_audit() {
    let tables: Vec<&str> = saas_core::model::registered_models()
        .iter()
        .map(|m| m.table)
        .collect();
    assert_eq!(
        tables,
        vec![
            "memberships",
            "projects",
            "saas_audit_log",
            "saas_outbox",
            "saas_processed_events",
            "tasks"
        ]
    );
}
