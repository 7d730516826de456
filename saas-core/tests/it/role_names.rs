//! The request role's name is spliced into dollar-quoted DDL: a name that could close the
//! block (or smuggle anything else in) is refused before any SQL runs.

use crate::common;

use saas_core::tenancy::pool::Tenancy;

#[tokio::test]
async fn a_role_name_that_could_break_out_of_the_ddl_is_refused() {
    let db = saas_testkit::TestDb::new().await.unwrap();
    for evil in [
        "app$saas$; CREATE ROLE pwned SUPERUSER LOGIN; DO $saas$ BEGIN",
        "app'; DROP TABLE projects; --",
        "app\"x",
        "1app",
        "",
    ] {
        let mut config = db.config();
        config.request_role = evil.to_string();
        let err = Tenancy::start(config, common::resolvers(), Some(&common::MIGRATIONS))
            .await
            .unwrap_err();
        assert!(
            err.to_string().contains("invalid role name"),
            "{evil:?} was not refused by name: {err}"
        );
    }
    let pwned: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'pwned')")
            .fetch_one(&mut db.owner_conn().await.unwrap())
            .await
            .unwrap();
    assert!(!pwned);
}
