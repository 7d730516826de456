//! The application's migration set as the provisioner applies it to tenant locations.

use std::sync::Arc;

use futures_util::FutureExt;
use futures_util::future::BoxFuture;
use sqlx::PgConnection;
use sqlx::migrate::Migrator;

use super::{Target, migrate_target, schema_fingerprint};
use crate::error::{Error, Result};
use crate::tenancy::Location;
use crate::tenancy::pool::TenancyConfig;
use crate::tenancy::provision::LocationMigrator;

/// The migrations and settings every tenant schema and database is migrated with.
pub(crate) struct AppMigrations {
    /// With sqlx's database-wide lock (tenant databases).
    locking: Option<Migrator>,
    /// Without it: tenant schemas share a database and are serialized per schema instead.
    per_schema: Option<Migrator>,
    config: TenancyConfig,
    fingerprint: String,
}

fn copy_migrator(migrator: &Migrator, locking: bool) -> Migrator {
    let mut copy = Migrator::with_migrations(migrator.iter().cloned().collect());
    copy.set_locking(locking);
    copy
}

impl AppMigrations {
    pub(crate) fn new(migrations: Option<&Migrator>, config: TenancyConfig) -> Arc<Self> {
        Arc::new(AppMigrations {
            locking: migrations.map(|m| copy_migrator(m, true)),
            per_schema: migrations.map(|m| copy_migrator(m, false)),
            fingerprint: schema_fingerprint(migrations),
            config,
        })
    }
}

impl LocationMigrator for AppMigrations {
    fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    fn migrate<'a>(
        &'a self,
        conn: &'a mut PgConnection,
        location: &'a Location,
    ) -> BoxFuture<'a, Result<()>> {
        async move {
            match location {
                Location::Shared | Location::Dedicated => Err(Error::Internal(anyhow::anyhow!(
                    "the shared schema is migrated by migrate_all"
                ))),
                Location::Schema(schema) => {
                    migrate_target(
                        conn,
                        Target::TenantSchema(schema),
                        self.per_schema.as_ref(),
                        &self.config,
                    )
                    .await
                }
                Location::Database { .. } => {
                    migrate_target(
                        conn,
                        Target::TenantDatabase,
                        self.locking.as_ref(),
                        &self.config,
                    )
                    .await
                }
            }
        }
        .boxed()
    }
}
