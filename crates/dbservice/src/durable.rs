//! Durable ingest (SPEC §3.4, `nats.jetstream: true`): events come from the `ROSEY_DB`
//! JetStream stream through one shared durable pull consumer instead of the core-NATS
//! subscription, and each message is acknowledged only after the batch that holds it is
//! committed.
//!
//! ```text
//!  ROSEY_DB ──durable pull consumer──▶ durable task ──▶ writer thread ──commit──▶ ack task ──+ACK──▶ NATS
//! ```
//!
//! A message holds one event, or a batch of them (`rosey.db.batch`, what the bot's outbox
//! sends in a burst); a batch is acknowledged once, after the last of its events is
//! committed.
//!
//! Why nothing is lost or stored twice:
//! - an event is acked after its commit, so a crash before the commit leaves it unacked and
//!   the server redelivers it (after `ack_wait`) to whichever instance is pulling;
//! - a crash between commit and ack also redelivers it, and the store then skips it: every
//!   event carries an id (the payload `id`, else the `Nats-Msg-Id` header, else one derived
//!   from the stream's creation time and the message's stream sequence) and the store records
//!   processed ids in the same transaction as the effect;
//! - messages that can never be applied (malformed, oversized, unknown subject) are counted
//!   and terminated (`+TERM`), so they neither block the consumer nor come back.
//!
//! Order: one consumer task per instance feeds the writer in delivery order. A redelivery
//! (only after a crash or an expired `ack_wait`) arrives after newer events; several instances
//! split the stream between them, as the queue group does in plain mode.
//!
//! This module must not subscribe to the core subjects: in durable mode an event would then be
//! applied through two paths. Queries stay on core NATS (see `query`).
//!
//! [`replay`] rebuilds statistics from the stream: an ephemeral consumer from a sequence or a
//! time up to the end of the stream, into the given database, relying on the same ids.

use std::str::FromStr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_nats::jetstream::{self, AckKind, consumer, consumer::pull};
use futures::StreamExt;
use rosey_bus::durable::{StreamSettings, ensure_db_stream, msg_id};
use rosey_model::subjects;
use rosey_store::now_secs;
use tokio::sync::{mpsc, watch};

use crate::counters::Counters;
use crate::decode::{EventError, decode_batch, decode_event};
use crate::writer::{Ack, AckOutcome, IngestItem, IngestSender};
use crate::{DbServiceError, config::DbServiceConfig};

/// Default durable consumer name (shared by every database service instance).
pub const DEFAULT_CONSUMER: &str = "rosey-db-service";
/// How long the server waits for an ack before redelivering. Only a crashed instance's
/// in-flight events wait this long; a slow commit past it costs a redelivery that the store
/// skips as a duplicate, never a double count.
pub const DEFAULT_ACK_WAIT: Duration = Duration::from_secs(30);
/// Unacknowledged events per consumer (bounds the memory of every instance together; larger
/// than the writer's queue plus one batch so the pipeline never starves).
pub const DEFAULT_MAX_ACK_PENDING: i64 = 16_384;
/// Messages asked for per pull request.
pub const DEFAULT_PULL_BATCH: usize = 1_024;
/// Bytes asked for per pull request: batch messages are up to 128 KiB each, so the message
/// count alone would not bound what one pull can bring in.
const PULL_MAX_BYTES: usize = 8 << 20;
/// Idle heartbeat of a pull request: two missed ones mean the connection is gone.
const PULL_HEARTBEAT: Duration = Duration::from_secs(5);
/// Lifetime of one pull request.
const PULL_EXPIRES: Duration = Duration::from_secs(30);
/// Delay before a failed commit is redelivered.
const NAK_DELAY: Duration = Duration::from_secs(1);
/// Back-off while NATS or the stream is unreachable.
const RETRY_MIN: Duration = Duration::from_millis(100);
const RETRY_MAX: Duration = Duration::from_secs(2);
/// An idle replay consumer is removed by the server after this long.
const REPLAY_INACTIVE: Duration = Duration::from_secs(60);

/// Durable-mode settings of the service.
#[derive(Debug, Clone, PartialEq)]
pub struct DurableConfig {
    /// The stream (created or brought up to these settings at start).
    pub stream: StreamSettings,
    /// Durable consumer name.
    pub consumer: String,
    pub ack_wait: Duration,
    pub max_ack_pending: i64,
    pub pull_batch: usize,
}

impl DurableConfig {
    /// Defaults for a stream.
    pub fn new(stream: StreamSettings) -> Self {
        DurableConfig {
            stream,
            consumer: DEFAULT_CONSUMER.to_string(),
            ack_wait: DEFAULT_ACK_WAIT,
            max_ack_pending: DEFAULT_MAX_ACK_PENDING,
            pull_batch: DEFAULT_PULL_BATCH,
        }
    }

    fn consumer_config(&self) -> pull::Config {
        pull::Config {
            durable_name: Some(self.consumer.clone()),
            description: Some("Rosey database services (rosey.db.* events)".to_string()),
            deliver_policy: consumer::DeliverPolicy::All,
            ack_policy: consumer::AckPolicy::Explicit,
            ack_wait: self.ack_wait,
            max_deliver: -1,
            max_ack_pending: self.max_ack_pending.max(1),
            ..Default::default()
        }
    }
}

/// Where a replay starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplayFrom {
    /// The first stream sequence to replay (1 = everything the stream holds).
    Sequence(u64),
    /// Events the stream received at or after this time (Unix nanoseconds).
    Time { unix_nanos: i128 },
}

/// Why a `--replay-from` value was not understood.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "`{0}` is not a replay start: use a stream sequence (`1`), `@<unix seconds>` or an RFC 3339 time (`2025-01-31T12:00:00Z`)"
)]
pub struct ReplayFromError(String);

impl FromStr for ReplayFrom {
    type Err = ReplayFromError;

    /// `123` (stream sequence, ≥ 1), `@1700000000` or `@1700000000.5` (Unix seconds), or an
    /// RFC 3339 time.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || ReplayFromError(s.to_string());
        let s = s.trim();
        if let Some(secs) = s.strip_prefix('@') {
            let secs: f64 = secs.parse().map_err(|_| bad())?;
            if !secs.is_finite() || secs < 0.0 {
                return Err(bad());
            }
            return Ok(ReplayFrom::Time {
                unix_nanos: (secs * 1e9) as i128,
            });
        }
        if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
            let seq: u64 = s.parse().map_err(|_| bad())?;
            return Ok(ReplayFrom::Sequence(seq.max(1)));
        }
        let t = async_nats::datetime::parse_rfc3339(s).map_err(|_| bad())?;
        Ok(ReplayFrom::Time {
            unix_nanos: t.unix_timestamp_nanos(),
        })
    }
}

impl ReplayFrom {
    fn deliver_policy(&self) -> Result<consumer::DeliverPolicy, DbServiceError> {
        Ok(match *self {
            ReplayFrom::Sequence(start_sequence) => {
                consumer::DeliverPolicy::ByStartSequence { start_sequence }
            }
            ReplayFrom::Time { unix_nanos } => consumer::DeliverPolicy::ByStartTime {
                start_time: async_nats::datetime::from_nanos(unix_nanos)
                    .map_err(|e| DbServiceError::Durable(format!("replay start time: {e}")))?,
            },
        })
    }
}

/// What a replay did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReplayReport {
    /// Stream messages read.
    pub messages: u64,
    /// Events whose effect was written now.
    pub applied: u64,
    /// Events already in the database (skipped by id).
    pub duplicates: u64,
    /// Messages that could not be applied (counted by kind in the service counters).
    pub rejected: u64,
    /// Last stream sequence read (0 when nothing was read).
    pub last_sequence: u64,
}

/// The id an event is de-duplicated by: its payload `id`, else the `Nats-Msg-Id` header,
/// else one derived from the stream (unique per stream incarnation: the creation time keeps
/// a re-created stream's sequence 1 apart from the old one's).
fn derived_id(stream: &str, created_nanos: i128, seq: u64) -> String {
    format!("js:{stream}:{created_nanos}:{seq}")
}

/// A stream message's events, and how many of its parts were rejected (counted already).
struct Decoded {
    events: Vec<rosey_store::StoreEvent>,
    /// A message that cannot be read at all counts 1; a batch, each record it had to skip.
    rejected: usize,
}

/// Decodes a stream message into its events, each with an id: one event, or the events of a
/// `rosey.db.batch`. Whatever cannot be applied (the message, or a batch's record) is counted
/// in `counters` by kind and skipped.
fn decode_stream_message(
    m: &async_nats::Message,
    seq: u64,
    published_secs: i64,
    ids: &StreamIds,
    default_channel: &str,
    counters: &Counters,
) -> Decoded {
    let mut rejected = 0;
    let mut reject = |subject: &str, e: EventError| {
        rejected += 1;
        counters.reject(e.kind(), subject, &e.to_string());
    };
    // Events without `ts` get the time the stream received them, not the time a restarted
    // service finally reads them.
    let events = if m.subject.as_str() == subjects::DB_BATCH {
        decode_batch(&m.payload, default_channel, published_secs, &mut reject)
    } else {
        decode_event(&m.subject, &m.payload, default_channel, published_secs).map(|mut event| {
            if event.id.is_none() {
                event.id = Some(match msg_id(m.headers.as_ref()) {
                    Some(id) if !id.is_empty() => id.to_string(),
                    _ => derived_id(&ids.stream, ids.created_nanos, seq),
                });
            }
            vec![event]
        })
    };
    let events = events.unwrap_or_else(|e| {
        reject(&m.subject, e);
        Vec::new()
    });
    Decoded { events, rejected }
}

struct StreamIds {
    stream: String,
    created_nanos: i128,
}

/// Stream sequence, delivery count and publish time (Unix seconds) of a delivered message.
fn meta(m: &jetstream::Message) -> (u64, i64, i64) {
    match m.info() {
        Ok(i) => (i.stream_sequence, i.delivered, i.published.unix_timestamp()),
        Err(_) => (0, 1, now_secs()),
    }
}

/// Acknowledgements to send, each with the number of events it settles (what the message
/// added to `received`, so `received − acked` stays the events in flight).
type AckQueue = mpsc::UnboundedSender<(jetstream::message::Acker, AckKind, u64)>;

/// The acknowledgement of one stream message, sent once the last of its events is committed
/// (a batch's events may span two commits): `+ACK`, or a delayed `-NAK` when any of them
/// failed (the redelivery then skips those that were committed, by id).
struct MessageAck {
    left: AtomicUsize,
    failed: AtomicBool,
    acker: Mutex<Option<jetstream::message::Acker>>,
    queue: AckQueue,
    /// Events the message counted as received (its rejected records included).
    received: u64,
}

impl MessageAck {
    fn new(
        events: usize,
        received: u64,
        acker: jetstream::message::Acker,
        queue: AckQueue,
    ) -> Arc<Self> {
        Arc::new(MessageAck {
            left: AtomicUsize::new(events),
            failed: AtomicBool::new(false),
            acker: Mutex::new(Some(acker)),
            queue,
            received,
        })
    }

    /// The writer's callback for one of the message's events.
    fn for_event(self: &Arc<Self>) -> Ack {
        let this = self.clone();
        Box::new(move |outcome| this.done(outcome))
    }

    fn done(&self, outcome: AckOutcome) {
        if outcome == AckOutcome::Failed {
            self.failed.store(true, Ordering::Relaxed);
        }
        if self.left.fetch_sub(1, Ordering::AcqRel) != 1 {
            return;
        }
        let acker = self.acker.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(acker) = acker {
            let kind = if self.failed.load(Ordering::Relaxed) {
                AckKind::Nak(Some(NAK_DELAY))
            } else {
                AckKind::Ack
            };
            let _ = self.queue.send((acker, kind, self.received));
        }
    }
}

/// The durable consumer task and its ack task.
pub(crate) struct DurableIngest {
    pub client: async_nats::Client,
    pub cfg: DurableConfig,
    pub writer: IngestSender,
    pub counters: Arc<Counters>,
    pub default_channel: String,
}

/// Creates the stream and the durable consumer (used at start, so that a start-up without
/// NATS or JetStream fails clearly, and again after the connection or consumer was lost).
async fn setup(
    client: &async_nats::Client,
    cfg: &DurableConfig,
) -> Result<(consumer::PullConsumer, StreamIds), DbServiceError> {
    let info = ensure_db_stream(client, &cfg.stream).await?;
    let js = jetstream::new(client.clone());
    let consumer = js
        .create_consumer_on_stream(cfg.consumer_config(), &cfg.stream.name)
        .await
        .map_err(|e| {
            DbServiceError::Durable(format!(
                "cannot create the durable consumer `{}` on `{}`: {e}",
                cfg.consumer, cfg.stream.name
            ))
        })?;
    Ok((
        consumer,
        StreamIds {
            stream: cfg.stream.name.clone(),
            created_nanos: info.created.unix_timestamp_nanos(),
        },
    ))
}

impl DurableIngest {
    /// Checks that the stream and the consumer can be set up, then spawns the consumer task.
    /// The returned ack task ends once every event handed to the writer was acknowledged
    /// (await it after the writer is closed).
    pub async fn start(
        self,
        stop: watch::Receiver<bool>,
    ) -> Result<(tokio::task::JoinHandle<()>, tokio::task::JoinHandle<()>), DbServiceError> {
        let first = setup(&self.client, &self.cfg).await?;
        let (ack_tx, ack_rx) = mpsc::unbounded_channel();
        let ack_task = tokio::spawn(ack_loop(ack_rx, self.counters.clone()));
        let task = tokio::spawn(self.run(first, ack_tx, stop));
        Ok((task, ack_task))
    }

    async fn run(
        self,
        first: (consumer::PullConsumer, StreamIds),
        acks: AckQueue,
        mut stop: watch::Receiver<bool>,
    ) {
        let mut current = Some(first);
        let mut delay = RETRY_MIN;
        loop {
            let (consumer, ids) = match current.take() {
                Some(c) => c,
                None => match until_stop(&mut stop, setup(&self.client, &self.cfg)).await {
                    None => return,
                    Some(Ok(c)) => c,
                    Some(Err(e)) => {
                        tracing::debug!(error = %e, "Durable consumer not ready; retrying.");
                        if wait_or_stop(&mut stop, delay).await {
                            return;
                        }
                        delay = (delay * 2).min(RETRY_MAX);
                        continue;
                    }
                },
            };
            let messages = consumer
                .stream()
                .max_messages_per_batch(self.cfg.pull_batch.max(1))
                .max_bytes_per_batch(PULL_MAX_BYTES)
                .heartbeat(PULL_HEARTBEAT)
                .expires(PULL_EXPIRES)
                .messages();
            let Some(messages) = until_stop(&mut stop, messages).await else {
                return;
            };
            let mut messages = match messages {
                Ok(m) => m,
                Err(e) => {
                    tracing::debug!(error = %e, "Cannot pull from the durable consumer; retrying.");
                    if wait_or_stop(&mut stop, delay).await {
                        return;
                    }
                    delay = (delay * 2).min(RETRY_MAX);
                    continue;
                }
            };
            loop {
                tokio::select! {
                    biased;
                    _ = stop.changed() => return,
                    m = messages.next() => match m {
                        Some(Ok(m)) => {
                            delay = RETRY_MIN;
                            if !self.handle(m, &ids, &acks).await {
                                return;
                            }
                        }
                        Some(Err(e)) => {
                            // Missed heartbeats (connection lost), a deleted consumer or
                            // stream (memory storage after a server restart): set up again.
                            tracing::warn!(error = %e, kind = ?e.kind(), "Durable consumer interrupted; re-attaching.");
                            break;
                        }
                        None => break,
                    },
                }
            }
            if wait_or_stop(&mut stop, delay).await {
                return;
            }
            delay = (delay * 2).min(RETRY_MAX);
        }
    }

    /// Hands a message's events to the writer (the message is acked after their commit) or
    /// rejects it (terminated at once). False when the writer is gone.
    async fn handle(&self, m: jetstream::Message, ids: &StreamIds, acks: &AckQueue) -> bool {
        let (seq, delivered, published) = meta(&m);
        if let Ok(info) = m.info() {
            self.counters
                .metrics
                .durable_pending
                .store(info.pending, Ordering::Relaxed);
        }
        if delivered > 1 {
            Counters::add(&self.counters.redelivered, 1);
        }
        let (m, acker) = m.split();
        let Decoded { events, rejected } = decode_stream_message(
            &m,
            seq,
            published,
            ids,
            &self.default_channel,
            &self.counters,
        );
        let received = (events.len() + rejected) as u64;
        Counters::add(&self.counters.received, received);
        if events.is_empty() {
            // Nothing in it can ever be applied.
            let _ = acks.send((acker, AckKind::Term, received));
            return true;
        }
        let ack = MessageAck::new(events.len(), received, acker, acks.clone());
        for event in events {
            self.counters.metrics.received.inc(event.kind.index());
            let item = IngestItem {
                event,
                ack: Some(ack.for_event()),
            };
            if self.writer.send(item).await.is_err() {
                return false;
            }
        }
        true
    }
}

/// Sends acknowledgements in commit order. A lost ack only causes a redelivery, which the
/// store skips by id.
async fn ack_loop(
    mut rx: mpsc::UnboundedReceiver<(jetstream::message::Acker, AckKind, u64)>,
    counters: Arc<Counters>,
) {
    while let Some((acker, kind, events)) = rx.recv().await {
        match acker.ack_with(kind).await {
            Ok(()) => Counters::add(&counters.acked, events),
            Err(e) => tracing::debug!(error = %e, "Ack not sent; the event will be redelivered."),
        }
    }
}

/// Runs `fut` unless `stop` flips first (then `None`): a JetStream request while NATS is
/// away waits for its timeout, and a stop must not.
async fn until_stop<T>(
    stop: &mut watch::Receiver<bool>,
    fut: impl std::future::Future<Output = T>,
) -> Option<T> {
    if *stop.borrow() {
        return None;
    }
    tokio::select! {
        biased;
        _ = stop.changed() => None,
        v = fut => Some(v),
    }
}

/// Waits `delay` unless `stop` flips first (then true).
async fn wait_or_stop(stop: &mut watch::Receiver<bool>, delay: Duration) -> bool {
    if *stop.borrow() {
        return true;
    }
    tokio::select! {
        _ = stop.changed() => true,
        _ = tokio::time::sleep(delay) => false,
    }
}

/// Replays the stream from `from` to its end into `cfg.db` and returns what it did.
///
/// It reads through an ephemeral consumer (no acks; the durable consumer of the running
/// services is untouched), applies events through the store's id de-duplication (an event
/// already in the database changes nothing, so replaying into the live database fills gaps
/// and a fresh file is rebuilt from scratch), and stops at the message the stream held last
/// when the replay began. Open sessions are left open (a live service may own them).
pub async fn replay(
    client: &async_nats::Client,
    cfg: &DbServiceConfig,
    stream: &str,
    from: ReplayFrom,
) -> Result<ReplayReport, DbServiceError> {
    let js = jetstream::new(client.clone());
    let mut s = js
        .get_stream(stream)
        .await
        .map_err(|e| DbServiceError::Durable(format!("cannot open the stream `{stream}`: {e}")))?;
    let info = s
        .info()
        .await
        .map_err(|e| DbServiceError::Durable(format!("stream `{stream}` info: {e}")))?
        .clone();
    let ids = StreamIds {
        stream: stream.to_string(),
        created_nanos: info.created.unix_timestamp_nanos(),
    };
    let last = info.state.last_sequence;

    let (writer, counters, thread) = crate::open_writer(cfg).await?;
    let mut report = ReplayReport::default();
    let result: Result<(), DbServiceError> = async {
        if last == 0 || matches!(from, ReplayFrom::Sequence(seq) if seq > last) {
            return Ok(());
        }
        let mut consumer: consumer::PullConsumer = s
            .create_consumer(pull::Config {
                deliver_policy: from.deliver_policy()?,
                ack_policy: consumer::AckPolicy::None,
                inactive_threshold: REPLAY_INACTIVE,
                description: Some("rosey db-service --replay-from".to_string()),
                ..Default::default()
            })
            .await
            .map_err(|e| {
                DbServiceError::Durable(format!("cannot create a replay consumer: {e}"))
            })?;
        let pending = consumer
            .info()
            .await
            .map_err(|e| DbServiceError::Durable(format!("replay consumer info: {e}")))?
            .num_pending;
        if pending == 0 {
            return Ok(());
        }
        let mut messages = consumer
            .stream()
            .max_messages_per_batch(DEFAULT_PULL_BATCH)
            .heartbeat(PULL_HEARTBEAT)
            .expires(PULL_EXPIRES)
            .messages()
            .await
            .map_err(|e| DbServiceError::Durable(format!("cannot read the stream: {e}")))?;
        while let Some(m) = messages.next().await {
            let m = m.map_err(|e| DbServiceError::Durable(format!("reading the stream: {e}")))?;
            let (seq, _, published) = meta(&m);
            let left = m.info().map(|i| i.pending).unwrap_or(0);
            report.messages += 1;
            report.last_sequence = seq;
            let decoded =
                decode_stream_message(&m, seq, published, &ids, &cfg.default_channel, &counters);
            report.rejected += decoded.rejected as u64;
            for event in decoded.events {
                writer.send(IngestItem::new(event)).await?;
            }
            if seq >= last || left == 0 {
                break;
            }
        }
        Ok(())
    }
    .await;
    // Commit what was handed over even when reading failed half-way.
    let closed = crate::close_writer(writer, thread, false).await;
    result?;
    closed?;
    let stats = counters.snapshot();
    report.applied = stats.applied;
    report.duplicates = stats.duplicates;
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replay_from_forms() {
        assert_eq!("42".parse(), Ok(ReplayFrom::Sequence(42)));
        assert_eq!("0".parse(), Ok(ReplayFrom::Sequence(1)));
        assert_eq!(
            "@1700000000".parse(),
            Ok(ReplayFrom::Time {
                unix_nanos: 1_700_000_000_000_000_000
            })
        );
        assert_eq!(
            "2023-11-14T22:13:20Z".parse(),
            Ok(ReplayFrom::Time {
                unix_nanos: 1_700_000_000_000_000_000
            })
        );
        assert_eq!(
            "2023-11-14T23:13:20+01:00".parse(),
            Ok(ReplayFrom::Time {
                unix_nanos: 1_700_000_000_000_000_000
            })
        );
        for bad in ["", "@", "@x", "@-5", "yesterday", "12a", "-3"] {
            assert!(bad.parse::<ReplayFrom>().is_err(), "{bad}");
        }
    }

    #[test]
    fn derived_ids_differ_per_stream_incarnation() {
        assert_ne!(derived_id("S", 1, 7), derived_id("S", 2, 7));
        assert_ne!(derived_id("S", 1, 7), derived_id("S", 1, 8));
    }
}
