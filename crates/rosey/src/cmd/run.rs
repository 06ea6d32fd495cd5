//! `rosey run`, `rosey bot` and `rosey demo`.

use std::{path::PathBuf, process::ExitCode};

#[derive(clap::Args, Debug)]
pub struct RunArgs {
    /// Configuration file (v2).
    pub config: PathBuf,
    /// NATS server URL (overrides the config; "embedded" for the in-process bus).
    #[arg(long, env = "NATS_URL")]
    pub nats_url: Option<String>,
    /// Log level.
    #[arg(long)]
    pub log_level: Option<String>,
}

#[derive(clap::Args, Debug)]
pub struct BotArgs {
    /// Configuration file (v2).
    pub config: PathBuf,
    /// NATS server URL (overrides the config).
    #[arg(long, env = "NATS_URL")]
    pub nats_url: Option<String>,
    /// Log level.
    #[arg(long)]
    pub log_level: Option<String>,
}

#[derive(clap::Args, Debug)]
pub struct DemoArgs {
    /// Stop after this many seconds (default: run until Ctrl-C).
    #[arg(long)]
    pub seconds: Option<u64>,
}

pub async fn run(_args: RunArgs) -> anyhow::Result<ExitCode> {
    super::not_yet("run")
}

pub async fn bot(_args: BotArgs) -> anyhow::Result<ExitCode> {
    super::not_yet("bot")
}

pub async fn demo(_args: DemoArgs) -> anyhow::Result<ExitCode> {
    super::not_yet("demo")
}
