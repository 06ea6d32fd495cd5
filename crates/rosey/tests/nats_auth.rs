//! NATS refusals and signals at start-up, with real processes: a wrong password fails at
//! once with a one-line reason that names the server (never the secret) and a non-zero
//! status — not a retry loop that hides it — and SIGTERM stops a command that is still
//! connecting.

use std::{process::Stdio, time::Duration};

use rosey_bus::{Bus, NatsOptions};
use rosey_model::subjects;
use tokio::io::{AsyncBufReadExt, BufReader};

/// A refusal must end the process at once, not after retries.
const FAIL_WITHIN: Duration = Duration::from_secs(5);
const STOP_WITHIN: Duration = Duration::from_secs(3);
const WAIT: Duration = Duration::from_secs(20);
const SECRET: &str = "correct-horse-battery";
const WRONG: &str = "wrong-password-123";

fn auth_server() -> rosey_testkit::NatsServer {
    rosey_testkit::NatsServer::start_with_config(&format!(
        "authorization {{ user: rosey, password: \"{SECRET}\" }}\n"
    ))
}

fn rosey(args: &[&str]) -> tokio::process::Command {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_rosey"));
    cmd.args(args)
        .env_remove("RUST_LOG")
        .env_remove("NATS_URL")
        .env_remove("ROSEY_NATS_URL")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    cmd
}

#[tokio::test]
async fn a_wrong_nats_password_fails_at_once_with_one_clear_line() {
    let nats = auth_server();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("auth.db");
    let out = rosey(&[
        "db-service",
        "--db-path",
        db.to_str().unwrap(),
        "--nats-url",
        &nats.url(),
    ])
    .env("ROSEY_NATS_USER", "rosey")
    .env("ROSEY_NATS_PASSWORD", WRONG)
    .output();
    let out = tokio::time::timeout(FAIL_WITHIN, out)
        .await
        .expect("a refused database service exits at once")
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let last = stderr.lines().last().unwrap_or_default();
    assert!(
        last.starts_with("rosey: NATS at ")
            && last.contains(&format!("127.0.0.1:{}", nats.port()))
            && last.contains("refused")
            && last.contains("authorization violation"),
        "one line naming the server and the cause: {stderr}"
    );
    assert!(
        !stderr.contains(WRONG),
        "the password never shows: {stderr}"
    );
}

#[tokio::test]
async fn the_right_password_works_end_to_end() {
    let nats = auth_server();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("auth.db");
    let _service = rosey(&[
        "db-service",
        "--db-path",
        db.to_str().unwrap(),
        "--nats-url",
        &nats.url(),
    ])
    .env("ROSEY_NATS_USER", "rosey")
    .env("ROSEY_NATS_PASSWORD", SECRET)
    .spawn()
    .unwrap();
    let mut options = NatsOptions::new(nats.url());
    options.user = Some("rosey".into());
    options.password = Some(SECRET.into());
    let client = Bus::connect(options).await.unwrap();
    let answered = tokio::time::timeout(WAIT, async {
        loop {
            if let Ok(r) = client
                .request(
                    subjects::QUERY_CHANNEL_STATS,
                    &b"{}"[..],
                    Duration::from_millis(200),
                )
                .await
            {
                return r;
            }
        }
    })
    .await
    .expect("the authenticated service answers");
    let v: serde_json::Value = serde_json::from_slice(&answered.payload).unwrap();
    assert_eq!(v["success"], true, "{v}");
}

/// A process still trying to reach NATS stops on SIGTERM, cleanly and at once.
async fn sigterm_while_connecting(args: &[&str]) {
    let port = rosey_testkit::free_port(); // nobody listens here
    let url = format!("nats://127.0.0.1:{port}");
    let mut child = rosey(args)
        .env("NATS_URL", &url)
        .env("RUST_LOG", "info")
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap()).lines();
    tokio::time::timeout(WAIT, async {
        while let Some(line) = stderr.next_line().await.unwrap() {
            if line.contains("NATS connect failed") {
                return;
            }
        }
        panic!("stderr ended before a connect attempt failed");
    })
    .await
    .expect("the process tries to connect");
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id().unwrap() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let status = tokio::time::timeout(STOP_WITHIN, child.wait())
        .await
        .unwrap_or_else(|_| panic!("{args:?} ignored SIGTERM while connecting"))
        .unwrap();
    assert!(status.success(), "{args:?}: {status:?}");
}

#[tokio::test]
async fn db_service_stops_on_sigterm_while_nats_is_unreachable() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("x.db");
    sigterm_while_connecting(&["db-service", "--db-path", db.to_str().unwrap()]).await;
}

#[tokio::test]
async fn bot_stops_on_sigterm_while_nats_is_unreachable() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("bot.json");
    std::fs::write(
        &config,
        r#"{"version": "2.0", "nats": {"url": "nats://127.0.0.1:1"},
            "platforms": [{"type": "cytube", "name": "p", "domain": "http://127.0.0.1:1",
                           "channel": "c", "user": ["Rosey"]}]}"#,
    )
    .unwrap();
    sigterm_while_connecting(&["bot", config.to_str().unwrap()]).await;
}
