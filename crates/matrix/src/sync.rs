//! One `/sync` response → the client's [`MatrixEvent`]s, in order, and the invites to
//! accept. Pure over the room views ([`Rooms`]), so the rules are unit-tested:
//! - the first sync of a fresh client (no position) is history: rooms are reported as
//!   [`Joined`](MatrixEvent::Joined), their old messages are not;
//! - a resumed sync (saved position, full state) reports every room as joined and every
//!   timeline message as new (they came after the position);
//! - in a room joined during this sync, what precedes our own join is history;
//! - our own messages are not reported; messages in encrypted rooms are not read, and the
//!   room is reported [`Refused`](MatrixEvent::Refused) once.

use std::collections::{BTreeSet, HashMap};

use ruma::api::client::sync::sync_events::v3::{Response, State};
use ruma::events::room::message::{MessageType, RoomMessageEventContent};
use ruma::serde::Raw;
use tracing::{debug, warn};

use crate::event::{LeaveReason, MatrixEvent, MsgKind, Refusal};
use crate::rank::RankMap;
use crate::room::{Change, Envelope, RoomView};

/// The room views, by room id.
pub type Rooms = HashMap<String, RoomView>;

/// Which kind of sync this was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// No position: everything in it is history.
    Initial,
    /// From a saved position after a restart, with full state.
    Resume,
    /// The next sync of a running client.
    Live,
}

/// What the client decides about an invite.
#[derive(Debug, Clone)]
pub struct Invite {
    pub room: String,
    pub inviter: String,
    pub direct: bool,
    pub alias: Option<String>,
}

/// The outcome of one sync.
#[derive(Debug, Default)]
pub struct Batch {
    pub events: Vec<MatrixEvent>,
    /// Invites the client should accept (join).
    pub accept: Vec<Invite>,
    /// Rooms newly known as direct (to be saved).
    pub new_direct: Vec<String>,
    /// Timelines the server cut short (`limited`): events may be missing there.
    pub gaps: usize,
}

/// Everything [`process`] needs besides the response.
pub struct Ctx<'a> {
    pub own: &'a str,
    pub ranks: &'a RankMap,
    pub rooms: &'a mut Rooms,
    /// Rooms known to be direct (saved, `m.direct`, accepted direct invites).
    pub direct: &'a mut BTreeSet<String>,
    /// Invites already reported by this client.
    pub invites_seen: &'a mut BTreeSet<String>,
}

fn parse<T>(raw: &Raw<T>) -> Option<Envelope> {
    match raw.deserialize_as_unchecked::<Envelope>() {
        Ok(e) => Some(e),
        Err(e) => {
            debug!(error = %e, "unreadable event skipped");
            None
        }
    }
}

/// Turns one sync response into events. `accept` says which invites to accept.
pub fn process(
    resp: &Response,
    mode: Mode,
    ctx: &mut Ctx<'_>,
    accept: impl Fn(&Invite) -> bool,
) -> Batch {
    let mut batch = Batch::default();

    for raw in &resp.account_data.events {
        let Some(ev) = parse(raw) else { continue };
        if ev.kind == "m.direct"
            && let Some(map) = ev.content.as_object()
        {
            for rooms in map.values() {
                for r in rooms
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|r| r.as_str())
                {
                    if ctx.direct.insert(r.to_string()) {
                        batch.new_direct.push(r.to_string());
                    }
                    if let Some(view) = ctx.rooms.get_mut(r) {
                        view.direct = true;
                    }
                }
            }
        }
    }

    for (room_id, jr) in &resp.rooms.join {
        let room = room_id.to_string();
        let known = ctx.rooms.contains_key(&room);
        let mut view = ctx.rooms.remove(&room).unwrap_or_default();
        view.direct = view.direct || ctx.direct.contains(&room);
        if jr.timeline.limited && mode == Mode::Live && known {
            batch.gaps += 1;
            warn!(room = %room, "timeline gap: the server left out events since the last sync");
        }
        let state_events = match &jr.state {
            State::Before(s) => &s.events,
            State::After(s) => &s.events,
            _ => {
                ctx.rooms.insert(room, view);
                continue;
            }
        };
        let mut live = known;
        for raw in state_events {
            if let Some(ev) = parse(raw) {
                let change = view.apply_state(&ev);
                if live {
                    report_change(&mut batch, ctx, &room, &mut view, change);
                }
            }
        }
        let mut announced = known;
        if !known && mode == Mode::Resume {
            announce(&mut batch, ctx, &room, &mut view);
            announced = true;
            live = true;
        }
        for raw in &jr.timeline.events {
            let Some(ev) = parse(raw) else { continue };
            if ev.state_key.is_some() {
                let own_join = ev.kind == "m.room.member"
                    && ev.state_key.as_deref() == Some(ctx.own)
                    && ev.content["membership"] == "join";
                let change = view.apply_state(&ev);
                if live {
                    report_change(&mut batch, ctx, &room, &mut view, change);
                } else if own_join && mode == Mode::Live {
                    announce(&mut batch, ctx, &room, &mut view);
                    announced = true;
                    live = true;
                }
                continue;
            }
            if live
                && ev.kind == "m.room.message"
                && ev.sender != ctx.own
                && !view.encrypted
                && let Some(m) = message(&room, &view, &ev)
            {
                batch.events.push(m);
            }
        }
        if !announced {
            announce(&mut batch, ctx, &room, &mut view);
        }
        ctx.rooms.insert(room, view);
    }

    for (room_id, left) in &resp.rooms.leave {
        let room = room_id.to_string();
        if ctx.rooms.remove(&room).is_none() {
            continue;
        }
        let mut reason = LeaveReason::Left;
        for raw in &left.timeline.events {
            let Some(ev) = parse(raw) else { continue };
            if ev.kind == "m.room.member" && ev.state_key.as_deref() == Some(ctx.own) {
                let why = ev.content["reason"].as_str().map(str::to_string);
                reason = match ev.content["membership"].as_str() {
                    Some("ban") => LeaveReason::Banned {
                        by: ev.sender.clone(),
                        reason: why,
                    },
                    Some("leave") if ev.sender != ctx.own => LeaveReason::Kicked {
                        by: ev.sender.clone(),
                        reason: why,
                    },
                    _ => LeaveReason::Left,
                };
            }
        }
        batch.events.push(MatrixEvent::Left { room, reason });
    }

    for (room_id, invited) in &resp.rooms.invite {
        let room = room_id.to_string();
        if ctx.rooms.contains_key(&room) || !ctx.invites_seen.insert(room.clone()) {
            continue;
        }
        let mut invite = Invite {
            room: room.clone(),
            inviter: String::new(),
            direct: false,
            alias: None,
        };
        for raw in &invited.invite_state.events {
            let Some(ev) = parse(raw) else { continue };
            match ev.kind.as_str() {
                "m.room.member" if ev.state_key.as_deref() == Some(ctx.own) => {
                    invite.inviter = ev.sender.clone();
                    invite.direct = ev.content["is_direct"].as_bool().unwrap_or(false);
                }
                "m.room.canonical_alias" => {
                    invite.alias = ev.content["alias"].as_str().map(str::to_string);
                }
                _ => {}
            }
        }
        let accepted = accept(&invite);
        if accepted && invite.direct && ctx.direct.insert(room.clone()) {
            batch.new_direct.push(room.clone());
        }
        if !accepted {
            tracing::info!(room = %room, inviter = %invite.inviter,
                "invite ignored: not a configured room");
        }
        batch.events.push(MatrixEvent::Invited {
            room,
            inviter: invite.inviter.clone(),
            direct: invite.direct,
            accepted,
        });
        if accepted {
            batch.accept.push(invite);
        }
    }
    batch
}

/// Reports a room as joined (and refused, when encrypted).
fn announce(batch: &mut Batch, ctx: &Ctx<'_>, room: &str, view: &mut RoomView) {
    batch.events.push(MatrixEvent::Joined {
        room: room.to_string(),
        alias: view.alias.clone(),
        direct: view.direct,
        members: view.members(ctx.ranks),
    });
    if view.encrypted {
        refuse(batch, room, view);
    }
}

fn refuse(batch: &mut Batch, room: &str, view: &mut RoomView) {
    if view.refused {
        return;
    }
    view.refused = true;
    warn!(room = %room, reason = %Refusal::Encrypted, "room refused");
    batch.events.push(MatrixEvent::Refused {
        room: room.to_string(),
        reason: Refusal::Encrypted,
    });
}

fn report_change(
    batch: &mut Batch,
    ctx: &Ctx<'_>,
    room: &str,
    view: &mut RoomView,
    change: Change,
) {
    match change {
        Change::Joined(user) if user != ctx.own => batch.events.push(MatrixEvent::UserJoined {
            room: room.to_string(),
            member: view.member(&user, ctx.ranks),
        }),
        Change::Left(user, reason) if user != ctx.own => batch.events.push(MatrixEvent::UserLeft {
            room: room.to_string(),
            user_id: user,
            reason,
        }),
        Change::Power(changes) => {
            for (user, power) in changes {
                batch.events.push(MatrixEvent::PowerChanged {
                    room: room.to_string(),
                    user_id: user,
                    power,
                    rank: ctx.ranks.rank(power),
                });
            }
        }
        Change::Encrypted => refuse(batch, room, view),
        _ => {}
    }
}

fn message(room: &str, view: &RoomView, ev: &Envelope) -> Option<MatrixEvent> {
    let content = serde_json::from_value::<RoomMessageEventContent>(ev.content.clone()).ok()?;
    let (kind, text) = match &content.msgtype {
        MessageType::Text(t) => (MsgKind::Text, t.body.clone()),
        MessageType::Emote(e) => (MsgKind::Emote, e.body.clone()),
        MessageType::Notice(n) => (MsgKind::Notice, n.body.clone()),
        other => (MsgKind::Text, other.body().to_string()),
    };
    Some(MatrixEvent::Message {
        room: room.to_string(),
        event_id: ev.event_id.clone().unwrap_or_default(),
        sender: ev.sender.clone(),
        kind,
        text,
        direct: view.direct,
        time_ms: ev.origin_server_ts.unwrap_or(0),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn member(user: &str, membership: &str) -> Value {
        json!({"type": "m.room.member", "sender": user, "state_key": user,
               "content": {"membership": membership}, "event_id": format!("$m{user}{membership}"),
               "origin_server_ts": 1})
    }

    fn text(user: &str, body: &str, msgtype: &str) -> Value {
        json!({"type": "m.room.message", "sender": user, "event_id": format!("${body}"),
               "content": {"msgtype": msgtype, "body": body}, "origin_server_ts": 5})
    }

    fn response(room: &str, state: Vec<Value>, timeline: Vec<Value>) -> Response {
        let body = json!({
            "next_batch": "s1",
            "rooms": {"join": {room: {
                "state": {"events": state},
                "timeline": {"events": timeline, "limited": false}
            }}}
        });
        let http = http::Response::builder()
            .status(200)
            .body(serde_json::to_vec(&body).unwrap())
            .unwrap();
        use ruma::api::IncomingResponseExt;
        let body = http.body().clone();
        Response::try_from_http_response(http.map(|_| body.as_slice()))
            .unwrap_or_else(|_| unreachable!("built from a valid literal"))
    }

    struct World {
        rooms: Rooms,
        direct: BTreeSet<String>,
        seen: BTreeSet<String>,
        ranks: RankMap,
    }

    impl World {
        fn new() -> World {
            World {
                rooms: Rooms::new(),
                direct: BTreeSet::new(),
                seen: BTreeSet::new(),
                ranks: RankMap::default(),
            }
        }
        fn run(&mut self, resp: &Response, mode: Mode) -> Batch {
            let mut ctx = Ctx {
                own: "@bot:x",
                ranks: &self.ranks,
                rooms: &mut self.rooms,
                direct: &mut self.direct,
                invites_seen: &mut self.seen,
            };
            process(resp, mode, &mut ctx, |i| i.direct)
        }
    }

    fn messages(b: &Batch) -> Vec<String> {
        b.events
            .iter()
            .filter_map(|e| match e {
                MatrixEvent::Message { text, .. } => Some(text.clone()),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn initial_sync_is_history() {
        let mut w = World::new();
        let r = response(
            "!r:x",
            vec![member("@bot:x", "join"), member("@a:x", "join")],
            vec![text("@a:x", "old", "m.text")],
        );
        let b = w.run(&r, Mode::Initial);
        assert!(messages(&b).is_empty());
        assert!(matches!(&b.events[0], MatrixEvent::Joined { members, .. } if members.len() == 2));
    }

    #[test]
    fn live_messages_kinds_and_own_skipped() {
        let mut w = World::new();
        w.run(
            &response("!r:x", vec![member("@bot:x", "join")], vec![]),
            Mode::Initial,
        );
        let r = response(
            "!r:x",
            vec![],
            vec![
                text("@a:x", "hi", "m.text"),
                text("@a:x", "waves", "m.emote"),
                text("@other-bot:x", "beep", "m.notice"),
                text("@bot:x", "mine", "m.notice"),
                member("@c:x", "join"),
            ],
        );
        let b = w.run(&r, Mode::Live);
        assert_eq!(messages(&b), ["hi", "waves", "beep"]);
        let kinds: Vec<MsgKind> = b
            .events
            .iter()
            .filter_map(|e| match e {
                MatrixEvent::Message { kind, .. } => Some(*kind),
                _ => None,
            })
            .collect();
        assert_eq!(kinds, [MsgKind::Text, MsgKind::Emote, MsgKind::Notice]);
        assert!(
            matches!(b.events.last(), Some(MatrixEvent::UserJoined { member, .. }) if member.user_id == "@c:x")
        );
    }

    #[test]
    fn newly_joined_room_history_before_own_join() {
        let mut w = World::new();
        let r = response(
            "!n:x",
            vec![member("@a:x", "join")],
            vec![
                text("@a:x", "before", "m.text"),
                member("@bot:x", "join"),
                text("@a:x", "after", "m.text"),
            ],
        );
        let b = w.run(&r, Mode::Live);
        assert_eq!(messages(&b), ["after"]);
        assert!(matches!(&b.events[0], MatrixEvent::Joined { .. }));
    }

    #[test]
    fn resume_reports_rooms_and_new_messages() {
        let mut w = World::new();
        let r = response(
            "!r:x",
            vec![member("@bot:x", "join"), member("@a:x", "join")],
            vec![text("@a:x", "while away", "m.text")],
        );
        let b = w.run(&r, Mode::Resume);
        assert!(matches!(&b.events[0], MatrixEvent::Joined { .. }));
        assert_eq!(messages(&b), ["while away"]);
    }

    #[test]
    fn encrypted_room_refused_once_and_not_read() {
        let mut w = World::new();
        let enc = json!({"type": "m.room.encryption", "sender": "@a:x", "state_key": "",
                         "content": {"algorithm": "m.megolm.v1.aes-sha2"}, "event_id": "$enc"});
        let r = response("!e:x", vec![member("@bot:x", "join"), enc.clone()], vec![]);
        let b = w.run(&r, Mode::Initial);
        let refused = b
            .events
            .iter()
            .filter(|e| matches!(e, MatrixEvent::Refused { .. }))
            .count();
        assert_eq!(refused, 1);
        let b = w.run(
            &response("!e:x", vec![], vec![text("@a:x", "clear?", "m.text"), enc]),
            Mode::Live,
        );
        assert!(b.events.is_empty(), "{:?}", b.events);
    }
}
