//! Summaries of measurements: latency percentiles of one run, and the median and spread of a
//! figure over repeated runs. Pure arithmetic, no I/O.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Percentiles of one series of latency samples, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Percentiles {
    pub count: usize,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

impl Percentiles {
    /// Nearest-rank percentiles (the sample at rank ⌈q·n⌉). An empty series gives zeros and
    /// `count` 0, which the report shows as "no samples".
    pub fn of(samples: &[Duration]) -> Percentiles {
        let mut sorted = samples.to_vec();
        sorted.sort_unstable();
        let at = |q: f64| {
            let rank = (sorted.len() as f64 * q).ceil() as usize;
            sorted
                .get(rank.saturating_sub(1))
                .map_or(0.0, |d| d.as_secs_f64() * 1e3)
        };
        Percentiles {
            count: sorted.len(),
            p50_ms: at(0.50),
            p95_ms: at(0.95),
            p99_ms: at(0.99),
            max_ms: sorted.last().map_or(0.0, |d| d.as_secs_f64() * 1e3),
        }
    }
}

/// One figure measured in several runs: the median (the headline) and the spread.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Spread {
    pub median: f64,
    pub min: f64,
    pub max: f64,
    /// Every run's value, in run order.
    pub runs: Vec<f64>,
}

impl Spread {
    /// The spread of `runs`; `None` when there is no run.
    pub fn of(runs: Vec<f64>) -> Option<Spread> {
        if runs.is_empty() {
            return None;
        }
        let mut sorted = runs.clone();
        sorted.sort_by(f64::total_cmp);
        let n = sorted.len();
        let median = if n % 2 == 1 {
            sorted[n / 2]
        } else {
            (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0
        };
        Some(Spread {
            median,
            min: sorted[0],
            max: sorted[n - 1],
            runs,
        })
    }

    /// Applies `f` to each run (unit conversions); the order statistics follow.
    pub fn map(&self, f: impl Fn(f64) -> f64) -> Spread {
        Spread::of(self.runs.iter().copied().map(f).collect()).expect("a spread has runs")
    }
}

/// Percentiles over several runs: for each percentile, its median and spread across runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LatencySpread {
    /// Samples per run.
    pub samples_per_run: usize,
    pub p50_ms: Spread,
    pub p95_ms: Spread,
    pub p99_ms: Spread,
    pub max_ms: Spread,
}

impl LatencySpread {
    /// `None` when there is no run.
    pub fn of(runs: &[Percentiles]) -> Option<LatencySpread> {
        let col = |f: fn(&Percentiles) -> f64| Spread::of(runs.iter().map(f).collect());
        Some(LatencySpread {
            samples_per_run: runs.first()?.count,
            p50_ms: col(|p| p.p50_ms)?,
            p95_ms: col(|p| p.p95_ms)?,
            p99_ms: col(|p| p.p99_ms)?,
            max_ms: col(|p| p.max_ms)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let samples: Vec<Duration> = (1..=100).rev().map(Duration::from_millis).collect();
        let p = Percentiles::of(&samples);
        assert_eq!(p.count, 100);
        assert_eq!(p.p50_ms, 50.0);
        assert_eq!(p.p95_ms, 95.0);
        assert_eq!(p.p99_ms, 99.0);
        assert_eq!(p.max_ms, 100.0);
        assert_eq!(Percentiles::of(&[]).count, 0);
    }

    #[test]
    fn median_and_spread() {
        let s = Spread::of(vec![3.0, 1.0, 2.0]).unwrap();
        assert_eq!((s.median, s.min, s.max), (2.0, 1.0, 3.0));
        assert_eq!(s.runs, vec![3.0, 1.0, 2.0]);
        let even = Spread::of(vec![4.0, 1.0, 2.0, 3.0]).unwrap();
        assert_eq!(even.median, 2.5);
        assert!(Spread::of(vec![]).is_none());
        assert_eq!(s.map(|v| v * 2.0).median, 4.0);
    }

    #[test]
    fn latency_spread_per_percentile() {
        let a = Percentiles::of(&[Duration::from_millis(1), Duration::from_millis(3)]);
        let b = Percentiles::of(&[Duration::from_millis(2), Duration::from_millis(5)]);
        let s = LatencySpread::of(&[a, b]).unwrap();
        assert_eq!(s.samples_per_run, 2);
        assert_eq!(s.max_ms.min, 3.0);
        assert_eq!(s.max_ms.max, 5.0);
        assert!(LatencySpread::of(&[]).is_none());
    }
}
