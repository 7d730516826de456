//! The operator's CLI against a real database: tenants created, listed, moved between tiers
//! with progress and a report, every tenant migrated, bad input refused.

use std::process::{Command, Output};

fn taskboard(db: &saas_testkit::TestDb, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_taskboard"))
        .args(args)
        .env("DATABASE_URL", db.url())
        .env("SAAS_REQUEST_ROLE", db.request_role())
        .env("SAAS_DATABASE_PREFIX", &db.config().database_prefix)
        .env("SAAS_TENANT_CACHE_TTL_MS", "200")
        .env("TASKBOARD_ADMIN_TOKEN", "cli-admin-token")
        .env(
            "TASKBOARD_JWT_SECRET",
            "cli-jwt-secret-0123456789abcdef0123",
        )
        .env("RUST_LOG", "error")
        .output()
        .expect("the taskboard binary runs")
}

fn ok(db: &saas_testkit::TestDb, args: &[&str]) -> String {
    let out = taskboard(db, args);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "taskboard {args:?} failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

#[tokio::test]
async fn tenants_are_created_moved_and_migrated_from_the_command_line() {
    let db = saas_testkit::TestDb::new().await.unwrap();
    let created = ok(&db, &["tenants", "create", "acme", "--name", "Acme"]);
    assert!(created.contains("\tacme\tshared"), "{created}");
    ok(&db, &["tenants", "create", "globex", "--tier", "schema"]);

    let moved = ok(&db, &["tenants", "move", "acme", "--to", "schema"]);
    assert!(
        moved.contains("moved acme from shared to schema:tenant_"),
        "{moved}"
    );
    assert!(moved.contains("projects\t0 rows"), "{moved}");
    let moved = ok(&db, &["tenants", "move", "acme", "--to", "database"]);
    assert!(moved.contains("to database:primary/"), "{moved}");

    let list = ok(&db, &["tenants", "list"]);
    let acme = list.lines().find(|l| l.contains("\tacme\t")).unwrap();
    assert!(acme.contains("\tdatabase\tdatabase:primary/"), "{list}");
    let globex = list.lines().find(|l| l.contains("\tglobex\t")).unwrap();
    assert!(globex.contains("\tschema\tschema:tenant_"), "{list}");

    let migrated = ok(&db, &["migrate", "--force"]);
    assert!(
        migrated.contains(
            "tenants: 2 in schemas or databases; 2 migrated, 0 already up to date, 0 failed"
        ),
        "{migrated}"
    );
    let again = ok(&db, &["migrate"]);
    assert!(
        again.contains("0 migrated, 2 already up to date"),
        "{again}"
    );
    assert!(ok(&db, &["tenants", "moves", "--list"]).contains("no interrupted moves"));

    // A token for one tenant names that tenant only, signed with the app's secret.
    let token = ok(&db, &["tenants", "token", "acme", "--subject", "alice"]);
    let resolver =
        saas_core::tenancy::resolver::JwtResolver::hs256("cli-jwt-secret-0123456789abcdef0123");
    let found = resolver.verify(token.trim()).unwrap();
    let acme_id = acme.split('\t').next().unwrap();
    let globex_id = globex.split('\t').next().unwrap();
    let saas_core::tenancy::resolver::TenantRef::Id(tenant) = found.tenant else {
        panic!("a token names its tenant by id: {token}");
    };
    assert_eq!(tenant.to_string(), acme_id, "{token}");
    assert_ne!(tenant.to_string(), globex_id);
    assert_eq!(found.subject.as_deref(), Some("alice"));

    // Logs to a pipe (or a file) carry no terminal colour codes.
    let out = Command::new(env!("CARGO_BIN_EXE_taskboard"))
        .args(["tenants", "list"])
        .env("DATABASE_URL", db.url())
        .env("SAAS_REQUEST_ROLE", db.request_role())
        .env("SAAS_DATABASE_PREFIX", &db.config().database_prefix)
        .env("TASKBOARD_ADMIN_TOKEN", "cli-admin-token")
        .env(
            "TASKBOARD_JWT_SECRET",
            "cli-jwt-secret-0123456789abcdef0123",
        )
        .env("RUST_LOG", "debug")
        .output()
        .unwrap();
    let logs = String::from_utf8_lossy(&out.stdout);
    assert!(logs.contains("DEBUG") || logs.contains("INFO"), "{logs}");
    assert!(
        !logs.contains('\x1b'),
        "colour codes in piped logs: {logs:?}"
    );

    for bad in [
        vec!["tenants", "token", "nobody"],
        vec!["tenants", "token", "acme", "--ttl", "soon"],
        vec!["tenants", "move", "acme", "--to", "gold"],
        vec!["tenants", "move", "nobody", "--to", "schema"],
        vec![
            "tenants", "move", "acme", "--to", "database", "--server", "mars",
        ],
        vec!["tenants", "create", "Bad Slug"],
    ] {
        let out = taskboard(&db, &bad);
        assert!(!out.status.success(), "{bad:?} succeeded");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!stderr.contains("panicked"), "{bad:?} panicked: {stderr}");
    }
}
