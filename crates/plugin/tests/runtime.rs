//! The runtime against a real nats-server: a plugin registers, is discovered with its
//! commands' help, usage and rank, answers requests concurrently (a slow one does not hold
//! up the next), and answers a request it cannot read with a micro-service error.

use std::time::Duration;

use bytes::Bytes;
use rosey_plugin::protocol::command_subject;
use rosey_plugin::{CommandSpec, Plugin, Reply, discover};
use rosey_testkit::NatsServer;
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(5);

async fn request(client: &async_nats::Client, subject: String, body: Bytes) -> async_nats::Message {
    tokio::time::timeout(WAIT, client.request(subject, body))
        .await
        .expect("answered in time")
        .expect("request")
}

#[tokio::test]
async fn registers_answers_concurrently_and_rejects_bad_requests() {
    let nats = NatsServer::start();
    let client = async_nats::connect(nats.url()).await.unwrap();
    let (release_tx, release_rx) = tokio::sync::watch::channel(false);
    let running = Plugin::new("greeter", "1.2.3")
        .description("Greets")
        .command(
            CommandSpec::new("hello", "Says hello.").usage("!hello [name]"),
            |req| async move { Reply::chat(format!("Hello, {} ({})!", req.user, req.args)) },
        )
        .command(
            CommandSpec::new("slow", "Waits.").min_rank(2.0),
            move |_req| {
                let mut rx = release_rx.clone();
                async move {
                    let _ = rx.wait_for(|r| *r).await;
                    Reply::pm("done")
                }
            },
        )
        .start(&client)
        .await
        .unwrap();

    let found = discover(&client, Duration::from_millis(300)).await.unwrap();
    assert_eq!(found.len(), 1);
    let p = &found[0];
    assert_eq!(
        (p.name.as_str(), p.version.as_str(), p.protocol.as_str()),
        ("greeter", "1.2.3", "1")
    );
    let slow = p.commands.iter().find(|c| c.name == "slow").unwrap();
    assert_eq!(
        (slow.min_rank, slow.subject.as_str()),
        (2.0, "rosey.plugins.greeter.slow")
    );
    let hello = p.commands.iter().find(|c| c.name == "hello").unwrap();
    assert_eq!(
        (hello.help.as_str(), hello.usage.as_str()),
        ("Says hello.", "!hello [name]")
    );

    // A slow request in flight does not hold up the next one.
    let body = |cmd: &str| {
        Bytes::from(
            serde_json::to_vec(&json!({"channel": "c", "user": "ann", "command": cmd,
                                        "args": "x", "unknown": true}))
            .unwrap(),
        )
    };
    let c2 = client.clone();
    let pending = tokio::spawn(async move {
        c2.request(command_subject("greeter", "slow"), body("slow"))
            .await
    });
    let m = request(&client, command_subject("greeter", "hello"), body("hello")).await;
    let reply: Value = serde_json::from_slice(&m.payload).unwrap();
    assert_eq!(reply["chat"], json!(["Hello, ann (x)!"]));
    assert!(!pending.is_finished());
    release_tx.send(true).unwrap();
    let slow_reply = pending.await.unwrap().unwrap();
    let v: Value = serde_json::from_slice(&slow_reply.payload).unwrap();
    assert_eq!(v["pm"], json!(["done"]));

    // Not a command request: an error reply, and the plugin keeps serving.
    let bad = request(
        &client,
        command_subject("greeter", "hello"),
        Bytes::from_static(b"[1,2"),
    )
    .await;
    let headers = bad.headers.expect("error headers");
    assert!(headers.get("Nats-Service-Error").is_some());
    assert_eq!(
        headers.get("Nats-Service-Error-Code").unwrap().as_str(),
        "400"
    );
    request(&client, command_subject("greeter", "hello"), body("hello")).await;

    running.stop().await;
    let gone = discover(&client, Duration::from_millis(300)).await.unwrap();
    assert!(gone.is_empty(), "{gone:?}");
}

#[tokio::test]
async fn invalid_names_are_refused_before_registering() {
    let nats = NatsServer::start();
    let client = async_nats::connect(nats.url()).await.unwrap();
    let bad_plugin = Plugin::new("has space", "1.0.0")
        .command(CommandSpec::new("x", "x"), |_r| async { Reply::none() })
        .start(&client)
        .await;
    assert!(bad_plugin.is_err());
    let bad_command = Plugin::new("ok", "1.0.0")
        .command(CommandSpec::new("a.b", "x"), |_r| async { Reply::none() })
        .start(&client)
        .await;
    assert!(bad_command.is_err());
    let empty = Plugin::new("empty", "1.0.0").start(&client).await;
    assert!(empty.is_err());
}
