//! Durable-mode checks shared by the fault tests: exact counts in an SQLite store and the
//! state of the database services' durable consumer.

use std::path::Path;
use std::time::{Duration, Instant};

use bytes::Bytes;
use rosey_bus::Bus;
use rosey_model::subjects;
use serde_json::Value;

pub const STREAM: &str = "ROSEY_DB";
pub const CONSUMER: &str = "rosey-db-service";
/// How long a drain (or any awaited condition) may take.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(60);
pub const POLL: Duration = Duration::from_millis(20);

/// `n` distinct chat lines over 50 users in `channel`.
pub fn chat_events(n: usize, tag: &str, channel: &str) -> Vec<(&'static str, Bytes)> {
    (0..n)
        .map(|i| {
            let p = format!(
                r#"{{"username":"u{}","message":"{tag} line {i}","channel":"{channel}"}}"#,
                i % 50
            );
            (subjects::MESSAGE_LOG, Bytes::from(p))
        })
        .collect()
}

/// (rows, distinct messages, sum of total_chat_lines) in the database; zeros before the
/// file exists.
pub fn counts(db: &Path) -> (i64, i64, i64) {
    if !db.exists() {
        return (0, 0, 0);
    }
    let s = rosey_store::Store::open_read_only(db, &rosey_store::StoreOptions::default()).unwrap();
    let q = |sql: &str| -> i64 { s.connection().query_row(sql, [], |r| r.get(0)).unwrap() };
    (
        q("SELECT count(*) FROM recent_chat"),
        q("SELECT count(DISTINCT message) FROM recent_chat"),
        q("SELECT coalesce(sum(total_chat_lines), 0) FROM user_stats"),
    )
}

pub fn rows(db: &Path) -> i64 {
    counts(db).0
}

/// Polls until `recent_chat` holds at least `n` rows.
pub async fn wait_rows_at_least(db: &Path, n: i64, what: &str) {
    let deadline = Instant::now() + DRAIN_TIMEOUT;
    loop {
        let r = rows(db);
        if r >= n {
            return;
        }
        assert!(Instant::now() < deadline, "{what}: {r} of {n} rows");
        tokio::time::sleep(POLL).await;
    }
}

/// The durable consumer's info from the JetStream API (`None` while unreachable).
pub async fn consumer_info(client: &Bus) -> Option<Value> {
    let r = client
        .request(
            &format!("$JS.API.CONSUMER.INFO.{STREAM}.{CONSUMER}"),
            Bytes::new(),
            Duration::from_secs(2),
        )
        .await
        .ok()?;
    serde_json::from_slice(&r.payload).ok()
}

/// (num_pending, num_ack_pending) of the durable consumer.
pub async fn consumer_state(client: &Bus) -> Option<(u64, u64)> {
    let v = consumer_info(client).await?;
    Some((v["num_pending"].as_u64()?, v["num_ack_pending"].as_u64()?))
}

/// Waits until every one of `n` events is stored and the consumer has nothing left to
/// deliver or to redeliver, then checks the exact counts.
pub async fn assert_exactly_stored(client: &Bus, db: &Path, n: i64) {
    let deadline = Instant::now() + DRAIN_TIMEOUT;
    loop {
        let r = rows(db);
        assert!(r <= n, "{r} rows for {n} events: stored twice");
        if r == n && consumer_state(client).await == Some((0, 0)) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "not drained: {r} of {n} rows, consumer {:?}",
            consumer_state(client).await
        );
        tokio::time::sleep(POLL).await;
    }
    assert_eq!(counts(db), (n, n, n), "(rows, distinct, chat lines)");
}

/// Spawns `rosey db-service --jetstream` on `config` and waits until it answers a query.
pub async fn start_db_service(client: &Bus, config: &Path, db: &Path) -> tokio::process::Child {
    let mut child = super::spawn_rosey(
        &[
            "db-service",
            config.to_str().unwrap(),
            "--jetstream",
            "--ack-wait",
            "2",
            "--log-level",
            "warn",
            "--db-path",
            db.to_str().unwrap(),
        ],
        None,
    );
    let deadline = Instant::now() + DRAIN_TIMEOUT;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            panic!("db-service exited during start-up: {status}");
        }
        let r = client
            .request(
                subjects::QUERY_CHANNEL_STATS,
                &b"{}"[..],
                Duration::from_millis(250),
            )
            .await;
        if r.is_ok() {
            return child;
        }
        assert!(Instant::now() < deadline, "db-service never ready");
    }
}
