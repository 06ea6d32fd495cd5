//! The HTTP API against the real database service on the embedded bus (the same service
//! code that runs on NATS): every v0.5 endpoint's shape and status codes, the tokens
//! (hashed, v0.5 rows re-keyed, admin scope, revocation by prefix), the limit on failed
//! attempts, the security headers, the OpenAPI document, and the live event stream.
//! Nothing sleeps to wait: replies are awaited, and live frames are awaited with a timeout.

use std::path::PathBuf;
use std::time::Duration;

use futures::StreamExt;
use reqwest::StatusCode;
use rosey_bus::Bus;
use rosey_dbservice::{DbService, DbServiceConfig, DbServiceHandle};
use rosey_model::subjects;
use rosey_web::{WebConfig, WebHandle};
use serde_json::{Value, json};

const CH: &str = "webchan";
const TIMEOUT: Duration = Duration::from_secs(5);

struct Env {
    _dir: tempfile::TempDir,
    db_path: PathBuf,
    bus: Bus,
    db: DbServiceHandle,
    web: WebHandle,
    http: reqwest::Client,
}

async fn start_with(prepare: impl FnOnce(&std::path::Path), seeded: bool) -> Env {
    let dir = tempfile::tempdir().unwrap();
    let db_path = dir.path().join("bot_data.db");
    prepare(&db_path);
    let bus = Bus::embedded();
    let db = DbService::start(bus.clone(), DbServiceConfig::new(&db_path, CH))
        .await
        .unwrap();
    if seeded {
        seed(&bus, &db).await;
    }
    let mut cfg = WebConfig::new(
        "127.0.0.1:0".parse().unwrap(),
        vec![CH.to_string(), "second".to_string()],
    );
    cfg.refresh = Duration::from_millis(200);
    let web = rosey_web::start(bus.clone(), cfg).await.unwrap();
    Env {
        _dir: dir,
        db_path,
        bus,
        db,
        web,
        http: reqwest::Client::new(),
    }
}

async fn start() -> Env {
    start_with(|_| {}, false).await
}

/// Started after the database holds two users (alice 3 lines, bob 1), two user-count
/// samples and a status row.
async fn start_seeded() -> Env {
    start_with(|_| {}, true).await
}

async fn publish(bus: &Bus, subject: &str, v: Value) {
    bus.publish(subject, serde_json::to_vec(&v).unwrap())
        .await
        .unwrap();
}

async fn seed(bus: &Bus, db: &DbServiceHandle) {
    for (user, lines) in [("alice", 3), ("bob", 1)] {
        publish(
            bus,
            subjects::USER_JOINED,
            json!({"username": user, "channel": CH}),
        )
        .await;
        for i in 0..lines {
            publish(
                bus,
                subjects::MESSAGE_LOG,
                json!({"username": user, "message": format!("line {i}"), "channel": CH}),
            )
            .await;
        }
    }
    for n in [2, 3] {
        publish(
            bus,
            subjects::STATS_USER_COUNT,
            json!({"chat_count": n, "connected_count": n + 1, "channel": CH}),
        )
        .await;
    }
    publish(
        bus,
        subjects::STATUS_UPDATE,
        json!({"channel": CH, "status_data": {"bot_name": "Rosey", "bot_connected": true,
               "current_media_title": "A <b>song</b>", "current_media_duration": 200}}),
    )
    .await;
    // Processing is in order: once the status row (published last) shows, all of it has.
    let applied = async {
        loop {
            let m = bus
                .request(
                    subjects::QUERY_CURRENT_STATUS,
                    serde_json::to_vec(&json!({"channel": CH})).unwrap(),
                    TIMEOUT,
                )
                .await
                .unwrap();
            let v: Value = serde_json::from_slice(&m.payload).unwrap();
            if v["status"]["bot_name"] == "Rosey" {
                return;
            }
            db.flush().await.unwrap();
        }
    };
    tokio::time::timeout(TIMEOUT, applied)
        .await
        .expect("the seed is applied");
}

impl Env {
    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.web.addr())
    }

    async fn publish(&self, subject: &str, v: Value) {
        publish(&self.bus, subject, v).await
    }

    async fn request(&self, subject: &str, v: Value) -> Value {
        let m = self
            .bus
            .request(subject, serde_json::to_vec(&v).unwrap(), TIMEOUT)
            .await
            .unwrap();
        serde_json::from_slice(&m.payload).unwrap()
    }

    async fn token(&self, admin: bool) -> String {
        let r = self
            .request(
                subjects::TOKENS_CREATE,
                json!({"description": "test", "admin": admin}),
            )
            .await;
        r["token"].as_str().unwrap().to_string()
    }

    async fn get(&self, path: &str) -> (StatusCode, Value) {
        let r = self.http.get(self.url(path)).send().await.unwrap();
        let status = r.status();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut req = self.http.request(method, self.url(path));
        if let Some(t) = token {
            req = req.header("X-API-Token", t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let r = req.send().await.unwrap();
        let status = r.status();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    async fn say(&self, token: Option<&str>, body: Value) -> (StatusCode, Value) {
        self.send(reqwest::Method::POST, "/api/say", token, Some(body))
            .await
    }

    async fn stop(self) {
        self.web.shutdown().await;
        self.db.shutdown().await.unwrap();
    }
}

#[tokio::test]
async fn v05_read_endpoints_keep_their_shapes_and_codes() {
    let env = start_seeded().await;

    let (s, stats) = env.get("/api/stats").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(stats["success"], true);
    assert_eq!(stats["total_users_seen"], 2);
    assert_eq!(
        stats["top_chatters"][0],
        json!({"username": "alice", "chat_lines": 3})
    );
    for k in ["high_water_mark", "high_water_connected", "current"] {
        assert!(stats[k].is_object(), "{k}: {stats}");
    }

    let (s, history) = env.get("/api/history/24").await;
    assert_eq!(s, StatusCode::OK);
    let rows = history.as_array().unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[1]["chat_users"], 3);
    assert_eq!(rows[1]["connected_users"], 4);
    assert!(rows[0]["timestamp"].is_i64());
    for bad in ["0", "169", "abc", "-1"] {
        let (s, body) = env.get(&format!("/api/history/{bad}")).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{bad}");
        assert!(body["error"].as_str().unwrap().contains("1 to 168"));
    }

    let (s, alice) = env.get("/api/user/alice").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(alice["found"], true);
    assert_eq!(alice["total_chat_lines"], 3);
    assert!(alice["current_session_start"].is_i64());
    let (s, nobody) = env.get("/api/user/nobody").await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert_eq!(nobody["error"], "No statistics found for user 'nobody'");

    let (s, current) = env.get("/api/current").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(current["bot_name"], "Rosey");
    assert_eq!(current["bot_connected"], true);
    assert_eq!(current["current_media_title"], "A <b>song</b>");
    assert_eq!(current["channel"], CH);

    let (s, outbound) = env.get("/api/outbound/recent").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(outbound, json!([]));
    let (s, _) = env.get("/api/outbound/recent?limit=5000").await;
    assert_eq!(s, StatusCode::BAD_REQUEST);

    let (s, _) = env.get("/api/stats?channel=elsewhere").await;
    assert_eq!(
        s,
        StatusCode::NOT_FOUND,
        "only the configured channels are shown"
    );
    let (s, other) = env.get("/api/stats?channel=second").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(other["total_users_seen"], 0);

    let (s, users) = env.get("/api/users?prefix=AL").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(users[0]["username"], "alice");
    assert_eq!(users[0]["present"], true);
    assert_eq!(users.as_array().unwrap().len(), 1);
    let (s, act) = env.get("/api/activity/24?user=alice").await;
    assert_eq!(s, StatusCode::OK);
    let lines: i64 = act["hours"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["lines"].as_i64().unwrap())
        .sum();
    assert_eq!(lines, 3);
    assert_eq!(act["lines"].as_array().unwrap().len(), 3);
    env.stop().await;
}

#[tokio::test]
async fn say_needs_a_live_token_and_queues_once() {
    let env = start().await;
    let (s, body) = env.say(None, json!({"message": "hi"})).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    assert!(body["error"].as_str().unwrap().contains("X-API-Token"));
    let (s, _) = env
        .say(Some("rt_not-a-real-token-at-all"), json!({"message": "hi"}))
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);

    let token = env.token(false).await;
    let (s, _) = env.say(Some(&token), json!({"message": "  "})).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let (s, _) = env.say(Some(&token), json!({})).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let (s, body) = env
        .say(Some(&token), json!({"message": "hello <i>there</i>"}))
        .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    assert_eq!(body["success"], true);
    let id = body["message_id"].as_i64().unwrap();

    let (_, rows) = env.get("/api/outbound/recent").await;
    let rows = rows.as_array().unwrap();
    assert_eq!(rows.len(), 1, "queued exactly once: {rows:?}");
    assert_eq!(rows[0]["id"], id);
    assert_eq!(rows[0]["message"], "hello <i>there</i>");
    assert_eq!(rows[0]["status"], "queued");
    assert_eq!(rows[0]["sent"], false);
    // The bot's pump sees it.
    let due = env
        .request(subjects::OUTBOUND_GET, json!({"channel": CH}))
        .await;
    assert_eq!(due[0]["id"], id);
    env.stop().await;
}

#[tokio::test]
async fn tokens_are_hashed_scoped_and_revoked_by_prefix() {
    let env = start().await;
    let api = env.token(false).await;
    let admin = env.token(true).await;
    assert!(api.starts_with("rt_") && admin.starts_with("ra_"));

    // No token → 401, a non-admin token → 403, an admin token → the list.
    let get = reqwest::Method::GET;
    let (s, _) = env.send(get.clone(), "/api/tokens", None, None).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let (s, _) = env.send(get.clone(), "/api/tokens", Some(&api), None).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, list) = env
        .send(get.clone(), "/api/tokens", Some(&admin), None)
        .await;
    assert_eq!(s, StatusCode::OK);
    let tokens = list["tokens"].as_array().unwrap();
    assert_eq!(tokens.len(), 2);
    let text = list.to_string();
    assert!(
        !text.contains(&api) && !text.contains(&admin),
        "never the token: {text}"
    );
    let admin_row = tokens
        .iter()
        .find(|t| admin.starts_with(t["prefix"].as_str().unwrap()));
    assert_eq!(admin_row.unwrap()["admin"], true);

    let (s, created) = env
        .send(
            reqwest::Method::POST,
            "/api/tokens",
            Some(&admin),
            Some(json!({"description": "ci"})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED);
    let new = created["token"].as_str().unwrap().to_string();
    assert_eq!(created["description"], "ci");
    assert_eq!(created["admin"], false);
    assert!(new.starts_with(created["prefix"].as_str().unwrap()));

    // Stored hashed: no row holds any token.
    let conn = rusqlite::Connection::open(&env.db_path).unwrap();
    let stored: Vec<String> = conn
        .prepare("SELECT token FROM api_tokens")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(stored.len(), 3);
    for t in [&api, &admin, &new] {
        assert!(
            stored.iter().all(|row| !row.contains(t.as_str())),
            "{t} stored in clear"
        );
    }
    drop(conn);

    let (s, _) = env.say(Some(&new), json!({"message": "x"})).await;
    assert_eq!(s, StatusCode::OK);
    let del = reqwest::Method::DELETE;
    let (s, _) = env
        .send(
            del.clone(),
            &format!("/api/tokens/{}", &new[..7]),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "fewer than 8 characters");
    let (s, _) = env
        .send(del.clone(), "/api/tokens/rt_zzzzzzzzz", Some(&admin), None)
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, r) = env
        .send(
            del.clone(),
            &format!("/api/tokens/{}", &new[..10]),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{r}");
    assert_eq!(r["revoked"], 1);
    let (s, _) = env.say(Some(&new), json!({"message": "x"})).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "revoked");
    let (s, _) = env
        .send(
            del,
            &format!("/api/tokens/{}", &new[..10]),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND, "already revoked");
    let (_, list) = env.send(get, "/api/tokens", Some(&admin), None).await;
    let used = list["tokens"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["revoked"] == true)
        .unwrap();
    assert!(used["last_used"].is_i64(), "its use was recorded: {used}");
    env.stop().await;
}

#[tokio::test]
async fn v05_plain_tokens_are_rekeyed_and_keep_working() {
    let env = start_with(rosey_testkit::create_v05_database, false).await;
    let conn = rusqlite::Connection::open(&env.db_path).unwrap();
    let (stored, description): (String, String) = conn
        .query_row("SELECT token, description FROM api_tokens", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .unwrap();
    drop(conn);
    assert_ne!(stored, "tok");
    assert!(stored.starts_with("v0:tok:"), "{stored}");
    assert_eq!(description, "dash");
    // The v0.5 default channel is the configured one, so say goes to `webchan`.
    let (s, body) = env
        .say(Some("tok"), json!({"message": "from v0.5 client"}))
        .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    env.stop().await;
}

#[tokio::test]
async fn failed_attempts_are_limited_per_client() {
    let env = start().await;
    let good = env.token(false).await;
    for i in 0..rosey_web::auth::MAX_FAILURES {
        let (s, _) = env
            .say(Some(&format!("rt_guess{i}")), json!({"message": "x"}))
            .await;
        assert_eq!(s, StatusCode::UNAUTHORIZED);
    }
    let r = env
        .http
        .post(env.url("/api/say"))
        .header("X-API-Token", &good)
        .json(&json!({"message": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        StatusCode::TOO_MANY_REQUESTS,
        "even a good token waits"
    );
    assert!(r.headers().contains_key("retry-after"));
    let (_, rows) = env.get("/api/outbound/recent").await;
    assert_eq!(rows, json!([]), "nothing queued");
    env.stop().await;
}

#[tokio::test]
async fn pages_carry_security_headers_and_page_actions_need_a_session() {
    let env = start().await;
    let r = env.http.get(env.url("/")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let csp = r.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"),
        "{csp}"
    );
    assert_eq!(r.headers()["x-content-type-options"], "nosniff");
    assert!(r.text().await.unwrap().contains("/static/app.js"));
    let r = env
        .http
        .get(env.url("/static/app.js"))
        .send()
        .await
        .unwrap();
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/javascript")
    );

    // No session: 403, nothing queued.
    let r = env
        .http
        .post(env.url("/ui/say"))
        .json(&json!({"message": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    // Login: cookie flags, then say needs the CSRF token too.
    let token = env.token(false).await;
    let r = env
        .http
        .post(env.url("/ui/login"))
        .json(&json!({"token": token}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let cookie = r.headers()["set-cookie"].to_str().unwrap().to_string();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    let session = cookie.split(';').next().unwrap().to_string();
    let login: Value = r.json().await.unwrap();
    let csrf = login["csrf"].as_str().unwrap();
    let say = |csrf: Option<&str>| {
        let mut req = env.http.post(env.url("/ui/say")).header("cookie", &session);
        if let Some(c) = csrf {
            req = req.header("x-csrf-token", c);
        }
        req.json(&json!({"message": "from the page"})).send()
    };
    assert_eq!(say(None).await.unwrap().status(), StatusCode::FORBIDDEN);
    assert_eq!(
        say(Some("wrong")).await.unwrap().status(),
        StatusCode::FORBIDDEN
    );
    let (_, rows) = env.get("/api/outbound/recent").await;
    assert_eq!(rows, json!([]));
    assert_eq!(say(Some(csrf)).await.unwrap().status(), StatusCode::OK);
    let (_, rows) = env.get("/api/outbound/recent").await;
    assert_eq!(rows.as_array().unwrap().len(), 1);
    let bad = env
        .http
        .post(env.url("/ui/login"))
        .json(&json!({"token": "nope"}))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), StatusCode::UNAUTHORIZED);
    env.stop().await;
}

/// Every operation in `/api/openapi.json` answers with one of the status codes it lists.
#[tokio::test]
async fn the_openapi_document_matches_the_server() {
    let env = start_seeded().await;
    let admin = env.token(true).await;
    let (s, doc) = env.get("/api/openapi.json").await;
    assert_eq!(s, StatusCode::OK);
    let paths = doc["paths"].as_object().unwrap();
    assert!(paths.len() >= 11);
    for (path, ops) in paths {
        for (method, op) in ops.as_object().unwrap() {
            let concrete = path
                .replace("{hours}", "24")
                .replace("{name}", "alice")
                .replace("{prefix}", "rt_nothing-here");
            let method: reqwest::Method = method.to_uppercase().parse().unwrap();
            let body = (method == reqwest::Method::POST).then(|| json!({"message": "m"}));
            let (s, _) = env
                .send(method.clone(), &concrete, Some(&admin), body)
                .await;
            let listed = op["responses"].as_object().unwrap();
            assert!(
                listed.contains_key(s.as_str()),
                "{method} {path} answered {s}, documented: {:?}",
                listed.keys().collect::<Vec<_>>()
            );
        }
    }
    env.stop().await;
}

/// Reads SSE frames until one named `event` arrives.
async fn next_frame(
    stream: &mut (impl futures::Stream<Item = reqwest::Result<bytes::Bytes>> + Unpin),
    buf: &mut String,
    event: &str,
) -> Value {
    let wait = async {
        loop {
            while let Some(end) = buf.find("\n\n") {
                let block: String = buf.drain(..end + 2).collect();
                let mut name = "";
                let mut data = String::new();
                for line in block.lines() {
                    if let Some(n) = line.strip_prefix("event: ") {
                        name = n;
                    } else if let Some(d) = line.strip_prefix("data: ") {
                        data.push_str(d);
                    }
                }
                if name == event {
                    return serde_json::from_str::<Value>(&data).unwrap();
                }
            }
            let chunk = stream.next().await.expect("stream ended").unwrap();
            buf.push_str(&String::from_utf8_lossy(&chunk));
        }
    };
    tokio::time::timeout(TIMEOUT, wait)
        .await
        .expect("no frame in time")
}

#[tokio::test]
async fn the_event_stream_sends_a_snapshot_then_live_changes() {
    let env = start_seeded().await;
    let r = env.http.get(env.url("/events")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    let mut stream = r.bytes_stream();
    let mut buf = String::new();
    let snap = next_frame(&mut stream, &mut buf, "snapshot").await;
    assert_eq!(snap["channel"], CH);
    assert_eq!(
        snap["chat"].as_array().unwrap().len(),
        4,
        "recent chat from the database"
    );
    let names: Vec<&str> = snap["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["alice", "bob"], "present users from the database");
    assert_eq!(snap["media"]["title"], "A <b>song</b>");

    let event_in = |channel: &str, kind: &str, body: Value| {
        let mut v = json!({"channel": channel, "ts": 1_700_000_000.0, "id": kind, "kind": kind});
        v.as_object_mut()
            .unwrap()
            .extend(body.as_object().unwrap().clone());
        v
    };
    let event = |kind: &str, body: Value| event_in(CH, kind, body);
    env.publish(
        &subjects::event_subject(CH, "message"),
        event(
            "message",
            json!({"user": "carol", "content": "<img src=x onerror=alert(1)>"}),
        ),
    )
    .await;
    let chat = next_frame(&mut stream, &mut buf, "chat").await;
    assert_eq!(chat["username"], "carol");
    assert_eq!(chat["message"], "<img src=x onerror=alert(1)>");

    env.publish(
        &subjects::event_subject(CH, "user_join"),
        event(
            "user_join",
            json!({"user": "dave", "user_data": {"username": "dave", "rank": 2.0}}),
        ),
    )
    .await;
    let state = next_frame(&mut stream, &mut buf, "state").await;
    assert_eq!(
        state["users"][0]["name"], "dave",
        "the moderator sorts first"
    );
    assert_eq!(state["users"][0]["rank"], 2.0);
    // Another channel's events do not reach this stream.
    env.publish(
        &subjects::event_subject("second", "message"),
        event_in(
            "second",
            "message",
            json!({"user": "x", "content": "elsewhere"}),
        ),
    )
    .await;
    env.publish(
        &subjects::event_subject(CH, "message"),
        event("message", json!({"user": "carol", "content": "here"})),
    )
    .await;
    let chat = next_frame(&mut stream, &mut buf, "chat").await;
    assert_eq!(chat["message"], "here");
    env.stop().await;
}

/// `add` / `skip`: refused requests never reach the bus; an accepted one is asked of the
/// channel's bot (`rosey.commands.<channel>.add`) and its reply — the server's outcome — is
/// passed through; no bot → 503. (The whole way to the CyTube server is in the browser test.)
#[tokio::test]
async fn playlist_actions_need_a_token_and_pass_the_bots_answer_on() {
    let env = start().await;
    let mut asked = env.bus.subscribe("rosey.commands.>").await.unwrap();
    let post = reqwest::Method::POST;
    let url = json!({"url": "https://youtu.be/abc"});
    let (s, _) = env
        .send(post.clone(), "/api/add", None, Some(url.clone()))
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let (s, _) = env
        .send(post.clone(), "/ui/add", None, Some(url.clone()))
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, _) = env.send(post.clone(), "/ui/skip", None, None).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let token = env.token(false).await;
    let (s, e) = env
        .send(
            post.clone(),
            "/api/add",
            Some(&token),
            Some(json!({"url": " "})),
        )
        .await;
    assert_eq!(
        (s, e["error"].as_str().unwrap()),
        (StatusCode::BAD_REQUEST, "field `url`: must not be empty")
    );

    let call = env.send(post.clone(), "/api/add", Some(&token), Some(url));
    let bot = async {
        // The first request on the bus is the accepted one: nothing refused got through.
        let m = tokio::time::timeout(TIMEOUT, asked.next())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            m.subject,
            subjects::command_subject(CH, subjects::COMMAND_ADD)
        );
        let req: Value = serde_json::from_slice(&m.payload).unwrap();
        assert_eq!(req["url"], "https://youtu.be/abc");
        assert!(req["by"].as_str().unwrap().starts_with("web:rt_"), "{req}");
        let answer = json!({"success": false, "error": "Refused by the server: no"});
        env.bus
            .respond(&m, serde_json::to_vec(&answer).unwrap())
            .await
            .unwrap();
    };
    let ((s, reply), ()) = tokio::join!(call, bot);
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        reply,
        json!({"success": false, "error": "Refused by the server: no"})
    );

    asked.unsubscribe().await;
    let (s, e) = env.send(post, "/api/skip", Some(&token), None).await;
    assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE, "{e}");
    env.stop().await;
}
