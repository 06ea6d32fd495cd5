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
    start_cfg(prepare, seeded, |_| {}).await
}

async fn start_cfg(
    prepare: impl FnOnce(&std::path::Path),
    seeded: bool,
    tune: impl FnOnce(&mut WebConfig),
) -> Env {
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
    tune(&mut cfg);
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
    // Media history: song1 (alice) played out, then song2 (bob), then song1 again.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    for (id, title, by, ago) in [
        ("song1", "First song", "alice", 600.0),
        ("song2", "Second tune", "bob", 400.0),
        ("song1", "First song", "alice", 100.0),
    ] {
        publish(
            bus,
            subjects::MEDIA_PLAYED,
            json!({"type": "yt", "media_id": id, "title": title, "duration": 200,
                   "queued_by": by, "channel": CH, "ts": now - ago}),
        )
        .await;
    }
    publish(
        bus,
        subjects::MEDIA_ENDED,
        json!({"type": "yt", "media_id": "song1", "reason": "played", "played": 200,
               "channel": CH, "ts": now - 400.0, "started": now - 600.0}),
    )
    .await;
    publish(
        bus,
        subjects::MEDIA_ENDED,
        json!({"type": "yt", "media_id": "song2", "reason": "skipped", "played": 30,
               "channel": CH, "ts": now - 100.0}),
    )
    .await;
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
    assert_eq!(stats["total_users_seen"], 2);
    assert_eq!(
        stats["top_chatters"][0],
        json!({"username": "alice", "messages": 3})
    );
    assert!(
        stats["high_water_marks"]["chat"]["count"].is_i64(),
        "{stats}"
    );

    let (s, history) = env.get("/api/history/24").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(history["hours"], 24);
    let rows = history["data"].as_array().unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[1]["chat_users"], 3);
    assert_eq!(rows[1]["connected_users"], 4);
    assert!(rows[0]["timestamp"].is_i64());
    // v0.5 (Flask's `<int:hours>`): not a whole number → no such page; more than a week →
    // a week.
    for bad in ["abc", "-1", "1.5"] {
        let (s, body) = env.get(&format!("/api/history/{bad}")).await;
        assert_eq!(s, StatusCode::NOT_FOUND, "{bad}");
        assert!(body["error"].is_string());
    }
    let (s, capped) = env.get("/api/history/169").await;
    assert_eq!((s, &capped["hours"]), (StatusCode::OK, &json!(168)));
    assert_eq!(capped["data"].as_array().unwrap().len(), 2);

    let (s, alice) = env.get("/api/user/alice").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(alice["found"], true);
    assert_eq!(alice["total_chat_lines"], 3);
    assert!(alice["current_session_start"].is_i64());
    let (s, nobody) = env.get("/api/user/nobody").await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert_eq!(nobody, json!({"error": "User not found"}));

    let (s, current) = env.get("/api/current").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(current["status"]["bot_name"], "Rosey");
    assert_eq!(current["status"]["bot_connected"], true);
    assert_eq!(current["status"]["current_media_title"], "A <b>song</b>");
    assert_eq!(current["channel"], CH);
    assert_eq!(current["recent_chat"].as_array().unwrap().len(), 4);
    assert_eq!(current["recent_chat"][0]["username"], "alice");

    let (s, outbound) = env.get("/api/outbound/recent").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(outbound, json!({"messages": []}));
    for limit in ["5000", "-3", "abc"] {
        let (s, _) = env
            .get(&format!("/api/outbound/recent?limit={limit}"))
            .await;
        assert_eq!(s, StatusCode::OK, "v0.5 caps or defaults a limit: {limit}");
    }

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
    assert_eq!(body["queued"], true);
    let id = body["id"].as_i64().unwrap();

    let (_, rows) = env.get("/api/outbound/recent").await;
    let rows = rows["messages"].as_array().unwrap();
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
    assert_eq!(s, StatusCode::OK, "v0.5 answered 200");
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
    assert_eq!(rows, json!({"messages": []}), "nothing queued");
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
    assert_eq!(rows, json!({"messages": []}));
    assert_eq!(say(Some(csrf)).await.unwrap().status(), StatusCode::OK);
    let (_, rows) = env.get("/api/outbound/recent").await;
    assert_eq!(rows["messages"].as_array().unwrap().len(), 1);
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

/// The media endpoints (issue 28): played today, most played, search, one media's page.
#[tokio::test]
async fn media_endpoints_answer_from_the_history() {
    let env = start_seeded().await;
    let (s, today) = env.get("/api/media/recent").await;
    assert_eq!(s, StatusCode::OK);
    let ids: Vec<&str> = today["plays"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["media_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["song1", "song2", "song1"]);
    assert_eq!(today["plays"][1]["end_reason"], "skipped");
    let (_, most) = env.get("/api/media/most_played?period=day").await;
    assert_eq!(most["items"][0]["media_id"], "song1");
    assert_eq!(most["items"][0]["plays"], 2);
    let (_, found) = env.get("/api/media/search?q=TUNE").await;
    assert_eq!(found["items"][0]["media_id"], "song2");
    let (s, page) = env.get("/api/media/item/yt/song1").await;
    assert_eq!(s, StatusCode::OK);
    let st = &page["stats"];
    assert_eq!(
        (
            &st["plays"],
            &st["played_out"],
            &st["total_played"],
            &st["skips"]
        ),
        (&json!(2), &json!(1), &json!(200), &json!(0))
    );
    assert_eq!(page["adders"], json!([{"username": "alice", "plays": 2}]));
    let (s, _) = env.get("/api/media/item/yt/never").await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    for bad in ["/api/media/search", "/api/media/most_played?period=year"] {
        assert_eq!(env.get(bad).await.0, StatusCode::BAD_REQUEST, "{bad}");
    }
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

/// One SSE frame: (event, id, data).
type Sse = (String, String, Value);

/// Reads the next SSE frame (comments skipped).
async fn next_sse(
    stream: &mut (impl futures::Stream<Item = reqwest::Result<bytes::Bytes>> + Unpin),
    buf: &mut String,
) -> Sse {
    let wait = async {
        loop {
            while let Some(end) = buf.find("\n\n") {
                let block: String = buf.drain(..end + 2).collect();
                let (mut name, mut id, mut data) = (String::new(), String::new(), String::new());
                for line in block.lines() {
                    if let Some(n) = line.strip_prefix("event: ") {
                        name = n.to_string();
                    } else if let Some(i) = line.strip_prefix("id: ") {
                        id = i.to_string();
                    } else if let Some(d) = line.strip_prefix("data: ") {
                        data.push_str(d);
                    }
                }
                if !name.is_empty() {
                    return (name, id, serde_json::from_str(&data).unwrap());
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

/// An event stream of `CH`, resuming after `last` when given.
async fn open_events(
    env: &Env,
    last: Option<&str>,
) -> impl futures::Stream<Item = reqwest::Result<bytes::Bytes>> + Unpin {
    let mut req = env.http.get(env.url("/events"));
    if let Some(id) = last {
        req = req.header("Last-Event-ID", id);
    }
    let r = req.send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    r.bytes_stream()
}

async fn say(env: &Env, text: &str) {
    env.publish(
        &subjects::event_subject(CH, "message"),
        json!({"channel": CH, "ts": 1_700_000_000.0, "id": text, "kind": "message",
               "user": "carol", "content": text}),
    )
    .await;
}

/// Issue 29: a browser that reconnects with `Last-Event-ID` gets exactly the chat lines it
/// missed, then the state; an id the server cannot resume from (another process, or one
/// it never gave) gets a snapshot, which the page takes as "reload the chat" — after a
/// restart of the web process, the snapshot's chat comes from the database.
#[tokio::test]
async fn a_reconnecting_viewer_gets_what_it_missed_by_last_event_id() {
    let mut env = start_seeded().await;
    let mut stream = open_events(&env, None).await;
    let mut buf = String::new();
    let (event, first_id, _) = next_sse(&mut stream, &mut buf).await;
    assert_eq!(event, "snapshot");
    assert!(!first_id.is_empty(), "every frame has an id");
    let mut seen = Vec::new();
    for i in 0..3 {
        say(&env, &format!("live {i}")).await;
        let (event, id, data) = next_sse(&mut stream, &mut buf).await;
        assert_eq!(
            (event.as_str(), &data["message"]),
            ("chat", &json!(format!("live {i}")))
        );
        seen.push(id);
    }
    assert_eq!(
        seen.iter().collect::<std::collections::HashSet<_>>().len(),
        3
    );
    drop(stream);

    // Lines said while the viewer was away.
    for i in 0..4 {
        say(&env, &format!("away {i}")).await;
    }
    // The state settles once all four are in: an id read from `/api/live`'s frames is not
    // exposed, so wait on a fresh stream's snapshot instead.
    let mut probe = open_events(&env, None).await;
    let mut pbuf = String::new();
    loop {
        let (_, _, snap) = next_sse(&mut probe, &mut pbuf).await;
        if snap["chat"]
            .as_array()
            .unwrap()
            .iter()
            .any(|l| l["message"] == "away 3")
        {
            break;
        }
        drop(probe);
        probe = open_events(&env, None).await;
        pbuf.clear();
    }
    drop(probe);

    // Resume after the first live line: the two later live lines and the four missed, in
    // order, then the state; nothing else.
    let mut stream = open_events(&env, Some(&seen[0])).await;
    let mut buf = String::new();
    let mut got = Vec::new();
    let last_id = loop {
        let (event, id, data) = next_sse(&mut stream, &mut buf).await;
        if event == "state" {
            break id;
        }
        assert_eq!(event, "chat", "no snapshot when the id can be resumed");
        got.push(data["message"].as_str().unwrap().to_string());
    };
    assert_eq!(
        got,
        ["live 1", "live 2", "away 0", "away 1", "away 2", "away 3"]
    );
    // And live from there, with the resumed id carried on.
    say(&env, "after").await;
    let (event, id, data) = next_sse(&mut stream, &mut buf).await;
    assert_eq!(
        (event.as_str(), &data["message"]),
        ("chat", &json!("after"))
    );
    assert_ne!(id, last_id);
    drop(stream);

    // Resuming from the newest id: just the state.
    let mut stream = open_events(&env, Some(&id)).await;
    let mut buf = String::new();
    assert_eq!(next_sse(&mut stream, &mut buf).await.0, "state");
    drop(stream);

    // An id this process never gave: a snapshot.
    for bogus in ["0-3", "nonsense", &format!("{}9", id)] {
        let mut stream = open_events(&env, Some(bogus)).await;
        let mut buf = String::new();
        assert_eq!(
            next_sse(&mut stream, &mut buf).await.0,
            "snapshot",
            "{bogus}"
        );
    }

    // The web process restarts (a new hub): the old id cannot be resumed, and the snapshot
    // holds the newest lines from the database (stored by the database service).
    for i in 0..2 {
        env.publish(
            subjects::MESSAGE_LOG,
            json!({"username": "carol", "message": format!("stored {i}"), "channel": CH}),
        )
        .await;
    }
    // Stored: `flush` alone may come before the service has read the lines off the bus.
    rosey_testkit::eventually("the lines stored", TIMEOUT, || async {
        let rows = env
            .request(
                subjects::RECENT_CHAT_GET,
                json!({"channel": CH, "limit": 5}),
            )
            .await;
        rows.to_string().contains("stored 1").then_some(())
    })
    .await;
    let mut cfg = WebConfig::new(
        "127.0.0.1:0".parse().unwrap(),
        vec![CH.to_string(), "second".to_string()],
    );
    cfg.refresh = Duration::from_millis(200);
    let old = std::mem::replace(
        &mut env.web,
        rosey_web::start(env.bus.clone(), cfg).await.unwrap(),
    );
    old.shutdown().await;
    let mut stream = open_events(&env, Some(&id)).await;
    let mut buf = String::new();
    let (event, _, snap) = next_sse(&mut stream, &mut buf).await;
    assert_eq!(event, "snapshot");
    let chat: Vec<&str> = snap["chat"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["message"].as_str().unwrap())
        .collect();
    assert!(chat.ends_with(&["stored 0", "stored 1"]), "{chat:?}");
    drop(stream);
    env.stop().await;
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
/// Plays the channel's bot for one command: the next request on `asked` must be `action`
/// of `CH`, asked by the web with its token's prefix; it is answered `answer`. Returns the
/// request.
async fn act_as_bot(
    bus: &Bus,
    asked: &mut rosey_bus::Subscription,
    action: &str,
    answer: Value,
) -> Value {
    let m = tokio::time::timeout(TIMEOUT, asked.next())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(m.subject, subjects::command_subject(CH, action));
    let req: Value = serde_json::from_slice(&m.payload).unwrap();
    assert!(req["by"].as_str().unwrap().starts_with("web:rt_"), "{req}");
    bus.respond(&m, serde_json::to_vec(&answer).unwrap())
        .await
        .unwrap();
    req
}

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
    // The first request on the bus is the accepted one: nothing refused got through.
    let bot = async {
        let answer = json!({"success": false, "error": "Refused by the server: no"});
        let req = act_as_bot(&env.bus, &mut asked, subjects::COMMAND_ADD, answer).await;
        assert_eq!(req["url"], "https://youtu.be/abc");
    };
    let ((s, reply), ()) = tokio::join!(call, bot);
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        reply,
        json!({"success": false, "error": "Refused by the server: no"})
    );

    asked.unsubscribe().await;
    // No bot: the missing piece is named (the database service is up).
    for path in ["/api/skip", "/api/add"] {
        let (s, e) = env
            .send(
                post.clone(),
                path,
                Some(&token),
                Some(json!({"url": "https://youtu.be/abc"})),
            )
            .await;
        assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE, "{e}");
        let error = e["error"].as_str().unwrap();
        assert!(
            error.starts_with(&format!("no bot serves channel `{CH}`")),
            "{path}: {error}"
        );
        assert!(!error.contains("database service"), "{path}: {error}");
    }
    env.stop().await;
}

/// The moderation stream of `CH` at `base` with the session cookie `session`.
async fn moderation_stream(
    http: &reqwest::Client,
    base: &str,
    session: &str,
) -> impl futures::Stream<Item = reqwest::Result<bytes::Bytes>> + Unpin {
    let r = http
        .get(format!("{base}/ui/moderation/events"))
        .header("cookie", session)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    r.bytes_stream()
}

/// The Moderation panel (issue 27): the automated moderator's decisions stream only to a
/// logged-in moderator — the history first, then each new one of the channel — and an
/// undo (unmute or unban only) needs a token or the session with its CSRF token, and passes
/// the bot's answer on.
#[tokio::test]
async fn moderation_decisions_are_for_moderators_and_undo_passes_the_bots_answer_on() {
    let env = start().await;
    let base = format!("http://{}", env.web.addr());
    let r = env
        .http
        .get(env.url("/ui/moderation/events"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        StatusCode::FORBIDDEN,
        "no session, no decisions"
    );
    let token = env.token(false).await;
    let (session, csrf) = rosey_testkit::browser::login(&env.http, &base, &token).await;
    let mut stream = moderation_stream(&env.http, &base, &session).await;
    let mut buf = String::new();
    let log = next_frame(&mut stream, &mut buf, "log").await;
    assert_eq!(log, json!({"channel": CH, "actions": []}));

    let decision = |channel: &str, user: &str| {
        json!({"rule": "flood", "username": user, "step": "mute 10m", "outcome": "done",
               "answer": format!("Muted {user}"), "evidence": "spam spam", "channel": channel,
               "ts": 1_700_000_000.5})
    };
    env.publish(subjects::MODERATION_ACTION, decision("second", "elsewhere"))
        .await;
    env.publish(subjects::MODERATION_ACTION, decision(CH, "bob"))
        .await;
    let live = next_frame(&mut stream, &mut buf, "decision").await;
    assert_eq!(
        (
            &live["username"],
            &live["step"],
            &live["answer"],
            &live["timestamp"]
        ),
        (
            &json!("bob"),
            &json!("mute 10m"),
            &json!("Muted bob"),
            &json!(1_700_000_000)
        )
    );

    // Undo: refused without credentials, for anything but a lift, without the CSRF token.
    let post = reqwest::Method::POST;
    let unmute = json!({"user": "bob", "action": "unmute"});
    let (s, _) = env
        .send(
            post.clone(),
            "/api/moderation/undo",
            None,
            Some(unmute.clone()),
        )
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let (s, e) = env
        .send(
            post.clone(),
            "/api/moderation/undo",
            Some(&token),
            Some(json!({"user": "bob", "action": "ban"})),
        )
        .await;
    assert_eq!(
        (s, e["error"].as_str().unwrap()),
        (
            StatusCode::BAD_REQUEST,
            "field `action`: expected one of unmute, unban, got `ban`"
        )
    );
    let from_page = |csrf: Option<&str>| {
        let mut req = env
            .http
            .post(env.url("/ui/moderation/undo"))
            .header("cookie", &session);
        if let Some(c) = csrf {
            req = req.header("x-csrf-token", c);
        }
        req.json(&unmute).send()
    };
    assert_eq!(
        from_page(None).await.unwrap().status(),
        StatusCode::FORBIDDEN
    );
    // From the page, with the CSRF token: the bot is asked to unmute and its answer shown.
    let mut asked = env.bus.subscribe("rosey.commands.>").await.unwrap();
    let bot = async {
        let answer = json!({"success": true, "message": "Unmuted bob"});
        let req = act_as_bot(&env.bus, &mut asked, subjects::COMMAND_MODERATE, answer).await;
        assert_eq!(
            (&req["action"], &req["user"]),
            (&json!("unmute"), &json!("bob"))
        );
    };
    let (r, ()) = tokio::join!(from_page(Some(&csrf)), bot);
    let r = r.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        r.json::<Value>().await.unwrap(),
        json!({"success": true, "message": "Unmuted bob"})
    );
    asked.unsubscribe().await;

    drop(stream);
    // A dashboard started later takes the decision from the history.
    rosey_testkit::eventually("the decision stored", TIMEOUT, || async {
        let log = env
            .request(
                subjects::QUERY_MODERATION_LOG,
                json!({"channel": CH, "limit": 5}),
            )
            .await;
        log["actions"]
            .as_array()
            .is_some_and(|a| !a.is_empty())
            .then_some(())
    })
    .await;
    let cfg = WebConfig::new("127.0.0.1:0".parse().unwrap(), vec![CH.to_string()]);
    let later = rosey_web::start(env.bus.clone(), cfg).await.unwrap();
    let base = format!("http://{}", later.addr());
    let (session, _) = rosey_testkit::browser::login(&env.http, &base, &token).await;
    let mut stream = moderation_stream(&env.http, &base, &session).await;
    let log = next_frame(&mut stream, &mut String::new(), "log").await;
    let users: Vec<&str> = log["actions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["username"].as_str().unwrap())
        .collect();
    assert_eq!(users, ["bob"]);
    drop(stream);
    later.shutdown().await;
    env.stop().await;
}

// ---- the v0.5 API, replayed as its clients call it ----------------------------------

/// Whether `actual` has the key structure of `expected` (SPEC §9): every expected key is
/// there (extra keys are fine) with a value of the named type — `"int"`, `"str"`,
/// `"bool"`, `"int?"` / `"str?"` (or null), `"object"` (any object) — objects compared
/// key by key, and every element of an array compared with the one element of the
/// expected array (which must not be empty, so the elements are really checked).
fn check_shape(path: &str, actual: &Value, expected: &Value) -> Vec<String> {
    let mut wrong = Vec::new();
    match expected {
        Value::String(t) => {
            let ok = match t.as_str() {
                "int" => actual.is_i64(),
                "str" => actual.is_string(),
                "bool" => actual.is_boolean(),
                "int?" => actual.is_i64() || actual.is_null(),
                "str?" => actual.is_string() || actual.is_null(),
                "object" => actual.is_object(),
                other => panic!("unknown type {other}"),
            };
            if !ok {
                wrong.push(format!("{path}: expected {t}, got {actual}"));
            }
        }
        Value::Object(keys) => match actual.as_object() {
            None => wrong.push(format!("{path}: expected an object, got {actual}")),
            Some(a) => {
                for (k, v) in keys {
                    match a.get(k) {
                        None => wrong.push(format!("{path}.{k}: missing")),
                        Some(x) => wrong.extend(check_shape(&format!("{path}.{k}"), x, v)),
                    }
                }
            }
        },
        Value::Array(one) => match actual.as_array() {
            None => wrong.push(format!("{path}: expected an array, got {actual}")),
            Some(items) if items.is_empty() => wrong.push(format!("{path}: empty")),
            Some(items) => {
                for (i, x) in items.iter().enumerate() {
                    wrong.extend(check_shape(&format!("{path}[{i}]"), x, &one[0]));
                }
            }
        },
        _ => panic!("bad expected shape at {path}"),
    }
    wrong
}

#[track_caller]
fn assert_shape(call: &str, actual: &Value, expected: Value) {
    let wrong = check_shape(call, actual, &expected);
    assert!(wrong.is_empty(), "{call}: {wrong:#?}\n{actual:#}");
}

/// Every call of SPEC §9 as a v0.5 script makes it: the path, the status code and the key
/// structure of the reply (the expected structures are §9's, written out here).
#[tokio::test]
async fn a_v05_client_replayed_gets_the_v05_shapes() {
    let env = start_seeded().await;
    // A line older than the 20 minutes of `/api/current`, and a message longer than the
    // 100 characters of `message_preview`.
    env.publish(
        subjects::MESSAGE_LOG,
        json!({"username": "bob", "message": "an old line", "channel": CH,
               "ts": rosey_web::hub::now() - 3600.0}),
    )
    .await;
    env.db.flush().await.unwrap();
    let admin = env.token(true).await;
    let api = env.token(false).await;
    let post = reqwest::Method::POST;

    let (s, v) = env.get("/api/stats").await;
    assert_eq!(s, StatusCode::OK);
    assert_shape(
        "GET /api/stats",
        &v,
        json!({"high_water_marks": {"chat": {"count": "int", "timestamp": "int?"},
                                    "connected": {"count": "int", "timestamp": "int?"}},
               "total_users_seen": "int",
               "top_chatters": [{"username": "str", "messages": "int"}]}),
    );
    assert!(v["top_chatters"].as_array().unwrap().len() <= 10);

    let (s, v) = env.get("/api/history/24").await;
    assert_eq!(s, StatusCode::OK);
    let history = json!({"hours": "int", "data": [{"timestamp": "int", "chat_users": "int", "connected_users": "int"}]});
    assert_shape("GET /api/history/24", &v, history.clone());
    let stamps: Vec<i64> = v["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["timestamp"].as_i64().unwrap())
        .collect();
    assert!(stamps.is_sorted(), "oldest first: {stamps:?}");
    let (s, v) = env.get("/api/history/1000").await;
    assert_eq!((s, &v["hours"]), (StatusCode::OK, &json!(168)), "capped");
    assert_shape("GET /api/history/1000", &v, history);
    let (s, v) = env.get("/api/history/week").await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert_shape("GET /api/history/week", &v, json!({"error": "str"}));

    let (s, v) = env.get("/api/user/alice").await;
    assert_eq!(s, StatusCode::OK);
    assert_shape(
        "GET /api/user/alice",
        &v,
        json!({"username": "str", "first_seen": "int", "last_seen": "int",
               "total_chat_lines": "int", "total_time_connected": "int",
               "current_session_start": "int?"}),
    );
    let (s, v) = env.get("/api/user/nobody").await;
    assert_eq!(
        (s, v),
        (StatusCode::NOT_FOUND, json!({"error": "User not found"}))
    );

    let (s, v) = env.get("/api/current").await;
    assert_eq!(s, StatusCode::OK);
    assert_shape(
        "GET /api/current",
        &v,
        json!({"status": {"bot_name": "str?", "bot_connected": "bool", "playlist_items": "int",
                          "current_media_title": "str?", "current_chat_users": "int",
                          "current_connected_users": "int", "last_updated": "int?"},
               "recent_chat": [{"timestamp": "int", "username": "str", "message": "str"}]}),
    );
    let recent: Vec<&str> = v["recent_chat"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["message"].as_str().unwrap())
        .collect();
    assert!(
        !recent.contains(&"an old line"),
        "only the last 20 minutes: {recent:?}"
    );
    assert_eq!(recent.len(), 4, "{recent:?}");

    // POST /api/say
    let long = "x".repeat(150);
    let (s, v) = env.say(Some(&api), json!({"message": long})).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_shape("POST /api/say", &v, json!({"queued": "bool", "id": "int"}));
    assert_eq!(v["queued"], true);
    let (s, v) = env.say(None, json!({"message": "hi"})).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    assert_shape("POST /api/say (no token)", &v, json!({"error": "str"}));
    let (s, v) = env.say(Some(&api), json!({"text": "hi"})).await;
    assert_eq!(
        (s, v),
        (StatusCode::BAD_REQUEST, json!({"error": "Missing message"}))
    );
    let (s, v) = env.say(Some(&api), json!({"message": " \t "})).await;
    assert_eq!(
        (s, v),
        (StatusCode::BAD_REQUEST, json!({"error": "Empty message"}))
    );

    let (s, v) = env.get("/api/outbound/recent?limit=5").await;
    assert_eq!(s, StatusCode::OK);
    assert_shape(
        "GET /api/outbound/recent",
        &v,
        json!({"messages": [{"id": "int", "timestamp": "int", "message": "str", "sent": "bool",
                             "sent_timestamp": "int?", "retry_count": "int", "last_error": "str?",
                             "message_preview": "str", "status": "str"}]}),
    );
    let row = &v["messages"][0];
    assert_eq!(row["status"], "queued");
    assert_eq!(row["message_preview"], format!("{}...", "x".repeat(100)));
    let (s, v) = env.get("/api/outbound/recent?limit=500").await;
    assert_eq!(s, StatusCode::OK);
    assert!(v["messages"].as_array().unwrap().len() <= 100);

    // Tokens (Rosey: behind an admin token; the shapes are v0.5's).
    let (s, v) = env
        .send(
            post.clone(),
            "/api/tokens",
            Some(&admin),
            Some(json!({"description": "replay"})),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_shape(
        "POST /api/tokens",
        &v,
        json!({"token": "str", "description": "str", "created_at": "int"}),
    );
    let minted = v["token"].as_str().unwrap().to_string();
    let (s, v) = env
        .send(reqwest::Method::GET, "/api/tokens", Some(&admin), None)
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_shape(
        "GET /api/tokens",
        &v,
        json!({"tokens": [{"token_preview": "str", "description": "str?", "created_at": "int",
                           "last_used": "int?", "revoked": "bool"}]}),
    );
    let previews: Vec<&str> = v["tokens"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["token_preview"].as_str().unwrap())
        .collect();
    assert!(
        previews.contains(&format!("{}...", &minted[..8]).as_str()),
        "{previews:?}"
    );
    let del = reqwest::Method::DELETE;
    let path = format!("/api/tokens/{}", &minted[..8]);
    let (s, v) = env.send(del.clone(), &path, Some(&admin), None).await;
    assert_eq!(s, StatusCode::OK);
    assert_shape("DELETE /api/tokens/<prefix>", &v, json!({"revoked": "int"}));
    assert_eq!(v["revoked"], 1);
    let (s, v) = env.send(del, &path, Some(&admin), None).await;
    assert_eq!(
        (s, v),
        (StatusCode::NOT_FOUND, json!({"error": "Token not found"}))
    );
    env.stop().await;
}

/// A state frame that satisfies `want`, awaited (with the stream's timeout).
async fn state_where(
    stream: &mut (impl futures::Stream<Item = reqwest::Result<bytes::Bytes>> + Unpin),
    buf: &mut String,
    want: impl Fn(&Value) -> bool,
) -> Value {
    let wait = async {
        loop {
            let s = next_frame(stream, buf, "state").await;
            if want(&s) {
                return s;
            }
        }
    };
    tokio::time::timeout(TIMEOUT, wait)
        .await
        .expect("no such state in time")
}

/// No word from the bot (no status row, no event) for `bot_gone_after`: the page's stream
/// and the API say it is gone, and what only a present bot knows (users, media) is cleared;
/// a new status row brings it back.
#[tokio::test]
async fn a_bot_that_stops_reporting_is_gone() {
    let env = start_cfg(|_| {}, true, |c| c.bot_gone_after = Duration::from_secs(3)).await;
    let (_, live) = env.get("/api/live").await;
    assert_eq!(live["bot_gone"], false, "the status row is fresh: {live}");
    let r = env.http.get(env.url("/events")).send().await.unwrap();
    let mut stream = r.bytes_stream();
    let mut buf = String::new();
    next_frame(&mut stream, &mut buf, "snapshot").await;
    let gone = state_where(&mut stream, &mut buf, |s| s["bot_gone"] == true).await;
    assert_eq!(gone["bot"]["state"], "gone");
    assert_eq!(gone["users"], json!([]), "{gone}");
    assert_eq!(gone["media"], Value::Null);
    let (_, current) = env.get("/api/current").await;
    assert_eq!(current["bot"], "gone");
    assert_eq!(current["status"]["bot_connected"], false, "{current}");
    let (_, live) = env.get("/api/live").await;
    assert_eq!(live["bot_gone"], true);

    // The bot reports again.
    env.publish(
        subjects::STATUS_UPDATE,
        json!({"channel": CH, "status_data": {"bot_name": "Rosey", "bot_connected": true}}),
    )
    .await;
    env.db.flush().await.unwrap();
    let back = state_where(&mut stream, &mut buf, |s| s["bot_gone"] == false).await;
    assert_ne!(back["bot"]["state"], "gone");
    let (_, current) = env.get("/api/current").await;
    assert_eq!(current["status"]["bot_connected"], true);
    env.stop().await;
}

fn event(kind: &str, body: Value) -> Value {
    let mut v = json!({"channel": CH, "ts": rosey_web::hub::now(), "id": format!("{kind}-{}", rosey_web::hub::now()), "kind": kind});
    v.as_object_mut()
        .unwrap()
        .extend(body.as_object().unwrap().clone());
    v
}

/// The playlist as the bot's events tell it, as they come: queue, delete, move, clear (a
/// `playlist` event of no items) — on the stream and in `/api/current`, without waiting for
/// the next status row.
#[tokio::test]
async fn the_page_and_current_follow_playlist_changes() {
    let env = start_seeded().await;
    let r = env.http.get(env.url("/events")).send().await.unwrap();
    let mut stream = r.bytes_stream();
    let mut buf = String::new();
    next_frame(&mut stream, &mut buf, "snapshot").await;
    let bus = &env.bus;
    let send = |kind: &str, body: Value| {
        let subject = subjects::event_subject(CH, kind);
        let v = event(kind, body);
        async move { publish(bus, &subject, v).await }
    };
    send(
        "media_change",
        json!({"title": "Song A", "type": "yt", "media_id": "a", "duration": 100}),
    )
    .await;
    send(
        "playlist_change",
        json!({"action": "playlist", "data": {"count": 2}}),
    )
    .await;
    let s = state_where(&mut stream, &mut buf, |s| s["playlist_items"] == 2).await;
    assert_eq!(s["media"]["title"], "Song A");
    send(
        "playlist_change",
        json!({"action": "queue", "data": {"uid": 9, "title": "Song C"}}),
    )
    .await;
    state_where(&mut stream, &mut buf, |s| s["playlist_items"] == 3).await;
    send(
        "playlist_change",
        json!({"action": "move", "data": {"uid": 9}}),
    )
    .await;
    send(
        "playlist_change",
        json!({"action": "delete", "data": {"uid": 9}}),
    )
    .await;
    state_where(&mut stream, &mut buf, |s| s["playlist_items"] == 2).await;
    let (_, current) = env.get("/api/current").await;
    assert_eq!(current["status"]["playlist_items"], 2, "{current}");
    assert_eq!(current["status"]["current_media_title"], "Song A");

    // Cleared: CyTube sends the empty playlist; nothing plays any more.
    send(
        "playlist_change",
        json!({"action": "playlist", "data": {"count": 0}}),
    )
    .await;
    let s = state_where(&mut stream, &mut buf, |s| s["playlist_items"] == 0).await;
    assert_eq!(s["media"], Value::Null, "{s}");
    let (_, current) = env.get("/api/current").await;
    assert_eq!(current["status"]["playlist_items"], 0, "{current}");
    assert_eq!(current["status"]["current_media_title"], Value::Null);
    env.stop().await;
}

/// CyTube's `[server]` whisper to moderators ("<name> joined (aliases: …)") is not chat:
/// the public stream never carries it.
#[tokio::test]
async fn alias_whispers_never_reach_the_page() {
    let env = start_seeded().await;
    let r = env.http.get(env.url("/events")).send().await.unwrap();
    let mut stream = r.bytes_stream();
    let mut buf = String::new();
    next_frame(&mut stream, &mut buf, "snapshot").await;
    for (user, content) in [
        ("[server]", "carol joined (aliases: carol,carol2)"),
        ("carol", "after the whisper"),
    ] {
        env.publish(
            &subjects::event_subject(CH, "message"),
            event("message", json!({"user": user, "content": content})),
        )
        .await;
    }
    let chat = next_frame(&mut stream, &mut buf, "chat").await;
    assert_eq!(
        chat["message"], "after the whisper",
        "the whisper came first: {chat}"
    );
    env.stop().await;
}
