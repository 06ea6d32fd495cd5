//! Helpers shared by the integration tests: a test config and awaiting events with a timeout.

#![allow(dead_code)]

use std::time::Duration;

use rosey_cytube::{Backoff, ClientConfig, CytubeEvent, EventStream, Login, ServerEvent};

/// Long enough for a loaded CI machine, short enough to fail fast.
pub const WAIT: Duration = Duration::from_secs(15);

/// A config for tests: fast backoff (50 ms … 500 ms) and short connect timeouts.
pub fn config(base_url: &str, channel: &str, login: Login) -> ClientConfig {
    let mut cfg = ClientConfig::new(base_url, channel, login);
    cfg.backoff = Backoff::new(Duration::from_millis(50), Duration::from_millis(500));
    cfg.connect_timeout = Duration::from_secs(5);
    cfg.login_retry = Duration::from_millis(200);
    cfg
}

/// Awaits the first event matching `pred` (skipping others); panics with the skipped events
/// if none arrives within [`WAIT`].
pub async fn expect<F>(events: &mut EventStream, what: &str, mut pred: F) -> CytubeEvent
where
    F: FnMut(&CytubeEvent) -> bool,
{
    let mut skipped = Vec::new();
    let found = tokio::time::timeout(WAIT, async {
        while let Some(ev) = events.recv().await {
            if pred(&ev) {
                return Some(ev);
            }
            skipped.push(ev);
        }
        None
    })
    .await;
    match found {
        Ok(Some(ev)) => ev,
        Ok(None) => panic!("event stream ended while waiting for {what}; saw {skipped:#?}"),
        Err(_) => panic!("timed out waiting for {what}; saw {skipped:#?}"),
    }
}

/// Awaits `Joined`, returning every event seen before it.
pub async fn joined(events: &mut EventStream) -> Vec<CytubeEvent> {
    let mut before = Vec::new();
    expect(events, "Joined", |ev| {
        let hit = matches!(ev, CytubeEvent::Joined { .. });
        if !hit {
            before.push(ev.clone());
        }
        hit
    })
    .await;
    before
}

/// Awaits a successful login reply; returns the name the server gave.
pub async fn logged_in(events: &mut EventStream) -> String {
    let ev = expect(
        events,
        "successful login",
        |ev| matches!(ev, CytubeEvent::Server(ServerEvent::Login(r)) if r.success),
    )
    .await;
    match ev {
        CytubeEvent::Server(ServerEvent::Login(r)) => r.name.unwrap_or_default(),
        _ => unreachable!(),
    }
}

/// Awaits both `Joined` and a successful login (in either order): the client can chat.
/// Returns the login name and every event seen up to that point.
pub async fn ready(events: &mut EventStream) -> (String, Vec<CytubeEvent>) {
    let mut seen = Vec::new();
    let mut name = None;
    let mut joined = false;
    expect(events, "Joined and login", |ev| {
        seen.push(ev.clone());
        match ev {
            CytubeEvent::Joined { .. } => joined = true,
            CytubeEvent::Server(ServerEvent::Login(r)) if r.success => name = r.name.clone(),
            // A reconnect starts over.
            CytubeEvent::Connected { .. } => {
                joined = false;
                name = None;
            }
            _ => {}
        }
        joined && name.is_some()
    })
    .await;
    (name.unwrap_or_default(), seen)
}
