//! Reconnect delays: exponential backoff with jitter, capped (SPEC §4.1: 5 s, 10 s, … 60 s).
//!
//! Pure code, shared by every client of the workspace. The only randomness is the jitter, drawn from the caller's RNG so tests can pin it.

use std::time::Duration;

use rand::Rng;

/// Default first delay.
pub const DEFAULT_BASE: Duration = Duration::from_secs(5);
/// Default longest delay.
pub const DEFAULT_CAP: Duration = Duration::from_secs(60);
/// Jitter takes up to this fraction off a step, so that clients dropped together by a server
/// restart do not all come back in the same instant.
const JITTER: f64 = 0.25;

/// Backoff settings. Tests use small values (e.g. 50 ms … 500 ms).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    pub base: Duration,
    pub cap: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            base: DEFAULT_BASE,
            cap: DEFAULT_CAP,
        }
    }
}

impl Backoff {
    pub fn new(base: Duration, cap: Duration) -> Backoff {
        Backoff { base, cap }
    }

    /// The un-jittered delay before reconnect attempt `attempt` (1-based): base · 2^(attempt−1),
    /// capped.
    pub fn step(&self, attempt: u32) -> Duration {
        let doublings = attempt.saturating_sub(1).min(32);
        self.base
            .saturating_mul(1u32 << doublings.min(31))
            .min(self.cap)
    }

    /// How long a session must stay joined for its loss to start the backoff over (the cap:
    /// a session that outlived the longest delay is not part of a quick failure loop).
    pub fn stable_after(&self) -> Duration {
        self.cap
    }

    /// The delay before attempt `attempt`: the step minus up to 25 % jitter, never below the
    /// base (nor above the cap).
    pub fn delay<R: Rng + ?Sized>(&self, attempt: u32, rng: &mut R) -> Duration {
        let step = self.step(attempt);
        let factor = 1.0 - JITTER * rng.random::<f64>();
        step.mul_f64(factor).max(self.base.min(self.cap))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    #[test]
    fn steps_double_up_to_the_cap() {
        let b = Backoff::default();
        let steps: Vec<u64> = (1..=6).map(|a| b.step(a).as_secs()).collect();
        assert_eq!(steps, vec![5, 10, 20, 40, 60, 60]);
        assert_eq!(b.step(u32::MAX), DEFAULT_CAP);
    }

    #[test]
    fn jitter_stays_within_bounds() {
        let b = Backoff::new(Duration::from_millis(50), Duration::from_millis(500));
        let mut rng = StdRng::seed_from_u64(7);
        let mut seen = std::collections::BTreeSet::new();
        for attempt in 1..50 {
            let d = b.delay(attempt, &mut rng);
            assert!(d >= b.base && d <= b.cap, "{d:?}");
            assert!(d >= b.step(attempt).mul_f64(0.75));
            seen.insert(d);
        }
        assert!(seen.len() > 10, "jitter should vary the delays");
    }
}
