//! The bot on a real Matrix homeserver (Synapse from PyPI, started per test on a loopback
//! port with its own configuration and SQLite; users made with `register_new_matrix_user`):
//! the bot joins the room named in a `"type": "matrix"` entry, and a second client speaking
//! plain HTTP sends 30 lines → 30 chat rows for the channel `matrix:<name>/<room>`. Skipped
//! with the reason where Synapse is missing, a failure under `CI=true`.

use std::time::Duration;

use rosey_bot::{Bot, BotConfig, RunState};
use rosey_testkit::{
    bus_db::{BusDb, expect_stored_lines},
    eventually,
    synapse::{Peer, Synapse},
};
use serde_json::json;

const WAIT: Duration = Duration::from_secs(30);
const PW: &str = "correct horse battery";
const CHANNEL: &str = "matrix:home/#lobby:localhost";

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

    let mut base = BusDb::start(CHANNEL).await;
    let config = rosey_config::Config::from_value(json!({
        "version": "2.0",
        "platforms": [{"type": "matrix", "name": "home", "homeserver": server.url(),
                       "user": [server.user_id("rosey"), PW], "channel": "#lobby:localhost",
                       "state_file": base.tmp.path().join("sync.json")}]
    }))
    .unwrap();
    let mut cfg = BotConfig::from_config(&config);
    cfg.plugins = None;
    assert_eq!(cfg.channels[0].channel, CHANNEL);
    let bot = Bot::start(base.bus.clone(), cfg);
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

    let lines: Vec<String> = (0..30).map(|i| format!("line {i}")).collect();
    for line in &lines {
        alice.say(&room, line).await;
    }
    expect_stored_lines(&base.bus, CHANNEL, "@alice:localhost", &lines, WAIT).await;
    bot.shutdown().await;
    base.stop_db().await;
}
