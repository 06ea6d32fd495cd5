//! Query latency: sequential request/reply round trips to the database service, each
//! alternating with a round trip to a trivial echo responder (a separate process on the same
//! nats-server) whose reply has the same size as the service's, so the service and its floor
//! are measured under the same conditions and carry the same bytes.
//!
//! The echo responder is `crate::dbbench::start_echo`, run by [`serve_echo`] in its
//! own process (`rosey bench --echo-responder URL`).

use std::time::{Duration, Instant};

use crate::dbbench;
use bytes::Bytes;
use rosey_bus::{Bus, NatsOptions};
use serde::{Deserialize, Serialize};

use crate::error::BenchError;
use crate::stats::{LatencySpread, Percentiles, Spread};

/// How long one request may take before the run fails.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(2);

/// The subject of the echo floor.
pub const ECHO_SUBJECT: &str = dbbench::ECHO_SUBJECT;
/// The subject of the same-size echo floor.
pub const ECHO_SIZED_SUBJECT: &str = dbbench::ECHO_SIZED_SUBJECT;

/// One query endpoint, as reported.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EndpointLatency {
    pub subject: String,
    pub request: String,
    pub latency: LatencySpread,
    /// The echo floor measured alternately with this endpoint.
    pub echo: LatencySpread,
    /// This endpoint's p99 divided by the echo p99 of the same run.
    pub p99_over_echo: Spread,
    /// This endpoint's p50 divided by the echo p50 of the same run (absent in reports from
    /// before it was measured).
    #[serde(default)]
    pub p50_over_echo: Option<Spread>,
}

/// Serves the echo subject on `url` until SIGTERM/SIGINT or the end of the subscription
/// (the body of the hidden `rosey bench --echo-responder URL`).
pub async fn serve_echo(url: &str) -> Result<(), BenchError> {
    let bus = Bus::connect(NatsOptions::new(url)).await?;
    let task = dbbench::start_echo(bus).await?;
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        _ = task => {}
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
    Ok(())
}

/// `n` round trips to `subject`, each after one to the echo floor with a reply of the same
/// size as `subject`'s (learnt from one request first; the echo's request is that size in
/// digits). Returns (subject, echo). An error reply (`{"success":false,…}`) fails the run:
/// its latency would mean nothing.
pub async fn alternate(
    client: &Bus,
    subject: &str,
    payload: &[u8],
    n: usize,
) -> Result<(Percentiles, Percentiles), BenchError> {
    let payload = Bytes::copy_from_slice(payload);
    let reply_size = client
        .request(subject, payload.clone(), REQUEST_TIMEOUT)
        .await
        .map_err(|e| BenchError::measurement("query request", format!("{subject}: {e}")))?
        .payload
        .len();
    let echo_request = Bytes::from(reply_size.to_string());
    let (mut own, mut echo) = (Vec::with_capacity(n), Vec::with_capacity(n));
    for _ in 0..n {
        let t = Instant::now();
        let floor = client
            .request(ECHO_SIZED_SUBJECT, echo_request.clone(), REQUEST_TIMEOUT)
            .await
            .map_err(|e| BenchError::measurement("echo request", e))?;
        debug_assert_eq!(floor.payload.len(), reply_size);
        echo.push(t.elapsed());
        let t = Instant::now();
        let reply = client
            .request(subject, payload.clone(), REQUEST_TIMEOUT)
            .await
            .map_err(|e| BenchError::measurement("query request", format!("{subject}: {e}")))?;
        own.push(t.elapsed());
        if reply.payload.starts_with(br#"{"success":false"#) {
            return Err(BenchError::measurement(
                "query request",
                format!(
                    "{subject} answered an error: {}",
                    String::from_utf8_lossy(&reply.payload)
                ),
            ));
        }
    }
    Ok((Percentiles::of(&own), Percentiles::of(&echo)))
}

/// Several runs of [`alternate`] for one endpoint, summarised.
pub async fn endpoint(
    client: &Bus,
    subject: &str,
    request: &str,
    requests: usize,
    warmup: usize,
    runs: usize,
    mut after_run: impl FnMut(),
) -> Result<EndpointLatency, BenchError> {
    alternate(client, subject, request.as_bytes(), warmup).await?;
    let (mut own, mut echo) = (Vec::new(), Vec::new());
    for _ in 0..runs {
        let (o, e) = alternate(client, subject, request.as_bytes(), requests).await?;
        own.push(o);
        echo.push(e);
        after_run();
    }
    let none = || BenchError::measurement("query latency", "no run");
    Ok(EndpointLatency {
        subject: subject.to_string(),
        request: request.to_string(),
        latency: LatencySpread::of(&own).ok_or_else(none)?,
        echo: LatencySpread::of(&echo).ok_or_else(none)?,
        p99_over_echo: Spread::of(
            own.iter()
                .zip(&echo)
                .map(|(o, e)| o.p99_ms / e.p99_ms.max(f64::MIN_POSITIVE))
                .collect(),
        )
        .ok_or_else(none)?,
        p50_over_echo: Spread::of(
            own.iter()
                .zip(&echo)
                .map(|(o, e)| o.p50_ms / e.p50_ms.max(f64::MIN_POSITIVE))
                .collect(),
        ),
    })
}

/// Requests `subject` until it is answered; returns the time since `since`.
pub async fn wait_answering(
    client: &Bus,
    what: &str,
    subject: &str,
    since: Instant,
    timeout: Duration,
) -> Result<Duration, BenchError> {
    dbbench::wait_ready(client, subject, since, timeout)
        .await
        .map_err(|detail| BenchError::NotReady {
            what: what.to_string(),
            seconds: timeout.as_secs_f64(),
            detail,
        })
}
