//! A circuit breaker on the bot's database queries (shell `stats` / `user`, the outbound
//! pump's `outbound.get`).
//!
//! Closed: requests go out. After [`BreakerSettings::failures`] consecutive failures
//! (timeout, no responders, bus errors) it opens: requests are refused at once ("database
//! unavailable, retrying in Ns") for [`BreakerSettings::cooldown`]. Then one request is let
//! through as a probe (half-open): success closes the breaker, failure opens it again.
//! Every transition is logged once and counted.
//!
//! Only idempotent queries go through here (they are all reads), so a "no responders"
//! answer — nobody subscribed, e.g. the database service restarting — is retried after a
//! short pause, within the request's own timeout and at most [`BreakerSettings::retries`]
//! times. A timeout is not retried: the time is already spent.

use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU32, AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

use bytes::Bytes;
use rosey_bus::{Bus, BusError, Message};
use rosey_metrics::LabeledCounters;

/// Consecutive failures that open the breaker.
pub const DEFAULT_FAILURES: u32 = 3;
/// How long an open breaker refuses requests before it lets a probe through.
pub const DEFAULT_COOLDOWN: Duration = Duration::from_secs(15);
/// Retries of a "no responders" answer per request.
pub const DEFAULT_RETRIES: u32 = 2;
/// Pause before such a retry.
pub const RETRY_DELAY: Duration = Duration::from_millis(100);

/// Breaker settings.
#[derive(Debug, Clone, PartialEq)]
pub struct BreakerSettings {
    pub failures: u32,
    pub cooldown: Duration,
    pub retries: u32,
}

impl Default for BreakerSettings {
    fn default() -> Self {
        BreakerSettings {
            failures: DEFAULT_FAILURES,
            cooldown: DEFAULT_COOLDOWN,
            retries: DEFAULT_RETRIES,
        }
    }
}

/// The breaker's states, as label values (index = the state's number).
pub const STATES: &[&str] = &["closed", "open", "half_open"];
const CLOSED: u8 = 0;
const OPEN: u8 = 1;
const HALF_OPEN: u8 = 2;

/// Why a request through the breaker got no reply.
#[derive(Debug, thiserror::Error)]
pub enum BreakerError {
    /// The breaker is open: nothing was sent.
    #[error("database unavailable, retrying in {}s", retry_in.as_secs().max(1))]
    Open { retry_in: Duration },
    #[error(transparent)]
    Bus(#[from] BusError),
}

/// One breaker (one per channel; its name is the channel, for the log).
#[derive(Debug)]
pub struct Breaker {
    name: String,
    settings: BreakerSettings,
    base: Instant,
    state: AtomicU8,
    failures: AtomicU32,
    /// When it opened, in microseconds since `base`.
    opened_at: AtomicU64,
    probing: AtomicBool,
    /// Transitions into each state, by [`STATES`] index.
    pub transitions: LabeledCounters,
    /// Requests refused while open.
    pub rejected: AtomicU64,
    /// "No responders" retries.
    pub retries: AtomicU64,
}

impl Breaker {
    pub fn new(name: &str, settings: BreakerSettings) -> Self {
        Breaker {
            name: name.to_string(),
            settings,
            base: Instant::now(),
            state: AtomicU8::new(CLOSED),
            failures: AtomicU32::new(0),
            opened_at: AtomicU64::new(0),
            probing: AtomicBool::new(false),
            transitions: LabeledCounters::new(STATES),
            rejected: AtomicU64::new(0),
            retries: AtomicU64::new(0),
        }
    }

    /// The current state's index in [`STATES`].
    pub fn state(&self) -> usize {
        usize::from(self.state.load(Relaxed))
    }

    fn now_micros(&self) -> u64 {
        self.base.elapsed().as_micros() as u64
    }

    /// How long an open breaker still refuses requests (`None` when it is not open).
    pub fn open_for(&self) -> Option<Duration> {
        if self.state.load(Relaxed) != OPEN {
            return None;
        }
        let since = Duration::from_micros(
            self.now_micros()
                .saturating_sub(self.opened_at.load(Relaxed)),
        );
        Some(self.settings.cooldown.saturating_sub(since))
    }

    /// May a request go out? `Ok(true)` for the half-open probe.
    fn admit(&self) -> Result<bool, Duration> {
        match self.state.load(Relaxed) {
            CLOSED => Ok(false),
            OPEN => match self.open_for() {
                Some(left) if !left.is_zero() => Err(left),
                _ => {
                    if self
                        .state
                        .compare_exchange(OPEN, HALF_OPEN, Relaxed, Relaxed)
                        .is_ok()
                    {
                        self.transitions.inc(usize::from(HALF_OPEN));
                        tracing::info!(channel = %self.name, "Database breaker half-open: probing.");
                    }
                    self.take_probe()
                }
            },
            _ => self.take_probe(),
        }
    }

    fn take_probe(&self) -> Result<bool, Duration> {
        if self.probing.swap(true, Relaxed) {
            // Someone else probes; refuse until it reports.
            Err(RETRY_DELAY)
        } else {
            Ok(true)
        }
    }

    fn succeeded(&self, probe: bool) {
        self.failures.store(0, Relaxed);
        if probe {
            self.probing.store(false, Relaxed);
        }
        if self.state.swap(CLOSED, Relaxed) != CLOSED {
            self.transitions.inc(usize::from(CLOSED));
            tracing::info!(channel = %self.name, "Database breaker closed: the service answers again.");
        }
    }

    fn failed(&self, probe: bool, error: &BusError) {
        let n = self.failures.fetch_add(1, Relaxed) + 1;
        if probe || n >= self.settings.failures.max(1) {
            self.opened_at.store(self.now_micros(), Relaxed);
            let was = self.state.swap(OPEN, Relaxed);
            if probe {
                self.probing.store(false, Relaxed);
            }
            if was != OPEN {
                self.transitions.inc(usize::from(OPEN));
                tracing::warn!(
                    channel = %self.name,
                    failures = n,
                    cooldown = ?self.settings.cooldown,
                    error = %error,
                    "Database breaker open: queries are refused until the cool-down ends."
                );
            }
        }
    }

    /// Sends a request through the breaker (see the module doc for retries).
    pub async fn request(
        &self,
        bus: &Bus,
        subject: &str,
        payload: impl Into<Bytes>,
        timeout: Duration,
    ) -> Result<Message, BreakerError> {
        let probe = self.admit().map_err(|retry_in| {
            self.rejected.fetch_add(1, Relaxed);
            BreakerError::Open { retry_in }
        })?;
        let payload = payload.into();
        let deadline = Instant::now() + timeout;
        let mut retries = 0;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let result = bus.request(subject, payload.clone(), left).await;
            match result {
                Ok(m) => {
                    self.succeeded(probe);
                    return Ok(m);
                }
                Err(BusError::NoResponders { .. })
                    if retries < self.settings.retries
                        && deadline.saturating_duration_since(Instant::now()) > RETRY_DELAY * 2 =>
                {
                    retries += 1;
                    self.retries.fetch_add(1, Relaxed);
                    tokio::time::sleep(RETRY_DELAY).await;
                }
                Err(e) => {
                    self.failed(probe, &e);
                    return Err(e.into());
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(cooldown_ms: u64) -> BreakerSettings {
        BreakerSettings {
            failures: 3,
            cooldown: Duration::from_millis(cooldown_ms),
            retries: 0,
        }
    }

    fn unavailable() -> BusError {
        BusError::NoResponders {
            subject: "x".into(),
        }
    }

    #[test]
    fn opens_after_n_failures_then_probes_once() {
        let b = Breaker::new("c", settings(60_000));
        for _ in 0..2 {
            assert_eq!(b.admit(), Ok(false));
            b.failed(false, &unavailable());
            assert_eq!(b.state(), 0);
        }
        b.failed(false, &unavailable());
        assert_eq!(STATES[b.state()], "open");
        assert!(b.admit().is_err());
        assert_eq!(b.transitions.get(1), 1);
    }

    #[test]
    fn half_open_probe_closes_or_reopens() {
        let b = Breaker::new("c", settings(0));
        for _ in 0..3 {
            b.failed(false, &unavailable());
        }
        // Cool-down 0: the next request is the probe; a second one waits for it.
        assert_eq!(b.admit(), Ok(true));
        assert_eq!(STATES[b.state()], "half_open");
        assert!(b.admit().is_err());
        b.failed(true, &unavailable());
        assert_eq!(STATES[b.state()], "open");
        assert_eq!(b.admit(), Ok(true));
        b.succeeded(true);
        assert_eq!(STATES[b.state()], "closed");
        assert_eq!(b.admit(), Ok(false));
        assert_eq!(b.transitions.get(0), 1);
        assert_eq!(b.transitions.get(1), 2);
    }
}
