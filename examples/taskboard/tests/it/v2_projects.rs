//! The taskboard's tenant API (v2) and admin API, through the whole HTTP stack, on a real
//! PostgreSQL: every route, its errors, and that no tenant reaches another's data.

use crate::common;

use common::{ADMIN, App};
use http::StatusCode;
use serde_json::json;

#[tokio::test]
async fn admin_api_registers_tenants_and_guards_itself() {
    let app = App::new().await;
    let (s, _) = app.call("GET", "/admin/tenants", None, None).await;
    assert_eq!(s, 401);
    let (s, _) = app.call("GET", "/admin/tenants", Some("wrong"), None).await;
    assert_eq!(s, 401);
    let (id, _) = app.tenant("acme").await;
    let (s, _) = app
        .call(
            "POST",
            "/admin/tenants",
            Some(ADMIN),
            Some(json!({"slug": "acme", "name": "again"})),
        )
        .await;
    assert_eq!(s, 409);
    for bad in [
        json!({"slug": "A", "name": "x"}),
        json!({"slug": "acme2", "name": "x", "tier": "gold"}),
    ] {
        let (s, _) = app
            .call("POST", "/admin/tenants", Some(ADMIN), Some(bad))
            .await;
        assert_eq!(s, 422);
    }
    let (s, list) = app.call("GET", "/admin/tenants", Some(ADMIN), None).await;
    assert_eq!(s, 200);
    assert_eq!(list["items"][0]["id"], id.as_str());
    assert_eq!(list["items"][0]["tier"], "shared");
    // 201 names the new tenant's address, which answers with it.
    let (s, headers, created) = app
        .send(
            "POST",
            "/admin/tenants",
            Some(ADMIN),
            Some(json!({"slug": "globex", "name": "Globex"})),
        )
        .await;
    assert_eq!(s, 201);
    let location = headers["location"].to_str().unwrap().to_string();
    assert_eq!(
        location,
        format!("/admin/tenants/{}", created["id"].as_str().unwrap())
    );
    let (s, got) = app.call("GET", &location, Some(ADMIN), None).await;
    assert_eq!((s, &got), (StatusCode::OK, &created));
    let (s, _) = app.call("GET", &location, None, None).await;
    assert_eq!(s, 401);
    let unknown = uuid::Uuid::new_v4();
    let (s, _) = app
        .call(
            "GET",
            &format!("/admin/tenants/{unknown}"),
            Some(ADMIN),
            None,
        )
        .await;
    assert_eq!(s, 404);
    let (s, _) = app
        .call(
            "POST",
            &format!("/admin/tenants/{unknown}/tokens"),
            Some(ADMIN),
            Some(json!({"subject": "x", "ttl_seconds": 60})),
        )
        .await;
    assert_eq!(s, 404);
}

#[tokio::test]
async fn projects_and_tasks_round_trip_for_their_tenant() {
    let app = App::new().await;
    let (_, tok) = app.tenant("acme").await;
    let t = Some(tok.as_str());
    let (s, p) = app
        .call("POST", "/v2/projects", t, Some(json!({"name": "Roadmap"})))
        .await;
    assert_eq!(s, 201);
    for field in ["id", "name", "created_at"] {
        assert!(p.get(field).is_some(), "{p}");
    }
    let pid = p["id"].as_str().unwrap();
    let (s, got) = app
        .call("GET", &format!("/v2/projects/{pid}"), t, None)
        .await;
    assert_eq!((s, &got), (StatusCode::OK, &p));
    let (s, renamed) = app
        .call(
            "PATCH",
            &format!("/v2/projects/{pid}"),
            t,
            Some(json!({"name": "Plan"})),
        )
        .await;
    assert_eq!(
        (s, renamed["name"].as_str()),
        (StatusCode::OK, Some("Plan"))
    );

    let (s, task) = app
        .call(
            "POST",
            &format!("/v2/projects/{pid}/tasks"),
            t,
            Some(json!({"title": "Write", "status": "doing"})),
        )
        .await;
    assert_eq!(s, 201);
    assert_eq!(task["project_id"], pid);
    assert_eq!(task["status"], "doing");
    let tid = task["id"].as_str().unwrap();
    let (s, list) = app
        .call("GET", &format!("/v2/projects/{pid}/tasks"), t, None)
        .await;
    assert_eq!(s, 200);
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
    assert!(list["next_cursor"].is_null());
    let (s, done) = app
        .call(
            "PATCH",
            &format!("/v2/tasks/{tid}"),
            t,
            Some(json!({"status": "done"})),
        )
        .await;
    assert_eq!((s, done["status"].as_str()), (StatusCode::OK, Some("done")));
    let (s, _) = app
        .call("DELETE", &format!("/v2/tasks/{tid}"), t, None)
        .await;
    assert_eq!(s, 204);
    let (s, _) = app.call("GET", &format!("/v2/tasks/{tid}"), t, None).await;
    assert_eq!(s, 404);

    let (_, task2) = app
        .call(
            "POST",
            &format!("/v2/projects/{pid}/tasks"),
            t,
            Some(json!({"title": "Ship"})),
        )
        .await;
    assert_eq!(task2["status"], "todo");
    let (s, _) = app
        .call("DELETE", &format!("/v2/projects/{pid}"), t, None)
        .await;
    assert_eq!(s, 204);
    let (s, _) = app
        .call(
            "GET",
            &format!("/v2/tasks/{}", task2["id"].as_str().unwrap()),
            t,
            None,
        )
        .await;
    assert_eq!(s, 404, "deleting a project deletes its tasks");
}

#[tokio::test]
async fn another_tenants_resources_answer_404_on_every_route() {
    let app = App::new().await;
    let (_, a) = app.tenant("acme").await;
    let (_, b) = app.tenant("globex").await;
    let (_, p) = app
        .call(
            "POST",
            "/v2/projects",
            Some(&a),
            Some(json!({"name": "secret"})),
        )
        .await;
    let pid = p["id"].as_str().unwrap();
    let (_, task) = app
        .call(
            "POST",
            &format!("/v2/projects/{pid}/tasks"),
            Some(&a),
            Some(json!({"title": "t"})),
        )
        .await;
    let tid = task["id"].as_str().unwrap();
    let b = Some(b.as_str());
    for (method, uri, body) in [
        ("GET", format!("/v2/projects/{pid}"), None),
        (
            "PATCH",
            format!("/v2/projects/{pid}"),
            Some(json!({"name": "pwned"})),
        ),
        ("DELETE", format!("/v2/projects/{pid}"), None),
        ("GET", format!("/v2/projects/{pid}/tasks"), None),
        (
            "POST",
            format!("/v2/projects/{pid}/tasks"),
            Some(json!({"title": "x"})),
        ),
        ("GET", format!("/v2/tasks/{tid}"), None),
        (
            "PATCH",
            format!("/v2/tasks/{tid}"),
            Some(json!({"title": "pwned"})),
        ),
        ("DELETE", format!("/v2/tasks/{tid}"), None),
    ] {
        let (s, _) = app.call(method, &uri, b, body).await;
        assert_eq!(s, 404, "{method} {uri}");
    }
    let (_, list) = app.call("GET", "/v2/projects", b, None).await;
    assert!(list["items"].as_array().unwrap().is_empty());
    // A's data is unchanged.
    let (s, again) = app
        .call("GET", &format!("/v2/projects/{pid}"), Some(&a), None)
        .await;
    assert_eq!(
        (s, again["name"].as_str()),
        (StatusCode::OK, Some("secret"))
    );
    let (s, t) = app
        .call("GET", &format!("/v2/tasks/{tid}"), Some(&a), None)
        .await;
    assert_eq!((s, t["title"].as_str()), (StatusCode::OK, Some("t")));
}

#[tokio::test]
async fn validation_pagination_and_bad_input() {
    let app = App::new().await;
    let (_, tok) = app.tenant("acme").await;
    let t = Some(tok.as_str());
    for body in [
        json!({"name": ""}),
        json!({"name": "x".repeat(201)}),
        json!({"name": 3}),
    ] {
        let (s, _) = app.call("POST", "/v2/projects", t, Some(body)).await;
        assert_eq!(s, 422);
    }
    // 200 code points of a multi-byte character is fine: length counts code points.
    let (s, _) = app
        .call(
            "POST",
            "/v2/projects",
            t,
            Some(json!({"name": "é".repeat(200)})),
        )
        .await;
    assert_eq!(s, 201);
    for i in 0..4 {
        app.call(
            "POST",
            "/v2/projects",
            t,
            Some(json!({"name": format!("p{i}")})),
        )
        .await;
    }
    let (_, first) = app.call("GET", "/v2/projects?limit=2", t, None).await;
    assert_eq!(first["items"].as_array().unwrap().len(), 2);
    let cursor = first["next_cursor"].as_str().unwrap();
    let (_, second) = app
        .call(
            "GET",
            &format!("/v2/projects?limit=2&cursor={cursor}"),
            t,
            None,
        )
        .await;
    assert_eq!(second["items"].as_array().unwrap().len(), 2);
    let (_, third) = app
        .call(
            "GET",
            &format!(
                "/v2/projects?limit=2&cursor={}",
                second["next_cursor"].as_str().unwrap()
            ),
            t,
            None,
        )
        .await;
    assert_eq!(third["items"].as_array().unwrap().len(), 1);
    assert!(third["next_cursor"].is_null());
    for q in ["limit=0", "limit=101", "limit=abc", "cursor=garbage"] {
        let (s, _) = app.call("GET", &format!("/v2/projects?{q}"), t, None).await;
        assert_eq!(s, 422, "{q}");
    }
    let (s, _) = app
        .call(
            "POST",
            "/v2/projects/00000000-0000-0000-0000-000000000000/tasks",
            t,
            Some(json!({"title": "x", "status": "later"})),
        )
        .await;
    assert_eq!(s, 422);
    let (s, _) = app.call("GET", "/healthz", None, None).await;
    assert_eq!(s, 200);
}

#[tokio::test]
async fn text_that_cannot_be_stored_is_a_422_not_a_500() {
    let app = App::new().await;
    let (_, tok) = app.tenant("acme").await;
    let (s, _) = app
        .call(
            "POST",
            "/v2/projects",
            Some(&tok),
            Some(json!({"name": "a\u{0}b"})),
        )
        .await;
    assert_eq!(s, 422);
    let (s, _) = app
        .call(
            "POST",
            "/admin/tenants",
            Some(ADMIN),
            Some(json!({"slug": "nul-name", "name": "a\u{0}b"})),
        )
        .await;
    assert_eq!(s, 422);
}
