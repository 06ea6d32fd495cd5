//! `rosey soak`: the whole system on loopback for a while, under a fault schedule drawn
//! from a seed, with exact accounting at the end (issue 29).
//!
//! [`run`] starts a world of real processes — a three-node NATS cluster (the `ROSEY_DB`
//! stream on three replicas), `rosey devserver`, two `rosey db-service --jetstream` (each a
//! consumer of the stream of its own: SQLite, and SQLite or the soak's own PostgreSQL), two
//! `rosey bot` processes sharing the channels by lease, `rosey plugins`, `rosey web` and
//! `rosey moderator` — and, in this process, a crowd (guests chatting, leaving and coming
//! back, an abusive part the moderator warns, DJs adding media, a moderator PMing the bot's
//! shell) and SSE viewers of the dashboard. A fault hits at least once a minute, one at a
//! time, each waited out before the next; samples are taken every two seconds. The
//! [`report::Report`] says, for each database, what was broadcast and what was stored (each
//! line once?), which abusive lines were decided and which media starts recorded; what
//! viewers missed, how long a channel went without a bot, the machine's load, and each
//! process's resident memory, open files and threads with their slope after warm-up.
//!
//! # Layout
//! - `world.rs`: the processes: configuration, spawn, readiness, SIGKILL/SIGSTOP, restart.
//! - `crowd.rs`: the CyTube clients: chatters (each line tagged, its echo = broadcast), the
//!   bot's presence per channel, the abusive part, the DJs, the moderator's PMs.
//! - `viewers.rs`: `/events` readers that resume with `Last-Event-ID` and keep what they saw.
//! - `faults.rs`: the schedule (pure, from the seed) and applying one fault.
//! - `db.rs`: the two databases (SQLite or PostgreSQL) and what the accounting counts in them.
//! - `pg.rs`: the soak's own PostgreSQL server (`--postgres`).
//! - `disk.rs`: the database directory's own small file system, filled for the ENOSPC fault.
//! - `sample.rs`: `/proc` figures of a process and the least-squares slope.
//! - `report.rs`: the accounting, the JSON report and the HTML page (the bench report's
//!   page and the dashboard's chart code, `assets/soak.js`).
//!
//! Reused, not copied: process handling (`rosey_bench::procs`), the progress bar
//! (`rosey_bench::progress`), the page (`rosey_bench::history::page`), the NATS cluster
//! (`rosey_testkit::NatsCluster`).

pub mod crowd;
pub mod db;
pub mod disk;
pub mod faults;
pub mod pg;
pub mod report;
pub mod sample;
pub mod viewers;
pub mod world;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

pub use report::Report;

/// What went wrong so badly that the soak could not go on (a missed figure is not this).
#[derive(Debug, thiserror::Error)]
pub enum SoakError {
    #[error("{0}")]
    Setup(String),
    #[error(transparent)]
    Bench(#[from] rosey_bench::BenchError),
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// How to soak.
#[derive(Debug, Clone)]
pub struct SoakOptions {
    /// The `rosey` executable to run as every process.
    pub rosey: PathBuf,
    pub duration: Duration,
    /// The fault schedule and the crowd's choices follow from it.
    pub seed: u64,
    /// Devserver channels (shared by the two bots).
    pub channels: usize,
    /// Chatters per channel.
    pub chatters: usize,
    /// Chat lines per second over all channels.
    pub rate: f64,
    /// SSE viewers per channel.
    pub viewers: usize,
    /// Time between two faults (at most a minute).
    pub fault_every: Duration,
    /// How long a SIGSTOPped process stays stopped.
    pub stop_for: Duration,
    /// How long the database directory stays full (ENOSPC).
    pub full_for: Duration,
    /// The second database service on the soak's own PostgreSQL (else SQLite).
    pub postgres: bool,
    /// Samples before this are warm-up (not in the slopes).
    pub warmup: Duration,
    /// Draw the progress line.
    pub progress: bool,
}

impl SoakOptions {
    /// Defaults for `duration` and `seed`: 6 channels × 3 chatters at 6 lines/s, 2 viewers per
    /// channel, a fault every 40 s, SIGSTOP for 20 s, the disk full for 30 s, both database
    /// services on SQLite, the first fifth (at most 5 min) warm-up.
    pub fn new(rosey: PathBuf, duration: Duration, seed: u64) -> SoakOptions {
        SoakOptions {
            rosey,
            duration,
            seed,
            channels: 6,
            chatters: 3,
            rate: 6.0,
            viewers: 2,
            fault_every: Duration::from_secs(40),
            stop_for: Duration::from_secs(20),
            full_for: Duration::from_secs(30),
            postgres: false,
            warmup: (duration / 5).min(Duration::from_secs(300)),
            progress: false,
        }
    }
}

/// After a fault has recovered, and before the next one, this long without the abusive
/// part (so each abusive line is judged by a moderator whose world is whole).
const SETTLE: Duration = Duration::from_secs(5);

/// Cancelled on SIGINT or SIGTERM: the soak stops early and cleans up (its processes,
/// PostgreSQL, the mounted disk) instead of dying with them.
fn interrupted() -> tokio_util::sync::CancellationToken {
    let token = tokio_util::sync::CancellationToken::new();
    let t = token.clone();
    tokio::spawn(async move {
        use tokio::signal::unix::{SignalKind, signal};
        let (Ok(mut int), Ok(mut term)) = (
            signal(SignalKind::interrupt()),
            signal(SignalKind::terminate()),
        ) else {
            return;
        };
        tokio::select! {
            _ = int.recv() => {}
            _ = term.recv() => {}
        }
        t.cancel();
    });
    token
}

/// Runs the soak and returns its report (the caller writes it).
pub async fn run(opts: SoakOptions) -> Result<Report, SoakError> {
    let started_unix = report::unix_now();
    let interrupt = interrupted();
    let progress = rosey_bench::progress::Progress::new(opts.progress, opts.duration.as_secs());
    progress.phase("starting the world");
    let mut world = world::World::start(&opts).await?;
    let channels = world.channels.clone();
    let crowd = Arc::new(crowd::Crowd::default());
    let crowd_task = crowd::start(
        crowd.clone(),
        world.devserver_url(),
        channels.clone(),
        opts.chatters,
        opts.rate,
        opts.seed,
    );
    crowd.wait_bots_everywhere(&channels, world::READY).await?;
    let seen = Arc::new(viewers::Seen::default());
    let viewer_tasks = viewers::start(
        seen.clone(),
        world.web_url(),
        &channels,
        opts.viewers,
        crowd.stop.clone(),
    );
    let kinds = faults::FaultKind::available(world.pg.is_some(), world.disk.is_some());
    let schedule = faults::schedule(opts.seed, opts.duration, opts.fault_every, &kinds);
    let t0 = Instant::now();
    let mut samples = Vec::new();
    let mut applied = Vec::new();
    let mut next_fault = 0;
    let mut tick = tokio::time::interval(sample::EVERY);
    let mut settled_at = Duration::ZERO;
    while t0.elapsed() < opts.duration && !interrupt.is_cancelled() {
        tick.tick().await;
        let at = t0.elapsed();
        let next_at = schedule.get(next_fault).map_or(Duration::MAX, |f| f.at);
        crowd.calm.store(
            at >= settled_at + SETTLE && next_at.saturating_sub(at) > SETTLE,
            std::sync::atomic::Ordering::Relaxed,
        );
        samples.push(sample::Sample::take(at, &mut world, &crowd, &channels));
        progress.phase(sample::progress_line(
            samples.last(),
            channels.len(),
            applied.len(),
        ));
        if let Some(f) = schedule.get(next_fault)
            && at >= f.at
        {
            next_fault += 1;
            progress.phase(format!("fault: {}", f.kind.name()));
            crowd
                .calm
                .store(false, std::sync::atomic::Ordering::Relaxed);
            let done = faults::apply(f, &mut world, &crowd, &channels, &opts, t0, &mut |w| {
                samples.push(sample::Sample::take(t0.elapsed(), w, &crowd, &channels))
            })
            .await;
            applied.push(done);
            settled_at = t0.elapsed();
        }
        let secs = t0.elapsed().as_secs().min(opts.duration.as_secs());
        progress.set(secs);
    }
    if interrupt.is_cancelled() {
        crowd.stop.cancel();
        world.stop().await;
        progress.finish();
        return Err(SoakError::Setup(
            "interrupted (SIGINT/SIGTERM): stopped and cleaned up, no report".into(),
        ));
    }
    crowd
        .calm
        .store(false, std::sync::atomic::Ordering::Relaxed);
    progress.phase("draining and counting");
    let (drained, counts) = world.drain(&crowd).await;
    crowd.stop.cancel();
    let _ = crowd_task.await;
    for t in viewer_tasks {
        let _ = t.await;
    }
    let processes = world.resources(&samples, opts.warmup);
    let dbs = world.dbs.clone();
    world.stop().await;
    progress.finish();
    Ok(report::Report::build(
        &opts,
        started_unix,
        &crowd,
        &seen,
        &dbs,
        counts,
        drained,
        applied,
        samples,
        processes,
    ))
}
