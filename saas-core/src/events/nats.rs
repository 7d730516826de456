//! NATS JetStream: a [`Publisher`] for the relay and a consumer loop (feature `nats`).
//!
//! Subjects are `<prefix>.<tenant_id>.<event_type>` (tenancy invariant 7, docs/src/tenancy.md: everything keyed by
//! tenant outside PostgreSQL carries the tenant id), so a consumer can subscribe to one
//! tenant (`events.<id>.>`) or one type across tenants (`events.*.project.created`). Every
//! message carries the event id as `Nats-Msg-Id`: JetStream drops a republished event within
//! the stream's duplicate window, and [`super::consumer::Idempotent`] covers redeliveries
//! beyond it.
//!
//! ```no_run
//! # async fn run(owner: sqlx::PgPool) -> anyhow::Result<()> {
//! use saas_core::events::nats::{NatsConfig, NatsPublisher};
//! use saas_core::events::relay::{Relay, RelayConfig};
//!
//! let publisher = NatsPublisher::connect(NatsConfig::new("nats://127.0.0.1:4222")).await?;
//! let relay = Relay::new(&owner, publisher, RelayConfig::default()).spawn();
//! // ... serve ...
//! relay.shutdown().await;
//! # Ok(()) }
//! ```

use std::time::Duration;

use async_nats::jetstream::consumer::{AckPolicy, pull};
use async_nats::jetstream::context::PublishErrorKind;
use async_nats::jetstream::message::PublishMessage;
use async_nats::jetstream::stream::{Config as StreamConfig, Stream};
use async_nats::jetstream::{self, AckKind, Context};
use futures_util::StreamExt;
use futures_util::future::{BoxFuture, join_all};
use tokio::sync::OnceCell;
use tokio::sync::watch;

use super::EventEnvelope;
use super::consumer::EventHandler;
use super::publish::{PublishError, Publisher};

/// Where and how to publish.
#[derive(Debug, Clone)]
pub struct NatsConfig {
    /// The server, e.g. `nats://127.0.0.1:4222`.
    pub url: String,
    /// The first subject token (default `events`).
    pub subject_prefix: String,
    /// The JetStream stream capturing `<prefix>.>` (default `SAAS_EVENTS`), created if missing.
    pub stream: String,
    /// How long JetStream remembers message ids to drop duplicates (default 2 minutes).
    pub duplicate_window: Duration,
    /// How long to wait for the broker's acknowledgement of a publication (default 5 s).
    pub ack_timeout: Duration,
}

impl NatsConfig {
    /// Defaults for a server URL.
    pub fn new(url: impl Into<String>) -> Self {
        NatsConfig {
            url: url.into(),
            subject_prefix: "events".into(),
            stream: "SAAS_EVENTS".into(),
            duplicate_window: Duration::from_secs(120),
            ack_timeout: Duration::from_secs(5),
        }
    }

    /// The subject of one event.
    pub fn subject(&self, event: &EventEnvelope) -> String {
        format!(
            "{}.{}.{}",
            self.subject_prefix,
            event.tenant_id,
            subject_token(&event.event_type)
        )
    }
}

/// Event types are dotted names (`project.created`): each part becomes a subject token.
/// Characters NATS gives meaning to (space, `*`, `>`) are replaced by `_`.
fn subject_token(event_type: &str) -> String {
    event_type
        .chars()
        .map(|c| match c {
            ' ' | '\t' | '\r' | '\n' | '*' | '>' => '_',
            c => c,
        })
        .collect()
}

/// Publishes events to JetStream; a broker that is down is a transient failure (the relay
/// keeps the events and retries), the client reconnects by itself.
#[derive(Debug)]
pub struct NatsPublisher {
    context: Context,
    config: NatsConfig,
    stream: OnceCell<()>,
}

impl NatsPublisher {
    /// Connects (retrying in the background if the server is not up yet: the app starts
    /// anyway and events wait in the outbox).
    pub async fn connect(config: NatsConfig) -> anyhow::Result<NatsPublisher> {
        let client = async_nats::ConnectOptions::new()
            .retry_on_initial_connect()
            .connection_timeout(Duration::from_secs(2))
            .connect(config.url.as_str())
            .await?;
        Ok(NatsPublisher::new(client, config))
    }

    /// Uses an existing client.
    pub fn new(client: async_nats::Client, config: NatsConfig) -> NatsPublisher {
        let mut context = jetstream::new(client);
        context.set_timeout(config.ack_timeout);
        NatsPublisher {
            context,
            config,
            stream: OnceCell::new(),
        }
    }

    /// The JetStream context (to create consumers on the same connection).
    pub fn context(&self) -> &Context {
        &self.context
    }

    /// The configuration.
    pub fn config(&self) -> &NatsConfig {
        &self.config
    }

    /// Creates the stream if it does not exist.
    pub async fn ensure_stream(&self) -> anyhow::Result<Stream> {
        ensure_stream(&self.context, &self.config).await
    }
}

/// The stream capturing `<prefix>.>`, created if missing.
pub async fn ensure_stream(context: &Context, config: &NatsConfig) -> anyhow::Result<Stream> {
    Ok(context
        .get_or_create_stream(StreamConfig {
            name: config.stream.clone(),
            subjects: vec![format!("{}.>", config.subject_prefix)],
            duplicate_window: config.duplicate_window,
            ..Default::default()
        })
        .await?)
}

fn classify(kind: PublishErrorKind, message: String) -> PublishError {
    match kind {
        PublishErrorKind::TimedOut
        | PublishErrorKind::BrokenPipe
        | PublishErrorKind::StreamNotFound
        | PublishErrorKind::MaxAckPending => PublishError::transient(message),
        _ => PublishError::rejected(message),
    }
}

impl Publisher for NatsPublisher {
    fn publish<'a>(
        &'a self,
        events: &'a [EventEnvelope],
    ) -> BoxFuture<'a, Vec<Result<(), PublishError>>> {
        Box::pin(async move {
            if let Err(e) = self
                .stream
                .get_or_try_init(|| async { self.ensure_stream().await.map(|_| ()) })
                .await
            {
                let error = PublishError::transient(format!("JetStream stream unavailable: {e}"));
                return events.iter().map(|_| Err(error.clone())).collect();
            }
            // Send the whole wave, then wait for the acknowledgements together.
            let mut pending = Vec::with_capacity(events.len());
            for event in events {
                let body = match serde_json::to_vec(event) {
                    Ok(body) => body,
                    Err(e) => {
                        pending.push(Err(PublishError::rejected(e)));
                        continue;
                    }
                };
                let message = PublishMessage::build()
                    .payload(body.into())
                    .message_id(event.id.to_string());
                let sent = self
                    .context
                    .send_publish(self.config.subject(event), message)
                    .await;
                pending.push(sent.map_err(|e| classify(e.kind(), e.to_string())));
            }
            join_all(pending.into_iter().map(|sent| async move {
                match sent {
                    Ok(ack) => ack
                        .await
                        .map(|_| ())
                        .map_err(|e| classify(e.kind(), e.to_string())),
                    Err(e) => Err(e),
                }
            }))
            .await
        })
    }

    fn name(&self) -> &'static str {
        "nats"
    }
}

/// A durable pull consumer on the events stream that feeds every message to `handler`:
/// acknowledged when the handler succeeds, redelivered (after `retry_delay`) when it fails,
/// terminated when the message is not an event at all. Runs until `stop` turns true.
///
/// Use an [`super::consumer::Idempotent`] handler: JetStream redelivers what was not
/// acknowledged (a crash between the handler's commit and the ack, for example).
pub async fn run_consumer(
    context: &Context,
    config: &NatsConfig,
    durable: &str,
    filter_subject: Option<String>,
    handler: impl EventHandler,
    mut stop: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let stream = ensure_stream(context, config).await?;
    let consumer = stream
        .get_or_create_consumer(
            durable,
            pull::Config {
                durable_name: Some(durable.to_string()),
                ack_policy: AckPolicy::Explicit,
                ack_wait: Duration::from_secs(30),
                filter_subject: filter_subject.unwrap_or_default(),
                ..Default::default()
            },
        )
        .await?;
    let mut messages = consumer.messages().await?;
    let retry_delay = Duration::from_secs(1);
    loop {
        let next = tokio::select! {
            _ = stop.changed() => return Ok(()),
            next = messages.next() => next,
        };
        let Some(message) = next else {
            return Ok(());
        };
        let message = match message {
            Ok(m) => m,
            Err(e) => {
                tracing::warn!(error = %e, "NATS consumer: receiving failed; retrying");
                continue;
            }
        };
        let event: EventEnvelope = match serde_json::from_slice(&message.payload) {
            Ok(event) => event,
            Err(e) => {
                tracing::warn!(subject = %message.subject, error = %e, "not an event; dropping it");
                let _ = message.ack_with(AckKind::Term).await;
                continue;
            }
        };
        match handler.handle(&event).await {
            Ok(()) => {
                if let Err(e) = message.double_ack().await {
                    tracing::warn!(event = %event.id, error = %e, "ack failed; the event will be redelivered");
                }
            }
            Err(e) => {
                tracing::warn!(event = %event.id, error = %e, "handler failed; redelivering");
                let _ = message.ack_with(AckKind::Nak(Some(retry_delay))).await;
            }
        }
    }
}
