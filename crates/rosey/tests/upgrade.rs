//! The upgrade from the Python original, exactly as docs/upgrade.md tells an operator: stop
//! it, `rosey config migrate config.json --backup`, start `rosey run` on the same
//! `bot_data.db`, verify with `rosey stats` — on a Rosey v0.5 database and a v1 config.

use std::{
    process::{Command, Stdio},
    time::Duration,
};

use rosey_devserver::{DevServer, DevServerConfig};
use serde_json::{Value, json};

mod common;

const WAIT: Duration = Duration::from_secs(20);

fn rosey(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_rosey"))
        .args(args)
        .env_remove("NATS_URL")
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upgrade_from_v05_database_and_v1_config() {
    let nats = rosey_testkit::NatsServer::start();
    let server = DevServer::start(DevServerConfig::default()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("bot_data.db");
    rosey_testkit::create_v05_database(&db);
    let config = dir.path().join("config.json");
    let v1 = json!({
        "domain": server.base_url(),
        "channel": "upgraded",
        "user": ["RoseyUp"],
        "response_timeout": 1,
        "restart_delay": 1,
        "log_level": "info",
        "shell": null,
        "db": db,
    });
    std::fs::write(&config, serde_json::to_vec_pretty(&v1).unwrap()).unwrap();
    let config = config.to_str().unwrap().to_owned();

    // 1. Migrate the config, keeping a backup.
    let out = rosey(&["config", "migrate", &config, "--backup"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let backup: Value =
        serde_json::from_slice(&std::fs::read(format!("{config}.bak")).unwrap()).unwrap();
    assert_eq!(backup, v1, "the v1 file is kept as it was");
    let out = rosey(&["config", "check", &config]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // 2. Start `rosey run` on the same database (on NATS, so `rosey stats` can ask).
    let url = nats.url();
    let mut run = tokio::process::Command::new(env!("CARGO_BIN_EXE_rosey"))
        .args(["run", &config, "--nats-url", &url])
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    assert!(
        server.wait_for_user("upgraded", "RoseyUp", WAIT).await,
        "the bot joins"
    );

    // 3. Verify with `rosey stats`: the original's figures are there, in the channel.
    let stats = tokio::time::timeout(WAIT, async {
        loop {
            let out = rosey(&[
                "stats",
                "--nats-url",
                &url,
                "--channel",
                "upgraded",
                "--json",
            ]);
            if out.status.success() {
                return serde_json::from_slice::<Value>(&out.stdout).unwrap();
            }
        }
    })
    .await
    .expect("rosey stats answers");
    assert_eq!(stats["high_water_mark"]["users"], 12, "{stats}");
    assert_eq!(
        stats["total_users_seen"].as_i64().map(|n| n >= 2),
        Some(true),
        "{stats}"
    );
    assert_eq!(stats["top_chatters"][0]["username"], "alice", "{stats}");
    assert_eq!(stats["top_chatters"][0]["chat_lines"], 42, "{stats}");
    let out = rosey(&[
        "stats",
        "--nats-url",
        &url,
        "--channel",
        "upgraded",
        "--user",
        "alice",
    ]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("Chat messages: 42"), "{text}");
    assert!(
        dir.path().join("bot_data.db.v0.5.bak").is_file(),
        "the database was backed up before adoption"
    );

    let status = common::sigterm_and_wait(&mut run, WAIT).await;
    assert!(status.success());
}
