//! The message bus every Rosey part talks through: one interface, [`Bus`], with two
//! implementations that keep the same semantics for the operations Rosey uses —
//! publish, subscribe (with `*`/`>` wildcards and queue groups), and request/reply with a
//! timeout and a distinct "no responders" error.
//!
//! # Layout
//! - [`nats`]: the production bus on the official `async-nats` client, with the connection
//!   options of SPEC §2 ([`NatsOptions`]); credentials never reach a log line.
//! - [`embedded`]: an in-process bus for one-process mode and demos.
//! - [`durable`]: the `ROSEY_DB` JetStream stream and the `Nats-Msg-Id` header (SPEC §3.4).
//! - [`outbox`]: durable publishing into that stream, in order, retried, batched in bursts.
//! - [`batch`]: the `rosey.db.batch` message format (several events in one stream message).
//! - [`pattern`]: NATS subject syntax and wildcard matching (used by the embedded bus).
//!
//! The bus is an enum rather than a trait object: two implementations are known, the
//! enum keeps `async fn` simple, and callers can reach the NATS client for what only NATS
//! has (JetStream, the micro-service API).

use std::time::Duration;

use bytes::Bytes;
use futures::{Stream, StreamExt};

pub mod batch;
pub mod durable;
pub mod embedded;
pub mod nats;
pub mod outbox;
pub mod pattern;

pub use async_nats::HeaderMap;
pub use embedded::EmbeddedBus;
pub use nats::{NatsBus, NatsOptions, TlsOptions};

/// A message as delivered to a subscriber.
#[derive(Debug, Clone)]
pub struct Message {
    pub subject: String,
    /// Where a reply should go (request/reply), if anywhere.
    pub reply: Option<String>,
    pub payload: Bytes,
    pub headers: Option<HeaderMap>,
}

/// What can go wrong on the bus. Messages never include credentials.
#[derive(Debug, thiserror::Error)]
pub enum BusError {
    /// A request got no reply in time.
    #[error("request to `{subject}` timed out after {timeout:?}")]
    Timeout { subject: String, timeout: Duration },
    /// Nobody is subscribed to the request subject.
    #[error("no responders for `{subject}`")]
    NoResponders { subject: String },
    /// The subject is not valid NATS syntax.
    #[error("invalid subject `{0}`")]
    InvalidSubject(String),
    /// Could not connect to the NATS server(s).
    #[error("cannot connect to NATS at {servers}: {reason}")]
    Connect { servers: String, reason: String },
    /// The server answered but refused us (wrong credentials, an expired or revoked creds
    /// file, an untrusted certificate): retrying cannot help, so this is never retried.
    #[error("NATS at {servers} refused the connection: {reason}")]
    Refused { servers: String, reason: String },
    /// A bad option (e.g. unreadable creds file).
    #[error("invalid NATS option: {0}")]
    Options(String),
    /// The operation failed on the connection.
    #[error("{op} failed: {reason}")]
    Io { op: &'static str, reason: String },
    /// The bus was closed.
    #[error("the bus is closed")]
    Closed,
}

impl BusError {
    /// True for errors that mean "nobody answered" (timeout or no responders): callers
    /// usually treat both as "service unavailable".
    pub fn is_unavailable(&self) -> bool {
        matches!(
            self,
            BusError::Timeout { .. } | BusError::NoResponders { .. }
        )
    }
}

/// A handle to the bus. Cheap to clone; clones share the connection.
#[derive(Clone, Debug)]
pub enum Bus {
    Nats(NatsBus),
    Embedded(EmbeddedBus),
}

impl Bus {
    /// A fresh in-process bus.
    pub fn embedded() -> Bus {
        Bus::Embedded(EmbeddedBus::new())
    }

    /// Connects to NATS with the given options.
    pub async fn connect(options: NatsOptions) -> Result<Bus, BusError> {
        Ok(Bus::Nats(NatsBus::connect(options).await?))
    }

    /// Publishes a message (fire and forget).
    pub async fn publish(&self, subject: &str, payload: impl Into<Bytes>) -> Result<(), BusError> {
        match self {
            Bus::Nats(b) => b.publish(subject, payload.into(), None).await,
            Bus::Embedded(b) => b
                .publish(subject, payload.into(), None, None)
                .await
                .map(drop),
        }
    }

    /// Publishes with headers (e.g. `Nats-Msg-Id` for de-duplication).
    pub async fn publish_with_headers(
        &self,
        subject: &str,
        headers: HeaderMap,
        payload: impl Into<Bytes>,
    ) -> Result<(), BusError> {
        match self {
            Bus::Nats(b) => b.publish(subject, payload.into(), Some(headers)).await,
            Bus::Embedded(b) => b
                .publish(subject, payload.into(), Some(headers), None)
                .await
                .map(drop),
        }
    }

    /// Subscribes to a subject (wildcards allowed). Every subscriber gets every message.
    pub async fn subscribe(&self, subject: &str) -> Result<Subscription, BusError> {
        match self {
            Bus::Nats(b) => b.subscribe(subject, None).await,
            Bus::Embedded(b) => b.subscribe(subject, None),
        }
    }

    /// Joins a queue group: each message reaches exactly one member of the group.
    pub async fn queue_subscribe(
        &self,
        subject: &str,
        queue: &str,
    ) -> Result<Subscription, BusError> {
        match self {
            Bus::Nats(b) => b.subscribe(subject, Some(queue)).await,
            Bus::Embedded(b) => b.subscribe(subject, Some(queue)),
        }
    }

    /// Sends a request and waits up to `timeout` for the first reply.
    pub async fn request(
        &self,
        subject: &str,
        payload: impl Into<Bytes>,
        timeout: Duration,
    ) -> Result<Message, BusError> {
        match self {
            Bus::Nats(b) => b.request(subject, payload.into(), timeout).await,
            Bus::Embedded(b) => b.request(subject, payload.into(), timeout).await,
        }
    }

    /// Answers a request. A message without a reply subject is ignored (it was published,
    /// not requested), which is not an error.
    pub async fn respond(
        &self,
        request: &Message,
        payload: impl Into<Bytes>,
    ) -> Result<(), BusError> {
        match &request.reply {
            Some(reply) => self.publish(reply, payload).await,
            None => Ok(()),
        }
    }

    /// Waits until everything published so far has reached the server (NATS) or the
    /// subscribers' queues (embedded).
    pub async fn flush(&self) -> Result<(), BusError> {
        match self {
            Bus::Nats(b) => b.flush().await,
            Bus::Embedded(_) => Ok(()),
        }
    }

    /// Is the bus usable right now? (NATS: connected; embedded: always.)
    pub fn is_connected(&self) -> bool {
        match self {
            Bus::Nats(b) => b.is_connected(),
            Bus::Embedded(_) => true,
        }
    }

    /// The NATS client, for what only NATS has (JetStream, the micro-service API).
    pub fn nats_client(&self) -> Option<&async_nats::Client> {
        match self {
            Bus::Nats(b) => Some(b.client()),
            Bus::Embedded(_) => None,
        }
    }

    /// "nats" or "embedded", for logs.
    pub fn kind(&self) -> &'static str {
        match self {
            Bus::Nats(_) => "nats",
            Bus::Embedded(_) => "embedded",
        }
    }
}

/// A stream of messages for one subscription. Dropping it unsubscribes.
pub struct Subscription {
    inner: SubscriptionInner,
}

enum SubscriptionInner {
    Nats(async_nats::Subscriber),
    Embedded(embedded::EmbeddedSubscription),
}

impl Subscription {
    /// The next message, or `None` when the subscription is closed.
    pub async fn next(&mut self) -> Option<Message> {
        StreamExt::next(self).await
    }

    /// Unsubscribes now (dropping does the same).
    pub async fn unsubscribe(self) {
        if let SubscriptionInner::Nats(mut s) = self.inner {
            let _ = s.unsubscribe().await;
        }
    }
}

impl Stream for Subscription {
    type Item = Message;

    fn poll_next(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Message>> {
        match &mut self.get_mut().inner {
            SubscriptionInner::Nats(s) => s.poll_next_unpin(cx).map(|m| m.map(nats::from_nats)),
            SubscriptionInner::Embedded(s) => s.poll_recv(cx),
        }
    }
}
