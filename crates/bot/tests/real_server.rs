//! What a real CyTube server showed (issue 24), replayed on the devserver with a real
//! `nats-server` and the database service on SQLite: a ban stops the bot for good, a
//! moderator account needs no channel password, moderator-only server whispers stay off the
//! public stream, playlist changes reach the status at once (a clear included), and the
//! bot's own lines are stored as the bot's.

use std::time::Duration;

use rosey_bot::{Bot, BotConfig, ChannelSpec, Intervals, RunState};
use rosey_bus::Subscription;
use rosey_cytube::{Command, Login, QueuePosition, QueueRequest};
use rosey_devserver::DevServerConfig;
use rosey_model::{
    NormalizedEvent, decode, decode_list, encode,
    payload::{ChannelStatsReply, ChatRow, StatusUpdate},
    subjects,
    web::CurrentStatusReply,
};
use rosey_testkit::{
    cytube::{BOT, BOT_PW, Services, bot_login, client_config, join},
    eventually,
};
use serde_json::json;

const WAIT: Duration = Duration::from_secs(15);
const MOD: &str = "moddy";
const MOD_PW: &str = "mod-pw";

/// The shared [`Services`] (reached through `Deref`) and the bot.
struct Rig {
    services: Services,
    bot: Option<Bot>,
}

rosey_testkit::deref_services!(Rig);

/// The bot (a channel moderator, rank 2, as on the real server) in `channel` on a devserver
/// built from `server_cfg`, with `status` as the periodic status interval. Returns once the
/// bot started (not necessarily joined).
async fn rig(channel: &str, server_cfg: DevServerConfig, status: Duration) -> Rig {
    let _ = tracing_subscriber::fmt()
        .with_env_filter("rosey_bot=debug,rosey_cytube=debug,rosey_devserver=info")
        .with_test_writer()
        .try_init();
    let services = Services::start(
        server_cfg
            .with_account(BOT, BOT_PW, 1.0)
            .with_channel_rank(BOT, 2.0)
            .with_account(MOD, MOD_PW, 1.0)
            .with_channel_rank(MOD, 2.0),
        channel,
    )
    .await;
    let spec = ChannelSpec::cytube(
        channel,
        channel,
        client_config(&services.server, channel, bot_login()),
    );
    let mut cfg = BotConfig::new(vec![spec]);
    cfg.intervals = Intervals {
        user_count: Duration::from_millis(300),
        status,
        pump: Duration::from_millis(200),
        pump_request_timeout: Duration::from_secs(1),
        shell_db_timeout: Duration::from_secs(1),
    };
    let bot = Bot::start(services.bus.clone(), cfg);
    Rig {
        services,
        bot: Some(bot),
    }
}

impl Rig {
    async fn stop(mut self) {
        if let Some(bot) = self.bot.take() {
            bot.shutdown().await;
        }
        self.stop_db().await;
    }

    async fn request(&self, subject: &str, body: serde_json::Value) -> bytes::Bytes {
        self.bus
            .request(subject, encode(&body), Duration::from_secs(2))
            .await
            .expect("an answer")
            .payload
    }

    async fn recent_chat(&self, channel: &str) -> Vec<ChatRow> {
        let reply = self
            .request(subjects::RECENT_CHAT_GET, json!({"channel": channel}))
            .await;
        decode_list(&reply).expect("recent_chat reply")
    }
}

/// The next message on `sub` that decodes as `T` and satisfies `ok`, within `within`.
async fn next_where<T: serde::de::DeserializeOwned>(
    sub: &mut Subscription,
    within: Duration,
    what: &str,
    ok: impl Fn(&T) -> bool,
) -> T {
    tokio::time::timeout(within, async {
        loop {
            let msg = sub.next().await.expect("subscription open");
            if let Ok(v) = decode::<T>(&msg.payload)
                && ok(&v)
            {
                return v;
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("timed out waiting for {what}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_banned_bot_stops_for_good_instead_of_reconnecting() {
    let mut rig = rig(
        "banroom",
        DevServerConfig::default(),
        Duration::from_millis(200),
    )
    .await;
    assert!(rig.server.wait_for_user("banroom", BOT, WAIT).await);
    rig.server.ban("banroom", BOT, false);
    let bot = rig.bot.as_mut().unwrap();
    let reasons = tokio::time::timeout(WAIT, bot.wait())
        .await
        .expect("the banned bot's only channel stops (the process then exits 3)");
    assert_eq!(reasons.len(), 1);
    assert!(reasons[0].1.contains("banned"), "{reasons:?}");
    assert_eq!(rig.server.kicks_sent(), 1, "no reconnect after the ban");
    rig.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_moderator_bot_joins_a_password_protected_channel_without_the_password() {
    let cfg = DevServerConfig::default().with_channel_password("locked", "sesame");
    let rig = rig("locked", cfg, Duration::from_millis(200)).await;
    // The server admits a rank 2 account after its login; the bot must wait for that
    // instead of stopping at the first `needPassword`.
    let states = rig.bot.as_ref().unwrap().states().clone();
    eventually("the bot in the channel", WAIT, || async {
        let now = states.snapshot();
        assert!(
            !matches!(now[0].1, RunState::Stopped { .. }),
            "the bot gave up: {now:?}"
        );
        (now[0].1 == RunState::Joined).then_some(())
    })
    .await;
    assert!(rig.server.wait_for_user("locked", BOT, WAIT).await);
    rig.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn moderator_only_server_whispers_stay_off_the_public_stream() {
    let rig = rig(
        "whispers",
        DevServerConfig::default(),
        Duration::from_millis(200),
    )
    .await;
    assert!(rig.server.wait_for_user("whispers", BOT, WAIT).await);
    let mut messages = rig
        .bus
        .subscribe("rosey.events.whispers.message")
        .await
        .unwrap();
    // The bot (a moderator) gets "[server] alice joined (aliases: alice)".
    let (alice, _alice_events) = join(&rig.server, "whispers", Login::Guest("alice".into())).await;
    alice.chat("hello after the whisper").unwrap();
    let mut seen = Vec::new();
    tokio::time::timeout(WAIT, async {
        loop {
            let msg = messages.next().await.unwrap();
            let ev: NormalizedEvent = decode(&msg.payload).unwrap();
            let done = matches!(&ev.body, rosey_model::EventBody::Message { content, .. }
                if content == "hello after the whisper");
            seen.push(ev);
            if done {
                return;
            }
        }
    })
    .await
    .expect("alice's line is published");
    assert!(
        !seen.iter().any(|e| matches!(&e.body,
            rosey_model::EventBody::Message { user, content, .. }
                if user == "[server]" || content.contains("aliases"))),
        "{seen:#?}"
    );
    let rows = rig.recent_chat("whispers").await;
    assert!(
        !rows.iter().any(|r| r.message.contains("aliases")),
        "{rows:?}"
    );
    rig.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn playlist_changes_reach_the_status_at_once_and_a_clear_stops_the_media() {
    // The periodic status is an hour away: only prompt updates can pass this test.
    let rig = rig(
        "playroom",
        DevServerConfig::default(),
        Duration::from_secs(3600),
    )
    .await;
    assert!(rig.server.wait_for_user("playroom", BOT, WAIT).await);
    let mut status = rig.bus.subscribe(subjects::STATUS_UPDATE).await.unwrap();
    let mut changes = rig
        .bus
        .subscribe("rosey.events.playroom.playlist_change")
        .await
        .unwrap();
    let login = Login::Registered {
        name: MOD.into(),
        password: MOD_PW.into(),
    };
    let (moderator, _events) = join(&rig.server, "playroom", login).await;
    moderator
        .queue(QueueRequest::new("abc123", "yt", QueuePosition::End))
        .unwrap();
    let s: StatusUpdate = next_where(
        &mut status,
        Duration::from_secs(5),
        "a status with the item",
        |u: &StatusUpdate| {
            let s = &u.status_data;
            s.playlist_items == Some(1)
                && s.current_media_title
                    .as_deref()
                    .is_some_and(|t| !t.is_empty())
        },
    )
    .await;
    assert_eq!(s.status_data.channel_name.as_deref(), Some("playroom"));

    moderator
        .send(Command::Raw {
            name: "clearPlaylist".into(),
            args: vec![],
        })
        .unwrap();
    next_where(
        &mut status,
        Duration::from_secs(5),
        "a status after the clear",
        |u: &StatusUpdate| {
            let s = &u.status_data;
            s.playlist_items == Some(0) && s.current_media_title.as_deref() == Some("")
        },
    )
    .await;
    let cleared: NormalizedEvent = next_where(
        &mut changes,
        Duration::from_secs(5),
        "the clear's playlist_change",
        |e: &NormalizedEvent| {
            matches!(&e.body, rosey_model::EventBody::PlaylistChange { action, data }
            if action == "playlist" && data["count"] == json!(0))
        },
    )
    .await;
    let rosey_model::EventBody::PlaylistChange { data, .. } = cleared.body else {
        unreachable!()
    };
    assert_eq!(data["current"], serde_json::Value::Null, "{data}");
    assert_eq!(data["upcoming"], json!([]), "{data}");

    // The stored status forgets the media too.
    eventually("the stored status without media", WAIT, || async {
        let reply = rig
            .request(
                subjects::QUERY_CURRENT_STATUS,
                json!({"channel": "playroom"}),
            )
            .await;
        let s: CurrentStatusReply = decode(&reply).ok()?;
        (s.found && s.status.playlist_items == 0 && s.status.current_media_title.is_none())
            .then_some(())
    })
    .await;
    rig.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bots_own_lines_are_stored_but_it_is_no_top_chatter() {
    let rig = rig(
        "talk",
        DevServerConfig::default(),
        Duration::from_millis(200),
    )
    .await;
    assert!(rig.server.wait_for_user("talk", BOT, WAIT).await);
    let (alice, _events) = join(&rig.server, "talk", Login::Guest("alice".into())).await;
    alice.chat("!roll please").unwrap();
    let reply = rig
        .request(
            "rosey.commands.talk.chat",
            json!({"message": "alice rolled 4"}),
        )
        .await;
    let reply: serde_json::Value = serde_json::from_slice(&reply).unwrap();
    assert_eq!(reply["success"], json!(true), "{reply}");

    let rows = eventually("both lines in the history", WAIT, || async {
        let rows = rig.recent_chat("talk").await;
        (rows.len() >= 2).then_some(rows)
    })
    .await;
    let lines: Vec<(&str, &str)> = rows
        .iter()
        .map(|r| (r.username.as_str(), r.message.as_str()))
        .collect();
    assert!(lines.contains(&("alice", "!roll please")), "{lines:?}");
    assert!(lines.contains(&(BOT, "alice rolled 4")), "{lines:?}");

    let stats: ChannelStatsReply = decode(
        &rig.request(subjects::QUERY_CHANNEL_STATS, json!({"channel": "talk"}))
            .await,
    )
    .unwrap();
    let top: Vec<&str> = stats
        .top_chatters
        .iter()
        .map(|t| t.username.as_str())
        .collect();
    assert_eq!(top, ["alice"], "the bot is not a top chatter");
    rig.stop().await;
}
