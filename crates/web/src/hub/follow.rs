//! How the hub follows what only the bot knows, kept apart from the event folding: the
//! playlist as `playlist_change` events tell it (count, nothing playing once empty, the
//! bot's "Up next" when the event carries it), the stored status row where it is newer than
//! the events, the bot's status (its state, and the users with their ranks until a
//! `user_list` event arrives), the bot's presence ageing out to `gone`, and what
//! `/api/current` lays over the stored row ([`Overview`]).

use std::time::Duration;

use serde_json::{Value, json};

use super::{Live, LiveUser, Media};

/// What `/api/current` lays over the stored status row.
#[derive(Debug, Clone)]
pub struct Overview {
    /// The bot's state word (`running`, …, or `gone`).
    pub bot_state: String,
    pub bot_gone: bool,
    pub playlist_items: Option<i64>,
    /// The media as the events left it (`None` outside: not known from events).
    pub media: Option<Option<Media>>,
}

impl Overview {
    /// The live values over a stored status row (nothing over an empty one).
    pub fn overlay(&self, status: &mut Value) {
        let Some(row) = status.as_object_mut().filter(|o| !o.is_empty()) else {
            return;
        };
        if self.bot_gone {
            row.insert("bot_connected".into(), json!(false));
        }
        if let Some(n) = self.playlist_items {
            row.insert("playlist_items".into(), json!(n));
        }
        if let Some(media) = &self.media {
            let (title, duration) = match media {
                Some(m) => (json!(m.title), json!(m.duration)),
                None => (Value::Null, Value::Null),
            };
            row.insert("current_media_title".into(), title);
            row.insert("current_media_duration".into(), duration);
        }
    }
}

impl Live {
    /// A playlist change: the count (the event's `count` when it has one; else counted
    /// from the last known one), and nothing playing or up next once the list is empty.
    /// The bot may send the playlist as it is after the change with every such event
    /// (`count`, `current`: `{uid, title}` or null, `upcoming`): then those are taken.
    pub(super) fn playlist_change(&mut self, ts: f64, action: &str, data: &Value) {
        if let Some(next) = data.get("upcoming").filter(|u| u.is_array()) {
            if !self.bot.is_object() {
                self.bot = json!({});
            }
            self.bot["upcoming"] = next.clone();
        }
        if data.get("current").is_some_and(Value::is_null) {
            self.media = None;
            self.media_at = ts;
        }
        let count = data.get("count").and_then(Value::as_i64);
        let items = match (action, count) {
            (_, Some(n)) => Some(n.max(0)),
            ("clear", _) => Some(0),
            ("queue", _) => self.playlist_items.map(|n| n + 1),
            ("delete", _) => self.playlist_items.map(|n| (n - 1).max(0)),
            _ => self.playlist_items,
        };
        self.playlist_items = items;
        self.playlist_at = ts;
        if items == Some(0) {
            self.media = None;
            self.media_at = ts;
            if let Some(next) = self.bot.get_mut("upcoming") {
                *next = json!([]);
            }
        }
    }

    /// The stored status row, where it is newer than what the events said.
    pub(super) fn adopt_row(&mut self, row: &rosey_model::web::CurrentStatus) {
        let at = row.last_updated.unwrap_or(0) as f64;
        if self.bot_gone {
            return;
        }
        if at >= self.playlist_at {
            self.playlist_items = Some(row.playlist_items);
            self.playlist_at = at;
        }
        if at >= self.media_at {
            // Nothing playing: no title, or an empty one.
            match row.current_media_title.as_ref().filter(|t| !t.is_empty()) {
                None => self.media = None,
                Some(t) if self.media.as_ref().is_some_and(|m| &m.title == t) => {}
                Some(t) => {
                    self.media = Some(Media {
                        title: t.clone(),
                        duration: row.current_media_duration.unwrap_or(0),
                        started: None,
                    })
                }
            }
            self.media_at = at;
        }
    }

    /// The bot's status (its discovery answer for this channel): its state, and its users
    /// while no `user_list` event told them.
    pub(super) fn adopt_bot(&mut self, mut bot: Value) {
        let users = bot
            .as_object_mut()
            .and_then(|o| o.remove("users"))
            .unwrap_or_default();
        let users: Vec<LiveUser> = users
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|u| {
                let name = u["name"].as_str()?;
                Some(LiveUser::new(name, u["rank"].as_f64(), u["afk"] == true))
            })
            .collect();
        if !self.users_from_events && !users.is_empty() {
            self.users = users;
            self.sort_users();
        }
        self.bot = bot;
    }

    /// Ages the bot's presence out: `gone` (and what only a present bot knows cleared) once
    /// its newest sign of life is older than `after`; present again once there is a new one.
    pub(super) fn age(&mut self, now: f64, after: Duration) {
        let gone = self
            .bot_seen
            .is_none_or(|seen| now - seen > after.as_secs_f64());
        if gone && !self.bot_gone {
            self.users.clear();
            self.users_from_events = false;
            self.media = None;
            self.connected = None;
            self.playlist_items = None;
            self.connection = "gone".into();
            self.connection_detail.clear();
        }
        if gone {
            self.bot = json!({
                "state": "gone",
                "detail": format!("no word from a bot for {} s", after.as_secs()),
            });
        } else if self.bot_gone {
            self.bot = Value::Null;
            self.connection = "unknown".into();
        }
        self.bot_gone = gone;
    }

    /// The bot's state word: what its status said, else the last connection event.
    pub(super) fn bot_state(&self) -> String {
        self.bot["state"]
            .as_str()
            .unwrap_or(&self.connection)
            .to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hub::ChannelHub;
    use crate::hub::tests::user;
    use rosey_model::EventBody;

    fn playlist(action: &str, data: Value) -> EventBody {
        EventBody::PlaylistChange {
            action: action.into(),
            data,
        }
    }

    #[test]
    fn playlist_changes_fold_in_as_they_come() {
        let mut live = Live {
            bot: json!({"state": "running", "upcoming": [{"title": "B"}]}),
            ..Default::default()
        };
        live.apply(
            3.5,
            &EventBody::MediaChange {
                title: "A".into(),
                media_type: "yt".into(),
                media_id: "a".into(),
                duration: 60,
            },
        );
        live.apply(1.0, &playlist("playlist", json!({"count": 2})));
        assert_eq!(live.playlist_items, Some(2));
        live.apply(2.0, &playlist("queue", json!({"uid": 3})));
        assert_eq!(live.playlist_items, Some(3));
        live.apply(3.0, &playlist("move", json!({"uid": 3})));
        assert_eq!(live.playlist_items, Some(3));
        live.apply(4.0, &playlist("delete", json!({"uid": 3})));
        assert_eq!(live.playlist_items, Some(2));
        assert_eq!(live.media.as_ref().unwrap().title, "A");
        // An older status row does not undo what the events said ...
        let mut row = rosey_model::web::CurrentStatus {
            playlist_items: 7,
            current_media_title: Some("old".into()),
            last_updated: Some(3),
            ..Default::default()
        };
        live.adopt_row(&row);
        assert_eq!(live.playlist_items, Some(2));
        assert_eq!(live.media.as_ref().unwrap().title, "A");
        // The bot's summary with the event: its "Up next" and "nothing current" are taken.
        live.apply(
            4.5,
            &playlist(
                "delete",
                json!({"uid": 3, "count": 2, "current": {"uid": 1, "title": "A"},
                       "upcoming": [{"title": "C", "duration": "01:00", "queued_by": "x"}]}),
            ),
        );
        assert_eq!(live.bot["upcoming"][0]["title"], "C");
        assert_eq!(live.bot["state"], "running");
        assert_eq!(live.media.as_ref().unwrap().title, "A");
        // ... a cleared playlist: nothing plays, nothing is up next.
        live.apply(5.0, &playlist("playlist", json!({"count": 0})));
        assert_eq!(live.playlist_items, Some(0));
        assert!(live.media.is_none());
        assert_eq!(live.bot["upcoming"], json!([]));
        // A newer row wins; an empty title is nothing playing.
        row.current_media_title = Some(String::new());
        row.last_updated = Some(6);
        live.adopt_row(&row);
        assert!(live.media.is_none());
        row.current_media_title = Some("old".into());
        row.last_updated = Some(7);
        live.adopt_row(&row);
        assert_eq!(live.playlist_items, Some(7));
        assert_eq!(live.media.as_ref().unwrap().title, "old");
        let o = ChannelHub::new("c");
        *o.live.lock().unwrap() = live;
        let mut status =
            json!({"playlist_items": 1, "current_media_title": "x", "bot_connected": true});
        o.overview().overlay(&mut status);
        assert_eq!(status["playlist_items"], 7);
        assert_eq!(status["current_media_title"], "old");
        let mut empty = json!({});
        o.overview().overlay(&mut empty);
        assert_eq!(empty, json!({}), "no row stays {{}}");
    }

    #[test]
    fn users_and_ranks_come_from_the_bots_status_until_a_user_list() {
        let mut live = Live {
            users: vec![LiveUser::new("Rosey", None, false)],
            ..Default::default()
        };
        let status = json!({"state": "running", "users": [
            {"name": "alice", "rank": 0.0, "afk": false},
            {"name": "Rosey", "rank": 3.0, "afk": false},
        ]});
        live.adopt_bot(status.clone());
        let shown: Vec<(&str, &str)> = live
            .users
            .iter()
            .map(|u| (u.name.as_str(), u.rank_name))
            .collect();
        assert_eq!(shown, [("Rosey", "channel admin"), ("alice", "guest")]);
        assert!(live.bot.get("users").is_none(), "not sent twice");
        live.apply(
            1.0,
            &EventBody::UserList {
                users: vec![user("bob", 5.0)],
                count: 1,
            },
        );
        live.adopt_bot(status);
        assert_eq!(live.users.len(), 1, "the event's list stands");
        assert_eq!(live.users[0].rank_name, "founder");
    }

    #[test]
    fn a_silent_bot_ages_out_and_comes_back() {
        let after = Duration::from_secs(30);
        let mut live = Live::default();
        live.age(100.0, after);
        assert!(live.bot_gone, "never heard of");
        live.apply(
            100.0,
            &EventBody::UserList {
                users: vec![user("bob", 1.0)],
                count: 1,
            },
        );
        live.apply(
            100.0,
            &EventBody::MediaChange {
                title: "A".into(),
                media_type: "yt".into(),
                media_id: "a".into(),
                duration: 60,
            },
        );
        live.age(110.0, after);
        assert!(!live.bot_gone, "an event is a sign of life");
        live.bot = json!({"state": "running"});
        live.age(129.0, after);
        assert!(!live.bot_gone);
        live.age(131.0, after);
        assert!(live.bot_gone);
        assert_eq!(live.bot["state"], "gone");
        assert!(live.users.is_empty() && live.media.is_none());
        live.bot_seen = Some(140.0);
        live.age(141.0, after);
        assert!(!live.bot_gone);
        assert_eq!(live.bot, Value::Null);
    }
}
