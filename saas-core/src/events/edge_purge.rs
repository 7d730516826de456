//! Purging a shared cache (Varnish, a CDN) from domain events, through the outbox relay.
//!
//! A route that opts into edge caching ([`crate::http::edge::EdgeCached`]) is kept by the edge
//! under the tenant's surrogate key and its resource keys. When the resource changes, the
//! transaction that changed it emits a domain event into the outbox; the relay hands it to an
//! [`EdgePurger`], which asks the edge to drop the entries that carry **both** the event's
//! tenant key and one of its resource keys. A purge is a publish like any other: it counts as
//! done only when the edge answered `2xx`, and an edge that cannot be reached leaves the event
//! in the outbox (a transient failure: retried with backoff, never parked) — a purge is
//! delayed by an outage, never lost.
//!
//! The request is the one `deploy/edge/default.vcl` understands: `PURGE <url>` with
//! `Surrogate-Key-Tenant: tenant-<id>` and `Surrogate-Key-Purge: <keys…>`. [`Fanout`] sends the
//! same events to the purger and to the application's own publisher (in-process bus, NATS).

use std::sync::Arc;

use futures_util::future::{BoxFuture, join_all};

use super::EventEnvelope;
use super::publish::{PublishError, Publisher};

/// Which resource keys an event makes stale.
type KeysFn = dyn Fn(&EventEnvelope) -> Vec<String> + Send + Sync;

/// The default keys of an event: for `project.created` on aggregate `A`, `project-A` (the
/// resource) and `project-list` (its lists). The tenant's key is added by the purger.
pub fn default_keys(event: &EventEnvelope) -> Vec<String> {
    let resource = event
        .event_type
        .split('.')
        .next()
        .unwrap_or(&event.event_type);
    vec![
        format!("{resource}-{}", event.aggregate_id),
        format!("{resource}-list"),
    ]
}

/// A [`Publisher`] that purges the edge's entries an event makes stale (see the module).
#[derive(Clone)]
pub struct EdgePurger {
    client: reqwest::Client,
    url: String,
    keys: Arc<KeysFn>,
}

impl std::fmt::Debug for EdgePurger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EdgePurger")
            .field("url", &self.url)
            .finish()
    }
}

impl EdgePurger {
    /// Purges through `url` (the edge's address, e.g. `http://varnish:6081/`), with the
    /// [`default_keys`] of each event and a 5 s timeout per request.
    pub fn new(url: impl Into<String>) -> crate::Result<EdgePurger> {
        let client = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(5))
            .build()
            .map_err(|e| crate::Error::Config {
                var: None,
                reason: format!("the edge purge client: {e}"),
            })?;
        Ok(EdgePurger {
            client,
            url: url.into(),
            keys: Arc::new(default_keys),
        })
    }

    /// With another mapping from an event to the resource keys it makes stale.
    pub fn keys(
        mut self,
        keys: impl Fn(&EventEnvelope) -> Vec<String> + Send + Sync + 'static,
    ) -> Self {
        self.keys = Arc::new(keys);
        self
    }

    async fn purge(&self, event: &EventEnvelope) -> Result<(), PublishError> {
        let keys: Vec<String> = (self.keys)(event)
            .into_iter()
            .filter(|k| crate::http::edge::is_key(k))
            .collect();
        if keys.is_empty() {
            return Ok(());
        }
        let method = reqwest::Method::from_bytes(b"PURGE").expect("a valid method name");
        let response = self
            .client
            .request(method, &self.url)
            .header(
                "Surrogate-Key-Tenant",
                format!("tenant-{}", event.tenant_id),
            )
            .header("Surrogate-Key-Purge", keys.join(" "))
            .send()
            .await
            .map_err(|e| PublishError::transient(format!("edge purge: {e}")))?;
        let status = response.status();
        if status.is_success() {
            Ok(())
        } else if status.is_server_error() {
            Err(PublishError::transient(format!("edge purge: {status}")))
        } else {
            Err(PublishError::rejected(format!(
                "edge purge refused: {status}"
            )))
        }
    }
}

impl Publisher for EdgePurger {
    fn publish<'a>(
        &'a self,
        events: &'a [EventEnvelope],
    ) -> BoxFuture<'a, Vec<Result<(), PublishError>>> {
        Box::pin(join_all(events.iter().map(|event| self.purge(event))))
    }

    fn name(&self) -> &'static str {
        "edge-purge"
    }
}

/// Several publishers as one: an event is published when every one of them published it.
/// A failure of any is the event's failure (transient when one of them was unreachable), and
/// the relay retries the event for all of them, so each must tolerate duplicates (NATS
/// deduplicates by event id, purges are idempotent).
#[derive(Default)]
pub struct Fanout {
    publishers: Vec<Box<dyn Publisher>>,
}

impl std::fmt::Debug for Fanout {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.publishers.iter().map(|p| p.name()))
            .finish()
    }
}

impl Fanout {
    /// No publisher yet.
    pub fn new() -> Fanout {
        Fanout::default()
    }

    /// With `publisher` too.
    pub fn with(mut self, publisher: impl Publisher) -> Fanout {
        self.publishers.push(Box::new(publisher));
        self
    }
}

impl Publisher for Fanout {
    fn publish<'a>(
        &'a self,
        events: &'a [EventEnvelope],
    ) -> BoxFuture<'a, Vec<Result<(), PublishError>>> {
        Box::pin(async move {
            let outcomes = join_all(self.publishers.iter().map(|p| p.publish(events))).await;
            (0..events.len())
                .map(|i| {
                    let failures: Vec<&PublishError> = outcomes
                        .iter()
                        .filter_map(|results| results.get(i).and_then(|r| r.as_ref().err()))
                        .collect();
                    if failures.is_empty() {
                        return Ok(());
                    }
                    let message = failures
                        .iter()
                        .map(|e| e.message.as_str())
                        .collect::<Vec<_>>()
                        .join("; ");
                    if failures.iter().any(|e| e.transient) {
                        Err(PublishError::transient(message))
                    } else {
                        Err(PublishError::rejected(message))
                    }
                })
                .collect()
        })
    }

    fn name(&self) -> &'static str {
        "fanout"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(event_type: &str) -> EventEnvelope {
        EventEnvelope {
            id: uuid::Uuid::nil(),
            tenant_id: crate::tenant_id::TenantId::from(uuid::Uuid::nil()),
            event_type: event_type.into(),
            schema_version: 1,
            aggregate_id: uuid::Uuid::from_u128(7),
            occurred_at: time::OffsetDateTime::UNIX_EPOCH,
            payload: serde_json::Value::Null,
        }
    }

    #[test]
    fn default_keys_name_the_resource_and_its_lists() {
        assert_eq!(
            default_keys(&event("project.updated")),
            [
                "project-00000000-0000-0000-0000-000000000007".to_string(),
                "project-list".to_string()
            ]
        );
    }

    #[tokio::test]
    async fn an_edge_that_cannot_be_reached_is_a_transient_failure() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let purger = EdgePurger::new(format!("http://127.0.0.1:{port}/")).unwrap();
        let results = purger.publish(&[event("project.updated")]).await;
        let error = results[0].as_ref().unwrap_err();
        assert!(error.transient, "{error}");
    }

    #[tokio::test]
    async fn an_event_without_a_purgeable_key_purges_nothing() {
        let purger = EdgePurger::new("http://127.0.0.1:9/")
            .unwrap()
            .keys(|_| vec!["not a (token)".to_string()]);
        assert!(purger.publish(&[event("x.y")]).await[0].is_ok());
    }

    struct Fixed(Vec<Result<(), PublishError>>);

    impl Publisher for Fixed {
        fn publish<'a>(
            &'a self,
            _events: &'a [EventEnvelope],
        ) -> BoxFuture<'a, Vec<Result<(), PublishError>>> {
            Box::pin(async move { self.0.clone() })
        }
        fn name(&self) -> &'static str {
            "fixed"
        }
    }

    #[tokio::test]
    async fn fanout_publishes_an_event_only_when_every_publisher_did() {
        let events = [event("a.x"), event("b.x"), event("c.x")];
        let fanout = Fanout::new()
            .with(Fixed(vec![
                Ok(()),
                Err(PublishError::transient("down")),
                Err(PublishError::rejected("no")),
            ]))
            .with(Fixed(vec![Ok(()), Ok(()), Ok(())]));
        let results = fanout.publish(&events).await;
        assert!(results[0].is_ok());
        assert!(results[1].as_ref().unwrap_err().transient);
        assert!(!results[2].as_ref().unwrap_err().transient);
    }
}
