//! CyTube events → normalized events (SPEC §4.2). Pure: the caller supplies the state
//! *before* the event was applied where it matters (e.g. whether a user is new).

use rosey_cytube::{ChannelState, CytubeEvent, Position, ServerEvent, User};
use rosey_model::{EventBody, UserData};
use serde_json::{Value, json};

/// A CyTube user as the model's [`UserData`].
pub fn user_data(u: &User) -> UserData {
    UserData {
        username: u.name.clone(),
        rank: u.rank,
        is_afk: u.meta.afk,
        is_moderator: u.rank >= 2.0,
        meta: json!({"muted": u.meta.muted, "aliases": u.meta.aliases}),
    }
}

/// The event time of a CyTube event in epoch seconds: chat and PMs carry the server's
/// time in milliseconds; everything else happens "now".
pub fn event_time(event: &CytubeEvent, now: f64) -> f64 {
    match event {
        CytubeEvent::Server(ServerEvent::ChatMsg(m)) if m.time > 0 => m.time as f64 / 1000.0,
        CytubeEvent::Server(ServerEvent::Pm(m)) if m.time > 0 => m.time as f64 / 1000.0,
        _ => now,
    }
}

/// The normalized form of an event, if it has one.
pub fn normalize(event: &CytubeEvent) -> Option<EventBody> {
    let body = match event {
        CytubeEvent::Connected { server } => EventBody::Connection {
            state: "connected".into(),
            detail: server.clone(),
        },
        CytubeEvent::Joined { channel } => EventBody::Connection {
            state: "joined".into(),
            detail: channel.clone(),
        },
        CytubeEvent::Disconnected { reason } => EventBody::Connection {
            state: "disconnected".into(),
            detail: reason.clone(),
        },
        CytubeEvent::Reconnecting { attempt, delay } => EventBody::Connection {
            state: "reconnecting".into(),
            detail: format!("attempt {attempt} in {delay:?}"),
        },
        CytubeEvent::Stopped { reason } => EventBody::Connection {
            state: "stopped".into(),
            detail: reason.clone(),
        },
        CytubeEvent::Kicked { reason } => EventBody::Kick {
            reason: reason.clone().unwrap_or_default(),
        },
        CytubeEvent::Server(ev) => return normalize_server(ev),
    };
    Some(body)
}

/// `after` of a queue or move as it travels in `playlist_change` data: a uid, or
/// `"prepend"` / `"append"`.
fn position(after: &Position) -> Value {
    match after {
        Position::After(uid) => json!(uid),
        Position::Prepend => json!("prepend"),
        Position::Append => json!("append"),
    }
}

/// The playlist as it is after a change, merged into every `playlist_change` event's
/// `data`: `count` (items), `current` (`{uid, title}` or null) and `upcoming` (the next
/// items, as the status lists them: `{title, duration, queued_by}`).
pub fn playlist_summary(state: &ChannelState) -> Value {
    let current = state.current_uid.zip(state.current_media.as_ref());
    json!({
        "count": state.playlist.len(),
        "current": current.map(|(uid, c)| json!({"uid": uid, "title": c.media.title})),
        "upcoming": super::upcoming(state),
    })
}

fn normalize_server(ev: &ServerEvent) -> Option<EventBody> {
    let body = match ev {
        // CyTube's notice that a vote-skip passed (a server whisper like the others, but the
        // one thing that tells a vote-skip from a moderator's skip): a `voteskip` event.
        ServerEvent::ChatMsg(m) if m.is_voteskip_notice() => {
            let (count, need) = m.voteskip_passed().map_or((0, 0), |p| (p.count, p.need()));
            EventBody::Voteskip {
                count,
                need,
                passed: true,
            }
        }
        // A tally (to ranks that may see it); `{0, 0}` is CyTube's reset when playback
        // moves on, not a vote.
        ServerEvent::Voteskip { count, need } if *need > 0 => EventBody::Voteskip {
            count: *count,
            need: *need,
            passed: false,
        },
        // A notice the server sends to some ranks only (e.g. which names share an IP, to
        // moderators): not chat, and not for the public event stream.
        ServerEvent::ChatMsg(m) if m.is_server_whisper() => return None,
        ServerEvent::ChatMsg(m) => EventBody::Message {
            user: m.username.clone(),
            content: m.text.clone(),
            history: m.history,
            platform_data: json!({"meta": m.meta, "time": m.time, "html": m.html}),
        },
        ServerEvent::Pm(m) => EventBody::Pm {
            user: m.username.clone(),
            recipient: m.to.clone(),
            content: m.text.clone(),
            platform_data: json!({"meta": m.meta, "time": m.time}),
        },
        ServerEvent::AddUser(u) => EventBody::UserJoin {
            user: u.name.clone(),
            user_data: user_data(u),
        },
        ServerEvent::UserLeave { name } => EventBody::UserLeave { user: name.clone() },
        ServerEvent::Userlist(users) => EventBody::UserList {
            users: users.iter().map(user_data).collect(),
            count: users.len(),
        },
        ServerEvent::Usercount(n) => EventBody::UserCount { count: *n as i64 },
        ServerEvent::ChangeMedia(c) => EventBody::MediaChange {
            title: c.media.title.clone(),
            media_type: c.media.media_type.clone(),
            media_id: c.media.id.clone(),
            duration: c.media.seconds.max(0.0) as i64,
        },
        ServerEvent::Playlist(items) => EventBody::PlaylistChange {
            action: "playlist".into(),
            data: json!({"count": items.len()}),
        },
        ServerEvent::Queue { item, after } => EventBody::PlaylistChange {
            action: "queue".into(),
            data: json!({"uid": item.uid, "title": item.media.title, "type": item.media.media_type,
                         "id": item.media.id, "queued_by": item.queueby,
                         "duration": item.media.duration, "temp": item.temp,
                         "after": position(after)}),
        },
        ServerEvent::SetTemp { uid, temp } => EventBody::PlaylistChange {
            action: "temp".into(),
            data: json!({"uid": uid, "temp": temp}),
        },
        ServerEvent::Delete { uid } => EventBody::PlaylistChange {
            action: "delete".into(),
            data: json!({"uid": uid}),
        },
        ServerEvent::MoveVideo { from, after } => EventBody::PlaylistChange {
            action: "move".into(),
            data: json!({"uid": from, "after": position(after)}),
        },
        ServerEvent::SetCurrent(uid) => EventBody::PlaylistChange {
            action: "current".into(),
            data: json!({"uid": uid}),
        },
        ServerEvent::SetUserRank { name, rank } => EventBody::RankChange {
            user: name.clone(),
            rank: *rank,
        },
        ServerEvent::SetAfk { name, afk } => EventBody::Afk {
            user: name.clone(),
            afk: *afk,
        },
        ServerEvent::SetLeader(name) => EventBody::Leader { user: name.clone() },
        ServerEvent::NewPoll(p) => EventBody::Poll {
            action: "open".into(),
            data: json!({"title": p.title, "options": p.options}),
        },
        ServerEvent::UpdatePoll(p) => EventBody::Poll {
            action: "update".into(),
            data: json!({"title": p.title, "options": p.options}),
        },
        ServerEvent::ClosePoll => EventBody::Poll {
            action: "close".into(),
            data: Value::Null,
        },
        ServerEvent::Kick { reason } => EventBody::Kick {
            reason: reason.clone().unwrap_or_default(),
        },
        ServerEvent::ErrorMsg { msg, .. } => EventBody::Error {
            source: "errorMsg".into(),
            message: msg.clone(),
        },
        ServerEvent::QueueFail { msg, .. } => EventBody::Error {
            source: "queueFail".into(),
            message: msg.clone(),
        },
        _ => return None,
    };
    Some(body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rosey_cytube::{ChatMessage, Media, PlaylistItem};

    fn notice(username: &str, text: &str) -> ServerEvent {
        ServerEvent::ChatMsg(ChatMessage {
            username: username.into(),
            text: text.into(),
            html: text.into(),
            meta: json!({"addClass": "server-whisper"}),
            time: 1,
            history: false,
            from_self: false,
        })
    }

    #[test]
    fn a_passed_vote_skip_and_tallies_are_voteskip_events() {
        let pass = notice(
            "[voteskip]",
            "Voteskip passed: 2/3 skipped; eligible voters: 3 = total (3) - AFK (0) - no \
             permission (0); ratio = 0.5",
        );
        assert_eq!(
            normalize_server(&pass),
            Some(EventBody::Voteskip {
                count: 2,
                need: 2,
                passed: true
            })
        );
        // Other server whispers stay off the stream.
        assert_eq!(normalize_server(&notice("[server]", "x joined")), None);
        assert_eq!(
            normalize_server(&ServerEvent::Voteskip { count: 1, need: 2 }),
            Some(EventBody::Voteskip {
                count: 1,
                need: 2,
                passed: false
            })
        );
        assert_eq!(
            normalize_server(&ServerEvent::Voteskip { count: 0, need: 0 }),
            None,
            "a reset is no vote"
        );
    }

    /// The summary's `count` is the whole list, the playing item included; `upcoming` is
    /// what follows it. `count: 1, upcoming: []` is a list of only the playing item.
    #[test]
    fn the_summary_counts_the_playing_item_and_lists_what_follows_it() {
        let item = |uid: u64, title: &str| PlaylistItem {
            media: Media {
                id: title.into(),
                title: title.into(),
                ..Default::default()
            },
            uid,
            ..Default::default()
        };
        let mut state = ChannelState::new();
        let mut summary = |ev: ServerEvent| {
            state.apply(&CytubeEvent::Server(ev));
            let s = playlist_summary(&state);
            let titles: Vec<String> = s["upcoming"]
                .as_array()
                .unwrap()
                .iter()
                .map(|u| u["title"].as_str().unwrap().to_string())
                .collect();
            (s["count"].as_u64().unwrap(), titles)
        };
        // As CyTube sends it: the first item is queued, then it starts.
        let first = summary(ServerEvent::Queue {
            item: item(1, "A"),
            after: Position::Prepend,
        });
        assert_eq!(first, (1, vec!["A".to_string()]), "nothing plays yet");
        assert_eq!(summary(ServerEvent::SetCurrent(1)), (1, vec![]));
        // Queued after the playing item (`next`), then at the end.
        let next = summary(ServerEvent::Queue {
            item: item(2, "B"),
            after: Position::After(1),
        });
        assert_eq!(next, (2, vec!["B".to_string()]));
        let end = summary(ServerEvent::Queue {
            item: item(3, "C"),
            after: Position::After(2),
        });
        assert_eq!(end, (3, vec!["B".to_string(), "C".to_string()]));
        // The playing item is deleted and the next one plays: C follows it.
        summary(ServerEvent::Delete { uid: 1 });
        assert_eq!(summary(ServerEvent::SetCurrent(2)), (2, vec!["C".into()]));
    }

    #[test]
    fn queue_events_say_whether_the_item_is_temporary() {
        let item = PlaylistItem {
            media: Media {
                id: "x".into(),
                ..Default::default()
            },
            uid: 7,
            temp: true,
            ..Default::default()
        };
        let Some(EventBody::PlaylistChange { action, data }) =
            normalize_server(&ServerEvent::Queue {
                item,
                after: Position::Append,
            })
        else {
            panic!("a playlist change")
        };
        assert_eq!((action.as_str(), &data["temp"]), ("queue", &json!(true)));
        assert_eq!(
            normalize_server(&ServerEvent::SetTemp {
                uid: 7,
                temp: false
            }),
            Some(EventBody::PlaylistChange {
                action: "temp".into(),
                data: json!({"uid": 7, "temp": false}),
            })
        );
    }
}
