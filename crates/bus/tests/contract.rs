//! The bus contract: the same scenarios run against a real `nats-server` and against the
//! embedded bus, so both implementations keep the same semantics.

use std::{collections::BTreeSet, time::Duration};

use futures::FutureExt;
use rosey_bus::{Bus, BusError, Message, NatsOptions, Subscription};
use rosey_testkit::NatsServer;

const WAIT: Duration = Duration::from_secs(10);

async fn recv(sub: &mut Subscription) -> Message {
    tokio::time::timeout(WAIT, sub.next())
        .await
        .expect("timed out waiting for a message")
        .expect("subscription closed")
}

async fn nats_bus(server: &NatsServer) -> Bus {
    let mut o = NatsOptions::new(server.url());
    o.reconnect_delay = Duration::from_millis(100);
    Bus::connect(o)
        .await
        .expect("connect to the test nats-server")
}

/// Makes sure the server has seen our subscriptions before we publish from elsewhere.
async fn settle(bus: &Bus) {
    bus.flush().await.expect("flush");
}

async fn publish_subscribe_with_wildcards(bus: Bus) {
    let mut exact = bus.subscribe("t.a.b").await.unwrap();
    let mut star = bus.subscribe("t.*.b").await.unwrap();
    let mut tail = bus.subscribe("t.>").await.unwrap();
    settle(&bus).await;
    bus.publish("t.a.b", "one").await.unwrap();
    bus.publish("t.x.y.z", "two").await.unwrap();
    assert_eq!(recv(&mut exact).await.payload, "one");
    assert_eq!(recv(&mut star).await.payload, "one");
    let m = recv(&mut tail).await;
    assert_eq!((m.subject.as_str(), &m.payload[..]), ("t.a.b", &b"one"[..]));
    let m = recv(&mut tail).await;
    assert_eq!(
        (m.subject.as_str(), &m.payload[..]),
        ("t.x.y.z", &b"two"[..])
    );
    // "two" matched neither the exact nor the single-token wildcard subscription.
    round_trip(&bus, "t.sync").await;
    assert!(exact.next().now_or_never().is_none());
    assert!(star.next().now_or_never().is_none());
}

/// A request/reply round trip; also a barrier: every message published before it has
/// reached its subscriber queues when it returns.
async fn round_trip(bus: &Bus, subject: &str) {
    let mut responder = bus.subscribe(subject).await.unwrap();
    settle(bus).await;
    let b = bus.clone();
    let task = tokio::spawn(async move {
        let req = recv(&mut responder).await;
        b.respond(&req, "pong").await.unwrap();
    });
    let reply = bus.request(subject, "ping", WAIT).await.unwrap();
    assert_eq!(reply.payload, "pong");
    task.await.unwrap();
}

async fn queue_group_delivers_to_exactly_one_member(bus: Bus) {
    const N: usize = 200;
    let mut m1 = bus.queue_subscribe("work.items", "workers").await.unwrap();
    let mut m2 = bus.queue_subscribe("work.items", "workers").await.unwrap();
    let mut watcher = bus.subscribe("work.items").await.unwrap();
    settle(&bus).await;
    for i in 0..N {
        bus.publish("work.items", i.to_string()).await.unwrap();
    }
    let mut seen = BTreeSet::new();
    let (mut c1, mut c2) = (0, 0);
    while seen.len() < N {
        let m = tokio::select! {
            m = recv(&mut m1) => { c1 += 1; m }
            m = recv(&mut m2) => { c2 += 1; m }
        };
        let id: usize = std::str::from_utf8(&m.payload).unwrap().parse().unwrap();
        assert!(
            seen.insert(id),
            "message {id} delivered twice within the group"
        );
    }
    assert_eq!(c1 + c2, N);
    assert!(c1 > 0 && c2 > 0, "both members should get work ({c1}/{c2})");
    round_trip(&bus, "work.sync").await;
    assert!(
        m1.next().now_or_never().is_none(),
        "extra delivery to member 1"
    );
    assert!(
        m2.next().now_or_never().is_none(),
        "extra delivery to member 2"
    );
    // A plain subscriber beside the group still sees every message.
    for i in 0..N {
        let m = recv(&mut watcher).await;
        assert_eq!(m.payload, i.to_string());
    }
}

async fn request_reply_timeout_and_no_responders(bus: Bus) {
    round_trip(&bus, "svc.echo").await;

    // Somebody listens but never answers: a timeout, not "no responders".
    let _silent = bus.subscribe("svc.silent").await.unwrap();
    settle(&bus).await;
    let e = bus
        .request("svc.silent", "x", Duration::from_millis(200))
        .await
        .unwrap_err();
    assert!(matches!(e, BusError::Timeout { .. }), "{e:?}");
    assert!(e.is_unavailable());

    // Nobody listens: the distinct "no responders" error, and quickly.
    let started = std::time::Instant::now();
    let e = bus
        .request("svc.nobody", "x", Duration::from_secs(5))
        .await
        .unwrap_err();
    assert!(matches!(e, BusError::NoResponders { .. }), "{e:?}");
    assert!(started.elapsed() < Duration::from_secs(4));
}

async fn invalid_subjects_are_errors(bus: Bus) {
    assert!(matches!(
        bus.subscribe("a..b").await,
        Err(BusError::InvalidSubject(_))
    ));
    assert!(matches!(
        bus.subscribe("a.>.b").await,
        Err(BusError::InvalidSubject(_))
    ));
}

#[tokio::test]
async fn embedded_publish_subscribe_with_wildcards() {
    publish_subscribe_with_wildcards(Bus::embedded()).await;
}

#[tokio::test]
async fn nats_publish_subscribe_with_wildcards() {
    let server = NatsServer::start();
    publish_subscribe_with_wildcards(nats_bus(&server).await).await;
}

#[tokio::test]
async fn embedded_queue_group() {
    queue_group_delivers_to_exactly_one_member(Bus::embedded()).await;
}

#[tokio::test]
async fn nats_queue_group() {
    let server = NatsServer::start();
    queue_group_delivers_to_exactly_one_member(nats_bus(&server).await).await;
}

#[tokio::test]
async fn embedded_request_reply() {
    request_reply_timeout_and_no_responders(Bus::embedded()).await;
}

#[tokio::test]
async fn nats_request_reply() {
    let server = NatsServer::start();
    request_reply_timeout_and_no_responders(nats_bus(&server).await).await;
}

#[tokio::test]
async fn embedded_invalid_subjects() {
    invalid_subjects_are_errors(Bus::embedded()).await;
}

#[tokio::test]
async fn nats_invalid_subjects() {
    let server = NatsServer::start();
    invalid_subjects_are_errors(nats_bus(&server).await).await;
}

#[tokio::test]
async fn embedded_unsubscribe_on_drop() {
    let bus = Bus::embedded();
    let sub = bus.subscribe("gone").await.unwrap();
    drop(sub);
    let e = bus.request("gone", "x", WAIT).await.unwrap_err();
    assert!(matches!(e, BusError::NoResponders { .. }), "{e:?}");
}

#[tokio::test]
async fn nats_subscription_survives_server_restart() {
    let mut server = NatsServer::start();
    let bus = nats_bus(&server).await;
    let mut sub = bus.subscribe("life.>").await.unwrap();
    settle(&bus).await;
    bus.publish("life.before", "1").await.unwrap();
    assert_eq!(recv(&mut sub).await.payload, "1");

    server.restart();

    // Publishing while the client reconnects is buffered by the client; the subscription
    // is re-established by the reconnect and keeps receiving.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        bus.publish("life.after", "2").await.unwrap();
        match tokio::time::timeout(Duration::from_millis(500), sub.next()).await {
            Ok(Some(m)) => {
                assert_eq!(m.subject, "life.after");
                assert_eq!(m.payload, "2");
                break;
            }
            Ok(None) => panic!("subscription closed by the restart"),
            Err(_) => assert!(
                tokio::time::Instant::now() < deadline,
                "no message after the restart"
            ),
        }
    }
    assert!(bus.is_connected());
}

#[tokio::test]
async fn nats_connect_with_bounded_attempts_fails_clearly() {
    let port = rosey_testkit::free_port();
    let mut o = NatsOptions::new(format!("nats://user:secret@127.0.0.1:{port}"));
    o.max_reconnect_attempts = Some(2);
    o.reconnect_delay = Duration::from_millis(50);
    o.connection_timeout = Duration::from_millis(500);
    let e = Bus::connect(o).await.unwrap_err();
    let text = e.to_string();
    assert!(matches!(e, BusError::Connect { .. }), "{e:?}");
    assert!(!text.contains("secret"), "credentials leaked: {text}");
    assert!(text.contains(&port.to_string()), "{text}");
}
