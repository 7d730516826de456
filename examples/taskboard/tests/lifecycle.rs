//! The taskboard binary as an orchestrator sees it: probes while it runs, a real SIGTERM, and
//! a clean exit after readiness went off and in-flight work drained.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use saas_testkit::free_port;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_turns_readiness_off_then_exits_cleanly() {
    let db = saas_testkit::TestDb::new().await.unwrap();
    let port = free_port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_taskboard"))
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .env("DATABASE_URL", db.url())
        .env("SAAS_REQUEST_ROLE", db.request_role())
        .env("SAAS_DATABASE_PREFIX", &db.config().database_prefix)
        .env("TASKBOARD_ADMIN_TOKEN", "lifecycle-admin-token")
        .env(
            "TASKBOARD_JWT_SECRET",
            "lifecycle-jwt-secret-0123456789abcdef",
        )
        .env("SAAS_SHUTDOWN_DELAY", "1.5")
        .env("RUST_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the taskboard binary starts");
    let stdout = child.stdout.take().unwrap();
    let (lines_tx, lines_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = lines_tx.send(line);
        }
    });
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let line = lines_rx
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .expect("the app prints `listening on`");
        if line.contains("listening on") {
            break;
        }
    }
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    for path in ["/livez", "/readyz", "/healthz"] {
        let status = client
            .get(format!("{base}{path}"))
            .send()
            .await
            .unwrap()
            .status();
        assert_eq!(status, 200, "{path}");
    }
    // A write just before the signal is kept.
    let created = client
        .post(format!("{base}/admin/tenants"))
        .bearer_auth("lifecycle-admin-token")
        .json(&serde_json::json!({"slug": "acme", "name": "Acme", "tier": "shared"}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);

    let pid = child.id().to_string();
    let killed = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    assert!(killed.success());
    // During the delay the process still answers, but no longer as ready.
    let mut saw_shutting_down = false;
    for _ in 0..20 {
        if let Ok(response) = client.get(format!("{base}/readyz")).send().await
            && response.status() == 503
        {
            let body: serde_json::Value = response.json().await.unwrap();
            assert_eq!(body["reason"], "shutting_down");
            saw_shutting_down = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(saw_shutting_down, "readiness went off after SIGTERM");

    let status = tokio::task::spawn_blocking(move || child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success(), "exit status after SIGTERM: {status:?}");
    assert!(client.get(format!("{base}/livez")).send().await.is_err());

    // The tenant created before the signal is there.
    let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(db.url())
        .await
        .unwrap();
    let slugs: Vec<String> = sqlx::query_scalar("SELECT slug FROM saas.tenants")
        .fetch_all(&mut conn)
        .await
        .unwrap();
    assert_eq!(slugs, vec!["acme".to_string()]);
}

#[test]
fn an_unreadable_shutdown_setting_stops_serve_with_a_clear_message() {
    let out = Command::new(env!("CARGO_BIN_EXE_taskboard"))
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env("DATABASE_URL", "postgres://postgres@127.0.0.1:1/none")
        .env("SAAS_DRAIN_TIMEOUT", "soon")
        .env("RUST_LOG", "error")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("SAAS_DRAIN_TIMEOUT must be a number of seconds"),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
}
