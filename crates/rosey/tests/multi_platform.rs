//! One `rosey run` process holding a channel on each platform at once — a devserver CyTube
//! channel, an InspIRCd channel and a Synapse room — with real servers, a real nats-server and the database
//! service: a line said on each platform is stored under that platform's channel and no
//! other (`rosey stats --channel`), and `rosey status` and `/metrics` list every channel with
//! its per-channel series. Skipped (with the reason) where `inspircd` or Synapse is
//! missing, a failure under CI=true.
//!
//! Before the platform seam the IRC channel's series never reached `/metrics` (built from
//! the CyTube list only: it had `rosey_bot_connected` and `rosey_bot_channel_state`, from
//! the shared run states, and nothing else), and this test failed there.

mod common;
use common::platforms;

use std::{
    collections::{BTreeMap, BTreeSet},
    path::{Path, PathBuf},
    time::Duration,
};

use rosey_devserver::{DevServer, DevServerConfig};
use rosey_testkit::{
    NatsServer, eventually_with,
    ircd::{IrcServer, RawClient},
    synapse::{Peer, Synapse},
};
use serde_json::json;

const WAIT: Duration = Duration::from_secs(30);
const BOT: &str = "RoseyMulti";
const BOT_PW: &str = "botpw";
const CYTUBE: &str = "multi";
const IRC: &str = "irc:net/#multi";
/// The bot's Matrix user (localparts are lower case) and the room's alias.
const MX_BOT: &str = "roseymulti";
const MX_ALIAS: &str = "multi";

/// Per-channel families every channel must have in `/metrics`, whatever its platform (the
/// platform-neutral ones: connection, users, the bus, the outbound queue, the breaker).
const PER_CHANNEL: &[&str] = &[
    "rosey_bot_connected",
    "rosey_bot_channel_state",
    "rosey_bot_reconnects_total",
    "rosey_bot_users_connected",
    "rosey_bot_bus_published_total",
    "rosey_bot_outbound_sent_total",
    "rosey_bot_db_breaker_state",
];

fn config(
    dir: &Path,
    nats: &NatsServer,
    devserver: &DevServer,
    irc: &IrcServer,
    synapse: &Synapse,
) -> PathBuf {
    let alias = format!("#{MX_ALIAS}:{}", rosey_testkit::synapse::SERVER_NAME);
    let bot_id = synapse.user_id(MX_BOT);
    let path = dir.join("config.json");
    let config = json!({
        "version": "2.0",
        "nats": {"url": nats.url(), "reconnect_delay": 0.2},
        "database": {"path": dir.join("multi.db"), "run_as_service": true},
        "platforms": [
            platforms::cytube("c", devserver, CYTUBE, BOT, BOT_PW),
            platforms::irc("net", irc.port(), BOT, "#multi"),
            platforms::matrix("mx", synapse, &bot_id, BOT_PW, &alias),
        ],
        "logging": {"level": "warn"}
    });
    std::fs::write(&path, serde_json::to_vec_pretty(&config).unwrap()).unwrap();
    path
}

/// `/metrics`: channel → the families with a series for it, and the `rosey_bot_connected`
/// value per channel.
async fn metrics(port: u16) -> (BTreeMap<String, BTreeSet<String>>, BTreeMap<String, String>) {
    let text = reqwest::get(format!("http://127.0.0.1:{port}/metrics"))
        .await
        .and_then(|r| r.error_for_status())
        .map(|r| r.text());
    let text = match text {
        Ok(t) => t.await.unwrap_or_default(),
        Err(_) => String::new(),
    };
    let mut families: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut connected = BTreeMap::new();
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let Some((name, rest)) = line.split_once('{') else {
            continue;
        };
        let Some(channel) = rest
            .split_once("channel=\"")
            .and_then(|(_, r)| r.split_once('"'))
            .map(|(c, _)| c.to_string())
        else {
            continue;
        };
        if name == "rosey_bot_connected" {
            let value = line.rsplit(' ').next().unwrap_or_default();
            connected.insert(channel.clone(), value.to_string());
        }
        families.entry(channel).or_default().insert(name.into());
    }
    (families, connected)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_process_holds_a_channel_on_every_platform_and_keeps_their_events_apart() {
    if !rosey_testkit::tools::inspircd() || !rosey_testkit::tools::synapse() {
        return;
    }
    let nats = NatsServer::start();
    let url = nats.url();
    let devserver = DevServer::start(DevServerConfig::default().with_account(BOT, BOT_PW, 2.0))
        .await
        .unwrap();
    let irc = IrcServer::start();
    let synapse = Synapse::start();
    synapse.register(MX_BOT, BOT_PW);
    synapse.register("mxuser", BOT_PW);
    let mut mx_user = Peer::login(&synapse, "mxuser", BOT_PW).await;
    let room = mx_user.create_public_room(MX_ALIAS).await;
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path(), &nats, &devserver, &irc, &synapse);
    let metrics_port = rosey_testkit::free_port();
    let listen = format!("127.0.0.1:{metrics_port}");
    let mut bot = common::spawn_rosey(
        &["run", config.to_str().unwrap(), "--metrics-listen", &listen],
        None,
    );

    // Someone on each platform says a line once the bot is there.
    let mut irc_user = RawClient::connect(irc.port(), "ircuser").await;
    // Not `join`, which passes over the NAMES list: the bot may already be in it.
    irc_user.send("JOIN #multi").await;
    // The bot may join before or after this user: its JOIN, or its name in the NAMES list
    // the user gets on joining.
    irc_user
        .expect_within(WAIT, |m| {
            let listed = m.command == "353"
                && m.params.last().is_some_and(|names| {
                    names
                        .split(' ')
                        .any(|n| n.trim_start_matches(['@', '+', '%', '&', '~']) == BOT)
                });
            listed || (m.command == "JOIN" && m.source_nick() == Some(BOT))
        })
        .await
        .expect("the bot in the IRC channel");
    let guest = common::join_guest(&devserver.base_url(), CYTUBE, "cyguest", WAIT).await;
    eventually_with("the bot in the CyTube channel", WAIT, || async {
        let users: Vec<String> = devserver
            .users(CYTUBE)
            .iter()
            .map(|u| u.name.clone())
            .collect();
        if users.iter().any(|u| u == BOT) {
            Ok(())
        } else {
            Err(format!("{users:?}"))
        }
    })
    .await;
    let bot_id = synapse.user_id(MX_BOT);
    let (peer, r, b) = (&mx_user, room.as_str(), bot_id.as_str());
    eventually_with("the bot in the Matrix room", WAIT, || async move {
        match peer.membership(r, b).await.as_deref() {
            Some("join") => Ok(()),
            other => Err(format!("membership {other:?}")),
        }
    })
    .await;
    guest.chat("hello from cytube").unwrap();
    irc_user.privmsg("#multi", "hello from irc").await;
    mx_user.say(&room, "hello from matrix").await;

    // Each line is stored under its own channel, and only there. The room's channel is the
    // one `rosey status` lists besides the other two.
    let u = url.as_str();
    let mx = eventually_with("the room's channel in rosey status", WAIT, || async move {
        let s = common::cli::status(u).await;
        let others: Vec<&String> = s.keys().filter(|c| *c != CYTUBE && *c != IRC).collect();
        match others.as_slice() {
            [one] => Ok(one.to_string()),
            _ => Err(format!("{s:?}")),
        }
    })
    .await;
    let expected = [
        (CYTUBE, "cyguest"),
        (IRC, "ircuser"),
        (mx.as_str(), "mxuser"),
    ];
    for (channel, user) in expected {
        let url = url.as_str();
        eventually_with(
            &format!("{user}'s line under {channel}"),
            WAIT,
            || async move {
                let seen = common::cli::chatters(url, channel).await;
                // Matrix users are stored by their user id, `@mxuser:localhost`.
                let only_user = seen.len() == 1
                    && seen.iter().all(|(name, &lines)| {
                        let name = name.trim_start_matches('@');
                        lines == 1 && name.split(':').next() == Some(user)
                    });
                if only_user {
                    Ok(())
                } else {
                    Err(format!("{seen:?}"))
                }
            },
        )
        .await;
    }

    // `rosey status` lists every channel, joined and running.
    let channels: BTreeSet<String> = expected.iter().map(|(c, _)| c.to_string()).collect();
    let (u, chs) = (url.as_str(), &channels);
    eventually_with("every channel in rosey status", WAIT, || async move {
        let s = common::cli::status(u).await;
        let listed: BTreeSet<String> = s.keys().cloned().collect();
        let running = s.values().all(|(joined, st)| *joined && st == "running");
        if &listed == chs && running {
            Ok(())
        } else {
            Err(format!("{s:?}"))
        }
    })
    .await;

    // `/metrics` has each channel's series, each channel connected.
    eventually_with("every channel's series in /metrics", WAIT, || async move {
        let (families, connected) = metrics(metrics_port).await;
        let complete = chs.iter().all(|c| {
            connected.get(c).is_some_and(|v| v == "1")
                && PER_CHANNEL
                    .iter()
                    .all(|f| families.get(c).is_some_and(|fs| fs.contains(*f)))
        });
        if complete {
            Ok(())
        } else {
            Err(format!("connected {connected:?}; families {families:?}"))
        }
    })
    .await;

    let exit = common::sigterm_and_wait(&mut bot, WAIT).await;
    assert!(exit.success(), "rosey run exits 0 on SIGTERM: {exit}");
}
