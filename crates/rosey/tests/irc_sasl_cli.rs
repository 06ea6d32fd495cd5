//! `rosey run` with an IRC channel whose account lives in real IRC services (InspIRCd linked
//! to Atheme, `rosey_testkit::services`): with the right password from the environment the
//! bot logs in by SASL (the server's `WHOIS` shows the account) and joins; with a wrong one
//! the channel stops for good and, being the only one, the process exits by itself with the
//! "no channel left" status and the services' refusal as the reason — no reconnect loop.
//! Skipped (with the reason) where `inspircd` or `atheme-services` is missing, a failure
//! under CI=true.

use std::{
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::Duration,
};

use rosey_testkit::{NatsServer, ircd::RawClient, services::ServicesNetwork};
use serde_json::json;

const WAIT: Duration = Duration::from_secs(30);
const NICK: &str = "RoseySasl";
const PASSWORD: &str = "right-password";

fn config(dir: &Path, nats: &NatsServer, net: &ServicesNetwork) -> PathBuf {
    let path = dir.join("config.json");
    let config = json!({
        "version": "2.0",
        "nats": {"url": nats.url(), "reconnect_delay": 0.2},
        "database": {"path": dir.join("run.db"), "run_as_service": true},
        "platforms": [{"type": "irc", "name": "net", "server": "127.0.0.1",
                       "port": net.port(), "tls": false, "nick": NICK,
                       "channel": "#rosey", "user": [NICK], "restart_delay": 0.2}],
        "logging": {"level": "warn"}
    });
    std::fs::write(&path, serde_json::to_vec_pretty(&config).unwrap()).unwrap();
    path
}

/// `rosey run config` with the account's password in the environment; stderr piped.
fn run(config: &Path, password: &str) -> Child {
    Command::new(env!("CARGO_BIN_EXE_rosey"))
        .arg("run")
        .arg(config)
        .env("ROSEY_NET_PASSWORD", password)
        .env_remove("NATS_URL")
        .stdin(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_logs_in_by_sasl_and_a_wrong_password_ends_the_process_with_the_reason() {
    if !rosey_testkit::tools::atheme() {
        return;
    }
    let net = ServicesNetwork::start();
    net.register(NICK, PASSWORD).await;
    let nats = NatsServer::start();
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path(), &nats, &net);

    // A wrong password: the process ends by itself, with the reason.
    let child = run(&config, "wrong-password");
    let out = tokio::time::timeout(
        WAIT,
        tokio::task::spawn_blocking(move || child.wait_with_output()),
    )
    .await
    .expect("rosey run exits by itself when its only channel's login is refused")
    .unwrap()
    .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "no channel left: {stderr}");
    assert!(
        stderr.contains("every channel stopped for good")
            && stderr.contains(&format!("SASL login as `{NICK}` refused")),
        "{stderr}"
    );

    // The right one: logged in (as the server sees it) and in the channel.
    let mut watcher = RawClient::connect(net.port(), "watcher").await;
    watcher.join("#rosey", None).await;
    let mut bot = run(&config, PASSWORD);
    watcher
        .expect(|m| m.command == "JOIN" && m.source_nick() == Some(NICK))
        .await;
    watcher.send(&format!("WHOIS {NICK}")).await;
    let account = watcher.expect(|m| m.command == "330").await;
    assert_eq!(account.param(2), NICK, "{account:?}");
    let _ = bot.kill();
    let _ = bot.wait();
}
