//! `rosey run` with an IRC platform entry in its configuration, as a process, against a real
//! IRC server (InspIRCd) that demands a server password: the password comes from the
//! environment like a CyTube account's; `rosey say` reaches the IRC channel once; a line
//! said there shows in `rosey stats` for the channel `irc:<name>/<channel>`. Skipped (with
//! the reason) where `inspircd` is missing, a failure under CI=true (`rosey_testkit::tools`).

use std::{
    process::{Command, Output, Stdio},
    time::{Duration, Instant},
};

use rosey_testkit::ircd::{FloodLimits, IrcServer, RawClient};
use serde_json::json;

const WAIT: Duration = Duration::from_secs(20);
const CHANNEL: &str = "irc:local/#rosey";

fn rosey(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_rosey"))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run rosey")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_joins_irc_with_the_password_from_the_environment_and_say_reaches_it_once() {
    if !rosey_testkit::tools::inspircd() {
        return;
    }
    let irc = IrcServer::start_with_password(FloodLimits::default(), Some("letmein"));
    let nats = rosey_testkit::NatsServer::start();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.json");
    std::fs::write(
        &config,
        serde_json::to_vec_pretty(&json!({
            "version": "2.0",
            "nats": {"url": nats.url(), "reconnect_delay": 0.2},
            "database": {"path": dir.path().join("run.db"), "run_as_service": true},
            "platforms": [{"type": "irc", "name": "local", "server": "127.0.0.1",
                           "port": irc.port(), "tls": false, "nick": "RoseyCli",
                           "channel": "#rosey", "user": ["RoseyCli"], "sasl": false,
                           "restart_delay": 0.2}],
            "logging": {"level": "warn"}
        }))
        .unwrap(),
    )
    .unwrap();
    let mut listener = RawClient::connect_with_password(irc.port(), "listener", "letmein").await;
    listener.join("#rosey", None).await;
    let mut run = Command::new(env!("CARGO_BIN_EXE_rosey"))
        .arg("run")
        .arg(&config)
        .env("ROSEY_LOCAL_PASSWORD", "letmein")
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    listener
        .expect(|m| m.command == "JOIN" && m.source_nick() == Some("RoseyCli"))
        .await;

    let url = nats.url();
    let out = rosey(&["say", "--channel", CHANNEL, "--nats-url", &url, "hello irc"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let said = listener
        .expect(|m| m.command == "PRIVMSG" && m.source_nick() == Some("RoseyCli"))
        .await;
    assert_eq!(said.param(1), "hello irc");

    listener.privmsg("#rosey", "hi from irc").await;
    let started = Instant::now();
    let stats = loop {
        let out = rosey(&["stats", "--channel", CHANNEL, "--nats-url", &url]);
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        if text.contains("1. listener: 1 messages") {
            break text;
        }
        assert!(
            started.elapsed() < WAIT,
            "rosey stats never counted the line: {text}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(stats.contains("=== Channel Statistics ==="), "{stats}");
    // Nothing was said twice: the next line from the bot would be a repeat.
    let again = listener
        .privmsgs_from("RoseyCli", "#rosey", Duration::from_millis(500))
        .await;
    assert!(again.is_empty(), "{again:?}");

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
    listener
        .expect(|m| m.command == "QUIT" && m.source_nick() == Some("RoseyCli"))
        .await;
}
