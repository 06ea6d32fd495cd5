//! The bot on a real Matrix homeserver (Synapse from PyPI, started per test on a loopback
//! port with its own configuration and SQLite; users made with `register_new_matrix_user`):
//! the bot joins the room named in a `"type": "matrix"` entry, and a second client speaking
//! plain HTTP sends 30 lines → 30 chat rows for the channel `matrix:<name>/<room>`. Skipped
//! with the reason where Synapse is missing, a failure under `CI=true`.

use std::time::Duration;

use rosey_bot::{Bot, BotConfig, RunState};
use rosey_bus::Bus;
use rosey_model::{
    decode, decode_list, encode,
    payload::{ChatRow, UserStatsReply},
    subjects,
};
use rosey_testkit::{
    NatsServer, eventually,
    synapse::{Peer, Synapse},
};
use serde_json::json;

const WAIT: Duration = Duration::from_secs(30);
const PW: &str = "correct horse battery";
const CHANNEL: &str = "matrix:home/#lobby:localhost";

async fn request(bus: &Bus, subject: &str, body: serde_json::Value) -> bytes::Bytes {
    bus.request(subject, encode(&body), Duration::from_secs(2))
        .await
        .expect("database service answers")
        .payload
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bot_joins_a_matrix_room_and_stores_30_lines() {
    if !rosey_testkit::tools::synapse() {
        return;
    }
    let _ = tracing_subscriber::fmt()
        .with_env_filter("rosey_bot=debug,rosey_matrix=debug")
        .with_test_writer()
        .try_init();
    let server = Synapse::start();
    server.register("rosey", PW);
    server.register("alice", PW);
    let mut alice = Peer::login(&server, "alice", PW).await;
    let room = alice.create_public_room("lobby").await;

    let nats = NatsServer::start();
    let bus = rosey_testkit::cytube::bus(&nats).await;
    let tmp = tempfile::tempdir().unwrap();
    let db_path = tmp.path().join("bot.db");
    let db = rosey_testkit::cytube::db_service(&bus, &db_path, CHANNEL).await;
    let config = rosey_config::Config::from_value(json!({
        "version": "2.0",
        "platforms": [{"type": "matrix", "name": "home", "homeserver": server.url(),
                       "user": [server.user_id("rosey"), PW], "channel": "#lobby:localhost",
                       "state_file": tmp.path().join("sync.json")}]
    }))
    .unwrap();
    let mut cfg = BotConfig::from_config(&config);
    cfg.plugins = None;
    assert_eq!(cfg.channels[0].channel, CHANNEL);
    let bot = Bot::start(bus.clone(), cfg);
    let states = bot.states().clone();
    eventually("the bot in the room", WAIT, || async {
        (states.get(CHANNEL) == Some(RunState::Joined)).then_some(())
    })
    .await;
    eventually("the bot a member", WAIT, || async {
        (alice
            .membership(&room, &server.user_id("rosey"))
            .await
            .as_deref()
            == Some("join"))
        .then_some(())
    })
    .await;

    for i in 0..30 {
        alice.say(&room, &format!("line {i}")).await;
    }
    let rows = eventually("30 chat rows", WAIT, || async {
        let rows: Vec<ChatRow> = decode_list(
            &request(&bus, subjects::RECENT_CHAT_GET, json!({"channel": CHANNEL})).await,
        )
        .expect("recent_chat reply");
        (rows
            .iter()
            .filter(|r| r.username == "@alice:localhost")
            .count()
            == 30)
            .then_some(rows)
    })
    .await;
    let texts: Vec<_> = rows
        .iter()
        .filter(|r| r.username == "@alice:localhost")
        .map(|r| r.message.clone())
        .collect();
    assert_eq!(
        texts,
        (0..30).map(|i| format!("line {i}")).collect::<Vec<_>>()
    );
    match decode::<UserStatsReply>(
        &request(
            &bus,
            subjects::QUERY_USER_STATS,
            json!({"channel": CHANNEL, "username": "@alice:localhost"}),
        )
        .await,
    )
    .unwrap()
    {
        UserStatsReply::Found(u) => assert_eq!(u.total_chat_lines, 30),
        other => panic!("{other:?}"),
    }
    bot.shutdown().await;
    db.shutdown().await.unwrap();
}
