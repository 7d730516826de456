//! The connection pools of a [`Tenancy`], sampled at scrape time.

use sqlx::PgPool;

use crate::tenancy::placement::PRIMARY_SERVER;
use crate::tenancy::pool::Tenancy;

/// One pool's connections now.
pub(crate) struct PoolSample {
    /// `primary`, `replica<N>`, or `<server>/<database>` for a tenant database.
    pub(crate) database: String,
    /// `owner` (migrations, registry), `requests` (the request role's), `bound` (every
    /// tenant-bound pool together: one series, not one per tenant), `tenant_database`.
    pub(crate) pool: &'static str,
    pub(crate) idle: i64,
    pub(crate) in_use: i64,
    pub(crate) max: i64,
}

fn sample_of(database: String, pool_name: &'static str, pools: &[PgPool]) -> PoolSample {
    let mut sample = PoolSample {
        database,
        pool: pool_name,
        idle: 0,
        in_use: 0,
        max: 0,
    };
    for pool in pools {
        let size = i64::from(pool.size());
        let idle = i64::try_from(pool.num_idle()).unwrap_or(i64::MAX).min(size);
        sample.idle += idle;
        sample.in_use += size - idle;
        sample.max += i64::from(pool.options().get_max_connections());
    }
    sample
}

/// Every pool of `tenancy`, by database.
pub(crate) fn sample(tenancy: &Tenancy) -> Vec<PoolSample> {
    let primary = || PRIMARY_SERVER.to_string();
    let mut samples = vec![
        sample_of(
            primary(),
            "owner",
            std::slice::from_ref(tenancy.owner_pool()),
        ),
        sample_of(
            primary(),
            "requests",
            std::slice::from_ref(tenancy.request_pool()),
        ),
        sample_of(primary(), "bound", &tenancy.bound_pools().pools()),
    ];
    for (i, replica) in tenancy.replicas().all().iter().enumerate() {
        samples.push(sample_of(
            format!("replica{i}"),
            "requests",
            std::slice::from_ref(replica.pool()),
        ));
    }
    let mut databases = tenancy.database_pools().pools();
    databases.sort_by(|a, b| a.0.cmp(&b.0));
    for ((server, database), pool) in databases {
        samples.push(sample_of(
            format!("{server}/{database}"),
            "tenant_database",
            std::slice::from_ref(&pool),
        ));
    }
    samples
}
