//! Polls, mutes, bans and queue refusals over real sockets, with CyTube's payloads and
//! refusal texts (cytube-protocol.md §3.6, §4.3, §4.4).

mod common;

use common::{RawClient, WAIT, start, test_config};
use rosey_devserver::DevServer;
use serde_json::{Value, json};

/// A moderator `mod` (rank 2), an admin `boss` (rank 3) and the guests `alice` and `bob`,
/// all in `lobby`.
async fn room() -> (DevServer, RawClient, RawClient, RawClient, RawClient) {
    let cfg = test_config()
        .with_account("mod", "pw", 2.0)
        .with_account("boss", "pw", 3.0);
    let server = start(cfg).await;
    let mut m = RawClient::connect(&server).await;
    m.login_and_join("lobby", "mod", "pw").await;
    let mut boss = RawClient::connect(&server).await;
    boss.login_and_join("lobby", "boss", "pw").await;
    let mut a = RawClient::connect(&server).await;
    a.join_as_guest("lobby", "alice").await;
    let mut b = RawClient::connect(&server).await;
    b.join_as_guest("lobby", "bob").await;
    assert!(server.wait_for_user("lobby", "bob", WAIT).await);
    (server, m, boss, a, b)
}

fn is_notice(v: &Value, text: &str) -> bool {
    v["username"] == json!("[server]") && v["msg"] == json!(text)
}

#[tokio::test]
async fn polls_open_count_votes_hide_counts_and_close() {
    let (server, mut m, _boss, mut a, mut b) = room().await;

    // A guest lacks `pollctl`: silence, no poll.
    a.emit(
        "newPoll",
        json!({"title": "nope", "opts": ["x"], "obscured": false}),
    )
    .await;
    // Refusals in CyTube's words (as errorMsg, since there is no ack).
    m.emit(
        "newPoll",
        json!({"title": "t", "opts": ["ok", ""], "obscured": false}),
    )
    .await;
    assert_eq!(
        m.expect("errorMsg").await,
        json!({"msg": "Poll options must be 1-255 characters long."})
    );

    m.emit(
        "newPoll",
        json!({"title": "Best (snack)?", "opts": ["tea", "cake"], "obscured": false}),
    )
    .await;
    assert_eq!(a.expect("closePoll").await, Value::Null);
    let poll = a.expect("newPoll").await;
    assert_eq!(poll["title"], json!("Best &#40;snack&#41;?"));
    assert_eq!(poll["options"], json!(["tea", "cake"]));
    assert_eq!(poll["counts"], json!([0, 0]));
    assert_eq!(poll["initiator"], json!("mod"));

    a.emit("vote", json!({"option": 1})).await;
    assert_eq!(b.expect("updatePoll").await["counts"], json!([0, 1]));
    // One vote per socket; out-of-range options are ignored.
    a.emit("vote", json!({"option": 0})).await;
    b.emit("vote", json!({"option": 7})).await;
    b.emit("vote", json!({"option": 1})).await;
    assert_eq!(m.expect("updatePoll").await["counts"], json!([0, 1]));
    assert_eq!(m.expect("updatePoll").await["counts"], json!([0, 2]));

    // A voter who leaves takes the vote along.
    b.close().await;
    assert_eq!(m.expect("updatePoll").await["counts"], json!([0, 1]));

    // A late joiner gets the open poll in the join burst, before the user list.
    let mut late = RawClient::connect(&server).await;
    late.emit("joinChannel", json!({"name": "lobby"})).await;
    let burst = late.until("userlist").await;
    let names = common::names(&burst);
    let at = names
        .iter()
        .position(|n| *n == "newPoll")
        .expect("poll in burst");
    assert_eq!(names[at - 1], "closePoll");

    // A hidden poll via /hpoll: guests see "?", moderators "N?"; closing reveals counts.
    m.say("/hpoll secret,yes,no").await;
    assert_eq!(a.expect("newPoll").await["counts"], json!(["?", "?"]));
    assert_eq!(m.expect("newPoll").await["counts"], json!(["0?", "0?"]));
    a.emit("vote", json!({"option": 0})).await;
    assert_eq!(a.expect("updatePoll").await["counts"], json!(["?", "?"]));
    assert_eq!(m.expect("updatePoll").await["counts"], json!(["1?", "0?"]));
    a.emit0("closePoll").await; // not allowed: ignored
    m.emit0("closePoll").await;
    assert_eq!(a.expect("updatePoll").await["counts"], json!([1, 0]));
    a.expect("closePoll").await;
    m.say("/poll lunch?,pizza,").await;
    assert_eq!(
        m.expect("errorMsg").await,
        json!({"msg": "Error creating poll: Poll options must be 1-255 characters long."})
    );
    server.shutdown().await;
}

#[tokio::test]
async fn mute_smute_and_unmute_as_cytube_does_them() {
    let (server, mut m, _boss, mut a, mut b) = room().await;

    // Refusals: unknown target, equal rank, guest without `mute` (silent).
    m.say("/mute nobody").await;
    assert_eq!(
        m.expect("errorMsg").await,
        json!({"msg": "/mute target nobody not present in channel."})
    );
    m.say("/mute boss").await;
    assert_eq!(
        m.expect("errorMsg").await,
        json!({"msg": "/mute failed - boss has equal or higher rank than you."})
    );
    m.say("/unmute alice").await;
    assert_eq!(
        m.expect("errorMsg").await,
        json!({"msg": "alice is not muted."})
    );
    a.say("/mute bob").await;
    a.say("still talking").await;
    assert_eq!(b.expect("chatMsg").await["msg"], json!("still talking"));

    // A mute: everyone sees `muted`, mods get the notice, the user's chat is refused.
    m.say("/mute ALICE").await;
    let meta = b.expect("setUserMeta").await;
    assert_eq!(
        meta,
        json!({"name": "alice", "meta": {"afk": false, "muted": true}})
    );
    let notice = m
        .expect_where("chatMsg", |v| v["username"] == json!("[server]"))
        .await;
    assert_eq!(notice["msg"], json!("mod muted alice"));
    assert!(
        server
            .users("lobby")
            .iter()
            .any(|u| u.name == "alice" && u.muted)
    );
    a.say("can anyone hear me").await;
    assert_eq!(
        a.expect("noflood").await,
        json!({"action": "chat", "msg": "You have been muted on this channel."})
    );
    m.say("/unmute alice").await;
    assert_eq!(b.expect("setUserMeta").await["meta"]["muted"], json!(false));
    m.expect_where("chatMsg", |v| is_notice(v, "mod unmuted alice"))
        .await;

    // A shadow mute: only moderators see it; the user's chat reaches moderators marked
    // `shadow`, not the others.
    m.say("/smute bob").await;
    m.expect_where("chatMsg", |v| is_notice(v, "mod shadowmuted bob"))
        .await;
    assert!(
        server
            .users("lobby")
            .iter()
            .any(|u| u.name == "bob" && u.shadow_muted)
    );
    b.say("psst").await;
    let seen = m
        .expect_where("chatMsg", |v| v["username"] == json!("bob"))
        .await;
    assert_eq!(seen["meta"]["shadow"], json!(true));
    assert_eq!(b.expect("chatMsg").await["msg"], json!("psst"));
    a.say("after psst").await;
    assert_eq!(
        a.expect("chatMsg").await["msg"],
        json!("after psst"),
        "alice must not see the shadow-muted line"
    );
    assert!(server.chat_log("lobby").iter().all(|c| c.msg != "psst"));
    server.shutdown().await;
}

#[tokio::test]
async fn bans_kick_refuse_rejoin_list_and_lift() {
    let (server, mut m, mut boss, mut a, mut b) = room().await;

    // Refusals in CyTube's words.
    a.say("/ban bob").await;
    assert_eq!(
        a.expect("errorMsg").await,
        json!({"msg": "You do not have ban permissions on this channel"})
    );
    m.say("/ban").await;
    assert_eq!(
        m.expect("errorMsg").await,
        json!({"msg": "No ban target specified."})
    );
    m.say("/ban mod").await;
    assert_eq!(
        m.expect("costanza").await,
        json!({"msg": "You can't ban yourself"})
    );
    assert_eq!(
        m.expect("errorMsg").await,
        json!({"msg": "You cannot ban yourself"})
    );
    m.say("/ban Boss").await;
    assert_eq!(
        m.expect("errorMsg").await,
        json!({"msg": "You don't have permission to ban boss"})
    );

    // A ban kicks the user, tells the mods, and is listed.
    m.say("/ban Bob spamming links").await;
    assert_eq!(b.expect("kick").await, json!({"reason": "You're banned!"}));
    m.expect_where("chatMsg", |v| is_notice(v, "mod namebanned bob"))
        .await;
    assert!(server.wait_for_user_gone("lobby", "bob", WAIT).await);
    m.say("/ban bob").await;
    assert_eq!(
        m.expect("errorMsg").await,
        json!({"msg": "bob is already banned"})
    );
    a.emit0("requestBanlist").await; // no `ban` permission: silence
    m.emit0("requestBanlist").await;
    let list = m.expect("banlist").await;
    assert_eq!(
        list,
        json!([{"id": 1, "ip": "*", "name": "bob", "reason": "spamming links", "bannedby": "mod"}])
    );

    // Coming back under the banned name is refused.
    let mut again = RawClient::connect(&server).await;
    again.join_as_guest("lobby", "BOB").await;
    assert_eq!(
        again.expect("kick").await,
        json!({"reason": "You are banned from this channel."})
    );

    // Unban: every user with `ban` gets the echo, and the name may join again.
    m.emit("unban", json!({"id": 1, "name": "bob"})).await;
    assert_eq!(
        boss.expect("banlistRemove").await,
        json!({"id": 1, "name": "bob"})
    );
    m.expect_where("chatMsg", |v| is_notice(v, "mod unbanned bob"))
        .await;
    let mut back = RawClient::connect(&server).await;
    back.join_as_guest("lobby", "bob").await;
    assert!(server.wait_for_user("lobby", "bob", WAIT).await);
    a.say("hi bob").await;
    assert_eq!(back.expect("chatMsg").await["msg"], json!("hi bob"));
    server.shutdown().await;
}

#[tokio::test]
async fn queue_refusals_have_cytubes_shape() {
    let (server, mut m, _boss, mut a, _b) = room().await;
    // Lacking the rank for a media kind: {msg, link}, no id.
    a.emit(
        "queue",
        json!({"id": "rtmp://x/live", "type": "rt", "pos": "end"}),
    )
    .await;
    assert_eq!(
        a.expect("queueFail").await,
        json!({"msg": "You don't have permission to add live media", "link": "rt:rtmp://x/live"})
    );
    // A type the server cannot resolve, and a duplicate: {msg, link, id}.
    m.emit("queue", json!({"id": "zz1", "type": "zz", "pos": "end"}))
        .await;
    let fail = m.expect("queueFail").await;
    assert_eq!(fail["msg"], json!("Unknown media type 'zz'"));
    assert_eq!(fail["id"], json!("zz1"));
    m.emit("queue", json!({"id": "abc", "type": "yt", "pos": "end"}))
        .await;
    m.expect("queue").await;
    m.emit("queue", json!({"id": "abc", "type": "yt", "pos": "end"}))
        .await;
    assert_eq!(
        m.expect("queueFail").await,
        json!({"msg": "This item is already on the playlist", "link": "yt:abc", "id": "abc"})
    );
    server.shutdown().await;
}
