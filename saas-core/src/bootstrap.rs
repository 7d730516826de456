//! Starting the tenancy runtime: connect, migrate, audit, then open the request pools.
//!
//! This sits above tenancy, migrations and isolation because starting needs all three, while
//! none of them needs to know how the runtime is started. [`Tenancy::start`] is defined here
//! (an inherent method may live in any module of the crate), so callers still write
//! `Tenancy::start(..)`.

use std::sync::Arc;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

use crate::error::{Error, Result};
use crate::isolation::{audit, roles};
use crate::migrate::AppMigrations;
use crate::migrate::tenants::{MigrateOptions, migrate_tenants};
use crate::tenancy::background::Background;
use crate::tenancy::placement::{DatabasePools, Servers};
use crate::tenancy::pool::{BoundPools, Tenancy, TenancyConfig, TenancyParts};
use crate::tenancy::provision::Provisioner;
use crate::tenancy::registry::Tenants;
use crate::tenancy::replica::Replicas;
use crate::tenancy::resolver::ResolverChain;

impl Tenancy {
    /// Connects as the owner, migrates (framework schema, `migrations`, RLS for every
    /// registered model, the request role and its grants), runs the isolation audit, and
    /// opens the request pools. Refuses to return when the audit fails.
    pub async fn start(
        config: TenancyConfig,
        resolvers: ResolverChain,
        migrations: Option<&sqlx::migrate::Migrator>,
    ) -> Result<Tenancy> {
        resolvers.check()?;
        roles::validate_role_name(&config.request_role)?;
        let owner_options: PgConnectOptions = config
            .database_url
            .parse()
            .map_err(|e| Error::config("DATABASE_URL", format!("invalid database URL: {e}")))?;
        let owner = PgPoolOptions::new()
            .max_connections(4)
            .acquire_timeout(config.acquire_timeout)
            .connect_with(owner_options.clone())
            .await
            .map_err(|e| {
                Error::config(
                    "DATABASE_URL",
                    format!("cannot connect to the database: {e}"),
                )
            })?;
        if config.migrate_on_start {
            crate::migrate::migrate_all(&owner, migrations, &config).await?;
        }
        let mut request_options = owner_options.username(&config.request_role);
        if let Some(password) = &config.request_password {
            request_options = request_options.password(password);
        }
        let requests = PgPoolOptions::new()
            .max_connections(config.request_pool_size)
            .acquire_timeout(config.acquire_timeout)
            // The ping on acquire costs a round trip per request; a broken connection
            // surfaces as an error that the client may retry (503) instead.
            .test_before_acquire(false)
            .connect_lazy_with(request_options.clone());
        let primary_report = audit::run(&owner, &requests, &config.request_role).await?;
        let bound = BoundPools::new(request_options, &config);
        let servers = Servers::new(&config.database_url, &config.servers)?;
        let migrator = AppMigrations::new(migrations, config.clone());
        let mut provisioner = Provisioner::new(servers, migrator, config.clone());
        provisioner.owner = Some(owner.clone());
        let provisioner = Arc::new(provisioner);
        let tenants = Tenants::new(owner.clone(), config.tenant_cache_ttl)
            .with_provisioner(provisioner.clone());
        let databases = DatabasePools::new(
            &config.request_role,
            config.request_password.as_deref(),
            config.database_pool_size,
            config.connection_budget,
            config.database_pool_idle,
            config.acquire_timeout,
        );
        let replicas = Replicas::start(&config, &owner)?;
        let shared_schema: String = sqlx::query_scalar("SELECT current_schema()::text")
            .fetch_one(&owner)
            .await?;
        let citus: bool = sqlx::query_scalar(crate::model::citus_present_sql())
            .fetch_one(&owner)
            .await?;
        let tenancy = Tenancy::assemble(TenancyParts {
            owner,
            requests,
            bound,
            databases,
            replicas,
            provisioner,
            shared_schema,
            citus,
            background: Background::default(),
            tenants,
            resolvers,
            config,
        });
        if tenancy.config().migrate_on_start {
            // Tenants already at the current migration set cost one query in all.
            let options = MigrateOptions::for_tenancy(&tenancy);
            let summary = migrate_tenants(&tenancy, &options, |_| {}).await?;
            for (slug, error) in &summary.failed {
                tracing::error!(tenant = %slug, %error, "migrating the tenant's schema or database failed");
            }
        }
        let mut report = primary_report;
        report
            .problems
            .extend(audit::run_tenant_locations(&tenancy).await?.problems);
        if !report.is_clean() {
            if tenancy.config().dangerously_skip_isolation_audit {
                tracing::error!(
                    "DANGER: starting although the tenant isolation audit failed \
                     (dangerously_skip_isolation_audit is set):\n{report}"
                );
            } else {
                tenancy.close().await;
                return Err(Error::Audit(report));
            }
        }
        Ok(tenancy)
    }
}

#[cfg(test)]
mod send_checks {
    use super::*;

    fn assert_send<T: Send>(_: T) {}

    // Axum handlers and spawned tasks need these futures to be `Send`; this fails to compile
    // the moment one is not.
    #[allow(dead_code)]
    fn futures_are_send(
        owner: &sqlx::PgPool,
        config: &TenancyConfig,
        m: Option<&sqlx::migrate::Migrator>,
    ) {
        assert_send(crate::migrate::migrate_all(owner, m, config));
        assert_send(audit::run(owner, owner, "x"));
        assert_send(Tenancy::start(config.clone(), ResolverChain::new(), m));
    }
}
