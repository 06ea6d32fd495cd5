//! `rosey moderator` as its own process on a real nats-server, with the database service
//! (in this process) storing its decisions and a stand-in for the bot answering its
//! commands: a timed mute is lifted when due although the moderator was SIGKILLed and
//! started again in between; `rosey moderation log` prints the decisions; SIGHUP reloads
//! the rules, and a broken file keeps the old ones.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;
use rosey_model::payload::CommandReply;
use rosey_model::{EventBody, NormalizedEvent, encode, subjects};
use rosey_testkit::{NatsServer, cytube, eventually};
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(20);

/// A child process killed when the test ends, pass or fail.
struct Proc(Option<Child>);

impl Proc {
    fn kill(&mut self) {
        if let Some(mut c) = self.0.take() {
            let _ = c.kill(); // SIGKILL
            let _ = c.wait();
        }
    }

    fn signal(&self, s: nix::sys::signal::Signal) {
        let pid = self.0.as_ref().unwrap().id();
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), s).unwrap();
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill();
    }
}

fn moderator(config: &Path, extra: &[&str]) -> Proc {
    Proc(Some(
        Command::new(env!("CARGO_BIN_EXE_rosey"))
            .arg("moderator")
            .arg(config)
            .args(extra)
            .env_remove("NATS_URL")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    ))
}

fn write_config(path: &Path, nats: &str, channels: Value) {
    let cfg = json!({
        "version": "2.0",
        "nats": {"url": nats},
        "moderation": {"enabled": true, "lift_interval": 0.2, "channels": channels},
    });
    std::fs::write(path, serde_json::to_string_pretty(&cfg).unwrap()).unwrap();
}

async fn state(client: &async_nats::Client) -> Option<Value> {
    let r = client
        .request(subjects::MODERATION_STATE, "{}".into())
        .await
        .ok()?;
    serde_json::from_slice(&r.payload).ok()
}

fn channels(s: &Value) -> Vec<String> {
    s["channels"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| c["channel"].as_str().unwrap().to_string())
        .collect()
}

/// `rosey moderation log` once it prints at least `rows` rows.
async fn log(nats: &str, rows: usize) -> Option<String> {
    let out = Command::new(env!("CARGO_BIN_EXE_rosey"))
        .args(["moderation", "log", "--channel", "room", "--since", "1h"])
        .args(["--nats-url", nats])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    (out.status.success() && text.lines().count() >= rows).then_some(text)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_moderator_process_lifts_after_a_kill_logs_and_reloads() {
    let nats = NatsServer::start();
    let dir = tempfile::tempdir().unwrap();
    let bus = cytube::bus(&nats).await;
    let _db = cytube::db_service(&bus, &dir.path().join("db.sqlite"), "room").await;
    let client = bus.nats_client().unwrap().clone();
    // The stand-in bot: every command answered as done, each remembered.
    let seen: Arc<Mutex<Vec<Value>>> = Arc::default();
    let mut sub = client.subscribe("rosey.commands.room.*").await.unwrap();
    let (c, s) = (client.clone(), Arc::clone(&seen));
    tokio::spawn(async move {
        while let Some(m) = sub.next().await {
            let body: Value = serde_json::from_slice(&m.payload).unwrap_or(Value::Null);
            let reply = CommandReply {
                success: true,
                error: None,
                message: Some(format!("done: {}", body["action"].as_str().unwrap_or("pm"))),
            };
            s.lock().unwrap().push(body);
            if let Some(to) = m.reply {
                let _ = c.publish(to, encode(&reply).into()).await;
            }
        }
    });
    let config = dir.path().join("rosey.json");
    let rules = json!({"room": {"flood": {"lines": 3, "seconds": 30}, "ladder": ["smute 3s"],
                                "new_users": {"minutes": 0}}});
    write_config(&config, &nats.url(), rules.clone());
    let url = nats.url();
    let mut first = moderator(&config, &[]);
    eventually("the moderator answers", WAIT, || state(&client)).await;

    for i in 0..4 {
        let e = NormalizedEvent {
            channel: "room".into(),
            ts: rosey_moderator::service::now(),
            id: format!("m{i}"),
            body: EventBody::Message {
                user: "loud".into(),
                content: format!("line {i}"),
                history: false,
                platform_data: Value::Null,
            },
        };
        client
            .publish(e.subject(), encode(&e).into())
            .await
            .unwrap();
    }
    eventually("the smute", WAIT, || async {
        let s = seen.lock().unwrap().clone();
        (s.len() == 1).then_some(())
    })
    .await;
    let muted = Instant::now();
    assert_eq!(seen.lock().unwrap()[0]["action"], "smute");
    eventually("the smute in the log", WAIT, || log(&url, 1)).await;
    // Killed outright while the mute runs; the lift is in the key-value bucket.
    first.kill();
    let metrics = format!("127.0.0.1:{}", rosey_testkit::free_port());
    let second = moderator(&config, &["--metrics-listen", &metrics]);
    eventually("the unmute", WAIT, || async {
        let s = seen.lock().unwrap().clone();
        (s.len() >= 2).then_some(())
    })
    .await;
    assert_eq!(seen.lock().unwrap()[1]["action"], "unmute");
    assert!(
        muted.elapsed() >= Duration::from_secs(2),
        "lifted after {:?}",
        muted.elapsed()
    );

    // Counted by rule, action and outcome in the new process's /metrics.
    let scrape = eventually("the lift counted in /metrics", WAIT, || async {
        let text = reqwest::get(format!("http://{metrics}/metrics"))
            .await
            .ok()?
            .text()
            .await
            .ok()?;
        text.contains(
            r#"rosey_moderation_actions_total{rule="lift",action="unmute",outcome="done"} 1"#,
        )
        .then_some(text)
    })
    .await;
    assert!(scrape.contains("rosey_moderation_eval_seconds"), "{scrape}");

    // The log, from the database service.
    let log = eventually("two rows in `rosey moderation log`", WAIT, || log(&url, 2)).await;
    assert!(
        log.contains("room flood loud: smute 3s → done: done: smute"),
        "{log}"
    );
    assert!(
        log.contains("room lift loud: unmute → done: done: unmute"),
        "{log}"
    );

    // SIGHUP reloads; a broken file keeps what runs.
    let mut more = rules.clone();
    more["other"] = json!({});
    write_config(&config, &nats.url(), more);
    second.signal(nix::sys::signal::Signal::SIGHUP);
    eventually("the reloaded channels", WAIT, || async {
        let s = state(&client).await?;
        (channels(&s) == ["other", "room"]).then_some(())
    })
    .await;
    write_config(
        &config,
        &nats.url(),
        json!({"room": {"caps": {"ratio": 7}}}),
    );
    let r = client
        .request(subjects::MODERATION_RELOAD, "{}".into())
        .await
        .unwrap();
    let r: Value = serde_json::from_slice(&r.payload).unwrap();
    assert_eq!(r["success"], false);
    assert!(
        r["error"]
            .as_str()
            .unwrap()
            .contains("moderation.channels.room.caps.ratio"),
        "{r}"
    );
    let s = state(&client).await.unwrap();
    assert_eq!(channels(&s), ["other", "room"]);

    // `rosey moderation state` prints the same: the rules, no lift left. (Offences were
    // counted by the killed process; the ladder's position is not kept across a restart.)
    let out = Command::new(env!("CARGO_BIN_EXE_rosey"))
        .args([
            "moderation",
            "state",
            "--channel",
            "room",
            "--nats-url",
            &url,
        ])
        .output()
        .unwrap();
    assert!(out.status.success());
    let printed: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(channels(&printed), ["room"]);
    assert_eq!(printed["channels"][0]["ladder"], json!(["smute 3s"]));
    assert_eq!(printed["pending_lifts"], json!([]));
}
