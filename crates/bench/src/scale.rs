//! Scale: one `rosey bot` process holding N channels of the devserver. For each N: the time
//! until it has joined every channel (and the CPU that took), its resident set once settled,
//! its peak, and its idle CPU over a window (pings, the 10 s status updates, the 2 s outbound
//! pump of every channel).

use std::path::Path;

use rosey_devserver::DevServer;
use serde::{Deserialize, Serialize};

use crate::bot;
use crate::error::BenchError;
use crate::options::Sizes;
use crate::procs::exit_text;

/// How long a bot may take to stop after SIGTERM.
const STOP_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

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
}

/// Measures one bot process per entry of `sizes.scale_channels`.
pub async fn measure(
    devserver: &DevServer,
    rosey: &Path,
    dir: &Path,
    nats_url: &str,
    sizes: &Sizes,
    mut after_point: impl FnMut(),
) -> Result<Vec<ScalePoint>, BenchError> {
    let mut points = Vec::new();
    for &n in &sizes.scale_channels {
        let channels: Vec<String> = (0..n).map(|i| format!("sc{n}x{i}")).collect();
        let config = bot::config(nats_url, &devserver.base_url(), &channels);
        let mut child = bot::spawn(rosey, dir, &format!("bot-scale-{n}"), &config)?;
        let join = bot::wait_joined(devserver, &mut child, &channels).await?;
        let at_join = child.sample()?;
        tokio::time::sleep(sizes.settle).await;
        let settled = child.sample()?;
        tokio::time::sleep(sizes.idle_window).await;
        let end = child.sample()?;
        let (took, status) = child.terminate(STOP_TIMEOUT).await?;
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
        });
        after_point();
    }
    Ok(points)
}
