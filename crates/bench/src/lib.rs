//! `rosey bench`: the benchmark suite, as a library so that the binary stays thin and the
//! suite can be tested.
//!
//! [`run`] starts what it needs — a nats-server on a free loopback port, `rosey db-service`
//! and an echo responder as separate processes, the devserver in this process (for the
//! scale run a `rosey devserver` process) and `rosey bot` processes against it — then measures, with warm-up and repeated runs, and returns a
//! [`Report`]: ingest, query latency next to an echo floor, end to end, scale, resources,
//! the machine and versions, and the issue's targets checked against the figures. Only
//! loopback traffic; every file lives in a temporary directory.
//!
//! # Layout
//! - `dbbench.rs`: the database-service measuring code (bursts, publishers, waits, echo
//!   floor), backend-agnostic; `examples/service.rs` and `examples/durable_service.rs` run it.
//! - `options.rs`: size presets (full, quick, tiny) and [`BenchOptions`].
//! - `procs.rs`: the processes under test: spawn, `/proc` memory and CPU, SIGTERM.
//! - `machine.rs`: cores, memory, OS, load; nats-server and SQLite versions.
//! - `ingest.rs`: message and mixed bursts, lost/duplicated counts (plain mode).
//! - `durable.rs`: durable-mode ingest (JetStream publisher, `db-service --jetstream`).
//! - `query.rs`: request latency alternating with the echo floor; the echo responder.
//! - `bot.rs`: a bot config for N devserver channels, `rosey bot`, "joined".
//! - `e2e.rs`: chat line → row latency at a fixed rate.
//! - `scale.rs`: one bot process with N channels, against a devserver process of its own.
//! - `moderation.rs`: end-to-end latency with `rosey moderator` running and not
//!   (`rosey bench --moderation`).
//! - `backends.rs`: SQLite and PostgreSQL side by side (`rosey bench --postgres`).
//! - `plugins.rs`: the plugin command round trip with 1 and 10 plugins (`rosey bench --plugins`).
//! - `stats.rs`: percentiles, median and spread.
//! - `audience.rs`: 2,000 SSE viewers of one channel at 1,000 lines/s (`rosey bench
//!   --audience`): every line to every viewer, delivery p99, `rosey web`'s RSS.
//! - `web.rs`: the web dashboard's figures (`rosey bench --web`): first HTML, idle RSS,
//!   SSE clients receiving a chat stream.
//! - `report.rs`: the report, target checks, Markdown.
//! - `history.rs`: each run's figures appended to `bench-history.jsonl`, and `report.html`
//!   (self-contained: the dashboard's chart code, the data) with every figure's trend.
//! - `progress.rs`: the progress bar.
//! - `floor.rs`: the storage floor (a raw batched insert of a burst's rows, same schema).
//! - `written.rs`: the query figures while a steady 1,000 lines/s are written.
//! - `benches/hot_paths.rs`: criterion micro-benchmarks (payload decode, packet decode, batch
//!   write); `examples/commit_tail.rs`, `examples/timer_floor.rs`: the two experiments
//!   BENCHMARKS.md cites for the end-to-end tail.
//!
//! Measuring honestly: a figure is either measured in this run or reported as not measured
//! with the reason; a missed target is a row in the report, not an error. An error means a
//! measurement could not be taken at all (a process died, a service never answered).

pub mod audience;
pub mod backends;
pub mod bot;
pub mod dbbench;
pub mod durable;
pub mod e2e;
pub mod error;
pub mod floor;
pub mod history;
pub mod ingest;
pub mod machine;
pub mod moderation;
pub mod options;
pub mod plugins;
pub mod procs;
pub mod progress;
pub mod query;
pub mod report;
pub mod scale;
pub mod stats;
pub mod web;
pub mod written;

use std::ffi::OsStr;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rosey_bus::{Bus, NatsOptions};
use rosey_devserver::{DevServer, DevServerConfig};
use rosey_model::subjects;

pub use error::BenchError;
pub use options::{BenchOptions, Preset, Sizes};
pub use query::serve_echo;
pub use report::Report;

use crate::ingest::BurstFigure;
use crate::procs::{Child, exit_text};
use crate::progress::Progress;
use crate::report::{Ingest, IngestMode, ProcessResources};

/// How long a process may take to answer after it is spawned.
const READY_TIMEOUT: Duration = Duration::from_secs(20);
/// How long a process may take to stop after SIGTERM.
const STOP_TIMEOUT: Duration = Duration::from_secs(10);
/// The cores the targets were set for.
const TARGET_CORES: usize = 2;

/// Runs the suite and returns the report.
pub async fn run(opts: BenchOptions) -> Result<Report, BenchError> {
    let sizes = &opts.sizes;
    let started = Instant::now();
    let started_unix = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let load_before = machine::load_average();
    let machine = machine::Machine::read();
    let nats_binary = rosey_testkit::find_binary().ok_or(BenchError::NatsServerMissing)?;
    let versions = machine::Versions::read(Some(&nats_binary));
    let progress = Progress::new(opts.progress, step_count(sizes));
    let dir = tempfile::tempdir()?;
    let dir = dir.path();
    let db = dir.join("bench.db");

    progress.phase("starting nats-server, echo responder, db-service");
    let t = Instant::now();
    let nats = std::panic::catch_unwind(rosey_testkit::NatsServer::start)
        .map_err(|p| BenchError::NatsServerStart(panic_text(p.as_ref())))?;
    let nats_startup = t.elapsed();
    let url = nats.url();
    let client = Bus::connect(NatsOptions::new(url.clone())).await?;

    let mut echo = Child::spawn(
        "echo responder",
        &opts.rosey,
        &[
            OsStr::new("bench"),
            OsStr::new("--echo-responder"),
            OsStr::new(&url),
        ],
        dir,
        dir.join("echo.log"),
        &[],
    )?;
    let echo_ready = query::wait_answering(
        &client,
        "echo responder",
        query::ECHO_SUBJECT,
        echo.started,
        READY_TIMEOUT,
    )
    .await?;

    let service_env: Vec<(&str, String)> = opts
        .db_service_workers
        .map(|n| vec![("TOKIO_WORKER_THREADS", n.to_string())])
        .unwrap_or_default();
    let service_metrics = opts.metrics.then(metrics_addr);
    let mut service_args = vec![
        OsStr::new("--log-level"),
        OsStr::new("warn"),
        OsStr::new("--db-path"),
        db.as_os_str(),
        OsStr::new("--nats-url"),
        OsStr::new(&url),
    ];
    if let Some(addr) = &service_metrics {
        service_args.extend([OsStr::new("--metrics-listen"), OsStr::new(addr)]);
    }
    let _service_scraper = service_metrics.as_deref().map(scraper);
    let mut service = Child::spawn_db_service(
        &opts.rosey,
        &service_args,
        dir,
        dir.join("db-service.log"),
        &service_env,
    )?;
    let service_ready = query::wait_answering(
        &client,
        service.what(),
        subjects::RECENT_CHAT_GET,
        service.started,
        READY_TIMEOUT,
    )
    .await?;
    tokio::time::sleep(sizes.settle).await;
    let service_idle = service.sample()?;
    progress.step();

    // Ingest, plain mode. Each run writes its own channel, so its counts are its own.
    progress.phase("ingest: warm-up");
    ingest::message_burst(&client, &db, &mut service, "warmup", sizes.warmup_events).await?;
    let (mut message_runs, mut mixed_runs) = (Vec::new(), Vec::new());
    let mut media_runs = Vec::new();
    for r in 0..sizes.runs {
        progress.phase(format!("ingest: message burst {}/{}", r + 1, sizes.runs));
        message_runs.push(
            ingest::message_burst(
                &client,
                &db,
                &mut service,
                &format!("plain-msg-{r}"),
                sizes.burst_events,
            )
            .await?,
        );
        progress.step();
        progress.phase(format!("ingest: mixed burst {}/{}", r + 1, sizes.runs));
        mixed_runs.push(
            ingest::mixed_burst(
                &client,
                &db,
                &mut service,
                &format!("plain-mixed-{r}"),
                sizes.burst_events,
            )
            .await?,
        );
        progress.step();
        progress.phase(format!(
            "ingest: mixed burst with media {}/{}",
            r + 1,
            sizes.runs
        ));
        media_runs.push(
            ingest::mixed_media_burst(
                &client,
                &db,
                &mut service,
                &format!("plain-media-{r}"),
                sizes.burst_events,
            )
            .await?,
        );
        progress.step();
    }
    let mixed_media = BurstFigure::of(&media_runs);
    progress.phase("storage floor: raw batched inserts");
    let storage_floor =
        floor::measure(&dir.join("floor.db"), sizes.burst_events, sizes.runs).await?;
    progress.step();
    let plain = IngestMode {
        message: BurstFigure::of(&message_runs),
        mixed: BurstFigure::of(&mixed_runs),
    };

    // Query latency, on the first message burst's channel (a full-size table).
    let ch = "plain-msg-0";
    let requests = [
        (
            subjects::RECENT_CHAT_GET,
            format!(r#"{{"limit":50,"channel":"{ch}"}}"#),
        ),
        (
            subjects::QUERY_CHANNEL_STATS,
            format!(r#"{{"channel":"{ch}"}}"#),
        ),
        (
            subjects::QUERY_USER_STATS,
            format!(r#"{{"username":"user1","channel":"{ch}"}}"#),
        ),
    ];
    let mut endpoints = Vec::new();
    for (subject, request) in &requests {
        progress.phase(format!("query latency: {subject}"));
        endpoints.push(
            query::endpoint(
                &client,
                subject,
                request,
                sizes.query_requests,
                sizes.query_warmup,
                sizes.runs,
                || progress.step(),
            )
            .await?,
        );
    }

    // The same queries while a busy channel is written (the figures above are the kept
    // replies: nothing changes between requests).
    progress.phase("query latency while 1,000 lines/s are written");
    let query_written = written::measure(
        &client,
        &url,
        ch,
        &requests,
        sizes.query_requests,
        sizes.query_warmup,
        sizes.runs,
        || progress.step(),
    )
    .await?;

    // End to end: the devserver is the "CyTube" side, in this process. Scale runs against a
    // devserver process of its own (`scale.rs`).
    progress.phase("end to end: starting the devserver, a bot and the chatters");
    let devserver = DevServer::start(DevServerConfig::default()).await?;
    let channels: Vec<String> = (0..sizes.e2e_channels).map(|c| format!("e2e{c}")).collect();
    let mut config = bot::config(&url, &devserver.base_url(), &channels);
    let bot_metrics = opts.metrics.then(metrics_addr);
    if let Some(addr) = &bot_metrics {
        config["metrics"] = serde_json::json!({ "listen": addr });
    }
    let _bot_scraper = bot_metrics.as_deref().map(scraper);
    let mut e2e_bot = bot::spawn(&opts.rosey, dir, "bot-e2e", &config)?;
    let e2e_bot_ready = bot::wait_joined(&devserver, &mut e2e_bot, &channels).await?;
    progress.step();
    progress.phase(format!(
        "end to end: {} lines/s over {} channels",
        sizes.e2e_rate, sizes.e2e_channels
    ));
    let end_to_end = e2e::measure(
        e2e::Rig {
            client: &client,
            devserver: &devserver,
            db: &db,
            bot: &mut e2e_bot,
            service: &mut service,
            channels: &channels,
        },
        sizes,
        || progress.step(),
    )
    .await?;
    let e2e_bot_end = e2e_bot.sample()?;
    let (took, status) = e2e_bot.terminate(STOP_TIMEOUT).await?;
    let e2e_bot_stop = stop_text(took, &status);

    progress.phase("scale: one bot process, N channels");
    devserver.shutdown().await;
    let scale = scale::measure(&opts.rosey, dir, &url, sizes, || progress.step()).await?;

    // Durable mode last: the plain service must be gone first (a core subscriber would
    // receive the stream's subjects too).
    progress.phase("stopping the plain db-service");
    let service_end = service.sample()?;
    let (took, status) = service.terminate(STOP_TIMEOUT).await?;
    let service_stop = stop_text(took, &status);

    progress.phase("ingest, durable: starting db-service --jetstream");
    let durable_db = dir.join("bench-durable.db");
    let mut dsvc = durable::start(
        &client,
        &opts.rosey,
        dir,
        &durable_db,
        &url,
        &service_env,
        sizes.settle,
    )
    .await?;
    progress.step();
    progress.phase("ingest, durable: warm-up");
    durable::message_burst(
        &client,
        &durable_db,
        &mut dsvc.child,
        "durable-warmup",
        sizes.warmup_events,
    )
    .await?;
    let (mut d_message, mut d_mixed) = (Vec::new(), Vec::new());
    for r in 0..sizes.runs {
        progress.phase(format!(
            "ingest, durable: message burst {}/{}",
            r + 1,
            sizes.runs
        ));
        d_message.push(
            durable::message_burst(
                &client,
                &durable_db,
                &mut dsvc.child,
                &format!("durable-msg-{r}"),
                sizes.burst_events,
            )
            .await?,
        );
        progress.step();
        progress.phase(format!(
            "ingest, durable: mixed burst {}/{}",
            r + 1,
            sizes.runs
        ));
        d_mixed.push(
            durable::mixed_burst(
                &client,
                &durable_db,
                &mut dsvc.child,
                &format!("durable-mixed-{r}"),
                sizes.burst_events,
            )
            .await?,
        );
        progress.step();
    }
    let durable_mode = IngestMode {
        message: BurstFigure::of(&d_message),
        mixed: BurstFigure::of(&d_mixed),
    };
    let dsvc_end = dsvc.child.sample()?;
    let (took, status) = dsvc.child.terminate(STOP_TIMEOUT).await?;
    let dsvc_stop = stop_text(took, &status);
    let durable = report::Durable::Measured(Box::new(durable_mode.clone()));

    progress.phase("stopping");
    let (took, status) = echo.terminate(STOP_TIMEOUT).await?;
    let echo_stop = stop_text(took, &status);
    // The client first, so that it does not see the server go and log a reconnect.
    drop(client);
    drop(nats);
    progress.step();
    progress.finish();

    let mib = |kib: u64| kib as f64 / 1024.0;
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let one = scale.iter().find(|p| p.channels == 1);
    let resources = vec![
        ProcessResources {
            process: "nats-server".into(),
            startup_ms: Some(ms(nats_startup)),
            ready_means: "logs \"Server is ready\"".into(),
            idle_rss_mib: None,
            peak_rss_mib: None,
            cpu_s_per_1000_events: None,
            events_mean: "—".into(),
            stop: None,
        },
        ProcessResources {
            process: "rosey db-service".into(),
            startup_ms: Some(ms(service_ready)),
            ready_means: "answers recent_chat.get".into(),
            idle_rss_mib: Some(mib(service_idle.rss_kib)),
            peak_rss_mib: Some(mib(service_end.hwm_kib)),
            cpu_s_per_1000_events: plain
                .message
                .service_cpu_s_per_1000_events
                .as_ref()
                .map(|s| s.median),
            events_mean: "message.log events (ingest burst)".into(),
            stop: Some(service_stop),
        },
        ProcessResources {
            process: "rosey db-service --jetstream".into(),
            startup_ms: Some(ms(dsvc.startup)),
            ready_means: "stream and consumer set up, answers recent_chat.get".into(),
            idle_rss_mib: Some(mib(dsvc.idle.rss_kib)),
            peak_rss_mib: Some(mib(dsvc_end.hwm_kib)),
            cpu_s_per_1000_events: durable_mode
                .message
                .service_cpu_s_per_1000_events
                .as_ref()
                .map(|s| s.median),
            events_mean: "message.log events (durable ingest burst)".into(),
            stop: Some(dsvc_stop),
        },
        ProcessResources {
            process: "rosey bot (1 channel)".into(),
            startup_ms: one.map(|p| p.join_ms),
            ready_means: "listed in its channel by the devserver".into(),
            idle_rss_mib: one.map(|p| p.rss_mib),
            peak_rss_mib: one.map(|p| p.peak_rss_mib),
            cpu_s_per_1000_events: None,
            events_mean: "—".into(),
            stop: one.map(|p| p.stop.clone()),
        },
        ProcessResources {
            process: format!("rosey bot ({} channels, end to end)", sizes.e2e_channels),
            startup_ms: Some(ms(e2e_bot_ready)),
            ready_means: "listed in every channel by the devserver".into(),
            idle_rss_mib: None,
            peak_rss_mib: Some(mib(e2e_bot_end.hwm_kib)),
            cpu_s_per_1000_events: Some(end_to_end.bot_cpu_s_per_1000_lines.median),
            events_mean: "chat lines (end-to-end run)".into(),
            stop: Some(e2e_bot_stop),
        },
        ProcessResources {
            process: "echo responder".into(),
            startup_ms: Some(ms(echo_ready)),
            ready_means: "answers the echo subject".into(),
            idle_rss_mib: None,
            peak_rss_mib: None,
            cpu_s_per_1000_events: None,
            events_mean: "—".into(),
            stop: Some(echo_stop),
        },
    ];

    let mut notes = Vec::new();
    if cfg!(debug_assertions) {
        notes.push(
            "This is a debug build: its figures say nothing about production; build with \
             `cargo build --release -p rosey`."
                .to_string(),
        );
    }
    if machine.cores != Some(TARGET_CORES) {
        notes.push(format!(
            "The targets are set for a {TARGET_CORES}-core machine; this one has {}.",
            machine
                .cores
                .map_or_else(|| "an unknown number of".to_string(), |c| c.to_string())
        ));
    }
    if opts.metrics {
        notes.push(
            "Experiment: the db-service and the end-to-end bot served /metrics, scraped every \
             second."
                .to_string(),
        );
    }
    if let Some(n) = opts.db_service_workers {
        notes.push(format!(
            "Experiment: the db-service ran with TOKIO_WORKER_THREADS={n}."
        ));
    }
    let retries = durable_mode.message.publish_retries + durable_mode.mixed.publish_retries;
    if retries > 0 {
        notes.push(format!(
            "The durable publisher retried {retries} publish attempt(s) (no acknowledgement in \
             time); the stream de-duplicates them by id."
        ));
    }
    notes.push(format!("The database service ran as `{}`.", service.what()));
    notes.push(
        "Every process shares the machine: the bench process itself (publisher, devserver, \
         chatters, watcher) competes with the services for the same cores."
            .to_string(),
    );

    let mut report = Report {
        started_unix,
        duration_s: started.elapsed().as_secs_f64(),
        sizes: sizes.clone(),
        machine,
        versions,
        load_before,
        load_after: machine::load_average(),
        ingest: Ingest { plain, durable },
        query: endpoints,
        end_to_end,
        scale,
        resources,
        targets: Vec::new(),
        notes,
        storage_floor: Some(storage_floor),
        mixed_media: Some(mixed_media),
        query_written: Some(query_written),
    };
    report.targets = report::check_targets(&report);
    Ok(report)
}

/// Steps of the progress bar for `sizes`.
fn step_count(sizes: &Sizes) -> u64 {
    let runs = sizes.runs as u64;
    // start-up, 2 ingest kinds, 3 endpoints, e2e bot, e2e runs, scale points, durable
    // start-up, 2 durable kinds, stop; then the mixed burst with media, the storage floor
    // and 3 endpoints while written
    1 + 2 * runs
        + 3 * runs
        + 1
        + runs
        + sizes.scale_channels.len() as u64
        + 1
        + 2 * runs
        + 1
        + runs
        + 1
        + 3 * runs
}

fn stop_text(took: Duration, status: &std::process::ExitStatus) -> String {
    format!(
        "{} in {:.0} ms",
        exit_text(status),
        took.as_secs_f64() * 1e3
    )
}

fn panic_text(p: &(dyn std::any::Any + Send)) -> String {
    p.downcast_ref::<String>()
        .cloned()
        .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "panicked".to_string())
}

/// A free loopback address for a process's metrics listener.
fn metrics_addr() -> String {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or(9464);
    format!("127.0.0.1:{port}")
}

/// Scrapes `http://addr/metrics` every second until dropped (the metrics experiment).
fn scraper(addr: &str) -> tokio_util::sync::DropGuard {
    let stop = tokio_util::sync::CancellationToken::new();
    let url = format!("http://{addr}/metrics");
    let token = stop.clone();
    tokio::spawn(async move {
        let client = reqwest::Client::new();
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        loop {
            tokio::select! {
                _ = token.cancelled() => return,
                _ = tick.tick() => {
                    if let Ok(r) = client.get(&url).send().await {
                        let _ = r.bytes().await;
                    }
                }
            }
        }
    });
    stop.drop_guard()
}
