//! SQLite and PostgreSQL side by side (`rosey bench --postgres`): `rosey db-service` as a
//! separate process with its own nats-server, first on a fresh SQLite file, then on a fresh
//! PostgreSQL database (made on the server of `rosey_testkit::pg`, 127.0.0.1:5432 or
//! `ROSEY_TEST_PG_URL`, and dropped at the end), each given the plain-mode `message.log` and
//! mixed bursts of the suite (`crate::dbbench`; every row counted, every effect of the mixed
//! burst checked through `rosey_store::Storage`, the same for both). The report puts the two
//! backends in one table with PostgreSQL's ratio to SQLite in the same run.

use std::ffi::OsStr;
use std::path::Path;
use std::time::{Duration, Instant};

use rosey_bus::{Bus, NatsOptions};
use rosey_model::subjects;
use rosey_store::StoreTarget;
use rosey_testkit::pg::PgTestDb;
use serde::{Deserialize, Serialize};

use crate::dbbench;
use crate::error::BenchError;
use crate::ingest::{BurstFigure, BurstRun, burst_timeout, lost_and_duplicated};
use crate::machine;
use crate::options::Sizes;
use crate::procs::Child;

/// PostgreSQL's targets, as ratios to SQLite in the same run (mixed) and a floor (message).
pub const MIXED_RATIO_TARGET: f64 = 0.5;
pub const PG_MESSAGE_TARGET: f64 = 100_000.0;

/// One backend's bursts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BackendFigures {
    pub backend: String,
    pub message: BurstFigure,
    pub mixed: BurstFigure,
}

/// Both backends, measured in one run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BackendsReport {
    pub events_per_burst: usize,
    pub runs: usize,
    pub load_before: Option<f64>,
    pub load_after: Option<f64>,
    pub sqlite: BackendFigures,
    pub postgres: BackendFigures,
}

fn median(f: &BurstFigure) -> Option<f64> {
    f.events_per_s.as_ref().map(|s| s.median)
}

fn ratio(pg: &BurstFigure, sqlite: &BurstFigure) -> Option<f64> {
    Some(median(pg)? / median(sqlite)?)
}

impl BackendsReport {
    /// PostgreSQL's mixed ingest over SQLite's.
    pub fn mixed_ratio(&self) -> Option<f64> {
        ratio(&self.postgres.mixed, &self.sqlite.mixed)
    }

    /// (mixed ratio met, PostgreSQL message.log met).
    pub fn targets(&self) -> (bool, bool) {
        (
            self.mixed_ratio().is_some_and(|x| x >= MIXED_RATIO_TARGET),
            median(&self.postgres.message).is_some_and(|x| x >= PG_MESSAGE_TARGET),
        )
    }

    /// The table, the targets and how the run was made.
    pub fn to_markdown(&self) -> String {
        let eps = |f: &BurstFigure| match &f.events_per_s {
            Some(s) => format!("{:.0} ({:.0}–{:.0})", s.median, s.min, s.max),
            None => "not completed".to_string(),
        };
        let checked = |f: &BurstFigure| match &f.effects_error {
            Some(e) => format!("effects wrong: {e}"),
            None => format!("lost {}, duplicated {}", f.lost, f.duplicated),
        };
        let r = |x: Option<f64>| x.map_or("—".to_string(), |x| format!("{x:.2}"));
        let mut out = format!(
            "## SQLite and PostgreSQL side by side\n\n\
             `rosey db-service` as its own process, plain mode, {} events per burst, {} run(s) \
             each, median (min–max) events/s end to end; load average {} before, {} after.\n\n\
             | burst | SQLite | PostgreSQL | PostgreSQL / SQLite | rows (SQLite; PostgreSQL) |\n\
             |---|---|---|---|---|\n",
            self.events_per_burst,
            self.runs,
            r(self.load_before),
            r(self.load_after),
        );
        for (name, s, p) in [
            ("message.log", &self.sqlite.message, &self.postgres.message),
            ("mixed", &self.sqlite.mixed, &self.postgres.mixed),
        ] {
            out += &format!(
                "| {name} | {} | {} | {} | {}; {} |\n",
                eps(s),
                eps(p),
                r(ratio(p, s)),
                checked(s),
                checked(p)
            );
        }
        let yes = |ok: bool| if ok { "yes" } else { "**no**" };
        let (mixed_ok, message_ok) = self.targets();
        out += &format!(
            "\n| target | measured | met? |\n|---|---|---|\n\
             | PostgreSQL mixed ≥ {MIXED_RATIO_TARGET} × SQLite mixed | {} × | {} |\n\
             | PostgreSQL message.log ≥ {PG_MESSAGE_TARGET:.0} events/s | {} | {} |\n",
            r(self.mixed_ratio()),
            yes(mixed_ok),
            eps(&self.postgres.message),
            yes(message_ok),
        );
        out
    }
}

/// Runs both backends (see the module doc).
pub async fn run(rosey: &Path, sizes: &Sizes) -> Result<BackendsReport, BenchError> {
    let load_before = machine::load_average();
    let dir = tempfile::tempdir()?;
    let sqlite = StoreTarget::Sqlite(dir.path().join("bench.db"));
    let sqlite = measure(rosey, dir.path(), sqlite, sizes).await?;
    let pg = std::panic::catch_unwind(|| PgTestDb::create("bench"))
        .map_err(|_| BenchError::measurement("PostgreSQL", rosey_testkit::pg::HOW_TO_START))?;
    let postgres = measure(rosey, dir.path(), StoreTarget::Postgres(pg.url()), sizes).await?;
    Ok(BackendsReport {
        events_per_burst: sizes.burst_events,
        runs: sizes.runs,
        load_before,
        load_after: machine::load_average(),
        sqlite,
        postgres,
    })
}

/// One backend: its own nats-server and service, a warm-up, then the runs.
async fn measure(
    rosey: &Path,
    dir: &Path,
    db: StoreTarget,
    sizes: &Sizes,
) -> Result<BackendFigures, BenchError> {
    let nats = std::panic::catch_unwind(rosey_testkit::NatsServer::start)
        .map_err(|_| BenchError::NatsServerStart("see its log".into()))?;
    let url = nats.url();
    let client = Bus::connect(NatsOptions::new(url.clone())).await?;
    let backend = db.backend().to_string();
    let mut args = vec![OsStr::new("db-service"), OsStr::new("--log-level")];
    args.extend([
        OsStr::new("warn"),
        OsStr::new("--nats-url"),
        OsStr::new(&url),
    ]);
    match &db {
        StoreTarget::Sqlite(path) => args.extend([OsStr::new("--db-path"), path.as_os_str()]),
        StoreTarget::Postgres(u) => args.extend([OsStr::new("--db-url"), OsStr::new(u)]),
    }
    let log = dir.join(format!("db-service-{backend}.log"));
    let mut service = Child::spawn("rosey db-service", rosey, &args, dir, log, &[])?;
    crate::query::wait_answering(
        &client,
        "rosey db-service",
        subjects::RECENT_CHAT_GET,
        service.started,
        Duration::from_secs(20),
    )
    .await?;
    let reader = dbbench::open_reader(db.clone())
        .await
        .map_err(|e| BenchError::measurement("reader", e))?;
    burst(
        &client,
        &reader,
        &db,
        &mut service,
        "warmup",
        sizes.warmup_events,
        false,
    )
    .await?;
    let (mut message, mut mixed) = (Vec::new(), Vec::new());
    for r in 0..sizes.runs {
        for (is_mixed, runs) in [(false, &mut message), (true, &mut mixed)] {
            let ch = format!("{}-{r}", if is_mixed { "mixed" } else { "msg" });
            let run = burst(
                &client,
                &reader,
                &db,
                &mut service,
                &ch,
                sizes.burst_events,
                is_mixed,
            );
            runs.push(run.await?);
        }
    }
    service.terminate(Duration::from_secs(10)).await?;
    Ok(BackendFigures {
        backend,
        message: BurstFigure::of(&message),
        mixed: BurstFigure::of(&mixed),
    })
}

/// One burst on a fresh `channel`: `message.log` only, or the mixed burst (timed until its
/// every effect is in).
async fn burst(
    client: &Bus,
    reader: &rosey_store::StoreThread,
    db: &StoreTarget,
    service: &mut Child,
    channel: &str,
    events: usize,
    mixed: bool,
) -> Result<BurstRun, BenchError> {
    let (payloads, expect) = if mixed {
        let (p, e) = dbbench::mixed_burst(events, channel);
        (p, Some(e))
    } else {
        (dbbench::message_burst(events, channel), None)
    };
    let n = payloads.len();
    let rows = expect.as_ref().map_or(n as i64, |e| e.messages);
    let db_err = |e: rosey_store::StoreError| BenchError::measurement("database", e);
    let base = reader
        .call(|s| s.last_id("recent_chat"))
        .await
        .map_err(db_err)?;
    let cpu0 = service.sample()?.cpu_s;
    let timeout = burst_timeout(n);
    let start = Instant::now();
    let burst = dbbench::run_burst(
        client,
        payloads,
        db.clone(),
        "recent_chat",
        base + rows,
        timeout,
    )
    .await;
    let mut end_to_end = burst.as_ref().ok().map(|b| b.end_to_end);
    let mut effects_error = None;
    if let (Some(e), Some(_)) = (&expect, end_to_end) {
        end_to_end = None;
        loop {
            match dbbench::check_mixed(reader, channel, e).await {
                Ok(()) => break end_to_end = Some(start.elapsed()),
                Err(err) if start.elapsed() > timeout => break effects_error = Some(err),
                Err(_) => tokio::time::sleep(Duration::from_millis(1)).await,
            }
        }
    }
    let cpu1 = service.sample()?.cpu_s;
    let ch = channel.to_string();
    let totals = reader
        .call(move |s| s.channel_totals(&ch))
        .await
        .map_err(db_err)?;
    // Every burst line is distinct: rows beyond the expected count are duplicates.
    let distinct = totals.chat_rows.min(rows);
    let (lost, duplicated) = lost_and_duplicated(rows, totals.chat_rows, distinct);
    if let Err(e) = &burst {
        tracing::warn!(error = %e, channel, "Burst did not complete.");
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::Spread;

    fn figure(eps: f64) -> BurstFigure {
        BurstFigure {
            events_per_run: 1000,
            runs: 1,
            completed_runs: 1,
            events_per_s: Spread::of(vec![eps]),
            publish_ms: None,
            lost: 0,
            duplicated: 0,
            effects_error: None,
            service_cpu_s_per_1000_events: None,
            publish_retries: 0,
        }
    }

    #[test]
    fn the_table_gives_the_ratio_and_judges_the_targets() {
        let backend = |name: &str, message, mixed| BackendFigures {
            backend: name.into(),
            message: figure(message),
            mixed: figure(mixed),
        };
        let report = BackendsReport {
            events_per_burst: 1000,
            runs: 1,
            load_before: Some(1.0),
            load_after: None,
            sqlite: backend("sqlite", 200_000.0, 180_000.0),
            postgres: backend("postgresql", 120_000.0, 81_000.0),
        };
        assert!((report.mixed_ratio().unwrap() - 0.45).abs() < 1e-9);
        let md = report.to_markdown();
        assert!(md.contains("| mixed | 180000 (180000–180000) | 81000 (81000–81000) | 0.45 |"));
        assert!(md.contains("| 0.45 × | **no** |"), "{md}");
        assert!(md.contains("| 120000 (120000–120000) | yes |"), "{md}");
    }
}
