//! `saas-testkit list` and `saas-testkit clean`: the databases test runs made on the test
//! server (templates, per-run and per-test databases), and dropping them.

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(about = "The test databases and templates saas-testkit made on the test server")]
struct Cli {
    /// The server (default: the one the tests use, found as `saas_core::devdb::ensure_server`
    /// finds it: SAAS_TEST_DATABASE_URL, DATABASE_URL, the local server, the private cluster).
    #[arg(long)]
    server: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// List them: name, kind, creator (host tag and pid) and whether it still runs.
    List,
    /// Drop the ones whose test process is gone on this host (never another host's);
    /// `--templates` drops the cached templates too (the next run rebuilds them).
    Clean {
        /// Also drop the cached `saas_tpl_*` templates.
        #[arg(long)]
        templates: bool,
    },
}

async fn server(cli: &Cli) -> anyhow::Result<String> {
    match cli.server.clone().filter(|url| !url.is_empty()) {
        Some(url) => Ok(url),
        None => Ok(saas_core::devdb::ensure_server().await?),
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let server = server(&cli).await?;
    match cli.command {
        Command::List => {
            let databases = saas_testkit::list_test_databases(&server).await?;
            if databases.is_empty() {
                println!("no test databases on {server}");
            }
            for db in databases {
                let owner = db
                    .owner
                    .map(|(host, pid)| format!("{host}/{pid}"))
                    .unwrap_or_else(|| "-".into());
                let state = match db.live {
                    Some(true) => "running",
                    Some(false) => "gone",
                    None if db.kind == "template" => "cached",
                    None => "other host",
                };
                println!("{}\t{}\t{owner}\t{state}", db.name, db.kind);
            }
        }
        Command::Clean { templates } => {
            let dropped = saas_testkit::clean_test_databases(&server, templates).await?;
            for name in &dropped {
                println!("dropped {name}");
            }
            println!("{} dropped", dropped.len());
        }
    }
    Ok(())
}
