//! The application's command line (feature `cli`): `serve`, `migrate`, `openapi`, `events` and
//! `tenants`, parsed with clap; the long operations show progress bars ([`crate::cli`]).

use clap::{Parser, Subcommand};

use super::*;
use crate::tenancy::Tier;
use crate::tenancy::registry::NewTenant;

impl SaasApp {
    /// Parses the command line and runs the subcommand.
    pub async fn run_cli(mut self) -> anyhow::Result<()> {
        let cli = Cli::parse();
        init_tracing();
        match cli.command {
            Command::Openapi { command } => {
                let versioned = self
                    .versioned_api()
                    .cloned()
                    .ok_or_else(|| anyhow::anyhow!("this app declares no versioned API"))?;
                match command {
                    OpenapiCommand::Export { dir } => {
                        let dir = dir.unwrap_or(self.parts.openapi_dir.clone());
                        for path in crate::openapi::contract::export(&versioned, &dir)? {
                            println!("wrote {}", path.display());
                        }
                    }
                    OpenapiCommand::Check { dir } => {
                        let dir = dir.unwrap_or(self.parts.openapi_dir.clone());
                        let report = crate::openapi::contract::check(&versioned, &dir)?;
                        print!("{}", report.render());
                        if report.is_breaking() {
                            std::process::exit(1);
                        }
                    }
                }
            }
            Command::Serve {
                listen,
                metrics_listen,
            } => {
                if let Some(addr) = metrics_listen {
                    let telemetry = self.parts.telemetry.clone().ok_or_else(|| {
                        anyhow::anyhow!(
                            "--metrics-listen needs telemetry (SaasAppBuilder::telemetry)"
                        )
                    })?;
                    self.parts.metrics_on_main = false;
                    let listener = tokio::net::TcpListener::bind(addr).await?;
                    println!(
                        "metrics on http://{}{}",
                        listener.local_addr()?,
                        crate::telemetry::METRICS_PATH
                    );
                    let server = axum::serve(listener, telemetry.router::<()>())
                        .with_graceful_shutdown(shutdown_signal());
                    tokio::spawn(async move {
                        if let Err(err) = server.await {
                            tracing::error!(error = %err, "the metrics listener failed");
                        }
                    });
                }
                let listener = tokio::net::TcpListener::bind(listen).await?;
                self.serve(listener).await?;
            }
            Command::Migrate { force, parallelism } => {
                let config = self.resolved_config().await?;
                let tenancy =
                    Tenancy::start(config, self.parts.resolvers, self.parts.migrations).await?;
                println!("shared schema migrated; isolation audit passed");
                let failed = crate::cli::migrate_tenants(&tenancy, force, parallelism).await;
                tenancy.close().await;
                if failed? {
                    std::process::exit(1);
                }
            }
            Command::Events { command } => {
                let config = self.resolved_config().await?;
                let tenancy =
                    Tenancy::start(config, self.parts.resolvers, self.parts.migrations).await?;
                run_events(&tenancy, command).await?;
                tenancy.close().await;
            }
            Command::Tenants { command } => {
                let config = self.resolved_config().await?;
                let tenancy =
                    Tenancy::start(config, self.parts.resolvers, self.parts.migrations).await?;
                run_tenants(&tenancy, command).await?;
                tenancy.close().await;
            }
        }
        Ok(())
    }
}

fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn"));
    // Colour only for a terminal: logs written to a file or a pipe stay plain text.
    use std::io::IsTerminal;
    let ansi = std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .try_init();
}

#[derive(Debug, Parser)]
#[command(about = "A multi-tenant application built on saas-core")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Migrate, audit, and serve HTTP.
    Serve {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: SocketAddr,
        /// Serve `/metrics` on this address only, not on the main listener (needs
        /// telemetry: `SaasAppBuilder::telemetry`).
        #[arg(long)]
        metrics_listen: Option<SocketAddr>,
    },
    /// Apply migrations and RLS set-up to the shared schema and every tenant schema and
    /// database, run the isolation audit, and exit (status 1 if any tenant failed).
    Migrate {
        /// Re-check tenants whose ledger says they are up to date.
        #[arg(long)]
        force: bool,
        /// Tenants migrated at once (default: SAAS_MIGRATION_PARALLELISM or 4).
        #[arg(long)]
        parallelism: Option<usize>,
    },
    /// Inspect the outbox: parked events, requeueing them.
    Events {
        #[command(subcommand)]
        command: EventsCommand,
    },
    /// Manage tenants.
    Tenants {
        #[command(subcommand)]
        command: TenantsCommand,
    },
    /// Export or check the per-version OpenAPI documents (no database needed).
    Openapi {
        #[command(subcommand)]
        command: OpenapiCommand,
    },
}

#[derive(Debug, Subcommand)]
enum OpenapiCommand {
    /// Write every version's document (3.1, plus a 3.0.3 export) to the folder.
    Export {
        /// The folder (default: the app's configured one).
        #[arg(long)]
        dir: Option<std::path::PathBuf>,
    },
    /// Compare the generated documents with the committed ones; fail on breaking changes.
    Check {
        /// The folder (default: the app's configured one).
        #[arg(long)]
        dir: Option<std::path::PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
enum EventsCommand {
    /// List events that failed too often and were parked, with their last error.
    Parked,
    /// Put a parked event back in line (after fixing what made it fail).
    Requeue {
        /// The event's id.
        id: uuid::Uuid,
    },
    /// How many events wait in the outbox, and how many are parked.
    Status,
}

async fn run_events(tenancy: &Tenancy, command: EventsCommand) -> anyhow::Result<()> {
    let owner = tenancy.owner_pool();
    match command {
        EventsCommand::Parked => {
            for p in crate::events::relay::parked(owner).await? {
                println!(
                    "{}\t{}\t{}\t{} attempts\t{}",
                    p.envelope.id,
                    p.envelope.tenant_id,
                    p.envelope.event_type,
                    p.attempts,
                    p.last_error.unwrap_or_default()
                );
            }
        }
        EventsCommand::Requeue { id } => {
            if crate::events::relay::requeue(owner, id).await? {
                println!("requeued {id}");
            } else {
                anyhow::bail!("no parked event {id}");
            }
        }
        EventsCommand::Status => {
            let (pending, parked): (i64, i64) = sqlx::query_as(
                "SELECT count(*) - count(parked_at), count(parked_at) FROM saas_outbox",
            )
            .fetch_one(owner)
            .await?;
            println!("pending\t{pending}\nparked\t{parked}");
        }
    }
    Ok(())
}

#[derive(Debug, Subcommand)]
enum TenantsCommand {
    /// Register a tenant.
    Create {
        /// URL-safe unique name.
        slug: String,
        /// Display name (defaults to the slug).
        #[arg(long)]
        name: Option<String>,
        /// shared, schema or database.
        #[arg(long, default_value = "shared")]
        tier: String,
        /// The server of a database-tier tenant (a name from SAAS_SERVERS).
        #[arg(long)]
        server: Option<String>,
    },
    /// List tenants.
    List,
    /// Move a tenant to another tier (or server), online; resumes an interrupted move.
    Move {
        /// The tenant's slug.
        slug: String,
        /// shared, schema, database or dedicated (Citus: shards of its own on one worker).
        #[arg(long)]
        to: String,
        /// The server of a database-tier target.
        #[arg(long)]
        server: Option<String>,
        /// The Citus worker (host:port) of a dedicated-tier target.
        #[arg(long)]
        node: Option<String>,
    },
    /// Rebalance the Citus shards online: dedicated-tier tenants stay, other tenants' shards
    /// leave their workers (Citus only).
    Rebalance,
    /// Resume every interrupted move (or list them with --list).
    Moves {
        /// Only list them.
        #[arg(long)]
        list: bool,
    },
    /// Suspend a tenant (its requests get 403).
    Suspend {
        /// The tenant's slug.
        slug: String,
    },
    /// Lift a suspension.
    Activate {
        /// The tenant's slug.
        slug: String,
    },
    /// Print a bearer token for a tenant, signed with the app's HS256 secret (for curl, a
    /// script, or a first client; production tokens come from your login flow).
    Token {
        /// The tenant's slug.
        slug: String,
        /// The token's subject (`sub`): who acts.
        #[arg(long, default_value = "cli")]
        subject: String,
        /// How long the token is valid, in seconds.
        #[arg(long, default_value_t = 3600)]
        ttl: u64,
    },
    /// Put a tenant on a plan (which rate limits and quotas apply).
    Plan {
        /// The tenant's slug.
        slug: String,
        /// The plan's name (lowercase letters, digits, '-', '_').
        plan: String,
    },
}

async fn run_tenants(tenancy: &Tenancy, command: TenantsCommand) -> anyhow::Result<()> {
    let tenants = tenancy.tenants();
    match command {
        TenantsCommand::Create {
            slug,
            name,
            tier,
            server,
        } => {
            let tier: Tier = tier.parse()?;
            let tenant = tenants
                .create(NewTenant {
                    name: name.unwrap_or_else(|| slug.clone()),
                    slug,
                    tier: Some(tier),
                    server,
                })
                .await?;
            println!("{}\t{}\t{}", tenant.id, tenant.slug, tenant.tier);
        }
        TenantsCommand::Move {
            slug,
            to,
            server,
            node,
        } => {
            let tenant = tenants.get_by_slug(&slug).await?;
            let request = crate::moves::MoveRequest {
                tier: to.parse()?,
                server,
                node,
            };
            crate::cli::move_tenant(tenancy, &tenant, &request).await?;
        }
        TenantsCommand::Rebalance => crate::cli::rebalance(tenancy).await?,
        TenantsCommand::Moves { list } => {
            crate::cli::resume_moves(tenancy, list).await?;
        }
        TenantsCommand::List => {
            for t in tenants.list().await? {
                println!(
                    "{}\t{}\t{}\t{}\t{:?}\t{}",
                    t.id,
                    t.slug,
                    t.tier,
                    crate::tenancy::Location::of(&t)
                        .map(|l| l.label())
                        .unwrap_or_default(),
                    t.status,
                    t.name
                );
            }
        }
        TenantsCommand::Suspend { slug } => {
            let t = tenants.get_by_slug(&slug).await?;
            tenants.suspend(t.id).await?;
            println!("suspended {slug}");
        }
        TenantsCommand::Activate { slug } => {
            let t = tenants.get_by_slug(&slug).await?;
            tenants.activate(t.id).await?;
            println!("activated {slug}");
        }
        TenantsCommand::Token { slug, subject, ttl } => {
            let issuer = tenancy.resolvers().token_issuer().ok_or_else(|| {
                anyhow::anyhow!(
                    "this app's resolvers cannot sign tokens: `tenants token` needs a \
                     JwtResolver with an HS256 secret (with RS256, tokens come from your \
                     identity provider)"
                )
            })?;
            let t = tenants.get_by_slug(&slug).await?;
            if t.status != crate::tenancy::TenantStatus::Active {
                eprintln!(
                    "warning: {slug} is {:?}: its requests are refused until it is activated",
                    t.status
                );
            }
            println!("{}", issuer.issue(t.id, &subject, ttl)?);
        }
        TenantsCommand::Plan { slug, plan } => {
            let t = tenants.get_by_slug(&slug).await?;
            tenants.set_plan(t.id, &plan).await?;
            println!("{slug}\t{plan}");
        }
    }
    Ok(())
}
