//! The dashboard in a real headless browser: Debian's chromium driven by playwright-core
//! from `tests/browser/overview.mjs`, against the whole system running for real — a
//! nats-server of this test's own, the devserver, the database service, the bot and the
//! dashboard — plus a small control server through which the script makes devserver
//! clients chat and join, asks how often a line reached the channel, queues a titled item,
//! and at the end stops the bot.
//!
//! The dashboard starts after the bot and alice joined, as `rosey web` started late does:
//! it has seen no `user_list` and must take the users and their ranks from the bot's status.
//!
//! With `ROSEY_WRITE_SCREENSHOTS=1` the script's screenshots go to `docs/` (they are
//! committed and shown in the README); otherwise to a temporary directory.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::extract::State;
use axum::routing::{get, post};
use axum::{Json, Router};
use rosey_bot::{Bot, BotConfig, ChannelSpec};
use rosey_bus::{Bus, NatsOptions};
use rosey_cytube::{ClientConfig, CytubeEvent, CytubeHandle, Login, ServerEvent};
use rosey_dbservice::{DbService, DbServiceConfig};
use rosey_devserver::{DevServer, DevServerConfig};
use rosey_model::subjects;
use rosey_testkit::NatsServer;
use serde_json::{Value, json};

const CH: &str = "lobby";
const BOT: &str = "Rosey";
const BOT_PW: &str = "bot-pw";
const GUEST: &str = "alice";
const SAID_BEFORE: &str = "hello before the page was opened";
const WAIT: Duration = Duration::from_secs(15);
/// The dashboard's `bot_gone_after` here: the page must say `gone` this long (plus a refresh
/// or two) after the bot stopped.
const GONE_AFTER: Duration = Duration::from_secs(3);
/// A raw-file title with a right-to-left override (issue 25 item 10).
const RLO_TITLE: &str = "evil\u{202E}fdp.exe";

/// What the control server shares with its handlers.
struct Control {
    base_url: String,
    alice: CytubeHandle,
    /// Lines alice saw in the channel, by text (how often each arrived).
    seen: Arc<Mutex<HashMap<String, usize>>>,
    /// Guests who joined on request, kept connected for the test.
    guests: Mutex<Vec<CytubeHandle>>,
    /// The devserver, for its playlist (taken back at the end to shut it down).
    server: Mutex<Option<DevServer>>,
    /// The bot and its status service, until the script stops them.
    bot: tokio::sync::Mutex<Option<(Bot, async_nats::service::Service)>>,
}

fn client(base_url: &str, login: Login) -> ClientConfig {
    let mut c = ClientConfig::new(base_url, CH, login);
    c.backoff.base = Duration::from_millis(50);
    c.backoff.cap = Duration::from_millis(500);
    c
}

fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

async fn control_server(control: Arc<Control>) -> String {
    let app = Router::new()
        .route(
            "/state",
            get(|| async {
                Json(json!({"users": [BOT, GUEST], "said": SAID_BEFORE,
                            "ranks": {BOT: "channel admin", GUEST: "guest"},
                            "rlo_title": RLO_TITLE, "gone_ms": GONE_AFTER.as_millis() as u64}))
            }),
        )
        .route(
            "/queue-titled",
            post(|State(c): State<Arc<Control>>| async move {
                // Raw files take a title; adding them needs rank 2.
                if let Some(s) = c.server.lock().unwrap().as_ref() {
                    s.set_rank(CH, GUEST, 2.0);
                }
                let mut q = rosey_cytube::QueueRequest::new(
                    "https://example.com/media/evil.mp4",
                    "fi",
                    rosey_cytube::QueuePosition::End,
                );
                q.title = Some(RLO_TITLE.to_string());
                c.alice.queue(q).unwrap();
                Json(json!({"ok": true}))
            }),
        )
        .route(
            "/stop-bot",
            post(|State(c): State<Arc<Control>>| async move {
                if let Some((bot, status)) = c.bot.lock().await.take() {
                    let _ = status.stop().await;
                    bot.shutdown().await;
                }
                Json(json!({"ok": true}))
            }),
        )
        .route(
            "/chat",
            post(
                |State(c): State<Arc<Control>>, Json(b): Json<Value>| async move {
                    c.alice
                        .chat(b["text"].as_str().unwrap_or_default())
                        .unwrap();
                    Json(json!({"ok": true}))
                },
            ),
        )
        .route(
            "/join",
            post(
                |State(c): State<Arc<Control>>, Json(b): Json<Value>| async move {
                    let name = b["name"].as_str().unwrap_or("guest").to_string();
                    let (handle, mut events) =
                        rosey_cytube::connect(client(&c.base_url, Login::Guest(name.clone())));
                    tokio::spawn(async move { while events.recv().await.is_some() {} });
                    c.guests.lock().unwrap().push(handle);
                    Json(json!({"ok": true}))
                },
            ),
        )
        .route(
            "/seen",
            post(
                |State(c): State<Arc<Control>>, Json(b): Json<Value>| async move {
                    let text = b["text"].as_str().unwrap_or_default();
                    let count = c.seen.lock().unwrap().get(text).copied().unwrap_or(0);
                    Json(json!({"count": count}))
                },
            ),
        )
        .route(
            "/playlist",
            get(|State(c): State<Arc<Control>>| async move {
                let guard = c.server.lock().unwrap();
                let items: Vec<Value> = guard
                    .as_ref()
                    .map(|s| s.playlist(CH))
                    .unwrap_or_default()
                    .into_iter()
                    .map(|i| json!({"id": i.id, "type": i.kind, "title": i.title}))
                    .collect();
                Json(json!({"items": items}))
            }),
        )
        .with_state(control);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_works_in_a_real_browser() {
    if !rosey_testkit::browser::ready() {
        return;
    }
    let nats = NatsServer::start();
    let bus = Bus::connect(NatsOptions::new(nats.url())).await.unwrap();
    let mut server_cfg = DevServerConfig::default().with_account(BOT, BOT_PW, 3.0);
    server_cfg.guest_login_delay = Duration::ZERO;
    let server = DevServer::start(server_cfg).await.unwrap();
    let base_url = server.base_url();
    let tmp = tempfile::tempdir().unwrap();
    let db = DbService::start(
        bus.clone(),
        DbServiceConfig::new(tmp.path().join("web.db"), CH),
    )
    .await
    .unwrap();

    // History for the chart: four samples over the last hour.
    let t = now();
    for (i, n) in [1, 3, 2, 4].iter().enumerate() {
        let body = json!({"chat_count": n, "connected_count": n + 2, "channel": CH,
                          "ts": t - 3000.0 + 700.0 * i as f64});
        bus.publish(
            subjects::STATS_USER_COUNT,
            serde_json::to_vec(&body).unwrap(),
        )
        .await
        .unwrap();
    }
    db.flush().await.unwrap();

    let mut connection = bus
        .subscribe(&subjects::event_subject(CH, "connection"))
        .await
        .unwrap();
    let mut cfg = BotConfig::new(vec![ChannelSpec::cytube(
        CH,
        CH,
        client(
            &base_url,
            Login::Registered {
                name: BOT.into(),
                password: BOT_PW.into(),
            },
        ),
    )]);
    cfg.intervals.pump = Duration::from_millis(200);
    let bot = Bot::start(bus.clone(), cfg);
    // The bot's status service, as `rosey bot` serves it: the page's connection state and
    // "Up next" come from it.
    let status = rosey_bot::status::serve(
        bus.nats_client().unwrap(),
        bot.metrics_source(),
        env!("CARGO_PKG_VERSION"),
        "test",
    )
    .await
    .unwrap();
    tokio::time::timeout(WAIT, async {
        while let Some(m) = connection.next().await {
            let v: Value = serde_json::from_slice(&m.payload).unwrap();
            if v["state"] == "joined" {
                return;
            }
        }
    })
    .await
    .expect("the bot joins");

    // alice: talks when told, and counts what reaches the channel.
    let (alice, mut events) = rosey_cytube::connect(client(&base_url, Login::Guest(GUEST.into())));
    let seen: Arc<Mutex<HashMap<String, usize>>> = Arc::default();
    let (joined_tx, joined_rx) = tokio::sync::oneshot::channel();
    let counter = seen.clone();
    let arrived = Arc::new(tokio::sync::Notify::new());
    let notify = arrived.clone();
    tokio::spawn(async move {
        let mut joined = Some(joined_tx);
        while let Some(e) = events.recv().await {
            match e {
                CytubeEvent::Joined { .. } => {
                    if let Some(tx) = joined.take() {
                        let _ = tx.send(());
                    }
                }
                CytubeEvent::Server(ServerEvent::ChatMsg(m)) if !m.history => {
                    *counter.lock().unwrap().entry(m.text.clone()).or_default() += 1;
                    notify.notify_waiters();
                }
                _ => {}
            }
        }
    });
    tokio::time::timeout(WAIT, joined_rx)
        .await
        .expect("alice joins")
        .unwrap();
    alice.chat(SAID_BEFORE).unwrap();
    let said = async {
        loop {
            let next = arrived.notified();
            if seen.lock().unwrap().contains_key(SAID_BEFORE) {
                return;
            }
            next.await;
        }
    };
    tokio::time::timeout(WAIT, said)
        .await
        .expect("alice's line reaches the channel");

    // The dashboard last: everyone is in the channel before it starts.
    let web_bus = Bus::connect(NatsOptions::new(nats.url())).await.unwrap();
    let mut web_cfg =
        rosey_web::WebConfig::new("127.0.0.1:0".parse().unwrap(), vec![CH.to_string()]);
    web_cfg.refresh = Duration::from_millis(500);
    web_cfg.bot_gone_after = GONE_AFTER;
    let web = rosey_web::start(web_bus, web_cfg).await.unwrap();

    let control = Arc::new(Control {
        base_url: base_url.clone(),
        alice,
        seen,
        guests: Mutex::new(Vec::new()),
        server: Mutex::new(Some(server)),
        bot: tokio::sync::Mutex::new(Some((bot, status))),
    });
    let ctl_url = control_server(control.clone()).await;
    let token: Value = serde_json::from_slice(
        &bus.request(
            subjects::TOKENS_CREATE,
            serde_json::to_vec(&json!({"description": "browser test"})).unwrap(),
            WAIT,
        )
        .await
        .unwrap()
        .payload,
    )
    .unwrap();

    let crate_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let shots = if std::env::var("ROSEY_WRITE_SCREENSHOTS").is_ok_and(|v| v == "1") {
        crate_dir.join("../../docs")
    } else {
        tmp.path().to_path_buf()
    };
    let stdout = rosey_testkit::browser::run(
        "overview.mjs",
        &[
            ("DASH_URL", web.url()),
            ("CTL_URL", ctl_url.clone()),
            ("TOKEN", token["token"].as_str().unwrap().to_string()),
            ("SHOT_DIR", shots.display().to_string()),
        ],
        Duration::from_secs(120),
    )
    .await;
    assert!(stdout.contains("ok - say from the page reached the channel exactly once"));
    assert!(stdout.contains("ok - add from the page put the URL on the playlist once"));
    assert!(stdout.contains("ok - skip from the page moved on"));
    assert!(stdout.contains("ok - ranks of users present before the dashboard started"));
    assert!(stdout.contains("ok - no alias whisper on the page"));
    assert!(stdout.contains("ok - the token form is hidden after login"));
    assert!(stdout.contains("ok - say, add and skip are disabled before login"));
    assert!(stdout.contains("ok - a right-to-left override stays inside its title"));
    assert!(stdout.contains("ok - the bot stopping turns the status to gone"));

    web.shutdown().await;
    if let Some((bot, status)) = control.bot.lock().await.take() {
        let _ = status.stop().await;
        bot.shutdown().await;
    }
    db.shutdown().await.unwrap();
    for g in control.guests.lock().unwrap().drain(..) {
        drop(g);
    }
    let server = control.server.lock().unwrap().take().unwrap();
    server.shutdown().await;
}
