//! `rosey db copy` of the Rosey v0.5 fixture database into a fresh PostgreSQL database, run
//! as a user runs it: interrupted once, resumed, then every row count and the answers of
//! every query compared — by the tool and, independently, here.

use std::process::Command;

use rosey_store::storage::{self, Storage, StoreTarget};
use rosey_store::{StoreOptions, now_secs};
use rosey_testkit::pg::PgTestDb;

const CH: &str = "v05chan";

fn copy(from: &std::path::Path, to: &str, extra: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_rosey"))
        .args(["db", "copy", "--from"])
        .arg(from)
        .args(["--to", to, "--channel", CH, "--chunk-rows", "1"])
        .args(extra)
        .output()
        .unwrap()
}

fn answers(s: &mut dyn Storage) -> serde_json::Value {
    let now = now_secs();
    serde_json::json!({
        "stats": s.channel_stats(CH).unwrap(),
        "chat": s.recent_chat(CH, 50).unwrap(),
        "history": s.user_count_history(CH, 1.0e6, now).unwrap(),
        "due": s.due(CH, 50, 3, now).unwrap(),
        "alice": s.user_stats(CH, "alice").unwrap(),
        "bob": s.user_stats(CH, "bob").unwrap(),
        "nobody": s.user_stats(CH, "nobody").unwrap(),
    })
}

#[test]
fn v05_database_copied_into_postgres_interrupted_and_resumed_answers_the_same() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bot_data.db");
    rosey_testkit::create_v05_database(&file);
    let pg = PgTestDb::create("copy");
    let url = pg.url();

    let first = copy(&file, &url, &["--stop-after-rows", "5"]);
    let out = String::from_utf8_lossy(&first.stdout);
    assert_eq!(
        first.status.code(),
        Some(3),
        "{out}\n{}",
        String::from_utf8_lossy(&first.stderr)
    );
    assert!(out.contains("interrupted after 5 rows"), "{out}");
    assert!(
        dir.path().join("bot_data.db.v0.5.bak").exists(),
        "adopted after a backup"
    );

    let second = copy(&file, &url, &[]);
    let out = String::from_utf8_lossy(&second.stdout);
    assert!(
        second.status.success(),
        "{out}\n{}",
        String::from_utf8_lossy(&second.stderr)
    );
    assert!(out.contains("resumed an earlier copy"), "{out}");
    assert!(
        out.contains("every row count and answer is identical"),
        "{out}"
    );

    // Independently: every row, the same answers.
    let opts = StoreOptions::with_channel(CH);
    let mut src = storage::open(&StoreTarget::Sqlite(file.clone()), &opts).unwrap();
    let mut dst = storage::open(&StoreTarget::Postgres(url.clone()), &opts).unwrap();
    for table in [
        "user_stats",
        "user_actions",
        "channel_stats",
        "user_count_history",
        "recent_chat",
        "current_status",
        "outbound_messages",
        "api_tokens",
    ] {
        let n = src.count_rows(table).unwrap();
        assert!(n > 0, "the fixture has rows in {table}");
        assert_eq!(dst.count_rows(table).unwrap(), n, "{table}");
    }
    let a = answers(&mut *src);
    assert_eq!(a["alice"]["total_chat_lines"], 42);
    assert_eq!(a, answers(&mut *dst));

    // A third run copies nothing more, and new rows get fresh ids in PostgreSQL.
    let third = copy(&file, &url, &[]);
    assert!(third.status.success());
    assert!(String::from_utf8_lossy(&third.stdout).contains("copied 0 rows in this run"));
    let id = dst.enqueue(CH, "after the copy", now_secs()).unwrap();
    assert_eq!(id, 3, "past the copied ids");

    // An unrelated, non-empty target is refused.
    let other = dir.path().join("other.db");
    rosey_testkit::create_v05_database(&other);
    let refused = copy(&other, &url, &[]);
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("already holds rows"));
}
