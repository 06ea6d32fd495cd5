//! `rosey moderator [CONFIG]`: the automated moderator (`rosey_moderator`) as a process on
//! the bus, reloading its rules on SIGHUP and on `rosey.moderation.reload`; also started by
//! `rosey run` when `moderation.enabled` is set. `rosey moderation log`: its decisions, from
//! the database service; `rosey moderation state`: what it is doing now.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use rosey_config::LogFormat;
use rosey_model::payload::{ModerationLogReply, ModerationRow};
use rosey_model::{decode, subjects};
use rosey_moderator::{Moderator, Reloader};
use serde_json::json;

use super::common::{MetricsListener, before_signal, connect_bus, shutdown_signal};

#[derive(clap::Args, Debug)]
pub struct ModeratorArgs {
    #[command(flatten)]
    pub config: super::config_arg::RequiredConfigFile,
    #[command(flatten)]
    pub flags: super::common::ServiceFlags,
}

#[derive(clap::Subcommand, Debug)]
pub enum ModerationCommand {
    /// The moderator's decisions, newest first (from the database service).
    Log(LogArgs),
    /// The moderator's state: channels, dry run, offenders, pending lifts.
    State(StateArgs),
}

#[derive(clap::Args, Debug)]
pub struct LogArgs {
    /// Only this channel.
    #[arg(long)]
    pub channel: Option<String>,
    /// Only decisions newer than this: a duration (`2h`, `30m`) or epoch seconds.
    #[arg(long)]
    pub since: Option<String>,
    /// At most this many rows.
    #[arg(long, default_value_t = 50)]
    pub limit: i64,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub config: super::config_arg::ConfigFile,
    /// NATS server URL.
    #[arg(long, env = "NATS_URL")]
    pub nats_url: Option<String>,
}

#[derive(clap::Args, Debug)]
pub struct StateArgs {
    /// Only this channel.
    #[arg(long)]
    pub channel: Option<String>,
    #[command(flatten)]
    pub config: super::config_arg::ConfigFile,
    /// NATS server URL.
    #[arg(long, env = "NATS_URL")]
    pub nats_url: Option<String>,
}

/// A reloader that reads the moderation section of `path` again.
fn reloader(path: &Path) -> Reloader {
    let path: PathBuf = path.to_owned();
    Arc::new(move || {
        rosey_config::Config::load(&path)
            .map_err(|e| format!("{e:#}"))?
            .moderation_config()
    })
}

/// Reloads on every SIGHUP for as long as the moderator runs.
fn reload_on_sighup(moderator: &Moderator) {
    let handle = moderator.handle();
    tokio::spawn(async move {
        use tokio::signal::unix::{SignalKind, signal};
        let Ok(mut hup) = signal(SignalKind::hangup()) else {
            return;
        };
        while hup.recv().await.is_some() {
            tracing::info!("SIGHUP: reloading the moderation rules.");
            let _ = handle.reload();
        }
    });
}

/// Starts the moderator when `moderation.enabled` is set (for `rosey run`); `None` when it
/// is off, or the bus is embedded (the pending lifts need JetStream), said in the log.
pub async fn start_if_configured(
    bus: &rosey_bus::Bus,
    config: &rosey_config::Config,
    path: &Path,
) -> anyhow::Result<Option<Moderator>> {
    let settings = config.moderation_config().map_err(anyhow::Error::msg)?;
    if !settings.enabled {
        return Ok(None);
    }
    let Some(client) = bus.nats_client() else {
        tracing::warn!(
            "moderation is enabled but the bus is embedded: the moderator needs a NATS server with JetStream; not started."
        );
        return Ok(None);
    };
    let m = Moderator::start(client.clone(), settings, Some(reloader(path)))
        .await
        .map_err(anyhow::Error::msg)
        .context("cannot start the moderator")?;
    reload_on_sighup(&m);
    tracing::info!(channels = ?m.channels(), "Moderator running.");
    Ok(Some(m))
}

pub async fn run(args: ModeratorArgs) -> anyhow::Result<ExitCode> {
    let path: &Path = &args.config;
    let config = rosey_config::Config::load(path)
        .with_context(|| format!("cannot load configuration {}", path.display()))?;
    crate::logging::init(
        args.flags.log_level.as_deref(),
        &config.logging.level.to_string(),
        config.logging.format == LogFormat::Json,
    );
    let settings = config.moderation_config().map_err(anyhow::Error::msg)?;
    if !settings.enabled {
        anyhow::bail!(
            "moderation is not enabled in {} (set moderation.enabled and list channels under moderation.channels)",
            path.display()
        );
    }
    let metrics = MetricsListener::start(args.flags.metrics_listen, &config, "moderator").await?;
    let mut signal = Box::pin(shutdown_signal());
    let connect = connect_bus(
        &config.nats,
        args.flags.nats_url.as_deref(),
        "rosey-moderator",
        subjects::INBOX_MODERATOR,
    );
    let Some(bus) = before_signal(&mut signal, connect).await else {
        return Ok(ExitCode::SUCCESS);
    };
    let bus = bus?;
    let client = bus
        .nats_client()
        .context(
            "`rosey moderator` needs a NATS server with JetStream (set nats.url or --nats-url)",
        )?
        .clone();
    if let Some(m) = &metrics {
        m.watch_bus(&bus);
    }
    let moderator = Moderator::start(client.clone(), settings, Some(reloader(path)))
        .await
        .map_err(anyhow::Error::msg)
        .context("cannot start the moderator")?;
    if let Some(m) = &metrics {
        m.metrics.add_source(moderator.metrics());
    }
    reload_on_sighup(&moderator);
    tracing::info!(channels = ?moderator.channels(), "Moderator running.");
    signal.await;
    tracing::info!("Signal received; stopping.");
    moderator.stop();
    let _ = client.flush().await;
    if let Some(m) = metrics {
        m.shutdown().await;
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn moderation(cmd: ModerationCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        ModerationCommand::Log(a) => log(a).await,
        ModerationCommand::State(a) => state(a).await,
    }
}

/// `--since`: a duration ago, or epoch seconds.
fn since(text: &str, now: i64) -> anyhow::Result<i64> {
    if let Ok(n) = text.trim().parse::<i64>() {
        return Ok(n);
    }
    let d = humantime::parse_duration(text.trim()).with_context(|| {
        format!("--since: expected a duration like 2h or epoch seconds, got \"{text}\"")
    })?;
    Ok(now - d.as_secs() as i64)
}

async fn log(args: LogArgs) -> anyhow::Result<ExitCode> {
    let now = rosey_moderator::service::now() as i64;
    let since = args.since.as_deref().map(|s| since(s, now)).transpose()?;
    let bus = super::stats::connect(args.nats_url.clone(), args.config.as_deref()).await?;
    let mut body = json!({"limit": args.limit.clamp(1, 10_000)});
    if let Some(c) = &args.channel {
        body["channel"] = json!(c);
    }
    if let Some(s) = since {
        body["since"] = json!(s);
    }
    let reply = super::stats::ask(&bus, subjects::QUERY_MODERATION_LOG, body).await?;
    super::stats::check_error(&reply)?;
    let reply: ModerationLogReply = decode(&reply).context("unreadable moderation log")?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&reply.actions)?);
        return Ok(ExitCode::SUCCESS);
    }
    if reply.actions.is_empty() {
        println!("No moderation decisions.");
        return Ok(ExitCode::SUCCESS);
    }
    for row in &reply.actions {
        println!("{}", line(row));
    }
    Ok(ExitCode::SUCCESS)
}

fn line(r: &ModerationRow) -> String {
    let when = humantime::format_rfc3339_seconds(
        std::time::UNIX_EPOCH + std::time::Duration::from_secs(r.timestamp.max(0) as u64),
    );
    let dry = if r.dry_run { " (dry run)" } else { "" };
    format!(
        "{when} {} {} {}: {} → {}{dry}: {} | {} | \"{}\"",
        r.channel, r.rule, r.username, r.step, r.outcome, r.answer, r.reason, r.evidence
    )
}

async fn state(args: StateArgs) -> anyhow::Result<ExitCode> {
    let bus = super::stats::connect(args.nats_url.clone(), args.config.as_deref()).await?;
    let mut body = json!({});
    if let Some(c) = &args.channel {
        body["channel"] = json!(c);
    }
    let reply = match bus
        .request(
            subjects::MODERATION_STATE,
            rosey_model::encode(&body),
            std::time::Duration::from_secs(3),
        )
        .await
    {
        Ok(m) => m.payload,
        Err(rosey_bus::BusError::NoResponders { .. }) => {
            anyhow::bail!(
                "the moderator is not running (no responders on {})",
                subjects::MODERATION_STATE
            )
        }
        Err(e) => return Err(e.into()),
    };
    let v: serde_json::Value = serde_json::from_slice(&reply)?;
    println!("{}", serde_json::to_string_pretty(&v)?);
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_takes_durations_and_epochs() {
        assert_eq!(since("2h", 10_000).unwrap(), 10_000 - 7200);
        assert_eq!(since("1700000000", 5).unwrap(), 1_700_000_000);
        assert!(since("yesterday", 5).is_err());
    }
}
