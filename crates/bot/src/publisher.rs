//! Publishing from the bot: `rosey.db.*` events (with `channel`, `ts` and a unique `id`) and
//! normalized events on `rosey.events.<channel>.<kind>`.
//!
//! Plain mode is at-most-once: a publish that cannot complete within
//! [`PUBLISH_TIMEOUT`] (bus down) is counted and logged once
//! per outage, and the bot carries on serving the channel.

use std::sync::{
    Arc,
    atomic::{AtomicBool, AtomicU64, Ordering},
};

use rosey_bus::Bus;
use rosey_model::{EventBody, NormalizedEvent, encode};
use serde::Serialize;

use rosey_bus::durable::msg_id_headers;
use rosey_bus::outbox::Outbox;

use crate::{breaker::BreakerSettings, instruments::ChannelMetrics};

/// How long a publish may wait on a disconnected bus before the event is counted as lost
/// (plain mode is at-most-once; the bot must keep serving the channel meanwhile).
pub const PUBLISH_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(1);

/// Unique event ids: a random per-process prefix and a counter.
#[derive(Debug)]
pub struct EventIds {
    prefix: String,
    next: AtomicU64,
}

impl EventIds {
    pub fn new() -> Self {
        EventIds {
            prefix: format!("{:016x}", rand::random::<u64>()),
            next: AtomicU64::new(1),
        }
    }

    /// The next id, e.g. `3f2a…-42`.
    pub fn next(&self) -> String {
        format!(
            "{}-{}",
            self.prefix,
            self.next.fetch_add(1, Ordering::Relaxed)
        )
    }
}

impl Default for EventIds {
    fn default() -> Self {
        Self::new()
    }
}

/// Counters of what the publisher did.
#[derive(Debug, Default)]
pub struct PublishStats {
    pub published: AtomicU64,
    pub failed: AtomicU64,
}

/// Publishes for one channel.
#[derive(Clone)]
pub struct Publisher {
    bus: Bus,
    /// Durable mode: database events go through the JetStream outbox.
    outbox: Option<Outbox>,
    channel: Arc<str>,
    ids: Arc<EventIds>,
    stats: Arc<PublishStats>,
    /// Set while publishing fails, so the failure is logged once per outage.
    failing: Arc<AtomicBool>,
    /// The channel's metrics and database breaker.
    metrics: Arc<ChannelMetrics>,
}

pub use crate::platform::now;

/// Payloads the publisher can stamp with the envelope.
pub trait Stamp {
    fn stamp(&mut self, channel: &str, ts: f64, id: String);
}

macro_rules! stamp {
    ($($t:ty),*) => {$(
        impl Stamp for $t {
            fn stamp(&mut self, channel: &str, ts: f64, id: String) {
                self.channel = Some(channel.to_string());
                self.ts = Some(ts);
                self.id = Some(id);
            }
        }
    )*};
}

use rosey_model::payload::*;
stamp!(
    UserJoined,
    UserLeft,
    MessageLog,
    UserCount,
    HighWater,
    StatusUpdate,
    MarkSent,
    MarkFailed,
    PmCommand,
    MediaPlayed
);

impl Publisher {
    pub fn new(bus: Bus, channel: &str, ids: Arc<EventIds>) -> Self {
        Publisher {
            bus,
            outbox: None,
            channel: channel.into(),
            ids,
            stats: Arc::new(PublishStats::default()),
            failing: Arc::new(AtomicBool::new(false)),
            metrics: Arc::new(ChannelMetrics::new(channel, BreakerSettings::default())),
        }
    }

    /// Uses these breaker settings for the channel's database queries.
    pub fn with_breaker(mut self, settings: BreakerSettings) -> Self {
        self.metrics = Arc::new(ChannelMetrics::new(&self.channel, settings));
        self
    }

    /// The channel's metrics (and its database breaker).
    pub fn metrics(&self) -> &Arc<ChannelMetrics> {
        &self.metrics
    }

    /// Sends database events through `outbox` (durable mode).
    pub fn with_outbox(mut self, outbox: Outbox) -> Self {
        self.outbox = Some(outbox);
        self
    }

    pub fn channel(&self) -> &str {
        &self.channel
    }

    pub fn bus(&self) -> &Bus {
        &self.bus
    }

    pub fn stats(&self) -> &PublishStats {
        &self.stats
    }

    /// Publishes a `rosey.db.*` event, stamped with channel, `ts` and a fresh id.
    pub async fn db<T: Serialize + Stamp>(&self, subject: &str, mut payload: T, ts: f64) {
        let id = self.ids.next();
        payload.stamp(&self.channel, ts, id.clone());
        let bytes = encode(&payload);
        match &self.outbox {
            Some(outbox) => outbox.push(subject, id, bytes.into()),
            None => self.send(subject, bytes, Some(&id)).await,
        }
    }

    /// Publishes the channel's user counts now (`rosey.db.stats.user_count`).
    pub async fn user_count(&self, chat: i64, connected: i64, ts: f64) {
        let uc = rosey_model::payload::UserCount {
            chat_count: chat,
            connected_count: connected,
            channel: None,
            ts: None,
            id: None,
        };
        self.db(rosey_model::subjects::STATS_USER_COUNT, uc, ts)
            .await;
    }

    /// Publishes the bot's view of the channel (`rosey.db.status.update`).
    pub async fn status(&self, data: rosey_model::payload::StatusData, ts: f64) {
        let update = rosey_model::payload::StatusUpdate {
            status_data: data,
            channel: None,
            ts: None,
            id: None,
        };
        self.db(rosey_model::subjects::STATUS_UPDATE, update, ts)
            .await;
    }

    /// Publishes a high-water candidate (`rosey.db.stats.high_water`); the service keeps maxima.
    pub async fn high_water(&self, chat: i64, connected: Option<i64>, ts: f64) {
        let hw = rosey_model::payload::HighWater {
            chat_count: chat,
            connected_count: connected,
            channel: None,
            ts: None,
            id: None,
        };
        self.db(rosey_model::subjects::STATS_HIGH_WATER, hw, ts)
            .await;
    }

    /// Publishes a normalized event on `rosey.events.<channel>.<kind>`.
    pub async fn event(&self, body: EventBody, ts: f64) {
        let event = NormalizedEvent {
            channel: self.channel.to_string(),
            ts,
            id: self.ids.next(),
            body,
        };
        self.send(&event.subject(), encode(&event), None).await;
    }

    async fn send(&self, subject: &str, bytes: Vec<u8>, id: Option<&str>) {
        let publish = async {
            match (id, self.bus.nats_client()) {
                // The id header lets a JetStream stream (if one captures the subject) drop
                // duplicates even for events published in plain mode.
                (Some(id), Some(_)) => {
                    self.bus
                        .publish_with_headers(subject, msg_id_headers(id), bytes)
                        .await
                }
                _ => self.bus.publish(subject, bytes).await,
            }
        };
        let result = tokio::time::timeout(PUBLISH_TIMEOUT, publish).await;
        match result {
            Ok(Ok(())) => {
                self.stats.published.fetch_add(1, Ordering::Relaxed);
                if self.failing.swap(false, Ordering::Relaxed) {
                    tracing::info!(channel = %self.channel, "Publishing to the bus works again.");
                }
            }
            Ok(Err(e)) => self.failed(subject, &e.to_string()),
            Err(_) => self.failed(subject, "timed out (bus unreachable?)"),
        }
    }

    fn failed(&self, subject: &str, why: &str) {
        self.stats.failed.fetch_add(1, Ordering::Relaxed);
        if !self.failing.swap(true, Ordering::Relaxed) {
            tracing::warn!(channel = %self.channel, subject, error = why, "Publishing to the bus failed; events are dropped until it recovers (plain mode).");
        }
    }
}
