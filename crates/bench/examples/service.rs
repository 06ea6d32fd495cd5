//! Benchmark of the database service, run as a separate `rosey db-service` process against
//! its own nats-server (testkit). Build the binary first:
//!
//! ```text
//! cargo build --release -p rosey
//! cargo run --release -p rosey-bench --example service -- [--events N] [--requests N] [--rosey PATH] [--postgres]
//! ```
//!
//! `--postgres` runs the same measurements a second time with the service on PostgreSQL
//! (a fresh database, dropped at the end), so both backends are measured side by side.
//!
//! Prints ready time, idle and peak RSS, the message and mixed bursts (events/s end to end,
//! every effect checked), and recent_chat.get latency against an echo responder.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use rosey_bench::dbbench as bench;
use rosey_bus::{Bus, NatsOptions};
use rosey_model::subjects;
use rosey_store::StoreTarget;

struct Args {
    /// Run only the echo responder against this NATS URL (the bench spawns itself so).
    echo: Option<String>,
    events: usize,
    requests: usize,
    rosey: PathBuf,
    /// Also run everything against PostgreSQL (after SQLite, same run), in a fresh database
    /// on the server of `rosey_testkit::pg` (127.0.0.1:5432, or `ROSEY_TEST_PG_URL`).
    postgres: bool,
}

fn args() -> Args {
    let mut a = Args {
        echo: None,
        events: 100_000,
        requests: 2_000,
        rosey: PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/release/rosey"),
        postgres: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().unwrap_or_else(|| panic!("{flag} needs a value"));
        match flag.as_str() {
            "--events" => a.events = value().parse().expect("--events N"),
            "--requests" => a.requests = value().parse().expect("--requests N"),
            "--rosey" => a.rosey = value().into(),
            "--echo" => a.echo = Some(value()),
            "--postgres" => {
                a.postgres = true;
                continue;
            }
            other => panic!("unknown flag {other}"),
        }
    }
    a
}

fn ms(d: Duration) -> String {
    format!("{:.3} ms", d.as_secs_f64() * 1000.0)
}

#[tokio::main]
async fn main() {
    let args = args();
    if let Some(url) = args.echo {
        // The floor runs in its own process, like the service: same scheduling costs.
        let bus = Bus::connect(NatsOptions::new(url)).await.unwrap();
        let echo = bench::start_echo(bus).await.unwrap();
        let _ = echo.await;
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let pg = args
        .postgres
        .then(|| rosey_testkit::pg::PgTestDb::create("bench"));
    let mut targets = vec![StoreTarget::Sqlite(dir.path().join("bench.db"))];
    targets.extend(pg.iter().map(|p| StoreTarget::Postgres(p.url())));
    for db in targets {
        println!("== {} ({db})", db.backend());
        measure(&args, db).await;
    }
}

async fn measure(args: &Args, db: StoreTarget) {
    let nats = rosey_testkit::NatsServer::start();
    let channel = "bench";

    let started = Instant::now();
    let mut service = Command::new(&args.rosey);
    service.args(["db-service", "--log-level", "warn"]);
    match &db {
        StoreTarget::Sqlite(path) => service.arg("--db-path").arg(path),
        StoreTarget::Postgres(url) => service.args(["--db-url", url]),
    };
    let mut child = service
        .args(["--nats-url", &nats.url()])
        .stdin(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", args.rosey.display()));
    let pid = child.id();
    let client = Bus::connect(NatsOptions::new(nats.url())).await.unwrap();
    let mut echo = Command::new(std::env::current_exe().unwrap())
        .args(["--echo", &nats.url()])
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    bench::wait_ready(
        &client,
        bench::ECHO_SUBJECT,
        Instant::now(),
        Duration::from_secs(10),
    )
    .await
    .unwrap();
    let ready = bench::wait_ready(
        &client,
        subjects::RECENT_CHAT_GET,
        started,
        Duration::from_secs(10),
    )
    .await
    .unwrap();
    println!("ready to answer:        {}", ms(ready));

    // Idle: let start-up settle, then read the resident set.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (idle, _) = bench::rss_kib(pid).unwrap();
    println!("idle RSS:               {:.1} MB", idle as f64 / 1024.0);

    let burst = bench::run_burst(
        &client,
        bench::message_burst(args.events, channel),
        db.clone(),
        "recent_chat",
        args.events as i64,
        Duration::from_secs(120),
    )
    .await
    .unwrap();
    let (_, peak) = bench::rss_kib(pid).unwrap();
    let reader = bench::open_reader(db.clone()).await.unwrap();
    let totals = reader.call(|s| s.channel_totals("bench")).await.unwrap();
    let (rows, lines) = (totals.chat_rows, totals.chat_lines);
    assert_eq!(rows, args.events as i64, "rows lost");
    assert_eq!(lines, args.events as i64, "chat lines lost");
    println!(
        "message.log burst:      {} events, published in {}, persisted in {} → {:.0} events/s (rows {rows}, lines {lines})",
        burst.events,
        ms(burst.publish_time),
        ms(burst.end_to_end),
        burst.events_per_sec()
    );
    println!("peak RSS (burst):       {:.1} MB", peak as f64 / 1024.0);

    let (q, floor) = bench::latency_vs_echo(
        &client,
        subjects::RECENT_CHAT_GET,
        format!(r#"{{"channel":"{channel}"}}"#).as_bytes(),
        args.requests,
    )
    .await
    .unwrap();
    println!(
        "recent_chat.get x{}:  p50 {} p99 {} max {}",
        q.count,
        ms(q.p50),
        ms(q.p99),
        ms(q.max)
    );
    println!(
        "echo floor x{}:       p50 {} p99 {} max {}  → p99 ratio {:.2}",
        floor.count,
        ms(floor.p50),
        ms(floor.p99),
        ms(floor.max),
        q.p99.as_secs_f64() / floor.p99.as_secs_f64()
    );

    let mixed_channel = "mixed";
    let (events, expect) = bench::mixed_burst(args.events, mixed_channel);
    let burst = bench::run_burst(
        &client,
        events,
        db.clone(),
        "recent_chat",
        args.events as i64 + expect.messages,
        Duration::from_secs(120),
    )
    .await
    .unwrap();
    // The last event of the burst is a leave: wait until every session is closed, then check.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match bench::check_mixed(&reader, mixed_channel, &expect).await {
            Ok(()) => break,
            Err(e) if Instant::now() > deadline => panic!("mixed burst effects wrong: {e}"),
            Err(_) => tokio::time::sleep(Duration::from_millis(1)).await,
        }
    }
    println!(
        "mixed burst:            {} events, persisted in {} → {:.0} events/s (effects checked: {expect:?})",
        burst.events,
        ms(burst.end_to_end),
        burst.events_per_sec()
    );
    let (_, peak) = bench::rss_kib(pid).unwrap();
    println!("peak RSS (both bursts): {:.1} MB", peak as f64 / 1024.0);

    let t = Instant::now();
    let _ = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status();
    let status = child.wait().unwrap();
    println!("SIGTERM → exit:         {} ({status})", ms(t.elapsed()));
    let _ = echo.kill();
    let _ = echo.wait();
    assert!(status.success());
}
