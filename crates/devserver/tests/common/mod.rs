//! A minimal raw socket.io v5 / Engine.IO 4 client over a websocket, for the devserver's
//! own tests: `0{open}` → `40` → `40{sid}`, answers ping `2` with pong `3`, sends and parses
//! `42[...]` events. It records every frame so tests can check raw encodings.

#![allow(dead_code)] // each test binary uses a different subset

use std::time::Duration;

use futures::{SinkExt, StreamExt};
use rosey_devserver::{DevServer, DevServerConfig};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio::time::{Instant, timeout_at};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// Default wait for a frame.
pub const WAIT: Duration = Duration::from_secs(5);

/// What arrived from the server.
#[derive(Debug, Clone, PartialEq)]
pub enum Frame {
    /// `42["name", args...]`.
    Event(String, Vec<Value>),
    /// Namespace DISCONNECT `41`.
    Disconnect,
    /// The websocket closed.
    Closed,
}

/// A raw test client.
pub struct RawClient {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    /// Raw text of every `42` frame received, in order.
    pub raw: Vec<String>,
    /// The Engine.IO open packet.
    pub open: Value,
}

/// A config with short timers for tests.
pub fn test_config() -> DevServerConfig {
    DevServerConfig {
        ping_timeout: Duration::from_secs(5),
        ..DevServerConfig::default()
    }
}

/// Starts a server with `cfg`.
pub async fn start(cfg: DevServerConfig) -> DevServer {
    DevServer::start(cfg).await.expect("devserver starts")
}

impl RawClient {
    /// Connects and completes the socket.io CONNECT handshake.
    pub async fn connect(server: &DevServer) -> RawClient {
        Self::connect_as_ip(server, None).await
    }

    /// Opens the websocket and reads the Engine.IO open packet, but sends no CONNECT.
    pub async fn open_only(server: &DevServer) -> RawClient {
        let url = format!(
            "ws://{}/socket.io/?EIO=4&transport=websocket",
            server.addr()
        );
        let (ws, _) = tokio_tungstenite::connect_async(url)
            .await
            .expect("websocket connects");
        let mut c = RawClient {
            ws,
            raw: Vec::new(),
            open: Value::Null,
        };
        let open = c.next_text().await.expect("open packet");
        c.open = serde_json::from_str(&open[1..]).expect("open json");
        c
    }

    /// Connects, optionally with `X-Forwarded-For` to look like another IP.
    pub async fn connect_as_ip(server: &DevServer, ip: Option<&str>) -> RawClient {
        let url = format!(
            "ws://{}/socket.io/?EIO=4&transport=websocket",
            server.addr()
        );
        let mut req = url.into_client_request().expect("request");
        if let Some(ip) = ip {
            req.headers_mut()
                .insert("x-forwarded-for", ip.parse().expect("header"));
        }
        let (ws, _) = tokio_tungstenite::connect_async(req)
            .await
            .expect("websocket connects");
        let mut c = RawClient {
            ws,
            raw: Vec::new(),
            open: Value::Null,
        };
        let open = c.next_text().await.expect("open packet");
        assert!(open.starts_with("0{"), "open packet, got {open}");
        c.open = serde_json::from_str(&open[1..]).expect("open json");
        c.send_text("40").await;
        let ack = c.next_text().await.expect("connect ack");
        assert!(ack.starts_with("40{"), "connect ack, got {ack}");
        c
    }

    async fn send_text(&mut self, s: &str) {
        self.ws
            .send(Message::text(s.to_owned()))
            .await
            .expect("send");
    }

    /// Next text frame that is not a ping (pings are answered); `None` when closed.
    async fn next_text(&mut self) -> Option<String> {
        let deadline = Instant::now() + WAIT;
        loop {
            let msg = timeout_at(deadline, self.ws.next())
                .await
                .expect("timed out waiting for a frame");
            match msg {
                Some(Ok(Message::Text(t))) => {
                    let t = t.to_string();
                    if t == "2" {
                        self.send_text("3").await;
                        continue;
                    }
                    return Some(t);
                }
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return None,
                Some(Ok(_)) => continue,
            }
        }
    }

    /// Next frame from the server, failing the test after [`WAIT`].
    pub async fn next(&mut self) -> Frame {
        loop {
            let Some(t) = self.next_text().await else {
                return Frame::Closed;
            };
            if t == "41" {
                return Frame::Disconnect;
            }
            if let Some(body) = t.strip_prefix("42") {
                self.raw.push(t.clone());
                let v: Value = serde_json::from_str(body).expect("event json");
                let mut arr = v.as_array().expect("event array").clone();
                let name = arr.remove(0).as_str().expect("event name").to_owned();
                return Frame::Event(name, arr);
            }
        }
    }

    /// Waits for event `name`, returning its first argument (`Null` if none) and skipping
    /// other events.
    pub async fn expect(&mut self, name: &str) -> Value {
        loop {
            match self.next().await {
                Frame::Event(n, args) if n == name => {
                    return args.into_iter().next().unwrap_or(Value::Null);
                }
                Frame::Event(..) => continue,
                other => panic!("expected {name}, got {other:?}"),
            }
        }
    }

    /// Waits for event `name` whose first argument satisfies `pred`, skipping the rest.
    pub async fn expect_where(&mut self, name: &str, pred: impl Fn(&Value) -> bool) -> Value {
        loop {
            let v = self.expect(name).await;
            if pred(&v) {
                return v;
            }
        }
    }

    /// Collects every event up to and including `name`.
    pub async fn until(&mut self, name: &str) -> Vec<(String, Vec<Value>)> {
        let mut seen = Vec::new();
        loop {
            match self.next().await {
                Frame::Event(n, args) => {
                    let done = n == name;
                    seen.push((n, args));
                    if done {
                        return seen;
                    }
                }
                other => panic!("expected {name}, got {other:?} after {seen:?}"),
            }
        }
    }

    /// Sends `42["name", arg]`.
    pub async fn emit(&mut self, name: &str, arg: Value) {
        self.send_text(&format!("42{}", json!([name, arg]))).await;
    }

    /// Sends `42["name"]`.
    pub async fn emit0(&mut self, name: &str) {
        self.send_text(&format!("42{}", json!([name]))).await;
    }

    /// Sends a raw Engine.IO text frame (for hostile-input tests).
    pub async fn send_raw(&mut self, s: &str) {
        self.send_text(s).await;
    }

    /// Queues many events and flushes them in one go (for the flood test).
    pub async fn emit_burst(&mut self, frames: impl IntoIterator<Item = (String, Value)>) {
        for (name, arg) in frames {
            let text = format!("42{}", json!([name, arg]));
            self.ws.feed(Message::text(text)).await.expect("feed");
        }
        self.ws.flush().await.expect("flush");
    }

    /// joinChannel then guest login; returns after the own `login` reply.
    pub async fn join_as_guest(&mut self, channel: &str, name: &str) {
        self.emit("joinChannel", json!({ "name": channel })).await;
        self.emit("login", json!({ "name": name })).await;
        let login = self.expect("login").await;
        assert_eq!(login["success"], json!(true), "guest login {name}: {login}");
    }

    /// login (registered) then joinChannel; returns after `userlist`.
    pub async fn login_and_join(&mut self, channel: &str, name: &str, pw: &str) {
        self.emit("login", json!({ "name": name, "pw": pw })).await;
        let login = self.expect("login").await;
        assert_eq!(login["success"], json!(true), "login {name}: {login}");
        self.emit("joinChannel", json!({ "name": channel })).await;
        self.expect("userlist").await;
    }

    /// Sends a chat line.
    pub async fn say(&mut self, msg: &str) {
        self.emit("chatMsg", json!({ "msg": msg, "meta": {} }))
            .await;
    }

    /// Closes the websocket.
    pub async fn close(mut self) {
        let _ = self.ws.close(None).await;
    }
}

/// The names of events, for order assertions.
pub fn names(events: &[(String, Vec<Value>)]) -> Vec<&str> {
    events.iter().map(|(n, _)| n.as_str()).collect()
}
