//! The database service under faults at stop, at start and while running, with the real
//! `rosey db-service` binary and a real nats-server (issue 29):
//! - SIGTERM while NATS has just gone away: the process exits within 2 s, and every event
//!   the durable consumer saw acknowledged is in the SQLite file (acks follow commits); once
//!   NATS and a service are back, every event is stored exactly once;
//! - a database file that is garbage or damaged, or a path that cannot be opened: one line
//!   naming the file and the cause, exit code 3, no panic;
//! - a full disk (a tmpfs the test mounts and fills; needs root, which CI has): `/readyz`
//!   503 with the reason, the events stay in the stream, one ERROR line (a minute), and once
//!   space is back every event is stored exactly once.
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
use rosey_testkit::{NatsServer, service::until_db_service_answers};
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
    until_db_service_answers(client, READY_TIMEOUT, || child.try_wait().unwrap()).await;
    child
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

/// A tmpfs of `size` mounted at `dir` for one test; unmounted when dropped.
struct Tmpfs(std::path::PathBuf);

impl Tmpfs {
    fn mount(dir: &Path, size: &str) -> Tmpfs {
        std::fs::create_dir_all(dir).unwrap();
        let status = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .status()
            .expect("run mount");
        assert!(status.success(), "mount a tmpfs at {}", dir.display());
        Tmpfs(dir.to_path_buf())
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.0)
            .status();
    }
}

/// Writes `file` until the file system is full.
fn fill(file: &Path) {
    use std::io::Write;
    let mut f = std::fs::File::create(file).unwrap();
    let chunk = vec![0u8; 64 << 10];
    loop {
        if let Err(e) = f.write_all(&chunk).and_then(|()| f.sync_data()) {
            assert_eq!(e.raw_os_error(), Some(nix::libc::ENOSPC), "{e}");
            return;
        }
    }
}

/// `/readyz` until it answers `want`; returns the body.
async fn readyz(base: &str, want: u16) -> String {
    let deadline = Instant::now() + DRAIN_TIMEOUT;
    let mut tick = tokio::time::interval(Duration::from_millis(50));
    loop {
        tick.tick().await;
        if let Ok(r) = reqwest::get(format!("{base}/readyz")).await
            && r.status().as_u16() == want
        {
            return r.text().await.unwrap();
        }
        assert!(Instant::now() < deadline, "/readyz never answered {want}");
    }
}

/// Long chat lines (each ~600 bytes), so a few thousand need megabytes of WAL.
fn long_lines(n: usize, tag: &str) -> Vec<(&'static str, bytes::Bytes)> {
    let filler = "x".repeat(600);
    (0..n)
        .map(|i| {
            let p = format!(
                r#"{{"username":"u{}","message":"{tag} line {i} {filler}","channel":"dur"}}"#,
                i % 50
            );
            (subjects::MESSAGE_LOG, bytes::Bytes::from(p))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_is_not_ready_keeps_the_events_and_catches_up() {
    // SAFETY: geteuid has no preconditions and cannot fail.
    if unsafe { nix::libc::geteuid() } != 0 {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI runs as root: the full-disk test mounts a tmpfs"
        );
        eprintln!("skipped: mounting a tmpfs to fill needs root (CI=true runs it)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let disk = Tmpfs::mount(&dir.path().join("disk"), "24m");
    let db = disk.0.join("bot_data.db");
    let nats = NatsServer::start();
    let url = nats.url();
    let client = Bus::connect(NatsOptions::new(&url)).await.unwrap();
    ensure_db_stream(client.nats_client().unwrap(), &StreamSettings::default())
        .await
        .unwrap();
    let port = rosey_testkit::free_port();
    let base = format!("http://127.0.0.1:{port}");
    let mut cmd = db_service(&url, &db);
    cmd.args(["--metrics-listen", &format!("127.0.0.1:{port}")])
        .stderr(Stdio::piped());
    let mut service = cmd.spawn().unwrap();
    let stderr = service.stderr.take().unwrap();
    let log = tokio::spawn(async move {
        use tokio::io::AsyncReadExt;
        let mut s = String::new();
        let _ = tokio::io::BufReader::new(stderr)
            .read_to_string(&mut s)
            .await;
        s
    });
    readyz(&base, 200).await;
    let publish = |events, tag| {
        let client = client.clone();
        async move {
            bench::publish_durable(
                client.nats_client().unwrap(),
                events,
                tag,
                256,
                DRAIN_TIMEOUT,
            )
            .await
            .unwrap()
            .events
        }
    };
    let before = 500;
    assert_eq!(
        publish(long_lines(before, "before"), "before").await,
        before
    );
    wait_rows_at_least(&db, before as i64, "before the disk is full").await;

    fill(&disk.0.join("filler"));
    let during = 4_000;
    assert_eq!(
        publish(long_lines(during, "during"), "during").await,
        during
    );
    let body = readyz(&base, 503).await;
    assert!(body.contains("commits are failing"), "{body}");
    assert!(body.contains("full"), "the reason: {body}");
    let stuck = rows(&db);
    assert!(
        stuck < (before + during) as i64,
        "the disk was full ({stuck} rows)"
    );

    std::fs::remove_file(disk.0.join("filler")).unwrap();
    readyz(&base, 200).await;
    assert_exactly_stored(&client, &db, (before + during) as i64).await;

    sigterm(&service);
    let status = tokio::time::timeout(STOP_LIMIT, service.wait())
        .await
        .expect("stops")
        .unwrap();
    assert!(status.success(), "exit status {status}");
    let log = log.await.unwrap();
    assert_eq!(
        log.matches("Batches cannot be committed").count(),
        1,
        "one line a minute, not one per batch:\n{log}"
    );
    assert_eq!(log.matches("Commits succeed again").count(), 1, "{log}");
    drop(nats);
}
