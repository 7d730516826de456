//! Databases ready before a test asks for one.
//!
//! A `CREATE DATABASE ... TEMPLATE` copies every block of the template and costs tens of
//! milliseconds on a server with `fsync` on (more while the server is busy). A [`DbPool`]
//! makes those clones ahead of time, on a background thread of its own: up to
//! [`PoolOptions::size`] databases are ready or being made at any time, and each one a test
//! takes is replaced at once. A test's wait for a database is a checkout from a queue, not a
//! clone. Databases are never reused: the one a test drops (after success, failure or panic
//! alike) is handed back to the background thread, which drops it off the test's clock.
//!
//! [`TestDb::new`] and [`TestDb::from_template`] take their databases from process-wide pools
//! (one per server and template), sized from the test threads: `SAAS_TESTKIT_POOL_SIZE`, else
//! `RUST_TEST_THREADS`, else the available parallelism (at least 2).
//! `SAAS_TESTKIT_CLONE_STRATEGY=wal_log` changes how clones are made, and
//! `SAAS_TESTKIT_POOL=off` makes every database on demand as before.
//!
//! What is left when the process exits (databases still ready, drops not yet done) is dropped
//! by a watcher process, the pattern of the reaper (`reap.rs`): a `sh` loop that waits for the test
//! process to end, then drops every database (and per-database role) named with this
//! process's prefix, except the ones a test kept with [`TestDb::keep`].

use std::collections::{HashMap, HashSet};
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use anyhow::Context;
use sqlx::postgres::PgConnectOptions;
use sqlx::{ConnectOptions, Connection, Executor, PgConnection};
use tokio::sync::{OnceCell, mpsc};

use crate::db::TestDb;
use crate::server::with_database;
use crate::template::{TEMPLATE_ROLE, ensure_template, template_hash};

/// The comment [`TestDb::keep`] puts on a database so the exit watcher leaves it alone.
pub(crate) const KEPT_COMMENT: &str = "saas-testkit: kept";

/// How `CREATE DATABASE` copies the template (PostgreSQL 15 and later; older servers have
/// only the file copy and get no `STRATEGY` clause).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CloneStrategy {
    /// `STRATEGY = WAL_LOG`: copies block by block through shared buffers, logging each
    /// block; no checkpoint.
    WalLog,
    /// `STRATEGY = FILE_COPY`: copies the files, with a checkpoint before and after. The
    /// default: in the checkout benchmark (8 threads) it cloned 1.3-2× faster than
    /// `WAL_LOG` on both servers measured, and its tail was far shorter (see the guide's
    /// performance chapter).
    #[default]
    FileCopy,
}

impl CloneStrategy {
    fn clause(self) -> &'static str {
        match self {
            CloneStrategy::WalLog => " STRATEGY = WAL_LOG",
            CloneStrategy::FileCopy => " STRATEGY = FILE_COPY",
        }
    }
}

impl FromStr for CloneStrategy {
    type Err = anyhow::Error;

    fn from_str(s: &str) -> anyhow::Result<CloneStrategy> {
        match s.to_ascii_lowercase().as_str() {
            "wal_log" | "wal-log" | "wallog" => Ok(CloneStrategy::WalLog),
            "file_copy" | "file-copy" | "filecopy" => Ok(CloneStrategy::FileCopy),
            other => anyhow::bail!("unknown clone strategy {other:?} (wal_log or file_copy)"),
        }
    }
}

/// How many databases a [`DbPool`] keeps ready, and how it makes them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolOptions {
    /// Databases ready or being made at any time (at least 1).
    pub size: usize,
    /// Clones made at the same time (at least 1, at most `size`).
    pub creators: usize,
    /// How the template is copied.
    pub strategy: CloneStrategy,
}

impl Default for PoolOptions {
    fn default() -> Self {
        PoolOptions {
            size: 2,
            creators: 2,
            strategy: CloneStrategy::default(),
        }
    }
}

impl PoolOptions {
    /// The options of the process-wide pools: `size` from `SAAS_TESTKIT_POOL_SIZE`, else
    /// `RUST_TEST_THREADS`, else the available parallelism (at least 2); two creators;
    /// the strategy from `SAAS_TESTKIT_CLONE_STRATEGY` (default `FILE_COPY`).
    pub fn from_env() -> PoolOptions {
        let number = |var: &str| {
            std::env::var(var)
                .ok()
                .and_then(|v| v.trim().parse::<usize>().ok())
                .filter(|n| *n > 0)
        };
        let size = number("SAAS_TESTKIT_POOL_SIZE")
            .or_else(|| number("RUST_TEST_THREADS"))
            .or_else(|| std::thread::available_parallelism().ok().map(|n| n.get()))
            .unwrap_or(2)
            .max(2);
        let strategy = std::env::var("SAAS_TESTKIT_CLONE_STRATEGY")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_default();
        PoolOptions {
            size,
            creators: 2,
            strategy,
        }
    }

    /// With `size` databases ready or being made.
    pub fn size(mut self, size: usize) -> Self {
        self.size = size;
        self
    }

    /// With `creators` clones made at the same time.
    pub fn creators(mut self, creators: usize) -> Self {
        self.creators = creators;
        self
    }

    /// With this clone strategy.
    pub fn strategy(mut self, strategy: CloneStrategy) -> Self {
        self.strategy = strategy;
        self
    }
}

/// Whether the process-wide pools are used (`SAAS_TESTKIT_POOL=off` turns them off).
pub(crate) fn enabled() -> bool {
    // Citus databases cannot be cloned from a template (see `crate::citus`).
    !crate::citus::enabled()
        && !matches!(
            std::env::var("SAAS_TESTKIT_POOL").as_deref(),
            Ok("off" | "0" | "false" | "no")
        )
}

/// What a pool did so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PoolStats {
    /// Databases cloned.
    pub created: u64,
    /// Databases handed to tests.
    pub checked_out: u64,
    /// Databases dropped after their test.
    pub recycled: u64,
    /// Total time spent cloning (server time, off the tests' clock).
    pub clone_time: Duration,
}

#[derive(Debug, Default)]
struct Counters {
    created: AtomicU64,
    checked_out: AtomicU64,
    recycled: AtomicU64,
    clone_micros: AtomicU64,
}

/// A database a test is done with, on its way to the background thread.
#[derive(Debug)]
pub(crate) struct Recycled {
    pub(crate) name: String,
    pub(crate) role: Option<String>,
}

/// Hands databases back to the background thread that drops them.
#[derive(Debug, Clone)]
pub(crate) struct Recycler {
    tx: mpsc::UnboundedSender<Recycled>,
    pending: Arc<AtomicUsize>,
}

impl Recycler {
    /// Queues a database for dropping; gives it back when the background thread is gone.
    pub(crate) fn recycle(&self, item: Recycled) -> Result<(), Recycled> {
        self.pending.fetch_add(1, Ordering::SeqCst);
        self.tx.send(item).map_err(|e| {
            self.pending.fetch_sub(1, Ordering::SeqCst);
            e.0
        })
    }
}

#[derive(Debug)]
struct Inner {
    server: String,
    template: String,
    own_role: bool,
    ready: tokio::sync::Mutex<mpsc::Receiver<Result<String, String>>>,
    handed: Mutex<HashSet<String>>,
    recycler: Recycler,
    counters: Arc<Counters>,
}

impl Drop for Inner {
    /// The databases still ready when the last handle goes are dropped in the background.
    fn drop(&mut self) {
        while let Ok(next) = self.ready.get_mut().try_recv() {
            if let Ok(name) = next {
                let role = self.own_role.then(|| format!("{name}_app"));
                let _ = self.recycler.recycle(Recycled { name, role });
            }
        }
    }
}

/// Databases cloned from one template ahead of time (see the [module documentation](self)).
/// Cheap to clone (a handle).
#[derive(Debug, Clone)]
pub struct DbPool {
    inner: Arc<Inner>,
}

/// Clones under way in this process, of every pool: the recycler lets them go first.
static CLONING: AtomicUsize = AtomicUsize::new(0);

/// The background thread's runtime: tests each run on a runtime of their own that ends with
/// the test, so the pool's work cannot live on any of them.
fn background() -> &'static tokio::runtime::Handle {
    static HANDLE: OnceLock<tokio::runtime::Handle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("building the testkit's pool runtime");
        let handle = runtime.handle().clone();
        std::thread::Builder::new()
            .name("saas-testkit-pool".into())
            .spawn(move || runtime.block_on(std::future::pending::<()>()))
            .expect("starting the testkit's pool thread");
        handle
    })
}

/// The `application_name` of the pool's own connections; the exit watcher waits for them
/// to be gone before it drops what is left.
fn application_name() -> String {
    format!("saas_testkit_pool_{}", std::process::id())
}

async fn admin(server: &str) -> anyhow::Result<PgConnection> {
    let options = PgConnectOptions::from_str(server)
        .with_context(|| format!("test server URL {server}"))?
        .application_name(&application_name());
    options
        .connect()
        .await
        .with_context(|| format!("connecting to the test server {server}"))
}

impl DbPool {
    /// A pool of clones of the template of `migrations` on `server` (building the template
    /// first if no run has yet). Cloning starts at once, in the background.
    pub async fn start(
        server: &str,
        migrations: Option<&sqlx::migrate::Migrator>,
        options: PoolOptions,
    ) -> anyhow::Result<DbPool> {
        let template = ensure_template(server, migrations).await?;
        Self::start_with(server, &template, false, options).await
    }

    /// A pool of empty databases (copies of `template1`), each with a request role of its
    /// own, as [`TestDb::new`] gives.
    pub async fn start_empty(server: &str, options: PoolOptions) -> anyhow::Result<DbPool> {
        Self::start_with(server, "template1", true, options).await
    }

    async fn start_with(
        server: &str,
        template: &str,
        own_role: bool,
        options: PoolOptions,
    ) -> anyhow::Result<DbPool> {
        let size = options.size.max(1);
        let creators = options.creators.clamp(1, size);
        // Probe the server once: a bad URL fails here rather than in every checkout.
        let mut conn = admin(server).await?;
        let version: i32 = sqlx::query_scalar("SELECT current_setting('server_version_num')::int")
            .fetch_one(&mut conn)
            .await?;
        conn.close().await.ok();
        let clause = if version >= 150_000 {
            options.strategy.clause()
        } else {
            ""
        };
        watch_process_exit(server);
        let (ready_tx, ready_rx) = mpsc::channel(size);
        let (recycle_tx, recycle_rx) = mpsc::unbounded_channel();
        let pending = Arc::new(AtomicUsize::new(0));
        let counters = Arc::new(Counters::default());
        let runtime = background();
        for _ in 0..creators {
            runtime.spawn(create_loop(
                server.to_string(),
                template.to_string(),
                clause,
                ready_tx.clone(),
                counters.clone(),
                pending.clone(),
                (4 * size).max(16),
            ));
        }
        runtime.spawn(recycle_loop(
            server.to_string(),
            recycle_rx,
            pending.clone(),
            counters.clone(),
            size,
        ));
        Ok(DbPool {
            inner: Arc::new(Inner {
                server: server.to_string(),
                template: template.to_string(),
                own_role,
                ready: tokio::sync::Mutex::new(ready_rx),
                handed: Mutex::default(),
                recycler: Recycler {
                    tx: recycle_tx,
                    pending,
                },
                counters,
            }),
        })
    }

    /// A fresh database of this pool's: one made ahead of time when there is one, else the
    /// next to be finished. It is dropped (in the background) when the [`TestDb`] is.
    pub async fn checkout(&self) -> anyhow::Result<TestDb> {
        let next = {
            let mut ready = self.inner.ready.lock().await;
            ready.recv().await
        };
        let name = match next {
            Some(Ok(name)) => name,
            Some(Err(e)) => anyhow::bail!("cloning {}: {e}", self.inner.template),
            None => anyhow::bail!("the testkit's database pool has stopped"),
        };
        // Never twice: names are unique by construction, and this says so loudly if not.
        let fresh = self
            .inner
            .handed
            .lock()
            .map_err(|_| anyhow::anyhow!("testkit pool state poisoned"))?
            .insert(name.clone());
        anyhow::ensure!(fresh, "the pool handed out {name} twice");
        self.inner
            .counters
            .checked_out
            .fetch_add(1, Ordering::Relaxed);
        let url = with_database(&self.inner.server, &name)?;
        let role = if self.inner.own_role {
            format!("{name}_app")
        } else {
            TEMPLATE_ROLE.to_string()
        };
        Ok(TestDb::pooled(
            name,
            url,
            self.inner.server.clone(),
            role,
            self.inner.own_role,
            self.inner.recycler.clone(),
        ))
    }

    /// The template the pool clones.
    pub fn template(&self) -> &str {
        &self.inner.template
    }

    /// What the pool did so far.
    pub fn stats(&self) -> PoolStats {
        let c = &self.inner.counters;
        PoolStats {
            created: c.created.load(Ordering::Relaxed),
            checked_out: c.checked_out.load(Ordering::Relaxed),
            recycled: c.recycled.load(Ordering::Relaxed),
            clone_time: Duration::from_micros(c.clone_micros.load(Ordering::Relaxed)),
        }
    }

    /// Databases tests are done with that are not dropped yet.
    pub fn pending_drops(&self) -> usize {
        self.inner.recycler.pending.load(Ordering::SeqCst)
    }
}

/// One creator: reserves a slot in the ready queue (so ready + being made never exceeds the
/// pool's size), clones, and fills the slot. While more than `backlog` used databases wait to
/// be dropped, it waits for them.
async fn create_loop(
    server: String,
    template: String,
    clause: &'static str,
    ready: mpsc::Sender<Result<String, String>>,
    counters: Arc<Counters>,
    pending: Arc<AtomicUsize>,
    backlog: usize,
) {
    let mut conn: Option<PgConnection> = None;
    loop {
        // Bounded disk: while drops lag far behind, wait for them rather than pile up copies.
        while pending.load(Ordering::SeqCst) > backlog {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let Ok(slot) = ready.reserve().await else {
            return;
        };
        let name = crate::db::unique_name("saas_test");
        CLONING.fetch_add(1, Ordering::SeqCst);
        let start = Instant::now();
        let result = async {
            if conn.is_none() {
                conn = Some(admin(&server).await?);
            }
            let Some(c) = conn.as_mut() else {
                anyhow::bail!("no connection");
            };
            c.execute(sqlx::AssertSqlSafe(format!(
                "CREATE DATABASE {} TEMPLATE {}{clause}",
                saas_core::sql::quote_ident(&name),
                saas_core::sql::quote_ident(&template),
            )))
            .await
            .context("cloning the template")?;
            Ok::<(), anyhow::Error>(())
        }
        .await;
        CLONING.fetch_sub(1, Ordering::SeqCst);
        match result {
            Ok(()) => {
                counters.created.fetch_add(1, Ordering::Relaxed);
                counters.clone_micros.fetch_add(
                    u64::try_from(start.elapsed().as_micros()).unwrap_or(u64::MAX),
                    Ordering::Relaxed,
                );
                slot.send(Ok(name));
            }
            Err(e) => {
                conn = None;
                slot.send(Err(format!("{e:#}")));
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    }
}

/// Drops the databases tests are done with, several at a time: a `DROP DATABASE` requests a
/// checkpoint and waits for it, and concurrent requests share one, so drops in parallel cost
/// little more than one. Clones go first: a drop waits while a clone is being made (the
/// checkpoint would flush, and slow, the clone under way), for at most a quarter of a second
/// and only while fewer than `size` drops are queued.
async fn recycle_loop(
    server: String,
    mut rx: mpsc::UnboundedReceiver<Recycled>,
    pending: Arc<AtomicUsize>,
    counters: Arc<Counters>,
    size: usize,
) {
    let options = match PgConnectOptions::from_str(&server) {
        Ok(options) => options.application_name(&application_name()),
        Err(_) => return,
    };
    let conns = sqlx::postgres::PgPoolOptions::new()
        .max_connections(DROPPERS as u32)
        .min_connections(0)
        .connect_lazy_with(options);
    let droppers = Arc::new(tokio::sync::Semaphore::new(DROPPERS));
    while let Some(item) = rx.recv().await {
        let deadline = Instant::now() + Duration::from_millis(250);
        while CLONING.load(Ordering::SeqCst) > 0
            && pending.load(Ordering::SeqCst) <= size
            && Instant::now() < deadline
        {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let Ok(permit) = droppers.clone().acquire_owned().await else {
            return;
        };
        let (conns, server, pending, counters) = (
            conns.clone(),
            server.clone(),
            pending.clone(),
            counters.clone(),
        );
        tokio::spawn(async move {
            if let Ok(mut conn) = conns.acquire().await {
                let _ = drop_database(&mut conn, &server, &item).await;
            }
            pending.fetch_sub(1, Ordering::SeqCst);
            counters.recycled.fetch_add(1, Ordering::Relaxed);
            drop(permit);
        });
    }
}

/// Drops made at the same time.
const DROPPERS: usize = 4;

/// Drops a test's database, the databases of its database-tier tenants, and its own role.
pub(crate) async fn drop_database(
    conn: &mut PgConnection,
    server: &str,
    item: &Recycled,
) -> anyhow::Result<()> {
    for database in crate::db::tenant_databases(server, &item.name).await {
        conn.execute(sqlx::AssertSqlSafe(format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            saas_core::sql::quote_ident(&database)
        )))
        .await?;
    }
    conn.execute(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS {} WITH (FORCE)",
        saas_core::sql::quote_ident(&item.name)
    )))
    .await?;
    if let Some(role) = &item.role {
        conn.execute(sqlx::AssertSqlSafe(format!(
            "DROP ROLE IF EXISTS {}",
            saas_core::sql::quote_ident(role)
        )))
        .await?;
    }
    Ok(())
}

/// Starts (once per server) the watcher that drops what this process's pools leave.
fn watch_process_exit(server: &str) {
    static WATCHED: Mutex<Option<HashSet<String>>> = Mutex::new(None);
    let Ok(mut watched) = WATCHED.lock() else {
        return;
    };
    if watched
        .get_or_insert_with(HashSet::new)
        .insert(server.to_string())
    {
        drop_all_when_process_exits(server);
    }
}

/// A watcher process: once this process has exited and the pool's connections are gone (a
/// clone under way when the process died finishes first, so it is not missed), drops every
/// database named with this process's prefix that no test kept, and their roles. Returns
/// whether one was started.
fn drop_all_when_process_exits(server: &str) -> bool {
    let Some(psql) = crate::reap::psql() else {
        tracing::debug!("no psql: the next run's sweep drops this run's pooled databases");
        return false;
    };
    // $1: the test process, $2: psql, $3: the server URL, $4: the name prefix,
    // $5: the pool's application_name, $6: the kept comment. (Both are plain identifiers.)
    const SCRIPT: &str = r#"while kill -0 "$1" 2>/dev/null; do sleep 0.2; done
i=0
while [ $i -lt 100 ]; do
  n=$("$2" -X -q -w -At -d "$3" -c "SELECT count(*) FROM pg_stat_activity WHERE application_name = '$5'" 2>/dev/null)
  [ "$n" = 0 ] && break
  sleep 0.1; i=$((i+1))
done
printf '%s\n' \
  "SELECT format('DROP DATABASE IF EXISTS %I WITH (FORCE)', datname) FROM pg_database WHERE starts_with(datname, '$4') AND coalesce(shobj_description(oid, 'pg_database'), '') <> '$6'" '\gexec' \
  "SELECT format('DROP ROLE IF EXISTS %I', rolname) FROM pg_roles WHERE starts_with(rolname, '$4') AND NOT EXISTS (SELECT 1 FROM pg_database WHERE datname || '_app' = rolname)" '\gexec' \
  | "$2" -X -q -w -d "$3" >/dev/null 2>&1"#;
    let mut command = std::process::Command::new("sh");
    command
        .arg("-c")
        .arg(SCRIPT)
        .arg("saas-testkit-pool-reaper")
        .arg(std::process::id().to_string())
        .arg(psql)
        .arg(server)
        .arg(crate::server::process_prefix("saas_test"))
        .arg(application_name())
        .arg(KEPT_COMMENT)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    // Its own process group: a Ctrl-C to `cargo test` stops the tests, not the clean-up.
    std::os::unix::process::CommandExt::process_group(&mut command, 0);
    match command.spawn() {
        Ok(_) => true,
        Err(e) => {
            tracing::debug!(error = %e, "could not start the pool's clean-up watcher");
            false
        }
    }
}

/// The process-wide pools, one per server and template.
type Pools = HashMap<String, Arc<OnceCell<DbPool>>>;
static POOLS: Mutex<Option<Pools>> = Mutex::new(None);

async fn shared<F, Fut>(key: String, start: F) -> anyhow::Result<DbPool>
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<DbPool>>,
{
    let cell = {
        let mut pools = POOLS
            .lock()
            .map_err(|_| anyhow::anyhow!("testkit pool state poisoned"))?;
        pools
            .get_or_insert_with(HashMap::new)
            .entry(key)
            .or_default()
            .clone()
    };
    cell.get_or_try_init(start).await.cloned()
}

/// The process-wide pool of clones of the template of `migrations`.
pub(crate) async fn shared_template(
    server: &str,
    migrations: Option<&sqlx::migrate::Migrator>,
) -> anyhow::Result<DbPool> {
    let key = format!("{server}\u{0}{}", template_hash(migrations));
    shared(key, || {
        DbPool::start(server, migrations, PoolOptions::from_env())
    })
    .await
}

/// The process-wide pool of empty databases.
pub(crate) async fn shared_empty(server: &str) -> anyhow::Result<DbPool> {
    let key = format!("{server}\u{0}empty");
    shared(key, || DbPool::start_empty(server, PoolOptions::from_env())).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strategies_are_read_from_their_names() {
        assert_eq!(
            "file_copy".parse::<CloneStrategy>().unwrap(),
            CloneStrategy::FileCopy
        );
        assert_eq!(
            "WAL_LOG".parse::<CloneStrategy>().unwrap(),
            CloneStrategy::WalLog
        );
        assert!("copy".parse::<CloneStrategy>().is_err());
    }
}
