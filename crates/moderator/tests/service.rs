//! The moderator service against a real nats-server: chat events in, the bot's `moderate`
//! and `pm` commands out (answered here by a small stand-in for the bot), every decision
//! recorded on `rosey.db.moderation.action`, timed steps lifted from the key-value bucket
//! even across a restart, reloads and state over the bus.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;
use rosey_config::moderation::ModerationConfig;
use rosey_model::payload::{CommandReply, ModerationAction};
use rosey_model::{EventBody, NormalizedEvent, UserData, encode, subjects};
use rosey_moderator::{Moderator, Reloader};
use rosey_testkit::{NatsServer, eventually};
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(10);

/// A command the stand-in bot received: (channel, action, payload).
type Seen = Arc<Mutex<Vec<(String, String, Value)>>>;

struct Env {
    _nats: NatsServer,
    client: async_nats::Client,
    commands: Seen,
    records: Arc<Mutex<Vec<ModerationAction>>>,
    next_id: std::sync::atomic::AtomicU64,
}

impl Env {
    /// A server, a stand-in bot that answers every command (`unsupported` actions with the
    /// bot's "not supported on this platform"), and a collector of the records.
    async fn start(unsupported: &'static [&'static str]) -> Env {
        let nats = NatsServer::start();
        let client = async_nats::connect(nats.url()).await.unwrap();
        let commands: Seen = Arc::default();
        let mut sub = client.subscribe("rosey.commands.>").await.unwrap();
        let (c, seen) = (client.clone(), Arc::clone(&commands));
        tokio::spawn(async move {
            while let Some(m) = sub.next().await {
                let parts: Vec<&str> = m.subject.split('.').collect();
                let (channel, action) = (parts[2].to_string(), parts[3].to_string());
                let body: Value = serde_json::from_slice(&m.payload).unwrap_or(Value::Null);
                let what = body["action"].as_str().unwrap_or(&action).to_string();
                let reply = if unsupported.contains(&what.as_str()) {
                    CommandReply {
                        success: false,
                        error: Some(format!("{what}: not supported on this platform")),
                        message: None,
                    }
                } else {
                    CommandReply {
                        success: true,
                        error: None,
                        message: Some(format!(
                            "server: {what} {}",
                            body["user"].as_str().or(body["to"].as_str()).unwrap_or("?")
                        )),
                    }
                };
                seen.lock().unwrap().push((channel, action, body));
                if let Some(to) = m.reply {
                    let _ = c.publish(to, encode(&reply).into()).await;
                }
            }
        });
        let records: Arc<Mutex<Vec<ModerationAction>>> = Arc::default();
        let mut sub = client.subscribe(subjects::MODERATION_ACTION).await.unwrap();
        let r = Arc::clone(&records);
        tokio::spawn(async move {
            while let Some(m) = sub.next().await {
                r.lock()
                    .unwrap()
                    .push(rosey_model::decode(&m.payload).unwrap());
            }
        });
        client.flush().await.unwrap();
        Env {
            _nats: nats,
            client,
            commands,
            records,
            next_id: Default::default(),
        }
    }

    async fn moderator(&self, config: Value) -> Moderator {
        self.moderator_with(config, None).await
    }

    async fn moderator_with(&self, config: Value, reloader: Option<Reloader>) -> Moderator {
        let cfg: ModerationConfig = serde_json::from_value(config).unwrap();
        Moderator::start(self.client.clone(), cfg, reloader)
            .await
            .unwrap()
    }

    async fn event(&self, channel: &str, body: EventBody) {
        let id = self
            .next_id
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let e = NormalizedEvent {
            channel: channel.into(),
            ts: rosey_moderator::service::now(),
            id: format!("e{id}"),
            body,
        };
        self.client
            .publish(e.subject(), encode(&e).into())
            .await
            .unwrap();
    }

    async fn users(&self, channel: &str, users: &[(&str, f64)]) {
        let users: Vec<UserData> = users
            .iter()
            .map(|(n, r)| UserData {
                username: n.to_string(),
                rank: *r,
                is_afk: false,
                is_moderator: *r >= 2.0,
                meta: Value::Null,
            })
            .collect();
        let count = users.len();
        self.event(channel, EventBody::UserList { users, count })
            .await;
    }

    async fn say(&self, channel: &str, user: &str, text: &str) {
        self.event(
            channel,
            EventBody::Message {
                user: user.into(),
                content: text.into(),
                history: false,
                platform_data: Value::Null,
            },
        )
        .await;
    }

    /// Waits until at least `n` commands arrived; returns them all.
    async fn commands(&self, n: usize) -> Vec<(String, String, Value)> {
        eventually(&format!("{n} bot commands"), WAIT, || async {
            let c = self.commands.lock().unwrap().clone();
            (c.len() >= n).then_some(c)
        })
        .await
    }

    async fn records(&self, n: usize) -> Vec<ModerationAction> {
        eventually(&format!("{n} moderation records"), WAIT, || async {
            let r = self.records.lock().unwrap().clone();
            (r.len() >= n).then_some(r)
        })
        .await
    }
}

fn steps(commands: &[(String, String, Value)]) -> Vec<String> {
    commands
        .iter()
        .map(|(_, action, body)| match action.as_str() {
            "pm" => format!("pm {}", body["to"].as_str().unwrap()),
            _ => format!(
                "{} {}{}",
                body["action"].as_str().unwrap(),
                body["user"].as_str().unwrap(),
                body["seconds"]
                    .as_u64()
                    .map(|s| format!(" {s}s"))
                    .unwrap_or_default()
            ),
        })
        .collect()
}

fn flood_config(extra: Value) -> Value {
    let mut chan = json!({"flood": {"lines": 3, "seconds": 10},
                          "ladder": ["warn", "smute 1h", "kick"]});
    if let (Some(c), Some(e)) = (chan.as_object_mut(), extra.as_object()) {
        for (k, v) in e {
            c.insert(k.clone(), v.clone());
        }
    }
    json!({"enabled": true, "lift_interval": 0.1, "channels": {"room": chan}})
}

#[tokio::test]
async fn a_flooder_climbs_the_ladder_and_every_step_is_recorded() {
    let env = Env::start(&[]).await;
    let m = env.moderator(flood_config(json!({}))).await;
    env.users("room", &[("spammer", 0.0), ("calm", 0.0)]).await;
    env.say("room", "calm", "hello all").await;
    for round in 1..=3 {
        for i in 0..4 {
            env.say("room", "spammer", &format!("spam {round} {i}"))
                .await;
        }
        env.commands(round).await;
    }
    let c = env.commands(3).await;
    assert_eq!(
        steps(&c),
        ["pm spammer", "smute spammer 3600s", "kick spammer"]
    );
    assert!(c[0].2["message"].as_str().unwrap().contains("spammer"));
    assert_eq!(c[1].2["by"], "automod");
    let r = env.records(3).await;
    let summary: Vec<(String, String, String)> = r
        .iter()
        .map(|a| (a.rule.clone(), a.step.clone(), a.outcome.clone()))
        .collect();
    assert_eq!(
        summary,
        [
            ("flood".into(), "warn".into(), "done".into()),
            ("flood".into(), "smute 1h".into(), "done".into()),
            ("flood".into(), "kick".into(), "done".into()),
        ]
    );
    assert_eq!(r[2].answer, "server: kick spammer");
    assert_eq!(r[2].channel.as_deref(), Some("room"));
    assert!(r[2].evidence.starts_with("spam 3"), "{:?}", r[2]);
    assert_eq!(m.metrics().count("flood", "kick", "done"), 1);
    assert_eq!(m.metrics().count("flood", "warn", "done"), 1);
}

#[tokio::test]
async fn moderators_and_listed_users_are_never_touched() {
    let env = Env::start(&[]).await;
    let _m = env
        .moderator(flood_config(json!({"exempt": ["Buddy"]})))
        .await;
    env.users("room", &[("boss", 3.0), ("buddy", 0.0), ("sentinel", 0.0)])
        .await;
    for i in 0..20 {
        env.say("room", "boss", &format!("BOSS SPEAKING LOUDLY NOW {i}"))
            .await;
        env.say("room", "buddy", &format!("buddy line {i}")).await;
    }
    // Events are judged in order: once the sentinel is answered, the others were judged.
    for i in 0..4 {
        env.say("room", "sentinel", &format!("s {i}")).await;
    }
    let c = env.commands(1).await;
    assert_eq!(steps(&c), ["pm sentinel"]);
}

#[tokio::test]
async fn dry_run_acts_on_nothing_and_records_every_decision() {
    let env = Env::start(&[]).await;
    let mut cfg = flood_config(json!({}));
    cfg["channels"]["dry"] = json!({"dry_run": true, "flood": {"lines": 3, "seconds": 10}});
    let m = env.moderator(cfg).await;
    for i in 0..12 {
        env.say("dry", "tester", &format!("tuning {i}")).await;
    }
    for i in 0..4 {
        env.say("room", "sentinel", &format!("s {i}")).await;
    }
    let c = env.commands(1).await;
    assert_eq!(steps(&c), ["pm sentinel"], "only the live channel acts");
    let r = env.records(4).await;
    let dry: Vec<&ModerationAction> = r.iter().filter(|a| a.dry_run).collect();
    assert_eq!(dry.len(), 3, "{r:?}");
    assert!(dry.iter().all(|a| a.outcome == "dry_run"));
    assert_eq!(
        dry.iter().map(|a| a.step.as_str()).collect::<Vec<_>>(),
        ["warn", "smute 5m", "kick"],
        "the ladder (the default one here) still climbs, on paper"
    );
    assert_eq!(m.metrics().count("flood", "warn", "dry_run"), 1);
}

#[tokio::test]
async fn an_action_the_platform_lacks_is_skipped_with_a_note() {
    let env = Env::start(&["smute"]).await;
    let _m = env
        .moderator(flood_config(json!({"ladder": ["smute 1h", "kick"]})))
        .await;
    for round in 1..=2 {
        for i in 0..4 {
            env.say("room", "ircguy", &format!("x {round} {i}")).await;
        }
        env.commands(round).await;
    }
    let r = env.records(2).await;
    assert_eq!(r[0].outcome, "skipped");
    assert!(r[0].answer.contains("not supported"), "{:?}", r[0]);
    assert_eq!(
        (r[1].step.as_str(), r[1].outcome.as_str()),
        ("kick", "done")
    );
}

#[tokio::test]
async fn a_timed_mute_is_lifted_when_due_even_after_a_restart() {
    let env = Env::start(&[]).await;
    let cfg = flood_config(json!({"ladder": ["smute 3s"]}));
    let first = env.moderator(cfg.clone()).await;
    for i in 0..4 {
        env.say("room", "loud", &format!("x {i}")).await;
    }
    let c = env.commands(1).await;
    let muted = Instant::now();
    assert_eq!(steps(&c), ["smute loud 3s"]);
    // The pending lift is in the bucket before the service goes away.
    eventually("the pending lift stored", WAIT, || async {
        let r = env.records.lock().unwrap().len();
        (r >= 1).then_some(())
    })
    .await;
    drop(first);
    let _second = env.moderator(cfg).await;
    let c = env.commands(2).await;
    assert_eq!(steps(&c)[1], "unmute loud");
    assert!(
        muted.elapsed() >= Duration::from_millis(2500),
        "lifted after {:?}",
        muted.elapsed()
    );
    let r = env.records(2).await;
    assert_eq!(
        (r[1].rule.as_str(), r[1].outcome.as_str()),
        ("lift", "done")
    );
    assert_eq!(env.commands.lock().unwrap().len(), 2, "lifted once");
}

/// The ladder position is stored, not kept in memory: offence → step 1, the moderator goes
/// away without any shutdown step and a new one starts, next offence → step 2.
#[tokio::test]
async fn a_repeat_offender_climbs_on_after_a_restart() {
    let env = Env::start(&[]).await;
    let cfg = flood_config(json!({}));
    let first = env.moderator(cfg.clone()).await;
    env.users("room", &[("Repeat", 0.0)]).await;
    for i in 0..4 {
        env.say("room", "Repeat", &format!("a {i}")).await;
    }
    assert_eq!(steps(&env.commands(1).await), ["pm Repeat"]);
    env.records(1).await;
    first.stop();
    drop(first);
    let second = env.moderator(cfg).await;
    let state = second
        .handle()
        .state(Some("room"), rosey_moderator::service::now());
    assert_eq!(
        state["channels"][0]["offenders"],
        json!([{"user": "repeat", "offences": 1}]),
        "{state}"
    );
    for i in 0..4 {
        env.say("room", "Repeat", &format!("b {i}")).await;
    }
    let c = env.commands(2).await;
    assert_eq!(steps(&c), ["pm Repeat", "smute Repeat 3600s"]);
    let r = env.records(2).await;
    assert_eq!(r[1].step, "smute 1h");
}

#[tokio::test]
async fn reload_swaps_rules_and_a_broken_file_keeps_the_old_ones() {
    let env = Env::start(&[]).await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.json");
    let write = |moderation: Value| {
        std::fs::write(
            &path,
            serde_json::to_string(&json!({"version": "2.0", "moderation": moderation})).unwrap(),
        )
        .unwrap()
    };
    write(flood_config(json!({})));
    let p = path.clone();
    let reloader: Reloader = Arc::new(move || {
        rosey_config::Config::load(&p)
            .map_err(|e| e.to_string())?
            .moderation_config()
    });
    let cfg = flood_config(json!({}));
    let m = env.moderator_with(cfg, Some(reloader)).await;
    let ask = |subject: &'static str| {
        let client = env.client.clone();
        async move {
            let r = client.request(subject, "{}".into()).await.unwrap();
            serde_json::from_slice::<Value>(&r.payload).unwrap()
        }
    };
    write(json!({"enabled": true, "channels": {"room": {"flood": {"lines": 1}}}}));
    let r = ask(subjects::MODERATION_RELOAD).await;
    assert_eq!(r["success"], false);
    assert!(
        r["error"]
            .as_str()
            .unwrap()
            .contains("moderation.channels.room.flood.lines"),
        "{r}"
    );
    assert_eq!(m.channels(), ["room"]);
    write(json!({"enabled": true, "channels": {"other": {}}}));
    let r = ask(subjects::MODERATION_RELOAD).await;
    assert_eq!(r, json!({"success": true, "channels": ["other"]}));
    assert_eq!(m.channels(), ["other"]);
    // The old channel is no longer moderated, the new one is.
    for i in 0..10 {
        env.say("room", "free", &format!("x {i}")).await;
    }
    for i in 0..7 {
        env.say("other", "caught", &format!("y {i}")).await;
    }
    let c = env.commands(1).await;
    assert_eq!(steps(&c), ["pm caught"]);
    let s = ask(subjects::MODERATION_STATE).await;
    assert_eq!(s["channels"][0]["channel"], "other");
    assert_eq!(s["channels"][0]["offenders"][0]["user"], "caught");
    assert_eq!(
        m.metrics()
            .reloads_failed
            .load(std::sync::atomic::Ordering::Relaxed),
        1
    );
}

#[tokio::test]
async fn ranks_come_from_the_bots_status_when_the_user_list_went_by_earlier() {
    let env = Env::start(&[]).await;
    // The bot joined (and published its user list) before the moderator started: the
    // moderator asks the bot's status for the ranks.
    let mut status = env.client.subscribe(subjects::BOT_STATUS).await.unwrap();
    let c = env.client.clone();
    tokio::spawn(async move {
        while let Some(m) = status.next().await {
            let body = json!({"channels": [{"channel": "room", "users": [
                {"name": "Boss", "rank": 3.0, "afk": false},
                {"name": "sentinel", "rank": 0.0, "afk": false}]}]});
            if let Some(to) = m.reply {
                let _ = c.publish(to, encode(&body).into()).await;
            }
        }
    });
    env.client.flush().await.unwrap();
    let _m = env.moderator(flood_config(json!({}))).await;
    for i in 0..10 {
        env.say("room", "Boss", &format!("boss line {i}")).await;
    }
    for i in 0..4 {
        env.say("room", "sentinel", &format!("s {i}")).await;
    }
    let c = env.commands(1).await;
    assert_eq!(steps(&c), ["pm sentinel"]);
}
