//! The taskboard binary as an orchestrator sees it: probes while it runs, a real SIGTERM, and
//! a clean exit after readiness went off and in-flight work drained.

use crate::common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use saas_testkit::free_port;

const ADMIN: &str = "lifecycle-admin-token";

/// Starts `taskboard serve` on a free port with these extra variables and waits for its
/// `listening on` line: the child (killed when dropped, so a failing test leaves no server
/// behind) and the base URL.
fn serve(db: &saas_testkit::TestDb, vars: &[(&str, &str)]) -> (Served, String) {
    let port = free_port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_taskboard"))
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .env("DATABASE_URL", db.url())
        .env("SAAS_REQUEST_ROLE", db.request_role())
        .env("SAAS_DATABASE_PREFIX", &db.config().database_prefix)
        .env("TASKBOARD_ADMIN_TOKEN", ADMIN)
        .env(
            "TASKBOARD_JWT_SECRET",
            "lifecycle-jwt-secret-0123456789abcdef",
        )
        .env("RUST_LOG", "info")
        .envs(vars.iter().copied())
        .stdout(Stdio::piped())
        // Unread, a pipe would fill up and stall the app.
        .stderr(Stdio::null())
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
    (Served(Some(child)), format!("http://127.0.0.1:{port}"))
}

/// A running `taskboard serve`, killed on drop unless taken.
struct Served(Option<std::process::Child>);

impl Served {
    /// The child process, no longer killed on drop.
    fn take(mut self) -> std::process::Child {
        self.0.take().expect("not taken yet")
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        if let Some(child) = &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_turns_readiness_off_then_exits_cleanly() {
    let db = saas_testkit::TestDb::new().await.unwrap();
    let (served, base) = serve(&db, &[("SAAS_SHUTDOWN_DELAY", "1.5")]);
    let mut child = served.take();
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
        .bearer_auth(ADMIN)
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

/// Runs `taskboard serve` with these variables, expecting it to refuse to start: its stderr.
fn serve_refusing(vars: &[(&str, &str)]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_taskboard"))
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env("DATABASE_URL", "postgres://postgres@127.0.0.1:1/none")
        .env("RUST_LOG", "error")
        .envs(vars.iter().copied())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!stderr.contains("panicked"), "{stderr}");
    stderr
}

#[test]
fn an_unreadable_shutdown_setting_stops_serve_with_a_clear_message() {
    let stderr = serve_refusing(&[("SAAS_DRAIN_TIMEOUT", "soon")]);
    assert!(
        stderr.contains("SAAS_DRAIN_TIMEOUT=\"soon\" is not valid: it holds a number of seconds"),
        "{stderr}"
    );
}

/// A malformed setting is never ignored: `SAAS_POOL_SIZE=abc` used to leave the default.
#[test]
fn a_malformed_pool_size_stops_serve_naming_it() {
    let stderr = serve_refusing(&[
        ("SAAS_POOL_SIZE", "abc"),
        ("SAAS_MIGRATE_ON_START", "maybe"),
    ]);
    assert!(
        stderr.contains(
            "SAAS_POOL_SIZE=\"abc\" is not valid: it holds connections of the shared request pool"
        ),
        "{stderr}"
    );
    assert!(
        stderr.contains("SAAS_MIGRATE_ON_START=\"maybe\" is not valid"),
        "{stderr}"
    );
}

/// Registers a shared-tier tenant through the admin API of the app at `base` and issues it a
/// token: its id and the token.
async fn tenant_with_token(client: &reqwest::Client, base: &str, slug: &str) -> (String, String) {
    let admin_post = async |path: String, body: serde_json::Value| -> serde_json::Value {
        let response = client
            .post(format!("{base}{path}"))
            .bearer_auth(ADMIN)
            .json(&body)
            .send()
            .await
            .unwrap();
        response.json().await.unwrap()
    };
    let body = serde_json::json!({"slug": slug, "name": slug, "tier": "shared"});
    let created = admin_post("/admin/tenants".into(), body).await;
    let id = created["id"].as_str().unwrap().to_string();
    let body = serde_json::json!({"subject": "alice", "ttl_seconds": 600});
    let token = admin_post(format!("/admin/tenants/{id}/tokens"), body).await;
    (id, token["token"].as_str().unwrap().to_string())
}

/// `SAAS_RATE_LIMITS` configures the taskboard's per-tenant limits: one tenant's flood is
/// answered with 429 problem documents carrying `Retry-After` and the RateLimit fields, while
/// another tenant on the same plan is served, and `/metrics` counts the 429s under the
/// flooding tenant.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limits_from_the_environment_throttle_one_tenant_only() {
    let db = saas_testkit::TestDb::new().await.unwrap();
    let (_served, base) = serve(
        &db,
        &[
            ("SAAS_RATE_LIMITS", "default=3/m"),
            ("SAAS_METRICS_TOKEN", "scrape-me"),
        ],
    );
    let client = reqwest::Client::new();
    let (flooder, flooder_token) = tenant_with_token(&client, &base, "flooder").await;
    let (_, bystander_token) = tenant_with_token(&client, &base, "bystander").await;
    let list = |token: &str| {
        client
            .get(format!("{base}/v2/projects"))
            .bearer_auth(token)
            .send()
    };
    for i in 0..3 {
        let response = list(&flooder_token).await.unwrap();
        assert_eq!(response.status(), 200, "request {i}");
        assert_eq!(
            response.headers()["ratelimit-policy"],
            "\"default\";q=3;w=60"
        );
        let bystander = list(&bystander_token).await.unwrap();
        assert_eq!(bystander.status(), 200, "the bystander after request {i}");
    }
    let refused = list(&flooder_token).await.unwrap();
    assert_eq!(refused.status(), 429);
    let retry_after: u64 = refused.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry_after), "Retry-After {retry_after}");
    assert!(
        refused.headers()["ratelimit"]
            .to_str()
            .unwrap()
            .starts_with("\"default\";r=0;t="),
        "{:?}",
        refused.headers()["ratelimit"]
    );
    assert_eq!(
        refused.headers()["content-type"],
        "application/problem+json"
    );
    // The 429 is still a response of its version, with that version's headers.
    assert_eq!(refused.headers()["api-version"], "2");
    let problem: serde_json::Value = refused.json().await.unwrap();
    assert_eq!(problem["status"], 429);
    let refused_v1 = client
        .get(format!("{base}/v1/projects"))
        .bearer_auth(&flooder_token)
        .send()
        .await
        .unwrap();
    assert_eq!(refused_v1.status(), 429);
    common::assert_deprecated(refused_v1.headers(), "/v2/projects");
    // The admin API is not tenant traffic: never limited.
    for _ in 0..5 {
        let status = client
            .get(format!("{base}/admin/tenants"))
            .bearer_auth(ADMIN)
            .send()
            .await
            .unwrap()
            .status();
        assert_eq!(status, 200);
    }
    // The metrics name tenants: with SAAS_METRICS_TOKEN set they need it.
    for token in [None, Some("wrong")] {
        let mut request = client.get(format!("{base}/metrics"));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 401, "token {token:?}");
        assert_eq!(
            response.headers()["content-type"],
            "application/problem+json"
        );
    }
    let metrics = client
        .get(format!("{base}/metrics"))
        .bearer_auth("scrape-me")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let refused_line = format!(
        "saas_http_requests_total{{tenant=\"{flooder}\",api_version=\"2\",route=\"/v2/projects\",method=\"GET\",status=\"429\"}} 1"
    );
    assert!(metrics.contains(&refused_line), "{metrics}");
}

/// The contract's Operations and Subdomains sections, through the binary: `/metrics` takes
/// `TASKBOARD_METRICS_TOKEN` (and nothing else once it is set), and under
/// `TASKBOARD_BASE_DOMAIN` a subdomain names a tenant without ever authenticating one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_token_and_base_domain_from_the_environment() {
    let db = saas_testkit::TestDb::new().await.unwrap();
    let (_served, base) = serve(
        &db,
        &[
            ("TASKBOARD_METRICS_TOKEN", "metrics-only-token"),
            ("TASKBOARD_BASE_DOMAIN", "taskboard.test"),
        ],
    );
    let client = reqwest::Client::new();
    let (acme, acme_token) = tenant_with_token(&client, &base, "acme").await;
    let _ = tenant_with_token(&client, &base, "globex").await;
    let get = async |path: &str, host: &str, token: Option<&str>| {
        let mut request = client.get(format!("{base}{path}")).header("host", host);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        (status, response.text().await.unwrap())
    };
    let (status, _) = get("/v2/projects", "acme.taskboard.test", Some(&acme_token)).await;
    assert_eq!(status, 200);
    for (host, token) in [
        ("globex.taskboard.test", None),
        ("acme.taskboard.test", None),
        ("globex.taskboard.test", Some(acme_token.as_str())),
        ("ghost.taskboard.test", Some(acme_token.as_str())),
    ] {
        let (status, body) = get("/v2/projects", host, token).await;
        assert_eq!(status, 401, "{host} with {token:?}: {body}");
    }
    let (status, _) = get("/v2/projects", "api.elsewhere.test", Some(&acme_token)).await;
    assert_eq!(
        status, 200,
        "a host outside the base domain leaves the token to decide"
    );
    for token in [None, Some(ADMIN), Some(acme_token.as_str())] {
        let (status, body) = get("/metrics", "127.0.0.1", token).await;
        assert_eq!(status, 401, "/metrics with {token:?}");
        assert!(!body.contains(&acme), "the 401 names a tenant: {body}");
    }
    let (status, body) = get("/metrics", "127.0.0.1", Some("metrics-only-token")).await;
    assert_eq!(status, 200);
    assert!(body.contains(&acme));
}

#[test]
fn a_short_jwt_secret_stops_serve_with_a_clear_message() {
    let stderr = serve_refusing(&[("TASKBOARD_JWT_SECRET", "too-short")]);
    assert!(stderr.contains("at least 32"), "{stderr}");
}

#[test]
fn an_invalid_rate_limit_specification_stops_serve_with_a_clear_message() {
    let stderr = serve_refusing(&[("SAAS_RATE_LIMITS", "default=100/fortnight")]);
    assert!(stderr.contains("SAAS_RATE_LIMITS"), "{stderr}");
    assert!(stderr.contains("fortnight"), "{stderr}");
}

/// With `TASKBOARD_REDIS_URL`, instances of the taskboard draw from one budget per tenant:
/// requests spread over two instances are limited as if one served them all.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instances_sharing_redis_share_each_tenants_budget() {
    let redis = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let db = saas_testkit::TestDb::new().await.unwrap();
    let vars = [
        ("SAAS_RATE_LIMITS", "default=4/m"),
        ("TASKBOARD_REDIS_URL", redis.as_str()),
    ];
    let (_first, first_base) = serve(&db, &vars);
    let (_second, second_base) = serve(&db, &vars);
    let client = reqwest::Client::new();
    let (_, token) = tenant_with_token(&client, &first_base, "shared-budget").await;
    let mut statuses = Vec::new();
    for i in 0..6 {
        let base = if i % 2 == 0 {
            &first_base
        } else {
            &second_base
        };
        let response = client
            .get(format!("{base}/v2/projects"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        statuses.push(response.status().as_u16());
    }
    assert_eq!(statuses, [200, 200, 200, 200, 429, 429]);
}
