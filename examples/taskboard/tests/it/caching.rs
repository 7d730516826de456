//! HTTP caching and `201 Created`: validators per representation and version, revalidation,
//! private cache headers on tenant responses, public documents, `Location` in the creating
//! version (shared/taskboard-contract.md, "HTTP caching").

use crate::common;

use common::App;
use serde_json::json;

#[tokio::test]
async fn each_version_of_a_row_has_its_own_etag_201s_say_where_and_documents_are_public() {
    let app = App::new().await;
    let tok = app.tenant("acme").await.1;
    let t = Some(tok.as_str());
    let (s, h, p) = app
        .send("POST", "/v2/projects", t, Some(json!({"name": "Both"})))
        .await;
    assert_eq!(s, 201, "{p}");
    assert_eq!(
        h["location"],
        format!("/v2/projects/{}", p["id"].as_str().unwrap()).as_str()
    );
    let pid = p["id"].as_str().unwrap().to_string();
    let mut tags = Vec::new();
    // 201s say where the new resource lives, in the version that created it.
    let created = app
        .client(t)
        .post("/v1/projects", json!({"name": "Old"}))
        .await;
    created.assert_status(201);
    let old = created.value()["id"].as_str().unwrap().to_string();
    assert_eq!(
        created.headers["location"],
        format!("/v1/projects/{old}").as_str()
    );
    let task = app
        .client(t)
        .post(&format!("/v2/projects/{pid}/tasks"), json!({"title": "T"}))
        .await;
    task.assert_status(201);
    let tid = task.value()["id"].as_str().unwrap().to_string();
    let location = task.headers["location"].to_str().unwrap().to_string();
    assert_eq!(location, format!("/v2/tasks/{tid}"));
    app.client(t).get(&location).await.assert_status(200);
    for version in ["v1", "v2"] {
        let path = format!("/{version}/projects/{pid}");
        let got = app.client(t).get(&path).await;
        got.assert_status(200);
        let etag = got.headers["etag"].to_str().unwrap().to_string();
        assert_eq!(got.headers["cache-control"], "private, no-cache");
        assert!(
            got.headers
                .get_all("vary")
                .iter()
                .any(|v| v == "Authorization"),
            "{path}: {:?}",
            got.headers
        );
        let not_modified = app
            .client(t)
            .header("if-none-match", etag.as_str())
            .get(&path)
            .await;
        not_modified.assert_status(304);
        assert_eq!(not_modified.headers["etag"].to_str().unwrap(), etag);
        tags.push(etag);
    }
    assert_ne!(tags[0], tags[1], "v1 and v2 representations differ");
    // A rename changes both.
    let (s, _, _) = app
        .send(
            "PATCH",
            &format!("/v2/projects/{pid}"),
            t,
            Some(json!({"name": "Renamed"})),
        )
        .await;
    assert_eq!(s, 200);
    let stale = app
        .client(t)
        .header("if-none-match", tags[1].as_str())
        .get(&format!("/v2/projects/{pid}"))
        .await;
    stale.assert_status(200);
    assert_ne!(stale.headers["etag"].to_str().unwrap(), tags[1]);
    // The documents are the same for everyone: public.
    let doc = app.client(None).get("/openapi/v2.json").await;
    doc.assert_status(200);
    assert_eq!(doc.headers["cache-control"], "public, max-age=300");
}
