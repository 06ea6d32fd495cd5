//! The client's view of one room, built from its state events: joined members, power
//! levels (with room-version-12 creators), alias, whether it is encrypted or direct. Pure:
//! [`RoomView::apply_state`] takes one state event and says what changed.

use std::collections::{BTreeMap, BTreeSet};

use ruma::events::room::member::{MembershipState, RoomMemberEventContent};
use ruma::events::room::power_levels::RoomPowerLevelsEventContent;
use serde::Deserialize;
use serde_json::Value;

use crate::event::{LeaveReason, Member};
use crate::rank::RankMap;

/// One event as it comes in a sync (timeline, state or stripped invite state): the envelope
/// is read here, the content by its type with ruma's content types.
#[derive(Debug, Clone, Deserialize)]
pub struct Envelope {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub sender: String,
    #[serde(default)]
    pub event_id: Option<String>,
    #[serde(default)]
    pub state_key: Option<String>,
    #[serde(default)]
    pub origin_server_ts: Option<u64>,
    #[serde(default)]
    pub content: Value,
}

/// What one state event changed.
#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    Joined(String),
    Left(String, LeaveReason),
    /// `(user, new power)` for every user whose power changed.
    Power(Vec<(String, i64)>),
    Encrypted,
    Nothing,
}

/// What the client knows about a room.
#[derive(Debug, Clone, Default)]
pub struct RoomView {
    pub alias: Option<String>,
    pub direct: bool,
    pub encrypted: bool,
    /// The encryption refusal was reported (once per room).
    pub refused: bool,
    /// Joined members and their display names.
    members: BTreeMap<String, Option<String>>,
    users_power: BTreeMap<String, i64>,
    users_default: i64,
    /// Creators with unlimited power (room version 12 and later).
    creators: BTreeSet<String>,
}

/// Room versions whose creators have unlimited power (MSC4289).
fn creators_unlimited(version: &str) -> bool {
    version.parse::<u32>().is_ok_and(|v| v >= 12)
}

impl RoomView {
    /// A user's power level.
    pub fn power(&self, user: &str) -> i64 {
        if self.creators.contains(user) {
            return i64::MAX;
        }
        self.users_power
            .get(user)
            .copied()
            .unwrap_or(self.users_default)
    }

    pub fn member(&self, user: &str, ranks: &RankMap) -> Member {
        let power = self.power(user);
        Member {
            user_id: user.to_string(),
            display_name: self.members.get(user).cloned().flatten(),
            power,
            rank: ranks.rank(power),
        }
    }

    pub fn members(&self, ranks: &RankMap) -> Vec<Member> {
        self.members.keys().map(|u| self.member(u, ranks)).collect()
    }

    pub fn is_member(&self, user: &str) -> bool {
        self.members.contains_key(user)
    }

    /// Applies one state event.
    pub fn apply_state(&mut self, ev: &Envelope) -> Change {
        let Some(key) = ev.state_key.as_deref() else {
            return Change::Nothing;
        };
        match ev.kind.as_str() {
            "m.room.member" => {
                let Ok(c) = serde_json::from_value::<RoomMemberEventContent>(ev.content.clone())
                else {
                    return Change::Nothing;
                };
                let was = self.members.contains_key(key);
                match c.membership {
                    MembershipState::Join => {
                        self.members.insert(key.to_string(), c.displayname);
                        if was {
                            Change::Nothing
                        } else {
                            Change::Joined(key.to_string())
                        }
                    }
                    MembershipState::Leave | MembershipState::Ban => {
                        if self.members.remove(key).is_none() {
                            return Change::Nothing;
                        }
                        let by = ev.sender.clone();
                        let reason = c.reason;
                        let why = if c.membership == MembershipState::Ban {
                            LeaveReason::Banned { by, reason }
                        } else if ev.sender != key {
                            LeaveReason::Kicked { by, reason }
                        } else {
                            LeaveReason::Left
                        };
                        Change::Left(key.to_string(), why)
                    }
                    _ => Change::Nothing,
                }
            }
            "m.room.power_levels" => {
                let Ok(c) =
                    serde_json::from_value::<RoomPowerLevelsEventContent>(ev.content.clone())
                else {
                    return Change::Nothing;
                };
                let mut users: BTreeSet<String> = self.users_power.keys().cloned().collect();
                users.extend(self.members.keys().cloned());
                let before: Vec<(String, i64)> =
                    users.iter().map(|u| (u.clone(), self.power(u))).collect();
                self.users_power = c
                    .users
                    .iter()
                    .map(|(u, p)| (u.to_string(), i64::from(*p)))
                    .collect();
                self.users_default = i64::from(c.users_default);
                let mut changed = Vec::new();
                let mut all: BTreeSet<String> = users;
                all.extend(self.users_power.keys().cloned());
                for u in all {
                    let old = before
                        .iter()
                        .find(|(b, _)| *b == u)
                        .map_or(self.users_default, |(_, p)| *p);
                    let new = self.power(&u);
                    if old != new {
                        changed.push((u, new));
                    }
                }
                Change::Power(changed)
            }
            "m.room.create" => {
                let version = ev.content["room_version"].as_str().unwrap_or("1");
                if creators_unlimited(version) {
                    self.creators.insert(ev.sender.clone());
                    for c in ev.content["additional_creators"]
                        .as_array()
                        .into_iter()
                        .flatten()
                    {
                        if let Some(c) = c.as_str() {
                            self.creators.insert(c.to_string());
                        }
                    }
                }
                Change::Nothing
            }
            "m.room.canonical_alias" => {
                self.alias = ev.content["alias"].as_str().map(str::to_string);
                Change::Nothing
            }
            "m.room.encryption" => {
                if self.encrypted {
                    Change::Nothing
                } else {
                    self.encrypted = true;
                    Change::Encrypted
                }
            }
            _ => Change::Nothing,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn state(kind: &str, sender: &str, key: &str, content: Value) -> Envelope {
        serde_json::from_value(json!({
            "type": kind, "sender": sender, "state_key": key, "content": content,
            "event_id": "$e", "origin_server_ts": 1
        }))
        .unwrap()
    }

    #[test]
    fn members_join_leave_kick_ban() {
        let mut r = RoomView::default();
        let join = |u: &str| state("m.room.member", u, u, json!({"membership": "join"}));
        assert_eq!(r.apply_state(&join("@a:x")), Change::Joined("@a:x".into()));
        assert_eq!(r.apply_state(&join("@a:x")), Change::Nothing);
        r.apply_state(&join("@b:x"));
        r.apply_state(&join("@c:x"));
        let leave = state(
            "m.room.member",
            "@a:x",
            "@a:x",
            json!({"membership": "leave"}),
        );
        assert_eq!(
            r.apply_state(&leave),
            Change::Left("@a:x".into(), LeaveReason::Left)
        );
        let kick = state(
            "m.room.member",
            "@m:x",
            "@b:x",
            json!({"membership": "leave", "reason": "spam"}),
        );
        assert_eq!(
            r.apply_state(&kick),
            Change::Left(
                "@b:x".into(),
                LeaveReason::Kicked {
                    by: "@m:x".into(),
                    reason: Some("spam".into())
                }
            )
        );
        let ban = state(
            "m.room.member",
            "@m:x",
            "@c:x",
            json!({"membership": "ban"}),
        );
        assert!(matches!(
            r.apply_state(&ban),
            Change::Left(_, LeaveReason::Banned { .. })
        ));
        assert!(r.members(&RankMap::default()).is_empty());
    }

    #[test]
    fn power_levels_and_creators() {
        let mut r = RoomView::default();
        r.apply_state(&state(
            "m.room.create",
            "@owner:x",
            "",
            json!({"room_version": "12"}),
        ));
        r.apply_state(&state(
            "m.room.member",
            "@mod:x",
            "@mod:x",
            json!({"membership": "join"}),
        ));
        let pl = |users: Value| {
            state(
                "m.room.power_levels",
                "@owner:x",
                "",
                json!({"users": users}),
            )
        };
        assert_eq!(
            r.apply_state(&pl(json!({"@mod:x": 50}))),
            Change::Power(vec![("@mod:x".into(), 50)])
        );
        assert_eq!(r.power("@owner:x"), i64::MAX);
        assert_eq!(r.power("@nobody:x"), 0);
        let ranks = RankMap::default();
        assert_eq!(r.member("@mod:x", &ranks).rank, 2.0);
        assert_eq!(
            r.apply_state(&pl(json!({}))),
            Change::Power(vec![("@mod:x".into(), 0)])
        );
    }

    #[test]
    fn old_room_versions_have_no_unlimited_creators() {
        let mut r = RoomView::default();
        r.apply_state(&state(
            "m.room.create",
            "@owner:x",
            "",
            json!({"room_version": "10"}),
        ));
        r.apply_state(&state(
            "m.room.power_levels",
            "@owner:x",
            "",
            json!({"users": {"@owner:x": 100}}),
        ));
        assert_eq!(r.power("@owner:x"), 100);
    }

    #[test]
    fn encryption_changes_once() {
        let mut r = RoomView::default();
        let e = state(
            "m.room.encryption",
            "@a:x",
            "",
            json!({"algorithm": "m.megolm.v1.aes-sha2"}),
        );
        assert_eq!(r.apply_state(&e), Change::Encrypted);
        assert_eq!(r.apply_state(&e), Change::Nothing);
        assert!(r.encrypted);
    }
}
