//! The bus and the database service as the bot's tests start them on every platform
//! (CyTube, IRC, Matrix): a per-test `nats-server`, a bus on it that reconnects quickly, the
//! database service on an SQLite file in a temporary folder — [`BusDb`] — and what those
//! tests ask of it: a request, the channel's recent chat, and waiting until a user's lines
//! are stored (then checking them and the user's line count).
//!
//! Nothing here knows a chat platform; [`crate::cytube::Services`] adds the devserver.

use std::{
    path::{Path, PathBuf},
    time::Duration,
};

use rosey_bus::{Bus, NatsOptions};
use rosey_dbservice::{DbService, DbServiceConfig, DbServiceHandle};
use rosey_model::{
    decode, decode_list, encode,
    payload::{ChatRow, UserStatsReply},
    subjects,
};
use serde_json::{Value, json};

use crate::{NatsServer, eventually};

/// How long a request waits for the database service.
const REQUEST_WAIT: Duration = Duration::from_secs(2);

/// A bus on `nats` that reconnects after 100 ms (for tests that restart the server).
pub async fn bus(nats: &NatsServer) -> Bus {
    let mut options = NatsOptions::new(nats.url());
    options.reconnect_delay = Duration::from_millis(100);
    Bus::connect(options).await.expect("connect to nats")
}

/// The database service on the file `path`, writing batches after 5 ms.
pub async fn db_service(bus: &Bus, path: &Path, default_channel: &str) -> DbServiceHandle {
    let mut cfg = DbServiceConfig::new(path, default_channel);
    cfg.batch_delay = Duration::from_millis(5);
    DbService::start(bus.clone(), cfg)
        .await
        .expect("database service starts")
}

/// A `nats-server`, a bus on it and the database service on an SQLite file in a
/// temporary folder: what a bot test starts before its bot.
pub struct BusDb {
    /// The per-test `nats-server` (a test may stop and restart it).
    pub nats: NatsServer,
    /// A bus on `nats` that reconnects quickly ([`bus`]).
    pub bus: Bus,
    /// The database service, `None` while a test has it stopped.
    pub db: Option<DbServiceHandle>,
    /// The service's database file.
    pub db_path: PathBuf,
    /// Holds `db_path` (and whatever else a test puts there); removed when dropped.
    pub tmp: tempfile::TempDir,
}

impl BusDb {
    /// Starts the `nats-server`, the bus and the database service (with
    /// `default_channel`), in that order.
    pub async fn start(default_channel: &str) -> BusDb {
        let nats = NatsServer::start();
        let bus = bus(&nats).await;
        let tmp = tempfile::tempdir().expect("a temporary folder");
        let db_path = tmp.path().join("bot.db");
        let db = db_service(&bus, &db_path, default_channel).await;
        BusDb {
            nats,
            bus,
            db: Some(db),
            db_path,
            tmp,
        }
    }

    /// Shuts the database service down (when it runs), checking it stopped cleanly.
    pub async fn stop_db(&mut self) {
        if let Some(db) = self.db.take() {
            db.shutdown().await.unwrap();
        }
    }
}

/// Asks `subject` with `body` and returns the reply's payload (fails the test when nobody
/// answers within 2 s).
pub async fn request(bus: &Bus, subject: &str, body: Value) -> Vec<u8> {
    bus.request(subject, encode(&body), REQUEST_WAIT)
        .await
        .unwrap_or_else(|e| panic!("no answer on {subject}: {e}"))
        .payload
        .to_vec()
}

/// Asks `subject` with `body`, waiting up to `wait`, and returns the reply decoded as JSON
/// (fails the test when nobody answers or the reply is not JSON).
pub async fn ask(bus: &Bus, subject: &str, body: Value, wait: Duration) -> Value {
    let reply = bus
        .request(subject, encode(&body), wait)
        .await
        .unwrap_or_else(|e| panic!("no answer on {subject}: {e}"));
    serde_json::from_slice(&reply.payload)
        .unwrap_or_else(|e| panic!("the answer on {subject} is not JSON: {e}"))
}

/// The recent chat of `channel` as the database service has it.
pub async fn recent_chat(bus: &Bus, channel: &str) -> Vec<ChatRow> {
    decode_list(&request(bus, subjects::RECENT_CHAT_GET, json!({"channel": channel})).await)
        .expect("recent_chat reply")
}

/// Waits (up to `within`) until `user` has `texts.len()` lines stored in `channel`, then
/// checks they are `texts`, in order, and that the user's statistics count them.
pub async fn expect_stored_lines(
    bus: &Bus,
    channel: &str,
    user: &str,
    texts: &[String],
    within: Duration,
) {
    let stored = eventually(
        &format!("{} chat rows of {user}", texts.len()),
        within,
        || async {
            let lines: Vec<String> = recent_chat(bus, channel)
                .await
                .into_iter()
                .filter(|r| r.username == user)
                .map(|r| r.message)
                .collect();
            (lines.len() == texts.len()).then_some(lines)
        },
    )
    .await;
    assert_eq!(stored, texts);
    let body = json!({"channel": channel, "username": user});
    match decode::<UserStatsReply>(&request(bus, subjects::QUERY_USER_STATS, body).await) {
        Ok(UserStatsReply::Found(u)) => assert_eq!(u.total_chat_lines, texts.len() as i64),
        other => panic!("user stats of {user}: {other:?}"),
    }
}
