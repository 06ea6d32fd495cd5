//! `rosey stats` and `rosey say`: small request/reply clients of the database service.

use std::process::ExitCode;

#[derive(clap::Args, Debug)]
pub struct StatsArgs {
    /// Statistics of one user instead of the channel.
    #[arg(long)]
    pub user: Option<String>,
    /// Channel (default: the default channel).
    #[arg(long)]
    pub channel: Option<String>,
    /// NATS server URL.
    #[arg(long, env = "NATS_URL")]
    pub nats_url: Option<String>,
    /// Print the raw JSON reply.
    #[arg(long)]
    pub json: bool,
}

#[derive(clap::Args, Debug)]
pub struct SayArgs {
    /// Channel (default: the default channel).
    #[arg(long)]
    pub channel: Option<String>,
    /// NATS server URL.
    #[arg(long, env = "NATS_URL")]
    pub nats_url: Option<String>,
    /// The message to send.
    pub message: String,
}

pub async fn stats(_args: StatsArgs) -> anyhow::Result<ExitCode> {
    super::not_yet("stats")
}

pub async fn say(_args: SayArgs) -> anyhow::Result<ExitCode> {
    super::not_yet("say")
}
