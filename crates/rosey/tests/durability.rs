//! Fault tests of durable mode (SPEC §3.4) with real processes: the `rosey db-service` binary
//! (killed with SIGKILL, restarted), a real nats-server (stopped and started), and two
//! publishers:
//! - the bot's own durable path, [`rosey_bus::outbox::Outbox`] (one message in flight, a
//!   lone event or a batch of what queued up, ack awaited, retried in order with the same
//!   id), where the bot's behaviour is the point
//!   (service down, NATS restart);
//! - [`rosey_bench::dbbench::publish_durable`] (JetStream with `Nats-Msg-Id`, acks awaited,
//!   a pipelined window, retries with the same id) where volume is the point (50,000 events).
//!
//! The last test runs two services on one PostgreSQL database instead (`--db-url` and
//! `DATABASE_URL`), one SIGKILLed mid-burst.
//!
//! Every test ends with an exact count against the database: `recent_chat` rows, distinct
//! messages and the sum of `total_chat_lines` all equal the events published (none lost, none
//! twice), checked after the durable consumer reports nothing pending and nothing
//! unacknowledged (so no redelivery can still change the count). Nothing sleeps to wait for
//! something: conditions are polled with a deadline.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use bytes::Bytes;
use rosey_bench::dbbench as bench;
use rosey_bus::durable::{StreamSettings, ensure_db_stream};
use rosey_bus::{Bus, NatsOptions};
use rosey_model::subjects;
use rosey_testkit::{NatsServer, service::until_db_service_answers};
use serde_json::Value;

mod common;
use common::durable::{
    DRAIN_TIMEOUT, POLL, assert_exactly_stored, chat_events, consumer_info, consumer_state, counts,
    rows, wait_rows_at_least,
};

/// Redelivery delay of the services under test (the default is 30 s): a killed instance's
/// in-flight events come back after this long.
const ACK_WAIT_SECS: &str = "2";
const READY_TIMEOUT: Duration = Duration::from_secs(20);
const PUBLISH_TIMEOUT: Duration = Duration::from_secs(60);

/// A `rosey db-service --jetstream` process.
struct Service {
    child: Child,
}

/// Where a service keeps its data.
enum DbArg<'a> {
    /// `--db-path FILE`.
    Sqlite(&'a Path),
    /// `--db-url URL`.
    Postgres(&'a str),
    /// `DATABASE_URL=URL` in the environment.
    PostgresEnv(&'a str),
}

impl Service {
    fn spawn(nats_url: &str, db: &DbArg<'_>) -> Service {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_rosey"));
        cmd.args(["db-service", "--jetstream", "--log-level", "warn"])
            .args(["--ack-wait", ACK_WAIT_SECS, "--nats-url", nats_url])
            .env_remove("DATABASE_URL")
            .env_remove("DATABASE_PATH");
        match db {
            DbArg::Sqlite(path) => cmd.arg("--db-path").arg(path),
            DbArg::Postgres(url) => cmd.args(["--db-url", url]),
            DbArg::PostgresEnv(url) => cmd.env("DATABASE_URL", url),
        };
        let child = cmd
            .stdin(Stdio::null())
            .spawn()
            .expect("run the rosey binary");
        Service { child }
    }

    /// Spawns and waits until it answers a query (stream and consumer are set up by then).
    async fn start(client: &Bus, nats_url: &str, db: &Path) -> Service {
        Service::start_on(client, nats_url, &DbArg::Sqlite(db)).await
    }

    /// [`Service::start`] on any database.
    async fn start_on(client: &Bus, nats_url: &str, db: &DbArg<'_>) -> Service {
        let mut s = Service::spawn(nats_url, db);
        until_db_service_answers(client, READY_TIMEOUT, || s.child.try_wait().unwrap()).await;
        s
    }

    /// SIGKILL: no flush, no ack, no goodbye.
    fn kill(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    /// SIGTERM and a clean exit.
    fn stop(mut self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        let exit = self.child.wait().unwrap();
        assert!(exit.success(), "db-service exit status {exit}");
    }

    fn is_running(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn connect(url: &str) -> Bus {
    Bus::connect(NatsOptions::new(url)).await.unwrap()
}

/// The stream as the bot would create it (file storage, so it survives a server restart).
fn stream_settings() -> StreamSettings {
    StreamSettings::default()
}

/// Publishes with the pipelined JetStream publisher; every event must be acknowledged.
async fn publish_pipelined(client: &Bus, events: Vec<(&'static str, Bytes)>, prefix: &str) {
    let n = events.len();
    let r = bench::publish_durable(
        client.nats_client().unwrap(),
        events,
        prefix,
        256,
        PUBLISH_TIMEOUT,
    )
    .await
    .unwrap();
    assert_eq!(r.events, n);
    assert_eq!(r.duplicates, 0, "a fresh id was taken for a duplicate");
}

struct Env {
    nats: NatsServer,
    _dir: tempfile::TempDir,
    db: PathBuf,
    client: Bus,
}

async fn env() -> Env {
    let nats = NatsServer::start();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("bot_data.db");
    let client = connect(&nats.url()).await;
    ensure_db_stream(client.nats_client().unwrap(), &stream_settings())
        .await
        .unwrap();
    Env {
        nats,
        _dir: dir,
        db,
        client,
    }
}

/// `delivered.stream_seq` of the durable consumer: the last stream message handed out.
async fn delivered_seq(client: &Bus) -> u64 {
    let v = consumer_info(client).await.expect("consumer info");
    v["delivered"]["stream_seq"].as_u64().unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_in_the_middle_of_50000_events_loses_and_duplicates_nothing() {
    let e = env().await;
    let url = e.nats.url();
    let n = 50_000;
    let service = Service::start(&e.client, &url, &e.db).await;
    let publisher = {
        let client = e.client.clone();
        tokio::spawn(async move {
            publish_pipelined(&client, chat_events(n, "kill", "dur"), "kill").await
        })
    };
    wait_rows_at_least(&e.db, 10_000, "before the kill").await;
    // Hold the database's write lock so that the service keeps receiving events it cannot
    // commit yet: the kill then lands with thousands of events delivered and not committed
    // (a service that acked on receipt would lose them all), not in a lucky quiet moment.
    let lock = rosey_store::Store::open(&e.db, &rosey_store::StoreOptions::default()).unwrap();
    lock.connection().execute_batch("BEGIN IMMEDIATE").unwrap();
    let committed = rows(&e.db) as u64;
    let deadline = Instant::now() + DRAIN_TIMEOUT;
    while delivered_seq(&e.client).await < committed + 2_000 {
        assert!(Instant::now() < deadline, "the service stopped pulling");
        tokio::time::sleep(POLL).await;
    }
    service.kill();
    lock.connection().execute_batch("ROLLBACK").unwrap();
    drop(lock);
    let at_kill = rows(&e.db);
    assert!(
        at_kill < n as i64,
        "the kill must hit the middle of the stream ({at_kill} rows)"
    );
    let _restarted = Service::start(&e.client, &url, &e.db).await;
    publisher.await.unwrap();
    assert_exactly_stored(&e.client, &e.db, n as i64).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_published_while_the_service_is_down_are_stored_once_it_starts() {
    let e = env().await;
    let url = e.nats.url();
    // The service has run before (the durable consumer exists), then is stopped.
    Service::start(&e.client, &url, &e.db).await.stop();
    let n = 10_000;
    let stop = tokio_util::sync::CancellationToken::new();
    let (outbox, task) = rosey_bus::outbox::Outbox::start(
        e.client.nats_client().unwrap().clone(),
        stream_settings(),
        stop.clone(),
    );
    for (i, (subject, payload)) in chat_events(n, "down", "dur").into_iter().enumerate() {
        outbox.push(subject, format!("down-{i}"), payload);
    }
    tokio::time::timeout(PUBLISH_TIMEOUT, outbox.acknowledged(n as u64))
        .await
        .expect("outbox did not deliver");
    let stats = outbox.stats();
    let messages = stats.messages.load(std::sync::atomic::Ordering::Relaxed);
    assert_eq!(
        stats.stored.load(std::sync::atomic::Ordering::Relaxed),
        n as u64
    );
    assert!(
        messages < n as u64 / 10,
        "a burst goes out in batches: {messages} messages for {n} events"
    );
    assert_eq!(rows(&e.db), 0, "nothing stored while the service is down");
    let service = Service::start(&e.client, &url, &e.db).await;
    assert_exactly_stored(&e.client, &e.db, n as i64).await;
    stop.cancel();
    task.await.unwrap();
    assert_eq!(
        outbox
            .stats()
            .overflow
            .load(std::sync::atomic::Ordering::Relaxed),
        0
    );
    service.stop();

    // The batches replay like single events: into the live file nothing changes, into a
    // fresh one everything comes back once.
    let out = replay(&url, &e.db, "1");
    assert!(
        out.contains(&format!("replayed {messages} messages")),
        "{out}"
    );
    assert!(
        out.contains(&format!("0 applied, {n} already stored")),
        "{out}"
    );
    let dir = tempfile::tempdir().unwrap();
    let fresh = dir.path().join("rebuilt.db");
    let out = replay(&url, &fresh, "1");
    assert!(
        out.contains(&format!("{n} applied, 0 already stored")),
        "{out}"
    );
    assert_eq!(counts(&fresh), (n as i64, n as i64, n as i64));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_nats_restart_in_the_middle_of_the_stream_loses_and_duplicates_nothing() {
    let mut e = env().await;
    let url = e.nats.url();
    let mut service = Service::start(&e.client, &url, &e.db).await;
    let n = 20_000;
    let stop = tokio_util::sync::CancellationToken::new();
    let (outbox, task) = rosey_bus::outbox::Outbox::start(
        e.client.nats_client().unwrap().clone(),
        stream_settings(),
        stop.clone(),
    );
    // A bot's stream arrives over time: 20 events per millisecond (about a second in all),
    // so the restart lands in the middle of it however fast the batches are stored.
    let producer = tokio::spawn({
        let outbox = outbox.clone();
        async move {
            let mut tick = tokio::time::interval(Duration::from_millis(1));
            for (i, (subject, payload)) in chat_events(n, "restart", "dur").into_iter().enumerate()
            {
                if i % 20 == 0 {
                    tick.tick().await;
                }
                outbox.push(subject, format!("restart-{i}"), payload);
            }
        }
    });
    wait_rows_at_least(&e.db, 1_000, "before the restart").await;
    e.nats.restart();
    let after = rows(&e.db);
    assert!(
        after < n as i64,
        "the restart must hit the middle of the stream"
    );
    producer.await.unwrap();
    // Both the outbox and the service reconnect by themselves.
    if tokio::time::timeout(PUBLISH_TIMEOUT, outbox.acknowledged(n as u64))
        .await
        .is_err()
    {
        panic!("outbox stuck at {}", outbox.stats().acknowledged());
    }
    assert_exactly_stored(&e.client, &e.db, n as i64).await;
    assert!(service.is_running(), "the service survived the restart");
    stop.cancel();
    task.await.unwrap();
    service.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_share_the_stream_and_one_is_killed() {
    let e = env().await;
    let url = e.nats.url();
    let one = Service::start(&e.client, &url, &e.db).await;
    let mut two = Service::start(&e.client, &url, &e.db).await;
    let n = 20_000;
    let publisher = {
        let client = e.client.clone();
        tokio::spawn(async move {
            publish_pipelined(&client, chat_events(n, "pair", "dur"), "pair").await
        })
    };
    wait_rows_at_least(&e.db, 5_000, "before the kill").await;
    one.kill();
    assert!(rows(&e.db) < n as i64, "the kill must hit the middle");
    publisher.await.unwrap();
    assert_exactly_stored(&e.client, &e.db, n as i64).await;
    assert!(two.is_running());
    two.stop();
}

/// `rejected` counts of the running service, from the micro-service `$SRV.STATS` data.
async fn rejected(client: &Bus) -> serde_json::Map<String, Value> {
    let r = client
        .request("$SRV.STATS.rosey-db", Bytes::new(), Duration::from_secs(2))
        .await
        .unwrap();
    let v: Value = serde_json::from_slice(&r.payload).unwrap();
    v["endpoints"][0]["data"]["rejected"]
        .as_object()
        .cloned()
        .unwrap_or_default()
}

/// A nats-server whose `max_payload` (8 MB) is above the service's own limit (1 MiB, NATS's
/// default), so that an oversized event reaches the service instead of being refused by the
/// client. Killed on drop.
struct BigPayloadNats {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl BigPayloadNats {
    async fn start() -> BigPayloadNats {
        let binary =
            rosey_testkit::find_binary().expect("nats-server (apt-get install nats-server)");
        let dir = tempfile::tempdir().unwrap();
        let port = rosey_testkit::free_port();
        let conf = dir.path().join("nats.conf");
        std::fs::write(
            &conf,
            format!(
                "listen: 127.0.0.1:{port}\nmax_payload: 8MB\njetstream {{ store_dir: {:?} }}\n",
                dir.path().join("js")
            ),
        )
        .unwrap();
        let child = Command::new(binary)
            .arg("-c")
            .arg(&conf)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let server = BigPayloadNats {
            child,
            port,
            _dir: dir,
        };
        let deadline = Instant::now() + READY_TIMEOUT;
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "nats-server did not start");
            tokio::time::sleep(POLL).await;
        }
        server
    }

    fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }
}

impl Drop for BigPayloadNats {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_and_oversized_messages_are_counted_and_good_ones_all_stored() {
    let nats = BigPayloadNats::start().await;
    let url = nats.url();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("bot_data.db");
    let client = connect(&url).await;
    let deadline = Instant::now() + READY_TIMEOUT;
    while let Err(e) = ensure_db_stream(client.nats_client().unwrap(), &stream_settings()).await {
        assert!(Instant::now() < deadline, "JetStream not ready: {e}");
        tokio::time::sleep(POLL).await;
    }
    let mut service = Service::start(&client, &url, &db).await;

    let oversized = format!(
        r#"{{"username":"big","message":"{}","channel":"dur"}}"#,
        "x".repeat(2 * rosey_model::MAX_PAYLOAD_BYTES)
    );
    let bad: Vec<(&'static str, Bytes, &'static str)> = vec![
        (
            subjects::MESSAGE_LOG,
            Bytes::from_static(b"{not json"),
            "malformed_json",
        ),
        (
            subjects::MESSAGE_LOG,
            Bytes::from_static(b"\xff\xfe\x00"),
            "malformed_json",
        ),
        (
            subjects::MESSAGE_LOG,
            Bytes::from_static(b"[1,2,3]"),
            "bad_field",
        ),
        (
            subjects::MESSAGE_LOG,
            Bytes::from_static(br#"{"username":7,"message":"x"}"#),
            "bad_field",
        ),
        (
            subjects::MESSAGE_LOG,
            Bytes::from_static(br#"{"username":"a","message":""}"#),
            "empty_message",
        ),
        (
            subjects::STATS_USER_COUNT,
            Bytes::from_static(br#"{"chat_count":"three","connected_count":1}"#),
            "bad_field",
        ),
        (
            subjects::USER_JOINED,
            Bytes::from_static(br#"{"username":""}"#),
            "empty_username",
        ),
        (
            subjects::MESSAGE_LOG,
            Bytes::from(oversized.into_bytes()),
            "too_large",
        ),
    ];
    let good = 2_000;
    let mut events = Vec::new();
    let mut expected = std::collections::BTreeMap::<&str, u64>::new();
    for (i, (subject, payload)) in chat_events(good, "mixed", "dur").into_iter().enumerate() {
        events.push((subject, payload));
        if i % 10 == 5 {
            let (s, p, kind) = &bad[(i / 10) % bad.len()];
            events.push((*s, p.clone()));
            *expected.entry(kind).or_default() += 1;
        }
    }
    publish_pipelined(&client, events, "mixed").await;

    assert_exactly_stored(&client, &db, good as i64).await;
    let counts = rejected(&client).await;
    let got: std::collections::BTreeMap<&str, u64> = counts
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_u64().unwrap_or(0)))
        .collect();
    assert_eq!(got, expected, "rejections by kind");
    assert!(service.is_running(), "bad input must not crash the service");
    // Still answering.
    let r = client
        .request(
            subjects::QUERY_CHANNEL_STATS,
            &b"{}"[..],
            Duration::from_secs(2),
        )
        .await
        .unwrap();
    assert!(r.payload.starts_with(br#"{"success":true"#));
    service.stop();
}

/// Runs `rosey db-service --replay-from WHEN` into `db`; returns its summary line.
fn replay(nats_url: &str, db: &Path, from: &str) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_rosey"))
        .args(["db-service", "--log-level", "warn", "--nats-url", nats_url])
        .args(["--replay-from", from, "--db-path"])
        .arg(db)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "replay failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_rebuilds_statistics_from_the_stream_and_never_counts_twice() {
    let e = env().await;
    let url = e.nats.url();
    let service = Service::start(&e.client, &url, &e.db).await;
    publish_pipelined(&e.client, chat_events(2_000, "first", "dur"), "first").await;
    // An old publisher: core NATS, no id anywhere (the stream still captures it).
    for i in 0..100 {
        let p = format!(r#"{{"username":"py","message":"no id {i}","channel":"dur"}}"#);
        e.client.publish(subjects::MESSAGE_LOG, p).await.unwrap();
    }
    e.client.flush().await.unwrap();
    assert_exactly_stored(&e.client, &e.db, 2_100).await;
    let between = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    publish_pipelined(&e.client, chat_events(1_000, "second", "dur"), "second").await;
    assert_exactly_stored(&e.client, &e.db, 3_100).await;
    service.stop();

    // Into the live database: everything is already there, nothing changes.
    let out = replay(&url, &e.db, "1");
    assert!(out.contains("3100 messages"), "{out}");
    assert!(out.contains("0 applied, 3100 already stored"), "{out}");
    assert_eq!(counts(&e.db), (3_100, 3_100, 3_100));

    // Into a fresh file: rebuilt from the stream.
    let dir = tempfile::tempdir().unwrap();
    let fresh = dir.path().join("rebuilt.db");
    let out = replay(&url, &fresh, "1");
    assert!(out.contains("3100 applied, 0 already stored"), "{out}");
    assert_eq!(counts(&fresh), (3_100, 3_100, 3_100));
    // Twice changes nothing.
    replay(&url, &fresh, "@0");
    assert_eq!(counts(&fresh), (3_100, 3_100, 3_100));

    // From a sequence, and from a time.
    let from_seq = dir.path().join("from_seq.db");
    replay(&url, &from_seq, "2101");
    assert_eq!(counts(&from_seq), (1_000, 1_000, 1_000));
    let from_time = dir.path().join("from_time.db");
    replay(&url, &from_time, &format!("@{between}"));
    assert_eq!(counts(&from_time), (1_000, 1_000, 1_000));
    let nothing = dir.path().join("nothing.db");
    let out = replay(&url, &nothing, "999999");
    assert!(out.contains("replayed 0 messages"), "{out}");
}

/// Two services on one PostgreSQL database share the durable consumer; one is SIGKILLed in
/// the middle of a 50,000-line burst (with joins before and leaves after, so sessions are
/// open while it runs). The other carries on, the killed one's unacknowledged events are
/// redelivered to it: every line stored exactly once, every session closed, the connected
/// time exact — whichever instance applied a user's join or leave, in whichever order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_postgres_services_one_sigkilled_mid_burst_store_everything_once() {
    let e = env().await;
    let url = e.nats.url();
    let pg = rosey_testkit::pg::PgTestDb::create("durable_pair");
    let db_url = pg.url();
    let (users, n) = (50usize, 50_000usize);
    let t0 = 1_700_300_000i64;
    let mut events = Vec::with_capacity(n + 2 * users);
    let ev = |s: &'static str, body: String| (s, Bytes::from(body));
    for u in 0..users {
        events.push(ev(
            subjects::USER_JOINED,
            format!(r#"{{"username":"u{u}","channel":"dur","ts":{t0}}}"#),
        ));
    }
    for i in 0..n {
        events.push(ev(
            subjects::MESSAGE_LOG,
            format!(
                r#"{{"username":"u{}","message":"pair line {i}","channel":"dur","ts":{}}}"#,
                i % users,
                t0 + 1
            ),
        ));
    }
    for u in 0..users {
        events.push(ev(
            subjects::USER_LEFT,
            format!(r#"{{"username":"u{u}","channel":"dur","ts":{}}}"#, t0 + 100),
        ));
    }
    let total = events.len();

    let a = Service::start_on(&e.client, &url, &DbArg::Postgres(&db_url)).await;
    let mut b = Service::start_on(&e.client, &url, &DbArg::PostgresEnv(&db_url)).await;
    let reader = bench::open_reader(rosey_store::StoreTarget::Postgres(db_url.clone()))
        .await
        .unwrap();
    let totals = || async { reader.call(|s| s.channel_totals("dur")).await.unwrap() };
    let publisher = {
        let client = e.client.clone();
        tokio::spawn(async move { publish_pipelined(&client, events, "pair").await })
    };
    let deadline = Instant::now() + DRAIN_TIMEOUT;
    while totals().await.chat_rows < 10_000 {
        assert!(Instant::now() < deadline, "no progress before the kill");
        tokio::time::sleep(POLL).await;
    }
    // Block inserts into recent_chat so both instances hold delivered, uncommitted events
    // when one of them is killed.
    let (locked_tx, locked_rx) = std::sync::mpsc::channel::<()>();
    let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
    let lock_url = db_url.clone();
    let locker = std::thread::spawn(move || {
        let mut c = postgres::Client::connect(&lock_url, postgres::NoTls).unwrap();
        let mut tx = c.transaction().unwrap();
        tx.batch_execute("LOCK TABLE recent_chat IN EXCLUSIVE MODE")
            .unwrap();
        locked_tx.send(()).unwrap();
        let _ = release_rx.recv();
        tx.rollback().unwrap();
    });
    locked_rx.recv().unwrap();
    let committed = totals().await.chat_rows as u64;
    while delivered_seq(&e.client).await < committed + 4_000 {
        assert!(Instant::now() < deadline, "the services stopped pulling");
        tokio::time::sleep(POLL).await;
    }
    a.kill();
    release_tx.send(()).unwrap();
    locker.join().unwrap();
    let at_kill = totals().await.chat_rows;
    assert!(
        at_kill < n as i64,
        "the kill must hit the middle of the burst ({at_kill} rows)"
    );
    publisher.await.unwrap();
    // The survivor drains everything, including the killed instance's redeliveries.
    let deadline = Instant::now() + DRAIN_TIMEOUT;
    loop {
        let t = totals().await;
        assert!(
            t.chat_rows <= n as i64,
            "{} rows for {n} lines: stored twice",
            t.chat_rows
        );
        if t.chat_rows == n as i64
            && t.open_sessions == 0
            && consumer_state(&e.client).await == Some((0, 0))
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "not drained: {t:?}, consumer {:?}",
            consumer_state(&e.client).await
        );
        tokio::time::sleep(POLL).await;
    }
    assert!(b.is_running(), "the other service carried on");
    let t = totals().await;
    assert_eq!((t.chat_rows, t.chat_lines), (n as i64, n as i64));
    assert_eq!(t.open_sessions, 0, "no session left open");
    assert_eq!(
        t.total_time_connected,
        users as i64 * 100,
        "each session 100 s"
    );
    assert_eq!(
        reader
            .call(|s| s.count_rows("processed_events"))
            .await
            .unwrap(),
        total as i64,
        "every event applied once"
    );
    b.stop();
}
