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

/// `If-Match` on PATCH and DELETE: a stale tag is a 412 problem and changes nothing, the
/// current tag goes through, another tenant's resource stays a 404, and of clients racing
/// with the same tag exactly one wins (the others' updates would have been lost).
#[tokio::test]
async fn if_match_turns_lost_updates_into_412s_and_never_reveals_another_tenants_rows() {
    let app = App::new().await;
    let tok = app.tenant("acme").await.1;
    let other = app.tenant("globex").await.1;
    let t = Some(tok.as_str());
    let (s, _, p) = app
        .send("POST", "/v2/projects", t, Some(json!({"name": "Guarded"})))
        .await;
    assert_eq!(s, 201, "{p}");
    let pid = p["id"].as_str().unwrap().to_string();
    let path = format!("/v2/projects/{pid}");
    let tag_of = |r: &saas_testkit::TestResponse| r.headers["etag"].to_str().unwrap().to_string();
    let read = app.client(t).get(&path).await;
    read.assert_status(200);
    let tag = tag_of(&read);

    // A tag that never was: 412, problem+json, the current tag to start over from; no change.
    let stale = app
        .client(t)
        .header("if-match", "\"not-the-tag\"")
        .send("PATCH", &path, Some(&json!({"name": "Lost"})))
        .await;
    stale.assert_status(412);
    stale.assert_problem_if_error();
    assert_eq!(tag_of(&stale), tag);
    let unchanged = app.client(t).get(&path).await;
    assert_eq!(unchanged.value()["name"], "Guarded");
    assert_eq!(tag_of(&unchanged), tag);
    // A weak tag never matches If-Match (strong comparison).
    app.client(t)
        .header("if-match", format!("W/{tag}").as_str())
        .send("PATCH", &path, Some(&json!({"name": "Weak"})))
        .await
        .assert_status(412);

    // Another tenant with the right path and the right tag: 404, never 412 (which would say
    // the row exists), and nothing changes.
    let foreign = app
        .client(Some(other.as_str()))
        .header("if-match", tag.as_str())
        .send("PATCH", &path, Some(&json!({"name": "Stolen"})))
        .await;
    foreign.assert_status(404);
    foreign.assert_problem_if_error();
    app.client(Some(other.as_str()))
        .header("if-match", "*")
        .send("DELETE", &path, None)
        .await
        .assert_status(404);
    assert_eq!(app.client(t).get(&path).await.value()["name"], "Guarded");

    // The current tag: the write goes through and the tag moves on; the old one is now stale.
    let renamed = app
        .client(t)
        .header("if-match", tag.as_str())
        .send("PATCH", &path, Some(&json!({"name": "Renamed"})))
        .await;
    renamed.assert_status(200);
    assert_eq!(renamed.value()["name"], "Renamed");
    let current = tag_of(&app.client(t).get(&path).await);
    assert_ne!(current, tag);
    app.client(t)
        .header("if-match", tag.as_str())
        .send("PATCH", &path, Some(&json!({"name": "Late"})))
        .await
        .assert_status(412);
    // A tag of the v1 representation names another representation: 412 on v2.
    let v1_tag = tag_of(&app.client(t).get(&format!("/v1/projects/{pid}")).await);
    assert_ne!(v1_tag, current);
    app.client(t)
        .header("if-match", v1_tag.as_str())
        .send("PATCH", &path, Some(&json!({"name": "Other version"})))
        .await
        .assert_status(412);

    // Racing clients that all read the same tag: exactly one update lands.
    let racers = 8;
    let results = futures_util::future::join_all((0..racers).map(|i| {
        let client = app.client(t).header("if-match", current.as_str());
        let path = path.clone();
        async move {
            client
                .send("PATCH", &path, Some(&json!({"name": format!("Racer {i}")})))
                .await
                .status
        }
    }))
    .await;
    assert_eq!(
        results.iter().filter(|s| **s == 200).count(),
        1,
        "exactly one racer wins: {results:?}"
    );
    assert_eq!(
        results.iter().filter(|s| **s == 412).count(),
        racers - 1,
        "every other racer is told it lost: {results:?}"
    );

    // Tasks too, and DELETE: a stale tag keeps the task, the current one deletes it.
    let task = app
        .client(t)
        .post(&format!("/v2/projects/{pid}/tasks"), json!({"title": "T"}))
        .await;
    task.assert_status(201);
    let task_path = task.headers["location"].to_str().unwrap().to_string();
    let task_tag = tag_of(&app.client(t).get(&task_path).await);
    app.client(t)
        .header("if-match", task_tag.as_str())
        .send("PATCH", &task_path, Some(&json!({"status": "done"})))
        .await
        .assert_status(200);
    app.client(t)
        .header("if-match", task_tag.as_str())
        .send("DELETE", &task_path, None)
        .await
        .assert_status(412);
    app.client(t).get(&task_path).await.assert_status(200);
    let task_tag = tag_of(&app.client(t).get(&task_path).await);
    app.client(t)
        .header("if-match", task_tag.as_str())
        .send("DELETE", &task_path, None)
        .await
        .assert_status(204);
    app.client(t).get(&task_path).await.assert_status(404);
    // `*`: any current representation; none left, so the resource's 404.
    app.client(t)
        .header("if-match", "*")
        .send("DELETE", &task_path, None)
        .await
        .assert_status(404);
}
