//! Queries while chat is written: the query figures again, while a steady stream of
//! `message.log` lines (a busy channel, [`WRITE_RATE`] lines/s, one every millisecond) is
//! committed to the channel being queried. Without writes the service answers from the reply
//! it kept since the last commit (the "cached" figures); here nearly every request finds the
//! data changed and goes to SQLite, beside a writer committing every millisecond.
//!
//! The writer is a task in this process publishing on its own NATS connection, so its
//! publishes never queue behind the measured requests on the client's socket.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use rosey_bus::{Bus, NatsOptions};
use rosey_model::subjects;
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

use crate::error::BenchError;
use crate::query::{self, EndpointLatency};

/// Lines per second committed while the queries run.
pub const WRITE_RATE: u32 = 1_000;

/// The query figures under writes, with the write rate the stream achieved.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WrittenQueries {
    /// Target lines per second.
    pub rate: u32,
    /// Lines per second the writer published over the whole measurement.
    pub achieved_rate: f64,
    /// Lines the writer published.
    pub lines: u64,
    pub endpoints: Vec<EndpointLatency>,
}

/// A steady writer: one `message.log` line on `channel` every 1/`rate` s until stopped.
struct SteadyWriter {
    stop: CancellationToken,
    task: tokio::task::JoinHandle<Result<(), BenchError>>,
    sent: Arc<AtomicU64>,
    started: Instant,
}

impl SteadyWriter {
    async fn start(url: &str, channel: &str, rate: u32) -> Result<SteadyWriter, BenchError> {
        let bus = Bus::connect(NatsOptions::new(url.to_string())).await?;
        let stop = CancellationToken::new();
        let sent = Arc::new(AtomicU64::new(0));
        let (token, count, channel) = (stop.clone(), sent.clone(), channel.to_string());
        let started = Instant::now();
        let task = tokio::spawn(async move {
            let mut tick =
                tokio::time::interval(Duration::from_secs_f64(1.0 / f64::from(rate.max(1))));
            // A late tick is caught up: the rate is the rate, whatever the timer did.
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
            let mut k = 0u64;
            loop {
                tokio::select! {
                    _ = token.cancelled() => break,
                    _ = tick.tick() => {
                        let p = format!(
                            r#"{{"username":"user{}","message":"written line {k}","channel":"{channel}"}}"#,
                            k % 100
                        );
                        bus.publish(subjects::MESSAGE_LOG, Bytes::from(p)).await?;
                        k += 1;
                        count.store(k, Ordering::Relaxed);
                    }
                }
            }
            bus.flush().await?;
            Ok(())
        });
        Ok(SteadyWriter {
            stop,
            task,
            sent,
            started,
        })
    }

    /// Stops the writer; (lines, lines per second).
    async fn finish(self) -> Result<(u64, f64), BenchError> {
        let elapsed = self.started.elapsed().as_secs_f64();
        self.stop.cancel();
        self.task
            .await
            .map_err(|e| BenchError::measurement("steady writer", e))??;
        let lines = self.sent.load(Ordering::Relaxed);
        Ok((lines, lines as f64 / elapsed.max(f64::MIN_POSITIVE)))
    }
}

/// The `requests` (subject, request body) measured as [`query::endpoint`] does, while
/// [`WRITE_RATE`] lines/s are written to `channel`.
#[allow(clippy::too_many_arguments)]
pub async fn measure(
    client: &Bus,
    url: &str,
    channel: &str,
    requests: &[(&str, String)],
    per_run: usize,
    warmup: usize,
    runs: usize,
    mut after_run: impl FnMut(),
) -> Result<WrittenQueries, BenchError> {
    let writer = SteadyWriter::start(url, channel, WRITE_RATE).await?;
    // Let the stream reach its pace before the first request.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut endpoints = Vec::new();
    for (subject, request) in requests {
        let e = query::endpoint(
            client,
            subject,
            request,
            per_run,
            warmup,
            runs,
            &mut after_run,
        )
        .await;
        match e {
            Ok(e) => endpoints.push(e),
            Err(e) => {
                let _ = writer.finish().await;
                return Err(e);
            }
        }
    }
    let (lines, achieved_rate) = writer.finish().await?;
    Ok(WrittenQueries {
        rate: WRITE_RATE,
        achieved_rate,
        lines,
        endpoints,
    })
}
