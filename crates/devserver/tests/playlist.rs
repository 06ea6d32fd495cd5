//! End-to-end playlist behaviour (queue, move, jump, skip, delete, voteskip, leader) and
//! hostile input — over real sockets.

mod common;

use common::{Frame, RawClient, WAIT, start, test_config};
use serde_json::json;

#[tokio::test]
async fn queue_move_jump_delete_and_voteskip() {
    let cfg = test_config().with_account("mod", "pw", 2.0);
    let server = start(cfg).await;
    let mut m = RawClient::connect(&server).await;
    m.login_and_join("lobby", "mod", "pw").await;
    let mut g = RawClient::connect(&server).await;
    g.join_as_guest("lobby", "guest").await;

    // A guest may add to an unlocked playlist; the first item starts playing.
    g.emit("queue", json!({"id": "abc123", "type": "yt", "pos": "end"}))
        .await;
    let q = m.expect("queue").await;
    assert_eq!(q["after"], json!("prepend"));
    let item = &q["item"];
    let uid1 = item["uid"].as_u64().unwrap();
    assert_eq!(item["media"]["id"], json!("abc123"));
    assert_eq!(item["media"]["type"], json!("yt"));
    assert_eq!(item["queueby"], json!("guest"));
    assert_eq!(item["temp"], json!(true), "guests lack addnontemp");
    assert!(item["media"]["seconds"].as_u64().unwrap() > 0);
    let meta = m.expect("setPlaylistMeta").await;
    assert_eq!(meta["count"], json!(1));
    assert_eq!(m.expect("setCurrent").await, json!(uid1));
    let cm = m.expect("changeMedia").await;
    assert_eq!(cm["id"], json!("abc123"));
    assert_eq!(cm["currentTime"], json!(-3));
    assert_eq!(cm["paused"], json!(true));

    // Duplicates fail; unknown types fail.
    g.emit("queue", json!({"id": "abc123", "type": "yt", "pos": "end"}))
        .await;
    assert_eq!(
        g.expect("queueFail").await["msg"],
        json!("This item is already on the playlist")
    );

    // The moderator adds more (rt is live: no duration, plays unpaused at 0).
    for (id, kind) in [("v2", "vi"), ("rtmp://x/live", "rt")] {
        m.emit("queue", json!({"id": id, "type": kind, "pos": "end"}))
            .await;
    }
    let q2 = m.expect("queue").await;
    let uid2 = q2["item"]["uid"].as_u64().unwrap();
    assert_eq!(q2["after"], json!(uid1));
    assert_eq!(q2["item"]["temp"], json!(false));
    let q3 = m.expect("queue").await;
    let uid3 = q3["item"]["uid"].as_u64().unwrap();
    assert_eq!(q3["item"]["media"]["seconds"], json!(0));

    // Move the live item to the front.
    m.emit("moveMedia", json!({"from": uid3, "after": "prepend"}))
        .await;
    assert_eq!(
        g.expect("moveVideo").await,
        json!({"from": uid3, "after": "prepend"})
    );

    // Jump to it: setCurrent + changeMedia, and the temp item that was playing is deleted.
    m.emit("jumpTo", json!(uid3)).await;
    assert_eq!(g.expect("delete").await, json!({"uid": uid1}));
    assert_eq!(g.expect("setCurrent").await, json!(uid3));
    let cm = g.expect("changeMedia").await;
    assert_eq!(
        (cm["currentTime"].clone(), cm["paused"].clone()),
        (json!(0), json!(false))
    );

    // Voteskip: 2 eligible users, ratio 0.5 → 1 vote needed: it passes at once. As in
    // CyTube, everyone gets the notice, then those who may see vote-skips the reset.
    g.emit0("voteskip").await;
    let skip = m
        .expect_where("chatMsg", |v| v["username"] == json!("[voteskip]"))
        .await;
    assert_eq!(
        skip["msg"],
        json!(
            "Voteskip passed: 1/2 skipped; eligible voters: 2 = total (2) - AFK (0) - no \
             permission (0); ratio = 0.5"
        )
    );
    assert_eq!(m.expect("voteskip").await, json!({"count": 0, "need": 0}));
    assert_eq!(m.expect("setCurrent").await, json!(uid2));

    // A guest cannot delete; the mod can.
    g.emit("delete", json!(uid3)).await;
    m.emit("delete", json!(uid3)).await;
    assert_eq!(g.expect("delete").await, json!({"uid": uid3}));
    assert_eq!(g.expect("setPlaylistMeta").await["count"], json!(1));

    // A new joiner gets the playlist and the current media in the burst.
    let mut late = RawClient::connect(&server).await;
    late.emit("joinChannel", json!({"name": "lobby"})).await;
    let burst = late.until("userlist").await;
    let playlist = &burst.iter().find(|(n, _)| n == "playlist").unwrap().1[0];
    assert_eq!(playlist.as_array().unwrap().len(), 1);
    assert!(
        burst
            .iter()
            .any(|(n, a)| n == "changeMedia" && a[0]["id"] == json!("v2"))
    );
    server.shutdown().await;
}

/// CyTube's vote-skip: one vote per IP, AFK users are not counted (a voter is back), the
/// tally goes to those with `viewvoteskip`, and a pass moves playback on.
#[tokio::test]
async fn voteskip_counts_one_vote_per_ip_and_leaves_out_afk_users() {
    let cfg = test_config().with_account("mod", "pw", 2.0);
    let server = start(cfg).await;
    let mut m = RawClient::connect(&server).await;
    m.login_and_join("lobby", "mod", "pw").await;
    let mut guests = Vec::new();
    for (name, ip) in [
        ("ann", "10.0.0.1"),
        ("ann2", "10.0.0.1"),
        ("bob", "10.0.0.2"),
        ("cat", "10.0.0.3"),
    ] {
        let mut g = RawClient::connect_as_ip(&server, Some(ip)).await;
        g.join_as_guest("lobby", name).await;
        guests.push(g);
    }
    let [ann, ann2, bob, cat] = &mut guests[..] else {
        unreachable!()
    };
    for id in ["first1", "second2"] {
        m.emit("queue", json!({"id": id, "type": "yt", "pos": "end"}))
            .await;
    }
    m.expect("queue").await;
    // The first item starts playing, and the count resets with the media change.
    m.expect("changeMedia").await;
    assert_eq!(m.expect("voteskip").await, json!({"count": 0, "need": 0}));
    let uid2 = m.expect("queue").await["item"]["uid"].as_u64().unwrap();
    cat.say("/afk").await;
    m.expect_where("setAFK", |v| v == &json!({"name": "cat", "afk": true}))
        .await;

    // 5 users, 1 AFK: 4 eligible, 2 votes needed.
    ann.emit0("voteskip").await;
    assert_eq!(m.expect("voteskip").await, json!({"count": 1, "need": 2}));
    // The same IP again counts nothing (had it counted, the notice would come first).
    ann2.emit0("voteskip").await;
    ann2.say("after my vote").await;
    let next = m.expect("chatMsg").await;
    assert_eq!(next["username"], json!("ann2"), "{next}");
    // An AFK voter is back: 5 eligible, 3 needed.
    cat.emit0("voteskip").await;
    m.expect_where("setAFK", |v| v == &json!({"name": "cat", "afk": false}))
        .await;
    assert_eq!(m.expect("voteskip").await, json!({"count": 2, "need": 3}));
    bob.emit0("voteskip").await;
    let skip = m.expect("chatMsg").await;
    assert_eq!(
        (skip["username"].clone(), skip["msg"].clone()),
        (
            json!("[voteskip]"),
            json!(
                "Voteskip passed: 3/5 skipped; eligible voters: 5 = total (5) - AFK (0) - no \
                 permission (0); ratio = 0.5"
            )
        )
    );
    assert_eq!(m.expect("voteskip").await, json!({"count": 0, "need": 0}));
    assert_eq!(m.expect("setCurrent").await, json!(uid2));
    // The media change resets the count too, as CyTube's voteskip module does.
    m.expect("changeMedia").await;
    assert_eq!(m.expect("voteskip").await, json!({"count": 0, "need": 0}));
    server.shutdown().await;
}

#[tokio::test]
async fn leader_assignment_bumps_rank_and_non_mods_are_kicked() {
    let cfg = test_config().with_account("mod", "pw", 2.0);
    let server = start(cfg).await;
    let mut m = RawClient::connect(&server).await;
    m.login_and_join("lobby", "mod", "pw").await;
    let mut g = RawClient::connect(&server).await;
    g.join_as_guest("lobby", "guest").await;

    m.emit("assignLeader", json!({"name": "guest"})).await;
    assert_eq!(g.expect("rank").await, json!(1.5));
    assert_eq!(
        g.expect("setUserRank").await,
        json!({"name": "guest", "rank": 1.5})
    );
    assert_eq!(g.expect("setLeader").await, json!("guest"));
    m.emit("assignLeader", json!({"name": "nobody"})).await;
    assert_eq!(
        m.expect("errorMsg").await,
        json!({"msg": "Unable to assign leader: could not find user nobody"})
    );
    m.emit("assignLeader", json!({"name": ""})).await;
    assert_eq!(g.expect("rank").await, json!(0));
    assert_eq!(g.expect("setLeader").await, json!(""));

    g.emit("assignLeader", json!({"name": "guest"})).await;
    assert_eq!(
        g.expect("kick").await,
        json!({"reason": "Attempted assignLeader without sufficient permission"})
    );
    assert_eq!(g.next().await, Frame::Disconnect);
    server.shutdown().await;
}

#[tokio::test]
async fn hostile_frames_do_not_break_the_server() {
    let server = start(test_config()).await;
    let mut a = RawClient::connect(&server).await;
    a.join_as_guest("lobby", "alice").await;
    // Wrong types everywhere.
    for frame in [
        r#"42["chatMsg",5]"#,
        r#"42["chatMsg",{"msg":7}]"#,
        r#"42["chatMsg",{"msg":"x","meta":"bad"}]"#,
        r#"42["pm",[1,2]]"#,
        r#"42["login",[1]]"#,
        r#"42["joinChannel",null]"#,
        r#"42["queue",{"id":{},"type":1}]"#,
        r#"42["delete","x"]"#,
        r#"42["moveMedia",{"from":"a"}]"#,
        r#"42["jumpTo",-1]"#,
        r#"42["assignLeader",{}]"#,
        r#"42["unknownEvent",{"a":1}]"#,
        r#"42["chatMsg"]"#,
        r#"42["chatMsg",{"msg":"x"},{"extra":true},3]"#,
    ] {
        a.send_raw(frame).await;
    }
    // Typecheck failures answer errorMsg, as CyTube does.
    let err = a.expect("errorMsg").await;
    assert!(
        err["msg"]
            .as_str()
            .unwrap()
            .starts_with("Unexpected error for message chatMsg")
    );
    // The socket still works: the multi-argument chatMsg used its first argument.
    a.say("still alive").await;
    a.expect_where("chatMsg", |v| v["msg"] == json!("still alive"))
        .await;
    assert!(server.wait_for_chat_count("lobby", 2, WAIT).await);

    // Garbage that is not socket.io at all may cost the sender its connection, but never
    // the server.
    let mut b = RawClient::connect(&server).await;
    b.send_raw("42[not json").await;
    b.send_raw("4").await;
    b.send_raw("\u{0}\u{1}").await;
    let mut c = RawClient::connect(&server).await;
    c.join_as_guest("lobby", "carol").await;
    assert!(server.wait_for_user("lobby", "carol", WAIT).await);
    server.shutdown().await;
}

/// With a playback speed, items play to their end and the next starts (a permanent lone
/// item plays again; a temporary one is deleted at its end and nothing plays), at the
/// configured speed; without one, nothing moves on its own.
#[tokio::test]
async fn items_play_to_their_end_at_the_playback_speed() {
    // Invented lengths are 60..600 s; at 3000× the longest takes 0.2 s.
    let speed = 3000.0;
    let server = start(
        test_config()
            .with_account("mod", "pw", 2.0)
            .with_playback_speed(speed),
    )
    .await;
    let mut m = RawClient::connect(&server).await;
    m.login_and_join("lobby", "mod", "pw").await;
    for id in ["one", "two"] {
        m.emit(
            "queue",
            json!({"id": id, "type": "yt", "pos": "end", "temp": false}),
        )
        .await;
    }
    let first = m.expect("changeMedia").await;
    assert_eq!(first["id"], json!("one"));
    let started = std::time::Instant::now();
    let second = m.expect("changeMedia").await;
    assert_eq!(second["id"], json!("two"));
    let seconds = first["seconds"].as_f64().unwrap();
    let took = started.elapsed().as_secs_f64() * speed;
    assert!(
        took >= seconds && took < seconds + 200.0,
        "played {took} media seconds of {seconds}"
    );
    // Then the list wraps: `one` again, both permanent.
    assert_eq!(m.expect("changeMedia").await["id"], json!("one"));
    assert_eq!(server.playlist("lobby").len(), 2);

    // A lone temporary item is deleted at its end.
    let mut g = RawClient::connect(&server).await;
    g.join_as_guest("other", "guest").await;
    g.emit("queue", json!({"id": "solo", "type": "yt", "pos": "end"}))
        .await;
    let q = g.expect("queue").await;
    let uid = q["item"]["uid"].as_u64().unwrap();
    assert_eq!(g.expect("changeMedia").await["id"], json!("solo"));
    assert_eq!(g.expect("delete").await, json!({"uid": uid}));
    assert_eq!(g.expect("setPlaylistMeta").await["count"], json!(0));
    assert!(server.playlist("other").is_empty());
}
