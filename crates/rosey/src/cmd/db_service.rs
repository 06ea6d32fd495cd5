//! `rosey db-service`: the database service in the foreground.
//!
//! Thin: read the v2 config (if given), let flags and env (`--db-path`/`DATABASE_PATH`,
//! `--nats-url`/`NATS_URL`) override it, connect to NATS, and run
//! [`rosey_dbservice::DbService`] until SIGINT/SIGTERM, then flush and close sessions.

use std::{path::PathBuf, process::ExitCode, time::Duration};

use anyhow::Context;
use rosey_bus::{Bus, NatsOptions, TlsOptions};
use rosey_config::{Config, LogFormat, NatsUrl};
use rosey_dbservice::{DbService, DbServiceConfig};

/// Where the service looks for NATS when neither flag, env nor config names a server.
const DEFAULT_NATS_URL: &str = "nats://127.0.0.1:4222";
/// "Keep forever" for a retention of 0 in the config (100 years).
const FOREVER: Duration = Duration::from_secs(100 * 365 * 86_400);

#[derive(clap::Args, Debug)]
pub struct DbServiceArgs {
    /// Configuration file (v2).
    pub config: Option<PathBuf>,
    /// SQLite database file.
    #[arg(long, env = "DATABASE_PATH")]
    pub db_path: Option<PathBuf>,
    /// NATS server URL.
    #[arg(long, env = "NATS_URL")]
    pub nats_url: Option<String>,
    /// Log level (error, warn, info, debug, trace).
    #[arg(long)]
    pub log_level: Option<String>,
}

pub async fn run(args: DbServiceArgs) -> anyhow::Result<ExitCode> {
    let config = match &args.config {
        Some(path) => Config::load(path)
            .with_context(|| format!("cannot load configuration {}", path.display()))?,
        None => Config::default(),
    };
    let level = args.log_level.clone().or_else(|| {
        args.config
            .as_ref()
            .map(|_| config.logging.level.to_string())
    });
    crate::logging::init(
        level.as_deref(),
        "info",
        config.logging.format == LogFormat::Json,
    );

    let db_path = args
        .db_path
        .clone()
        .unwrap_or_else(|| config.database.path.clone());
    let mut cfg = DbServiceConfig::new(db_path, config.default_channel());
    let r = &config.database.retention;
    cfg.retention.recent_chat = r.recent_chat().unwrap_or(FOREVER);
    cfg.retention.user_count_history = r.user_count_history().unwrap_or(FOREVER);
    cfg.retention.sent_outbound = r.sent_outbound().unwrap_or(FOREVER);

    let options = nats_options(&args, &config)?;
    tracing::debug!(servers = %options.servers_for_log(), "Connecting to NATS.");
    let bus = Bus::connect(options).await.context("NATS is unreachable")?;
    let service = DbService::start(bus, cfg)
        .await
        .context("cannot start the database service")?;

    wait_for_signal().await;
    tracing::info!("Signal received; flushing and closing sessions.");
    service
        .shutdown()
        .await
        .context("database service shutdown")?;
    Ok(ExitCode::SUCCESS)
}

fn nats_options(args: &DbServiceArgs, config: &Config) -> anyhow::Result<NatsOptions> {
    let n = &config.nats;
    let servers = match args.nats_url.as_deref().map(NatsUrl::parse_list) {
        Some(NatsUrl::Servers(urls)) => urls,
        Some(NatsUrl::Embedded) => anyhow::bail!(
            "the database service alone needs a NATS server (`embedded` runs it inside `rosey run`)"
        ),
        None => match &n.url {
            NatsUrl::Servers(urls) => urls.clone(),
            NatsUrl::Embedded => vec![DEFAULT_NATS_URL.to_string()],
        },
    };
    let tls = n.tls.as_ref().map(|t| TlsOptions {
        ca: t.ca.clone(),
        cert: t.cert.clone(),
        key: t.key.clone(),
        required: t.required,
    });
    Ok(NatsOptions {
        servers,
        connection_timeout: n.connection_timeout,
        max_reconnect_attempts: n.max_reconnects(),
        reconnect_delay: n.reconnect_delay,
        user: n.user.clone(),
        password: n.password.as_ref().map(|p| p.expose().to_string()),
        token: n.token.as_ref().map(|t| t.expose().to_string()),
        credentials: n.credentials.clone(),
        nkey: n.nkey.clone(),
        tls: tls.unwrap_or_default(),
        name: "rosey-db-service".to_string(),
        ..NatsOptions::default()
    })
}

/// SIGINT or SIGTERM.
async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
