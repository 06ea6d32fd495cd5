//! Flood pacing: a token bucket that keeps what the bot sends under the server's
//! excess-flood limit. IRC servers let a client send a short burst and then about one line
//! per interval (a line adds a penalty that drains at that rate; over the threshold the
//! client is disconnected for "Excess Flood"). The bucket holds `burst` tokens, refills one
//! every `interval`, and a line waits until a token is there. Servers drain their count in
//! steps (InspIRCd once a second), so choose `burst + 1 s / interval`, plus the few other
//! commands the client sends (JOIN, PONG, NICK), under the server's threshold. Pure: the
//! caller passes the time.

use std::time::Duration;

use tokio::time::Instant;

/// Pacing settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pacing {
    /// Lines that may go out back to back after a quiet spell.
    pub burst: u32,
    /// One more line per this interval after the burst.
    pub interval: Duration,
}

impl Default for Pacing {
    /// Five lines, then one every 1.5 s: under the common servers' limits (InspIRCd's
    /// default drains one command a second and disconnects over ten; Solanum's is similar).
    fn default() -> Self {
        Pacing {
            burst: 5,
            interval: Duration::from_millis(1500),
        }
    }
}

/// The bucket.
#[derive(Debug, Clone)]
pub struct TokenBucket {
    pacing: Pacing,
    tokens: f64,
    at: Instant,
}

impl TokenBucket {
    /// A full bucket.
    pub fn new(pacing: Pacing, now: Instant) -> Self {
        TokenBucket {
            pacing,
            tokens: pacing.burst.max(1) as f64,
            at: now,
        }
    }

    fn refill(&mut self, now: Instant) {
        let interval = self.pacing.interval.as_secs_f64();
        let gained = if interval > 0.0 {
            now.saturating_duration_since(self.at).as_secs_f64() / interval
        } else {
            f64::INFINITY
        };
        self.tokens = (self.tokens + gained).min(self.pacing.burst.max(1) as f64);
        self.at = now;
    }

    /// When the next line may go (now, if a token is there).
    pub fn ready_at(&mut self, now: Instant) -> Instant {
        self.refill(now);
        if self.tokens >= 1.0 {
            now
        } else {
            now + self.pacing.interval.mul_f64(1.0 - self.tokens)
        }
    }

    /// Takes a token for a line sent at `now` (call when [`ready_at`](Self::ready_at) ≤ now).
    pub fn take(&mut self, now: Instant) {
        self.refill(now);
        self.tokens = (self.tokens - 1.0).max(0.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burst_then_one_per_interval() {
        let start = Instant::now();
        let pacing = Pacing {
            burst: 3,
            interval: Duration::from_secs(1),
        };
        let mut b = TokenBucket::new(pacing, start);
        let mut now = start;
        let mut sent_at = Vec::new();
        for _ in 0..6 {
            now = b.ready_at(now).max(now);
            b.take(now);
            sent_at.push(now.duration_since(start));
        }
        let ms: Vec<u64> = sent_at
            .iter()
            .map(|d| (d.as_secs_f64() * 1000.0).round() as u64)
            .collect();
        assert_eq!(ms, vec![0, 0, 0, 1000, 2000, 3000]);
        // A quiet spell fills the bucket again, up to the burst.
        let later = now + Duration::from_secs(10);
        assert_eq!(b.ready_at(later), later);
        for _ in 0..3 {
            b.take(later);
        }
        assert_eq!(b.ready_at(later), later + Duration::from_secs(1));
    }
}
