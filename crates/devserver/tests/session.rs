//! End-to-end: socketconfig, join burst and history replay, guest and registered login,
//! channel passwords, restart — over real sockets.

mod common;

use std::time::Duration;

use common::{Frame, RawClient, WAIT, names, start, test_config};
use serde_json::{Value, json};

#[tokio::test]
async fn socketconfig_points_at_the_server_and_rejects_bad_names() {
    let server = start(test_config()).await;
    let http = reqwest::Client::new();

    let ok = http
        .get(server.socketconfig_url("my-chan_1"))
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    let body: Value = ok.json().await.unwrap();
    assert_eq!(
        body,
        json!({"servers": [{"url": server.base_url(), "secure": false}]})
    );
    assert!(server.base_url().starts_with("http://127.0.0.1:"));

    let bad = http
        .get(format!("{}/socketconfig/bad.name.json", server.base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 404);
    let body: Value = bad.json().await.unwrap();
    assert_eq!(
        body,
        json!({"error": "Channel \"bad.name\" does not exist."})
    );
    server.shutdown().await;
}

#[tokio::test]
async fn join_burst_follows_cytube_order_and_replays_last_15_lines() {
    let server = start(test_config()).await;
    let mut alice = RawClient::connect(&server).await;
    assert_eq!(alice.expect("rank").await, json!(-1));
    alice.join_as_guest("Lobby", "alice").await;
    for i in 0..17 {
        alice.say(&format!("line {i}")).await;
    }
    assert!(server.wait_for_chat_count("lobby", 17, WAIT).await);

    let mut bob = RawClient::connect(&server).await;
    bob.emit("joinChannel", json!({"name": "lobby"})).await;
    let burst = bob.until("usercount").await;
    let order: Vec<&str> = names(&burst)
        .into_iter()
        .filter(|n| *n != "chatMsg")
        .collect();
    assert_eq!(
        order,
        [
            "rank",
            "setPermissions",
            "setPlaylistLocked",
            "emoteList",
            "drinkCount",
            "channelCSSJS",
            "setMotd",
            "channelOpts",
            "setPlaylistMeta",
            "playlist",
            "userlist",
            "usercount"
        ]
    );
    // History sits between emoteList and drinkCount: the last 15 lines, oldest first.
    let n = names(&burst);
    let first_chat = n.iter().position(|x| *x == "chatMsg").unwrap();
    assert_eq!(n[first_chat - 1], "emoteList");
    let replay: Vec<&str> = burst
        .iter()
        .filter(|(n, _)| n == "chatMsg")
        .map(|(_, a)| a[0]["msg"].as_str().unwrap())
        .collect();
    let expected: Vec<String> = (2..17).map(|i| format!("line {i}")).collect();
    assert_eq!(replay, expected);
    assert_eq!(n[first_chat + 15], "drinkCount");
    // Anonymous bob is not listed; alice is.
    let userlist = &burst.iter().find(|(n, _)| n == "userlist").unwrap().1[0];
    let listed: Vec<&str> = userlist
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["name"].as_str().unwrap())
        .collect();
    assert_eq!(listed, ["alice"]);
    assert_eq!(userlist[0]["rank"], json!(0));
    assert_eq!(userlist[0]["meta"], json!({"afk": false, "muted": false}));
    assert_eq!(
        burst.last().unwrap().1[0],
        json!(2),
        "usercount counts anonymous sockets"
    );

    // Logging in after the join: rank 0, guest login reply, own addUser; alice sees addUser.
    bob.emit("login", json!({"name": "bob"})).await;
    let after = bob.until("addUser").await;
    assert_eq!(names(&after), ["rank", "login", "addUser"]);
    assert_eq!(after[0].1[0], json!(0));
    assert_eq!(
        after[1].1[0],
        json!({"success": true, "name": "bob", "guest": true})
    );
    assert_eq!(after[2].1[0]["name"], json!("bob"));
    let added = alice
        .expect_where("addUser", |u| u["name"] == json!("bob"))
        .await;
    assert_eq!(added["rank"], json!(0));
    assert!(server.wait_for_user("lobby", "bob", WAIT).await);

    // A second login is ignored; a new guest with a used name is refused.
    let mut eve = RawClient::connect(&server).await;
    eve.emit("joinChannel", json!({"name": "lobby"})).await;
    eve.expect("userlist").await;
    eve.emit("login", json!({"name": "ALICE"})).await;
    let refused = eve.expect("login").await;
    assert_eq!(
        refused,
        json!({"success": false, "error": "That name is already in use on this channel."})
    );
    eve.emit("login", json!({"name": "bad name"})).await;
    let refused = eve.expect("login").await;
    assert!(
        refused["error"]
            .as_str()
            .unwrap()
            .starts_with("Invalid username.")
    );
    eve.emit("login", json!({"name": "site-admin"})).await;
    assert_eq!(
        eve.expect("login").await["error"],
        json!("That username is reserved.")
    );

    // Leaving: userLeave + usercount for the others.
    bob.close().await;
    assert_eq!(alice.expect("userLeave").await, json!({"name": "bob"}));
    assert!(server.wait_for_user_gone("lobby", "bob", WAIT).await);
    let users: Vec<String> = server.users("lobby").into_iter().map(|u| u.name).collect();
    assert_eq!(users, ["alice"]);
    server.shutdown().await;
}

#[tokio::test]
async fn registered_login_gets_account_and_channel_rank() {
    let cfg = test_config()
        .with_account("Mod1", "secret", 1.0)
        .with_channel_rank("mod1", 2.0);
    let server = start(cfg).await;

    let mut c = RawClient::connect(&server).await;
    c.expect("rank").await;
    c.emit("login", json!({"name": "mod1", "pw": "wrong"}))
        .await;
    assert_eq!(
        c.expect("login").await,
        json!({"success": false, "error": "Invalid username/password combination"})
    );
    c.emit("login", json!({"name": "nobody", "pw": "x"})).await;
    assert_eq!(
        c.expect("login").await,
        json!({"success": false, "error": "User does not exist"})
    );
    // A guest may not take a registered name, not even a look-alike.
    c.emit("login", json!({"name": "m0d1"})).await;
    assert_eq!(
        c.expect("login").await,
        json!({"success": false, "error": "That username is registered."})
    );

    c.emit("login", json!({"name": "mod1", "pw": "secret"}))
        .await;
    let reply = c.until("login").await;
    assert_eq!(names(&reply), ["rank", "login"]);
    assert_eq!(reply[0].1[0], json!(1), "global rank first");
    assert_eq!(
        reply[1].1[0],
        json!({"success": true, "name": "Mod1"}),
        "canonical name, no guest field"
    );

    c.emit("joinChannel", json!({"name": "lobby"})).await;
    let burst = c.until("userlist").await;
    let me = &burst.last().unwrap().1[0][0];
    assert_eq!(me["name"], json!("Mod1"));
    assert_eq!(me["rank"], json!(2));
    // Moderators see aliases and a cloaked IP.
    assert_eq!(me["meta"]["aliases"], json!(["Mod1"]));
    assert_eq!(c.expect("rank").await, json!(2));
    assert_eq!(
        c.expect("setUserRank").await,
        json!({"name": "Mod1", "rank": 2})
    );
    let users = server.users("lobby");
    assert_eq!(users.len(), 1);
    assert_eq!(users[0].rank, 2.0);

    // set_rank from the handle: rank to the user, setUserRank to the room.
    server.set_rank("lobby", "mod1", 3.0);
    assert_eq!(c.expect("rank").await, json!(3));
    assert_eq!(
        c.expect("setUserRank").await,
        json!({"name": "Mod1", "rank": 3})
    );

    // A second session with the same account kicks the first.
    let mut c2 = RawClient::connect(&server).await;
    c2.login_and_join("lobby", "Mod1", "secret").await;
    assert_eq!(c.expect("kick").await, json!({"reason": "Duplicate login"}));
    assert_eq!(c.next().await, Frame::Disconnect);
    server.shutdown().await;
}

#[tokio::test]
async fn channel_password_flow_uses_zero_argument_frames() {
    let server = start(test_config().with_channel_password("secret", "hunter2")).await;
    let mut c = RawClient::connect(&server).await;
    c.emit("joinChannel", json!({"name": "secret", "pw": "nope"}))
        .await;
    assert_eq!(c.expect("needPassword").await, json!(true));
    c.emit("channelPassword", json!("still wrong")).await;
    assert_eq!(c.expect("needPassword").await, json!(true));
    c.emit("channelPassword", json!("hunter2")).await;
    c.expect("cancelNeedPassword").await;
    assert!(
        c.raw.iter().any(|f| f == r#"42["cancelNeedPassword"]"#),
        "zero-argument event must be 42[\"name\"], got {:?}",
        c.raw
    );
    let opts = c.expect("channelOpts").await;
    assert_eq!(opts["password"], json!("hunter2"));
    c.expect("userlist").await;

    // Without a pw the bool is false.
    let mut d = RawClient::connect(&server).await;
    d.emit("joinChannel", json!({"name": "secret"})).await;
    assert_eq!(d.expect("needPassword").await, json!(false));
    server.shutdown().await;
}

#[tokio::test]
async fn invalid_channel_name_is_an_error_then_a_kick() {
    let server = start(test_config()).await;
    let mut c = RawClient::connect(&server).await;
    c.emit("joinChannel", json!({"name": "no spaces"})).await;
    let err = c.expect("errorMsg").await;
    assert!(
        err["msg"]
            .as_str()
            .unwrap()
            .starts_with("Invalid channel name.")
    );
    assert_eq!(
        c.expect("kick").await,
        json!({"reason": "Invalid channel name"})
    );
    assert_eq!(c.next().await, Frame::Disconnect);
    assert_eq!(server.kicks_sent(), 1);
    server.shutdown().await;
}

#[tokio::test]
async fn restart_on_the_same_port() {
    let server = start(test_config()).await;
    let addr = server.addr();
    let mut c = RawClient::connect(&server).await;
    c.join_as_guest("lobby", "alice").await;
    server.shutdown().await;
    // The old connection is closed by the shutdown.
    loop {
        match c.next().await {
            Frame::Closed => break,
            Frame::Disconnect | Frame::Event(..) => continue,
        }
    }

    let cfg = rosey_devserver::DevServerConfig {
        listen: addr,
        ..test_config()
    };
    let server = start(cfg).await;
    assert_eq!(server.addr(), addr);
    let mut c = RawClient::connect(&server).await;
    c.join_as_guest("lobby", "alice").await;
    assert!(
        server
            .wait_for_user("lobby", "alice", Duration::from_secs(5))
            .await
    );
    server.shutdown().await;
}

#[tokio::test]
async fn engine_options_mirror_cytube() {
    let server = start(rosey_devserver::DevServerConfig::default()).await;
    let c = RawClient::connect(&server).await;
    assert_eq!(c.open["pingInterval"], json!(25_000));
    assert_eq!(c.open["pingTimeout"], json!(120_000));
    assert_eq!(c.open["maxPayload"], json!(1_048_576));
    assert_eq!(c.open["upgrades"], json!([]), "already on websocket");
    server.shutdown().await;
}

#[tokio::test]
async fn a_client_that_stops_answering_pings_is_dropped() {
    let cfg = rosey_devserver::DevServerConfig {
        ping_interval: Duration::from_millis(200),
        ping_timeout: Duration::from_millis(1000),
        ..test_config()
    };
    let server = start(cfg).await;
    let mut alice = RawClient::connect(&server).await;
    alice.join_as_guest("lobby", "alice").await;
    let mut ghost = RawClient::connect(&server).await;
    ghost.join_as_guest("lobby", "ghost").await;
    // `ghost` is never read again, so it never answers a ping; alice keeps answering
    // while she waits.
    assert_eq!(
        alice
            .expect_where("userLeave", |v| v["name"] == json!("ghost"))
            .await,
        json!({"name": "ghost"})
    );
    assert!(server.wait_for_user_gone("lobby", "ghost", WAIT).await);
    assert!(server.users("lobby").iter().any(|u| u.name == "alice"));
    drop(ghost);
    server.shutdown().await;
}

#[tokio::test]
async fn an_event_before_the_connect_ack_closes_the_connection() {
    // Like socket.io 4.5.4 under CyTube ("invalid state"), the whole connection goes.
    let server = start(test_config()).await;
    let mut c = RawClient::open_only(&server).await;
    c.emit("joinChannel", json!({"name": "lobby"})).await;
    assert_eq!(c.next().await, Frame::Closed);
    server.shutdown().await;
}
