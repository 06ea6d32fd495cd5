//! `rosey db-service`: the database service in the foreground.
//!
//! Thin: read the v2 config (if given), let flags and env (`--db-path`/`DATABASE_PATH`,
//! `--nats-url`/`NATS_URL`, `--jetstream`) override it, connect to NATS, and run
//! [`rosey_dbservice::DbService`] until SIGINT/SIGTERM, then flush and close sessions.
//! With `--replay-from`, rebuild statistics from the durable stream instead, then exit.

use std::{path::PathBuf, process::ExitCode, time::Duration};

use anyhow::Context;
use rosey_bus::{Bus, NatsOptions};
use rosey_config::{Config, NatsUrl};
use rosey_dbservice::{DbService, DbServiceError, DurableConfig, ReplayFrom};

use super::common::{self, before_signal, shutdown_signal};

/// Exit code when the database file cannot be used at start (not an SQLite database,
/// damaged, cannot be opened): restarting will not help until someone fixes the file.
pub const EXIT_DATABASE: u8 = 3;

/// Where the service looks for NATS when neither flag, env nor config names a server.
const DEFAULT_NATS_URL: &str = "nats://127.0.0.1:4222";

#[derive(clap::Args, Debug)]
#[command(after_long_help = REPLAY_HELP)]
pub struct DbServiceArgs {
    #[command(flatten)]
    pub config: super::config_arg::ConfigFile,
    /// SQLite database file.
    #[arg(long, env = "DATABASE_PATH")]
    pub db_path: Option<PathBuf>,
    /// PostgreSQL database instead of SQLite (`postgres://user@host:5432/db`).
    #[arg(long, env = "DATABASE_URL", value_parser = parse_db_url)]
    pub db_url: Option<String>,
    /// NATS server URL.
    #[arg(long, env = "NATS_URL")]
    pub nats_url: Option<String>,
    /// Log level (error, warn, info, debug, trace).
    #[arg(long)]
    pub log_level: Option<String>,
    /// Durable mode even when the config says `nats.jetstream: false`: events are read from
    /// the JetStream stream (`nats.jetstream_options`) and acknowledged after the commit.
    #[arg(long)]
    pub jetstream: bool,
    /// Durable mode: seconds before an unacknowledged event is redelivered (default 30).
    #[arg(long, value_name = "SECONDS")]
    pub ack_wait: Option<f64>,
    /// Rebuild statistics from the durable stream, from WHEN to its end, into the database
    /// file, then exit. WHEN is a stream sequence (`1` = all the stream holds), `@<unix
    /// seconds>`, or an RFC 3339 time (`2025-01-31T12:00:00Z`). See below.
    #[arg(long, value_name = "WHEN")]
    pub replay_from: Option<ReplayFrom>,
    /// Serve /metrics, /healthz and /readyz on this address (overrides `metrics.listen`).
    #[arg(long, value_name = "ADDR")]
    pub metrics_listen: Option<std::net::SocketAddr>,
}

fn parse_db_url(s: &str) -> Result<String, String> {
    if rosey_store::storage::is_postgres_url(s) {
        Ok(s.to_string())
    } else {
        Err("expected a PostgreSQL URL like postgres://user@host:5432/db".to_string())
    }
}

const REPLAY_HELP: &str = "\
Durable mode (nats.jetstream: true, or --jetstream): the service reads the ROSEY_DB stream
through the shared durable consumer, acknowledges each event after its database commit and
skips events whose id it already stored. Killing it, restarting NATS or restarting the bot
loses nothing and stores nothing twice. Plain mode is at-most-once: events published while
no database service runs are gone.

Replay (--replay-from WHEN): reads the stream from WHEN to the last event it held when the
replay began, through a temporary consumer (running services are not disturbed), and applies
every event to the database file with the usual de-duplication by event id. So:
  - into the live database (--db-path as usual): events already stored change nothing and
    missing ones are added (e.g. events published while a plain-mode service was down);
  - into a fresh file (--db-path rebuilt.db): statistics are rebuilt from what the stream
    still holds (nats.jetstream_options.max_age, default 7 days).
Events without an id (old publishers) are de-duplicated by stream sequence. Open sessions are
left open. The replay prints a summary and exits 0.

Exit codes: 0 after SIGINT/SIGTERM (a stop takes at most about a second on the bus, even
while NATS is away: unacknowledged events are redelivered later and skipped once stored);
3 when the SQLite file cannot be used at start (not a database, damaged, cannot be opened),
with one line naming the file and the cause; 1 on any other error.";

/// Durable-mode settings from the configuration (`force` = `--jetstream`); `None` for plain
/// mode. `rosey run` can use it for an in-process service on NATS.
pub fn durable_config(config: &Config, force: bool) -> Option<DurableConfig> {
    if !(config.nats.jetstream || force) {
        return None;
    }
    let o = &config.nats.jetstream_options;
    let mut d = DurableConfig::new(rosey_bot::config::stream_settings(o));
    d.consumer = o.consumer.clone();
    Some(d)
}

pub async fn run(args: DbServiceArgs) -> anyhow::Result<ExitCode> {
    let config = common::config_or_env(args.config.as_deref())?;
    crate::logging::init_with(args.log_level.as_deref(), &config.logging)?;
    super::common::report_unused(&config);

    let mut cfg = common::db_service_config_at(&config, args.db_url.clone(), args.db_path.clone());
    cfg.durable = durable_config(&config, args.jetstream || args.replay_from.is_some());
    if let (Some(d), Some(secs)) = (cfg.durable.as_mut(), args.ack_wait) {
        anyhow::ensure!(
            secs.is_finite() && secs > 0.0,
            "--ack-wait must be a positive number of seconds"
        );
        d.ack_wait = Duration::from_secs_f64(secs);
    }

    // Listen from the start: a SIGTERM while connecting (or before the service answers)
    // must be a clean stop, not the default action or a hang.
    let mut signal = Box::pin(shutdown_signal());
    let metrics = if args.replay_from.is_none() {
        common::MetricsListener::start(args.metrics_listen, &config, "db-service").await?
    } else {
        None
    };
    let options = nats_options(&args, &config)?;
    tracing::debug!(servers = %options.servers_for_log(), "Connecting to NATS.");
    let Some(bus) = before_signal(&mut signal, Bus::connect(options)).await else {
        return Ok(ExitCode::SUCCESS);
    };
    // The bus error already names the servers and the cause, in one line.
    let bus = bus?;

    if let Some(from) = args.replay_from {
        let client = bus.nats_client().context("replay needs NATS")?;
        let stream = &config.nats.jetstream_options.stream;
        let report = rosey_dbservice::replay(client, &cfg, stream, from)
            .await
            .with_context(|| format!("replay of stream {stream}"))?;
        println!(
            "replayed {} messages of {stream} (last sequence {}) into {}: {} applied, {} already stored, {} rejected",
            report.messages,
            report.last_sequence,
            cfg.db,
            report.applied,
            report.duplicates,
            report.rejected
        );
        return Ok(ExitCode::SUCCESS);
    }

    if let Some(m) = &metrics {
        m.watch_bus(&bus);
    }
    let db_file = cfg.db.sqlite_path().map(std::path::Path::to_path_buf);
    let Some(service) = before_signal(&mut signal, DbService::start(bus, cfg)).await else {
        return Ok(ExitCode::SUCCESS);
    };
    let service = match service {
        Err(DbServiceError::Store(e)) if let Some(file) = db_file.as_deref() => {
            match e.file_problem(file) {
                Some(problem) => {
                    // One line, naming the file and what is wrong with it.
                    eprintln!(
                        "rosey: cannot open the database {}: {problem}",
                        file.display()
                    );
                    return Ok(ExitCode::from(EXIT_DATABASE));
                }
                None => Err(DbServiceError::Store(e)),
            }
        }
        other => other,
    };
    let service = service.context("cannot start the database service")?;
    if let Some(m) = &metrics {
        m.watch_db(&service);
    }

    signal.await;
    tracing::info!("Signal received; flushing and closing sessions.");
    service
        .shutdown()
        .await
        .context("database service shutdown")?;
    if let Some(m) = metrics {
        m.shutdown().await;
    }
    Ok(ExitCode::SUCCESS)
}

fn nats_options(args: &DbServiceArgs, config: &Config) -> anyhow::Result<NatsOptions> {
    let servers = match args.nats_url.as_deref().map(NatsUrl::parse_list) {
        Some(NatsUrl::Servers(urls)) => urls,
        Some(NatsUrl::Embedded) => anyhow::bail!(
            "the database service alone needs a NATS server (`embedded` runs it inside `rosey run`)"
        ),
        None => match &config.nats.url {
            NatsUrl::Servers(urls) => urls.clone(),
            NatsUrl::Embedded => vec![DEFAULT_NATS_URL.to_string()],
        },
    };
    Ok(common::nats_options(
        &config.nats,
        servers,
        "rosey-db-service",
        rosey_model::subjects::INBOX_DB,
    ))
}
