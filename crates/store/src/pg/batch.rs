//! A batch's effects on PostgreSQL as a few set-based statements ([`Plan`]), so a batch
//! costs a few round trips whatever its mix of events, and ends exactly as applying its
//! events one by one in order would.
//!
//! Why it is exact:
//! - Each kind below writes tables no other kind writes, so statements of different kinds
//!   commute; only the order inside a kind matters, and it is kept:
//!   - chat rows (`recent_chat`) and user counts (`user_count_history`): one multi-row insert
//!     each, in event order (so ids keep event order);
//!   - high-water marks (`channel_stats`): folded per channel — the batch's highest value
//!     with the time of its first occurrence, and the newest update time — which is what the
//!     one-by-one updates leave (a mark only moves on a strictly higher value);
//!   - status (`current_status`): folded per channel — the newest value of each field, and
//!     whether a media title of `''` cleared the duration after which only newer durations
//!     count;
//!   - users (`user_presence`, `user_stats`: joins, leaves, counted chat lines): different
//!     users touch different rows, so only each user's own order matters. Each user's events
//!     become steps (a run of that user's chat lines between two presence events is one
//!     step: lines only add and move `last_seen` forward), and round `k` writes every
//!     user's `k`-th step, one statement per step kind. A round touches a user at most once
//!     (PostgreSQL's `ON CONFLICT` may not touch a row twice in one statement), and a batch
//!     costs as many rounds as its busiest user has steps.
//! - Every other event ([`Plan::others`]) touches none of those tables and is written by the
//!   caller, one by one in order.
//!
//! A join is one statement: its presence upsert (a data-modifying CTE) returns the users
//! whose join is the newest presence event, those open a session, the others are recorded
//! as seen (`crate::ingest`'s presence order). A leave likewise closes the sessions of the
//! users whose leave is the newest. The same statements with one row serve the one-by-one
//! slow path, so both paths share their SQL.

use std::collections::HashMap;

use postgres::GenericClient;
use rosey_model::payload::StatusData;

use super::{StatementCache, prep};
use crate::event::{EventKind, StoreEvent, is_server_name};

const SQL_JOINS: &str = "WITH t AS (\
       SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[]) AS t(c, n, ts)), \
     present AS (\
       INSERT INTO user_presence (channel, username, ts, present) SELECT c, n, ts, 1 FROM t \
       ON CONFLICT (channel, username) DO UPDATE SET ts = excluded.ts, present = 1 \
       WHERE excluded.ts > user_presence.ts \
          OR (excluded.ts = user_presence.ts AND user_presence.present = 1) \
       RETURNING channel, username), \
     opened AS (\
       INSERT INTO user_stats AS u (channel, username, first_seen, last_seen, \
         total_chat_lines, total_time_connected, current_session_start) \
       SELECT t.c, t.n, t.ts, t.ts, 0, 0, t.ts \
       FROM t JOIN present p ON p.channel = t.c AND p.username = t.n \
       ON CONFLICT (channel, username) DO UPDATE SET \
         total_time_connected = coalesce(u.total_time_connected, 0) + \
           CASE WHEN u.current_session_start IS NOT NULL \
                 AND excluded.last_seen > u.current_session_start \
                THEN excluded.last_seen - u.current_session_start ELSE 0 END, \
         last_seen = excluded.last_seen, \
         current_session_start = excluded.last_seen) \
     INSERT INTO user_stats AS u (channel, username, first_seen, last_seen, \
       total_chat_lines, total_time_connected, current_session_start) \
     SELECT c, n, ts, ts, 0, 0, NULL FROM t \
     WHERE NOT EXISTS (SELECT 1 FROM present p WHERE p.channel = t.c AND p.username = t.n) \
     ON CONFLICT (channel, username) DO UPDATE SET \
       first_seen = least(u.first_seen, excluded.first_seen)";

const SQL_LEAVES: &str = "WITH absent AS (\
       INSERT INTO user_presence (channel, username, ts, present) \
       SELECT c, n, ts, 0 FROM unnest($1::text[], $2::text[], $3::bigint[]) AS t(c, n, ts) \
       ON CONFLICT (channel, username) DO UPDATE SET ts = excluded.ts, present = 0 \
       WHERE excluded.ts >= user_presence.ts \
       RETURNING channel, username, ts) \
     UPDATE user_stats AS u SET \
       total_time_connected = coalesce(u.total_time_connected, 0) \
                              + greatest(0, a.ts - u.current_session_start), \
       last_seen = a.ts, \
       current_session_start = NULL \
     FROM absent a \
     WHERE u.channel = a.channel AND u.username = a.username \
       AND u.current_session_start IS NOT NULL";

/// One row per user: first ts (row creation), newest ts, line count.
const SQL_CHAT_LINES: &str = "INSERT INTO user_stats AS u (channel, username, first_seen, last_seen, \
     total_chat_lines, total_time_connected, current_session_start) \
     SELECT c, n, f, l, k, 0, NULL \
     FROM unnest($1::text[], $2::text[], $3::bigint[], $4::bigint[], $5::bigint[]) AS t(c, n, f, l, k) \
     ON CONFLICT (channel, username) DO UPDATE SET \
       total_chat_lines = coalesce(u.total_chat_lines, 0) + excluded.total_chat_lines, \
       last_seen = greatest(u.last_seen, excluded.last_seen)";

const SQL_RECENT_CHATS: &str = "INSERT INTO recent_chat (timestamp, username, message, channel) \
     SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[])";

const SQL_USER_COUNTS: &str = "INSERT INTO user_count_history \
     (timestamp, chat_users, connected_users, channel) \
     SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::text[])";

const SQL_CHANNEL_ROWS: &str = "INSERT INTO channel_stats (channel, max_users, max_connected) \
     SELECT c, 0, 0 FROM unnest($1::text[]) AS t(c) ON CONFLICT (channel) DO NOTHING";

/// All right-hand sides see the row as it was before the UPDATE.
const SQL_HIGH_WATERS: &str = "UPDATE channel_stats SET \
       max_users_timestamp = CASE WHEN t.u > coalesce(max_users, 0) THEN t.ut \
                                  ELSE max_users_timestamp END, \
       max_users = greatest(coalesce(max_users, 0), t.u), \
       max_connected_timestamp = CASE WHEN t.k > coalesce(max_connected, 0) THEN t.kt \
                                      ELSE max_connected_timestamp END, \
       max_connected = greatest(coalesce(max_connected, 0), t.k), \
       last_updated = t.last \
     FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::bigint[], $5::bigint[], \
                 $6::bigint[]) AS t(c, u, ut, k, kt, last) \
     WHERE channel = t.c";

const SQL_STATUS_ROW: &str =
    "INSERT INTO current_status (channel) VALUES ($1) ON CONFLICT (channel) DO NOTHING";

/// `$14`: a media title of `''` cleared the duration, and `$10` is what came after it.
const SQL_STATUS: &str = "UPDATE current_status SET \
       bot_name = coalesce($2::text, bot_name), \
       bot_rank = coalesce($3::float8, bot_rank), \
       bot_afk = coalesce($4::bigint, bot_afk), \
       channel_name = coalesce($5::text, channel_name), \
       current_chat_users = coalesce($6::bigint, current_chat_users), \
       current_connected_users = coalesce($7::bigint, current_connected_users), \
       playlist_items = coalesce($8::bigint, playlist_items), \
       current_media_title = CASE WHEN $9::text = '' THEN NULL \
                                  ELSE coalesce($9::text, current_media_title) END, \
       current_media_duration = CASE WHEN $14::bool THEN $10::bigint \
                                     ELSE coalesce($10::bigint, current_media_duration) END, \
       bot_start_time = coalesce($11::bigint, bot_start_time), \
       bot_connected = coalesce($12::bigint, bot_connected), \
       last_updated = $13::bigint \
     WHERE channel = $1";

/// One user's effect, in that user's order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    Join(i64),
    Leave(i64),
    /// Consecutive counted chat lines: first ts, newest ts, count.
    Lines(i64, i64, i64),
}

/// A channel's high-water marks of a batch: the highest values with the time each was first
/// reached, and the newest event's time.
struct HighWater<'a> {
    channel: &'a str,
    users: (i64, i64),
    connected: (i64, i64),
    last: i64,
}

/// A channel's status updates of a batch, folded.
struct Status<'a> {
    channel: &'a str,
    data: StatusData,
    /// A media title of `''` was among them: the duration is `data`'s (newer ones only).
    cleared_duration: bool,
    last: i64,
}

impl Status<'_> {
    fn fold(&mut self, s: &StatusData, ts: i64) {
        fn newest<T: Clone>(acc: &mut Option<T>, v: &Option<T>) {
            if v.is_some() {
                acc.clone_from(v);
            }
        }
        let d = &mut self.data;
        newest(&mut d.bot_name, &s.bot_name);
        newest(&mut d.bot_rank, &s.bot_rank);
        newest(&mut d.bot_afk, &s.bot_afk);
        newest(&mut d.channel_name, &s.channel_name);
        newest(&mut d.current_chat_users, &s.current_chat_users);
        newest(&mut d.current_connected_users, &s.current_connected_users);
        newest(&mut d.playlist_items, &s.playlist_items);
        newest(&mut d.current_media_title, &s.current_media_title);
        if s.current_media_title.as_deref() == Some("") {
            self.cleared_duration = true;
            d.current_media_duration = None;
        } else {
            newest(&mut d.current_media_duration, &s.current_media_duration);
        }
        newest(&mut d.bot_start_time, &s.bot_start_time);
        newest(&mut d.bot_connected, &s.bot_connected);
        self.last = ts;
    }
}

/// A batch's effects grouped into set-based statements (see the module doc).
#[derive(Default)]
pub(super) struct Plan<'a> {
    chat_ts: Vec<i64>,
    chat_user: Vec<&'a str>,
    chat_message: Vec<&'a str>,
    chat_channel: Vec<&'a str>,
    count_ts: Vec<i64>,
    count_chat: Vec<i64>,
    count_connected: Vec<i64>,
    count_channel: Vec<&'a str>,
    high_water: Vec<HighWater<'a>>,
    status: Vec<Status<'a>>,
    users: HashMap<(&'a str, &'a str), Vec<Step>>,
    /// Events of other kinds, in order, for the caller to write one by one.
    pub others: Vec<&'a StoreEvent>,
}

impl<'a> Plan<'a> {
    /// Adds the next event of the batch.
    pub fn push(&mut self, ev: &'a StoreEvent) {
        let (ch, ts) = (ev.channel.as_str(), ev.ts);
        match &ev.kind {
            EventKind::UserJoined { username } => self.step(ch, username, Step::Join(ts)),
            EventKind::UserLeft { username } => self.step(ch, username, Step::Leave(ts)),
            EventKind::Message {
                username,
                message,
                bot,
            } => {
                if !bot {
                    self.step(ch, username, Step::Lines(ts, ts, 1));
                }
                if !is_server_name(username) {
                    self.chat_ts.push(ts);
                    self.chat_user.push(username);
                    self.chat_message.push(message);
                    self.chat_channel.push(ch);
                }
            }
            EventKind::UserCount {
                chat_count,
                connected_count,
            } => {
                self.count_ts.push(ts);
                self.count_chat.push(*chat_count);
                self.count_connected.push(*connected_count);
                self.count_channel.push(ch);
            }
            EventKind::HighWater {
                chat_count,
                connected_count,
            } => {
                let (users, connected) = (*chat_count, connected_count.unwrap_or(0));
                match self.high_water.iter_mut().find(|h| h.channel == ch) {
                    Some(h) => {
                        if users > h.users.0 {
                            h.users = (users, ts);
                        }
                        if connected > h.connected.0 {
                            h.connected = (connected, ts);
                        }
                        h.last = ts;
                    }
                    None => self.high_water.push(HighWater {
                        channel: ch,
                        users: (users, ts),
                        connected: (connected, ts),
                        last: ts,
                    }),
                }
            }
            EventKind::Status(s) => {
                let i = match self.status.iter().position(|x| x.channel == ch) {
                    Some(i) => i,
                    None => {
                        self.status.push(Status {
                            channel: ch,
                            data: StatusData::default(),
                            cleared_duration: false,
                            last: ts,
                        });
                        self.status.len() - 1
                    }
                };
                self.status[i].fold(s, ts);
            }
            _ => self.others.push(ev),
        }
    }

    fn step(&mut self, channel: &'a str, username: &'a str, step: Step) {
        let steps = self.users.entry((channel, username)).or_default();
        match (steps.last_mut(), step) {
            (Some(Step::Lines(_, last, count)), Step::Lines(_, ts, 1)) => {
                *last = (*last).max(ts);
                *count += 1;
            }
            _ => steps.push(step),
        }
    }

    /// Writes everything but [`Plan::others`].
    pub fn write<C: GenericClient>(
        &mut self,
        c: &mut C,
        stmts: &mut StatementCache,
    ) -> Result<(), postgres::Error> {
        let mut exec =
            |c: &mut C, sql: &'static str, params: &[&(dyn postgres::types::ToSql + Sync)]| {
                let stmt = prep(c, stmts, sql)?;
                c.execute(&stmt, params)
            };
        if !self.chat_ts.is_empty() {
            exec(
                c,
                SQL_RECENT_CHATS,
                &[
                    &self.chat_ts,
                    &self.chat_user,
                    &self.chat_message,
                    &self.chat_channel,
                ],
            )?;
        }
        // A fixed order of users, so that concurrent services lock rows in the same order.
        let mut users: Vec<_> = self.users.drain().collect();
        users.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        let rounds = users.iter().map(|u| u.1.len()).max().unwrap_or(0);
        for round in 0..rounds {
            let (mut joins, mut leaves, mut lines) =
                (Rows::default(), Rows::default(), Rows::default());
            for &((channel, username), ref steps) in &users {
                match steps.get(round) {
                    Some(&Step::Join(ts)) => joins.push(channel, username, ts, None),
                    Some(&Step::Leave(ts)) => leaves.push(channel, username, ts, None),
                    Some(&Step::Lines(first, last, n)) => {
                        lines.push(channel, username, first, Some((last, n)))
                    }
                    None => {}
                }
            }
            if !joins.channel.is_empty() {
                exec(c, SQL_JOINS, &[&joins.channel, &joins.username, &joins.ts])?;
            }
            if !leaves.channel.is_empty() {
                exec(
                    c,
                    SQL_LEAVES,
                    &[&leaves.channel, &leaves.username, &leaves.ts],
                )?;
            }
            if !lines.channel.is_empty() {
                exec(
                    c,
                    SQL_CHAT_LINES,
                    &[
                        &lines.channel,
                        &lines.username,
                        &lines.ts,
                        &lines.last,
                        &lines.count,
                    ],
                )?;
            }
        }
        if !self.count_ts.is_empty() {
            exec(
                c,
                SQL_USER_COUNTS,
                &[
                    &self.count_ts,
                    &self.count_chat,
                    &self.count_connected,
                    &self.count_channel,
                ],
            )?;
        }
        if !self.high_water.is_empty() {
            let h = &self.high_water;
            let channels: Vec<&str> = h.iter().map(|h| h.channel).collect();
            let col = |f: fn(&HighWater) -> i64| h.iter().map(f).collect::<Vec<i64>>();
            exec(c, SQL_CHANNEL_ROWS, &[&channels])?;
            exec(
                c,
                SQL_HIGH_WATERS,
                &[
                    &channels,
                    &col(|h| h.users.0),
                    &col(|h| h.users.1),
                    &col(|h| h.connected.0),
                    &col(|h| h.connected.1),
                    &col(|h| h.last),
                ],
            )?;
        }
        for st in &self.status {
            let s = &st.data;
            exec(c, SQL_STATUS_ROW, &[&st.channel])?;
            exec(
                c,
                SQL_STATUS,
                &[
                    &st.channel,
                    &s.bot_name,
                    &s.bot_rank,
                    &s.bot_afk.map(i64::from),
                    &s.channel_name,
                    &s.current_chat_users,
                    &s.current_connected_users,
                    &s.playlist_items,
                    &s.current_media_title,
                    &s.current_media_duration,
                    &s.bot_start_time,
                    &s.bot_connected.map(i64::from),
                    &st.last,
                    &st.cleared_duration,
                ],
            )?;
        }
        Ok(())
    }
}

/// One round's rows of one step kind, as columns.
#[derive(Default)]
struct Rows<'a> {
    channel: Vec<&'a str>,
    username: Vec<&'a str>,
    ts: Vec<i64>,
    last: Vec<i64>,
    count: Vec<i64>,
}

impl<'a> Rows<'a> {
    fn push(&mut self, channel: &'a str, username: &'a str, ts: i64, lines: Option<(i64, i64)>) {
        self.channel.push(channel);
        self.username.push(username);
        self.ts.push(ts);
        if let Some((last, count)) = lines {
            self.last.push(last);
            self.count.push(count);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(ts: i64, kind: EventKind) -> StoreEvent {
        StoreEvent {
            channel: "c".into(),
            ts,
            id: None,
            kind,
        }
    }

    #[test]
    fn a_users_lines_between_presence_events_are_one_step() {
        let user = |k: fn(String) -> EventKind| k("u".into());
        let line = |ts| {
            ev(
                ts,
                EventKind::Message {
                    username: "u".into(),
                    message: "m".into(),
                    bot: false,
                },
            )
        };
        let events = [
            line(5),
            line(3),
            ev(10, user(|username| EventKind::UserJoined { username })),
            line(11),
            line(12),
            ev(20, user(|username| EventKind::UserLeft { username })),
            line(21),
        ];
        let mut plan = Plan::default();
        for e in &events {
            plan.push(e);
        }
        assert_eq!(
            plan.users[&("c", "u")],
            [
                Step::Lines(5, 5, 2),
                Step::Join(10),
                Step::Lines(11, 12, 2),
                Step::Leave(20),
                Step::Lines(21, 21, 1)
            ]
        );
        assert_eq!(plan.chat_ts, [5, 3, 11, 12, 21]);
    }

    #[test]
    fn high_water_and_status_fold_as_one_by_one() {
        let hw = |ts, users, connected| {
            ev(
                ts,
                EventKind::HighWater {
                    chat_count: users,
                    connected_count: connected,
                },
            )
        };
        let status = |ts, title: Option<&str>, duration: Option<i64>| {
            ev(
                ts,
                EventKind::Status(StatusData {
                    current_media_title: title.map(str::to_string),
                    current_media_duration: duration,
                    ..Default::default()
                }),
            )
        };
        let events = [
            hw(1, 5, Some(2)),
            hw(2, 7, None),
            hw(3, 7, Some(9)),
            hw(4, 6, Some(9)),
            status(5, Some("a"), Some(60)),
            status(6, Some(""), Some(30)),
            status(7, None, Some(40)),
            status(8, None, None),
        ];
        let mut plan = Plan::default();
        for e in &events {
            plan.push(e);
        }
        let h = &plan.high_water[0];
        assert_eq!((h.users, h.connected, h.last), ((7, 2), (9, 3), 4));
        let s = &plan.status[0];
        assert_eq!(s.data.current_media_title.as_deref(), Some(""));
        assert_eq!(s.data.current_media_duration, Some(40));
        assert!(s.cleared_duration);
        assert_eq!(s.last, 8);
    }
}
