//! What only the SQLite backend does, on real files: v0.5 adoption and its backup, WAL,
//! the read-only connection, raw column values. Every behaviour both backends share is in
//! the contract suite (`contract.rs`), run against each.

use rosey_model::payload::{StatusData, UserStatsReply};
use rosey_store::{EventKind, SCHEMA_VERSION, Store, StoreEvent, StoreOptions};
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

fn msg(u: &str, m: &str, ts: i64) -> StoreEvent {
    ev(
        ts,
        EventKind::Message {
            username: u.into(),
            message: m.into(),
            bot: false,
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

fn create_v05(path: &std::path::Path) {
    rosey_testkit::create_v05_database(path);
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

/// A schema-5 database with plays: migration 6 adds the ending columns and builds the
/// per-media and per-adder totals from the plays already recorded.
#[test]
fn migration_6_builds_media_totals_from_recorded_plays() {
    use rosey_store::MediaStore;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.db");
    drop(Store::open(&path, &StoreOptions::with_channel("c")).unwrap());
    {
        // Back to schema 5, as a database of the previous release (7, the moderation
        // table, came after 6).
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch(
            "DROP TABLE media_stats; DROP TABLE media_adders;
             DROP INDEX idx_media_history_media; DROP INDEX idx_media_history_adder;
             ALTER TABLE media_history DROP COLUMN ended_at;
             ALTER TABLE media_history DROP COLUMN end_reason;
             ALTER TABLE media_history DROP COLUMN played_seconds;
             DROP TABLE moderation_actions;
             DELETE FROM rosey_migrations WHERE version >= 6;
             INSERT INTO media_history (timestamp, media_type, media_id, title, duration,
                                        queued_by, channel) VALUES
               (100, 'yt', 'a', 'Old title', 60, 'ann', 'c'),
               (200, 'yt', 'b', 'B', 90, NULL, 'c'),
               (300, 'yt', 'a', 'New title', 61, 'bob', 'c'),
               (400, 'yt', 'a', 'Elsewhere', 5, 'ann', 'd');",
        )
        .unwrap();
    }
    let mut s = Store::open(&path, &StoreOptions::with_channel("c")).unwrap();
    assert_eq!(s.schema_version().unwrap(), rosey_store::SCHEMA_VERSION);
    let (stats, adders, plays) = s.media_item("c", "yt", "a", 10).unwrap();
    let st = stats.unwrap();
    assert_eq!(
        (st.plays, st.first_played, st.last_played, st.duration),
        (2, 100, 300, 61)
    );
    assert_eq!(st.title.as_deref(), Some("New title"));
    assert_eq!(st.last_queued_by.as_deref(), Some("bob"));
    assert_eq!((st.total_played, st.skips, st.removals), (0, 0, 0));
    assert_eq!(adders.len(), 2);
    assert!(plays.iter().all(|p| p.end_reason.is_none()));
    let top = s.media_top_adders("c", None, 10).unwrap();
    let names: Vec<(&str, i64)> = top.iter().map(|a| (a.username.as_str(), a.plays)).collect();
    assert_eq!(names, [("ann", 1), ("bob", 1)]);
    assert_eq!(s.media_most_played("d", None, 10).unwrap().len(), 1);
}
