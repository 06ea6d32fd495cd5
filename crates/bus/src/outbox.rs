//! The durable outbox (SPEC §3.4, `nats.jetstream: true`): database events go to the
//! `ROSEY_DB` stream, each with its event id, and are retried until the stream has
//! acknowledged them. The bot publishes through it; `rosey bench` measures durable ingest
//! through the same code.
//!
//! Events wait in a bounded in-memory queue while NATS or the stream is unreachable and are
//! retried, in order, with the same ids — so a NATS restart loses nothing and a retry after a
//! lost acknowledgement is dropped by the stream as a duplicate.
//!
//! One message is in flight at a time, which keeps the order (a pipelined retry could
//! overtake a later event). Throughput comes from batching instead: while a publish waits for
//! its acknowledgement, new events queue up, and the next publish takes everything queued
//! (up to [`MAX_BATCH_EVENTS`] / [`MAX_BATCH_BYTES`]) as one `rosey.db.batch` message
//! ([`crate::batch`]). A lone event goes out as before, on its own subject with its id as
//! `Nats-Msg-Id`, so a quiet channel pays no latency for batching and a burst costs the
//! stream and the database service one message and one acknowledgement per batch.

use std::sync::{
    Arc,
    atomic::{AtomicU64, Ordering},
};
use std::time::Duration;

use async_nats::jetstream;
use bytes::Bytes;
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

use crate::batch::{self, BatchWriter, DB_BATCH};
use crate::durable::{StreamSettings, ensure_db_stream, msg_id_headers};

/// Events the outbox holds while NATS is unreachable (hours of a busy channel).
pub const OUTBOX_CAPACITY: usize = 100_000;
/// Most events in one batch message.
pub const MAX_BATCH_EVENTS: usize = 1_024;
/// Most bytes in one batch message (well under NATS' default 1 MiB `max_payload`; an event
/// larger than this goes alone).
pub const MAX_BATCH_BYTES: usize = 128 * 1024;
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

impl Item {
    fn new(subject: &str, id: String, payload: Bytes) -> Self {
        Item {
            subject: subject.to_string(),
            id,
            payload,
        }
    }

    fn len(&self) -> usize {
        batch::record_len(&self.subject, &self.id, &self.payload)
    }

    fn batchable(&self) -> bool {
        batch::header_safe(&self.subject) && batch::header_safe(&self.id)
    }
}

/// Counters of the outbox (events, not messages).
#[derive(Debug, Default)]
pub struct OutboxStats {
    pub stored: AtomicU64,
    pub duplicates: AtomicU64,
    pub retries: AtomicU64,
    /// Refused because the outbox was full (the only way durable mode drops an event).
    pub overflow: AtomicU64,
    /// Stream messages acknowledged (a batch counts once).
    pub messages: AtomicU64,
}

impl OutboxStats {
    /// Events the stream has acknowledged, as stored or as duplicates.
    pub fn acknowledged(&self) -> u64 {
        self.stored.load(Ordering::Relaxed) + self.duplicates.load(Ordering::Relaxed)
    }
}

/// The sending side, shared by every channel's publisher.
#[derive(Clone)]
pub struct Outbox {
    tx: mpsc::Sender<Item>,
    stats: Arc<OutboxStats>,
    /// Events acknowledged so far (stored or duplicate), for [`Outbox::acknowledged`].
    acked: watch::Receiver<u64>,
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
        let (acked_tx, acked) = watch::channel(0);
        let task = tokio::spawn(deliver(client, settings, rx, stats.clone(), acked_tx, stop));
        (Outbox { tx, stats, acked }, task)
    }

    pub fn stats(&self) -> &OutboxStats {
        &self.stats
    }

    /// Waits until the stream has acknowledged `events` events since the start (false if the
    /// outbox stopped first).
    pub async fn acknowledged(&self, events: u64) -> bool {
        self.acked.clone().wait_for(|n| *n >= events).await.is_ok()
    }

    /// Events waiting to be stored in the stream.
    pub fn depth(&self) -> usize {
        self.tx.max_capacity().saturating_sub(self.tx.capacity())
    }

    /// Queues an event; never waits. A full outbox refuses it (counted and logged).
    pub fn push(&self, subject: &str, id: String, payload: Bytes) {
        if self.tx.try_send(Item::new(subject, id, payload)).is_err()
            && self.stats.overflow.fetch_add(1, Ordering::Relaxed) == 0
        {
            tracing::error!(
                capacity = OUTBOX_CAPACITY,
                "Durable outbox full: NATS has been unreachable too long; events are being dropped."
            );
        }
    }

    /// Queues an event, waiting while the outbox is full (a producer that would rather slow
    /// down than drop, such as `rosey bench`). False once the outbox is stopped.
    pub async fn push_wait(&self, subject: &str, id: String, payload: Bytes) -> bool {
        self.tx.send(Item::new(subject, id, payload)).await.is_ok()
    }
}

async fn deliver(
    client: async_nats::Client,
    settings: StreamSettings,
    mut rx: mpsc::Receiver<Item>,
    stats: Arc<OutboxStats>,
    acked: watch::Sender<u64>,
    stop: CancellationToken,
) {
    let js = jetstream::new(client.clone());
    let mut stream_ready = false;
    let mut drain_deadline: Option<tokio::time::Instant> = None;
    // An event taken from the queue that did not fit into the previous message.
    let mut carried: Option<Item> = None;
    loop {
        let first = match carried.take() {
            Some(item) => item,
            None => tokio::select! {
                biased;
                item = rx.recv() => match item { Some(i) => i, None => return },
                _ = stop.cancelled(), if drain_deadline.is_none() => {
                    drain_deadline = Some(tokio::time::Instant::now() + DRAIN_TIMEOUT);
                    rx.close();
                    continue;
                }
            },
        };
        let (message, carry) = next_message(first, &mut rx);
        carried = carry;
        let mut delay = RETRY_MIN;
        loop {
            if drain_deadline.is_some_and(|d| tokio::time::Instant::now() >= d) {
                let left = rx.len() + message.events + usize::from(carried.is_some());
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
            match publish(&js, &message).await {
                Ok(duplicate) => {
                    let counter = if duplicate {
                        &stats.duplicates
                    } else {
                        &stats.stored
                    };
                    counter.fetch_add(message.events as u64, Ordering::Relaxed);
                    stats.messages.fetch_add(1, Ordering::Relaxed);
                    acked.send_modify(|n| *n += message.events as u64);
                    break;
                }
                Err(why) => {
                    if stats
                        .retries
                        .fetch_add(1, Ordering::Relaxed)
                        .is_multiple_of(1000)
                    {
                        tracing::warn!(error = %why, subject = %message.subject, events = message.events, "Durable publish failed; retrying.");
                    }
                    stream_ready = false;
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(RETRY_MAX);
                }
            }
        }
    }
}

/// One stream message: a lone event, or a batch.
struct Message {
    subject: String,
    id: String,
    payload: Bytes,
    events: usize,
}

/// Builds the next message from `first` and whatever is already queued behind it. Returns
/// the event that did not fit, if one was taken.
fn next_message(first: Item, rx: &mut mpsc::Receiver<Item>) -> (Message, Option<Item>) {
    let lone = |item: Item| Message {
        subject: item.subject,
        id: item.id,
        payload: item.payload,
        events: 1,
    };
    if !first.batchable() || first.len() > MAX_BATCH_BYTES {
        return (lone(first), None);
    }
    let second = match rx.try_recv() {
        Ok(item) => item,
        Err(_) => return (lone(first), None),
    };
    if !second.batchable() || first.len() + second.len() > MAX_BATCH_BYTES {
        return (lone(first), Some(second));
    }
    let mut size = first.len() + second.len();
    let mut writer = BatchWriter::with_capacity(MAX_BATCH_BYTES.min(size * 64));
    let first_id = first.id.clone();
    for item in [first, second] {
        writer.push(&item.subject, &item.id, &item.payload);
    }
    let mut carry = None;
    while writer.records() < MAX_BATCH_EVENTS {
        let Ok(item) = rx.try_recv() else { break };
        if !item.batchable() || size + item.len() > MAX_BATCH_BYTES {
            carry = Some(item);
            break;
        }
        size += item.len();
        writer.push(&item.subject, &item.id, &item.payload);
    }
    let events = writer.records();
    (
        Message {
            subject: DB_BATCH.to_string(),
            id: batch::batch_id(&first_id, events),
            payload: writer.finish(),
            events,
        },
        carry,
    )
}

async fn publish(js: &jetstream::Context, message: &Message) -> Result<bool, String> {
    let ack = js
        .publish_with_headers(
            message.subject.clone(),
            msg_id_headers(&message.id),
            message.payload.clone(),
        )
        .await
        .map_err(|e| e.to_string())?;
    match tokio::time::timeout(ACK_TIMEOUT, ack).await {
        Ok(Ok(ack)) => Ok(ack.duplicate),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err("no acknowledgement from the stream".to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(id: &str, len: usize) -> Item {
        Item {
            subject: "rosey.db.message.log".into(),
            id: id.into(),
            payload: Bytes::from(vec![b'x'; len]),
        }
    }

    #[tokio::test]
    async fn a_lone_event_goes_as_it_is_and_a_queue_becomes_one_batch() {
        let (tx, mut rx) = mpsc::channel(10_000);
        let (m, carry) = next_message(item("a-1", 10), &mut rx);
        assert_eq!(
            (m.subject.as_str(), m.id.as_str(), m.events),
            ("rosey.db.message.log", "a-1", 1)
        );
        assert!(carry.is_none());

        for i in 2..=MAX_BATCH_EVENTS + 10 {
            tx.try_send(item(&format!("a-{i}"), 10)).unwrap();
        }
        let (m, carry) = next_message(item("a-1", 10), &mut rx);
        assert_eq!(m.subject, DB_BATCH);
        assert_eq!(m.events, MAX_BATCH_EVENTS);
        assert_eq!(m.id, format!("batch:a-1+{MAX_BATCH_EVENTS}"));
        let records = batch::read(&m.payload).unwrap();
        assert_eq!(records.len(), MAX_BATCH_EVENTS);
        assert_eq!(records[1].id, "a-2");
        assert!(
            carry.is_none(),
            "stops at the count without taking one more"
        );
        assert_eq!(rx.len(), 10);
    }

    #[tokio::test]
    async fn the_byte_budget_carries_the_event_that_does_not_fit() {
        let (tx, mut rx) = mpsc::channel(100);
        let big = MAX_BATCH_BYTES / 3;
        for i in 2..=5 {
            tx.try_send(item(&format!("a-{i}"), big)).unwrap();
        }
        let (m, carry) = next_message(item("a-1", big), &mut rx);
        assert_eq!(m.events, 2);
        assert_eq!(carry.map(|c| c.id), Some("a-3".to_string()));
        assert!(m.payload.len() <= MAX_BATCH_BYTES);

        // Too big for any batch, or not header-safe: alone.
        let (m, _) = next_message(item("b-1", MAX_BATCH_BYTES + 1), &mut rx);
        assert_eq!((m.events, m.id.as_str()), (1, "b-1"));
        let (m, _) = next_message(item("has space", 3), &mut rx);
        assert_eq!((m.events, m.id.as_str()), (1, "has space"));
    }
}
