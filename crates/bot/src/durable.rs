//! Durable publishing (SPEC §3.4, `nats.jetstream: true`): database events go to the
//! `ROSEY_DB` stream with their event id as `Nats-Msg-Id`, and the bot waits for the
//! stream's acknowledgement before moving on to the next one.
//!
//! Events wait in a bounded in-memory outbox while NATS or the stream is unreachable and
//! are retried, in order, with the same id — so a NATS restart loses nothing and a retry
//! after a lost ack is dropped by the stream as a duplicate. One event at a time keeps the
//! per-channel order (a pipelined retry could overtake a later event); a chat bot's rate
//! is far below what that allows.

use std::{
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use async_nats::jetstream;
use bytes::Bytes;
use rosey_bus::durable::{StreamSettings, ensure_db_stream, msg_id_headers};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// Events the outbox holds while NATS is unreachable (hours of a busy channel).
pub const OUTBOX_CAPACITY: usize = 100_000;
/// How long to wait for the stream's acknowledgement before retrying.
const ACK_TIMEOUT: Duration = Duration::from_secs(5);
/// Retry delays.
const RETRY_MIN: Duration = Duration::from_millis(100);
const RETRY_MAX: Duration = Duration::from_secs(2);
/// How long shutdown keeps trying to deliver what is still queued.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(5);

struct Item {
    subject: String,
    id: String,
    payload: Bytes,
}

/// Counters of the outbox.
#[derive(Debug, Default)]
pub struct OutboxStats {
    pub stored: AtomicU64,
    pub duplicates: AtomicU64,
    pub retries: AtomicU64,
    /// Refused because the outbox was full (the only way durable mode drops an event).
    pub overflow: AtomicU64,
}

/// The sending side, shared by every channel's publisher.
#[derive(Clone)]
pub struct Outbox {
    tx: mpsc::Sender<Item>,
    stats: Arc<OutboxStats>,
}

impl Outbox {
    /// Starts the delivery task.
    pub fn start(
        client: async_nats::Client,
        settings: StreamSettings,
        stop: CancellationToken,
    ) -> (Outbox, tokio::task::JoinHandle<()>) {
        let (tx, rx) = mpsc::channel(OUTBOX_CAPACITY);
        let stats = Arc::new(OutboxStats::default());
        let task = tokio::spawn(deliver(client, settings, rx, stats.clone(), stop));
        (Outbox { tx, stats }, task)
    }

    pub fn stats(&self) -> &OutboxStats {
        &self.stats
    }

    /// Events waiting to be stored in the stream.
    pub fn depth(&self) -> usize {
        self.tx.max_capacity().saturating_sub(self.tx.capacity())
    }

    /// Queues an event; never waits. A full outbox refuses it (counted and logged).
    pub fn push(&self, subject: &str, id: String, payload: Bytes) {
        let item = Item {
            subject: subject.to_string(),
            id,
            payload,
        };
        if self.tx.try_send(item).is_err()
            && self.stats.overflow.fetch_add(1, Ordering::Relaxed) == 0
        {
            tracing::error!(
                capacity = OUTBOX_CAPACITY,
                "Durable outbox full: NATS has been unreachable too long; events are being dropped."
            );
        }
    }
}

async fn deliver(
    client: async_nats::Client,
    settings: StreamSettings,
    mut rx: mpsc::Receiver<Item>,
    stats: Arc<OutboxStats>,
    stop: CancellationToken,
) {
    let js = jetstream::new(client.clone());
    let mut stream_ready = false;
    let mut drain_deadline: Option<tokio::time::Instant> = None;
    loop {
        let item = tokio::select! {
            biased;
            item = rx.recv() => match item { Some(i) => i, None => return },
            _ = stop.cancelled(), if drain_deadline.is_none() => {
                drain_deadline = Some(tokio::time::Instant::now() + DRAIN_TIMEOUT);
                rx.close();
                continue;
            }
        };
        let mut delay = RETRY_MIN;
        loop {
            if drain_deadline.is_some_and(|d| tokio::time::Instant::now() >= d) {
                let left = rx.len() + 1;
                tracing::warn!(
                    left,
                    "Shutdown: durable events not yet acknowledged are lost with this process."
                );
                return;
            }
            if !stream_ready {
                match ensure_db_stream(&client, &settings).await {
                    Ok(_) => stream_ready = true,
                    Err(e) => tracing::debug!(error = %e, "Stream not ready yet."),
                }
            }
            match publish(&js, &item).await {
                Ok(duplicate) => {
                    let counter = if duplicate {
                        &stats.duplicates
                    } else {
                        &stats.stored
                    };
                    counter.fetch_add(1, Ordering::Relaxed);
                    break;
                }
                Err(why) => {
                    if stats
                        .retries
                        .fetch_add(1, Ordering::Relaxed)
                        .is_multiple_of(1000)
                    {
                        tracing::warn!(error = %why, subject = %item.subject, "Durable publish failed; retrying.");
                    }
                    stream_ready = false;
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(RETRY_MAX);
                }
            }
        }
    }
}

async fn publish(js: &jetstream::Context, item: &Item) -> Result<bool, String> {
    let ack = js
        .publish_with_headers(
            item.subject.clone(),
            msg_id_headers(&item.id),
            item.payload.clone(),
        )
        .await
        .map_err(|e| e.to_string())?;
    match tokio::time::timeout(ACK_TIMEOUT, ack).await {
        Ok(Ok(ack)) => Ok(ack.duplicate),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err("no acknowledgement from the stream".to_string()),
    }
}
