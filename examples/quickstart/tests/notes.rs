use saas_testkit::{TestEnv, assert_isolated};
use serde_json::{Value, json};

const SECRET: &str = "a-test-secret-of-at-least-32-bytes!";

#[saas_testkit::test(migrations = notes::MIGRATIONS)]
async fn a_note_belongs_to_its_tenant(env: TestEnv) {
    let app = env.app(notes::app(SECRET)).await;
    let (acme, globex) = (env.tenant("acme").await, env.tenant("globex").await);
    let note: Value = app
        .as_tenant(&acme)
        .post("/v1/notes", json!({"body": "hello"}))
        .await
        .json();
    let path = format!("/v1/notes/{}", note["id"].as_str().unwrap());
    app.as_tenant(&acme).get(&path).await.assert_status(200);
    app.as_tenant(&globex).get(&path).await.assert_status(404);
}

// Every route of the API, tried by a second tenant with the first one's ids.
#[saas_testkit::test(migrations = notes::MIGRATIONS)]
async fn every_route_is_isolated(env: TestEnv) {
    let app = env.app(notes::app(SECRET)).await;
    assert_isolated(&app, &env).await;
}
