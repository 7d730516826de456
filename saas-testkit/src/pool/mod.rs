//! Databases ready before a test asks for one.
//!
//! A `CREATE DATABASE ... TEMPLATE` copies every block of the template and costs tens of
//! milliseconds on a server with `fsync` on (more while the server is busy). A [`DbPool`]
//! makes those clones ahead of time, on a background thread of its own: up to
//! [`PoolOptions::size`] databases are ready or being made at any time, and each one a test
//! takes is replaced at once. A test's wait for a database is a checkout from a queue, not a
//! clone. The database a test drops (after success, failure or panic alike) is handed back to
//! the background thread, off the test's clock: when only its rows changed, it is put back
//! the way the template left it, checked, renamed and queued again (the guide's testing
//! chapter says what is compared); otherwise it is dropped. A name is never handed out twice, so a
//! connection string a finished test kept reaches nothing.
//!
//! [`TestDb::new`] and [`TestDb::from_template`] take their databases from process-wide pools
//! (one per server and template), sized from the test threads: `SAAS_TESTKIT_POOL_SIZE`, else
//! `RUST_TEST_THREADS`, else the available parallelism (at least 2).
//! `SAAS_TESTKIT_CLONE_STRATEGY=wal_log|file_copy` fixes how clones are made (default `auto`,
//! [`CloneStrategy::Auto`]),
//! `SAAS_TESTKIT_RECYCLE=off` drops every used database instead of resetting it,
//! `SAAS_TESTKIT_RESET_CHECK=every_table` compares every table after every test instead of
//! trusting PostgreSQL's activity counters to say which ones it wrote ([`ResetCheck`]), and
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

mod activity;
mod recycle;
mod reset;
mod strategy;
use crate::template::{TEMPLATE_ROLE, ensure_template, template_hash};
use recycle::recycle_loop;
use reset::Baseline;
pub use strategy::CloneStrategy;
use strategy::Returns;

/// The comment [`TestDb::keep`] puts on a database so the exit watcher leaves it alone.
pub(crate) const KEPT_COMMENT: &str = "saas-testkit: kept";

/// How a pool that resets used databases finds what a test changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ResetCheck {
    /// PostgreSQL's activity counters (rows inserted, updated and deleted per table, which
    /// every session adds to the shared statistics before it ends) name the tables the test
    /// wrote: only those are reset and compared, and the catalog is compared only when a
    /// catalog table was written. When the counters cannot tell (statistics reset,
    /// `track_counts` off on the server or the database) every table is compared. Blind to a
    /// test that turns `track_counts` off in its own session (a superuser's `SET`) and then
    /// writes: give such tests [`ResetCheck::EveryTable`].
    #[default]
    Counters,
    /// Every table and the whole catalog compared after every test.
    EveryTable,
}

impl FromStr for ResetCheck {
    type Err = anyhow::Error;

    fn from_str(s: &str) -> anyhow::Result<ResetCheck> {
        match s.to_ascii_lowercase().as_str() {
            "counters" => Ok(ResetCheck::Counters),
            "every_table" | "every-table" | "full" => Ok(ResetCheck::EveryTable),
            other => anyhow::bail!("unknown reset check {other:?} (counters or every_table)"),
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
    /// Whether used databases whose catalog is unchanged are reset and reused instead of
    /// dropped (template pools only).
    pub recycle: bool,
    /// How a reset finds what a test changed.
    pub reset_check: ResetCheck,
}

impl Default for PoolOptions {
    fn default() -> Self {
        PoolOptions {
            size: 2,
            creators: 2,
            strategy: CloneStrategy::default(),
            recycle: true,
            reset_check: ResetCheck::default(),
        }
    }
}

impl PoolOptions {
    /// The options of the process-wide pools: `size` from `SAAS_TESTKIT_POOL_SIZE`, else
    /// `RUST_TEST_THREADS`, else the available parallelism (at least 2); two creators;
    /// the strategy from `SAAS_TESTKIT_CLONE_STRATEGY` (default `auto`); recycling on
    /// unless `SAAS_TESTKIT_RECYCLE` is `off`; the reset check from
    /// `SAAS_TESTKIT_RESET_CHECK` (`counters`, the default, or `every_table`).
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
        let recycle = !matches!(
            std::env::var("SAAS_TESTKIT_RECYCLE").as_deref(),
            Ok("off" | "0" | "false" | "no")
        );
        let reset_check = std::env::var("SAAS_TESTKIT_RESET_CHECK")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_default();
        PoolOptions {
            size,
            creators: 2,
            strategy,
            recycle,
            reset_check,
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

    /// With used databases reset and reused (`true`) or always dropped.
    pub fn recycle(mut self, recycle: bool) -> Self {
        self.recycle = recycle;
        self
    }

    /// With this way of finding what a test changed.
    pub fn reset_check(mut self, check: ResetCheck) -> Self {
        self.reset_check = check;
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
    /// Databases reset after their test and queued again.
    pub reused: u64,
    /// Of `reused`, the resets that compared only the tables the activity counters named
    /// (the others compared every table).
    pub reset_from_counters: u64,
    /// Of `created`, the clones made with `WAL_LOG` (the others with `FILE_COPY`, or with no
    /// `STRATEGY` clause before PostgreSQL 15).
    pub cloned_with_wal_log: u64,
    /// Total time spent cloning (server time, off the tests' clock).
    pub clone_time: Duration,
}

#[derive(Debug, Default)]
struct Counters {
    created: AtomicU64,
    cloned_with_wal_log: AtomicU64,
    /// What used databases lately became, for [`CloneStrategy::Auto`].
    returns: Returns,
    checked_out: AtomicU64,
    recycled: AtomicU64,
    reused: AtomicU64,
    reset_from_counters: AtomicU64,
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

/// The queue of databases ready for tests, as the pool's background tasks fill it.
///
/// `stock` counts the databases queued, the clones under way and the used databases being
/// reset. Creators clone only while it is below the pool's size; reset databases join the
/// queue whatever the stock (the channel holds up to twice the size), so a pool whose tests
/// give their databases back clones only what resets do not replace.
#[derive(Debug, Clone)]
struct Ready {
    tx: mpsc::Sender<Result<String, String>>,
    stock: Arc<AtomicUsize>,
}

impl Ready {
    /// Takes a place for a clone when the stock is below `size`.
    fn take_place(&self, size: usize) -> bool {
        self.stock
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| {
                (n < size).then_some(n + 1)
            })
            .is_ok()
    }
}

#[derive(Debug)]
struct Inner {
    server: String,
    template: String,
    own_role: bool,
    ready: tokio::sync::Mutex<mpsc::Receiver<Result<String, String>>>,
    stock: Arc<AtomicUsize>,
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
    let options = own_session(
        PgConnectOptions::from_str(server).with_context(|| format!("test server URL {server}"))?,
    );
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
        let strategy = (options.strategy, version >= 150_000);
        watch_process_exit(server);
        let (ready_tx, ready_rx) = mpsc::channel(2 * size);
        let ready_tx = Ready {
            tx: ready_tx,
            stock: Arc::new(AtomicUsize::new(0)),
        };
        let stock = ready_tx.stock.clone();
        let (recycle_tx, recycle_rx) = mpsc::unbounded_channel();
        let pending = Arc::new(AtomicUsize::new(0));
        // Only clones of a migrated template are reset: an empty database's test migrates it.
        let resets = options.recycle && !own_role;
        let counters = Arc::new(Counters {
            returns: if resets {
                Returns::default()
            } else {
                Returns::all_dropped()
            },
            ..Counters::default()
        });
        let baseline = resets.then(|| {
            Arc::new(Resetting {
                check: options.reset_check,
                baseline: OnceCell::new(),
            })
        });
        let runtime = background();
        for _ in 0..creators {
            runtime.spawn(create_loop(
                server.to_string(),
                template.to_string(),
                strategy,
                ready_tx.clone(),
                counters.clone(),
                pending.clone(),
                (4 * size).max(16),
                size,
                baseline.clone(),
            ));
        }
        runtime.spawn(recycle_loop(
            server.to_string(),
            recycle_rx,
            pending.clone(),
            counters.clone(),
            size,
            baseline.map(|baseline| (baseline, ready_tx.clone())),
        ));
        Ok(DbPool {
            inner: Arc::new(Inner {
                server: server.to_string(),
                template: template.to_string(),
                own_role,
                ready: tokio::sync::Mutex::new(ready_rx),
                stock,
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
        if next.is_some() {
            self.inner.stock.fetch_sub(1, Ordering::SeqCst);
        }
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
            cloned_with_wal_log: c.cloned_with_wal_log.load(Ordering::Relaxed),
            checked_out: c.checked_out.load(Ordering::Relaxed),
            recycled: c.recycled.load(Ordering::Relaxed),
            reused: c.reused.load(Ordering::Relaxed),
            reset_from_counters: c.reset_from_counters.load(Ordering::Relaxed),
            clone_time: Duration::from_micros(c.clone_micros.load(Ordering::Relaxed)),
        }
    }

    /// Databases tests are done with that are not dropped yet.
    pub fn pending_drops(&self) -> usize {
        self.inner.recycler.pending.load(Ordering::SeqCst)
    }
}

/// Where a pool that resets used databases keeps what a fresh clone holds: taken from the
/// first clone, `None` inside when this pool cannot reset (see [`Baseline::capture`]).
type SharedBaseline = Arc<Resetting>;

#[derive(Debug)]
struct Resetting {
    check: ResetCheck,
    baseline: OnceCell<Option<Baseline>>,
}

/// One creator: takes a place in the stock (so ready + being cloned never exceeds the pool's
/// size), clones, and queues the clone. While more than `backlog` used databases wait to be
/// dropped or reset, it waits for them. The first clone gives the pool its baseline.
#[allow(clippy::too_many_arguments)]
async fn create_loop(
    server: String,
    template: String,
    (strategy, supported): (CloneStrategy, bool),
    ready: Ready,
    counters: Arc<Counters>,
    pending: Arc<AtomicUsize>,
    backlog: usize,
    size: usize,
    baseline: Option<SharedBaseline>,
) {
    let mut conn: Option<PgConnection> = None;
    loop {
        // Bounded disk: while drops lag far behind, wait for them rather than pile up copies.
        // Reset databases count in the stock: a pool whose tests give theirs back stops cloning.
        while pending.load(Ordering::SeqCst) > backlog || !ready.take_place(size) {
            if ready.tx.is_closed() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        let Ok(slot) = ready.tx.reserve().await else {
            return;
        };
        let name = crate::db::unique_name("saas_test");
        let clause = strategy.clause(&counters.returns, supported);
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
            if let Some(baseline) = &baseline {
                baseline
                    .baseline
                    .get_or_init(|| capture_baseline(&server, &name, baseline.check))
                    .await;
            }
            Ok::<(), anyhow::Error>(())
        }
        .await;
        CLONING.fetch_sub(1, Ordering::SeqCst);
        match result {
            Ok(()) => {
                counters.created.fetch_add(1, Ordering::Relaxed);
                if clause.ends_with("WAL_LOG") {
                    counters.cloned_with_wal_log.fetch_add(1, Ordering::Relaxed);
                }
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

/// The baseline of a fresh clone `name` (before any test has it); `None` when it cannot be
/// taken, and the pool then drops every used database.
async fn capture_baseline(server: &str, name: &str, check: ResetCheck) -> Option<Baseline> {
    let result = async {
        let mut conn = connect_to(server, name).await?;
        let baseline = Baseline::capture(&mut conn, check).await;
        conn.close().await.ok();
        baseline
    }
    .await;
    result.unwrap_or_else(|e| {
        tracing::debug!(error = %format!("{e:#}"), "the pool drops used databases: no baseline");
        None
    })
}

/// The pool's own sessions: named (the exit watcher waits for them to end), and not waiting
/// for the WAL to reach the disk at each commit. What they commit (renames, resets) concerns
/// test databases, which no run keeps across a server crash (the next run sweeps them), and
/// a commit behind a clone's checkpoint would otherwise wait for it.
fn own_session(options: PgConnectOptions) -> PgConnectOptions {
    options
        .application_name(&application_name())
        .options([("synchronous_commit", "off")])
}

/// A connection to the database `name` on `server`, as the pool's own.
async fn connect_to(server: &str, name: &str) -> anyhow::Result<PgConnection> {
    let options = own_session(PgConnectOptions::from_str(&with_database(server, name)?)?);
    Ok(options.connect().await?)
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
