//! Outbound pacing that stays below CyTube's flood limiter (cytube-protocol.md §4.2).
//!
//! Pure code over `tokio::time::Instant`; the connection asks [`Throttle::ready_at`] and sleeps
//! until then. Why not a plain token bucket: the server's limiter is not one. It allows a burst,
//! then demands `1000/sustained` ms between messages *until the sender has been silent for the
//! whole cooldown* (default 2 s). A token bucket refilled at 10/s would, after one quiet second,
//! send 10 messages at once, and the server would drop 9 of them. So [`Throttle`] mirrors the
//! server's algorithm, with safety margins (smaller burst, longer spacing, longer reset) so that
//! network jitter between our clock and the server's cannot push a message over the line.

use std::time::Duration;

use tokio::time::Instant;

/// CyTube's limits for everyone (and for PMs): burst 20, then 10 messages/s.
pub const SERVER_CHAT_BURST: f64 = 20.0;
pub const SERVER_CHAT_SUSTAINED: f64 = 10.0;
/// CyTube's playlist-add limiter for rank < 2 (`queueFail "You are adding videos too quickly"`).
pub const SERVER_QUEUE_BURST: f64 = 3.0;
pub const SERVER_QUEUE_SUSTAINED: f64 = 1.0;
/// ... and for rank >= 2.
pub const SERVER_QUEUE_BURST_MOD: f64 = 10.0;
pub const SERVER_QUEUE_SUSTAINED_MOD: f64 = 2.0;

/// Extra spacing on top of the server's interval, as a fraction and as a constant, so that
/// messages that leave us evenly spaced still arrive spaced after network jitter.
const INTERVAL_MARGIN: f64 = 0.2;
const INTERVAL_SLACK: Duration = Duration::from_millis(20);
const RESET_MARGIN: f64 = 0.2;
const RESET_SLACK: Duration = Duration::from_millis(200);
/// Each server `cooldown` stretches our spacing by this factor (up to [`MAX_SLOWDOWN`]) for the
/// rest of the connection: if we tripped the limiter once, our margins were too thin.
const COOLDOWN_SLOWDOWN: f64 = 1.5;
const MAX_SLOWDOWN: f64 = 4.0;
/// The longest pause a server `cooldown` can impose (CyTube sends 1000/sustained ms, at most
/// 100 s for the smallest sustained rate); a larger value is hostile or broken.
pub const MAX_COOLDOWN: Duration = Duration::from_secs(120);

/// Our pacing: how many messages may go at once, the spacing after that, and how long a silence
/// restores the burst.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ThrottleParams {
    pub burst: u32,
    pub interval: Duration,
    pub reset_after: Duration,
}

impl ThrottleParams {
    /// Pacing safely below a server limiter of `burst` messages, then `sustained` per second,
    /// reset after `cooldown` seconds of silence (default `burst / sustained`, as on the server).
    /// Nonsense values (NaN, <= 0) fall back to CyTube's global chat limits.
    pub fn below(burst: f64, sustained: f64, cooldown: Option<f64>) -> ThrottleParams {
        let burst = if burst.is_finite() && burst >= 1.0 {
            burst.min(1000.0)
        } else {
            SERVER_CHAT_BURST
        };
        let sustained = if sustained.is_finite() && sustained > 0.0 {
            sustained.max(0.01)
        } else {
            SERVER_CHAT_SUSTAINED
        };
        let cooldown = cooldown
            .filter(|c| c.is_finite() && *c >= 0.0)
            .unwrap_or(burst / sustained)
            .min(3600.0);
        let burst = burst.floor() as u32;
        let margin = (burst / 5).max(1);
        ThrottleParams {
            burst: burst.saturating_sub(margin).max(1),
            interval: Duration::from_secs_f64(1.0 / sustained * (1.0 + INTERVAL_MARGIN))
                + INTERVAL_SLACK,
            reset_after: Duration::from_secs_f64(cooldown * (1.0 + RESET_MARGIN)) + RESET_SLACK,
        }
    }

    /// Below CyTube's global chat limit (burst 20, 10/s).
    pub fn chat_default() -> ThrottleParams {
        ThrottleParams::below(SERVER_CHAT_BURST, SERVER_CHAT_SUSTAINED, None)
    }

    /// Below the playlist-add limiter for our rank.
    pub fn queue_for_rank(rank: f64) -> ThrottleParams {
        if rank >= 2.0 {
            ThrottleParams::below(SERVER_QUEUE_BURST_MOD, SERVER_QUEUE_SUSTAINED_MOD, None)
        } else {
            ThrottleParams::below(SERVER_QUEUE_BURST, SERVER_QUEUE_SUSTAINED, None)
        }
    }

    /// The stricter (slower) of two pacings, field by field.
    pub fn stricter(self, other: ThrottleParams) -> ThrottleParams {
        ThrottleParams {
            burst: self.burst.min(other.burst),
            interval: self.interval.max(other.interval),
            reset_after: self.reset_after.max(other.reset_after),
        }
    }
}

impl Default for ThrottleParams {
    fn default() -> Self {
        ThrottleParams::chat_default()
    }
}

/// A mirror of the server's limiter state, as seen from our side.
#[derive(Debug, Clone)]
pub struct Throttle {
    params: ThrottleParams,
    count: u32,
    last: Option<Instant>,
    paused_until: Option<Instant>,
    slowdown: f64,
}

impl Throttle {
    pub fn new(params: ThrottleParams) -> Throttle {
        Throttle {
            params,
            count: 0,
            last: None,
            paused_until: None,
            slowdown: 1.0,
        }
    }

    pub fn params(&self) -> ThrottleParams {
        self.params
    }

    /// Changes the pacing (e.g. the channel turned `chat_antiflood` on); the history is kept.
    pub fn set_params(&mut self, params: ThrottleParams) {
        self.params = params;
    }

    /// Forgets the history: a new connection gets a fresh limiter on the server.
    pub fn reset(&mut self) {
        *self = Throttle::new(self.params);
    }

    fn interval(&self) -> Duration {
        self.params.interval.mul_f64(self.slowdown)
    }

    /// Whether `cost` hits at `t` pass, per the server's algorithm applied to our margins.
    fn allows(&self, t: Instant, cost: u32) -> bool {
        if self.paused_until.is_some_and(|p| t < p) {
            return false;
        }
        let mut sim = self.clone();
        (0..cost.max(1)).all(|_| sim.hit(t))
    }

    /// One limiter hit at `t`; false if the server would drop it.
    fn hit(&mut self, t: Instant) -> bool {
        match self.last {
            Some(last) if t.saturating_duration_since(last) < self.params.reset_after => {
                if self.count < self.params.burst {
                    self.count += 1;
                } else if t.saturating_duration_since(last) < self.interval() {
                    return false;
                }
            }
            // Never sent, or silent long enough: the burst is available again.
            _ => self.count = 1,
        }
        self.last = Some(t);
        true
    }

    /// The earliest instant, not before `now`, at which a message costing `cost` hits may go.
    pub fn ready_at(&self, now: Instant, cost: u32) -> Instant {
        let floor = self.paused_until.map_or(now, |p| p.max(now));
        let mut candidates = vec![floor];
        if let Some(last) = self.last {
            candidates.push((last + self.interval()).max(floor));
            candidates.push((last + self.params.reset_after).max(floor));
        }
        candidates.sort();
        candidates
            .iter()
            .copied()
            .find(|&t| self.allows(t, cost))
            // Only a cost above the burst can fail everywhere (e.g. `/me` with burst 1): send it
            // after a full reset rather than never.
            .unwrap_or_else(|| *candidates.last().unwrap_or(&floor))
    }

    /// Records that a message costing `cost` hits was sent at `now`.
    pub fn record(&mut self, now: Instant, cost: u32) {
        for _ in 0..cost.max(1) {
            if !self.hit(now) {
                // Sent against our own advice (or after a reset fallback): count it anyway.
                self.last = Some(now);
            }
        }
    }

    /// The server dropped a message and answered `cooldown <ms>`: wait that long, act as if the
    /// burst is used up, and space messages further apart from now on.
    pub fn cooldown(&mut self, now: Instant, wait: Duration) {
        let wait = wait.min(MAX_COOLDOWN);
        self.paused_until = Some(now + wait + INTERVAL_SLACK);
        self.count = self.params.burst;
        self.last = Some(now);
        self.slowdown = (self.slowdown * COOLDOWN_SLOWDOWN).min(MAX_SLOWDOWN);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// CyTube's `newRateLimiter` (src/utilities.js) transcribed, as the judge of our pacing.
    struct ServerLimiter {
        burst: f64,
        sustained: f64,
        cooldown: f64,
        count: f64,
        last: Option<Instant>,
    }

    impl ServerLimiter {
        fn new(burst: f64, sustained: f64) -> Self {
            ServerLimiter {
                burst,
                sustained,
                cooldown: burst / sustained,
                count: 0.0,
                last: None,
            }
        }

        /// True when the message is dropped.
        fn throttle(&mut self, now: Instant) -> bool {
            let cooled = match self.last {
                None => true,
                Some(l) => now.duration_since(l).as_secs_f64() > self.cooldown,
            };
            if cooled {
                self.count = 1.0;
                self.last = Some(now);
                return false;
            }
            if self.count < self.burst {
                self.count += 1.0;
                self.last = Some(now);
                return false;
            }
            let diff = now.duration_since(self.last.unwrap()).as_secs_f64() * 1000.0;
            if diff < 1000.0 / self.sustained {
                return true;
            }
            self.last = Some(now);
            false
        }
    }

    /// Sends `n` messages (all queued at once) through the throttle on tokio's paused clock.
    async fn pump(throttle: &mut Throttle, server: &mut ServerLimiter, n: usize) -> usize {
        let mut dropped = 0;
        for _ in 0..n {
            let at = throttle.ready_at(Instant::now(), 1);
            tokio::time::sleep_until(at).await;
            throttle.record(Instant::now(), 1);
            if server.throttle(Instant::now()) {
                dropped += 1;
            }
        }
        dropped
    }

    #[tokio::test(start_paused = true)]
    async fn sixty_lines_at_once_are_paced_not_dropped() {
        let mut throttle = Throttle::new(ThrottleParams::chat_default());
        let mut server = ServerLimiter::new(SERVER_CHAT_BURST, SERVER_CHAT_SUSTAINED);
        let start = Instant::now();
        assert_eq!(pump(&mut throttle, &mut server, 60).await, 0);
        let took = start.elapsed();
        // 16 at once, then 44 at 140 ms: a little over 6 s, not much slower than the server allows.
        assert!(took > Duration::from_secs(4), "{took:?}");
        assert!(took < Duration::from_secs(8), "{took:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn bursts_separated_by_short_pauses_are_not_dropped() {
        // The case a plain token bucket gets wrong: a full burst, one quiet second, another burst.
        let mut throttle = Throttle::new(ThrottleParams::chat_default());
        let mut server = ServerLimiter::new(SERVER_CHAT_BURST, SERVER_CHAT_SUSTAINED);
        for _ in 0..4 {
            assert_eq!(pump(&mut throttle, &mut server, 25).await, 0);
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }

    #[tokio::test(start_paused = true)]
    async fn antiflood_params_are_respected() {
        let mut throttle = Throttle::new(ThrottleParams::below(4.0, 1.0, Some(4.0)));
        let mut server = ServerLimiter::new(4.0, 1.0);
        server.cooldown = 4.0;
        assert_eq!(pump(&mut throttle, &mut server, 12).await, 0);
    }

    #[tokio::test(start_paused = true)]
    async fn double_cost_messages_wait_for_a_reset_in_sustained_mode() {
        let mut throttle = Throttle::new(ThrottleParams::chat_default());
        let mut server = ServerLimiter::new(SERVER_CHAT_BURST, SERVER_CHAT_SUSTAINED);
        assert_eq!(pump(&mut throttle, &mut server, 30).await, 0);
        let at = throttle.ready_at(Instant::now(), 2);
        tokio::time::sleep_until(at).await;
        throttle.record(Instant::now(), 2);
        assert!(!server.throttle(Instant::now()));
        assert!(!server.throttle(Instant::now()));
    }

    #[tokio::test(start_paused = true)]
    async fn server_cooldown_pauses_and_slows_down() {
        let mut throttle = Throttle::new(ThrottleParams::chat_default());
        let now = Instant::now();
        throttle.record(now, 1);
        let before = throttle.ready_at(now, 1);
        assert_eq!(before, now, "still inside the burst");
        throttle.cooldown(now, Duration::from_millis(100));
        let after = throttle.ready_at(now, 1);
        assert!(after >= now + Duration::from_millis(100));
        tokio::time::sleep_until(after).await;
        throttle.record(Instant::now(), 1);
        let next = throttle.ready_at(Instant::now(), 1);
        assert!(next - Instant::now() >= ThrottleParams::chat_default().interval.mul_f64(1.4));
    }

    #[test]
    fn an_absurd_cooldown_is_capped() {
        let mut throttle = Throttle::new(ThrottleParams::chat_default());
        let now = Instant::now();
        throttle.cooldown(now, Duration::MAX);
        assert!(throttle.ready_at(now, 1) <= now + MAX_COOLDOWN + Duration::from_secs(1));
    }

    #[test]
    fn nonsense_params_fall_back_to_server_defaults() {
        assert_eq!(
            ThrottleParams::below(f64::NAN, -1.0, None),
            ThrottleParams::chat_default()
        );
        assert_eq!(ThrottleParams::below(1.0, 1.0, None).burst, 1);
    }

    proptest! {
        /// Whatever the limiter settings and whenever messages are submitted, a sender that
        /// follows `ready_at` is never dropped by the server's limiter.
        #[test]
        fn following_ready_at_is_never_dropped(
            burst in 1u32..=20,
            sustained in 1u32..=10,
            gaps_ms in proptest::collection::vec(0u64..3000, 1..80),
            costs in proptest::collection::vec(1u32..=2, 80),
        ) {
            let mut throttle = Throttle::new(ThrottleParams::below(burst.into(), sustained.into(), None));
            let mut server = ServerLimiter::new(burst.into(), sustained.into());
            let mut now = Instant::now();
            for (gap, cost) in gaps_ms.iter().zip(costs) {
                // A double-cost message can never pass a burst of 1 in the server's algorithm.
                let cost = if burst < 2 { 1 } else { cost };
                now += Duration::from_millis(*gap);
                let at = throttle.ready_at(now, cost);
                prop_assert!(at >= now);
                now = at;
                throttle.record(now, cost);
                for _ in 0..cost {
                    prop_assert!(!server.throttle(now), "dropped at burst={burst} sustained={sustained}");
                }
            }
        }
    }
}
