//! The measuring code of the database-service benchmark, as a library so that `rosey bench`
//! can reuse it; `examples/bench.rs` is the runnable entry point.
//!
//! It only talks to the bus and reads the database through `rosey_store::Storage` (SQLite
//! or PostgreSQL alike, on a [`StoreThread`]); it does not start the service, so it measures
//! an in-process service or a separate `rosey db-service` process alike. [`publish_durable`] is the durable-mode publisher (JetStream, `Nats-Msg-Id`, acks
//! awaited, a pipelined window, retries with the same id); the fault tests use it too. Nothing here sleeps to wait for a result: completion is polled against the
//! database with a deadline (an O(log n) `max(id)` probe, so polling costs almost nothing).

use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::StreamExt;
use futures::stream::FuturesUnordered;
use rosey_bus::durable::msg_id_headers;
use rosey_bus::{Bus, BusError};
use rosey_model::subjects;
use rosey_store::storage::{self, StoreTarget};
use rosey_store::{StoreOptions, StoreThread};

/// Subject of the trivial echo responder used as the latency floor.
pub const ECHO_SUBJECT: &str = "rosey.bench.echo";
/// The echo floor for a reply of a given size: the request is the size in bytes (decimal),
/// the reply that many bytes.
pub const ECHO_SIZED_SUBJECT: &str = "rosey.bench.echo.sized";

/// Latency percentiles of a series of sequential requests.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Latency {
    pub count: usize,
    pub p50: Duration,
    pub p99: Duration,
    pub max: Duration,
}

impl Latency {
    /// Percentiles of `samples` (any order).
    pub fn from_samples(mut samples: Vec<Duration>) -> Latency {
        samples.sort();
        let at = |q: f64| {
            samples
                .get(((samples.len() as f64 * q).ceil() as usize).saturating_sub(1))
                .copied()
                .unwrap_or_default()
        };
        Latency {
            count: samples.len(),
            p50: at(0.50),
            p99: at(0.99),
            max: samples.last().copied().unwrap_or_default(),
        }
    }
}

/// Result of a burst.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Burst {
    pub events: usize,
    /// Time to publish everything (client side).
    pub publish_time: Duration,
    /// From the first publish until every effect was in the database.
    pub end_to_end: Duration,
}

impl Burst {
    pub fn events_per_sec(&self) -> f64 {
        self.events as f64 / self.end_to_end.as_secs_f64()
    }
}

/// What the mixed burst must have produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MixedExpectation {
    pub messages: i64,
    pub user_counts: i64,
    pub users: i64,
    pub total_time_connected: i64,
    pub max_users: i64,
    pub max_connected: i64,
}

/// `n` `message.log` payloads from 100 users (Python-original shape plus `channel`).
pub fn message_burst(n: usize, channel: &str) -> Vec<(&'static str, Bytes)> {
    (0..n)
        .map(|i| {
            let p = format!(
                r#"{{"username":"user{}","message":"burst line {i}","channel":"{channel}"}}"#,
                i % 100
            );
            (subjects::MESSAGE_LOG, Bytes::from(p))
        })
        .collect()
}

/// About `n` mixed events in blocks of ten: join, six chat lines, high water, user count,
/// leave (10 s after the join), cycling over 100 users.
pub fn mixed_burst(n: usize, channel: &str) -> (Vec<(&'static str, Bytes)>, MixedExpectation) {
    let blocks = n / 10;
    let mut out = Vec::with_capacity(blocks * 10);
    let (mut max_users, mut max_connected) = (0, 0);
    for i in 0..blocks {
        let user = format!("user{}", i % 100);
        let ts = 1_700_000_000 + i as i64;
        let ev = |s: &'static str, body: String| (s, Bytes::from(body));
        out.push(ev(
            subjects::USER_JOINED,
            format!(r#"{{"username":"{user}","channel":"{channel}","ts":{ts}}}"#),
        ));
        for k in 0..6 {
            out.push(ev(
                subjects::MESSAGE_LOG,
                format!(
                    r#"{{"username":"{user}","message":"line {k} of {i}","channel":"{channel}","ts":{}}}"#,
                    ts + 1
                ),
            ));
        }
        let (chat, connected) = ((i % 500) as i64, (i % 700) as i64);
        max_users = max_users.max(chat);
        max_connected = max_connected.max(connected);
        out.push(ev(
            subjects::STATS_HIGH_WATER,
            format!(
                r#"{{"chat_count":{chat},"connected_count":{connected},"channel":"{channel}","ts":{ts}}}"#
            ),
        ));
        out.push(ev(
            subjects::STATS_USER_COUNT,
            format!(
                r#"{{"chat_count":{chat},"connected_count":{connected},"channel":"{channel}","ts":{ts}}}"#
            ),
        ));
        out.push(ev(
            subjects::USER_LEFT,
            format!(
                r#"{{"username":"{user}","channel":"{channel}","ts":{}}}"#,
                ts + 10
            ),
        ));
    }
    let expect = MixedExpectation {
        messages: blocks as i64 * 6,
        user_counts: blocks as i64,
        users: blocks.min(100) as i64,
        total_time_connected: blocks as i64 * 10,
        max_users,
        max_connected,
    };
    (out, expect)
}

/// The mixed burst with a media change in every block (issue 28's cost): each block of
/// [`mixed_burst`] gains a `media.played` after its join and a `media.ended` (played out)
/// before its leave, twelve events per block over about `n` events; the media cycle over 50
/// items queued by the block's user. Returns the payloads, the chat effects (the same as
/// [`mixed_burst`]'s) and the plays that must end up recorded, each with its ending.
pub fn mixed_media_burst(
    n: usize,
    channel: &str,
) -> (Vec<(&'static str, Bytes)>, MixedExpectation, i64) {
    let blocks = n / 12;
    let (plain, expect) = mixed_burst(blocks * 10, channel);
    let mut out = Vec::with_capacity(blocks * 12);
    for (i, block) in plain.chunks(10).enumerate() {
        let ts = 1_700_000_000 + i as i64;
        let (media, user) = (format!("m{}", i % 50), format!("user{}", i % 100));
        out.push(block[0].clone());
        out.push((
            subjects::MEDIA_PLAYED,
            Bytes::from(format!(
                r#"{{"type":"yt","media_id":"{media}","title":"Song {media}","duration":5,"queued_by":"{user}","channel":"{channel}","ts":{ts}}}"#
            )),
        ));
        out.extend_from_slice(&block[1..9]);
        out.push((
            subjects::MEDIA_ENDED,
            Bytes::from(format!(
                r#"{{"type":"yt","media_id":"{media}","reason":"played","channel":"{channel}","ts":{}}}"#,
                ts + 5
            )),
        ));
        out.push(block[9].clone());
    }
    (out, expect, blocks as i64)
}

/// Publishes `events` as fast as the client takes them, then waits until the newest row id
/// of `table` reaches `expected_rows` (the table must start empty). `timeout` bounds the wait.
pub async fn run_burst(
    client: &Bus,
    events: Vec<(&'static str, Bytes)>,
    db: impl Into<StoreTarget>,
    table: &'static str,
    expected_rows: i64,
    timeout: Duration,
) -> Result<Burst, String> {
    let reader = open_reader(db.into()).await?;
    let n = events.len();
    let start = Instant::now();
    for (subject, payload) in events {
        client
            .publish(subject, payload)
            .await
            .map_err(|e| e.to_string())?;
    }
    client.flush().await.map_err(|e| e.to_string())?;
    let publish_time = start.elapsed();
    loop {
        let rows = reader
            .call(move |s| s.last_id(table))
            .await
            .map_err(|e| e.to_string())?;
        if rows >= expected_rows {
            break;
        }
        if start.elapsed() > timeout {
            return Err(format!(
                "only {rows} of {expected_rows} rows in {table} after {timeout:?}"
            ));
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    Ok(Burst {
        events: n,
        publish_time,
        end_to_end: start.elapsed(),
    })
}

/// Result of [`publish_durable`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DurablePublish {
    pub events: usize,
    /// From the first publish until the stream acknowledged the last event.
    pub publish_time: Duration,
    /// Per event: from its first publish attempt until the stream's acknowledgement (what a
    /// durable publisher waits for).
    pub latency: Latency,
    /// Acknowledged as duplicates (a retry of an event the stream already had).
    pub duplicates: u64,
    /// Attempts that failed and were retried (NATS unreachable, no ack in time).
    pub retries: u64,
}

impl DurablePublish {
    pub fn events_per_sec(&self) -> f64 {
        self.events as f64 / self.publish_time.as_secs_f64()
    }
}

/// How long one publish waits for the stream's acknowledgement before it is retried.
const DURABLE_ACK_TIMEOUT: Duration = Duration::from_secs(2);

/// Publishes `events` to JetStream, event `i` with `Nats-Msg-Id` `<id_prefix>-<i>`, keeping up
/// to `window` events waiting for their acknowledgement (1 = one at a time, like the bot's
/// outbox). A failed attempt is retried with the same id (the stream drops a duplicate within
/// its window) until `timeout` has passed since the start. The stream must exist.
pub async fn publish_durable(
    client: &async_nats::Client,
    events: Vec<(&'static str, Bytes)>,
    id_prefix: &str,
    window: usize,
    timeout: Duration,
) -> Result<DurablePublish, String> {
    let js = async_nats::jetstream::new(client.clone());
    let js = &js;
    let n = events.len();
    let start = Instant::now();
    let deadline = start + timeout;
    let one = |i: usize, subject: &'static str, payload: Bytes| {
        let id = format!("{id_prefix}-{i}");
        async move {
            let first = Instant::now();
            let mut retries = 0u64;
            let mut delay = Duration::from_millis(20);
            loop {
                let attempt = async {
                    let ack = js
                        .publish_with_headers(subject, msg_id_headers(&id), payload.clone())
                        .await
                        .map_err(|e| e.to_string())?;
                    match tokio::time::timeout(DURABLE_ACK_TIMEOUT, ack).await {
                        Ok(Ok(ack)) => Ok(ack.duplicate),
                        Ok(Err(e)) => Err(e.to_string()),
                        Err(_) => Err("no acknowledgement".to_string()),
                    }
                };
                match attempt.await {
                    Ok(duplicate) => return Ok((first.elapsed(), duplicate, retries)),
                    Err(e) if Instant::now() >= deadline => {
                        return Err(format!("event {id}: {e} (gave up after {timeout:?})"));
                    }
                    Err(_) => {
                        retries += 1;
                        tokio::time::sleep(delay).await;
                        delay = (delay * 2).min(Duration::from_millis(500));
                    }
                }
            }
        }
    };
    let mut samples = Vec::with_capacity(n);
    let (mut duplicates, mut retries) = (0, 0);
    let mut in_flight = FuturesUnordered::new();
    let mut pending = events.into_iter().enumerate();
    loop {
        while in_flight.len() < window.max(1) {
            match pending.next() {
                Some((i, (subject, payload))) => in_flight.push(one(i, subject, payload)),
                None => break,
            }
        }
        match in_flight.next().await {
            Some(r) => {
                let (latency, duplicate, r) = r?;
                samples.push(latency);
                duplicates += u64::from(duplicate);
                retries += r;
            }
            None => break,
        }
    }
    Ok(DurablePublish {
        events: n,
        publish_time: start.elapsed(),
        latency: Latency::from_samples(samples),
        duplicates,
        retries,
    })
}

/// Times each `publish().await` of a plain (core NATS) publisher: what the bot waits for in
/// plain mode (the client's buffer, no acknowledgement). Flushes at the end.
pub async fn publish_plain(
    client: &Bus,
    events: Vec<(&'static str, Bytes)>,
) -> Result<(Duration, Latency), String> {
    let start = Instant::now();
    let mut samples = Vec::with_capacity(events.len());
    for (subject, payload) in events {
        let t = Instant::now();
        client
            .publish(subject, payload)
            .await
            .map_err(|e| e.to_string())?;
        samples.push(t.elapsed());
    }
    client.flush().await.map_err(|e| e.to_string())?;
    Ok((start.elapsed(), Latency::from_samples(samples)))
}

/// Polls the highest id of `table` until it reaches `expected` or `timeout` passes; returns
/// the time from `since`. (An O(log n) probe, so polling costs almost nothing.)
pub async fn wait_rows(
    db: impl Into<StoreTarget>,
    table: &'static str,
    expected: i64,
    since: Instant,
    timeout: Duration,
) -> Result<Duration, String> {
    let reader = open_reader(db.into()).await?;
    loop {
        let rows = reader
            .call(move |s| s.last_id(table))
            .await
            .map_err(|e| e.to_string())?;
        if rows >= expected {
            return Ok(since.elapsed());
        }
        if since.elapsed() > timeout {
            return Err(format!(
                "only {rows} of {expected} rows in {table} after {timeout:?}"
            ));
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

/// Checks the effects of a mixed burst through `reader` ([`open_reader`]); returns what
/// differs.
pub async fn check_mixed(
    reader: &StoreThread,
    channel: &str,
    e: &MixedExpectation,
) -> Result<(), String> {
    let ch = channel.to_string();
    let (got, lines, open) = reader
        .call(move |s| {
            let stats = s.channel_stats(&ch)?;
            let totals = s.channel_totals(&ch)?;
            let got = MixedExpectation {
                messages: totals.chat_rows,
                user_counts: totals.user_count_rows,
                users: stats.total_users_seen,
                total_time_connected: totals.total_time_connected,
                max_users: stats.high_water_mark.users,
                max_connected: stats.high_water_connected.users,
            };
            Ok((got, totals.chat_lines, totals.open_sessions))
        })
        .await
        .map_err(|e| e.to_string())?;
    if got != *e || lines != e.messages || open != 0 {
        return Err(format!(
            "expected {e:?}, got {got:?}, chat lines {lines}, open sessions {open}"
        ));
    }
    Ok(())
}

/// Serves [`ECHO_SUBJECT`] on `bus`, replying with the request's payload, and
/// [`ECHO_SIZED_SUBJECT`], replying with as many bytes as the request asks for (kept from
/// the last request, so a run of same-size requests allocates nothing).
pub async fn start_echo(bus: Bus) -> Result<tokio::task::JoinHandle<()>, BusError> {
    let plain = bus.subscribe(ECHO_SUBJECT).await?;
    let sized = bus.subscribe(ECHO_SIZED_SUBJECT).await?;
    bus.flush().await?;
    Ok(tokio::spawn(async move {
        let mut all = futures::stream::select(plain, sized);
        let mut filler = Bytes::new();
        while let Some(m) = all.next().await {
            let reply = if m.subject == ECHO_SIZED_SUBJECT {
                let size = std::str::from_utf8(&m.payload)
                    .ok()
                    .and_then(|s| s.trim().parse::<usize>().ok())
                    .unwrap_or(0)
                    .min(1 << 20);
                if filler.len() != size {
                    filler = Bytes::from(vec![b'x'; size]);
                }
                filler.clone()
            } else {
                m.payload.clone()
            };
            let _ = bus.respond(&m, reply).await;
        }
    }))
}

/// `n` sequential requests alternating between `subject` and the echo floor, so both see
/// the same conditions. Returns (subject, echo).
pub async fn latency_vs_echo(
    client: &Bus,
    subject: &str,
    payload: &[u8],
    n: usize,
) -> Result<(Latency, Latency), String> {
    let payload = Bytes::copy_from_slice(payload);
    let (mut a, mut b) = (Vec::with_capacity(n), Vec::with_capacity(n));
    let timeout = Duration::from_secs(2);
    for _ in 0..n {
        let t = Instant::now();
        client
            .request(ECHO_SUBJECT, payload.clone(), timeout)
            .await
            .map_err(|e| e.to_string())?;
        b.push(t.elapsed());
        let t = Instant::now();
        let reply = client
            .request(subject, payload.clone(), timeout)
            .await
            .map_err(|e| e.to_string())?;
        a.push(t.elapsed());
        if reply.payload.starts_with(br#"{"success":false"#) {
            return Err(format!(
                "error reply: {}",
                String::from_utf8_lossy(&reply.payload)
            ));
        }
    }
    Ok((Latency::from_samples(a), Latency::from_samples(b)))
}

/// Requests `subject` until it is answered; returns how long that took from `since`.
pub async fn wait_ready(
    client: &Bus,
    subject: &str,
    since: Instant,
    timeout: Duration,
) -> Result<Duration, String> {
    loop {
        match client
            .request(subject, &b"{}"[..], Duration::from_millis(50))
            .await
        {
            Ok(_) => return Ok(since.elapsed()),
            Err(e) if since.elapsed() > timeout => return Err(e.to_string()),
            Err(_) => tokio::task::yield_now().await,
        }
    }
}

/// (VmRSS, VmHWM) of a process in KiB, from `/proc/<pid>/status` (Linux).
pub fn rss_kib(pid: u32) -> Option<(u64, u64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
    };
    Some((field("VmRSS:")?, field("VmHWM:")?))
}

/// A read-only connection on a thread of its own.
pub async fn open_reader(db: StoreTarget) -> Result<StoreThread, String> {
    StoreThread::spawn("rosey-bench-reader", move || {
        storage::open_reader(&db, &StoreOptions::default())
    })
    .await
    .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles() {
        let l = Latency::from_samples((1..=100).map(Duration::from_micros).collect());
        assert_eq!(l.p50, Duration::from_micros(50));
        assert_eq!(l.p99, Duration::from_micros(99));
        assert_eq!(l.max, Duration::from_micros(100));
    }

    #[test]
    fn mixed_burst_expectation_counts() {
        let (events, e) = mixed_burst(1000, "c");
        assert_eq!(events.len(), 1000);
        assert_eq!(e.messages, 600);
        assert_eq!(e.user_counts, 100);
        assert_eq!(e.max_users, 99);
    }
}
