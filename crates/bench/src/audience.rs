//! A big audience on the dashboard (`rosey bench --audience`, issue 31): `viewers` SSE
//! viewers (2,000) of one channel while chat lines are published at `rate` lines/s (1,000)
//! for `seconds`. Every line must reach every viewer, the delivery p99 (publish → the
//! viewer reads it) must be ≤ 100 ms, and `rosey web`'s resident set ≤ 100 MB.
//!
//! The world: a nats-server of its own, `rosey db-service` and `rosey web` as processes;
//! `rosey web` has a configuration file whose `web` section lets 2,000 streams come from
//! loopback (`max_streams_per_client` and the connection caps; the defaults are 16 streams
//! per address). The lines are normalized `message` events published on
//! `rosey.events.<channel>.message` from a thread of their own (so the viewers' work cannot
//! hold the pace back); each line's publish time is noted just before it goes out.
//!
//! The viewers are plain TCP connections in this process (a request, then the raw
//! response read in blocks): each counts the `chat` frames by their SSE id (`<epoch>-<seq>`:
//! the n-th line after its snapshot has seq = the snapshot's + n), notes gaps and skips (a
//! second `snapshot`: it fell behind), and puts each line's delay (publish → the read that
//! brought it) in a histogram of its own. The viewers share the machine's cores with the
//! server, so the figures include their cost; browsers would be elsewhere.

use std::ffi::OsStr;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::time::{Duration, Instant};

use rosey_model::subjects;
use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::BenchError;
use crate::procs::Child;
use crate::report::{TargetCheck, mb_in_mib, mib_target};
use crate::stats::Percentiles;

/// The channel the audience watches.
const CHANNEL: &str = "audience";
/// How long a process may take to answer after it is spawned.
const READY: Duration = Duration::from_secs(20);
/// How long stragglers may take after the last line.
const DRAIN: Duration = Duration::from_secs(10);
/// The delivery p99 target, ms.
const P99_TARGET_MS: f64 = 100.0;
/// The resident-set target of `rosey web`, MB.
const RSS_TARGET_MB: f64 = 100.0;

/// What to measure.
#[derive(Debug, Clone)]
pub struct AudienceOptions {
    pub viewers: usize,
    pub rate: u32,
    pub seconds: u64,
}

impl Default for AudienceOptions {
    fn default() -> Self {
        AudienceOptions {
            viewers: 2_000,
            rate: 1_000,
            seconds: 10,
        }
    }
}

/// The figures.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AudienceFigures {
    pub viewers: usize,
    pub rate: u32,
    pub seconds: u64,
    /// Lines published, and the rate achieved.
    pub lines: u64,
    pub achieved_rate: f64,
    /// (line, viewer) pairs expected and delivered in order; lines a viewer missed (gaps,
    /// or skipped past by a second snapshot) and second snapshots.
    pub expected: u64,
    pub delivered: u64,
    pub missed: u64,
    pub skips: u64,
    /// Publish → read by the viewer, over every delivered (line, viewer); 0.1 ms buckets up
    /// to 10 ms, 1 ms to 1 s, 10 ms beyond.
    pub delivery: Percentiles,
    /// Resident set of `rosey web`: with every viewer connected before the stream, at its
    /// end, and the peak (VmHWM), KiB.
    pub rss_connected_kib: u64,
    pub rss_end_kib: u64,
    pub peak_rss_kib: u64,
    /// CPU seconds of `rosey web` during the stream.
    pub web_cpu_s: f64,
    /// Load average (1 min) before and after.
    pub load_before: Option<f64>,
    pub load_after: Option<f64>,
}

/// Runs the audience section.
pub async fn run(rosey: &Path, opts: &AudienceOptions) -> Result<AudienceFigures, BenchError> {
    let load_before = crate::machine::load_average();
    let dir = tempfile::tempdir()?;
    let dir = dir.path();
    let nats = std::panic::catch_unwind(rosey_testkit::NatsServer::start)
        .map_err(|_| BenchError::NatsServerStart("panicked".into()))?;
    let url = nats.url();
    let room = opts.viewers + 64;
    let config = json!({
        "version": "2.0",
        "nats": {"url": url},
        "web": {"max_streams": room, "max_streams_per_client": room,
                "max_connections": room + 64, "max_connections_per_client": room + 64},
        "logging": {"level": "warn"},
    });
    let config_path = dir.join("audience.json");
    std::fs::write(&config_path, config.to_string()).map_err(|source| BenchError::Write {
        path: config_path.clone(),
        source,
    })?;
    let db_path = dir.join("audience.db");
    let mut db = Child::spawn(
        "rosey db-service",
        rosey,
        &[
            OsStr::new("db-service"),
            OsStr::new("--log-level"),
            OsStr::new("warn"),
            OsStr::new("--db-path"),
            db_path.as_os_str(),
            OsStr::new("--nats-url"),
            OsStr::new(&url),
        ],
        dir,
        dir.join("db-service.log"),
        &[],
    )?;
    let addr = format!("127.0.0.1:{}", rosey_testkit::free_port());
    let mut web = Child::spawn(
        "rosey web",
        rosey,
        &[
            OsStr::new("web"),
            config_path.as_os_str(),
            OsStr::new("--listen"),
            OsStr::new(&addr),
            OsStr::new("--channel"),
            OsStr::new(CHANNEL),
            OsStr::new("--log-level"),
            OsStr::new("warn"),
        ],
        dir,
        dir.join("web.log"),
        &[],
    )?;
    let http = reqwest::Client::new();
    let t = Instant::now();
    loop {
        web.check_alive()?;
        db.check_alive()?;
        let probe = http.get(format!("http://{addr}/api/stats")).send().await;
        if probe.is_ok_and(|r| r.status().is_success()) {
            break;
        }
        if t.elapsed() > READY {
            return Err(BenchError::NotReady {
                what: "rosey web".into(),
                seconds: READY.as_secs_f64(),
                detail: web.log_tail(),
            });
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let lines = u64::from(opts.rate) * opts.seconds;
    let epoch = Instant::now();
    let sent: Arc<Vec<AtomicU64>> = Arc::new((0..lines).map(|_| AtomicU64::new(0)).collect());
    let ready = Arc::new(AtomicUsize::new(0));
    let mut viewers = tokio::task::JoinSet::new();
    for _ in 0..opts.viewers {
        let stream = TcpStream::connect(&addr)
            .await
            .map_err(|e| BenchError::measurement("viewer connect", e))?;
        let (sent, ready) = (sent.clone(), ready.clone());
        viewers.spawn(watch(stream, sent, ready, epoch, lines));
    }
    let t = Instant::now();
    while ready.load(Relaxed) < opts.viewers {
        web.check_alive()?;
        if t.elapsed() > READY {
            return Err(BenchError::measurement(
                "viewers",
                format!(
                    "{} of {} viewers got their snapshot in {READY:?}",
                    ready.load(Relaxed),
                    opts.viewers
                ),
            ));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Let the connections' start-up settle before the baseline.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let connected = web.sample()?;

    let publisher = {
        let (url, sent, rate) = (url.clone(), sent.clone(), opts.rate);
        std::thread::spawn(move || publish(&url, &sent, epoch, rate))
    };
    let took = tokio::task::spawn_blocking(move || publisher.join())
        .await
        .map_err(|e| BenchError::measurement("publisher", e))?
        .map_err(|_| BenchError::measurement("publisher", "panicked"))??;
    let mut tallies = Vec::with_capacity(opts.viewers);
    let collect = async {
        while let Some(r) = viewers.join_next().await {
            tallies.push(r.map_err(|e| BenchError::measurement("viewer", e))??);
        }
        Ok::<_, BenchError>(())
    };
    match tokio::time::timeout(DRAIN, collect).await {
        Ok(r) => r?,
        Err(_) => viewers.abort_all(),
    }
    let end = web.sample()?;
    let _ = web.terminate(Duration::from_secs(10)).await;
    let _ = db.terminate(Duration::from_secs(10)).await;

    let mut all = Histogram::default();
    let (mut delivered, mut missed, mut skips) = (0, 0, 0);
    for t in &tallies {
        all.merge(&t.delays);
        delivered += t.delivered;
        missed += t.missed;
        skips += t.skips;
    }
    // A viewer that never finished (aborted after the drain) missed what it did not get.
    let expected = lines * opts.viewers as u64;
    Ok(AudienceFigures {
        viewers: opts.viewers,
        rate: opts.rate,
        seconds: opts.seconds,
        lines,
        achieved_rate: lines as f64 / took.as_secs_f64(),
        expected,
        delivered,
        missed: missed.max(expected.saturating_sub(delivered)),
        skips,
        delivery: all.percentiles(),
        rss_connected_kib: connected.rss_kib,
        rss_end_kib: end.rss_kib,
        peak_rss_kib: end.hwm_kib,
        web_cpu_s: end.cpu_s - connected.cpu_s,
        load_before,
        load_after: crate::machine::load_average(),
    })
}

/// Publishes `sent.len()` lines at `rate` lines/s, noting each one's time (ns after
/// `epoch`) just before it goes out; returns how long it took.
fn publish(
    url: &str,
    sent: &[AtomicU64],
    epoch: Instant,
    rate: u32,
) -> Result<Duration, BenchError> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let client = async_nats::connect(url)
            .await
            .map_err(|e| BenchError::measurement("publisher", e))?;
        let subject = subjects::event_subject(CHANNEL, "message");
        let period = Duration::from_secs(1) / rate.max(1);
        let start = tokio::time::Instant::now();
        for (n, at) in sent.iter().enumerate() {
            tokio::time::sleep_until(start + period * n as u32).await;
            let line = json!({"channel": CHANNEL, "ts": 1_700_000_000.0, "id": format!("a{n}"),
                              "kind": "message", "user": "speaker", "content": format!("line {n}")});
            at.store(epoch.elapsed().as_nanos().max(1) as u64, Relaxed);
            client
                .publish(subject.clone(), line.to_string().into())
                .await
                .map_err(|e| BenchError::measurement("publish", e))?;
        }
        client
            .flush()
            .await
            .map_err(|e| BenchError::measurement("publish", e))?;
        Ok(start.elapsed())
    })
}

/// What one viewer saw.
struct Tally {
    delivered: u64,
    missed: u64,
    skips: u64,
    delays: Histogram,
}

/// One viewer: asks for the stream, then reads until it has the last line (or the server
/// ends the stream).
async fn watch(
    mut stream: TcpStream,
    sent: Arc<Vec<AtomicU64>>,
    ready: Arc<AtomicUsize>,
    epoch: Instant,
    lines: u64,
) -> Result<Tally, BenchError> {
    let request = format!("GET /events?channel={CHANNEL} HTTP/1.1\r\nHost: bench\r\n\r\n");
    stream
        .write_all(request.as_bytes())
        .await
        .map_err(|e| BenchError::measurement("viewer request", e))?;
    let mut tally = Tally {
        delivered: 0,
        missed: 0,
        skips: 0,
        delays: Histogram::default(),
    };
    let mut buf = vec![0u8; 16 * 1024];
    // Bytes of an unfinished line carried over from the previous read.
    let mut carry = 0;
    let mut frames = Frames::default();
    loop {
        let n = match stream.read(&mut buf[carry..]).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let now = epoch.elapsed().as_nanos() as u64;
        let end = carry + n;
        let complete = buf[..end]
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(0, |i| i + 1);
        for line in buf[..complete].split(|&b| b == b'\n') {
            match frames.line(line) {
                Seen::Nothing => {}
                Seen::Snapshot(first) => {
                    if first {
                        ready.fetch_add(1, Relaxed);
                    } else {
                        tally.skips += 1;
                    }
                }
                Seen::Chat(k) => {
                    if k >= lines {
                        continue;
                    }
                    tally.missed += k.saturating_sub(frames.next);
                    frames.next = k + 1;
                    tally.delivered += 1;
                    let at = sent[k as usize].load(Relaxed);
                    if at > 0 {
                        tally.delays.add(now.saturating_sub(at) / 1000);
                    }
                }
            }
        }
        buf.copy_within(complete..end, 0);
        carry = end - complete;
        if carry == buf.len() {
            // A line longer than the buffer (a big snapshot): grow it.
            buf.resize(buf.len() * 2, 0);
        }
        if frames.next >= lines {
            break;
        }
    }
    tally.missed += lines.saturating_sub(frames.next);
    Ok(tally)
}

/// The SSE lines of one stream, as far as the count needs them.
#[derive(Default)]
struct Frames {
    /// The event name of the frame being read.
    chat: bool,
    snapshot: bool,
    /// The snapshot's seq: chat line n (0-based) has seq `base + n + 1`.
    base: Option<u64>,
    /// The next line expected.
    next: u64,
}

enum Seen {
    Nothing,
    /// A snapshot (true: the first).
    Snapshot(bool),
    /// Chat line n.
    Chat(u64),
}

impl Frames {
    fn line(&mut self, line: &[u8]) -> Seen {
        if let Some(name) = line.strip_prefix(b"event: ") {
            self.chat = name == b"chat";
            self.snapshot = name == b"snapshot";
            return Seen::Nothing;
        }
        let Some(id) = line.strip_prefix(b"id: ") else {
            return Seen::Nothing;
        };
        let seq = id
            .iter()
            .rposition(|&b| b == b'-')
            .and_then(|i| std::str::from_utf8(&id[i + 1..]).ok())
            .and_then(|s| s.parse::<u64>().ok());
        let Some(seq) = seq else {
            return Seen::Nothing;
        };
        if std::mem::take(&mut self.snapshot) {
            let first = self.base.is_none();
            if first {
                self.base = Some(seq);
            } else if let Some(base) = self.base {
                // Skipped ahead: the lines up to this snapshot are missed.
                self.next = self.next.max(seq.saturating_sub(base));
            }
            return Seen::Snapshot(first);
        }
        match (std::mem::take(&mut self.chat), self.base) {
            (true, Some(base)) if seq > base => Seen::Chat(seq - base - 1),
            _ => Seen::Nothing,
        }
    }
}

/// Delays in µs: 0.1 ms buckets below 10 ms, 1 ms below 1 s, 10 ms below 10 s, then one.
#[derive(Clone)]
struct Histogram {
    counts: Vec<u64>,
    max_us: u64,
}

const BUCKETS: usize = 100 + 990 + 900 + 1;

impl Default for Histogram {
    fn default() -> Self {
        Histogram {
            counts: vec![0; BUCKETS],
            max_us: 0,
        }
    }
}

impl Histogram {
    fn bucket(us: u64) -> usize {
        match us {
            0..10_000 => (us / 100) as usize,
            10_000..1_000_000 => 100 + ((us - 10_000) / 1_000) as usize,
            1_000_000..10_000_000 => 1_090 + ((us - 1_000_000) / 10_000) as usize,
            _ => BUCKETS - 1,
        }
    }

    /// The upper edge of a bucket, µs.
    fn upper(i: usize) -> u64 {
        let i = i as u64;
        match i {
            0..100 => (i + 1) * 100,
            100..1_090 => 10_000 + (i - 99) * 1_000,
            1_090..1_990 => 1_000_000 + (i - 1_089) * 10_000,
            _ => u64::MAX,
        }
    }

    fn add(&mut self, us: u64) {
        self.counts[Self::bucket(us)] += 1;
        self.max_us = self.max_us.max(us);
    }

    fn merge(&mut self, other: &Histogram) {
        for (a, b) in self.counts.iter_mut().zip(&other.counts) {
            *a += b;
        }
        self.max_us = self.max_us.max(other.max_us);
    }

    /// Nearest-rank percentiles, each the upper edge of its bucket (never above the max).
    fn percentiles(&self) -> Percentiles {
        let total: u64 = self.counts.iter().sum();
        let at = |q: f64| {
            let rank = ((total as f64 * q).ceil() as u64).max(1);
            let mut seen = 0;
            for (i, c) in self.counts.iter().enumerate() {
                seen += c;
                if seen >= rank {
                    return Self::upper(i).min(self.max_us) as f64 / 1e3;
                }
            }
            0.0
        };
        Percentiles {
            count: total as usize,
            p50_ms: at(0.50),
            p95_ms: at(0.95),
            p99_ms: at(0.99),
            max_ms: self.max_us as f64 / 1e3,
        }
    }
}

impl AudienceFigures {
    /// The targets of issue 31 for a big audience.
    pub fn targets(&self) -> Vec<TargetCheck> {
        let who = format!("{} SSE viewers at {} lines/s", self.viewers, self.rate);
        vec![
            TargetCheck::new(
                &format!("{who}: every line to every viewer"),
                "0 missed",
                format!(
                    "{} of {} delivered, {} missed, {} skips",
                    self.delivered, self.expected, self.missed, self.skips
                ),
                Some(self.missed == 0 && self.delivered == self.expected),
            ),
            TargetCheck::new(
                &format!("{who}: delivery p99"),
                &format!("≤ {P99_TARGET_MS} ms"),
                format!("{:.1} ms", self.delivery.p99_ms),
                Some(self.delivery.count > 0 && self.delivery.p99_ms <= P99_TARGET_MS),
            ),
            TargetCheck::new(
                &format!("{who}: `rosey web` peak RSS"),
                &mib_target(RSS_TARGET_MB),
                format!("{:.1} MiB", self.peak_rss_kib as f64 / 1024.0),
                Some(self.peak_rss_kib as f64 / 1024.0 <= mb_in_mib(RSS_TARGET_MB)),
            ),
        ]
    }

    /// The section for BENCHMARKS.md / the terminal: the targets, then the figures.
    pub fn to_markdown(&self) -> String {
        let mib = |kib: u64| format!("{:.1} MiB", kib as f64 / 1024.0);
        let load = |l: Option<f64>| l.map_or("?".to_string(), |l| format!("{l:.2}"));
        let mut s = String::from("| figure | target | measured | met? |\n|---|---|---|---|\n");
        for t in self.targets() {
            let met = match t.met {
                Some(true) => "yes",
                Some(false) => "**no**",
                None => "not measured",
            };
            s.push_str(&format!(
                "| {} | {} | {} | {met} |\n",
                t.figure, t.target, t.measured
            ));
        }
        s.push_str(&format!(
            "\n{} viewers of one channel, {} lines/s for {} s ({} lines, {:.0} lines/s achieved); \
             load average {} before, {} after.\n\n\
             | delivery, ms | p50 | p95 | p99 | max |\n|---|---|---|---|---|\n\
             | publish → read by the viewer ({} deliveries) | {:.2} | {:.2} | {:.2} | {:.2} |\n\n\
             `rosey web`: RSS {} with every viewer connected, {} at the end, peak {}; \
             {:.1} CPU s during the stream.\n",
            self.viewers,
            self.rate,
            self.seconds,
            self.lines,
            self.achieved_rate,
            load(self.load_before),
            load(self.load_after),
            self.delivery.count,
            self.delivery.p50_ms,
            self.delivery.p95_ms,
            self.delivery.p99_ms,
            self.delivery.max_ms,
            mib(self.rss_connected_kib),
            mib(self.rss_end_kib),
            mib(self.peak_rss_kib),
            self.web_cpu_s,
        ));
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_count_chat_lines_after_the_snapshot_and_see_skips() {
        let mut f = Frames::default();
        let mut seen = Vec::new();
        let text = "event: snapshot\nid: ab-7\ndata: {}\n\n\r\n1f\r\nevent: chat\nid: ab-8\n\
                    data: {}\n\nevent: state\nid: ab-8\ndata: {}\n\nevent: chat\nid: ab-9\n\n\
                    event: snapshot\nid: ab-20\n\n";
        for line in text.as_bytes().split(|&b| b == b'\n') {
            match f.line(line) {
                Seen::Nothing => {}
                Seen::Snapshot(first) => seen.push(format!("snapshot {first}")),
                Seen::Chat(k) => {
                    seen.push(format!("chat {k}"));
                    f.next = k + 1;
                }
            }
        }
        assert_eq!(
            seen,
            ["snapshot true", "chat 0", "chat 1", "snapshot false"]
        );
        assert_eq!(
            f.next, 13,
            "a second snapshot skips past the lines before it"
        );
    }

    #[test]
    fn histogram_percentiles_are_bucket_edges() {
        let mut h = Histogram::default();
        for ms in 1..=100u64 {
            h.add(ms * 1_000 - 500);
        }
        let p = h.percentiles();
        assert_eq!(p.count, 100);
        assert_eq!(p.p50_ms, 50.0);
        assert_eq!(p.p99_ms, 99.0);
        assert_eq!(p.max_ms, 99.5);
        assert_eq!(Histogram::bucket(9_999), 99);
        assert_eq!(Histogram::upper(Histogram::bucket(10_500)), 11_000);
        assert_eq!(Histogram::upper(Histogram::bucket(2_345_000)), 2_350_000);
    }
}
