//! A PostgreSQL for development and tests, found or started without manual set-up.
//!
//! [`ensure_server`] answers, in order: the URL in `SAAS_TEST_DATABASE_URL` or `DATABASE_URL`;
//! the local server on `127.0.0.1:5432` as `postgres` (trust auth); else a throwaway cluster
//! started from the installed PostgreSQL binaries (`initdb` in a temporary directory, fsync
//! off, trust on 127.0.0.1 only), run as the `postgres` user when this process is root, and
//! stopped by a watchdog when this process exits. No binaries: an error naming the package.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use sqlx::{Connection, PgConnection};

/// Why no server could be had.
#[derive(Debug, thiserror::Error)]
pub enum DevDbError {
    /// PostgreSQL's server binaries are not installed.
    #[error(
        "no PostgreSQL server binaries found (looked in /usr/lib/postgresql/*/bin and PATH); \
         install them with `sudo apt-get install -y postgresql`, or set DATABASE_URL"
    )]
    NoBinaries,
    /// Starting the throwaway cluster failed.
    #[error("starting a throwaway PostgreSQL cluster failed: {0}")]
    Start(String),
}

/// The default URL of a local development server.
pub const LOCAL_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

async fn answers(url: &str) -> bool {
    let attempt = tokio::time::timeout(Duration::from_secs(3), PgConnection::connect(url)).await;
    match attempt {
        Ok(Ok(conn)) => {
            let _ = conn.close().await;
            true
        }
        _ => false,
    }
}

/// The directory of the newest installed PostgreSQL's binaries.
pub fn find_binaries() -> Option<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
        .filter(|p| p.join("initdb").exists() && p.join("pg_ctl").exists())
        .collect();
    dirs.sort_by_key(|p| {
        p.parent()
            .and_then(|v| v.file_name())
            .and_then(|v| v.to_str())
            .and_then(|v| v.parse::<u32>().ok())
            .unwrap_or(0)
    });
    dirs.pop().or_else(|| {
        std::env::var_os("PATH").and_then(|paths| {
            std::env::split_paths(&paths)
                .find(|p| p.join("initdb").exists() && p.join("pg_ctl").exists())
        })
    })
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .ok()
        .is_some_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// Runs a PostgreSQL binary, as the `postgres` user when this process is root.
fn pg_command(bin: &Path, tool: &str) -> Command {
    if is_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(bin.join(tool));
        c
    } else {
        Command::new(bin.join(tool))
    }
}

fn run(mut command: Command) -> Result<(), DevDbError> {
    let output = command
        .output()
        .map_err(|e| DevDbError::Start(e.to_string()))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(DevDbError::Start(format!(
            "{:?}: {}{}",
            command.get_program(),
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )))
    }
}

/// Starts (or reuses) a throwaway cluster in `dir` on `port` and returns its URL. It is
/// stopped, and `dir` removed, when process `owner_pid` exits.
pub async fn start_cluster(dir: &Path, port: u16, owner_pid: u32) -> Result<String, DevDbError> {
    start_cluster_with(dir, port, owner_pid, true).await
}

/// Like [`start_cluster`]; `remove_on_exit: false` keeps the data directory (an app's
/// development database survives restarts).
pub async fn start_cluster_with(
    dir: &Path,
    port: u16,
    owner_pid: u32,
    remove_on_exit: bool,
) -> Result<String, DevDbError> {
    let url = format!("postgres://postgres@127.0.0.1:{port}/postgres");
    if answers(&url).await {
        return Ok(url);
    }
    let bin = find_binaries().ok_or(DevDbError::NoBinaries)?;
    std::fs::create_dir_all(dir).map_err(|e| DevDbError::Start(e.to_string()))?;
    if is_root() {
        run({
            let mut c = Command::new("chown");
            c.arg("postgres:").arg(dir);
            c
        })?;
    }
    if !dir.join("PG_VERSION").exists() {
        let mut initdb = pg_command(&bin, "initdb");
        initdb
            .arg("-D")
            .arg(dir)
            .args(["-A", "trust", "-U", "postgres", "--no-sync"]);
        run(initdb)?;
    }
    launch(&bin, dir, port, owner_pid, remove_on_exit, &url).await
}

/// Starts a streaming replica of the throwaway cluster listening on `primary_port`: a base
/// backup into `dir` (`pg_basebackup -R`, so it follows the primary), served on `port`.
/// Stopped, and `dir` removed, when process `owner_pid` exits. Returns its URL.
pub async fn start_replica(
    primary_port: u16,
    dir: &Path,
    port: u16,
    owner_pid: u32,
) -> Result<String, DevDbError> {
    let url = format!("postgres://postgres@127.0.0.1:{port}/postgres");
    let bin = find_binaries().ok_or(DevDbError::NoBinaries)?;
    if !dir.join("PG_VERSION").exists() {
        let parent = dir.parent().unwrap_or(Path::new("/tmp"));
        std::fs::create_dir_all(parent).map_err(|e| DevDbError::Start(e.to_string()))?;
        let mut backup = pg_command(&bin, "pg_basebackup");
        backup
            .args([
                "-h",
                "127.0.0.1",
                "-p",
                &primary_port.to_string(),
                "-U",
                "postgres",
            ])
            .arg("-D")
            .arg(dir)
            .args(["-R", "-X", "stream", "--no-sync", "-c", "fast"]);
        run(backup)?;
    }
    launch(&bin, dir, port, owner_pid, true, &url).await
}

/// Starts the server of `dir` on `port` (fsync off, 127.0.0.1 only) with a watchdog that
/// stops it when `owner_pid` exits.
async fn launch(
    bin: &Path,
    dir: &Path,
    port: u16,
    owner_pid: u32,
    remove_on_exit: bool,
    url: &str,
) -> Result<String, DevDbError> {
    let options = format!(
        "-p {port} -k /tmp -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off \
         -c full_page_writes=off -c max_connections=300"
    );
    let mut start = pg_command(bin, "pg_ctl");
    start
        .arg("-D")
        .arg(dir)
        .arg("-l")
        .arg(dir.join("server.log"))
        .args(["-w", "-t", "60", "start", "-o", &options]);
    run(start)?;
    // The watchdog: stop the cluster once the owning process is gone.
    let pg_ctl = bin.join("pg_ctl");
    let stop = if is_root() {
        format!(
            "runuser -u postgres -- {} -D {} -m fast stop",
            pg_ctl.display(),
            dir.display()
        )
    } else {
        format!("{} -D {} -m fast stop", pg_ctl.display(), dir.display())
    };
    let cleanup = if remove_on_exit {
        format!("; rm -rf '{}'", dir.display())
    } else {
        String::new()
    };
    let script = format!(
        "while kill -0 {owner_pid} 2>/dev/null; do sleep 1; done; {stop} >/dev/null 2>&1{cleanup}"
    );
    let _ = Command::new("sh")
        .arg("-c")
        .arg(script)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn();
    if answers(url).await {
        Ok(url.to_string())
    } else {
        Err(DevDbError::Start(format!(
            "the cluster started but does not answer; see {}",
            dir.join("server.log").display()
        )))
    }
}

/// Stops a cluster started by [`start_cluster`] or [`start_replica`] (fast shutdown). Used by
/// fault tests.
pub fn stop_cluster(dir: &Path) -> Result<(), DevDbError> {
    let bin = find_binaries().ok_or(DevDbError::NoBinaries)?;
    let mut stop = pg_command(&bin, "pg_ctl");
    stop.arg("-D")
        .arg(dir)
        .args(["-w", "-t", "60", "-m", "fast", "stop"]);
    run(stop)
}

/// Restarts a cluster started by [`start_cluster`] (fast shutdown: open connections are cut,
/// as in a crash of the server process). Used by fault tests.
pub fn restart_cluster(dir: &Path) -> Result<(), DevDbError> {
    let bin = find_binaries().ok_or(DevDbError::NoBinaries)?;
    let mut restart = pg_command(&bin, "pg_ctl");
    restart
        .arg("-D")
        .arg(dir)
        .arg("-l")
        .arg(dir.join("server.log"))
        .args(["-w", "-t", "60", "-m", "fast", "restart"]);
    run(restart)
}

/// Finds or starts a server; see the module documentation for the order.
pub async fn ensure_server() -> Result<String, DevDbError> {
    for var in ["SAAS_TEST_DATABASE_URL", "DATABASE_URL"] {
        if let Ok(url) = std::env::var(var)
            && !url.is_empty()
        {
            return Ok(url);
        }
    }
    if answers(LOCAL_URL).await {
        return Ok(LOCAL_URL.to_string());
    }
    // One cluster per run: test binaries of one `cargo test` (or nextest) share their parent.
    let owner = parent_pid().unwrap_or_else(std::process::id);
    let dir = std::env::temp_dir().join(format!("saas-devdb-{owner}"));
    let port = 20_000 + (owner % 20_000) as u16;
    start_cluster(&dir, port, owner).await
}

/// This process's parent (from /proc), the runner whose lifetime is "one test run".
fn parent_pid() -> Option<u32> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // pid (comm) state ppid ...; comm may contain spaces, so split after the last ')'.
    let rest = stat.rsplit_once(')')?.1;
    rest.split_whitespace().nth(1)?.parse().ok()
}

/// Installs PostgreSQL with apt-get when this process may (root, or password-less sudo);
/// otherwise says which command to run.
pub fn install_postgres() -> Result<(), DevDbError> {
    let apt = |prefix: &[&str]| {
        let mut update = Command::new(prefix.first().copied().unwrap_or("apt-get"));
        update.args(&prefix[1..]).args(["update", "-qq"]);
        let mut install = Command::new(prefix.first().copied().unwrap_or("apt-get"));
        install
            .args(&prefix[1..])
            .args(["install", "-y", "-qq", "postgresql"])
            .env("DEBIAN_FRONTEND", "noninteractive");
        run(update).and_then(|()| run(install))
    };
    if is_root() {
        apt(&["apt-get"])
    } else if Command::new("sudo")
        .args(["-n", "true"])
        .status()
        .is_ok_and(|s| s.success())
    {
        apt(&["sudo", "-n", "apt-get"])
    } else {
        Err(DevDbError::NoBinaries)
    }
}

/// The development database of an application when `DATABASE_URL` is unset: the local
/// server if it answers, else a cluster of the app's own in `~/.local/share/saas/<app>/pg`
/// (kept across runs, stopped when the app exits), installing PostgreSQL first when needed.
/// Creates the database `<app>` and returns its URL.
pub async fn app_database(app: &str) -> Result<String, DevDbError> {
    let server = if answers(LOCAL_URL).await {
        LOCAL_URL.to_string()
    } else {
        if find_binaries().is_none() {
            eprintln!("PostgreSQL is not installed; installing it with apt-get ...");
            install_postgres()?;
        }
        let base = std::env::var_os("HOME")
            .map(PathBuf::from)
            .unwrap_or_else(std::env::temp_dir)
            .join(".local/share/saas")
            .join(app)
            .join("pg");
        start_cluster_with(&base, 55_433, std::process::id(), false).await?
    };
    let database: String = app
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect();
    let mut conn = PgConnection::connect(&server)
        .await
        .map_err(|e| DevDbError::Start(e.to_string()))?;
    let exists: Option<i32> = sqlx::query_scalar("SELECT 1 FROM pg_database WHERE datname = $1")
        .bind(&database)
        .fetch_optional(&mut conn)
        .await
        .map_err(|e| DevDbError::Start(e.to_string()))?;
    if exists.is_none() {
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
            "CREATE DATABASE \"{database}\""
        )))
        .execute(&mut conn)
        .await
        .map_err(|e| DevDbError::Start(e.to_string()))?;
    }
    conn.close().await.ok();
    let mut url = server;
    if let Some(slash) = url.rfind('/') {
        url.truncate(slash + 1);
        url.push_str(&database);
    }
    Ok(url)
}
