//! `rosey db-service`: the database service in the foreground.

use std::{path::PathBuf, process::ExitCode};

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

pub async fn run(_args: DbServiceArgs) -> anyhow::Result<ExitCode> {
    super::not_yet("db-service")
}
