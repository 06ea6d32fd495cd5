//! The storage contract: one set of test functions, run against SQLite (a file in a temp
//! dir) and PostgreSQL (a fresh database on 127.0.0.1:5432 per test, dropped after) through
//! the [`Storage`] interface. Every function here must pass on both; `mod sqlite` and
//! `mod postgres` at the end instantiate each one per backend.
//!
//! SQLite-only behaviour (v0.5 adoption, WAL, the read-only connection) is in `store.rs`.

use rosey_model::payload::{MessageLog, StatusData, UserJoined, UserLeft, UserStatsReply};
use rosey_store::event::IntoStoreEvent;
use rosey_store::storage::{self, Storage, StoreTarget};
use rosey_store::{EventKind, OutboundStatus, Retention, SCHEMA_VERSION, StoreEvent, StoreOptions};
use rosey_testkit::pg::PgTestDb;

const CH: &str = "chan";

/// One backend's database for one test.
enum Db {
    Sqlite(tempfile::TempDir),
    Postgres(PgTestDb),
}

impl Db {
    fn sqlite() -> Db {
        Db::Sqlite(tempfile::tempdir().unwrap())
    }

    fn postgres(label: &str) -> Db {
        Db::Postgres(PgTestDb::create(label))
    }

    fn target(&self) -> StoreTarget {
        match self {
            Db::Sqlite(dir) => StoreTarget::Sqlite(dir.path().join("bot_data.db")),
            Db::Postgres(pg) => StoreTarget::Postgres(pg.url()),
        }
    }

    /// Opens (and migrates) read-write; may be called again to reopen.
    fn open(&self) -> Box<dyn Storage> {
        storage::open(&self.target(), &StoreOptions::with_channel(CH)).unwrap()
    }

    /// Makes every insert into `media_history` fail, as a hand-edited database might.
    fn sabotage_media(&self) {
        match self {
            Db::Sqlite(dir) => rusqlite::Connection::open(dir.path().join("bot_data.db"))
                .unwrap()
                .execute_batch(
                    "CREATE TRIGGER no_media BEFORE INSERT ON media_history
                     BEGIN SELECT RAISE(ABORT, 'media disabled'); END;",
                )
                .unwrap(),
            Db::Postgres(pg) => {
                let url = pg.url();
                std::thread::spawn(move || {
                    ::postgres::Client::connect(&url, ::postgres::NoTls)
                        .unwrap()
                        .batch_execute(
                            "ALTER TABLE media_history ADD CONSTRAINT media_disabled
                             CHECK (false) NOT VALID",
                        )
                        .unwrap()
                })
                .join()
                .unwrap()
            }
        }
    }
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
            bot: false,
        },
    )
}

fn found(store: &mut Box<dyn Storage>, u: &str) -> rosey_model::payload::UserStatsFound {
    match store.user_stats(CH, u).unwrap() {
        UserStatsReply::Found(f) => f,
        other => panic!("expected {u} to be found, got {other:?}"),
    }
}

/// A payload exactly as the Rosey v0.5 publisher sends it (no channel, no id, no ts),
/// received at `now`.
fn original<P: IntoStoreEvent + serde::de::DeserializeOwned>(json: &str, now: i64) -> StoreEvent {
    rosey_model::decode::<P>(json.as_bytes())
        .unwrap()
        .into_store_event(CH, now)
}

fn join_leave_rejoin_accumulates_time_and_closes_open_sessions(db: &Db) {
    let mut s = db.open();
    s.apply(&joined("alice", 100)).unwrap();
    let f = found(&mut s, "alice");
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
    let f = found(&mut s, "alice");
    assert_eq!(
        (f.last_seen, f.current_session_start, f.total_time_connected),
        (160, None, 60)
    );
    // A second leave without an open session changes nothing.
    s.apply(&left("alice", 500)).unwrap();
    assert_eq!(found(&mut s, "alice").total_time_connected, 60);
    // Rejoin while a session is open: the open one is closed first (its time is added).
    s.apply_batch(&[joined("alice", 1000), joined("alice", 1030)])
        .unwrap();
    let f = found(&mut s, "alice");
    assert_eq!(f.first_seen, 100);
    assert_eq!(f.total_time_connected, 90);
    assert_eq!(f.current_session_start, Some(1030));
    assert_eq!(f.last_seen, 1030);
}

fn message_counts_lines_creates_missing_users_and_keeps_recent_chat(db: &Db) {
    let mut s = db.open();
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
    let bob = found(&mut s, "bob");
    assert_eq!(bob.total_chat_lines, 2);
    assert_eq!(bob.first_seen, 10, "a chatter without a row gets one");
    assert_eq!(bob.last_seen, 11, "a chat line moves last_seen");
    assert_eq!(bob.current_session_start, None, "but opens no session");
    assert_eq!(found(&mut s, "server").total_chat_lines, 1);
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

fn recent_chat_returns_newest_in_chronological_order_per_channel(db: &Db) {
    let mut s = db.open();
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

fn user_count_history_and_window(db: &Db) {
    let mut s = db.open();
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

fn high_water_only_rises_and_zero_connected_never_updates(db: &Db) {
    let mut s = db.open();
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

fn channel_stats_top_chatters_and_users_seen(db: &Db) {
    let mut s = db.open();
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

fn outbound_queue_backoff_sent_and_failed(db: &Db) {
    let mut s = db.open();
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

fn duplicate_event_ids_apply_once_even_across_batches_and_reopen(db: &Db) {
    {
        let mut s = db.open();
        let mut e = msg("dup", "once", 1);
        e.id = Some("evt-1".into());
        let out = s.apply_batch(&[e.clone(), e.clone()]).unwrap();
        assert_eq!((out.applied, out.duplicates), (1, 1));
    }
    let mut s = db.open();
    let mut e = msg("dup", "once", 1);
    e.id = Some("evt-1".into());
    assert_eq!(s.apply(&e).unwrap().duplicates, 1);
    assert_eq!(found(&mut s, "dup").total_chat_lines, 1);
    assert_eq!(s.recent_chat(CH, 10).unwrap().len(), 1);
}

fn close_open_sessions_adds_time(db: &Db) {
    let mut s = db.open();
    s.apply_batch(&[joined("a", 100), joined("b", 150), left("b", 160)])
        .unwrap();
    assert_eq!(s.close_open_sessions(200).unwrap(), 1);
    let a = found(&mut s, "a");
    assert_eq!(
        (a.total_time_connected, a.current_session_start, a.last_seen),
        (100, None, 200)
    );
    assert_eq!(found(&mut s, "b").total_time_connected, 10);
}

fn retention_trims_in_batches_and_keeps_young_rows(db: &Db) {
    let mut s = db.open();
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
    assert_eq!(found(&mut s, "u").total_chat_lines, 26);
}

fn processed_event_ids_are_trimmed_after_the_window(db: &Db) {
    let mut s = db.open();
    let mut e = msg("a", "x", 1);
    e.id = Some("id-1".into());
    s.apply(&e).unwrap();
    assert_eq!(s.count_rows("processed_events").unwrap(), 1);
    let later = rosey_store::now_secs() + 8 * 24 * 3600;
    let r = s.maintenance(later, &Retention::default(), 10).unwrap();
    assert_eq!(r.processed_events, 1);
    assert_eq!(s.count_rows("processed_events").unwrap(), 0);
}

fn events_of_many_channels_stay_apart(db: &Db) {
    let mut s = db.open();
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

fn migrations_are_recorded_once(db: &Db) {
    for _ in 0..3 {
        let mut s = db.open();
        assert_eq!(s.schema_version().unwrap(), SCHEMA_VERSION);
        assert!(s.adopted().is_none());
        assert_eq!(
            s.count_rows("rosey_migrations").unwrap(),
            SCHEMA_VERSION,
            "one record per migration, however often opened"
        );
    }
    let mut r = storage::open_reader(&db.target(), &StoreOptions::with_channel(CH)).unwrap();
    assert!(r.recent_chat(CH, 5).unwrap().is_empty());
}

/// Issue 11 (b): a chat line moves `last_seen`, as the original did.
fn original_chat_line_updates_last_seen(db: &Db) {
    let mut s = db.open();
    s.apply(&original::<UserJoined>(r#"{"username":"alice"}"#, 1000))
        .unwrap();
    s.apply(&original::<MessageLog>(
        r#"{"username":"alice","message":"still here"}"#,
        4600,
    ))
    .unwrap();
    let a = found(&mut s, "alice");
    assert_eq!((a.first_seen, a.last_seen), (1000, 4600));
    assert_eq!(a.total_chat_lines, 1);
    assert_eq!(
        a.current_session_start,
        Some(1000),
        "the session stays open"
    );
    // An older line (a replayed one) never moves it back.
    s.apply(&original::<MessageLog>(
        r#"{"username":"alice","message":"old"}"#,
        2000,
    ))
    .unwrap();
    assert_eq!(found(&mut s, "alice").last_seen, 4600);
}

/// Issue 11 (c): chat history replayed on join creates rows but opens no session, so the
/// users it names accumulate no connected time, not even at shutdown.
fn replayed_history_opens_no_session(db: &Db) {
    let mut s = db.open();
    let history: Vec<_> = (0..5)
        .map(|i| {
            original::<MessageLog>(
                &format!(r#"{{"username":"ghost{}","message":"line {i}"}}"#, i % 2),
                5000,
            )
        })
        .collect();
    s.apply_batch(&history).unwrap();
    for g in ["ghost0", "ghost1"] {
        let f = found(&mut s, g);
        assert_eq!(f.current_session_start, None, "{g}");
        assert_eq!((f.first_seen, f.last_seen), (5000, 5000));
    }
    assert_eq!(found(&mut s, "ghost0").total_chat_lines, 3);
    assert_eq!(s.close_open_sessions(9000).unwrap(), 0);
    assert_eq!(found(&mut s, "ghost0").total_time_connected, 0);
    // A later join opens a session as usual; a line then does not reset it.
    s.apply(&original::<UserJoined>(r#"{"username":"ghost0"}"#, 6000))
        .unwrap();
    s.apply(&original::<MessageLog>(
        r#"{"username":"ghost0","message":"hi"}"#,
        6100,
    ))
    .unwrap();
    s.apply(&original::<UserLeft>(r#"{"username":"ghost0"}"#, 6200))
        .unwrap();
    let f = found(&mut s, "ghost0");
    assert_eq!(
        (
            f.total_time_connected,
            f.current_session_start,
            f.total_chat_lines
        ),
        (200, None, 4)
    );
}

/// Issue 29: a line the server replays on join (another id, flagged `replayed`) is stored
/// only if the database does not have it yet, in one batch or across batches; lines
/// without the server's time keep the v0.5 behaviour (never de-duplicated by content).
fn replayed_lines_are_stored_once(db: &Db) {
    let mut s = db.open();
    let line = |id: &str, ms: i64, user: &str, text: &str, replayed: bool| {
        original::<MessageLog>(
            &serde_json::json!({"username": user, "message": text, "id": id,
                "ts": ms as f64 / 1000.0, "server_time": ms, "replayed": replayed})
            .to_string(),
            9_000,
        )
    };
    // Live: two lines, one of them said twice in the same second (two lines).
    let live = [
        line("bot1-1", 5_000_100, "alice", "hi", false),
        line("bot1-2", 5_000_200, "bob", "lol", false),
        line("bot1-3", 5_000_300, "bob", "lol", false),
    ];
    assert_eq!(s.apply_batch(&live).unwrap().applied, 3);
    // The bot restarts: the server replays all three plus two said while it was away, in
    // a batch that also holds one of them twice (two bots sharing the channel).
    let replay = [
        line("bot2-1", 5_000_100, "alice", "hi", true),
        line("bot2-2", 5_000_200, "bob", "lol", true),
        line("bot2-3", 5_000_300, "bob", "lol", true),
        line("bot2-4", 5_000_400, "carol", "while away", true),
        line("bot3-4", 5_000_400, "carol", "while away", true),
        line("bot2-5", 5_000_500, "alice", "me too", true),
    ];
    let o = s.apply_batch(&replay).unwrap();
    assert_eq!((o.applied, o.duplicates), (2, 4));
    // And once more, one by one (a redelivery after a crash).
    for e in &replay {
        assert_eq!(s.apply(e).unwrap().duplicates, 1);
    }
    let chat = s.recent_chat(CH, 50).unwrap();
    assert_eq!(chat.len(), 5, "{chat:?}");
    assert_eq!(found(&mut s, "bob").total_chat_lines, 2);
    assert_eq!(found(&mut s, "carol").total_chat_lines, 1);
    // The same words by the same user at another time are another line.
    assert_eq!(
        s.apply(&line("bot2-6", 5_000_900, "bob", "lol", true))
            .unwrap()
            .applied,
        1
    );
    // Without the server's time, identical lines stay two lines (the v0.5 contract).
    let plain = r#"{"username":"dave","message":"same","ts":5000}"#;
    s.apply(&original::<MessageLog>(plain, 9_000)).unwrap();
    s.apply(&original::<MessageLog>(plain, 9_000)).unwrap();
    assert_eq!(found(&mut s, "dave").total_chat_lines, 2);
}

/// A leave applied before its join (two services sharing a stream) leaves no open session,
/// and the session state ends as the newest event says whatever the order.
fn presence_is_order_insensitive(db: &Db) {
    let mut s = db.open();
    // Applied in reverse: the leave (ts 20) first, then its join (ts 10).
    s.apply(&left("rev", 20)).unwrap();
    s.apply(&joined("rev", 10)).unwrap();
    let f = found(&mut s, "rev");
    assert_eq!(
        f.current_session_start, None,
        "a stale join opens no session"
    );
    assert_eq!(f.first_seen, 10);
    // Same second: join then leave, applied leave first.
    s.apply(&left("tie", 30)).unwrap();
    s.apply(&joined("tie", 30)).unwrap();
    assert_eq!(found(&mut s, "tie").current_session_start, None);
    // join 10, leave 20, join 30 in every order: present since 30.
    let seq = [joined("p", 10), left("p", 20), joined("p", 30)];
    for order in [
        [0, 1, 2],
        [2, 1, 0],
        [1, 2, 0],
        [0, 2, 1],
        [2, 0, 1],
        [1, 0, 2],
    ] {
        let mut e: Vec<_> = order.iter().map(|&i| seq[i].clone()).collect();
        let user = format!("p{}{}{}", order[0], order[1], order[2]);
        for x in &mut e {
            match &mut x.kind {
                EventKind::UserJoined { username } | EventKind::UserLeft { username } => {
                    *username = user.clone()
                }
                _ => unreachable!(),
            }
        }
        // Each event in its own batch, as separate services would commit them.
        for x in &e {
            s.apply(x).unwrap();
        }
        assert_eq!(
            found(&mut s, &user).current_session_start,
            Some(30),
            "order {order:?}"
        );
    }
    // And join 10, leave 20 in both orders: no open session.
    for (a, b) in [
        (joined("q1", 10), left("q1", 20)),
        (left("q2", 20), joined("q2", 10)),
    ] {
        s.apply(&a).unwrap();
        s.apply(&b).unwrap();
    }
    assert_eq!(found(&mut s, "q1").current_session_start, None);
    assert_eq!(found(&mut s, "q1").total_time_connected, 10);
    assert_eq!(found(&mut s, "q2").current_session_start, None);
    assert_eq!(s.close_open_sessions(100).unwrap(), 6, "only the p* users");
}

/// Chat lines interleaved with presence and other events, in one batch: the effects are
/// those of applying them one by one, in order.
fn interleaved_batch_matches_event_order(db: &Db) {
    let mut s = db.open();
    let mut batch = vec![
        msg("a", "1", 5),
        joined("a", 10),
        msg("a", "2", 12),
        msg("b", "x", 13),
        msg("a", "3", 11),
        left("a", 15),
        msg("a", "4", 20),
        ev(
            21,
            EventKind::UserCount {
                chat_count: 2,
                connected_count: 3,
            },
        ),
        msg("server", "a joined", 22),
        msg("b", "y", 23),
        joined("b", 24),
    ];
    let mut other = msg("a", "elsewhere", 25);
    other.channel = "other".into();
    batch.push(other);
    let out = s.apply_batch(&batch).unwrap();
    assert_eq!(out.applied, batch.len());
    let a = found(&mut s, "a");
    assert_eq!(
        (
            a.first_seen,
            a.last_seen,
            a.total_chat_lines,
            a.total_time_connected,
            a.current_session_start
        ),
        (5, 20, 4, 5, None)
    );
    let b = found(&mut s, "b");
    assert_eq!(
        (
            b.first_seen,
            b.last_seen,
            b.total_chat_lines,
            b.current_session_start
        ),
        (13, 24, 2, Some(24))
    );
    let chat: Vec<_> = s
        .recent_chat(CH, 50)
        .unwrap()
        .into_iter()
        .map(|r| r.message)
        .collect();
    assert_eq!(chat, ["1", "3", "2", "x", "4", "y"]);
    assert_eq!(s.recent_chat("other", 50).unwrap().len(), 1);
    assert_eq!(s.user_count_history(CH, 1.0, 30).unwrap().len(), 1);
    assert_eq!(s.channels().unwrap(), ["chan", "other"]);
}

fn status_pm_command_and_media_rows(db: &Db) {
    let mut s = db.open();
    let first = StatusData {
        bot_name: Some("Rosey".into()),
        bot_rank: Some(3.0),
        bot_afk: Some(false),
        current_chat_users: Some(4),
        current_connected_users: Some(9),
        bot_connected: Some(true),
        ..Default::default()
    };
    let partial = StatusData {
        current_chat_users: Some(5),
        current_media_title: Some("Song".into()),
        ..Default::default()
    };
    s.apply_batch(&[
        ev(100, EventKind::Status(first)),
        ev(110, EventKind::Status(partial)),
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
    let st = s.channel_stats(CH).unwrap();
    assert_eq!((st.current.chat_users, st.current.connected_users), (5, 9));
    assert_eq!(s.count_rows("user_actions").unwrap(), 1);
    assert_eq!(s.count_rows("media_history").unwrap(), 1);
    assert_eq!(s.count_rows("current_status").unwrap(), 1);
}

fn a_failing_event_keeps_the_rest_of_its_batch(db: &Db) {
    let mut s = db.open();
    db.sabotage_media();
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
    let mut second = msg("a", "2", 4);
    second.id = Some("kept".into());
    let mut bad = media.clone();
    bad.id = Some("failed".into());
    let out = s
        .apply_batch(&[msg("a", "1", 1), bad.clone(), second])
        .unwrap();
    assert_eq!(out.applied, 2);
    assert_eq!(out.failed.len(), 1);
    assert_eq!(out.failed[0].index, 1);
    assert_eq!(found(&mut s, "a").total_chat_lines, 2);
    // The failed event's id was rolled back with it: a retry is not a "duplicate".
    let again = s.apply(&bad).unwrap();
    assert_eq!((again.duplicates, again.failed.len()), (0, 1));
}

/// PostgreSQL text cannot hold NUL: such a line is still stored (not failed forever).
fn text_with_nul_is_stored(db: &Db) {
    let mut s = db.open();
    let out = s
        .apply_batch(&[msg("nul\0user", "a\0b", 1), joined("x\0", 2)])
        .unwrap();
    assert_eq!((out.applied, out.failed.len()), (2, 0));
    let chat = s.recent_chat(CH, 10).unwrap();
    assert_eq!(chat.len(), 1);
    assert!(chat[0].message.starts_with('a') && chat[0].message.ends_with('b'));
    assert_eq!(s.channel_stats(CH).unwrap().total_users_seen, 2);
}

/// The plugin key-value store: namespaces, overwrite, delete, prefix order and limit, and
/// values that survive a reopen.
fn plugin_kv_namespaces_prefixes_and_reopen(db: &Db) {
    let mut s = db.open();
    s.kv_set("quote", "c/00000002", r#"{"text":"two"}"#, 10)
        .unwrap();
    s.kv_set("quote", "c/00000001", r#"{"text":"one"}"#, 10)
        .unwrap();
    s.kv_set("quote", "c#last", "2", 10).unwrap();
    s.kv_set("quote", "d/00000001", r#""other channel""#, 10)
        .unwrap();
    s.kv_set("tell", "c/00000001", r#""not a quote""#, 10)
        .unwrap();
    s.kv_set("quote", "c#last", "3", 11).unwrap();
    assert_eq!(s.kv_get("quote", "c#last").unwrap().as_deref(), Some("3"));
    assert_eq!(s.kv_get("nobody", "c#last").unwrap(), None);
    let listed = s.kv_list("quote", "c/", 100).unwrap();
    let keys: Vec<&str> = listed.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(keys, ["c/00000001", "c/00000002"]);
    assert_eq!(listed[1].1, r#"{"text":"two"}"#);
    assert_eq!(s.kv_list("quote", "c/", 1).unwrap().len(), 1);
    assert_eq!(s.kv_list("quote", "", 100).unwrap().len(), 4);
    assert!(s.kv_delete("quote", "c/00000001").unwrap());
    assert!(!s.kv_delete("quote", "c/00000001").unwrap());
    drop(s);
    let mut s = db.open();
    assert_eq!(s.kv_list("quote", "c/", 100).unwrap().len(), 1);
    assert_eq!(
        s.kv_get("tell", "c/00000001").unwrap().as_deref(),
        Some(r#""not a quote""#)
    );
}

/// Prefix listing is a byte range: `%`, `_` and non-ASCII keys are plain characters.
fn plugin_kv_prefix_is_literal(db: &Db) {
    let mut s = db.open();
    for k in ["a%b/1", "a_b/1", "axb/1", "é/1", "é/2", "éa"] {
        s.kv_set("p", k, "1", 1).unwrap();
    }
    let keys = |s: &mut Box<dyn Storage>, p: &str| -> Vec<String> {
        s.kv_list("p", p, 100)
            .unwrap()
            .into_iter()
            .map(|(k, _)| k)
            .collect()
    };
    assert_eq!(keys(&mut s, "a%"), ["a%b/1"]);
    assert_eq!(keys(&mut s, "a_"), ["a_b/1"]);
    assert_eq!(keys(&mut s, "é/"), ["é/1", "é/2"]);
}

fn unknown_table_is_an_error(db: &Db) {
    let mut s = db.open();
    assert!(
        s.count_rows("sqlite_master; DROP TABLE user_stats")
            .is_err()
    );
    assert_eq!(s.count_rows("user_stats").unwrap(), 0);
}

/// Instantiates every contract function once per backend.
fn moderation_decisions_are_kept_and_read_newest_first(db: &Db) {
    let mut s = db.open();
    let decision = |ch: &str, ts: i64, user: &str, dry_run: bool| StoreEvent {
        channel: ch.to_string(),
        ts,
        id: None,
        kind: EventKind::Moderation {
            rule: "flood".into(),
            username: user.into(),
            reason: "6 lines in 5s".into(),
            evidence: "spam spam".into(),
            step: "smute 5m".into(),
            outcome: if dry_run { "dry_run" } else { "done" }.into(),
            answer: "Shadow-muted".into(),
            dry_run,
        },
    };
    s.apply_batch(&[
        decision(CH, 100, "u1", false),
        decision("other", 200, "u2", true),
        decision(CH, 300, "u3", false),
    ])
    .unwrap();
    let all = s.moderation_log(None, 0, 10).unwrap();
    let users: Vec<&str> = all.iter().map(|r| r.username.as_str()).collect();
    assert_eq!(users, ["u3", "u2", "u1"]);
    assert!(all[1].dry_run && !all[0].dry_run);
    assert_eq!(
        (all[0].step.as_str(), all[0].answer.as_str()),
        ("smute 5m", "Shadow-muted")
    );
    let mine = s.moderation_log(Some(CH), 150, 10).unwrap();
    assert_eq!(mine.len(), 1);
    assert_eq!((mine[0].username.as_str(), mine[0].timestamp), ("u3", 300));
    drop(s);
    assert_eq!(db.open().moderation_log(None, 0, 1).unwrap().len(), 1);
}

macro_rules! contract {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(#[test]
            fn $name() {
                super::$name(&super::Db::sqlite());
            })*
        }
        mod postgres {
            $(#[test]
            fn $name() {
                super::$name(&super::Db::postgres(stringify!($name)));
            })*
        }
    };
}

contract!(
    join_leave_rejoin_accumulates_time_and_closes_open_sessions,
    message_counts_lines_creates_missing_users_and_keeps_recent_chat,
    recent_chat_returns_newest_in_chronological_order_per_channel,
    user_count_history_and_window,
    high_water_only_rises_and_zero_connected_never_updates,
    channel_stats_top_chatters_and_users_seen,
    outbound_queue_backoff_sent_and_failed,
    duplicate_event_ids_apply_once_even_across_batches_and_reopen,
    close_open_sessions_adds_time,
    retention_trims_in_batches_and_keeps_young_rows,
    processed_event_ids_are_trimmed_after_the_window,
    events_of_many_channels_stay_apart,
    migrations_are_recorded_once,
    original_chat_line_updates_last_seen,
    replayed_history_opens_no_session,
    replayed_lines_are_stored_once,
    presence_is_order_insensitive,
    interleaved_batch_matches_event_order,
    status_pm_command_and_media_rows,
    a_failing_event_keeps_the_rest_of_its_batch,
    unknown_table_is_an_error,
    text_with_nul_is_stored,
    plugin_kv_namespaces_prefixes_and_reopen,
    plugin_kv_prefix_is_literal,
    moderation_decisions_are_kept_and_read_newest_first,
);

/// The dashboard's part of the contract.
mod contract_web;

/// The media history's part of the contract.
mod contract_media;

/// Batches against their events one by one.
mod contract_batch;
