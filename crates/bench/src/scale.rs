//! Scale: one `rosey bot` process holding N channels of a devserver. For each N: the time
//! until it has joined every channel (and the CPU that took), its resident set once settled,
//! its peak, and its idle CPU over a window (pings, the 10 s status updates, the 30 s
//! outbound pump of every channel), then SIGTERM.
//!
//! The world: the devserver runs as a process of its own (`rosey devserver`, the running
//! executable) on a free loopback port, so that its 10,000 sockets' work is neither in the
//! bot's figures nor on the bench's runtime; "joined" is its `/devserver/presence/<name>`
//! answer (in how many channels the bot is a logged-in member), polled every
//! [`PRESENCE_POLL`]. Every `rosey` process raises its soft open-file limit to the hard
//! limit at start (a bot with 10,000 channels holds 10,000 sockets, and so does the
//! devserver).

use std::ffi::OsStr;
use std::path::Path;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::bot;
use crate::error::BenchError;
use crate::options::Sizes;
use crate::procs::{Child, exit_text};
use crate::report::{TargetCheck, mb_in_mib, mib_target};

/// How long a bot may take to stop after SIGTERM.
const STOP_TIMEOUT: Duration = Duration::from_secs(10);
/// How long the devserver may take to answer after it is spawned.
const DEVSERVER_READY: Duration = Duration::from_secs(20);
/// How long a bot may take to join all its channels.
const JOIN_TIMEOUT: Duration = Duration::from_secs(120);
/// How often the devserver is asked how many channels the bot is in.
const PRESENCE_POLL: Duration = Duration::from_millis(50);

/// One bot process with `channels` channels.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScalePoint {
    pub channels: usize,
    /// Spawn → listed in every channel by the devserver, ms.
    pub join_ms: f64,
    /// CPU seconds from spawn until joined, per channel.
    pub join_cpu_s_per_channel: f64,
    /// Resident set after settling, MiB.
    pub rss_mib: f64,
    pub rss_per_channel_mib: f64,
    /// Peak resident set (VmHWM) at the end of the window, MiB.
    pub peak_rss_mib: f64,
    /// Idle CPU over the window, % of one core.
    pub idle_cpu_pct: f64,
    pub idle_cpu_pct_per_channel: f64,
    pub window_s: f64,
    /// How the process ended after SIGTERM (e.g. "exit 0 in 12 ms").
    pub stop: String,
    /// The same, in ms (absent in reports from before issue 31).
    #[serde(default)]
    pub stop_ms: Option<f64>,
}

/// Measures one bot process per entry of `sizes.scale_channels`, against a devserver
/// process of its own.
pub async fn measure(
    rosey: &Path,
    dir: &Path,
    nats_url: &str,
    sizes: &Sizes,
    mut after_point: impl FnMut(),
) -> Result<Vec<ScalePoint>, BenchError> {
    let mut devserver = DevserverProcess::start(rosey, dir).await?;
    let mut points = Vec::new();
    for &n in &sizes.scale_channels {
        let channels: Vec<String> = (0..n).map(|i| format!("sc{n}x{i}")).collect();
        let config = bot::config(nats_url, &devserver.base, &channels);
        let mut child = bot::spawn(rosey, dir, &format!("bot-scale-{n}"), &config)?;
        let join = devserver.wait_joined(&mut child, n).await?;
        let at_join = child.sample()?;
        tokio::time::sleep(sizes.settle).await;
        let settled = child.sample()?;
        tokio::time::sleep(sizes.idle_window).await;
        let end = child.sample()?;
        let (took, status) = child.terminate(STOP_TIMEOUT).await?;
        // The next point starts on a devserver without this bot's sessions.
        devserver.wait_joined_count(0).await?;
        let mib = |kib: u64| kib as f64 / 1024.0;
        let window = sizes.idle_window.as_secs_f64();
        let idle_pct = (end.cpu_s - settled.cpu_s) / window * 100.0;
        points.push(ScalePoint {
            channels: n,
            join_ms: join.as_secs_f64() * 1e3,
            join_cpu_s_per_channel: at_join.cpu_s / n as f64,
            rss_mib: mib(settled.rss_kib),
            rss_per_channel_mib: mib(settled.rss_kib) / n as f64,
            peak_rss_mib: mib(end.hwm_kib),
            idle_cpu_pct: idle_pct,
            idle_cpu_pct_per_channel: idle_pct / n as f64,
            window_s: window,
            stop: format!(
                "{} in {:.0} ms",
                exit_text(&status),
                took.as_secs_f64() * 1e3
            ),
            stop_ms: Some(took.as_secs_f64() * 1e3),
        });
        after_point();
    }
    let _ = devserver.child.terminate(STOP_TIMEOUT).await;
    Ok(points)
}

/// `rosey devserver` on a free loopback port, and a client that asks it about presence.
struct DevserverProcess {
    child: Child,
    base: String,
    http: reqwest::Client,
}

impl DevserverProcess {
    async fn start(rosey: &Path, dir: &Path) -> Result<DevserverProcess, BenchError> {
        let addr = format!("127.0.0.1:{}", rosey_testkit::free_port());
        let child = Child::spawn(
            "rosey devserver",
            rosey,
            &[
                OsStr::new("devserver"),
                OsStr::new("--listen"),
                OsStr::new(&addr),
                OsStr::new("--log-level"),
                OsStr::new("warn"),
            ],
            dir,
            dir.join("devserver.log"),
            &[],
        )?;
        let http = reqwest::Client::new();
        let mut d = DevserverProcess {
            child,
            base: format!("http://{addr}"),
            http,
        };
        let t = Instant::now();
        while d.present().await.is_none() {
            d.child.check_alive()?;
            if t.elapsed() > DEVSERVER_READY {
                return Err(BenchError::NotReady {
                    what: "rosey devserver".into(),
                    seconds: DEVSERVER_READY.as_secs_f64(),
                    detail: d.child.log_tail(),
                });
            }
            tokio::time::sleep(PRESENCE_POLL).await;
        }
        Ok(d)
    }

    /// In how many channels the bot is now (`None`: no answer).
    async fn present(&self) -> Option<usize> {
        let url = format!("{}/devserver/presence/{}", self.base, bot::BOT_NAME);
        let v: serde_json::Value = self.http.get(url).send().await.ok()?.json().await.ok()?;
        v["channels"].as_u64().map(|n| n as usize)
    }

    /// Waits until the bot is in `n` channels; the time since it was spawned.
    async fn wait_joined(&mut self, bot: &mut Child, n: usize) -> Result<Duration, BenchError> {
        loop {
            if self.present().await == Some(n) {
                return Ok(bot.started.elapsed());
            }
            bot.check_alive()?;
            self.child.check_alive()?;
            if bot.started.elapsed() > JOIN_TIMEOUT {
                return Err(BenchError::NotReady {
                    what: format!("{} to join {n} channels", bot.what()),
                    seconds: JOIN_TIMEOUT.as_secs_f64(),
                    detail: bot.log_tail(),
                });
            }
            tokio::time::sleep(PRESENCE_POLL).await;
        }
    }

    /// Waits until the bot is in `n` channels (after it stopped: 0).
    async fn wait_joined_count(&mut self, n: usize) -> Result<(), BenchError> {
        let t = Instant::now();
        while self.present().await != Some(n) {
            self.child.check_alive()?;
            if t.elapsed() > JOIN_TIMEOUT {
                return Err(BenchError::NotReady {
                    what: format!("the devserver to count the bot in {n} channels"),
                    seconds: JOIN_TIMEOUT.as_secs_f64(),
                    detail: self.child.log_tail(),
                });
            }
            tokio::time::sleep(PRESENCE_POLL).await;
        }
        Ok(())
    }
}

/// A target row: what, the target, and (measured, met) when measured.
type Row = (&'static str, String, Option<(String, bool)>);

/// Issue 31's targets for one process with 10,000 channels (with `--scale-channels
/// …,10000`): ≤ 1 GB, ≤ 5 % of a core idle, joined within 30 s, SIGTERM in under 2 s.
pub fn ten_thousand_targets(scale: &[ScalePoint], t: &mut Vec<TargetCheck>) {
    let p = scale.iter().find(|p| p.channels == 10_000);
    let stop_ms = |p: &ScalePoint| p.stop_ms.unwrap_or(f64::INFINITY);
    let rows: [Row; 4] = [
        (
            "RSS",
            mib_target(1000.0),
            p.map(|p| {
                (
                    format!("{:.1} MiB", p.rss_mib),
                    p.rss_mib <= mb_in_mib(1000.0) && p.peak_rss_mib <= mb_in_mib(1000.0),
                )
            }),
        ),
        (
            "idle CPU",
            "≤ 5 % of a core".to_string(),
            p.map(|p| (format!("{:.2} %", p.idle_cpu_pct), p.idle_cpu_pct <= 5.0)),
        ),
        (
            "all joined",
            "≤ 30 s".to_string(),
            p.map(|p| (format!("{:.1} s", p.join_ms / 1e3), p.join_ms <= 30_000.0)),
        ),
        (
            "SIGTERM",
            "exit 0 in < 2 s".to_string(),
            p.map(|p| {
                (
                    p.stop.clone(),
                    p.stop.starts_with("exit 0") && stop_ms(p) < 2_000.0,
                )
            }),
        ),
    ];
    for (what, target, check) in rows {
        let figure = format!("one bot process, 10,000 channels, {what}");
        t.push(match check {
            Some((measured, ok)) => TargetCheck::new(&figure, &target, measured, Some(ok)),
            None => TargetCheck::not_measured(
                &figure,
                &target,
                "no 10,000-channel point (`--scale-channels 1,10,100,1000,10000`)",
            ),
        });
    }
}
