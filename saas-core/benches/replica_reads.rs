//! Read-heavy load with and without a streaming replica, same data, same run: batches of
//! concurrent `ReadTx` reads (`Model::get`) from 8 tasks.
//!
//! - `primary_only` (baseline): no replica configured, every read on the primary;
//! - `with_replica`: one replica; reads go there while it is healthy (the write-free workload
//!   keeps read-your-writes out of the way).
//!
//! Both servers are throwaway clusters on this machine, so they share its cores: the figure
//! shows the routing's cost, not the capacity a replica on its own machine adds.
//!
//! Run: `cargo bench -p saas-core --bench replica_reads`, then
//! `python3 scripts/bench-ratios.py replica_reads primary_only`.

use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use saas_core::prelude::*;
use saas_core::tenancy::ReadTx;
use saas_core::tenancy::pool::{Tenancy, TenancyConfig};
use saas_core::tenancy::registry::NewTenant;
use saas_core::tenancy::resolver::ResolverChain;

#[path = "../tests/it/common/models.rs"]
mod models;
use models::{MIGRATIONS, NewProject, Project};

const BATCH: usize = 400;
const TASKS: usize = 8;

use saas_testkit::free_port;

async fn read_batch(tenancy: &Tenancy, tenant: TenantId, ids: &[Uuid]) {
    let mut tasks = tokio::task::JoinSet::new();
    for t in 0..TASKS {
        let (tenancy, ids) = (tenancy.clone(), ids.to_vec());
        tasks.spawn(async move {
            for n in 0..BATCH / TASKS {
                let mut tx = ReadTx::begin(&tenancy, tenant);
                let id = ids[(t * 31 + n) % ids.len()];
                Project::get(&mut tx, id).await.unwrap();
            }
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.unwrap();
    }
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (primary, with_replica, tenant, ids) = rt.block_on(async {
        let pid = std::process::id();
        let port = free_port();
        let dir = std::env::temp_dir().join(format!("saas-bench-primary-{pid}"));
        let url = saas_core::devdb::start_cluster(&dir, port, pid)
            .await
            .unwrap();
        let config = TenancyConfig::new(url)
            .request_role("saas_app")
            .request_pool_size(8)
            .bound_tenants(0);
        let primary = Tenancy::start(config.clone(), ResolverChain::new(), Some(&MIGRATIONS))
            .await
            .unwrap();
        let tenant = primary
            .tenants()
            .create(NewTenant::new("bench", "bench"))
            .await
            .unwrap();
        let mut ids = Vec::new();
        for n in 0..100 {
            let mut tx = TenantTx::begin(&primary, tenant.id);
            let p = Project::insert(
                &mut tx,
                NewProject {
                    name: format!("p{n}"),
                },
            )
            .await
            .unwrap();
            tx.commit().await.unwrap();
            ids.push(p.id);
        }
        let replica_dir = std::env::temp_dir().join(format!("saas-bench-replica-{pid}"));
        let replica = saas_core::devdb::start_replica(port, &replica_dir, free_port(), pid)
            .await
            .unwrap();
        let mut replicated = config;
        replicated.replicas = vec![replica];
        replicated.migrate_on_start = false;
        let with_replica = Tenancy::start(replicated, ResolverChain::new(), Some(&MIGRATIONS))
            .await
            .unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while !with_replica.replicas().all()[0].is_healthy() {
            assert!(
                std::time::Instant::now() < deadline,
                "the replica never became healthy"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        (primary, with_replica, tenant.id, ids)
    });
    let mut group = c.benchmark_group("replica_reads");
    group
        .sample_size(20)
        .measurement_time(Duration::from_secs(10))
        .throughput(Throughput::Elements(BATCH as u64));
    group.bench_function("primary_only", |b| {
        b.to_async(&rt).iter(|| read_batch(&primary, tenant, &ids))
    });
    group.bench_function("with_replica", |b| {
        b.to_async(&rt)
            .iter(|| read_batch(&with_replica, tenant, &ids))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
