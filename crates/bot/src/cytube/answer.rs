//! Waiting for the server's answer to a command, so that an action reports what the server
//! did and not what was asked (issue 11). One mechanism serves every command: [`ask`]
//! subscribes to the channel's events, sends, and waits — bounded by the shell timeout — for
//! the first event that settles the command; the reply is then the outcome in the server's
//! own words.
//!
//! A command supplies what it sends and a matcher that recognises its confirmation (the
//! `queue` of the item, the `delete` of the uid, …) and its own refusals (`queueFail`).
//! Refusals that may answer any command (`errorMsg`, `noflood`, `costanza`, `spamFiltered`)
//! and the connection ending are recognised here. CyTube answers nothing for some refusals
//! (an action without the permission, a kick of an absent user): the wait then ends at the
//! timeout with a reply saying so, and — when the channel's permission table explains the
//! silence — why.
//!
//! CyTube's answers carry no request id, so two commands running at the same moment could
//! each take the other's `errorMsg`; moderators issue commands one at a time.
//!
//! Must not: keep events when no command waits (publishing clones nothing then), or block
//! the channel's event loop (a slow command only lags its own receiver).

use std::{future::Future, sync::Arc, time::Duration};

use rosey_cytube::{ChannelState, CytubeEvent, CytubeHandle, SendError, ServerEvent};
use tokio::sync::broadcast;

use super::Live;
use crate::platform::{Failure, fail};

/// What an action runs with: the channel as it was when the action started.
pub(crate) struct Ctx {
    pub handle: CytubeHandle,
    /// The channel's events from now on (actions wait for the server's answer in them).
    pub events: ServerEvents,
    pub state: ChannelState,
    pub live: Live,
    /// How long an action waits for the server's answer.
    pub timeout: Duration,
}

/// Events buffered per waiting command before it lags (and skips the oldest).
const CAPACITY: usize = 256;
/// The least time a command may wait in the client's outbound queue before it is written:
/// the client paces commands below the server's limits (below rank 2, one `queue` per
/// second after a burst of three), which can take longer than a short shell timeout.
const MIN_SEND_WAIT: Duration = Duration::from_secs(5);

/// The channel's events, passed to shell commands that wait for the server's answer.
#[derive(Debug, Clone)]
pub struct ServerEvents {
    tx: broadcast::Sender<Arc<CytubeEvent>>,
}

impl Default for ServerEvents {
    fn default() -> Self {
        ServerEvents {
            tx: broadcast::channel(CAPACITY).0,
        }
    }
}

impl ServerEvents {
    /// Passes an event on to the commands waiting now (none: nothing is cloned).
    pub fn publish(&self, event: &CytubeEvent) {
        if self.tx.receiver_count() > 0 {
            let _ = self.tx.send(Arc::new(event.clone()));
        }
    }

    fn subscribe(&self) -> broadcast::Receiver<Arc<CytubeEvent>> {
        self.tx.subscribe()
    }
}

/// A refusal in the server's words: the reply names it as such, the audit row gets the text.
pub fn refused(msg: &str) -> Failure {
    Failure {
        reply: vec![format!("Refused by the server: {msg}")],
        error: msg.to_string(),
    }
}

/// A refusal any command may get.
fn general_refusal(event: &ServerEvent) -> Option<String> {
    match event {
        ServerEvent::ErrorMsg { msg, .. }
        | ServerEvent::NoFlood { msg, .. }
        | ServerEvent::Costanza { msg } => Some(msg.clone()),
        ServerEvent::SpamFiltered { reason } => Some(format!(
            "blocked by the new-account chat restriction ({reason})"
        )),
        _ => None,
    }
}

/// The shell timeout as people write it (`1s`, `0.5s`).
pub fn seconds(t: Duration) -> String {
    format!("{}s", t.as_secs_f64())
}

/// Sends with `send` and waits for the server's answer. `answer` sees every server event
/// after the send (in order) and returns `Some` once the command is settled; `silence`
/// gives the outcome when nothing settled it within the shell timeout.
pub async fn ask<T>(
    ctx: &Ctx,
    send: impl Future<Output = Result<(), SendError>>,
    mut answer: impl FnMut(&ServerEvent) -> Option<Result<T, Failure>>,
    silence: impl FnOnce() -> Result<T, Failure>,
) -> Result<T, Failure> {
    // Subscribe first: the answer may arrive as soon as the frame is out.
    let mut events = ctx.events.subscribe();
    // The command may wait behind paced chat; that wait is bounded separately, and the
    // timeout for the answer starts once the frame is written.
    let send_wait = ctx.timeout.max(MIN_SEND_WAIT);
    match tokio::time::timeout(send_wait, send).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => return Err(fail(format!("Failed: {e}"))),
        Err(_) => {
            return Err(fail(format!(
                "Not sent within {}: the outbound queue is busy (the command stays queued)",
                seconds(send_wait)
            )));
        }
    }
    let deadline = tokio::time::Instant::now() + ctx.timeout;
    loop {
        let event = match tokio::time::timeout_at(deadline, events.recv()).await {
            Err(_) => return silence(),
            Ok(Err(broadcast::error::RecvError::Lagged(n))) => {
                tracing::warn!(
                    skipped = n,
                    "A shell command fell behind the channel's events."
                );
                continue;
            }
            Ok(Err(broadcast::error::RecvError::Closed)) => {
                return Err(fail("The channel stopped before the server answered"));
            }
            Ok(Ok(event)) => event,
        };
        match &*event {
            CytubeEvent::Server(ev) => {
                if let Some(outcome) = answer(ev) {
                    return outcome;
                }
                if let Some(msg) = general_refusal(ev) {
                    return Err(refused(&msg));
                }
            }
            CytubeEvent::Disconnected { reason } | CytubeEvent::Stopped { reason } => {
                return Err(fail(format!(
                    "Disconnected before the server answered ({reason})"
                )));
            }
            _ => {}
        }
    }
}

/// What the silence of the server means: no answer within the timeout, and, when our rank
/// is below what the channel's permission table asks for `node`, that CyTube ignores the
/// action silently for that reason.
pub fn no_answer(ctx: &Ctx, what: &str, node: Option<&str>) -> Failure {
    let mut text = format!(
        "No answer from the server within {}: {what}",
        seconds(ctx.timeout)
    );
    if let Some((node, need)) = node.and_then(|n| missing_permission(&ctx.state, n).map(|r| (n, r)))
    {
        text.push_str(&format!(
            " (the server ignores this without the `{node}` permission: rank {need} needed, I have {})",
            ctx.state.own_rank
        ));
    }
    fail(text)
}

/// [`no_answer`] as the `silence` of [`ask`].
pub fn unanswered<'a, T>(
    ctx: &'a Ctx,
    what: &'a str,
    node: Option<&'a str>,
) -> impl FnOnce() -> Result<T, Failure> + 'a {
    move || Err(no_answer(ctx, what, node))
}

/// The rank `node` needs when ours is below it, by CyTube's rule (for `playlist*` nodes on an
/// unlocked playlist, `o<node>` is tried first).
fn missing_permission(state: &ChannelState, node: &str) -> Option<f64> {
    let perms = &state.permissions;
    let rank = state.own_rank;
    let need = *perms.get(node)?;
    let unlocked = state.playlist_locked == Some(false);
    if node.starts_with("playlist")
        && unlocked
        && perms.get(&format!("o{node}")).is_some_and(|o| rank >= *o)
    {
        return None;
    }
    (rank < need).then_some(need)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(rank: f64, locked: Option<bool>) -> ChannelState {
        let mut s = ChannelState::new();
        s.own_rank = rank;
        s.playlist_locked = locked;
        for (node, need) in [
            ("kick", 1.5),
            ("playlistdelete", 2.0),
            ("oplaylistdelete", 2.0),
            ("playlistadd", 1.5),
            ("oplaylistadd", -1.0),
        ] {
            s.permissions.insert(node.into(), need);
        }
        s
    }

    #[test]
    fn permissions_explain_silence_by_cytubes_rule() {
        assert_eq!(missing_permission(&state(1.0, None), "kick"), Some(1.5));
        assert_eq!(missing_permission(&state(2.0, None), "kick"), None);
        // An unlocked playlist lets anyone add (`oplaylistadd` -1); a locked one does not.
        assert_eq!(
            missing_permission(&state(0.0, Some(false)), "playlistadd"),
            None
        );
        assert_eq!(
            missing_permission(&state(0.0, Some(true)), "playlistadd"),
            Some(1.5)
        );
        assert_eq!(
            missing_permission(&state(1.0, Some(false)), "playlistdelete"),
            Some(2.0)
        );
        // Unknown node (no permission table yet): nothing to explain.
        assert_eq!(missing_permission(&state(0.0, None), "pollctl"), None);
    }

    #[test]
    fn general_refusals_keep_the_servers_words() {
        let muted = ServerEvent::NoFlood {
            action: "chat".into(),
            msg: "You have been muted on this channel.".into(),
        };
        assert_eq!(
            general_refusal(&muted).as_deref(),
            Some("You have been muted on this channel.")
        );
        let f = refused("This item is already on the playlist");
        assert_eq!(f.error, "This item is already on the playlist");
        assert_eq!(
            f.reply,
            vec!["Refused by the server: This item is already on the playlist"]
        );
        assert_eq!(general_refusal(&ServerEvent::Usercount(3)), None);
        assert_eq!(seconds(Duration::from_millis(1500)), "1.5s");
    }
}
