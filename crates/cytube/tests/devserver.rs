//! The client against the development server, over real sockets on 127.0.0.1.

mod common;

use std::time::Duration;

use common::{WAIT, config, expect, joined, ready};
use rosey_cytube::{
    ChannelState, CytubeEvent, DuplicateLoginPolicy, Login, Position, QueuePosition, QueueRequest,
    SendError, ServerEvent, ThrottleParams, connect,
};
use rosey_devserver::{DevServer, DevServerConfig};

const CHAN: &str = "testchan";

async fn server(cfg: DevServerConfig) -> DevServer {
    DevServer::start(cfg).await.expect("devserver starts")
}

fn guest(s: &DevServer, name: &str) -> rosey_cytube::ClientConfig {
    config(&s.base_url(), CHAN, Login::Guest(name.into()))
}

fn registered(s: &DevServer, name: &str, password: &str) -> rosey_cytube::ClientConfig {
    let login = Login::Registered {
        name: name.into(),
        password: password.into(),
    };
    config(&s.base_url(), CHAN, login)
}

fn is_chat(ev: &CytubeEvent, text: &str) -> bool {
    matches!(ev, CytubeEvent::Server(ServerEvent::ChatMsg(m)) if m.text == text)
}

#[tokio::test]
async fn guest_joins_chats_and_receives_plain_text() {
    let s = server(DevServerConfig::default()).await;
    let (alice, mut alice_events) = connect(guest(&s, "alice"));
    let (name, seen) = ready(&mut alice_events).await;
    assert_eq!(name, "alice");
    assert!(
        matches!(seen.first(), Some(CytubeEvent::Connected { .. })),
        "{seen:#?}"
    );
    assert!(alice.is_joined());

    let text = "hello (world) it's \"q\" <b>x</b> & co";
    alice.chat_confirmed(text).await.unwrap();
    let ev = expect(&mut alice_events, "own echo", |ev| is_chat(ev, text)).await;
    let CytubeEvent::Server(ServerEvent::ChatMsg(msg)) = ev else {
        unreachable!()
    };
    assert!(msg.from_self && !msg.history);
    assert_eq!(msg.username, "alice");
    assert!(
        msg.html.contains("&lt;b&gt;"),
        "the wire text is HTML: {}",
        msg.html
    );
    assert!(s.wait_for_chat_count(CHAN, 1, WAIT).await);
    assert_eq!(s.chat_log(CHAN)[0].msg, text);

    // A second user gets the line as history, then talks live.
    let (bob, mut bob_events) = connect(guest(&s, "bob"));
    let before_join = joined(&mut bob_events).await;
    let history: Vec<_> = before_join
        .iter()
        .filter_map(|ev| match ev {
            CytubeEvent::Server(ServerEvent::ChatMsg(m)) => Some(m),
            _ => None,
        })
        .collect();
    assert_eq!(history.len(), 1);
    assert!(history[0].history && history[0].text == text);

    expect(
        &mut alice_events,
        "addUser bob",
        |ev| matches!(ev, CytubeEvent::Server(ServerEvent::AddUser(u)) if u.name == "bob"),
    )
    .await;
    expect(
        &mut bob_events,
        "bob logged in",
        |ev| matches!(ev, CytubeEvent::Server(ServerEvent::Login(r)) if r.success),
    )
    .await;
    bob.chat("hi alice &amp; all").unwrap();
    let ev = expect(&mut alice_events, "bob's line", |ev| {
        is_chat(ev, "hi alice &amp; all")
    })
    .await;
    let CytubeEvent::Server(ServerEvent::ChatMsg(msg)) = ev else {
        unreachable!()
    };
    assert!(!msg.history && !msg.from_self && msg.username == "bob");

    // PMs reach both sides; the sender's copy is marked as ours.
    bob.pm_confirmed("alice", "psst <i>secret</i>")
        .await
        .unwrap();
    let ev = expect(&mut alice_events, "pm", |ev| {
        matches!(ev, CytubeEvent::Server(ServerEvent::Pm(_)))
    })
    .await;
    let CytubeEvent::Server(ServerEvent::Pm(pm)) = ev else {
        unreachable!()
    };
    assert_eq!(
        (pm.username.as_str(), pm.to.as_str(), pm.text.as_str()),
        ("bob", "alice", "psst <i>secret</i>")
    );
    assert!(!pm.from_self);
    let ev = expect(&mut bob_events, "pm echo", |ev| {
        matches!(ev, CytubeEvent::Server(ServerEvent::Pm(_)))
    })
    .await;
    let CytubeEvent::Server(ServerEvent::Pm(pm)) = ev else {
        unreachable!()
    };
    assert!(pm.from_self);
    assert!(s.wait_for_pm_count(1, WAIT).await);
    assert_eq!(s.pm_log()[0].msg, "psst <i>secret</i>");

    // Leaving is seen by the others; a stopped client refuses commands.
    bob.shutdown().await;
    expect(&mut bob_events, "Stopped", |ev| {
        matches!(ev, CytubeEvent::Stopped { .. })
    })
    .await;
    assert_eq!(bob.chat("too late"), Err(SendError::Closed));
    expect(
        &mut alice_events,
        "userLeave bob",
        |ev| matches!(ev, CytubeEvent::Server(ServerEvent::UserLeave { name }) if name == "bob"),
    )
    .await;
    alice.shutdown().await;
    s.shutdown().await;
}

#[tokio::test]
async fn registered_user_gets_rank_and_sees_rank_changes() {
    let s = server(
        DevServerConfig::default()
            .with_account("RoseyBot", "hunter2", 1.0)
            .with_channel_rank("RoseyBot", 3.0),
    )
    .await;
    let (bot, mut events) = connect(registered(&s, "roseybot", "hunter2"));
    let mut state = ChannelState::new();
    let (name, seen) = ready(&mut events).await;
    seen.iter().for_each(|ev| state.apply(ev));
    assert_eq!(
        name, "RoseyBot",
        "the canonical spelling comes from the login reply"
    );

    // The rank may come with the login or just after it.
    if state.own_rank != 3.0 {
        let ev = expect(
            &mut events,
            "rank 3",
            |ev| matches!(ev, CytubeEvent::Server(ServerEvent::Rank(r)) if *r == 3.0),
        )
        .await;
        state.apply(&ev);
    }
    assert_eq!(state.own_rank, 3.0);
    assert_eq!(state.own_name.as_deref(), Some("RoseyBot"));

    // Someone joins, gets promoted, leaves: the state mirror follows.
    let (carol, mut carol_events) = connect(guest(&s, "carol"));
    ready(&mut carol_events).await;
    let ev = expect(
        &mut events,
        "addUser carol",
        |ev| matches!(ev, CytubeEvent::Server(ServerEvent::AddUser(u)) if u.name == "carol"),
    )
    .await;
    state.apply(&ev);
    assert_eq!(state.user("CAROL").map(|u| u.rank), Some(0.0));
    s.set_rank(CHAN, "carol", 2.0);
    let ev = expect(&mut events, "setUserRank carol", |ev| {
        matches!(ev, CytubeEvent::Server(ServerEvent::SetUserRank { name, rank }) if name == "carol" && *rank == 2.0)
    })
    .await;
    state.apply(&ev);
    assert_eq!(state.user("carol").map(|u| u.rank), Some(2.0));
    expect(
        &mut carol_events,
        "own rank 2",
        |ev| matches!(ev, CytubeEvent::Server(ServerEvent::Rank(r)) if *r == 2.0),
    )
    .await;
    carol.shutdown().await;
    let ev = expect(&mut events, "userLeave carol", |ev| {
        matches!(ev, CytubeEvent::Server(ServerEvent::UserLeave { .. }))
    })
    .await;
    state.apply(&ev);
    assert!(state.user("carol").is_none());
    bot.shutdown().await;
    s.shutdown().await;
}

#[tokio::test]
async fn wrong_password_stops_the_client() {
    let s = server(DevServerConfig::default().with_account("RoseyBot", "hunter2", 1.0)).await;
    let (_bot, mut events) = connect(registered(&s, "RoseyBot", "nope"));
    let ev = expect(&mut events, "Stopped", |ev| {
        matches!(ev, CytubeEvent::Stopped { .. })
    })
    .await;
    let CytubeEvent::Stopped { reason } = ev else {
        unreachable!()
    };
    assert!(reason.contains("login refused"), "{reason}");
    assert!(
        events.recv().await.is_none(),
        "the stream ends after Stopped"
    );
    s.shutdown().await;
}

#[tokio::test]
async fn playlist_changes_are_decoded_and_mirrored() {
    // Deleting needs rank 2 with CyTube's default permissions.
    let s = server(
        DevServerConfig::default()
            .with_account("dj", "pw", 1.0)
            .with_channel_rank("dj", 2.0),
    )
    .await;
    let (bot, mut events) = connect(registered(&s, "dj", "pw"));
    let mut state = ChannelState::new();
    ready(&mut events)
        .await
        .1
        .iter()
        .for_each(|ev| state.apply(ev));

    for n in 1..=3 {
        let req = QueueRequest::new(format!("vid{n}"), "yt", QueuePosition::End);
        bot.queue(req).unwrap();
    }
    while state.playlist.len() < 3 {
        let ev = expect(&mut events, "queue", |ev| {
            matches!(ev, CytubeEvent::Server(ServerEvent::Queue { .. }))
        })
        .await;
        state.apply(&ev);
    }
    let ids: Vec<_> = state.playlist.iter().map(|i| i.media.id.clone()).collect();
    assert_eq!(ids, ["vid1", "vid2", "vid3"]);
    let (u1, u2, u3) = (
        state.uid_at(1).unwrap(),
        state.uid_at(2).unwrap(),
        state.uid_at(3).unwrap(),
    );

    // Move the third to the front, delete the (old) first, jump to the second.
    bot.move_media(u3, Position::Prepend).unwrap();
    let ev = expect(&mut events, "moveVideo", |ev| {
        matches!(ev, CytubeEvent::Server(ServerEvent::MoveVideo { .. }))
    })
    .await;
    state.apply(&ev);
    assert_eq!(
        state.playlist.iter().map(|i| i.uid).collect::<Vec<_>>(),
        [u3, u1, u2]
    );

    bot.delete(u1).unwrap();
    let ev = expect(&mut events, "delete", |ev| {
        matches!(ev, CytubeEvent::Server(ServerEvent::Delete { .. }))
    })
    .await;
    state.apply(&ev);
    assert_eq!(
        state.playlist.iter().map(|i| i.uid).collect::<Vec<_>>(),
        [u3, u2]
    );

    bot.jump_to(u2).unwrap();
    loop {
        let ev = expect(&mut events, "setCurrent", |ev| {
            matches!(
                ev,
                CytubeEvent::Server(ServerEvent::SetCurrent(_) | ServerEvent::ChangeMedia(_))
            )
        })
        .await;
        state.apply(&ev);
        if state.current_uid == Some(u2)
            && state
                .current_media
                .as_ref()
                .is_some_and(|m| m.media.id == "vid2")
        {
            break;
        }
    }
    bot.shutdown().await;
    s.shutdown().await;
}

#[tokio::test]
async fn sixty_lines_at_once_are_paced_not_dropped() {
    let s = server(DevServerConfig::default()).await;
    let (bot, mut events) = connect(guest(&s, "chatty"));
    ready(&mut events).await;
    let lines: Vec<String> = (1..=60).map(|n| format!("line {n}")).collect();
    for line in &lines {
        bot.chat(line).unwrap();
    }
    assert!(
        s.wait_for_chat_count(CHAN, 60, Duration::from_secs(30))
            .await,
        "only {} lines",
        s.chat_log(CHAN).len()
    );
    let got: Vec<String> = s.chat_log(CHAN).into_iter().map(|r| r.msg).collect();
    assert_eq!(got, lines);
    assert_eq!(s.kicks_sent(), 0);
    // Sent unpaced, 60 lines get about 40 cooldowns. One is tolerated: a scheduler stall on a
    // loaded machine can bunch frames up at the server, and the re-send covers it.
    assert!(s.cooldowns_sent() <= 1, "{} cooldowns", s.cooldowns_sent());
    bot.shutdown().await;
    s.shutdown().await;
}

#[tokio::test]
async fn messages_dropped_by_the_server_are_resent_in_order() {
    let s = server(DevServerConfig::default()).await;
    // Deliberately pace far above the server's limit so that it drops lines with `cooldown`.
    let mut cfg = guest(&s, "reckless");
    cfg.throttle = ThrottleParams {
        burst: 40,
        interval: Duration::from_millis(10),
        reset_after: Duration::from_millis(100),
    };
    let (bot, mut events) = connect(cfg);
    ready(&mut events).await;
    let lines: Vec<String> = (1..=30).map(|n| format!("burst {n}")).collect();
    for line in &lines {
        bot.chat(line).unwrap();
    }
    assert!(
        s.wait_for_chat_count(CHAN, 30, Duration::from_secs(30))
            .await,
        "only {} lines",
        s.chat_log(CHAN).len()
    );
    let got: Vec<String> = s.chat_log(CHAN).into_iter().map(|r| r.msg).collect();
    assert_eq!(got, lines);
    assert!(
        s.cooldowns_sent() > 0,
        "the test must provoke the server's limiter"
    );
    assert_eq!(s.kicks_sent(), 0);
    bot.shutdown().await;
    s.shutdown().await;
}

#[tokio::test]
async fn channel_antiflood_slows_a_guest_down() {
    let s = server(DevServerConfig::default()).await;
    let (bot, mut events) = connect(guest(&s, "slowpoke"));
    ready(&mut events).await;
    s.set_antiflood(CHAN, Some((4, 2.0)));
    expect(
        &mut events,
        "channelOpts with antiflood",
        |ev| matches!(ev, CytubeEvent::Server(ServerEvent::ChannelOpts(o)) if o.chat_antiflood),
    )
    .await;
    let lines: Vec<String> = (1..=10).map(|n| format!("slow {n}")).collect();
    for line in &lines {
        bot.chat(line).unwrap();
    }
    assert!(
        s.wait_for_chat_count(CHAN, 10, Duration::from_secs(30))
            .await
    );
    let got: Vec<String> = s.chat_log(CHAN).into_iter().map(|r| r.msg).collect();
    assert_eq!(got, lines);
    // A client ignoring the channel's antiflood gets about 6 cooldowns here (see above for the 1).
    assert!(s.cooldowns_sent() <= 1, "{} cooldowns", s.cooldowns_sent());
    bot.shutdown().await;
    s.shutdown().await;
}

#[tokio::test]
async fn long_text_is_split_on_word_boundaries() {
    let s = server(DevServerConfig::default()).await;
    let (bot, mut events) = connect(guest(&s, "verbose"));
    ready(&mut events).await;
    let words: Vec<String> = (0..120).map(|n| format!("word{n}")).collect();
    let text = words.join(" ");
    bot.chat_confirmed(&text).await.unwrap();
    assert!(s.wait_for_chat_count(CHAN, 3, WAIT).await);
    let log = s.chat_log(CHAN);
    assert!(log.iter().all(|r| r.msg.chars().count() <= 320));
    let rejoined: Vec<String> = log
        .iter()
        .flat_map(|r| r.msg.split(' ').map(str::to_owned))
        .collect();
    assert_eq!(rejoined, words);
    bot.shutdown().await;
    s.shutdown().await;
}

#[tokio::test]
async fn server_restart_leads_to_a_rejoin() {
    let s = server(DevServerConfig::default()).await;
    let addr = s.addr();
    let (bot, mut events) = connect(guest(&s, "phoenix"));
    ready(&mut events).await;

    s.shutdown().await;
    expect(&mut events, "Disconnected", |ev| {
        matches!(ev, CytubeEvent::Disconnected { .. })
    })
    .await;
    assert!(!bot.is_joined());
    assert_eq!(bot.chat("anyone?"), Err(SendError::NotJoined));
    // While the server is down, attempts fail and the client keeps trying.
    expect(
        &mut events,
        "a second reconnect attempt",
        |ev| matches!(ev, CytubeEvent::Reconnecting { attempt, .. } if *attempt >= 2),
    )
    .await;

    let s = server(DevServerConfig {
        listen: addr,
        ..Default::default()
    })
    .await;
    ready(&mut events).await;
    assert!(s.wait_for_user(CHAN, "phoenix", WAIT).await);
    bot.chat_confirmed("back again").await.unwrap();
    assert!(s.wait_for_chat_count(CHAN, 1, WAIT).await);
    assert_eq!(s.chat_log(CHAN)[0].msg, "back again");
    bot.shutdown().await;
    s.shutdown().await;
}

#[tokio::test]
async fn a_kick_leads_to_a_rejoin() {
    let s = server(DevServerConfig::default()).await;
    let (bot, mut events) = connect(guest(&s, "kickme"));
    ready(&mut events).await;
    assert!(s.kick(CHAN, "kickme", "go away").await);
    let ev = expect(&mut events, "Kicked", |ev| {
        matches!(ev, CytubeEvent::Kicked { .. })
    })
    .await;
    assert_eq!(
        ev,
        CytubeEvent::Kicked {
            reason: Some("go away".into())
        }
    );
    expect(&mut events, "Disconnected", |ev| {
        matches!(ev, CytubeEvent::Disconnected { .. })
    })
    .await;
    expect(&mut events, "Reconnecting", |ev| {
        matches!(ev, CytubeEvent::Reconnecting { attempt: 1, .. })
    })
    .await;
    ready(&mut events).await;
    assert!(s.wait_for_user(CHAN, "kickme", WAIT).await);
    bot.shutdown().await;
    s.shutdown().await;
}

#[tokio::test]
async fn duplicate_login_is_not_fought() {
    let s = server(DevServerConfig::default().with_account("twin", "pw", 1.0)).await;
    let twin = registered(&s, "twin", "pw");
    let (first, mut first_events) = connect(twin.clone());
    ready(&mut first_events).await;
    let (second, mut second_events) = connect(twin);
    ready(&mut second_events).await;
    expect(
        &mut first_events,
        "Kicked",
        |ev| matches!(ev, CytubeEvent::Kicked { reason: Some(r) } if r == "Duplicate login"),
    )
    .await;
    let ev = expect(&mut first_events, "Stopped", |ev| {
        matches!(ev, CytubeEvent::Stopped { .. })
    })
    .await;
    assert!(matches!(ev, CytubeEvent::Stopped { reason } if reason.contains("Duplicate login")));
    assert_eq!(first.chat("x"), Err(SendError::Closed));
    // The survivor is untouched.
    second.chat_confirmed("still here").await.unwrap();
    assert!(s.wait_for_chat_count(CHAN, 1, WAIT).await);
    assert_eq!(s.kicks_sent(), 1);
    second.shutdown().await;
    s.shutdown().await;
}

#[tokio::test]
async fn duplicate_login_can_back_off_to_the_cap_instead() {
    let s = server(DevServerConfig::default().with_account("twin", "pw", 1.0)).await;
    let mut cfg = registered(&s, "twin", "pw");
    cfg.on_duplicate_login = DuplicateLoginPolicy::BackOffToCap;
    let (_first, mut first_events) = connect(cfg.clone());
    ready(&mut first_events).await;
    let (_second, mut second_events) = connect(registered(&s, "twin", "pw"));
    ready(&mut second_events).await;
    expect(
        &mut first_events,
        "Kicked",
        |ev| matches!(ev, CytubeEvent::Kicked { reason: Some(r) } if r == "Duplicate login"),
    )
    .await;
    let ev = expect(&mut first_events, "Reconnecting", |ev| {
        matches!(ev, CytubeEvent::Reconnecting { .. })
    })
    .await;
    assert_eq!(
        ev,
        CytubeEvent::Reconnecting {
            attempt: 1,
            delay: cfg.backoff.cap
        }
    );
    s.shutdown().await;
}

#[tokio::test]
async fn channel_password_is_sent_when_asked() {
    let s = server(DevServerConfig::default().with_channel_password(CHAN, "sesame")).await;
    let mut cfg = guest(&s, "insider");
    cfg.channel_password = Some("sesame".into());
    let (bot, mut events) = connect(cfg);
    ready(&mut events).await;

    let mut wrong = guest(&s, "outsider");
    wrong.channel_password = Some("guess".into());
    let (_w, mut wrong_events) = connect(wrong);
    expect(&mut wrong_events, "needPassword", |ev| {
        matches!(ev, CytubeEvent::Server(ServerEvent::NeedPassword(_)))
    })
    .await;
    let ev = expect(&mut wrong_events, "Stopped", |ev| {
        matches!(ev, CytubeEvent::Stopped { .. })
    })
    .await;
    assert!(matches!(ev, CytubeEvent::Stopped { reason } if reason.contains("password")));

    let (_n, mut none_events) = connect(guest(&s, "nopass"));
    let ev = expect(&mut none_events, "Stopped", |ev| {
        matches!(ev, CytubeEvent::Stopped { .. })
    })
    .await;
    assert!(matches!(ev, CytubeEvent::Stopped { reason } if reason.contains("password")));
    bot.shutdown().await;
    s.shutdown().await;
}

#[tokio::test]
async fn pings_are_answered() {
    let s = server(DevServerConfig {
        ping_interval: Duration::from_millis(150),
        ping_timeout: Duration::from_millis(400),
        ..Default::default()
    })
    .await;
    let (bot, mut events) = connect(guest(&s, "awake"));
    ready(&mut events).await;
    // Eight ping intervals without a disconnect: the server got its pongs.
    let dropped = tokio::time::timeout(Duration::from_millis(1200), async {
        while let Some(ev) = events.recv().await {
            if matches!(ev, CytubeEvent::Disconnected { .. }) {
                return ev;
            }
        }
        CytubeEvent::Stopped {
            reason: "stream ended".into(),
        }
    })
    .await;
    assert!(dropped.is_err(), "unexpected {dropped:?}");
    assert!(s.wait_for_user(CHAN, "awake", WAIT).await);
    bot.shutdown().await;
    s.shutdown().await;
}

#[tokio::test]
async fn kick_and_clear_helpers_send_chat_commands() {
    let s = server(
        DevServerConfig::default()
            .with_account("boss", "pw", 1.0)
            .with_channel_rank("boss", 3.0),
    )
    .await;
    let (boss, mut boss_events) = connect(registered(&s, "boss", "pw"));
    ready(&mut boss_events).await;
    expect(
        &mut boss_events,
        "rank 3",
        |ev| matches!(ev, CytubeEvent::Server(ServerEvent::Rank(r)) if *r == 3.0),
    )
    .await;
    let (_victim, mut victim_events) = connect(guest(&s, "victim"));
    ready(&mut victim_events).await;
    boss.kick("victim", Some("behave")).unwrap();
    let ev = expect(&mut victim_events, "Kicked", |ev| {
        matches!(ev, CytubeEvent::Kicked { .. })
    })
    .await;
    assert_eq!(
        ev,
        CytubeEvent::Kicked {
            reason: Some("behave".into())
        }
    );
    assert!(boss.kick("two words", None).is_err());
    s.shutdown().await;
}

#[tokio::test]
async fn guest_login_rate_limit_is_retried() {
    let s = server(DevServerConfig {
        guest_login_delay: Duration::from_secs(2),
        ..Default::default()
    })
    .await;
    let (_first, mut first_events) = connect(guest(&s, "early"));
    ready(&mut first_events).await;
    let (second, mut second_events) = connect(guest(&s, "late"));
    let (name, seen) = ready(&mut second_events).await;
    assert_eq!(name, "late");
    let refused = seen.iter().any(|ev| {
        matches!(ev, CytubeEvent::Server(ServerEvent::Login(r))
            if !r.success && r.error.as_deref().is_some_and(|e| e.contains("restricted")))
    });
    assert!(
        refused,
        "the first guest login should have been refused: {seen:#?}"
    );
    second.chat_confirmed("made it").await.unwrap();
    assert!(s.wait_for_chat_count(CHAN, 1, WAIT).await);
    s.shutdown().await;
}

#[tokio::test]
async fn guest_name_of_a_registered_account_stops_the_client() {
    let s = server(DevServerConfig::default().with_account("Taken", "pw", 1.0)).await;
    let (_c, mut events) = connect(guest(&s, "taken"));
    let ev = expect(&mut events, "Stopped", |ev| {
        matches!(ev, CytubeEvent::Stopped { .. })
    })
    .await;
    assert!(
        matches!(&ev, CytubeEvent::Stopped { reason } if reason.contains("registered")),
        "{ev:?}"
    );
    s.shutdown().await;
}

#[tokio::test]
async fn set_afk_only_toggles_when_needed() {
    let s = server(DevServerConfig::default()).await;
    let (bot, mut events) = connect(guest(&s, "sleepy"));
    ready(&mut events).await;
    let own_afk = |want: bool| move |ev: &CytubeEvent| matches!(ev, CytubeEvent::Server(ServerEvent::SetAfk { name, afk }) if name == "sleepy" && *afk == want);
    bot.set_afk(true).unwrap();
    expect(&mut events, "afk on", own_afk(true)).await;
    assert!(s.users(CHAN).iter().any(|u| u.name == "sleepy" && u.afk));
    // Already AFK: no `/afk` is sent, so the next change seen is the one asked for next.
    bot.set_afk(true).unwrap();
    bot.set_afk(false).unwrap();
    let mut afk_events = Vec::new();
    expect(&mut events, "afk off", |ev| {
        if let CytubeEvent::Server(ServerEvent::SetAfk { afk, .. }) = ev {
            afk_events.push(*afk);
        }
        own_afk(false)(ev)
    })
    .await;
    assert_eq!(afk_events, [false]);
    bot.shutdown().await;
    s.shutdown().await;
}
