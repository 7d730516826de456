//! `GET /v2/audit`: the caller tenant's domain events, newest first, written with the data.

use crate::common;

use common::App;
use serde_json::{Value, json};

fn types(body: &Value) -> Vec<String> {
    body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn the_audit_trail_lists_the_tenants_own_events_newest_first() {
    let app = App::new().await;
    let (_, acme) = app.tenant("acme").await;
    let (_, globex) = app.tenant("globex").await;

    let (s, project) = app
        .call(
            "POST",
            "/v2/projects",
            Some(&acme),
            Some(json!({"name": "Roadmap"})),
        )
        .await;
    assert_eq!(s, 201);
    let pid = project["id"].as_str().unwrap();
    app.call(
        "PATCH",
        &format!("/v2/projects/{pid}"),
        Some(&acme),
        Some(json!({"name": "Plan"})),
    )
    .await;
    let (_, task) = app
        .call(
            "POST",
            &format!("/v2/projects/{pid}/tasks"),
            Some(&acme),
            Some(json!({"title": "Write", "status": "todo"})),
        )
        .await;
    let tid = task["id"].as_str().unwrap();
    app.call(
        "PATCH",
        &format!("/v2/tasks/{tid}"),
        Some(&acme),
        Some(json!({"status": "done"})),
    )
    .await;
    app.call("DELETE", &format!("/v2/tasks/{tid}"), Some(&acme), None)
        .await;
    app.call("DELETE", &format!("/v2/projects/{pid}"), Some(&acme), None)
        .await;
    // Failed requests roll back and leave no event: a validation error, another tenant's id.
    let (s, _) = app
        .call(
            "POST",
            "/v2/projects",
            Some(&acme),
            Some(json!({"name": ""})),
        )
        .await;
    assert_eq!(s, 422);
    let (_, other) = app
        .call(
            "POST",
            "/v2/projects",
            Some(&globex),
            Some(json!({"name": "Theirs"})),
        )
        .await;
    let oid = other["id"].as_str().unwrap();
    let (s, _) = app
        .call(
            "PATCH",
            &format!("/v2/projects/{oid}"),
            Some(&acme),
            Some(json!({"name": "Mine"})),
        )
        .await;
    assert_eq!(s, 404);

    let (s, trail) = app.call("GET", "/v2/audit", Some(&acme), None).await;
    assert_eq!(s, 200, "{trail}");
    assert_eq!(
        types(&trail),
        [
            "project.deleted",
            "task.deleted",
            "task.updated",
            "task.created",
            "project.updated",
            "project.created"
        ]
    );
    let items = trail["items"].as_array().unwrap();
    let created = &items[5];
    assert_eq!(created["aggregate_id"], pid);
    assert_eq!(created["payload"]["name"], "Roadmap");
    assert_eq!(items[2]["payload"]["status"], "done");
    assert_eq!(items[2]["aggregate_id"], tid);
    for item in items {
        for key in ["id", "type", "aggregate_id", "occurred_at", "payload"] {
            assert!(item.get(key).is_some(), "{key} missing in {item}");
        }
        assert_ne!(
            item["aggregate_id"], oid,
            "globex's project in acme's trail"
        );
    }

    // globex sees only its own event.
    let (_, theirs) = app.call("GET", "/v2/audit", Some(&globex), None).await;
    assert_eq!(types(&theirs), ["project.created"]);
    assert_eq!(theirs["items"][0]["aggregate_id"], oid);

    // Keyset pages: 4 then 2, in the same order.
    let (_, first) = app
        .call("GET", "/v2/audit?limit=4", Some(&acme), None)
        .await;
    let cursor = first["next_cursor"].as_str().unwrap();
    let (_, second) = app
        .call(
            "GET",
            &format!("/v2/audit?limit=4&cursor={cursor}"),
            Some(&acme),
            None,
        )
        .await;
    assert_eq!(
        [types(&first), types(&second)].concat(),
        types(&trail),
        "paging changed the order"
    );
    assert!(second["next_cursor"].is_null());
}

#[tokio::test]
async fn the_audit_route_rejects_bad_input_and_lives_in_v2_only() {
    let app = App::new().await;
    let (_, acme) = app.tenant("acme").await;
    for query in ["limit=0", "limit=101", "limit=x", "cursor=not-a-cursor"] {
        let (s, body) = app
            .call("GET", &format!("/v2/audit?{query}"), Some(&acme), None)
            .await;
        assert!(s == 400 || s == 422, "{query}: {s} {body}");
    }
    let (s, _) = app.call("GET", "/v2/audit", None, None).await;
    assert_eq!(s, 401);
    let (s, _) = app.call("GET", "/v1/audit", Some(&acme), None).await;
    assert_eq!(s, 404);
}
