//! Batches end as their events applied one by one, part of `contract.rs` (its `Db`,
//! helpers and `contract!` macro). PostgreSQL writes a batch set-based (`pg::batch`: a
//! user's events in rounds, high-water marks and status folded per channel), so these are
//! the cases where that could differ: the same user several times in one batch, a join and
//! its leave in one batch (either order), replayed lines de-duplicated among other events,
//! media endings between chat lines, and a long mixed script compared event by event.

use rosey_model::payload::{StatusData, UserStatsReply};
use rosey_store::storage::Storage;
use rosey_store::{EventKind, StoreEvent};

use super::{CH, Db, ev, found, joined, left, msg};

/// `e` on `channel`, its id (if any) made that channel's own.
fn on(channel: &str, mut e: StoreEvent) -> StoreEvent {
    e.channel = channel.to_string();
    e.id = e.id.map(|id| format!("{channel}/{id}"));
    e
}

fn high_water(ts: i64, users: i64, connected: Option<i64>) -> StoreEvent {
    ev(
        ts,
        EventKind::HighWater {
            chat_count: users,
            connected_count: connected,
        },
    )
}

fn user_count(ts: i64, chat: i64, connected: i64) -> StoreEvent {
    ev(
        ts,
        EventKind::UserCount {
            chat_count: chat,
            connected_count: connected,
        },
    )
}

fn status(ts: i64, users: Option<i64>, title: Option<&str>, duration: Option<i64>) -> StoreEvent {
    ev(
        ts,
        EventKind::Status(StatusData {
            current_chat_users: users,
            current_media_title: title.map(str::to_string),
            current_media_duration: duration,
            ..Default::default()
        }),
    )
}

fn played(ts: i64, id: &str) -> StoreEvent {
    ev(
        ts,
        EventKind::MediaPlayed {
            media_type: "yt".into(),
            media_id: id.into(),
            title: format!("title {id}"),
            duration: 100,
            queued_by: Some("dj".into()),
        },
    )
}

fn ended(ts: i64, id: &str) -> StoreEvent {
    ev(
        ts,
        EventKind::MediaEnded {
            media_type: "yt".into(),
            media_id: id.into(),
            reason: rosey_model::media::END_SKIPPED.into(),
            played: None,
            started: None,
        },
    )
}

/// Everything a channel's rows say, ids left out (two channels share the tables).
fn snapshot(s: &mut Box<dyn Storage>, ch: &str, users: &[String]) -> String {
    let stats: Vec<UserStatsReply> = users.iter().map(|u| s.user_stats(ch, u).unwrap()).collect();
    let chat = s.recent_chat(ch, 10_000).unwrap();
    let counts = s.user_count_history(ch, 1e6, 10_000).unwrap();
    let media: Vec<_> = s
        .media_recent(ch, None, 1000)
        .unwrap()
        .into_iter()
        .map(|p| (p.timestamp, p.media_id, p.ended_at, p.end_reason, p.played))
        .collect();
    let item = s.media_item(ch, "yt", "m1", 10).unwrap().0;
    format!(
        "{stats:#?}\n{:#?}\n{:#?}\n{chat:#?}\n{counts:#?}\n{media:#?}\n{item:#?}",
        s.channel_stats(ch).unwrap(),
        s.current_status(ch).unwrap(),
    )
}

/// A user joins, chats, leaves, rejoins, chats and leaves again, all in one batch; another
/// user's leave comes before its join in the same batch (the join is stale).
fn the_same_user_twice_in_one_batch(db: &Db) {
    let mut s = db.open();
    let out = s
        .apply_batch(&[
            joined("a", 100),
            msg("a", "1", 101),
            msg("a", "2", 102),
            left("a", 110),
            left("b", 130),
            joined("a", 200),
            msg("a", "3", 205),
            joined("b", 120),
            left("a", 230),
            msg("b", "4", 125),
        ])
        .unwrap();
    assert_eq!((out.applied, out.failed.len()), (10, 0));
    let a = found(&mut s, "a");
    assert_eq!(
        (
            a.first_seen,
            a.last_seen,
            a.total_chat_lines,
            a.total_time_connected,
            a.current_session_start
        ),
        (100, 230, 3, 40, None)
    );
    let b = found(&mut s, "b");
    assert_eq!(
        (
            b.first_seen,
            b.total_chat_lines,
            b.total_time_connected,
            b.current_session_start
        ),
        (120, 1, 0, None),
        "the leave at 130 is the newest presence event: the join at 120 opens nothing"
    );
    // Join and leave of the same second in one batch: no session stays open.
    s.apply_batch(&[joined("c", 300), left("c", 300)]).unwrap();
    assert_eq!(found(&mut s, "c").current_session_start, None);
    assert_eq!(s.close_open_sessions(1000).unwrap(), 0);
}

/// Replayed lines (another id for a line already stored) are dropped in a batch that also
/// joins and counts, and the de-duplicated line does not count for its user.
fn replayed_lines_among_presence_in_one_batch(db: &Db) {
    let mut s = db.open();
    let line = |id: &str, user: &str, text: &str, ts: i64| {
        let mut e = msg(user, text, ts);
        e.id = Some(id.into());
        e
    };
    s.apply_batch(&[joined("a", 10), line("k1", "a", "hi", 11)])
        .unwrap();
    let out = s
        .apply_batch(&[
            line("k1", "a", "hi", 11),
            joined("b", 12),
            line("k2", "b", "yo", 13),
            line("k2", "b", "yo", 13),
            user_count(14, 2, 2),
            line("k3", "a", "again", 15),
            left("a", 16),
        ])
        .unwrap();
    assert_eq!((out.applied, out.duplicates), (5, 2));
    assert_eq!(found(&mut s, "a").total_chat_lines, 2);
    assert_eq!(found(&mut s, "b").total_chat_lines, 1);
    assert_eq!(found(&mut s, "a").total_time_connected, 6);
    let chat: Vec<_> = s
        .recent_chat(CH, 10)
        .unwrap()
        .into_iter()
        .map(|r| r.message)
        .collect();
    assert_eq!(chat, ["hi", "yo", "again"]);
}

/// High-water marks, user counts, status and media endings between chat lines in one batch
/// end as one by one: the mark keeps the time it was first reached, the status the newest
/// value of each field, a media title of `''` clears the duration, an ending closes the play
/// of the same batch.
fn marks_status_and_media_endings_in_one_batch(db: &Db) {
    let mut s = db.open();
    s.apply_batch(&[
        status(1, Some(3), Some("old"), Some(50)),
        high_water(1, 10, Some(20)),
    ])
    .unwrap();
    s.apply_batch(&[
        high_water(2, 8, None),
        msg("a", "1", 2),
        high_water(3, 12, Some(15)),
        played(3, "m1"),
        status(4, Some(4), Some(""), Some(99)),
        msg("a", "2", 4),
        high_water(5, 12, Some(25)),
        ended(6, "m1"),
        status(6, None, None, Some(70)),
        user_count(6, 4, 5),
        high_water(7, 11, Some(25)),
    ])
    .unwrap();
    let st = s.channel_stats(CH).unwrap();
    assert_eq!(
        (
            st.high_water_mark.users,
            st.high_water_mark.timestamp,
            st.high_water_connected.users,
            st.high_water_connected.timestamp
        ),
        (12, Some(3), 25, Some(5))
    );
    let cur = s.current_status(CH).unwrap().unwrap();
    assert_eq!(
        (
            cur.current_chat_users,
            cur.current_media_title,
            cur.current_media_duration,
            cur.last_updated
        ),
        (4, None, Some(70), Some(6))
    );
    let plays = s.media_recent(CH, None, 10).unwrap();
    assert_eq!((plays[0].ended_at, plays[0].played), (Some(6), Some(3)));
    assert_eq!(found(&mut s, "a").total_chat_lines, 2);
}

/// A long script of every batched kind — 6 users joining, chatting and leaving out of
/// order, the bot's and the server's lines, duplicates by id, marks, counts, status, media —
/// applied as one batch to one channel and event by event to another: every row the same.
fn a_batch_ends_as_its_events_one_by_one(db: &Db) {
    let mut s = db.open();
    let mut seed = 0x2545_f491_4f6c_dd1d_u64;
    let mut next = |n: u64| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed % n) as i64
    };
    let users: Vec<String> = (0..6).map(|i| format!("u{i}")).collect();
    let mut script = Vec::new();
    for i in 0..400 {
        let user = &users[next(6) as usize];
        let ts = 1000 + i / 3 + next(5) - 2;
        let mut e = match next(14) {
            0..=1 => joined(user, ts),
            2..=3 => left(user, ts),
            4..=7 => msg(user, &format!("line {i}"), ts),
            8 => ev(
                ts,
                EventKind::Message {
                    username: if next(2) == 0 { "Rosey" } else { "[server]" }.into(),
                    message: format!("note {i}"),
                    bot: true,
                },
            ),
            9 => high_water(ts, next(30), (next(3) > 0).then(|| next(40))),
            10 => user_count(ts, next(30), next(40)),
            11 => status(
                ts,
                (next(2) == 0).then(|| next(30)),
                [None, Some(""), Some("song")][next(3) as usize],
                (next(2) == 0).then(|| next(300)),
            ),
            12 => played(ts, &format!("m{}", next(2))),
            _ => ended(ts, &format!("m{}", next(2))),
        };
        // Some events carry an id, and some of those come twice.
        if next(4) == 0 {
            e.id = Some(format!("id{}", next(60)));
        }
        script.push(e);
    }
    let batch: Vec<_> = script.iter().map(|e| on("batch", e.clone())).collect();
    let batched = s.apply_batch(&batch).unwrap();
    let (mut applied, mut duplicates) = (0, 0);
    for e in &script {
        let o = s.apply(&on("single", e.clone())).unwrap();
        applied += o.applied;
        duplicates += o.duplicates;
        assert!(o.failed.is_empty(), "{o:?}");
    }
    assert!(batched.failed.is_empty(), "{batched:?}");
    assert_eq!((applied, duplicates), (batched.applied, batched.duplicates));
    assert!(duplicates > 0, "the script repeats ids");
    let mut all = users.clone();
    all.extend(["Rosey".to_string(), "[server]".to_string()]);
    assert_eq!(
        snapshot(&mut s, "batch", &all),
        snapshot(&mut s, "single", &all)
    );
}

contract!(
    the_same_user_twice_in_one_batch,
    replayed_lines_among_presence_in_one_batch,
    marks_status_and_media_endings_in_one_batch,
    a_batch_ends_as_its_events_one_by_one,
);
