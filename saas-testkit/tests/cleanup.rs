//! A test run leaves nothing but its cached template: the per-process shared database is
//! dropped once the process exits, and `saas-testkit list`/`clean` show and drop leftovers.

use std::process::Command;
use std::time::Duration;

use sqlx::{Connection, PgConnection};

/// Run only as the child of `a_finished_run_leaves_no_shared_database`.
#[tokio::test]
#[ignore = "the child process of a_finished_run_leaves_no_shared_database"]
async fn child_uses_the_shared_database() {
    let env = saas_testkit::TestEnv::builder().start().await.unwrap();
    env.tenant("acme").await;
    println!("SHARED_DB={}", env.db().name());
}

async fn exists(conn: &mut PgConnection, name: &str) -> bool {
    sqlx::query_scalar::<_, bool>("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
        .bind(name)
        .fetch_one(conn)
        .await
        .unwrap()
}

#[tokio::test]
async fn a_finished_run_leaves_no_shared_database() {
    // This process's first server_url() sweeps the databases of finished processes: do it
    // now, so that what removes the child's database below is the child's own clean-up.
    let server = saas_testkit::server_url().await.unwrap();
    let out = Command::new(std::env::current_exe().unwrap())
        .args([
            "child_uses_the_shared_database",
            "--exact",
            "--ignored",
            "--nocapture",
        ])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let name = stdout
        .lines()
        .find_map(|l| l.strip_prefix("SHARED_DB="))
        .expect("the child names its database")
        .to_string();
    assert!(name.starts_with("saas_run_"), "{name}");
    let mut conn = PgConnection::connect(&server).await.unwrap();
    // The child has exited; its watcher drops the database within moments. Wait for that
    // (bounded), rather than for a fixed time.
    let mut gone = false;
    for _ in 0..600 {
        if !exists(&mut conn, &name).await {
            gone = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(gone, "{name} is still there a minute after its run ended");
}

#[tokio::test]
async fn the_cli_lists_and_cleans_only_this_hosts_finished_runs() {
    let server = saas_testkit::server_url().await.unwrap();
    let mut conn = PgConnection::connect(&server).await.unwrap();
    let tag = saas_testkit::host_tag();
    let id = || uuid::Uuid::new_v4().simple().to_string();
    // This host's run that still runs (pid 1 always does), one that is gone (a pid above
    // Linux's pid_max), and a run of another host.
    let running = format!("saas_run_{tag}_1_{}", id());
    let gone = format!("saas_run_{tag}_4194399_{}", id());
    let other_tag = if tag == "zzzzz" { "yyyyy" } else { "zzzzz" };
    let theirs = format!("saas_run_{other_tag}_4194399_{}", id());
    for name in [&running, &gone, &theirs] {
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE \"{name}\"")))
            .execute(&mut conn)
            .await
            .unwrap();
    }
    let cli = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_saas-testkit"))
            .args(["--server", &server])
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let listed = cli(&["list"]);
    assert!(
        listed.contains(&format!("{running}\trun\t{tag}/1\trunning")),
        "{listed}"
    );
    assert!(
        listed.contains(&format!("{gone}\trun\t{tag}/4194399\tgone")),
        "{listed}"
    );
    assert!(
        listed.contains(&format!("{theirs}\trun\t{other_tag}/4194399\tother host")),
        "{listed}"
    );
    assert!(listed.contains("\ttemplate\t-\tcached"), "{listed}");
    // Only the finished run of this host goes; templates stay without --templates.
    let cleaned = cli(&["clean"]);
    assert!(cleaned.contains(&format!("dropped {gone}")), "{cleaned}");
    assert!(
        !cleaned.contains(&running) && !cleaned.contains(&theirs),
        "{cleaned}"
    );
    assert!(!cleaned.contains("saas_tpl_"), "{cleaned}");
    assert!(!exists(&mut conn, &gone).await);
    assert!(exists(&mut conn, &running).await && exists(&mut conn, &theirs).await);
    for name in [&running, &theirs] {
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("DROP DATABASE \"{name}\"")))
            .execute(&mut conn)
            .await
            .unwrap();
    }
}
