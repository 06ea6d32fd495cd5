//! Ingest: bursts of `rosey.db.*` events published to NATS as fast as the client takes them,
//! timed until every effect is committed in the database, with lost and duplicated counts.
//!
//! The payloads and the "wait for the last row" loop are `crate::dbbench`'s; this
//! module adds what a report needs around them: a fresh channel per run (so counts are per
//! run), lost/duplicated counts that do not assume success, the mixed burst's full effect
//! check folded into the timing, and the service's CPU time per run.

use std::path::Path;
use std::time::{Duration, Instant};

use crate::dbbench;
use rosey_bus::Bus;
use rosey_store::{Store, StoreOptions};
use serde::{Deserialize, Serialize};

use crate::error::BenchError;
use crate::procs::Child;
use crate::stats::Spread;

/// One measured burst.
#[derive(Debug, Clone, PartialEq)]
pub struct BurstRun {
    pub events: usize,
    /// Client-side publish time (`None` when the burst did not complete).
    pub publish: Option<Duration>,
    /// First publish → every effect committed (`None` when it never completed).
    pub end_to_end: Option<Duration>,
    pub lost: u64,
    pub duplicated: u64,
    /// What the mixed burst's effect check found wrong, if anything.
    pub effects_error: Option<String>,
    /// CPU seconds the database service used during the run.
    pub service_cpu_s: f64,
    /// Publish attempts the durable publisher had to retry (0 in plain mode).
    pub publish_retries: u64,
}

/// A burst kind over several runs, as reported.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BurstFigure {
    pub events_per_run: usize,
    pub runs: usize,
    /// Runs that completed (every effect committed before the deadline).
    pub completed_runs: usize,
    pub events_per_s: Option<Spread>,
    pub publish_ms: Option<Spread>,
    /// Summed over the runs.
    pub lost: u64,
    /// Summed over the runs.
    pub duplicated: u64,
    /// `None` for a burst without an effect check (message bursts are checked by count).
    pub effects_error: Option<String>,
    /// Database-service CPU seconds per 1,000 events.
    pub service_cpu_s_per_1000_events: Option<Spread>,
    /// Summed over the runs (durable mode; 0 in plain mode).
    pub publish_retries: u64,
}

impl BurstFigure {
    pub fn of(runs: &[BurstRun]) -> BurstFigure {
        let per_s: Vec<f64> = runs
            .iter()
            .filter_map(|r| r.end_to_end.map(|d| r.events as f64 / d.as_secs_f64()))
            .collect();
        BurstFigure {
            events_per_run: runs.first().map_or(0, |r| r.events),
            runs: runs.len(),
            completed_runs: per_s.len(),
            events_per_s: Spread::of(per_s),
            publish_ms: Spread::of(
                runs.iter()
                    .filter_map(|r| r.publish.map(|d| d.as_secs_f64() * 1e3))
                    .collect(),
            ),
            lost: runs.iter().map(|r| r.lost).sum(),
            duplicated: runs.iter().map(|r| r.duplicated).sum(),
            effects_error: runs.iter().find_map(|r| r.effects_error.clone()),
            service_cpu_s_per_1000_events: Spread::of(
                runs.iter()
                    .map(|r| r.service_cpu_s / r.events.max(1) as f64 * 1000.0)
                    .collect(),
            ),
            publish_retries: runs.iter().map(|r| r.publish_retries).sum(),
        }
    }
}

/// How long a burst may take before it counts as not completed: generous (1,000 events/s)
/// so that a slow machine still gives a figure, bounded so a lost event cannot hang the suite.
pub fn burst_timeout(events: usize) -> Duration {
    Duration::from_secs_f64((events as f64 / 1000.0).max(10.0))
}

/// Publishes `events` `message.log` events for a fresh `channel` and measures them.
pub async fn message_burst(
    client: &Bus,
    db: &Path,
    service: &mut Child,
    channel: &str,
    events: usize,
) -> Result<BurstRun, BenchError> {
    let base = max_id(db, "recent_chat")?;
    let cpu0 = service.sample()?.cpu_s;
    let burst = dbbench::run_burst(
        client,
        dbbench::message_burst(events, channel),
        db,
        "recent_chat",
        base + events as i64,
        burst_timeout(events),
    )
    .await;
    let cpu1 = service.sample()?.cpu_s;
    let (rows, distinct) = chat_counts(db, channel)?;
    let (lost, duplicated) = lost_and_duplicated(events as i64, rows, distinct);
    let (publish, end_to_end) = match burst {
        Ok(b) => (Some(b.publish_time), Some(b.end_to_end)),
        Err(e) => {
            tracing::warn!(error = %e, channel, "Message burst did not complete.");
            (None, None)
        }
    };
    Ok(BurstRun {
        events,
        publish,
        end_to_end,
        lost,
        duplicated,
        effects_error: None,
        service_cpu_s: cpu1 - cpu0,
        publish_retries: 0,
    })
}

/// Publishes a mixed burst of about `events` events for a fresh `channel`; the time runs
/// until every effect (chat rows and lines, user counts, sessions, high-water marks) is in the
/// database.
pub async fn mixed_burst(
    client: &Bus,
    db: &Path,
    service: &mut Child,
    channel: &str,
    events: usize,
) -> Result<BurstRun, BenchError> {
    let (payloads, expect) = dbbench::mixed_burst(events, channel);
    mixed_run(client, db, service, channel, payloads, &expect, 0).await
}

/// The mixed burst with a media change in every block ([`dbbench::mixed_media_burst`]): the
/// time runs until every chat effect and every play with its ending is in the database.
pub async fn mixed_media_burst(
    client: &Bus,
    db: &Path,
    service: &mut Child,
    channel: &str,
    events: usize,
) -> Result<BurstRun, BenchError> {
    let (payloads, expect, plays) = dbbench::mixed_media_burst(events, channel);
    mixed_run(client, db, service, channel, payloads, &expect, plays).await
}

/// One mixed burst; `plays` media plays (each with its ending) must be recorded too.
async fn mixed_run(
    client: &Bus,
    db: &Path,
    service: &mut Child,
    channel: &str,
    payloads: Vec<(&'static str, bytes::Bytes)>,
    expect: &dbbench::MixedExpectation,
    plays: i64,
) -> Result<BurstRun, BenchError> {
    let n = payloads.len();
    let base = max_id(db, "recent_chat")?;
    let cpu0 = service.sample()?.cpu_s;
    let timeout = burst_timeout(n);
    let start = Instant::now();
    let burst = dbbench::run_burst(
        client,
        payloads,
        db,
        "recent_chat",
        base + expect.messages,
        timeout,
    )
    .await;
    // The chat rows are in; the block's last events (high water, user count, leave) follow
    // them in the same ordered stream: the time stops when the whole effect check passes.
    let mut effects_error = None;
    let mut end_to_end = None;
    if burst.is_ok() {
        match wait_effects(db, channel, expect, start, timeout).await {
            Ok(t) => end_to_end = Some(t),
            Err(e) => effects_error = Some(e),
        }
    } else if let Err(e) = check_mixed_once(db, channel, expect).await {
        effects_error = Some(e);
    }
    if plays > 0 && effects_error.is_none() {
        match wait_plays(db, channel, plays, start, timeout).await {
            Ok(t) => end_to_end = end_to_end.map(|e| e.max(t)),
            Err(e) => {
                end_to_end = None;
                effects_error = Some(e);
            }
        }
    }
    let cpu1 = service.sample()?.cpu_s;
    let (rows, distinct) = chat_counts(db, channel)?;
    let (lost, duplicated) = lost_and_duplicated(expect.messages, rows, distinct);
    Ok(BurstRun {
        events: n,
        publish: burst.as_ref().ok().map(|b| b.publish_time),
        end_to_end,
        lost,
        duplicated,
        effects_error,
        service_cpu_s: cpu1 - cpu0,
        publish_retries: 0,
    })
}

/// Checks every effect of a mixed burst once.
pub(crate) async fn check_mixed_once(
    db: &Path,
    channel: &str,
    expect: &dbbench::MixedExpectation,
) -> Result<(), String> {
    let reader = dbbench::open_reader(db.into()).await?;
    dbbench::check_mixed(&reader, channel, expect).await
}

/// Re-checks every effect of a mixed burst until it passes (→ the time since `start`) or
/// `timeout` has passed since `start` (→ the last mismatch).
pub(crate) async fn wait_effects(
    db: &Path,
    channel: &str,
    expect: &dbbench::MixedExpectation,
    start: Instant,
    timeout: Duration,
) -> Result<Duration, String> {
    let reader = dbbench::open_reader(db.into()).await?;
    loop {
        match dbbench::check_mixed(&reader, channel, expect).await {
            Ok(()) => return Ok(start.elapsed()),
            Err(e) if start.elapsed() > timeout => return Err(e),
            Err(_) => tokio::time::sleep(Duration::from_millis(1)).await,
        }
    }
}

/// Waits until `channel` has `plays` recorded plays, each ended (→ the time since `start`),
/// or `timeout` has passed since `start` (→ what was found).
async fn wait_plays(
    db: &Path,
    channel: &str,
    plays: i64,
    start: Instant,
    timeout: Duration,
) -> Result<Duration, String> {
    let s = reader(db).map_err(|e| e.to_string())?;
    loop {
        let (rows, ended): (i64, i64) = s
            .connection()
            .query_row(
                "SELECT count(*), count(end_reason) FROM media_history WHERE channel = ?1",
                [channel],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .map_err(|e| e.to_string())?;
        if rows == plays && ended == plays {
            return Ok(start.elapsed());
        }
        if start.elapsed() > timeout {
            return Err(format!(
                "expected {plays} plays, each ended; found {rows} plays, {ended} ended"
            ));
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

/// (lost, duplicated) from the expected row count, the rows found and the distinct rows
/// found (every burst line is unique, so a repeated line is a duplicate).
pub fn lost_and_duplicated(expected: i64, rows: i64, distinct: i64) -> (u64, u64) {
    (
        (expected - distinct).max(0) as u64,
        (rows - distinct).max(0) as u64,
    )
}

fn reader(db: &Path) -> Result<Store, BenchError> {
    Store::open_read_only(db, &StoreOptions::default()).map_err(|e| BenchError::Database {
        path: db.to_path_buf(),
        detail: e.to_string(),
    })
}

/// The newest row id of `table` (0 when empty).
pub fn max_id(db: &Path, table: &str) -> Result<i64, BenchError> {
    let s = reader(db)?;
    s.connection()
        .query_row(
            &format!("SELECT coalesce(max(id), 0) FROM {table}"),
            [],
            |r| r.get(0),
        )
        .map_err(|e| BenchError::Database {
            path: db.to_path_buf(),
            detail: e.to_string(),
        })
}

/// (rows, distinct messages) of `recent_chat` for `channel`.
pub(crate) fn chat_counts(db: &Path, channel: &str) -> Result<(i64, i64), BenchError> {
    let s = reader(db)?;
    s.connection()
        .query_row(
            "SELECT count(*), count(DISTINCT message) FROM recent_chat WHERE channel = ?1",
            [channel],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .map_err(|e| BenchError::Database {
            path: db.to_path_buf(),
            detail: e.to_string(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_lost_and_duplicated() {
        assert_eq!(lost_and_duplicated(100, 100, 100), (0, 0));
        assert_eq!(lost_and_duplicated(100, 98, 97), (3, 1));
        assert_eq!(lost_and_duplicated(100, 0, 0), (100, 0));
    }

    #[test]
    fn figure_of_runs_with_one_incomplete() {
        let run = |secs: Option<f64>, lost| BurstRun {
            events: 1000,
            publish: Some(Duration::from_millis(5)),
            end_to_end: secs.map(Duration::from_secs_f64),
            lost,
            duplicated: 0,
            effects_error: None,
            service_cpu_s: 0.02,
            publish_retries: 0,
        };
        let f = BurstFigure::of(&[run(Some(0.01), 0), run(None, 7), run(Some(0.02), 0)]);
        assert_eq!((f.runs, f.completed_runs, f.lost), (3, 2, 7));
        let eps = f.events_per_s.unwrap();
        assert_eq!((eps.min, eps.max), (50_000.0, 100_000.0));
        assert!((f.service_cpu_s_per_1000_events.unwrap().median - 0.02).abs() < 1e-9);
    }
}
