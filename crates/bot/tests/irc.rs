//! The bot on IRC, end to end with real components: a real IRC server (InspIRCd on loopback
//! ports with its own configuration), a real `nats-server`, the database service on SQLite,
//! test IRC clients over raw sockets — and, for the two-platform tests, the CyTube devserver
//! (and for chat commands the standard plugins, in this process, on the rig's NATS).
//! Skipped (with the reason) where `inspircd` is missing, a failure under CI=true
//! (`rosey_testkit::tools`).

use std::{path::PathBuf, time::Duration};

use rosey_bot::{Bot, BotConfig, ChannelSpec, Intervals, PlatformSpec, RunState};
use rosey_irc::{IrcConfig, Pacing};
use rosey_model::{
    EventBody, NormalizedEvent, decode,
    payload::{CommandReply, EnqueueReply},
    subjects,
};
use rosey_testkit::{
    bus_db::{BusDb, expect_stored_lines, recent_chat, request},
    eventually,
    ircd::{FloodLimits, IrcServer, RawClient},
};
use serde_json::json;

const WAIT: Duration = Duration::from_secs(20);
const BOT: &str = "Rosey";
const IRC_CHANNEL: &str = "#rosey";
/// The bot's name for the IRC channel.
const CHANNEL: &str = "irc:local/#rosey";

/// NATS, the bus and the database service ([`BusDb`], reached through `Deref`), the IRC
/// server and the bot.
struct Rig {
    base: BusDb,
    irc: IrcServer,
    bot: Option<Bot>,
}

impl std::ops::Deref for Rig {
    type Target = BusDb;
    fn deref(&self) -> &BusDb {
        &self.base
    }
}

fn irc_spec(server: &IrcServer) -> ChannelSpec {
    let mut client = IrcConfig::new("127.0.0.1", server.port(), BOT, IRC_CHANNEL);
    client.backoff.base = Duration::from_millis(100);
    client.backoff.cap = Duration::from_millis(500);
    client.pacing = Pacing {
        burst: 4,
        interval: Duration::from_millis(100),
    };
    ChannelSpec {
        channel: CHANNEL.into(),
        name: "local".into(),
        platform: PlatformSpec::Irc(rosey_bot::irc::Spec {
            client,
            op_rank: 2.0,
        }),
    }
}

/// The IRC server, with roomy flood limits: the test clients send bursts.
fn irc_server() -> IrcServer {
    let _ = tracing_subscriber::fmt()
        .with_env_filter("rosey_bot=debug,rosey_irc=debug,rosey_dbservice=info")
        .with_test_writer()
        .try_init();
    IrcServer::start_with(FloodLimits {
        threshold: 100,
        commands_per_second: 50,
    })
}

/// An IRC server, NATS, the database service and a bot with the IRC channel and the given
/// CyTube channels.
async fn rig(cytube: Vec<ChannelSpec>) -> Rig {
    rig_on(irc_server(), cytube).await
}

async fn rig_on(irc: IrcServer, cytube: Vec<ChannelSpec>) -> Rig {
    rig_with(irc, cytube, None).await
}

/// [`rig_on`], with chat commands routed to plugins when `plugins` is set.
async fn rig_with(
    irc: IrcServer,
    cytube: Vec<ChannelSpec>,
    plugins: Option<rosey_config::plugins::PluginsConfig>,
) -> Rig {
    let base = BusDb::start(CHANNEL).await;
    let mut cfg = BotConfig::new(cytube);
    cfg.channels.push(irc_spec(&irc));
    cfg.plugins = plugins;
    cfg.intervals = Intervals {
        user_count: Duration::from_millis(300),
        status: Duration::from_millis(200),
        pump: Duration::from_millis(200),
        pump_request_timeout: Duration::from_secs(1),
        shell_db_timeout: Duration::from_secs(2),
    };
    let bot = Bot::start(base.bus.clone(), cfg);
    Rig {
        base,
        irc,
        bot: Some(bot),
    }
}

impl Rig {
    async fn stop(mut self) {
        if let Some(bot) = self.bot.take() {
            bot.shutdown().await;
        }
        self.base.stop_db().await;
    }
}

/// A raw client in the IRC channel that has seen the bot there.
async fn member_with_bot(port: u16, nick: &str) -> RawClient {
    let mut c = RawClient::connect(port, nick).await;
    c.send(&format!("JOIN {IRC_CHANNEL}")).await;
    c.expect(|m| {
        (m.command == "353"
            && m.param(3)
                .split(' ')
                .any(|n| n.trim_start_matches(['@', '+']) == BOT))
            || (m.command == "JOIN" && m.source_nick() == Some(BOT))
    })
    .await;
    c
}

/// PMs from the bot until one contains `needle`; every text seen, one per line.
async fn pm_containing(client: &mut RawClient, needle: &str) -> String {
    let me = client.nick().to_string();
    let mut seen = String::new();
    while !seen.contains(needle) {
        let m = client
            .expect(|m| m.command == "PRIVMSG" && m.source_nick() == Some(BOT) && m.param(0) == me)
            .await;
        seen.push_str(m.param(1));
        seen.push('\n');
    }
    seen
}

fn audit_rows(db: &PathBuf) -> Vec<(String, String)> {
    let conn =
        rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .unwrap();
    let mut stmt = conn
        .prepare("SELECT username, details FROM user_actions ORDER BY id")
        .unwrap();
    stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn irc_chat_is_stored_and_only_operators_get_stats() {
    if !rosey_testkit::tools::inspircd() {
        return;
    }
    let irc = irc_server();
    let irc_port = irc.port();
    // The operator is first in the channel (IRC makes the channel's creator an op).
    let mut op = RawClient::connect(irc_port, "opal").await;
    op.join(IRC_CHANNEL, None).await;
    let rig = rig_on(irc, Vec::new()).await;
    op.expect(|m| m.command == "JOIN" && m.source_nick() == Some(BOT))
        .await;
    let mut guest = member_with_bot(irc_port, "guest").await;

    let lines: Vec<String> = (0..30).map(|i| format!("line {i}")).collect();
    for line in &lines {
        op.privmsg(IRC_CHANNEL, line).await;
    }
    let bus = rig.bus.clone();
    expect_stored_lines(&bus, CHANNEL, "opal", &lines, WAIT).await;

    // A non-operator's command gets nothing; the operator's gets the real figures.
    guest.privmsg(BOT, "stats").await;
    op.privmsg(BOT, "stats").await;
    let stats = pm_containing(&mut op, "opal: 30 messages").await;
    assert!(stats.contains("=== Channel Statistics ==="), "{stats}");
    op.privmsg(BOT, "playlist").await;
    let unsupported = pm_containing(&mut op, "not supported").await;
    assert!(
        unsupported.contains("playlist: not supported on this platform"),
        "{unsupported}"
    );
    let from_bot = guest
        .privmsgs_from(BOT, "guest", Duration::from_millis(300))
        .await;
    assert!(from_bot.is_empty(), "the guest got {from_bot:?}");

    // Made an operator, the bot kicks on an operator's word.
    op.send(&format!("MODE {IRC_CHANNEL} +o {BOT}")).await;
    op.privmsg(BOT, "kick guest being rude").await;
    let kick = guest
        .expect(|m| m.command == "KICK" && m.param(1) == "guest")
        .await;
    assert_eq!(
        (kick.source_nick(), kick.param(2)),
        (Some(BOT), "being rude")
    );
    pm_containing(&mut op, "Kick sent for guest").await;

    let audit = eventually("audit rows", WAIT, || async {
        let rows = audit_rows(&rig.db_path);
        (rows.len() >= 4).then_some(rows)
    })
    .await;
    assert!(audit.iter().all(|(u, _)| u == "opal"), "{audit:?}");
    assert!(
        audit
            .iter()
            .any(|(_, d)| d.starts_with("cmd=stats,") && d.contains("result: success"))
    );

    // Bus moderation: a ban is the `+b` mask; InspIRCd here has no quiet list, so a mute is
    // refused plainly, and so is a redaction.
    let moderate = |body| {
        let bus = bus.clone();
        async move {
            let subject = subjects::command_subject(CHANNEL, subjects::COMMAND_MODERATE);
            decode::<CommandReply>(&request(&bus, &subject, body).await).unwrap()
        }
    };
    let ban = moderate(json!({"action": "ban", "user": "guest", "by": "automod"})).await;
    assert_eq!(
        (ban.success, ban.message.as_deref()),
        (true, Some("Ban sent for guest!*@*"))
    );
    let mode = op
        .expect(|m| m.command == "MODE" && m.param(1) == "+b")
        .await;
    assert_eq!(
        (mode.source_nick(), mode.param(2)),
        (Some(BOT), "guest!*@*")
    );
    for action in ["mute", "redact"] {
        let reply = moderate(json!({"action": action, "user": "guest"})).await;
        assert_eq!(
            reply.error.as_deref(),
            Some(format!("{action}: not supported on this platform").as_str())
        );
    }
    rig.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn say_reaches_the_irc_channel_exactly_once() {
    if !rosey_testkit::tools::inspircd() {
        return;
    }
    let rig = rig(Vec::new()).await;
    let mut listener = member_with_bot(rig.irc.port(), "listener").await;
    let reply: EnqueueReply = decode(
        &request(
            &rig.bus,
            subjects::OUTBOUND_ENQUEUE,
            json!({"channel": CHANNEL, "message": "hello from the queue"}),
        )
        .await,
    )
    .unwrap();
    assert!(reply.success && reply.id > 0);
    let first = listener
        .expect(|m| m.command == "PRIVMSG" && m.source_nick() == Some(BOT))
        .await;
    assert_eq!(first.param(1), "hello from the queue");
    eventually("mark_sent applied", WAIT, || async {
        let conn = rusqlite::Connection::open_with_flags(
            &rig.db_path,
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
        )
        .ok()?;
        let sent: i64 = conn
            .query_row(
                "SELECT sent FROM outbound_messages WHERE id = ?1",
                [reply.id],
                |r| r.get(0),
            )
            .ok()?;
        (sent == 1).then_some(())
    })
    .await;
    // A later message proves the pump kept going, and nothing came twice before it.
    request(
        &rig.bus,
        subjects::OUTBOUND_ENQUEUE,
        json!({"channel": CHANNEL, "message": "second"}),
    )
    .await;
    let next = listener
        .expect(|m| m.command == "PRIVMSG" && m.source_nick() == Some(BOT))
        .await;
    assert_eq!(next.param(1), "second");
    // The playlist actions the dashboard asks for do not exist on IRC: said so, plainly.
    for (action, body) in [
        (
            subjects::COMMAND_ADD,
            json!({"url": "https://youtu.be/abc"}),
        ),
        (subjects::COMMAND_SKIP, json!({})),
    ] {
        let reply: CommandReply =
            decode(&request(&rig.bus, &subjects::command_subject(CHANNEL, action), body).await)
                .unwrap();
        assert!(!reply.success);
        assert_eq!(
            reply.error.as_deref(),
            Some(format!("{action}: not supported on this platform").as_str())
        );
    }
    rig.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bot_rejoins_by_itself_after_the_irc_server_restarts() {
    if !rosey_testkit::tools::inspircd() {
        return;
    }
    let mut rig = rig(Vec::new()).await;
    let _first = member_with_bot(rig.irc.port(), "early").await;
    rig.irc.restart();
    let mut late = member_with_bot(rig.irc.port(), "late").await;
    let states = rig.bot.as_ref().unwrap().states().clone();
    eventually("joined state", WAIT, || async {
        matches!(states.get(CHANNEL), Some(RunState::Joined)).then_some(())
    })
    .await;
    late.privmsg(IRC_CHANNEL, "after the restart").await;
    let bus = rig.bus.clone();
    eventually("the line after the restart stored", WAIT, || async {
        recent_chat(&bus, CHANNEL)
            .await
            .iter()
            .any(|r| r.username == "late" && r.message == "after the restart")
            .then_some(())
    })
    .await;
    rig.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cytube_and_irc_channels_in_one_bot_keep_their_events_apart() {
    if !rosey_testkit::tools::inspircd() {
        return;
    }
    let devserver = lobby_devserver().await;
    let rig = rig(lobby_spec(&devserver)).await;
    let mut normalized = rig.bus.subscribe("rosey.events.>").await.unwrap();
    assert!(
        devserver.wait_for_user(LOBBY, BOT, WAIT).await,
        "bot joins lobby"
    );
    let mut ircer = member_with_bot(rig.irc.port(), "ircer").await;
    let tuber = lobby_guest(&devserver, "tuber").await;

    // Readiness counts both channels.
    let source = rig.bot.as_ref().unwrap().metrics_source();
    let ready = eventually("both channels joined", WAIT, || async {
        let c = source.check(rosey_config::ReadyWhen::AllChannels);
        c.ok.then_some(c)
    })
    .await;
    assert_eq!(ready.detail, "2 of 2 channels joined");
    let metrics = rosey_metrics::Metrics::new(rosey_metrics::BuildInfo {
        version: "test".into(),
        commit: "test".into(),
        process: "bot".into(),
    });
    metrics.add_source(std::sync::Arc::new(source));
    let text = metrics.encode_prometheus();
    for line in [
        r#"rosey_bot_connected{channel="lobby"} 1"#,
        r#"rosey_bot_connected{channel="irc:local/#rosey"} 1"#,
        r#"rosey_bot_channel_state{channel="irc:local/#rosey",state="running"} 1"#,
    ] {
        assert!(text.lines().any(|l| l == line), "{line} missing in\n{text}");
    }
    // `rosey status` lists both, each with its platform; the IRC channel counts its members
    // once the bot has seen `ircer` join (the bot and `ircer`).
    let status_source = rig.bot.as_ref().unwrap().metrics_source();
    let listed = eventually("both channels in the status", WAIT, || async {
        let listed: Vec<(String, &str, bool, i64)> = status_source
            .status()
            .channels
            .into_iter()
            .map(|c| (c.channel, c.platform, c.joined, c.users_chat))
            .collect();
        listed
            .contains(&(CHANNEL.to_string(), "irc", true, 2))
            .then_some(listed)
    })
    .await;
    assert_eq!(listed.len(), 2, "{listed:?}");
    assert!(
        listed
            .iter()
            .any(|(ch, platform, joined, _)| ch == LOBBY && *platform == "cytube" && *joined),
        "{listed:?}"
    );

    tuber.chat("hello from cytube").unwrap();
    ircer.privmsg(IRC_CHANNEL, "hello from irc").await;

    let bus = rig.bus.clone();
    eventually("both lines stored", WAIT, || async {
        let lobby = recent_chat(&bus, LOBBY).await;
        let irc = recent_chat(&bus, CHANNEL).await;
        (lobby.iter().any(|r| r.message == "hello from cytube")
            && irc.iter().any(|r| r.message == "hello from irc"))
        .then_some(())
    })
    .await;
    assert!(
        recent_chat(&bus, LOBBY)
            .await
            .iter()
            .all(|r| r.message != "hello from irc")
    );
    assert!(
        recent_chat(&bus, CHANNEL)
            .await
            .iter()
            .all(|r| r.message != "hello from cytube")
    );

    // The normalized events carry the right channel too.
    let mut seen = Vec::new();
    tokio::time::timeout(WAIT, async {
        while seen.len() < 2 {
            let msg = normalized.next().await.expect("event subscription open");
            let event: NormalizedEvent = decode(&msg.payload).unwrap();
            if let EventBody::Message { content, .. } = &event.body
                && content.starts_with("hello from")
            {
                seen.push((content.clone(), event.channel.clone(), msg.subject.clone()));
            }
        }
    })
    .await
    .expect("two normalized message events");
    seen.sort();
    assert_eq!(seen[0].0, "hello from cytube");
    assert_eq!(seen[0].1, LOBBY);
    assert_eq!(seen[1].0, "hello from irc");
    assert_eq!(seen[1].1, CHANNEL);
    assert_eq!(seen[1].2, subjects::event_subject(CHANNEL, "message"));
    tuber.shutdown().await;
    rig.stop().await;
}

/// The CyTube channel of the two-platform tests, on the devserver.
const LOBBY: &str = "lobby";

/// A devserver with the bot's account.
async fn lobby_devserver() -> rosey_devserver::DevServer {
    use rosey_devserver::{DevServer, DevServerConfig};
    DevServer::start(DevServerConfig::default().with_account(BOT, "bot-pw", 3.0))
        .await
        .expect("devserver starts")
}

/// A client of the devserver's lobby, reconnecting quickly.
fn lobby_client(
    devserver: &rosey_devserver::DevServer,
    login: rosey_cytube::Login,
) -> rosey_cytube::ClientConfig {
    rosey_testkit::cytube::client_config(devserver, LOBBY, login)
}

/// The bot's CyTube channel: the devserver's lobby.
fn lobby_spec(devserver: &rosey_devserver::DevServer) -> Vec<ChannelSpec> {
    vec![ChannelSpec::cytube(
        LOBBY,
        "dev",
        lobby_client(
            devserver,
            rosey_cytube::Login::Registered {
                name: BOT.into(),
                password: "bot-pw".into(),
            },
        ),
    )]
}

/// A guest in the lobby, once joined.
async fn lobby_guest(
    devserver: &rosey_devserver::DevServer,
    name: &str,
) -> rosey_cytube::CytubeHandle {
    use rosey_cytube::{CytubeEvent, Login};
    let (guest, mut events) =
        rosey_cytube::connect(lobby_client(devserver, Login::Guest(name.into())));
    tokio::time::timeout(WAIT, async {
        while let Some(e) = events.recv().await {
            if matches!(e, CytubeEvent::Joined { .. }) {
                return;
            }
        }
    })
    .await
    .expect("guest joins lobby");
    guest
}

/// The bot's lines in the lobby's chat.
fn lobby_bot_lines(devserver: &rosey_devserver::DevServer) -> Vec<String> {
    devserver
        .chat_log(LOBBY)
        .into_iter()
        .filter(|r| r.username == BOT)
        .map(|r| r.msg)
        .collect()
}

/// The next line the bot says in the IRC channel, as `client` sees it.
async fn bot_says_on_irc(client: &mut RawClient) -> String {
    client
        .expect(|m| {
            m.command == "PRIVMSG" && m.source_nick() == Some(BOT) && m.param(0) == IRC_CHANNEL
        })
        .await
        .param(1)
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn roll_is_answered_on_the_cytube_and_the_irc_channel_each_in_its_own() {
    if !rosey_testkit::tools::inspircd() {
        return;
    }
    let devserver = lobby_devserver().await;
    let irc = irc_server();
    // opal is first in the IRC channel, so its operator (rank 2); ircer, later, a guest.
    let mut opal = RawClient::connect(irc.port(), "opal").await;
    opal.join(IRC_CHANNEL, None).await;
    let plugins = rosey_config::plugins::PluginsConfig {
        timeout: Duration::from_secs(2),
        discovery_interval: Duration::from_secs(1),
        user_burst: 0,
        channel_burst: 0,
        ..Default::default()
    };
    let rig = rig_with(irc, lobby_spec(&devserver), Some(plugins.clone())).await;
    assert!(
        devserver.wait_for_user(LOBBY, BOT, WAIT).await,
        "bot joins lobby"
    );
    let mut ircer = member_with_bot(rig.irc.port(), "ircer").await;
    let tuber = lobby_guest(&devserver, "tuber").await;
    // A command that may come by PM, registered before the standard plugins so the bot
    // knows it by the time it knows `!roll`.
    let pinger = rosey_plugin::Plugin::new("pinger", "0.1.0")
        .command(
            rosey_plugin::CommandSpec::new("ping", "Pong.").pm(true),
            |req| async move {
                let how = if req.pm { " by pm" } else { "" };
                rosey_plugin::Reply::chat(format!("pong {} rank {}{how}", req.user, req.rank))
            },
        )
        .start(rig.bus.nats_client().unwrap())
        .await
        .unwrap();
    // The standard plugins (those of `rosey plugins`), on the bot's NATS.
    let standard = rosey_stdplugins::start(rig.bus.nats_client().unwrap(), &plugins)
        .await
        .expect("standard plugins start");

    // CyTube: asked again each second until the bot has found the plugins.
    let roll = tokio::time::timeout(WAIT, async {
        loop {
            tuber.chat("!roll 2d6").unwrap();
            let answered = tokio::time::timeout(Duration::from_secs(1), async {
                let mut tick = tokio::time::interval(Duration::from_millis(20));
                loop {
                    tick.tick().await;
                    if let Some(l) = lobby_bot_lines(&devserver)
                        .into_iter()
                        .find(|l| l.starts_with("tuber rolled 2d6: "))
                    {
                        return l;
                    }
                }
            })
            .await;
            if let Ok(line) = answered {
                return line;
            }
        }
    })
    .await
    .expect("the bot answers !roll in the CyTube channel");
    let total: u32 = roll.rsplit(' ').next().unwrap().parse().unwrap();
    assert!((2..=12).contains(&total), "{roll}");

    // IRC: the first thing the bot says in the IRC channel is ircer's roll (none of the
    // CyTube answers came here).
    ircer.privmsg(IRC_CHANNEL, "!roll 2d6").await;
    let roll = bot_says_on_irc(&mut ircer).await;
    assert!(roll.starts_with("ircer rolled 2d6: "), "{roll}");
    let total: u32 = roll.rsplit(' ').next().unwrap().parse().unwrap();
    assert!((2..=12).contains(&total), "{roll}");

    // A guest on IRC cannot open a poll (rank 2): the bot refuses, the plugin is not asked.
    ircer.privmsg(IRC_CHANNEL, "!poll Best? | a | b").await;
    assert_eq!(
        bot_says_on_irc(&mut ircer).await,
        "ircer: !poll needs rank 2 or higher."
    );

    // An operator passes the rank check; IRC has no polls, and the bot says so.
    opal.privmsg(IRC_CHANNEL, "!poll Best? | a | b").await;
    let mut seen = Vec::new();
    while !seen
        .last()
        .is_some_and(|l: &String| l.starts_with("opal: "))
    {
        seen.push(bot_says_on_irc(&mut opal).await);
    }
    assert_eq!(
        seen[2..],
        ["opal: poll: not supported on this platform".to_string()]
    );
    assert!(seen[0].starts_with("ircer rolled 2d6: "), "{seen:?}");

    // A PM command on IRC is answered by PM, with the operator's rank; other PMs still
    // reach the shell.
    opal.privmsg(BOT, "!ping").await;
    assert!(
        pm_containing(&mut opal, "pong")
            .await
            .contains("pong opal rank 2 by pm"),
    );
    opal.privmsg(BOT, "help").await;
    pm_containing(&mut opal, "stats").await;

    // Nothing of the IRC channel's went to the CyTube channel.
    let lobby = lobby_bot_lines(&devserver);
    assert!(
        lobby
            .iter()
            .all(|l| !l.contains("ircer") && !l.contains("opal")),
        "{lobby:?}"
    );
    assert!(
        lobby.iter().all(|l| l.starts_with("tuber rolled 2d6: ")),
        "{lobby:?}"
    );

    standard.stop().await;
    pinger.stop().await;
    tuber.shutdown().await;
    rig.stop().await;
}
