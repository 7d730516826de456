//! The long-running CLI operations with progress bars: migrating every tenant, moving one.

use std::sync::Arc;

use indicatif::{ProgressBar, ProgressStyle};

use crate::migrate::tenants::{MigrateOptions, TenantMigrated};
use crate::moves::{self, MoveEvent, MoveOptions, MoveRequest, MoveStep};
use crate::tenancy::Tenant;
use crate::tenancy::pool::Tenancy;

fn bar(len: u64, template: &str) -> ProgressBar {
    let bar = ProgressBar::new(len);
    if let Ok(style) = ProgressStyle::with_template(template) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar
}

/// Migrates every tenant schema and database with a progress bar; prints the failures.
/// Returns whether any tenant failed.
pub async fn migrate_tenants(
    tenancy: &Tenancy,
    force: bool,
    parallelism: Option<usize>,
) -> anyhow::Result<bool> {
    let mut options = MigrateOptions::for_tenancy(tenancy);
    options.force = force;
    if let Some(n) = parallelism {
        options.parallelism = n.max(1);
    }
    let progress = bar(
        0,
        "{spinner} tenants [{bar:40}] {pos}/{len} {elapsed_precise} eta {eta} {msg}",
    );
    let shown = progress.clone();
    let summary =
        crate::migrate::tenants::migrate_tenants(tenancy, &options, move |m: &TenantMigrated| {
            shown.set_length(m.total as u64);
            shown.set_position(m.done as u64);
            match &m.error {
                Some(error) => shown.println(format!("FAILED {}: {error}", m.slug)),
                None => shown.set_message(m.slug.clone()),
            }
        })
        .await?;
    progress.finish_and_clear();
    println!(
        "tenants: {} in schemas or databases; {} migrated, {} already up to date, {} failed ({:.2?})",
        summary.tenants,
        summary.migrated,
        summary.up_to_date,
        summary.failed.len(),
        summary.elapsed
    );
    for (slug, error) in &summary.failed {
        println!("  {slug}: {error}");
    }
    Ok(!summary.is_complete())
}

fn observer(progress: &ProgressBar) -> moves::MoveObserver {
    let shown = progress.clone();
    Arc::new(move |event: &MoveEvent| match event {
        MoveEvent::Step(step) => {
            let index = MoveStep::ALL.iter().position(|s| s == step).unwrap_or(0);
            shown.set_position(index as u64 + 1);
            shown.set_message(step.as_str().to_string());
        }
        MoveEvent::Table {
            table,
            rows,
            done,
            total,
        } => shown.set_message(format!(
            "copying {table}: {rows} rows ({done}/{total} tables)"
        )),
    })
}

/// Moves one tenant with a progress bar over the move's steps.
pub async fn move_tenant(
    tenancy: &Tenancy,
    tenant: &Tenant,
    request: &MoveRequest,
) -> anyhow::Result<()> {
    let progress = bar(
        MoveStep::ALL.len() as u64,
        "{spinner} move [{bar:30}] {pos}/{len} {elapsed_precise} {msg}",
    );
    let options = MoveOptions {
        observer: Some(observer(&progress)),
        ..MoveOptions::default()
    };
    let report = moves::move_tenant(tenancy, tenant.id, request, &options).await;
    progress.finish_and_clear();
    let report = report?;
    println!(
        "moved {} from {} to {}{} in {:.2?} (writes fenced {:.2?})",
        report.tenant.slug,
        report.from,
        report.to,
        if report.resumed { " (resumed)" } else { "" },
        report.elapsed,
        report.write_freeze
    );
    for table in &report.tables {
        println!("  {}\t{} rows\t{}", table.table, table.rows, table.checksum);
    }
    Ok(())
}

/// Rebalances the Citus shards (see [`moves::rebalance`]), with a spinner while it runs.
pub async fn rebalance(tenancy: &Tenancy) -> anyhow::Result<()> {
    let progress = ProgressBar::new_spinner();
    progress.set_message("rebalancing the shards (online)");
    progress.enable_steady_tick(std::time::Duration::from_millis(120));
    let report = moves::rebalance(tenancy).await;
    progress.finish_and_clear();
    let report = report?;
    println!(
        "rebalanced: {} shard moves in {:.2?}",
        report.moves, report.elapsed
    );
    Ok(())
}

/// Lists or resumes every interrupted move.
pub async fn resume_moves(tenancy: &Tenancy, list_only: bool) -> anyhow::Result<()> {
    let pending = moves::all_pending(tenancy).await?;
    if pending.is_empty() {
        println!("no interrupted moves");
    }
    for m in pending {
        println!(
            "{}\t{} -> {}\tlast step: {}",
            m.tenant,
            m.from,
            m.to,
            m.step.as_str()
        );
        if !list_only {
            let tenant = tenancy.tenants().get(m.tenant).await?;
            let request = MoveRequest {
                tier: m.to.tier(),
                server: match &m.to {
                    crate::tenancy::Location::Database { server, .. } => Some(server.clone()),
                    _ => None,
                },
                node: None,
            };
            move_tenant(tenancy, &tenant, &request).await?;
        }
    }
    Ok(())
}
