//! Lines said while the bot was down (issue 29): the devserver, like CyTube, replays the
//! channel's last `history_len` (15) chat lines on join. The bot publishes them as replayed
//! `message.log` events with the server's time, and the database service stores those it
//! does not have yet — each exactly once, however often the bot restarts.
//!
//! Real processes: `rosey bot` (SIGKILLed and started again), `rosey db-service --jetstream`
//! (durable mode), a real nats-server and the devserver with two guests chatting.

mod common;
use common::durable::{POLL, assert_exactly_stored, counts};

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use rosey_bus::durable::{StreamSettings, ensure_db_stream};
use rosey_bus::{Bus, NatsOptions};
use rosey_devserver::{DevServer, DevServerConfig};
use rosey_testkit::NatsServer;
use rosey_testkit::service::until_db_service_answers;
use serde_json::json;
use tokio::process::{Child, Command};

const WAIT: Duration = common::durable::DRAIN_TIMEOUT;
const CHANNEL: &str = "replay";
const BOT: &str = "rosey";

fn rosey(args: &[&str]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_rosey"))
        .args(args)
        .env_remove("NATS_URL")
        .env_remove("DATABASE_URL")
        .env_remove("DATABASE_PATH")
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("run the rosey binary")
}

/// The messages in `recent_chat`, sorted.
fn stored(db: &Path) -> Vec<String> {
    let s = rosey_store::Store::open_read_only(db, &rosey_store::StoreOptions::default()).unwrap();
    let mut stmt = s
        .connection()
        .prepare("SELECT message FROM recent_chat ORDER BY message")
        .unwrap();
    stmt.query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

/// Sends `lines` alternately from the guests, paced under the devserver's flood limit, and
/// waits until the server has broadcast them all (`total` lines in its log).
async fn say(server: &DevServer, guests: &[rosey_cytube::CytubeHandle], lines: &[String]) {
    let before = server.chat_log(CHANNEL).len();
    for (i, line) in lines.iter().enumerate() {
        guests[i % guests.len()].chat(line).unwrap();
        tokio::time::sleep(Duration::from_millis(60)).await;
    }
    let total = before + lines.len();
    assert!(
        server.wait_for_chat_count(CHANNEL, total, WAIT).await,
        "the server broadcast {} of {total} lines",
        server.chat_log(CHANNEL).len()
    );
}

async fn start_bot(server: &DevServer, config: &str) -> Child {
    let bot = rosey(&["bot", config]);
    assert!(server.wait_for_user(CHANNEL, BOT, WAIT).await, "bot joins");
    bot
}

async fn sigkill(server: &DevServer, bot: &mut Child) {
    bot.start_kill().unwrap();
    bot.wait().await.unwrap();
    assert!(
        server.wait_for_user_gone(CHANNEL, BOT, WAIT).await,
        "the server drops the killed bot"
    );
}

/// Waits until the store holds exactly `want` (each once), failing if it ever holds more.
async fn until_stored(client: &Bus, db: &Path, want: &[String]) {
    let deadline = Instant::now() + WAIT;
    while stored(db).len() < want.len() {
        assert!(Instant::now() < deadline, "stored: {:?}", stored(db));
        tokio::time::sleep(POLL).await;
    }
    assert_exactly_stored(client, db, want.len() as i64).await;
    let mut want = want.to_vec();
    want.sort();
    assert_eq!(stored(db), want);
}

fn lines(tag: &str, range: std::ops::Range<usize>) -> Vec<String> {
    range.map(|i| format!("{tag}-{i}")).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lines_said_while_the_bot_was_down_are_stored_once_from_the_replay() {
    let nats = NatsServer::start();
    let url = nats.url();
    let client = Bus::connect(NatsOptions::new(&url)).await.unwrap();
    ensure_db_stream(client.nats_client().unwrap(), &StreamSettings::default())
        .await
        .unwrap();
    let cfg = DevServerConfig::default().with_account(BOT, "botpw", 2.0);
    let history = cfg.history_len;
    assert_eq!(history, 15, "CyTube's replay length");
    let server = DevServer::start(cfg).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("bot.db");
    let config = dir.path().join("bot.json");
    std::fs::write(
        &config,
        serde_json::to_vec(&json!({
            "version": "2.0",
            "nats": {"url": url, "jetstream": true, "reconnect_delay": 0.2},
            "platforms": [{"type": "cytube", "name": "p", "enabled": true,
                           "domain": server.base_url(), "channel": CHANNEL,
                           "user": [BOT, "botpw"], "restart_delay": 1}],
            "logging": {"level": "warn"}
        }))
        .unwrap(),
    )
    .unwrap();
    let config = config.to_str().unwrap();
    let mut service = rosey(&[
        "db-service",
        config,
        "--jetstream",
        "--ack-wait",
        "2",
        "--log-level",
        "warn",
        "--db-path",
        db.to_str().unwrap(),
    ]);
    until_db_service_answers(&client, WAIT, || service.try_wait().unwrap()).await;

    let mut bot = start_bot(&server, config).await;
    let mut guests = Vec::new();
    for name in ["ann", "ben"] {
        guests.push(common::join_guest(&server.base_url(), CHANNEL, name, WAIT).await);
    }

    // Live lines, stored as said.
    let mut want = lines("live", 0..5);
    say(&server, &guests, &want).await;
    until_stored(&client, &db, &want).await;

    // The bot is SIGKILLed; 20 lines are said before it is back. The server replays the
    // last 15: those are stored (once), the 5 before them are lost (longer than the replay).
    sigkill(&server, &mut bot).await;
    let gap = lines("gap", 0..20);
    say(&server, &guests, &gap).await;
    bot = start_bot(&server, config).await;
    want.extend_from_slice(&gap[gap.len() - history..]);
    let after = lines("after", 0..1);
    say(&server, &guests, &after).await;
    want.extend(after);
    until_stored(&client, &db, &want).await;

    // Killed and started again with nothing said: the replay holds only stored lines, and
    // none is stored twice.
    sigkill(&server, &mut bot).await;
    bot = start_bot(&server, config).await;
    let again = lines("again", 0..1);
    say(&server, &guests, &again).await;
    want.extend(again);
    until_stored(&client, &db, &want).await;
    let n = want.len() as i64;
    assert_eq!(counts(&db), (n, n, n), "(rows, distinct, chat lines)");

    common::sigterm_and_wait(&mut bot, WAIT).await;
    common::sigterm_and_wait(&mut service, WAIT).await;
}
