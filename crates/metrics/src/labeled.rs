//! Counters over a fixed label set, indexed by position: `inc(i)` is one atomic add, no
//! lookup by string, and the label values are `&'static str` (bounded by construction).

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// One counter per value in `values`.
#[derive(Debug)]
pub struct LabeledCounters {
    values: &'static [&'static str],
    counts: Box<[AtomicU64]>,
}

impl LabeledCounters {
    pub fn new(values: &'static [&'static str]) -> Self {
        LabeledCounters {
            values,
            counts: values.iter().map(|_| AtomicU64::new(0)).collect(),
        }
    }

    /// Adds `n` to the counter at `index` (ignored when out of range).
    pub fn add(&self, index: usize, n: u64) {
        if let Some(c) = self.counts.get(index) {
            c.fetch_add(n, Relaxed);
        }
    }

    pub fn inc(&self, index: usize) {
        self.add(index, 1);
    }

    /// The position of `value`, for set-up code that has a name (not for the hot path).
    pub fn index_of(&self, value: &str) -> Option<usize> {
        self.values.iter().position(|v| *v == value)
    }

    pub fn get(&self, index: usize) -> u64 {
        self.counts.get(index).map(|c| c.load(Relaxed)).unwrap_or(0)
    }

    /// `(label value, count)` for every value.
    pub fn iter(&self) -> impl Iterator<Item = (&'static str, u64)> + '_ {
        self.values
            .iter()
            .zip(self.counts.iter())
            .map(|(v, c)| (*v, c.load(Relaxed)))
    }
}
