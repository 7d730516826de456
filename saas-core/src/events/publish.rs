//! Where the relay sends events: the [`Publisher`] trait and the in-process bus.
//!
//! A publisher receives events in *waves*: at most one event per aggregate in a wave, so it
//! may send a wave's events concurrently without breaking per-aggregate order. It answers one
//! result per event; an event counts as published only when its result is `Ok` (for a broker:
//! when the broker acknowledged storing it; for the in-process bus: when every subscriber
//! handled it). Delivery is at-least-once: make consumers idempotent
//! ([`super::consumer::Idempotent`]).

use std::sync::{Arc, RwLock};

use futures_util::future::{BoxFuture, join_all};

use super::EventEnvelope;
use super::consumer::EventHandler;

/// Why one event was not published. The relay records it and retries with backoff.
///
/// *Rejected* events (a subscriber failed, the broker refused the message) count as attempts
/// and are parked after `max_attempts`. *Transient* failures (the broker is unreachable) leave
/// the event untouched: an outage never parks events, the relay just backs off.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct PublishError {
    /// What went wrong.
    pub message: String,
    /// Whether the destination was unreachable rather than refusing this event.
    pub transient: bool,
}

impl PublishError {
    /// The destination refused or failed this event.
    pub fn rejected(message: impl std::fmt::Display) -> Self {
        PublishError {
            message: message.to_string(),
            transient: false,
        }
    }

    /// The destination could not be reached; nothing is wrong with the event.
    pub fn transient(message: impl std::fmt::Display) -> Self {
        PublishError {
            message: message.to_string(),
            transient: true,
        }
    }
}

/// A destination for events. See the module documentation for the contract.
pub trait Publisher: Send + Sync + 'static {
    /// Publishes one wave; the result at index `i` is the outcome of `events[i]`.
    fn publish<'a>(
        &'a self,
        events: &'a [EventEnvelope],
    ) -> BoxFuture<'a, Vec<Result<(), PublishError>>>;

    /// A short name for logs (`in-process`, `nats`).
    fn name(&self) -> &'static str;
}

/// The default publisher: events go to handlers subscribed in this process. No broker needed.
///
/// An event is published once every subscriber returned `Ok`; if one fails, the event is
/// retried for all of them, so subscribers must be idempotent (wrap them in
/// [`super::consumer::Idempotent`]). With no subscriber, publishing succeeds at once (the
/// audit log keeps the history either way).
///
/// ```
/// use saas_core::events::publish::InProcessBus;
///
/// let bus = InProcessBus::new();
/// bus.subscribe("log", |event: saas_core::events::EventEnvelope| async move {
///     println!("{} for tenant {}", event.event_type, event.tenant_id);
///     Ok(())
/// });
/// assert_eq!(bus.subscribers(), vec!["log".to_string()]);
/// ```
#[derive(Clone, Default)]
pub struct InProcessBus {
    handlers: Arc<RwLock<Vec<Subscriber>>>,
}

/// A subscriber's name and handler.
type Subscriber = (String, Arc<dyn EventHandler>);

impl std::fmt::Debug for InProcessBus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InProcessBus")
            .field("subscribers", &self.subscribers())
            .finish()
    }
}

impl InProcessBus {
    /// A bus with no subscribers.
    pub fn new() -> Self {
        InProcessBus::default()
    }

    /// Adds a subscriber under a name (used in error messages).
    pub fn subscribe(&self, name: impl Into<String>, handler: impl EventHandler) {
        if let Ok(mut handlers) = self.handlers.write() {
            handlers.push((name.into(), Arc::new(handler)));
        }
    }

    /// The subscribers' names, in subscription order.
    pub fn subscribers(&self) -> Vec<String> {
        self.handlers
            .read()
            .map(|h| h.iter().map(|(name, _)| name.clone()).collect())
            .unwrap_or_default()
    }

    fn snapshot(&self) -> Vec<Subscriber> {
        self.handlers.read().map(|h| h.clone()).unwrap_or_default()
    }
}

impl Publisher for InProcessBus {
    fn publish<'a>(
        &'a self,
        events: &'a [EventEnvelope],
    ) -> BoxFuture<'a, Vec<Result<(), PublishError>>> {
        Box::pin(async move {
            let handlers = self.snapshot();
            if handlers.is_empty() {
                return events.iter().map(|_| Ok(())).collect();
            }
            join_all(events.iter().map(|event| {
                let handlers = &handlers;
                async move {
                    let mut failures = Vec::new();
                    for (name, handler) in handlers {
                        if let Err(e) = handler.handle(event).await {
                            failures.push(format!("{name}: {e:#}"));
                        }
                    }
                    if failures.is_empty() {
                        Ok(())
                    } else {
                        Err(PublishError::rejected(failures.join("; ")))
                    }
                }
            }))
            .await
        })
    }

    fn name(&self) -> &'static str {
        "in-process"
    }
}
