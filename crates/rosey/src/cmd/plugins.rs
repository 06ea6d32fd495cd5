//! `rosey plugins [CONFIG]`: the standard plugins (`rosey_stdplugins`), one process on the
//! bus, each switchable in `plugins.standard`; `rosey plugins list`: the plugins on the bus
//! (micro-service discovery), their commands, versions and request/error counts.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use serde_json::{Value, json};

use super::common::{self, before_signal, connect_bus, shutdown_signal};

#[derive(clap::Args, Debug)]
#[command(args_conflicts_with_subcommands = true)]
pub struct PluginsArgs {
    #[command(subcommand)]
    pub command: Option<PluginsCommand>,
    /// Configuration file (v2): its `nats` and `plugins` sections (optional: the
    /// environment's NATS_URL and every default otherwise).
    #[command(flatten)]
    pub config: super::config_arg::ConfigFile,
    /// NATS server URL (overrides the config).
    #[arg(long, env = "NATS_URL")]
    pub nats_url: Option<String>,
    /// Log level.
    #[arg(long)]
    pub log_level: Option<String>,
}

#[derive(clap::Subcommand, Debug)]
pub enum PluginsCommand {
    /// The plugins on the bus: commands, versions, health.
    List(ListArgs),
}

#[derive(clap::Args, Debug)]
pub struct ListArgs {
    /// NATS server URL.
    #[arg(long, env = "NATS_URL")]
    pub nats_url: Option<String>,
    /// A configuration file whose `nats` section (credentials, TLS) is used.
    #[command(flatten)]
    pub config: super::config_arg::ConfigFile,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    /// How long to collect answers, in seconds.
    #[arg(long, default_value_t = 1.0)]
    pub wait: f64,
}

pub async fn run(args: PluginsArgs) -> anyhow::Result<ExitCode> {
    if let Some(PluginsCommand::List(l)) = args.command {
        return list(l).await;
    }
    let config = common::config_or_env(args.config.as_deref())?;
    crate::logging::init_with(args.log_level.as_deref(), &config.logging)?;
    common::report_unused(&config);
    let settings = config.plugins_config();
    let mut signal = Box::pin(shutdown_signal());
    let connect = connect_bus(
        &config.nats,
        args.nats_url.as_deref(),
        "rosey-plugins",
        rosey_model::subjects::INBOX_PLUGIN,
    );
    let Some(bus) = before_signal(&mut signal, connect).await else {
        return Ok(ExitCode::SUCCESS);
    };
    let bus = bus?;
    let client = bus
        .nats_client()
        .context("`rosey plugins` needs a NATS server (set nats.url or --nats-url)")?
        .clone();
    let running = rosey_stdplugins::start_with_media(&client, &settings, &config.media_config())
        .await
        .context("cannot start the standard plugins")?;
    tracing::info!(plugins = ?running.names, "Standard plugins running.");
    signal.await;
    tracing::info!("Signal received; stopping.");
    running.stop().await;
    let _ = client.flush().await;
    Ok(ExitCode::SUCCESS)
}

async fn list(args: ListArgs) -> anyhow::Result<ExitCode> {
    let bus = super::stats::connect(args.nats_url.clone(), args.config.as_deref()).await?;
    let client = bus
        .nats_client()
        .context("listing plugins needs NATS")?
        .clone();
    let wait = Duration::from_secs_f64(args.wait.clamp(0.1, 30.0));
    let (plugins, stats) = tokio::try_join!(
        async {
            rosey_plugin::discover(&client, wait)
                .await
                .map_err(|e| anyhow::anyhow!("discovery: {e}"))
        },
        async {
            rosey_plugin::discovery::collect(&client, "$SRV.STATS", wait)
                .await
                .map_err(|e| anyhow::anyhow!("discovery: {e}"))
        }
    )?;
    let rows: Vec<Value> = plugins
        .iter()
        .map(|p| {
            let mine: Vec<&Value> = stats
                .iter()
                .filter(|s| {
                    s["id"]
                        .as_str()
                        .is_some_and(|id| p.ids.iter().any(|i| i == id))
                })
                .collect();
            let sum = |field: &str| -> u64 {
                mine.iter()
                    .flat_map(|s| s["endpoints"].as_array().into_iter().flatten())
                    .filter_map(|e| e[field].as_u64())
                    .sum()
            };
            json!({
                "name": p.name,
                "version": p.version,
                "description": p.description,
                "protocol": p.protocol,
                "instances": p.ids.len(),
                "answering": mine.len(),
                "requests": sum("num_requests"),
                "errors": sum("num_errors"),
                "commands": p.commands,
            })
        })
        .collect();
    if args.json {
        println!("{}", serde_json::to_string_pretty(&rows)?);
        return Ok(ExitCode::SUCCESS);
    }
    if rows.is_empty() {
        let at = super::stats::address(args.nats_url.clone(), args.config.as_deref());
        println!("No plugin answered on the bus at {at}.");
        return Ok(ExitCode::from(1));
    }
    println!(
        "{:<12} {:<9} {:>9} {:>9} {:>7}  COMMANDS",
        "PLUGIN", "VERSION", "INSTANCES", "REQUESTS", "ERRORS"
    );
    for r in &rows {
        let health = if r["answering"] == r["instances"] {
            ""
        } else {
            " (some instances did not answer STATS)"
        };
        let commands: Vec<String> = r["commands"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|c| {
                let rank = c["min_rank"].as_f64().unwrap_or(0.0);
                let name = c["name"].as_str().unwrap_or("?");
                if rank > 0.0 {
                    format!("!{name} (rank {rank})")
                } else {
                    format!("!{name}")
                }
            })
            .collect();
        println!(
            "{:<12} {:<9} {:>9} {:>9} {:>7}  {}{health}",
            r["name"].as_str().unwrap_or("?"),
            r["version"].as_str().unwrap_or("?"),
            r["instances"],
            r["requests"],
            r["errors"],
            commands.join(", ")
        );
    }
    Ok(ExitCode::SUCCESS)
}
