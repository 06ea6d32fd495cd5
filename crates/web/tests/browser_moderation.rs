//! The Moderation panel in a real browser (issue 27), against the whole system running for
//! real: a nats-server of this test's own, the devserver, the database service, the bot, the
//! automated moderator and the dashboard, driven by `tests/browser/moderation.mjs` in
//! Debian's chromium through playwright-core, plus a small control server through which the
//! script makes guests flood or say a banned word and asks the devserver who is muted or
//! banned.
//!
//! The panel shows a decision taken before the dashboard started (from the history) and new
//! ones live, to a logged-in moderator only; "Unmute" and "Unban" lift them through the bot
//! and show the server's words. The lifts are checked at the devserver, by the script and
//! here again.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Query, State};
use axum::routing::{get, post};
use axum::{Json, Router};
use rosey_bot::{Bot, BotConfig, ChannelSpec};
use rosey_cytube::{CytubeHandle, Login};
use rosey_devserver::DevServerConfig;
use rosey_model::payload::ModerationLogReply;
use rosey_model::{decode, encode, subjects};
use rosey_moderator::Moderator;
use rosey_testkit::cytube::{BOT, BOT_PW, Services, bot_login, client_config, join};
use rosey_testkit::eventually;
use serde_json::{Value, json};

const CH: &str = "modpanel";
const WAIT: Duration = Duration::from_secs(15);
/// Flooding: more than this many lines within the rule's 30 s.
const FLOOD_LINES: usize = 3;
const BANNED_WORD: &str = "casino";

/// What the control server shares with its handlers.
struct Control {
    services: Services,
    /// Guests who joined on request, kept connected for the test.
    guests: tokio::sync::Mutex<Vec<CytubeHandle>>,
}

impl Control {
    /// `name` joins as a guest and says `lines`, each confirmed by the server.
    async fn say(&self, name: &str, lines: &[String]) {
        let (handle, mut events) = join(&self.services.server, CH, Login::Guest(name.into())).await;
        tokio::spawn(async move { while events.recv().await.is_some() {} });
        for line in lines {
            handle.chat_confirmed(line).await.unwrap();
        }
        self.guests.lock().await.push(handle);
    }

    /// A flood: one line more than the rule allows.
    async fn flood(&self, name: &str) {
        let lines: Vec<String> = (0..=FLOOD_LINES)
            .map(|i| format!("{name} says line {i}"))
            .collect();
        self.say(name, &lines).await;
    }

    /// Waits until the moderation log (as the database service has it) holds `row`
    /// ("user step outcome").
    async fn decided(&self, row: &str) {
        eventually(&format!("`{row}` in the moderation log"), WAIT, || async {
            let reply = self
                .services
                .bus
                .request(
                    subjects::QUERY_MODERATION_LOG,
                    encode(&json!({"channel": CH, "limit": 50})),
                    WAIT,
                )
                .await
                .unwrap();
            decode::<ModerationLogReply>(&reply.payload)
                .unwrap()
                .actions
                .iter()
                .any(|r| format!("{} {} {}", r.username, r.step, r.outcome) == row)
                .then_some(())
        })
        .await
    }

    /// What the devserver says of `name`.
    fn user(&self, name: &str) -> Value {
        let server = &self.services.server;
        let user = server.users(CH).into_iter().find(|u| u.name == name);
        json!({
            "present": user.is_some(),
            "muted": user.as_ref().is_some_and(|u| u.muted),
            "banned": server.bans(CH).iter().any(|b| b.name == name.to_lowercase()),
        })
    }
}

async fn control_server(control: Arc<Control>) -> String {
    let app = Router::new()
        .route(
            "/flood",
            post(
                |State(c): State<Arc<Control>>, Json(b): Json<Value>| async move {
                    c.flood(b["name"].as_str().unwrap_or("flooder")).await;
                    Json(json!({"ok": true}))
                },
            ),
        )
        .route(
            "/banned-word",
            post(
                |State(c): State<Arc<Control>>, Json(b): Json<Value>| async move {
                    let line = format!("best {BANNED_WORD} in town");
                    c.say(b["name"].as_str().unwrap_or("caster"), &[line]).await;
                    Json(json!({"ok": true}))
                },
            ),
        )
        .route(
            "/user",
            get(
                |State(c): State<Arc<Control>>,
                 Query(q): Query<std::collections::HashMap<String, String>>| async move {
                    Json(c.user(q.get("name").map_or("", String::as_str)))
                },
            ),
        )
        .with_state(control);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}")
}

/// Everything running: the bot in the channel, the moderator following it, a decision taken
/// (early's mute) and stored before the dashboard started, the dashboard, an API token.
struct Rig {
    control: Arc<Control>,
    bot: Bot,
    moderator: Moderator,
    web: rosey_web::WebHandle,
    token: String,
}

async fn rig() -> Rig {
    let services = Services::start(
        DevServerConfig::default().with_account(BOT, BOT_PW, 3.0),
        CH,
    )
    .await;
    let spec = ChannelSpec::cytube(CH, CH, client_config(&services.server, CH, bot_login()));
    let bot = Bot::start(services.bus.clone(), BotConfig::new(vec![spec]));
    assert!(services.server.wait_for_user(CH, BOT, WAIT).await);
    let rules = json!({
        "enabled": true,
        "lift_interval": 0.2,
        "defaults": {"new_users": {"minutes": 0, "factor": 1}},
        "channels": {CH: {
            "ladder": ["mute 10m"],
            "flood": {"lines": FLOOD_LINES, "seconds": 30},
            "words": {"words": [BANNED_WORD], "ladder": ["ban 1h"]},
        }},
    });
    let moderator = Moderator::start(
        services.bus.nats_client().unwrap().clone(),
        serde_json::from_value(rules).unwrap(),
        None,
    )
    .await
    .unwrap();
    let control = Arc::new(Control {
        services,
        guests: tokio::sync::Mutex::new(Vec::new()),
    });

    // A decision before the dashboard starts: the panel must take it from the history.
    control.flood("early").await;
    control.decided("early mute 10m done").await;

    let mut web_cfg =
        rosey_web::WebConfig::new("127.0.0.1:0".parse().unwrap(), vec![CH.to_string()]);
    web_cfg.refresh = Duration::from_millis(500);
    let web = rosey_web::start(control.services.bus.clone(), web_cfg)
        .await
        .unwrap();
    let token: Value = serde_json::from_slice(
        &control
            .services
            .bus
            .request(
                subjects::TOKENS_CREATE,
                encode(&json!({"description": "moderation test"})),
                WAIT,
            )
            .await
            .unwrap()
            .payload,
    )
    .unwrap();
    Rig {
        control,
        bot,
        moderator,
        web,
        token: token["token"].as_str().unwrap().to_string(),
    }
}

impl Rig {
    async fn stop(self) {
        self.web.shutdown().await;
        self.moderator.stop();
        self.bot.shutdown().await;
        self.control.guests.lock().await.clear();
    }
}

/// The whole path without a browser (so it runs wherever the bot rigs run): a flood is
/// muted and a banned word banned by the moderator; `POST /api/moderation/undo` lifts each
/// through the bot, answered in the server's words, and the devserver has them lifted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn undo_over_the_api_lifts_the_moderators_mute_and_ban_at_the_server() {
    let rig = rig().await;
    let c = &rig.control;
    c.flood("spammer").await;
    c.decided("spammer mute 10m done").await;
    assert_eq!(c.user("spammer")["muted"], json!(true));
    c.say("caster", &[format!("best {BANNED_WORD} in town")])
        .await;
    c.decided("caster ban 1h done").await;
    assert_eq!(c.user("caster")["banned"], json!(true));
    let http = reqwest::Client::new();
    for (user, action, words) in [
        ("spammer", "unmute", "Unmuted spammer"),
        ("caster", "unban", "Unbanned caster"),
    ] {
        let r = http
            .post(format!("{}api/moderation/undo", rig.web.url()))
            .header("X-API-Token", &rig.token)
            .json(&json!({"user": user, "action": action}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), reqwest::StatusCode::OK);
        assert_eq!(
            r.json::<Value>().await.unwrap(),
            json!({"success": true, "message": words})
        );
    }
    assert_eq!(
        c.user("spammer"),
        json!({"present": true, "muted": false, "banned": false})
    );
    assert_eq!(c.user("caster")["banned"], json!(false));
    rig.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_moderation_panel_shows_decisions_live_and_undoes_them() {
    if !rosey_testkit::browser::ready() {
        return;
    }
    let rig = rig().await;
    let control = rig.control.clone();
    let ctl_url = control_server(control.clone()).await;

    let stdout = rosey_testkit::browser::run(
        "moderation.mjs",
        &[
            ("DASH_URL", rig.web.url()),
            ("CTL_URL", ctl_url),
            ("TOKEN", rig.token.clone()),
        ],
        Duration::from_secs(120),
    )
    .await;
    for check in [
        "ok - nothing of the moderation log before login",
        "ok - the history shows early",
        "ok - a mute appeared live",
        "ok - an undo without the CSRF token is refused",
        "ok - Unmute lifted the mute",
        "ok - a ban appeared live",
        "ok - Unban lifted the ban",
    ] {
        assert!(stdout.contains(check), "missing `{check}`:\n{stdout}");
    }
    // The lifts, at the devserver itself.
    assert_eq!(
        control.user("spammer"),
        json!({"present": true, "muted": false, "banned": false})
    );
    assert_eq!(control.user("caster")["banned"], json!(false));

    rig.stop().await;
}
