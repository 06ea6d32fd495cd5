//! The sender task: works through the queued actions in order, one at a time. An
//! `M_LIMIT_EXCEEDED` answer is waited out (`retry_after_ms`, or the configured default) and
//! the same action retried with the same transaction id, so a reply is neither lost nor
//! stored twice; an unreachable homeserver is retried with backoff; any other refusal is
//! given up, logged, counted and reported as [`MatrixEvent::ActionFailed`].

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use ruma::api::client::{membership, message, redact};
use ruma::events::room::message::RoomMessageEventContent;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::{debug, warn};

use crate::api::{Api, ApiError};
use crate::config::Backoff;
use crate::event::MatrixEvent;
use crate::handle::{Action, Queued, Shared};

pub(crate) struct Outbox {
    pub api: Arc<Api>,
    pub shared: Arc<Shared>,
    pub events: mpsc::UnboundedSender<MatrixEvent>,
    pub stop: CancellationToken,
    pub backoff: Backoff,
    pub default_retry_after: Duration,
}

impl Outbox {
    pub async fn run(self, mut rx: mpsc::UnboundedReceiver<Queued>) {
        loop {
            let q = tokio::select! {
                _ = self.stop.cancelled() => return,
                q = rx.recv() => match q { Some(q) => q, None => return },
            };
            self.deliver(&q).await;
            self.shared.queued.fetch_sub(1, Ordering::AcqRel);
        }
    }

    async fn deliver(&self, q: &Queued) {
        let mut attempt = 0u32;
        loop {
            let err = match perform(&self.api, q).await {
                Ok(()) => {
                    self.shared.stats.sent.fetch_add(1, Ordering::Relaxed);
                    return;
                }
                Err(e) => e,
            };
            let wait = match &err {
                ApiError::RateLimited { retry_after } => {
                    self.shared
                        .stats
                        .rate_limited
                        .fetch_add(1, Ordering::Relaxed);
                    let wait = retry_after.unwrap_or(self.default_retry_after);
                    debug!(action = %q.action.name(), wait_ms = wait.as_millis() as u64,
                        "rate limited; retrying after the server's delay");
                    wait
                }
                e if e.is_transient() || matches!(e, ApiError::UnknownToken(_)) => {
                    let wait = self.backoff.delay(attempt + 1, &mut rand::rng());
                    attempt += 1;
                    debug!(action = %q.action.name(), error = %e, wait_ms = wait.as_millis() as u64,
                        "action not delivered; retrying");
                    wait
                }
                e => {
                    self.shared.stats.failed.fetch_add(1, Ordering::Relaxed);
                    warn!(action = %q.action.name(), error = %e, "action refused by the homeserver");
                    let _ = self.events.send(MatrixEvent::ActionFailed {
                        action: q.action.name(),
                        error: e.to_string(),
                    });
                    return;
                }
            };
            tokio::select! {
                _ = self.stop.cancelled() => return,
                _ = tokio::time::sleep(wait) => {}
            }
        }
    }
}

async fn perform(api: &Api, q: &Queued) -> Result<(), ApiError> {
    let send = |room: &ruma::OwnedRoomId, content: RoomMessageEventContent| {
        message::send_message_event::v3::Request::new(room.clone(), q.txn.clone(), &content)
            .map_err(|e| ApiError::Protocol(e.to_string()))
    };
    match &q.action {
        Action::Notice { room, text } => {
            api.call(send(room, RoomMessageEventContent::notice_plain(text))?)
                .await?;
        }
        Action::Text { room, text } => {
            api.call(send(room, RoomMessageEventContent::text_plain(text))?)
                .await?;
        }
        Action::Emote { room, text } => {
            api.call(send(room, RoomMessageEventContent::emote_plain(text))?)
                .await?;
        }
        Action::Kick { room, user, reason } => {
            let mut req = membership::kick_user::v3::Request::new(room.clone(), user.clone());
            req.reason = reason.clone();
            api.call(req).await?;
        }
        Action::Ban { room, user, reason } => {
            let mut req = membership::ban_user::v3::Request::new(room.clone(), user.clone());
            req.reason = reason.clone();
            api.call(req).await?;
        }
        Action::Redact {
            room,
            event,
            reason,
        } => {
            let mut req =
                redact::redact_event::v3::Request::new(room.clone(), event.clone(), q.txn.clone());
            req.reason = reason.clone();
            api.call(req).await?;
        }
        Action::Join(r) => {
            api.call(membership::join_room_by_id_or_alias::v3::Request::new(
                r.clone(),
            ))
            .await?;
        }
        Action::Leave(r) => {
            api.call(membership::leave_room::v3::Request::new(r.clone()))
                .await?;
        }
    }
    Ok(())
}
