//! The task between the Matrix client and the channel runner: it turns the client's reports
//! about the channel's room into [`Update`]s (normalized events, neutral happenings), direct
//! messages into PMs, and keeps the room's id, the connection time and a refusal.

use std::sync::{Arc, Mutex};

use rosey_matrix::{LeaveReason, MatrixEvent, MatrixEvents, Member, MsgKind};
use rosey_model::{EventBody, UserData};
use serde_json::json;
use tokio::sync::mpsc::UnboundedSender;

use super::Live;
use crate::platform::{Happening, Update, now};

/// Sends the one update of a channel that cannot start.
pub(super) fn stopped(tx: &UnboundedSender<Update>, reason: String) {
    let mut last = Update::new(now(), "connection");
    last.events.push(EventBody::Connection {
        state: "stopped".into(),
        detail: reason.clone(),
    });
    last.happenings.push(Happening::Stopped { reason });
    let _ = tx.send(last);
}

/// Runs until the client's reports end (after its `Stopped`) or the runner is gone.
pub(super) async fn run(
    mut events: MatrixEvents,
    configured: String,
    live: Arc<Mutex<Live>>,
    tx: UnboundedSender<Update>,
) {
    loop {
        let Some(event) = events.recv().await else {
            stopped(&tx, "the Matrix client ended".into());
            return;
        };
        let is_stop = matches!(event, MatrixEvent::Stopped { .. });
        let update = {
            let mut live = live.lock().unwrap_or_else(|e| e.into_inner());
            step(&configured, &mut live, event)
        };
        if let Some(update) = update
            && tx.send(update).is_err()
        {
            return;
        }
        if is_stop {
            return;
        }
    }
}

fn user_data(m: &Member) -> UserData {
    UserData {
        username: m.user_id.clone(),
        rank: m.rank,
        is_afk: false,
        is_moderator: m.rank >= 2.0,
        meta: json!({"power": m.power, "display_name": m.display_name}),
    }
}

fn connection(state: &str, detail: impl Into<String>) -> EventBody {
    EventBody::Connection {
        state: state.into(),
        detail: detail.into(),
    }
}

/// What `event` means for the channel's room; `None` for what concerns other rooms.
fn step(configured: &str, live: &mut Live, event: MatrixEvent) -> Option<Update> {
    let ours = |room: &str, live: &Live| live.room.as_deref() == Some(room);
    let mut u = Update::new(now(), "other");
    match event {
        MatrixEvent::LoggedIn { user_id, .. } => {
            live.connected_since = Some(u.ts);
            u.kind = "connection";
            u.events.push(connection("connected", user_id));
            u.happenings.push(Happening::Connected);
        }
        MatrixEvent::Joined {
            room,
            alias,
            direct: false,
            members,
        } if room == configured || alias.as_deref() == Some(configured) => {
            live.room = Some(room.clone());
            u.kind = "userlist";
            u.users_changed = true;
            u.status_changed = true;
            u.events.push(connection("joined", room));
            u.events.push(EventBody::UserList {
                users: members.iter().map(user_data).collect(),
                count: members.len(),
            });
            if live.refused.is_none() {
                u.happenings.push(Happening::Joined);
            }
            u.happenings.push(Happening::Present {
                users: members
                    .iter()
                    .map(|m| (m.user_id.clone(), m.rank))
                    .collect(),
            });
        }
        MatrixEvent::Refused { room, reason } if ours(&room, live) || room == configured => {
            // The client logged it once; the status says it from now on.
            live.refused = Some(reason.to_string());
            u.kind = "error";
            u.status_changed = true;
            u.events.push(EventBody::Error {
                source: "matrix".into(),
                message: format!("{room}: {reason}"),
            });
            u.happenings.push(Happening::Away);
        }
        MatrixEvent::Left { room, reason } if ours(&room, live) => {
            u.kind = "kick";
            u.users_changed = true;
            u.events.push(connection("left", format!("{reason:?}")));
            u.happenings.push(Happening::Away);
        }
        MatrixEvent::UserJoined { room, member } if ours(&room, live) => {
            u.kind = "add_user";
            u.users_changed = true;
            u.status_changed = true;
            u.events.push(EventBody::UserJoin {
                user: member.user_id.clone(),
                user_data: user_data(&member),
            });
            u.happenings.push(Happening::UserJoined {
                name: member.user_id,
                rank: member.rank,
            });
        }
        MatrixEvent::UserLeft {
            room,
            user_id,
            reason,
        } if ours(&room, live) => {
            u.kind = "user_leave";
            u.users_changed = true;
            u.status_changed = true;
            if let LeaveReason::Kicked { by, reason } | LeaveReason::Banned { by, reason } = &reason
            {
                tracing::info!(user = %user_id, %by, reason = reason.as_deref().unwrap_or(""), "Removed from the room.");
            }
            u.events.push(EventBody::UserLeave {
                user: user_id.clone(),
            });
            u.happenings.push(Happening::UserLeft { name: user_id });
        }
        MatrixEvent::PowerChanged {
            room,
            user_id,
            rank,
            ..
        } if ours(&room, live) => {
            u.users_changed = true;
            u.status_changed = true;
            u.events.push(EventBody::RankChange {
                user: user_id,
                rank,
            });
        }
        MatrixEvent::Message {
            room,
            event_id,
            sender,
            kind,
            text,
            direct,
            time_ms,
        } => {
            if time_ms > 0 {
                u.ts = time_ms as f64 / 1000.0;
            }
            let data = json!({"event_id": event_id, "room": room, "kind": format!("{kind:?}").to_lowercase()});
            if ours(&room, live) {
                u.kind = "chat";
                let text = if kind == MsgKind::Emote {
                    format!("/me {text}")
                } else {
                    text
                };
                u.events.push(EventBody::Message {
                    user: sender.clone(),
                    content: text.clone(),
                    history: false,
                    platform_data: data,
                });
                // Another bot's notice is stored, never answered (no reply loops).
                u.happenings.push(Happening::Chat {
                    user: sender,
                    text,
                    bot: false,
                    command: kind == MsgKind::Text,
                    server_time: None,
                    replayed: false,
                });
            } else if direct && kind != MsgKind::Notice {
                u.kind = "pm";
                u.events.push(EventBody::Pm {
                    user: sender.clone(),
                    recipient: String::new(),
                    content: text.clone(),
                    platform_data: data,
                });
                u.happenings.push(Happening::Pm { user: sender, text });
            } else {
                return None;
            }
        }
        MatrixEvent::ActionFailed { action, error } => {
            tracing::warn!(%action, %error, "A Matrix action failed.");
            u.kind = "error";
            u.events.push(EventBody::Error {
                source: action,
                message: error,
            });
        }
        MatrixEvent::Disconnected { error } => {
            live.connected_since = None;
            u.kind = "connection";
            u.reconnect = true;
            u.status_changed = true;
            u.events.push(connection("disconnected", error));
            u.happenings.push(Happening::Away);
        }
        MatrixEvent::Reconnected => {
            live.connected_since = Some(u.ts);
            u.kind = "connection";
            u.status_changed = true;
            u.events.push(connection("reconnected", ""));
            if live.room.is_some() && live.refused.is_none() {
                u.happenings.push(Happening::Joined);
            }
        }
        MatrixEvent::Stopped { error } => {
            let reason = error.unwrap_or_else(|| "stopped".into());
            u.kind = "connection";
            u.events.push(connection("stopped", reason.clone()));
            u.happenings.push(Happening::Stopped { reason });
        }
        _ => return None,
    }
    Some(u)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(id: &str, rank: f64) -> Member {
        Member {
            user_id: id.into(),
            display_name: None,
            power: if rank > 0.0 { 50 } else { 0 },
            rank,
        }
    }

    #[test]
    fn the_room_messages_and_direct_messages() {
        let mut live = Live::default();
        let joined = step(
            "#lobby:hs",
            &mut live,
            MatrixEvent::Joined {
                room: "!abc:hs".into(),
                alias: Some("#lobby:hs".into()),
                direct: false,
                members: vec![member("@mod:hs", 2.0), member("@ann:hs", 0.0)],
            },
        )
        .unwrap();
        assert_eq!(live.room.as_deref(), Some("!abc:hs"));
        assert!(joined.happenings.contains(&Happening::Joined));
        let msg = |room: &str, kind, direct| MatrixEvent::Message {
            room: room.into(),
            event_id: "$e".into(),
            sender: "@ann:hs".into(),
            kind,
            text: "hi".into(),
            direct,
            time_ms: 1_000,
        };
        let chat = step("#lobby:hs", &mut live, msg("!abc:hs", MsgKind::Text, false)).unwrap();
        assert_eq!(chat.ts, 1.0);
        assert!(matches!(
            &chat.happenings[..],
            [Happening::Chat { command: true, .. }]
        ));
        let notice = step(
            "#lobby:hs",
            &mut live,
            msg("!abc:hs", MsgKind::Notice, false),
        )
        .unwrap();
        assert!(matches!(
            &notice.happenings[..],
            [Happening::Chat { command: false, .. }]
        ));
        let pm = step("#lobby:hs", &mut live, msg("!dm:hs", MsgKind::Text, true)).unwrap();
        assert!(matches!(&pm.happenings[..], [Happening::Pm { .. }]));
        assert!(
            step(
                "#lobby:hs",
                &mut live,
                msg("!other:hs", MsgKind::Text, false)
            )
            .is_none()
        );
        let refused = step(
            "#lobby:hs",
            &mut live,
            MatrixEvent::Refused {
                room: "!abc:hs".into(),
                reason: rosey_matrix::Refusal::Encrypted,
            },
        )
        .unwrap();
        assert!(refused.happenings.contains(&Happening::Away));
        assert!(live.refused.as_deref().unwrap().contains("encrypted"));
    }
}
