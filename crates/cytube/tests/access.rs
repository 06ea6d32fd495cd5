//! When the client gives up and when it keeps trying, against the development server: a
//! ban is final, repeated kicks back off instead of reconnecting at the base delay, and a
//! moderator account waits for its login before deciding a channel password is missing.

mod common;

use std::time::Duration;

use common::{config, expect, joined};
use rosey_cytube::{Backoff, CytubeEvent, Login, connect};
use rosey_devserver::{DevServer, DevServerConfig};

const CHAN: &str = "accesschan";

async fn server(cfg: DevServerConfig) -> DevServer {
    DevServer::start(cfg).await.expect("devserver starts")
}

fn registered(s: &DevServer, name: &str) -> rosey_cytube::ClientConfig {
    let login = Login::Registered {
        name: name.into(),
        password: "pw".into(),
    };
    config(&s.base_url(), CHAN, login)
}

async fn stopped(events: &mut rosey_cytube::EventStream) -> String {
    match expect(events, "Stopped", |ev| {
        matches!(ev, CytubeEvent::Stopped { .. })
    })
    .await
    {
        CytubeEvent::Stopped { reason } => reason,
        _ => unreachable!(),
    }
}

#[tokio::test]
async fn a_ban_stops_the_client_for_good() {
    let s = server(DevServerConfig::default().with_account("bot", "pw", 1.0)).await;
    let (_bot, mut events) = connect(registered(&s, "bot"));
    joined(&mut events).await;
    // Banned while present ("You're banned!"): no reconnect.
    s.ban(CHAN, "bot", false);
    let reason = stopped(&mut events).await;
    assert!(reason.contains("banned"), "{reason}");
    assert!(
        events.recv().await.is_none(),
        "the stream ends after Stopped"
    );

    // Banned before it comes ("You are banned from this channel." at login): no reconnect.
    let (_again, mut events) = connect(registered(&s, "bot"));
    let reason = stopped(&mut events).await;
    assert!(
        reason.contains("You are banned from this channel."),
        "{reason}"
    );
    assert_eq!(s.kicks_sent(), 2, "one kick each, no retries");
    s.shutdown().await;
}

#[tokio::test]
async fn kicks_right_after_each_join_back_off() {
    let s = server(DevServerConfig::default()).await;
    let mut cfg = config(&s.base_url(), CHAN, Login::Guest("kicked".into()));
    cfg.backoff = Backoff::new(Duration::from_millis(50), Duration::from_secs(5));
    let (_c, mut events) = connect(cfg);
    let mut attempts = Vec::new();
    for _ in 0..3 {
        joined(&mut events).await;
        assert!(s.kick(CHAN, "kicked", "go away").await);
        match expect(&mut events, "Reconnecting", |ev| {
            matches!(ev, CytubeEvent::Reconnecting { .. })
        })
        .await
        {
            CytubeEvent::Reconnecting { attempt, delay } => attempts.push((attempt, delay)),
            _ => unreachable!(),
        }
    }
    let numbers: Vec<u32> = attempts.iter().map(|(a, _)| *a).collect();
    assert_eq!(numbers, [1, 2, 3], "{attempts:?}");
    assert!(
        attempts[2].1 >= Duration::from_millis(150),
        "the delay grows: {attempts:?}"
    );
    s.shutdown().await;
}

#[tokio::test]
async fn a_moderator_needs_no_channel_password_and_a_user_still_does() {
    let cfg = DevServerConfig::default()
        .with_account("moddy", "pw", 1.0)
        .with_channel_rank("moddy", 2.0)
        .with_account("plain", "pw", 1.0)
        .with_channel_password(CHAN, "sesame");
    let s = server(cfg).await;
    let (m, mut m_events) = connect(registered(&s, "moddy"));
    joined(&mut m_events).await;
    assert!(m.is_joined());

    let (_u, mut u_events) = connect(registered(&s, "plain"));
    let reason = stopped(&mut u_events).await;
    assert!(reason.contains("password"), "{reason}");
    s.shutdown().await;
}
