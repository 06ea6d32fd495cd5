//! End-to-end chat behaviour: echo and HTML escaping, truncation, PMs, the flood limit,
//! `/kick`, `/clear`, `/afk`, `/me`, channel antiflood — over real sockets.

mod common;

use std::time::Instant;

use common::{Frame, RawClient, WAIT, start, test_config};
use serde_json::{Value, json};

async fn two_guests(server: &rosey_devserver::DevServer) -> (RawClient, RawClient) {
    let mut a = RawClient::connect(server).await;
    a.join_as_guest("lobby", "alice").await;
    let mut b = RawClient::connect(server).await;
    b.join_as_guest("lobby", "bob").await;
    assert!(server.wait_for_user("lobby", "bob", WAIT).await);
    (a, b)
}

#[tokio::test]
async fn chat_is_echoed_escaped_and_truncated() {
    let server = start(test_config()).await;
    let (mut a, mut b) = two_guests(&server).await;

    let text = r#"hello (world) it's "q" <b>x</b> & co"#;
    a.say(text).await;
    let escaped = r#"hello (world) it's "q" &lt;b&gt;x&lt;/b&gt; &amp; co"#;
    for c in [&mut a, &mut b] {
        let m = c.expect("chatMsg").await;
        assert_eq!(m["username"], json!("alice"));
        assert_eq!(m["msg"], json!(escaped));
        assert_eq!(m["meta"], json!({}));
        assert!(m["time"].as_u64().unwrap() > 1_600_000_000_000);
    }

    // Control characters become spaces; 400 characters are cut to 320.
    a.say("tab\there\nnewline").await;
    assert_eq!(b.expect("chatMsg").await["msg"], json!("tab here newline"));
    let long = "x".repeat(400);
    a.say(&long).await;
    let m = b.expect("chatMsg").await;
    assert_eq!(m["msg"].as_str().unwrap().len(), 320);
    // Whitespace-only is dropped silently; greentext gets its class; links become <a>.
    a.say("   ").await;
    a.say(">implying").await;
    let m = b.expect("chatMsg").await;
    assert_eq!(m["msg"], json!("&gt;implying"));
    assert_eq!(m["meta"], json!({"addClass": "greentext"}));
    a.say("see https://example.com/x").await;
    assert_eq!(
        b.expect("chatMsg").await["msg"],
        json!(
            "see <a href=\"https://example.com/x\" target=\"_blank\" \
             rel=\"noopener noreferrer\">https://example.com/x</a>"
        )
    );
    // /me is an action.
    a.say("/me waves").await;
    let m = b.expect("chatMsg").await;
    assert_eq!(m["msg"], json!("waves"));
    assert_eq!(m["meta"], json!({"addClass": "action", "action": true}));

    assert!(server.wait_for_chat_count("lobby", 6, WAIT).await);
    let log: Vec<String> = server
        .chat_log("lobby")
        .into_iter()
        .map(|r| r.msg)
        .collect();
    assert_eq!(
        log,
        [
            text.to_owned(),
            "tab here newline".to_owned(),
            "x".repeat(320),
            ">implying".to_owned(),
            "see https://example.com/x".to_owned(),
            "waves".to_owned(),
        ]
    );
    server.shutdown().await;
}

#[tokio::test]
async fn pm_reaches_both_sides_and_errors_follow_the_protocol() {
    let server = start(test_config()).await;
    let (mut a, mut b) = two_guests(&server).await;
    a.emit("pm", json!({"to": "BOB", "msg": "hi <3", "meta": {}}))
        .await;
    let expected = |m: &Value| {
        assert_eq!(m["username"], json!("alice"));
        assert_eq!(m["to"], json!("bob"));
        assert_eq!(m["msg"], json!("hi &lt;3"));
        assert_eq!(m["meta"], json!({}));
    };
    expected(&a.expect("pm").await);
    expected(&b.expect("pm").await);
    assert!(server.wait_for_pm_count(1, WAIT).await);
    let pm = &server.pm_log()[0];
    assert_eq!(
        (pm.from.as_str(), pm.to.as_str(), pm.msg.as_str()),
        ("alice", "bob", "hi <3")
    );

    for (to, err) in [
        ("alice", "You can't PM yourself!".to_owned()),
        (
            "no body",
            "PM failed: no body isn't a valid username.".to_owned(),
        ),
        (
            "carol",
            "PM failed: carol isn't connected to this channel.".to_owned(),
        ),
    ] {
        a.emit("pm", json!({"to": to, "msg": "x"})).await;
        assert_eq!(a.expect("errorMsg").await, json!({ "msg": err }));
    }

    // Anonymous sockets cannot PM.
    let mut anon = RawClient::connect(&server).await;
    anon.emit("joinChannel", json!({"name": "lobby"})).await;
    anon.expect("userlist").await;
    anon.emit("pm", json!({"to": "bob", "msg": "x"})).await;
    assert_eq!(
        anon.expect("errorMsg").await,
        json!({"msg": "You must be signed in to send PMs"})
    );
    server.shutdown().await;
}

#[tokio::test]
async fn flood_of_40_gets_20_then_cooldowns_and_no_kick() {
    let server = start(test_config()).await;
    let (mut a, mut b) = two_guests(&server).await;
    let started = Instant::now();
    a.emit_burst((0..40).map(|i| ("chatMsg".to_owned(), json!({"msg": format!("flood {i}")}))))
        .await;

    // Every message gets exactly one outcome at the sender: its echo or a cooldown.
    let (mut echoed, mut cooldowns) = (Vec::new(), 0);
    while echoed.len() + cooldowns < 40 {
        match a.next().await {
            Frame::Event(n, args) if n == "chatMsg" => {
                echoed.push(args[0]["msg"].as_str().unwrap().to_owned())
            }
            Frame::Event(n, args) if n == "cooldown" => {
                assert_eq!(args[0], json!(100), "cooldown is 1000/sustained ms");
                cooldowns += 1;
            }
            Frame::Event(n, _) => assert_ne!(n, "kick"),
            other => panic!("unexpected {other:?}"),
        }
    }
    let elapsed_ms = started.elapsed().as_millis() as usize;
    // The burst of 20 always passes. After it one message per 100 ms may pass, so on a
    // slow machine a few more can get through; the bound follows from the elapsed time.
    assert!(echoed.len() >= 20, "accepted {}", echoed.len());
    assert!(
        echoed.len() <= 20 + elapsed_ms / 100 + 1,
        "accepted {} in {elapsed_ms} ms",
        echoed.len()
    );
    let first_20: Vec<String> = (0..20).map(|i| format!("flood {i}")).collect();
    assert_eq!(&echoed[..20], &first_20[..]);
    assert_eq!(server.cooldowns_sent(), cooldowns as u64);
    assert_eq!(cooldowns, 40 - echoed.len());
    assert_eq!(server.chat_log("lobby").len(), echoed.len());
    assert_eq!(server.kicks_sent(), 0);

    // The other user saw exactly the accepted lines, and alice is still connected.
    for line in &echoed {
        assert_eq!(b.expect("chatMsg").await["msg"], json!(line));
    }
    assert_eq!(server.users("lobby").len(), 2);
    server.shutdown().await;
}

#[tokio::test]
async fn channel_antiflood_applies_below_rank_2() {
    let cfg = test_config().with_account("mod", "pw", 2.0);
    let server = start(cfg).await;
    let mut m = RawClient::connect(&server).await;
    m.login_and_join("lobby", "mod", "pw").await;
    let mut g = RawClient::connect(&server).await;
    g.join_as_guest("lobby", "guest").await;
    server.set_antiflood("lobby", Some((4, 1.0)));
    let opts = g.expect("channelOpts").await;
    assert_eq!(opts["chat_antiflood"], json!(true));
    assert_eq!(
        opts["chat_antiflood_params"],
        json!({"burst": 4, "sustained": 1, "cooldown": 4})
    );

    g.emit_burst((0..6).map(|i| ("chatMsg".to_owned(), json!({"msg": format!("g{i}")}))))
        .await;
    let mut outcomes = Vec::new();
    while outcomes.len() < 6 {
        match g.next().await {
            Frame::Event(n, args) if n == "chatMsg" && args[0]["username"] == json!("guest") => {
                outcomes.push("ok".to_owned())
            }
            Frame::Event(n, args) if n == "cooldown" => outcomes.push(format!("cd {}", args[0])),
            Frame::Event(..) => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(outcomes, ["ok", "ok", "ok", "ok", "cd 1000", "cd 1000"]);

    // A moderator keeps the 20/10 limit.
    m.emit_burst((0..6).map(|i| ("chatMsg".to_owned(), json!({"msg": format!("m{i}")}))))
        .await;
    for i in 0..6 {
        m.expect_where("chatMsg", |v| v["msg"] == json!(format!("m{i}")))
            .await;
    }
    server.shutdown().await;
}

#[tokio::test]
async fn kick_needs_rank_and_disconnects_the_target() {
    let cfg = test_config().with_account("mod", "pw", 2.0);
    let server = start(cfg).await;
    let mut m = RawClient::connect(&server).await;
    m.login_and_join("lobby", "mod", "pw").await;
    let (mut a, mut b) = two_guests(&server).await;

    // A guest has no kick permission: the command is swallowed, not posted.
    a.say("/kick bob").await;
    a.say("after").await;
    assert_eq!(b.expect("chatMsg").await["msg"], json!("after"));

    m.say("/kick").await;
    let err = m.expect("errorMsg").await;
    assert!(err["msg"].as_str().unwrap().starts_with("No kick target"));

    m.say("/kick BOB too much spam").await;
    assert_eq!(b.expect("kick").await, json!({"reason": "too much spam"}));
    assert_eq!(b.next().await, Frame::Disconnect);
    assert_eq!(a.expect("userLeave").await, json!({"name": "bob"}));
    let notice = m
        .expect_where("chatMsg", |v| {
            v["username"] == json!("[server]") && v["msg"].as_str().unwrap().contains("kicked")
        })
        .await;
    assert_eq!(notice["msg"], json!("mod kicked bob (too much spam)"));
    assert_eq!(server.kicks_sent(), 1);
    assert!(server.users("lobby").iter().all(|u| u.name != "bob"));

    // Equal or higher rank cannot be kicked.
    server.set_rank("lobby", "alice", 2.0);
    m.say("/kick alice").await;
    assert_eq!(
        m.expect("errorMsg").await,
        json!({"msg": "You do not have permission to kick alice"})
    );

    // The handle can kick too.
    assert!(server.kick("lobby", "alice", "").await);
    assert_eq!(a.expect("kick").await, json!({"reason": ""}));
    assert_eq!(a.next().await, Frame::Disconnect);
    assert!(!server.kick("lobby", "nobody", "x").await);
    server.shutdown().await;
}

#[tokio::test]
async fn clear_and_afk() {
    let cfg = test_config().with_account("mod", "pw", 2.0);
    let server = start(cfg).await;
    let mut m = RawClient::connect(&server).await;
    m.login_and_join("lobby", "mod", "pw").await;
    let mut a = RawClient::connect(&server).await;
    a.join_as_guest("lobby", "alice").await;

    a.say("before clear").await;
    assert!(server.wait_for_chat_count("lobby", 1, WAIT).await);
    m.say("/clear").await;
    assert_eq!(a.expect("clearchat").await, json!({"clearedBy": "mod"}));
    // History is gone for the next joiner.
    let mut late = RawClient::connect(&server).await;
    late.emit("joinChannel", json!({"name": "lobby"})).await;
    let burst = late.until("userlist").await;
    assert!(burst.iter().all(|(n, _)| n != "chatMsg"));

    a.say("/afk").await;
    assert_eq!(
        m.expect("setAFK").await,
        json!({"name": "alice", "afk": true})
    );
    // Moderators get the moderator view of the meta (shadow mute, aliases, cloaked IP).
    let meta = m.expect("setUserMeta").await;
    assert_eq!(meta["name"], json!("alice"));
    assert_eq!(
        (
            &meta["meta"]["afk"],
            &meta["meta"]["muted"],
            &meta["meta"]["smuted"]
        ),
        (&json!(true), &json!(false), &json!(false))
    );
    assert!(
        server
            .users("lobby")
            .iter()
            .any(|u| u.name == "alice" && u.afk)
    );
    // Any chat un-AFKs.
    a.say("back").await;
    assert_eq!(
        m.expect("setAFK").await,
        json!({"name": "alice", "afk": false})
    );
    server.shutdown().await;
}
