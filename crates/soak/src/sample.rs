//! Sampling: every [`EVERY`], the crowd's and the database's counts, the channels with a
//! bot, each process's resident set, open files and threads from `/proc` (Linux), and the
//! machine's load average.

use std::time::Duration;

use serde::Serialize;

use crate::crowd::Crowd;
use crate::world::World;

pub const EVERY: Duration = Duration::from_secs(2);

/// One process at one moment.
#[derive(Debug, Clone, Serialize)]
pub struct ProcFig {
    pub role: String,
    pub pid: u32,
    pub rss_kib: u64,
    pub fds: u64,
    pub threads: u64,
}

/// The world at one moment.
#[derive(Debug, Clone, Serialize)]
pub struct Sample {
    /// Seconds from the start of the load.
    pub t: f64,
    /// Lines broadcast so far (echoed to their sender).
    pub broadcast: u64,
    /// Lines stored so far by the first database service (`db-a`).
    pub stored: i64,
    /// Lines stored so far by each database service.
    pub stored_dbs: Vec<i64>,
    /// The machine's load average over the last minute.
    pub load1: f64,
    /// Channels with a bot, of all.
    pub covered: usize,
    pub procs: Vec<ProcFig>,
}

impl Sample {
    pub fn take(at: Duration, world: &mut World, crowd: &Crowd, channels: &[String]) -> Sample {
        let procs = world
            .pids()
            .into_iter()
            .filter_map(|(role, pid, _)| {
                let pid = pid?;
                let (rss_kib, threads) = status(pid)?;
                Some(ProcFig {
                    role: role.to_string(),
                    pid,
                    rss_kib,
                    fds: open_files(pid).unwrap_or(0),
                    threads,
                })
            })
            .collect();
        let stored_dbs = world.stored();
        Sample {
            t: at.as_secs_f64(),
            broadcast: crowd.broadcast_count() as u64,
            stored: stored_dbs.first().copied().unwrap_or(0),
            stored_dbs,
            load1: load_average().unwrap_or(0.0),
            covered: crowd.covered(channels),
            procs,
        }
    }
}

/// (VmRSS KiB, Threads) of `pid`.
pub fn status(pid: u32) -> Option<(u64, u64)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let (rss, _) = rosey_bench::procs::parse_status(&text)?;
    let threads = text
        .lines()
        .find_map(|l| l.strip_prefix("Threads:"))
        .and_then(|v| v.trim().parse().ok())?;
    Some((rss, threads))
}

/// The one-minute load average (`/proc/loadavg`).
pub fn load_average() -> Option<f64> {
    std::fs::read_to_string("/proc/loadavg")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// Open file descriptors of `pid`.
pub fn open_files(pid: u32) -> Option<u64> {
    Some(std::fs::read_dir(format!("/proc/{pid}/fd")).ok()?.count() as u64)
}

/// The least-squares slope of `(seconds, value)` points, per minute; `None` for fewer than
/// three points or no spread in time.
pub fn slope(points: &[(f64, f64)]) -> Option<f64> {
    if points.len() < 3 {
        return None;
    }
    let n = points.len() as f64;
    let mx = points.iter().map(|p| p.0).sum::<f64>() / n;
    let my = points.iter().map(|p| p.1).sum::<f64>() / n;
    let sxx: f64 = points.iter().map(|p| (p.0 - mx).powi(2)).sum();
    let sxy: f64 = points.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
    (sxx > 0.0).then(|| sxy / sxx * 60.0)
}

/// The progress line: time, lines broadcast and stored, coverage, faults so far.
pub fn progress_line(s: Option<&Sample>, channels: usize, faults: usize) -> String {
    match s {
        Some(s) => format!(
            "{} lines broadcast, {} stored, {}/{} channels with a bot… {faults} faults",
            s.broadcast, s.stored, s.covered, channels,
        ),
        None => "starting".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slope_is_per_minute_and_needs_points() {
        let pts: Vec<_> = (0..10)
            .map(|i| (i as f64 * 6.0, 100.0 + i as f64))
            .collect();
        assert!((slope(&pts).unwrap() - 10.0).abs() < 1e-9);
        assert_eq!(slope(&pts[..2]), None);
        assert_eq!(slope(&[(1.0, 1.0), (1.0, 2.0), (1.0, 3.0)]), None);
    }

    #[test]
    fn this_process_can_be_read() {
        let (rss, threads) = status(std::process::id()).unwrap();
        assert!(rss > 0 && threads >= 1);
        assert!(open_files(std::process::id()).unwrap() >= 3);
    }
}
