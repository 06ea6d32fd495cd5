//! Waiting for something a test cannot be told about directly: [`eventually`] re-evaluates a
//! check until it yields a value, and fails the test with what it waited for after a deadline.
//! Use it instead of sleeps (the team's rule: await the event, with a timeout).

use std::{future::Future, time::Duration};

/// How often [`eventually`] re-evaluates its check.
const POLL: Duration = Duration::from_millis(50);

/// Re-evaluates `check` (first at once, then every few milliseconds) until it returns
/// `Some`, and returns that value. Panics with "timed out waiting for {what}" when `within`
/// passes first.
pub async fn eventually<T, F, Fut>(what: &str, within: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + within;
    let mut tick = tokio::time::interval(POLL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if let Some(v) = check().await {
            return v;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
    }
}

/// Like [`eventually`] for a check that says what it saw when it is not satisfied yet:
/// `Err(state)` until it holds; on timeout the panic names the last state seen, so a
/// failure shows how far things got.
pub async fn eventually_with<T, F, Fut>(what: &str, within: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, String>>,
{
    let deadline = tokio::time::Instant::now() + within;
    let mut tick = tokio::time::interval(POLL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        match check().await {
            Ok(v) => return v,
            Err(state) => assert!(
                tokio::time::Instant::now() < deadline,
                "timed out waiting for {what}; last seen: {state}"
            ),
        }
    }
}
