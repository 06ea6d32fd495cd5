//! `rosey db-service` as a process: ready when it answers, stores events, and on SIGTERM
//! flushes, closes open sessions and exits 0.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use rosey_bus::{Bus, NatsOptions};
use rosey_model::subjects;
use serde_json::Value;

const TIMEOUT: Duration = Duration::from_secs(10);

#[tokio::test]
async fn db_service_runs_in_the_foreground_and_stops_cleanly_on_sigterm() {
    let nats = rosey_testkit::NatsServer::start();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("cli.db");
    let mut child = Command::new(env!("CARGO_BIN_EXE_rosey"))
        .args(["db-service", "--log-level", "warn", "--db-path"])
        .arg(&db)
        .env("NATS_URL", nats.url())
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    let client = Bus::connect(NatsOptions::new(nats.url())).await.unwrap();
    let started = Instant::now();
    rosey_testkit::service::until_db_service_answers(&client, TIMEOUT, || {
        child.try_wait().unwrap()
    })
    .await;
    client
        .publish(
            subjects::USER_JOINED,
            &br#"{"username":"cli","ts":100}"#[..],
        )
        .await
        .unwrap();
    client
        .publish(
            subjects::MESSAGE_LOG,
            &br#"{"username":"cli","message":"hi"}"#[..],
        )
        .await
        .unwrap();
    loop {
        let r = client
            .request(
                subjects::QUERY_USER_STATS,
                &br#"{"username":"cli"}"#[..],
                TIMEOUT,
            )
            .await
            .unwrap();
        let v: Value = serde_json::from_slice(&r.payload).unwrap();
        if v["total_chat_lines"] == 1 {
            break;
        }
        assert!(started.elapsed() < TIMEOUT, "event not stored: {v}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let exit = child.wait().unwrap();
    assert!(exit.success(), "exit status {exit}");
    let c = session_of_cli(&db);
    assert_eq!(c, (None, true), "the open session was closed at shutdown");
}

/// (current_session_start, total_time_connected > 0) of user `cli`.
fn session_of_cli(db: &std::path::Path) -> (Option<i64>, bool) {
    let s = rosey_store::Store::open_read_only(db, &rosey_store::StoreOptions::default()).unwrap();
    let channel = rosey_model::subjects::DEFAULT_CHANNEL;
    match s.user_stats(channel, "cli").unwrap() {
        rosey_model::payload::UserStatsReply::Found(f) => {
            (f.current_session_start, f.total_time_connected > 0)
        }
        other => panic!("{other:?}"),
    }
}

/// `rosey db-service` starts on the v2 file Rosey v0.5 shipped and answers queries.
#[tokio::test]
async fn db_service_starts_on_the_v05_dist_config() {
    let nats = rosey_testkit::NatsServer::start();
    let dir = tempfile::tempdir().unwrap();
    let config = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../config/tests/fixtures/v0.5-config.json.dist");
    let mut child = Command::new(env!("CARGO_BIN_EXE_rosey"))
        .arg("db-service")
        .arg(&config)
        .arg("--db-path")
        .arg(dir.path().join("v05.db"))
        .args(["--nats-url", &nats.url()])
        .stdin(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let client = Bus::connect(NatsOptions::new(nats.url())).await.unwrap();
    let started = Instant::now();
    let reply = loop {
        match client
            .request(
                subjects::QUERY_CHANNEL_STATS,
                &b"{}"[..],
                Duration::from_millis(200),
            )
            .await
        {
            Ok(r) => break r,
            Err(e) => {
                if let Some(status) = child.try_wait().unwrap() {
                    let mut err = String::new();
                    std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut err)
                        .unwrap();
                    panic!("db-service exited ({status}) on the v0.5 config: {err}");
                }
                assert!(started.elapsed() < TIMEOUT, "never ready: {e}");
            }
        }
    };
    let v: Value = serde_json::from_slice(&reply.payload).unwrap();
    assert_eq!(v["success"], true, "{v}");
    child.kill().unwrap();
    let _ = child.wait();
}
