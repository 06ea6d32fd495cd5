//! End to end: a chat line sent by a devserver client → the bot (a separate `rosey bot`
//! process) → NATS → the database service (another process) → a row in SQLite.
//!
//! Simulated chatters (guests, in this process) send at a fixed aggregate rate, spread so
//! that no socket comes near CyTube's per-socket flood limit. A watcher thread asks the
//! database's `PRAGMA data_version` (a cheap "did anyone commit?" probe) whenever the WAL file
//! is written (inotify on its directory; [`RECHECK`] apart for a moment after each write,
//! since the commit becomes visible just after its last write) and timestamps each new row;
//! latency = row seen − line handed to the client. Where inotify is missing it polls every
//! [`POLL_INTERVAL`] instead. Waking only on writes matters: a thread polling every 0.2 ms
//! was a fifth of the bench process's CPU, taken from the very processes being measured.
//!
//! To tell where the time goes, the suite also subscribes to `rosey.db.message.log` and
//! timestamps each line's event as it crosses NATS: line → event is the devserver and the
//! bot; event → row is the database service (plus the probe interval).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rosey_bus::Bus;
use rosey_cytube::{ClientConfig, CytubeEvent, CytubeHandle, Login, ServerEvent, connect};
use rosey_devserver::DevServer;
use rosey_model::subjects;
use serde::{Deserialize, Serialize};
use tokio::sync::oneshot;

use crate::error::BenchError;
use crate::options::Sizes;
use crate::procs::Child;
use crate::stats::{LatencySpread, Percentiles, Spread};

/// How often the watcher asks SQLite whether something was committed, without inotify.
pub const POLL_INTERVAL: Duration = Duration::from_micros(200);
/// After a write to the WAL that showed no new commit yet, when to ask again: the commit
/// follows its last write by microseconds, so first soon, then less and less often (the
/// writes of a commit already seen also wake the watcher, and would otherwise cost a round of
/// rechecks each). The watcher thread's timer slack is set to 1 µs so these sleeps are what
/// they say.
const RECHECKS: [Duration; 6] = [
    Duration::from_micros(20),
    Duration::from_micros(20),
    Duration::from_micros(40),
    Duration::from_micros(80),
    Duration::from_micros(160),
    Duration::from_micros(320),
];
/// The resolution of the timing with inotify: the first recheck interval.
pub const RECHECK: Duration = RECHECKS[0];
/// Without any write, ask anyway this often (a missed event must not lose a row).
const IDLE_CHECK_MS: u8 = 5;
/// How long after the last line of a run its rows may still arrive.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(5);
/// The pause after the warm-up and after each run.
const BETWEEN_RUNS: Duration = Duration::from_millis(200);
/// How long the chatters may take to join.
const JOIN_TIMEOUT: Duration = Duration::from_secs(60);

/// The end-to-end section of the report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EndToEnd {
    /// Target rate, lines per second.
    pub rate: u32,
    pub channels: usize,
    pub senders: usize,
    pub runs: usize,
    pub lines_per_run: usize,
    /// Rate actually achieved by the senders.
    pub achieved_rate: Spread,
    pub latency: LatencySpread,
    /// Line handed to the client → its `message.log` event seen on NATS (devserver + bot).
    pub line_to_event: LatencySpread,
    /// Line handed to the client → broadcast received by another client of the channel
    /// (the sending client's outbound path + the devserver).
    pub line_to_peer: LatencySpread,
    /// Broadcast received by another client → event seen on NATS (about the bot's share).
    pub peer_to_event: LatencySpread,
    /// Event seen on NATS → row visible (database service + probe interval).
    pub event_to_row: LatencySpread,
    /// Summed over the runs.
    pub lost: u64,
    /// Summed over the runs.
    pub duplicated: u64,
    /// `cooldown` replies of the devserver's flood limiter during the runs (should be 0).
    pub cooldowns: u64,
    /// Bot CPU seconds per 1,000 lines (it also publishes `rosey.events.*`).
    pub bot_cpu_s_per_1000_lines: Spread,
    pub service_cpu_s_per_1000_lines: Spread,
    /// CPU of the bench process itself (devserver, chatters, watcher) per 1,000 lines.
    pub harness_cpu_s_per_1000_lines: Spread,
    /// Poll interval of the watcher, ms (the resolution of the latency).
    pub resolution_ms: f64,
    /// Each run's slowest line, hop by hop: where its time went.
    #[serde(default)]
    pub slowest: Vec<SlowLine>,
    /// Per run: the database service's commits and the WAL checkpoints its writer finished
    /// itself (each holds the commits for two `fsync`s), from its `$SRV.STATS` counters.
    #[serde(default)]
    pub service_commits: Vec<u64>,
    #[serde(default)]
    pub writer_checkpoints: Vec<u64>,
    /// Per run: retention passes the service completed (a pass deletes old rows step by
    /// step between commits).
    #[serde(default)]
    pub maintenance_passes: Vec<u64>,
    /// Seconds since the database service started, when the first measured run began (its
    /// first retention pass comes 30 s after start).
    #[serde(default)]
    pub service_age_s: Option<f64>,
}

/// One line's timeline, ms after it was handed to the chatter's client (`None`: that tap
/// point did not see it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SlowLine {
    pub run: u32,
    pub seq: usize,
    /// Broadcast seen by a peer client (client send path + devserver).
    pub peer_ms: Option<f64>,
    /// Event seen on NATS (+ the bot).
    pub event_ms: Option<f64>,
    /// Row visible in SQLite (+ the database service and the probe).
    pub row_ms: f64,
}

/// A row the watcher saw: (run, sequence number, when).
pub type Seen = (u32, usize, Instant);

/// Polls `recent_chat` for rows newer than `after_id` whose message is `e2e <run> <seq>`.
struct Watcher {
    stop: Arc<AtomicBool>,
    seen: Arc<Mutex<Vec<Seen>>>,
    thread: Option<std::thread::JoinHandle<Result<(), String>>>,
    /// What bounds the timing of a row: the recheck or the poll interval.
    resolution: Duration,
}

/// Wakes the watcher when the database's WAL file is written: inotify on its directory
/// (the WAL may not exist yet, and may be re-created). Linux only; `None` elsewhere or when
/// inotify is not available, and the watcher polls.
struct WalWake {
    #[cfg(target_os = "linux")]
    inotify: nix::sys::inotify::Inotify,
    #[cfg(target_os = "linux")]
    wal: std::ffi::OsString,
}

impl WalWake {
    #[cfg(target_os = "linux")]
    fn new(db: &Path) -> Option<WalWake> {
        use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify};
        let dir = db.parent().filter(|d| !d.as_os_str().is_empty())?;
        let mut wal = db.file_name()?.to_os_string();
        wal.push("-wal");
        let inotify = Inotify::init(InitFlags::IN_NONBLOCK | InitFlags::IN_CLOEXEC).ok()?;
        inotify
            .add_watch(dir, AddWatchFlags::IN_MODIFY | AddWatchFlags::IN_CREATE)
            .ok()?;
        Some(WalWake { inotify, wal })
    }

    #[cfg(not(target_os = "linux"))]
    fn new(_db: &Path) -> Option<WalWake> {
        None
    }

    /// Waits up to `timeout_ms` for writes; true when the WAL was written meanwhile.
    #[cfg(target_os = "linux")]
    fn wait(&self, timeout_ms: u8) -> Result<bool, String> {
        use nix::errno::Errno;
        use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
        use std::os::fd::AsFd;
        let mut fds = [PollFd::new(self.inotify.as_fd(), PollFlags::POLLIN)];
        match poll(&mut fds, PollTimeout::from(timeout_ms)) {
            Ok(_) | Err(Errno::EINTR) => {}
            Err(e) => return Err(format!("poll on inotify: {e}")),
        }
        let mut written = false;
        loop {
            match self.inotify.read_events() {
                Ok(events) => {
                    written |= events.iter().any(|e| e.name.as_ref() == Some(&self.wal));
                }
                Err(Errno::EAGAIN) => return Ok(written),
                Err(e) => return Err(format!("reading inotify events: {e}")),
            }
        }
    }

    #[cfg(not(target_os = "linux"))]
    fn wait(&self, _timeout_ms: u8) -> Result<bool, String> {
        Ok(false)
    }
}

impl Watcher {
    fn start(db: PathBuf, after_id: i64) -> Result<Watcher, BenchError> {
        let store = rosey_store::Store::open_read_only(&db, &rosey_store::StoreOptions::default())
            .map_err(|e| BenchError::Database {
                path: db.clone(),
                detail: e.to_string(),
            })?;
        let wake = WalWake::new(&db);
        let resolution = if wake.is_some() {
            RECHECK
        } else {
            POLL_INTERVAL
        };
        let stop = Arc::new(AtomicBool::new(false));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (stop2, seen2) = (stop.clone(), seen.clone());
        let thread = std::thread::spawn(move || -> Result<(), String> {
            #[cfg(target_os = "linux")]
            let _ = nix::sys::prctl::set_timerslack(1_000);
            let conn = store.connection();
            let mut version: i64 = -1;
            let mut last_id = after_id;
            let mut rows = conn
                .prepare("SELECT id, message FROM recent_chat WHERE id > ?1 ORDER BY id")
                .map_err(|e| e.to_string())?;
            // Reads the rows committed since the last look; false when nothing was.
            let mut look = || -> Result<bool, String> {
                let v: i64 = conn
                    .query_row("PRAGMA data_version", [], |r| r.get(0))
                    .map_err(|e| e.to_string())?;
                if v == version {
                    return Ok(false);
                }
                version = v;
                let mut q = rows.query([last_id]).map_err(|e| e.to_string())?;
                let now = Instant::now();
                let mut batch = Vec::new();
                while let Some(row) = q.next().map_err(|e| e.to_string())? {
                    let id: i64 = row.get(0).map_err(|e| e.to_string())?;
                    let message: String = row.get(1).map_err(|e| e.to_string())?;
                    last_id = id;
                    if let Some((run, seq)) = parse_line(&message) {
                        batch.push((run, seq, now));
                    }
                }
                if !batch.is_empty() {
                    seen2.lock().expect("watcher lock").extend(batch);
                }
                Ok(true)
            };
            let (mut written, mut quick) = (false, 0usize);
            while !stop2.load(Ordering::Relaxed) {
                if look()? {
                    quick = 0;
                } else if written {
                    quick = RECHECKS.len();
                }
                written = false;
                match &wake {
                    Some(_) if quick > 0 => {
                        std::thread::sleep(RECHECKS[RECHECKS.len() - quick]);
                        quick -= 1;
                    }
                    Some(w) => written = w.wait(IDLE_CHECK_MS)?,
                    None => std::thread::sleep(POLL_INTERVAL),
                }
            }
            Ok(())
        });
        Ok(Watcher {
            stop,
            seen,
            thread: Some(thread),
            resolution,
        })
    }

    fn count(&self, run: u32) -> usize {
        self.seen
            .lock()
            .expect("watcher lock")
            .iter()
            .filter(|s| s.0 == run)
            .count()
    }

    fn take(&self, run: u32) -> Vec<Seen> {
        let mut all = self.seen.lock().expect("watcher lock");
        let (mine, rest): (Vec<Seen>, Vec<Seen>) = all.drain(..).partition(|s| s.0 == run);
        *all = rest;
        mine
    }

    fn finish(mut self) -> Result<(), BenchError> {
        self.stop.store(true, Ordering::Relaxed);
        match self.thread.take().map(|t| t.join()) {
            Some(Ok(Err(e))) => Err(BenchError::measurement("end-to-end watcher", e)),
            Some(Err(_)) => Err(BenchError::measurement("end-to-end watcher", "panicked")),
            _ => Ok(()),
        }
    }
}

impl Drop for Watcher {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// The measured line text.
fn line(run: u32, seq: usize) -> String {
    format!("e2e {run} {seq}")
}

fn parse_line(message: &str) -> Option<(u32, usize)> {
    let mut it = message.strip_prefix("e2e ")?.split(' ');
    let run = it.next()?.parse().ok()?;
    let seq = it.next()?.parse().ok()?;
    it.next().is_none().then_some((run, seq))
}

/// Connected chatters.
pub struct Senders {
    handles: Vec<CytubeHandle>,
    drains: Vec<tokio::task::JoinHandle<()>>,
    /// Measured lines as the first chatter of each channel received them from the devserver
    /// (the same broadcast the bot receives).
    pub peer_seen: SeenLog,
}

impl Senders {
    /// Connects `per_channel` guests to each channel and waits until all are joined. Their
    /// event streams are drained (and dropped) by one task each.
    pub async fn connect(
        base_url: &str,
        channels: &[String],
        per_channel: usize,
    ) -> Result<Senders, BenchError> {
        let mut handles = Vec::new();
        let mut drains = Vec::new();
        let mut joined = Vec::new();
        let peer_seen: SeenLog = Arc::new(Mutex::new(Vec::new()));
        for (c, ch) in channels.iter().enumerate() {
            for i in 0..per_channel {
                let cfg = ClientConfig::new(base_url, ch, Login::Guest(format!("c{c}s{i}")));
                let (handle, mut events) = connect(cfg);
                let (tx, rx) = oneshot::channel::<Result<(), String>>();
                let observer = (i == 0).then(|| peer_seen.clone());
                drains.push(tokio::spawn(async move {
                    let mut tx = Some(tx);
                    while let Some(ev) = events.recv().await {
                        match ev {
                            CytubeEvent::Server(ServerEvent::ChatMsg(m)) => {
                                if let (Some(log), Some((run, seq))) =
                                    (&observer, parse_line(&m.text))
                                {
                                    let at = Instant::now();
                                    log.lock().expect("peer log lock").push((run, seq, at));
                                }
                            }
                            CytubeEvent::Joined { .. } => {
                                if let Some(t) = tx.take() {
                                    let _ = t.send(Ok(()));
                                }
                            }
                            CytubeEvent::Stopped { reason } => {
                                if let Some(t) = tx.take() {
                                    let _ = t.send(Err(reason));
                                }
                            }
                            _ => {}
                        }
                    }
                }));
                handles.push(handle);
                joined.push(rx);
            }
        }
        let deadline = tokio::time::Instant::now() + JOIN_TIMEOUT;
        for rx in joined {
            match tokio::time::timeout_at(deadline, rx).await {
                Ok(Ok(Ok(()))) => {}
                Ok(Ok(Err(reason))) => {
                    return Err(BenchError::measurement("chatter login", reason));
                }
                Ok(Err(_)) => return Err(BenchError::measurement("chatter login", "stopped")),
                Err(_) => {
                    return Err(BenchError::NotReady {
                        what: "simulated chatters to join".into(),
                        seconds: JOIN_TIMEOUT.as_secs_f64(),
                        detail: String::new(),
                    });
                }
            }
        }
        Ok(Senders {
            handles,
            drains,
            peer_seen,
        })
    }

    pub fn len(&self) -> usize {
        self.handles.len()
    }

    pub fn is_empty(&self) -> bool {
        self.handles.is_empty()
    }

    /// Sends `lines` lines at `rate` per second, round-robin over the chatters; returns the
    /// instant each was handed to its client and the achieved rate.
    pub async fn send_paced(
        &self,
        rate: u32,
        lines: usize,
        text: impl Fn(usize) -> String,
    ) -> Result<(Vec<Instant>, f64), BenchError> {
        let start = tokio::time::Instant::now();
        let mut sent = Vec::with_capacity(lines);
        for k in 0..lines {
            let due = start + Duration::from_secs_f64(k as f64 / f64::from(rate));
            if due > tokio::time::Instant::now() {
                tokio::time::sleep_until(due).await;
            }
            let handle = &self.handles[k % self.handles.len()];
            let body = text(k);
            sent.push(Instant::now());
            handle
                .chat(&body)
                .map_err(|e| BenchError::measurement("chatter send", e))?;
        }
        let elapsed = start.elapsed().as_secs_f64();
        // The last line is sent at (lines-1)/rate; count the rate over whole intervals.
        let achieved = if lines > 1 {
            (lines - 1) as f64 / elapsed.max(f64::MIN_POSITIVE)
        } else {
            f64::from(rate)
        };
        Ok((sent, achieved))
    }

    pub async fn shutdown(self) {
        for h in &self.handles {
            h.shutdown().await;
        }
        for d in self.drains {
            d.abort();
        }
    }
}

/// What one end-to-end run produced.
struct RunResult {
    latency: Percentiles,
    line_to_event: Percentiles,
    line_to_peer: Percentiles,
    peer_to_event: Percentiles,
    event_to_row: Percentiles,
    harness_cpu_s: f64,
    achieved: f64,
    lost: u64,
    duplicated: u64,
    bot_cpu_s: f64,
    service_cpu_s: f64,
    lines: usize,
    slowest: Option<SlowLine>,
    commits: u64,
    writer_checkpoints: u64,
    maintenance_passes: u64,
}

/// Everything the end-to-end run needs from the suite.
pub struct Rig<'a> {
    pub client: &'a Bus,
    pub devserver: &'a DevServer,
    pub db: &'a Path,
    pub bot: &'a mut Child,
    pub service: &'a mut Child,
    pub channels: &'a [String],
}

/// Runs warm-up and `sizes.runs` measured runs; `after_run` is called after each.
pub async fn measure(
    rig: Rig<'_>,
    sizes: &Sizes,
    mut after_run: impl FnMut(),
) -> Result<EndToEnd, BenchError> {
    let per_channel = sizes.e2e_senders_per_channel();
    let senders = Senders::connect(&rig.devserver.base_url(), rig.channels, per_channel).await?;
    let after_id = crate::ingest::max_id(rig.db, "recent_chat")?;
    let watcher = Watcher::start(rig.db.to_path_buf(), after_id)?;
    let (bus_seen, bus_task) = watch_bus(rig.client).await?;

    let warmup = (f64::from(sizes.e2e_rate) * sizes.e2e_warmup_seconds) as usize;
    senders
        .send_paced(sizes.e2e_rate, warmup, |k| format!("warm-up {k}"))
        .await?;
    // Let the warm-up lines reach the database before measuring.
    tokio::time::sleep(BETWEEN_RUNS).await;

    let cooldowns0 = rig.devserver.cooldowns_sent();
    let lines = (f64::from(sizes.e2e_rate) * sizes.e2e_seconds) as usize;
    let mut results = Vec::new();
    let service_age_s = rig.service.started.elapsed().as_secs_f64();
    for run in 0..sizes.runs as u32 {
        let bot0 = rig.bot.sample()?.cpu_s;
        let svc0 = rig.service.sample()?.cpu_s;
        let own0 = own_cpu_s()?;
        let stats0 = service_stats(rig.client).await;
        let (sent, achieved) = senders
            .send_paced(sizes.e2e_rate, lines, |k| line(run, k))
            .await?;
        let last = Instant::now();
        while watcher.count(run) < lines && last.elapsed() < DRAIN_TIMEOUT {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let bot1 = rig.bot.sample()?.cpu_s;
        let svc1 = rig.service.sample()?.cpu_s;
        let own1 = own_cpu_s()?;
        let stats1 = service_stats(rig.client).await;
        let (row_at, duplicated) = first_seen(watcher.take(run), lines);
        let (event_at, _) = first_seen(take(&bus_seen, run), lines);
        let (peer_at, _) = first_seen(take(&senders.peer_seen, run), lines);
        let between = |from: &[Option<Instant>], to: &[Option<Instant>]| {
            from.iter()
                .zip(to)
                .filter_map(|(a, b)| Some(b.as_ref()?.saturating_duration_since(*a.as_ref()?)))
                .collect::<Vec<Duration>>()
        };
        let sent: Vec<Option<Instant>> = sent.into_iter().map(Some).collect();
        let latencies = between(&sent, &row_at);
        let slowest = slowest_line(run, &sent, &peer_at, &event_at, &row_at);
        let delta = |f: fn(&(u64, u64, u64)) -> u64| match (&stats0, &stats1) {
            (Some(a), Some(b)) => f(b).saturating_sub(f(a)),
            _ => 0,
        };
        results.push(RunResult {
            lost: (lines - latencies.len()) as u64,
            latency: Percentiles::of(&latencies),
            line_to_event: Percentiles::of(&between(&sent, &event_at)),
            line_to_peer: Percentiles::of(&between(&sent, &peer_at)),
            peer_to_event: Percentiles::of(&between(&peer_at, &event_at)),
            event_to_row: Percentiles::of(&between(&event_at, &row_at)),
            harness_cpu_s: own1 - own0,
            achieved,
            duplicated,
            bot_cpu_s: bot1 - bot0,
            service_cpu_s: svc1 - svc0,
            lines,
            slowest,
            commits: delta(|s| s.0),
            writer_checkpoints: delta(|s| s.1),
            maintenance_passes: delta(|s| s.2),
        });
        after_run();
        // Runs are separate measurements: the same pause between them as after the warm-up
        // (a chat stream has pauses; one without any for ~8 s makes the service's writer
        // finish a WAL checkpoint itself, which the per-run counters would show).
        tokio::time::sleep(BETWEEN_RUNS).await;
    }
    let cooldowns = rig.devserver.cooldowns_sent() - cooldowns0;
    let resolution = watcher.resolution;
    watcher.finish()?;
    bus_task.abort();
    let senders_n = senders.len();
    senders.shutdown().await;

    let none = || BenchError::measurement("end to end", "no run");
    let per_1000 = |f: fn(&RunResult) -> f64| {
        Spread::of(
            results
                .iter()
                .map(|r| f(r) / r.lines.max(1) as f64 * 1000.0)
                .collect(),
        )
    };
    Ok(EndToEnd {
        rate: sizes.e2e_rate,
        channels: rig.channels.len(),
        senders: senders_n,
        runs: results.len(),
        lines_per_run: lines,
        achieved_rate: Spread::of(results.iter().map(|r| r.achieved).collect()).ok_or_else(none)?,
        latency: LatencySpread::of(&results.iter().map(|r| r.latency).collect::<Vec<_>>())
            .ok_or_else(none)?,
        line_to_event: LatencySpread::of(
            &results.iter().map(|r| r.line_to_event).collect::<Vec<_>>(),
        )
        .ok_or_else(none)?,
        line_to_peer: LatencySpread::of(
            &results.iter().map(|r| r.line_to_peer).collect::<Vec<_>>(),
        )
        .ok_or_else(none)?,
        peer_to_event: LatencySpread::of(
            &results.iter().map(|r| r.peer_to_event).collect::<Vec<_>>(),
        )
        .ok_or_else(none)?,
        event_to_row: LatencySpread::of(
            &results.iter().map(|r| r.event_to_row).collect::<Vec<_>>(),
        )
        .ok_or_else(none)?,
        lost: results.iter().map(|r| r.lost).sum(),
        duplicated: results.iter().map(|r| r.duplicated).sum(),
        cooldowns,
        bot_cpu_s_per_1000_lines: per_1000(|r| r.bot_cpu_s).ok_or_else(none)?,
        service_cpu_s_per_1000_lines: per_1000(|r| r.service_cpu_s).ok_or_else(none)?,
        harness_cpu_s_per_1000_lines: per_1000(|r| r.harness_cpu_s).ok_or_else(none)?,
        resolution_ms: resolution.as_secs_f64() * 1e3,
        slowest: results.iter().filter_map(|r| r.slowest.clone()).collect(),
        service_commits: results.iter().map(|r| r.commits).collect(),
        writer_checkpoints: results.iter().map(|r| r.writer_checkpoints).collect(),
        maintenance_passes: results.iter().map(|r| r.maintenance_passes).collect(),
        service_age_s: Some(service_age_s),
    })
}

/// The line of `run` that took longest to reach its row, with its other tap points.
fn slowest_line(
    run: u32,
    sent: &[Option<Instant>],
    peer: &[Option<Instant>],
    event: &[Option<Instant>],
    row: &[Option<Instant>],
) -> Option<SlowLine> {
    let ms = |at: &Option<Instant>, from: Instant| {
        at.map(|a| a.saturating_duration_since(from).as_secs_f64() * 1e3)
    };
    let (seq, from, row_ms) = sent
        .iter()
        .zip(row)
        .enumerate()
        .filter_map(|(i, (s, r))| {
            let s = (*s)?;
            Some((i, s, ms(r, s)?))
        })
        .max_by(|a, b| a.2.total_cmp(&b.2))?;
    Some(SlowLine {
        run,
        seq,
        peer_ms: peer.get(seq).and_then(|p| ms(p, from)),
        event_ms: event.get(seq).and_then(|e| ms(e, from)),
        row_ms,
    })
}

/// (commits, checkpoints finished by the writer, retention passes) from the database
/// service's `$SRV.STATS` counters; `None` when it does not answer (the figures are then 0).
async fn service_stats(client: &Bus) -> Option<(u64, u64, u64)> {
    let reply = client
        .request(
            "$SRV.STATS.rosey-db",
            bytes::Bytes::new(),
            Duration::from_secs(1),
        )
        .await
        .ok()?;
    let v: serde_json::Value = serde_json::from_slice(&reply.payload).ok()?;
    let data = v.get("endpoints")?.get(0)?.get("data")?;
    Some((
        data.get("batches")?.as_u64()?,
        data.get("checkpoints_finished")?.as_u64()?,
        data.get("maintenance_runs")?.as_u64()?,
    ))
}

/// The first time each of `lines` sequence numbers was seen, and how many were seen again.
fn first_seen(seen: Vec<Seen>, lines: usize) -> (Vec<Option<Instant>>, u64) {
    let mut first: Vec<Option<Instant>> = vec![None; lines];
    let mut again = 0u64;
    for (_, seq, at) in seen {
        match first.get_mut(seq) {
            Some(slot @ None) => *slot = Some(at),
            Some(Some(_)) => again += 1,
            None => {}
        }
    }
    (first, again)
}

/// Shared log of measured lines seen at one tap point.
pub type SeenLog = Arc<Mutex<Vec<Seen>>>;

fn take(log: &SeenLog, run: u32) -> Vec<Seen> {
    let mut all = log.lock().expect("bus watcher lock");
    let (mine, rest): (Vec<Seen>, Vec<Seen>) = all.drain(..).partition(|s| s.0 == run);
    *all = rest;
    mine
}

/// Subscribes to `message.log` and timestamps each measured line's event.
async fn watch_bus(client: &Bus) -> Result<(SeenLog, tokio::task::JoinHandle<()>), BenchError> {
    let mut sub = client.subscribe(subjects::MESSAGE_LOG).await?;
    client.flush().await?;
    let log: SeenLog = Arc::new(Mutex::new(Vec::new()));
    let log2 = log.clone();
    let task = tokio::spawn(async move {
        while let Some(m) = sub.next().await {
            let at = Instant::now();
            let Ok(p) = rosey_model::decode::<rosey_model::payload::MessageLog>(&m.payload) else {
                continue;
            };
            if let Some((run, seq)) = parse_line(&p.message) {
                log2.lock().expect("bus watcher lock").push((run, seq, at));
            }
        }
    });
    Ok((log, task))
}

/// CPU seconds of this process so far.
fn own_cpu_s() -> Result<f64, BenchError> {
    crate::procs::sample(std::process::id())
        .map(|s| s.cpu_s)
        .ok_or_else(|| BenchError::measurement("own CPU time", "/proc/self unreadable"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_text_round_trips() {
        assert_eq!(parse_line(&line(2, 12345)), Some((2, 12345)));
        assert_eq!(parse_line("warm-up 3"), None);
        assert_eq!(parse_line("e2e 1 2 3"), None);
        assert_eq!(parse_line("e2e x 2"), None);
    }
}
