//! The client against a scripted fake server, for what the devserver cannot show: nothing is
//! sent before the socket.io CONNECT acknowledgement, CONNECT_ERROR leads to a retry, hostile
//! frames are survived, and a silent server is detected by the ping timeout.

mod common;

use std::time::Duration;

use common::{config, expect};
use futures::{SinkExt, StreamExt};
use rosey_cytube::{CytubeEvent, Login, ServerEvent, connect};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;

type Ws = WebSocketStream<TcpStream>;

/// Answers every HTTP request with a socketconfig pointing at `ws_port`.
async fn serve_socketconfig(listener: TcpListener, ws_port: u16) {
    let body = format!(r#"{{"servers":[{{"url":"http://127.0.0.1:{ws_port}","secure":false}}]}}"#);
    serve_json(listener, body).await
}

/// Answers every HTTP request with `body`.
async fn serve_json(listener: TcpListener, body: String) {
    loop {
        let Ok((mut sock, _)) = listener.accept().await else {
            return;
        };
        let body = body.clone();
        tokio::spawn(async move {
            let mut buf = Vec::new();
            let mut chunk = [0u8; 1024];
            while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                match sock.read(&mut chunk).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => buf.extend_from_slice(&chunk[..n]),
                }
            }
            let response = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = sock.write_all(response.as_bytes()).await;
        });
    }
}

async fn recv_text(ws: &mut Ws) -> Option<String> {
    loop {
        match ws.next().await? {
            Ok(Message::Text(t)) => return Some(t.to_string()),
            Ok(Message::Close(_)) | Err(_) => return None,
            Ok(_) => {}
        }
    }
}

async fn send(ws: &mut Ws, text: &str) {
    ws.send(Message::text(text))
        .await
        .expect("fake server writes");
}

const OPEN: &str =
    r#"0{"sid":"fake","upgrades":[],"pingInterval":150,"pingTimeout":150,"maxPayload":1000000}"#;

/// First connection: refuse the namespace like CyTube's rate limiter.
async fn refuse(mut ws: Ws, obs: mpsc::UnboundedSender<String>) {
    send(&mut ws, OPEN).await;
    let connect = recv_text(&mut ws).await.unwrap_or_default();
    obs.send(format!("1:{connect}")).unwrap();
    send(&mut ws, r#"44{"message":"Rate limit exceeded"}"#).await;
    while recv_text(&mut ws).await.is_some() {}
}

/// Second connection: a slow CONNECT ack, hostile frames, one ping, then silence.
async fn accept_then_go_silent(mut ws: Ws, obs: mpsc::UnboundedSender<String>) {
    send(&mut ws, OPEN).await;
    let connect = recv_text(&mut ws).await.unwrap_or_default();
    obs.send(format!("2:{connect}")).unwrap();
    // CyTube's middlewares are asynchronous: anything sent now would get the socket closed.
    match tokio::time::timeout(Duration::from_millis(300), recv_text(&mut ws)).await {
        Err(_) => obs.send("quiet before ack".into()).unwrap(),
        Ok(frame) => obs.send(format!("early frame: {frame:?}")).unwrap(),
    }
    send(&mut ws, r#"40{"sid":"ns"}"#).await;
    for _ in 0..2 {
        let frame = recv_text(&mut ws).await.unwrap_or_default();
        obs.send(frame).unwrap();
    }
    // Hostile and malformed frames; none may hurt the client.
    ws.send(Message::binary(vec![0xff, 0x00, 0x42]))
        .await
        .unwrap();
    for junk in [
        "",
        "9zz",
        "4",
        "42[oops",
        "42[1,2]",
        "45-x",
        "4299999999999999999999[\"x\"]",
        "0{}",
    ] {
        send(&mut ws, junk).await;
    }
    send(&mut ws, r#"42["chatMsg","not an object"]"#).await;
    send(&mut ws, r#"42["channelNotRegistered"]"#).await;
    send(&mut ws, r#"42["usercount",3]"#).await;
    send(&mut ws, "2").await;
    let pong = recv_text(&mut ws).await.unwrap_or_default();
    obs.send(format!("pong:{pong}")).unwrap();
    // Now say nothing: the client must notice within pingInterval + pingTimeout.
    while recv_text(&mut ws).await.is_some() {}
    obs.send("client closed".into()).unwrap();
}

#[tokio::test]
async fn handshake_errors_hostile_frames_and_ping_timeout() {
    let http = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let ws_listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", http.local_addr().unwrap());
    tokio::spawn(serve_socketconfig(
        http,
        ws_listener.local_addr().unwrap().port(),
    ));
    let (obs_tx, mut obs) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut n = 0;
        while let Ok((tcp, _)) = ws_listener.accept().await {
            n += 1;
            let ws = tokio_tungstenite::accept_async(tcp).await.unwrap();
            let obs = obs_tx.clone();
            match n {
                1 => tokio::spawn(refuse(ws, obs)),
                2 => tokio::spawn(accept_then_go_silent(ws, obs)),
                _ => break,
            };
        }
    });

    let (client, mut events) = connect(config(&base, "fakechan", Login::Guest("probe".into())));

    // 1. CONNECT_ERROR is a failed attempt, not the end.
    let ev = expect(&mut events, "Disconnected", |ev| {
        matches!(ev, CytubeEvent::Disconnected { .. })
    })
    .await;
    assert!(
        matches!(&ev, CytubeEvent::Disconnected { reason } if reason.contains("Rate limit exceeded")),
        "{ev:?}"
    );
    expect(&mut events, "Reconnecting", |ev| {
        matches!(ev, CytubeEvent::Reconnecting { attempt: 1, .. })
    })
    .await;
    assert_eq!(obs.recv().await.unwrap(), "1:40");

    // 2. The CONNECT packet, then silence until the ack, then join and login.
    expect(&mut events, "Connected", |ev| {
        matches!(ev, CytubeEvent::Connected { .. })
    })
    .await;
    assert_eq!(obs.recv().await.unwrap(), "2:40");
    assert_eq!(obs.recv().await.unwrap(), "quiet before ack");
    assert_eq!(
        obs.recv().await.unwrap(),
        r#"42["joinChannel",{"name":"fakechan"}]"#
    );
    assert_eq!(obs.recv().await.unwrap(), r#"42["login",{"name":"probe"}]"#);

    // 3. Junk is skipped or passed on untyped; good frames after it still arrive.
    let ev = expect(&mut events, "malformed chatMsg as Other", |ev| {
        matches!(ev, CytubeEvent::Server(ServerEvent::Other { name, .. }) if name == "chatMsg")
    })
    .await;
    assert!(
        matches!(ev, CytubeEvent::Server(ServerEvent::Other { args, .. }) if args == [serde_json::json!("not an object")])
    );
    expect(&mut events, "channelNotRegistered", |ev| {
        matches!(ev, CytubeEvent::Server(ServerEvent::ChannelNotRegistered))
    })
    .await;
    expect(&mut events, "usercount", |ev| {
        matches!(ev, CytubeEvent::Server(ServerEvent::Usercount(3)))
    })
    .await;
    assert_eq!(obs.recv().await.unwrap(), "pong:3");

    // 4. The server goes silent: the ping timeout ends the session and the client retries.
    let ev = expect(&mut events, "Disconnected", |ev| {
        matches!(ev, CytubeEvent::Disconnected { .. })
    })
    .await;
    assert!(
        matches!(&ev, CytubeEvent::Disconnected { reason } if reason.contains("ping timeout")),
        "{ev:?}"
    );
    expect(&mut events, "Reconnecting", |ev| {
        matches!(ev, CytubeEvent::Reconnecting { .. })
    })
    .await;
    assert_eq!(obs.recv().await.unwrap(), "client closed");
    client.shutdown().await;
}

#[tokio::test]
async fn a_failing_tls_handshake_is_a_failed_attempt() {
    // The socketconfig offers a secure server (preferred over the plain one) whose port speaks
    // no TLS: the attempt fails and is retried; nothing panics in the TLS stack.
    let http = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let not_tls = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = not_tls.local_addr().unwrap().port();
    let base = format!("http://{}", http.local_addr().unwrap());
    let body = format!(
        r#"{{"servers":[{{"url":"http://127.0.0.1:1","secure":false}},{{"url":"https://127.0.0.1:{port}","secure":true}}]}}"#
    );
    tokio::spawn(serve_json(http, body));
    tokio::spawn(async move {
        while let Ok((mut tcp, _)) = not_tls.accept().await {
            let _ = tcp.write_all(b"HTTP/1.1 400 Bad Request\r\n\r\n").await;
        }
    });
    let (client, mut events) = connect(config(&base, "tlschan", Login::Guest("probe".into())));
    let ev = expect(&mut events, "Disconnected", |ev| {
        matches!(ev, CytubeEvent::Disconnected { .. })
    })
    .await;
    let CytubeEvent::Disconnected { reason } = ev else {
        unreachable!()
    };
    assert!(
        reason.contains(&format!("wss://127.0.0.1:{port}/socket.io/")),
        "{reason}"
    );
    expect(&mut events, "Reconnecting", |ev| {
        matches!(ev, CytubeEvent::Reconnecting { attempt: 1, .. })
    })
    .await;
    expect(&mut events, "Reconnecting again", |ev| {
        matches!(ev, CytubeEvent::Reconnecting { attempt: 2, .. })
    })
    .await;
    client.shutdown().await;
    let ev = expect(&mut events, "Stopped", |ev| {
        matches!(ev, CytubeEvent::Stopped { .. })
    })
    .await;
    assert_eq!(
        ev,
        CytubeEvent::Stopped {
            reason: "shutdown requested".into()
        }
    );
}
