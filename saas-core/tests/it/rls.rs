//! Row-level security holds under raw SQL: what PostgreSQL enforces even when the application
//! forgets a WHERE clause or tries to write across tenants.

use crate::common;

use common::*;
use saas_core::prelude::*;

#[tokio::test]
async fn raw_select_inside_tenant_tx_returns_only_that_tenants_rows() {
    for bound in [0, 8] {
        let env = Env::with_config(|c| c.bound_tenants(bound)).await;
        let (a, b) = (env.tenant("acme").await, env.tenant("globex").await);
        seed_projects(&env.tenancy, a.id, &["a1", "a2"]).await;
        seed_projects(&env.tenancy, b.id, &["b1"]).await;

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
    seed_projects(&env.tenancy, a.id, &["a1"]).await;
    // The request role, outside any tenant transaction: the policy sees no setting.
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM projects")
        .fetch_one(&env.request_pool().await)
        .await
        .unwrap();
    assert_eq!(count, 0);
    // Even the tables' owner sees nothing: RLS is forced. (The test server's superuser always
    // bypasses RLS, so hand the table to an ordinary owner role first.)
    let mut owner = env.db.owner_conn().await.unwrap();
    let table_owner = format!("{}_owner", env.db.name());
    // LOGIN: on Citus the coordinator reaches the workers as the current role.
    run_each(
        &mut owner,
        &[
            format!("CREATE ROLE \"{table_owner}\" LOGIN"),
            format!("ALTER TABLE projects OWNER TO \"{table_owner}\""),
            format!("SET ROLE \"{table_owner}\""),
        ],
    )
    .await;
    let seen: i64 = sqlx::query_scalar("SELECT count(*) FROM projects")
        .fetch_one(&mut owner)
        .await
        .unwrap();
    run_each(
        &mut owner,
        &[
            "RESET ROLE".to_string(),
            "ALTER TABLE projects OWNER TO CURRENT_USER".to_string(),
            format!("DROP ROLE \"{table_owner}\""),
        ],
    )
    .await;
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
    seed_projects(&env.tenancy, a.id, &["a1"]).await;
    let mut tx = TenantTx::begin(&env.tenancy, a.id);
    let err = sqlx::query("UPDATE projects SET tenant_id = $1")
        .bind(b.id)
        .execute(tx.conn().await.unwrap())
        .await
        .unwrap_err();
    // On Citus the tenant column is the distribution column, which Citus refuses to change
    // before the policy is even asked.
    let refused = err.to_string();
    assert!(
        refused.contains("row-level security")
            || (env.tenancy.distributed()
                && refused.contains("modifying the partition value of rows is not allowed")),
        "{err}"
    );
    drop(tx);
    let mut tx = TenantTx::begin(&env.tenancy, b.id);
    let page = Project::list(&mut tx, PageRequest::first()).await.unwrap();
    assert!(page.items.is_empty());
}

#[tokio::test]
async fn update_and_delete_of_another_tenants_rows_touch_nothing() {
    let env = Env::new().await;
    let (a, b) = (env.tenant("acme").await, env.tenant("globex").await);
    seed_projects(&env.tenancy, a.id, &["a1"]).await;
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
    seed_projects(&env.tenancy, a.id, &["a1"]).await;
    let setting: Option<String> =
        sqlx::query_scalar("SELECT nullif(current_setting('saas.tenant_id', true), '')")
            .fetch_one(env.tenancy.__request_pool())
            .await
            .unwrap();
    assert_eq!(setting, None);
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM projects")
        .fetch_one(env.tenancy.__request_pool())
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

/// A write that meets a move's fence is not refused at once: it retries (up to
/// `TenancyConfig::move_wait`) and goes through when the fence is lifted. The fence names the
/// tenant and its location; nothing else is held back.
#[tokio::test]
async fn a_write_waits_for_a_fence_to_be_lifted_instead_of_failing() {
    let env = Env::with_config(|mut c| {
        c.move_wait = std::time::Duration::from_secs(30);
        c
    })
    .await;
    let (acme, globex) = (env.tenant("acme").await, env.tenant("globex").await);
    let owner = env.tenancy.owner_pool().clone();
    sqlx::query("INSERT INTO saas.fences (tenant_id, location) VALUES ($1, 'shared')")
        .bind(acme.id)
        .execute(&owner)
        .await
        .unwrap();
    // Another tenant's writes pass the fence meanwhile.
    seed_projects(&env.tenancy, globex.id, &["not fenced"]).await;
    let lift = tokio::spawn(async move {
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        sqlx::query("DELETE FROM saas.fences WHERE tenant_id = $1")
            .bind(acme.id)
            .execute(&owner)
            .await
            .unwrap();
    });
    let mut tx = TenantTx::begin(&env.tenancy, acme.id);
    Project::insert(
        &mut tx,
        NewProject {
            name: "after the fence".into(),
        },
    )
    .await
    .expect("the write waits for the fence instead of failing");
    tx.commit().await.unwrap();
    lift.await.unwrap();
}

/// A fence that stays up (a move that takes longer than `move_wait`) turns writes into a 503
/// to retry, never into a write past the fence; reads are not fenced.
#[tokio::test]
async fn a_write_behind_a_fence_that_stays_is_a_503_and_reads_pass() {
    // Without bound connections a first read opens the transaction, so the reader below
    // meets the fence at its first write rather than when it opens.
    let env = Env::with_config(|mut c| {
        c.move_wait = std::time::Duration::from_millis(300);
        c.bound_tenants(0)
    })
    .await;
    let acme = env.tenant("acme").await;
    seed_projects(&env.tenancy, acme.id, &["before the move"]).await;
    // A transaction that began reading before the fence went up passes it before its first
    // write, like one that begins with a write.
    let mut reader = TenantTx::begin(&env.tenancy, acme.id);
    Project::list(&mut reader, saas_core::PageRequest::first())
        .await
        .unwrap();
    sqlx::query("INSERT INTO saas.fences (tenant_id, location) VALUES ($1, 'shared')")
        .bind(acme.id)
        .execute(env.tenancy.owner_pool())
        .await
        .unwrap();
    let err = Project::insert(
        &mut reader,
        NewProject {
            name: "late".into(),
        },
    )
    .await
    .expect_err("a write after reads must pass the fence too");
    assert_eq!(err.status(), 503, "{err}");
    drop(reader);
    let mut tx = TenantTx::begin(&env.tenancy, acme.id);
    let err = Project::insert(
        &mut tx,
        NewProject {
            name: "during".into(),
        },
    )
    .await
    .expect_err("a write must not pass a fence");
    assert_eq!(err.status(), 503, "{err}");
    drop(tx);
    let mut tx = TenantTx::begin(&env.tenancy, acme.id);
    let page = Project::list(&mut tx, saas_core::PageRequest::first())
        .await
        .expect("reads are not fenced");
    let names: Vec<&str> = page.items.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["before the move"]);
}

/// A schema-tier tenant's transactions run in its schema (the `search_path` is set in the
/// same round trip as `BEGIN`, or on the bound connection): its rows land there, never in the
/// shared tables, and another tenant does not see them. With and without bound connections.
#[tokio::test]
async fn a_schema_tier_tenants_rows_stay_in_its_schema() {
    for bound in [0, 8] {
        let env = Env::with_config(|c| c.bound_tenants(bound)).await;
        let tenant = env
            .tenancy
            .tenants()
            .create(saas_core::tenancy::registry::NewTenant {
                name: "Initech".into(),
                slug: format!("initech-{}", &Uuid::new_v4().simple().to_string()[..8]),
                tier: Some(saas_core::tenancy::Tier::Schema),
                server: None,
            })
            .await
            .unwrap();
        let other = env.tenant("acme").await;
        seed_projects(&env.tenancy, tenant.id, &["in its schema"]).await;
        let mut tx = TenantTx::begin(&env.tenancy, tenant.id);
        let page = Project::list(&mut tx, saas_core::PageRequest::first())
            .await
            .unwrap();
        assert_eq!(page.items.len(), 1, "bound connections: {bound}");
        let in_shared: i64 =
            sqlx::query_scalar("SELECT count(*) FROM public.projects WHERE tenant_id = $1")
                .bind(tenant.id)
                .fetch_one(env.tenancy.owner_pool())
                .await
                .unwrap();
        assert_eq!(
            in_shared, 0,
            "a schema-tier tenant's row reached the shared table"
        );
        let mut tx = TenantTx::begin(&env.tenancy, other.id);
        let page = Project::list(&mut tx, saas_core::PageRequest::first())
            .await
            .unwrap();
        assert!(page.items.is_empty());
    }
}

#[tokio::test]
async fn a_read_only_request_ends_its_transaction_before_the_connection_serves_anyone_else() {
    // A request that only read is not committed on the response's time: its transaction is
    // rolled back with the pool's release check. One connection in the pool, no bound pools:
    // every request and the checks below take the same connection, right after the response.
    let env = Env::with_config(|c| c.request_pool_size(1).bound_tenants(0)).await;
    let a = env.tenant("acme").await;
    let b = env.tenant("globex").await;
    seed_projects(&env.tenancy, a.id, &["a1", "a2"]).await;
    seed_projects(&env.tenancy, b.id, &["b1"]).await;
    let app = env.app().await;
    let (status, page, _) = env
        .call(&app, "GET", "/projects", Some(&env.token(&a)), None)
        .await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(page["items"].as_array().unwrap().len(), 2, "{page}");
    // The next user of the connection (it waits for the release check that sends the
    // ROLLBACK) is outside that transaction: no tenant, so row-level security shows nothing.
    let (setting, visible): (Option<String>, i64) = sqlx::query_as(
        "SELECT nullif(current_setting('saas.tenant_id', true), ''), \
                (SELECT count(*) FROM projects)",
    )
    .fetch_one(env.tenancy.__request_pool())
    .await
    .unwrap();
    assert_eq!(setting, None, "the tenant context outlived the request");
    assert_eq!(visible, 0, "rows visible without a tenant context");
    // The next tenant on that connection sees its own rows only, by key and by list.
    let id = page["items"][0]["id"].as_str().unwrap().to_string();
    let (status, body, _) = env
        .call(
            &app,
            "GET",
            &format!("/projects/{id}"),
            Some(&env.token(&b)),
            None,
        )
        .await;
    assert_eq!(status, 404, "{body}");
    let (status, page, _) = env
        .call(&app, "GET", "/projects", Some(&env.token(&b)), None)
        .await;
    assert_eq!(status, 200, "{page}");
    let names: Vec<&str> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["b1"]);
}

/// Bound connections are shared out within `bound_connections`: while the one allowed is
/// held by a tenant, another tenant's read (and a second read of the same tenant, whose pool
/// may not grow) takes the shared path and sees only its own rows; once the holder has been
/// idle for `bound_idle`, its pool is given up and the other tenant gets a bound connection.
#[tokio::test]
async fn bound_connections_stay_within_their_budget_and_their_tenant() {
    let env = Env::with_config(|c| {
        let mut c = c.bound_tenants(8).bound_pool_size(2).bound_connections(1);
        c.bound_idle = std::time::Duration::from_millis(100);
        c
    })
    .await;
    let (a, b) = (env.tenant("acme").await, env.tenant("globex").await);
    seed_projects(&env.tenancy, a.id, &["a1", "a2"]).await;
    seed_projects(&env.tenancy, b.id, &["b1"]).await;
    let bound = env.tenancy.bound_pools();
    // On Citus no connection is bound (the setting would stay on the coordinator): every
    // read takes the shared path, and the reads below must still see their own rows.
    let on = |n: u32| if env.tenancy.distributed() { 0 } else { n };
    async fn names(tx: &mut TenantTx) -> Vec<String> {
        let page = Project::list(tx, saas_core::PageRequest::first())
            .await
            .unwrap();
        let mut names: Vec<String> = page.items.into_iter().map(|p| p.name).collect();
        names.sort();
        names
    }

    let mut held = TenantTx::begin(&env.tenancy, a.id);
    assert_eq!(names(&mut held).await, ["a1", "a2"]);
    assert_eq!(
        bound.connections(),
        on(1),
        "the first read takes a bound connection"
    );
    let mut other = TenantTx::begin(&env.tenancy, b.id);
    assert_eq!(names(&mut other).await, ["b1"]);
    let mut again = TenantTx::begin(&env.tenancy, a.id);
    assert_eq!(names(&mut again).await, ["a1", "a2"]);
    assert_eq!(bound.connections(), on(1), "the budget of one was exceeded");
    // What an operator sizes the budget by: one read bound, two sent down the shared path.
    let stats = bound.stats();
    assert_eq!(
        (stats.bound, stats.shared, stats.opened),
        (on(1).into(), on(2).into(), on(1).into()),
        "{stats:?}"
    );
    drop((held, other, again));

    // Tenant a's pool, idle for `bound_idle`, makes room for b (that read still takes the
    // shared path; the next one is bound).
    tokio::time::sleep(std::time::Duration::from_millis(150)).await;
    let mut tx = TenantTx::begin(&env.tenancy, b.id);
    assert_eq!(names(&mut tx).await, ["b1"]);
    drop(tx);
    assert_eq!(
        bound.connections(),
        0,
        "tenant a's idle pool was not given up"
    );
    let mut tx = TenantTx::begin(&env.tenancy, b.id);
    assert_eq!(names(&mut tx).await, ["b1"]);
    assert_eq!(
        bound.connections(),
        on(1),
        "tenant b got no bound connection"
    );
    // The connection is b's from its startup packet: a raw read sees b's rows only.
    let rows: Vec<(Uuid, String)> = sqlx::query_as("SELECT tenant_id, name FROM projects")
        .fetch_all(tx.conn().await.unwrap())
        .await
        .unwrap();
    assert_eq!(rows, [(*b.id.as_uuid(), "b1".to_string())]);
    let stats = bound.stats();
    assert_eq!(
        (
            stats.bound,
            stats.shared,
            stats.opened,
            stats.closed_for_room
        ),
        (on(2).into(), on(3).into(), on(2).into(), on(1).into()),
        "{stats:?}"
    );
}

/// A tenant that grew first does not keep the bound connections from the others: with the
/// budget spent, a tenant without one makes the tenant holding the most give up an idle
/// connection, and gets a bound connection of its own on its next read.
#[tokio::test]
async fn busy_tenants_share_the_bound_connections() {
    let env =
        Env::with_config(|c| c.bound_tenants(8).bound_pool_size(2).bound_connections(2)).await;
    let (a, b) = (env.tenant("acme").await, env.tenant("globex").await);
    seed_projects(&env.tenancy, a.id, &["a1"]).await;
    seed_projects(&env.tenancy, b.id, &["b1"]).await;
    let bound = env.tenancy.bound_pools();
    // On Citus no connection is bound: the reads take the shared path.
    let on = |n: u32| if env.tenancy.distributed() { 0 } else { n };
    async fn count(tx: &mut TenantTx) -> usize {
        let page = Project::list(tx, saas_core::PageRequest::first())
            .await
            .unwrap();
        page.items.len()
    }
    // Two reads of a at once: a's pool holds both bound connections.
    let (mut first, mut second) = (
        TenantTx::begin(&env.tenancy, a.id),
        TenantTx::begin(&env.tenancy, a.id),
    );
    assert_eq!((count(&mut first).await, count(&mut second).await), (1, 1));
    assert_eq!(bound.connections(), on(2));
    drop((first, second));
    // b's reads take the shared path and make a give one back (once a's connections are
    // back in its pool: a dropped connection returns in the background).
    for _ in 0..200 {
        let mut tx = TenantTx::begin(&env.tenancy, b.id);
        assert_eq!(count(&mut tx).await, 1);
        drop(tx);
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        if bound.connections() < 2 {
            break;
        }
    }
    assert_eq!(bound.connections(), on(1), "tenant a kept both connections");
    let mut tx = TenantTx::begin(&env.tenancy, b.id);
    assert_eq!(count(&mut tx).await, 1);
    assert_eq!(
        bound.connections(),
        on(2),
        "tenant b got no bound connection"
    );
    let rows: Vec<(Uuid,)> = sqlx::query_as("SELECT tenant_id FROM projects")
        .fetch_all(tx.conn().await.unwrap())
        .await
        .unwrap();
    assert_eq!(rows, [(*b.id.as_uuid(),)]);
}
