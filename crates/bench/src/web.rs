//! The web dashboard's figures (`rosey bench --web`): `rosey web` as a process on a
//! nats-server of the suite's own, with `rosey db-service` behind it.
//!
//! - First HTML: `GET /` on a new connection each time, timed by the client on loopback
//!   (request sent → body read), so it bounds the server time from above.
//! - Idle RSS: the process after start-up and those requests, before any browser watches.
//! - Live delivery: `clients` SSE clients (`GET /events`) in this process, while chat lines
//!   are published on `rosey.events.<channel>.message` at `rate` lines/s for `seconds`; each
//!   line's delay is from just before its publish to its arrival at each client. Lines a
//!   client never got (it fell behind and was skipped ahead to a snapshot) are counted.
//!
//! The clients run on the same machine and cores as the server, so the delivery figures
//! include the cost of 200 parsing clients; a real deployment has the browsers elsewhere.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

use futures::StreamExt;
use rosey_model::subjects;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::BenchError;
use crate::procs::Child;
use crate::stats::Percentiles;

/// What to measure.
#[derive(Debug, Clone)]
pub struct WebOptions {
    pub clients: usize,
    pub rate: u32,
    pub seconds: u64,
    pub html_requests: usize,
}

impl Default for WebOptions {
    fn default() -> Self {
        WebOptions {
            clients: 200,
            rate: 1000,
            seconds: 10,
            html_requests: 200,
        }
    }
}

/// The figures.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WebFigures {
    /// `GET /` on a new connection, client-timed.
    pub first_html: Percentiles,
    /// Resident set of `rosey web` when idle, KiB.
    pub idle_rss_kib: u64,
    pub clients: usize,
    pub rate: u32,
    pub seconds: u64,
    /// Lines published.
    pub lines: u64,
    /// Publish → arrival at a client, over every (line, client).
    pub delivery: Percentiles,
    /// (line, client) pairs expected and received.
    pub expected: u64,
    pub received: u64,
    /// Resident set at the end of the stream, and the peak, KiB.
    pub rss_under_load_kib: u64,
    pub peak_rss_kib: u64,
    /// CPU seconds `rosey web` used during the stream.
    pub cpu_s: f64,
}

const CHANNEL: &str = "bench";
const READY: Duration = Duration::from_secs(20);

fn measurement(what: &'static str, detail: impl ToString) -> BenchError {
    BenchError::Measurement {
        what,
        detail: detail.to_string(),
    }
}

/// Runs the web section.
pub async fn run(rosey: &Path, opts: &WebOptions) -> Result<WebFigures, BenchError> {
    let dir = tempfile::tempdir()?;
    let dir = dir.path();
    let nats = std::panic::catch_unwind(rosey_testkit::NatsServer::start)
        .map_err(|_| BenchError::NatsServerStart("panicked".into()))?;
    let env = [("NATS_URL", nats.url())];
    let os = |s: &str| std::ffi::OsString::from(s);
    let db_path = dir.join("web.db");
    let mut db = Child::spawn(
        "rosey db-service",
        rosey,
        &[
            os("db-service"),
            os("--log-level"),
            os("warn"),
            os("--db-path"),
            db_path.into(),
        ]
        .iter()
        .map(|s| s.as_os_str())
        .collect::<Vec<_>>(),
        dir,
        dir.join("db-service.log"),
        &env,
    )?;
    let port = rosey_testkit::free_port();
    let addr = format!("127.0.0.1:{port}");
    let args = [
        "web",
        "--log-level",
        "warn",
        "--channel",
        CHANNEL,
        "--listen",
        &addr,
    ];
    let mut web = Child::spawn(
        "rosey web",
        rosey,
        &args.iter().map(std::ffi::OsStr::new).collect::<Vec<_>>(),
        dir,
        dir.join("web.log"),
        &env,
    )?;
    let base = format!("http://{addr}");
    let fresh = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .map_err(|e| measurement("http client", e))?;
    let started = Instant::now();
    loop {
        web.check_alive()?;
        db.check_alive()?;
        if let Ok(r) = fresh.get(format!("{base}/api/stats")).send().await
            && r.status().is_success()
        {
            break;
        }
        if started.elapsed() > READY {
            return Err(BenchError::NotReady {
                what: "rosey web".into(),
                seconds: READY.as_secs_f64(),
                detail: web.log_tail(),
            });
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let mut html = Vec::with_capacity(opts.html_requests);
    for _ in 0..opts.html_requests {
        let t = Instant::now();
        let body = fresh
            .get(format!("{base}/"))
            .send()
            .await
            .map_err(|e| measurement("GET /", e))?
            .bytes()
            .await
            .map_err(|e| measurement("GET /", e))?;
        html.push(t.elapsed());
        if body.is_empty() {
            return Err(measurement("GET /", "empty page"));
        }
    }
    // Idle: let allocations from start-up and the requests settle.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let idle = web.sample()?;

    let (lines, delivery, expected, received, cpu_s) =
        stream(&base, &nats.url(), opts, &mut web).await?;
    let loaded = web.sample()?;
    let _ = web.terminate(Duration::from_secs(10)).await;
    let _ = db.terminate(Duration::from_secs(10)).await;
    Ok(WebFigures {
        first_html: Percentiles::of(&html),
        idle_rss_kib: idle.rss_kib,
        clients: opts.clients,
        rate: opts.rate,
        seconds: opts.seconds,
        lines,
        delivery,
        expected,
        received,
        rss_under_load_kib: loaded.rss_kib,
        peak_rss_kib: loaded.hwm_kib,
        cpu_s: cpu_s - idle.cpu_s,
    })
}

/// The live-delivery part: returns (lines, delays, expected, received, web CPU seconds at
/// the end).
async fn stream(
    base: &str,
    nats_url: &str,
    opts: &WebOptions,
    web: &mut Child,
) -> Result<(u64, Percentiles, u64, u64, f64), BenchError> {
    let lines = opts.rate as u64 * opts.seconds;
    let epoch = Instant::now();
    // When each line was published, nanoseconds after `epoch` (0 = not yet).
    let sent: Arc<Vec<AtomicU64>> = Arc::new((0..lines).map(|_| AtomicU64::new(0)).collect());
    let http = reqwest::Client::new();
    let (ready_tx, mut ready_rx) = tokio::sync::mpsc::channel::<()>(opts.clients);
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..opts.clients {
        let response = http
            .get(format!("{base}/events?channel={CHANNEL}"))
            .send()
            .await
            .map_err(|e| measurement("SSE connect", e))?;
        let (sent, ready, mut stop) = (sent.clone(), ready_tx.clone(), stop_rx.clone());
        tasks.spawn(async move {
            let mut delays: Vec<Duration> = Vec::with_capacity(lines as usize);
            let mut body = response.bytes_stream();
            let mut buf = String::new();
            let mut last = None;
            loop {
                let chunk = tokio::select! {
                    _ = stop.wait_for(|s| *s) => break,
                    c = body.next() => match c {
                        Some(Ok(c)) => c,
                        _ => break,
                    },
                };
                let now = epoch.elapsed();
                buf.push_str(&String::from_utf8_lossy(&chunk));
                while let Some(end) = buf.find("\n\n") {
                    let frame: String = buf.drain(..end + 2).collect();
                    if frame.starts_with("event: snapshot") {
                        let _ = ready.try_send(());
                        continue;
                    }
                    if !frame.starts_with("event: chat") {
                        continue;
                    }
                    let Some(data) = frame.lines().find_map(|l| l.strip_prefix("data: ")) else {
                        continue;
                    };
                    let Ok(v) = serde_json::from_str::<Value>(data) else {
                        continue;
                    };
                    let Some(seq) = v["message"].as_str().and_then(|m| m.parse::<u64>().ok())
                    else {
                        continue;
                    };
                    if let Some(at) = sent.get(seq as usize).map(|a| a.load(Relaxed))
                        && at > 0
                    {
                        delays.push(now.saturating_sub(Duration::from_nanos(at)));
                    }
                    last = Some(seq);
                }
                if last == Some(lines - 1) {
                    break;
                }
            }
            delays
        });
    }
    drop(ready_tx);
    for _ in 0..opts.clients {
        tokio::time::timeout(READY, ready_rx.recv())
            .await
            .map_err(|_| measurement("SSE snapshot", "a client got no snapshot"))?;
    }
    let publisher = async_nats::connect(nats_url)
        .await
        .map_err(|e| measurement("publisher", e))?;
    let subject = subjects::event_subject(CHANNEL, "message");
    let cpu_before = web.sample()?.cpu_s;
    let mut tick = tokio::time::interval(Duration::from_secs(1) / opts.rate.max(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    for seq in 0..lines {
        tick.tick().await;
        let event = json!({"channel": CHANNEL, "ts": 0.0, "id": format!("w{seq}"),
                           "kind": "message", "user": "bencher", "content": seq.to_string()});
        sent[seq as usize].store(epoch.elapsed().as_nanos().max(1) as u64, Relaxed);
        publisher
            .publish(
                subject.clone(),
                serde_json::to_vec(&event).unwrap_or_default().into(),
            )
            .await
            .map_err(|e| measurement("publish", e))?;
    }
    publisher
        .flush()
        .await
        .map_err(|e| measurement("publish", e))?;
    // Stragglers get a few seconds to arrive; then the clients stop.
    let all = async {
        let mut out = Vec::new();
        while let Some(r) = tasks.join_next().await {
            out.push(r.unwrap_or_default());
        }
        out
    };
    tokio::pin!(all);
    let delays = match tokio::time::timeout(Duration::from_secs(5), &mut all).await {
        Ok(d) => d,
        Err(_) => {
            let _ = stop_tx.send(true);
            all.await
        }
    };
    let cpu_s = web.sample()?.cpu_s - cpu_before;
    let received: u64 = delays.iter().map(|d| d.len() as u64).sum();
    let flat: Vec<Duration> = delays.into_iter().flatten().collect();
    Ok((
        lines,
        Percentiles::of(&flat),
        lines * opts.clients as u64,
        received,
        cpu_s,
    ))
}

impl WebFigures {
    /// The section for BENCHMARKS.md / the terminal.
    pub fn to_markdown(&self) -> String {
        let ms = |v: f64| format!("{v:.2} ms");
        let mb = |kib: u64| format!("{:.1} MB", kib as f64 / 1024.0);
        let lost = self.expected.saturating_sub(self.received);
        format!(
            "| figure | value | target |\n|---|---|---|\n\
             | first HTML (`GET /`, new connection, client-timed) p50 / p99 | {} / {} | ≤ 50 ms |\n\
             | idle RSS of `rosey web` | {} | ≤ 20 MB |\n\
             | {} SSE clients, {} lines/s for {} s: delivery p50 / p99 / max | {} / {} / {} | p99 ≤ 100 ms |\n\
             | lines received / expected (skipped) | {} / {} ({}) | |\n\
             | RSS at the end of the stream / peak | {} / {} | bounded |\n\
             | CPU of `rosey web` during the stream | {:.1} s for {} s | |\n",
            ms(self.first_html.p50_ms),
            ms(self.first_html.p99_ms),
            mb(self.idle_rss_kib),
            self.clients,
            self.rate,
            self.seconds,
            ms(self.delivery.p50_ms),
            ms(self.delivery.p99_ms),
            ms(self.delivery.max_ms),
            self.received,
            self.expected,
            lost,
            mb(self.rss_under_load_kib),
            mb(self.peak_rss_kib),
            self.cpu_s,
            self.seconds,
        )
    }
}
