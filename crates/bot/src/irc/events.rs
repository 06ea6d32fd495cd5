//! The task between the IRC client and the channel runner: it keeps what the client's
//! handle does not (server, topic, connected since) and turns each event, in order, into one
//! [`Update`]: normalized events (SPEC §4.2; a nick change is a leave and a join) and neutral
//! happenings.

use std::sync::{Arc, Mutex};

use rosey_irc::{IrcEvent, IrcEvents, IrcHandle, Member};
use rosey_model::{EventBody, UserData};
use serde_json::{Map, Value, json};
use tokio::sync::mpsc::UnboundedSender;

use super::{Live, rank};
use crate::platform::{Happening, Update, now};

/// Runs until the client's stream ends (after its `Stopped`) or the runner is gone.
pub(super) async fn run(
    mut events: IrcEvents,
    handle: IrcHandle,
    op_rank: f64,
    live: Arc<Mutex<Live>>,
    tx: UnboundedSender<Update>,
) {
    loop {
        let Some(event) = events.recv().await else {
            let mut last = Update::new(now(), "connection");
            last.happenings.push(Happening::Stopped {
                reason: "the IRC client ended".into(),
            });
            let _ = tx.send(last);
            return;
        };
        let stopped = matches!(event, IrcEvent::Stopped { .. });
        let update = step(&handle, op_rank, &live, event);
        if tx.send(update).is_err() || stopped {
            return;
        }
    }
}

fn step(handle: &IrcHandle, op_rank: f64, live: &Mutex<Live>, event: IrcEvent) -> Update {
    let ts = match &event {
        IrcEvent::Message { time: Some(t), .. } | IrcEvent::Private { time: Some(t), .. } => *t,
        _ => now(),
    };
    let kind = match &event {
        IrcEvent::Message { .. } => "chat",
        IrcEvent::Private { .. } => "pm",
        IrcEvent::UserJoined { .. } => "add_user",
        IrcEvent::UserLeft { .. } => "user_leave",
        IrcEvent::Joined { .. } => "userlist",
        IrcEvent::Kicked { .. } => "kick",
        IrcEvent::JoinFailed { .. } => "error",
        IrcEvent::Connected { .. }
        | IrcEvent::Disconnected { .. }
        | IrcEvent::Reconnecting { .. }
        | IrcEvent::Stopped { .. } => "connection",
        _ => "other",
    };
    let mut u = Update::new(ts, kind);
    u.events = normalize(&event, &handle.nick(), op_rank);
    u.reconnect = matches!(event, IrcEvent::Reconnecting { .. });
    u.users_changed = matches!(
        event,
        IrcEvent::Joined { .. }
            | IrcEvent::UserJoined { .. }
            | IrcEvent::UserLeft { .. }
            | IrcEvent::NickChanged { .. }
            | IrcEvent::MemberModes { .. }
            | IrcEvent::Disconnected { .. }
    );
    u.status_changed = u.users_changed;
    let mut live = live.lock().unwrap_or_else(|e| e.into_inner());
    let h = &mut u.happenings;
    match event {
        IrcEvent::Connected { server } => {
            live.server = Some(server);
            live.connected_since = Some(ts);
            h.push(Happening::Connected);
        }
        IrcEvent::Joined { members, .. } => {
            h.push(Happening::Joined);
            h.push(Happening::Present {
                users: members
                    .iter()
                    .map(|m| (m.nick.clone(), rank(m, op_rank)))
                    .collect(),
            });
        }
        IrcEvent::Disconnected { .. } => {
            live.connected_since = None;
            h.push(Happening::Away);
        }
        // Out of the channel until the client is back in (it rejoins by itself).
        IrcEvent::Reconnecting { .. } | IrcEvent::Kicked { .. } | IrcEvent::JoinFailed { .. } => {
            h.push(Happening::Away)
        }
        IrcEvent::Stopped { reason } => h.push(Happening::Stopped { reason }),
        IrcEvent::Topic { topic } => live.topic = Some(topic),
        IrcEvent::UserJoined { member } => h.push(Happening::UserJoined {
            rank: rank(&member, op_rank),
            name: member.nick,
        }),
        IrcEvent::UserLeft { nick, .. } => h.push(Happening::UserLeft { name: nick }),
        IrcEvent::NickChanged {
            old,
            new,
            own: false,
        } => {
            let rank = handle.member(&new).map_or(0.0, |m| rank(&m, op_rank));
            h.push(Happening::UserLeft { name: old });
            h.push(Happening::UserJoined { name: new, rank });
        }
        IrcEvent::Message {
            nick, text, action, ..
        } => h.push(Happening::Chat {
            user: nick,
            text: if action { format!("/me {text}") } else { text },
            bot: false,
            command: !action,
            server_time: None,
            replayed: false,
        }),
        IrcEvent::Private { nick, text, .. } => h.push(Happening::Pm { user: nick, text }),
        _ => {}
    }
    u
}

fn user_data(member: &Member, op_rank: f64) -> UserData {
    let rank = rank(member, op_rank);
    UserData {
        username: member.nick.clone(),
        rank,
        is_afk: false,
        is_moderator: rank >= 2.0,
        meta: json!({"prefixes": member.prefixes}),
    }
}

fn tags_json(tags: &[(String, Option<String>)]) -> Value {
    let map: Map<String, Value> = tags
        .iter()
        .map(|(k, v)| {
            (
                k.clone(),
                v.clone().map(Value::String).unwrap_or(Value::Bool(true)),
            )
        })
        .collect();
    Value::Object(map)
}

/// The normalized form of an IRC event (SPEC §4.2); a nick change is a leave and a join.
pub fn normalize(event: &IrcEvent, own_nick: &str, op_rank: f64) -> Vec<EventBody> {
    let connection = |state: &str, detail: String| EventBody::Connection {
        state: state.into(),
        detail,
    };
    match event {
        IrcEvent::Connected { server } => vec![connection("connected", server.clone())],
        IrcEvent::Joined { channel, members } => vec![
            connection("joined", channel.clone()),
            EventBody::UserList {
                users: members.iter().map(|m| user_data(m, op_rank)).collect(),
                count: members.len(),
            },
        ],
        IrcEvent::Disconnected { reason } => vec![connection("disconnected", reason.clone())],
        IrcEvent::Reconnecting { attempt, delay } => vec![connection(
            "reconnecting",
            format!("attempt {attempt} in {delay:?}"),
        )],
        IrcEvent::Stopped { reason } => vec![connection("stopped", reason.clone())],
        IrcEvent::UserJoined { member } => vec![EventBody::UserJoin {
            user: member.nick.clone(),
            user_data: user_data(member, op_rank),
        }],
        IrcEvent::UserLeft { nick, .. } => vec![EventBody::UserLeave { user: nick.clone() }],
        IrcEvent::NickChanged {
            old,
            new,
            own: false,
        } => vec![
            EventBody::UserLeave { user: old.clone() },
            EventBody::UserJoin {
                user: new.clone(),
                user_data: user_data(
                    &Member {
                        nick: new.clone(),
                        prefixes: String::new(),
                    },
                    op_rank,
                ),
            },
        ],
        IrcEvent::MemberModes { nick, prefixes } => vec![EventBody::RankChange {
            user: nick.clone(),
            rank: rank(
                &Member {
                    nick: nick.clone(),
                    prefixes: prefixes.clone(),
                },
                op_rank,
            ),
        }],
        IrcEvent::Message {
            nick,
            text,
            action,
            time,
            tags,
        } => vec![EventBody::Message {
            user: nick.clone(),
            content: text.clone(),
            history: false,
            platform_data: json!({"action": action, "time": time, "tags": tags_json(tags)}),
        }],
        IrcEvent::Private {
            nick,
            text,
            action,
            time,
        } => vec![EventBody::Pm {
            user: nick.clone(),
            recipient: own_nick.to_string(),
            content: text.clone(),
            platform_data: json!({"action": action, "time": time}),
        }],
        IrcEvent::Kicked { by, reason } => vec![EventBody::Kick {
            reason: format!("kicked by {by}: {reason}"),
        }],
        IrcEvent::JoinFailed { reason } => vec![EventBody::Error {
            source: "join".into(),
            message: reason.clone(),
        }],
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalized_events() {
        let msg = IrcEvent::Message {
            nick: "ann".into(),
            text: "waves".into(),
            action: true,
            time: Some(12.5),
            tags: vec![("msgid".into(), Some("x1".into()))],
        };
        match &normalize(&msg, "Rosey", 2.0)[..] {
            [
                EventBody::Message {
                    user,
                    content,
                    platform_data,
                    ..
                },
            ] => {
                assert_eq!((user.as_str(), content.as_str()), ("ann", "waves"));
                assert_eq!(platform_data["action"], true);
                assert_eq!(platform_data["tags"]["msgid"], "x1");
            }
            other => panic!("{other:?}"),
        }
        let nick = IrcEvent::NickChanged {
            old: "a".into(),
            new: "b".into(),
            own: false,
        };
        assert_eq!(normalize(&nick, "Rosey", 2.0).len(), 2);
        let pm = IrcEvent::Private {
            nick: "op".into(),
            text: "stats".into(),
            action: false,
            time: None,
        };
        assert!(matches!(
            &normalize(&pm, "Rosey", 2.0)[..],
            [EventBody::Pm { recipient, .. }] if recipient == "Rosey"
        ));
    }
}
