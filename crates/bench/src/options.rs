//! What to run and how big: the size presets (`full`, `--quick`, and a tiny one for the
//! suite's own tests) and where the `rosey` binary is. Defaults are named constants.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Lines per second one simulated chatter sends in the end-to-end run. CyTube allows 10/s
/// per socket after a burst of 20 and the client paces itself at about 7/s, so 5/s stays
/// clear of both: the run measures the pipeline, not the flood limiter.
pub const LINES_PER_SENDER_PER_S: u32 = 5;

/// A size preset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Preset {
    /// The figures of the issue: 100,000-event bursts, 3 runs each, N = 1, 10, 100.
    Full,
    /// Fewer and shorter runs (one of each), same kinds of measurement.
    Quick,
    /// For the suite's own tests: everything, at toy sizes, in seconds.
    Tiny,
}

impl Preset {
    pub fn name(self) -> &'static str {
        match self {
            Preset::Full => "full",
            Preset::Quick => "quick",
            Preset::Tiny => "tiny",
        }
    }

    /// Parses `full`, `quick` or `tiny`.
    pub fn parse(s: &str) -> Option<Preset> {
        match s {
            "full" => Some(Preset::Full),
            "quick" => Some(Preset::Quick),
            "tiny" => Some(Preset::Tiny),
            _ => None,
        }
    }
}

/// Every size and duration of a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sizes {
    pub preset: Preset,
    /// Measured repetitions of each ingest, query and end-to-end figure.
    pub runs: usize,
    /// Events per message burst and per mixed burst.
    pub burst_events: usize,
    /// Events of the (unmeasured) warm-up burst.
    pub warmup_events: usize,
    /// Sequential requests per query per run (each alternating with an echo request).
    pub query_requests: usize,
    /// Unmeasured requests first.
    pub query_warmup: usize,
    /// Chat lines per second in the end-to-end run.
    pub e2e_rate: u32,
    /// Channels the end-to-end senders and the bot share. Many small channels rather than a
    /// few big ones: every line is broadcast to every socket of its channel, and that fan-out
    /// (a real CyTube server's work, on another machine) runs in the bench process, on the
    /// same cores as the processes measured.
    pub e2e_channels: usize,
    /// Measured seconds of sending per end-to-end run.
    pub e2e_seconds: f64,
    /// Unmeasured seconds of sending first.
    pub e2e_warmup_seconds: f64,
    /// Bot processes of the scale run, one per channel count.
    pub scale_channels: Vec<usize>,
    /// Wait after start-up before idle figures are read.
    #[serde(with = "secs")]
    pub settle: Duration,
    /// Window over which idle CPU is measured in the scale run.
    #[serde(with = "secs")]
    pub idle_window: Duration,
}

impl Sizes {
    pub fn for_preset(preset: Preset) -> Sizes {
        match preset {
            Preset::Full => Sizes {
                preset,
                runs: 3,
                burst_events: 100_000,
                warmup_events: 10_000,
                query_requests: 2_000,
                query_warmup: 200,
                e2e_rate: 1_000,
                e2e_channels: 50,
                e2e_seconds: 5.0,
                e2e_warmup_seconds: 1.0,
                scale_channels: vec![1, 10, 100],
                settle: Duration::from_secs(2),
                idle_window: Duration::from_secs(10),
            },
            Preset::Quick => Sizes {
                preset,
                runs: 1,
                burst_events: 20_000,
                warmup_events: 2_000,
                query_requests: 500,
                query_warmup: 50,
                e2e_rate: 1_000,
                e2e_channels: 50,
                e2e_seconds: 2.0,
                e2e_warmup_seconds: 0.5,
                scale_channels: vec![1, 10, 100],
                settle: Duration::from_secs(1),
                idle_window: Duration::from_secs(2),
            },
            Preset::Tiny => Sizes {
                preset,
                runs: 1,
                burst_events: 2_000,
                warmup_events: 200,
                query_requests: 50,
                query_warmup: 10,
                e2e_rate: 40,
                e2e_channels: 2,
                e2e_seconds: 1.0,
                e2e_warmup_seconds: 0.3,
                scale_channels: vec![1, 3],
                settle: Duration::from_millis(200),
                idle_window: Duration::from_millis(500),
            },
        }
    }

    /// Simulated chatters per end-to-end channel, so that each sends
    /// [`LINES_PER_SENDER_PER_S`].
    pub fn e2e_senders_per_channel(&self) -> usize {
        let total = self.e2e_rate.div_ceil(LINES_PER_SENDER_PER_S) as usize;
        total.div_ceil(self.e2e_channels.max(1)).max(1)
    }
}

/// Everything [`crate::run`] needs.
#[derive(Debug, Clone)]
pub struct BenchOptions {
    pub sizes: Sizes,
    /// The `rosey` binary to run as `db-service`, `bot` and the echo responder (normally the
    /// running executable).
    pub rosey: PathBuf,
    /// Draw a progress bar (the caller decides: only when stdout is a terminal).
    pub progress: bool,
    /// `TOKIO_WORKER_THREADS` for the `db-service` process (an experiment knob; `None` leaves
    /// the runtime's default).
    pub db_service_workers: Option<usize>,
    /// Experiment: the db-service and the end-to-end bot serve `/metrics`, scraped every
    /// second while the suite runs (the cost of metrics, against a run without).
    pub metrics: bool,
}

mod secs {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(d.as_secs_f64())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        Ok(Duration::from_secs_f64(f64::deserialize(d)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_parse_and_senders_stay_below_the_flood_limit() {
        for p in [Preset::Full, Preset::Quick, Preset::Tiny] {
            assert_eq!(Preset::parse(p.name()), Some(p));
            let s = Sizes::for_preset(p);
            let senders = s.e2e_senders_per_channel() * s.e2e_channels;
            assert!(senders as u32 * LINES_PER_SENDER_PER_S >= s.e2e_rate);
        }
        // 1,000 lines/s over 50 channels: 4 chatters of 5 lines/s each per channel.
        assert_eq!(Sizes::for_preset(Preset::Full).e2e_senders_per_channel(), 4);
        assert_eq!(Preset::parse("huge"), None);
    }
}
