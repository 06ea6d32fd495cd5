//! The client against a real homeserver (Synapse from PyPI, started per test on a loopback
//! port with its own generated configuration and SQLite; users made with
//! `register_new_matrix_user`): joining, 30 lines in → 30 messages out, a restart from the
//! saved position replays nothing, a Synapse restart is resumed without duplicates, 30
//! notices under a low message rate limit all arrive, power levels → ranks, invites to
//! configured rooms accepted and others ignored, direct rooms, moderation actions, and
//! encrypted rooms refused. A second client speaks plain HTTP ([`Peer`]). Skipped with the
//! reason where Synapse is missing, a failure under `CI=true` (`rosey_testkit::tools`).

use std::path::Path;
use std::time::Duration;

use rosey_matrix::{
    Auth, LeaveReason, MatrixConfig, MatrixEvent, MatrixEvents, MatrixHandle, MsgKind, RankMap,
    Refusal,
};
use rosey_testkit::synapse::{Limits, Peer, Synapse};
use serde_json::json;

const WAIT: Duration = Duration::from_secs(30);
const PW: &str = "correct horse battery";

fn logs() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter("rosey_matrix=debug")
        .with_test_writer()
        .try_init();
}

fn config(server: &Synapse, rooms: &[&str], state: Option<&Path>) -> MatrixConfig {
    let mut cfg = MatrixConfig::new(
        server.url(),
        server.user_id("rosey"),
        Auth::Password(PW.into()),
        rooms.iter().map(|r| r.to_string()).collect(),
    );
    cfg.state_file = state.map(Path::to_path_buf);
    cfg.sync_timeout = Duration::from_secs(5);
    cfg.backoff.base = Duration::from_millis(100);
    cfg.backoff.cap = Duration::from_millis(500);
    cfg
}

/// A homeserver with the bot `rosey` and `alice` registered, and alice logged in.
async fn world(limits: Limits) -> (Synapse, Peer) {
    let server = Synapse::start_with(limits);
    server.register("rosey", PW);
    server.register("alice", PW);
    let alice = Peer::login(&server, "alice", PW).await;
    (server, alice)
}

/// Waits for an event `pred` accepts; panics after [`WAIT`].
async fn until(
    events: &mut MatrixEvents,
    mut pred: impl FnMut(&MatrixEvent) -> bool,
) -> MatrixEvent {
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

async fn joined(cfg: MatrixConfig, room: &str) -> (MatrixHandle, MatrixEvents) {
    let (handle, mut events) = rosey_matrix::connect(cfg).expect("valid config");
    until(
        &mut events,
        |e| matches!(e, MatrixEvent::Joined { room: r, .. } if r == room),
    )
    .await;
    (handle, events)
}

/// The texts of the next `n` messages in `room` (other events skipped).
async fn messages(events: &mut MatrixEvents, room: &str, n: usize) -> Vec<String> {
    let mut out = Vec::new();
    while out.len() < n {
        if let MatrixEvent::Message { room: r, text, .. } =
            until(events, |e| matches!(e, MatrixEvent::Message { .. })).await
        {
            assert_eq!(r, room);
            out.push(text);
        }
    }
    out
}

fn numbered(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("line {i}")).collect()
}

#[tokio::test]
async fn joins_by_alias_and_yields_exactly_30_messages() {
    if !rosey_testkit::tools::synapse() {
        return;
    }
    logs();
    let (server, mut alice) = world(Limits::default()).await;
    let room = alice.create_public_room("lobby").await;
    let (handle, mut events) = joined(config(&server, &["#lobby:localhost"], None), &room).await;
    assert_eq!(handle.user_id().as_deref(), Some("@rosey:localhost"));
    for line in numbered(30) {
        alice.say(&room, &line).await;
    }
    alice.say(&room, "end").await;
    let got = messages(&mut events, &room, 31).await;
    let mut want = numbered(30);
    want.push("end".into());
    assert_eq!(got, want, "exactly the 30 lines, in order, then the marker");
    // Emotes and notices are marked.
    alice.send(&room, "m.emote", "waves").await;
    alice.send(&room, "m.notice", "beep").await;
    let kinds: Vec<(MsgKind, String)> = {
        let mut k = Vec::new();
        while k.len() < 2 {
            if let MatrixEvent::Message {
                kind, text, sender, ..
            } = until(&mut events, |e| matches!(e, MatrixEvent::Message { .. })).await
            {
                assert_eq!(sender, "@alice:localhost");
                k.push((kind, text));
            }
        }
        k
    };
    assert_eq!(
        kinds,
        [
            (MsgKind::Emote, "waves".to_string()),
            (MsgKind::Notice, "beep".to_string())
        ]
    );
    let info = handle.rooms();
    assert_eq!(info.len(), 1);
    assert_eq!(info[0].alias.as_deref(), Some("#lobby:localhost"));
    assert!(!info[0].direct);
    let mut members: Vec<String> = info[0].members.iter().map(|m| m.user_id.clone()).collect();
    members.sort();
    assert_eq!(members, ["@alice:localhost", "@rosey:localhost"]);
    handle.stop();
    handle.stopped().await;
}

#[tokio::test]
async fn restart_from_saved_position_replays_nothing() {
    if !rosey_testkit::tools::synapse() {
        return;
    }
    logs();
    let (server, mut alice) = world(Limits::default()).await;
    let room = alice.create_public_room("lobby").await;
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("matrix-state.json");
    let (handle, mut events) =
        joined(config(&server, &["#lobby:localhost"], Some(&state)), &room).await;
    for line in numbered(30) {
        alice.say(&room, &line).await;
    }
    assert_eq!(messages(&mut events, &room, 30).await, numbered(30));
    handle.stop();
    handle.stopped().await;
    let saved = rosey_matrix::position::load(&state).unwrap();
    assert!(saved.next_batch.is_some(), "the position was saved");

    // A line said while the bot is away is new; the 30 before are not.
    alice.say(&room, "while away").await;
    let (handle, mut events) =
        joined(config(&server, &["#lobby:localhost"], Some(&state)), &room).await;
    alice.say(&room, "after restart").await;
    assert_eq!(
        messages(&mut events, &room, 2).await,
        ["while away", "after restart"],
        "nothing from before the saved position came again"
    );
    // The room's members are known again after the restart (full state on resume).
    assert!(handle.member(&room, "@alice:localhost").is_some());
    handle.stop();
    handle.stopped().await;
}

#[tokio::test]
async fn synapse_restart_is_resumed_without_duplicates() {
    if !rosey_testkit::tools::synapse() {
        return;
    }
    logs();
    let (mut server, mut alice) = world(Limits::default()).await;
    let room = alice.create_public_room("lobby").await;
    let (handle, mut events) = joined(config(&server, &[&room], None), &room).await;
    alice.say(&room, "before").await;
    assert_eq!(messages(&mut events, &room, 1).await, ["before"]);

    // The client's long-poll breaks; it retries from the same position by itself.
    server.restart();
    alice.say(&room, "after").await;
    alice.say(&room, "end").await;
    assert_eq!(
        messages(&mut events, &room, 2).await,
        ["after", "end"],
        "resumed from the same position: 'before' not again"
    );
    handle.stop();
    handle.stopped().await;
}

#[tokio::test]
async fn burst_of_30_notices_under_a_low_rate_limit_all_arrive() {
    if !rosey_testkit::tools::synapse() {
        return;
    }
    logs();
    // Two at once, then two a second: a burst of 30 takes at least 14 s and meets
    // M_LIMIT_EXCEEDED many times, even on a slow machine.
    let limits = Limits {
        messages_per_second: 2.0,
        message_burst: 2,
    };
    let (server, mut alice) = world(limits).await;
    let room = alice.create_public_room("lobby").await;
    let (handle, _events) = joined(config(&server, &[&room], None), &room).await;
    alice.sync(Duration::ZERO).await;
    for line in numbered(30) {
        handle.notice(&room, &line).expect("queued");
    }
    let got = alice
        .collect(30, |s| {
            s.sender == "@rosey:localhost" && s.kind == "m.room.message"
        })
        .await;
    assert!(got.iter().all(|s| s.msgtype() == "m.notice"));
    let bodies: Vec<String> = got.iter().map(|s| s.body().to_string()).collect();
    assert_eq!(bodies, numbered(30), "all 30, in order, none twice");
    let stats = handle.stats();
    assert!(
        stats.rate_limited > 0,
        "the server's limit was met (else this test proves nothing): {stats:?}"
    );
    assert_eq!(stats.sent, 30);
    assert_eq!(stats.failed, 0);
    handle.stop();
    handle.stopped().await;
}

#[tokio::test]
async fn power_levels_map_to_ranks() {
    if !rosey_testkit::tools::synapse() {
        return;
    }
    logs();
    let (server, alice) = world(Limits::default()).await;
    server.register("carol", PW);
    let carol = Peer::login(&server, "carol", PW).await;
    let room = alice.create_public_room("lobby").await;
    carol.join(&room).await;
    let mut cfg = config(&server, &[&room], None);
    cfg.ranks = RankMap::new(vec![(50, 2.0), (100, 3.0)], 0.0);
    let (handle, mut events) = rosey_matrix::connect(cfg).unwrap();
    let MatrixEvent::Joined { members, .. } =
        until(&mut events, |e| matches!(e, MatrixEvent::Joined { .. })).await
    else {
        unreachable!()
    };
    let alice_m = members
        .iter()
        .find(|m| m.user_id == "@alice:localhost")
        .expect("alice listed");
    assert!(alice_m.power >= 100, "the room's creator: {alice_m:?}");
    assert_eq!(alice_m.rank, 3.0);
    assert_eq!(handle.rank(&room, "@carol:localhost"), 0.0);

    alice.set_power(&room, "@carol:localhost", 50).await;
    let e = until(&mut events, |e| {
        matches!(e, MatrixEvent::PowerChanged { .. })
    })
    .await;
    assert_eq!(
        e,
        MatrixEvent::PowerChanged {
            room: room.clone(),
            user_id: "@carol:localhost".into(),
            power: 50,
            rank: 2.0
        }
    );
    assert_eq!(handle.rank(&room, "@carol:localhost"), 2.0);
    assert_eq!(handle.member(&room, "@carol:localhost").unwrap().power, 50);
    handle.stop();
    handle.stopped().await;
}

#[tokio::test]
async fn invites_to_configured_rooms_accepted_others_ignored_direct_rooms_known() {
    if !rosey_testkit::tools::synapse() {
        return;
    }
    logs();
    let (server, mut alice) = world(Limits::default()).await;
    let private = alice
        .create_room(json!({"preset": "private_chat", "name": "staff"}))
        .await;
    let other = alice
        .create_room(json!({"preset": "private_chat", "name": "elsewhere"}))
        .await;
    // The bot is configured for the private room but cannot join it without an invite.
    let (handle, mut events) = rosey_matrix::connect(config(&server, &[&private], None)).unwrap();
    let e = until(&mut events, |e| matches!(e, MatrixEvent::Ready { .. })).await;
    assert_eq!(
        e,
        MatrixEvent::Ready {
            waiting: vec![private.clone()]
        }
    );
    alice.invite(&other, "@rosey:localhost").await;
    alice.invite(&private, "@rosey:localhost").await;
    // Both invites are reported, in whichever order the sync lists them.
    let mut invites = std::collections::BTreeMap::new();
    while invites.len() < 2 {
        if let MatrixEvent::Invited {
            room,
            accepted,
            direct,
            inviter,
        } = until(&mut events, |e| matches!(e, MatrixEvent::Invited { .. })).await
        {
            assert_eq!(inviter, "@alice:localhost");
            assert!(!direct);
            invites.insert(room, accepted);
        }
    }
    assert_eq!(
        invites.get(&other),
        Some(&false),
        "unconfigured room: ignored"
    );
    assert_eq!(
        invites.get(&private),
        Some(&true),
        "configured room: accepted"
    );
    until(
        &mut events,
        |e| matches!(e, MatrixEvent::Joined { room, .. } if *room == private),
    )
    .await;
    assert_eq!(
        alice
            .membership(&other, "@rosey:localhost")
            .await
            .as_deref(),
        Some("invite"),
        "the unconfigured room's invite was left alone"
    );

    // A direct-message invite is accepted and the room known as direct.
    let dm = alice
        .create_room(json!({"preset": "trusted_private_chat", "is_direct": true,
                            "invite": ["@rosey:localhost"]}))
        .await;
    let e = until(
        &mut events,
        |e| matches!(e, MatrixEvent::Joined { room, .. } if *room == dm),
    )
    .await;
    assert!(
        matches!(e, MatrixEvent::Joined { direct: true, .. }),
        "{e:?}"
    );
    alice.say(&dm, "stats").await;
    let e = until(&mut events, |e| matches!(e, MatrixEvent::Message { .. })).await;
    assert!(
        matches!(&e, MatrixEvent::Message { direct: true, text, .. } if text == "stats"),
        "{e:?}"
    );
    handle.stop();
    handle.stopped().await;
}

#[tokio::test]
async fn encrypted_room_is_refused_and_reported() {
    if !rosey_testkit::tools::synapse() {
        return;
    }
    logs();
    let (server, alice) = world(Limits::default()).await;
    let room = alice
        .create_room(json!({
            "preset": "public_chat", "room_alias_name": "secret",
            "initial_state": [{"type": "m.room.encryption", "state_key": "",
                               "content": {"algorithm": "m.megolm.v1.aes-sha2"}}]
        }))
        .await;
    let plain = alice.create_public_room("plain").await;
    let (handle, mut events) =
        rosey_matrix::connect(config(&server, &[&room, &plain], None)).unwrap();
    // Both rooms joined, the encrypted one refused (in whichever order the sync lists them).
    let (mut refused, mut plain_joined) = (Vec::new(), false);
    while refused.is_empty() || !plain_joined {
        match until(&mut events, |e| {
            matches!(e, MatrixEvent::Refused { .. } | MatrixEvent::Joined { .. })
        })
        .await
        {
            MatrixEvent::Refused { room, reason } => refused.push((room, reason)),
            MatrixEvent::Joined { room, .. } => plain_joined |= room == plain,
            _ => {}
        }
    }
    assert_eq!(refused, [(room.clone(), Refusal::Encrypted)]);
    assert_eq!(
        handle.notice(&room, "hello"),
        Err(rosey_matrix::SendError::Encrypted(room.clone())),
        "nothing is sent in clear text to an encrypted room"
    );
    // Encryption switched on later in a plain room is reported too.
    alice
        .put_state(
            &plain,
            "m.room.encryption",
            "",
            json!({"algorithm": "m.megolm.v1.aes-sha2"}),
        )
        .await;
    let e = until(&mut events, |e| matches!(e, MatrixEvent::Refused { .. })).await;
    assert!(matches!(e, MatrixEvent::Refused { room, .. } if room == plain));
    assert!(handle.rooms().iter().all(|r| r.encrypted));
    handle.stop();
    handle.stopped().await;
}

#[tokio::test]
async fn kick_ban_and_redact_with_power() {
    if !rosey_testkit::tools::synapse() {
        return;
    }
    logs();
    let (server, mut alice) = world(Limits::default()).await;
    server.register("dave", PW);
    server.register("erin", PW);
    let dave = Peer::login(&server, "dave", PW).await;
    let erin = Peer::login(&server, "erin", PW).await;
    let room = alice.create_public_room("lobby").await;
    dave.join(&room).await;
    erin.join(&room).await;
    let (handle, mut events) = joined(config(&server, &[&room], None), &room).await;
    alice.set_power(&room, "@rosey:localhost", 50).await;
    until(
        &mut events,
        |e| matches!(e, MatrixEvent::PowerChanged { user_id, .. } if user_id == "@rosey:localhost"),
    )
    .await;

    let line = alice.say(&room, "oops").await;
    alice.sync(Duration::ZERO).await;
    handle.kick(&room, "@dave:localhost", Some("bye")).unwrap();
    handle.ban(&room, "@erin:localhost", None).unwrap();
    handle.redact(&room, &line, Some("tidy")).unwrap();
    let e = until(
        &mut events,
        |e| matches!(e, MatrixEvent::UserLeft { user_id, .. } if user_id == "@dave:localhost"),
    )
    .await;
    assert!(
        matches!(
            e,
            MatrixEvent::UserLeft {
                reason: LeaveReason::Kicked { .. },
                ..
            }
        ),
        "{e:?}"
    );
    let e = until(
        &mut events,
        |e| matches!(e, MatrixEvent::UserLeft { user_id, .. } if user_id == "@erin:localhost"),
    )
    .await;
    assert!(
        matches!(
            e,
            MatrixEvent::UserLeft {
                reason: LeaveReason::Banned { .. },
                ..
            }
        ),
        "{e:?}"
    );
    assert_eq!(
        alice.membership(&room, "@erin:localhost").await.as_deref(),
        Some("ban")
    );
    // The redaction reached the room (alice's client sees the bot's m.room.redaction).
    let redactions = alice
        .collect(1, |s| {
            s.kind == "m.room.redaction" && s.sender == "@rosey:localhost"
        })
        .await;
    assert_eq!(redactions.len(), 1);
    assert_eq!(handle.stats().failed, 0);
    handle.stop();
    handle.stopped().await;
}

#[tokio::test]
async fn access_token_login_and_a_refused_password_is_a_clear_stop() {
    if !rosey_testkit::tools::synapse() {
        return;
    }
    logs();
    let (server, alice) = world(Limits::default()).await;
    let room = alice.create_public_room("lobby").await;
    // A token made elsewhere (a login by another client) is accepted.
    let elsewhere = Peer::login(&server, "rosey", PW).await;
    let mut cfg = config(&server, &[&room], None);
    cfg.auth = Auth::AccessToken(elsewhere.access_token().to_string());
    let (handle, _events) = joined(cfg, &room).await;
    assert_eq!(handle.user_id().as_deref(), Some("@rosey:localhost"));
    handle.stop();
    handle.stopped().await;

    // A wrong password stops the client with the reason, once; it does not retry.
    let mut cfg = config(&server, &[&room], None);
    cfg.auth = Auth::Password("wrong".into());
    let (handle, mut events) = rosey_matrix::connect(cfg).unwrap();
    let e = until(&mut events, |e| matches!(e, MatrixEvent::Stopped { .. })).await;
    assert!(
        matches!(&e, MatrixEvent::Stopped { error: Some(err) } if err.contains("M_FORBIDDEN")),
        "{e:?}"
    );
    tokio::time::timeout(WAIT, handle.stopped())
        .await
        .expect("the client's tasks ended");
}
