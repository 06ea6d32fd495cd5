//! The outbound pump (SPEC §4.3): ask the database service for due outbound messages, send
//! each through the platform client's throttle, then `mark_sent` or `mark_failed`. The same
//! pump serves every [`Platform`]. It asks when woken (`rosey.commands.<channel>.pump`, which
//! the database service publishes after `outbound.enqueue`), every
//! [`PUMP_INTERVAL`](crate::config::PUMP_INTERVAL) on its own (retries that came due, rows
//! queued by other means), and again at once after a full round.
//!
//! Never the same message twice: a message confirmed as written to the socket is remembered
//! for [`REMEMBER_SENT`]; if the service offers it again (its `mark_sent` was lost on the
//! way), the pump re-publishes `mark_sent` instead of sending the text again. Never
//! forever: failures go back as `mark_failed`, and the service stops offering a message
//! after `max_retries`.

use std::{
    collections::HashMap,
    sync::atomic::Ordering::Relaxed,
    time::{Duration, Instant},
};

use futures::FutureExt;
use rosey_model::{
    decode, decode_list, encode,
    payload::{ErrorReply, MarkFailed, MarkSent, OutboundGet, OutboundRow},
    subjects,
};
use tokio_util::sync::CancellationToken;

use crate::{
    config::Intervals,
    platform::{ActionError, FailKind, Platform},
    publisher::{Publisher, now},
};

/// How long a sent message id is remembered.
pub const REMEMBER_SENT: Duration = Duration::from_secs(600);
/// Messages fetched per round.
pub const BATCH: i64 = 20;
/// Retries before the service gives a message up (SPEC §3.2 default).
pub const MAX_RETRIES: i64 = 3;
/// How soon the pump looks again while the channel is not joined.
const NOT_JOINED_RETRY: Duration = Duration::from_secs(1);
/// How long one message may take to go out (the throttle may hold it a while).
const SEND_TIMEOUT: Duration = Duration::from_secs(30);

/// Runs the pump for one channel until `stop`.
pub async fn run(
    handle: std::sync::Arc<dyn Platform>,
    publisher: Publisher,
    intervals: Intervals,
    stop: CancellationToken,
) {
    let mut sent: HashMap<i64, Instant> = HashMap::new();
    let mut tick = tokio::time::interval(intervals.pump);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let wake_subject = subjects::command_subject(publisher.channel(), subjects::COMMAND_PUMP);
    let mut wakes = crate::channel::subscribe_or_warn(
        publisher.bus(),
        publisher.channel(),
        &wake_subject,
        "Cannot subscribe to pump wake-ups; polling only.",
    )
    .await;
    let mut unavailable = false;
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tick.tick() => {}
            woke = next_wake(&mut wakes) => {
                if woke {
                    // Several wake-ups waiting are one round.
                    while let Some(Some(_)) = wakes.as_mut().and_then(|w| w.next().now_or_never()) {}
                    tick.reset();
                } else {
                    wakes = None;
                    continue;
                }
            }
        }
        if !handle.is_joined() {
            // Not in the channel yet (start-up, a reconnect): look again soon rather than at
            // the next poll, so what was queued meanwhile goes out once the bot is back.
            tick.reset_after(NOT_JOINED_RETRY.min(intervals.pump));
            continue;
        }
        sent.retain(|_, at| at.elapsed() < REMEMBER_SENT);
        let rows = match fetch(&publisher, &intervals).await {
            Ok(rows) => {
                if unavailable {
                    unavailable = false;
                    tracing::info!(channel = %publisher.channel(), "Outbound queue reachable again.");
                }
                rows
            }
            Err(why) => {
                if !unavailable {
                    unavailable = true;
                    tracing::warn!(channel = %publisher.channel(), error = %why, "Outbound queue unavailable; nothing to send.");
                }
                continue;
            }
        };
        if rows.len() as i64 >= BATCH {
            // There may be more waiting: the next round comes at once.
            tick.reset_immediately();
        }
        for row in rows {
            if stop.is_cancelled() {
                return;
            }
            if sent.contains_key(&row.id) {
                mark_sent(&publisher, row.id).await;
                continue;
            }
            let result = tokio::time::timeout(SEND_TIMEOUT, handle.say_confirmed(&row.message))
                .await
                .unwrap_or_else(|_| {
                    Err(ActionError::failed(
                        "the connection dropped before the command was sent",
                        FailKind::Gone,
                    ))
                });
            match result {
                Ok(()) => {
                    publisher.metrics().outbound_sent.fetch_add(1, Relaxed);
                    sent.insert(row.id, Instant::now());
                    mark_sent(&publisher, row.id).await;
                }
                Err(e) => {
                    publisher.metrics().outbound_failed.fetch_add(1, Relaxed);
                    let permanent = e.is_permanent();
                    let failed = MarkFailed {
                        message_id: row.id,
                        error: e.to_string(),
                        permanent,
                        channel: None,
                        ts: None,
                        id: None,
                    };
                    publisher
                        .db(subjects::OUTBOUND_MARK_FAILED, failed, now())
                        .await;
                    if e.is_gone() {
                        // The connection is gone: the rest waits for the next round.
                        break;
                    }
                }
            }
        }
    }
}

/// The next wake-up: true when one came, false when the subscription ended; never
/// resolves without a subscription.
async fn next_wake(wakes: &mut Option<rosey_bus::Subscription>) -> bool {
    match wakes {
        Some(w) => w.next().await.is_some(),
        None => std::future::pending().await,
    }
}

async fn fetch(publisher: &Publisher, intervals: &Intervals) -> Result<Vec<OutboundRow>, String> {
    let req = OutboundGet {
        limit: BATCH,
        max_retries: MAX_RETRIES,
        channel: Some(publisher.channel().to_string()),
        ts: None,
        id: None,
    };
    let reply = publisher
        .metrics()
        .breaker
        .request(
            publisher.bus(),
            subjects::OUTBOUND_GET,
            encode(&req),
            intervals.pump_request_timeout,
        )
        .await
        .map_err(|e| e.to_string())?;
    match decode_list::<OutboundRow>(&reply.payload) {
        Ok(rows) => Ok(rows),
        Err(e) => match decode::<ErrorReply>(&reply.payload) {
            Ok(err) => Err(err.error),
            Err(_) => Err(format!("unexpected reply: {e}")),
        },
    }
}

async fn mark_sent(publisher: &Publisher, message_id: i64) {
    let m = MarkSent {
        message_id,
        channel: None,
        ts: None,
        id: None,
    };
    publisher.db(subjects::OUTBOUND_MARK_SENT, m, now()).await;
}
