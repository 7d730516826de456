//! The supervisor of the tenant databases' relays.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use super::{Relay, RelayConfig, RelayHandle};
use crate::error::ApiResult;
use crate::events::publish::Publisher;

/// Relays for the outboxes of database-tier tenants: a [`Relay`] per tenant database, started
/// and stopped as the registry gains and loses database-tier tenants (checked every `refresh`
/// on the relays' clock). Shared- and schema-tier tenants' events are in the primary
/// database's outbox, which the primary relay serves.
#[derive(Debug)]
pub struct DatabaseRelays {
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl DatabaseRelays {
    /// Starts the supervisor.
    pub fn spawn(
        tenancy: &crate::tenancy::pool::Tenancy,
        publisher: Arc<dyn Publisher>,
        config: RelayConfig,
        refresh: Duration,
    ) -> DatabaseRelays {
        let (stop, mut stopped) = watch::channel(false);
        let tenancy = tenancy.clone();
        let task = tokio::spawn(async move {
            let mut running: HashMap<(String, String), RelayHandle> = HashMap::new();
            loop {
                if tenancy.owner_pool().is_closed() {
                    break;
                }
                match database_locations(&tenancy).await {
                    Ok(wanted) => {
                        let gone: Vec<_> = running
                            .keys()
                            .filter(|k| !wanted.contains(k))
                            .cloned()
                            .collect();
                        for key in gone {
                            if let Some(relay) = running.remove(&key) {
                                relay.shutdown().await;
                            }
                        }
                        for (server, database) in wanted {
                            let key = (server.clone(), database.clone());
                            if running.contains_key(&key) {
                                continue;
                            }
                            let options = match tenancy
                                .provisioner()
                                .servers()
                                .owner_of(&server, &database)
                            {
                                Ok(options) => options,
                                Err(err) => {
                                    tracing::warn!(%server, %database, error = %err, "no relay for a tenant database");
                                    continue;
                                }
                            };
                            let relay =
                                Relay::for_database(options, publisher.clone(), config.clone());
                            running.insert(key, relay.spawn());
                        }
                    }
                    Err(err) => {
                        tracing::warn!(error = %err, "listing tenant databases for their relays failed");
                    }
                }
                tokio::select! {
                    _ = stopped.changed() => break,
                    _ = config.clock.sleep(refresh) => {}
                }
            }
            for (_, relay) in running.drain() {
                relay.shutdown().await;
            }
        });
        DatabaseRelays { stop, task }
    }

    /// Stops every relay after its cycle in progress.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }

    /// Stops at once (the relays' claimed events are published again later).
    pub fn abort(self) {
        self.task.abort();
    }
}

async fn database_locations(
    tenancy: &crate::tenancy::pool::Tenancy,
) -> ApiResult<std::collections::HashSet<(String, String)>> {
    let rows: Vec<(String, String)> = sqlx::query_as(
        "SELECT DISTINCT server, db_name FROM saas.tenants WHERE tier = 'database' AND db_name IS NOT NULL",
    )
    .fetch_all(tenancy.owner_pool())
    .await?;
    Ok(rows.into_iter().collect())
}
