//! The dashboard's storage contract (`rosey_store::web::WebStorage`), part of
//! `contract.rs` (its `Db`, helpers and `contract!` macro): the status row, recent outbound
//! rows, user search, chat activity, user lines, and the token table (insert, list, revoke,
//! touch, re-key of v0.5 rows) — on SQLite and PostgreSQL.

use rosey_model::payload::StatusData;
use rosey_store::EventKind;
use rosey_store::web::{find_token, legacy_key, match_prefix, token_key};

use super::{CH, Db, ev, msg};

fn status_row_and_outbound_rows(db: &Db) {
    let mut s = db.open();
    let data = StatusData {
        bot_name: Some("Rosey".into()),
        bot_connected: Some(true),
        current_media_title: Some("Song".into()),
        current_media_duration: Some(61),
        playlist_items: Some(3),
        ..Default::default()
    };
    s.apply_batch(&[ev(100, EventKind::Status(data))]).unwrap();
    let st = s.current_status(CH).unwrap().unwrap();
    assert_eq!(st.bot_name.as_deref(), Some("Rosey"));
    assert!(st.bot_connected);
    assert_eq!(st.current_media_title.as_deref(), Some("Song"));
    assert_eq!(st.current_media_duration, Some(61));
    assert_eq!(st.playlist_items, 3);
    assert!(s.current_status("elsewhere").unwrap().is_none());

    let a = s.enqueue(CH, "first", 10).unwrap();
    let b = s.enqueue(CH, "second", 11).unwrap();
    let c = s.enqueue(CH, "third", 12).unwrap();
    s.enqueue("elsewhere", "not here", 13).unwrap();
    s.mark_sent(a, 20).unwrap();
    s.mark_failed(b, "refused", true, 21).unwrap();
    s.mark_failed(c, "timeout", false, 22).unwrap();
    let rows = s.outbound_recent(CH, 10).unwrap();
    let got: Vec<(i64, &str, bool)> = rows
        .iter()
        .map(|r| (r.id, r.status.as_str(), r.sent))
        .collect();
    assert_eq!(
        got,
        [
            (c, "retrying", false),
            (b, "failed", true),
            (a, "sent", true)
        ],
        "newest first, with the derived status"
    );
    assert_eq!(rows[0].last_error.as_deref(), Some("timeout"));
    assert_eq!(rows[2].sent_timestamp, Some(20));
    assert_eq!(s.outbound_recent(CH, 1).unwrap().len(), 1);
}

fn user_search_activity_and_lines(db: &Db) {
    let mut s = db.open();
    let hour = 1_700_000_000 / 3600 * 3600;
    s.apply_batch(&[
        ev(
            hour,
            EventKind::UserJoined {
                username: "Alice".into(),
            },
        ),
        msg("Alice", "one", hour + 1),
        msg("Alice", "two", hour + 3601),
        msg("al_x", "three", hour + 3602),
        msg("bob", "four", hour + 3603),
    ])
    .unwrap();
    let users = s.user_search(CH, "al", 10).unwrap();
    let names: Vec<&str> = users.iter().map(|u| u.username.as_str()).collect();
    assert!(
        names.contains(&"Alice") && names.contains(&"al_x"),
        "{names:?}"
    );
    assert_eq!(users[0].username, "Alice", "most lines first");
    assert!(users[0].present);
    assert!(!users[1].present);
    let underscore = s.user_search(CH, "al_", 10).unwrap();
    assert_eq!(underscore.len(), 1, "`_` is not a wildcard");
    assert_eq!(s.user_search(CH, "", 10).unwrap().len(), 3);

    let all = s.chat_activity(CH, hour, None).unwrap();
    let got: Vec<(i64, i64)> = all.iter().map(|h| (h.hour, h.lines)).collect();
    assert_eq!(got, [(hour, 1), (hour + 3600, 3)]);
    let alice = s.chat_activity(CH, hour, Some("Alice")).unwrap();
    assert_eq!(alice.iter().map(|h| h.lines).sum::<i64>(), 2);
    assert!(s.chat_activity(CH, hour + 7200, None).unwrap().is_empty());

    let lines = s.user_lines(CH, "Alice", 10).unwrap();
    let texts: Vec<&str> = lines.iter().map(|l| l.message.as_str()).collect();
    assert_eq!(texts, ["one", "two"]);
    assert_eq!(s.user_lines(CH, "Alice", 1).unwrap()[0].message, "two");
}

fn tokens_insert_verify_revoke_and_rekey(db: &Db) {
    let mut s = db.open();
    let token = "rt_0123456789abcdefghijklmnopqrstuvwxyzABCD";
    s.token_insert(&token_key(token), "ci", 100).unwrap();
    // A v0.5 row, as the original (or an external tool) wrote it.
    s.token_insert("plain-v05-token", "old", 50).unwrap();
    assert_eq!(s.rekey_legacy_tokens().unwrap(), 1);
    assert_eq!(s.rekey_legacy_tokens().unwrap(), 0, "idempotent");
    let rows = s.token_rows().unwrap();
    assert_eq!(rows.len(), 2);
    assert!(
        rows.iter()
            .all(|r| !r.key.contains(token) && r.key != "plain-v05-token")
    );
    assert_eq!(rows[0].key, legacy_key("plain-v05-token"), "oldest first");
    assert_eq!(rows[0].description.as_deref(), Some("old"));
    assert!(find_token(&rows, "plain-v05-token").is_some());
    let row = find_token(&rows, token).unwrap().clone();
    assert_eq!(row.prefix(), "rt_012345678");

    s.token_touch(&row.key, 200).unwrap();
    assert!(s.token_revoke(&row.key).unwrap());
    assert!(!s.token_revoke(&row.key).unwrap(), "already revoked");
    let rows = s.token_rows().unwrap();
    let after = rows.iter().find(|r| r.key == row.key).unwrap();
    assert!(after.revoked);
    assert_eq!(after.last_used, Some(200));
    assert!(find_token(&rows, token).is_none());
    assert_eq!(match_prefix(&rows, "rt_01234").len(), 1);
}

contract!(
    status_row_and_outbound_rows,
    user_search_activity_and_lines,
    tokens_insert_verify_revoke_and_rekey,
);
