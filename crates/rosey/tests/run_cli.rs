//! The user-facing commands as processes: `rosey run` on a real nats-server in durable
//! mode against the devserver, with `rosey say` and `rosey stats` talking to it; and
//! `rosey demo` showing live numbers with no network and no NATS.

use std::{
    process::{Command, Output, Stdio},
    time::{Duration, Instant},
};

use rosey_cytube::{ClientConfig, CytubeEvent, Login};
use rosey_devserver::{DevServer, DevServerConfig};
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(20);

fn rosey(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_rosey"))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run rosey")
}

/// Runs `rosey stats …` until its output satisfies `ok`, or fails after [`WAIT`].
fn stats_until(args: &[&str], ok: impl Fn(&str) -> bool) -> String {
    let started = Instant::now();
    loop {
        let out = rosey(args);
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        if out.status.success() && ok(&text) {
            return text;
        }
        assert!(
            started.elapsed() < WAIT,
            "rosey {args:?} never gave the expected output; last: {text} {}",
            String::from_utf8_lossy(&out.stderr)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_say_and_stats_as_processes() {
    let nats = rosey_testkit::NatsServer::start();
    let server = DevServer::start(DevServerConfig::default()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.json");
    let db = dir.path().join("run.db");
    std::fs::write(
        &config,
        serde_json::to_vec_pretty(&json!({
            "version": "2.0",
            "nats": {"url": nats.url(), "jetstream": true, "reconnect_delay": 0.2},
            "database": {"path": db, "run_as_service": true},
            "platforms": [{"type": "cytube", "name": "cli", "enabled": true,
                           "domain": server.base_url(), "channel": "clichan",
                           "user": ["RoseyCli"], "restart_delay": 1}],
            "logging": {"level": "warn"}
        }))
        .unwrap(),
    )
    .unwrap();
    let mut run = Command::new(env!("CARGO_BIN_EXE_rosey"))
        .arg("run")
        .arg(&config)
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    assert!(
        server.wait_for_user("clichan", "RoseyCli", WAIT).await,
        "the bot joins"
    );

    // `rosey say`: queued through the database service, sent by the bot exactly once.
    let url = nats.url();
    let out = rosey(&[
        "say",
        "--channel",
        "clichan",
        "--nats-url",
        &url,
        "hello from the cli",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("Queued message #"));
    assert!(server.wait_for_chat_count("clichan", 1, WAIT).await);

    // A guest chats; `rosey stats` shows it.
    let mut cfg = ClientConfig::new(server.base_url(), "clichan", Login::Guest("visitor".into()));
    cfg.backoff.base = Duration::from_millis(50);
    let (guest, mut events) = rosey_cytube::connect(cfg);
    tokio::time::timeout(WAIT, async {
        while let Some(e) = events.recv().await {
            if matches!(e, CytubeEvent::Joined { .. }) {
                break;
            }
        }
    })
    .await
    .expect("guest joins");
    guest.chat("hi there").unwrap();
    let text = tokio::task::spawn_blocking(move || {
        stats_until(
            &["stats", "--channel", "clichan", "--nats-url", &url],
            |t| t.contains("1. visitor: 1 messages"),
        )
    })
    .await
    .unwrap();
    assert!(text.contains("=== Channel Statistics ==="), "{text}");
    let url = nats.url();
    let out = rosey(&[
        "stats",
        "--channel",
        "clichan",
        "--user",
        "visitor",
        "--json",
        "--nats-url",
        &url,
    ]);
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["found"], true, "{v}");
    assert_eq!(v["total_chat_lines"], 1, "{v}");
    // Later pump rounds did not send the queued message again.
    let bot_lines: Vec<_> = server
        .chat_log("clichan")
        .into_iter()
        .filter(|c| c.username == "RoseyCli")
        .map(|c| c.msg)
        .collect();
    assert_eq!(bot_lines, vec!["hello from the cli"]);
    guest.shutdown().await;

    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(run.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let status = tokio::task::spawn_blocking(move || run.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success(), "rosey run exits 0 on SIGTERM: {status:?}");
}

#[test]
fn stats_without_a_database_service_says_so() {
    let nats = rosey_testkit::NatsServer::start();
    let out = rosey(&["stats", "--nats-url", &nats.url()]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("the database service is not running"), "{err}");
}

#[test]
fn demo_shows_live_numbers_offline() {
    let out = Command::new(env!("CARGO_BIN_EXE_rosey"))
        .args(["demo", "--seconds", "8"])
        .env_remove("NATS_URL")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let final_line = text
        .lines()
        .find(|l| l.starts_with("Final: "))
        .unwrap_or_else(|| panic!("no final line in: {text}"));
    let stored: u64 = final_line
        .split("messages stored: ")
        .nth(1)
        .and_then(|r| r.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no count in {final_line}"));
    assert!(stored > 0, "{final_line}");
    assert!(text.contains("=== Top Chatters ==="), "{text}");
}
