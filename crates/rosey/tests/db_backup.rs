//! `rosey db backup` taken while a running `rosey db-service` ingests a 100,000-event
//! burst: the copy passes `rosey db check` and holds a consistent prefix of the burst (lines
//! 0..k, and a chat counter that agrees) — and the service stores the whole burst anyway.

use std::{process::Stdio, time::Duration};

use rosey_bus::{Bus, NatsOptions};
use rosey_model::subjects;
use serde_json::Value;

const WAIT: Duration = Duration::from_secs(60);
const EVENTS: u64 = 100_000;
/// Published in slices of this many every [`SLICE_EVERY`]: a burst long enough (5 s) that a
/// backup started in it ends in it.
const SLICE: u64 = 1_000;
const SLICE_EVERY: Duration = Duration::from_millis(50);

async fn user_lines(bus: &Bus, user: &str) -> i64 {
    let body = format!(r#"{{"username":"{user}"}}"#);
    match bus
        .request(
            subjects::QUERY_USER_STATS,
            body.into_bytes(),
            Duration::from_secs(2),
        )
        .await
    {
        Ok(r) => serde_json::from_slice::<Value>(&r.payload).unwrap()["total_chat_lines"]
            .as_i64()
            .unwrap_or(0),
        Err(_) => 0,
    }
}

fn rosey(args: &[&str]) -> tokio::process::Command {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_rosey"));
    cmd.args(args)
        .env_remove("RUST_LOG")
        .env_remove("NATS_URL")
        .env_remove("DATABASE_PATH")
        .stdin(Stdio::null())
        .kill_on_drop(true);
    cmd
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_during_a_burst_checks_ok_and_holds_a_consistent_prefix() {
    let nats = rosey_testkit::NatsServer::start();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("live.db");
    let db_arg = db.to_str().unwrap().to_owned();
    let mut service = rosey(&[
        "db-service",
        "--db-path",
        &db_arg,
        "--nats-url",
        &nats.url(),
    ])
    .spawn()
    .unwrap();
    let bus = Bus::connect(NatsOptions::new(nats.url())).await.unwrap();
    rosey_testkit::service::until_db_service_answers(&bus, WAIT, || service.try_wait().unwrap())
        .await;

    // One publisher, in order: line i says "i".
    let publisher = {
        let bus = bus.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(SLICE_EVERY);
            for start in (0..EVENTS).step_by(SLICE as usize) {
                tick.tick().await;
                for i in start..start + SLICE {
                    let line = format!(r#"{{"username":"alice","message":"{i}"}}"#);
                    bus.publish(subjects::MESSAGE_LOG, line.into_bytes())
                        .await
                        .unwrap();
                }
                bus.flush().await.unwrap();
            }
        })
    };
    // Back up once a tenth is stored, while the rest keeps coming.
    tokio::time::timeout(WAIT, async {
        while user_lines(&bus, "alice").await < (EVENTS / 10) as i64 {}
    })
    .await
    .expect("the burst is being stored");
    let copy = dir.path().join("backup.db");
    let copy_arg = copy.to_str().unwrap().to_owned();
    let out = rosey(&["db", "backup", &copy_arg, "--db-path", &db_arg])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        !publisher.is_finished(),
        "the backup ended inside the burst"
    );
    publisher.await.unwrap();

    // The service stores the whole burst.
    tokio::time::timeout(WAIT, async {
        while user_lines(&bus, "alice").await < EVENTS as i64 {}
    })
    .await
    .expect("every event is stored");

    // The copy checks OK …
    let out = rosey(&["db", "check", "--db-path", &copy_arg, "--json"])
        .stdout(Stdio::piped())
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["ok"], true, "{report}");
    assert_eq!(report["integrity"], serde_json::json!(["ok"]), "{report}");
    let k = report["rows"]["recent_chat"].as_u64().unwrap();
    assert!(
        (EVENTS / 10..EVENTS).contains(&k),
        "a prefix taken mid-burst: {k}"
    );

    // … and holds exactly lines 0..k, with the counter in step.
    assert_eq!(
        rosey_testkit::assert_numbered_chat_prefix(&copy, "alice"),
        k
    );

    // A corrupt file is reported, with exit status 1.
    let broken = dir.path().join("broken.db");
    let mut bytes = std::fs::read(&copy).unwrap();
    let len = bytes.len();
    for b in &mut bytes[len / 2..len / 2 + 4096.min(len / 2)] {
        *b = 0xA5;
    }
    std::fs::write(&broken, bytes).unwrap();
    let out = rosey(&["db", "check", "--db-path", broken.to_str().unwrap()])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .await
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}
