//! Durable-mode ingest (`nats.jetstream: true`): the same bursts as plain mode, published
//! into the `ROSEY_DB` JetStream stream (one `Nats-Msg-Id` per event, every acknowledgement
//! awaited, [`PUBLISH_WINDOW`] outstanding) and consumed by a `rosey db-service --jetstream`
//! process on its own database file.
//!
//! Why not `crate::dbbench::publish_durable`: it runs its publishes as concurrent
//! futures, so events inside its window can reach the stream out of order; counts do not
//! mind, but the mixed burst does (a leave overtaking its join leaves a session open, which
//! the effect check catches). A bot publishes its events in order, so [`publish_ordered`]
//! issues the publishes one after another and only pipelines the acknowledgements.
//!
//! The time runs from the first publish until every effect is committed; the counts are taken
//! only once the durable consumer has nothing pending and nothing unacknowledged, so no
//! redelivery can still change them. The plain-mode service must be stopped first: a core
//! NATS subscriber would receive the stream's subjects too.

use std::collections::VecDeque;
use std::ffi::OsStr;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::dbbench;
use async_nats::jetstream::context::{Context, PublishAckFuture};
use bytes::Bytes;
use rosey_bus::Bus;
use rosey_bus::durable::msg_id_headers;
use rosey_dbservice::durable::DEFAULT_CONSUMER;
use rosey_model::subjects;

use crate::error::BenchError;
use crate::ingest::{self, BurstRun, burst_timeout};
use crate::procs::{Child, ProcSample};
use crate::query;

/// Events waiting for their stream acknowledgement at once (what the durability tests use).
pub const PUBLISH_WINDOW: usize = 256;
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
    let mut child = Child::spawn(
        "rosey db-service --jetstream",
        rosey,
        &[
            OsStr::new("db-service"),
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
        "rosey db-service --jetstream",
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
    let publisher = tokio::spawn(async move {
        publish_ordered(&nats, payloads, &prefix, PUBLISH_WINDOW, timeout).await
    });
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
        Ok(p) => (Some(p.publish_time), p.retries),
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

/// What [`publish_ordered`] did.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OrderedPublish {
    /// First publish → last acknowledgement.
    pub publish_time: Duration,
    /// Acknowledged as duplicates by the stream.
    pub duplicates: u64,
    /// Events published again after a failed acknowledgement (these may land out of order).
    pub retries: u64,
}

/// Publishes `events` into the stream in order, event `i` with `Nats-Msg-Id`
/// `<prefix>-<i>`, keeping up to `window` acknowledgements outstanding. An event whose
/// acknowledgement fails is published again with the same id until `timeout` has passed.
pub async fn publish_ordered(
    client: &async_nats::Client,
    events: Vec<(&'static str, Bytes)>,
    prefix: &str,
    window: usize,
    timeout: Duration,
) -> Result<OrderedPublish, String> {
    let js = async_nats::jetstream::new(client.clone());
    let start = Instant::now();
    let deadline = start + timeout;
    let mut result = OrderedPublish {
        publish_time: Duration::ZERO,
        duplicates: 0,
        retries: 0,
    };
    let mut outstanding: VecDeque<(usize, PublishAckFuture)> = VecDeque::new();
    for (i, (subject, payload)) in events.iter().enumerate() {
        let ack = js
            .publish_with_headers(
                *subject,
                msg_id_headers(&format!("{prefix}-{i}")),
                payload.clone(),
            )
            .await
            .map_err(|e| format!("publish of event {i}: {e}"))?;
        outstanding.push_back((i, ack));
        if outstanding.len() >= window.max(1)
            && let Some((j, ack)) = outstanding.pop_front()
        {
            settle(&js, &events, prefix, j, ack, deadline, &mut result).await?;
        }
    }
    while let Some((j, ack)) = outstanding.pop_front() {
        settle(&js, &events, prefix, j, ack, deadline, &mut result).await?;
    }
    result.publish_time = start.elapsed();
    Ok(result)
}

/// Awaits event `i`'s acknowledgement, publishing it again (same id) while it fails.
async fn settle(
    js: &Context,
    events: &[(&'static str, Bytes)],
    prefix: &str,
    i: usize,
    ack: PublishAckFuture,
    deadline: Instant,
    result: &mut OrderedPublish,
) -> Result<(), String> {
    let mut outcome = ack.await.map_err(|e| e.to_string());
    loop {
        match outcome {
            Ok(ack) => {
                result.duplicates += u64::from(ack.duplicate);
                return Ok(());
            }
            Err(e) if Instant::now() > deadline => {
                return Err(format!("event {i}: {e} (gave up)"));
            }
            Err(_) => {
                result.retries += 1;
                let (subject, payload) = &events[i];
                outcome = match js
                    .publish_with_headers(
                        *subject,
                        msg_id_headers(&format!("{prefix}-{i}")),
                        payload.clone(),
                    )
                    .await
                {
                    Ok(ack) => ack.await.map_err(|e| e.to_string()),
                    Err(e) => Err(e.to_string()),
                };
            }
        }
    }
}
