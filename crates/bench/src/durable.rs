//! Durable-mode ingest (`nats.jetstream: true`): the same bursts as plain mode, published
//! into the `ROSEY_DB` JetStream stream through the bot's own durable outbox
//! ([`rosey_bus::outbox`]: in order, each event with its id, every acknowledgement awaited,
//! bursts batched into `rosey.db.batch` messages) and consumed by a
//! `rosey db-service --jetstream` process on its own database file.
//!
//! Why not `crate::dbbench::publish_durable`: it runs its publishes as concurrent
//! futures, so events inside its window can reach the stream out of order; counts do not
//! mind, but the mixed burst does (a leave overtaking its join leaves a session open, which
//! the effect check catches). A bot publishes its events in order, and the outbox is how.
//!
//! The time runs from the first publish until every effect is committed; the counts are taken
//! only once the durable consumer has nothing pending and nothing unacknowledged, so no
//! redelivery can still change them. The plain-mode service must be stopped first: a core
//! NATS subscriber would receive the stream's subjects too.

use std::ffi::OsStr;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::dbbench;
use std::sync::atomic::Ordering;

use bytes::Bytes;
use rosey_bus::Bus;
use rosey_bus::durable::StreamSettings;
use rosey_bus::outbox::Outbox;
use rosey_dbservice::durable::DEFAULT_CONSUMER;
use rosey_model::subjects;
use tokio_util::sync::CancellationToken;

use crate::error::BenchError;
use crate::ingest::{self, BurstRun, burst_timeout};
use crate::procs::{Child, ProcSample};
use crate::query;

/// How long the consumer may take to settle after the last row.
const SETTLE_TIMEOUT: Duration = Duration::from_secs(30);

/// The durable service of the run, with what the resources table needs.
pub struct DurableService {
    pub child: Child,
    pub startup: Duration,
    pub idle: ProcSample,
}

/// Spawns `rosey db-service --jetstream` on `db` and waits until it answers.
pub async fn start(
    client: &Bus,
    rosey: &Path,
    dir: &Path,
    db: &Path,
    url: &str,
    env: &[(&str, String)],
    settle: Duration,
) -> Result<DurableService, BenchError> {
    let mut child = Child::spawn_db_service(
        rosey,
        &[
            OsStr::new("--jetstream"),
            OsStr::new("--log-level"),
            OsStr::new("warn"),
            OsStr::new("--db-path"),
            db.as_os_str(),
            OsStr::new("--nats-url"),
            OsStr::new(url),
        ],
        dir,
        dir.join("db-service-durable.log"),
        env,
    )?;
    let startup = query::wait_answering(
        client,
        child.what(),
        subjects::RECENT_CHAT_GET,
        child.started,
        Duration::from_secs(20),
    )
    .await?;
    tokio::time::sleep(settle).await;
    let idle = child.sample()?;
    Ok(DurableService {
        child,
        startup,
        idle,
    })
}

/// A durable `message.log` burst on a fresh `channel`.
pub async fn message_burst(
    client: &Bus,
    db: &Path,
    service: &mut Child,
    channel: &str,
    events: usize,
) -> Result<BurstRun, BenchError> {
    let payloads = dbbench::message_burst(events, channel);
    burst(client, db, service, channel, payloads, events as i64, None).await
}

/// A durable mixed burst on a fresh `channel`, every effect checked.
pub async fn mixed_burst(
    client: &Bus,
    db: &Path,
    service: &mut Child,
    channel: &str,
    events: usize,
) -> Result<BurstRun, BenchError> {
    let (payloads, expect) = dbbench::mixed_burst(events, channel);
    let messages = expect.messages;
    burst(
        client,
        db,
        service,
        channel,
        payloads,
        messages,
        Some(expect),
    )
    .await
}

async fn burst(
    client: &Bus,
    db: &Path,
    service: &mut Child,
    channel: &str,
    payloads: Vec<(&'static str, Bytes)>,
    expected_rows: i64,
    mixed: Option<dbbench::MixedExpectation>,
) -> Result<BurstRun, BenchError> {
    let nats = client
        .nats_client()
        .ok_or_else(|| BenchError::measurement("durable ingest", "the bus is not NATS"))?
        .clone();
    let n = payloads.len();
    let timeout = burst_timeout(n);
    let base = ingest::max_id(db, "recent_chat")?;
    let cpu0 = service.sample()?.cpu_s;
    let prefix = format!("bench-{channel}");
    let start = Instant::now();
    let publisher =
        tokio::spawn(
            async move { publish_through_outbox(&nats, payloads, &prefix, timeout).await },
        );
    let rows = dbbench::wait_rows(db, "recent_chat", base + expected_rows, start, timeout).await;
    let mut end_to_end = rows.as_ref().ok().copied();
    let mut effects_error = None;
    if let (Some(expect), Ok(_)) = (&mixed, &rows) {
        match ingest::wait_effects(db, channel, expect, start, timeout).await {
            Ok(t) => end_to_end = Some(t),
            Err(e) => {
                end_to_end = None;
                effects_error = Some(e);
            }
        }
    }
    let published = publisher
        .await
        .map_err(|e| BenchError::measurement("durable publisher", e))?;
    let (publish, publish_retries) = match &published {
        Ok(p) => {
            tracing::info!(
                channel,
                events = n,
                messages = p.messages,
                "Durable burst published through the outbox."
            );
            (Some(p.publish_time), p.retries)
        }
        Err(e) => {
            tracing::warn!(error = %e, channel, "Durable publish did not complete.");
            (None, 0)
        }
    };
    if published.is_err() {
        end_to_end = None;
    }
    settle_consumer(client).await?;
    let cpu1 = service.sample()?.cpu_s;
    let (rows, distinct) = ingest::chat_counts(db, channel)?;
    let (lost, duplicated) = ingest::lost_and_duplicated(expected_rows, rows, distinct);
    if let (Some(expect), None) = (&mixed, &effects_error) {
        effects_error = ingest::check_mixed_once(db, channel, expect).await.err();
    }
    Ok(BurstRun {
        events: n,
        publish,
        end_to_end,
        lost,
        duplicated,
        effects_error,
        service_cpu_s: cpu1 - cpu0,
        publish_retries,
    })
}

/// Waits until the durable consumer has nothing pending and nothing unacknowledged.
async fn settle_consumer(client: &Bus) -> Result<(), BenchError> {
    let stream = rosey_bus::durable::StreamSettings::default().name;
    let subject = format!("$JS.API.CONSUMER.INFO.{stream}.{DEFAULT_CONSUMER}");
    let deadline = Instant::now() + SETTLE_TIMEOUT;
    loop {
        let state = client
            .request(&subject, Bytes::new(), Duration::from_secs(2))
            .await
            .ok()
            .and_then(|r| serde_json::from_slice::<serde_json::Value>(&r.payload).ok())
            .and_then(|v| Some((v["num_pending"].as_u64()?, v["num_ack_pending"].as_u64()?)));
        if state == Some((0, 0)) {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(BenchError::measurement(
                "durable consumer",
                format!("not settled after {SETTLE_TIMEOUT:?}: (pending, unacked) = {state:?}"),
            ));
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// What [`publish_through_outbox`] did.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OutboxPublish {
    /// First event queued → last event acknowledged by the stream.
    pub publish_time: Duration,
    /// Acknowledged as duplicates by the stream.
    pub duplicates: u64,
    /// Messages published again after a failed acknowledgement.
    pub retries: u64,
    /// Stream messages the events went out in (lone events and batches).
    pub messages: u64,
}

/// Publishes `events` through the bot's durable outbox ([`rosey_bus::outbox::Outbox`]: in
/// order, one message in flight, what queued up behind it batched), event `i` with id
/// `<prefix>-<i>`, and waits until the stream has acknowledged every one of them.
pub async fn publish_through_outbox(
    client: &async_nats::Client,
    events: Vec<(&'static str, Bytes)>,
    prefix: &str,
    timeout: Duration,
) -> Result<OutboxPublish, String> {
    let stop = CancellationToken::new();
    let (outbox, task) = Outbox::start(client.clone(), StreamSettings::default(), stop.clone());
    let n = events.len() as u64;
    let start = Instant::now();
    let published = tokio::time::timeout(timeout, async {
        for (i, (subject, payload)) in events.into_iter().enumerate() {
            if !outbox
                .push_wait(subject, format!("{prefix}-{i}"), payload)
                .await
            {
                return false;
            }
        }
        outbox.acknowledged(n).await
    })
    .await;
    let publish_time = start.elapsed();
    let stats = outbox.stats();
    let result = OutboxPublish {
        publish_time,
        duplicates: stats.duplicates.load(Ordering::Relaxed),
        retries: stats.retries.load(Ordering::Relaxed),
        messages: stats.messages.load(Ordering::Relaxed),
    };
    let acknowledged = stats.acknowledged();
    stop.cancel();
    drop(outbox);
    let _ = task.await;
    match published {
        Ok(true) => Ok(result),
        Ok(false) => Err("the outbox stopped".to_string()),
        Err(_) => Err(format!(
            "{acknowledged} of {n} events acknowledged after {timeout:?}"
        )),
    }
}
