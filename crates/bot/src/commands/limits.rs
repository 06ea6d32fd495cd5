//! Token buckets: `burst` commands at once, then one more every `interval`. A burst of 0 or
//! an interval of 0 turns a limit off. Commands over the limit are dropped, not queued: a
//! flood costs the flooder, never the channel.

use std::collections::HashMap;
use std::time::Duration;

use tokio::time::Instant;

/// One bucket.
#[derive(Debug, Clone)]
pub struct Bucket {
    tokens: f64,
    last: Instant,
}

/// A rate: `burst` at once, refilled at one per `interval`.
#[derive(Debug, Clone, Copy)]
pub struct Rate {
    pub burst: u32,
    pub interval: Duration,
}

impl Rate {
    fn off(&self) -> bool {
        self.burst == 0 || self.interval.is_zero()
    }

    fn fresh(&self, now: Instant) -> Bucket {
        Bucket {
            tokens: self.burst as f64,
            last: now,
        }
    }

    /// Refills `b` to `now`; true when a token was left (and taken).
    fn take(&self, b: &mut Bucket, now: Instant) -> bool {
        if self.off() {
            return true;
        }
        let refill = now.duration_since(b.last).as_secs_f64() / self.interval.as_secs_f64();
        b.tokens = (b.tokens + refill).min(self.burst as f64);
        b.last = now;
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// Users above this many buckets get their full (idle) buckets dropped.
const MAX_USERS: usize = 10_000;

/// Per-user buckets and the channel's bucket.
#[derive(Debug)]
pub struct Limiter {
    user: Rate,
    channel: Rate,
    users: HashMap<String, Bucket>,
    chan: Bucket,
}

/// Why a command was not let through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limited {
    User,
    Channel,
}

impl Limiter {
    pub fn new(user: Rate, channel: Rate) -> Self {
        let now = Instant::now();
        Limiter {
            user,
            channel,
            users: HashMap::new(),
            chan: channel.fresh(now),
        }
    }

    /// Takes a token for `user` and one for the channel, or says which limit is hit.
    pub fn check(&mut self, user: &str) -> Result<(), Limited> {
        let now = Instant::now();
        if self.users.len() >= MAX_USERS {
            let rate = self.user;
            self.users.retain(|_, b| {
                let mut probe = b.clone();
                rate.take(&mut probe, now);
                probe.tokens + 1.0 < rate.burst as f64
            });
        }
        let rate = self.user;
        let bucket = self
            .users
            .entry(user.to_string())
            .or_insert_with(|| rate.fresh(now));
        // Peek the user's bucket first so a user over the limit does not drain the channel's.
        let mut probe = bucket.clone();
        if !rate.take(&mut probe, now) {
            *bucket = probe;
            return Err(Limited::User);
        }
        if !self.channel.take(&mut self.chan, now) {
            return Err(Limited::Channel);
        }
        *bucket = probe;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rate(burst: u32, ms: u64) -> Rate {
        Rate {
            burst,
            interval: Duration::from_millis(ms),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn burst_then_one_per_interval_per_user() {
        let mut l = Limiter::new(rate(3, 1000), rate(100, 1));
        for _ in 0..3 {
            assert_eq!(l.check("a"), Ok(()));
        }
        assert_eq!(l.check("a"), Err(Limited::User));
        assert_eq!(
            l.check("b"),
            Ok(()),
            "another user has a bucket of their own"
        );
        tokio::time::advance(Duration::from_millis(1000)).await;
        assert_eq!(l.check("a"), Ok(()));
        assert_eq!(l.check("a"), Err(Limited::User));
    }

    #[tokio::test(start_paused = true)]
    async fn the_channel_limit_covers_every_user() {
        let mut l = Limiter::new(rate(10, 1000), rate(2, 1000));
        assert_eq!(l.check("a"), Ok(()));
        assert_eq!(l.check("b"), Ok(()));
        assert_eq!(l.check("c"), Err(Limited::Channel));
        // A refused command did not use the user's token.
        tokio::time::advance(Duration::from_millis(1000)).await;
        assert_eq!(l.check("c"), Ok(()));
    }

    #[tokio::test(start_paused = true)]
    async fn zero_turns_a_limit_off() {
        let mut l = Limiter::new(rate(0, 1000), rate(5, 0));
        for _ in 0..100 {
            assert_eq!(l.check("a"), Ok(()));
        }
    }
}
