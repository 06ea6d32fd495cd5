//! What one client, and everyone together, may hold open: connections and event streams,
//! each capped per client address and in total ([`Limits`]), and the counters of what was
//! held, refused and timed out ([`WebStats`], exported as `rosey_web_*` metrics).
//!
//! A slot is taken before the work starts and given back when its [`Slot`] drops (the
//! connection's task ends, the event stream's body is dropped). Over a client's cap the
//! answer is 429; over the total, 503.

use std::collections::HashMap;
use std::fmt;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rosey_metrics::{LabeledCounters, Out, Source};

/// The caps and timeouts of the listener.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// A request's headers must arrive within this (from the connection's start, or from
    /// the end of the previous response on a kept-alive connection); else it is closed.
    pub header_timeout: Duration,
    /// A connection that neither reads nor writes for this long is closed (event streams
    /// write a keep-alive well within it, so they stay).
    pub idle_timeout: Duration,
    /// A connection whose write has waited this long for the client to take bytes is
    /// closed: a viewer that stopped reading its event stream is dropped (counted as a
    /// `stalled` timeout) rather than buffered for.
    pub write_stall: Duration,
    /// Open connections in total.
    pub max_connections: usize,
    /// Open connections from one address (a trusted proxy is held only to the total).
    pub max_connections_per_client: usize,
    /// Open event streams (`/events`) in total.
    pub max_streams: usize,
    /// Open event streams of one client.
    pub max_streams_per_client: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            header_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(120),
            write_stall: Duration::from_secs(10),
            max_connections: 512,
            max_connections_per_client: 64,
            max_streams: 256,
            max_streams_per_client: 16,
        }
    }
}

/// Why a slot was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// This client holds its share (429).
    PerClient,
    /// Everyone together holds the total (503).
    Total,
}

/// Open slots of one kind: in total and per address.
pub(crate) struct Slots {
    kind: Kind,
    max: usize,
    per_client: usize,
    held: Mutex<(usize, HashMap<IpAddr, usize>)>,
    stats: Arc<WebStats>,
}

#[derive(Debug, Clone, Copy)]
pub(crate) enum Kind {
    Connection,
    Stream,
}

/// One held slot; dropping it gives it back.
pub(crate) struct Slot {
    slots: Arc<Slots>,
    ip: Option<IpAddr>,
}

impl Slots {
    pub fn new(kind: Kind, max: usize, per_client: usize, stats: Arc<WebStats>) -> Arc<Self> {
        Arc::new(Slots {
            kind,
            max,
            per_client,
            held: Mutex::new((0, HashMap::new())),
            stats,
        })
    }

    /// Takes a slot for `ip`, or `None` for a client held only to the total (a proxy).
    pub fn take(self: &Arc<Self>, ip: Option<IpAddr>) -> Result<Slot, Refused> {
        let mut held = self.held.lock().unwrap_or_else(|e| e.into_inner());
        let refused = if held.0 >= self.max {
            Some(Refused::Total)
        } else if ip.is_some_and(|ip| held.1.get(&ip).copied().unwrap_or(0) >= self.per_client) {
            Some(Refused::PerClient)
        } else {
            None
        };
        if let Some(why) = refused {
            drop(held);
            self.stats.refused(self.kind, why);
            return Err(why);
        }
        held.0 += 1;
        if let Some(ip) = ip {
            *held.1.entry(ip).or_insert(0) += 1;
        }
        self.stats.open(self.kind).fetch_add(1, Relaxed);
        Ok(Slot {
            slots: self.clone(),
            ip,
        })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let s = &self.slots;
        let mut held = s.held.lock().unwrap_or_else(|e| e.into_inner());
        held.0 = held.0.saturating_sub(1);
        if let Some(ip) = self.ip
            && let Some(n) = held.1.get_mut(&ip)
        {
            *n -= 1;
            if *n == 0 {
                held.1.remove(&ip);
            }
        }
        s.stats.open(s.kind).fetch_sub(1, Relaxed);
    }
}

const REFUSED: &[&str] = &[
    "connection_per_client",
    "connection_total",
    "stream_per_client",
    "stream_total",
];
const TIMEOUTS: &[&str] = &["header", "idle", "stalled"];

/// The listener's counters.
pub struct WebStats {
    connections: AtomicU64,
    streams: AtomicU64,
    refused: LabeledCounters,
    timeouts: LabeledCounters,
    /// Token checks refused because the client had too many failed attempts.
    blocked_attempts: AtomicU64,
}

impl Default for WebStats {
    fn default() -> Self {
        WebStats {
            connections: AtomicU64::new(0),
            streams: AtomicU64::new(0),
            refused: LabeledCounters::new(REFUSED),
            timeouts: LabeledCounters::new(TIMEOUTS),
            blocked_attempts: AtomicU64::new(0),
        }
    }
}

impl fmt::Debug for WebStats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebStats")
            .field("connections", &self.connections())
            .field("streams", &self.streams())
            .finish_non_exhaustive()
    }
}

impl WebStats {
    fn open(&self, kind: Kind) -> &AtomicU64 {
        match kind {
            Kind::Connection => &self.connections,
            Kind::Stream => &self.streams,
        }
    }

    fn refused(&self, kind: Kind, why: Refused) {
        let i = match (kind, why) {
            (Kind::Connection, Refused::PerClient) => 0,
            (Kind::Connection, Refused::Total) => 1,
            (Kind::Stream, Refused::PerClient) => 2,
            (Kind::Stream, Refused::Total) => 3,
        };
        self.refused.inc(i);
    }

    pub(crate) fn header_timeout(&self) {
        self.timeouts.inc(0);
    }

    pub(crate) fn idle_timeout(&self) {
        self.timeouts.inc(1);
    }

    pub(crate) fn stalled(&self) {
        self.timeouts.inc(2);
    }

    pub(crate) fn blocked_attempt(&self) {
        self.blocked_attempts.fetch_add(1, Relaxed);
    }

    /// Open connections now.
    pub fn connections(&self) -> u64 {
        self.connections.load(Relaxed)
    }

    /// Open event streams now.
    pub fn streams(&self) -> u64 {
        self.streams.load(Relaxed)
    }

    /// Refusals so far, by `connection_per_client`, `connection_total`,
    /// `stream_per_client`, `stream_total`.
    pub fn refused_count(&self, what: &str) -> u64 {
        self.refused
            .index_of(what)
            .map_or(0, |i| self.refused.get(i))
    }

    /// Connections closed for a slow header (`header`), for idling (`idle`) or because the
    /// client stopped reading what was written to it (`stalled`).
    pub fn timeout_count(&self, what: &str) -> u64 {
        self.timeouts
            .index_of(what)
            .map_or(0, |i| self.timeouts.get(i))
    }
}

impl Source for WebStats {
    fn collect(&self, out: &mut Out<'_>) -> fmt::Result {
        out.gauge_value(
            "rosey_web_connections",
            "Open connections to the dashboard.",
            self.connections() as i64,
        )?;
        out.gauge_value(
            "rosey_web_streams",
            "Open event streams (/events).",
            self.streams() as i64,
        )?;
        out.counter(
            "rosey_web_refused",
            "Connections and event streams refused over a cap, by what and which cap.",
            self.refused.iter().map(|(v, n)| ([("reason", v)], n)),
        )?;
        out.counter(
            "rosey_web_timeouts",
            "Connections closed for a request header not sent in time, for idling, or because the \
             client stopped reading (a stalled event-stream viewer, dropped).",
            self.timeouts.iter().map(|(v, n)| ([("kind", v)], n)),
        )?;
        out.counter_value(
            "rosey_web_blocked_attempts",
            "Token checks refused (429) after too many failed attempts from the client.",
            self.blocked_attempts.load(Relaxed),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_cap_per_client_and_in_total_and_come_back() {
        let stats = Arc::new(WebStats::default());
        let slots = Slots::new(Kind::Stream, 3, 2, stats.clone());
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        let a1 = slots.take(Some(a)).unwrap();
        let _a2 = slots.take(Some(a)).unwrap();
        assert_eq!(slots.take(Some(a)).err(), Some(Refused::PerClient));
        let _b1 = slots.take(Some(b)).unwrap();
        assert_eq!(slots.take(None).err(), Some(Refused::Total));
        drop(a1);
        assert_eq!(stats.streams(), 2);
        let _a3 = slots.take(Some(a)).unwrap();
        assert_eq!(stats.refused_count("stream_per_client"), 1);
        assert_eq!(stats.refused_count("stream_total"), 1);
    }
}
