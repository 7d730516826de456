//! The deprecated v1 API: served by the v2 handlers through version changes, every response
//! marked with Deprecation, Sunset and Link headers; and the committed documents.

use crate::common;

use common::{App, assert_deprecated};
use http::StatusCode;
use serde_json::{Value, json};

#[tokio::test]
async fn v1_projects_and_tasks_have_v1_shapes_and_deprecation_headers() {
    let app = App::new().await;
    let tok = app.tenant("acme").await.1;
    let t = Some(tok.as_str());
    let (s, h, p) = app
        .send("POST", "/v1/projects", t, Some(json!({"name": "Old"})))
        .await;
    assert_eq!(s, 201);
    assert_deprecated(&h, "/v2/projects");
    let pid = p["id"].as_str().unwrap().to_string();
    assert_eq!(p, json!({"id": pid, "name": "Old"}));

    let (s, h, list) = app.send("GET", "/v1/projects", t, None).await;
    assert_eq!(s, 200);
    assert_deprecated(&h, "/v2/projects");
    assert_eq!(list["items"], json!([{"id": pid, "name": "Old"}]));
    assert!(list["next_cursor"].is_null());

    let (s, h, got) = app
        .send("GET", &format!("/v1/projects/{pid}"), t, None)
        .await;
    assert_eq!(
        (s, &got),
        (StatusCode::OK, &json!({"id": pid, "name": "Old"}))
    );
    assert_deprecated(&h, &format!("/v2/projects/{pid}"));

    for (done, status) in [(false, "todo"), (true, "done")] {
        let (s, h, task) = app
            .send(
                "POST",
                &format!("/v1/projects/{pid}/tasks"),
                t,
                Some(json!({"title": "T", "done": done})),
            )
            .await;
        assert_eq!(s, 201, "{task}");
        assert_deprecated(&h, &format!("/v2/projects/{pid}/tasks"));
        let tid = task["id"].as_str().unwrap().to_string();
        assert_eq!(
            task,
            json!({"id": tid, "project_id": pid, "title": "T", "done": done})
        );
        let (_, _, v1) = app.send("GET", &format!("/v1/tasks/{tid}"), t, None).await;
        assert_eq!(v1["done"], done);
        let (_, h, v2) = app.send("GET", &format!("/v2/tasks/{tid}"), t, None).await;
        assert_eq!(v2["status"], status);
        for name in ["deprecation", "sunset", "link"] {
            assert!(h.get(name).is_none(), "v2 carries no {name}");
        }
    }
}

#[tokio::test]
async fn v1_errors_carry_the_headers_and_unknown_versions_name_the_supported_ones() {
    let app = App::new().await;
    let tok = app.tenant("acme").await.1;
    let (s, h, body) = app
        .send(
            "GET",
            &format!("/v1/projects/{}", uuid::Uuid::new_v4()),
            Some(&tok),
            None,
        )
        .await;
    assert_eq!(s, 404);
    assert_eq!(h["content-type"], "application/problem+json");
    assert!(h.get("deprecation").is_some() && h.get("sunset").is_some());
    assert_eq!(body["status"], 404);
    let (s, h, _) = app.send("GET", "/v1/projects", None, None).await;
    assert_eq!(s, 401);
    assert!(h.get("deprecation").is_some());
    let (s, _, body) = app.send("GET", "/v9/projects", Some(&tok), None).await;
    assert_eq!(s, 404);
    assert!(body["detail"].as_str().unwrap().contains("1, 2"), "{body}");
}

#[tokio::test]
async fn another_tenant_gets_404_through_v1_too() {
    let app = App::new().await;
    let a = app.tenant("acme").await.1;
    let b = app.tenant("globex").await.1;
    let (_, _, p) = app
        .send(
            "POST",
            "/v1/projects",
            Some(&a),
            Some(json!({"name": "secret"})),
        )
        .await;
    let pid = p["id"].as_str().unwrap();
    let (_, _, task) = app
        .send(
            "POST",
            &format!("/v1/projects/{pid}/tasks"),
            Some(&a),
            Some(json!({"title": "t", "done": false})),
        )
        .await;
    let tid = task["id"].as_str().unwrap();
    for (m, uri, body) in [
        ("GET", format!("/v1/projects/{pid}"), None),
        (
            "POST",
            format!("/v1/projects/{pid}/tasks"),
            Some(json!({"title": "x", "done": true})),
        ),
        ("GET", format!("/v1/tasks/{tid}"), None),
    ] {
        let (s, _, _) = app.send(m, &uri, Some(&b), body).await;
        assert_eq!(s, 404, "{m} {uri}");
    }
    let (_, _, list) = app.send("GET", "/v1/projects", Some(&b), None).await;
    assert_eq!(list["items"], json!([]));
}

#[tokio::test]
async fn committed_documents_equal_what_is_served_and_v1_is_deprecated() {
    let app = App::new().await;
    for version in ["v1", "v2"] {
        let (s, _, served) = app
            .send("GET", &format!("/openapi/{version}.json"), None, None)
            .await;
        assert_eq!(s, 200);
        let path = format!("{}/openapi/{version}.json", env!("CARGO_MANIFEST_DIR"));
        let committed: Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        assert_eq!(
            served, committed,
            "{path} is stale: run `cargo run -p taskboard -- openapi export`"
        );
        assert_eq!(
            served["components"]["securitySchemes"]["bearer"]["scheme"],
            "bearer"
        );
        for (_, item) in served["paths"].as_object().unwrap() {
            for (_, op) in item.as_object().unwrap() {
                assert_eq!(op["deprecated"] == true, version == "v1", "{op}");
            }
        }
    }
    let (s, _, _) = app.send("GET", "/openapi/v2-3.0.json", None, None).await;
    assert_eq!(s, 200);
}

#[tokio::test]
async fn docs_page_and_its_assets_are_served_locally() {
    let app = App::new().await;
    let res = app.client(None).get("/docs").await;
    res.assert_status(200);
    let html = res.text();
    assert!(html.contains("/openapi/v2.json"));
    // The page links its assets by names holding a hash of their bytes: immutable.
    let links: Vec<&str> = html
        .split(['"', '\''])
        .filter(|s| s.starts_with("/docs/"))
        .collect();
    assert_eq!(links.len(), 2, "{html}");
    for src in links {
        let stem = src.trim_start_matches("/docs/");
        let (name, rest) = stem.split_once('.').unwrap();
        let (hash, ext) = rest.split_once('.').unwrap();
        assert!(
            ["swagger-ui-bundle", "swagger-ui"].contains(&name)
                && hash.len() == 16
                && ["js", "css"].contains(&ext),
            "{src}"
        );
        let asset = app.client(None).get(src).await;
        asset.assert_status(200);
        assert_eq!(
            asset.headers["cache-control"],
            "public, max-age=31536000, immutable"
        );
        // The plain name still answers (pages of an older release), for a day.
        let plain = app.client(None).get(&format!("/docs/{name}.{ext}")).await;
        plain.assert_status(200);
        assert_eq!(plain.body, asset.body);
        assert_eq!(plain.headers["cache-control"], "public, max-age=86400");
    }
    app.client(None)
        .get("/docs/swagger-ui.0000000000000000.css")
        .await
        .assert_status(404);
    assert!(
        !html.contains("http://") && !html.contains("https://"),
        "no external assets"
    );
}
