//! Who gets into a channel and what moderators learn at a join, as CyTube does it: bans by
//! name and IP keep users out with CyTube's message, a rank ≥ 2 account is admitted to a
//! password-protected channel once it has logged in (`needPassword`, then
//! `cancelNeedPassword`), moderators are told which names share the newcomer's IP, and a
//! moderator can clear the playlist (`clearPlaylist`).

mod common;

use common::{Frame, RawClient, WAIT, names, start, test_config};
use serde_json::{Value, json};

const BANNED: &str = "You are banned from this channel.";

/// Events up to the socket's end (kick + disconnect), or until `WAIT` passes quietly.
async fn until_kicked(c: &mut RawClient) -> Vec<(String, Vec<Value>)> {
    let mut seen = Vec::new();
    loop {
        match c.next().await {
            Frame::Event(n, args) => seen.push((n, args)),
            Frame::Disconnect | Frame::Closed => return seen,
        }
    }
}

fn kick_reason(events: &[(String, Vec<Value>)]) -> Option<&Value> {
    events
        .iter()
        .find(|(n, _)| n == "kick")
        .map(|(_, a)| &a[0]["reason"])
}

#[tokio::test]
async fn banned_names_and_ips_are_kept_out_with_cytubes_message() {
    let server = start(test_config().with_account("mod", "pw", 2.0)).await;
    let mut m = RawClient::connect_as_ip(&server, Some("10.0.0.1")).await;
    m.login_and_join("lobby", "mod", "pw").await;
    let mut alice = RawClient::connect_as_ip(&server, Some("10.0.0.7")).await;
    alice.join_as_guest("lobby", "alice").await;
    assert!(server.wait_for_user("lobby", "alice", WAIT).await);

    // /ipban: the name and every IP it came from; the user present is kicked.
    m.say("/ipban alice flooding").await;
    assert_eq!(
        alice.expect("kick").await,
        json!({"reason": "You're banned!"})
    );
    m.emit0("requestBanlist").await;
    let list = m.expect("banlist").await;
    let entries: Vec<(&str, &str)> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|b| (b["ip"].as_str().unwrap(), b["name"].as_str().unwrap()))
        .collect();
    assert_eq!(entries, [("10.0.x.x", "alice"), ("*", "alice")]);

    // Another name from the banned IP: kicked at join, before any of the join burst.
    let mut other = RawClient::connect_as_ip(&server, Some("10.0.0.7")).await;
    other.emit("joinChannel", json!({"name": "lobby"})).await;
    let seen = until_kicked(&mut other).await;
    assert_eq!(kick_reason(&seen), Some(&json!(BANNED)), "{seen:?}");
    assert!(!names(&seen).contains(&"userlist"), "{seen:?}");

    // The banned name from another IP, logged in first: kicked at join too.
    let mut again = RawClient::connect_as_ip(&server, Some("10.0.0.9")).await;
    again.emit("login", json!({"name": "Alice"})).await;
    again.expect("login").await;
    again.emit("joinChannel", json!({"name": "lobby"})).await;
    let seen = until_kicked(&mut again).await;
    assert_eq!(kick_reason(&seen), Some(&json!(BANNED)), "{seen:?}");
    assert!(!names(&seen).contains(&"userlist"), "{seen:?}");

    // The server's own ban (the handle) works the same way.
    let mut bob = RawClient::connect_as_ip(&server, Some("10.0.0.8")).await;
    bob.join_as_guest("lobby", "bob").await;
    assert!(server.wait_for_user("lobby", "bob", WAIT).await);
    server.ban("lobby", "Bob", false);
    assert_eq!(
        bob.expect("kick").await,
        json!({"reason": "You're banned!"})
    );
    assert!(server.bans("lobby").iter().any(|b| b.name == "bob"));
    server.shutdown().await;
}

#[tokio::test]
async fn a_moderator_is_admitted_to_a_locked_channel_once_logged_in() {
    let cfg = test_config()
        .with_account("mod", "pw", 1.0)
        .with_channel_rank("mod", 2.0)
        .with_account("user", "pw", 1.0)
        .with_channel_password("locked", "sesame");
    let server = start(cfg).await;

    // As a browser does: join first (no password), then log in.
    let mut m = RawClient::connect(&server).await;
    m.emit("joinChannel", json!({"name": "locked"})).await;
    assert_eq!(m.expect("needPassword").await, json!(false));
    m.emit("login", json!({"name": "mod", "pw": "pw"})).await;
    let seen = m.until("userlist").await;
    let order = names(&seen);
    let login = order.iter().position(|n| *n == "login").unwrap();
    let cancel = order.iter().position(|n| *n == "cancelNeedPassword");
    assert!(
        cancel.is_some_and(|c| c > login),
        "cancelNeedPassword after the login: {order:?}"
    );
    assert!(server.wait_for_user("locked", "mod", WAIT).await);

    // A plain account still needs the password.
    let mut u = RawClient::connect(&server).await;
    u.emit("joinChannel", json!({"name": "locked"})).await;
    assert_eq!(u.expect("needPassword").await, json!(false));
    u.emit("login", json!({"name": "user", "pw": "pw"})).await;
    u.expect("login").await;
    u.emit("channelPassword", json!("guess")).await;
    assert_eq!(u.expect("needPassword").await, json!(true));
    assert!(server.users("locked").iter().all(|x| x.name != "user"));
    server.shutdown().await;
}

#[tokio::test]
async fn moderators_alone_learn_which_names_share_an_ip() {
    let server = start(test_config().with_account("mod", "pw", 2.0)).await;
    let mut m = RawClient::connect_as_ip(&server, Some("10.0.0.1")).await;
    m.login_and_join("lobby", "mod", "pw").await;
    let mut watcher = RawClient::connect_as_ip(&server, Some("10.0.0.2")).await;
    watcher.join_as_guest("lobby", "watcher").await;
    let mut first = RawClient::connect_as_ip(&server, Some("10.0.0.5")).await;
    first.join_as_guest("lobby", "alice").await;
    first.close().await;
    assert!(server.wait_for_user_gone("lobby", "alice", WAIT).await);

    let mut second = RawClient::connect_as_ip(&server, Some("10.0.0.5")).await;
    second.join_as_guest("lobby", "alice2").await;
    let whisper = m
        .expect_where("chatMsg", |v| {
            v["msg"]
                .as_str()
                .is_some_and(|t| t.starts_with("alice2 joined"))
        })
        .await;
    assert_eq!(whisper["username"], json!("[server]"));
    assert_eq!(
        whisper["msg"],
        json!("alice2 joined (aliases: alice,alice2)")
    );
    assert_eq!(whisper["meta"]["addClass"], json!("server-whisper"));

    // A guest sees the arrival, then the next chat line: never the whisper.
    watcher
        .expect_where("addUser", |u| u["name"] == json!("alice2"))
        .await;
    m.say("hello").await;
    let next = watcher.expect("chatMsg").await;
    assert_eq!(next["msg"], json!("hello"), "{next}");
    server.shutdown().await;
}

#[tokio::test]
async fn clear_playlist_empties_it_for_everyone_and_nothing_plays() {
    let server = start(test_config().with_account("mod", "pw", 2.0)).await;
    let mut m = RawClient::connect(&server).await;
    m.login_and_join("lobby", "mod", "pw").await;
    let mut g = RawClient::connect(&server).await;
    g.join_as_guest("lobby", "guest").await;
    for id in ["one111", "two222"] {
        m.emit("queue", json!({"id": id, "type": "yt", "pos": "end"}))
            .await;
        m.expect("queue").await;
    }
    assert_eq!(server.playlist("lobby").len(), 2);

    // A guest lacks `playlistclear` (2): ignored.
    g.emit0("clearPlaylist").await;
    m.emit0("clearPlaylist").await;
    let mut seen = Vec::new();
    loop {
        let Frame::Event(n, args) = g.next().await else {
            panic!("the guest stays connected")
        };
        let done = n == "setPlaylistMeta" && args[0]["count"] == json!(0);
        seen.push((n, args));
        if done {
            break;
        }
    }
    let seen = seen.split_off(seen.iter().position(|(n, _)| n == "playlist").unwrap());
    let playlist = seen.iter().rev().find(|(n, _)| n == "playlist").unwrap();
    assert_eq!(playlist.1[0], json!([]));
    assert_eq!(seen.last().unwrap().1[0]["count"], json!(0));
    assert!(!names(&seen).contains(&"changeMedia"), "{seen:?}");
    assert!(server.playlist("lobby").is_empty());
    server.shutdown().await;
}
