//! `rosey run` (bot + database service in one process, on NATS or the embedded bus),
//! `rosey bot` (the bot alone, on NATS) and `rosey demo`.

use std::process::ExitCode;

use anyhow::Context;
use rosey_bot::{Bot, BotConfig, metrics::BotSource};
use rosey_dbservice::DbService;

use super::common::{
    MetricsListener, before_signal, connect_bus, db_service_config, load_config, serve_bot_status,
    shutdown_signal,
};

/// `rosey run` says more about `--nats-url`: it alone can run on the in-process bus.
const RUN_NATS_URL_HELP: &str =
    "NATS server URL (overrides the config; \"embedded\" for the in-process bus)";

#[derive(clap::Args, Debug)]
#[command(mut_arg("nats_url", |a| a.help(RUN_NATS_URL_HELP)))]
pub struct RunArgs {
    #[command(flatten)]
    pub config: super::config_arg::RequiredConfigFile,
    #[command(flatten)]
    pub flags: super::common::ServiceFlags,
}

#[derive(clap::Args, Debug)]
pub struct BotArgs {
    #[command(flatten)]
    pub config: super::config_arg::RequiredConfigFile,
    #[command(flatten)]
    pub flags: super::common::ServiceFlags,
}

pub use super::demo::{DemoArgs, demo};

fn bot_config(config: &rosey_config::Config) -> anyhow::Result<BotConfig> {
    let cfg = BotConfig::from_config(config);
    if cfg.channels.is_empty() {
        anyhow::bail!("no enabled platform in the configuration: nothing to run");
    }
    for ch in &cfg.channels {
        ch.platform
            .validate()
            .map_err(anyhow::Error::msg)
            .with_context(|| format!("platform `{}`", ch.name))?;
    }
    Ok(cfg)
}

/// Exit status when every channel has stopped for good (distinct from 1, a fatal error such
/// as a bad configuration, and 2, a usage error), so a service manager can tell them apart.
pub const EXIT_NO_CHANNEL_LEFT: u8 = 3;

/// Runs the bot until a signal, or until every channel has stopped for good. Returns the
/// reasons when no channel is left.
async fn serve(
    mut bot: Bot,
    signal: impl std::future::Future<Output = ()>,
) -> Option<Vec<(String, String)>> {
    let stopped = tokio::select! {
        _ = signal => {
            tracing::info!("Signal received; stopping.");
            None
        }
        reasons = bot.wait() => {
            let list = reasons_text(&reasons);
            tracing::error!(reasons = %list, "Every channel has stopped for good; exiting.");
            Some(reasons)
        }
    };
    bot.shutdown().await;
    stopped
}

fn reasons_text(reasons: &[(String, String)]) -> String {
    reasons
        .iter()
        .map(|(ch, why)| format!("{ch}: {why}"))
        .collect::<Vec<_>>()
        .join("; ")
}

/// The process's exit status after [`serve`].
fn exit_status(stopped: Option<Vec<(String, String)>>) -> ExitCode {
    match stopped {
        None => ExitCode::SUCCESS,
        Some(reasons) => {
            eprintln!(
                "rosey: every channel stopped for good ({})",
                reasons_text(&reasons)
            );
            ExitCode::from(EXIT_NO_CHANNEL_LEFT)
        }
    }
}

pub async fn run(args: RunArgs) -> anyhow::Result<ExitCode> {
    let mut signal = Box::pin(shutdown_signal());
    let config = load_config(&args.config, args.flags.log_level.as_deref())?;
    if config.cluster.leases {
        tracing::warn!("cluster.leases applies to `rosey bot`; `rosey run` joins every channel.");
    }
    let bot_cfg = bot_config(&config)?;
    let metrics = MetricsListener::start(args.flags.metrics_listen, &config, "run").await?;
    let start = async {
        let bus = connect_bus(
            &config.nats,
            args.flags.nats_url.as_deref(),
            "rosey",
            rosey_model::subjects::INBOX_BOT,
        )
        .await?;
        if let Some(m) = &metrics {
            m.watch_bus(&bus);
        }
        let db = if config.database.run_as_service {
            let mut cfg = db_service_config(&config, None);
            if bus.nats_client().is_some() {
                cfg.durable = super::db_service::durable_config(&config, false);
            } else if config.nats.jetstream {
                tracing::warn!(
                    "nats.jetstream is set but the bus is embedded; durable mode is off."
                );
            }
            tracing::info!(db = %cfg.db, "Starting the database service in this process.");
            Some(
                DbService::start(bus.clone(), cfg)
                    .await
                    .context("cannot start the database service")?,
            )
        } else {
            if bus.nats_client().is_none() {
                anyhow::bail!(
                    "database.run_as_service is false but the bus is embedded: nothing could store events"
                );
            }
            None
        };
        Ok((bus, db))
    };
    let Some(started) = before_signal(&mut signal, start).await else {
        return Ok(ExitCode::SUCCESS);
    };
    let (bus, db) = started?;
    if let (Some(m), Some(db)) = (&metrics, &db) {
        m.watch_db(db);
    }
    let web = super::web::serve_if_configured(&bus, &config).await?;
    if let (Some(m), Some(w)) = (&metrics, &web) {
        m.metrics.add_source(w.stats());
    }
    let moderator = super::moderator::start_if_configured(&bus, &config, &args.config).await?;
    if let (Some(m), Some(md)) = (&metrics, &moderator) {
        m.metrics.add_source(md.metrics());
    }
    let bot = Bot::start(bus.clone(), bot_cfg);
    let source = bot.metrics_source();
    let stopped = observed(&source, &bus, &metrics, &config, serve(bot, signal)).await;
    if let Some(m) = moderator {
        m.stop();
    }
    if let Some(w) = web {
        w.shutdown().await;
    }
    if let Some(db) = db {
        let report = db.shutdown().await.context("database service shutdown")?;
        tracing::info!(
            sessions_closed = report.sessions_closed,
            "Database service stopped."
        );
    }
    if let Some(m) = metrics {
        m.shutdown().await;
    }
    Ok(exit_status(stopped))
}

pub async fn bot(args: BotArgs) -> anyhow::Result<ExitCode> {
    let mut signal = Box::pin(shutdown_signal());
    let config = load_config(&args.config, args.flags.log_level.as_deref())?;
    let bot_cfg = bot_config(&config)?;
    let metrics = MetricsListener::start(args.flags.metrics_listen, &config, "bot").await?;
    let connect = connect_bus(
        &config.nats,
        args.flags.nats_url.as_deref(),
        "rosey-bot",
        rosey_model::subjects::INBOX_BOT,
    );
    let Some(bus) = before_signal(&mut signal, connect).await else {
        return Ok(ExitCode::SUCCESS);
    };
    let bus = bus?;
    if bus.nats_client().is_none() {
        anyhow::bail!(
            "`rosey bot` needs a NATS server (set nats.url or --nats-url); for one process use `rosey run`"
        );
    }
    if let Some(m) = &metrics {
        m.watch_bus(&bus);
    }
    if let Some(leases) = rosey_bot::leases::LeaseSettings::from_config(&config) {
        // The held channels come and go; the metrics and the status service follow them.
        let source = BotSource::leased();
        let supervisor =
            rosey_bot::leases::serve(bus.clone(), bot_cfg, leases, source.clone(), signal);
        let r = observed(&source, &bus, &metrics, &config, supervisor).await;
        if let Some(m) = metrics {
            m.shutdown().await;
        }
        r?;
        return Ok(ExitCode::SUCCESS);
    }
    let bot = Bot::start(bus.clone(), bot_cfg);
    let source = bot.metrics_source();
    let stopped = observed(&source, &bus, &metrics, &config, serve(bot, signal)).await;
    if let Some(m) = metrics {
        m.shutdown().await;
    }
    Ok(exit_status(stopped))
}

/// Runs `serving` (a bot, or the lease supervisor) with the metrics, readiness and status
/// service of `source` registered, and unregisters the status service at the end.
async fn observed<T>(
    source: &BotSource,
    bus: &rosey_bus::Bus,
    metrics: &Option<MetricsListener>,
    config: &rosey_config::Config,
    serving: impl std::future::Future<Output = T>,
) -> T {
    if let Some(m) = metrics {
        m.watch_bot(source, config.metrics.ready_when);
    }
    let status = serve_bot_status(bus, source).await;
    let out = serving.await;
    if let Some(s) = status {
        let _ = s.stop().await;
    }
    out
}
