//! The store on real SQLite files: every event's effect, every query's shape, v0.5
//! adoption, migrations, retention, de-duplication and the outbound queue.

use rosey_model::payload::{StatusData, UserStatsReply};
use rosey_store::{
    EventKind, OutboundStatus, Retention, SCHEMA_VERSION, Store, StoreEvent, StoreOptions,
};
use rusqlite::{Connection, params};

const CH: &str = "chan";

fn open(dir: &tempfile::TempDir) -> Store {
    Store::open(
        dir.path().join("bot_data.db"),
        &StoreOptions::with_channel(CH),
    )
    .unwrap()
}

fn ev(ts: i64, kind: EventKind) -> StoreEvent {
    StoreEvent {
        channel: CH.to_string(),
        ts,
        id: None,
        kind,
    }
}

fn joined(u: &str, ts: i64) -> StoreEvent {
    ev(ts, EventKind::UserJoined { username: u.into() })
}
fn left(u: &str, ts: i64) -> StoreEvent {
    ev(ts, EventKind::UserLeft { username: u.into() })
}
fn msg(u: &str, m: &str, ts: i64) -> StoreEvent {
    ev(
        ts,
        EventKind::Message {
            username: u.into(),
            message: m.into(),
        },
    )
}

fn found(store: &Store, u: &str) -> rosey_model::payload::UserStatsFound {
    match store.user_stats(CH, u).unwrap() {
        UserStatsReply::Found(f) => f,
        other => panic!("expected {u} to be found, got {other:?}"),
    }
}

#[test]
fn join_leave_rejoin_accumulates_time_and_closes_open_sessions() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = open(&dir);
    s.apply(&joined("alice", 100)).unwrap();
    let f = found(&s, "alice");
    assert_eq!(
        (
            f.first_seen,
            f.last_seen,
            f.current_session_start,
            f.total_time_connected
        ),
        (100, 100, Some(100), 0)
    );
    s.apply(&left("alice", 160)).unwrap();
    let f = found(&s, "alice");
    assert_eq!(
        (f.last_seen, f.current_session_start, f.total_time_connected),
        (160, None, 60)
    );
    // A second leave without an open session changes nothing.
    s.apply(&left("alice", 500)).unwrap();
    assert_eq!(found(&s, "alice").total_time_connected, 60);
    // Rejoin while a session is open: the open one is closed first (its time is added).
    s.apply_batch(&[joined("alice", 1000), joined("alice", 1030)])
        .unwrap();
    let f = found(&s, "alice");
    assert_eq!(f.first_seen, 100);
    assert_eq!(f.total_time_connected, 90);
    assert_eq!(f.current_session_start, Some(1030));
    assert_eq!(f.last_seen, 1030);
}

#[test]
fn message_counts_lines_creates_missing_users_and_keeps_recent_chat() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = open(&dir);
    let out = s
        .apply_batch(&[
            msg("bob", "hi", 10),
            msg("bob", "again", 11),
            msg("server", "x joined", 12),
            msg("[server]", "y joined", 13),
            msg("", "nobody", 14),
            msg("carol", "", 15),
        ])
        .unwrap();
    assert_eq!((out.applied, out.dropped), (4, 2));
    let bob = found(&s, "bob");
    assert_eq!(bob.total_chat_lines, 2);
    assert_eq!(bob.first_seen, 10, "a chatter without a row gets one");
    assert_eq!(bob.current_session_start, Some(10));
    assert_eq!(found(&s, "server").total_chat_lines, 1);
    assert!(matches!(
        s.user_stats(CH, "carol").unwrap(),
        UserStatsReply::NotFound(_)
    ));
    let chat = s.recent_chat(CH, 50).unwrap();
    let lines: Vec<_> = chat
        .iter()
        .map(|r| (r.timestamp, r.username.as_str(), r.message.as_str()))
        .collect();
    assert_eq!(lines, vec![(10, "bob", "hi"), (11, "bob", "again")]);
}

#[test]
fn recent_chat_returns_newest_in_chronological_order_per_channel() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = open(&dir);
    let mut batch: Vec<_> = (0..20)
        .map(|i| msg("u", &format!("m{i}"), 100 + i))
        .collect();
    let mut other = msg("u", "elsewhere", 500);
    other.channel = "other".into();
    batch.push(other);
    s.apply_batch(&batch).unwrap();
    let rows = s.recent_chat(CH, 5).unwrap();
    let texts: Vec<_> = rows.iter().map(|r| r.message.as_str()).collect();
    assert_eq!(texts, ["m15", "m16", "m17", "m18", "m19"]);
    assert_eq!(s.recent_chat("other", 50).unwrap().len(), 1);
    assert!(s.recent_chat(CH, 0).unwrap().is_empty());
}

#[test]
fn user_count_history_and_window() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = open(&dir);
    let now = 1_000_000;
    s.apply_batch(&[
        ev(
            now - 30 * 3600,
            EventKind::UserCount {
                chat_count: 1,
                connected_count: 2,
            },
        ),
        ev(
            now - 3600,
            EventKind::UserCount {
                chat_count: 3,
                connected_count: 4,
            },
        ),
    ])
    .unwrap();
    let rows = s.user_count_history(CH, 24.0, now).unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(
        (
            rows[0].timestamp,
            rows[0].chat_users,
            rows[0].connected_users
        ),
        (now - 3600, 3, 4)
    );
    assert_eq!(s.user_count_history(CH, 48.0, now).unwrap().len(), 2);
}

#[test]
fn high_water_only_rises_and_zero_connected_never_updates() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = open(&dir);
    let hw = |c, k: Option<i64>, ts| {
        ev(
            ts,
            EventKind::HighWater {
                chat_count: c,
                connected_count: k,
            },
        )
    };
    s.apply_batch(&[
        hw(5, Some(8), 10),
        hw(3, Some(0), 20),
        hw(7, None, 30),
        hw(6, Some(9), 40),
    ])
    .unwrap();
    let st = s.channel_stats(CH).unwrap();
    assert_eq!(
        (st.high_water_mark.users, st.high_water_mark.timestamp),
        (7, Some(30))
    );
    assert_eq!(
        (
            st.high_water_connected.users,
            st.high_water_connected.timestamp
        ),
        (9, Some(40))
    );
    // Another channel has its own row.
    let mut e = hw(2, Some(2), 50);
    e.channel = "two".into();
    s.apply(&e).unwrap();
    assert_eq!(s.channel_stats("two").unwrap().high_water_mark.users, 2);
    assert_eq!(s.channel_stats(CH).unwrap().high_water_mark.users, 7);
}

#[test]
fn status_update_writes_listed_keys_only() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = open(&dir);
    let first = StatusData {
        bot_name: Some("Rosey".into()),
        bot_rank: Some(3.0),
        bot_afk: Some(false),
        current_chat_users: Some(4),
        current_connected_users: Some(9),
        bot_connected: Some(true),
        ..Default::default()
    };
    s.apply(&ev(100, EventKind::Status(first))).unwrap();
    let partial = StatusData {
        current_chat_users: Some(5),
        current_media_title: Some("Song".into()),
        ..Default::default()
    };
    s.apply(&ev(110, EventKind::Status(partial))).unwrap();
    let row: (String, f64, i64, i64, i64, String, i64) = s
        .connection()
        .query_row(
            "SELECT bot_name, bot_rank, current_chat_users, current_connected_users,
                    bot_connected, current_media_title, last_updated
             FROM current_status WHERE channel = ?1",
            [CH],
            |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                    r.get(6)?,
                ))
            },
        )
        .unwrap();
    assert_eq!(row, ("Rosey".into(), 3.0, 5, 9, 1, "Song".into(), 110));
    let st = s.channel_stats(CH).unwrap();
    assert_eq!((st.current.chat_users, st.current.connected_users), (5, 9));
}

#[test]
fn channel_stats_top_chatters_and_users_seen() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = open(&dir);
    let mut batch = vec![joined("lurker", 1)];
    for (i, name) in ["a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k", "l"]
        .iter()
        .enumerate()
    {
        for _ in 0..=i {
            batch.push(msg(name, "x", 2));
        }
    }
    s.apply_batch(&batch).unwrap();
    let st = s.channel_stats(CH).unwrap();
    assert!(st.success);
    assert_eq!(st.total_users_seen, 13);
    assert_eq!(st.top_chatters.len(), 10);
    assert_eq!(st.top_chatters[0].username, "l");
    assert_eq!(st.top_chatters[0].chat_lines, 12);
    assert!(st.top_chatters.iter().all(|t| t.chat_lines > 0));
    let v = serde_json::to_value(&st).unwrap();
    for key in [
        "success",
        "high_water_mark",
        "high_water_connected",
        "top_chatters",
        "total_users_seen",
        "current",
    ] {
        assert!(v.get(key).is_some(), "missing {key} in {v}");
    }
}

#[test]
fn pm_command_and_media_rows() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = open(&dir);
    s.apply_batch(&[
        ev(
            5,
            EventKind::PmCommand {
                username: "mod".into(),
                command: "kick".into(),
                args: "bob spam".into(),
                result: "error".into(),
                error: Some("not allowed".into()),
            },
        ),
        ev(
            6,
            EventKind::MediaPlayed {
                media_type: "yt".into(),
                media_id: "abc".into(),
                title: "T".into(),
                duration: 61,
                queued_by: Some("bob".into()),
            },
        ),
    ])
    .unwrap();
    let (ts, user, at, details, ch): (i64, String, String, String, String) = s
        .connection()
        .query_row(
            "SELECT timestamp, username, action_type, details, channel FROM user_actions",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
        )
        .unwrap();
    assert_eq!(
        (ts, user.as_str(), at.as_str(), ch.as_str()),
        (5, "mod", "pm_command", CH)
    );
    assert_eq!(
        details,
        "cmd=kick, args: bob spam, result: error, error: not allowed"
    );
    let media: (String, String, String, i64, String) = s
        .connection()
        .query_row(
            "SELECT media_type, media_id, title, duration, queued_by FROM media_history",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
        )
        .unwrap();
    assert_eq!(
        media,
        ("yt".into(), "abc".into(), "T".into(), 61, "bob".into())
    );
}

#[test]
fn outbound_queue_backoff_sent_and_failed() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = open(&dir);
    let t0 = 10_000;
    let a = s.enqueue(CH, "first", t0).unwrap();
    let b = s.enqueue(CH, "second", t0 + 1).unwrap();
    let c = s.enqueue("other", "elsewhere", t0).unwrap();
    let due = s.due(CH, 50, 3, t0 + 1).unwrap();
    assert_eq!(due.iter().map(|r| r.id).collect::<Vec<_>>(), [a, b]);
    assert_eq!(due[0].message, "first");
    assert_eq!(s.due("other", 50, 3, t0).unwrap()[0].id, c);

    // a fails once (transient): due again 2 minutes after enqueue, not before.
    s.apply(&ev(
        t0 + 5,
        EventKind::MarkFailed {
            message_id: a,
            error: "timeout".into(),
            permanent: false,
        },
    ))
    .unwrap();
    assert_eq!(
        s.outbound_status(a).unwrap(),
        Some(OutboundStatus::Retrying)
    );
    assert!(
        s.due(CH, 50, 3, t0 + 119)
            .unwrap()
            .iter()
            .all(|r| r.id != a)
    );
    let again = s.due(CH, 50, 3, t0 + 120).unwrap();
    let ra = again.iter().find(|r| r.id == a).unwrap();
    assert_eq!(
        (ra.retry_count, ra.last_error.as_deref()),
        (1, Some("timeout"))
    );
    // A second failure pushes it to 4 minutes.
    s.mark_failed(a, "timeout", false, t0 + 130).unwrap();
    assert!(
        s.due(CH, 50, 3, t0 + 239)
            .unwrap()
            .iter()
            .all(|r| r.id != a)
    );
    assert!(
        s.due(CH, 50, 3, t0 + 240)
            .unwrap()
            .iter()
            .any(|r| r.id == a)
    );
    // ... and with max_retries 2 it is no longer due at all.
    assert!(
        s.due(CH, 50, 2, t0 + 10_000)
            .unwrap()
            .iter()
            .all(|r| r.id != a)
    );

    // b is sent; c fails permanently.
    s.apply(&ev(t0 + 7, EventKind::MarkSent { message_id: b }))
        .unwrap();
    assert_eq!(s.outbound_status(b).unwrap(), Some(OutboundStatus::Sent));
    let sent_ts: i64 = s
        .connection()
        .query_row(
            "SELECT sent_timestamp FROM outbound_messages WHERE id = ?1",
            [b],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(sent_ts, t0 + 7);
    s.apply(&ev(
        t0 + 8,
        EventKind::MarkFailed {
            message_id: c,
            error: "banned".into(),
            permanent: true,
        },
    ))
    .unwrap();
    assert_eq!(s.outbound_status(c).unwrap(), Some(OutboundStatus::Failed));
    assert!(s.due("other", 50, 3, t0 + 10_000).unwrap().is_empty());
    assert!(
        s.due(CH, 50, 3, t0 + 10_000)
            .unwrap()
            .iter()
            .all(|r| r.id != b)
    );
}

#[test]
fn duplicate_event_ids_apply_once_even_across_batches_and_reopen() {
    let dir = tempfile::tempdir().unwrap();
    {
        let mut s = open(&dir);
        let mut e = msg("dup", "once", 1);
        e.id = Some("evt-1".into());
        let out = s.apply_batch(&[e.clone(), e.clone()]).unwrap();
        assert_eq!((out.applied, out.duplicates), (1, 1));
    }
    let mut s = open(&dir);
    let mut e = msg("dup", "once", 1);
    e.id = Some("evt-1".into());
    assert_eq!(s.apply(&e).unwrap().duplicates, 1);
    assert_eq!(found(&s, "dup").total_chat_lines, 1);
    assert_eq!(s.recent_chat(CH, 10).unwrap().len(), 1);
}

#[test]
fn a_failing_event_does_not_lose_the_rest_of_its_batch() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = open(&dir);
    // Sabotage one statement the way a hand-edited database might.
    s.connection()
        .execute_batch(
            "CREATE TRIGGER no_media BEFORE INSERT ON media_history
             BEGIN SELECT RAISE(ABORT, 'media disabled'); END;",
        )
        .unwrap();
    let media = ev(
        3,
        EventKind::MediaPlayed {
            media_type: "yt".into(),
            media_id: "x".into(),
            title: String::new(),
            duration: 0,
            queued_by: None,
        },
    );
    let out = s
        .apply_batch(&[msg("a", "1", 1), media, msg("a", "2", 4)])
        .unwrap();
    assert_eq!(out.applied, 2);
    assert_eq!(out.failed.len(), 1);
    assert_eq!(out.failed[0].index, 1);
    assert!(out.failed[0].error.contains("media disabled"));
    assert_eq!(found(&s, "a").total_chat_lines, 2);
}

#[test]
fn close_open_sessions_adds_time() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = open(&dir);
    s.apply_batch(&[joined("a", 100), joined("b", 150), left("b", 160)])
        .unwrap();
    assert_eq!(s.close_open_sessions(200).unwrap(), 1);
    let a = found(&s, "a");
    assert_eq!(
        (a.total_time_connected, a.current_session_start, a.last_seen),
        (100, None, 200)
    );
    assert_eq!(found(&s, "b").total_time_connected, 10);
}

#[test]
fn retention_trims_in_batches_and_keeps_young_rows() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = open(&dir);
    let now = 100 * 24 * 3600;
    let old_chat = now - 151 * 3600;
    let mut batch: Vec<_> = (0..25)
        .map(|i| msg("u", &format!("old{i}"), old_chat))
        .collect();
    batch.push(msg("u", "young", now - 3600));
    batch.push(ev(
        now - 31 * 24 * 3600,
        EventKind::UserCount {
            chat_count: 1,
            connected_count: 1,
        },
    ));
    batch.push(ev(
        now - 24 * 3600,
        EventKind::UserCount {
            chat_count: 2,
            connected_count: 2,
        },
    ));
    s.apply_batch(&batch).unwrap();
    let old_sent = s.enqueue(CH, "old", now - 8 * 24 * 3600).unwrap();
    s.mark_sent(old_sent, now - 8 * 24 * 3600).unwrap();
    let old_unsent = s
        .enqueue(CH, "old but unsent", now - 8 * 24 * 3600)
        .unwrap();
    let retention = Retention {
        batch: 10,
        ..Retention::default()
    };
    let r = s.maintenance(now, &retention, 2).unwrap();
    assert_eq!(r.recent_chat, 20);
    assert!(r.more);
    let r = s.maintenance(now, &retention, 2).unwrap();
    assert_eq!(r.recent_chat, 5);
    assert!(!r.more);
    let texts: Vec<_> = s
        .recent_chat(CH, 100)
        .unwrap()
        .into_iter()
        .map(|r| r.message)
        .collect();
    assert_eq!(texts, ["young"]);
    assert_eq!(
        s.user_count_history(CH, 24.0 * 365.0, now).unwrap().len(),
        1
    );
    assert_eq!(s.outbound_status(old_sent).unwrap(), None);
    assert!(s.outbound_status(old_unsent).unwrap().is_some());
    // User statistics are never trimmed.
    assert_eq!(found(&s, "u").total_chat_lines, 26);
}

#[test]
fn processed_event_ids_are_trimmed_after_the_window() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = open(&dir);
    let mut e = msg("a", "x", 1);
    e.id = Some("id-1".into());
    s.apply(&e).unwrap();
    assert_eq!(s.count_rows("processed_events").unwrap(), 1);
    let later = rosey_store::now_secs() + 8 * 24 * 3600;
    let r = s.maintenance(later, &Retention::default(), 10).unwrap();
    assert_eq!(r.processed_events, 1);
    assert_eq!(s.count_rows("processed_events").unwrap(), 0);
}

#[test]
fn migrations_are_recorded_and_idempotent() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("x.db");
    for _ in 0..3 {
        let s = Store::open(&path, &StoreOptions::with_channel(CH)).unwrap();
        assert_eq!(s.schema_version().unwrap(), SCHEMA_VERSION);
        assert!(s.adopted().is_none());
        assert_eq!(
            s.count_rows("rosey_migrations").unwrap(),
            SCHEMA_VERSION,
            "one record per migration, however often opened"
        );
    }
    let journal: String = Connection::open(&path)
        .unwrap()
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(journal, "wal");
    let ro = Store::open_read_only(&path, &StoreOptions::with_channel(CH)).unwrap();
    assert!(ro.recent_chat(CH, 5).unwrap().is_empty());
}

#[test]
fn read_only_store_sees_committed_writes() {
    let dir = tempfile::tempdir().unwrap();
    let mut w = open(&dir);
    let r = Store::open_read_only(w.path(), &StoreOptions::with_channel(CH)).unwrap();
    w.apply(&msg("a", "hello", 1)).unwrap();
    assert_eq!(r.recent_chat(CH, 5).unwrap()[0].message, "hello");
    assert!(
        r.connection()
            .execute("DELETE FROM recent_chat", [])
            .is_err()
    );
}

/// Builds a database exactly as Rosey v0.5 did, with rows in every table.
fn create_v05(path: &std::path::Path) {
    let c = Connection::open(path).unwrap();
    c.execute_batch(rosey_store::schema::V05_SCHEMA).unwrap();
    c.execute_batch(
        "INSERT OR IGNORE INTO channel_stats (id, max_users, last_updated) VALUES (1, 0, 1);
         INSERT OR IGNORE INTO current_status (id, last_updated) VALUES (1, 1);",
    )
    .unwrap();
    c.execute_batch(
        "INSERT INTO user_stats VALUES ('alice', 100, 200, 42, 3600, NULL);
         INSERT INTO user_stats VALUES ('bob', 110, 300, 7, 60, 290);
         INSERT INTO user_actions (timestamp, username, action_type, details)
             VALUES (150, 'mod', 'pm_command', 'cmd=help, args: , result: success');
         UPDATE channel_stats SET max_users = 12, max_users_timestamp = 170,
             max_connected = 20, max_connected_timestamp = 171 WHERE id = 1;
         INSERT INTO user_count_history (timestamp, chat_users, connected_users) VALUES (180, 3, 5);
         INSERT INTO recent_chat (timestamp, username, message) VALUES (190, 'alice', 'hello');
         INSERT INTO recent_chat (timestamp, username, message) VALUES (191, 'bob', 'hi alice');
         UPDATE current_status SET bot_name = 'Rosey', bot_rank = 3.0, current_chat_users = 2,
             current_connected_users = 4 WHERE id = 1;
         INSERT INTO outbound_messages (timestamp, message, sent, retry_count)
             VALUES (195, 'queued line', 0, 0);
         INSERT INTO outbound_messages (timestamp, message, sent, sent_timestamp)
             VALUES (196, 'sent line', 1, 197);
         INSERT INTO api_tokens (token, description, created_at) VALUES ('tok', 'dash', 10);",
    )
    .unwrap();
}

#[test]
fn adopting_a_v05_database_keeps_every_row_and_writes_a_backup() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bot_data.db");
    create_v05(&path);
    let mut s = Store::open(&path, &StoreOptions::with_channel(CH)).unwrap();
    let report = s.adopted().cloned().expect("v0.5 database detected");
    assert_eq!(report.backup, dir.path().join("bot_data.db.v0.5.bak"));
    let counts: std::collections::HashMap<_, _> = report.rows.iter().cloned().collect();
    for (table, n) in &counts {
        assert_eq!(s.count_rows(table).unwrap(), *n, "{table} lost rows");
    }
    assert_eq!(counts["user_stats"], 2);
    assert_eq!(counts["recent_chat"], 2);

    // The backup is the untouched v0.5 file.
    let b = Connection::open(&report.backup).unwrap();
    let n: i64 = b
        .query_row("SELECT count(*) FROM user_stats", [], |r| r.get(0))
        .unwrap();
    assert_eq!(n, 2);
    assert!(
        b.prepare("SELECT channel FROM user_stats").is_err(),
        "the backup must be the original schema"
    );

    // Adopted rows belong to the default channel and answer queries.
    let alice = found(&s, "alice");
    assert_eq!(
        (
            alice.first_seen,
            alice.last_seen,
            alice.total_chat_lines,
            alice.total_time_connected
        ),
        (100, 200, 42, 3600)
    );
    assert_eq!(found(&s, "bob").current_session_start, Some(290));
    let st = s.channel_stats(CH).unwrap();
    assert_eq!(
        (st.high_water_mark.users, st.high_water_connected.users),
        (12, 20)
    );
    assert_eq!((st.current.chat_users, st.current.connected_users), (2, 4));
    assert_eq!(st.top_chatters[0].username, "alice");
    assert_eq!(s.recent_chat(CH, 10).unwrap().len(), 2);
    assert_eq!(s.due(CH, 10, 3, 1000).unwrap()[0].message, "queued line");

    // The original's own SQL still works (no channel named → default channel).
    s.connection()
        .execute(
            "INSERT INTO recent_chat (timestamp, username, message) VALUES (?1, ?2, ?3)",
            params![199, "carol", "old-style insert"],
        )
        .unwrap();
    s.connection()
        .execute("UPDATE channel_stats SET max_users = 13 WHERE id = 1", [])
        .unwrap();
    assert_eq!(s.recent_chat(CH, 10).unwrap().len(), 3);
    assert_eq!(s.channel_stats(CH).unwrap().high_water_mark.users, 13);

    // New events land on top of the adopted rows.
    s.apply(&msg("alice", "back", 400)).unwrap();
    assert_eq!(found(&s, "alice").total_chat_lines, 43);
    drop(s);

    // Re-opening does not adopt (or back up) again.
    let s = Store::open(&path, &StoreOptions::with_channel(CH)).unwrap();
    assert!(s.adopted().is_none());
    assert_eq!(s.count_rows("user_stats").unwrap(), 2);
}

#[test]
fn a_second_v05_backup_gets_a_timestamped_name() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bot_data.db");
    create_v05(&path);
    std::fs::write(dir.path().join("bot_data.db.v0.5.bak"), b"older backup").unwrap();
    let s = Store::open(&path, &StoreOptions::with_channel(CH)).unwrap();
    let backup = s.adopted().unwrap().backup.clone();
    assert_ne!(backup, dir.path().join("bot_data.db.v0.5.bak"));
    assert!(backup.exists());
    assert_eq!(
        std::fs::read(dir.path().join("bot_data.db.v0.5.bak")).unwrap(),
        b"older backup"
    );
}

#[test]
fn events_of_many_channels_stay_apart() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = open(&dir);
    let mut a = msg("same", "in chan", 1);
    let mut b = msg("same", "in two", 1);
    a.channel = "one".into();
    b.channel = "two".into();
    s.apply_batch(&[a.clone(), a, b]).unwrap();
    assert_eq!(
        match s.user_stats("one", "same").unwrap() {
            UserStatsReply::Found(f) => f.total_chat_lines,
            _ => 0,
        },
        2
    );
    assert_eq!(
        match s.user_stats("two", "same").unwrap() {
            UserStatsReply::Found(f) => f.total_chat_lines,
            _ => 0,
        },
        1
    );
}
