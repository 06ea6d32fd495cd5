//! The ordered ingest consumer: ONE subscription to `rosey.db.>` in the queue group
//! `rosey-db`, read by one task, feeding the writer in arrival order.
//!
//! One subscription (not one per subject) is what keeps order across subjects: the original
//! ran a task per subject, so a `message.log` could overtake the `user.joined` it depended
//! on. Several service instances share the events through the queue group; each event
//! reaches one instance and is written once.
//!
//! Query subjects also match the wildcard; they are left to the query endpoints (which use a
//! different queue group name, see `config`). Unknown `rosey.db.*` subjects and bad payloads
//! are counted, and answered with `{success:false, error}` when the sender asked for a reply.

use std::sync::Arc;

use futures::FutureExt;
use rosey_bus::{Bus, Message, Subscription};
use rosey_model::payload::ErrorReply;
use rosey_model::{encode, subjects};
use rosey_store::now_secs;
use tokio::sync::watch;

use crate::counters::Counters;
use crate::decode::{EventError, decode_event};
use crate::writer::{IngestItem, IngestSender};

pub(crate) struct Ingest {
    pub bus: Bus,
    pub sub: Subscription,
    pub writer: IngestSender,
    pub counters: Arc<Counters>,
    pub default_channel: String,
}

impl Ingest {
    /// Reads until `stop` flips (then drains what the client already holds) or the
    /// subscription ends.
    pub async fn run(mut self, mut stop: watch::Receiver<bool>) {
        loop {
            tokio::select! {
                biased;
                _ = stop.changed() => break,
                m = self.sub.next() => match m {
                    Some(m) => {
                        if !self.handle(m).await {
                            return;
                        }
                    }
                    None => return,
                },
            }
        }
        // Shutdown: take what already arrived, so a received event is not dropped.
        while let Some(Some(m)) = self.sub.next().now_or_never() {
            if !self.handle(m).await {
                return;
            }
        }
    }

    /// Handles one message; false when the writer is gone.
    async fn handle(&self, m: Message) -> bool {
        if subjects::is_db_query(&m.subject) {
            return true;
        }
        let event = decode_event(&m.subject, &m.payload, &self.default_channel, now_secs());
        match event {
            Ok(event) => {
                Counters::add(&self.counters.received, 1);
                self.counters.metrics.received.inc(event.kind.index());
                if self.writer.send(IngestItem::new(event)).await.is_err() {
                    return false;
                }
                if m.reply.is_some() {
                    let _ = self.bus.respond(&m, &br#"{"success":true}"#[..]).await;
                }
            }
            Err(e) => {
                if !matches!(e, EventError::UnknownSubject(_)) {
                    Counters::add(&self.counters.received, 1);
                }
                self.counters.reject(e.kind(), &m.subject, &e.to_string());
                if m.reply.is_some() {
                    let _ = self
                        .bus
                        .respond(&m, encode(&ErrorReply::new(e.to_string())))
                        .await;
                }
            }
        }
        true
    }
}
