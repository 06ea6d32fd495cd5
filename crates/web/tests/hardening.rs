//! The dashboard against one client that tries to hurt it (issue 25, items 4, 6, 8, 9), on a
//! real `nats-server` with the real database service: a revoked token's sessions end at
//! once; half-sent requests and idle connections are closed; one address cannot hold every
//! connection or event stream while another still gets in; concurrent bad tokens never
//! reach the bus more often than the limit; `X-Forwarded-For` counts only from a trusted
//! proxy; logging out needs the CSRF token. Other loopback addresses (127.0.0.2, …) stand
//! for other clients. Nothing sleeps to wait: replies and closes are awaited with a timeout.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use reqwest::StatusCode;
use rosey_bus::{Bus, NatsOptions};
use rosey_dbservice::{DbService, DbServiceConfig, DbServiceHandle};
use rosey_model::subjects;
use rosey_testkit::NatsServer;
use rosey_web::auth::MAX_FAILURES;
use rosey_web::{TrustedProxies, WebConfig, WebHandle};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

const CH: &str = "hardchan";
const TIMEOUT: Duration = Duration::from_secs(5);

struct Env {
    _dir: tempfile::TempDir,
    _nats: NatsServer,
    bus: Bus,
    db: DbServiceHandle,
    web: WebHandle,
}

async fn start(tune: impl FnOnce(&mut WebConfig)) -> Env {
    let nats = NatsServer::start();
    let bus = Bus::connect(NatsOptions::new(nats.url()))
        .await
        .expect("connect to nats");
    let dir = tempfile::tempdir().unwrap();
    let db = DbService::start(
        bus.clone(),
        DbServiceConfig::new(dir.path().join("rosey.db"), CH),
    )
    .await
    .unwrap();
    let mut cfg = WebConfig::new("127.0.0.1:0".parse().unwrap(), vec![CH.to_string()]);
    tune(&mut cfg);
    let web = rosey_web::start(bus.clone(), cfg).await.unwrap();
    Env {
        _dir: dir,
        _nats: nats,
        bus,
        db,
        web,
    }
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// A client whose connections come from `from` (a loopback address) and are not reused.
fn client_from(from: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(ip(from))
        .pool_max_idle_per_host(0)
        .timeout(TIMEOUT * 2)
        .build()
        .unwrap()
}

/// A raw TCP connection from `from`.
async fn tcp_from(from: &str, to: SocketAddr) -> TcpStream {
    let s = TcpSocket::new_v4().unwrap();
    s.bind(SocketAddr::new(ip(from), 0)).unwrap();
    s.connect(to).await.unwrap()
}

/// Reads until the server closes the connection (EOF or reset); the bytes it sent.
async fn closed_within(stream: &mut TcpStream, limit: Duration) -> Result<Vec<u8>, String> {
    let mut got = Vec::new();
    let read = async {
        let mut buf = [0u8; 1024];
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
    };
    tokio::time::timeout(limit, read)
        .await
        .map_err(|_| format!("still open after {limit:?}"))?;
    Ok(got)
}

/// Polls `done` until it holds (the server's counters change on its own tasks).
async fn until(what: &str, mut done: impl FnMut() -> bool) {
    let wait = async {
        while !done() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    };
    tokio::time::timeout(TIMEOUT, wait)
        .await
        .unwrap_or_else(|_| panic!("timed out waiting until {what}"));
}

impl Env {
    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.web.addr())
    }

    async fn request(&self, subject: &str, v: Value) -> Value {
        let m = self
            .bus
            .request(subject, serde_json::to_vec(&v).unwrap(), TIMEOUT)
            .await
            .unwrap();
        serde_json::from_slice(&m.payload).unwrap()
    }

    async fn token(&self, admin: bool) -> (String, String) {
        let r = self
            .request(
                subjects::TOKENS_CREATE,
                json!({"description": "hardening", "admin": admin}),
            )
            .await;
        (
            r["token"].as_str().unwrap().to_string(),
            r["prefix"].as_str().unwrap().to_string(),
        )
    }

    /// Logs in with `token`: the session cookie (`name=value`) and the CSRF token.
    async fn login(&self, http: &reqwest::Client, token: &str) -> (String, String) {
        rosey_testkit::browser::login(http, &self.url(""), token).await
    }

    async fn page_post(
        &self,
        http: &reqwest::Client,
        path: &str,
        cookie: &str,
        csrf: Option<&str>,
        body: Value,
    ) -> StatusCode {
        let mut req = http.post(self.url(path)).header("cookie", cookie);
        if let Some(c) = csrf {
            req = req.header("x-csrf-token", c);
        }
        req.json(&body).send().await.unwrap().status()
    }

    async fn logged_in(&self, http: &reqwest::Client, cookie: &str) -> bool {
        let r = http
            .get(self.url("/ui/session"))
            .header("cookie", cookie)
            .send()
            .await
            .unwrap();
        let v: Value = r.json().await.unwrap();
        v["logged_in"] == true
    }

    async fn say(
        &self,
        http: &reqwest::Client,
        token: &str,
        forwarded: Option<&str>,
    ) -> StatusCode {
        let mut req = http
            .post(self.url("/api/say"))
            .header("x-api-token", token)
            .json(&json!({"message": "hi"}));
        if let Some(f) = forwarded {
            req = req.header("x-forwarded-for", f);
        }
        req.send().await.unwrap().status()
    }

    async fn stop(self) {
        self.web.shutdown().await;
        self.db.shutdown().await.unwrap();
    }
}

/// Item 4: a revoked token's dashboard sessions end at once, whether it was revoked over
/// the bus (`rosey token revoke`) or over HTTP by an admin.
#[tokio::test]
async fn revoking_a_token_ends_its_sessions_at_once() {
    let env = start(|_| {}).await;
    let http = client_from("127.0.0.1");
    let say = json!({"message": "from the page"});

    // Revoked through the database service, as `rosey token revoke` does.
    let (token, prefix) = env.token(false).await;
    let (cookie, csrf) = env.login(&http, &token).await;
    let (other_cookie, other_csrf) = env.login(&http, &token).await;
    assert_eq!(
        env.page_post(&http, "/ui/say", &cookie, Some(&csrf), say.clone())
            .await,
        StatusCode::OK
    );
    let r = env
        .request(subjects::TOKENS_REVOKE, json!({"prefix": prefix}))
        .await;
    assert_eq!(r["revoked"], 1, "{r}");
    assert_eq!(
        env.page_post(&http, "/ui/say", &cookie, Some(&csrf), say.clone())
            .await,
        StatusCode::UNAUTHORIZED,
        "say from a session of a revoked token"
    );
    // Every session of that token, the playlist actions too; and the page learns it.
    assert_eq!(
        env.page_post(
            &http,
            "/ui/skip",
            &other_cookie,
            Some(&other_csrf),
            json!({})
        )
        .await,
        StatusCode::UNAUTHORIZED
    );
    assert!(!env.logged_in(&http, &cookie).await);
    assert!(!env.logged_in(&http, &other_cookie).await);

    // Revoked over HTTP with an admin token.
    let (admin, _) = env.token(true).await;
    let (token, prefix) = env.token(false).await;
    let (cookie, csrf) = env.login(&http, &token).await;
    assert!(env.logged_in(&http, &cookie).await);
    let r = http
        .delete(env.url(&format!("/api/tokens/{prefix}")))
        .header("x-api-token", &admin)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        env.page_post(&http, "/ui/say", &cookie, Some(&csrf), say)
            .await,
        StatusCode::UNAUTHORIZED
    );
    // Only the revoked token's: the admin's own login goes on.
    let (admin_cookie, admin_csrf) = env.login(&http, &admin).await;
    assert_eq!(
        env.page_post(
            &http,
            "/ui/say",
            &admin_cookie,
            Some(&admin_csrf),
            json!({"message": "still here"})
        )
        .await,
        StatusCode::OK
    );
    env.stop().await;
}

/// Item 6: a request whose header never finishes, a connection that sends nothing, and one
/// that stops in the middle of its body are all closed within their timeouts.
#[tokio::test]
async fn half_sent_requests_and_idle_connections_are_closed() {
    let env = start(|c| {
        c.limits.header_timeout = Duration::from_millis(500);
        c.limits.idle_timeout = Duration::from_secs(1);
    })
    .await;
    let addr = env.web.addr();
    let stats = env.web.stats();

    let mut half = tcp_from("127.0.0.1", addr).await;
    half.write_all(b"GET /api/channels HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let mut silent = tcp_from("127.0.0.1", addr).await;
    closed_within(&mut half, Duration::from_secs(3))
        .await
        .expect("a half-sent header is closed");
    closed_within(&mut silent, Duration::from_secs(3))
        .await
        .expect("a connection that sends nothing is closed");
    assert!(stats.timeout_count("header") >= 2, "{stats:?}");

    // The header arrived, the promised body does not: the idle timeout closes it.
    let mut stalled = tcp_from("127.0.0.1", addr).await;
    stalled
        .write_all(
            b"POST /api/say HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
              Content-Length: 100\r\n\r\n{\"mess",
        )
        .await
        .unwrap();
    closed_within(&mut stalled, Duration::from_secs(4))
        .await
        .expect("a stalled body is closed");
    assert!(stats.timeout_count("idle") >= 1, "{stats:?}");

    // A live event stream outlasts both timeouts: keep-alives keep it busy.
    let mut stream = client_from("127.0.0.1")
        .get(env.url("/events"))
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), StatusCode::OK);
    let opened = std::time::Instant::now();
    while opened.elapsed() < Duration::from_millis(2500) {
        let chunk = tokio::time::timeout(TIMEOUT, stream.chunk())
            .await
            .expect("the stream keeps sending")
            .expect("the stream is not cut");
        assert!(
            chunk.is_some(),
            "the stream ended after {:?}",
            opened.elapsed()
        );
    }
    drop(stream);

    // A whole request on a fresh connection is still served.
    let r = client_from("127.0.0.1")
        .get(env.url("/api/channels"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    env.stop().await;
}

/// Item 6: one address holding its share of connections is refused (429) while another
/// address still gets in; past the total everyone gets 503. Event streams likewise.
#[tokio::test]
async fn one_client_cannot_hold_every_connection_or_stream() {
    let env = start(|c| {
        c.limits.max_connections_per_client = 4;
        c.limits.max_connections = 6;
        c.limits.max_streams_per_client = 2;
        c.limits.max_streams = 3;
    })
    .await;
    let addr = env.web.addr();
    let stats = env.web.stats();

    // 127.0.0.1 holds four idle connections (well within the header timeout).
    let mut held = Vec::new();
    for _ in 0..4 {
        held.push(tcp_from("127.0.0.1", addr).await);
    }
    let mut fifth = tcp_from("127.0.0.1", addr).await;
    fifth
        .write_all(b"GET /api/channels HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let answer = closed_within(&mut fifth, TIMEOUT).await.unwrap();
    let answer = String::from_utf8_lossy(&answer);
    assert!(
        answer.starts_with("HTTP/1.1 429"),
        "over its share: {answer}"
    );
    assert!(answer.contains("too many connections"), "{answer}");
    // Another address is served meanwhile.
    let r = client_from("127.0.0.2")
        .get(env.url("/api/channels"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    drop(r);
    until("that connection is closed", || stats.connections() == 4).await;
    // 127.0.0.2 takes two more: six open, the total; a third address gets 503.
    for _ in 0..2 {
        held.push(tcp_from("127.0.0.2", addr).await);
    }
    until("six connections are open", || stats.connections() == 6).await;
    let r = client_from("127.0.0.3")
        .get(env.url("/api/channels"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(
        stats.refused_count("connection_per_client") >= 1,
        "{stats:?}"
    );
    assert!(stats.refused_count("connection_total") >= 1, "{stats:?}");
    drop(held);

    // Event streams: two per client, three in all.
    let open = |from: &'static str| {
        let url = env.url("/events");
        async move {
            let r = reqwest::Client::builder()
                .local_address(ip(from))
                .build()
                .unwrap()
                .get(url)
                .send()
                .await
                .unwrap();
            let status = r.status();
            (status, r)
        }
    };
    // Closed connections free their slots when the server notices.
    until("closed connections give their slots back", || {
        stats.connections() == 0
    })
    .await;
    let (s1, _a1) = open("127.0.0.1").await;
    let (s2, _a2) = open("127.0.0.1").await;
    assert_eq!((s1, s2), (StatusCode::OK, StatusCode::OK));
    let (s3, _) = open("127.0.0.1").await;
    assert_eq!(
        s3,
        StatusCode::TOO_MANY_REQUESTS,
        "third stream of one client"
    );
    let (s4, _b1) = open("127.0.0.2").await;
    assert_eq!(s4, StatusCode::OK, "another client's stream");
    let (s5, _) = open("127.0.0.3").await;
    assert_eq!(s5, StatusCode::SERVICE_UNAVAILABLE, "past the total");
    assert_eq!(stats.streams(), 3);
    env.stop().await;
}

/// Item 8: two hundred concurrent bad tokens from one address: at most the limit of them is
/// checked on the bus, the rest get 429.
#[tokio::test]
async fn concurrent_bad_tokens_reach_the_bus_at_most_the_limit() {
    let env = start(|c| c.limits.max_connections_per_client = 1000).await;
    let mut checks = env.bus.subscribe(subjects::TOKENS_VERIFY).await.unwrap();
    env.bus.flush().await.unwrap();
    let http = reqwest::Client::builder()
        .local_address(ip("127.0.0.1"))
        .build()
        .unwrap();
    let tries = (0..200).map(|i| {
        let http = http.clone();
        let env = &env;
        async move { env.say(&http, &format!("rt_bad{i}"), None).await }
    });
    let answers = futures::future::join_all(tries).await;
    let unauthorized = answers
        .iter()
        .filter(|s| **s == StatusCode::UNAUTHORIZED)
        .count();
    let limited = answers
        .iter()
        .filter(|s| **s == StatusCode::TOO_MANY_REQUESTS)
        .count();
    assert_eq!(
        (unauthorized, limited),
        (MAX_FAILURES as usize, 200 - MAX_FAILURES as usize),
        "{answers:?}"
    );
    // What the bus saw: each check the database service answered, no more.
    let mut seen = 0;
    while let Ok(Some(_)) = tokio::time::timeout(Duration::from_millis(300), checks.next()).await {
        seen += 1;
    }
    assert_eq!(seen, MAX_FAILURES as usize);
    env.stop().await;
}

/// Item 8: behind a trusted proxy each forwarded client has its own limit (a blocked one
/// does not lock the others out); from anyone else `X-Forwarded-For` is ignored.
#[tokio::test]
async fn forwarded_for_counts_only_from_a_trusted_proxy() {
    let env = start(|c| {
        c.trusted_proxies = TrustedProxies::parse(&["127.0.0.1"]).unwrap();
    })
    .await;
    let (good, _) = env.token(false).await;
    let proxy = client_from("127.0.0.1");
    let stranger = client_from("127.0.0.2");

    // Through the proxy: one client guesses until it is blocked...
    for _ in 0..MAX_FAILURES {
        assert_eq!(
            env.say(&proxy, "rt_guess", Some("203.0.113.5")).await,
            StatusCode::UNAUTHORIZED
        );
    }
    assert_eq!(
        env.say(&proxy, &good, Some("203.0.113.5")).await,
        StatusCode::TOO_MANY_REQUESTS
    );
    // ...another client behind the same proxy is not (the leftmost entry is the client's
    // own claim and is not believed past the proxy's).
    assert_eq!(
        env.say(&proxy, &good, Some("203.0.113.6")).await,
        StatusCode::OK
    );
    assert_eq!(
        env.say(&proxy, &good, Some("203.0.113.5, 203.0.113.7"))
            .await,
        StatusCode::OK
    );

    // Not a trusted proxy: its header changes nothing, the peer address is the client.
    for i in 0..MAX_FAILURES {
        let claimed = format!("198.51.100.{i}");
        assert_eq!(
            env.say(&stranger, "rt_guess", Some(&claimed)).await,
            StatusCode::UNAUTHORIZED
        );
    }
    assert_eq!(
        env.say(&stranger, &good, Some("198.51.100.200")).await,
        StatusCode::TOO_MANY_REQUESTS
    );
    env.stop().await;
}

/// Item 9: logging out needs the CSRF token like every other action, so another site (or
/// another port of this host) cannot log the user out.
#[tokio::test]
async fn logout_needs_the_csrf_token() {
    let env = start(|_| {}).await;
    let http = client_from("127.0.0.1");
    let (token, _) = env.token(false).await;
    let (cookie, csrf) = env.login(&http, &token).await;

    // A cross-site form or fetch sends the cookie but cannot know the CSRF token.
    for wrong in [None, Some("guess")] {
        assert_eq!(
            env.page_post(&http, "/ui/logout", &cookie, wrong, json!({}))
                .await,
            StatusCode::FORBIDDEN
        );
        assert!(env.logged_in(&http, &cookie).await, "still logged in");
    }
    assert_eq!(
        env.page_post(&http, "/ui/logout", &cookie, Some(&csrf), json!({}))
            .await,
        StatusCode::OK
    );
    assert!(!env.logged_in(&http, &cookie).await);
    env.stop().await;
}

/// Issue 31: a viewer that stops reading its event stream is dropped (counted as a
/// `stalled` timeout) instead of being buffered for, and a viewer that reads keeps getting
/// every line meanwhile. The stalled viewer asks for the stream with a small receive buffer
/// and never reads; lines of 1 KB go out in rounds, each awaited at the reading viewer,
/// until the listener gives up on the stalled one.
#[tokio::test]
async fn a_viewer_that_stops_reading_is_dropped_and_the_others_keep_receiving() {
    use futures::StreamExt;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

    let env = start(|c| c.limits.write_stall = Duration::from_millis(300)).await;
    let addr = env.web.addr();
    let stats = env.web.stats();

    let socket = TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let mut stalled = socket.connect(addr).await.unwrap();
    stalled
        .write_all(format!("GET /events?channel={CH} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let reading = client_from("127.0.0.1")
        .get(env.url("/events"))
        .send()
        .await
        .unwrap();
    assert_eq!(reading.status(), StatusCode::OK);
    until("both viewers watch", || stats.streams() == 2).await;

    // The reading viewer counts the chat lines it gets, in order.
    let got = Arc::new(AtomicU64::new(0));
    let counter = got.clone();
    let reader = tokio::spawn(async move {
        let mut body = reading.bytes_stream();
        let mut buf = Vec::new();
        let mut out_of_order = 0u64;
        while let Some(Ok(chunk)) = body.next().await {
            buf.extend_from_slice(&chunk);
            while let Some(end) = buf.windows(2).position(|w| w == b"\n\n") {
                let block: Vec<u8> = buf.drain(..end + 2).collect();
                let block = String::from_utf8_lossy(&block);
                if !block.starts_with("event: chat") {
                    continue;
                }
                let n = counter.load(Relaxed);
                if !block.contains(&format!("\"line {n} ")) {
                    out_of_order += 1;
                }
                counter.store(n + 1, Relaxed);
            }
        }
        out_of_order
    });

    let padding = "x".repeat(1000);
    let subject = subjects::event_subject(CH, "message");
    let mut sent = 0u64;
    // Up to 40 MB: far more than the socket buffers of the stalled viewer can take.
    while stats.timeout_count("stalled") == 0 && sent < 40_000 {
        for _ in 0..200 {
            let line = json!({"channel": CH, "ts": 1_700_000_000.0, "id": format!("s{sent}"),
                              "kind": "message", "user": "carol",
                              "content": format!("line {sent} {padding}")});
            env.bus
                .publish(&subject, serde_json::to_vec(&line).unwrap())
                .await
                .unwrap();
            sent += 1;
        }
        until("the reading viewer has every line so far", || {
            got.load(Relaxed) == sent
        })
        .await;
    }
    assert_eq!(
        stats.timeout_count("stalled"),
        1,
        "the stalled viewer is dropped ({sent} lines sent): {stats:?}"
    );
    until("only the reading viewer is left", || stats.streams() == 1).await;
    closed_within(&mut stalled, TIMEOUT)
        .await
        .expect("the stalled viewer's connection is closed");

    // The reader still gets what follows.
    for i in 0..10 {
        let n = sent + i;
        let line = json!({"channel": CH, "ts": 1_700_000_000.0, "id": format!("s{n}"),
                          "kind": "message", "user": "carol", "content": format!("line {n} .")});
        env.bus
            .publish(&subject, serde_json::to_vec(&line).unwrap())
            .await
            .unwrap();
    }
    until("the reading viewer gets the lines after the drop", || {
        got.load(Relaxed) == sent + 10
    })
    .await;
    env.stop().await;
    let out_of_order = reader.await.unwrap();
    assert_eq!(out_of_order, 0, "every line, in order");
}
