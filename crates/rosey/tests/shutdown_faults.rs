//! The database service's stop and start under faults, with the real `rosey db-service`
//! binary and a real nats-server (issue 29):
//! - SIGTERM while NATS has just gone away: the process exits within 2 s, and every event
//!   the durable consumer saw acknowledged is in the SQLite file (acks follow commits); once
//!   NATS and a service are back, every event is stored exactly once;
//! - a database file that is garbage or damaged, or a path that cannot be opened: one line
//!   naming the file and the cause, exit code 3, no panic.
//!
//! Nothing sleeps to wait for something: conditions are polled with a deadline, and the
//! exit is awaited with a timeout.

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use rosey_bench::dbbench as bench;
use rosey_bus::durable::{StreamSettings, ensure_db_stream};
use rosey_bus::{Bus, NatsOptions};
use rosey_model::subjects;
use rosey_testkit::NatsServer;
use tokio::process::{Child, Command};

mod common;
use common::durable::{
    DRAIN_TIMEOUT, assert_exactly_stored, chat_events, consumer_info, rows, wait_rows_at_least,
};

/// What the stop must take at most, from SIGTERM to the exit.
const STOP_LIMIT: Duration = Duration::from_secs(2);
const READY_TIMEOUT: Duration = Duration::from_secs(20);
/// Exit code of `rosey db-service` when the database cannot be opened.
const EXIT_DATABASE: i32 = 3;

fn db_service(nats_url: &str, db: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_rosey"));
    cmd.args(["db-service", "--jetstream", "--log-level", "warn"])
        .args(["--ack-wait", "2", "--nats-url", nats_url])
        .arg("--db-path")
        .arg(db)
        .env_remove("DATABASE_URL")
        .env_remove("DATABASE_PATH")
        .stdin(Stdio::null())
        .kill_on_drop(true);
    cmd
}

/// Spawns a durable service and waits until it answers a query.
async fn start_service(client: &Bus, nats_url: &str, db: &Path) -> Child {
    let mut child = db_service(nats_url, db)
        .spawn()
        .expect("run the rosey binary");
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            panic!("db-service exited during start-up: {status}");
        }
        match client
            .request(
                subjects::QUERY_CHANNEL_STATS,
                &b"{}"[..],
                Duration::from_millis(250),
            )
            .await
        {
            Ok(_) => return child,
            Err(e) => assert!(started.elapsed() < READY_TIMEOUT, "never ready: {e}"),
        }
    }
}

fn sigterm(child: &Child) {
    let pid = child.id().expect("the child is still running");
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
}

/// The durable consumer's acknowledgement floor (every stream message up to it is acked).
async fn ack_floor(client: &Bus) -> u64 {
    let deadline = Instant::now() + DRAIN_TIMEOUT;
    loop {
        if let Some(v) = consumer_info(client).await {
            return v["ack_floor"]["stream_seq"].as_u64().unwrap_or(0);
        }
        assert!(Instant::now() < deadline, "no consumer info");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_while_nats_is_gone_stops_within_2s_and_keeps_what_it_acked() {
    let mut nats = NatsServer::start();
    let url = nats.url();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("bot_data.db");
    let client = Bus::connect(NatsOptions::new(&url)).await.unwrap();
    ensure_db_stream(client.nats_client().unwrap(), &StreamSettings::default())
        .await
        .unwrap();
    let mut service = start_service(&client, &url, &db).await;

    // Every event is in the stream (file storage: it survives the kill) before NATS goes.
    let n = 20_000;
    let r = bench::publish_durable(
        client.nats_client().unwrap(),
        chat_events(n, "stop", "dur"),
        "stop",
        256,
        DRAIN_TIMEOUT,
    )
    .await
    .unwrap();
    assert_eq!(r.events, n);
    // NATS dies while the service is busy with the stream.
    wait_rows_at_least(&db, 1_000, "before the kill").await;
    nats.kill();
    sigterm(&service);
    let signalled = Instant::now();
    let status = tokio::time::timeout(STOP_LIMIT, service.wait())
        .await
        .unwrap_or_else(|_| panic!("db-service still running {STOP_LIMIT:?} after SIGTERM"))
        .unwrap();
    let took = signalled.elapsed();
    assert!(status.success(), "exit status {status} after {took:?}");
    let stored = rows(&db);

    // What the consumer saw acknowledged was committed before the ack.
    nats.start_again();
    let client = Bus::connect(NatsOptions::new(&url)).await.unwrap();
    let acked = ack_floor(&client).await;
    assert!(
        acked <= stored as u64,
        "{acked} events acknowledged but only {stored} stored"
    );
    // The rest comes back: nothing lost, nothing twice.
    let mut service = start_service(&client, &url, &db).await;
    assert_exactly_stored(&client, &db, n as i64).await;
    sigterm(&service);
    let status = tokio::time::timeout(STOP_LIMIT, service.wait())
        .await
        .expect("a stop with NATS up is quick too")
        .unwrap();
    assert!(status.success(), "exit status {status}");
}

/// Runs `rosey db-service` on `db` (NATS up) and returns (exit code, stderr).
async fn failed_start(db: &Path) -> (Option<i32>, String) {
    let nats = NatsServer::start();
    let out = tokio::time::timeout(
        READY_TIMEOUT,
        db_service(&nats.url(), db)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .output(),
    )
    .await
    .expect("db-service exits at once on a database it cannot open")
    .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

/// One line names the file and the cause; nothing panicked; exit code 3.
fn assert_one_clear_line(code: Option<i32>, stderr: &str, db: &Path, cause: &str) {
    assert_eq!(code, Some(EXIT_DATABASE), "exit code; stderr:\n{stderr}");
    assert!(
        !stderr.contains("panicked") && !stderr.contains("backtrace"),
        "{stderr}"
    );
    let path = db.display().to_string();
    let lines: Vec<&str> = stderr.lines().filter(|l| l.contains(&path)).collect();
    assert_eq!(lines.len(), 1, "one line names {path}:\n{stderr}");
    let line = lines[0];
    assert!(line.contains(cause), "the cause ({cause}) in: {line}");
    assert_eq!(
        line.matches(&path).count(),
        1,
        "the file is named once: {line}"
    );
    assert!(line.len() < 300, "one short line: {line}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_garbage_database_file_is_one_clear_line_and_exit_3() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("garbage.db");
    let garbage: Vec<u8> = (0..16_384u32).map(|i| (i * 7 + 13) as u8).collect();
    std::fs::write(&db, &garbage).unwrap();
    let (code, stderr) = failed_start(&db).await;
    assert_one_clear_line(code, &stderr, &db, "not an SQLite database");
    assert_eq!(
        std::fs::read(&db).unwrap(),
        garbage,
        "the file is left as it was"
    );

    // A damaged one: the start of a real Rosey database, the rest cut off.
    let db = dir.path().join("damaged.db");
    drop(rosey_store::Store::open(&db, &rosey_store::StoreOptions::default()).unwrap());
    let head = std::fs::read(&db).unwrap()[..100].to_vec();
    std::fs::write(&db, &head).unwrap();
    for side in ["-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{side}", db.display()));
    }
    let (code, stderr) = failed_start(&db).await;
    assert_one_clear_line(code, &stderr, &db, "the file is damaged");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unopenable_database_path_is_one_clear_line_and_exit_3() {
    let dir = tempfile::tempdir().unwrap();
    // A directory where the file should be: no user, root included, can open it.
    let db = dir.path().join("a-directory.db");
    std::fs::create_dir(&db).unwrap();
    let (code, stderr) = failed_start(&db).await;
    assert_one_clear_line(code, &stderr, &db, "cannot open the file");

    // A file without permissions (root opens it anyway: only checked when this process
    // cannot open it either).
    use std::os::unix::fs::PermissionsExt;
    let db = dir.path().join("unreadable.db");
    std::fs::write(&db, b"").unwrap();
    std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o000)).unwrap();
    if std::fs::File::open(&db).is_err() {
        let (code, stderr) = failed_start(&db).await;
        assert_one_clear_line(code, &stderr, &db, "cannot open the file");
    }
}
