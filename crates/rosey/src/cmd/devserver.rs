//! `rosey devserver`: a local CyTube-compatible server.

use std::process::ExitCode;

#[derive(clap::Args, Debug)]
pub struct DevserverArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8880")]
    pub listen: String,
    /// A registered account: NAME:PASSWORD:RANK (repeatable).
    #[arg(long = "user")]
    pub users: Vec<String>,
    /// A channel rank for a name: NAME=RANK (repeatable).
    #[arg(long = "rank")]
    pub ranks: Vec<String>,
    /// Log level.
    #[arg(long)]
    pub log_level: Option<String>,
}

pub async fn run(_args: DevserverArgs) -> anyhow::Result<ExitCode> {
    super::not_yet("devserver")
}
