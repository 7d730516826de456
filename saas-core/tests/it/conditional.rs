//! Conditional writes: `If-Match` is evaluated in the write's own transaction under the
//! resource's lock, so a write that lands between a client's read and its conditional write
//! makes it a 412 instead of being overwritten; `RequireIfMatchLayer` makes it mandatory; the
//! framework's own read for the comparison is not counted against the tenant's rate limit.

use crate::common;

use std::sync::Arc;
use std::time::Duration;

use axum::Extension;
use axum::routing::patch;
use common::*;
use saas_core::http::conditional::RequireIfMatchLayer;
use saas_core::http::{Json, Path};
use saas_core::prelude::*;
use saas_core::ratelimit::{PlanLimits, Quota, RateLimitLayer, RateLimits};
use serde::Deserialize;
use tokio::sync::Notify;

/// Holds a rename between its UPDATE and its commit until the test lets it go.
#[derive(Clone, Default)]
struct Gate {
    entered: Arc<Notify>,
    release: Arc<Notify>,
}

#[derive(Deserialize)]
struct Rename {
    name: String,
    #[serde(default)]
    hold: bool,
}

async fn rename_project(
    mut tx: TenantTx,
    Path(id): Path<Uuid>,
    Extension(gate): Extension<Gate>,
    Json(body): Json<Rename>,
) -> ApiResult<Json<Project>> {
    sqlx::query("UPDATE projects SET name = $1 WHERE id = $2")
        .bind(&body.name)
        .bind(id)
        .execute(tx.conn().await?)
        .await?;
    if body.hold {
        gate.entered.notify_one();
        gate.release.notified().await;
    }
    Ok(Json(Project::get(&mut tx, id).await?))
}

#[tokio::test]
async fn a_write_between_the_read_and_the_conditional_write_makes_it_a_412() {
    let env = Env::new().await;
    let acme = env.tenant("acme").await;
    let gate = Gate::default();
    let routes = routes()
        .route("/projects/{id}", patch(rename_project))
        .layer(Extension(gate.clone()));
    let app = env.serve_routes(routes).await;
    let token = env.token(&acme);
    let id = post_project(&app.with_token(token.as_str()), "start").await;
    let path = format!("/projects/{id}");
    let read = app.with_token(token.as_str()).get(&path).await;
    let tag = read.headers["etag"].to_str().unwrap().to_string();

    // A plain rename updates the row and stops before its commit; then a client that read
    // `tag` before it sends its conditional rename. Without the resource's lock its read
    // would see the old, committed row, match, and overwrite the first rename once that
    // commits; with it, it waits, reads the renamed row and is told so.
    let first = async {
        app.with_token(token.as_str())
            .send(
                "PATCH",
                &path,
                Some(&serde_json::json!({ "name": "first", "hold": true })),
            )
            .await
    };
    let second = async {
        gate.entered.notified().await;
        let client = app
            .with_token(token.as_str())
            .header("if-match", tag.as_str());
        let body = serde_json::json!({ "name": "second" });
        let conditional = client.send("PATCH", &path, Some(&body));
        let release = async {
            // Let the first rename commit once the second is waiting on a lock.
            saas_testkit::wait_until(
                "the conditional write waits for the resource",
                Duration::from_secs(30),
                async || {
                    let waiting: i64 = sqlx::query_scalar(
                        "SELECT count(*) FROM pg_stat_activity
                          WHERE datname = current_database() AND wait_event_type = 'Lock'",
                    )
                    .fetch_one(env.tenancy.owner_pool())
                    .await
                    .unwrap();
                    waiting > 0
                },
            )
            .await;
            gate.release.notify_one();
        };
        tokio::join!(conditional, release).0
    };
    let (first, second) = tokio::join!(first, second);
    first.assert_status(200);
    assert_eq!(first.value()["name"], "first");
    second.assert_status(412);
    second.assert_problem_if_error();
    let now = app.with_token(token.as_str()).get(&path).await;
    assert_eq!(now.value()["name"], "first", "the first rename was kept");
    assert_eq!(
        second.headers["etag"], now.headers["etag"],
        "the 412 names the current tag"
    );
    // With the current tag the conditional rename goes through.
    let retried = app
        .with_token(token.as_str())
        .header("if-match", now.headers["etag"].to_str().unwrap())
        .send(
            "PATCH",
            &path,
            Some(&serde_json::json!({ "name": "second" })),
        )
        .await;
    retried.assert_status(200);
    assert_eq!(retried.value()["name"], "second");
}

#[tokio::test]
async fn require_if_match_answers_428_and_lets_conditional_writes_through() {
    let env = Env::new().await;
    let acme = env.tenant("acme").await;
    let gate = Gate::default();
    let routes = routes()
        .route("/projects/{id}", patch(rename_project))
        .route_layer(RequireIfMatchLayer)
        .layer(Extension(gate));
    let app = env.serve_routes(routes).await;
    let acme = app.with_token(env.token(&acme));
    let id = post_project(&acme, "start").await;
    let path = format!("/projects/{id}");
    let refused = acme
        .patch(&path, serde_json::json!({ "name": "blind" }))
        .await;
    refused.assert_status(428);
    refused.assert_problem_if_error();
    acme.delete(&path).await.assert_status(428);
    let tag = acme.get(&path).await.headers["etag"]
        .to_str()
        .unwrap()
        .to_string();
    let done = acme
        .clone()
        .header("if-match", tag.as_str())
        .send("PATCH", &path, Some(&serde_json::json!({ "name": "seen" })))
        .await;
    done.assert_status(200);
    assert_eq!(done.value()["name"], "seen");
}

#[tokio::test]
async fn the_read_behind_if_match_is_not_counted_against_the_rate_limit() {
    let env = Env::new().await;
    let acme = env.tenant("acme").await;
    let limits = RateLimits::new().plan(
        "default",
        PlanLimits::unlimited().quota(Quota::per_day(100)),
    );
    let routes = routes().layer(RateLimitLayer::new(&limits));
    let app = env.serve_routes(routes).await;
    let acme = app.with_token(env.token(&acme));
    let id = post_project(&acme, "counted").await;
    let path = format!("/projects/{id}");
    let read = acme.get(&path).await;
    let remaining = |r: &saas_testkit::TestResponse| -> u64 {
        let field = r.headers["ratelimit"].to_str().unwrap().to_string();
        let r = field
            .split(';')
            .find_map(|p| p.strip_prefix("r="))
            .unwrap_or_else(|| panic!("no remaining count in {field}"));
        r.parse().unwrap()
    };
    let before = remaining(&read);
    let deleted = acme
        .clone()
        .header("if-match", read.headers["etag"].to_str().unwrap())
        .delete(&path)
        .await;
    deleted.assert_status(204);
    assert_eq!(
        remaining(&deleted),
        before - 1,
        "one request counted, not two"
    );
}

saas_core::api_versions! {
    const VERSIONS = {
        1 => current,
    };
}

/// A project's name.
#[saas_core::endpoint(get, "/guarded/{id}", versions = 1..,
    responses((status = 200, body = String)))]
async fn guarded_name(mut tx: TenantTx, Path(id): Path<Uuid>) -> ApiResult<String> {
    Ok(Project::get(&mut tx, id).await?.name)
}

/// Renames a project, only conditionally.
#[saas_core::endpoint(patch, "/guarded/{id}", versions = 1.., if_match = required,
    responses((status = 200, body = String)))]
async fn guarded_rename(mut tx: TenantTx, Path(id): Path<Uuid>, body: String) -> ApiResult<String> {
    sqlx::query("UPDATE projects SET name = $1 WHERE id = $2")
        .bind(&body)
        .bind(id)
        .execute(tx.conn().await?)
        .await?;
    Ok(Project::get(&mut tx, id).await?.name)
}

/// `PATCH path` with `name` as a text body, and `If-Match: tag` when given.
async fn rename(
    client: &saas_testkit::Client<'_>,
    path: &str,
    tag: Option<String>,
    name: &str,
) -> saas_testkit::TestResponse {
    let client = match tag {
        Some(tag) => client.clone().header("if-match", tag),
        None => client.clone(),
    };
    let body = Some(("text/plain", name.as_bytes().to_vec()));
    client.send_bytes("PATCH", path, body).await
}

/// `if_match = required` on a versioned endpoint: 428 (a problem, with the version's headers)
/// without `If-Match`, 412 with a stale tag, 200 with the current one, another tenant's 404
/// with this tenant's tag; the document says the header is required and lists the 428.
#[tokio::test]
async fn a_declared_if_match_requirement_answers_428_and_is_documented() {
    let env = Env::new().await;
    let app = serve_api(
        &env,
        saas_core::routes!(VERSIONS; guarded_name, guarded_rename),
    )
    .await;
    let (a, b) = (env.tenant("acme").await, env.tenant("globex").await);
    let (acme, globex) = (app.with_token(env.token(&a)), app.with_token(env.token(&b)));
    let id = post_project(&acme, "start").await;
    let path = format!("/v1/guarded/{id}");
    let refused = rename(&acme, &path, None, "blind").await;
    refused.assert_status(428);
    refused.assert_problem_if_error();
    assert_eq!(refused.headers["api-version"], "1");
    let tag = |response: &saas_testkit::TestResponse| {
        response.headers["etag"].to_str().unwrap().to_string()
    };
    let first = tag(&acme.get(&path).await);
    rename(&acme, &path, Some(first.clone()), "seen")
        .await
        .assert_status(200);
    rename(&acme, &path, Some(first.clone()), "stale")
        .await
        .assert_status(412);
    let current = tag(&acme.get(&path).await);
    rename(&globex, &path, Some(current.clone()), "foreign")
        .await
        .assert_status(404);
    assert_eq!(acme.get(&path).await.text(), "seen");

    let document = acme.get("/openapi/v1.json").await.value();
    let operation = &document["paths"]["/v1/guarded/{id}"]["patch"];
    assert!(operation["responses"]["428"].is_object(), "{operation}");
    let if_match = operation["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "If-Match")
        .expect("If-Match is documented");
    assert_eq!(if_match["required"], true);
    let read = &document["paths"]["/v1/guarded/{id}"]["get"];
    assert!(read["responses"]["428"].is_null(), "{read}");
}
