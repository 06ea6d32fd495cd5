//! The task between the CyTube client and the channel runner: it keeps the channel state
//! mirror (the live view) and turns each event, in arrival order, into one
//! [`Update`] — normalized events, neutral happenings, and what changed — after passing the
//! event to the actions waiting for the server's answer.

use std::sync::{Arc, Mutex};

use rosey_cytube::{CytubeEvent, EventStream, ServerEvent};
use tokio::sync::mpsc::UnboundedSender;

use super::normalize::{event_time, normalize, playlist_summary};
use super::{Live, MediaView, Mirror, ServerEvents, queued_by};
use crate::platform::{Happening, Update, now};

/// Runs until the client's stream ends (after its `Stopped`) or the runner is gone.
pub(super) async fn run(
    mut events: EventStream,
    mirror: Arc<Mutex<Mirror>>,
    waiting: ServerEvents,
    tx: UnboundedSender<Update>,
) {
    loop {
        let Some(event) = events.recv().await else {
            let mut last = Update::new(now(), "connection");
            last.happenings.push(Happening::Stopped {
                reason: "the CyTube client ended".into(),
            });
            let _ = tx.send(last);
            return;
        };
        let stopped = matches!(event, CytubeEvent::Stopped { .. });
        let update = {
            let mut m = mirror.lock().unwrap_or_else(|e| e.into_inner());
            step(&mut m, &event)
        };
        waiting.publish(&event);
        if tx.send(update).is_err() || stopped {
            return;
        }
    }
}

/// Live facts the channel state does not hold (for `status`, `current`, `voteskip`).
fn update_live(live: &mut Live, event: &CytubeEvent, ts: f64) {
    match event {
        CytubeEvent::Connected { server } => {
            live.server = Some(server.clone());
            live.connected_since = Some(ts);
            live.voteskip = None;
        }
        CytubeEvent::Disconnected { .. } | CytubeEvent::Kicked { .. } => {
            live.connected_since = None;
        }
        CytubeEvent::Server(ServerEvent::ChangeMedia(c)) => {
            live.paused = c.paused;
            live.position = c.current_time;
            live.voteskip = None;
        }
        CytubeEvent::Server(ServerEvent::MediaUpdate {
            current_time,
            paused,
        }) => {
            live.paused = *paused;
            live.position = *current_time;
        }
        // `{0, 0}`: CyTube's reset (a pass, or playback moved on): no vote is open.
        CytubeEvent::Server(ServerEvent::Voteskip { count, need }) => {
            live.voteskip = (*need > 0).then_some((*count, *need));
        }
        _ => {}
    }
}

/// A CyTube server notice pseudo-user (`[server]`, `[voteskip]`).
pub(crate) fn is_notice(username: &str) -> bool {
    username.starts_with('[') && username.ends_with(']')
}

/// Applies `event` to the mirror and says what it means.
fn step(m: &mut Mirror, event: &CytubeEvent) -> Update {
    let ts = event_time(event, now());
    // Whether an addUser is a new arrival must be judged before the state applies it.
    let new_user = match event {
        CytubeEvent::Server(ServerEvent::AddUser(u)) => m.state.user(&u.name).is_none(),
        _ => false,
    };
    m.state.apply(event);
    update_live(&mut m.live, event, ts);
    let mut u = Update::new(ts, event_kind(event));
    u.reconnect = matches!(event, CytubeEvent::Reconnecting { .. });
    u.playlist_changed = changes_upcoming(event);
    u.users_changed = changes_users(event);
    u.status_changed = u.playlist_changed || changes_status(event);
    if let Some(mut body) = normalize(event) {
        if let rosey_model::EventBody::PlaylistChange { data, .. } = &mut body {
            // Each change carries the list as it now is, so a follower needs no replay.
            if let (Some(data), serde_json::Value::Object(summary)) =
                (data.as_object_mut(), playlist_summary(&m.state))
            {
                data.extend(summary);
            }
        }
        u.events.push(body);
    }
    let happening = match event {
        CytubeEvent::Connected { .. } => Happening::Connected,
        CytubeEvent::Joined { .. } => Happening::Joined,
        CytubeEvent::Disconnected { .. } | CytubeEvent::Reconnecting { .. } => Happening::Away,
        CytubeEvent::Stopped { reason } => Happening::Stopped {
            reason: reason.clone(),
        },
        CytubeEvent::Server(ev) => match ev {
            // Everyone already present counts from now (the original skipped them).
            ServerEvent::Userlist(users) => Happening::Present {
                users: users.iter().map(|u| (u.name.clone(), u.rank)).collect(),
            },
            ServerEvent::AddUser(user) if new_user => Happening::UserJoined {
                name: user.name.clone(),
                rank: user.rank,
            },
            ServerEvent::UserLeave { name } => Happening::UserLeft { name: name.clone() },
            ServerEvent::Usercount(_) => Happening::Counted,
            // `[server]`, `[voteskip]`: CyTube's notices, not people (user names cannot
            // contain brackets); they get a normalized event but are not counted as chat.
            // The bot's own lines (the server's echo) are stored like anyone's, marked as
            // the bot's: the history shows the answers to commands. The server's replay on
            // join (history) is handed on too, flagged, never run as a command: the database
            // service stores the lines it does not have yet (said while the bot was away).
            ServerEvent::ChatMsg(msg) if !is_notice(&msg.username) => Happening::Chat {
                user: msg.username.clone(),
                text: msg.text.clone(),
                bot: msg.from_self,
                command: !msg.from_self && !msg.history,
                server_time: (msg.time > 0).then_some(msg.time),
                replayed: msg.history,
            },
            ServerEvent::ChangeMedia(c) => Happening::MediaChanged(MediaView {
                title: c.media.title.clone(),
                media_type: c.media.media_type.clone(),
                id: c.media.id.clone(),
                seconds: c.media.seconds.max(0.0) as u64,
                duration: c.media.duration.clone(),
                queued_by: queued_by(&m.state),
            }),
            ServerEvent::Pm(pm) if !pm.from_self => Happening::Pm {
                user: pm.username.clone(),
                text: pm.text.clone(),
            },
            _ => return u,
        },
        _ => return u,
    };
    u.happenings.push(happening);
    u
}

/// The metrics' event kind of an event (one of [`crate::metrics::EVENT_KINDS`]).
fn event_kind(event: &CytubeEvent) -> &'static str {
    match event {
        CytubeEvent::Server(ev) => match ev {
            ServerEvent::ChatMsg(_) => "chat",
            ServerEvent::Pm(_) => "pm",
            ServerEvent::AddUser(_) => "add_user",
            ServerEvent::UserLeave { .. } => "user_leave",
            ServerEvent::Userlist(_) => "userlist",
            ServerEvent::Usercount(_) => "usercount",
            ServerEvent::ChangeMedia(_) | ServerEvent::SetCurrent(_) => "change_media",
            ServerEvent::Playlist(_)
            | ServerEvent::Queue { .. }
            | ServerEvent::Delete { .. }
            | ServerEvent::MoveVideo { .. } => "playlist",
            ServerEvent::Cooldown(_) => "cooldown",
            ServerEvent::Kick { .. } => "kick",
            ServerEvent::ErrorMsg { .. } => "error",
            _ => "other",
        },
        _ => "connection",
    }
}

/// Whether `event` changes what the status shows (users, media, our rank).
fn changes_status(event: &CytubeEvent) -> bool {
    matches!(
        event,
        CytubeEvent::Disconnected { .. }
            | CytubeEvent::Server(
                ServerEvent::ChangeMedia(_)
                    | ServerEvent::AddUser(_)
                    | ServerEvent::UserLeave { .. }
                    | ServerEvent::Userlist(_)
                    | ServerEvent::Rank(_)
                    | ServerEvent::SetAfk { .. }
            )
    )
}

/// Whether `event` can change which items play next.
fn changes_upcoming(event: &CytubeEvent) -> bool {
    matches!(
        event,
        CytubeEvent::Connected { .. }
            | CytubeEvent::Server(
                ServerEvent::Playlist(_)
                    | ServerEvent::Queue { .. }
                    | ServerEvent::Delete { .. }
                    | ServerEvent::MoveVideo { .. }
                    | ServerEvent::SetCurrent(_)
            )
    )
}

/// Whether `event` can change who is in the channel or their rank or AFK flag.
fn changes_users(event: &CytubeEvent) -> bool {
    matches!(
        event,
        CytubeEvent::Connected { .. }
            | CytubeEvent::Disconnected { .. }
            | CytubeEvent::Server(
                ServerEvent::Userlist(_)
                    | ServerEvent::AddUser(_)
                    | ServerEvent::UserLeave { .. }
                    | ServerEvent::SetUserRank { .. }
                    | ServerEvent::SetAfk { .. }
            )
    )
}
