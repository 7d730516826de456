//! The `ensure-postgres` binary against this machine: the URL it prints answers `select 1`,
//! an answering DATABASE_URL is printed as is, and (with the server on 5432 skipped) the
//! private cluster is made, started on its port, reused, and stopped again by the test.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn ensure_postgres(env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_ensure-postgres"));
    for var in [
        "DATABASE_URL",
        "SAAS_TEST_DATABASE_URL",
        "SAAS_PG_SKIP_LOCAL",
        "SAAS_PG_DIR",
        "SAAS_PG_PORT",
    ] {
        command.env_remove(var);
    }
    command.envs(env.iter().copied());
    let output = command.output().expect("running ensure-postgres");
    assert!(
        output.status.success(),
        "ensure-postgres failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

fn url_of(output: &Output) -> String {
    let stdout = String::from_utf8(output.stdout.clone()).unwrap();
    assert_eq!(
        stdout.lines().count(),
        1,
        "stdout is the URL only: {stdout:?}"
    );
    stdout.trim().to_string()
}

/// `psql URL -Atqc QUERY`: an independent client's answer.
fn psql(url: &str, query: &str) -> String {
    let psql = saas_devdb::find_binaries()
        .map(|dir| dir.join("psql"))
        .filter(|p| p.exists())
        .unwrap_or_else(|| PathBuf::from("psql"));
    let out = Command::new(psql)
        .args([url, "-Atqc", query])
        .output()
        .expect("psql");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

#[test]
fn the_printed_url_answers_select_1() {
    let url = url_of(&ensure_postgres(&[]));
    assert!(url.starts_with("postgres://postgres@127.0.0.1:"), "{url}");
    assert_eq!(psql(&url, "select 1"), "1");
    assert!(saas_devdb::answers(&url));
}

#[test]
fn an_answering_database_url_is_printed_unchanged_and_a_dead_one_skipped() {
    let server = url_of(&ensure_postgres(&[]));
    let (base, _) = server.rsplit_once('/').unwrap();
    let other = format!("{base}/template1").replace("127.0.0.1", "localhost");
    assert_eq!(url_of(&ensure_postgres(&[("DATABASE_URL", &other)])), other);
    let dead = ensure_postgres(&[("DATABASE_URL", "postgres://postgres@127.0.0.1:1/x")]);
    assert_eq!(url_of(&dead), server);
    let stderr = String::from_utf8_lossy(&dead.stderr);
    assert!(stderr.contains("DATABASE_URL"), "{stderr}");
}

/// Stops the cluster and removes its directory, however the test ends.
struct Cluster(PathBuf);

impl Drop for Cluster {
    fn drop(&mut self) {
        if self.0.join("postmaster.pid").exists() {
            saas_devdb::stop_cluster(&self.0).ok();
        }
        std::fs::remove_dir_all(&self.0).ok();
        std::fs::remove_file(lock_of(&self.0)).ok();
    }
}

fn lock_of(dir: &Path) -> PathBuf {
    PathBuf::from(format!("{}.lock", dir.display()))
}

#[test]
fn the_private_cluster_is_made_started_reused_and_left_on_its_port() {
    assert!(
        saas_devdb::find_binaries().is_some(),
        "PostgreSQL binaries are required (scripts/ensure-postgres.sh installs them)"
    );
    // Under /var/tmp, not a private temporary directory: as root, the cluster runs as the
    // postgres user, who must be able to reach it.
    let dir = PathBuf::from(format!("/var/tmp/saas-devdb-test-{}", std::process::id()));
    let cluster = Cluster(dir.clone());
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
        .to_string();
    let env = [
        ("SAAS_PG_SKIP_LOCAL", "1"),
        ("DATABASE_URL", "postgres://postgres@127.0.0.1:1/nowhere"),
        ("SAAS_PG_DIR", dir.to_str().unwrap()),
        ("SAAS_PG_PORT", port.as_str()),
    ];
    let first = ensure_postgres(&env);
    let url = url_of(&first);
    assert_eq!(url, saas_devdb::private_url(port.parse().unwrap()));
    let stderr = String::from_utf8_lossy(&first.stderr);
    assert!(
        stderr.contains("creating a private test cluster"),
        "{stderr}"
    );
    assert!(dir.join("PG_VERSION").exists());
    assert_eq!(psql(&url, "select 1"), "1");
    assert_eq!(psql(&url, "show fsync"), "off");
    assert_eq!(psql(&url, "show listen_addresses"), "127.0.0.1");

    // Left running: the next run finds it without starting anything.
    let second = ensure_postgres(&env);
    assert_eq!(url_of(&second), url);
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert!(!stderr.contains("starting"), "{stderr}");

    // Stopped, it is started again from the same directory (no second initdb).
    saas_devdb::stop_cluster(&dir).unwrap();
    assert!(!saas_devdb::answers(&url));
    let third = ensure_postgres(&env);
    assert_eq!(url_of(&third), url);
    let stderr = String::from_utf8_lossy(&third.stderr);
    assert!(!stderr.contains("creating"), "{stderr}");
    assert!(
        stderr.contains("starting the private test cluster"),
        "{stderr}"
    );
    drop(cluster);
    assert!(!saas_devdb::answers(&url));
}
