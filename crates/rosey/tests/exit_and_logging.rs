//! The process-level promises of `rosey run`: a bot with no channel left exits non-zero
//! with the reason (a service manager can restart or alert); one with a channel left keeps
//! serving it; and the log filter follows `--log-level` > `RUST_LOG` > `ROSEY_LOG_LEVEL` >
//! the config.

use std::{path::Path, process::Stdio, time::Duration};

use rosey_bus::{Bus, NatsOptions};
use rosey_devserver::{DevServer, DevServerConfig};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};

mod common;

const EXIT_WITHIN: Duration = Duration::from_secs(10);
const WAIT: Duration = Duration::from_secs(20);
/// `rosey run`'s status when every channel has stopped for good.
const EXIT_NO_CHANNEL_LEFT: i32 = 3;

async fn locked_server() -> DevServer {
    let cfg = DevServerConfig::default().with_channel_password("locked", "right");
    DevServer::start(cfg).await.unwrap()
}

fn platform(server: &DevServer, name: &str, channel: Value, user: &str) -> Value {
    json!({"type": "cytube", "name": name, "enabled": true, "domain": server.base_url(),
           "channel": channel, "user": [user], "restart_delay": 1})
}

fn write_config(dir: &Path, nats: Option<String>, platforms: Vec<Value>, level: &str) -> String {
    let mut cfg = json!({
        "version": "2.0",
        "database": {"path": dir.join("bot.db"), "run_as_service": true},
        "platforms": platforms,
        "logging": {"level": level}
    });
    if let Some(url) = nats {
        cfg["nats"] = json!({"url": url});
    }
    let path = dir.join("config.json");
    std::fs::write(&path, serde_json::to_vec_pretty(&cfg).unwrap()).unwrap();
    path.to_str().unwrap().to_owned()
}

/// Runs `rosey run CONFIG extra…` with `env` (and nothing of the caller's log settings) and
/// waits for it to exit by itself; returns (status code, stderr).
async fn run_until_exit(
    config: &str,
    extra: &[&str],
    env: &[(&str, &str)],
) -> (Option<i32>, String) {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_rosey"));
    cmd.arg("run")
        .arg(config)
        .args(extra)
        .env_remove("RUST_LOG")
        .env_remove("ROSEY_LOG_LEVEL")
        .env_remove("NATS_URL")
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .kill_on_drop(true);
    let out = tokio::time::timeout(EXIT_WITHIN, cmd.output())
        .await
        .expect("rosey run exits by itself within 10 s when its only channel is refused")
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test]
async fn a_bot_whose_only_channel_is_refused_exits_non_zero_with_the_reason() {
    let server = locked_server().await;
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(
        dir.path(),
        None,
        vec![platform(&server, "p", json!(["locked", "wrong"]), "Rosey")],
        "warn",
    );
    let (code, stderr) = run_until_exit(&config, &[], &[]).await;
    assert_eq!(code, Some(EXIT_NO_CHANNEL_LEFT), "{stderr}");
    let last = stderr.lines().last().unwrap_or_default();
    assert!(
        last.starts_with("rosey: every channel stopped for good")
            && last.contains("locked")
            && last.contains("password"),
        "{stderr}"
    );
    assert!(
        stderr.contains("ERROR"),
        "the reason is logged at ERROR: {stderr}"
    );
}

#[tokio::test]
async fn a_bot_with_one_good_channel_left_keeps_serving_it() {
    let nats = rosey_testkit::NatsServer::start();
    let server = locked_server().await;
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(
        dir.path(),
        Some(nats.url()),
        vec![
            platform(&server, "bad", json!(["locked", "wrong"]), "Rosey"),
            platform(&server, "good", json!("open"), "Rosey"),
        ],
        "info",
    );
    let bus = Bus::connect(NatsOptions::new(nats.url())).await.unwrap();
    let mut messages = bus.subscribe("rosey.events.open.message").await.unwrap();
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_rosey"))
        .args(["run", &config])
        .env_remove("RUST_LOG")
        .env_remove("ROSEY_LOG_LEVEL")
        .stdin(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    // The refused channel is reported as stopped, at ERROR …
    let mut stderr = BufReader::new(child.stderr.take().unwrap()).lines();
    tokio::time::timeout(WAIT, async {
        while let Some(line) = stderr.next_line().await.unwrap() {
            if line.contains("ERROR")
                && line.contains("stopped for good")
                && line.contains("locked")
            {
                return;
            }
        }
        panic!("stderr ended without the stopped-channel error");
    })
    .await
    .expect("the stopped channel is logged at ERROR");
    // … and the good one is still served: a guest's line comes out on the bus.
    assert!(
        server.wait_for_user("open", "Rosey", WAIT).await,
        "the bot joins the open channel"
    );
    let guest = common::join_guest(&server.base_url(), "open", "visitor", WAIT).await;
    guest.chat("still here?").unwrap();
    let event = tokio::time::timeout(WAIT, messages.next())
        .await
        .expect("the bot still publishes the good channel's chat")
        .unwrap();
    let v: Value = serde_json::from_slice(&event.payload).unwrap();
    assert!(v.to_string().contains("still here?"), "{v}");
    assert!(
        child.try_wait().unwrap().is_none(),
        "the process is still running"
    );
    guest.shutdown().await;
    let status = common::sigterm_and_wait(&mut child, WAIT).await;
    assert!(
        status.success(),
        "SIGTERM still stops it cleanly: {status:?}"
    );
}

/// `RUST_LOG` is a full filter that beats the config's level; `--log-level` beats both;
/// `ROSEY_LOG_LEVEL` beats the config but not `RUST_LOG`.
#[tokio::test]
async fn the_log_filter_follows_flag_then_rust_log_then_rosey_log_level_then_config() {
    let server = locked_server().await;
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(
        dir.path(),
        None,
        vec![platform(&server, "p", json!(["locked", "wrong"]), "Rosey")],
        "info",
    );
    let has = |stderr: &str, level: &str| stderr.lines().any(|l| l.contains(&format!(" {level} ")));

    // Config alone (info): INFO lines, no DEBUG.
    let (_, err) = run_until_exit(&config, &[], &[]).await;
    assert!(has(&err, "INFO") && !has(&err, "DEBUG"), "{err}");

    // RUST_LOG as a full filter: debug for the CyTube client, warn elsewhere.
    let (_, err) = run_until_exit(&config, &[], &[("RUST_LOG", "rosey_cytube=debug,warn")]).await;
    assert!(
        err.lines()
            .any(|l| l.contains(" DEBUG ") && l.contains("rosey_cytube")),
        "RUST_LOG=rosey_cytube=debug gives the client's debug lines: {err}"
    );
    assert!(
        !err.lines()
            .any(|l| l.contains(" INFO ") && !l.contains("rosey_cytube")),
        "RUST_LOG=…,warn hides the other crates' info: {err}"
    );

    // RUST_LOG=warn beats a config that says info.
    let (_, err) = run_until_exit(&config, &[], &[("RUST_LOG", "warn")]).await;
    assert!(!has(&err, "INFO") && has(&err, "ERROR"), "{err}");

    // --log-level beats RUST_LOG.
    let (_, err) =
        run_until_exit(&config, &["--log-level", "error"], &[("RUST_LOG", "debug")]).await;
    assert!(
        !has(&err, "DEBUG") && !has(&err, "INFO") && has(&err, "ERROR"),
        "{err}"
    );

    // ROSEY_LOG_LEVEL beats the config, RUST_LOG beats ROSEY_LOG_LEVEL.
    let (_, err) = run_until_exit(&config, &[], &[("ROSEY_LOG_LEVEL", "debug")]).await;
    assert!(has(&err, "DEBUG"), "{err}");
    let (_, err) = run_until_exit(
        &config,
        &[],
        &[("ROSEY_LOG_LEVEL", "debug"), ("RUST_LOG", "error")],
    )
    .await;
    assert!(!has(&err, "DEBUG") && !has(&err, "INFO"), "{err}");
}
