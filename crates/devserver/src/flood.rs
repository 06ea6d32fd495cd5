//! CyTube's rate limiter (`newRateLimiter` in `src/utilities.js`), used for chat, PMs and
//! queueing. Pure logic: the caller passes the current instant, so tests need no clock.
//!
//! One limiter instance is shared by chat and PMs of a socket; the *parameters* are chosen
//! per call (the fixed 20/10 limit, or the channel's `chat_antiflood_params`), exactly as
//! CyTube does — so switching parameters does not reset the counter.

use std::time::Duration;

use tokio::time::Instant;

/// Limiter parameters: `burst` messages, then `sustained` per second; the counter resets after
/// `cooldown` seconds without a message.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FloodParams {
    /// Messages allowed in a burst.
    pub burst: u32,
    /// Messages per second after the burst.
    pub sustained: f64,
    /// Seconds of silence after which the counter resets.
    pub cooldown: f64,
}

impl FloodParams {
    /// Parameters with CyTube's default cooldown (`burst / sustained`).
    pub fn new(burst: u32, sustained: f64) -> Self {
        let sustained = if sustained.is_finite() && sustained > 0.0 {
            sustained
        } else {
            1.0
        };
        FloodParams {
            burst,
            sustained,
            cooldown: f64::from(burst) / sustained,
        }
    }

    /// The value CyTube sends in `cooldown`: `1000 / sustained` (ms).
    pub fn cooldown_ms(&self) -> f64 {
        1000.0 / self.sustained
    }
}

/// The fixed limit for everyone, mods and PMs included (burst 20, 10/s, cooldown 2 s).
pub const MIN_ANTIFLOOD: FloodParams = FloodParams {
    burst: 20,
    sustained: 10.0,
    cooldown: 2.0,
};

/// Default `chat_antiflood_params` of a channel (burst 4, 1/s, cooldown 4 s).
pub const DEFAULT_CHANNEL_ANTIFLOOD: FloodParams = FloodParams {
    burst: 4,
    sustained: 1.0,
    cooldown: 4.0,
};

/// Queueing limit for rank < 2.
pub const QUEUE_LIMIT_USER: FloodParams = FloodParams {
    burst: 3,
    sustained: 1.0,
    cooldown: 3.0,
};

/// Queueing limit for rank >= 2.
pub const QUEUE_LIMIT_MOD: FloodParams = FloodParams {
    burst: 10,
    sustained: 2.0,
    cooldown: 5.0,
};

/// The limiter state of one socket.
#[derive(Debug, Default, Clone)]
pub struct RateLimiter {
    count: u32,
    last: Option<Instant>,
}

impl RateLimiter {
    /// Returns `true` when the message must be dropped (CyTube's `throttle()` semantics).
    pub fn throttle(&mut self, p: &FloodParams, now: Instant) -> bool {
        let cooled = match self.last {
            None => true,
            Some(last) => now.saturating_duration_since(last) > secs(p.cooldown),
        };
        if cooled {
            self.count = 1;
            self.last = Some(now);
            return false;
        }
        if self.count < p.burst {
            self.count += 1;
            self.last = Some(now);
            return false;
        }
        let since = self
            .last
            .map(|l| now.saturating_duration_since(l))
            .unwrap_or(Duration::MAX);
        if since < secs(1.0 / p.sustained) {
            return true;
        }
        self.last = Some(now);
        false
    }
}

fn secs(s: f64) -> Duration {
    Duration::try_from_secs_f64(s).unwrap_or(Duration::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burst_then_sustained_rate() {
        let t0 = Instant::now();
        let mut l = RateLimiter::default();
        let allowed = (0..40).filter(|_| !l.throttle(&MIN_ANTIFLOOD, t0)).count();
        assert_eq!(allowed, 20);
        // 100 ms later exactly one more is allowed.
        let t1 = t0 + Duration::from_millis(100);
        assert!(!l.throttle(&MIN_ANTIFLOOD, t1));
        assert!(l.throttle(&MIN_ANTIFLOOD, t1));
    }

    #[test]
    fn silence_resets_the_counter() {
        let t0 = Instant::now();
        let mut l = RateLimiter::default();
        for _ in 0..20 {
            assert!(!l.throttle(&MIN_ANTIFLOOD, t0));
        }
        let later = t0 + Duration::from_millis(2001);
        for _ in 0..20 {
            assert!(!l.throttle(&MIN_ANTIFLOOD, later));
        }
        assert!(l.throttle(&MIN_ANTIFLOOD, later));
    }

    #[test]
    fn channel_params_are_stricter() {
        let t0 = Instant::now();
        let mut l = RateLimiter::default();
        let p = DEFAULT_CHANNEL_ANTIFLOOD;
        let allowed = (0..10).filter(|_| !l.throttle(&p, t0)).count();
        assert_eq!(allowed, 4);
        assert_eq!(p.cooldown_ms(), 1000.0);
        assert_eq!(MIN_ANTIFLOOD.cooldown_ms(), 100.0);
    }

    #[test]
    fn bad_sustained_does_not_divide_by_zero() {
        let p = FloodParams::new(3, 0.0);
        assert_eq!(p.sustained, 1.0);
        assert_eq!(p.cooldown, 3.0);
    }
}
