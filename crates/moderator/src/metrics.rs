//! The moderator's `/metrics`: decisions by rule, action and outcome; lines judged; the
//! time one line's evaluation takes.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use rosey_metrics::{Histogram, Out, Source};

/// Buckets for one line's evaluation, in seconds (1 µs … 10 ms).
const EVAL_BUCKETS: &[f64] = &[
    0.000_001,
    0.000_002_5,
    0.000_005,
    0.000_01,
    0.000_025,
    0.000_05,
    0.000_1,
    0.000_25,
    0.000_5,
    0.001,
    0.002_5,
    0.01,
];

/// Counters shared by the service's tasks.
pub struct ModeratorMetrics {
    pub lines: AtomicU64,
    pub dropped: AtomicU64,
    pub bad_events: AtomicU64,
    pub reloads_failed: AtomicU64,
    pub eval: Histogram,
    /// (rule, action, outcome) → count. Rules and actions come from fixed sets, so the
    /// map stays small.
    decisions: Mutex<BTreeMap<(&'static str, String, String), u64>>,
}

impl Default for ModeratorMetrics {
    fn default() -> Self {
        ModeratorMetrics {
            lines: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            bad_events: AtomicU64::new(0),
            reloads_failed: AtomicU64::new(0),
            eval: Histogram::new(EVAL_BUCKETS),
            decisions: Mutex::new(BTreeMap::new()),
        }
    }
}

impl ModeratorMetrics {
    pub fn decision(&self, rule: &'static str, action: &str, outcome: &str) {
        let mut m = self.decisions.lock().unwrap_or_else(|e| e.into_inner());
        *m.entry((rule, action.to_string(), outcome.to_string()))
            .or_default() += 1;
    }

    /// The count for one (rule, action, outcome), for tests and the state reply.
    pub fn count(&self, rule: &str, action: &str, outcome: &str) -> u64 {
        let m = self.decisions.lock().unwrap_or_else(|e| e.into_inner());
        m.iter()
            .filter(|((r, a, o), _)| *r == rule && a == action && o == outcome)
            .map(|(_, n)| *n)
            .sum()
    }

    /// Every (rule, action, outcome, count).
    pub fn all(&self) -> Vec<(String, String, String, u64)> {
        let m = self.decisions.lock().unwrap_or_else(|e| e.into_inner());
        m.iter()
            .map(|((r, a, o), n)| (r.to_string(), a.clone(), o.clone(), *n))
            .collect()
    }
}

impl Source for ModeratorMetrics {
    fn collect(&self, out: &mut Out<'_>) -> fmt::Result {
        let all = self.all();
        out.counter(
            "rosey_moderation_actions",
            "Decisions of the automated moderator, by rule, action and outcome.",
            all.iter().map(|(r, a, o, n)| {
                (
                    [
                        ("rule", r.as_str()),
                        ("action", a.as_str()),
                        ("outcome", o.as_str()),
                    ],
                    *n,
                )
            }),
        )?;
        out.counter_value(
            "rosey_moderation_lines",
            "Chat lines judged.",
            self.lines.load(Relaxed),
        )?;
        out.counter_value(
            "rosey_moderation_dropped",
            "Decisions not acted on because the action queue was full.",
            self.dropped.load(Relaxed),
        )?;
        out.counter_value(
            "rosey_moderation_bad_events",
            "Events that could not be read.",
            self.bad_events.load(Relaxed),
        )?;
        out.counter_value(
            "rosey_moderation_reloads_failed",
            "Reloads refused (the old rules were kept).",
            self.reloads_failed.load(Relaxed),
        )?;
        out.histogram_value(
            "rosey_moderation_eval_seconds",
            "Time to judge one chat line.",
            &self.eval,
        )
    }
}
