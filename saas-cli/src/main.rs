use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};
use saas_cli::{Source, generate};

#[derive(Debug, Parser)]
#[command(
    name = "saas",
    about = "Start and manage applications on the multi-tenant SaaS framework"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Write a new application: one tenant-scoped model, a versioned endpoint pair, an
    /// isolation test and a CI script.
    New {
        /// The package name (lowercase letters, digits, `-`, `_`).
        name: String,
        /// Where to write it (default: ./NAME). Must be empty or absent.
        #[arg(long)]
        dir: Option<PathBuf>,
        /// A checkout of the framework to depend on (default: the one this binary was built
        /// from).
        #[arg(long, conflicts_with = "git")]
        path: Option<PathBuf>,
        /// A git repository of the framework to depend on instead of a checkout.
        #[arg(long)]
        git: Option<String>,
    },
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::New {
            name,
            dir,
            path,
            git,
        } => {
            let source = match (git, path) {
                (Some(url), _) => Source::Git(url),
                (None, Some(path)) => Source::Path(
                    std::path::absolute(&path)
                        .with_context(|| format!("cannot resolve {}", path.display()))?,
                ),
                // This crate lives in the framework's workspace: its parent is the checkout.
                (None, None) => Source::Path(
                    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                        .parent()
                        .context("the framework checkout")?
                        .to_path_buf(),
                ),
            };
            let dir = dir.unwrap_or_else(|| PathBuf::from(&name));
            generate(&name, &dir, &source)?;
            println!("wrote {} ({name})", dir.display());
            println!("next: cd {} && ./ci.sh", dir.display());
            Ok(())
        }
    }
}
