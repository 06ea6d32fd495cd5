//! The client against a real IRC server (InspIRCd, started per test on loopback ports with
//! its own configuration): join and chat both ways, ops, server-time, long lines, flood
//! pacing under the server's limit, nick collision and regain, channel keys over TLS, and
//! reconnecting after a server restart. Skipped (with the reason) where `inspircd` is
//! missing, a failure under CI=true (`rosey_testkit::tools`).

use std::time::Duration;

use rosey_irc::{IrcConfig, IrcEvent, IrcEvents, IrcHandle, Pacing};
use rosey_testkit::ircd::{FloodLimits, IrcServer, RawClient};

const WAIT: Duration = Duration::from_secs(20);
const CHANNEL: &str = "#rosey";

fn logs() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter("rosey_irc=debug")
        .with_test_writer()
        .try_init();
}

fn config(server: &IrcServer, nick: &str) -> IrcConfig {
    let mut cfg = IrcConfig::new("127.0.0.1", server.port(), nick, CHANNEL);
    cfg.backoff.base = Duration::from_millis(100);
    cfg.backoff.cap = Duration::from_millis(500);
    cfg.regain_interval = Duration::from_millis(500);
    // Under the test server's limit: ten commands at once, ten a second — InspIRCd drains
    // the count once a second, so no one-second window may hold more than ten (our JOIN,
    // the burst and four a second make eight). Four lines at 150 ms did get an Excess Flood.
    cfg.pacing = Pacing {
        burst: 3,
        interval: Duration::from_millis(250),
    };
    cfg
}

/// Waits for an event `pred` accepts; panics after [`WAIT`].
async fn until(events: &mut IrcEvents, mut pred: impl FnMut(&IrcEvent) -> bool) -> IrcEvent {
    tokio::time::timeout(WAIT, async {
        loop {
            let e = events.recv().await.expect("client event stream ended");
            if pred(&e) {
                return e;
            }
        }
    })
    .await
    .expect("expected client event did not arrive")
}

async fn joined(cfg: IrcConfig) -> (IrcHandle, IrcEvents) {
    let (handle, mut events) = rosey_irc::connect(cfg);
    until(&mut events, |e| matches!(e, IrcEvent::Joined { .. })).await;
    (handle, events)
}

#[tokio::test]
async fn joins_chats_both_ways_and_sees_ops() {
    if !rosey_testkit::tools::inspircd() {
        return;
    }
    logs();
    let server = IrcServer::start();
    let mut op = RawClient::connect(server.port(), "opal").await;
    op.join(CHANNEL, None).await; // first in: channel operator
    let (bot, mut events) = joined(config(&server, "Rosey")).await;
    assert!(
        bot.member("opal").is_some_and(|m| m.is_op()),
        "{:?}",
        bot.members()
    );
    assert!(bot.member("Rosey").is_some_and(|m| !m.is_op()));

    op.privmsg(CHANNEL, "hello bot").await;
    op.privmsg(CHANNEL, "\x01ACTION waves\x01").await;
    let first = until(&mut events, |e| matches!(e, IrcEvent::Message { .. })).await;
    let IrcEvent::Message {
        nick, text, time, ..
    } = first
    else {
        unreachable!()
    };
    assert_eq!((nick.as_str(), text.as_str()), ("opal", "hello bot"));
    assert!(time.is_some(), "server-time was negotiated and stamped");
    let action = until(&mut events, |e| matches!(e, IrcEvent::Message { .. })).await;
    assert!(matches!(action, IrcEvent::Message { action: true, ref text, .. } if text == "waves"));

    bot.say_confirmed("hi opal").await.unwrap();
    bot.action("bows").unwrap();
    let said = op.expect(|m| m.command == "PRIVMSG").await;
    assert_eq!(
        (said.source_nick(), said.param(1)),
        (Some("Rosey"), "hi opal")
    );
    let bowed = op.expect(|m| m.command == "PRIVMSG").await;
    assert_eq!(bowed.param(1), "\x01ACTION bows\x01");

    op.send(&format!("MODE {CHANNEL} +v Rosey")).await;
    until(&mut events, |e| matches!(e, IrcEvent::MemberModes { nick, prefixes } if nick == "Rosey" && prefixes == "+")).await;
    op.privmsg("Rosey", "psst").await;
    let pm = until(&mut events, |e| matches!(e, IrcEvent::Private { .. })).await;
    assert!(
        matches!(pm, IrcEvent::Private { ref nick, ref text, .. } if nick == "opal" && text == "psst")
    );
    bot.shutdown().await;
    op.expect(|m| m.command == "QUIT" && m.source_nick() == Some("Rosey"))
        .await;
}

#[tokio::test]
async fn long_text_is_split_under_the_line_limit_without_breaking_characters() {
    if !rosey_testkit::tools::inspircd() {
        return;
    }
    logs();
    let server = IrcServer::start();
    let mut listener = RawClient::connect(server.port(), "reader").await;
    listener.join(CHANNEL, None).await;
    let (bot, _events) = joined(config(&server, "Rosey")).await;
    let text: String = (0..120).map(|i| format!("wörd{i}€ ")).collect();
    bot.say_confirmed(&text).await.unwrap();
    let mut pieces: Vec<String> = Vec::new();
    while pieces.concat().split_whitespace().count() < 120 {
        let m = listener.expect(|m| m.command == "PRIVMSG").await;
        // What the server relays (with our full prefix) still fits in 512 bytes.
        let relayed = format!(
            ":Rosey!~rosey@127.0.0.1 PRIVMSG {CHANNEL} :{}\r\n",
            m.param(1)
        );
        assert!(relayed.len() <= 512, "{} bytes", relayed.len());
        pieces.push(format!("{} ", m.param(1)));
    }
    assert!(pieces.len() >= 3, "{pieces:?}");
    assert_eq!(
        pieces.concat().split_whitespace().collect::<Vec<_>>(),
        text.split_whitespace().collect::<Vec<_>>()
    );
    bot.shutdown().await;
}

#[tokio::test]
async fn forty_lines_at_once_are_paced_under_the_flood_limit() {
    if !rosey_testkit::tools::inspircd() {
        return;
    }
    logs();
    let server = IrcServer::start();
    // The limit is real: a client that sends twelve lines at once is disconnected.
    let mut flooder = RawClient::connect(server.port(), "flooder").await;
    flooder.join(CHANNEL, None).await;
    for i in 0..12 {
        flooder.privmsg(CHANNEL, &format!("flood {i}")).await;
    }
    let error = flooder.expect(|m| m.command == "ERROR").await;
    assert!(error.param(0).contains("Excess Flood"), "{error:?}");

    let mut listener = RawClient::connect(server.port(), "reader").await;
    listener.join(CHANNEL, None).await;
    let (bot, mut events) = joined(config(&server, "Rosey")).await;
    for i in 0..40 {
        bot.say(&format!("line {i}")).unwrap();
    }
    let mut got = Vec::new();
    while got.len() < 40 {
        let m = listener.expect(|m| m.command == "PRIVMSG").await;
        got.push(m.param(1).to_string());
    }
    let want: Vec<String> = (0..40).map(|i| format!("line {i}")).collect();
    assert_eq!(got, want);
    assert!(bot.stats().paced_waits > 0, "{:?}", bot.stats());
    // Still connected and joined, never disconnected, and the server logged no flood quit.
    assert!(bot.is_joined());
    while let Ok(Some(e)) = tokio::time::timeout(Duration::from_millis(10), events.recv()).await {
        assert!(!matches!(e, IrcEvent::Disconnected { .. }), "{e:?}");
    }
    let log = server.log();
    assert!(
        log.contains("flooder") && log.contains("Excess Flood"),
        "{log}"
    );
    assert!(
        !log.lines()
            .any(|l| l.contains("Rosey!") && (l.contains("Flood") || l.contains("RecvQ"))),
        "{log}"
    );
    bot.shutdown().await;
}

#[tokio::test]
async fn nick_collision_picks_another_nick_and_regains_the_wanted_one() {
    if !rosey_testkit::tools::inspircd() {
        return;
    }
    logs();
    let server = IrcServer::start();
    let mut squatter = RawClient::connect(server.port(), "Rosey").await;
    squatter.join(CHANNEL, None).await;
    let (bot, mut events) = rosey_irc::connect(config(&server, "Rosey"));
    let registered = until(&mut events, |e| matches!(e, IrcEvent::Registered { .. })).await;
    assert_eq!(
        registered,
        IrcEvent::Registered {
            nick: "Rosey_".into()
        }
    );
    until(&mut events, |e| matches!(e, IrcEvent::Joined { .. })).await;
    assert_eq!(bot.nick(), "Rosey_");
    // While the nick is taken, the client keeps trying; once it is free it takes it.
    squatter.send("NICK someone_else").await;
    let change = until(&mut events, |e| {
        matches!(e, IrcEvent::NickChanged { own: true, .. })
    })
    .await;
    assert_eq!(
        change,
        IrcEvent::NickChanged {
            old: "Rosey_".into(),
            new: "Rosey".into(),
            own: true
        }
    );
    assert_eq!(bot.nick(), "Rosey");
    // The channel saw it too.
    squatter
        .expect(|m| {
            m.command == "NICK" && m.source_nick() == Some("Rosey_") && m.param(0) == "Rosey"
        })
        .await;
    bot.shutdown().await;
}

#[tokio::test]
async fn joins_a_keyed_channel_over_tls() {
    if !rosey_testkit::tools::inspircd() {
        return;
    }
    logs();
    let server = IrcServer::start();
    let mut op = RawClient::connect(server.port(), "keeper").await;
    op.join("#vault", None).await;
    op.send("MODE #vault +k sesame").await;
    op.expect(|m| m.command == "MODE").await;

    let mut cfg = config(&server, "Rosey");
    cfg.server = "localhost".into();
    cfg.port = server.tls_port();
    cfg.tls = true;
    cfg.tls_ca = Some(server.ca_file());
    cfg.channel = "#vault".into();
    // The wrong key is refused (and retried later)…
    cfg.key = Some("wrong".into());
    let (bot, mut events) = rosey_irc::connect(cfg.clone());
    let failed = until(&mut events, |e| matches!(e, IrcEvent::JoinFailed { .. })).await;
    assert!(
        matches!(failed, IrcEvent::JoinFailed { ref reason } if reason.contains("key")),
        "{failed:?}"
    );
    assert!(!bot.is_joined());
    bot.shutdown().await;
    // …the right one gets in, over TLS.
    cfg.key = Some("sesame".into());
    cfg.nick = "Rosey2".into();
    let (bot, _events) = joined(cfg).await;
    op.expect(|m| m.command == "JOIN" && m.source_nick() == Some("Rosey2"))
        .await;
    bot.say_confirmed("over tls").await.unwrap();
    let m = op.expect(|m| m.command == "PRIVMSG").await;
    assert_eq!(m.param(1), "over tls");
    bot.shutdown().await;

    // A certificate the client does not trust is refused.
    let mut untrusted = config(&server, "Rosey");
    untrusted.server = "localhost".into();
    untrusted.port = server.tls_port();
    untrusted.tls = true;
    let (bot, mut events) = rosey_irc::connect(untrusted);
    let lost = until(&mut events, |e| matches!(e, IrcEvent::Disconnected { .. })).await;
    assert!(
        matches!(lost, IrcEvent::Disconnected { ref reason } if reason.contains("TLS")),
        "{lost:?}"
    );
    bot.shutdown().await;
}

#[tokio::test]
async fn reconnects_and_rejoins_after_a_server_restart() {
    if !rosey_testkit::tools::inspircd() {
        return;
    }
    logs();
    let mut server = IrcServer::start();
    let (bot, mut events) = joined(config(&server, "Rosey")).await;
    server.restart();
    until(&mut events, |e| matches!(e, IrcEvent::Disconnected { .. })).await;
    until(&mut events, |e| matches!(e, IrcEvent::Joined { .. })).await;
    assert!(bot.is_joined());
    let mut visitor = RawClient::connect(server.port(), "visitor").await;
    visitor.join(CHANNEL, None).await;
    bot.say_confirmed("back again").await.unwrap();
    let m = visitor.expect(|m| m.command == "PRIVMSG").await;
    assert_eq!(m.param(1), "back again");
    assert!(bot.stats().reconnects >= 1);
    bot.shutdown().await;
    assert!(matches!(
        until(&mut events, |e| matches!(e, IrcEvent::Stopped { .. })).await,
        IrcEvent::Stopped { .. }
    ));
}

#[tokio::test]
async fn a_dead_link_is_noticed_by_ping_timeout_and_the_client_comes_back() {
    if !rosey_testkit::tools::inspircd() {
        return;
    }
    logs();
    let server = IrcServer::start();
    let mut cfg = config(&server, "Rosey");
    cfg.ping_interval = Duration::from_secs(1);
    cfg.ping_timeout = Duration::from_secs(1);
    cfg.connect_timeout = Duration::from_secs(2);
    let (bot, mut events) = joined(cfg).await;
    server.pause();
    let lost = until(&mut events, |e| matches!(e, IrcEvent::Disconnected { .. })).await;
    assert!(
        matches!(lost, IrcEvent::Disconnected { ref reason } if reason.contains("ping timeout")),
        "{lost:?}"
    );
    assert!(!bot.is_joined());
    server.resume();
    until(&mut events, |e| matches!(e, IrcEvent::Joined { .. })).await;
    assert!(bot.is_joined());
    bot.shutdown().await;
}

#[tokio::test]
async fn the_default_pacing_stays_under_inspircds_default_flood_limit() {
    if !rosey_testkit::tools::inspircd() {
        return;
    }
    logs();
    // InspIRCd's own defaults: one command a second, disconnected over ten.
    let server = IrcServer::start_with(FloodLimits {
        threshold: 10,
        commands_per_second: 1,
    });
    let mut listener = RawClient::connect(server.port(), "reader").await;
    listener.join(CHANNEL, None).await;
    let mut cfg = config(&server, "Rosey");
    cfg.pacing = Pacing::default();
    let (bot, _events) = joined(cfg).await;
    // Fourteen lines at once would be an Excess Flood; paced, all arrive.
    for i in 0..14 {
        bot.say(&format!("line {i}")).unwrap();
    }
    for i in 0..14 {
        let m = listener.expect(|m| m.command == "PRIVMSG").await;
        assert_eq!(m.param(1), format!("line {i}"));
    }
    assert!(bot.is_joined());
    assert!(!server.log().contains("Excess Flood"), "{}", server.log());
    bot.shutdown().await;
}
