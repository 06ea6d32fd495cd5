//! The cost of durable mode against plain mode, with `rosey db-service` as a separate
//! process against its own nats-server (testkit). Build the binary first:
//!
//! ```text
//! cargo build --release -p rosey
//! cargo run --release -p rosey-bench --example durable_service -- [--events N] [--sequential N] [--window N] [--rosey PATH]
//! ```
//!
//! 1. plain: `rosey db-service` (core NATS), N `message.log` events published with core
//!    publishes; events/s end to end (first publish → last row committed) and the time each
//!    `publish` call took (the client's buffer; nothing is acknowledged);
//! 2. durable: `rosey db-service --jetstream`, the same N events through JetStream with
//!    `Nats-Msg-Id`, a window of `--window` unacknowledged publishes; events/s end to end and
//!    publish → stream-ack latency;
//! 3. durable, one at a time (window 1, what the bot's outbox does): events/s and latency;
//! 4. durable backlog: N events published while the service is stopped, then the time from
//!    starting it until the last one is committed (the service's own consume rate, with
//!    start-up included, not limited by the publisher).
//!
//! Every run checks the row count (nothing lost, nothing twice).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rosey_bench::dbbench::{self as bench, Latency};
use rosey_bus::{Bus, NatsOptions};
use rosey_model::subjects;

struct Args {
    events: usize,
    sequential: usize,
    window: usize,
    rosey: PathBuf,
    outbox_only: bool,
}

fn args() -> Args {
    let mut a = Args {
        events: 100_000,
        sequential: 5_000,
        window: 256,
        rosey: PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/release/rosey"),
        outbox_only: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().unwrap_or_else(|| panic!("{flag} needs a value"));
        match flag.as_str() {
            "--events" => a.events = value().parse().expect("--events N"),
            "--sequential" => a.sequential = value().parse().expect("--sequential N"),
            "--window" => a.window = value().parse().expect("--window N"),
            "--rosey" => a.rosey = value().into(),
            "--outbox-only" => a.outbox_only = true,
            other => panic!("unknown flag {other}"),
        }
    }
    a
}

fn ms(d: Duration) -> String {
    format!("{:.3} ms", d.as_secs_f64() * 1000.0)
}

fn lat(l: &Latency) -> String {
    format!("p50 {} p99 {} max {}", ms(l.p50), ms(l.p99), ms(l.max))
}

fn spawn(rosey: &Path, url: &str, db: &Path, durable: bool) -> Child {
    let mut c = Command::new(rosey);
    c.args([
        "db-service",
        "--log-level",
        "warn",
        "--nats-url",
        url,
        "--db-path",
    ])
    .arg(db)
    .stdin(Stdio::null());
    if durable {
        c.arg("--jetstream");
    }
    c.spawn()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", rosey.display()))
}

fn stop(mut child: Child) {
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let status = child.wait().unwrap();
    assert!(status.success(), "db-service exit {status}");
}

fn rows(db: &Path) -> i64 {
    rosey_store::Store::open_read_only(db, &rosey_store::StoreOptions::default())
        .unwrap()
        .count_rows("recent_chat")
        .unwrap()
}

#[tokio::main]
async fn main() {
    let args = args();
    let nats = rosey_testkit::NatsServer::start();
    let url = nats.url();
    let dir = tempfile::tempdir().unwrap();
    let client = Bus::connect(NatsOptions::new(&url)).await.unwrap();
    let timeout = Duration::from_secs(300);
    let n = args.events;

    if args.outbox_only {
        outbox_backlog(&args, &client, &url, &dir.path().join("outbox.db"), timeout).await;
        return;
    }

    // 1. Plain mode.
    let db = dir.path().join("plain.db");
    let child = spawn(&args.rosey, &url, &db, false);
    bench::wait_ready(&client, subjects::RECENT_CHAT_GET, Instant::now(), timeout)
        .await
        .unwrap();
    let start = Instant::now();
    let (publish_time, latency) = bench::publish_plain(&client, bench::message_burst(n, "plain"))
        .await
        .unwrap();
    let end_to_end = bench::wait_rows(&db, "recent_chat", n as i64, start, timeout)
        .await
        .unwrap();
    assert_eq!(rows(&db), n as i64, "plain: rows");
    println!(
        "plain burst:        {n} events, published in {}, persisted in {} → {:.0} events/s; publish call {}",
        ms(publish_time),
        ms(end_to_end),
        n as f64 / end_to_end.as_secs_f64(),
        lat(&latency)
    );
    stop(child);

    // 2. Durable mode, pipelined.
    let db = dir.path().join("durable.db");
    let child = spawn(&args.rosey, &url, &db, true);
    bench::wait_ready(&client, subjects::RECENT_CHAT_GET, Instant::now(), timeout)
        .await
        .unwrap();
    let js = client.nats_client().unwrap();
    let start = Instant::now();
    let published = bench::publish_durable(
        js,
        bench::message_burst(n, "durable"),
        "bench-burst",
        args.window,
        timeout,
    )
    .await
    .unwrap();
    let end_to_end = bench::wait_rows(&db, "recent_chat", n as i64, start, timeout)
        .await
        .unwrap();
    assert_eq!(rows(&db), n as i64, "durable: rows");
    assert_eq!(published.duplicates, 0);
    println!(
        "durable burst:      {n} events (window {}), acknowledged in {}, persisted in {} → {:.0} events/s; publish→ack {}",
        args.window,
        ms(published.publish_time),
        ms(end_to_end),
        n as f64 / end_to_end.as_secs_f64(),
        lat(&published.latency)
    );

    // 3. Durable mode, one at a time (the bot's outbox).
    let m = args.sequential;
    let start = Instant::now();
    let published = bench::publish_durable(
        js,
        bench::message_burst(m, "sequential"),
        "bench-seq",
        1,
        timeout,
    )
    .await
    .unwrap();
    bench::wait_rows(&db, "recent_chat", (n + m) as i64, start, timeout)
        .await
        .unwrap();
    assert_eq!(rows(&db), (n + m) as i64, "sequential: rows");
    println!(
        "durable sequential: {m} events, acknowledged in {} → {:.0} events/s; publish→ack {}",
        ms(published.publish_time),
        published.events_per_sec(),
        lat(&published.latency)
    );
    stop(child);

    // 4. Durable backlog drained by a (re)started service.
    bench::publish_durable(
        js,
        bench::message_burst(n, "backlog"),
        "bench-backlog",
        args.window,
        timeout,
    )
    .await
    .unwrap();
    let start = Instant::now();
    let child = spawn(&args.rosey, &url, &db, true);
    let total = (2 * n + m) as i64;
    let drained = bench::wait_rows(&db, "recent_chat", total, start, timeout)
        .await
        .unwrap();
    assert_eq!(rows(&db), total, "backlog: rows");
    println!(
        "durable backlog:    {n} events waiting in the stream, drained in {} after the start → {:.0} events/s",
        ms(drained),
        n as f64 / drained.as_secs_f64()
    );
    stop(child);

    // 5. The same through the bot's outbox (batches).
    outbox_backlog(&args, &client, &url, &dir.path().join("outbox.db"), timeout).await;
}

/// N events published through the bot's outbox (`rosey_bus::outbox`, bursts batched) while
/// no service runs, then drained by a starting service: the service's consume rate for
/// batches. `ROSEY_PERF=1` records the service with `perf record -g` while it drains.
async fn outbox_backlog(args: &Args, client: &Bus, url: &str, db: &Path, timeout: Duration) {
    let n = args.events;
    // The consumer must exist before the events, or the service would start with a fresh
    // consumer that still sees them (deliver policy all) — both are fine; create it first so
    // the drain below measures consumption only.
    let child = spawn(&args.rosey, url, db, true);
    bench::wait_ready(client, subjects::RECENT_CHAT_GET, Instant::now(), timeout)
        .await
        .unwrap();
    stop(child);
    let js = client.nats_client().unwrap();
    let published = rosey_bench::durable::publish_through_outbox(
        js,
        bench::message_burst(n, "outbox"),
        "bench-outbox",
        timeout,
    )
    .await
    .unwrap();
    println!(
        "outbox publish:     {n} events in {} messages, acknowledged in {} → {:.0} events/s",
        published.messages,
        ms(published.publish_time),
        n as f64 / published.publish_time.as_secs_f64()
    );
    let start = Instant::now();
    let child = spawn(&args.rosey, url, db, true);
    // `ROSEY_PERF=record`: a profile in /tmp/perf-service.data; `ROSEY_PERF=stat`:
    // instructions and CPU time of the drain (printed by perf).
    let perf = std::env::var("ROSEY_PERF").ok().map(|mode| {
        let mut c = Command::new("perf");
        if mode == "stat" {
            c.args(["stat", "-e", "instructions:u,task-clock", "-p"]);
        } else {
            c.args([
                "record",
                "-F",
                "4999",
                "-g",
                "-o",
                "/tmp/perf-service.data",
                "-p",
            ]);
            c.stdout(Stdio::null()).stderr(Stdio::null());
        }
        c.arg(child.id().to_string()).spawn().unwrap()
    });
    let drained = bench::wait_rows(db, "recent_chat", n as i64, start, timeout)
        .await
        .unwrap();
    if let Some(p) = perf {
        let _ = Command::new("kill")
            .args(["-INT", &p.id().to_string()])
            .status();
        let _ = p.wait_with_output();
    }
    assert_eq!(rows(db), n as i64, "outbox backlog: rows");
    println!(
        "outbox backlog:     {n} events waiting in the stream, drained in {} after the start → {:.0} events/s",
        ms(drained),
        n as f64 / drained.as_secs_f64()
    );
    stop(child);
}
