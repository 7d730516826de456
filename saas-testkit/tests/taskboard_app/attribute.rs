//! `#[saas_testkit::test]` in use: a complete test in a few lines.

use saas_testkit::TestEnv;

fn settings() -> taskboard::Settings {
    taskboard::Settings::new("attr-admin", "attribute-test-secret-0123456789abc")
}

#[saas_testkit::test(migrations = taskboard::MIGRATIONS)]
async fn tenants_cannot_read_each_other(env: TestEnv) {
    let app = env.app(taskboard::app(settings())).await;
    let (acme, globex) = (env.tenant("acme").await, env.tenant("globex").await);
    let p: serde_json::Value = app
        .as_tenant(&acme)
        .post("/v2/projects", serde_json::json!({"name": "x"}))
        .await
        .json();
    app.as_tenant(&globex)
        .get(&format!("/v2/projects/{}", p["id"].as_str().unwrap()))
        .await
        .assert_status(404);
}

#[saas_testkit::test(migrations = taskboard::MIGRATIONS, isolation = "database")]
async fn a_database_of_its_own(env: TestEnv) {
    assert!(env.db().name().starts_with("saas_test_"));
    let acme = env.tenant("acme").await;
    let mut tx = env.tx(&acme);
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM projects")
        .fetch_one(tx.conn().await.unwrap())
        .await
        .unwrap();
    assert_eq!(n, 0);
}
