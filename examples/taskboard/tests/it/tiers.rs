//! Tenants of every tier behind the same API, and `POST /admin/tenants/{id}/move`: the data
//! moves with the tenant, stays reachable through the same routes, and stays its own.

use crate::common;

use common::{ADMIN, App};
use serde_json::{Value, json};

async fn project_with_task(app: &App, token: &str, name: &str) -> (String, String) {
    let t = Some(token);
    let (s, p) = app
        .call("POST", "/v2/projects", t, Some(json!({"name": name})))
        .await;
    assert_eq!(s, 201, "{p}");
    let pid = p["id"].as_str().unwrap().to_string();
    let (s, task) = app
        .call(
            "POST",
            &format!("/v2/projects/{pid}/tasks"),
            t,
            Some(json!({"title": format!("{name} task")})),
        )
        .await;
    assert_eq!(s, 201, "{task}");
    (pid, task["id"].as_str().unwrap().to_string())
}

fn ids(list: &Value) -> Vec<String> {
    list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tenants_of_every_tier_share_the_api_and_nothing_else() {
    let app = App::new().await;
    let mut tenants = Vec::new();
    for tier in ["shared", "schema", "database"] {
        let (id, token) = app.tenant_in(&format!("t-{tier}"), tier).await;
        let (project, task) = project_with_task(&app, &token, tier).await;
        tenants.push((tier, id, token, project, task));
    }
    for (tier, _, token, project, task) in &tenants {
        let t = Some(token.as_str());
        let (s, list) = app.call("GET", "/v2/projects", t, None).await;
        assert_eq!(s, 200);
        assert_eq!(ids(&list), vec![project.clone()], "{tier}");
        let (s, tasks) = app
            .call("GET", &format!("/v2/projects/{project}/tasks"), t, None)
            .await;
        assert_eq!(s, 200);
        assert_eq!(ids(&tasks), vec![task.clone()], "{tier}");
        for (other_tier, _, _, other_project, other_task) in &tenants {
            if other_tier == tier {
                continue;
            }
            for (method, uri) in [
                ("GET", format!("/v2/projects/{other_project}")),
                ("DELETE", format!("/v2/projects/{other_project}")),
                ("GET", format!("/v2/tasks/{other_task}")),
                ("GET", format!("/v2/projects/{other_project}/tasks")),
            ] {
                let (s, _) = app.call(method, &uri, t, None).await;
                assert_eq!(s, 404, "{tier} reached {other_tier} with {method} {uri}");
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_moved_tenant_keeps_its_data_behind_the_same_routes() {
    let app = App::new().await;
    let (id, token) = app.tenant("mover").await;
    let (_, other_token) = app.tenant("neighbour").await;
    let (neighbour_project, _) = project_with_task(&app, &other_token, "theirs").await;
    let t = Some(token.as_str());
    let (project, task) = project_with_task(&app, &token, "mine").await;
    let (_, trail) = app.call("GET", "/v2/audit", t, None).await;
    let trail_before = trail["items"].as_array().unwrap().len();
    assert!(trail_before >= 2, "{trail}");
    let mut projects = vec![project.clone()];
    for tier in ["database", "schema", "shared", "schema", "database"] {
        let (s, moved) = app
            .call(
                "POST",
                &format!("/admin/tenants/{id}/move"),
                Some(ADMIN),
                Some(json!({"tier": tier})),
            )
            .await;
        assert_eq!(s, 200, "{moved}");
        assert_eq!(moved["tier"], tier);
        assert_eq!(moved["id"], id.as_str());
        // The same token, the same routes, the same data.
        let (s, got) = app
            .call("GET", &format!("/v2/projects/{project}"), t, None)
            .await;
        assert_eq!(s, 200, "after the move to {tier}: {got}");
        let (s, got) = app.call("GET", &format!("/v2/tasks/{task}"), t, None).await;
        assert_eq!(s, 200, "after the move to {tier}: {got}");
        let (new_project, _) = project_with_task(&app, &token, tier).await;
        projects.push(new_project);
        let (_, list) = app.call("GET", "/v2/projects?limit=100", t, None).await;
        let mut listed = ids(&list);
        listed.sort();
        let mut expected = projects.clone();
        expected.sort();
        assert_eq!(listed, expected, "after the move to {tier}");
        // Still no way into the neighbour's data, nor it into ours.
        let (s, _) = app
            .call("GET", &format!("/v2/projects/{neighbour_project}"), t, None)
            .await;
        assert_eq!(s, 404);
        let (s, _) = app
            .call(
                "GET",
                &format!("/v2/projects/{project}"),
                Some(&other_token),
                None,
            )
            .await;
        assert_eq!(s, 404);
        // The audit trail moved too.
        let (_, trail) = app.call("GET", "/v2/audit?limit=100", t, None).await;
        assert!(
            trail["items"].as_array().unwrap().len() >= trail_before,
            "the audit trail shrank in the move to {tier}"
        );
    }
    let (s, list) = app.call("GET", "/admin/tenants", Some(ADMIN), None).await;
    assert_eq!(s, 200);
    let me = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["id"] == id.as_str())
        .unwrap();
    assert_eq!(me["tier"], "database");
}

/// A client that disconnects in the middle of a move drops its request's future; the move
/// must still finish (or it would stay half-done, the tenant's writes fenced).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_move_finishes_when_its_client_disconnects() {
    use saas_core::moves;
    use saas_core::tenancy::TenantId;
    use std::time::{Duration, Instant};

    let app = App::new().await;
    let (id, token) = app.tenant("leaver").await;
    let (project, task) = project_with_task(&app, &token, "mine").await;
    let tenant: TenantId = id.parse().unwrap();
    // The request runs on a task of its own; aborting the task closes its connection.
    let server = app.app.url("");
    let client = tokio::spawn(async move {
        reqwest::Client::new()
            .post(format!("{server}/admin/tenants/{id}/move"))
            .bearer_auth(ADMIN)
            .json(&json!({"tier": "database"}))
            .send()
            .await
    });
    // The client leaves once the move has begun (recorded), long before it ends: creating
    // and migrating the database takes a while.
    let deadline = Instant::now() + Duration::from_secs(20);
    let step = loop {
        if let Some(pending) = moves::pending(app.tenancy(), tenant).await.unwrap() {
            break pending.step;
        }
        assert!(Instant::now() < deadline, "the move never started");
        assert!(
            !client.is_finished(),
            "the move ended before the client could leave"
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    };
    client.abort();
    assert!(
        client.await.unwrap_err().is_cancelled(),
        "the request was cut off"
    );
    // The move goes on without its client: switched, cleaned up, no fence left.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        app.tenancy().tenants().invalidate(tenant);
        let tier = app.tenancy().tenants().get(tenant).await.unwrap().tier;
        let pending = moves::pending(app.tenancy(), tenant).await.unwrap();
        if tier.as_str() == "database" && pending.is_none() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the move left at step {} did not finish after its client left: tier {tier}, \
             pending {:?}",
            step.as_str(),
            pending.map(|p| p.step)
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let t = Some(token.as_str());
    let (s, got) = app
        .call("GET", &format!("/v2/projects/{project}"), t, None)
        .await;
    assert_eq!(s, 200, "{got}");
    let (s, got) = app.call("GET", &format!("/v2/tasks/{task}"), t, None).await;
    assert_eq!(s, 200, "{got}");
    // Writable: the fences are down.
    project_with_task(&app, &token, "after").await;
}

#[tokio::test]
async fn the_move_route_refuses_bad_requests_with_problems() {
    let app = App::new().await;
    let (id, _) = app.tenant("stay").await;
    let unknown = uuid::Uuid::new_v4();
    let cases = [
        (
            format!("/admin/tenants/{id}/move"),
            Some(ADMIN),
            Some(json!({"tier": "gold"})),
            422,
        ),
        (
            format!("/admin/tenants/{id}/move"),
            Some(ADMIN),
            Some(json!({})),
            422,
        ),
        (
            format!("/admin/tenants/{id}/move"),
            Some(ADMIN),
            Some(json!({"tier": 7})),
            422,
        ),
        (
            format!("/admin/tenants/{id}/move"),
            Some(ADMIN),
            Some(json!({"tier": "database", "server": "mars"})),
            422,
        ),
        (
            format!("/admin/tenants/{unknown}/move"),
            Some(ADMIN),
            Some(json!({"tier": "schema"})),
            404,
        ),
        // Like every id route: an id that cannot exist is simply not found.
        (
            "/admin/tenants/not-a-uuid/move".to_string(),
            Some(ADMIN),
            Some(json!({"tier": "schema"})),
            404,
        ),
        (
            format!("/admin/tenants/{id}/move"),
            None,
            Some(json!({"tier": "schema"})),
            401,
        ),
        (
            format!("/admin/tenants/{id}/move"),
            Some("wrong"),
            Some(json!({"tier": "schema"})),
            401,
        ),
    ];
    for (uri, token, body, expected) in cases {
        let (s, problem) = app.call("POST", &uri, token, body.clone()).await;
        assert_eq!(s.as_u16(), expected, "{uri} {body:?}: {problem}");
    }
    // Moving to where it already is answers the tenant unchanged.
    let (s, same) = app
        .call(
            "POST",
            &format!("/admin/tenants/{id}/move"),
            Some(ADMIN),
            Some(json!({"tier": "shared"})),
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(same["tier"], "shared");
}
