//! The reference app passes the isolation checks: every route of its documents, tried by a
//! second tenant with the first one's ids, and random interleavings of three tenants.

use saas_testkit::{
    IsolationCheck, TestApp, TestEnv, assert_isolated, assert_isolated_interleaved,
};

async fn taskboard() -> (TestEnv, TestApp) {
    let env = TestEnv::builder()
        .migrations(&taskboard::MIGRATIONS)
        .start()
        .await
        .expect("test environment");
    let app = env
        .app(taskboard::app(taskboard::Settings::new(
            "admin-token-for-tests",
            "jwt-secret-for-tests-0123456789abcdef",
        )))
        .await;
    (env, app)
}

#[tokio::test]
async fn taskboard_passes_the_isolation_check() {
    let (env, app) = taskboard().await;
    assert_isolated(&app, &env).await;

    // Nothing was left out: every route of v2 was reached with real ids.
    let report = IsolationCheck::new().report(&app, &env).await;
    assert!(report.is_clean(), "{report}");
    assert!(report.notes().is_empty(), "{report}");
    assert!(report.requests() > 20, "{report}");

    // The deprecated version, served through version changes, is isolated too.
    let v1 = IsolationCheck::new().version("v1").report(&app, &env).await;
    assert!(v1.is_clean(), "{v1}");
    assert!(v1.notes().is_empty(), "{v1}");
}

#[tokio::test]
async fn taskboard_passes_the_interleaved_isolation_check() {
    let (env, app) = taskboard().await;
    assert_isolated_interleaved(&app, &env, 8).await;
}
