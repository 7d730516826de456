//! Server binaries, clusters of our own, Debian's clusters and apt-get.

use std::io::IsTerminal;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::{DevDbError, answers, log, private_url};

/// The directory of the newest installed PostgreSQL's server binaries (`initdb`, `pg_ctl`):
/// `/usr/lib/postgresql/<version>/bin` (Debian and Ubuntu), else the first on `PATH`.
pub fn find_binaries() -> Option<PathBuf> {
    let mut dirs: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .filter_map(|e| {
            let entry = e.ok()?;
            let version = entry.file_name().to_str()?.parse().unwrap_or(0);
            Some((version, entry.path().join("bin")))
        })
        .filter(|(_, p)| has_server(p))
        .collect();
    dirs.sort();
    dirs.pop()
        .map(|(_, dir)| dir)
        .or_else(|| path_dirs().find(|p| has_server(p)))
}

fn has_server(dir: &Path) -> bool {
    dir.join("initdb").exists() && dir.join("pg_ctl").exists()
}

/// The binaries for the data directory `dir`: those of its major version (`PG_VERSION`) when
/// installed, so a cluster made by an older PostgreSQL still starts after an upgrade.
fn binaries_for(dir: &Path) -> Option<PathBuf> {
    std::fs::read_to_string(dir.join("PG_VERSION"))
        .ok()
        .map(|v| PathBuf::from(format!("/usr/lib/postgresql/{}/bin", v.trim())))
        .filter(|p| has_server(p))
        .or_else(find_binaries)
}

fn path_dirs() -> impl Iterator<Item = PathBuf> {
    std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
}

/// The program `name` on `PATH` (`command -v`).
pub(crate) fn on_path(name: &str) -> Option<PathBuf> {
    path_dirs().map(|d| d.join(name)).find(|p| p.is_file())
}

/// Whether this process runs as root (PostgreSQL refuses to; its binaries then run as the
/// `postgres` user).
pub(crate) fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            let uids = status.lines().find_map(|l| l.strip_prefix("Uid:"))?;
            Some(uids.split_whitespace().nth(1)? == "0") // the effective uid
        })
        .unwrap_or_else(|| {
            Command::new("id")
                .arg("-u")
                .output()
                .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        })
}

/// A PostgreSQL binary, run as the `postgres` user when this process is root.
fn pg_command(bin: &Path, tool: &str) -> Command {
    if is_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(bin.join(tool));
        c
    } else {
        Command::new(bin.join(tool))
    }
}

/// Runs `command`, its output kept for the error.
fn run(mut command: Command) -> Result<(), DevDbError> {
    let output = command
        .stdin(Stdio::null())
        .output()
        .map_err(|e| DevDbError::Start(format!("{:?}: {e}", command.get_program())))?;
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

/// Runs `command` with its output on our stderr (stdout stays for the URL).
fn run_to_stderr(mut command: Command) -> std::io::Result<std::process::ExitStatus> {
    let stderr = std::io::stderr().as_fd().try_clone_to_owned()?;
    command.stdout(Stdio::from(stderr)).status()
}

/// Makes `dir` and hands it to the `postgres` user when root, then runs `initdb` unless it
/// holds a cluster already.
fn init(bin: &Path, dir: &Path) -> Result<(), DevDbError> {
    std::fs::create_dir_all(dir)
        .map_err(|e| DevDbError::Start(format!("{}: {e}", dir.display())))?;
    if is_root() {
        let mut chown = Command::new("chown");
        chown.arg("postgres:").arg(dir);
        run(chown)?;
    }
    if !dir.join("PG_VERSION").exists() {
        log(&format!(
            "creating a private test cluster in {}",
            dir.display()
        ));
        let mut initdb = pg_command(bin, "initdb");
        initdb
            .arg("-D")
            .arg(dir)
            .args(["-A", "trust", "-U", "postgres", "--no-sync"]);
        run(initdb)?;
    }
    Ok(())
}

/// `pg_ctl start` for `dir` on `port`: 127.0.0.1 only, socket in /tmp, fsync off (made for
/// tests, never for data you want to keep), 300 connections.
fn pg_ctl_start(bin: &Path, dir: &Path, port: u16) -> Result<(), DevDbError> {
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
    run(start)
}

fn check_answers(url: &str, dir: &Path) -> Result<String, DevDbError> {
    if answers(url) {
        Ok(url.to_string())
    } else {
        Err(DevDbError::Start(format!(
            "the cluster started but does not answer; see {}",
            dir.join("server.log").display()
        )))
    }
}

/// The finder's private cluster: `dir` on `port`, made and started unless it answers already,
/// and left running (the next run, test binary or script reuses it). Serialised by a lock on
/// `<dir>.lock`, so that parallel test binaries do not both run `initdb`.
pub(crate) fn start_private(dir: &Path, port: u16) -> Result<String, DevDbError> {
    let url = private_url(port);
    let mut lock_path = dir.as_os_str().to_owned();
    lock_path.push(".lock");
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&lock_path)
        .or_else(|_| std::fs::File::open(&lock_path));
    if let Ok(file) = &lock {
        let _ = file.lock();
    }
    if answers(&url) {
        return Ok(url); // another process started it while we waited
    }
    let bin = binaries_for(dir).ok_or(DevDbError::NoBinaries)?;
    init(&bin, dir)?;
    log(&format!(
        "starting the private test cluster on 127.0.0.1:{port}"
    ));
    pg_ctl_start(&bin, dir, port)?;
    check_answers(&url, dir)
}

/// Starts (or reuses) a throwaway cluster in `dir` on `port` and returns its URL. It is
/// stopped, and `dir` removed, when process `owner_pid` exits.
pub async fn start_cluster(dir: &Path, port: u16, owner_pid: u32) -> Result<String, DevDbError> {
    start_cluster_with(dir, port, owner_pid, true).await
}

/// Like [`start_cluster`]; `remove_on_exit: false` keeps the data directory.
pub async fn start_cluster_with(
    dir: &Path,
    port: u16,
    owner_pid: u32,
    remove_on_exit: bool,
) -> Result<String, DevDbError> {
    let url = private_url(port);
    if answers(&url) {
        return Ok(url);
    }
    let bin = binaries_for(dir).ok_or(DevDbError::NoBinaries)?;
    init(&bin, dir)?;
    pg_ctl_start(&bin, dir, port)?;
    spawn_watchdog(&bin, dir, owner_pid, remove_on_exit);
    check_answers(&url, dir)
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
    let url = private_url(port);
    let bin = find_binaries().ok_or(DevDbError::NoBinaries)?;
    if !dir.join("PG_VERSION").exists() {
        let parent = dir.parent().unwrap_or(Path::new("/tmp"));
        std::fs::create_dir_all(parent).map_err(|e| DevDbError::Start(e.to_string()))?;
        let mut backup = pg_command(&bin, "pg_basebackup");
        backup
            .args(["-h", "127.0.0.1", "-p", &primary_port.to_string()])
            .args(["-U", "postgres", "-D"])
            .arg(dir)
            .args(["-R", "-X", "stream", "--no-sync", "-c", "fast"]);
        run(backup)?;
    }
    pg_ctl_start(&bin, dir, port)?;
    spawn_watchdog(&bin, dir, owner_pid, true);
    check_answers(&url, dir)
}

/// A `sh` loop that stops the cluster of `dir` (and removes `dir` if asked) once process
/// `owner_pid` is gone.
fn spawn_watchdog(bin: &Path, dir: &Path, owner_pid: u32, remove_on_exit: bool) {
    let pg_ctl = bin.join("pg_ctl");
    let as_postgres = if is_root() {
        "runuser -u postgres -- "
    } else {
        ""
    };
    let stop = format!(
        "{as_postgres}'{}' -D '{}' -m fast stop",
        pg_ctl.display(),
        dir.display()
    );
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
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn();
}

/// Stops the cluster of `dir` (fast shutdown), started by [`start_cluster`],
/// [`start_replica`] or the finder.
pub fn stop_cluster(dir: &Path) -> Result<(), DevDbError> {
    let bin = binaries_for(dir).ok_or(DevDbError::NoBinaries)?;
    let mut stop = pg_command(&bin, "pg_ctl");
    stop.arg("-D")
        .arg(dir)
        .args(["-w", "-t", "60", "-m", "fast", "stop"]);
    run(stop)
}

/// Restarts a cluster started by [`start_cluster`] (fast shutdown: open connections are cut,
/// as in a crash of the server process). Used by fault tests.
pub fn restart_cluster(dir: &Path) -> Result<(), DevDbError> {
    let bin = binaries_for(dir).ok_or(DevDbError::NoBinaries)?;
    let mut restart = pg_command(&bin, "pg_ctl");
    restart
        .arg("-D")
        .arg(dir)
        .arg("-l")
        .arg(dir.join("server.log"))
        .args(["-w", "-t", "60", "-m", "fast", "restart"]);
    run(restart)
}

/// The clusters `pg_lsclusters -h` lists as down on `port`: (version, name).
pub(crate) fn down_clusters(listing: &str, port: u16) -> Vec<(String, String)> {
    listing
        .lines()
        .filter_map(|line| {
            let mut cols = line.split_whitespace();
            let (version, name) = (cols.next()?, cols.next()?);
            let (p, status) = (cols.next()?, cols.next()?);
            (p.parse() == Ok(port) && status.starts_with("down"))
                .then(|| (version.to_string(), name.to_string()))
        })
        .collect()
}

/// Starts Debian's clusters on 5432 that are installed but down (`pg_ctlcluster`, which needs
/// root). Returns whether it could look (root, and `pg_lsclusters` installed).
pub(crate) fn start_down_clusters() -> bool {
    if !is_root() {
        return false;
    }
    let Some(lsclusters) = on_path("pg_lsclusters") else {
        return false;
    };
    let listing = Command::new(lsclusters)
        .arg("-h")
        .stderr(Stdio::null())
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    for (version, name) in down_clusters(&listing, 5432) {
        log(&format!("starting cluster {version}/{name}"));
        let mut start = Command::new("pg_ctlcluster");
        start.args(["--skip-systemctl-redirect", &version, &name, "start"]);
        let _ = run_to_stderr(start);
    }
    true
}

/// Whether PostgreSQL must be installed: no server binaries, or no `psql` on `PATH` (the
/// scripts use it).
pub(crate) fn needs_install() -> bool {
    find_binaries().is_none() || on_path("psql").is_none()
}

/// The packages apt-get installs.
pub const PACKAGES: [&str; 2] = ["postgresql", "postgresql-contrib"];

/// Installs PostgreSQL with apt-get: as root; else with `sudo` when it needs no password, or
/// asks for one on a terminal. Otherwise [`DevDbError::NoBinaries`] says what to run.
pub fn install_postgres() -> Result<(), DevDbError> {
    let sudo: &[&str] = if is_root() {
        log("installing PostgreSQL with apt-get");
        &[]
    } else if on_path("sudo").is_none() {
        return Err(DevDbError::NoBinaries);
    } else if Command::new("sudo")
        .args(["-n", "true"])
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
    {
        log("installing PostgreSQL with sudo apt-get");
        &["sudo", "-n"]
    } else if std::io::stdin().is_terminal() {
        log("installing PostgreSQL with sudo apt-get (sudo may ask for your password)");
        &["sudo"]
    } else {
        return Err(DevDbError::NoBinaries);
    };
    let apt = |args: &[&str]| {
        let mut c = Command::new(sudo.first().copied().unwrap_or("apt-get"));
        if !sudo.is_empty() {
            c.args(&sudo[1..])
                .args(["DEBIAN_FRONTEND=noninteractive", "apt-get"]);
        }
        c.env("DEBIAN_FRONTEND", "noninteractive").args(args);
        match run_to_stderr(c) {
            Ok(status) if status.success() => Ok(()),
            Ok(status) => Err(DevDbError::Install(format!(
                "apt-get {} failed ({status})",
                args.join(" ")
            ))),
            Err(e) => Err(DevDbError::Install(e.to_string())),
        }
    };
    apt(&["update", "-qq"])?;
    apt(&[&["install", "-y", "-qq"][..], &PACKAGES[..]].concat())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_down_clusters_on_the_port_are_started() {
        let listing = "\
15 main 5432 down postgres /var/lib/postgresql/15/main /var/log/postgresql/postgresql-15-main.log
16 main 5433 down postgres /var/lib/postgresql/16/main /var/log/postgresql/postgresql-16-main.log
14 old  5432 online postgres /var/lib/postgresql/14/old /var/log/postgresql/postgresql-14-old.log
13 rec  5432 down,recovery postgres /var/lib/postgresql/13/rec log
garbage
";
        assert_eq!(
            down_clusters(listing, 5432),
            vec![
                ("15".to_string(), "main".to_string()),
                ("13".to_string(), "rec".to_string())
            ]
        );
        assert_eq!(down_clusters(listing, 5433).len(), 1);
        assert!(down_clusters("", 5432).is_empty());
    }

    #[test]
    fn the_installed_binaries_are_found() {
        // Wherever this runs there is a server (the tests need one); its binaries are found,
        // and a data directory's own version wins.
        if let Some(bin) = find_binaries() {
            assert!(bin.join("initdb").exists() && bin.join("pg_ctl").exists());
        }
        let empty = std::env::temp_dir().join(format!("saas-devdb-nover-{}", std::process::id()));
        assert_eq!(binaries_for(&empty), find_binaries());
    }
}
